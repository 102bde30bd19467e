"""Progress bars draw on a terminal and stay silent otherwise."""

import io

from pycr.plugins.images.progress import Progress


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_bars_on_a_tty_and_silence_otherwise():
    tty = FakeTTY()
    p = Progress(stream=tty)
    p.start("a", "layer-a", 2_000_000)
    p.advance("a", 1_000_000)
    p.done("a")
    out = tty.getvalue()
    assert "layer-a" in out and "2.0/2.0 MB done" in out and "#" * 30 in out
    quiet = FakeTTY()
    p = Progress(enabled=False, stream=quiet)
    p.start("a", "x", 10)
    p.done("a")
    assert quiet.getvalue() == ""
    pipe = io.StringIO()
    p = Progress(stream=pipe)
    p.start("a", "x", 10)
    assert pipe.getvalue() == ""
