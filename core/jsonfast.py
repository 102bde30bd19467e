"""``json.loads`` / ``json.dumps`` for the runtime's hot path, without importing ``json``.

``import json`` pulls in ``re`` and ``enum`` and compiles its patterns: ~8 ms
of CPU in every ``pycr-oci`` command, a third of a ``runc run``.  The parsing
and encoding themselves are C code in ``_json`` either way; this module
drives the same C scanner and encoder with json's own defaults, so the
results are identical.  Anything unusual -- malformed input, a BOM, UTF-16/32
bytes -- goes to ``json`` itself, which raises its usual error.
"""

from __future__ import annotations

import _json

_WHITESPACE = " \t\n\r"


class _Context:
    """What ``_json.make_scanner`` reads from a ``json.JSONDecoder``: its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__
    memo: dict = {}


_scan = _json.make_scanner(_Context())


def loads(data: str | bytes):
    """``json.loads(data)``."""
    text = data
    if isinstance(data, (bytes, bytearray)):
        if b"\x00" in data[:4] or data[:3] == b"\xef\xbb\xbf":
            return _json_loads(data)  # UTF-16/32 or a BOM: json's detection decides
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return _json_loads(data)
    elif text.startswith("\ufeff"):
        return _json_loads(data)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except (StopIteration, ValueError):
        return _json_loads(data)
    if text[end:].strip(_WHITESPACE):
        return _json_loads(data)  # extra data
    return value


def load(f):
    return loads(f.read())


def dumps(value, sort_keys: bool = False) -> str:
    """``json.dumps(value)`` (default separators, ASCII, circular check)."""
    encode = _json.make_encoder({}, _default, _json.encode_basestring_ascii, None, ": ", ", ",
                                sort_keys, False, True)
    return "".join(encode(value, 0))


def dump(value, f) -> None:
    f.write(dumps(value))


def _default(o):
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def _json_loads(data):
    import json

    return json.loads(data)
