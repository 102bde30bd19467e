"""A dispatch plan frozen from pluggy's own ordering, so the hot path need not import pluggy (~15 ms).

:func:`freeze` records what pluggy decided -- the registered plugins in order and, per hook,
the implementations in call order with the arguments pluggy passes and ``firstresult`` -- and
:class:`FrozenCaller` replays pluggy's ``_multicall`` for plain implementations, importing a
plugin only when one of its hooks is first called.  Used only with
the same inputs (:func:`plan_key`) and unchanged plugin files; never for hook wrappers, historic
hooks, a failed or disabled plugin, ``--trace`` or ``-p`` (docs/plugins.md, "The frozen dispatch
plan"; tests/unit/test_dispatch_plan.py compares it with pluggy).
"""

from __future__ import annotations

import os
import sys

from pycr.core import jsonfast as json  # json.loads/dumps without importing json (re, enum)
from pycr.core.discovery import read_cache, write_cache

VERSION = 2  # 2: keyed on the sys.path fingerprint, holding the entry points


class FrozenImpl:
    """One hook implementation, shaped like pluggy's ``HookImpl`` where pycr reads it (a plain
    class: ``collections.namedtuple`` would import collections on every run)."""

    __slots__ = ("plugin_name", "function", "argnames", "kwargnames")

    def __init__(self, plugin_name: str, function, argnames: tuple, kwargnames: tuple):
        self.plugin_name, self.function, self.argnames, self.kwargnames = plugin_name, function, argnames, kwargnames


class FrozenCaller:
    """Calls a hook's implementations as pluggy's ``_multicall`` does (no wrappers).

    A plugin is imported when one of its hooks is first called (``load``), so ``pycr-oci run``
    does not import the management layers' hooks.  If an implementation no longer fits --
    its plugin fails to import, the function is gone or unmarked -- the call goes to
    ``fallback(name)``: pluggy's caller, which reports the problem as pluggy does.
    """

    __slots__ = ("name", "firstresult", "_entries", "_impls", "_load", "_fallback")

    def __init__(self, name: str, firstresult: bool, entries: list, load, fallback):
        self.name = name
        self.firstresult = firstresult
        self._entries = entries  # [plugin_name, attr, argnames, kwargnames] in call order
        self._impls: list[FrozenImpl] | None = None
        self._load = load
        self._fallback = fallback

    def _resolved(self) -> list[FrozenImpl] | None:
        """The implementations in call order, importing their plugins now; None if one no longer fits."""
        if self._impls is None and self._entries is not None:
            impls = []
            for plugin_name, attr, argnames, kwargnames in self._entries:
                try:
                    function = getattr(self._load(plugin_name), attr, None)
                except Exception:
                    function = None  # pluggy reports it, properly
                if function is None or not hasattr(function, "pycr_impl"):
                    self._entries = None  # from now on pluggy's
                    return None
                impls.append(FrozenImpl(plugin_name, function, tuple(argnames), tuple(kwargnames)))
            self._impls = impls
        return self._impls

    def loaded_hookimpls(self) -> list[FrozenImpl]:
        """What ``get_hookimpls`` returns, if this hook's plugins were imported already (else nothing)."""
        return self._impls[::-1] if self._impls is not None else []

    def get_hookimpls(self) -> list:
        """Registration order, as pluggy returns them (calls go in reverse)."""
        impls = self._resolved()
        return self._fallback(self.name).get_hookimpls() if impls is None else impls[::-1]

    def __call__(self, **kwargs):
        impls = self._impls if self._impls is not None else self._resolved()
        if impls is None:
            return self._fallback(self.name)(**kwargs)
        results = []
        for impl in impls:
            try:
                args = [kwargs[a] for a in impl.argnames]
            except KeyError as e:
                from pluggy import HookCallError

                raise HookCallError(f"hook call must provide argument {e.args[0]!r}") from e
            extra = {a: kwargs[a] for a in impl.kwargnames if a in kwargs} if impl.kwargnames else None
            res = impl.function(*args, **extra) if extra else impl.function(*args)
            if res is not None:
                results.append(res)
                if self.firstresult:
                    break
        if self.firstresult:
            return results[0] if results else None
        return results


