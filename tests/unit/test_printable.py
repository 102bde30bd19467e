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


@pytest.mark.parametrize("value, shown", [
    ("mode", "'mode'"), ("", "''"), ("a b", "'a b'"), ("12", "'12'"), (12, "12"), (None, "None"),
    ("\x1b[31m\r\u202e\n", "'\\x1b[31m\\r\\u202e\\n'"),
    ("x" * 78, "'" + "x" * 78 + "'"),  # a repr of 80 characters is whole
    ("x" * 79, "'" + "x" * 59 + "...' (79 characters)"),
    ("\n" * 500, "'" + "\\n" * 29 + "\\...' (500 characters)"),  # cut inside an escape: still no control
    ([1] * 100, "[" + "1, " * 19 + "1,... (300 characters)"),
])
def test_quoted_is_the_repr_cut_with_its_length(value, shown):
    from pycr.core import quoted

    assert quoted(value) == shown
    assert shown.isprintable()


def test_state_and_log_options_quote_the_same_way():
    """The twins that were: a container id, a state.json field and a --log-opt value."""
    from pycr.core import ConfigError, quoted
    from pycr.core.runtime.state import check_id, check_state
    from pycr.plugins.manage import logfiles

    for bad in ("a b", "abc\n", "", "y" * 1024):
        with pytest.raises(ConfigError) as e:
            check_id(bad)
        assert str(e.value).startswith(f"invalid container id {quoted(bad)}: "), str(e.value)
    assert str(check_state("c", {"pid": "12"})[0]) == (
        "container c: state.json: field 'pid' is not a process id (a whole number above 0): '12'")
    with pytest.raises(ConfigError) as e:
        logfiles.parse(["max-size=1m", "max-file=a b"])
    assert str(e.value) == f"--log-opt max-file={quoted('a b')}: must be a number from 1 up"


def test_warn_writes_one_escaped_warning_line(monkeypatch):
    from pycr.core import warn

    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    warn("hooks.poststop: /x: \x1b[2Jgone\nnext")
    assert err.getvalue() == "warning: hooks.poststop: /x: \\x1b[2Jgone\\nnext\n"
