"""docker's seccomp profiles -> ``linux.seccomp``, with docker's semantics.

A docker profile (``docker_default.json`` here, or a file given with
``--security-opt seccomp=FILE``) is more than a runtime policy: its rules
carry ``includes``/``excludes`` by capability, architecture and kernel
version, and an ``archMap``.  As moby's ``profiles/seccomp`` does, a rule is
kept when the container has every capability it ``includes`` (and none it
``excludes``), the machine's architecture matches, and the kernel is new
enough; the architectures are the native one and its sub-architectures.
Names libseccomp does not know (syscalls newer than it) are ignored, as
runc ignores them: :func:`apply` marks the config with the annotation
``io.pycr.seccomp.unknown-syscalls: ignore``, so the runtime's compiler
skips them (a plain OCI config gets a one-line error instead) and the
policy's ENOSYS rule covers them (see :mod:`.compiler`).  Nothing here
loads libseccomp: a cached policy costs ``pycr run`` no binding import.
The default action answers EPERM (``defaultErrnoRet``).
"""

from __future__ import annotations

import json
import os

from pycr.core import ConfigError

from . import IGNORE_UNKNOWN

DEFAULT_PROFILE = os.path.join(os.path.dirname(__file__), "docker_default.json")
#: uname machine -> (docker's GOARCH name, libseccomp's native arch name)
MACHINES = {"x86_64": ("amd64", "SCMP_ARCH_X86_64"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
            "s390x": ("s390x", "SCMP_ARCH_S390X"), "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
            "riscv64": ("riscv64", "SCMP_ARCH_RISCV64")}


def load_profile(path: str = DEFAULT_PROFILE, what: str | None = None) -> dict:
    """A docker profile file; ``what`` names it in errors (default: its path)."""
    from pycr.core import parse_json_object

    what = what or f"seccomp profile {path}"
    try:
        with open(path, "rb") as f:
            data = f.read(4 << 20)
    except OSError as e:
        raise ConfigError(f"{what}: {e.strerror}") from None
    return parse_json_object(data, what)


def _kernel() -> tuple[int, int]:
    parts = os.uname().release.split(".")
    return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)


def _version(text: str, where: str) -> tuple[int, int]:
    try:
        major, minor = (text.split(".") + ["0"])[:2]
        return int(major), int(minor)
    except ValueError:
        raise ConfigError(f"{where}: minKernel {text!r} is not MAJOR.MINOR") from None


def _of(value, kind: type, where: str):
    """``value`` when it is a ``kind`` (null: an empty one); else one line naming the field."""
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: expected {'a list' if kind is list else 'an object'}, got {value!r:.60}")
    return value


def to_linux_seccomp(profile: dict, caps: list[str], source: str = "seccomp profile") -> dict:
    """The runtime-spec policy for a container with capabilities ``caps``."""
    goarch, native = MACHINES.get(os.uname().machine, ("", ""))
    out: dict = {"defaultAction": profile.get("defaultAction", "SCMP_ACT_ERRNO")}
    for key in ("defaultErrnoRet", "listenerPath", "listenerMetadata", "flags"):
        if profile.get(key) is not None:
            out[key] = profile[key]
    arches = list(_of(profile.get("architectures"), list, f"{source}: architectures"))
    for i, entry in enumerate(_of(profile.get("archMap"), list, f"{source}: archMap")):
        entry = _of(entry, dict, f"{source}: archMap[{i}]")
        if entry.get("architecture") == native:
            arches = [native, *_of(entry.get("subArchitectures"), list, f"{source}: archMap[{i}].subArchitectures")]
    if arches:
        out["architectures"] = arches
    have = set(caps)
    rules = []
    for i, rule in enumerate(_of(profile.get("syscalls"), list, f"{source}: syscalls")):
        where = f"{source}: syscalls[{i}]"
        rule = _of(rule, dict, where)
        inc, exc = _of(rule.get("includes"), dict, f"{where}.includes"), _of(rule.get("excludes"), dict,
                                                                              f"{where}.excludes")
        for part, name in ((inc, "includes"), (exc, "excludes")):
            for key in ("arches", "caps"):
                if not all(isinstance(v, str) for v in _of(part.get(key), list, f"{where}.{name}.{key}")):
                    raise ConfigError(f"{where}.{name}.{key}: expected a list of strings")
            if not isinstance(part.get("minKernel") or "", str):
                raise ConfigError(f"{where}.{name}.minKernel: expected \"MAJOR.MINOR\", got {part['minKernel']!r}")
        if inc.get("arches") and goarch not in inc["arches"]:
            continue
        if goarch in (exc.get("arches") or []):
            continue
        if inc.get("caps") and not set(inc["caps"]) <= have:
            continue
        if have & set(exc.get("caps") or []):
            continue
        if inc.get("minKernel") and _kernel() < _version(inc["minKernel"], where):
            continue
        names = list(_of(rule.get("names"), list, f"{where}.names") or ([rule["name"]] if rule.get("name") else []))
        if not names:
            continue
        if not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{where}.names: expected a list of syscall names, got {names!r:.60}")
        kept = {"names": names, "action": rule.get("action")}
        for key in ("errnoRet", "args"):
            if rule.get(key) is not None:
                kept[key] = rule[key]
        rules.append(kept)
    out["syscalls"] = rules
    return out


def apply(config: dict, profile: dict, caps: list[str], source: str = "seccomp profile") -> None:
    """Give ``config`` the policy for ``profile`` and docker's reading of
    unknown syscall names (ignored, as runc does)."""
    config.setdefault("linux", {})["seccomp"] = to_linux_seccomp(profile, caps, source)
    config.setdefault("annotations", {})[IGNORE_UNKNOWN] = "ignore"
