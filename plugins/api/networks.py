"""``/networks``: list, inspect, create, remove, prune, connect, disconnect -- through the network
layer's functions (``pycr network``'s own), in docker's shapes."""

from __future__ import annotations

from aiohttp import web

from pycr.plugins.api import shapes
from pycr.plugins.api.errors import ApiError, bool_field, unsupported
from pycr.plugins.api.server import json_body, jsonr, log, query_filters, srv_of

FILTERS = ("name", "id", "driver", "type", "label")


def shape(st, net: dict) -> dict:
    """docker's network object from ``pycr network inspect``'s description."""
    from pycr.plugins.network.verb_network import describe

    d = describe(st, net)
    members = {cid: {"Name": m["Name"], "EndpointID": "", "MacAddress": m["MacAddress"],
                     "IPv4Address": m["IPv4Address"], "IPv6Address": ""} for cid, m in d["Containers"].items()}
    return {"Name": d["Name"], "Id": d["Id"], "Created": "0001-01-01T00:00:00Z", "Scope": "local",
            "Driver": "bridge", "EnableIPv6": False, "Internal": False, "Attachable": False, "Ingress": False,
            "IPAM": {"Driver": "default", "Options": None, "Config": d["IPAM"]["Config"]},
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": members,
            "Options": d["Options"],
            "Labels": d["Labels"]}


def find(st, ref: str) -> dict:
    """A network by name, full id or unique id prefix; 404 otherwise."""
    net = st.network(ref)
    if net is None:
        hits = [n for n in st.networks() if ref and n["id"].startswith(ref)]
        if len(hits) > 1:
            raise ApiError(409, f"network {ref!r} is ambiguous: {len(hits)} networks have ids starting with it")
        net = hits[0] if hits else None
    if net is None:
        raise ApiError(404, f"network {ref!r} does not exist")
    return net


def _matches(net: dict, filters: dict) -> bool:
    for key, wanted in filters.items():  # lists of strings (query_filters reads docker's both shapes)
        if key == "label":
            if not shapes.labels_match(net.get("labels") or {}, wanted):
                return False
            continue
        value = {"name": net["name"], "id": net["id"], "driver": "bridge",
                 "type": "builtin" if net["builtin"] else "custom"}[key]
        if key in ("name", "id"):
            ok = any(w in value if key == "name" else value.startswith(w) for w in wanted)
        else:
            ok = value in wanted
        if not ok:
            return False
    return True


def _list(filters: dict) -> list[dict]:
    from pycr.plugins.api import layers

    st = layers.networks()
    return [shape(st, n) for n in st.networks() if _matches(n, filters)]


def _inspect(ref: str) -> dict:
    from pycr.plugins.api import layers

    st = layers.networks()
    return shape(st, find(st, ref))


def _create(name: str, subnet: str | None, driver: str, labels: dict, gateway: str | None = None,
            options: dict | None = None) -> dict:
    from pycr.plugins.api import layers
    from pycr.plugins.network.verb_network import create

    return {"Id": create(layers.networks(), name, subnet, driver, labels, gateway=gateway, options=options)["id"],
            "Warning": ""}


def _remove(ref: str) -> None:
    from pycr.plugins.api import layers
    from pycr.plugins.network.verb_network import remove

    st = layers.networks()
    net = find(st, ref)
    _, errors, notes = remove(st, [net["name"]])
    if errors:
        raise ApiError(403 if "built in" in errors[0] else 409, errors[0])
    for note in notes:  # a link left in place is no error: docker's 204 has no body, so the log says it
        log.warning("network delete: %s", note)


def _prune() -> dict:
    from pycr.plugins.api import layers
    from pycr.plugins.network.verb_network import remove

    removed, errors, notes = remove(layers.networks(), None)
    if errors:
        raise ApiError(500, errors[0])
    for note in notes:
        log.warning("network prune: %s", note)
    return {"NetworksDeleted": removed}


