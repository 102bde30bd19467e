"""nftables: the whole ``ip pycr`` table rendered from the leases, applied in one libnftables batch.

Every change (attach, detach, reap, network rm/prune) re-renders the table
from the state and replaces it in one transaction (``add table; delete table;
table {...}``), so the rules always match the leases exactly, a crash can
never leave a rule whose lease is gone (the next change rewrites them), and
teardown touches nothing but our own table.  A network's rules stay while its
bridge does; with no bridge left (``pycr network prune``) the table is deleted.

Published ports are DNAT rules reached from ``prerouting`` (traffic from
outside) and ``output`` (the host's own connections, including to
127.0.0.1: the bridge gets ``route_localnet`` and loopback-sourced
connections are masqueraded so the container can answer).

``route_localnet`` also makes the kernel accept packets a container sends to
127.0.0.0/8 through the bridge (with CAP_NET_RAW, a default capability, it
can address frames to the gateway's MAC): host services bound to 127.0.0.1
would be reachable (CVE-2020-8558).  ``localnet`` drops, before conntrack and
DNAT (raw priority), every packet arriving on one of our bridges to or from
127.0.0.0/8; nothing legitimate does (replies to the host's loopback
connections come back to the gateway address, masqueraded).  Only our bridges:
on other interfaces the kernel's own martian check still holds.
"""

from __future__ import annotations

import subprocess

from pycr.core import PycrError

TABLE = "pycr"


def render(networks: dict[str, dict], leases: list[dict]) -> str | None:
    """The ruleset for ``networks`` (name -> definition: those to have rules) and the ports
    ``leases`` publish; None when there is no network."""
    if not networks:
        return None
    used = [networks[n] for n in sorted(networks)]
    publish, post, fwd = [], [], []
    for lease in leases:
        for p in lease.get("ports", []) if lease.get("network") else []:
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
    localnet = [f"iifname {{ {', '.join(bridges)} }} ip {end} 127.0.0.0/8 drop" for end in ("daddr", "saddr")]
    chains = [
        ("localnet", "type filter hook prerouting priority raw; policy accept;", localnet),
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
    lib, ctx = _libnftables()
    if lib.nft_run_cmd_from_buffer(ctx, batch.encode()) != 0:
        text = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace").strip()
        raise PycrError(f"nftables rejected the pycr table: {(text.splitlines() or ['(no message)'])[0]}")


_CTX: tuple | None = None


def _libnftables() -> tuple:
    """libnftables (what ``nft`` itself is built on, its documented C API, libnftables(3)),
    loaded once per process with output and errors buffered.  In-process, a batch costs
    ~1 ms where exec'ing ``nft -f -`` costs ~15 ms; it is the same parser and the same
    single transaction."""
    global _CTX
    if _CTX is None:
        import ctypes

        try:
            lib = ctypes.CDLL("libnftables.so.1")
        except OSError:
            raise PycrError("libnftables is not installed (Debian package nftables): the bridge network "
                            "needs it") from None
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        ctx = lib.nft_ctx_new(0)  # NFT_CTX_DEFAULT
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        _CTX = (lib, ctx)
    return _CTX


def current() -> str:
    """Our table as nft prints it ('' when it does not exist); for tests and inspection."""
    r = subprocess.run(["nft", "list", "table", "ip", TABLE], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else ""
