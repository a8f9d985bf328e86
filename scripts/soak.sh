#!/usr/bin/env bash
# Soak: the real release service (`ichtriaged`) attacked the way the field will, bounded in time,
# with one report of figures (Benchmarks/soak-report.md).
#
# The service runs in a temporary root: a drop folder, a state/quarantine/outbox file system of its
# own (a small tmpfs when this runs as root, so the disk can really fill), the status screen
# rendered to a PNG file instead of /dev/fb0 (the fake framebuffer), and GPIO disabled (this
# machine has no gpiochip; `gpio.enabled: false`). Phases, all against the running service:
#   A  burst: BURST series dropped at once; duplicate drops of some of them (same files under
#      another folder name); model bundles dropped meanwhile: one valid upgrade (signed with the
#      trusted throwaway key) and tampered ones (unsigned, unknown key, a flipped model byte, an
#      edited manifest, a truncated archive), into the drop folder and <state>/updates.
#   B  slow copies (files written in pieces with pauses, within stableSeconds/quietPeriodSeconds),
#      files yanked mid-copy (a series whose second half never comes; a series whose last file is
#      cut mid-write), malformed files mixed into real series (truncated DICOM, garbage bytes named
#      .dcm, a slice whose pixel data length disagrees with Rows).
#   C  kill -9 at random moments while series arrive in waves and a second valid upgrade and a
#      tampered bundle wait in the drop folder.
#   D  full disk: the state file system is filled below minimumFreeMegabytes (the service must show
#      a fault), then to the last byte while series arrive (nothing may crash or be dropped
#      silently); then the space is freed and the waiting series must be analysed.
#   E  a final run with --exit-when-idle, then checks from the SQLite job store, the alert records,
#      the outbox, the quarantine and the drop folder, and the report.
# Exits non-zero when a check fails (the report is written either way).
#
# Usage: scripts/soak.sh [--bin DIR] [--quick] [--seed N] [--out DIR] [--keep] [--report FILE]
#   --bin: folder with ichtriage and ichtriaged (default: the release build folder).
#   --quick: about 3 minutes instead of about 12 (fewer series and kills).
#   --out: work folder (default: a fresh temporary folder, removed afterwards unless --keep).
#   --report: where the report goes (default Benchmarks/soak-report.md; "" for none).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=""; QUICK=0; SEED=$RANDOM; OUT=""; KEEP=0; REPORT="$ROOT/Benchmarks/soak-report.md"
COMMAND_LINE="scripts/soak.sh $*"
while [ $# -gt 0 ]; do
  case $1 in
    --bin) BIN=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --seed) SEED=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --report) REPORT=$2; shift 2 ;;
    *) echo "soak: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$BIN" ] || BIN=$(cd "$ROOT" && swift build -c release --show-bin-path)
BIN=$(cd "$BIN" && pwd)
for exe in ichtriage ichtriaged; do
  [ -x "$BIN/$exe" ] || { echo "soak: no $BIN/$exe (build first: make build)" >&2; exit 2; }
done
for tool in python3 dcmodify sha256sum; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is needed (scripts/setup.sh installs it)" >&2; exit 2; }
done
[ -f "$ROOT/Models/default/manifest.json" ] || { echo "soak: no model bundle in Models/default" >&2; exit 2; }

if [ "$QUICK" = 1 ]; then
  BURST=8; DUPS=2; SLOW=1; MALFORMED_SERIES=1; KILL_SERIES=4; KILLS=5; DISK_SERIES=1; MAX_DELAY=4
else
  BURST=20; DUPS=4; SLOW=3; MALFORMED_SERIES=3; KILL_SERIES=10; KILLS=15; DISK_SERIES=2; MAX_DELAY=6
fi
YANKED=2
TOTAL=$((BURST + SLOW + MALFORMED_SERIES + KILL_SERIES + DISK_SERIES + YANKED))
SLICES=12
STABLE=1; QUIET=3          # seconds; the slow copies pause less than these, the yanked ones forever
MIN_FREE_MB=12; FS_MB=160  # the state file system and the free space below which the disk is a fault

