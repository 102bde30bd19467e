"""``/images/...``: list, pull (``create``) with docker's progress stream, push, tag, inspect, history,
delete, prune, load, get -- through the image layer's store and transports."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import tempfile

from aiohttp import web

from pycr.plugins.api import ops, shapes
from pycr.plugins.api.errors import ApiError
from pycr.plugins.api.server import jsonr, prepared, query_bool, query_filters, srv_of

_TAG_OR_DIGEST = re.compile(r"^([\w][\w.-]{0,127}|sha256:[0-9a-f]{64})$")


def _store():
    from pycr.plugins.api import layers

    return layers.Store()


def registry_only(field: str, text: str):
    """``text`` if it is a registry reference, else a 400 naming ``field``: a caller of the socket gets
    registries, never a transport (``oci:``, ``docker-archive:``...) that would read the host's files."""
    from pycr.core import ConfigError
    from pycr.plugins.api import layers

    try:
        return layers.transports.registry_reference(text)
    except ConfigError as e:
        raise ApiError(400, f"{field}: {e}") from None


def _name(request) -> str:
    name = request.match_info["name"]
    if not name or len(name) > 512 or any(c.isspace() for c in name) or ".." in name.split("/"):
        raise ApiError(400, f"image name {name[:80]!r} is not valid")
    return name


async def list_(request):
    srv = srv_of(request)
    filters = query_filters(request)
    for key in filters:
        if key not in ("reference", "dangling"):
            raise ApiError(400, f"filters: invalid filter {key!r} (pycr supports reference, dangling)")
    dangling = filters.get("dangling") or []  # query_filters gives lists of strings, whichever shape was sent
    if any(d not in ("true", "false", "1", "0") for d in dangling) or len(set(dangling)) > 1:
        raise ApiError(400, f"filters: dangling={','.join(dangling)}: expected true or false")
    rows = await srv.read(lambda: shapes.image_rows(_store()))
    if dangling:  # an image no name points to (every stored image has one, unless its tag moved on)
        rows = [r for r in rows if (not r["RepoTags"]) == (dangling[0] in ("true", "1"))]
    refs = filters.get("reference") or []
    if refs:
        import fnmatch

        rows = [r for r in rows if any(fnmatch.fnmatch(t, p) or fnmatch.fnmatch(t.rsplit(":", 1)[0], p)
                                       for t in r["RepoTags"] for p in refs)]
    return jsonr(rows)


async def inspect(request):
    srv = srv_of(request)
    name = _name(request)
    return jsonr(await srv.read(lambda: shapes.image_inspect(_store(), name)))


async def history(request):
    srv = srv_of(request)
    name = _name(request)
    return jsonr(await srv.read(lambda: shapes.image_history(_store(), name)))


async def tag(request):
    srv = srv_of(request)
    repo, tag_ = request.query.get("repo"), request.query.get("tag") or "latest"
    if not repo:
        raise ApiError(400, "repo: the new name is missing")
    registry_only("repo", f"{repo}:{tag_}")
    await srv.change(ops.tag, _name(request), f"{repo}:{tag_}")
    srv.events.publish("image", "tag", _name(request), {"name": f"{repo}:{tag_}"})
    return web.Response(status=201)


async def delete(request):
    srv = srv_of(request)
    name = _name(request)
    out = await srv.change(ops.remove_image, name, query_bool(request, "force"))
    for item in out:
        srv.events.publish("image", "untag" if "Untagged" in item else "delete",
                           item.get("Untagged") or item.get("Deleted"), {"name": name})
    return jsonr(out)


async def prune(request):
    srv = srv_of(request)
    filters = query_filters(request)
    for key in filters:
        if key != "dangling":
            raise ApiError(400, f"filters: pycr's image prune takes only dangling (got {key!r})")
    return jsonr(await srv.change(ops.prune_images))


def _credentials(request) -> dict | None:
    """docker's ``X-Registry-Auth``: base64url JSON {username, password, serveraddress} (or empty)."""
    raw = request.headers.get("X-Registry-Auth")
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        raise ApiError(400, "X-Registry-Auth: not base64-encoded JSON") from None
    if not isinstance(data, dict) or not data.get("username"):
        return None
    return {"username": str(data["username"]), "password": str(data.get("password") or "")}


