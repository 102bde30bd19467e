"""``pycr build``: real Dockerfiles built on the real kernel, run with ``pycr run``, cached, refused."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
STRATEGIES = ["overlay", "chroot"]
BUSYBOX = "/bin/busybox"


@pytest.fixture
def pycr(tmp_path):
    """The ``pycr`` CLI with a private store and state root; checks nothing is left behind."""
    store, state = tmp_path / "store", tmp_path / "run"
    env = {**os.environ, "PYCR_STORAGE": str(store)}

    def call(*args, rootfs="overlay", check=None, stdin=None):
        r = subprocess.run([sys.executable, "-m", "pycr.core.cli.main", "--root", str(state), "--rootfs", rootfs,
                            *map(str, args)], capture_output=True, text=True, env=env, timeout=300, input=stdin)
        if check is not None:
            assert r.returncode == check, r.stdout + r.stderr
        return r

    call.store = store
    yield call
    with open("/proc/mounts") as f:
        assert str(tmp_path) not in f.read(), "a mount was left behind"
    for sub in ("containers", "tmp"):
        if (store / sub).exists():
            assert os.listdir(store / sub) == [], f"{sub}/ is not empty"
    if state.exists():
        assert [n for n in os.listdir(state) if not n.startswith(".")] == []


def context(tmp_path: Path, dockerfile: str, files: dict[str, str | bytes] | None = None, busybox=True) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    if busybox:
        shutil.copy(BUSYBOX, ctx / "busybox")
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, content in (files or {}).items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return ctx


BASE = "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"


def manifest_of(store: Path, name: str) -> dict:
    refs = json.loads((store / "refs.json").read_text())
    digest = refs[name]["digest"]
    return json.loads((store / "blobs/sha256" / digest[7:]).read_text())


def config_of(store: Path, name: str) -> dict:
    m = manifest_of(store, name)
    return json.loads((store / "blobs/sha256" / m["config"]["digest"][7:]).read_text())


def layer_names(store: Path, desc: dict) -> list[str]:
    with tarfile.open(store / "blobs/sha256" / desc["digest"][7:]) as tf:
        return tf.getnames()


def store_state(store: Path) -> tuple:
    refs = (store / "refs.json").read_text() if (store / "refs.json").exists() else ""
    blobs = sorted(os.listdir(store / "blobs/sha256")) if (store / "blobs/sha256").exists() else []
    return refs, blobs


@pytest.mark.parametrize("rootfs", STRATEGIES)
def test_scratch_busybox_config_run_user_workdir_and_whiteouts(pycr, tmp_path, rootfs):
    ctx = context(tmp_path, BASE + """\
RUN mkdir -p /etc && echo 'app:x:1000:1000:app:/home/app:/bin/sh' > /etc/passwd.new && \\
    printf 'root:x:0:0:root:/root:/bin/sh\\napp:x:1000:1000:app:/home/app:/bin/sh\\n' > /etc/passwd && \\
    echo doomed > /doomed && mkdir -p /keep && echo k > /keep/k
