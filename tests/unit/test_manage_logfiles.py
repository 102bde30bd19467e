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


@pytest.mark.parametrize("pairs,text", [
    (["compress=yes", "max-size=1m", "max-file=2"], "--log-opt compress='yes': expected true or false"),
    (["compress=true"], "--log-opt compress=true: needs max-size and max-file of 2 or more"),
    (["compress=1", "max-size=1m"], "--log-opt compress=1: needs max-size and max-file of 2 or more"),
    (["labels-regex=("], "--log-opt labels-regex='(': not a regular expression (missing ),"),
    (["env-regex=[\n"], "--log-opt env-regex='[\\n': not a regular expression"),
    (["tag={{.Nope}}"], "--log-opt tag='{{.Nope}}': '{{.Nope}}' is not one of {{.ID}}, {{.FullID}}, {{.Name}}"),
    (["tag={{.Name"], "--log-opt tag='{{.Name': a '{{' is not closed by '}}'"),
    (["tag={{upper .Name}}"], "--log-opt tag='{{upper .Name}}': '{{upper .Name}}' is not one of"),
    (["mode=non-blocking"], "--log-opt: unknown log option 'mode' (pycr's json-file log takes max-size, max-file, "
                            "compress, labels, labels-regex, env, env-regex, tag)"),
])
def test_bad_new_options_are_one_line(pairs, text):
    with pytest.raises(ConfigError) as e:
        logfiles.parse(pairs)
    assert str(e.value).startswith(text) and "\n" not in str(e.value), str(e.value)


def test_compress_reads_as_go_parse_bool():
    for text, want in (("true", True), ("1", True), ("T", True), ("FALSE", False), ("0", False), ("f", False)):
        config = logfiles.parse([f"compress={text}", "max-size=1k", "max-file=2"])
        assert logfiles.compressed(config) is want
    assert logfiles.compressed(logfiles.parse(["compress=false"])) is False  # false needs no rotation


INFO = {"ID": "0123456789ab", "FullID": "0123456789ab" + "c" * 52, "Name": "web", "ImageID": "sha256:49ef8",
        "ImageFullID": "sha256:49ef80", "ImageName": "busybox:latest", "DaemonName": "pycr"}


def test_attrs_as_docker_picks_them():
    labels = {"a": "1", "b": "x\ny\"z", "com.x": "7"}
    env = ["FOO=bar", "BAZ=q=r", "PATH=/bin", "BARE"]
    assert logfiles.attrs({"labels": "a,b,nope", "env": "FOO,BAZ"}, labels, env, INFO) == {
        "a": "1", "b": "x\ny\"z", "FOO": "bar", "BAZ": "q=r"}
    # a regex matches anywhere in the key (Go's MatchString), not only at its start
    assert logfiles.attrs({"labels-regex": "^com", "env-regex": "A"}, labels, env, INFO) == {
        "com.x": "7", "BAZ": "q=r", "PATH": "/bin"}
    assert logfiles.attrs({"labels": "a", "env": "a"}, labels, env, INFO) == {"a": "1"}
    assert logfiles.attrs({"labels": "a", "env": "A"}, labels, ["A=from env", "a=env"], INFO) == {"a": "1",
                                                                                                    "A": "from env"}
    assert logfiles.attrs({"labels": "k", "env": "k"}, {"k": "label"}, ["k=env"], INFO) == {"k": "env"}  # env wins
    assert logfiles.attrs({"tag": "{{.Name}}/{{ .ID }}|{{.ImageID}}"}, {}, [], INFO) == {
        "tag": "web/0123456789ab|sha256:49ef8"}
    assert logfiles.attrs({"tag": "", "env": ""}, labels, env, INFO) == {}


def test_attrs_fragment_is_one_ascii_line_in_docker_shape():
    hostile = {"b": "x\ny\"z\r\x00\x1b[31m\u2028é</script>&", "a": "1", "big": "v" * 1_000_000}
    frag = logfiles.attrs_fragment(hostile)
    line = '{"log":"hi\\n","stream":"stdout",%s"time":"2026-12-01T06:04:01.596377925Z"}' % frag
    assert line.isascii() and "\n" not in line and "\r" not in line and "<" not in line and "&" not in line
    entry = json.loads(line)
    assert entry["attrs"] == hostile and list(entry) == ["log", "stream", "attrs", "time"]
    assert frag.startswith('"attrs":{"a":"1","b":"x\\ny\\"z\\r\\u0000\\u001b[31m\\u2028\\u00e9\\u003c/script\\u003e')


def test_details_as_docker_prints_them():
    # docker logs --details, from the real dockerd: sorted keys, URL-query escaping, a lone space without attrs
    entry = {"log": "hi\n", "attrs": {"b": "x\ny\"z", "FOO": "bar", "BAZ": "q=r", "a": "1"}}
    assert logfiles.details(entry) == "BAZ=q%3Dr,FOO=bar,a=1,b=x%0Ay%22z "
    assert logfiles.details({"attrs": {"tag": "n a/m"}}) == "tag=n+a%2Fm "
    assert logfiles.details({"log": "x"}) == " "


