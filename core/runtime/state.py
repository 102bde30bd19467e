"""Container state on disk: ``<root>/<id>/state.json`` plus ``exec.fifo``.

The status is never stored: it is derived each time from the kernel (is the
init alive, is it the same process, is its cgroup frozen, does the fifo still
exist), so a crash of any pycr process cannot leave a stale status.
"""

from __future__ import annotations

import os

from pycr.core.errors import ConfigError, ContainerNotFound, StateError, quoted
from pycr.core import jsonfast as json  # json.loads/dumps without importing json (re, enum)

#: the id names a directory and (as pycr-<id>) a cgroup: one path component, at most NAME_MAX
MAX_ID = 250
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_ID_CHARS = _ALNUM | frozenset("_.+-")  # an id: an ASCII letter or digit, then these


def _valid_id(cid: str) -> bool:
    """No regex: importing re costs more than the rest of ``pycr-oci start``."""
    return cid != "" and cid[0] in _ALNUM and _ID_CHARS.issuperset(cid)


OCI_VERSION = "1.0.2"


def check_id(cid: str) -> str:
    if not isinstance(cid, str) or not _valid_id(cid):
        raise ConfigError(f"invalid container id {quoted(cid)}: use letters, digits, '_', '.', '+', '-'")
    if len(cid) > MAX_ID:
        raise ConfigError(f"invalid container id {quoted(cid)}: at most {MAX_ID} characters")
    return cid


def write_json_file(path: str, data: object, what: str) -> None:
    """Write ``data`` to ``path`` through a temp file and rename: readers see the
    old or the new file, never half of one; a full disk leaves no temp file and
    is one line (``what: path: reason``)."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        from pycr.core.errors import PycrError

        raise PycrError(f"{what}: {path}: {e.strerror}") from None


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat),
    or None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


class CorruptState(StateError):
    """``state.json`` is not what create wrote (a damaged disk, a hand edit): one line naming the
    container and the field, never a traceback, a wrong status, or a read of the wrong file."""

    def __init__(self, cid: str, what: str):
        super().__init__(f"container {cid}: state.json: {what}")
        self.field = what


def _str_dict(v) -> bool:
    return isinstance(v, dict) and all(isinstance(x, str) for x in v.values())


def _hook(h) -> bool:
    return (isinstance(h, dict) and isinstance(h.get("path"), str) and h["path"].startswith("/")
            and all(isinstance(h.get(k) or [], list) and all(isinstance(a, str) for a in h.get(k) or [])
                    for k in ("args", "env"))
            and (h.get("timeout") is None or type(h["timeout"]) is int and h["timeout"] > 0))


#: each field the verbs read -> (its test, what it must be); a field create did not write is absent
_FIELDS = {
    "pid": (lambda v: type(v) is int and v > 0, "a process id (a whole number above 0)"),
    "pid_start": (lambda v: v is None or type(v) is int and v >= 0, "a start time in clock ticks or null"),
    "bundle": (lambda v: isinstance(v, str), "a path"),
    "rootfs": (lambda v: isinstance(v, str), "a path"),
    "created": (lambda v: isinstance(v, str), "a time stamp"),
    "owner": (lambda v: isinstance(v, str), "a user name"),
    "annotations": (_str_dict, "an object of strings"),
    "no_process": (lambda v: isinstance(v, bool), "true or false"),
    "freezer": (lambda v: isinstance(v, list) and all(
        isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and e[0].startswith("/")
        and isinstance(e[1], str) for e in v), "a list of [absolute path, line] pairs"),
    "hooks": (lambda v: isinstance(v, dict) and all(
        k in ("poststart", "poststop") and isinstance(h, list) and all(map(_hook, h)) for k, h in v.items()),
        "poststart/poststop lists of hooks with an absolute path"),
    "cgroup": (lambda v: v is None or isinstance(v, dict) and isinstance(v.get("driver"), str)
               and isinstance(v.get("container_id"), str), "null or an object with a driver and a container_id"),
}


def check_state(cid: str, data) -> list[CorruptState]:
    """What is wrong with ``data`` (a container's parsed state.json), field by field."""
    if not isinstance(data, dict):
        return [CorruptState(cid, f"not a JSON object but {type(data).__name__}")]
    return [CorruptState(cid, f"field {key!r} is not {what}: {quoted(data[key])}")
            for key, (ok, what) in _FIELDS.items() if key in data and not ok(data[key])]


class Container:
    """One container's saved state; a plain class to keep dataclasses off the hot path."""

    def __init__(self, root: str, id: str, data: dict[str, object]):
        self.root, self.id, self.data = root, id, data
        self.damage: list[CorruptState] = []  # what load(salvage=True) dropped

    @property
    def dir(self) -> str:
        return os.path.join(self.root, self.id)

    @property
    def fifo(self) -> str:
        return os.path.join(self.dir, "exec.fifo")

    @property
    def pid(self) -> int:
        return self.data.get("pid", 0)

    def alive(self) -> bool:
        return bool(self.pid) and proc_start_time(self.pid) == self.data.get("pid_start")

    def status(self, cgroup=None) -> str:
        """Derived from the kernel; ``cgroup`` (the driver) tells paused apart, else the freezer
        files its driver named at create (:meth:`frozen`)."""
        if not self.alive():
            return "stopped"
        try:
            if cgroup.is_frozen() if cgroup is not None else self.frozen():
                return "paused"
        except OSError:
            pass
        return "created" if os.path.exists(self.fifo) else "running"

    def knows_freezer(self) -> bool:
        """Whether :meth:`frozen` can answer without the cgroup driver (create recorded its
        ``freezer_files``, or the container has no cgroup)."""
        return "freezer" in self.data or not self.data.get("cgroup")

    def frozen(self) -> bool:
        """The recorded freezer files say frozen: one holds its line (a missing file: destroyed)."""
        for path, line in self.data.get("freezer") or ():
            try:
                with open(path) as f:
                    if line in f.read().splitlines():
                        return True
            except FileNotFoundError:
                pass
        return False

    def oci_state(self, status: str | None = None) -> dict[str, object]:
        """The runtime-spec state object (what hooks get on stdin)."""
        status = status or self.status()
        return {
            "ociVersion": OCI_VERSION, "id": self.id, "status": status,
            "pid": self.pid if status != "stopped" else 0,
            "bundle": self.data.get("bundle", ""), "annotations": self.data.get("annotations", {}),
        }

    def save(self) -> None:
        path = os.path.join(self.dir, "state.json")
        write_json_file(path, self.data, f"container {self.id}: cannot save its state")

    @classmethod
    def load(cls, root: str, cid: str, salvage: bool = False) -> "Container":
        """The container's state; :class:`CorruptState` when state.json is not what create wrote.
        ``salvage``: keep the fields that are sound instead (``delete --force``); ``.damage``
        lists what was dropped."""
        check_id(cid)
        try:
            with open(os.path.join(root, cid, "state.json"), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise ContainerNotFound(cid) from None
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as e:
            why = "nested too deeply" if isinstance(e, RecursionError) else (str(e).splitlines() or [""])[0][:80]
            problems = [CorruptState(cid, f"not valid JSON ({why})")]
            data = {}
        else:
            problems = check_state(cid, data)
            if not isinstance(data, dict):
                data = {}
        if problems and not salvage:
            raise problems[0]
        c = cls(root, cid, {k: v for k, v in data.items() if k not in _FIELDS or _FIELDS[k][0](v)})
        c.damage = problems
        return c

    @classmethod
    def ids(cls, root: str) -> list[str]:
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if not n.startswith(".") and
                      os.path.exists(os.path.join(root, n, "state.json")))
