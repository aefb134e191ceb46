"""docker-py against Berth: `images.build` (the legacy `POST /build`): a build from a context
directory with build args, labels and a target; the cache on a rebuild; the in-band error of a bad
Dockerfile (docker.errors.BuildError with the line); a gzip'd context sent as a file object."""

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
