/* Integration and fault tests of async_http.h against real servers on
   loopback ephemeral ports: nginx, Python's http.server, and scripted
   servers of our own (a thread per connection, plain blocking sockets)
   that misbehave on purpose. Built with ASan+UBSan by `make test`. */
#define _GNU_SOURCE
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"
#include "test.h"
#include "net.h"

/* ------------------------------------------------------------------ */
/* the scenarios of the scripted server (net.h); play_ok is there too  */

static void play_reset_mid_body(server *s, int fd, int index) {
    (void)s, (void)index;
    if (!read_request(fd)) return;
    send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly a little");
    msleep(50);
    reset_connection(fd);
}

static void play_stall(server *s, int fd, int index) {
    (void)index;
    read_request(fd);
    while (!server_stopping(s)) msleep(10); /* silent until the test ends */
}

static void play_stall_in_body(server *s, int fd, int index) {
    (void)index;
    if (!read_request(fd)) return;
    send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstart");
    while (!server_stopping(s)) msleep(10);
}

static void play_send(server *s, int fd, int index) {
    (void)index;
    if (!read_request(fd)) return;
    send_str(fd, s->response);
    msleep(30);
}

/* answers one request keep-alive, then closes: the pooled connection
   is dead before the client next uses it. */
static void play_once_then_close(server *s, int fd, int index) {
    (void)s, (void)index;
    if (!read_request(fd)) return;
    send_str(fd, OK_RESPONSE);
    msleep(20); /* let the response go out before the FIN */
}

/* The first connection answers one request, then takes the second and
   closes without a word: the client learns only after it sent. Later
   connections answer (or, with delay_ms == -1, drop the request too). */
static void play_drop_second_request(server *s, int fd, int index) {
    if (index == 0) {
        if (!read_request(fd)) return;
        send_str(fd, OK_RESPONSE);
        read_request(fd);
        return;
    }
    if (s->delay_ms == -1) {
        read_request(fd);
        return;
    }
    play_ok(s, fd, index);
}

/* ------------------------------------------------------------------ */
/* fault tests                                                         */

TEST(test_refused) {
    env e;
    async_http_request r;
    char url[64];
    int fds = count_fds();
    CHECK_EQ(env_init(&e, NULL), 0);
    char want[64];
    int port = free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), ASYNC_HTTP_EREFUSED);
    snprintf(want, sizeof want, "connection refused: 127.0.0.1 port %d", port); /* where it went */
    CHECK_STR(async_http_request_error(&r), want);
    /* the client goes on: the same URL again gives the same clear error */
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), ASYNC_HTTP_EREFUSED);
    CHECK(client_settled(&e.client));
    env_close(&e);
    CHECK_EQ(count_fds(), fds);
}

TEST(test_reset_mid_body) {
    env e;
    server s;
    async_http_request r;
    char url[64];
    server_start(&s, play_reset_mid_body);
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), ASYNC_HTTP_ERESET);
    CHECK(client_settled(&e.client));
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&s);
}

TEST(test_read_timeout) {
    env e;
    server s;
    async_http_request r;
    async_http_client_config cfg;
    char url[64];
    async_time t0;
    server_start(&s, play_stall_in_body);
    memset(&cfg, 0, sizeof cfg);
    cfg.timeout_sock_read = ASYNC_MS(100);
    CHECK_EQ(env_init_stalling(&e, &cfg), 0);
    url_of(url, sizeof url, &s, "/");
    memset(&r, 0, sizeof r);
    t0 = async_now(&e.loop);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), ASYNC_HTTP_ETIMEOUT_READ);
    CHECK(fired_on_time(async_now(&e.loop) - t0, ASYNC_MS(100)));
    CHECK(strstr(async_http_request_error(&r), "read timeout") != NULL);
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&s);
}

TEST(test_total_timeout) {
    env e;
    server s;
    async_http_request r;
    char url[64];
    async_time t0;
    int fds = count_fds();
    server_start(&s, play_stall);
    CHECK_EQ(env_init_stalling(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    memset(&r, 0, sizeof r);
    r.timeout = ASYNC_MS(100); /* per request */
    t0 = async_now(&e.loop);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), ASYNC_HTTP_ETIMEOUT_TOTAL);
    CHECK(fired_on_time(async_now(&e.loop) - t0, ASYNC_MS(100)));
    CHECK(strstr(async_http_request_error(&r), "total timeout") != NULL);
    CHECK(client_settled(&e.client));
    env_close(&e);
    server_stop(&s);
    CHECK_EQ(count_fds(), fds);
}

/* A listener whose accept queue is full drops SYNs: connect stalls. */
TEST(test_connect_timeout) {
    env e;
    async_http_request r;
    async_http_client_config cfg;
    char url[64];
    int port, lfd = listen_on_loopback(0, &port), filler[4], i;
    struct sockaddr_in a;
    async_time t0;
    loopback_addr(&a, port);
    for (i = 0; i < 4; i++) {
        filler[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(filler[i], (struct sockaddr *)&a, sizeof a);
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.timeout_connect = ASYNC_MS(150);
    CHECK_EQ(env_init_stalling(&e, &cfg), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    memset(&r, 0, sizeof r);
    t0 = async_now(&e.loop);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), ASYNC_HTTP_ETIMEOUT_CONNECT);
    CHECK(fired_on_time(async_now(&e.loop) - t0, ASYNC_MS(150)));
    CHECK(strstr(async_http_request_error(&r), "connect timeout") != NULL);
    env_close(&e);
    for (i = 0; i < 4; i++) close(filler[i]);
    close(lfd);
}

TEST(test_malformed_status_line) {
    env e;
    server s;
    async_http_request r;
    char url[64];
    server_start(&s, play_send);
    s.response = "HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok";
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), ASYNC_HTTP_EMALFORMED);
    /* the message says what and where */
    CHECK(strstr(async_http_request_error(&r), "malformed response") != NULL);
    CHECK(strstr(async_http_request_error(&r), "invalid status code at byte 10") != NULL); /* the first 'O' */
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&s);
}

TEST(test_body_over_limit) {
    env e;
    server s;
    async_http_request r;
    async_http_client_config cfg;
    static char big[70000];
    char url[64];
    int n = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nContent-Length: 60000\r\n\r\n");
    memset(big + n, 'x', 60000);
    big[n + 60000] = 0;
    server_start(&s, play_send);
    s.response = big;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_body_size = 1000;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url, sizeof url, &s, "/");
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), ASYNC_HTTP_EBODY_TOO_LARGE);
    CHECK(r.response.body_len <= 1000);
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&s);
}

/* Many requests through a client with a small pool: the server never sees
   more connections at once than the limit, and the pool is fully used. */
