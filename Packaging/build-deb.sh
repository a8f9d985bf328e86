#!/usr/bin/env bash
# Builds the appliance's .deb with dpkg-deb from the control tree in Packaging/debian.
#
#   Packaging/build-deb.sh [--version V] [--bin DIR] [--out DIR] [--no-lintian]
#
# --version  Debian version (default 0.1.0-1; the upstream part should be the appliance
#            version that model bundles' minimumApplianceVersion is compared with)
# --bin      folder holding release builds of ichtriage and ichtriaged; without it they are
#            built here: swift build -c release --static-swift-stdlib (the Swift runtime and
#            Foundation are linked in, so nothing is needed from /opt/swift at run time)
# --out      where the .deb goes (default build/deb)
#
# The default model bundle (Models/default) is packed and signed with a DEVELOPMENT key made
# for the build: its private half lives in a temporary folder outside the repository and is
# deleted right after signing; its public half is shipped as
# /etc/ichtriage/keys/development-build-<keyid>.pub. The signed bundle and its public key are
# cached in build/deb/signed-default/ (keyed by the SHA-256 of Models/default), so versions
# N and N+1 built from the same model share one key. A release needs a real signing key.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

VERSION=0.1.0-1
BIN=""
OUT=build/deb
LINTIAN=1
while [ $# -gt 0 ]; do
  case $1 in
    --version) VERSION=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-lintian) LINTIAN=0; shift ;;
    *) echo "build-deb: unknown argument $1" >&2; exit 2 ;;
  esac
