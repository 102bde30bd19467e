"""Built-in plugin: apply ``linux.resources`` through the chosen cgroup driver.

As runc does, the device rules of config.json are followed by rules that
allow the default devices every container gets (``/dev/null`` ...) and the
nodes listed in ``linux.devices``: later rules win, so a container can
always use its own /dev.
"""

from pycr.core import hookimpl

DEFAULT_DEVICE_RULES = [
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    *({"allow": True, "type": "c", "major": ma, "minor": mi, "access": "rwm"}
      for ma, mi in ((1, 3), (1, 8), (1, 7), (5, 0), (1, 5), (1, 9), (5, 2), (10, 200))),
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},  # /dev/pts/*
]


@hookimpl
def pycr_resource_limits(config, cgroup, resources):
    if not resources:
        return
    if "devices" in resources:
        # a FIFO needs no device rule; an unbuffered char device ("u") is a char device to the cgroup
        listed = [{"allow": True, "type": "c" if d["type"] == "u" else d["type"], "major": d.get("major"),
                   "minor": d.get("minor"), "access": "rwm"}
                  for d in config.get("linux", {}).get("devices", []) or [] if d.get("type") in ("c", "b", "u")]
        resources = {**resources, "devices": [*resources["devices"], *DEFAULT_DEVICE_RULES, *listed]}
    cgroup.apply(resources)
