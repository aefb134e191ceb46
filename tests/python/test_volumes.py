"""docker-py against Berth's volumes (#9): create (named with labels and driver options, and
anonymous), list with filters, inspect, remove (in use refused with a 409, unknown ones a 404),
prune (anonymous only unless all=true), and containers writing and reading a volume."""

import docker
import pytest


@pytest.fixture
def volumes(client):
    """Collects volume names to remove when the test ends, passed or not."""
    made = []
    yield made
    for name in made:
        try:
            client.api.remove_volume(name, force=True)
        except docker.errors.APIError:
            pass


def test_create_list_inspect_remove(client, unique, volumes):
    v = client.volumes.create(name=unique, driver="local", labels={"tier": "db"})
    volumes.append(unique)
    assert v.name == unique
    attrs = client.api.inspect_volume(unique)
    assert attrs["Name"] == unique
    assert attrs["Driver"] == "local"
    assert attrs["Scope"] == "local"
    assert attrs["Labels"] == {"tier": "db"}
    assert attrs["Options"] is None
    assert attrs["Mountpoint"].endswith(f"/volumes/{unique}/_data")
    assert attrs["CreatedAt"].endswith("Z")

    opts = {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    client.volumes.create(name=unique + "-tmp", driver_opts=opts)
    volumes.append(unique + "-tmp")
    assert client.api.inspect_volume(unique + "-tmp")["Options"] == opts

    # Creating it again answers the same volume.
    assert client.volumes.create(name=unique).name == unique

    listed = client.api.volumes(filters={"name": unique})
    assert listed["Warnings"] == []
    assert sorted(x["Name"] for x in listed["Volumes"]) == [unique, unique + "-tmp"]
    labelled = client.volumes.list(filters={"label": "tier=db"})
    assert unique in [x.name for x in labelled]
    assert unique + "-tmp" not in [x.name for x in labelled]

    client.volumes.get(unique).remove()
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get(unique)
    with pytest.raises(docker.errors.NotFound) as e:
        client.api.remove_volume(unique)
    assert f"get {unique}: no such volume" in str(e.value)


def test_bad_input_is_refused(client, unique):
    with pytest.raises(docker.errors.APIError) as e:
        client.volumes.create(name="bad name")
    assert e.value.status_code == 400
    assert "includes invalid characters for a local volume name" in str(e.value)
    with pytest.raises(docker.errors.APIError) as e:
        client.volumes.create(name=unique, driver_opts={"nope": "1"})
    assert e.value.status_code == 400
    with pytest.raises(docker.errors.NotFound):
        client.volumes.create(name=unique, driver="no-such-plugin")
    assert unique not in [v.name for v in client.volumes.list()]


def test_containers_share_a_volume_and_in_use_is_a_conflict(client, busybox, unique,
                                                             volumes, cleanup):
    volumes.append(unique)
    out = client.containers.run(
        "busybox", ["sh", "-c", "echo shared > /data/note"],
        volumes={unique: {"bind": "/data", "mode": "rw"}}, remove=True)
    assert out == b""
    read = client.containers.run("busybox", ["cat", "/v/note"],
                                 volumes=[f"{unique}:/v:ro"], remove=True)
    assert read == b"shared\n"
    holder = client.containers.create("busybox", ["true"], volumes=[f"{unique}:/h"],
                                      name=unique + "-holder")
    cleanup.append(holder.id)
    mounts = client.api.inspect_container(holder.id)["Mounts"]
    assert mounts == [{
        "Type": "volume", "Name": unique,
        "Source": client.api.inspect_volume(unique)["Mountpoint"],
        "Destination": "/h", "Driver": "local", "Mode": "z", "RW": True, "Propagation": "",
    }]
    with pytest.raises(docker.errors.APIError) as e:
        client.api.remove_volume(unique)
    assert e.value.status_code == 409
    assert f"remove {unique}: volume is in use - [{holder.id}]" in str(e.value)
    assert client.api.volumes(filters={"dangling": True, "name": unique})["Volumes"] == []
    assert [v["Name"] for v in client.api.volumes(filters={"dangling": False,
                                                            "name": unique})["Volumes"]] == [unique]
    holder.remove(v=True)
    # Named volumes stay with rm -v.
    assert client.volumes.get(unique).name == unique


def test_prune_takes_anonymous_volumes_unless_all(client, busybox, unique, volumes):
    client.volumes.create(name=unique, labels={"p": unique})
    volumes.append(unique)
    anon = client.volumes.create(labels={"p": unique})
    volumes.append(anon.name)
    assert client.api.inspect_volume(anon.name)["Labels"] == {
        "p": unique, "com.docker.volume.anonymous": ""}
    pruned = client.volumes.prune(filters={"label": f"p={unique}"})
    assert pruned["VolumesDeleted"] == [anon.name]
    assert unique in [v.name for v in client.volumes.list()]
    pruned = client.volumes.prune(filters={"label": f"p={unique}", "all": "true"})
    assert pruned["VolumesDeleted"] == [unique]
    assert pruned["SpaceReclaimed"] == 0
