#!/usr/bin/env bash
# bench/runtime.sh — time `berth runtime run` against `crun run` and `runc run` on one busybox
# bundle running /bin/true, side by side, and count the processes each forks per start.
#
# Usage (as root):  bench/runtime.sh            # N=50 timed runs per runtime, 3 warm-up runs
#                   N=200 WARMUP=5 bench/runtime.sh
#                   BERTH=/path/to/berth bench/runtime.sh   # skip the release build
#                   GAP=0 bench/runtime.sh      # back to back (default: 0.05 s pause before each run)
#
# It builds berth (release), makes one bundle in a temp dir (Debian's busybox-static + `berth
# runtime spec`), runs the three runtimes in rotation (berth, crun, runc, berth, ...) so drift hits
# all alike, pausing GAP seconds before each run, and prints each median, the ratios berth/crun and berth/runc, and the processes (not
# threads) forked per start, counted with strace. Missing peers are skipped.
#
# Host quirk: crun refuses a hybrid cgroup layout while a controller sits on the cgroup2 mount (on
# the Firecracker VMs: hugetlb). The script then mounts those controllers as v1 hierarchies for the
# run and unmounts them on exit. Everything it makes (temp dir, containers, cgroups, mounts) is
# removed by the EXIT trap, also on failure or Ctrl-C.
set -euo pipefail
export LC_ALL=C

N=${N:-50}
WARMUP=${WARMUP:-3}
# A pause before each timed run. Runtimes that move a process into a cgroup with a write to
# cgroup.procs take a kernel lock whose first taking waits for an RCU grace period; a taking
# within a grace period or so of the last one is quick. Back to back, each run would thus inherit
# a warm lock from the runtime before it; the pause makes every start pay what a lone start pays.
GAP=${GAP:-0.05}
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
CGROUP_PATH="/berth-bench-$$"

[[ $(id -u) == 0 ]] || { echo "bench/runtime.sh: run as root (runtimes need it)" >&2; exit 1; }
# Run in a private mount namespace: the cgroup hierarchies mounted for crun below are then seen by
# the benchmark alone (not copied into other people's containers), and vanish with it.
if [[ -z ${BERTH_BENCH_PRIVATE_NS:-} ]]; then
  exec unshare --mount --propagation private env BERTH_BENCH_PRIVATE_NS=1 "$0" "$@"
fi

WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
MOUNTED=()      # v1 hierarchies this script mounted
MADE_DIRS=()    # their mount points, when this script created them
RUNTIMES=()     # name of each runtime under test

log() { echo "[bench] $*" >&2; }

# The command line of runtime $1 with its own state root.
rt_cmd() {
  case $1 in
    berth) echo "$BERTH runtime --root $WORK/state-berth" ;;
    *) echo "$1 --root $WORK/state-$1" ;;
  esac
}

