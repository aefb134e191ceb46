#!/usr/bin/env bash
# bench/network.sh — networking through a published port, Berth beside Debian's docker.io on the
# same machine: bulk throughput (busybox httpd serving a large file, fetched by curl on the host),
# connection rate (wrk against busybox httpd, which closes every connection), and what network
# setup adds to `run --rm busybox true` (default bridge, and bridge with a published port, against
# `--network none`). Prints medians and the ratios against the targets of the networking issue.
#
# Usage (as root):  bench/network.sh
#                   RUNS=7 WRK_SECS=10 N=30 bench/network.sh
#                   PAUSE=0.2 bench/network.sh # timed starts 0.2 s apart (default: back to back)
#                   BERTH=/path/to/target/release/berth bench/network.sh   # skip the build
#                   USERLAND_PROXY=false bench/network.sh   # dockerd NATs 127.0.0.1 itself
#                   INSTALL=0 bench/network.sh   # do not apt-get install docker.io, wrk
#
# Both engines are started by this script and stopped by it (by PID, EXIT trap), each with its data
# and state under one temp dir. dockerd runs WITH its default bridge (docker0) and iptables rules,
# since networking is what is measured; Berth makes its own bridge and nftables table (names derived
# from its exec root). Traffic goes only between 127.0.0.1 and the engines' own bridges. On exit
# the script removes the containers, stops both daemons, deletes docker0 and docker's iptables
# rules and chains (dockerd leaves both behind), and checks that the bridges and veths of both
# engines, Berth's table, docker's iptables rules and the ip_forward sysctl are as before.
#
# Do not run it beside bench/engine.sh: the dockerd that script starts (--bridge=none) deletes any
# docker0 it finds, which breaks this one's docker runs. A docker0 present at start is refused.
set -euo pipefail
export LC_ALL=C

RUNS=${RUNS:-5}            # throughput runs per engine
SIZE_MB=${SIZE_MB:-512}    # the file fetched per throughput run
WRK_SECS=${WRK_SECS:-5}    # one wrk run
WRK_RUNS=${WRK_RUNS:-3}    # wrk runs per engine
WRK_CONNS=${WRK_CONNS:-16}
N=${N:-20}                 # timed `run --rm` per engine and network mode
WARMUP=${WARMUP:-3}
PAUSE=${PAUSE:-0}          # seconds between timed runs (0: back to back)
USERLAND_PROXY=${USERLAND_PROXY:-true}   # dockerd's default
INSTALL=${INSTALL:-1}
BERTH_PORT=${BERTH_PORT:-18471}
DOCKER_PORT=${DOCKER_PORT:-18472}
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

[[ $(id -u) == 0 ]] || { echo "bench/network.sh: run as root (engines need it)" >&2; exit 1; }
if [[ -z ${BERTH_BENCH_PRIVATE_NS:-} ]]; then
  # A private mount namespace (the network namespace stays the host's): mounts die with it.
  exec unshare --mount --propagation private env BERTH_BENCH_PRIVATE_NS=1 "$0" "$@"
fi

log() { echo "[network] $*" >&2; }
die() { echo "bench/network.sh: $*" >&2; exit 1; }

WORK=$(mktemp -d /tmp/berth-network.XXXXXX)
trap 'rm -rf "$WORK"' EXIT   # until the engines start; then cleanup() below

# --- peers and tools ------------------------------------------------------------------------------
if [[ $INSTALL == 1 ]]; then
  missing=()
  for p in docker.io wrk curl; do
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
for t in dockerd docker wrk curl nft iptables-save; do
  command -v "$t" >/dev/null || die "$t is missing (INSTALL=1 installs docker.io, wrk and curl)"
done
BUSYBOX=$(command -v busybox || true)
[[ -n $BUSYBOX ]] || die "install Debian's busybox-static"
if ip link show docker0 >/dev/null 2>&1; then
  die "a docker0 bridge exists already: is another dockerd running?"
fi
for p in "$BERTH_PORT" "$DOCKER_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    die "127.0.0.1:$p is in use: set BERTH_PORT/DOCKER_PORT"
  fi
done

if [[ -z ${BERTH:-} ]]; then
  log "building berth, berth-shim and berth-init (release)"
  (cd "$REPO" && cargo build --release --quiet -p berth -p berth-shim -p berth-init)
  BERTH="${CARGO_TARGET_DIR:-$REPO/target}/release/berth"
fi

