# airlock: one top-level Makefile, no per-directory makefiles.
#
#   make            build airlock-station and airlock-kv
#   make check      install missing Debian packages, build, run every test
#   make deps       install the Debian packages the build, tests and demo need
#   make sanitize   the whole test suite again under ASan+UBSan
#   make format     apply .clang-format;   make lint   banned calls, format
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=
BUILD   ?= build
VERSION := 0.1.0
CC      ?= cc

STATION_PKGS := libcrypto libp11 libpcsclite libcjson
KV_PKGS      := libcrypto libcurl libcjson

# Lazily expanded (=) on purpose: `make check` runs `make deps` first, and the
# libraries' pkg-config files may only exist after that.
PKG_CFLAGS  = $(shell pkg-config --cflags $(STATION_PKGS) $(KV_PKGS) p11-kit-1)
STATION_LIBS = $(shell pkg-config --libs $(STATION_PKGS))
KV_LIBS      = $(shell pkg-config --libs $(KV_PKGS))

WARN     := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Werror
HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
OPT      ?= -O2 -g
SAN      ?=
CPPFLAGS += -D_GNU_SOURCE -I. -DAIRLOCK_VERSION=\"$(VERSION)\" \
            -DLIBP11_BUILD_VERSION=\"$(shell pkg-config --modversion libp11 2>/dev/null)\"
CFLAGS   += -std=c11 $(OPT) $(WARN) $(HARDEN) $(SAN)
LDFLAGS  += -pie -Wl,-z,relro,-z,now $(SAN)


LIB_SRC     := $(wildcard lib/*.c)
P11_SRC     := $(wildcard pkcs11/*.c)
STATION_SRC := $(wildcard station/*.c)
KV_SRC      := $(wildcard kv/*.c)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
LIB_OBJ     := $(call obj,$(LIB_SRC))
P11_OBJ     := $(call obj,$(P11_SRC))
STATION_OBJ := $(call obj,$(STATION_SRC))
# station modules without main(): unit tests link these
STATION_LIB := $(filter-out $(BUILD)/station/main.o $(BUILD)/station/cmd_%.o $(BUILD)/station/cli.o,$(STATION_OBJ))
KV_OBJ      := $(call obj,$(KV_SRC))
UNIT_BIN    := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRC))
# the fault-injecting PKCS#11 module of the tests (tests/faults)
TEST_P11_MODS := $(BUILD)/tests/faults/p11fault.so
# the I/O fault and crash-point shim (tests/iofault), an LD_PRELOAD library;
# built without $(SAN): libasan must come first in LD_PRELOAD
TEST_PRELOADS := $(BUILD)/tests/iofault/iofault.so

BINS := $(BUILD)/airlock-station $(BUILD)/airlock-kv

.PHONY: all check check-run deps sanitize format lint install clean test-bins \
        demo fuzz bench
.DELETE_ON_ERROR:

all: $(BINS)
	@ln -sf $(BUILD)/airlock-station airlock-station
	@ln -sf $(BUILD)/airlock-kv airlock-kv

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/airlock-station: $(STATION_OBJ) $(P11_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(STATION_LIBS)

$(BUILD)/airlock-kv: $(KV_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(KV_LIBS)

# Unit tests link every lib/, pkcs11/ and station/ module (never a main() or
# a command).
$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(STATION_LIB) $(P11_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(STATION_LIBS)

$(BUILD)/tests/faults/p11fault.so: tests/faults/p11fault.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -I. $(OPT) $(WARN) $(SAN) -fPIC -shared -fvisibility=hidden \
	    $(shell pkg-config --cflags p11-kit-1) -o $@ $< -ldl -lpthread

$(BUILD)/tests/iofault/iofault.so: tests/iofault/iofault.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) $(WARN) -fPIC -shared -fvisibility=hidden \
	    -o $@ $< -ldl -lpthread

test-bins: $(BINS) $(UNIT_BIN) $(TEST_P11_MODS) $(TEST_PRELOADS)

# `make check` is what README and .ci/run give. It first makes sure every
# Debian package is there (fast when nothing is missing), then builds and
# runs the suite in a second pass of this same Makefile, because the
# libraries' pkg-config data may have just been installed.
check: deps
	@$(MAKE) --no-print-directory check-run

check-run: test-bins
	@BUILD=$(BUILD) CC="$(CC)" OPT="$(OPT)" SAN="$(SAN)" tests/run

# `make bench`: signing throughput, memory and merges against the token's raw
# rate and openssl ca (tests/bench, docs/performance.md). Not part of check.
# BENCH_ARGS=--quick (~2 min), --docs (rewrite docs/performance.md), --profile
bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/bench/run.sh $(BENCH_ARGS)

# libFuzzer + ASan + UBSan (clang): every harness for FUZZ_SECONDS, two at a
# time; the corpora in tests/fuzz/corpus are replayed by `make check`.
FUZZ_SECONDS ?= 300
fuzz: deps
	@BUILD=$(BUILD) tests/fuzz/build.sh fuzz
	@BUILD=$(BUILD) tests/fuzz/run.sh $(FUZZ_SECONDS)

deps:
	@build-aux/deps.sh

sanitize: deps
	@$(MAKE) --no-print-directory BUILD=build/sanitize OPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    check-run

FMT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FMT_SRC)
lint:
	@build-aux/lint.sh

# `make demo` is the README's first command: packages, build, round trip.
demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) demo/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BUILD)/airlock-station $(BUILD)/airlock-kv $(DESTDIR)$(BINDIR)/
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	for m in docs/*.1; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man1/; done
	for m in docs/*.5; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man5/ || true; done
	udev/install.sh "$(DESTDIR)" "$(PREFIX)"

clean:
	rm -rf build airlock-station airlock-kv

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
