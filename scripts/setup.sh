#!/usr/bin/env bash
# Idempotent setup of a fresh Debian 12 machine for building, testing and demoing the appliance.
# Installs only what is missing; safe to run every time (make demo / make test call it).
set -euo pipefail

APT_PACKAGES=(
  # DICOM: DCMTK headers + tools (tests make encodings with dcmconv/dcmcjpeg/dcmcjpls/dcmcrle);
  # libsndfile1-dev because DCMTK's pkg-config file names it and fails silently without it.
  libdcmtk-dev dcmtk libsndfile1-dev
  # zlib: the shim inflates deflated datasets to check their structure before DCMTK reads them.
  zlib1g-dev
  # Indicators: GPIO, drawing, fonts.
  libgpiod-dev gpiod libcairo2-dev libpng-dev fonts-dejavu-core
  # Durable state.
  libsqlite3-dev
  # NEON kernels: cross-compiler and user-mode emulator.
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  # Triage tests: dciodvfy checks the Secondary Capture output against the IOD.
  dicom3tools
  # udevadm: the udev rules under Systemd/ are parsed by udev itself (scripts/verify-units.sh).
  udev
  # Misc build tools.
  pkg-config make python3-venv
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "setup: no Swift toolchain on PATH (Swift 6.x is needed; see README)" >&2
  exit 1
fi
