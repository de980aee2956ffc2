# Build everything with `make`, run every test with `make test`.
# Warnings are errors; the tests are built with gcc and clang, with both
# coroutine variants, and once more under ASan+UBSan.

ifeq ($(origin CC),default)
CC      := gcc
endif
CLANG   ?= clang
STRICT  := -std=c99 -Wall -Wextra -Wpedantic -Werror
CFLAGS  ?= -O2 -g
SAN     := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ARM_CC  ?= arm-none-eabi-gcc
ARM_FLAGS := -mcpu=cortex-m4 -mthumb -std=c99 -ffreestanding -Os -Wall -Wextra -Wpedantic -Werror
B       := build

ASYNC_TESTS := $(B)/test_async_gcc_goto $(B)/test_async_gcc_switch \
               $(B)/test_async_clang_goto $(B)/test_async_clang_switch \
               $(B)/test_async_san_goto $(B)/test_async_san_switch

# async_http.h: gcc and clang strict builds, and ASan+UBSan for the ones
# that talk to sockets (the sanitizers are what catch a buffer freed while
# the kernel still holds it).
HTTP_TESTS := $(B)/test_parser_gcc $(B)/test_parser_clang $(B)/test_parser_san \
              $(B)/test_http_clang $(B)/test_http_san

TEST_BINS := $(ASYNC_TESTS) $(HTTP_TESTS)
HTTP_LIBS := -luring -lpthread

# The examples and `make demo`; fuzzing, fault injection and the soak.
include examples/examples.mk
include tests/hostile.mk
include tests/client.mk

BENCH_BINS := $(B)/bench_client $(B)/bench_loop

.PHONY: all test embedded bench clean
all: $(TEST_BINS) $(EXTRA_BINS) $(BENCH_BINS)

$(B)/bench_client: bench/bench_client.c async.h async_http.h | $(B)
	$(CC) $(STRICT) -O2 -g $< -o $@ $(HTTP_LIBS)
$(B)/bench_loop: bench/bench_loop.c async.h | $(B)
	$(CC) $(STRICT) -O2 -g $< -o $@

# The library against wrk, libcurl, aiohttp and asyncio, same machine, same
# run (bench/run.sh; BENCH_SECONDS etc. there). Installs nothing.
bench: $(BENCH_BINS)
	BENCH_CLIENT=$(B)/bench_client BENCH_LOOP_BIN=$(B)/bench_loop bash bench/run.sh

$(B):
	@mkdir -p $(B)

$(B)/test_async_gcc_goto: tests/test_async.c async.h tests/test.h | $(B)
	$(CC) $(STRICT) $(CFLAGS) $< -o $@
$(B)/test_async_gcc_switch: tests/test_async.c async.h tests/test.h | $(B)
	$(CC) $(STRICT) $(CFLAGS) -DASYNC_LC_SWITCH $< -o $@
$(B)/test_async_clang_goto: tests/test_async.c async.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(CFLAGS) $< -o $@
$(B)/test_async_clang_switch: tests/test_async.c async.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(CFLAGS) -DASYNC_LC_SWITCH $< -o $@
$(B)/test_async_san_goto: tests/test_async.c async.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(SAN) $< -o $@
$(B)/test_async_san_switch: tests/test_async.c async.h tests/test.h | $(B)
	$(CC) $(STRICT) $(SAN) -DASYNC_LC_SWITCH $< -o $@

$(B)/test_parser_gcc: tests/test_parser.c async.h async_http.h tests/test.h | $(B)
	$(CC) $(STRICT) $(CFLAGS) $< -o $@ $(HTTP_LIBS)
$(B)/test_parser_clang: tests/test_parser.c async.h async_http.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(CFLAGS) $< -o $@ $(HTTP_LIBS)
$(B)/test_parser_san: tests/test_parser.c async.h async_http.h tests/test.h | $(B)
	$(CC) $(STRICT) $(SAN) $< -o $@ $(HTTP_LIBS)
$(B)/test_http_clang: tests/test_http.c async.h async_http.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(CFLAGS) $< -o $@ $(HTTP_LIBS)
$(B)/test_http_san: tests/test_http.c async.h async_http.h tests/test.h | $(B)
	$(CC) $(STRICT) $(SAN) $< -o $@ $(HTTP_LIBS)

# async.h on a Cortex-M4, freestanding, with the POSIX clock switched off.
embedded: | $(B)
	$(ARM_CC) $(ARM_FLAGS) -c examples/embedded.c -o $(B)/embedded.o
	@arm-none-eabi-size $(B)/embedded.o

test: all
	@bash tests/run.sh $(TEST_BINS)

clean:
	rm -rf $(B)
