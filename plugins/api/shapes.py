"""Docker's JSON shapes for containers and images, built from pycr's records and store.

Only data the layers already have; fields docker has and pycr has not are
present with docker's empty values so clients that read them do not fail.
"""

from __future__ import annotations

import time


def _epoch(stamp: str | None) -> int:
    from pycr.plugins.api import layers

    return int(layers.manage.parse_time(stamp) or 0)


def _docker(rec) -> dict:
    return rec.data.get("docker") or {}


def _status(rec) -> dict:
    from pycr.plugins.api import layers

    return layers.manage.status(rec)


def _state_name(st: dict) -> str:
    s = st["status"]
    return {"creating": "created", "starting": "created", "exiting": "running"}.get(s, s)


def container_row(rec, st: dict | None = None) -> dict:
    """One entry of ``GET /containers/json``."""
    import shlex

    from pycr.plugins.api import layers

    st = st or _status(rec)
    d = _docker(rec)
    net = network_settings(rec) if st["status"] == "running" else {"Ports": {}, "Networks": {}}
    return {"Id": rec.id, "Names": ["/" + rec.name], "Image": rec.data.get("image", ""),
            "ImageID": _image_id(rec), "Command": shlex.join(rec.data.get("command") or []),
            "Created": _epoch(rec.data.get("created")), "Ports": port_list(net["Ports"]),
            "Labels": d.get("Labels") or {},
            "State": _state_name(st), "Status": layers.manage.status_text(rec, st),
            "HostConfig": {"NetworkMode": d.get("NetworkMode", "default")},
            "NetworkSettings": {"Networks": net["Networks"]}, "Mounts": _mounts(rec)}


def network_settings(rec, got: dict | None = None) -> dict:
    """docker's ``NetworkSettings`` from what the network layer reports for the container
    (``pycr_network_report``, through the management layer's inspect)."""
    from pycr.plugins.api import layers

    got = got if got is not None else layers.network_settings(rec)
    found = got.get("Networks") or {}
    asked = rec.data.get("network") or {}
    if not found and asked.get("driver") == "bridge":  # not running: the network it is on, without addresses
        found = {asked["network"]: {"Aliases": asked.get("aliases") or []}}
    ids = {}
    if found:
        ids = {n["name"]: n["id"] for n in layers.networks().networks()}
    nets = {name: {"IPAMConfig": None, "Links": None, "NetworkID": ids.get(name, ""),
                   # docker adds the short id on user networks; compose checks it is there
                   "Aliases": (n.get("Aliases") or []) + [rec.id[:12]] if name != "bridge" else None,
                   "EndpointID": "", "Gateway": n.get("Gateway", ""), "IPAddress": n.get("IPAddress", ""),
                   "IPPrefixLen": n.get("IPPrefixLen", 0), "IPv6Gateway": "", "GlobalIPv6Address": "",
                   "GlobalIPv6PrefixLen": 0, "MacAddress": n.get("MacAddress", ""), "DriverOpts": None}
            for name, n in found.items()}
    first = next(iter(nets.values()), {})
    bridge = next(iter(found.values()), {}).get("Bridge", "")
    return {"Bridge": bridge, "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0, "Ports": got.get("Ports") or {}, "SandboxKey": "",
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "",
            "Gateway": first.get("Gateway", ""), "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": first.get("IPAddress", ""), "IPPrefixLen": first.get("IPPrefixLen", 0), "IPv6Gateway": "",
            "MacAddress": first.get("MacAddress", ""), "Networks": nets}


def port_list(ports: dict) -> list[dict]:
    """``containers/json``'s ``Ports``: one {IP, PrivatePort, PublicPort, Type} per binding."""
    out = []
    for key, binds in sorted(ports.items()):
        port, _, proto = key.partition("/")
        for b in binds or []:
            out.append({"IP": b["HostIp"], "PrivatePort": int(port), "PublicPort": int(b["HostPort"]), "Type": proto})
    return out


def _image_id(rec) -> str:
    from pycr.plugins.api import layers

    try:
        return layers.Store().image(rec.data["image_digest"]).id
    except Exception:  # the image was removed meanwhile: docker shows the id it had; we have the digest
        return rec.data.get("image_digest", "")


def _mounts(rec) -> list[dict]:
    out = []
    for b in _docker(rec).get("Binds") or []:
        parts = b.split(":")
        out.append({"Type": "bind", "Source": parts[0], "Destination": parts[1], "Mode": parts[2] if len(parts) > 2
                    else "", "RW": not (len(parts) > 2 and parts[2] == "ro"), "Propagation": "rprivate"})
    return out


CONTAINER_FILTERS = ("id", "name", "status", "label", "ancestor", "exited")
CONTAINER_STATES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")  # docker's


