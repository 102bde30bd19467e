"""AppArmor profiles and SELinux labels on a host without them.

pycr applies neither LSM; a config that asks for one is never run as if it
had not asked.  As runc does: a process label (``process.apparmorProfile``,
``process.selinuxLabel``) on a host without that LSM is refused, since the
process would run unconfined; ``linux.mountLabel`` without SELinux only
changes how files are labelled (runc drops it), so it is a warning line.
On a host that has the LSM, pycr cannot apply it yet and refuses as well.
"""

from __future__ import annotations

import os

from pycr.core import ConfigError


def apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read(1) == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    return os.path.isfile("/sys/fs/selinux/enforce")


def check(config: dict, warnings: list[str]) -> None:
    proc = config.get("process") or {}
    profile = proc.get("apparmorProfile")
    if profile:
        state = "enabled, but pycr does not apply AppArmor profiles" if apparmor_enabled() else "not enabled on this host"
        raise ConfigError(f"process.apparmorProfile {profile!r}: AppArmor is {state}; "
                          "remove the field to run unconfined")
    label = proc.get("selinuxLabel")
    if label:
        state = "enabled, but pycr does not apply SELinux labels" if selinux_enabled() else "not enabled on this host"
        raise ConfigError(f"process.selinuxLabel {label!r}: SELinux is {state}; remove the field to run unconfined")
    mount_label = (config.get("linux") or {}).get("mountLabel")
    if mount_label:
        warnings.append(f"linux.mountLabel {mount_label!r} ignored: SELinux is "
                        f"{'not applied by pycr' if selinux_enabled() else 'not enabled on this host'}")
