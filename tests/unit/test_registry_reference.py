"""transports.registry_reference: what the API accepts as an image reference (registries only)."""

from __future__ import annotations

import pytest

from pycr.core import ConfigError
from pycr.plugins.images.transports import registry_reference


@pytest.mark.parametrize("text, full", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("127.0.0.1:5000/busybox:1.36", "127.0.0.1:5000/busybox:1.36"),
    ("localhost/a/b@sha256:" + "b" * 64, "localhost/a/b@sha256:" + "b" * 64),
    ("[::1]:5000/x", "[::1]:5000/x:latest"),
    ("registry.example:443/team/app", "registry.example:443/team/app:latest"),
    ("sha256:" + "a" * 64, "docker.io/library/sha256:" + "a" * 64),  # an image id: looked up in the store
])
def test_registry_references_pass(text, full):
    assert str(registry_reference(text)) == full


@pytest.mark.parametrize("text, why", [
    ("docker-archive:/tmp/x.tar", "docker-archive: is a transport"),
    ("oci-archive:/tmp/x.tar:tag", "oci-archive: is a transport"),
    ("oci:/var/lib/layout", "oci: is a transport"),
    ("oci:latest", "oci: is a transport"),
    ("docker://busybox", "docker: is a transport"),
    ("/etc/passwd", "a path is not an image name"),
    ("./x", "a path is not an image name"),
    ("~/x", "a path is not an image name"),
    ("evil:/tmp/x", "evil: is not a registry host"),
    ("-x.example/y", "-x.example is not a registry host"),
])
def test_transports_and_paths_are_refused(text, why):
    with pytest.raises(ConfigError) as e:
        registry_reference(text)
    assert str(e.value) == (f"{text!r}: {why}; only registry references ([REGISTRY/]NAME[:TAG|@DIGEST]) "
                            "are accepted")


def test_a_malformed_reference_keeps_the_parsers_reason():
    with pytest.raises(ConfigError, match="repository names are lowercase"):
        registry_reference("BAD")
