"""docker-py against Berth: the archive endpoints behind `docker cp` (`put_archive`,
`get_archive`, and the path stat), on a running and on a stopped container."""

import io
import tarfile

import docker
import pytest


def make_tar(files):
    """A tar holding `files` ({name: bytes}); directories end with '/'."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            if name.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o640
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_tar(chunks):
    """{name: bytes or None for non-files} of a tar given as an iterator of chunks."""
    data = b"".join(chunks)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m) if m.isfile() else None
            out[m.name] = f.read() if f else None
    return out


@pytest.mark.parametrize("running", [True, False])
def test_put_then_get_archive(client, busybox, unique, cleanup, running):
    if running:
        c = client.containers.run("busybox", "sleep 600", detach=True, name=unique)
    else:
        c = client.containers.create("busybox", "true", name=unique)
    cleanup.append(c)

    tar = make_tar({"pkg/": b"", "pkg/a.txt": b"alpha\n", "pkg/sub/": b"", "pkg/sub/b": b"beta"})
    assert c.put_archive("/tmp", tar) is True

    chunks, stat = c.get_archive("/tmp/pkg")
    assert stat["name"] == "pkg"
    assert stat["mode"] & (1 << 31), stat  # a directory, in Go's FileMode bits
    files = read_tar(chunks)
    assert files["pkg/a.txt"] == b"alpha\n"
    assert files["pkg/sub/b"] == b"beta"
    assert "pkg" in files and files["pkg"] is None

    chunks, stat = c.get_archive("/tmp/pkg/a.txt")
    assert (stat["name"], stat["size"], stat["mode"]) == ("a.txt", 6, 0o640)
    assert read_tar(chunks) == {"a.txt": b"alpha\n"}

    # The contents of a directory with a trailing "/.".
    chunks, stat = c.get_archive("/tmp/pkg/.")
    assert sorted(read_tar(chunks)) == [".", "./a.txt", "./sub", "./sub/b"]

    # A symlink is reported, not followed, without a trailing slash.
    stat = client.api.get_archive(c.id, "/bin/sh")[1]
    assert stat["mode"] & (1 << 27) and stat["linkTarget"] == "/bin/busybox", stat


def test_archive_errors(client, busybox, unique, cleanup):
    c = client.containers.create("busybox", "true", name=unique)
    cleanup.append(c)
    with pytest.raises(docker.errors.NotFound) as e:
        c.get_archive("/no/such/file")
    assert f"Could not find the file /no/such/file in container {c.id}" in str(e.value)
    with pytest.raises(docker.errors.NotFound):
        c.put_archive("/no/such/dir", make_tar({"x": b"x"}))
    with pytest.raises(docker.errors.APIError) as e:
        c.put_archive("/etc/passwd", make_tar({"x": b"x"}))
    assert e.value.status_code == 400
    assert "extraction point is not a directory" in str(e.value)
    with pytest.raises(docker.errors.NotFound):
        client.api.get_archive(unique + "-missing", "/etc")
