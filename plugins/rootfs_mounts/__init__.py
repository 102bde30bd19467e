"""Built-in rootfs plugin: turn ``root``, ``mounts``, ``linux.devices``,
``maskedPaths`` and ``readonlyPaths`` into init steps, and choose the root
switch (``pivot_root``, or ``chroot`` with ``--no-pivot``)."""

from __future__ import annotations

import os

from pycr.core import ConfigError, hookimpl

# runc's default devices: always present in a container's /dev
DEFAULT_DEVICES = [("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/tty", 5, 0),
                   ("/dev/urandom", 1, 9), ("/dev/random", 1, 8)]
DEFAULT_LINKS = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
                 ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]


@hookimpl
def pycr_rootfs_plan(config, bundle, plan):
    from pycr.core import steps

    linux = config.get("linux", {})
    prop = linux.get("rootfsPropagation")
    if prop:  # private, shared, slave, unbindable and (as runc accepts them) their r-forms
        if prop not in steps.PROPAGATION:
            raise ConfigError(f"linux.rootfsPropagation: unknown value {prop!r}")
        # As runc: the namespace's / gets it (recursively) before the rootfs is bound, so binds
        # share with the host when asked to -- but never unbindable, or the rootfs could not be
        # bound -- and the container's own / gets exactly the value asked for after the switch.
        base = prop.lstrip("r")
        if base != "unbindable":
            plan.root_propagation = steps.PROPAGATION["r" + base]
        plan.post_switch.append(steps.RootPropagation(steps.PROPAGATION[prop]))
    plan.pre_switch.append(steps.BindRootfs())
    roots = bind_roots(config)
    has_devpts = False
    for i, m in enumerate(config.get("mounts", []) or []):
        dest = m["destination"]
        if not dest.startswith("/"):
            raise ConfigError(f"mounts[{i}].destination: {dest!r} must be an absolute path")
        if m.get("type") == "cgroup":
            for sub in plan.cgroup.mounts(dest):
                plan.pre_switch.append(_mount_step(sub, bundle, f"mounts[{i}]"))
            if "ro" in (m.get("options") or []):  # the driver's tmpfs too, not only its binds
                plan.post_switch.append(steps.ReadonlyPath(dest))
            continue
        has_devpts |= m.get("type") == "devpts" and dest == "/dev/pts"
        plan.pre_switch.append(_mount_step(m, bundle, f"mounts[{i}]", roots))
    for path, major, minor in DEFAULT_DEVICES:
        plan.pre_switch.append(steps.Device(path, "c", major, minor, 0o666))
    for i, d in enumerate(linux.get("devices", []) or []):
        plan.pre_switch.append(device_step(d, f"linux.devices[{i}]"))
    links = list(DEFAULT_LINKS)
    if has_devpts:
        links.append(("pts/ptmx", "/dev/ptmx"))
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    plan.pre_switch += [steps.Symlink(target, path) for target, path in links]
    plan.post_switch += [steps.MaskPath(p) for p in linux.get("maskedPaths", []) or []]
    plan.post_switch += [steps.ReadonlyPath(p) for p in linux.get("readonlyPaths", []) or []]
    if config.get("root", {}).get("readonly"):
        plan.post_switch.append(steps.ReadonlyRoot())


def device_step(d, field):
    """A ``linux.devices`` entry as a Device step, its path resolved lexically
    before the /dev check (``/dev/../etc/x`` is /etc/x, refused)."""
    from pycr.core import steps

    path = d.get("path")
    path = os.path.normpath(path) if isinstance(path, str) and path.startswith("/") else ""
    if not path.startswith("/dev/"):
        raise ConfigError(f"{field}.path: {d.get('path')!r} is not under /dev")
    kind = d.get("type")
    if kind not in DEVICE_TYPES:
        raise ConfigError(f"{field}.type: {kind!r} is not one of c, b, u, p")
    numbers = {}
    for key in ("major", "minor"):
        value = d.get(key, 0 if kind == "p" else None)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 32:
            raise ConfigError(f"{field}.{key}: {value!r} is not a device number (0 to 2^32-1)")
        numbers[key] = value
    mode = d.get("fileMode", 0o666)
    if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o177777:
        raise ConfigError(f"{field}.fileMode: {mode!r} is not a file mode")
    owner = [d.get(k, 0) for k in ("uid", "gid")]
    for key, value in zip(("uid", "gid"), owner):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 32:
            raise ConfigError(f"{field}.{key}: {value!r} is not an id (0 to 2^32-1)")
    # engines (podman --privileged) send the file-type bits too: keep the permissions, as runc does
    return steps.Device(path, kind, numbers["major"], numbers["minor"], mode & 0o7777, *owner)


#: the node types of runtime-spec linux.devices: char, block, unbuffered char, FIFO
DEVICE_TYPES = ("c", "b", "u", "p")


def bind_roots(config) -> tuple[str, ...]:
    """The container's bind roots (annotation ``steps.BIND_ROOTS_ANNOTATION``), or ().

    Only a restriction can come of it, so it is trusted from any config."""
    from pycr.core import steps

    key = steps.BIND_ROOTS_ANNOTATION
    text = (config.get("annotations") or {}).get(key)
    if text is None:
        return ()
    import json

    try:
        roots = json.loads(text)
    except ValueError:
        roots = None
    if not isinstance(roots, list) or not all(isinstance(r, str) and r.startswith("/") for r in roots):
        raise ConfigError(f"annotations[{key!r}]: {text!r} is not a JSON list of absolute paths")
    return tuple(roots)


def _mount_step(m, bundle, field, roots=()):
    """``roots``: a bind whose source is written under one of them (every bind the API made)
    must still resolve under one when it is mounted (checked in the init, on the opened fd)."""
    from pycr.core import is_under, steps

    flags, propagation, data = steps.parse_mount_options(m.get("options", []))
    source = m.get("source")
    checked = ()
    if flags & steps.MS_BIND or m.get("type") == "bind":
        flags |= steps.MS_BIND
        if not source:
            raise ConfigError(f"{field}.source: a bind mount needs a source")
        if not source.startswith("/"):
            source = os.path.join(bundle, source)
        if any(is_under(p, r) for p in (source, os.path.normpath(source)) for r in roots):
            checked = roots  # no look-up here: whether a path outside the roots exists is none of the caller's
        elif not os.path.exists(source):
            raise ConfigError(f"{field}.source: {source!r} does not exist")
    return steps.Mount(m["destination"], m.get("type"), source, flags, propagation, data, checked)


@hookimpl
def pycr_rootfs_switch(config, no_pivot):
    from pycr.core import steps

    namespaces = {ns["type"] for ns in config.get("linux", {}).get("namespaces", []) or []}
    if no_pivot or "mount" not in namespaces:
        return steps.Chroot(move_mount="mount" in namespaces)
    return steps.PivotRoot()
