/* spiders.c - three spiders that each sleep one second three times, at once.
 *
 *     spiders [--virtual]
 *
 * Seed 004:
 *
 *     async def spider(site_name):
 *         for page in range(1, 4):
 *             await asyncio.sleep(1)      # hands control back to the event loop
 *             print(site_name, page)
 *
 *     spiders = [asyncio.ensure_future(spider("Blog")), ...News..., ...Forum...]
 *     event_loop.run_until_complete(asyncio.gather(*spiders))
 *     print("{:.2F}".format(end - start))
 *
 * Nine seconds of sleep take three: while one spider sleeps the loop runs
 * the others. The lines interleave (Blog 1, News 1, Forum 1, Blog 2, ...)
 * and the elapsed time is 3.00.
 *
 * --virtual runs the loop on virtual time (async_loop_config.virtual_time):
 * when every task waits, the clock jumps to the next timer instead of
 * sleeping, so the same program ends at once and measures exactly 3.00.
 *
 * Nothing here does I/O, so this one needs async.h alone: with no backend
 * the loop sleeps until the next timer.
 */
#define ASYNC_IMPLEMENTATION
#include "../async.h"

#include <stdio.h>
#include <string.h>

/* The coroutine spider(site_name): its task, and its locals that live
   across the await (the page counter, the timer of the sleep). */
typedef struct spider {
    async_task task;
    async_timer nap;
    const char *site_name;
    int page;
} spider;

static int spider_run(async_task *t) {
    spider *s = (spider *)t;
    ASYNC_BEGIN(t);
    for (s->page = 1; s->page < 4; s->page++) {
        ASYNC_AWAIT(t, async_sleep(t->loop, &s->nap, ASYNC_SEC(1)));
        printf("%s %d\n", s->site_name, s->page);
    }
    ASYNC_END(t);
}

int main(int argc, char **argv) {
    static const char *sites[3] = {"Blog", "News", "Forum"};
    async_loop_config config;
    async_loop loop;
    spider spiders[3];
    async_future *futs[3];
    async_link links[3];
    async_gather_op gather;
    async_time start;
    int i;

    memset(&config, 0, sizeof config);
    config.virtual_time = argc == 2 && strcmp(argv[1], "--virtual") == 0;
    if (argc > 2 || (argc == 2 && !config.virtual_time)) {
        fprintf(stderr, "usage: spiders [--virtual]\n");
        return 2;
    }
    async_loop_init(&loop, &config);
    start = async_now(&loop);

    /* asyncio.ensure_future(spider(...)): schedule each one. */
    memset(spiders, 0, sizeof spiders);
    for (i = 0; i < 3; i++) {
        spiders[i].site_name = sites[i];
        futs[i] = async_create_task(&loop, &spiders[i].task, spider_run);
    }
    /* event_loop.run_until_complete(asyncio.gather(*spiders)) */
    async_run(&loop, async_gather(&gather, futs, links, 3, 0));

    printf("%.2f\n", (double)(async_now(&loop) - start) / 1e9);
    return 0;
}
