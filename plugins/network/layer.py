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
    # picked once, kept on restart (the start picks again only if another container published it since)
    taken = [q for x in NetState(root).leases() for q in x.get("ports", [])] if published else []
    req["ports"] = [p if p["host_port"] else ports.claim(p, taken) for p in published]
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
        present = link.index(p["veth"]) == p["index"]
        if present and time.time() - p["since"] > PARK_GRACE:
            link.delete(indexes=[p["index"]])
            present = link.index(p["veth"]) == p["index"]
        if not present:
            st.unpark(p["veth"])
    return gone


def reap_and_sync(st) -> None:
    """Under the lock: what teardown would have done for every container that died unnoticed."""
    _sync(st, reap(st))


def apply_rules(st, leases: list[dict] | None = None) -> None:
    """Make our nftables table what the networks and ``leases`` say: rules for every network
    in use or whose bridge exists (they stay with the bridge, as docker0's do: a container
    without ports joining or leaving a network changes nothing, and nft is not even loaded),
    DNAT for every published port.  Skipped when it is the rendering applied last.  A link
    of a bridge's name that is not pycr's bridge for that network (:func:`link.claim`) gets
    no rule: pycr's rules would accept and masquerade its traffic."""
    from pycr.core import trace_phase
    from pycr.plugins.network import etcfiles, link, nft
    from pycr.plugins.network.state import APPLIED, bridges_record, endpoints

    leases = st.leases() if leases is None else leases
    on = {e["network"] for x in leases for e in endpoints(x)}
    nets = st.networks()
    claimed = link.claimed(nets, st.recorded_bridges())
    bridges = {n["name"]: (n, claimed[n["name"]][0]) for n in nets}
    up = {name: n for name, (n, index) in bridges.items()
          if index is not None or (name in on and not claimed[name][1])}
    ruleset = nft.render(up, leases)
    # what our table holds, with the bridges it was made for: a bridge made again (a reboot, a
    # namespace made anew) has a new index, and its table may be gone with the old one
    key = (ruleset or "") + bridges_record({k: i for k, (_, i) in bridges.items() if i is not None})
    applied = os.path.join(st.root, APPLIED)
    try:  # no rules at all (a prune): delete the table anyway, another store's pycr may have made it
        with open(applied) as f:
            if f.read() == key and ruleset is not None:
                return
    except (OSError, UnicodeDecodeError):
        pass
    with contextlib.suppress(FileNotFoundError):
        os.unlink(applied)  # unknown until nft succeeds
    with trace_phase("network nft"):
        nft.apply(ruleset)
    etcfiles.rewrite(applied, key)


def _sync(st, changed: list[dict], left: set[str] = frozenset()) -> None:
    """Re-derive from the leases what ``changed`` (added or removed leases) and ``left`` (networks
    a container was disconnected from) affect: the nftables table, the hosts files."""
    from pycr.plugins.network import etcfiles
    from pycr.plugins.network.state import endpoints

    nets = {e["network"] for x in changed for e in endpoints(x)} | set(left)
    if not nets:
        return
    leases = st.leases()
    apply_rules(st, leases)
    ids = {x["id"] for x in changed}
    for x in leases:  # every container on an affected network, and those that changed
        mine = endpoints(x)
        if x["id"] not in ids and not any(e["network"] in nets for e in mine):
            continue
        names = f"{x['hostname']} {x['name']}" if x["hostname"] != x["name"] else x["name"]
        own = [(e["ip"], names) for e in mine]
        on = {e["network"] for e in mine}
        others = list(dict.fromkeys((e["ip"], " ".join([y["name"], *e.get("aliases", [])]))
                                    for y in leases if y["id"] != x["id"] for e in endpoints(y) if e["network"] in on))
        try:
            etcfiles.rewrite(x["files"]["hosts"], etcfiles.hosts(own, others))
        except OSError:
            pass  # its directory is being removed: it is leaving too


def _request_in(cid: str, cdir: str) -> dict:
    req = request_of({"id": cid, "annotations": {ANNOTATION: cdir}})
    if req is None:
        raise ConfigError(f"container {cid[:12]} has no network settings of pycr's to change")
    return req


def _networks_of(req: dict) -> list[str]:
    return ([req["network"]] if req.get("network") else []) + [c["network"] for c in req.get("connect") or []]


