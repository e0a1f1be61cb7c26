# LLM-Sentinel: one non-recursive Makefile for the whole tree.
#
#   make            build everything into build/
#   make run        install missing build deps, build, run the daemon set
#                   on built-in defaults in the foreground
#   make test       install missing deps, build, run unit and integration
#                   tests; ends with one line "N passed, N failed"
#   make asan       the same tests built with ASan and UBSan (build-asan/)
#   make valgrind   integration tests with every daemon under memcheck
#   make fuzz       the libFuzzer targets of test/fuzz/, FUZZ_SECONDS each
#   make format     clang-format every source file
#
# Every daemon links the static library build/libsentinel.a built from
# common/.  A source file's folder decides which program it belongs to.

VERSION  := 0.1.0
BUILD    ?= build
CC       ?= gcc
PREFIX   ?= /usr/local
LIBEXECDIR ?= $(PREFIX)/libexec/sentinel

PKGS     := libevent libevent_openssl jansson libcyaml yaml-0.1 libcurl sqlite3 libssl libcrypto
WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
            -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
            -Wno-format-nonliteral
OPT      ?= -O2 -g
SAN      ?=
CPPFLAGS += -D_GNU_SOURCE -Icommon -DSENTINEL_VERSION='"$(VERSION)"'
CFLAGS   += -std=c11 $(OPT) $(WARN) $(SAN) -MMD -MP \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lnng -lpthread -lm
LDFLAGS  += $(SAN) -Wl,--as-needed

