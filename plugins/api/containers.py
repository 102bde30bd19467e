"""``/containers/...``: create, start, stop, restart, kill, pause, unpause, wait, list, inspect, logs,
attach, top, stats, delete, prune -- each one call into the management layer."""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web

from pycr.plugins.api import ops, shapes
from pycr.plugins.api.errors import ApiError
from pycr.plugins.api.layers import logfiles
from pycr.plugins.api.server import (container_ref, json_body, jsonr, prepared, query_bool, query_filters,
                                     query_int, srv_of)
from pycr.plugins.api.streams import Hijacked, encode


def _resolve(ref: str):
    from pycr.plugins.api import layers

    return layers.manage.resolve(ref)


async def create(request):
    from pycr.plugins.api import create_request, privileges
    from pycr.plugins.api.images import registry_only

    srv = srv_of(request)
    body = await json_body(request)
    spec = create_request.parse(body, request.query.get("name") or None, srv.bind_roots)
    if not srv.allow_privileged:
        privileges.check(spec["ns"])
    registry_only("Image", spec["ns"]["image"])
    if request.query.get("platform"):
        spec["ns"]["platform"] = request.query["platform"]
    await srv.read(_image_exists, spec["ns"]["image"])  # docker does not pull on create: its client does
    out = await srv.change(ops.create, srv.opts, spec)
    await _observe(srv, out["Id"])
    return jsonr(out, status=201)


async def _observe(srv, ref: str) -> None:
    """Events for the API's own steps at once (see Events.observe)."""
    from pycr.plugins.api.events import _entry

    with contextlib.suppress(ApiError):
        rec = await srv.read(_resolve, ref)
        srv.events.observe(rec.id, await srv.read(_entry, rec))


def _image_exists(text: str) -> None:
    from pycr.plugins.api import layers

    name, img = layers.transports.find_image(layers.Store(), text)
    if img is None:
        raise ApiError(404, f"No such image: {text}")


async def start(request):
    srv = srv_of(request)
    if await srv.change(ops.start, container_ref(request)) == "not modified":
        return web.Response(status=304)
    await _observe(srv, container_ref(request))
    return web.Response(status=204)


async def stop(request):
    srv = srv_of(request)
    t = query_int(request, "t", 10)
    if await srv.change(ops.stop, container_ref(request), float(max(t, 0))) == "not modified":
        return web.Response(status=304)
    return web.Response(status=204)


async def restart(request):
    srv = srv_of(request)
    await srv.change(ops.restart, container_ref(request), float(max(query_int(request, "t", 10), 0)))
    return web.Response(status=204)


async def kill(request):
    srv = srv_of(request)
    await srv.change(ops.kill, container_ref(request), request.query.get("signal") or "KILL")
    return web.Response(status=204)


async def pause(request):
    await srv_of(request).change(ops.pause, container_ref(request))
    return web.Response(status=204)


async def unpause(request):
    await srv_of(request).change(ops.unpause, container_ref(request))
    return web.Response(status=204)


async def delete(request):
    srv = srv_of(request)
    if query_bool(request, "v"):
        pass  # anonymous volumes are private tmpfs mounts in pycr: they go with the container anyway
    if query_bool(request, "link"):
        raise ApiError(400, "link: pycr has no container links")
    await srv.change(ops.remove, container_ref(request), query_bool(request, "force"))
    return web.Response(status=204)


async def prune(request):
    srv = srv_of(request)
    filters = query_filters(request)
    if filters:
        raise ApiError(400, f"filters: pycr's container prune takes none (got {', '.join(filters)})")
    out = await srv.change(ops.prune_containers, srv.opts)
    return jsonr({"ContainersDeleted": out["ContainersDeleted"] or None,
                              "SpaceReclaimed": out["SpaceReclaimed"]})


def _list(all_: bool, filters: dict, limit: int | None) -> list[dict]:
    from pycr.plugins.api import layers

    out = []
    for rec in layers.records.all_records(layers.manage.store_root()):
        st = layers.manage.status(rec)
        if not all_ and not st["running"] and "status" not in filters:
            continue
        if shapes.matches(rec, st, filters):
            out.append(shapes.container_row(rec, st))
    return out[:limit] if limit and limit > 0 else out


async def list_(request):
    srv = srv_of(request)
    filters = query_filters(request)
    shapes.check_filters(filters)
    return jsonr(await srv.read(_list, query_bool(request, "all"), filters,
                                            query_int(request, "limit")))


async def inspect(request):
    srv = srv_of(request)
    ref = container_ref(request)
    return jsonr(await srv.read(lambda: shapes.container_inspect(_resolve(ref))))


