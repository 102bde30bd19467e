"""Pull and unpack speed: pycr versus skopeo and tar, on a local registry.

Builds (with umoci) an image of several layers of random data, about
``--mb`` MB in total, pushes it with skopeo to a docker-registry on
127.0.0.1, then times, each ``--repeat`` times from a cold start:

- ``pycr pull`` into an empty store   vs  ``skopeo copy docker://... oci:DIR``
- pycr unpacking every layer (flatten, as ``--rootfs chroot`` does)  vs  ``tar -xzf`` of each layer

and prints medians and ratios (pycr / other; below 1.0 means pycr is faster).

Run as root from the repository: ``.venv/bin/python bench/pull_vs_skopeo.py [--mb 200] [--layers 4]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.registry import RegistryServer, add_layer_from_dir, build_busybox_layout, skopeo_copy  # noqa: E402


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def drop_caches() -> None:
    """Best effort: flush dirty pages so one run's writeback does not bill the next."""
    os.sync()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200, help="total image size in MB (random data)")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from pycr.plugins.images.store import Store
    from pycr.plugins.images.unpack import unpack_layer
    from pycr.plugins.registry_oci import RegistrySource

    work = Path(tempfile.mkdtemp(prefix="pycr-bench-"))
    reg = RegistryServer(work / "registry")
    try:
        reg.start()
        layout = build_busybox_layout(work / "oci", "big")
        per_layer = (args.mb << 20) // args.layers
        for i in range(args.layers):
            d = work / f"data{i}"
            d.mkdir()
            with open(d / "random.bin", "wb") as f:
                for _ in range(per_layer >> 20):
                    f.write(os.urandom(1 << 20))
            add_layer_from_dir(layout, "big", d, f"/data{i}")
            shutil.rmtree(d)
        ref = f"{reg.host}/bench/big:latest"
        skopeo_copy(f"oci:{layout}:big", f"docker://{ref}")
        shutil.rmtree(work / "oci")

        pycr_pull, skopeo_pull, pycr_unpack, tar_unpack = [], [], [], []
        for i in range(args.repeat):
            store_dir = work / f"store{i}"
            drop_caches()
            pycr_pull.append(timed(lambda: RegistrySource().pull(Store(str(store_dir)), ref)))
            dest = work / f"skopeo{i}"
            drop_caches()
            skopeo_pull.append(timed(lambda: subprocess.run(
                ["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}",
                 f"oci:{dest}:x"], check=True)))
            store = Store(str(store_dir))
            img = store.image(store.refs()[ref]["digest"])
            blobs = [store.blob_path(x["digest"]) for x in img.layers]

            def pycr_flatten():
                target = work / f"rootfs{i}"
                target.mkdir()
                for b in blobs:
                    with open(b, "rb") as f:
                        unpack_layer(f, str(target), mode="flatten")

            def tar_flatten():
                target = work / f"tar{i}"
                target.mkdir()
                for b in blobs:
                    subprocess.run(["tar", "-xzf", b, "-C", str(target)], check=True, stderr=subprocess.DEVNULL)

            drop_caches()
            pycr_unpack.append(timed(pycr_flatten))
            drop_caches()
            tar_unpack.append(timed(tar_flatten))
            for d in (dest, work / f"rootfs{i}", work / f"tar{i}", store_dir):
                shutil.rmtree(d, ignore_errors=True)

        med = statistics.median
        size = sum(x.get("size", 0) for x in img.layers) / 1e6
        print(f"image: {args.layers} random layers + busybox, {size:.0f} MB compressed, {args.repeat} runs (median)")
        print(f"{'':24} {'pycr':>8} {'other':>8} {'ratio':>7}")
        print(f"{'pull vs skopeo copy':24} {med(pycr_pull):7.2f}s {med(skopeo_pull):7.2f}s "
              f"{med(pycr_pull) / med(skopeo_pull):7.2f}")
        print(f"{'unpack vs tar -xzf':24} {med(pycr_unpack):7.2f}s {med(tar_unpack):7.2f}s "
              f"{med(pycr_unpack) / med(tar_unpack):7.2f}")
        print(f"pull throughput: pycr {size / med(pycr_pull):.0f} MB/s, skopeo {size / med(skopeo_pull):.0f} MB/s")
    finally:
        reg.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
