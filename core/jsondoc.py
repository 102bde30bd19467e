"""JSON documents that must be objects: config.json, resources files, manifests."""

from __future__ import annotations


from pycr.core.errors import ConfigError
from pycr.core import jsonfast as json  # json.loads/dumps without importing json (re, enum)


def parse_json_object(data: bytes | str, what: str, error: type[Exception] = ConfigError) -> dict:
    """Parse ``data``; a one-line ``error`` naming ``what`` unless it is a JSON object."""
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise error(f"{what}: malformed JSON: {e}") from None
    except RecursionError:
        raise error(f"{what}: JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise error(f"{what}: expected a JSON object")
    return doc


def read_json_object(path: str, what: str, error: type[Exception] = ConfigError, hint: str = "") -> dict:
    """The JSON object in the file ``path``; a one-line ``error`` naming ``what`` (and ``hint`` when the
    file cannot be read) otherwise."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise error(f"{what}: {e.strerror}{hint}") from None
    return parse_json_object(data, what, error)
