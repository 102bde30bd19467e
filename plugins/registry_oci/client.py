"""The OCI distribution-spec API, one method per endpoint, over :class:`Transport`."""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.parse

from pycr.plugins import images

from .transport import RegistryError, Transport, network_reason

RETRIES = 3


class Registry:
    """A registry host; methods take the repository path (``library/busybox``)."""

    def __init__(self, host: str, *, insecure: bool = False, credentials: tuple[str, str] | None = None):
        self.host = host
        self.http = Transport(host, insecure=insecure, credentials=credentials)
        self.stats = {"bytes": 0, "resumed": 0, "retries": 0, "mounted": 0, "skipped": 0, "uploaded": 0}

    @staticmethod
    def scope(repo: str, actions: str = "pull") -> str:
        return f"repository:{repo}:{actions}"

    def ping(self) -> None:
        """``GET /v2/``: reachable, speaks the API, and (with credentials) accepts them."""
        self.http.request("GET", "/v2/", what=f"registry {self.host}")

    # -- manifests ------------------------------------------------------------
    def get_manifest(self, repo: str, ref: str, accept: str | None = None) -> tuple[bytes, str | None, str]:
        """Return (bytes, media type, digest); the digest is verified when ``ref`` is one."""
        resp = self.http.request("GET", f"/v2/{repo}/manifests/{ref}", scope=self.scope(repo),
                                 headers={"Accept": accept or images.media.ACCEPT},
                                 what=f"manifest {self.host}/{repo}:{ref}")
        data = resp.data
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if ref.startswith("sha256:") and ref != digest:
            raise images.store.DigestMismatch(f"manifest {self.host}/{repo}@{ref} failed verification: "
                                              f"its content hashes to {digest}")
        header = resp.headers.get("Docker-Content-Digest")
        if header and header.startswith("sha256:") and header != digest:
            raise images.store.DigestMismatch(f"manifest {self.host}/{repo}:{ref}: registry says {header}, "
                                              f"content hashes to {digest}")
        media_type = (resp.headers.get("Content-Type") or "").split(";")[0].strip() or None
        return data, media_type, digest

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        resp = self.http.request("PUT", f"/v2/{repo}/manifests/{ref}", body=data, ok=(200, 201, 202),
                                 scope=self.scope(repo, "pull,push"),
                                 headers={"Content-Type": media_type, "Content-Length": str(len(data))},
                                 what=f"manifest {self.host}/{repo}:{ref}")
        return resp.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(data).hexdigest()

    def tags(self, repo: str, page: int = 1000) -> list[str]:
        """Every tag, following ``Link: <...>; rel="next"`` pagination."""
        out: list[str] = []
        url = f"/v2/{repo}/tags/list?n={page}"
        while url:
            resp = self.http.request("GET", url, scope=self.scope(repo), what=f"tags of {self.host}/{repo}")
            import json

            out += json.loads(resp.data).get("tags") or []
            link = resp.headers.get("Link", "")
            url = link[link.find("<") + 1:link.find(">")] if 'rel="next"' in link else ""
        return out

    # -- blobs ----------------------------------------------------------------
    def fetch_blob(self, store, repo: str, desc: dict, progress=None) -> str:
        """Download ``desc`` into ``store`` (verified), resuming a partial download with ``Range``.

        Call under ``store.lock(digest)``.  Network failures are retried
        ``RETRIES`` times, each retry resuming where the last one stopped.
        """
        digest, size = desc["digest"], desc.get("size")
        if store.has_blob(digest):
            return store.blob_path(digest)
        w = store.ingest(digest, size).open(resume=True)
        key = digest
        if progress:
            progress.start(key, digest[7:19], size)
            if w.offset:
                progress.advance(key, w.offset)
        attempt = 0
        try:
            while True:
                try:
                    self._download(repo, w, progress, key)
                    path = w.commit()
                    if progress:
                        progress.done(key)
                    return path
                except RegistryError as e:
                    if e.status is not None and e.status < 500 and e.status != 416:
                        raise
                    if e.status == 416:
                        w.restart()
                    attempt += 1
                    self.stats["retries"] += 1
                    if attempt > RETRIES:
                        raise RegistryError(f"blob {self.host}/{repo}@{digest}: {e}", e.status) from None
                    time.sleep(0.2 * 2 ** attempt)
        finally:
            w.close()

    def _download(self, repo: str, w, progress, key: str) -> None:
        headers = {}
        if w.offset:
            headers["Range"] = f"bytes={w.offset}-"
        resp = self.http.request("GET", f"/v2/{repo}/blobs/{w.digest}", headers=headers, stream=True,
                                 ok=(200, 206), scope=self.scope(repo), what=f"blob {self.host}/{repo}@{w.digest}")
        if w.offset:
            if resp.status == 206 and resp.headers.get("Content-Range", "").startswith(f"bytes {w.offset}-"):
                self.stats["resumed"] += 1
            else:
                w.restart()
                if progress:
                    progress.start(key, w.digest[7:19], w.size)
        try:
            while True:
                chunk = self.http.read_chunk(resp, 1 << 20, f"blob {self.host}/{repo}@{w.digest}")
                if not chunk:
                    break
                w.write(chunk)
                self.stats["bytes"] += len(chunk)
                if progress:
                    progress.advance(key, len(chunk))
        except (OSError, ValueError, http.client.HTTPException) as e:
            self.http.close()
            raise RegistryError(f"registry {self.host} connection lost: {network_reason(e)}") from None
        if resp.headers.get("Content-Length") and w.size is not None and w.offset < w.size:
            self.http.close()
            raise RegistryError(f"registry {self.host} connection lost after {w.offset} of {w.size} bytes")

    def blob_exists(self, repo: str, digest: str) -> bool:
        try:
            self.http.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=self.scope(repo, "pull,push"),
                              what=f"blob {digest}")
            return True
        except RegistryError as e:
            if e.status == 404:
                return False
            raise

    def start_upload(self, repo: str, mount: str | None = None, from_repo: str | None = None) -> str | None:
        """POST an upload; returns its location, or None when the blob was mounted (201)."""
        scope = self.scope(repo, "pull,push")
        query = ""
        if mount and from_repo:
            query = f"?{urllib.parse.urlencode({'mount': mount, 'from': from_repo})}"
            scope += " " + self.scope(from_repo, "pull")
        try:
            resp = self.http.request("POST", f"/v2/{repo}/blobs/uploads/{query}", ok=(201, 202), body=b"",
                                     headers={"Content-Length": "0"}, scope=scope,
                                     what=f"upload to {self.host}/{repo}")
        except RegistryError as e:
            if query and e.status in (401, 403):  # no pull right on the source: upload instead
                return self.start_upload(repo)
            raise
        if resp.status == 201:
            return None
        return urllib.parse.urljoin(resp.url, resp.headers["Location"])

    def upload_blob(self, repo: str, path: str, digest: str, *, chunk_size: int | None = None,
                    from_repo: str | None = None, progress=None) -> str:
        """Push one blob: skip if present, mount across repositories if possible, else upload.

        Returns ``"exists"``, ``"mounted"`` or ``"uploaded"``.
        """
        import os

        if self.blob_exists(repo, digest):
            self.stats["skipped"] += 1
            return "exists"
        location = self.start_upload(repo, digest, from_repo) if from_repo and from_repo != repo else \
            self.start_upload(repo)
        if location is None:
            self.stats["mounted"] += 1
            return "mounted"
        size = os.path.getsize(path)
        sep = "&" if "?" in location else "?"
        scope = self.scope(repo, "pull,push")
        if progress:
            progress.start(digest, digest[7:19], size)
        with open(path, "rb") as f:
            if not chunk_size or size <= chunk_size:
                self.http.request("PUT", f"{location}{sep}digest={digest}", body=f, ok=(201,), scope=scope,
                                  headers={"Content-Type": "application/octet-stream",
                                           "Content-Length": str(size)}, what=f"blob {digest}")
            else:
                offset = 0
                while offset < size:
                    data = f.read(chunk_size)
                    resp = self.http.request(
                        "PATCH", location, body=data, ok=(202,), scope=scope, what=f"blob {digest}",
                        headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data)),
                                 "Content-Range": f"{offset}-{offset + len(data) - 1}"})
                    offset += len(data)
                    location = urllib.parse.urljoin(resp.url, resp.headers["Location"])
                    if progress:
                        progress.advance(digest, len(data))
                sep = "&" if "?" in location else "?"
                self.http.request("PUT", f"{location}{sep}digest={digest}", body=b"", ok=(201,), scope=scope,
                                  headers={"Content-Length": "0"}, what=f"blob {digest}")
        if progress:
            progress.done(digest, "pushed")
        self.stats["uploaded"] += 1
        return "uploaded"
