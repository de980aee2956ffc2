# test_workers: the worker pool and the wake-up, which cross threads. Socket
# tests (run on each backend), built with ASan+UBSan (gcc) and with
# ThreadSanitizer (clang).

# An empty rule first, so that this fragment does not take over make's default goal.
all:

TSAN := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
# pthread_create fails when a test says so (a pids limit, which root does not feel).
WRAP_THREADS := -Wl,--wrap=pthread_create
SOCKET_TESTS += $(B)/test_workers_san $(B)/test_workers_tsan

$(B)/test_workers_san: tests/test_workers.c tests/net.h async.h async_http.h tests/test.h | $(B)
	$(CC) $(STRICT) $(SAN) $< -o $@ $(HTTP_BUILD) $(WRAP_THREADS)
$(B)/test_workers_tsan: tests/test_workers.c tests/net.h async.h async_http.h tests/test.h | $(B)
	$(CLANG) $(STRICT) $(TSAN) $< -o $@ $(HTTP_BUILD) $(WRAP_THREADS)
