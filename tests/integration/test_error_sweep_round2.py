"""A second adversarial sweep of bad input, over the surfaces the first one
(test_cli_error_sweep) covers least: ``pycr run``/``create`` option values,
``pycr build`` with odd Dockerfiles and contexts, ``pycr load``/``pull`` of
files that are not image archives, ``pycr network create`` subnets, and the
Engine API's bodies with wrong JSON types.  Every case must end in a
non-zero exit (or a 4xx) and ONE line naming the problem -- no usage block,
no Python exception name -- and leave nothing: no container record, no
image, no network, no exec stuck "running".
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import PYCR
from tests.integration.test_api_http import call, error_of
from tests.integration.test_cli_error_sweep import PYTHON_LEAK, assert_one_clean_line

pytestmark = pytest.mark.root


def _files(p) -> dict:
    """What a failed command must not change: records, image names, networks, the store's tmp."""
    def listing(*parts):
        d = os.path.join(p.store, *parts)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []
    images = json.loads(p("images", "--format", "json", check=0).stdout or "[]")
    return {"containers": listing("containers"), "tmp": listing("tmp"),
            "images": sorted(json.dumps(i, sort_keys=True) for i in images),
            "networks": p("network", "ls", "-q", check=0).stdout}


@pytest.fixture
def files(tmp_path):
    """Odd input files: a seccomp profile of the wrong shapes, a binary env file, non-tar archives."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "seccomp-syscalls-string.json").write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": "x"}')
    (d / "seccomp-args-number.json").write_text(
        '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": 5}]}')
    (d / "seccomp-action-number.json").write_text('{"defaultAction": 5}')
    (d / "seccomp-flags-string.json").write_text('{"defaultAction": "SCMP_ACT_ALLOW", "flags": "x"}')
    (d / "env.bin").write_bytes(b"A=1\n\xd0\xff\xfe\x00\n")
    (d / "notar.tar").write_text("not a tar at all\n")
    (d / "notar.tgz").write_bytes(gzip.compress(b"not a tar at all\n"))
    for name, manifest in (("manifest-object.tar", b'{"a": 1}'),
                           ("manifest-types.tar", b'[{"Config": 5, "RepoTags": "x", "Layers": null}]'),
                           ("manifest-layers.tar", b'[{"Config": "c.json", "Layers": [1, 2]}]')):
        with tarfile.open(d / name, "w") as t:
            ti = tarfile.TarInfo("manifest.json")
            ti.size = len(manifest)
            t.addfile(ti, io.BytesIO(manifest))
    return d


# (args, what the one line must say); IN/ is the `files` directory, IMAGE the test image
RUN_CASES = [
    (("--cpus", "nan"), "--cpus nan: must be a number of CPUs from 0.01 up"),
    (("--cpus", "inf"), "--cpus inf: must be a number of CPUs from 0.01 up"),
    (("--cpus", "1e309"), "--cpus 1e309: must be a number of CPUs from 0.01 up"),
    (("--cpus", "0.001"), "--cpus 0.001: must be a number of CPUs from 0.01 up"),
    (("--pids-limit", "nan"), "pycr VERB: argument --pids-limit: invalid int value: 'nan' (see 'pycr VERB --help')"),
    (("--pids-limit", "99999999999999999999999"), "--pids-limit 99999999999999999999999: at most 4194304"),
    (("--ulimit", "nofile=99999999999999999999999"),
     "--ulimit nofile=99999999999999999999999: 99999999999999999999999 is more than 18446744073709551615"),
    (("--tmpfs", "/x:size=abc"), "--tmpfs /x:size=abc: size='abc' is not a size"),
    (("--tmpfs", "/x:mode=999"), "--tmpfs /x:mode=999: mode='999' is not an octal mode"),
    (("--env-file", "IN/env.bin"), "--env-file IN/env.bin: line 2 is not UTF-8 text"),
    (("--platform", "bogus"), "--platform 'bogus' is not os/arch[/variant]"),
    (("--platform", "linux/"), "--platform 'linux/' is not os/arch[/variant]"),
    (("--security-opt", "seccomp=IN/seccomp-syscalls-string.json"),
     "--security-opt seccomp=IN/seccomp-syscalls-string.json: syscalls: expected a list, got 'x'"),
    (("--security-opt", "seccomp=IN/seccomp-args-number.json"),
     "--security-opt seccomp=IN/seccomp-args-number.json: linux.seccomp.syscalls[0].args: expected a list"),
    (("--security-opt", "seccomp=IN/seccomp-action-number.json"),
     "--security-opt seccomp=IN/seccomp-action-number.json: linux.seccomp.defaultAction: unknown action 5"),
    (("--security-opt", "seccomp=IN/seccomp-flags-string.json"),
     "--security-opt seccomp=IN/seccomp-flags-string.json: linux.seccomp.flags: expected a list of flag names"),
    (("--name", "n" * 300), "--name '" + "n" * 59 + "...' (300 characters): at most 128 characters"),
]


@pytest.mark.parametrize("verb", ["run", "create"])
@pytest.mark.parametrize("opts, line", RUN_CASES, ids=[" ".join(c[0]) for c in RUN_CASES])
def test_run_and_create_option_values(clean, files, verb, opts, line):
    """Each value is refused before anything is made -- by create too, not by a later start."""
    before = _files(clean)
    opts = tuple(o.replace("IN/", f"{files}/") for o in opts)
    r = clean(verb, *(("--rm",) if verb == "run" else ()), *opts, clean.image, "true")
    assert_one_clean_line(r, line.replace("IN/", f"{files}/").replace("VERB", verb))
    assert _files(clean) == before


@pytest.mark.parametrize("args, line", [
    (("network", "bogus"), "pycr network: argument action: invalid choice: 'bogus'"),
    (("ps", "-n", "x"), "pycr ps: unrecognized arguments: -n x (see 'pycr ps --help')"),
    (("save", "busybox"), "pycr save: the following arguments are required: -o/--output (see 'pycr save --help')"),
    (("kill", "-s", "99999", "nosuch"), "unknown signal '99999' (signal numbers go up to 64)"),
    (("stop", "-t", "x", "nosuch"), "pycr stop: argument -t/--time: invalid float value: 'x'"),
])
def test_usage_errors_are_one_line(clean, args, line):
    r = clean(*args)
    assert_one_clean_line(r, line)
    assert "usage:" not in r.stderr


@pytest.mark.parametrize("name, line", [
    ("notar.tar", "cannot read: not a tar archive (plain, gzip, bzip2 or xz)"),
    ("notar.tgz", "cannot read: not a tar archive (plain, gzip, bzip2 or xz)"),
    ("missing.tar", "cannot read: No such file or directory"),
    ("manifest-object.tar", "manifest.json: expected a list of images, got dict"),
    ("manifest-types.tar", "manifest.json[0].Config: expected a file name, got 5"),
    ("manifest-layers.tar", "manifest.json[0].Layers: expected a list of strings, got [1, 2]"),
])
def test_load_of_what_is_not_an_image_archive(clean, files, name, line):
    before = _files(clean)
    for args in (("load", "-i", str(files / name)), ("pull", f"docker-archive:{files / name}")):
        if args[0] == "pull" and name == "missing.tar":
            continue
        r = clean(*args)
        assert_one_clean_line(r, line)
        assert _files(clean) == before


@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_save_never_replaces_what_is_not_a_file(clean, tmp_path, kind, fmt):
    """``save -o /dev/full`` renamed its archive over the device node; now nothing there is touched."""
    target = tmp_path / "out"
    if kind == "device":
        os.mknod(target, 0o666 | 0o020000, os.makedev(1, 7))  # a /dev/full of our own
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    before = os.lstat(target)
    r = clean("save", "--format", fmt, "-o", str(target), clean.image)
    assert_one_clean_line(r, f"{fmt}:{target}: exists and is not a regular file")
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no .partial


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_save_that_runs_out_of_room_leaves_nothing(clean, tmp_path, fmt):
    """A write that fails half-way (here RLIMIT_FSIZE, as a full disk would) leaves no archive,
    no .partial and nothing in the store's tmp."""
    before = _files(clean)
    limit = ("import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
             "resource.setrlimit(resource.RLIMIT_FSIZE, (600000, 600000)); os.execv(sys.argv[1], sys.argv[1:])")
    r = subprocess.run([sys.executable, "-c", limit, PYCR, "--root", clean.root, "save", "--format", fmt, "-o",
                        str(tmp_path / "big.tar"), clean.image],
                       capture_output=True, text=True, env=clean.env, timeout=120)
    assert_one_clean_line(r, "File too large")
    assert os.listdir(tmp_path) == []
    assert _files(clean) == before


