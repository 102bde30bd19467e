"""What the host plants for the probes, and its guaranteed removal.

Everything is named by a token, the probing process's pid and a random part, so
that concurrent runs and leftovers can never be confused and a caller can tell
its own from another's; everything is undone through one ``ExitStack``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass


@dataclass
class Plants:
    token: str
    marker: str
    mountmark: str
    port: int
    disk: tuple[int, int]
    target_pid: int
    disk_readable: bool = True  # False: even the host cannot read the disk (sandboxed machine)
    disk_source: str = ""  # what raw_device targets: the host's root disk, or the probe's own loop device

    def env(self, busybox: str, mem_alloc: str) -> list[str]:
        return [f"TOKEN={self.token}", f"MARKER={self.marker}", f"MOUNTMARK={self.mountmark}",
                f"PORT={self.port}", f"DISK_MAJOR={self.disk[0]}", f"DISK_MINOR={self.disk[1]}",
                f"MEM_ALLOC={mem_alloc}", f"HOST_BUSYBOX={busybox}", "PATH=/bin"]


def host_disk() -> tuple[int, int]:
    """major:minor of the whole disk under the host's / (``vda`` for ``vda1``)."""
    dev = os.stat("/").st_dev
    major, minor = os.major(dev), os.minor(dev)
    try:  # a partition's sysfs node has a "partition" file; its parent dir is the disk
        link = os.path.realpath(f"/sys/dev/block/{major}:{minor}")
        if os.path.exists(os.path.join(link, "partition")):
            with open(os.path.join(os.path.dirname(link), "dev")) as f:
                major, minor = map(int, f.read().split(":"))
    except OSError:
        pass
    return major, minor


def disk_readable_on_host(disk: tuple[int, int], where: str) -> bool:
    """Can this (host) process read the disk through a fresh device node?"""
    node = os.path.join(where, f".pycr-probe-disk-{os.getpid()}")
    try:
        os.mknod(node, 0o600 | 0o060000, os.makedev(*disk))
        with open(node, "rb") as f:
            return len(f.read(512)) == 512
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.unlink(node)


def _serve(sock: socket.socket, token: str) -> None:
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            with contextlib.suppress(OSError):
                conn.sendall(f"{token}\n".encode())


@contextlib.contextmanager
def planted():
    """Yield :class:`Plants`; remove the marker, mount, process and listener after."""
    token = f"{os.getpid()}-{secrets.token_hex(6)}"
    with contextlib.ExitStack() as undo:
        marker = f"/var/tmp/pycr-probe-{token}"
        with open(marker, "w") as f:
            f.write(token)
        undo.callback(os.unlink, marker)

        mountmark = f"/run/pycr-probe-{token}"
        os.mkdir(mountmark, 0o700)
        undo.callback(os.rmdir, mountmark)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "pycr-probe", mountmark], check=True)
        undo.callback(subprocess.run, ["umount", "-l", mountmark], check=False)

        target = subprocess.Popen([sys.executable, "-P", "-c", "import time; time.sleep(3600)",
                                   f"pycr-probe-target-{token}"], stdin=subprocess.DEVNULL)
        undo.callback(target.wait)
        undo.callback(target.kill)

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        undo.callback(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        threading.Thread(target=_serve, args=(sock, token), daemon=True).start()
        undo.callback(sock.shutdown, socket.SHUT_RDWR)

        disk = host_disk()
        readable = disk_readable_on_host(disk, "/var/tmp")
        source = f"the host's root disk {disk[0]}:{disk[1]}"
        if not readable:  # a sandboxed host that cannot read its own disk: probe a block device of ours
            with contextlib.suppress(OSError, subprocess.CalledProcessError):
                disk = loop_disk(undo, token)
                source = (f"the probe's own loop device {disk[0]}:{disk[1]} over a 64 KiB file "
                          "(the host cannot read its own disk)")
                readable = disk_readable_on_host(disk, "/var/tmp")
        yield Plants(token, marker, mountmark, sock.getsockname()[1], disk, target.pid, readable, source)


def loop_disk(undo: contextlib.ExitStack, token: str) -> tuple[int, int]:
    """A loop device over a small file of ours: a host block device the
    raw-device probe may try to read.  Detached and removed by ``undo``."""
    image = f"/var/tmp/pycr-probe-{token}.img"
    with open(image, "wb") as f:
        f.write(token.encode().ljust(64 << 10, b"\0"))
    undo.callback(os.unlink, image)
    dev = subprocess.run(["losetup", "--find", "--show", image], capture_output=True, text=True,
                         check=True).stdout.strip()
    undo.callback(subprocess.run, ["losetup", "-d", dev], check=False)
    rdev = os.stat(dev).st_rdev
    return os.major(rdev), os.minor(rdev)
