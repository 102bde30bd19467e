"""Build progress in the shape of docker's ``--progress plain``: ``#N title``, output, ``#N DONE 0.1s``."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, quiet: bool = False, stream=None):
        import os

        self.quiet = quiet
        # our own copy of stderr: a RUN's output is read from a pipe while fds 1 and 2 point into it
        self.stream = stream or open(os.dup(sys.stderr.fileno()), "w", buffering=1, errors="replace")
        self.n = 0
        self._start: dict[int, float] = {}

    def _print(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def step(self, title: str) -> int:
        self.n += 1
        self._start[self.n] = time.monotonic()
        self._print(f"#{self.n} {title}")
        return self.n

    def _elapsed(self, n: int) -> float:
        return time.monotonic() - self._start.get(n, time.monotonic())

    def output(self, n: int, data: bytes, always: bool = False) -> None:
        at = self._elapsed(n)
        for line in data.decode(errors="replace").splitlines():
            text = f"#{n} {at:.3f} {line}"
            if always and self.quiet:
                print(text, file=self.stream, flush=True)
            else:
                self._print(text)

    def info(self, n: int, text: str) -> None:
        self._print(f"#{n} {text}")

    def cached(self, n: int) -> None:
        self._print(f"#{n} CACHED")

    def done(self, n: int) -> None:
        self._print(f"#{n} DONE {self._elapsed(n):.1f}s")

    def error(self, n: int, text: str) -> None:
        self._print(f"#{n} ERROR: {text}")  # quiet: the command's own one-line error says it

    def note(self, text: str) -> None:
        self._print(f"NOTE: {text}")
