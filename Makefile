# qingling: build, test and tooling.
#
# `make` builds the qingling binary and one static library per layer
# (libqlcrypto.a, libqlengine.a). The first build of any target that
# compiles runs scripts/deps.sh, which installs missing system libraries
# from Debian's packages, then records their flags in $(BUILD)/config.mk.

.DEFAULT_GOAL := all
.SUFFIXES:
# Keep test objects: they are intermediate files of a pattern chain.
.SECONDARY:

BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
OPT     ?= -O2 -g
PKGS    := sqlite3 lua5.4 libsodium jansson

CSTD  := -std=c11 -D_POSIX_C_SOURCE=200809L
WARN  := -Wall -Wextra -Werror -pedantic -Wshadow -Wstrict-prototypes \
         -Wmissing-prototypes -Wwrite-strings -Wvla -Wformat=2
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
endif

# Goals that touch no library skip the dependency check.
NODEPS_GOALS := clean format lint help
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
include $(BUILD)/config.mk
endif

$(BUILD)/config.mk: scripts/deps.sh
	@mkdir -p $(BUILD)
	@scripts/deps.sh
	@{ echo "PKG_CFLAGS := $$(pkg-config --cflags $(PKGS))"; \
	   echo "PKG_LIBS := $$(pkg-config --libs $(PKGS)) -lcsv"; \
	   echo "CMOCKA_CFLAGS := $$(pkg-config --cflags cmocka)"; \
	   echo "CMOCKA_LIBS := $$(pkg-config --libs cmocka)"; } > $@.tmp
	@mv $@.tmp $@

# `make V=1` shows the commands.
Q := $(if $(V),,@)

CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) $(SANFLAGS) -pthread -MMD -MP \
             -Icrypto -Iengine -Icli $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(SANFLAGS) -pthread $(LDFLAGS)

