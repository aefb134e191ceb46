#!/usr/bin/env bash
# bench/engine.sh — `run --rm busybox true` end to end, side by side: the berth CLI and the docker
# CLI against a Berth daemon, Debian's docker.io (dockerd 20.10 + containerd + runc) and podman
# (crun); the same with a named volume mounted (`-v NAME:/data`: what a volume adds). Also the idle
# RSS of each daemon, the RSS of one shim (berth-shim, containerd-shim,
# conmon) beside a running container, and 50 containers 8 at a time. Prints medians and the ratios
# against the targets of the daemon issue.
#
# Usage (as root):  bench/engine.sh              # N=20 timed runs per engine, 3 warm-up runs
#                   N=50 WARMUP=5 bench/engine.sh
#                   BERTH=/path/to/target/release/berth bench/engine.sh   # skip the build
#                   INSTALL=0 bench/engine.sh    # do not apt-get install missing peers
#
# Everything is started by this script and stopped by it (by PID, EXIT trap): a Berth daemon,
# dockerd (which starts its own containerd) and podman, each with its data and state under one
# temp dir. Every engine gets the same busybox image, imported from Debian's busybox-static, and
# runs with `--network none`, so no engine pays for networking and dockerd runs without its bridge
# and iptables rules (--bridge=none --iptables=false): it leaves nothing on the host network.
# The script runs in a private mount namespace, so every mount the engines make dies with it.
#
# Host quirk (the Firecracker VMs): cgroups v1 with a cgroup2 mount holding hugetlb; crun (podman's
# runtime) refuses that hybrid layout, so the script mounts such controllers as v1 hierarchies for
# the run (as bench/runtime.sh does) and gives them back on exit. No systemd: cgroupfs managers; no
# CAP_SYS_RESOURCE: podman's default ulimits are pinned below the hard limits via its own config.
set -euo pipefail
export LC_ALL=C

N=${N:-20}
WARMUP=${WARMUP:-3}
PAR_TOTAL=${PAR_TOTAL:-50}
PAR_JOBS=${PAR_JOBS:-8}
INSTALL=${INSTALL:-1}
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

[[ $(id -u) == 0 ]] || { echo "bench/engine.sh: run as root (engines need it)" >&2; exit 1; }
if [[ -z ${BERTH_BENCH_PRIVATE_NS:-} ]]; then
  exec unshare --mount --propagation private env BERTH_BENCH_PRIVATE_NS=1 "$0" "$@"
fi

log() { echo "[engine] $*" >&2; }

WORK=$(mktemp -d /tmp/berth-engine.XXXXXX)
trap 'rm -rf "$WORK"' EXIT   # until the engines start; then cleanup() below
# --- peers ------------------------------------------------------------------------------------
peer_pkgs=(docker.io podman crun runc conmon)
if [[ $INSTALL == 1 ]]; then
  missing=()
  for p in "${peer_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]} (services are not started: policy-rc.d)"
    made_policy=
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
      made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      >"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log" >&2; exit 1; }
    [[ -z $made_policy ]] || rm -f /usr/sbin/policy-rc.d
  fi
fi
HAVE_DOCKERD=$(command -v dockerd || true)
HAVE_PODMAN=$(command -v podman || true)
DOCKER_CLI=$(command -v docker || true)

build_berth

# The docker CLI's own files stay in WORK too (podman reads this one as well).
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
  if [[ -n $DOCKERD_PID ]]; then
    $DOCKER_CLI -H "unix://$WORK/docker.sock" rm -f $($DOCKER_CLI -H "unix://$WORK/docker.sock" ps -aq 2>/dev/null) >/dev/null 2>&1
  fi
  if [[ -n $BERTH_PID ]]; then
    "$BERTH" -H "unix://$WORK/berth.sock" rm -f $("$BERTH" -H "unix://$WORK/berth.sock" ps -aq 2>/dev/null) >/dev/null 2>&1
  fi
  stop_pid "$DOCKERD_PID"   # dockerd stops its own containerd
  stop_pid "$BERTH_PID"
  grep -o " $WORK[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  # The engines' parent cgroups (docker, berth, libpod_parent) in the hierarchies mounted here
  # would keep them alive, and hugetlb away from cgroup2, for good.
  for mp in "${MOUNTED[@]}"; do find "$mp" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; done
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do release_hierarchy "${MOUNTED[$i]}"; done
  for d in "${MADE_DIRS[@]}"; do rmdir "$d" 2>/dev/null; done
  [[ -n $SHM_LOCK_EXISTED ]] || rm -f "$SHM_LOCK"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the busybox image ----------------------------------------------------------------------------
