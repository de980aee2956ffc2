# test_client (the client's behaviours through its public API, against the capture server
# of tests/net.h) and `make mutate`.
#
#   make test                 runs test_client with clang and under ASan+UBSan, on both backends
#   make mutate               plants each bug of tests/mutants.txt in a temp copy, runs the
#                             tests against it, reports killed / survived / stale and the
#                             kill rate (tests/mutate.sh; MUTANTS_ONLY="name ..." for some)

# An empty rule first, so that this fragment does not take over make's default goal.
all:

SOCKET_TESTS += $(B)/test_client_clang $(B)/test_client_san

$(B)/test_client_clang: tests/test_client.c async.h async_http.h tests/test.h tests/net.h | $(B)
	$(CLANG) $(STRICT) $(CFLAGS) $< -o $@ $(HTTP_BUILD)
$(B)/test_client_san: tests/test_client.c async.h async_http.h tests/test.h tests/net.h | $(B)
	$(CC) $(STRICT) $(SAN) $< -o $@ $(HTTP_BUILD)

.PHONY: mutate
mutate:
	bash tests/mutate.sh $(MUTANTS_ONLY)
