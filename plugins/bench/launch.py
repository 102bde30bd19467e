"""Run one pycr strategy's container: ``pycr-oci`` (a bundle) or ``pycr``
(an image), with extra pycr plugins registered for this one process.

``python -m pycr.plugins.bench.launch [--plugin MOD:OBJ]... [--shell oci|pycr] [--facts FILE] -- GLOBALS VERB ...``

Every pycr strategy runs through this launcher, so all of them pay the same
interpreter start-up and their plugin manager is built the same way: here,
before the verb, timed, and stored as the ``plugins`` phase of the trace
(otherwise a strategy whose shell builds the manager before tracing starts
would show 0 ms and the others ~20 ms).  The launcher also records what
actually ran: the drivers chosen (in the trace), and with ``--facts`` every
plugin loaded with its distribution and version.
"""

from __future__ import annotations

import json
import sys
import time


def _dist_of(module: str) -> str:
    """``dist version`` of the distribution that installs ``module`` (slow: only for --facts)."""
    from importlib.metadata import packages_distributions, version

    top = module.split(".")[0]
    names = packages_distributions().get(top) or []
    return " ".join((names[0], version(names[0]))) if names else "not installed (on sys.path)"


def facts(pm, extra: list[str], chosen: dict) -> dict:
    """Every hook plugin and driver this process loaded, with distribution and version."""
    plugins = {i["name"]: f"{i['dist']} {i['version']}" for i in pm.plugin_info
               if pm.pm.get_plugin(i["name"]) is not None and not pm.pm.is_blocked(i["name"])}
    for spec in extra:
        plugins[f"bench:{spec.rpartition(':')[2]}"] = _dist_of(spec.partition(":")[0])
    return {"plugins": plugins, "disabled": list(pm.disabled), "drivers": chosen}


def main(argv: list[str]) -> int:
    plugins, shell, facts_file = [], "oci", None
    while argv and argv[0] in ("--plugin", "--shell", "--facts"):
        if argv[0] == "--plugin":
            plugins.append(argv[1])
        elif argv[0] == "--shell":
            shell = argv[1]
        else:
            facts_file = argv[1]
        argv = argv[2:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    from pycr.core import PycrError, get_manager, load_entry_point, parse_globals, printable

    try:  # outside the shell's error handling: one line, as the shell would print it
        opts, _ = parse_globals(argv)
        t0 = time.perf_counter()
        pm = get_manager(opts)
        for spec in plugins:
            pm.pm.register(load_entry_point(spec), name=f"bench:{spec.rpartition(':')[2]}")
        plugins_ms = (time.perf_counter() - t0) * 1000
    except PycrError as e:
        sys.stderr.write(f"{printable(str(e))}\n")
        return e.exit_code
    chosen: dict[str, dict] = {}
    select = pm.driver

    def driver(slot, name, config=None):  # record the drivers that actually run
        cls = select(slot, name, config)
        dist = next((f"{ep['dist']} {ep['version']}" for ep in pm.entry_points.get(f"pycr.{slot}", [])
                     if ep["name"] == name), "")
        chosen[slot] = {"name": name, "class": f"{cls.__module__}.{cls.__qualname__}", "distribution": dist}
        if slot == "rootfs":
            chosen[slot]["no_pivot"] = bool(getattr(cls, "no_pivot", False))
        return cls

    pm.driver = driver
    if shell == "pycr":
        from pycr.core import pycr_main as verb_main
    else:
        from pycr.core import oci_main as verb_main
    try:
        return verb_main(argv)
    finally:
        if opts.trace_file:
            _amend_trace(opts.trace_file, plugins_ms, chosen)
        if facts_file:
            with open(facts_file, "w") as f:
                json.dump(facts(pm, plugins, chosen), f)


def _amend_trace(path: str, plugins_ms: float, chosen: dict) -> None:
    """Add the launcher's ``plugins`` time and the chosen drivers to the verb's trace file."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return
    phases = data.setdefault("phases", {})
    phases["plugins"] = round(phases.get("plugins", 0.0) + plugins_ms, 3)
    data["drivers"] = chosen
    with open(path, "w") as f:
        json.dump(data, f)


if __name__ == "__main__":
    from pycr.core import protect_for

    protect_for("pycr-oci", sys.argv[1:])  # as pycr-oci does: the measured runtime is the real one
    sys.exit(main(sys.argv[1:]))
