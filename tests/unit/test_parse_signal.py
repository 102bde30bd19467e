"""``kill``'s signal argument: names and numbers as runc takes them, read from ``_signal`` (no enum)."""

from __future__ import annotations

import signal

import pytest

from pycr.core.errors import ConfigError
from pycr.core.runtime.lifecycle import parse_signal


@pytest.mark.parametrize("name", sorted(signal.Signals.__members__))
def test_every_name_signal_knows_is_its_number(name):
    number = int(signal.Signals[name])
    assert parse_signal(name) == parse_signal(name[3:]) == parse_signal(name.lower()) == number
    assert parse_signal(name[3:].lower()) == parse_signal(str(number)) == parse_signal(number) == number


@pytest.mark.parametrize("text", ["SIG_DFL", "sig_ign", "_BLOCK", "NSIG", "SIGNAL", "SIGRTMIN+1", "", "-1", "65",
                                  "KILL9", "SIGsignal", "ITIMER_REAL"])
def test_what_is_not_a_signal_is_one_line(text):
    with pytest.raises(ConfigError, match="signal"):
        parse_signal(text)
