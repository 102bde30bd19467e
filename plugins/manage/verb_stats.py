"""``pycr stats [--no-stream] [CONTAINER...]``: CPU, memory and pids from the cgroup backend."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--no-stream", action="store_true", help="print one sample and exit")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("-a", "--all", action="store_true", help="accepted: stopped containers show no usage")
    p.add_argument("containers", nargs="*", help="default: every running container")


def _size(n) -> str:
    if n is None:
        return "--"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f}{unit}" if unit != "B" else f"{n}B"
        n /= 1024
    return str(n)


def sample(recs) -> dict:
    import time

    from pycr.core import live
    from pycr.plugins.manage import manage

    out = {}
    for rec in recs:
        try:
            data = live.stats_event(manage.runtime_opts(rec), rec.id)["data"]
        except Exception:  # stopped meanwhile
            continue
        out[rec.id] = (time.monotonic(), data)
    return out


def run(opts, ns) -> int:
    import json
    import sys
    import time

    from pycr.plugins.manage import manage, records

    if ns.containers:
        recs = [manage.resolve(r) for r in ns.containers]
        for rec in recs:
            manage.need_running(rec, "read the stats of")
    else:
        recs = [r for r in records.all_records(manage.store_root()) if manage.status(r)["running"]]
    prev = sample(recs)
    while True:
        time.sleep(0.5 if ns.no_stream else 1.0)
        cur = sample(recs)
        lines = []
        for rec in recs:
            if rec.id not in cur:
                continue
            t1, d1 = cur[rec.id]
            t0, d0 = prev.get(rec.id, cur[rec.id])
            cpu1 = ((d1.get("cpu") or {}).get("usage") or {}).get("total", 0)
            cpu0 = ((d0.get("cpu") or {}).get("usage") or {}).get("total", 0)
            pct = 100.0 * (cpu1 - cpu0) / ((t1 - t0) * 1e9) if t1 > t0 else 0.0
            mem = (d1.get("memory") or {}).get("usage") or {}
            pids = (d1.get("pids") or {}).get("current")
            lines.append({"ID": rec.id, "Name": rec.name, "CPUPerc": round(pct, 2), "MemUsage": mem.get("usage"),
                          "MemLimit": mem.get("limit"), "PIDs": pids})
        if ns.format == "json":
            print(json.dumps(lines))
        else:
            print(f"{'CONTAINER ID':<14}{'NAME':<24}{'CPU %':<9}{'MEM USAGE / LIMIT':<26}PIDS")
            for x in lines:
                limit = x["MemLimit"]
                limit_text = "--" if limit is None or limit >= 1 << 60 else _size(limit)
                print(f"{x['ID'][:12]:<14}{x['Name']:<24}{x['CPUPerc']:<9.2f}"
                      f"{_size(x['MemUsage']) + ' / ' + limit_text:<26}{'--' if x['PIDs'] is None else x['PIDs']}")
        sys.stdout.flush()
        if ns.no_stream or not cur:
            return 0
        prev = cur
