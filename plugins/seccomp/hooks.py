"""The ``seccomp`` plugin as pycr loads it (entry point ``seccomp`` in
``pycr.plugins``): its hooks.  Kept apart from the package so that importing
``run_options`` or ``profile`` (from ``pycr run``) does not import pluggy."""

from __future__ import annotations

from pycr.core import hookimpl


@hookimpl
def pycr_isolation_plan(config, plan):
    linux = config.get("linux") or {}
    if config.get("process", {}).get("apparmorProfile") or config.get("process", {}).get("selinuxLabel") \
            or linux.get("mountLabel"):
        from . import labels

        labels.check(config, plan.warnings)
    seccomp = linux.get("seccomp")
    if seccomp is None:
        return
    from . import IGNORE_UNKNOWN
    from .compiled import LoadSeccomp, program

    ignore = (config.get("annotations") or {}).get(IGNORE_UNKNOWN) == "ignore"
    prog, flags, notify = program(plan.root, seccomp, ignore)
    if notify or seccomp.get("listenerPath"):  # the listener fields are not in the cache key
        from . import policy

        policy.check_listener(seccomp)
    proc = plan.process
    plan.confine.append(LoadSeccomp(prog=prog, flags=flags, notify=notify,
                                    privileged=not (proc is not None and proc.no_new_privileges)))


@hookimpl
def pycr_init_request(request, config, state):
    if request["type"] != "seccomp":
        return None
    from .listener import send

    seccomp = (config.get("linux") or {}).get("seccomp") or {}
    send(seccomp, request["fds"][0], state, state.get("pid", 0))
    return {}


@hookimpl
def pycr_features(features):
    from .features import seccomp_features

    features.setdefault("linux", {})["seccomp"] = seccomp_features()