typedef struct many {
    env *e;
    async_http_request *reqs;
    async_http_request_desc desc;
} many;

static async_future *many_start(void *user, int i) {
    many *m = (many *)user;
    scribble_private(&m->reqs[i]);
    return async_http_start(&m->e->client, &m->reqs[i], &m->desc);
}

/* The bodies stored, or given to on_body (NULL: stored). How many answered 200. */
static int run_many_to(env *e, const char *url, int n, async_http_request *reqs,
                       int (*on_body)(async_http_request *, const char *, size_t)) {
    many m;
    int i, ok = 0;
    memset(&m, 0, sizeof m);
    m.e = e, m.reqs = reqs;
    m.desc.url = url;
    m.desc.on_body = on_body;
    run_gathered(&e->loop, n, many_start, &m);
    for (i = 0; i < n; i++) {
        ok += async_result(&reqs[i].task.future) == 200;
        async_http_request_release(&reqs[i]);
    }
    return ok;
}

static int run_many(env *e, const char *url, int n, async_http_request *reqs) {
    return run_many_to(e, url, n, reqs, NULL);
}

TEST(test_pool_limit) {
    env e;
    server s;
    async_http_client_config cfg;
    static async_http_request reqs[40];
    char url[64];
    server_start(&s, play_ok);
    s.delay_ms = 10;
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = 4;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url, sizeof url, &s, "/");
    CHECK_EQ(run_many(&e, url, 40, reqs), 40);
    CHECK_EQ(s.max_open, 4);        /* never more than the limit ... */
    CHECK_EQ(s.accepted, 4);        /* ... and each connection reused */
    CHECK(client_settled(&e.client));
    env_close(&e);
    server_stop(&s);
}

/* A full pool closes the longest idle connection to another host to make room. */
TEST(test_pool_evicts_idle_of_other_host) {
    env e;
    server a, b;
    async_http_request r;
    async_http_client_config cfg;
    char url_a[64], url_b[64];
    server_start(&a, play_ok);
    server_start(&b, play_ok);
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = 1;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url_a, sizeof url_a, &a, "/");
    url_of(url_b, sizeof url_b, &b, "/");
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url_a), 0);
    async_http_request_release(&r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url_a), 0); /* reuses A's connection */
    async_http_request_release(&r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url_b), 0); /* A's idle connection gives way */
    async_http_request_release(&r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url_a), 0);
    async_http_request_release(&r);
    CHECK_EQ(a.accepted, 2);
    CHECK_EQ(b.accepted, 1);
    CHECK_EQ(client_connects(&e.client), 3);
    WAIT_UNTIL(server_open(&a) + server_open(&b) <= 1, 2000);
    CHECK(server_open(&a) + server_open(&b) <= 1); /* the evicted ones were closed */
    env_close(&e);
    server_stop(&a);
    server_stop(&b);
}

TEST(test_pool_limit_per_host) {
    env e;
    server s;
    async_http_client_config cfg;
    static async_http_request reqs[20];
    char url[64];
    server_start(&s, play_ok);
    s.delay_ms = 10;
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = 10;
    cfg.limit_per_host = 2;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url, sizeof url, &s, "/");
    CHECK_EQ(run_many(&e, url, 20, reqs), 20);
    CHECK_EQ(s.max_open, 2);
    env_close(&e);
    server_stop(&s);
}

/* A pooled connection the server closed while it was idle is seen to be
   dead before anything is sent on it: even a POST goes out on a new one. */
TEST(test_dead_pooled_connection_skipped) {
    env e;
    server s;
    async_http_request r;
    char url[64];
    server_start(&s, play_once_then_close);
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    async_http_request_release(&r);
    CHECK(server_drained(&s, 2000)); /* the server closed the pooled connection */
    memset(&r, 0, sizeof r);
    r.body = "x=1", r.body_len = 3;
    CHECK_EQ(fetch(&e.client, &r, "POST", url), 0);
    CHECK_EQ(r.response.status, 200);
    async_http_request_release(&r);
    CHECK_EQ(s.accepted, 2);
    env_close(&e);
    server_stop(&s);
}

/* ---- The pool watches its idle connections (a receive stays posted) */

static int pool_has_no_idle(void *arg) { return client_stats((async_http_client *)arg).idle == 0; }

/* A server that closes an idle connection is seen while the loop runs,
   with no request: the slot is freed and the socket closed then. */
TEST(test_idle_close_seen_without_a_request) {
    env e;
    server s;
    async_http_request r;
    char url[64];
    int fds;
    server_start(&s, play_once_then_close);
    CHECK_EQ(env_init(&e, NULL), 0);
    fds = count_fds();
    url_of(url, sizeof url, &s, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    async_http_request_release(&r);
    CHECK(run_until(&e.loop, pool_has_no_idle, &e.client, 2000));
    env_flush(&e);
    CHECK_EQ(count_fds(), fds);
    env_close(&e);
    server_stop(&s);
}

/* Closing the client withdraws the idle connections' receives: every
   socket is closed for real (the server sees the end) before the io goes. */
TEST(test_client_close_ends_idle_watches) {
    env e;
    server s;
    async_http_request r[5];
    char url[64];
    int i, fds;
    server_start(&s, play_ok);
    CHECK_EQ(env_init(&e, NULL), 0);
    fds = count_fds();
    url_of(url, sizeof url, &s, "/");
    memset(r, 0, sizeof r);
    for (i = 0; i < 5; i++) async_http_get(&e.client, &r[i], url);
    for (i = 0; i < 5; i++) CHECK_EQ(async_run(&e.loop, &r[i].task.future), 0);
    for (i = 0; i < 5; i++) async_http_request_release(&r[i]);
    CHECK_EQ(client_stats(&e.client).idle, 5);
    async_http_client_close(&e.client);
    env_flush(&e);
    CHECK(server_drained(&s, 2000));
    CHECK_EQ(count_fds(), fds);
    CHECK_EQ(e.io.inflight, 0);
    /* the stats stay readable after the close (the idle list pointed into the freed slots) */
    CHECK_EQ(client_stats(&e.client).idle, 0);
    CHECK_EQ(client_stats(&e.client).busy, 0);
    CHECK_EQ(client_stats(&e.client).connects, 5);
    env_close(&e);
    server_stop(&s);
}

/* A limit whose slots' size does not fit a size_t is refused, not wrapped
   into a small allocation that the slots' setup then overruns. */
TEST(test_client_limit_too_large) {
    env e;
    async_http_client big;
    async_http_client_config cfg;
    CHECK_EQ(env_init(&e, NULL), 0);
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = (size_t)-1 / sizeof(async_http__conn) + 2; /* times the size: wraps to a slot's */
    CHECK_EQ(async_http_client_init(&big, &e.io, &cfg), ASYNC_HTTP_ENOMEM);
    env_close(&e);
}

/* Idle connections do not keep the loop waiting: awaiting what nothing
   will complete is still a deadlock (ASYNC_EDEADLK), not a hang. */
TEST(test_deadlock_seen_with_idle_connections) {
    env e;
    server s;
    async_http_request r;
    async_future never;
    char url[64];
    server_start(&s, play_ok);
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    async_http_request_release(&r);
    CHECK_EQ(e.io.inflight, 0);
    async_future_init(&never);
    CHECK_EQ(async_run(&e.loop, &never), ASYNC_EDEADLK);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0); /* and the connection is still good */
    CHECK_EQ(client_connects(&e.client), 1);
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&s);
}

