"""Which ADD URL destinations ``pycr build --no-local-urls`` refuses (the connections themselves:
tests/integration/test_build.py::test_no_local_urls_refuses_this_host_and_link_local_not_a_peer)."""

from __future__ import annotations

import pytest

from pycr.plugins.build.urls import local_kind


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "a loopback address"), ("127.8.9.10", "a loopback address"), ("::1", "a loopback address"),
    ("::ffff:127.0.0.1", "a loopback address"),  # an IPv4-mapped address is its IPv4 one
    ("169.254.169.254", "a link-local address"), ("fe80::1%lo", "a link-local address"),
    ("0.0.0.0", "the unspecified address"), ("::", "the unspecified address"),
    ("0.1.2.3", "in 'this network' (0.0.0.0/8)"), ("224.0.0.251", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("192.0.2.77", None), ("203.0.113.9", None), ("2001:db8::1", None),  # documentation ranges: no host has them
])
def test_local_kind(address, kind):
    assert local_kind(address) == kind
