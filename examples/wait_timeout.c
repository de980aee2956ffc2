/* wait_timeout.c - take requests as they finish until a deadline, then
 * cancel the stragglers.
 *
 *     wait_timeout BASE_URL        (e.g. http://127.0.0.1:8080, a swapi_server)
 *
 * asyncio.wait as seed 002 tells it: "it tells the finished tasks from
 * those still running; then we may cancel some, or wait again". In Python
 * (written for this example; the seed has no code for it):
 *
 *     pending = set(tasks)
 *     while pending and time_left() > 0:
 *         done, pending = await asyncio.wait(pending, timeout=time_left(),
 *                                            return_when=asyncio.FIRST_COMPLETED)
 *         for task in done: print('done', ...)
 *     for task in pending: task.cancel()
 *
 * Six heroes are asked for; the server is told (?delay_ms=) to answer some
 * of them late. async_wait never cancels anything itself: when the time is
 * up the pending requests are still running, and it is up to us to cancel
 * them and to await each one until it is really done (its socket closed,
 * its buffers released) before the program goes on.
 */
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"

#include <stdio.h>
#include <string.h>

#define HEROES 6
#define DEADLINE_MS 600

static const int delay_ms[HEROES] = {100, 1500, 200, 3000, 50, 300};

typedef struct app {
    async_task task;
    async_http_request requests[HEROES];
    async_future *pending[HEROES]; /* the futures still running ... */
    int pending_id[HEROES];        /* ... and whose they are */
    size_t npending;
    async_link links[HEROES];
    async_wait_op wait;
    async_time start, deadline;
    size_t i;
    int done, cancelled, failed, err;
} app;

static double seconds_since(app *a) { return (double)(async_now(a->task.loop) - a->start) / 1e9; }

/* Print how a finished request ended. */
static void report(app *a, int id) {
    async_http_request *r = &a->requests[id - 1];
    if (async_cancelled(&r->task.future)) {
        printf("%.2f s  hero %d cancelled\n", seconds_since(a), id);
        a->cancelled++;
    } else if (async_error(&r->task.future)) {
        printf("%.2f s  hero %d failed: %s\n", seconds_since(a), id, async_http_request_error(r));
        a->failed++;
    } else {
        printf("%.2f s  hero %d done: status %d, %zu bytes\n", seconds_since(a), id, r->response.status,
               r->response.body_len);
        async_http_request_release(r);
        a->done++;
    }
}

/* Report the pending requests that are done, and keep the others. */
static void collect_done(app *a) {
    size_t i, kept = 0;
    for (i = 0; i < a->npending; i++) {
        if (async_done(a->pending[i])) {
            report(a, a->pending_id[i]);
        } else {
            a->pending[kept] = a->pending[i];
            a->pending_id[kept++] = a->pending_id[i];
        }
    }
    a->npending = kept;
}

static int run(async_task *t) {
    app *a = (app *)t;
    ASYNC_BEGIN(t);
    a->deadline = a->start + ASYNC_MS(DEADLINE_MS);
    while (a->npending > 0 && async_now(t->loop) < a->deadline) {
        /* Returns as soon as one is done, or when the time left has passed:
           its result is how many are done; a timeout is not an error. */
        ASYNC_AWAIT(t, async_wait(t->loop, &a->wait, a->pending, a->links, a->npending, ASYNC_FIRST_COMPLETED,
                                  a->deadline - async_now(t->loop)));
        collect_done(a);
    }
    printf("%.2f s  time is up: %zu still pending\n", seconds_since(a), a->npending);

    /* Ask each straggler to stop. A request in the middle of I/O is not
       done at once: the kernel must first let go of its buffers. */
    for (a->i = 0; a->i < a->npending; a->i++) async_cancel(&a->requests[a->pending_id[a->i] - 1].task);
    /* Await each: the await completes when the request is really finished.
       A cancelled request would end this task too: catch it (the report
       reads how it ended). */
    for (a->i = 0; a->i < a->npending; a->i++) {
        ASYNC_AWAIT_CATCH(t, a->pending[a->i], a->err);
        report(a, a->pending_id[a->i]); /* it may have finished first, after all */
    }
    ASYNC_END(t);
}

int main(int argc, char **argv) {
    async_loop loop;
    async_io io;
    async_http_client client;
    static app a;
    static char urls[HEROES][256];
    size_t i;
    if (argc != 2) {
        fprintf(stderr, "usage: wait_timeout BASE_URL\n");
        return 2;
    }
    async_loop_init(&loop, NULL);
    if (async_io_init(&io, &loop, NULL) != 0) {
        fprintf(stderr, "wait_timeout: %s\n", async_io_error(&io));
        return 1;
    }
    async_http_client_init(&client, &io, NULL);

    a.start = async_now(&loop);
    for (i = 0; i < HEROES; i++) {
        snprintf(urls[i], sizeof urls[i], "%s/api/people/%zu?delay_ms=%d", argv[1], i + 1, delay_ms[i]);
        printf("hero %zu: the server answers after %d ms\n", i + 1, delay_ms[i]);
        a.pending[i] = async_http_get(&client, &a.requests[i], urls[i]);
        a.pending_id[i] = (int)i + 1;
    }
    a.npending = HEROES;
    printf("waiting %d ms for them\n", DEADLINE_MS);
    async_create_task(&loop, &a.task, run);
    async_run(&loop, &a.task.future);
    printf("%d done, %d cancelled, %d failed\n", a.done, a.cancelled, a.failed);

    async_http_client_close(&client);
    async_io_exit(&io);
    return a.failed ? 1 : 0;
}
