"""The aiohttp application: routes under docker's paths (with or without ``/v1.xx``), errors as docker's JSON.

Why aiohttp: one maintained library that serves unix sockets, streams
responses, speaks websockets (the dashboard's live logs) and lets a handler
take over its connection for docker's ``Upgrade: tcp`` attach and exec.

Blocking work never runs on the event loop: reads of records and the store
go to threads; anything that changes containers or images goes to a pool of
single-threaded worker processes (:mod:`.ops`), because starting a container
forks its monitor.  A slow client therefore only ever waits for itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re

from aiohttp import web

from pycr.plugins.api.errors import ApiError

log = logging.getLogger("pycr.api")
API_VERSION = "1.41"
MIN_API_VERSION = "1.24"


class Server:
    """What every handler needs: global options, the worker pool, events, exec sessions, bind roots,
    whether callers may have privileges."""

    def __init__(self, opts, *, bind_roots: list[str], workers: int = 6, allow_privileged: bool = False):
        import concurrent.futures
        import multiprocessing

        self.opts = opts
        self.bind_roots = bind_roots
        self.allow_privileged = allow_privileged  # callers may ask for more than docker's defaults
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["pycr.plugins.api.ops", "pycr.plugins.api.layers"])
        self.pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                                           initializer=configure_logging, initargs=(opts.debug,))
        self.threads = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="pycr-api")
        from pycr.plugins.api.events import Events

        self.events = Events(self._auto_remove)
        self.execs: dict[str, dict] = {}

    async def _auto_remove(self, cid: str) -> None:
        ok = await asyncio.get_running_loop().run_in_executor(self.pool, _guarded_remove, cid)
        if not ok[0] == "ok":
            log.warning("auto-remove %s: %s", cid[:12], ok[-1])

    async def change(self, fn, *args):
        """``fn(*args)`` from :mod:`.ops` in a worker process; its result, or ApiError."""
        from pycr.plugins.api import ops

        out = await asyncio.get_running_loop().run_in_executor(self.pool, ops.guarded, fn, *args)
        if out[0] == "error":
            raise ApiError(out[1], out[2])
        return out[1]

    async def read(self, fn, *args):
        """``fn(*args)`` (a read) in a thread; its result, or ApiError."""
        from pycr.plugins.api import ops

        out = await asyncio.get_running_loop().run_in_executor(self.threads, ops.guarded, fn, *args)
        if out[0] == "error":
            raise ApiError(out[1], out[2])
        return out[1]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.threads.shutdown(wait=False, cancel_futures=True)


def configure_logging(debug: bool) -> None:
    """The server's log lines on stderr, the same in the server and in each worker process (a
    forkserver child starts with no logging set up)."""
    import sys

    logging.basicConfig(level=logging.INFO if debug else logging.WARNING, stream=sys.stderr,
                        format="pycr serve: %(message)s")


def _guarded_remove(cid: str):
    from pycr.plugins.api import ops

    return ops.guarded(ops.remove, cid, True)


def jsonr(data, status: int = 200, headers: dict | None = None) -> web.Response:
    """A JSON answer with exactly ``Content-Type: application/json`` (docker's client compares it verbatim)."""
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json", **(headers or {})})


def error_response(status: int, message: str) -> web.Response:
    """docker's ``{"message": ...}``; docker's CLI prints it as it is, so control characters a
    caller sent (a command, a name) come back escaped."""
    from pycr.core import printable

    return jsonr({"message": printable(message)}, status=status)


@web.middleware
async def docker_errors(request: web.Request, handler):
    """Every failure answers docker's ``{"message": ...}``; never a traceback."""
    try:
        return await handler(request)
    except ApiError as e:
        return error_response(e.status, e.message)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        reason = e.reason if e.status != 404 else f"page not found: {request.method} {request.path}"
        if e.status == 405:
            reason = f"method {request.method} is not allowed on {request.path}"
        return error_response(e.status, reason)
    except ConnectionResetError:  # the client went away during a stream: nothing left to answer
        return request.get("stream_response") or error_response(400, "the client closed the connection")
    except Exception as e:
        log.exception("%s %s", request.method, request.path)
        return error_response(500, f"internal error in pycr serve ({type(e).__name__}); see the server's log")


class Router:
    """Adds every route with and without docker's ``/v{version}`` prefix."""

    def __init__(self, app: web.Application):
        self.app = app

    def add(self, method: str, path: str, handler) -> None:
        self.app.router.add_route(method, path, handler)
        self.app.router.add_route(method, r"/v{version:[0-9]+\.[0-9]+}" + path, handler)


def query_bool(request: web.Request, key: str, default: bool = False) -> bool:
    value = request.query.get(key)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no", ""):
        return False
    raise ApiError(400, f"query parameter {key}: {value!r} is not a boolean")


def query_int(request: web.Request, key: str, default: int | None = None) -> int | None:
    value = request.query.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"query parameter {key}: {value!r} is not an integer") from None


def query_filters(request: web.Request) -> dict:
    text = request.query.get("filters")
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise ApiError(400, f"query parameter filters: not JSON: {text[:80]!r}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "query parameter filters: expected a JSON object of lists")
    out = {}
    for key, values in value.items():  # docker's two shapes: {"k": ["v"]} and the older {"k": {"v": true}}
        if isinstance(values, dict):
            values = [v for v, on in values.items() if on]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ApiError(400, f"query parameter filters: {key!r}: expected a list of strings, got {values!r:.60}")
        out[key] = values
    return out


async def json_body(request: web.Request, *, optional: bool = False):
    raw = await request.read()
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "the request body is empty; a JSON object is expected")
    try:
        return json.loads(raw)
    except ValueError as e:
        raise ApiError(400, f"the request body is not valid JSON: {e}") from None


_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def container_ref(request: web.Request) -> str:
    """The container named in the path: a name, an id or an id prefix (nothing else reaches the layers)."""
    ref = request.match_info["id"].lstrip("/")
    if not _REF.match(ref):
        raise ApiError(400, f"container name or id {ref!r} is not valid")
    return ref


def make_app(srv: Server) -> web.Application:
    from pycr.plugins.api import archive, build, containers, execs, images, networks, system

    app = web.Application(middlewares=[docker_errors], client_max_size=1 << 40)
    app["srv"] = srv
    r = Router(app)
    system.routes(r)
    containers.routes(r)
    execs.routes(r)
    images.routes(r)
    build.routes(r)
    networks.routes(r)
    archive.routes(r)

    async def start_watch(app):
        app["watch"] = asyncio.ensure_future(srv.events.watch())

    async def stop_watch(app):
        app["watch"].cancel()

    app.on_startup.append(start_watch)
    app.on_cleanup.append(stop_watch)
    return app


async def prepared(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    """Send a streamed response's headers; a client that leaves mid-stream then ends it quietly."""
    await resp.prepare(request)
    request["stream_response"] = resp
    return resp


def srv_of(request: web.Request) -> Server:
    return request.app["srv"]