/* An idle connection is used up to keepalive_timeout after its last answer, not after: the
   next request opens a new one, and the old one is closed (on a stall clock the test moves). */
TEST(test_keepalive_timeout) {
    env e;
    server s;
    async_http_request r;
    async_http_client_config cfg;
    char url[64];
    server_start(&s, play_ok);
    memset(&cfg, 0, sizeof cfg);
    cfg.keepalive_timeout = ASYNC_SEC(5);
    CHECK_EQ(env_init_stalling(&e, &cfg), 0);
    url_of(url, sizeof url, &s, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    async_http_request_release(&r);
    e.stall.now += ASYNC_SEC(5) - 1;
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    async_http_request_release(&r);
    CHECK_EQ(client_connects(&e.client), 1);
    e.stall.now += ASYNC_SEC(5);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    async_http_request_release(&r);
    CHECK_EQ(client_connects(&e.client), 2);
    CHECK_EQ(client_stats(&e.client).idle, 1);
    WAIT_UNTIL(server_open(&s) == 1, 2000);
    CHECK_EQ(server_open(&s), 1); /* the expired one was closed */
    env_close(&e);
    /* negative, as ASYNC_NO_TIMEOUT: no limit (every idle one was closed at the next ask) */
    cfg.keepalive_timeout = -1;
    CHECK_EQ(env_init_stalling(&e, &cfg), 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    async_http_request_release(&r);
    e.stall.now += ASYNC_SEC(3600);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    async_http_request_release(&r);
    CHECK_EQ(client_connects(&e.client), 1);
    env_close(&e);
    server_stop(&s);
}

/* A server that answers, then sends a second response nobody asked for, right behind the
   first; once its bytes are in the client's socket it marks, and answers later requests
   "good". The next request must not take them for its answer: it gets "good" (on a new
   connection: the pooled one is off). Stall clock: the watch is as fresh as it gets. */
static int stray_go[2]; /* a pipe: the test says when the first answer is taken */
static void play_ok_then_stray(server *s, int fd, int index) {
    int first = index == 0;
    char c;
    while (read_request(fd)) {
        if (first) {
            send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            if (read(stray_go[0], &c, 1) != 1) return; /* (so that it is not read with "ok") */
            send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil");
            wait_sent(fd, 2000);
            server_mark(s);
            first = 0;
        } else {
            send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood");
        }
    }
}

TEST(test_stray_response_is_nobodys_answer) {
    env e;
    server s;
    async_http_request r;
    char url[64];
    CHECK_EQ(pipe(stray_go), 0);
    server_start(&s, play_ok_then_stray);
    CHECK_EQ(env_init_stalling(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    async_http_request_release(&r);
    CHECK_EQ(write(stray_go[1], "g", 1), 1);
    WAIT_UNTIL(server_get(&s, &s.marks) == 1, 2000);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK(r.response.body_len == 4 && !memcmp(r.response.body, "good", 4));
    async_http_request_release(&r);
    CHECK_EQ(client_connects(&e.client), 2);
    env_close(&e);
    server_stop(&s);
    close(stray_go[0]), close(stray_go[1]);
}

/* One slot, two hosts: each request closes the other host's idle
   connection (its receive withdrawn first, which on io_uring takes a loop
   turn) and takes the slot; at once too, all queued; nothing is left open. */
TEST(test_one_slot_two_hosts) {
    env e;
    server a, b;
    async_http_request r[10];
    async_http_client_config cfg;
    char urls[2][64];
    int i, fds;
    server_start(&a, play_ok);
    server_start(&b, play_ok);
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = 1;
    CHECK_EQ(env_init(&e, &cfg), 0);
    fds = count_fds();
    url_of(urls[0], sizeof urls[0], &a, "/");
    url_of(urls[1], sizeof urls[1], &b, "/");
    for (i = 0; i < 6; i++) { /* one after another */
        CHECK_EQ(fetch_new(&e.client, &r[0], "GET", urls[i % 2], 0), 0);
        CHECK_EQ(r[0].response.status, 200);
        async_http_request_release(&r[0]);
    }
    CHECK_EQ(client_connects(&e.client), 6);
    memset(r, 0, sizeof r);
    for (i = 0; i < 10; i++) async_http_get(&e.client, &r[i], urls[i % 2]); /* all at once */
    for (i = 0; i < 10; i++) {
        CHECK_EQ(async_run(&e.loop, &r[i].task.future), 0);
        CHECK_EQ(r[i].response.status, 200);
    }
    for (i = 0; i < 10; i++) async_http_request_release(&r[i]);
    CHECK_EQ(client_connects(&e.client), 16);
    CHECK(client_settled(&e.client));
    async_http_client_close(&e.client);
    env_flush(&e);
    CHECK(server_drained(&a, 2000));
    CHECK(server_drained(&b, 2000));
    CHECK_EQ(count_fds(), fds);
    env_close(&e);
    server_stop(&a);
    server_stop(&b);
}

/* The server drops a request sent on a pooled connection: a GET is sent
   again, once, on a new connection. */
TEST(test_idempotent_retry) {
    env e;
    server s;
    async_http_request r;
    char url[64];
    server_start(&s, play_drop_second_request);
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    async_http_request_release(&r);
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0); /* retried on a new connection */
    CHECK_EQ(r.response.status, 200);
    async_http_request_release(&r);
    CHECK_EQ(s.accepted, 2);
    CHECK_EQ(client_connects(&e.client), 2);
    env_close(&e);
    server_stop(&s);
}

TEST(test_no_retry_for_post) {
    env e;
    server s;
    async_http_request r;
    char url[64];
    server_start(&s, play_drop_second_request);
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    async_http_request_release(&r);
    memset(&r, 0, sizeof r);
    r.body = "x=1", r.body_len = 3;
    CHECK_EQ(fetch(&e.client, &r, "POST", url), ASYNC_HTTP_ECLOSED);
    CHECK_EQ(client_connects(&e.client), 1); /* not sent again */
    env_close(&e);
    server_stop(&s);
}

TEST(test_retry_only_once) {
    env e;
    server s;
    async_http_request r;
    char url[64];
    server_start(&s, play_drop_second_request);
    s.delay_ms = -1; /* the second connection drops the request too */
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    async_http_request_release(&r);
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), ASYNC_HTTP_ECLOSED);
    CHECK_EQ(client_connects(&e.client), 2); /* one retry, not two */
    env_close(&e);
    server_stop(&s);
}

/* HEAD (and 304) carry a Content-Length but no body: however large, it is
   not a body over the limit, and the connection stays good. */
static void play_head_huge_length(server *s, int fd, int index) {
    (void)s, (void)index;
    while (read_request(fd)) send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n");
}

TEST(test_head_with_huge_length) {
    env e;
    server s;
    async_http_request r;
    async_http_client_config cfg;
    char url[64];
    server_start(&s, play_head_huge_length);
    memset(&cfg, 0, sizeof cfg);
    cfg.max_body_size = 1000;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url, sizeof url, &s, "/");
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "HEAD", url), 0);
    CHECK_EQ(r.response.body_len, 0);
    async_http_request_release(&r);
    CHECK_EQ(fetch(&e.client, &r, "HEAD", url), 0);
    async_http_request_release(&r);
    CHECK_EQ(client_connects(&e.client), 1);
    env_close(&e);
    server_stop(&s);
}

