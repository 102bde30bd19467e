"""The markers for the ``pycr`` project name.

``hookimpl`` sets the same ``pycr_impl`` mark as ``pluggy.HookimplMarker("pycr")`` without
importing pluggy, which the frozen dispatch path (:mod:`pycr.core.dispatch`) never needs;
tests/unit/test_dispatch_plan.py checks the marks are equal.  ``hookspec`` is pluggy's own.
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
