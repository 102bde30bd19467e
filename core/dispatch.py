"""A dispatch plan frozen from pluggy's own ordering, so the hot path need not import pluggy.

Importing pluggy (inspect, typing) and registering the plugins costs ~15 ms
of every ``pycr-oci`` command, half a ``runc run``.  Whenever pluggy has built
a plugin manager, :func:`freeze` records what it decided: which plugins are
registered (in order), and for every hook the implementations in the order
pluggy calls them, with the argument names pluggy passes and the hook's
firstresult flag.  The next process with the same inputs (see
:func:`plan_key`) and unchanged plugin files (:func:`files_unchanged`) loads
the plugin objects and calls the same functions in the same order through
:class:`FrozenCaller`, which follows pluggy's ``_multicall`` for plain
implementations.  A plan is never made for what it cannot serve (hook
wrappers, historic hooks, a plugin that failed or was disabled); then, and
with ``--trace`` or ``-p``, pluggy itself runs.  tests/unit/test_dispatch_plan.py
proves the calls match pluggy's, on the built-in plugins and a third-party one.
"""

from __future__ import annotations

import os
import sys

from pycr.core import jsonfast as json  # json.loads/dumps without importing json (re, enum)

VERSION = 1


class FrozenImpl:
    """One hook implementation, shaped like pluggy's ``HookImpl`` where pycr reads it."""

    __slots__ = ("plugin_name", "function", "argnames", "kwargnames")

    def __init__(self, plugin_name: str, function, argnames: tuple, kwargnames: tuple):
        self.plugin_name = plugin_name
        self.function = function
        self.argnames = argnames
        self.kwargnames = kwargnames


class FrozenCaller:
    """Calls a hook's implementations as pluggy's ``_multicall`` does (no wrappers)."""

    __slots__ = ("name", "firstresult", "_impls")

    def __init__(self, name: str, firstresult: bool, impls: list[FrozenImpl]):
        self.name = name
        self.firstresult = firstresult
        self._impls = impls  # in call order

    def get_hookimpls(self) -> list[FrozenImpl]:
        """Registration order, as pluggy returns them (calls go in reverse)."""
        return self._impls[::-1]

    def __call__(self, **kwargs):
        results = []
        for impl in self._impls:
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
    for attr in dir(plugin):
        try:
            if getattr(plugin, attr) == function:
                return attr
        except Exception:
            continue
    return None


def _plugin_files(plugin, impl_functions) -> list[str]:
    """Files whose change may change the plugin's hooks: its module, its submodules,
    and wherever its implementations are defined."""
    module_name = getattr(plugin, "__name__", None) if isinstance(plugin, type(sys)) else None
    module_name = module_name or type(plugin).__module__
    files = set()
    for name, mod in list(sys.modules.items()):
        if name == module_name or name.startswith(module_name + "."):
            if getattr(mod, "__file__", None):
                files.add(mod.__file__)
    for fn in impl_functions:
        code = getattr(getattr(fn, "__func__", fn), "__code__", None)
        if code is not None:
            files.add(code.co_filename)
    return sorted(files)


def freeze(pm, plugins: list[dict], core_plugin: str) -> dict | None:
    """The plan of pluggy manager ``pm``, or None when the frozen path cannot serve it.

    ``plugins``: the registered entry points (``plugin_info`` records) in
    registration order; ``core_plugin``: the name of the core's own
    :class:`~pycr.core.plugins.DefaultDrivers`, rebuilt rather than loaded.
    """
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
    return {"plugins": plugins, "hooks": hooks, "files": {f: _stat(f) for f in sorted(files)}}


def _stat(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


# ------------------------------------------------------------ storing and checking a plan


def plan_key(entry_points: dict, **inputs) -> str:
    """Everything besides the files that decides what pluggy would build: the
    installed entry points themselves (so an install, a removal or a test's
    stand-in set all miss), the interpreter, and the manager's options."""
    return json.dumps([VERSION, sys.version, entry_points, sorted(inputs.items())], sort_keys=True)


def save(path: str, key: str, plan: dict) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump({"key": key, **plan}, f)
        os.replace(tmp, path)
    except OSError:
        pass


def load(path: str, key: str) -> dict | None:
    """The stored plan if it was made from the same inputs and its files are unchanged."""
    try:
        with open(path) as f:
            plan = json.load(f)
    except (OSError, ValueError):
        return None
    if plan.get("key") != key or not files_unchanged(plan.get("files", {})):
        return None
    return plan


def files_unchanged(files: dict[str, list[int] | None]) -> bool:
    return all(_stat(path) == stamp for path, stamp in files.items())


def build_hooks(plan: dict, objects: dict[str, object]) -> FrozenHooks | None:
    """The callers for ``plan`` over the loaded plugin ``objects`` (None if one no longer fits)."""
    hooks = FrozenHooks()
    for hook_name, spec in plan["hooks"].items():
        impls = []
        for plugin_name, attr, argnames, kwargnames in spec["impls"]:
            function = getattr(objects.get(plugin_name), attr, None)
            if function is None or not hasattr(function, "pycr_impl"):
                return None
            impls.append(FrozenImpl(plugin_name, function, tuple(argnames), tuple(kwargnames)))
        setattr(hooks, hook_name, FrozenCaller(hook_name, spec["firstresult"], impls))
    return hooks
