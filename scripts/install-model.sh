#!/usr/bin/env bash
# Signs a model bundle folder with a throwaway key and installs it into a model store, as an
# engineer would with a real key (the private key lives in a temporary folder, never near the
# repository). Used by `make demo` and the crash campaign.
# Usage: scripts/install-model.sh BIN_DIR MODEL_DIR STORE_DIR KEYS_DIR   (KEYS_DIR gets the public key)
set -euo pipefail
BIN=$1; MODEL=$2; STORE=$3; KEYS=$4
KEYDIR=$(mktemp -d)
trap 'rm -rf "$KEYDIR"' EXIT
mkdir -p "$KEYS"
"$BIN/ichtriage" model keygen --out "$KEYDIR/demo.key" --name demo-key >/dev/null
cp "$KEYDIR/demo.key.pub" "$KEYS/"
"$BIN/ichtriage" model pack "$MODEL" --out "$KEYDIR/model.ichmodel" >/dev/null
"$BIN/ichtriage" model sign --key "$KEYDIR/demo.key" "$KEYDIR/model.ichmodel" >/dev/null
"$BIN/ichtriage" model install --store "$STORE" --keys "$KEYS" "$KEYDIR/model.ichmodel"
