#!/usr/bin/env bash
# Quick start, part one: take a fresh Debian 12 machine (as root) to a running container.
# Sets up the workspace (apt packages, pnpm, node modules, build), puts `berth` and
# `berthd` on the PATH, and runs busybox. `berth` starts berthd in the background itself
# when nothing answers on /run/berth/berthd.sock (log: /var/log/berth/berthd.log), and
# with no registry reachable it uses the built-in busybox image made from Debian's
# busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
for f in apps/cli/dist/berth.js apps/daemon/dist/berthd.js; do
  if [ ! -f "$f" ]; then
    echo "quickstart: $f was not built (see the output of scripts/setup.sh)" >&2
    exit 1
  fi
done
chmod +x apps/cli/dist/berth.js apps/daemon/dist/berthd.js
install -d /usr/local/bin
ln -sf "$PWD/apps/cli/dist/berth.js" /usr/local/bin/berth
ln -sf "$PWD/apps/daemon/dist/berthd.js" /usr/local/bin/berthd
export PATH="/usr/local/bin:$PATH"
exec berth run --rm busybox echo hello from berth
