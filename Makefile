# skewscope build. `make` builds build/skewscope and build/libskewscope.a;
# `make check` builds and runs every test; `make SAN=1 check` does the same
# under ASan+UBSan in build-asan/; `make fuzz` builds the libFuzzer targets.
# Optional pieces (protobuf code generation) live in mk/*.mk.

CC ?= cc
SAN ?= 0
TSAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build-asan
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT ?= -O1 -g
else ifeq ($(TSAN),1)
# clang: gcc 12 at -O1 with TSan sees a use-after-free that is not there
CC = clang
BUILD ?= build-tsan
SANFLAGS = -fsanitize=thread -fno-omit-frame-pointer
OPT ?= -O1 -g
else
BUILD ?= build
SANFLAGS =
OPT ?= -O2 -g
endif

GEN := build/gen
STD := -std=c11 -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64
WARN := -Wall -Wextra -Wshadow -Wmissing-prototypes -Werror
CPPFLAGS += -Isrc -I$(GEN)
CFLAGS ?=
ALL_CFLAGS = $(STD) $(OPT) $(WARN) $(SANFLAGS) $(CFLAGS)
PKGS := libprotobuf-c jansson zlib gsl libzmq rdkafka libcurl libmicrohttpd yaml-0.1 libnghttp2
LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lprotobuf-c -ljansson -lz -lgsl -lgslcblas -lzmq -lrdkafka -lcurl -lmicrohttpd -lyaml -lnghttp2) -lm

