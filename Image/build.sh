#!/usr/bin/env bash
# make image: the appliance's Debian 12 root filesystem tree, for the architecture of this host
# (amd64 here; arm64 on an arm64 build host, see docs/image.md).
#
#   Image/build.sh DEB [OUT_DIR]      (OUT_DIR default build/image; the tree is OUT_DIR/rootfs)
#
# Steps: debootstrap minbase (cached tarball) -> the files in Image/rootfs (fstab with a
# read-only root, journald limits, dpkg excludes, hostname) -> systemd, udev and the .deb with
# its dependencies from the Debian archive -> network-bound timers masked -> apt lists, caches,
# machine-id and the build host's resolv.conf removed. The result is listed in
# OUT_DIR/packages.txt and OUT_DIR/enabled-units.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. Image/lib.sh
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"
DEB=$(realpath "${1:?usage: Image/build.sh DEB [OUT_DIR]}")
OUT=${2:-build/image}
mkdir -p "$OUT"; OUT=$(realpath "$OUT")
R=$OUT/rootfs
DEB_ARCH=$(dpkg-deb -f "$DEB" Architecture)
[ "$DEB_ARCH" = "$IMAGE_ARCH" ] || die "the .deb is for $DEB_ARCH, this image for $IMAGE_ARCH (build both on the target's architecture)"
need_host_packages debootstrap
start=$(date +%s)
trap 'chroot_umount "$R"' EXIT

log "fresh Debian 12 ($IMAGE_SUITE) minbase for $IMAGE_ARCH: $R"
fresh_root "$R"
# The image's own configuration first, so that the dpkg excludes apply to every package.
cp -a --no-preserve=ownership Image/rootfs/. "$R/"
chroot_mount "$R"

log "systemd, udev and $(basename "$DEB") with its dependencies"
apt_in_root "$R" update >/dev/null
cp "$DEB" "$R/tmp/"
# IMAGE_EXTRA_PACKAGES: the board's kernel and firmware, e.g. "linux-image-arm64" (docs/image.md).
apt_in_root "$R" install systemd systemd-sysv udev ${IMAGE_EXTRA_PACKAGES:-} "/tmp/$(basename "$DEB")" > "$OUT/apt-install.log" 2>&1 \
  || { tail -30 "$OUT/apt-install.log"; die "apt-get install in the image"; }
rm -f "$R/tmp/$(basename "$DEB")"
# The installed .deb is kept: it is what a failed software update rolls back to.
install -D -m 0644 "$DEB" "$R/var/lib/ichtriage/software/installed.deb"
grep -E '^ichtriage:' "$OUT/apt-install.log" | sed 's/^/   /' || true

log "no network-bound timers; the service enabled"
# apt's daily download and upgrade timers need a network the appliance does not have.
in_root "$R" systemctl disable apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1
in_root "$R" systemctl mask apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1
in_root "$R" systemctl enable ichtriaged.service >/dev/null 2>&1
[ -L "$R/etc/systemd/system/multi-user.target.wants/ichtriaged.service" ] || die "ichtriaged is not enabled"
in_root "$R" systemctl set-default multi-user.target >/dev/null 2>&1

log "clean up: apt lists and caches, machine-id (made at each boot), resolv.conf"
chroot_umount "$R"
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb \
  "$R"/var/cache/apt/archives/partial/* "$R"/var/log/apt/* "$R"/var/log/dpkg.log "$R"/var/log/alternatives.log \
  "$R"/var/cache/debconf/*-old "$R"/var/lib/dpkg/*-old "$R"/tmp/* "$R"/root/.bash_history
# What the dpkg excludes keep out of later installs, removed from the minbase packages too
# (manuals, info, translations, docs except copyright files and ichtriage's own).
find "$R/usr/share/doc" -type f ! -name copyright ! -path "$R/usr/share/doc/ichtriage/*" -delete
find "$R/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$R"/usr/share/man/* "$R"/usr/share/info/*
find "$R/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
# An empty machine-id: on the read-only root systemd makes a transient one at each boot.
: > "$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id" "$R/etc/resolv.conf"
install -d -m 2755 "$R/var/log/journal"
in_root "$R" chgrp systemd-journal /var/log/journal

in_root "$R" dpkg-query -W -f='${Package} ${Version} ${Architecture}\n' | sort > "$OUT/packages.txt"
(cd "$R/etc/systemd/system" && find . -path '*.wants/*' -o -path '*.requires/*' | sed 's#^\./##' | sort) > "$OUT/enabled-units.txt"
echo "image: $R"
echo "   $(wc -l < "$OUT/packages.txt") packages, $(du -sh --one-file-system "$R" | cut -f1) on disk ($(du -sh "$R/var" | cut -f1) of it /var), built in $(( $(date +%s) - start )) s"
echo "   ichtriage $(dpkg-deb -f "$DEB" Version); enabled units: $(wc -l < "$OUT/enabled-units.txt") (list: $OUT/enabled-units.txt)"