RUN rm /doomed /etc/passwd.new
WORKDIR /work/dir
USER app
RUN id -u; pwd
USER root
RUN test ! -e /doomed && test "$(id -u)" = 0
USER 1000:1000
ENV GREETING="hi there" OTHER=x
LABEL org.example.a=1 "org.example.b"="two words"
EXPOSE 8080 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=30s --retries=3 CMD echo ok
ONBUILD RUN echo triggered > /onbuild
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $GREETING; id -u; pwd; ls /; cat /keep/k"]
""")
    r = pycr("build", "-t", "first", "--label", "extra=yes", ctx, rootfs=rootfs, check=0)
    assert "[2/8] COPY busybox /bin/busybox" in r.stderr and "CACHED" not in r.stderr
    run7 = [line.split(" ", 2)[2] for line in r.stderr.splitlines() if line.startswith("#7 0")]
    assert run7 == ["1000", "/work/dir"]  # the RUN saw USER and WORKDIR
    image_id = r.stdout.strip()
    cfg = config_of(pycr.store, "docker.io/library/first:latest")
    assert "sha256:" + (pycr.store / "blobs/sha256" / image_id[7:]).name[0:64] == image_id
    c = cfg["config"]
    assert c["User"] == "1000:1000" and c["WorkingDir"] == "/work/dir"
    assert "GREETING=hi there" in c["Env"] and "OTHER=x" in c["Env"]
    assert c["Labels"] == {"org.example.a": "1", "org.example.b": "two words", "extra": "yes"}
    assert c["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert c["Volumes"] == {"/data": {}} and c["StopSignal"] == "SIGUSR1"
    assert c["Healthcheck"] == {"Test": ["CMD-SHELL", "echo ok"], "Interval": 30 * 10**9, "Retries": 3}
    assert c["OnBuild"] == ["RUN echo triggered > /onbuild"] and c["Shell"] == ["/bin/sh", "-ec"]
    assert c["Entrypoint"] == ["/bin/sh", "-c"] and c["Cmd"] == ["echo $GREETING; id -u; pwd; ls /; cat /keep/k"]
    assert cfg["created"].endswith("Z") and cfg["os"] == "linux"
    m = manifest_of(pycr.store, "docker.io/library/first:latest")
    from pycr.plugins.images import schema

    schema.validate("manifest", m, "built manifest")  # the image-spec's own JSON schemas
    schema.validate("config", cfg, "built config")
    assert cfg["rootfs"]["diff_ids"] == [x["digest"] for x in m["layers"]]
    assert len(cfg["history"]) == 20 and sum(not h.get("empty_layer") for h in cfg["history"]) == len(m["layers"])
    # the RUN that deleted files of an earlier layer made whiteouts
    assert sorted(layer_names(pycr.store, m["layers"][3])) == [".wh.doomed", "etc", "etc/.wh.passwd.new"]
    for layer in m["layers"]:
        names = layer_names(pycr.store, layer)
        assert not {"proc", "sys", "dev"} & set(names), "runtime mount points leaked into a layer"
    r = pycr("run", "--rm", "first", rootfs=rootfs, check=0)
    lines = r.stdout.splitlines()
    assert lines[0] == "hi there" and lines[1] == "1000" and lines[2] == "/work/dir"
    assert "doomed" not in lines and lines[-1] == "k"


def test_cache_hits_misses_no_cache_and_prune(pycr, tmp_path):
    ctx = context(tmp_path, BASE + "COPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCOPY b.txt /b.txt\n"
                  "RUN cat /b.txt >> /copy\n", {"a.txt": "A\n", "b.txt": "B\n"})
    first = pycr("build", "-t", "c", ctx, check=0)
    assert "CACHED" not in first.stderr
    again = pycr("build", "-t", "c", ctx, check=0)
    assert again.stderr.count("CACHED") == 6 and again.stdout == first.stdout  # no work, same image id
    assert "RUN cat" not in again.stderr.replace("] RUN cat", "")  # no RUN output: nothing ran
    (ctx / "b.txt").write_text("B2\n")
    changed = pycr("build", "-t", "c", ctx, check=0)
    steps = [line for line in changed.stderr.splitlines() if line.endswith("CACHED")]
    assert len(steps) == 4, changed.stderr  # FROM..RUN cat /a.txt cached; COPY b.txt and after rebuilt
    assert changed.stdout != first.stdout
    out = pycr("run", "--rm", "c", "cat", "/copy", check=0).stdout
    assert out == "A\nB2\n"
    touched = pycr("build", "--no-cache", "-t", "c", ctx, check=0)
    assert "CACHED" not in touched.stderr
    pycr("rmi", "c", check=0)
    pycr("image", "prune", check=0)  # collects the layers only the cache named: those records become misses
    assert "CACHED" not in pycr("build", "-t", "c", ctx, check=0).stderr
    pruned = pycr("builder", "prune", check=0)
    assert "Deleted" in pruned.stdout and int(pruned.stdout.split()[1]) > 0
    after = pycr("build", "-t", "c", ctx, check=0)
    assert "CACHED" not in after.stderr


def test_dockerignore_with_exceptions_and_doublestar(pycr, tmp_path):
    ctx = context(tmp_path, BASE + "COPY . /ctx/\nRUN cd /ctx && find . -type f | sort\n", {
        ".dockerignore": "# comment\n**/*.log\nsecret\ndocs\n!docs/keep.md\n/tmpdir\n",
        "a.log": "x", "sub/deep/b.log": "x", "secret": "s", "docs/x.md": "x", "docs/keep.md": "k",
        "tmpdir/f": "x", "sub/ok.txt": "ok"})
    r = pycr("build", "-t", "ign", ctx, check=0)
    found = sorted(line.split()[-1] for line in r.stderr.splitlines() if " ./" in line)
    assert found == ["./.dockerignore", "./Dockerfile", "./busybox", "./docs/keep.md", "./sub/ok.txt"]
    (ctx / "Dockerfile").write_text(BASE + "COPY secret /s\n")
    r = pycr("build", "-t", "ign2", ctx)
    errors = [line for line in r.stderr.splitlines() if not line.startswith("#")]
    assert r.returncode != 0 and errors == [
        "Dockerfile:4: COPY: secret not found in the build context (excluded by .dockerignore)"]


def test_arg_scoping_build_args_and_env_precedence(pycr, tmp_path):
    ctx = context(tmp_path, """\