@contextlib.contextmanager
def _changing_networks(cid: str, cdir: str, verb: str):
    """The start connect and disconnect share: a bridge-mode container only; then, under the
    state's lock with dead containers reaped, (state, its request read again, its lease if it
    runs, else None)."""
    from pycr.plugins.network.state import NetState, proc_start

    req = _request_in(cid, cdir)
    if req["driver"] != "bridge":
        raise ConfigError(f"container {req['name']}: network mode {req['network_mode']!r} cannot be "
                          f"{verb} a network")
    st = NetState(req["state"])
    with st.locked():
        _sync(st, reap(st))
        lease = st.lease(cid)
        live = lease is not None and proc_start(lease["pid"]) == lease["pid_start"]
        yield st, _request_in(cid, cdir), lease if live else None


def connect(cid: str, cdir: str, name: str, aliases: list[str] = ()) -> None:
    """``pycr network connect``: put container ``cid`` (directory ``cdir``) on network ``name``
    as well, now if it runs (``eth<n>``, an address, hosts files) and from every start on."""
    from pycr.plugins.network import drivers

    with _changing_networks(cid, cdir, "connected to") as (st, req, lease):
        aliases = _aliases(list(aliases), "bridge", name)
        network = st.network(name)
        if network is None:
            raise ConfigError(f"network {name!r} does not exist")
        if network["name"] in _networks_of(req):
            raise ConfigError(f"container {req['name']} is already connected to network {network['name']}")
        if lease:
            drivers.connect(st, lease["pid"], lease, network["name"], aliases)
        req.setdefault("connect", []).append({"network": network["name"], "aliases": aliases})
        _save_request(cdir, req)
        if lease:
            _sync(st, [lease])


def disconnect(cid: str, cdir: str, name: str) -> None:
    """``pycr network disconnect``: take container ``cid`` off network ``name`` (its interface
    there is deleted at once if it runs) and keep it off on later starts."""
    from pycr.plugins.network import link
    from pycr.plugins.network.state import endpoints

    with _changing_networks(cid, cdir, "disconnected from") as (st, req, lease):
        if name not in _networks_of(req):
            if st.network(name) is None:
                raise ConfigError(f"network {name!r} does not exist")
            raise ConfigError(f"container {req['name']} is not connected to network {name}")
        first = req.get("network") == name
        if first and req.get("ports"):
            raise ConfigError(f"container {req['name']} publishes ports on network {name}: it cannot be "
                              f"disconnected from it")
        if lease:
            ep = next(e for e in endpoints(lease) if e["network"] == name)
            if ep.get("veth") and link.exists(ep["veth"]):
                link.delete([ep["veth"]])  # its peer in the container goes with it
            if first:
                lease.update(network=None, ip="", mac="", veth=None, bridge="", aliases=[])
            else:
                lease["extra"] = [e for e in lease["extra"] if e["network"] != name]
            st.save_lease(lease)
            _sync(st, [lease], left={name})
        if first:
            req["network"] = None
        req["connect"] = [c for c in req.get("connect") or [] if c["network"] != name]
        _save_request(cdir, req)


def report(store_root: str, cid: str) -> dict | None:
    """docker inspect's ``NetworkSettings`` for a container with a lease, else None."""
    from pycr.plugins.network import ports
    from pycr.plugins.network.state import NetState, endpoints

    root = net_root(store_root)
    if not os.path.isdir(root):
        return None
    lease = NetState(root).lease(cid)
    if lease is None:
        return None
    nets = {e["network"]: {"IPAddress": e["ip"], "IPPrefixLen": e["prefix"], "Gateway": e["gateway"],
                           "MacAddress": e.get("mac") or "", "Bridge": e.get("bridge") or "",
                           "Aliases": e.get("aliases") or []} for e in endpoints(lease)}
    bound = {}
    for p in lease.get("ports", []):
        bound.setdefault(f"{p['container_port']}/{p['proto']}", []).append(
            {"HostIp": p["host_ip"] or "0.0.0.0", "HostPort": str(p["host_port"])})
    return {"NetworkMode": lease["network_mode"], "Networks": nets, "Ports": bound,
            "IPAddress": lease["ip"], "PortList": [ports.text(p) for p in lease.get("ports", [])]}
