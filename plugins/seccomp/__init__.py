"""Plugin ``seccomp``: ``linux.seccomp`` and the LSM fields of the config.

* ``pycr_isolation_plan``: the policy is compiled to BPF in the runtime
  process -- once per distinct policy, then read from the cache (see
  :mod:`.cache`) -- and added as a :class:`.load.LoadSeccomp` step the init
  runs last before execve.  AppArmor/SELinux fields are checked
  (:mod:`.labels`): never dropped silently.
* ``pycr_init_request``: the init's notify fd goes to ``listenerPath``.
* ``pycr_features``: what ``linux.seccomp`` supports.

docker's default profile, used by ``pycr run``, is in :mod:`.profile`.
"""

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
    from . import cache, policy
    from .load import LoadSeccomp

    policy.check_listener(seccomp)  # not part of the cached program: checked every time
    ignore = (config.get("annotations") or {}).get(policy.IGNORE_UNKNOWN) == "ignore"
    prog = cache.program(plan.root, seccomp, ignore)
    proc = plan.process
    plan.confine.append(LoadSeccomp(prog=prog, flags=policy.load_flags(seccomp),
                                    notify=policy.uses_notify(seccomp),
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
