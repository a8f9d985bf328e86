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
# udev's own parser on the rules: `udevadm verify` where it exists (systemd >= 253), else
# `udevadm test` with only our rules in /etc/udev/rules.d (a private mount namespace; needs root).
# Every message udev prints about one of our files is a failure, except the groups that
# sysusers creates on the appliance.
rules_dir="$tmp/rules.d"; mkdir -p "$rules_dir"; cp Systemd/*.rules "$rules_dir/"
if ! command -v udevadm >/dev/null; then
  echo "  skip udev parse check: no udevadm (apt package udev)"
elif udevadm verify --help >/dev/null 2>&1; then
  out=$(udevadm verify "$rules_dir"/*.rules 2>&1) && ok "udevadm verify" || bad "udevadm verify" "$out"
elif [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
  out=$(unshare -m sh -c "mount --bind '$rules_dir' /etc/udev/rules.d && udevadm test --action=add /sys/class/net/lo" 2>&1)
  read_ok=$(echo "$out" | grep -c '^Reading rules file: /etc/udev/rules.d/.*ichtriage')
  complaints=$(echo "$out" | grep -E '^/etc/udev/rules.d/[^:]*ichtriage[^:]*:[0-9]+ ' | grep -vE "Unknown group '(gpio|video)'")
  if [ "$read_ok" = "$(ls "$rules_dir" | wc -l)" ] && [ -z "$complaints" ]; then ok "udev parses the rules (udevadm test, systemd $(udevadm --version))"
  else bad "udev parses the rules" "read $read_ok rules files; ${complaints:-}"; fi
else
  echo "  skip udev parse check: udevadm $(udevadm --version) has no verify, and udevadm test needs root for a private mount namespace"
fi
echo "units: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
