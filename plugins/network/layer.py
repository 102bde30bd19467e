"""The network layer: configure (at config build), setup (between create and start),
teardown (on delete), report (for inspect and ``pycr port``).

Setup and teardown hold the state lock for the whole change, reclaim leases
of containers that died unnoticed, and end by re-syncing what is derived
from the leases: the nftables table (skipped when the rendering is the one
applied last) and the hosts files of the networks that changed.  Bridges
stay when their last container leaves, as docker0 does (made again in ~ms is
cheap, but deleting one waits for the kernel's RCU grace periods); they go
with ``pycr network rm`` / ``prune``.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat

from pycr.core import ConfigError

from pycr.plugins.network import ANNOTATION


def net_root(store_root: str) -> str:
    return os.path.join(store_root, "network")


def _driver(name: str):
    from pycr.core import get_manager

    return get_manager().driver("network", name)()


def configure(config: dict, request: dict) -> dict:
    """Validate ``request`` (from ``pycr run/create``) and edit ``config`` for it; returns the
    request as saved in the config's annotation.  Bad values fail here, before anything runs."""
    from pycr.plugins.network import drivers, etcfiles, ports
    from pycr.plugins.network.state import NetState

    value = request.get("network") or os.environ.get("PYCR_NETWORK") or "bridge"
    name, fields = drivers.driver_for(value)
    root = net_root(request["store"])
    req = {"driver": name, "network_mode": value, "state": root, "name": request["name"],
           "hostname": config.get("hostname") or request["name"], **fields}
    if name == "bridge" and NetState(root).network(fields["network"]) is None:
        raise ConfigError(f"--network {value}: no such network (pycr network ls lists them)")
    published = [ports.parse(p) for p in request.get("publish") or []]
    if request.get("publish_all"):
        published += ports.exposed(request.get("image_config") or {})
    drv = _driver(name)
    if published and not drv.publishes:
        raise ConfigError(f"-p/-P: --network {value} has no address of its own to publish ports on")
    req["ports"] = [p if p["host_port"] else ports.claim(p) for p in published]  # picked once: kept on restart
    req["aliases"] = _aliases(request.get("aliases") or [], name, value)
    drv.configure(config, req)
    files = {"hosts": os.path.join(request["dir"], "hosts"), "resolv": os.path.join(request["dir"], "resolv.conf")}
    etcfiles.rewrite(files["resolv"], req.pop("resolv", None) or etcfiles.resolv_conf())
    etcfiles.rewrite(files["hosts"], req.pop("hosts", None) or etcfiles.hosts([], []))
    req["files"] = files
    _save_request(request["dir"], req)
    config["mounts"] = [m for m in config.get("mounts", []) if m.get("destination") not in ("/etc/hosts",
                                                                                            "/etc/resolv.conf")]
    for dest, src in (("/etc/hosts", files["hosts"]), ("/etc/resolv.conf", files["resolv"])):
        config["mounts"].append({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rw"]})
    config.setdefault("annotations", {})[ANNOTATION] = os.path.abspath(request["dir"])
    return req


REQUEST_FILE = "network.json"
_ALIAS = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"


def _aliases(aliases: list[str], driver: str, value: str) -> list[str]:
    """``--network-alias``: more names the container's peers find it by (in their hosts files),
    on a network made with ``pycr network create`` only, as docker allows them."""
    import re

    for a in aliases:
        if not isinstance(a, str) or not re.fullmatch(_ALIAS, a):
            raise ConfigError(f"--network-alias {a!r}: use letters, digits, '_', '.', '-' (at most 63)")
    if aliases and (driver != "bridge" or value == "bridge"):
        raise ConfigError(f"--network-alias: only on a network made with pycr network create, not {value!r}")
    return list(dict.fromkeys(aliases))


def _save_request(cdir: str, req: dict) -> None:
    fd = os.open(os.path.join(cdir, REQUEST_FILE), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                 | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(req, f)


def request_of(state: dict) -> dict | None:
    """The request pycr saved for container ``state["id"]``, or None.

    The annotation only names the container's directory, and it is trusted only when
    it is ``.../<the container's id>``, owned by root and writable by nobody else, and
    holds ``network.json`` owned by root: a config's annotations can come from an
    engine's user (``podman run --annotation``), who must not steer root's writes,
    links or firewall rules."""
    cdir = (state.get("annotations") or {}).get(ANNOTATION)
    if not cdir or not os.path.isabs(cdir) or os.path.basename(cdir) != state.get("id"):
        return None
    try:
        st = os.stat(cdir, follow_symlinks=False)
        fd = os.open(os.path.join(cdir, REQUEST_FILE), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd) as f:
        fst = os.fstat(f.fileno())
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022 or fst.st_uid != 0:
            return None
        try:
            return json.load(f)
        except ValueError:
            return None


def setup(cid: str, pid: int, req: dict) -> dict:
    """Attach the created container (init ``pid``) as ``req`` says; returns its lease."""
    from pycr.core import trace_phase
    from pycr.plugins.network.state import NetState, proc_start

    st = NetState(req["state"])
    drv = _driver(req["driver"])
    lease = {"id": cid, "name": req["name"], "hostname": req["hostname"], "driver": req["driver"],
             "network_mode": req["network_mode"], "network": None, "ip": "", "ports": [], "pid": pid,
             "pid_start": proc_start(pid), "files": req["files"], "join": req.get("join"),
             "aliases": req.get("aliases") or []}
    with trace_phase("network attach"), st.locked():
        gone = reap(st)
        try:
            drv.attach(st, req, pid, lease)
            st.save_lease(lease)
        except BaseException:
            st.drop_lease(cid)
            drv.detach(st, lease)
            _sync(st, gone + [lease])
            raise
        _sync(st, gone + [lease])
    return lease


_PENDING: dict = {}  # container id -> [thread, exception or None] of an attach in progress


def start_setup(cid: str, pid: int, req: dict) -> None:
    """Start :func:`setup` in a thread: the namespace exists as soon as the init does, and the
    attach (two netlink batches, one nftables batch) then overlaps the init's rootfs setup,
    during which this process only waits.  :func:`finish_setup` collects it."""
    import threading

    slot = [None, None]

    def attach():
        try:
            setup(cid, pid, req)
        except BaseException as e:  # re-raised in the create's own thread
            slot[1] = e

    slot[0] = threading.Thread(target=attach, name=f"network-attach-{cid[:12]}", daemon=True)
    _PENDING[cid] = slot
    slot[0].start()


def finish_setup(cid: str) -> None:
    """Wait for the attach :func:`start_setup` began for ``cid``; raise its error."""
    from pycr.core import trace_phase

    slot = _PENDING.pop(cid, None)
    if slot is None:
        return
    with trace_phase("network wait"):
        slot[0].join()
    if slot[1] is not None:
        raise slot[1]


def settle(cid: str) -> None:
    """Let an attach still running for ``cid`` end (its error is the create's to report)."""
    slot = _PENDING.pop(cid, None)
    if slot is not None:
        slot[0].join()


def teardown(cid: str, req: dict) -> None:
    """Detach container ``cid``: drop its lease, undo its devices and rules.  Idempotent."""
    from pycr.core import trace_phase
    from pycr.plugins.network.state import NetState

    st = NetState(req["state"])
    with trace_phase("network detach"), st.locked():
        lease = st.drop_lease(cid)
        if lease:
            _driver(lease["driver"]).detach(st, lease)
        changed = reap(st) + ([lease] if lease else [])
        _sync(st, changed)


PARK_GRACE = 3.0  # seconds a parked veth gets to go with its namespace before we delete it


def reap(st) -> list[dict]:
    """Drop the leases of containers that died unnoticed and undo their devices (the caller
    syncs); forget parked veths that went, delete those whose namespace something still holds."""
    import time

    from pycr.plugins.network import link

    gone = st.reap()
    for x in gone:
        _driver(x["driver"]).detach(st, x)
    for p in st.parked():
        if link.index(p["veth"]) == p["index"] and time.time() - p["since"] > PARK_GRACE:
            link.delete(indexes=[p["index"]])
        if link.index(p["veth"]) != p["index"]:
            st.unpark(p["veth"])
    return gone


def reap_and_sync(st) -> None:
    """Under the lock: what teardown would have done for every container that died unnoticed."""
    _sync(st, reap(st))


def _sync(st, changed: list[dict]) -> None:
    """Re-derive from the leases what ``changed`` (added or removed leases) affects."""
    from pycr.core import trace_phase
    from pycr.plugins.network import etcfiles, nft

    nets = {x["network"] for x in changed if x.get("network")}
    if not nets:
        return
    networks = {n["name"]: n for n in st.networks()}
    leases = st.leases()
    live = {x["network"] for x in leases if x.get("network")}
    ruleset = nft.render(networks, [x for x in leases if x.get("network")])
    applied = os.path.join(st.root, "nft.applied")  # what our table holds: skip nft when nothing changes
    try:
        with open(applied) as f:
            same = f.read() == (ruleset or "")
    except OSError:
        same = False
    if not same:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(applied)  # unknown until nft succeeds
        with trace_phase("network nft"):
            nft.apply(ruleset)
        etcfiles.rewrite(applied, ruleset or "")
    for n in nets & live:
        peers = [x for x in leases if x.get("network") == n]
        for x in peers:
            own = [(x["ip"], f"{x['hostname']} {x['name']}" if x["hostname"] != x["name"] else x["name"])]
            others = [(y["ip"], " ".join([y["name"], *y.get("aliases", [])])) for y in peers if y["id"] != x["id"]]
            try:
                etcfiles.rewrite(x["files"]["hosts"], etcfiles.hosts(own, others))
            except OSError:
                pass  # its directory is being removed: it is leaving too


def report(store_root: str, cid: str) -> dict | None:
    """docker inspect's ``NetworkSettings`` for a container with a lease, else None."""
    from pycr.plugins.network import ports
    from pycr.plugins.network.state import NetState

    root = net_root(store_root)
    if not os.path.isdir(root):
        return None
    lease = NetState(root).lease(cid)
    if lease is None:
        return None
    nets = {}
    if lease.get("network"):
        nets[lease["network"]] = {"IPAddress": lease["ip"], "IPPrefixLen": lease["prefix"],
                                  "Gateway": lease["gateway"], "MacAddress": lease.get("mac", ""),
                                  "Bridge": lease.get("bridge", ""), "Aliases": lease.get("aliases") or []}
    bound = {}
    for p in lease.get("ports", []):
        bound.setdefault(f"{p['container_port']}/{p['proto']}", []).append(
            {"HostIp": p["host_ip"] or "0.0.0.0", "HostPort": str(p["host_port"])})
    return {"NetworkMode": lease["network_mode"], "Networks": nets, "Ports": bound,
            "IPAddress": lease["ip"], "PortList": [ports.text(p) for p in lease.get("ports", [])]}
