#!/usr/bin/env bash
# Remakes docs/screen-critical.png (the README's picture) with the project's own `ichtriage screen`,
# and, with --thumbnails, the example's key-slice thumbnails from the GE test exam (DCMTK's
# dcmj2pnm, brain window 40/80). Run from the repository root after `swift build`.
set -euo pipefail
BIN=${BIN:-$(swift build --show-bin-path)/ichtriage}
EXAMPLE=docs/examples/critical
if [ "${1:-}" = "--thumbnails" ]; then
  DATA=${ICHTRIAGE_SHARED_DATA:-../shared/data/real-head-ct}
  for n in 14 16 18; do
    dcmj2pnm --write-png -il +Ww 40 80 +Sxv 256 "$DATA/ge-hispeed-human/$n.dcm" "$EXAMPLE/key-$n.png"
  done
fi
"$BIN" screen "$EXAMPLE/alert.json" --png docs/screen-critical.png --size 1280x720 \
  --now 2026-11-29T14:19:30Z --time-zone UTC --watched /srv/ichtriage/drop \
  --disk-free-bytes 41200000000 --disk-total-bytes 64000000000 --state-dir "$EXAMPLE/no-state"
