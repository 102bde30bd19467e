"""Build speed: ``pycr build`` versus ``buildah bud --layers`` on the same few-step Dockerfile.

Three cases, each timed for both tools, interleaved in one run (the order of
the tools is shuffled every round):

- cold: an empty store / empty buildah storage;
- cached: the same build again, nothing changed (every step from the cache);
- one-file change: one file of the last COPY changed (that step and the RUN after it rerun);
- N metadata lines: ``FROM scratch``, one COPY, then ``--lines`` LABEL/ENV/EXPOSE/ARG/USER/CMD/
  STOPSIGNAL/VOLUME/MAINTAINER lines, cold.  buildah runs it without ``--layers`` (one commit at
  the end, its fast way: with ``--layers`` it commits an image per instruction, 80 s for 500 LABELs
  on the dev VM); pycr as always (a cache record per layer step, none per metadata line).

Both run RUN steps in a chroot-free container of their own kind: pycr with
its default overlay rootfs, buildah with ``--isolation chroot`` and the
``overlay`` storage driver.  Prints medians and ratios (pycr / buildah; below
1.0 means pycr is faster).  Goals: cached <= 0.5, cold <= 1.0.

Run as root from the repository: ``.venv/bin/python bench/build_vs_buildah.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
PYCR = str(Path(sys.executable).parent / "pycr")

DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV APP=/app
WORKDIR /app
COPY lib/ /app/lib/
RUN mkdir -p /etc && echo 'app:x:1000:1000::/app:/bin/sh' > /etc/passwd && ls lib | wc -l > /app/count
COPY src/ /app/src/
RUN cat /app/src/* | wc -c > /app/size
USER app
CMD ["sh", "-c", "cat /app/count /app/size"]
"""


METADATA = ("LABEL org.example.k{i}=v{i}", "ENV E{m}=x{i}", "EXPOSE {p}", "ARG A{m}=a{i}", "USER u{m}",
            'CMD ["echo", "{i}"]', "STOPSIGNAL SIGTERM", "VOLUME /v{m}", "MAINTAINER m{i}")


def make_many(root: Path, lines: int) -> Path:
    ctx = root / "many"
    ctx.mkdir()
    shutil.copy("/bin/busybox", ctx / "busybox")
    body = [METADATA[i % len(METADATA)].format(i=i, m=i % 500, p=1 + i % 65535) for i in range(lines)]
    (ctx / "Dockerfile").write_text("\n".join(["FROM scratch", "COPY busybox /bin/busybox", *body]) + "\n")
    return ctx


def make_context(root: Path) -> Path:
    ctx = root / "ctx"
    (ctx / "lib").mkdir(parents=True)
    (ctx / "src").mkdir()
    shutil.copy("/bin/busybox", ctx / "busybox")
    rnd = random.Random(1)
    for i in range(200):
        (ctx / "lib" / f"mod{i}.txt").write_bytes(rnd.randbytes(4096))
    for i in range(20):
        (ctx / "src" / f"file{i}.txt").write_text(f"source {i}\n" * 50)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    return ctx


def timed(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"{' '.join(argv[:3])} failed:\n{r.stdout}{r.stderr}")
    return took


class Pycr:
    name = "pycr"

    def __init__(self, work: Path):
        self.work = work

    def reset(self):
        shutil.rmtree(self.work / "store", ignore_errors=True)

    def build(self, ctx: Path, layers: bool = True) -> float:  # layers: buildah's choice; pycr has one way
        env = {**os.environ, "PYCR_STORAGE": str(self.work / "store")}
        return timed([PYCR, "--root", str(self.work / "run"), "build", "-q", "-t", "bench", str(ctx)], env)

    def close(self):
        shutil.rmtree(self.work / "store", ignore_errors=True)


class Buildah:
    name = "buildah"

    def __init__(self, work: Path):
        self.work = work
        self.argv = ["buildah", "--root", str(work / "root"), "--runroot", str(work / "runroot"),
                     "--storage-driver", "overlay"]

    def reset(self):
        self.close()

    def build(self, ctx: Path, layers: bool = True) -> float:
        return timed([*self.argv, "bud", *(["--layers"] if layers else []), "--isolation", "chroot", "-q", "-t",
                      "bench", str(ctx)], dict(os.environ))

    def close(self):
        subprocess.run([*self.argv, "rmi", "--all", "--force"], capture_output=True)
        with open("/proc/mounts") as f:
            mounts = [line.split()[1] for line in f if str(self.work) in line.split()[1]]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(self.work / "root", ignore_errors=True)
        shutil.rmtree(self.work / "runroot", ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--lines", type=int, default=5000, help="metadata lines of the many-instructions case")
    args = ap.parse_args()
    many_case = f"{args.lines} metadata lines"
    if shutil.which("buildah") is None:
        sys.exit("buildah is missing: apt-get install buildah")
    work = Path(tempfile.mkdtemp(prefix="pycr-bench-build-"))
    tools = [Pycr(work / "pycr"), Buildah(work / "buildah")]
    times: dict[tuple[str, str], list[float]] = {}
    try:
        ctx = make_context(work)
        many = make_many(work, args.lines)
        for round_no in range(args.repeat):
            random.shuffle(tools)
            for tool in tools:
                src = ctx / "src" / "file0.txt"
                src.write_text("source 0\n" * 50)
                tool.reset()
                times.setdefault((tool.name, "cold"), []).append(tool.build(ctx))
                times.setdefault((tool.name, "cached"), []).append(tool.build(ctx))
                src.write_text(f"changed in round {round_no}\n")
                times.setdefault((tool.name, "one-file change"), []).append(tool.build(ctx))
                tool.reset()
                times.setdefault((tool.name, many_case), []).append(tool.build(many, layers=False))
                tool.close()
    finally:
        for tool in tools:
            tool.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'case':<24}{'pycr':>10}{'buildah':>10}{'ratio':>8}   (medians of {args.repeat}, seconds)")
    for case in ("cold", "cached", "one-file change", many_case):
        p = statistics.median(times[("pycr", case)])
        b = statistics.median(times[("buildah", case)])
        print(f"{case:<24}{p:>10.3f}{b:>10.3f}{p / b:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
