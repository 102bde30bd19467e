"""An API caller gets docker's defaults and registries, nothing more, unless ``pycr serve --allow-privileged``.

As an attacker would: a privileged create, capabilities outside docker's
default set, the host's namespaces, and image references that name host
files through a transport (``docker-archive:``, ``oci-archive:``, ``oci:``)
or a path -- each refused with one line, nothing made, and the same answer
whether the host file exists or not.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import urllib.parse

import pytest

from tests.helpers.api import serving
from tests.integration import test_api_http as http_

pytestmark = pytest.mark.root

HOW = "start pycr serve with --allow-privileged to allow it"
ONLY = "only registry references ([REGISTRY/]NAME[:TAG|@DIGEST]) are accepted"


def _create(api, host: dict, image: str | None = None):
    body = json.dumps({"Image": image or api.manage.image, "Cmd": ["true"], "HostConfig": host}).encode()
    return http_.error_of(api, "POST", "/v1.41/containers/create", body)


def _images(api) -> list:
    status, _, raw = http_.call(api, "GET", "/v1.41/images/json")
    assert status == 200
    return sorted(i["Id"] + ",".join(i["RepoTags"] or []) for i in json.loads(raw))


def _cap_eff(out: str) -> int:
    return int(out.split()[1], 16)


def _own_bounding() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))


@pytest.mark.parametrize("host, message", [
    ({"Privileged": True}, f"HostConfig.Privileged: true: gives the container the host's devices and every "
                           f"capability; {HOW}"),
    ({"CapAdd": ["SYS_ADMIN"]}, f"HostConfig.CapAdd: SYS_ADMIN: only capabilities of docker's default set may "
                                f"be added; {HOW}"),
    ({"CapAdd": ["ALL"]}, f"HostConfig.CapAdd: ALL: only capabilities of docker's default set may be added; {HOW}"),
    ({"CapAdd": ["CHOWN", "CAP_SYS_MODULE"]}, f"HostConfig.CapAdd: CAP_SYS_MODULE: only capabilities of docker's "
                                              f"default set may be added; {HOW}"),
    ({"CapDrop": ["ALL"], "CapAdd": ["dac_read_search"]}, f"HostConfig.CapAdd: dac_read_search: only capabilities "
                                                          f"of docker's default set may be added; {HOW}"),
    ({"CapAdd": ["NOT_A_CAP"]}, "HostConfig.CapAdd: NOT_A_CAP: unknown capability"),
    ({"NetworkMode": "host"}, f"HostConfig.NetworkMode: host: gives the container the host's network; {HOW}"),
    ({"PidMode": "host"}, "HostConfig.PidMode: pycr does not support it"),
    ({"IpcMode": "host"}, "HostConfig.IpcMode: pycr does not support it"),
    ({"UTSMode": "host"}, "HostConfig.UTSMode: pycr does not support it"),
    ({"UsernsMode": "host"}, "HostConfig.UsernsMode: pycr does not support it"),
])
def test_more_than_docker_defaults_is_refused(api, clean, host, message):
    assert _create(api, host) == (400, message)
    assert api.manage.ps() == []  # nothing made


def test_docker_cli_privileged_is_refused_and_default_caps_can_be_re_added(api, clean):
    img = api.manage.image
    r = api.docker("run", "--rm", "--privileged", img, "true")
    assert r.returncode != 0 and f"HostConfig.Privileged: true: gives the container the host's devices" in r.stderr
    r = api.docker("run", "--rm", "--cap-add", "SYS_ADMIN", img, "true")
    assert r.returncode != 0 and "HostConfig.CapAdd: SYS_ADMIN: only capabilities of docker's default" in r.stderr
    assert api.manage.ps() == []
    out = api.docker("run", "--rm", "--cap-drop", "ALL", "--cap-add", "CHOWN", "--cap-add", "cap_net_bind_service",
                     img, "grep", "CapEff", "/proc/self/status", check=0).stdout
    assert _cap_eff(out) == (1 << 0) | (1 << 10)  # CAP_CHOWN and CAP_NET_BIND_SERVICE, nothing else


def test_allow_privileged_gives_dockers_full_behaviour(manage, clean):
    with serving(manage, ["--allow-privileged"]) as a:
        img = manage.image
        out = a.docker("run", "--rm", "--privileged", img, "grep", "CapEff", "/proc/self/status", check=0).stdout
        assert _cap_eff(out) == _own_bounding()  # every capability the server itself may hand out
        out = a.docker("run", "--rm", "--cap-drop", "ALL", "--cap-add", "SYS_ADMIN", img, "grep", "CapEff",
                       "/proc/self/status", check=0).stdout
        assert _cap_eff(out) == 1 << 21  # CAP_SYS_ADMIN
        assert manage.ps() == []


@pytest.fixture
def host_archive(api, tmp_path):
    """A real docker-archive of the test image on the host, and a path that does not exist."""
    status, _, raw = http_.call(api, "GET", f"/v1.41/images/{api.manage.image}/get")
    assert status == 200 and tarfile.open(fileobj=io.BytesIO(raw)).getnames()
    path = tmp_path / "hostonly.tar"
    path.write_bytes(raw)
    layout = tmp_path / "layout"
    layout.mkdir()
    return str(path), str(tmp_path / "nothing-here.tar"), str(layout)


def _pull(api, image: str, tag: str | None = None):
    q = {"fromImage": image, **({"tag": tag} if tag is not None else {})}
    return http_.error_of(api, "POST", "/v1.41/images/create?" + urllib.parse.urlencode(q))


def test_pull_takes_registry_references_only(api, clean, host_archive):
    there, missing, layout = host_archive
    before = _images(api)
    answers = {}
    for path in (there, missing):
        answers[path] = [
            _pull(api, f"docker-archive:{path}"), _pull(api, "docker-archive", path),
            _pull(api, f"oci-archive:{path}"), _pull(api, "oci-archive", path), _pull(api, path)]
    assert answers[there][0] == (400, f"fromImage: 'docker-archive:{there}': docker-archive: is a transport; {ONLY}")
    assert answers[there][1] == (400, f"tag: '{there}' is not a tag or a digest (sha256:...)")
    assert answers[there][2] == (400, f"fromImage: 'oci-archive:{there}': oci-archive: is a transport; {ONLY}")
    assert answers[there][4] == (400, f"fromImage: '{there}': a path is not an image name; {ONLY}")
    # whether the host file exists makes no difference to the answer
    assert [(s, m.replace(there, "P")) for s, m in answers[there]] == \
        [(s, m.replace(missing, "P")) for s, m in answers[missing]]
    assert _pull(api, f"oci:{layout}") == (400, f"fromImage: 'oci:{layout}': oci: is a transport; {ONLY}")
    assert _pull(api, "oci", "latest") == (400, f"fromImage: 'oci:latest': oci: is a transport; {ONLY}")
    assert _pull(api, "docker://busybox") == (400, f"fromImage: 'docker://busybox': docker: is a transport; {ONLY}")
    assert _pull(api, "evil:/x") == (400, f"fromImage: 'evil:/x': evil: is not a registry host; {ONLY}")
    assert _images(api) == before  # nothing loaded
    assert "Status: Downloaded newer image" in http_.call(
        api, "POST", "/v1.41/images/create?" + urllib.parse.urlencode({"fromImage": api.manage.image}))[2].decode()


def test_other_image_references_are_registry_references_only(api, clean, host_archive):
    there, _, _ = host_archive
    img, before = api.manage.image, _images(api)
    assert _create(api, {}, f"docker-archive:{there}") == (
        400, f"Image: 'docker-archive:{there}': docker-archive: is a transport; {ONLY}")
    assert api.manage.ps() == []
    q = urllib.parse.urlencode({"repo": "oci", "tag": "/tmp/x"})
    assert http_.error_of(api, "POST", f"/v1.41/images/{img}/tag?{q}") == (
        400, "repo: 'oci:/tmp/x': oci: is a transport; " + ONLY)
    q = urllib.parse.urlencode({"repo": f"oci-archive:{there}"})
    assert http_.error_of(api, "POST", f"/v1.41/images/{img}/tag?{q}") == (
        400, f"repo: 'oci-archive:{there}:latest': oci-archive: is a transport; {ONLY}")
    assert http_.error_of(api, "POST", f"/v1.41/images/oci-archive:{there}/push") == (
        400, f"name: 'oci-archive:{there}': oci-archive: is a transport; {ONLY}")
    assert _images(api) == before
    # a build: its tags, and the Dockerfile's FROM and COPY --from (pycr build --registry-only)
    for dockerfile in (f"FROM docker-archive:{there}\n", f"FROM scratch\nCOPY --from=oci-archive:{there} / /\n"):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(dockerfile)
            tf.addfile(info, io.BytesIO(dockerfile.encode()))
        status, _, raw = http_.call(api, "POST", "/v1.41/build?t=built", buf.getvalue(),
                                    {"Content-Type": "application/x-tar"})
        errors = [json.loads(line)["error"] for line in raw.decode().splitlines() if '"error"' in line]
        assert status == 200 and len(errors) == 1 and f"is a transport; {ONLY}" in errors[0], raw
    assert http_.error_of(api, "POST", "/v1.41/build?" + urllib.parse.urlencode({"t": f"oci:{there}"}), b"") == (
        400, f"t: 'oci:{there}': oci: is a transport; {ONLY}")
    assert _images(api) == before
    assert not [n for n in os.listdir(os.path.join(api.manage.store, "tmp")) if n.startswith("pycr-api-build-")]


def _build_adding(api, url: str) -> list[str]:
    """POST /build of ``FROM scratch`` + ``ADD url``: the error lines of the stream."""
    dockerfile = f"FROM scratch\nADD {url} /f\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tf.addfile(info, io.BytesIO(dockerfile))
    status, _, raw = http_.call(api, "POST", "/v1.41/build?t=fetched", buf.getvalue(),
                                {"Content-Type": "application/x-tar"})
    assert status == 200
    return [json.loads(line)["error"] for line in raw.decode().splitlines() if '"error"' in line]


def test_build_add_url_reaches_no_loopback_service_unless_allow_privileged(api, manage, clean, tmp_path):
    """ADD URL runs in the server's network namespace: an API caller must not read the host's
    loopback services (or the cloud's metadata) into an image it can export."""
    import http.server
    import threading

    (tmp_path / "secret.txt").write_text("loopback-only\n")
    handler = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/secret.txt"
    try:
        before = _images(api)
        assert _build_adding(api, url) == [
            f"Dockerfile:2: ADD: cannot fetch {url}: 127.0.0.1 is a loopback address: a build through the API "
            "fetches from no address of this host and none link-local (pycr serve --allow-privileged allows it)"]
        assert _images(api) == before
        with serving(manage, ["--allow-privileged"]) as a:
            assert _build_adding(a, url) == []
            assert "fetched:latest" in "".join(_images(a))
            assert http_.call(a, "DELETE", "/v1.41/images/fetched:latest")[0] == 200
    finally:
        server.shutdown()
        server.server_close()


def test_dashboard_pull_takes_registry_references_only(manage, clean, tmp_path):
    import urllib.error
    import urllib.request

    path = tmp_path / "hostonly.tar"
    path.write_bytes(b"")
    with serving(manage, ui=True) as a:
        token = a.url.split("token=")[1]
        before = _images(a)
        req = urllib.request.Request(f"{a.base}/ui/images/pull", data=json.dumps({"image": f"oci-archive:{path}"})
                                     .encode(), headers={"Authorization": f"Bearer {token}", "X-Pycr-UI": "1",
                                                         "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=60)
        assert e.value.code == 400 and json.loads(e.value.read())["message"] == (
            f"image: 'oci-archive:{path}': oci-archive: is a transport; {ONLY}")
        assert _images(a) == before
