"""Hard edges of the CLIs: a network's options reported as docker reports them, control
characters a caller typed never echoed raw into an error line."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_cli_error_sweep import assert_one_clean_line

pytestmark = pytest.mark.root

MTU = "com.docker.network.driver.mtu"
BRIDGE = "com.docker.network.bridge.name"


def test_network_options_are_reported_as_given(clean):
    """docker's Options of a user network are the -o given at create, as given; pycr's own --mtu is
    only in MTU (the effective one); the default bridge shows its own name and MTU."""
    p = clean
    p("network", "create", "-o", f"{MTU}=1400", "opt-mtu", check=0)
    p("network", "create", "--mtu", "1300", "flag-mtu", check=0)
    p("network", "create", "plain", check=0)
    try:
        got = {n["Name"]: (n["MTU"], n["Options"])
               for n in json.loads(p("network", "inspect", "opt-mtu", "flag-mtu", "plain", "bridge", check=0).stdout)}
        assert got == {"opt-mtu": (1400, {MTU: "1400"}), "flag-mtu": (1300, {}), "plain": (1500, {}),
                       "bridge": (1500, {BRIDGE: "pycr0", MTU: "1500"})}
        listed = {n["Name"]: (n["MTU"], n["Options"]) for n in json.loads(p("network", "ls", "--format", "json",
                                                                            check=0).stdout)}
        assert {k: v for k, v in listed.items() if k in got} == got
    finally:
        p("network", "rm", "opt-mtu", "flag-mtu", "plain", check=0)


@pytest.mark.parametrize("value", ["20", "65536", "\uff11\uff14\uff10\uff10"])  # fullwidth digits: not a number
def test_network_mtu_option_errors_name_the_option(clean, value):
    p = clean
    before = p("network", "ls", "-q").stdout
    assert_one_clean_line(p("network", "create", "-o", f"{MTU}={value}", "badmtu"),
                          f"-o {MTU}={value}: need a number from 68 to 65535")
    assert p("network", "ls", "-q").stdout == before
