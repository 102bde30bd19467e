"""Code that runs after the fork: ``pycr:[stage1]`` and ``pycr:[init]``.

Both are single-threaded forks of the runtime.  They decide nothing: they
carry out the :class:`~pycr.core.runtime.plan.Plan` and report each failure
back over the sync channel as one line naming the failed step.  They leave
only through ``os._exit`` or ``execve`` -- never by returning into the
runtime's code.  See :mod:`pycr.core.runtime.sync` for the protocol.
"""

from __future__ import annotations

import os
import stat
import sys

from pycr.core.linux import syscalls as S
from pycr.core.runtime import sync
from pycr.core.runtime.plan import InitContext, Plan, ProcessSpec

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _fail(chan: sync.Channel, msg: str, command: str | None = None) -> None:
    try:
        chan.send(sync.ERROR, msg=msg, **({"command": command} if command else {}))
    finally:
        os._exit(1)


def fork_reported(chan: sync.Channel, run_child, setsid: bool = False) -> None:
    """Fork ``run_child``, send its PID and exit.  The child waits on a pipe
    until PID is sent, so the runtime always hears PID before anything the
    child says (one socket, two writers): a child that fails at once must not
    overtake it, or its failure is read as the parent's."""
    released, release = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(release)
        os.read(released, 1)
        os.close(released)
        if setsid:
            os.setsid()
        run_child()
        os._exit(1)
    chan.send(sync.PID, pid=pid)
    os.write(release, b"1")
    os._exit(0)


def stage1(chan: sync.Channel, plan: Plan, sc: S.Syscalls, run_init) -> None:
    """Enter the namespaces, fork the init, report its pid, exit."""
    try:
        hide_from_container(sc)  # inherited by the init (see below)
        sync.set_process_name("pycr:[stage1]")
        for path, fd in plan.cgroup_join:  # first, in the host's namespaces (see CgroupDriver.self_join_files)
            try:
                os.write(fd, b"0")
            except OSError as e:
                _fail(chan, f"cgroup: cannot move into {os.path.dirname(path)}: {e.strerror}")
        # Import now, as the host's root: a mapped user, or the pivoted root, may not reach them.
        for module in plan.preload:
            __import__(module)
        chan.expect(sync.GO)
        joins = sorted(plan.join, key=lambda j: j[0] != S.CLONE_NEWUSER)  # user ns first
        for flag, path in joins:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                _fail(chan, f"linux.namespaces: cannot open namespace path {path!r}: {e.strerror}")
            try:
                sc.setns(fd, flag)
            except OSError as e:
                _fail(chan, f"linux.namespaces: cannot join namespace {path!r}: {e.strerror}")
            os.close(fd)
        flags = plan.unshare_flags
        if flags & S.CLONE_NEWUSER:
            sc.unshare(S.CLONE_NEWUSER)
            chan.send(sync.USERNS)
            chan.expect(sync.MAPPED)
            flags &= ~S.CLONE_NEWUSER
        if plan.in_userns:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        sc.unshare(flags)
        if flags & S.CLONE_NEWNS:  # before anything: no mount may propagate to the host
            sc.mount(None, "/", None, plan.root_propagation)
        fork_reported(chan, run_init, setsid=True)  # setsid: TIOCSTI would type into the caller's shell
    except sync.InitFailed as e:
        _fail(chan, str(e))
    except OSError as e:
        _fail(chan, f"entering namespaces: {e}")
    except BaseException as e:  # never return into the runtime's code
        _fail(chan, f"stage1: {type(e).__name__}: {e}")


