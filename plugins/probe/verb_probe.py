"""``pycr probe [--strategy NAME]... [--matrix FILE] [--json] [--verbose] [--fail-on-escape]``:
isolation checks inside one container per strategy, printed as a strategy ×
probe matrix with a summary; ``--fail-on-escape`` makes any escape exit 1 (for CI)."""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("--strategy", "-s", action="append",
                        help="strategy name (repeatable; `pycr bench list` shows them)")
    parser.add_argument("--matrix", help="a bench matrix file: probe its strategies (and the ones it defines)")
    parser.add_argument("--json", action="store_true", help="print the full results as JSON")
    parser.add_argument("--verbose", "-v", action="store_true", help="print each probe's detail")
    parser.add_argument("--fail-on-escape", action="store_true",
                        help="exit 1 when any probe escaped (exit 2 when a probe could not run)")


def run(opts, ns) -> int:
    import json
    import os
    import time

    from pycr.core import ConfigError, PycrError
    from pycr.plugins.bench import machine
    from pycr.plugins.bench.strategies import registry
    from pycr.plugins.probe import runner

    if os.geteuid() != 0:
        raise PycrError("pycr probe runs containers and needs root")
    if ns.matrix:
        from pycr.plugins.bench import matrix

        chosen = matrix.load(ns.matrix, strategies=ns.strategy).strategies
    else:
        known = registry()
        names = ns.strategy or list(runner.DEFAULT_STRATEGIES)
        for n in names:
            if n not in known:
                raise ConfigError(f"--strategy: {n!r} is not a known strategy; choose one of: {', '.join(known)}")
        chosen = [known[n] for n in names]
    meta: dict = {"machine": machine.facts(), "matrix": ns.matrix,
                  "strategies": {s.name: s.facts() for s in chosen}}
    results = runner.run(chosen, meta=meta)
    meta["date_end"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    summ = runner.summary(results)
    if ns.json:
        probes = meta.pop("probes")
        print(json.dumps({"probes": probes, "run": meta, "results": results, "summary": summ}, indent=1))
    else:
        print(runner.format_matrix(results), end="")
        if ns.verbose:
            for s, probes in results.items():
                print(f"\n{s}:")
                for p, r in probes.items():
                    print(f"  {p:<15} {r['verdict']:<10} {r['detail']}")
        m = meta["machine"]
        print(f"\nrun: {m['date']}, {m['hostname']}, kernel {m['kernel']}, cgroups {m['cgroup_layout']}, "
              f"pycr {m['pycr']}; raw_device target: {meta['raw_device_target']}")
        print(runner.format_summary(summ), end="")
    if ns.fail_on_escape and summ["escaped"]:
        return 1
    if ns.fail_on_escape and summ["errors"]:
        return 2
    return 0
