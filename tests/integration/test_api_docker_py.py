"""docker-py (PyPI ``docker``) scripts against ``pycr serve``: the same operations as the docker CLI tests."""

from __future__ import annotations

import threading
import time

import pytest

from tests.helpers.registry import push_busybox

pytestmark = pytest.mark.root
docker = pytest.importorskip("docker")


@pytest.fixture
def client(api, clean):
    c = docker.DockerClient(base_url=api.env["DOCKER_HOST"], version="auto", timeout=120)
    yield c
    c.close()


def test_system(client):
    assert client.ping() is True
    v = client.version()
    assert v["ApiVersion"] == "1.41" and v["Os"] == "linux"
    assert client.info()["Containers"] == 0


def test_pull_tag_push_remove(client, api, registry):
    ref = push_busybox(registry, "py-pull", registry.scratch)
    image = client.images.pull(ref)
    assert ref in image.tags
    assert image.attrs["Os"] == "linux" and image.history()
    assert image.tag(f"{registry.host}/py-pushed", "v2")
    lines = list(client.images.push(f"{registry.host}/py-pushed", tag="v2", stream=True, decode=True))
    assert any("aux" in line and line["aux"]["Digest"].startswith("sha256:") for line in lines), lines
    assert not any("error" in line for line in lines)
    client.images.remove(f"{registry.host}/py-pushed:v2")
    client.images.remove(ref)
    assert ref not in [t for i in client.images.list() for t in i.tags]


def test_run_remove_and_output(client, api):
    out = client.containers.run(api.manage.image, ["sh", "-c", "echo hi; echo oops >&2"], remove=True,
                                stderr=True)
    assert out == b"hi\noops\n"
    with pytest.raises(docker.errors.ContainerError) as e:
        client.containers.run(api.manage.image, ["sh", "-c", "exit 7"], remove=True)
    assert e.value.exit_status == 7
    assert client.containers.list(all=True) == []


def test_detached_lifecycle(client, api):
    c = client.containers.run(api.manage.image, ["sh", "-c", "echo a; while true; do echo t; sleep 0.3; done"],
                              detach=True, name="pyweb", labels={"k": "v"}, environment={"E": "1"},
                              mem_limit="64m", pids_limit=50, nano_cpus=500_000_000)
    c.reload()
    assert c.status == "running" and c.name == "pyweb" and c.labels == {"k": "v"}
    assert c.attrs["HostConfig"]["Memory"] == 64 << 20 and c.attrs["HostConfig"]["PidsLimit"] == 50
    assert [x.id for x in client.containers.list(filters={"label": "k=v"})] == [c.id]
    assert client.containers.list(filters={"status": "exited"}) == []
    assert api.manage.state("pyweb") == "running"

    seen = []
    stream = c.logs(stream=True, follow=True)
    t = threading.Thread(target=lambda: seen.extend(stream), daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while b"".join(seen).count(b"t\n") < 2:
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)
    assert b"".join(seen).startswith(b"a\n")

    code, out = c.exec_run(["sh", "-c", "echo $E; exit 3"])
    assert (code, out) == (3, b"1\n")
    top = c.top()
    assert "PID" in top["Titles"] and any("while true" in p[-1] for p in top["Processes"])
    stats = c.stats(stream=False)
    assert stats["pids_stats"]["current"] >= 1 and stats["memory_stats"]["limit"] == 64 << 20
    c.pause()
    c.reload()
    assert c.status == "paused"
    c.unpause()
    c.stop(timeout=1)
    assert c.wait()["StatusCode"] == 137
    t.join(20)
    assert not t.is_alive()  # follow ended with the container
    c.remove()
    assert api.manage.ps() == []


def test_exec_with_a_socket(client, api):
    c = client.containers.run(api.manage.image, ["sleep", "1000"], detach=True)
    eid = client.api.exec_create(c.id, ["sh", "-c", "read line; echo got:$line"], stdin=True)["Id"]
    sock = client.api.exec_start(eid, socket=True)
    sock._sock.sendall(b"hello\n")
    data = b""
    deadline = time.monotonic() + 20
    while b"got:hello" not in data:
        assert time.monotonic() < deadline, data
        data += sock._sock.recv(4096)
    sock.close()
    deadline = time.monotonic() + 20
    while client.api.exec_inspect(eid)["Running"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert client.api.exec_inspect(eid)["ExitCode"] == 0
    c.remove(force=True)


def test_errors(client, api):
    with pytest.raises(docker.errors.NotFound, match="no such container"):
        client.containers.get("nosuch")
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("nosuch/image:1")
    with pytest.raises(docker.errors.APIError, match="HostConfig.SecurityOpt"):
        client.containers.create(api.manage.image, "true", security_opt=["seccomp=/etc/shadow"])
    with pytest.raises(docker.errors.APIError, match="unknown capability"):
        client.containers.create(api.manage.image, "true", cap_add=["NOT_A_CAP"])
    with pytest.raises(docker.errors.APIError, match="HostConfig.Devices"):
        client.containers.create(api.manage.image, "true", devices=["/dev/sda:/dev/sda"])
    assert client.containers.list(all=True) == []
    c = client.containers.create(api.manage.image, "true", name="dup")
    with pytest.raises(docker.errors.APIError, match="already in use") as e:
        client.containers.create(api.manage.image, "true", name="dup")
    assert e.value.status_code == 409
    c.remove()
    assert client.containers.prune()["ContainersDeleted"] is None
