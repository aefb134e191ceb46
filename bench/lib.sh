# Shared pieces of the benchmarks (sourced by bench/engine.sh, bench/network.sh, bench/runtime.sh).
# The sourcing script sets WORK (its temp dir), BUSYBOX (a static busybox) and a log function
# first, and (for the cgroup helpers) the arrays MOUNTED and MADE_DIRS.

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
