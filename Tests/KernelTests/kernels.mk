# Kernel tests outside SwiftPM: every variant against the exact scalar definitions,
# natively (x86-64: scalar, AVX2, AVX-512 VNNI when the CPU has it) and cross-built for aarch64 under qemu
# (armv8-a build on a Cortex-A53 model: scalar + NEON, dotprod probed absent; armv8.2-a+dotprod build on
# qemu's "max" CPU: scalar + NEON + NEON dotprod).
CK_DIR := Sources/CKernels
CK_SRC := $(wildcard $(CK_DIR)/*.c)
CK_HDR := $(wildcard $(CK_DIR)/*.h $(CK_DIR)/include/*.h)
KT_SRC := Tests/KernelTests/kernel_tests.c
OUT := build/kernel-tests
CFLAGS_KT := -O2 -std=c11 -Wall -Wextra -Werror -ffp-contract=off -I$(CK_DIR)/include -I$(CK_DIR)
CC_NATIVE ?= cc
# The bench uses clang when present: SwiftPM builds this target with clang, so its code is what ships.
CC_BENCH ?= $(if $(CLANG),$(CLANG),$(CC_NATIVE))
CC_ARM ?= aarch64-linux-gnu-gcc
QEMU ?= qemu-aarch64 -L /usr/aarch64-linux-gnu
CLANG ?= $(shell command -v clang 2>/dev/null)

.PHONY: all native native-clang arm-v80 arm-v82 clang-arm-syntax

all: native native-clang arm-v80 arm-v82 clang-arm-syntax

$(OUT)/kt-native: $(CK_SRC) $(CK_HDR) $(KT_SRC)
	@mkdir -p $(OUT)
	$(CC_NATIVE) $(CFLAGS_KT) $(CK_SRC) $(KT_SRC) -lm -o $@

# SwiftPM compiles this target with clang: run the tests on clang's code too (no -ffp-contract flag: the
# sources' FP_CONTRACT pragma must be enough).
$(OUT)/kt-native-clang: $(CK_SRC) $(CK_HDR) $(KT_SRC)
	@mkdir -p $(OUT)
	$(CLANG) $(filter-out -ffp-contract=off,$(CFLAGS_KT)) $(CK_SRC) $(KT_SRC) -lm -o $@

$(OUT)/kt-arm-v80: $(CK_SRC) $(CK_HDR) $(KT_SRC)
	@mkdir -p $(OUT)
	$(CC_ARM) -march=armv8-a $(CFLAGS_KT) $(CK_SRC) $(KT_SRC) -lm -o $@

$(OUT)/kt-arm-v82: $(CK_SRC) $(CK_HDR) $(KT_SRC)
	@mkdir -p $(OUT)
	$(CC_ARM) -march=armv8.2-a+dotprod $(CFLAGS_KT) $(CK_SRC) $(KT_SRC) -lm -o $@

native: $(OUT)/kt-native
	@echo "== kernels: native $$(uname -m)"
	$(OUT)/kt-native

native-clang:
	@if [ -n "$(CLANG)" ]; then $(MAKE) --no-print-directory -f Tests/KernelTests/kernels.mk $(OUT)/kt-native-clang && \
	  echo "== kernels: native $$(uname -m), clang" && $(OUT)/kt-native-clang; \
	else echo "== kernels: no clang, native clang run skipped"; fi

arm-v80: $(OUT)/kt-arm-v80
	@echo "== kernels: aarch64 armv8-a under qemu (cortex-a53: no dotprod)"
	$(QEMU) -cpu cortex-a53 $(OUT)/kt-arm-v80

arm-v82: $(OUT)/kt-arm-v82
	@echo "== kernels: aarch64 armv8.2-a+dotprod under qemu (cpu max)"
	$(QEMU) -cpu max $(OUT)/kt-arm-v82

# The appliance builds this target with clang (SwiftPM) on aarch64: check that clang accepts the NEON code.
clang-arm-syntax:
	@if [ -n "$(CLANG)" ]; then \
	  echo "== kernels: clang aarch64 compile check"; \
	  for f in $(CK_SRC); do \
	    $(CLANG) --target=aarch64-linux-gnu --sysroot=/usr/aarch64-linux-gnu -isystem /usr/aarch64-linux-gnu/include \
	      -std=c11 -O2 -Wall -Werror -c -o /dev/null -I$(CK_DIR)/include -I$(CK_DIR) $$f || exit 1; \
	  done; \
	else echo "== kernels: no clang, aarch64 clang compile check skipped"; fi

# Micro-benchmark (not part of the tests): GMAC/s and share of peak of the active variant, one thread.
.PHONY: bench
$(OUT)/bench-kernels: $(CK_SRC) $(CK_HDR) Benchmarks/kernels/bench_kernels.c
	@mkdir -p $(OUT)
	$(CC_BENCH) $(CFLAGS_KT) $(CK_SRC) Benchmarks/kernels/bench_kernels.c -lm -o $@
bench: $(OUT)/bench-kernels
	$(OUT)/bench-kernels $(BENCH_ARGS)
