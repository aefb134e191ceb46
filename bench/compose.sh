#!/usr/bin/env bash
# bench/compose.sh — the Compose benchmark of issue #12, side by side: `up -d` then `down` of a
# 10-service project (2 networks, 1 named volume, no builds) by `berth compose` against a Berth
# daemon and by docker-compose 1.29 against Debian's docker.io (dockerd 20.10); also the two other
# pairings (docker-compose 1.29 against Berth, berth compose against dockerd). Prints the median of
# each step and the ratios against the issue's targets: berth compose's `up -d` at least 10x
# faster than docker-compose's on docker, and under 200 ms.
#
# Usage (as root):  bench/compose.sh                  # N=10 timed rounds per pairing, 1 warm-up
#                   N=20 bench/compose.sh
#                   BERTH=/path/to/target/release/berth bench/compose.sh   # skip the build
#
# Both engines are started by this script, as bench/engine.sh starts them, and stopped by it (by
# PID, EXIT trap): each with its data, state and socket under one temp dir; dockerd without its
# default bridge and without iptables, masquerading or forwarding changes, its user networks in an
# address pool of their own, its trust key and cgroups apart from the host's. Every service traps
# SIGTERM, so `down` measures the engines rather than a 10 s stop timeout. The script runs in a
# private mount namespace, so every mount the engines make dies with it; the bridges of networks
# still there at the end are deleted.
set -euo pipefail
shopt -s inherit_errexit   # a failed step inside $(...) ends the script, naming the step
export LC_ALL=C

N=${N:-10}
WARMUP=${WARMUP:-1}
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

[[ $(id -u) == 0 ]] || { echo "bench/compose.sh: run as root (engines need it)" >&2; exit 1; }
if [[ -z ${BERTH_BENCH_PRIVATE_NS:-} ]]; then
  exec unshare --mount --propagation private env BERTH_BENCH_PRIVATE_NS=1 "$0" "$@"
fi
command -v docker-compose >/dev/null || { echo "bench/compose.sh: docker-compose missing (scripts/install-deps.sh)" >&2; exit 1; }
DOCKER_CLI=$(command -v docker || true)
[[ -n $DOCKER_CLI ]] || { echo "bench/compose.sh: the docker CLI is missing (docker.io)" >&2; exit 1; }
HAVE_DOCKERD=$(command -v dockerd || true)

log() { echo "[compose] $*" >&2; }
BUSYBOX=$(command -v busybox || true)
[[ -n $BUSYBOX ]] || { echo "bench/compose.sh: install Debian's busybox-static" >&2; exit 1; }

build_berth

WORK=$(mktemp -d /tmp/berth-compose-bench.XXXXXX)
export DOCKER_CONFIG=$WORK/docker-cli
mkdir -p "$DOCKER_CONFIG" && echo '{}' >"$DOCKER_CONFIG/config.json"
BERTH_PID= DOCKERD_PID=
BERTH_HOST=unix://$WORK/berth.sock
DOCKER_SOCK=unix://$WORK/docker.sock
CGROUP_PARENT=berth-compose-bench-$$

# remove_all HOST: every container and network of an engine (the bridges of networks go with them).
remove_all() {
  local ids
  ids=$($DOCKER_CLI -H "$1" ps -aq 2>/dev/null || true)
  [[ -z $ids ]] || $DOCKER_CLI -H "$1" rm -f $ids >/dev/null 2>&1
  $DOCKER_CLI -H "$1" network prune -f >/dev/null 2>&1
}

