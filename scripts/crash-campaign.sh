#!/usr/bin/env bash
# Crash campaign: the real service under kill -9 at random moments.
#
# Generates SERIES synthetic head CTs (`ichtriage phantom`), installs the default model bundle the
# way `make demo` does, and drops the series into a drop folder in waves while `ichtriaged` runs.
# Each round starts the service, waits a random time (0..MAX_DELAY s), kills it with SIGKILL and
# starts it again; after KILLS kills the service runs once more with --exit-when-idle. Then it
# checks, from the job store (SQLite) and the alerts, outbox, drop and quarantine folders:
#   - every series has exactly one job, finished (`done`), and exactly one alert row;
#   - every series has exactly one alert record file, and the outbox holds one Secondary Capture
#     series per series (never two mixed sets from two attempts);
#   - no analysis result was thrown away as "interrupted too often" (NOT ANALYSABLE);
#   - every input file is still in the drop folder, byte for byte, and nothing was quarantined.
# Prints the figures; exits non-zero if any check fails.
#
# Usage: scripts/crash-campaign.sh [--bin DIR] [--kills N] [--series N] [--slices N]
#                                  [--max-delay SECONDS] [--seed N] [--out DIR] [--keep]
#   --bin: folder with ichtriage and ichtriaged (default: the release build folder).
#   --out: work folder (default: a fresh temporary folder, removed afterwards unless --keep).
# `make crash-campaign` runs the full campaign (50 kills, 20 series); `make test` runs a short one.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=""; KILLS=50; SERIES=20; SLICES=12; MAX_DELAY=4; SEED=$RANDOM; OUT=""; KEEP=0
while [ $# -gt 0 ]; do
  case $1 in
    --bin) BIN=$2; shift 2 ;;
    --kills) KILLS=$2; shift 2 ;;
    --series) SERIES=$2; shift 2 ;;
    --slices) SLICES=$2; shift 2 ;;
    --max-delay) MAX_DELAY=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "crash-campaign: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$BIN" ] || BIN=$(cd "$ROOT" && swift build -c release --show-bin-path)
for exe in ichtriage ichtriaged; do
  [ -x "$BIN/$exe" ] || { echo "crash-campaign: no $BIN/$exe (build first: make build)" >&2; exit 2; }
done
if [ -z "$OUT" ]; then OUT=$(mktemp -d /tmp/ichtriage-crash.XXXXXX); else rm -rf "$OUT"; mkdir -p "$OUT"; fi
OUT=$(cd "$OUT" && pwd)
SERVICE_PID=""
cleanup() {
  [ -n "$SERVICE_PID" ] && kill -9 "$SERVICE_PID" 2>/dev/null || true
  [ "$KEEP" = 1 ] || rm -rf "$OUT"
}
trap cleanup EXIT
mkdir -p "$OUT/drop" "$OUT/staging" "$OUT/keys" "$OUT/logs"
RANDOM=$SEED   # the kill moments and waves are reproducible from the seed

echo "== crash campaign: $KILLS kills, $SERIES series of $SLICES slices, seed $SEED, work folder $OUT =="
"$BIN/ichtriage" phantom --out "$OUT/generated" --seed "$SEED" --count "$SERIES" --slices "$SLICES" \
  --thickness 5 --tilt 0 --matrix 256 >/dev/null
# What the drop folder must still hold at the end: every input file and its checksum.
(cd "$OUT/generated" && find series-* -type f | sort | xargs sha256sum) > "$OUT/inputs.sha256"

"$ROOT/scripts/install-model.sh" "$BIN" "$ROOT/Models/default" "$OUT/state/models" "$OUT/keys" >/dev/null

cat > "$OUT/ichtriaged.json" <<EOF
{
  "dropFolders": ["$OUT/drop"],
  "stateDirectory": "$OUT/state",
  "quarantineDirectory": "$OUT/quarantine",
  "outboxDirectory": "$OUT/outbox",
  "modelKeysDirectory": "$OUT/keys",
  "stableSeconds": 0.2, "quietPeriodSeconds": 0.5, "rescanSeconds": 0.5,
  "threads": 1,
  "display": {"framebuffer": "", "png": "$OUT/screen.png"}
}
EOF

