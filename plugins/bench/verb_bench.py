"""``pycr bench``: run a strategies × workloads study, or redraw its report.

    pycr bench [--matrix FILE] [--repeat N] [--warmup N] [--output DIR] [-s NAME]... [-w NAME]...
    pycr bench report DIR        # recompute the summary and redraw the plots
    pycr bench list              # strategies and workloads known here
    pycr bench compare A.json B.json   # two result sets, the same statistics
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("action", nargs="?", choices=["run", "report", "list", "compare"], default="run")
    parser.add_argument("dir", nargs="*", help="results directory (for `report`); two results.json (for `compare`)")
    parser.add_argument("--matrix", help="matrix file (TOML or JSON)")
    parser.add_argument("--repeat", type=int, help="measured runs per cell (default 10)")
    parser.add_argument("--warmup", type=int, help="discarded runs per cell before measuring (default 2)")
    parser.add_argument("--seed", type=int, help="seed of the randomized order")
    parser.add_argument("--output", "-o", default="bench-results", help="results directory")
    parser.add_argument("--strategy", "-s", action="append", help="only these strategies (repeatable)")
    parser.add_argument("--workload", "-w", action="append", help="only these workloads (repeatable)")
    parser.add_argument("--no-plots", action="store_true", help="write CSV/JSON/summary only")


def run(opts, ns) -> int:
    import sys

    from pycr.plugins.bench import report

    if ns.action == "list":
        return _list()
    if ns.action == "compare":
        from pycr.core import ConfigError
        from pycr.plugins.bench import compare

        if len(ns.dir) != 2:
            raise ConfigError("bench compare needs two results (results.json files or their directories)")
        sys.stdout.write(compare.format_comparison(*(report.load(p) for p in ns.dir), names=ns.dir))
        return 0
    if len(ns.dir) > 1:
        from pycr.core import ConfigError

        raise ConfigError(f"bench {ns.action}: one directory expected, got {len(ns.dir)}")
    if ns.action == "report":
        outdir = ns.dir[0] if ns.dir else ns.output
        result = report.load(outdir)
        report.write(outdir, result)
        for path in report.plot(outdir, result):
            print(path)
        sys.stdout.write(report.format_summary(result))
        return 0
    return _run(opts, ns)


def _list() -> int:
    from pycr.plugins.bench.strategies import registry
    from pycr.plugins.bench.workloads import BUILTIN

    print("strategies:")
    for s in registry().values():
        why = s.unavailable()
        print(f"  {s.name:<18} {s.description}{'  [unavailable: ' + why + ']' if why else ''}")
    print("workloads:")
    for w in BUILTIN:
        print(f"  {w.name:<18} {w.description}")
    return 0


def _run(opts, ns) -> int:
    import os
    import sys
    import time

    from pycr.core import PycrError, warn
    from pycr.plugins.bench import machine, matrix, report
    from pycr.plugins.bench.progress import Progress
    from pycr.plugins.bench.runner import Runner

    if os.geteuid() != 0:
        raise PycrError("pycr bench runs containers and needs root")
    m = matrix.load(ns.matrix, strategies=ns.strategy, workloads=ns.workload, repeat=ns.repeat,
                    warmup=ns.warmup, seed=ns.seed)
    if m.seed is None:
        m.seed = int.from_bytes(os.urandom(4), "little")
    facts = machine.facts()
    os.makedirs(ns.output, exist_ok=True)
    partial = open(os.path.join(ns.output, "samples.jsonl"), "w")  # one line per sample, as it is measured
    import json

    def _keep(sample):
        partial.write(json.dumps(sample) + "\n")
        partial.flush()

    pycr_globals = [a for p in opts.plugin_opts for a in ("-p", p)]  # -p no:NAME reaches every pycr cell
    runner = Runner(m, progress=Progress(0), pycr_globals=pycr_globals, on_sample=_keep)
    import signal

    def _stop(signum, frame):  # SIGTERM stops like Ctrl-C: the running container is deleted, results kept
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        outcome = runner.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        partial.close()
    facts["loadavg_end"] = round(os.getloadavg()[0], 2)
    facts["date_end"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    from dataclasses import asdict

    result = {
        "machine": facts,
        "matrix": {"source": m.source, "file": m.text, "repeat": m.repeat,
                   "warmup": m.warmup, "seed": m.seed, "pycr_globals": pycr_globals,
                   "strategies": [s.name for s in m.strategies], "workloads": [w.name for w in m.workloads],
                   "warmup_runs_discarded": outcome.warmups},
        "strategies": {s.name: {**s.facts(), "fields": asdict(s), "description": s.description,
                                "loaded": outcome.loaded.get(s.name)} for s in m.strategies},
        "workloads": {w.name: {"args": list(w.args), "description": w.description,
                               "memory_limit": w.memory_limit} for w in m.workloads},
        "skipped": outcome.skipped,
        "interrupted": outcome.interrupted,
        "samples": outcome.samples,
    }
    report.write(ns.output, result)
    if not ns.no_plots and outcome.samples:
        try:
            report.plot(ns.output, result)
        except PycrError as e:
            warn(str(e))
    sys.stdout.write(report.format_summary(result))
    print(f"results: {os.path.join(ns.output, 'results.json')}")
    if outcome.interrupted:
        sys.stderr.write(f"bench: interrupted; {len(outcome.samples)} measured samples kept in {ns.output}\n")
        return 130
    if not outcome.samples:
        sys.stderr.write("bench: no strategy could run here (every one was skipped; reasons above)\n"
                         if outcome.skipped and len(outcome.skipped) == len(m.strategies)
                         else "bench: no sample succeeded\n")
        return 1
    return 0
