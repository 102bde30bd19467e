"""pycr-audit-log: one JSON line per container lifecycle event.

Every ``pycr``/``pycr-oci`` process appends to the log named by
``$PYCR_AUDIT_LOG`` (default ``/var/log/pycr/audit.jsonl``)::

    {"time": "2026-11-28T20:40:01.123456Z", "event": "created", "id": "web1",
     "status": "created", "pid": 4242, "bundle": "/srv/web1", "runtime_pid": 4240, "uid": 0}

Events: ``created``, ``started``, ``stopped`` (with ``exit_status``; only
``run`` observes the exit) and ``deleted``.  Each line is written with one
``write`` to an ``O_APPEND`` descriptor under an exclusive ``flock``, so
concurrent runtime processes never interleave lines.  A log that cannot be
written never breaks a container: the failure is reported on stderr, in one
line naming the plugin -- unless ``PYCR_AUDIT_STRICT=1``, when the hook
raises and the operation fails (fail closed).

The hooks run in the runtime process (never inside the container), which is
why ``runtime_pid`` differs between ``create``, ``start`` and ``delete``.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import sys

from pycr.core import PycrError, hookimpl

DEFAULT_LOG = "/var/log/pycr/audit.jsonl"


def log_path() -> str:
    return os.environ.get("PYCR_AUDIT_LOG") or DEFAULT_LOG


def record(event: str, state: dict, **extra) -> dict:
    """Append one event line; return what was written."""
    entry = {"time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
             "event": event, "id": state.get("id"), "status": state.get("status"), "pid": state.get("pid"),
             "bundle": state.get("bundle"), "runtime_pid": os.getpid(), "uid": os.getuid(), **extra}
    line = (json.dumps(entry, sort_keys=True) + "\n").encode()
    path = log_path()
    try:
        os.makedirs(os.path.dirname(path) or ".", mode=0o750, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError as e:
        msg = f"audit_log: cannot append to {path}: {e.strerror}"
        if os.environ.get("PYCR_AUDIT_STRICT") == "1":
            raise PycrError(msg) from None
        sys.stderr.write(f"warning: {msg}\n")
    return entry


@hookimpl
def pycr_container_created(state):
    record("created", state)


@hookimpl
def pycr_container_started(state):
    record("started", state)


@hookimpl
def pycr_container_stopped(state, exit_status):
    record("stopped", state, exit_status=exit_status)


@hookimpl
def pycr_container_deleted(state):
    record("deleted", state)