@pytest.mark.parametrize("content, line", [
    (b"not a tar at all\n", "not a tar archive (truncated header)"),
    (gzip.compress(b"not a tar at all\n"), "not a tar archive (truncated header)"),
    (b"", "not a tar archive (empty file)"),
])
def test_import_of_what_is_not_a_tar(clean, tmp_path, content, line):
    (tmp_path / "rootfs.tar").write_bytes(content)
    before = _files(clean)
    r = clean("import", str(tmp_path / "rootfs.tar"), "sweep2:imported")
    assert_one_clean_line(r, f"import {tmp_path / 'rootfs.tar'}: {line}")
    assert _files(clean) == before


@pytest.mark.parametrize("env", ["", "=x"])
def test_exec_env_without_a_name(clean, env):
    cid = clean.run_d(clean.image, "sleep", "1000")
    r = clean("exec", "-e", env, cid, "true")
    assert_one_clean_line(r, f"{env!r} has no variable name (KEY=VALUE)")
    assert clean.state(cid) == "running"


def _context(tmp_path, dockerfile: str | None = None) -> str:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    if dockerfile is not None:
        (ctx / "Dockerfile").write_text(dockerfile)
    return str(ctx)


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_build_refuses_a_dockerfile_that_is_not_a_file(clean, tmp_path, kind):
    """A FIFO would block the build forever (it did); a device would never end."""
    ctx = _context(tmp_path)
    path = os.path.join(ctx, "Dockerfile")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        os.mkdir(path)
    else:
        path = "/dev/zero"
    before = _files(clean)
    r = clean("build", "-q", "-f", path, ctx, timeout=60)
    assert_one_clean_line(r, f"build: the Dockerfile {path} is not a regular file")
    assert _files(clean) == before


