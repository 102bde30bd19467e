"""What an API caller may ask of a container: docker's defaults, never more, unless the operator said so.

The socket's promise (docs/api.md, "Security model") is containers with
docker's capability set and no privileged mode.  A create request that would
give more -- ``Privileged``, a ``CapAdd`` outside docker's default set (which
re-adds only what the caller dropped), the host's network namespace -- is
refused with one line naming the field, before anything is made.  ``pycr
serve --allow-privileged`` hands callers docker's full behaviour instead.
(``PidMode``, ``IpcMode``, ``UTSMode``, ``UsernsMode``, ``SecurityOpt``,
``Devices`` and ``Sysctls`` are refused by :mod:`.create_request` whatever
their value: pycr does not take them through the API.)
"""

from __future__ import annotations

from pycr.plugins.api.errors import ApiError

_HOW = "start pycr serve with --allow-privileged to allow it"


def check(ns: dict) -> None:
    """Refuse (400, as the API refuses other fields) what goes beyond docker's defaults in ``ns``,
    the ``pycr create`` options :func:`.create_request.parse` made of the request."""
    from pycr.plugins.api import layers

    if ns["privileged"]:
        raise ApiError(400, f"HostConfig.Privileged: true: gives the container the host's devices and every "
                            f"capability; {_HOW}")
    from pycr.core import CAPABILITIES

    default = {c.removeprefix("CAP_") for c in layers.DOCKER_CAPS}
    for cap in ns["cap_add"]:
        name = str(cap).strip().upper().removeprefix("CAP_")
        if name != "ALL" and "CAP_" + name not in CAPABILITIES:
            raise ApiError(400, f"HostConfig.CapAdd: {cap}: unknown capability")
        if name not in default:
            raise ApiError(400, f"HostConfig.CapAdd: {cap}: only capabilities of docker's default set may be "
                                f"added; {_HOW}")
    if ns["network"] == "host":
        raise ApiError(400, f"HostConfig.NetworkMode: host: gives the container the host's network; {_HOW}")
