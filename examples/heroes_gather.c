/* heroes_gather.c - ten heroes fetched concurrently, collected with gather.
 *
 *     heroes_gather BASE_URL        (e.g. http://127.0.0.1:8080, a swapi_server)
 *
 * The first example of seed 001, in C:
 *
 *     async def get_heroes(hero_id):
 *         async with aiohttp.ClientSession() as session:
 *             await session.get(f'{URL}{hero_id}')
 *             print(f'Got hero {hero_id}')
 *         return hero_id
 *
 *     async def main():
 *         coroutines = [get_heroes(i) for i in range(1, MAX_HEROES)]
 *         heroes_ids = await asyncio.gather(*coroutines)
 *         print(heroes_ids)
 *
 * "Got hero N" comes out in the order the answers arrive; the list comes
 * out in argument order, whatever that order was: gather keeps each result
 * in its own slot. The seed opens a session per hero; aiohttp advises one
 * per application, and so does this: one client, one connection pool.
 */
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"

#include <stdio.h>

#define MAX_HEROES 11

/* The coroutine get_hero(id): its task, and what lives across its await. */
typedef struct hero {
    async_task task; /* first: a hero is the task the loop runs */
    async_http_client *client;
    async_http_request request;
    char url[256];
    int id;
} hero;

static int get_hero(async_task *t) {
    hero *h = (hero *)t;
    ASYNC_BEGIN(t);
    /* A request is a task of its own; awaiting it suspends this one. */
    ASYNC_AWAIT(t, async_http_get(h->client, &h->request, h->url));
    if (async_error(&h->request.task.future)) {
        fprintf(stderr, "hero %d: %s\n", h->id, async_http_request_error(&h->request));
        ASYNC_RAISE(t, async_error(&h->request.task.future));
    }
    printf("Got hero %d\n", h->id);
    async_http_request_release(&h->request); /* the body: not needed here */
    ASYNC_RETURN(t, h->id);
    ASYNC_END(t);
}

int main(int argc, char **argv) {
    async_loop loop;
    async_io io;
    async_http_client client;
    static hero heroes[MAX_HEROES - 1];
    async_future *futs[MAX_HEROES - 1];
    async_link links[MAX_HEROES - 1]; /* gather's storage: one link per child */
    async_gather_op gather;
    int i, failed = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: heroes_gather BASE_URL\n");
        return 2;
    }
    async_loop_init(&loop, NULL);
    if (async_io_init(&io, &loop, NULL) != 0) {
        fprintf(stderr, "heroes_gather: %s\n", async_io_error(&io));
        return 1;
    }
    async_http_client_init(&client, &io, NULL);

    /* coroutines = [get_heroes(i) for i in range(1, MAX_HEROES)]: create_task
       schedules each; none runs before the loop does. */
    for (i = 1; i < MAX_HEROES; i++) {
        hero *h = &heroes[i - 1];
        h->client = &client;
        h->id = i;
        snprintf(h->url, sizeof h->url, "%s/api/people/%d", argv[1], i);
        futs[i - 1] = async_create_task(&loop, &h->task, get_hero);
    }
    /* heroes_ids = await asyncio.gather(*coroutines), but with
       return_exceptions=1 (seed 003 tells the two apart): a failed hero
       shows in the list as its error, and the others still print. With 0,
       as in the seed, the first failure ends the gather at once, and
       async_main would then cancel the rest, as asyncio.run does. */
    async_run(&loop, async_gather(&gather, futs, links, MAX_HEROES - 1, 1));

    /* print(heroes_ids) */
    printf("[");
    for (i = 0; i < MAX_HEROES - 1; i++) {
        if (async_error(futs[i])) {
            printf("%s'%s'", i ? ", " : "", async_strerror(async_error(futs[i])));
            failed = 1;
        } else {
            printf("%s%d", i ? ", " : "", (int)async_result(futs[i]));
        }
    }
    printf("]\n");

    async_http_client_close(&client);
    async_io_exit(&io);
    return failed;
}
