"""The two third-party plugins in examples/ install with pip and work together
with a real pycr: each package's own tests pass, and a container pulled with
the tarball source and run with the audit log shows up in the log.

They are installed with ``pip install --target`` into a temporary directory
that only these tests put on PYTHONPATH: a real wheel build and dist-info
(entry points included), while pycr's venv -- which other tests and other
engineers use at the same time -- never sees them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import new_id

pytestmark = pytest.mark.root

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
EXAMPLES = ("pycr-audit-log", "pycr-tarball-source")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    src = tmp_path_factory.mktemp("examples-src")
    target = tmp_path_factory.mktemp("examples-site")
    for name in EXAMPLES:   # build from a copy: no build/ or egg-info in the work tree
        shutil.copytree(os.path.join(REPO, "examples", name), src / name,
                        ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    *(str(src / n) for n in EXAMPLES)], check=True, capture_output=True, timeout=600)
    return str(target)


def _env(site, tmp_path, **extra):
    return {**os.environ, "PYTHONPATH": site, "PYCR_CACHE_DIR": str(tmp_path / "cache"),
            "PYCR_STORAGE": str(tmp_path / "storage"), "PYCR_ROOT": str(tmp_path / "run"),
            "PYCR_AUDIT_LOG": str(tmp_path / "audit.jsonl"), **extra}


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_own_tests_pass(site, name, tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                          cwd=os.path.join(REPO, "examples", name), env=_env(site, tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "skipped" not in done.stdout


def test_pycr_plugins_lists_both(site, tmp_path):
    rows = json.loads(subprocess.run([os.path.join(BIN, "pycr"), "plugins", "--format", "json"],
                                     env=_env(site, tmp_path), capture_output=True, text=True, check=True).stdout)
    mine = {(r["name"], r["kind"], r["origin"], r["distribution"], r["version"]) for r in rows
            if r["distribution"] != "pycr"}
    assert mine == {("audit_log", "hooks", "third-party", "pycr-audit-log", "0.1.0"),
                    ("tarball+http", "image_source driver", "third-party", "pycr-tarball-source", "0.1.0"),
                    ("tarball+https", "image_source driver", "third-party", "pycr-tarball-source", "0.1.0")}
    # without the directory on the path, pycr sees only its own plugins again
    env = _env(site, tmp_path)
    del env["PYTHONPATH"]
    default = json.loads(subprocess.run([os.path.join(BIN, "pycr"), "plugins", "--format", "json"], env=env,
                                        capture_output=True, text=True, check=True).stdout)
    assert {r["distribution"] for r in default} == {"pycr"}


def test_oci_run_is_audited(site, tmp_path):
    from pycr.core.testing import make_bundle

    bundle = make_bundle(str(tmp_path / "bundle"), ["sh", "-c", "echo audited"])
    env = _env(site, tmp_path)
    cid = new_id("audited")
    done = subprocess.run([os.path.join(BIN, "pycr-oci"), "run", "--bundle", bundle, cid],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "audited\n", done.stderr
    with open(env["PYCR_AUDIT_LOG"]) as f:
        entries = [json.loads(line) for line in f]
    assert [(e["event"], e["id"]) for e in entries] == [(ev, cid)
                                                        for ev in ("created", "started", "stopped", "deleted")]
    assert entries[2]["exit_status"] == 0


def test_p_no_turns_the_audit_off(site, tmp_path):
    from pycr.core.testing import make_bundle

    bundle = make_bundle(str(tmp_path / "bundle"), ["true"])
    env = _env(site, tmp_path)
    done = subprocess.run([os.path.join(BIN, "pycr-oci"), "-p", "no:audit_log", "run", "--bundle", bundle,
                           new_id("unaudited")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not os.path.exists(env["PYCR_AUDIT_LOG"])


def test_tarball_image_runs_with_the_audit_log(site, tmp_path):
    """Both plugins in one command: pull a tarball over HTTP, run it with pycr run, see it audited."""
    import functools
    import gzip
    import http.server
    import io
    import tarfile
    import threading

    from pycr.core.testing.bundle import find_busybox

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(find_busybox(), "bin/busybox")
        for applet in ("sh", "cat"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tf.addfile(link)
        data = b"from the tarball\n"
        info = tarfile.TarInfo("etc/motd")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    www = tmp_path / "www"
    www.mkdir()
    (www / "mini.tar.gz").write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    env = _env(site, tmp_path)
    try:
        url = f"tarball+http://127.0.0.1:{httpd.server_address[1]}/mini.tar.gz"
        pulled = subprocess.run([os.path.join(BIN, "pycr"), "pull", "-q", url], env=env, capture_output=True,
                                text=True, timeout=120)
        assert pulled.returncode == 0, pulled.stderr
    finally:
        httpd.shutdown()
        httpd.server_close()
    done = subprocess.run([os.path.join(BIN, "pycr"), "run", "--name", new_id("tarball"), "localhost/mini:latest",
                           "cat", "/etc/motd"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "from the tarball\n", done.stderr
    with open(env["PYCR_AUDIT_LOG"]) as f:
        events = [json.loads(line)["event"] for line in f]
    assert events == ["created", "started", "stopped", "deleted"]
