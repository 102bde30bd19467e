"""The shell examples of README.md and docs/*.md with their ``<!-- example: ... -->`` markers.

Shared by the test that runs them (tests/integration/test_docs_examples.py) and the meta-test that
checks every block is marked (tests/meta/test_docs_examples_marked.py).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
FENCE = re.compile(r"^```(\S*)\n(.*?)^```$", re.S | re.M)
MARKER = re.compile(r"<!-- example: (run(?P<opts>[^>]*?)|not-run \((?P<reason>[^)]+)\)) -->\n\Z")


@dataclasses.dataclass
class Example:
    path: str       # relative to the repository
    line: int       # of the opening fence
    lang: str
    code: str
    marker: str     # "" when the block has none
    run: bool = False
    needs: tuple = ()
    cwd: str = ""

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def doc_files() -> list[str]:
    return ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))


def examples(langs=("sh",)) -> list[Example]:
    """Every fenced block of a language in ``langs`` (all blocks when ``langs`` is None)."""
    found = []
    for rel in doc_files():
        with open(os.path.join(ROOT, rel)) as f:
            text = f.read()
        for m in FENCE.finditer(text):
            if langs is not None and m.group(1) not in langs:
                continue
            before = text[:m.start()]
            mark = MARKER.search(before)
            ex = Example(rel, before.count("\n") + 1, m.group(1), m.group(2), mark.group(0).strip() if mark else "")
            if mark and mark.group(1).startswith("run"):
                opts = dict(o.split("=", 1) for o in mark.group("opts").split())
                ex.run, ex.needs, ex.cwd = True, tuple(opts.get("needs", "").split(",")), opts.get("cwd", "")
            found.append(ex)
    return found
