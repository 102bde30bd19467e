"""The Dockerfile reader, variable expansion and .dockerignore rules (no root, no containers)."""

from __future__ import annotations

import os
import re

import pytest

from pycr.core import ConfigError
from pycr.plugins.build import dockerfile as df
from pycr.plugins.build.ignore import Ignore


def test_instructions_lines_flags_continuations_and_directives():
    d = df.parse("# syntax=docker/dockerfile:1\n# escape=`\nARG B=scratch\nFROM $B AS one\n# c\n"
                 "RUN echo a `\n  b\nCOPY --chown=1:2 --from=one a /b/\nRUN [\"sh\", \"-c\", \"x\"]\n")
    cmds = [(i.cmd, i.line) for i in d.instructions]
    assert cmds == [("ARG", 3), ("FROM", 4), ("RUN", 6), ("COPY", 8), ("RUN", 9)]
    assert d.instructions[2].value == "echo a   b" and d.instructions[2].escape == "`"
    assert d.instructions[3].flags == {"chown": "1:2", "from": "one"} and d.instructions[3].value == "a /b/"
    assert d.instructions[4].json_or_words() == (True, ["sh", "-c", "x"])
    assert d.instructions[2].json_or_words() == (False, ["echo a   b"])
    assert "syntax=docker/dockerfile:1" in d.notes[0] and "ignored" in d.notes[0]


def test_heredocs_are_bodies_not_instructions():
    d = df.parse("FROM scratch\nRUN <<EOF\necho one\nfoo bar\nEOF\nCOPY <<-A /x\n\tindented\nA\nENV K=v\n")
    run, copy, env = d.instructions[1:]
    assert run.heredocs == [("EOF", "echo one\nfoo bar\n")]
    assert copy.heredocs == [("A", "indented\n")] and env.line == 9


@pytest.mark.parametrize("text, message", [
    ("FROM scratch\nFOO bar\n", "Dockerfile:2: unknown instruction: FOO"),
    ("FROM scratch\nRUN\n", "Dockerfile:2: RUN requires at least one argument"),
    ("LABEL a=b\nFROM scratch\n", "Dockerfile:1: LABEL: only ARG may come before the first FROM"),
    ("ARG X\n", "Dockerfile: no FROM instruction"),
    ("FROM scratch\nRUN --bogus x\n", "Dockerfile:2: RUN: unknown flag: --bogus"),
    ("FROM scratch\nRUN <<EOF\nno end\n", "heredoc <<EOF has no terminating EOF line"),
])
def test_syntax_errors_name_line_and_instruction(text, message):
    with pytest.raises(ConfigError) as e:
        df.parse(text)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_expand_docker_forms():
    env = {"A": "1", "E": "", "P": "/x y"}
    assert df.expand("$A-${A}-${B:-d}-${E:-d}-${E-d}-${A:+s}-${B:+s}", env) == "1-1-d-d--s-"
    assert df.expand("'$A' \"$A\" \\$A", env) == "'$A' \"1\" $A"
    assert df.words(df.expand('K="$P" L=\'q r\' M=a\\ b', env)) == ["K=/x y", "L=q r", "M=a b"]
    with pytest.raises(ConfigError):
        df.expand("${A", env)


def test_key_values_forms():
    ins = df.parse("FROM scratch\nENV A=1 B=\"two words\"\nENV OLD legacy form\nARG X\nLABEL k v w\n").instructions
    assert df.key_values(ins[1], {}) == [("A", "1"), ("B", "two words")]
    assert df.key_values(ins[2], {}) == [("OLD", "legacy form")]
    assert df.key_values(ins[3], {}) == [("X", None)]
    assert df.key_values(ins[4], {}) == [("k", "v w")]


