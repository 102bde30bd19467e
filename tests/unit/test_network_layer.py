"""The network layer's logic without the kernel: IPAM under real process concurrency,
-p parsing, resolv.conf filtering, the nftables rendering, and its hooks."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from pycr.core import ConfigError
from pycr.plugins.network import etcfiles, nft, ports
from pycr.plugins.network.state import APPLIED, NetState, proc_start


def _lease_one(root: str, n: int, barrier, out) -> None:
    st = NetState(root)
    barrier.wait()
    with st.locked():
        net = st.network("bridge")
        ip = st.allocate(net)
        st.save_lease({"id": f"c{n:02d}", "name": f"c{n}", "network": "bridge", "ip": ip,
                       "pid": os.getpid(), "pid_start": proc_start(os.getpid()), "driver": "bridge"})
    out.put(ip)


def test_fifty_processes_at_once_get_fifty_distinct_addresses(tmp_path):
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(50), ctx.Queue()
    procs = [ctx.Process(target=_lease_one, args=(str(tmp_path), n, barrier, out)) for n in range(50)]
    for p in procs:
        p.start()
    ips = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join()
    assert len(set(ips)) == 50 and "10.88.0.1" not in ips
    assert sorted(x["ip"] for x in NetState(str(tmp_path)).leases()) == sorted(ips)


def test_pool_exhaustion_reuse_order_and_reaping(tmp_path):
    st = NetState(str(tmp_path))
    net = st.define("tiny", "10.5.0.0/29")  # .1 gateway, .2-.6 for containers
    me = {"pid": os.getpid(), "pid_start": proc_start(os.getpid()), "network": "tiny", "driver": "bridge"}
    for i in range(5):
        st.save_lease({**me, "id": f"c{i}", "name": f"c{i}", "ip": st.allocate(net)})
    with pytest.raises(ConfigError, match=r"network 'tiny': address pool 10.5.0.0/29 is exhausted"):
        st.allocate(net)
    st.drop_lease("c1")
    assert st.allocate(net) == "10.5.0.3"  # the only one free
    st.save_lease({**me, "id": "dead", "name": "dead", "ip": "10.5.0.3", "pid": 999999999, "pid_start": 1})
    assert [x["id"] for x in st.reap()] == ["dead"] and st.lease("dead") is None


def test_reaping_removes_the_temp_files_of_dead_writers(tmp_path):
    """A writer killed between its write and its rename (kill -9 of pycr mid-setup) leaves
    ``NAME.tmp-PID``: the next change removes it; a live writer's file stays."""
    import subprocess
    import sys

    st = NetState(str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its pid is a dead writer's
    dead = [tmp_path / sub / f"x.json.tmp-{child.pid}" for sub in ("leases", "networks", "parked")]
    live = tmp_path / "leases" / f"y.json.tmp-{os.getpid()}"
    other = tmp_path / "leases" / "notes.tmp-abc"  # not ours: no pid
    for f in (*dead, live, other):
        f.write_text("{")
    with st.locked():
        st.reap()
    assert not any(f.exists() for f in dead)
    assert live.exists() and other.exists()
    assert st.leases() == []  # the partial files were never read as leases


def test_a_name_wins_over_an_id_prefix_it_spells(tmp_path):
    """``container:db`` with a container named db and another whose id starts with db (CI met
    this): the name wins, as in docker; a prefix is used only when nothing is named exactly."""
    st = NetState(str(tmp_path))
    for cid, name in (("db" + "1" * 62, "api"), ("c" * 64, "db"), ("dbe" + "2" * 61, "web")):
        st.save_lease({"id": cid, "name": name, "network": None})
    assert [x["name"] for x in st.find_leases("db")] == ["db"]
    assert [x["name"] for x in st.find_leases("c" * 64)] == ["db"]
    assert [x["name"] for x in st.find_leases("db1")] == ["api"]
    assert sorted(x["name"] for x in st.find_leases("d")) == ["api", "web"]  # ambiguous: the caller says so
    assert st.find_leases("") == [] and st.find_leases("nosuch") == []


def test_network_definitions(tmp_path):
    st = NetState(str(tmp_path))
    a = st.define("a", None)
    assert a["subnet"] == "10.89.0.0/24" and a["gateway"] == "10.89.0.1" and len(a["bridge"]) <= 15
    assert st.define("b", None)["subnet"] == "10.89.1.0/24"
    for name, subnet, problem in (("a", None, "already in use"), ("host", None, "already in use"),
                                  ("../x", None, "use letters"), ("c", "10.88.5.0/24", "overlaps network 'bridge'"),
                                  ("c", "10.1.0.0/31", "/30 or larger"), ("c", "10.1.0.1/24", "host bits")):
        with pytest.raises(ConfigError, match=problem):
            st.define(name, subnet)


@pytest.mark.parametrize("spec,want", [
    ("80", ("", 0, 80, "tcp")), ("8080:80", ("", 8080, 80, "tcp")), ("53:53/udp", ("", 53, 53, "udp")),
    ("127.0.0.1:8080:80", ("127.0.0.1", 8080, 80, "tcp")), ("127.0.0.1::80", ("127.0.0.1", 0, 80, "tcp")),
])
def test_publish_parsing(spec, want):
    p = ports.parse(spec)
    assert (p["host_ip"], p["host_port"], p["container_port"], p["proto"]) == want


@pytest.mark.parametrize("spec", ["", "x", "0:80", "80:0", "1:2:3:4", "::1:80:80", "80/icmp", "65536:80"])
def test_malformed_publish(spec):
    with pytest.raises(ConfigError, match=r"^-p "):
        ports.parse(spec)


def test_exposed_ports_and_clashes():
    got = ports.exposed({"config": {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}})
    assert [(p["container_port"], p["proto"], p["host_port"]) for p in got] == [(53, "udp", 0), (80, "tcp", 0)]
    a, b = ports.parse("8080:80"), ports.parse("127.0.0.1:8080:81")
    assert ports.clash(a, b) and not ports.clash(a, ports.parse("8080:80/udp"))
    assert not ports.clash(b, ports.parse("127.0.0.2:8080:80"))


@pytest.mark.parametrize("key", ["127.0.0.1:9998:80/tcp", "0.0.0.0:5353:5353/udp", "5353:5353/udp", ":80",
                                 "80/sctp", "0/tcp", "65536", "80-90/tcp", "80/tcp/x", " 80", "80/"])
def test_exposed_ports_of_an_image_are_container_ports_only(key):
    """A hostile image must not choose host addresses or ports for ``-P``: one line, nothing kept."""
    with pytest.raises(ConfigError) as e:
        ports.exposed({"config": {"ExposedPorts": {"80/tcp": {}, key: {}}}})
    assert str(e.value) == (f"-P: the image's config.ExposedPorts key {key!r} is not PORT[/tcp|udp] "
                            f"(a port from 1 to 65535); nothing was published")


def test_a_random_pick_skips_ports_other_containers_publish(monkeypatch):
    """Published ports are DNAT rules the kernel does not know: its bind(0) may offer one of them."""
    offers = iter([8080, 8080, 8081])
    monkeypatch.setattr(ports, "_bind", lambda p: p["host_port"] or next(offers))
    taken = [ports.parse("8080:80"), ports.parse("127.0.0.1:8081:80/udp")]
    got = ports.claim(ports.parse(":80"), taken)
    assert got["host_port"] == 8081 and got["random"]
    # the pick a created container kept is re-picked only when another container published it since
    assert ports.claim(got, taken)["host_port"] == 8081
    offers = iter([9000])
    assert ports.claim({**got, "host_port": 8080}, taken)["host_port"] == 9000
    # a port the user gave is never changed: it is checked, not re-picked
    assert ports.claim(ports.parse("8080:80"), taken)["host_port"] == 8080


def test_a_random_pick_that_always_clashes_ends_in_one_line(monkeypatch):
    monkeypatch.setattr(ports, "_bind", lambda p: 8080)
    with pytest.raises(ConfigError) as e:
        ports.claim(ports.parse("127.0.0.1::80"), [ports.parse("8080:81")])
    assert "\n" not in str(e.value) and str(e.value).startswith("-p 127.0.0.1::80/tcp: no free host port")


def test_attach_repicks_a_random_port_published_since_and_refuses_a_fixed_one(tmp_path, monkeypatch):
    """The bridge driver validates under the state's lock: a created container's random port that
    another container published meanwhile is picked again; a port the user gave is an error."""
    from pycr.plugins.network import drivers

    monkeypatch.setattr(ports, "_bind", lambda p: p["host_port"] or 9000)
    monkeypatch.setattr(drivers, "_plug", lambda *a, **k: "02:00:00:00:00:01")  # no devices in a unit test
    st = NetState(str(tmp_path))
    st.save_lease({"id": "a" * 64, "name": "web", "network": "bridge", "ip": "10.88.0.2",
                   "ports": [ports.parse("8080:80")]})
    lease = {"id": "b" * 64, "name": "db", "network": None}
    kept = {**ports.parse(":80"), "host_port": 8080, "random": True}
    drivers.BridgeDriver().attach(st, {"network": "bridge", "ports": [kept]}, 1, lease)
    assert [p["host_port"] for p in st.lease("b" * 64)["ports"]] == [9000]
    with pytest.raises(ConfigError, match="already published by container web"):
        drivers.BridgeDriver().attach(st, {"network": "bridge", "ports": [ports.parse("8080:80")]}, 1, lease)


def test_resolv_conf_drops_loopback_resolvers(tmp_path):
    f = tmp_path / "resolv.conf"
    f.write_text("search corp\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 10.0.0.2\n")
    assert etcfiles.resolv_conf(str(f)) == "search corp\nnameserver 10.0.0.2\n"
    f.write_text("nameserver 127.0.0.1\n")
    assert etcfiles.resolv_conf(str(f)) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_hosts_rewrite_keeps_the_inode(tmp_path):
    path = str(tmp_path / "hosts")
    etcfiles.rewrite(path, "old\n" * 10)
    ino = os.stat(path).st_ino
    etcfiles.rewrite(path, etcfiles.hosts([("10.0.0.2", "web")], [("10.0.0.3", "db")]))
    assert os.stat(path).st_ino == ino and open(path).read().endswith("10.0.0.2\tweb\n10.0.0.3\tdb\n")


def test_nft_rendering():
    nets = {"bridge": NetState.default(), "app": {"name": "app", "subnet": "10.89.0.0/24", "bridge": "br-x"}}
    assert nft.render({}, []) is None
    published = [ports.parse("8080:80"), ports.parse("127.0.0.1:53:53/udp")]
    leases = [{"network": "bridge", "ip": "10.88.0.2", "ports": published},
              {"network": "app", "ip": "10.89.0.2", "ports": []}]
    text = nft.render(nets, leases)
    assert "tcp dport 8080 dnat to 10.88.0.2:80" in text
    assert "ip daddr 127.0.0.1 udp dport 53 dnat to 10.88.0.2:53" in text
    assert 'iifname "pycr0" oifname { "br-x" } drop' in text
    assert "ip saddr 10.89.0.0/24 ip daddr != 10.89.0.0/24 masquerade" in text
    # CVE-2020-8558: the loopback range is dropped on every bridge before conntrack and DNAT
    assert "type filter hook prerouting priority raw;" in text.split("chain localnet {")[1].split("}")[0]
    for end in ("daddr", "saddr"):
        assert f'iifname {{ "br-x", "pycr0" }} ip {end} 127.0.0.0/8 drop' in text


def test_endpoints_of_a_connected_container_drive_rules_and_addresses(tmp_path):
    """A container on the default bridge connected to app: both networks' rules, app's address
    taken (also while a veth of it is parked), none once it left every network."""
    from pycr.plugins.network.state import endpoints

    st = NetState(str(tmp_path))
    app = st.define("app", "10.89.0.0/29")
    extra = {"network": "app", "ip": "10.89.0.2", "prefix": 29, "gateway": "10.89.0.1", "mac": "", "bridge":
             app["bridge"], "veth": "pvx1", "ifname": "eth1", "aliases": ["a1"]}
    lease = {"id": "x" * 64, "name": "x", "network": "bridge", "ip": "10.88.0.2", "veth": "pvx", "ports": [],
             "extra": [extra]}
    st.save_lease(lease)
    assert [(e["network"], e["ifname"]) for e in endpoints(lease)] == [("bridge", "eth0"), ("app", "eth1")]
    assert [x["id"] for x in st.leases("app")] == [lease["id"]]
    assert {x["network"] for x in [lease] for x in endpoints(x)} == {"bridge", "app"}
    assert st.allocate(app) == "10.89.0.3"  # .2 is the connected container's
    st.park(extra, 7)
    st.drop_lease(lease["id"])
    got = [st.allocate(app) for _ in range(4)]  # wrapping around skips .2: parked, still taken
    assert got == ["10.89.0.4", "10.89.0.5", "10.89.0.6", "10.89.0.3"]
    st.unpark("pvx1")
    assert st.allocate(app) == "10.89.0.4" and [st.allocate(app) for _ in range(3)][-1] == "10.89.0.2"
    gone = {**lease, "network": None, "extra": []}
    assert endpoints(gone) == []


def test_hooks_configure_and_report(tmp_path, monkeypatch):
    """pycr_network_config edits the config and validates; pycr_network_report reads the lease."""
    from pycr.core.plugins import PluginManager

    monkeypatch.delenv("PYCR_NETWORK", raising=False)
    pm = PluginManager()
    config = {"hostname": "h", "mounts": [], "linux": {"namespaces": [{"type": "network"}, {"type": "pid"}]}}
    req = {"network": "host", "publish": [], "name": "c", "dir": str(tmp_path), "store": str(tmp_path)}
    out = pm.hook.pycr_network_config(config=config, request=req)
    assert out["driver"] == "host" and {"type": "network"} not in config["linux"]["namespaces"]
    assert [m["destination"] for m in config["mounts"]] == ["/etc/hosts", "/etc/resolv.conf"]
    assert "io.pycr.network" in config["annotations"]
    config = {"mounts": [], "linux": {"namespaces": []}}
    out = pm.hook.pycr_network_config(config=config, request={**req, "network": None, "publish": ["80"]})
    assert out["driver"] == "bridge" and out["network"] == "bridge"
    assert config["linux"]["namespaces"] == [{"type": "network"}]
    with pytest.raises(ConfigError, match="no address of its own"):
        pm.hook.pycr_network_config(config=config, request={**req, "network": "none", "publish": ["80"]})
    assert pm.hook.pycr_network_report(store_root=str(tmp_path), container_id="nosuch") is None
    st = NetState(os.path.join(str(tmp_path), "network"))
    st.save_lease({"id": "abc", "name": "c", "network": "bridge", "network_mode": "bridge", "ip": "10.88.0.9",
                   "prefix": 16, "gateway": "10.88.0.1", "ports": [{**ports.parse("8080:80"), "host_port": 8080}]})
    got = pm.hook.pycr_network_report(store_root=str(tmp_path), container_id="abc")
    assert got["Networks"]["bridge"]["IPAddress"] == "10.88.0.9" and got["PortList"] == ["80/tcp -> 0.0.0.0:8080"]


def test_request_is_trusted_only_from_a_root_owned_container_dir(tmp_path, monkeypatch):
    """An engine's user sets annotations (podman run --annotation): the annotation must not
    steer root's writes, links or firewall rules."""
    from pycr.plugins.network import layer

    monkeypatch.delenv("PYCR_NETWORK", raising=False)
    cdir = tmp_path / "containers" / "abc"
    cdir.mkdir(parents=True, mode=0o700)
    config = {"mounts": [], "linux": {"namespaces": []}}
    req = layer.configure(config, {"network": "none", "name": "c", "dir": str(cdir), "store": str(tmp_path)})
    state = {"id": "abc", "annotations": config["annotations"]}
    assert config["annotations"]["io.pycr.network"] == str(cdir) and layer.request_of(state) == req
    assert layer.request_of({**state, "id": "other"}) is None  # the directory names the container
    assert layer.request_of({"id": "abc", "annotations": {"io.pycr.network": "abc"}}) is None
    os.chmod(cdir, 0o770)
    assert layer.request_of(state) is None  # writable by others
    os.chmod(cdir, 0o700)
    os.chown(cdir / "network.json", 65534, 65534)
    assert layer.request_of(state) is None  # not root's file
    os.unlink(cdir / "network.json")
    os.symlink("/etc/passwd", cdir / "network.json")
    assert layer.request_of(state) is None


def test_attach_thread_joined_by_created_and_by_cleanup(monkeypatch):
    """start_setup runs the attach in a thread; finish_setup waits and re-raises its error in the
    create's thread; settle (cleanup of a failed create) waits without raising."""
    import threading
    import time

    from pycr.plugins.network import layer

    calls, release = [], threading.Event()

    def fake_setup(cid, pid, req):
        release.wait(5)
        calls.append((cid, pid, threading.current_thread() is not threading.main_thread()))
        if req.get("fail"):
            raise ConfigError("attach refused")

    monkeypatch.setattr(layer, "setup", fake_setup)
    layer.start_setup("c1", 11, {})
    time.sleep(0.05)
    assert calls == []  # still running: create goes on meanwhile
    release.set()
    layer.finish_setup("c1")
    assert calls == [("c1", 11, True)]
    layer.finish_setup("c1")  # nothing pending: a no-op

    release.clear()
    layer.start_setup("c2", 12, {"fail": True})
    release.set()
    with pytest.raises(ConfigError, match="attach refused"):
        layer.finish_setup("c2")

    release.clear()
    layer.start_setup("c3", 13, {"fail": True})
    threading.Timer(0.05, release.set).start()
    layer.settle("c3")  # waits for the thread, swallows its error (the create reports its own)
    assert calls[-1] == ("c3", 13, True) and "c3" not in layer._PENDING


def test_exposed_port_keys_one_rule_for_images_expose_and_the_api():
    from pycr.core import exposed_port_keys

    assert exposed_port_keys("80") == ["80/tcp"]
    assert exposed_port_keys("53/udp") == ["53/udp"]
    assert exposed_port_keys("9000-9002/udp") == ["9000/udp", "9001/udp", "9002/udp"]
    assert exposed_port_keys("65535-65535") == ["65535/tcp"]
    for bad in ("127.0.0.1:9998:80/tcp", "9998:80", "80/sctp", "0", "65536", "90-80", "80-", "-80", "", "1-65536",
                "80/", "80-81/", "80//tcp", "80/tcp/", "/tcp", "80/TCP"):  # "80/": an empty protocol, not tcp
        with pytest.raises(ValueError, match="is not PORT"):
            exposed_port_keys(bad)
    with pytest.raises(ValueError, match=r"'80-90/tcp' is not PORT\[/tcp\|udp\]"):
        exposed_port_keys("80-90/tcp", ranges=False)  # an image's key names one port


def test_the_record_of_the_last_firewall_sync_names_each_networks_bridge_index(tmp_path):
    """``nft.applied``'s last line, as apply_rules writes it, read back: the record an unmarked
    bridge of an earlier pycr is adopted by (link.claim)."""
    st = NetState(str(tmp_path))
    assert st.recorded_bridges() == {}
    with open(tmp_path / APPLIED, "w") as f:
        f.write("table ip pycr {\n}\n# bridges " + repr(sorted([("bridge", 7), ("web.1-x", 12)])) + "\n")
    assert st.recorded_bridges() == {"bridge": 7, "web.1-x": 12}
    with open(tmp_path / APPLIED, "w") as f:
        f.write("# bridges []\n")
    assert st.recorded_bridges() == {}
    with open(tmp_path / APPLIED, "w") as f:
        f.write("table ip pycr {\n}\n")  # torn: no record line
    assert st.recorded_bridges() == {}


@pytest.mark.parametrize("indexes", [{}, {"bridge": 7}, {"web.1-x": 12, "bridge": 7, "a_b": 300000}])
def test_the_bridges_record_reads_back_what_it_writes(tmp_path, indexes):
    """One writer (apply_rules' key) and one reader (recorded_bridges) of the record line."""
    from pycr.plugins.network.state import bridges_record, read_bridges_record

    line = bridges_record(indexes)
    assert line.startswith("# bridges [") and line.endswith("]\n") and line.count("\n") == 1
    assert read_bridges_record("table ip pycr {\n}\n" + line) == indexes
    with open(tmp_path / APPLIED, "w") as f:
        f.write("table ip pycr {\n}\n" + line)
    assert NetState(str(tmp_path)).recorded_bridges() == indexes


@pytest.mark.parametrize("damaged", [
    "# bridges [('bridge', 7), ('web', 1",  # cut short: ('web', 12) must not read as index 1
    "# bridges [('bridge', 7), ('web', x)]", "# bridges [('bridge', 07)]", "# bridges [('a', 1), ('a', 2)]",
    "# bridges [('b', 2), ('a', 1)]", "# bridges [(\"bridge\", 7)]", "# bridges [('bridge', 7)] trailing",
    "# bridges", "# bridges [('bri dge', 7)]", "\x00\xff# bridges [('bridge', 7)]",
])
def test_a_damaged_bridges_record_adopts_nothing(tmp_path, damaged):
    from pycr.plugins.network.state import read_bridges_record

    assert read_bridges_record("table ip pycr {\n}\n" + damaged + "\n") == {}
    with open(tmp_path / APPLIED, "w") as f:
        f.write(damaged)
    assert NetState(str(tmp_path)).recorded_bridges() == {}
    (tmp_path / APPLIED).write_bytes(b"\xff\xfe" + damaged.encode())  # not UTF-8
    assert NetState(str(tmp_path)).recorded_bridges() == {}
