"""No shell example can be added to the docs untested without saying why: every ```sh block of
README.md and docs/*.md is marked runnable (tests/integration/test_docs_examples.py runs it) or
not-run with a reason, and every fenced block names its language, so a shell example cannot hide in
an untagged block."""

from tests.helpers.docs import examples

KNOWN_NEEDS = {"", "registry", "netns", "bundle"}


def test_every_fence_names_its_language():
    bare = [e.id for e in examples(langs=None) if not e.lang]
    assert not bare, f"fenced blocks without a language (```sh, ```text, ...): {bare}"


def test_every_shell_block_is_marked():
    unmarked = [e.id for e in examples() if not e.marker]
    assert not unmarked, ("```sh blocks without <!-- example: run ... --> or <!-- example: not-run (reason) -->: "
                          f"{unmarked}")


def test_markers_are_well_formed():
    for e in examples():
        assert e.run or "not-run (" in e.marker, e.id
        assert set(e.needs) <= KNOWN_NEEDS, f"{e.id}: unknown needs {e.needs}"
        assert e.cwd in ("", "repo"), f"{e.id}: unknown cwd {e.cwd!r}"


def test_the_runnable_examples_cover_each_layer():
    """The runnable set is not empty by accident (a broken marker regex would make it so)."""
    ran = {e.path for e in examples() if e.run}
    assert {"README.md", "docs/build.md", "docs/management.md", "docs/networking.md", "docs/research.md"} <= ran
