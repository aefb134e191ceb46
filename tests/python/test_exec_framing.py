"""The exec stream's framing follows the Tty of the start request (docker-py sends it there), as
Docker's does, whatever the exec was created with; output written before the client reads is kept."""

SCRIPT = ["sh", "-c", "echo hello out; echo hello err >&2"]


def test_exec_start_tty_decides_the_framing(client, busybox, cleanup):
    c = client.containers.run("busybox", "sleep 100", detach=True)
    cleanup.append(c)
    api = client.api
    # A pty, read as a multiplexed stream: all of it, as stdout.
    e = api.exec_create(c.id, SCRIPT, tty=True)
    out = api.exec_start(e["Id"], tty=False, demux=True)
    assert out == (b"hello out\r\nhello err\r\n", None)
    # Pipes, read as a raw stream: both outputs, no headers.
    e = api.exec_create(c.id, SCRIPT, tty=False)
    out = api.exec_start(e["Id"], tty=True)
    assert out == b"hello out\nhello err\n"
    # The everyday cases stay as they were.
    assert c.exec_run(SCRIPT, tty=True).output == b"hello out\r\nhello err\r\n"
    assert c.exec_run(SCRIPT, demux=True).output == (b"hello out\n", b"hello err\n")
