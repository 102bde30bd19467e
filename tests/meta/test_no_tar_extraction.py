"""pycr never uses tarfile's extraction (docs/security.md, class 10): ``extractall``/``extract`` trust
``tarfile``'s path filters, which CVE-2025-4517 defeats with paths past PATH_MAX, and
``shutil.unpack_archive`` calls them.  Archives are read in place (``images/archive_members``) or
unpacked from directory fds (``images/unpack``)."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
FORBIDDEN = {"extractall", "extract", "unpack_archive"}


def test_no_tarfile_extraction_in_core_or_plugins():
    found = []
    for top in ("core", "plugins"):
        for path in sorted((ROOT / top).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FORBIDDEN:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.func.attr}(")
    assert not found, found
