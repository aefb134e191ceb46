"""docker-py against Berth: healthchecks given with `healthcheck={...}` make a running container
healthy or unhealthy (status, failing streak and probe log in `State.Health`), and a container
without one has no `State.Health`."""

from conftest import wait_until

MS = 1_000_000


def health(container):
    container.reload()
    return container.attrs["State"].get("Health")


def test_passing_healthcheck_becomes_healthy(client, busybox, unique, cleanup):
    c = client.containers.run(
        "busybox", "sleep 600", detach=True, name=unique,
        healthcheck={"test": ["CMD", "echo", "fine"], "interval": 200 * MS, "retries": 2})
    cleanup.append(c)
    h = wait_until("healthy", lambda: (health(c) or {}).get("Status") == "healthy" and health(c))
    assert h["FailingStreak"] == 0
    assert h["Log"][-1]["ExitCode"] == 0
    assert h["Log"][-1]["Output"] == "fine\n"
    assert c.attrs["Config"]["Healthcheck"]["Test"] == ["CMD", "echo", "fine"]


def test_failing_healthcheck_becomes_unhealthy(client, busybox, unique, cleanup):
    c = client.containers.run(
        "busybox", "sleep 600", detach=True, name=unique,
        healthcheck={"test": "exit 1", "interval": 200 * MS, "retries": 2})
    cleanup.append(c)
    h = wait_until("unhealthy",
                   lambda: (health(c) or {}).get("Status") == "unhealthy" and health(c))
    assert h["FailingStreak"] >= 2
    assert all(r["ExitCode"] == 1 for r in h["Log"])
    assert c.attrs["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "exit 1"]


def test_no_healthcheck_has_no_health(client, busybox, unique, cleanup):
    c = client.containers.run("busybox", "sleep 600", detach=True, name=unique)
    cleanup.append(c)
    assert health(c) is None
