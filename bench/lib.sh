# Shared pieces of the benchmarks (sourced by the bench/*.sh scripts). The sourcing script sets
# WORK (its temp dir), BUSYBOX (a static busybox) and a log function first, and (for the cgroup
# helpers) the arrays MOUNTED and MADE_DIRS.

# build_berth: unless BERTH names a berth binary already, builds berth, berth-shim and berth-init
# (release) and sets BERTH. Needs REPO.
build_berth() {
  [[ -z ${BERTH:-} ]] || return 0
  log "building berth, berth-shim and berth-init (release)"
  (cd "$REPO" && cargo build --release --quiet -p berth -p berth-shim -p berth-init)
  BERTH="${CARGO_TARGET_DIR:-$REPO/target}/release/berth"
}

# stop_pid PID: SIGTERM, then SIGKILL after 20 s (nothing if PID is empty or gone).
stop_pid() {
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null
  for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
}

# now_ms: the wall clock in milliseconds (3 decimals). median: the median of the numbers on stdin.
now_ms() { local t=$EPOCHREALTIME; echo "${t/./}" | awk '{ printf "%.3f", $1 / 1000 }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# start_dockerd CLI [DOCKERD_ARG...]: starts dockerd (which starts its own containerd) with its
# data, state and socket ($WORK/docker.sock) under WORK, no default bridge, no iptables,
# forwarding or masquerading changes, cgroupfs, and the extra arguments; its config is
# $WORK/daemon.json (`{}` unless the script wrote one). Sets DOCKERD_PID and returns once the
# docker CLI command CLI gets an answer.
start_dockerd() {
  local cli=$1 i
  shift
  log "starting dockerd (no default bridge, no iptables)"
  [[ -e $WORK/daemon.json ]] || echo '{}' >"$WORK/daemon.json"
  dockerd --config-file "$WORK/daemon.json" -H "unix://$WORK/docker.sock" \
    --data-root "$WORK/docker/data" --exec-root "$WORK/docker/run" --pidfile "$WORK/docker.pid" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --exec-opt native.cgroupdriver=cgroupfs "$@" >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  wait_sock "$WORK/docker.sock" "$DOCKERD_PID" dockerd
  for ((i = 0; i < 300; i++)); do $cli -H "unix://$WORK/docker.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
}

# import_busybox CLI...: imports $WORK/busybox.tar as busybox:latest (CMD sh) through the CLI.
import_busybox() {
  "$@" import -c 'CMD ["sh"]' "$WORK/busybox.tar" busybox:latest >/dev/null
}

# setup_podman: readies podman ($PODMAN, configured by $CONTAINERS_CONF) to run crun on this host
# (mount_unified_as_v1; cgroupfs, file events, default ulimits pinned below the hard limits, as
# there is no CAP_SYS_RESOURCE) and imports busybox into it.
setup_podman() {
  local nofile
  mount_unified_as_v1
  nofile=$(ulimit -Hn)
  cat >"$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  $PODMAN import -q -c 'CMD ["sh"]' "$WORK/busybox.tar" busybox:latest >/dev/null
}

# busybox_tar ROOTFS [EXTRA_DIR...]: a busybox rootfs (applet links, passwd, group, sticky /tmp)
# in ROOTFS, with EXTRA_DIRs made inside it, tarred to $WORK/busybox.tar.
busybox_tar() {
  local rootfs=$1 a d
  shift
  mkdir -p "$rootfs"/{bin,etc,tmp,root}
  for d in "$@"; do mkdir -p "$rootfs/$d"; done
  cp "$BUSYBOX" "$rootfs/bin/busybox"
  for a in $("$BUSYBOX" --list); do [[ $a == busybox ]] || ln -s busybox "$rootfs/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
  echo 'root:x:0:' >"$rootfs/etc/group"
  chmod 1777 "$rootfs/tmp"
  tar -C "$rootfs" -cf "$WORK/busybox.tar" .
}

# wait_sock SOCKET PID NAME: waits (60 s at most) for a daemon's socket; if the daemon dies or the
# time runs out, prints the tail of $WORK/NAME.log and exits.
wait_sock() {
  local i
  for ((i = 0; i < 600; i++)); do
    [[ -S $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "$(basename "$0"): $3 did not start; its log:" >&2
  tail -20 "$WORK/$3.log" >&2
  exit 1
}

# mount_unified_as_v1: on a hybrid cgroup host whose cgroup2 mount holds controllers (the
# Firecracker VMs: hugetlb), crun refuses to run; mount each of those controllers as a v1
# hierarchy under /sys/fs/cgroup, recording the mounts in MOUNTED (and the directories made in
# MADE_DIRS) for release_hierarchy. Sets `unified` to the cgroup2 mount point (empty if none).
mount_unified_as_v1() {
  local c mp controllers
  unified=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2" && $5 != "/sys/fs/cgroup") print $5; break } }' /proc/self/mountinfo | head -n1)
  # (cgroupfs files report size 0, so read the list rather than testing the file's size)
  controllers=$([[ -n $unified ]] && cat "$unified/cgroup.controllers" || true)
  for c in $controllers; do
    mp=/sys/fs/cgroup/$c
    if [[ ! -d $mp ]]; then mkdir "$mp"; MADE_DIRS+=("$mp"); fi
    log "mounting the $c controller as a v1 hierarchy at $mp for crun (undone on exit)"
    mount -t cgroup -o "$c" cgroup "$mp"
    MOUNTED+=("$mp")
  done
}

# release_hierarchy MOUNTPOINT: unmounts a v1 hierarchy (named after its controller) so that the
# controller returns to the cgroup2 mount. The kernel keeps an unmounted v1 hierarchy alive for
# good if it still has child cgroups (removed ones linger briefly), so wait for those to go first,
# and if the controller is still not back (some other holder), mount and unmount it once more.
release_hierarchy() {
  local mp=$1 c=${1##*/} i
  for ((i = 0; i < 500; i++)); do
    [[ $(awk -v c="$c" '$1 == c { print $3 }' /proc/cgroups) == 1 ]] && break
    sleep 0.01
  done
  umount "$mp" || log "could not unmount $mp"
  for ((i = 0; i < 500; i++)); do
    grep -qw "$c" "$unified/cgroup.controllers" && return 0
    ((i == 100)) && mount -t cgroup -o "$c" cgroup "$mp" 2>/dev/null && umount "$mp"
    sleep 0.01
  done
  log "the $c controller did not return to $unified: check /proc/cgroups"
}
