/* status_codes.c - N concurrent GETs of one URL through one client.
 *
 *     status_codes [--limit L] [--threads T] URL N
 *
 * Seed 002 (from Fowler's "Python Concurrency with asyncio"):
 *
 *     @async_timed()
 *     async def main():
 *         async with ClientSession() as session:
 *             urls = ['https://example.com' for _ in range(1000)]
 *             requests = [fetch_status(session, url) for url in urls]
 *             status_codes = await asyncio.gather(*requests)
 *             print(status_codes)
 *
 * All N requests start at once; the client's pool lets `limit` of them
 * (default 100, as aiohttp's TCPConnector) talk to the server at a time and
 * queues the rest, first come first served, reusing each keep-alive
 * connection. Instead of a list of a thousand 200s this prints how many of
 * each status came back, and the time it took. Exit status 1 if any request
 * failed; the errors are counted by kind.
 *
 * --threads T: more than one core, as one would run T Python processes. T
 * loops on T threads, each with its own io and client (and so its own pool
 * of L connections), sharing nothing; the N requests are split between
 * them and the counts summed at the end.
 */
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Each connection is a file descriptor: allow as many as the hard limit. */
static void raise_fd_limit(void) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
}

static int usage(void) {
    fprintf(stderr, "usage: status_codes [--limit CONNECTIONS] [--threads T] URL N\n");
    return 2;
}

/* One thread's share: its own loop, io and client; what came back. */
typedef struct shard {
    const char *url;
    long n;
    async_http_client_config config;
    pthread_t thread;
    char error[600]; /* why it could not start */
    long statuses[600], failed;
    int errors[16], error_counts[16], kinds;
} shard;

static void *run_shard(void *arg) {
    shard *s = (shard *)arg;
    async_loop loop;
    async_io io;
    async_http_client client;
    async_http_request *requests;
    async_future **futs;
    async_link *links;
    async_gather_op gather;
    long i;
    int k;

    async_loop_init(&loop, NULL);
    if (async_io_init(&io, &loop, NULL) != 0) {
        snprintf(s->error, sizeof s->error, "%s", async_io_error(&io));
        return NULL;
    }
    async_http_client_init(&client, &io, &s->config);
    /* async.h never allocates: N requests need storage for N requests, and
       gather one link per child. */
    requests = calloc((size_t)s->n, sizeof *requests);
    futs = calloc((size_t)s->n, sizeof *futs);
    links = calloc((size_t)s->n, sizeof *links);
    if (!requests || !futs || !links) {
        snprintf(s->error, sizeof s->error, "out of memory");
        s->n = 0; /* and on to the cleanup */
    }

    for (i = 0; i < s->n; i++) futs[i] = async_http_get(&client, &requests[i], s->url);
    /* return_exceptions=1: every request is done when the gather is, and
       each one's outcome (a status or an error) is in its own future. */
    async_run(&loop, async_gather(&gather, futs, links, (size_t)s->n, 1));

    for (i = 0; i < s->n; i++) {
        int err = async_error(futs[i]);
        if (!err) {
            s->statuses[async_result(futs[i])]++; /* the result is the status, 100..599 */
            async_http_request_release(&requests[i]);
            continue;
        }
        s->failed++;
        for (k = 0; k < s->kinds && s->errors[k] != err; k++) {}
        if (k == s->kinds && s->kinds < 16) s->errors[s->kinds++] = err;
        if (k < 16) s->error_counts[k]++;
    }
    async_http_client_close(&client);
    async_io_exit(&io);
    free(requests);
    free(futs);
    free(links);
    return NULL;
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    async_http_client_config config;
    shard *shards;
    const char *url;
    long n, i, t, threads = 1, statuses[600] = {0}, failed = 0;
    int errors[16] = {0}, error_counts[16] = {0}, kinds = 0, k, broken = 0;
    double start, elapsed;

    memset(&config, 0, sizeof config);
    while (argc >= 3 && argv[1][0] == '-') {
        if (strcmp(argv[1], "--limit") == 0) config.limit = (size_t)atol(argv[2]);
        else if (strcmp(argv[1], "--threads") == 0 && (threads = atol(argv[2])) >= 1 && threads <= 1024) {}
        else return usage();
        argv += 2;
        argc -= 2;
    }
    if (argc != 3 || (n = atol(argv[2])) <= 0) return usage();
    url = argv[1];
    if (threads > n) threads = n;
    raise_fd_limit();

    shards = calloc((size_t)threads, sizeof *shards);
    if (!shards) return 1;
    for (t = 0; t < threads; t++) {
        shards[t].url = url;
        shards[t].n = n / threads + (t < n % threads); /* the rest goes to the first ones */
        shards[t].config = config;
    }
    start = seconds_now();
    if (threads == 1) {
        run_shard(&shards[0]);
    } else {
        for (t = 0; t < threads; t++) pthread_create(&shards[t].thread, NULL, run_shard, &shards[t]);
        for (t = 0; t < threads; t++) pthread_join(shards[t].thread, NULL);
    }
    elapsed = seconds_now() - start;

    for (t = 0; t < threads; t++) {
        shard *s = &shards[t];
        if (s->error[0]) {
            fprintf(stderr, "status_codes: %s\n", s->error);
            broken = 1;
            continue;
        }
        for (i = 100; i < 600; i++) statuses[i] += s->statuses[i];
        failed += s->failed;
        for (k = 0; k < s->kinds; k++) {
            int j;
            for (j = 0; j < kinds && errors[j] != s->errors[k]; j++) {}
            if (j == kinds && kinds < 16) errors[kinds++] = s->errors[k];
            if (j < 16) error_counts[j] += s->error_counts[k];
        }
    }
    free(shards);
    if (broken) return 1;
    for (i = 100; i < 600; i++)
        if (statuses[i]) printf("%ld: %ld\n", i, statuses[i]);
    for (k = 0; k < kinds; k++) printf("failed (%s): %d\n", async_strerror(errors[k]), error_counts[k]);
    if (threads > 1) printf("%ld requests in %.2f s on %ld threads\n", n, elapsed, threads);
    else printf("%ld requests in %.2f s\n", n, elapsed);
    return failed ? 1 : 0;
}
