"""``-p/--publish`` and ``-P``: parse, pick host ports, check they are free."""

from __future__ import annotations

import contextlib
import ipaddress
import socket

from pycr.core import ConfigError

USAGE = "use [IP:][HOST:]CONTAINER[/tcp|udp], e.g. 8080:80 or 127.0.0.1:8080:80/udp"


def _port(text: str, spec: str, allow_empty: bool = False) -> int:
    if allow_empty and text == "":
        return 0
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(f"-p {spec}: port {text!r} is not a number from 1 to 65535; {USAGE}")
    return int(text)


def parse(spec: str) -> dict:
    """One ``-p`` value -> {host_ip, host_port (0: pick one), container_port, proto}."""
    body, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise ConfigError(f"-p {spec}: protocol {proto!r} is not tcp or udp")
    parts = body.rsplit(":", 2)
    host_ip, host = "", ""
    if len(parts) == 3:
        host_ip, host, cport = parts
        try:
            if ipaddress.ip_address(host_ip).version != 4:
                raise ValueError
        except ValueError:
            raise ConfigError(f"-p {spec}: {host_ip!r} is not an IPv4 address; {USAGE}") from None
    elif len(parts) == 2:
        host, cport = parts
    else:
        cport = parts[0]
    return {"host_ip": host_ip, "host_port": _port(host, spec, allow_empty=True),
            "container_port": _port(cport, spec), "proto": proto}


def exposed(image_config: dict) -> list[dict]:
    """``-P``: every ``EXPOSE``d port of the image, each to a host port picked later.  A key is
    ``PORT[/tcp|udp]`` and nothing more (docker's form): the image says which container ports
    exist, never which host address or port they take."""
    from pycr.core import exposed_port_keys

    out = []
    for key in sorted((image_config.get("config") or {}).get("ExposedPorts") or {}):
        try:
            (key,) = exposed_port_keys(key, ranges=False)
        except ValueError as e:
            raise ConfigError(f"-P: the image's config.ExposedPorts key {e}; nothing was published") from None
        port, _, proto = key.partition("/")
        out.append({"host_ip": "", "host_port": 0, "container_port": int(port), "proto": proto})
    return out


def _kind(proto: str) -> int:
    return socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM


def _bind(p: dict) -> int:
    """Ask the kernel whether ``p``'s host port is free here (nothing listens on it); port 0:
    which one it would give.  One line naming the port when it is not.

    TCP probes with SO_REUSEADDR, so a port whose old connections linger in TIME_WAIT counts as
    free (it is: a listener may bind it) while a listener still refuses the probe.  UDP must not:
    there SO_REUSEADDR lets the probe share a port a host service holds with it too (mDNS's
    5353, avahi), and the check would pass over exactly the service a DNAT rule would hijack."""
    with socket.socket(socket.AF_INET, _kind(p["proto"])) as s:
        if p["proto"] == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((p["host_ip"] or "0.0.0.0", p["host_port"]))
        except OSError as e:
            where = f"{p['host_ip']}:" if p["host_ip"] else ""
            raise ConfigError(f"-p {where}{p['host_port']}:{p['container_port']}/{p['proto']}: "
                              f"the host port cannot be used: {e.strerror}") from None
        return s.getsockname()[1]


PICK_TRIES = 64  # random ports asked of the kernel before giving up on finding one no lease publishes


def claim(p: dict, taken: list[dict] = ()) -> dict:
    """``p`` with its host port checked free; port 0 (or a ``random`` one that is no longer
    free): picked, marked ``random``.  Published ports are DNAT rules, not sockets, so the
    kernel does not know them: a pick that clashes with one of ``taken`` (the ports other
    containers publish) is asked for again, as docker's own port allocator would skip it."""
    if p["host_port"] and not p.get("random"):
        return {**p, "host_port": _bind(p)}
    if p["host_port"] and not any(clash(p, q) for q in taken):
        with contextlib.suppress(ConfigError):
            return {**p, "host_port": _bind(p)}
    for _ in range(PICK_TRIES):
        got = {**p, "host_port": _bind({**p, "host_port": 0}), "random": True}
        if not any(clash(got, q) for q in taken):
            return got
    where = f"{p['host_ip']}:" if p["host_ip"] else ""
    raise ConfigError(f"-p {where}:{p['container_port']}/{p['proto']}: no free host port found in "
                      f"{PICK_TRIES} tries (every one the kernel offered is published by another container)")


def text(p: dict) -> str:
    """docker port's form: ``80/tcp -> 0.0.0.0:8080``."""
    return f"{p['container_port']}/{p['proto']} -> {p['host_ip'] or '0.0.0.0'}:{p['host_port']}"


def clash(p: dict, q: dict) -> bool:
    """Would ``p`` and ``q`` catch the same packets?"""
    same_ip = not p["host_ip"] or not q["host_ip"] or p["host_ip"] == q["host_ip"]
    return p["proto"] == q["proto"] and p["host_port"] == q["host_port"] and same_ip
