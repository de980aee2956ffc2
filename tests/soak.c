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

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers */

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;
}

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

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static long env_long(const char *name, long dflt) {
    const char *s = getenv(name);
    return s && *s ? atol(s) : dflt;
}

static int free_port(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a)) {
        perror("bind");
        exit(2);
    }
    getsockname(fd, (struct sockaddr *)&a, &len);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int wait_for_port(int port) {
    int i;
    for (i = 0; i < 300; i++) {
        struct sockaddr_in a;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) return 1;
        msleep(20);
    }
    return 0;
}

/* ---- nginx */

static char root[256];
static pid_t nginx_pid;
static int nginx_port;
static const char body[] = "{\"name\": \"Luke Skywalker\", \"height\": \"172\", \"mass\": \"77\"}\n";

static int start_nginx(void) {
    char conf[4096], path[512];
    FILE *f;
    snprintf(root, sizeof root, "/tmp/async_soak_XXXXXX");
    if (!mkdtemp(root)) return 0;
    snprintf(path, sizeof path, "%s/people.json", root);
    f = fopen(path, "wb");
    fwrite(body, 1, sizeof body - 1, f);
    fclose(f);
    nginx_port = free_port();
    snprintf(conf, sizeof conf,
             "daemon off; worker_processes 1; pid %s/nginx.pid; error_log %s/error.log crit;\n"
             "events { worker_connections 4096; }\n"
             "http { access_log off; keepalive_requests 100000000; keepalive_timeout 600s;\n"
             "  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;\n"
             "  uwsgi_temp_path %s; scgi_temp_path %s;\n"
             "  types { application/json json; }\n"
             "  server { listen 127.0.0.1:%d backlog=4096; root %s; }\n}\n",
             root, root, root, root, root, root, root, nginx_port, root);
    snprintf(path, sizeof path, "%s/nginx.conf", root);
    f = fopen(path, "w");
    fputs(conf, f);
    fclose(f);
    nginx_pid = fork();
    if (nginx_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execlp("nginx", "nginx", "-p", root, "-c", path, (char *)NULL);
        _exit(127);
    }
    return nginx_pid > 0 && wait_for_port(nginx_port);
}

static void stop_nginx(void) {
    char cmd[300];
    if (nginx_pid > 0) {
        kill(nginx_pid, SIGTERM);
        waitpid(nginx_pid, NULL, 0);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
}

/* ---- the soak */

typedef struct sample {
    const char *when;
    long done, rss, peak;
    int fds;
    double t;
} sample;

static struct {
    async_loop loop;
    async_io io;
    async_http_client client;
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
    s->t = now_s();
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
        async_http_get(&soak.client, &w->req, soak.url);
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

typedef struct runner {
    async_task task;
    worker *workers;
    async_future **futs;
    async_link *links;
    async_gather_op g;
    int n;
} runner;

static int runner_run(async_task *t) {
    runner *r = (runner *)t;
    int i;
    ASYNC_BEGIN(t);
    for (i = 0; i < r->n; i++) r->futs[i] = async_create_task(t->loop, &r->workers[i].task, worker_run);
    ASYNC_AWAIT(t, async_gather(&r->g, r->futs, r->links, (size_t)r->n, 1));
    ASYNC_END(t);
}

int main(void) {
    runner run;
    async_http_client_config cfg;
    double t0, t1;
    int fds0, fds_after, i, failed = 0, concurrency;
    long unexpected = 0, rss_growth, peak_growth;
    size_t slot, busy_slots = 0;
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
        stop_nginx();
        return 2;
    }
    snprintf(soak.url, sizeof soak.url, "http://127.0.0.1:%d/people.json", nginx_port);
    fds0 = count_fds();

    async_loop_init(&soak.loop, NULL);
    if (async_io_init(&soak.io, &soak.loop, NULL)) {
        fprintf(stderr, "io_uring: %s\n", async_io_error(&soak.io));
        stop_nginx();
        return 2;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = 100;
    async_http_client_init(&soak.client, &soak.io, &cfg);

    memset(&run, 0, sizeof run);
    run.n = concurrency;
    run.workers = (worker *)calloc((size_t)concurrency, sizeof *run.workers);
    run.futs = (async_future **)calloc((size_t)concurrency, sizeof *run.futs);
    run.links = (async_link *)calloc((size_t)concurrency, sizeof *run.links);
    soak.next_sample = soak.total / 100; /* "start": once the pool is warm */

    printf("soak: %ld requests, %d at a time, to %s (nginx, keep-alive)\n", soak.total, concurrency, soak.url);
    fflush(stdout);
    t0 = now_s();
    async_create_task(&soak.loop, &run.task, runner_run);
    async_run(&soak.loop, &run.task.future);
    t1 = now_s();

    /* Nothing lent out, nothing in flight; then close and count the fds. */
    for (slot = 0; slot < soak.client.config.limit; slot++)
        busy_slots += soak.client.conns[slot].state == ASYNC_HTTP__BUSY;
    inflight = soak.io.inflight;
    async_http_client_close(&soak.client);
    soak.loop.poll(soak.loop.backend, 0); /* detached closes */
    async_io_exit(&soak.io);
    fds_after = count_fds();

    printf("soak: %ld requests in %.1f s: %.0f requests/s; %llu connections opened\n", soak.done, t1 - t0,
           (double)soak.done / (t1 - t0), (unsigned long long)soak.client.connects);
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
    printf("  fds: %d before the ring and the client, %d after they closed; busy slots at the end %zu, "
           "in flight %u\n", fds0, fds_after, busy_slots, inflight);

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
           any time there are at most `limit` of them, and the ring. */
        for (i = 0; i < 3; i++)
            if (soak.samples[i].fds > fds0 + 1 + (int)cfg.limit) {
                printf("FAIL: %d fds open at the %s, more than the pool's %zu and the ring\n",
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
    stop_nginx();
    free(run.workers);
    free(run.futs);
    free(run.links);
    printf("soak: %s\n", failed ? "FAILED" : "passed");
    return failed;
}
