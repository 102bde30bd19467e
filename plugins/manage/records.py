"""Container records: ``<store>/containers/<id>/container.json``.

A record holds what the user asked for (name, image, command, restart
policy, --rm) and what the monitor last wrote (status, pids, exit code,
times).  Writes are read-modify-write under an flock on the container's
``lock`` file and land with rename, so readers never see half a record and
concurrent writers never lose each other's fields.  Names are made unique
under the store-wide ``containers`` lock.

The status shown to users is never taken on trust: :func:`live_status`
checks the recorded processes against ``/proc`` (pid + start time), so a
killed monitor, init or ``pycr`` shows up as what really happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time

from pycr.core import ConfigError, PycrError, quoted

RECORD = "container.json"
LOGS = {"json-file": "json.log", "k8s-file": "ctr.log"}  # log format -> file name in the container's dir
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
MAX_NAME = 128
_ADJ = ("brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty",
        "proud", "quirky", "sharp", "tender", "vivid", "witty", "zen", "bold", "cool")
_NOUN = ("turing", "hopper", "lovelace", "ritchie", "thompson", "torvalds", "knuth", "dijkstra", "liskov",
         "hamilton", "kay", "lamport", "wirth", "backus", "cerf", "allen", "perlman", "hoare", "shannon", "noether")


def now_rfc3339() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def proc_start(pid: int | None) -> int | None:
    """Start time (clock ticks) of a live, non-zombie ``pid``; None otherwise."""
    from pycr.core import proc_start_time

    return proc_start_time(pid) if pid else None


def alive(pid: int | None, start: int | None) -> bool:
    """``pid`` still runs as the process recorded with ``start``; without a recorded
    start time nothing proves that (a gone pid's start is None too)."""
    return bool(pid) and start is not None and proc_start(pid) == start


def containers_dir(store_root: str) -> str:
    return os.path.join(store_root, "containers")


class Record:
    """One container's record; ``data`` is the JSON object."""

    def __init__(self, cdir: str, data: dict):
        self.dir, self.data = cdir, data

    id = property(lambda self: self.data["id"])
    name = property(lambda self: self.data["name"])
    state = property(lambda self: self.data.setdefault("state", {}))
    path = property(lambda self: os.path.join(self.dir, RECORD))
    log_format = property(lambda self: self.data.get("log_format", "json-file"))  # what its monitor writes
    log_path = property(lambda self: os.path.join(self.dir, LOGS[self.log_format]))
    bundle = property(lambda self: os.path.join(self.dir, "bundle"))

    @classmethod
    def load(cls, cdir: str) -> "Record":
        with open(os.path.join(cdir, RECORD)) as f:
            return cls(cdir, json.load(f))

    def reload(self) -> "Record":
        with contextlib.suppress(OSError, ValueError):
            self.data = Record.load(self.dir).data
        return self

    def save(self) -> None:
        from pycr.core import write_json_file

        write_json_file(self.path, self.data, f"container {self.data.get('name') or self.id}: cannot save its record")

    @contextlib.contextmanager
    def locked(self):
        """Hold the record's lock, reload it, and save it when the block ends."""
        import fcntl

        fd = os.open(os.path.join(self.dir, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.reload()
            yield self
            self.save()
        finally:
            os.close(fd)

    def update_state(self, **fields) -> None:
        with self.locked():
            self.state.update(fields)

    def short_id(self) -> str:
        return self.id[:12]


def log_entry(line: bytes, fmt: str) -> dict | None:
    """One line of a container's log as ``{"log", "stream", "time"}``; None if it is not one.

    ``json-file`` is docker's (the pycr monitor writes it); ``k8s-file`` is the CRI format conmon
    writes: ``TIME STREAM F|P TEXT``, where ``P`` marks a piece of a line that goes on in the next
    entry and ``F`` the piece that ends it (the newline itself is not written)."""
    if fmt == "k8s-file":
        parts = line.rstrip(b"\n").split(b" ", 3)
        if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
            return None
        text = (parts[3] if len(parts) == 4 else b"").decode("utf-8", "replace")
        return {"log": text + "\n" if parts[2] == b"F" else text, "stream": parts[1].decode(),
                "time": parts[0].decode()}
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def all_records(store_root: str) -> list[Record]:
    base = containers_dir(store_root)
    out = []
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    for n in names:
        if len(n) == 64:
            with contextlib.suppress(OSError, ValueError):
                out.append(Record.load(os.path.join(base, n)))
    out.sort(key=lambda r: r.data.get("created", ""), reverse=True)
    return out


def resolve(store_root: str, ref: str) -> Record:
    """The container called ``ref``: a name, a full id or a unique id prefix."""
    if not ref:
        raise PycrError("container name or id is empty")
    recs = all_records(store_root)
    for r in recs:
        if r.name == ref or r.id == ref:
            return r
    if re.fullmatch(r"[0-9a-f]+", ref):
        hits = [r for r in recs if r.id.startswith(ref)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise PycrError(f"container id prefix {ref!r} is ambiguous: matches {len(hits)} containers "
                            f"({', '.join(h.short_id() for h in hits[:4])}...)")
    raise PycrError(f"no such container: {ref}")


def check_name(name: str | None) -> None:
    """A container name as given to --name (None: one will be made up)."""
    if name is None:
        return
    if not _NAME.fullmatch(name):
        raise ConfigError(f"--name {quoted(name)}: use letters, digits, '_', '.', '-' "
                          "(starting with a letter or digit)")
    if len(name) > MAX_NAME:  # quoted() notes the length of a name this long
        raise ConfigError(f"--name {quoted(name)}: at most {MAX_NAME} characters")


def new_record(store, name: str | None, fields: dict) -> Record:
    """Make the container's directory and record; the name is checked and taken atomically."""
    import secrets

    check_name(name)
    base = containers_dir(store.root)
    os.makedirs(base, exist_ok=True)
    with store.lock("containers"):
        taken = {r.name: r for r in all_records(store.root)}
        if name is not None and name in taken:
            raise PycrError(f"container name {name!r} is already in use by container {taken[name].short_id()}")
        cid = secrets.token_hex(32)
        while name is None or name in taken:
            name = f"{secrets.choice(_ADJ)}_{secrets.choice(_NOUN)}"
            if name in taken:
                name += f"_{secrets.randbelow(1000)}"
        cdir = os.path.join(base, cid)
        os.mkdir(cdir, 0o700)
        rec = Record(cdir, {"id": cid, "name": name, "created": now_rfc3339(), **fields,
                            "state": {"status": "creating", "creator_pid": os.getpid(),
                                      "creator_start": proc_start(os.getpid())}})
        try:
            rec.save()
        except BaseException:
            import shutil

            shutil.rmtree(cdir, ignore_errors=True)
            raise
    return rec


def live_status(rec: Record, paused_check=None) -> dict:
    """What is true now: ``{"status", "exit_code", "error", "monitor", "running"}``.

    ``status`` is one of created, running, paused, restarting, exited, dead (a
    create that never finished), removing.
    """
    st = rec.state
    status = st.get("status", "creating")
    out = {"status": status, "exit_code": st.get("exit_code"), "error": st.get("error", ""),
           "monitor": alive(st.get("monitor_pid"), st.get("monitor_start"))}
    init_alive = alive(st.get("pid"), st.get("pid_start"))
    if status == "creating":
        if not (alive(st.get("creator_pid"), st.get("creator_start")) or out["monitor"]):
            out.update(status="dead", error=out["error"] or "pycr was killed while creating the container")
    elif status == "starting":
        if not out["monitor"] and not (alive(st.get("creator_pid"), st.get("creator_start"))
                                       and st.get("monitor_start") is None):
            out.update(status="dead", error=out["error"] or "the monitor was killed while starting the container")
    elif status in ("running", "restarting"):
        if init_alive:
            out["status"] = "running"
            if paused_check is not None and paused_check(rec):
                out["status"] = "paused"
        elif out["monitor"]:
            out["status"] = "restarting" if status == "restarting" else "exiting"
        else:
            out.update(status="exited", error=out["error"] or "the monitor died; exit code unknown")
    if st.get("foreground") and not out["monitor"] and out["status"] in ("running", "exiting", "starting"):
        # the `pycr run` holding it is gone (killed): nobody is attached, nobody will clean up
        out.update(status="dead", error=out["error"] or "its pycr run was killed")
    out["running"] = out["status"] in ("running", "paused")
    if out["running"] and not out["monitor"]:
        out["error"] = "the monitor died: the container runs unmonitored"
    return out
