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
    from pycr.plugins.manage.create import add_create_arguments

    add_create_arguments(p)  # the options `pycr create` has, plus -d
    p.add_argument("-d", "--detach", action="store_true", help="run under a monitor in the background; print the id")


def run(opts, ns) -> int:
    import secrets
    import shutil

    from pycr.core import PycrError, load_strategy, open_store, strategy_options
    from pycr.plugins.images import runconfig, transports
    from pycr.plugins.images.store import atomic_write

    from pycr.plugins.manage.create import check_usage, fit_backend, network_config

    check_usage(ns, "run")
    if ns.detach or ns.restart != "no":  # the monitor's modes: pycr.plugins.manage
        from pycr.plugins.manage.run import run as run_managed

        return run_managed(opts, ns)
    from pycr.plugins.manage.create import run_options

    run_opts = run_options(ns)  # every bad option fails before a pull
    store = open_store(opts=opts)  # the pycr.store driver: `local`, from the images plugin
    strategy_cls = load_strategy(opts)  # a wrong --rootfs fails before any pull
    name, image = transports.ensure_image(opts, store, ns.image, platform=ns.platform, quiet=ns.quiet,
                                          insecure_registries=ns.insecure_registry)
    cid = ns.name or secrets.token_hex(6)
    cdir = os.path.join(store.root, "containers", cid)
    with contextlib.ExitStack() as stack:
        try:
            os.mkdir(cdir, 0o700)
        except FileExistsError:
            raise PycrError(f"container name {cid!r} is already in use (directory {cdir})") from None
        stack.callback(shutil.rmtree, cdir, True)
        atomic_write(os.path.join(cdir, "image.json"),
                     json.dumps({"manifest": image.digest, "name": name}).encode())
        strategy = strategy_cls(store, strategy_options(opts, strategy_cls))
        rootfs = strategy.prepare(image, cdir, stack, read_only=ns.read_only)
        config = runconfig.build_config(image.config, rootfs, run_opts, container_id=cid,
                                        annotations={"org.opencontainers.image.ref.name": name or ns.image,
                                                     "io.pycr.image.digest": image.digest,
                                                     "io.pycr.rootfs": strategy.name})
        fit_backend(opts, config)
        network_config(opts, ns, config, image.config, cid, cdir, store.root)
        bundle = os.path.join(cdir, "bundle")
        os.mkdir(bundle, 0o700)
        atomic_write(os.path.join(bundle, "config.json"), json.dumps(config, indent=1).encode())
        from pycr.core import run_container

        return run_container(opts, cid, bundle, no_pivot=strategy.no_pivot, terminal=ns.tty, stdin=ns.interactive,
                             validate_schema=False)  # runconfig built it: typed by construction
