/* bench_client [options] URL CONNECTIONS TOTAL SECONDS: the library's HTTP
   client under load, the way bench/curl_multi.c and bench/aiohttp_peer.py do
   it: one client whose pool holds CONNECTIONS keep-alive connections,
   CONNECTIONS workers each fetching URL again and again until TOTAL responses
   arrived or SECONDS passed. Like the wrk and libcurl peers, it streams each
   body past (on_body counts its bytes) instead of keeping it. Prints the
   peers' RESULT line, with what the client's stats add:
     RESULT requests=N errors=E seconds=S cpu_us_per_req=C rss_kib=R
            backend=io_uring|epoll connects=K handshakes=H resumed=M lookups=L

   Options:
   --threads T (default 1): T loops on T threads, each with its own io and
     client, sharing nothing; CONNECTIONS and TOTAL are split between them as
     wrk splits -c between its -t threads, and the RESULT line sums them (CPU
     per request is the process's, over every thread).
   --backend epoll|io_uring: force that backend (async_io_config.backend;
     init fails rather than fall back). Default: the library's choice.
   --tls-ca FILE: trust FILE's CA for https:// URLs (the client's ca_file);
     the certificate and host name are still verified.
   --close: every request says "Connection: close", so every request opens
     (and, for https, handshakes) a connection of its own; handshakes and
     resumed in the RESULT line are the client's stats.
   --names N --lookup-ms M: N distinct host names (h0.bench.test ...), all
     resolving to 127.0.0.1 through a resolver callback that sleeps M ms on
     the worker pool; URL's host is replaced by each name in turn (its port
     and path kept) and the N requests start at once, one each, on a new
     loop, io and client (cold cache, empty pool). TOTAL and SECONDS are
     ignored. --rounds R (default 1) does that R times; seconds= is the
     median round's wall time and requests= one round's count (so req/s is
     N / that time), cpu_us_per_req the process's CPU over every request.
   --workers W: the io's worker pool (async_io_config.max_workers; 0, the
     default, is the library's default). */
#define _POSIX_C_SOURCE 200809L
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define NAMES_SUFFIX ".bench.test"

static struct {
    int backend;
    const char *ca_file;
    int close;
    long names, lookup_ms, rounds;
    unsigned workers;
} opt;

static const char *const close_headers[] = {"Connection: close", NULL};

/* One thread's share (or, with --names, one round). */
typedef struct shared {
    async_http_client *client;
    const char *url;
    long connections, started, done, errors, total;
    unsigned long long body_bytes;
    double seconds;     /* the time limit */
    double wall;        /* --names: the round's wall time */
    async_time deadline;
    int failed;         /* the io or the client could not be set up */
    int said;           /* the first failed request was told on stderr */
    const char *backend;
    async_http_client_stats stats;
    pthread_t thread;
} shared;

typedef struct worker {
    async_task task;
    async_http_request req;
    async_http_request_desc desc;
    shared *s;
    char *url; /* --names: this worker's own */
} worker;

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_body(async_http_request *req, const char *data, size_t len) {
    (void)data;
    ((shared *)req->user)->body_bytes += len;
    return 0;
}

/* The resolver of --names: a lookup that takes lookup_ms on its worker thread
   and finds 127.0.0.1 for our names (and nothing for any other). */
static int slow_resolver(void *user, const char *name, struct sockaddr_storage *addrs, size_t max, size_t *count) {
    long ms = *(const long *)user;
    struct timespec ts;
    size_t n = strlen(name), sfx = strlen(NAMES_SUFFIX);
    struct sockaddr_in *a = (struct sockaddr_in *)(void *)&addrs[0];
    if (n <= sfx || strcmp(name + n - sfx, NAMES_SUFFIX) != 0 || max < 1) return ASYNC_HTTP_ENAME;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    memset(&addrs[0], 0, sizeof addrs[0]);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *count = 1;
    return 0;
}

static void settle(shared *s, async_http_request *req) {
    if (async_error(&req->task.future) || req->response.status != 200) {
        if (!s->said++)
            fprintf(stderr, "bench_client: first failed request: %s (status %d)\n", async_http_request_error(req),
                    req->response.status);
        s->errors++;
    } else {
        s->done++;
    }
    async_http_request_release(req);
}

