"""Docker's event stream, from watching the store: containers made or changed by the API *or* the CLI.

A watcher samples every container's true status (the management layer's
``status``) twice a second and turns differences into docker events
(create, start, die, pause, unpause, destroy); image events are published by
the endpoints that change images.  It also carries out docker's
``AutoRemove``: the server, like docker's daemon, removes such a container
once it has exited, after noting its exit code for ``wait?condition=removed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

log = logging.getLogger("pycr.api")


def _entry(rec) -> dict:
    from pycr.plugins.api import layers

    st = layers.manage.status(rec)
    return {"status": st["status"], "exit_code": st["exit_code"], "name": rec.name,
            "image": rec.data.get("image", ""), "finished": rec.state.get("finished_at"),
            "started": rec.state.get("started_at"),
            "auto_remove": bool((rec.data.get("docker") or {}).get("AutoRemove")),
            "labels": (rec.data.get("docker") or {}).get("Labels") or {}}


def _sample() -> dict:
    from pycr.plugins.api import layers

    out = {}
    for rec in layers.records.all_records(layers.manage.store_root()):
        with contextlib.suppress(Exception):
            out[rec.id] = _entry(rec)
    return out


class Events:
    """Subscribers get every event as a dict; ``exit_codes`` keeps the last code of removed containers."""

    def __init__(self, remove):
        self.subscribers: set[asyncio.Queue] = set()
        self.exit_codes: dict[str, int | None] = {}
        self.seen: dict[str, dict] = {}
        self.history: list[dict] = []  # recent events, for ?since=
        self._remove = remove  # coroutine fn(container id) for AutoRemove
        self._removing: set[str] = set()
        self.changed = asyncio.Condition()
        self._observed: dict[str, float] = {}  # cid -> when observe() last saw it (monotonic)

    def publish(self, kind: str, action: str, actor_id: str, attrs: dict) -> None:
        now = time.time_ns()
        ev = {"status": action, "id": actor_id, "from": attrs.get("image", ""), "Type": kind, "Action": action,
              "Actor": {"ID": actor_id, "Attributes": attrs}, "scope": "local", "time": now // 10**9,
              "timeNano": now}
        if kind != "container":
            del ev["status"], ev["id"], ev["from"]
        self.history = self.history[-999:] + [ev]
        for q in list(self.subscribers):
            if q.qsize() < 10000:  # a client that stopped reading loses events, not the server's memory
                q.put_nowait(ev)

    async def watch(self, interval: float = 0.5) -> None:
        loop = asyncio.get_running_loop()
        first = True
        while True:
            started = time.monotonic()
            try:
                now = await loop.run_in_executor(None, _sample)
            except Exception:  # the store is being changed under us: try again
                log.exception("event watcher")
                await asyncio.sleep(interval)
                continue
            try:
                self._take_sample(now, started, publish=not first)
            except Exception:  # never let one odd record end the stream for everyone
                log.exception("event watcher")
            first = False
            for cid, s in now.items():
                if s["auto_remove"] and s["status"] in ("exited", "dead"):
                    self.auto_remove(cid, s["exit_code"])
            async with self.changed:
                self.changed.notify_all()
            await asyncio.sleep(interval)

    def auto_remove(self, cid: str, exit_code: int | None) -> None:
        """Remove an exited AutoRemove container (once, whoever notices first: the watcher or a ``wait``)."""
        if cid in self._removing:
            return
        self.exit_codes[cid] = exit_code
        self._removing.add(cid)
        asyncio.ensure_future(self._auto_remove(cid))

    async def _auto_remove(self, cid: str) -> None:
        try:
            await self._remove(cid)
        finally:
            self._removing.discard(cid)

    def observe(self, cid: str, entry: dict) -> None:
        """Publish what changed in one container now (``entry`` from :func:`_entry`, read in a worker
        thread), without waiting for the next sample: the API's own create, start and exit of a
        short-lived container (``docker run --rm true``) can all fall between two samples."""
        self._diff_one(cid, entry)
        self.seen = {**self.seen, cid: entry}
        self._observed[cid] = time.monotonic()

    def _take_sample(self, now: dict, started: float, publish: bool = True) -> None:
        """Publish what changed since the last sample (``now``, begun at ``started``) and remember it.
        What observe() saw after the sample began is newer than the sample: it is kept, not taken
        for gone."""
        fresh = {cid: e for cid, e in self.seen.items() if self._observed.get(cid, 0) > started}
        merged = {**fresh, **now}
        try:
            if publish:
                self._diff(merged)
        finally:  # one odd record must not make every later sample report the same changes again
            self.seen = merged
            self._observed = {cid: t for cid, t in self._observed.items() if t > started}

    def _diff(self, now: dict) -> None:
        """Events for what changed since the last sample; a short-lived container still gets each of its steps."""
        for cid, s in now.items():
            self._diff_one(cid, s)
        self._gone(now)

    def _diff_one(self, cid: str, s: dict) -> None:
        old = self.seen.get(cid)
        attrs = {"image": s["image"], "name": s["name"], **s["labels"]}
        if old is None:
            self.publish("container", "create", cid, attrs)
            old = {"status": "created", "finished": None, "started": None}
        if s["started"] and s["started"] != old["started"]:
            self.publish("container", "start", cid, attrs)
        if s["finished"] and s["finished"] != old["finished"] and s["status"] in ("exited", "dead"):
            self.publish("container", "die", cid, {**attrs, "exitCode": str(s["exit_code"])})
        if old["status"] != "paused" and s["status"] == "paused":
            self.publish("container", "pause", cid, attrs)
        if old["status"] == "paused" and s["status"] == "running":
            self.publish("container", "unpause", cid, attrs)

    def _gone(self, now: dict) -> None:
        for cid, old in self.seen.items():
            if cid not in now:
                attrs = {"image": old["image"], "name": old["name"], **old["labels"]}
                ran = cid in self.exit_codes  # an AutoRemove container whose exit we took: it did run
                if ran and not old["started"]:  # started, ran and exited between two samples
                    self.publish("container", "start", cid, attrs)
                if old["status"] in ("running", "paused", "exiting", "restarting") or (
                        ran and old["status"] not in ("exited", "dead")):  # removed before its exit showed
                    code = self.exit_codes.get(cid)
                    self.publish("container", "die", cid, attrs if code is None else {**attrs, "exitCode": str(code)})
                self.publish("container", "destroy", cid, attrs)

    async def wait_change(self, timeout: float) -> None:
        """Until the next sample (or ``timeout``)."""
        with contextlib.suppress(asyncio.TimeoutError):
            async with self.changed:
                await asyncio.wait_for(self.changed.wait(), timeout)