def init(chan: sync.Channel, plan: Plan, sc: S.Syscalls, fifo: int, run_hooks) -> None:
    """Build the container from the plan, wait for start, exec the process."""
    step = None
    try:
        sync.set_process_name("pycr:[init]")
        ctx = InitContext(plan.rootfs, in_userns=plan.in_userns, channel=chan)
        if plan.process is not None and plan.process.bounding is not None:
            sys.modules["pycr.core.linux.caps"].last_cap()  # the host's /proc: after the switch it may be the image's
        for step in plan.pre_switch:
            step.run(sc, ctx)
        step = None
        chan.send(sync.HOOKS)
        state = chan.expect(sync.HOOKS_DONE).get("state", {})
        run_hooks("createContainer", state)
        for step in ([plan.switch] if plan.switch else []) + sorted(plan.post_switch, key=lambda s: s.order):
            step.run(sc, ctx)
        step = None
        proc = plan.process
        exe = find_executable(proc) if proc.args else ""  # no process: start never comes
        env = process_env(proc)
        if plan.console is not None:  # process.terminal (see console.py)
            sys.modules["pycr.core.runtime.console"].setup_in_container(plan.console.fileno(), plan.console_size)
        if proc.cwd:  # the init's cwd is made if missing, as runc does; an exec's is not (it fails to chdir)
            try:
                os.makedirs(proc.cwd, mode=0o755, exist_ok=True)
            except OSError as e:
                raise sync.InitFailed(f"process.cwd: {proc.cwd!r}: {e.strerror}") from None
        stub = _exec_stub(exe, chan, fifo) if plan.exec_stub else None
        apply_confined(sc, ctx, plan.confine, proc)
        keep = {chan.fileno(), fifo, stub}
        close_fds(3 + proc.preserve_fds, keep)
        if stub is not None:  # the stub sends READY, waits for start and execs the process
            default_signals()
            try:
                sys.modules["pycr.core.linux.exec_stub"].execute(stub, proc.args, env, (chan.fileno(), fifo))
            except (OSError, ValueError) as e:
                raise sync.InitFailed(f"{exec_failure(exe, e)} (through the exec stub)") from None
        chan.send(sync.READY)
        # Blocks until `start` opens the fifo for reading (see sync.py).
        wfd = os.open(f"/proc/self/fd/{fifo}", os.O_WRONLY | os.O_CLOEXEC)
        os.write(wfd, b"0")
        os.close(wfd)
        os.close(fifo)
        run_hooks("startContainer", state)
        default_signals()
        exec_process(exe, proc.args, env)
    except sync.InitFailed as e:
        _fail(chan, str(e), e.command)
    except OSError as e:
        where = f"{step.describe()}: " if step is not None else ""
        _fail(chan, f"{where}{e.strerror or e}{' ' + repr(e.filename) if e.filename else ''}")
    except BaseException as e:
        where = f"{step.describe()}: " if step is not None else ""
        _fail(chan, f"{where}{type(e).__name__}: {e}")


def _exec_stub(exe: str, chan: sync.Channel, fifo: int) -> int:
    """The exec stub for this init, in a sealed memfd -- made before the seccomp filter,
    which may refuse memfd_create (the module was preloaded before the root switch)."""
    stub = sys.modules["pycr.core.linux.exec_stub"]
    messages = [f"{exec_failure(exe, OSError(n, ''))}\n".encode(errors="replace") for n in range(stub.MAX_ERRNO + 1)]
    try:
        return stub.load(stub.image(exe, chan.fileno(), fifo, sync.line(sync.READY), messages))
    except OSError as e:
        raise sync.InitFailed(f"exec stub: cannot make its memfd: {e.strerror}") from None


def hide_from_container(sc: S.Syscalls) -> None:
    """Make this process non-dumpable until its execve: a container process
    (in a shared pid namespace, or once we join one) can then open none of
    our /proc/PID entries -- exe (the host's interpreter), environ (the
    host's environment), fd/* (host files), mem.  Set again after every uid
    change, which resets it.  See docs/security.md."""
    sc.prctl(S.PR_SET_DUMPABLE, 0)


def exec_process(exe: str, args: list[str], env: dict[str, str]) -> None:
    """execve, after ``start``: nobody listens on the channel any more, so a
    failure (ENOEXEC, E2BIG...) is told on the process's own stderr in runc's
    words, and the container exits 1, as with runc."""
    try:
        os.execve(exe, args, env)
    except (OSError, ValueError) as e:
        try:
            os.write(2, f"{exec_failure(exe, e)}\n".encode(errors="replace"))
        finally:
            os._exit(1)


def exec_failure(exe: str, error: OSError | ValueError) -> str:
    """runc's words for an execve that failed: the errno's text in lower case; "invalid
    argument" for what execve cannot even be given (a NUL byte: ValueError, or errno 0).
    The exec stub's table holds the same line for every errno."""
    errno = error.errno if isinstance(error, OSError) else 0
    return f"exec {exe}: {os.strerror(errno).lower() if errno else 'invalid argument'}"


def default_signals() -> None:
    """execve keeps ignored signals ignored: Python ignores SIGPIPE and SIGXFSZ, and
    whoever started the runtime may ignore more (``nohup``: SIGHUP; a background job
    of a script: SIGINT and SIGQUIT).  The user's program starts with every
    disposition at its default, whatever the caller's were."""
    import _signal as signal  # signal.py builds its enums: ~3 ms

    for sig in range(1, signal.NSIG):
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):  # the C library's own real-time signals
                pass


def _env_dict(env: list[str]) -> dict[str, str]:
    out = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def process_env(proc: ProcessSpec) -> dict[str, str]:
    """The process's environment; without HOME, runc's: the user's home in the
    container's /etc/passwd, else ``/`` (engines expect /root for root)."""
    env = _env_dict(proc.env)
    if "HOME" not in env:
        env["HOME"] = "/"
        try:
            with open("/etc/passwd", "rb") as f:
                for line in f:
                    fields = line.rstrip(b"\n").split(b":")
                    if len(fields) >= 6 and fields[2] == str(proc.uid).encode() and fields[5]:
                        env["HOME"] = fields[5].decode(errors="surrogateescape")
                        break
        except OSError:
            pass
    return env


