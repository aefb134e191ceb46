"""docker-py against Berth: `images.build` (the legacy `POST /build`): a build from a context
directory with build args, labels and a target; the cache on a rebuild; the in-band error of a bad
Dockerfile (docker.errors.BuildError with the line); a gzip'd context sent as a file object;
SOURCE_DATE_EPOCH making no-cache rebuilds one image; cache_from after the build cache is pruned."""

import io
import tarfile

import docker
import pytest


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def stream_text(logs):
    return "".join(chunk.get("stream", "") for chunk in logs)


def test_build_from_a_directory_then_cached(client, busybox, unique, tmp_path, cleanup):
    write(tmp_path / "Dockerfile", (
        "FROM busybox AS base\n"
        "ARG WHO=nobody\n"
        "WORKDIR /app\n"
        "COPY greeting.txt .\n"
        "RUN echo \"$(cat greeting.txt) $WHO\" > /app/out\n"
        "CMD [\"cat\", \"/app/out\"]\n"
        "FROM base AS extra\n"
        "RUN exit 5\n"
    ))
    write(tmp_path / "greeting.txt", "hello")
    tag = f"{unique}/built:v1"
    image, logs = client.images.build(
        path=str(tmp_path), tag=tag, buildargs={"WHO": "docker-py"},
        labels={"made-by": "test_build"}, target="base", rm=True,
    )
    text = stream_text(logs)
    assert "Successfully built" in text
    assert tag in image.tags
    assert image.labels["made-by"] == "test_build"
    assert image.attrs["Config"]["WorkingDir"] == "/app"
    out = client.containers.run(tag, remove=True)
    assert out == b"hello docker-py\n"

    again, logs = client.images.build(
        path=str(tmp_path), tag=tag, buildargs={"WHO": "docker-py"},
        labels={"made-by": "test_build"}, target="base",
    )
    assert again.id == image.id
    assert stream_text(logs).count("Using cache") == 6


def test_a_bad_dockerfile_raises_build_error(client, busybox, tmp_path):
    write(tmp_path / "Dockerfile", "FROM busybox\nCOPY\n")
    with pytest.raises(docker.errors.BuildError) as err:
        client.images.build(path=str(tmp_path))
    assert "dockerfile parse error on line 2" in str(err.value)


def test_a_failing_run_raises_build_error(client, busybox, tmp_path):
    write(tmp_path / "Dockerfile", "FROM busybox\nRUN echo nope && exit 4\n")
    with pytest.raises(docker.errors.BuildError) as err:
        client.images.build(path=str(tmp_path), forcerm=True)
    assert "returned a non-zero code: 4" in str(err.value)


def test_build_from_a_gzip_context_file_object(client, busybox, unique, cleanup):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"FROM busybox\nCOPY f /f\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("f")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    buf.seek(0)
    tag = f"{unique}/gz:v1"
    image, _ = client.images.build(fileobj=buf, custom_context=True, encoding="gzip", tag=tag)
    assert tag in image.tags
    assert client.containers.run(tag, ["cat", "/f"], remove=True) == b"abc"


def test_source_date_epoch_makes_a_no_cache_rebuild_the_same_image(client, busybox, unique, tmp_path):
    # Two builds that run every step again (nocache), on different files' times, at the same
    # SOURCE_DATE_EPOCH: one image ID, created at the epoch.
    write(tmp_path / "Dockerfile", (
        "FROM busybox\n"
        "RUN echo made > /made\n"
        "COPY app.txt /app/\n"
    ))
    write(tmp_path / "app.txt", "app")
    args = {"SOURCE_DATE_EPOCH": "1700000000"}
    first, _ = client.images.build(path=str(tmp_path), tag=f"{unique}/repro:1", buildargs=args, nocache=True)
    (tmp_path / "app.txt").touch()
    second, logs = client.images.build(path=str(tmp_path), tag=f"{unique}/repro:2", buildargs=args, nocache=True)
    assert "Using cache" not in stream_text(logs)
    assert second.id == first.id
    assert first.attrs["Created"].startswith("2023-11-14T22:13:20")
    # Without the epoch the same build is another image.
    plain, _ = client.images.build(path=str(tmp_path), tag=f"{unique}/repro:3", nocache=True)
    assert plain.id != first.id


def test_cache_from_an_image_whose_build_cache_is_gone(client, busybox, unique, tmp_path):
    # The build cache pruned, the image is all there is: cache_from reuses its steps (the RUN
    # does not run again: the same random bytes).
    write(tmp_path / "Dockerfile", "FROM busybox\nRUN head -c 8 /dev/urandom | od -An -tx1 > /rand\n")
    tag = f"{unique}/cached:1"
    image, _ = client.images.build(path=str(tmp_path), tag=tag)
    rand = client.containers.run(tag, ["cat", "/rand"], remove=True)
    client.api.prune_builds()
    again, logs = client.images.build(path=str(tmp_path), tag=f"{unique}/again:1", cache_from=[tag])
    assert stream_text(logs).count("Using cache") == 1
    assert again.id == image.id
    assert client.containers.run(again.id, ["cat", "/rand"], remove=True) == rand
