"""docker-py against Berth: `container.stats()`, the keys and values of Docker's stats objects,
one-shot and streamed, for a running container with limits and for a stopped one."""

import itertools

from conftest import wait_until

ZERO_TIME = "0001-01-01T00:00:00Z"


def test_stats_of_a_running_container(client, busybox, unique, cleanup):
    c = client.containers.run(
        "busybox", ["sh", "-c", "sleep 1000 & sleep 1000; echo"], detach=True, name=unique,
        mem_limit="64m", pids_limit=50)
    cleanup.append(c)
    wait_until("both processes", lambda: c.stats(stream=False)["pids_stats"].get("current") == 3)

    s = c.stats(stream=False)
    for key in ("read", "preread", "name", "id", "pids_stats", "cpu_stats", "precpu_stats",
                "memory_stats", "blkio_stats", "networks", "num_procs", "storage_stats"):
        assert key in s, key
    assert s["name"] == "/" + unique
    assert s["id"] == c.id
    assert s["pids_stats"] == {"current": 3, "limit": 50}
    cpu = s["cpu_stats"]
    assert cpu["cpu_usage"]["total_usage"] > 0
    assert cpu["system_cpu_usage"] > 0
    assert cpu["online_cpus"] >= 1
    assert set(cpu["throttling_data"]) == {"periods", "throttled_periods", "throttled_time"}
    # stream=false waits for a second sample, so the previous one is there.
    assert s["preread"] != ZERO_TIME
    assert s["precpu_stats"]["system_cpu_usage"] < cpu["system_cpu_usage"]
    mem = s["memory_stats"]
    assert mem["limit"] == 64 * 1024 * 1024
    assert 0 < mem["usage"] <= mem["limit"]
    assert isinstance(mem["stats"], dict) and mem["stats"]
    assert "eth0" in s["networks"] and "lo" not in s["networks"]
    assert set(s["networks"]["eth0"]) == {
        "rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
        "tx_bytes", "tx_packets", "tx_errors", "tx_dropped"}

    one = c.stats(stream=False, one_shot=True)
    assert one["preread"] == ZERO_TIME
    assert one["precpu_stats"]["cpu_usage"]["total_usage"] == 0

    first, second = itertools.islice(c.stats(stream=True, decode=True), 2)
    assert second["precpu_stats"] == first["cpu_stats"]
    assert second["preread"] == first["read"]


def test_stats_of_a_stopped_container(client, busybox, unique, cleanup):
    c = client.containers.create("busybox", "true", name=unique)
    cleanup.append(c)
    s = c.stats(stream=False)
    assert s["name"] == "/" + unique
    assert s["id"] == c.id
    assert s["read"] == ZERO_TIME
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert s["memory_stats"] == {}
    assert s["pids_stats"] == {}
    assert "networks" not in s