if [ -z "$OUT" ]; then OUT=$(mktemp -d /tmp/ichtriage-soak.XXXXXX); else rm -rf "$OUT"; mkdir -p "$OUT"; fi
OUT=$(cd "$OUT" && pwd)
SERVICE_PID=""; SAMPLER_PID=""; MOUNTED=0; BG_PIDS=()
cleanup() {
  [ -n "$SERVICE_PID" ] && kill -9 "$SERVICE_PID" 2>/dev/null || true
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "$MOUNTED" = 1 ]; then
    [ "$KEEP" = 1 ] && cp -a "$OUT/fs" "$OUT/fs-kept" 2>/dev/null
    umount "$OUT/fs" 2>/dev/null || true
    [ "$KEEP" = 1 ] && rmdir "$OUT/fs" 2>/dev/null && mv "$OUT/fs-kept" "$OUT/fs"
  fi
  [ "$KEEP" = 1 ] || rm -rf "$OUT"
}
trap cleanup EXIT
RANDOM=$SEED
STARTED=$(date +%s)
say() { printf '[%4ds] %s\n' $(( $(date +%s) - STARTED )) "$*"; }
fail() { echo "soak: $*" >&2; exit 1; }

mkdir -p "$OUT/drop" "$OUT/staging" "$OUT/keys" "$OUT/logs" "$OUT/bundles" "$OUT/fs" "$OUT/meta"
# The state, quarantine and outbox on a small file system of their own, so the disk can fill.
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=${FS_MB}m ichtriage-soak "$OUT/fs" 2>/dev/null; then
  MOUNTED=1; echo "tmpfs ${FS_MB} MiB" > "$OUT/meta/fs"
else
  echo "none (not root or mount refused: the full-disk phase is skipped)" > "$OUT/meta/fs"
fi
STATE=$OUT/fs/state
mkdir -p "$STATE/updates"

say "soak: seed $SEED, $TOTAL series of $SLICES slices, $KILLS kills, work folder $OUT"
"$BIN/ichtriage" phantom --out "$OUT/generated" --seed "$SEED" --count "$TOTAL" --slices "$SLICES" \
  --thickness 5 --tilt 0 --matrix 256 >/dev/null
mapfile -t ALL < <(cd "$OUT/generated" && ls -d series-* | sort)
[ "${#ALL[@]}" = "$TOTAL" ] || fail "the generator made ${#ALL[@]} series, $TOTAL asked for"
take() { local n=$1; PICK=("${ALL[@]:$CURSOR:$n}"); CURSOR=$((CURSOR + n)); }
CURSOR=0
take "$BURST"; BURST_S=("${PICK[@]}")
take "$SLOW"; SLOW_S=("${PICK[@]}")
take "$MALFORMED_SERIES"; MAL_S=("${PICK[@]}")
take "$KILL_SERIES"; KILL_S=("${PICK[@]}")
take "$DISK_SERIES"; DISK_S=("${PICK[@]}")
take "$YANKED"; YANK_S=("${PICK[@]}")
: > "$OUT/meta/drops.tsv"      # role <tab> folder <tab> drop time (epoch s)
: > "$OUT/meta/malformed.tsv"  # kind <tab> path under drop/
: > "$OUT/meta/bundles.tsv"    # kind <tab> expected (valid|tampered) <tab> path
: > "$OUT/meta/kills.tsv"      # round <tab> delay ms

