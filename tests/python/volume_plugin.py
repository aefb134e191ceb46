"""A small volume plugin for the docker-py and docker-compose tests: it serves Docker's plugin
protocol (`/Plugin.Activate`, `/VolumeDriver.*`, JSON over HTTP/1.1) on a UNIX socket in
/run/docker/plugins from a thread of the test process, and keeps each volume as a directory of
its own temp dir, as a simple driver would. It is the Python twin of the Rust suite's test plugin
(crates/berth/tests/common/volume_plugin.rs): a real plugin the daemon talks to, not a mock of
the daemon. Every call is recorded (method and JSON body) so tests assert what the daemon sent."""

import json
import os
import shutil
import socketserver
import tempfile
import threading
from http.server import BaseHTTPRequestHandler

PLUGIN_DIR = "/run/docker/plugins"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # a UNIX socket has no client address to log
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        method = self.path.lstrip("/")
        status, answer = self.server.plugin.answer(method, body or {})
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class VolumePlugin:
    """A running plugin named `name`; `stop()` ends it and removes its socket and volumes."""

    def __init__(self, name):
        self.name = name
        self.socket = os.path.join(PLUGIN_DIR, f"{name}.sock")
        self.root = tempfile.mkdtemp(prefix="berth-py-volplugin.")
        self.volumes = {}  # name -> {"opts": {...}, "mounts": set()}
        self.calls = []  # (method, body)
        self.fail = {}  # method -> Err text
        self.lock = threading.Lock()
        os.makedirs(PLUGIN_DIR, exist_ok=True)
        self.server = _Server(self.socket, _Handler)
        self.server.plugin = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        try:
            os.unlink(self.socket)
        except FileNotFoundError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def path(self, volume):
        return os.path.join(self.root, volume)

    def add(self, volume):
        """A volume made on the plugin's own: the daemon has not seen it."""
        with self.lock:
            os.makedirs(self.path(volume), exist_ok=True)
            self.volumes[volume] = {"opts": {}, "mounts": set()}

    def calls_of(self, method):
        with self.lock:
            return [body for m, body in self.calls if m == method]

    def answer(self, method, body):
        with self.lock:
            self.calls.append((method, body))
            if method == "Plugin.Activate":
                return 200, {"Implements": ["VolumeDriver"]}
            if method in self.fail:
                return 200, {"Err": self.fail[method]}
            name = body.get("Name", "")
            vol = self.volumes.get(name)

            def view(n, v):
                return {"Name": n, "Mountpoint": self.path(n),
                        "Status": {"driver": "py-plugin", "mounts": len(v["mounts"])}}

            if method == "VolumeDriver.Capabilities":
                return 200, {"Capabilities": {"Scope": "local"}}
            if method == "VolumeDriver.List":
                return 200, {"Volumes": [view(n, v) for n, v in sorted(self.volumes.items())],
                             "Err": ""}
            if not name or "/" in name or name in (".", ".."):
                return 200, {"Err": f"bad volume name {name!r}"}
            if method == "VolumeDriver.Create":
                if vol is None:
                    os.makedirs(self.path(name), exist_ok=True)
                    self.volumes[name] = {"opts": body.get("Opts") or {}, "mounts": set()}
                return 200, {"Err": ""}
            if vol is None:
                return 200, {"Err": f"no such volume {name}"}
            if method == "VolumeDriver.Remove":
                if vol["mounts"]:
                    return 200, {"Err": f"volume {name} is mounted"}
                del self.volumes[name]
                shutil.rmtree(self.path(name), ignore_errors=True)
                return 200, {"Err": ""}
            if method == "VolumeDriver.Mount":
                vol["mounts"].add(body.get("ID", ""))
                return 200, {"Mountpoint": self.path(name), "Err": ""}
            if method == "VolumeDriver.Unmount":
                vol["mounts"].discard(body.get("ID", ""))
                return 200, {"Err": ""}
            if method == "VolumeDriver.Path":
                return 200, {"Mountpoint": self.path(name), "Err": ""}
            if method == "VolumeDriver.Get":
                return 200, {"Volume": view(name, vol), "Err": ""}
            return 404, {"Err": f"{method}: not implemented"}
