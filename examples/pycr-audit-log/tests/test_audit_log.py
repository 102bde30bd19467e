from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

import pycr_audit_log
from pycr.core import PycrError

OCI = os.path.join(os.path.dirname(sys.executable), "pycr-oci")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root and the real kernel")


def lines():
    with open(os.environ["PYCR_AUDIT_LOG"]) as f:
        return [json.loads(line) for line in f]


def test_loaded_as_a_hook_plugin():
    from pycr.core.testing import PluginManager

    pm = PluginManager()
    info = {p["name"]: p for p in pm.plugin_info}
    assert info["audit_log"]["dist"] == "pycr-audit-log" and info["audit_log"]["kind"] == "third-party"
    pm.hook.pycr_container_started(state={"id": "x", "status": "running", "pid": 7, "bundle": "/b"})
    (entry,) = lines()
    assert entry["event"] == "started" and entry["id"] == "x" and entry["pid"] == 7
    assert entry["runtime_pid"] == os.getpid() and entry["time"].endswith("Z")


def test_disabled_with_p_no():
    from pycr.core.testing import PluginManager

    pm = PluginManager(disabled=["audit_log"])
    pm.hook.pycr_container_started(state={"id": "x"})
    assert not os.path.exists(os.environ["PYCR_AUDIT_LOG"])


def test_concurrent_writers_never_interleave():
    code = ("import pycr_audit_log as a\n"
            "for i in range(200): a.record('started', {'id': 'c' * 3000 + str(i)})\n")
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(4)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    entries = lines()
    assert len(entries) == 800 and all(len(e["id"]) >= 3001 for e in entries)


def test_unwritable_log_warns_or_fails_closed(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("PYCR_AUDIT_LOG", str(blocker / "audit.jsonl"))  # a file where a directory should be
    pycr_audit_log.pycr_container_created(state={"id": "x"})
    assert capsys.readouterr().err.startswith("warning: audit_log: cannot append to ")
    monkeypatch.setenv("PYCR_AUDIT_STRICT", "1")
    with pytest.raises(PycrError, match="audit_log: cannot append"):
        pycr_audit_log.pycr_container_created(state={"id": "x"})


@pytest.mark.root
@needs_root
def test_real_container_lifecycle(tmp_path):
    from pycr.core.testing import make_bundle

    bundle = make_bundle(str(tmp_path / "bundle"), ["sh", "-c", "exit 7"])
    cid = f"audit-{uuid.uuid4().hex[:8]}"
    done = subprocess.run([OCI, "--root", str(tmp_path / "state"), "run", "--bundle", bundle, cid],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 7, done.stderr
    entries = lines()
    assert [e["event"] for e in entries] == ["created", "started", "stopped", "deleted"]
    assert {e["id"] for e in entries} == {cid} and {e["bundle"] for e in entries} == {bundle}
    assert entries[2]["exit_status"] == 7
    assert entries[0]["pid"] != entries[0]["runtime_pid"]  # the hook ran in the runtime, not the init
