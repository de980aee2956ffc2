/* test_hostile.c - hostile servers: each connection of a scripted server (a thread, plain
 * blocking sockets, 127.0.0.1, ports chosen at run time) misbehaves in one way. Every
 * request must end in the expected named error, promptly (timeouts of tens of ms), and the
 * client must stay usable: a good request right after, on the same client, succeeds. The
 * hostile connection must be let go (the server sees it closed), no connection stays lent
 * out and no fd is left open. */
#define _GNU_SOURCE
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"
#include "test.h"
#include "net.h"

/* ------------------------------------------------------------------ */
/* the scenarios of the scripted server (net.h); play_ok is there too  */

/* sends s->response, then waits for the client to close */
static void play_send(server *s, int fd, int index) {
    char c;
    (void)index;
    if (!read_request(fd)) return;
    send_str(fd, s->response);
    while (recv(fd, &c, 1, 0) > 0) {
    }
}

/* sends s->response and closes at once */
static void play_send_close(server *s, int fd, int index) {
    (void)index;
    if (!read_request(fd)) return;
    send_str(fd, s->response);
}

/* slowloris: a valid response, one byte every 50 ms (or delay_ms) */
static void play_slowloris(server *s, int fd, int index) {
    const char *r = OK_RESPONSE;
    (void)index;
    if (!read_request(fd)) return;
    for (; *r && !server_stopping(s); r++) {
        if (!send_all(fd, r, 1)) return;
        msleep(s->delay_ms ? s->delay_ms : 50);
    }
}

/* a faster loris: one byte every 2 ms, forever (the status line's reason never ends) */
static void play_trickle_head(server *s, int fd, int index) {
    (void)index;
    if (!read_request(fd)) return;
    if (!send_str(fd, "HTTP/1.1 200 ")) return;
    while (!server_stopping(s)) {
        if (!send_all(fd, "x", 1)) return;
        msleep(2);
    }
}

/* a body that never ends: a chunk of one byte every 2 ms */
static void play_endless_chunks(server *s, int fd, int index) {
    (void)index;
    if (!read_request(fd)) return;
    if (!send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) return;
    while (!server_stopping(s)) {
        if (!send_str(fd, "1\r\nx\r\n")) return;
        msleep(2);
    }
}

