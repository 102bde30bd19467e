"""Parse a verb's arguments without argparse (~4 ms) when they are the plain ones engines send.

The verb's argparse set-up function stays the one definition: :func:`parse` records it, then
parses ``argv`` if every token is an exact option, its value or a positional.  Anything else
(an abbreviation, ``-h``, ``--``, a value starting with ``-``, a bad int or choice, a wrong
number of positionals) returns None, and argparse parses it, errors and all.
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
        longs = [n for n in names if n.startswith("--")] or list(names)  # argparse's choice of dest
        self.dest = kwargs.get("dest") or longs[0].lstrip("-").replace("-", "_")


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
    try:
        value = raw if spec.type is None else spec.type(raw)
    except Exception:  # ValueError, argparse.ArgumentTypeError...: argparse reports it
        return None
    return None if spec.choices is not None and value not in spec.choices else value
