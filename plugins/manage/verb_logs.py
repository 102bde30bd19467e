"""``pycr logs [-f] [--tail N] [--timestamps] [--details] CONTAINER``: what the monitor logged (json-file or k8s-file,
as recorded for the container: ``records.log_entry``), oldest first across rotated files (``logfiles``);
``--details`` puts each entry's attrs (``--log-opt labels=...``) before its text, as docker's does."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the container stops")
    p.add_argument("-n", "--tail", default="all", help="only the last N lines")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--details", action="store_true", help="each entry's attrs first (--log-opt labels=...)")
    p.add_argument("container")


def _write(entry: dict, timestamps: bool, details: bool) -> None:
    import sys

    from pycr.plugins.manage.logfiles import details as attrs_text

    text = entry.get("log", "")
    if details:
        text = attrs_text(entry) + text
    if timestamps:
        text = f"{entry.get('time', '')} {text}"
    stream = sys.stderr if entry.get("stream") == "stderr" else sys.stdout
    stream.write(text)
    stream.flush()


def run(opts, ns) -> int:
    import os
    import time

    from pycr.core import ConfigError
    from pycr.plugins.manage import logfiles, manage, records

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
            _write(entry, ns.timestamps, ns.details)
        while ns.follow:
            entries = reader.read()
            for entry in entries:
                _write(entry, ns.timestamps, ns.details)
            if entries:
                continue
            if not os.path.exists(rec.path):
                return 0
            rec.reload()
            st = records.live_status(rec)
            if st["status"] in ("exited", "dead", "created") and not st["monitor"]:
                for entry in reader.read():  # what it wrote last, after the read above
                    _write(entry, ns.timestamps, ns.details)
                return 0
            time.sleep(0.1)
    finally:
        reader.close()
    return 0
