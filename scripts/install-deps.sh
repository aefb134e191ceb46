#!/usr/bin/env bash
# Installs the Debian packages Berth's build and tests need (idempotent; run as root).
set -euo pipefail
pkgs=(
  busybox-static   # the base image / test rootfs
  libseccomp-dev   # seccomp filters (libseccomp crate)
  pkg-config gcc libc6-dev  # building libseccomp bindings and the static test probe
  iproute2 strace jq  # network and process inspection in tests and benchmarks
  nftables         # Berth's NAT, isolation and published ports (the nft binary)
  skopeo umoci     # outside peers for image-format interoperability tests
  runc crun        # outside peers for runtime comparisons
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
