"""pycr's own end of a container's pty: when no engine holds the console
(``pycr-oci run``/``exec -t``, ``pycr run -t``), pycr listens on a console
socket, receives the master (see :mod:`pycr.core.runtime.console`) and
proxies it to its own terminal: raw mode, window size, exit status.

With our terminal in raw mode, Ctrl-C is a byte that reaches the
container's pty, whose line discipline turns it into SIGINT for the
container's foreground process -- as with ``docker run -it``.  SIGWINCH
copies our window size to the pty; signals sent to ``pycr`` itself (not
typed) are forwarded to the process.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal

from pycr.core.runtime.lifecycle import forward_signal


def copy_winsize(src: int, dst: int) -> None:
    import fcntl
    import termios

    with contextlib.suppress(OSError):
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)


def _status(pid: int):
    with contextlib.suppress(ChildProcessError):
        got, st = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            code = os.waitstatus_to_exitcode(st)
            return 128 - code if code < 0 else code
    return None


def proxy(master: int, pid: int, *, stdin: bool = True) -> int:
    """Copy stdin -> master and master -> stdout until ``pid`` (our child) exits; its status."""
    import termios
    import tty

    is_tty = os.isatty(0)
    saved = termios.tcgetattr(0) if is_tty else None
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    forwarded = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)
    previous = {s: signal.signal(s, lambda n, f: forward_signal(pid, n)) for s in forwarded}
    previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, lambda n, f: None)
    previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, lambda n, f: None)
    inputs = [master, wake_r] + ([0] if stdin else [])
    status = None
    try:
        if is_tty:
            copy_winsize(0, master)
            tty.setraw(0)
        while True:
            status = _status(pid) if status is None else status
            try:
                ready, _, _ = select.select(inputs, [], [], 0.5)
            except InterruptedError:
                continue
            if wake_r in ready:
                os.read(wake_r, 512)
                if is_tty:
                    copy_winsize(0, master)
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the last slave end closed
                    data = b""
                if not data:
                    break
                os.write(1, data)
            elif status is not None and not ready:
                break
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    inputs.remove(0)
                    with contextlib.suppress(OSError):
                        os.write(master, b"\x04")  # EOF for the terminal's reader
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSAFLUSH, saved)
        for s, h in previous.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(old_wakeup)
        os.close(wake_r)
        os.close(wake_w)
        os.close(master)
    while status is None:
        try:
            _, st = os.waitpid(pid, 0)
        except ChildProcessError:
            return 255
        code = os.waitstatus_to_exitcode(st)
        status = 128 - code if code < 0 else code
    return status


@contextlib.contextmanager
def listener():
    """A listening console socket in a fresh short temporary directory (AF_UNIX paths are
    limited to 107 bytes, too few for a store path); yields ``(socket, path)``."""
    import shutil
    import socket
    import tempfile

    tmp = tempfile.mkdtemp(prefix="pycr-console-")
    path = os.path.join(tmp, "sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(1)
        yield sock, path
    finally:
        sock.close()
        shutil.rmtree(tmp, ignore_errors=True)


def receive_master(sock) -> int:
    """Accept the runtime's connection and take the pty master it sends."""
    from pycr.core.runtime.console import recv_fd

    sock.settimeout(10)
    conn, _ = sock.accept()
    with conn:
        return recv_fd(conn)[1]
