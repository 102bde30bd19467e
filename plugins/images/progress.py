"""Progress bars for pull/push: one line per blob on a terminal, silence otherwise."""

from __future__ import annotations

import sys
import threading
import time


class Progress:
    """Thread-safe byte counters per item, redrawn at most 10 times a second on a TTY."""

    def __init__(self, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._items: dict[str, list] = {}  # key -> [label, done, total, status]
        self._lock = threading.Lock()
        self._last = 0.0
        self._drawn = 0

    def start(self, key: str, label: str, total: int | None) -> None:
        with self._lock:
            self._items[key] = [label, 0, total, "..."]
        self._draw(True)

    def advance(self, key: str, n: int) -> None:
        with self._lock:
            self._items[key][1] += n
        self._draw()

    def done(self, key: str, status: str = "done") -> None:
        with self._lock:
            item = self._items[key]
            item[3] = status
            if item[2]:
                item[1] = item[2]
        self._draw(True)

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last < 0.1:
                return
            self._last = now
            out = []
            if self._drawn:
                out.append(f"\x1b[{self._drawn}F")
            for label, done, total, status in self._items.values():
                if total:
                    frac = min(done / total, 1.0)
                    bar = "#" * int(frac * 30)
                    line = f"{label:<20.20} [{bar:<30}] {done / 1e6:7.1f}/{total / 1e6:.1f} MB {status}"
                else:
                    line = f"{label:<20.20} {done / 1e6:7.1f} MB {status}"
                out.append(f"\x1b[2K{line}\n")
            self._drawn = len(self._items)
            self.stream.write("".join(out))
            self.stream.flush()
