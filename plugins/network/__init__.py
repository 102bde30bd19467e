"""The network layer: bridge, host, none and container: networks for managed containers.

Hook implementations only; everything else is imported when a container
actually has a network request (the ``io.pycr.network`` annotation), so a
plain ``pycr-oci create`` pays for nothing but this module.  See
docs/networking.md.
"""

from __future__ import annotations

from pycr.core import hookimpl

ANNOTATION = "io.pycr.network"  # the request: written by pycr_network_config, read at create and delete


@hookimpl
def pycr_network_config(config, request):
    from pycr.plugins.network import layer

    return layer.configure(config, request)


@hookimpl
def pycr_container_created(state):
    if ANNOTATION in (state.get("annotations") or {}):
        from pycr.plugins.network import layer

        layer.setup(state["id"], state["pid"], layer.request_of(state))


@hookimpl
def pycr_cleanup(state):
    if ANNOTATION in (state.get("annotations") or {}):
        from pycr.plugins.network import layer

        layer.teardown(state["id"], layer.request_of(state))


@hookimpl
def pycr_network_report(store_root, container_id):
    from pycr.plugins.network import layer

    return layer.report(store_root, container_id)
