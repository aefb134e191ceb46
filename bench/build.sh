#!/usr/bin/env bash
# bench/build.sh — the builder's benchmark (issue #11): the 3-step Dockerfile of the peers' README
# (FROM busybox, a RUN, a COPY of a small context), cold (`--no-cache`, the base image present)
# and fully cached, side by side: the berth CLI and the docker CLI (legacy builder) against a
# Berth daemon, and, when installed, Debian's docker.io (the legacy builder and BuildKit, with its
# 20.10 CLI's built-in BuildKit client) and podman (buildah). Prints medians and the issue's
# targets (berth CLI: cached <= 20 ms, cold <= 150 ms).
#
# Usage (as root):  bench/build.sh              # N=20 timed builds per engine and kind, 3 warm-up
#                   N=50 WARMUP=5 bench/build.sh
#                   BERTH=/path/to/target/release/berth bench/build.sh   # skip the build
#                   PEERS=0 bench/build.sh       # Berth only
#
# Everything is started by this script and stopped by it (by PID, EXIT trap): a Berth daemon,
# dockerd (which starts its own containerd; no bridge, no iptables) and podman, each with its data
# and state under one temp dir, in a private mount namespace. Every engine gets the same busybox
# image, imported from Debian's busybox-static. Builds run with `--network none` where the
# engine takes it, so no engine pays for networking.
set -euo pipefail
export LC_ALL=C

N=${N:-20}
WARMUP=${WARMUP:-3}
PEERS=${PEERS:-1}
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

[[ $(id -u) == 0 ]] || { echo "bench/build.sh: run as root (engines need it)" >&2; exit 1; }
if [[ -z ${BERTH_BENCH_PRIVATE_NS:-} ]]; then
  exec unshare --mount --propagation private env BERTH_BENCH_PRIVATE_NS=1 "$0" "$@"
fi

log() { echo "[build] $*" >&2; }

