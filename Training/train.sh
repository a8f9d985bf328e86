#!/usr/bin/env bash
# make train: the toolkit's current recipe, which makes model 0.5.0 (candidate e4 of docs/model.md,
# "Model 0.5.0") and writes it to Models/default; the shipped bundle's own command line is in
# Models/default/EVALUATION.md (it took stage 1's CNN from the 0.4.0 run). The recipe:
#   1. the narrow slice CNN from scratch on 120 procedural series + real-anatomy insertions (50 min;
#      model 0.4.0's recipe: its CNN is e4's);
#   2. on 400 procedural series (the 120 + 280 more, split by seed as before): the sequence head
#      trained on 96 other series the CNN never saw (--seq-train seq-data), the CNN conv whose int8
#      costs most on validation left float32 (--float-convs 1); export -> quantize -> calibrate ->
#      evaluate -> package into Models/default.
#   TRAIN_STAGE2_MINUTES=50 also grows the CNN to narrow2 (a second block per stage, starting as the
#   identity) and trains it on for that long on the 400 series first: candidate e3 of
#   docs/model.md, better on procedural series and worse on real anatomy, so not the default.
# Usage: Training/train.sh ICHTRIAGE_BINARY REAL_EXAMS_DIR
# Sizes are environment variables so a smaller or larger run needs no edit (defaults = candidate e4).
# TRAIN_STAGE1_CNN=path/detector.pt skips stage 1 (e.g. build/candidate-040a/detector.pt, model 0.4.0's CNN).
set -euo pipefail
BIN=$1; REAL=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${TRAIN_WORK:-$ROOT/build/train}
SEED=${TRAIN_SEED:-2000}              # procedural series: seeds SEED .. SEED+COUNT-1 (train/val/test by seed)
COUNT=${TRAIN_COUNT:-120}
SLICES=${TRAIN_SLICES:-24}
GEN_JOBS=${TRAIN_GEN_JOBS:-3}         # generator processes in parallel (series i is seed+i either way)
MORE_SEED=${TRAIN_MORE_SEED:-4000}    # stage 2 adds procedural series MORE_SEED .. +MORE_COUNT-1 (split by seed too)
MORE_COUNT=${TRAIN_MORE_COUNT:-280}
SEQ_SEED=${TRAIN_SEQ_SEED:-3000}      # series only the sequence head trains on (never the CNN)
SEQ_COUNT=${TRAIN_SEQ_COUNT:-96}
RTRAIN_SEED=${TRAIN_REAL_TRAIN_SEED:-910000}  # real-anatomy insertions for training ...
RTRAIN_COUNT=${TRAIN_REAL_TRAIN_COUNT:-120}
RTRAIN_SLICES=${TRAIN_REAL_TRAIN_SLICES:-0-6,14-20}   # ... only these ordered slices of the real exam
REAL_SEED=${TRAIN_REAL_SEED:-900000}  # real-anatomy insertions held out: other seeds ...
REAL_COUNT=${TRAIN_REAL_COUNT:-16}
RTEST_SLICES=${TRAIN_REAL_TEST_SLICES:-7-13,21-27}    # ... and slices training never saw
SLICE_MINUTES=${TRAIN_SLICE_MINUTES:-50}  # wall-clock budget of stage 1's slice training (0: use TRAIN_SLICE_STEPS)
SLICE_STEPS=${TRAIN_SLICE_STEPS:-400}
BATCH=${TRAIN_BATCH:-16}
SEQ_EPOCHS=${TRAIN_SEQ_EPOCHS:-12}
STAGE1_CNN=${TRAIN_STAGE1_CNN:-}
SEQ_HEAD=${TRAIN_SEQ_HEAD:-residual}   # head logit = CNN slice logit + learned correction (candidate d4)
SEQ_L2=${TRAIN_SEQ_CORRECTION_L2:-0.3} # ... pulled towards zero with this weight
SEQ_NOISE=${TRAIN_SEQ_LOGIT_NOISE:-0.5} # noise on the CNN logits and dropout on the PCA features while the head trains
SEQ_DROPOUT=${TRAIN_SEQ_DROPOUT:-0.3}
STAGE2_MINUTES=${TRAIN_STAGE2_MINUTES:-0}  # > 0: grow the CNN to BACKBONE and train it on (candidate e3)
BACKBONE=${TRAIN_BACKBONE:-narrow2}   # ... to this backbone (stage 1 is narrow)
LR=${TRAIN_LR:-2e-3}                   # stage 1 peak learning rate ...
LR2=${TRAIN_LR2:-1e-3}                 # ... and the grown CNN's (it starts from a trained one)
CALIB_SERIES=${TRAIN_CALIB_SERIES:-24}   # int8 activation ranges from this many training series ...
CALIB_METHOD=${TRAIN_CALIB_METHOD:-auto} # ... MinMax and Percentile both made, the closer to float32 on validation kept
FLOAT_CONVS=${TRAIN_FLOAT_CONVS:-1}     # the CNN conv whose int8 costs most on validation stays float32
VERSION=${TRAIN_VERSION:-0.5.0}
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
merge_parts() { # out: labels.csv + series.csv of every part folder out/*/ merged in out (folders prefixed)
  local out=$1 f d parts=("$1"/*/)
  for f in labels.csv series.csv; do
    { head -1 "${parts[0]}$f"; for d in "$out"/*/; do tail -n +2 "$d$f" | sed "s#^series-#$(basename "$d")/series-#"; done; } >"$out/$f"
  done
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
  merge_parts "$out"
}
mkdir -p "$WORK"
gen_parallel "$WORK/procedural" "$SEED" "$COUNT" --slices "$SLICES"
# Real-anatomy insertions (bleeds in the real GE exam's slices): training uses seeds RTRAIN_* and
# only the ordered slices RTRAIN_SLICES; the held-out set other seeds and only RTEST_SLICES.
gen_parallel "$WORK/real-train" "$RTRAIN_SEED" "$RTRAIN_COUNT" --anatomy real --real-data "$REAL"
gen "$WORK/real-anatomy" "$REAL_SEED" "$REAL_COUNT" --anatomy real --real-data "$REAL"
gen_parallel "$WORK/procedural-more" "$MORE_SEED" "$MORE_COUNT" --slices "$SLICES"
gen_parallel "$WORK/seqtrain" "$SEQ_SEED" "$SEQ_COUNT" --slices "$SLICES"
# procedural5: both procedural sets in one folder (hard links), train/val/test by seed as before
rm -rf "$WORK/procedural5"; mkdir -p "$WORK/procedural5"
for d in "$WORK"/procedural/p*/; do cp -al "$d" "$WORK/procedural5/a-$(basename "$d")"; done
for d in "$WORK"/procedural-more/p*/; do cp -al "$d" "$WORK/procedural5/b-$(basename "$d")"; done
merge_parts "$WORK/procedural5"
[ "${TRAIN_DATA_ONLY:-0}" = 1 ] && exit 0