/* A length announced far over the limit, with body bytes in the same
   segment as the head: EBODY_TOO_LARGE, and no allocation of that size. */
TEST(test_announced_length_over_limit) {
    env e;
    server s;
    async_http_request r;
    char url[64];
    server_start(&s, play_send);
    s.response = "HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387904\r\n\r\nhello";
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), ASYNC_HTTP_EBODY_TOO_LARGE);
    env_close(&e);
    server_stop(&s);
}

/* Requests waiting for a host at its per-host limit do not hold back a
   request for another host. */
TEST(test_waiters_do_not_block_other_hosts) {
    env e;
    server slow, fast;
    async_http_request r[3];
    async_http_client_config cfg;
    char slow_url[64], fast_url[64];
    int i;
    server_start(&slow, play_ok);
    slow.delay_ms = 200;
    server_start(&fast, play_ok);
    memset(&cfg, 0, sizeof cfg);
    cfg.limit_per_host = 1;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(slow_url, sizeof slow_url, &slow, "/");
    url_of(fast_url, sizeof fast_url, &fast, "/");
    memset(r, 0, sizeof r);
    async_http_get(&e.client, &r[0], slow_url);
    async_http_get(&e.client, &r[1], slow_url); /* waits for r[0]'s connection */
    async_http_get(&e.client, &r[2], fast_url);
    CHECK_EQ(async_run(&e.loop, &r[2].task.future), 0);
    CHECK_EQ(async_result(&r[2].task.future), 200);
    CHECK(!async_done(&r[0].task.future)); /* the fast one did not wait for the slow */
    CHECK_EQ(async_run(&e.loop, &r[1].task.future), 0);
    CHECK_EQ(async_result(&r[1].task.future), 200);
    for (i = 0; i < 3; i++) async_http_request_release(&r[i]);
    env_close(&e);
    server_stop(&slow);
    server_stop(&fast);
}

/* A retry goes out on a new connection, not on another pooled one that may
   be just as stale. Every connection answers once, then drops the next. */
static void play_answer_once_then_drop(server *s, int fd, int index) {
    (void)s, (void)index;
    if (!read_request(fd)) return;
    send_str(fd, OK_RESPONSE);
    read_request(fd);
}

TEST(test_retry_uses_a_new_connection) {
    env e;
    server s;
    async_http_request r[2];
    async_future *f[2];
    async_link links[2];
    async_gather_op g;
    char url[64];
    server_start(&s, play_answer_once_then_drop);
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    memset(r, 0, sizeof r);
    f[0] = async_http_get(&e.client, &r[0], url); /* two at once: two pooled connections */
    f[1] = async_http_get(&e.client, &r[1], url);
    CHECK_EQ(async_run(&e.loop, async_gather(&g, f, links, 2, 1)), 0);
    CHECK_EQ(async_result(f[0]) + async_result(f[1]), 400);
    async_http_request_release(&r[0]);
    async_http_request_release(&r[1]);
    memset(&r[0], 0, sizeof r[0]);
    CHECK_EQ(fetch(&e.client, &r[0], "GET", url), 0); /* dropped, then retried on a third connection */
    async_http_request_release(&r[0]);
    CHECK_EQ(s.accepted, 3);
    env_close(&e);
    server_stop(&s);
}

/* A request granted a pooled connection and cancelled before it used it
   gives the connection back to the pool, still open. */
typedef struct cancel_on_grant {
    async_waiter w;
    async_task *victim;
} cancel_on_grant;

static void cancel_on_grant_wake(async_waiter *w, async_future *done) {
    (void)done;
    async_cancel(((cancel_on_grant *)(void *)w)->victim);
}

TEST(test_granted_then_cancelled_keeps_connection) {
    env e;
    server s;
    async_http_request r[3];
    async_http_client_config cfg;
    cancel_on_grant k;
    char url[64];
    server_start(&s, play_ok);
    s.delay_ms = 50;
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = 1;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url, sizeof url, &s, "/");
    memset(r, 0, sizeof r);
    async_http_get(&e.client, &r[0], url);
    async_http_get(&e.client, &r[1], url); /* waits for the only connection */
    {
        async_timer tick;
        memset(&tick, 0, sizeof tick);
        async_run(&e.loop, async_sleep(&e.loop, &tick, ASYNC_MS(10)));
    }
    CHECK_EQ(client_stats(&e.client).waiting, 1);
    memset(&k, 0, sizeof k);
    k.w.wake = cancel_on_grant_wake; /* runs as r[0] ends, just after it handed its connection to r[1] */
    k.victim = &r[1].task;
    async_future_add_waiter(&r[0].task.future, &k.w);
    CHECK_EQ(async_run(&e.loop, &r[1].task.future), ASYNC_ECANCELED);
    CHECK_EQ(async_result(&r[0].task.future), 200);
    CHECK_EQ(fetch(&e.client, &r[2], "GET", url), 0);
    CHECK_EQ(client_connects(&e.client), 1); /* the connection r[1] never used went on to r[2] */
    async_http_request_release(&r[0]);
    async_http_request_release(&r[2]);
    env_close(&e);
    server_stop(&s);
}