cleanup() {
  set +e
  for rt in "${RUNTIMES[@]}"; do
    # Every runtime here keeps one directory per container under its --root.
    for state in "$WORK/state-$rt"/*/; do
      [[ -d $state ]] && $(rt_cmd "$rt") delete --force "$(basename "$state")" >/dev/null 2>&1
    done
  done
  # Cgroups left by a failed run (each runtime removes its own on success).
  for d in /sys/fs/cgroup/*"$CGROUP_PATH"; do
    [[ -d $d ]] && rmdir "$d" 2>/dev/null
  done
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do release_hierarchy "${MOUNTED[$i]}"; done
  for d in "${MADE_DIRS[@]}"; do rmdir "$d" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools -----------------------------------------------------------------------------------
if ! command -v strace >/dev/null; then
  log "installing strace"
  DEBIAN_FRONTEND=noninteractive apt-get install -y strace >"$WORK/apt.log" 2>&1
fi
BUSYBOX=$(command -v busybox || true)
[[ -n $BUSYBOX ]] || { echo "bench/runtime.sh: install Debian's busybox-static" >&2; exit 1; }

if [[ -z ${BERTH:-} ]]; then
  log "building berth (release)"
  (cd "$REPO" && cargo build --release -p berth --quiet)
  BERTH="${CARGO_TARGET_DIR:-$REPO/target}/release/berth"
fi
RUNTIMES=(berth)
for peer in crun runc; do
  if command -v "$peer" >/dev/null; then RUNTIMES+=("$peer"); else log "$peer not installed: skipped"; fi
done

# --- crun and the hybrid layout -----------------------------------------------------------------
unified=
if [[ " ${RUNTIMES[*]} " == *" crun "* ]]; then mount_unified_as_v1; fi

# --- the bundle ---------------------------------------------------------------------------------
BUNDLE=$WORK/bundle
mkdir -p "$BUNDLE/rootfs/bin" "$BUNDLE/rootfs/proc" "$BUNDLE/rootfs/sys" "$BUNDLE/rootfs/dev"
cp "$BUSYBOX" "$BUNDLE/rootfs/bin/busybox"
ln -s busybox "$BUNDLE/rootfs/bin/true"
ln -s busybox "$BUNDLE/rootfs/bin/sh"
"$BERTH" runtime spec --bundle "$BUNDLE"
jq --arg cg "$CGROUP_PATH" \
  '.process.args = ["/bin/true"] | .process.terminal = false | .linux.cgroupsPath = $cg' \
  "$BUNDLE/config.json" >"$WORK/config.json"
mv "$WORK/config.json" "$BUNDLE/config.json"

# --- timing -------------------------------------------------------------------------------------
run_once() { # runtime id -> appends elapsed ms to $WORK/times-<runtime>
  local rt=$1 id=$2 t0 t1
  [[ $GAP == 0 ]] || sleep "$GAP"
  t0=$EPOCHREALTIME
  if ! $(rt_cmd "$rt") run --bundle "$BUNDLE" "$id" >/dev/null 2>"$WORK/err-$rt"; then
    echo "bench/runtime.sh: $rt run failed:" >&2
    cat "$WORK/err-$rt" >&2
    exit 1
  fi
  t1=$EPOCHREALTIME
  echo "$t0 $t1" | awk '{ printf "%.3f\n", ($2 - $1) * 1000 }' >>"$WORK/times-$rt"
}

log "warm-up: $WARMUP runs each"
for ((i = 0; i < WARMUP; i++)); do
  for rt in "${RUNTIMES[@]}"; do run_once "$rt" "bench-$$-$rt-w$i"; done
done
rm -f "$WORK"/times-*
log "timing: $N runs each of ${RUNTIMES[*]}"
for ((i = 0; i < N; i++)); do
  for rt in "${RUNTIMES[@]}"; do run_once "$rt" "bench-$$-$rt-$i"; done
done

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- processes forked per start -----------------------------------------------------------------
# strace -f logs every clone; a clone with CLONE_THREAD makes a thread, the others a process.
# Calls interrupted by other threads show as "<unfinished ...>" and "<... resumed>": pair them by pid.
forks() { # runtime -> "processes threads"
  local rt=$1 log=$WORK/strace-$1
  strace -f -qq -o "$log" -e trace=clone,clone3,fork,vfork \
    $(rt_cmd "$rt") run --bundle "$BUNDLE" "bench-$$-$rt-strace" >/dev/null 2>&1
  awk '
    /(clone3?|v?fork)\(/ { flags[$1] = $0 }
    / = [0-9]+$/ && ($0 ~ /(clone3?|v?fork)\(/ || $0 ~ /resumed>/) {
      if (flags[$1] ~ /CLONE_THREAD/) threads++; else procs++
    }
    END { printf "%d %d\n", procs, threads }' "$log"
}

# --- report ---------------------------------------------------------------------------------------
declare -A MED
printf '\n%-8s %12s %16s %14s\n' runtime "median ms" "processes/start" "threads/start"
for rt in "${RUNTIMES[@]}"; do
  MED[$rt]=$(median "$WORK/times-$rt")
  read -r p t < <(forks "$rt")
  printf '%-8s %12.2f %16d %14d\n' "$rt" "${MED[$rt]}" "$p" "$t"
done
echo
for peer in crun runc; do
  if [[ -n ${MED[$peer]:-} ]]; then
    awk -v b="${MED[berth]}" -v p="${MED[$peer]}" -v n="$peer" \
      'BEGIN { printf "berth/%s median ratio: %.2f\n", n, b / p }'
  fi
done
echo "($N timed runs each after $WARMUP warm-up runs, ${GAP}s apart; one bundle; /bin/true in busybox)"