def find_executable(proc: ProcessSpec) -> str:
    """Resolve ``args[0]`` like runc: a path as is, a bare name through $PATH."""
    name = proc.args[0]
    if "/" in name:
        path = name if name.startswith("/") else os.path.join(proc.cwd, name)
        # runc's (Go's exec.LookPath) wording: podman and dockerd turn "no such file or
        # directory" into exit 127 and "permission denied" into 126
        try:
            st = os.stat(path)
        except OSError as e:
            raise sync.InitFailed(f'exec: "{name}": stat {path}: {os.strerror(e.errno).lower()}',
                                  command=command_failure(e.errno)) from None
        if stat.S_ISDIR(st.st_mode) or not os.access(path, os.X_OK):
            raise sync.InitFailed(f'exec: "{name}": permission denied', command="not-executable")
        return path
    search = _env_dict(proc.env).get("PATH", DEFAULT_PATH)
    for d in search.split(":"):
        path = os.path.join(d or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise sync.InitFailed(f'exec: "{name}": executable file not found in $PATH', command="missing")


def command_failure(errno: int) -> str:
    """``InitFailed.command`` for an errno of stat or execve on the executable:
    missing (ENOENT) or there but not runnable (EACCES, EISDIR, ENOEXEC...)."""
    return "missing" if errno == 2 else "not-executable"


def apply_process(sc: S.Syscalls, proc: ProcessSpec) -> None:
    """rlimits, oom score, user and capabilities -- in the order the kernel needs."""
    for res, soft, hard in proc.rlimits:
        try:
            sc.setrlimit(res, soft, hard)
        except OSError as e:
            raise sync.InitFailed(f"process.rlimits: setrlimit({res}, {soft % 2**64}, {hard % 2**64}): "
                                  f"{os.strerror(e.errno)}") from None
    if proc.oom_score_adj is not None:
        try:
            sc.write_file("/proc/self/oom_score_adj", str(proc.oom_score_adj))
        except OSError as e:
            raise sync.InitFailed(f"process.oomScoreAdj: {proc.oom_score_adj}: {e.strerror}") from None
    if proc.bounding is not None:
        from pycr.core.linux.caps import last_cap

        for cap in range(last_cap() + 1):
            if not proc.bounding & (1 << cap):
                sc.prctl(S.PR_CAPBSET_DROP, cap)
    sc.prctl(S.PR_SET_KEEPCAPS, 1)
    try:
        os.setgroups(proc.additional_gids)
    except PermissionError:
        if proc.additional_gids:
            raise
    os.setresgid(proc.gid, proc.gid, proc.gid)
    os.setresuid(proc.uid, proc.uid, proc.uid)
    sc.prctl(S.PR_SET_KEEPCAPS, 0)
    sc.capset(proc.effective, proc.permitted, proc.inheritable)
    sc.prctl(S.PR_CAP_AMBIENT, S.PR_CAP_AMBIENT_CLEAR_ALL)
    # The kernel only lets a capability be ambient if it is permitted and
    # inheritable; like runc, the others are skipped rather than fatal.
    ambient = proc.ambient & proc.permitted & proc.inheritable
    for cap in range(64):
        if ambient & (1 << cap):
            sc.prctl(S.PR_CAP_AMBIENT, S.PR_CAP_AMBIENT_RAISE, cap)
    if proc.umask is not None:
        os.umask(proc.umask)
    if proc.no_new_privileges:
        sc.prctl(S.PR_SET_NO_NEW_PRIVS, 1)
    try:
        os.chdir(proc.cwd or "/")
    except OSError as e:
        raise sync.InitFailed(f"process.cwd: chdir to {proc.cwd!r}: {e.strerror}") from None
    sys.stdout.flush()


def apply_confined(sc: S.Syscalls, ctx: InitContext, confine: list, proc: ProcessSpec) -> None:
    """:func:`apply_process` (then non-dumpable again: see hide_from_container)
    between the confinement steps (seccomp), as runc orders them: a step marked ``privileged`` runs before the user and
    capabilities change (a filter without noNewPrivileges needs CAP_SYS_ADMIN),
    the others after them, the last thing before the runtime is told READY."""
    for step in confine:
        if step.privileged:
            step.run(sc, ctx)
    apply_process(sc, proc)
    hide_from_container(sc)  # a uid change made the process dumpable again; before any filter
    for step in confine:
        if not step.privileged:
            step.run(sc, ctx)


def close_fds(first: int, keep: set[int]) -> None:
    """Close every fd from ``first`` up, except ``keep`` (closed at exec)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= first and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
