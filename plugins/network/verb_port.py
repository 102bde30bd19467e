"""``pycr port CONTAINER [PORT[/PROTO]]``: the container's published ports, as docker prints them."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("container")
    p.add_argument("port", nargs="?", help="only this container port (80 or 80/udp)")


def run(opts, ns) -> int:
    from pycr.core import ConfigError
    from pycr.core.containers import manage
    from pycr.core.plugins import get_manager

    rec = manage.resolve(ns.container)
    found = get_manager(opts).hook.pycr_network_report(store_root=manage.store_root(), container_id=rec.id)
    lines = (found or {}).get("PortList", [])
    if ns.port:
        want = ns.port if "/" in ns.port else ns.port + "/tcp"
        lines = [line.split(" -> ")[1] for line in lines if line.split(" -> ")[0] == want]
        if not lines:
            raise ConfigError(f"container {rec.name}: no public port {want!r} published")
    for line in lines:
        print(line)
    return 0
