"""docker's json-file log bounds (``--log-opt max-size=... --log-opt max-file=N``) on real containers:
the pycr monitor rotates ``json.log`` (``.1``, ``.2`` ..., never more than max-file files), conmon
starts ``ctr.log`` over at ``--log-size-max``; ``pycr logs`` (plain, ``--tail``, ``-f``) and the
Engine API read across the files, oldest first, nothing twice."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading

import pytest

from pycr.plugins.manage import records
from tests.helpers.poll import until

pytestmark = pytest.mark.root
N = 3000
# one line per number, padded to 60 characters: a json-file entry of about 130 bytes
SEQ = f"seq -w 0 {N - 1} | sed 's/^/line /; s/$/ {'.' * 52}/'"
GATED = f"echo ready; until [ -e /tmp/go ]; do sleep 0.05; done; {SEQ}"  # SEQ once the test is following


def line(i: int) -> str:
    return f"line {i:04d} " + "." * 52


def log_files(p, cid: str, base: str = "json.log") -> list[str]:
    cdir = os.path.join(p.store, "containers", cid)
    return sorted(n for n in os.listdir(cdir) if n == base or n.startswith(base + "."))


def check_tail(text: str, last: int = N - 1) -> list[str]:
    """``text`` is lines first..last of SEQ, each once, in order; returns them."""
    got = text.splitlines()
    assert got, "no lines"
    first = int(got[0].split()[1])
    assert got == [line(i) for i in range(first, last + 1)], "not the numbers in order, each once"
    return got


def follow_gated(follow: subprocess.Popen, go) -> str:
    """What ``logs -f`` (``follow``, text on a pipe) of a GATED container printed: it reads "ready",
    lets SEQ run (``go()``) and reads on to the container's end."""
    try:
        assert follow.stdout.readline() == "ready\n"
        go()
        out, _ = follow.communicate(timeout=120)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert follow.returncode == 0
    return out


def entries(path: str) -> list[str]:
    with open(path) as f:
        return [json.loads(x)["log"].rstrip("\n") for x in f]


def test_json_log_rotates_keeping_max_file_files_and_logs_reads_them_in_order(clean):
    p = clean
    seen_files: set[int] = set()
    stop = threading.Event()

    cid = p("create", "-q", "--name", "chatty", "--log-opt", "max-size=10k", "--log-opt", "max-file=3",
            p.image, "sh", "-c", SEQ, check=0).stdout.strip()
    p.seen.add(cid)

    def watch():  # how many log files there are, as often as we can look while it writes
        while not stop.wait(0.001):
            seen_files.add(len(log_files(p, cid)))

    t = threading.Thread(target=watch)
    t.start()
    try:
        p("start", "chatty", check=0)
        info = p.wait_for("chatty", "exited", timeout=60)
    finally:
        stop.set()
        t.join()
    assert info["State"]["ExitCode"] == 0
    assert info["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10k", "max-file": "3"}}
    assert max(seen_files) <= 3
    assert log_files(p, cid) == ["json.log", "json.log.1", "json.log.2"]
    cdir = os.path.join(p.store, "containers", cid)
    kept = [entries(os.path.join(cdir, n)) for n in ("json.log.2", "json.log.1", "json.log")]
    for n in ("json.log.2", "json.log.1"):  # full: rotated at the first entry past 10 kB (decimal, as docker)
        assert 10_000 <= os.path.getsize(os.path.join(cdir, n)) < 10_000 + 200
    # the oldest entries were dropped; what is kept is the end, oldest file first
    everything = check_tail(p.logs("chatty"))
    assert everything == kept[0] + kept[1] + kept[2] and int(everything[0].split()[1]) > 1000
    assert p.logs("chatty", "--tail", "5") == "".join(line(i) + "\n" for i in range(N - 5, N))
    assert check_tail(p.logs("chatty", "--tail", str(len(kept[2]) + 3))) == everything[-len(kept[2]) - 3:]
    stamped = p.logs("chatty", "--timestamps").splitlines()
    assert [s.split(" ", 1)[1] for s in stamped] == everything
    assert p("logs", "-f", "chatty", timeout=30, check=0).stdout == p.logs("chatty")

    # a restart goes on with the same bounds
    p("start", "chatty", check=0)
    p.wait_for("chatty", "exited", timeout=60)
    assert log_files(p, cid) == ["json.log", "json.log.1", "json.log.2"]
    check_tail(p.logs("chatty"))


