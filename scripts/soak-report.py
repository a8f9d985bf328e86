#!/usr/bin/env python3
"""Checks a soak run (scripts/soak.sh) and writes its report.

Everything comes from what the run left behind: the SQLite job store, the alert record files, the
quarantine, the drop folder, the model store, the service logs and the soak's own notes (meta/).
Exit status 1 when a check fails; the report is written either way."""
import argparse, csv, datetime, glob, hashlib, json, os, platform, re, sqlite3, statistics, subprocess, sys, tarfile

ap = argparse.ArgumentParser()
for name in ["out", "bin", "root", "report", "command", "seed", "elapsed", "kills", "quick", "stable", "quiet", "min-free"]:
    ap.add_argument("--" + name, default="")
a = ap.parse_args()
out = a.out
state = f"{out}/fs/state"
problems, notes = [], []


def tsv(name):
    path = f"{out}/meta/{name}"
    return [line.rstrip("\n").split("\t") for line in open(path)] if os.path.exists(path) else []


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def when(text):  # GRDB stores dates as "YYYY-MM-DD HH:MM:SS.SSS" in UTC
    return datetime.datetime.strptime(text[:23], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp()


uid_of = {r["folder"]: r["series_instance_uid"] for r in csv.DictReader(open(f"{out}/generated/series.csv"))}
drops = tsv("drops.tsv")
role_of, drop_time = {}, {}
for role, name, t in drops:
    if role == "duplicate":
        continue
    role_of[name] = role
    drop_time[name] = float(t)
duplicates = [name for role, name, _ in drops if role == "duplicate"]
expected = {uid_of[name]: name for name in role_of}
roles = {}
for name, role in role_of.items():
    roles.setdefault(role, []).append(name)

db = sqlite3.connect(f"file:{state}/ichtriage.sqlite?mode=ro", uri=True)
jobs = db.execute("SELECT seriesUID, state, attempts, lastError, enqueuedAt, updatedAt FROM job").fetchall()
alerts = db.execute("SELECT seriesUID, tier, record, raisedAt FROM alert").fetchall()
jobs_of, alerts_of = {}, {}
for j in jobs:
    jobs_of.setdefault(j[0], []).append(j)
for al in alerts:
    alerts_of.setdefault(al[0], []).append(al)

# --- series: processed, lost, analysed twice, duplicate alerts -----------------------------------
logs = sorted(glob.glob(f"{out}/logs/run-*.log"))
log_text = {p: open(p, errors="replace").read() for p in logs}
analysed_lines = {}
for text in log_text.values():
    for line in text.splitlines():
        if "series analysed" in line:
            for uid in expected:
                if uid in line:
                    analysed_lines[uid] = analysed_lines.get(uid, 0) + 1
lost = [uid for uid in expected if uid not in alerts_of]
dup_alert_rows = sum(len(v) - 1 for v in alerts_of.values() if len(v) > 1)
dup_jobs = sum(len(v) - 1 for v in jobs_of.values() if len(v) > 1)
unfinished = [j for j in jobs if j[1] != "done"]
strangers = [uid for uid in alerts_of if uid not in expected]
analysed_twice = {uid: n for uid, n in analysed_lines.items() if n > 1}
records = glob.glob(f"{state}/alerts/*/alert.json")
record_uids = [json.load(open(p)).get("seriesInstanceUID") for p in records]
dup_records = len(record_uids) - len(set(record_uids))
tiers_by_role = {}
for uid, name in expected.items():
    for al in alerts_of.get(uid, []):
        tiers_by_role.setdefault(role_of[name], {}).setdefault(al[1], 0)
        tiers_by_role[role_of[name]][al[1]] += 1
if lost:
    problems.append(f"{len(lost)} series lost (no alert): " + ", ".join(f"{expected[u]} ({role_of[expected[u]]})" for u in lost))
if dup_alert_rows: problems.append(f"{dup_alert_rows} duplicate alert rows")
if dup_records: problems.append(f"{dup_records} duplicate alert record files")
if dup_jobs: problems.append(f"{dup_jobs} duplicate jobs")
if unfinished: problems.append(f"{len(unfinished)} jobs not done: {[(j[0][-12:], j[1], j[3]) for j in unfinished][:5]}")
if strangers: problems.append(f"{len(strangers)} alerts for series nobody dropped")
if set(record_uids) != set(alerts_of): problems.append(f"alert record files ({len(set(record_uids))} series) and alert rows ({len(alerts_of)} series) differ")
for uid, name in expected.items():
    for al in alerts_of.get(uid, []):
        if al[1] == "NOT_ANALYSABLE" and not role_of[name].startswith("yanked"):
            reason = json.loads(al[2]).get("reason", "?")
            problems.append(f"{name} ({role_of[name]}) NOT ANALYSABLE: {reason}")
# A re-analysis of the same slices is a duplicate analysis; the slow copies may legitimately grow.
for uid, n in analysed_twice.items():
    if role_of[expected[uid]] not in ("slow",):
        problems.append(f"{expected[uid]} ({role_of[expected[uid]]}) analysed {n} times")

# --- malformed files -------------------------------------------------------------------------------
malformed = tsv("malformed.tsv")
reason_files = glob.glob(f"{out}/fs/quarantine/*.reason.txt")
quarantined_for = {}
for rf in reason_files:
    text = open(rf, errors="replace").read()
    m = re.search(r"^file: (.*)$", text, re.M)
    r = re.search(r"^reason: (.*)$", text, re.M)
    if m: quarantined_for[m.group(1)] = (r.group(1) if r else "?", rf)
mal_rows = []
for kind, rel in malformed:
    path = f"{out}/drop/{rel}"
    q = quarantined_for.get(path)
    mal_rows.append((kind, rel, q[0] if q else None, os.path.exists(path)))
    if not q: problems.append(f"malformed file {rel} ({kind}) not quarantined")
    elif os.path.exists(path): problems.append(f"malformed file {rel} ({kind}) quarantined but still in the drop folder")
mal_paths = {f"{out}/drop/{rel}" for _, rel in malformed}
other_quarantine = {p: q for p, q in quarantined_for.items() if p not in mal_paths}
if other_quarantine:
    problems.append(f"{len(other_quarantine)} good files quarantined: " + "; ".join(f"{os.path.relpath(p, out)}: {q[0]}" for p, q in list(other_quarantine.items())[:4]))

# --- input files: still in the drop folder, unchanged ----------------------------------------------
missing_inputs = changed_inputs = checked_inputs = 0
for role, name, _ in drops:
    source = name[len("again-"):] if role == "duplicate" else name
    for f in sorted(os.listdir(f"{out}/generated/{source}")):
        dropped = f"{out}/drop/{name}/{f}"
        if role == "yanked-half" and not os.path.exists(dropped):
            continue  # never copied
        if dropped in mal_paths:
            continue
        checked_inputs += 1
        if not os.path.exists(dropped): missing_inputs += 1
        elif sha(dropped) != sha(f"{out}/generated/{source}/{f}"): changed_inputs += 1
if missing_inputs: problems.append(f"{missing_inputs} good input files gone from the drop folder")
if changed_inputs: problems.append(f"{changed_inputs} input files changed")

# --- crashes -----------------------------------------------------------------------------------------
crash_markers = re.compile(r"Fatal error|Segmentation fault|Illegal instruction|Trace/breakpoint|^<[012]>")
crash_lines = [(os.path.basename(p), l) for p, t in log_text.items() for l in t.splitlines() if crash_markers.search(l)]
if crash_lines: problems.append(f"{len(crash_lines)} crash/critical lines in the service logs, first: {crash_lines[0][1][:200]}")

# --- model bundles -----------------------------------------------------------------------------------
bundles = tsv("bundles.tsv")
kind_of = {os.path.basename(p): (k, exp) for k, exp, p in bundles}
update_results = {}
for text in log_text.values():
    for line in text.splitlines():
        if "model update" not in line: continue
        m = re.search(r"bundle=(\S+)", line); r = re.search(r"result=(\S+)", line)
        if m and r: update_results.setdefault(m.group(1), []).append(r.group(1))
accepted_results = {"installed", "already-active", "rolled-back"}


def manifest_sha(bundle_path):
    try:
        with tarfile.open(bundle_path) as t:
            return hashlib.sha256(t.extractfile("manifest.json").read()).hexdigest()
    except Exception:
        return None


valid_hashes = {manifest_sha(f"{out}/bundles/{n}") for n in ["base.ichmodel"] + [os.path.basename(p) for k, e, p in bundles if e == "valid"]}
tampered_tried = [n for n, (k, e) in kind_of.items() if e == "tampered"]
tampered_accepted = [n for n in tampered_tried if accepted_results & set(update_results.get(n, []))]
tampered_never_tried = [n for n in tampered_tried if n not in update_results]
valid_installed = [n for n, (k, e) in kind_of.items() if e == "valid" and "installed" in update_results.get(n, [])]
valid_tried = [n for n, (k, e) in kind_of.items() if e == "valid"]
active = json.load(open(f"{state}/models/active.json"))
for slot in ("active", "previous"):
    entry = active.get(slot)
    if entry and entry.get("manifestSHA256") not in valid_hashes:
        problems.append(f"the {slot} model ({entry.get('modelVersion')}) is not one of the valid bundles")
if tampered_accepted: problems.append(f"tampered bundles accepted: {tampered_accepted}")
if tampered_never_tried: problems.append(f"tampered bundles never tried by the service: {tampered_never_tried}")
if len(valid_installed) != len(valid_tried): problems.append(f"valid bundles not installed: {sorted(set(valid_tried) - set(valid_installed))}")
if active.get("outOfService"): problems.append(f"the active model is out of service: {active['outOfService']}")
refusals = {}
for n in tampered_tried:
    refusals[n] = sorted(set(update_results.get(n, [])))

# --- latency under the burst -------------------------------------------------------------------------
lat_drop, lat_queue = [], []
job_by_uid = {j[0]: j for j in jobs}
for name in roles.get("burst", []):
    uid = uid_of[name]
    if uid in alerts_of:
        raised = when(alerts_of[uid][0][3])
        lat_drop.append(raised - drop_time[name])
        if uid in job_by_uid: lat_queue.append(raised - when(job_by_uid[uid][4]))

# --- memory ------------------------------------------------------------------------------------------
peak_by_pid = {}
if os.path.exists(f"{out}/meta/vmhwm.log"):
    for line in open(f"{out}/meta/vmhwm.log"):
        parts = line.split()
        if len(parts) == 2: peak_by_pid[parts[0]] = max(peak_by_pid.get(parts[0], 0), int(parts[1]))
peak_kb = max(peak_by_pid.values(), default=0)

kills = tsv("kills.tsv")
disk = open(f"{out}/meta/disk.txt").read().strip().splitlines() if os.path.exists(f"{out}/meta/disk.txt") else []
for line in disk:
    if re.match(r"(fault-shown|survived-full|recovered-without-restart|fault-cleared): no", line):
        problems.append("full disk: " + line)
disk_log = [l for t in log_text.values() for l in t.splitlines()
            if re.search(r"disk space|could not queue|cannot store|cannot record|No space|analysis failed", l)]

# --- the report ----------------------------------------------------------------------------------------
def med(xs): return statistics.median(xs) if xs else float("nan")
def cpu():
    try:
        return next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except Exception:
        return platform.processor() or "?"
def memtotal():
    try:
        return next(l.split(":", 1)[1].strip() for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    except Exception:
        return "?"
def git(*args):
    try: return subprocess.run(["git", "-C", a.root, *args], capture_output=True, text=True).stdout.strip()
    except Exception: return "?"

n_expected = len(expected)
passed = not problems
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
L = []
L.append("# Soak report")
L.append("")
L.append(f"Written by `make soak` (scripts/soak.sh, checks and report: scripts/soak-report.py). "
         f"Every figure below comes from this one run; rerun the command to regenerate it.")
L.append("")
L.append(f"- **Result: {'PASSED' if passed else 'FAILED'}**" + ("" if passed else f" ({len(problems)} problems, listed below)"))
L.append(f"- Date: {now}; commit `{git('rev-parse', '--short', 'HEAD')}`{' (+ uncommitted changes)' if git('status', '--porcelain', '--untracked-files=no') else ''} on branch `{git('rev-parse', '--abbrev-ref', 'HEAD')}`")
L.append(f"- Machine: {platform.machine()}, {cpu()}, {os.cpu_count()} cores, {memtotal()} RAM, load average at the end {os.getloadavg()[0]:.1f} (shared with other jobs)")
L.append(f"- Command: `{a.command.strip()}` (seed {a.seed}{', quick mode' if a.quick == '1' else ''}); binaries: release build in `{os.path.relpath(a.bin, a.root) if a.bin.startswith(a.root) else a.bin}`")
L.append(f"- Duration: {int(a.elapsed) // 60} min {int(a.elapsed) % 60} s")
L.append(f"- Setup: the real `ichtriaged` in a temporary root; state, quarantine and outbox on {open(f'{out}/meta/fs').read().strip()}; "
         f"screen rendered to a PNG file (`display.framebuffer: \"\"`, `display.png`; the fake framebuffer{', rendered' if os.path.exists(f'{out}/screen.png') else ', NOT rendered'}); "
         f"GPIO disabled (`gpio.enabled: false`: this machine has no gpiochip, so no line was driven); "
         f"stableSeconds {a.stable}, quietPeriodSeconds {a.quiet}, minimumFreeMegabytes {getattr(a, 'min_free')}, 1 inference thread.")
L.append("")
L.append("## Series")
L.append("")
L.append("| figure | value |")
L.append("|---|---|")
L.append(f"| series dropped | {n_expected} ({', '.join(f'{len(v)} {k}' for k, v in sorted(roles.items()))}) |")
L.append(f"| duplicate drops (same files again under another folder) | {len(duplicates)} |")
L.append(f"| series processed (one alert each) | {len([u for u in expected if u in alerts_of])} |")
L.append(f"| series lost | {len(lost)} |")
L.append(f"| series analysed twice (more than one completed analysis in the logs) | {len(analysed_twice)}{' (' + ', '.join(f'{expected[u]}: {n}' for u, n in analysed_twice.items()) + ')' if analysed_twice else ''} |")
L.append(f"| duplicate alerts (rows / record files) | {dup_alert_rows} / {dup_records} |")
L.append(f"| jobs redone after a kill (attempts > 1) | {sum(1 for j in jobs if j[2] > 1)} (most attempts for one series: {max((j[2] for j in jobs), default=0)}) |")
L.append(f"| tiers by kind of drop | {'; '.join(f'{k}: ' + ', '.join(f'{t} {n}' for t, n in sorted(v.items())) for k, v in sorted(tiers_by_role.items()))} |")
truth = {r["series_instance_uid"]: r["present_subtypes"] for r in csv.DictReader(open(f"{out}/generated/series.csv"))}
vs_truth = {}
for uid in expected:
    for al in alerts_of.get(uid, []):
        kind = "no bleed" if truth.get(uid, "none") in ("none", "") else "bleed"
        vs_truth.setdefault(kind, {}).setdefault(al[1], 0)
        vs_truth[kind][al[1]] += 1
L.append(f"| tiers against the generator's truth (not a check: the soak tests the appliance, not the detector) | {'; '.join(f'{k}: ' + ', '.join(f'{t} {n}' for t, n in sorted(v.items())) for k, v in sorted(vs_truth.items()))} |")
L.append(f"| good input files still in the drop folder, unchanged | {checked_inputs - missing_inputs - changed_inputs} of {checked_inputs} |")
L.append("")
yank_notes = []
for name in roles.get("yanked-half", []) + roles.get("yanked-cut", []):
    for al in alerts_of.get(uid_of[name], []):
        rec = json.loads(al[2])
        yank_notes.append(f"- {role_of[name]} ({name}): {al[1]}" + (f" — {rec.get('reason')}" if rec.get("reason") else ""))
if yank_notes:
    L.append("Yanked copies (a series whose second half never came; one whose last file was cut mid-write):")
    L.extend(yank_notes)
    L.append("")
L.append("## Malformed files")
L.append("")
L.append(f"{len(malformed)} tried, {sum(1 for r in mal_rows if r[2])} quarantined with a reason, "
         f"{len(other_quarantine)} good files quarantined, {len(crash_lines)} crash lines in the logs.")
L.append("")
L.append("| kind | file | quarantine reason |")
L.append("|---|---|---|")
for kind, rel, reason, still in mal_rows:
    L.append(f"| {kind} | `{rel.split('/')[-1]}` | {reason or '**not quarantined**'} |")
L.append("")
L.append("## Kills")
L.append("")
L.append(f"{len(kills)} `kill -9` at random moments (random delays up to {max((int(k[1]) for k in kills), default=0) / 1000:.1f} s), "
         f"every second one aimed at a running analysis; {sum(1 for j in jobs if j[2] > 1)} series were redone because a kill hit their analysis; "
         f"{len(logs)} service starts in all; survived: {len(kills) if not lost and not dup_alert_rows else 'see problems'} "
         f"(every series still analysed exactly once afterwards).")
L.append("")
L.append("## Model updates during load")
L.append("")
L.append(f"- Tampered bundles tried: {len(tampered_tried)}; accepted: **{len(tampered_accepted)}**")
for n in sorted(tampered_tried):
    L.append(f"  - `{n}`: {', '.join(refusals[n]) or 'never tried'} ({len(update_results.get(n, []))} tries, one per service start)")
L.append(f"- Valid bundles installed: {len(valid_installed)} of {len(valid_tried)} ({', '.join(sorted(valid_installed))}); "
         f"active model at the end: {active.get('active', {}).get('modelVersion')}, previous: {(active.get('previous') or {}).get('modelVersion')}")
L.append("")
L.append("## Alert latency under the burst")
L.append("")
L.append(f"{len(lat_drop)} series dropped at once; from the drop (the folder moved in) to the alert row "
         f"(`alert.raisedAt` in the job store): median **{med(lat_drop):.1f} s**, worst **{max(lat_drop, default=float('nan')):.1f} s**; "
         f"from the job's queueing (`job.enqueuedAt`) to the alert: median {med(lat_queue):.1f} s, worst {max(lat_queue, default=float('nan')):.1f} s. "
         f"This includes the quiet period ({a.quiet} s), the analyses one after another on 1 thread, and the model installs "
         f"(self-tests in the engine) running meanwhile, on a shared 2-core machine.")
L.append("")
L.append("## Peak memory")
L.append("")
L.append(f"**{peak_kb / 1024:.0f} MiB**: the largest VmHWM (peak resident set) of any ichtriaged process, "
         f"read from /proc/PID/status every 0.5 s ({len(peak_by_pid)} processes sampled, one per start).")
L.append("")
L.append("## Full disk")
L.append("")
if disk:
    for line in disk: L.append(f"- {line}")
    if disk_log:
        L.append("")
        L.append("What the service logged meanwhile (first lines):")
        L.append("```")
        for l in disk_log[:8]: L.append(l[:300])
        L.append("```")
L.append("")
L.append("## Problems")
L.append("")
L.extend([f"- {p}" for p in problems] or ["None: zero lost series, zero duplicate alerts, zero accepted tampered bundles, zero crashes on malformed input."])
L.append("")
L.append("## Fuzzing")
L.append("")
fuzz = os.path.join(a.root, "Benchmarks", "fuzzing.md")
if os.path.exists(fuzz):
    L.append("From [fuzzing.md](fuzzing.md) (`make fuzz`: DICOM header and decode; `make fuzz-onnx`: the ONNX loader), as it stood at this run:")
    L.append("")
    for line in open(fuzz).read().splitlines():
        L.append(("#" + line) if line.startswith("#") else line)
else:
    L.append("No Benchmarks/fuzzing.md at this run: the fuzzing totals (`make fuzz`, `make fuzz-onnx`) are recorded there by whoever runs them.")
L.append("")
text = "\n".join(L) + "\n"
if a.report:
    os.makedirs(os.path.dirname(os.path.abspath(a.report)), exist_ok=True)
    open(a.report, "w").write(text)
    print(f"report: {a.report}")
print(f"series {n_expected}, processed {len([u for u in expected if u in alerts_of])}, lost {len(lost)}, analysed twice {len(analysed_twice)}, "
      f"duplicate alerts {dup_alert_rows}; malformed {len(malformed)} tried / {sum(1 for r in mal_rows if r[2])} quarantined; "
      f"kills {len(kills)}; tampered {len(tampered_tried)} tried / {len(tampered_accepted)} accepted; valid installed {len(valid_installed)}; "
      f"latency median {med(lat_drop):.1f} s worst {max(lat_drop, default=float('nan')):.1f} s; peak VmHWM {peak_kb / 1024:.0f} MiB")
if problems:
    print("soak FAILED:")
    for p in problems: print("   - " + p)
    sys.exit(1)
print("soak passed")
