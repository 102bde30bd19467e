"""``pycr bench``: run a strategies × workloads study, or redraw its report.

    pycr bench [--matrix FILE] [--repeat N] [--warmup N] [--output DIR] [-s NAME]... [-w NAME]...
    pycr bench report DIR        # recompute the summary and redraw the plots
    pycr bench list              # strategies and workloads known here
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("action", nargs="?", choices=["run", "report", "list"], default="run")
    parser.add_argument("dir", nargs="?", help="results directory (for `report`)")
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
    if ns.action == "report":
        outdir = ns.dir or ns.output
        result = report.load(outdir)
        report.write(outdir, result)
        for path in report.plot(outdir, result):
            print(path)
        sys.stdout.write(report.format_summary(result))
        return 0
    return _run(ns)


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


def _run(ns) -> int:
    import os
    import sys

    from pycr.core import PycrError
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
    runner = Runner(m, progress=Progress(0))
    import signal

    def _stop(signum, frame):  # SIGTERM cleans up like Ctrl-C: the running container is deleted
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        outcome = runner.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    facts["loadavg_end"] = round(os.getloadavg()[0], 2)
    result = {
        "machine": facts,
        "matrix": {"source": m.source, "repeat": m.repeat, "warmup": m.warmup, "seed": m.seed,
                   "strategies": [s.name for s in m.strategies], "workloads": [w.name for w in m.workloads],
                   "warmup_runs_discarded": outcome.warmups},
        "strategies": {s.name: {**s.facts(), "description": s.description} for s in m.strategies},
        "workloads": {w.name: {"args": list(w.args), "description": w.description,
                               "memory_limit": w.memory_limit} for w in m.workloads},
        "skipped": outcome.skipped,
        "samples": outcome.samples,
    }
    report.write(ns.output, result)
    if not ns.no_plots:
        try:
            report.plot(ns.output, result)
        except PycrError as e:
            sys.stderr.write(f"warning: {e}\n")
    sys.stdout.write(report.format_summary(result))
    print(f"results: {os.path.join(ns.output, 'results.json')}")
    return 0 if outcome.samples else 1
