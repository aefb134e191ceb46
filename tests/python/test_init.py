"""`--init` through docker-py: the container's PID 1 is Berth's tiny init (`/sbin/docker-init`),
which reaps orphans, passes the exit code through and forwards SIGTERM. Containers run detached
and are read back with wait() and logs()."""


def run_init(client, cleanup, command):
    """Runs `command` under --init to its end; (exit code, output)."""
    c = client.containers.run("busybox", command, init=True, detach=True)
    cleanup.append(c)
    code = c.wait(timeout=60)["StatusCode"]
    return code, c.logs()


def test_pid_1_is_docker_init(client, busybox, cleanup):
    code, out = run_init(client, cleanup, "ps")
    assert code == 0, out
    pid1 = [line for line in out.decode().splitlines() if line.split()[:1] == ["1"]]
    assert len(pid1) == 1, out
    assert pid1[0].endswith("/sbin/docker-init -- ps"), out


def test_orphans_are_reaped(client, busybox, cleanup):
    # The inner sh exits at once, orphaning its background sleep: it is re-parented to PID 1,
    # which must reap it (a zombie keeps its /proc entry), within a 10 s deadline.
    script = (
        'pid=$(sh -c "sleep 0.2 >/dev/null 2>&1 & echo \\$!"); '
        'for i in $(seq 100); do [ -e /proc/$pid ] || { echo reaped; exit 0; }; sleep 0.1; done; '
        'grep State /proc/$pid/status; exit 1')
    assert run_init(client, cleanup, ["sh", "-c", script]) == (0, b"reaped\n")


def test_exit_code_passes_through(client, busybox, cleanup):
    assert run_init(client, cleanup, ["sh", "-c", "exit 7"])[0] == 7
    # Killed by a signal: 128 + its number, as a shell reports it.
    assert run_init(client, cleanup, ["sh", "-c", "kill -KILL $$"])[0] == 128 + 9


def test_sigterm_is_forwarded(client, busybox, cleanup):
    c = client.containers.run("busybox", "sleep 1000", init=True, detach=True)
    cleanup.append(c)
    # Without forwarding, sleep would outlive the grace period and die of SIGKILL (137).
    c.stop(timeout=60)
    assert c.wait(timeout=30)["StatusCode"] == 128 + 15
