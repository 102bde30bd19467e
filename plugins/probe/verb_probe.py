"""``pycr probe [--strategy NAME]... [--json] [--verbose]``: isolation checks
inside one container per strategy, printed as a strategy × probe matrix."""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("--strategy", "-s", action="append",
                        help="strategy name (repeatable; `pycr bench list` shows them)")
    parser.add_argument("--json", action="store_true", help="print the full results as JSON")
    parser.add_argument("--verbose", "-v", action="store_true", help="print each probe's detail")


def run(opts, ns) -> int:
    import json
    import os

    from pycr.core import ConfigError, PycrError
    from pycr.plugins.bench.strategies import registry
    from pycr.plugins.probe import runner
    from pycr.plugins.probe.script import DESCRIPTIONS

    if os.geteuid() != 0:
        raise PycrError("pycr probe runs containers and needs root")
    known = registry()
    names = ns.strategy or list(runner.DEFAULT_STRATEGIES)
    for n in names:
        if n not in known:
            raise ConfigError(f"--strategy: {n!r} is not a known strategy; choose one of: {', '.join(known)}")
    results = runner.run([known[n] for n in names])
    if ns.json:
        print(json.dumps({"probes": DESCRIPTIONS, "results": results}, indent=1))
        return 0
    print(runner.format_matrix(results), end="")
    if ns.verbose:
        for s, probes in results.items():
            print(f"\n{s}:")
            for p, r in probes.items():
                print(f"  {p:<15} {r['verdict']:<10} {r['detail']}")
    return 0
