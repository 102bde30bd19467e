"""``run -it`` / ``exec -it`` through a real pty (``pty.fork``), and ``-i`` piping stdin."""

from __future__ import annotations

import fcntl
import itertools
import os
import pty
import select
import signal
import struct
import termios
import time

import pytest

from tests.conftest import PYCR

pytestmark = pytest.mark.root


class Terminal:
    """A user at a terminal: ``pycr`` runs on the slave side of a pty we hold the master of."""

    def __init__(self, p, *args, rows=33, cols=101):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ.update(p.env)
            os.execv(PYCR, [PYCR, "--root", p.root, *args])
        self.resize(rows, cols)
        self.buf = b""

    def resize(self, rows, cols):
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def send(self, data: bytes):
        os.write(self.fd, data)

    def expect(self, text: str, timeout: float = 30) -> bytes:
        want = text.encode()
        deadline = time.monotonic() + timeout
        while want not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {text!r}, got {self.buf[-400:]!r}"
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    data = b""
                assert data, f"EOF while waiting for {text!r}: {self.buf[-400:]!r}"
                self.buf += data
        i = self.buf.index(want) + len(want)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exit_status(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while True:
            with_data = select.select([self.fd], [], [], 0.1)[0]
            if with_data:
                try:
                    os.read(self.fd, 4096)
                except OSError:
                    pass
            got, status = os.waitpid(self.pid, os.WNOHANG)
            if got:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            assert time.monotonic() < deadline, "pycr did not exit"

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def test_run_it_shell(clean):
    p = clean
    t = Terminal(p, "run", "-it", "-q", p.image, "sh")
    try:
        t.expect("# ")
        t.send(b"grep SigIgn /proc/self/status\r")
        t.expect("SigIgn:\t0000000000000000")
        t.send(b"stty size; tty; echo $TERM\r")
        t.expect("33 101")
        t.expect("/dev/pts/0")
        t.expect("xterm")
        t.resize(40, 120)  # the terminal grows: pycr gets SIGWINCH and passes the size on
        os.kill(t.pid, signal.SIGWINCH)
        deadline = time.monotonic() + 30
        for n in itertools.count(1000):  # ask again until the new size has arrived; each answer ends at its mark
            t.send(b"stty size; echo mark-$((%d+1))\r" % (n - 1))  # the echoed line does not spell the mark
            if b"40 120" in t.expect(f"mark-{n}"):
                break
            assert time.monotonic() < deadline, "the container's terminal never became 40x120"
            time.sleep(0.2)
        t.send(b"sleep 30; echo after-sleep\r")
        time.sleep(1)
        started = time.monotonic()
        t.send(b"\x03")  # Ctrl-C goes to the container, not to pycr
        t.send(b"echo alive-$((6*7))\r")
        t.expect("alive-42")
        assert time.monotonic() - started < 10
        assert b"after-sleep\r\n" not in t.buf
        t.send(b"exit 3\r")
        assert t.exit_status() == 3
    finally:
        t.close()


def test_exec_it_into_detached(clean):
    p = clean
    p.run_d("--name", "host", p.image, "sleep", "1000")
    t = Terminal(p, "exec", "-it", "host", "sh", rows=25, cols=77)
    try:
        t.expect("# ")
        t.send(b"stty size; ps\r")
        t.expect("25 77")
        t.expect("sleep 1000")
        t.send(b"exit 4\r")
        assert t.exit_status() == 4
    finally:
        t.close()
    assert p.state("host") == "running"


def test_run_i_pipes_stdin(clean):
    p = clean
    r = p("run", "-i", "-q", p.image, "sh", "-c", "tr a-z A-Z; echo done", input="hello\nworld\n", check=0)
    assert r.stdout == "HELLO\nWORLD\ndone\n"


def test_run_dit_keeps_the_shell_and_logs_the_tty(clean):
    p = clean
    p.run_d("-it", "--name", "tty", p.image, "sh")
    time.sleep(1)
    assert p.state("tty") == "running"  # the monitor holds the pty: the shell waits for input
    assert p.inspect("tty")["Config"]["Tty"] is True
    assert p("exec", "tty", "sh", "-c", "ls -l /proc/1/fd/0", check=0).stdout.strip().endswith("/dev/pts/0")
    p("stop", "-t", "1", "tty", check=0)
    assert p.state("tty") == "exited"
