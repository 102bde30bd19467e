"""Which monitor watches a container: a driver of slot ``pycr.monitor``, chosen by name.

``pycr create/run --monitor NAME`` (default: ``$PYCR_MONITOR``, else ``pycr``) picks it; the
name and the log format it writes are kept in the container's record, so ``start``, restarts
and ``logs`` use the same one.  A driver is a class with:

- ``name``, ``log_format`` (``json-file`` or ``k8s-file``: ``records.log_entry`` reads both);
- ``check(ns)``: refuse, in one line, options it cannot carry out (before anything is made);
- ``start(rec)``: start the container under a new monitor; returns once it runs, or raises;
- ``relaunch(rec) -> bool``: from the finish step, start it again for its restart policy.

Built in: ``pycr`` (``launch.PycrMonitor``) and ``conmon`` (``conmon.ConmonMonitor``).
"""

from __future__ import annotations

import os

DEFAULT = "pycr"
ENV = "PYCR_MONITOR"


def chosen(opts, ns, check: bool = True):
    """The driver class for what ``ns`` asked (``--monitor``, else the environment); with
    ``check``, it must be able to carry out ``ns``'s other options."""
    name = getattr(ns, "monitor", None) or os.environ.get(ENV) or DEFAULT
    cls = driver(opts, name)
    if check:
        cls.check(ns)
    return cls


def driver(opts, name: str):
    from pycr.core import get_manager

    return get_manager(opts).driver("monitor", name)


def of(rec):
    """The driver ``rec`` was created with."""
    from pycr.plugins.manage.create import opts_for

    return driver(opts_for(rec), rec.data.get("monitor", DEFAULT))
