#!/usr/bin/env python3
"""Writes docs/compat.md: every Docker Engine API 1.50 endpoint and every docker CLI command, with
its state in Berth (works / partial / refused) and the reason when it is not "works".

Where the rows come from, so that none can be missed:
- endpoints: the Engine API specification (`--spec`, else $BERTH_API_SPEC, else
  ../shared/reference/docker-engine-api-v1.50.yaml beside the checkout);
- which endpoints Berth serves: the daemon's route table (crates/daemon/src/server/mod.rs: its
  `.route(...)` calls and the swarm prefixes its fallback answers 503);
- CLI commands: the docker CLI's own help (`docker --help`, `docker <group> --help`);
- which commands Berth's CLI has: `berth <command> --help` (`--berth`, else target/debug/berth).

An endpoint the daemon routes "works", a command `berth` knows "works", unless a note below says
"partial" (with what is missing). Anything else needs a note saying why it is refused; a row
without one, a note for a row that no longer exists, or a "works"/"partial" note on something
Berth does not serve, is an error. Options and daemon settings (`OPTION_NOTES`) are listed by hand
in a last table. `--check` regenerates the page in memory and fails (exit 1)
when docs/compat.md differs or any of those errors is found; `cargo test -p berth --test docker
compat` runs it.

Usage: scripts/compat.py [--check] [--spec PATH] [--berth PATH] [--docker PATH]
"""

import argparse
import difflib
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "compat.md")
ROUTES = os.path.join(ROOT, "crates", "daemon", "src", "server", "mod.rs")
DEFAULT_SPEC = os.path.join(ROOT, "..", "shared", "reference", "docker-engine-api-v1.50.yaml")

SWARM_REASON = "swarm mode is not built: answered 503 as a daemon outside a swarm"

# Endpoints: "METHOD /path" (as the specification writes it) -> (status, reason).
API_NOTES = {
    "GET /containers/{id}/attach/ws": (
        "refused",
        "the websocket attach is not built; clients attach with POST /containers/{id}/attach",
    ),
    "POST /build": (
        "partial",
        "the classic builder (version=1); BuildKit (version=2) is refused by name",
    ),
    "POST /session": (
        "refused",
        "BuildKit sessions are not built: Berth builds with the classic builder",
    ),
    "PUT /volumes/{name}": (
        "refused",
        "updates only cluster volumes, which need swarm mode (not built)",
    ),
    "GET /plugins": (
        "partial",
        "always empty: managed plugins (docker plugin install) are not built; volume plugins are "
        "found through their spec files, as Docker's legacy plugins",
    ),
    "GET /plugins/{name}/json": (
        "partial",
        "always Docker's 404 \"plugin not found\": managed plugins are not built",
    ),
    "GET /plugins/privileges": ("refused", "managed plugins are not built"),
    "POST /plugins/pull": ("refused", "managed plugins are not built"),
    "DELETE /plugins/{name}": ("refused", "managed plugins are not built"),
    "POST /plugins/{name}/enable": ("refused", "managed plugins are not built"),
    "POST /plugins/{name}/disable": ("refused", "managed plugins are not built"),
    "POST /plugins/{name}/upgrade": ("refused", "managed plugins are not built"),
    "POST /plugins/create": ("refused", "managed plugins are not built"),
    "POST /plugins/{name}/push": ("refused", "managed plugins are not built"),
    "POST /plugins/{name}/set": ("refused", "managed plugins are not built"),
}

# CLI commands: "group sub" or "command" -> (status, reason).
CLI_NOTES = {
    "builder prune": (
        "works",
        "the classic builder's cache is unused between builds, so --all prunes what the default "
        "does; --filter and --keep-storage are refused by name (the cache keeps no ages or sizes "
        "per entry)",
    ),
    "checkpoint create": ("refused", "checkpoint and restore (CRIU) are not built"),
    "checkpoint ls": ("refused", "checkpoint and restore (CRIU) are not built"),
    "checkpoint rm": ("refused", "checkpoint and restore (CRIU) are not built"),
    "volume update": (
        "refused",
        "updates only cluster volumes, which need swarm mode (not built)",
    ),
}
for _sub in ["create", "export", "import", "inspect", "ls", "rm", "show", "update", "use"]:
    CLI_NOTES["context " + _sub] = (
        "refused",
        "client-side in docker; berth has no contexts: it reaches a daemon through -H or "
        "DOCKER_HOST (docker contexts work against Berth)",
    )
