"""dockerfile-parse's ``structure`` in linear time, with its own code and results.

dockerfile-parse 2.0.1 grows an instruction's ``content`` and ``value`` with
``+=`` on strings held in a dict, which copies the whole text for each
continuation line: 80,000 ``\\``-continued lines of one instruction took ~9 s,
an 8 MiB Dockerfile hours.  Its lines are handed over here as a ``str``
subclass whose ``+`` (and the ``rstrip``/slice its continuation handling
applies before ``+=``) yields a :class:`_Text` that appends in place; the
library's rules (comments inside continuations, blank lines, ``# escape=``,
line numbers) run unchanged and every ``_Text`` is made a ``str`` again
afterwards.  tests/unit/test_build_linear_parse.py compares both on a corpus.
"""

from __future__ import annotations


class _Text:
    """A text that grows by ``+=`` in place (amortised O(1) per part)."""

    __slots__ = ("parts",)

    def __init__(self, *parts: str):
        self.parts = [str.__str__(p) for p in parts]

    def __iadd__(self, other):
        self.parts.append(str.__str__(other))
        return self

    def __bool__(self) -> bool:
        return any(self.parts)

    def __str__(self) -> str:
        return "".join(self.parts)


class _Piece(str):
    """A piece of a line: stays a ``_Piece`` through ``rstrip`` and slicing, and ``str + piece``
    (Python asks the subclass's ``__radd__`` first) starts a :class:`_Text`."""

    def rstrip(self, chars=None):
        return _Piece(str.rstrip(self, chars))

    def __getitem__(self, key):
        return _Piece(str.__getitem__(self, key))

    def __add__(self, other):
        return _Text(self, other)

    def __radd__(self, other):
        return _Text(other, self)


def structure(parser_cls, fileobj) -> list[dict]:
    """``parser_cls(fileobj=fileobj, cache_content=True).structure`` with ``content`` and
    ``value`` built in linear time (``parser_cls``: dockerfile-parse's ``DockerfileParser``)."""

    class Parser(parser_cls):
        @property
        def lines(self):
            return [_Piece(line) for line in parser_cls.lines.fget(self)]

    out = Parser(fileobj=fileobj, cache_content=True).structure
    for entry in out:
        for key in ("content", "value"):
            if isinstance(entry[key], (_Text, _Piece)):
                entry[key] = str(entry[key]) if isinstance(entry[key], _Text) else str.__str__(entry[key])
    return out
