"""read_json_object: the one reader of JSON-object files (--process FILE, bench results), one line per failure."""

import pytest

from pycr.core import ConfigError, PycrError, read_json_object


def test_reads_an_object(tmp_path):
    (tmp_path / "a.json").write_text('{"args": ["true"]}')
    assert read_json_object(str(tmp_path / "a.json"), "a") == {"args": ["true"]}


@pytest.mark.parametrize("content, message", [("{not json", "x: malformed JSON"), ("[1]", "x: expected a JSON object")])
def test_bad_content_is_one_line_naming_it(tmp_path, content, message):
    (tmp_path / "a.json").write_text(content)
    with pytest.raises(ConfigError, match=message) as e:
        read_json_object(str(tmp_path / "a.json"), "x")
    assert "\n" not in str(e.value)


def test_missing_file_gets_the_hint_and_the_error_class(tmp_path):
    with pytest.raises(PycrError, match=r"^x: No such file or directory \(try y\)$"):
        read_json_object(str(tmp_path / "none.json"), "x", PycrError, hint=" (try y)")
