#!/usr/bin/env bash
# bench/registry.sh — push and pull of an image with one ~100 MB layer (half compressible, half
# random) over loopback, side by side: the Berth daemon (through the berth CLI), skopeo, and —
# when installed — Debian's dockerd 20.10 and podman, all against the same Debian docker-registry;
# then the Berth daemon against Berth's own registry server (`berth registry serve`), the same
# client with the other server. Prints medians and the ratios against the registry issue's
# targets (push <= 500 ms, pull <= 350 ms, and at least 2x faster than the best peer).
#
# Usage (as root):  bench/registry.sh             # N=5 timed rounds per client, 1 warm-up
#                   N=9 WARMUP=2 bench/registry.sh
#                   BERTH=/path/to/target/release/berth bench/registry.sh   # skip the build
#                   PEERS=0 bench/registry.sh     # Berth and skopeo only (no dockerd, no podman)
#
# What one round measures, per client:
#   push: a freshly imported image (so its layer is a plain tar, compressed on the way, as a
#         first push does) to an empty registry (storage wiped before the round, not timed);
#   pull: that image back after removing it locally (and, for the engines, its layers: a pull
#         downloads, verifies and unpacks everything). skopeo pulls into an OCI layout, which
#         neither unpacks nor stores layers as an engine does: it is the transfer alone.
# Everything is started by this script and stopped by it (by PID, EXIT trap): the registries,
# a Berth daemon, dockerd (no bridge, no iptables: it never runs a container here) and podman's
# storage, each under one temp dir; the script runs in a private mount namespace, so the mounts
# the engines make die with it.
set -euo pipefail
export LC_ALL=C

N=${N:-5}
WARMUP=${WARMUP:-1}
PEERS=${PEERS:-1}
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

[[ $(id -u) == 0 ]] || { echo "bench/registry.sh: run as root (engines need it)" >&2; exit 1; }
if [[ -z ${BERTH_BENCH_PRIVATE_NS:-} ]]; then
  exec unshare --mount --propagation private env BERTH_BENCH_PRIVATE_NS=1 "$0" "$@"
