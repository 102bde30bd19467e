"""``pycr create`` / ``run -d``: image -> record, rootfs and bundle, ready for the monitor.

Nothing runs yet.  The rootfs stays mounted until the container is removed
(``cleanup.remove``), so a stopped container can be started again.  If any
step fails, everything made so far is undone and no record is left.
"""

from __future__ import annotations

import contextlib
import json
import os


def add_create_arguments(p) -> None:
    """The options ``create`` shares with ``run``'s detached mode."""
    p.add_argument("--name", help="container name (default: a random one)")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("--restart", default="no", metavar="POLICY", help="no | on-failure[:N] | always")
    p.add_argument("--monitor", metavar="NAME", help="what watches the container: pycr or conmon "
                                                    "(default: $PYCR_MONITOR, else pycr)")
    p.add_argument("--log-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="as docker's json-file: max-size=SIZE (k, m, g), max-file=N (default 1), compress=BOOL, "
                        "labels=K1,K2, labels-regex=RE, env=K1,K2, env-regex=RE, tag=TEMPLATE")
    p.add_argument("-l", "--label", action="append", default=[], metavar="K=V",
                   help="a label (docker's Config.Labels, over the image's): what --log-opt labels= picks")
    p.add_argument("--stop-signal", metavar="SIGNAL", help="what stop sends first (default: the image's "
                                                           "STOPSIGNAL, else SIGTERM)")
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument("-e", "--env", action="append", default=[], metavar="K=V")
    p.add_argument("--env-file", action="append", default=[], metavar="FILE")
    p.add_argument("-v", "--volume", action="append", default=[], metavar="SRC:DST[:ro]")
    p.add_argument("--memory", "-m", metavar="SIZE")
    p.add_argument("--cpus", metavar="N")
    p.add_argument("--pids-limit", type=int, metavar="N")
    p.add_argument("-w", "--workdir", metavar="DIR")
    p.add_argument("-u", "--user", metavar="USER[:GROUP]")
    p.add_argument("--hostname", metavar="H")
    p.add_argument("--read-only", action="store_true")
    p.add_argument("--entrypoint", metavar="E")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST")
    p.add_argument("-q", "--quiet", action="store_true", help="no pull progress")
    p.add_argument("--network", "--net", metavar="NET", help="bridge (default), host, none, container:NAME|ID "
                                                             "or a network from pycr network create")
    p.add_argument("--network-alias", action="append", default=[], metavar="NAME",
                   help="another name peers on a user network find this container by")
    p.add_argument("-p", "--publish", action="append", default=[], metavar="[IP:][HOST:]CONTAINER[/PROTO]")
    p.add_argument("-P", "--publish-all", action="store_true", help="publish every EXPOSEd port (and --expose)")
    p.add_argument("--expose", action="append", default=[], metavar="PORT[-LAST][/PROTO]",
                   help="a container port (or range) to expose: shown by inspect, published by -P")
    from pycr.plugins.seccomp.run_options import add_arguments as add_security_arguments

    add_security_arguments(p)  # --security-opt, --cap-add/drop, --privileged, --device, --ulimit, ...
    p.add_argument("image", nargs="?")  # checked by check_usage: argparse would call COMMAND required too
    p.add_argument("command", nargs="...")


def check_usage(ns, verb: str) -> None:
    """What argparse cannot say right: IMAGE is required, COMMAND is not; -it needs a terminal."""
    from pycr.core import ConfigError

    if not ns.image:
        raise ConfigError(f"pycr {verb} requires at least 1 argument: pycr {verb} [OPTIONS] IMAGE [COMMAND] [ARG...]")
    from pycr.plugins.manage.manage import need_terminal

    need_terminal(ns)


def fit_backend(opts, config: dict) -> None:
    """With ``--backend none`` there is no device cgroup to hold docker's default device rules,
    and the none driver rightly refuses them.  Keep the confinement by other means instead: drop
    the rules and CAP_MKNOD, so the container can use only the device nodes the runtime made.
    Limits the user asked for (``--memory``...) are still refused, in one line."""
    from pycr.core import resolve_backend

    if resolve_backend(opts.backend) != "none":
        return
    resources = config.get("linux", {}).get("resources", {})
    resources.pop("devices", None)
    caps = config.get("process", {}).get("capabilities", {})
    for kind in caps:
        caps[kind] = [c for c in caps[kind] if c != "CAP_MKNOD"]