/* A waiter parked by limit_per_host, unparked (back at the head of the line) and cancelled
   before it got a slot: the next parked waiter of its host takes its place in line. Host A
   at limit_per_host 1: a1 holds its only connection; x (a retry: it wants a new connection,
   not a pooled one) and y wait, parked once b1's end walks the queue. a1's end gives A's
   connection back to the pool and unparks x, which cannot use it and, on io_uring, finds no
   slot either (the idle one of B it evicts takes a loop turn to close); it is cancelled
   then, as a1 ends. y must go on, on a1's connection: nothing else of A's will come back to
   unpark it. (On epoll the evicted slot is free at once: x is granted, then cancelled, and
   gives its slot back.) Connection 0 of A answers once and drops the next request. */
static void play_answer_once_then_capture(server *s, int fd, int index) {
    if (index > 0) {
        play_capture(s, fd, index);
        return;
    }
    if (!read_request(fd) || !send_str(fd, OK_RESPONSE)) return;
    read_request(fd); /* dropped: its request is retried */
}

typedef struct cancel_when_done {
    async_waiter w;
    async_http_request *victim;
    int was; /* the victim's place as it was cancelled */
} cancel_when_done;

static void cancel_when_done_wake(async_waiter *w, async_future *done) {
    cancel_when_done *k = (cancel_when_done *)(void *)w;
    (void)done;
    k->was = k->victim->_queued;
    async_cancel(&k->victim->task);
}

TEST(test_unparked_then_cancelled) {
    env e;
    server a, b;
    async_http_request x0, a1, b1, x, y;
    async_http_client_config cfg;
    cancel_when_done k;
    char url_a[64], url_b[64];
    server_start(&a, play_answer_once_then_capture);
    server_start(&b, play_capture);
    server_hold(&a);
    server_hold(&b);
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = 2;
    cfg.limit_per_host = 1;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url_a, sizeof url_a, &a, "/a");
    url_of(url_b, sizeof url_b, &b, "/b");
    memset(&x0, 0, sizeof x0), memset(&a1, 0, sizeof a1), memset(&b1, 0, sizeof b1);
    memset(&x, 0, sizeof x), memset(&y, 0, sizeof y);
    a1.timeout = b1.timeout = x.timeout = ASYNC_SEC(5);
    y.timeout = ASYNC_SEC(2); /* lost, it would end here */
    CHECK_EQ(fetch(&e.client, &x0, "GET", url_a), 0); /* A's connection 0, pooled */
    async_http_request_release(&x0);
    async_http_get(&e.client, &b1, url_b);
    async_http_get(&e.client, &x, url_a); /* on connection 0, which drops it: retried */
    async_http_get(&e.client, &a1, url_a); /* waits for A; gets the slot x gives back */
    CHECK(run_until_each_received(&e.loop, &a, &b, 2000)); /* a1 on A's connection 1, b1 on B */
    CHECK_EQ(x._attempts, 1);
    async_http_get(&e.client, &y, url_a);
    run_until_each_received(&e.loop, &a, &b, 0);
    CHECK_EQ(client_stats(&e.client).busy, 2);
    CHECK_EQ(client_stats(&e.client).waiting, 2); /* x (retrying), then y */
    server_release(&b);
    CHECK_EQ(async_run(&e.loop, &b1.task.future), 0); /* its end walks the queue: x and y parked */
    CHECK_EQ(x._queued, ASYNC_HTTP__PARKED);
    CHECK_EQ(y._queued, ASYNC_HTTP__PARKED);
    memset(&k, 0, sizeof k);
    k.w.wake = cancel_when_done_wake; /* runs as a1 ends, just after it gave A's connection back */
    k.victim = &x;
    async_future_add_waiter(&a1.task.future, &k.w);
    server_release(&a);
    CHECK_EQ(async_run(&e.loop, &x.task.future), ASYNC_ECANCELED);
    if (strcmp(async_io_backend_name(&e.io), "io_uring") == 0) CHECK_EQ(k.was, ASYNC_HTTP__QUEUED); /* unparked, unserved */
    CHECK_EQ(async_run(&e.loop, &y.task.future), 0);
    CHECK_EQ(y.response.status, 200);
    CHECK_EQ(async_result(&a1.task.future), 200);
    CHECK_EQ(server_received(&a), 2); /* a1, then y on a1's connection */
    if (server_received(&a) == 2) CHECK_EQ(server_capture(&a, 1)->conn, 1);
    CHECK(client_settled(&e.client));
    async_http_request_release(&a1);
    async_http_request_release(&b1);
    async_http_request_release(&y);
    env_close(&e);
    server_stop(&a);
    server_stop(&b);
}

/* Cancel a request whose recv is in flight: it ends cancelled only after
   the kernel let go of the buffer; nothing leaks (ASan), no fd stays open. */
typedef struct canceller {
    async_task task;
    async_timer timer;
    async_http_request *victim;
} canceller;

static int canceller_run(async_task *t) {
    canceller *c = (canceller *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_sleep(t->loop, &c->timer, ASYNC_MS(50)));
    async_cancel(&c->victim->task);
    ASYNC_END(t);
}

TEST(test_cancel_in_flight) {
    env e;
    server s;
    async_http_request r[3];
    canceller k;
    char url[64];
    int fds = count_fds(), i;
    server_start(&s, play_stall);
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    for (i = 0; i < 3; i++) {
        memset(&r[i], 0, sizeof r[i]);
        async_http_get(&e.client, &r[i], url);
    }
    for (i = 0; i < 3; i++) {
        memset(&k, 0, sizeof k);
        k.victim = &r[i];
        async_create_task(&e.loop, &k.task, canceller_run);
        CHECK_EQ(async_run(&e.loop, &r[i].task.future), ASYNC_ECANCELED);
        CHECK(async_cancelled(&r[i].task.future));
        async_http_request_release(&r[i]);
    }
    CHECK(client_settled(&e.client));
    CHECK_EQ(e.io.inflight, 0);
    env_close(&e);
    server_stop(&s);
    CHECK_EQ(count_fds(), fds);
}

/* Cancelled in the turn it starts, while its socket() is still queued: the
   socket the kernel makes all the same is closed, not leaked. */
typedef struct quick_canceller {
    async_task task;
    async_task *victim;
} quick_canceller;

static int quick_cancel_run(async_task *t) {
    quick_canceller *q = (quick_canceller *)t;
    ASYNC_BEGIN(t);
    async_cancel(q->victim);
    ASYNC_END(t);
}

