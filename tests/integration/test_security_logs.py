"""A container process must not forge entries of its own log: what it writes is the text of
entries, never their stream or time, whatever bytes (``\\r``, NUL, invalid UTF-8, a line that
looks like the log format itself) it writes."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers.poll import until

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(shutil.which("conmon") is None, reason="conmon is not installed (scripts/install.sh)")]

FORGED = "2020-01-01T00:00:00.000000000+00:00 stderr F forged"


@pytest.mark.parametrize("monitor", ["conmon", "pycr"])
def test_carriage_return_cannot_forge_a_k8s_file_entry(clean, monitor):
    p = clean
    script = rf"printf 'real\r{FORGED}\n'; printf 'a\000b\377c\n'; echo done"
    p.run_d("--monitor", monitor, "--name", "forger", p.image, "sh", "-c", script)
    until(lambda: "done" in p("logs", "forger", check=0).stdout, "the container's last line in its log")
    for args in ((), ("--tail", "3"), ("--timestamps",)):
        out = p("logs", *args, "forger", check=0)
        assert out.returncode == 0
        assert out.stderr == "", f"pycr logs {' '.join(args)}: an entry on stderr the container never wrote"
        # (the helper reads text with universal newlines: the container's "\r" arrives as "\n")
        assert f"real\n{FORGED}\n" in out.stdout and "a\x00b\ufffdc\n" in out.stdout
    assert p("logs", "--tail", "1", "forger").stdout == "done\n"
    p("rm", "-f", "forger", check=0)
