"""``pycr serve`` for tests: the server on a private socket over the ``manage`` fixture's store.

``api`` (module scope) starts ``pycr serve`` with the same store and state
root as ``manage`` (so ``manage``'s teardown checks that nothing the API made
is left) and gives ``api.docker(*args)``: Debian's docker CLI (``/usr/bin/docker``,
package ``docker.io``; the docker daemon is never started) with ``DOCKER_HOST``
pointing at the socket.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from tests.conftest import PYCR
from tests.helpers.engines import run

DOCKER = "/usr/bin/docker"


class Api:
    def __init__(self, manage, workdir: str, extra_args=()):
        self.manage, self.workdir = manage, workdir
        self.sock = os.path.join(workdir, "pycr.sock")
        self.log = os.path.join(workdir, "serve.log")
        self.env = {**manage.env, "DOCKER_HOST": f"unix://{self.sock}", "DOCKER_CONFIG": os.path.join(workdir, "dc")}
        self.extra_args = list(extra_args)
        self.proc = None
        self.stdout = ""

    def start(self, ready: str = "Docker Engine API on") -> "Api":
        """Run ``pycr serve`` until it prints ``ready`` (then it serves and handles SIGTERM)."""
        out = open(self.log, "w")
        self.proc = subprocess.Popen([*self.manage.prefix, PYCR, "--root", self.manage.root, "serve", "--host",
                                      f"unix://{self.sock}", *self.extra_args], env=self.manage.env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.read_log()
                raise AssertionError(f"pycr serve exited: {log}")
            if ready in self.read_log():
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"pycr serve did not listen: {self.read_log()}")
        return self

    def read_log(self) -> str:
        with open(self.log) as f:
            return f.read()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        return code

    def docker(self, *args, check=None, input=None, timeout=120) -> subprocess.CompletedProcess:
        r = run([DOCKER, *args], check=False, input=input, timeout=timeout, env=self.env)
        if check is not None:
            assert r.returncode == check, f"docker {' '.join(args)} -> {r.returncode}: {r.stderr}{r.stdout}"
        return r

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


@contextlib.contextmanager
def serving(manage, extra_args=(), ui: bool = False):
    """``pycr serve`` over ``manage``'s store for the block; afterwards: clean exit, no traceback, no socket.
    ``ui``: also the dashboard on a loopback port the kernel picks (``--ui 127.0.0.1:0``; ``a.url``
    with its token, ``a.base``): no free port to lose to another process before the bind."""
    if not os.path.exists(DOCKER):
        pytest.fail("missing the docker CLI (apt-get install docker.io)")
    work = tempfile.mkdtemp(prefix="pycr-tests-api-")
    args = ["--ui", "127.0.0.1:0", *extra_args] if ui else list(extra_args)
    a = Api(manage, work, args)
    try:
        a.start("dashboard on" if ui else "Docker Engine API on")
    except BaseException:  # a server that did not start (or not in time) leaves nothing either
        if a.proc is not None and a.proc.poll() is None:
            a.proc.kill()
            a.proc.wait()
        shutil.rmtree(work, ignore_errors=True)
        raise
    if ui:
        a.url = re.search(r"dashboard on (http://\S+)", a.read_log()).group(1)
        a.base = a.url.split("/?")[0]
    try:
        yield a
    finally:
        code = a.stop()
        log = a.read_log()
        shutil.rmtree(work, ignore_errors=True)
        assert code == 0, log
        assert "Traceback" not in log, log
        assert not os.path.exists(a.sock)


@pytest.fixture(scope="module")
def api(manage):
    with serving(manage) as a:
        yield a
