"""The markers for the ``pycr`` project name.

``hookimpl`` marks a function exactly as ``pluggy.HookimplMarker("pycr")``
does -- a ``pycr_impl`` dict of options that pluggy reads when it registers
the plugin -- without importing pluggy: ``pycr-oci``'s hot path calls hooks
through a plan frozen from pluggy's ordering (:mod:`pycr.core.dispatch`) and
must not pay pluggy's ~11 ms import for every plugin module it loads.
tests/unit/test_dispatch_plan.py checks the mark is the one pluggy makes.
``hookspec`` is pluggy's own marker (only the pluggy path reads specs).
"""

from __future__ import annotations

PROJECT = "pycr"


class HookimplMarker:
    """Same call signature and the same mark as ``pluggy.HookimplMarker(PROJECT)``."""

    def __call__(self, function=None, hookwrapper: bool = False, optionalhook: bool = False,
                 tryfirst: bool = False, trylast: bool = False, specname: str | None = None,
                 wrapper: bool = False):
        def mark(func):
            setattr(func, f"{PROJECT}_impl", {
                "wrapper": wrapper, "hookwrapper": hookwrapper, "optionalhook": optionalhook,
                "tryfirst": tryfirst, "trylast": trylast, "specname": specname,
            })
            return func

        return mark if function is None else mark(function)


hookimpl = HookimplMarker()


def __getattr__(name: str):
    if name == "hookspec":
        import pluggy

        marker = pluggy.HookspecMarker(PROJECT)
        globals()["hookspec"] = marker
        return marker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