# --- keys and bundles: a trusted throwaway key, an untrusted one; versions above the installed one
KEYS_PRIVATE=$(mktemp -d)
trap 'rm -rf "$KEYS_PRIVATE"; cleanup' EXIT
"$BIN/ichtriage" model keygen --out "$KEYS_PRIVATE/trusted.key" --name soak-trusted >/dev/null
"$BIN/ichtriage" model keygen --out "$KEYS_PRIVATE/stranger.key" --name soak-stranger >/dev/null
cp "$KEYS_PRIVATE/trusted.key.pub" "$OUT/keys/"
base_version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$ROOT/Models/default/manifest.json")
bundle() {  # bundle VERSION_SUFFIX OUTFILE [unsigned|stranger]
  local src=$KEYS_PRIVATE/src-$1
  rm -rf "$src"; cp -r "$ROOT/Models/default" "$src"
  python3 - "$src/manifest.json" "$1" <<'PY'
import json, sys
path, suffix = sys.argv[1], sys.argv[2]
m = json.load(open(path))
major, minor, patch = (m["version"].split(".") + ["0", "0"])[:3]
m["version"] = f"{major}.{minor}.{int(patch.split('-')[0]) + int(suffix)}"
json.dump(m, open(path, "w"), indent=2)
PY
  "$BIN/ichtriage" model pack "$src" --out "$2" >/dev/null
  case ${3:-trusted} in
    unsigned) ;;
    stranger) "$BIN/ichtriage" model sign --key "$KEYS_PRIVATE/stranger.key" "$2" >/dev/null ;;
    *) "$BIN/ichtriage" model sign --key "$KEYS_PRIVATE/trusted.key" "$2" >/dev/null ;;
  esac
}
# Flips one byte inside one member of a bundle archive (its data, not the tar header), at the
# first occurrence of MARKER in that member plus SKIP, or in the middle when MARKER is empty.
flip_member() { python3 - "$1" "$2" "$3" "$4" <<'PY'
import sys, tarfile
path, member, marker, skip = sys.argv[1], sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
with tarfile.open(path) as t:
    m = t.getmember(member)
    start, size = m.offset_data, m.size
data = bytearray(open(path, "rb").read())
at = data.find(marker, start, start + size) + skip if marker else start + size // 2
if marker and at < skip: sys.exit(f"soak: {marker!r} not in {member} of {path}")
data[at] ^= 0x01
open(path, "wb").write(bytes(data))
PY
}
bundle 0 "$OUT/bundles/base.ichmodel"
"$BIN/ichtriage" model install --store "$STATE/models" --keys "$OUT/keys" "$OUT/bundles/base.ichmodel" >/dev/null
bundle 1 "$OUT/bundles/upgrade-1.ichmodel"
bundle 2 "$OUT/bundles/upgrade-2.ichmodel"
bundle 5 "$OUT/bundles/tampered-unsigned.ichmodel" unsigned
bundle 5 "$OUT/bundles/tampered-unknown-key.ichmodel" stranger
bundle 5 "$OUT/bundles/tampered-model-byte.ichmodel"
flip_member "$OUT/bundles/tampered-model-byte.ichmodel" model.onnx "" 0
bundle 5 "$OUT/bundles/tampered-manifest.ichmodel"
flip_member "$OUT/bundles/tampered-manifest.ichmodel" manifest.json '"modelVersion"' 20
bundle 5 "$OUT/bundles/tampered-truncated.ichmodel"
truncate -s 1000000 "$OUT/bundles/tampered-truncated.ichmodel"
bundle 6 "$OUT/bundles/tampered-late.ichmodel"
flip_member "$OUT/bundles/tampered-late.ichmodel" manifest.json '"sha256"' 15
for b in "$OUT"/bundles/tampered-*.ichmodel; do
  "$BIN/ichtriage" model verify --keys "$OUT/keys" "$b" >/dev/null 2>&1 \
    && fail "$(basename "$b") verifies: the tampering did not work"
done

cat > "$OUT/ichtriaged.json" <<EOF
{
  "dropFolders": ["$OUT/drop"],
  "stateDirectory": "$STATE",
  "quarantineDirectory": "$OUT/fs/quarantine",
  "outboxDirectory": "$OUT/fs/outbox",
  "modelKeysDirectory": "$OUT/keys",
  "stableSeconds": $STABLE, "quietPeriodSeconds": $QUIET, "rescanSeconds": 1,
  "threads": 1,
  "minimumFreeMegabytes": $MIN_FREE_MB,
  "display": {"framebuffer": "", "png": "$OUT/screen.png"},
  "gpio": {"enabled": false}
}
EOF

