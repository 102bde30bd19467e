"""Same Dockerfile, same image tree: pycr vs buildah (files and config), and pycr's overlay vs chroot diffs.

buildah (Debian's package) builds with ``--isolation chroot`` into its own
storage under the test's directory, pushes to an OCI layout, and pycr pulls
that layout; both images are then flattened with pycr's unpacker and
compared path by path: type and mode, owner, content or link target.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

from tests.integration.test_build import config_of, context, pycr  # noqa: F401 (pycr: the fixture)

pytestmark = pytest.mark.root

DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /etc /data && printf 'root:x:0:0:root:/root:/bin/sh\\nweb:x:33:44::/:/bin/sh\\n' > /etc/passwd && \\
    echo 'www:x:44:' > /etc/group && echo gone > /data/gone && ln -s /data/kept /link
RUN rm /data/gone && echo kept > /data/kept && chmod 640 /data/kept && chown 33:44 /data/kept
WORKDIR /app
COPY --chown=web:www app/ /app/
COPY --chmod=0755 run.sh /usr/local/bin/
ADD files.tar /opt/
ENV MODE=prod PATH=/usr/local/bin:/bin
ARG FLAVOUR=plain
LABEL org.example.role=test
EXPOSE 8080/tcp
VOLUME /data
USER web
STOPSIGNAL SIGTERM
ENTRYPOINT ["run.sh"]
CMD ["--serve"]
"""
# What buildah's RUN leaves behind that docker's and pycr's do not: its mount points and the
# empty files it bind-mounts over, and its version label.
BUILDAH_ONLY = {"dev", "proc", "sys", "run", "etc/hostname", "etc/hosts", "etc/resolv.conf"}


def flat_tree(store, manifest: dict, dest) -> dict:
    from pycr.plugins.images.unpack import unpack_layer

    os.makedirs(dest)
    for layer in manifest["layers"]:
        with open(store / "blobs/sha256" / layer["digest"][7:], "rb") as f:
            unpack_layer(f, str(dest), mode="flatten", layer_name=layer["digest"])
    out = {}
    for root, dirs, files in os.walk(dest):
        for name in dirs + files:
            p = os.path.join(root, name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                what = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
            else:
                what = ""
            out[os.path.relpath(p, dest)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                                             st.st_gid, what)
    return out


def test_same_tree_and_config_as_buildah(pycr, tmp_path):
    if shutil.which("buildah") is None:
        pytest.fail("buildah missing: apt-get install buildah")
    ctx = context(tmp_path, DOCKERFILE, {"app/main.txt": "print hi\n", "app/lib/x": "x\n",
                                         "run.sh": "#!/bin/sh\necho run \"$@\"\n"})
    with tarfile.open(ctx / "files.tar", "w") as tf:
        src = tmp_path / "pkg"
        (src / "sub").mkdir(parents=True)
        (src / "sub" / "a").write_text("a\n")
        os.chmod(src / "sub" / "a", 0o604)
        tf.add(src, arcname="pkg")
    bdir = tmp_path / "buildah"
    buildah = ["buildah", "--root", str(bdir / "root"), "--runroot", str(bdir / "run"), "--storage-driver", "vfs"]
    try:
        subprocess.run([*buildah, "bud", "--isolation", "chroot", "--format", "oci", "-t", "interop", str(ctx)],
                       check=True, capture_output=True, timeout=600)
        subprocess.run([*buildah, "push", "interop", f"oci:{tmp_path / 'layout'}:latest"], check=True,
                       capture_output=True, timeout=300)
    finally:
        subprocess.run([*buildah, "rmi", "--all", "--force"], capture_output=True, timeout=120)
        shutil.rmtree(bdir, ignore_errors=True)
    pycr("build", "-t", "interop", ctx, check=0)
    pycr("pull", "-q", f"oci:{tmp_path / 'layout'}:latest", check=0)
    import json

    refs = json.loads((pycr.store / "refs.json").read_text())
    ours = json.loads((pycr.store / "blobs/sha256" / refs["docker.io/library/interop:latest"]["digest"][7:]).read_text())
    theirs = json.loads((pycr.store / "blobs/sha256" / refs["localhost/layout:latest"]["digest"][7:]).read_text())
    a = flat_tree(pycr.store, ours, tmp_path / "flat-pycr")
    b = flat_tree(pycr.store, theirs, tmp_path / "flat-buildah")
    b = {k: v for k, v in b.items() if k not in BUILDAH_ONLY}
    assert len(a) > 250  # busybox's applets and the files above
    assert a == b
    assert a["data/kept"][1:4] == (0o640, 33, 44) and "data/gone" not in a and a["link"][4] == "/data/kept"
    assert a["app/lib/x"][2:4] == (33, 44) and a["usr/local/bin/run.sh"][1] == 0o755
    ca = config_of(pycr.store, "docker.io/library/interop:latest")
    cb = config_of(pycr.store, "localhost/layout:latest")
    cb["config"]["Labels"].pop("io.buildah.version", None)
    assert ca["config"] == cb["config"]
    assert (ca["os"], ca["architecture"]) == (cb["os"], cb["architecture"])
    # one history entry per instruction in both, ARG included, in the file's order (buildah without
    # --layers commits one layer for all)
    instructions = DOCKERFILE.replace("\\\n", "").splitlines()[1:]

    def kinds(config):
        return [h["created_by"].split("#(nop) ", 1)[1].split()[0] if "#(nop) " in h["created_by"] else "RUN"
                for h in config["history"]]

    assert kinds(ca) == kinds(cb) == [line.split()[0] for line in instructions]
    assert all(h.get("empty_layer") for h, kind in zip(ca["history"], kinds(ca))
               if kind not in ("RUN", "COPY", "ADD", "WORKDIR"))


def test_overlay_and_chroot_diffs_give_the_same_image_tree(pycr, tmp_path):
    """The two ways a RUN's change is read (overlay upper dir, before/after walk) agree, opaque dirs included."""
    ctx = context(tmp_path, BASE_RUNS)
    trees = {}
    for rootfs in ("overlay", "chroot"):
        pycr("build", "--no-cache", "-t", f"via-{rootfs}", ctx, rootfs=rootfs, check=0)
        import json

        refs = json.loads((pycr.store / "refs.json").read_text())
        m = json.loads((pycr.store / "blobs/sha256" / refs[f"docker.io/library/via-{rootfs}:latest"]["digest"][7:])
                       .read_text())
        trees[rootfs] = flat_tree(pycr.store, m, tmp_path / f"flat-{rootfs}")
        with tarfile.open(pycr.store / "blobs/sha256" / m["layers"][-1]["digest"][7:]) as tf:
            names = set(tf.getnames())
        # overlay sees a directory replaced as opaque; the walk sees its old entries gone
        assert ({"dir/.wh..wh..opq", ".wh.gone"} if rootfs == "overlay" else {"dir/.wh.old", "dir/.wh.sub",
                                                                                ".wh.gone"}) <= names, names
    assert trees["overlay"] == trees["chroot"]
    assert "dir/old" not in trees["overlay"] and "dir/new" in trees["overlay"] and "gone" not in trees["overlay"]
    assert trees["overlay"]["changed"][1:4] == (0o600, 5, 6)


BASE_RUNS = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /dir/sub && echo old > /dir/old && echo x > /dir/sub/x && echo g > /gone && echo c > /changed
RUN rm -rf /dir /gone && mkdir /dir && echo new > /dir/new && chmod 600 /changed && chown 5:6 /changed && \\
    echo more >> /changed && ln -s /dir/new /link && mkfifo /fifo
"""
