/* future.c - a bare future, set by a task a second later, and awaited.
 *
 *     future [--virtual]
 *
 * Seed 002 ("awaiting a future"):
 *
 *     def make_request() -> Future:
 *         future = Future()
 *         asyncio.create_task(set_future_value(future))
 *         return future
 *
 *     async def set_future_value(future) -> None:
 *         await asyncio.sleep(1)
 *         future.set_result(42)
 *
 *     async def main():
 *         future = make_request()
 *         print(f'Is the future done? {future.done()}')
 *         value = await future
 *         print(f'Is the future done? {future.done()}')
 *         print(value)
 *
 * It prints "done? no", then a second later "done? yes" and 42. A future is
 * a value that is not there yet; a task is a future whose value its
 * coroutine makes (async_task begins with one). main here is a task too,
 * because only a coroutine can await.
 *
 * No heap: the future, the setter's task and its timer live in the
 * struct that make_request fills, as Python's would live in its objects.
 * --virtual runs on virtual time (see spiders.c): the same lines, at once.
 */
#define ASYNC_IMPLEMENTATION
#include "../async.h"

#include <stdio.h>
#include <string.h>

/* make_request()'s objects: the future it returns and the task that sets it. */
typedef struct request {
    async_future future;
    async_task setter;
    async_timer nap;
} request;

/* set_future_value(future) */
static int set_future_value(async_task *t) {
    request *r = (request *)((char *)t - offsetof(request, setter));
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_sleep(t->loop, &r->nap, ASYNC_SEC(1)));
    async_future_set_result(&r->future, 42);
    ASYNC_END(t);
}

static async_future *make_request(async_loop *loop, request *r) {
    async_future_init(&r->future);
    async_create_task(loop, &r->setter, set_future_value);
    return &r->future;
}

typedef struct main_task {
    async_task task;
    request request;
    async_future *future;
} main_task;

static const char *yes_no(const async_future *f) { return async_done(f) ? "yes" : "no"; }

static int main_run(async_task *t) {
    main_task *m = (main_task *)t;
    ASYNC_BEGIN(t);
    m->future = make_request(t->loop, &m->request);
    printf("Is the future done? %s\n", yes_no(m->future));
    ASYNC_AWAIT(t, m->future);
    printf("Is the future done? %s\n", yes_no(m->future));
    printf("%ld\n", (long)async_result(m->future));
    ASYNC_END(t);
}

int main(int argc, char **argv) {
    async_loop_config config;
    async_loop loop;
    main_task m;

    memset(&config, 0, sizeof config);
    config.virtual_time = argc == 2 && strcmp(argv[1], "--virtual") == 0;
    if (argc > 2 || (argc == 2 && !config.virtual_time)) {
        fprintf(stderr, "usage: future [--virtual]\n");
        return 2;
    }
    async_loop_init(&loop, &config);
    memset(&m, 0, sizeof m);
    /* asyncio.run(main()) */
    async_main(&loop, async_create_task(&loop, &m.task, main_run));
    return 0;
}
