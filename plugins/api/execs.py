"""``/containers/{id}/exec``, ``/exec/{id}/start|resize|json``: a process in a running container.

The process is started by ``pycr exec`` itself (the management layer's verb,
as a child of the server), so an API exec is exactly a CLI exec: the same
namespaces, cgroup, user resolution and pty handling.  With ``Tty`` the
server gives it a pty whose master is the hijacked connection, and a resize
sets that pty's window size, which ``pycr exec`` passes to the container's
terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
import struct
import sys
import termios

from aiohttp import web

from pycr.plugins.api.errors import ApiError, bool_field
from pycr.plugins.api.server import container_ref, json_body, jsonr, query_int, srv_of
from pycr.plugins.api.streams import Hijacked, frame


def _pycr() -> str:
    return os.path.join(os.path.dirname(sys.executable), "pycr")


def _running(ref: str) -> str:
    from pycr.plugins.api import layers

    rec = layers.manage.resolve(ref)
    layers.manage.need_running(rec, "exec into")
    return rec.id


async def create(request):
    srv = srv_of(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    cmd = body.get("Cmd")
    if not isinstance(cmd, list) or not cmd or not all(isinstance(c, str) for c in cmd):
        raise ApiError(400, "Cmd: the command to run is missing (a list of strings)")
    env = body.get("Env") or []
    if not isinstance(env, list) or not all(isinstance(e, str) and "=" in e for e in env):
        raise ApiError(400, "Env: expected a list of KEY=VALUE strings")
    for key in ("User", "WorkingDir"):
        if not isinstance(body.get(key) or "", str):
            raise ApiError(400, f"{key}: expected a string")
    if body.get("WorkingDir") and not body["WorkingDir"].startswith("/"):
        raise ApiError(400, f"WorkingDir: {body['WorkingDir']!r} must be absolute")
    flags = {key: bool_field(body, key) for key in ("Tty", "AttachStdin", "AttachStdout", "AttachStderr",
                                                     "Privileged")}
    if flags["Privileged"]:
        raise ApiError(400, "Privileged: pycr does not run privileged exec processes")
    cid = await srv.read(_running, container_ref(request))
    sess = new_session(cid, cmd, tty=flags["Tty"], stdin=flags["AttachStdin"], env=env,
                       user=body.get("User") or "", workdir=body.get("WorkingDir") or "")
    eid = sess["ID"]
    srv.execs[eid] = sess
    while len(srv.execs) > 1000:  # finished sessions are kept for their exit code, not forever
        old = next((k for k, v in srv.execs.items() if not v["Running"]), None)
        if old is None:
            break
        del srv.execs[old]
    return jsonr({"Id": eid}, status=201)


def new_session(cid: str, cmd: list[str], *, tty: bool, stdin: bool, env=(), user: str = "",
                workdir: str = "") -> dict:
    """An exec session as ``POST /containers/{id}/exec`` makes it (also the dashboard's terminal)."""
    return {"ID": secrets.token_hex(32), "ContainerID": cid, "Running": False, "ExitCode": None, "Pid": 0,
            "OpenStdin": stdin, "OpenStdout": True, "OpenStderr": True,
            "ProcessConfig": {"tty": tty, "entrypoint": cmd[0], "arguments": cmd[1:], "user": user,
                              "privileged": False},
            "env": list(env), "workdir": workdir, "CanRemove": False, "master": None, "DetachKeys": ""}


def _exec_of(request) -> dict:
    eid = request.match_info["eid"]
    sess = request.app["srv"].execs.get(eid)
    if sess is None:
        raise ApiError(404, f"No such exec instance: {eid[:64]}")
    return sess


def _argv(sess: dict) -> list[str]:
    pc = sess["ProcessConfig"]
    argv = [_pycr(), "exec"]
    if sess["OpenStdin"]:
        argv.append("-i")
    if pc["tty"]:
        argv.append("-t")
    for e in sess["env"]:
        argv += ["-e", e]
    if pc["user"]:
        argv += ["-u", pc["user"]]
    if sess["workdir"]:
        argv += ["-w", sess["workdir"]]
    return argv + [sess["ContainerID"], pc["entrypoint"], *pc["arguments"]]


async def start(request):
    sess = _exec_of(request)
    body = await json_body(request, optional=True)
    if not isinstance(body, dict):  # checked before the session is marked running: it may be started again
        raise ApiError(400, "the request body must be a JSON object")
    detach = bool_field(body, "Detach")
    bool_field(body, "Tty")
    if sess["Running"] or sess["ExitCode"] is not None:
        raise ApiError(409, f"exec {sess['ID'][:12]} has already run")
    tty = sess["ProcessConfig"]["tty"]
    sess["Running"] = True
    try:
        if detach:
            proc = await asyncio.create_subprocess_exec(*_argv(sess), stdin=asyncio.subprocess.DEVNULL,
                                                        stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL)
            sess["Pid"] = proc.pid
            asyncio.ensure_future(_reap(sess, proc))
            return web.Response(status=200)
        conn = await Hijacked.open(request, "application/vnd.docker.raw-stream")
        try:
            if tty:
                await run_tty(sess, conn)
            else:
                await _run_pipes(sess, conn)
        finally:
            conn.close()
        return conn.resp
    finally:
        if not body.get("Detach"):
            sess["Running"] = False


async def _reap(sess, proc) -> None:
    sess["ExitCode"] = await proc.wait()
    sess["Running"] = False


async def _run_pipes(sess, conn) -> None:
    proc = await asyncio.create_subprocess_exec(
        *_argv(sess), stdin=asyncio.subprocess.PIPE if sess["OpenStdin"] else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    sess["Pid"] = proc.pid

    async def pump(stream, name):
        while data := await stream.read(65536):
            await conn.write(frame(name, data))

    feeder = asyncio.ensure_future(_feed_pipe(conn, proc.stdin)) if sess["OpenStdin"] else None
    try:
        await asyncio.gather(pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr"))
        sess["ExitCode"] = await proc.wait()
    finally:
        if feeder is not None:
            feeder.cancel()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def _feed_pipe(conn, stdin) -> None:
    with contextlib.suppress(ConnectionError, BrokenPipeError):
        while data := await conn.read():
            stdin.write(data)
            await stdin.drain()
        stdin.close()


async def run_tty(sess, conn) -> None:
    """Run the session's process on a pty: its output to ``conn.write``, ``conn.read()`` typed into it."""
    import pty

    master, slave = pty.openpty()
    sess["master"] = master
    try:
        # util-linux setsid --ctty: the pty becomes pycr exec's controlling terminal, so a resize reaches it
        proc = await asyncio.create_subprocess_exec("setsid", "--ctty", *_argv(sess), stdin=slave, stdout=slave,
                                                    stderr=slave)
    finally:
        os.close(slave)
    sess["Pid"] = proc.pid
    loop = asyncio.get_running_loop()
    os.set_blocking(master, False)
    out: asyncio.Queue = asyncio.Queue()

    def readable():
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: every holder of the slave is gone
            data = b""
        if not data:
            loop.remove_reader(master)
        out.put_nowait(data)

    loop.add_reader(master, readable)
    started = asyncio.Event()

    async def typed():
        # pycr exec -t puts its terminal in raw mode with TCSAFLUSH, discarding what was typed before;
        # its first output means the proxy runs, so what the client sent early is held until then
        await started.wait()
        while data := await conn.read():
            while data:
                try:
                    n = os.write(master, data)
                    data = data[n:]
                except BlockingIOError:
                    await asyncio.sleep(0.01)

    feeder = asyncio.ensure_future(typed()) if sess["OpenStdin"] else None
    try:
        while data := await out.get():
            started.set()
            await conn.write(data)
        sess["ExitCode"] = await proc.wait()
    finally:
        if feeder is not None:
            feeder.cancel()
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(master)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        sess["master"] = None
        os.close(master)


async def resize(request):
    sess = _exec_of(request)
    h, w = query_int(request, "h", 0), query_int(request, "w", 0)
    if not (0 <= h < 65536 and 0 <= w < 65536):
        raise ApiError(400, f"h, w: {h}x{w} is not a terminal size")
    set_window(sess, h, w)
    return web.Response(status=201)


def set_window(sess: dict, rows: int, cols: int) -> None:
    if sess["master"] is not None and 0 < rows < 65536 and 0 < cols < 65536:
        with contextlib.suppress(OSError):
            fcntl.ioctl(sess["master"], termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


async def inspect(request):
    sess = _exec_of(request)
    return jsonr({k: v for k, v in sess.items() if k not in ("master", "env", "workdir")})


def routes(r) -> None:
    r.add("POST", "/containers/{id}/exec", create)
    r.add("POST", "/exec/{eid}/start", start)
    r.add("POST", "/exec/{eid}/resize", resize)
    r.add("GET", "/exec/{eid}/json", inspect)
