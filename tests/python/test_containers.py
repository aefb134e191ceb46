"""docker-py against Berth: the container essentials (run, logs, wait, stop, rm, exec, attach,
config, list filters, errors)."""

import socket
import struct
import time

import docker
import pytest

from conftest import wait_until


def read_frames(sock, until, timeout=20.0):
    """Reads stdcopy frames from a hijacked socket until `until(stdout_bytes)` or EOF."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    buf, out = b"", b""
    while not until(out) and time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 8:
            stream, size = struct.unpack(">BxxxL", buf[:8])
            if len(buf) < 8 + size:
                break
            if stream == 1:
                out += buf[8:8 + size]
            buf = buf[8 + size:]
    return out


def test_run_remove_returns_output(client, busybox):
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"


def test_detached_logs_wait_stop_remove(client, busybox, unique, cleanup):
    c = client.containers.run(
        "busybox", ["sh", "-c", "echo one; echo two; exec sleep 100"], detach=True, name=unique)
    cleanup.append(c)
    assert c.name == unique
    seen = b""
    for chunk in c.logs(stream=True, follow=True):
        seen += chunk
        if b"two\n" in seen:
            break
    assert seen == b"one\ntwo\n"
    c.reload()
    assert c.status == "running"
    c.stop(timeout=1)
    # sleep as PID 1 has no SIGTERM handler: the kill after the timeout ends it.
    assert c.wait(timeout=30)["StatusCode"] == 137
    c.reload()
    assert c.status == "exited"
    assert c.logs() == b"one\ntwo\n"
    c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(unique)


def test_wait_reports_exit_code(client, busybox, cleanup):
    c = client.containers.run("busybox", ["sh", "-c", "exit 3"], detach=True)
    cleanup.append(c)
    assert c.wait(timeout=30)["StatusCode"] == 3


def test_nonzero_exit_raises_container_error(client, busybox, cleanup):
    with pytest.raises(docker.errors.ContainerError) as err:
        client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 3"])
    cleanup.append(err.value.container)
    assert err.value.exit_status == 3
    assert b"oops" in err.value.stderr


def test_environment_labels_working_dir_user(client, busybox, unique, cleanup):
    out = client.containers.run(
        "busybox", ["sh", "-c", 'echo "$FOO"; pwd; id -u; id -g'],
        environment={"FOO": "bar baz"}, working_dir="/made/for/you", user="nobody",
        labels={"org.berth.test": unique}, name=unique)
    cleanup.append(unique)
    assert out == b"bar baz\n/made/for/you\n65534\n65534\n"
    c = client.containers.get(unique)
    assert c.labels == {"org.berth.test": unique}
    assert c.attrs["Config"]["WorkingDir"] == "/made/for/you"
    assert c.attrs["Config"]["User"] == "nobody"
    assert "FOO=bar baz" in c.attrs["Config"]["Env"]


def test_list_with_filters(client, busybox, unique, cleanup):
    label = f"org.berth.list={unique}"
    running = client.containers.run(
        "busybox", "sleep 100", detach=True, labels={"org.berth.list": unique},
        name=f"{unique}-running")
    cleanup.append(running)
    done = client.containers.run(
        "busybox", "true", detach=True, labels={"org.berth.list": unique}, name=f"{unique}-done")
    cleanup.append(done)
    assert done.wait(timeout=30)["StatusCode"] == 0
    both = client.containers.list(all=True, filters={"label": label})
    assert sorted(c.name for c in both) == [f"{unique}-done", f"{unique}-running"]
    assert [c.name for c in client.containers.list(filters={"label": label})] == [
        f"{unique}-running"]
    exited = client.containers.list(all=True, filters={"label": label, "status": "exited"})
    assert [c.name for c in exited] == [f"{unique}-done"]
    by_name = client.containers.list(all=True, filters={"name": f"{unique}-done"})
    assert [c.id for c in by_name] == [done.id]
    assert client.containers.list(all=True, filters={"label": f"org.berth.list={unique}-x"}) == []


def test_name_clash_is_409(client, busybox, unique, cleanup):
    first = client.containers.create("busybox", "true", name=unique)
    cleanup.append(first)
    with pytest.raises(docker.errors.APIError) as err:
        client.containers.create("busybox", "true", name=unique)
    assert err.value.status_code == 409
    assert unique in str(err.value)


def test_exec_run_output_and_exit_code(client, busybox, cleanup):
    c = client.containers.run("busybox", "sleep 100", detach=True)
    cleanup.append(c)
    res = c.exec_run(["sh", "-c", 'echo "out $V $(pwd)"; exit 4'], environment={"V": "x"},
                     workdir="/tmp")
    assert res.exit_code == 4
    assert res.output == b"out x /tmp\n"
    res = c.exec_run("id -u", user="nobody")
    assert (res.exit_code, res.output) == (0, b"65534\n")


def test_attach_socket_with_stdin(client, busybox, cleanup):
    # docker-py sets StdinOnce with stdin_open.
    c = client.containers.create("busybox", "cat", stdin_open=True)
    cleanup.append(c)
    sock = c.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
    raw = sock._sock
    try:
        c.start()
        raw.sendall(b"hello through stdin\n")
        out = read_frames(raw, lambda o: b"hello through stdin\n" in o)
        assert out == b"hello through stdin\n"
        # Closing stdin (stdin_once) ends cat.
        raw.shutdown(socket.SHUT_WR)
        assert c.wait(timeout=30)["StatusCode"] == 0
    finally:
        sock.close()


def test_attach_stream(client, busybox, cleanup):
    # Output written after the attach. (docker-py reads the stream from the raw socket under
    # http.client's buffered reader: bytes that arrive together with the 101 headers, such as a
    # `logs=True` replay, can be lost on the client side, whatever the daemon does.)
    c = client.containers.run(
        "busybox", ["sh", "-c", "while :; do echo tick; sleep 0.1; done"], detach=True)
    cleanup.append(c)
    stream = c.attach(stdout=True, stderr=True, stream=True)
    assert b"tick\n" in next(stream)
    c.kill()
    assert c.wait(timeout=30)["StatusCode"] == 137
