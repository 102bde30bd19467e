"""Phase timing for ``--trace`` / ``--trace-file``: how long each runtime
phase, each hook call and each plugin's hook implementation took.

Why it costs nothing when off: :func:`phase` returns one shared no-op context
manager after a single global check, and pluggy's hook-call monitoring is
only installed (by :func:`attach`) when a command was asked to trace.  The
per-implementation timing wraps ``HookImpl.function`` lazily, the first time
a traced hook is called, so plugins registered late are timed too and an
untraced run never sees a wrapper.

A record is ``{"kind", "name", "start_ms", "duration_ms", "depth", ...}``;
kinds are ``command``, ``phase``, ``hook`` (one hook call, all its
implementations) and ``impl`` (one implementation, with its ``plugin``).
The JSON file (``--trace-file``) also carries per-phase and per-plugin totals,
which ``pycr bench`` stores with every sample.
"""

from __future__ import annotations

import sys
import time

_RECORDS: list[dict] | None = None  # None: tracing is off
_DEPTH = 0


class _Noop:
    """What :func:`phase` and :func:`session` return when not tracing (contextlib, with the
    collections and functools it imports, would cost ~3 ms of every command's start-up)."""

    __slots__ = ()

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


_NOOP = _Noop()
_ATTACHED: set[int] = set()  # id() of plugin managers already monitored


def enabled() -> bool:
    return _RECORDS is not None


def phase(name: str):
    """Time a named phase of the runtime (no-op unless tracing)."""
    if _RECORDS is None:
        return _NOOP
    return _timed("phase", name)


class _timed:
    """Records the span of its ``with`` block (a record of ``kind`` called ``name``)."""

    __slots__ = ("kind", "name", "extra", "start", "depth")

    def __init__(self, kind: str, name: str, **extra):
        self.kind, self.name, self.extra = kind, name, extra

    def __enter__(self):
        global _DEPTH
        self.start = time.perf_counter()
        self.depth = _DEPTH
        _DEPTH += 1

    def __exit__(self, *exc):
        global _DEPTH
        _DEPTH = self.depth
        if _RECORDS is not None:
            _RECORDS.append({"kind": self.kind, "name": self.name, "start": self.start, "end": time.perf_counter(),
                             "depth": self.depth, **self.extra})
        return False


def _timed_impl(hook_name: str, impl):
    """Replace ``impl.function`` by a wrapper that records its duration."""
    inner = impl.function
    plugin = impl.plugin_name

    def traced(*args, **kwargs):
        global _DEPTH
        if _RECORDS is None:
            return inner(*args, **kwargs)
        start = time.perf_counter()
        depth = _DEPTH
        _DEPTH += 1
        try:
            return inner(*args, **kwargs)
        finally:
            _DEPTH = depth
            if _RECORDS is not None:
                _RECORDS.append({"kind": "impl", "name": hook_name, "plugin": plugin, "start": start,
                                 "end": time.perf_counter(), "depth": depth})

    traced.__wrapped__ = inner  # pluggy reads argument names through inspect.unwrap
    traced._pycr_traced = True
    impl.function = traced


def attach(pm) -> None:
    """Time every hook call and hook implementation of pluggy manager ``pm``.

    Call it only when tracing was asked for; it is idempotent, and records
    are kept only while a :func:`session` is open.
    """
    if id(pm) in _ATTACHED:
        return
    _ATTACHED.add(id(pm))
    stack: list[tuple[float, int]] = []

    def before(hook_name, impls, kwargs):
        global _DEPTH
        for impl in impls:
            # new-style and old-style wrappers must stay generator functions
            if not (impl.wrapper or impl.hookwrapper or getattr(impl.function, "_pycr_traced", False)):
                _timed_impl(hook_name, impl)
        stack.append((time.perf_counter(), _DEPTH))
        _DEPTH += 1

    def after(outcome, hook_name, impls, kwargs):
        global _DEPTH
        start, depth = stack.pop()
        _DEPTH = depth
        if _RECORDS is not None:
            _RECORDS.append({"kind": "hook", "name": hook_name, "start": start, "end": time.perf_counter(),
                             "depth": depth, "plugins": [i.plugin_name for i in impls]})

    pm.add_hookcall_monitoring(before, after)


def summarize(records: list[dict]) -> dict:
    """Totals in ms: ``phases`` by name, ``plugins`` by plugin (impl time)."""
    phases: dict[str, float] = {}
    plugins: dict[str, float] = {}
    for r in records:
        if r["kind"] == "phase":
            phases[r["name"]] = round(phases.get(r["name"], 0.0) + r["duration_ms"], 3)
        elif r["kind"] == "impl":
            plugins[r["plugin"]] = round(plugins.get(r["plugin"], 0.0) + r["duration_ms"], 3)
    return {"phases": phases, "plugins": plugins}


def format_timeline(records: list[dict]) -> str:
    lines = []
    for r in records:
        who = f" [{r['plugin']}]" if r["kind"] == "impl" else ""
        lines.append(f"trace {r['start_ms']:9.3f} ms {r['duration_ms']:9.3f} ms  {r['kind']:<7} "
                     f"{'  ' * r['depth']}{r['name']}{who}\n")
    return "".join(lines)


def session(opts, name: str):
    """Collect records for one command; print a timeline (and write JSON) at the end."""
    if not getattr(opts, "trace", False) and not getattr(opts, "trace_file", None):
        return _NOOP
    import contextlib

    return contextlib.contextmanager(_session)(opts, name)


def _session(opts, name: str):
    global _RECORDS, _DEPTH
    _RECORDS, _DEPTH = [], 0
    startup_cpu = time.process_time() * 1000  # interpreter start and imports: CPU before the command
    t0 = time.perf_counter()
    try:
        with _timed("command", name):
            yield
    finally:
        records, _RECORDS = _RECORDS, None
        for r in records:
            start, end = r.pop("start"), r.pop("end")
            r["start_ms"] = round((start - t0) * 1000, 3)
            r["duration_ms"] = round((end - start) * 1000, 3)
        records.sort(key=lambda r: (r["start_ms"], r["depth"]))
        if getattr(opts, "trace", False):
            sys.stderr.write(f"trace startup   {startup_cpu:9.3f} ms CPU before the command "
                             f"(interpreter start, imports)\n" + format_timeline(records))
        if getattr(opts, "trace_file", None):
            import json
            import os

            data = {"command": name, "pid": os.getpid(), "startup_cpu_ms": round(startup_cpu, 3),
                    "records": records, **summarize(records)}
            with open(opts.trace_file, "w") as f:
                json.dump(data, f, indent=1)
