"""docker-py against Berth: pull, push and login with registries (issue #10).

Each test runs against both registries Berth must work with, each started by the test on a free
loopback port with its own storage and stopped by PID: Berth's own server (`berth registry serve`)
and Debian's `docker-registry` (distribution 2.x). docker-py talks to the Berth daemon, which talks
to the registry.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
import warnings

import docker
import pytest

from conftest import berth_binary, wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash as `htpasswd -B` writes it (through the C library's crypt)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    assert h and h.startswith("$2"), "the C library's crypt has no bcrypt"
    return h


class Registry:
    """A registry process on 127.0.0.1:<free port>; `kind` is "berth", "berth-token" (Berth's
    server with token auth, its own token server) or "distribution"."""

    def __init__(self, kind: str, user=None):
        self.kind = kind
        self.user = user
        self.dir = tempfile.mkdtemp(prefix=f"berth-py-registry-{kind}.")
        self.addr = f"127.0.0.1:{free_port()}"
        self.proc = None

    def start(self):
        htpasswd = None
        if self.user:
            htpasswd = os.path.join(self.dir, "htpasswd")
            with open(htpasswd, "w") as f:
                f.write(f"{self.user[0]}:{bcrypt_hash(self.user[1])}\n")
        storage = os.path.join(self.dir, "storage")
        if self.kind.startswith("berth"):
            cmd = [str(berth_binary()), "registry", "serve", "--addr", self.addr, "--root", storage]
            if htpasswd:
                cmd += ["--htpasswd", htpasswd]
            if self.kind == "berth-token":
                cmd += ["--token-auth"]
        else:
            config = os.path.join(self.dir, "config.yml")
            text = (f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
                    f"http:\n  addr: {self.addr}\n")
            if htpasswd:
                text += f"auth:\n  htpasswd:\n    realm: berth-test\n    path: {htpasswd}\n"
            with open(config, "w") as f:
                f.write(text)
            cmd = ["docker-registry", "serve", config]
        log = open(os.path.join(self.dir, "registry.log"), "wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()

        def serving():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.kind} registry exited:\n{self.log()}")
            try:
                urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=2)
                return True
            except urllib.error.HTTPError as e:
                return e.code == 401
            except OSError:
                return False

        wait_until(f"the {self.kind} registry on {self.addr}", serving, timeout=20)

    def log(self) -> str:
        try:
            with open(os.path.join(self.dir, "registry.log"), errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def get(self, path: str, auth=None, scope=None) -> bytes:
        req = urllib.request.Request(f"http://{self.addr}/v2/{path}")
        if auth and self.kind == "berth-token":
            # The token flow by hand: a token for `scope`, then the request with it.
            token_req = urllib.request.Request(
                f"http://{self.addr}/token?service=berth-registry&scope={scope}")
            basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            token_req.add_header("Authorization", f"Basic {basic}")
            with urllib.request.urlopen(token_req, timeout=10) as r:
                token = json.loads(r.read())["token"]
            req.add_header("Authorization", f"Bearer {token}")
            auth = None
        req.add_header("Accept", "application/vnd.oci.image.manifest.v1+json, "
                                 "application/vnd.docker.distribution.manifest.v2+json")
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=15)
        shutil.rmtree(self.dir, ignore_errors=True)


KINDS = ["berth", "distribution"]


@pytest.fixture(params=KINDS)
def registry(request):
    r = Registry(request.param)
    try:
        r.start()
        yield r
    finally:
        r.stop()


@pytest.fixture(params=KINDS + ["berth-token"])
def auth_registry(request):
    r = Registry(request.param, user=("berth", "s3cret"))
    try:
        r.start()
        yield r
    finally:
        r.stop()


def stream_ok(lines):
    """Decoded progress lines, failing on an in-band error."""
    lines = list(lines)
    errors = [l for l in lines if "error" in l or "errorDetail" in l]
    assert not errors, errors
    return lines


def test_push_pull_run_round_trip(client, busybox, registry, unique):
    repo = f"{registry.addr}/{unique}"
    assert busybox.tag(repo, "v1")
    pushed = stream_ok(client.images.push(repo, tag="v1", stream=True, decode=True))
    assert {"status": f"The push refers to repository [{repo}]"} in pushed
    aux = [l["aux"] for l in pushed if "aux" in l]
    assert len(aux) == 1 and aux[0]["Tag"] == "v1", pushed
    digest = aux[0]["Digest"]
    manifest = json.loads(registry.get(f"{unique}/manifests/v1"))
    assert all(l["mediaType"].endswith("gzip") for l in manifest["layers"]), manifest
    assert f"{repo}@{digest}" in client.images.get(f"{repo}:v1").attrs["RepoDigests"]
    client.images.remove(f"{repo}:v1")
    pulled = client.images.pull(repo, tag="v1")
    assert pulled.id == busybox.id
    assert f"{repo}@{digest}" in pulled.attrs["RepoDigests"]
    out = client.containers.run(f"{repo}:v1", ["echo", "round-trip"], remove=True)
    assert out == b"round-trip\n"
    # By digest too, and a second push finds every layer there.
    assert client.images.pull(f"{repo}@{digest}").id == busybox.id
    again = stream_ok(client.images.push(repo, tag="v1", stream=True, decode=True))
    statuses = {l.get("status") for l in again}
    assert "Layer already exists" in statuses and "Pushed" not in statuses, again
    client.images.remove(f"{repo}:v1")


def test_push_without_a_tag_pushes_every_local_tag(client, busybox, registry, unique):
    repo = f"{registry.addr}/{unique}"
    for tag in ("a", "b"):
        assert busybox.tag(repo, tag)
    pushed = stream_ok(client.api.push(repo, stream=True, decode=True))
    assert sorted(l["aux"]["Tag"] for l in pushed if "aux" in l) == ["a", "b"], pushed
    tags = json.loads(registry.get(f"{unique}/tags/list"))["tags"]
    assert sorted(tags) == ["a", "b"]
    for tag in ("a", "b"):
        client.images.remove(f"{repo}:{tag}")
    with pytest.raises(docker.errors.NotFound):
        client.api.push(f"{registry.addr}/{unique}-none")


def test_pulling_what_is_not_there_is_not_found(client, registry, unique):
    with pytest.raises(docker.errors.NotFound):
        client.images.pull(f"{registry.addr}/{unique}", tag="nope")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(f"{registry.addr}/{unique}:nope")


def test_login_and_pull_push_with_credentials(client, busybox, auth_registry, unique):
    reg = auth_registry
    repo = f"{reg.addr}/{unique}"
    with pytest.raises(docker.errors.APIError) as refused:
        client.login(username="berth", password="wrong", registry=reg.addr, reauth=True)
    assert refused.value.response.status_code == 401
    # Docker's words: "login attempt to … failed with status: 401 Unauthorized" (basic auth),
    # "Get "…/v2/": unauthorized: …" (the token server's refusal).
    assert "401 Unauthorized" in str(refused.value) or "unauthorized:" in str(refused.value)
    answer = client.login(username="berth", password="s3cret", registry=reg.addr, reauth=True)
    assert answer["Status"] == "Login Succeeded"
    creds = {"username": "berth", "password": "s3cret"}
    assert busybox.tag(repo, "v1")
    stream_ok(client.images.push(repo, tag="v1", stream=True, decode=True, auth_config=creds))
    listed = reg.get(f"{unique}/tags/list", auth=("berth", "s3cret"),
                     scope=f"repository:{unique}:pull")
    assert json.loads(listed)["tags"] == ["v1"]
    # Anonymous: refused.
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        reg.get(f"{unique}/tags/list")
    assert anonymous.value.code == 401
    client.images.remove(f"{repo}:v1")
    pulled = client.images.pull(repo, tag="v1", auth_config=creds)
    assert pulled.id == busybox.id
    client.images.remove(f"{repo}:v1")
    # Credentials the registry refuses: dockerd's 500 in the registry's words, nothing pulled.
    with pytest.raises(docker.errors.APIError) as bad:
        client.images.pull(repo, tag="v1", auth_config={"username": "berth", "password": "wrong"})
    assert bad.value.response.status_code == 500, bad.value
    assert "unauthorized: " in str(bad.value), bad.value
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(f"{repo}:v1")
