"""The network layer's state under the store root, and IPAM.

Layout (``<store>/network/``)::

    lock                  flock: every change (define, attach, detach) holds it
    networks/<name>.json  a user-defined network: name, id, subnet, gateway, bridge
    leases/<cid>.json     one container's attachments: its first network, address, veth
                          (top-level fields), those ``network connect`` added (``extra``),
                          published ports, its init (pid + start time), hosts file
    parked/<veth>.json    a detached container's veth left to the kernel's namespace
                          cleanup: its index, address (still taken) and when

A lease *is* the IPAM record: an address is taken while a lease names it,
so allocation and release are one file written or removed under the lock.
Leases whose init is gone (a killed ``pycr``, a killed monitor whose container
then ended) are reclaimed by :meth:`NetState.reap` before every change.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os

from pycr.core import ConfigError

DEFAULT_NETWORK = "bridge"
DEFAULT_BRIDGE = "pycr0"
DEFAULT_SUBNET = "10.88.0.0/16"
USER_POOL = "10.89.0.0/16"  # user networks get a free /24 from here unless --subnet says otherwise
#: IPv4 blocks no host may put on an interface as an ordinary address (RFC 6890)
SPECIAL_SUBNETS = {"0.0.0.0/8": "'this network'", "127.0.0.0/8": "loopback", "169.254.0.0/16": "link-local",
                   "224.0.0.0/4": "multicast", "240.0.0.0/4": "reserved"}
RESERVED = ("bridge", "host", "none")
BRIDGE_OPTION = "com.docker.network.bridge.name"  # docker's bridge driver options (network create -o)
MTU_OPTION = "com.docker.network.driver.mtu"
SUBDIRS = ("networks", "leases", "parked")  # one JSON document per file in each
APPLIED = "nft.applied"  # the nftables table applied last, then its bridges_record line


def bridges_record(indexes: dict[str, int]) -> str:
    """The line ending :data:`APPLIED`: network name -> index of the bridge its rules were made
    for, as ``# bridges [('bridge', 7), ...]`` (the text pycr has always written; names are
    ``[A-Za-z0-9][A-Za-z0-9_.-]*``, so the repr never needs another quote)."""
    return f"# bridges {sorted(indexes.items())}\n"


def read_bridges_record(text: str) -> dict[str, int]:
    """What :func:`bridges_record` wrote as the last line of ``text``; {} for no such line, or one
    that is not exactly what it writes (a damaged record adopts nothing, see link.claim)."""
    import re

    last = text.rstrip("\n").rpartition("\n")[2]
    found = {name: int(index) for name, index in re.findall(r"\('([A-Za-z0-9_.-]+)', (\d+)\)", last)}
    return found if bridges_record(found) == last + "\n" else {}


def proc_start(pid: int | None) -> int | None:
    """Start time (field 22 of /proc/PID/stat) of a live, non-zombie ``pid``; None otherwise."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == b"Z" else int(fields[19])


ENDPOINT = ("network", "ip", "prefix", "gateway", "mac", "bridge", "veth", "ifname", "aliases")


def endpoints(lease: dict) -> list[dict]:
    """The networks ``lease`` is on, each ``{network, ip, prefix, gateway, mac, bridge, veth,
    ifname, aliases}``: the one it was created on (the lease's own fields; none once
    disconnected from it), then those ``pycr network connect`` added."""
    first = [{k: lease.get(k) for k in ENDPOINT}] if lease.get("network") else []
    if first:
        first[0]["ifname"] = first[0]["ifname"] or "eth0"
        first[0]["aliases"] = first[0]["aliases"] or []
    return first + list(lease.get("extra") or [])


def _write(path: str, doc: dict) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.rename(tmp, path)


