#!/usr/bin/env bash
# Runs Berth's whole test suite: unit tests, and (as root) the integration tests against the real kernel,
# then the docker-py compatibility suite (tests/python) against a freshly built daemon.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  export BERTH_ROOT_TESTS=1
  # The daemons under test turn IP forwarding on, as Docker does; give the host back its setting.
  forward=$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || true)
  [ -z "$forward" ] || trap 'echo "$forward" >/proc/sys/net/ipv4/ip_forward' EXIT
else
  echo "not root: running the unprivileged tests only" >&2
fi
# The shim and the init are separate binaries the end-to-end tests run beside `berth`; a test
# build of the workspace does not produce them.
cargo build -p berth-shim -p berth-init
# Every test binary runs even when one fails, so a run shows all that is broken.
cargo test --workspace --no-fail-fast "$@"
[ "${BERTH_ROOT_TESTS:-}" = 1 ] || exit 0

# The docker-py suite drives the daemon binary with its shim and init beside it.
cargo build -p berth -p berth-shim -p berth-init
python3 -c 'import docker, pytest' 2>/dev/null ||
  { echo "docker-py or pytest missing: run scripts/install-deps.sh" >&2; exit 1; }
rc=0
BERTH_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/berth" python3 -m pytest -q tests/python || rc=$?
if [ "$rc" = 5 ]; then
  echo "tests/python: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
