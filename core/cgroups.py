"""The cgroup driver interface: one narrow contract, v1 and v2 as peers.

A driver instance is bound to one container's cgroup.  The runtime calls it
in the parent process only (never in the container's init).  Every driver
takes its filesystem root as a parameter so it can be exercised on a fake
cgroupfs laid out in a temporary directory (see ``pycr.core.testing``).

Lifecycle, as the runtime drives it::

    drv = Driver(container_id, cgroups_path, root=...)   # nothing touched yet
    drv.create()            # make the directories (nested under our own cgroup
                            # for a relative or missing cgroupsPath)
    drv.apply(resources)    # write linux.resources; refuse what it cannot do
    drv.add_pid(pid)        # move the container's process in
    ... freeze()/thaw()/stats()/pids()/kill_all() while it runs ...
    drv.destroy()           # remove every directory create() made; idempotent

``to_state()``/``from_state()`` let a later ``pycr-oci`` invocation (start,
kill, delete) rebuild the same driver from the container's state file.
"""

from __future__ import annotations

import os


class CgroupFS:
    """The two cgroupfs calls a plain directory cannot imitate.

    On a real cgroupfs ``mkdir`` makes the kernel populate control files and
    ``rmdir`` removes a cgroup that still "contains" them (and fails with
    EBUSY while tasks or children remain).  Drivers create and remove cgroup
    directories only through ``self.fs`` so that
    :class:`pycr.core.testing.fake_cgroupfs.FakeCgroupfs` can stand in for the
    kernel on a temporary directory; every other access is plain file I/O.
    """

    def mkdir(self, path: str) -> None:
        os.mkdir(path)

    def rmdir(self, path: str) -> None:
        os.rmdir(path)


class CgroupDriver:
    """Base class and documentation of the driver contract.

    Subclasses set ``name`` (the entry-point name, e.g. ``cgroup_v1``) and
    implement every method that raises ``NotImplementedError`` here.
    """

    name = "abstract"
    #: mkdir/rmdir seam; a fake cgroupfs rebinds it per instance (``fake.bind(drv)``).
    fs: CgroupFS = CgroupFS()

    def __init__(self, container_id: str, cgroups_path: str | None = None, *, root: str = "/sys/fs/cgroup",
                 proc_self_cgroup: str = "/proc/self/cgroup"):
        self.container_id = container_id
        self.cgroups_path = cgroups_path
        self.root = root
        self.proc_self_cgroup = proc_self_cgroup

    # -- availability -------------------------------------------------------
    @classmethod
    def available(cls, root: str = "/sys/fs/cgroup") -> bool:
        """True when this host (or the fake at ``root``) can run this driver."""
        raise NotImplementedError

    # -- lifecycle ----------------------------------------------------------
    def create(self) -> None:
        """Create the container's cgroup directories (parents included)."""
        raise NotImplementedError

    def apply(self, resources: dict[str, object]) -> None:
        """Write ``linux.resources`` (OCI runtime-spec shape).

        Also used for live updates.  A requested limit this driver cannot
        enforce raises :class:`pycr.core.ConfigError` naming the field:
        never a silent no-op.
        """
        raise NotImplementedError

    def add_pid(self, pid: int) -> None:
        """Move ``pid`` into the container's cgroup(s)."""
        raise NotImplementedError

    def self_join_files(self) -> list[str]:
        """Files the single-threaded ``pycr:[stage1]`` writes ``0`` into to move itself in, before
        any namespace (~1 ms for v1 ``tasks``; ``add_pid``'s ``cgroup.procs`` from outside waits
        ~10 ms for an RCU grace period).  Empty (the default): the runtime calls add_pid."""
        return []

    def pids(self) -> list[int]:
        """Every pid in the container's cgroup (recursively)."""
        raise NotImplementedError

    def freeze(self) -> None:
        """Freeze every task; returns once the cgroup is frozen."""
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def is_frozen(self) -> bool:
        raise NotImplementedError

    def freezer_files(self) -> list[list[str]] | None:
        """``[path, line]`` pairs: the cgroup is frozen when one of these files holds its line, exactly
        as :meth:`is_frozen` decides (a missing file: not frozen).  Recorded at create, so ``start``,
        ``state`` and ``kill`` read them without importing the driver.  None (the default): they
        ask :meth:`is_frozen`."""
        return None

    def kill_all(self, sig: int) -> None:
        """Send ``sig`` to every process in the cgroup."""
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def stats(self) -> dict[str, object]:
        """Usage read back from the kernel: memory, cpu, pids (and more when
        the driver has them), in the shape of runc's ``events --stats``."""
        raise NotImplementedError

    def destroy(self) -> None:
        """Remove what ``create`` made.  Idempotent; processes must be gone."""
        raise NotImplementedError

    def mounts(self, destination: str) -> list[dict[str, object]]:
        """OCI-shaped mount entries that expose this cgroup at ``destination``
        inside the container (for a ``cgroup`` mount in config.json)."""
        raise NotImplementedError

    # -- persistence --------------------------------------------------------
    def to_state(self) -> dict[str, object]:
        """What a later invocation needs to find this cgroup again."""
        return {"driver": self.name, "container_id": self.container_id,
                "cgroups_path": self.cgroups_path, "root": self.root}

    @classmethod
    def from_state(cls, state: dict[str, object]) -> "CgroupDriver":
        return cls(state["container_id"], state.get("cgroups_path"), root=state.get("root", "/sys/fs/cgroup"))


def own_cgroup_paths(proc_self_cgroup: str = "/proc/self/cgroup") -> dict[str, str]:
    """Map each hierarchy of the calling process to its cgroup path.

    Keys are controller names for v1 (``memory``, ``cpu`` ... one key per
    controller of a co-mounted hierarchy, ``name=systemd`` for named ones)
    and ``""`` for the unified (v2) hierarchy.
    """
    result: dict[str, str] = {}
    with open(proc_self_cgroup) as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if not controllers:
                result[""] = path
            for ctrl in controllers.split(","):
                if ctrl:
                    result[ctrl] = path
    return result


def container_cgroup_path(own: str, cgroups_path: str | None, container_id: str) -> str:
    """Resolve where a container's cgroup lives inside one hierarchy.

    An absolute ``cgroupsPath`` is used as given.  A relative one nests under
    the caller's own cgroup ``own``, as runc does, and a missing one becomes
    ``<own>/pycr-<id>`` -- so pycr works inside a delegated or supervised cgroup.
    """
    if cgroups_path and cgroups_path.startswith("/"):
        return os.path.normpath("/" + cgroups_path.lstrip("/"))   # normpath keeps a leading "//"
    from pycr.core.linux.paths import is_under  # here: start, kill and delete read the paths from the state

    base = os.path.normpath("/" + own.lstrip("/"))
    path = os.path.normpath(os.path.join(base, cgroups_path or f"pycr-{container_id}"))
    if path == base or not is_under(path, base):
        from pycr.core.errors import ConfigError

        raise ConfigError(f"linux.cgroupsPath: {cgroups_path!r} leaves the caller's cgroup {base}")
    return path


def detect_backend(root: str = "/sys/fs/cgroup") -> str:
    """``"cgroup_v2"`` on a pure v2 host (cgroup2 mounted at ``root``), else ``"cgroup_v1"``.

    A hybrid host (v1 controllers plus an empty ``root/unified``) counts as v1:
    that is where its limits can be enforced.  ``--backend auto`` calls this.
    """
    return "cgroup_v2" if os.path.isfile(os.path.join(root, "cgroup.controllers")) else "cgroup_v1"
