"""The study design: strategies × workloads × repeats, and its schedule.

A matrix file is TOML (or JSON with the same keys)::

    repeat = 10          # measured runs per cell
    warmup = 2           # runs per cell discarded before measuring
    seed = 1             # the randomized order is reproducible
    strategies = ["pycr-v1-pivot", "runc"]
    workloads = ["true", "fork"]

    [[strategy]]         # define (or derive) strategies
    name = "pycr-v1-nouts"
    base = "pycr-v1-pivot"
    drop_namespaces = ["uts"]

    [[workload]]
    name = "sleep"
    args = ["/bin/sleep", "0.1"]
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pycr.core import ConfigError
from pycr.plugins.bench import strategies as S
from pycr.plugins.bench.workloads import BUILTIN as BUILTIN_WORKLOADS, Workload

DEFAULT_STRATEGIES = ("pycr-v1-pivot", "pycr-v1-nopivot", "pycr-v1-chroot", "pycr-none-pivot",
                      "pycr-v2-pivot", "pycr-v1-nonet", "pycr-v1-userns", "pycr-img-overlay", "pycr-img-chroot",
                      "runc", "crun")


@dataclass
class Matrix:
    strategies: list[S.Strategy]
    workloads: list[Workload]
    repeat: int = 10
    warmup: int = 2
    seed: int | None = None
    source: str = "built-in"

    def schedule(self) -> list[tuple[int, bool, S.Strategy, Workload]]:
        """(index, is_warmup, strategy, workload) in run order: all warm-ups
        first, then the measured runs, each block shuffled across cells so
        drift over time (thermal, page cache, other load) hits every cell alike."""
        rng = random.Random(self.seed)
        cells = [(s, w) for s in self.strategies for w in self.workloads]
        warm = [(True, s, w) for _ in range(self.warmup) for s, w in cells]
        measured = [(False, s, w) for _ in range(self.repeat) for s, w in cells]
        rng.shuffle(warm)
        rng.shuffle(measured)
        return [(i, *item) for i, item in enumerate(warm + measured)]


def _pick(names, known: dict, what: str, path: str):
    out = []
    for n in names:
        if n not in known:
            raise ConfigError(f"{path}: {what} {n!r} is not defined; choose one of: {', '.join(known)}")
        out.append(known[n])
    return out


def load(path: str | None = None, *, strategies: list[str] | None = None, workloads: list[str] | None = None,
         repeat: int | None = None, warmup: int | None = None, seed: int | None = None) -> Matrix:
    """Build the matrix from a file (or the defaults), then apply command-line overrides."""
    data: dict = {}
    where = path or "built-in matrix"
    if path:
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise ConfigError(f"{path}: {e.strerror}") from None
        try:
            if path.endswith(".json"):
                import json

                data = json.loads(raw)
            else:
                import tomllib

                data = tomllib.loads(raw.decode())
        except ValueError as e:
            raise ConfigError(f"{path}: not a valid matrix file: {e}") from None
    unknown = set(data) - {"repeat", "warmup", "seed", "strategies", "workloads", "strategy", "workload"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    known_s = S.registry()
    for i, d in enumerate(data.get("strategy", [])):
        d = dict(d)
        if "name" not in d:
            raise ConfigError(f"{where}: strategy[{i}] needs a name")
        base = known_s.get(d.pop("base", "pycr-v1-pivot"))
        if base is None:
            raise ConfigError(f"{where}: strategy[{i}].base is not a known strategy")
        known_s[d["name"]] = S.derive(base, description=d.pop("description", ""), **d)
    known_w = {w.name: w for w in BUILTIN_WORKLOADS}
    for i, d in enumerate(data.get("workload", [])):
        if "name" not in d or not d.get("args"):
            raise ConfigError(f"{where}: workload[{i}] needs a name and args")
        known_w[d["name"]] = Workload(d["name"], tuple(d["args"]), d.get("description", ""), d.get("memory_limit"))
    m = Matrix(
        strategies=_pick(strategies or data.get("strategies") or DEFAULT_STRATEGIES, known_s, "strategy",
                         "--strategy" if strategies else where),
        workloads=_pick(workloads or data.get("workloads") or list(known_w), known_w, "workload",
                        "--workload" if workloads else where),
        repeat=repeat if repeat is not None else int(data.get("repeat", 10)),
        warmup=warmup if warmup is not None else int(data.get("warmup", 2)),
        seed=seed if seed is not None else data.get("seed"),
        source=path or "built-in",
    )
    if m.repeat < 1 or m.warmup < 0:
        raise ConfigError(f"{where}: repeat must be >= 1 and warmup >= 0 (got {m.repeat}, {m.warmup})")
    return m
