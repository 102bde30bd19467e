"""Container state on disk: ``<root>/<id>/state.json`` plus ``exec.fifo``.

The status is never stored: it is derived each time from the kernel (is the
init alive, is it the same process, is its cgroup frozen, does the fifo still
exist), so a crash of any pycr process cannot leave a stale status.
"""

from __future__ import annotations

import os

from pycr.core.errors import ConfigError, ContainerNotFound
from pycr.core import jsonfast as json  # json.loads/dumps without importing json (re, enum)

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_ID_CHARS = _ALNUM | frozenset("_.+-")  # an id: an ASCII letter or digit, then these, 1024 at most


def _valid_id(cid: str) -> bool:
    """No regex: importing re costs more than the rest of ``pycr-oci start``."""
    return 0 < len(cid) <= 1024 and cid[0] in _ALNUM and _ID_CHARS.issuperset(cid)


OCI_VERSION = "1.0.2"


def check_id(cid: str) -> str:
    if not isinstance(cid, str) or not _valid_id(cid):
        raise ConfigError(f"invalid container id {cid!r}: use letters, digits, '_', '.', '+', '-'")
    return cid


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


class Container:
    """One container's saved state; a plain class to keep dataclasses off the hot path."""

    def __init__(self, root: str, id: str, data: dict[str, object]):
        self.root, self.id, self.data = root, id, data

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
        if not self.alive():
            return "stopped"
        if cgroup is not None:
            try:
                if cgroup.is_frozen():
                    return "paused"
            except OSError:
                pass
        return "created" if os.path.exists(self.fifo) else "running"

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
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f)
        os.replace(tmp, path)

    @classmethod
    def load(cls, root: str, cid: str) -> "Container":
        check_id(cid)
        try:
            with open(os.path.join(root, cid, "state.json")) as f:
                return cls(root, cid, json.load(f))
        except FileNotFoundError:
            raise ContainerNotFound(cid) from None
        except ValueError:
            raise ContainerNotFound(cid) from None

    @classmethod
    def ids(cls, root: str) -> list[str]:
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if not n.startswith(".") and
                      os.path.exists(os.path.join(root, n, "state.json")))
