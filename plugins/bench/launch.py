"""Run ``pycr-oci`` with extra pycr plugins registered for this one process.

``python -m pycr.plugins.bench.launch [--plugin MOD:OBJ]... -- GLOBALS VERB ...``

Every pycr strategy in a bench runs through this launcher (with or without
plugins), so all of them pay the same interpreter start-up.  The plugins
are registered on the process-wide manager before the verb runs; tracing
still sees them because hook monitoring wraps implementations lazily.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    plugins = []
    while argv and argv[0] == "--plugin":
        plugins.append(argv[1])
        argv = argv[2:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if plugins:
        from pycr.core import get_manager, load_entry_point, parse_globals

        opts, _ = parse_globals(argv)
        pm = get_manager(opts)
        for spec in plugins:
            pm.pm.register(load_entry_point(spec), name=f"bench:{spec.rpartition(':')[2]}")
    from pycr.core import oci_main

    return oci_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
