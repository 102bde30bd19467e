"""The ``network`` plugin as pycr loads it: its hooks, verbs and requirements.

Everything else is imported when a container actually has a network request
(the ``io.pycr.network`` annotation), so a plain ``pycr-oci create`` pays
for this module and one dictionary lookup.
"""

from __future__ import annotations

from pycr.core import hookimpl
from pycr.plugins.network import ANNOTATION

# images: the store root holds the networks and leases; manage: the containers that
# `pycr network connect/disconnect` name are its records
requires = ("images", "manage")


@hookimpl
def pycr_add_commands(commands):
    commands.add("network", "pycr.plugins.network.verb_network", "manage networks: create, ls, inspect, rm, prune")
    commands.add("port", "pycr.plugins.network.verb_port", "list a running container's published ports")


@hookimpl
def pycr_network_config(config, request):
    from pycr.plugins.network import layer

    return layer.configure(config, request)


@hookimpl
def pycr_init_spawned(state):
    if ANNOTATION in (state.get("annotations") or {}):
        from pycr.plugins.network import layer

        req = layer.request_of(state)
        if req is not None:  # attach in a thread while the init prepares its rootfs
            layer.start_setup(state["id"], state["pid"], req)


@hookimpl
def pycr_container_created(state):
    if ANNOTATION in (state.get("annotations") or {}):
        from pycr.plugins.network import layer

        layer.finish_setup(state["id"])


@hookimpl
def pycr_cleanup(state):
    if ANNOTATION in (state.get("annotations") or {}):
        from pycr.plugins.network import layer

        layer.settle(state["id"])  # a create failing while its attach runs: let it end first
        req = layer.request_of(state)
        if req is not None:
            layer.teardown(state["id"], req)


@hookimpl
def pycr_network_report(store_root, container_id):
    from pycr.plugins.network import layer

    return layer.report(store_root, container_id)
