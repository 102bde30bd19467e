"""``pycr plugins``: what is installed, where it comes from, and whether it loaded.

One row per hook plugin (group ``pycr.plugins``), per driver (the slots'
groups ``pycr.cgroup``, ``pycr.rootfs`` ...) and per entry in any other ``pycr.*``
group a layer defines (``pycr.bench_strategy``).  Hook plugins are
loaded, so a broken one shows ``failed`` with its error; drivers are only
imported when chosen, so they are listed from their entry points alone.
"""

from __future__ import annotations

import json
import os

_COLUMNS = ("name", "kind", "origin", "status", "module", "distribution", "version")


def add_arguments(parser) -> None:
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="table (default) or one JSON array of objects")


def rows(opts) -> list[dict]:
    """Every plugin and driver as a dict with the keys in ``_COLUMNS`` (+ ``error``; hook
    plugins also have ``verbs`` and ``requires``, shown by ``--format json``)."""
    from pycr.core.plugins import AUTOLOAD_ENV, ESSENTIAL, PLUGIN_GROUP, get_manager

    pm = get_manager(opts)
    disabled = set(opts.disabled_plugins if opts is not None else ())
    failures = {f.split("'")[1]: f for f in pm.failures if f.startswith("plugin '")}
    from pycr.core.cli.commands import plugin_table

    layers = {p["name"]: p for p in plugin_table()}  # what each hook plugin provides and requires
    out = []
    for ep in pm.entry_points.get(PLUGIN_GROUP, []):
        builtin = ep["value"].startswith("pycr.plugins.")
        if pm.pm.get_plugin(ep["name"]) is not None and not pm.pm.is_blocked(ep["name"]):
            status = "essential" if ep["name"] in ESSENTIAL else "loaded"
        elif ep["name"] in disabled:
            status = "disabled (-p no:NAME)"
        elif ep["name"] in failures:
            status = "failed"
        elif not builtin and os.environ.get(AUTOLOAD_ENV):
            status = f"not loaded ({AUTOLOAD_ENV})"
        else:
            status = "not loaded"
        row = _row(ep, "hooks", builtin, status, failures.get(ep["name"]))
        info = layers.get(ep["name"], {})
        row["verbs"], row["requires"] = [v[0] for v in info.get("verbs", [])], info.get("requires", [])
        out.append(row)
    for group in _other_groups(pm.entry_points):
        for ep in pm.entry_points[group]:
            owners = pm.conflicts.get((group, ep["name"]))
            status, error = ("conflict", f"name claimed by {', '.join(owners)}") if owners else ("lazy", None)
            out.append(_row(ep, _kind(group), ep["value"].startswith("pycr."), status, error))
    return out


def _other_groups(eps: dict) -> list[str]:
    """Every group but the hook plugins': the core's slots first, then the groups layers define
    (``pycr.bench_strategy`` ...), which the core knows only by their entries."""
    from pycr.core.plugins import PLUGIN_GROUP, SLOTS

    slots = [f"pycr.{s}" for s in SLOTS]
    return slots + sorted(g for g in eps if g not in slots and g != PLUGIN_GROUP)


def _kind(group: str) -> str:
    from pycr.core.plugins import SLOTS

    return f"{group[5:]} driver" if group[5:] in SLOTS else f"{group[5:]} entry"


def _row(ep: dict, kind: str, builtin: bool, status: str, error: str | None) -> dict:
    row = {"name": ep["name"], "kind": kind, "origin": "builtin" if builtin else "third-party",
           "status": status, "module": ep["value"], "distribution": ep["dist"], "version": ep["version"]}
    if error:
        row["error"] = error
    return row


def _unloadable(opts, error) -> list[dict]:
    """When the plugins cannot even be loaded (two distributions claim one name),
    still list what is installed: this command is how the user finds out why."""
    from pycr.core.plugins import PLUGIN_GROUP, entry_points

    eps = entry_points()
    return [_row(ep, "hooks" if group == PLUGIN_GROUP else _kind(group),
                 ep["value"].startswith("pycr."), "not loaded", str(error))
            for group in (PLUGIN_GROUP, *_other_groups(eps)) for ep in eps.get(group, [])]


def run(opts, args) -> int:
    from pycr.core.errors import PluginError, printable

    status = 0
    try:
        table = rows(opts)
    except PluginError as e:
        import sys

        sys.stderr.write(f"{printable(str(e))}\n")
        table, status = _unloadable(opts, e), 1
    if args.format == "json":
        print(json.dumps(table, indent=1))
        return status
    widths = {c: max(len(c), *(len(str(r[c])) for r in table)) if table else len(c) for c in _COLUMNS}
    print("  ".join(c.upper().ljust(widths[c]) for c in _COLUMNS).rstrip())
    for r in table:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in _COLUMNS).rstrip())
        if r.get("error") and status == 0:
            print(f"    error: {r['error']}")
    return status
