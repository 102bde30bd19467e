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


@contextlib.contextmanager
def pipes_for_terminal(*, stdin: bool, detached: bool = False):
    """Without ``-t``, a container must not get our terminal: any of our
    stdio that is a tty is replaced by a pipe for the block's duration, and
    a ``pycr:[stdio]`` process copies between the pipes and the terminal.
    (A process holding a tty fd may push keystrokes into it with TIOCSTI or
    change its settings; a pipe allows neither.)  ``stdin=False``: a tty
    stdin becomes /dev/null, as ``docker run`` without ``-i``.  Nothing
    happens when no stdio is a tty (pipes or files from an engine).
    """
    ttys = [fd for fd in (0, 1, 2) if os.isatty(fd)]
    if not ttys:
        yield
        return
    saved = {fd: os.dup(fd) for fd in ttys}
    ours = {}  # our stdio fd -> the proxy's end of its pipe
    for fd in ttys:
        if detached or (fd == 0 and not stdin):
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, fd)
            os.close(null)
            continue
        r, w = os.pipe()
        os.dup2(r if fd == 0 else w, fd)
        os.close(r if fd == 0 else w)
        ours[fd] = w if fd == 0 else r
    pid = os.fork() if ours else None
    if pid == 0:  # pycr:[stdio]
        try:
            _copy_stdio({ours[fd]: saved[fd] for fd in ours if fd != 0},
                        (saved[0], ours[0]) if 0 in ours else None, keep=set(saved.values()) | set(ours.values()))
        finally:
            os._exit(0)
    for end in ours.values():
        os.close(end)
    try:
        yield
    finally:
        import sys

        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd, orig in saved.items():  # our pipe ends close: the proxy sees EOF once the container's do
            os.dup2(orig, fd)
            os.close(orig)
        if pid is not None:
            if set(ours) == {0}:  # only input to copy: no EOF will tell the proxy to stop
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _copy_stdio(outputs: dict[int, int], stdin: tuple[int, int] | None, keep: set[int]) -> None:
    """The ``pycr:[stdio]`` loop: pipe -> terminal for each output, terminal -> pipe for input,
    until every output pipe is at EOF (all its writers -- the container, pycr -- are gone)."""
    from pycr.core.runtime import sync

    sync.set_process_name("pycr:[stdio]")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a typed Ctrl-C is pycr's to forward
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    for fd in (0, 1, 2):  # hold no write end of our own pipes
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
    copy_only_input = not outputs  # then pycr stops us; else the outputs' EOF does
    while outputs or (copy_only_input and stdin):
        watch = list(outputs) + ([stdin[0]] if stdin else [])
        try:
            ready, _, _ = select.select(watch, [], [])
        except InterruptedError:
            continue
        for fd in ready:
            data = b""
            with contextlib.suppress(OSError):
                data = os.read(fd, 65536)
            if stdin and fd == stdin[0]:
                if not data:
                    os.close(stdin[1])
                    stdin = None
                else:
                    with contextlib.suppress(OSError):
                        os.write(stdin[1], data)
            elif data:
                with contextlib.suppress(OSError):
                    os.write(outputs[fd], data)
            else:
                del outputs[fd]
