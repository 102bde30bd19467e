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


def module_requires(source: str) -> tuple[str, ...]:
    """The ``requires = (...)`` assigned at the top level of ``source``."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "requires" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    return ()


def declared_requires(package_dir: pathlib.Path) -> tuple[str, ...]:
    """The ``requires = (...)`` a plugin package declares in a top-level module (read, not imported):
    ``__init__.py`` for a driver, ``hooks.py`` for a layer's hook plugin."""
    found: tuple[str, ...] = ()
    for module in sorted(package_dir.glob("*.py")):
        found += module_requires(module.read_text())
    return found


def violations(source: str, filename: str, plugin: str | None = None, requires=()) -> list[str]:
    """Every import in ``source`` that reaches past pycr.core's public names (and the
    testing kit's), or into a plugin other than ``plugin`` and those it ``requires``."""
    import pycr.core.testing as testing

    found = []
    public = set(pycr.core.__all__)
    allowed = {f"pycr.plugins.{name}" for name in (plugin, *requires) if name}

    def other_plugin(module: str) -> bool:
        return module.startswith("pycr.plugins.") and ".".join(module.split(".")[:3]) not in allowed

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "pycr.core":
                found += [f"{filename}:{node.lineno}: pycr.core.{a.name} is not public"
                          for a in node.names if a.name not in public]
            elif node.module == "pycr.core.testing":
                found += [f"{filename}:{node.lineno}: pycr.core.testing.{a.name} is not exported"
                          for a in node.names if a.name not in testing.__all__]
            elif node.module.startswith("pycr.core.testing."):
                continue  # the kits' modules (check_* functions) are public
            elif node.module.startswith("pycr.core."):
                found.append(f"{filename}:{node.lineno}: from {node.module} import ... (internal module)")
            elif node.module == "pycr.plugins":
                found += [f"{filename}:{node.lineno}: pycr.plugins.{a.name} is not in requires {tuple(requires)}"
                          for a in node.names if other_plugin(f"pycr.plugins.{a.name}")]
            elif other_plugin(node.module):
                found.append(f"{filename}:{node.lineno}: {node.module} is not in requires {tuple(requires)}")
        elif isinstance(node, ast.Import):
            found += [f"{filename}:{node.lineno}: import {a.name} (internal module)"
                      for a in node.names if a.name.startswith("pycr.core.")]
            found += [f"{filename}:{node.lineno}: import {a.name} is not in requires {tuple(requires)}"
                      for a in node.names if other_plugin(a.name)]
    return found


def _plugin_files():
    return sorted(PLUGINS.rglob("*.py"))


@pytest.mark.parametrize("path", _plugin_files(), ids=lambda p: str(p.relative_to(PLUGINS)))
def test_builtin_plugin_imports_only_public_names_and_what_it_requires(path):
    rel = path.relative_to(PLUGINS)
    package = rel.parts[0] if len(rel.parts) > 1 else None
    requires = declared_requires(PLUGINS / package) if package else ()
    assert violations(path.read_text(), str(path.relative_to(REPO)), package, requires) == []


def test_core_imports_no_plugin():
    """The host knows no plugin by name: nothing under core/ imports pycr.plugins."""
    found = []
    for path in sorted((REPO / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            found += [f"{path.relative_to(REPO)}:{node.lineno}: {n}" for n in names if n.startswith("pycr.plugins")]
    assert found == []


def test_requires_checker_flags_undeclared_plugins():
    src = ("from pycr.plugins import images, manage\nimport pycr.plugins.bench.runner\n"
           "from pycr.plugins.probe import x\n")
    found = violations(src, "m.py", "probe", ("images",))
    assert len(found) == 2 and "pycr.plugins.manage" in found[0] and "pycr.plugins.bench" in found[1]


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

def third_party_violations(source: str, filename: str, requires=()) -> list[str]:
    """Like ``violations``, for code outside plugins/: the plugins its package requires are allowed."""
    return violations(source, filename, None, requires)


def _third_party_sources():
    """(name, source, requires of its package) for the examples and what `pycr plugin new` writes."""
    from pycr.core.cli import plugin_skeletons

    out = []
    for example in sorted(p for p in (REPO / "examples").iterdir() if p.is_dir()):
        files = sorted(example.rglob("*.py"))
        requires = tuple(r for f in files for r in module_requires(f.read_text()))
        out += [(str(f.relative_to(REPO)), f.read_text(), requires) for f in files]
    for kind in plugin_skeletons.KINDS:
        files = {rel: text for rel, text in plugin_skeletons.files(kind, "demo").items() if rel.endswith(".py")}
        requires = tuple(r for text in files.values() for r in module_requires(text))
        out += [(f"skeleton[{kind}]/{rel}", text, requires) for rel, text in files.items()]
    return out


@pytest.mark.parametrize("name,source,requires", _third_party_sources(), ids=[n for n, _, _ in _third_party_sources()])
def test_examples_and_skeletons_use_only_the_public_api(name, source, requires):
    assert third_party_violations(source, name, requires) == []


def test_third_party_checker_flags_internal_imports():
    src = "from pycr.core.testing import PluginManager, Secret\nfrom pycr.core.plugins import PluginManager\n"
    found = third_party_violations(src, "t.py")
    assert len(found) == 2 and "Secret" in found[0] and "pycr.core.plugins" in found[1]
