"""The ``pycr`` command: management verbs (docker-like) over the same core.

Verbs live in their own modules and are imported only when used, so that
``pycr run`` does not pay for ``pycr push``.  Each verb module exposes
``add_arguments(parser)`` and ``run(args) -> int``.  To add a verb, add one
line to ``VERBS``.
"""

from __future__ import annotations

import sys

# verb -> (module, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "plugins": ("pycr.core.cli.verb_plugins", "list plugins and drivers"),
    "plugin": ("pycr.core.cli.verb_plugin", "plugin new NAME --kind KIND: write a plugin package skeleton"),
    "demo": ("pycr.core.cli.verb_demo", "run a container from the built-in busybox bundle"),
    "bench": ("pycr.core.cli.verb_bench", "compare isolation strategies: strategies x workloads, stats, plots"),
    "probe": ("pycr.core.cli.verb_probe", "isolation probes per strategy: contained or escaped"),
    "run": ("pycr.core.cli.verb_run", "run a command in a new container from an image"),
    "pull": ("pycr.core.cli.verb_pull", "pull an image from a registry or another transport"),
    "push": ("pycr.core.cli.verb_push", "push a stored image to a registry or another transport"),
    "login": ("pycr.core.cli.verb_login", "save credentials for a registry"),
    "logout": ("pycr.core.cli.verb_logout", "remove saved credentials for a registry"),
    "images": ("pycr.core.cli.verb_images", "list stored images"),
    "image": ("pycr.core.cli.verb_image", "manage images: ls, inspect, rm, tag, prune"),
    "rmi": ("pycr.core.cli.verb_rmi", "remove image names"),
    "tag": ("pycr.core.cli.verb_tag", "give a stored image another name"),
    "load": ("pycr.core.cli.verb_load", "load a docker-archive or oci-archive tarball"),
    "save": ("pycr.core.cli.verb_save", "save an image as a docker-archive or oci-archive tarball"),
    "import": ("pycr.core.cli.verb_import", "make an image from a rootfs tarball"),
    "create": ("pycr.core.cli.verb_create", "create a container from an image (start it with pycr start)"),
    "start": ("pycr.core.cli.verb_start", "start created or stopped containers"),
    "ps": ("pycr.core.cli.verb_ps", "list containers"),
    "logs": ("pycr.core.cli.verb_logs", "print a container's output"),
    "exec": ("pycr.core.cli.verb_exec", "run a command in a running container"),
    "stop": ("pycr.core.cli.verb_stop", "stop containers (SIGTERM, then SIGKILL)"),
    "kill": ("pycr.core.cli.verb_kill", "send a signal to containers"),
    "restart": ("pycr.core.cli.verb_restart", "stop and start containers"),
    "rm": ("pycr.core.cli.verb_rm", "remove containers"),
    "inspect": ("pycr.core.cli.verb_inspect", "show containers as JSON"),
    "stats": ("pycr.core.cli.verb_stats", "CPU, memory and pids of containers"),
    "pause": ("pycr.core.cli.verb_pause", "freeze every process of containers"),
    "unpause": ("pycr.core.cli.verb_unpause", "thaw paused containers"),
    "wait": ("pycr.core.cli.verb_wait", "wait for containers to stop; print their exit codes"),
    "top": ("pycr.core.cli.verb_top", "list a container's processes"),
    "container": ("pycr.core.cli.verb_container", "manage containers: prune, ls"),
    "network": ("pycr.plugins.network.verb_network", "manage networks: create, ls, inspect, rm, prune"),
    "port": ("pycr.plugins.network.verb_port", "list a container's published ports"),
    # OCI runtime verbs are also reachable as `pycr oci VERB ...`
    "oci": ("pycr.core.cli.oci", "low-level OCI runtime verbs (same as pycr-oci)"),
}


def main(argv: list[str] | None = None) -> int:
    from pycr.core.cli.common import run_command

    return run_command("pycr", VERBS, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
