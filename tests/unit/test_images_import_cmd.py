"""``pycr import --cmd`` takes one value, so the positionals after it stay positionals."""

import argparse

import pytest

from pycr.core import ConfigError
from pycr.plugins.images import verb_import


def _parse(*argv):
    p = argparse.ArgumentParser()
    verb_import.add_arguments(p)
    return p.parse_args(argv)


def test_positionals_after_cmd_are_not_swallowed():
    ns = _parse("--cmd", "sh -c 'echo hi'", "rootfs.tar", "mine:v1")
    assert (ns.tarball, ns.name) == ("rootfs.tar", "mine:v1")
    assert verb_import._command(ns.cmd) == ["sh", "-c", "echo hi"]


def test_json_form_and_bad_values():
    assert verb_import._command('["sh", "-c", "echo hi"]') == ["sh", "-c", "echo hi"]
    for bad in ('["sh", 1]', "[oops", "sh -c 'unclosed", "  "):
        with pytest.raises(ConfigError, match="^--cmd"):
            verb_import._command(bad)
