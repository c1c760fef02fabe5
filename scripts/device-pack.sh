#!/usr/bin/env bash
# Puts what the Node part of scripts/device-check.sh needs on a GPU machine
# (which has no Node) into .dev/ (git-ignored): this machine's node binary
# (xz), the built addon, and the runtime modules dist/ loads (sharp and its
# dependencies). Then, from the development machine:
#
#   scripts/device-pack.sh
#   run(command="scripts/device-check.sh", carry=[".dev", "dist"], timeout_s=600)
#
# EC_PACK_ADDON picks another addon file (a rehearsal with the CUDA emulator's).
set -euo pipefail
cd "$(dirname "$0")/.."
ADDON=${EC_PACK_ADDON:-build-cmake/Release/eyecandy.node}
[ -f "$ADDON" ] || { echo "device-pack: $ADDON is missing; run npm install first" >&2; exit 1; }
npm run --silent build:ts
mkdir -p .dev/node_modules/@img .dev/addon
NODE_BIN=$(command -v node)
if [ ! -f .dev/node.xz ] || [ "$NODE_BIN" -nt .dev/node.xz ]; then xz -T2 -c "$NODE_BIN" > .dev/node.xz; fi
for m in sharp detect-libc semver @img/colour @img/sharp-linux-x64 @img/sharp-libvips-linux-x64; do
  rm -rf ".dev/node_modules/$m"
  cp -r "node_modules/$m" ".dev/node_modules/$m"
done
cp "$ADDON" .dev/addon/eyecandy.node
du -sh .dev dist | sed 's/^/device-pack: /'
total=$(du -sck .dev dist | tail -1 | cut -f1)
[ "$total" -lt $((60 * 1024)) ] || { echo "device-pack: .dev + dist is ${total} KiB, over the 64 MiB a device call carries" >&2; exit 1; }
