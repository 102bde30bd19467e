"""Regenerate ``CODE`` in core/linux/exec_stub.py from core/linux/exec_stub.S.

Assembles the stub with binutils (``as``, ``objcopy``) and rewrites the hex
literal between the ``CODE = bytes.fromhex(`` line and its closing parenthesis;
tests/meta/test_exec_stub_source.py fails while the two differ.

Usage: python scripts/gen_exec_stub.py [--check]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "core", "linux", "exec_stub.S")
MODULE = os.path.join(ROOT, "core", "linux", "exec_stub.py")
START = "CODE = bytes.fromhex(\n"


def assemble() -> bytes:
    """The stub's code (the .text section) as the assembler lays it out."""
    with tempfile.TemporaryDirectory() as tmp:
        obj, raw = os.path.join(tmp, "stub.o"), os.path.join(tmp, "stub.bin")
        subprocess.run(["as", "--64", "-o", obj, SOURCE], check=True)
        subprocess.run(["objcopy", "-O", "binary", "-j", ".text", obj, raw], check=True)
        with open(raw, "rb") as f:
            return f.read()


def rewrite(text: str, code: bytes) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split("\n)\n", 1)
    digits = code.hex()
    lines = "".join(f'    "{digits[i:i + 94]}"\n' for i in range(0, len(digits), 94))
    return f"{head}{START}{lines})\n{tail}"


def main() -> int:
    with open(MODULE) as f:
        text = f.read()
    new = rewrite(text, assemble())
    if "--check" in sys.argv:
        return 0 if new == text else 1
    with open(MODULE, "w") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