class _Progress:
    """The image layer's progress interface, turned into docker's JSON progress messages."""

    def __init__(self, loop, queue: asyncio.Queue):
        self.loop, self.queue = loop, queue
        self.totals: dict[str, int | None] = {}
        self.done_bytes: dict[str, int] = {}

    def _put(self, msg: dict) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, msg)

    @staticmethod
    def _id(key: str) -> str:
        return key.split(":")[-1][:12]

    def start(self, key, label, total) -> None:
        self.totals[key], self.done_bytes[key] = total, 0
        self._put({"status": "Pulling fs layer", "progressDetail": {}, "id": self._id(key)})

    def advance(self, key, n) -> None:
        self.done_bytes[key] = self.done_bytes.get(key, 0) + n
        self._put({"status": "Downloading", "progressDetail": {"current": self.done_bytes[key],
                                                               "total": self.totals.get(key) or 0},
                   "id": self._id(key)})

    def done(self, key, status="done") -> None:
        self._put({"status": "Pull complete" if status == "done" else status.capitalize(), "progressDetail": {},
                   "id": self._id(key)})


def _pull(opts, spec: str, platform: str | None, credentials, progress):
    from pycr.plugins.api import layers

    registry_only("image", spec)
    kw = {"platform": platform, "quiet": True, "progress": progress}
    if credentials:
        kw["credentials"] = credentials
    name, image = layers.transports.pull(opts, layers.Store(), "docker://" + spec, **kw)
    return name, image.digest


def _push(opts, text: str, credentials, progress):
    from pycr.plugins.api import layers

    store = layers.Store()
    name, image = layers.find_image(store, text)
    kw = {"quiet": True, "progress": progress}
    if credentials:
        kw["credentials"] = credentials
    src = layers.transports.source(opts, "docker", **kw)
    return src.push(store, image, text), image.size