def test_logs_follow_goes_on_across_rotations(clean):
    """A follower started before the rotations gets every line once: with enough files kept
    (none dropped), whenever it reads, it finishes a moved file and goes on with the next."""
    p = clean
    p.run_d("--name", "flow", "--log-opt", "max-size=2k", "--log-opt", "max-file=200", p.image, "sh", "-c", GATED)
    out = follow_gated(p.popen("logs", "-f", "flow", stdout=subprocess.PIPE, text=True),
                       lambda: p("exec", "flow", "touch", "/tmp/go", check=0))
    assert out.splitlines() == [line(i) for i in range(N)]
    files = log_files(p, p.inspect("flow")["Id"])
    assert len(files) > 50  # it did rotate, many times, while the follower read
    assert p.logs("flow").splitlines() == ["ready"] + [line(i) for i in range(N)]  # none dropped: all, in order


def test_max_file_1_keeps_only_the_live_file(clean):
    p = clean
    cid = p.run_d("--name", "one", "--log-opt", "max-size=5k", p.image, "sh", "-c", SEQ)
    p.wait_for("one", "exited", timeout=60)
    assert log_files(p, cid) == ["json.log"]
    size = os.path.getsize(os.path.join(p.store, "containers", cid, "json.log"))
    assert 0 < size < 5_000 + 200
    assert len(check_tail(p.logs("one"))) == len(entries(os.path.join(p.store, "containers", cid, "json.log")))


@pytest.mark.skipif(shutil.which("conmon") is None, reason="conmon is not installed (scripts/install.sh)")
def test_conmon_starts_its_log_over_at_max_size(clean):
    """conmon's --log-size-max keeps no rotated files: at the limit ctr.log starts over."""
    p = clean
    cid = p.run_d("--monitor", "conmon", "--name", "cm", "--log-opt", "max-size=4k", p.image, "sh", "-c", SEQ)
    info = p.wait_for("cm", "exited", timeout=60)
    assert info["HostConfig"]["LogConfig"] == {"Type": "k8s-file", "Config": {"max-size": "4k"}}
    assert log_files(p, cid, "ctr.log") == ["ctr.log"]
    path = os.path.join(p.store, "containers", cid, "ctr.log")
    assert 0 < os.path.getsize(path) <= 4_000
    with open(path, "rb") as f:  # conmon logs what one read got: a line a read cut is a P entry, then an F one
        kept = "".join(records.log_entry(x, "k8s-file")["log"] for x in f)
    text = p.logs("cm")
    assert text == kept and text.count("\n") < 100
    check_tail(text.split("\n", 1)[1])  # (its first line may be the end of one whose start was dropped)
    assert p.logs("cm", "--tail", "2") == line(N - 2) + "\n" + line(N - 1) + "\n"
    p("rm", "cm", check=0)

    # conmon counts only what it wrote since it started: pycr gives a restarted one the room left
    few = f"seq -w 0 14 | sed 's/^/line /; s/$/ {'.' * 52}/'"  # 15 lines: about 1.6 kB a start
    cid = p.run_d("--monitor", "conmon", "--name", "again", "--log-opt", "max-size=4k", p.image, "sh", "-c", few)
    path = os.path.join(p.store, "containers", cid, "ctr.log")
    sizes, lines = [], []
    for run in range(4):
        if run:
            p("start", "again", check=0)
        p.wait_for("again", "exited", timeout=60)
        sizes.append(os.path.getsize(path))
        lines.append(p.logs("again").count("\n"))
    assert max(sizes) <= 4_000, sizes
    assert lines == [15, 30, 15, 30]  # an earlier start's lines are kept while they fit
    p("rm", "again", check=0)
    until(lambda: p.monitors("conmon") == [], "its conmon gone")