def parse_restart(text: str) -> dict:
    from pycr.core import ConfigError

    name, _, count = (text or "no").partition(":")
    if name not in ("no", "on-failure", "always", "unless-stopped") or (count and name != "on-failure"):
        raise ConfigError(f"--restart {text!r}: use no, on-failure[:N] or always")
    try:
        limit = int(count) if count else 0
    except ValueError:
        raise ConfigError(f"--restart {text!r}: N must be a number") from None
    if limit < 0:
        raise ConfigError(f"--restart {text!r}: N must not be negative")
    return {"name": "always" if name == "unless-stopped" else name, "max": limit}


def run_options(ns):
    """``runconfig``'s options plus the confinement ones (the seccomp plugin's
    ``--security-opt``, ``--cap-add``, ``--device``...): every value is
    checked here, before anything is pulled or made."""
    from pycr.plugins.images import runconfig
    from pycr.plugins.seccomp.run_options import parse

    run_opts = runconfig.options_from_args(ns)
    run_opts.security = parse(ns, runconfig.parse_size)
    return run_opts


def parse_labels(values) -> dict:
    """``--label K=V`` values -> docker's ``Config.Labels`` (a bare ``K`` is ``K=``, as docker's); the
    API's ``Labels`` (checked there) come as they are."""
    from pycr.core import ConfigError, quoted

    if isinstance(values, dict):
        return dict(values)
    labels = {}
    for item in values or ():
        key, _, value = item.partition("=")
        if not key:
            raise ConfigError(f"--label {quoted(item)}: expected KEY=VALUE")
        labels[key] = value
    return labels


def expose_keys(values) -> dict:
    """``--expose`` values -> docker's ``ExposedPorts`` keys (``{"80/tcp": {}}``), each checked
    by the rule an image's keys follow; one line naming the value otherwise."""
    from pycr.core import ConfigError, exposed_port_keys

    keys = {}
    for value in values or ():
        try:
            keys.update(dict.fromkeys(exposed_port_keys(value), {}))
        except ValueError as e:
            raise ConfigError(f"--expose: {e}") from None
    return keys


def _check_signal(sig, what: str) -> None:
    """A stop signal is refused at create, not when the container is stopped."""
    from pycr.core import ConfigError, parse_signal

    if not isinstance(sig, str):
        raise ConfigError(f"{what}: {sig!r} is not a signal name or number")
    try:
        parse_signal(sig)
    except ConfigError as e:
        raise ConfigError(f"{what}: {e}") from None


