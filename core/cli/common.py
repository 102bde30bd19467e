"""Shared command-line plumbing for ``pycr`` and ``pycr-oci``.

Global options come before the verb, as with runc (engines call
``pycr-oci --root R --log F --log-format json create ...``).  They are parsed
by hand so the verb's own parser (argparse) is only built for the verb used.
Errors become one line on stderr (and a JSON line in ``--log`` when asked)
with a non-zero exit.
"""

from __future__ import annotations

import os
import sys

# option -> (attribute, takes a value)
_GLOBALS = {
    "--root": ("root", True),
    "--log": ("log", True),
    "--log-format": ("log_format", True),
    "--backend": ("backend", True),
    "--rootfs": ("rootfs", True),
    "--rootfs-opt": ("rootfs_opts", True),
    "--trace-file": ("trace_file", True),
    "-p": ("plugin_opts", True),
    "--debug": ("debug", False),
    "--trace": ("trace", False),
    "--systemd-cgroup": ("systemd_cgroup", False),  # accepted for runc compatibility
    "--rootless": ("rootless", True),  # accepted for runc compatibility
}


class GlobalOptions:
    """Options shared by every verb; ``PYCR_*`` environment variables give defaults.

    A plain class, not a dataclass: importing dataclasses costs more than
    the rest of ``pycr-oci start``.
    """

    def __init__(self, **given):
        env = os.environ
        self.root: str = env.get("PYCR_ROOT", "/run/pycr")
        self.log: str | None = None
        self.log_format: str = "text"
        self.backend: str = env.get("PYCR_BACKEND", "auto")
        self.rootfs: str = env.get("PYCR_ROOTFS", "overlay")
        self.trace_file: str | None = None
        self.plugin_opts: list[str] = []
        self.rootfs_opts: list[str] = []  # KEY=VALUE for the rootfs strategy (repeatable)
        self.debug = self.trace = self.systemd_cgroup = False
        self.rootless: str | None = None
        self.given: set[str] = set()  # the options set on the command line, not by default
        for key, value in given.items():
            if not hasattr(self, key):
                raise TypeError(f"unknown global option {key!r}")
            setattr(self, key, value)

    @property
    def disabled_plugins(self) -> list[str]:
        """Names given as ``-p no:NAME``."""
        return [p[3:] for p in self.plugin_opts if p.startswith("no:")]


def parse_globals(argv: list[str]) -> tuple[GlobalOptions, list[str]]:
    """Split ``argv`` into global options and the rest (verb first)."""
    from pycr.core.errors import ConfigError

    opts = GlobalOptions()
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-h", "--help", "--version", "-v"):
        name, eq, value = argv[i].partition("=")
        if name not in _GLOBALS:
            raise ConfigError(f"unknown global option {name!r}")
        attr, takes_value = _GLOBALS[name]
        if takes_value and not eq:
            i += 1
            if i >= len(argv):
                raise ConfigError(f"option {name} needs a value")
            value = argv[i]
        opts.given.add(attr)
        if attr in ("plugin_opts", "rootfs_opts"):  # repeatable
            getattr(opts, attr).append(value)
        elif takes_value:
            setattr(opts, attr, value)
        else:
            setattr(opts, attr, True)
        i += 1
    if opts.log_format not in ("text", "json"):
        raise ConfigError(f"--log-format: {opts.log_format!r} is not one of: text, json")
    return opts, argv[i:]


def log_error(opts: GlobalOptions | None, message: str, level: str = "error", fields: dict | None = None) -> None:
    """Write an error to stderr and, with ``--log``, to the log file; ``fields`` go only into a
    JSON log line, next to runc's ``level``/``msg``/``time`` (engines read those and ignore the rest).
    Control characters in ``message`` (a value the caller typed, echoed back) are escaped."""
    from pycr.core.errors import printable

    message = printable(message)
    sys.stderr.write(f"{message}\n" if level == "error" else f"{level}: {message}\n")
    if opts is None or not getattr(opts, "log", None):
        return
    import time

    try:
        with open(opts.log, "a") as f:
            if opts.log_format == "json":
                import json

                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # RFC 3339: the shim parses it
                f.write(json.dumps({"level": level, "msg": message, "time": stamp, **(fields or {})}) + "\n")
            else:
                f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {level}: {message}\n")
    except OSError:
        pass


def log_warning(opts: GlobalOptions | None, message: str) -> None:
    """A ``warning: ...`` line on stderr and, with ``--log``, in the log file."""
    log_error(opts, message, level="warning")


class Verbs:
    """A command's verbs: ``{verb: (module, one-line help)}`` under headings (None: no heading)."""

    def __init__(self, groups: dict[str | None, dict[str, tuple[str, str]]]):
        self.groups = groups
        self.flat = {verb: spec for group in groups.values() for verb, spec in group.items()}

    def get(self, verb: str) -> tuple[str, str] | None:
        return self.flat.get(verb)

    def unknown(self, verb: str):
        """The error for a verb no one provides."""
        from pycr.core.errors import PycrError

        return PycrError(f"unknown command {verb!r}; choose one of: {', '.join(self.flat)}")