ARG BASE=scratch
ARG GLOBAL=g-default
FROM $BASE AS one
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ARG GLOBAL
ARG LOCAL=l-default
ARG SHADOW=arg
ARG TARGETARCH
ENV SHADOW=env
RUN echo "one:[$GLOBAL][$LOCAL][$SHADOW][${MISSING:-fallback}][${LOCAL:+set}][$TARGETARCH][$BUILDOS]" > /one
FROM one
RUN echo "two:[$GLOBAL][$LOCAL]" > /two
ENV FROM_ARG=${GLOBAL:-none}
CMD cat /one /two
""")
    r = pycr("build", "-t", "args", "--build-arg", "LOCAL=from-cli", "--build-arg", "UNUSED=1", ctx, check=0)
    assert "build-args not consumed by any ARG: UNUSED" in r.stderr
    out = pycr("run", "--rm", "args", check=0).stdout
    assert out == "one:[g-default][from-cli][env][fallback][set][amd64][]\ntwo:[][]\n"  # BUILDOS: not declared
    cfg = config_of(pycr.store, "docker.io/library/args:latest")
    assert "FROM_ARG=none" in cfg["config"]["Env"] and "SHADOW=env" in cfg["config"]["Env"]
    assert not any("LOCAL" in e for e in cfg["config"]["Env"])  # build args are not kept in the image
    r = pycr("build", "-t", "args", "--build-arg", "LOCAL=other", ctx, check=0)
    assert r.stderr.count("CACHED") == 2  # COPY and the busybox RUN; the RUN using LOCAL reran


def test_multistage_registry_base_copy_from_target_and_stdin(pycr, tmp_path, busybox_ref):
    ctx = context(tmp_path, f"""\
FROM {busybox_ref} AS builder
RUN mkdir -p /out && echo built > /out/artifact && echo unused > /out/other
FROM scratch AS unused
COPY nothing-here /x
FROM scratch
COPY --from=builder /out/artifact /artifact
COPY --from=builder /bin/busybox /bin/busybox
COPY --from={busybox_ref} /bin/busybox /bin/busybox2
CMD ["/bin/busybox", "cat", "/artifact"]
""", busybox=False)
    r = pycr("build", "-t", "multi", ctx, check=0)  # the stage nothing needs is neither checked nor built
    assert "[builder 2/2] RUN mkdir" in r.stderr and "nothing-here" not in r.stderr
    again = pycr("build", "-t", "multi", ctx, check=0)
    assert again.stdout == r.stdout and again.stderr.count("CACHED") == 4  # RUN + 3 COPYs, --from ones included
    assert pycr("run", "--rm", "multi", check=0).stdout == "built\n"
    cfg = config_of(pycr.store, "docker.io/library/multi:latest")
    assert len(cfg["rootfs"]["diff_ids"]) == 3
    r = pycr("build", "-t", "first-stage", "--target", "builder", ctx, check=0)
    assert pycr("run", "--rm", "first-stage", "cat", "/out/other", check=0).stdout == "unused\n"
    r = pycr("build", "-t", "stdin", "-", stdin=f"FROM {busybox_ref}\nRUN echo from-stdin > /f\nCMD cat /f\n", check=0)
    assert pycr("run", "--rm", "stdin", check=0).stdout == "from-stdin\n"


def test_stages_build_in_dependency_order_unused_ones_skipped_and_cycles_refused(pycr, tmp_path):
    """A stage may name one below it (buildkit's order of dependency, not the file's); a stage the
    target does not need is neither checked nor built, even one that would fail."""
    ctx = context(tmp_path, """\