# --- the host's network state before, to compare on exit --------------------------------------------
# Other daemons (test suites) may make and remove links and tables meanwhile: the check on exit
# looks at the objects of our two engines by name (recorded while they run), and at iptables rules
# and the ip_forward sysctl as a whole (only dockerd touches those here).
host_rules() { { iptables-save 2>/dev/null || true; } | { grep -E '^(\*|:|-A)' || true; } | sed 's/ \[[0-9:]*\]$//' | sort; }
host_rules >"$WORK/rules.before"
FORWARD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)
RULES_NAT_BEFORE=$(grep -c '^\*nat' "$WORK/rules.before" || true)
RULES_FILTER_BEFORE=$(grep -c '^\*filter' "$WORK/rules.before" || true)

export DOCKER_CONFIG=$WORK/docker-cli
mkdir -p "$DOCKER_CONFIG" && echo '{}' >"$DOCKER_CONFIG/config.json"
BERTH_PID= DOCKERD_PID= DOCKER_SUBNET= BERTH_BRIDGE= BERTH_TABLE=
OUR_LINKS=()   # bridges and veths of our engines, recorded while they run
declare -A CLI
record_links() { # bridge...: the bridges and the veths on them
  local b
  for b in "$@"; do
    OUR_LINKS+=("$b")
    OUR_LINKS+=($(ip -o link show master "$b" 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'))
  done
}

stop_pid() { # pid: SIGTERM, then SIGKILL after 20 s
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null
  for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
}

# dockerd leaves docker0 and its iptables chains behind when it stops: take away exactly those.
undo_docker_net() {
  local t rule ch
  ip link del docker0 2>/dev/null || true
  for t in nat filter; do
    iptables-save -t "$t" 2>/dev/null | grep -E '^-A ' | grep -vE '^-A DOCKER' |
      grep -E "DOCKER|docker0${DOCKER_SUBNET:+|$DOCKER_SUBNET}" | sed 's/^-A /-D /' |
      while read -r rule; do eval "iptables -t $t $rule" || true; done
    for ch in $(iptables-save -t "$t" 2>/dev/null | awk '/^:DOCKER/ { print substr($1, 2) }'); do
      iptables -t "$t" -F "$ch" 2>/dev/null || true
    done
    for ch in $(iptables-save -t "$t" 2>/dev/null | awk '/^:DOCKER/ { print substr($1, 2) }'); do
      iptables -t "$t" -X "$ch" 2>/dev/null || true
    done
  done
  # Tables iptables-nft made for docker alone go when no rule is left in them.
  if [[ $RULES_NAT_BEFORE == 0 ]] && ! iptables-save -t nat 2>/dev/null | grep -q '^-A '; then
    nft delete table ip nat 2>/dev/null || true
  fi
  if [[ $RULES_FILTER_BEFORE == 0 ]] && ! iptables-save -t filter 2>/dev/null | grep -q '^-A '; then
    nft delete table ip filter 2>/dev/null || true
  fi
}

cleanup() {
  set +e
  local e ids
  for e in docker berth; do
    [[ -n ${CLI[$e]:-} ]] || continue
    ids=$(${CLI[$e]} ps -aq 2>/dev/null)
    [[ -z $ids ]] || ${CLI[$e]} rm -f $ids >/dev/null 2>&1
  done
  stop_pid "$DOCKERD_PID"   # dockerd stops its own containerd
  stop_pid "$BERTH_PID"
  [[ -z $DOCKERD_PID ]] || undo_docker_net
  echo "$FORWARD_BEFORE" >/proc/sys/net/ipv4/ip_forward
  grep -o " $WORK[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  host_rules >"$WORK/rules.after"
  local left=() l
  sleep 0.5   # Berth deletes a stopped container's veths in the background
  for l in $(printf '%s\n' "${OUR_LINKS[@]}" | sort -u); do
    ip link show "$l" >/dev/null 2>&1 && left+=("link $l")
  done
  if [[ -n $BERTH_TABLE ]] && nft list table ip "$BERTH_TABLE" >/dev/null 2>&1; then
    left+=("nftables table ip $BERTH_TABLE")
  fi
  if ! diff -q "$WORK/rules.before" "$WORK/rules.after" >/dev/null; then
    left+=("iptables rules:" "$(diff "$WORK/rules.before" "$WORK/rules.after" | grep '^[<>]')")
  fi
  [[ $(cat /proc/sys/net/ipv4/ip_forward) == "$FORWARD_BEFORE" ]] || left+=("ip_forward")
  if ((${#left[@]})); then
    log "NOT clean, left on the host: ${left[*]}"
  else
    log "clean: ${#OUR_LINKS[@]} bridges and veths of both engines, berth's table $BERTH_TABLE and" \
      "docker's iptables rules are gone; ip_forward is $FORWARD_BEFORE as before"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the busybox image: Debian's static busybox, with an httpd root ----------------------------------
ROOTFS=$WORK/rootfs
busybox_tar "$ROOTFS" www

# --- engines ------------------------------------------------------------------------------------------

log "starting the berth daemon"
"$BERTH" daemon -H "unix://$WORK/berth.sock" --data-root "$WORK/berth/data" \
  --exec-root "$WORK/berth/run" >"$WORK/berth.log" 2>&1 &
BERTH_PID=$!
wait_sock "$WORK/berth.sock" "$BERTH_PID" berth
CLI[berth]="$BERTH -H unix://$WORK/berth.sock"
${CLI[berth]} import -c 'CMD ["sh"]' "$WORK/busybox.tar" busybox:latest >/dev/null
BERTH_BRIDGE=$(${CLI[berth]} network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' bridge)
BERTH_TABLE=berth_${BERTH_BRIDGE#bt}   # the daemon derives both from its exec root

log "starting dockerd (default bridge, iptables, userland-proxy=$USERLAND_PROXY)"
echo '{}' >"$WORK/daemon.json"
dockerd --config-file "$WORK/daemon.json" -H "unix://$WORK/docker.sock" \
  --data-root "$WORK/docker/data" --exec-root "$WORK/docker/run" --pidfile "$WORK/docker.pid" \
  --userland-proxy="$USERLAND_PROXY" --ip6tables=false \
  --exec-opt native.cgroupdriver=cgroupfs >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
wait_sock "$WORK/docker.sock" "$DOCKERD_PID" dockerd
CLI[docker]="docker -H unix://$WORK/docker.sock"
for ((i = 0; i < 300; i++)); do ${CLI[docker]} info >/dev/null 2>&1 && break; sleep 0.1; done
${CLI[docker]} import -c 'CMD ["sh"]' "$WORK/busybox.tar" busybox:latest >/dev/null
DOCKER_SUBNET=$(${CLI[docker]} network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' bridge)
ENGINES=(berth docker)
declare -A PORT=([berth]=$BERTH_PORT [docker]=$DOCKER_PORT)

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

# --- the servers: busybox httpd on 8080 in each engine, published on 127.0.0.1 ---------------------
# /www is a tmpfs (no disk in the path); `big` is SIZE_MB of zeros, `small` a 612-byte page.
for e in "${ENGINES[@]}"; do
  ${CLI[$e]} run -d --name netbench-httpd --tmpfs /www -p "127.0.0.1:${PORT[$e]}:8080" busybox \
    sh -c "dd if=/dev/zero of=/www/big bs=1M count=$SIZE_MB 2>/dev/null &&
           head -c 612 /dev/zero | tr '\\0' x >/www/small && exec httpd -f -p 8080 -h /www" >/dev/null
done
for e in "${ENGINES[@]}"; do
  ok=
  for ((i = 0; i < 600; i++)); do
    if curl -sf -o /dev/null "http://127.0.0.1:${PORT[$e]}/small"; then ok=1; break; fi
    sleep 0.1
  done
  [[ -n $ok ]] || die "$e's httpd did not answer on 127.0.0.1:${PORT[$e]} within 60 s"
done
record_links "$BERTH_BRIDGE" docker0

# --- throughput ---------------------------------------------------------------------------------------
log "throughput: $RUNS fetches of $SIZE_MB MB per engine, in rotation"
want=$((SIZE_MB * 1024 * 1024))
for e in "${ENGINES[@]}"; do curl -sf -o /dev/null "http://127.0.0.1:${PORT[$e]}/big"; done   # warm-up
for ((i = 0; i < RUNS; i++)); do
  for e in "${ENGINES[@]}"; do
    read -r size speed < <(curl -sf -o /dev/null -w '%{size_download} %{speed_download}\n' \
      "http://127.0.0.1:${PORT[$e]}/big")
    [[ $size == "$want" ]] || die "$e: fetched $size bytes of $want"
    awk -v s="$speed" 'BEGIN { printf "%.1f\n", s / 1e6 }' >>"$WORK/mbps-$e"
  done
done
declare -A MBPS
for e in "${ENGINES[@]}"; do MBPS[$e]=$(median <"$WORK/mbps-$e"); done

# --- connection rate ------------------------------------------------------------------------------------
log "connection rate: wrk -t2 -c$WRK_CONNS -d${WRK_SECS}s, $WRK_RUNS runs per engine, in rotation"
for ((i = 0; i < WRK_RUNS; i++)); do
  for e in "${ENGINES[@]}"; do
    wrk -t2 -c"$WRK_CONNS" -d"${WRK_SECS}s" "http://127.0.0.1:${PORT[$e]}/small" >"$WORK/wrk.out" 2>&1 ||
      { cat "$WORK/wrk.out" >&2; die "wrk failed against $e"; }
    awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.out" >>"$WORK/rps-$e"
    # Errors (socket errors, non-2xx) are kept to be shown beside the figures.
    awk '/Socket errors|Non-2xx/ { $1 = $1; print }' "$WORK/wrk.out" | sed "s/^/$e run $((i + 1)): /" >>"$WORK/wrk-errors"
    sleep 1   # let TIME_WAIT and conntrack settle a little between runs
  done
done
declare -A RPS
for e in "${ENGINES[@]}"; do RPS[$e]=$(median <"$WORK/rps-$e"); done
for e in "${ENGINES[@]}"; do ${CLI[$e]} rm -f netbench-httpd >/dev/null; done

# --- what network setup adds to a start ------------------------------------------------------------------
now_ms() { local t=$EPOCHREALTIME; echo "${t/./}" | awk '{ printf "%.3f", $1 / 1000 }'; }
run_true() { # engine mode: none, bridge, or port (bridge with a published port)
  local net=(--network "$2")
  [[ $2 != port ]] || net=(--network bridge -p 127.0.0.1::8080)
  ${CLI[$1]} run --rm "${net[@]}" busybox true >/dev/null
}
MODES=(none bridge port)
for e in "${ENGINES[@]}"; do
  for m in "${MODES[@]}"; do for ((i = 0; i < WARMUP; i++)); do run_true "$e" "$m"; done; done
done
log "start: $N runs of run --rm busybox true per engine and network, in rotation, ${PAUSE}s apart"
for ((i = 0; i < N; i++)); do
  for e in "${ENGINES[@]}"; do
    for m in "${MODES[@]}"; do
      t0=$(now_ms); run_true "$e" "$m"; t1=$(now_ms)
      awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >>"$WORK/start-$e-$m"
      sleep "$PAUSE"
    done
  done
done
declare -A START ADDS PADDS
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
for e in "${ENGINES[@]}"; do
  for m in "${MODES[@]}"; do START[$e-$m]=$(median <"$WORK/start-$e-$m"); done
  ADDS[$e]=$(minus "${START[$e-bridge]}" "${START[$e-none]}")
  PADDS[$e]=$(minus "${START[$e-port]}" "${START[$e-none]}")
done

# --- report ---------------------------------------------------------------------------------------------------
echo
echo "published port 127.0.0.1:PORT -> busybox httpd :8080 (docker: userland-proxy=$USERLAND_PROXY)"
echo "throughput, GET of $SIZE_MB MB with curl, median of $RUNS (MB/s):"
for e in "${ENGINES[@]}"; do printf '  %-8s %10s   (%s)\n' "$e" "${MBPS[$e]}" "$(paste -sd' ' "$WORK/mbps-$e")"; done
echo "connection rate, wrk -t2 -c$WRK_CONNS ${WRK_SECS}s, one request per connection, median of $WRK_RUNS (requests/s):"
for e in "${ENGINES[@]}"; do printf '  %-8s %10s   (%s)\n' "$e" "${RPS[$e]}" "$(paste -sd' ' "$WORK/rps-$e")"; done
[[ ! -s $WORK/wrk-errors ]] || { echo "  wrk reported:"; sed 's/^/    /' "$WORK/wrk-errors"; }
echo "run --rm busybox true, median of $N (ms):"
printf '  %-8s %14s %10s %14s %12s %12s\n' "" "--network none" "bridge" "bridge adds" "bridge -p" "-p adds"
for e in "${ENGINES[@]}"; do
  printf '  %-8s %14s %10s %14s %12s %12s\n' "$e" "${START[$e-none]}" "${START[$e-bridge]}" \
    "${ADDS[$e]}" "${START[$e-port]}" "${PADDS[$e]}"
done
echo "targets:"
r=$(ratio "${MBPS[berth]}" "${MBPS[docker]}")
echo "  throughput at least docker's: berth/docker = $r ($(awk -v r="$r" 'BEGIN { print (r >= 1 ? "met" : "NOT met") }'))"
r=$(ratio "${RPS[berth]}" "${RPS[docker]}")
echo "  (connection rate, no target) berth/docker = $r"
echo "  network setup adds at most a few ms to a start: berth adds ${ADDS[berth]} ms" \
  "($(awk -v a="${ADDS[berth]}" 'BEGIN { print (a <= 5 ? "met, taking a few as <= 5" : "NOT met (> 5)") }');" \
  "docker adds ${ADDS[docker]} ms)"
