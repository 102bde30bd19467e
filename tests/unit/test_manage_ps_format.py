"""``pycr ps`` reads like ``docker ps``: docker's duration words, whole image names, columns that never touch."""

import pytest

from pycr.plugins.manage.manage import human_duration
from pycr.plugins.manage.verb_ps import print_table


@pytest.mark.parametrize("seconds, words", [
    (0.4, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"),
    (2 * 3600, "2 hours"), (47 * 3600, "47 hours"), (3 * 86400, "3 days"), (20 * 86400, "2 weeks"),
    (90 * 86400, "3 months"), (3 * 365 * 86400, "3 years")])
def test_durations_in_dockers_words(seconds, words):
    assert human_duration(seconds) == words


def test_columns_never_run_together_and_nothing_is_cut(capsys):
    status = "Exited (137) About a minute ago (monitor gone)"  # longer than any fixed width
    image = "registry.example.org:5000/some/deeply/nested/image:with-a-long-tag"
    print_table([("CONTAINER ID", "IMAGE", "STATUS", "NAMES"), ("0123456789ab", image, status, "web")])
    header, row = capsys.readouterr().out.splitlines()
    assert image in row and row.endswith(f"{status}   web")
    assert header.index("NAMES") == row.index("   web") + 3  # every column starts where its header does
    assert header.index("STATUS") == row.index(status)
