#!/usr/bin/env bash
# The main job on a fresh machine: install what Berth needs, build it, start the daemon, make a busybox
# base image from Debian's busybox-static (no registry), and run containers through the CLI. Everything
# lives in a temp dir (data root, exec root, socket) that is removed at the end, daemon stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (containers need namespaces and cgroups)" >&2; exit 1; }
scripts/install-deps.sh
cargo build --release -p berth -p berth-shim -p berth-init
berth=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
sock=unix://$work/berth.sock
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then
    "$berth" -H "$sock" rm -f demo-web >/dev/null 2>&1 || true
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== starting the daemon (data root $work/data)"
"$berth" daemon -H "$sock" --data-root "$work/data" --exec-root "$work/run" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$work/berth.sock" ] && break; sleep 0.1; done
[ -S "$work/berth.sock" ] || { cat "$work/daemon.log"; echo "daemon did not start" >&2; exit 1; }

echo "== importing busybox from busybox-static as busybox:latest"
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp "$(command -v busybox)" "$work/rootfs/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$work/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/rootfs/etc/group"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
"$berth" -H "$sock" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest
"$berth" -H "$sock" images

echo "== running a container"
"$berth" -H "$sock" run --rm busybox sh -c 'echo "hello from a berth container: $(hostname), pid $$"; ps'
"$berth" -H "$sock" run -d --name demo-web busybox sh -c 'while :; do date; sleep 1; done' >/dev/null
"$berth" -H "$sock" ps
"$berth" -H "$sock" stop -t 1 demo-web >/dev/null
"$berth" -H "$sock" logs demo-web | head -3
"$berth" -H "$sock" rm demo-web >/dev/null
