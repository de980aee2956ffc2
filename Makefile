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
               $(B)/test_async_san_goto $(B)/test_async_san_switch \
               $(B)/test_async_gcc_time32 $(B)/test_async_san_time32 $(B)/test_mixed_debug

# async_http.h: gcc and clang strict builds, and ASan+UBSan for the ones
# that talk to sockets (the sanitizers are what catch a buffer freed while
# the kernel still holds it).
PARSER_TESTS := $(B)/test_parser_gcc $(B)/test_parser_clang $(B)/test_parser_san
# The tests that talk to sockets run once on each backend (tests/run.sh --both).
SOCKET_TESTS := $(B)/test_http_clang $(B)/test_http_san $(B)/test_tls_clang $(B)/test_tls_san \
                $(B)/test_web_clang $(B)/test_web_san

TEST_BINS := $(ASYNC_TESTS) $(PARSER_TESTS) $(B)/test_backend_clang $(B)/test_backend_san $(B)/test_minimal
# async_http.h with TLS (OpenSSL 3) and decompression (zlib) wherever it is
# built, and its libraries.
HTTP_BUILD := -DASYNC_HTTP_TLS -DASYNC_HTTP_ZLIB -luring -lpthread -lssl -lcrypto -lz

# The examples and `make demo`; fuzzing, fault injection and the soak.
include examples/examples.mk
include tests/hostile.mk
include tests/client.mk
include tests/workers.mk

BENCH_BINS := $(B)/bench_client $(B)/bench_loop

.PHONY: all test embedded bench clean
all: $(TEST_BINS) $(SOCKET_TESTS) $(EXTRA_BINS) $(BENCH_BINS)

$(B)/bench_client: bench/bench_client.c async.h async_http.h | $(B)
	$(CC) $(STRICT) -O2 -g $< -o $@ $(HTTP_BUILD)
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
# The implementation built as a release, used from a debug build: one loop layout for both.
$(B)/test_mixed_debug: tests/test_mixed_debug.c async.h tests/test.h | $(B)
	$(CC) $(STRICT) $(SAN) -DNDEBUG -DMIXED_DEBUG_IMPL -c $< -o $(B)/mixed_debug_impl.o
	$(CC) $(STRICT) $(SAN) $< $(B)/mixed_debug_impl.o -o $@
# The same tests on 32-bit ticks that wrap (a microsecond tick: the tests' times stay exact).
TIME32 := -DASYNC_TIME32 -DASYNC_TICK_HZ=1000000
$(B)/test_async_gcc_time32: tests/test_async.c async.h tests/test.h | $(B)
	$(CC) $(STRICT) $(CFLAGS) $(TIME32) $< -o $@
$(B)/test_async_san_time32: tests/test_async.c async.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(SAN) $(TIME32) -DASYNC_LC_SWITCH $< -o $@

# The parser builds alone: no backend, no client, no liburing.
$(B)/test_parser_gcc: tests/test_parser.c async.h async_http.h tests/test.h | $(B)
	$(CC) $(STRICT) $(CFLAGS) -DASYNC_HTTP_PARSER_ONLY $< -o $@
$(B)/test_parser_clang: tests/test_parser.c async.h async_http.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(CFLAGS) -DASYNC_HTTP_PARSER_ONLY $< -o $@
$(B)/test_parser_san: tests/test_parser.c async.h async_http.h tests/test.h | $(B)
	$(CC) $(STRICT) $(SAN) -DASYNC_HTTP_PARSER_ONLY $< -o $@
$(B)/test_http_clang: tests/test_http.c async.h async_http.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(CFLAGS) $< -o $@ $(HTTP_BUILD)
$(B)/test_http_san: tests/test_http.c async.h async_http.h tests/test.h | $(B)
	$(CC) $(STRICT) $(SAN) $< -o $@ $(HTTP_BUILD)

# https:// against nginx with TLS and scripted TLS peers (tests/tls.h makes the certificates).
$(B)/test_tls_clang: tests/test_tls.c tests/tls.h tests/net.h async.h async_http.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(CFLAGS) $< -o $@ $(HTTP_BUILD)
$(B)/test_tls_san: tests/test_tls.c tests/tls.h tests/net.h async.h async_http.h tests/test.h | $(B)
	$(CC) $(STRICT) $(SAN) $< -o $@ $(HTTP_BUILD)

# The least: no liburing, no OpenSSL (epoll only, http only).
$(B)/test_minimal: tests/test_minimal.c tests/net.h async.h async_http.h tests/test.h | $(B)
	$(CC) $(STRICT) $(SAN) $< -o $@ -lpthread

