#!/usr/bin/env bash
# make demo: run what the appliance has on the sample exams and say what is not built yet.
set -euo pipefail
BIN=$1; DATA=$2; OUT=$3
mkdir -p "$OUT"
echo "== ichtriage demo =="
echo "sample exams: $DATA"
for d in "$DATA"/ge-hispeed-human "$DATA"/philips-ingenuity-phantom-usb-export; do
  echo "-- scan $d"
  "$BIN" scan "$d" || true
done
