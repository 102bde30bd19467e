"""Media types of the OCI image-spec and Docker's schema2, and platform matching."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEXES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
LAYERS = (OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, DOCKER_LAYER,
          "application/vnd.oci.image.layer.nondistributable.v1.tar",
          "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
          "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
          "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm", "i686": "386",
         "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def host_platform() -> str:
    """``os/arch[/variant]`` of this machine, in Go's names (``linux/amd64``)."""
    import platform

    machine = platform.machine()
    arch = _ARCH.get(machine, machine)
    variant = {"armv7l": "/v7", "armv6l": "/v6", "aarch64": "/v8"}.get(machine, "")
    return f"linux/{arch}{variant if arch != 'arm64' else ''}"


def kind_of(media_type: str | None, doc: dict) -> str:
    """'index' or 'manifest', from the media type or, when absent, the document's shape."""
    if media_type in INDEXES or (media_type is None and "manifests" in doc):
        return "index"
    if media_type in MANIFESTS or (media_type is None and "layers" in doc):
        return "manifest"
    from pycr.core import PycrError

    raise PycrError(f"unsupported manifest media type {media_type!r} (schema1 and artifacts are not images)")


def check_platform(text: str | None, what: str = "--platform") -> str | None:
    """``text`` if it is ``os/arch[/variant]`` (or empty: the host's); else one line naming ``what``."""
    import re

    from pycr.core import ConfigError

    if text and not re.fullmatch(r"[a-z0-9_]+/[a-z0-9_]+(/[a-z0-9_]+)?", text):
        raise ConfigError(f"{what} {text!r} is not os/arch[/variant] (e.g. linux/amd64, linux/arm/v7)")
    return text or None


def choose_platform(index: dict, wanted: str | None, what: str) -> dict:
    """Pick the descriptor of ``index`` matching ``wanted`` (``os/arch[/variant]``)."""
    from pycr.core import PycrError

    wanted = check_platform(wanted) or host_platform()
    parts = wanted.split("/")
    os_, arch, variant = parts[0], parts[1], (parts[2] if len(parts) == 3 else None)
    found = []
    for desc in index.get("manifests", []):
        p = desc.get("platform") or {}
        if p.get("os") == os_ and p.get("architecture") == arch:
            if variant is None or p.get("variant") in (variant, None):
                found.append(desc)
    if not found:
        have = ", ".join(sorted({"/".join(filter(None, [d.get("platform", {}).get("os"),
                                                          d.get("platform", {}).get("architecture"),
                                                          d.get("platform", {}).get("variant")]))
                                 for d in index.get("manifests", [])})) or "none"
        raise PycrError(f"{what}: no image for platform {wanted} (available: {have})")
    return found[0]
