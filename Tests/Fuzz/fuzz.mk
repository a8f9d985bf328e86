# Fuzzing the DICOM header + decode path (libFuzzer + AddressSanitizer, Swift toolchain's clang).
#   make fuzz                      build, then fuzz for FUZZ_SECONDS (default 60) from the seed corpus
#   make -f Tests/Fuzz/fuzz.mk smoke   build, then run every seed once (a few seconds)
# Only our shim is instrumented; DCMTK is the system library (its crashes and aborts still show,
# its memory errors only where ASan's allocator sees them). Crashing inputs land in build/fuzz/.
SHELL := /bin/bash
CLANGXX ?= clang++
FUZZ_SECONDS ?= 60
OUT := build/fuzz
SRC := Sources/CDICOM
BIN := $(OUT)/fuzz_read
DCMTK_LIBS := -ldcmjpls -ldcmjpeg -ldcmimage -ldcmimgle -ldcmdata -loflog -lofstd -lz

.PHONY: all build run smoke

all: run

build: $(BIN)

$(BIN): Tests/Fuzz/fuzz_read.cpp $(SRC)/cdicom_read.cpp $(SRC)/cdicom_private.h $(SRC)/include/cdicom.h
	@mkdir -p $(OUT)
	$(CLANGXX) -std=c++17 -g -O1 -fuse-ld=lld -fsanitize=fuzzer,address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow \
	  -I$(SRC)/include -I$(SRC) Tests/Fuzz/fuzz_read.cpp $(SRC)/cdicom_read.cpp $(DCMTK_LIBS) -o $@

run: build
	@mkdir -p $(OUT)/corpus $(OUT)/artifacts
	@cp -n Tests/Fuzz/corpus/* $(OUT)/corpus/ 2>/dev/null || true
	@echo "fuzz: $(FUZZ_SECONDS) s on $(BIN) (corpus $(OUT)/corpus)"
	ASAN_OPTIONS=detect_leaks=1 $(BIN) $(OUT)/corpus -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	  -rss_limit_mb=2048 -timeout=10 \
	  -artifact_prefix=$(OUT)/artifacts/ -print_final_stats=1

smoke: build
	$(BIN) -runs=0 Tests/Fuzz/corpus

# ---- The ONNX loader and planner (Swift: Tests/Fuzz/ONNX/main.swift built with -sanitize=fuzzer) ----
#   make -f Tests/Fuzz/fuzz.mk onnx          build, then fuzz for FUZZ_SECONDS from Tests/Fuzz/onnx-corpus
#   make -f Tests/Fuzz/fuzz.mk onnx-smoke    build, then run every seed once
# Every Swift and C target it uses (Inference, SwiftProtobuf, CKernels) is built with ASan and coverage
# in its own build folder, so the normal build is untouched. -malloc_limit_mb makes a model that asks for
# more than 2 GB at load a finding, not an out-of-memory kill.
ONNX_BUILD := .build-fuzz
ONNX_BIN := $(ONNX_BUILD)/debug/FuzzONNX

.PHONY: onnx onnx-build onnx-smoke
onnx-build:
	swift build --product FuzzONNX --scratch-path $(ONNX_BUILD) --sanitize=address \
	  -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -use-ld=lld

onnx: onnx-build
	@mkdir -p $(OUT)/onnx-corpus $(OUT)/onnx-artifacts
	@cp -n Tests/Fuzz/onnx-corpus/* $(OUT)/onnx-corpus/ 2>/dev/null || true
	@echo "fuzz-onnx: $(FUZZ_SECONDS) s on $(ONNX_BIN) (corpus $(OUT)/onnx-corpus)"
	ASAN_OPTIONS=detect_leaks=1 $(ONNX_BIN) $(OUT)/onnx-corpus -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	  -rss_limit_mb=3072 -malloc_limit_mb=2048 -timeout=20 \
	  -artifact_prefix=$(OUT)/onnx-artifacts/ -print_final_stats=1

onnx-smoke: onnx-build
	$(ONNX_BIN) -runs=0 Tests/Fuzz/onnx-corpus
