"""The CVE-2019-5736 attacker, run *inside* a container by
tests/integration/test_security_runtime_exe.py (with the host's /usr bound
read-only so a Python runs there).

Until ``STOP`` exists it scans /proc: for every other process it tries to
read ``environ``, to list and follow ``fd/*``, and to grab ``exe`` -- opened
for writing at once, and kept as an O_PATH handle that it reopens for
writing (through /proc/self/fd) again and again, also after the process is
gone.  It never writes a byte: an open for writing that succeeds is the
finding.  ``RESULTS`` gets a JSON summary.
"""

import errno
import json
import os
import sys

OUT, STOP, MARKER = sys.argv[1], sys.argv[2], sys.argv[3]
me = os.getpid()
res = {"write_ok": [], "errors": {}, "environ": [], "fds": [], "grabbed": 0, "seen": 0}
handles = {}  # fd -> description


def err(kind, e):
    key = f"{kind}:{errno.errorcode.get(e.errno, e.errno)}"
    res["errors"][key] = res["errors"].get(key, 0) + 1


def try_write(path, what):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        err("write", e)
        return
    os.close(fd)
    res["write_ok"].append(what)


def scan():
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (me, 1):
            continue
        base = f"/proc/{name}"
        try:
            with open(f"{base}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        res["seen"] += 1
        try:
            with open(f"{base}/environ", "rb") as f:
                if MARKER.encode() in f.read():
                    res["environ"].append(comm)
        except OSError as e:
            err("environ", e)
        try:
            for fd in os.listdir(f"{base}/fd"):
                try:
                    link = os.readlink(f"{base}/fd/{fd}")
                    # named by the comm read *after* the link: a runtime process that has exec'd
                    # since (the comm changes at execve, before the new program opens anything,
                    # e.g. ld.so its libc) no longer passes for the runtime
                    with open(f"{base}/comm") as f:
                        now = f.read().strip()
                    res["fds"].append(f"{now} fd {fd}: {link}")
                except OSError as e:
                    err("fdlink", e)
        except OSError as e:
            err("fdlist", e)
        try_write(f"{base}/exe", f"{comm} exe")
        if len(handles) < 200:
            try:
                h = os.open(f"{base}/exe", os.O_PATH | os.O_CLOEXEC)
                handles[h] = f"{comm} exe (O_PATH)"
                res["grabbed"] += 1
            except OSError as e:
                err("grab", e)
    for h, what in handles.items():
        try_write(f"/proc/self/fd/{h}", what)


while not os.path.exists(STOP):
    scan()
scan()  # once more, after the runtime is gone: nothing keeps the interpreter busy now
res["fds"] = sorted(set(res["fds"]))
with open(OUT + ".tmp", "w") as f:
    json.dump(res, f)
os.rename(OUT + ".tmp", OUT)
