#!/bin/sh
# ichtriage-software-update: installs a signed appliance software bundle (.ichsoftware) from a
# USB stick, with the model bundles' checks and a rollback (docs/image.md "Software updates").
# Installed as /usr/lib/ichtriage/software-update; run by ichtriage-software-update.service
# (triggered by ichtriage-software-update.path when a stick carries an update), or by hand:
#
#   /usr/lib/ichtriage/software-update [BUNDLE]     (default: the newest bundle on the sticks)
#
# 1. `ichtriage software verify --extract-to` copies the bundle to local disk and verifies that
#    copy (safe entries, limits, Ed25519 signature by a key in /etc/ichtriage/keys, manifest,
#    every file's size and SHA-256): the code of the model bundles.
# 2. The .deb's own control fields must equal the signed manifest's; its version must be newer
#    than the installed one (dpkg's rules), unless the bundle is a signed downgrade.
# 3. The root filesystem is remounted read-write for dpkg only, then read-only again.
# 4. After dpkg -i: `ichtriage selftest` (when that verb exists; else the model store check) and,
#    when systemd runs, a restart of ichtriaged that must reach "active". If either fails, the
#    kept .deb of the previous version is reinstalled and checked the same way.
# 5. A receipt (JSON) goes into /var/lib/ichtriage/software/receipts/; the .deb that now runs is
#    kept as installed.deb (the next update's rollback target), the one before as previous.deb.
# Exit status: 0 installed or nothing to do, 1 refused, 2 installed but rolled back, 3 broken.
set -u

STATE=${ICHTRIAGE_SOFTWARE_STATE:-/var/lib/ichtriage/software}
KEYS=${ICHTRIAGE_KEYS:-/etc/ichtriage/keys}
STICKS=${ICHTRIAGE_STICKS:-/media/ichtriage}
PACKAGE=ichtriage

say() { echo "ichtriage-software-update: $*"; }

receipt() {  # result reasonCode reason
	mkdir -p "$STATE/receipts"
	now=$(date -u +%Y%m%dT%H%M%SZ)
	json=$(printf '{"receiptFormat": 1, "action": "software-update", "time": "%s", "source": "%s", "packageVersion": "%s", "previousVersion": "%s", "installedVersion": "%s", "result": "%s", "reasonCode": "%s", "reason": "%s"}\n' \
		"$now" "$(basename "${BUNDLE:-}")" "${NEW_VERSION:-}" "${OLD_VERSION:-}" "$(installed_version)" "$1" "$2" "$(echo "$3" | tr '"\\\n' "'/ ")")
	echo "$json" > "$STATE/receipts/receipt-$now-$$.json"
	cp "$STATE/receipts/receipt-$now-$$.json" "$STATE/receipts/last.json"
	# Best effort beside the bundle (sticks are mounted read-only: then only the local copy).
	[ -n "${BUNDLE:-}" ] && cp "$STATE/receipts/receipt-$now-$$.json" "$(dirname "$BUNDLE")/ichtriage-receipt-$now-software.json" 2>/dev/null
	say "$1${2:+ ($2)}: $3"
}

installed_version() { dpkg-query -W -f='${Version}' "$PACKAGE" 2>/dev/null || true; }

# The root filesystem is read-only on the appliance; dpkg needs it writable for a moment.
REMOUNTED=0
root_rw() {
	# Never in a chroot (a build or test root): "/" there is not the box's root filesystem.
	if systemd-detect-virt --quiet --chroot 2>/dev/null; then return 0; fi
	if findmnt -n -o OPTIONS / | grep -qE '(^|,)ro(,|$)'; then
		mount -o remount,rw / || return 1
		REMOUNTED=1
	fi
}
root_ro() {
	sync
	if [ "$REMOUNTED" = 1 ]; then mount -o remount,ro / || say "WARNING: could not remount / read-only"; REMOUNTED=0; fi
}

# Is the installed software healthy? ichtriage selftest when present (branch updates), else the
# model store (a verified active model, no fault); then the service, when systemd runs.
healthy() {
	if ichtriage --help 2>/dev/null | grep -qE "^ +selftest( |$)"; then
		ichtriage selftest --json >"$STATE/last-selftest.json" 2>&1 || return 1
	else
		ichtriage model list --json >"$STATE/last-selftest.json" 2>&1 || return 1
		grep -q '"activeModel"' "$STATE/last-selftest.json" || return 1
	fi
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload || return 1
		systemctl restart ichtriaged.service || return 1
		i=0
		while [ $i -lt 60 ]; do
			state=$(systemctl is-active ichtriaged.service 2>/dev/null)
			[ "$state" = active ] && return 0
			[ "$state" = failed ] && return 1
			sleep 2; i=$((i + 2))
		done
		return 1
	fi
	return 0
}

