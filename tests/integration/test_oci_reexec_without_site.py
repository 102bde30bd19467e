"""The protective re-exec of pycr-oci and pycr (pycr.core.linux.exe) skips ``site`` when it can.

The first process ran ``site``; the re-exec runs with ``-S`` and takes that
``sys.path`` from ``PYCR_SYS_PATH`` (the script's first lines) -- unless ``site``
installed an import hook (an editable install's finder, as in this dev venv).
A hand-made ``python -S pycr-oci`` still finds pycr through ``site``; ``pycr serve`` keeps
``site`` (its forkserver preloads).  Proven on
real runs: a ``createRuntime`` hook, a child of the runtime, reads the runtime's
command line from /proc and whether its executable is read-only.  The configs
have a ``startContainer`` hook, so pycr-oci's init cannot end through the exec
stub and ``create`` re-executes (tests/integration/test_exec_stub.py: the others).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig

import pytest

from pycr.core.testing.bundle import make_bundle
from tests.conftest import new_id

pytestmark = pytest.mark.root

SCRIPT = os.path.join(os.path.dirname(sys.executable), "pycr-oci")
PROBE = ("import os, sys; p = os.getppid(); "
         "print(open(f'/proc/{p}/cmdline', 'rb').read().decode().split(chr(0))); "
         "print(bool(os.statvfs(f'/proc/{p}/exe').f_flag & os.ST_RDONLY))")


def _runtime_seen_by_a_hook(tmp_path, argv: list[str], env: dict, verb: tuple = (),
                            start_hook: bool = True) -> tuple[list[str], bool]:
    """Run a container with ``argv`` (``verb``: ``("oci",)`` for pycr's own runtime verb); the
    runtime's argv and whether its executable is read-only.  ``start_hook``: with a
    ``startContainer`` hook (in the container: busybox's true), which needs the re-exec."""
    out = tmp_path / "runtime.txt"
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"exec {sys._base_executable} -I -S -c \"{PROBE}\" > {out}"]}
    hooks = {"createRuntime": [hook], **({"startContainer": [{"path": "/bin/true"}]} if start_hook else {})}
    bundle = make_bundle(str(tmp_path / "b"), ["true"], hooks=hooks)
    env = {k: v for k, v in env.items() if k not in ("PYCR_UNPROTECTED_INTERPRETER", "PYCR_SYS_PATH")}
    done = subprocess.run([*argv, "--root", str(tmp_path / "state"), *verb, "run", "--bundle", bundle, new_id("nosite")],
                          env={**env, "PYCR_CACHE_DIR": str(tmp_path / "cache")}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    import ast

    cmdline, readonly = out.read_text().splitlines()
    return ast.literal_eval(cmdline), readonly == "True"


def _plain_install(tmp_path) -> str:
    """A venv whose site only adds paths (a .pth with path lines, as a normal install), with
    both commands; returns its python."""
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
    python = str(tmp_path / "venv" / "bin" / "python")
    for name in ("pycr-oci", "pycr"):
        with open(os.path.join(os.path.dirname(pycr.core.__file__), "cli", name)) as f:  # this tree's
            text = f.read().split("\n", 1)[1]
        script = tmp_path / "venv" / "bin" / name
        script.write_text(f"#!{python}\n{text}")
        script.chmod(0o755)
    return python


def test_a_plain_install_reexecs_without_site(tmp_path):
    """A plain install: the runtime is the -S re-exec, from a read-only view, and
    PYCR_SYS_PATH is gone -- for pycr-oci and for pycr's own verbs."""
    python = _plain_install(tmp_path)
    script = str(tmp_path / "venv" / "bin" / "pycr-oci")
    argv, readonly = _runtime_seen_by_a_hook(tmp_path / "oci", [script], dict(os.environ))
    assert argv[:3] == [python, "-S", script] and readonly
    script = str(tmp_path / "venv" / "bin" / "pycr")
    argv, readonly = _runtime_seen_by_a_hook(tmp_path / "pycr", [script], dict(os.environ), verb=("oci",))
    assert argv[:3] == [python, "-S", script] and readonly


def test_pycr_serve_keeps_site_and_serves(tmp_path):
    """``pycr serve`` re-execs with site (so that its forkserver finds pycr to preload),
    and answers the docker client from a plain install, a change through its workers too."""
    import signal
    import time

    python = _plain_install(tmp_path)
    script = str(tmp_path / "venv" / "bin" / "pycr")
    sock, log = tmp_path / "api.sock", tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if k not in ("PYCR_UNPROTECTED_INTERPRETER", "PYCR_SYS_PATH")}
    with open(log, "w") as out:
        proc = subprocess.Popen([script, "--root", str(tmp_path / "state"), "serve", "--host", f"unix://{sock}"],
                                env={**env, "PYCR_STORAGE": str(tmp_path / "store")}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "Docker Engine API on" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            argv = f.read().decode().split("\0")
        assert argv[:2] == [python, script], argv
        docker_env = {**env, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(tmp_path / "dc")}
        done = subprocess.run(["docker", "ps", "--all", "--format", "{{.ID}}"], capture_output=True, text=True,
                              env=docker_env, timeout=60)
        assert done.returncode == 0 and done.stdout == "", done.stderr + log.read_text()
        # a change runs in the forkserver's workers (pycr.plugins.api.ops, preloaded)
        done = subprocess.run(["docker", "container", "prune", "--force"], capture_output=True, text=True,
                              env=docker_env, timeout=60)
        assert done.returncode == 0 and "Total reclaimed space" in done.stdout, done.stderr + log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()


def test_an_import_hook_keeps_site_and_python_s_by_hand_works(tmp_path):
    """This venv's editable finder comes from a .pth file: the re-exec keeps site.  And
    ``python -S pycr-oci`` without PYCR_SYS_PATH lets site find pycr."""
    argv, readonly = _runtime_seen_by_a_hook(tmp_path, [SCRIPT], dict(os.environ))
    assert "-S" not in argv and argv[1] == SCRIPT and readonly
    argv, readonly = _runtime_seen_by_a_hook(tmp_path / "s", [sys.executable, "-S", SCRIPT], dict(os.environ))
    assert argv[:3] == [sys.executable, "-S", SCRIPT] and readonly
