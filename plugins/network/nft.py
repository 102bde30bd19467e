"""nftables: the whole ``ip pycr`` table rendered from the leases, applied in one ``nft -f -``.

Every change (attach, detach, reap) re-renders the table from the state and
replaces it in one transaction (``add table; delete table; table {...}``), so
the rules always match the leases exactly, a crash can never leave a rule
whose lease is gone (the next change rewrites them), and teardown touches
nothing but our own table.  With no lease left the table is deleted.

Published ports are DNAT rules reached from ``prerouting`` (traffic from
outside) and ``output`` (the host's own connections, including to
127.0.0.1: the bridge gets ``route_localnet`` and loopback-sourced
connections are masqueraded so the container can answer).
"""

from __future__ import annotations

import subprocess

from pycr.core import PycrError

TABLE = "pycr"


def render(networks: dict[str, dict], leases: list[dict]) -> str | None:
    """The ruleset for ``leases`` (``networks``: name -> definition); None when there is nothing."""
    if not leases:
        return None
    used = [networks[n] for n in sorted({x["network"] for x in leases}) if n in networks]
    publish, post, fwd = [], [], []
    for lease in leases:
        for p in lease.get("ports", []):
            match = f"ip daddr {p['host_ip']} " if p["host_ip"] not in ("", "0.0.0.0") else ""
            publish.append(f"{match}{p['proto']} dport {p['host_port']} dnat to {lease['ip']}:{p['container_port']}")
    bridges = [f'"{n["bridge"]}"' for n in used]
    for n in used:
        br, sub = f'"{n["bridge"]}"', n["subnet"]
        post.append(f"ip saddr {sub} ip daddr != {sub} masquerade")
        post.append(f"oifname {br} ip saddr 127.0.0.0/8 masquerade")
        others = [b for b in bridges if b != br]
        if others:  # networks are isolated from each other, as docker's
            fwd.append(f"iifname {br} oifname {{ {', '.join(others)} }} drop")
        fwd.append(f"iifname {br} accept")
        fwd.append(f"oifname {br} ct state established,related accept")
        fwd.append(f"oifname {br} ct status dnat accept")
    local = ["fib daddr type local jump publish"]
    chains = [
        ("publish", "", publish),
        ("prerouting", "type nat hook prerouting priority dstnat; policy accept;", local),
        ("output", "type nat hook output priority -100; policy accept;", local),
        ("postrouting", "type nat hook postrouting priority srcnat; policy accept;", post),
        ("forward", "type filter hook forward priority filter; policy accept;", fwd),
    ]
    body = [line for name, base, rules in chains for line in (f"chain {name} {{", base, *rules, "}") if line]
    return f"table ip {TABLE} {{\n" + "\n".join(body) + "\n}\n"


def apply(ruleset: str | None) -> None:
    """Replace our table with ``ruleset`` (None: remove it) in one transaction."""
    batch = f"add table ip {TABLE}\ndelete table ip {TABLE}\n" + (ruleset or "")
    try:
        r = subprocess.run(["nft", "-f", "-"], input=batch, capture_output=True, text=True)
    except FileNotFoundError:
        raise PycrError("nft is not installed (Debian package nftables): the bridge network needs it") from None
    if r.returncode != 0:
        first = (r.stderr.strip().splitlines() or ["(no message)"])[0]
        raise PycrError(f"nftables rejected the pycr table: {first}")


def current() -> str:
    """Our table as nft prints it ('' when it does not exist); for tests and inspection."""
    r = subprocess.run(["nft", "list", "table", "ip", TABLE], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else ""