def _read(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class NetState:
    """The network definitions and leases in ``root`` (``<store>/network``)."""

    def __init__(self, root: str):
        self.root = root
        for sub in SUBDIRS:
            os.makedirs(os.path.join(root, sub), 0o700, exist_ok=True)

    def _documents(self, sub: str) -> list[dict]:
        """Every readable ``*.json`` of ``sub``, in name order (a torn one is skipped)."""
        d = os.path.join(self.root, sub)
        return [x for x in (_read(os.path.join(d, n)) for n in sorted(os.listdir(d)) if n.endswith(".json")) if x]

    @contextlib.contextmanager
    def locked(self):
        fd = os.open(os.path.join(self.root, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self
        finally:
            os.close(fd)

    # -- networks -----------------------------------------------------------
    @staticmethod
    def default() -> dict:
        return {"name": DEFAULT_NETWORK, "id": "0" * 64, "subnet": DEFAULT_SUBNET,
                "gateway": _host(DEFAULT_SUBNET, 1), "bridge": DEFAULT_BRIDGE, "builtin": True}

    def networks(self) -> list[dict]:
        return [self.default()] + self._documents("networks")

    def network(self, name: str) -> dict | None:
        if name == DEFAULT_NETWORK:
            return self.default()
        if "/" in name or name.startswith("."):
            return None
        return _read(os.path.join(self.root, "networks", name + ".json"))

    def define(self, name: str, subnet: str | None, labels: dict | None = None, mtu: int | None = None,
               gateway: str | None = None, bridge: str | None = None, options: dict | None = None) -> dict:
        """Write a new network; the caller holds the lock.  One-line errors for a taken
        name or subnet, a malformed or too small subnet, an MTU out of range, a gateway
        outside the subnet (or its network or broadcast address), a bridge name taken."""
        import hashlib
        import re

        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
            raise ConfigError(f"network name {name!r}: use letters, digits, '_', '.', '-' (at most 64)")
        if name in RESERVED or self.network(name) is not None:
            raise ConfigError(f"network name {name!r} is already in use")
        taken = [ipaddress.ip_network(n["subnet"]) for n in self.networks()]
        if subnet is None:
            net = next((c for c in ipaddress.ip_network(USER_POOL).subnets(new_prefix=24)
                        if not any(c.overlaps(t) for t in taken)), None)
            if net is None:
                raise ConfigError(f"no free /24 left in {USER_POOL} for network {name!r}: give --subnet")
        else:
            try:
                net = ipaddress.ip_network(subnet, strict=True)
            except ValueError as e:
                raise ConfigError(f"--subnet {subnet!r}: {e}") from None
            if net.version != 4 or net.prefixlen > 30:
                raise ConfigError(f"--subnet {subnet!r}: need an IPv4 subnet of /30 or larger")
            special = next((f"{what} ({block})" for block, what in SPECIAL_SUBNETS.items()
                            if net.overlaps(ipaddress.ip_network(block))), None)
            if special:
                raise ConfigError(f"--subnet {subnet}: overlaps the {special} range, which cannot hold a bridge's "
                                  "addresses")
            clash = next((n for n in self.networks() if ipaddress.ip_network(n["subnet"]).overlaps(net)), None)
            if clash:
                raise ConfigError(f"--subnet {subnet}: overlaps network {clash['name']!r} ({clash['subnet']})")
        if mtu is not None and not (isinstance(mtu, int) and 68 <= mtu <= 65535):
            raise ConfigError(f"--mtu {mtu!r}: need a number from 68 to 65535")
        if gateway is not None:
            gateway = _gateway(gateway, subnet, net)
        if bridge is not None:
            self._check_bridge_name(bridge)
        nid = hashlib.sha256(f"{name}\0{os.urandom(16).hex()}".encode()).hexdigest()
        doc = {"name": name, "id": nid, "subnet": str(net), "gateway": gateway or _host(str(net), 1),
               "bridge": bridge or "br-" + nid[:12], "builtin": False, "labels": labels or {}}
        if mtu is not None:
            doc["mtu"] = mtu
        if options:
            doc["options"] = dict(options)  # docker's -o as given: what inspect's Options shows
        _write(os.path.join(self.root, "networks", name + ".json"), doc)
        return doc

    def _check_bridge_name(self, bridge: str) -> None:
        """A bridge name of the user's: an interface name the kernel takes, that no network
        and no interface here has (pycr deletes its bridge with the network: never the
        host's eth0), and not one of pycr's veth names."""
        import re

        from pycr.plugins.network import link

        where = f"-o {BRIDGE_OPTION}={bridge}"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}", bridge):
            raise ConfigError(f"{where}: an interface name is 1-15 letters, digits, '_', '.', '-'")
        if bridge.startswith("pv"):
            raise ConfigError(f"{where}: names starting with 'pv' are pycr's container veths")
        user = next((n["name"] for n in self.networks() if n["bridge"] == bridge), None)
        if user is not None:
            raise ConfigError(f"{where}: the bridge of network {user!r}")
        if link.exists(bridge):
            raise ConfigError(f"{where}: an interface of that name exists here; pycr makes (and removes) "
                              "its networks' bridges itself")

    def undefine(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.root, "networks", f".last-{name}"))
        os.unlink(os.path.join(self.root, "networks", name + ".json"))

    def recorded_bridges(self) -> dict[str, int]:
        """network name -> the index of its bridge when pycr last synced the firewall (the last
        line of :data:`APPLIED`): what :func:`link.claim` adopts an unmarked bridge by."""
        try:
            with open(os.path.join(self.root, APPLIED)) as f:
                return read_bridges_record(f.read())
        except (OSError, UnicodeDecodeError):  # not UTF-8: damaged too
            return {}

    # -- leases -------------------------------------------------------------
    def _lease_path(self, cid: str) -> str:
        if "/" in cid or cid.startswith("."):
            raise ConfigError(f"container id {cid!r} cannot name a lease")
        return os.path.join(self.root, "leases", cid + ".json")

    def leases(self, network: str | None = None) -> list[dict]:
        return [x for x in self._documents("leases")
                if network is None or any(e["network"] == network for e in endpoints(x))]

    def lease(self, cid: str) -> dict | None:
        return _read(self._lease_path(cid))

    def find_leases(self, ref: str) -> list[dict]:
        """The leases ``ref`` names, in docker's order: a full id or a name wins outright, else
        every id it prefixes. A name like ``db`` is also a hex prefix; it must not meet another
        container's id (one in 256 ids starts with it)."""
        leases = self.leases()
        exact = [x for x in leases if ref in (x["id"], x["name"])]
        return exact[:1] if exact else [x for x in leases if ref and x["id"].startswith(ref)]

    def save_lease(self, lease: dict) -> None:
        _write(self._lease_path(lease["id"]), lease)

    def drop_lease(self, cid: str) -> dict | None:
        lease = self.lease(cid)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._lease_path(cid))
        return lease

    def allocate(self, network: dict) -> str:
        """The next free host address of ``network`` after the one given out last (gateway
        excluded), wrapping around: a just-freed address is not handed out again at once, so
        peers' ARP caches holding the previous owner's MAC have time to expire, as docker does.
        The caller holds the lock and saves a lease naming it before releasing the lock."""
        net = ipaddress.ip_network(network["subnet"])
        taken = [e for x in self.leases(network["name"]) for e in endpoints(x)] + self.parked()
        used = {int(ipaddress.ip_address(a)) for a in
                [network["gateway"]] + [e["ip"] for e in taken if e["network"] == network["name"]]}
        mark = os.path.join(self.root, "networks", f".last-{network['name']}")
        try:
            with open(mark) as f:
                last = int(ipaddress.ip_address(f.read().strip()))
        except (OSError, ValueError):
            last = 0
        first, end = int(net.network_address) + 1, int(net.broadcast_address)  # host addresses: [first, end)
        size = end - first
        start = last + 1 - first if first <= last < end else 0
        for i in range(size):  # integers, not ip_address objects: a /16 has 65534 of them
            addr = first + (start + i) % size
            if addr not in used:
                text = str(ipaddress.ip_address(addr))
                with open(mark, "w") as f:
                    f.write(text)
                return text
        raise ConfigError(f"network {network['name']!r}: address pool {network['subnet']} is exhausted "
                          f"({len(used) - 1} containers attached)")

    # -- parked veths -------------------------------------------------------
    def park(self, endpoint: dict, ifindex: int) -> None:
        """Record that ``endpoint``'s veth (index ``ifindex``) is left to die with its namespace."""
        import time

        _write(os.path.join(self.root, "parked", endpoint["veth"] + ".json"),
               {"veth": endpoint["veth"], "index": ifindex, "ip": endpoint["ip"], "network": endpoint["network"],
                "since": time.time()})

    def parked(self) -> list[dict]:
        return self._documents("parked")

    def unpark(self, veth: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.root, "parked", veth + ".json"))

    def reap(self) -> list[dict]:
        """Drop the leases whose container init is gone; returns them (their veths may need deleting).
        Also removes the temporary file of a write whose process died before its rename (a kill -9)."""
        for sub in SUBDIRS:
            d = os.path.join(self.root, sub)
            for name in os.listdir(d):
                writer = name.rpartition(".tmp-")[2]
                if ".tmp-" in name and writer.isdigit() and not os.path.exists(f"/proc/{writer}"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(d, name))
        gone = []
        for lease in self.leases():
            if proc_start(lease.get("pid")) != lease.get("pid_start"):
                self.drop_lease(lease["id"])
                gone.append(lease)
        return gone


def _gateway(gateway: str, subnet: str | None, net) -> str:
    """``--gateway``: an address of ``--subnet`` that a host may have (not its network or
    broadcast address)."""
    if subnet is None:
        raise ConfigError(f"--gateway {gateway}: give --subnet too (the gateway is an address of it)")
    try:
        ip = ipaddress.ip_address(gateway)
    except ValueError:
        raise ConfigError(f"--gateway {gateway!r}: not an IPv4 address") from None
    if ip.version != 4 or ip not in net:
        raise ConfigError(f"--gateway {gateway}: not an address of --subnet {net}")
    if ip in (net.network_address, net.broadcast_address):
        which = "network" if ip == net.network_address else "broadcast"
        raise ConfigError(f"--gateway {gateway}: the {which} address of {net}, not a host's")
    return str(ip)


def _host(subnet: str, n: int) -> str:
    return str(ipaddress.ip_network(subnet)[n])
