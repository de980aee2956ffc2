/* soak.c - a million keep-alive requests through one client against nginx on loopback, with
 * random cancellations (1 %) and random per-request timeouts (request.timeout; one request in
 * ten gets a tight one that may fire). Prints requests/s, the outcomes by kind, and RSS, peak
 * RSS and open fds at the start (after warm-up), the middle and the end; fails (exit 1) if
 * they grow, if any request ends in an error other than a cancellation or its timeout, if a
 * response is wrong, or if an fd is left once the client is closed.
 *
 *   make soak                          SOAK_REQUESTS=1000000 by default
 *   SOAK_REQUESTS=20000 build/soak     a short run
 *   environment: SOAK_REQUESTS, SOAK_CONCURRENCY (100), SOAK_SEED (1)
 *
 * nginx runs from a config of our own in a temp dir, on a free port of 127.0.0.1. */
#define _GNU_SOURCE
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"
#include "net.h"

/* ---- helpers */

/* VmRSS and VmHWM (peak) in KiB. */
static void memory(long *rss, long *peak) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    *rss = *peak = -1;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) *rss = atol(line + 6);
        if (!strncmp(line, "VmHWM:", 6)) *peak = atol(line + 6);
    }
    fclose(f);
}

static long env_long(const char *name, long dflt) {
    const char *s = getenv(name);
    return s && *s ? atol(s) : dflt;
}

/* ---- nginx */

static fixture served; /* nginx, and the temp dir of the files it serves */
static int nginx_port;
static const char body[] = "{\"name\": \"Luke Skywalker\", \"height\": \"172\", \"mass\": \"77\"}\n";

static int start_nginx(void) {
    static const nginx_options o = {.error_log = "crit", .worker_connections = 4096,
                                    .http = "keepalive_requests 100000000; keepalive_timeout 600s;\n"
                                            "  types { application/json json; }",
                                    .listen = "backlog=4096"};
    if (!fixture_init(&served, "async_soak")) return 0;
    fixture_write(&served, "people.json", body, sizeof body - 1);
    nginx_port = fixture_nginx(&served, &o);
    return nginx_port && wait_for_port(nginx_port);
}

/* ---- the soak */

typedef struct sample {
    const char *when;
    long done, rss, peak;
    int fds;
    double t;
} sample;

static struct {
    env e; /* one loop, one ring, one client */
    char url[96];
    long total, started, done;
    uint64_t rng;
    /* outcomes */
    long ok, wrong, cancelled, timeout_total, cancels_asked, tight_timeouts;
    int codes[32];
    long code_counts[32];
    int ncodes;
    sample samples[3];
    int nsamples;
    long next_sample;
} soak;

static uint64_t rnd(void) { /* xorshift64* */
    soak.rng ^= soak.rng >> 12;
    soak.rng ^= soak.rng << 25;
    soak.rng ^= soak.rng >> 27;
    return soak.rng * 2685821657736338717ull;
}

static void count_code(int code) {
    int i;
    for (i = 0; i < soak.ncodes; i++)
        if (soak.codes[i] == code) break;
    if (i == soak.ncodes) {
        if (soak.ncodes == 32) return;
        soak.codes[soak.ncodes++] = code;
    }
    soak.code_counts[i]++;
}

static void take_sample(const char *when) {
    sample *s = &soak.samples[soak.nsamples++];
    s->when = when;
    s->done = soak.done;
    s->fds = count_fds();
    s->t = now_ms() / 1e3;
    memory(&s->rss, &s->peak);
}

typedef struct worker {
    async_task task;
    async_http_request req;
    async_wait_for_op wf;
    int cancel;
} worker;

static int worker_run(async_task *t) {
    worker *w = (worker *)t;
    ASYNC_BEGIN(t);
    while (soak.started < soak.total) {
        soak.started++;
        memset(&w->req, 0, sizeof w->req);
        /* A timeout for every request: most are generous, one in ten is tight (50 us - 2 ms). */
        if (rnd() % 10 == 0) {
            w->req.timeout = ASYNC_US(50 + (long)(rnd() % 1950));
            soak.tight_timeouts++;
        } else {
            w->req.timeout = ASYNC_MS(500 + (long)(rnd() % 1500));
        }
        w->cancel = rnd() % 100 == 0;
        async_http_get(&soak.e.client, &w->req, soak.url);
        if (w->cancel) {
            /* cancelled after 0 - 2 ms, unless it is done by then */
            soak.cancels_asked++;
            ASYNC_AWAIT(t, async_wait_for(t->loop, &w->wf, &w->req.task.future,
                                          ASYNC_US((long)(rnd() % 2000))));
        } else {
            ASYNC_AWAIT(t, &w->req.task.future);
        }
        {
            async_http_request *r = &w->req;
            int err = async_error(&r->task.future);
            if (err == 0) {
                if (r->response.status == 200 && r->response.body_len == sizeof body - 1 &&
                    memcmp(r->response.body, body, sizeof body - 1) == 0)
                    soak.ok++;
                else
                    soak.wrong++;
            } else if (err == ASYNC_ECANCELED) {
                soak.cancelled++;
            } else if (err == ASYNC_HTTP_ETIMEOUT_TOTAL) {
                soak.timeout_total++;
            } else {
                count_code(err);
            }
            async_http_request_release(r);
        }
        soak.done++;
        if (soak.done == soak.next_sample) {
            take_sample(soak.nsamples == 0 ? "start" : soak.nsamples == 1 ? "middle" : "end");
            soak.next_sample = soak.nsamples == 1 ? soak.total / 2 : soak.total;
        }
    }
    ASYNC_END(t);
}

