"""``exec``: start another process in a running container.

The process joins every namespace of the container's init (through
``/proc/PID/ns/*``), its cgroup and its root, then gets the user,
capabilities, rlimits and ``noNewPrivileges`` of its runtime-spec process
object, applied by the same code as the init's
(:func:`pycr.core.runtime.init.apply_process`)::

    runtime (pycr-oci exec)          pycr:[exec]                 the process
    ───────────────────────          ───────────                 ───────────
    connect --console-socket
    fork ──────────────────────────▶ (waits)
    add it to the container's cgroup
    GO ────────────────────────────▶ open /proc/PID/ns/*, root
                                     setns(user first, mnt last)
                                     chroot(init's root)
                                     fork ─────────────────────▶ (in the pid ns)
                  ◀──────────────── PID {pid}; exit
                                                                 pty (terminal)
                                                                 user, caps, rlimits
                  ◀────────────────────────────────────────────── ERROR {msg}, or
                                                                 EOF: execve closed
                                                                 the channel (CLOEXEC)
    write --pid-file; with --detach exit 0, else wait and return its status

The process's parent exits at once, so it is reparented to the nearest
subreaper: the runtime itself (non-detached), or the engine (conmon, the
containerd shim), which reaps it.
"""

from __future__ import annotations

import contextlib
import os
import _signal as signal  # signal.py builds its enums (~3 ms of every run); the numbers suffice

from pycr.core.errors import ConfigError, ExecutableError, PycrError, StateError
from pycr.core.runtime import sync

#: joined in this order: the user namespace first (it grants the rights for
#: the others), the mount namespace last (it takes /proc/PID away).
NAMESPACES = (("user", 0x10000000), ("ipc", 0x08000000), ("uts", 0x04000000), ("net", 0x40000000),
              ("pid", 0x20000000), ("cgroup", 0x02000000), ("time", 0x00000080), ("mnt", 0x00020000))


def namespaces_to_join(pid: int, self_pid: str = "self") -> list[tuple[str, int, str]]:
    """``(name, CLONE_* flag, path)`` for each namespace of ``pid`` that differs from ours."""
    out = []
    for name, flag in NAMESPACES:
        path = f"/proc/{pid}/ns/{name}"
        try:
            theirs = os.stat(path)
        except FileNotFoundError:
            continue  # a kernel without this namespace type
        ours = os.stat(f"/proc/{self_pid}/ns/{name}")
        if (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino):
            out.append((name, flag, path))
    return out


def parse_user(text: str) -> dict:
    """``--user UID[:GID]`` as a runtime-spec ``process.user``."""
    uid, _, gid = text.partition(":")
    try:
        return {"uid": int(uid), "gid": int(gid or 0)}
    except ValueError:
        raise ConfigError(f"--user: {text!r} is not UID[:GID] (numbers)") from None


def load_process(path: str) -> dict:
    """A runtime-spec process object from ``--process FILE``."""
    from pycr.core.jsondoc import read_json_object

    proc = read_json_object(path, f"--process {path}")
    if not proc.get("args"):
        raise ConfigError(f"--process {path}: args must be a non-empty list")
    return proc


def process_from_args(base: dict, args: list[str], *, env=(), cwd=None, user=None, tty=False,
                      caps=(), no_new_privs=False) -> dict:
    """runc's way: the container's own ``process`` with the command line's changes."""
    proc = dict(base)
    if not args:
        raise ConfigError("exec: the command to run is missing (give ARGS or --process FILE)")
    proc["args"] = list(args)
    proc["env"] = list(base.get("env") or []) + list(env)
    proc["terminal"] = bool(tty)
    if cwd:
        proc["cwd"] = cwd
    if user:
        proc["user"] = {**(base.get("user") or {}), **parse_user(user)}
    if caps:
        c = {k: list(v) for k, v in (base.get("capabilities") or {}).items()}
        for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            c[kind] = sorted(set(c.get(kind, [])) | set(caps))
        proc["capabilities"] = c
    if no_new_privs:
        proc["noNewPrivileges"] = True
    return proc


