"""The ``pycr`` command's verbs, contributed by plugins (hook ``pycr_add_commands``).

A plugin's ``pycr_add_commands(commands)`` calls ``commands.add(name,
module, help)`` once per verb.  Nothing is imported for a verb until it
runs: the module named then exposes ``add_arguments(parser)`` and
``run(opts, ns) -> int`` (or ``dispatch(opts, args) -> int`` for a verb with
verbs of its own, like ``pycr oci``).

The core's own verbs (``plugins``, ``plugin``, ``oci``) come through the same
hook, from :class:`CoreCommands`.
"""

from __future__ import annotations

from pycr.core.errors import PluginError
from pycr.core.markers import hookimpl


class Command:
    """One verb: its name, the module that runs it, a one-line help, and the plugin providing it."""

    __slots__ = ("name", "module", "help", "plugin")

    def __init__(self, name: str, module: str, help: str, plugin: str):
        self.name, self.module, self.help, self.plugin = name, module, help, plugin


class Commands:
    """The registry handed to ``pycr_add_commands``; two plugins claiming one verb is an error."""

    def __init__(self):
        self.by_name: dict[str, Command] = {}
        self.plugin = "?"  # set by the caller before each implementation runs

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


class CoreCommands:
    """The verbs of the command shell itself: about plugins, and the OCI runtime's verbs."""

    @hookimpl
    def pycr_add_commands(self, commands):
        commands.add("plugins", "pycr.core.cli.verb_plugins", "list plugins and drivers")
        commands.add("plugin", "pycr.core.cli.verb_plugin",
                     "plugin new NAME --kind KIND: write a plugin package skeleton")
        commands.add("oci", "pycr.core.cli.oci", "low-level OCI runtime verbs (same as pycr-oci)")


def collect(manager) -> Commands:
    """Every enabled plugin's verbs, in registration order (the core's first)."""
    table = Commands()
    for impl in manager.hook.pycr_add_commands.get_hookimpls():
        table.plugin = impl.plugin_name
        impl.function(commands=table)
    return table


def core_only() -> Commands:
    """The shell's own verbs, for when the plugins cannot be loaded (``pycr plugins`` says why)."""
    table = Commands()
    table.plugin = "core"
    CoreCommands().pycr_add_commands(table)
    return table


def disabled_provider(manager, verb: str) -> str | None:
    """The disabled plugin that would provide ``verb``: its registration is called, not registered."""
    from pycr.core.plugins import PLUGIN_GROUP, load_entry_point

    for ep in manager.entry_points.get(PLUGIN_GROUP, []):
        if ep["name"] not in manager.disabled:
            continue
        try:
            add = getattr(load_entry_point(ep["value"]), "pycr_add_commands", None)
        except Exception:  # a broken disabled plugin provides nothing
            continue
        if add is not None:
            table = Commands()
            table.plugin = ep["name"]
            add(commands=table)
            if verb in table.by_name:
                return ep["name"]
    return None
