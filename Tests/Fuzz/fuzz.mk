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
	$(CLANGXX) -std=c++17 -g -O1 -fuse-ld=lld -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
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
