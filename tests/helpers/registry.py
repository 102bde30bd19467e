"""A real registry for tests, and busybox images built with umoci and pushed with skopeo.

Reusable by any test (podman, containerd, pycr's own pull/push tests)::

    from tests.helpers.registry import RegistryServer, build_busybox_layout, skopeo_copy

    with RegistryServer(tmp_path / "reg") as reg:          # Debian's docker-registry on 127.0.0.1
        layout = build_busybox_layout(tmp_path / "oci")    # OCI layout, tag "latest"
        skopeo_copy(f"oci:{layout}:latest", f"docker://{reg.host}/bb:latest", fmt="v2s2")

``RegistryServer(auth="htpasswd", users={"u": "p"})`` adds Basic auth;
``auth="token"`` adds Bearer token auth served by :class:`TokenServer`
(ES256 JWTs signed with ``openssl``, which the registry verifies against a
self-signed certificate).  pytest fixtures live in ``tests.helpers.fixtures``.

Needs the Debian packages ``docker-registry``, ``skopeo``, ``umoci`` and
``busybox-static``.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BUSYBOX = "/bin/busybox"
TOOLS = ("docker-registry", "skopeo", "umoci")


def missing_tools() -> list[str]:
    need = [t for t in TOOLS if shutil.which(t) is None]
    if not os.path.exists(BUSYBOX) or b"statically linked" not in subprocess.run(
            ["file", "-L", BUSYBOX], capture_output=True).stdout and shutil.which("file"):
        need.append("busybox-static")
    return need


def free_port() -> int:
    """A port free on 127.0.0.1 now; another process may take it before the caller binds it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listens(pid: int, port: int) -> bool:
    """Does process ``pid`` hold the socket listening on 127.0.0.1:``port``?  Answering on the
    port is not enough: a server that lost the race for it would find the winner there."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    inodes = {r[9] for r in rows if r[1] == want and r[3] == "0A"}  # 0A: LISTEN
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


# ----------------------------------------------------------------- registry

class RegistryServer:
    """docker-registry on 127.0.0.1:<free port>, its storage and config in ``workdir``."""

    def __init__(self, workdir, *, auth: str | None = None, users: dict[str, str] | None = None,
                 port: int | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.auth = auth
        self.users = users or {"pycr": "s3cret"}
        self.fixed_port = port is not None
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.token_server: TokenServer | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _config(self) -> str:
        lines = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
                 "storage:", "  filesystem:", f"    rootdirectory: {self.workdir / 'data'}",
                 "  delete:", "    enabled: true", "http:", f"  addr: 127.0.0.1:{self.port}"]
        if self.auth == "htpasswd":
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import crypt  # libxcrypt does bcrypt, the only hash docker-registry accepts

            with open(self.workdir / "htpasswd", "w") as f:
                for user, pw in self.users.items():
                    f.write(f"{user}:{crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
            lines += ["auth:", "  htpasswd:", "    realm: pycr-test", f"    path: {self.workdir / 'htpasswd'}"]
        elif self.auth == "token":
            if self.token_server is None:
                self.token_server = TokenServer(self.workdir / "token", users=self.users)
                self.token_server.start()
            lines += ["auth:", "  token:", f"    realm: {self.token_server.url}/token",
                      "    service: pycr-registry", "    issuer: pycr-test-issuer",
                      f"    rootcertbundle: {self.token_server.cert}"]
        path = self.workdir / "config.yml"
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    START_TRIES = 5  # free ports tried: one picked by free_port() can be taken before the registry binds it

    def start(self) -> "RegistryServer":
        """Run the registry and wait until it serves; on a port another process took since
        free_port() picked it (the registry exits: address already in use), try a new one."""
        for _ in range(self.START_TRIES):
            if self._start_once():
                return self
            self.port = free_port()
        raise RuntimeError(f"docker-registry: {self.START_TRIES} free ports were all taken before it bound them")

    def _start_once(self) -> bool:
        """False when the port was taken meanwhile (and a fixed ``port=`` was not asked for)."""
        config = self._config()
        logfile = self.workdir / "registry.log"
        seen = logfile.stat().st_size if logfile.exists() else 0
        log = open(logfile, "ab")
        self.proc = subprocess.Popen(["docker-registry", "serve", config], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                with open(logfile, "rb") as f:
                    f.seek(seen)
                    text = f.read().decode(errors="replace")
                if "address already in use" in text and not self.fixed_port:
                    return False
                raise RuntimeError(f"docker-registry exited: {text[-2000:]}")
            if not _listens(self.proc.pid, self.port):  # not yet, or the port is another process's
                time.sleep(0.05)
                continue
            try:
                conn = http.client.HTTPConnection(self.host, timeout=2)
                conn.request("GET", "/v2/")
                conn.getresponse().read()
                conn.close()
                return True
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("docker-registry did not start in 20s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None

    def __enter__(self) -> "RegistryServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


# ----------------------------------------------------------------- token server

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A tiny Bearer token server (docker token spec) in a thread; signs with openssl."""

    def __init__(self, workdir, users: dict[str, str]):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.users = users
        self.key = self.workdir / "key.pem"
        self.cert = self.workdir / "cert.pem"
        self.requests: list[dict] = []
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(self.key), "-out", str(self.cert), "-days", "2",
                        "-subj", "/CN=pycr-test-token"], check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.httpd = None
        self.url = ""

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=signing_input.encode(),
                             check=True, capture_output=True).stdout
        r, s = _der_ecdsa(der)
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def start(self) -> None:
        import threading
        import urllib.parse
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                user = None
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    if server.users.get(u) != p:
                        self.send_response(401)
                        self.end_headers()
                        return
                    user = u
                access = []
                for scope in q.get("scope", []):
                    kind, _, rest = scope.partition(":")
                    name, _, actions = rest.rpartition(":")
                    allowed = actions.split(",") if user else [a for a in actions.split(",") if a == "pull"]
                    access.append({"type": kind, "name": name, "actions": allowed})
                server.requests.append({"user": user, "scope": q.get("scope", [])})
                now = int(time.time())
                token = server.sign({"iss": "pycr-test-issuer", "sub": user or "", "aud": "pycr-registry",
                                     "exp": now + 300, "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(),
                                     "access": access})
                body = json.dumps({"token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


def _der_ecdsa(der: bytes) -> tuple[int, int]:
    """(r, s) from an ASN.1 DER ECDSA signature (SEQUENCE of two INTEGERs)."""
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = []
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out.append(int.from_bytes(der[i + 2:i + 2 + n], "big"))
        i += 2 + n
    return out[0], out[1]


# ----------------------------------------------------------------- images

PASSWD = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n" \
         "app:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\ndaemon:x:1:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n"
APPLETS = ("sh", "ls", "cat", "echo", "id", "pwd", "env", "hostname", "sleep", "test", "touch", "mount",
           "stat", "wc", "grep", "head", "true", "false", "rm", "mkdir", "ps", "find", "sha256sum", "uname",
           "httpd", "wget", "ip", "date")  # what the docs' examples call


def umoci(*args) -> None:
    r = subprocess.run(["umoci", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"umoci {' '.join(args)}: {r.stderr.strip()}")


def busybox_rootfs(dest) -> Path:
    """A minimal rootfs directory: static busybox, applet symlinks, passwd/group, /tmp."""
    dest = Path(dest)
    for d in ("bin", "etc", "tmp", "root", "home/app", "proc", "sys", "dev"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", dest / "bin" / applet)
    (dest / "etc" / "passwd").write_text(PASSWD)
    (dest / "etc" / "group").write_text(GROUP)
    (dest / "etc" / "motd").write_text("hello from pycr test image\n")
    os.chown(dest / "home" / "app", 1000, 1000)
    return dest


def build_busybox_layout(layout, tag: str = "latest", *, cmd=("/bin/sh", "-c", "echo hello from busybox"),
                         env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
                         workdir: str | None = None, user: str | None = None, entrypoint=None,
                         exposed=()) -> Path:
    """An OCI image layout at ``layout`` (created if needed) with tag ``tag``: one busybox layer."""
    layout = Path(layout)
    if not (layout / "index.json").exists():
        umoci("init", "--layout", str(layout))
    umoci("new", "--image", f"{layout}:{tag}")
    with tempfile.TemporaryDirectory() as tmp:
        umoci("insert", "--image", f"{layout}:{tag}", str(busybox_rootfs(Path(tmp) / "rootfs")), "/")
    cfg = ["config", "--image", f"{layout}:{tag}", "--os", "linux", "--architecture", "amd64"]
    for c in cmd:
        cfg += ["--config.cmd", c]
    for e in env:
        cfg += ["--config.env", e]
    for e in entrypoint or ():
        cfg += ["--config.entrypoint", e]
    if workdir:
        cfg += ["--config.workingdir", workdir]
    if user:
        cfg += ["--config.user", user]
    for port in exposed:  # "80/tcp"
        cfg += ["--config.exposedports", port]
    umoci(*cfg)
    return layout


def add_layer_from_dir(layout, tag: str, src, target: str = "/", opaque: bool = False) -> None:
    umoci("insert", "--image", f"{layout}:{tag}", *(["--opaque"] if opaque else []), str(src), target)


def add_whiteout(layout, tag: str, target: str) -> None:
    umoci("insert", "--image", f"{layout}:{tag}", "--whiteout", target)


def add_raw_layer(layout, tag: str, tar_path) -> None:
    """Append an uncompressed tar verbatim (for hostile layers umoci would never make)."""
    umoci("raw", "add-layer", "--image", f"{layout}:{tag}", str(tar_path))


def skopeo_copy(src: str, dest: str, *, fmt: str | None = None, creds: str | None = None,
                extra: tuple = ()) -> None:
    """``skopeo copy`` with TLS verification off (plain HTTP on 127.0.0.1)."""
    args = ["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", *extra]
    if fmt:
        args += ["--format", fmt]
    if creds:
        args += ["--dest-creds", creds] if dest.startswith("docker://") else ["--src-creds", creds]
    r = subprocess.run([*args, src, dest], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"skopeo copy {src} {dest}: {r.stderr.strip()}")


def push_busybox(reg: RegistryServer, repo: str, workdir, *, fmt: str | None = None, tag: str = "latest",
                 creds: str | None = None, **config) -> str:
    """Build a busybox layout in ``workdir`` and push it to ``reg`` as ``repo:tag``; return the reference."""
    layout = build_busybox_layout(Path(workdir) / f"layout-{repo.replace('/', '_')}-{tag}", tag, **config)
    ref = f"{reg.host}/{repo}:{tag}"
    skopeo_copy(f"oci:{layout}:{tag}", f"docker://{ref}", fmt=fmt, creds=creds)
    return ref
