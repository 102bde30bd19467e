"""``--log-opt`` parsing, and the reader of rotated logs against the monitor's own rotation
(``monitor.Log``, the code ``pycr:[monitor]`` runs) on real files."""

from __future__ import annotations

import json
import os

import pytest

from pycr.core import ConfigError
from pycr.plugins.manage import logfiles
from pycr.plugins.manage.monitor import Log


@pytest.mark.parametrize("pairs,want", [
    ([], (0, 1)),
    (["max-size=10m"], (10_000_000, 1)),
    (["max-size=10k", "max-file=3"], (10_000, 3)),
    (["max-size=1.5g"], (1_500_000_000, 1)),
    (["max-size=2kb", "max-file=1"], (2_000, 1)),
    (["max-size=1m", "max-size=3m"], (3_000_000, 1)),  # the last one wins, as docker's map does
])
def test_limits(pairs, want):
    assert logfiles.limits(logfiles.parse(pairs)) == want


@pytest.mark.parametrize("pairs,text", [
    (["max-file=2"], "--log-opt max-file=2: needs max-size"),
    (["mode=non-blocking"], "--log-opt: unknown log option 'mode'"),
    (["max-size=-1"], "--log-opt max-size: invalid size '-1'"),
    (["max-size=0k"], "--log-opt max-size='0k': must be a positive size"),
    (["max-size=1m", "max-file=1.5"], "--log-opt max-file='1.5': must be a number from 1 up"),
    (["=1"], "--log-opt '=1': expected KEY=VALUE"),
    (["max-size=0\n"], "--log-opt max-size='0\\n': must be a positive size"),
    (["max-size=1m", "max-file=1\n2"], "--log-opt max-file='1\\n2': must be a number from 1 up"),
    (["a\nb=1"], "--log-opt: unknown log option 'a\\nb'"),
    (["x" * 500 + "=1"], "--log-opt: unknown log option '" + "x" * 59 + "...' (500 characters)"),
    (["y" * 500], "--log-opt '" + "y" * 59 + "...' (500 characters): expected KEY=VALUE"),
])
def test_bad_options_are_named(pairs, text):
    with pytest.raises(ConfigError) as e:
        logfiles.parse(pairs)
    assert str(e.value).startswith(text) and "\n" not in str(e.value)


def test_conmon_takes_no_rotated_files():
    logfiles.check_conmon({"max-size": "1m", "max-file": "1"})
    with pytest.raises(ConfigError, match="conmon keeps no rotated files"):
        logfiles.check_conmon({"max-size": "1m", "max-file": "2"})


def _entry(i: int) -> str:
    return json.dumps({"log": f"{i}\n", "stream": "stdout", "time": "2026-01-01T00:00:00Z"}) + "\n"


def _numbers(entries) -> list[int]:
    return [int(e["log"]) for e in entries]


def _files(d) -> list[str]:
    return sorted(os.listdir(d))


def test_rotation_keeps_max_file_files_and_a_fresh_reader_reads_them_oldest_first(tmp_path):
    log = Log(str(tmp_path), 300, 3)
    for i in range(200):
        log.write(_entry(i))
        assert len(_files(tmp_path)) <= 3
    assert _files(tmp_path) == ["json.log", "json.log.1", "json.log.2"]
    for name in ("json.log.1", "json.log.2"):
        assert 300 <= os.path.getsize(tmp_path / name) < 300 + len(_entry(199))
    got = _numbers(logfiles.Reader(str(tmp_path / "json.log")).read())
    assert got == list(range(got[0], 200)) and got[0] > 100


def test_a_follower_goes_on_across_rotations_and_drops(tmp_path):
    path = str(tmp_path / "json.log")
    log = Log(str(tmp_path), 200, 50)  # enough files: nothing is dropped between two reads
    reader = logfiles.Reader(path)
    got = []
    for i in range(400):
        log.write(_entry(i))
        if i % 7 == 0:  # several rotations between some reads
            got += _numbers(reader.read())
    got += _numbers(reader.read())
    assert got == list(range(400))
    reader.close()

    small = tmp_path / "small"
    small.mkdir()
    log = Log(str(small), 200, 2)
    reader = logfiles.Reader(str(small / "json.log"))
    for i in range(100):  # many rotations, most files dropped before the reader looks again
        log.write(_entry(i))
    got = _numbers(reader.read())
    assert got == sorted(set(got)) and got[0] == 0 and got[-1] == 99  # in order, each once, up to the last
    log.write(_entry(100))
    assert _numbers(reader.read()) == [100]


def test_max_file_1_drops_the_full_file_and_from_end_reads_only_what_comes(tmp_path):
    log = Log(str(tmp_path), 200, 1)
    for i in range(20):
        log.write(_entry(i))
    assert _files(tmp_path) == ["json.log"]
    tail = logfiles.Reader(str(tmp_path / "json.log"), from_end=True)
    assert tail.read() == []
    got = []
    for i in range(20, 40):  # a reader that keeps up loses nothing: it finishes the dropped file first
        log.write(_entry(i))
        got += _numbers(tail.read())
    assert got == list(range(20, 40))
    got = _numbers(logfiles.Reader(str(tmp_path / "json.log")).read())
    assert got == list(range(got[0], 40))


def test_a_restarted_monitor_counts_what_the_log_holds(tmp_path):
    log = Log(str(tmp_path), 1000, 2)
    for i in range(5):
        log.write(_entry(i))
    log.f.close()
    log = Log(str(tmp_path), 1000, 2)  # the next start's monitor
    for i in range(5, 30):
        log.write(_entry(i))
    assert 1000 <= os.path.getsize(tmp_path / "json.log.1") < 1000 + len(_entry(29))