def check_filters(filters: dict) -> None:
    from pycr.plugins.api.errors import ApiError

    for key, value in filters.items():
        if key not in CONTAINER_FILTERS:
            raise ApiError(400, f"filters: invalid filter {key!r} (pycr supports {', '.join(CONTAINER_FILTERS)})")
        bad = [v for v in value if key == "status" and v not in CONTAINER_STATES]
        if bad:
            raise ApiError(400, f"filters: invalid status {bad[0]!r} (one of {', '.join(CONTAINER_STATES)})")


def labels_match(labels: dict, wanted: list[str]) -> bool:
    """docker's ``label`` filter: every ``KEY`` present, every ``KEY=VALUE`` equal."""
    return all(labels.get(w.split("=", 1)[0]) == w.split("=", 1)[1] if "=" in w else w in labels for w in wanted)


def matches(rec, st: dict, filters: dict) -> bool:
    """docker's ``filters`` for ``containers/json``: id, name, status, label, ancestor, exited."""
    for key, wanted in filters.items():  # lists of strings (query_filters reads docker's both shapes)
        if key == "id":
            ok = any(rec.id.startswith(w) for w in wanted)
        elif key == "name":
            ok = any(w.lstrip("/") in rec.name for w in wanted)
        elif key == "status":
            ok = _state_name(st) in wanted
        elif key == "label":
            ok = labels_match(_docker(rec).get("Labels") or {}, wanted)
        elif key == "ancestor":
            ok = any(w in (rec.data.get("image"), rec.data.get("image_digest")) or
                     rec.data.get("image", "").startswith(w + ":") for w in wanted)
        elif key == "exited":
            ok = st["status"] == "exited" and str(st["exit_code"]) in wanted
        else:
            ok = False
        if not ok:
            return False
    return True


def container_inspect(rec) -> dict:
    """``GET /containers/{id}/json``: docker's keys, from ``pycr inspect``'s description."""
    from pycr.plugins.api import layers

    base = layers.describe_container(rec)
    st = _status(rec)
    d = _docker(rec)
    state = dict(base["State"])
    state.update(Status=_state_name(st), OOMKilled=False, ExitCode=state["ExitCode"] or 0,
                 StartedAt=state["StartedAt"] or "0001-01-01T00:00:00Z",
                 FinishedAt=state["FinishedAt"] or "0001-01-01T00:00:00Z")
    policy = base["HostConfig"]["RestartPolicy"]
    cmd = rec.data.get("command") or []
    return {
        "Id": rec.id, "Created": base["Created"], "Path": base["Path"], "Args": base["Args"], "State": state,
        "Image": _image_id(rec), "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "",
        "LogPath": base["LogPath"], "Name": "/" + rec.name, "RestartCount": base["RestartCount"],
        "Driver": base["GraphDriver"]["Name"], "Platform": "linux", "MountLabel": "", "ProcessLabel": "",
        "AppArmorProfile": "", "ExecIDs": None,
        "HostConfig": {"Binds": d.get("Binds") or None, "NetworkMode": d.get("NetworkMode", "default"),
                       "PortBindings": d.get("PortBindings") or {},
                       "PublishAllPorts": d.get("PublishAllPorts", False), "RestartPolicy": policy, "AutoRemove": d.get("AutoRemove", base["HostConfig"]["AutoRemove"]),
                       "Memory": d.get("Memory", 0), "NanoCpus": d.get("NanoCpus", 0),
                       "CpuQuota": d.get("CpuQuota", 0), "CpuPeriod": d.get("CpuPeriod", 0),
                       "PidsLimit": d.get("PidsLimit") or None, "ReadonlyRootfs": d.get("ReadonlyRootfs", False),
                       "LogConfig": base["HostConfig"]["LogConfig"], "Privileged": d.get("Privileged", False),
                       "Init": d.get("Init"), "Ulimits": d.get("Ulimits"), "ShmSize": d.get("ShmSize", 0),
                       "CapAdd": d.get("CapAdd"), "CapDrop": d.get("CapDrop"), "Tmpfs": d.get("Tmpfs")},
        "GraphDriver": base["GraphDriver"], "Mounts": _mounts(rec),
        "Config": {"Hostname": d.get("Hostname") or rec.id[:12], "Domainname": "", "User": d.get("User", ""),
                   "AttachStdin": d.get("AttachStdin", False), "AttachStdout": True, "AttachStderr": True,
                   "Tty": bool(rec.data.get("tty")), "OpenStdin": bool(rec.data.get("interactive")),
                   "StdinOnce": d.get("StdinOnce", False), "Env": d.get("Env") or [],
                   "Cmd": d.get("Cmd") if d else cmd, "Image": rec.data.get("image"),
                   "Volumes": None, "WorkingDir": d.get("WorkingDir", ""), "Entrypoint": d.get("Entrypoint"),
                   "OnBuild": None, "Labels": d.get("Labels") or {},
                   "ExposedPorts": base["Config"]["ExposedPorts"],
                   "StopSignal": rec.data.get("stop_signal", "SIGTERM")},
        "NetworkSettings": network_settings(rec, base["NetworkSettings"]),
    }


