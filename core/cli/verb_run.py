"""``pycr run IMAGE [CMD...]``: pull if missing, build a rootfs and a config, run in the foreground.

Everything made for the container (rootfs mount, upper dir or private copy,
bundle, runtime state) is undone when it exits, fails or is interrupted:
each step registers its undo on one ``ExitStack``.  The exit status is the
container's (128+signal when killed).
"""

from __future__ import annotations

import contextlib
import json
import os


def add_arguments(p) -> None:
    p.add_argument("--rm", action="store_true", help="accepted for docker compatibility: pycr always removes "
                   "the container when it exits")
    p.add_argument("--name", help="container id (default: random)")
    p.add_argument("-e", "--env", action="append", default=[], metavar="K=V")
    p.add_argument("--env-file", action="append", default=[], metavar="FILE")
    p.add_argument("-v", "--volume", action="append", default=[], metavar="SRC:DST[:ro]")
    p.add_argument("--memory", "-m", metavar="SIZE")
    p.add_argument("--cpus", metavar="N")
    p.add_argument("--pids-limit", type=int, metavar="N")
    p.add_argument("-w", "--workdir", metavar="DIR")
    p.add_argument("-u", "--user", metavar="USER[:GROUP]")
    p.add_argument("--hostname", metavar="H")
    p.add_argument("--read-only", action="store_true", help="mount the rootfs read-only")
    p.add_argument("--entrypoint", metavar="E")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="platform to pull (default: this host)")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                   help="allow plain HTTP to this registry")
    p.add_argument("-q", "--quiet", action="store_true", help="no pull progress")
    p.add_argument("-d", "--detach", action="store_true", help="run under a monitor in the background; print the id")
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin connected")
    p.add_argument("-t", "--tty", action="store_true", help="a pty proxied to this terminal")
    p.add_argument("--restart", default="no", metavar="POLICY", help="with -d: no | on-failure[:N] | always")
    p.add_argument("image")
    p.add_argument("command", nargs="...", help="command and arguments (default: the image's)")


def run(opts, ns) -> int:
    import secrets
    import shutil

    from pycr.core.errors import PycrError
    from pycr.core.images import runconfig, transports
    from pycr.core.images.store import Store, atomic_write
    from pycr.core.rootfs import load_strategy

    if ns.detach or ns.tty or ns.restart != "no":  # monitor / pty modes: pycr.core.containers
        from pycr.core.containers.run import run as run_managed

        return run_managed(opts, ns)
    store = Store()
    strategy_cls = load_strategy(opts)  # a wrong --rootfs fails before any pull
    name, image = transports.ensure_image(opts, store, ns.image, platform=ns.platform, quiet=ns.quiet,
                                          insecure_registries=ns.insecure_registry)
    cid = ns.name or secrets.token_hex(6)
    env = []
    for f in ns.env_file:
        env += runconfig.read_env_file(f)
    run_opts = runconfig.RunOptions(
        args=list(ns.command), entrypoint=ns.entrypoint, env=env + ns.env, workdir=ns.workdir, user=ns.user,
        hostname=ns.hostname, read_only=ns.read_only, volumes=ns.volume, memory=ns.memory, cpus=ns.cpus,
        pids_limit=ns.pids_limit)
    cdir = os.path.join(store.root, "containers", cid)
    with contextlib.ExitStack() as stack:
        try:
            os.mkdir(cdir, 0o700)
        except FileExistsError:
            raise PycrError(f"container name {cid!r} is already in use (directory {cdir})") from None
        stack.callback(shutil.rmtree, cdir, True)
        atomic_write(os.path.join(cdir, "image.json"),
                     json.dumps({"manifest": image.digest, "name": name}).encode())
        strategy = strategy_cls(store)
        rootfs = strategy.prepare(image, cdir, stack, read_only=ns.read_only)
        config = runconfig.build_config(image.config, rootfs, run_opts, container_id=cid,
                                        annotations={"org.opencontainers.image.ref.name": name or ns.image,
                                                     "io.pycr.image.digest": image.digest,
                                                     "io.pycr.rootfs": strategy.name})
        bundle = os.path.join(cdir, "bundle")
        os.mkdir(bundle, 0o700)
        atomic_write(os.path.join(bundle, "config.json"), json.dumps(config, indent=1).encode())
        from pycr.core.runtime.lifecycle import run_container

        return run_container(opts, cid, bundle, no_pivot=strategy.no_pivot,
                             validate_schema=False)  # runconfig built it: typed by construction
