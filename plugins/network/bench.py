"""Network drivers as ``pycr bench`` strategies (entry-point group ``pycr.bench_strategy``):
``pycr run IMAGE`` with ``--network none``, ``bridge`` and ``host``, otherwise alike.

Plain records, so the bench imports nothing of the network layer to list them.
Run the bridge strategy inside a network namespace of its own (``nsenter --net``)
unless you mean the host's bridge and firewall to be used.
"""

STRATEGIES = [
    {"name": f"pycr-img-net-{mode}", "runtime": "pycr-image", "network": mode,
     "description": f"pycr run IMAGE --network {mode}: {what}"}
    for mode, what in (("none", "a namespace with only lo"),
                       ("bridge", "veth on pycr0, address lease, nftables NAT"),
                       ("host", "the host's network namespace"))
]


def strategies() -> list[dict]:
    return [dict(s) for s in STRATEGIES]