WORK=$(mktemp -d /tmp/berth-build-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT   # until the engines start; then cleanup() below

build_berth
DOCKER_CLI=$(command -v docker || true)        # the CLI 28 (no buildx: the legacy builder)
DOCKER_20=/usr/bin/docker                      # Debian's 20.10 CLI: BuildKit built in
HAVE_DOCKERD=$([[ $PEERS == 1 ]] && command -v dockerd || true)
HAVE_PODMAN=$([[ $PEERS == 1 ]] && command -v podman || true)

export DOCKER_CONFIG=$WORK/docker-cli
mkdir -p "$DOCKER_CONFIG" && echo '{}' >"$DOCKER_CONFIG/config.json"
BERTH_PID= DOCKERD_PID=
MOUNTED=() MADE_DIRS=()
SHM_LOCK=/dev/shm/libpod_lock
SHM_LOCK_EXISTED=$([[ -e $SHM_LOCK ]] && echo 1 || true)
PODMAN="podman --root $WORK/podman/root --runroot $WORK/podman/run --tmpdir $WORK/podman/tmp
  --cgroup-manager=cgroupfs --events-backend=file"
export CONTAINERS_CONF=$WORK/containers.conf

cleanup() {
  set +e
  if [[ -n $HAVE_PODMAN ]]; then $PODMAN rm -af -t 0 >/dev/null 2>&1; fi
  stop_pid "$DOCKERD_PID"   # dockerd stops its own containerd
  stop_pid "$BERTH_PID"
  grep -o " $WORK[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for mp in "${MOUNTED[@]}"; do find "$mp" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; done
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do release_hierarchy "${MOUNTED[$i]}"; done
  for d in "${MADE_DIRS[@]}"; do rmdir "$d" 2>/dev/null; done
  [[ -n $SHM_LOCK_EXISTED ]] || rm -f "$SHM_LOCK"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the image and the context ------------------------------------------------------------------
BUSYBOX=$(command -v busybox || true)
[[ -n $BUSYBOX ]] || { echo "bench/build.sh: install Debian's busybox-static" >&2; exit 1; }
busybox_tar "$WORK/rootfs"
CTX=$WORK/context
mkdir -p "$CTX/src"
cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN echo hello > /hello
COPY . /app
EOF
echo 'echo hi' >"$CTX/src/main.sh"
printf 'one\ntwo\n' >"$CTX/src/data.txt"
echo 'a small context' >"$CTX/README"

# --- engines ----------------------------------------------------------------------------------------
ENGINES=()   # labels, each with a build command prefix in BUILD[label]
declare -A BUILD

log "starting the berth daemon"
"$BERTH" daemon -H "unix://$WORK/berth.sock" --data-root "$WORK/berth/data" \
  --exec-root "$WORK/berth/run" >"$WORK/berth.log" 2>&1 &
BERTH_PID=$!
wait_sock "$WORK/berth.sock" "$BERTH_PID" berth
import_busybox "$BERTH" -H "unix://$WORK/berth.sock"
BUILD[berth]="$BERTH -H unix://$WORK/berth.sock build -q --network none"
ENGINES+=(berth)
if [[ -n $DOCKER_CLI ]]; then
  BUILD[docker-cli/berth]="env DOCKER_BUILDKIT=0 $DOCKER_CLI -H unix://$WORK/berth.sock build -q --network none"
  ENGINES+=("docker-cli/berth")
fi

if [[ -n $HAVE_DOCKERD && -x $DOCKER_20 ]]; then
  start_dockerd "$DOCKER_20"
  import_busybox "$DOCKER_20" -H "unix://$WORK/docker.sock"
  BUILD[docker-legacy]="env DOCKER_BUILDKIT=0 $DOCKER_20 -H unix://$WORK/docker.sock build -q --network none"
  BUILD[docker-buildkit]="env DOCKER_BUILDKIT=1 $DOCKER_20 -H unix://$WORK/docker.sock build -q --network none"
  ENGINES+=(docker-legacy docker-buildkit)
else
  log "dockerd or Debian's docker CLI is missing: docker skipped"
fi

if [[ -n $HAVE_PODMAN ]]; then
  setup_podman
  BUILD[podman]="$PODMAN build -q --network none"
  ENGINES+=(podman)
else
  log "podman is missing: skipped"
fi

# --- timing -------------------------------------------------------------------------------------
build() { # label [--no-cache]
  local e=$1; shift
  ${BUILD[$e]} "$@" "$CTX" >/dev/null 2>"$WORK/last.err" || { cat "$WORK/last.err" >&2; exit 1; }
}
stamp() { # label kind build-args...: times one build into WORK/times-<kind>-<label>
  local e=$1 kind=$2 t0 t1; shift 2
  t0=$(now_ms); build "$e" "$@"; t1=$(now_ms)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >>"$WORK/times-$kind-${e//[^a-z]/_}"
}

for e in "${ENGINES[@]}"; do
  for ((i = 0; i < WARMUP; i++)); do build "$e" --no-cache; build "$e"; done
done
log "timing $N cold and $N cached builds per engine, in rotation"
for ((i = 0; i < N; i++)); do
  for e in "${ENGINES[@]}"; do
    stamp "$e" cold --no-cache
    stamp "$e" cached
  done
done

# --- report -------------------------------------------------------------------------------------
verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { print (v <= lim ? "met" : "NOT met") }'; }
declare -A COLD CACHED
for e in "${ENGINES[@]}"; do
  COLD[$e]=$(median <"$WORK/times-cold-${e//[^a-z]/_}")
  CACHED[$e]=$(median <"$WORK/times-cached-${e//[^a-z]/_}")
done
echo
echo "3-step build (FROM busybox, RUN, COPY of a small context): median of $N (ms)"
printf '  %-18s %10s %10s\n' engine cold cached
for e in "${ENGINES[@]}"; do printf '  %-18s %10s %10s\n' "$e" "${COLD[$e]}" "${CACHED[$e]}"; done
echo "targets (berth CLI): cold ${COLD[berth]} ms <= 150: $(verdict "${COLD[berth]}" 150);" \
  "cached ${CACHED[berth]} ms <= 20: $(verdict "${CACHED[berth]}" 20)"
