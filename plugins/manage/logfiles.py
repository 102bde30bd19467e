"""A container's log files: docker's json-file options (``--log-opt KEY=VALUE``,
``HostConfig.LogConfig.Config``), and reading the files across rotations.

max-size / max-file bound them.  The pycr monitor (``monitor.py``) rotates as docker's json-file
does: once ``json.log`` holds max-size bytes, the next entry goes to a new one and the full file
becomes ``json.log.1`` (``.1`` becomes ``.2`` ...; what would be ``.<max-file>`` is dropped), so at
most max-file files exist; with max-file 1 the full file is dropped.  With ``compress=true`` (which,
as docker's, needs max-file 2 or more) every rotated file is gzipped, ``json.log.1.gz`` included,
behind the monitor's back (a thread; the next rotation waits for it), the gzip header carrying
docker's ``{"lastTime": ...}`` and the identity of the file it was made from.  The monitor moves
files holding an exclusive ``flock`` on the container's directory, and :class:`Reader` lists and
opens them under a shared one: a reader never sees a file twice, or misses one.

labels / labels-regex / env / env-regex / tag give every entry docker's ``"attrs"`` object
(:func:`attrs`), fixed at create and written for the monitor to ``log-attrs.json``.

conmon (``--monitor conmon``) gets ``--log-size-max`` (``conmon._log_room``): at the limit it starts
``ctr.log`` over and keeps nothing of it, which is max-file 1; its k8s-file lines have no room for
attrs and it compresses nothing, so it takes none of the other options (``check_conmon``).
"""

from __future__ import annotations

import contextlib
import os

OPTIONS = ("max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag")
ATTRS = ("labels", "labels-regex", "env", "env-regex", "tag")  # the options that give entries "attrs"
ATTRS_FILE = "log-attrs.json"  # in the container's directory: '"attrs":{...},', for the monitor
TAG_FIELDS = ("ID", "FullID", "Name", "ImageID", "ImageFullID", "ImageName", "DaemonName")
_BOOLS = {"1": True, "t": True, "T": True, "true": True, "TRUE": True, "True": True,  # Go's strconv.ParseBool
          "0": False, "f": False, "F": False, "false": False, "FALSE": False, "False": False}


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
    """(max-size in bytes, 0 for none; max-file) of ``config``, every option checked: a
    ``ConfigError`` naming the option (``where`` + key) that is unknown or wrong."""
    from pycr.core import ConfigError, quoted
    from pycr.plugins.images.runconfig import parse_size

    for key, value in config.items():
        if key not in OPTIONS:
            raise ConfigError(f"{where.rstrip(' .')}: unknown log option {quoted(key)} (pycr's json-file log takes "
                              f"{', '.join(OPTIONS)})")
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
    if compressed(config, where) and files < 2:
        raise ConfigError(f"{where}compress={config['compress']}: needs max-size and max-file of 2 or more "
                          "(only rotated files are compressed)")
    for key in ("labels-regex", "env-regex"):
        if config.get(key):
            _regex(config[key], where + key)
    if config.get("tag"):
        render_tag(config["tag"], dict.fromkeys(TAG_FIELDS, ""), where + "tag")
    return size, files


def compressed(config: dict, where: str = "--log-opt ") -> bool:
    """``compress``, read as Go's ``strconv.ParseBool`` (docker's); false when not given."""
    from pycr.core import ConfigError, quoted

    text = config.get("compress", "false")
    if text not in _BOOLS:
        raise ConfigError(f"{where}compress={quoted(text)}: expected true or false")
    return _BOOLS[text]


def _regex(text: str, what: str):
    import re

    from pycr.core import ConfigError, quoted

    try:
        return re.compile(text)
    except (re.error, RecursionError, OverflowError) as e:
        raise ConfigError(f"{what}={quoted(text)}: not a regular expression ({e})") from None


def render_tag(template: str, info: dict, what: str = "--log-opt tag") -> str:
    """docker's ``tag`` template with the container's ``info`` (``TAG_FIELDS``): ``{{.Name}}`` and its
    like only (Go's functions and pipelines are refused, naming what was not understood)."""
    import re

    from pycr.core import ConfigError, quoted

    def field(m):
        name = m.group(1).strip()
        if name[:1] != "." or name[1:] not in info:
            raise ConfigError(f"{what}={quoted(template)}: {quoted(m.group(0))} is not one of "
                              + ", ".join("{{.%s}}" % f for f in info))
        return info[name[1:]]

    action = re.compile(r"\{\{(.*?)\}\}", re.S)
    if "{{" in action.sub("", template):
        raise ConfigError(f"{what}={quoted(template)}: a '{{{{' is not closed by '}}}}'")
    return action.sub(field, template)


def attrs(config: dict, labels: dict, env: list[str], info: dict) -> dict:
    """docker's ``"attrs"`` of every entry: the labels named by ``labels`` or matched by
    ``labels-regex``, then the same of the environment (``KEY=VALUE`` items; a key in both takes
    the env's value), then ``tag`` rendered with ``info`` (only when not empty)."""
    env_map = dict(item.split("=", 1) for item in env if "=" in item)
    out: dict = {}
    for what, values in (("labels", labels), ("env", env_map)):
        if config.get(what):
            out.update((k, values[k]) for k in config[what].split(",") if k in values)
        if config.get(f"{what}-regex"):
            rx = _regex(config[f"{what}-regex"], f"--log-opt {what}-regex")
            out.update((k, v) for k, v in values.items() if rx.search(k))  # docker's MatchString: anywhere
    tag = render_tag(config["tag"], info) if config.get("tag") else ""
    if tag:
        out["tag"] = tag
    return out