/* Keep-alive (or --close) load: fetch until the count or the time is up. */
static int worker_run(async_task *t) {
    worker *w = (worker *)t;
    shared *s = w->s;
    ASYNC_BEGIN(t);
    while (s->started < s->total && async_now(t->loop) < s->deadline) {
        s->started++;
        ASYNC_AWAIT(t, async_http_start(s->client, &w->req, &w->desc));
        settle(s, &w->req);
    }
    ASYNC_END(t);
}

/* --names: one request to this worker's own host name. */
static int names_run(async_task *t) {
    worker *w = (worker *)t;
    ASYNC_BEGIN(t);
    w->s->started++;
    ASYNC_AWAIT(t, async_http_start(w->s->client, &w->req, &w->desc));
    settle(w->s, &w->req);
    ASYNC_END(t);
}

/* URL with its host replaced by hI.bench.test (scheme, port, path kept). */
static char *named_url(const char *url, long i) {
    const char *host = strstr(url, "://"), *rest;
    char *out;
    size_t len;
    if (!host) return NULL;
    host += 3;
    rest = *host == '[' ? strchr(host, ']') : host;
    if (!rest) return NULL;
    rest += strcspn(rest, ":/?");
    len = (size_t)(host - url) + 32 + strlen(rest);
    out = malloc(len);
    if (out) snprintf(out, len, "%.*sh%ld%s%s", (int)(host - url), url, i, NAMES_SUFFIX, rest);
    return out;
}

