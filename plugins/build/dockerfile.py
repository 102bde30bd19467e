"""Reading a Dockerfile: instructions with their line numbers, flags, heredocs and ``$VAR`` expansion.

Lines, continuations, comments and the ``# escape=`` directive are
dockerfile-parse's job (``DockerfileParser.structure``, run in linear time by
:mod:`linear_parse`).  Two things it does
not do are added here: heredocs (``RUN <<EOF`` ... ``EOF``; it reads the body
as instructions) and docker's variable forms ``${VAR:-default}`` /
``${VAR:+alt}`` (its ``WordSplitter`` knows only ``$VAR``/``${VAR}`` and always
escapes with a backslash), so expansion is :func:`expand`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pycr.core import ConfigError

KNOWN = ("FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
         "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL")
# instructions whose arguments the builder expands with ENV/ARG values (docker's list)
EXPANDED = ("ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR", "ARG")
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_FLAG = re.compile(r"--([a-z][a-z-]*)(?:=(\S*))?")


@dataclass
class Instruction:
    """One instruction: ``cmd`` upper-case, ``value`` the text after it, ``line`` 1-based."""

    cmd: str
    value: str
    line: int
    flags: dict[str, str] = field(default_factory=dict)
    heredocs: list[tuple[str, str]] = field(default_factory=list)  # (name, body)
    escape: str = "\\"

    def where(self, path: str = "Dockerfile") -> str:
        return f"{path}:{self.line}: {self.cmd}"

    def error(self, problem: str, path: str = "Dockerfile") -> ConfigError:
        return ConfigError(f"{self.where(path)}: {problem}")

    def json_or_words(self) -> tuple[bool, list[str]]:
        """The exec form (a JSON array of strings) or the shell form as one string."""
        text = self.value.strip()
        if text.startswith("["):
            try:
                doc = json.loads(text)
            except ValueError:
                doc = None
            if isinstance(doc, list) and all(isinstance(x, str) for x in doc):
                return True, doc
        return False, [text]


@dataclass
class Dockerfile:
    instructions: list[Instruction]
    notes: list[str]
    path: str = "Dockerfile"


def parse(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Parse ``text``; a problem is one ``ConfigError`` line naming ``path:LINE: INSTRUCTION``."""
    import io

    from dockerfile_parse import DockerfileParser

    from pycr.plugins.build import linear_parse

    if not text.endswith("\n"):
        text += "\n"  # dockerfile-parse drops a last line without arguments and newline
    try:
        structure = linear_parse.structure(DockerfileParser, io.BytesIO(text.encode()))
    except Exception as e:  # noqa: BLE001 -- a parser bug must still be one line
        raise ConfigError(f"{path}: cannot parse: {e}") from None
    lines = text.split("\n")
    notes: list[str] = []
    escape = "\\"
    out: list[Instruction] = []
    skip_until = -1
    directives = True
    for entry in structure:
        start = entry["startline"]
        if start <= skip_until:
            continue
        cmd = entry["instruction"]
        if cmd == "COMMENT":
            value = entry["value"].strip()
            m = re.fullmatch(r"(?i)(syntax|escape|check)\s*=\s*(.*)", value)
            if directives and m:
                key = m.group(1).lower()
                if key == "syntax":
                    notes.append(f"{path}:{start + 1}: the '# syntax={m.group(2)}' directive is ignored "
                                 "(pycr has one Dockerfile front end)")
                elif key == "escape":
                    escape = m.group(2)
                    if escape not in ("\\", "`"):  # docker's two
                        raise ConfigError(f"{path}:{start + 1}: '# escape={escape}': the escape character is "
                                          "\\ or `")
                continue
            directives = False
            continue
        directives = False
        ins = Instruction(cmd, entry["value"].strip(), start + 1, escape=escape)
        if cmd not in KNOWN:
            raise ConfigError(f"{path}:{ins.line}: unknown instruction: {entry['content'].split()[0]}")
        if cmd in ("RUN", "COPY", "ADD"):
            skip_until = _heredocs(ins, lines, entry["endline"])
        _split_flags(ins, path)
        if not ins.value and cmd not in ("CMD", "ENTRYPOINT"):
            raise ConfigError(f"{path}:{ins.line}: {cmd} requires at least one argument")
        out.append(ins)
    if not any(i.cmd == "FROM" for i in out):
        raise ConfigError(f"{path}: no FROM instruction (a Dockerfile starts with FROM, after optional ARGs)")
    first = next(i for i in out if i.cmd != "ARG")
    if first.cmd != "FROM":
        raise first.error("only ARG may come before the first FROM", path)
    return Dockerfile(out, notes, path)


def _heredocs(ins: Instruction, lines: list[str], endline: int) -> int:
    """Collect the bodies of ``<<NAME`` markers after the instruction; return the last line used."""
    last = endline
    for m in _HEREDOC.finditer(ins.value):
        strip_tabs, name = m.group(1) == "-", m.group(3)
        body = []
        i = last + 1
        while i < len(lines) and lines[i].strip() != name:
            body.append(lines[i].lstrip("\t") if strip_tabs else lines[i])
            i += 1
        if i >= len(lines):
            raise ConfigError(f"Dockerfile:{ins.line}: {ins.cmd}: heredoc <<{name} has no terminating {name} line")
        ins.heredocs.append((name, "\n".join(body) + "\n"))
        last = i
    return last


