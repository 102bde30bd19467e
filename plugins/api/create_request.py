"""Docker's ``POST /containers/create`` body -> the options of ``pycr create``.

Every field pycr supports maps onto one ``pycr create`` option; a field it
does not support, when set to anything but docker's empty default, is
refused with a message naming it (docker's clients send most fields with
empty values, which are accepted).  Bind sources must lie under a
directory the server was started with (``--bind-root``): the socket lets
callers start containers, not read the host's files.  The check here gives
the caller a clear 403 at once; the roots also go into the container's
config (``io.pycr.bind-roots``), where the runtime checks again, on the
object it mounts, at every start.
"""

from __future__ import annotations

import json
import os
import re

from pycr.core import exposed_port_keys, is_under, steps
from pycr.plugins.api.errors import ApiError, bool_field, object_field, unsupported

INT64_MAX = 2**63 - 1  # docker's fields are Go int64s: a bigger number is refused by its decoder
_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
# Fields refused when set (empty/zero/false values are docker clients' defaults and pass).
_HOST_UNSUPPORTED = ("Links", "Dns", "DnsOptions", "DnsSearch",
                     "ExtraHosts", "VolumesFrom", "Devices", "DeviceRequests", "SecurityOpt", "Sysctls",
                     "CpuShares", "CpusetCpus", "CpusetMems", "BlkioWeight", "MemoryReservation", "MemorySwap",
                     "KernelMemory", "OomKillDisable", "UsernsMode", "PidMode", "IpcMode", "UTSMode", "Cgroup",
                     "CgroupParent", "GroupAdd", "Mounts", "Runtime", "StorageOpt",
                     "VolumeDriver", "Isolation", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpuCount",
                     "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth", "BlkioDeviceReadBps",
                     "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "BlkioWeightDevice",
                     "MemorySwappiness")
_CONFIG_UNSUPPORTED = ("Healthcheck", "Volumes", "OnBuild", "MacAddress", "Shell", "ArgsEscaped")


def _aliases(body: dict, mode: str) -> list[str]:
    """NetworkingConfig.EndpointsConfig -> --network-alias: one endpoint, on the NetworkMode network,
    with aliases only (a pycr container is on one network and gets its address from the pool)."""
    endpoints = object_field(object_field(body, "NetworkingConfig"), "EndpointsConfig", "NetworkingConfig.")
    aliases = []
    for net, ep in endpoints.items():
        where = f"NetworkingConfig.EndpointsConfig[{net!r}]"
        if net != mode:
            raise unsupported(where, f"a pycr container is on one network, its HostConfig.NetworkMode ({mode!r})")
        ep = object_field(endpoints, net, "NetworkingConfig.EndpointsConfig.")
        for key, value in ep.items():
            if key != "Aliases" and _set(value):
                raise unsupported(f"{where}.{key}")
        aliases += _list(ep, "Aliases", where + ".")
    return aliases


def _network(host: dict) -> tuple[str | None, list[str], bool]:
    """HostConfig.NetworkMode/PortBindings/PublishAllPorts -> pycr create's --network, -p, -P.

    ``default`` (what clients send) leaves the server's default (``PYCR_NETWORK``, else bridge);
    every other mode is handed to the network layer, which refuses unknown networks by name."""
    mode = host.get("NetworkMode") or ""
    if not isinstance(mode, str):
        raise ApiError(400, f"HostConfig.NetworkMode: expected a string, got {mode!r}")
    bindings = object_field(host, "PortBindings", "HostConfig.")
    publish = []
    for key, binds in bindings.items():
        port, _, proto = str(key).partition("/")
        if not isinstance(binds or [], list):
            raise ApiError(400, f"HostConfig.PortBindings[{key!r}]: expected a list of {{HostIp, HostPort}}")
        for b in binds or [{}]:
            if not isinstance(b, dict) or not all(isinstance(b.get(k) or "", str) for k in ("HostIp", "HostPort")):
                raise ApiError(400, f"HostConfig.PortBindings[{key!r}]: expected a list of {{HostIp, HostPort}} "
                                    "strings")
            ip, hport = b.get("HostIp") or "", b.get("HostPort") or ""
            if ":" in ip or ":" in hport:
                raise ApiError(400, f"HostConfig.PortBindings[{key!r}]: {ip or hport!r}: IPv4 addresses and single "
                                    "ports only")
            publish.append(":".join(x for x in (ip, hport) if ip or x) + f":{port}/{proto or 'tcp'}"
                           if ip or hport else f"{port}/{proto or 'tcp'}")
    return (None if mode in ("", "default") else mode), publish, bool_field(host, "PublishAllPorts", "HostConfig.")


def _set(value) -> bool:
    return value not in (None, "", 0, False, [], {})


def _list(body: dict, key: str, where: str) -> list[str]:
    value = body.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"{where}{key}: expected a list of strings")
    return value


def _int(body: dict, key: str, where: str) -> int:
    value = body.get(key) or 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= INT64_MAX:
        raise ApiError(400, f"{where}{key}: expected an integer from 0 to {INT64_MAX}, got {value!r:.60}")
    return value


