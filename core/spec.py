"""Load and validate a runtime-spec bundle's ``config.json``.

Validation uses the OCI runtime-spec JSON schema (vendored in
``schema/runtime``) through jsonschema.  Importing jsonschema costs ~60 ms,
more than a whole ``runc run``, so (1) a config whose exact bytes were
validated before is remembered by its sha256 under the state root and not
re-checked -- only configs that passed are remembered, so the cache can never
let an invalid one through -- and (2) a new config is checked in a forked
child while the runtime goes on building the container; the runtime waits
for the verdict before it commits to anything (see ``open_bundle``).
"""

from __future__ import annotations

import json
import os

from pycr.core.errors import ConfigError
from pycr.core.jsondoc import parse_json_object

SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "schema", "runtime")


def load_bundle_config(bundle: str, cache_dir: str | None = None, schema: bool = True) -> dict[str, object]:
    """Read ``bundle/config.json``, validate it, and check the rootfs exists."""
    config, schema_checked = open_bundle(bundle, cache_dir, schema)
    schema_checked()
    return config


def open_bundle(bundle: str, cache_dir: str | None = None, schema: bool = True):
    """Read and check ``bundle/config.json``; the schema check may still be running.

    Returns ``(config, schema_checked)``: call ``schema_checked()`` before
    trusting the config for good -- it raises ConfigError naming the field
    if the schema check failed.  A config not in the cache is checked in a
    forked child (``pycr:[validate]``), so the ~60 ms jsonschema import runs on
    the other core while the runtime builds the container (engines write a new
    config.json for every container, so the cache never helps them).

    ``schema=False`` is for configs pycr wrote itself (``pycr run IMAGE``):
    they are typed by construction.  The semantic checks always run.
    """
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (is {bundle!r} an OCI bundle?)") from None
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    config = parse_json_object(raw, path)
    checked = _background_check(config, raw, path, cache_dir) if schema else _passed
    try:
        check_semantics(config, bundle, path)
    except ConfigError:
        checked()  # a schema error names the real problem better
        raise
    return config, checked


CACHE_ENTRIES = 512  # engines write a new config.json per container: keep the newest only


def _trim_cache(cache_dir: str) -> None:
    """Drop the oldest half of the markers once there are more than CACHE_ENTRIES
    (runs in the validator child, off the runtime's path)."""
    names = os.listdir(cache_dir)
    if len(names) <= CACHE_ENTRIES:
        return
    aged = []
    for name in names:
        try:
            aged.append((os.stat(os.path.join(cache_dir, name)).st_mtime_ns, name))
        except OSError:
            pass
    for _, name in sorted(aged)[: len(aged) - CACHE_ENTRIES // 2]:
        try:
            os.unlink(os.path.join(cache_dir, name))
        except OSError:
            pass


def _passed() -> None:
    return None


def _background_check(config: dict[str, object], raw: bytes, path: str, cache_dir: str | None):
    marker = None
    if cache_dir:
        import hashlib

        marker = os.path.join(cache_dir, hashlib.sha256(raw).hexdigest())
        if os.path.exists(marker):
            return _passed
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pycr:[validate]
        try:
            os.close(rfd)
            error = schema_error(config) or ""
            os.write(wfd, error.encode())
            if not error and marker:
                os.makedirs(cache_dir, exist_ok=True)
                open(marker, "w").close()
                _trim_cache(cache_dir)
        finally:
            os._exit(0)
    os.close(wfd)
    verdict: list[str] = []

    def checked() -> None:
        if not verdict:
            chunks = []
            while chunk := os.read(rfd, 65536):
                chunks.append(chunk)
            os.close(rfd)
            os.waitpid(pid, 0)
            verdict.append(b"".join(chunks).decode())
        if verdict[0]:
            raise ConfigError(f"{path}: {verdict[0]}")

    return checked


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