# Series enter the drop folder in waves during the first rounds, so intake is killed too. Each
# series is copied beside the drop folder and moved in whole (a scanner's or share's finished
# transfer); a stick pulled mid-copy is ServiceTests' USB test.
series_dirs=("$OUT"/generated/series-*)
next=0
drop_wave() {
  local n=$1
  while [ "$n" -gt 0 ] && [ "$next" -lt "${#series_dirs[@]}" ]; do
    local s=${series_dirs[$next]}
    cp -r "$s" "$OUT/staging/"
    mv "$OUT/staging/$(basename "$s")" "$OUT/drop/"
    next=$((next + 1)); n=$((n - 1))
  done
}
wave=$(( (SERIES + 3) / 4 ))

query() { python3 - "$OUT/state/ichtriage.sqlite" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=10)
print(db.execute(sys.argv[2]).fetchone()[0])
PY
}

mid_analysis=0
last_claims=0
started=$(date +%s)
for ((k = 1; k <= KILLS; k++)); do
  if (( k % 3 == 1 )); then drop_wave "$wave"; fi
  "$BIN/ichtriaged" --config "$OUT/ichtriaged.json" 2> "$OUT/logs/run-$k.log" &
  SERVICE_PID=$!
  # A random moment: 0 to MAX_DELAY seconds, in milliseconds.
  delay_ms=$(( (RANDOM * 32768 + RANDOM) % (MAX_DELAY * 1000 + 1) ))
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
    echo "crash-campaign: ichtriaged exited by itself in round $k; its log:" >&2
    cat "$OUT/logs/run-$k.log" >&2; exit 1
  fi
  kill -9 "$SERVICE_PID"; wait "$SERVICE_PID" 2>/dev/null || true; SERVICE_PID=""
  # The kill hit an analysis when this run handed out a job (attempts grew) and left it running.
  if [ -f "$OUT/state/ichtriage.sqlite" ]; then
    claims=$(query "SELECT COALESCE(SUM(attempts), 0) FROM job")
    running=$(query "SELECT COUNT(*) FROM job WHERE state = 'running'")
    if [ "$claims" -gt "$last_claims" ] && [ "$running" != 0 ]; then mid_analysis=$((mid_analysis + 1)); fi
    last_claims=$claims
  fi
  printf '\r   kill %d/%d after %4d ms (%d mid-analysis, %d series dropped)' "$k" "$KILLS" "$delay_ms" "$mid_analysis" "$next"
done
echo
drop_wave "$SERIES"
"$BIN/ichtriaged" --config "$OUT/ichtriaged.json" --exit-when-idle 8 2> "$OUT/logs/final.log" || {
  echo "crash-campaign: the final run failed; its log:" >&2; cat "$OUT/logs/final.log" >&2; exit 1; }
elapsed=$(( $(date +%s) - started ))

python3 - "$OUT" "$SERIES" "$KILLS" "$mid_analysis" "$elapsed" <<'PY'
import glob, hashlib, json, os, sqlite3, subprocess, sys
out, n_series, kills, mid, elapsed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
db = sqlite3.connect(f"file:{out}/state/ichtriage.sqlite?mode=ro", uri=True)
problems = []

# The series that were dropped, by SeriesInstanceUID (from the generator's own list).
import csv
expected = {row["series_instance_uid"] for row in csv.DictReader(open(f"{out}/generated/series.csv"))}
jobs = db.execute("SELECT seriesUID, state, attempts, lastError FROM job").fetchall()
alerts = db.execute("SELECT seriesUID, tier, record FROM alert").fetchall()
job_series = [j[0] for j in jobs]
alert_series = [a[0] for a in alerts]
if len(expected) != n_series:
    problems.append(f"{len(expected)} distinct series generated, {n_series} asked for")