async def wait(request):
    """Until the container is not running (``condition``: not-running, next-exit, removed)."""
    from pycr.plugins.api import layers

    srv = srv_of(request)
    ref = container_ref(request)
    cond = request.query.get("condition") or "not-running"
    if cond not in ("not-running", "next-exit", "removed"):
        raise ApiError(400, f"condition: {cond!r}: use not-running, next-exit or removed")
    rec = await srv.read(_resolve, ref)
    cid = rec.id
    first = rec.state.get("finished_at")
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await prepared(request, resp)  # docker's client waits for the headers before it starts the container
    code, error = None, None
    pause = 0.01  # a short container is seen soon (every 50 ms for 5 s); a long one is not polled hard
    loop = asyncio.get_running_loop()
    fast_until = loop.time() + 5
    while True:
        try:
            rec = await srv.read(_resolve, cid)
        except ApiError:  # removed
            code = srv.events.exit_codes.get(cid, code)
            break
        st = await srv.read(layers.manage.status, rec)
        if st["status"] in ("exited", "dead") or (st["status"] == "created" and cond == "not-running"):
            if st["status"] in ("exited", "dead"):
                await _observe(srv, cid)  # its die, before an AutoRemove takes it away
            code = st["exit_code"]
            error = st["error"] or None
            new_exit = rec.state.get("finished_at") != first or st["status"] == "dead"
            if cond == "not-running" or (cond == "next-exit" and new_exit):
                break
            if (rec.data.get("docker") or {}).get("AutoRemove") and st["status"] in ("exited", "dead"):
                srv.events.auto_remove(cid, code)
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 0.05 if loop.time() < fast_until else 0.25)
    out = {"StatusCode": 0 if code is None else code}
    out["Error"] = {"Message": error} if error else None
    await resp.write(json.dumps(out).encode() + b"\n")
    return resp


def _log_params(request) -> dict:
    tail = request.query.get("tail") or "all"
    if tail != "all":
        try:
            tail = int(tail)
        except ValueError:
            raise ApiError(400, f"tail: {tail!r} is not a number or 'all'") from None
    streams = {s for s in ("stdout", "stderr") if query_bool(request, s)}
    since = request.query.get("since")
    try:
        since = float(since) if since else 0.0
    except ValueError:
        raise ApiError(400, f"since: {since!r} is not a unix time") from None
    return {"tail": tail, "streams": streams, "since": since, "follow": query_bool(request, "follow"),
            "timestamps": query_bool(request, "timestamps"), "details": query_bool(request, "details")}


async def logs(request):
    from pycr.plugins.api import layers

    srv = srv_of(request)
    p = _log_params(request)
    if not p["streams"]:
        raise ApiError(400, "you must choose at least one stream (stdout, stderr)")
    rec = await srv.read(_resolve, container_ref(request))
    tty = bool(rec.data.get("tty"))
    resp = web.StreamResponse(headers={"Content-Type": "application/vnd.docker.raw-stream"})
    await prepared(request, resp)
    reader = logfiles.Reader(rec.log_path, fmt=rec.log_format)
    try:
        entries = reader.read()
        if p["tail"] != "all":
            entries = entries[-p["tail"]:] if p["tail"] > 0 else []
        await _send(resp, entries, p, tty)
        if p["follow"]:
            await _follow(srv, rec, reader, resp, p, tty, ("exited", "dead", "created"), 0.1)
    finally:
        reader.close()
    return resp


async def _follow(srv, rec, reader, out, p, tty, ended: tuple, interval: float) -> None:
    """Send new log entries until the container is in one of ``ended`` with its monitor gone (or removed)."""
    from pycr.plugins.api import layers

    while True:
        entries = reader.read()
        if entries:
            await _send(out, entries, p, tty)
            continue
        try:
            rec = await srv.read(_resolve, rec.id)
        except ApiError:
            return
        st = await srv.read(layers.manage.status, rec)
        if st["status"] in ended and not st["monitor"]:
            await _send(out, reader.read(), p, tty)
            return
        await asyncio.sleep(interval)


async def _send(resp, entries, p, tty) -> None:
    from pycr.plugins.api import layers

    out = []
    for e in entries:
        if e.get("stream", "stdout") not in p["streams"]:
            continue
        if p["since"] and (layers.manage.parse_time(e.get("time")) or 0) < p["since"]:
            continue
        out.append(encode(e, tty, p["timestamps"], p["details"]))
    if out:
        await resp.write(b"".join(out))


