"""The ``probe`` plugin as pycr loads it (entry point ``probe`` in ``pycr.plugins``):
its verbs and what it requires.  Kept apart from the package so that importing
a verb's module does not import pluggy."""

from pycr.core import hookimpl

requires = ("bench",)


@hookimpl
def pycr_add_commands(commands):
    commands.add("probe", "pycr.plugins.probe.verb_probe", "isolation probes per strategy: contained or escaped")
