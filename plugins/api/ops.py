"""Blocking operations on containers and images, run in the server's worker processes.

Each takes and returns plain data (picklable) and turns the layers' errors
into ``("error", status, message)``, so a worker never has to pickle an
exception.  Starting a container forks its monitor: that is only safe from
a single-threaded process, which is why these run in a process pool and not
in the server's threads.
"""

from __future__ import annotations

import argparse
import contextlib
import os


def guarded(fn, *args):
    """``fn(*args)`` -> ("ok", result) or ("error", http status, one line)."""
    from pycr.core import PycrError
    from pycr.plugins.api.errors import ApiError, status_for

    try:
        return ("ok", fn(*args))
    except ApiError as e:
        return ("error", e.status, e.message)
    except PycrError as e:
        return ("error", status_for(e), str(e))
    except OSError as e:
        return ("error", 500, f"{e.strerror or e}{': ' + str(e.filename) if e.filename else ''}")


def create(opts, spec: dict) -> dict:
    """Make a container from a validated create request (see :mod:`.create_request`)."""
    from pycr.plugins.api import layers

    from pycr.core import ConfigError
    from pycr.plugins.api.errors import ApiError

    ns = argparse.Namespace(**spec["ns"])
    try:
        rec = layers.create_container(opts, ns)
    except ConfigError as e:
        if str(e).startswith(("--network", "-p", "--log-opt")):  # a bad request, not a missing image: 400, not
            raise ApiError(400, str(e)) from None   # the 404 on which docker clients pull and retry
        raise
    with rec.locked():
        rec.data["docker"] = spec["docker"]  # what only the API knows (labels, the request's Config)
    return {"Id": rec.id, "Warnings": []}


def start(ref: str) -> None:
    from pycr.plugins.api import layers

    rec = layers.manage.resolve(ref)
    st = layers.manage.status(rec)
    if st["running"]:
        return "not modified"
    layers.launch.start(rec)
    return None


def stop(ref: str, timeout: float) -> str | None:
    from pycr.plugins.api import layers

    rec = layers.manage.resolve(ref)
    if not layers.manage.status(rec)["running"]:
        return "not modified"
    layers.manage.stop(rec, timeout)
    return None


def restart(ref: str, timeout: float) -> None:
    from pycr.plugins.api import layers

    rec = layers.manage.resolve(ref)
    layers.manage.stop(rec, timeout)
    layers.launch.start(rec.reload())


def kill(ref: str, sig: str) -> None:
    from pycr.plugins.api import layers

    rec = layers.manage.resolve(ref)
    layers.manage.send_signal(rec, sig or "KILL")
    if str(sig).upper().removeprefix("SIG") in ("KILL", "9"):  # as docker: kill returns once it is dead
        layers.manage.wait_stopped(rec, 30)


def pause(ref: str) -> None:
    from pycr.plugins.api import layers

    layers.manage.pause(layers.manage.resolve(ref))


def unpause(ref: str) -> None:
    from pycr.plugins.api import layers

    layers.manage.unpause(layers.manage.resolve(ref))


def remove(ref: str, force: bool) -> None:
    from pycr.plugins.api import layers

    layers.manage.remove(layers.manage.resolve(ref), force=force)


def prune_containers(opts) -> dict:
    from pycr.plugins.api import layers

    before = {r.id for r in layers.records.all_records(layers.manage.store_root())}
    removed, errors = layers.prune.prune(opts)
    after = {r.id for r in layers.records.all_records(layers.manage.store_root())}
    return {"ContainersDeleted": sorted(before - after), "SpaceReclaimed": 0, "Errors": errors}


def tag(source: str, target: str) -> None:
    from pycr.plugins.api import layers

    store = layers.Store()
    name, img = layers.find_image(store, source)
    rec = store.refs().get(name or "", {})
    store.set_ref(str(layers.reference.parse(target)), img.digest, index=rec.get("index"), source=rec.get("source"))


def remove_image(text: str, force: bool) -> list[dict]:
    """Untag ``text`` (a name) or every name of the image ``text`` (an id); refuse while a container uses it."""
    from pycr.plugins.api import layers
    from pycr.plugins.api.errors import ApiError

    store = layers.Store()
    _, img = layers.find_image(store, text)
    users = [r for r in layers.records.all_records(store.root) if r.data.get("image_digest") == img.digest]
    try:
        name = str(layers.reference.parse(text))
    except Exception:
        name = None
    out = []
    with store.edit_refs() as refs:
        names = [name] if name in refs else [n for n, rec in refs.items() if rec["digest"] == img.digest]
        last = len([n for n, rec in refs.items() if rec["digest"] == img.digest]) == len(names)
        if users and last and not force:
            raise ApiError(409, f"conflict: unable to remove image {text}: container {users[0].short_id()} "
                                f"is using it")
        for n in names:
            del refs[n]
            out.append({"Untagged": n})
    if last:
        out.append({"Deleted": img.id})
    return out


def prune_images() -> dict:
    from pycr.plugins.api import layers

    removed, freed = layers.Store().gc()
    return {"ImagesDeleted": [{"Deleted": d} for d in removed], "SpaceReclaimed": freed}


def load(opts, path: str) -> str:
    from pycr.plugins.api import layers

    transport = layers.load_transport(path, "load: the request body")
    name, image = layers.transports.pull(opts, layers.Store(), f"{transport}:{path}")
    return name or image.digest


def save(opts, texts: list[str], path: str) -> None:
    from pycr.plugins.api import layers
    from pycr.plugins.api.errors import ApiError

    if len(texts) != 1:
        raise ApiError(400, "names: pycr saves one image per archive; give exactly one")
    store = layers.Store()
    name, image = layers.find_image(store, texts[0])
    src = layers.transports.source(opts, "docker-archive")
    short = layers.reference.short_name(name) if name else None
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    src.push(store, image, path, tags=[short] if short else [])
