"""Monitor drivers (slot ``pycr.monitor``): chosen by name from ``--monitor`` or ``$PYCR_MONITOR``."""

from __future__ import annotations

import types
import uuid

import pytest

from pycr.core import ConfigError, PluginError
from pycr.core.cli.common import GlobalOptions
from pycr.core.testing.dists import write_dist
from pycr.plugins.manage import monitors
from pycr.plugins.manage.conmon import ConmonMonitor
from pycr.plugins.manage.launch import PycrMonitor


@pytest.fixture
def site(plugin_site, monkeypatch):
    from pycr.core import plugins

    monkeypatch.setattr(plugins, "_MANAGER", None)  # a manager that sees this test's site
    yield plugin_site
    plugins._MANAGER = None


def ns(**kw):
    return types.SimpleNamespace(**{"monitor": None, "tty": False, "interactive": False, **kw})


def test_builtins_by_name_and_the_default(site, monkeypatch):
    monkeypatch.delenv(monitors.ENV, raising=False)
    opts = GlobalOptions()
    assert monitors.chosen(opts, ns()) is PycrMonitor
    assert monitors.chosen(opts, ns(monitor="conmon")) is ConmonMonitor
    monkeypatch.setenv(monitors.ENV, "conmon")
    assert monitors.chosen(opts, ns()) is ConmonMonitor
    assert monitors.chosen(opts, ns(monitor="pycr")) is PycrMonitor  # the flag wins over the environment
    assert (PycrMonitor.log_format, ConmonMonitor.log_format) == ("json-file", "k8s-file")


def test_unknown_name_is_one_line_with_the_choices(site):
    with pytest.raises(PluginError, match=r"^--monitor: monitor driver 'nosuch' is not installed; "
                                          r"choose one of: conmon, pycr$"):
        monitors.chosen(GlobalOptions(), ns(monitor="nosuch"))


def test_conmon_must_be_installed(site, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/" + name)
    assert monitors.chosen(GlobalOptions(), ns(monitor="conmon", tty=True, interactive=True)) is ConmonMonitor
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ConfigError, match="^--monitor conmon: conmon is not installed"):
        monitors.chosen(GlobalOptions(), ns(monitor="conmon"))
    # a foreground run is watched by its own pycr: only the name is checked
    assert monitors.chosen(GlobalOptions(), ns(monitor="conmon"), check=False) is ConmonMonitor


def test_third_party_monitor_is_found_by_its_entry_point_name(site):
    mod = f"pycrtest_{uuid.uuid4().hex[:8]}"
    write_dist(site, "pycr-mon-x", "1.0", {"pycr.monitor": {"xmon": f"{mod}:X"}},
               {f"{mod}.py": "class X:\n    name = 'xmon'\n    log_format = 'json-file'\n"
                             "    @staticmethod\n    def check(ns):\n        pass\n"})
    assert monitors.chosen(GlobalOptions(), ns(monitor="xmon")).__module__ == mod


def test_the_runtime_s_json_log_round_trips_the_kind_of_a_command_that_cannot_run(tmp_path, capsys):
    """What ``pycr-oci`` writes with ``--log-format json`` (runc's fields, plus ``command`` for an
    ``ExecutableError``) is what the conmon driver reads back as the same error."""
    from pycr.core import ExecutableError, PycrError
    from pycr.core.cli.common import log_error
    from pycr.plugins.manage.conmon import _runtime_error
    from pycr.plugins.manage.manage import docker_exit_code

    log = tmp_path / "runtime.log"
    opts = GlobalOptions(log=str(log), log_format="json")
    assert _runtime_error(str(log)) is None  # no log yet
    log_error(opts, "some other error")
    got = _runtime_error(str(log))
    assert type(got) is PycrError and str(got) == "some other error" and docker_exit_code(got, 128) == 128
    for kind, code in (("missing", 127), ("not-executable", 126)):
        log_error(opts, f'exec: "/x": {kind}', fields={"command": ExecutableError("", kind).kind})
        log_error(opts, "a warning after it", level="warning")  # the last *error* counts
        got = _runtime_error(str(log))
        assert isinstance(got, ExecutableError) and str(got) == f'exec: "/x": {kind}'
        assert docker_exit_code(got, 128) == code
    log.write_text(log.read_text() + "not json\n" + '{"level": "error", "msg": "odd", "command": "other"}\n')
    got = _runtime_error(str(log))
    assert type(got) is PycrError and str(got) == "odd"  # an unknown kind is not the command's
    assert capsys.readouterr().err == ('some other error\nexec: "/x": missing\nwarning: a warning after it\n'
                                       'exec: "/x": not-executable\nwarning: a warning after it\n')  # no fields


def test_a_conmon_exit_command_acts_only_for_the_launch_that_created_it():
    from pycr.plugins.manage.conmon import ran

    rec = types.SimpleNamespace(state={"conmon_launch": "abc"})
    assert ran(rec, "abc") and not ran(rec, "def")
    assert not ran(types.SimpleNamespace(state={"conmon_launch": None}), "abc")  # its create failed
    assert ran(types.SimpleNamespace(state={}), None)  # a conmon started by an older pycr
