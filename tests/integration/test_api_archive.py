"""``docker cp`` through ``pycr serve`` (``/containers/{id}/archive``), and a container that plants
links to the host's files trying to make the copy read or write outside its root."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

pytestmark = pytest.mark.root


def test_docker_cp_both_ways(api, clean, tmp_path):
    img = api.manage.image
    api.docker("run", "-d", "--name", "box", img, "sh", "-c",
               "mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && ln -s a /data/l && "
               "sleep 1000", check=0)
    for _ in range(50):
        if api.docker("exec", "box", "test", "-L", "/data/l").returncode == 0:
            break
    api.docker("cp", "box:/data", str(tmp_path / "out"), check=0)
    assert (tmp_path / "out" / "a").read_text() == "one\n" and (tmp_path / "out" / "sub" / "b").read_text() == "two\n"
    assert os.readlink(tmp_path / "out" / "l") == "a"  # a link is copied as a link
    (tmp_path / "in.txt").write_text("hello in\n")
    api.docker("cp", str(tmp_path / "in.txt"), "box:/data/sub/", check=0)
    assert api.docker("exec", "box", "cat", "/data/sub/in.txt", check=0).stdout == "hello in\n"
    os.makedirs(tmp_path / "tree" / "deep")
    (tmp_path / "tree" / "deep" / "f").write_text("deep\n")
    api.docker("cp", str(tmp_path / "tree"), "box:/newtree", check=0)
    assert api.docker("exec", "box", "cat", "/newtree/deep/f", check=0).stdout == "deep\n"
    r = api.docker("cp", "box:/nosuch", str(tmp_path / "x"))
    assert r.returncode != 0 and "No such container:path: box:/nosuch" in r.stderr


def test_planted_links_cannot_reach_the_host(api, clean, tmp_path):
    """The container points /escape at the host's /etc and /data/shadow at /etc/shadow: reads
    resolve inside its root (its own /etc), writes through such links are refused or land inside."""
    img = api.manage.image
    marker = tmp_path / "host-dir"
    marker.mkdir()
    (marker / "secret").write_text("host secret\n")
    api.docker("run", "-d", "--name", "evil", img, "sh", "-c",
               f"mkdir -p /data {marker} && ln -s /etc /escape && ln -s /etc/shadow /data/shadow && "
               f"ln -s ../../../../../../{marker} /data/up && ln -s {marker} /hostdir && sleep 1000", check=0)
    for _ in range(50):
        if api.docker("exec", "evil", "test", "-L", "/hostdir").returncode == 0:
            break
    own_passwd = api.docker("exec", "evil", "cat", "/etc/passwd", check=0).stdout
    # reading through a planted directory link gives the container's own file, never the host's
    api.docker("cp", "evil:/escape/passwd", str(tmp_path / "p"), check=0)
    assert (tmp_path / "p").read_text() == own_passwd
    r = api.docker("cp", "evil:/data/up/secret", str(tmp_path / "s"))  # .. climbs to the container's / only
    assert r.returncode != 0 and not (tmp_path / "s").exists()
    r = api.docker("cp", "-L", "evil:/data/shadow", str(tmp_path / "sh"))  # follows to ITS /etc/shadow
    own = api.docker("exec", "evil", "cat", "/etc/shadow")
    if own.returncode == 0:
        assert r.returncode == 0 and (tmp_path / "sh").read_text() == own.stdout
    else:
        assert r.returncode != 0 and not (tmp_path / "sh").exists()
    # writing into a planted link to a host directory lands inside the container (its own {marker})
    (tmp_path / "payload").write_text("pwned\n")
    api.docker("cp", str(tmp_path / "payload"), "evil:/hostdir/", check=0)
    assert not (marker / "payload").exists()
    assert api.docker("exec", "evil", "cat", f"{marker}/payload", check=0).stdout == "pwned\n"
    # a final '..' or '.' would be looked up on the parent's fd, outside openat2: refused
    for path in ("/..", "/data/..", "/escape/..", "/.", "/../.."):
        r = _request(api, "GET", "evil", path)
        assert r.status == 400 and b"root:" not in r.body, (path, r.status)
    assert own_passwd.encode() in _request(api, "GET", "evil", "/../../../etc/../etc/passwd").body
    # a hostile archive: climbing names and an entry written through a link it carries itself
    for members in (["../../../../tmp/pycr-archive-escape"], ["/abs-escape"]):
        assert _put(api, "evil", "/data", members).status == 400
    assert not os.path.exists("/tmp/pycr-archive-escape")
    assert _put(api, "evil", "/data", ["lnk->" + str(marker), "lnk/planted"]).status == 400
    assert not (marker / "planted").exists()
    r = _put(api, "evil", "/data", ["shadow"])  # an existing link is replaced, not written through
    assert r.status == 200 and "pwned-by-archive" not in open("/etc/shadow").read()
    assert api.docker("exec", "evil", "cat", "/data/shadow", check=0).stdout == "pwned-by-archive"


class _Resp:
    def __init__(self, status, body):
        self.status, self.body = status, body


def _request(api, method, cid, path, body=None):
    import http.client
    import socket
    import urllib.parse

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(api.sock)

    c = Conn("localhost", timeout=60)
    c.request(method, f"/containers/{cid}/archive?path={urllib.parse.quote(path)}", body=body,
              headers={"Content-Type": "application/x-tar"})
    r = c.getresponse()
    out = _Resp(r.status, r.read())
    c.close()
    return out


def _put(api, cid, path, members):
    """PUT a hand-made tar; ``name->target`` is a symlink entry."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for m in members:
            if "->" in m:
                name, target = m.split("->")
                ti = tarfile.TarInfo(name)
                ti.type, ti.linkname = tarfile.SYMTYPE, target
                tar.addfile(ti)
            else:
                data = b"pwned-by-archive"
                ti = tarfile.TarInfo(m)
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
    return _request(api, "PUT", cid, path, buf.getvalue())


def test_swapping_a_file_for_a_device_is_never_read(api, clean):
    """The container swaps /race/f between a 100-byte file of 'A's and a device node (its own
    mknod, /dev/urandom's numbers) while archives of /race are read: an entry archived as a file
    is always the 100 'A's, never the device opened by the host (where the container's device
    cgroup does not apply) and read as a file."""
    img = api.manage.image
    api.docker("run", "-d", "--name", "racer", img, "sh", "-c",
               "mkdir /race; while true; do printf 'A%.0s' $(seq 100) > /race/f.t; mv /race/f.t /race/f; "
               "mknod /race/d.t c 1 9; mv /race/d.t /race/f; done", check=0)
    seen_file = 0
    for _ in range(200):
        r = _request(api, "GET", "racer", "/race")
        assert r.status == 200, r.body
        with tarfile.open(fileobj=io.BytesIO(r.body)) as tar:
            for m in tar:
                if m.name == "race/f" and m.isfile():
                    # written whole before being renamed into place: never empty, never other bytes
                    assert tar.extractfile(m).read() == b"A" * 100, m.size
                    seen_file += 1
    assert seen_file > 0  # the race was really run against regular files too
