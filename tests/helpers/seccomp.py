"""Seccomp test helpers: a static syscall caller compiled at test time, a
bundle that holds it, and a tiny seccomp notify agent (a listener socket)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import threading

HERE = os.path.dirname(__file__)
NR = {"getppid": 110, "keyctl": 250, "mount": 165, "unshare": 272, "kexec_load": 246, "getpid": 39,
      "umask": 95, "personality": 135, "getpriority": 140, "mseal": 462}


def build_caller(dest_dir: str) -> str:
    """gcc -static tests/helpers/syscall.c -> dest_dir/sys."""
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed (scripts/install.sh --test installs gcc and libc6-dev)"
    out = os.path.join(dest_dir, "sys")
    subprocess.run([cc, "-static", "-O1", "-o", out, os.path.join(HERE, "syscall.c")], check=True)
    return out


def put_caller(bundle: str, caller: str) -> None:
    shutil.copy(caller, os.path.join(bundle, "rootfs", "bin", "sys"))


def set_seccomp(bundle: str, seccomp: dict | None, annotations: dict | None = None, **process) -> None:
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    if seccomp is None:
        cfg["linux"].pop("seccomp", None)
    else:
        cfg["linux"]["seccomp"] = seccomp
    cfg.setdefault("annotations", {}).update(annotations or {})
    cfg["process"].update(process)
    with open(path, "w") as f:
        json.dump(cfg, f)


# struct seccomp_notif (80 bytes) and seccomp_notif_resp (24 bytes); linux/seccomp.h
NOTIF_RECV = 0xC0502100
NOTIF_SEND = 0xC0182101
_NOTIF = struct.Struct("=QII iIQ6Q")
_RESP = struct.Struct("=QqiI")


class NotifyAgent:
    """Accepts one container on a unix socket, keeps the state JSON it was
    sent, and answers each notification with ``value`` (success)."""

    def __init__(self, path: str, value: int):
        self.path, self.value = path, value
        self.state: dict | None = None
        self.seen: list[int] = []  # syscall numbers notified
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import fcntl

        conn, _ = self.sock.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 1)
        self.state = json.loads(msg)
        fd = fds[0]
        try:
            while True:
                buf = bytearray(_NOTIF.size)
                try:
                    fcntl.ioctl(fd, NOTIF_RECV, buf)
                except OSError:
                    return  # the filter is gone (the container exited)
                fields = _NOTIF.unpack(buf)
                self.seen.append(fields[3])
                resp = bytearray(_RESP.pack(fields[0], self.value, 0, 0))
                try:
                    fcntl.ioctl(fd, NOTIF_SEND, resp)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=10)