def container_process(opts, cid: str) -> dict:
    """The ``process`` of the container's config.json (the base for ``exec ARGS``)."""
    import json

    from pycr.core.runtime.state import Container

    c = Container.load(opts.root, cid)
    path = os.path.join(c.data.get("bundle", ""), "config.json")
    try:
        with open(path) as f:
            return json.load(f).get("process") or {}
    except (OSError, ValueError) as e:
        raise ConfigError(f"container {cid}: cannot read {path}: {e}") from None


def exec_process(opts, cid: str, process: dict, *, detach: bool = False, pid_file: str | None = None,
                 console_socket: str | None = None, preserve_fds: int = 0) -> int:
    """Run ``process`` in container ``cid``; with ``detach`` return 0 once it
    runs, otherwise its exit status (128+signal when killed)."""
    from pycr.core.linux import syscalls as S
    from pycr.core.runtime import lifecycle
    from pycr.core.runtime.plan import Plan
    from pycr.core.runtime.state import Container

    c = Container.load(opts.root, cid)
    cgroup = lifecycle.cgroup_of(opts, c)
    status = c.status(cgroup)
    if status == "stopped":
        raise StateError("cannot exec in a stopped container")
    if status == "paused":
        raise StateError("cannot exec in a paused container")
    terminal = bool(process.get("terminal"))
    if terminal and not console_socket and detach:
        raise PycrError("cannot allocate tty if pycr will detach without setting console socket")

    # The process's fields become a ProcessSpec the way the container's did:
    # through the isolation hooks, on a config holding only ``process``.
    # The container's seccomp policy confines every process that joins it.
    config = {"process": process, "linux": {k: v for k, v in (container_linux(c).items()) if k == "seccomp"}}
    plan = Plan(root=opts.root)
    pm = lifecycle._manager(opts)
    pm.hook.pycr_isolation_plan(config=config, plan=plan, container_id=cid)
    proc = plan.process
    if proc is None:
        raise PycrError("exec: no plugin turned the process into a plan (is the 'process' plugin disabled?)")
    proc.preserve_fds = preserve_fds
    for module in plan.preload + ["pycr.core.runtime.console"]:
        __import__(module)  # the child loses the host's files when it joins the mnt ns

    with contextlib.ExitStack() as stack:
        console = None
        if terminal and console_socket:
            from pycr.core.runtime import console as console_mod

            console = stack.enter_context(console_mod.connect(console_socket))
        local_tty = None
        if terminal and not console_socket:  # foreground exec -t: pycr proxies the pty itself
            import socket

            local_tty = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            for s in local_tty:
                stack.enter_context(s)
            console = local_tty[1]
        sc = S.SYSCALLS
        sc.prctl(S.PR_SET_CHILD_SUBREAPER, 1)
        parent, child = sync.Channel.pair()
        joins = namespaces_to_join(c.pid)
        pid = os.fork()
        if pid == 0:  # pycr:[exec] -- never returns
            parent.close()
            _child(child, sc, c.pid, joins, proc, process, console, plan.confine)
            os._exit(1)
        child.close()
        try:
            try:
                if cgroup is not None:
                    cgroup.add_pid(pid)
                parent.send(sync.GO)
                msg = parent.recv()
                lifecycle._reap(pid)
                if msg["type"] != sync.PID:
                    raise sync.InitFailed(msg.get("msg") or f"exec: child exited early ({msg['type']})")
                proc_pid = msg["pid"]
                state = {**c.oci_state("running"), "pid": proc_pid}
                try:  # eof: the process exec'd (the channel is close-on-exec)
                    parent.expect("eof", serve=lambda req: lifecycle.answer_init(pm, req, config, state))
                except sync.InitFailed:
                    lifecycle._reap(proc_pid)
                    raise
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                lifecycle._reap(pid)
                raise
        except sync.InitFailed as e:
            if e.command:
                raise ExecutableError(f"container {cid}: exec failed: {e}", e.command) from None
            raise PycrError(f"container {cid}: exec failed: {e}") from None
        finally:
            parent.close()
        if pid_file:
            lifecycle._write_pid_file(pid_file, proc_pid)
        if detach:
            return 0
        if local_tty is not None:
            from pycr.core.runtime import console as console_mod
            from pycr.core.runtime import terminal

            _, master = console_mod.recv_fd(local_tty[0])
            return terminal.proxy(master, proc_pid)
        with lifecycle.forward_signals(proc_pid):
            return lifecycle.wait_for(proc_pid)


