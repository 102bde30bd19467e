"""Waiting for something to become true, with a deadline, instead of sleeping a fixed time.

On a loaded machine a fixed sleep is either too short (the test fails at random) or
wasted; polling waits as long as needed and no longer, and a deadline turns a hang
into a failure that says what never happened.
"""

from __future__ import annotations

import time


def until(cond, what: str, timeout: float = 30, interval: float = 0.1):
    """Call ``cond()`` until it returns something true and return that; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(interval)
    return value