COMMON_SRCS := $(wildcard common/*.c)
# ingestd/grpc*.c link gRPC: sentinel-ingestd only (GRPC_OBJS below).
INGESTD_SRCS := $(filter-out ingestd/grpc%.c,$(wildcard ingestd/*.c))
DETECTD_SRCS := $(wildcard detectd/*.c)
STORED_SRCS := $(wildcard stored/*.c)
ALERTD_SRCS := $(wildcard alertd/*.c)
CLI_SRCS := $(wildcard supervisor/cli*.c)
SUP_SRCS := $(filter-out $(CLI_SRCS),$(wildcard supervisor/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
# Daemon objects without main.o, so unit tests can link a daemon's pure code.
lib_objs = $(call obj,$(filter-out %/main.c,$(1)))

LIB := $(BUILD)/libsentinel.a
PROGS := $(BUILD)/sentinel $(BUILD)/sentinel-cli $(BUILD)/sentinel-ingestd \
         $(BUILD)/sentinel-detectd $(BUILD)/sentinel-stored \
         $(BUILD)/sentinel-alertd

UNIT_SRCS := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(patsubst test/unit/%.c,$(BUILD)/test/%,$(UNIT_SRCS))

# --- gRPC ingestion (ingestd/grpc*.c, docs/grpc.md) -----------------------
# The messages are generated at build time from common/proto/ by
# protoc-c into $(BUILD)/gen/ (never committed) and compiled without our
# warning flags (generated code); gRPC core and protobuf-c are linked
# into sentinel-ingestd only.
PROTO_DIR   := common/proto
PROTOS      := sentinel/v1/telemetry.proto grpc_health/v1/health.proto
PROTO_GEN   := $(BUILD)/gen
PROTO_C     := $(patsubst %.proto,$(PROTO_GEN)/%.pb-c.c,$(PROTOS))
PROTO_H     := $(PROTO_C:.c=.h)
GRPC_PKGS   := grpc libprotobuf-c
GRPC_SRCS   := $(wildcard ingestd/grpc*.c)
GRPC_OBJS   := $(call obj,$(GRPC_SRCS)) \
               $(patsubst $(PROTO_GEN)/%.c,$(BUILD)/obj/gen/%.o,$(PROTO_C))
GRPC_LDLIBS := $(shell pkg-config --libs $(GRPC_PKGS) 2>/dev/null)

$(PROTO_GEN)/%.pb-c.c $(PROTO_GEN)/%.pb-c.h: $(PROTO_DIR)/%.proto
	@mkdir -p $(PROTO_GEN)
	protoc-c --c_out=$(PROTO_GEN) -I$(PROTO_DIR) $<
$(BUILD)/obj/gen/%.o: $(PROTO_GEN)/%.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -I$(PROTO_GEN) -std=c11 $(OPT) $(SAN) -MMD -MP \
		$(shell pkg-config --cflags libprotobuf-c 2>/dev/null) -c -o $@ $<
$(call obj,$(GRPC_SRCS)): $(PROTO_H)
$(call obj,$(GRPC_SRCS)): CPPFLAGS += -I$(PROTO_GEN)
$(call obj,$(GRPC_SRCS)): CFLAGS += $(shell pkg-config --cflags $(GRPC_PKGS) 2>/dev/null)
.SECONDARY: $(PROTO_C) $(PROTO_H)
# --- end of gRPC ingestion ---------------------------------------------------

.PHONY: all deps run test check unit integration asan bench bench-smoke nab \
	format clean
all: $(PROGS) $(UNIT_BINS) $(BUILD)/dist/sentinel

deps:
	@sh packaging/install-deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(call obj,$(COMMON_SRCS))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/sentinel: $(call obj,$(SUP_SRCS)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# The release tarball's sentinel (make dist) is multi-call: it also
# carries the four daemons (supervisor/multicall.h), each daemon's
# main.c compiled a second time with main renamed to sn_<daemon>_main,
# so that the binary alone runs the set when no sentinel-<daemon> is
# beside it or in ../libexec/sentinel (the deployment guide's `mv
# sentinel /usr/local/bin/`).  Installs use the lean one: a daemon run
# from the multi-call binary maps every daemon's libraries.
MULTI_DAEMONS := ingestd detectd stored alertd
MULTI_OBJS := $(patsubst %,$(BUILD)/obj/multi/%/main.o,$(MULTI_DAEMONS)) \
              $(BUILD)/obj/multi/supervisor/main.o
$(BUILD)/obj/multi/%/main.o: %/main.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Dmain=sn_$*_main \
		-include supervisor/multicall.h -c -o $@ $<
$(BUILD)/obj/multi/ingestd/main.o: CPPFLAGS += -I$(PROTO_GEN)
$(BUILD)/obj/multi/supervisor/main.o: supervisor/main.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DSN_MULTICALL -c -o $@ $<
$(BUILD)/dist/sentinel: $(MULTI_OBJS) \
		$(call lib_objs,$(SUP_SRCS) $(INGESTD_SRCS) $(DETECTD_SRCS) \
		$(STORED_SRCS) $(ALERTD_SRCS)) $(GRPC_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(GRPC_LDLIBS)
# sentinel-cli writes the diagnostics archive with libarchive (tar and
# gzip from a maintained library rather than our own tar writer).
CLI_LDLIBS := -larchive
# sentinel-cli replays events through the same engine and event parser
# the daemons run, so it links their pure code.
$(BUILD)/sentinel-cli: $(call obj,$(CLI_SRCS)) \
		$(call lib_objs,$(INGESTD_SRCS) $(DETECTD_SRCS)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CLI_LDLIBS)
$(BUILD)/sentinel-ingestd: $(call obj,$(INGESTD_SRCS)) $(GRPC_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(GRPC_LDLIBS)
$(BUILD)/sentinel-detectd: $(call obj,$(DETECTD_SRCS)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/sentinel-stored: $(call obj,$(STORED_SRCS)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# sentinel-alertd allocates with jemalloc (Debian's libjemalloc2), as
# Redis does: alertd keeps every firing alert's labels as small jansson
# objects, and under glibc's malloc a sixth of its loop at 8 000 alerts/s
# went into the allocator's slow paths (docs/performance.md, "Alerting").
# Only alertd: ingestd and stored ran slower with it.  Sanitizer and
# memcheck builds set ALERTD_ALLOC= so their own allocators see every
# allocation; so does the multi-call dist binary, which runs ingestd too.
ALERTD_ALLOC ?= -ljemalloc
$(BUILD)/sentinel-alertd: $(call obj,$(ALERTD_SRCS)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(ALERTD_ALLOC) $(LDLIBS)

# Unit tests link the common library and the pure code of every daemon.
UNIT_DEPS := $(call lib_objs,$(SUP_SRCS) $(INGESTD_SRCS) $(DETECTD_SRCS) \
             $(STORED_SRCS) $(ALERTD_SRCS)) $(LIB)
$(BUILD)/test/%: $(BUILD)/obj/test/unit/%.o $(UNIT_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Benchmarks (test/bench/, docs/performance.md): the daemon set built
# with optimisation (BENCH_BUILD), driven on loopback by wrk and
# test/bench/loadgen and measured against nginx in the same run, plus
# the detection engine alone; results in bench-results.json.
# BENCH_QUICK=1 runs one short round of each case.
BENCH_BUILD ?= build-bench
BENCH_BINS := $(patsubst test/bench/%.c,$(BENCH_BUILD)/bench/%,$(wildcard test/bench/*.c))
$(BUILD)/bench/%: $(BUILD)/obj/test/bench/%.o $(UNIT_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# test/bench/grpc_stream, a gRPC core client, also takes the generated
# telemetry messages and links gRPC core and protobuf-c (gRPC block above).
GS_OBJ := $(BUILD)/obj/test/bench/grpc_stream.o
$(GS_OBJ): $(PROTO_H)
$(GS_OBJ): CPPFLAGS += -I$(PROTO_GEN)
$(GS_OBJ): CFLAGS += $(shell pkg-config --cflags $(GRPC_PKGS) 2>/dev/null)
$(BUILD)/bench/grpc_stream: $(BUILD)/obj/gen/sentinel/v1/telemetry.pb-c.o
$(BUILD)/bench/grpc_stream: LDLIBS += $(GRPC_LDLIBS)

bench:
	@sh packaging/install-deps.sh bench-deps.txt
	@$(MAKE) --no-print-directory BUILD=$(BENCH_BUILD) OPT="-O2 -g" SAN= \
		all $(BENCH_BINS)
	@/usr/bin/python3 test/bench/run-bench.py $(BENCH_BUILD)

# One short round of each case on the normal build (the same -O2 -g),
# results in $(BUILD)/bench-smoke.json: CI runs it to check that the
# harness and the set under load still work, not to measure.
bench-smoke: all $(patsubst test/bench/%.c,$(BUILD)/bench/%,$(wildcard test/bench/*.c))
	@sh packaging/install-deps.sh bench-deps.txt
	@BENCH_QUICK=1 BENCH_RESULTS=$(BUILD)/bench-smoke.json \
		/usr/bin/python3 test/bench/run-bench.py $(BUILD)

# Detection quality on the NAB benchmark files in ../shared/nab (or
# NAB_DIR): replays each through etc/detectors-auto.yaml and scores the
# result (docs/detection-quality.md).
nab: deps
	@$(MAKE) --no-print-directory $(BUILD)/sentinel-cli
	@BUILD=$(BUILD) sh test/nab/run-nab.sh

run: deps
	@$(MAKE) --no-print-directory all
	./$(BUILD)/sentinel

test: deps
	@$(MAKE) --no-print-directory all
	@sh test/run-tests.sh $(BUILD)

check: test

asan:
	@sh packaging/install-deps.sh
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g" \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		ALERTD_ALLOC= all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		sh test/run-tests.sh build-asan

# --- valgrind (docs/testing.md) --------------------------------------------
#   make valgrind
# builds without sanitizers (-O1 -g) into build-valgrind/ and runs the
# integration tests of VALGRIND_TESTS with the supervisor and every
# daemon under memcheck (test/integration/harness.py, SENTINEL_VALGRIND);
# a test file fails on any memory error or definite leak in their logs.
# The timing-sensitive files are left out (docs/testing.md).
VALGRIND_BUILD ?= build-valgrind
VALGRIND_TESTS ?= test_ingest test_limits test_auth_tls test_grpc test_detection \
                  test_delivery test_alerts_cli test_storage test_exporter \
                  test_metrics_store_alert test_prometheus test_diagnostics

.PHONY: valgrind valgrind-clean
valgrind: deps
	@$(MAKE) --no-print-directory BUILD=$(VALGRIND_BUILD) OPT="-O1 -g" \
		SAN= ALERTD_ALLOC= $(patsubst $(BUILD)/%,$(VALGRIND_BUILD)/%,$(PROGS))
	@SENTINEL_VALGRIND=1 \
		TEST_FILTER="$(patsubst %,integration/%.py,$(VALGRIND_TESTS))" \
		sh test/run-tests.sh $(VALGRIND_BUILD)

valgrind-clean:
	rm -rf $(VALGRIND_BUILD)
clean: valgrind-clean
# --- end of valgrind ---------------------------------------------------------

# --- fuzzing (test/fuzz/, docs/fuzzing.md) ---------------------------------
#   make fuzz [FUZZ_SECONDS=60]
# builds every test/fuzz/fuzz_*.c with clang and libFuzzer (ASan and
# UBSan on, as in asan) into $(BUILD)-fuzz/ and runs each for
# FUZZ_SECONDS on its seed corpus; fails when a target crashes, leaks,
# hangs or breaks one of its invariants.  test/unit/test_fuzz_regress.c
# replays the corpora and test/fuzz/regress/ in `make test`.
FUZZ_BUILD   ?= $(BUILD)-fuzz
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_NAMES   := $(patsubst test/fuzz/fuzz_%.c,%,$(wildcard test/fuzz/fuzz_*.c))
FUZZ_BINS    := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_NAMES))

.PHONY: fuzz fuzz-bins fuzz-clean
# The targets link what the unit tests link: the library and the pure
# code of every daemon, all built with clang for libFuzzer's coverage.
$(BUILD)/fuzz/fuzz_%: $(BUILD)/obj/test/fuzz/fuzz_%.o $(UNIT_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# Keep the targets' objects: make would delete them as intermediate.
.SECONDARY: $(patsubst %,$(BUILD)/obj/test/fuzz/fuzz_%.o,$(FUZZ_NAMES))
fuzz-bins: $(FUZZ_BINS)

fuzz: deps
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) \
		OPT="-O1 -g" SAN="-fsanitize=fuzzer-no-link,address,undefined \
		-fno-omit-frame-pointer -fno-sanitize-recover=undefined" fuzz-bins
	@sh test/fuzz/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-clean:
	rm -rf $(FUZZ_BUILD)
clean: fuzz-clean
# --- end of fuzzing ---------------------------------------------------------

# --- install and packages (packaging/, docs/deployment.md) ---------------
#   make install [PREFIX=/usr/local] [DESTDIR=]
#   make deb                    .deb of the build in $(BUILD)/deb/; its path
#                               is the last line printed
# sentinel and sentinel-cli go to $(BINDIR), the four daemons to
# $(LIBEXECDIR) (the supervisor finds them as ../libexec/sentinel beside
# its own binary, so an installed tree works wherever it is put), the
# configuration to $(SYSCONFDIR) without overwriting a file already
# there, the systemd unit to $(UNITDIR) with ExecStart pointing at
# $(BINDIR).  The package is built from the same install with PREFIX=/usr.
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc/sentinel
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/sentinel
INSTALL    ?= install
ETC_FILES  := config.yaml detectors.yaml alerts.yaml sentinel.env
DOC_FILES  := README.md docs/deployment.md docs/configuration.md \
              docs/cli.md docs/operations.md docs/http-api.md

.PHONY: install deb
install: $(PROGS)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 0755 $(BUILD)/sentinel $(BUILD)/sentinel-cli \
		$(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0755 $(BUILD)/sentinel-ingestd $(BUILD)/sentinel-detectd \
		$(BUILD)/sentinel-stored $(BUILD)/sentinel-alertd \
		$(DESTDIR)$(LIBEXECDIR)/
	sed 's|/usr/bin/sentinel|$(BINDIR)/sentinel|' \
		packaging/systemd/sentinel.service >$(BUILD)/sentinel.service
	$(INSTALL) -m 0644 $(BUILD)/sentinel.service $(DESTDIR)$(UNITDIR)/
	$(INSTALL) -m 0644 $(DOC_FILES) $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 0644 $(addprefix packaging/etc/,$(ETC_FILES)) \
		$(DESTDIR)$(DOCDIR)/examples/
	@# alerts.yaml and sentinel.env hold secrets: not world-readable,
	@# group sentinel when that group exists (the package's postinst
	@# does it after creating the user).
	@for f in $(ETC_FILES); do \
		t=$(DESTDIR)$(SYSCONFDIR)/$$f; \
		case $$f in alerts.yaml|sentinel.env) m=0640 ;; *) m=0644 ;; esac; \
		if [ -e $$t ]; then \
			echo "keeping $$t (the shipped one: $(DOCDIR)/examples/$$f)"; \
		else \
			echo "$(INSTALL) -m $$m packaging/etc/$$f $$t"; \
			$(INSTALL) -m $$m packaging/etc/$$f $$t || exit 1; \
			if [ -z "$(DESTDIR)" ] && getent group sentinel >/dev/null; \
			then chgrp sentinel $$t; fi; \
		fi; \
	done

deb: $(PROGS)
	@rm -rf $(BUILD)/deb
	@$(MAKE) --no-print-directory -s install PREFIX=/usr \
		UNITDIR=/lib/systemd/system \
		DESTDIR=$(abspath $(BUILD))/deb/debian/sentinel >/dev/null
	@sh packaging/deb/build-deb.sh $(BUILD) $(VERSION)
# The release tarball of the guide's "Binary Installation":
# sentinel-v$(VERSION)-linux-<arch>.tar.gz with sentinel (multi-call:
# it runs the set alone, wherever it is moved), sentinel-cli and the
# shipped configs under examples/.  Its path is the last line printed.
DIST_ARCH ?= $(shell dpkg --print-architecture 2>/dev/null || uname -m)
DIST_NAME := sentinel-v$(VERSION)-linux-$(DIST_ARCH)
.PHONY: dist
dist: $(BUILD)/dist/sentinel $(BUILD)/sentinel-cli
	@rm -rf $(BUILD)/dist/stage && mkdir -p $(BUILD)/dist/stage/examples
	@cp $(BUILD)/dist/sentinel $(BUILD)/sentinel-cli $(BUILD)/dist/stage/
	@cp $(addprefix packaging/etc/,$(ETC_FILES)) $(BUILD)/dist/stage/examples/
	@tar -C $(BUILD)/dist/stage --owner=0 --group=0 -czf \
		$(BUILD)/dist/$(DIST_NAME).tar.gz sentinel sentinel-cli examples
	@rm -rf $(BUILD)/dist/stage
	@echo $(abspath $(BUILD)/dist/$(DIST_NAME).tar.gz)
# --- end of install and packages ---------------------------------------------

format:
	clang-format -i $(wildcard */*.c */*.h test/*/*.c)

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
