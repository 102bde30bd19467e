"""pycr:[monitor] -- the lean process that watches one container (like conmon).

Run as a script (``python -I -S monitor.py ...``) so that it imports only a
few built-in modules: it lives as long as the container.  It inherited from
the launcher (:mod:`pycr.plugins.manage.launch`) the subreaper flag, the
container's init as a child-to-be, and the read ends of its stdout/stderr
(or its pty master)::

    argv: PYTHON CDIR INIT_PID OUT_FD ERR_FD MAX_SIZE MAX_FILE COMPRESS(0|1)

It writes each line of output to ``CDIR/json.log`` as docker's json-file
does (``{"log": "...\\n", "stream": "stdout", "time": RFC 3339}``), rotating
it as docker does when MAX_SIZE (bytes; 0: never) is set, gzipping the
rotated files with COMPRESS, and giving each entry the ``"attrs"`` of
``CDIR/log-attrs.json`` if there is one (:class:`Log`),
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


def _stamp(t=None) -> str:
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int(t % 1 * 1e9)


class Log:
    """``CDIR/json.log``.  Once it holds ``max_size`` bytes the next entry starts a new one and the
    full one becomes ``json.log.1`` (``.1`` -> ``.2`` ...; ``.<max_file - 1>`` is replaced), or is
    dropped when ``max_file`` is 1 -- under an exclusive flock on CDIR, which readers
    (``pycr.plugins.manage.logfiles.Reader``) take shared to list and open the files.  With
    ``compress`` a thread then gzips ``json.log.1`` into ``json.log.1.gz`` (the pumping goes on;
    the next rotation waits for it), swapping them under the flock.  ``attrs`` (docker's
    ``"attrs":{...},``, from ``CDIR/log-attrs.json``) goes into every entry."""

    def __init__(self, cdir: str, max_size: int, max_file: int, compress: bool = False, attrs: str = ""):
        self.cdir, self.path, self.max_size, self.max_file = cdir, os.path.join(cdir, "json.log"), max_size, max_file
        self.compress, self.attrs, self.last = compress, attrs, ""
        self.f = open(self.path, "a")
        self.size = self.f.tell()  # entries are ASCII (_quote): characters are bytes
        self.zipping = None
        if compress:
            import _thread  # a built-in: no import machinery for the lean monitor

            self.zipping = _thread.allocate_lock()
            self._recover()

    def write(self, entry: str, stamp: str = "") -> None:
        if self.max_size and self.size >= self.max_size:
            self.rotate()
        self.f.write(entry)
        self.f.flush()
        self.size += len(entry)
        self.last = stamp

    def _at(self, n: int):
        """``logfiles.at``'s rule (``.N.gz``, else ``.N``): the monitor (``-I -S``) imports no pycr module."""
        for name in ("%s.%d.gz" % (self.path, n), "%s.%d" % (self.path, n)):
            if os.path.exists(name):
                return name
        return None

    def _drop(self, n: int) -> None:
        for name in ("%s.%d.gz" % (self.path, n), "%s.%d" % (self.path, n)):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass

    def rotate(self) -> None:
        import fcntl  # only a log with a max-size ever gets here

        self.wait()
        moved = None
        try:
            lock = os.open(self.cdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if self.max_file > 1:
                    last = 1  # where the oldest moves to: one past it, at most max_file - 1 (replaced)
                    while last < self.max_file - 1 and self._at(last):
                        last += 1
                    for i in range(last, 1, -1):
                        older = self._at(i - 1)
                        if older:
                            self._drop(i)
                            os.rename(older, "%s.%d%s" % (self.path, i, ".gz" if older.endswith(".gz") else ""))
                    self._drop(1)
                    st = os.fstat(self.f.fileno())
                    os.rename(self.path, self.path + ".1")
                    moved = (st.st_dev, st.st_ino)
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
        if moved and self.compress:
            self._start(moved, self.last)

    def _start(self, source: tuple, last: str) -> None:
        import _thread

        self.zipping.acquire()
        try:
            _thread.start_new_thread(self._gzip, (source, last))
        except RuntimeError:
            self.zipping.release()  # (no thread to be had): json.log.1 stays as it is; readers take either

    def _gzip(self, source: tuple, last: str) -> None:
        """json.log.1 -> json.log.1.gz: docker's header (no name, mtime 0, its ``{"lastTime"}`` as
        the extra field, with the source's identity beside it for readers), then swapped under the flock."""
        import fcntl
        import zlib

        plain, tmp = self.path + ".1", os.path.join(self.cdir, ".json.log.1.gz.tmp")  # not a log file's name
        try:
            extra = ('{"lastTime":"%s","source":[%d,%d]}' % (last, source[0], source[1])).encode()
            z, crc, size = zlib.compressobj(6, zlib.DEFLATED, -15), 0, 0
            with open(plain, "rb") as src, open(tmp, "wb") as out:
                out.write(b"\x1f\x8b\x08\x04\0\0\0\0\0\xff" + len(extra).to_bytes(2, "little") + extra)
                while chunk := src.read(1 << 20):
                    crc, size = zlib.crc32(chunk, crc), size + len(chunk)
                    out.write(z.compress(chunk))
                out.write(z.flush() + crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little"))
            lock = os.open(self.cdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)
                os.rename(tmp, plain + ".gz")
                os.unlink(plain)
            finally:
                os.close(lock)
        except Exception:  # (a full disk, the container removed): json.log.1 stays as it is
            try:
                os.unlink(tmp)
            except OSError:
                pass
        finally:
            self.zipping.release()

    def _recover(self) -> None:
        """What an earlier monitor left mid-compression: its temporary file, json.log.1 beside the
        json.log.1.gz made of it (readers take the .gz), or json.log.1 not compressed yet."""
        try:
            os.unlink(os.path.join(self.cdir, ".json.log.1.gz.tmp"))
        except OSError:
            pass
        plain = self.path + ".1"
        try:
            st = os.stat(plain)
        except OSError:
            return
        if os.path.exists(plain + ".gz"):
            try:
                os.unlink(plain)
            except OSError:
                pass
        else:
            self._start((st.st_dev, st.st_ino), _stamp(st.st_mtime))

    def wait(self) -> None:
        """Until the compression under way (if any) is done."""
        if self.zipping is not None:
            self.zipping.acquire()
            self.zipping.release()

    def close(self) -> None:
        self.wait()
        self.f.close()


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
            text, stamp = _quote(chunk.decode("utf-8", "replace")), _stamp()
            self.log.write('{"log":%s,"stream":"%s",%s"time":"%s"}\n' % (text, self.name, self.log.attrs, stamp), stamp)

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
    try:
        with open(os.path.join(cdir, "log-attrs.json")) as f:  # logfiles.ATTRS_FILE
            attrs = f.read()
    except FileNotFoundError:
        attrs = ""
    log = Log(cdir, int(argv[6]), int(argv[7]), argv[8] == "1", attrs)
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