@pytest.mark.parametrize("dockerfile, extra, line", [
    ("FROM IMAGE\nADD http://127.0.0.1:1/x /x\n", (), "Dockerfile:2: ADD: cannot fetch http://127.0.0.1:1/x: "
                                                      "Connection refused"),
    ("FROM IMAGE\n", ("--platform", "bogus"), "--platform 'bogus' is not os/arch[/variant]"),
    ("FROM --platform=bogus IMAGE\n", (), "Dockerfile:1: FROM "),
    ("FROM IMAGE\nUSER nosuch\nRUN true\n", (), "Dockerfile:3: RUN: USER nosuch: no user 'nosuch'"),
    ("FROM IMAGE\nENV \"a=b\n", (), "Dockerfile:2: ENV: unterminated quote in '\"a=b'"),
    ("FROM IMAGE\nCOPY \"a /b\n", (), "Dockerfile:2: COPY: unterminated quote in '\"a /b'"),
    ("FROM \"IMAGE\n", (), "Dockerfile:1: FROM: unterminated quote in"),
    ("FROM IMAGE AS a\nCOPY --from=a /x /y\n", (), "Dockerfile:2: COPY: circular dependency between stages: a -> a "
                                                 "(each needs the next)"),
    ("FROM IMAGE AS a\nCOPY --from=b /x /y\nFROM IMAGE AS b\nCOPY --from=a /x /y\n", (),
     "Dockerfile:4: COPY: circular dependency between stages: a -> b -> a (each needs the next)"),
    ("FROM IMAGE AS a\nCOPY --from=b /no/such /y\nFROM IMAGE AS b\nFROM a\n", (),
     "Dockerfile:2: COPY: /no/such not found in stage b"),  # b (below) is built first, then a copies from it
    ("FROM IMAGE\nCOPY --from=3 /x /y\n", (), "Dockerfile:2: COPY: '3': there is no stage 3 (stages count from 0; "
                                             "Dockerfile has 1)"),
    ("FROM IMAGE\nEXPOSE 99999\n", (), "Dockerfile:2: EXPOSE: invalid port '99999'"),
    ("FROM IMAGE AS 0\n", (), "Dockerfile:1: FROM: stage name '0': a letter, then letters, digits"),
    ("FROM IMAGE\nSTOPSIGNAL SIGBOGUS\n", (), "Dockerfile:2: STOPSIGNAL: unknown signal 'SIGBOGUS'"),
])
def test_build_errors_are_one_line(clean, tmp_path, dockerfile, extra, line):
    """-q prints no progress, so the failing step's "#N ERROR" is not said twice."""
    ctx = _context(tmp_path, dockerfile.replace("IMAGE", clean.image))
    before = _files(clean)
    r = clean("build", "-q", *extra, ctx, timeout=300)
    assert_one_clean_line(r, line)
    assert _files(clean) == before


@pytest.mark.parametrize("subnet, why", [
    ("127.0.0.0/8", "loopback (127.0.0.0/8)"), ("224.0.0.0/24", "multicast (224.0.0.0/4)"),
    ("169.254.0.0/16", "link-local (169.254.0.0/16)"), ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
    ("255.255.255.0/30", "reserved (240.0.0.0/4)"),
])
def test_network_create_refuses_special_ranges(clean, subnet, why):
    clean.prefix = ["unshare", "--net"]  # in a network namespace of its own: the host's links stay untouched
    try:
        before = _files(clean)
        r = clean("network", "create", "--subnet", subnet, "sweep2")
        assert_one_clean_line(r, f"--subnet {subnet}: overlaps the {why} range")
        assert _files(clean) == before
    finally:
        clean.prefix = []


