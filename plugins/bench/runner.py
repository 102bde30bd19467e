"""Execute a :class:`~pycr.plugins.bench.matrix.Matrix`: build one bundle per
cell on a shared busybox rootfs, check each strategy once (a strategy that
cannot run here is skipped with its reason, not silently dropped), then run
the schedule.  Each sample is one runtime process run to completion; its
wall time is measured around the process, its CPU time and peak RSS come
from ``wait4``, and pycr's phase times from ``--trace-file``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from pycr.core import PycrError
from pycr.plugins.bench.matrix import Matrix
from pycr.plugins.bench.strategies import Strategy
from pycr.plugins.bench.workloads import Workload


IMAGE = "bench-busybox:latest"


def image_env(workdir: str) -> dict:
    """The environment of every run: a private image store under ``workdir``."""
    return {**os.environ, "PYCR_STORAGE": os.path.join(workdir, "store")}


def import_image(rootfs: str, workdir: str, name: str = IMAGE) -> str:
    """``pycr import`` ``rootfs`` as a one-layer image into the private store."""
    tarball = os.path.join(workdir, "rootfs.tar")
    subprocess.run(["tar", "-C", rootfs, "-cf", tarball, "."], check=True)
    proc = subprocess.run([sys.executable, "-P", "-m", "pycr.core.cli.main", "import", tarball, name],
                          env=image_env(workdir), capture_output=True, text=True)
    os.unlink(tarball)
    if proc.returncode:
        raise PycrError(f"bench: importing the busybox image failed: {proc.stderr.strip()}")
    open(os.path.join(workdir, "store", ".imported"), "w").close()
    return name


@dataclass
class RunResult:
    samples: list[dict] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    warmups: int = 0
    loaded: dict[str, dict] = field(default_factory=dict)  # strategy -> plugins and drivers of its pre-run
    interrupted: bool = False


def _error_line(code: int, err, out) -> str:
    """The last line the run printed on stderr (else stdout), or what its status says."""
    if code == 0:
        return ""
    for f in (err, out):
        f.seek(0)
        lines = [line for line in f.read().splitlines() if line.strip()]
        if lines:
            return lines[-1].strip()
    if code < 0:
        return f"killed by signal {-code}, nothing printed"
    return f"exited with status {code}, nothing printed on stdout or stderr"


class Runner:
    """``pycr_globals`` (``-p no:NAME`` ...) are passed to every pycr cell;
    ``on_sample`` is called with each measured sample as soon as it exists."""

    def __init__(self, matrix: Matrix, workdir: str | None = None, progress=None, pycr_globals=(),
                 on_sample=None):
        self.matrix = matrix
        self.pycr_globals = list(pycr_globals)
        self.on_sample = on_sample
        self.own_workdir = workdir is None
        # the pid in the name tells whose work dir it is (a test counts only its own child's)
        self.workdir = workdir or tempfile.mkdtemp(prefix=f"pycr-bench-{os.getpid()}-", dir="/var/tmp")
        self.state_root = os.path.join(self.workdir, "state")
        self.rootfs = os.path.join(self.workdir, "base", "rootfs")
        self.progress = progress
        self.tag = f"b{os.getpid()}"

    # -- bundles --------------------------------------------------------------
    def _base_config(self) -> dict:
        from pycr.core.testing import make_bundle

        base = os.path.join(self.workdir, "base")
        if not os.path.isdir(self.rootfs):
            make_bundle(base)
        with open(os.path.join(base, "config.json")) as f:
            return json.load(f)

    def image(self) -> str:
        """The base rootfs imported once as a one-layer image, in a store of our own."""
        if not os.path.exists(os.path.join(self.workdir, "store", ".imported")):
            self._base_config()
            import_image(self.rootfs, self.workdir)
        return IMAGE

    @property
    def env(self) -> dict:
        return image_env(self.workdir)

    def bundle(self, s: Strategy, w: Workload) -> str:
        if s.runtime == "pycr-image":
            return ""
        path = os.path.join(self.workdir, "bundles", f"{s.name}__{w.name}")
        if os.path.exists(os.path.join(path, "config.json")):
            return path
        config = self._base_config()
        config["root"]["path"] = self.rootfs
        config["process"]["args"] = list(w.args)
        if w.memory_limit:
            res = config["linux"].setdefault("resources", {})
            res["memory"] = {"limit": w.memory_limit}
        config = s.adapt_config(config, f"{self.tag}-{s.name}")
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
        return path

    # -- one sample -----------------------------------------------------------
    def run_one(self, s: Strategy, w: Workload, index: int, facts_file: str | None = None) -> dict:
        cid = f"{self.tag}-{index}"
        ours = s.runtime in ("pycr", "pycr-image")
        trace = os.path.join(self.workdir, f"trace-{index}.json") if ours else None
        image = self.image() if s.runtime == "pycr-image" else None
        argv = s.command(self.state_root, self.bundle(s, w), cid, trace, workload=w, image=image,
                         pycr_globals=self.pycr_globals, facts_file=facts_file if ours else None)
        err_path, out_path = os.path.join(self.workdir, "stderr"), os.path.join(self.workdir, "stdout")
        with open(err_path, "w+") as err, open(out_path, "w+") as out:
            started = time.time()
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True, env=self.env)
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            except BaseException:
                self._abort(proc, s, cid)
                raise
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            error = _error_line(proc.returncode, err, out)
        sample = {"index": index, **s.facts(), "workload": w.name,
                  "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started)) + f".{int(started % 1 * 1000):03d}Z",
                  "wall_ms": round(wall * 1000, 3),
                  "user_ms": round(usage.ru_utime * 1000, 3), "sys_ms": round(usage.ru_stime * 1000, 3),
                  "maxrss_kib": usage.ru_maxrss, "exit": proc.returncode, "ok": proc.returncode == 0,
                  "error": error}
        if trace:
            try:
                with open(trace) as f:
                    data = json.load(f)
                sample["phases"] = data.get("phases", {})
                sample["plugins"] = data.get("plugins", {})
                sample["drivers"] = data.get("drivers", {})
                os.unlink(trace)
            except (OSError, ValueError):
                sample["phases"] = {}
            ran = sample.get("drivers", {}).get("rootfs")
            if ran:  # what actually ran, not what the strategy asked for
                sample["rootfs"] = ran["name"]
                sample["root_switch"] = s.switch or ("move+chroot" if ran.get("no_pivot") else "pivot_root")
        return sample

    def _abort(self, proc, s: Strategy, cid: str) -> None:
        """Interrupted mid-sample: stop the runtime and delete its container."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        if s.runtime == "pycr-image":
            argv = [sys.executable, "-P", "-m", "pycr.core.cli.main", "--root", self.state_root, "rm", "-f", cid]
        elif s.runtime == "pycr":
            argv = [sys.executable, "-P", "-m", "pycr.core.cli.oci", "--root", self.state_root, "delete", "--force", cid]
        else:
            argv = [s.runtime, "--root", self.state_root, "delete", "--force", cid]
        subprocess.run(argv, capture_output=True, env=self.env)

    # -- the study -------------------------------------------------------------
    def preflight(self, loaded: dict | None = None) -> dict[str, str]:
        """Run each strategy once on the first workload; name why one fails.
        ``loaded`` receives, per pycr strategy, the plugins and drivers its run loaded."""
        skipped = {}
        for i, s in enumerate(self.matrix.strategies):
            reason = s.unavailable()
            if reason is None:
                facts_file = os.path.join(self.workdir, f"facts-{i}.json")
                w = self.matrix.workloads[0]
                try:
                    sample = self.run_one(s, w, -1000 - i, facts_file=facts_file)
                except PycrError as e:  # e.g. a strategy whose config cannot be built
                    skipped[s.name] = str(e)
                    continue
                if loaded is not None and os.path.exists(facts_file):
                    with open(facts_file) as f:
                        loaded[s.name] = json.load(f)
                    os.unlink(facts_file)
                if not sample["ok"]:
                    reason = f"pre-run of workload {w.name!r} failed with exit {sample['exit']}: {sample['error']}"
            if reason:
                skipped[s.name] = reason
        return skipped

    def run(self) -> RunResult:
        """The study; Ctrl-C (or SIGTERM raised as KeyboardInterrupt) stops it and
        returns what was measured so far, with ``interrupted`` set."""
        result = RunResult()
        try:
            result.skipped = self.preflight(result.loaded)
            keep = [s for s in self.matrix.strategies if s.name not in result.skipped]
            plan = Matrix(keep, self.matrix.workloads, self.matrix.repeat, self.matrix.warmup, self.matrix.seed)
            schedule = plan.schedule()
            if self.progress:
                self.progress.total = len(schedule)
            for index, warm, s, w in schedule:
                sample = self.run_one(s, w, index)
                if self.progress:
                    self.progress.update(f"{s.name}/{w.name}")
                if warm:
                    result.warmups += 1
                    continue
                result.samples.append(sample)
                if self.on_sample:
                    self.on_sample(sample)
        except KeyboardInterrupt:
            result.interrupted = True
        finally:
            if self.progress:
                self.progress.close()
            if self.own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return result
