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

    if "process" not in config:  # created, never started (lifecycle.start refuses)
        plan.process = steps.ProcessSpec(args=[])
        return
    proc = config["process"]
    user = proc.get("user", {}) or {}
    caps = proc.get("capabilities")
    _check_exec_strings(proc)
    rlimits = []
    for rl in proc.get("rlimits", []) or []:
        if rl["type"] not in _RLIMITS:
            raise ConfigError(f"process.rlimits: unknown type {rl['type']!r}")
        if rl["soft"] > rl["hard"]:
            raise ConfigError(f"process.rlimits: {rl['type']} soft {rl['soft']} exceeds hard {rl['hard']}")
        rlimits.append((_RLIMITS[rl["type"]], _rlim(rl["soft"]), _rlim(rl["hard"])))

    def mask(name):
        return cap_mask((caps or {}).get(name), f"process.capabilities.{name}")

    gids = list(user.get("additionalGids", []) or [])
    if len(gids) > NGROUPS_MAX:
        raise ConfigError(f"process.user.additionalGids: {len(gids)} groups, the kernel allows at most {NGROUPS_MAX}")
    plan.process = steps.ProcessSpec(
        args=list(proc["args"]), env=list(proc.get("env", []) or []), cwd=proc.get("cwd", "/"),
        uid=user.get("uid", 0), gid=user.get("gid", 0),
        additional_gids=gids,
        umask=user.get("umask"), rlimits=rlimits,
        bounding=mask("bounding") if caps is not None else None,
        effective=mask("effective"), permitted=mask("permitted"), inheritable=mask("inheritable"),
        ambient=mask("ambient"), no_new_privileges=bool(proc.get("noNewPrivileges")),
        oom_score_adj=proc.get("oomScoreAdj"),
    )


def _rlim(value: int) -> int:
    """An rlim_t as the plan keeps it, a C long long: values from 2^63 up in
    two's complement (2^64-1, RLIM_INFINITY, is -1); Syscalls.setrlimit takes either."""
    return value - 2**64 if value >= 2**63 else value


NGROUPS_MAX = 65536
#: execve's limits: one argument or environment string (MAX_ARG_STRLEN), all of them (ARG_MAX)
MAX_ARG_STRLEN = 32 * 4096


def _check_exec_strings(proc: dict) -> None:
    """Refuse at create what execve would refuse after start (when no one hears
    about it but the container's stderr): NUL bytes, E2BIG, a variable with no name."""
    import os

    total = 0
    for field in ("args", "env"):
        for i, item in enumerate(proc.get(field) or []):
            if "\0" in item:
                raise ConfigError(f"process.{field}[{i}]: contains a NUL character")
            if field == "env" and not item.partition("=")[0]:
                raise ConfigError(f"process.env[{i}]: {item!r} has no variable name (KEY=VALUE)")
            size = len(item.encode(errors="surrogateescape")) + 1
            if size > MAX_ARG_STRLEN:
                raise ConfigError(f"process.{field}[{i}]: {size} bytes, execve takes at most {MAX_ARG_STRLEN}")
            total += size + 8  # and its pointer
    limit = os.sysconf("SC_ARG_MAX")
    if total > limit:
        raise ConfigError(f"process.args and process.env: {total} bytes, more than execve's limit {limit} "
                          "(argument list too long)")