LIB_SRCS := $(sort $(wildcard src/util/*.c src/ingest/*.c src/model/*.c \
              src/analysis/*.c src/output/*.c src/sim/*.c src/testbed/*.c src/serve/*.c \
              src/stats/*.c src/rca/*.c src/rca/methods/*.c src/imbalance/*.c \
              src/collect/*.c))
CLI_SRCS := $(sort $(wildcard src/cli/*.c))
GEN_SRCS :=
GEN_HDRS :=

-include mk/*.mk

LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(GEN_SRCS:$(GEN)/%.c=$(BUILD)/gen/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all check unit integration fuzz fuzz-run bench format format-check clean demo tsan-check
all: $(BUILD)/skewscope

$(BUILD)/libskewscope.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/skewscope: $(CLI_OBJS) $(BUILD)/libskewscope.a
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libskewscope.a $(LIBS)

$(BUILD)/src/%.o: src/%.c $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# Generated code keeps its generator's style: no -Werror on it.
$(BUILD)/gen/%.o: $(GEN)/%.c $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(STD) $(OPT) $(SANFLAGS) -w -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/%.c tests/*.h $(BUILD)/libskewscope.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) -o $@ $< $(BUILD)/libskewscope.a $(LIBS) -lcmocka

# The NVML stand-in test_collect_nvml loads at run time (tests/nvml_stub.c).
$(BUILD)/tests/libnvml_stub.so: tests/nvml_stub.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fPIC -shared -o $@ $<
$(BUILD)/tests/test_collect_nvml: $(BUILD)/tests/libnvml_stub.so

# A bench program is bench/NAME.c plus, optionally, companion sources
# bench/NAME/*.c (headers bench/NAME/*.h) compiled into the same binary.
# BENCH_SRCS does not descend, so the companions are no programs of their own.
.SECONDEXPANSION:
$(BUILD)/bench/%: bench/%.c $$(sort $$(wildcard bench/$$*/*.c)) $$(wildcard bench/$$*/*.h) bench/bench_util.h $(BUILD)/libskewscope.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $(filter %.c,$^) $(BUILD)/libskewscope.a $(LIBS)

# Unit and simulation tests (cmocka binaries), then the command-line tests.
# Any sanitizer report fails the run.
export UBSAN_OPTIONS = halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS = detect_leaks=1:abort_on_error=0
export LSAN_OPTIONS = suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
# unit, then integration: not side by side under -j2, where the testbed
# runs of both tiers would compete for the same two cores
check: unit
	@$(MAKE) --no-print-directory integration
unit: $(TEST_BINS) $(BUILD)/skewscope
	@set -e; for t in $(TEST_BINS); do echo "== $$t"; SKEWSCOPE=$(BUILD)/skewscope $$t; done
integration: $(BUILD)/skewscope
	@SKEWSCOPE=$(BUILD)/skewscope SKEWSCOPE_SANITIZED=$(SAN) tests/cli/run.sh

bench: $(BENCH_BINS) $(BUILD)/skewscope

# The threaded serve tests under ThreadSanitizer: `make TSAN=1 tsan-check`
# (build-tsan/). Left out: the Kafka cases (librdkafka's mock cluster
# crashes under TSan), and test_serve's testbed and downstream-kill cases,
# whose timing (offset accuracy, what is acknowledged before a kill) does
# not hold at TSan's speed; test_serve's cases are picked by name
# (CMOCKA_ONLY, tests/testlib.h). die_after_fork=0: test_serve's helpers
# fork. Any report fails the run.
TSAN_TESTS := test_receiver test_assemble test_live test_live_exhausted \
              test_cluster test_slow_clients test_metrics_promtool \
              test_serve_scrape
TSAN_SERVE_CASES := test_http_end_to_end test_bad_requests test_token \
                    test_sigterm_spools test_backpressure
tsan-check: $(TSAN_TESTS:%=$(BUILD)/tests/%) $(BUILD)/tests/test_serve \
            $(BUILD)/tests/test_forward $(BUILD)/skewscope
	@set -e; export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:die_after_fork=0 \
	  SKEWSCOPE=$(BUILD)/skewscope SKEWSCOPE_NO_KAFKA=1 SLOW_CLIENTS_N=500; \
	for t in $(TSAN_TESTS); do echo "== $$t"; $(BUILD)/tests/$$t; done; \
	for c in $(TSAN_SERVE_CASES); do echo "== test_serve $$c"; \
	  CMOCKA_ONLY=$$c $(BUILD)/tests/test_serve; done; \
	echo "== test_forward (not test_kafka_sink, test_both_sinks_*)"; \
	CMOCKA_SKIP='*_sink*' $(BUILD)/tests/test_forward

# libFuzzer targets (clang only), one per parser.
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=build-fuzz/%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=build-fuzz/%.o) $(GEN_SRCS:$(GEN)/%.c=build-fuzz/gen/%.o)
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined
build-fuzz/src/%.o: src/%.c $(GEN_HDRS)
	@mkdir -p $(@D)
	clang $(CPPFLAGS) $(STD) $(WARN) $(FUZZ_FLAGS) -c -o $@ $<
build-fuzz/gen/%.o: $(GEN)/%.c $(GEN_HDRS)
	@mkdir -p $(@D)
	clang $(CPPFLAGS) $(STD) $(FUZZ_FLAGS) -w -c -o $@ $<
build-fuzz/%: fuzz/%.c fuzz/*.h tests/*.h $(FUZZ_LIB_OBJS)
	clang $(CPPFLAGS) -Ifuzz $(STD) $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB_OBJS) $(LIBS)
fuzz: $(FUZZ_BINS)
.SECONDARY: $(FUZZ_LIB_OBJS)
# Run every target briefly over its seed corpus (FUZZ_SECONDS each).
FUZZ_SECONDS ?= 20
fuzz-run: fuzz
	@set -e; for f in $(FUZZ_BINS); do n=$${f#build-fuzz/fuzz_}; \
	  mkdir -p build-fuzz/corpus/$$n; \
	  echo "== $$f ($(FUZZ_SECONDS)s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 build-fuzz/corpus/$$n fuzz/corpus/$$n; done; \
	echo "fuzz: $(words $(FUZZ_BINS)) passed, 0 failed"

FORMAT_SRCS = $(wildcard src/*/*.c src/*/*.h src/*/*/*.c src/*/*/*.h tests/*.c tests/*.h bench/*.c \
                bench/*.h bench/*/*.c bench/*/*.h fuzz/*.c fuzz/*.h)
format:
	clang-format -i $(FORMAT_SRCS)
format-check:
	clang-format --dry-run --Werror $(FORMAT_SRCS)

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d)
