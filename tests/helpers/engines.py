"""Real container engines (podman, containerd) driving ``pycr-oci``, each
fully contained in a temporary directory: storage, state, config, sockets,
and cgroups nested under the test's own cgroup in every hierarchy.

    with Podman(tmp_path, runtime=PYCR_OCI) as pm:
        pm("pull", ref)
        pm("run", "--rm", ref, "echo", "hi")

    with Containerd(tmp_path) as cd:
        cd.ctr("images", "pull", "--plain-http", ref)
        cd.ctr("run", "--rm", "--runc-binary", PYCR_OCI, "--cgroup", cd.cgroup_parent + "/c1", ref, "c1", "true")

``leftovers()`` lists what a scenario left behind (cgroups, mounts under the
temp dir, processes of the engine); the exits clean up and fail loudly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

PYCR_OCI = os.path.join(os.path.dirname(sys.executable), "pycr-oci")
CGROUP_ROOT = "/sys/fs/cgroup"


def own_cgroups() -> dict[str, str]:
    """hierarchy directory name (``memory``, ``cpu,cpuacct``, ``unified``...) -> our path in it."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            name = ctrls.replace("name=", "") if ctrls else "unified"
            if os.path.isdir(os.path.join(CGROUP_ROOT, name)):
                out[name] = path
    return out


def hierarchy_dirs(rel: str) -> list[str]:
    """Where cgroup ``rel`` (a path as given to an engine) lives in each mounted hierarchy."""
    seen, out = set(), []
    for name in own_cgroups():
        d = os.path.realpath(os.path.join(CGROUP_ROOT, name))
        if d not in seen:
            seen.add(d)
            out.append(os.path.join(d, rel.lstrip("/")))
    return out


def parent_cgroup(tag: str) -> str:
    """A cgroup path under our own memory cgroup (the only one the supervisor
    confines us to; the other hierarchies have us at /, so it nests there too).
    Named by our pid (``-pidN``): the suite's leak check tells its own from another run's by it."""
    return os.path.join(own_cgroups().get("memory", "/"), f"pycr-test-{tag}-pid{os.getpid()}")


def remove_cgroup_tree(rel: str) -> list[str]:
    """rmdir ``rel`` and its children in every hierarchy, killing what is left inside; leftovers."""
    left = []
    for top in hierarchy_dirs(rel):
        if not os.path.isdir(top):
            continue
        for _ in range(100):
            dirs = [dp for dp, _, _ in os.walk(top, topdown=False)]
            for d in dirs:
                try:
                    with open(os.path.join(d, "cgroup.procs")) as f:
                        for pid in f.read().split():
                            try:
                                os.kill(int(pid), signal.SIGKILL)
                            except ProcessLookupError:
                                pass
                except OSError:
                    pass
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            if not os.path.isdir(top):
                break
            time.sleep(0.05)
        if os.path.isdir(top):
            left.append(top)
    return left


def cgroup_children(rel: str) -> list[str]:
    """Every cgroup below ``rel`` in any hierarchy (what a scenario must not leave)."""
    out = []
    for top in hierarchy_dirs(rel):
        for dp, dns, _ in os.walk(top):
            out += [os.path.join(dp, d) for d in dns]
    return out


def mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path + "/") or line.split()[4] == path]


