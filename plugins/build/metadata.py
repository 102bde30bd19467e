"""The instructions that only edit the image config: ENV, LABEL, CMD, ENTRYPOINT, USER, EXPOSE,
VOLUME, STOPSIGNAL, SHELL, ONBUILD, HEALTHCHECK, MAINTAINER.

Each ``NAME_(config, ins, env, where)`` edits ``config`` (the whole image
config; its ``config`` member exists) in place and returns the instruction's
text as docker's history shows it, which is also what enters the cache key.
``env`` is what ``$VAR`` expands to (an :class:`Env`, or any mapping where no
ENV runs).  Each costs time in its own arguments only, never in what the
config already holds: a Dockerfile of 200,000 such lines stays linear.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from pycr.core import ConfigError
from pycr.plugins.build import dockerfile as df

DEFAULT_SHELL = ["/bin/sh", "-c"]


class Env(Mapping):
    """A stage's variables as ``$VAR`` sees them: the config's ``Env`` over the build args in effect.

    The ``Env`` list ("K=V", docker's order) is indexed once into values and
    positions, so neither a lookup nor an ENV rescans it."""

    def __init__(self, config: dict):
        self.config = config
        self.args: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.pos: dict[str, int] = {}
        for i, item in enumerate(config["config"].get("Env") or []):
            key, _, value = item.partition("=")
            self.values[key], self.pos[key] = value, i

    def __getitem__(self, key: str) -> str:
        return self.values[key] if key in self.values else self.args[key]

    def __iter__(self):
        return iter({**self.args, **self.values})

    def __len__(self) -> int:
        return len(self.args.keys() | self.values.keys())

    def set(self, key: str, value: str) -> None:
        items = self.config["config"].get("Env")
        if items is None:
            items = self.config["config"]["Env"] = []
        if key in self.pos:  # replaced where it was, as docker does
            items[self.pos[key]] = f"{key}={value}"
        else:
            self.pos[key] = len(items)
            items.append(f"{key}={value}")
        self.values[key] = value


def _member(config: dict, name: str, kind: type):
    """``config["config"][name]``, made an empty ``kind`` where missing or null, to be edited in place."""
    value = config["config"].get(name)
    if value is None:
        value = config["config"][name] = kind()
    return value


def env_(config, ins, env, where):
    view = env if isinstance(env, Env) and env.config is config else Env(config)
    for key, value in df.key_values(ins, env):  # every value expanded before any is set, as docker does
        view.set(key, value)
    return f"ENV {ins.value}"


def label_(config, ins, env, where):
    _member(config, "Labels", dict).update(df.key_values(ins, env))
    return f"LABEL {ins.value}"


def maintainer_(config, ins, env, where):
    config["author"] = ins.value
    return f"MAINTAINER {ins.value}"


def command(config: dict, ins: df.Instruction) -> list[str]:
    """CMD/ENTRYPOINT/RUN: the exec form as it is, the shell form under the image's SHELL."""
    is_exec, parts = ins.json_or_words()
    if is_exec:
        return parts
    return list(config["config"].get("Shell") or DEFAULT_SHELL) + [parts[0]]


def cmd_(config, ins, env, where):
    config["config"]["Cmd"] = command(config, ins) if ins.value else []
    return f"CMD {json.dumps(config['config']['Cmd'])}"


def entrypoint_(config, ins, env, where):
    config["config"]["Entrypoint"] = command(config, ins) if ins.value else None
    return f"ENTRYPOINT {json.dumps(config['config']['Entrypoint'])}"


def user_(config, ins, env, where):
    config["config"]["User"] = df.expand(ins.value, env, ins.escape).strip()
    return f"USER {config['config']['User']}"


def expose_(config, ins, env, where):
    ports = _member(config, "ExposedPorts", dict)
    these = []
    for word in df.words(df.expand(ins.value, env, ins.escape), ins.escape):
        port, _, proto = word.partition("/")
        first, dash, last = port.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()) or proto not in ("", "tcp", "udp", "sctp") \
                or not 0 < int(first) <= int(last if dash else first) <= 65535:
            raise ConfigError(f"{where}: invalid port {word!r} (PORT or FIRST-LAST, 1-65535, /tcp /udp /sctp)")
        these += [f"{n}/{proto or 'tcp'}" for n in range(int(first), int(last if dash else first) + 1)]
    ports.update((p, {}) for p in these)  # a range: each port, as docker stores it
    return f"EXPOSE {' '.join(sorted(set(these)))}"


