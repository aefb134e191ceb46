"""docker-py against Berth: system endpoints and images (list, get, tag, remove, save/load)."""

import docker
import pytest


def test_ping_version_info(client):
    assert client.ping() is True
    version = client.version()
    assert version["ApiVersion"] == "1.50"
    assert version["Os"] == "linux"
    info = client.info()
    assert "Containers" in info and "Images" in info
    assert client.api.api_version == "1.50"


def test_images_list_get_tag_remove(client, busybox, unique):
    assert "busybox:latest" in busybox.tags
    assert any(busybox.id == i.id for i in client.images.list())
    assert busybox.tag(f"{unique}/tagged", "v1") is True
    tagged = client.images.get(f"{unique}/tagged:v1")
    assert tagged.id == busybox.id
    assert f"{unique}/tagged:v1" in tagged.tags
    assert [i.id for i in client.images.list(name=f"{unique}/tagged")] == [busybox.id]
    client.images.remove(f"{unique}/tagged:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(f"{unique}/tagged:v1")
    # The image itself stays, still tagged busybox:latest.
    assert client.images.get("busybox:latest").id == busybox.id


def test_save_load_round_trip(client, busybox, unique):
    name = f"{unique}/saved:v1"
    busybox.tag(f"{unique}/saved", "v1")
    archive = b"".join(client.images.get(name).save(named=True))
    assert len(archive) > 100_000
    client.images.remove(name)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(name)
    loaded = client.images.load(archive)
    assert any(name in i.tags for i in loaded)
    assert client.images.get(name).id == busybox.id
    client.images.remove(name)


def test_missing_image_is_image_not_found(client, busybox, unique):
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(f"{unique}/missing:latest")
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create(f"{unique}/missing:latest", "true")
