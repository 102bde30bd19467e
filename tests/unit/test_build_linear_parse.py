"""``linear_parse.structure`` is dockerfile-parse's ``structure``, result for result, in linear time."""

from __future__ import annotations

import io
import random

import pytest
from dockerfile_parse import DockerfileParser

from pycr.plugins.build import linear_parse

CASES = [
    "FROM scratch\nRUN a \\\n  b \\\n  c\n",
    "FROM scratch\nRUN a \\\n# a comment inside\n  b \\\n\n  c\n",  # a comment inside, a blank line ending it
    "# escape=`\nFROM scratch\nRUN a `\n  b `\n  c\n",
    "# syntax=docker/dockerfile:1\n# escape=\\\nFROM x\nCOPY <<EOF /a \\\n  /b\nhello \\\nEOF\n",
    "FROM x\nRUN \\\n\\\n  \\\n  a\n",  # empty values first: the library's lstrip branch
    "FROM x\r\nRUN a \\\r\n  b\r\n",
    "FROM x\nRUN a \\  \n  b\\\t\n c",  # trailing blanks after the backslash, no final newline
    "FROM x\nLABEL a=1 \\\n  #not a comment? \\\n  b=2\n",
    "FROM x\nRUN a \\\n" + "  \\\n" * 50 + "\n",
    "FROM x\nRUN \u00e9 \\\n \u4e2d \\\n \U0001f600\n",
    "\n\n  \nFROM x\n   \nRUN a\\\n",  # a continuation left open at the end
    "FROM x\nRUN a \\\nb\x0bc \\\n d\x1ce\n",  # characters str.splitlines would split at
]

PIECES = ["FROM x", "RUN a", "run b c", "LABEL k=v", "  && d", "e", "", "   ", "# c", "  #c2", "#", "\\", " \\",
          "x \\", "y\\  ", "`", "z `", "<<EOF", "EOF", "COPY <<A <<-B /d", "A", "\tB", "# escape=`", "# escape=\\",
          "# syntax=x", "\u00e9\u4e2d", "ONBUILD RUN x \\", "\r", "a\rb \\"]


def _both(text: str):
    lib = DockerfileParser(fileobj=io.BytesIO(text.encode()), cache_content=True).structure
    ours = linear_parse.structure(DockerfileParser, io.BytesIO(text.encode()))
    return lib, ours


@pytest.mark.parametrize("text", CASES)
def test_same_structure_on_the_corpus(text):
    lib, ours = _both(text)
    assert ours == lib
    assert all(type(e[k]) is str for e in ours for k in ("content", "value"))


def test_same_structure_on_random_dockerfiles():
    rng = random.Random(5)
    for _ in range(3000):
        lines = [rng.choice(PIECES) for _ in range(rng.randint(1, 25))]
        text = rng.choice(["\n", "\r\n"]).join(lines) + rng.choice(["", "\n"])
        lib, ours = _both(text)
        assert ours == lib, text


def _parsed(text):
    from pycr.core import ConfigError
    from pycr.plugins.build import dockerfile

    try:
        d = dockerfile.parse(text)
    except ConfigError as e:
        return str(e)
    return d.instructions, d.notes


def test_pycr_parse_is_unchanged_line_numbers_heredocs_and_errors_included(monkeypatch):
    """pycr's parse (line numbers in errors, heredocs, comments inside continuations) through the
    library's own structure and through the linear one: the same instructions or the same error line."""
    texts = CASES + ["FROM x\nRUN a \\\n# inside\n  b\nCOPY <<EOF /f\nbody \\\nEOF\nRUN c \\\n  d\n",
                     "FROM x\nRUN a \\\n  b \\\n  c\n# c\nBOGUS z\n", "FROM x\nRUN <<E \\\n  x\n"]
    rng = random.Random(7)
    texts += ["FROM x\n" + "\n".join(rng.choice(PIECES) for _ in range(rng.randint(1, 20))) + "\n"
              for _ in range(1000)]
    ours = [_parsed(t) for t in texts]
    monkeypatch.setattr(linear_parse, "structure", lambda cls, f: cls(fileobj=f, cache_content=True).structure)
    assert [_parsed(t) for t in texts] == ours
    assert "Dockerfile:6: unknown instruction: BOGUS" in ours[len(CASES) + 1]
