# Shared helpers for Image/build.sh, scripts/deb-test.sh and scripts/image-test.sh (sourced).
# Everything runs as root on a Debian 12 host: debootstrap, chroot, bind mounts.

IMAGE_SUITE=${IMAGE_SUITE:-bookworm}
IMAGE_MIRROR=${IMAGE_MIRROR:-http://deb.debian.org/debian}
IMAGE_SECURITY=${IMAGE_SECURITY:-http://deb.debian.org/debian-security}
IMAGE_ARCH=${IMAGE_ARCH:-$(dpkg --print-architecture)}
CACHE_DIR=${CACHE_DIR:-$PWD/build/cache}
APT_ARCHIVES=${APT_ARCHIVES:-$CACHE_DIR/apt-archives-$IMAGE_ARCH}

log() { printf '%s %s\n' "--" "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# Host tools, installed once (not needed by `make test`, so not in scripts/setup.sh).
need_host_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing on the host: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The debootstrap minbase tarball, downloaded once into build/cache.
minbase_tarball() {
  local tarball=$CACHE_DIR/$IMAGE_SUITE-minbase-$IMAGE_ARCH.tgz
  if [ ! -s "$tarball" ]; then
    log "debootstrap --make-tarball (once; cached as $tarball)" >&2
    mkdir -p "$CACHE_DIR"
    local work; work=$(mktemp -d "$CACHE_DIR/debootstrap-work.XXXX")
    debootstrap --arch="$IMAGE_ARCH" --variant=minbase --make-tarball="$tarball.part" \
      "$IMAGE_SUITE" "$work" "$IMAGE_MIRROR" >"$CACHE_DIR/debootstrap-make.log" 2>&1 \
      || { tail -20 "$CACHE_DIR/debootstrap-make.log" >&2; rm -rf "$work"; return 1; }
    rm -rf "$work"
    mv "$tarball.part" "$tarball"
  fi
  echo "$tarball"
}

# Anything still mounted below a root? (never rm -rf a tree with /dev or /proc bound into it)
mounted_below() { findmnt -rn -o TARGET | awk -v r="$(realpath -m "$1")" 'index($0, r "/") == 1 || $0 == r' ; }

chroot_umount() {
  local root=$1 m
  for _ in 1 2 3; do
    for m in $(mounted_below "$root" | sort -r); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    [ -z "$(mounted_below "$root")" ] && return 0
    sleep 1
  done
  die "still mounted below $root: $(mounted_below "$root" | tr '\n' ' ')"
}

remove_root() {
  local root=${1:?root folder}
  [ -e "$root" ] || return 0
  chroot_umount "$root"
  [ -z "$(mounted_below "$root")" ] || die "refusing to remove $root: something is mounted below it"
  rm -rf --one-file-system "$root"
}

# A fresh minbase root. The first one is made by debootstrap from the cached tarball (its
# second stage takes minutes); the finished tree is then cached as a tar and unpacked from it.
fresh_root() {
  local root=${1:?root folder} tarball rootcache=$CACHE_DIR/$IMAGE_SUITE-minbase-$IMAGE_ARCH-root.tar
  remove_root "$root"
  mkdir -p "$root"
  if [ -s "$rootcache" ]; then
    tar -C "$root" --numeric-owner -xpf "$rootcache"
    return 0
  fi
  tarball=$(minbase_tarball)
  debootstrap --arch="$IMAGE_ARCH" --variant=minbase --unpack-tarball="$tarball" \
    "$IMAGE_SUITE" "$root" "$IMAGE_MIRROR" >"$root.debootstrap.log" 2>&1 \
    || { tail -20 "$root.debootstrap.log" >&2; die "debootstrap into $root failed"; }
  cat > "$root/etc/apt/sources.list" <<EOF
deb $IMAGE_MIRROR $IMAGE_SUITE main
deb $IMAGE_MIRROR $IMAGE_SUITE-updates main
deb $IMAGE_SECURITY $IMAGE_SUITE-security main
EOF
  rm -f "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" --numeric-owner -cpf "$rootcache.part" . && mv "$rootcache.part" "$rootcache"
}

# proc, sys, dev, the host's resolver and a persistent apt archive cache (build/cache).
chroot_mount() {
  local root=$1
  mkdir -p "$APT_ARCHIVES/partial"
  mount -t proc proc "$root/proc"
  mount -t sysfs sysfs "$root/sys"
  mount --bind /dev "$root/dev"
  mount --bind /dev/pts "$root/dev/pts"
  mount --bind "$APT_ARCHIVES" "$root/var/cache/apt/archives"
  [ -e /etc/resolv.conf ] && cp -L /etc/resolv.conf "$root/etc/resolv.conf" || true
}

in_root() { local root=$1; shift; LANG=C.UTF-8 LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$root" "$@"; }

apt_in_root() {
  local root=$1; shift
  in_root "$root" apt-get -o Dpkg::Use-Pty=0 -o APT::Keep-Downloaded-Packages=true -y -q "$@"
}
