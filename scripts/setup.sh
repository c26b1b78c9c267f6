#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) to build and test Berth: the apt packages
# the tests use, pnpm, the node modules, and a build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  crun runc conmon containernetworking-plugins iptables busybox-static uidmap
  docker-registry skopeo umoci podman zstd apache2-utils openssl tmux
  python3 make g++ iproute2 procps util-linux git attr acl docker-compose e2fsprogs
  tini
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The compatibility tests drive berthd with the real docker CLI. Machines of this kind ship
# docker 28 (client only); elsewhere Debian's docker.io brings a client (its daemon is not used).
if ! command -v docker >/dev/null 2>&1; then
  echo "setup: installing docker.io for the docker CLI"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
# Debian's docker-registry package starts a service on :5000; tests start their own.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "12.4.2" ]; then
  echo "setup: installing pnpm 12.4.2"
  npm i -g -E pnpm@12.4.2 >/dev/null 2>&1
fi

export npm_config_nodedir=/usr   # better-sqlite3 builds from source against Node's headers
export TURBO_TELEMETRY_DISABLED=1
pnpm install --frozen-lockfile
pnpm exec turbo run build --output-logs=errors-only
