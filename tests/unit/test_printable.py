"""``pycr.core.printable``: the one rule for what an error line echoes of the caller's input."""

from __future__ import annotations

import io
import sys

import pytest

from pycr.core import printable


@pytest.mark.parametrize("raw, shown", [
    ("plain text, é ü 漢字 and a\u00a0no-break space", "plain text, é ü 漢字 and a\u00a0no-break space"),
    ("\x1b[31mred", "\\x1b[31mred"), ("a\rb", "a\\rb"), ("a\nb", "a\\nb"), ("a\tb", "a\\tb"), ("\x00\x07\x7f", "\\x00\\x07\\x7f"),
    ("\x9b31m", "\\x9b31m"),  # C1 CSI: some terminals act on it
    ("x\u202eevil\u2066\u2069\u200e\u061c", "x\\u202eevil\\u2066\\u2069\\u200e\\u061c"),  # bidi controls
    ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),
])
def test_control_characters_are_escaped_and_nothing_else(raw, shown):
    assert printable(raw) == shown


def test_every_c0_c1_and_del_is_escaped():
    for code in (*range(0x20), *range(0x7F, 0xA0)):
        out = printable(f"<{chr(code)}>")
        assert out.isascii() and out.isprintable() and len(out.splitlines()) == 1, hex(code)


def test_log_error_writes_one_escaped_line(monkeypatch, tmp_path):
    from pycr.core.cli.common import GlobalOptions, log_error

    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    log = tmp_path / "log"
    log_error(GlobalOptions(log=str(log)), 'exec: "\x1b]0;t\x07\rx\ny": executable file not found')
    assert err.getvalue() == 'exec: "\\x1b]0;t\\x07\\rx\\ny": executable file not found\n'
    assert "\x1b" not in log.read_text() and len(log.read_text().splitlines()) == 1