FROM scratch AS final
COPY --from=maker /out/msg /msg
COPY --from=3 /bin/busybox /bin/busybox
CMD ["/bin/busybox", "cat", "/msg"]
FROM tools AS maker
RUN mkdir /out && echo made-below > /out/msg
FROM scratch AS broken
COPY nothing-here /x
RUN ["/bin/busybox", "false"]
FROM scratch AS tools
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
""")
    r = pycr("build", "-t", "ordered", "--target", "final", ctx, check=0)
    steps = [line.split("] ", 1)[0].split("[", 1)[1] for line in r.stderr.splitlines() if " [" in line]
    assert steps == ["internal", "tools 2/3", "tools 3/3", "maker 2/2", "final 2/3", "final 3/3"], r.stderr
    assert "broken" not in r.stderr and "nothing-here" not in r.stderr
    assert pycr("run", "--rm", "ordered", check=0).stdout == "made-below\n"
    r = pycr("build", "-t", "maker-only", "--target", "maker", ctx, check=0)
    assert "[tools 3/3]" in r.stderr and "final" not in r.stderr and "broken" not in r.stderr
    assert pycr("run", "--rm", "maker-only", "cat", "/out/msg", check=0).stdout == "made-below\n"
    r = pycr("build", "-t", "broken", "--target", "broken", ctx)  # the stage skipped above does fail on its own
    assert r.returncode != 0 and "Dockerfile:8: COPY: nothing-here not found in the build context" in r.stderr
    before = store_state(pycr.store)
    (ctx / "Dockerfile").write_text("FROM scratch AS one\nCOPY --from=two /a /a\nFROM scratch AS two\n"
                                    "COPY --from=one /b /b\nFROM scratch\nCOPY busybox /bin/busybox\n")
    r = pycr("build", "-t", "cycle", ctx)  # the cycle is in stages the target does not need: refused all the same
    errors = [line for line in r.stderr.splitlines() if not line.startswith("#")]
    assert r.returncode != 0 and errors == [
        "Dockerfile:4: COPY: circular dependency between stages: one -> two -> one (each needs the next)"], r.stderr
    assert store_state(pycr.store) == before


def test_thousands_of_metadata_instructions_edit_the_config_and_history_as_docker(pycr, tmp_path):
    """Metadata instructions cost no layer or file each (see bench/build_vs_buildah.py for the time);
    what they make is still one history entry each, docker's Env order, and a cache keyed on each."""
    lines = ["ARG BASE=scratch", "FROM $BASE", "COPY busybox /bin/busybox"]
    for i in range(1500):
        lines += [f"LABEL l{i}=v{i}", f"ENV E{i % 50}=x{i}", f"EXPOSE {1000 + i}", f"ARG A{i % 7}=a{i}",
                  f"WORKDIR /w{i % 3}"]
    lines += ["ENV E0=last FIRST=$E1", 'CMD ["/bin/busybox", "sh", "-c", "echo $E0 $E49 $FIRST; pwd"]']
    ctx = context(tmp_path, "\n".join(lines) + "\n")
    first = pycr("build", "-q", "-t", "many", ctx, check=0).stdout
    cfg = config_of(pycr.store, "docker.io/library/many:latest")
    c = cfg["config"]
    assert len(c["Labels"]) == 1500 and c["Labels"]["l1499"] == "v1499" and len(c["ExposedPorts"]) == 1500
    env = [e for e in c["Env"] if not e.startswith("PATH=")]
    assert env[:3] == ["E0=last", "E1=x1451", "E2=x1452"] and env[-1] == "FIRST=x1451" and len(env) == 51
    history = cfg["history"]
    assert len(history) == len(lines) - 2  # every instruction after FROM, ARG included
    assert len(m := manifest_of(pycr.store, "docker.io/library/many:latest")["layers"]) == 4  # busybox, /w0-2
    assert sum(not h.get("empty_layer") for h in history) == len(m)
    assert history[3]["created_by"] == "/bin/sh -c #(nop) EXPOSE 1000/tcp"  # this instruction's ports only
    assert history[4]["created_by"] == "/bin/sh -c #(nop) ARG A0=a0"
    assert pycr("run", "--rm", "many", check=0).stdout == "last x1499 x1451\n/w2\n"
    assert pycr("build", "-q", "-t", "many", ctx, check=0).stdout == first  # all from the cache
    assert lines[1003] == "LABEL l200=v200"
    lines[1003] = "LABEL l200=changed"
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
    assert pycr("build", "-q", "-t", "many", ctx, check=0).stdout != first
    assert config_of(pycr.store, "docker.io/library/many:latest")["config"]["Labels"]["l200"] == "changed"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def test_copy_add_chown_chmod_wildcards_tar_url_heredoc(pycr, tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    (served / "remote.txt").write_text("fetched\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Quiet(*a, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fetched_sha = hashlib.sha256(b"fetched\n").hexdigest()
    try:
        ctx = context(tmp_path, BASE + f"""\
RUN mkdir -p /etc && echo 'web:x:33:44:web:/:/bin/sh' > /etc/passwd && echo 'www:x:44:' > /etc/group
COPY --chown=web:www --chmod=0600 conf/*.conf /etc/app/
COPY --chown=7:8 conf /conf
ADD bundle.tar.gz /opt/
ADD http://127.0.0.1:{server.server_address[1]}/remote.txt /remote/
ADD --checksum=sha256:{fetched_sha} http://127.0.0.1:{server.server_address[1]}/remote.txt /checked
COPY <<EOF /inline.txt
line one
EOF
RUN <<EOT
set -e
stat -c '%n %a %u %g' /etc/app/x.conf /etc/app/y.conf /conf/x.conf /opt/pkg/a /remote/remote.txt
cat /opt/pkg/sub/b /checked /inline.txt
test ! -e /etc/app/z.txt
EOT
""", {"conf/x.conf": "x", "conf/y.conf": "y", "conf/z.txt": "z"})
        _tar(ctx / "bundle.tar.gz", [("pkg/a", "f", "a\n"), ("pkg/sub/b", "f", "b\n")], mode="w:gz", file_mode=0o640)
        r = pycr("build", "-t", "files", ctx, check=0)
    finally:
        server.shutdown()
        server.server_close()
    out = [line.split(" ", 2)[2] for line in r.stderr.splitlines() if line.startswith("#11 0")]
    assert "/etc/app/x.conf 600 33 44" in out and "/etc/app/y.conf 600 33 44" in out
    assert "/conf/x.conf 644 7 8" in out and "/opt/pkg/a 640 0 0" in out and "/remote/remote.txt 600 0 0" in out
    assert out[-3:] == ["b", "fetched", "line one"]


# GET /f.txt: BODY; GET /to?URL: a 302 to URL.  Prints "ready" once listening.
_SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.startswith("/to?"):
            self.send_response(302); self.send_header("Location", self.path[4:]); self.end_headers(); return
        body = sys.argv[2].encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
srv = http.server.HTTPServer((sys.argv[1], 8080), H)
print("ready", flush=True)
srv.serve_forever()
"""


def test_no_local_urls_refuses_this_host_and_link_local_not_a_peer(pycr, tmp_path):
    """``--no-local-urls`` (what pycr serve builds with): ADD fetches from a peer, never from this
    host's loopback or own addresses or link-local, a redirect included (checked on each hop)."""
    from tests.helpers.netns import drop_nethost, make_nethost

    h = make_nethost()  # "the host" (192.0.2.1 on wan0) and a peer (192.0.2.2)
    servers = []
    try:
        for ns, bind, body in ((h.wan, "192.0.2.2", "peer\n"), (h.name, "0.0.0.0", "host\n")):
            servers.append(subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", _SERVER, bind, body],
                                            stdout=subprocess.PIPE, text=True))
            assert servers[-1].stdout.readline() == "ready\n"
        env = {**os.environ, "PYCR_STORAGE": str(pycr.store)}

        def build(url: str, *flags: str) -> subprocess.CompletedProcess:
            return subprocess.run(["nsenter", f"--net=/run/netns/{h.name}", sys.executable, "-m",
                                   "pycr.core.cli.main", "--root", str(tmp_path / "run"), "build", "-q", *flags,
                                   "-t", "fetched", "-"], input=f"FROM scratch\nADD {url} /f\n",
                                  capture_output=True, text=True, env=env, timeout=120)

        def fetched() -> str:
            layer = manifest_of(pycr.store, "docker.io/library/fetched:latest")["layers"][0]
            with tarfile.open(pycr.store / "blobs/sha256" / layer["digest"][7:]) as tf:
                return tf.extractfile("f").read().decode()

        assert build("http://192.0.2.2:8080/f.txt", "--no-local-urls").returncode == 0 and fetched() == "peer\n"
        assert build("http://127.0.0.1:8080/f.txt").returncode == 0 and fetched() == "host\n"  # not guarded
        why = ": a build through the API fetches from no address of this host and none link-local (pycr serve " \
              "--allow-privileged allows it)"
        before = store_state(pycr.store)
        for url, what in (("http://127.0.0.1:8080/f.txt", "127.0.0.1 is a loopback address"),
                          ("http://localhost:8080/f.txt", "localhost (127.0.0.1) is a loopback address"),
                          ("http://[::1]:8080/f.txt", "::1 is a loopback address"),
                          ("http://0.0.0.0:8080/f.txt", "0.0.0.0 is the unspecified address"),
                          ("http://192.0.2.1:8080/f.txt", "192.0.2.1 is an address of this host"),
                          ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
                          ("http://192.0.2.2:8080/to?http://127.0.0.1:8080/f.txt", "127.0.0.1 is a loopback address"),
                          ("http://2130706433:8080/f.txt", "2130706433 (127.0.0.1) is a loopback address"),
                          # urllib follows a redirect to ftp:// too, through ftplib's own unguarded socket
                          ("http://192.0.2.2:8080/to?ftp://127.0.0.1:8080/f.txt",
                           "redirected to ftp://127.0.0.1:8080/f.txt: a build through the API follows only http "
                           "and https redirects")):
            r = build(url, "--no-local-urls")
            tail = "" if what.startswith("redirected") else why
            assert r.returncode != 0 and r.stderr.splitlines() == [
                f"Dockerfile:2: ADD: cannot fetch {url}: {what}{tail}"], r.stderr
            assert store_state(pycr.store) == before
    finally:
        for p in servers:
            p.kill()
            p.wait()
        drop_nethost(h)


@pytest.mark.parametrize("rootfs", STRATEGIES)
def test_failing_run_prints_output_and_code_and_names_nothing(pycr, tmp_path, rootfs):
    ctx = context(tmp_path, BASE + "RUN echo about to fail; echo on-stderr >&2; exit 3\n")
    pycr("build", "-t", "ok", "-", stdin="FROM scratch\nLABEL a=b\n", check=0)
    before = json.loads((pycr.store / "refs.json").read_text())
    r = pycr("build", "-t", "bad", ctx, rootfs=rootfs)
    assert r.returncode != 0
    assert "about to fail" in r.stderr and "on-stderr" in r.stderr and "exit code: 3" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert r.stderr.strip().splitlines()[-1].startswith("pycr: Dockerfile:4: ") or "Dockerfile:4" in \
        r.stderr.strip().splitlines()[-1]
    assert json.loads((pycr.store / "refs.json").read_text()) == before
    q = pycr("build", "-q", "-t", "bad", ctx, rootfs=rootfs)
    assert q.returncode != 0 and "about to fail" in q.stderr  # -q still shows the failing step's output
    (ctx / "Dockerfile").write_text(BASE + 'RUN ["/no/such/program"]\n')
    r = pycr("build", "-t", "bad", ctx, rootfs=rootfs)
    errors = [line for line in r.stderr.splitlines() if not line.startswith("#")]
    assert r.returncode != 0 and len(errors) == 1 and errors[0].startswith("Dockerfile:4: RUN: ") and \
        "/no/such/program" in errors[0]
    assert json.loads((pycr.store / "refs.json").read_text()) == before


@pytest.mark.parametrize("dockerfile, needle", [
    ("FROM scratch\nCOPY busybox /b\nFROM a b c\n", "Dockerfile:3: FROM"),
    ("FROM scratch\n\nBOGUS thing\n", "Dockerfile:3: unknown instruction: BOGUS"),
    ("FROM scratch\nRUN\n", "Dockerfile:2: RUN requires at least one argument"),
    ("FROM scratch\nCOPY ../outside /x\n", "Dockerfile:2: COPY: ../outside is outside the build context"),
    ("FROM scratch\nCOPY missing.txt /x\n", "Dockerfile:2: COPY: missing.txt not found in the build context"),
    ("FROM scratch\nCOPY --bogus=1 busybox /x\n", "Dockerfile:2: COPY: unknown flag: --bogus"),
    ("FROM scratch\nRUN --mount=type=cache,target=/c true\n", "Dockerfile:2: RUN: --mount is not supported"),
    ("FROM scratch\nADD --checksum=sha256:" + "0" * 64 + " busybox /x\n",
     "Dockerfile:2: ADD: busybox: checksum sha256:"),
    ("FROM {registry}/no/such:image\nRUN true\n", "Dockerfile:1: FROM {registry}/no/such:image"),
    ("FROM scratch AS a\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"true\"]\n"
     "FROM {registry}/no/such:image\nCOPY --from=a /bin/busybox /b\n",
     "Dockerfile:4: FROM {registry}/no/such:image"),  # resolved before the first stage runs
    ("FROM scratch\nCOPY --from={registry}/nope /x /x\n", "Dockerfile:2: COPY --from={registry}/nope"),
])
def test_bad_input_is_one_line_and_store_unchanged(pycr, tmp_path, registry, dockerfile, needle):
    (tmp_path / "outside").write_text("secret")
    ctx = context(tmp_path, dockerfile.format(registry=registry.host))
    pycr("build", "-t", "keep", "-", stdin="FROM scratch\nLABEL a=b\n", check=0)
    before = store_state(pycr.store)
    r = pycr("build", "-t", "broken", ctx)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if not line.startswith("#")]
    assert len(errors) == 1 and needle.format(registry=registry.host) in errors[0], r.stderr
    assert store_state(pycr.store) == before


