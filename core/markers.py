"""The pluggy markers for the ``pycr`` project name."""

import pluggy

hookspec = pluggy.HookspecMarker("pycr")
hookimpl = pluggy.HookimplMarker("pycr")
