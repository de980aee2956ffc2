/* test_faults.c - fault injection: the io_uring completions of connects, sends and recvs
 * fail at a chosen rate with a chosen error (ECONNRESET, EPIPE, ETIMEDOUT, ENOBUFS), and
 * sends and recvs come up short, under a seeded generator (async_http.h's
 * ASYNC_IO_FAULT_LENGTH / ASYNC_IO_FAULT_RESULT hooks, compiled into this test only).
 * 10,000 requests go through one client, 100 at a time, to nginx on loopback (started by the
 * test, own config in a temp dir, a free port) with 10 % of the operations failing. Every
 * request must end with the right response or a clear error; afterwards no connection is
 * lent out, nothing is in flight, every byte the client allocated is freed, no fd is left
 * open, and with the faults off the same client serves 100 more requests without a failure.
 * Also: a request cancelled at every step of its life lets go of everything.
 *
 * FAULT_SEED in the environment picks another seed (default 1). */
#define _GNU_SOURCE
#define ASYNC_IMPLEMENTATION
#include "../async.h"

#include <errno.h>
#include <stddef.h>

/* ---- The fault injector: the hooks call these, defined below */
static size_t fault_length(int kind, size_t len);
static int fault_result(int kind, int res);
#define ASYNC_IO_FAULT_LENGTH(kind, len) fault_length((kind), (len))
#define ASYNC_IO_FAULT_RESULT(kind, res) fault_result((kind), (res))
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async_http.h"
#include "test.h"
#include "net.h"
#include "tls.h"

/* ---- The fault injector */

static struct {
    int on;
    unsigned fail_permille;  /* completions of connect/send/recv turned into failures */
    unsigned short_permille; /* sends and recvs asked for fewer bytes */
    uint64_t rng;
    unsigned long failed[4], shortened, seen, by_kind[8];
    int connect_error;       /* set: every connect ends with it (and nothing else fails) */
} faults;

static const int fault_errors[4] = {ECONNRESET, EPIPE, ETIMEDOUT, ENOBUFS};

static uint64_t fault_next(void) { /* xorshift64* */
    faults.rng ^= faults.rng >> 12;
    faults.rng ^= faults.rng << 25;
    faults.rng ^= faults.rng >> 27;
    return faults.rng * 2685821657736338717ull;
}

/* Only sends and recvs are submitted with a length. */
static size_t fault_length(int kind, size_t len) {
    if (!faults.on || (kind != ASYNC_IO_SEND && kind != ASYNC_IO_RECV) || len <= 1) return len;
    if (fault_next() % 1000 >= faults.short_permille) return len;
    faults.shortened++;
    return 1 + (size_t)(fault_next() % (len - 1));
}

static int fault_result(int kind, int res) {
    unsigned which;
    if (faults.connect_error) return kind == ASYNC_IO_CONNECT ? -faults.connect_error : res;
    if (!faults.on || res < 0) return res; /* only successful completions are turned */
    faults.seen++;
    if (fault_next() % 1000 >= faults.fail_permille) return res;
    which = (unsigned)(fault_next() % 4);
    faults.failed[which]++;
    faults.by_kind[kind & 7]++;
    return -fault_errors[which];
}

/* ---- nginx in a temp dir */

static fixture served, served_tls; /* nginx, plain and with TLS, and the temp dirs they serve */
static int nginx_port, nginx_tls_port;
static int use_tls; /* the requests go to the TLS nginx, through https:// */
static char ca_file[512];
static char small_body[] = "hello, faults\n";
static char big_body[20000]; /* more than one recv buffer */

static int start_nginx(void) {
    static const nginx_options o = {.error_log = "crit", .worker_connections = 4096,
                                    .http = "keepalive_requests 1000000; keepalive_timeout 300s;\n"
                                            "  default_type text/plain;",
                                    .listen = "backlog=4096"};
    size_t i;
    if (!fixture_init(&served, "async_faults")) return 0;
    for (i = 0; i < sizeof big_body; i++) big_body[i] = (char)('a' + (i * 13 + i / 777) % 26);
    fixture_write(&served, "small.txt", small_body, sizeof small_body - 1);
    fixture_write(&served, "big.txt", big_body, sizeof big_body);
    nginx_port = fixture_nginx(&served, &o);
    return nginx_port && wait_for_port(nginx_port);
}

