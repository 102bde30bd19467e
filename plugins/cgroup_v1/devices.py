"""OCI ``linux.resources.devices`` rules as v1 ``devices.allow``/``devices.deny`` writes.

The v1 devices controller keeps a default behaviour (allow or deny) plus a
list of exceptions.  Writing the single token ``a`` resets both: to
``devices.deny`` it means "deny everything, forget exceptions", to
``devices.allow`` "allow everything".  So a rule of type ``a`` with wildcard
major/minor and full ``rwm`` access is written as that reset, exactly as runc
does for the usual leading ``{"allow": false, "access": "rwm"}``.

The kernel treats *any* ``a`` line as a full reset, ignoring the rest, so an
``a`` rule that names a major/minor or only part of ``rwm`` would silently
mean more than it says; it is written as the same rule for ``c`` and ``b``
devices instead.  Rules are written in order, so later rules refine earlier
ones as the OCI runtime spec describes.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~2 ms of every create: annotations only
if TYPE_CHECKING:
    from typing import Any

from pycr.core import ConfigError


def _number(value: Any, field: str) -> str:
    if value is None or value == -1:
        return "*"
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{field}: {value!r} is not a device number")
    return str(value)


def rule_lines(rules: list[dict[str, Any]], field: str = "linux.resources.devices") -> list[tuple[str, str]]:
    """``(control file, line)`` pairs to write, in order."""
    if not isinstance(rules, list):
        raise ConfigError(f"{field}: must be a list of device rules")
    out: list[tuple[str, str]] = []
    for i, rule in enumerate(rules):
        where = f"{field}[{i}]"
        allow = rule.get("allow")
        if not isinstance(allow, bool):
            raise ConfigError(f"{where}.allow: must be true or false, got {allow!r}")
        dtype = rule.get("type") or "a"
        if dtype not in ("a", "b", "c"):
            raise ConfigError(f"{where}.type: {dtype!r} is not one of a, b, c")
        access = rule.get("access") or "rwm"
        if not set(access) <= set("rwm") or len(set(access)) != len(access):
            raise ConfigError(f"{where}.access: {access!r} is not a combination of r, w, m")
        major = _number(rule.get("major"), f"{where}.major")
        minor = _number(rule.get("minor"), f"{where}.minor")
        target = "devices.allow" if allow else "devices.deny"
        if dtype == "a" and major == minor == "*" and set(access) == set("rwm"):
            out.append((target, "a"))
        elif dtype == "a":
            out += [(target, f"c {major}:{minor} {access}"), (target, f"b {major}:{minor} {access}")]
        else:
            out.append((target, f"{dtype} {major}:{minor} {access}"))
    return out
