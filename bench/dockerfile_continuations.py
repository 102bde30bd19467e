"""dockerfile-parse's ``structure`` against pycr's linear run of it (plugins/build/linear_parse.py)
on one instruction of N ``\\``-continued lines: interleaved rounds, CPU medians and their ratio.

    .venv/bin/python bench/dockerfile_continuations.py [ROUNDS] [N...]
"""

from __future__ import annotations

import io
import statistics
import sys
import time

from dockerfile_parse import DockerfileParser

from pycr.plugins.build import linear_parse


def _cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def main(rounds: int, sizes: list[int]) -> None:
    print(f"{'lines':>8} {'dockerfile-parse':>17} {'pycr (linear)':>14} {'ratio':>7}")
    for n in sizes:
        data = ("FROM scratch\nRUN true \\\n" + "  && true \\\n" * n + "  && true\n").encode()
        lib, ours = [], []
        for _ in range(rounds):
            lib.append(_cpu(lambda: DockerfileParser(fileobj=io.BytesIO(data), cache_content=True).structure))
            ours.append(_cpu(lambda: linear_parse.structure(DockerfileParser, io.BytesIO(data))))
        a, b = statistics.median(lib), statistics.median(ours)
        print(f"{n:>8} {a:>16.2f}s {b:>13.2f}s {a / b:>6.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, [int(x) for x in sys.argv[2:]] or [10000, 40000, 80000])
