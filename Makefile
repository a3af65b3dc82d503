# synthfm - the one, non-recursive Makefile.
#
#   make            build build/bin/synthfm and the libraries
#   make demo       install what is missing, build, run the embedded default
#   make test       install what is missing, build, run every test, then
#                   again under ASan + UBSan, then the fuzz smoke
#   make asan       the test suite under AddressSanitizer + UBSan (build-asan/)
#   make fuzz       libFuzzer targets (build-fuzz/fuzz/); fuzz-smoke runs them
#   make bench      benchmarks (throughput figures quoted in issues/notes)
#   make report     corpus -> tiny training -> eval -> reports/index.md
#   make deps       apt-get install the Debian packages we need (idempotent)
#   make lint       clang-format check, cppcheck, include rule (make test runs it)
#   make install    PREFIX=/usr/local: bin/synthfm, share/synthfm/schemas,
#                   share/doc/synthfm; make uninstall removes them
#   make clean
#
# Objects go out of tree: $(BUILD)/<dir>/*.o with -MMD -MP dependencies.

SHELL := /bin/bash
.DEFAULT_GOAL := all
BUILD ?= build
CC ?= gcc
CXX ?= g++
ifeq ($(origin CC),default)
CC := gcc
endif
ifeq ($(origin CXX),default)
CXX := g++
endif

# ----------------------------------------------------------------- deps
DEB_PACKAGES := build-essential pkg-config libpng-dev zlib1g-dev \
    libsqlite3-dev sqlite3 libyaml-dev libgsl-dev libssl-dev \
    libcriterion-dev libtorch-dev libgloo-dev libopenblas0-pthread libzip-dev \
    libnifti2-dev libgdcm-dev libtiff-dev libcairo2-dev libdeflate-dev \
    clang libclang-rt-14-dev clang-format cppcheck

# ---------------------------------------------------------------- flags
PKGS := libpng sqlite3 yaml-0.1 gsl libcrypto zlib cairo libtiff-4 libdeflate
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# C kernels gain from -O3 (vectorisation); it keeps IEEE semantics.
OPT ?= -O3 -g
CXXOPT ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wshadow -Wno-format-truncation
# No -ffast-math anywhere near factory/ or harness/: outputs must not depend
# on FMA contraction or reassociation (determinism).
COMMON = $(WARN) -fopenmp -ffp-contract=off -MMD -MP $(SAN) $(INCS) \
    $(CLI_INCS)
ALL_CFLAGS = -std=c11 -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 $(OPT) $(COMMON) \
    -Wstrict-prototypes -Wmissing-prototypes $(PKG_CFLAGS) $(CFLAGS)

# libtorch: Debian's by default; TORCH_DIR=/path/to/site-packages/torch (or
# an unpacked libtorch) builds the same sources against that one (CUDA).
TORCH_DIR ?= /usr
ifeq ($(TORCH_DIR),/usr)
TORCH_INC := -isystem /usr/include/torch/csrc/api/include
TORCH_LIBS := -ltorch -ltorch_cpu -lc10
else
TORCH_INC := -isystem $(TORCH_DIR)/include \
    -isystem $(TORCH_DIR)/include/torch/csrc/api/include
TORCH_CUDA_LIBS := $(if $(wildcard $(TORCH_DIR)/lib/libtorch_cuda.so),\
    -ltorch_cuda -lc10_cuda)
TORCH_LIBS := -L$(TORCH_DIR)/lib -Wl,-rpath,$(TORCH_DIR)/lib \
    -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 $(TORCH_CUDA_LIBS) \
    -Wl,--as-needed
