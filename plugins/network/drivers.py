"""The network drivers (entry-point group ``pycr.network``): bridge, host, none, container.

The contract, with what each step does and when, is :class:`pycr.core.NetworkDriver`
(core/network.py); :mod:`pycr.plugins.network.layer` calls the steps and then
re-renders what derives from the leases (nftables table, hosts files).
"""

from __future__ import annotations

from pycr.core import ConfigError, NetworkDriver, PycrError, set_network_namespace


class NoneDriver(NetworkDriver):
    """``--network none``: a namespace with only the loopback device."""

    name = "none"


class HostDriver(NetworkDriver):
    """``--network host``: the host's namespace, its hosts and resolv.conf as they are."""

    name = "host"

    def configure(self, config: dict, req: dict) -> None:
        set_network_namespace(config, None)
        req["resolv"] = _read("/etc/resolv.conf")
        req["hosts"] = _read("/etc/hosts")


class ContainerDriver(NetworkDriver):
    """``--network container:NAME|ID``: join a running container's namespace and its files."""

    name = "container"

    def configure(self, config: dict, req: dict) -> None:
        from pycr.plugins.network.state import NetState, proc_start

        ref = req["target"]
        st = NetState(req["state"])
        found = st.find_leases(ref)
        if len(found) != 1:
            raise ConfigError(f"--network container:{ref}: " + (
                "no running container of that name or id" if not found else "the id prefix is ambiguous"))
        target = found[0]
        if proc_start(target["pid"]) != target["pid_start"]:
            raise ConfigError(f"--network container:{ref}: container {target['name']} is not running")
        set_network_namespace(config, {"type": "network", "path": f"/proc/{target['pid']}/ns/net"})
        req["join"] = target["id"]
        req["resolv"] = _read(target["files"]["resolv"])
        req["hosts"] = _read(target["files"]["hosts"])


class BridgeDriver(NetworkDriver):
    """``--network bridge`` (the default) or a user network: a veth on the network's bridge,
    an address from its subnet, a default route, NAT out and DNAT for published ports."""

    name = "bridge"
    publishes = True

    def attach(self, st, req: dict, pid: int, lease: dict) -> None:
        from pycr.plugins.network import link, ports

        network = st.network(req["network"]) if req.get("network") else None
        if req.get("network") and network is None:
            raise ConfigError(f"network {req['network']!r} was removed before the container started")
        taken = [(p, x["name"]) for x in st.leases() if x["id"] != lease["id"] for p in x.get("ports", [])]
        claimed = []
        for p in req.get("ports", []):  # under the lock: a random pick is checked against every lease
            busy = taken + [(c, lease["name"]) for c in claimed]
            other = next((name for q, name in busy if ports.clash(p, q)), None)
            if other and not p.get("random"):
                raise ConfigError(f"-p {ports.text(p)}: host port {p['host_port']}/{p['proto']} is "
                                  f"already published by container {other}")
            claimed.append(ports.claim(p, [q for q, _ in busy]))
        if req.get("network"):  # None once disconnected from the network it was created on
            lease.update(network=network["name"], ip=st.allocate(network), gateway=network["gateway"],
                         prefix=int(network["subnet"].split("/")[1]), veth=link.veth_name(lease["id"]),
                         ifname="eth0", bridge=network["bridge"], aliases=req.get("aliases") or [], ports=claimed)
            st.save_lease(lease)  # the address is ours before any device exists: a crash leaves a reapable lease
            lease["mac"] = _plug(st, pid, lease, lease, network, first=True)
        for extra in req.get("connect") or []:  # networks added by pycr network connect
            connect(st, pid, lease, extra["network"], extra.get("aliases") or [])

    def detach(self, st, lease: dict) -> None:
        """The veths go with the container's namespace, which the kernel dismantles by itself
        once the init is gone, a moment later: deleting them here would wait ~20 ms each for
        RCU grace periods.  They are *parked* (:meth:`NetState.park`, their addresses stay
        taken) and later changes make sure they went; deleted at once only when a container
        that joined the namespace (``--network container:``) keeps the namespace alive."""
        from pycr.plugins.network import link
        from pycr.plugins.network.state import endpoints

        held = any(x.get("join") == lease["id"] for x in st.leases())
        for e in endpoints(lease):
            ifindex = link.index(e["veth"]) if e.get("veth") else None
            if ifindex is None:
                continue
            if held:
                link.delete([e["veth"]])
            else:
                st.park(e, ifindex)


def _plug(st, pid: int, lease: dict, ep: dict, network: dict, first: bool) -> str:
    """Make endpoint ``ep`` of ``lease`` (its veth, interface, address); ``first``: also ``lo``
    and the default route.  One line naming the network when the kernel refuses."""
    from pycr.plugins.network import link

    try:
        return link.attach(pid, ep["veth"], ep["ifname"], network, ep["ip"], first=first,
                           recorded=st.recorded_bridges().get(network["name"]))
    except OSError as e:
        raise PycrError(f"network {network['name']}: cannot attach container {lease['name']} on "
                        f"{network['bridge']}: {e.strerror or e}") from None


def connect(st, pid: int, lease: dict, name: str, aliases: list[str]) -> dict:
    """Put the running container of ``lease`` (init ``pid``) on network ``name`` as well: an
    address, ``eth<n>`` on the network's bridge.  The caller holds the lock; saves ``lease``."""
    from pycr.plugins.network import link
    from pycr.plugins.network.state import endpoints

    network = st.network(name)
    if network is None:
        raise ConfigError(f"network {name!r} does not exist")
    first = not endpoints(lease)  # disconnected from every network before: this one routes
    used = {e["ifname"] for e in endpoints(lease)}
    n = next((i for i in range(10) if f"eth{i}" not in used), None)
    if n is None:
        raise ConfigError(f"container {lease['name']}: on 10 networks already, the most pycr gives one container")
    ep = {"network": network["name"], "ip": st.allocate(network), "prefix": int(network["subnet"].split("/")[1]),
          "gateway": network["gateway"], "mac": "", "bridge": network["bridge"],
          "veth": link.veth_name(lease["id"], n), "ifname": f"eth{n}", "aliases": list(aliases)}
    lease.setdefault("extra", []).append(ep)
    st.save_lease(lease)  # the address is taken before the device exists
    try:
        ep["mac"] = _plug(st, pid, lease, ep, network, first=first)
    except BaseException:
        lease["extra"].remove(ep)
        st.save_lease(lease)
        if link.exists(ep["veth"]):
            link.delete([ep["veth"]])
        raise
    st.save_lease(lease)
    return ep


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def driver_for(value: str) -> tuple[str, dict]:
    """``--network`` value -> (driver name, the request fields it implies)."""
    if value.startswith("container:"):
        target = value.split(":", 1)[1]
        if not target:
            raise ConfigError("--network container: needs a container name or id after the colon")
        return "container", {"target": target}
    if value in ("host", "none"):
        return value, {}
    return "bridge", {"network": value}
