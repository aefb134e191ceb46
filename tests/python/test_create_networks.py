"""docker-py against Berth: a create names several networks in NetworkingConfig (API 1.44+, docker-py
7's default) and the container is on all of them from the create on, with its per-network aliases
and an address on each once started; at API 1.43 the same body is moby's 400; a network that does
not exist is Docker's 404; and the list's Command quotes arguments with spaces as moby does."""

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


def two_networks_body(api, mode, names, aliases):
    return dict(
        host_config=api.create_host_config(network_mode=mode),
        networking_config=api.create_networking_config({
            n: api.create_endpoint_config(aliases=[a]) for n, a in zip(names, aliases)}),
    )


def test_create_attaches_every_endpoints_config_network(client, busybox, unique, networks, cleanup):
    names = [unique + "-a", unique + "-b"]
    for n in names:
        networks.append(client.networks.create(n, driver="bridge").id)
    api = client.api
    ctr = api.create_container("busybox", ["sleep", "600"], name=unique,
                               **two_networks_body(api, names[0], names, ["alias-a", "alias-b"]))
    cleanup.append(ctr["Id"])
    nets = api.inspect_container(ctr["Id"])["NetworkSettings"]["Networks"]
    assert sorted(nets) == sorted(names)

    api.start(ctr["Id"])
    nets = api.inspect_container(ctr["Id"])["NetworkSettings"]["Networks"]
    addresses = [nets[n]["IPAddress"] for n in names]
    assert all(addresses) and addresses[0] != addresses[1], nets
    assert "alias-a" in nets[names[0]]["Aliases"]
    assert "alias-b" in nets[names[1]]["Aliases"]
    for n in names:
        members = api.inspect_network(n)["Containers"]
        assert ctr["Id"] in members, (n, members)

    # A peer on the second network reaches the container by its alias there.
    peer = client.containers.run("busybox", ["ping", "-c", "1", "-W", "3", "alias-b"],
                                 network=names[1], detach=True)
    cleanup.append(peer.id)
    assert peer.wait(timeout=30)["StatusCode"] == 0, peer.logs()


def test_endpoints_refused_as_docker_refuses_them(client, daemon, busybox, unique, networks, cleanup):
    names = [unique + "-a", unique + "-b"]
    for n in names:
        networks.append(client.networks.create(n, driver="bridge").id)
    old = docker.APIClient(base_url=daemon.url, version="1.43")
    try:
        with pytest.raises(docker.errors.APIError) as e:
            old.create_container("busybox", ["true"], name=unique + "-old",
                                 **two_networks_body(old, names[0], names, ["x", "y"]))
        assert e.value.status_code == 400
        assert e.value.explanation == (
            "Container cannot be created with multiple network endpoints: " + ", ".join(sorted(names)))
    finally:
        old.close()

    api = client.api
    with pytest.raises(docker.errors.NotFound) as e:
        api.create_container("busybox", ["true"], name=unique + "-gone",
                             **two_networks_body(api, names[0], [names[0], "no-such-net"], ["x", "y"]))
    assert e.value.explanation == "network no-such-net not found"
    assert not api.containers(all=True, filters={"name": unique + "-gone"})


def test_list_command_quotes_arguments_with_spaces(client, busybox, unique, cleanup):
    ctr = client.api.create_container("busybox", ["sh", "-c", 'echo "a b" c', "x y"], name=unique)
    cleanup.append(ctr["Id"])
    listed = client.api.containers(all=True, filters={"id": ctr["Id"]})
    assert listed[0]["Command"] == "sh -c 'echo \"a b\" c' 'x y'"
