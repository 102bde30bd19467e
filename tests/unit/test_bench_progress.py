"""The bench progress bar: drawn on a terminal, silent otherwise."""

import io

from pycr.plugins.bench.progress import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_bar_on_a_terminal():
    out = Tty()
    p = Progress(4, stream=out, width=8)
    p.update("runc/true")
    p.update("pycr-v1-pivot/fork")
    p.close()
    text = out.getvalue()
    assert "\r[##......] 1/4" in text and "\r[####....] 2/4" in text and "pycr-v1-pivot/fork" in text
    assert text.endswith("\n")


def test_silent_when_not_a_terminal():
    out = io.StringIO()
    p = Progress(3, stream=out)
    p.update("x")
    p.close()
    assert out.getvalue() == "" and p.done == 1
