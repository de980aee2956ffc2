/* bench_loop: async.h's scheduler, measured the way bench/asyncio_peer.py
   measures asyncio (same workloads, same RESULT lines):
     bench_loop yield N    one task, N yields through the ready queue
     bench_loop tasks N    N tasks, one yield each, one gather
     bench_loop sleeps N   N tasks sleeping uniform 0-100 ms on the real clock;
                           lateness = wake time - (the time the sleep began + delay),
                           wall = from before spawning to the last wake-up */
#define _POSIX_C_SOURCE 200809L
#define ASYNC_IMPLEMENTATION
#include "../async.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Touch every page so that page faults happen before the clock starts (a
   plain memset after calloc is elided by the compiler). async.h allocates
   nothing: the figures are the library's own cost. */
static void prefault(void *p, size_t n) {
    volatile char *c = (volatile char *)p;
    size_t i;
    for (i = 0; i < n; i += 4096) c[i] = 0;
}

static long rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

typedef struct yielder {
    async_task task;
    long i, n;
} yielder;

static int yield_run(async_task *t) {
    yielder *y = (yielder *)t;
    ASYNC_BEGIN(t);
    for (y->i = 0; y->i < y->n; y->i++) ASYNC_YIELD(t);
    ASYNC_END(t);
}

static int once_run(async_task *t) {
    ASYNC_BEGIN(t);
    ASYNC_YIELD(t);
    ASYNC_END(t);
}

typedef struct sleeper {
    async_task task;
    async_timer timer;
    async_time delay, woke;
} sleeper;

static int sleep_run(async_task *t) {
    sleeper *s = (sleeper *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_sleep(t->loop, &s->timer, s->delay));
    s->woke = async_now(t->loop);
    ASYNC_END(t);
}

static int cmp_time(const void *a, const void *b) {
    async_time x = *(const async_time *)a, y = *(const async_time *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    async_loop loop;
    long n;
    async_time start;
    if (argc != 3 || (n = atol(argv[2])) < 1) {
        fprintf(stderr, "usage: bench_loop yield|tasks|sleeps N\n");
        return 2;
    }
    async_loop_init(&loop, NULL);
    if (!strcmp(argv[1], "yield")) {
        yielder y;
        memset(&y, 0, sizeof y);
        y.n = n;
        start = async_now(&loop);
        async_create_task(&loop, &y.task, yield_run);
        async_run(&loop, &y.task.future);
        printf("RESULT ns_per_yield=%.2f rss_kib=%ld\n", (double)(async_now(&loop) - start) / (double)n, rss_kib());
    } else if (!strcmp(argv[1], "tasks")) {
        async_task *tasks = NULL;
        async_future **futs = malloc((size_t)n * sizeof *futs);
        async_link *links = malloc((size_t)n * sizeof *links);
        async_gather_op g;
        long i;
        /* A task is one cache line when it is aligned to one. */
        if (posix_memalign((void **)&tasks, 64, (size_t)n * sizeof *tasks)) return 1;
        prefault(tasks, (size_t)n * sizeof *tasks);
        prefault(futs, (size_t)n * sizeof *futs);
        prefault(links, (size_t)n * sizeof *links);
        start = async_now(&loop);
        for (i = 0; i < n; i++) futs[i] = async_create_task(&loop, &tasks[i], once_run);
        async_run(&loop, async_gather(&g, futs, links, (size_t)n, 0));
        printf("RESULT ns_per_task=%.2f rss_kib=%ld\n", (double)(async_now(&loop) - start) / (double)n, rss_kib());
        free(tasks), free(futs), free(links);
    } else if (!strcmp(argv[1], "sleeps")) {
        sleeper *s = calloc((size_t)n, sizeof *s);
        async_future **futs = malloc((size_t)n * sizeof *futs);
        async_link *links = malloc((size_t)n * sizeof *links);
        async_time *late = malloc((size_t)n * sizeof *late);
        async_gather_op g;
        unsigned rng = 1;
        long i;
        async_time t0;
        prefault(s, (size_t)n * sizeof *s);
        prefault(futs, (size_t)n * sizeof *futs);
        prefault(links, (size_t)n * sizeof *links);
        prefault(late, (size_t)n * sizeof *late);
        t0 = async_now(&loop);
        for (i = 0; i < n; i++) {
            rng = rng * 1103515245u + 12345u;
            s[i].delay = (async_time)((rng >> 4) % 100000000u); /* 0-100 ms */
            futs[i] = async_create_task(&loop, &s[i].task, sleep_run);
        }
        async_run(&loop, async_gather(&g, futs, links, (size_t)n, 0));
        start = async_now(&loop);
        for (i = 0; i < n; i++) late[i] = s[i].woke - s[i].timer.deadline; /* deadline = start + delay */
        qsort(late, (size_t)n, sizeof *late, cmp_time);
        printf("RESULT wall_ms=%.3f late_p50_ms=%.4f late_p99_ms=%.4f rss_kib=%ld\n", (double)(start - t0) / 1e6,
               (double)late[(n - 1) / 2] / 1e6, (double)late[(long)((double)n * 0.99 + 0.999999) - 1] / 1e6,
               rss_kib());
        free(s), free(futs), free(links), free(late);
    } else {
        return 2;
    }
    return 0;
}