fi
for tool in docker-registry skopeo curl python3; do
  command -v "$tool" >/dev/null || { echo "bench/registry.sh: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

log() { echo "[registry] $*" >&2; }

WORK=$(mktemp -d /tmp/berth-registry-bench.XXXXXX)
build_berth
HAVE_DOCKERD= HAVE_PODMAN=
if [[ $PEERS == 1 ]]; then
  HAVE_DOCKERD=$(command -v dockerd || true)
  HAVE_PODMAN=$(command -v podman || true)
fi
DOCKER_CLI=$(command -v docker || true)
export DOCKER_CONFIG=$WORK/docker-cli
mkdir -p "$DOCKER_CONFIG" && echo '{}' >"$DOCKER_CONFIG/config.json"
PODMAN="podman --root $WORK/podman/root --runroot $WORK/podman/run --tmpdir $WORK/podman/tmp
  --cgroup-manager=cgroupfs --events-backend=file"
export CONTAINERS_CONF=$WORK/containers.conf
SHM_LOCK=/dev/shm/libpod_lock
SHM_LOCK_EXISTED=$([[ -e $SHM_LOCK ]] && echo 1 || true)
BERTH_PID= DOCKERD_PID= REG_PID=

cleanup() {
  set +e
  stop_pid "$REG_PID"
  stop_pid "$DOCKERD_PID"   # dockerd stops its own containerd
  stop_pid "$BERTH_PID"
  grep -o " $WORK[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  [[ -n $SHM_LOCK_EXISTED ]] || rm -f "$SHM_LOCK"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
REG=127.0.0.1:$(free_port)

# --- registries: start_registry dist|berth (on $REG, storage wiped) ------------------------------
start_registry() {
  stop_pid "$REG_PID"
  rm -rf "$WORK/registry"
  mkdir -p "$WORK/registry"
  if [[ $1 == dist ]]; then
    cat >"$WORK/registry.yml" <<YML
version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: $WORK/registry }
  delete: { enabled: true }
http: { addr: $REG }
YML
    docker-registry serve "$WORK/registry.yml" >>"$WORK/registry.log" 2>&1 &
  else
    "$BERTH" registry serve --addr "$REG" --root "$WORK/registry" >>"$WORK/registry.log" 2>&1 &
  fi
  REG_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do curl -sf "http://$REG/v2/" >/dev/null && return 0; sleep 0.05; done
  echo "bench/registry.sh: the $1 registry did not start; its log:" >&2
  tail -20 "$WORK/registry.log" >&2
  exit 1
}

# --- the image: busybox plus 50 MB that compresses and 50 MB that does not, one layer -----------
BUSYBOX=$(command -v busybox || true)
[[ -n $BUSYBOX ]] || { echo "bench/registry.sh: install Debian's busybox-static" >&2; exit 1; }
ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS/data"
# Compressible: the system's own files (binaries, text), as an application layer holds them.
tar -cf - /usr/lib /usr/share 2>/dev/null | head -c 50000000 >"$ROOTFS/data/compressible" || true
head -c 50000000 /dev/urandom >"$ROOTFS/data/random"
busybox_tar "$ROOTFS"
LAYER_MB=$(du -m "$WORK/busybox.tar" | cut -f1)
log "the layer: $LAYER_MB MB ($(gzip -1 -c "$ROOTFS/data/compressible" | wc -c | awk '{ printf "%.0f", $1 / 1e6 }') MB for the compressible half at gzip -1)"

# --- engines ----------------------------------------------------------------------------------------
log "starting the berth daemon"
"$BERTH" daemon -H "unix://$WORK/berth.sock" --data-root "$WORK/berth/data" \
  --exec-root "$WORK/berth/run" >"$WORK/berth.log" 2>&1 &
BERTH_PID=$!
wait_sock "$WORK/berth.sock" "$BERTH_PID" berth
B="$BERTH -H unix://$WORK/berth.sock"
CLIENTS=(berth skopeo)
# skopeo pushes from a docker archive of a freshly imported image (a plain-tar layer).
$B import -c 'CMD ["sh"]' "$WORK/busybox.tar" bench/seed:1 >/dev/null
$B save -o "$WORK/saved.tar" bench/seed:1
$B rmi bench/seed:1 >/dev/null   # no other image may share the layer the rounds pull
if [[ -n $HAVE_DOCKERD && -n $DOCKER_CLI ]]; then
  start_dockerd "$DOCKER_CLI"
  D="$DOCKER_CLI -H unix://$WORK/docker.sock"
  CLIENTS+=(docker)
fi
if [[ -n $HAVE_PODMAN ]]; then
  printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' >"$CONTAINERS_CONF"
  CLIENTS+=(podman)
fi

# --- one round per client: prepare (untimed), push, drop (untimed), pull ---------------------------
IMG=$REG/bench/big:1
gone() { # CLI: removes every image (the last round's pull included), so no layer is shared
  $1 images -q | sort -u | xargs -r $1 rmi -f >/dev/null 2>&1 || true
}
prepare() {
  case $1 in
    berth) gone "$B"
           $B import -c 'CMD ["sh"]' "$WORK/busybox.tar" "$IMG" >/dev/null ;;
    skopeo) ;;   # the plain-tar archive saved once below
    docker) gone "$D"
            $D import -c 'CMD ["sh"]' "$WORK/busybox.tar" "$IMG" >/dev/null ;;
    podman) gone "$PODMAN"
            $PODMAN import -q -c 'CMD ["sh"]' "$WORK/busybox.tar" "$IMG" >/dev/null ;;
  esac
}
push() {
  case $1 in
    berth) $B push -q "$IMG" >/dev/null ;;
    skopeo) skopeo copy -q --dest-tls-verify=false "docker-archive:$WORK/saved.tar" "docker://$IMG" ;;
    docker) $D push -q "$IMG" >/dev/null ;;
    podman) $PODMAN push -q --tls-verify=false "$IMG" >/dev/null ;;
  esac
}
drop() {
  case $1 in
    berth) gone "$B"
           # A cold pull: no blob of the image may stay behind.
           (($(du -sm "$WORK/berth/data/image/content/blobs" | cut -f1) < 10)) ||
             log "warning: berth kept the image's blobs after rmi: its pull is not cold" ;;
    skopeo) rm -rf "$WORK/skopeo-pull" ;;
    docker) gone "$D" ;;
    podman) gone "$PODMAN" ;;
  esac
  sync
}
pull() {
  case $1 in
    berth) $B pull -q "$IMG" >/dev/null ;;
    skopeo) skopeo copy -q --src-tls-verify=false "docker://$IMG" "oci:$WORK/skopeo-pull:big" ;;
    docker) $D pull -q "$IMG" >/dev/null ;;
    podman) $PODMAN pull -q --tls-verify=false "$IMG" >/dev/null ;;
  esac
}
stamp() { # file command...: appends the command's wall time (ms) to file
  local f=$1 t0 t1; shift
  t0=$(now_ms); "$@"; t1=$(now_ms)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >>"$f"
}
round() { # server client timed(0|1)
  local server=$1 c=$2 timed=$3 key=$1-$2
  prepare "$c"
  start_registry "$server"
  sync
  if ((timed)); then stamp "$WORK/push-$key" push "$c"; else push "$c"; fi
  drop "$c"
  if ((timed)); then stamp "$WORK/pull-$key" pull "$c"; else pull "$c"; fi
}