done
ARCH=$(dpkg --print-architecture)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# Tools this target needs (not needed by `make test`, so not in scripts/setup.sh).
need=()
for p in dpkg-dev fakeroot; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
[ "$LINTIAN" = 1 ] && { dpkg-query -W -f='${Status}' lintian 2>/dev/null | grep -q "install ok installed" || need+=(lintian); }
if [ ${#need[@]} -gt 0 ]; then
  echo "build-deb: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- binaries ------------------------------------------------------------------------------------
# Its own scratch folder (default .build-static): the static-stdlib flags differ from `make
# build`'s, and sharing .build would rebuild everything each time one follows the other.
SCRATCH=${SWIFT_SCRATCH:-.build-static}
if [ -z "$BIN" ]; then
  echo "-- swift build -c release --static-swift-stdlib --scratch-path $SCRATCH (ichtriage, ichtriaged)"
  swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --product ichtriage
  swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --product ichtriaged
  BIN=$(swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --show-bin-path)
fi
for b in ichtriage ichtriaged; do
  [ -x "$BIN/$b" ] || { echo "build-deb: no $BIN/$b" >&2; exit 1; }
  if ldd "$BIN/$b" | grep -q 'libswiftCore\|/opt/swift'; then
    echo "build-deb: $BIN/$b links the Swift runtime dynamically; build it with --static-swift-stdlib" >&2
    exit 1
  fi
done

# --- the default model bundle, signed with a throw-away development key ----------------------------
SIGNED=build/deb/signed-default
model_hash=$(cd Models/default && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
if [ ! -f "$SIGNED/stamp" ] || [ "$(cat "$SIGNED/stamp")" != "$model_hash" ]; then
  echo "-- signing Models/default with a new development key (private half deleted after signing)"
  rm -rf "$SIGNED"; mkdir -p "$SIGNED/keys"
  keydir=$(mktemp -d)   # outside the repository; keygen refuses to write inside a git work tree
  trap 'rm -rf "$keydir"' EXIT
  "$BIN/ichtriage" model keygen --out "$keydir/dev.key" --name "development-build-$(date -u +%Y%m%d)" --json > "$keydir/keygen.json"
  keyid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"]["keyId"])' "$keydir/keygen.json")
  cp "$keydir/dev.key.pub" "$SIGNED/keys/development-build-$keyid.pub"
  version=$(python3 -c 'import json; print(json.load(open("Models/default/manifest.json"))["version"])')
  bundle="$SIGNED/ichtriage-default-$version.ichmodel"
  "$BIN/ichtriage" model pack Models/default --out "$bundle" >/dev/null
  "$BIN/ichtriage" model sign --key "$keydir/dev.key" "$bundle" >/dev/null
  rm -rf "$keydir"; trap - EXIT
  "$BIN/ichtriage" model verify --keys "$SIGNED/keys" "$bundle" >/dev/null
  echo "$model_hash" > "$SIGNED/stamp"
fi

# --- the tree --------------------------------------------------------------------------------------
STAGE=$OUT/root
rm -rf "$STAGE"
install -d "$STAGE/DEBIAN"
install -D -m 0755 "$BIN/ichtriage" "$STAGE/usr/bin/ichtriage"
install -D -m 0755 "$BIN/ichtriaged" "$STAGE/usr/bin/ichtriaged"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$STAGE/usr/bin/ichtriage" "$STAGE/usr/bin/ichtriaged"
# Debian 12 keeps units and udev rules below /lib (the /usr merge is not finished for dpkg).
install -D -m 0644 Systemd/ichtriaged.service "$STAGE/lib/systemd/system/ichtriaged.service"
install -D -m 0644 Systemd/60-ichtriage-gpio.rules "$STAGE/lib/udev/rules.d/60-ichtriage-gpio.rules"
install -D -m 0644 Systemd/99-ichtriage-usb.rules "$STAGE/lib/udev/rules.d/99-ichtriage-usb.rules"
install -D -m 0644 Systemd/ichtriage.sysusers "$STAGE/usr/lib/sysusers.d/ichtriage.conf"
install -D -m 0644 Systemd/ichtriage.tmpfiles "$STAGE/usr/lib/tmpfiles.d/ichtriage.conf"
# Software updates from USB (Packaging/software-update.sh; docs/image.md).
install -D -m 0755 Packaging/software-update.sh "$STAGE/usr/lib/ichtriage/software-update"
install -D -m 0644 Packaging/systemd/ichtriage-software-update.service "$STAGE/lib/systemd/system/ichtriage-software-update.service"
install -D -m 0644 Packaging/systemd/ichtriage-software-update.path "$STAGE/lib/systemd/system/ichtriage-software-update.path"
# The C-STORE drop-in is an example to copy, not active by default (the receiver is off).
install -D -m 0644 Systemd/ichtriaged-cstore.conf "$STAGE/usr/share/ichtriage/ichtriaged-cstore.conf"
install -D -m 0644 Packaging/etc/ichtriaged.json "$STAGE/etc/ichtriage/ichtriaged.json"
install -d -m 0755 "$STAGE/etc/ichtriage/keys"
for k in "$SIGNED"/keys/*.pub; do install -m 0644 "$k" "$STAGE/etc/ichtriage/keys/"; done
install -d -m 0755 "$STAGE/usr/share/ichtriage/models"
install -m 0644 "$SIGNED"/*.ichmodel "$STAGE/usr/share/ichtriage/models/"
doc="$STAGE/usr/share/doc/ichtriage"
install -D -m 0644 Packaging/debian/copyright "$doc/copyright"
install -m 0644 README.md "$doc/README.md"
for d in cli configuration model-bundles service image; do
  [ -f "docs/$d.md" ] && install -m 0644 "docs/$d.md" "$doc/$d.md"
done
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
gitrev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
sed -e "s/@VERSION@/$VERSION/" -e "s/@GITREV@/$gitrev/" \
    -e "s/@DATE@/$(date -u -R -d "@$SOURCE_DATE_EPOCH")/" Packaging/debian/changelog.in \
  | gzip -9n > "$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"

# --- control ---------------------------------------------------------------------------------------
for s in postinst prerm postrm; do install -m 0755 "Packaging/debian/$s" "$STAGE/DEBIAN/$s"; done
(cd "$STAGE" && find etc -type f | sed 's#^#/#' | sort) > "$STAGE/DEBIAN/conffiles"
# Shared-library dependencies, as dpkg-shlibdeps computes them from the binaries' NEEDED entries.
shl=$(mktemp -d)
mkdir -p "$shl/debian"
printf 'Source: ichtriage\n\nPackage: ichtriage\nArchitecture: any\n' > "$shl/debian/control"
(cd "$shl" && dpkg-shlibdeps -O "$STAGE/usr/bin/ichtriage" "$STAGE/usr/bin/ichtriaged") > "$shl/out"
shlibs=$(sed -n 's/^shlibs:Depends=//p' "$shl/out")
rm -rf "$shl"
[ -n "$shlibs" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" \
  Packaging/debian/control.in > "$STAGE/DEBIAN/control"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -print | sed 's#^\./##' | sort | xargs md5sum) > "$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/md5sums" "$STAGE/DEBIAN/conffiles"
find "$STAGE" -depth -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

DEB="$OUT/ichtriage_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$STAGE" "$DEB" >/dev/null
echo "-- built $DEB ($(du -h "$DEB" | cut -f1), installed size ${size} KiB)"
echo "   Depends: $(sed -n 's/^Depends: //p' "$STAGE/DEBIAN/control")"

if [ "$LINTIAN" = 1 ]; then
  # Every tag lintian still reports must be listed, with its reason, in Packaging/lintian-justified
  # (summarised in README.md); an unlisted error or warning fails the build.
  echo "-- lintian $(lintian --version | awk '{print $2}')"
  lintian --no-tag-display-limit --info "$DEB" > "$OUT/lintian.txt" 2>&1 || true
  grep -E '^[EWIPXO]: ' "$OUT/lintian.txt" | sed 's/^/   /' || true
  unjustified=0
  while read -r severity _ tag _; do
    if ! grep -qE "^$tag( |$)" Packaging/lintian-justified; then
      case $severity in E:|W:) echo "   NOT JUSTIFIED: $tag (add it to Packaging/lintian-justified with the reason, or fix it)"; unjustified=1 ;; esac
    fi
  done < <(grep -E '^[EW]: ' "$OUT/lintian.txt" || true)
  [ "$unjustified" = 0 ] || exit 1
  echo "   every error and warning is justified in Packaging/lintian-justified"
fi