async def _stream_job(request, fn, args, first: list[dict], last) -> web.StreamResponse:
    """Run ``fn(*args, progress)`` in a thread, streaming its progress; errors as docker's errorDetail."""
    srv = srv_of(request)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await prepared(request, resp)
    for msg in first:
        await resp.write(json.dumps(msg).encode() + b"\r\n")
    job = loop.run_in_executor(srv.threads, ops.guarded, fn, *args, _Progress(loop, queue))
    while True:
        getter = asyncio.ensure_future(queue.get())
        await asyncio.wait([getter, job], return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            await resp.write(json.dumps(getter.result()).encode() + b"\r\n")
            continue
        getter.cancel()
        break
    while not queue.empty():
        await resp.write(json.dumps(queue.get_nowait()).encode() + b"\r\n")
    out = job.result()
    if out[0] == "error":
        await resp.write(json.dumps({"errorDetail": {"message": out[2]}, "error": out[2]}).encode() + b"\r\n")
    else:
        for msg in last(out[1]):
            await resp.write(json.dumps(msg).encode() + b"\r\n")
    return resp


async def create(request):
    """``docker pull``: ``fromImage`` (+ ``tag``), progress streamed; ``fromSrc`` (import) is refused."""
    from pycr.plugins.api import layers

    srv = srv_of(request)
    if request.query.get("fromSrc"):
        raise ApiError(400, "fromSrc: importing a rootfs through the API is not supported (use pycr import)")
    image = request.query.get("fromImage")
    if not image:
        raise ApiError(400, "fromImage: the image to pull is missing")
    from pycr.core import ConfigError
    from pycr.plugins.images.media import check_platform

    try:  # before the 200 of the progress stream: a bad value is the request's error
        check_platform(request.query.get("platform"), "platform")
    except ConfigError as e:
        raise ApiError(400, str(e)) from None
    tag_ = request.query.get("tag") or ""
    if tag_ and not _TAG_OR_DIGEST.match(tag_):
        raise ApiError(400, f"tag: {tag_!r} is not a tag or a digest (sha256:...)")
    spec = f"{image}@{tag_}" if tag_.startswith("sha256:") else f"{image}:{tag_}" if tag_ else image
    ref = registry_only("fromImage", spec)
    if ref.digest is None and not tag_ and ":" not in image.rsplit("/", 1)[-1]:
        spec = f"{image}:latest"
    first = [{"status": f"Pulling from {layers.reference.short_name(ref.repository)}",
              "id": tag_ or (ref.tag or "latest")}]

    def last(result):
        name, digest = result
        srv.events.publish("image", "pull", layers.reference.short_name(name or spec), {"name": name or spec})
        return [{"status": f"Digest: {digest}"},
                {"status": f"Status: Downloaded newer image for {layers.reference.short_name(name or spec)}"}]

    return await _stream_job(request, _pull, (srv.opts, spec, request.query.get("platform") or None,
                                              _credentials(request)), first, last)


async def push(request):
    from pycr.plugins.api import layers

    srv = srv_of(request)
    name = _name(request)
    tag_ = request.query.get("tag")
    text = f"{name}:{tag_}" if tag_ else name
    registry_only("name", text)
    await srv.read(layers.find_image, _store(), text)
    repo = text.rsplit(":", 1)[0] if ":" in text.rsplit("/", 1)[-1] else text
    first = [{"status": f"The push refers to repository [{repo}]"}]

    def last(result):
        digest, size = result
        t = tag_ or (text.rsplit(":", 1)[1] if ":" in text.rsplit("/", 1)[-1] else "latest")
        srv.events.publish("image", "push", text, {"name": text})
        return [{"status": f"{t}: digest: {digest} size: {size}"},
                {"progressDetail": {}, "aux": {"Tag": t, "Digest": digest, "Size": size}}]

    return await _stream_job(request, _push, (srv.opts, text, _credentials(request)), first, last)


async def load(request):
    """``docker load``: the body is a docker-archive (or OCI archive) tarball."""
    srv = srv_of(request)
    fd, path = tempfile.mkstemp(prefix="pycr-api-load-", suffix=".tar", dir=_tmpdir())
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.content.iter_chunked(1 << 20):
                await asyncio.get_running_loop().run_in_executor(srv.threads, f.write, chunk)
        name = await srv.change(ops.load, srv.opts, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    srv.events.publish("image", "load", name, {"name": name})
    from pycr.plugins.api import layers

    text = f"Loaded image: {layers.reference.short_name(name)}\n" if not name.startswith("sha256:") else \
        f"Loaded image ID: {name}\n"
    if query_bool(request, "quiet"):
        return jsonr({"stream": text})
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await prepared(request, resp)
    await resp.write(json.dumps({"stream": text}).encode() + b"\r\n")
    return resp


def _tmpdir() -> str:
    from pycr.plugins.api import layers

    path = os.path.join(layers.Store().root, "tmp")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


async def get(request):
    """``docker save``: one image as a docker-archive tarball."""
    srv = srv_of(request)
    names = request.query.getall("names", []) if "name" not in request.match_info else [_name(request)]
    if not names:
        raise ApiError(400, "names: which image to save is missing")
    fd, path = tempfile.mkstemp(prefix="pycr-api-save-", suffix=".tar", dir=_tmpdir())
    os.close(fd)
    try:
        await srv.change(ops.save, srv.opts, names, path)
        resp = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
        await prepared(request, resp)
        with open(path, "rb") as f:
            while chunk := await asyncio.get_running_loop().run_in_executor(srv.threads, f.read, 1 << 20):
                await resp.write(chunk)
        return resp
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def routes(r) -> None:
    r.add("GET", "/images/json", list_)
    r.add("POST", "/images/create", create)
    r.add("POST", "/images/load", load)
    r.add("GET", "/images/get", get)
    r.add("POST", "/images/prune", prune)
    r.add("GET", "/images/{name:.+}/json", inspect)
    r.add("GET", "/images/{name:.+}/history", history)
    r.add("GET", "/images/{name:.+}/get", get)
    r.add("POST", "/images/{name:.+}/tag", tag)
    r.add("POST", "/images/{name:.+}/push", push)
    r.add("DELETE", "/images/{name:.+}", delete)
