"""``pycr network create|ls|inspect|rm|prune``: user-defined bridge networks."""

from __future__ import annotations


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("create", help="define a bridge network")
    c.add_argument("--subnet", metavar="CIDR", action="append", help="default: a free /24 of 10.89.0.0/16")
    c.add_argument("-d", "--driver", default="bridge", help="only bridge")
    c.add_argument("--mtu", type=int, metavar="BYTES", help="of the bridge and the containers' interfaces "
                                                           "(default 1500; e.g. 65520 between containers)")
    c.add_argument("--gateway", metavar="IP", help="the bridge's address and the containers' default route "
                                                  "(needs --subnet; default: its first address)")
    c.add_argument("-o", "--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="com.docker.network.bridge.name=NAME, com.docker.network.driver.mtu=BYTES")
    c.add_argument("name")
    ls = sub.add_parser("ls", help="list networks")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.add_argument("--format", choices=["table", "json"], default="table")
    i = sub.add_parser("inspect", help="networks as JSON, with their containers")
    i.add_argument("names", nargs="+")
    r = sub.add_parser("rm", help="remove networks without containers")
    r.add_argument("names", nargs="+")
    sub.add_parser("prune", help="remove every user network without containers")
    c = sub.add_parser("connect", help="put a container on one more network")
    c.add_argument("--alias", action="append", default=[], metavar="NAME", help="another name peers find it by")
    c.add_argument("name", metavar="NETWORK")
    c.add_argument("container")
    d = sub.add_parser("disconnect", help="take a container off a network")
    d.add_argument("-f", "--force", action="store_true", help="accepted for docker's sake")
    d.add_argument("name", metavar="NETWORK")
    d.add_argument("container")


def net_state():
    from pycr.core import open_store
    from pycr.plugins.network.layer import net_root
    from pycr.plugins.network.state import NetState

    return NetState(net_root(open_store().root))


def describe(st, net: dict) -> dict:
    from pycr.plugins.network.state import BRIDGE_OPTION, MTU_OPTION, endpoints

    members = {x["id"]: {"Name": x["name"], "IPv4Address": f"{e['ip']}/{e['prefix']}", "MacAddress": e.get("mac") or ""}
               for x in st.leases(net["name"]) for e in endpoints(x) if e["network"] == net["name"]}
    return {"Name": net["name"], "Id": net["id"], "Driver": "bridge", "Bridge": net["bridge"],
            "IPAM": {"Config": [{"Subnet": net["subnet"], "Gateway": net["gateway"]}]},
            "Containers": members, "Builtin": net["builtin"], "Labels": net.get("labels") or {},
            "MTU": net.get("mtu") or 1500,
            "Options": {BRIDGE_OPTION: net["bridge"], MTU_OPTION: str(net.get("mtu") or 1500)}}


def _remove(st, name: str) -> str:
    """Remove network ``name``'s record and its bridge; returns a line saying why a link of the
    bridge's name was left in place ("" when none was)."""
    from pycr.core import ConfigError
    from pycr.plugins.network import link

    net = st.network(name)
    if net is None:
        raise ConfigError(f"network {name!r} does not exist")
    if net["builtin"]:
        raise ConfigError(f"network {name!r} is built in and cannot be removed")
    users = st.leases(name)
    if users:
        raise ConfigError(f"network {name!r} has containers attached: {', '.join(sorted(x['name'] for x in users))}")
    recorded = st.recorded_bridges().get(name)
    st.undefine(name)
    return _left(net, link.delete_bridge(net, recorded))


def _left(net: dict, why: str) -> str:
    return f"network {net['name']!r}: interface {net['bridge']!r} left in place: it {why}" if why else ""


def _drop_idle_default_bridge(st) -> str:
    """prune also deletes ``pycr0`` while no container uses it (the next one makes it again)."""
    from pycr.plugins.network import link

    net = st.default()
    if st.leases(net["name"]):
        return ""
    return _left(net, link.delete_bridge(net, st.recorded_bridges().get(net["name"])))


def run(opts, ns) -> int:
    import json
    import sys

    from pycr.core import ConfigError

    if ns.action in ("connect", "disconnect"):
        change_membership(ns.action, ns.name, ns.container, getattr(ns, "alias", []))
        return 0
    st = net_state()
    if ns.action == "create":
        if ns.subnet and len(ns.subnet) > 1:  # docker's second subnet is IPv6's; pycr's networks are IPv4 only
            raise ConfigError(f"--subnet given {len(ns.subnet)} times ({', '.join(ns.subnet)}): a pycr network "
                              "has one IPv4 subnet")
        options = {}
        for item in ns.opt:
            key, eq, value = item.partition("=")
            if not eq:
                raise ConfigError(f"-o {item!r}: use KEY=VALUE")
            options[key] = value
        print(create(st, ns.name, ns.subnet[0] if ns.subnet else None, ns.driver, mtu=ns.mtu, gateway=ns.gateway,
                     options=options)["id"])
        return 0
    if ns.action == "ls":
        nets = st.networks()
        if ns.format == "json":
            print(json.dumps([describe(st, n) for n in nets], indent=2))
        else:
            if not ns.quiet:
                print(f"{'NETWORK ID':<14}{'NAME':<20}{'SUBNET':<18}BRIDGE")
            for n in nets:
                print(n["id"][:12] if ns.quiet else f"{n['id'][:12]:<14}{n['name']:<20}{n['subnet']:<18}{n['bridge']}")
        return 0
    if ns.action == "inspect":
        out, code = [], 0
        for name in ns.names:
            net = st.network(name)
            if net is None:
                sys.stderr.write(f"network {name!r} does not exist\n")
                code = 1
            else:
                out.append(describe(st, net))
        print(json.dumps(out, indent=2))
        return code
    removed, errors, notes = remove(st, ns.names if ns.action == "rm" else None)
    for name in removed:
        print(name)
    for e in notes + errors:
        sys.stderr.write(f"{e}\n")
    return 1 if errors else 0


def change_membership(action: str, network: str, container: str, aliases: list[str] = ()) -> None:
    """``network connect|disconnect`` (the API's ``POST /networks/{id}/connect|disconnect`` too):
    the container named by ``container`` (name, id, id prefix) in the management layer's records."""
    from pycr.core import open_store
    from pycr.plugins.manage import records
    from pycr.plugins.network import layer

    rec = records.resolve(open_store().root, container)
    if action == "connect":
        layer.connect(rec.id, rec.dir, network, aliases)
    else:
        layer.disconnect(rec.id, rec.dir, network)


def create(st, name: str, subnet: str | None, driver: str = "bridge", labels: dict | None = None,
           mtu: int | None = None, gateway: str | None = None, options: dict | None = None) -> dict:
    """Define network ``name`` (``pycr network create``, the API's ``POST /networks/create``).
    ``options``: docker's bridge driver options; the bridge name and the MTU, others refused."""
    from pycr.core import ConfigError
    from pycr.plugins.network.state import BRIDGE_OPTION, MTU_OPTION

    options = dict(options or {})
    unknown = sorted(set(options) - {BRIDGE_OPTION, MTU_OPTION})
    if unknown:
        raise ConfigError(f"-o {unknown[0]}: unknown network option (pycr knows {BRIDGE_OPTION}, {MTU_OPTION})")
    if MTU_OPTION in options:
        value = options[MTU_OPTION]
        if not (isinstance(value, str) and value.isdigit()):
            raise ConfigError(f"-o {MTU_OPTION}={value}: need a number from 68 to 65535")
        if mtu is not None and mtu != int(value):
            raise ConfigError(f"--mtu {mtu} and -o {MTU_OPTION}={value}: give one MTU")
        mtu = int(value)
    bridge = options.get(BRIDGE_OPTION)
    if bridge is not None and not isinstance(bridge, str):
        raise ConfigError(f"-o {BRIDGE_OPTION}: expected a string")

    if driver != "bridge":
        raise ConfigError(f"network driver {driver!r}: only bridge networks can be created")
    with st.locked():
        return st.define(name, subnet, labels, mtu, gateway=gateway, bridge=bridge)


def remove(st, names: list[str] | None) -> tuple[list[str], list[str], list[str]]:
    """Remove networks ``names`` (``None``: prune every user network without containers, and an
    idle ``pycr0``); returns (removed names, one-line errors, one-line notes of links of a
    bridge's name left in place because they are not pycr's bridge for that network)."""
    from pycr.core import ConfigError
    from pycr.plugins.network.layer import apply_rules, reap_and_sync

    removed, errors, notes = [], [], []
    with st.locked():
        reap_and_sync(st)
        if names is None:
            names = [n["name"] for n in st.networks() if not n["builtin"] and not st.leases(n["name"])]
            notes.append(_drop_idle_default_bridge(st))
        for name in names:
            try:
                notes.append(_remove(st, name))
                removed.append(name)
            except ConfigError as e:
                errors.append(str(e))
        apply_rules(st)  # the rules of the networks whose bridge went
    return removed, errors, [n for n in notes if n]
