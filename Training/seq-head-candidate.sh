#!/usr/bin/env bash
# A sequence-head candidate on an existing slice CNN (how candidates b and d of model 0.4.0 were made;
# docs/model.md "Candidate 0.4.0 d"): the pipeline on train.sh's data with --slice-net, so only the
# head, temperature, int8 calibration, thresholds, evaluation and bundle are made (about 3-8 minutes).
# Usage: Training/seq-head-candidate.sh NAME THREADS [pipeline options, e.g. --seq-head residual ...]
# Env: CAND_DATA (train.sh's TRAIN_WORK, default build/train2), CAND_CNN (a detector.pt), CAND_OUT
# (default build/cand-d); the bundle goes to CAND_OUT/NAME/default unless --bundle is given.
# CAND_PROCEDURAL (procedural: model 0.4.0's 120 series; procedural5: 0.5.0's 400) and
# CAND_BACKBONE (narrow for 0.4.0's CNN, narrow2 for 0.5.0's) select the data and the CNN's shape.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=$1; T=$2; shift 2
D=${CAND_DATA:-$ROOT/build/train2}; CNN=${CAND_CNN:-$ROOT/build/candidate-040a/detector.pt}; O=${CAND_OUT:-$ROOT/build/cand-d}/$N
mkdir -p "$O"
cd "$ROOT/Training"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
exec .venv/bin/python -m ichtrain pipeline --data "$D/${CAND_PROCEDURAL:-procedural}" \
  --extra-train "real-train=$D/real-train" --extra-train-slices 0-6,14-20 \
  --extra-test "real-anatomy=$D/real-anatomy" --extra-test-slices 7-13,21-27 --real "${ICHTRIAGE_SHARED_DATA:-$ROOT/../shared/data/real-head-ct}" \
  --work "$O/work" --bundle "$O/default" --calibration-dir "$O/Calibration" --backbone "${CAND_BACKBONE:-narrow}" --slice-net "$CNN" \
  --batch-size 16 --lr 2e-3 --calib-series 24 --calib-method auto --split 0.6,0.2,0.2 --version "${CAND_VERSION:-0.4.0}" \
  --threads "$T" --load-workers 2 "$@" \
  --provenance "data ${CAND_PROCEDURAL:-procedural} of train.sh (procedural: ichtriage phantom --seed 2000 --count 120 --slices 24; procedural5: that and --seed 4000 --count 280; train/val/test by seed); ichtriage phantom --seed 910000 --count 120 --anatomy real (training, ordered slices 0-6,14-20); ichtriage phantom --seed 900000 --count 16 --anatomy real (held out, ordered slices 7-13,21-27); slice CNN from $CNN, sequence head: $*"
