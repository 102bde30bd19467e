"""pycr's error types: every failure the user sees is one line, naming what is wrong.

Wording follows runc where engines parse stderr (``does not exist``,
``container not running``), because podman and containerd match on it.
"""

import sys


class PycrError(Exception):
    """A failure reported to the user as one line and a non-zero exit."""

    exit_code = 1


class ConfigError(PycrError):
    """The bundle, its config.json or a command-line value is invalid."""


class ContainerNotFound(PycrError):
    """No container with this id exists under the state root."""

    def __init__(self, cid: str):
        super().__init__(f"container {cid} does not exist")


class StateError(PycrError):
    """The container exists but is in the wrong state for the operation."""


class ExecutableError(PycrError):
    """The process's executable is missing (``missing``) or cannot be run.

    ``at_execve``: execve itself refused it (ENOEXEC, a missing interpreter),
    after every other step succeeded.  docker exits 127 for a missing
    command and 126 for one it cannot run; runc exits 255 from ``exec``
    for a failed lookup and 1 for a refused execve."""

    def __init__(self, message: str, command: str):
        super().__init__(message)
        self.missing = command.startswith("missing")
        self.at_execve = command.endswith("-execve")

    @property
    def kind(self) -> str:
        """``missing`` or ``not-executable``: what ``pycr-oci``'s JSON ``--log`` line says in its
        ``command`` field, so a caller two processes away (conmon's) can give docker's 127/126."""
        return "missing" if self.missing else "not-executable"


class PluginError(PycrError):
    """A plugin or driver could not be found, loaded or chosen."""


class CleanupError(PycrError):
    """One or more cleanup steps failed; every step was still attempted."""

    def __init__(self, failures: list[str]):
        self.failures = failures
        super().__init__("cleanup failed: " + "; ".join(failures))


_ESCAPES: dict[int, str] = {}  # built on first need: not on every pycr-oci command's path


def printable(text: str) -> str:
    """``text`` with every control character written as an escape (``\\x1b``, ``\\r``, ``\\u202e``):
    a value the caller typed, echoed into an error line, must not recolour the terminal, move
    its cursor, rewrite the line, start another or reverse what follows."""
    if text.isprintable():
        return text
    if not _ESCAPES:  # C0, DEL, C1, line/paragraph separators, bidi controls
        _ESCAPES.update((c, repr(chr(c))[1:-1]) for c in (*range(0x20), *range(0x7F, 0xA0), 0x61C, 0x200E, 0x200F,
                                                          0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)))
    return text.translate(_ESCAPES)


def quoted(value) -> str:
    """A user's value for an error line, the one rule: its ``repr``, so quotes show where it starts
    and ends, that it is text (``'12'``, not 12) or empty (``''``), and every control character is
    an escape; one whose repr passes 80 characters is cut at 60, its length noted."""
    text = repr(value)
    if len(text) <= 80:
        return text
    if isinstance(value, str):
        return f"{text[:60]}...' ({len(value)} characters)"
    return f"{text[:60]}... ({len(text)} characters)"


def warn(message: str) -> None:
    """A ``warning: ...`` line on stderr, control characters escaped: for what runs where the CLI's
    ``log_warning`` (which also writes ``--log``) is not at hand (the plugin manager, OCI hooks,
    the lifecycle's cleanup)."""
    sys.stderr.write(f"warning: {printable(message)}\n")
