"""Built-in plugins use only pycr.core's public names, as a third party must
(trio's rule): ``from pycr.core import X`` with X in ``pycr.core.__all__``;
``pycr.core.<sub>`` imports, at module level or inside functions, are flagged."""

from __future__ import annotations

import ast
import pathlib

import pytest

import pycr.core

REPO = pathlib.Path(__file__).resolve().parents[2]
PLUGINS = REPO / "plugins"


def violations(source: str, filename: str) -> list[str]:
    """Every import in ``source`` that reaches past pycr.core's public names."""
    found = []
    public = set(pycr.core.__all__)
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "pycr.core":
                found += [f"{filename}:{node.lineno}: pycr.core.{a.name} is not public"
                          for a in node.names if a.name not in public]
            elif node.module.startswith("pycr.core."):
                found.append(f"{filename}:{node.lineno}: from {node.module} import ... (internal module)")
        elif isinstance(node, ast.Import):
            found += [f"{filename}:{node.lineno}: import {a.name} (internal module)"
                      for a in node.names if a.name.startswith("pycr.core.")]
    return found


def _plugin_files():
    return sorted(PLUGINS.rglob("*.py"))


@pytest.mark.parametrize("path", _plugin_files(), ids=lambda p: str(p.relative_to(PLUGINS)))
def test_builtin_plugin_imports_only_public_names(path):
    assert violations(path.read_text(), str(path.relative_to(REPO))) == []


def test_checker_flags_internal_imports():
    src = ("from pycr.core import hookimpl, Secret\n"
           "def f():\n    from pycr.core.linux.caps import cap_mask\n    import pycr.core.spec\n")
    found = violations(src, "x.py")
    assert len(found) == 3
    assert "x.py:1: pycr.core.Secret is not public" in found
    assert any("pycr.core.linux.caps" in v and ":3:" in v for v in found)


@pytest.mark.parametrize("name", pycr.core.__all__)
def test_every_public_name_resolves_in_a_fresh_interpreter(name):
    """Fresh, so a name that only works after some other import is caught."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", f"from pycr.core import {name}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_importing_pycr_core_stays_cheap():
    import subprocess
    import sys

    code = "import sys, pycr.core; print(sorted(m for m in sys.modules if m.startswith(('pycr', 'pluggy', 'stevedore'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(out) == ["pycr", "pycr.core", "pycr.core.errors"]


# -- third-party code: the examples and what `pycr plugin new` writes ----------

def third_party_violations(source: str, filename: str) -> list[str]:
    """Like ``violations``, but the testing kit (``pycr.core.testing``) is public too."""
    import pycr.core.testing as testing

    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "pycr.core.testing":
            found += [f"{filename}:{node.lineno}: pycr.core.testing.{a.name} is not exported"
                      for a in node.names if a.name not in testing.__all__]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pycr.core.testing."):
            continue  # the kits' modules (check_* functions) are public
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found += violations(ast.unparse(node), f"{filename}:{node.lineno}")
    return found


def _third_party_sources():
    from pycr.core.cli import plugin_skeletons

    out = [(str(p.relative_to(REPO)), p.read_text()) for p in sorted((REPO / "examples").rglob("*.py"))]
    for kind in plugin_skeletons.KINDS:
        out += [(f"skeleton[{kind}]/{rel}", text) for rel, text in plugin_skeletons.files(kind, "demo").items()
                if rel.endswith(".py")]
    return out


@pytest.mark.parametrize("name,source", _third_party_sources(), ids=[n for n, _ in _third_party_sources()])
def test_examples_and_skeletons_use_only_the_public_api(name, source):
    assert third_party_violations(source, name) == []


def test_third_party_checker_flags_internal_imports():
    src = "from pycr.core.testing import PluginManager, Secret\nfrom pycr.core.plugins import PluginManager\n"
    found = third_party_violations(src, "t.py")
    assert len(found) == 2 and "Secret" in found[0] and "pycr.core.plugins" in found[1]
