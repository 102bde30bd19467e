"""RUN: the command in a container of the stage so far, with pycr's own runtime and rootfs strategy.

The container is made as ``pycr run`` makes one (rootfs strategy from
``--rootfs``, cgroup backend from ``--backend``, ``runconfig`` defaults:
docker's capabilities, its own network namespace with only ``lo``), under
``containers/build-<id>/`` in the store; its stdin is /dev/null and its
output is shown line by line as it comes.  The change it made
becomes a layer (see :mod:`pycr.plugins.build.layers`) before the rootfs is
undone.  Mount points the runtime had to create (``/proc``, ``/dev``, ...)
are not part of the change.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal

from pycr.core import ConfigError, PycrError
from pycr.plugins import images
from pycr.plugins.build import layers


class BuildInterrupted(PycrError):
    """pycr build got SIGINT/SIGTERM/SIGHUP during a RUN: the RUN was killed, the build stops."""

    exit_code = 130


def run_step(opts, store, layer_list: list[dict], image_config: dict, argv: list[str], env: list[str],
             writer: layers.LayerWriter, on_line=None) -> tuple[int, bytes]:
    """Run ``argv``; on success add the filesystem change to ``writer``.  (exit code, all output).

    ``on_line(bytes)`` is called with each line of output as it comes."""
    from pycr.core import load_strategy, run_container, strategy_options

    RunOptions, build_config = images.runconfig.RunOptions, images.runconfig.build_config

    strategy_cls = load_strategy(opts)
    strategy = strategy_cls(store, strategy_options(opts, strategy_cls))  # pycr --rootfs-opt, as pycr run
    cid = "build-" + secrets.token_hex(6)
    cdir = os.path.join(store.root, "containers", cid)
    image = images.store.Image(cid, {"layers": layer_list}, image_config)
    cfg = image_config.get("config") or {}
    with contextlib.ExitStack() as stack:
        os.mkdir(cdir, 0o700)
        stack.callback(shutil.rmtree, cdir, True)
        rootfs = strategy.prepare(image, cdir, stack)
        try:
            config = build_config(image_config, rootfs, RunOptions(args=argv, env=env, user=cfg.get("User") or None,
                                                                   workdir=cfg.get("WorkingDir") or None),
                                  container_id=cid)
        except ConfigError as e:
            raise ConfigError(str(e).replace("-u ", "USER ", 1).replace("-w ", "WORKDIR ", 1)) from None
        mountpoints = _new_mountpoints(rootfs, config)
        before = layers.snapshot(rootfs) if strategy.no_pivot else None
        bundle = os.path.join(cdir, "bundle")
        os.mkdir(bundle, 0o700)
        images.store.atomic_write(os.path.join(bundle, "config.json"), json.dumps(config).encode())
        interrupted: list[int] = []

        def cancel(pid: int, signum: int) -> None:  # Ctrl-C cancels the build, as docker's does
            if signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                interrupted.append(signum)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

        code, output = _run_streamed(lambda: run_container(opts, cid, bundle, no_pivot=strategy.no_pivot,
                                                           validate_schema=False, stdin=False, on_signal=cancel),
                                     on_line)
        if interrupted:
            raise BuildInterrupted(f"interrupted by {signal.Signals(interrupted[0]).name}")
        if code == 0:
            skip = {m for m in mountpoints if _empty_dir(os.path.join(rootfs, m))}
            if strategy.no_pivot:
                layers.snapshot_diff(rootfs, before, writer, skip)
            else:
                layers.upper_diff(os.path.join(cdir, "upper"), writer, skip)
    return code, output


def _run_streamed(fn, on_line) -> tuple[int, bytes]:
    """``fn()`` with stdin /dev/null and stdout+stderr on a pipe read line by line by a thread.

    The container's processes all die with its init (own pid namespace), so
    the pipe reaches EOF once ``fn`` returned and our write end is closed."""
    import sys
    import threading

    chunks: list[bytes] = []
    r, w = os.pipe()

    def pump():
        with os.fdopen(r, "rb") as f:
            for line in f:
                chunks.append(line)
                if on_line is not None:
                    on_line(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(n) for n in (0, 1, 2)]
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
        os.dup2(w, 1)
        os.dup2(w, 2)
        os.close(w)
        w = -1
        code = fn()
    finally:
        for n, fd in enumerate(saved):
            os.dup2(fd, n)
            os.close(fd)
        os.close(null)
        if w >= 0:
            os.close(w)
    reader.join(30)
    return code, b"".join(chunks)


def _new_mountpoints(rootfs: str, config: dict) -> set[str]:
    """Mount destinations (and their parents) the rootfs does not have yet: the runtime creates them."""
    out = set()
    for m in config.get("mounts", []):
        parts = m["destination"].strip("/").split("/")
        for i in range(1, len(parts) + 1):
            rel = "/".join(parts[:i])
            if not os.path.lexists(os.path.join(rootfs, rel)):
                out.add(rel)
    return out


def _empty_dir(path: str) -> bool:
    try:
        return os.path.isdir(path) and not os.path.islink(path) and all(
            _empty_dir(os.path.join(path, n)) for n in os.listdir(path))
    except OSError:
        return False