def _split_flags(ins: Instruction, path: str) -> None:
    """Leading ``--name[=value]`` words become ``ins.flags`` (docker's BFlags)."""
    allowed = {"FROM": {"platform"}, "COPY": {"from", "chown", "chmod", "link"},
               "ADD": {"chown", "chmod", "link", "checksum"},
               "HEALTHCHECK": {"interval", "timeout", "start-period", "start-interval", "retries"}}
    # docker's newer flags pycr does not implement: refused by name rather than ignored
    unsupported = {"RUN": {"mount", "network", "security"}, "COPY": {"parents", "exclude"},
                   "ADD": {"keep-git-dir", "exclude"}}
    rest = ins.value
    while True:
        m = _FLAG.match(rest)
        if not m:
            break
        name = m.group(1)
        if name in unsupported.get(ins.cmd, ()):
            raise ins.error(f"--{name} is not supported by pycr build", path)
        if name not in allowed.get(ins.cmd, ()):
            raise ins.error(f"unknown flag: --{name}", path)
        ins.flags[name] = m.group(2) if m.group(2) is not None else "true"
        rest = rest[m.end():].lstrip()
    ins.value = rest


def expand(text: str, env: dict[str, str], escape: str = "\\") -> str:
    """docker's word expansion: ``$VAR``, ``${VAR}``, ``${VAR:-word}``, ``${VAR:+word}``; quotes kept.

    Single-quoted text and escaped ``$`` are left alone (the escape character is
    removed before ``$`` only, as the instruction's quotes are parsed later)."""
    out: list[str] = []
    i, n = 0, len(text)
    quote = None
    while i < n:
        ch = text[i]
        if ch == escape and i + 1 < n and quote != "'":
            if text[i + 1] == "$":
                out.append("$")
            else:
                out.append(text[i:i + 2])
            i += 2
            continue
        if ch in "'\"":
            quote = None if quote == ch else (ch if quote is None else quote)
            out.append(ch)
            i += 1
            continue
        if ch == "$" and quote != "'" and i + 1 < n:
            if text[i + 1] == "{":
                end = text.find("}", i + 2)
                if end < 0:
                    raise ConfigError(f"missing '}}' in {text!r}")
                out.append(_substitute(text[i + 2:end], env, text))
                i = end + 1
                continue
            m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[i + 1:])
            if m:
                out.append(env.get(m.group(0), ""))
                i += 1 + m.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _substitute(body: str, env: dict[str, str], text: str) -> str:
    m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])(.*))?", body, re.S)
    if not m:
        raise ConfigError(f"bad substitution ${{{body}}} in {text!r}")
    name, op, word = m.groups()
    value = env.get(name)
    if op in (":-", "-"):
        if value is None or (op == ":-" and value == ""):
            return expand(word, env)
    elif op in (":+", "+"):
        return expand(word, env) if value is not None and (op == "+" or value != "") else ""
    return value or ""


class QuoteError(ConfigError):
    """A word with no closing quote; whoever has the instruction names its line (:meth:`Instruction.error`)."""


def words(text: str, escape: str = "\\") -> list[str]:
    """Split already expanded text into words, honouring quotes and the escape character."""
    out: list[str] = []
    cur: list[str] = []
    have = False
    quote = None
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == escape and quote != "'" and i + 1 < len(text):
            nxt = text[i + 1]
            if quote == '"' and nxt not in ('"', escape):
                cur.append(ch)
            cur.append(nxt)
            have = True
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = None
            else:
                cur.append(ch)
        elif ch in "'\"":
            quote, have = ch, True
        elif ch.isspace():
            if have:
                out.append("".join(cur))
            cur, have = [], False
        else:
            cur.append(ch)
            have = True
        i += 1
    if quote:
        raise QuoteError(f"unterminated quote in {text!r}")
    if have:
        out.append("".join(cur))
    return out


def key_values(ins: Instruction, env: dict[str, str], path: str = "Dockerfile") -> list[tuple[str, str]]:
    """ENV/LABEL/ARG pairs: ``K=V ...`` or the legacy ``K V`` (ENV, LABEL) form."""
    text = expand(ins.value, env, ins.escape)
    try:
        parts = words(text, ins.escape)
    except QuoteError as e:
        raise ins.error(str(e), path) from None
    if ins.cmd in ("ENV", "LABEL") and parts and "=" not in parts[0]:
        key, _, rest = text.strip().partition(" ")
        if not rest.strip() and ins.cmd == "ENV":
            raise ins.error(f"ENV {key} needs a value (ENV KEY=VALUE or ENV KEY VALUE)", path)
        return [(key, " ".join(words(rest, ins.escape)))]
    pairs = []
    for word in parts:
        key, eq, value = word.partition("=")
        if not key or (not eq and ins.cmd != "ARG"):
            raise ins.error(f"{word!r} is not KEY=VALUE", path)
        pairs.append((key, value if eq else None))
    return pairs