TEST(test_cancel_during_socket) {
    env e;
    async_http_request r;
    quick_canceller q;
    char url[64];
    int fds, i;
    CHECK_EQ(env_init(&e, NULL), 0);
    fds = count_fds();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", free_port());
    for (i = 0; i < 5; i++) {
        memset(&r, 0, sizeof r);
        async_http_get(&e.client, &r, url);
        memset(&q, 0, sizeof q);
        q.victim = &r.task;
        async_create_task(&e.loop, &q.task, quick_cancel_run);
        CHECK_EQ(async_run(&e.loop, &r.task.future), ASYNC_ECANCELED);
    }
    async_http_client_close(&e.client);
    {   /* let the ring carry out the closes */
        async_timer tick;
        memset(&tick, 0, sizeof tick);
        async_run(&e.loop, async_sleep(&e.loop, &tick, ASYNC_MS(1)));
    }
    CHECK_EQ(count_fds(), fds);
    async_io_exit(&e.io);
}

/* read and write on a pipe, and a read cancelled while it waits. */
typedef struct piper {
    async_task task;
    async_io *io;
    async_io_op op;
    int fds[2], err;
    char buf[16];
} piper;

static int piper_run(async_task *t) {
    piper *p = (piper *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_io_write(p->io, &p->op, p->fds[1], "hello", 5, -1));
    if (async_result(&p->op.future) != 5) ASYNC_RAISE(t, -1);
    ASYNC_AWAIT(t, async_io_read(p->io, &p->op, p->fds[0], p->buf, sizeof p->buf, -1));
    if (async_result(&p->op.future) != 5 || memcmp(p->buf, "hello", 5) != 0) ASYNC_RAISE(t, -2);
    ASYNC_AWAIT_CATCH(t, async_io_read(p->io, &p->op, p->fds[0], p->buf, sizeof p->buf, -1), p->err);
    ASYNC_RETURN(t, async_cancelled(&p->op.future));
    ASYNC_END(t);
}

TEST(test_pipe_read_write) {
    env e;
    piper p;
    quick_canceller q;
    CHECK_EQ(env_init(&e, NULL), 0);
    memset(&p, 0, sizeof p);
    p.io = &e.io;
    CHECK(pipe(p.fds) == 0);
    async_create_task(&e.loop, &p.task, piper_run);
    {
        async_timer tick;
        memset(&tick, 0, sizeof tick);
        async_run(&e.loop, async_sleep(&e.loop, &tick, ASYNC_MS(20))); /* the last read now waits */
    }
    CHECK(!async_done(&p.task.future));
    memset(&q, 0, sizeof q);
    q.victim = &p.task;
    async_create_task(&e.loop, &q.task, quick_cancel_run);
    CHECK_EQ(async_run(&e.loop, &p.task.future), 0);
    CHECK_EQ(async_result(&p.task.future), 1); /* the waiting read was withdrawn */
    CHECK_EQ(p.err, ASYNC_ECANCELED);
    CHECK_EQ(e.io.inflight, 0);
    close(p.fds[0]);
    close(p.fds[1]);
    env_close(&e);
}

/* A failing request does not take the others down. */
TEST(test_failure_is_isolated) {
    env e;
    server good, bad;
    async_http_request r[4];
    async_future *f[4];
    async_link links[4];
    async_gather_op g;
    char ok_url[64], bad_url[64];
    int i;
    server_start(&good, play_ok);
    server_start(&bad, play_send);
    bad.response = "garbage\r\n\r\n";
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(ok_url, sizeof ok_url, &good, "/");
    url_of(bad_url, sizeof bad_url, &bad, "/");
    memset(r, 0, sizeof r);
    for (i = 0; i < 4; i++) f[i] = async_http_get(&e.client, &r[i], i == 1 ? bad_url : ok_url);
    CHECK_EQ(async_run(&e.loop, async_gather(&g, f, links, 4, 1)), 0);
    CHECK_EQ(async_error(f[1]), ASYNC_HTTP_EMALFORMED);
    CHECK_EQ(async_result(f[0]), 200);
    CHECK_EQ(async_result(f[2]), 200);
    CHECK_EQ(async_result(f[3]), 200);
    for (i = 0; i < 4; i++) async_http_request_release(&r[i]);
    env_close(&e);
    server_stop(&good);
    server_stop(&bad);
}

TEST(test_ipv6_literal) {
    env e;
    server s;
    async_http_request r;
    char url[64];
    CHECK(server_start6(&s, play_ok));
    CHECK_EQ(env_init(&e, NULL), 0);
    snprintf(url, sizeof url, "http://[::1]:%d/x", s.port);
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    CHECK(r.response.body_len == 2 && memcmp(r.response.body, "ok", 2) == 0);
    async_http_request_release(&r);
    CHECK_EQ(s.accepted, 1);
    env_close(&e);
    server_stop(&s);
}

TEST(test_url_errors) {
    env e;
    async_http_request r;
    CHECK_EQ(env_init(&e, NULL), 0);
    memset(&r, 0, sizeof r);
    /* https without ASYNC_HTTP_TLS: test_minimal.c. Schemes are case-insensitive. */
    CHECK_EQ(fetch(&e.client, &r, "GET", "HTTPS://127.0.0.1:1/"), ASYNC_HTTP_EREFUSED);
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", "ftp://127.0.0.1/"), ASYNC_HTTP_ESCHEME);
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", "http://"), ASYNC_HTTP_EURL);
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", "http://127.0.0.1:99999/"), ASYNC_HTTP_EURL);
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", "http://no-such-host.invalid/"), ASYNC_HTTP_ENAME);
    /* (and why, where the resolver says: no name server, say) */
    CHECK(!strncmp(async_http_request_error(&r), "host name not found: no-such-host.invalid", 41));
    memset(&r, 0, sizeof r);
    {
        const char *bad_headers[] = {"X-Evil: a\r\nInjected: b", NULL};
        r.headers = bad_headers;
        CHECK_EQ(fetch(&e.client, &r, "GET", "http://127.0.0.1:1/"), ASYNC_HTTP_EHEADER);
    }
    env_close(&e);
}

TEST(test_setup_error_messages) {
    char msg[256];
    async_io__describe_setup_error(msg, sizeof msg, -EPERM, 2);
    CHECK(strstr(msg, "kernel.io_uring_disabled") && strstr(msg, "sysctl -w"));
    async_io__describe_setup_error(msg, sizeof msg, -ENOSYS, 0);
    CHECK(strstr(msg, "seccomp") && strstr(msg, "kernel"));
    async_io__describe_setup_error(msg, sizeof msg, -EPERM, 0);
    CHECK(strstr(msg, "seccomp") != NULL);
    async_io__describe_setup_error(msg, sizeof msg, -ENOMEM, 0);
    CHECK(strstr(msg, "ulimit -l") != NULL);
}

/* ------------------------------------------------------------------ */
/* nginx and Python's http.server                                      */

static fixture servers; /* nginx and the two python3 servers, and the temp dir of their files */
static int nginx_port, python_port, python10_port;

