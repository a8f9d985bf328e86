#!/usr/bin/env bash
# make train: the documented end-to-end run that produced Models/default.
#   generate synthetic data (ichtriage phantom) -> train -> export -> quantize -> calibrate ->
#   evaluate -> package (python -m ichtrain pipeline).
# Usage: Training/train.sh ICHTRIAGE_BINARY REAL_EXAMS_DIR
# Sizes are environment variables so a smaller or larger run needs no edit (defaults = the shipped model).
set -euo pipefail
BIN=$1; REAL=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${TRAIN_WORK:-$ROOT/build/train}
SEED=${TRAIN_SEED:-1000}            # procedural series: seeds SEED .. SEED+COUNT-1
COUNT=${TRAIN_COUNT:-72}
SLICES=${TRAIN_SLICES:-24}
REAL_SEED=${TRAIN_REAL_SEED:-900000} # real-anatomy insertions: held out only, never trained on
REAL_COUNT=${TRAIN_REAL_COUNT:-12}
SLICE_EPOCHS=${TRAIN_SLICE_EPOCHS:-3}
SEQ_EPOCHS=${TRAIN_SEQ_EPOCHS:-30}
BUNDLE=${TRAIN_BUNDLE:-$ROOT/Models/default}
CALIB=${TRAIN_CALIBRATION:-$ROOT/Calibration}
export ICHTRIAGE_SHARED_DATA=$REAL

"$ROOT/Training/setup.sh"
gen() { # out seed count extra-args...
  local out=$1 seed=$2 count=$3; shift 3
  local stamp="$out/.done-$(echo "$seed $count $*" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    rm -rf "$out"
    "$BIN" phantom --out "$out" --seed "$seed" --count "$count" "$@" >"$out.log" 2>&1 || return 1
    touch "$stamp"
  fi
}
mkdir -p "$WORK"
gen "$WORK/procedural" "$SEED" "$COUNT" --slices "$SLICES"
# Real-anatomy insertions (bleeds in the real exams' slices) are a held-out set only, when the
# generator offers them; the real exams themselves stay unseen by training either way.
EXTRA=(); REAL_NOTE="real-anatomy insertions: not available from this generator build"
if gen "$WORK/real-anatomy" "$REAL_SEED" "$REAL_COUNT" --anatomy real --real-data "$REAL"; then
  EXTRA=(--extra-test "real-anatomy=$WORK/real-anatomy")
  REAL_NOTE="ichtriage phantom --seed $REAL_SEED --count $REAL_COUNT --anatomy real (held out only)"
else
  echo "train: $(tail -1 "$WORK/real-anatomy.log") -> no real-anatomy held-out set" >&2
fi
[ "${TRAIN_DATA_ONLY:-0}" = 1 ] && exit 0

cd "$ROOT/Training"
exec .venv/bin/python -m ichtrain pipeline \
  --data "$WORK/procedural" \
  "${EXTRA[@]}" \
  --real "$REAL" \
  --work "$WORK/run" --bundle "$BUNDLE" --calibration-dir "$CALIB" \
  --slice-epochs "$SLICE_EPOCHS" --seq-epochs "$SEQ_EPOCHS" --split 0.5,0.2,0.3 \
  --provenance "ichtriage phantom --seed $SEED --count $COUNT --slices $SLICES (procedural; train/val/test by seed); $REAL_NOTE"
