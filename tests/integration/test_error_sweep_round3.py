"""A third sweep of bad input, over what landed with the conmon monitor, ``--expose`` and
``network create --gateway/-o``: one line naming the problem, non-zero exit, nothing made."""

from __future__ import annotations

import pytest

from tests.integration.test_cli_error_sweep import assert_one_clean_line

pytestmark = pytest.mark.root

EXPOSE = [("0", "'0' is not PORT"), ("65536", "'65536' is not PORT"), ("1-70000", "'1-70000' is not PORT"),
          ("80/sctp", "'80/sctp' is not PORT"), ("80/", "'80/' is not PORT"), ("80-81/", "'80-81/' is not PORT"), ("80-79", "'80-79' is not PORT"), ("-1", "'-1' is not PORT"),
          ("\u00b2", "'\u00b2' is not PORT"), ("8\u0660", "'8\u0660' is not PORT")]  # digits int() would take or choke on


@pytest.mark.parametrize("value,says", EXPOSE, ids=[e[0] for e in EXPOSE])
def test_expose_refused_in_one_line(clean, value, says):
    p = clean
    r = p("create", "--expose", value, p.image, "true")
    assert_one_clean_line(r, "--expose", says)
    assert "invalid literal" not in r.stderr
    assert p("ps", "-aq").stdout == ""


OPTS = "com.docker.network.bridge.name", "com.docker.network.driver.mtu"
NETWORK = [(("--subnet", "10.250.0.0/24", "--gateway", "::1"), "--gateway ::1: not an address of --subnet"),
           (("--subnet", "10.250.0.0/24", "--gateway", "10.250.0.255"), "--gateway 10.250.0.255"),
           (("--gateway", "abc"), "--gateway abc: give --subnet too"),
           (("-o", f"{OPTS[0]}=lo"), "an interface of that name exists here"),
           (("-o", f"{OPTS[0]}=abcdefghijklmnop"), "an interface name is 1-15"),
           (("-o", f"{OPTS[0]}=a/b"), "an interface name is 1-15"),
           (("-o", f"{OPTS[0]}=.."), "an interface name is 1-15"),
           (("-o", f"{OPTS[0]}=a b"), "an interface name is 1-15"),
           (("-o", f"{OPTS[0]}=pycr0"), "the bridge of network 'bridge'"),
           (("-o", f"{OPTS[1]}=0"), "need a number from 68 to 65535"),
           (("-o", f"{OPTS[1]}=65536"), "need a number from 68 to 65535"),
           (("-o", f"{OPTS[1]}=-1"), "need a number from 68 to 65535"),
           (("-o", f"{OPTS[1]}=abc"), "need a number from 68 to 65535"),
           (("-o", "foo"), "use KEY=VALUE")]


@pytest.mark.parametrize("args,says", NETWORK, ids=[" ".join(n[0]) for n in NETWORK])
def test_network_create_refused_in_one_line(clean, args, says):
    p = clean
    before = p("network", "ls", "-q").stdout
    assert_one_clean_line(p("network", "create", *args, "sweep3"), says)
    assert p("network", "ls", "-q").stdout == before