static int start_servers(void) {
    static char big[1 << 20];
    char gz[512], port_s[16], port10_s[16];
    nginx_options o = {.worker_connections = 1024,
                       .http = "keepalive_requests 1000;\n"
                               "  types { application/json json; application/octet-stream bin; }",
                       .server = gz};
    size_t i;
    if (!fixture_init(&servers, "async_http_test")) return 0;
    fixture_write(&servers, "small.json", "{\"name\": \"Luke Skywalker\", \"height\": \"172\"}", 44);
    for (i = 0; i < sizeof big; i++) big[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    fixture_write(&servers, "big.bin", big, sizeof big);
    snprintf(gz, sizeof gz,
             "location /gz/ { alias %s/; gzip on; gzip_min_length 1; gzip_types application/json; }",
             servers.root);
    nginx_port = fixture_nginx(&servers, &o);
    python_port = free_port();
    snprintf(port_s, sizeof port_s, "%d", python_port);
    {
        char *argv[] = {"python3", "-m", "http.server", port_s, "--bind", "127.0.0.1", "--directory",
                        servers.root, NULL};
        fixture_spawn(&servers, argv);
    }
    /* http.server's handler without Content-Length: HTTP/1.0, body delimited by close */
    python10_port = free_port();
    snprintf(port10_s, sizeof port10_s, "%d", python10_port);
    {
        char *argv[] = {"python3", "-c",
                        "import http.server,sys\n"
                        "class H(http.server.BaseHTTPRequestHandler):\n"
                        "  def do_GET(self):\n"
                        "    self.send_response(200); self.send_header('Content-Type','text/plain'); self.end_headers()\n"
                        "    self.wfile.write(b'closed-delimited body ' * 1000)\n"
                        "  def log_message(self,*a): pass\n"
                        "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n",
                        port10_s, NULL};
        fixture_spawn(&servers, argv);
    }
    return wait_for_port(nginx_port) && wait_for_port(python_port) && wait_for_port(python10_port);
}

static void stop_servers(void) { fixture_stop(&servers); }

static void nginx_url(char *out, size_t n, const char *path) {
    snprintf(out, n, "http://127.0.0.1:%d%s", nginx_port, path);
}

TEST(test_nginx_keep_alive) {
    env e;
    async_http_request r;
    char url[96];
    size_t len;
    const char *v;
    int i;
    CHECK_EQ(env_init(&e, NULL), 0);
    nginx_url(url, sizeof url, "/small.json");
    for (i = 0; i < 3; i++) {
        memset(&r, 0, sizeof r);
        CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
        CHECK_EQ(r.response.status, 200);
        CHECK_EQ(r.response.body_len, 44);
        CHECK(memcmp(r.response.body, "{\"name\": \"Luke", 14) == 0);
        v = async_http_response_header(&r.response, "content-length", &len);
        CHECK(v && len == 2 && memcmp(v, "44", 2) == 0);
        v = async_http_response_header(&r.response, "CONTENT-TYPE", &len);
        CHECK(v && len == 16 && memcmp(v, "application/json", 16) == 0);
        async_http_request_release(&r);
    }
    CHECK_EQ(client_connects(&e.client), 1); /* three requests, one connection */
    memset(&r, 0, sizeof r);
    nginx_url(url, sizeof url, "/missing");
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    CHECK_EQ(r.response.status, 404);
    CHECK(r.response.reason_len == 9 && memcmp(r.response.reason, "Not Found", 9) == 0);
    async_http_request_release(&r);
    env_close(&e);
}

/* At a steady rate a request allocates nothing of its own: its inputs' copy is inside it,
   its head in a block an earlier request gave back (the client keeps one per pool slot at
   most). A stored body is the one allocation left; a streamed one leaves none. */
static int discard_body(async_http_request *req, const char *data, size_t len) {
    (void)req, (void)data, (void)len;
    return 0;
}

TEST(test_nginx_steady_state_allocates_nothing) {
    env e;
    alloc_count a;
    async_http_client_config cfg;
    static async_http_request reqs[40];
    char url[96];
    long before;
    int i;
    memset(&a, 0, sizeof a);
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = 4;
    cfg.alloc = counting_alloc;
    cfg.alloc_user = &a;
    CHECK_EQ(env_init(&e, &cfg), 0);
    nginx_url(url, sizeof url, "/small.json");
    /* 40 at once through 4 connections: 40 head blocks in use, 4 kept after. */
    CHECK_EQ(run_many(&e, url, 40, reqs), 40);
    CHECK_EQ(e.client._nspares, 4);
    for (i = 0; i < 5; i++) { /* 4 at a time, one per connection */
        before = a.calls;
        CHECK_EQ(run_many_to(&e, url, 4, reqs, discard_body), 4);
        CHECK_EQ(a.calls - before, 0);
        before = a.calls;
        CHECK_EQ(run_many(&e, url, 4, reqs), 4);
        CHECK_EQ(a.calls - before, 4); /* the bodies */
    }
    {   /* inputs too big for the request's own room: one allocation more, and it works */
        static char big_header[400];
        const char *headers[] = {big_header, NULL};
        async_http_request_desc d;
        memset(big_header, 'x', sizeof big_header - 1);
        memcpy(big_header, "X-Big: ", 7);
        memset(&d, 0, sizeof d);
        d.url = url;
        d.headers = headers;
        d.on_body = discard_body;
        for (i = 0; i < 2; i++) { /* the first may grow the connection's send buffer */
            before = a.calls;
            async_http_start(&e.client, &reqs[0], &d);
            CHECK_EQ(async_run(&e.loop, &reqs[0].task.future), 0);
            CHECK_EQ(reqs[0].response.status, 200);
            async_http_request_release(&reqs[0]);
        }
        CHECK_EQ(a.calls - before, 1);
    }
#if defined(__SANITIZE_ADDRESS__) || defined(ASYNC_HTTP__ASAN)
    {   /* a kept block is poisoned: a response read after its release is caught */
        const char *name;
        CHECK(e.client._nspares > 0); /* the block goes back to them, not to free() */
        CHECK_EQ(fetch_new(&e.client, &reqs[0], "GET", url, 0), 0);
        name = reqs[0].response.headers[0].name;
        CHECK(!__asan_address_is_poisoned(name));
        async_http_request_release(&reqs[0]);
        CHECK(__asan_address_is_poisoned(name));
    }
#endif
    CHECK_EQ(client_connects(&e.client), 4);
    env_close(&e);
    CHECK_EQ(a.live, 0); /* the kept blocks went with the client */
}

TEST(test_nginx_big_body) {
    env e;
    async_http_request r;
    char url[96];
    size_t i, bad = 0;
    CHECK_EQ(env_init(&e, NULL), 0);
    nginx_url(url, sizeof url, "/big.bin");
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    CHECK_EQ(r.response.body_len, 1 << 20);
    for (i = 0; i < r.response.body_len; i++) bad += r.response.body[i] != (char)('a' + (i * 7 + i / 1000) % 26);
    CHECK_EQ(bad, 0);
    async_http_request_release(&r);
    env_close(&e);
}

TEST(test_nginx_head_and_304) {
    env e;
    async_http_request r;
    char url[96], ims[128];
    const char *hdrs[2];
    const char *v;
    size_t len;
    CHECK_EQ(env_init(&e, NULL), 0);
    nginx_url(url, sizeof url, "/big.bin");
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "HEAD", url), 0);
    CHECK_EQ(r.response.status, 200);
    CHECK_EQ(r.response.body_len, 0); /* Content-Length says 1 MiB, but HEAD has no body */
    v = async_http_response_header(&r.response, "Content-Length", &len);
    CHECK(v && len == 7 && memcmp(v, "1048576", 7) == 0);
    v = async_http_response_header(&r.response, "Last-Modified", &len);
    CHECK(v != NULL);
    snprintf(ims, sizeof ims, "If-Modified-Since: %.*s", v ? (int)len : 0, v ? v : "");
    async_http_request_release(&r);
    /* the same connection goes on after a HEAD */
    memset(&r, 0, sizeof r);
    hdrs[0] = ims, hdrs[1] = NULL;
    r.headers = hdrs;
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    CHECK_EQ(r.response.status, 304);
    CHECK_EQ(r.response.body_len, 0);
    async_http_request_release(&r);
    CHECK_EQ(client_connects(&e.client), 1);
    env_close(&e);
}

