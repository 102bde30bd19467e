"""The runtime must hear a forked child's PID before anything the child says.

Both ends of the sync socket are shared by the forking process and its child;
a child that failed at once used to overtake PID, and the runtime then read the
child's failure as the parent's and lost what kind it was (docker exec gave 1
instead of 127 for a missing command)."""

from __future__ import annotations

import os
import time

from pycr.core.runtime import init, sync


def test_pid_comes_first_even_when_the_child_fails_at_once_and_the_parent_is_slow():
    parent, child = sync.Channel.pair()
    forker = os.fork()
    if forker == 0:  # the forking side (stage1 / pycr:[exec]), slow to send PID
        try:
            parent.close()
            send = child.send

            def slow_send(kind, **fields):
                if kind == sync.PID:
                    time.sleep(0.3)
                send(kind, **fields)

            child.send = slow_send
            init.fork_reported(child, lambda: init._fail(child, "boom", "missing"))
        finally:
            os._exit(3)
    child.close()
    try:
        first = parent.recv()
        assert first["type"] == sync.PID, first
        second = parent.recv()
        assert (second["type"], second["msg"], second["command"]) == (sync.ERROR, "boom", "missing")
    finally:
        parent.close()
        _, status = os.waitpid(forker, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    grandchild = first["pid"]
    deadline = time.monotonic() + 5  # the child was orphaned to init/a subreaper: it must be gone
    while os.path.exists(f"/proc/{grandchild}") and open(f"/proc/{grandchild}/stat").read().split()[2] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
