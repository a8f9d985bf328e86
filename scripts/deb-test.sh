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
