"""The plugin manager: which plugins load, in what order, and which driver
fills each exclusive slot.

Load order (``pycr plugins`` shows the result):

1. the core's own default implementations (driver selection through
   entry points, see :class:`DefaultDrivers`);
2. built-in plugins: entry points in group ``pycr.plugins`` whose module is
   under ``pycr.plugins`` -- the same path a third party uses;
3. third-party plugins in group ``pycr.plugins``, unless the environment
   variable ``PYCR_DISABLE_PLUGIN_AUTOLOAD`` is set;
4. ``-p no:NAME`` removes plugin NAME from 2 and 3, except the essential
   ones (``ESSENTIAL``), without which no container can be made, and the
   required ones (below);
5. every loaded plugin's ``requires`` (a tuple of plugin names, a module
   attribute) must name loaded plugins: a disabled or missing one is one
   line naming both.  A driver's module may declare ``requires`` too; it is
   checked when the driver is chosen.

A plugin is **required** when its entry point carries the extra ``[required]``
(``policy = my_policy [required]``) or its name is in ``PYCR_REQUIRE_PLUGINS``
(comma-separated): a required plugin that is missing, disabled, fails to load
or fails its checks stops pycr with one line instead of being skipped with a
warning, so a policy plugin never fails open.

A *required* plugin (must be loaded) and a plugin's ``requires`` (what it
needs loaded) are different things: the first is the host's policy, the
second the plugin's own dependencies.

Drivers (one per slot: ``pycr.cgroup``, ``pycr.rootfs``, ``pycr.image_source``, ``pycr.store``, ``pycr.builder``,
``pycr.network``, ``pycr.monitor``)
are entry points too; ``pycr_select_driver`` picks one by name.  Scanning
installed distributions costs ~30 ms, more than Python's start-up, so the
scan's result is cached in a file keyed on ``sys.path`` and the
modification times of its directories (any install or removal changes them);
see :mod:`pycr.core.discovery`.
"""

from __future__ import annotations

import os
import sys

from pycr.core.discovery import (  # noqa: F401  (the cached scan, re-exported)
    AUTOLOAD_ENV, PLUGIN_GROUP, entry_points, fingerprint, load_entry_point, missing_requirement, scan_entry_points)
from pycr.core.errors import PluginError, warn
from pycr.core.markers import hookimpl

SLOTS = ("cgroup", "rootfs", "image_source", "store", "builder", "network", "monitor")
ESSENTIAL = ("namespaces", "rootfs_mounts", "process", "cgroups", "seccomp")  # seccomp: a policy in the config is never skipped
REQUIRE_ENV = "PYCR_REQUIRE_PLUGINS"


def _is_builtin(ep: dict) -> bool:
    return ep["value"].startswith("pycr.plugins.")


# ------------------------------------------------------------ default driver choice


class DefaultDrivers:
    """The core's fallback for ``pycr_select_driver``: an installed entry point
    of that name.  Registered first, so any plugin's choice wins over it."""

    def __init__(self, manager: "PluginManager"):
        self.manager = manager

    @hookimpl(trylast=True)
    def pycr_select_driver(self, slot, name, config):
        owners = self.manager.conflicts.get((f"pycr.{slot}", name))
        if owners:
            raise PluginError(f"{slot} driver {name!r} is claimed by more than one distribution: "
                              f"{', '.join(owners)}; uninstall one of them")
        for ep in self.manager.entry_points.get(f"pycr.{slot}", []):
            if ep["name"] == name and (self.manager.autoload or _is_builtin(ep)):
                try:
                    cls = load_entry_point(ep["value"])
                except Exception as e:  # a broken driver names itself
                    raise PluginError(f"{slot} driver {name!r} from {ep['dist']} {ep['version']} "
                                      f"failed to load: {type(e).__name__}: {e}") from None
                problem = self.manager.missing_requirement(sys.modules.get(cls.__module__))
                if problem:
                    raise PluginError(f"{slot} driver {name!r} {problem}")
                return cls
        if not self.manager.autoload:  # stevedore would find third-party drivers too
            return None
        return _stevedore_driver(slot, name)


