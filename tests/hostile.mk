# Fuzzing (`make fuzz`), fault injection and the soak (`make soak`).
#
#   make fuzz                 each libFuzzer target for FUZZ_SECONDS (default 60) s, in parallel;
#                             new inputs go to build/fuzz-corpus/, crashes to build/fuzz-artifacts/
#   make soak                 SOAK_REQUESTS (default 1000000) keep-alive requests against nginx
#   make test                 runs test_hostile and test_faults (TEST_BINS), and
#                             tests/check_fuzz.sh: the corpus replayed, then each target 10 s

# An empty rule first, so that this fragment does not take over make's default goal.
all:

FUZZ_SECONDS ?= 60
SOAK_REQUESTS ?= 1000000
FUZZ_FLAGS := -std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g -fno-omit-frame-pointer \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_BINS := $(B)/fuzz_parser $(B)/fuzz_client $(B)/fuzz_client_tls $(B)/fuzz_request

SOCKET_TESTS += $(B)/test_hostile_clang $(B)/test_hostile_san $(B)/test_faults_clang $(B)/test_faults_san
EXTRA_BINS += $(FUZZ_BINS) $(B)/soak $(B)/no_uring

# tests/net.h, the helpers of the tests that talk to sockets: a change to it rebuilds them
# (test_http's rules are in the top Makefile; this adds the prerequisite to them).
$(B)/test_http_clang $(B)/test_http_san $(B)/test_hostile_clang $(B)/test_hostile_san \
$(B)/test_faults_clang $(B)/test_faults_san $(B)/fuzz_client $(B)/fuzz_client_tls $(B)/soak: tests/net.h tests/tls.h

$(B)/fuzz_parser: tests/fuzz_parser.c async.h async_http.h | $(B)
	$(CLANG) $(FUZZ_FLAGS) -DASYNC_HTTP_PARSER_ONLY $< -o $@
$(B)/fuzz_client: tests/fuzz_client.c async.h async_http.h | $(B)
	$(CLANG) $(FUZZ_FLAGS) $< -o $@ $(HTTP_BUILD)
$(B)/fuzz_request: tests/fuzz_request.c async.h async_http.h | $(B)
	$(CLANG) $(FUZZ_FLAGS) $< -o $@ $(HTTP_BUILD)
$(B)/fuzz_client_tls: tests/fuzz_client.c tests/tls.h async.h async_http.h | $(B)
	$(CLANG) $(FUZZ_FLAGS) -DFUZZ_TLS $< -o $@ $(HTTP_BUILD)

$(B)/test_hostile_clang: tests/test_hostile.c async.h async_http.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(CFLAGS) $< -o $@ $(HTTP_BUILD)
$(B)/test_hostile_san: tests/test_hostile.c async.h async_http.h tests/test.h | $(B)
	$(CC) $(STRICT) $(SAN) $< -o $@ $(HTTP_BUILD)
$(B)/test_faults_clang: tests/test_faults.c async.h async_http.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(CFLAGS) $< -o $@ $(HTTP_BUILD)
$(B)/test_faults_san: tests/test_faults.c async.h async_http.h tests/test.h | $(B)
	$(CC) $(STRICT) $(SAN) $< -o $@ $(HTTP_BUILD)

$(B)/soak: tests/soak.c async.h async_http.h | $(B)
	$(CC) $(STRICT) -O2 -g $< -o $@ $(HTTP_BUILD)

.PHONY: fuzz soak
fuzz: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/check_fuzz.sh

soak: $(B)/soak
	SOAK_REQUESTS=$(SOAK_REQUESTS) $(B)/soak
