"""docker's json-file ``--log-opt`` beyond the bounds, on real containers: labels / labels-regex /
env / env-regex / tag give every json.log entry docker's ``"attrs"`` (one JSON line whatever the
values hold; ``pycr logs`` prints the text only, ``--details`` the attrs first), ``compress=true``
gzips every rotated file (``json.log.N.gz``) and ``pycr logs`` (all, ``--tail``, ``-f`` across
rotations, ``--timestamps``) reads through them; conmon refuses what its log cannot hold; the
docker CLI through ``pycr serve`` does the same; the line pycr writes has the shape the real
dockerd writes for the same options (its own daemon, beside)."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess

import pytest

from tests.integration.test_log_rotation import GATED, N, SEQ, check_tail, follow_gated, line, log_files

pytestmark = pytest.mark.root
HOSTILE = 'x\ny"z\r\t\x1b[31m <&> é'  # a label value: newline, quotes, control characters, HTML, non-ASCII
TAGGED = ("--label", "a=1", "--label", f"b={HOSTILE}", "--label", "com.x=7", "-e", "FOO=bar", "-e", "BAZ=q=r",
          "--log-opt", "labels=a,b,nope", "--log-opt", "env=FOO,BAZ", "--log-opt", "labels-regex=^com",
          "--log-opt", "tag={{.Name}}/{{.ImageName}}")


def _lines(path: str) -> list[str]:
    with open(path, "rb") as f:
        data = f.read()
    return data.decode().split("\n")[:-1]


def test_attrs_in_every_entry_logs_text_only_details_first(clean):
    p = clean
    cid = p.run_d("--name", "attrs", *TAGGED, p.image, "sh", "-c", "echo hi; echo err >&2")
    p.wait_for("attrs", "exited", timeout=30)
    want = {"a": "1", "b": HOSTILE, "com.x": "7", "FOO": "bar", "BAZ": "q=r", "tag": f"attrs/{p.image}"}
    raw = _lines(os.path.join(p.store, "containers", cid, "json.log"))
    assert len(raw) == 2
    for text in raw:  # one ASCII line each, docker's key order
        assert text.isascii() and "<" not in text
        entry = json.loads(text)
        assert list(entry) == ["log", "stream", "attrs", "time"] and entry["attrs"] == want
    assert p("logs", "attrs", check=0).stdout == "hi\n"
    got = p("logs", "--details", "--timestamps", "attrs", check=0)
    prefix = "BAZ=q%3Dr,FOO=bar,a=1,b=x%0Ay%22z%0D%09%1B%5B31m+%3C%26%3E+%C3%A9,com.x=7,tag=attrs%2F"
    assert re.fullmatch(r"\S+Z " + re.escape(prefix) + r"\S+ hi\n", got.stdout), got.stdout
    assert got.stderr.endswith(" err\n") and prefix in got.stderr
    assert p.inspect("attrs")["Config"]["Labels"] == {"a": "1", "b": HOSTILE, "com.x": "7"}

    big = "v\n" * 50_000  # 100 kB in every entry (an argument may hold 128 KiB)
    cid = p.run_d("--name", "big", "--label", f"big={big}", "--log-opt", "labels=big", p.image, "echo", "x")
    p.wait_for("big", "exited", timeout=30)
    assert [json.loads(x)["attrs"] for x in _lines(os.path.join(p.store, "containers", cid, "json.log"))] == [
        {"big": big}]
    assert p.logs("big") == "x\n"

    cid = p.run_d("--name", "none", p.image, "echo", "plain")  # no attrs: docker's plain line, a lone space
    p.wait_for("none", "exited", timeout=30)
    assert list(json.loads(_lines(os.path.join(p.store, "containers", cid, "json.log"))[0])) == ["log", "stream",
                                                                                                 "time"]
    assert p.logs("none", "--details") == " plain\n"
    p("rm", "attrs", "big", "none", check=0)


def test_compress_gzips_rotated_files_and_logs_reads_through_them(clean):
    p = clean
    cid = p.run_d("--name", "gz", "--log-opt", "max-size=10k", "--log-opt", "max-file=4", "--log-opt",
                  "compress=true", "--log-opt", "env=FOO", "-e", "FOO=1", p.image, "sh", "-c", SEQ)
    info = p.wait_for("gz", "exited", timeout=60)
    assert info["HostConfig"]["LogConfig"]["Config"]["compress"] == "true"
    assert log_files(p, cid) == ["json.log", "json.log.1.gz", "json.log.2.gz", "json.log.3.gz"]
    cdir = os.path.join(p.store, "containers", cid)
    kept = []
    for name in ("json.log.3.gz", "json.log.2.gz", "json.log.1.gz"):
        with gzip.open(os.path.join(cdir, name), "rt") as f:
            text = f.read()
        assert 10_000 <= len(text) < 10_000 + 300  # a full file, whole
        kept += [json.loads(x)["log"].rstrip("\n") for x in text.splitlines()]
    kept += [json.loads(x)["log"].rstrip("\n") for x in _lines(os.path.join(cdir, "json.log"))]
    everything = check_tail(p.logs("gz"))
    assert everything == kept and int(everything[0].split()[1]) > 2000
    assert p.logs("gz", "--tail", "3") == "".join(line(i) + "\n" for i in range(N - 3, N))
    assert [s.split(" ", 1)[1] for s in p.logs("gz", "--timestamps").splitlines()] == everything
    assert p.logs("gz", "--details", "--tail", "1") == f"FOO=1 {line(N - 1)}\n"
    assert p.logs("gz", "--since", "2000-01-01T00:00:00Z").splitlines() == everything == p.logs(
        "gz", "--since", "1h").splitlines()
    assert p.logs("gz", "--since", "2999-01-01T00:00:00Z") == "" and p.logs("gz", "--tail", "2", "--since", "1") == (
        line(N - 2) + "\n" + line(N - 1) + "\n")
    r = p("logs", "--since", "soon", "gz")
    assert r.returncode != 0 and r.stdout == "" and r.stderr.strip().splitlines() == [
        "--since 'soon': expected a unix time, an RFC 3339 time (2026-01-02T15:04:05Z) or a duration (42m, 1h30m)"]
    half = len(everything) // 2
    middle = p.logs("gz", "--timestamps").splitlines()[half].split(" ", 1)[0]  # an entry's time, in a .gz
    got = p.logs("gz", "--since", middle).splitlines()  # from it on (and any before it with the same time)
    assert got == everything[-len(got):] and half - 50 < len(everything) - len(got) <= half
    assert p("logs", "-f", "gz", timeout=30, check=0).stdout == p.logs("gz")
    p("rm", "gz", check=0)


def test_logs_follow_across_compressed_rotations(clean):
    p = clean
    p.run_d("--name", "gzf", "--log-opt", "max-size=2k", "--log-opt", "max-file=200", "--log-opt", "compress=1",
            p.image, "sh", "-c", GATED)
    out = follow_gated(p.popen("logs", "-f", "gzf", stdout=subprocess.PIPE, text=True),
                       lambda: p("exec", "gzf", "touch", "/tmp/go", check=0))
    assert out.splitlines() == [line(i) for i in range(N)]
    files = log_files(p, p.inspect("gzf")["Id"])
    assert len(files) > 50 and all(n.endswith(".gz") for n in files if n != "json.log")
    assert p.logs("gzf").splitlines() == ["ready"] + [line(i) for i in range(N)]


@pytest.mark.parametrize("opts,words", [
    (("--log-opt", "labels-regex=(a"), ("--log-opt labels-regex='(a': not a regular expression",)),
    (("--log-opt", "env-regex=[\x01"), ("--log-opt env-regex='[\\x01': not a regular expression",)),
    (("--log-opt", "compress=yes", "--log-opt", "max-size=1m", "--log-opt", "max-file=2"),
     ("--log-opt compress='yes': expected true or false",)),
    (("--log-opt", "compress=true"), ("--log-opt compress=true", "max-file of 2 or more")),
    (("--log-opt", "tag={{.Nope}}"), ("--log-opt tag='{{.Nope}}'", "{{.Name}}")),
    (("--log-opt", "max-buffer-size=4m"), ("--log-opt: unknown log option 'max-buffer-size' (pycr's json-file log "
                                           "takes max-size, max-file, compress, labels, labels-regex, env, "
                                           "env-regex, tag)",)),
    (("--monitor", "conmon", "--log-opt", "labels=a"), ("--log-opt labels='a': conmon's k8s-file log has no attrs",)),
    (("--monitor", "conmon", "--log-opt", "compress=true", "--log-opt", "max-size=1m", "--log-opt", "max-file=2"),
     ("--log-opt compress=true: conmon keeps no rotated files to compress",)),
    (("--label", "=v"), ("--label '=v': expected KEY=VALUE",)),
])
def test_bad_new_log_options_one_line_nothing_made(clean, opts, words):
    p = clean
    if "conmon" in opts and shutil.which("conmon") is None:
        pytest.skip("conmon is not installed (scripts/install.sh)")
    r = p("create", "--name", "bad", *opts, p.image, "true")
    assert r.returncode != 0 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), r.stderr
    assert p.ps() == [] and os.listdir(os.path.join(p.store, "containers")) == []


def test_docker_cli_labels_details_and_compress_through_pycr_serve(api, clean):
    p = api.manage
    cid = api.docker("run", "-d", "--name", "dka", *TAGGED, p.image, "sh", "-c", "echo hi", check=0).stdout.strip()
    p.seen.add(cid)
    assert api.docker("wait", "dka", check=0).stdout.strip() == "0"
    entry = json.loads(_lines(os.path.join(p.store, "containers", cid, "json.log"))[0])
    assert entry["attrs"] == {"a": "1", "b": HOSTILE, "com.x": "7", "FOO": "bar", "BAZ": "q=r",
                              "tag": f"dka/{p.image}"}
    assert api.docker("logs", "dka", check=0).stdout == "hi\n"
    assert api.docker("logs", "--details", "dka", check=0).stdout == p.logs("dka", "--details")
    assert api.docker("logs", "--details", "dka", check=0).stdout.startswith("BAZ=q%3Dr,FOO=bar,a=1,b=x%0Ay")

    cid = api.docker("run", "-d", "--name", "dkz", "--log-opt", "max-size=10k", "--log-opt", "max-file=3",
                     "--log-opt", "compress=true", p.image, "sh", "-c", SEQ, check=0).stdout.strip()
    assert api.docker("wait", "dkz", check=0).stdout.strip() == "0"
    assert log_files(p, cid) == ["json.log", "json.log.1.gz", "json.log.2.gz"]
    everything = check_tail(api.docker("logs", "dkz", check=0).stdout)
    assert everything == check_tail(p.logs("dkz")) and len(everything) > 150
    assert api.docker("logs", "--tail", "2", "dkz", check=0).stdout == line(N - 2) + "\n" + line(N - 1) + "\n"
    assert api.docker("logs", "--since", "2000-01-01T00:00:00Z", "dkz", check=0).stdout.splitlines() == everything

    before = sorted(os.listdir(os.path.join(p.store, "containers")))
    for opts, needle in ((("--log-opt", "labels-regex=("), "HostConfig.LogConfig.Config.labels-regex='(': not a "
                                                            "regular expression"),
                         (("--log-opt", "compress=maybe"), "HostConfig.LogConfig.Config.compress='maybe': expected "
                                                           "true or false")):
        r = api.docker("run", "-d", "--name", "nope", *opts, p.image, "true")
        assert r.returncode == 125 and needle in r.stderr.splitlines()[0], r.stderr
    assert sorted(os.listdir(os.path.join(p.store, "containers"))) == before
    api.docker("rm", "-f", "dka", "dkz", check=0)
