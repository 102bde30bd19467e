"""Credentials in docker's ``config.json`` (``auths`` entries), as ``docker login`` keeps them.

The file is ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``.
Only the plain ``auth`` field (base64 ``user:password``) is read and written;
other keys in the file are preserved.
"""

from __future__ import annotations

import base64
import json
import os


def config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def _load(path: str) -> dict:
    if not os.path.lexists(path):
        return {}
    from pycr.core import read_json_object

    return read_json_object(path, path)


def _keys(host: str) -> list[str]:
    keys = [host, f"https://{host}", f"http://{host}"]
    if host in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        keys.append("https://index.docker.io/v1/")
    return keys


def get(host: str) -> tuple[str, str] | None:
    auths = _load(config_path()).get("auths", {})
    for key in _keys(host):
        entry = auths.get(key)
        if entry and entry.get("auth"):
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            return user, password
    return None


def store(host: str, user: str, password: str) -> str:
    from pycr.plugins import images

    path = config_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    doc = _load(path)
    doc.setdefault("auths", {})[host] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    images.store.atomic_write(path, (json.dumps(doc, indent="\t") + "\n").encode(), 0o600)
    return path


def remove(host: str) -> bool:
    from pycr.plugins import images

    path = config_path()
    doc = _load(path)
    auths = doc.get("auths", {})
    found = [k for k in _keys(host) if k in auths]
    for k in found:
        del auths[k]
    if found:
        images.store.atomic_write(path, (json.dumps(doc, indent="\t") + "\n").encode(), 0o600)
    return bool(found)
