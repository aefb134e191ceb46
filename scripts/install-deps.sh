#!/usr/bin/env bash
# Installs the Debian packages Berth's build and tests need, and the Python packages of the docker-py
# compatibility suite (tests/python), pinned (idempotent; run as root).
set -euo pipefail
pkgs=(
  busybox-static   # the base image / test rootfs
  libseccomp-dev   # seccomp filters (libseccomp crate)
  pkg-config gcc libc6-dev  # building libseccomp bindings and the static test probe
  iproute2 strace jq  # network and process inspection in tests and benchmarks
  openssl curl     # test certificates (TLS API, registry token servers) and raw HTTPS requests
  nftables         # Berth's NAT, isolation and published ports (the nft binary)
  skopeo umoci     # outside peers for image-format interoperability tests
  docker-registry  # Debian's distribution registry: the peer of the registry tests
  runc crun        # outside peers for runtime comparisons
  man-db groff-base  # man -l renders the generated man pages (install tests)
  zsh fish         # the generated zsh and fish completions are parsed by their shells
  systemd          # systemd-analyze verify checks the units (the package only; no systemd is started)
  docker-compose   # docker-compose 1.29 (Python): the compose peer driving the Berth daemon
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# docker-py and pytest for tests/python; pip only runs when a pinned version is missing.
py_pkgs=(docker==7.1.0 pytest==8.3.4 pytest-timeout==2.3.1)
if ! python3 - "${py_pkgs[@]}" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(any(version(n) != v for n, v in (p.split("==") for p in sys.argv[1:])))
PY
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${py_pkgs[@]}"
fi
