/* status_codes.c - N concurrent GETs of one URL through one client.
 *
 *     status_codes [--limit L] URL N
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
 */
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Each connection is a file descriptor: allow as many as the hard limit. */
static void raise_fd_limit(void) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
}

static int usage(void) {
    fprintf(stderr, "usage: status_codes [--limit CONNECTIONS] URL N\n");
    return 2;
}

int main(int argc, char **argv) {
    async_loop loop;
    async_io io;
    async_http_client client;
    async_http_client_config config;
    async_http_request *requests;
    async_future **futs;
    async_link *links;
    async_gather_op gather;
    async_time start, elapsed;
    const char *url;
    long n, i, statuses[600] = {0}, failed = 0;
    int errors[16] = {0}, error_counts[16] = {0}, kinds = 0, k;

    memset(&config, 0, sizeof config);
    if (argc == 5 && strcmp(argv[1], "--limit") == 0) {
        config.limit = (size_t)atol(argv[2]);
        argv += 2;
        argc -= 2;
    }
    if (argc != 3 || (n = atol(argv[2])) <= 0) return usage();
    url = argv[1];
    raise_fd_limit();

    async_loop_init(&loop, NULL);
    if (async_io_init(&io, &loop, NULL) != 0) {
        fprintf(stderr, "status_codes: %s\n", async_io_error(&io));
        return 1;
    }
    async_http_client_init(&client, &io, &config);
    /* async.h never allocates: N requests need storage for N requests, and
       gather one link per child. */
    requests = calloc((size_t)n, sizeof *requests);
    futs = calloc((size_t)n, sizeof *futs);
    links = calloc((size_t)n, sizeof *links);
    if (!requests || !futs || !links) {
        fprintf(stderr, "status_codes: out of memory\n");
        return 1;
    }

    start = async_now(&loop);
    for (i = 0; i < n; i++) futs[i] = async_http_get(&client, &requests[i], url);
    /* return_exceptions=1: every request is done when the gather is, and
       each one's outcome (a status or an error) is in its own future. */
    async_run(&loop, async_gather(&gather, futs, links, (size_t)n, 1));
    elapsed = async_now(&loop) - start;

    for (i = 0; i < n; i++) {
        int err = async_error(futs[i]);
        if (!err) {
            statuses[async_result(futs[i])]++; /* the result is the status, 100..599 */
            async_http_request_release(&requests[i]);
            continue;
        }
        failed++;
        for (k = 0; k < kinds && errors[k] != err; k++) {}
        if (k == kinds && kinds < 16) errors[kinds++] = err;
        if (k < 16) error_counts[k]++;
    }
    for (i = 100; i < 600; i++)
        if (statuses[i]) printf("%ld: %ld\n", i, statuses[i]);
    for (k = 0; k < kinds; k++) printf("failed (%s): %d\n", async_strerror(errors[k]), error_counts[k]);
    printf("%ld requests in %.2f s\n", n, (double)elapsed / 1e9);

    async_http_client_close(&client);
    async_io_exit(&io);
    free(requests);
    free(futs);
    free(links);
    return failed ? 1 : 0;
}
