"""The cgroup v2 driver: one directory in the unified hierarchy per container.

Where the container goes: under the caller's own cgroup in the unified
hierarchy (``/proc/self/cgroup`` line ``0::<path>``), at ``<root>`` on a pure
v2 host or ``<root>/unified`` on a hybrid one.  On a hybrid host the
controllers usually belong to v1, so the container still gets freeze,
kill-all, ``cgroup.events`` and the device filter, while any limit whose
controller is missing in v2 is refused with a one-line error naming it.

The "no internal processes" rule: a non-root cgroup that holds processes
cannot enable domain controllers (memory, io, hugetlb ...) for its children.  The container's cgroup is
always a leaf, and controllers are enabled in ``cgroup.subtree_control``
from the caller's cgroup down to the container's parent, only for the
controllers a limit needs.  When the caller's own cgroup holds processes
(pycr itself, typically) and lacks a needed controller, the error says so.
"""

from __future__ import annotations

import os
import _signal as signal  # signal.py builds its enums (~3 ms of every run); the numbers suffice
import time

from pycr.core import CgroupDriver, ConfigError, PycrError, container_cgroup_path, own_cgroup_paths

TYPE_CHECKING = False  # typing (~2 ms) for annotations only; writers (dataclasses) only for limits:
if TYPE_CHECKING:  # neither is on the path of start, kill or delete
    from typing import Any

#: Controllers enabled (best effort) at create so that stats() has data.
ACCOUNTING = ("memory", "pids", "cpu", "io")
#: Threaded controllers may be enabled in a cgroup that holds processes; the
#: kernel's EBUSY rule is for the domain ones (memory, io, hugetlb, ...).
THREADED = frozenset({"cpu", "cpuset", "pids", "perf_event"})
FREEZE_TIMEOUT = 10.0


def unified_mount(root: str) -> str | None:
    """The cgroup2 mount for ``root``: root itself (pure v2) or root/unified (hybrid)."""
    for path in (root, os.path.join(root, "unified")):
        if os.path.isfile(os.path.join(path, "cgroup.controllers")):
            return path
    return None


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _write(path: str, value: str) -> None:
    # no O_CREAT: a missing control file means the kernel lacks the feature
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _keyed(path: str) -> dict[str, int]:
    """A flat-keyed file (``key value`` per line) such as memory.stat."""
    out: dict[str, int] = {}
    try:
        text = _read(path)
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            pass
    return out


def _int_or_max(path: str) -> int | None:
    try:
        text = _read(path)
    except OSError:
        return None
    return -1 if text == "max" else int(text.split()[0])


