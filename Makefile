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

# async.h on a Cortex-M4, freestanding, with the POSIX clock switched off.
embedded: | $(B)
	$(ARM_CC) $(ARM_FLAGS) -c examples/embedded.c -o $(B)/embedded.o
	@arm-none-eabi-size $(B)/embedded.o

test: all
	@B=$(B) bash tests/run.sh $(TEST_BINS) --both $(SOCKET_TESTS)

clean:
	rm -rf $(B)