def test_dockerignore_semantics():
    ig = Ignore(["# c", "*.log", "**/tmp", "docs", "!docs/keep.md", "/build/", "a?c", "sub/*/x"])
    assert ig.ignored("x.log") and not ig.ignored("d/x.log")  # * stays in one component
    assert ig.ignored("tmp") and ig.ignored("a/b/tmp") and ig.ignored("a/b/tmp/f")  # ** spans; parents match
    assert ig.ignored("docs/other.md") and not ig.ignored("docs/keep.md")  # the last match wins
    assert ig.ignored("build/out.o") and ig.ignored("abc") and not ig.ignored("abbc")
    assert ig.ignored("sub/q/x") and not ig.ignored("sub/q/r/x")
    assert not Ignore([]).ignored("anything")


def test_resolve_links_in_a_layer_listing():
    from pycr.core import resolve_links

    links = {"lib": "usr/lib", "abs": "/etc", "up": "../../..", "loop": "loop"}
    readlink = links.get
    assert resolve_links("/lib/x", readlink) == ["usr", "lib", "x"]
    assert resolve_links("/abs/passwd", readlink) == ["etc", "passwd"]
    assert resolve_links("/up/x", readlink) == ["x"]  # never above the root
    with pytest.raises(OSError):
        resolve_links("/loop/x", readlink)


def test_dockerignore_is_read_inside_the_context(tmp_path):
    """An API caller's context may link .dockerignore out of it: the file is read as if the
    context were /, so the link reaches nothing on the host; a FIFO there is one clear line."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "ignore-all").write_text("*\n")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / ".dockerignore").symlink_to("../outside/ignore-all")
    assert not Ignore.load(str(ctx)).ignored("a")  # followed, the host file would ignore everything
    (ctx / ".dockerignore").unlink()
    (ctx / ".dockerignore").symlink_to(str(outside / "ignore-all"))  # absolute: resolved inside too
    assert not Ignore.load(str(ctx)).ignored("a")
    (ctx / ".dockerignore").unlink()
    (ctx / ".dockerignore").write_text("a\n")
    assert Ignore.load(str(ctx)).ignored("a") and not Ignore.load(None).ignored("a")
    (ctx / ".dockerignore").unlink()
    os.mkfifo(ctx / ".dockerignore")
    with pytest.raises(ConfigError, match=r"^\.dockerignore in the build context is not a regular file$"):
        Ignore.load(str(ctx))


def _meta(line: str) -> dict:
    from pycr.plugins.build import metadata

    ins = df.parse("FROM scratch\n" + line + "\n").instructions[1]
    config = {"config": {}}
    metadata.HANDLERS[ins.cmd](config, ins, {}, f"Dockerfile:1: {ins.cmd}")
    return config["config"]


def test_expose_ranges_and_bad_ports():
    """A range is each of its ports, as docker stores it (``pycr run -P`` takes only PORT/PROTO keys)."""
    assert _meta("EXPOSE 8000-8002 53/udp 80")["ExposedPorts"] == {
        "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}, "53/udp": {}, "80/tcp": {}}
    for bad in ("99999", "0", "80-70", "80-", "x", "80/icmp", "1.2"):
        with pytest.raises(ConfigError, match=rf"^Dockerfile:1: EXPOSE: invalid port '{re.escape(bad)}' \(PORT"):
            _meta(f"EXPOSE {bad}")


def test_stopsignal_is_checked_at_build():
    assert _meta("STOPSIGNAL SIGUSR1")["StopSignal"] == "SIGUSR1"
    assert _meta("STOPSIGNAL 9")["StopSignal"] == "9"
    for bad in ("SIGBOGUS", "99"):
        with pytest.raises(ConfigError, match=r"^Dockerfile:1: STOPSIGNAL: unknown signal"):
            _meta(f"STOPSIGNAL {bad}")


def test_escape_directive_takes_backslash_or_backtick():
    assert len(df.parse("# escape=`\nFROM a\n").instructions) == 1
    with pytest.raises(ConfigError, match=r"^Dockerfile:1: '# escape=x': the escape character is \\ or `$"):
        df.parse("# escape=x\nFROM a\n")
