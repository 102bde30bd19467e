"""Phase timing for ``--trace``: how long each phase and each hook took.

With tracing off, :func:`phase` returns a shared no-op context manager and
no hook monitoring is installed, so the cost is one attribute lookup.
"""

from __future__ import annotations

import contextlib
import sys
import time

_RECORDS: list[dict] | None = None  # None: tracing is off
_NOOP = contextlib.nullcontext()


def enabled() -> bool:
    return _RECORDS is not None


def phase(name: str):
    """Time a named phase of the runtime (no-op unless tracing)."""
    if _RECORDS is None:
        return _NOOP
    return _timed("phase", name)


@contextlib.contextmanager
def _timed(kind: str, name: str, **extra):
    start = time.perf_counter()
    try:
        yield
    finally:
        _RECORDS.append({"kind": kind, "name": name, "start": start, "end": time.perf_counter(), **extra})


def attach(pm) -> None:
    """Time every hook implementation through pluggy's hook-call monitoring."""
    if _RECORDS is None:
        return
    stack: list[float] = []

    def before(hook_name, impls, kwargs):
        stack.append(time.perf_counter())

    def after(outcome, hook_name, impls, kwargs):
        start = stack.pop()
        _RECORDS.append({"kind": "hook", "name": hook_name, "start": start, "end": time.perf_counter(),
                         "plugins": [i.plugin_name for i in impls]})

    pm.add_hookcall_monitoring(before, after)


@contextlib.contextmanager
def session(opts, name: str):
    """Collect records for one command; print a timeline (and write JSON) at the end."""
    global _RECORDS
    if not getattr(opts, "trace", False) and not getattr(opts, "trace_file", None):
        yield
        return
    _RECORDS = []
    t0 = time.perf_counter()
    try:
        with _timed("command", name):
            yield
    finally:
        records, _RECORDS = _RECORDS, None
        for r in records:
            r["start_ms"] = round((r.pop("start") - t0) * 1000, 3)
            r["duration_ms"] = round(r.pop("end") * 1000 - t0 * 1000 - r["start_ms"], 3)
        records.sort(key=lambda r: r["start_ms"])
        if opts.trace:
            for r in records:
                sys.stderr.write(f"trace {r['start_ms']:9.3f} ms  {r['duration_ms']:9.3f} ms  {r['kind']:<7} {r['name']}\n")
        if opts.trace_file:
            import json

            with open(opts.trace_file, "w") as f:
                json.dump({"command": name, "records": records}, f, indent=1)
