"""``pycr logs [-f] [--tail N] [--since T] [--timestamps] [--details] CONTAINER``: what the monitor logged
(json-file or k8s-file, as recorded for the container: ``records.log_entry``), oldest first across rotated
files (``logfiles``, gzipped ones too); ``--details`` puts each entry's attrs (``--log-opt labels=...``)
before its text, as docker's does."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the container stops")
    p.add_argument("-n", "--tail", default="all", help="only the last N lines")
    p.add_argument("--since", metavar="T", help="only entries from T on: a unix time, an RFC 3339 time "
                                                  "(2026-01-02T15:04:05Z) or a duration ago (42m, 1h30m)")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--details", action="store_true", help="each entry's attrs first (--log-opt labels=...)")
    p.add_argument("container")


def since_time(text: str | None, now: float) -> float:
    """docker logs' ``--since`` as a unix time (0: everything): a duration (Go's units, ``1h30m``)
    is that long before ``now``; else a unix time or an RFC 3339 one."""
    import re

    from pycr.core import ConfigError, quoted
    from pycr.plugins.manage.manage import parse_time

    if not text:
        return 0.0
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)", text)
    if parts and "".join(n + u for n, u in parts) == text:
        return now - sum(float(n) * units[u] for n, u in parts)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    got = parse_time(text) if "T" in text else None
    if got is None:
        raise ConfigError(f"--since {quoted(text)}: expected a unix time, an RFC 3339 time (2026-01-02T15:04:05Z) "
                          "or a duration (42m, 1h30m)")
    return got


def _write(entry: dict, ns, since: float) -> None:
    import sys

    from pycr.plugins.manage.logfiles import entry_text
    from pycr.plugins.manage.manage import parse_time

    if since and (parse_time(entry.get("time")) or 0) < since:
        return
    text = entry_text(entry, ns.timestamps, ns.details)
    stream = sys.stderr if entry.get("stream") == "stderr" else sys.stdout
    stream.write(text)
    stream.flush()


def run(opts, ns) -> int:
    import os
    import time

    from pycr.core import ConfigError
    from pycr.plugins.manage import logfiles, manage, records

    since = since_time(getattr(ns, "since", None), time.time())
    rec = manage.resolve(ns.container)
    if ns.tail != "all":
        try:
            tail = int(ns.tail)
        except ValueError:
            raise ConfigError(f"--tail: {ns.tail!r} is not a number (or 'all')") from None
    else:
        tail = None
    reader = logfiles.Reader(rec.log_path, rec.log_format)
    try:
        entries = reader.read()
        for entry in (entries if tail is None else entries[-tail:] if tail > 0 else []):
            _write(entry, ns, since)
        while ns.follow:
            entries = reader.read()
            for entry in entries:
                _write(entry, ns, since)
            if entries:
                continue
            if not os.path.exists(rec.path):
                return 0
            rec.reload()
            st = records.live_status(rec)
            if st["status"] in ("exited", "dead", "created") and not st["monitor"]:
                for entry in reader.read():  # what it wrote last, after the read above
                    _write(entry, ns, since)
                return 0
            time.sleep(0.1)
    finally:
        reader.close()
    return 0
