"""pycr:[monitor] -- the lean process that watches one container (like conmon).

Run as a script (``python -I -S monitor.py ...``) so that it imports only a
few built-in modules: it lives as long as the container.  It inherited from
the launcher (:mod:`pycr.plugins.manage.launch`) the subreaper flag, the
container's init as a child-to-be, and the read ends of its stdout/stderr
(or its pty master)::

    argv: PYTHON CDIR INIT_PID OUT_FD ERR_FD HOLD_FD

It writes each line of output to ``CDIR/json.log`` as docker's json-file
does (``{"log": "...\\n", "stream": "stdout", "time": RFC 3339}``), reaps
every process handed to it, and when the init exits it drains the streams
and execs the launcher's ``finish`` step with the exit status (128+signal
when killed; -1 when unknown), keeping its pid.
"""

import os
import select
import _signal as signal  # signal.py builds enums: ~0.8 MiB more private memory for the whole container life
import sys
import time
from _json import encode_basestring_ascii as _quote  # json's own C encoder; `import json` pulls in re

MAX_LINE = 16 * 1024  # docker splits longer lines into 16 KiB entries


def _stamp() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int(t % 1 * 1e9)


class Stream:
    def __init__(self, fd: int, name: str, log):
        self.fd, self.name, self.log, self.buf = fd, name, log, b""

    def feed(self, data: bytes) -> None:
        self.buf += data
        while True:
            nl = self.buf.find(b"\n")
            if nl < 0 and len(self.buf) < MAX_LINE:
                break
            cut = nl + 1 if 0 <= nl < MAX_LINE else MAX_LINE
            self.emit(self.buf[:cut])
            self.buf = self.buf[cut:]

    def emit(self, chunk: bytes) -> None:
        if chunk:
            text = _quote(chunk.decode("utf-8", "replace"))
            self.log.write('{"log":%s,"stream":"%s","time":"%s"}\n' % (text, self.name, _stamp()))
            self.log.flush()

    def read(self) -> bool:
        """Read once; False at EOF (a pty master gives EIO when the last slave closes)."""
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            self.emit(self.buf)
            self.buf = b""
            return False
        self.feed(data)
        return True


def main(argv) -> None:
    python, cdir, init_pid = argv[1], argv[2], int(argv[3])
    with open("/proc/self/comm", "w") as f:
        f.write("pycr:[monitor]")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda n, f: None)
    log = open(os.path.join(cdir, "json.log"), "a")
    streams = []
    for fd, name in ((argv[4], "stdout"), (argv[5], "stderr")):
        if fd != "-":
            os.set_blocking(int(fd), False)
            streams.append(Stream(int(fd), name, log))
    code = None
    while code is None:
        fds = [s.fd for s in streams] + [wake_r]
        try:
            ready, _, _ = select.select(fds, [], [], 5.0)
        except InterruptedError:
            ready = []
        if wake_r in ready:
            os.read(wake_r, 512)
        for s in list(streams):
            if s.fd in ready and not s.read():
                streams.remove(s)
        code = _reap(init_pid)
    deadline = time.monotonic() + 1.0  # what the container wrote last is still in the pipes
    while streams and time.monotonic() < deadline:
        ready, _, _ = select.select([s.fd for s in streams], [], [], 0.05)
        for s in list(streams):
            if s.fd in ready and not s.read():
                streams.remove(s)
        if not ready:
            break
    for s in streams:
        s.emit(s.buf)
    log.close()
    # -P: ``-m`` would put the working directory first on sys.path, and the finish step runs as root
    os.execv(python, [python, "-P", "-m", "pycr.plugins.manage.launch", "finish", cdir, str(code)])


def _reap(init_pid: int):
    """Reap every exited child; the init's status once it is gone, else None."""
    code = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        if pid == init_pid:
            c = os.waitstatus_to_exitcode(status)
            code = 128 - c if c < 0 else c
    if code is None and not os.path.exists(f"/proc/{init_pid}"):
        code = -1  # not our child after all (or already reaped): status unknown
    return code


if __name__ == "__main__":
    main(sys.argv)