PROV="ichtriage phantom --seed $SEED --count $COUNT --slices $SLICES and --seed $MORE_SEED --count $MORE_COUNT --slices $SLICES (procedural; train/val/test by seed); ichtriage phantom --seed $SEQ_SEED --count $SEQ_COUNT --slices $SLICES (sequence head only); ichtriage phantom --seed $RTRAIN_SEED --count $RTRAIN_COUNT --anatomy real (training, ordered slices $RTRAIN_SLICES); ichtriage phantom --seed $REAL_SEED --count $REAL_COUNT --anatomy real (held out, ordered slices $RTEST_SLICES)"
cd "$ROOT/Training"
common=(--extra-train "real-train=$WORK/real-train" --extra-train-slices "$RTRAIN_SLICES"
        --extra-test "real-anatomy=$WORK/real-anatomy" --extra-test-slices "$RTEST_SLICES" --real "$REAL"
        --slice-steps "$SLICE_STEPS" --slice-minutes "$SLICE_MINUTES" --batch-size "$BATCH" --seq-epochs "$SEQ_EPOCHS"
        --seq-head "$SEQ_HEAD" --seq-correction-l2 "$SEQ_L2" --seq-logit-noise "$SEQ_NOISE" --seq-dropout "$SEQ_DROPOUT"
        --calib-series "$CALIB_SERIES" --calib-method "$CALIB_METHOD" --split 0.6,0.2,0.2)
if [ -z "$STAGE1_CNN" ]; then
  # stage 1: model 0.4.0's recipe (its bundle stays in WORK/stage1; only its CNN is carried on)
  .venv/bin/python -m ichtrain pipeline --data "$WORK/procedural" "${common[@]}" --backbone narrow --lr "$LR" \
    --seq-train data --work "$WORK/stage1" --bundle "$WORK/stage1/default" --calibration-dir "$WORK/stage1/Calibration" \
    --version "$VERSION-stage1" --provenance "stage 1 of train.sh: $PROV"
  STAGE1_CNN=$WORK/stage1/detector.pt
fi
if [ "$STAGE2_MINUTES" != 0 ]; then
  cnn=(--backbone "$BACKBONE" --slice-init "$STAGE1_CNN" --lr "$LR2" --slice-minutes "$STAGE2_MINUTES")
  how="stage 1's ($STAGE1_CNN) grown to $BACKBONE and trained on for $STAGE2_MINUTES minutes"
else
  cnn=(--backbone narrow --slice-net "$STAGE1_CNN")
  how="stage 1's ($STAGE1_CNN)"
fi
exec .venv/bin/python -m ichtrain pipeline --data "$WORK/procedural5" "${common[@]}" "${cnn[@]}" \
  --float-convs "$FLOAT_CONVS" --seq-train seq-data --seq-data "seqtrain=$WORK/seqtrain" \
  --work "$WORK/run" --bundle "$BUNDLE" --calibration-dir "$CALIB" --version "$VERSION" \
  --provenance "$PROV; slice CNN: $how"
