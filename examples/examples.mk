# The examples (the seeds re-told in C) and `make demo`. Each example is one
# C file, built strict with $(CC) and checked with $(CLANG) too, there with
# the portable switch/case coroutines (ASYNC_LC_SWITCH) so that both
# compilers and both continuation variants see every example.
EXAMPLES := swapi_server heroes_gather heroes_as_completed status_codes spiders future wait_timeout fetch
EXAMPLE_BINS := $(addprefix $(B)/,$(EXAMPLES))
EXTRA_BINS += $(EXAMPLE_BINS)

$(EXAMPLE_BINS): $(B)/%: examples/%.c async.h async_http.h | $(B)
	$(CLANG) $(STRICT) -DASYNC_LC_SWITCH -DASYNC_HTTP_TLS -DASYNC_HTTP_ZLIB -fsyntax-only $<
	$(CC) $(STRICT) $(CFLAGS) $< -o $@ $(HTTP_BUILD)

# Start a swapi_server on a free port and run every example against it
# (under DEMO_WRAP, built first if it is one of ours: build/no_uring).
.PHONY: demo
demo: $(EXAMPLE_BINS) $(filter $(B)/%,$(DEMO_WRAP))
	@B=$(B) bash examples/demo.sh
