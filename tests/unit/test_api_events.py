"""The API's event stream reports every step of a container, even one that lives between two samples."""

from pycr.plugins.api.events import Events


def _rec(status, started=None, finished=None, exit_code=None):
    return {"status": status, "exit_code": exit_code, "name": "ev1", "image": "img", "finished": finished,
            "started": started, "auto_remove": True, "labels": {}}


def _events():
    ev = Events(remove=None)
    got = []
    ev.publish = lambda kind, action, cid, attrs: got.append((action, attrs.get("exitCode")))
    return ev, got


def test_a_run_rm_container_seen_only_as_created_still_starts_and_dies():
    ev, got = _events()
    ev._diff({"c1": _rec("created")})
    ev.seen = {"c1": _rec("created")}
    ev.exit_codes["c1"] = 0  # the API took its exit (docker run --rm waits, then removes)
    ev._diff({})
    assert got == [("create", None), ("start", None), ("die", "0"), ("destroy", None)]


def test_a_created_container_removed_unstarted_only_goes():
    ev, got = _events()
    ev.seen = {"c1": _rec("created")}
    ev._diff({})
    assert got == [("destroy", None)]


def test_a_running_container_removed_dies_once():
    ev, got = _events()
    ev.seen = {"c1": _rec("running", started="t0")}
    ev._diff({})
    assert got == [("die", None), ("destroy", None)]


def test_what_observe_saw_after_a_sample_began_is_not_taken_for_gone():
    """A container the API made while the watcher was sampling is neither destroyed nor created twice."""
    import time

    ev, got = _events()
    started = time.monotonic()
    ev.observe("c1", _rec("created"))  # the API's own create, during the sample
    ev._take_sample({}, started)  # the sample, taken before c1 existed, is empty
    assert got == [("create", None)]
    assert "c1" in ev.seen  # still known: the next sample that lacks it will report it gone
    ev._take_sample({}, time.monotonic())
    assert got == [("create", None), ("destroy", None)] and ev.seen == {}