def verb_parser(prog: str, description: str, **kw):
    """The argument parser of one verb: argparse's, plus a hint when a global option was put
    after the verb (``pycr run --backend none ...``), where argparse alone says only
    ``unrecognized arguments``."""
    import argparse

    class VerbParser(argparse.ArgumentParser):
        def error(self, message):
            """One line, as every other error (argparse would print the whole usage first)."""
            from pycr.core.errors import printable

            hint = _misplaced_global_hint(prog.split()[0], message) or f" (see '{self.prog} --help')"
            self.exit(2, printable(f"{self.prog}: {message}{hint}") + "\n")

    return VerbParser(prog=prog, description=description, **kw)


def _misplaced_global_hint(command: str, message: str) -> str:
    if "unrecognized arguments:" not in message:
        return ""
    for word in message.split("unrecognized arguments:", 1)[1].split():
        name = word.partition("=")[0]
        if name in _GLOBALS:
            return f" ({name} is a global option: put it before the verb, as in `{command} {name} ... VERB ...`)"
    return ""


def usage(prog: str, verbs: Verbs) -> str:
    lines = [f"usage: {prog} [global options] VERB [options] ...", "", "verbs:"]
    for heading, group in verbs.groups.items():
        if heading is not None:
            lines.append(f" {heading}:")
        lines += [f"  {name:<12} {text}" for name, (_, text) in group.items()]
    lines += ["", "global options: " + " ".join(sorted(_GLOBALS))]
    return "\n".join(lines)


def run_command(prog: str, verbs, argv: list[str], dispatch=None) -> int:
    """Parse, dispatch to the verb's module, and turn errors into one line.

    ``verbs`` is a :class:`Verbs`, or a function of the global options
    returning one (``pycr``'s verbs depend on which plugins are enabled).
    ``dispatch(opts, [verb, *args])`` replaces the per-module lookup (pycr-oci).
    """
    from pycr.core.errors import ExecutableError, PycrError

    opts = None
    try:
        opts, rest = parse_globals(argv)
        if rest and rest[0] in ("-v", "--version", "version"):
            from importlib.metadata import version

            print(f"{prog} version {version('pycr')}\nspec: 1.0.2")
            return 0
        if dispatch is not None and rest and rest[0] not in ("-h", "--help", "help"):
            return dispatch(opts, rest)
        if callable(verbs):
            verbs = verbs(opts)
        if not rest or rest[0] in ("-h", "--help", "help"):
            print(usage(prog, verbs))
            return 0 if rest else 2
        verb, args = rest[0], rest[1:]
        if verbs.get(verb) is None:
            raise verbs.unknown(verb)
        module_name, help_text = verbs.get(verb)
        import importlib

        module = importlib.import_module(module_name)
        if hasattr(module, "dispatch"):  # a module with verbs of its own (pycr oci ...)
            return module.dispatch(opts, args)
        parser = verb_parser(f"{prog} {verb}", help_text)
        module.add_arguments(parser)
        ns = parser.parse_args(args)
        from pycr.core import tracing

        with tracing.session(opts, f"{prog} {verb}"):
            return module.run(opts, ns) or 0
    except PycrError as e:
        culprit = _blame(e)
        third_party = culprit is not None and culprit["kind"] != "builtin"
        kind = e.kind if isinstance(e, ExecutableError) else None
        log_error(opts, f"{_plugin_label(culprit)}: {e}" if third_party else str(e),
                  fields={"command": kind} if kind else None)  # the exit code stays runc's
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except OSError as e:  # the system said no (disk full, ...): one line; --debug adds the traceback
        culprit = _blame(e)
        if (opts is not None and opts.debug) or (culprit is not None and culprit["kind"] != "builtin"):
            return _report_exception(opts, e)
        log_error(opts, os_error_line(e))
        return 1
    except Exception as e:
        return _report_exception(opts, e)


def _report_exception(opts, e: Exception) -> int:
    culprit = _blame(e)
    if culprit is not None:  # a plugin's bug, not pycr's: name it, its distribution and the hook
        log_error(opts, f"{_plugin_label(culprit)} failed in {culprit['hook']}: {type(e).__name__}: {e}")
    else:  # pycr's own bug: engines still get one line in --log
        log_error(opts, f"internal error: {type(e).__name__}: {e}")
    if opts is not None and opts.debug:
        raise e
    if culprit is None:
        sys.stderr.write("(run with --debug for the traceback)\n")
    return 1


def os_error_line(e: OSError) -> str:
    """An OSError as a user reads it: what, where, why -- no errno number or class name."""
    where = " ".join(repr(f) if isinstance(f, str) else repr(os.fsdecode(f))
                     for f in (e.filename, e.filename2) if isinstance(f, (str, bytes)))  # not an fd number
    reason = e.strerror or str(e) or "operating system error"
    return f"{where}: {reason}" if where else reason


def _blame(exc: BaseException) -> dict | None:
    """The plugin whose hook raised ``exc``, if a plugin manager was built in this process."""
    from pycr.core.plugins import current_manager

    manager = current_manager()
    return manager.blame(exc) if manager is not None else None


def _plugin_label(info: dict) -> str:
    return f"plugin {info['name']!r} from {info['dist']} {info['version']}"
