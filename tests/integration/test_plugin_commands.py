"""Verbs come from plugins (hook ``pycr_add_commands``) and plugins declare what
they require -- proven on the real ``pycr`` command with the installed
plugins and third-party ones written as distributions for the test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from pycr.core.testing import write_dist

BIN = os.path.dirname(sys.executable)


def pycr(*args, env=None):
    return subprocess.run([os.path.join(BIN, "pycr"), *args], capture_output=True, text=True, timeout=60,
                          env=env)


@pytest.fixture
def env(tmp_path):
    """A site directory for test distributions, and a private entry-point cache."""
    site = tmp_path / "site"
    site.mkdir()
    return {**os.environ, "PYTHONPATH": str(site), "PYCR_CACHE_DIR": str(tmp_path / "cache"),
            "PYCR_ROOT": str(tmp_path / "run"), "PYCR_STORAGE": str(tmp_path / "store")}, str(site)


def test_help_lists_verbs_grouped_by_plugin():
    done = pycr("--help")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    groups, current = {}, None
    for line in lines[lines.index("verbs:") + 1:]:
        if line.startswith(" ") and line.strip().endswith(":") and not line.startswith("  "):
            current = line.strip()[:-1]
        elif line.startswith("  ") and current:
            groups.setdefault(current, []).append(line.split()[0])
        elif not line:
            break
    assert {"run", "ps", "exec", "rm", "logs"} <= set(groups["manage"])
    assert {"pull", "push", "images", "load", "save"} <= set(groups["images"])
    assert groups["bench"] == ["bench"] and groups["probe"] == ["probe"]
    assert set(groups["core"]) == {"plugins", "plugin", "oci"}
    assert sum(len(v) for v in groups.values()) == len({v for vs in groups.values() for v in vs})


def test_disabled_plugin_verb_is_one_line_naming_the_plugin(env):
    environ, _ = env
    done = pycr("-p", "no:manage", "ps", env=environ)
    assert done.returncode != 0
    assert done.stderr == "command 'ps' is provided by plugin 'manage', which is disabled (-p no:manage)\n"
    off = [arg for p in ["manage", *requirers("manage")] for arg in ("-p", f"no:{p}")]  # and what needs it
    done = pycr(*off, "ps", env=environ)
    assert done.stderr == "command 'ps' is provided by plugin 'manage', which is disabled (-p no:manage)\n"
    assert "ps" not in pycr(*off, "--help", env=environ).stdout.split()
    assert pycr(*off, "images", env=environ).returncode == 0  # the images layer still works


def requirers(name: str) -> list[str]:
    """The installed plugins that need ``name``, directly or through another (other layers join)."""
    from pycr.core.cli.commands import plugin_table

    table = {p["name"]: set(p["requires"]) for p in plugin_table()}
    found: set[str] = set()
    while True:
        more = {p for p, needs in table.items() if needs & (found | {name})} - found
        if not more:
            return sorted(found)
        found |= more


def test_disabling_a_required_plugin_names_both(env):
    environ, _ = env
    assert "manage" in requirers("images")
    done = pycr("-p", "no:images", "ps", env=environ)
    assert done.returncode != 0
    m = re.fullmatch(r"plugin '(\w+)' from pycr 0\.1\.0 requires plugin 'images', which is disabled "
                     r"\(-p no:images\)\n", done.stderr)
    assert m and m.group(1) in requirers("images"), done.stderr
    off = [arg for p in ["images", *requirers("images")] for arg in ("-p", f"no:{p}")]
    done = pycr(*off, "bench", "--help", env=environ)
    assert done.returncode == 0, done.stderr  # nothing left requires images


def test_unknown_verb_lists_the_choices(env):
    environ, _ = env
    done = pycr("frobnicate", env=environ)
    assert done.returncode != 0 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("unknown command 'frobnicate'; choose one of: ") and " ps," in done.stderr


def test_third_party_verb_runs_and_is_grouped(env):
    environ, site = env
    write_dist(site, "pycr-hello", "0.3", {"pycr.plugins": {"hello": "pycrtest_hello"}}, {
        "pycrtest_hello.py": """
            from pycr.core import hookimpl

            @hookimpl
            def pycr_add_commands(commands):
                commands.add("hello", "pycrtest_hello_verb", "say hello")
            """,
        "pycrtest_hello_verb.py": """
            def add_arguments(parser):
                parser.add_argument("who")

            def run(opts, ns):
                print(f"hello {ns.who}")
                return 3
            """})
    done = pycr("hello", "world", env=environ)
    assert (done.returncode, done.stdout, done.stderr) == (3, "hello world\n", "")
    assert " hello:\n  hello        say hello\n" in pycr("--help", env=environ).stdout
    done = pycr("-p", "no:hello", "hello", "x", env=environ)
    assert done.stderr == "command 'hello' is provided by plugin 'hello', which is disabled (-p no:hello)\n"


def test_two_plugins_claiming_one_verb_is_one_line(env):
    environ, site = env
    write_dist(site, "pycr-dup", "1.0", {"pycr.plugins": {"dup": "pycrtest_dup"}}, {
        "pycrtest_dup.py": """
            from pycr.core import hookimpl

            @hookimpl
            def pycr_add_commands(commands):
                commands.add("ps", "pycrtest_dup", "my own ps")
            """})
    done = pycr("ps", env=environ)
    assert done.returncode != 0
    assert done.stderr == ("command 'ps' is provided by both plugin 'manage' and plugin 'dup'; "
                           "disable one with -p no:NAME\n")
    assert pycr("-p", "no:dup", "ps", env=environ).returncode == 0
    done = pycr("plugins", env=environ)  # the shell's own verbs still run: they show what is installed
    assert done.returncode == 0 and "\ndup " in done.stdout


def test_missing_requirement_of_a_third_party_plugin_names_both(env):
    environ, site = env
    write_dist(site, "pycr-needy", "2.0", {"pycr.plugins": {"needy": "pycrtest_needy"}}, {
        "pycrtest_needy.py": """
            from pycr.core import hookimpl

            requires = ("images", "pycrtest_absent")

            @hookimpl
            def pycr_add_commands(commands):
                commands.add("needy", "pycrtest_needy", "needs a network layer")
            """})
    assert pycr("images", env=environ).returncode == 0  # other verbs are not affected
    done = pycr("needy", env=environ)
    assert done.returncode != 0
    assert done.stderr == ("plugin 'needy' from pycr-needy 2.0 requires plugin 'pycrtest_absent', "
                           "which is not installed\n")
    done = pycr("plugins", "--format", "json", env=environ)  # the plugin manager drops it with a warning
    assert done.returncode == 0
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert "images" in rows["manage"]["requires"] and "ps" in rows["manage"]["verbs"]
    assert rows["images"]["requires"] == [] and "pull" in rows["images"]["verbs"]
    row = rows["needy"]
    assert row["status"] == "failed" and "requires plugin 'pycrtest_absent'" in row["error"]
    assert done.stderr == ("warning: plugin 'needy' from pycr-needy 2.0 requires plugin 'pycrtest_absent', "
                           "which is not installed\n")


def test_driver_requirement_is_checked_when_chosen(env, tmp_path):
    environ, _ = env
    off = ["images", *requirers("images")]
    done = pycr(*[arg for p in off for arg in ("-p", f"no:{p}")], "plugins", env=environ)
    assert done.returncode == 0, done.stderr
    from pycr.core import PluginError
    from pycr.core.testing import PluginManager

    pm = PluginManager(disabled=off)
    with pytest.raises(PluginError) as e:
        pm.driver("rootfs", "chroot")
    assert str(e.value) == "rootfs driver 'chroot' requires plugin 'images', which is disabled (-p no:images)"


def test_verb_table_follows_an_edited_registration(env):
    """The cached verb table is rebuilt when a registering module changes (no stale verbs)."""
    environ, site = env
    source = """
        from pycr.core import hookimpl

        @hookimpl
        def pycr_add_commands(commands):
            commands.add("{verb}", "pycrtest_hello_verb", "say hello")
        """
    verb_module = {"pycrtest_hello_verb.py": "def add_arguments(parser):\n    pass\n\n"
                                             "def run(opts, ns):\n    print('hi')\n"}
    write_dist(site, "pycr-edit", "1.0", {"pycr.plugins": {"edit": "pycrtest_edit"}},
               {"pycrtest_edit.py": source.format(verb="first"), **verb_module})
    assert pycr("first", env=environ).stdout == "hi\n"
    path = os.path.join(site, "pycrtest_edit.py")
    with open(path, "w") as f:  # the author edits the module in place: nothing new on sys.path
        f.write(textwrap.dedent(source.format(verb="second")))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a later edit, even on a coarse clock
    assert pycr("second", env=environ).stdout == "hi\n"
    assert "unknown command 'first'" in pycr("first", env=environ).stderr


def test_broken_plugin_fixed_in_place_gets_its_verb(env):
    environ, site = env
    write_dist(site, "pycr-fixme", "0.1", {"pycr.plugins": {"fixme": "pycrtest_fixme"}},
               {"pycrtest_fixme.py": "import pycrtest_not_there\n"})
    assert "unknown command 'fixme'" in pycr("fixme", env=environ).stderr
    with open(os.path.join(site, "pycrtest_fixme.py"), "w") as f:
        f.write("from pycr.core import hookimpl\n\n@hookimpl\ndef pycr_add_commands(commands):\n"
                "    commands.add('fixme', 'pycrtest_fixme_verb', 'fixed')\n")
    with open(os.path.join(site, "pycrtest_fixme_verb.py"), "w") as f:
        f.write("def add_arguments(parser):\n    pass\n\ndef run(opts, ns):\n    print('fixed')\n")
    assert pycr("fixme", env=environ).stdout == "fixed\n"