def test_built_image_runs_under_podman(pycr, tmp_path, registry):
    from tests.helpers.engines import Podman

    ctx = context(tmp_path, BASE + "RUN echo built-by-pycr > /msg\nCMD [\"cat\", \"/msg\"]\n")
    pycr("build", "-t", "interop", ctx, check=0)
    ref = f"{registry.host}/interop:latest"
    pycr("push", "-q", "interop", ref, check=0)
    with Podman(tmp_path / "pm", runtime=shutil.which("runc"), registry=registry.host) as pm:
        pm("pull", "-q", ref)
        r = pm("run", "--rm", *pm.run_args(), ref)
        assert r.stdout == "built-by-pycr\n"


def test_onbuild_triggers_shell_pull_and_platform(pycr, tmp_path, busybox_ref):
    ctx = context(tmp_path, f"FROM {busybox_ref}\nONBUILD RUN echo triggered > /onbuild\n"
                  "ONBUILD COPY Dockerfile /from-child-context\n", busybox=False)
    pycr("build", "-t", "parent", "--pull", "--platform", "linux/amd64", ctx, check=0)
    assert config_of(pycr.store, "docker.io/library/parent:latest")["config"]["OnBuild"] == [
        "RUN echo triggered > /onbuild", "COPY Dockerfile /from-child-context"]
    (ctx / "Dockerfile").write_text('FROM parent\nSHELL ["/bin/sh", "-c", "echo shell-was-used; exec sh -c \\"$0\\""]\n'
                                    "RUN cat /onbuild /from-child-context | head -1\n")
    r = pycr("build", "-t", "child", ctx, check=0)
    outputs = [line.split(" ", 2)[2] for line in r.stderr.splitlines() if line.startswith("#5 0")]
    assert outputs == ["shell-was-used", "triggered"], r.stderr
    cfg = config_of(pycr.store, "docker.io/library/child:latest")
    assert "OnBuild" not in cfg["config"]  # triggers run once, in the child; not inherited further
    assert pycr("run", "--rm", "child", "cat", "/from-child-context", check=0).stdout.startswith("FROM parent")


