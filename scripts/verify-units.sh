#!/usr/bin/env bash
# Checks everything under Systemd/: systemd-analyze verify on the units (with ExecStart pointed
# at a real executable, since the package is not installed here), the security exposure,
# sysusers and tmpfiles applied to a scratch root. Prints "units: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
exe=${1:-/bin/true}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { echo "  ok   $1"; pass=$((pass+1)); }
bad() { echo "  FAIL $1"; echo "$2" | sed 's/^/       /'; fail=$((fail+1)); }

for unit in Systemd/*.service; do
  name=$(basename "$unit")
  sed "s#^\(Exec[A-Za-z]*\)=/usr/bin/ichtriaged#\1=$exe#" "$unit" > "$tmp/$name"
  out=$(systemd-analyze verify --man=no "$tmp/$name" 2>&1)
  [ -z "$out" ] && ok "verify $name" || bad "verify $name" "$out"
  exposure=$(systemd-analyze security --offline=yes "$tmp/$name" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  if [ -n "$exposure" ] && awk "BEGIN{exit !($exposure <= 2.0)}"; then ok "security exposure $name = $exposure (goal <= 2.0)"
  else bad "security exposure $name = ${exposure:-unknown}" "goal is 2.0 or lower"; fi
done

root="$tmp/root"; mkdir -p "$root/etc"
out=$(systemd-sysusers --root="$root" "$PWD"/Systemd/ichtriage.sysusers 2>&1)
if [ $? -eq 0 ] && grep -q '^ichtriage:' "$root/etc/passwd" && grep -q '^gpio:.*ichtriage' "$root/etc/group"; then ok "sysusers"
else bad "sysusers" "$out"; fi
out=$(systemd-tmpfiles --root="$root" --create "$PWD"/Systemd/ichtriage.tmpfiles 2>&1)
if [ -d "$root/var/spool/ichtriage/quarantine" ] && [ -d "$root/media/ichtriage" ]; then ok "tmpfiles"
else bad "tmpfiles" "$out"; fi
for rules in Systemd/*.rules; do
  # systemd 252 has no `udevadm verify`; check that each rule line has only known keys.
  out=$(grep -vE '^\s*(#|$)' "$rules" | sed -e ':a;/\\$/N;s/\\\n//;ta' | grep -vE '^(ACTION|SUBSYSTEM|SUBSYSTEMS|KERNEL|ENV\{[A-Z_]+\})==' )
  [ -z "$out" ] && ok "rules syntax $(basename "$rules")" || bad "rules syntax $(basename "$rules")" "$out"
done
echo "units: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
