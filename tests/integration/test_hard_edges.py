"""Hard edges of the CLIs: a network's options reported as docker reports them, control
characters a caller typed never echoed raw into an error line."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.test_cli_error_sweep import assert_one_clean_line

pytestmark = pytest.mark.root

MTU = "com.docker.network.driver.mtu"
BRIDGE = "com.docker.network.bridge.name"


def test_network_options_are_reported_as_given(clean):
    """docker's Options of a user network are the -o given at create, as given; pycr's own --mtu is
    only in MTU (the effective one); the default bridge shows its own name and MTU."""
    p = clean
    p("network", "create", "-o", f"{MTU}=1400", "opt-mtu", check=0)
    p("network", "create", "--mtu", "1300", "flag-mtu", check=0)
    p("network", "create", "plain", check=0)
    try:
        got = {n["Name"]: (n["MTU"], n["Options"])
               for n in json.loads(p("network", "inspect", "opt-mtu", "flag-mtu", "plain", "bridge", check=0).stdout)}
        assert got == {"opt-mtu": (1400, {MTU: "1400"}), "flag-mtu": (1300, {}), "plain": (1500, {}),
                       "bridge": (1500, {BRIDGE: "pycr0", MTU: "1500"})}
        listed = {n["Name"]: (n["MTU"], n["Options"]) for n in json.loads(p("network", "ls", "--format", "json",
                                                                            check=0).stdout)}
        assert {k: v for k, v in listed.items() if k in got} == got
    finally:
        p("network", "rm", "opt-mtu", "flag-mtu", "plain", check=0)


@pytest.mark.parametrize("value", ["20", "65536", "\uff11\uff14\uff10\uff10"])  # fullwidth digits: not a number
def test_network_mtu_option_errors_name_the_option(clean, value):
    p = clean
    before = p("network", "ls", "-q").stdout
    assert_one_clean_line(p("network", "create", "-o", f"{MTU}={value}", "badmtu"),
                          f"-o {MTU}={value}: need a number from 68 to 65535")
    assert p("network", "ls", "-q").stdout == before


HOSTILE = "\x1b[31mred\x1b]0;title\x07\rover\nnext\u202eevil"  # colour, window title, bell, CR, LF, bidi
ESCAPED = "\\x1b[31mred\\x1b]0;title\\x07\\rover\\nnext\\u202eevil"


def _no_control_characters(r):
    raw = r.stdout + r.stderr
    assert not any(c in raw for c in "\x1b\x07\r\u202e"), repr(raw)
    assert_one_clean_line(r, ESCAPED)


def test_exec_and_run_errors_escape_control_characters(clean):
    """A command name the caller typed, echoed back in the one error line, with its control characters
    escaped: it cannot recolour the terminal, retitle it, rewrite the line or start another."""
    p = clean
    cid = p.run_d("--name", "esc", p.image, "sleep", "1000")
    r = p("exec", "esc", HOSTILE)
    assert r.returncode == 127, r
    _no_control_characters(r)
    from tests.conftest import PYCR_OCI

    r = subprocess.run([PYCR_OCI, "--root", p.root, "exec", cid, HOSTILE], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0, r
    _no_control_characters(r)
    r = p("run", "--rm", p.image, HOSTILE)
    assert r.returncode == 127, r
    _no_control_characters(r)
    p("rm", "-f", "esc", check=0)
    assert [c["Names"] for c in p.ps()] == []


@pytest.mark.parametrize("args", [("rm", HOSTILE), ("inspect", HOSTILE), ("stop", HOSTILE), ("run", "--" + HOSTILE),
                                  ("network", "rm", HOSTILE), ("--root", "/nonexistent", HOSTILE),
                                  ("network", "create", "-o", f"{HOSTILE}=1", "escnet")],
                         ids=["rm", "inspect", "stop", "run-option", "network-rm", "verb", "network-opt"])
def test_echoed_values_escape_control_characters(clean, args):
    r = clean(*args)
    assert r.returncode != 0, r
    assert not any(c in r.stderr for c in "\x1b\x07\r\u202e"), repr(r.stderr)
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1, repr(r.stderr)


def test_api_errors_escape_control_characters(api, clean):
    """docker's CLI prints the API's error message as it is: pycr serve escapes what the caller sent."""
    a = api
    a.docker("run", "-d", "--name", "esc", clean.image, "sleep", "1000", check=0)
    for args in (("exec", "esc", HOSTILE), ("rm", HOSTILE), ("inspect", "--type", "container", HOSTILE),
                 ("network", "create", "-o", f"{HOSTILE}=1", "escnet")):
        r = a.docker(*args)
        assert r.returncode != 0, r
        assert not any(c in r.stdout + r.stderr for c in "\x1b\x07\r\u202e"), (args, r.stderr)
        assert ESCAPED in r.stderr or "is not valid" in r.stderr, (args, r.stderr)
    a.docker("rm", "-f", "esc", check=0)


BAD_FIELDS = [("freezer", 5), ("freezer", [[1, 2]]), ("freezer", [["relative/freezer.state", "FROZEN"]]),
              ("freezer", [["/a"]]), ("freezer", "x"), ("pid", -1), ("pid", "12"), ("pid", True), ("pid_start", "x"),
              ("bundle", 5), ("annotations", [1]), ("hooks", {"poststop": 5}), ("hooks", {"poststart": [{"path": 5}]}),
              ("cgroup", 5), ("cgroup", {"driver": "nosuch", "container_id": "x"}), ("no_process", "yes"),
              ("rootfs", None), ("created", 1), ("owner", [])]
DAMAGE = [(f"{field}={json.dumps(value)}", field, value) for field, value in BAD_FIELDS] + [
    ("truncated", None, None), ("array", None, [1]), ("nested", None, None), ("binary", None, None),
    ("cgroup.paths", "cgroup", {"paths": {"freezer": 5}}), ("cgroup.created", "cgroup", {"created": {"pids": "/x"}}),
    ("cgroup.container_id", "cgroup", {"container_id": None})]  # the driver's own fields


def _damage(path, field, value, name):
    good = json.loads(open(path).read())
    with open(path, "wb") as f:
        if name.startswith("cgroup."):
            f.write(json.dumps({**good, "cgroup": {**good["cgroup"], **value}}).encode())
        elif field is not None:
            f.write(json.dumps({**good, field: value}).encode())
        else:
            f.write({"truncated": json.dumps(good).encode()[:40], "array": b"[1]", "nested": b"[" * 100000,
                     "binary": b"\xff\xfe{\x00"}[name])


@pytest.mark.parametrize("name, field, value", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damaged_state_is_one_line_and_delete_force_cleans_up(bundle, state_root, name, field, value):
    """A malformed field of state.json (or a cut, non-object, binary file): state/start/kill/pause/exec/
    delete say so in one line naming the container and the field and change nothing; delete --force
    still kills the container's processes and removes its cgroup and directory."""
    import os
    import uuid

    from tests.conftest import ID_PREFIX, oci
    from tests.helpers.engines import cgroups_named, processes_mentioning

    cid = f"{ID_PREFIX}dmg-{uuid.uuid4().hex[:6]}"
    b = bundle(["sleep", "1000"])
    assert oci(state_root, "create", "--bundle", b, cid).returncode == 0
    path = os.path.join(state_root, cid, "state.json")
    init = json.loads(open(path).read())["pid"]
    _damage(path, field, value, name)
    says = f"container {cid}: state.json: " + (f"field {field!r}" if field else "")
    try:
        verbs = [["state"], ["start"], ["kill", "--all"], ["pause"], ["exec", "true"], ["delete"]]
        if name.startswith("cgroup.") or name.startswith("cgroup={"):  # only the verbs using the driver read it
            verbs = [["kill", "--all"], ["pause"], ["delete"]]
        for verb in verbs:
            r = oci(state_root, *verb[:1], cid, *verb[1:])
            assert_one_clean_line(r, says)
            os.kill(init, 0)  # the container's init is untouched
        assert os.path.exists(path)
        r = oci(state_root, "list")
        if ["state"] in verbs:  # the others are listed, this one is one line on stderr
            assert r.returncode == 0 and cid not in r.stdout and says in r.stderr, r
    finally:
        r = oci(state_root, "delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.dirname(path))
    assert cgroups_named(f"pycr-{cid}") == []
    assert not os.path.exists(f"/proc/{init}") or open(f"/proc/{init}/stat").read().split()[2] == "Z"
    assert processes_mentioning(cid) == []


@pytest.mark.parametrize("damage", ["truncated", "cgroup=5"])
def test_delete_force_of_damaged_state_finds_a_custom_cgroup_by_the_intent_journal(bundle, state_root, damage):
    """A container made with its own cgroupsPath (as every engine passes one) and a state.json
    the cgroup record is lost from: create's intent journal beside it still names the cgroup and
    the init, so delete --force kills what else runs in that cgroup and removes it."""
    import os
    import uuid

    from tests.conftest import ID_PREFIX, oci
    from tests.helpers.engines import cgroups_named

    cid, custom = f"{ID_PREFIX}dmgcg-{uuid.uuid4().hex[:6]}", f"{ID_PREFIX}custom-{uuid.uuid4().hex[:6]}"
    b = bundle(["sleep", "1000"], linux={"cgroupsPath": custom})
    stray = subprocess.Popen(["sleep", "1001"])  # a process of the container only by its cgroup
    try:
        assert oci(state_root, "run", "-d", "--bundle", b, cid).returncode == 0
        path = os.path.join(state_root, cid, "state.json")
        init = json.loads(open(path).read())["pid"]
        dirs = cgroups_named(custom)
        assert dirs and not cgroups_named(f"pycr-{cid}")
        for d in dirs:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(stray.pid))
        with open(path, "r+b") as f:
            good = f.read()
            f.seek(0)
            f.truncate()
            f.write(good[:40] if damage == "truncated" else json.dumps({**json.loads(good), "cgroup": 5}).encode())
        r = oci(state_root, "delete", "--force", cid)
        assert r.returncode == 0, r.stderr
        assert r.stderr.startswith(f"warning: container {cid}: state.json: "), r.stderr
        assert stray.wait(timeout=10) == -9
        assert cgroups_named(custom) == []
        assert not os.path.exists(os.path.dirname(path))
        assert not os.path.exists(f"/proc/{init}") or open(f"/proc/{init}/stat").read().split()[2] == "Z"
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()
        oci(state_root, "delete", "--force", cid)
        for d in cgroups_named(custom):  # only if the test failed: what delete left
            for pid in open(os.path.join(d, "cgroup.procs")).read().split():
                os.kill(int(pid), 9)
        for d in cgroups_named(custom):
            for _ in range(200):
                if not open(os.path.join(d, "cgroup.procs")).read():
                    break
                __import__("time").sleep(0.05)
            for sub in sorted((os.path.join(p, n) for p, ns, _ in os.walk(d) for n in ns), reverse=True):
                os.rmdir(sub)
            os.rmdir(d)