def _tar(path: Path, members: list[tuple[str, str, str]], mode: str = "w", file_mode: int = 0o644) -> None:
    """(name, kind, data-or-target) with kind 'f' (file), 'l' (symlink), 'd' (directory)."""
    with tarfile.open(path, mode) as tf:
        for name, kind, data in members:
            ti = tarfile.TarInfo(name)
            if kind == "f":
                ti.size, ti.mode = len(data), file_mode
                tf.addfile(ti, io.BytesIO(data.encode()))
            else:
                ti.type = tarfile.SYMTYPE if kind == "l" else tarfile.DIRTYPE
                ti.linkname = data if kind == "l" else ""
                ti.mode = 0o777 if kind == "l" else 0o755
                tf.addfile(ti)


def test_copy_follows_image_symlinks_and_never_leaves_the_context_or_image(pycr, tmp_path):
    ctx = context(tmp_path, BASE + "RUN mkdir -p /usr/lib && ln -s usr/lib /lib\n"
                  "COPY tree/ /\nADD merged.tar /\nADD tricky.tar /t/\nRUN ls -l / /usr/lib /t | grep -v busybox\n",
                  {"tree/lib/x": "x\n"})
    _tar(ctx / "merged.tar", [("lib/y", "f", "y\n")])
    _tar(ctx / "tricky.tar", [("l", "l", "/"), ("l/escaped", "f", "inside the image\n")])
    os.symlink("/etc/hostname", ctx / "evil")
    os.symlink("/etc", ctx / "evildir")
    pycr("build", "-t", "links", ctx, check=0)
    script = "test -L /lib && cat /usr/lib/x /usr/lib/y /escaped && test -L /t/l"
    assert pycr("run", "--rm", "links", "sh", "-c", script, check=0).stdout == "x\ny\ninside the image\n"
    assert not os.path.exists("/escaped")
    for src, needle in (("evil", "COPY: evil not found in the build context"),
                        ("evildir/passwd", "COPY: evildir/passwd not found in the build context"),
                        ("../ctx/../../x", "is outside the build context")):
        (ctx / "Dockerfile").write_text(f"FROM scratch\nCOPY {src} /x\n")
        r = pycr("build", "-t", "attack", ctx)
        errors = [line for line in r.stderr.splitlines() if not line.startswith("#")]
        assert r.returncode != 0 and len(errors) == 1 and needle in errors[0], r.stderr
    _tar(ctx / "up.tar", [("../../up", "f", "x")])
    (ctx / "Dockerfile").write_text("FROM scratch\nADD up.tar /a/\n")
    r = pycr("build", "-t", "attack", ctx)
    assert r.returncode != 0 and "member '../../up' points outside the destination" in r.stderr
    assert "docker.io/library/attack:latest" not in (pycr.store / "refs.json").read_text()


