"""The ``build`` plugin as pycr loads it (entry point ``build`` in ``pycr.plugins``):
its verbs and what it requires.  Kept apart from the package so that importing
a verb's module does not import pluggy."""

from pycr.core import hookimpl

requires = ("images",)  # the store, transports, run configs and the unpacker


@hookimpl
def pycr_add_commands(commands):
    commands.add("build", "pycr.plugins.build.verb_build", "build an image from a Dockerfile")
    commands.add("builder", "pycr.plugins.build.verb_builder", "manage the build cache: prune")
