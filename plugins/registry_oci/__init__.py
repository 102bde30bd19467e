"""registry_oci: pull and push images over the OCI distribution spec.

Registered as the ``registry`` image source (entry-point group
``pycr.image_source``); references without a transport prefix, or with
``docker://``, come here.  See ``docs/images.md``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pycr.core import PycrError, parse_json_object
from pycr.plugins import images

requires = ("images",)  # checked when this driver is chosen

PARALLEL = 4
#: an image config is read whole into memory: refuse absurd ones before fetching them
MAX_CONFIG = 8 << 20


def client_for(ref, insecure_registries=(), credentials=None):
    from . import authfile
    from .client import Registry

    host = ref.registry_host
    creds = credentials or authfile.get(ref.domain) or authfile.get(host)
    return Registry(host, insecure=host in insecure_registries or ref.domain in insecure_registries,
                    credentials=creds)


class RegistrySource:
    """The ``registry`` image source: ``pull`` into the store, ``push`` out of it."""

    name = "registry"

    def __init__(self, insecure_registries=(), credentials=None, quiet: bool = True, platform: str | None = None,
                 chunk_size: int | None = None, progress=None):
        self.insecure = tuple(insecure_registries)
        self.credentials = credentials
        self.quiet = quiet
        self.platform = platform
        self.chunk_size = chunk_size
        self.progress = progress  # an images.progress.Progress-like object; default: bars on a TTY
        self.last_client = None

    # -- pull -----------------------------------------------------------------
    def pull(self, store, spec: str) -> str:
        """Fetch ``spec`` (a docker reference) into ``store``; tag it; return the manifest digest."""
        ref = images.reference.parse(spec.removeprefix("docker://").removeprefix("//"))
        reg = self.last_client = client_for(ref, self.insecure, self.credentials)
        name = str(ref)
        media = images.media
        progress = self.progress or images.progress.Progress(enabled=False if self.quiet else None)
        with store.lock("gc", shared=True):  # GC must not collect blobs of a pull in progress
            data, mtype, digest = reg.get_manifest(ref.path, ref.ref)
            doc = parse_json_object(data, f"manifest {name}", PycrError)
            index_digest = None
            if media.kind_of(mtype or doc.get("mediaType"), doc) == "index":
                images.schema.validate("index", doc, f"index {name}")
                store.put_blob(data, digest)
                index_digest = digest
                desc = media.choose_platform(doc, self.platform, f"pull {name}")
                data, mtype, digest = reg.get_manifest(ref.path, desc["digest"], desc.get("mediaType"))
                doc = parse_json_object(data, f"manifest {name}@{digest}", PycrError)
                if media.kind_of(mtype or doc.get("mediaType"), doc) != "manifest":
                    raise PycrError(f"pull {name}: nested index is not supported")
            images.schema.validate("manifest", doc, f"manifest {name}")
            if int(doc["config"].get("size") or 0) > MAX_CONFIG:
                raise PycrError(f"pull {name}: config {doc['config']['digest']} is {doc['config']['size']} bytes, "
                                f"more than the {MAX_CONFIG}-byte limit for an image config")
            for layer in doc["layers"]:
                if layer.get("mediaType") not in media.LAYERS:
                    raise PycrError(f"pull {name}: layer {layer['digest']} has unsupported media "
                                                 f"type {layer.get('mediaType')!r}")
            blobs = [doc["config"], *doc["layers"]]

            def fetch(desc):
                with store.lock(desc["digest"]):
                    reg.fetch_blob(store, ref.path, desc, progress)

            with ThreadPoolExecutor(PARALLEL) as pool:
                errors = []
                for fut in [pool.submit(fetch, d) for d in blobs]:
                    try:
                        fut.result()
                    except Exception as e:  # report the first; let the others finish or fail
                        errors.append(e)
                if errors:
                    raise PycrError(f"pull {name}: {errors[0]}") from errors[0]
            config = store.read_json(doc["config"]["digest"])
            images.schema.validate("config", config, f"config of {name}")
            store.put_blob(data, digest)
            tag_name = name if not ref.digest else f"{ref.repository}@{ref.digest}"
            store.set_ref(tag_name, digest, index=index_digest, source=ref.repository)
        return digest

    # -- push -----------------------------------------------------------------
    def push(self, store, image, spec: str) -> str:
        """Push a stored image to ``spec``; return the manifest digest the registry holds."""
        ref = images.reference.parse(spec.removeprefix("docker://").removeprefix("//"))
        reg = self.last_client = client_for(ref, self.insecure, self.credentials)
        progress = self.progress or images.progress.Progress(enabled=False if self.quiet else None)
        sources = {rec.get("source") for rec in store.refs().values() if rec["digest"] == image.digest}
        from_repo = next((s.split("/", 1)[1] for s in sources if s and s.startswith(ref.domain + "/")), None)
        blobs = [*image.layers, image.manifest["config"]]
        missing = [d["digest"] for d in blobs if not store.has_blob(d["digest"])]
        if missing:
            raise PycrError(f"push {ref}: blob {missing[0]} of image {image.digest} is missing from the store "
                            f"{store.root} (pull the image again)")

        def send(desc):
            return reg.upload_blob(ref.path, store.blob_path(desc["digest"]), desc["digest"],
                                   chunk_size=self.chunk_size, from_repo=from_repo, progress=progress)

        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(send, blobs))
        data = store.read_blob(image.digest)
        mtype = image.manifest.get("mediaType") or images.media.OCI_MANIFEST
        return reg.put_manifest(ref.path, ref.tag or ref.digest or "latest", data, mtype)

    # -- credentials ----------------------------------------------------------
    def login(self, host: str, user: str, password: str) -> str:
        """Check the credentials against ``host`` (``GET /v2/``), then save them; return the file."""
        from . import authfile
        from .client import Registry

        reg = Registry(host, insecure=host in self.insecure, credentials=(user, password))
        try:
            reg.ping()
        except PycrError as e:
            if getattr(e, "status", None) == 401:
                raise PycrError(f"login {host}: unauthorized: incorrect username or password") from None
            raise
        return authfile.store(host, user, password)

    def logout(self, host: str) -> bool:
        from . import authfile

        return authfile.remove(host)

    def tags(self, spec: str) -> list[str]:
        ref = images.reference.parse(spec)
        return client_for(ref, self.insecure, self.credentials).tags(ref.path)
