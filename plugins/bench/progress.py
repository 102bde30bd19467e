"""A one-line progress bar on stderr when it is a terminal (silent otherwise,
so logs and CI output stay clean)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, stream=None, width: int = 30):
        self.total, self.width = total, width
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.start = time.monotonic()
        self.done = 0

    def update(self, label: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        frac = self.done / self.total if self.total else 1.0
        filled = int(frac * self.width)
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} eta {eta:5.0f}s  {label[:40]:<40}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
