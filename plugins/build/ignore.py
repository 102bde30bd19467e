""".dockerignore: which context paths a build may see, with docker's pattern rules.

As moby's patternmatcher: each line is cleaned like a path (a leading ``/``
dropped), ``#`` lines and blank lines are skipped, ``*`` and ``?`` stay within
one path component, ``**`` spans any number of them, ``!`` re-includes, and
the last matching line wins.  A directory that is excluded excludes what is
below it unless a later ``!`` line names that path itself (what docker's
context walk does: it skips excluded directories, looking inside only for
exceptions).
"""

from __future__ import annotations

import posixpath
import re


class Ignore:
    def __init__(self, lines: list[str]):
        self.patterns: list[tuple[bool, re.Pattern]] = []  # (exclusion, regex)
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            if exclusion:
                line = line[1:].strip()
            pattern = posixpath.normpath(line)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern.lstrip("/")
            if pattern in (".", ""):
                continue
            self.patterns.append((exclusion, _regex(pattern)))

    @classmethod
    def load(cls, context: str | None) -> "Ignore":
        if context is None:
            return cls([])
        from pycr.core import ConfigError, read_container_file

        try:  # inside the context: a .dockerignore linked out of it (an API caller's context) reads nothing
            data = read_container_file(context, ".dockerignore", where="in the build context")
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return cls([] if data is None else data.decode(errors="replace").splitlines())

    def _verdict(self, rel: str) -> bool | None:
        """True/False from the last pattern matching ``rel`` itself; None when none does."""
        verdict = None
        for exclusion, regex in self.patterns:
            if regex.fullmatch(rel):
                verdict = not exclusion
        return verdict

    def ignored(self, rel: str) -> bool:
        """True when the context-relative path ``rel`` is excluded (itself, or a directory above it)."""
        parts = posixpath.normpath(rel).split("/")
        state = False
        for i in range(1, len(parts) + 1):
            verdict = self._verdict("/".join(parts[:i]))
            if verdict is not None:
                state = verdict
        return state


def _regex(pattern: str) -> re.Pattern:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):  # "**/" : zero or more directories
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1:end]
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.S)