/* a body that never ends, as fast as it goes, delimited by the close that never comes */
static void play_endless_fast(server *s, int fd, int index) {
    static char block[16384];
    (void)index;
    memset(block, 'z', sizeof block);
    if (!read_request(fd)) return;
    if (!send_str(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")) return;
    while (!server_stopping(s))
        if (!send_all(fd, block, sizeof block)) return;
}

/* interim responses forever, fast */
static void play_interim_flood(server *s, int fd, int index) {
    static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n";
    static char block[256 * (sizeof interim - 1)];
    size_t i;
    (void)index;
    for (i = 0; i < 256; i++) memcpy(block + i * (sizeof interim - 1), interim, sizeof interim - 1);
    if (!read_request(fd)) return;
    while (!server_stopping(s))
        if (!send_all(fd, block, sizeof block)) return;
}

/* header flood: as many header fields as the client takes */
static void play_many_headers(server *s, int fd, int index) {
    char line[64];
    int i;
    (void)index;
    if (!read_request(fd)) return;
    if (!send_str(fd, "HTTP/1.1 200 OK\r\n")) return;
    for (i = 0; i < 1000000 && !server_stopping(s); i++) {
        snprintf(line, sizeof line, "X-Flood-%d: %d\r\n", i, i);
        if (!send_str(fd, line)) return;
    }
}

/* one header field of a megabyte */
static void play_huge_header(server *s, int fd, int index) {
    static char block[1 << 20];
    (void)index;
    memset(block, 'a', sizeof block);
    if (!read_request(fd)) return;
    if (!send_str(fd, "HTTP/1.1 200 OK\r\nX-Huge: ")) return;
    if (!server_stopping(s)) send_all(fd, block, sizeof block);
}

/* s->response's head alone, 300 ms later its body; then it waits for the client to close */
static void play_head_then_body(server *s, int fd, int index) {
    const char *body = strstr(s->response, "\r\n\r\n") + 4;
    char c;
    (void)index;
    if (!read_request(fd)) return;
    if (!send_all(fd, s->response, (size_t)(body - s->response))) return;
    msleep(300);
    if (!send_str(fd, body)) return;
    while (recv(fd, &c, 1, 0) > 0) {
    }
}

/* headers, then RST */
static void play_reset_after_headers(server *s, int fd, int index) {
    (void)s, (void)index;
    if (!read_request(fd)) return;
    send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
    msleep(20);
    reset_connection(fd);
}

/* RST before a single byte */
static void play_reset_at_once(server *s, int fd, int index) {
    (void)s, (void)index;
    if (!read_request(fd)) return;
    reset_connection(fd);
}

/* answers the first request properly, then 20 ms later sends a response nobody asked
   for; a later request on the connection gets a proper answer too */
static void play_unsolicited(server *s, int fd, int index) {
    if (!read_request(fd)) return;
    if (!send_str(fd, OK_RESPONSE)) return;
    msleep(20);
    if (!send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil")) return;
    /* The first connection's: acknowledged, in the client's socket (a later one's client
       may be gone, and nobody waits for it). */
    if (index == 0 && wait_sent(fd, 2000)) server_mark(s);
    while (read_request(fd))
        if (!send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood")) return;
}

/* ------------------------------------------------------------------ */
/* the harness                                                         */

static server good; /* the well-behaved server every test goes back to */
static alloc_count allocs = {.fail_over = (size_t)1 << 40}; /* past what there is (ASan aborts) */

/* A client that allocates through allocs (on a ring with these flags, if ring_flags). */
static int env_init_tracked_on(env *e, const async_http_client_config *cfg, unsigned ring_flags) {
    async_http_client_config c;
    async_io_config io;
    if (cfg) c = *cfg;
    else memset(&c, 0, sizeof c);
    c.alloc = counting_alloc;
    c.alloc_user = &allocs;
    memset(&io, 0, sizeof io);
    io.flags = ring_flags;
    return env_init_with(e, &c, 0, &io);
}

static int env_init_tracked(env *e, const async_http_client_config *cfg) { return env_init_tracked_on(e, cfg, 0); }

static void pool_is_clean(const async_http_client *c) { CHECK(client_settled(c)); }

/* A good request on the same client succeeds. */
static void client_still_works(env *e) {
    async_http_request r;
    char url[64];
    url_of(url, sizeof url, &good, "/");
    CHECK_EQ(fetch_new(&e->client, &r, "GET", url, 0), 0);
    CHECK_EQ(r.response.status, 200);
    CHECK(r.response.body_len == 2 && memcmp(r.response.body, "ok", 2) == 0);
    async_http_request_release(&r);
    pool_is_clean(&e->client);
}

typedef struct expect {
    scenario play;
    const char *response;   /* for play_send */
    async_time sock_read;   /* the client's read timeout; 0: none */
    async_time total;       /* the request's total timeout; 0: the client's default */
    size_t max_body;
    int error;              /* the expected code */
    const char *message;    /* a part of async_http_request_error() */
    double max_ms;          /* the request ends within this */
} expect;

/* Runs one hostile request and everything that must hold after it. */
static void hostile(const expect *x) {
    env e;
    server s;
    async_http_client_config cfg;
    async_http_request r;
    char url[64];
    double t0, ms, min_ms;
    int fds = count_fds(), err;
    server_start(&s, x->play);
    s.response = x->response;
    memset(&cfg, 0, sizeof cfg);
    cfg.timeout_sock_read = x->sock_read;
    cfg.max_body_size = x->max_body;
    CHECK_EQ(env_init_tracked(&e, &cfg), 0);
    url_of(url, sizeof url, &s, "/");
    t0 = now_ms();
    err = fetch_new(&e.client, &r, "GET", url, x->total);
    ms = now_ms() - t0;
    /* A timeout that ends it never fires before it is due. */
    min_ms = x->error == ASYNC_HTTP_ETIMEOUT_READ ? (double)x->sock_read / 1e6
             : x->error == ASYNC_HTTP_ETIMEOUT_TOTAL ? (double)x->total / 1e6 : 0;
    if (ms < min_ms) fprintf(stderr, "  took %.1f ms, before its timeout of %.0f ms\n", ms, min_ms);
    CHECK(ms >= min_ms);
    CHECK_EQ(err, x->error);
    if (!strstr(async_http_request_error(&r), x->message))
        fprintf(stderr, "  message: \"%s\", expected \"%s\" in it\n", async_http_request_error(&r),
                x->message);
    CHECK(strstr(async_http_request_error(&r), x->message) != NULL);
    if (ms > x->max_ms) fprintf(stderr, "  took %.0f ms, limit %.0f\n", ms, x->max_ms);
    CHECK(ms <= x->max_ms);
    CHECK(r.response.body == NULL && r.response.headers == NULL); /* a failed request holds nothing */
    pool_is_clean(&e.client);
    client_still_works(&e);
    /* The client closed the hostile connection: the server's side of it ends. */
    CHECK(server_drained(&s, 2000));
    env_close(&e);
    server_stop(&s);
    CHECK(server_drained(&good, 2000)); /* its side of the good request's connection */
    CHECK_EQ(count_fds(), fds);
}

/* ------------------------------------------------------------------ */
/* the tests                                                           */

TEST(slowloris_read_timeout) {
    expect x = {play_slowloris, NULL, ASYNC_MS(20), 0, 0, ASYNC_HTTP_ETIMEOUT_READ, "read timeout", 500};
    hostile(&x);
}

/* Bytes come faster than the read timeout: only the total timeout ends it. */
TEST(trickled_head_total_timeout) {
    expect x = {play_trickle_head, NULL, ASYNC_MS(100), ASYNC_MS(250), 0, ASYNC_HTTP_ETIMEOUT_TOTAL,
                "total timeout", 1000};
    hostile(&x);
}

TEST(endless_body_total_timeout) {
    expect x = {play_endless_chunks, NULL, ASYNC_MS(100), ASYNC_MS(250), 0, ASYNC_HTTP_ETIMEOUT_TOTAL,
                "total timeout", 1000};
    hostile(&x);
}

TEST(endless_fast_body_size_limit) {
    expect x = {play_endless_fast, NULL, ASYNC_MS(200), ASYNC_SEC(5), 1 << 20, ASYNC_HTTP_EBODY_TOO_LARGE,
                "body too large", 2000};
    hostile(&x);
}

/* 1xx forever: cut off after the 16th, at once, not when the total timeout passes. */
TEST(interim_flood) {
    expect x = {play_interim_flood, NULL, ASYNC_SEC(5), ASYNC_SEC(5), 0, ASYNC_HTTP_EMALFORMED,
                "too many interim (1xx) responses at byte 400", 1000};
    hostile(&x);
}

TEST(many_headers) {
    expect x = {play_many_headers, NULL, ASYNC_MS(500), 0, 0, ASYNC_HTTP_EHEADER_TOO_LARGE,
                "too many header fields", 2000};
    hostile(&x);
}

TEST(huge_header) {
    expect x = {play_huge_header, NULL, ASYNC_MS(500), 0, 0, ASYNC_HTTP_EHEADER_TOO_LARGE,
                "response head too large at byte 16384", 2000};
    hostile(&x);
}

TEST(content_length_longer_than_body) {
    expect x = {play_send_close, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this much", ASYNC_MS(500),
                0, 0, ASYNC_HTTP_ECLOSED, "closed the connection before the response was complete: connection closed before the end of the body at byte 55", 2000};
    hostile(&x);
}

TEST(closed_without_response) {
    expect x = {play_send_close, "", ASYNC_MS(500), 0, 0, ASYNC_HTTP_ECLOSED, "closed the connection", 2000};
    hostile(&x);
}

TEST(gigantic_chunk_size) {
    expect x = {play_send, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n",
                ASYNC_MS(500), 0, 0, ASYNC_HTTP_EMALFORMED, "chunk size too large at byte 62", 2000};
    hostile(&x);
}

/* The largest chunk size there is, but far over the body limit: the limit fires as the
   bytes come, and no buffer of the announced size is ever asked for. */
TEST(big_chunk_over_body_limit) {
    static char resp[70000];
    expect x = {play_send, resp, ASYNC_MS(500), 0, 1000, ASYNC_HTTP_EBODY_TOO_LARGE, "body too large", 2000};
    int n = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4000000000000000\r\n");
    memset(resp + n, 'b', 60000);
    resp[n + 60000] = 0;
    allocs.biggest = 0;
    hostile(&x);
    CHECK(allocs.biggest < 1 << 20); /* the buffers of the config, nothing near 2^62 */
}

TEST(garbage_instead_of_http) {
    expect x = {play_send, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage", ASYNC_MS(500), 0, 0,
                ASYNC_HTTP_EMALFORMED, "invalid HTTP version at byte 0", 2000};
    hostile(&x);
    x.response = "SSH-2.0-OpenSSH_9.6\r\n";
    hostile(&x);
    x.response = "HTTP/2 200\r\n\r\n";
    x.message = "unsupported HTTP version at byte 5";
    hostile(&x);
}

TEST(reset_after_headers) {
    expect x = {play_reset_after_headers, NULL, ASYNC_MS(500), 0, 0, ASYNC_HTTP_ERESET, "reset", 2000};
    hostile(&x);
}

TEST(reset_before_response) {
    expect x = {play_reset_at_once, NULL, ASYNC_MS(500), 0, 0, ASYNC_HTTP_ERESET, "reset", 2000};
    hostile(&x);
}

/* Hostile servers and a good one at once, on one client: every hostile request ends in its
   own error, every good one succeeds, and they all share the pool and the loop. */
TEST(hostile_and_good_together) {
    enum { NBAD = 4, NGOOD = 20, N = NBAD + NGOOD };
    static const scenario plays[NBAD] = {play_slowloris, play_endless_chunks, play_many_headers,
                                         play_reset_after_headers};
    static const int errors[NBAD] = {ASYNC_HTTP_ETIMEOUT_READ, ASYNC_HTTP_ETIMEOUT_TOTAL,
                                     ASYNC_HTTP_EHEADER_TOO_LARGE, ASYNC_HTTP_ERESET};
    static async_http_request reqs[N];
    static char urls[N][64];
    env e;
    server bad[NBAD];
    async_http_client_config cfg;
    async_future *futs[N];
    async_link links[N];
    async_gather_op g;
    int i, fds = count_fds();
    memset(&cfg, 0, sizeof cfg);
    /* Real time, so with room on both sides: the loris's 400 ms silence passes the read
       timeout, and the reset 20 ms after the head comes well within it, even on a busy
       machine (30 ms left 10 ms of room, and a loaded CI ran out of it). */
    cfg.timeout_sock_read = ASYNC_MS(200);
    CHECK_EQ(env_init_tracked(&e, &cfg), 0);
    for (i = 0; i < N; i++) {
        if (i < NBAD) {
            server_start(&bad[i], plays[i]);
            bad[i].delay_ms = 400;
            url_of(urls[i], sizeof urls[i], &bad[i], "/");
        } else {
            url_of(urls[i], sizeof urls[i], &good, "/");
        }
        memset(&reqs[i], 0, sizeof reqs[i]);
        reqs[i].timeout = ASYNC_MS(1000);
        futs[i] = async_http_get(&e.client, &reqs[i], urls[i]);
    }
    CHECK_EQ(async_run(&e.loop, async_gather(&g, futs, links, N, 1)), 0);
    for (i = 0; i < NBAD; i++) {
        if (async_error(futs[i]) != errors[i])
            fprintf(stderr, "  hostile %d: %s\n", i, async_http_request_error(&reqs[i]));
        CHECK_EQ(async_error(futs[i]), errors[i]);
    }
    for (i = NBAD; i < N; i++) {
        CHECK_EQ(async_result(futs[i]), 200);
        CHECK(reqs[i].response.body_len == 2 && memcmp(reqs[i].response.body, "ok", 2) == 0);
    }
    for (i = 0; i < N; i++) async_http_request_release(&reqs[i]);
    pool_is_clean(&e.client);
    client_still_works(&e);
    for (i = 0; i < NBAD; i++) CHECK(server_drained(&bad[i], 2000));
    env_close(&e);
    for (i = 0; i < NBAD; i++) server_stop(&bad[i]);
    CHECK(server_drained(&good, 2000));
    CHECK_EQ(count_fds(), fds);
}

/* A Content-Length over max_body_size fails as soon as the head is in, before any body
   byte comes (300 ms later), and no buffer of the announced size is asked for. */
TEST(content_length_over_body_limit_head_alone) {
    expect x = {play_head_then_body, "HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387904\r\n\r\nabc",
                ASYNC_MS(1000), 0, 0, ASYNC_HTTP_EBODY_TOO_LARGE, "body too large", 200};
    allocs.biggest = 0;
    hostile(&x);
    x.response = "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\nabc";
    hostile(&x);
    CHECK(allocs.biggest < 1 << 20);
}

/* The same with the head and the first body bytes in one read: the body callback sees the
   announced length before the client looks at the head. Found by this suite (the client
   allocated the announced 2^62 bytes and failed with ASYNC_HTTP_ENOMEM); fixed in 8550dce. */
TEST(content_length_over_body_limit) {
    expect x = {play_send_close, "HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387904\r\n\r\nabc", ASYNC_MS(500),
                0, 0, ASYNC_HTTP_EBODY_TOO_LARGE, "body too large", 2000};
    allocs.biggest = 0;
    hostile(&x);
    /* 100 MB announced, 64 MiB allowed: nothing near 100 MB is allocated either */
    x.response = "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\nabc";
    allocs.biggest = 0;
    hostile(&x);
    CHECK(allocs.biggest < 1 << 20);
}

/* A response nobody asked for, sent after a complete one on a kept-alive connection, must
   not be taken as the answer to the next request on that connection. (Found by this suite;
   fixed in 1af4d4e by peeking at an idle connection before reuse.) A GET and a POST (which
   is never retried, so its connection is always checked), on the rings older kernels give:
   without DEFER_TASKRUN the idle watch's receive may have taken the bytes (the test's own
   syscalls run its task work) before the loop has seen that it did. */
static void unsolicited(const char *method, unsigned ring_flags) {
    env e;
    server s;
    async_http_request r;
    char url[64];
    server_start(&s, play_unsolicited);
    CHECK_EQ(env_init_tracked_on(&e, NULL, ring_flags), 0);
    url_of(url, sizeof url, &s, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK(r.response.body_len == 2 && memcmp(r.response.body, "ok", 2) == 0);
    async_http_request_release(&r);
    WAIT_UNTIL(server_get(&s, &s.marks) == 1, 2000);
    CHECK_EQ(server_get(&s, &s.marks), 1); /* the unsolicited bytes are in the pooled connection's socket */
    /* A proper answer: "good" on that connection, or "ok" on a new one; never "evil". */
    memset(&r, 0, sizeof r);
    r.body = "x", r.body_len = !strcmp(method, "POST");
    CHECK_EQ(fetch(&e.client, &r, method, url), 0);
    if (r.response.body_len == 4 && memcmp(r.response.body, "evil", 4) == 0)
        fprintf(stderr, "  the %s (ring flags %#x) got \"evil\", sent before it was asked\n", method, ring_flags);
    CHECK((r.response.body_len == 4 && memcmp(r.response.body, "good", 4) == 0) ||
          (r.response.body_len == 2 && memcmp(r.response.body, "ok", 2) == 0));
    async_http_request_release(&r);
    pool_is_clean(&e.client);
    env_close(&e);
    server_stop(&s);
}

TEST(unsolicited_response_not_taken_for_the_next) {
    /* 0: the best the kernel takes; then COOP_TASKRUN alone (kernels 5.19-6.0), and no task
       run flag at all (SUBMIT_ALL is only there to be nonzero). Ignored on epoll. */
    const unsigned rings[] = {0, IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN, IORING_SETUP_SUBMIT_ALL};
    size_t i;
    for (i = 0; i < sizeof rings / sizeof rings[0]; i++) {
        unsolicited("GET", rings[i]);
        unsolicited("POST", rings[i]);
    }
}

static int fds_at_start;

/* Last: nothing of all the above is left open. */
TEST(no_fd_left) {
    server_stop(&good);
    if (count_fds() != fds_at_start)
        fprintf(stderr, "  fds: %d at the start, %d at the end\n", fds_at_start, count_fds());
    CHECK_EQ(count_fds(), fds_at_start);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    fds_at_start = count_fds();
    server_start(&good, play_ok);
    RUN(slowloris_read_timeout);
    RUN(trickled_head_total_timeout);
    RUN(endless_body_total_timeout);
    RUN(endless_fast_body_size_limit);
    RUN(interim_flood);
    RUN(many_headers);
    RUN(huge_header);
    RUN(content_length_longer_than_body);
    RUN(closed_without_response);
    RUN(gigantic_chunk_size);
    RUN(big_chunk_over_body_limit);
    RUN(garbage_instead_of_http);
    RUN(reset_after_headers);
    RUN(reset_before_response);
    RUN(hostile_and_good_together);
    RUN(content_length_over_body_limit_head_alone);
    RUN(content_length_over_body_limit);
    RUN(unsolicited_response_not_taken_for_the_next);
    RUN(no_fd_left);
    return test_summary("hostile");
}
