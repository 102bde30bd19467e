"""Docker's container-create body -> ``pycr create`` options: what maps, what is refused and how."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("aiohttp")

from pycr.plugins.api.create_request import parse  # noqa: E402
from pycr.plugins.api.errors import ApiError  # noqa: E402

# What the docker 20.10 CLI sends for `docker run -d IMAGE` (empty values everywhere)
CLI_DEFAULTS = {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "Tty": False, "OpenStdin": False,
                "Env": [], "Cmd": None, "Image": "busybox", "Volumes": {}, "WorkingDir": "", "Entrypoint": None,
                "OnBuild": None, "Labels": {},
                "HostConfig": {"Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
                               "NetworkMode": "default", "PortBindings": {}, "RestartPolicy": {"Name": "no",
                               "MaximumRetryCount": 0}, "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None,
                               "CapAdd": None, "CapDrop": None, "CgroupnsMode": "", "Dns": [], "DnsOptions": [],
                               "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None, "IpcMode": "", "Cgroup": "",
                               "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False,
                               "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None,
                               "UTSMode": "", "UsernsMode": "", "ShmSize": 0, "ConsoleSize": [0, 0],
                               "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "",
                               "BlkioWeight": 0, "CpuPeriod": 0, "CpuQuota": 0, "CpusetCpus": "", "Devices": [],
                               "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": None,
                               "OomKillDisable": False, "PidsLimit": None, "Ulimits": None, "MaskedPaths": None,
                               "ReadonlyPaths": None}}


def body(**host):
    import copy

    b = copy.deepcopy(CLI_DEFAULTS)
    b["HostConfig"].update(host)
    return b


def test_the_cli_defaults_are_accepted():
    spec = parse(body(), None, [])
    ns = spec["ns"]
    assert ns["image"] == "busybox" and ns["command"] == [] and ns["restart"] == "no" and ns["volume"] == []
    assert ns["memory"] is None and ns["cpus"] is None and ns["pids_limit"] is None and ns["name"] is None


def test_supported_fields_map_onto_pycr_create():
    b = body(Memory=64 << 20, NanoCpus=1_500_000_000, PidsLimit=20, ReadonlyRootfs=True, AutoRemove=False,
             RestartPolicy={"Name": "on-failure", "MaximumRetryCount": 3}, NetworkMode="none")
    b.update(Env=["A=1"], Labels={"k": "v"}, Entrypoint=["/bin/sh", "-c"], Cmd=["echo hi"], WorkingDir="/tmp",
             User="1000:1000", Hostname="h", Tty=True, OpenStdin=True)
    spec = parse(b, "/web", [])
    ns, d = spec["ns"], spec["docker"]
    assert ns["name"] == "web" and ns["memory"] == str(64 << 20) and ns["cpus"] == "1.5" and ns["pids_limit"] == 20
    assert ns["restart"] == "on-failure:3" and ns["read_only"] and ns["tty"] and ns["interactive"]
    assert ns["entrypoint"] == "/bin/sh" and ns["command"] == ["-c", "echo hi"]
    assert (ns["env"], ns["workdir"], ns["user"], ns["hostname"]) == (["A=1"], "/tmp", "1000:1000", "h")
    assert d["Labels"] == {"k": "v"} and d["NetworkMode"] == "none"
    assert parse(body(CpuQuota=50000, CpuPeriod=100000), None, [])["ns"]["cpus"] == "0.5"
    assert parse(body(), None, [])["ns"]["log_opt"] == []
    log = {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
    assert parse(body(LogConfig=log), None, [])["ns"]["log_opt"] == ["max-size=10m", "max-file=3"]
    log = {"Config": {"max-size": "1m", "max-file": "2", "compress": "true", "labels": "k=1", "env-regex": "^A",
                      "tag": "{{.Name}}"}}
    ns = parse({**body(LogConfig=log), "Labels": {"k=1": "v"}}, None, [])["ns"]
    assert ns["log_opt"] == ["max-size=1m", "max-file=2", "compress=true", "labels=k=1", "env-regex=^A",
                             "tag={{.Name}}"]
    assert ns["label"] == {"k=1": "v"}  # as it is: a key may hold "="


def test_capabilities_and_tmpfs():
    ns = parse(body(CapAdd=["NET_ADMIN"], CapDrop=["ALL"], Tmpfs={"/run": "size=1m", "/t": ""}), None, [])["ns"]
    assert (ns["cap_add"], ns["cap_drop"], ns["tmpfs"]) == (["NET_ADMIN"], ["ALL"], ["/run:size=1m", "/t"])
    with pytest.raises(ApiError, match="HostConfig.Tmpfs"):
        parse(body(Tmpfs=["/t"]), None, [])


def test_security_options_go_to_the_management_layer():
    ns = parse(body(Privileged=True, Init=True, ShmSize=1 << 20,
                    Ulimits=[{"Name": "nofile", "Soft": 10, "Hard": 20}]), None, [])["ns"]
    assert ns["privileged"] and ns["init"] and ns["shm_size"] == str(1 << 20) and ns["ulimit"] == ["nofile=10:20"]
    with pytest.raises(ApiError, match="HostConfig.Ulimits"):
        parse(body(Ulimits=[{"Name": "nofile"}]), None, [])


def test_auto_remove_is_the_servers_job():
    spec = parse(body(AutoRemove=True), None, [])
    assert spec["ns"]["rm"] is False and spec["docker"]["AutoRemove"] is True
    with pytest.raises(ApiError, match="AutoRemove and HostConfig.RestartPolicy conflict"):
        parse(body(AutoRemove=True, RestartPolicy={"Name": "always"}), None, [])


@pytest.mark.parametrize("field,value", [("PortBindings", {"80/tcp": [{"HostPort": "1:2"}]}),
                                         ("PortBindings", ["80"]), ("PortBindings", {"80/tcp": [{"HostPort": 8080}]}),
                                         ("Devices", [{"x": 1}]), ("NetworkMode", 7),
                                         ("SecurityOpt", ["seccomp=unconfined"]), ("PidMode", "host"),
                                         ("LogConfig", {"Type": "syslog"}),
                                         ("LogConfig", {"Config": {"max-file": "2"}}),
                                         ("LogConfig", {"Config": {"mode": "non-blocking"}}),
                                         ("LogConfig", {"Config": {"labels-regex": "("}}),
                                         ("LogConfig", {"Config": {"compress": "true"}})])
def test_unsupported_fields_are_named(field, value):
    with pytest.raises(ApiError) as e:
        parse(body(**{field: value}), None, [])
    assert e.value.status == 400 and e.value.message.startswith(f"HostConfig.{field}")


@pytest.mark.parametrize("change,starts", [({"Image": ""}, "Image:"), ({"AttachStdin": True}, "AttachStdin:"), ({"Env": ["X"]}, "Env:"),
                                           ({"Cmd": [1]}, "Cmd:"), ({"Labels": {"a": 1}}, "Labels:"),
                                           ({"WorkingDir": "rel"}, "WorkingDir:"), ({"Healthcheck": {"Test": ["x"]}},
                                                                                      "Healthcheck:")])
def test_bad_values_are_named(change, starts):
    b = body()
    b.update(change)
    with pytest.raises(ApiError) as e:
        parse(b, None, [])
    assert e.value.status == 400 and e.value.message.startswith(starts)


def test_binds_only_from_allowed_roots(tmp_path):
    allowed = tmp_path / "allowed"
    (allowed / "data").mkdir(parents=True)
    (allowed / "escape").symlink_to("/etc")
    spec = parse(body(Binds=[f"{allowed}/data:/data:ro"]), None, [str(allowed)])
    assert spec["ns"]["volume"] == [f"{allowed}/data:/data:ro"]
    # the roots travel with the container: the runtime checks them again at every mount
    assert spec["ns"]["annotations"] == {"io.pycr.bind-roots": json.dumps([str(allowed)])}
    assert parse(body(), None, [str(allowed)])["ns"]["annotations"] == {}
    for bad in (f"{allowed}/../x:/x", f"{allowed}/escape:/x", "/etc:/x", f"{allowed}x:/x"):
        with pytest.raises(ApiError) as e:
            parse(body(Binds=[bad]), None, [str(allowed)])
        assert e.value.status == 403 and "HostConfig.Binds" in e.value.message
    with pytest.raises(ApiError, match="named volumes"):
        parse(body(Binds=["vol:/x"]), None, [str(allowed)])
    with pytest.raises(ApiError, match="--bind-root"):
        parse(body(Binds=["/etc:/x"]), None, [])


@pytest.mark.parametrize("host,network,publish,publish_all", [
    ({}, None, [], False),
    ({"NetworkMode": "bridge", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}},
     "bridge", ["8080:80/tcp"], False),
    ({"NetworkMode": "app", "PortBindings": {"53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
                                              "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "81"}, {}]}},
     "app", ["127.0.0.1::53/udp", "127.0.0.1:81:80/tcp", "80/tcp"], False),
    ({"NetworkMode": "container:web", "PublishAllPorts": True}, "container:web", [], True),
    ({"NetworkMode": "host"}, "host", [], False), ({"NetworkMode": "none"}, "none", [], False)])
def test_network_fields_map_to_create_options(host, network, publish, publish_all):
    got = parse(body(**host), None, [])
    assert (got["ns"]["network"], got["ns"]["publish"], got["ns"]["publish_all"]) == (network, publish, publish_all)
    assert got["docker"]["NetworkMode"] == (network or "default")


def test_endpoint_aliases_and_refused_endpoint_fields():
    b = body(NetworkMode="app")
    b["NetworkingConfig"] = {"EndpointsConfig": {"app": {"Aliases": ["web", "www"], "IPAMConfig": None}}}
    assert parse(b, None, [])["ns"]["network_alias"] == ["web", "www"]
    for endpoints, field in (({"other": {}}, "NetworkingConfig.EndpointsConfig['other']"),
                             ({"app": {"IPAMConfig": {"IPv4Address": "10.0.0.9"}}},
                              "NetworkingConfig.EndpointsConfig['app'].IPAMConfig"),
                             ({"app": {"Aliases": "web"}}, None)):
        b["NetworkingConfig"] = {"EndpointsConfig": endpoints}
        if field is None:
            assert parse(b, None, [])["ns"]["network_alias"] == ["web"]
            continue
        with pytest.raises(ApiError) as e:
            parse(b, None, [])
        assert e.value.status == 400 and e.value.message.startswith(field)
