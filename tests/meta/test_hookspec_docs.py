"""Keep the plugin guide true: every hookspec is documented with its exact
signature (generated here from the code, not copied), its firstresult-ness,
and has at least one test outside tests/meta that names it.  The driver
contracts' methods are documented too."""

from __future__ import annotations

import inspect
import pathlib
import re

import pytest

from pycr.core import hookspecs

REPO = pathlib.Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "plugins.md"


def _specs():
    return sorted((name, fn) for name, fn in vars(hookspecs).items()
                  if name.startswith("pycr_") and hasattr(fn, "pycr_spec"))


def signature_text(name: str, fn) -> str:
    """``pycr_x(a: dict, b)``: what the guide must show (annotations evaluated)."""
    return f"{name}{inspect.signature(fn, eval_str=True)}"


def _section(text: str, name: str) -> str:
    """The guide's section for hook ``name``: from its ``### `name``` heading to the next heading."""
    m = re.search(rf"^### `{name}`\s*$(.*?)(?=^#)", text + "\n#", re.M | re.S)
    assert m, f"docs/plugins.md has no '### `{name}`' section"
    return m.group(1)


def test_there_are_hookspecs():
    assert len(_specs()) >= 10


@pytest.mark.parametrize("name,fn", _specs(), ids=[n for n, _ in _specs()])
def test_hookspec_documented_with_exact_signature(name, fn):
    section = _section(GUIDE.read_text(), name)
    assert signature_text(name, fn) in section, f"signature of {name} in docs/plugins.md is out of date"
    firstresult = fn.pycr_spec["firstresult"]
    assert ("firstresult" in section) == firstresult, f"{name}: firstresult={firstresult} not stated in the guide"


def test_signature_text_is_generated_from_code():
    text = signature_text("pycr_select_driver", hookspecs.pycr_select_driver)
    assert text == "pycr_select_driver(slot: str, name: str, config: dict | None)"


@pytest.mark.parametrize("name", [n for n, _ in _specs()])
def test_hookspec_has_a_test(name):
    tests = [p for p in (REPO / "tests").rglob("*.py") if "meta" not in p.relative_to(REPO / "tests").parts]
    assert any(name in p.read_text() for p in tests), f"no test outside tests/meta mentions {name}"


def test_guide_documents_no_hook_that_does_not_exist():
    documented = set(re.findall(r"^### `(pycr_\w+)`", GUIDE.read_text(), re.M))
    assert documented == {n for n, _ in _specs()}


def _contract_methods(cls) -> list[str]:
    return sorted(n for n, v in vars(cls).items()
                  if not n.startswith("_") and callable(getattr(cls, n)) and n not in ("mount", "umount"))


def test_cgroup_driver_contract_documented():
    from pycr.core import CgroupDriver

    text = GUIDE.read_text()
    missing = [m for m in _contract_methods(CgroupDriver) if f"`{m}(" not in text]
    assert not missing, f"CgroupDriver methods missing from docs/plugins.md: {missing}"


def test_rootfs_strategy_contract_documented():
    rootfs = pytest.importorskip("pycr.core.rootfs")
    text = GUIDE.read_text()
    missing = [m for m in _contract_methods(rootfs.RootfsStrategy) if f"`{m}(" not in text]
    assert not missing, f"RootfsStrategy methods missing from docs/plugins.md: {missing}"


def test_content_store_contract_documented():
    from pycr.core import ContentStore

    text = GUIDE.read_text()
    missing = [m for m in _contract_methods(ContentStore) if f"`{m}(" not in text]
    assert not missing, f"ContentStore methods missing from docs/plugins.md: {missing}"


def test_disable_switches_documented():
    from pycr.core.plugins import AUTOLOAD_ENV, ESSENTIAL

    text = GUIDE.read_text()
    assert AUTOLOAD_ENV in text and "-p no:" in text
    for name in ESSENTIAL:
        assert f"`{name}`" in text
