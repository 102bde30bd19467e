"""pycr-oci's argparse-free parser (pycr.core.cli.quickargs) gives argparse's
result or steps aside: for each verb, a set of argv is parsed both ways."""

from __future__ import annotations

import argparse

import pytest

from pycr.core.cli import oci, quickargs

CASES = {
    "create": [["c1"], ["--bundle", "/b", "c1"], ["-b", "/b", "--pid-file", "/p", "c1"], ["c1", "--no-pivot"],
               ["--bundle=/b", "--preserve-fds", "2", "c1"], ["--console-socket", "/s", "--no-new-keyring", "c1"],
               ["--preserve-fds", "x", "c1"], ["--bund", "/b", "c1"], ["-h"], ["c1", "c2"], [],
               ["--pid-file", "-x", "c1"], ["--no-pivot=1", "c1"], ["--", "c1"], ["-bx", "c1"]],
    "run": [["-d", "c1"], ["--detach", "--keep", "--bundle", "/b", "c1"], ["c1", "-d", "--pid-file", "/p"]],
    "delete": [["c1"], ["--force", "c1"], ["-f", "c1"], ["c1", "extra"]],
    "kill": [["c1"], ["c1", "KILL"], ["--all", "c1", "9"], ["-a", "c1", "SIGTERM"], ["c1", "-9"]],
    "start": [["c1"], []],
    "state": [["c1"]],
    "list": [[], ["-q"], ["--format", "json"], ["--format", "yaml"], ["-f", "table"]],
    "exec": [["c1", "sh", "-c", "true"]],
    "update": [["--memory", "10m", "c1"], ["--pids-limit", "5", "c1"]],
}


def _argparse(setup, argv):
    parser = argparse.ArgumentParser(exit_on_error=False)
    setup(parser)
    try:
        return vars(parser.parse_args(argv))
    except (argparse.ArgumentError, SystemExit):
        return None


@pytest.mark.parametrize("verb,argv", [(v, a) for v, cases in CASES.items() for a in cases])
def test_same_result_as_argparse_or_steps_aside(verb, argv):
    setup = getattr(oci, f"_args_{verb}", oci._args_id)
    quick = quickargs.parse(setup, argv)
    expected = _argparse(setup, argv)
    if quick is not None:  # None: argparse decides (its error, or a form left to it)
        assert vars(quick) == expected


def test_engine_argv_is_parsed_without_argparse():
    for verb, argv in [("create", ["--bundle", "/b", "--pid-file", "/p", "c1"]), ("start", ["c1"]),
                       ("delete", ["--force", "c1"]), ("kill", ["c1", "9"]), ("state", ["c1"]),
                       ("run", ["--bundle", "/b", "c1"])]:
        assert quickargs.parse(getattr(oci, f"_args_{verb}", oci._args_id), argv) is not None, verb
    for verb, argv in [("create", ["--bund", "/b", "c1"]), ("create", ["-h"]), ("exec", ["c1", "true"]),
                       ("create", ["--preserve-fds", "x", "c1"]), ("delete", [])]:
        assert quickargs.parse(getattr(oci, f"_args_{verb}", oci._args_id), argv) is None, (verb, argv)
