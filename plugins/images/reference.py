"""Image references, normalised the way docker does (``busybox`` = ``docker.io/library/busybox:latest``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pycr.core import ConfigError

DEFAULT_DOMAIN = "docker.io"
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str  # repository path inside the registry, e.g. library/busybox
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def registry_host(self) -> str:
        """Host[:port] to talk to (Docker Hub's API lives on another host)."""
        return "registry-1.docker.io" if self.domain == DEFAULT_DOMAIN else self.domain

    @property
    def ref(self) -> str:
        """What goes after ``/manifests/``: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str) -> "Reference":
        return Reference(self.domain, self.path, tag, None)

    def __str__(self) -> str:
        s = self.repository
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def parse(text: str) -> Reference:
    """Parse ``[domain/]path[:tag][@digest]``; raise ConfigError naming the text when invalid."""
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ConfigError(f"invalid image reference {text!r}: bad digest {digest!r}")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG.match(tag):
            raise ConfigError(f"invalid image reference {text!r}: bad tag {tag!r}")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    if not path or not all(_COMPONENT.match(c) for c in path.split("/")):
        raise ConfigError(f"invalid image reference {text!r}: repository names are lowercase "
                          "letters, digits and separators")
    if tag is None and not digest:
        tag = "latest"
    return Reference(domain, path, tag, digest or None)


def short_name(full: str) -> str:
    """``docker.io/library/busybox:latest`` -> ``busybox:latest`` for display."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if full.startswith(prefix):
            return full[len(prefix):]
    return full
