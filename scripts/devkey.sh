#!/usr/bin/env bash
# Makes a DEVELOPMENT model-signing key outside the repository (never commit a private key).
# Usage: scripts/devkey.sh [ichtriage binary]   -> prints the key paths and id
# Install the printed .pub under /etc/ichtriage/keys (or pass --keys) on a development box only.
set -euo pipefail
BIN=${1:-$(swift build --show-bin-path 2>/dev/null)/ichtriage}
DIR=${ICHTRIAGE_KEY_DIR:-$HOME/.config/ichtriage}
mkdir -p "$DIR" && chmod 700 "$DIR"
KEY="$DIR/dev-model-signing-$(date -u +%Y%m%d).key"
if [ -e "$KEY" ]; then echo "exists: $KEY (and $KEY.pub)"; exit 0; fi
"$BIN" model keygen --out "$KEY" --name "dev-$(date -u +%Y%m%d)"
