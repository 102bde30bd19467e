"""50 ``pycr run -d`` at once, then ps, stop and rm of all of them; one name raced for by many."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.helpers.manage import leftovers

pytestmark = pytest.mark.root
N = 50


def rss_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of ``pid`` in KiB."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                values[key] = int(rest.split()[0])
    return values["Rss"], values["Pss"]


def test_fifty_at_once(clean):
    p = clean
    t0 = time.monotonic()
    procs = [p.popen("run", "-d", "-q", "--name", f"c{i}", p.image, "sh", "-c", f"echo I am {i}; sleep 1000",
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(N)]
    results = [(pr.communicate(timeout=300), pr.returncode) for pr in procs]
    started = time.monotonic() - t0
    failed = [(rc, err) for (out, err), rc in results if rc != 0]
    assert not failed, failed[:3]
    ids = [out.strip() for (out, _), _ in results]
    p.seen.update(ids)
    assert len(set(ids)) == N and all(len(i) == 64 for i in ids)
    rows = p.ps()
    assert len(rows) == N
    assert {r["Names"] for r in rows} == {f"c{i}" for i in range(N)}
    assert {r["State"] for r in rows} == {"running"}
    for i in (0, N // 2, N - 1):
        assert p.logs(f"c{i}") == f"I am {i}\n"
    monitors = {p.inspect(f"c{i}")["State"]["MonitorPid"] for i in range(0, N, 10)}
    sizes = [rss_kb(m) for m in monitors]
    rss = max(s[0] for s in sizes)
    pss = max(s[1] for s in sizes)
    print(f"\n{N} containers started in {started:.1f}s; monitor RSS max {rss} KiB, PSS max {pss} KiB")
    assert rss < 20 * 1024, f"monitor RSS {rss} KiB"
    assert len(p.monitors()) == N
    t1 = time.monotonic()
    p("stop", "-t", "2", *[f"c{i}" for i in range(N)], check=0, timeout=300)
    stopped = time.monotonic() - t1
    assert {r["State"] for r in p.ps()} == {"exited"}
    assert {r["ExitCode"] for r in p.ps()} == {137}  # sh as pid 1 ignores SIGTERM: killed after 2 s
    t2 = time.monotonic()
    p("rm", *ids, check=0, timeout=300)
    print(f"stop of {N}: {stopped:.1f}s, rm of {N}: {time.monotonic() - t2:.1f}s")
    assert p.ps() == [] and leftovers(p) == []


def test_one_name_many_racers(clean):
    p = clean
    procs = [p.popen("run", "-d", "-q", "--name", "only-one", p.image, "sleep", "1000", stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True) for _ in range(8)]
    results = [(pr.communicate(timeout=120), pr.returncode) for pr in procs]
    winners = [out for (out, _), rc in results if rc == 0]
    losers = [err for (_, err), rc in results if rc != 0]
    assert len(winners) == 1, results
    assert all("already in use" in e and len(e.strip().splitlines()) == 1 for e in losers), losers
    assert [r["Names"] for r in p.ps()] == ["only-one"]
    assert len(os.listdir(os.path.join(p.store, "containers"))) == 1
