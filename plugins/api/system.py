"""``/_ping``, ``/version``, ``/info``, ``/events``, ``/auth``."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time

from aiohttp import web

from pycr.plugins.api.errors import ApiError
from pycr.plugins.api.server import (API_VERSION, MIN_API_VERSION, json_body, jsonr, prepared, query_filters,
                                     srv_of)

_HEADERS = {"API-Version": API_VERSION, "Docker-Experimental": "false", "OSType": "linux",
            "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


def _pycr_version() -> str:
    from importlib.metadata import version

    return version("pycr")


async def ping(request):
    return web.Response(text="OK" if request.method != "HEAD" else None, headers=_HEADERS,
                        content_type="text/plain")


async def version(request):
    v = _pycr_version()
    uname = os.uname()
    body = {"Platform": {"Name": "pycr"},
            "Components": [{"Name": "Engine", "Version": v,
                            "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                        "Os": "linux", "Arch": _arch(), "KernelVersion": uname.release}}],
            "Version": v, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": "",
            "GoVersion": "python" + platform.python_version(), "Os": "linux", "Arch": _arch(),
            "KernelVersion": uname.release, "BuildTime": ""}
    return jsonr(body, headers=_HEADERS)


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def _counts() -> dict:
    from pycr.plugins.api import layers

    counts = {"running": 0, "paused": 0, "stopped": 0}
    recs = layers.records.all_records(layers.manage.store_root())
    for rec in recs:
        s = layers.manage.status(rec)["status"]
        counts["running" if s == "running" else "paused" if s == "paused" else "stopped"] += 1
    images = {rec["digest"] for rec in layers.Store().refs().values()}
    return {"containers": len(recs), **counts, "images": len(images), "root": layers.manage.store_root()}


async def info(request):
    srv = srv_of(request)
    c = await srv.read(_counts)
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    uname = os.uname()
    body = {"ID": "pycr", "Containers": c["containers"], "ContainersRunning": c["running"],
            "ContainersPaused": c["paused"], "ContainersStopped": c["stopped"], "Images": c["images"],
            "Driver": srv.opts.rootfs, "DriverStatus": [], "SystemStatus": None,
            "Plugins": {"Volume": [], "Network": [], "Authorization": None, "Log": ["json-file"]},
            "MemoryLimit": True, "SwapLimit": False, "KernelMemory": False, "CpuCfsPeriod": True, "CpuCfsQuota": True,
            "CPUShares": False, "CPUSet": False, "PidsLimit": True, "IPv4Forwarding": False,
            "BridgeNfIptables": False, "BridgeNfIp6tables": False, "Debug": False, "NFd": len(os.listdir("/proc/self/fd")),
            "OomKillDisable": False, "NGoroutines": len(asyncio.all_tasks()), "SystemTime": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if v2 else "1", "NEventsListener":
                len(srv.events.subscribers), "KernelVersion": uname.release, "OperatingSystem": _os_name(),
            "OSVersion": "", "OSType": "linux", "Architecture": platform.machine(), "IndexServerAddress":
                "https://index.docker.io/v1/", "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"],
                                                                 "IndexConfigs": {}, "Mirrors": []},
            "NCPU": os.cpu_count(), "MemTotal": mem, "GenericResources": None, "DockerRootDir": c["root"],
            "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": uname.nodename, "Labels": [],
            "ExperimentalBuild": False, "ServerVersion": _pycr_version(), "Runtimes": {"pycr": {"path": "pycr-oci"}},
            "DefaultRuntime": "pycr", "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                                                "ControlAvailable": False, "Error": "", "RemoteManagers": None},
            "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "", "ContainerdCommit": {"ID": "", "Expected": ""},
            "RuncCommit": {"ID": "", "Expected": ""}, "InitCommit": {"ID": "", "Expected": ""},
            "SecurityOptions": ["name=seccomp,profile=none"] if False else [], "Warnings": None}
    return jsonr(body)


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _event_matches(ev: dict, filters: dict) -> bool:
    for key, wanted in filters.items():  # lists of strings (query_filters reads docker's both shapes)
        actor = ev["Actor"]
        if key == "type":
            ok = ev["Type"] in wanted
        elif key == "event":
            ok = ev["Action"] in wanted
        elif key in ("container", "image"):
            ok = ev["Type"] == key and (actor["ID"] in wanted or actor["Attributes"].get("name") in wanted
                                        or any(actor["ID"].startswith(w) for w in wanted))
        elif key == "label":
            ok = all(actor["Attributes"].get(w.split("=", 1)[0]) == w.split("=", 1)[1] if "=" in w
                     else w in actor["Attributes"] for w in wanted)
        else:
            raise ApiError(400, f"filters: invalid filter {key!r} (pycr supports type, event, container, image, label)")
        if not ok:
            return False
    return True


def _time_arg(request, key: str) -> float | None:
    value = request.query.get(key)
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ApiError(400, f"query parameter {key}: {value!r} is not a unix time") from None


async def events(request):
    """Streamed JSON events until the client goes (or ``until``)."""
    srv = srv_of(request)
    filters = query_filters(request)
    since, until = _time_arg(request, "since"), _time_arg(request, "until")
    _event_matches({"Type": "", "Action": "", "Actor": {"ID": "", "Attributes": {}}}, {}) if filters else None
    for key in filters:
        if key not in ("type", "event", "container", "image", "label"):
            raise ApiError(400, f"filters: invalid filter {key!r} (pycr supports type, event, container, image, label)")
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await prepared(request, resp)
    queue: asyncio.Queue = asyncio.Queue()
    srv.events.subscribers.add(queue)
    try:
        if since is not None:
            for ev in list(srv.events.history):
                if ev["timeNano"] >= since * 1e9 and (until is None or ev["timeNano"] <= until * 1e9) \
                        and _event_matches(ev, filters):
                    await resp.write(json.dumps(ev).encode() + b"\n")
        while True:
            timeout = None if until is None else until - time.time()
            if timeout is not None and timeout <= 0:
                break
            try:
                ev = await asyncio.wait_for(queue.get(), timeout)
            except asyncio.TimeoutError:
                break
            if _event_matches(ev, filters):
                await resp.write(json.dumps(ev).encode() + b"\n")
    finally:
        srv.events.subscribers.discard(queue)
    return resp


async def auth(request):
    """Check credentials against the registry and keep them where ``pycr login`` does."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    user, password = body.get("username") or "", body.get("password") or ""
    server = body.get("serveraddress") or ""
    if not user or not password:
        raise ApiError(400, "username and password must not be empty")
    if not server or "index.docker.io" in server:
        raise ApiError(400, "serveraddress: name the registry to log in to")
    host = server.removeprefix("https://").removeprefix("http://").split("/")[0]
    srv = srv_of(request)
    await srv.change(_login, srv.opts, host, user, password)
    return jsonr({"Status": "Login Succeeded", "IdentityToken": ""})


def _login(opts, host, user, password):
    from pycr.plugins.api import layers
    from pycr.plugins.api.errors import ApiError as Err
    from pycr.core import PycrError

    src = layers.transports.source(opts, "docker")
    try:
        return src.login(host, user, password)
    except PycrError as e:
        raise Err(401, str(e)) from None


def routes(r) -> None:
    r.add("GET", "/_ping", ping)
    r.add("HEAD", "/_ping", ping)
    r.add("GET", "/version", version)
    r.add("GET", "/info", info)
    r.add("GET", "/events", events)
    r.add("POST", "/auth", auth)
