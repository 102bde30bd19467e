"""A merge's conflict markers never get committed (one did, in docs/security.md)."""

import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARKER = re.compile(rb"^(<<<<<<< |>>>>>>> |=======$)", re.M)


def test_no_tracked_file_holds_conflict_markers():
    files = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True, check=True).stdout
    hits = []
    for name in filter(None, files.decode().split("\0")):
        path = os.path.join(ROOT, name)
        if os.path.isfile(path) and os.path.getsize(path) < 4 << 20:
            with open(path, "rb") as f:
                if MARKER.search(f.read()):
                    hits.append(name)
    assert hits == []