dpkg_install() { DEBIAN_FRONTEND=noninteractive dpkg --force-confold -i "$1" >>"$STATE/dpkg.log" 2>&1; }

# --- which bundle ---------------------------------------------------------------------------------
BUNDLE=${1:-}
if [ -z "$BUNDLE" ]; then
	BUNDLE=$(ls -t "$STICKS"/*/ichtriage-updates/*.ichsoftware "$STICKS"/*/*.ichsoftware 2>/dev/null | head -n 1)
	[ -n "$BUNDLE" ] || { say "no software bundle on the sticks"; exit 0; }
fi
mkdir -p "$STATE"
exec 9>"$STATE/update.lock"
flock -n 9 || { say "another update is running"; exit 1; }
OLD_VERSION=$(installed_version)
NEW_VERSION=""

# --- 1. verify a local copy -------------------------------------------------------------------------
WORK=$STATE/staging
rm -rf "$WORK"
if ! ichtriage software verify --keys "$KEYS" --extract-to "$WORK" --json "$BUNDLE" >"$STATE/verify.json" 2>&1; then
	reason=$(sed -n 's/.*"message" *: *"\(.*\)".*/\1/p' "$STATE/verify.json" | head -n 1)
	code=$(sed -n 's/.*"code" *: *"\(.*\)".*/\1/p' "$STATE/verify.json" | head -n 1)
	receipt rejected "${code:-verify}" "${reason:-verification failed}"
	rm -rf "$WORK"; exit 1
fi
field() { sed -n "s/.*\"$1\" *: *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$STATE/verify.json" | head -n 1; }
NEW_VERSION=$(field packageVersion)
DEB=$(field packagePath)
DOWNGRADE=$(field downgradeAllowed)

# --- 2. the package itself and the version rule -------------------------------------------------------
refuse() { receipt rejected "$1" "$2"; rm -rf "$WORK"; exit 1; }
[ -f "$DEB" ] || refuse badManifest "no package in the verified copy"
[ "$(dpkg-deb -f "$DEB" Package)" = "$(field packageName)" ] && [ "$(field packageName)" = "$PACKAGE" ] \
	|| refuse badManifest "the .deb is not package $PACKAGE as signed"
[ "$(dpkg-deb -f "$DEB" Version)" = "$NEW_VERSION" ] || refuse badManifest "the .deb's version differs from the signed manifest's"
[ "$(dpkg-deb -f "$DEB" Architecture)" = "$(dpkg --print-architecture)" ] || refuse badManifest "the .deb is for $(dpkg-deb -f "$DEB" Architecture), this box is $(dpkg --print-architecture)"
if [ -n "$OLD_VERSION" ]; then
	dpkg --compare-versions "$NEW_VERSION" eq "$OLD_VERSION" && { receipt already-installed "" "$PACKAGE $NEW_VERSION is already installed"; rm -rf "$WORK"; exit 0; }
	if dpkg --compare-versions "$NEW_VERSION" lt "$OLD_VERSION" && [ "$DOWNGRADE" != true ]; then
		refuse downgrade "$NEW_VERSION is older than the installed $OLD_VERSION and not signed as a downgrade"
	fi
	[ -f "$STATE/installed.deb" ] && [ "$(dpkg-deb -f "$STATE/installed.deb" Version)" = "$OLD_VERSION" ] \
		|| refuse noRollbackTarget "no kept .deb of the installed version $OLD_VERSION to roll back to ($STATE/installed.deb)"
fi

# --- 3./4. install, check, roll back ------------------------------------------------------------------
root_rw || refuse io "cannot remount / read-write"
trap 'root_ro' EXIT
say "installing $PACKAGE $NEW_VERSION (installed: ${OLD_VERSION:-none})"
if dpkg_install "$DEB" && healthy; then
	[ -f "$STATE/installed.deb" ] && mv -f "$STATE/installed.deb" "$STATE/previous.deb"
	mv -f "$DEB" "$STATE/installed.deb"
	rm -rf "$WORK"
	receipt installed "" "$PACKAGE $NEW_VERSION installed and healthy"
	exit 0
fi
say "$PACKAGE $NEW_VERSION failed to install or its self-test; rolling back to $OLD_VERSION"
if [ -f "$STATE/installed.deb" ] && dpkg_install "$STATE/installed.deb" && healthy; then
	rm -rf "$WORK"
	receipt rolled-back selfTestFailed "$PACKAGE $NEW_VERSION failed (dpkg or self-test; see $STATE/dpkg.log, $STATE/last-selftest.json); $OLD_VERSION reinstalled and healthy"
	exit 2
fi
receipt failed selfTestFailed "$PACKAGE $NEW_VERSION failed and the rollback to ${OLD_VERSION:-none} did not become healthy"
exit 3
