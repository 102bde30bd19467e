"""``pycr import ROOTFS.tar[.gz|.zst] NAME``: a plain rootfs tarball becomes a one-layer image."""

from __future__ import annotations


def add_arguments(p) -> None:
    # one value, split like a shell line (or a JSON array): a list-valued option would swallow
    # the positionals that follow it
    p.add_argument("--cmd", metavar="'CMD [ARG...]'", help="the image's default command, e.g. --cmd 'sh -c \"echo hi\"' "
                                                      "or --cmd '[\"sh\", \"-c\", \"echo hi\"]'")
    p.add_argument("tarball")
    p.add_argument("name")


def run(opts, ns) -> int:
    try:
        return _run(opts, ns)
    except OSError as e:
        from pycr.core import PycrError

        raise PycrError(f"import: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}") from None


def _run(opts, ns) -> int:
    from pycr.plugins.images.archive import import_rootfs
    from pycr.plugins.images.store import Store

    print(import_rootfs(Store(), ns.tarball, ns.name, cmd=_command(ns.cmd)))
    return 0


def _command(text: str | None) -> list[str] | None:
    from pycr.core import ConfigError

    if text is None:
        return None
    try:
        if text.lstrip().startswith("["):
            import json

            cmd = json.loads(text)
            if not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd):
                raise ValueError("not a list of strings")
        else:
            import shlex

            cmd = shlex.split(text)
    except ValueError as e:
        raise ConfigError(f"--cmd {text!r}: {e}") from None
    if not cmd:
        raise ConfigError("--cmd: empty command")
    return cmd