class CgroupV2(CgroupDriver):
    """cgroup v2 backend (``--backend cgroup_v2``)."""

    name = "cgroup_v2"

    def __init__(self, container_id: str, cgroups_path: str | None = None, *, root: str = "/sys/fs/cgroup",
                 proc_self_cgroup: str = "/proc/self/cgroup"):
        super().__init__(container_id, cgroups_path, root=root, proc_self_cgroup=proc_self_cgroup)
        self._created: list[str] = []     # cgroup paths (relative to the mount) we made, outermost first
        self._resolved: tuple[str, str, str] | None = None

    # -- where ---------------------------------------------------------------
    @classmethod
    def available(cls, root: str = "/sys/fs/cgroup") -> bool:
        return unified_mount(root) is not None

    def _where(self) -> tuple[str, str, str]:
        """(mount, caller's cgroup, container's cgroup) -- the last two relative to the mount."""
        if self._resolved is None:
            mount = unified_mount(self.root)
            if mount is None:
                raise PycrError(f"cgroup_v2: no cgroup2 hierarchy at {self.root} or {self.root}/unified")
            own = own_cgroup_paths(self.proc_self_cgroup).get("")
            if own is None:
                raise PycrError(f"cgroup_v2: {self.proc_self_cgroup} has no unified (0::) line")
            own = own.strip("/")  # normpath keeps a leading "//"
            self._resolved = (mount, os.path.normpath("/" + own),
                              container_cgroup_path(own, self.cgroups_path, self.container_id))
        return self._resolved

    @property
    def path(self) -> str:
        """The container's cgroup directory."""
        mount, _, cg = self._where()
        return mount + cg.rstrip("/") if cg != "/" else mount

    @property
    def hybrid(self) -> bool:
        return self._where()[0] != os.path.normpath(self.root)

    def _dir(self, cg: str) -> str:
        return self._where()[0] + ("" if cg == "/" else cg)

    # -- lifecycle -----------------------------------------------------------
    def create(self) -> None:
        mount, own, cg = self._where()
        parts = cg.strip("/").split("/")
        current = ""
        for part in parts:
            current += "/" + part
            directory = mount + current
            if os.path.isdir(directory):
                continue
            try:
                self.fs.mkdir(directory)
            except FileExistsError:
                continue
            except OSError as e:
                raise PycrError(f"cgroup_v2: cannot create {directory}: {e.strerror}") from None
            self._created.append(current)
        # accounting controllers where that is harmless: never an error here
        for ctrl in ACCOUNTING:
            try:
                self._enable(ctrl, field=None)
            except ConfigError:
                pass

    def _ancestors(self) -> list[str]:
        """Cgroups from the caller's own (or the hierarchy's root for an absolute
        cgroupsPath elsewhere) down to the container's parent."""
        from pycr.core import is_under  # linux.paths: only create comes here

        _, own, cg = self._where()
        parent = os.path.dirname(cg)
        start = own if is_under(parent, own) else "/"
        chain = [parent]
        while chain[-1] != start and chain[-1] != "/":
            chain.append(os.path.dirname(chain[-1]))
        return list(reversed(chain))

    def _enable(self, ctrl: str, field: str | None) -> None:
        """Make ``ctrl`` available in the container's cgroup, or raise naming it."""
        what = field or "cgroup_v2"
        for cg in self._ancestors():
            d = self._dir(cg)
            try:
                enabled = _read(os.path.join(d, "cgroup.subtree_control")).replace("+", "").split()
                available = _read(os.path.join(d, "cgroup.controllers")).split()
            except OSError as e:
                raise ConfigError(f"{what}: cannot read {d}: {e.strerror}") from None
            if ctrl in enabled:
                continue
            if ctrl not in available:
                where = " (hybrid host: cgroup v1 owns it)" if self.hybrid else ""
                raise ConfigError(f"{what}: cgroup v2 controller '{ctrl}' is not available in {d}{where}")
            if cg != "/" and ctrl not in THREADED and self._has_procs(d):
                raise ConfigError(f"{what}: cannot enable cgroup v2 controller '{ctrl}' in {d}: it holds processes "
                                  f"(no-internal-processes rule); run pycr from a cgroup that delegates '{ctrl}'")
            try:
                # the kernel adds to the set; rewriting the whole set keeps a plain-file fake honest
                _write(os.path.join(d, "cgroup.subtree_control"), " ".join(f"+{c}" for c in [*enabled, ctrl]))
            except OSError as e:
                import errno  # here, when a write fails: a module import off the verbs' path

                hint = " (it holds processes)" if e.errno == errno.EBUSY else ""
                raise ConfigError(f"{what}: cannot enable cgroup v2 controller '{ctrl}' in {d}: "
                                  f"{e.strerror}{hint}") from None

    @staticmethod
    def _has_procs(d: str) -> bool:
        try:
            return bool(_read(os.path.join(d, "cgroup.procs")))
        except OSError:
            return False

    def apply(self, resources: dict[str, Any]) -> None:
        from . import writers  # limits only: its dataclasses are not on the start/kill/delete path

        plan = writers.plan(resources)
        by_ctrl = {}
        for w in plan:
            if w.controller and w.controller not in by_ctrl:
                by_ctrl[w.controller] = w.field
        for ctrl, field in by_ctrl.items():
            self._enable(ctrl, field)
        d = self.path
        for w in plan:
            path = os.path.join(d, w.filename)
            if not os.path.exists(path):
                raise ConfigError(f"{w.field}: {w.filename} does not exist in {d} (not supported by this kernel)")
            try:
                _write(path, w.value)
            except OSError as e:
                raise ConfigError(f"{w.field}: cannot write {w.value!r} to {path}: {e.strerror}") from None
        devices = (resources or {}).get("devices")
        if devices is not None:
            from . import devices as devfilter

            devfilter.attach(d, devices)

    def add_pid(self, pid: int) -> None:
        try:
            _write(os.path.join(self.path, "cgroup.procs"), str(pid))
        except OSError as e:
            raise PycrError(f"cgroup_v2: cannot move pid {pid} into {self.path}: {e.strerror}") from None

    def self_join_files(self) -> list[str]:
        return [os.path.join(self.path, "cgroup.procs")]  # "0": the writer's own (single-threaded) process

    def pids(self) -> list[int]:
        found: list[int] = []
        for dirpath, _, files in os.walk(self.path):
            if "cgroup.procs" in files:
                try:
                    found += [int(x) for x in _read(os.path.join(dirpath, "cgroup.procs")).split()]
                except (OSError, ValueError):
                    pass
        return found

    # -- freezer -------------------------------------------------------------
    def _events(self) -> dict[str, int]:
        return _keyed(os.path.join(self.path, "cgroup.events"))

    def _set_frozen(self, frozen: bool) -> None:
        try:
            _write(os.path.join(self.path, "cgroup.freeze"), "1" if frozen else "0")
        except OSError as e:
            raise PycrError(f"cgroup_v2: cannot {'freeze' if frozen else 'thaw'} {self.path}: {e.strerror}") from None
        deadline = time.monotonic() + FREEZE_TIMEOUT
        while True:
            ev = self._events()
            # an empty cgroup has nothing to freeze: its state follows cgroup.freeze
            if ev.get("frozen", 0) == int(frozen) or (frozen and not ev.get("populated", 0)):
                return
            if time.monotonic() > deadline:
                raise PycrError(f"cgroup_v2: {self.path} did not become {'frozen' if frozen else 'thawed'} "
                                f"within {FREEZE_TIMEOUT:.0f}s")
            time.sleep(0.005)

    def freeze(self) -> None:
        self._set_frozen(True)

    def thaw(self) -> None:
        self._set_frozen(False)

    def is_frozen(self) -> bool:
        """Frozen by us (cgroup.freeze) or by a frozen ancestor (cgroup.events)."""
        try:
            return _read(os.path.join(self.path, "cgroup.freeze")) == "1" or self._events().get("frozen") == 1
        except FileNotFoundError:
            return False

    def freezer_files(self) -> list[list[str]]:
        return [[os.path.join(self.path, "cgroup.freeze"), "1"], [os.path.join(self.path, "cgroup.events"), "frozen 1"]]

    def kill_all(self, sig: int) -> None:
        kill_file = os.path.join(self.path, "cgroup.kill")
        if sig == signal.SIGKILL and os.path.exists(kill_file):
            try:
                _write(kill_file, "1")
                return
            except OSError:
                pass  # fall back to one kill per pid
        super().kill_all(sig)

    # -- stats ---------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        d = self.path
        j = lambda name: os.path.join(d, name)  # noqa: E731
        mstat = _keyed(j("memory.stat"))
        mev = _keyed(j("memory.events"))
        cstat = _keyed(j("cpu.stat"))
        out: dict[str, Any] = {
            "cpu": {
                "usage": {"total": cstat.get("usage_usec", 0) * 1000, "user": cstat.get("user_usec", 0) * 1000,
                          "kernel": cstat.get("system_usec", 0) * 1000},
                "throttling": {"periods": cstat.get("nr_periods", 0), "throttledPeriods": cstat.get("nr_throttled", 0),
                               "throttledTime": cstat.get("throttled_usec", 0) * 1000},
                "raw": cstat,
            },
            "memory": {
                "usage": {"usage": _int_or_max(j("memory.current")) or 0, "limit": _int_or_max(j("memory.max")),
                          "max": _int_or_max(j("memory.peak")), "failcnt": mev.get("max", 0)},
                "swap": {"usage": _int_or_max(j("memory.swap.current")) or 0, "limit": _int_or_max(j("memory.swap.max"))},
                "cache": mstat.get("file", 0),
                "oom": mev.get("oom", 0),
                "oom_kill": mev.get("oom_kill", 0),
                "events": mev,
                "raw": mstat,
            },
            "pids": {"current": _int_or_max(j("pids.current")) or 0, "limit": _int_or_max(j("pids.max"))},
            "blkio": {"devices": self._io_stat()},
            "frozen": self.is_frozen(),
        }
        return out

    def _io_stat(self) -> dict[str, dict[str, int]]:
        devices: dict[str, dict[str, int]] = {}
        try:
            text = _read(os.path.join(self.path, "io.stat"))
        except OSError:
            return devices
        for line in text.splitlines():
            dev, *pairs = line.split()
            devices[dev] = {k: int(v) for k, _, v in (p.partition("=") for p in pairs) if v.isdigit()}
        return devices

    # -- teardown ------------------------------------------------------------
    def destroy(self) -> None:
        mount = self._where()[0]
        made = self._created or [self._where()[2]]  # from_state without a record: the leaf only
        for cg in reversed(made):
            directory = mount + cg
            deadline = time.monotonic() + 2.0
            while True:
                try:
                    self.fs.rmdir(directory)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    import errno  # here, when an rmdir fails: a module import off every delete's path

                    # EBUSY right after the last task exits: the kernel is still releasing it
                    if e.errno == errno.EBUSY and time.monotonic() < deadline:
                        time.sleep(0.01)
                        continue
                    raise PycrError(f"cgroup_v2: cannot remove {directory}: {e.strerror}") from None
        self._created = []

    def mounts(self, destination: str) -> list[dict[str, Any]]:
        return [{"destination": destination, "type": "bind", "source": self.path,
                 "options": ["rbind", "nosuid", "noexec", "nodev"]}]

    # -- persistence ---------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        state = super().to_state()
        state["created"] = list(self._created)
        state["proc_self_cgroup"] = self.proc_self_cgroup
        state["path"] = self.path
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "CgroupV2":
        """ValueError naming the key when ``state`` is not what :meth:`to_state` wrote."""
        for key in ("root", "proc_self_cgroup"):
            if not isinstance(state.get(key, "/"), str):
                raise ValueError(f"{key} is not a path")
        if not all(isinstance(state.get(key) or "/", str) for key in ("cgroups_path", "path")):
            raise ValueError("cgroups_path or path is not a path or null")
        created = state.get("created") or []
        if not (isinstance(created, list) and all(isinstance(d, str) and d.startswith("/") for d in created)):
            raise ValueError("created is not a list of absolute paths")
        drv = cls(state["container_id"], state.get("cgroups_path"), root=state.get("root", "/sys/fs/cgroup"),
                  proc_self_cgroup=state.get("proc_self_cgroup", "/proc/self/cgroup"))
        drv._created = list(state.get("created") or [])
        if state.get("path"):
            # the caller may now run from another cgroup: trust the recorded place
            mount = unified_mount(drv.root) or drv.root
            cg = "/" + os.path.relpath(state["path"], mount) if state["path"] != mount else "/"
            drv._resolved = (mount, os.path.dirname(cg), cg)
        return drv
