"""``pycr run`` with ``-d``, ``-t`` or ``--restart``: the modes the monitor and the pty proxy add.

- ``-d``: create the container (record, rootfs, bundle), start it under its
  monitor, print the id.  A failure to start removes it again (nothing
  stays but an error line).
- ``-t`` without ``-d``: the container's pty is proxied to our terminal and
  everything is undone when it exits, as a plain ``pycr run`` does.
"""

from __future__ import annotations

import contextlib
import os


def run(opts, ns) -> int:
    from pycr.core.errors import ConfigError

    if ns.detach:
        return run_detached(opts, ns)
    if ns.restart not in (None, "no"):
        raise ConfigError("--restart needs -d: the monitor of a detached container carries it out")
    return run_tty(opts, ns)


def run_detached(opts, ns) -> int:
    from pycr.core.containers import cleanup, launch
    from pycr.core.containers.create import create

    rec = create(opts, ns)
    try:
        launch.start(rec)
    except BaseException:  # did not start, or interrupted: leave nothing half-made
        with contextlib.suppress(Exception):
            cleanup.kill_monitor(rec.reload(), 5)
            cleanup.remove(rec)
        raise
    print(rec.id, flush=True)
    return 0


def run_tty(opts, ns) -> int:
    """Foreground ``run -t``: as ``pycr run``, with the container's pty proxied to our terminal."""
    import json
    import secrets
    import shutil

    from pycr.core.containers import tty
    from pycr.core.errors import PycrError
    from pycr.core.images import runconfig, transports
    from pycr.core.images.store import Store, atomic_write
    from pycr.core.linux import syscalls as S
    from pycr.core.rootfs import load_strategy
    from pycr.core.runtime import lifecycle

    store = Store()
    strategy_cls = load_strategy(opts)
    name, image = transports.ensure_image(opts, store, ns.image, platform=ns.platform, quiet=ns.quiet,
                                          insecure_registries=ns.insecure_registry)
    cid = ns.name or secrets.token_hex(6)
    env = []
    for f in ns.env_file:
        env += runconfig.read_env_file(f)
    run_opts = runconfig.RunOptions(
        args=list(ns.command), entrypoint=ns.entrypoint, env=env + ns.env, workdir=ns.workdir, user=ns.user,
        hostname=ns.hostname, read_only=ns.read_only, volumes=ns.volume, memory=ns.memory, cpus=ns.cpus,
        pids_limit=ns.pids_limit, terminal=True)
    cdir = os.path.join(store.root, "containers", cid)
    with contextlib.ExitStack() as stack:
        try:
            os.makedirs(os.path.dirname(cdir), exist_ok=True)
            os.mkdir(cdir, 0o700)
        except FileExistsError:
            raise PycrError(f"container name {cid!r} is already in use (directory {cdir})") from None
        stack.callback(shutil.rmtree, cdir, True)
        atomic_write(os.path.join(cdir, "image.json"), json.dumps({"manifest": image.digest, "name": name}).encode())
        strategy = strategy_cls(store)
        rootfs = strategy.prepare(image, cdir, stack, read_only=ns.read_only)
        config = runconfig.build_config(image.config, rootfs, run_opts, container_id=cid,
                                        annotations={"org.opencontainers.image.ref.name": name or ns.image,
                                                     "io.pycr.image.digest": image.digest,
                                                     "io.pycr.rootfs": strategy.name})
        bundle = os.path.join(cdir, "bundle")
        os.mkdir(bundle, 0o700)
        atomic_write(os.path.join(bundle, "config.json"), json.dumps(config, indent=1).encode())
        S.SYSCALLS.prctl(S.PR_SET_CHILD_SUBREAPER, 1)
        with tty.console_listener() as (sock, sock_path):
            c = lifecycle.create(opts, cid, bundle, no_pivot=strategy.no_pivot, console_socket=sock_path,
                                 validate_schema=False)  # pycr wrote this config itself
            stack.callback(lifecycle.delete, opts, cid, True)
            master = tty.receive_master(sock)
        lifecycle.start(opts, cid)
        return tty.proxy(master, c.pid, stdin=ns.interactive)
