"""The dashboard: containers (state, image, ports, resource use) with start/stop/restart/remove, live
logs, a shell, images with pull and remove, ``pycr bench`` results with their plots -- served by
``pycr serve --ui`` on loopback.

One static page and ~200 lines of plain JavaScript calling the small JSON
endpoints below (no framework, no build step: the lightest thing that does
the job).  Security: every request needs the token printed at start, given
once as ``?token=`` (which sets an HttpOnly, SameSite=Strict cookie) or as
``Authorization: Bearer``; state changes must be POSTs that carry the
``X-Pycr-UI`` header and, when the browser sends one, a same-origin
``Origin`` -- a cross-site form or fetch can do neither.
"""

from __future__ import annotations

import asyncio
import hmac
import os

from aiohttp import WSMsgType, web

from pycr.plugins.api import ops, shapes
from pycr.plugins.api.errors import ApiError
from pycr.plugins.api.layers import logfiles
from pycr.plugins.api.server import docker_errors, jsonr, srv_of

COOKIE = "pycr_ui"
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_HEADERS = {"Content-Security-Policy": "default-src 'self'; connect-src 'self'; frame-ancestors 'none'",
            "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store"}


def _given_token(request) -> str:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:]
    return request.cookies.get(COOKIE, "")


def _same_origin(request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # not sent (same-origin GET-like fetches); the X-Pycr-UI header still has to be there
        return True
    return origin in (f"http://{request.host}", f"https://{request.host}")


@web.middleware
async def guard(request, handler):
    token = request.app["token"]
    if request.path == "/" and "token" in request.query:  # the link printed at start: trade it for a cookie
        if not hmac.compare_digest(request.query["token"], token):
            raise ApiError(401, "wrong token")
        resp = web.HTTPFound("/")
        resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=request.secure, path="/")
        raise resp
    if not hmac.compare_digest(_given_token(request), token):
        raise ApiError(401, "the dashboard needs the token pycr serve printed at start (open its link)")
    if request.method not in ("GET", "HEAD"):
        if request.headers.get("X-Pycr-UI") != "1" or not _same_origin(request):
            raise ApiError(403, "cross-site request refused")
    if request.headers.get("Upgrade", "").lower() == "websocket":  # browsers always send Origin here
        if "Origin" not in request.headers or not _same_origin(request):
            raise ApiError(403, "cross-site websocket refused")
    resp = await handler(request)
    resp.headers.update(_HEADERS)
    return resp


async def index(request):
    return web.FileResponse(os.path.join(STATIC, "index.html"))


async def asset(request):
    name = request.match_info["name"]
    if name not in ("app.js", "app.css"):
        raise ApiError(404, f"no such file: {name}")
    return web.FileResponse(os.path.join(STATIC, name))


def _containers() -> list[dict]:
    from pycr.plugins.api import layers

    out = []
    for rec in layers.records.all_records(layers.manage.store_root()):
        st = layers.manage.status(rec)
        row = shapes.container_row(rec, st)
        usage = {}
        if st["running"]:
            try:
                data = layers.live.stats_event(layers.manage.runtime_opts(rec), rec.id)["data"]
                usage = {"memory": ((data.get("memory") or {}).get("usage") or {}).get("usage"),
                         "pids": (data.get("pids") or {}).get("current"),
                         "cpu_ns": ((data.get("cpu") or {}).get("usage") or {}).get("total")}
            except Exception:  # stopped meanwhile
                pass
        out.append({"id": rec.id, "name": rec.name, "image": row["Image"], "state": row["State"],
                    "status": row["Status"], "ports": row["Ports"], "command": row["Command"], **usage})
    return out


async def containers(request):
    return jsonr(await srv_of(request).read(_containers))


def _images() -> list[dict]:
    from pycr.plugins.api import layers

    return shapes.image_rows(layers.Store())


async def images(request):
    return jsonr(await srv_of(request).read(_images))


_ACTIONS = {"start": lambda ref: (ops.start, ref), "stop": lambda ref: (ops.stop, ref, 10.0),
            "restart": lambda ref: (ops.restart, ref, 10.0), "remove": lambda ref: (ops.remove, ref, True)}


async def act(request):
    action = request.match_info["action"]
    if action not in _ACTIONS:
        raise ApiError(404, f"no action {action!r}")
    from pycr.plugins.api.server import container_ref

    await srv_of(request).change(*_ACTIONS[action](container_ref(request)))
    return jsonr({"ok": True})


