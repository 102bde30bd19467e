"""The container lifecycle: create, run, list -- and start, state, kill and delete, which live in
:mod:`pycr.core.runtime.control` (a ``pycr-oci start`` imports only that) and are re-exported here.

This is the runtime process's side of :mod:`pycr.core.runtime.sync`.  Every
resource ``create`` makes is registered on an :class:`Undo` list as it is made,
so a failure at any point undoes exactly what exists: no cgroup, mount, state
directory or process is left behind.  (No contextlib here: with the collections
and functools it imports, ~3 ms of every command's start-up.)
"""

from __future__ import annotations

import os
import _signal as signal  # signal.py builds its enums (~3 ms of every run); the numbers suffice
import time

from pycr.core.errors import ContainerNotFound, ExecutableError, PycrError, StateError
from pycr.core.runtime.control import (  # noqa: F401  (re-exported: the runtime's operations in one place)
    _manager, _rmtree, _thaw_and_kill, _wait_gone, _warn, cgroup_of, delete, kill, parse_signal, resolve_backend, start, state,
    status_of)
from pycr.core.runtime.state import Container, CorruptState, check_id, proc_start_time


class Undo:
    """Callbacks run in reverse order when the ``with`` block ends, unless ``pop_all`` kept
    what they undo -- the part of ``contextlib.ExitStack`` that create and run use.  Every
    callback runs; the first one that raises is raised (chained to the block's exception)."""

    def __init__(self):
        self._callbacks: list = []

    def callback(self, fn, *args) -> None:
        self._callbacks.append((fn, args))

    def enter_context(self, cm):
        """Enter ``cm`` now, exit it (as after a normal end) when the undo list runs."""
        result = cm.__enter__()
        self._callbacks.append((cm.__exit__, (None, None, None)))
        return result

    def pop_all(self) -> None:
        self._callbacks = []

    def close(self) -> None:
        error = None
        while self._callbacks:
            fn, args = self._callbacks.pop()
            try:
                fn(*args)
            except BaseException as e:
                error = error or e
        if error is not None:
            raise error

    def __enter__(self) -> "Undo":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


# ------------------------------------------------------------------ create


def create(opts, cid: str, bundle: str, *, pid_file: str | None = None, no_pivot: bool = False,
           preserve_fds: int = 0, console_socket: str | None = None, validate_schema: bool = True) -> Container:
    """Create container ``cid`` from ``bundle``; returns once it waits for start.

    ``validate_schema=False`` only for a config.json pycr generated itself.
    """
    from pycr.core import spec, tracing

    from pycr.core.linux.paths import private_dir

    check_id(cid)
    bundle = os.path.abspath(bundle)
    private_dir(opts.root, "state root")
    if os.path.exists(os.path.join(opts.root, cid)):
        raise StateError(f"container with id exists: {cid}")
    with tracing.phase("validate"):
        config = spec.load_bundle_config(bundle, schema=validate_schema)
    from pycr.core.linux.exe import protect_unless_stub

    exec_stub = protect_unless_stub(config)  # may re-exec this command (nothing is made yet)
    return _create(opts, cid, bundle, config, pid_file=pid_file, no_pivot=no_pivot,
                   preserve_fds=preserve_fds, console_socket=console_socket, exec_stub=exec_stub)


