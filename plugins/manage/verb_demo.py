"""``pycr demo``: run a container from a busybox-static bundle built locally.

No network and no image store: the bundle is one static binary, so this is
the quickest proof that the runtime, its cgroup backend and the built-in
plugins work on this machine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid

SCRIPT = ('echo "hello from inside a pycr container:"; echo "  hostname: $(hostname)"; '
          'echo "  my pid:   $$ (a new pid namespace)"; echo "  user:     $(id)"; '
          'echo "  memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null '
          '|| cat /sys/fs/cgroup/memory.max 2>/dev/null)"; echo "  processes: $(ps | wc -l) lines of ps"')


def add_arguments(parser):
    parser.add_argument("command", nargs="*", help="command to run instead of the greeting")
    parser.add_argument("--memory", default="128m", help="memory limit (default 128m)")
    parser.add_argument("--no-pivot", action="store_true", help="enter the rootfs with chroot")


def run(opts, ns) -> int:
    from pycr.core import run_container
    from pycr.core.testing import make_bundle

    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    limit = int(ns.memory[:-1]) * units[ns.memory[-1].lower()] if ns.memory[-1].isalpha() else int(ns.memory)
    work = tempfile.mkdtemp(prefix="pycr-demo-")
    try:
        bundle = make_bundle(os.path.join(work, "bundle"), ns.command or ["sh", "-c", SCRIPT],
                             hostname="pycr-demo", linux={"resources": {"memory": {"limit": limit}}})
        return run_container(opts, f"pycr-demo-{uuid.uuid4().hex[:8]}", bundle, no_pivot=ns.no_pivot)
    finally:
        shutil.rmtree(work, ignore_errors=True)