def test_network_create_takes_one_subnet(clean):
    """docker's second --subnet is an IPv6 one; a pycr network has one IPv4 subnet: refused, not
    the last one silently kept."""
    clean.prefix = ["unshare", "--net"]
    try:
        before = _files(clean)
        r = clean("network", "create", "--subnet", "10.71.0.0/24", "--subnet", "10.72.0.0/24", "sweep2")
        assert_one_clean_line(r, "--subnet given 2 times (10.71.0.0/24, 10.72.0.0/24): a pycr network has one "
                                 "IPv4 subnet")
        assert _files(clean) == before
    finally:
        clean.prefix = []


# -- the Engine API -----------------------------------------------------------------------------

def _api_error(api, method, path, body=None) -> tuple[int, str]:
    status, msg = error_of(api, method, path, json.dumps(body).encode() if not isinstance(body, bytes) else body)
    assert not PYTHON_LEAK.search(msg) and "internal error" not in msg, msg
    return status, msg


def _create_cases(img):
    return [
        ({"Image": img, "Tty": "yes"}, "Tty: expected true or false, got 'yes'"),
        ({"Image": img, "HostConfig": []}, "HostConfig: expected an object, got []"),
        ({"Image": img, "Labels": []}, "Labels: expected an object, got []"),
        ({"Image": img, "HostConfig": {"Privileged": "yes"}}, "HostConfig.Privileged: expected true or false"),
        ({"Image": img, "HostConfig": {"AutoRemove": "x"}}, "HostConfig.AutoRemove: expected true or false"),
        ({"Image": img, "HostConfig": {"RestartPolicy": 5}}, "HostConfig.RestartPolicy: expected an object, got 5"),
        ({"Image": img, "HostConfig": {"LogConfig": 5}}, "HostConfig.LogConfig: expected an object, got 5"),
        ({"Image": img, "HostConfig": {"PortBindings": {"80/tcp": 5}}},
         "HostConfig.PortBindings['80/tcp']: expected a list of {HostIp, HostPort}"),
        ({"Image": img, "HostConfig": {"Ulimits": 5}}, "HostConfig.Ulimits: expected a list of {Name, Soft, Hard}"),
        ({"Image": img, "HostConfig": {"Memory": 2**70}}, "HostConfig.Memory: expected an integer from 0 to"),
        ({"Image": img, "HostConfig": {"NanoCpus": 2**70}}, "HostConfig.NanoCpus: expected an integer from 0 to"),
        ({"Image": img, "HostConfig": {"PidsLimit": 2**70}}, "HostConfig.PidsLimit: expected an integer"),
        ({"Image": img, "HostConfig": {"PidsLimit": 2**40}}, "--pids-limit 1099511627776: at most 4194304"),
        ({"Image": img, "HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": 2**70, "Hard": 2**70}]}},
         "HostConfig.Ulimits: expected a list of {Name, Soft, Hard}"),
        ({"Image": img, "HostConfig": {"Tmpfs": {"/x": "size=abc"}}}, "--tmpfs /x:size=abc: size='abc'"),
        ({"Image": img, "StopTimeout": "x"}, "StopTimeout: expected an integer, got 'x'"),
        ({"Image": img, "NetworkingConfig": 5}, "NetworkingConfig: expected an object, got 5"),
        ({"Image": img, "StopSignal": "SIGBOGUS"}, "StopSignal: unknown signal 'SIGBOGUS'"),
        ({"Image": img, "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {"max-buffer-size": "1m"}}}},
         "HostConfig.LogConfig.Config: unknown log option 'max-buffer-size'"),
        ({"Image": img, "HostConfig": {"LogConfig": {"Config": {"max-size": 10}}}},
         "HostConfig.LogConfig.Config.max-size: expected a string, got 10"),
        ({"Image": img, "HostConfig": {"LogConfig": {"Config": 5}}},
         "HostConfig.LogConfig.Config: expected an object, got 5"),
    ]