def _stevedore_driver(slot: str, name: str):
    """Ask stevedore directly: the cache may predate an install."""
    from stevedore import driver, exception

    try:
        return driver.DriverManager(namespace=f"pycr.{slot}", name=name, invoke_on_load=False).driver
    except exception.NoMatches:
        return None
    except exception.MultipleMatches:
        raise PluginError(f"{slot} driver {name!r} is installed by more than one distribution") from None


# ------------------------------------------------------------ the manager


CORE_PLUGIN = "pycr.core.default_drivers"


class PluginManager:
    """A thin typed façade over ``pluggy.PluginManager``.

    When a dispatch plan frozen from an earlier pluggy run with the same
    inputs is valid (:mod:`pycr.core.dispatch`), ``hook`` calls the same
    implementations in the same order without importing pluggy; ``-p``
    always builds pluggy, and so does the first use of ``pm``.
    """

    def __init__(self, disabled: list[str] | tuple = (), autoload: bool | None = None,
                 builtins_only: bool = False):
        if autoload is None:
            autoload = not os.environ.get(AUTOLOAD_ENV)
        self._args = (tuple(disabled), autoload, builtins_only)
        self.autoload = autoload and not builtins_only
        self.disabled = list(disabled)
        self._pm = None
        self.hook = None
        if not disabled:
            from pycr.core import dispatch

            # keyed before the scan: an install meanwhile changes the fingerprint, never the plan's key
            self._plan_key = dispatch.plan_key(fingerprint(), autoload=autoload, builtins_only=builtins_only,
                                               require=os.environ.get(REQUIRE_ENV, ""))
            plan = dispatch.load(self._plan_key)
            if plan is not None:  # the entry points it was made from: no second cache to read
                self.entry_points = plan["entry_points"]
                self._thaw(plan)
                return
        self.entry_points = entry_points()
        self._build(*self._args)
        if not disabled and not self.failures:
            plan = dispatch.freeze(self._pm, self.plugin_info, CORE_PLUGIN, self.entry_points)
            if plan is not None:
                dispatch.save(self._plan_key, plan)

    @property
    def pm(self):
        """The ``pluggy.PluginManager``; on the frozen path, built now (and ``hook`` becomes pluggy's)."""
        if self._pm is None:
            self._build(*self._args)
        return self._pm

    def _thaw(self, plan: dict) -> None:
        """Take the frozen plan's plugins and callers.  Plugins are imported when one of their
        hooks is first called (see :class:`dispatch.FrozenCaller`)."""
        from pycr.core import dispatch

        self.failures = []
        self.required = self._required_names()
        self.conflicts = self._check_duplicates()
        objects = {CORE_PLUGIN: DefaultDrivers(self)}
        values = {info["name"]: info["value"] for info in plan["plugins"]}

        def load(name: str):
            if name not in objects:
                objects[name] = load_entry_point(values[name])
            return objects[name]

        self.plugin_info = plan["plugins"]
        self.hook = dispatch.build_hooks(plan, load, lambda hook_name: getattr(self.pm.hook, hook_name))

    def _build(self, disabled: tuple, autoload: bool, builtins_only: bool) -> None:
        import pluggy

        from pycr.core import hookspecs

        self._pm = pluggy.PluginManager("pycr")
        self._pm.add_hookspecs(hookspecs)
        self.hook = self._pm.hook
        self.plugin_info: list[dict] = []
        self.failures: list[str] = []
        self.required = self._required_names()
        self.pm.register(DefaultDrivers(self), name=CORE_PLUGIN)
        installed = sorted({ep["name"] for ep in self.entry_points.get(PLUGIN_GROUP, [])})
        for name in disabled:
            if name in ESSENTIAL:
                raise PluginError(f"plugin {name!r} is essential and cannot be disabled")
            if name in self.required:
                raise PluginError(f"plugin {name!r} is required ({self.required[name]}) and cannot be disabled")
            if name not in installed:  # a typo would otherwise leave the plugin on, silently
                warn(f"-p no:{name}: no plugin {name!r} is installed; installed: {', '.join(installed)}")
            self.pm.set_blocked(name)
        self.conflicts = self._check_duplicates()
        # built-ins first, so third-party plugins (registered later) are called
        # before them and win firstresult hooks; sorted() is stable (sys.path order)
        for ep in sorted(self.entry_points.get(PLUGIN_GROUP, []), key=lambda ep: not _is_builtin(ep)):
            builtin = _is_builtin(ep)
            if ep["name"] in disabled or (not builtin and (builtins_only or not autoload)):
                continue
            self._register(ep, builtin)
        self._check_hook_names()
        for info in list(self.plugin_info):
            problem = self.missing_requirement(self.pm.get_plugin(info["name"]))
            if problem:
                self._fail(info, problem)
        self._check_required(disabled)

    def missing_requirement(self, module) -> str | None:
        """What is wrong with ``module``'s ``requires`` (names of plugins it needs), or None."""
        if self._pm is None:  # the frozen plan holds exactly what pluggy had loaded
            loaded = {CORE_PLUGIN, *(info["name"] for info in self.plugin_info)}
        else:
            loaded = {name for name, plugin in self._pm.list_name_plugin() if plugin is not None}
        return missing_requirement(getattr(module, "requires", ()), loaded, self.disabled)

    def _required_names(self) -> dict[str, str]:
        """Plugin name -> why it is required (the environment or its entry point)."""
        names = {n.strip(): REQUIRE_ENV for n in os.environ.get(REQUIRE_ENV, "").split(",") if n.strip()}
        for ep in self.entry_points.get(PLUGIN_GROUP, []):
            if ep.get("required"):
                names.setdefault(ep["name"], f"entry point of {ep['dist']} {ep['version']}")
        return names

    def _check_required(self, disabled) -> None:
        """Every required plugin is loaded: a policy plugin must never fail open."""
        loaded = {info["name"] for info in self.plugin_info}
        for name, why in self.required.items():
            if name in loaded:
                continue
            if not self.autoload:
                reason = f"{AUTOLOAD_ENV} is set"
            elif any(ep["name"] == name for ep in self.entry_points.get(PLUGIN_GROUP, [])):
                reason = "it failed to load (see the warning above)"
            else:
                reason = "it is not installed"
            raise PluginError(f"plugin {name!r} is required ({why}) but {reason}")

    def _check_duplicates(self) -> dict[tuple[str, str], list[str]]:
        """Names claimed by two distributions.  Hook plugins all run, so a
        clash there stops start-up; a clashing driver name fails only when
        that driver is chosen (commands that don't use it keep working)."""
        owners: dict[tuple[str, str], list[str]] = {}
        for group, eps in self.entry_points.items():
            for ep in eps:
                dists = owners.setdefault((group, ep["name"]), [])
                label = f"{ep['dist']} {ep['version']}"
                if label not in dists:
                    dists.append(label)
        conflicts = {key: dists for key, dists in owners.items() if len(dists) > 1}
        for (group, name), dists in conflicts.items():
            if group == PLUGIN_GROUP:
                raise PluginError(f"plugin name {name!r} (entry-point group {group}) is claimed by "
                                  f"{' and '.join(dists)}; uninstall one of them")
        return conflicts

    def _check_hook_names(self) -> None:
        """A misspelled hook, or a ``pycr_*`` function without ``@hookimpl``,
        would silently never run: name it, its plugin and distribution."""
        from pycr.core import hookspecs

        known = [n for n in vars(hookspecs) if n.startswith("pycr_")]
        for info in list(self.plugin_info):
            plugin = self.pm.get_plugin(info["name"])
            for attr in dir(plugin):
                if not attr.startswith("pycr_") or attr in known or not callable(getattr(plugin, attr, None)):
                    continue
                import difflib  # only when something is wrong: 1 ms of start-up otherwise

                near = difflib.get_close_matches(attr, known, 1)
                self._fail(info, f"defines {attr}, which is not a pycr hook"
                                 + (f" (did you mean {near[0]}?)" if near else ""))
                break
            else:
                for attr in known:
                    fn = getattr(plugin, attr, None)
                    if callable(fn) and not hasattr(fn, "pycr_impl"):
                        self._fail(info, f"defines {attr} without the @hookimpl marker: it would never be called")
                        break

    def _fail(self, ep: dict, problem: str) -> None:
        """A plugin that loaded but is wrong: built-ins stop start-up, third-party ones are dropped."""
        msg = f"plugin {ep['name']!r} from {ep['dist']} {ep['version']} {problem}"
        if ep.get("kind") == "builtin" or ep["name"] in self.required:
            raise PluginError(msg)
        self.pm.unregister(name=ep["name"])
        self.plugin_info.remove(ep)
        self.failures.append(msg)
        warn(msg)

    def _register(self, ep: dict, builtin: bool) -> None:
        try:
            plugin = load_entry_point(ep["value"])
            self.pm.register(plugin, name=ep["name"])
        except Exception as e:
            detail = "; ".join(str(e).splitlines())  # pluggy's validation errors span lines
            msg = (f"plugin {ep['name']!r} from {ep['dist']} {ep['version']} failed to load: "
                   f"{type(e).__name__}: {detail}")
            if builtin or ep["name"] in self.required:
                raise PluginError(msg) from None
            # A broken third-party plugin must not break commands that don't use it.
            self.failures.append(msg)
            warn(msg)
            return
        self.plugin_info.append({**ep, "kind": "builtin" if builtin else "third-party"})

    # -- drivers ------------------------------------------------------------
    def driver_names(self, slot: str) -> list[str]:
        return sorted(ep["name"] for ep in self.entry_points.get(f"pycr.{slot}", []))

    def driver(self, slot: str, name: str, config: dict | None = None):
        """The driver class for ``slot`` called ``name``; one-line error if none."""
        cls = self.hook.pycr_select_driver(slot=slot, name=name, config=config)
        if cls is None:
            names = self.driver_names(slot) + (["auto"] if slot == "cgroup" else [])  # auto: resolved earlier
            choices = ", ".join(names) or "(none installed)"
            option = {"cgroup": "--backend", "rootfs": "--rootfs", "builder": "build --builder",
                      "monitor": "--monitor"}.get(slot, slot)
            raise PluginError(f"{option}: {slot} driver {name!r} is not installed; choose one of: {choices}")
        return cls

    # -- blame --------------------------------------------------------------
    def blame(self, exc: BaseException) -> dict | None:
        """The loaded plugin whose hook implementation raised ``exc``, as its
        ``plugin_info`` record (name, dist, version, kind, plus ``hook``), or None.

        The innermost traceback frame that runs a registered hook implementation
        decides, so an error raised by a helper the hook called is blamed on it too.
        """
        codes = {}
        for caller in vars(self.hook).values():
            # on the frozen path only the plugins imported so far can have raised
            for impl in getattr(caller, "loaded_hookimpls", getattr(caller, "get_hookimpls", list))():
                fn = getattr(impl.function, "__func__", impl.function)
                code = getattr(fn, "__code__", None)
                if code is not None:
                    codes[code] = (impl.plugin_name, caller.name)
        found = None
        tb = exc.__traceback__
        while tb is not None:
            found = codes.get(tb.tb_frame.f_code, found)
            tb = tb.tb_next
        if found is None:
            return None
        for info in self.plugin_info:
            if info["name"] == found[0]:
                return {**info, "hook": found[1]}
        return None

    # -- cleanup ------------------------------------------------------------
    def cleanup(self, state: dict) -> list[str]:
        """Call every ``pycr_cleanup`` implementation; return all failures."""
        failures = []
        for impl in reversed(self.hook.pycr_cleanup.get_hookimpls()):
            try:
                impl.function(state=state)
            except Exception as e:  # keep going: cleanup always runs everything
                failures.append(f"{impl.plugin_name}: {type(e).__name__}: {e}")
        return failures


_MANAGER: PluginManager | None = None


def current_manager() -> PluginManager | None:
    """The manager if one was built in this process (error reporting must not build one)."""
    return _MANAGER


def get_manager(opts=None) -> PluginManager:
    """The process-wide manager, built once from the global options."""
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = PluginManager(disabled=opts.disabled_plugins if opts else ())
        if opts is not None and (getattr(opts, "trace", False) or getattr(opts, "trace_file", None)):
            from pycr.core import tracing

            tracing.attach(_MANAGER.pm)
    return _MANAGER
