"""Built-in plugin: the user process — args, env, cwd, user, umask, rlimits,
the five capability sets, noNewPrivileges and oomScoreAdj."""

from __future__ import annotations

from pycr.core import ConfigError, hookimpl

_RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}


@hookimpl
def pycr_isolation_plan(config, plan):
    from pycr.core import cap_mask, steps

    proc = config["process"]
    user = proc.get("user", {}) or {}
    caps = proc.get("capabilities")
    rlimits = []
    for rl in proc.get("rlimits", []) or []:
        if rl["type"] not in _RLIMITS:
            raise ConfigError(f"process.rlimits: unknown type {rl['type']!r}")
        if rl["soft"] > rl["hard"]:
            raise ConfigError(f"process.rlimits: {rl['type']} soft {rl['soft']} exceeds hard {rl['hard']}")
        rlimits.append((_RLIMITS[rl["type"]], _rlim(rl["soft"]), _rlim(rl["hard"])))

    def mask(name):
        return cap_mask((caps or {}).get(name), f"process.capabilities.{name}")

    plan.process = steps.ProcessSpec(
        args=list(proc["args"]), env=list(proc.get("env", []) or []), cwd=proc.get("cwd", "/"),
        uid=user.get("uid", 0), gid=user.get("gid", 0),
        additional_gids=list(user.get("additionalGids", []) or []),
        umask=user.get("umask"), rlimits=rlimits,
        bounding=mask("bounding") if caps is not None else None,
        effective=mask("effective"), permitted=mask("permitted"), inheritable=mask("inheritable"),
        ambient=mask("ambient"), no_new_privileges=bool(proc.get("noNewPrivileges")),
        oom_score_adj=proc.get("oomScoreAdj"),
    )


def _rlim(value: int) -> int:
    return -1 if value >= 2**64 - 1 else value  # RLIM_INFINITY
