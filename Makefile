# The ICH triage appliance. Two commands matter: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
SWIFT ?= swift
SHARED ?= $(abspath ../shared)
DATA ?= $(SHARED)/data/real-head-ct
VENV_TOOLS ?= .venv-tools
DEMO_OUT ?= demo-out
CONFIG ?= release
BIN = $(shell $(SWIFT) build -c $(CONFIG) --show-bin-path 2>/dev/null)

.PHONY: all setup pyenv build build-debug demo test test-swift test-kernels test-units bench bench-kernels model-check fuzz fuzz-onnx clean train train-test deb deb-test image image-test crash-campaign soak

all: build

setup:
	@scripts/setup.sh

pyenv: setup
	@VENV=$(VENV_TOOLS) scripts/pyenv.sh

build: setup
	$(SWIFT) build -c $(CONFIG) --product ichtriage
	$(SWIFT) build -c $(CONFIG) --product ichtriaged

# --- demo: the appliance's main job on its defaults --------------------------------------------
demo: build
	@scripts/demo.sh "$(BIN)" "$(DATA)" "$(DEMO_OUT)"

# --- test: every test -----------------------------------------------------------------------------
test: setup pyenv test-units test-kernels test-swift
	@echo "make test: all suites passed"

test-swift:
	@[ -d "$(DATA)/ge-hispeed-human" ] || echo "WARNING: no real exams at $(DATA) (set DATA=...): the tests that use them will be skipped, each saying so"
	ICHTRIAGE_SHARED_DATA=$(DATA) ICHTRIAGE_VENV=$(abspath $(VENV_TOOLS)) \
	  $(SWIFT) test 2>&1 | tee build-swift-test.log | grep -vE '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Write|Wrapping|Linking|Merging)'; \
	  exit $${PIPESTATUS[0]}

# C kernel variants against the scalar reference: natively (x86-64) and under qemu (aarch64).
test-kernels:
	@$(MAKE) --no-print-directory -f Tests/KernelTests/kernels.mk all

# systemd units, sysusers, tmpfiles and udev rules under Systemd/.
test-units:
	@scripts/verify-units.sh

# Kernel micro-benchmark: GMAC/s and share of the int8 peak, one thread (BENCH_ARGS="--isa scalar --seconds 1").
bench-kernels:
	@$(MAKE) --no-print-directory -f Tests/KernelTests/kernels.mk bench

# The trained model on generated series (tiers, Grad-CAM peak inside the bleed mask); release build.
model-check: setup
	ICHTRIAGE_MODEL_CHECK=1 ICHTRIAGE_SHARED_DATA=$(DATA) $(SWIFT) test -c release --filter GeneratedSeriesTests

# kill -9 the release service at random moments while it processes 20 series, 50 times; then check
# every series analysed once, no duplicate alert, no lost file (make test runs a short one).
.PHONY: crash-campaign
crash-campaign: build
	@scripts/crash-campaign.sh --bin "$(BIN)" $(CRASH_ARGS)

# Soak (not part of make test; ~12 min, SOAK_ARGS=--quick ~4 min): the release service under bursts,
# slow and yanked copies, duplicate drops, malformed files, kill -9, a full disk and model updates
# (valid and tampered); checks every series analysed once and writes Benchmarks/soak-report.md.
soak: build
	@scripts/soak.sh --bin "$(BIN)" $(SOAK_ARGS)

bench: build pyenv
	"$(BIN)/ichtriage" bench

fuzz:
	@$(MAKE) --no-print-directory -f Tests/Fuzz/fuzz.mk all

# Fuzzing the ONNX loader and planner (libFuzzer + ASan on the Swift code), FUZZ_SECONDS (default 60).
fuzz-onnx:
	@$(MAKE) --no-print-directory -f Tests/Fuzz/fuzz.mk onnx

# --- training toolkit (PyTorch in Training/.venv; never part of `make test`) -----------------------
# train: generate synthetic data -> train -> evaluate -> quantize -> calibrate -> package Models/default.
train: build
	@Training/train.sh "$(BIN)/ichtriage" "$(DATA)"

# train-test: the toolkit's own tests (incl. the pipeline end to end on a small generated set).
train-test: build
	@Training/setup.sh
	cd Training && ICHTRIAGE_SHARED_DATA=$(DATA) ICHTRIAGE_BIN="$(BIN)/ichtriage" .venv/bin/python -m pytest -q

# --- OS image and package (issue 9, docs/image.md): root needed; not part of `make test` ---------
# deb: the appliance .deb (static Swift runtime, build folder DEB_SCRATCH) and lintian.
# deb-test: versions N and N+1 install, upgrade, remove and purge in a fresh Debian 12 root.
# image: the Debian 12 root filesystem tree build/image/rootfs; image-test: checks inside it.
DEB_VERSION ?= 0.1.0-1
DEB_NEXT_VERSION ?= 0.1.0-2
DEB_SCRATCH ?= .build-static
DEB_ARCH = $(shell dpkg --print-architecture)
DEB_FILE = build/deb/ichtriage_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_BIN = $(shell $(SWIFT) build -c release --static-swift-stdlib --scratch-path $(DEB_SCRATCH) --show-bin-path 2>/dev/null)

deb: setup
	@SWIFT_SCRATCH=$(DEB_SCRATCH) Packaging/build-deb.sh --version $(DEB_VERSION)

deb-test: deb
	@Packaging/build-deb.sh --version $(DEB_NEXT_VERSION) --bin "$(DEB_BIN)" --out build/deb-next --no-lintian
	@scripts/deb-test.sh $(DEB_FILE) build/deb-next/ichtriage_$(DEB_NEXT_VERSION)_$(DEB_ARCH).deb

image: deb
	@Image/build.sh $(DEB_FILE) build/image

image-test:
	@scripts/image-test.sh build/image

clean:
	rm -rf .build build $(DEMO_OUT)