class FrozenHooks:
    """``manager.hook`` on the frozen path: one :class:`FrozenCaller` attribute per hook."""


# ------------------------------------------------------------ making a plan


def _attribute_of(plugin, function) -> str | None:
    """The attribute under which pluggy found ``function`` on ``plugin``."""
    return next((attr for attr in dir(plugin) if getattr(plugin, attr, None) == function), None)


def _plugin_files(plugin, impl_functions) -> list[str]:
    """Files whose change may change the plugin's hooks: its module and submodules, its impls' files."""
    module = plugin.__name__ if isinstance(plugin, type(sys)) else type(plugin).__module__
    files = {getattr(m, "__file__", None) for n, m in list(sys.modules.items())
             if n == module or n.startswith(module + ".")}
    files |= {getattr(getattr(fn, "__func__", fn), "__code__").co_filename for fn in impl_functions}
    return sorted(f for f in files if f)


def freeze(pm, plugins: list[dict], core_plugin: str, entry_points: dict) -> dict | None:
    """The plan of pluggy manager ``pm`` (``plugins``: its ``plugin_info`` in registration order;
    ``core_plugin``: DefaultDrivers' name, rebuilt rather than loaded; ``entry_points``: the scan it
    was built from, kept in the plan), or None if it cannot serve."""
    names = {info["name"] for info in plugins} | {core_plugin}
    if {name for name, _ in pm.list_name_plugin()} != names:
        return None  # something registered outside the entry points (e.g. by a test or bench)
    hooks: dict[str, dict] = {}
    functions: dict[str, list] = {}
    for hook_name in sorted(vars(pm.hook)):
        caller = getattr(pm.hook, hook_name)
        if not hasattr(caller, "get_hookimpls"):
            continue
        if caller.spec is None or caller.spec.opts.get("historic"):
            return None
        impls = []
        for impl in reversed(caller.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                return None
            plugin = pm.get_plugin(impl.plugin_name)
            attr = _attribute_of(plugin, impl.function)
            if attr is None:
                return None
            impls.append([impl.plugin_name, attr, list(impl.argnames), list(impl.kwargnames)])
            functions.setdefault(impl.plugin_name, []).append(impl.function)
        hooks[hook_name] = {"firstresult": bool(caller.spec.opts.get("firstresult")), "impls": impls}
    files = set()
    for name in names:
        files.update(_plugin_files(pm.get_plugin(name), functions.get(name, [])))
    for mod in ("pycr.core.hookspecs", "pycr.core.markers", "pycr.core.plugins", __name__):
        files.add(sys.modules[mod].__file__)
    return {"plugins": plugins, "hooks": hooks, "files": {f: _stat(f) for f in sorted(files)},
            "entry_points": entry_points}


def _stat(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


# ------------------------------------------------------------ storing and checking a plan


def plan_key(fingerprint: str, **inputs) -> str:
    """What decides pluggy's result besides the files: the entry points, interpreter, options.  The
    entry points as :func:`pycr.core.discovery.fingerprint` stands for them (the key their cached
    scan is kept under): a plan made under the same fingerprint was made from the same scan, which
    it holds, so a valid plan needs neither that cache nor the scan serialized into its key."""
    return json.dumps([VERSION, sys.version, fingerprint, sorted(inputs.items())])


def save(key: str, plan: dict) -> None:
    write_cache("dispatch", key, plan)


def load(key: str) -> dict | None:
    """The stored plan if it was made from the same inputs and its files are unchanged."""
    plan = read_cache("dispatch", key)
    if plan is None or any(_stat(path) != stamp for path, stamp in plan.get("files", {}).items()):
        return None
    return plan


def build_hooks(plan: dict, load, fallback) -> FrozenHooks:
    """The callers for ``plan``: ``load(plugin_name)`` imports a plugin when one of its hooks is
    first called, ``fallback(hook_name)`` is pluggy's caller for when the plan no longer fits."""
    hooks = FrozenHooks()
    for hook_name, spec in plan["hooks"].items():
        setattr(hooks, hook_name, FrozenCaller(hook_name, spec["firstresult"], spec["impls"], load, fallback))
    return hooks
