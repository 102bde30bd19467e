"""The exec stub's machine code in core/linux/exec_stub.py is exec_stub.S assembled."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import gen_exec_stub  # noqa: E402

from pycr.core.linux import exec_stub  # noqa: E402


def test_the_committed_code_is_the_assembled_source():
    assert exec_stub.CODE == gen_exec_stub.assemble()


def test_regenerating_keeps_the_module_text():
    with open(gen_exec_stub.MODULE) as f:
        text = f.read()
    assert gen_exec_stub.rewrite(text, exec_stub.CODE) == text
    assert gen_exec_stub.rewrite(text, b"\x90" * 8) != text