# --- the service, its memory, and the store --------------------------------------------------------
RUN=0
start_service() {
  RUN=$((RUN + 1))
  "$BIN/ichtriaged" --config "$OUT/ichtriaged.json" "$@" 2> "$OUT/logs/run-$(printf %03d $RUN).log" &
  SERVICE_PID=$!
  echo "$SERVICE_PID" > "$OUT/meta/service.pid"
}
stop_service_kill() {
  kill -0 "$SERVICE_PID" 2>/dev/null || { cat "$OUT/logs/run-$(printf %03d $RUN).log" >&2; fail "ichtriaged exited by itself (run $RUN); its log is above"; }
  kill -9 "$SERVICE_PID"; wait "$SERVICE_PID" 2>/dev/null || true; SERVICE_PID=""
}
# VmHWM (peak resident set) of whichever ichtriaged runs, every 0.5 s, the last value per process.
( while true; do
    pid=$(cat "$OUT/meta/service.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
      hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
      [ -n "$hwm" ] && echo "$pid $hwm" >> "$OUT/meta/vmhwm.log"
    fi
    sleep 0.5
  done ) &
SAMPLER_PID=$!
query() { python3 - "$STATE/ichtriage.sqlite" "$1" <<'PY'
import sqlite3, sys
try:
    db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=10)
    print(db.execute(sys.argv[2]).fetchone()[0])
except sqlite3.Error:
    print(0)
PY
}
# Waits until the store holds N alert rows (at most T seconds); returns non-zero on time-out.
wait_alerts() {
  local n=$1 t=$2 end=$(( $(date +%s) + $2 ))
  while [ "$(query 'SELECT COUNT(*) FROM alert')" -lt "$n" ]; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    kill -0 "$SERVICE_PID" 2>/dev/null || { cat "$OUT/logs/run-$(printf %03d $RUN).log" >&2; fail "ichtriaged died (run $RUN); its log is above"; }
    sleep 1
  done
}
drop_now() {  # drop_now ROLE SERIES [NAME]: copy beside the drop folder, move in whole
  local name=${3:-$2}
  cp -r "$OUT/generated/$2" "$OUT/staging/$name"
  mv "$OUT/staging/$name" "$OUT/drop/$name"
  printf '%s\t%s\t%s\n' "$1" "$name" "$(date +%s.%N)" >> "$OUT/meta/drops.tsv"
}
drop_bundle() {  # drop_bundle FILE valid|tampered [FOLDER]
  local folder=${3:-$OUT/drop}
  cp "$1" "$OUT/staging/$(basename "$1")"; mv "$OUT/staging/$(basename "$1")" "$folder/"
  printf '%s\t%s\t%s\n' "$(basename "$1" .ichmodel)" "$2" "$folder/$(basename "$1")" >> "$OUT/meta/bundles.tsv"
}
expected_alerts=0

# --- A: burst ---------------------------------------------------------------------------------------
start_service
sleep 2
say "A: burst of $BURST series at once, $DUPS duplicate drops, model bundles during the load"
for s in "${BURST_S[@]}"; do drop_now burst "$s"; done
expected_alerts=$((expected_alerts + BURST))
drop_bundle "$OUT/bundles/upgrade-1.ichmodel" valid
drop_bundle "$OUT/bundles/tampered-unsigned.ichmodel" tampered
drop_bundle "$OUT/bundles/tampered-unknown-key.ichmodel" tampered
drop_bundle "$OUT/bundles/tampered-model-byte.ichmodel" tampered "$STATE/updates"
drop_bundle "$OUT/bundles/tampered-manifest.ichmodel" tampered
drop_bundle "$OUT/bundles/tampered-truncated.ichmodel" tampered "$STATE/updates"
# Duplicates: half while the burst is analysed, half once it is done.
for ((i = 0; i < DUPS / 2; i++)); do drop_now duplicate "${BURST_S[$i]}" "again-${BURST_S[$i]}"; done
wait_alerts "$expected_alerts" $((BURST * 30 + 60)) || fail "the burst was not analysed in time: $(query 'SELECT COUNT(*) FROM alert') of $expected_alerts alerts"
for ((i = DUPS / 2; i < DUPS; i++)); do drop_now duplicate "${BURST_S[$i]}" "again-${BURST_S[$i]}"; done
say "A: $(query 'SELECT COUNT(*) FROM alert') alerts; active model $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["active"]["modelVersion"])' "$STATE/models/active.json" 2>/dev/null || echo '?')"

