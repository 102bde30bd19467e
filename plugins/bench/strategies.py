"""Isolation strategies: small frozen records saying how one container is run.

Built-ins cover the axes researchers compare (cgroup backend, root switch,
namespace set) and peer runtimes with runc's CLI (runc, crun) driven on the
same bundles.  Third parties add strategies through entry-point group
``pycr.bench_strategy``: the entry point is a :class:`Strategy`, a dict of its
fields, or a callable returning a list of either; a strategy may load extra pycr plugins into its runs only
(``plugins=("pkg.mod:obj",)``), which is how :class:`PlainChroot` -- the
classic ``chroot(2)`` jail -- exists without touching the built-in plugins.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
from dataclasses import dataclass, replace

from pycr.core import ConfigError, hookimpl

ENTRY_POINT_GROUP = "pycr.bench_strategy"
ALL_NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "cgroup")


@dataclass(frozen=True)
class Strategy:
    """How to run a container.  ``runtime`` is ``pycr`` (an OCI bundle through
    ``pycr-oci run``), ``pycr-image`` (``pycr run IMAGE`` with the image-level
    ``rootfs`` strategy: ``overlay`` or ``chroot``), or the name/path of an
    executable with runc's CLI (``runc``, ``crun``)."""

    name: str
    runtime: str = "pycr"
    backend: str = "cgroup_v1"
    no_pivot: bool = False
    drop_namespaces: tuple[str, ...] = ()
    add_namespaces: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    global_args: tuple[str, ...] = ()
    description: str = ""
    switch: str = ""  # label of the root switch when a plugin changes it
    rootfs: str = ""  # pycr-image only: the pycr.rootfs driver (default overlay)
    seccomp: str = ""  # "docker-default": docker's default seccomp profile for the config's capabilities
    network: str = "none"  # pycr-image only: the --network driver (the network layer adds bridge/host strategies)

    def check(self) -> "Strategy":
        """Refuse fields that would run something other than what the strategy says."""
        ours = self.runtime in ("pycr", "pycr-image")
        if self.rootfs and self.runtime != "pycr-image":
            raise ConfigError(f"strategy {self.name!r}: rootfs = {self.rootfs!r} needs runtime = \"pycr-image\" "
                              f"(runtime {self.runtime!r} runs the shared bundle)")
        for flag, field_ in (("--rootfs", "rootfs"), ("--backend", "backend")):
            if ours and any(a == flag or a.startswith(flag + "=") for a in self.global_args):
                hint = ('runtime = "pycr-image" and rootfs = NAME' if flag == "--rootfs" and self.runtime == "pycr"
                        else f"the {field_!r} field")
                raise ConfigError(f"strategy {self.name!r}: global_args may not set {flag}; use {hint}")
        return self

    @property
    def rootfs_driver(self) -> str:
        return (self.rootfs or "overlay") if self.runtime == "pycr-image" else ""

    @property
    def root_switch(self) -> str:
        if self.switch:
            return self.switch
        if self.no_pivot or "mount" in self.drop_namespaces:
            return "move+chroot"
        return "pivot_root"

    def facts(self) -> dict:
        """The strategy's axes, stored with every sample."""
        ns = [n for n in ALL_NAMESPACES if n not in self.drop_namespaces] + list(self.add_namespaces)
        ours = self.runtime in ("pycr", "pycr-image")
        facts = {"strategy": self.name, "runtime": self.runtime,
                 "backend": self.backend if ours else "runtime-default",
                 "root_switch": self.root_switch if self.runtime == "pycr" else "pivot_root",
                 "namespaces": "+".join(ns), "rootfs": "bundle"}
        if self.runtime == "pycr-image":
            facts.update(rootfs=self.rootfs_driver, namespaces="image default", network=self.network,
                         root_switch=self.switch or ("move+chroot" if self.rootfs_driver == "chroot" else "pivot_root"))
        return facts

    def unavailable(self) -> str | None:
        """Why this strategy cannot run here (None when it can)."""
        if self.runtime not in ("pycr", "pycr-image") and not shutil.which(self.runtime):
            return f"{self.runtime} not found on PATH"
        if self.runtime in ("pycr", "pycr-image") and self.backend == "cgroup_v2" and not os.path.isdir("/sys/fs/cgroup/unified") \
                and not os.path.isfile("/sys/fs/cgroup/cgroup.controllers"):
            return "no cgroup2 hierarchy mounted"
        return None

    def adapt_config(self, config: dict, cid_hint: str) -> dict:
        """The bundle config this strategy runs (a modified copy)."""
        if "mount" in self.drop_namespaces and self.runtime == "pycr":
            # the container's mounts (proc, dev, sys...) would land in the host's mount table
            raise ConfigError(f"strategy {self.name!r}: dropping the mount namespace is not supported")
        config = copy.deepcopy(config)
        if "uts" in self.drop_namespaces:
            config.pop("hostname", None)
            config.pop("domainname", None)
        linux = config.setdefault("linux", {})
        linux["namespaces"] = [n for n in linux.get("namespaces", []) if n["type"] not in self.drop_namespaces]
        for ns in self.add_namespaces:
            linux["namespaces"].append({"type": ns})
            if ns == "user":
                linux["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
                linux["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        if self.runtime == "pycr" and self.backend == "none":
            linux.pop("resources", None)  # the none driver refuses limits it cannot enforce
        if self.runtime != "pycr":
            # relative: nests under the caller's own cgroup, as pycr does
            linux["cgroupsPath"] = f"pycr-bench-{cid_hint}"
        if "cgroup" in self.drop_namespaces:
            config["mounts"] = [m for m in config.get("mounts", []) if m.get("type") != "cgroup"]
        if self.seccomp == "docker-default":
            from pycr.plugins.seccomp import profile

            caps = (config.get("process", {}).get("capabilities") or {}).get("bounding") or []
            profile.apply(config, profile.load_profile(), caps)
        return config

    def command(self, root: str, bundle: str, cid: str, trace_file: str | None = None,
                workload=None, image: str | None = None, env: list[str] = (), pycr_globals: list[str] = (),
                facts_file: str | None = None) -> list[str]:
        """argv that runs the container to completion (create, start, wait, delete).

        ``pycr-image`` runs ``workload`` in ``image`` instead of ``bundle``; the
        image store is chosen by ``PYCR_STORAGE`` in the environment.
        ``pycr_globals`` (e.g. ``-p no:NAME``) go to every pycr strategy's shell.
        """
        if self.runtime not in ("pycr", "pycr-image"):
            return [self.runtime, "--root", root, *self.global_args, "run", "--bundle", bundle, cid]
        argv = [sys.executable, "-P", "-m", "pycr.plugins.bench.launch"]
        for p in self.plugins:
            argv += ["--plugin", p]
        if facts_file:
            argv += ["--facts", facts_file]
        image_run = self.runtime == "pycr-image"
        argv += ["--shell", "pycr" if image_run else "oci", "--", *pycr_globals, "--root", root,
                 "--backend", self.backend]
        if image_run:
            argv += ["--rootfs", self.rootfs_driver]
        argv += list(self.global_args)
        if trace_file:
            argv += ["--trace-file", trace_file]
        if image_run:
            argv += ["run", "-q", "--name", cid, "--network", self.network]
            for item in env:
                argv += ["-e", item]
            if workload is not None and workload.memory_limit and self.backend != "none":
                argv += ["--memory", str(workload.memory_limit)]
            return argv + [image or "bench-busybox:latest", *(workload.args if workload else ())]
        argv += ["run", "--bundle", bundle]
        if self.no_pivot:
            argv.append("--no-pivot")
        return argv + [cid]


class PlainChroot:
    """A pycr plugin for one strategy: ``chroot(2)`` into the rootfs, leaving it
    where it is (no ``pivot_root``, no move over ``/``) -- the classic jail.

    The old root stays reachable with ``..`` from any directory outside the
    new root, which is what ``pycr probe`` demonstrates.
    """

    @hookimpl(tryfirst=True)
    def pycr_rootfs_switch(self, config, no_pivot):
        from pycr.core import steps

        return steps.Chroot(move_mount=False)


plain_chroot = PlainChroot()

BUILTIN: tuple[Strategy, ...] = (
    Strategy("pycr-v1-pivot", description="pycr, cgroup v1, pivot_root, full namespace set"),
    Strategy("pycr-v1-nopivot", no_pivot=True, description="pycr, cgroup v1, --no-pivot (move rootfs over / + chroot)"),
    Strategy("pycr-v1-chroot", plugins=("pycr.plugins.bench.strategies:plain_chroot",), switch="chroot",
             description="pycr, cgroup v1, plain chroot(2) into the rootfs (classic jail)"),
    Strategy("pycr-none-pivot", backend="none", description="pycr, no cgroup, pivot_root"),
    Strategy("pycr-v2-pivot", backend="cgroup_v2",
             description="pycr, cgroup v2 (on a hybrid host: placement in the unified hierarchy only)"),
    Strategy("pycr-v1-nonet", drop_namespaces=("network",), description="pycr, cgroup v1, without a network namespace"),
    Strategy("pycr-v1-nopid", drop_namespaces=("pid",), description="pycr, cgroup v1, without a pid namespace"),
    Strategy("pycr-v1-userns", add_namespaces=("user",), description="pycr, cgroup v1, plus a user namespace (identity map)"),
    Strategy("pycr-img-overlay", runtime="pycr-image", rootfs="overlay",
             description="pycr run IMAGE, rootfs strategy overlay (overlayfs on the unpacked layers)"),
    Strategy("pycr-img-chroot", runtime="pycr-image", rootfs="chroot",
             description="pycr run IMAGE, rootfs strategy chroot (flattened private copy, --no-pivot)"),
    Strategy("pycr-v1-hardened", seccomp="docker-default",
             description="pycr, cgroup v1, pivot_root, docker's default seccomp profile"),
    Strategy("runc", runtime="runc", description="runc on the same bundle"),
    Strategy("runc-hardened", runtime="runc", seccomp="docker-default",
             description="runc on the same bundle with docker's default seccomp profile"),
    Strategy("crun", runtime="crun", description="crun on the same bundle"),
)


def _from_entry_points() -> list[Strategy]:
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:
            raise ConfigError(f"bench strategy plugin {ep.name!r} ({ep.value}) failed to load: "
                              f"{type(e).__name__}: {e}") from None
        items = obj() if callable(obj) and not isinstance(obj, Strategy) else obj
        items = [items] if isinstance(items, (Strategy, dict)) else list(items)
        for s in items:
            if isinstance(s, dict):  # plain records: a plugin needs no import from pycr
                s = derive(Strategy(name=s.get("name", "")), **s)
            if not isinstance(s, Strategy) or not s.name:
                raise ConfigError(f"bench strategy plugin {ep.name!r} returned {s!r}, not a named Strategy")
            found.append(s.check())
    return found


def registry(extra: list[Strategy] = ()) -> dict[str, Strategy]:
    """Every known strategy by name; two claiming one name is an error."""
    out: dict[str, Strategy] = {}
    for s in (*BUILTIN, *_from_entry_points(), *extra):
        s.check()
        if s.name in out and out[s.name] != s:
            raise ConfigError(f"bench strategy {s.name!r} is defined twice")
        out[s.name] = s
    return out


def derive(base: Strategy, **changes) -> Strategy:
    """A new strategy from ``base`` (matrix files use ``base = "..."``)."""
    for key in ("drop_namespaces", "add_namespaces", "plugins", "global_args"):
        if key in changes:
            changes[key] = tuple(changes[key])
    try:
        return replace(base, **changes).check()
    except TypeError as e:
        raise ConfigError(f"strategy {changes.get('name', base.name)!r}: {e}") from None
