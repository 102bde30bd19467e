"""pycr-oci's protective re-exec (pycr.core.linux.exe) skips ``site`` when it can.

The first process ran ``site``; the re-exec runs with ``-S`` and takes that
``sys.path`` from ``PYCR_SYS_PATH`` (the script's first lines) -- unless ``site``
installed an import hook (an editable install's finder, as in this dev venv).
A hand-made ``python -S pycr-oci`` still finds pycr through ``site``.  Proven on
real runs: a ``createRuntime`` hook, a child of the runtime, reads the runtime's
command line from /proc and whether its executable is read-only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig

import pytest

from pycr.core.testing.bundle import make_bundle

pytestmark = pytest.mark.root

SCRIPT = os.path.join(os.path.dirname(sys.executable), "pycr-oci")
PROBE = ("import os, sys; p = os.getppid(); "
         "print(open(f'/proc/{p}/cmdline', 'rb').read().decode().split(chr(0))); "
         "print(bool(os.statvfs(f'/proc/{p}/exe').f_flag & os.ST_RDONLY))")


def _runtime_seen_by_a_hook(tmp_path, argv: list[str], env: dict) -> tuple[list[str], bool]:
    """Run a container with ``argv``; the runtime's argv and whether its executable is read-only."""
    out = tmp_path / "runtime.txt"
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"exec {sys._base_executable} -I -S -c \"{PROBE}\" > {out}"]}
    bundle = make_bundle(str(tmp_path / "b"), ["true"], hooks={"createRuntime": [hook]})
    env = {k: v for k, v in env.items() if k not in ("PYCR_UNPROTECTED_INTERPRETER", "PYCR_SYS_PATH")}
    done = subprocess.run([*argv, "--root", str(tmp_path / "state"), "run", "--bundle", bundle, "nosite"],
                          env={**env, "PYCR_CACHE_DIR": str(tmp_path / "cache")}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    import ast

    cmdline, readonly = out.read_text().splitlines()
    return ast.literal_eval(cmdline), readonly == "True"


def test_a_plain_install_reexecs_without_site(tmp_path):
    """A venv whose site only adds paths (a .pth with path lines, as a normal install):
    the runtime is the -S re-exec, from a read-only view, and PYCR_SYS_PATH is gone."""
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    purelib = sysconfig.get_path("purelib", vars={"base": str(tmp_path / "venv")})
    plain = tmp_path / "plain" / "pycr"
    plain.mkdir(parents=True)
    import pycr.core
    import pycr.plugins

    os.symlink(os.path.dirname(pycr.core.__file__), plain / "core")
    os.symlink(os.path.dirname(pycr.plugins.__file__), plain / "plugins")
    with open(os.path.join(purelib, "plain.pth"), "w") as f:  # pycr, then this venv's dependencies
        f.write(f"{plain.parent}\n{sysconfig.get_path('purelib')}\n")
    script = tmp_path / "venv" / "bin" / "pycr-oci"
    with open(SCRIPT) as f:
        text = f.read().split("\n", 1)[1]
    python = str(tmp_path / "venv" / "bin" / "python")
    script.write_text(f"#!{python}\n{text}")
    script.chmod(0o755)
    argv, readonly = _runtime_seen_by_a_hook(tmp_path, [str(script)], dict(os.environ))
    assert argv[:3] == [python, "-S", str(script)] and readonly


def test_an_import_hook_keeps_site_and_python_s_by_hand_works(tmp_path):
    """This venv's editable finder comes from a .pth file: the re-exec keeps site.  And
    ``python -S pycr-oci`` without PYCR_SYS_PATH lets site find pycr."""
    argv, readonly = _runtime_seen_by_a_hook(tmp_path, [SCRIPT], dict(os.environ))
    assert "-S" not in argv and argv[1] == SCRIPT and readonly
    argv, readonly = _runtime_seen_by_a_hook(tmp_path / "s", [sys.executable, "-S", SCRIPT], dict(os.environ))
    assert argv[:3] == [sys.executable, "-S", SCRIPT] and readonly
