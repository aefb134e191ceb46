"""docker-py against Berth: networks echo what they were created with (Options, IPAM driver, options
and config; an IPAM that was not given shows `Options: null` as Docker does), names with spaces
work, and an endpoint's DriverOpts, IPAMConfig (with null fields), LinkLocalIPs and MacAddress given
at connect are accepted and shown in the container's inspect."""

import docker
import pytest


@pytest.fixture
def networks(client):
    """Collects networks to remove when the test ends, passed or not."""
    made = []
    yield made
    for n in made:
        try:
            client.api.remove_network(n)
        except docker.errors.NotFound:
            pass


def test_network_inspect_echoes_what_was_given(client, unique, networks):
    plain = client.networks.create(unique + " plain", driver="bridge")
    networks.append(plain.id)
    attrs = client.api.inspect_network(plain.id)
    assert attrs["Name"] == unique + " plain"
    assert attrs["Options"] == {}
    assert attrs["IPAM"]["Driver"] == "default"
    assert attrs["IPAM"]["Options"] is None
    assert len(attrs["IPAM"]["Config"]) == 1 and attrs["IPAM"]["Config"][0]["Subnet"]

    ipam = docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(
            subnet="10.243.0.0/24", iprange="10.243.0.128/25",
            aux_addresses={"router": "10.243.0.200"})],
        options={"opt.a": "1"})
    given = client.networks.create(unique, driver="bridge", ipam=ipam,
                                   options={"com.example.mtu-note": "x"},
                                   labels={"t": "1"}, attachable=True)
    networks.append(given.id)
    attrs = client.api.inspect_network(given.id)
    assert attrs["Options"] == {"com.example.mtu-note": "x"}
    assert attrs["Attachable"] is True
    assert attrs["IPAM"] == {
        "Driver": "default",
        "Options": {"opt.a": "1"},
        "Config": [{"Subnet": "10.243.0.0/24", "IPRange": "10.243.0.128/25",
                    "AuxiliaryAddresses": {"router": "10.243.0.200"}}],
    }


def test_connect_echoes_endpoint_settings(client, busybox, unique, networks, cleanup):
    net = client.networks.create(
        unique, ipam=docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet="10.244.0.0/24")]))
    networks.append(net.id)
    c = client.containers.run("busybox", "sleep 600", detach=True, name=unique)
    cleanup.append(c)
    client.api.connect_container_to_network(
        c.id, net.id, ipv4_address="10.244.0.9", link_local_ips=["169.254.7.7"],
        driver_opt={"com.example.opt": "v"}, mac_address="02:42:0a:f4:00:99")
    c.reload()
    ep = c.attrs["NetworkSettings"]["Networks"][unique]
    assert ep["IPAddress"] == "10.244.0.9"
    assert ep["MacAddress"] == "02:42:0a:f4:00:99"
    assert ep["DriverOpts"] == {"com.example.opt": "v"}
    assert ep["IPAMConfig"] == {"IPv4Address": "10.244.0.9", "LinkLocalIPs": ["169.254.7.7"]}
    code, out = c.exec_run("ip addr")
    assert code == 0
    assert b"169.254.7.7" in out and b"02:42:0a:f4:00:99" in out, out

    # An IPAMConfig whose fields are null (as some clients send it) is an empty one.
    c2 = client.api.create_container(
        "busybox", "sleep 600", name=unique + "-2",
        host_config=client.api.create_host_config(network_mode=unique),
        networking_config={"EndpointsConfig": {unique: {
            "IPAMConfig": {"IPv4Address": None, "IPv6Address": None, "LinkLocalIPs": None}}}})
    cleanup.append(c2["Id"])
    client.api.start(c2["Id"])
    ep = client.api.inspect_container(c2["Id"])["NetworkSettings"]["Networks"][unique]
    assert ep["IPAddress"].startswith("10.244.0.")
    assert ep["DriverOpts"] is None
