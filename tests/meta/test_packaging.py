"""Every package directory ships in the wheel.

The package list in pyproject.toml is written by hand (package-dir maps
``core`` -> ``pycr.core``), so a new directory that is not added there would
install fine in editable mode and be missing from a real install.  Build a
real wheel from a copy of the sources (so the work tree gets no build/ or
egg-info) and compare it with the directories that hold an ``__init__.py``.
"""

from __future__ import annotations

import ast
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
ROOTS = {"core": "pycr/core", "plugins": "pycr/plugins"}


def package_dirs() -> set[str]:
    """``pycr/core/runtime`` ... for every directory with an __init__.py."""
    out = set()
    for folder, prefix in ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            if "__pycache__" not in rel.parts:
                out.add(str(pathlib.PurePosixPath(prefix, *rel.parts)))
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    src = tmp_path_factory.mktemp("src")
    shutil.copy(REPO / "pyproject.toml", src)
    for extra in ("README.md", "LICENSE"):
        if (REPO / extra).exists():
            shutil.copy(REPO / extra, src)
    for folder in ROOTS:
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(out), str(src)], check=True, capture_output=True, timeout=300)
    (whl,) = out.glob("pycr-*.whl")
    return zipfile.ZipFile(whl)


def test_every_package_directory_is_in_the_wheel(wheel):
    shipped = {str(pathlib.PurePosixPath(n).parent) for n in wheel.namelist() if n.endswith("/__init__.py")}
    missing = sorted(package_dirs() - shipped)
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_every_module_is_in_the_wheel(wheel):
    names = set(wheel.namelist())
    for folder, prefix in ROOTS.items():
        for py in (REPO / folder).rglob("*.py"):
            rel = py.relative_to(REPO / folder)
            if (py.parent / "__init__.py").exists():
                assert str(pathlib.PurePosixPath(prefix, *rel.parts)) in names, f"{folder}/{rel} not in the wheel"


def test_entry_points_in_the_wheel(wheel):
    (ep,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(ep).decode()
    for group in ("[pycr.plugins]", "[pycr.cgroup]", "[pycr.rootfs]", "[pycr.image_source]", "[pycr.store]"):
        assert group in text


@pytest.mark.parametrize("name, call", [("pycr-oci", "console(sys.argv[1:])"), ("pycr", "sys.exit(main(sys.argv[1:]))")])
def test_commands_are_plain_scripts_in_the_wheel(wheel, name, call):
    """pycr and pycr-oci ship as plain scripts (script-files), not entry-point wrappers that import re,
    and protect the interpreter before importing the command (a re-exec repeats no import)."""
    (script,) = [n for n in wheel.namelist() if n.endswith(f".data/scripts/{name}")]
    text = wheel.read(script).decode()
    code = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert text.startswith("#!python") and "import re" not in code and code[-1] == call
    first = [ln for ln in code if ln.startswith(("from pycr", "import pycr", "protect_for"))][:2]  # the protection, before the command is imported
    assert first[0].startswith("from pycr.core.linux.exe import protect_for") and first[1].startswith(f'protect_for("{name}"')
    if name == "pycr-oci":  # the verbs it protects for are tested before the import, as exe's protect_for tests them
        from pycr.core.linux.exe import OCI_STARTS_PROCESSES

        guard = code[code.index(first[0]) - 1]
        assert guard.startswith("if not {") and guard.endswith("}.isdisjoint(sys.argv[1:]):")
        assert ast.literal_eval(guard[len("if not "):guard.index(".isdisjoint")]) == OCI_STARTS_PROCESSES


def test_every_schema_is_in_the_wheel(wheel):
    """Package data moves with its package (the image-spec schemas went to plugins/images/schemas)."""
    names = set(wheel.namelist())
    for folder, prefix in ROOTS.items():
        for data in (REPO / folder).rglob("*.json"):
            rel = data.relative_to(REPO / folder)
            assert str(pathlib.PurePosixPath(prefix, *rel.parts)) in names, f"{folder}/{rel} not in the wheel"
