"""``pycr images [--format json] [-q]``: list stored images (one row per name)."""

from __future__ import annotations

import json


def add_arguments(p) -> None:
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("-q", "--quiet", action="store_true", help="image ids only")
    p.add_argument("--digests", action="store_true", help="show manifest digests")


def rows(store) -> list[dict]:
    from pycr.core import PycrError

    out = []
    for name, rec in sorted(store.refs().items()):
        try:
            img = store.image(rec["digest"])
        except PycrError:
            continue
        repo, sep, tag = name.rpartition(":") if "@" not in name else (name.partition("@")[0], "@", "<none>")
        if "/" in tag:  # a port, not a tag
            repo, tag = name, "<none>"
        out.append({"name": name, "repository": repo, "tag": tag, "id": img.id, "digest": rec["digest"],
                    "index": rec.get("index"), "created": img.config.get("created"), "size": img.size,
                    "platform": f"{img.config.get('os')}/{img.config.get('architecture')}",
                    "layers": len(img.layers)})
    return out


def human(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}TB"


def run(opts, ns) -> int:
    from pycr.plugins.images.reference import short_name
    from pycr.plugins.images.store import Store

    data = rows(Store())
    if ns.format == "json":
        print(json.dumps(data, indent=1))
    elif ns.quiet:
        print("\n".join(dict.fromkeys(r["id"][7:19] for r in data)))
    else:
        print(f"{'REPOSITORY':<40} {'TAG':<12} {'IMAGE ID':<13} {'SIZE':>8}" + ("  DIGEST" if ns.digests else ""))
        for r in data:
            print(f"{short_name(r['repository']):<40} {r['tag']:<12} {r['id'][7:19]:<13} {human(r['size']):>8}"
                  + (f"  {r['digest']}" if ns.digests else ""))
    return 0
