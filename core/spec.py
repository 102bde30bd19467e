"""Load and validate a runtime-spec bundle's ``config.json``.

The OCI runtime-spec JSON schema (``schema/runtime``) is compiled to Python once
(``config_validator``, by scripts/gen_config_validator.py): a config never seen
before -- engines write one per container -- is checked in well under a
millisecond.  Only a refused config pays for jsonschema (~60 ms), to name the
field; tests/unit/test_config_schema.py proves both refuse the same configs.
"""

from __future__ import annotations

import os

from pycr.core.errors import ConfigError
from pycr.core.jsondoc import parse_json_object

SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "schema", "runtime")


def load_bundle_config(bundle: str, schema: bool = True) -> dict[str, object]:
    """Read ``bundle/config.json``, validate it, and check the rootfs exists.  ``schema=False``: a
    config pycr wrote itself (``pycr run IMAGE``), typed by construction; semantics always run."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (is {bundle!r} an OCI bundle?)") from None
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    config = parse_json_object(raw, path)
    error = schema_error(config) if schema and schema_refuses(config) else None
    if error:  # a schema error names the real problem better than a semantic one
        raise ConfigError(f"{path}: {error}")
    check_semantics(config, bundle, path)
    return config


def schema_refuses(config: dict[str, object]) -> bool:
    """The compiled schema's verdict: True when the config breaks the schema."""
    from pycr.core.config_validator import SchemaInvalid, validate

    try:
        validate(config)
    except SchemaInvalid:
        return True
    return False


_VALIDATOR = None


def _validator():
    global _VALIDATOR
    if _VALIDATOR is None:
        import json

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


def schema_error(config: dict[str, object]) -> str | None:
    """The most specific schema violation as one line, or None."""
    import jsonschema

    error = jsonschema.exceptions.best_match(e for e in _validator().iter_errors(config) if not _runc_accepts(e))
    if error is None:
        return None
    # descend into oneOf/anyOf to the deepest concrete complaint
    while error.context:
        error = jsonschema.exceptions.best_match(error.context)
    field = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    import json

    value = json.dumps(error.instance)
    if len(value) > 60:
        value = value[:57] + "..."
    return f"field {field}: {error.message if len(error.message) < 120 else error.validator + ' check failed'} (value {value})"


def _runc_accepts(error) -> bool:
    """Schema violations runc lets through and engines rely on: podman --privileged
    sends ``linux.devices[].fileMode`` with the file-type bits (0o20666; the
    runtime keeps the permission bits), and runc takes the recursive forms of
    ``linux.rootfsPropagation`` (rshared...)."""
    path = list(error.absolute_path)
    if error.validator == "maximum" and len(path) == 4 and path[:2] == ["linux", "devices"]:
        return path[3] == "fileMode" and isinstance(error.instance, int) and error.instance <= 0o177777
    return (error.validator == "enum" and path == ["linux", "rootfsPropagation"]
            and error.instance in ("rprivate", "rshared", "rslave", "runbindable"))


def check_semantics(config: dict[str, object], bundle: str, path: str) -> None:
    """What the schema cannot say but runc refuses at create time.  A field of
    the wrong type is refused here too (the caller then prefers the schema's
    verdict), so nothing later meets a string where it expects an object."""
    # Without ``process`` create succeeds and start fails, as the runtime spec says.
    process = config.get("process", {})
    if not isinstance(process, dict):
        raise ConfigError(f"{path}: field process: must be an object")
    args = process.get("args") or []
    if "process" in config and (not args or not isinstance(args, list)):
        raise ConfigError(f"{path}: field process.args: must name a program to run")
    root = config.get("root")
    if not isinstance(root, dict) or not root.get("path"):
        raise ConfigError(f"{path}: field root.path: missing")
    if not isinstance(root["path"], str):
        raise ConfigError(f"{path}: field root.path: must be a string")
    rootfs = root["path"] if os.path.isabs(root["path"]) else os.path.join(bundle, root["path"])
    if not os.path.isdir(rootfs):
        raise ConfigError(f"{path}: field root.path: rootfs {rootfs!r} does not exist or is not a directory")
    cwd = process.get("cwd", "/")
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise ConfigError(f"{path}: field process.cwd: {cwd!r} must be an absolute path")
    for field in ("linux", "annotations"):
        if not isinstance(config.get(field, {}), dict):
            raise ConfigError(f"{path}: field {field}: must be an object")


def rootfs_path(config: dict[str, object], bundle: str) -> str:
    root = config["root"]["path"]
    return os.path.realpath(root if os.path.isabs(root) else os.path.join(bundle, root))
