"""The network driver contract (slot ``pycr.network``, chosen by ``--network``).

The network layer (the ``network`` plugin) drives it; drivers ship as entry
points like the cgroup backends.  Three steps:

``configure(config, req)``
    in ``pycr`` while the OCI config is built: the ``network`` namespace entry
    (new, none for the host's, or another container's ``path``); may add
    ``hosts``/``resolv`` text to ``req`` (the request saved for setup);
``attach(st, req, pid, lease)``
    after the runtime's ``create``, before ``start``, holding the layer's
    state lock: plug the namespace of ``pid`` in and fill ``lease``
    (address, MAC, ports); a ``ConfigError`` of one line when it cannot;
``detach(st, lease)``
    holding the lock, on delete or when a dead container is reaped: undo
    what ``attach`` made outside the namespace.  Idempotent.
"""

from __future__ import annotations


class NetworkDriver:
    """Base class: a namespace of the container's own and nothing in it but ``lo``."""

    name = "abstract"
    publishes = False  # can -p/-P reach it?

    def configure(self, config: dict, req: dict) -> None:
        set_network_namespace(config, {"type": "network"})

    def attach(self, st, req: dict, pid: int, lease: dict) -> None:
        pass

    def detach(self, st, lease: dict) -> None:
        pass


def set_network_namespace(config: dict, entry: dict | None) -> None:
    """Replace the ``network`` entry of ``linux.namespaces`` with ``entry`` (None: the host's)."""
    ns = [n for n in config["linux"].get("namespaces", []) if n.get("type") != "network"]
    config["linux"]["namespaces"] = ns + ([entry] if entry else [])


def exposed_port_keys(text: str, *, ranges: bool = True) -> list[str]:
    """``PORT[/tcp|udp]`` (with ``ranges`` also ``FIRST-LAST[/PROTO]``) -> docker's
    ``ExposedPorts`` keys, one per port (``80/tcp``).  The one rule for an
    image's keys, ``--expose`` and the API's ``ExposedPorts``: a port is
    1-65535 and nothing else (no host address, no host port).  ValueError
    (the caller names the field) otherwise."""
    port, slash, proto = text.partition("/")
    first, dash, last = port.partition("-") if ranges else (port, "", "")
    if not (port.isascii() and first.isdigit() and (not dash or last.isdigit())
            and proto in (("tcp", "udp") if slash else ("",))  # "80/" names no protocol: refused, as docker does
            and 0 < int(first) <= int(last if dash else first) <= 65535):
        raise ValueError(f"{text!r} is not PORT{'[-LAST]' if ranges else ''}[/tcp|udp] (a port from 1 to 65535)")
    return [f"{n}/{proto or 'tcp'}" for n in range(int(first), int(last if dash else first) + 1)]

