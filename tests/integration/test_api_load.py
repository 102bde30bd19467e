"""20 docker-py clients at once creating, starting, inspecting and removing containers through ``pycr serve``
for a bounded time: no error, no leaked container, consistent state, the server's memory flat.

``PYCR_API_LOAD_SECONDS`` sets the duration (default 40; the issue's minute on an idle machine)."""

from __future__ import annotations

import os
import threading
import time

import pytest

pytestmark = pytest.mark.root
docker = pytest.importorskip("docker")
CLIENTS = 20


def test_twenty_clients_at_once(api, clean):
    seconds = float(os.environ.get("PYCR_API_LOAD_SECONDS", "40"))
    errors, done = [], []
    rss = {}
    start = time.monotonic()
    deadline = start + seconds

    def client(n: int) -> None:
        c = docker.DockerClient(base_url=api.env["DOCKER_HOST"], version="1.41", timeout=300)
        try:
            i = 0
            while time.monotonic() < deadline:
                name = f"load-{n}-{i}"
                try:
                    ctr = c.containers.create(api.manage.image, ["sleep", "300"], name=name, labels={"load": "1"})
                    ctr.start()
                    ctr.reload()
                    assert ctr.status == "running" and ctr.name == name, (ctr.status, ctr.name)
                    assert c.api.inspect_container(name)["State"]["Pid"] > 0
                    ctr.remove(force=True)
                    with pytest.raises(docker.errors.NotFound):
                        c.containers.get(name)
                    done.append(name)
                except Exception as e:  # noqa: BLE001  (every failure is collected and reported)
                    errors.append(f"{name}: {type(e).__name__}: {e}")
                i += 1
        finally:
            c.close()

    def sample_rss():
        while time.monotonic() < deadline:
            rss[round(time.monotonic() - start)] = api.rss_kib()
            time.sleep(1)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    sampler = threading.Thread(target=sample_rss)
    for t in threads + [sampler]:
        t.start()
    for t in threads + [sampler]:
        t.join(600)
    assert not errors, errors[:5]
    assert len(done) >= CLIENTS  # every client got through at least one round
    assert api.manage.ps() == []  # no leaked container, and pycr sees what the API did
    samples = [v for k, v in sorted(rss.items())]
    warm = samples[len(samples) // 4]  # after the worker pool and caches have filled
    print(f"\n{len(done)} create/start/inspect/remove rounds by {CLIENTS} clients in {seconds:.0f} s; "
          f"server RSS {samples[0]} KiB at start, {warm} KiB warm, {samples[-1]} KiB at the end, max {max(samples)}")
    assert samples[-1] - warm < 20 * 1024, samples
