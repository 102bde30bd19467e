"""The ``api`` plugin as pycr loads it (entry point ``api`` in ``pycr.plugins``): its verb and what it
requires.  Kept apart from the package so listing verbs imports neither pluggy's users nor aiohttp."""

from pycr.core import hookimpl

requires = ("manage", "images", "network")  # network: /networks and containers' NetworkSettings


@hookimpl
def pycr_add_commands(commands):
    commands.add("serve", "pycr.plugins.api.verb_serve",
                 "serve docker's Engine API on a unix socket (and a web dashboard)")