async def pull(request):
    from pycr.plugins.api import images as api_images

    from pycr.plugins.api.server import json_body

    body = await json_body(request)
    image = str(body.get("image") or "").strip() if isinstance(body, dict) else ""
    if not image:
        raise ApiError(400, "image: which image to pull?")
    srv = srv_of(request)
    name, digest = await srv.read(api_images._pull, srv.opts, image, None, None, None)
    return jsonr({"name": name, "digest": digest})


async def remove_image(request):
    srv = srv_of(request)
    return jsonr(await srv.change(ops.remove_image, request.match_info["name"], False))


async def logs(request):
    """The container's log over a websocket: what is there, then every new line as it is written."""
    from pycr.plugins.api import layers
    from pycr.plugins.api.server import container_ref

    srv = srv_of(request)
    rec = await srv.read(layers.manage.resolve, container_ref(request))
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    reader = logfiles.Reader(rec.log_path, fmt=rec.log_format)
    closing = asyncio.ensure_future(_closed(ws))
    try:
        entries = reader.read()[-500:]
        while not closing.done():
            for e in entries:
                await ws.send_json({"stream": e.get("stream"), "time": e.get("time"), "log": e.get("log", "")})
            await asyncio.wait([closing], timeout=0.25)
            entries = reader.read()
    finally:
        closing.cancel()
        reader.close()
        await ws.close()
    return ws


class _WsTerminal:
    """A websocket as the byte connection :func:`.execs.run_tty` talks to; text frames ``{"resize": [r, c]}``."""

    def __init__(self, ws, sess):
        self.ws, self.sess = ws, sess

    async def write(self, data: bytes) -> None:
        await self.ws.send_bytes(data)

    async def read(self) -> bytes:
        import json

        from pycr.plugins.api import execs

        async for msg in self.ws:
            if msg.type == WSMsgType.BINARY:
                if msg.data:
                    return msg.data
                continue
            if msg.type == WSMsgType.TEXT:
                try:
                    rows, cols = json.loads(msg.data)["resize"]
                    execs.set_window(self.sess, int(rows), int(cols))
                except (ValueError, KeyError, TypeError):
                    pass
                continue
            break
        return b""


async def terminal(request):
    """A shell in the container (``pycr exec -it CONTAINER sh``) over a websocket."""
    from pycr.plugins.api import execs
    from pycr.plugins.api.server import container_ref

    srv = srv_of(request)
    cid = await srv.read(execs._running, container_ref(request))
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    sess = execs.new_session(cid, ["sh"], tty=True, stdin=True)
    try:
        await execs.run_tty(sess, _WsTerminal(ws, sess))
    finally:
        await ws.close()
    return ws


async def _closed(ws) -> None:
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


def _bench_root(request) -> str:
    root = request.app["bench_dir"]
    if root is None:
        raise ApiError(404, "no bench results: start pycr serve with --bench-dir DIR")
    return root


async def bench(request):
    from pycr.plugins.api import bench_results

    root = request.app["bench_dir"]
    return jsonr({"dir": root, "results": await srv_of(request).read(bench_results.results, root) if root else []})


async def bench_plot(request):
    from pycr.plugins.api import bench_results

    data = await srv_of(request).read(bench_results.plot, _bench_root(request), request.match_info["result"],
                                      request.match_info["plot"])
    return web.Response(body=data, content_type="image/png")


def make_ui_app(srv, token: str, bench_dir: str | None = None) -> web.Application:
    app = web.Application(middlewares=[docker_errors, guard], client_max_size=1 << 20)
    app["srv"], app["token"], app["bench_dir"] = srv, token, bench_dir
    app.router.add_get("/", index)
    app.router.add_get("/{name:app\\.(?:js|css)}", asset)
    app.router.add_get("/ui/containers", containers)
    app.router.add_get("/ui/images", images)
    app.router.add_post("/ui/containers/{id}/{action}", act)
    app.router.add_get("/ui/containers/{id}/logs", logs)
    app.router.add_get("/ui/containers/{id}/terminal", terminal)
    app.router.add_post("/ui/images/pull", pull)
    app.router.add_post("/ui/images/{name:.+}/remove", remove_image)
    app.router.add_get("/ui/bench", bench)
    app.router.add_get("/ui/bench/{result}/{plot}", bench_plot)
    return app