missing_jobs = expected - set(job_series)
if missing_jobs: problems.append(f"{len(missing_jobs)} series never became a job")
extra = set(job_series) - expected
if extra: problems.append(f"{len(extra)} jobs for series that were not dropped")
dup_jobs = len(job_series) - len(set(job_series))
dup_alerts = len(alert_series) - len(set(alert_series))
if dup_jobs: problems.append(f"{dup_jobs} duplicate jobs")
if dup_alerts: problems.append(f"{dup_alerts} duplicate alert rows")
not_done = [j for j in jobs if j[1] != "done"]
if not_done: problems.append(f"{len(not_done)} jobs not done: {not_done[:3]}")
no_alert = expected - set(alert_series)
if no_alert: problems.append(f"{len(no_alert)} series without an alert")
given_up = [a for a in alerts if a[1] == "NOT_ANALYSABLE"]
if given_up:
    reasons = {json.loads(a[2]).get("reason", "?") for a in given_up}
    problems.append(f"{len(given_up)} series NOT ANALYSABLE: {sorted(reasons)}")
tiers = {}
for a in alerts: tiers[a[1]] = tiers.get(a[1], 0) + 1
redone = sum(1 for j in jobs if j[2] > 1)
max_attempts = max((j[2] for j in jobs), default=0)

# Alert record files: one folder per series, holding one alert.json about that series.
record_files = glob.glob(f"{out}/state/alerts/*/alert.json")
record_series = [json.load(open(f))["seriesInstanceUID"] for f in record_files]
if sorted(record_series) != sorted(expected):
    problems.append(f"alert record files: {len(record_files)} for {len(set(record_series))} series, expected one each for {len(expected)}")
for f in record_files:
    tier = json.load(open(f))["tier"]
    uid = json.load(open(f))["seriesInstanceUID"]
    stored = [a[1] for a in alerts if a[0] == uid]
    if stored and stored[0] != tier:
        problems.append(f"series {uid}: record file says {tier}, store says {stored[0]}")

# Outbox: per series folder, every Secondary Capture of one series (one attempt's set).
sc_series = 0
sc_files = 0
for folder in sorted(glob.glob(f"{out}/outbox/*")):
    files = sorted(glob.glob(f"{folder}/*.dcm"))
    uids = set()
    for f in files:
        dump = subprocess.run(["dcmdump", "+P", "0020,000e", f], capture_output=True, text=True).stdout
        uids.add(dump.split("[", 1)[1].split("]", 1)[0] if "[" in dump else "?")
    sc_files += len(files)
    if len(uids) > 1: problems.append(f"outbox {os.path.basename(folder)}: Secondary Captures from {len(uids)} different attempts")
    if files: sc_series += 1
leftover = glob.glob(f"{out}/state/alerts/outbox/*/*")
if leftover: problems.append(f"{len(leftover)} Secondary Capture files left behind in the alerts folder (not moved to the outbox)")

# Inputs: every file still in the drop folder, unchanged; nothing quarantined.
lost = changed = 0
for line in open(f"{out}/inputs.sha256"):
    digest, path = line.split(None, 1)
    path = os.path.join(out, "drop", path.strip())
    if not os.path.exists(path): lost += 1
    elif hashlib.sha256(open(path, "rb").read()).hexdigest() != digest: changed += 1
inputs = sum(1 for _ in open(f"{out}/inputs.sha256"))
quarantined = len(glob.glob(f"{out}/quarantine/*"))
if lost: problems.append(f"{lost} input files lost")
if changed: problems.append(f"{changed} input files changed")
if quarantined: problems.append(f"{quarantined} entries in quarantine")

print(f"   kills: {kills} (SIGKILL at random moments; {mid} of them during an analysis), {elapsed} s in all")
print(f"   series dropped: {len(expected)}; jobs: {len(jobs)} ({len(not_done)} unfinished, {dup_jobs} duplicate)")
print(f"   analysed: {len(set(alert_series) & expected)} series, each with one alert row ({dup_alerts} duplicate alert rows); tiers {tiers}")
print(f"   redone after a kill: {redone} series (most attempts for one series: {max_attempts}); given up as NOT ANALYSABLE: {len(given_up)}")
print(f"   alert record files: {len(record_files)}; outbox: {sc_files} Secondary Capture files for {sc_series} series")
print(f"   input files: {inputs}, lost {lost}, changed {changed}; quarantined {quarantined}")
if problems:
    print("crash campaign FAILED:")
    for p in problems: print("   - " + p)
    sys.exit(1)
print("crash campaign passed")
PY