TEST(test_nginx_chunked) {
    env e;
    async_http_request r;
    char url[96];
    const char *hdrs[] = {"Accept-Encoding: gzip", NULL};
    const char *v;
    size_t len;
    CHECK_EQ(env_init(&e, NULL), 0);
    nginx_url(url, sizeof url, "/gz/small.json");
    memset(&r, 0, sizeof r);
    r.headers = hdrs;
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    CHECK_EQ(r.response.status, 200);
    v = async_http_response_header(&r.response, "Transfer-Encoding", &len);
    CHECK(v && len == 7 && memcmp(v, "chunked", 7) == 0);
    v = async_http_response_header(&r.response, "Content-Encoding", &len);
    CHECK(v && len == 4 && memcmp(v, "gzip", 4) == 0);
    /* gzip'd in chunks, decoded as it streamed (ASYNC_HTTP_ZLIB) */
    CHECK(r.response.body_len == 44 && !memcmp(r.response.body, "{\"name\": \"Luke Skywalker\", \"height\": \"172\"}", 44));
    async_http_request_release(&r);
    /* and the connection is reusable after the last chunk */
    memset(&r, 0, sizeof r);
    r.headers = hdrs;
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    CHECK_EQ(client_connects(&e.client), 1);
    async_http_request_release(&r);
    env_close(&e);
}

TEST(test_nginx_ipv6_literal_and_name) {
    env e;
    async_http_request r;
    char url[96];
    CHECK_EQ(env_init(&e, NULL), 0);
    snprintf(url, sizeof url, "http://localhost:%d/small.json", nginx_port);
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    CHECK_EQ(r.response.status, 200);
    async_http_request_release(&r);
    /* nginx listens on IPv4 only: [::1] is refused, which proves the v6 path was taken */
    snprintf(url, sizeof url, "http://[::1]:%d/small.json", nginx_port);
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), ASYNC_HTTP_EREFUSED);
    env_close(&e);
}

TEST(test_python_http10) {
    env e;
    async_http_request r;
    char url[96];
    int i;
    CHECK_EQ(env_init(&e, NULL), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/small.json", python_port);
    for (i = 0; i < 2; i++) {
        memset(&r, 0, sizeof r);
        CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
        CHECK_EQ(r.response.status, 200);
        CHECK_EQ(r.response.version_minor, 0);
        CHECK_EQ(r.response.body_len, 44);
        async_http_request_release(&r);
    }
    CHECK_EQ(client_connects(&e.client), 2); /* HTTP/1.0: not kept alive */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", python10_port);
    memset(&r, 0, sizeof r);
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    CHECK(async_http_response_header(&r.response, "Content-Length", NULL) == NULL);
    CHECK_EQ(r.response.body_len, 22000); /* all of it, up to the close */
    CHECK(memcmp(r.response.body + 21978, "closed-delimited body ", 22) == 0);
    async_http_request_release(&r);
    env_close(&e);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    RUN(test_setup_error_messages);
    RUN(test_url_errors);
    RUN(test_ipv6_literal);
    RUN(test_refused);
    RUN(test_reset_mid_body);
    RUN(test_read_timeout);
    RUN(test_total_timeout);
    RUN(test_connect_timeout);
    RUN(test_malformed_status_line);
    RUN(test_body_over_limit);
    RUN(test_pool_limit);
    RUN(test_pool_limit_per_host);
    RUN(test_pool_evicts_idle_of_other_host);
    RUN(test_dead_pooled_connection_skipped);
    RUN(test_idle_close_seen_without_a_request);
    RUN(test_client_close_ends_idle_watches);
    RUN(test_client_limit_too_large);
    RUN(test_deadlock_seen_with_idle_connections);
    RUN(test_keepalive_timeout);
    RUN(test_stray_response_is_nobodys_answer);
    RUN(test_one_slot_two_hosts);
    RUN(test_idempotent_retry);
    RUN(test_no_retry_for_post);
    RUN(test_retry_only_once);
    RUN(test_head_with_huge_length);
    RUN(test_announced_length_over_limit);
    RUN(test_waiters_do_not_block_other_hosts);
    RUN(test_retry_uses_a_new_connection);
    RUN(test_granted_then_cancelled_keeps_connection);
    RUN(test_unparked_then_cancelled);
    RUN(test_cancel_in_flight);
    RUN(test_cancel_during_socket);
    RUN(test_pipe_read_write);
    RUN(test_failure_is_isolated);
    if (start_servers()) {
        RUN(test_nginx_keep_alive);
        RUN(test_nginx_steady_state_allocates_nothing);
        RUN(test_nginx_big_body);
        RUN(test_nginx_head_and_304);
        RUN(test_nginx_chunked);
        RUN(test_nginx_ipv6_literal_and_name);
        RUN(test_python_http10);
    } else {
        fprintf(stderr, "FAIL: could not start nginx and python3 http.server (apt-get install nginx-light python3)\n");
        test__failed++;
    }
    stop_servers();
    return test_summary("http");
}
