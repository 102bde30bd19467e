"""``pycr run -d`` (and ``--restart``): create the container (record, rootfs,
bundle), start it under its monitor, print the id.  A failure to start
removes it again (nothing stays but an error line).  A foreground
``pycr run [-it]`` is ``plugins/manage/verb_run.py``.
"""

from __future__ import annotations

import contextlib


def run(opts, ns) -> int:
    from pycr.core import ConfigError

    if not ns.detach:
        raise ConfigError("--restart needs -d: the monitor of a detached container carries it out")
    return run_detached(opts, ns)


def run_detached(opts, ns) -> int:
    from pycr.plugins.manage import cleanup, launch
    from pycr.plugins.manage.create import create

    rec = create(opts, ns)
    try:
        launch.start(rec)
    except BaseException:  # did not start, or interrupted: leave nothing half-made
        with contextlib.suppress(Exception):
            cleanup.kill_monitor(rec.reload(), 5)
            cleanup.remove(rec)
        raise
    print(rec.id, flush=True)
    return 0