static async_future *start_worker(void *user, int i) {
    worker *workers = (worker *)user;
    return async_create_task(&soak.e.loop, &workers[i].task, worker_run);
}

int main(void) {
    worker *workers;
    async_http_client_config cfg;
    double t0, t1;
    const char *backend;
    int fds0, fds_backend, fds_after, i, failed = 0, concurrency;
    long unexpected = 0, rss_growth, peak_growth;
    size_t busy_slots = 0;
    unsigned long long connects;
    unsigned inflight;

    signal(SIGPIPE, SIG_IGN);
    soak.total = env_long("SOAK_REQUESTS", 1000000);
    concurrency = (int)env_long("SOAK_CONCURRENCY", 100);
    soak.rng = (uint64_t)env_long("SOAK_SEED", 1) * 0x9E3779B97F4A7C15ull + 1;
    if (soak.total < 1000 || concurrency < 1) {
        fprintf(stderr, "SOAK_REQUESTS must be at least 1000, SOAK_CONCURRENCY at least 1\n");
        return 2;
    }
    if (!start_nginx()) {
        fprintf(stderr, "soak: could not start nginx (apt-get install nginx-light)\n");
        fixture_stop(&served);
        return 2;
    }
    snprintf(soak.url, sizeof soak.url, "http://127.0.0.1:%d/people.json", nginx_port);
    fds0 = count_fds();

    memset(&cfg, 0, sizeof cfg);
    cfg.limit = 100;
    if (env_init(&soak.e, &cfg)) {
        fixture_stop(&served);
        return 2;
    }
    backend = async_io_backend_name(&soak.e.io);
    fds_backend = count_fds() - fds0; /* io_uring: the ring; epoll: its fd and the wake-up's eventfd */

    workers = (worker *)calloc((size_t)concurrency, sizeof *workers);
    soak.next_sample = soak.total / 100; /* "start": once the pool is warm */

    printf("soak: %ld requests, %d at a time, to %s (nginx, keep-alive)\n", soak.total, concurrency, soak.url);
    fflush(stdout);
    t0 = now_ms() / 1e3;
    run_gathered(&soak.e.loop, concurrency, start_worker, workers);
    t1 = now_ms() / 1e3;

    /* Nothing lent out, nothing in flight; then close and count the fds. */
    busy_slots = !client_settled(&soak.e.client);
    connects = (unsigned long long)client_connects(&soak.e.client);
    inflight = soak.e.io.inflight;
    env_close(&soak.e);
    fds_after = count_fds();

    printf("soak: %ld requests in %.1f s: %.0f requests/s; %llu connections opened\n", soak.done, t1 - t0,
           (double)soak.done / (t1 - t0), connects);
    printf("  ok %ld, cancelled %ld (of %ld cancels asked), total timeout %ld (%ld tight timeouts set), "
           "wrong response %ld\n",
           soak.ok, soak.cancelled, soak.cancels_asked, soak.timeout_total, soak.tight_timeouts, soak.wrong);
    for (i = 0; i < soak.ncodes; i++) {
        printf("  unexpected error %d (%s): %ld\n", soak.codes[i], async_strerror(soak.codes[i]),
               soak.code_counts[i]);
        unexpected += soak.code_counts[i];
    }
    printf("  %-7s %10s %10s %12s %6s\n", "when", "requests", "rss KiB", "peak KiB", "fds");
    for (i = 0; i < soak.nsamples; i++)
        printf("  %-7s %10ld %10ld %12ld %6d\n", soak.samples[i].when, soak.samples[i].done, soak.samples[i].rss,
               soak.samples[i].peak, soak.samples[i].fds);
    printf("  fds: %d before the backend (%s, %d of its own) and the client, %d after they closed; busy slots at "
           "the end %zu, in flight %u\n", fds0, backend, fds_backend, fds_after, busy_slots, inflight);

    if (soak.nsamples != 3) {
        printf("FAIL: %d samples taken\n", soak.nsamples);
        failed = 1;
    } else {
        rss_growth = soak.samples[2].rss - soak.samples[0].rss;
        peak_growth = soak.samples[2].peak - soak.samples[0].peak;
        /* a little allocator slack; a leak of even 16 bytes a request would be megabytes */
        if (rss_growth > 2048 || peak_growth > 2048) {
            printf("FAIL: memory grew: rss %+ld KiB, peak %+ld KiB from start to end\n", rss_growth, peak_growth);
            failed = 1;
        }
        /* The pool's connections come and go (a timeout or a cancellation closes one): at
           any time there are at most `limit` of them, and the backend's own. */
        for (i = 0; i < 3; i++)
            if (soak.samples[i].fds > fds0 + fds_backend + (int)cfg.limit) {
                printf("FAIL: %d fds open at the %s, more than the pool's %zu and the backend's\n",
                       soak.samples[i].fds, soak.samples[i].when, cfg.limit);
                failed = 1;
            }
    }
    if (fds_after != fds0) {
        printf("FAIL: %d fds left after the client closed\n", fds_after - fds0);
        failed = 1;
    }
    if (unexpected || soak.wrong || busy_slots || inflight || soak.done != soak.total ||
        soak.ok + soak.cancelled + soak.timeout_total != soak.total) {
        printf("FAIL: unexpected outcomes\n");
        failed = 1;
    }
    if (soak.ok < soak.total / 2 || soak.cancelled == 0 || soak.timeout_total == 0) {
        printf("FAIL: the mix is off (too few successes, or no cancellation or timeout happened)\n");
        failed = 1;
    }
    fixture_stop(&served);
    free(workers);
    printf("soak: %s\n", failed ? "FAILED" : "passed");
    return failed;
}
