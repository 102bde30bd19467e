"""The runtime ⇄ init sync protocol: JSON lines over one socketpair.

Process names (``ps``/``/proc/PID/comm``): ``pycr:[stage1]`` is the short-lived
child that enters the namespaces, ``pycr:[init]`` becomes the container's pid 1
and finally ``execve``s the user's program.

::

    runtime (pycr-oci create)      pycr:[stage1]                 pycr:[init]
    ─────────────────────────      ─────────────                 ───────────
    create cgroup, apply limits
    fork ─────────────────────────▶ (waits)
    add stage1 to cgroup
    GO ──────────────────────────▶ setns(joined paths)
                                   unshare(USER)
                  ◀──────────────── USERNS           (only with a new user ns)
    write uid_map/gid_map
    MAPPED ──────────────────────▶ setresuid(0)
                                   unshare(NS|UTS|IPC|NET|PID|CGROUP)
                                   fork ─────────────────────────▶ (pid 1)
                  ◀──────────────── PID {pid}; exit
                                                                 mounts, devices
                  ◀─────────────────────────────────────────────── HOOKS
    prestart + createRuntime hooks
    HOOKS_DONE ──────────────────────────────────────────────────▶ createContainer hooks
                                                                 pivot_root / chroot
                                                                 sysctl, masks, hostname,
                                                                 rlimits, user, caps
                  ◀─────────────────────────────────────────────── READY
    write state.json, exit 0                                     open exec.fifo (blocks)
    (pycr-oci start opens the fifo) ─────────────────────────────▶ startContainer hooks
                                                                 execve(process.args)

Any side may send ``ERROR {msg}`` instead; the runtime then kills what it
started and undoes everything (no cgroup, mount, state or process is left).
"""

from __future__ import annotations

import json
import socket

GO, USERNS, MAPPED, PID, HOOKS, HOOKS_DONE, READY, ERROR = (
    "go", "userns", "mapped", "pid", "hooks", "hooks-done", "ready", "error")


class Channel:
    """One end of the socketpair; messages are single JSON lines."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buf = b""
        self._fds: list[int] = []  # received with SCM_RIGHTS, not yet claimed by a message

    @classmethod
    def pair(cls) -> tuple["Channel", "Channel"]:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        return cls(a), cls(b)

    def send(self, kind: str, **fields) -> None:
        self.sock.sendall(json.dumps({"type": kind, **fields}).encode() + b"\n")

    def send_fds(self, kind: str, fds: list[int], **fields) -> None:
        """A message carrying file descriptors (SCM_RIGHTS); the receiver
        finds them in the message's ``fds`` list."""
        data = json.dumps({"type": kind, "nfds": len(fds), **fields}).encode() + b"\n"
        sent = socket.send_fds(self.sock, [data], fds)
        if sent < len(data):
            self.sock.sendall(data[sent:])

    def recv(self) -> dict:
        """The next message; ``{"type": "eof"}`` when the other side is gone."""
        while b"\n" not in self._buf:
            chunk, fds, _, _ = socket.recv_fds(self.sock, 65536, 4)
            self._fds += fds
            if not chunk:
                return {"type": "eof"}
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        msg = json.loads(line)
        if msg.get("nfds"):
            msg["fds"], self._fds = self._fds[: msg["nfds"]], self._fds[msg["nfds"]:]
        return msg

    def expect(self, kind: str, serve=None) -> dict:
        """The next message, which must be ``kind``.  With ``serve``, requests
        the other side makes first (messages with ``request: true``) are
        answered with ``serve(msg)``'s dict as ``<type>-done``."""
        msg = self.recv()
        while serve is not None and msg.get("request"):
            self.send(msg["type"] + "-done", **serve(msg))
            msg = self.recv()
        if msg["type"] == kind:
            return msg
        if msg["type"] == ERROR:
            raise InitFailed(msg.get("msg", "container init failed"))
        if msg["type"] == "eof":
            raise InitFailed(f"container init exited before sending {kind!r}")
        raise InitFailed(f"sync protocol: expected {kind!r}, got {msg['type']!r}")

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


class InitFailed(Exception):
    """The init (or stage1) reported a failure; the message is for the user."""


def set_process_name(name: str) -> None:
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(name[:15])
    except OSError:
        pass