# pip wheels state their C++ ABI; match it.
TORCH_ABI ?= $(shell python3 -c 'import torch;print(int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null || echo 1)
TORCH_INC += -D_GLIBCXX_USE_CXX11_ABI=$(TORCH_ABI)
endif
ALL_CXXFLAGS = -std=c++17 $(CXXOPT) $(COMMON) -Wno-unused-parameter $(TORCH_INC) \
    $(PKG_CFLAGS) $(CXXFLAGS)

# Readers (harness/rd_*): nifticlib (NIfTI-1/2 via nifti2_io) and GDCM, no
# .pc on Debian 12; GDCM's headers only for the one C++ shim.
NIFTI_LIBS ?= -lnifti2 -lznz
NIFTI_INC ?= -isystem /usr/include/nifti
$(BUILD)/harness/rd_nifti.o: ALL_CFLAGS += $(NIFTI_INC)
$(BUILD)/harness/cmd_predict_volume.o: ALL_CFLAGS += $(NIFTI_INC)
GDCM_LIBS ?= -lgdcmMSFF -lgdcmDSED -lgdcmDICT -lgdcmCommon
GDCM_INC ?= -isystem /usr/include/gdcm-3.0
$(BUILD)/harness/rd_dicom.o: ALL_CXXFLAGS += $(GDCM_INC)
LDLIBS_ALL = $(PKG_LIBS) $(TORCH_LIBS) $(NIFTI_LIBS) $(GDCM_LIBS) -lzip -lm -lpthread
LDFLAGS_ALL = -fopenmp $(SAN) $(LDFLAGS)

# -------------------------------------------------------- include paths
# The one-way rule (factory <- model <- harness; STYLE.md) is enforced by
# what a source can see: its own folder (quoted includes search the
# including file's folder first) and, through $(INC)/<set>/, links to the
# public headers of the folders below it. No other folder's source or
# private header (sf_int.h, sam_int.h, train.h, eval.h, ...) is on any
# path, so a wrong-way include does not compile (DESIGN.md shows the
# error). The command-line kit is visible to command files only.
INC := $(BUILD)/include
PUB_factory := factory/sf.h factory/sf_util.h factory/sf_yaml.h \
    factory/sf_plot.h factory/sf_export.h
PUB_model := model/sf_model.h model/sam2.h
PUB_cli := factory/sf_cli.h model/sam_cmd.h
$(shell for s in factory model cli; do mkdir -p $(INC)/$$s; done; \
    for h in $(PUB_factory); do ln -sfn $(CURDIR)/$$h $(INC)/factory/; done; \
    for h in $(PUB_model); do ln -sfn $(CURDIR)/$$h $(INC)/model/; done; \
    for h in $(PUB_cli); do ln -sfn $(CURDIR)/$$h $(INC)/cli/; done)
$(BUILD)/model/%.o: INCS := -I$(INC)/factory
$(BUILD)/harness/%.o: INCS := -I$(INC)/factory -I$(INC)/model
# Tests see their own library's internals and the public headers below it;
# the fuzz targets and their seed generator reach into all three.
$(BUILD)/tests/factory/%.o: INCS := -Ifactory
$(BUILD)/tests/model/%.o: INCS := -I$(INC)/factory -Imodel
$(BUILD)/tests/harness/%.o: INCS := -I$(INC)/factory -I$(INC)/model -Iharness
$(BUILD)/tests/bench/bench_factory.o: INCS := -Ifactory
$(BUILD)/tests/bench/bench_model.o: INCS := -I$(INC)/factory -Imodel
$(BUILD)/tests/bench/bench_harness.o: INCS := -I$(INC)/factory -I$(INC)/model \
    -Iharness
$(BUILD)/tests/fuzz/%.o: INCS := -Ifactory -Imodel -Iharness

# -------------------------------------------------------------- sources
# factory/cli.c is the command-line kit (sf_cli.h): linked into the binary
# with the command files, never into a library.
FACTORY_SRC := $(filter-out factory/cmd_%.c factory/cli.c,$(wildcard factory/*.c))
FACTORY_CMD := $(wildcard factory/cmd_*.c) factory/cli.c
HARNESS_SRC := $(filter-out harness/cmd_%.c harness/synthfm.c,$(wildcard harness/*.c))
HARNESS_CXX := $(wildcard harness/*.cpp)
HARNESS_CMD := $(wildcard harness/cmd_*.c)
MODEL_C := $(filter-out model/cmd_%.c,$(wildcard model/*.c))
MODEL_CXX := $(filter-out model/cmd_%.cpp,$(wildcard model/*.cpp))
MODEL_CMD := $(wildcard model/cmd_*.c model/cmd_*.cpp)

obj = $(patsubst %.c,$(BUILD)/%.o,$(patsubst %.cpp,$(BUILD)/%.o,$(1)))

LIBSF := $(BUILD)/lib/libsf.a
LIBHX := $(BUILD)/lib/libhx.a
LIBSAM := $(BUILD)/lib/libsam.a
SYNTHFM := $(BUILD)/bin/synthfm

CMD_OBJ := $(call obj,$(FACTORY_CMD) $(HARNESS_CMD) $(MODEL_CMD) harness/synthfm.c)
$(CMD_OBJ): CLI_INCS := -I$(INC)/cli

all: $(SYNTHFM)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The factory is compiled for x86-64-v3 (AVX2) when the build machine has
# it: ~15% less CPU per sample, and the same bytes (IEEE arithmetic,
# -ffp-contract=off, no fast-math; tests/factory/test_sample.c pins pixels
# made by the baseline build). FACTORY_MARCH= builds for any x86-64.
FACTORY_MARCH ?= $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo -march=x86-64-v3)
$(BUILD)/factory/%.o: ALL_CFLAGS += $(FACTORY_MARCH)

$(BUILD)/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(ALL_CXXFLAGS) -c $< -o $@

# The build's git commit, recorded in manifests: the header is rewritten
# only when the commit changes (or the tree is dirty/clean toggles).
GIT_COMMIT := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
$(shell mkdir -p $(BUILD)/gen && echo '#define SF_GIT_COMMIT "$(GIT_COMMIT)"' > $(BUILD)/gen/git_commit.h.new && \
    (cmp -s $(BUILD)/gen/git_commit.h.new $(BUILD)/gen/git_commit.h || mv $(BUILD)/gen/git_commit.h.new $(BUILD)/gen/git_commit.h); \
    rm -f $(BUILD)/gen/git_commit.h.new)
$(BUILD)/factory/version.o: ALL_CFLAGS += -I$(BUILD)/gen
$(BUILD)/factory/version.o: $(BUILD)/gen/git_commit.h

# The default config is compiled in (.incbin), so rebuild when it changes.
$(BUILD)/factory/default_config.o: schemas/factory/default.yaml schemas/manifest.sql
$(BUILD)/harness/results.o: schemas/results.sql
$(BUILD)/harness/eval_ood.o: schemas/factory/ood.yaml

$(LIBSF): $(call obj,$(FACTORY_SRC))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(LIBHX): $(call obj,$(HARNESS_SRC) $(HARNESS_CXX))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(LIBSAM): $(call obj,$(MODEL_C) $(MODEL_CXX))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(SYNTHFM): $(CMD_OBJ) $(LIBHX) $(LIBSAM) $(LIBSF)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS_ALL) -o $@ $(CMD_OBJ) $(LIBHX) $(LIBSAM) $(LIBSF) $(LDLIBS_ALL)

# ---------------------------------------------------------------- tests
TEST_DIRS := factory harness model
# Each test binary links only the libraries its module depends on.
TEST_LIBS_factory := $(LIBSF)
TEST_LIBS_harness := $(LIBHX) $(LIBSAM) $(LIBSF)
TEST_LIBS_model := $(LIBSAM) $(LIBSF)
define test_bin
TEST_$(1)_SRC := $$(wildcard tests/$(1)/test_*.c tests/$(1)/test_*.cpp)
$(BUILD)/tests/test_$(1): $$(call obj,$$(TEST_$(1)_SRC)) $$(TEST_LIBS_$(1))
	@mkdir -p $$(@D)
	$(CXX) $(LDFLAGS_ALL) -o $$@ $$(call obj,$$(TEST_$(1)_SRC)) $$(TEST_LIBS_$(1)) -lcriterion $(LDLIBS_ALL)
endef
$(foreach d,$(TEST_DIRS),$(eval $(call test_bin,$(d))))
TEST_BINS := $(foreach d,$(TEST_DIRS),$(if $(TEST_$(d)_SRC),$(BUILD)/tests/test_$(d)))

BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bin/%,$(BENCH_SRC))
# A benchmark links the libraries of its module (bench_<module>.c).
BENCH_LIBS_factory := $(LIBSF)
BENCH_LIBS_harness := $(LIBHX) $(LIBSAM) $(LIBSF)
BENCH_LIBS_model := $(LIBSAM) $(LIBSF)
.SECONDEXPANSION:
$(BUILD)/bin/bench_%: $(BUILD)/tests/bench/bench_%.o $$(BENCH_LIBS_$$*)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS_ALL) -o $@ $< $(BENCH_LIBS_$*) $(LDLIBS_ALL)

build-tests: $(SYNTHFM) $(TEST_BINS)

# ----------------------------------------------------------------- fuzz
# libFuzzer targets tests/fuzz/fuzz_<surface>.c: `make fuzz` builds them
# with clang + ASan + UBSan into $(FUZZ_BUILD)/fuzz/ (our libraries are
# recompiled there with the same flags; system libraries are not).
# `make fuzz-smoke` replays tests/fuzz/regress/ and runs each target
# FUZZ_SECONDS (tests/fuzz/smoke.sh; SECURITY.md).
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
    -fno-omit-frame-pointer
FUZZ_OBJS := $(LIBHX) $(BUILD)/model/ckpt.o $(BUILD)/model/sam2_config.o $(LIBSF)
$(BUILD)/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_OBJS)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS_ALL) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) \
	    $(PKG_LIBS) $(NIFTI_LIBS) $(GDCM_LIBS) -lzip -lm -lpthread
$(BUILD)/tests/fuzz/seedgen.o: ALL_CFLAGS += $(NIFTI_INC)
$(BUILD)/fuzz/seedgen: $(BUILD)/tests/fuzz/seedgen.o $(FUZZ_OBJS)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS_ALL) -o $@ $< $(FUZZ_OBJS) $(PKG_LIBS) -lzip -lm -lpthread
fuzz-bins: $(FUZZ_BINS) $(BUILD)/fuzz/seedgen
ifdef FUZZ_CLANG
# blur.c uses GCC's __builtin_shuffle: plain gcc there (not a parser).
$(BUILD)/factory/blur.o: factory/blur.c
	@mkdir -p $(@D)
	gcc -std=c11 -D_DEFAULT_SOURCE -O2 -g -fopenmp -ffp-contract=off \
	    -Ifactory -c $< -o $@
endif
# -Wno-pass-failed: under ASan's instrumentation clang cannot vectorize the
# `omp simd` loops (a hint for the optimised builds), and says so.
fuzz: deps
	@$(MAKE) --no-print-directory -j$$(nproc) BUILD=$(FUZZ_BUILD) FUZZ_CLANG=1 \
	    CC=clang CXX=clang++ OPT="-O1 -g" CXXOPT="-O1 -g" \
	    WARN="-Wall -Wno-unused-command-line-argument -Wno-unknown-warning-option -Wno-pass-failed" \
	    SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-bins
fuzz-smoke: fuzz
	@bash tests/fuzz/smoke.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# ------------------------------------------------------------- targets
.PHONY: all deps test test-run asan bench demo report lint clean build-tests \
    fuzz fuzz-bins fuzz-smoke install uninstall

deps:
	@bash tests/deps.sh $(DEB_PACKAGES)

# `make test` (what .ci/run runs) = `make lint`; the fuzz smoke (every target replays
# its regression inputs, then fuzzes TEST_FUZZ_SECONDS each); the whole
# suite under ASan + UBSan (`make asan`: unit tests, then the CLI
# end-to-end tests with LeakSanitizer on); then the unit tests of the
# plain (-O3) build; the last line sums both suites. The end-to-end tests
# run once, sanitized, to keep CI under 30 minutes on 2 cores.
# TEST_SANITIZED=0: the plain suite alone, end-to-end tests included (a
# quick local check).
TEST_SANITIZED ?= 1
TEST_FUZZ_SECONDS ?= 3
test: deps
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory fuzz-smoke FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)
ifneq ($(TEST_SANITIZED),0)
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory -j$$(nproc) build-tests
	@SF_SKIP_E2E=1 SF_SUITE="plain build, unit tests" bash tests/run.sh $(BUILD)
	@read ap af as <$(ASAN_BUILD)/test_counts && read pp pf ps <$(BUILD)/test_counts && \
	    echo "synthfm tests: $$((ap + pp)) passed, $$((af + pf)) failed, $$((as + ps)) skipped"
else
	@$(MAKE) --no-print-directory -j$$(nproc) build-tests
	@bash tests/run.sh $(BUILD)
endif

test-run: build-tests
	@bash tests/run.sh $(BUILD)

# ASAN_BUILD: the sanitized build's own directory (never mixed with plain
# objects: make does not track flags).
ASAN_BUILD ?= build-asan
asan: deps
	@$(MAKE) --no-print-directory -j$$(nproc) BUILD=$(ASAN_BUILD) OPT="-O1 -g" CXXOPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    build-tests
	@SF_SANITIZED=1 SF_SUITE="ASan + UBSan" bash tests/run.sh $(ASAN_BUILD)

bench: deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(SYNTHFM) $(BENCH_BINS)
	@for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done

DEMO_DIR ?= data/corpora/demo
demo: deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(SYNTHFM)
	@bash tests/demo.sh $(BUILD) $(DEMO_DIR)

# The whole chain to reports/index.md (reports/make_report.sh): corpus,
# tiny CPU training, evaluation, statistics, tables and figures.
report: deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(SYNTHFM)
	@bash reports/make_report.sh $(BUILD)

# make lint (make test runs it first): every C/C++ source and test is
# clang-format clean (.clang-format; model/ has its own 2-space style),
# cppcheck finds nothing in the C sources (false positives are suppressed
# inline with the reason), and no source of the libraries reaches around
# the per-folder include paths with a relative include.
LINT_SRC = $(wildcard factory/*.[ch] harness/*.[ch] harness/*.cpp \
    model/*.[ch] model/*.cpp tests/*.h tests/*/*.[ch] tests/*/*.cpp)
lint:
	@echo "lint: clang-format, $(words $(LINT_SRC)) files"
	@clang-format --dry-run --Werror $(LINT_SRC)
	@echo "lint: cppcheck"
	@cppcheck --quiet --error-exitcode=1 --enable=warning,performance \
	    --suppress=missingIncludeSystem --inline-suppr \
	    -Ifactory -Imodel -Iharness $(wildcard factory/*.c harness/*.c model/*.c)
	@! grep -n '^ *# *include *"\.\./' factory/* harness/* model/* || \
	    { echo "lint: a relative include reaches around the include paths"; exit 1; }
	@echo "lint: clean"

# make install PREFIX=DIR (default /usr/local; DESTDIR for staging): the
# binary, the schemas (default configs, SQL, splits: what --config,
# --split and --splits name) and the documents. Nothing else is needed at
# run time: the default factory config and the SQL are compiled in.
PREFIX ?= /usr/local
INSTALL_BIN := $(DESTDIR)$(PREFIX)/bin
INSTALL_SHARE := $(DESTDIR)$(PREFIX)/share/synthfm
INSTALL_DOC := $(DESTDIR)$(PREFIX)/share/doc/synthfm
install: $(SYNTHFM)
	install -d $(INSTALL_BIN) $(INSTALL_SHARE) $(INSTALL_DOC)
	install -m 755 $(SYNTHFM) $(INSTALL_BIN)/synthfm
	rm -rf $(INSTALL_SHARE)/schemas
	cp -R schemas $(INSTALL_SHARE)/schemas
	install -m 644 README.md DESIGN.md SECURITY.md $(INSTALL_DOC)/
	install -m 644 data/README.md $(INSTALL_DOC)/datasets.md
	@echo "installed $(INSTALL_BIN)/synthfm, $(INSTALL_SHARE)/schemas, $(INSTALL_DOC)"
uninstall:
	rm -f $(INSTALL_BIN)/synthfm
	rm -rf $(INSTALL_SHARE) $(INSTALL_DOC)

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