async def list_(request):
    filters = query_filters(request)
    for key in filters:
        if key not in FILTERS:
            raise ApiError(400, f"filters: invalid filter {key!r} (pycr supports {', '.join(FILTERS)})")
    return jsonr(await srv_of(request).read(_list, filters))


async def inspect(request):
    return jsonr(await srv_of(request).read(_inspect, request.match_info["id"]))


async def create(request):
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("Name"), str) or not body["Name"]:
        raise ApiError(400, "Name: the network's name is missing")
    labels = body.get("Labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise ApiError(400, "Labels: expected an object of strings")
    flags = {key: bool_field(body, key) for key in ("Internal", "EnableIPv6", "Ingress", "ConfigOnly", "Attachable",
                                                     "CheckDuplicate")}
    for key in ("Internal", "EnableIPv6", "Ingress", "ConfigOnly"):
        if flags[key]:
            raise unsupported(key)
    options = body.get("Options") or {}
    if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
        raise ApiError(400, "Options: expected an object of strings")
    ipam = body.get("IPAM") or {}
    if not isinstance(ipam, dict) or (ipam.get("Driver") or "default") != "default" or ipam.get("Options"):
        raise unsupported("IPAM", "only the default IPAM driver without options")
    configs = ipam.get("Config") or []
    if not isinstance(configs, list) or len(configs) > 1 or any(
            not isinstance(c, dict) or set(c) - {"Subnet", "Gateway"}
            or not all(isinstance(c.get(k) or "", str) for k in ("Subnet", "Gateway")) for c in configs):
        raise unsupported("IPAM.Config", "one {Subnet, Gateway} at most")
    subnet = (configs[0].get("Subnet") or None) if configs else None
    gateway = (configs[0].get("Gateway") or None) if configs else None
    driver = body.get("Driver") or "bridge"
    if not isinstance(driver, str):
        raise ApiError(400, "Driver: expected a string")
    out = await srv_of(request).change(_create, body["Name"], subnet, driver, labels, gateway, options)
    return jsonr(out, status=201)


async def delete(request):
    await srv_of(request).change(_remove, request.match_info["id"])
    return web.Response(status=204)


async def prune(request):
    if query_filters(request):
        raise ApiError(400, "filters: pycr's network prune takes none")
    return jsonr(await srv_of(request).change(_prune))


def _membership(action: str, ref: str, container: str, aliases: list[str]) -> None:
    from pycr.plugins.api import layers
    from pycr.plugins.network.verb_network import change_membership

    change_membership(action, find(layers.networks(), ref)["name"], container, aliases)


async def connect(request):
    """docker's ``POST /networks/{id}/connect`` and ``/disconnect``: ``{"Container", "EndpointConfig":
    {"Aliases"}}`` / ``{"Container", "Force"}``; the same code as ``pycr network connect|disconnect``."""
    action = request.path.rsplit("/", 1)[1]
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("Container"), str) or not body["Container"]:
        raise ApiError(400, "Container: the container's name or id is missing")
    endpoint = body.get("EndpointConfig") or {}
    if not isinstance(endpoint, dict):
        raise ApiError(400, "EndpointConfig: expected an object")
    aliases = endpoint.get("Aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise ApiError(400, "EndpointConfig.Aliases: expected a list of strings")
    for key in ("IPAMConfig", "Links", "MacAddress", "DriverOpts"):
        if endpoint.get(key) not in (None, {}, [], ""):
            raise unsupported(f"EndpointConfig.{key}")
    await srv_of(request).change(_membership, action, request.match_info["id"], body["Container"], aliases)
    return web.Response(status=200)


def routes(r) -> None:
    r.add("GET", "/networks", list_)
    r.add("GET", "/networks/{id}", inspect)
    r.add("POST", "/networks/create", create)
    r.add("DELETE", "/networks/{id}", delete)
    r.add("POST", "/networks/prune", prune)
    r.add("POST", "/networks/{id}/connect", connect)
    r.add("POST", "/networks/{id}/disconnect", connect)
