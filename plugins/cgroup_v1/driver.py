"""``cgroup_v1``: one directory per mounted v1 hierarchy, nested under our own cgroup.

The container gets a directory in *every* v1 hierarchy the caller belongs to
(named ones such as ``name=systemd`` included, as runc does), so ``pids()``
and ``destroy()`` see the whole container whatever limits were asked for.
Where each directory goes is :func:`pycr.core.cgroups.container_cgroup_path`
applied to the caller's own cgroup in that hierarchy.

``create()`` records the directories it made (intermediate ones too) and
``to_state()`` persists them together with the resolved paths, so a later
invocation running in a different cgroup finds -- and removes -- exactly
those directories.
"""

from __future__ import annotations

import os
import _signal as signal  # signal.py builds its enums (~3 ms of every run); the numbers suffice
import time

from pycr.core import CgroupDriver, CleanupError, ConfigError, PycrError, container_cgroup_path, own_cgroup_paths

from . import files   # hierarchies, resources and stats load where used: start/kill/delete never need them

FREEZE_TIMEOUT = 10.0


class CgroupV1(CgroupDriver):
    """The v1 (legacy / hybrid) cgroup backend."""

    name = "cgroup_v1"
    #: seconds destroy() keeps retrying EBUSY while exiting tasks leave
    rmdir_retry = 2.0

    def __init__(self, container_id: str, cgroups_path: str | None = None, *, root: str = "/sys/fs/cgroup",
                 proc_self_cgroup: str = "/proc/self/cgroup", mountinfo: str = "/proc/self/mountinfo"):
        super().__init__(container_id, cgroups_path, root=root, proc_self_cgroup=proc_self_cgroup)
        self.mountinfo = mountinfo
        self._paths: dict[str, str] | None = None        # hierarchy name -> container dir
        self._controllers: dict[str, list[str]] = {}     # hierarchy name -> its controllers
        self._created: dict[str, list[str]] = {}         # hierarchy name -> dirs made, top-down

    # -- availability -------------------------------------------------------
    @classmethod
    def available(cls, root: str = "/sys/fs/cgroup") -> bool:
        if os.path.exists(os.path.join(root, "cgroup.controllers")):
            return False   # root itself is a cgroup2 mount: pure v2 host
        from . import hierarchies

        return bool(hierarchies.discover(root))

    # -- path resolution ----------------------------------------------------
    @property
    def paths(self) -> dict[str, str]:
        """Hierarchy directory name -> absolute path of the container's cgroup."""
        if self._paths is None:  # create's: the verbs after it read the paths from the state
            from . import hierarchies

            own = own_cgroup_paths(self.proc_self_cgroup)
            paths: dict[str, str] = {}
            for h in hierarchies.discover(self.root, self.mountinfo):
                base = hierarchies.own_path_in(h, own)
                if base is None:
                    continue
                rel = container_cgroup_path(base, self.cgroups_path, self.container_id)
                if rel == "/":
                    raise ConfigError(f"linux.cgroupsPath: {self.cgroups_path!r} is the root cgroup of {h.mountpoint}")
                paths[h.name] = os.path.join(h.mountpoint, rel.lstrip("/"))
                self._controllers[h.name] = list(h.controllers)
            if not paths:
                raise PycrError(f"cgroup_v1: no cgroup v1 hierarchy found under {self.root}")
            self._paths = paths
        return self._paths

    def dir_of(self, controller: str) -> str | None:
        """The container's directory in the hierarchy carrying ``controller``."""
        paths = self.paths
        for name, ctrls in self._controllers.items():
            if controller in ctrls:
                return paths[name]
        return None

    def _dir_for(self, controller: str, field: str) -> str:
        d = self.dir_of(controller)
        if d is None:
            raise ConfigError(f"{field}: the {controller} cgroup controller is not mounted under {self.root}")
        return d

    # -- lifecycle ----------------------------------------------------------
    def create(self) -> None:
        try:
            for name, path in self.paths.items():
                self._make(name, path)
        except BaseException:
            try:
                self.destroy()
            except PycrError:
                pass
            raise

    def _make(self, name: str, path: str) -> None:
        missing = []
        probe = path
        while not os.path.isdir(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        cpuset = "cpuset" in self._controllers[name]
        made = self._created.setdefault(name, [])
        for d in reversed(missing):
            try:
                self.fs.mkdir(d)
            except FileExistsError:
                if os.path.isdir(d):
                    continue   # a concurrent create made it; it is not ours to remove
                raise PycrError(f"cgroup_v1: cannot create {d}: a file is in the way") from None
            except OSError as e:
                raise PycrError(f"cgroup_v1: cannot create {d}: {e.strerror}") from None
            made.append(d)
            if cpuset:
                self._inherit_cpuset(d)

    @staticmethod
    def _inherit_cpuset(d: str) -> None:
        """A new v1 cpuset starts with empty cpus/mems and refuses tasks until filled."""
        parent = os.path.dirname(d)
        for key in ("cpuset.cpus", "cpuset.mems"):
            if not files.read(os.path.join(d, key)):
                value = files.read(os.path.join(parent, key))
                try:
                    files.write(os.path.join(d, key), value or "\n")
                except OSError as e:
                    raise PycrError(f"cgroup_v1: cannot copy {key}={value!r} into {d}: {e.strerror}") from None

    def apply(self, resources: dict[str, object]) -> None:
        from . import resources as writers

        writers.apply(self._dir_for, resources or {})

    def add_pid(self, pid: int) -> None:
        for path in self.paths.values():
            try:
                files.write(os.path.join(path, "cgroup.procs"), pid)
            except OSError as e:
                raise PycrError(f"cgroup_v1: cannot add pid {pid} to {path}: {e.strerror}") from None

    def self_join_files(self) -> list[str]:
        return [os.path.join(path, "tasks") for path in self.paths.values()]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in self.paths.values():
            for dirpath, _, filenames in os.walk(path):
                if "cgroup.procs" in filenames:
                    try:
                        found.update(int(x) for x in files.read(os.path.join(dirpath, "cgroup.procs")).split())
                    except OSError:
                        pass   # removed while walking
        return sorted(found)

    # -- freezer ------------------------------------------------------------
    def _freezer_state(self) -> str:
        return os.path.join(self._dir_for("freezer", "freezer"), "freezer.state")

    def freeze(self) -> None:
        state = self._freezer_state()
        deadline = time.monotonic() + FREEZE_TIMEOUT
        delay = 0.001
        while True:
            # Re-writing FROZEN retries tasks that were busy (e.g. in vfork) last time.
            files.write(state, "FROZEN")
            if files.read(state) == "FROZEN":
                return
            if time.monotonic() > deadline:
                files.write(state, "THAWED")
                raise PycrError(f"cgroup_v1: {state} did not reach FROZEN within {FREEZE_TIMEOUT:g}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def thaw(self) -> None:
        files.write(self._freezer_state(), "THAWED")

    def is_frozen(self) -> bool:
        state = self._freezer_state()
        return os.path.exists(state) and files.read(state) == "FROZEN"   # gone: destroyed, not frozen

    def freezer_files(self) -> list[list[str]] | None:
        freezer = self.dir_of("freezer")
        return None if freezer is None else [[os.path.join(freezer, "freezer.state"), "FROZEN"]]

    def kill_all(self, sig: int) -> None:
        """Signal everything with the cgroup frozen, so nothing forks past the snapshot."""
        freezer = self.dir_of("freezer")
        if freezer is None or not os.path.isdir(freezer):
            return super().kill_all(sig)
        was_frozen = self.is_frozen()
        self.freeze()
        try:
            super().kill_all(sig)
        finally:
            # v1 frozen tasks only die once thawed; a paused container stays paused otherwise.
            if not was_frozen or sig == signal.SIGKILL:
                self.thaw()

    def stats(self) -> dict[str, object]:
        from . import stats

        return stats.collect(self.dir_of)

    # -- removal ------------------------------------------------------------
    def destroy(self) -> None:
        """Remove the directories create() recorded, deepest first.

        A hierarchy with no record at all (a driver built directly rather than
        through create() or from_state()) falls back to its leaf directory;
        one recorded as pre-existing (an absolute cgroupsPath someone else made)
        is left alone.
        """
        failures = []
        deadline = time.monotonic() + self.rmdir_retry
        for name, path in self.paths.items():
            recorded = name in self._created
            made = self._created[name] if recorded else [path]
            if not made:
                continue
            # Children the container may have made inside a leaf we created go first: looked for only
            # when the leaf does not go at once (a listing of each hierarchy's leaf less per delete)
            leaf_gone = recorded and self._rmdir_now(made[-1])
            nested = [os.path.join(dp, dn) for dp, dns, _ in os.walk(made[-1], topdown=False)
                      for dn in dns] if recorded and not leaf_gone else []
            for d in nested + list(reversed(made))[1 if leaf_gone else 0:]:
                error = self._rmdir(d, deadline)
                if error:
                    failures.append(error)
                    break   # its parents cannot go either
            else:
                self._created[name] = []
        if failures:
            raise CleanupError(failures)

    def _rmdir_now(self, d: str) -> bool:
        """One try: True when ``d`` is gone; any failure (children, tasks) is :meth:`_rmdir`'s to handle."""
        try:
            self.fs.rmdir(d)
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return True

    def _rmdir(self, d: str, deadline: float) -> str | None:
        while True:
            try:
                self.fs.rmdir(d)
                return None
            except FileNotFoundError:
                return None
            except OSError as e:
                import errno  # here, when an rmdir fails: a module import off every delete's path

                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    return f"rmdir {d}: {e.strerror}"
                time.sleep(0.02)   # exiting tasks leave the cgroup asynchronously

    def mounts(self, destination: str) -> list[dict[str, object]]:
        """A tmpfs at ``destination`` and a read-only bind of each hierarchy's container dir."""
        dest = destination.rstrip("/") or "/"
        flags = ["nosuid", "noexec", "nodev"]
        result = [{"destination": dest, "type": "tmpfs", "source": "tmpfs",
                   "options": [*flags, "mode=755", "size=65536k"]}]
        for name, path in sorted(self.paths.items()):
            result.append({"destination": os.path.join(dest, name), "type": "bind", "source": path,
                           "options": ["rbind", "ro", *flags]})
        return result

    # -- persistence --------------------------------------------------------
    def to_state(self) -> dict[str, object]:
        state = super().to_state()
        state.update(mountinfo=self.mountinfo, proc_self_cgroup=self.proc_self_cgroup, paths=dict(self.paths),
                     controllers={k: list(v) for k, v in self._controllers.items()},
                     created={k: list(v) for k, v in self._created.items()})
        return state

    @classmethod
    def from_state(cls, state: dict[str, object]) -> "CgroupV1":
        """ValueError naming the key when ``state`` is not what :meth:`to_state` wrote (a damaged
        state.json): a number for a path must not reach os.path, nor a string for a list."""
        for key in ("root", "proc_self_cgroup", "mountinfo"):
            if not isinstance(state.get(key, "/"), str):
                raise ValueError(f"{key} is not a path")
        if not isinstance(state.get("cgroups_path") or "", str):
            raise ValueError("cgroups_path is not a path or null")
        paths = state.get("paths") or {}
        if not (isinstance(paths, dict) and all(isinstance(p, str) and p.startswith("/") for p in paths.values())):
            raise ValueError("paths is not an object of absolute paths")
        for key in ("controllers", "created"):
            value = state.get(key) or {}
            if not (isinstance(value, dict) and all(isinstance(v, list) and all(isinstance(s, str) for s in v)
                                                    for v in value.values())):
                raise ValueError(f"{key} is not an object of lists of strings")
        drv = cls(state["container_id"], state.get("cgroups_path"), root=state.get("root", "/sys/fs/cgroup"),
                  proc_self_cgroup=state.get("proc_self_cgroup", "/proc/self/cgroup"),
                  mountinfo=state.get("mountinfo", "/proc/self/mountinfo"))
        if state.get("paths"):
            drv._paths = dict(state["paths"])
            drv._controllers = {k: list(v) for k, v in state.get("controllers", {}).items()}
            drv._created = {k: list(v) for k, v in state.get("created", {}).items()}
        return drv
