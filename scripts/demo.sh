#!/usr/bin/env bash
# make demo: run what the appliance has on the sample exams and say what is not built yet.
set -euo pipefail
BIN=$1; DATA=$2; OUT=$3
mkdir -p "$OUT"
echo "== ichtriage demo =="
echo "sample exams: $DATA"
for d in "$DATA"/ge-hispeed-human "$DATA"/philips-ingenuity-phantom-usb-export; do
  name=$(basename "$d")
  echo
  echo "-- intake: ichtriage scan --decode $d"
  # Text for people; the same result as JSON in $OUT for programs.
  "$BIN" scan --decode "$d"
  "$BIN" scan --json "$d" > "$OUT/scan-$name.json"
  echo "   (JSON: $OUT/scan-$name.json)"
done
echo
echo "Not built yet: the hemorrhage detector, alerting and the service. The intake above (drop folder,"
echo "classification, series assembly, HU decode, quarantine, C-STORE receiver) is what runs today."