def create(opts, ns, *, detach: bool = True):
    """Make a container from ``ns`` (parsed create/run options); returns its Record."""
    import shutil

    from pycr.core import ConfigError, load_strategy, open_store, strategy_options, trace_phase
    from pycr.plugins.images import runconfig, transports
    from pycr.plugins.images.store import atomic_write
    from pycr.plugins.manage import logfiles, monitors, records

    records.check_name(ns.name)  # before anything is pulled, made or mounted
    log_opts = logfiles.parse(getattr(ns, "log_opt", None))
    labels = parse_labels(getattr(ns, "label", None))
    monitor = monitors.chosen(opts, ns, check=detach)  # a foreground run is watched by its own pycr
    restart = parse_restart(ns.restart)
    if ns.rm and restart["name"] != "no":
        raise ConfigError("--restart and --rm conflict: a container that is removed cannot restart")
    run_opts = run_options(ns)  # every bad option fails before a pull
    expose = expose_keys(getattr(ns, "expose", None))
    stop_signal = getattr(ns, "stop_signal", None)
    if stop_signal:
        _check_signal(stop_signal, "--stop-signal")
    store = open_store(opts=opts)  # the pycr.store driver: `local`, from the images plugin
    strategy_cls = load_strategy(opts)
    if ns.name is not None:  # a taken name fails before a pull
        with contextlib.suppress(ConfigError):
            for r in records.all_records(store.root):
                if r.name == ns.name:
                    raise ConfigError(f"container name {ns.name!r} is already in use by container {r.short_id()}")
    name, image = transports.ensure_image(opts, store, ns.image, platform=ns.platform, quiet=ns.quiet,
                                          insecure_registries=ns.insecure_registry)
    if not stop_signal and (image.config.get("config") or {}).get("StopSignal"):
        stop_signal = image.config["config"]["StopSignal"]
        _check_signal(stop_signal, f"image {name or ns.image}: config.StopSignal")
    image_ports = (image.config.get("config") or {}).get("ExposedPorts")
    exposed = {**(image_ports if isinstance(image_ports, dict) else {}), **expose}  # docker's Config.ExposedPorts
    fields = {"image": name or ns.image, "image_digest": image.digest, "rootfs_strategy": strategy_cls.name,
              "exposed_ports": {k: {} for k in sorted(exposed)},
              "stop_signal": stop_signal or "SIGTERM",
              "no_pivot": bool(strategy_cls.no_pivot), "tty": bool(ns.tty), "interactive": bool(ns.interactive),
              "auto_remove": bool(ns.rm), "restart": restart, "log_opts": log_opts, "labels": labels,
              **({"monitor": monitor.name, "log_format": monitor.log_format} if detach else {}),
              "runtime": {"root": os.path.abspath(opts.root), "backend": opts.backend,
                          "plugin_opts": list(opts.plugin_opts)}}
    rec = records.new_record(store, ns.name, fields)
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, rec.dir, True)
        atomic_write(os.path.join(rec.dir, "image.json"),
                     json.dumps({"manifest": image.digest, "name": name}).encode())
        with trace_phase("rootfs-prepare"):
            rootfs = strategy_cls(store, strategy_options(opts, strategy_cls)).prepare(image, rec.dir, stack,
                                                                                      read_only=ns.read_only)
        config = runconfig.build_config(image.config, rootfs, run_opts, container_id=rec.id,
                                        annotations={**(getattr(ns, "annotations", None) or {}),
                                                     "org.opencontainers.image.ref.name": name or ns.image,
                                                     "io.pycr.image.digest": image.digest,
                                                     "io.pycr.rootfs": strategy_cls.name,
                                                     "io.pycr.name": rec.name})
        network = network_config(opts, ns, config, image.config, rec.name, rec.dir, store.root, expose)
        fit_backend(opts, config)
        os.mkdir(rec.bundle, 0o700)
        atomic_write(os.path.join(rec.bundle, "config.json"), json.dumps(config, indent=1).encode())
        image_cfg = image.config.get("config") or {}
        logfiles.save_attrs(rec.dir, log_opts, {**(image_cfg.get("Labels") or {}), **labels},
                            runconfig.merge_env(list(image_cfg.get("Env") or []), list(run_opts.env)),
                            {"ID": rec.id[:12], "FullID": rec.id, "Name": rec.name, "ImageID": image.id[:12],
                             "ImageFullID": image.id, "ImageName": name or ns.image, "DaemonName": "pycr"})
        with rec.locked():
            rec.data.update(command=config["process"]["args"], rootfs=rootfs, network=network)
            rec.state.update(status="created")
        stack.pop_all()
    return rec


def network_config(opts, ns, config: dict, image_config: dict, name: str, cdir: str, store_root: str,
                   expose: dict | None = None):
    """Hand --network/-p/-P to the network layer (``pycr_network_config``), which edits ``config``;
    ``-P`` publishes the image's exposed ports and ``expose`` (checked ``--expose`` keys)."""
    from pycr.core import ConfigError, get_manager

    if expose:
        cfg = image_config.get("config") or {}
        image_config = {**image_config, "config": {**cfg, "ExposedPorts": {**(cfg.get("ExposedPorts") or {}),
                                                                           **expose}}}

    network, publish, publish_all = (getattr(ns, k, d) for k, d in (("network", None), ("publish", []),
                                                                     ("publish_all", False)))
    request = {"network": network, "publish": publish, "publish_all": publish_all,
               "aliases": getattr(ns, "network_alias", []),
               "image_config": image_config, "name": name, "dir": cdir, "store": store_root}
    got = get_manager(opts).hook.pycr_network_config(config=config, request=request)
    if got is None and (network not in (None, "none") or publish or publish_all):
        raise ConfigError("--network/-p/-P: no network layer is loaded (is plugin 'network' disabled?)")
    return got


def opts_for(rec):
    """Global options for the runtime, as the container was created with."""
    from pycr.core import GlobalOptions

    rt = rec.data["runtime"]
    return GlobalOptions(root=rt["root"], backend=rt["backend"], plugin_opts=list(rt.get("plugin_opts", [])))
