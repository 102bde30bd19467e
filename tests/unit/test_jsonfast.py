"""pycr.core.jsonfast gives json's results and json's errors, without importing json."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pycr.core import jsonfast

GOOD = ['{"a": [1, 2.5, -3e10, true, false, null, "x\\u00e9\\n"]}', " [1] ", '"s"', "1", b'{"k": "\xc3\xa9"}',
        '{"a": NaN}', "[Infinity, -Infinity]", '{"a": {"b": {"c": []}}}', '"\\ud83d\\ude00"',
        '{"a": 1, "a": 2}', "\t\n{}\r\n"]
BAD = ['{"a": 1} x', "{", "", "\ufeff{}", b"\xff", '{"a":}', b"\xef\xbb\xbf{}", '{"a": 1,}', "[1] [2]",
       '"\x01"', "nan", "01"]
VALUES = [{"a": [1, 2.5, float("inf"), None, True, "é\n"]}, [], {"b": 1, "a": {"z": 1, "y": 2}}, "x", 1e300,
          {1: 2}, {"ünï": ["\u2028"]}, [-0.0, 10**30]]


def _outcome(fn, arg):
    try:
        return "ok", repr(fn(arg))
    except Exception as e:
        return type(e).__name__, str(e)


@pytest.mark.parametrize("text", GOOD + BAD)
def test_loads_same_value_or_same_error(text):
    assert _outcome(jsonfast.loads, text) == _outcome(json.loads, text)


@pytest.mark.parametrize("value", VALUES)
def test_dumps_same_text(value):
    assert jsonfast.dumps(value) == json.dumps(value)
    assert jsonfast.dumps(value, sort_keys=True) == json.dumps(value, sort_keys=True)


@pytest.mark.parametrize("value", VALUES + [{}, {"a": {}, "b": [[], [{}]]}, [[1, [2, {"k": None}]]],
                                   {"ociVersion": "1.0.2", "id": "c", "pid": 7, "annotations": {"x": "y"}}])
@pytest.mark.parametrize("indent", [0, 2, 4])
def test_dumps_indented_same_text(value, indent):
    """``pycr-oci state`` prints with indent=2 as runc does, without importing json."""
    for sort_keys in (False, True):
        assert jsonfast.dumps(value, sort_keys=sort_keys, indent=indent) == json.dumps(
            value, sort_keys=sort_keys, indent=indent)


def test_dumps_refuses_what_json_refuses():
    for value in ({"a": object()}, {(1, 2): 3}):
        assert _outcome(jsonfast.dumps, value)[0] == _outcome(json.dumps, value)[0] == "TypeError"
    loop: list = []
    loop.append(loop)
    assert _outcome(jsonfast.dumps, loop) == _outcome(json.dumps, loop)
    indented = lambda fn: lambda v: fn(v, indent=2)  # noqa: E731
    for value in ({"a": object()}, {(1, 2): 3}, loop, {"a": {"b": loop}}, {1: 1, "a": 2}):
        assert _outcome(indented(jsonfast.dumps), value)[0] == _outcome(indented(json.dumps), value)[0]
    assert _outcome(lambda v: jsonfast.dumps(v, sort_keys=True, indent=2), {1: 1, "a": 2}) == \
        _outcome(lambda v: json.dumps(v, sort_keys=True, indent=2), {1: 1, "a": 2})


def test_json_is_not_imported():
    """Run the module alone in a bare interpreter (-S: no site, whose .pth hooks import re)."""
    code = ("import sys; ns = {'__name__': 'jsonfast'}; exec(open(sys.argv[1]).read(), ns); "
            "ns['dumps'](ns['loads'](b'[1, {}]')); ns['dumps']({'a': [1]}, indent=2); "
            "print(sorted(m for m in ('json', 're', 'enum') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, jsonfast.__file__], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
