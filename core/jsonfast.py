"""``json.loads`` / ``json.dumps`` without importing ``json`` (which pulls in ``re`` and ``enum``:
~8 ms of CPU per ``pycr-oci`` command): the same C scanner and encoder of ``_json`` with json's
defaults, so results are identical; malformed input, a BOM or UTF-16/32 bytes go to ``json``."""

from __future__ import annotations

import _json

_WHITESPACE = " \t\n\r"


class _Context:  # what _json.make_scanner reads from a json.JSONDecoder: its defaults

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
        text = data.decode("utf-8", "replace")  # invalid UTF-8 yields U+FFFD, then json's error
        if "\ufffd" in text:
            return _json_loads(data)
    elif text.startswith("\ufeff"):
        return _json_loads(data)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except (StopIteration, ValueError):
        end = -1
    return value if end >= 0 and not text[end:].strip(_WHITESPACE) else _json_loads(data)  # else: json's error


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
