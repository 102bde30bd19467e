"""The ``bench`` plugin as pycr loads it (entry point ``bench`` in ``pycr.plugins``):
its verbs and what it requires.  Kept apart from the package so that importing
a verb's module does not import pluggy."""

from pycr.core import hookimpl

requires = ("seccomp",)  # the hardened strategies apply docker's profile


@hookimpl
def pycr_add_commands(commands):
    commands.add("bench", "pycr.plugins.bench.verb_bench",
                 "compare isolation strategies: strategies x workloads, stats, plots")
