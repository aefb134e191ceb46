#!/usr/bin/env bash
# The 30-minute soak (issue 14, REL-13): containers started and removed 4 at a time against one
# daemon, whose open fds and resident memory are sampled every minute; fails if they grow.
# On demand only, never in CI (CI has 90 minutes for everything). Needs root.
# Usage: scripts/soak.sh [minutes]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "soak: run as root" >&2; exit 1; }
export BERTH_ROOT_TESTS=1 BERTH_SOAK_MINUTES="${1:-30}"
cargo build -p berth-shim -p berth-init
exec cargo test -p berth --test docker soak_memory_and_fds_stay_flat -- --ignored --nocapture