BUSYBOX=$(command -v busybox || true)
[[ -n $BUSYBOX ]] || { echo "bench/engine.sh: install Debian's busybox-static" >&2; exit 1; }
ROOTFS=$WORK/rootfs
busybox_tar "$ROOTFS"

# --- engines ----------------------------------------------------------------------------------------
ENGINES=()   # labels, each with a command prefix in CLI[label]
declare -A CLI

log "starting the berth daemon"
"$BERTH" daemon -H "unix://$WORK/berth.sock" --data-root "$WORK/berth/data" \
  --exec-root "$WORK/berth/run" >"$WORK/berth.log" 2>&1 &
BERTH_PID=$!
wait_sock "$WORK/berth.sock" "$BERTH_PID" berth
CLI[berth]="$BERTH -H unix://$WORK/berth.sock"
import_busybox "$BERTH" -H "unix://$WORK/berth.sock"
ENGINES+=(berth)
if [[ -n $DOCKER_CLI ]]; then
  CLI[docker-cli/berth]="$DOCKER_CLI -H unix://$WORK/berth.sock"
  ENGINES+=("docker-cli/berth")
fi

if [[ -n $HAVE_DOCKERD && -n $DOCKER_CLI ]]; then
  start_dockerd "$DOCKER_CLI"
  import_busybox $DOCKER_CLI -H "unix://$WORK/docker.sock"
  CLI[docker]="$DOCKER_CLI -H unix://$WORK/docker.sock"
  ENGINES+=(docker)
else
  log "dockerd or the docker CLI is missing: docker skipped"
fi

if [[ -n $HAVE_PODMAN ]]; then
  setup_podman
  CLI[podman]="$PODMAN"
  ENGINES+=(podman)
else
  log "podman is missing: skipped"
fi

# --- start latency ------------------------------------------------------------------------------
run_true() { ${CLI[$1]} run --rm --network none busybox true >/dev/null; }
run_vol() { ${CLI[$1]} run --rm --network none -v benchvol:/data busybox true >/dev/null; }
stamp() { # label kind command...: times one run into WORK/times-<kind>-<label>
  local e=$1 kind=$2 t0 t1; shift 2
  t0=$(now_ms); "$@" "$e"; t1=$(now_ms)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >>"$WORK/times-$kind-${e//[^a-z]/_}"
}

for e in "${ENGINES[@]}"; do
  ${CLI[$e]} volume create benchvol >/dev/null
  for ((i = 0; i < WARMUP; i++)); do run_true "$e"; run_vol "$e"; done
done
log "timing $N runs per engine, with and without a volume, in rotation"
for ((i = 0; i < N; i++)); do
  for e in "${ENGINES[@]}"; do
    stamp "$e" plain run_true
    stamp "$e" vol run_vol
  done
done
declare -A MED VOL
for e in "${ENGINES[@]}"; do
  MED[$e]=$(median <"$WORK/times-plain-${e//[^a-z]/_}")
  VOL[$e]=$(median <"$WORK/times-vol-${e//[^a-z]/_}")
done