static void *run_share(void *arg) {
    shared *s = (shared *)arg;
    async_loop loop;
    async_io io;
    async_io_config io_cfg;
    async_http_client client;
    async_http_client_config cfg;
    worker *workers;
    async_future **futs;
    async_link *links;
    async_gather_op g;
    double t0;
    long i, n = opt.names ? opt.names : s->connections;
    async_loop_init(&loop, NULL);
    memset(&io_cfg, 0, sizeof io_cfg);
    io_cfg.backend = opt.backend;
    io_cfg.max_workers = opt.workers;
    if (async_io_init(&io, &loop, &io_cfg)) {
        fprintf(stderr, "bench_client: %s\n", async_io_error(&io));
        s->failed = 1;
        return NULL;
    }
    s->backend = async_io_backend_name(&io);
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = (size_t)(s->connections > n ? s->connections : n);
    cfg.ca_file = opt.ca_file;
    if (opt.names) {
        cfg.resolver = slow_resolver;
        cfg.resolver_user = &opt.lookup_ms;
    }
    if (async_http_client_init(&client, &io, &cfg)) {
        fprintf(stderr, "bench_client: the client could not be set up\n");
        s->failed = 1;
        async_io_exit(&io);
        return NULL;
    }
    s->client = &client;
    workers = calloc((size_t)n, sizeof *workers);
    futs = calloc((size_t)n, sizeof *futs);
    links = calloc((size_t)n, sizeof *links);
    if (!workers || !futs || !links) {
        fprintf(stderr, "bench_client: out of memory\n");
        exit(1);
    }
    for (i = 0; i < n; i++) {
        worker *w = &workers[i];
        w->s = s;
        w->url = opt.names ? named_url(s->url, i) : NULL;
        if (opt.names && !w->url) {
            fprintf(stderr, "bench_client: cannot put a name in %s\n", s->url);
            exit(2);
        }
        w->desc.url = w->url ? w->url : s->url;
        w->desc.headers = opt.close ? close_headers : NULL;
        w->desc.on_body = count_body;
        w->desc.user = s;
    }
    t0 = seconds_now();
    s->deadline = async_now(&loop) + (async_time)(s->seconds * 1e9);
    for (i = 0; i < n; i++) futs[i] = async_create_task(&loop, &workers[i].task, opt.names ? names_run : worker_run);
    async_run(&loop, async_gather(&g, futs, links, (size_t)n, 1));
    s->wall = seconds_now() - t0;
    async_http_client_get_stats(&client, &s->stats);
    async_http_client_close(&client);
    async_io_exit(&io);
    for (i = 0; i < n; i++) free(workers[i].url);
    free(workers), free(futs), free(links);
    return NULL;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int usage(void) {
    fprintf(stderr, "usage: bench_client [--threads T] [--backend epoll|io_uring] [--tls-ca FILE] [--close]\n"
                    "                    [--names N --lookup-ms M [--rounds R]] [--workers W]\n"
                    "                    URL CONNECTIONS TOTAL SECONDS (T <= CONNECTIONS)\n");
    return 2;
}

int main(int argc, char **argv) {
    shared *shares;
    struct rusage ru;
    long t, threads = 1, n, total, done = 0, errors = 0, nshares;
    unsigned long long connects = 0, handshakes = 0, resumed = 0, lookups = 0;
    double secs, cpu_us, start, *walls = NULL;
    const char *backend = "none";
    int failed = 0;
    opt.rounds = 1;
    while (argc > 1 && strncmp(argv[1], "--", 2) == 0) {
        const char *o = argv[1], *v = argc > 2 ? argv[2] : NULL;
        int flag = !strcmp(o, "--close");
        if (!flag && !v) return usage();
        if (flag) opt.close = 1;
        else if (!strcmp(o, "--threads")) threads = atol(v);
        else if (!strcmp(o, "--backend") && !strcmp(v, "epoll")) opt.backend = ASYNC_IO_BACKEND_EPOLL;
        else if (!strcmp(o, "--backend") && !strcmp(v, "io_uring")) opt.backend = ASYNC_IO_BACKEND_URING;
        else if (!strcmp(o, "--tls-ca")) opt.ca_file = v;
        else if (!strcmp(o, "--names")) opt.names = atol(v);
        else if (!strcmp(o, "--lookup-ms")) opt.lookup_ms = atol(v);
        else if (!strcmp(o, "--rounds")) opt.rounds = atol(v);
        else if (!strcmp(o, "--workers")) opt.workers = (unsigned)atol(v);
        else return usage();
        argv += flag ? 1 : 2;
        argc -= flag ? 1 : 2;
    }
    if (argc != 5 || (n = atol(argv[2])) < 1 || threads < 1 || threads > n || opt.names < 0 || opt.lookup_ms < 0 ||
        opt.rounds < 1 || (opt.names && threads != 1))
        return usage();
    total = atol(argv[3]);
    nshares = opt.names ? opt.rounds : threads;
    shares = calloc((size_t)nshares, sizeof *shares);
    walls = calloc((size_t)nshares, sizeof *walls);
    for (t = 0; t < nshares; t++) {
        shares[t].url = argv[1];
        shares[t].connections = opt.names ? n : n / threads + (t < n % threads);
        shares[t].total = opt.names ? opt.names : total / threads + (t < total % threads);
        shares[t].seconds = opt.names ? 1e6 : atof(argv[4]);
    }
    start = seconds_now();
    if (nshares == 1 || opt.names) {
        for (t = 0; t < nshares && !shares[t].failed; t++) run_share(&shares[t]);
    } else {
        for (t = 0; t < threads; t++) pthread_create(&shares[t].thread, NULL, run_share, &shares[t]);
        for (t = 0; t < threads; t++) pthread_join(shares[t].thread, NULL);
    }
    secs = seconds_now() - start;
    for (t = 0; t < nshares; t++) {
        done += shares[t].done;
        errors += shares[t].errors;
        failed |= shares[t].failed;
        connects += shares[t].stats.connects;
        handshakes += shares[t].stats.tls_handshakes;
        resumed += shares[t].stats.tls_resumed;
        lookups += shares[t].stats.lookups;
        walls[t] = shares[t].wall;
        if (shares[t].backend) backend = shares[t].backend;
    }
    if (failed) return 1;
    getrusage(RUSAGE_SELF, &ru);
    cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    if (opt.names) {
        /* One round's figures: the median round's time for one round's requests. */
        qsort(walls, (size_t)nshares, sizeof *walls, by_value);
        secs = walls[(nshares - 1) / 2];
        fprintf(stderr, "bench_client: %ld rounds of %ld names, %ld ms lookups: fastest %.1f ms, median %.1f ms, slowest %.1f ms\n",
                nshares, opt.names, opt.lookup_ms, walls[0] * 1e3, secs * 1e3, walls[nshares - 1] * 1e3);
    }
    printf("RESULT requests=%ld errors=%ld seconds=%.6f cpu_us_per_req=%.2f rss_kib=%ld backend=%s connects=%llu "
           "handshakes=%llu resumed=%llu lookups=%llu\n",
           opt.names ? done / nshares : done, errors, secs, done ? cpu_us / (double)done : 0.0, ru.ru_maxrss, backend,
           connects, handshakes, resumed, lookups);
    free(shares);
    free(walls);
    return errors ? 1 : 0;
}