# --- B: slow copies, yanked copies, malformed files ------------------------------------------------
say "B: $SLOW slow copies, $YANKED yanked copies, malformed files in $MALFORMED_SERIES series"
slow_copy() {  # each file in 3 pieces, 0.3 s apart; 0.5-1.5 s between files (under stable/quiet)
  local s=$1 dest=$OUT/drop/$1
  mkdir -p "$dest"
  printf '%s\t%s\t%s\n' slow "$s" "$(date +%s.%N)" >> "$OUT/meta/drops.tsv"
  for f in "$OUT/generated/$s"/*; do
    local size=$(stat -c %s "$f") part
    part=$(( size / 3 + 1 ))
    for k in 0 1 2; do
      dd if="$f" of="$dest/$(basename "$f")" bs="$part" skip=$k seek=$k count=1 conv=notrunc status=none
      sleep 0.3
    done
    sleep "0.$(( 5 + RANDOM % 10 ))"
  done
}
for s in "${SLOW_S[@]}"; do slow_copy "$s" & BG_PIDS+=($!); done
expected_alerts=$((expected_alerts + SLOW))
# Yanked 1: only the first half of the files ever arrives (the stick pulled, the copy never resumed).
y=${YANK_S[0]}; mkdir -p "$OUT/drop/$y"
mapfile -t files < <(ls "$OUT/generated/$y" | sort)
for ((i = 0; i < ${#files[@]} / 2; i++)); do cp "$OUT/generated/$y/${files[$i]}" "$OUT/drop/$y/"; done
printf '%s\t%s\t%s\n' yanked-half "$y" "$(date +%s.%N)" >> "$OUT/meta/drops.tsv"
# Yanked 2: every file, but the last one cut mid-write and never finished.
y=${YANK_S[1]}; mkdir -p "$OUT/drop/$y"
mapfile -t files < <(ls "$OUT/generated/$y" | sort)
for ((i = 0; i < ${#files[@]} - 1; i++)); do cp "$OUT/generated/$y/${files[$i]}" "$OUT/drop/$y/"; done
last=${files[$(( ${#files[@]} - 1 ))]}
head -c $(( $(stat -c %s "$OUT/generated/$y/$last") * 6 / 10 )) "$OUT/generated/$y/$last" > "$OUT/drop/$y/$last"
printf '%s\t%s\n' cut-mid-write "$y/$last" >> "$OUT/meta/malformed.tsv"
printf '%s\t%s\t%s\n' yanked-cut "$y" "$(date +%s.%N)" >> "$OUT/meta/drops.tsv"
expected_alerts=$((expected_alerts + YANKED))
# Malformed files mixed into real series: built beside the drop folder, moved in with the series.
for s in "${MAL_S[@]}"; do
  cp -r "$OUT/generated/$s" "$OUT/staging/$s"
  first=$(ls "$OUT/staging/$s" | sort | head -n 1)
  # A truncated DICOM file (a slice of its own, cut in its pixel data).
  cp "$OUT/staging/$s/$first" "$OUT/staging/$s/zz-truncated.dcm"
  dcmodify -nb -gin "$OUT/staging/$s/zz-truncated.dcm" >/dev/null 2>&1
  truncate -s $(( $(stat -c %s "$OUT/staging/$s/zz-truncated.dcm") / 2 )) "$OUT/staging/$s/zz-truncated.dcm"
  # Garbage bytes with a DICOM name.
  head -c $((20000 + RANDOM)) /dev/urandom > "$OUT/staging/$s/zz-garbage.dcm"
  # A slice whose pixel data does not match its Rows (it claims 300 rows of 256 columns).
  cp "$OUT/staging/$s/$first" "$OUT/staging/$s/zz-wrong-length.dcm"
  dcmodify -nb -gin -m "(0028,0010)=300" "$OUT/staging/$s/zz-wrong-length.dcm" >/dev/null 2>&1
  mv "$OUT/staging/$s" "$OUT/drop/$s"
  printf '%s\t%s\t%s\n' malformed-mix "$s" "$(date +%s.%N)" >> "$OUT/meta/drops.tsv"
  for k in truncated garbage wrong-length; do printf '%s\t%s\n' "$k" "$s/zz-$k.dcm" >> "$OUT/meta/malformed.tsv"; done
done
expected_alerts=$((expected_alerts + MALFORMED_SERIES))
for p in "${BG_PIDS[@]}"; do wait "$p"; done; BG_PIDS=()
wait_alerts "$expected_alerts" $(( (SLOW + YANKED + MALFORMED_SERIES) * 30 + 60 )) \
  || say "B: only $(query 'SELECT COUNT(*) FROM alert') of $expected_alerts alerts in time (the checks at the end say which)"
say "B: $(query 'SELECT COUNT(*) FROM alert') alerts"
kill -9 "$SERVICE_PID"; wait "$SERVICE_PID" 2>/dev/null || true; SERVICE_PID=""

# --- C: kill -9 at random moments -------------------------------------------------------------------
say "C: $KILLS kills at random moments (0-$MAX_DELAY s) while $KILL_SERIES series arrive in waves"
wave=$(( (KILL_SERIES + 2) / 3 )); next=0
drop_bundle "$OUT/bundles/upgrade-2.ichmodel" valid
drop_bundle "$OUT/bundles/tampered-late.ichmodel" tampered
for ((k = 1; k <= KILLS; k++)); do
  if (( k % 2 == 1 )); then
    for ((j = 0; j < wave && next < KILL_SERIES; j++)); do drop_now kill "${KILL_S[$next]}"; next=$((next + 1)); done
  fi
  start_service
  delay_ms=$(( (RANDOM * 32768 + RANDOM) % (MAX_DELAY * 1000 + 1) ))
  if (( k % 2 == 0 )); then
    # Every second kill aims at an analysis: once a job runs (at most MAX_DELAY s), 0-1 s later.
    end=$(( $(date +%s) + MAX_DELAY ))
    while [ "$(query "SELECT COUNT(*) FROM job WHERE state = 'running'")" = 0 ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.2; done
    delay_ms=$(( RANDOM % 1000 ))
  fi
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  stop_service_kill
  printf '%s\t%s\n' "$k" "$delay_ms" >> "$OUT/meta/kills.tsv"
done
while [ "$next" -lt "$KILL_SERIES" ]; do drop_now kill "${KILL_S[$next]}"; next=$((next + 1)); done
expected_alerts=$((expected_alerts + KILL_SERIES))
start_service
wait_alerts "$expected_alerts" $((KILL_SERIES * 30 + 90)) \
  || say "C: only $(query 'SELECT COUNT(*) FROM alert') of $expected_alerts alerts in time"
say "C: $(query 'SELECT COUNT(*) FROM alert') alerts after $KILLS kills"

# --- D: full disk ------------------------------------------------------------------------------------
: > "$OUT/meta/disk.txt"
if [ "$MOUNTED" = 1 ]; then
  say "D: the state file system filled below $MIN_FREE_MB MB free, then to the last byte"
  free_kb() { df -k --output=avail "$OUT/fs" | tail -n 1 | tr -d ' '; }
  log_now() { cat "$OUT"/logs/run-*.log; }
  fill_kb=$(( $(free_kb) - MIN_FREE_MB * 1024 / 2 ))
  [ "$fill_kb" -gt 0 ] && dd if=/dev/zero of="$OUT/fs/filler-low" bs=1k count="$fill_kb" status=none
  echo "low: $(free_kb) KiB free" >> "$OUT/meta/disk.txt"
  end=$(( $(date +%s) + 45 ))
  until log_now | grep -q 'disk space low'; do
    [ "$(date +%s)" -lt "$end" ] && sleep 1 || break
  done
  if log_now | grep -q 'disk space low'; then echo "fault-shown: yes" >> "$OUT/meta/disk.txt"
  else echo "fault-shown: no (no 'disk space low' in the log within 45 s)" >> "$OUT/meta/disk.txt"; fi
  dd if=/dev/zero of="$OUT/fs/filler-full" bs=1k status=none 2>/dev/null || true
  echo "full: $(free_kb) KiB free" >> "$OUT/meta/disk.txt"
  for s in "${DISK_S[@]}"; do drop_now disk-full "$s"; done
  expected_alerts=$((expected_alerts + DISK_SERIES))
  sleep $((QUIET + STABLE + 12))
  kill -0 "$SERVICE_PID" 2>/dev/null && echo "survived-full: yes" >> "$OUT/meta/disk.txt" \
    || echo "survived-full: no (ichtriaged exited while the disk was full)" >> "$OUT/meta/disk.txt"
  echo "alerts-while-full: $(query 'SELECT COUNT(*) FROM alert') of $expected_alerts" >> "$OUT/meta/disk.txt"
  rm -f "$OUT/fs/filler-full" "$OUT/fs/filler-low"
  echo "freed: $(free_kb) KiB free" >> "$OUT/meta/disk.txt"
  if kill -0 "$SERVICE_PID" 2>/dev/null; then
    if wait_alerts "$expected_alerts" 90; then echo "recovered-without-restart: yes" >> "$OUT/meta/disk.txt"
    else echo "recovered-without-restart: no ($(query 'SELECT COUNT(*) FROM alert') of $expected_alerts alerts 90 s after the space was freed)" >> "$OUT/meta/disk.txt"; fi
    end=$(( $(date +%s) + 45 ))
    until log_now | grep -q 'disk space recovered'; do [ "$(date +%s)" -lt "$end" ] && sleep 1 || break; done
    log_now | grep -q 'disk space recovered' && echo "fault-cleared: yes" >> "$OUT/meta/disk.txt" \
      || echo "fault-cleared: no (no 'disk space recovered' in the log within 45 s)" >> "$OUT/meta/disk.txt"
  fi
  sed 's/^/   /' "$OUT/meta/disk.txt"
else
  say "D: skipped (no file system of its own to fill: $(cat "$OUT/meta/fs"))"
  echo "skipped: $(cat "$OUT/meta/fs")" >> "$OUT/meta/disk.txt"
fi
[ -n "$SERVICE_PID" ] && { kill -9 "$SERVICE_PID" 2>/dev/null || true; wait "$SERVICE_PID" 2>/dev/null || true; SERVICE_PID=""; }

# --- E: final run and checks -------------------------------------------------------------------------
say "E: final run (--exit-when-idle 5), then the checks"
start_service --exit-when-idle 5
wait "$SERVICE_PID" || { cat "$OUT/logs/run-$(printf %03d $RUN).log" >&2; fail "the final run failed; its log is above"; }
SERVICE_PID=""
kill "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""
ELAPSED=$(( $(date +%s) - STARTED ))

set +e
python3 "$ROOT/scripts/soak-report.py" --out "$OUT" --bin "$BIN" --root "$ROOT" --report "$REPORT" \
  --command "$COMMAND_LINE" --seed "$SEED" --elapsed "$ELAPSED" --kills "$KILLS" --quick "$QUICK" \
  --stable "$STABLE" --quiet "$QUIET" --min-free "$MIN_FREE_MB"
rc=$?
set -e
[ "$KEEP" = 1 ] && echo "work folder kept: $OUT"
exit $rc