# --- memory -------------------------------------------------------------------------------------
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
children() { cat /proc/"$1"/task/*/children 2>/dev/null; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
settle_rss() { sleep 2; }   # let the daemons go idle after the runs above (no assertion on it)

settle_rss
BERTH_IDLE=$(rss_kb "$BERTH_PID")
DOCKER_IDLE=0
if [[ -n $DOCKERD_PID ]]; then
  DOCKER_IDLE=$(rss_kb "$DOCKERD_PID")
  for c in $(children "$DOCKERD_PID"); do
    [[ $(cat /proc/"$c"/comm) == containerd ]] && DOCKER_IDLE=$((DOCKER_IDLE + $(rss_kb "$c")))
  done
fi

declare -A SHIM SHIM_NAME
for e in berth docker podman; do
  [[ -n ${CLI[$e]:-} ]] || continue
  id=$(${CLI[$e]} run -d --network none busybox sleep 1000)
  pid=$(${CLI[$e]} inspect -f '{{.State.Pid}}' "$id")
  ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status")
  # Steady state: each shim gets a second of idleness before it is measured (berth-shim gives its
  # setup pages back 20 ms after the last request; every engine waits alike).
  sleep 1
  SHIM[$e]=$(rss_kb "$ppid"); SHIM_NAME[$e]=$(cat "/proc/$ppid/comm")
  ${CLI[$e]} kill "$id" >/dev/null   # (podman's rm -f would wait for a stop timeout)
  ${CLI[$e]} rm -f "$id" >/dev/null
done

# --- parallel -----------------------------------------------------------------------------------
declare -A PAR
for e in berth docker podman; do
  [[ -n ${CLI[$e]:-} ]] || continue
  t0=$(now_ms)
  seq "$PAR_TOTAL" | xargs -P "$PAR_JOBS" -I{} ${CLI[$e]} run --rm --network none busybox true >/dev/null
  t1=$(now_ms)
  PAR[$e]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1000 }')
done

# --- report -------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { print (v <= lim ? "met" : "NOT met") }'; }
echo
echo "run --rm --network none busybox true: median of $N (ms)"
for e in "${ENGINES[@]}"; do printf '  %-18s %8s\n' "$e" "${MED[$e]}"; done
echo "the same with -v benchvol:/data: median of $N (ms), and what the volume adds"
for e in "${ENGINES[@]}"; do
  printf '  %-18s %8s  %+8.3f\n' "$e" "${VOL[$e]}" "$(awk -v a="${VOL[$e]}" -v b="${MED[$e]}" 'BEGIN { print a - b }')"
done
echo "idle daemon RSS: berth $(mb "$BERTH_IDLE") MB; dockerd + containerd $(mb "$DOCKER_IDLE") MB"
echo "shim RSS beside one running container:"
for e in berth docker podman; do
  [[ -n ${SHIM[$e]:-} ]] && printf '  %-18s %6s MB (%s)\n' "$e" "$(mb "${SHIM[$e]}")" "${SHIM_NAME[$e]}"
done
echo "$PAR_TOTAL containers, $PAR_JOBS at a time (s):"
for e in berth docker podman; do
  [[ -n ${PAR[$e]:-} ]] && printf '  %-18s %8s\n' "$e" "${PAR[$e]}"
done
echo "targets:"
if [[ -n ${MED[docker]:-} ]]; then
  r=$(ratio "${MED[berth]}" "${MED[docker]}")
  echo "  start ≤ 1/10 of docker's: berth/docker = $r ($(verdict "$r" 0.1))"
  if [[ -n ${MED[docker-cli/berth]:-} ]]; then
    r=$(ratio "${MED[docker-cli/berth]}" "${MED[docker]}")
    echo "  (docker CLI against berth)/docker = $r ($(verdict "$r" 0.1))"
  fi
fi
added=$(awk -v a="${VOL[berth]}" -v b="${MED[berth]}" 'BEGIN { printf "%+.3f", a - b }')
echo "  a volume adds ≤ 1 ms to berth's run: $added ms ($(verdict "$added" 1))"
if [[ -n ${MED[podman]:-} ]]; then
  r=$(ratio "${MED[berth]}" "${MED[podman]}")
  echo "  start below podman's: berth/podman = $r ($(awk -v r="$r" 'BEGIN { print (r < 1 ? "met" : "NOT met") }'))"
fi
if [[ -n ${SHIM[podman]:-} ]]; then
  r=$(ratio "${SHIM[berth]}" "${SHIM[podman]}")
  echo "  shim RSS below conmon's: berth-shim/conmon = $r ($(awk -v r="$r" 'BEGIN { print (r < 1 ? "met" : "NOT met") }'))"
fi
if ((DOCKER_IDLE > 0)); then
  r=$(ratio "$BERTH_IDLE" "$DOCKER_IDLE")
  echo "  daemon idle RSS ≤ 1/4 of dockerd + containerd: $r ($(verdict "$r" 0.25))"
fi
