#!/usr/bin/env bash
# The main job on a fresh machine: install what Berth needs, build it, make a busybox bundle from Debian's
# busybox-static (no registry), and run a container from it with the built-in runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (containers need namespaces and cgroups)" >&2; exit 1; }
scripts/install-deps.sh
cargo build --release -p berth
berth=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
id=demo-$$
cleanup() { "$berth" runtime --root "$work/state" delete --force "$id" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/bundle/rootfs/bin"
cp "$(command -v busybox)" "$work/bundle/rootfs/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/bundle/rootfs/bin/$a"; done
"$berth" runtime spec --bundle "$work/bundle"
jq '.process.terminal = false
    | .process.args = ["sh", "-c", "echo hello from a berth container: $(hostname), pid $$; ps"]' \
  "$work/bundle/config.json" > "$work/config.json" && mv "$work/config.json" "$work/bundle/config.json"
"$berth" runtime --root "$work/state" run --bundle "$work/bundle" "$id"