def parse(body, name: str | None, bind_roots: list[str]) -> dict:
    """{"ns": pycr create options, "docker": what inspect shows back}, or ApiError naming the field."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object (docker's container config)")
    host = object_field(body, "HostConfig")
    flags = {key: bool_field(body, key) for key in ("AttachStdin", "AttachStdout", "AttachStderr", "OpenStdin",
                                               "StdinOnce", "Tty", "NetworkDisabled")}
    flags.update({key: bool_field(host, key, "HostConfig.") for key in ("Privileged", "ReadonlyRootfs", "AutoRemove",
                                                                   "Init", "PublishAllPorts")})
    object_field(body, "Volumes")
    expose = list(object_field(body, "ExposedPorts"))
    for key in expose:  # the rule of an image's keys: a container port, never a host address or port
        try:
            exposed_port_keys(str(key), ranges=False)
        except ValueError as e:
            raise ApiError(400, f"ExposedPorts: key {e}") from None
    for key in _HOST_UNSUPPORTED:
        if key == "MemorySwappiness" and host.get(key) in (None, -1):
            continue
        if _set(host.get(key)):
            raise unsupported(f"HostConfig.{key}")
    for key in _CONFIG_UNSUPPORTED:
        if _set(body.get(key)):
            raise unsupported(key)
    if flags["AttachStdin"]:
        raise unsupported("AttachStdin", "a managed container's stdin belongs to its monitor; run it detached "
                                         "(docker run -d -it) and use docker exec -it")
    log_opts = _log_config(host)
    network, publish, publish_all = _network(host)
    aliases = _aliases(body, network or "default")
    if name is not None and not _NAME.match(name):
        raise ApiError(400, f"name {name!r}: use letters, digits, '_', '.', '-' (starting with a letter or digit)")
    image = body.get("Image")
    if not isinstance(image, str) or not image:
        raise ApiError(400, "Image: the image to create the container from is missing")
    env = _list(body, "Env", "")
    for item in env:
        if "=" not in item or not item.split("=", 1)[0]:
            raise ApiError(400, f"Env: {item!r} is not KEY=VALUE")
    labels = object_field(body, "Labels")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise ApiError(400, "Labels: expected an object of strings")
    cmd = _list(body, "Cmd", "")
    entrypoint = body.get("Entrypoint")
    entry = None
    if entrypoint is not None:
        entrypoint = _list(body, "Entrypoint", "")
        entry = entrypoint[0] if entrypoint else ""
        cmd = entrypoint[1:] + cmd
    memory = _int(host, "Memory", "HostConfig.")
    nano = _int(host, "NanoCpus", "HostConfig.")
    quota, period = _int(host, "CpuQuota", "HostConfig."), _int(host, "CpuPeriod", "HostConfig.") or 100000
    if nano and quota:
        raise ApiError(400, "HostConfig.NanoCpus and HostConfig.CpuQuota: give one of them")
    cpus = str(nano / 1e9) if nano else str(quota / period) if quota else None
    pids = host.get("PidsLimit")
    if pids is not None and (not isinstance(pids, int) or isinstance(pids, bool) or abs(pids) > INT64_MAX):
        raise ApiError(400, f"HostConfig.PidsLimit: expected an integer, got {pids!r:.60}")
    policy = object_field(host, "RestartPolicy", "HostConfig.")
    pname = policy.get("Name") or "no"
    count = policy.get("MaximumRetryCount") or 0
    if pname not in ("no", "always", "unless-stopped", "on-failure"):
        raise ApiError(400, f"HostConfig.RestartPolicy.Name: {pname!r}: use no, always, unless-stopped or on-failure")
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= INT64_MAX:
        raise ApiError(400, f"HostConfig.RestartPolicy.MaximumRetryCount: {count!r} is not a count")
    restart = f"on-failure:{count}" if pname == "on-failure" and count else pname
    volumes = [_bind(b, bind_roots) for b in _list(host, "Binds", "HostConfig.")]
    cap_add, cap_drop = _list(host, "CapAdd", "HostConfig."), _list(host, "CapDrop", "HostConfig.")
    ulimits = []
    if not isinstance(host.get("Ulimits") or [], list):
        raise ApiError(400, "HostConfig.Ulimits: expected a list of {Name, Soft, Hard}")
    for u in host.get("Ulimits") or []:
        if not isinstance(u, dict) or not isinstance(u.get("Name"), str) or not all(
                isinstance(u.get(k), int) and not isinstance(u.get(k), bool) and abs(u[k]) <= INT64_MAX
                for k in ("Soft", "Hard")):
            raise ApiError(400, "HostConfig.Ulimits: expected a list of {Name, Soft, Hard}")
        ulimits.append(f"{u['Name']}={u['Soft']}:{u['Hard']}")
    shm = _int(host, "ShmSize", "HostConfig.")
    tmpfs = object_field(host, "Tmpfs", "HostConfig.")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in tmpfs.items()):
        raise ApiError(400, "HostConfig.Tmpfs: expected an object of mount point -> options")
    if body.get("StopTimeout") is not None and (not isinstance(body["StopTimeout"], int)
                                                 or isinstance(body["StopTimeout"], bool)):
        raise ApiError(400, f"StopTimeout: expected an integer, got {body['StopTimeout']!r:.60}")
    for key in ("User", "WorkingDir", "Hostname", "StopSignal"):
        if not isinstance(body.get(key) or "", str):
            raise ApiError(400, f"{key}: expected a string")
    if body.get("StopSignal"):
        from pycr.core import ConfigError, parse_signal

        try:
            parse_signal(body["StopSignal"])
        except ConfigError as e:
            raise ApiError(400, f"StopSignal: {e}") from None
    if body.get("WorkingDir") and not body["WorkingDir"].startswith("/"):
        raise ApiError(400, f"WorkingDir: {body['WorkingDir']!r} must be absolute")
    auto_remove = flags["AutoRemove"]
    if auto_remove and restart != "no":
        raise ApiError(400, "HostConfig.AutoRemove and HostConfig.RestartPolicy conflict: a removed container "
                            "cannot restart")
    # AutoRemove is carried out by the server (as docker's daemon does), so `wait` can report the exit code.
    ns = {"name": name.lstrip("/") if name else None, "rm": False, "restart": restart,
          "interactive": flags["OpenStdin"], "tty": flags["Tty"], "env": env, "env_file": [],
          "volume": volumes, "memory": str(memory) if memory else None, "cpus": cpus,
          "pids_limit": pids if pids and pids > 0 else None, "workdir": body.get("WorkingDir") or None,
          "user": body.get("User") or None, "hostname": body.get("Hostname") or None,
          "stop_signal": body.get("StopSignal") or None,
          "read_only": flags["ReadonlyRootfs"], "cap_add": cap_add, "cap_drop": cap_drop,
          "privileged": flags["Privileged"], "init": flags["Init"], "ulimit": ulimits,
          "shm_size": str(shm) if shm else None, "device": [], "security_opt": [],
          "tmpfs": [f"{k}:{v}" if v else k for k, v in tmpfs.items()], "entrypoint": entry, "platform": None,
          "insecure_registry": [], "quiet": True, "image": image, "command": cmd,
          "network": network, "publish": publish, "publish_all": publish_all, "network_alias": aliases,
          "expose": expose, "log_opt": [f"{k}={v}" for k, v in log_opts.items()],
          "label": labels,  # as it is: a key may hold "="
          # the runtime checks each bind again when it mounts it, on what it mounts (not only here, at create)
          "annotations": {steps.BIND_ROOTS_ANNOTATION: json.dumps(bind_roots)} if volumes else {}}
    docker = {"Labels": labels, "Env": env, "Entrypoint": entrypoint, "Cmd": body.get("Cmd"),
              "WorkingDir": body.get("WorkingDir") or "", "User": body.get("User") or "",
              "Hostname": body.get("Hostname") or "", "AutoRemove": auto_remove,
              "NetworkMode": network or "default", "Aliases": aliases,
              "PortBindings": host.get("PortBindings") or {}, "PublishAllPorts": publish_all,
              "AttachStdin": flags["AttachStdin"], "StdinOnce": flags["StdinOnce"],
              "Binds": _list(host, "Binds", "HostConfig."), "Memory": memory, "NanoCpus": nano, "CpuQuota": quota,
              "CpuPeriod": period if quota else 0, "PidsLimit": pids or 0,
              "ReadonlyRootfs": flags["ReadonlyRootfs"], "CapAdd": cap_add or None,
              "CapDrop": cap_drop or None, "Tmpfs": tmpfs or None,
              "Privileged": flags["Privileged"], "Init": flags["Init"] or None,
              "Ulimits": host.get("Ulimits") or None, "ShmSize": shm}
    return {"ns": ns, "docker": docker}


def _log_config(host: dict) -> dict:
    """HostConfig.LogConfig -> the json-file options (``logfiles.OPTIONS``: ``--log-opt``)."""
    from pycr.core import ConfigError
    from pycr.plugins.manage.logfiles import limits

    log = object_field(host, "LogConfig", "HostConfig.")
    if (log.get("Type") or "json-file") != "json-file":
        raise unsupported("HostConfig.LogConfig.Type", f"{log.get('Type')!r}: pycr logs with json-file only")
    config = object_field(log, "Config", "HostConfig.LogConfig.")
    try:
        limits(config, "HostConfig.LogConfig.Config.")
    except ConfigError as e:
        raise ApiError(400, str(e)) from None
    return config


def _bind(spec: str, roots: list[str]) -> str:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0].startswith("/"):
        raise ApiError(400, f"HostConfig.Binds: {spec!r}: expected /HOST/PATH:/CONTAINER/PATH[:ro|rw] "
                            "(named volumes need pycr volumes, which this pycr does not have)")
    src = os.path.realpath(parts[0])
    if not any(is_under(src, r) for r in roots):
        allowed = ", ".join(roots) or "none (start pycr serve with --bind-root DIR)"
        raise ApiError(403, f"HostConfig.Binds: {parts[0]} is outside the directories this server may bind "
                            f"from: {allowed}")
    return ":".join([src, *parts[1:]])
