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

With the exec stub (pycr.core.linux.exec_stub) the init execs the stub after
confinement; the stub sends READY, waits on the fifo and execs the process.

stage1 and ``pycr:[exec]`` hold the child they fork until its PID is sent
(``init.fork_reported``): from the fork on the socket has two writers, and a
child that failed at once must not be heard before the PID.

Any side may send ``ERROR {msg}`` instead; the runtime then kills what it
started and undoes everything (no cgroup, mount, state or process is left).
"""

from __future__ import annotations

import _socket  # socket.py would add enum and selectors to every run: the raw module has all we use
import struct
from pycr.core import jsonfast as json  # json.loads/dumps without importing json (re, enum)

GO, USERNS, MAPPED, PID, HOOKS, HOOKS_DONE, READY, ERROR = (
    "go", "userns", "mapped", "pid", "hooks", "hooks-done", "ready", "error")


class Channel:
    """One end of the socketpair; messages are single JSON lines."""

    def __init__(self, sock: _socket.socket):
        self.sock = sock
        self._buf = b""
        self._fds: list[int] = []  # received with SCM_RIGHTS, not yet claimed by a message

    @classmethod
    def pair(cls) -> tuple["Channel", "Channel"]:
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        return cls(a), cls(b)

    def send(self, kind: str, **fields) -> None:
        self.sock.sendall(line(kind, **fields))

    def send_fds(self, kind: str, fds: list[int], **fields) -> None:
        """A message carrying file descriptors (SCM_RIGHTS); the receiver
        finds them in the message's ``fds`` list."""
        data = json.dumps({"type": kind, "nfds": len(fds), **fields}).encode() + b"\n"
        rights = (_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))
        sent = self.sock.sendmsg([data], [rights])  # socket.send_fds, on the raw module
        if sent < len(data):
            self.sock.sendall(data[sent:])

    def recv(self) -> dict:
        """The next message; ``{"type": "eof"}`` when the other side is gone."""
        while b"\n" not in self._buf:
            chunk, ancillary, _, _ = self.sock.recvmsg(65536, _socket.CMSG_LEN(4 * 4))  # socket.recv_fds
            for level, kind, data in ancillary:
                if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                    self._fds += struct.unpack(f"{len(data) // 4}i", data[: len(data) - len(data) % 4])
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
            raise InitFailed(msg.get("msg", "container init failed"), command=msg.get("command"))
        if msg["type"] == "eof":
            raise InitFailed(f"container init exited before sending {kind!r}")
        raise InitFailed(f"sync protocol: expected {kind!r}, got {msg['type']!r}")

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


def line(kind: str, **fields) -> bytes:
    """One message as sent: also what the exec stub sends for READY (exec_stub.py)."""
    return json.dumps({"type": kind, **fields}).encode() + b"\n"


class InitFailed(Exception):
    """The init (or stage1) reported a failure; the message is for the user.

    ``command`` says when the failure is the process's executable itself:
    ``"missing"`` (not found), ``"not-executable"`` (found, cannot be run),
    and with ``"-execve"`` appended when execve itself refused it (runc tells
    that one on the process's stderr and exits 1); ``None`` otherwise."""

    def __init__(self, msg: str, command: str | None = None):
        super().__init__(msg)
        self.command = command


def set_process_name(name: str) -> None:
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(name[:15])
    except OSError:
        pass
