#!/usr/bin/env bash
# Intake throughput (not a test): slices/s of `ichtriage scan` (header read, classification,
# series assembly) and of `scan --decode` (plus decoding every slice to HU) on
#   - the 28-slice GE exam (../shared/data/real-head-ct/ge-hispeed-human), and
#   - a generated 300-slice series (GE slices copied and re-identified with dcmodify: new SOP
#     Instance UIDs, one Series UID, 1 mm axial positions).
# Usage: Benchmarks/intake-bench.sh [runs]   (BIN=path/to/ichtriage to skip the release build)
# Files are read from the page cache after the first run; the best of N runs is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
DATA=${ICHTRIAGE_SHARED_DATA:-$(cd .. && pwd)/shared/data/real-head-ct}
WORK=build/bench-intake
if [ -z "${BIN:-}" ]; then
  swift build -c release --product ichtriage >/dev/null
  BIN="$(swift build -c release --show-bin-path)/ichtriage"
fi

mkdir -p "$WORK"
if [ ! -f "$WORK/s300/.complete" ]; then
  rm -rf "$WORK/s300"; mkdir -p "$WORK/s300"
  series="2.25.$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')"
  src=("$DATA"/ge-hispeed-human/*.dcm)
  for i in $(seq 0 299); do
    f="$WORK/s300/IM$(printf %03d "$i")"
    cp "${src[$((i % ${#src[@]}))]}" "$f"; chmod u+w "$f"
    dcmodify -nb -gin -m "(0020,000E)=$series" -m "(0020,0013)=$((i + 1))" \
      -m "(0020,0032)=-125\\-125\\$i" -m "(0020,0037)=1\\0\\0\\0\\1\\0" \
      -m "(0018,1120)=0" -m "(0018,0050)=1" -m "(0008,103E)=BENCH 300" "$f" >/dev/null
  done
  touch "$WORK/s300/.complete"
fi

best() {  # best wall time (s) of RUNS runs of the command
  local b=""
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
    b=$(python3 -c "t=$t1-$t0; b='$b'; print(t if b=='' else min(t, float(b)))")
  done
  echo "$b"
}

echo "intake throughput ($(uname -m), $(nproc) cores, $("$BIN" --help >/dev/null && echo release build), best of $RUNS)"
printf '%-22s %7s %12s %12s %14s %14s\n' dataset slices "scan s" "slices/s" "scan+HU s" "slices/s"
for d in "$DATA/ge-hispeed-human" "$WORK/s300"; do
  n=$("$BIN" scan --json "$d" | python3 -c "import json,sys; print(sum(s['slices'] for s in json.load(sys.stdin)['series']))")
  a=$(best "$BIN" scan --json "$d")
  b=$(best "$BIN" scan --json --decode "$d")
  python3 -c "print('%-22s %7d %12.3f %12.0f %14.3f %14.0f' % ('$(basename "$d")', $n, $a, $n/$a, $b, $n/$b))"
done