def test_api_create_with_wrong_types_is_a_400_naming_the_field(api, clean):
    img = api.manage.image
    before = _files(clean)
    for body, needle in _create_cases(img):
        status, msg = _api_error(api, "POST", "/v1.41/containers/create", body)
        assert status == 400 and msg.startswith(needle), (body, status, msg)
    for query, needle in (("name=" + "x" * 300, "--name 'xxxxxxxx"), ("platform=bogus", "--platform 'bogus'")):
        status, msg = _api_error(api, "POST", f"/v1.41/containers/create?{query}", {"Image": img, "Cmd": ["true"]})
        assert status == 400 and msg.startswith(needle), (query, status, msg)
    assert _files(clean) == before


def test_api_bodies_that_are_not_tars_or_filters(api, clean):
    before = _files(clean)
    for path, body, needle in (
            ("/v1.41/images/load", b"not a tar", "load: the request body: cannot read: not a tar archive"),
            ("/v1.41/images/load", b"", "load: the request body: cannot read: not a tar archive"),
            ("/v1.41/build?t=sweep2", b"not a tar", "the build context is not a usable tar archive: "),
            ("/v1.41/build?t=sweep2", b"\x1f\x8b\x08garbage", "the build context is not a usable tar archive: "),
    ):
        status, ctype, raw = call(api, "POST", path, body, {"Content-Type": "application/x-tar"})
        msg = json.loads(raw)["message"]
        assert status == 400 and msg.startswith(needle) and "\n" not in msg, (path, status, msg)
        assert not PYTHON_LEAK.search(msg), msg
    for path, needle in (("/v1.41/images/json?filters=%7B%22reference%22%3A5%7D", "query parameter filters: "
                                                                                   "'reference': expected a list"),
                         ("/v1.41/images/create?fromImage=busybox&platform=bogus", "platform 'bogus' is not"),
                         ("/v1.41/images/json?filters=%7B%22dangling%22%3A%5B%22maybe%22%5D%7D",
                          "filters: dangling=maybe: expected true or false"),
                         ("/v1.41/containers/json?filters=%7B%22status%22%3A%5B%22bogus%22%5D%7D",
                          "filters: invalid status 'bogus'"),
                         ("/v1.41/containers/nosuch/resize?h=-1&w=80", "h, w: -1x80 is not a terminal size")):
        status, msg = _api_error(api, "GET" if "/json" in path else "POST", path, b"")
        assert status == 400 and msg.startswith(needle), (path, status, msg)
    tagged = json.loads(call(api, "GET", "/v1.41/images/json?filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D")[2])
    assert any(clean.image in r["RepoTags"] for r in tagged)  # the filter is applied, not only checked
    assert json.loads(call(api, "GET", "/v1.41/images/json?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D")[2]) \
        == [r for r in json.loads(call(api, "GET", "/v1.41/images/json")[2]) if not r["RepoTags"]]
    status, msg = _api_error(api, "POST", "/v1.41/networks/create", {"Name": "sweep2", "Attachable": "x"})
    assert (status, msg) == (400, "Attachable: expected true or false, got 'x'")
    assert _files(clean) == before


def test_api_exec_and_kill_with_wrong_values(api, clean):
    cid = clean.run_d(clean.image, "sleep", "1000")
    for body, needle in (({"Cmd": ["true"], "Tty": "x"}, "Tty: expected true or false, got 'x'"),
                         ({"Cmd": ["true"], "Privileged": "x"}, "Privileged: expected true or false")):
        status, msg = _api_error(api, "POST", f"/v1.41/containers/{cid}/exec", body)
        assert status == 400 and msg.startswith(needle), (body, status, msg)
    status, raw = call(api, "POST", f"/v1.41/containers/{cid}/exec", json.dumps({"Cmd": ["true"]}).encode(),
                       {"Content-Type": "application/json"})[::2]
    eid = json.loads(raw)["Id"]
    for body in (b"null", b"[]", json.dumps({"Detach": "x"}).encode()):
        status, msg = _api_error(api, "POST", f"/v1.41/exec/{eid}/start", body)
        assert status == 400, (body, status, msg)
    # the refused starts left the exec as it was: it can still be started
    info = json.loads(call(api, "GET", f"/v1.41/exec/{eid}/json")[2])
    assert info["Running"] is False and info["ExitCode"] is None, info
    for sig, needle in (("BOGUS", "unknown signal 'BOGUS'"), ("99999", "unknown signal '99999'")):
        status, msg = _api_error(api, "POST", f"/v1.41/containers/{cid}/kill?signal={sig}")
        assert status == 400 and msg.startswith(needle), (sig, status, msg)
    status, msg = _api_error(api, "GET", f"/v1.41/containers/{cid}/top?ps_args=--bogus")
    assert status == 400 and msg.startswith("ps --bogus: "), msg
    assert clean.state(cid) == "running"
