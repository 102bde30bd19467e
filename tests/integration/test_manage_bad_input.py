"""Bad input: one clear line, a non-zero exit, and nothing changed."""

from __future__ import annotations

import json
import os

import pytest


pytestmark = pytest.mark.root


def snapshot(p) -> tuple:
    """What a failed command must not change: records (minus volatile fields) and the dir listing."""
    recs = []
    for r in p.ps():
        r.pop("Status")  # "Up 3 seconds" moves with time
        recs.append(r)
    cdir = os.path.join(p.store, "containers")
    return json.dumps(recs, sort_keys=True), sorted(os.listdir(cdir))


def one_line_error(r, *words):
    assert r.returncode != 0, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture
def two(clean):
    p = clean
    ids = set()
    while True:  # two ids that share a first hex digit, for an ambiguous prefix
        ids.add(p.run_d(p.image, "sleep", "1000"))
        firsts = [i[0] for i in ids]
        dup = next((c for c in firsts if firsts.count(c) > 1), None)
        if dup:
            break
        if len(ids) >= 17:
            pytest.fail("impossible: 17 ids with 16 distinct first digits")
    p.run_d("--name", "stopped", p.image, "true")
    p.wait_for("stopped", "exited")
    return p, dup


BAD = [
    (("logs", "nosuch"), ("no such container: nosuch",)),
    (("stop", "nosuch"), ("no such container",)),
    (("rm", "nosuch"), ("no such container",)),
    (("inspect", "nosuch"), ("no such container",)),
    (("exec", "stopped", "true"), ("stopped", "not running")),
    (("kill", "stopped"), ("stopped", "not running")),
    (("pause", "stopped"), ("not running",)),
    (("unpause", "stopped"), ("not paused",)),
    (("top", "stopped"), ("not running",)),
    (("kill", "-s", "SIGNOPE", "stopped"), ("unknown signal",)),
    (("run", "-d", "--name", "stopped", "IMAGE", "true"), ("already in use",)),
    (("create", "--name", "stopped", "IMAGE", "true"), ("already in use",)),
    (("run", "-d", "--name", "bad/name", "IMAGE", "true"), ("--name",)),
    (("run", "-d", "--restart", "sometimes", "IMAGE", "true"), ("--restart",)),
    (("run", "-d", "--rm", "--restart", "always", "IMAGE", "true"), ("--rm",)),
    (("run", "-d", "IMAGE", "/no/such/binary"), ("/no/such/binary",)),
    (("start", "stopped-not"), ("no such container",)),
]


def test_bad_input_changes_nothing(two):
    p, dup = two
    before = snapshot(p)
    r = p("inspect", dup)
    one_line_error(r, "ambiguous", dup)
    for args, words in BAD + [(("stop", dup), ("ambiguous",)), (("rm", "-f", dup), ("ambiguous",)),
                              (("exec", dup, "true"), ("ambiguous",))]:
        args = tuple(p.image if a == "IMAGE" else a for a in args)
        r = p(*args)
        one_line_error(r, *words)
        assert snapshot(p) == before, f"pycr {' '.join(args)} changed something"
    # a running container: rm without -f and start refuse
    running = next(r["Id"] for r in p.ps() if r["State"] == "running")
    one_line_error(p("rm", running), "running", "rm -f")
    one_line_error(p("start", running), "already running")
    assert snapshot(p) == before


def test_run_and_create_without_an_image_say_what_is_required(clean):
    before = snapshot(clean)
    for verb in ("run", "create"):
        r = clean(verb)
        one_line_error(r, f"pycr {verb} requires at least 1 argument", "IMAGE [COMMAND]")
        assert "command" not in r.stderr.split(":")[0]  # COMMAND is optional, not "required"
    assert snapshot(clean) == before


def test_it_without_a_terminal_is_refused_as_docker_does(clean):
    before = snapshot(clean)
    cid = clean.run_d("--name", "up", clean.image, "sleep", "1000")
    for args in (("run", "-it", clean.image, "sh"), ("exec", "-it", "up", "sh")):
        r = clean(*args, input="echo hi\n")  # stdin is a pipe, not a terminal
        one_line_error(r, "the input device is not a TTY")
    assert clean("exec", "-i", "up", "echo", "piped", input="", check=0).stdout == "piped\n"
    clean("rm", "-f", cid, check=0)
    assert snapshot(clean) == before


def test_backend_none_runs_without_a_device_cgroup_but_keeps_devices_confined(clean):
    """``pycr --backend none run`` works (no device rules for a driver that has no cgroup) and the
    container still cannot make a device node to reach the host's disks."""
    r = clean("--backend", "none", "run", "--rm", clean.image, "sh", "-c",
              "mknod /tmp/sda b 8 0 && echo made || echo refused; grep CapBnd /proc/self/status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "refused"
    bnd = int(r.stdout.split()[-1], 16)
    assert not bnd & (1 << 27)  # CAP_MKNOD
    one_line_error(clean("--backend", "none", "run", "--rm", "--memory", "64m", clean.image, "true"),
                   "linux.resources.memory.limit", "'none' cgroup driver cannot enforce")