/* The same files over https, from a CA the test makes. */
static int start_nginx_tls(void) {
    static char server[1024];
    nginx_options o = {.error_log = "crit", .worker_connections = 4096,
                       .http = "keepalive_requests 1000000; keepalive_timeout 300s;\n"
                               "  default_type text/plain;",
                       .listen = "ssl backlog=4096", .server = server};
    if (!fixture_init(&served_tls, "async_faults_tls")) return 0;
    tls_make_pki(served_tls.root);
    snprintf(server, sizeof server, "ssl_certificate %s/good.pem; ssl_certificate_key %s/good.key;",
             served_tls.root, served_tls.root);
    tls_path(ca_file, sizeof ca_file, served_tls.root, "ca.pem");
    fixture_write(&served_tls, "small.txt", small_body, sizeof small_body - 1);
    fixture_write(&served_tls, "big.txt", big_body, sizeof big_body);
    nginx_tls_port = fixture_nginx(&served_tls, &o);
    return nginx_tls_port && wait_for_port(nginx_tls_port);
}

/* ---- One loop, one ring, one client (net.h), a counting allocator */

static alloc_count allocs;

static int env_open(env *e, size_t limit) {
    async_http_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = limit;
    cfg.alloc = counting_alloc;
    cfg.alloc_user = &allocs;
    cfg.timeout_sock_read = ASYNC_SEC(10); /* nothing waits that long here: a hang would show */
    if (use_tls) cfg.ca_file = ca_file;
    return env_init(e, &cfg);
}

static void pool_is_clean(env *e) {
    CHECK(client_settled(&e->client));
    CHECK_EQ(e->io.inflight, 0);
}

/* ---- A batch of requests, gathered */

#define BATCH 100

typedef struct batch {
    env *e;
    async_http_request reqs[BATCH];
    char urls[2][96];
    int n;
} batch;

static async_future *batch_start(void *user, int i) {
    batch *b = (batch *)user;
    memset(&b->reqs[i], 0, sizeof b->reqs[i]);
    return async_http_get(&b->e->client, &b->reqs[i], b->urls[i & 1]);
}

typedef struct tally {
    unsigned long ok, wrong_body, reset, network, other, not_done;
} tally;

/* Runs n requests (alternating a small and a big file), BATCH at a time. */
static void run_requests(env *e, batch *b, int n, tally *t) {
    int done = 0, i;
    memset(t, 0, sizeof *t);
    snprintf(b->urls[0], sizeof b->urls[0], "%s://127.0.0.1:%d/small.txt", use_tls ? "https" : "http",
             use_tls ? nginx_tls_port : nginx_port);
    snprintf(b->urls[1], sizeof b->urls[1], "%s://127.0.0.1:%d/big.txt", use_tls ? "https" : "http",
             use_tls ? nginx_tls_port : nginx_port);
    while (done < n) {
        b->e = e;
        b->n = n - done < BATCH ? n - done : BATCH;
        CHECK_EQ(run_gathered(&e->loop, b->n, batch_start, b), 0);
        for (i = 0; i < b->n; i++) {
            async_http_request *r = &b->reqs[i];
            int err = async_error(&r->task.future);
            const char *want = (i & 1) ? big_body : small_body;
            size_t want_len = (i & 1) ? sizeof big_body : sizeof small_body - 1;
            if (!async_done(&r->task.future)) t->not_done++;
            else if (err == 0) {
                if (r->response.status == 200 && r->response.body_len == want_len &&
                    memcmp(r->response.body, want, want_len) == 0)
                    t->ok++;
                else
                    t->wrong_body++;
            } else if (err == ASYNC_HTTP_ERESET) t->reset++;
            /* a connect the kernel failed with ETIMEDOUT is the connect timeout */
            else if (err == ASYNC_HTTP_ENETWORK || err == ASYNC_HTTP_ETIMEOUT_CONNECT) t->network++;
            else {
                t->other++;
                fprintf(stderr, "  unexpected error %d: %s\n", err, async_http_request_error(r));
            }
            if (err) CHECK(r->response.body == NULL && r->response.headers == NULL); /* released */
            async_http_request_release(r);
        }
        done += b->n;
    }
}

