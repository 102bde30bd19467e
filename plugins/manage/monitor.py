"""pycr:[monitor] -- the lean process that watches one container (like conmon).

Run as a script (``python -I -S monitor.py ...``) so that it imports only a
few built-in modules: it lives as long as the container.  It inherited from
the launcher (:mod:`pycr.plugins.manage.launch`) the subreaper flag, the
container's init as a child-to-be, and the read ends of its stdout/stderr
(or its pty master)::

    argv: PYTHON CDIR INIT_PID OUT_FD ERR_FD MAX_SIZE MAX_FILE

It writes each line of output to ``CDIR/json.log`` as docker's json-file
does (``{"log": "...\\n", "stream": "stdout", "time": RFC 3339}``), rotating
it as docker does when MAX_SIZE (bytes; 0: never) is set (:class:`Log`),
reaps every process handed to it, and when the init exits it drains the
streams and execs the launcher's ``finish`` step with the exit status
(128+signal when killed; -1 when unknown), keeping its pid.
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


class Log:
    """``CDIR/json.log``.  Once it holds ``max_size`` bytes the next entry starts a new one and the
    full one becomes ``json.log.1`` (``.1`` -> ``.2`` ...; ``.<max_file - 1>`` is replaced), or is
    dropped when ``max_file`` is 1 -- under an exclusive flock on CDIR, which readers
    (``pycr.plugins.manage.logfiles.Reader``) take shared to list and open the files."""

    def __init__(self, cdir: str, max_size: int, max_file: int):
        self.cdir, self.path, self.max_size, self.max_file = cdir, os.path.join(cdir, "json.log"), max_size, max_file
        self.f = open(self.path, "a")
        self.size = self.f.tell()  # entries are ASCII (_quote): characters are bytes

    def write(self, entry: str) -> None:
        if self.max_size and self.size >= self.max_size:
            self.rotate()
        self.f.write(entry)
        self.f.flush()
        self.size += len(entry)

    def rotate(self) -> None:
        import fcntl  # only a log with a max-size ever gets here

        try:
            lock = os.open(self.cdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if self.max_file > 1:
                    last = 1  # where the oldest moves to: one past it, at most max_file - 1 (replaced)
                    while last < self.max_file - 1 and os.path.exists("%s.%d" % (self.path, last)):
                        last += 1
                    for i in range(last, 1, -1):
                        if os.path.exists("%s.%d" % (self.path, i - 1)):
                            os.rename("%s.%d" % (self.path, i - 1), "%s.%d" % (self.path, i))
                    os.rename(self.path, self.path + ".1")
                else:
                    os.unlink(self.path)  # a reader that has it open still reads it to its end
                f = open(self.path, "a")
                self.f.close()
                self.f = f
            finally:
                os.close(lock)
        except OSError:
            pass  # (its directory is being removed): it goes on where it is, tried again in max_size bytes
        self.size = self.f.tell()
        if self.size >= self.max_size:
            self.size = 0


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
    log = Log(cdir, int(argv[6]), int(argv[7]))
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
    log.f.close()
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
