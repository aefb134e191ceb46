#!/usr/bin/env bash
# crates/compose/bench/up-down.sh — the Compose benchmark of issue #12, side by side: `up -d` then
# `down` of a 10-service project (2 networks, no builds) by `berth compose` and by docker-compose
# 1.29, both against a Berth daemon this script starts, and against another engine (Debian's
# dockerd) when PEER_HOST names its socket (unix:///path). Prints the median of each step.
#
# Usage (as root):  crates/compose/bench/up-down.sh            # N=10 rounds, release build
#                   BERTH=target/debug/berth N=3 crates/compose/bench/up-down.sh
#                   PEER_HOST=unix:///run/docker.sock crates/compose/bench/up-down.sh
#
# Target (the issue): berth compose `up -d` against Berth at least 10x faster than docker-compose
# against docker, and under 200 ms. The project's volume is left out while the Berth daemon has
# no volumes (POST /volumes/create); VOLUME=1 puts it back. Every service traps SIGTERM so that
# `down` measures the engine, not a 10 s stop timeout. Everything started here is stopped by PID
# on exit; the script runs in a private mount namespace so the daemon's mounts die with it.
set -euo pipefail
export LC_ALL=C

N=${N:-10}
VOLUME=${VOLUME:-0}
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

[[ $(id -u) == 0 ]] || { echo "up-down.sh: run as root" >&2; exit 1; }
if [[ -z ${BERTH_BENCH_PRIVATE_NS:-} ]]; then
  exec unshare --mount --propagation private env BERTH_BENCH_PRIVATE_NS=1 "$0" "$@"
fi
command -v docker-compose >/dev/null || { echo "up-down.sh: docker-compose missing (scripts/install-deps.sh)" >&2; exit 1; }

log() { echo "up-down.sh: $*" >&2; }
BUSYBOX=$(command -v busybox)
WORK=$(mktemp -d /tmp/berth-compose-bench.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z ${BERTH:-} ]]; then
  log "building berth (release)"
  cargo build --release -q -p berth -p berth-shim -p berth-init --manifest-path "$REPO/Cargo.toml"
  BERTH=$REPO/target/release/berth
fi
SHIM=$(dirname "$BERTH")/berth-shim

"$BERTH" daemon --data-root "$WORK/data" --exec-root "$WORK/exec" -H "unix://$WORK/berth.sock" \
  --shim-binary "$SHIM" >"$WORK/berth.log" 2>&1 &
PIDS+=($!)
wait_sock "$WORK/berth.sock" "${PIDS[-1]}" berth
BERTH_HOST=unix://$WORK/berth.sock
busybox_tar "$WORK/rootfs"
DOCKER_HOST=$BERTH_HOST docker import -c 'CMD ["sh"]' "$WORK/busybox.tar" busybox:latest >/dev/null

mkdir -p "$WORK/project"
{
  echo "services:"
  for i in $(seq 0 9); do
    echo "  s$i:"
    echo "    image: busybox"
    echo "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 100000 & wait\"]"
    if ((i % 2)); then echo "    networks: [front]"; else echo "    networks: [front, back]"; fi
    if ((VOLUME && i == 0)); then echo "    volumes: [data:/data]"; fi
  done
  echo "networks:"
  echo "  front: {}"
  echo "  back: {}"
  if ((VOLUME)); then printf 'volumes:\n  data: {}\n'; fi
} >"$WORK/project/compose.yaml"

# ms CMD...: runs CMD quietly, prints its wall time in milliseconds (exits on failure).
ms() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>"$WORK/last.err" || { log "failed: $*"; cat "$WORK/last.err" >&2; exit 1; }
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

# bench LABEL HOST CLIENT...: N rounds of up -d / down; prints "LABEL up_ms down_ms".
bench() {
  local label=$1 host=$2 up=() down=() i
  shift 2
  cd "$WORK/project"
  for ((i = 0; i < N; i++)); do
    up+=("$(DOCKER_HOST=$host ms "$@" -p bench up -d)")
    down+=("$(DOCKER_HOST=$host ms "$@" -p bench down)")
  done
  echo "$label $(printf '%s\n' "${up[@]}" | median) $(printf '%s\n' "${down[@]}" | median)"
}

results=()
results+=("$(bench "berth-compose/berth" "$BERTH_HOST" "$BERTH" compose)")
results+=("$(bench "docker-compose-1.29/berth" "$BERTH_HOST" docker-compose)")
if [[ -n ${PEER_HOST:-} ]]; then
  DOCKER_HOST=$PEER_HOST docker image inspect busybox >/dev/null 2>&1 ||
    DOCKER_HOST=$PEER_HOST docker import -c 'CMD ["sh"]' "$WORK/busybox.tar" busybox:latest >/dev/null
  results+=("$(bench "docker-compose-1.29/peer" "$PEER_HOST" docker-compose)")
  results+=("$(bench "berth-compose/peer" "$PEER_HOST" "$BERTH" compose)")
fi

printf '%-28s %10s %10s\n' "client/engine (N=$N)" "up -d ms" "down ms"
for r in "${results[@]}"; do
  read -r label up down <<<"$r"
  printf '%-28s %10s %10s\n' "$label" "$up" "$down"
done
ours=$(awk '{ print $2 }' <<<"${results[0]}")
theirs=$(awk '{ print $2 }' <<<"${results[-1]}")
[[ -n ${PEER_HOST:-} ]] && theirs=$(awk '{ print $2 }' <<<"${results[2]}")
echo "berth compose up -d: ${ours} ms (target < 200 ms); docker-compose up -d: ${theirs} ms; ratio $(awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "%.1f", a / (b ? b : 1) }')x (target >= 10x against docker)"