def test_ctrl_c_during_run_cancels_the_build_and_leaves_nothing(pycr, tmp_path):
    import signal

    ctx = context(tmp_path, BASE + "RUN echo started; sleep 600\n")
    env = {**os.environ, "PYCR_STORAGE": str(pycr.store)}
    p = subprocess.Popen([sys.executable, "-m", "pycr.core.cli.main", "--root", str(tmp_path / "run"), "build",
                          "-t", "never", str(ctx)], stderr=subprocess.PIPE, text=True, env=env)
    seen = []
    for line in p.stderr:
        seen.append(line)
        if line.endswith(" started\n"):
            break
    p.send_signal(signal.SIGINT)  # the shell, pid 1 of the RUN, would ignore it: the build kills the RUN
    rest = p.stderr.read()
    assert p.wait(timeout=120) == 130, "".join(seen) + rest
    assert "Dockerfile:4: RUN: interrupted by SIGINT" in rest and "Traceback" not in rest
    assert "never" not in (pycr.store / "refs.json").read_text() if (pycr.store / "refs.json").exists() else True


def test_proxy_args_reach_run_but_not_the_image_or_the_cache_key(pycr, tmp_path):
    ctx = context(tmp_path, BASE + 'RUN echo "proxy=[$HTTP_PROXY][$no_proxy]"\n')
    r = pycr("build", "-t", "px", "--build-arg", "HTTP_PROXY=http://proxy.invalid:3128", "--build-arg",
             "no_proxy=localhost", ctx, check=0)
    assert "proxy=[http://proxy.invalid:3128][localhost]" in r.stderr and "not consumed" not in r.stderr
    cfg = config_of(pycr.store, "docker.io/library/px:latest")
    assert "proxy.invalid" not in json.dumps(cfg)  # neither in Env nor in history
    again = pycr("build", "-t", "px", "--build-arg", "HTTP_PROXY=http://other.invalid:3128", ctx, check=0)
    assert again.stderr.count("CACHED") == 3 and again.stdout == r.stdout


def test_dockerfile_elsewhere_and_builder_driver_choice(pycr, tmp_path):
    ctx = context(tmp_path, "ignored\n")
    other = tmp_path / "Other.dockerfile"
    other.write_text("# syntax=docker/dockerfile:1\nFROM scratch\nCOPY busybox /bin/busybox\n")
    r = pycr("build", "-f", other, "-t", "elsewhere", "--progress", "plain", ctx, check=0)
    assert "NOTE: " in r.stderr and "syntax=docker/dockerfile:1' directive is ignored" in r.stderr
    assert pycr("run", "--rm", "elsewhere", "/bin/busybox", "echo", "ok", check=0).stdout == "ok\n"
    r = pycr("build", "--builder", "nope", ctx)
    assert r.returncode != 0 and r.stderr == \
        "build --builder: builder driver 'nope' is not installed; choose one of: dockerfile\n"
