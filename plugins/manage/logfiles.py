"""A container's log files: docker's json-file options that bound them (``--log-opt max-size=10m
--log-opt max-file=3``, ``HostConfig.LogConfig.Config``), and reading them across rotations.

The pycr monitor (``monitor.py``) rotates as docker's json-file does: once ``json.log`` holds
max-size bytes, the next entry goes to a new one and the full file becomes ``json.log.1`` (``.1``
becomes ``.2`` ...; what would be ``.<max-file>`` is dropped), so at most max-file files exist; with
max-file 1 the full file is dropped.  It moves files holding an exclusive ``flock`` on the
container's directory, and :class:`Reader` lists and opens them under a shared one: a reader never
sees a file twice, or misses one.  conmon (``--monitor conmon``) gets ``--log-size-max``
(``conmon._log_room``): at the limit it starts ``ctr.log`` over and keeps nothing of it, which is
max-file 1; it keeps no rotated files, so it takes no max-file above 1 (``check_conmon``).
"""

from __future__ import annotations

import contextlib
import os

OPTIONS = ("max-size", "max-file")


def parse(pairs) -> dict:
    """``--log-opt KEY=VALUE`` values -> the options as given (``{"max-size": "10m"}``), checked."""
    from pycr.core import ConfigError, quoted

    config = {}
    for pair in pairs or ():
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ConfigError(f"--log-opt {quoted(pair)}: expected KEY=VALUE (max-size=10m, max-file=3)")
        config[key] = value
    limits(config, "--log-opt ")
    return config


def limits(config: dict, where: str = "--log-opt ") -> tuple[int, int]:
    """(max-size in bytes, 0 for none; max-file) of ``config``; a ``ConfigError`` naming the
    option (``where`` + key) that is unknown or wrong."""
    from pycr.core import ConfigError, quoted
    from pycr.plugins.images.runconfig import parse_size

    for key, value in config.items():
        if key not in OPTIONS:
            raise ConfigError(f"{where.rstrip(' .')}: unknown log option {quoted(key)} (pycr's json-file log takes "
                              "max-size and max-file)")
        if not isinstance(value, str):
            raise ConfigError(f"{where}{key}: expected a string, got {quoted(value)}")
    size, files = 0, 1
    if "max-size" in config:
        size = parse_size(config["max-size"], f"{where}max-size", unit=1000)  # docker's: decimal units
        if size <= 0:
            raise ConfigError(f"{where}max-size={quoted(config['max-size'])}: must be a positive size")
    if "max-file" in config:
        text = config["max-file"]
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise ConfigError(f"{where}max-file={quoted(text)}: must be a number from 1 up")
        if not size:
            raise ConfigError(f"{where}max-file={text}: needs max-size (without it the log never rotates)")
        files = int(text)
    return size, files


def check_conmon(config: dict) -> None:
    """conmon's ``--log-size-max`` starts its log over at the limit: there are no rotated files."""
    from pycr.core import ConfigError

    size, files = limits(config)
    if files > 1:
        raise ConfigError(f"--log-opt max-file={config['max-file']}: conmon keeps no rotated files (at max-size "
                          "it starts ctr.log over); use max-file=1 or --monitor pycr")


def existing(path: str) -> list[str]:
    """The log files there are, oldest first: ``path.N`` ... ``path.1``, ``path``."""
    older = []
    while os.path.exists(f"{path}.{len(older) + 1}"):
        older.append(f"{path}.{len(older) + 1}")
    return older[::-1] + ([path] if os.path.exists(path) else [])


class Reader:
    """Entries (``{"log", "stream", "time"}``, in either format: ``records.log_entry``) of a
    container's log: the first :meth:`read` returns what is there, oldest first across the rotated
    files; each later one what was written since, going on into the next file when a rotation moved
    the one it reads (or dropped it: with max-file 1, or conmon's start-over)."""

    def __init__(self, path: str, fmt: str = "json-file", *, create: bool = False, from_end: bool = False):
        self.path, self.fmt, self.pending = path, fmt, b""
        if create:  # the monitor appends to it: opened now, we see every line even once it is removed
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        self.files = self._open()  # [(file, (st_dev, st_ino))], oldest first; the last is the live one
        if from_end:
            for f, _ in self.files[:-1]:
                f.close()
            self.files = self.files[-1:]
            for f, _ in self.files:
                f.seek(0, os.SEEK_END)

    def _open(self, after: tuple | None = None) -> list:
        """Open the files there are, under the shared lock; with ``after`` (a file read to its end
        and moved since) only those newer than it (all of them if it was dropped)."""
        import fcntl

        try:
            lock = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:  # the container was removed
            return []
        files = []
        try:
            fcntl.flock(lock, fcntl.LOCK_SH)
            for p in existing(self.path):
                with contextlib.suppress(FileNotFoundError):
                    f = open(p, "rb")
                    st = os.fstat(f.fileno())
                    files.append((f, (st.st_dev, st.st_ino)))
        finally:
            os.close(lock)
        idents = [ident for _, ident in files]
        if after in idents:
            cut = idents.index(after) + 1
            for f, _ in files[:cut]:
                f.close()
            files = files[cut:]
        return files

    def _moved(self, ident: tuple) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return True
        return (st.st_dev, st.st_ino) != ident

    def read(self) -> list[dict]:
        from pycr.plugins.manage.records import log_entry

        out = []
        while True:
            if not self.files:
                self.files = self._open()
                if not self.files:
                    return out
            f, ident = self.files[0]
            live = len(self.files) == 1
            moved = live and self._moved(ident)  # asked before reading: once moved, nothing more is written to it
            self.pending += f.read()
            *done, self.pending = self.pending.split(b"\n")  # entries end at "\n" only (a "\r" is text)
            out += [e for e in (log_entry(line, self.fmt) for line in done if line) if e is not None]
            if live and not moved:
                return out
            if moved:
                self.files += self._open(after=ident)
            self.files.pop(0)[0].close()
            self.pending = b""  # a file ends with an entry: a piece left over was cut short (a crash)

    def close(self) -> None:
        for f, _ in self.files:
            f.close()
        self.files = []
