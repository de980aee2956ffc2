/* heroes_as_completed.c - ten heroes fetched concurrently, each handled the
 * moment it arrives.
 *
 *     heroes_as_completed BASE_URL        (e.g. http://127.0.0.1:8080)
 *
 * Seed 001's second version, which swaps gather for as_completed:
 *
 *     for coroutine in asyncio.as_completed(coroutines):
 *         hero_id = await coroutine
 *         print(hero_id)
 *
 * gather hands back every result at the end, in argument order; as_completed
 * hands back each as it completes, in completion order, so the first answer
 * can be used while the others are still on their way. Unlike the seed,
 * whose get_heroes prints "Got hero N" and whose loop prints the id, here
 * the requests themselves are the futures (a request is a task), and the
 * one consumer prints each hero's name out of the JSON body as it arrives.
 * A failed request, or one that is not a 200, is said on stderr and the
 * others go on (Python would stop at the first await that raised, the
 * rest still running: seed 002's caveat about as_completed).
 */
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"

#include <stdio.h>
#include <string.h>

#define HEROES 10

/* The consumer coroutine and what lives across its awaits. */
typedef struct consumer {
    async_task task;
    async_as_completed ac;
    async_http_request *requests;
    int received, failed;
} consumer;

/* The value of "name" in the flat JSON object the server sends, and its
   length in *len (for "%.*s"). */
static const char *json_name(const char *body, int *len) {
    const char *start = strstr(body, "\"name\": \""), *end;
    if (!start || !(end = strchr(start += 9, '"'))) {
        *len = 9;
        return "(no name)";
    }
    *len = (int)(end - start);
    return start;
}

static int consume(async_task *t) {
    consumer *c = (consumer *)t;
    async_http_request *r;
    const char *name;
    int id, len;
    ASYNC_BEGIN(t);
    for (c->received = 0; c->received < HEROES; c->received++) {
        /* The next step's result is the index of the next request to complete. */
        ASYNC_AWAIT(t, async_as_completed_next(&c->ac));
        id = (int)async_result(&c->ac.step) + 1;
        r = &c->requests[id - 1];
        if (async_error(&r->task.future)) {
            fprintf(stderr, "hero %d: %s\n", id, async_http_request_error(r));
            c->failed++;
            continue;
        }
        if (r->response.status != 200) {
            fprintf(stderr, "hero %d: status %d\n", id, r->response.status);
            c->failed++;
            async_http_request_release(r);
            continue;
        }
        name = json_name(r->response.body, &len);
        printf("Got hero %d: %.*s\n", id, len, name);
        async_http_request_release(r);
    }
    ASYNC_END(t);
}

int main(int argc, char **argv) {
    async_loop loop;
    async_io io;
    async_http_client client;
    static async_http_request requests[HEROES];
    static char urls[HEROES][256];
    async_future *futs[HEROES];
    async_link links[HEROES];
    consumer c;
    int i;
    if (argc != 2) {
        fprintf(stderr, "usage: heroes_as_completed BASE_URL\n");
        return 2;
    }
    async_loop_init(&loop, NULL);
    if (async_io_init(&io, &loop, NULL) != 0) {
        fprintf(stderr, "heroes_as_completed: %s\n", async_io_error(&io));
        return 1;
    }
    async_http_client_init(&client, &io, NULL);

    for (i = 0; i < HEROES; i++) {
        snprintf(urls[i], sizeof urls[i], "%s/api/people/%d", argv[1], i + 1);
        futs[i] = async_http_get(&client, &requests[i], urls[i]);
    }
    /* No timeout: ASYNC_NO_TIMEOUT (a timeout would end the iteration with
       ASYNC_ETIMEDOUT and leave the rest running). */
    memset(&c, 0, sizeof c);
    c.requests = requests;
    async_as_completed_init(&loop, &c.ac, futs, links, HEROES, ASYNC_NO_TIMEOUT);
    async_create_task(&loop, &c.task, consume);
    async_run(&loop, &c.task.future);

    async_http_client_close(&client);
    async_io_exit(&io);
    return c.failed ? 1 : 0;
}