def run(args, *, check=True, timeout=120, env=None, **kw) -> subprocess.CompletedProcess:
    """subprocess.run with output in files (a container may inherit pipes and hold them open)."""
    import tempfile

    if "input" not in kw and "stdin" not in kw:
        kw["stdin"] = subprocess.DEVNULL
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        r = subprocess.run(args, stdout=out, stderr=err, text=True, timeout=timeout, env=env, **kw)
        out.seek(0)
        err.seek(0)
        r.stdout, r.stderr = out.read(), err.read()
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} -> {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    return r


# ---------------------------------------------------------------- podman


class Podman:
    """podman with every path in ``workdir``; ``runtime`` is the OCI runtime's path."""

    def __init__(self, workdir=None, runtime: str = PYCR_OCI, registry: str | None = None, tag: str = "podman"):
        import tempfile

        # podman refuses a runroot longer than 50 characters: pytest's tmp_path is too long.
        self.dir = Path(workdir) if workdir and len(str(workdir)) < 30 else Path(tempfile.mkdtemp(prefix="pycr-pm-"))
        self.owned = not (workdir and len(str(workdir)) < 30)
        self.runtime = runtime
        self.cgroup_parent = parent_cgroup(tag)
        self.seen: set[str] = set()  # ids of detached containers, to look for in the runtime's state
        d = self.dir
        for sub in ("root", "runroot", "tmp", "net"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "containers.conf").write_text(
            "[containers]\n"
            'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
            'netns = "none"\n'
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{d}/events.log"\n'
            f'tmp_dir = "{d}/tmp"\n'
            f'static_dir = "{d}/root/libpod"\n'
            f'volume_path = "{d}/root/volumes"\n'
            'conmon_env_vars = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]\n'
            "[network]\n"
            f'network_config_dir = "{d}/net"\n')
        (d / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\nrunroot = "{d}/runroot"\ngraphroot = "{d}/root"\n')
        regs = 'unqualified-search-registries = []\n'
        if registry:
            regs += f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n'
        (d / "registries.conf").write_text(regs)
        self.env = {**os.environ, "CONTAINERS_CONF": str(d / "containers.conf"),
                    "CONTAINERS_STORAGE_CONF": str(d / "storage.conf"),
                    "CONTAINERS_REGISTRIES_CONF": str(d / "registries.conf"),
                    "TMPDIR": str(d / "tmp")}

    def argv(self, *args) -> list[str]:
        d = self.dir
        return ["podman", "--root", str(d / "root"), "--runroot", str(d / "runroot"),
                "--runtime", self.runtime, "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                "--tmpdir", str(d / "tmp"), *args]

    #: As root, podman gives the runtime no --root, so pycr-oci keeps its state in its default
    #: place (runc's is /run/runc).  ``--runtime-flag root=...`` would not help: podman drops it
    #: from the ``container cleanup`` command conmon runs, whose ``delete`` then misses the container.
    state_root = "/run/pycr"

    def __call__(self, *args, check=True, timeout=120, **kw) -> subprocess.CompletedProcess:
        # conmon writes an "oom" marker file into its working directory: keep that ours
        kw.setdefault("cwd", str(self.dir))
        r = run(self.argv(*args), check=check, timeout=timeout, env=self.env, **kw)
        if args[:1] in (("run",), ("create",)) and "-d" in args and r.returncode == 0:
            self.seen.add(r.stdout.strip())
        return r

    def run_args(self, *extra) -> list[str]:
        """Options every ``podman run`` of a test uses: no network, our cgroup parent."""
        return ["--network", "none", "--cgroup-parent", self.cgroup_parent, *extra]

    def leftovers(self) -> list[str]:
        left = [f"container {c}" for c in self("ps", "-aq", check=False).stdout.split()]
        # podman's own cgroup for conmon (<parent>/conmon) is not a container's: it stays, empty.
        left += [f"cgroup {c}" for c in cgroup_children(self.cgroup_parent) if os.path.basename(c) != "conmon"
                 or _cgroup_procs(c)]
        left += [f"mount {m}" for m in mounts_under(str(self.dir / "root")) if "/merged" in m or "/shm" in m]
        left += [f"process {p}" for p in processes_mentioning(str(self.dir))]
        if os.path.isdir(self.state_root):
            ours = set(self("ps", "-aq", "--no-trunc", check=False).stdout.split()) | self.seen
            left += [f"runtime state {n}" for n in os.listdir(self.state_root) if n in ours]
        return left

    def close(self) -> list[str]:
        """Remove every container and image, storage and cgroups; what had to be forced."""
        left = self.leftovers()
        self("rm", "--all", "--force", "--time", "0", check=False)
        self("system", "reset", "--force", check=False, input="y\n")
        left += force_clean(self.dir, self.cgroup_parent)
        if self.owned and not mounts_under(str(self.dir)):
            wipe(self.dir)
        return left

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _report(self.close(), "podman")


# ---------------------------------------------------------------- containerd


class Containerd:
    """A containerd of our own: root, state, socket and config in ``workdir``."""

    def __init__(self, workdir, tag: str = "containerd"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = str(self.dir / "containerd.sock")
        self.cgroup_parent = parent_cgroup(tag)
        (self.dir / "config.toml").write_text(
            "version = 2\n"
            f'root = "{self.dir}/root"\nstate = "{self.dir}/state"\n'
            f'[grpc]\n  address = "{self.socket}"\n'
            f'[ttrpc]\n  address = "{self.socket}.ttrpc"\n'
            '[debug]\n  level = "info"\n'
            '[plugins]\n  [plugins."io.containerd.grpc.v1.cri"]\n    disable_cgroup = true\n'
            '[metrics]\n  address = ""\n')
        self.proc = None
        self.namespace = "pycr-test"

    def start(self):
        log = open(self.dir / "containerd.log", "ab")
        # containerd itself stays in our cgroup; the shims it starts join ours too.
        self.proc = subprocess.Popen(["containerd", "--config", str(self.dir / "config.toml")],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd exited: {(self.dir / 'containerd.log').read_text()[-3000:]}")
            if os.path.exists(self.socket) and self.ctr("version", check=False).returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError("containerd did not start in 30s")

    def ctr(self, *args, check=True, timeout=120, **kw) -> subprocess.CompletedProcess:
        return run(["ctr", "--address", self.socket, "--namespace", self.namespace, *args],
                   check=check, timeout=timeout, **kw)

    def leftovers(self) -> list[str]:
        left = [f"task {t}" for t in self.ctr("tasks", "ls", "-q", check=False).stdout.split()]
        left += [f"container {c}" for c in self.ctr("containers", "ls", "-q", check=False).stdout.split()]
        left += [f"cgroup {c}" for c in cgroup_children(self.cgroup_parent)]
        left += [f"mount {m}" for m in mounts_under(str(self.dir / "state"))
                 if "/io.containerd.runtime.v2.task/" in m]
        daemon = self.proc.pid if self.proc else None
        left += [f"process {p}" for p in processes_mentioning(str(self.dir)) if p != daemon]  # shims
        return left

    def close(self) -> list[str]:
        """Stop and remove every task and container, then the daemon; what could not be removed."""
        for t in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
            self.ctr("tasks", "kill", "-s", "KILL", t, check=False)
            self.ctr("tasks", "delete", "-f", t, check=False)
        for c in self.ctr("containers", "ls", "-q", check=False).stdout.split():
            self.ctr("containers", "rm", c, check=False)
        if self.proc is not None:
            _stop_daemon(self.proc, 10)
        return force_clean(self.dir, self.cgroup_parent)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        _report(self.close(), "containerd")


def _stop_daemon(proc: subprocess.Popen, grace: float) -> None:
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _report(left: list[str], engine: str) -> None:
    """What an engine's ``with`` block had to force at its close (or could not remove: the entry
    says so) is said, not dropped: a bench, which has no leak check of its own, then names it."""
    for x in left:
        sys.stderr.write(f"warning: {engine}: had to be removed by force: {x}\n")


def force_clean(workdir, cgroup_parent: str) -> list[str]:
    """What an engine left in ``workdir`` and under ``cgroup_parent``: kill, unmount, remove;
    the cgroups that could not be removed (a process kept coming back, or would not die)."""
    for pid in processes_mentioning(str(workdir)):
        with _suppress():
            os.kill(pid, signal.SIGKILL)
    for m in sorted(mounts_under(str(workdir)), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    return [f"cgroup {c} (could not be removed)" for c in remove_cgroup_tree(cgroup_parent)]


def cgroups_named(name: str, depth: int = 7) -> list[str]:
    """Cgroups called ``name`` anywhere (a few levels deep) in any hierarchy."""
    found = []
    for ctrl in os.listdir(CGROUP_ROOT):
        for dirpath, dirnames, _ in os.walk(os.path.join(CGROUP_ROOT, ctrl)):
            found += [os.path.join(dirpath, d) for d in dirnames if d == name]
            if dirpath.count("/") > depth:
                dirnames[:] = []
    return found


def _cgroup_procs(path: str) -> list[str]:
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return f.read().split()
    except OSError:
        return []


def processes_mentioning(text: str) -> list[int]:
    """Processes whose command line names ``text`` (conmon, shims, leftovers)."""
    out = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    out.append(int(name))
        except OSError:
            continue
    return out


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, ProcessLookupError)


def wipe(path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- dockerd


DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"  # Debian's docker.io client, of the same release as its daemon


@contextlib.contextmanager
def dockerd_with_busybox(work: Path, image: str, *, tag: str = "docker", **layout):
    """A started :class:`Dockerd` (a context manager) that has ``image`` loaded: a busybox image
    built offline in ``work`` (``layout``: ``build_busybox_layout``'s options); the test fails when
    dockerd or the tools are missing."""
    import pytest

    from tests.helpers.registry import build_busybox_layout, missing_tools, skopeo_copy

    if not (os.access(DOCKERD, os.X_OK) and os.access(DOCKER, os.X_OK)):
        pytest.fail("dockerd missing: apt-get install docker.io")
    if missing_tools():
        pytest.fail(f"missing tools: apt-get install {' '.join(missing_tools())}")
    oci = build_busybox_layout(work / "oci", **layout)
    skopeo_copy(f"oci:{oci}:latest", f"docker-archive:{work}/busybox.tar:{image}")
    with Dockerd(tag=tag) as dk:
        dk("load", "-i", str(work / "busybox.tar"))
        yield dk


class Dockerd:
    """Debian's dockerd with ``pycr-oci`` as its default runtime, every path of
    it in a short temp dir (data-root, exec-root, pidfile, socket, client
    config), no iptables, no bridge, cgroupfs with a cgroup parent under ours.
    Containers need ``--network none`` (there is no bridge network)."""

    def __init__(self, runtime: str = PYCR_OCI, tag: str = "docker"):
        import tempfile

        # the managed containerd's socket lives under exec-root: keep the path short
        self.dir = Path(tempfile.mkdtemp(prefix="pycr-dk-"))
        self.socket = str(self.dir / "docker.sock")
        self.runtime = runtime
        self.cgroup_parent = parent_cgroup(tag)
        (self.dir / "daemon.json").write_text("{}\n")
        (self.dir / "client").mkdir()
        self.proc = None
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_CONFIG": str(self.dir / "client")}

    def argv(self) -> list[str]:
        d = self.dir
        return [DOCKERD, "--config-file", str(d / "daemon.json"), "--data-root", str(d / "data"),
                "--exec-root", str(d / "exec"), "--pidfile", str(d / "docker.pid"), "-H", f"unix://{self.socket}",
                "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-forward=false",
                "--ip-masq=false", "--userland-proxy=false", "--storage-driver", "overlay2",
                "--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", self.cgroup_parent,
                "--add-runtime", f"pycr={self.runtime}", "--default-runtime", "pycr", "--log-level", "warn"]

    def start(self):
        log = open(self.dir / "dockerd.log", "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     cwd=str(self.dir), env={**os.environ, "TMPDIR": str(self.dir)})
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited: {(self.dir / 'dockerd.log').read_text()[-3000:]}")
            if os.path.exists(self.socket) and self("version", check=False).returncode == 0:
                return self
            time.sleep(0.2)
        self.close()
        raise RuntimeError("dockerd did not start in 60s")

    def __call__(self, *args, check=True, timeout=120, **kw) -> subprocess.CompletedProcess:
        return run([DOCKER, *args], check=check, timeout=timeout, env=self.env, **kw)

    def run_args(self, *extra) -> list[str]:
        return ["--network", "none", *extra]

    def leftovers(self) -> list[str]:
        left = [f"container {c}" for c in self("ps", "-aq", check=False).stdout.split()]
        left += [f"cgroup {c}" for c in cgroup_children(self.cgroup_parent)]
        left += [f"mount {m}" for m in mounts_under(str(self.dir)) if "/merged" in m or "/mounts/shm" in m
                 or "/rootfs" in m]
        daemon = {self.proc.pid} if self.proc else set()
        left += [f"process {p}" for p in processes_mentioning(str(self.dir))
                 if p not in daemon and b"containerd" not in _cmdline(p)]
        return left

    def close(self) -> list[str]:
        """Stop every container and the daemon (and its containerd), remove everything; what
        could not be removed."""
        if self.proc is not None and self.proc.poll() is None:
            ids = self("ps", "-aq", check=False).stdout.split()
            if ids:
                self("rm", "--force", *ids, check=False)
            _stop_daemon(self.proc, 30)
        left = force_clean(self.dir, self.cgroup_parent)
        if not mounts_under(str(self.dir)):
            wipe(self.dir)
        return left

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        _report(self.close(), "dockerd")


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""
