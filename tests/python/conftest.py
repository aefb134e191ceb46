"""Fixtures for Berth's docker-py compatibility suite.

A session-wide `berth daemon` runs on its own temp socket, data root and exec root (built binaries
from target/, or $BERTH_BIN); it gets a `busybox:latest` image made from the host's busybox-static.
These tests touch the kernel (namespaces, mounts, cgroups), so they need root: when run without it
they fail, they do not skip. Run them through `scripts/test.sh` (as root) or
`python3 -m pytest tests/python` after `cargo build -p berth -p berth-shim -p berth-init`.
"""

import io
import glob
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import docker
import pytest

REPO = Path(__file__).resolve().parents[2]
HELPERS = ("berth-shim", "berth-init")


def berth_binary() -> Path:
    """$BERTH_BIN, else the newest of target/{debug,release}/berth."""
    if os.environ.get("BERTH_BIN"):
        return Path(os.environ["BERTH_BIN"])
    built = [REPO / "target" / p / "berth" for p in ("debug", "release")]
    built = [b for b in built if b.is_file()]
    if not built:
        pytest.fail("no berth binary: run `cargo build -p berth -p berth-shim -p berth-init` first")
    return max(built, key=lambda b: b.stat().st_mtime)


def wait_until(what, predicate, timeout=30.0, interval=0.05):
    """Polls `predicate` until it returns a true value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def mounts_under(root: str):
    """Mount points under `root`, deepest first."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split(" ")[4].replace("\\040", " ")
            if point == root or point.startswith(root + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def busybox_rootfs_tar() -> bytes:
    """A busybox rootfs (busybox-static plus its applet links, passwd, group, /tmp) as a tar."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700)):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for name in applets.stdout.split():
            if name == "busybox":
                continue
            info = tarfile.TarInfo(f"bin/{name}")
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, "busybox", 0o777
            tar.addfile(info)
        files = {
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
            "etc/group": "root:x:0:\nnogroup:x:65534:\n",
        }
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Daemon:
    """A `berth daemon` on a private temp root, stopped by PID."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="berth-py.")
        self.sock = os.path.join(self.root, "berth.sock")
        self.url = f"unix://{self.sock}"
        self.log_path = os.path.join(self.root, "daemon.log")
        self.proc = None

    def start(self):
        exe = berth_binary()
        for helper in HELPERS:
            if not (exe.parent / helper).is_file():
                pytest.fail(f"{exe.parent / helper} is missing: run "
                            "`cargo build -p berth -p berth-shim -p berth-init`")
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(exe), "daemon", "-H", self.url,
             "--data-root", os.path.join(self.root, "data"),
             "--exec-root", os.path.join(self.root, "run")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"berth daemon exited with {self.proc.returncode}:\n{self.log()}")
            return os.path.exists(self.sock)

        wait_until("the daemon's socket", up)

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        for point in mounts_under(self.root):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        # The daemon's /berth parent cgroups, once empty (another daemon's containers keep them).
        for hierarchy in glob.glob("/sys/fs/cgroup/*/berth"):
            try:
                os.rmdir(hierarchy)
            except OSError:
                pass


@pytest.fixture(scope="session")
def daemon():
    if os.geteuid() != 0:
        pytest.fail("the docker-py suite needs root (containers need namespaces and cgroups)")
    d = Daemon()
    try:
        d.start()
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="session")
def client(daemon):
    c = docker.DockerClient(base_url=daemon.url, timeout=60)
    try:
        yield c
    finally:
        try:
            for ctr in c.containers.list(all=True):
                ctr.remove(force=True)
        finally:
            c.close()


@pytest.fixture(scope="session")
def busybox(client):
    """The `busybox:latest` image, imported from busybox-static."""
    client.api.import_image_from_data(
        busybox_rootfs_tar(), repository="busybox", tag="latest", changes=['CMD ["sh"]'])
    return client.images.get("busybox:latest")


@pytest.fixture
def unique():
    """A name no other test uses."""
    return f"berth-py-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cleanup(client):
    """Collects containers (or names) to remove when the test ends, passed or not."""
    names = []
    yield names
    for name in names:
        try:
            client.api.remove_container(getattr(name, "id", name), force=True)
        except docker.errors.NotFound:
            pass
