"""Container records without root: names, resolution, derived status, the log line format."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading

import pytest

from pycr.plugins.manage import records
from pycr.core.errors import PycrError
from pycr.plugins.images.store import Store


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "store"))


def test_new_record_ids_names_and_resolution(store):
    a = records.new_record(store, "web", {"image": "x"})
    b = records.new_record(store, None, {"image": "x"})
    assert len(a.id) == 64 and int(a.id, 16) >= 0 and a.name == "web"
    assert b.name and b.name != "web"
    assert records.resolve(store.root, "web").id == a.id
    assert records.resolve(store.root, a.id).id == a.id
    assert records.resolve(store.root, a.id[:10]).id == a.id
    with pytest.raises(PycrError, match="no such container: nope"):
        records.resolve(store.root, "nope")
    with pytest.raises(PycrError, match="already in use by container " + a.id[:12]):
        records.new_record(store, "web", {})
    with pytest.raises(PycrError, match="--name"):
        records.new_record(store, "../etc", {})


def test_ambiguous_prefix(store):
    made = [records.new_record(store, None, {}) for _ in range(20)]  # 20 ids, 16 first digits
    firsts = [r.id[0] for r in made]
    dup = next(c for c in firsts if firsts.count(c) > 1)
    with pytest.raises(PycrError, match="ambiguous"):
        records.resolve(store.root, dup)


def test_name_taken_once_under_concurrency(store):
    wins, errors = [], []

    def take():
        try:
            wins.append(records.new_record(Store(store.root), "same", {}))
        except PycrError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=take) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(errors) == 9
    assert len(os.listdir(os.path.join(store.root, "containers"))) == 1


def test_status_is_derived_from_proc(store):
    rec = records.new_record(store, None, {})
    assert records.live_status(rec)["status"] == "creating"  # our own pid is the creator, alive
    rec.update_state(creator_pid=2 ** 22 + 1, creator_start=1)  # a pid that cannot exist
    assert records.live_status(rec)["status"] == "dead"
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        start = records.proc_start(sleeper.pid)
        rec.update_state(status="running", pid=sleeper.pid, pid_start=start, monitor_pid=os.getpid(),
                         monitor_start=records.proc_start(os.getpid()))
        st = records.live_status(rec)
        assert st["status"] == "running" and st["monitor"] and not st["error"]
        rec.update_state(monitor_pid=2 ** 22 + 1)
        st = records.live_status(rec)
        assert st["status"] == "running" and "monitor died" in st["error"]
        rec.update_state(pid_start=start + 1)  # same pid, another process: not ours
        assert records.live_status(rec)["status"] == "exited"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_monitor_log_lines_like_json_file(tmp_path):
    sys.path.insert(0, os.path.dirname(records.__file__))
    try:
        import monitor  # the script, imported as a module for its Stream class
    finally:
        sys.path.pop(0)
    log = monitor.Log(str(tmp_path), 0, 1)
    s = monitor.Stream(-1, "stderr", log)
    s.feed(b"one\ntw")
    s.feed("o \u00fc \"q\"\n".encode() + b"x" * (monitor.MAX_LINE + 5))
    s.emit(s.buf)
    log.close()
    out = io.StringIO((tmp_path / "json.log").read_text())
    entries = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["log"] for e in entries] == ["one\n", "two \u00fc \"q\"\n", "x" * monitor.MAX_LINE, "xxxxx"]
    assert {e["stream"] for e in entries} == {"stderr"}
    assert all(e["time"].endswith("Z") and len(e["time"]) == 30 for e in entries)
    assert [records.log_entry(line.encode(), "json-file") for line in out.getvalue().splitlines()] == entries


def test_log_entry_reads_conmon_k8s_file_lines():
    t = "2026-11-30T16:30:15.158481582+00:00"
    assert records.log_entry(f"{t} stdout F out\n".encode(), "k8s-file") == {"log": "out\n", "stream": "stdout",
                                                                             "time": t}
    # a partial piece has no newline of its own; an empty full line is a bare newline
    assert records.log_entry(f"{t} stderr P no newline".encode(), "k8s-file")["log"] == "no newline"
    assert records.log_entry(f"{t} stdout F".encode(), "k8s-file")["log"] == "\n"
    assert records.log_entry(f"{t} stdout F  two  spaces ".encode(), "k8s-file")["log"] == " two  spaces \n"
    assert records.log_entry("{t} stdout F \u00fc".encode(), "k8s-file")["log"] == "\u00fc\n"
    for bad in (b"", b"garbage", f"{t} stdin F x".encode(), f"{t} stdout X x".encode()):
        assert records.log_entry(bad, "k8s-file") is None
    assert records.log_entry(b"not json", "json-file") is None and records.log_entry(b"[1]", "json-file") is None


def test_log_path_follows_the_recorded_format(tmp_path):
    rec = records.Record(str(tmp_path), {"id": "x" * 64, "name": "n"})
    assert rec.log_format == "json-file" and rec.log_path == str(tmp_path / "json.log")  # records made before
    rec.data["log_format"] = "k8s-file"
    assert rec.log_path == str(tmp_path / "ctr.log")


def test_alive_needs_the_recorded_start_time():
    """A pid recorded without its start time never counts as alive: a gone pid's start is
    None too, so ``None == None`` made start and rm wait forever on a dead monitor."""
    me = os.getpid()
    assert records.alive(me, records.proc_start(me))
    assert not records.alive(me, None)
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert records.proc_start(gone.pid) is None
    assert not records.alive(gone.pid, None)
    assert not records.alive(None, None)


def test_parse_time_reads_conmons_offset_stamps_as_docker_reads_z():
    """The API's logs ``since`` compares each entry's time: a conmon (k8s-file) entry's
    ``+00:00`` stamp read as None dropped every entry of a conmon container."""
    from pycr.plugins.manage.manage import parse_time

    z = parse_time("2026-11-30T18:01:20.349798992Z")
    assert z is not None and abs(z - 1796061680.349799) < 1e-6
    assert parse_time("2026-11-30T18:01:20.349798992+00:00") == z
    assert parse_time("2026-11-30T19:01:20.349798992+01:00") == z
    assert parse_time("2026-11-30T17:31:20.349798992-00:30") == z
    for bad in ("garbage", "2026-11-30T18:01:20.1+ab:cd", "", None):
        assert parse_time(bad) is None
