"""``POST /build`` (docker's classic builder protocol): the tar context in, ``pycr build``'s output streamed.

The build layer does the work: the server unpacks the uploaded context into
a private directory in the store with pycr's own unpacker (the one for image
layers, ``context`` mode: every name resolved from the directory's fd, never
through a symlink; no absolute names, no ``..``, no absolute symlinks, no
devices; never tarfile's extraction, see docs/security.md) and runs ``pycr build``
on it as a child, turning its output into docker's ``{"stream": ...}``
messages and its result into ``{"aux": {"ID": ...}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile

from aiohttp import web

from pycr.plugins.api.errors import ApiError
from pycr.plugins.api.images import registry_only
from pycr.plugins.api.server import prepared, query_bool, srv_of

_REFUSED = ("remote", "cpusetcpus", "cpusetmems", "cpushares", "cpuquota", "cpuperiod", "memory", "memswap",
            "shmsize", "squash", "extrahosts", "networkmode", "outputs", "isolation", "cachefrom")
_MAX_DOCKERFILE = 4 << 20


def _argv(request, context: str) -> list[str]:
    from pycr.plugins.api.execs import _pycr

    q = request.query
    for key in _REFUSED:
        if q.get(key) not in (None, "", "0", "false", "[]", "{}", "null", "default"):
            raise ApiError(400, f"{key}: pycr build does not support it")
    srv = srv_of(request)
    argv = [_pycr(), "--root", srv.opts.root, "build", "--registry-only"]
    if not srv.allow_privileged:  # ADD URL runs in the server's network namespace: not its loopback (urls.py)
        argv.append("--no-local-urls")
    for tag in q.getall("t", []):
        registry_only("t", tag)
        argv += ["-t", tag]
    name = q.get("dockerfile") or "Dockerfile"
    if os.path.isabs(name) or ".." in name.split("/"):
        raise ApiError(400, f"dockerfile: {name!r} must be a path inside the build context")
    argv += ["-f", "-"]  # the server reads it inside the context (:func:`_dockerfile`) and pipes it in
    for key, flag in (("buildargs", "--build-arg"), ("labels", "--label")):
        try:
            pairs = json.loads(q.get(key) or "{}") or {}
        except ValueError:
            raise ApiError(400, f"{key}: not a JSON object") from None
        if not isinstance(pairs, dict):
            raise ApiError(400, f"{key}: not a JSON object")
        for k, v in pairs.items():
            if v is not None:
                argv += [flag, f"{k}={v}"]
    if q.get("target"):
        argv += ["--target", q["target"]]
    if q.get("platform"):
        argv += ["--platform", q["platform"]]
    if query_bool(request, "nocache"):
        argv.append("--no-cache")
    if query_bool(request, "pull"):
        argv.append("--pull")
    return argv + ["--progress", "plain", context]


def _unpack(src: str, dest: str) -> None:
    from pycr.plugins.api import layers

    try:
        with open(src, "rb") as f:
            layers.unpack_layer(f, dest, mode="context", devices="refuse", layer_name="context")
    except layers.UnpackError as e:
        raise ApiError(400, f"the build context is not a usable tar archive: {e}") from None


def _dockerfile(context: str, name: str) -> bytes:
    """The Dockerfile ``name`` of an uploaded context, its symlinks resolved inside the context
    (``openat2`` RESOLVE_IN_ROOT): a link planted as ``Dockerfile -> ../../etc/shadow`` reads nothing
    of the host."""
    from pycr.core import open_in_root

    try:
        fd = open_in_root(context, name, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ApiError(400, f"dockerfile: cannot read {name} in the build context: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        data = f.read(_MAX_DOCKERFILE + 1)
    if len(data) > _MAX_DOCKERFILE:
        raise ApiError(400, f"dockerfile: {name} is larger than {_MAX_DOCKERFILE} bytes")
    return data


async def build(request):
    from pycr.plugins.api import layers

    srv = srv_of(request)
    work = tempfile.mkdtemp(prefix="pycr-api-build-", dir=os.path.join(layers.Store().root, "tmp"))
    try:
        context = os.path.join(work, "context")
        argv = _argv(request, context)
        upload = os.path.join(work, "context.tar")
        loop = asyncio.get_running_loop()
        with open(upload, "wb") as f:
            async for chunk in request.content.iter_chunked(1 << 20):
                await loop.run_in_executor(srv.threads, f.write, chunk)
        os.mkdir(context, 0o700)
        await srv.read(_unpack, upload, context)
        os.unlink(upload)
        dockerfile = await srv.read(_dockerfile, context, request.query.get("dockerfile") or "Dockerfile")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await prepared(request, resp)
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        proc.stdin.write(dockerfile)
        proc.stdin.close()
        last_out, last_err = [], []

        async def relay(stream, keep):
            while line := await stream.readline():
                text = line.decode(errors="replace")
                keep[:] = keep[-4:] + [text.strip()]
                await resp.write(json.dumps({"stream": text}).encode() + b"\r\n")

        try:
            await asyncio.gather(relay(proc.stdout, last_out), relay(proc.stderr, last_err))
            code = await proc.wait()
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if code != 0:
            msg = next((m for m in reversed(last_err) if m), f"pycr build exited with {code}")
            await resp.write(json.dumps({"errorDetail": {"message": msg}, "error": msg}).encode() + b"\r\n")
            return resp
        image_id = next((m for m in reversed(last_out) if m.startswith("sha256:")), "")
        done = [{"aux": {"ID": image_id}}, {"stream": f"Successfully built {image_id[7:19]}\n"}]
        done += [{"stream": f"Successfully tagged {t}\n"} for t in request.query.getall("t", [])]
        for msg in done:
            await resp.write(json.dumps(msg).encode() + b"\r\n")
        srv.events.publish("image", "build", image_id, {"name": ",".join(request.query.getall("t", []))})
        return resp
    finally:
        await asyncio.get_running_loop().run_in_executor(srv.threads, shutil.rmtree, work, True)


def routes(r) -> None:
    r.add("POST", "/build", build)
