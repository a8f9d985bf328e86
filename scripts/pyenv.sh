#!/usr/bin/env bash
# Idempotent Python venv for the test and benchmark tools (ONNX, ONNX Runtime, NumPy).
# PyTorch is NOT here: the training toolkit has its own environment (Training/).
set -euo pipefail
VENV=${VENV:-.venv-tools}
REQ=scripts/requirements-tools.txt
stamp="$VENV/.installed-$(sha256sum "$REQ" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  touch "$stamp"
fi
