"""``pycr serve`` at the HTTP level, as a hostile or careless caller: malformed requests, paths, the socket."""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import subprocess
import threading
import time

import pytest

from tests.conftest import PYCR

pytestmark = pytest.mark.root


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def call(api, method: str, path: str, body: bytes | None = None, headers=None):
    conn = UnixHTTP(api.sock)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        conn.close()


def error_of(api, method, path, body=None) -> tuple[int, str]:
    status, ctype, raw = call(api, method, path, body, {"Content-Type": "application/json"})
    assert ctype == "application/json", (status, ctype, raw)
    msg = json.loads(raw)["message"]
    assert "Traceback" not in msg and "\n" not in msg
    return status, msg


def test_socket_is_0660_root(api):
    st = os.stat(api.sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660 and st.st_uid == 0


def test_malformed_requests_get_docker_errors(api, clean):
    img = api.manage.image
    assert error_of(api, "POST", "/v1.41/containers/create", b"{not json")[0] == 400
    assert error_of(api, "POST", "/v1.41/containers/create", b"[1, 2]") == (
        400, "the request body must be a JSON object (docker's container config)")
    assert error_of(api, "POST", "/v1.41/containers/create", json.dumps({"Image": 5}).encode())[1].startswith("Image:")
    s, m = error_of(api, "POST", "/v1.41/containers/create",
                    json.dumps({"Image": img, "HostConfig": {"Memory": "lots"}}).encode())
    assert s == 400 and m.startswith("HostConfig.Memory:")
    s, m = error_of(api, "POST", "/v1.41/containers/create",
                    json.dumps({"Image": img, "HostConfig": {"Sysctls": {"net.x": "1"}}}).encode())
    assert s == 400 and m.startswith("HostConfig.Sysctls:")
    s, m = error_of(api, "POST", "/v1.41/containers/create", json.dumps({"Image": img, "Cmd": "true",
                                                                         "Env": ["NOEQUALS"]}).encode())
    assert s == 400 and m.startswith("Env:")
    s, m = error_of(api, "POST", "/v1.41/containers/create?name=../../etc", json.dumps({"Image": img}).encode())
    assert s == 400 and "name" in m
    assert error_of(api, "GET", "/v1.41/containers/json?filters=%7Bnope")[0] == 400
    assert error_of(api, "GET", "/v1.41/containers/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D")[0] == 400
    assert error_of(api, "GET", "/v1.41/containers/json?all=maybe")[0] == 400
    assert error_of(api, "GET", "/v1.41/nothing/here")[0] == 404
    assert error_of(api, "DELETE", "/v1.41/info")[0] == 405
    assert api.manage.ps() == []  # nothing half-made by any of them


def test_paths_cannot_leave_the_store(api, clean):
    for path in ("/v1.41/containers/..%2F..%2Fetc/json", "/v1.41/containers/%2E%2E/json",
                 "/v1.41/containers/a%00b/json"):
        status, msg = error_of(api, "GET", path)
        assert status in (400, 404), (path, status, msg)
    assert error_of(api, "GET", "/v1.41/images/..%2F..%2Fetc%2Fpasswd/json")[0] in (400, 404)
    assert error_of(api, "GET", "/v1.41/images/a/../../b/json")[0] in (400, 404)
    status, msg = error_of(api, "POST", "/v1.41/containers/create",
                           json.dumps({"Image": api.manage.image, "HostConfig": {"Binds": ["/:/host"]}}).encode())
    assert status == 403 and msg.startswith("HostConfig.Binds: / is outside")
    status, msg = error_of(api, "POST", "/v1.41/containers/create",
                           json.dumps({"Image": api.manage.image, "HostConfig": {"Binds": ["vol:/x"]}}).encode())
    assert status == 400 and "named volumes" in msg
    # ps_args reach ps only as options
    api.docker("run", "-d", "--name", "t", api.manage.image, "sleep", "100", check=0)
    assert error_of(api, "GET", "/v1.41/containers/t/top?ps_args=%3B%20touch%20%2Ftmp%2Fx")[0] == 400
    api.docker("rm", "-f", "t", check=0)


def test_a_hostile_build_context_is_refused(api, clean, tmp_path):
    import io
    import tarfile

    # (an absolute member name is made relative by the data filter: it lands inside the context)
    for member, kind in (("../escaped-by-build", tarfile.REGTYPE), ("link", tarfile.SYMTYPE)):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            info = tarfile.TarInfo(member)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = "/etc"
            data = b"FROM scratch\n"
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
        status, msg = error_of(api, "POST", "/v1.41/build?dockerfile=Dockerfile", buf.getvalue())
        assert status == 400 and msg.startswith("the build context is not a usable tar archive"), msg
    assert not os.path.exists(os.path.join(os.path.dirname(api.manage.store), "escaped-by-build"))
    assert error_of(api, "POST", "/v1.41/build?dockerfile=../../etc/passwd", b"")[0] == 400
    assert error_of(api, "POST", "/v1.41/build?memory=100", b"")[0] == 400
    tmp = os.path.join(api.manage.store, "tmp")
    assert not [n for n in os.listdir(tmp) if n.startswith("pycr-api-build-")]  # nothing left behind


def test_a_slow_client_does_not_block_others(api, clean):
    stalled = socket.socket(socket.AF_UNIX)
    stalled.connect(api.sock)
    stalled.sendall(b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
    waiting = socket.socket(socket.AF_UNIX)  # a wait on a container that never stops
    api.docker("run", "-d", "--name", "long", api.manage.image, "sleep", "1000", check=0)
    waiting.connect(api.sock)
    waiting.sendall(b"POST /v1.41/containers/long/wait HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    try:
        results = []

        def ping():
            results.append(call(api, "GET", "/_ping")[2])

        threads = [threading.Thread(target=ping) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results == [b"OK"] * 10
        assert api.docker("ps", "--format", "{{.Names}}", check=0).stdout.split() == ["long"]
    finally:
        stalled.close()
        waiting.close()
        api.docker("rm", "-f", "long", check=0)


def _serve_fails(tmp_path, *args) -> str:
    r = subprocess.run([PYCR, "serve", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_serve_refuses_bad_setups(tmp_path):
    f = tmp_path / "file"
    f.write_text("precious")
    assert "is not a socket" in _serve_fails(tmp_path, "--host", f"unix://{f}")
    assert f.read_text() == "precious"
    assert "unix socket only" in _serve_fails(tmp_path, "--host", "tcp://0.0.0.0:2375")
    assert "not a loopback address" in _serve_fails(tmp_path, "--host", f"unix://{tmp_path}/s", "--ui",
                                                    "0.0.0.0:8080")
    assert "--ui-public and --tls-cert" in _serve_fails(tmp_path, "--host", f"unix://{tmp_path}/s", "--ui",
                                                        "0.0.0.0:8080", "--ui-public")
    assert _serve_fails(tmp_path, "--host", f"unix://{tmp_path}/s", "--ui", "127.0.0.1:1", "--bench-dir",
                        str(f)) == f"--bench-dir {f}: not a directory"
    assert "give --ui too" in _serve_fails(tmp_path, "--host", f"unix://{tmp_path}/s", "--bench-dir", str(tmp_path))
    with socket.socket() as taken:  # the dashboard's port is someone else's
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert _serve_fails(tmp_path, "--host", f"unix://{tmp_path}/s", "--ui", f"127.0.0.1:{port}") == \
            f"--ui 127.0.0.1:{port}: cannot listen there: Address already in use"
    assert _serve_fails(tmp_path, "--host", f"unix://{tmp_path}/s", "--ui", "127.0.0.1:0", "--ui-public",
                        "--tls-cert", str(f), "--tls-key", str(f)).startswith(f"--tls-cert {f}, --tls-key {f}: ")
    assert not (tmp_path / "s").exists()  # refused before the socket is made


def test_a_stale_socket_is_replaced_and_a_live_one_kept(api, tmp_path):
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()  # a socket file nobody listens on, as a killed server leaves it
    proc = subprocess.Popen([PYCR, "--root", api.manage.root, "serve", "--host", f"unix://{stale}"],
                            env=api.manage.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as c:
                    c.connect(str(stale))
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else ""
                time.sleep(0.1)
        assert "another server is listening" in _serve_fails(tmp_path, "--host", f"unix://{stale}")
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert not stale.exists()


def test_socket_activation(api, tmp_path):
    """systemd's protocol: the listening socket as fd 3, LISTEN_FDS=1, LISTEN_PID = the server's pid."""
    path = str(tmp_path / "activated.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)
    fd = listener.fileno()
    proc = subprocess.Popen(["bash", "-c", f'exec 3<&{fd}; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh", PYCR,
                             "--root", api.manage.root, "serve", "--host", "unix:///nonexistent/never-made.sock"],
                            env=api.manage.env, pass_fds=(fd,), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    listener.close()
    try:
        line = proc.stdout.readline()
        assert "on the socket systemd passed" in line, proc.stderr.read() if not line else line
        r = subprocess.run(["/usr/bin/docker", "version", "--format", "{{.Server.APIVersion}}"],
                           env={**api.env, "DOCKER_HOST": f"unix://{path}"}, capture_output=True, text=True,
                           timeout=60)
        assert r.stdout.strip() == "1.41", r.stderr
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert not os.path.exists("/nonexistent/never-made.sock")