def _create(opts, cid, bundle, config, *, pid_file, no_pivot, preserve_fds, console_socket, exec_stub=False):
    from pycr.core import spec, tracing
    from pycr.core.runtime import sync
    from pycr.core.linux import syscalls as S
    from pycr.core.runtime import init as init_mod
    from pycr.core.runtime import oci_hooks
    from pycr.core.runtime.plan import Plan

    if (config.get("process") or {}).get("terminal") and not console_socket:
        raise PycrError("cannot allocate tty if pycr will detach without setting console socket")
    with tracing.phase("plugins"):
        pm = _manager(opts)
    with tracing.phase("driver"):
        driver_cls = pm.driver("cgroup", resolve_backend(opts.backend), config)
    linux = config.get("linux", {})
    hooks = config.get("hooks", {}) or {}
    sc = S.SYSCALLS
    c = Container(opts.root, cid, {"bundle": bundle, "annotations": config.get("annotations", {}),
                                   "rootfs": spec.rootfs_path(config, bundle)})

    with Undo() as undo:
        try:
            os.mkdir(c.dir, 0o711)
        except FileExistsError:
            raise StateError(f"container with id exists: {cid}") from None
        undo.callback(_rmtree, c.dir)
        undo.callback(_run_cleanup, pm, c)

        with tracing.phase("cgroup"):
            cgroup = driver_cls(cid, linux.get("cgroupsPath"))
            # the intent journal: what create is about to make, written before making it, so
            # `delete --force` can undo a create killed at any moment (see delete_aborted)
            journal = {"cgroup": cgroup.to_state(), "annotations": c.data["annotations"]}
            _record_intent(c, journal)
            cgroup.create()
            undo.callback(cgroup.destroy)
            c.data["cgroup"] = journal["cgroup"] = cgroup.to_state()
            freezer = getattr(cgroup, "freezer_files", lambda: None)()
            if freezer is not None:
                c.data["freezer"] = freezer
            _record_intent(c, journal)
        with tracing.phase("plan"):
            plan = Plan(rootfs=c.data["rootfs"], cgroup=cgroup, root=opts.root)
            pm.hook.pycr_isolation_plan(config=config, plan=plan, container_id=cid)
            _warn(opts, plan.warnings)
            pm.hook.pycr_rootfs_plan(config=config, bundle=bundle, plan=plan, container_id=cid)
            plan.switch = pm.hook.pycr_rootfs_switch(config=config, no_pivot=no_pivot, container_id=cid)
            plan.process.preserve_fds = preserve_fds
            if exec_stub:
                plan.exec_stub = True
                plan.preload += ["pycr.core.linux.exec_stub", "fcntl"]
            if (config.get("process") or {}).get("terminal"):  # console.py (termios) only for a terminal
                from pycr.core.runtime import console

                console.prepare(plan, config, console_socket, undo)
            if hooks.get("createContainer") or hooks.get("startContainer"):
                plan.preload.append("subprocess")
            # after the rootfs plan, which checked the linux.devices the device rules are made from
            pm.hook.pycr_resource_limits(config=config, cgroup=cgroup, resources=linux.get("resources") or {},
                                         container_id=cid)
        os.mkfifo(c.fifo, 0o622)
        os.chmod(c.fifo, 0o622)
        # Opened here, not in the init: a mapped user there may not reach the state root.
        fifo_fd = os.open(c.fifo, os.O_PATH | os.O_CLOEXEC)
        undo.callback(os.close, fifo_fd)

        parent, child = sync.Channel.pair()
        hook_state: dict = {}

        def init_hooks(phase, state):  # runs in the init, in the container's namespaces
            oci_hooks.run_hooks(hooks, phase, {**state, "status": "running" if phase == "startContainer" else "creating"})

        with tracing.phase("fork"):
            plan.cgroup_join = _open_join_files(cgroup)
            sc.prctl(S.PR_SET_CHILD_SUBREAPER, 1)
            pid = os.fork()
            if pid == 0:  # pycr:[stage1] -- never returns
                parent.close()
                init_mod.stage1(child, plan, sc, lambda: init_mod.init(child, plan, sc, fifo_fd, init_hooks))
                os._exit(1)
        child.close()
        for _, fd in plan.cgroup_join:
            os.close(fd)
        undo.callback(_reap, pid)
        journal["pids"] = [[pid, proc_start_time(pid)]]
        _record_intent(c, journal)
        try:
            with tracing.phase("namespaces"):
                if not plan.cgroup_join:
                    cgroup.add_pid(pid)
                parent.send(sync.GO)
                msg = parent.recv()
                if msg["type"] == sync.USERNS:
                    _write_id_maps(pid, plan)
                    parent.send(sync.MAPPED)
                    msg = parent.recv()
                if msg["type"] != sync.PID:
                    raise sync.InitFailed(msg.get("msg") or f"container init exited early ({msg['type']})")
                init_pid = msg["pid"]
                undo.callback(_kill_and_reap, init_pid)
                init_start = proc_start_time(init_pid)
                journal["pids"].append([init_pid, init_start])
                _record_intent(c, journal)
                _reap(pid)
                c.data.update(pid=init_pid, pid_start=init_start)
                # its namespaces exist: work on them (a network attach) can overlap the rootfs setup
                pm.hook.pycr_init_spawned(state=c.oci_state("creating"))
            with tracing.phase("rootfs"):
                parent.expect(sync.HOOKS)
            with tracing.phase("hooks"):
                hook_state.update(c.oci_state("creating"))
                oci_hooks.run_hooks(hooks, "prestart", hook_state)
                oci_hooks.run_hooks(hooks, "createRuntime", hook_state)
                parent.send(sync.HOOKS_DONE, state=hook_state)
            with tracing.phase("switch"):  # the init: createContainer hooks, pivot_root, later mounts, confinement
                parent.expect(sync.READY, serve=lambda req: answer_init(pm, req, config, hook_state))
        except sync.InitFailed as e:
            why = str(e)
            if why.endswith(f"before sending {sync.READY!r}") and (config.get("linux") or {}).get("seccomp"):
                why += (" (linux.seccomp is loaded just before: a profile that refuses a call the init still "
                        "makes -- sendto, read, openat, execve -- stops it there)")
            if e.command:
                raise ExecutableError(f"container {cid}: {why}", e.command) from None
            raise PycrError(f"container {cid}: {why}") from None
        finally:
            parent.close()
        if "process" not in config:
            c.data["no_process"] = True  # start must fail (runtime spec: process is needed at start)
        c.data.update(created=time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
                      hooks={k: hooks[k] for k in ("poststart", "poststop") if k in hooks},
                      owner="")
        c.save()
        if pid_file:
            _write_pid_file(pid_file, init_pid)
        undo.pop_all()  # the intent journal stays: the cgroup and init a damaged state.json lost (_salvage)
        os.close(fifo_fd)
    try:  # e.g. the network layer attaching the namespace: on failure, no half-made container
        pm.hook.pycr_container_created(state=c.oci_state("created"))
    except BaseException:
        try:
            delete(opts, cid, force=True)
        except Exception:
            pass
        raise
    return c


