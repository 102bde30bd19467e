"""``pycr port CONTAINER [PORT[/PROTO]]``: a running container's published ports, as docker prints them."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("container", help="name, id or unique id prefix of a running container")
    p.add_argument("port", nargs="?", help="only this container port (80 or 80/udp)")


def run(opts, ns) -> int:
    from pycr.core import ConfigError
    from pycr.plugins.network import ports
    from pycr.plugins.network.verb_network import net_state

    st = net_state()
    ref = ns.container
    found = st.find_leases(ref)
    if len(found) != 1:
        raise ConfigError(f"container {ref!r}: " + ("ambiguous id prefix" if found else
                                                      "no running container of that name or id"))
    lines = [ports.text(p) for p in found[0].get("ports", [])]
    if ns.port:
        want = ns.port if "/" in ns.port else ns.port + "/tcp"
        lines = [line.split(" -> ")[1] for line in lines if line.split(" -> ")[0] == want]
        if not lines:
            raise ConfigError(f"container {found[0]['name']}: no public port {want!r} published")
    for line in lines:
        print(line)
    return 0
