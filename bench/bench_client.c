/* bench_client [--threads T] URL CONNECTIONS TOTAL SECONDS: the library's HTTP
   client under load, the way bench/curl_multi.c and bench/aiohttp_peer.py do
   it: one client whose pool holds CONNECTIONS keep-alive connections,
   CONNECTIONS workers each fetching URL again and again until TOTAL responses
   arrived or SECONDS passed. Like the wrk and libcurl peers, it streams each
   body past (on_body counts its bytes) instead of keeping it. Prints the
   peers' RESULT line.

   --threads T (default 1): T loops on T threads, each with its own io and
   client, sharing nothing; CONNECTIONS and TOTAL are split between them as
   wrk splits -c between its -t threads, and the RESULT line sums them (CPU
   per request is the process's, over every thread). */
#define _POSIX_C_SOURCE 200809L
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

/* One thread's share. */
typedef struct shared {
    async_http_client *client;
    const char *url;
    long connections, started, done, errors, total;
    unsigned long long body_bytes;
    double seconds;
    async_time deadline;
    int failed; /* the io or the client could not be set up */
    pthread_t thread;
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

static void *run_share(void *arg) {
    shared *s = (shared *)arg;
    async_loop loop;
    async_io io;
    async_http_client client;
    async_http_client_config cfg;
    worker *workers;
    async_future **futs;
    async_link *links;
    async_gather_op g;
    async_time start;
    long i, n = s->connections;
    async_loop_init(&loop, NULL);
    if (async_io_init(&io, &loop, NULL)) {
        fprintf(stderr, "bench_client: %s\n", async_io_error(&io));
        s->failed = 1;
        return NULL;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = (size_t)n;
    if (async_http_client_init(&client, &io, &cfg)) {
        s->failed = 1;
        async_io_exit(&io);
        return NULL;
    }
    s->client = &client;
    workers = calloc((size_t)n, sizeof *workers);
    futs = calloc((size_t)n, sizeof *futs);
    links = calloc((size_t)n, sizeof *links);
    start = async_now(&loop);
    s->deadline = start + (async_time)(s->seconds * 1e9);
    for (i = 0; i < n; i++) {
        workers[i].s = s;
        futs[i] = async_create_task(&loop, &workers[i].task, worker_run);
    }
    async_run(&loop, async_gather(&g, futs, links, (size_t)n, 1));
    async_http_client_close(&client);
    async_io_exit(&io);
    free(workers), free(futs), free(links);
    return NULL;
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    shared *shares;
    struct rusage ru;
    long t, threads = 1, n, total, done = 0, errors = 0;
    double secs, cpu_us, start;
    int failed = 0;
    if (argc >= 3 && strcmp(argv[1], "--threads") == 0) {
        threads = atol(argv[2]);
        argv += 2;
        argc -= 2;
    }
    if (argc != 5 || (n = atol(argv[2])) < 1 || threads < 1 || threads > n) {
        fprintf(stderr, "usage: bench_client [--threads T] URL CONNECTIONS TOTAL SECONDS (T <= CONNECTIONS)\n");
        return 2;
    }
    total = atol(argv[3]);
    shares = calloc((size_t)threads, sizeof *shares);
    for (t = 0; t < threads; t++) {
        shares[t].url = argv[1];
        shares[t].connections = n / threads + (t < n % threads);
        shares[t].total = total / threads + (t < total % threads);
        shares[t].seconds = atof(argv[4]);
    }
    start = seconds_now();
    if (threads == 1) {
        run_share(&shares[0]);
    } else {
        for (t = 0; t < threads; t++) pthread_create(&shares[t].thread, NULL, run_share, &shares[t]);
        for (t = 0; t < threads; t++) pthread_join(shares[t].thread, NULL);
    }
    secs = seconds_now() - start;
    for (t = 0; t < threads; t++) {
        done += shares[t].done;
        errors += shares[t].errors;
        failed |= shares[t].failed;
    }
    free(shares);
    if (failed) return 1;
    getrusage(RUSAGE_SELF, &ru);
    cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    printf("RESULT requests=%ld errors=%ld seconds=%.3f cpu_us_per_req=%.2f rss_kib=%ld\n", done, errors, secs,
           done ? cpu_us / (double)done : 0.0, ru.ru_maxrss);
    return errors ? 1 : 0;
}
