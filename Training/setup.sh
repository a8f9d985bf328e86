#!/usr/bin/env bash
# Idempotent venv for the training toolkit: Training/.venv with PyTorch, pydicom, ONNX, ONNX Runtime.
# PyTorch from PyPI pulls its CUDA libraries even on CPU machines (about 5.5 GB, a few minutes);
# that is why it lives here and never in the test venv (.venv-tools) that `make test` builds.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=${TRAIN_VENV:-$HERE/.venv}
REQ=$HERE/requirements.txt
stamp="$VENV/.installed-$(sha256sum "$REQ" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  touch "$stamp"
fi
