"""Keep the host's Python interpreter out of a container's reach (CVE-2019-5736).

Every process that enters a container starts as a fork of the runtime, so
its ``/proc/PID/exe`` is the host's interpreter.  A container can get a
handle on it -- by watching a joining process in its pid namespace, or by
making its own entrypoint ``#!/proc/self/exe`` so that the final ``execve``
runs the host interpreter inside the container -- and reopen it for
writing once it is no longer busy: the next ``pycr`` run would be the
attacker's code, as root on the host.

The defence, as runc's: the runtime runs from a read-only view of its
interpreter.  Before a verb that starts container processes (``protect_for``
in both commands' ``main``), the runtime
re-executes itself (same argv, same environment) through a *detached*,
read-only bind mount of the interpreter file: ``open_tree(OPEN_TREE_CLONE)``,
``mount_setattr(MOUNT_ATTR_RDONLY)``, ``execveat(AT_EMPTY_PATH)``.  The mount
is attached nowhere (no namespace changes, nothing to clean up; it goes away
with the last process that runs from it) and every open of ``exe`` for
writing fails with EROFS.  An interpreter already on a read-only mount (a
read-only /usr) costs nothing.  The cost otherwise is one interpreter start
(measured in docs/security.md).

Non-dumpable processes (``PR_SET_DUMPABLE`` 0, set by the init and exec
code) are the first line: the container cannot open their ``/proc/PID``
entries at all.  This module is the second, for what dumpability cannot
cover (the interpreter exec'd *as* the container's process).
"""

from __future__ import annotations

import os
import sys

_SYS_OPEN_TREE = 428  # x86_64
_SYS_MOUNT_SETATTR = 442
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4

#: set (to anything) to skip the re-exec, e.g. for a debugger; docs/security.md explains the risk
OPT_OUT = "PYCR_UNPROTECTED_INTERPRETER"
#: the first run's ``sys.path``, handed to a re-exec without ``site`` (the scripts' first lines take it)
SYS_PATH_ENV = "PYCR_SYS_PATH"


#: verbs that start processes in containers (``pycr-oci start`` only releases an init made by
#: create; ``pycr start`` launches a monitor that creates one; ``pycr serve`` does all of them)
STARTS_PROCESSES = frozenset({"create", "run", "exec", "start", "restart", "oci", "serve"})
#: those of ``pycr-oci`` that protect (its ``start`` only opens the fifo); its script tests for them
#: before importing this module, so the other verbs skip the import
OCI_STARTS_PROCESSES = frozenset({"create", "run", "exec"})


#: ``pycr-oci`` verbs whose protection waits for the container's config: the init of
#: most containers needs no re-exec (:func:`protect_unless_stub`, exec_stub.py)
DECIDED_BY_CONFIG = frozenset({"create", "run"})
_pending: list[bool] = []  # [without_site] while protect_for left the decision to the config


def protect_for(prog: str, argv: list[str], without_site: bool = False) -> None:
    """First thing in the ``pycr``/``pycr-oci`` scripts, before the command is
    imported (a re-exec then repeats as little as possible): protect when ``argv``
    may name such a verb -- a word of argv, so a false match (a container called
    "run") only costs time.  ``without_site``: see :func:`protect_interpreter`."""
    starts = OCI_STARTS_PROCESSES if prog == "pycr-oci" else STARTS_PROCESSES
    if starts.isdisjoint(argv):
        return
    if prog == "pycr-oci" and (starts - DECIDED_BY_CONFIG).isdisjoint(argv):
        _pending[:] = [without_site]
        return
    protect_interpreter(without_site)


def protect_unless_stub(config: dict) -> bool:
    """``create``, once the config is read and before anything is made: True when the
    interpreter is exposed and the init is to end through the exec stub instead
    (exec_stub.usable).  Otherwise, a ``pycr-oci create``/``run`` that
    :func:`protect_for` left undecided re-executes now; False."""
    pending = _pending[:]
    del _pending[:]
    if interpreter_is_protected() or os.environ.get(OPT_OUT):
        return False
    from pycr.core.linux import exec_stub

    if exec_stub.usable(config):
        return True
    if pending:
        protect_interpreter(pending[0])
    return False


def interpreter_is_protected() -> bool:
    """True when our own executable cannot be opened for writing through any path to it."""
    return bool(os.statvfs("/proc/self/exe").f_flag & os.ST_RDONLY)


def _site_only_set_the_path() -> bool:
    """Whether setting ``sys.path`` redoes what ``site`` did that matters for finding modules:
    no import hook came from a ``.pth`` file (an editable install's finder) -- setuptools'
    distutils shim aside, which only serves ``import distutils``."""
    for finder in sys.meta_path:
        if getattr(finder, "__module__", "") not in ("_frozen_importlib", "_frozen_importlib_external",
                                                     "_distutils_hack"):
            return False
    return len(sys.path_hooks) == 2 and not any(os.pathsep in p for p in sys.path)


def protect_interpreter(without_site: bool = False) -> None:
    """Re-exec the running program from a detached read-only mount of its
    interpreter, unless it already runs from a read-only one.  Returns only
    when no re-exec is needed, or when the kernel cannot do it (a one-line
    warning: the container can then reach the interpreter's file).

    ``without_site`` (a script whose first lines restore ``sys.path`` from
    :data:`SYS_PATH_ENV`): the re-exec runs with ``-S`` and this process's
    ``sys.path`` -- ``site`` and its ``.pth`` files ran once already (~3 ms)."""
    if interpreter_is_protected() or os.environ.get(OPT_OUT):
        return
    from pycr.core.linux.libc import get_errno, syscall  # _ctypes only: ctypes would cost ~2 ms more

    exe = os.path.realpath("/proc/self/exe")
    fd = syscall(_SYS_OPEN_TREE, -100, os.fsencode(exe), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
    err = get_errno()
    if fd >= 0:
        # struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }, little-endian (x86_64)
        attr = (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV).to_bytes(8, "little") + bytes(24)
        if syscall(_SYS_MOUNT_SETATTR, fd, b"", AT_EMPTY_PATH, attr, len(attr)) == 0:
            sys.stdout.flush()
            sys.stderr.flush()
            argv, env = sys.orig_argv, os.environ
            if without_site and _site_only_set_the_path():
                argv = argv if sys.flags.no_site else [argv[0], "-S", *argv[1:]]
                env = {**env, SYS_PATH_ENV: os.pathsep.join(sys.path)}
            try:  # an fd as the path: execveat(fd, "", AT_EMPTY_PATH), the file the mount holds
                os.execve(fd, argv, env)
            except OSError as e:
                err = e.errno
        else:
            err = get_errno()
        os.close(fd)
    from pycr.core.errors import warn

    warn(f"cannot run from a read-only view of {exe} ({os.strerror(err)}): a container could reach the "
         "interpreter's file (docs/security.md)")
