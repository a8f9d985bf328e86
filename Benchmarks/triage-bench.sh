#!/usr/bin/env bash
# Triage pipeline benchmark (not a test): time from "series complete" to the alert record, per
# stage (timingsMs of `ichtriage analyze --json`), and the process's peak resident memory, for
#   - a 40-slice series, 5 mm (generated: ichtriage phantom), and
#   - a 300-slice thin series, 0.625 mm (generated; averaged into ~5 mm slabs by the pipeline),
#   - the 40-slice series again with incremental inference (`analyze --incremental`: the CNN ran on
#     each slice as it arrived, so only the sequence head, decision, Grad-CAM and outputs remain),
# with 2 threads. Usage: Benchmarks/triage-bench.sh MODEL_DIR [runs]
#   (BIN=path/to/ichtriage to skip the release build; MODEL_DIR: a bundle, e.g. Models/default)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:?usage: Benchmarks/triage-bench.sh MODEL_DIR [runs]}
RUNS=${2:-3}
WORK=build/bench-triage
if [ -z "${BIN:-}" ]; then
  swift build -c release --product ichtriage >/dev/null
  BIN="$(swift build -c release --show-bin-path)/ichtriage"
fi
mkdir -p "$WORK"
gen() {  # name slices thickness
  [ -f "$WORK/$1/.complete" ] && return
  rm -rf "$WORK/$1"
  "$BIN" phantom --out "$WORK/$1" --seed 7 --count 1 --subtypes subdural --slices "$2" --thickness "$3" --tilt 0 >/dev/null
  touch "$WORK/$1/.complete"
}
gen s40 40 5
gen s300 300 0.625
for name in s40 s300 s40-incremental; do
  folder=${name%-incremental}; extra=()
  [ "$name" = s40-incremental ] && extra=(--incremental)
  for run in $(seq "$RUNS"); do
    rm -rf "$WORK/out-$name"
    /usr/bin/time -f "%M" -o "$WORK/rss-$name.txt" \
      "$BIN" analyze "$WORK/$folder" --model "$MODEL" --out "$WORK/out-$name" --threads 2 --json "${extra[@]}" > "$WORK/$name-$run.json"
  done
  python3 - "$WORK" "$name" "$RUNS" <<'PY'
import json, sys
work, name, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
best = None
for r in range(1, runs + 1):
    s = json.load(open(f"{work}/{name}-{r}.json"))["series"][0]
    t = s["timingsMs"]
    if best is None or t["total"] < best[0]["total"]:
        best = (t, s)
t, s = best
rss = int(open(f"{work}/rss-{name}.txt").read().split()[-1]) / 1024
stages = ["checks", "decode", "plan", "preprocess", "inference", "decision", "gradcam", "render", "outputs"]
to_record = sum(t.get(k, 0) for k in stages)
print(f"{name}: {len(s['slices'])} slices -> {s['slabs']} slabs, tier {s['tier']}; best of {runs}: "
      f"series complete -> alert record {to_record:.0f} ms; peak RSS {rss:.0f} MB (whole process, last run)")
print("   " + "  ".join(f"{k} {t.get(k, 0):.1f}" for k in stages)
      + (f"  (CNN before completion: {t['preparedBeforeCompletion']:.0f})" if "preparedBeforeCompletion" in t else ""))
PY
done
