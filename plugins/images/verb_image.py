"""``pycr image ls|inspect|rm|tag|prune|tags``, and the docker-style shortcuts ``rmi`` and ``tag``.

Removing a name never deletes content by itself: blobs go only when
``image prune`` (the store's GC) finds that no name and no container
still uses them.
"""

from __future__ import annotations

import json


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("ls", help="list images")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.add_argument("--digests", action="store_true")
    ins = sub.add_parser("inspect", help="show manifest, config and where it came from, as JSON")
    ins.add_argument("images", nargs="+")
    rm = sub.add_parser("rm", help="remove image names")
    rm.add_argument("images", nargs="+")
    tag = sub.add_parser("tag", help="give an image another name")
    tag.add_argument("source")
    tag.add_argument("target")
    sub.add_parser("prune", help="delete blobs and unpacked layers no image or container uses")
    tags = sub.add_parser("tags", help="list the tags of a repository in its registry")
    tags.add_argument("--insecure-registry", action="append", default=[], metavar="HOST")
    tags.add_argument("repository")


def run(opts, ns) -> int:
    from pycr.plugins.images.store import Store

    if ns.action == "tags":
        from pycr.plugins.images import transports

        src = transports.source(opts, "docker", insecure_registries=ns.insecure_registry)
        print("\n".join(sorted(src.tags(ns.repository))))
        return 0
    store = Store()
    if ns.action == "ls":
        from pycr.plugins.images import verb_images

        return verb_images.run(opts, ns)
    if ns.action == "inspect":
        return inspect(store, ns.images)
    if ns.action == "rm":
        return remove(store, ns.images)
    if ns.action == "tag":
        return tag(store, ns.source, ns.target)
    removed, freed = store.gc()
    print(f"Deleted {len(removed)} blobs, reclaimed {freed} bytes")
    return 0


def _find(store, text):
    from pycr.core import PycrError
    from pycr.plugins.images.transports import find_image

    name, img = find_image(store, text)
    if img is None:
        raise PycrError(f"No such image: {text}")
    return name, img


def inspect(store, texts) -> int:
    out = []
    for text in texts:
        _, img = _find(store, text)
        names = sorted(n for n, rec in store.refs().items() if rec["digest"] == img.digest)
        out.append({"Id": img.id, "Digest": img.digest, "RepoTags": names, "Size": img.size,
                    "Architecture": img.config.get("architecture"), "Os": img.config.get("os"),
                    "Created": img.config.get("created"), "Config": img.config.get("config", {}),
                    "RootFS": img.config.get("rootfs"), "Manifest": img.manifest})
    print(json.dumps(out, indent=1))
    return 0


def remove(store, texts) -> int:
    from pycr.core import PycrError
    from pycr.plugins.images import reference

    with store.edit_refs() as refs:
        for text in texts:
            try:
                name = str(reference.parse(text))
            except PycrError:
                name = None
            if name in refs:
                del refs[name]
                print(f"Untagged: {name}")
                continue
            _, img = _find(store, text)
            for n in [n for n, rec in refs.items() if rec["digest"] == img.digest]:
                del refs[n]
                print(f"Untagged: {n}")
    return 0


def tag(store, source, target) -> int:
    from pycr.plugins.images import reference

    name, img = _find(store, source)
    rec = store.refs().get(name or "", {})
    store.set_ref(str(reference.parse(target)), img.digest, index=rec.get("index"), source=rec.get("source"))
    return 0
