"""pycr-tarball-source: pull a plain rootfs tarball over HTTP(S) as an image.

    pycr pull tarball+https://example.org/alpine-minirootfs.tar.gz
    pycr pull 'tarball+http://127.0.0.1:8000/rootfs.tar#sha256=<hex>'   # verified
    pycr run localhost/alpine-minirootfs:latest /bin/sh

The tarball (plain, gzip or zstd) becomes the single layer of an OCI image:
its bytes are streamed into pycr's content store and hashed on the way,
``diff_ids`` is the digest of the decompressed tar, and the config names
the platform asked for (default: this host).  A ``#sha256=HEX`` fragment
makes the download verified: a mismatch stores nothing.  The image is
tagged ``localhost/<file name without extensions>:latest`` (or the
``#name=`` fragment), last, so a failed pull leaves no name.

Only public names are used: the error types from ``pycr.core``, and the
``images`` plugin it declares it requires (``requires``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request

from pycr.core import PycrError
from pycr.plugins import images

requires = ("images",)  # pycr refuses to use this driver when the images plugin is off
__all__ = ["TarballHttpSource", "TarballHttpsSource"]

TIMEOUT = 30.0


class TarballHttpsSource:
    """Image source ``tarball+https``: a rootfs tarball fetched with TLS."""

    name = "tarball+https"
    scheme = "https"

    def __init__(self, platform: str | None = None, quiet: bool = True):
        self.platform = platform
        self.last_name: str | None = None

    # -- helpers --------------------------------------------------------------
    def _url(self, spec: str) -> tuple[str, dict[str, str]]:
        """``//host/path#sha256=..&name=..`` -> (https://host/path, {"sha256": ..., "name": ...})."""
        url, _, fragment = f"{self.scheme}:{spec if spec.startswith('//') else '//' + spec}".partition("#")
        options = dict(urllib.parse.parse_qsl(fragment))
        unknown = set(options) - {"sha256", "name"}
        if unknown:
            raise PycrError(f"{self.name}:{spec}: unknown option {sorted(unknown)[0]!r} (use sha256= or name=)")
        if "sha256" in options and not re.fullmatch(r"[0-9a-f]{64}", options["sha256"]):
            raise PycrError(f"{self.name}:{spec}: sha256= needs 64 lowercase hex digits")
        if not urllib.parse.urlsplit(url).hostname:
            raise PycrError(f"{self.name}:{spec}: no host in the URL")
        return url, options

    def _name(self, url: str, options: dict[str, str]) -> str:
        if "name" in options:
            name = options["name"]
            return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
        base = urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        base = re.sub(r"\.(tar|tgz|gz|zst|tzst)$", "", re.sub(r"\.(gz|zst)$", "", base))
        base = re.sub(r"[^a-z0-9._-]+", "-", base.lower()).strip(".-_") or "rootfs"
        return f"localhost/{base}:latest"

    def _diff_id_and_media(self, store, digest: str) -> tuple[str, str]:
        media = images.media
        h = hashlib.sha256()
        with open(store.blob_path(digest), "rb") as f, contextlib.ExitStack() as stack:
            head = f.peek(4)[:4]
            stream = images.unpack.open_decompressed(f, stack)
            try:
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    h.update(chunk)
            except (OSError, EOFError) as e:
                raise PycrError(f"layer {digest}: cannot decompress: {e}") from None
        kind = (media.OCI_LAYER_GZIP if head[:2] == b"\x1f\x8b"
                else media.OCI_LAYER_ZSTD if head == b"\x28\xb5\x2f\xfd" else media.OCI_LAYER)
        return "sha256:" + h.hexdigest(), kind

    # -- the image-source contract ---------------------------------------------
    def pull(self, store, spec: str) -> str:
        """Fetch the tarball into ``store`` as a one-layer image; return the manifest digest."""
        url, options = self._url(spec)
        what = f"{self.name}:{spec}"
        expected = f"sha256:{options['sha256']}" if "sha256" in options else None
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
                size = resp.headers.get("Content-Length")
                layer = store.put_stream(resp, expected, int(size) if size and size.isdigit() else None)
        except PycrError as e:  # the store refused the content (sha256= mismatch)
            raise PycrError(f"{what}: {e}") from None
        except urllib.error.HTTPError as e:
            raise PycrError(f"{what}: HTTP {e.code} {e.reason}") from None
        except urllib.error.URLError as e:
            raise PycrError(f"{what}: cannot fetch: {e.reason}") from None
        except (OSError, ValueError) as e:
            raise PycrError(f"{what}: download failed: {e}") from None
        diff_id, media_type = self._diff_id_and_media(store, layer)
        os_, _, arch = (self.platform or images.media.host_platform()).partition("/")
        arch, _, variant = arch.partition("/")
        config = {"architecture": arch, "os": os_, "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                  "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
                  "history": [{"created_by": f"pycr-tarball-source {url}"}]}
        if variant:
            config["variant"] = variant
        raw = json.dumps(config, sort_keys=True).encode()
        manifest = {
            "schemaVersion": 2, "mediaType": images.media.OCI_MANIFEST,
            "config": {"mediaType": images.media.OCI_CONFIG, "digest": store.put_blob(raw), "size": len(raw)},
            "layers": [{"mediaType": media_type, "digest": layer, "size": store.blob_size(layer)}],
            "annotations": {"org.opencontainers.image.source": url},
        }
        images.schema.validate("manifest", manifest, what)
        images.schema.validate("config", config, what)
        digest = store.put_blob(json.dumps(manifest, sort_keys=True).encode())
        self.last_name = self._name(url, options)
        store.set_ref(self.last_name, digest, source=f"{self.name}:{spec}")
        return digest


class TarballHttpSource(TarballHttpsSource):
    """Image source ``tarball+http``: the same over plain HTTP (a local mirror, a test server)."""

    name = "tarball+http"
    scheme = "http"
