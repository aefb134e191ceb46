"""docker-py against Berth: dual-stack networks. `EnableIPv6` with an IPv6 pool gives an IPv4 and
an IPv6 IPAM config, containers get the address asked for (`ipv6_address`) with its prefix length
and the network's IPv6 gateway in inspect, a second container reaches the first by name over IPv6,
and an IPv6 pool without `EnableIPv6` is refused (400)."""

import docker
import pytest

IP6_FORWARD = "/proc/sys/net/ipv6/conf/all/forwarding"


@pytest.fixture
def networks(client):
    """Collects networks to remove when the test ends, passed or not; puts IPv6 forwarding back
    as it was (the daemon turns it on for a dual-stack network, as Docker does)."""
    with open(IP6_FORWARD) as f:
        forwarding = f.read().strip()
    made = []
    yield made
    for n in made:
        try:
            client.api.remove_network(n)
        except docker.errors.NotFound:
            pass
    with open(IP6_FORWARD, "w") as f:
        f.write(forwarding)


def v6_pool(subnet, gateway=None):
    return docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=subnet, gateway=gateway)])


def test_dual_stack_network_and_container_addresses(client, busybox, unique, networks, cleanup):
    net = client.networks.create(unique, driver="bridge", enable_ipv6=True,
                                 ipam=v6_pool("2001:db8:75::/64", "2001:db8:75::1"))
    networks.append(net.id)
    attrs = client.api.inspect_network(net.id)
    assert attrs["EnableIPv6"] is True
    configs = attrs["IPAM"]["Config"]
    assert len(configs) == 2, configs
    assert {"Subnet": "2001:db8:75::/64", "Gateway": "2001:db8:75::1"} in configs
    assert any("." in c["Subnet"] for c in configs), "an IPv4 subnet beside it"

    endpoint = client.api.create_endpoint_config(ipv6_address="2001:db8:75::10")
    cid = client.api.create_container(
        "busybox", "sleep 600", name=unique,
        host_config=client.api.create_host_config(network_mode=unique),
        networking_config=client.api.create_networking_config({unique: endpoint}))["Id"]
    cleanup.append(cid)
    client.api.start(cid)
    ep = client.api.inspect_container(cid)["NetworkSettings"]["Networks"][unique]
    assert ep["GlobalIPv6Address"] == "2001:db8:75::10"
    assert ep["GlobalIPv6PrefixLen"] == 64
    assert ep["IPv6Gateway"] == "2001:db8:75::1"
    assert ep["IPAMConfig"]["IPv6Address"] == "2001:db8:75::10"
    assert ep["IPAddress"], "the IPv4 address too"
    members = client.api.inspect_network(net.id)["Containers"]
    assert members[cid]["IPv6Address"] == "2001:db8:75::10/64"

    out = client.containers.run("busybox", ["ping6", "-c1", "-W3", unique], network=unique,
                                remove=True)
    assert b"1 packets received" in out, out


def test_an_ipv6_pool_without_enable_ipv6_is_refused(client, unique, networks):
    with pytest.raises(docker.errors.APIError) as e:
        networks.append(client.networks.create(unique, ipam=v6_pool("2001:db8:76::/64")).id)
    assert e.value.status_code == 400
    assert "IPv6 is not enabled" in str(e.value)
