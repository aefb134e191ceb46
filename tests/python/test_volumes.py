"""docker-py against Berth's volumes (#9): create (named with labels and driver options, and
anonymous), list with filters, inspect, remove (in use refused with a 409, unknown ones a 404),
prune (anonymous only unless all=true; one at a time), and containers writing and reading a
volume. With a volume plugin (volume_plugin.py, a real plugin on a socket): docker-py and
docker-compose 1.29 create, mount, unmount and remove through it, and list its own volumes."""

import os
import subprocess
import threading

import docker
import pytest

from conftest import wait_until
from volume_plugin import VolumePlugin


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


def test_concurrent_prunes_never_both_run(client, busybox, unique, volumes):
    """Docker refuses a prune while one runs (409); here they are raced, so each either prunes
    or is refused in Docker's words, and together they remove each volume once."""
    made = []
    for _ in range(20):
        v = client.volumes.create(labels={"race": unique})
        volumes.append(v.name)
        made.append(v.name)
    results = []

    def prune():
        try:
            results.append(client.volumes.prune(filters={"label": f"race={unique}"}))
        except docker.errors.APIError as e:
            results.append(e)

    threads = [threading.Thread(target=prune) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    deleted = []
    for r in results:
        if isinstance(r, docker.errors.APIError):
            assert r.status_code == 409
            assert "a prune operation is already running" in str(r)
        else:
            deleted.extend(r["VolumesDeleted"] or [])
    assert len(results) == 4
    assert sorted(deleted) == sorted(made)


@pytest.fixture
def plugin(unique):
    """A volume plugin named after the test, stopped (socket removed) when it ends."""
    p = VolumePlugin(unique + "-drv")
    try:
        yield p
    finally:
        p.stop()


def test_a_plugin_driver_through_docker_py(client, busybox, unique, plugin, volumes, cleanup):
    client.volumes.create(name=unique, driver=plugin.name, driver_opts={"size": "1g"},
                          labels={"team": "py"})
    volumes.append(unique)
    assert plugin.calls_of("VolumeDriver.Create") == [{"Name": unique, "Opts": {"size": "1g"}}]
    attrs = client.api.inspect_volume(unique)
    assert attrs["Driver"] == plugin.name
    assert attrs["Labels"] == {"team": "py"}
    assert attrs["Options"] == {"size": "1g"}
    assert attrs["Status"] == {"driver": "py-plugin", "mounts": 0}

    ctr = client.containers.run("busybox", ["sh", "-c", "echo from-py > /data/f"],
                                volumes={unique: {"bind": "/data", "mode": "rw"}}, detach=True)
    cleanup.append(ctr.id)
    assert ctr.wait(timeout=60)["StatusCode"] == 0
    wait_until("the plugin's Unmount",
               lambda: {"Name": unique, "ID": ctr.id} in plugin.calls_of("VolumeDriver.Unmount"))
    assert plugin.calls_of("VolumeDriver.Mount") == [{"Name": unique, "ID": ctr.id}]
    with open(os.path.join(plugin.path(unique), "f")) as f:
        assert f.read() == "from-py\n"
    mount = client.api.inspect_container(ctr.id)["Mounts"][0]
    assert (mount["Type"], mount["Name"], mount["Driver"], mount["Mode"], mount["RW"]) == (
        "volume", unique, plugin.name, "rw", True)

    # The plugin's own volumes are listed beside the daemon's.
    plugin.add(unique + "-own")
    listed = client.api.volumes(filters={"driver": plugin.name})
    assert listed["Warnings"] == []
    assert sorted(v["Name"] for v in listed["Volumes"]) == [unique, unique + "-own"]
    assert client.volumes.get(unique + "-own").attrs["Driver"] == plugin.name
    volumes.append(unique + "-own")

    ctr.remove()
    client.volumes.get(unique).remove()
    assert plugin.calls_of("VolumeDriver.Remove") == [{"Name": unique}]
    assert unique not in plugin.volumes


def test_compose_with_a_plugin_driver(daemon, busybox, unique, plugin, tmp_path):
    project = unique.replace("-", "")
    (tmp_path / "docker-compose.yml").write_text(f"""version: "2.4"
services:
  app:
    image: busybox
    command: ["sh", "-c", "echo composed > /data/f"]
    volumes:
      - data:/data
volumes:
  data:
    driver: {plugin.name}
    driver_opts:
      size: 2g
""")
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env["DOCKER_CONFIG"] = str(tmp_path / ".docker")

    def compose(*args):
        out = subprocess.run(["docker-compose", "-H", daemon.url, "-p", project, *args],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"docker-compose {args}: {out.stdout}{out.stderr}"
        return out

    volume = f"{project}_data"
    try:
        compose("up", "--no-color")
        assert plugin.calls_of("VolumeDriver.Create") == [{"Name": volume, "Opts": {"size": "2g"}}]
        with open(os.path.join(plugin.path(volume), "f")) as f:
            assert f.read() == "composed\n"
        assert len(plugin.calls_of("VolumeDriver.Mount")) == 1
        wait_until("the plugin's Unmount", lambda: plugin.calls_of("VolumeDriver.Unmount"))
        # Up again: the volume is found, not made again.
        compose("up", "--no-color")
        assert len(plugin.calls_of("VolumeDriver.Create")) == 1
    finally:
        compose("down", "-v")
    assert plugin.calls_of("VolumeDriver.Remove") == [{"Name": volume}]
    assert volume not in plugin.volumes
