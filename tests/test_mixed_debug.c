/* test_mixed_debug.c - async.h's implementation built as a release (-DNDEBUG, so ASYNC_DEBUG
 * 0) and used from a debug build (ASYNC_DEBUG 1), as a library built once and an application
 * built as it likes: both see the same loop. (The debug side's coroutines note their name in
 * the loop; with a field that only debug builds had, the store landed on the loop's poll
 * hook, and the release side called a string.) Built twice from this file: with
 * MIXED_DEBUG_IMPL and NDEBUG, the implementation; without, the test. */
#ifdef MIXED_DEBUG_IMPL
#define ASYNC_IMPLEMENTATION
#include "../async.h"
size_t mixed_debug_loop_size(void);
size_t mixed_debug_loop_size(void) { return sizeof(async_loop); }
#else
#include "../async.h"
#include "test.h"

size_t mixed_debug_loop_size(void);

typedef struct napper {
    async_task task;
    async_timer timer;
    int naps;
} napper;

static int napper_run(async_task *t) {
    napper *n = (napper *)t;
    ASYNC_BEGIN(t);
    for (n->naps = 0; n->naps < 3; n->naps++) ASYNC_AWAIT(t, async_sleep(t->loop, &n->timer, ASYNC_MS(1)));
    ASYNC_RETURN(t, 7);
    ASYNC_END(t);
}

TEST(release_implementation_debug_user) {
    async_loop loop;
    async_loop_config cfg;
    napper n[2];
    int i;
    CHECK_EQ(sizeof loop, mixed_debug_loop_size());
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_time = 1;
    async_loop_init(&loop, &cfg);
    memset(n, 0, sizeof n);
    for (i = 0; i < 2; i++) async_create_task(&loop, &n[i].task, napper_run);
    CHECK_EQ(async_run(&loop, &n[1].task.future), 0);
    CHECK_EQ(async_result(&n[0].task.future), 7);
    CHECK_EQ(async_now(&loop), ASYNC_MS(3));
}

int main(void) {
    RUN(release_implementation_debug_user);
    return test_summary("mixed_debug");
}
#endif
