"""The ``pycr`` command: a shell whose verbs all come from plugins.

The shell knows no verb by name.  Each plugin contributes its verbs through
the ``pycr_add_commands`` hook (see :mod:`pycr.core.cli.commands`); a verb's
module is imported only when that verb runs, so ``pycr run`` does not pay
for ``pycr push``.  ``pycr --help`` lists the verbs grouped by the plugin
providing them; a verb of a plugin disabled with ``-p no:NAME`` is refused
with one line naming the plugin.
"""

from __future__ import annotations

import sys

from pycr.core.errors import PluginError


class PluginVerbs:
    """The enabled plugins' verbs, for :func:`pycr.core.cli.common.run_command`."""

    def __init__(self, opts):
        from pycr.core.cli import commands
        from pycr.core.cli.common import Verbs

        self.table = self.error = None
        try:
            self.table = commands.Table(opts.disabled_plugins)
            if self.table.broken:
                raise PluginError(self.table.broken)
            found = self.table.commands
        except PluginError as e:  # the shell's own verbs still work: `pycr plugins` shows why
            self.error, found = e, commands.core_only()
        groups = found.by_plugin()
        groups["core"] = groups.pop("core")  # the shell's own verbs last in --help
        self.verbs = Verbs({plugin: {c.name: (c.module, c.help) for c in cmds} for plugin, cmds in groups.items()})
        self.groups = self.verbs.groups

    def get(self, verb: str):
        found = self.verbs.get(verb)
        if found is None and self.error is not None:  # a disabled plugin's verb says so first
            why = self.table.why_missing(verb) if self.table is not None else None
            raise PluginError(why) if why else self.error
        return found

    def unknown(self, verb: str):
        why = self.table.why_missing(verb) if self.table is not None else None
        return PluginError(why) if why else self.verbs.unknown(verb)


def main(argv: list[str] | None = None) -> int:
    from pycr.core.linux.exe import protect_for

    if argv is None:  # run as the program (not called from Python code): we may re-exec
        protect_for("pycr", sys.argv[1:])  # a container must not reach our interpreter's file
        argv = sys.argv[1:]
    from pycr.core.cli.common import run_command

    return run_command("pycr", PluginVerbs, argv)


if __name__ == "__main__":
    sys.exit(main())
