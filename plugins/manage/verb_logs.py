"""``pycr logs [-f] [--tail N] [--timestamps] CONTAINER``: what the monitor logged (json-file or k8s-file,
as recorded for the container: ``records.log_entry``)."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the container stops")
    p.add_argument("-n", "--tail", default="all", help="only the last N lines")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("container")


def _write(entry: dict | None, timestamps: bool) -> None:
    import sys

    if entry is None:
        return
    text = entry.get("log", "")
    if timestamps:
        text = f"{entry.get('time', '')} {text}"
    stream = sys.stderr if entry.get("stream") == "stderr" else sys.stdout
    stream.write(text)
    stream.flush()


def run(opts, ns) -> int:
    import os
    import time

    from pycr.core import ConfigError
    from pycr.plugins.manage import manage, records

    rec = manage.resolve(ns.container)
    if ns.tail != "all":
        try:
            tail = int(ns.tail)
        except ValueError:
            raise ConfigError(f"--tail: {ns.tail!r} is not a number (or 'all')") from None
    else:
        tail = None
    try:
        f = open(rec.log_path, "rb")
    except FileNotFoundError:
        f = None
    pending = b""
    if f is not None:
        # entries end at "\n" only: splitlines() would also end one at a "\r" the container
        # wrote, and the text after it would read as an entry of its own (forged stream and time)
        *lines, pending = f.read().split(b"\n")
        for line in (lines if tail is None else lines[-tail:] if tail > 0 else []):
            _write(records.log_entry(line, rec.log_format), ns.timestamps)
    if not ns.follow:
        return 0
    while True:
        if f is None:
            try:
                f = open(rec.log_path, "rb")
            except FileNotFoundError:
                pass
        chunk = f.read() if f is not None else b""
        if chunk:
            pending += chunk
            *done, pending = pending.split(b"\n")
            for line in done:
                if line:
                    _write(records.log_entry(line, rec.log_format), ns.timestamps)
            continue
        if not os.path.exists(rec.path):
            return 0
        rec.reload()
        st = records.live_status(rec)
        if st["status"] in ("exited", "dead", "created") and not st["monitor"]:
            return 0
        time.sleep(0.1)
