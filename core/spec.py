"""Load and validate a runtime-spec bundle's ``config.json``.

Validation uses the OCI runtime-spec JSON schema (vendored in
``schema/runtime``) through jsonschema.  Importing jsonschema costs ~60 ms,
more than a whole ``runc run``, so a config whose exact bytes were validated
before is remembered by its sha256 under the state root and not re-checked:
only configs that passed are remembered, so the cache can never let an
invalid one through.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pycr.core.errors import ConfigError

SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "schema", "runtime")


def load_bundle_config(bundle: str, cache_dir: str | None = None, schema: bool = True) -> dict[str, Any]:
    """Read ``bundle/config.json``, validate it, and check the rootfs exists.

    ``schema=False`` is for configs pycr wrote itself (``pycr run IMAGE``):
    they are typed by construction and new every run, so the schema check
    would cost ~70 ms each time and never hit the cache.  The semantic checks
    still run.
    """
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (is {bundle!r} an OCI bundle?)") from None
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    try:
        config = json.loads(raw)
    except ValueError as e:
        raise ConfigError(f"{path}: malformed JSON: {e}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: top level must be a JSON object")
    if schema:
        validate(config, raw, path, cache_dir)
    check_semantics(config, bundle, path)
    return config


def validate(config: dict[str, Any], raw: bytes, path: str, cache_dir: str | None = None) -> None:
    """Schema-check ``config``; raise ConfigError naming the field and value."""
    marker = None
    if cache_dir:
        import hashlib

        marker = os.path.join(cache_dir, hashlib.sha256(raw).hexdigest())
        if os.path.exists(marker):
            return
    error = schema_error(config)
    if error:
        raise ConfigError(f"{path}: {error}")
    if marker:
        try:
            os.makedirs(cache_dir, exist_ok=True)
            open(marker, "w").close()
        except OSError:
            pass


_VALIDATOR = None


def _validator():
    global _VALIDATOR
    if _VALIDATOR is None:
        import jsonschema
        from referencing import Registry, Resource

        resources = []
        for name in os.listdir(SCHEMA_DIR):
            if name.endswith(".json"):
                with open(os.path.join(SCHEMA_DIR, name)) as f:
                    contents = json.load(f)
                resources.append((name, Resource.from_contents(contents, default_specification=_draft4())))
        registry = Registry().with_resources(resources)
        with open(os.path.join(SCHEMA_DIR, "config-schema.json")) as f:
            schema = json.load(f)
        _VALIDATOR = jsonschema.Draft4Validator(schema, registry=registry)
    return _VALIDATOR


def _draft4():
    from referencing.jsonschema import DRAFT4

    return DRAFT4


def schema_error(config: dict[str, Any]) -> str | None:
    """The most specific schema violation as one line, or None."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(config))
    if error is None:
        return None
    # descend into oneOf/anyOf to the deepest concrete complaint
    while error.context:
        error = jsonschema.exceptions.best_match(error.context)
    field = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    value = json.dumps(error.instance)
    if len(value) > 60:
        value = value[:57] + "..."
    return f"field {field}: {error.message if len(error.message) < 120 else error.validator + ' check failed'} (value {value})"


def check_semantics(config: dict[str, Any], bundle: str, path: str) -> None:
    """What the schema cannot say but runc refuses at create time."""
    if "process" not in config:
        raise ConfigError(f"{path}: field process: missing (runc needs a process to run)")
    args = config["process"].get("args") or []
    if not args:
        raise ConfigError(f"{path}: field process.args: must name a program to run")
    root = config.get("root", {}).get("path")
    if not root:
        raise ConfigError(f"{path}: field root.path: missing")
    rootfs = root if os.path.isabs(root) else os.path.join(bundle, root)
    if not os.path.isdir(rootfs):
        raise ConfigError(f"{path}: field root.path: rootfs {rootfs!r} does not exist or is not a directory")
    cwd = config["process"].get("cwd", "/")
    if not cwd.startswith("/"):
        raise ConfigError(f"{path}: field process.cwd: {cwd!r} must be an absolute path")


def rootfs_path(config: dict[str, Any], bundle: str) -> str:
    root = config["root"]["path"]
    return os.path.realpath(root if os.path.isabs(root) else os.path.join(bundle, root))
