#!/usr/bin/env bash
# make demo: the appliance's main job on its defaults, on this machine.
#   sample exams (the two real exams + generated ones) -> a drop folder -> ichtriaged (the real
#   service: intake, durable jobs, triage pipeline on the signed model, status screen) -> alerts.
# Usage: scripts/demo.sh BIN_DIR REAL_EXAMS_DIR OUT_DIR
set -euo pipefail
BIN=$1; DATA=$2; OUT=$3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=$OUT/run
rm -rf "$RUN"
mkdir -p "$RUN/drop" "$RUN/keys"
RUN=$(cd "$RUN" && pwd)

echo "== ichtriage demo =="
echo "-- sample exams into the drop folder $RUN/drop"
cp -r "$DATA/ge-hispeed-human" "$RUN/drop/real-ge-human"
cp -r "$DATA/philips-ingenuity-phantom-usb-export" "$RUN/drop/real-philips-usb"
# Generated exams (synthetic: procedural heads with inserted bleeds, and negatives).
"$BIN/ichtriage" phantom --out "$RUN/generated-bleed" --seed 2024 --count 2 --subtypes subdural,intraparenchymal >/dev/null
"$BIN/ichtriage" phantom --out "$RUN/generated-negative" --seed 3030 --count 1 --subtypes none >/dev/null
for g in "$RUN"/generated-*; do
  for s in "$g"/series-*; do cp -r "$s" "$RUN/drop/$(basename "$g")-$(basename "$s")"; done
done
ls "$RUN/drop" | sed 's/^/   /'

MODEL=$ROOT/Models/default
if [ -f "$MODEL/manifest.json" ] && [ -f "$MODEL/model.onnx" ]; then
  echo "-- model: $MODEL, signed with a throwaway demo key and installed into the model store"
  "$ROOT/scripts/install-model.sh" "$BIN" "$MODEL" "$RUN/state/models" "$RUN/keys" | sed 's/^/   /'
else
  echo "-- no model bundle in $MODEL: the service will show its 'no valid model' fault and analyse nothing"
fi

cat > "$RUN/ichtriaged.json" <<EOF
{
  "dropFolders": ["$RUN/drop"],
  "stateDirectory": "$RUN/state",
  "quarantineDirectory": "$RUN/quarantine",
  "outboxDirectory": "$RUN/outbox",
  "modelKeysDirectory": "$RUN/keys",
  "stableSeconds": 0.5, "quietPeriodSeconds": 2, "rescanSeconds": 1,
  "display": {"framebuffer": "", "png": "$RUN/screen.png"}
}
EOF
echo "-- running the service: ichtriaged --config $RUN/ichtriaged.json --exit-when-idle 5"
"$BIN/ichtriaged" --config "$RUN/ichtriaged.json" --exit-when-idle 5 2> "$RUN/ichtriaged.log" || {
  echo "ichtriaged failed; its log:"; cat "$RUN/ichtriaged.log"; exit 1; }
sed 's/^<[0-9]>/   /' "$RUN/ichtriaged.log" | grep -vE 'file skipped' | tail -n 30

echo
echo "-- alerts (newest last; source folder in brackets)"
for d in "$RUN"/drop/*; do "$BIN/ichtriage" scan --json "$d" > "$RUN/scan-$(basename "$d").json"; done
found=0
for record in "$RUN"/state/alerts/*/alert.json; do
  [ -f "$record" ] || continue
  found=1
  python3 - "$record" "$RUN" <<'PY'
import glob, json, os, sys
r = json.load(open(sys.argv[1]))
source = "?"
for scan in glob.glob(os.path.join(sys.argv[2], "scan-*.json")):
    if any(s["seriesInstanceUID"] == r["seriesInstanceUID"] for s in json.load(open(scan)).get("series", [])):
        source = os.path.basename(scan)[5:-5]
p = r.get("probabilities", {})
probs = " ".join(f"{k}={p[k]:.2f}" for k in ["any","epidural","intraparenchymal","intraventricular","subarachnoid","subdural"] if k in p)
print(f"   {r['tier']:<9} [{source}] {probs}")
if r.get("reason"): print(f"             reason: {r['reason']}")
print(f"             {len(r.get('thumbnails', []))} Grad-CAM thumbnails in {os.path.dirname(sys.argv[1])}")
PY
done
[ "$found" = 1 ] || echo "   none (see the service log above)"
echo
echo "status screen: $RUN/screen.png"
echo "alert records: $RUN/state/alerts/<SeriesInstanceUID>/alert.json"
echo "DICOM Secondary Captures for PACS: $RUN/outbox"
echo "quarantine: $RUN/quarantine"
echo "NOT FOR DIAGNOSTIC USE: the detector is trained on synthetic data only (see Models/default/EVALUATION.md)."
