"""``pycr ps [-a] [-q] [--format json]``: managed containers and their true status."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show stopped containers too")
    p.add_argument("-q", "--quiet", action="store_true", help="only ids")
    p.add_argument("--no-trunc", action="store_true", help="full ids and commands")
    p.add_argument("--format", choices=["table", "json"], default="table")


def rows(all_: bool) -> list[dict]:
    from pycr.plugins.manage import manage, records

    out = []
    for rec in records.all_records(manage.store_root()):
        st = manage.status(rec)
        if not all_ and not st["running"] and st["status"] not in ("restarting", "exiting", "starting"):
            continue
        out.append({"Id": rec.id, "Names": rec.name, "Image": rec.data.get("image", ""),
                    "Command": " ".join(rec.data.get("command") or []), "CreatedAt": rec.data.get("created", ""),
                    "State": st["status"], "Status": manage.status_text(rec, st), "ExitCode": st["exit_code"],
                    "Pid": rec.state.get("pid", 0) if st["running"] else 0, "Error": st["error"]})
    return out


def run(opts, ns) -> int:
    import json

    from pycr.plugins.manage import manage

    found = rows(ns.all)
    if ns.quiet:
        for r in found:
            print(r["Id"] if ns.no_trunc else r["Id"][:12])
    elif ns.format == "json":
        print(json.dumps(found, indent=1))
    else:
        import time

        table = [("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES")]
        for r in found:
            cmd = r["Command"] if ns.no_trunc or len(r["Command"]) <= 20 else r["Command"][:19] + "…"
            created = manage.parse_time(r["CreatedAt"])
            ago = manage.human_duration(time.time() - created) + " ago" if created else "?"
            table.append((r["Id"] if ns.no_trunc else r["Id"][:12], r["Image"], f'"{cmd}"', ago, r["Status"],
                          r["Names"]))
        print_table(table)
    return 0


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Columns as wide as their widest cell and three spaces apart, as docker's tabwriter
    prints them: nothing is cut, so no column runs into the next."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("   ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