cleanup() {
  set +e
  local bridges=
  if [[ -n $DOCKERD_PID ]]; then
    bridges=$($DOCKER_CLI -H "$DOCKER_SOCK" network ls -q --filter driver=bridge 2>/dev/null)
    remove_all "$DOCKER_SOCK"
  fi
  [[ -z $BERTH_PID ]] || remove_all "$BERTH_HOST"
  stop_pid "$DOCKERD_PID"   # dockerd stops its own containerd
  stop_pid "$BERTH_PID"
  for id in $bridges; do ip link del "br-$id" 2>/dev/null; done
  grep -o " $WORK[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  find /sys/fs/cgroup/*/"$CGROUP_PARENT" -depth -type d -exec rmdir {} + 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- engines ----------------------------------------------------------------------------------------
busybox_tar "$WORK/rootfs"

log "starting the berth daemon"
"$BERTH" daemon -H "$BERTH_HOST" --data-root "$WORK/berth/data" --exec-root "$WORK/berth/run" \
  >"$WORK/berth.log" 2>&1 &
BERTH_PID=$!
wait_sock "$WORK/berth.sock" "$BERTH_PID" berth
import_busybox "$BERTH" -H "$BERTH_HOST"

if [[ -n $HAVE_DOCKERD ]]; then
  echo "{\"deprecated-key-path\": \"$WORK/docker/key.json\"}" >"$WORK/daemon.json"   # not /etc/docker
  start_dockerd "$DOCKER_CLI" --cgroup-parent "/$CGROUP_PARENT" \
    --default-address-pool base=10.199.0.0/16,size=24
  import_busybox "$DOCKER_CLI" -H "$DOCKER_SOCK"
else
  log "dockerd is missing (docker.io): docker skipped, no ratio"
fi

# --- the project --------------------------------------------------------------------------------
mkdir -p "$WORK/project"
{
  echo "services:"
  for i in $(seq 0 9); do
    echo "  s$i:"
    echo "    image: busybox"
    echo "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 100000 & wait\"]"
    if ((i % 2)); then echo "    networks: [front]"; else echo "    networks: [front, back]"; fi
    if ((i == 0)); then echo "    volumes: [data:/data]"; fi
  done
  echo "networks:"
  echo "  front: {}"
  echo "  back: {}"
  echo "volumes:"
  echo "  data: {}"
} >"$WORK/project/compose.yaml"

# ms CMD...: runs CMD quietly, prints its wall time in milliseconds (exits on failure).
ms() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>"$WORK/last.err" || { log "failed: $*"; cat "$WORK/last.err" >&2; exit 1; }
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}

# bench LABEL HOST CLIENT...: WARMUP + N rounds of up -d / down -v (the volume goes each round, so
# every up makes it); prints "LABEL up_ms down_ms". dockerd 20.10 now and then refuses to remove a
# network whose last container it has just removed ("has active endpoints"): such a down is left
# out of the medians (said on stderr) and repeated, untimed, until the project is gone.
bench() {
  local label=$1 host=$2 up=() down=() i j t
  shift 2
  cd "$WORK/project"
  for ((i = 0; i < WARMUP + N; i++)); do
    t=$(DOCKER_HOST=$host ms "$@" -p bench up -d)
    ((i < WARMUP)) || up+=("$t")
    if t=$(DOCKER_HOST=$host ms "$@" -p bench down -v); then
      ((i < WARMUP)) || down+=("$t")
    else
      log "$label: that down -v is left out; taking the project down again"
      for ((j = 0; j < 10; j++)); do
        DOCKER_HOST=$host "$@" -p bench down -v >/dev/null 2>&1 && break
        sleep 0.5
      done
      ((j < 10)) || { log "$label: the project would not go down"; exit 1; }
    fi
  done
  echo "$label $(printf '%s\n' "${up[@]}" | median) $(printf '%s\n' "${down[@]}" | median)"
}

log "timing $N rounds of up -d / down -v per pairing"
declare -A UP DOWN
PAIRS=("berth-compose/berth" "docker-compose-1.29/berth")
[[ -z $DOCKERD_PID ]] || PAIRS+=("docker-compose-1.29/docker" "berth-compose/docker")
for pair in "${PAIRS[@]}"; do
  case $pair in
    berth-compose/berth) r=$(bench "$pair" "$BERTH_HOST" "$BERTH" compose) ;;
    docker-compose-1.29/berth) r=$(bench "$pair" "$BERTH_HOST" docker-compose) ;;
    docker-compose-1.29/docker) r=$(bench "$pair" "$DOCKER_SOCK" docker-compose) ;;
    berth-compose/docker) r=$(bench "$pair" "$DOCKER_SOCK" "$BERTH" compose) ;;
  esac
  read -r _ UP[$pair] DOWN[$pair] <<<"$r"
done

# --- report -------------------------------------------------------------------------------------
echo
echo "10 services, 2 networks, 1 volume: median of $N rounds (ms)"
printf '  %-28s %10s %10s\n' "compose/engine" "up -d" "down -v"
for pair in "${PAIRS[@]}"; do printf '  %-28s %10s %10s\n' "$pair" "${UP[$pair]}" "${DOWN[$pair]}"; done
ours=${UP[berth-compose/berth]}
echo "targets:"
echo "  berth compose up -d < 200 ms: $ours ms ($(awk -v v="$ours" 'BEGIN { print (v < 200 ? "met" : "NOT met") }'))"
if [[ -n ${UP[docker-compose-1.29/docker]:-} ]]; then
  theirs=${UP[docker-compose-1.29/docker]}
  r=$(awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "%.1f", a / (b ? b : 1) }')
  echo "  up -d >= 10x faster than docker-compose 1.29 on docker: ${r}x ($(awk -v r="$r" 'BEGIN { print (r >= 10 ? "met" : "NOT met") }'))"
fi
