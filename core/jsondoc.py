"""JSON documents that must be objects: config.json, resources files, manifests."""

from __future__ import annotations

import json

from pycr.core.errors import ConfigError


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
