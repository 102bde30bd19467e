"""``pycr-oci features``' ``linux.seccomp``: what the policy may use here."""

from __future__ import annotations

import errno

from . import policy


def supported_flags() -> list[str]:
    """The flags this kernel accepts: seccomp(SET_MODE_FILTER, flag, NULL)
    fails with EFAULT for a known flag (the NULL program) and EINVAL else."""
    from .compiled import set_filter_raw

    out = []
    for name, flag in policy.FLAGS.items():
        if set_filter_raw(flag) == errno.EFAULT:
            out.append(name)
    return out


def seccomp_features() -> dict:
    return {
        "enabled": True,
        "actions": list(policy.ACTIONS),
        "operators": list(policy.OPERATORS),
        "archs": list(policy.ARCHES),
        "knownFlags": list(policy.FLAGS),
        "supportedFlags": supported_flags(),
    }