/* ------------------------------------------------------------------ */
/* the tests                                                           */

static void ten_thousand_with_faults(void) {
    static env e;
    static batch b;
    tally t;
    int fds = count_fds(), open_fds;
    const char *seed = getenv("FAULT_SEED");
    CHECK_EQ(env_open(&e, 100), 0);

    memset(&faults, 0, sizeof faults);
    faults.rng = seed ? strtoull(seed, NULL, 10) * 0x9E3779B97F4A7C15ull + 1 : 0x9E3779B97F4A7C15ull;
    faults.fail_permille = 100;  /* 10 % of the operations fail */
    faults.short_permille = 100; /* 10 % of the sends and recvs come short */
    faults.on = 1;
    run_requests(&e, &b, 10000, &t);
    faults.on = 0;
    open_fds = count_fds();

    printf("NOTE faults: %lu ops, %lu failed (ECONNRESET %lu, EPIPE %lu, ETIMEDOUT %lu, ENOBUFS %lu; "
           "connect %lu, send %lu, recv %lu), %lu short\n",
           faults.seen, faults.failed[0] + faults.failed[1] + faults.failed[2] + faults.failed[3],
           faults.failed[0], faults.failed[1], faults.failed[2], faults.failed[3],
           faults.by_kind[ASYNC_IO_CONNECT], faults.by_kind[ASYNC_IO_SEND], faults.by_kind[ASYNC_IO_RECV],
           faults.shortened);
    printf("NOTE 10000 %s requests: %lu ok, %lu reset, %lu network error, %lu other, %lu wrong body; "
           "%llu connections\n",
           use_tls ? "https" : "http", t.ok, t.reset, t.network, t.other, t.wrong_body,
           (unsigned long long)client_connects(&e.client));
    CHECK_EQ(t.not_done, 0);
    CHECK_EQ(t.ok + t.reset + t.network, 10000);
    CHECK_EQ(t.other, 0);
    CHECK_EQ(t.wrong_body, 0);
    /* the faults did happen, at about the rate asked for, and most requests still got through */
    CHECK(faults.seen > 15000);
    CHECK(faults.failed[0] + faults.failed[1] + faults.failed[2] + faults.failed[3] > faults.seen / 20);
    CHECK(faults.shortened > 1000);
    CHECK(t.reset > 0 && t.network > 0);
    CHECK(faults.by_kind[ASYNC_IO_CONNECT] > 0 && faults.by_kind[ASYNC_IO_SEND] > 0 &&
          faults.by_kind[ASYNC_IO_RECV] > 0);
    CHECK(t.ok > 5000);

    /* Nothing lost: no connection lent out, nothing in flight, fds within the pool's. */
    pool_is_clean(&e);
    env_flush(&e);
    CHECK(open_fds <= fds + 100 + 2);

    /* The faults off, the same client serves on. */
    run_requests(&e, &b, 100, &t);
    CHECK_EQ(t.ok, 100);
    pool_is_clean(&e);

    env_close(&e);
    CHECK_EQ(allocs.live, 0);
    CHECK_EQ(count_fds(), fds);
}

/* A request cancelled after k loop turns, for every k from its first step to its end. */
typedef struct canceller {
    async_task task;
    async_task *victim;
    int turns;
} canceller;

static int canceller_run(async_task *t) {
    canceller *c = (canceller *)t;
    ASYNC_BEGIN(t);
    while (c->turns-- > 0) ASYNC_YIELD(t);
    async_cancel(c->victim);
    ASYNC_END(t);
}

/* The fds the client holds when no request runs: one per pooled connection. */
static int client_fds(const async_http_client *c) { return (int)client_stats(c).idle; }