def volume_(config, ins, env, where):
    text = df.expand(ins.value, env, ins.escape)
    is_exec, parts = df.Instruction(ins.cmd, text, ins.line).json_or_words()
    paths = parts if is_exec else df.words(text, ins.escape)
    if not all(paths):
        raise ConfigError(f"{where}: a volume path is empty")
    _member(config, "Volumes", dict).update((p, {}) for p in paths)
    return f"VOLUME {json.dumps(paths)}"


def stopsignal_(config, ins, env, where):
    from pycr.core import parse_signal

    sig = df.expand(ins.value, env, ins.escape).strip()
    try:
        parse_signal(sig)  # refused here, not when a container of the image is stopped
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    config["config"]["StopSignal"] = sig
    return f"STOPSIGNAL {config['config']['StopSignal']}"


def shell_(config, ins, env, where):
    is_exec, parts = ins.json_or_words()
    if not is_exec or not parts:
        raise ConfigError(f"{where}: SHELL needs a JSON array, e.g. SHELL [\"/bin/sh\", \"-c\"]")
    config["config"]["Shell"] = parts
    return f"SHELL {json.dumps(parts)}"


def onbuild_(config, ins, env, where):
    first = ins.value.split(None, 1)[0].upper()
    if first in ("ONBUILD", "FROM", "MAINTAINER"):
        raise ConfigError(f"{where}: {first} is not allowed as an ONBUILD trigger")
    if first not in df.KNOWN:
        raise ConfigError(f"{where}: unknown instruction in ONBUILD: {first}")
    _member(config, "OnBuild", list).append(ins.value)
    return f"ONBUILD {ins.value}"


def healthcheck_(config, ins, env, where):
    if ins.value.strip().upper() == "NONE":
        config["config"]["Healthcheck"] = {"Test": ["NONE"]}
        return "HEALTHCHECK NONE"
    kind, _, rest = ins.value.strip().partition(" ")
    if kind.upper() != "CMD" or not rest.strip():
        raise ConfigError(f"{where}: expected HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE")
    is_exec, parts = df.Instruction("CMD", rest, ins.line).json_or_words()
    hc = {"Test": ["CMD", *parts] if is_exec else ["CMD-SHELL", parts[0]]}
    for flag, field_name in (("interval", "Interval"), ("timeout", "Timeout"),
                             ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
        if flag in ins.flags:
            hc[field_name] = _duration(ins.flags[flag], f"{where}: --{flag}")
    if "retries" in ins.flags:
        if not ins.flags["retries"].isdigit():
            raise ConfigError(f"{where}: --retries must be a number, got {ins.flags['retries']!r}")
        hc["Retries"] = int(ins.flags["retries"])
    config["config"]["Healthcheck"] = hc
    return f"HEALTHCHECK {json.dumps(hc, sort_keys=True)}"


def _duration(text: str, what: str) -> int:
    """Go duration (``30s``, ``1m30s``, ``500ms``) -> nanoseconds."""
    units = {"ns": 1, "us": 1000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise ConfigError(f"{what}: invalid duration {text!r} (e.g. 30s, 1m30s)")
    return int(sum(float(a) * units[b] for a, b in parts))



HANDLERS = {"ENV": env_, "LABEL": label_, "MAINTAINER": maintainer_, "CMD": cmd_, "ENTRYPOINT": entrypoint_,
            "USER": user_, "EXPOSE": expose_, "VOLUME": volume_, "STOPSIGNAL": stopsignal_, "SHELL": shell_,
            "ONBUILD": onbuild_, "HEALTHCHECK": healthcheck_}
