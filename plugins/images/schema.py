"""Validate OCI image manifests, indexes and configs against the vendored image-spec schemas.

Docker schema2 manifests and manifest lists share the OCI shapes (same fields,
other media types), so they are checked with the same schemas.  The schemas
are draft-04 and refer to each other by file name; they are registered under
``https://opencontainers.org/schema/image/<file>`` so those names resolve.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from pycr.core import PycrError

_DIR = os.path.join(os.path.dirname(__file__), "schemas")
_BASE = "https://opencontainers.org/schema/image/"
_FILES = {"manifest": "image-manifest-schema.json", "index": "image-index-schema.json",
          "config": "config-schema.json", "layout": "image-layout-schema.json"}


@functools.lru_cache(maxsize=None)
def _validator(kind: str):
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    resources = []
    for name in os.listdir(_DIR):
        if name.endswith(".json"):
            with open(os.path.join(_DIR, name)) as f:
                resources.append((_BASE + name, Resource(json.load(f), DRAFT4)))
    registry = Registry().with_resources(resources)
    schema = registry.contents(_BASE + _FILES[kind])
    return Draft4Validator(schema, registry=registry)


def validate(kind: str, doc: Any, what: str) -> None:
    """Raise PycrError naming ``what`` and the first failing field if ``doc`` is not a valid ``kind``."""
    err = next(iter(sorted(_validator(kind).iter_errors(doc), key=lambda e: e.path)), None)
    if err is not None:
        field = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise PycrError(f"{what}: invalid {kind}: field {field}: {err.message}")