for _sub in ["annotate", "create", "inspect", "push", "rm"]:
    CLI_NOTES["manifest " + _sub] = (
        "refused",
        "client-side in docker (it talks to the registry, not the daemon); not in berth's CLI",
    )
for _sub in ["create", "disable", "enable", "inspect", "install", "ls", "push", "rm", "set",
             "upgrade"]:
    CLI_NOTES["plugin " + _sub] = (
        "refused",
        "managed plugins are not built; volume plugins are found through their spec files",
    )
for _sub in ["inspect", "revoke", "sign"]:
    CLI_NOTES["trust " + _sub] = (
        "refused",
        "Docker Content Trust (Notary signatures) is not built",
    )

# Options and daemon settings the tables of endpoints and commands do not show one by one:
# (option, status, notes).
OPTION_NOTES = [
    (
        "docker run --runtime NAME / docker create --runtime NAME (HostConfig.Runtime)",
        "works",
        "`runc` (Docker's default name) and `berth` are the built-in runtime; any name from "
        "daemon.json `runtimes` or `--add-runtime` is that runc-compatible executable (runc, "
        "crun), driven by the container's shim; an unknown name is Docker's 400 `unknown or "
        "invalid runtime name: NAME`; inspect shows the name",
    ),
    (
        "dockerd --add-runtime NAME=PATH / daemon.json `runtimes`",
        "partial",
        "`{\"NAME\": {\"path\": ..., \"runtimeArgs\": [...]}}`, reloaded on SIGHUP, listed by "
        "docker info; `runc` and `berth` are reserved; containerd shim types (`runtimeType`, "
        "`options`) are refused by name (see docs/daemon-json.md)",
    ),
    (
        "dockerd --default-runtime NAME / daemon.json `default-runtime`",
        "works",
        "reloaded on SIGHUP; docker info shows it as DefaultRuntime",
    ),
    (
        "dockerd --userns-remap default|USER[:GROUP]|UID[:GID] / daemon.json `userns-remap`",
        "partial",
        "as dockerd: `default` makes `dockremap` with a subordinate range; the maps are every "
        "/etc/subuid and /etc/subgid range of the user (none: the daemon does not start); data "
        "root `<data-root>/<uid>.<gid>` with layers owned by the range (commit, save, export, cp "
        "and build see the image's owners); docker info lists `name=userns`; `--ipc "
        "container:X` in a remapped container is refused by name (see docs/security.md, ISO-27)",
    ),
    (
        "docker run --userns host / docker create --userns host (HostConfig.UsernsMode)",
        "works",
        "opts a container out of the daemon's remapping; `--privileged`, `--pid host` and "
        "`--network host` need it on a remapped daemon (Docker's errors); any other value is "
        "Docker's 400 `invalid UsernsMode`",
    ),
]

# The docker CLI's groups of swarm commands.
SWARM_GROUPS = {"config", "node", "secret", "service", "stack", "swarm"}


class Problems(list):
    def add(self, text):
        self.append(text)


def spec_endpoints(path):
    """[(tag, method, path, operationId)] in the specification's order."""
    try:
        import yaml
    except ImportError:
        sys.exit("compat.py: PyYAML is needed to read the API specification (apt install python3-yaml)")
    try:
        with open(path, encoding="utf-8") as f:
            spec = yaml.safe_load(f)
    except FileNotFoundError:
        # A checkout without the specification beside it (CI's fresh clone): the endpoint rows
        # of the page itself stand in for it, so routes, notes and commands are still checked.
        print(f"compat.py: no API specification at {path}: endpoints taken from docs/compat.md",
              file=sys.stderr)
        return doc_endpoints()
    except OSError as e:
        sys.exit(f"compat.py: cannot read the API specification {path}: {e} (give --spec or BERTH_API_SPEC)")
    out = []
    for p, ops in spec["paths"].items():
        for method, op in ops.items():
            if method in ("get", "post", "put", "delete", "head"):
                tag = (op.get("tags") or ["Other"])[0]
                out.append((tag, method.upper(), p, op.get("operationId", "")))
    return out


