"""Reading and writing cgroup control files.

Writes open without ``O_CREAT``: on a real cgroupfs a missing control file
means the kernel lacks the feature, and on a fake it must not be papered over
by creating a regular file.
"""

from __future__ import annotations

import os

from pycr.core import ConfigError


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def read_int(path: str) -> int | None:
    """An integer control file, ``"max"`` as ``None``; missing file raises."""
    text = read(path)
    return None if text == "max" else int(text)


def write(path: str, value: object) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def write_field(directory: str, filename: str, value: object, field: str) -> None:
    """Write ``value`` for the OCI ``field``; any failure is a one-line ConfigError."""
    path = os.path.join(directory, filename)
    if not os.path.exists(path):
        raise ConfigError(f"{field}: {filename} does not exist in {directory} (not supported by this kernel)")
    try:
        write(path, value)
    except OSError as e:
        raise ConfigError(f"{field}: cannot write {str(value)!r} to {path}: {e.strerror}") from None