def test_conmon_refuses_what_its_log_cannot_hold():
    for pairs, text in ((["labels=a"], "--log-opt labels='a': conmon's k8s-file log has no attrs"),
                        (["env-regex=."], "--log-opt env-regex='.': conmon's k8s-file log has no attrs"),
                        (["tag=x"], "--log-opt tag='x': conmon's k8s-file log has no attrs"),
                        (["compress=true", "max-size=1m", "max-file=2"],
                         "--log-opt compress=true: conmon keeps no rotated files to compress")):
        with pytest.raises(ConfigError) as e:
            logfiles.check_conmon(logfiles.parse(pairs))
        assert str(e.value).startswith(text), str(e.value)
    logfiles.check_conmon(logfiles.parse(["compress=false", "labels=", "max-size=1m"]))  # nothing asked of it


def _compressed_log(d, max_file: int) -> Log:
    return Log(str(d), 300, max_file, True, logfiles.attrs_fragment({"a": "1"}))


def test_compress_gzips_every_rotated_file_in_docker_s_names_and_header(tmp_path):
    import gzip

    log = _compressed_log(tmp_path, 4)
    for i in range(200):
        stamp = f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000000000Z"
        log.write('{"log":"%d\\n","stream":"stdout",%s"time":"%s"}\n' % (i, log.attrs, stamp), stamp)
        # (json.log.1 and the json.log.1.gz made of it are both there for a moment: readers take the .gz)
        assert len({n.removesuffix(".gz") for n in _files(tmp_path) if n.startswith("json.log")}) <= 4
    log.close()
    assert _files(tmp_path) == ["json.log", "json.log.1.gz", "json.log.2.gz", "json.log.3.gz"]
    raw = (tmp_path / "json.log.1.gz").read_bytes()
    assert raw[:10] == b"\x1f\x8b\x08\x04\0\0\0\0\0\xff"  # as docker's: FEXTRA only, no name, mtime 0
    meta = json.loads(raw[12:12 + int.from_bytes(raw[10:12], "little")])
    assert set(meta) == {"lastTime", "source"}
    text = gzip.decompress(raw).decode()
    assert meta["lastTime"] == json.loads(text.splitlines()[-1])["time"]
    got = logfiles.Reader(str(tmp_path / "json.log")).read()
    assert _numbers(got) == list(range(_numbers(got)[0], 200)) and all(e["attrs"] == {"a": "1"} for e in got)


@pytest.mark.parametrize("max_file,every", [(4, 3), (50, 7), (3, 1), (2, 1), (2, 5)])
def test_a_follower_of_a_compressed_log_gets_each_entry_once(tmp_path, max_file, every):
    """Whether the reader finds the file it read still plain (json.log.1) or gzipped already, and
    though the gzipped ones name inodes freed and reused since, it goes on after the one it read."""
    log = _compressed_log(tmp_path, max_file)
    reader = logfiles.Reader(str(tmp_path / "json.log"))
    got = []
    for i in range(400):
        log.write(_entry(i))
        if i % every == 0:
            got += _numbers(reader.read())
    log.close()
    got += _numbers(reader.read())
    assert got == sorted(set(got)) and got[-1] == 399
    if max_file == 50:
        assert got == list(range(400))


def test_a_reader_takes_a_plain_rotated_file_and_a_damaged_gz(tmp_path):
    """json.log.1 not gzipped yet (or never: a full disk) is read as it is; a damaged .gz as far as it goes."""
    (tmp_path / "json.log.2.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (tmp_path / "json.log.1").write_text(_entry(1) + _entry(2))
    (tmp_path / "json.log").write_text(_entry(3))
    assert _numbers(logfiles.Reader(str(tmp_path / "json.log")).read()) == [1, 2, 3]
    assert logfiles.existing(str(tmp_path / "json.log")) == [str(tmp_path / n) for n in
                                                            ("json.log.2.gz", "json.log.1", "json.log")]


def test_a_restarted_monitor_finishes_what_the_last_one_left(tmp_path):
    (tmp_path / ".json.log.1.gz.tmp").write_bytes(b"half")
    (tmp_path / "json.log.1").write_text(_entry(1))
    log = _compressed_log(tmp_path, 3)
    log.close()
    assert _files(tmp_path) == ["json.log", "json.log.1.gz"]
    assert _numbers(logfiles.Reader(str(tmp_path / "json.log")).read()) == [1]
    (tmp_path / "json.log.1").write_text(_entry(1))  # the gz was made, the plain one not removed yet
    _compressed_log(tmp_path, 3).close()
    assert _files(tmp_path) == ["json.log", "json.log.1.gz"]


def test_logs_since_reads_docker_s_forms():
    from pycr.plugins.manage.verb_logs import since_time

    now = 1_800_000_000.0
    assert since_time(None, now) == since_time("", now) == 0.0
    assert since_time("42m", now) == now - 42 * 60 and since_time("1h30m", now) == now - 5400
    assert since_time("1.5s", now) == now - 1.5 and since_time("250ms", now) == now - 0.25
    assert since_time("1700000000", now) == 1_700_000_000 and since_time("1700000000.5", now) == 1_700_000_000.5
    assert since_time("2026-01-02T15:04:05Z", now) == 1767366245
    assert since_time("2026-01-02T15:04:05.25+01:00", now) == 1767366245.25 - 3600
    for bad in ("soon", "1x", "1h and", "2026-13-01T00:00:00Z", "-5m", "1e9", "m", "5m\n"):
        with pytest.raises(ConfigError) as e:
            since_time(bad, now)
        assert str(e.value).startswith(f"--since {bad!r}: expected a unix time") and "\n" not in str(e.value)
