"""What runs inside the container: busybox command lines, so every runtime
runs exactly the same binary on the same bundle."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Workload:
    name: str
    args: tuple[str, ...]
    description: str = ""
    memory_limit: int | None = None  # bytes; applied where the cgroup backend can


BUILTIN: tuple[Workload, ...] = (
    Workload("true", ("/bin/true",), "start-to-exit latency of /bin/true"),
    Workload("fork", ("/bin/sh", "-c", "i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done"),
             "fork-heavy loop: 300 fork+exec of /bin/true"),
    Workload("fileio", ("/bin/sh", "-c", "dd if=/dev/zero of=/tmp/bench.dat bs=1M count=32 conv=fsync 2>/dev/null"
                        " && dd if=/tmp/bench.dat of=/dev/null bs=1M 2>/dev/null && rm /tmp/bench.dat"),
             "32 MiB written with fsync and read back on the container's rootfs"),
    Workload("memory", ("/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=2"),
             "a 128 MiB buffer allocated and filled twice (limit 512 MiB where enforced)",
             memory_limit=512 * 1024 * 1024),
)