@pytest.mark.parametrize("opts,words", [
    (("--log-opt", "max-file=3"), ("--log-opt max-file=3", "needs max-size")),
    (("--log-opt", "max-buffer-size=4m"), ("--log-opt: unknown log option 'max-buffer-size'",)),
    (("--log-opt", "max-size=10q"), ("--log-opt max-size", "'10q'")),
    (("--log-opt", "max-size=0"), ("--log-opt max-size='0'", "positive")),
    (("--log-opt", "max-size=1m", "--log-opt", "max-file=0"), ("--log-opt max-file='0'", "from 1 up")),
    (("--log-opt", "max-size"), ("--log-opt 'max-size'", "KEY=VALUE")),
    (("--monitor", "conmon", "--log-opt", "max-size=1m", "--log-opt", "max-file=2"),
     ("--log-opt max-file=2", "conmon keeps no rotated files")),
])
@pytest.mark.parametrize("verb", [("create",), ("run", "-d")])
def test_bad_log_options_one_line_nothing_made(clean, verb, opts, words):
    p = clean
    r = p(*verb, "--name", "bad", *opts, p.image, "true")
    assert r.returncode != 0 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), r.stderr
    assert p.ps() == [] and os.listdir(os.path.join(p.store, "containers")) == []


def test_docker_cli_through_pycr_serve(api, clean):
    """``docker run --log-opt`` through ``pycr serve``: stored, shown by inspect, rotated, and read
    by ``docker logs`` (all, --tail, --since, -f across rotations)."""
    p = api.manage
    img = p.image
    cid = api.docker("run", "-d", "--name", "dk", "--log-opt", "max-size=10k", "--log-opt", "max-file=3", img,
                     "sh", "-c", SEQ, check=0).stdout.strip()
    p.seen.add(cid)
    assert api.docker("wait", "dk", check=0).stdout.strip() == "0"
    got = json.loads(api.docker("inspect", "-f", "{{json .HostConfig.LogConfig}}", "dk", check=0).stdout)
    assert got == {"Type": "json-file", "Config": {"max-size": "10k", "max-file": "3"}}
    assert p.inspect("dk")["HostConfig"]["LogConfig"] == got
    assert log_files(p, cid) == ["json.log", "json.log.1", "json.log.2"]
    everything = check_tail(api.docker("logs", "dk", check=0).stdout)
    assert everything == check_tail(p.logs("dk"))
    assert api.docker("logs", "--tail", "3", "dk", check=0).stdout == "".join(line(i) + "\n" for i in range(N - 3, N))
    assert api.docker("logs", "--since", "2000-01-01T00:00:00Z", "dk", check=0).stdout.splitlines() == everything
    assert api.docker("logs", "--since", "2999-01-01T00:00:00Z", "dk", check=0).stdout == ""
    assert api.docker("logs", "-f", "dk", check=0, timeout=60).stdout.splitlines() == everything

    api.docker("run", "-d", "--name", "dkf", "--log-opt", "max-size=2k", "--log-opt", "max-file=200", img,
               "sh", "-c", GATED, check=0)
    out = follow_gated(subprocess.Popen(["/usr/bin/docker", "logs", "-f", "dkf"], env=api.env, stdout=subprocess.PIPE,
                                        text=True), lambda: api.docker("exec", "dkf", "touch", "/tmp/go", check=0))
    assert out.splitlines() == [line(i) for i in range(N)]

    before = sorted(os.listdir(os.path.join(p.store, "containers")))
    for opts, needle in ((("--log-opt", "max-file=3"), "HostConfig.LogConfig.Config.max-file=3: needs max-size"),
                         (("--log-opt", "mode=non-blocking"),
                          "HostConfig.LogConfig.Config: unknown log option 'mode' (pycr's json-file log takes "
                          "max-size, max-file, compress"),
                         (("--log-opt", "max-size=big"), "HostConfig.LogConfig.Config.max-size: invalid size 'big'")):
        r = api.docker("run", "-d", "--name", "nope", *opts, img, "true")
        assert r.returncode == 125 and needle in r.stderr.splitlines()[0], r.stderr
    assert sorted(os.listdir(os.path.join(p.store, "containers"))) == before
    api.docker("rm", "-f", "dk", "dkf", check=0)

