#!/usr/bin/env bash
# Layer apply benchmark: Berth vs GNU tar, side by side, into tmpfs.
#
# Generates a deterministic ~100 MB gzip layer (many small files in nested directories and a few
# big ones; crates/image/examples/apply.rs `gen`), then applies it RUNS times (default 5) with
# Berth (release build of that example, overlay whiteout mode, diff ID computed) and with
# `tar -xzf`, alternating, each into a fresh directory on a tmpfs. Prints the medians, the ratio
# tar/berth (> 1 means Berth is faster) and Berth's uncompressed bytes/s.
#
# Needs root (tmpfs mount). Usage: bench/layer-apply.sh [RUNS] ; env LAYER_MIB=100.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-5}
mib=${LAYER_MIB:-100}
[ "$(id -u)" = 0 ] || { echo "layer-apply.sh: needs root to mount a tmpfs" >&2; exit 1; }
command -v tar >/dev/null || { echo "layer-apply.sh: GNU tar not found" >&2; exit 1; }

cargo build --quiet --release -p berth-image --example apply
bin=$PWD/target/release/examples/apply

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-layer-bench.XXXXXX")
mnt=$work/tmpfs
mkdir "$mnt"
cleanup() {
  if mountpoint -q "$mnt"; then umount "$mnt"; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
mount -t tmpfs -o size=$((mib * 8))m,mode=0755 berth-bench "$mnt"

layer=$mnt/layer.tar.gz
"$bin" gen "$layer" "$mib"

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

berth_times=() tar_times=() bytes=0
for i in $(seq 1 "$runs"); do
  rm -rf "$mnt/out"; mkdir "$mnt/out"; sync
  t0=$(now)
  out=$("$bin" apply "$layer" "$mnt/out")
  t1=$(now)
  berth_times+=("$(echo "$t1 - $t0" | bc -l)")
  bytes=$(sed -n 's/^bytes=\([0-9]*\).*/\1/p' <<<"$out")

  rm -rf "$mnt/out"; mkdir "$mnt/out"; sync
  t0=$(now)
  tar -xzf "$layer" -C "$mnt/out"
  t1=$(now)
  tar_times+=("$(echo "$t1 - $t0" | bc -l)")
  printf 'run %d: berth %.3fs  tar %.3fs\n' "$i" "${berth_times[-1]}" "${tar_times[-1]}"
done
rm -rf "$mnt/out"

b=$(printf '%s\n' "${berth_times[@]}" | median)
t=$(printf '%s\n' "${tar_times[@]}" | median)
compressed=$(stat -c %s "$layer")
printf 'layer: %d bytes gzip, %d bytes uncompressed (%s)\n' "$compressed" "$bytes" "$(sed -n 's/.*diff_id=//p' <<<"$out")"
printf 'median of %d runs: berth %.3fs, GNU tar %.3fs\n' "$runs" "$b" "$t"
printf 'ratio tar/berth: %.2fx (>1: berth faster)\n' "$(echo "$t / $b" | bc -l)"
printf 'berth: %.1f MB/s uncompressed, %.1f MB/s compressed\n' \
  "$(echo "$bytes / $b / 1000000" | bc -l)" "$(echo "$compressed / $b / 1000000" | bc -l)"
