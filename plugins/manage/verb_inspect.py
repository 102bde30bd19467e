"""``pycr inspect CONTAINER...``: the records as JSON, with the true current state (docker's keys)."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("containers", nargs="+")


def describe(rec) -> dict:
    from pycr.plugins.manage import manage

    st = manage.status(rec)
    s = rec.state
    policy = rec.data.get("restart") or {"name": "no", "max": 0}
    return {
        "Id": rec.id, "Name": rec.name, "Created": rec.data.get("created"),
        "Path": (rec.data.get("command") or [""])[0], "Args": (rec.data.get("command") or [])[1:],
        "State": {"Status": st["status"], "Running": st["running"], "Paused": st["status"] == "paused",
                  "Restarting": st["status"] == "restarting", "Dead": st["status"] == "dead",
                  "Pid": s.get("pid", 0) if st["running"] else 0, "ExitCode": st["exit_code"],
                  "Error": st["error"], "StartedAt": s.get("started_at"), "FinishedAt": s.get("finished_at"),
                  "MonitorPid": s.get("monitor_pid") if st["monitor"] else 0},
        "Image": rec.data.get("image_digest"), "RestartCount": s.get("restart_count", 0),
        "LogPath": rec.log_path, "LogFormat": rec.log_format, "Monitor": rec.data.get("monitor", "pycr"),
        "Config": {"Image": rec.data.get("image"), "Cmd": rec.data.get("command"), "Tty": rec.data.get("tty"),
                   "OpenStdin": rec.data.get("interactive"), "StopSignal": rec.data.get("stop_signal", "SIGTERM"),
                   "ExposedPorts": rec.data.get("exposed_ports") or None, "Labels": rec.data.get("labels") or {}},
        "HostConfig": {"RestartPolicy": {"Name": policy["name"], "MaximumRetryCount": policy.get("max", 0)},
                       "AutoRemove": rec.data.get("auto_remove", False),
                       "LogConfig": {"Type": rec.log_format, "Config": rec.data.get("log_opts") or {}}},
        "GraphDriver": {"Name": rec.data.get("rootfs_strategy"), "Data": {"MergedDir": rec.data.get("rootfs")}},
        "Runtime": {"Root": rec.data.get("runtime", {}).get("root"), "Bundle": rec.bundle},
        "NetworkSettings": network_settings(rec),
    }


def network_settings(rec) -> dict:
    """What the network layer reports (``pycr_network_report``); the request alone once stopped."""
    from pycr.core import get_manager
    from pycr.plugins.manage import manage

    found = get_manager().hook.pycr_network_report(store_root=manage.store_root(), container_id=rec.id)
    asked = rec.data.get("network") or {}
    return found or {"NetworkMode": asked.get("network_mode", ""), "Networks": {}, "Ports": {}, "PortList": []}


def run(opts, ns) -> int:
    import json
    import sys

    from pycr.core import PycrError, printable
    from pycr.plugins.manage import manage

    out, code = [], 0
    for ref in ns.containers:
        try:
            out.append(describe(manage.resolve(ref)))
        except PycrError as e:
            sys.stderr.write(f"{printable(str(e))}\n")
            code = 1
    print(json.dumps(out, indent=2))
    return code