def container_linux(c) -> dict:
    """``linux`` of the container's config.json (for its seccomp policy)."""
    import json

    try:
        with open(os.path.join(c.data.get("bundle", ""), "config.json")) as f:
            return json.load(f).get("linux") or {}
    except (OSError, ValueError) as e:
        raise ConfigError(f"container {c.id}: cannot read its config.json: {e}") from None


def _child(chan, sc, init_pid: int, joins, proc, process: dict, console, confine) -> None:
    """pycr:[exec]: join the container, fork the process into its pid ns."""
    from pycr.core.runtime import init as init_mod

    try:
        init_mod.hide_from_container(sc)  # before we can be seen: inherited by the process
        sync.set_process_name("pycr:[exec]")
        chan.expect(sync.GO)
        fds = [(name, flag, os.open(path, os.O_RDONLY | os.O_CLOEXEC)) for name, flag, path in joins]
        root = os.open(f"/proc/{init_pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        for name, flag, fd in fds:
            try:
                sc.setns(fd, flag)
            except OSError as e:
                raise sync.InitFailed(f"cannot join the {name} namespace of pid {init_pid}: {e.strerror}") from None
            os.close(fd)
            if name == "user":
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
        os.fchdir(root)
        sc.chroot(".")
        os.close(root)
        init_mod.fork_reported(chan, lambda: _process(chan, sc, proc, process, console, init_mod, confine))
    except sync.InitFailed as e:
        init_mod._fail(chan, str(e))
    except OSError as e:
        init_mod._fail(chan, f"entering the container: {e.strerror or e}")
    except BaseException as e:
        init_mod._fail(chan, f"exec: {type(e).__name__}: {e}")


def _process(chan, sc, proc, process: dict, console, init_mod, confine) -> None:
    """The exec'd process before execve: pty, user, caps, rlimits, cwd."""
    import sys

    try:
        os.setsid()  # never the caller's terminal (TIOCSTI): a session of its own, like the init's
        sc.chdir("/")
        exe = init_mod.find_executable(proc)
        env = init_mod.process_env(proc)
        if console is not None:
            mod = sys.modules["pycr.core.runtime.console"]
            mod.setup_in_container(console.fileno(), mod.console_size(process))
        ctx = init_mod.InitContext("/", switched=True, channel=chan)
        init_mod.apply_confined(sc, ctx, confine, proc)
        init_mod.close_fds(3 + proc.preserve_fds, {chan.fileno()})
        init_mod.default_signals()
        try:
            os.execve(exe, proc.args, env)
        except OSError as e:  # runc's words: "exec /x: exec format error"
            reason = os.strerror(e.errno).lower() if e.errno else str(e)
            raise sync.InitFailed(f"exec {exe}: {reason}",
                                  command=init_mod.command_failure(e.errno) + "-execve") from None
    except sync.InitFailed as e:
        init_mod._fail(chan, str(e), e.command)
    except OSError as e:
        init_mod._fail(chan, f"{e.strerror or e}{' ' + repr(e.filename) if e.filename else ''}")
    except BaseException as e:
        init_mod._fail(chan, f"{type(e).__name__}: {e}")
