"""Registry transport decisions that need no server: scheme choice, challenges, credentials file."""

import base64
import json

import pytest

from pycr.core import ConfigError
from pycr.plugins.registry_oci import authfile
from pycr.plugins.registry_oci.transport import Transport, is_loopback, parse_challenge


@pytest.mark.parametrize("host, plain", [
    ("localhost:5000", True), ("127.0.0.1:5000", True), ("127.9.9.9", True), ("[::1]:5000", True),
    ("registry.example.com", False), ("10.0.0.1:5000", False), ("docker.io", False)])
def test_plain_http_only_for_loopback(host, plain):
    assert is_loopback(host) is plain
    assert Transport(host).scheme == ("http" if plain else "https")


def test_insecure_registry_allows_plain_http():
    assert Transport("registry.lan:5000", insecure=True).scheme == "http"


def test_parse_bearer_challenge():
    scheme, params = parse_challenge('Bearer realm="https://auth.example/token",service="reg",'
                                     'scope="repository:a/b:pull,push"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull,push"}
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


def test_credentials_file_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "keep-me", "auths": {
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:pw").decode()}}}))
    assert authfile.get("docker.io") == ("hub", "pw")
    authfile.store("127.0.0.1:5000", "u", "p:with:colons")
    assert authfile.get("127.0.0.1:5000") == ("u", "p:with:colons")
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc["credsStore"] == "keep-me" and (tmp_path / "config.json").stat().st_mode & 0o777 == 0o600
    assert authfile.remove("127.0.0.1:5000") and authfile.get("127.0.0.1:5000") is None
    assert not authfile.remove("127.0.0.1:5000")


@pytest.mark.parametrize("content, message", [("[]", "expected a JSON object"), ("{no", "malformed JSON")])
def test_a_broken_docker_config_is_one_line(tmp_path, monkeypatch, content, message):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(ConfigError, match=f"config.json: {message}"):
        authfile.get("docker.io")


def test_a_socket_idle_timeout_counts_as_too_slow_like_the_deadline():
    """The socket's own timeout and the deadline have the same seconds; under load either fires
    first, and both must read as "did not arrive within" (a CI run met "connection lost: timed out")."""
    from pycr.plugins.registry_oci.transport import _Deadline

    class Conn:
        sock = None

    d = _Deadline(Conn(), 60)
    assert d.cut(TimeoutError("timed out")) and not d.cut(ConnectionResetError())
    d._fire()
    assert d.cut(ConnectionResetError())
