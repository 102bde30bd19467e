"""``features``: what this runtime supports, in the JSON shape of runc's
``features`` (runtime-spec ``features.md``), so engines can probe pycr-oci
the way they probe runc.  Only what pycr really implements is listed."""

from __future__ import annotations

import os

HOOKS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
NAMESPACES = ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"]


def features(cgroup_root: str = "/sys/fs/cgroup") -> dict:
    from pycr.core.linux.caps import CAPABILITIES, last_cap
    from pycr.core.runtime.plan import PROPAGATION, _FLAGS
    from pycr.core.runtime.state import OCI_VERSION

    v2 = os.path.isfile(os.path.join(cgroup_root, "cgroup.controllers"))
    v1 = not v2 and os.path.isdir(os.path.join(cgroup_root, "memory"))
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": HOOKS,
        "mountOptions": sorted(set(_FLAGS) | set(PROPAGATION) | {"tmpcopyup"}),
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": CAPABILITIES[: last_cap() + 1],
            "cgroup": {"v1": v1, "v2": v2, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"io.github.pycr.runtime": "pycr-oci"},
    }
