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
    except (StopIteration, ValueError, RecursionError, SystemError):  # too deep: _json's scanner may say
        end = -1  # SystemError without our decoder's context; json's own error then
    return value if end >= 0 and not text[end:].strip(_WHITESPACE) else _json_loads(data)  # else: json's error


def load(f):
    return loads(f.read())


def dumps(value, sort_keys: bool = False, indent: int | None = None) -> str:
    """``json.dumps(value, sort_keys=..., indent=...)`` (default separators, ASCII, circular check).
    ``_json``'s encoder cannot indent: with ``indent``, dicts and lists are laid out here, as json's
    Python encoder does, and everything else goes through the C encoder."""
    if indent is not None:
        return _indented(value, " " * indent, "\n", sort_keys, set())
    encode = _json.make_encoder({}, _default, _json.encode_basestring_ascii, None, ": ", ", ",
                                sort_keys, False, True)
    return "".join(encode(value, 0))


def _indented(value, step: str, newline: str, sort_keys: bool, seen: set) -> str:
    """``value`` laid out as json's encoder does with an indent (``newline``: a line break and the
    current level's indentation); ``seen``: the containers being written, for json's circular check."""
    if not isinstance(value, (dict, list, tuple)):
        return dumps(value)
    if not value:
        return "{}" if isinstance(value, dict) else "[]"
    if id(value) in seen:
        raise ValueError("Circular reference detected")
    seen.add(id(value))
    inner = newline + step
    if isinstance(value, dict):
        items = sorted(value.items()) if sort_keys else value.items()
        parts = [f"{dumps(_key(k))}: {_indented(v, step, inner, sort_keys, seen)}" for k, v in items]
        opening, closing = "{", "}"
    else:
        parts = [_indented(v, step, inner, sort_keys, seen) for v in value]
        opening, closing = "[", "]"
    seen.discard(id(value))
    return opening + inner + ("," + inner).join(parts) + newline + closing


def _key(k) -> str:
    """A dict key as json writes it: str as is, numbers, True/False/None as their JSON text."""
    if isinstance(k, str):
        return k
    if k is True or k is False or k is None or isinstance(k, (int, float)):
        return dumps(k)
    raise TypeError(f"keys must be str, int, float, bool or None, not {k.__class__.__name__}")


def dump(value, f) -> None:
    f.write(dumps(value))


def _default(o):
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def _json_loads(data):
    import json

    return json.loads(data)