#: create's intent journal (JSON lines), in the container's directory until delete: before state.json
#: is written it is what an aborted create made (delete_aborted), after it a second record of the
#: container's cgroup and init (_salvage)
INTENT = "intent.json"


def _record_intent(c: Container, journal: dict) -> None:
    """Append ``journal`` to the intent journal as one JSON line in one write; its reader
    (:func:`read_intent`) takes the last whole line.  Appending, not a rename over the previous
    version: on ext4 each such rename makes the kernel write the new file out (~0.6 ms, three per
    create).  A write cut short (a full disk) fails create, which then undoes what it made."""
    from pycr.core import jsonfast as json

    path = os.path.join(c.dir, INTENT)
    data = (json.dumps(journal) + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(28, os.strerror(28))  # ENOSPC: a partial line would hide the next ones
        finally:
            os.close(fd)
    except OSError as e:
        raise PycrError(f"container {c.id}: cannot record what create makes: {path}: {e.strerror}") from None


def read_intent(path: str) -> dict:
    """The last whole record of the intent journal at ``path`` (a killed create may have cut the
    last line short); empty if there is none."""
    import json

    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            return record
    return {}


def _open_join_files(cgroup) -> list[tuple[str, int]]:
    """The driver's self-join files, opened here (as the host's root) for stage1 to write."""
    opened = []
    try:
        for path in getattr(cgroup, "self_join_files", lambda: [])():
            opened.append((path, os.open(path, os.O_WRONLY | os.O_CLOEXEC)))
    except OSError as e:
        for _, fd in opened:
            os.close(fd)
        raise PycrError(f"cgroup: cannot open {e.filename}: {e.strerror}") from None
    return opened


def answer_init(pm, request: dict, config: dict, state: dict) -> dict:
    """Answer a request the init makes before READY (``pycr_init_request``),
    closing the file descriptors it carried once the plugin is done."""
    from pycr.core.runtime.sync import InitFailed

    try:
        reply = pm.hook.pycr_init_request(request=request, config=config, state=state, container_id=state["id"])
    finally:
        for fd in request.get("fds", []):
            os.close(fd)
    if reply is None:
        raise InitFailed(f"sync protocol: no plugin answers the init's {request['type']!r} request")
    return reply


def _write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.pycr-tmp"
    with open(tmp, "w") as f:
        f.write(str(pid))  # no trailing newline, as runc
    os.replace(tmp, path)


def _write_id_maps(pid: int, plan) -> None:
    for name, maps in (("uid_map", plan.uid_mappings), ("gid_map", plan.gid_mappings)):
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in maps)
        if lines:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(lines)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _reap(pid)
    _wait_gone(pid)


def _run_cleanup(pm, c: Container) -> None:
    failures = pm.cleanup(c.oci_state("stopped"))
    if failures:
        from pycr.core.errors import warn

        warn("; ".join(failures))


