"""pycr's json-file lines beside the real dockerd's for the same ``--log-opt``s: a private dockerd
(tests.helpers.engines.Dockerd: its own data-root, exec-root, socket, no iptables, no bridge) runs
the same busybox with the same labels, env and options; the lines must be the same but for their
time (byte for byte while the values are ASCII; the same JSON, keys in the same order, when they are
not: docker writes UTF-8, pycr escapes), ``logs --details`` the same, and compress the same names
and gzip header."""

from __future__ import annotations

import gzip
import json
import os
import re

import pytest

from tests.helpers.engines import dockerd_with_busybox

pytestmark = pytest.mark.root
IMAGE = "pycr-busybox:latest"
OPTS = ("--label", "a=1", "--label", 'b=x\ny"z\t<&>', "--label", "com.x=7", "-e", "FOO=bar", "-e", "BAZ=q=r",
        "--log-opt", "labels=a,b,nope", "--log-opt", "env=FOO,BAZ", "--log-opt", "labels-regex=^com",
        "--log-opt", "env-regex=^PA", "--log-opt", "tag={{.Name}}!")


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory):
    with dockerd_with_busybox(tmp_path_factory.mktemp("dockerlog"), IMAGE, tag="dockerlog") as dk:
        yield dk
    assert not os.path.exists(dk.dir)


def _docker_files(dk, cid: str) -> dict[str, str]:
    """docker's ``<id>-json.log[.N.gz]`` -> pycr's names (``json.log[.N.gz]``)."""
    d = dk.dir / "data" / "containers" / cid
    return {n.split("-", 1)[1]: str(d / n) for n in os.listdir(d) if "-json.log" in n}


def _untimed(text: str) -> str:
    return re.sub(r'"time":"[^"]*"', '"time":"T"', text)


def test_lines_details_and_compressed_files_as_dockerd_has_them(dockerd, clean):
    p = clean
    cmd = ("sh", "-c", "echo hi")
    dcid = dockerd("run", "-d", "--network", "none", "--name", "same", *OPTS, IMAGE, *cmd).stdout.strip()
    assert dockerd("wait", dcid).stdout.strip() == "0"
    pcid = p.run_d("--name", "same", *OPTS, p.image, *cmd)
    p.wait_for("same", "exited", timeout=30)
    with open(_docker_files(dockerd, dcid)["json.log"]) as f:
        theirs = f.read()
    with open(os.path.join(p.store, "containers", pcid, "json.log")) as f:
        ours = f.read()
    assert _untimed(ours) == _untimed(theirs)
    assert json.loads(theirs)["attrs"]["tag"] == "same!"
    assert p.logs("same", "--details") == dockerd("logs", "--details", dcid).stdout

    dcid2 = dockerd("run", "-d", "--network", "none", "--label", "u=é\x01", "--log-opt", "labels=u", IMAGE,
                    *cmd).stdout.strip()
    dockerd("wait", dcid2)
    pcid2 = p.run_d("--label", "u=é\x01", "--log-opt", "labels=u", p.image, *cmd)
    p.wait_for(pcid2, "exited", timeout=30)
    with open(_docker_files(dockerd, dcid2)["json.log"], "rb") as f:
        theirs = json.loads(f.readline())
    with open(os.path.join(p.store, "containers", pcid2, "json.log"), "rb") as f:
        ours = json.loads(f.readline())
    assert list(ours) == list(theirs) and ours["attrs"] == theirs["attrs"] == {"u": "é\x01"}

    seq = ("sh", "-c", "seq 1 300")
    opts = ("--log-opt", "max-size=1k", "--log-opt", "max-file=3", "--log-opt", "compress=true")
    dcid3 = dockerd("run", "-d", "--network", "none", *opts, IMAGE, *seq).stdout.strip()
    dockerd("wait", dcid3)
    pcid3 = p.run_d(*opts, p.image, *seq)
    p.wait_for(pcid3, "exited", timeout=30)
    theirs = _docker_files(dockerd, dcid3)
    cdir = os.path.join(p.store, "containers", pcid3)
    assert sorted(theirs) == sorted(n for n in os.listdir(cdir) if n.startswith("json.log")) == [
        "json.log", "json.log.1.gz", "json.log.2.gz"]
    for name in ("json.log.1.gz", "json.log.2.gz"):
        with open(theirs[name], "rb") as f:
            t = f.read()
        with open(os.path.join(cdir, name), "rb") as f:
            o = f.read()
        assert o[:10] == t[:10]  # FEXTRA, mtime 0, OS unknown: docker's header
        meta = [json.loads(x[12:12 + int.from_bytes(x[10:12], "little")]) for x in (t, o)]
        assert set(meta[0]) <= set(meta[1])  # docker's lastTime, and pycr's source beside it
        # (where a file ends differs a little: docker's times drop trailing zeros)
        shapes = [{re.sub(r'"log":"\d+\\n"', '"log":"N"', _untimed(x))
                   for x in gzip.decompress(z).decode().splitlines()} for z in (t, o)]
        assert shapes[0] == shapes[1] == {'{"log":"N","stream":"stdout","time":"T"}'}
    assert p.logs(pcid3) == dockerd("logs", dcid3).stdout
    dockerd("rm", dcid, dcid2, dcid3)
    p("rm", "same", pcid2, pcid3, check=0)