def attrs_fragment(values: dict) -> str:
    """``"attrs":{...},`` as docker's line has it (keys sorted, ``<>&`` escaped as Go's encoder
    does), ASCII with every control character escaped: one line whatever the values hold."""
    import json

    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return '"attrs":%s,' % text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def save_attrs(cdir: str, config: dict, labels: dict, env: list[str], info: dict) -> None:
    """At create: the attrs the monitor puts in every entry (``ATTRS_FILE``), if any."""
    from pycr.plugins.images.store import atomic_write

    values = attrs(config, labels, env, info) if any(config.get(k) for k in ATTRS) else {}
    if values:
        atomic_write(os.path.join(cdir, ATTRS_FILE), attrs_fragment(values).encode())


def details(entry: dict) -> str:
    """What ``docker logs --details`` puts before an entry's text: its attrs as ``k=v,k2=v2 ``
    (sorted, each side escaped as a URL query's), a lone space when it has none."""
    from urllib.parse import quote_plus

    got = entry.get("attrs")
    pairs = sorted((str(k), str(v)) for k, v in got.items()) if isinstance(got, dict) else []
    return ",".join(f"{quote_plus(k, safe='')}={quote_plus(v, safe='')}" for k, v in pairs) + " "


def entry_text(entry: dict, timestamps: bool = False, with_details: bool = False) -> str:
    """An entry as ``docker logs`` prints it: ``[TIME ][ATTRS ]TEXT`` (``-t``, ``--details``); the
    one way for ``pycr logs`` and the API's logs and attach."""
    text = (details(entry) if with_details else "") + entry.get("log", "")
    return f"{entry.get('time', '')} {text}" if timestamps else text


def check_conmon(config: dict) -> None:
    """conmon's ``--log-size-max`` starts its log over at the limit: there are no rotated files (and
    nothing to compress); its k8s-file lines have no attrs."""
    from pycr.core import ConfigError, quoted

    size, files = limits(config)
    if compressed(config):
        raise ConfigError(f"--log-opt compress={config['compress']}: conmon keeps no rotated files to compress; "
                          "use --monitor pycr")
    if files > 1:
        raise ConfigError(f"--log-opt max-file={config['max-file']}: conmon keeps no rotated files (at max-size "
                          "it starts ctr.log over); use max-file=1 or --monitor pycr")
    for key in ATTRS:
        if config.get(key):
            raise ConfigError(f"--log-opt {key}={quoted(config[key])}: conmon's k8s-file log has no attrs; "
                              "use --monitor pycr")


def at(path: str, n: int) -> str | None:
    """The rotated file ``n`` of ``path`` there is: ``path.N.gz`` (compressed), else ``path.N``."""
    for name in (f"{path}.{n}.gz", f"{path}.{n}"):
        if os.path.exists(name):
            return name
    return None


def existing(path: str) -> list[str]:
    """The log files there are, oldest first: ``path.N[.gz]`` ... ``path.1[.gz]``, ``path``."""
    older = []
    while name := at(path, len(older) + 1):
        older.append(name)
    return older[::-1] + ([path] if os.path.exists(path) else [])


class _Gunzip:
    """A rotated ``.gz`` file, read whole; a damaged one ends where it stops making sense."""

    def __init__(self, raw):
        import gzip

        self.raw, self.gz = raw, gzip.GzipFile(fileobj=raw, mode="rb")

    def read(self) -> bytes:
        import zlib

        out = []
        with contextlib.suppress(EOFError, OSError, zlib.error):
            while chunk := self.gz.read1(1 << 20):
                out.append(chunk)
        return b"".join(out)

    def close(self) -> None:
        self.gz.close()
        self.raw.close()


def _source(raw) -> tuple | None:
    """(st_dev, st_ino) of the file a rotated ``.gz`` was made from (its header's extra field:
    ``{"lastTime": ..., "source": [dev, ino]}``): a reader knows it as the file it was reading."""
    import json

    head = raw.read(12)
    if len(head) < 12 or head[:2] != b"\x1f\x8b" or not head[3] & 4:
        return None
    try:
        src = json.loads(raw.read(int.from_bytes(head[10:12], "little"))).get("source")
    except (ValueError, AttributeError):
        return None
    return tuple(src) if isinstance(src, list) and len(src) == 2 and all(type(x) is int for x in src) else None


class Reader:
    """Entries (``{"log", "stream", "time"}``, in either format: ``records.log_entry``) of a
    container's log: the first :meth:`read` returns what is there, oldest first across the rotated
    files (gunzipped when compressed); each later one what was written since, going on into the
    next file when a rotation moved the one it reads (or dropped it: with max-file 1, or conmon's
    start-over).  A compressed file is known by the identity of the one it was made from."""

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
                    ident = (st.st_dev, st.st_ino)
                    if p.endswith(".gz"):
                        ident = _source(f) or ident
                        f.seek(0)
                        f = _Gunzip(f)
                    files.append((f, ident))
        finally:
            os.close(lock)
        idents = [ident for _, ident in files]
        if after in idents:  # the newest with it: an inode is reused once freed (a gzipped file's source
            cut = len(idents) - idents[::-1].index(after)  # is), but not the one we hold open, while we do
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
