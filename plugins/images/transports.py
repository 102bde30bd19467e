"""Image transports, named like skopeo's, each an ``pycr.image_source`` driver.

``docker://REF`` (or a bare ``REF``) is a registry; ``oci:DIR[:TAG]`` an OCI
image layout; ``oci-archive:FILE[:TAG]`` a tar of one; ``docker-archive:FILE``
what ``docker save`` writes.  A source has ``pull(store, spec) -> manifest
digest`` and ``push(store, image, spec) -> digest``.
"""

from __future__ import annotations

import re
from typing import Any

from pycr.core import ConfigError, PycrError

TRANSPORTS = ("docker", "oci", "oci-archive", "docker-archive")


def names() -> list[str]:
    """Built-in transports and every installed ``pycr.image_source`` name, longest first."""
    from pycr.core import entry_points

    installed = [ep["name"] for ep in entry_points().get("pycr.image_source", [])]
    return sorted({*TRANSPORTS, *installed}, key=len, reverse=True)


def split(spec: str) -> tuple[str, str]:
    """``oci:/x:tag`` -> (``oci``, ``/x:tag``); a bare reference is ``docker``.

    A third-party transport (``tarball+https://host/x.tar``) is recognised by
    its entry-point name, so a plugin needs no change here."""
    for name in names():
        if spec.startswith(name + ":"):
            rest = spec[len(name) + 1:]
            return name, rest[2:] if name == "docker" and rest.startswith("//") else rest
    return "docker", spec


_HOST = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])"
                   r"(:[0-9]{1,5})?$")
_ONLY = "only registry references ([REGISTRY/]NAME[:TAG|@DIGEST]) are accepted"


def registry_reference(text: str):
    """``text`` as a registry Reference, or ConfigError: no transport prefix, no path.

    For callers who must not reach the host's files (the API socket, its
    builds): the error repeats ``text`` only, so it tells nothing about the host."""
    from pycr.plugins.images import reference

    transport, _ = split(text)
    if transport != "docker" or text.startswith("docker:"):
        raise ConfigError(f"{text!r}: {transport}: is a transport; {_ONLY}")
    if text.startswith(("/", ".", "~")):
        raise ConfigError(f"{text!r}: a path is not an image name; {_ONLY}")
    ref = reference.parse(text)
    if not _HOST.match(ref.domain):
        raise ConfigError(f"{text!r}: {ref.domain} is not a registry host; {_ONLY}")
    return ref


def source(opts: Any, transport: str, **kwargs) -> Any:
    """An instance of the image source for ``transport`` (a plugin may override the choice)."""
    from pycr.core import get_manager

    pm = get_manager(opts)
    src = pm.hook.pycr_image_source(transport=transport)
    if src is None:
        src = pm.driver("image_source", transport)
    if isinstance(src, type):
        import inspect

        params = inspect.signature(src).parameters
        src = src(**{k: v for k, v in kwargs.items() if k in params})
    return src


def find_image(store, text: str):
    """A stored image by name (``busybox``), full digest, or image-id prefix; (name, Image)."""
    from pycr.plugins.images import reference

    refs = store.refs()
    try:
        name = str(reference.parse(text))
    except PycrError:
        name = None
    if name and name in refs:
        return name, store.image(refs[name]["digest"])
    key = text.removeprefix("sha256:")
    if len(key) >= 4 and all(c in "0123456789abcdef" for c in key):
        hits = {}
        for ref_name, rec in refs.items():
            img = store.image(rec["digest"])
            if rec["digest"][7:].startswith(key) or img.id[7:].startswith(key):
                hits.setdefault(img.digest, (ref_name, img))
        if len(hits) > 1:
            raise PycrError(f"image id {text!r} is ambiguous: it matches {len(hits)} images")
        if hits:
            return next(iter(hits.values()))
        if store.has_blob("sha256:" + key) if len(key) == 64 else False:
            return None, store.image("sha256:" + key)
    return None, None


def pull(opts: Any, store, spec: str, **kwargs) -> tuple[str, Any]:
    """Bring ``spec`` into ``store``; return (name it is stored under, Image)."""
    from pycr.plugins.images.media import check_platform

    check_platform(kwargs.get("platform"))
    transport, rest = split(spec)
    src = source(opts, transport, **kwargs)
    digest = src.pull(store, rest)
    name = getattr(src, "last_name", None)
    if name is None and transport == "docker":
        from pycr.plugins.images import reference

        ref = reference.parse(rest)
        name = str(ref) if not ref.digest else f"{ref.repository}@{ref.digest}"
    return name, store.image(digest)


def ensure_image(opts: Any, store, text: str, *, pull_missing: bool = True, **kwargs):
    """The local image ``text``; pulled first when missing (``pycr run``'s behaviour)."""
    from pycr.plugins.images.media import check_platform

    check_platform(kwargs.get("platform"))  # a bad one is refused even when the image is stored
    transport, _ = split(text)
    if transport == "docker" and not text.startswith("docker:"):
        name, img = find_image(store, text)
        if img is not None:
            return name, img
    if not pull_missing:
        raise PycrError(f"image {text} is not in the store {store.root}")
    return pull(opts, store, text, **kwargs)