def delete_aborted(opts, path: str) -> None:
    """Undo a create that died before it wrote state.json (``kill -9``, power
    loss): its intent journal names the cgroup it was making and the
    processes it forked; kill those, remove the cgroup, then the directory."""
    journal = read_intent(os.path.join(path, INTENT))
    for pid, start in journal.get("pids", []):
        if start is not None and proc_start_time(pid) == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _wait_gone(pid, start)
    failures = []
    if journal.get("cgroup"):
        cgroup = _manager(opts).driver("cgroup", journal["cgroup"]["driver"]).from_state(journal["cgroup"])
        try:
            deadline = time.monotonic() + 10
            while cgroup.pids() and time.monotonic() < deadline:
                _thaw_and_kill(cgroup)
                time.sleep(0.01)
            cgroup.destroy()
        except Exception as e:
            failures.append(f"cgroup: {e}")
    if "annotations" in journal:  # plugins undo their part too (a network attach under way)
        c = Container(opts.root, os.path.basename(path), {"annotations": journal["annotations"]})
        failures += _manager(opts).cleanup(c.oci_state("stopped"))
    _rmtree(path)
    if failures:
        raise PycrError(f"container {os.path.basename(path)}: " + "; ".join(failures))


# ------------------------------------------------------------------ run / list

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
              signal.SIGUSR2, signal.SIGWINCH)


def run_container(opts, container_id: str, bundle: str, *, no_pivot: bool = False, detach: bool = False,
                  pid_file: str | None = None, preserve_fds: int = 0, console_socket: str | None = None,
                  validate_schema: bool = True, terminal: bool = False, stdin: bool = True,
                  on_created=None, on_signal=None) -> int:
    """create + start + wait + delete; the container's exit status (128+signal when killed).

    ``terminal``: the config asks for a terminal and no engine holds the
    console, so pycr receives the pty itself and proxies it to its own
    stdin/stdout (``stdin=False``: output only), as ``runc run`` does.
    ``on_created(container)`` runs between create and start.
    ``on_signal(pid, signum)``: called instead of forwarding a signal pycr
    receives to the container (``pycr build`` kills its RUN on Ctrl-C).
    """
    from pycr.core import tracing
    from pycr.core.linux import syscalls as S

    S.SYSCALLS.prctl(S.PR_SET_CHILD_SUBREAPER, 1)
    with Undo() as stack:
        if terminal:
            from pycr.core.runtime import terminal as term

            sock, console_socket = stack.enter_context(term.listener())
        c = create(opts, container_id, bundle, pid_file=pid_file, no_pivot=no_pivot,
                   preserve_fds=preserve_fds, console_socket=console_socket, validate_schema=validate_schema)
        if on_created is not None:  # pycr run: its record learns the init
            try:
                on_created(c)
            except BaseException:
                delete(opts, container_id, force=True)
                raise
        if detach:
            start(opts, container_id)
            return 0
        code = 255
        try:
            if terminal:
                master = term.receive_master(sock)
                if os.isatty(0):  # before start: the process may ask for its size at once
                    term.copy_winsize(0, master)
                start(opts, container_id)
                code = term.proxy(master, c.pid, stdin=stdin)  # forwards signals itself
            else:
                stack.enter_context(forward_signals(c.pid, on_signal))
                with tracing.phase("start"):
                    start(opts, container_id)
                with tracing.phase("wait"):
                    code = wait_for(c.pid)
        finally:
            stack.close()
            try:  # a plugin that raises here must not leave the container's state and cgroups behind
                _manager(opts).hook.pycr_container_stopped(state=c.oci_state("stopped"), exit_status=code)
            finally:
                with tracing.phase("delete"):
                    delete(opts, container_id, force=True)
    return code


class forward_signals:
    """Pass the signals a user sends to ``pycr`` on to ``pid`` (the container's process),
    or to ``on_signal(pid, signum)`` when given, during a ``with`` block."""

    def __init__(self, pid: int, on_signal=None):
        self.pid, self.handler = pid, on_signal or forward_signal

    def __enter__(self):
        self.previous = {s: signal.signal(s, lambda n, f: self.handler(self.pid, n)) for s in _FORWARDED}

    def __exit__(self, *exc) -> bool:
        for s, h in self.previous.items():
            signal.signal(s, h)
        return False


def forward_signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def wait_for(pid: int) -> int:
    """Reap children (we are a subreaper) until ``pid`` exits; its shell-style status."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        except InterruptedError:
            continue
        if got == pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


def list_containers(opts) -> list[dict]:
    out = []
    for cid in Container.ids(opts.root):
        try:
            out.append(state(opts, cid))
        except ContainerNotFound:
            continue
        except CorruptState as e:  # the others are still listed
            _warn(opts, [str(e)])
    return out
