"""``process.terminal``: a pty made inside the container, its master handed
to the engine over ``--console-socket`` (SCM_RIGHTS), as runc does.

The runtime connects to the engine's socket *before* the fork (the socket's
path is a host path, gone after the root switch); the container's init (or an
exec'd process) then opens the pty from the container's own ``/dev/ptmx``, so
the slave lives in the container's devpts and the process gets it as its
controlling terminal and stdio.  The engine (conmon, containerd's shim) keeps
the master and proxies it.  This module is imported before the root switch
(``plan.preload``): nothing here may import lazily.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios

TYPE_CHECKING = False
if TYPE_CHECKING:  # imported where used: only terminal containers pay for socket.py
    import socket

MODULE = __name__


def connect(path: str) -> socket.socket:
    """Connect to the engine's console socket (in the runtime, before the fork)."""
    import socket  # here, not at the top: only terminal containers pay for it (and it is loaded before the fork)

    from pycr.core.errors import PycrError

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise PycrError(f"--console-socket {path}: cannot connect: {e.strerror}") from None
    return sock


def prepare(plan, config: dict, console_socket: str | None, undo) -> None:
    """For ``create``: with ``process.terminal``, connect the socket and have
    the init set up the pty (``plan.console``) just before it reports READY."""
    if not (config.get("process") or {}).get("terminal"):
        return
    plan.console = connect(console_socket)
    plan.console_size = console_size(config["process"])
    undo.callback(plan.console.close)
    plan.preload.append(MODULE)


def console_size(process: dict) -> tuple[int, int] | None:
    """``process.consoleSize`` as (rows, columns), or None."""
    size = process.get("consoleSize") or {}
    if size.get("height") and size.get("width"):
        return int(size["height"]), int(size["width"])
    return None


def setup_in_container(sock_fd: int, size: tuple[int, int] | None = None) -> None:
    """Open a pty in the current root, make it the controlling terminal and
    stdio of this process, and send the master over ``sock_fd``."""
    master, slave = os.openpty()
    if size:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    try:
        name = os.ttyname(slave)
    except OSError:
        name = "/dev/ptmx"
    if os.getsid(0) != os.getpid():  # the init and exec code made a session already
        os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    send_fd(sock_fd, name, master)
    os.close(master)
    os.close(sock_fd)


def send_fd(sock_fd: int, name: str, fd: int) -> None:
    """One message: the pty's name as data, the fd as SCM_RIGHTS (runc's format)."""
    import socket  # already loaded by connect() before the fork (the host's files may be gone)

    sock = socket.socket(fileno=os.dup(sock_fd))
    try:
        sock.sendmsg([name.encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))])
    finally:
        sock.close()


def recv_fd(sock: socket.socket) -> tuple[str, int]:
    """The receiving side (engines do this; pycr uses it in tests and ``exec -t``)."""
    import socket

    msg, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("i")))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            return msg.decode(errors="replace"), struct.unpack("i", data[:4])[0]
    raise OSError("console socket: no file descriptor received")