CRYPTO_SRC := $(wildcard crypto/*.c)
ENGINE_SRC := $(wildcard engine/*.c)
CLI_SRC    := $(wildcard cli/*.c)
TEST_SRC   := $(wildcard tests/test_*.c)
SUPPORT_SRC := $(wildcard tests/support/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

CRYPTO_LIB := $(BUILD)/libqlcrypto.a
ENGINE_LIB := $(BUILD)/libqlengine.a
# The command's code but main(), so tests can call a command's parts.
CLI_LIB_SRC := $(filter-out cli/main.c,$(CLI_SRC))
CLI_LIB    := $(BUILD)/libqlcli.a
BIN        := $(BUILD)/qingling
TESTS      := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
LIBS       := $(ENGINE_LIB) $(CRYPTO_LIB)

ALL_TARGETS := $(CRYPTO_LIB)
ifneq ($(ENGINE_SRC),)
ALL_TARGETS += $(ENGINE_LIB)
endif
ifneq ($(CLI_SRC),)
ALL_TARGETS += $(CLI_LIB) $(BIN)
endif

.PHONY: all test asan bench demo format lint install clean help crashtest \
        fuzz

all: $(ALL_TARGETS)

$(BUILD)/obj/%.o: %.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(CRYPTO_LIB): $(call obj,$(CRYPTO_SRC))
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(ENGINE_LIB): $(call obj,$(ENGINE_SRC))
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(CLI_LIB): $(call obj,$(CLI_LIB_SRC))
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

# The binary takes SQLite from the system package's static library: the
# loader's work on the shared one (its symbols are bound at start) was a
# sixth of a short command's CPU (docs/decisions.md section 28).
comma := ,
BIN_LIBS = $(patsubst -lsqlite3,-Wl$(comma)-Bstatic -lsqlite3 \
           -Wl$(comma)-Bdynamic,$(PKG_LIBS)) -lm -ldl

$(BIN): $(call obj,cli/main.c) $(CLI_LIB) $(LIBS)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(call obj,cli/main.c) $(CLI_LIB) \
	    $(LIBS) $(BIN_LIBS)

$(BUILD)/obj/tests/%.o: CFLAGS_ALL += $(CMOCKA_CFLAGS) -Itests/support
TEST_LIBS := $(filter $(CLI_LIB) $(ENGINE_LIB),$(ALL_TARGETS)) $(CRYPTO_LIB)
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(call obj,$(SUPPORT_SRC)) \
                  $(TEST_LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(call obj,$(SUPPORT_SRC)) \
	    $(TEST_LIBS) $(PKG_LIBS) $(CMOCKA_LIBS)
# The fault suite fails qingling's own allocations and writes (the linker).
$(BUILD)/tests/test_fault: LDFLAGS_ALL += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup,--wrap=sodium_malloc,--wrap=write,--wrap=fsync,--wrap=link,--wrap=linkat,--wrap=rename,--wrap=renameat2,--wrap=unlink,--wrap=open,--wrap=json_loadb

# Every test program, then the end-to-end suites, from the top of the tree.
test: all $(TESTS)
	@BUILD=$(BUILD) sh tests/run.sh $(TESTS)

# The same tests under AddressSanitizer and UBSan, in their own build tree.
# Sanitized code runs two to three times slower, so the Lua tests' wall-clock
# guards stretch by as much (QL_TEST_TIME_FACTOR, tests/test_lua.c).
asan:
	@QL_TEST_TIME_FACTOR=$${QL_TEST_TIME_FACTOR:-3} $(MAKE) \
	    --no-print-directory BUILD=$(BUILD)/asan SAN=1 OPT="-O1 -g" test

# Benchmarks (not tests): one table whose rows each print qingling's figure,
# the limit measured in the same run from the raw operations it cannot
# avoid, their ratio, the target and whether it is met. QUICK=1: a short
# run. BENCH_FRESH=1: make the shared stores again even if their inputs
# are unchanged. docs/performance.md explains every row.
BENCH_ROWS    := write move log
BENCH_PROGS   := $(patsubst %,$(BUILD)/bench/bench_%,$(BENCH_ROWS))
BENCH_LIMITS  := $(BUILD)/bench/limit_move
BENCH_SUPPORT := $(call obj,bench/bench.c bench/fixture.c)
# What a generated store depends on: when none of these changed, a store
# made by an earlier run is reused (and the table says so).
BENCH_INPUTS  := $(LIBS) workflows/gang_lead.lua \
                 workflows/calendars/cn.cal bench/fixture.c bench/fixture.h
$(BUILD)/bench/%: $(call obj,bench/%.c) $(BENCH_SUPPORT) $(LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(BENCH_SUPPORT) $(LIBS) $(PKG_LIBS)

# Row 2's limit: a process linked against libsodium and SQLite alone.
$(BUILD)/bench/limit_move: $(call obj,bench/limit_move.c)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $$(pkg-config --libs sqlite3 libsodium)

bench: $(BENCH_PROGS) $(BENCH_LIMITS) $(BIN)
	@export QUICK=$(QUICK) BENCH_DIR=$(BUILD)/bench QINGLING_BIN=$(BIN) \
	    BENCH_INPUTS="$(BENCH_INPUTS)"; \
	$(firstword $(BENCH_PROGS)) --header && \
	for b in $(BENCH_PROGS); do $$b || exit 1; done

# Processes killed with SIGKILL mid-write, hundreds of times over:
# CRASH_ROUNDS rounds of each kind (add, move, import) on one store.
# Each run draws a fresh seed and prints it; CRASH_SEED=N replays one.
CRASH_ROUNDS ?= 200
CRASH_SEED ?= $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
crashtest: $(BUILD)/tests/test_concurrency $(BIN)
	@QL_CRASH_ROUNDS=$(CRASH_ROUNDS) QL_CRASH_SEED=$(CRASH_SEED) \
	    BUILD=$(BUILD) sh tests/run.sh $(BUILD)/tests/test_concurrency

format:
	clang-format -i $(CRYPTO_SRC) $(ENGINE_SRC) $(CLI_SRC) $(TEST_SRC) \
	    $(wildcard crypto/*.h engine/*.h cli/*.h tests/support/*.[ch])

lint:
	@sh scripts/lint.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/qingling \
	    $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/qingling
	install -m 0644 docs/qingling.1 $(DESTDIR)$(PREFIX)/share/man/man1/qingling.1
	install -m 0644 scripts/qingling.bash \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/qingling
	cp -R workflows $(DESTDIR)$(PREFIX)/share/qingling/

clean:
	rm -rf $(BUILD)

help:
	@echo "targets: all test asan bench demo format lint install clean"

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# The demo county of 青禾县, played into demo/ with the real binary.
demo: $(BIN)
	@QINGLING_BIN=$(BIN) bash scripts/demo.sh

# ---- Fuzzing (docs/fuzzing.md) ----
# One libFuzzer program per reader of outside data (tests/fuzz/fuzz_*.c),
# built with clang over the project's sources compiled again with clang,
# ASan and UBSan in $(BUILD)/fuzz (the normal build stays as it is), then
# each run for FUZZ_TIME seconds from a scratch copy of its corpus,
# FUZZ_JOBS at a time. FUZZ_TARGETS="note entry" picks some. The first
# run installs clang and libFuzzer's runtime when they are missing.
FUZZ_TIME    ?= 60
FUZZ_JOBS    ?= 1
FUZZ_CC      ?= clang
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_ALL     := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
FUZZ_CFLAGS   = $(CSTD) $(WARN) -O1 -g $(FUZZ_SAN) -pthread -MMD -MP \
                -Icrypto -Iengine -Icli -Itests/fuzz $(PKG_CFLAGS)
FUZZ_LIB     := $(FUZZ_DIR)/libqlfuzz.a
fuzzobj       = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(1))

$(FUZZ_DIR)/clang.ok: scripts/fuzz.sh scripts/deps.sh
	@mkdir -p $(dir $@)
	$(Q)FUZZ_CC=$(FUZZ_CC) sh scripts/fuzz.sh deps
	@touch $@

$(FUZZ_DIR)/obj/tests/fuzz/%.o: FUZZ_CFLAGS += -DQLF_LIBFUZZER
$(FUZZ_DIR)/obj/%.o: %.c $(BUILD)/config.mk | $(FUZZ_DIR)/clang.ok
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_LIB): $(call fuzzobj,$(CRYPTO_SRC) $(ENGINE_SRC) $(CLI_LIB_SRC))
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o \
                    $(FUZZ_DIR)/obj/tests/fuzz/qlf.o $(FUZZ_LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -pthread -o $@ $^ \
	    $(PKG_LIBS)

fuzz: $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))
	@FUZZ_TIME=$(FUZZ_TIME) FUZZ_JOBS=$(FUZZ_JOBS) \
	    sh scripts/fuzz.sh run $(FUZZ_DIR) $(FUZZ_TARGETS)

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