async def attach(request):
    """The container's output from now on (json.log, opened before it starts), over a hijacked connection."""
    from pycr.plugins.api import layers

    srv = srv_of(request)
    rec = await srv.read(_resolve, container_ref(request))
    tty = bool(rec.data.get("tty"))
    streams = {s for s in ("stdout", "stderr") if query_bool(request, s)}
    want_logs = query_bool(request, "logs")
    reader = logfiles.Reader(rec.log_path, fmt=rec.log_format, create=True, from_end=not want_logs)
    conn = await Hijacked.open(request, "application/vnd.docker.raw-stream")
    p = {"streams": streams, "since": 0, "timestamps": False, "details": False}
    drain = asyncio.ensure_future(_discard_input(conn))
    try:
        if want_logs:
            await _send(conn, reader.read(), p, tty)
        if query_bool(request, "stream", True):
            await _follow(srv, rec, reader, conn, p, tty, ("exited", "dead"), 0.05)
    finally:
        drain.cancel()
        reader.close()
        conn.close()
    return conn.resp


async def _discard_input(conn) -> None:
    """stdin of a managed container belongs to its monitor; what an attached client types is dropped."""
    while await conn.read():
        pass


def _top(ref: str, ps_args: list[str]) -> dict:
    from pycr.plugins.api import layers

    rec = _resolve(ref)
    layers.manage.need_running(rec, "list the processes of")
    text = layers.live.ps_table(layers.manage.runtime_opts(rec), rec.id, ps_args)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    titles = lines[0].split() if lines else []
    return {"Titles": titles, "Processes": [ln.split(None, max(len(titles) - 1, 0)) for ln in lines[1:]]}


async def top(request):
    import shlex

    srv = srv_of(request)
    try:
        args = shlex.split(request.query.get("ps_args") or "")
    except ValueError as e:
        raise ApiError(400, f"ps_args: {e}") from None
    for a in args:
        if not a.startswith("-") and not a.replace(",", "").isalnum():
            raise ApiError(400, f"ps_args: {a!r} is not a ps option")
    return jsonr(await srv.read(_top, container_ref(request), args))


def _stats_sample(rec) -> tuple:
    from pycr.plugins.api import layers

    try:
        data = layers.live.stats_event(layers.manage.runtime_opts(rec), rec.id)["data"]
    except Exception:  # not running (any more)
        data = {}
    return data, shapes.system_cpu_ns()


async def stats(request):
    import os

    from pycr.plugins.api import layers

    srv = srv_of(request)
    rec = await srv.read(_resolve, container_ref(request))
    stream = query_bool(request, "stream", True)
    one_shot = query_bool(request, "one-shot")
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await prepared(request, resp)
    ncpu = os.cpu_count() or 1
    prev, prev_sys = None, 0
    if not stream and not one_shot:  # docker's one sample still carries a "precpu" a second before it
        prev, prev_sys = await srv.read(_stats_sample, rec)
        await asyncio.sleep(1.0)
    while True:
        data, system = await srv.read(_stats_sample, rec)
        await resp.write(json.dumps(shapes.stats(rec, data, prev, system, prev_sys, ncpu)).encode() + b"\n")
        if not stream:
            break
        st = await srv.read(layers.manage.status, rec)
        if not st["running"]:
            break
        prev, prev_sys = data, system
        await asyncio.sleep(1.0)
    return resp


async def resize(request):
    h, w = query_int(request, "h", 0), query_int(request, "w", 0)
    if not (0 <= h < 65536 and 0 <= w < 65536):  # as an exec's resize
        raise ApiError(400, f"h, w: {h}x{w} is not a terminal size")
    return web.Response(status=200)  # a managed container's terminal is held by its monitor


def routes(r) -> None:
    r.add("POST", "/containers/create", create)
    r.add("GET", "/containers/json", list_)
    r.add("POST", "/containers/prune", prune)
    r.add("GET", "/containers/{id}/json", inspect)
    r.add("POST", "/containers/{id}/start", start)
    r.add("POST", "/containers/{id}/stop", stop)
    r.add("POST", "/containers/{id}/restart", restart)
    r.add("POST", "/containers/{id}/kill", kill)
    r.add("POST", "/containers/{id}/pause", pause)
    r.add("POST", "/containers/{id}/unpause", unpause)
    r.add("POST", "/containers/{id}/wait", wait)
    r.add("GET", "/containers/{id}/logs", logs)
    r.add("POST", "/containers/{id}/attach", attach)
    r.add("GET", "/containers/{id}/top", top)
    r.add("GET", "/containers/{id}/stats", stats)
    r.add("POST", "/containers/{id}/resize", resize)
    r.add("DELETE", "/containers/{id}", delete)
