"""The compiled config schema (core/config_validator.py) against jsonschema.

The runtime trusts the compiled validator's "valid" without asking jsonschema,
so it must never accept what jsonschema refuses, nor refuse what it accepts:
checked on a corpus of hand-written invalid configs (tests/data/config_schema)
and on every node of a full config replaced by values of the wrong type.
"""

from __future__ import annotations

import copy
import json
import os
import sys

import pytest

from pycr.core import config_validator, spec

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "config_schema")
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import gen_config_validator  # noqa: E402


def _load(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)


def _jsonschema_refuses(config) -> bool:
    return not spec._validator().is_valid(config)


def _apply(base, case):
    config = copy.deepcopy(base)
    if not case["path"]:
        return case["value"]
    node = config
    for key in case["path"][:-1]:
        node = node[key]
    if case.get("delete"):
        del node[case["path"][-1]]
    else:
        node[case["path"][-1]] = case["value"]
    return config


def test_compiled_validator_is_current():
    assert config_validator.SCHEMA_SHA256 == gen_config_validator.schema_digest(), \
        "core/schema/runtime changed: run scripts/gen_config_validator.py"
    with open(gen_config_validator.OUTPUT) as f:
        assert f.read() == gen_config_validator.generate()


@pytest.mark.parametrize("name", ["default.json", "full.json"])
def test_valid_corpus_is_accepted_by_both(name):
    config = _load(name)
    assert not _jsonschema_refuses(config)
    assert not spec.schema_refuses(config)


def test_bundle_config_is_accepted(tmp_path):
    from pycr.core.testing.bundle import make_bundle

    make_bundle(str(tmp_path), ["/bin/true"])
    config = spec.load_bundle_config(str(tmp_path))
    assert not spec.schema_refuses(config)


INVALID = _load("invalid.json")


@pytest.mark.parametrize("case", INVALID["cases"], ids=[c["why"] for c in INVALID["cases"]])
def test_invalid_corpus_is_refused_by_both(case):
    config = _apply(_load(INVALID["base"]), case)
    assert _jsonschema_refuses(config), "corpus case is not invalid for jsonschema"
    assert spec.schema_refuses(config)
    assert spec.schema_error(config)  # the one-line message the user gets


@pytest.mark.parametrize("case", INVALID["edges"], ids=[c["why"] for c in INVALID["edges"]])
def test_edge_cases_jsonschema_accepts_are_accepted(case):
    config = _apply(_load(INVALID["base"]), case)
    assert not _jsonschema_refuses(config)
    assert not spec.schema_refuses(config)


WRONG = [None, True, -1, 1.0, 1.5, 4294967296, 18446744073709551616, "", "c\n", [], ["x"], {"k": 1}]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def test_same_verdict_on_every_field_with_wrong_values():
    base = _load("full.json")
    checked = differ = 0
    mismatches = []
    for path in _paths(base):
        if not path:
            continue
        for value in WRONG:
            config = _apply(base, {"path": list(path), "value": value})
            a, b = _jsonschema_refuses(config), spec.schema_refuses(config)
            checked += 1
            differ += a
            if a != b:
                mismatches.append(f"{'.'.join(map(str, path))} = {value!r}: jsonschema "
                                  f"{'refuses' if a else 'accepts'}, compiled {'refuses' if b else 'accepts'}")
    assert not mismatches, "\n".join(mismatches[:20])
    assert differ > checked // 3  # the walk really produced invalid configs


def test_refused_config_is_one_line_naming_the_field(tmp_path):
    from pycr.core.errors import ConfigError
    from pycr.core.testing.bundle import make_bundle

    make_bundle(str(tmp_path), ["/bin/true"])
    path = tmp_path / "config.json"
    config = json.loads(path.read_text())
    config["process"]["user"]["uid"] = -1
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError) as e:
        spec.load_bundle_config(str(tmp_path))
    assert "field process.user.uid" in str(e.value) and "\n" not in str(e.value)


def test_builtin_patterns_answer_as_re_does():
    """The compiled schema matches its patterns without re: same answer as re.search on every
    string of up to 3 characters from each pattern's alphabet, and on longer edge cases."""
    import itertools
    import re

    builtin = config_validator._BUILTIN
    assert set(builtin) == {p for p in _schema_patterns()}, "a schema pattern has no built-in matcher"
    alphabet = "RLIMT_AZacbup019KMGB:\nx"
    samples = ["".join(t) for n in range(4) for t in itertools.product(alphabet, repeat=n)]
    samples += ["RLIMIT_NOFILE", "RLIMIT_NOFILE\n", "RLIMIT_NOFILE\n\n", "RLIMIT_", "RLIMIT_nofile", "xRLIMIT_CPU",
                "2MB", "64KB\n", "02MB", "1GB", "10", "1TB", "123456789MB", "MB:0=70", "MB:0=70\n", "MB:0\n1",
                "MB:", "mb:0", "\n", "\n\n", "c\n", "c\n\n", "\u0661MB", "RLIMIT_\u00c9"]
    for pattern, test in builtin.items():
        compiled = re.compile(pattern)
        for s in samples:
            assert bool(test(s)) == bool(compiled.search(s)), (pattern, s)


def _schema_patterns():
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern":
                    found.add(value)
                elif key == "patternProperties":
                    found.update(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in os.listdir(spec.SCHEMA_DIR):
        if name.endswith(".json"):
            with open(os.path.join(spec.SCHEMA_DIR, name)) as f:
                walk(json.load(f))
    return found