RUNS=()
for c in "${CLIENTS[@]}"; do RUNS+=("dist $c"); done
RUNS+=("berth berth")
for r in "${RUNS[@]}"; do
  for ((i = 0; i < WARMUP; i++)); do round $r 0; done
done
log "timing $N rounds per client, in rotation (clients: ${CLIENTS[*]}; then Berth's server)"
for ((i = 0; i < N; i++)); do
  for r in "${RUNS[@]}"; do round $r 1; done
done

# --- report -------------------------------------------------------------------------------------
declare -A PUSH PULL
for r in "${RUNS[@]}"; do
  key=${r/ /-}
  PUSH[$key]=$(median <"$WORK/push-$key")
  PULL[$key]=$(median <"$WORK/pull-$key")
done
best_peer() { # push|pull: the fastest engine peer's median (docker, podman), else skopeo's
  local kind=$1 best= c v
  for c in docker podman skopeo; do
    [[ -f $WORK/$kind-dist-$c ]] || continue
    [[ $c == skopeo && -n $best ]] && continue
    v=$(median <"$WORK/$kind-dist-$c")
    if [[ -z $best ]] || awk -v a="$v" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$v; fi
  done
  echo "${best:-0}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { print (v <= lim ? "met" : "NOT met") }'; }
echo
echo "one ${LAYER_MB} MB layer (half compressible, half random) over loopback: median of $N (ms)"
printf '  %-28s %10s %10s\n' "client -> server" push pull
for r in "${RUNS[@]}"; do
  key=${r/ /-}
  server=${r% *}; c=${r#* }
  [[ $server == dist ]] && server=docker-registry || server="berth registry serve"
  printf '  %-28s %10s %10s\n' "$c -> $server" "${PUSH[$key]}" "${PULL[$key]}"
done
BP=$(best_peer push) BL=$(best_peer pull)
echo "berth / best peer (lower is better; the target is 0.5 or less):"
echo "  push $(ratio "${PUSH[dist-berth]}" "$BP")   pull $(ratio "${PULL[dist-berth]}" "$BL")"
for c in skopeo docker podman; do
  [[ -n ${PUSH[dist-$c]:-} ]] || continue
  echo "  vs $c: push $(ratio "${PUSH[dist-berth]}" "${PUSH[dist-$c]}")   pull $(ratio "${PULL[dist-berth]}" "${PULL[dist-$c]}")"
done
echo "targets: push <= 500 ms $(verdict "${PUSH[dist-berth]}" 500), pull <= 350 ms $(verdict "${PULL[dist-berth]}" 350)"
echo "Berth's server vs docker-registry, berth client: push $(ratio "${PUSH[berth-berth]}" "${PUSH[dist-berth]}")   pull $(ratio "${PULL[berth-berth]}" "${PULL[dist-berth]}")"
