"""Parse a verb's arguments without argparse when they are the plain ones engines send.

argparse costs ~3-4 ms to import and build per ``pycr-oci`` command, a tenth
of a ``runc run``.  The verb's own argparse set-up function stays the one
definition: :func:`parse` runs it against a recorder, then parses ``argv`` by
that record if every token is an exact option, its value, or a positional.
Anything else -- an abbreviation, ``-h``, ``--``, ``--opt=value`` of a flag,
a value that starts with ``-``, a bad int or choice, a missing or extra
positional -- returns None and argparse parses it, errors and all.
"""

from __future__ import annotations


class _Spec:
    def __init__(self, names: tuple[str, ...], kwargs: dict):
        self.names = names
        self.action = kwargs.get("action", "store")
        self.type = kwargs.get("type")
        self.choices = kwargs.get("choices")
        self.nargs = kwargs.get("nargs")
        self.default = kwargs.get("default", False if self.action == "store_true" else None)
        if kwargs.get("dest"):
            self.dest = kwargs["dest"]
        elif names[0].startswith("-"):
            longs = [n for n in names if n.startswith("--")]
            self.dest = (longs or list(names))[0].lstrip("-").replace("-", "_")
        else:
            self.dest = names[0]


class _Recorder:
    """Stands in for an ``ArgumentParser`` while a verb's set-up function runs."""

    def __init__(self):
        self.specs: list[_Spec] = []

    def add_argument(self, *names, **kwargs):
        self.specs.append(_Spec(names, kwargs))


class Namespace:
    """What ``parse_args`` would return (attribute access only)."""

    def __init__(self, **values):
        self.__dict__.update(values)


def parse(setup, argv: list[str]) -> Namespace | None:
    """``setup(parser)``'s arguments parsed from ``argv``, or None to let argparse do it."""
    rec = _Recorder()
    setup(rec)
    options, positionals = {}, []
    for spec in rec.specs:
        if spec.action not in ("store", "store_true") or spec.nargs not in (None, "?"):
            return None  # append, REMAINDER, "*": argparse's job
        if spec.names[0].startswith("-"):
            if spec.nargs is not None:
                return None
            options.update(dict.fromkeys(spec.names, spec))
        else:
            positionals.append(spec)
    values = {spec.dest: spec.default for spec in rec.specs}
    given = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token.startswith("-") and token != "-":
            name, eq, inline = token.partition("=")
            spec = options.get(name)
            if spec is None:
                return None
            if spec.action == "store_true":
                if eq:
                    return None
                values[spec.dest] = True
            else:
                if eq:
                    raw = inline
                else:
                    i += 1
                    if i >= len(argv) or argv[i].startswith("-"):
                        return None
                    raw = argv[i]
                value = _convert(spec, raw)
                if value is None:
                    return None
                values[spec.dest] = value
        else:
            given.append(token)
        i += 1
    required = [s for s in positionals if s.nargs is None]
    if not len(required) <= len(given) <= len(positionals):
        return None
    for spec, raw in zip(positionals, given):
        value = _convert(spec, raw)
        if value is None:
            return None
        values[spec.dest] = value
    return Namespace(**values)


def _convert(spec: _Spec, raw: str):
    value = raw
    if spec.type is not None:
        try:
            value = spec.type(raw)
        except (TypeError, ValueError):
            return None
    if spec.choices is not None and value not in spec.choices:
        return None
    return value