# The client on the real web: redirects, URLs, shutting down (and more to come).
$(B)/test_web_clang: tests/test_web.c tests/tls.h tests/net.h async.h async_http.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(CFLAGS) $< -o $@ $(HTTP_BUILD)
$(B)/test_web_san: tests/test_web.c tests/tls.h tests/net.h async.h async_http.h tests/test.h | $(B)
	$(CC) $(STRICT) $(SAN) $< -o $@ $(HTTP_BUILD)

# Which backend runs, epoll under a seccomp filter that refuses io_uring, a tiny ring.
$(B)/test_backend_clang: tests/test_backend.c tests/seccomp.h tests/net.h async.h async_http.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(CFLAGS) $< -o $@ $(HTTP_BUILD)
$(B)/test_backend_san: tests/test_backend.c tests/seccomp.h tests/net.h async.h async_http.h tests/test.h | $(B)
	$(CC) $(STRICT) $(SAN) $< -o $@ $(HTTP_BUILD)
# Runs a command with io_uring refused, as in Docker (make demo DEMO_WRAP=build/no_uring).
$(B)/no_uring: tests/no_uring.c tests/seccomp.h | $(B)
	$(CC) $(STRICT) $(CFLAGS) $< -o $@

# async.h on a microcontroller: images for QEMU's mps2-an386 (a Cortex-M4;
# examples/mps2/ has the startup and the memory map), the example in both
# coroutine variants, from a normal start and 1 s before its tick counter
# wraps (tests/check_embedded.sh runs them); the small program that
# measures the core; the library alone; a Cortex-M0 build.
ARM_LINK := -ffunction-sections -fdata-sections -nostdlib -T examples/mps2/mps2_an386.ld -Wl,--gc-sections
ARM_START := examples/mps2/startup.c
ARM_DEPS := async.h $(ARM_START) examples/mps2/startup.h examples/mps2/mps2_an386.ld
WRAP_MS := 4294966296u
EMBEDDED_IMAGES := $(B)/embedded_goto.elf $(B)/embedded_switch.elf $(B)/embedded_goto_wrap.elf \
                   $(B)/embedded_switch_wrap.elf
$(B)/embedded_goto.elf: examples/embedded.c $(ARM_DEPS) | $(B)
	$(ARM_CC) $(ARM_FLAGS) $(ARM_LINK) $< $(ARM_START) -o $@ -lc -lgcc
$(B)/embedded_switch.elf: examples/embedded.c $(ARM_DEPS) | $(B)
	$(ARM_CC) $(ARM_FLAGS) -DASYNC_LC_SWITCH $(ARM_LINK) $< $(ARM_START) -o $@ -lc -lgcc
$(B)/embedded_goto_wrap.elf: examples/embedded.c $(ARM_DEPS) | $(B)
	$(ARM_CC) $(ARM_FLAGS) -DSTART_MS=$(WRAP_MS) $(ARM_LINK) $< $(ARM_START) -o $@ -lc -lgcc
$(B)/embedded_switch_wrap.elf: examples/embedded.c $(ARM_DEPS) | $(B)
	$(ARM_CC) $(ARM_FLAGS) -DASYNC_LC_SWITCH -DSTART_MS=$(WRAP_MS) $(ARM_LINK) $< $(ARM_START) -o $@ -lc -lgcc
$(B)/embedded_small.elf: examples/embedded_small.c $(ARM_DEPS) | $(B)
	$(ARM_CC) $(ARM_FLAGS) -DNDEBUG $(ARM_LINK) $< $(ARM_START) -o $@ -lc -lgcc
# Every function of the library (none is dropped: they are all external).
$(B)/async_m4.o: async.h | $(B)
	printf '#define ASYNC_TIME32\n#define ASYNC_NO_POSIX_CLOCK\n#define ASYNC_IMPLEMENTATION\n#include "async.h"\n' | \
	    $(ARM_CC) $(ARM_FLAGS) -DNDEBUG -x c -c - -o $@
$(B)/embedded_m0.o: examples/embedded.c async.h | $(B)
	$(ARM_CC) $(subst cortex-m4,cortex-m0,$(ARM_FLAGS)) -c $< -o $@

embedded: $(EMBEDDED_IMAGES) $(B)/embedded_small.elf $(B)/async_m4.o $(B)/embedded_m0.o
	@sh examples/mps2/size.sh $(B)/embedded_goto.elf "embedded.c image (cortex-m4)"
	@sh examples/mps2/size.sh $(B)/embedded_small.elf "small program: loop, tasks, sleep, gather"
	@sh examples/mps2/size.sh $(B)/async_m4.o "async.h, all of it (cortex-m4, NDEBUG)"
	@sh examples/mps2/size.sh $(B)/embedded_m0.o "embedded.c object (cortex-m0)"

test: all
	@B=$(B) bash tests/run.sh $(TEST_BINS) --both $(SOCKET_TESTS)

clean:
	rm -rf $(B)
