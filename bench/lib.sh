# Shared pieces of the engine benchmarks (sourced by bench/engine.sh and bench/network.sh).
# The sourcing script sets WORK (its temp dir) and BUSYBOX (a static busybox) first.

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
