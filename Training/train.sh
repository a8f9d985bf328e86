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
SEED=${TRAIN_SEED:-2000}              # procedural series: seeds SEED .. SEED+COUNT-1 (train/val/test by seed)
COUNT=${TRAIN_COUNT:-120}
SLICES=${TRAIN_SLICES:-24}
GEN_JOBS=${TRAIN_GEN_JOBS:-3}         # generator processes in parallel (series i is seed+i either way)
RTRAIN_SEED=${TRAIN_REAL_TRAIN_SEED:-910000}  # real-anatomy insertions for training ...
RTRAIN_COUNT=${TRAIN_REAL_TRAIN_COUNT:-120}
RTRAIN_SLICES=${TRAIN_REAL_TRAIN_SLICES:-0-6,14-20}   # ... only these ordered slices of the real exam
REAL_SEED=${TRAIN_REAL_SEED:-900000}  # real-anatomy insertions held out: other seeds ...
REAL_COUNT=${TRAIN_REAL_COUNT:-16}
RTEST_SLICES=${TRAIN_REAL_TEST_SLICES:-7-13,21-27}    # ... and slices training never saw
SLICE_MINUTES=${TRAIN_SLICE_MINUTES:-50}  # wall-clock budget of slice training (0: use TRAIN_SLICE_STEPS)
SLICE_STEPS=${TRAIN_SLICE_STEPS:-400}
BATCH=${TRAIN_BATCH:-16}
SEQ_EPOCHS=${TRAIN_SEQ_EPOCHS:-12}
SEQ_TRAIN=${TRAIN_SEQ_TRAIN:-data}     # sequence head on the procedural training series (val-half: out-of-fold, tried, docs/model.md)
SEQ_HEAD=${TRAIN_SEQ_HEAD:-residual}   # head logit = CNN slice logit + learned correction (candidate d4)
SEQ_L2=${TRAIN_SEQ_CORRECTION_L2:-0.3} # ... pulled towards zero with this weight
SEQ_NOISE=${TRAIN_SEQ_LOGIT_NOISE:-0.5} # noise on the CNN logits and dropout on the PCA features while the head trains
SEQ_DROPOUT=${TRAIN_SEQ_DROPOUT:-0.3}
BACKBONE=${TRAIN_BACKBONE:-narrow}
LR=${TRAIN_LR:-2e-3}
CALIB_SERIES=${TRAIN_CALIB_SERIES:-24}   # int8 activation ranges from this many training series ...
CALIB_METHOD=${TRAIN_CALIB_METHOD:-auto} # ... MinMax and Percentile both made, the closer to float32 on validation kept
VERSION=${TRAIN_VERSION:-0.4.0}
BUNDLE=${TRAIN_BUNDLE:-$ROOT/Models/default}
CALIB=${TRAIN_CALIBRATION:-$ROOT/Calibration}
export ICHTRIAGE_SHARED_DATA=$REAL
# On a shared, oversubscribed CPU OpenMP's busy-waiting threads make each PyTorch step ~3x slower
# (measured: 9 s instead of 2-3.5 s per batch-16 step of the narrow backbone at load average 18).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

"$ROOT/Training/setup.sh"
gen() { # out seed count extra-args...: one generator run, skipped when already made with these arguments
  local out=$1 seed=$2 count=$3; shift 3
  local stamp="$out/.done-$(echo "$seed $count $*" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    rm -rf "$out"
    "$BIN" phantom --out "$out" --seed "$seed" --count "$count" "$@" >"$out.log" 2>&1 || return 1
    touch "$stamp"
  fi
}
gen_parallel() { # out seed count extra-args...: GEN_JOBS chunks in out/pK, labels.csv + series.csv merged in out
  local out=$1 seed=$2 count=$3; shift 3
  local per=$(( (count + GEN_JOBS - 1) / GEN_JOBS )) k pids=()
  mkdir -p "$out"
  for ((k = 0; k * per < count; k++)); do
    local n=$(( count - k * per < per ? count - k * per : per ))
    gen "$out/p$k" $((seed + k * per)) "$n" "$@" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  for f in labels.csv series.csv; do
    { head -1 "$out/p0/$f"; for d in "$out"/p*/; do tail -n +2 "$d$f" | sed "s#^series-#$(basename "$d")/series-#"; done; } >"$out/$f"
  done
}
mkdir -p "$WORK"
gen_parallel "$WORK/procedural" "$SEED" "$COUNT" --slices "$SLICES"
# Real-anatomy insertions (bleeds in the real GE exam's slices): training uses seeds RTRAIN_* and
# only the ordered slices RTRAIN_SLICES; the held-out set other seeds and only RTEST_SLICES.
gen_parallel "$WORK/real-train" "$RTRAIN_SEED" "$RTRAIN_COUNT" --anatomy real --real-data "$REAL"
gen "$WORK/real-anatomy" "$REAL_SEED" "$REAL_COUNT" --anatomy real --real-data "$REAL"
[ "${TRAIN_DATA_ONLY:-0}" = 1 ] && exit 0

cd "$ROOT/Training"
exec .venv/bin/python -m ichtrain pipeline \
  --data "$WORK/procedural" \
  --extra-train "real-train=$WORK/real-train" --extra-train-slices "$RTRAIN_SLICES" \
  --extra-test "real-anatomy=$WORK/real-anatomy" --extra-test-slices "$RTEST_SLICES" \
  --real "$REAL" \
  --work "$WORK/run" --bundle "$BUNDLE" --calibration-dir "$CALIB" \
  --backbone "$BACKBONE" --slice-steps "$SLICE_STEPS" --slice-minutes "$SLICE_MINUTES" --batch-size "$BATCH" --seq-epochs "$SEQ_EPOCHS" --seq-train "$SEQ_TRAIN" --seq-head "$SEQ_HEAD" --seq-correction-l2 "$SEQ_L2" --seq-logit-noise "$SEQ_NOISE" --seq-dropout "$SEQ_DROPOUT" --lr "$LR" --calib-series "$CALIB_SERIES" --calib-method "$CALIB_METHOD" --split 0.6,0.2,0.2 --version "$VERSION" \
  --provenance "ichtriage phantom --seed $SEED --count $COUNT --slices $SLICES (procedural; train/val/test by seed); ichtriage phantom --seed $RTRAIN_SEED --count $RTRAIN_COUNT --anatomy real (training, ordered slices $RTRAIN_SLICES); ichtriage phantom --seed $REAL_SEED --count $REAL_COUNT --anatomy real (held out, ordered slices $RTEST_SLICES)"