def image_rows(store) -> list[dict]:
    """``GET /images/json``: one entry per image, with every name it has."""
    from pycr.plugins.api import layers

    by_id: dict[str, dict] = {}
    for r in layers.image_rows(store):
        row = by_id.setdefault(r["id"], {"Id": r["id"], "ParentId": "", "RepoTags": [], "RepoDigests": [],
                                         "Created": _epoch(r["created"]), "Size": r["size"],
                                         "VirtualSize": r["size"], "SharedSize": -1, "Labels": {}, "Containers": -1})
        name = layers.reference.short_name(r["name"])
        if "@" in r["name"]:
            row["RepoDigests"].append(name)
        else:
            row["RepoTags"].append(name)
            row["RepoDigests"].append(f"{layers.reference.short_name(r['repository'])}@{r['digest']}")
    return sorted(by_id.values(), key=lambda x: -x["Created"])


def image_inspect(store, text: str) -> dict:
    from pycr.plugins.api import layers

    _, img = layers.find_image(store, text)
    names = sorted(layers.reference.short_name(n) for n, rec in store.refs().items() if rec["digest"] == img.digest)
    cfg = img.config.get("config") or {}
    return {"Id": img.id, "RepoTags": [n for n in names if "@" not in n],
            "RepoDigests": [n.rsplit(":", 1)[0] + "@" + img.digest for n in names if "@" not in n],
            "Parent": "", "Comment": "", "Created": img.config.get("created") or "1970-01-01T00:00:00Z",
            "Container": "", "ContainerConfig": {}, "DockerVersion": "", "Author": img.config.get("author", ""),
            "Config": {"Env": cfg.get("Env"), "Cmd": cfg.get("Cmd"), "Entrypoint": cfg.get("Entrypoint"),
                       "WorkingDir": cfg.get("WorkingDir", ""), "User": cfg.get("User", ""),
                       "Labels": cfg.get("Labels"), "Volumes": cfg.get("Volumes"),
                       "ExposedPorts": cfg.get("ExposedPorts")},
            "Architecture": img.config.get("architecture"), "Variant": img.config.get("variant"),
            "Os": img.config.get("os"), "Size": img.size, "VirtualSize": img.size,
            "GraphDriver": {"Name": "pycr", "Data": {}},
            "RootFS": {"Type": "layers", "Layers": (img.config.get("rootfs") or {}).get("diff_ids", [])},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"}}


def image_history(store, text: str) -> list[dict]:
    from pycr.plugins.api import layers

    name, img = layers.find_image(store, text)
    layers_left = list(img.layers)
    out = []
    for h in img.config.get("history") or []:
        size = 0
        if not h.get("empty_layer") and layers_left:
            size = layers_left.pop(0).get("size", 0)
        out.append({"Id": "<missing>", "Created": _epoch(h.get("created")), "CreatedBy": h.get("created_by", ""),
                    "Tags": None, "Size": size, "Comment": h.get("comment", "")})
    out.reverse()
    if out:
        out[0].update(Id=img.id, Tags=[layers.reference.short_name(name)] if name else None)
    return out or [{"Id": img.id, "Created": 0, "CreatedBy": "", "Tags": None, "Size": img.size, "Comment": ""}]


def stats(rec, data: dict, prev: dict | None, system_ns: int, prev_system: int, ncpu: int) -> dict:
    """One ``GET /containers/{id}/stats`` sample from the cgroup backend's stats (runc's event shape)."""
    def cpu(d, system):
        usage = (d.get("cpu") or {}).get("usage") or {}
        return {"cpu_usage": {"total_usage": usage.get("total", 0), "usage_in_kernelmode": usage.get("kernel", 0),
                              "usage_in_usermode": usage.get("user", 0)},
                "system_cpu_usage": system, "online_cpus": ncpu,
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}

    mem = (data.get("memory") or {}).get("usage") or {}
    limit = mem.get("limit") or 0
    if not limit or limit >= 1 << 60:
        limit = _mem_total()
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
    return {"read": now, "preread": now if prev is not None else "0001-01-01T00:00:00Z",
            "id": rec.id, "name": "/" + rec.name,
            "pids_stats": {"current": (data.get("pids") or {}).get("current", 0)},
            "cpu_stats": cpu(data, system_ns),
            "precpu_stats": cpu(prev, prev_system) if prev is not None else {"cpu_usage": {"total_usage": 0},
                                                                            "throttling_data": {}},
            "memory_stats": {"usage": mem.get("usage", 0), "max_usage": mem.get("max", 0), "limit": limit,
                             "stats": {}},
            "blkio_stats": {"io_service_bytes_recursive": None}, "networks": {}, "num_procs": 0,
            "storage_stats": {}}


def _mem_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def system_cpu_ns() -> int:
    """Host CPU time in ns (docker's ``system_cpu_usage``: the ``cpu`` line of /proc/stat)."""
    import os

    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