def doc_endpoints():
    """[(tag, method, path, operationId)] as docs/compat.md lists them."""
    try:
        with open(DOC, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        sys.exit(f"compat.py: neither the API specification nor {DOC} can be read: {e}")
    out, tag, in_api = [], None, False
    for line in text.splitlines():
        if line.startswith("## "):
            in_api = line == "## Engine API endpoints"
        elif in_api and line.startswith("### "):
            tag = line[4:].strip()
        elif in_api and tag:
            m = re.match(r"^\| `(GET|POST|PUT|DELETE|HEAD) ([^`]+)` \| (\w*) \|", line)
            if m:
                out.append((tag, m.group(1), m.group(2), m.group(3)))
    if not out:
        sys.exit(f"compat.py: no endpoint rows in {DOC} and no API specification")
    return out


def route_table(path):
    """The daemon's routes as [(regex, {methods})] and its swarm prefixes."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    routes = []
    for m in re.finditer(r'\.route\(\s*"([^"]+)",(.*?)\)\s*(?=\.route\(|\.fallback\()', text, re.S):
        route, handlers = m.group(1), m.group(2)
        methods = {x.upper() for x in re.findall(r"(?<![\w])(get|post|put|delete|head)\(", handlers)}
        if not methods:
            continue
        pattern = re.sub(r"\\\{\\\*\w+\\\}", ".+", re.escape(route))
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", pattern)
        routes.append((re.compile("^" + pattern + "$"), methods))
    swarm = re.search(r"const SWARM: &\[&str\] = &\[(.*?)\];", text, re.S)
    prefixes = re.findall(r'"(\w+)"', swarm.group(1)) if swarm else []
    if not routes:
        sys.exit(f"compat.py: found no routes in {path}")
    return routes, prefixes


def routed(routes, method, path):
    sample = re.sub(r"\{\w+\}", "x", path)
    # GET routes serve HEAD in axum only when asked; the table says which methods each has.
    return any(r.match(sample) and method in methods for r, methods in routes)


def api_rows(endpoints, routes, swarm, problems):
    rows = []
    seen = set()
    for tag, method, path, op in endpoints:
        key = f"{method} {path}"
        seen.add(key)
        note = API_NOTES.get(key)
        served = routed(routes, method, path)
        first = path.strip("/").split("/")[0]
        if served:
            status, reason = note if note else ("works", "")
        elif first in swarm:
            status, reason = note if note else ("refused", SWARM_REASON)
        elif note is None:
            problems.add(f"endpoint {key}: not routed by the daemon and no note says why")
            continue
        else:
            status, reason = note
        if not served and status != "refused":
            problems.add(f"endpoint {key}: noted {status!r} but the daemon does not route it")
        rows.append((tag, key, op, status, reason))
    for key in API_NOTES:
        if key not in seen:
            problems.add(f"note for {key}: no such endpoint in the specification")
    return rows


def run(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        sys.exit(f"compat.py: running {' '.join(cmd)}: {e}")
    return p.returncode, p.stdout + p.stderr


def help_sections(docker, args):
    """{section title: [command names]} of `docker ARGS --help`."""
    code, text = run([docker, *args, "--help"])
    if code != 0:
        sys.exit(f"compat.py: {docker} {' '.join(args)} --help failed: {text}")
    sections, current = {}, None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            current = line[:-1]
            sections[current] = []
        elif current and line.startswith("  ") and not line.lstrip().startswith("-"):
            word = line.split()[0]
            if re.fullmatch(r"[a-z][a-z0-9-]*\*?", word):
                sections[current].append(word.rstrip("*"))
        elif not line.strip():
            current = None
    return sections


def docker_commands(docker):
    """[(group, command words)]: top-level commands, then each group's subcommands."""
    top = help_sections(docker, [])
    out = []
    for title in ("Common Commands", "Commands"):
        out += [("Commands", c) for c in top.get(title, [])]
    groups = top.get("Management Commands", []) + top.get("Swarm Commands", [])
    for g in groups:
        for sub in help_sections(docker, [g]).get("Commands", []):
            out.append((g, f"{g} {sub}"))
    seen, unique = set(), []
    for g, c in out:
        if c not in seen:
            seen.add(c)
            unique.append((g, c))
    return unique


def berth_has(berth, words):
    code, _ = run([berth, *words.split(), "--help"])
    return code == 0


def cli_rows(commands, berth, problems):
    rows = []
    names = {c for _, c in commands}
    for group, cmd in commands:
        note = CLI_NOTES.get(cmd)
        has = berth_has(berth, cmd)
        if has:
            status, reason = note if note else ("works", "")
        elif group in SWARM_GROUPS:
            status, reason = note if note else ("refused", "swarm mode is not built")
        elif note is None:
            problems.add(f"command docker {cmd}: berth does not have it and no note says why")
            continue
        else:
            status, reason = note
        if not has and status == "works":
            problems.add(f"command docker {cmd}: noted 'works' but berth does not have it")
        rows.append((group, cmd, status, reason))
    for key in CLI_NOTES:
        if key not in names:
            problems.add(f"note for docker {key}: the docker CLI has no such command")
    return rows


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |")
    return out


def counts(statuses):
    return ", ".join(f"{statuses.count(s)} {s}" for s in ("works", "partial", "refused"))


def render(api, cli):
    lines = [
        "# Docker compatibility",
        "",
        "<!-- Generated by scripts/compat.py; do not edit: change its notes and run it. -->",
        "",
        "Every endpoint of the Docker Engine API 1.50 and every command of the docker CLI, with "
        "its state in Berth: **works** (as Docker does), **partial** (served, with the limits "
        "said) or **refused** (answered with an error that names what Berth does not do). The "
        "rows come from the API specification, the daemon's route table "
        "(`crates/daemon/src/server/mod.rs`), the docker CLI's help and berth's own commands, so "
        "none can be missing; `scripts/compat.py --check` (run by `cargo test -p berth --test "
        "docker compat`) fails when this page is stale or a row has no status. A command's "
        "state is that of `berth`'s CLI; the docker CLI itself works against Berth wherever "
        "the endpoints it calls do.",
        "",
        f"Endpoints: {counts([r[3] for r in api])}. "
        f"CLI commands: {counts([r[2] for r in cli])}.",
        "",
        "## Engine API endpoints",
    ]
    for tag in dict.fromkeys(r[0] for r in api):
        lines += ["", f"### {tag}", ""]
        lines += table(
            ["Endpoint", "Operation", "Status", "Notes"],
            [(f"`{k}`", op, s, reason) for t, k, op, s, reason in api if t == tag],
        )
    lines += ["", "## docker CLI commands"]
    for group in dict.fromkeys(r[0] for r in cli):
        title = "Top-level commands" if group == "Commands" else f"docker {group}"
        lines += ["", f"### {title}", ""]
        lines += table(
            ["Command", "Status", "Notes"],
            [(f"`docker {c}`", s, reason) for g, c, s, reason in cli if g == group],
        )
    lines += ["", "## Options and daemon settings", ""]
    lines += table(["Option", "Status", "Notes"], OPTION_NOTES)
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if docs/compat.md is stale")
    ap.add_argument("--spec", default=os.environ.get("BERTH_API_SPEC", DEFAULT_SPEC))
    ap.add_argument("--berth", default=os.path.join(ROOT, "target", "debug", "berth"))
    ap.add_argument("--docker", default="docker")
    args = ap.parse_args()
    problems = Problems()
    routes, swarm = route_table(ROUTES)
    api = api_rows(spec_endpoints(args.spec), routes, swarm, problems)
    if not os.access(args.berth, os.X_OK):
        sys.exit(f"compat.py: no berth binary at {args.berth} (cargo build -p berth, or --berth)")
    cli = cli_rows(docker_commands(args.docker), args.berth, problems)
    text = render(api, cli)
    for p in problems:
        print(f"compat.py: {p}", file=sys.stderr)
    if args.check:
        try:
            with open(DOC, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = ""
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(), text.splitlines(), "docs/compat.md", "generated", lineterm=""
            )
            print("\n".join(diff), file=sys.stderr)
            print("compat.py: docs/compat.md is stale: run scripts/compat.py", file=sys.stderr)
            return 1
        return 1 if problems else 0
    if problems:
        return 1
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
