#!/usr/bin/env bash
# Runs Berth's whole test suite: unit tests, and (as root) the integration tests against the real kernel.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  export BERTH_ROOT_TESTS=1
else
  echo "not root: running the unprivileged tests only" >&2
fi
exec cargo test --workspace "$@"
