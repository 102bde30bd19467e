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
        found = [x for x in st.leases() if ref in (x["name"], x["id"]) or x["id"].startswith(ref)]
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

        network = st.network(req["network"])
        if network is None:
            raise ConfigError(f"network {req['network']!r} was removed before the container started")
        taken = [(p, x["name"]) for x in st.leases() if x["id"] != lease["id"] for p in x.get("ports", [])]
        claimed = []
        for p in req.get("ports", []):
            if p["host_port"]:
                other = next((name for q, name in taken + [(c, lease["name"]) for c in claimed]
                              if ports.clash(p, q)), None)
                if other:
                    raise ConfigError(f"-p {ports.text(p)}: host port {p['host_port']}/{p['proto']} is "
                                      f"already published by container {other}")
            claimed.append(ports.claim(p))
        lease.update(network=network["name"], ip=st.allocate(network), gateway=network["gateway"],
                     prefix=int(network["subnet"].split("/")[1]), veth=link.veth_name(lease["id"]),
                     bridge=network["bridge"], ports=claimed)
        st.save_lease(lease)  # the address is ours before any device exists: a crash leaves a reapable lease
        try:
            lease["mac"] = link.attach(pid, lease["id"], network, lease["ip"])
        except OSError as e:  # the kernel refused a request: one line naming the network and step
            raise PycrError(f"network {network['name']}: cannot attach the container on {network['bridge']}: "
                            f"{e.strerror or e}") from None

    def detach(self, st, lease: dict) -> None:
        """The veth goes with the container's namespace, which the kernel dismantles by itself
        once the init is gone, a moment later: deleting it here would wait ~20 ms for RCU grace
        periods.  It is *parked* (:meth:`NetState.park`, its address stays taken) and later
        changes make sure it went; at once only when a container that joined the namespace
        (``--network container:``) keeps the namespace alive."""
        from pycr.plugins.network import link

        ifindex = link.index(lease["veth"]) if lease.get("veth") else None
        if ifindex is None:
            return
        if any(x.get("join") == lease["id"] for x in st.leases()):
            link.delete([lease["veth"]])
        else:
            st.park(lease, ifindex)


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
