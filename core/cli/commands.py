"""The ``pycr`` command's verbs, contributed by plugins (hook ``pycr_add_commands``).

A plugin's ``pycr_add_commands(commands)`` calls ``commands.add(name,
module, help)`` once per verb.  Nothing is imported for a verb until it
runs: the module named then exposes ``add_arguments(parser)`` and
``run(opts, ns) -> int`` (or ``dispatch(opts, args) -> int`` for a verb with
verbs of its own, like ``pycr oci``).

Finding the verbs must not cost every ``pycr`` start the plugin manager
(pluggy and every plugin module: as much again as Python's start-up), so
the shell calls each installed plugin's ``pycr_add_commands`` itself, one
by one, disabled plugins included, and caches the table -- each plugin's
verbs and ``requires`` -- keyed on what is installed and on the
modification time of each registering module.  Which plugins are enabled
(``-p no:NAME``, ``PYCR_DISABLE_PLUGIN_AUTOLOAD``) is applied to the
cached table on every start.  This module imports neither pluggy nor a plugin.
"""

from __future__ import annotations

import os
import sys

from pycr.core.discovery import AUTOLOAD_ENV, PLUGIN_GROUP
from pycr.core.errors import PluginError


class Command:
    """One verb: its name, the module that runs it, a one-line help, and the plugin providing it."""

    __slots__ = ("name", "module", "help", "plugin")

    def __init__(self, name: str, module: str, help: str, plugin: str):
        self.name, self.module, self.help, self.plugin = name, module, help, plugin


class Commands:
    """The registry handed to ``pycr_add_commands``; two plugins claiming one verb is an error."""

    def __init__(self, plugin: str = "core"):
        self.by_name: dict[str, Command] = {}
        self.plugin = plugin  # the plugin whose implementation is being called

    def add(self, name: str, module: str, help: str) -> None:
        """Provide verb ``name``, run by ``module`` (imported only when the verb runs)."""
        other = self.by_name.get(name)
        if other is not None and other.plugin != self.plugin:
            raise PluginError(f"command {name!r} is provided by both plugin {other.plugin!r} "
                              f"and plugin {self.plugin!r}; disable one with -p no:NAME")
        self.by_name[name] = Command(name, module, help, self.plugin)

    def by_plugin(self) -> dict[str, list[Command]]:
        out: dict[str, list[Command]] = {}
        for cmd in self.by_name.values():
            out.setdefault(cmd.plugin, []).append(cmd)
        return out


def add_core_commands(commands: Commands) -> None:
    """The verbs of the command shell itself: about plugins, and the OCI runtime's verbs."""
    commands.add("plugins", "pycr.core.cli.verb_plugins", "list plugins and drivers")
    commands.add("plugin", "pycr.core.cli.verb_plugin", "plugin new NAME --kind KIND: write a plugin package skeleton")
    commands.add("oci", "pycr.core.cli.oci", "low-level OCI runtime verbs (same as pycr-oci)")


# ------------------------------------------------------------ the cached table


def _describe(ep: dict) -> dict:
    """Call one plugin's registration: ``{name, dist, version, builtin, verbs, requires, files, error}``."""
    from pycr.core.discovery import load_entry_point

    info = {"name": ep["name"], "dist": ep["dist"], "version": ep["version"],
            "builtin": ep["value"].startswith("pycr.plugins."), "verbs": [], "requires": [], "files": {},
            "error": None}
    try:
        module = load_entry_point(ep["value"])
        info["requires"] = list(getattr(module, "requires", ()))
        add = getattr(module, "pycr_add_commands", None)
        if add is not None:
            registry = Commands(ep["name"])
            add(commands=registry)
            info["verbs"] = [[c.name, c.module, c.help] for c in registry.by_name.values()]
        for mod in {getattr(module, "__name__", None), getattr(add, "__module__", None)} - {None}:
            path = getattr(sys.modules.get(mod), "__file__", None)
            if path:
                info["files"][path] = os.stat(path).st_mtime_ns
    except Exception as e:
        detail = "; ".join(str(e).splitlines())
        msg = (f"plugin {ep['name']!r} from {ep['dist']} {ep['version']} failed to load: "
               f"{type(e).__name__}: {detail}")
        if info["builtin"]:
            raise PluginError(msg) from None
        info["error"] = msg  # the plugin manager warns about it when it is built
    return info


def _fresh(plugins: list[dict]) -> bool:
    """No registering module changed, and none failed (a fix in place must be seen)."""
    for info in plugins:
        if info["error"]:
            return False
        for path, mtime in info["files"].items():
            try:
                if os.stat(path).st_mtime_ns != mtime:
                    return False
            except OSError:
                return False
    return True


def plugin_table() -> list[dict]:
    """Every installed hook plugin's verbs and requirements, in load order (cached)."""
    from pycr.core.discovery import entry_points, fingerprint, read_cache, write_cache

    eps = entry_points().get(PLUGIN_GROUP, [])
    key = [fingerprint(), [ep["value"] for ep in eps]]
    plugins = read_cache("commands", key)
    if plugins is None or not _fresh(plugins):
        plugins = [_describe(ep) for ep in eps]
        write_cache("commands", key, plugins)
    # built-ins first, as the plugin manager loads them
    return sorted(plugins, key=lambda p: not p["builtin"])


class Table:
    """The verbs of the enabled plugins, given ``-p no:NAME`` and the autoload switch."""

    def __init__(self, disabled=()):
        from pycr.core.discovery import missing_requirement

        self.disabled = list(disabled)
        self.plugins = plugin_table()
        autoload = not os.environ.get(AUTOLOAD_ENV)
        enabled = [p for p in self.plugins if p["name"] not in self.disabled and (p["builtin"] or autoload)
                   and not p["error"]]
        names = {p["name"] for p in enabled}
        self.dropped: dict[str, str] = {}  # plugin -> why it cannot run
        self.broken: str | None = None  # a built-in plugin cannot run: pycr itself is broken
        changed = True
        while changed:  # dropping one plugin may leave another without what it requires
            changed = False
            for p in enabled:
                problem = p["name"] in names and missing_requirement(p["requires"], names, self.disabled)
                if problem:
                    msg = f"plugin {p['name']!r} from {p['dist']} {p['version']} {problem}"
                    self.dropped[p["name"]] = msg  # its verbs are gone
                    self.broken = self.broken or (msg if p["builtin"] else None)
                    names.discard(p["name"])
                    changed = True
        self.commands = Commands()
        add_core_commands(self.commands)
        for p in enabled:
            if p["name"] in names:
                self.commands.plugin = p["name"]
                for verb, module, text in p["verbs"]:
                    self.commands.add(verb, module, text)

    def why_missing(self, verb: str) -> str | None:
        """One line saying why an installed plugin's ``verb`` is not available, or None."""
        for p in self.plugins:
            if any(v[0] == verb for v in p["verbs"]):
                if p["name"] in self.disabled:
                    return f"command {verb!r} is provided by plugin {p['name']!r}, which is disabled " \
                           f"(-p no:{p['name']})"
                if p["name"] in self.dropped:
                    return self.dropped[p["name"]]
                if not p["builtin"] and os.environ.get(AUTOLOAD_ENV):
                    return f"command {verb!r} is provided by plugin {p['name']!r}, which is not loaded " \
                           f"({AUTOLOAD_ENV} is set)"
        return None


def core_only() -> Commands:
    """The shell's own verbs, for when the plugins' cannot be listed (``pycr plugins`` says why)."""
    table = Commands()
    add_core_commands(table)
    return table