/* Returns how many of the runs leaked an fd. */
static int cancel_after_turns(int from, int to, int *cancelled) {
    static env e;
    char url[96];
    int k, leaks = 0, fds = count_fds(), base;
    CHECK_EQ(env_open(&e, 4), 0);
    base = count_fds(); /* the ring's included */
    snprintf(url, sizeof url, "%s://127.0.0.1:%d/big.txt", use_tls ? "https" : "http",
             use_tls ? nginx_tls_port : nginx_port);
    *cancelled = 0;
    for (k = from; k <= to; k++) {
        async_http_request r;
        canceller c;
        int err;
        memset(&r, 0, sizeof r);
        scribble_private(&r);
        memset(&c, 0, sizeof c);
        async_http_get(&e.client, &r, url);
        c.victim = &r.task;
        c.turns = k;
        async_create_task(&e.loop, &c.task, canceller_run);
        err = async_run(&e.loop, &r.task.future);
        async_run(&e.loop, &c.task.future);
        CHECK(err == 0 || err == ASYNC_ECANCELED);
        if (err == ASYNC_ECANCELED) {
            (*cancelled)++;
            CHECK(r.response.body == NULL && r.response.headers == NULL);
        }
        async_http_request_release(&r);
        pool_is_clean(&e);
        /* Every fd open is one of the pool's connections. */
        env_flush(&e);
        if (count_fds() != base + client_fds(&e.client)) {
            fprintf(stderr, "  %s after %d turns: %d fds, %d expected\n", err ? "cancelled" : "done", k,
                    count_fds(), base + client_fds(&e.client));
            leaks++;
        }
    }
    env_close(&e);
    CHECK_EQ(allocs.live, 0);
    if (count_fds() != fds) leaks++;
    return leaks;
}

/* From k = 0 (cancelled as its socket() is queued) to the response: 0 and 1 once lost
   the new socket's fd. */
TEST(cancel_at_every_step) {
    int cancelled, leaks = cancel_after_turns(0, 40, &cancelled);
    CHECK_EQ(leaks, 0);
    CHECK(cancelled >= 2); /* it did cancel some (epoll completes much at once: fewer points) */
}

TEST(ten_thousand_requests_with_faults) {
    use_tls = 0;
    ten_thousand_with_faults();
}

/* The same over TLS: short and failed ciphertext sends and receives, mid-handshake too. */
TEST(ten_thousand_https_requests_with_faults) {
    use_tls = 1;
    ten_thousand_with_faults();
    use_tls = 0;
}

/* Cancelled at every step of an https request: the handshake's and the TLS reads' included. */
TEST(cancel_https_at_every_step) {
    int cancelled, leaks;
    use_tls = 1;
    leaks = cancel_after_turns(0, 60, &cancelled);
    printf("NOTE https cancelled at %d of 61 points\n", cancelled);
    use_tls = 0;
    CHECK_EQ(leaks, 0);
    CHECK(cancelled >= 2); /* it did cancel some */
}

/* The kernel gave up on its SYNs (ETIMEDOUT) before the connect timeout: a connect timeout
   all the same, but said as the kernel's, with where it went; not "the connect timeout (30 s)
   passed", which had not. */
TEST(kernel_gives_up_connecting) {
    static env e;
    async_http_request r;
    char url[96], want[128];
    CHECK_EQ(env_open(&e, 4), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/small.txt", nginx_port);
    snprintf(want, sizeof want, "timed out connecting to 127.0.0.1 port %d: the kernel gave up (no answer to its SYNs)",
             nginx_port);
    faults.connect_error = ETIMEDOUT;
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), ASYNC_HTTP_ETIMEOUT_CONNECT);
    faults.connect_error = 0;
    CHECK_STR(async_http_request_error(&r), want);
    async_http_request_release(&r);
    env_close(&e);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    if (!start_nginx()) {
        fprintf(stderr, "FAIL: could not start nginx (apt-get install nginx-light)\n");
        fixture_stop(&served);
        test__failed++;
        return test_summary("faults");
    }
    RUN(ten_thousand_requests_with_faults);
    RUN(cancel_at_every_step);
    RUN(kernel_gives_up_connecting);
    if (!start_nginx_tls()) {
        fprintf(stderr, "FAIL: could not start nginx with TLS\n");
        test__failed++;
    } else {
        RUN(ten_thousand_https_requests_with_faults);
        RUN(cancel_https_at_every_step);
    }
    fixture_stop(&served_tls);
    fixture_stop(&served);
    return test_summary("faults");
}
