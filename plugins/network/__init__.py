"""The network layer: bridge, host, none and container: networks for managed containers.

Hook implementations only; everything else is imported when a container
actually has a network request (the ``io.pycr.network`` annotation), so a
plain ``pycr-oci create`` pays for nothing but this module.  See
docs/networking.md.
"""

from __future__ import annotations

from pycr.core import hookimpl

ANNOTATION = "io.pycr.network"  # the container's directory, holding the request (network.json)


@hookimpl
def pycr_network_config(config, request):
    from pycr.plugins.network import layer

    return layer.configure(config, request)


@hookimpl
def pycr_container_created(state):
    if ANNOTATION in (state.get("annotations") or {}):
        from pycr.plugins.network import layer

        req = layer.request_of(state)
        if req is not None:
            layer.setup(state["id"], state["pid"], req)


@hookimpl
def pycr_cleanup(state):
    if ANNOTATION in (state.get("annotations") or {}):
        from pycr.plugins.network import layer

        req = layer.request_of(state)
        if req is not None:
            layer.teardown(state["id"], req)


@hookimpl
def pycr_network_report(store_root, container_id):
    from pycr.plugins.network import layer

    return layer.report(store_root, container_id)
