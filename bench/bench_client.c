/* bench_client URL CONNECTIONS TOTAL SECONDS: the library's HTTP client under
   load, the way bench/curl_multi.c and bench/aiohttp_peer.py do it: one
   client whose pool holds CONNECTIONS keep-alive connections, CONNECTIONS
   workers each fetching URL again and again until TOTAL responses arrived
   or SECONDS passed. Like the wrk and libcurl peers, it streams each body
   past (on_body counts its bytes) instead of keeping it. Prints the peers'
   RESULT line. */
#define _POSIX_C_SOURCE 200809L
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

typedef struct shared {
    async_http_client *client;
    const char *url;
    long started, done, errors, total;
    unsigned long long body_bytes;
    async_time deadline;
} shared;

typedef struct worker {
    async_task task;
    async_http_request req;
    shared *s;
} worker;

static int count_body(async_http_request *req, const char *data, size_t len) {
    (void)data;
    ((shared *)req->user)->body_bytes += len;
    return 0;
}

static int worker_run(async_task *t) {
    worker *w = (worker *)t;
    shared *s = w->s;
    ASYNC_BEGIN(t);
    w->req.on_body = count_body;
    w->req.user = s;
    while (s->started < s->total && async_now(t->loop) < s->deadline) {
        s->started++;
        ASYNC_AWAIT(t, async_http_get(s->client, &w->req, s->url));
        if (async_error(&w->req.task.future) || w->req.response.status != 200) s->errors++;
        else s->done++;
        async_http_request_release(&w->req);
    }
    ASYNC_END(t);
}

int main(int argc, char **argv) {
    async_loop loop;
    async_io io;
    async_http_client client;
    async_http_client_config cfg;
    shared s;
    worker *workers;
    async_future **futs;
    async_link *links;
    async_gather_op g;
    struct rusage ru;
    async_time start;
    long i, n;
    double secs, cpu_us;
    if (argc != 5 || (n = atol(argv[2])) < 1) {
        fprintf(stderr, "usage: bench_client URL CONNECTIONS TOTAL SECONDS\n");
        return 2;
    }
    async_loop_init(&loop, NULL);
    if (async_io_init(&io, &loop, NULL)) {
        fprintf(stderr, "bench_client: %s\n", async_io_error(&io));
        return 1;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = (size_t)n;
    if (async_http_client_init(&client, &io, &cfg)) return 1;
    memset(&s, 0, sizeof s);
    s.client = &client;
    s.url = argv[1];
    s.total = atol(argv[3]);
    workers = calloc((size_t)n, sizeof *workers);
    futs = calloc((size_t)n, sizeof *futs);
    links = calloc((size_t)n, sizeof *links);
    start = async_now(&loop);
    s.deadline = start + (async_time)(atof(argv[4]) * 1e9);
    for (i = 0; i < n; i++) {
        workers[i].s = &s;
        futs[i] = async_create_task(&loop, &workers[i].task, worker_run);
    }
    async_run(&loop, async_gather(&g, futs, links, (size_t)n, 1));
    secs = (double)(async_now(&loop) - start) / 1e9;
    getrusage(RUSAGE_SELF, &ru);
    cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    printf("RESULT requests=%ld errors=%ld seconds=%.3f cpu_us_per_req=%.2f rss_kib=%ld\n", s.done, s.errors, secs,
           s.done ? cpu_us / (double)s.done : 0.0, ru.ru_maxrss);
    async_http_client_close(&client);
    async_io_exit(&io);
    free(workers), free(futs), free(links);
    return s.errors ? 1 : 0;
}
