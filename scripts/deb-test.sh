#!/usr/bin/env bash
# make deb-test: the .deb installs, upgrades (N -> N+1) and purges cleanly in a fresh Debian 12
# root (debootstrap --variant=minbase bookworm under build/deb-test, chroot; the debootstrap
# tarball and the downloaded .debs are cached under build/cache).
#
#   scripts/deb-test.sh DEB_N DEB_N+1
#
# Every check prints "ok ..." or "FAIL ..."; the script exits non-zero on the first failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. Image/lib.sh
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"
[ $# -eq 2 ] || die "usage: $0 DEB_N DEB_N+1"
DEB1=$(realpath "$1"); DEB2=$(realpath "$2")
V1=$(dpkg-deb -f "$DEB1" Version); V2=$(dpkg-deb -f "$DEB2" Version)
dpkg --compare-versions "$V2" gt "$V1" || die "$V2 is not newer than $V1"
need_host_packages debootstrap

R=$ROOT/build/deb-test/root
trap 'chroot_umount "$R"' EXIT
start=$(date +%s)
pass=0
ok() { echo "  ok   $*"; pass=$((pass+1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else die "$what"; fi; }
q() { in_root "$R" "$@" >/dev/null 2>&1; }

log "fresh Debian 12 minbase root: $R"
fresh_root "$R"
chroot_mount "$R"
apt_in_root "$R" update >/dev/null
cp "$DEB1" "$DEB2" "$R/tmp/"
pkgs_before=$(in_root "$R" dpkg-query -W -f='${Package}\n' | sort)

# --- install N ----------------------------------------------------------------------------------
log "install $(basename "$DEB1") with apt (dependencies from the archive)"
apt_in_root "$R" install --no-install-recommends "/tmp/$(basename "$DEB1")" > "$R.install.log" 2>&1 \
  || { tail -30 "$R.install.log"; die "apt-get install $V1"; }
grep -E 'ichtriage:' "$R.install.log" | sed 's/^/   /' || true
check "dpkg status installed $V1" test "$(in_root "$R" dpkg-query -W -f='${Status} ${Version}' ichtriage)" = "install ok installed $V1"
check "dpkg --audit clean" test -z "$(in_root "$R" dpkg --audit)"
check "binaries run (ichtriage --help, ichtriaged --help)" q sh -c 'ichtriage --help && ichtriaged --help'
check "no Swift runtime needed from /opt/swift" q sh -c '! ldd /usr/bin/ichtriage /usr/bin/ichtriaged | grep -q "not found"'
check "system user ichtriage in groups gpio and video" q sh -c 'id ichtriage | grep -q "(gpio)" && id ichtriage | grep -q "(video)"'
check "tmpfiles made /var/spool/ichtriage/{drop,quarantine,outbox}" q test -d /var/spool/ichtriage/drop -a -d /var/spool/ichtriage/quarantine -a -d /var/spool/ichtriage/outbox
check "service enabled (multi-user.target.wants)" test -L "$R/etc/systemd/system/multi-user.target.wants/ichtriaged.service"
check "unit verifies (systemd-analyze verify)" q systemd-analyze verify --man=no /lib/systemd/system/ichtriaged.service
check "default model installed into the store and verifies" q sh -c 'ichtriage model list --json | grep -q "\"activeModel\""'
manifest1=$(in_root "$R" ichtriage model list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["activeModel"]["manifestSHA256"])')
check "state owned by ichtriage" test "$(in_root "$R" stat -c %U /var/lib/ichtriage/models/active.json)" = ichtriage
check "no private key in the package" sh -c "! dpkg-deb -c '$DEB1' | grep -qiE '\\.key\$|private'"
# Local changes that must survive an upgrade and a remove.
echo '{"quietPeriodSeconds": 15}' > "$R/etc/ichtriage/ichtriaged.json"
echo keep > "$R/var/lib/ichtriage/marker"

# --- upgrade to N+1 -------------------------------------------------------------------------------
log "upgrade to $(basename "$DEB2")"
apt_in_root "$R" install --no-install-recommends "/tmp/$(basename "$DEB2")" > "$R.upgrade.log" 2>&1 \
  || { tail -30 "$R.upgrade.log"; die "apt-get install $V2"; }
check "dpkg status installed $V2" test "$(in_root "$R" dpkg-query -W -f='${Status} ${Version}' ichtriage)" = "install ok installed $V2"
check "dpkg --audit clean" test -z "$(in_root "$R" dpkg --audit)"
check "edited conffile kept" grep -q quietPeriodSeconds "$R/etc/ichtriage/ichtriaged.json"
check "state kept" test -f "$R/var/lib/ichtriage/marker"
check "same active model after upgrade" test "$(in_root "$R" ichtriage model list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["activeModel"]["manifestSHA256"])')" = "$manifest1"
check "service still enabled" test -L "$R/etc/systemd/system/multi-user.target.wants/ichtriaged.service"

# --- software updates from USB: signed bundle, verification, version rule, rollback ---------------
log "software update bundles (ichtriage software + /usr/lib/ichtriage/software-update)"
# A deb like N+1 with another version, optionally with a CLI that fails every command (a build
# that would install but not work).
repack() {  # SRC VERSION OUT [broken]
  local d; d=$(mktemp -d)
  dpkg-deb -R "$1" "$d/x"
  sed -i "s/^Version: .*/Version: $2/" "$d/x/DEBIAN/control"
  if [ "${4:-}" = broken ]; then printf '#!/bin/sh\necho "broken build" >&2\nexit 1\n' > "$d/x/usr/bin/ichtriage"; fi
  dpkg-deb --root-owner-group -Zxz -b "$d/x" "$3" >/dev/null
  rm -rf "$d"
}
U=$R/tmp/upd; mkdir -p "$U"
V3=${V2}.1; V4=${V2}.2
repack "$DEB2" "$V3" "$U/good.deb"
repack "$DEB2" "$V4" "$U/broken.deb" broken
# A field engineer's signing key, trusted by this box (the package's own key has no private half).
q ichtriage model keygen --out /root/field.key --name field-test
cp "$R/root/field.key.pub" "$R/etc/ichtriage/keys/field-test.pub"
q ichtriage model keygen --out /root/other.key --name untrusted
bundle() {  # DEB VERSION NAME [KEY] [extra pack flags]
  q ichtriage software pack --deb "/tmp/upd/$1" --package-version "$2" --architecture "$(dpkg-deb -f "$DEB2" Architecture)" --out "/tmp/upd/$3" ${5:-} \
    && q ichtriage software sign --key "/root/${4:-field.key}" "/tmp/upd/$3"
}
bundle good.deb "$V3" good.ichsoftware
bundle broken.deb "$V4" broken.ichsoftware
bundle good.deb "$V3" untrusted.ichsoftware other.key
cp "$DEB2" "$U/old.deb"; bundle old.deb "$V2" old.ichsoftware
cp "$U/good.ichsoftware" "$U/tampered.ichsoftware"
size=$(stat -c %s "$U/tampered.ichsoftware")
printf 'X' | dd of="$U/tampered.ichsoftware" bs=1 seek=$((size / 2)) conv=notrunc status=none
# The image keeps the installed .deb as the first rollback target; this root gets the same.
install -D -m 0644 "$DEB2" "$R/var/lib/ichtriage/software/installed.deb"
update() { in_root "$R" /usr/lib/ichtriage/software-update "/tmp/upd/$1" > "$R.update-$1.log" 2>&1; echo $?; }
version() { in_root "$R" dpkg-query -W -f='${Version}' ichtriage; }
last_result() { sed -n 's/.*"result": "\([^"]*\)".*/\1/p' "$R/var/lib/ichtriage/software/receipts/last.json"; }
rc=$(update tampered.ichsoftware)
check "tampered bundle refused (exit $rc, $(last_result)), $V2 still installed" test "$rc" = 1 -a "$(version)" = "$V2" -a "$(last_result)" = rejected
rc=$(update untrusted.ichsoftware)
check "bundle signed by an untrusted key refused (exit $rc)" test "$rc" = 1 -a "$(version)" = "$V2"
rc=$(update good.ichsoftware)
check "signed $V3 installed (exit $rc, $(last_result)), $(version) now" test "$rc" = 0 -a "$(version)" = "$V3" -a "$(last_result)" = installed
check "$V3 kept as the next rollback target" test "$(dpkg-deb -f "$R/var/lib/ichtriage/software/installed.deb" Version)" = "$V3"
rc=$(update old.ichsoftware)
check "downgrade to $V2 refused (exit $rc: $(grep -o 'older than[^"]*' "$R.update-old.ichsoftware.log" | head -1))" test "$rc" = 1 -a "$(version)" = "$V3"
rc=$(update broken.ichsoftware)
check "broken $V4 rolled back to $V3 (exit $rc, $(last_result))" test "$rc" = 2 -a "$(version)" = "$V3" -a "$(last_result)" = rolled-back
check "CLI works again after the rollback" q ichtriage model list --json
rm -f "$R/etc/ichtriage/keys/field-test.pub" "$R"/root/*.key "$R"/root/*.key.pub; rm -rf "$U"

# --- remove, then purge ----------------------------------------------------------------------------
log "remove (state and configuration stay)"
apt_in_root "$R" remove ichtriage > "$R.remove.log" 2>&1 || { tail -30 "$R.remove.log"; die "apt-get remove"; }
check "status config-files after remove" test "$(in_root "$R" dpkg-query -W -f='${Status}' ichtriage)" = "deinstall ok config-files"
check "binaries gone" test ! -e "$R/usr/bin/ichtriage" -a ! -e "$R/usr/bin/ichtriaged"
check "state kept after remove" test -f "$R/var/lib/ichtriage/marker"
check "configuration kept after remove" test -f "$R/etc/ichtriage/ichtriaged.json"
log "purge"
in_root "$R" dpkg --purge ichtriage > "$R.purge.log" 2>&1 || { cat "$R.purge.log"; die "dpkg --purge"; }
check "package unknown to dpkg after purge" sh -c "! chroot '$R' dpkg-query -W -f='\${Status}' ichtriage 2>/dev/null | grep -q ."
leftovers=$(cd "$R" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp -o -path ./var/cache/apt/archives \) -prune -o -name '*ichtriage*' -print)
check "no file named *ichtriage* left (found: ${leftovers:-none})" test -z "$leftovers"
check "no enablement symlink left" test -z "$(find "$R/etc/systemd" "$R/var/lib/systemd" -name 'ichtriaged*' 2>/dev/null)"
# The dependencies apt pulled in stay (apt autoremove is the administrator's choice).
apt_in_root "$R" autoremove --purge > "$R.autoremove.log" 2>&1 || true
pkgs_after=$(in_root "$R" dpkg-query -W -f='${Package}\n' | sort)
check "autoremove brings the package set back to the minbase one" test "$pkgs_before" = "$pkgs_after"
echo "   the system user 'ichtriage' stays, as Debian packages keep system users: $(grep -c '^ichtriage:' "$R/etc/passwd") entry"

echo "deb-test: $pass checks passed in $(( $(date +%s) - start )) s"
