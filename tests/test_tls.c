/* test_tls.c - https:// end to end: nginx with TLS (certificates from a CA the test makes),
 * keep-alive and session resumption counted on nginx's side, every certificate and handshake
 * failure ending in its named error (and the client going on), truncation, cancellation. */
#define _GNU_SOURCE
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"
#include "test.h"
#include "net.h"
#include "tls.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>

static fixture servers;
static int nginx_port;
static char big[1 << 20];

static int start_nginx(void) {
    char server[2048], http[256];
    nginx_options o;
    size_t i;
    if (!fixture_init(&servers, "async_http_tls")) return 0;
    tls_make_pki(servers.root);
    fixture_write(&servers, "small.json", "{\"name\": \"Leia Organa\", \"height\": \"150\"}", 41);
    for (i = 0; i < sizeof big; i++) big[i] = (char)('a' + (i * 13 + i / 997) % 26);
    fixture_write(&servers, "big.bin", big, sizeof big);
    snprintf(http, sizeof http, "log_format tls '$connection $ssl_session_reused $request_uri'; keepalive_requests 1000;");
    snprintf(server, sizeof server,
             "ssl_certificate %s/good.pem; ssl_certificate_key %s/good.key;\n"
             "  ssl_session_cache shared:T:1m; ssl_session_tickets on;\n"
             "  access_log %s/access.log tls;\n"
             "  gzip on; gzip_min_length 0; gzip_types *;",
             servers.root, servers.root, servers.root);
    memset(&o, 0, sizeof o);
    o.worker_connections = 256;
    o.listen = "ssl";
    o.http = http;
    o.server = server;
    nginx_port = fixture_nginx(&servers, &o);
    return nginx_port && wait_for_port(nginx_port);
}

static void https_url(char *out, size_t n, int port, const char *path) {
    snprintf(out, n, "https://127.0.0.1:%d%s", port, path);
}

/* A client that trusts the test's CA (or nothing at all, insecure), on a ring of io's
   (NULL: the default) and a stall clock if stalling. */
static int tls_env_on(env *e, int insecure, async_time connect_timeout, int stalling, const async_io_config *io) {
    static char ca[512];
    async_http_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    tls_path(ca, sizeof ca, servers.root, "ca.pem");
    cfg.ca_file = ca;
    cfg.insecure = insecure;
    cfg.timeout_connect = connect_timeout;
    return env_init_with(e, &cfg, stalling, io);
}

static int tls_env(env *e, int insecure, async_time connect_timeout, int stalling) {
    return tls_env_on(e, insecure, connect_timeout, stalling, NULL);
}

/* The access log's lines for uri: "<connection> <reused> <uri>", in order. */
static int log_lines_now(const char *uri, char lines[][64], int max) {
    char path[512], line[256];
    int n = 0;
    FILE *f;
    tls_path(path, sizeof path, servers.root, "access.log");
    if (!(f = fopen(path, "r"))) return 0;
    while (fgets(line, sizeof line, f) && n < max) {
        char *sp = strrchr(line, ' ');
        if (sp && !strncmp(sp + 1, uri, strlen(uri)) && sp[1 + strlen(uri)] == '\n') { line[63] = 0; memcpy(lines[n++], line, 64); }
    }
    fclose(f);
    return n;
}

/* The same, once there are `want` of them: nginx writes a line just after each response. */
static int log_lines(const char *uri, char lines[][64], int max, int want) {
    WAIT_UNTIL(log_lines_now(uri, lines, max) >= want, 2000);
    return log_lines_now(uri, lines, max);
}

/* A good request to nginx on this client works (after whatever failed before it). */
static int still_works(env *e) {
    async_http_request r;
    char url[128];
    int ok;
    https_url(url, sizeof url, nginx_port, "/small.json");
    ok = fetch_new(&e->client, &r, "GET", url, ASYNC_SEC(5)) == 0 && r.response.status == 200 &&
         r.response.body_len == 41;
    async_http_request_release(&r);
    return ok;
}

/* ------------------------------------------------------------------ */
/* nginx                                                               */

TEST(https_get_head_chunked_big) {
    env e;
    async_http_request r;
    char url[128];
    const char *const identity[] = {"Accept-Encoding: identity", NULL};
    size_t len;
    const char *v;
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    https_url(url, sizeof url, nginx_port, "/small.json");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK_EQ(r.response.status, 200);
    CHECK(r.response.body_len == 41 && !memcmp(r.response.body, "{\"name\": \"Leia Organa\"", 22));
    async_http_request_release(&r);

    memset(&r, 0, sizeof r);
    r.headers = identity; /* not gzip'd: nginx says how long it is */
    CHECK_EQ(fetch(&e.client, &r, "HEAD", url), 0);
    CHECK_EQ(r.response.status, 200);
    CHECK_EQ(r.response.body_len, 0);
    v = async_http_response_header(&r.response, "content-length", &len);
    CHECK(v && len == 2 && !memcmp(v, "41", 2));
    async_http_request_release(&r);

    /* gzip'd by nginx in chunks, decoded as it streams */
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    v = async_http_response_header(&r.response, "transfer-encoding", &len);
    CHECK(v && len == 7 && !memcmp(v, "chunked", 7));
    v = async_http_response_header(&r.response, "content-encoding", &len);
    CHECK(v && len == 4 && !memcmp(v, "gzip", 4));
    CHECK(r.response.body_len == 41 && !memcmp(r.response.body, "{\"name\": \"Leia Organa\"", 22));
    async_http_request_release(&r);

    https_url(url, sizeof url, nginx_port, "/big.bin");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK(r.response.body_len == sizeof big && !memcmp(r.response.body, big, sizeof big));
    async_http_request_release(&r);
    CHECK_EQ(client_stats(&e.client).tls_handshakes, 1); /* all of it on one connection */
    CHECK(client_settled(&e.client));
    env_close(&e);
}

/* Twenty requests, one connection, one handshake: the client's count and nginx's agree. */
TEST(https_keep_alive_one_handshake) {
    env e;
    async_http_request r;
    char url[128], lines[32][64];
    int i, n, same = 1;
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    https_url(url, sizeof url, nginx_port, "/small.json?keepalive");
    for (i = 0; i < 20; i++) {
        CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
        CHECK_EQ(r.response.status, 200);
        async_http_request_release(&r);
    }
    CHECK_EQ(client_stats(&e.client).tls_handshakes, 1);
    CHECK_EQ(client_connects(&e.client), 1);
    n = log_lines("/small.json?keepalive", lines, 32, 20);
    CHECK_EQ(n, 20);
    for (i = 1; i < n; i++) same &= strtol(lines[i], NULL, 10) == strtol(lines[0], NULL, 10);
    CHECK(same); /* nginx saw one connection */
    env_close(&e);
}

/* Each request closes its connection; the next one resumes the session (no certificate
   exchange), as both the client's count and nginx's $ssl_session_reused say. */
TEST(https_session_resumption) {
    env e;
    async_http_request r;
    char url[128], lines[8][64];
    const char *const close_it[] = {"Connection: close", NULL};
    int i, n;
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    https_url(url, sizeof url, nginx_port, "/small.json?resume");
    for (i = 0; i < 3; i++) {
        memset(&r, 0, sizeof r);
        r.headers = close_it;
        CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
        async_http_request_release(&r);
    }
    CHECK_EQ(client_connects(&e.client), 3);
    CHECK_EQ(client_stats(&e.client).tls_handshakes, 3);
    CHECK_EQ(client_stats(&e.client).tls_resumed, 2);
    n = log_lines("/small.json?resume", lines, 8, 3);
    CHECK_EQ(n, 3);
    if (n == 3) {
        CHECK(strstr(lines[0], " . ") != NULL);
        CHECK(strstr(lines[1], " r ") != NULL);
        CHECK(strstr(lines[2], " r ") != NULL);
    }
    env_close(&e);
}

/* ------------------------------------------------------------------ */
/* scripted TLS peers                                                  */

typedef struct failure {
    const char *cert;    /* the server's certificate (NULL: the scenario needs none) */
    int min_version;     /* the server's only TLS version, if not 0 */
    scenario play;
    const char *host;    /* the URL's host (NULL: 127.0.0.1) */
    const char *response;
    int error;           /* what the request must end with */
    const char *message; /* a part of its message */
    int insecure_ok;     /* insecure, the same request succeeds */
} failure;

/* took: NULL, or where the loop's time the request took goes, on a stall clock. */
static int run_against(const failure *x, int insecure, async_time connect_timeout, char *msg, size_t msg_len,
                       async_time *took) {
    env e;
    server s;
    async_http_request r;
    char url[128];
    int err;
    async_time t0;
    SSL_CTX *ctx = x->cert ? tls_server_ctx(servers.root, x->cert, x->min_version, x->min_version) : NULL;
    tls_scenario_ctx = ctx;
    server_start(&s, x->play);
    s.response = x->response ? x->response : OK_RESPONSE;
    CHECK_EQ(tls_env(&e, insecure, connect_timeout, took != NULL), 0);
    snprintf(url, sizeof url, "https://%s:%d/", x->host ? x->host : "127.0.0.1", s.port);
    t0 = async_now(&e.loop);
    err = fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5));
    if (took) *took = async_now(&e.loop) - t0;
    snprintf(msg, msg_len, "%s", async_http_request_error(&r));
    async_http_request_release(&r);
    CHECK(client_settled(&e.client));
    CHECK(still_works(&e)); /* the client goes on */
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
    return err;
}

static void expect_failure(const failure *x) {
    char msg[512];
    int err = run_against(x, 0, ASYNC_SEC(2), msg, sizeof msg, NULL);
    if (err != x->error || !strstr(msg, x->message))
        fprintf(stderr, "  %s: got %d \"%s\", expected %d with \"%s\"\n", x->cert ? x->cert : "-", err, msg,
                x->error, x->message);
    CHECK_EQ(err, x->error);
    CHECK(strstr(msg, x->message) != NULL);
    if (x->insecure_ok) CHECK_EQ(run_against(x, 1, ASYNC_SEC(2), msg, sizeof msg, NULL), 0);
}

TEST(certificate_failures) {
    failure xs[] = {
        {"stranger", 0, play_tls_ok, NULL, NULL, ASYNC_HTTP_ETLS_CERT, "unable to get local issuer certificate", 1},
        {"expired", 0, play_tls_ok, NULL, NULL, ASYNC_HTTP_ETLS_CERT, "certificate has expired", 1},
        {"self", 0, play_tls_ok, NULL, NULL, ASYNC_HTTP_ETLS_CERT, "self", 1},
        {"other", 0, play_tls_ok, NULL, NULL, ASYNC_HTTP_ETLS_NAME, "IP address mismatch", 1},
        {"other", 0, play_tls_ok, "localhost", NULL, ASYNC_HTTP_ETLS_NAME, "hostname mismatch", 1},
        /* the good one, by name: SNI and the name check pass */
        {"good", 0, play_tls_ok, "localhost", NULL, 0, "success", 1},
    };
    size_t i;
    for (i = 0; i < sizeof xs / sizeof xs[0]; i++) expect_failure(&xs[i]);
}

TEST(handshake_failures) {
    failure xs[] = {
        {"good", TLS1_VERSION, play_tls_ok, NULL, NULL, ASYNC_HTTP_ETLS_HANDSHAKE, "protocol version", 0},
        {NULL, 0, play_plain_http, NULL, NULL, ASYNC_HTTP_ETLS_HANDSHAKE, "plain HTTP", 0},
        {NULL, 0, play_tls_close_early, NULL, NULL, ASYNC_HTTP_ETLS_HANDSHAKE, "TLS handshake failed: ", 0},
    };
    size_t i;
    for (i = 0; i < sizeof xs / sizeof xs[0]; i++) expect_failure(&xs[i]);
}

/* A peer that goes silent mid-handshake: the connect timeout covers the handshake, and
   ends it exactly when due (a stall clock). */
TEST(handshake_stall_is_connect_timeout) {
    failure x = {NULL, 0, play_tls_stall, NULL, NULL, ASYNC_HTTP_ETIMEOUT_CONNECT, "connect timeout", 0};
    char msg[512];
    async_time took;
    CHECK_EQ(run_against(&x, 0, ASYNC_MS(300), msg, sizeof msg, &took), ASYNC_HTTP_ETIMEOUT_CONNECT);
    CHECK(strstr(msg, "connect timeout") != NULL);
    CHECK(fired_on_time(took, ASYNC_MS(300)));
}

/* A body that ends with the connection ends only with close_notify: a plain TCP close is a
   truncation. A Content-Length body cut short is the usual ECLOSED. With close_notify, the
   same close-delimited body is whole. */
TEST(truncation_without_close_notify) {
    failure cut = {"good", 0, play_tls_cut, NULL, "HTTP/1.1 200 OK\r\n\r\nall of it, or is it", ASYNC_HTTP_ETLS_TRUNCATED,
                   "close_notify", 0};
    failure cut_length = {"good", 0, play_tls_cut, NULL, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial",
                          ASYNC_HTTP_ECLOSED, "before the end of the body", 0};
    expect_failure(&cut);
    expect_failure(&cut_length);
}

static void play_tls_once(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    (void)index;
    if (!ssl) return;
    if (tls_read_request(ssl)) tls_send_str(ssl, s->response);
    SSL_shutdown(ssl); /* close_notify: the body ends here, for real */
    SSL_free(ssl);
}

TEST(close_delimited_body_with_close_notify) {
    failure x = {"good", 0, play_tls_once, NULL, "HTTP/1.1 200 OK\r\n\r\nall of it", 0, "success", 0};
    env e;
    server s;
    async_http_request r;
    char url[128];
    SSL_CTX *ctx = tls_server_ctx(servers.root, x.cert, 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, x.play);
    s.response = x.response;
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    https_url(url, sizeof url, s.port, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    CHECK(r.response.body_len == 9 && !memcmp(r.response.body, "all of it", 9));
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

/* Cancelled mid-handshake: the request ends cancelled once the kernel let go, and nothing
   of it is left (fds, pool, memory: ASan). */
TEST(cancel_mid_handshake) {
    env e;
    server s;
    async_http_request r;
    async_timer t;
    char url[128];
    int fds;
    server_start(&s, play_tls_stall);
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    fds = count_fds();
    https_url(url, sizeof url, s.port, "/");
    memset(&r, 0, sizeof r);
    memset(&t, 0, sizeof t);
    async_http_get(&e.client, &r, url);
    async_run(&e.loop, async_sleep(&e.loop, &t, ASYNC_MS(100)));
    CHECK(!async_done(&r.task.future));
    async_cancel(&r.task);
    CHECK_EQ(async_run(&e.loop, &r.task.future), ASYNC_ECANCELED);
    CHECK(client_settled(&e.client));
    env_flush(&e);
    CHECK(server_drained(&s, 2000)); /* the client closed its end */
    CHECK_EQ(count_fds(), fds);      /* nothing of the request is left open */
    CHECK(still_works(&e));
    env_close(&e);
    server_stop(&s);
}

/* Cancelled while it waits for the response: the TLS read is withdrawn, nothing is left. */
TEST(cancel_mid_tls_read) {
    env e;
    server s;
    async_http_request r;
    async_timer t;
    char url[128];
    int fds;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_silent);
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    fds = count_fds();
    https_url(url, sizeof url, s.port, "/");
    memset(&r, 0, sizeof r);
    memset(&t, 0, sizeof t);
    async_http_get(&e.client, &r, url);
    async_run(&e.loop, async_sleep(&e.loop, &t, ASYNC_MS(150)));
    CHECK(!async_done(&r.task.future));
    CHECK_EQ(client_stats(&e.client).tls_handshakes, 1); /* it is past the handshake, reading */
    async_cancel(&r.task);
    CHECK_EQ(async_run(&e.loop, &r.task.future), ASYNC_ECANCELED);
    CHECK(client_settled(&e.client));
    env_flush(&e);
    CHECK(server_drained(&s, 2000));
    CHECK_EQ(count_fds(), fds);
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

/* A client that closes its pooled connections says close_notify first. */
TEST(close_notify_on_clean_close) {
    env e;
    server s;
    async_http_request r;
    char url[128];
    int i;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    tls_closed_clean = tls_closed_unclean = 0;
    server_start(&s, play_tls_ok);
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    https_url(url, sizeof url, s.port, "/");
    for (i = 0; i < 3; i++) {
        CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
        async_http_request_release(&r);
    }
    env_close(&e);
    CHECK(server_drained(&s, 2000));
    CHECK_EQ(server_get(&s, &tls_closed_clean), 1);
    CHECK_EQ(server_get(&s, &tls_closed_unclean), 0);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

/* ------------------------------------------------------------------ */
/* TLS's own messages on an idle pooled connection                     */

/* What play_tls_idle_talk says between two requests: a session ticket and a key update
   (not asking for one back), sent while the client's connection is idle in the pool (once
   the test releases the server), or sent in the same segment as the response's end. */
enum { TALK_WHILE_IDLE, TALK_WITH_RESPONSE };
static int talk_mode;
static int talk_sent; /* under the server's lock: the times it spoke */

static void play_tls_idle_talk(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    int on = 1, off = 0;
    (void)index;
    if (!ssl) return;
    while (tls_read_request(ssl)) {
        if (talk_mode == TALK_WITH_RESPONSE) setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
        if (!tls_send_str(ssl, OK_RESPONSE)) break;
        if (talk_mode == TALK_WHILE_IDLE && !server_gate(s)) break;
        SSL_new_session_ticket(ssl);
        SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED);
        if (SSL_do_handshake(ssl) != 1) break;
        if (talk_mode == TALK_WITH_RESPONSE) setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
        pthread_mutex_lock(&s->lock);
        talk_sent++;
        pthread_mutex_unlock(&s->lock);
    }
    SSL_free(ssl);
}

typedef struct talk_seen {
    env *e;
    server *s;
    int n;
} talk_seen;

/* The server spoke n times and the client's idle connection has read all of it. */
static int talk_seen_cond(void *arg) {
    talk_seen *t = (talk_seen *)arg;
    async_http__conn *k = t->e->client._idle_newest;
    int unread = -1;
    if (server_get(t->s, &talk_sent) < t->n || !k) return 0;
    return ioctl(k->s.fd, FIONREAD, &unread) == 0 && unread == 0;
}

/* Tickets and key updates are TLS's own: the connection stays pooled and is reused. */
static void tls_idle_talk(int mode) {
    env e;
    server s;
    async_http_request r;
    talk_seen seen;
    char url[128];
    int i;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", TLS1_3_VERSION, TLS1_3_VERSION);
    tls_scenario_ctx = ctx;
    talk_mode = mode;
    talk_sent = 0;
    server_start(&s, play_tls_idle_talk);
    if (mode == TALK_WHILE_IDLE) server_hold(&s);
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    https_url(url, sizeof url, s.port, "/");
    seen.e = &e, seen.s = &s;
    for (i = 1; i <= 3; i++) {
        CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
        async_http_request_release(&r);
        if (mode == TALK_WHILE_IDLE) server_release(&s);
        seen.n = i;
        CHECK(run_until(&e.loop, talk_seen_cond, &seen, 2000));
        if (mode == TALK_WHILE_IDLE) server_hold(&s);
        CHECK_EQ(client_stats(&e.client).idle, 1);
    }
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    async_http_request_release(&r);
    CHECK_EQ(client_connects(&e.client), 1); /* one connection all along */
    server_release(&s);
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

TEST(tls_talk_while_idle_keeps_connection) { tls_idle_talk(TALK_WHILE_IDLE); }
TEST(tls_talk_with_response_keeps_connection) { tls_idle_talk(TALK_WITH_RESPONSE); }

/* ------------------------------------------------------------------ */
/* TLS's own messages in the middle of a body                          */

/* Each response: a body of 4 x 20 KB, and after each piece TLS's own message: a key update
   that asks for one back (TLS 1.3, mid_talk KEY_UPDATE), or (TLS 1.2) a renegotiation the
   server starts after the second piece. */
enum { MID_KEY_UPDATE, MID_RENEGOTIATE };
static int mid_talk;

static void play_tls_mid_body(server *s, int fd, int index) {
    static char piece[20000];
    SSL *ssl = tls_accept(fd);
    int i;
    (void)s, (void)index;
    if (!ssl) return;
    memset(piece, 'x', sizeof piece);
    while (tls_read_request(ssl)) {
        char head[128];
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 4 * (int)sizeof piece);
        if (!tls_send_str(ssl, head)) break;
        for (i = 0; i < 4; i++) {
            if (SSL_write(ssl, piece, sizeof piece) <= 0) goto out;
            if (mid_talk == MID_KEY_UPDATE && !SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED)) goto out;
            if (mid_talk == MID_RENEGOTIATE && i == 1 && !SSL_renegotiate(ssl)) goto out;
            if (SSL_do_handshake(ssl) != 1) goto out;
        }
    }
out:
    SSL_shutdown(ssl);
    SSL_free(ssl);
}

/* The client answers (a key update) or goes along (a renegotiation: a new connection for
   the next request), and every request succeeds. A key update keeps the connection: one for
   all three requests, closed cleanly so that its session stays good. */
static void tls_talk_mid_body(int talk) {
    env e;
    server s;
    async_http_request r;
    char url[128];
    int i;
    SSL_CTX *ctx = talk == MID_KEY_UPDATE ? tls_server_ctx(servers.root, "good", TLS1_3_VERSION, TLS1_3_VERSION)
                                          : tls_server_ctx(servers.root, "good", 0, TLS1_2_VERSION);
    tls_scenario_ctx = ctx;
    mid_talk = talk;
    server_start(&s, play_tls_mid_body);
    CHECK_EQ(tls_env(&e, 0, ASYNC_SEC(3), 0), 0);
    https_url(url, sizeof url, s.port, "/");
    for (i = 0; i < 3; i++) {
        int err = fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5));
        if (err) fprintf(stderr, "  request %d: %s\n", i, async_http_request_error(&r));
        CHECK_EQ(err, 0);
        CHECK_EQ(r.response.body_len, 80000);
        async_http_request_release(&r);
    }
    if (talk == MID_KEY_UPDATE) CHECK_EQ(client_connects(&e.client), 1);
    CHECK(client_settled(&e.client));
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

TEST(tls_key_update_mid_body_keeps_connection) { tls_talk_mid_body(MID_KEY_UPDATE); }
TEST(tls_renegotiation_mid_body_then_next_request) { tls_talk_mid_body(MID_RENEGOTIATE); }

/* ------------------------------------------------------------------ */
/* what a failure is called                                            */

/* A server that picks an ALPN protocol the client never offered. */
static int alpn_h2(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                   unsigned inlen, void *arg) {
    (void)ssl, (void)in, (void)inlen, (void)arg;
    *out = (const unsigned char *)"h2";
    *outlen = 2;
    return SSL_TLSEXT_ERR_OK;
}

static int fail_with_ctx(SSL_CTX *ctx, int insecure, char *msg, size_t msg_len) {
    env e;
    server s;
    async_http_request r;
    char url[128];
    int err;
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_ok);
    CHECK_EQ(tls_env(&e, insecure, ASYNC_SEC(3), 0), 0);
    https_url(url, sizeof url, s.port, "/");
    err = fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5));
    snprintf(msg, msg_len, "%s", async_http_request_error(&r));
    async_http_request_release(&r);
    CHECK(still_works(&e));
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
    return err;
}

/* A handshake the client itself gives up (a protocol it did not offer) says why; with
   insecure, a failure past the certificate (the server wants one of the client's) is not
   blamed on the certificate that insecure did not check. */
TEST(handshake_failure_reasons) {
    char msg[512];
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_h2, NULL);
    CHECK_EQ(fail_with_ctx(ctx, 0, msg, sizeof msg), ASYNC_HTTP_ETLS_HANDSHAKE);
    CHECK(strstr(msg, "bad extension") != NULL);
    CHECK(strstr(msg, "unknown reason") == NULL);

    ctx = tls_server_ctx(servers.root, "self", 0, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    CHECK_EQ(fail_with_ctx(ctx, 1, msg, sizeof msg), ASYNC_HTTP_ETLS_HANDSHAKE);
    CHECK(strstr(msg, "handshake failure") != NULL);
    CHECK(strstr(msg, "self-signed") == NULL);
}

/* SNI and the name check without a name's trailing dot (RFC 6066 3: "localhost." is sent
   and checked as "localhost"). */
static char sni_seen[64];

static int resolve_to_loopback(void *user, const char *name, struct sockaddr_storage *addrs, size_t max, size_t *count) {
    struct sockaddr_in *a = (struct sockaddr_in *)&addrs[0];
    (void)user, (void)name, (void)max;
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *count = 1;
    return 0;
}

static int sni_note(SSL *ssl, int *alert, void *arg) {
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    (void)alert, (void)arg;
    snprintf(sni_seen, sizeof sni_seen, "%s", name ? name : "(none)");
    return SSL_TLSEXT_ERR_OK;
}

TEST(sni_without_trailing_dot) {
    env e;
    server s;
    async_http_request r;
    char url[128];
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    static char ca[512];
    async_http_client_config cfg;
    SSL_CTX_set_tlsext_servername_callback(ctx, sni_note);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_ok);
    memset(&cfg, 0, sizeof cfg);
    tls_path(ca, sizeof ca, servers.root, "ca.pem");
    cfg.ca_file = ca;
    cfg.resolver = resolve_to_loopback; /* the system's may not know "localhost." */
    CHECK_EQ(env_init(&e, &cfg), 0);
    snprintf(url, sizeof url, "https://localhost.:%d/", s.port);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&s);
    CHECK(strcmp(sni_seen, "localhost") == 0);
    SSL_CTX_free(ctx);
}

/* A big upload is made ciphertext a piece at a time, and what a short send left is moved to
   the buffer's start before the next piece: the pooled connection keeps no buffer of the
   body's size, also when sends come back short (a small send buffer, a reader that pauses). */
#define TLS_UPLOAD_BYTES (2L << 20)

static void play_tls_drain(server *s, int fd, int index) {
    static char buf[4096];
    SSL *ssl;
    long total = 0;
    int n;
    (void)s, (void)index;
    if (!(ssl = tls_accept(fd))) return;
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) {
        if ((total & 0xffff) < 4096) msleep(1);
        if ((total += n) >= TLS_UPLOAD_BYTES) {
            tls_send_str(ssl, OK_RESPONSE);
            total = 0;
        }
    }
    SSL_free(ssl);
}

/* Once the connection speaks TLS: a small send buffer, so that sends come back short. */
static void small_send_buffer(void *user, async_http_request *req, int what, const char *text, size_t len) {
    async_http_client *c = (async_http_client *)user;
    size_t i;
    int small = 16384;
    (void)req, (void)text, (void)len;
    if (what != ASYNC_HTTP_TRACE_TLS) return;
    for (i = 0; i < c->config.limit; i++)
        if (c->_conns[i].s.fd >= 0) setsockopt(c->_conns[i].s.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
}

TEST(tls_upload_keeps_no_body_sized_buffer) {
    env e;
    server s;
    async_http_request r;
    char url[128];
    size_t i, cap = 0, len = TLS_UPLOAD_BYTES;
    char *body = (char *)calloc(len, 1);
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_drain);
    CHECK_EQ(tls_env(&e, 0, ASYNC_SEC(3), 0), 0);
    e.client.config.trace = small_send_buffer;
    e.client.config.trace_user = &e.client;
    https_url(url, sizeof url, s.port, "/");
    memset(&r, 0, sizeof r);
    r.body = body;
    r.body_len = len; /* with the head, a little more: the server answers when the body is in */
    CHECK_EQ(fetch(&e.client, &r, "POST", url), 0);
    CHECK_EQ(r.response.status, 200);
    async_http_request_release(&r);
    CHECK_EQ(client_stats(&e.client).idle, 1);
    for (i = 0; i < e.client.config.limit; i++)
        if (e.client._conns[i].s._cout_cap > cap) cap = e.client._conns[i].s._cout_cap;
    CHECK(cap <= (256 << 10));
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
    free(body);
}

/* One answer, then (once the test lets it) a record nobody asked for, acknowledged. */
static void play_tls_stray(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    (void)index;
    if (!ssl) return;
    if (tls_read_request(ssl) && tls_send_str(ssl, OK_RESPONSE) && server_gate(s) && tls_send_str(ssl, "evil") &&
        wait_sent(fd, 2000))
        server_mark(s);
    while (tls_read_request(ssl) && tls_send_str(ssl, OK_RESPONSE)) {
    }
    SSL_free(ssl);
}

/* A stray record on an idle pooled connection, on a ring without task-run flags (kernels
   before 5.19's COOP_TASKRUN): the kernel runs the watch's receive at this thread's next
   syscall, before the loop has seen it end. Asked, the idle check does not call the
   stream clean: it cannot look at those bytes yet. (On epoll the peek sees them.) */
TEST(tls_stray_record_unseen_not_clean) {
    env e;
    server s;
    async_http_request r;
    async_io_config io;
    char url[128];
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_stray);
    server_hold(&s);
    memset(&io, 0, sizeof io);
    io.flags = IORING_SETUP_SUBMIT_ALL; /* nonzero, and no task-run flag */
    CHECK_EQ(tls_env_on(&e, 0, 0, 0, &io), 0);
    https_url(url, sizeof url, s.port, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    async_http_request_release(&r);
    CHECK(e.client._idle_newest != NULL);
    env_flush(&e); /* the idle watch's receive goes to the kernel */
    server_release(&s);
    WAIT_UNTIL(server_get(&s, &s.marks) == 1, 2000);
    CHECK_EQ(server_get(&s, &s.marks), 1); /* in the client's socket, or taken by its receive */
    if (e.client._idle_newest) CHECK(!async_stream_idle_clean(&e.client._idle_newest->s, 1));
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

/* What the first connection's server sends right behind its answer ("ok"), once the
   test lets it: a stray response, a session ticket, or a stray response's record cut in
   two, its first half before the next request and the rest after it (seen by the loop
   before that request, or not, or sent with the answer). Later answers are "good". */
enum { BEHIND_STRAY, BEHIND_TICKET, BEHIND_HALF_RECORD, BEHIND_HALF_RECORD_SEEN, BEHIND_HALF_WITH_ANSWER };
static int behind_what;

/* The ciphertext of one record of text, not sent: written into a memory BIO in the
   socket's place. */
static int tls_record_of(SSL *ssl, const char *text, char *out, int cap) {
    BIO *sock = SSL_get_wbio(ssl), *mem = BIO_new(BIO_s_mem());
    int n;
    BIO_up_ref(sock);
    SSL_set0_wbio(ssl, mem);
    tls_send_str(ssl, text);
    n = BIO_read(mem, out, cap);
    SSL_set0_wbio(ssl, sock);
    return n;
}

static void play_tls_behind(server *s, int fd, int index) {
    static const char good[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood";
    static const char evil[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil";
    SSL *ssl = tls_accept(fd);
    char record[512], both[1024];
    int n = 0, ok;
    if (!ssl) return;
    if (index == 0 && behind_what == BEHIND_HALF_WITH_ANSWER && tls_read_request(ssl)) {
        ok = tls_record_of(ssl, OK_RESPONSE, both, sizeof both);
        n = tls_record_of(ssl, evil, record, sizeof record);
        memcpy(both + ok, record, (size_t)n / 2);
        if (send_all(fd, both, (size_t)ok + (size_t)n / 2) && wait_sent(fd, 2000)) server_mark(s);
        if (tls_read_request(ssl)) send_all(fd, record + n / 2, (size_t)(n - n / 2));
    } else if (index == 0 && tls_read_request(ssl) && tls_send_str(ssl, OK_RESPONSE) && server_gate(s)) {
        if (behind_what == BEHIND_STRAY) {
            tls_send_str(ssl, evil);
        } else if (behind_what == BEHIND_TICKET) {
            SSL_new_session_ticket(ssl);
            SSL_do_handshake(ssl); /* sends it */
        } else {
            n = tls_record_of(ssl, evil, record, sizeof record);
            send_all(fd, record, (size_t)n / 2);
        }
        if (wait_sent(fd, 2000)) server_mark(s);
        if (n && tls_read_request(ssl)) send_all(fd, record + n / 2, (size_t)(n - n / 2));
    }
    while (tls_read_request(ssl) && tls_send_str(ssl, good)) {
    }
    SSL_free(ssl);
}

/* Bytes right behind an answer, on a clock that stands still (the idle watch as fresh
   as it gets): the next request is "good". A stray response is nobody's answer, whole or
   cut (on io_uring the watch's receive ends before the request's send: only a ticket
   there may keep the connection; a half record the loop has seen is not a ticket
   either); a ticket is taken, and on io_uring keeps it. */
static void tls_behind(int what, const char *backend) {
    env e;
    server s;
    async_http_request r;
    char url[128];
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    behind_what = what;
    server_start(&s, play_tls_behind);
    server_hold(&s);
    CHECK_EQ(tls_env(&e, 0, 0, 1), 0);
    https_url(url, sizeof url, s.port, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK(r.response.body_len == 2 && !memcmp(r.response.body, "ok", 2));
    async_http_request_release(&r);
    server_release(&s);
    WAIT_UNTIL(server_get(&s, &s.marks) == 1, 2000);
    CHECK_EQ(server_get(&s, &s.marks), 1);
    if (what == BEHIND_HALF_RECORD_SEEN) env_flush(&e), env_flush(&e); /* the watch's receive ends */
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    if (r.response.body_len != 4 || memcmp(r.response.body, "good", 4))
        fprintf(stderr, "  what %d on %s: \"%.*s\"\n", what, backend, (int)r.response.body_len, r.response.body);
    CHECK(r.response.body_len == 4 && !memcmp(r.response.body, "good", 4));
    async_http_request_release(&r);
    if (what != BEHIND_TICKET) CHECK_EQ(client_connects(&e.client), 2);
    else if (!strcmp(backend, "io_uring")) CHECK_EQ(client_connects(&e.client), 1);
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

TEST(tls_bytes_behind_an_answer) {
    env probe;
    char backend[16];
    CHECK_EQ(tls_env(&probe, 0, 0, 0), 0);
    snprintf(backend, sizeof backend, "%s", async_io_backend_name(&probe.io));
    env_close(&probe);
    tls_behind(BEHIND_STRAY, backend);
    tls_behind(BEHIND_TICKET, backend);
    tls_behind(BEHIND_HALF_RECORD, backend);
    tls_behind(BEHIND_HALF_RECORD_SEEN, backend);
    tls_behind(BEHIND_HALF_WITH_ANSWER, backend);
}

/* ------------------------------------------------------------------ */
/* a TLS stream used both ways at once                                  */

/* Echoes what it reads, as it reads it: it stops reading while its writes block. */
/* Marks the ClientHello's arrival, holds the handshake while the server is held, then
   answers as play_tls_ok. */
static void play_tls_held(server *s, int fd, int index) {
    char byte;
    if (recv(fd, &byte, 1, MSG_PEEK) != 1) return;
    server_mark(s);
    if (server_gate(s)) play_tls_ok(s, fd, index);
}

/* An allocator that moves the host table when it grows past 8 hosts, and then (when
   fail_index) refuses the table's new index: the out-of-memory path of the growth. */
static int fail_index, index_refused;
static void *moving_alloc(void *user, void *ptr, size_t size) {
    (void)user;
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    if (ptr && size == 16 * sizeof(async_http__host)) { /* moved for sure */
        void *moved = malloc(size);
        memcpy(moved, ptr, 8 * sizeof(async_http__host));
        free(ptr);
        return moved;
    }
    if (!ptr && fail_index && !index_refused && size == 2 * 16 * sizeof(size_t)) {
        index_refused = 1;
        return NULL;
    }
    return realloc(ptr, size);
}

/* The host table grows (twelve new hosts) while a TLS connection is in its handshake, its
   index made or refused: the session ticket that comes after still goes to the connection's
   host, not into the table's old block (ASan), and the next connection resumes it. */
static void table_grows_mid_handshake(int refuse_index) {
    env e;
    server s;
    async_http_request r, others[12];
    async_timer t;
    async_http_client_config cfg;
    static char ca[512];
    const char *const close_it[] = {"Connection: close", NULL};
    char url[128], urls[12][64];
    int i, dead = free_port(), out_of_memory = 0;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    fail_index = refuse_index, index_refused = 0;
    server_start(&s, play_tls_held);
    server_hold(&s);
    memset(&cfg, 0, sizeof cfg);
    tls_path(ca, sizeof ca, servers.root, "ca.pem");
    cfg.ca_file = ca;
    cfg.alloc = moving_alloc;
    CHECK_EQ(env_init(&e, &cfg), 0);
    https_url(url, sizeof url, s.port, "/");
    memset(&r, 0, sizeof r);
    r.headers = close_it;
    async_http_get(&e.client, &r, url);
    while (!server_get(&s, &s.marks)) async_run(&e.loop, async_sleep(&e.loop, &t, ASYNC_MS(1)));
    for (i = 0; i < 12; i++) { /* refused at once; the table of 8 grows on the way */
        snprintf(urls[i], sizeof urls[i], "http://127.0.0.%d:%d/", i + 2, dead);
        memset(&others[i], 0, sizeof others[i]);
        async_http_get(&e.client, &others[i], urls[i]);
    }
    for (i = 0; i < 12; i++) {
        int err = async_run(&e.loop, &others[i].task.future);
        out_of_memory += err == ASYNC_HTTP_ENOMEM;
        CHECK(err == ASYNC_HTTP_EREFUSED || (refuse_index && err == ASYNC_HTTP_ENOMEM));
        async_http_request_release(&others[i]);
    }
    CHECK_EQ(out_of_memory, refuse_index); /* the one whose entry found no room; the next grew it */
    server_release(&s);
    CHECK_EQ(async_run(&e.loop, &r.task.future), 0);
    CHECK_EQ(r.response.status, 200);
    async_http_request_release(&r);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0); /* a new connection */
    async_http_request_release(&r);
    CHECK_EQ(client_stats(&e.client).tls_handshakes, 2);
    CHECK_EQ(client_stats(&e.client).tls_resumed, 1);
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

TEST(host_table_grows_mid_handshake) {
    table_grows_mid_handshake(0);
    table_grows_mid_handshake(1);
}

/* An IPv6 literal with a zone (RFC 6874's %25, or the bare %): the certificate is checked
   against the address alone, and no SNI goes out for it. */
TEST(ipv6_zone_over_tls) {
    env e;
    server s;
    async_http_request r;
    char url[128];
    const char *forms[] = {"[::1%25lo]", "[::1%lo]", "[::1]"};
    int i;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    if (!server_start6(&s, play_tls_ok)) {
        printf("NOTE ipv6_zone_over_tls: no [::1] here, not checked\n");
        SSL_CTX_free(ctx);
        return;
    }
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    for (i = 0; i < 3; i++) {
        snprintf(url, sizeof url, "https://%s:%d/", forms[i], s.port);
        CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
        if (r.error) fprintf(stderr, "  %s: %s\n", url, async_http_request_error(&r));
        async_http_request_release(&r);
    }
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

/* Answers a request as soon as its head is in (a 413, the body unread) and resets. */
static void play_tls_answer_early(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    (void)index;
    if (!ssl) return;
    if (tls_read_request(ssl)) tls_send_str(ssl, s->response);
    wait_sent(fd, 2000);
    reset_connection(fd);
    SSL_free(ssl);
}

/* Answers as soon as the head is in, and then neither reads on nor hangs up. */
static void play_tls_answer_early_and_hold(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    struct pollfd p;
    (void)index;
    if (!ssl) return;
    if (tls_read_request(ssl)) tls_send_str(ssl, s->response);
    p.fd = fd, p.events = POLLRDHUP; /* the client's close ends it */
    poll(&p, 1, 20000);
    SSL_free(ssl);
}

/* Over TLS, a server that answers early and holds on: the upload stops at the answer. */
TEST(early_answer_and_a_server_that_holds_on) {
    env e;
    server s;
    char url[128];
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_answer_early_and_hold);
    s.response = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo big!";
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    https_url(url, sizeof url, s.port, "/upload");
    CHECK(upload_gets_the_early_answer(&e.client, url));
    CHECK(client_settled(&e.client));
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

/* Over TLS too, the early answer to a long upload is the response, not the reset. */
TEST(early_answer_to_an_upload) {
    env e;
    server s;
    char url[128];
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_answer_early);
    s.response = EARLY_ANSWER;
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    https_url(url, sizeof url, s.port, "/upload");
    CHECK(upload_gets_the_early_answer(&e.client, url));
    CHECK(client_settled(&e.client));
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

static void play_tls_echo(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    char buf[16384];
    int n;
    (void)s, (void)index;
    if (!ssl) return;
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0)
        if (SSL_write(ssl, buf, n) != n) break;
    SSL_free(ssl);
}

#define DUPLEX_BYTES (32 << 20) /* more than both ends' socket buffers hold */
typedef struct duplex_job {
    async_task task;
    async_stream *st;
    char *buf;
    size_t done, n;
    int err;
} duplex_job;

static int duplex_send(async_task *t) {
    duplex_job *j = (duplex_job *)t;
    async_future *f;
    ASYNC_BEGIN(t);
    while ((f = async_stream_send(j->st, j->buf, DUPLEX_BYTES, &j->done, &j->err)) != NULL) ASYNC_AWAIT(t, f);
    ASYNC_END(t);
}

static int duplex_recv(async_task *t) {
    duplex_job *j = (duplex_job *)t;
    async_future *f;
    ASYNC_BEGIN(t);
    while (j->done < DUPLEX_BYTES && !j->err) {
        j->n = 0;
        while ((f = async_stream_recv(j->st, j->buf + j->done, DUPLEX_BYTES - j->done, &j->n, &j->err)) != NULL)
            ASYNC_AWAIT(t, f);
        if (!j->n) break;
        j->done += j->n;
    }
    ASYNC_END(t);
}

/* A stream test's end: the stream settled and closed, its TLS, loop and server let go. */
static void tls_stream_end(env *e, async_stream *st, async_tls *tls, server *s, SSL_CTX *ctx) {
    async_future *f;
    while ((f = async_stream_settle(st)) != NULL) async_run(&e->loop, f);
    async_stream_close(st);
    async_tls_free(tls);
    env_close(e);
    server_stop(s);
    SSL_CTX_free(ctx);
}

/* A receiver and a sender (of DUPLEX_BYTES) on one stream at once, given at most `limit`:
   the wait's error, or 0. */
static int duplex_run(env *e, async_stream *st, duplex_job *sender, duplex_job *receiver, async_time limit) {
    static async_future *futs[2];
    static async_link links[2];
    static async_gather_op g;
    static async_wait_for_op wf;
    sender->st = receiver->st = st;
    futs[0] = async_create_task(&e->loop, &receiver->task, duplex_recv);
    futs[1] = async_create_task(&e->loop, &sender->task, duplex_send);
    return async_run(&e->loop, async_wait_for(&e->loop, &wf, async_gather(&g, futs, links, 2, 0), limit));
}

/* A TLS client stream to 127.0.0.1:port on e's loop, trusting the test's CA, handshake
   done: 0, or the error. */
static int tls_stream_open(env *e, async_stream *st, async_tls *tls, int port, const char *name) {
    async_tls_config cfg;
    struct sockaddr_in a;
    char ca[512];
    int err = 0;
    async_future *f;
    memset(&cfg, 0, sizeof cfg);
    tls_path(ca, sizeof ca, servers.root, "ca.pem");
    cfg.ca_file = ca;
    if ((err = async_tls_init(tls, &cfg)) != 0) return err;
    loopback_addr(&a, port);
    async_stream_init(st, &e->io, -1);
    while ((f = async_stream_connect(st, (struct sockaddr *)&a, sizeof a, &err)) != NULL) async_run(&e->loop, f);
    if (err || (err = async_stream_tls_client(st, tls, name, NULL)) != 0) return err;
    while ((f = async_stream_handshake(st, &err)) != NULL) async_run(&e->loop, f);
    return err;
}

/* One task sends 32 MiB while another receives them back from an echoing peer, started the
   moment the handshake ends (its last flight still going out): a receive must not wait for
   the send (the peer stops reading until we read: both would wait for good), and the
   ciphertext buffer must not move under the send in flight (the peer would get freed
   memory). Every byte comes back as it went. */
TEST(tls_stream_both_ways_at_once) {
    static duplex_job sender, receiver;
    static async_stream st;
    async_tls tls;
    server s;
    env e;
    size_t i, bad = 0;
    int rc;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_echo);
    CHECK_EQ(env_init(&e, NULL), 0);
    CHECK_EQ(tls_stream_open(&e, &st, &tls, s.port, "127.0.0.1"), 0);
    memset(&sender, 0, sizeof sender), memset(&receiver, 0, sizeof receiver);
    sender.buf = (char *)malloc(DUPLEX_BYTES);
    receiver.buf = (char *)malloc(DUPLEX_BYTES);
    CHECK(sender.buf && receiver.buf);
    for (i = 0; i < DUPLEX_BYTES; i++) sender.buf[i] = (char)('a' + (i * 7 + i / 4093) % 26);
    rc = duplex_run(&e, &st, &sender, &receiver, ASYNC_SEC(20));
    if (rc) fprintf(stderr, "  both ways: %s; sent %zu, received %zu\n", async_strerror(rc), sender.done, receiver.done);
    CHECK_EQ(rc, 0);
    CHECK_EQ(sender.err, 0);
    CHECK_EQ(receiver.err, 0);
    CHECK_EQ(sender.done, DUPLEX_BYTES);
    CHECK_EQ(receiver.done, DUPLEX_BYTES);
    for (i = 0; i < receiver.done; i++) bad += receiver.buf[i] != sender.buf[i];
    CHECK_EQ(bad, 0);
    free(sender.buf);
    free(receiver.buf);
    tls_stream_end(&e, &st, &tls, &s, ctx);
}

/* Returns once what fd has received and not read stops growing (for 50 ms): the peer's
   upload has filled the socket's buffers and its send is stuck. */
static void wait_until_upload_stuck(int fd) {
    int unread = 0, last = -1, still = 0;
    while (still < 5) {
        msleep(10);
        if (ioctl(fd, FIONREAD, &unread) != 0) return;
        still = unread > 0 && unread == last ? still + 1 : 0;
        last = unread;
    }
}

/* A peer that asks for key updates (each answered by us) and reads nothing: 20,000 of them
   once our upload is stuck (before that, a send that completes takes the answers along,
   and the race with the flood decided the test). Then it goes. */
static void play_tls_keyupdate_flood(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    int i;
    (void)s, (void)index;
    if (!ssl) return;
    wait_until_upload_stuck(fd);
    for (i = 0; i < 20000; i++)
        if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1 || SSL_write(ssl, "x", 1) != 1) break;
    msleep(200);
    reset_connection(fd);
    SSL_free(ssl);
}

/* Our answers to a peer's key updates while it reads nothing (our send stuck): they do not
   pile up without end; past a few pieces the read fails, said as such (nginx stops reading
   there instead). */
TEST(tls_key_updates_unread_bounded) {
    static duplex_job sender, receiver;
    static async_stream st;
    async_tls tls;
    server s;
    env e;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", TLS1_3_VERSION, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_keyupdate_flood);
    CHECK_EQ(env_init(&e, NULL), 0);
    CHECK_EQ(tls_stream_open(&e, &st, &tls, s.port, "127.0.0.1"), 0);
    memset(&sender, 0, sizeof sender), memset(&receiver, 0, sizeof receiver);
    sender.buf = (char *)calloc(DUPLEX_BYTES, 1);
    receiver.buf = (char *)malloc(DUPLEX_BYTES);
    CHECK_EQ(duplex_run(&e, &st, &sender, &receiver, ASYNC_SEC(20)), 0);
    if (receiver.err != ASYNC_HTTP_ETLS)
        fprintf(stderr, "  read %zu bytes: %s\n", receiver.done, async_strerror(receiver.err));
    CHECK_EQ(receiver.err, ASYNC_HTTP_ETLS);
    CHECK_STR(async_stream_detail(&st), "the peer does not read what TLS must answer it");
    CHECK(st._cout_cap <= (1u << 20));
    free(sender.buf);
    free(receiver.buf);
    tls_stream_end(&e, &st, &tls, &s, ctx);
}

/* A record that does not decrypt (garbage of the right shape): the read fails, and the peer
   is told so, with a bad_record_mac alert (RFC 8446 5.2), not a bare close. */
static int bad_mac_told;
static void play_tls_bad_record(server *s, int fd, int index) {
    static const unsigned char garbage[5 + 32] = {0x17, 0x03, 0x03, 0x00, 0x20, 1, 2, 3, 4, 5, 6, 7, 8};
    SSL *ssl = tls_accept(fd);
    char byte;
    (void)index;
    if (!ssl) return;
    if (send_all(fd, (const char *)garbage, sizeof garbage) && SSL_read(ssl, &byte, 1) <= 0 &&
        ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_SSLV3_ALERT_BAD_RECORD_MAC)
        bad_mac_told = 1;
    ERR_clear_error();
    server_mark(s);
    SSL_free(ssl);
}

TEST(tls_bad_record_tells_the_peer) {
    async_stream st;
    async_tls tls;
    server s;
    env e;
    async_future *f;
    char buf[64];
    size_t n = 0;
    int err = 0;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", TLS1_3_VERSION, 0);
    SSL_CTX_set_num_tickets(ctx, 0); /* the garbage comes first: the send of our Finished, ended, is not taken yet */
    tls_scenario_ctx = ctx;
    bad_mac_told = 0;
    server_start(&s, play_tls_bad_record);
    CHECK_EQ(env_init(&e, NULL), 0);
    CHECK_EQ(tls_stream_open(&e, &st, &tls, s.port, "127.0.0.1"), 0);
    while ((f = async_stream_recv(&st, buf, sizeof buf, &n, &err)) != NULL) async_run(&e.loop, f);
    CHECK_EQ(err, ASYNC_HTTP_ETLS);
    WAIT_UNTIL(server_get(&s, &s.marks) == 1, 2000);
    CHECK_EQ(bad_mac_told, 1);
    tls_stream_end(&e, &st, &tls, &s, ctx);
}


/* A server's word unasked, on a stream that was idle: idle_clean says it is not clean, and
   takes nothing of it (it read and dropped a byte of it, where a plain stream peeks): the
   next receive has all of it. */
static void play_tls_speak_first(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    char byte;
    (void)s, (void)index;
    if (!ssl) return;
    tls_send_str(ssl, "hello, you");
    SSL_read(ssl, &byte, 1); /* until the client goes */
    SSL_free(ssl);
}

TEST(tls_idle_clean_takes_no_data) {
    static async_stream st;
    async_tls tls;
    server s;
    env e;
    char buf[64];
    size_t n = 0;
    int err = 0, i;
    async_future *f;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_speak_first);
    CHECK_EQ(env_init(&e, NULL), 0);
    CHECK_EQ(tls_stream_open(&e, &st, &tls, s.port, "127.0.0.1"), 0);
    /* Watched at once: our last flight must go out, or the server never speaks. */
    f = async_stream_watch(&st, buf, sizeof buf);
    CHECK(f != NULL);
    if (f) {
        async_wait_for_op wf;
        CHECK_EQ(async_run(&e.loop, async_wait_for(&e.loop, &wf, f, ASYNC_SEC(5))), 0);
    }
    /* Its words (after TLS's own tickets, perhaps in a later segment): not clean, twice, and
       nothing of them taken. */
    for (i = 0; i < 200 && async_stream_idle_clean(&st, 1); i++) {
        async_timer t;
        memset(&t, 0, sizeof t);
        async_run(&e.loop, async_sleep(&e.loop, &t, ASYNC_MS(10)));
    }
    CHECK(!async_stream_idle_clean(&st, 1));
    CHECK(!async_stream_idle_clean(&st, 1));
    while ((f = async_stream_recv(&st, buf, sizeof buf, &n, &err)) != NULL) async_run(&e.loop, f);
    CHECK_EQ(err, 0);
    CHECK(n == 10 && !memcmp(buf, "hello, you", 10));
    while ((f = async_stream_settle(&st)) != NULL) async_run(&e.loop, f);
    async_stream_close(&st);
    async_tls_free(&tls);
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

/* A watch that caught the server's tickets alone, and its words came after (a segment
   behind): the first look says what is in the socket, not clean. */
static int late_go[2]; /* a pipe: the test says when the server speaks */
static void play_tls_tickets_then_words(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd); /* its tickets go out with the handshake's end */
    char c;
    (void)s, (void)index;
    if (!ssl) return;
    if (read(late_go[0], &c, 1) == 1) tls_send_str(ssl, "late words");
    SSL_read(ssl, &c, 1); /* until the client goes */
    SSL_free(ssl);
}

TEST(tls_idle_clean_sees_words_behind_tickets) {
    static async_stream st;
    async_tls tls;
    server s;
    env e;
    char buf[64];
    struct pollfd p;
    async_future *f;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    CHECK_EQ(pipe(late_go), 0);
    server_start(&s, play_tls_tickets_then_words);
    CHECK_EQ(env_init(&e, NULL), 0);
    CHECK_EQ(tls_stream_open(&e, &st, &tls, s.port, "127.0.0.1"), 0);
    f = async_stream_watch(&st, buf, sizeof buf);
    if (f) { /* the tickets came */
        async_wait_for_op wf;
        CHECK_EQ(async_run(&e.loop, async_wait_for(&e.loop, &wf, f, ASYNC_SEC(5))), 0);
    }
    CHECK_EQ(write(late_go[1], "g", 1), 1);
    p.fd = st.fd, p.events = POLLIN;
    CHECK_EQ(poll(&p, 1, 5000), 1); /* the words wait in the socket */
    CHECK(!async_stream_idle_clean(&st, 0));
    while ((f = async_stream_settle(&st)) != NULL) async_run(&e.loop, f);
    async_stream_close(&st);
    async_tls_free(&tls);
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
    close(late_go[0]), close(late_go[1]);
}

/* A server that sends hundreds of session tickets after each response, while the connection
   idles in the pool: they come in several receives, and every one of them is TLS's own, so
   the connection is kept (the look behind the watch's receive took the next bytes for data).
   Six requests: the tickets of all the idle times (380 KiB) are more than the pool takes in
   one, as each request starts the count again. */
static void play_tls_tickets_while_idle(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    int i;
    (void)index;
    if (!ssl) return;
    while (tls_read_request(ssl)) {
        tls_send_str(ssl, OK_RESPONSE);
        msleep(20);
        for (i = 0; i < 300; i++) {
            SSL_new_session_ticket(ssl);
            SSL_do_handshake(ssl);
        }
        server_mark(s);
    }
    SSL_free(ssl);
}

TEST(tls_tickets_while_idle_keep_the_connection) {
    env e;
    server s;
    async_http_request r;
    async_timer t;
    char url[128];
    int i;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_tickets_while_idle);
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    https_url(url, sizeof url, s.port, "/");
    memset(&t, 0, sizeof t);
    for (i = 0; i < 6; i++) {
        CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
        async_http_request_release(&r);
        while (server_get(&s, &s.marks) <= i) async_run(&e.loop, async_sleep(&e.loop, &t, ASYNC_MS(5)));
        async_run(&e.loop, async_sleep(&e.loop, &t, ASYNC_MS(50))); /* the tickets in, the loop around */
    }
    CHECK_EQ(client_connects(&e.client), 1);
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

/* A server whose tickets do not stop while the connection idles: here 2,000 of them (about
   510 KiB, twice what idle checks take between two requests), taken by the watch's wakes in
   the pool. The connection is given up rather than read on without end, and the next request
   gets a new one. */
static void play_tls_ticket_flood_while_idle(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    int i;
    if (!ssl) return;
    while (tls_read_request(ssl)) {
        tls_send_str(ssl, OK_RESPONSE);
        msleep(20); /* the watch is on */
        for (i = 0; index == 0 && i < 2000; i++) {
            SSL_new_session_ticket(ssl);
            if (SSL_do_handshake(ssl) <= 0) break; /* the client went */
        }
        server_mark(s);
    }
    SSL_free(ssl);
}

static int pool_empty(void *client) { return client_stats((async_http_client *)client).idle == 0; }

TEST(tls_ticket_flood_while_idle_drops_the_connection) {
    env e;
    server s;
    async_http_request r;
    char url[128];
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_ticket_flood_while_idle);
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    https_url(url, sizeof url, s.port, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    async_http_request_release(&r);
    CHECK(run_until(&e.loop, pool_empty, &e.client, 5000)); /* given up while the tickets came */
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    async_http_request_release(&r);
    CHECK_EQ(client_connects(&e.client), 2);
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

/* A server that, while the connection idles, asks for key updates and reads none of the
   answers: batches of 300 (about 8 KiB), 10 ms apart, so that each wake of the watch takes
   little; 60 of them, twice what the pool takes between two requests. The connection is
   given up, and the answers no longer pile up in it. */
static void play_tls_key_updates_while_idle(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    BIO *mem;
    int i, batch;
    (void)index;
    if (!ssl) return;
    if (!tls_read_request(ssl) || !tls_send_str(ssl, OK_RESPONSE)) goto out;
    msleep(20); /* the watch is on */
    mem = BIO_new(BIO_s_mem());
    SSL_set0_wbio(ssl, mem); /* the records made in memory, sent in bulk; nothing is read */
    for (batch = 0; batch < 60 && !server_stopping(s); batch++) {
        char *p;
        long n;
        for (i = 0; i < 300; i++)
            if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1 || SSL_do_handshake(ssl) <= 0) break;
        n = BIO_get_mem_data(mem, &p);
        if (n <= 0 || !send_all(fd, p, (size_t)n)) break;
        (void)BIO_reset(mem);
        msleep(10);
    }
out:
    server_mark(s);
    while (!server_stopping(s)) msleep(5);
    SSL_free(ssl);
}

TEST(tls_key_updates_while_idle_drop_the_connection) {
    env e;
    server s;
    async_http_request r;
    char url[128];
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", TLS1_3_VERSION, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_key_updates_while_idle);
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    https_url(url, sizeof url, s.port, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    async_http_request_release(&r);
    CHECK(run_until(&e.loop, pool_empty, &e.client, 5000)); /* given up while the updates came */
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

/* Runs the loop until the client's socket holds nothing unread, then a turn more: what
   came (a ticket, sent with TCP_NODELAY before the scenario marked) was taken and looked
   at. A wait for a kernel state, not a margin. */
static void run_until_read(env *e, int fd) {
    async_timer t;
    int unread = 1, i;
    memset(&t, 0, sizeof t);
    for (i = 0; i < 400 && unread; i++) {
        async_run(&e->loop, async_sleep(&e->loop, &t, ASYNC_MS(5)));
        if (ioctl(fd, FIONREAD, &unread) != 0) unread = 0;
    }
    async_run(&e->loop, async_sleep(&e->loop, &t, ASYNC_MS(5)));
}

/* The client's one connection's socket. */
static int client_fd(const env *e) {
    size_t i;
    for (i = 0; i < e->client.config.limit; i++)
        if (e->client._conns[i].s.fd >= 0) return e->client._conns[i].s.fd;
    return -1;
}

/* A session ticket keeps an idle connection, but its idle time runs on: keepalive_timeout
   (15 s by default) counts from when it was given back, not from its last ticket. On a
   stall clock: the ticket comes 10 s after the answer, the next request 6 s after that. */
static int ticket_go[2]; /* a pipe: the test says when the server sends a ticket */
static void play_tls_ticket_on_cue(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    char c;
    int one = 1;
    if (!ssl) return;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* the ticket in the client's socket when marked */
    while (tls_read_request(ssl) && tls_send_str(ssl, OK_RESPONSE)) {
        if (index == 0 && read(ticket_go[0], &c, 1) == 1) {
            SSL_new_session_ticket(ssl);
            SSL_do_handshake(ssl);
        }
        server_mark(s);
    }
    SSL_free(ssl);
}

TEST(tls_ticket_while_idle_keeps_the_keepalive_timeout) {
    env e;
    server s;
    async_http_request r;
    async_timer t;
    char url[128];
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    CHECK_EQ(pipe(ticket_go), 0);
    server_start(&s, play_tls_ticket_on_cue);
    CHECK_EQ(tls_env(&e, 0, 0, 1), 0);
    https_url(url, sizeof url, s.port, "/");
    memset(&t, 0, sizeof t);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    async_http_request_release(&r);
    e.stall.now += ASYNC_SEC(10);
    CHECK_EQ(write(ticket_go[1], "g", 1), 1);
    while (!server_get(&s, &s.marks)) async_run(&e.loop, async_sleep(&e.loop, &t, ASYNC_MS(10)));
    run_until_read(&e, client_fd(&e)); /* the ticket taken */
    CHECK_EQ(client_stats(&e.client).idle, 1); /* kept */
    e.stall.now += ASYNC_SEC(6);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    CHECK_EQ(r.info.reused, 0);
    async_http_request_release(&r);
    CHECK_EQ(client_connects(&e.client), 2);
    env_close(&e);
    close(ticket_go[1]); /* a scenario still waiting for its cue goes on */
    server_stop(&s);
    SSL_CTX_free(ctx);
    close(ticket_go[0]);
}

/* A '%' in a name is the name's: only an IPv6 address has a zone to leave out of the check
   (127.0.0.1%x was checked as 127.0.0.1, and passed). */
TEST(tls_stream_percent_in_a_name_is_no_zone) {
    static async_stream st;
    async_tls tls;
    server s;
    env e;
    async_future *f;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_echo);
    CHECK_EQ(env_init(&e, NULL), 0);
    CHECK_EQ(tls_stream_open(&e, &st, &tls, s.port, "127.0.0.1%x"), ASYNC_HTTP_ETLS_NAME);
    while ((f = async_stream_settle(&st)) != NULL) async_run(&e.loop, f);
    async_stream_close(&st);
    async_tls_free(&tls);
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

/* A trusted-certificate file that is not there: the request says so. Once it is there (or
   the fds or the memory that ran out are back), the next request makes the context: a
   failure is not kept. */
TEST(missing_ca_file) {
    env e;
    async_http_client_config cfg;
    async_http_request r;
    char url[128], ca[512], later[512];
    memset(&cfg, 0, sizeof cfg);
    tls_path(ca, sizeof ca, servers.root, "ca.pem");
    tls_path(later, sizeof later, servers.root, "later-ca.pem");
    unlink(later);
    cfg.ca_file = later;
    CHECK_EQ(env_init(&e, &cfg), 0);
    https_url(url, sizeof url, nginx_port, "/small.json");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), ASYNC_HTTP_ETLS);
    CHECK(strstr(async_http_request_error(&r), "later-ca.pem") != NULL);
    async_http_request_release(&r);
    CHECK_EQ(link(ca, later), 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK_EQ(r.response.status, 200);
    async_http_request_release(&r);
    unlink(later);
    env_close(&e);
}

/* sock_read counts from the last bytes of the response, not from the last TLS record: a
   server that sends half a body and then only session tickets (10 s of sock_read, on a
   stall clock: one ticket 6 s in) is timed out 10 s after its last bytes, not 10 s after
   its ticket. */
static int read_go[2]; /* a pipe: the test says when the server sends a ticket */
static void play_tls_half_body_then_tickets(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    char c;
    int one = 1;
    (void)index;
    if (!ssl) return;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* the ticket in the client's socket when marked */
    if (tls_read_request(ssl) && tls_send_str(ssl, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")) {
        server_mark(s);
        while (read(read_go[0], &c, 1) == 1 && c == 't') {
            SSL_new_session_ticket(ssl);
            SSL_do_handshake(ssl);
            server_mark(s);
        }
    }
    SSL_free(ssl);
}

/* A request on a stall clock, with a 10 s sock_read, against a scenario that takes its cues
   from the pipe `go` ('x': it ends): started, and run until the server marked its first
   step and the client's read waits. */
typedef struct stalled_read {
    env e;
    server s;
    async_http_request r;
    async_timer t;
    SSL_CTX *ctx;
    int *go;
    async_time began;
} stalled_read;

/* Until the server has marked `marks` steps and the client has read what they sent. */
static void stalled_read_wait(stalled_read *x, int marks) {
    while (server_get(&x->s, &x->s.marks) < marks) async_run(&x->e.loop, async_sleep(&x->e.loop, &x->t, ASYNC_MS(5)));
    run_until_read(&x->e, client_fd(&x->e));
}

static void stalled_read_start(stalled_read *x, scenario play, int go[2]) {
    static char ca[512];
    async_http_client_config cfg;
    char url[128];
    x->ctx = tls_server_ctx(servers.root, "good", 0, 0);
    x->go = go;
    tls_scenario_ctx = x->ctx;
    CHECK_EQ(pipe(go), 0);
    server_start(&x->s, play);
    memset(&cfg, 0, sizeof cfg);
    tls_path(ca, sizeof ca, servers.root, "ca.pem");
    cfg.ca_file = ca;
    cfg.timeout_sock_read = ASYNC_SEC(10);
    CHECK_EQ(env_init_stalling(&x->e, &cfg), 0);
    https_url(url, sizeof url, x->s.port, "/");
    memset(&x->r, 0, sizeof x->r);
    memset(&x->t, 0, sizeof x->t);
    async_http_fetch(&x->e.client, &x->r, "GET", url);
    stalled_read_wait(x, 1);
    x->began = async_now(&x->e.loop);
}

static void stalled_read_stop(stalled_read *x) {
    async_http_request_release(&x->r);
    env_close(&x->e);
    CHECK_EQ(write(x->go[1], "x", 1), 1);
    server_stop(&x->s);
    SSL_CTX_free(x->ctx);
    close(x->go[0]), close(x->go[1]);
}

TEST(tls_tickets_do_not_restart_the_read_timeout) {
    stalled_read x;
    stalled_read_start(&x, play_tls_half_body_then_tickets, read_go); /* the half body taken */
    x.e.stall.now += ASYNC_SEC(6);
    CHECK_EQ(write(read_go[1], "t", 1), 1);
    stalled_read_wait(&x, 2); /* the ticket taken, the read waiting again */
    CHECK(!async_done(&x.r.task.future));
    x.e.stall.now += ASYNC_SEC(5);
    CHECK_EQ(async_run(&x.e.loop, &x.r.task.future), ASYNC_HTTP_ETIMEOUT_READ);
    CHECK(async_now(&x.e.loop) - x.began < ASYNC_SEC(12)); /* not 16 s: 10 s after the ticket */
    stalled_read_stop(&x);
}

/* ------------------------------------------------------------------ */
/* a hostile record layer                                              */

/* TLS 1.2 renegotiations the server sees through in the middle of a body (as a server that
   asks for a client certificate there does): before each of reneg_count pieces but the
   first, it asks for one (HelloRequest) and waits until the client's Finished came back.
   The client bears them (its policy is OpenSSL's: a server's secure renegotiation is taken
   up), each flight of its own sent as its read goes on (its second one was kept back: the
   body waited for a timeout); once, and a thousand times in 4 MB. The connection is kept,
   its buffers as they were, and the next request takes it. */
#define RENEG_PIECE 4000
static int reneg_count;

/* The handshake messages of a type that a scenario's peer sent, counted as its SSL reads
   them (SSL_set_msg_callback_arg: a msg_count). */
typedef struct msg_count {
    int type, n;
} msg_count;

static void count_messages(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                           void *arg) {
    msg_count *m = (msg_count *)arg;
    (void)version, (void)ssl;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len && ((const unsigned char *)buf)[0] == m->type) m->n++;
}

/* Reads (a peek: data stays) until the peer has sent `want` of m's messages: 1, or 0 if
   it has not within 5 s. A handshake the peer starts runs on the way. */
static int tls_wait_for_messages(SSL *ssl, int fd, const msg_count *m, int want) {
    int flags = fcntl(fd, F_GETFL), ok = 0;
    char byte;
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    for (;;) {
        struct pollfd p;
        int rc = SSL_peek(ssl, &byte, 1), e = SSL_get_error(ssl, rc);
        if ((ok = m->n >= want) != 0 || rc > 0 || (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)) break;
        p.fd = fd, p.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        if (poll(&p, 1, 5000) != 1) break;
    }
    fcntl(fd, F_SETFL, flags);
    return ok;
}

static void play_tls_renegotiations(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    char piece[RENEG_PIECE], head[128];
    msg_count finished = {SSL3_MT_FINISHED, 0};
    int i, one = 1;
    if (!ssl) return;
    if (index) { /* a later connection (the first one failed): answered at once */
        while (tls_read_request(ssl) && tls_send_str(ssl, OK_RESPONSE)) {
        }
        goto out;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* each flight at once, not behind the last one's ACK */
    SSL_set_msg_callback(ssl, count_messages);
    SSL_set_msg_callback_arg(ssl, &finished);
    memset(piece, 'r', sizeof piece);
    if (!tls_read_request(ssl)) goto out;
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", reneg_count * RENEG_PIECE);
    if (!tls_send_str(ssl, head)) goto out;
    for (i = 0; i < reneg_count; i++) {
        /* The HelloRequest, then the handshake the client's ClientHello starts, to its end:
           a full one (as for a client certificate), or many resumed ones. */
        if (i && ((reneg_count > 2 ? SSL_renegotiate_abbreviated(ssl) : SSL_renegotiate(ssl)) != 1 ||
                  SSL_do_handshake(ssl) != 1 || !tls_wait_for_messages(ssl, fd, &finished, finished.n + 1)))
            goto out;
        piece[0] = (char)('a' + i % 26);
        if (SSL_write(ssl, piece, sizeof piece) <= 0) goto out;
    }
    server_mark(s);
    while (tls_read_request(ssl) && tls_send_str(ssl, OK_RESPONSE)) {
    }
out:
    SSL_free(ssl);
}

static void tls_renegotiations_mid_body(int count) {
    env e;
    server s;
    async_http_request r;
    char url[128];
    int i, bad = 0, err;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, TLS1_2_VERSION);
    tls_scenario_ctx = ctx;
    reneg_count = count;
    server_start(&s, play_tls_renegotiations);
    CHECK_EQ(tls_env(&e, 0, ASYNC_SEC(3), 0), 0);
    https_url(url, sizeof url, s.port, "/");
    err = fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(8));
    if (err) fprintf(stderr, "  %d renegotiations: %s\n", count, async_http_request_error(&r));
    CHECK_EQ(err, 0);
    CHECK_EQ(r.response.body_len, (size_t)count * RENEG_PIECE);
    for (i = 0; i < count && r.response.body_len == (size_t)count * RENEG_PIECE; i++)
        bad += r.response.body[i * RENEG_PIECE] != 'a' + i % 26 || r.response.body[i * RENEG_PIECE + 1] != 'r';
    CHECK_EQ(bad, 0);
    WAIT_UNTIL(server_get(&s, &s.marks) == 1, 2000);
    CHECK_EQ(server_get(&s, &s.marks), 1); /* every renegotiation went through */
    async_http_request_release(&r);
    CHECK(e.client._idle_newest != NULL); /* the connection is kept, its buffers as they were */
    if (e.client._idle_newest) {
        CHECK_EQ(e.client._idle_newest->s._cin_cap, 65536);
        CHECK(e.client._idle_newest->s._cout_cap <= 16384);
    }
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0); /* and taken again */
    CHECK(r.response.body_len == 2 && !memcmp(r.response.body, "ok", 2));
    async_http_request_release(&r);
    CHECK_EQ(client_connects(&e.client), 1);
    CHECK(client_settled(&e.client));
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

TEST(tls_renegotiation_seen_through_mid_body) { tls_renegotiations_mid_body(2); }
TEST(tls_renegotiation_flood_mid_body) { tls_renegotiations_mid_body(1000); }

/* A TLS 1.2 renegotiation the server starts while the connection idles in the pool (as
   one that rekeys between requests does) retires the connection: the watch sees a
   handshake no request waits for (taking it up would leave a request that picks the
   connection halfway through it with a write that wants to read). The next request opens
   another, resuming the session. */
static int idle_reneg_done; /* under the server's lock: the handshake's Finished came back */

static void play_tls_renegotiation_while_idle(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    msg_count finished = {SSL3_MT_FINISHED, 0};
    int one = 1, done;
    (void)index;
    if (!ssl) return;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL_set_msg_callback(ssl, count_messages);
    SSL_set_msg_callback_arg(ssl, &finished);
    if (tls_read_request(ssl) && tls_send_str(ssl, OK_RESPONSE)) {
        msleep(20); /* the watch is on */
        done = SSL_renegotiate(ssl) == 1 && SSL_do_handshake(ssl) == 1 &&
               tls_wait_for_messages(ssl, fd, &finished, finished.n + 1);
        pthread_mutex_lock(&s->lock);
        idle_reneg_done = done;
        pthread_mutex_unlock(&s->lock);
        server_mark(s);
        while (tls_read_request(ssl) && tls_send_str(ssl, OK_RESPONSE)) {
        }
    }
    SSL_free(ssl);
}

static int server_marked(void *s) { return server_get((server *)s, &((server *)s)->marks) > 0; }

TEST(tls_renegotiation_while_idle_retires_connection) {
    env e;
    server s;
    async_http_request r;
    char url[128];
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, TLS1_2_VERSION);
    tls_scenario_ctx = ctx;
    idle_reneg_done = 0;
    server_start(&s, play_tls_renegotiation_while_idle);
    CHECK_EQ(tls_env(&e, 0, 0, 0), 0);
    https_url(url, sizeof url, s.port, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    async_http_request_release(&r);
    CHECK(run_until(&e.loop, server_marked, &s, 6000)); /* the server's handshake ended */
    CHECK_EQ(server_get(&s, &idle_reneg_done), 0);       /* not finished: the client went */
    CHECK_EQ(client_stats(&e.client).idle, 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    CHECK(r.response.body_len == 2 && !memcmp(r.response.body, "ok", 2));
    async_http_request_release(&r);
    CHECK_EQ(client_connects(&e.client), 2);
    CHECK_EQ(client_stats(&e.client).tls_resumed, 1);
    CHECK(client_settled(&e.client));
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

/* Records the server makes itself, on a TLS 1.2 connection with AES-128-GCM, where
   OpenSSL would never send them: an empty record, a HelloRequest left alone. Past its
   handshake the server's SSL sends nothing more (the record numbers are ours from there). */
typedef struct forge {
    EVP_CIPHER_CTX *ctx;
    unsigned char salt[4];
    uint64_t seq;
    char *buf; /* what is made and not sent yet */
    size_t len, cap;
} forge;

#define FORGE_CIPHER "ECDHE-ECDSA-AES128-GCM-SHA256"

/* The server's key and salt, from the session's master secret (RFC 5246 6.3, RFC 5288). */
static int forge_init(forge *f, SSL *ssl) {
    unsigned char master[48], seed[13 + 2 * SSL3_RANDOM_SIZE], block[40];
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[4];
    int ok;
    memset(f, 0, sizeof *f);
    memcpy(seed, "key expansion", 13);
    SSL_get_server_random(ssl, seed + 13, SSL3_RANDOM_SIZE);
    SSL_get_client_random(ssl, seed + 13 + SSL3_RANDOM_SIZE, SSL3_RANDOM_SIZE);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SECRET, master, SSL_SESSION_get_master_key(SSL_get_session(ssl), master, sizeof master));
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof seed);
    params[3] = OSSL_PARAM_construct_end();
    ok = !strcmp(SSL_get_cipher_name(ssl), FORGE_CIPHER) && kctx &&
         EVP_KDF_derive(kctx, block, sizeof block, params) == 1;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    f->ctx = EVP_CIPHER_CTX_new(); /* the key block: the client's key, the server's, their salts */
    ok = ok && EVP_EncryptInit_ex(f->ctx, EVP_aes_128_gcm(), NULL, block + 16, NULL) == 1;
    memcpy(f->salt, block + 36, 4);
    f->seq = 1; /* 0 was the server's Finished */
    return ok;
}

/* One record of type, holding len bytes of data, added to f->buf. */
static void forge_record(forge *f, int type, const void *data, size_t len) {
    unsigned char nonce[12], aad[13], *out;
    int n, i;
    if (f->len + len + 29 > f->cap) {
        f->cap = (f->len + len + 29) * 2;
        f->buf = (char *)realloc(f->buf, f->cap);
    }
    out = (unsigned char *)f->buf + f->len;
    for (i = 0; i < 8; i++) out[5 + i] = aad[i] = (unsigned char)(f->seq >> (56 - 8 * i)); /* the nonce's own part */
    memcpy(nonce, f->salt, 4);
    memcpy(nonce + 4, out + 5, 8);
    out[0] = aad[8] = (unsigned char)type;
    out[1] = aad[9] = 3, out[2] = aad[10] = 3;
    aad[11] = (unsigned char)(len >> 8), aad[12] = (unsigned char)len;
    out[3] = (unsigned char)((len + 24) >> 8), out[4] = (unsigned char)(len + 24);
    EVP_EncryptInit_ex(f->ctx, NULL, NULL, NULL, nonce);
    EVP_EncryptUpdate(f->ctx, NULL, &n, aad, sizeof aad);
    if (len) EVP_EncryptUpdate(f->ctx, out + 13, &n, (const unsigned char *)data, (int)len);
    EVP_EncryptFinal_ex(f->ctx, out + 13 + len, &n);
    EVP_CIPHER_CTX_ctrl(f->ctx, EVP_CTRL_GCM_GET_TAG, 16, out + 13 + len);
    f->len += len + 29;
    f->seq++;
}

static int forge_send(forge *f, int fd) {
    int ok = send_all(fd, f->buf, f->len);
    f->len = 0;
    return ok;
}

static void forge_free(forge *f) {
    EVP_CIPHER_CTX_free(f->ctx);
    free(f->buf);
}

/* The first connection's answer, made by hand: a body of FORGED_PIECES pieces, and between
   them what forged_what says (the connection's last answer). Then what the client sends is
   read to its end, record by record: forged_handshakes (a renegotiation's ClientHello) and
   forged_alerts counted. Later connections are play_tls_ok's. */
enum { FORGED_HELLO_ONCE, FORGED_HELLO_FLOOD, FORGED_EMPTY_SOME, FORGED_EMPTY_FLOOD };
#define FORGED_PIECES 10
#define FORGED_PIECE 4000
static int forged_what, forged_handshakes, forged_alerts;

static char forged_byte(size_t i) { return (char)('a' + (i * 7 + i / 251) % 26); }

static void play_tls_forged(server *s, int fd, int index) {
    static const unsigned char hello_request[4] = {0, 0, 0, 0};
    char head[128], piece[FORGED_PIECE];
    unsigned char rec[5];
    int i, j, handshakes = 0, alerts = 0;
    size_t at = 0;
    forge f;
    SSL *ssl;
    memset(&f, 0, sizeof f);
    if (index) {
        play_tls_ok(s, fd, index);
        return;
    }
    if (!(ssl = tls_accept(fd))) return;
    if (!tls_read_request(ssl) || !forge_init(&f, ssl)) {
        fprintf(stderr, "play_tls_forged: no request, or no keys\n");
        goto out;
    }
    /* A good end says close: nothing after it is forged. */
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n", FORGED_PIECES * FORGED_PIECE,
             forged_what == FORGED_EMPTY_SOME ? "Connection: close\r\n" : "");
    forge_record(&f, SSL3_RT_APPLICATION_DATA, head, strlen(head));
    for (i = 0; i < FORGED_PIECES; i++) {
        for (j = 0; j < FORGED_PIECE; j++) piece[j] = forged_byte(at++);
        forge_record(&f, SSL3_RT_APPLICATION_DATA, piece, sizeof piece);
        for (j = 0; forged_what == FORGED_HELLO_ONCE && i == 0 && j < 1; j++)
            forge_record(&f, SSL3_RT_HANDSHAKE, hello_request, sizeof hello_request);
        for (j = 0; forged_what == FORGED_HELLO_FLOOD && i < FORGED_PIECES - 1 && j < 1000; j++)
            forge_record(&f, SSL3_RT_HANDSHAKE, hello_request, sizeof hello_request);
        for (j = 0; forged_what == FORGED_EMPTY_SOME && j < 30; j++) forge_record(&f, SSL3_RT_APPLICATION_DATA, "", 0);
        for (j = 0; forged_what == FORGED_EMPTY_FLOOD && i == 4 && j < 10000; j++)
            forge_record(&f, SSL3_RT_APPLICATION_DATA, "", 0);
        if (!forge_send(&f, fd)) break;
    }
    /* What the client says, to its end: record headers, their contents skipped. */
    while (recv(fd, rec, sizeof rec, MSG_WAITALL) == (ssize_t)sizeof rec) {
        size_t len = (size_t)rec[3] << 8 | rec[4];
        char skip[1 << 14];
        handshakes += rec[0] == SSL3_RT_HANDSHAKE;
        alerts += rec[0] == SSL3_RT_ALERT;
        if (len > sizeof skip || recv(fd, skip, len, MSG_WAITALL) != (ssize_t)len) break;
    }
    pthread_mutex_lock(&s->lock);
    forged_handshakes = handshakes, forged_alerts = alerts;
    s->marks++;
    pthread_mutex_unlock(&s->lock);
out:
    forge_free(&f);
    SSL_free(ssl);
}

/* The forged answer to a request: its error (its message in msg), the body checked byte for
   byte if it came; the next request (on a new connection) works. */
static int forged_fetch(int what, char *msg, size_t msg_len) {
    env e;
    server s;
    async_http_request r;
    char url[128];
    int err;
    size_t i, bad = 0;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(ctx, FORGE_CIPHER);
    tls_scenario_ctx = ctx;
    forged_what = what, forged_handshakes = forged_alerts = -1;
    server_start(&s, play_tls_forged);
    CHECK_EQ(tls_env(&e, 0, ASYNC_SEC(3), 0), 0);
    https_url(url, sizeof url, s.port, "/");
    err = fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5));
    snprintf(msg, msg_len, "%s", async_http_request_error(&r));
    if (!err) {
        CHECK_EQ(r.response.body_len, FORGED_PIECES * FORGED_PIECE);
        for (i = 0; i < r.response.body_len; i++) bad += r.response.body[i] != forged_byte(i);
        CHECK_EQ(bad, 0);
    }
    async_http_request_release(&r);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    CHECK(r.response.body_len == 2 && !memcmp(r.response.body, "ok", 2));
    async_http_request_release(&r);
    CHECK_EQ(client_connects(&e.client), 2); /* the first connection was not taken again */
    CHECK(client_settled(&e.client));
    env_close(&e);
    WAIT_UNTIL(server_get(&s, &s.marks) == 1, 2000); /* the first connection's end, seen */
    CHECK_EQ(server_get(&s, &s.marks), 1);
    server_stop(&s);
    SSL_CTX_free(ctx);
    return err;
}

/* A HelloRequest between two pieces of the body, alone (the server never goes on with the
   renegotiation), once or a thousand times between each two: the client answers the first
   with its ClientHello, OpenSSL passes over the rest, the body comes whole; the connection,
   in a handshake it cannot end, is not taken again. */
TEST(tls_hello_request_once_mid_body) {
    char msg[256];
    CHECK_EQ(forged_fetch(FORGED_HELLO_ONCE, msg, sizeof msg), 0);
    CHECK_EQ(forged_handshakes, 1);
}

TEST(tls_hello_request_flood_mid_body) {
    char msg[256];
    CHECK_EQ(forged_fetch(FORGED_HELLO_FLOOD, msg, sizeof msg), 0);
    CHECK_EQ(forged_handshakes, 1); /* one ClientHello for 9,000 requests */
}

/* Empty records: a few (30, under OpenSSL's limit of 32 in a row) after each piece are
   nothing; 10,000 in a row end the request with a TLS error that says what came, the peer
   told with an alert, and the next request works on a new connection. */
TEST(tls_empty_records_mid_body) {
    char msg[256];
    CHECK_EQ(forged_fetch(FORGED_EMPTY_SOME, msg, sizeof msg), 0);
    CHECK_EQ(forged_fetch(FORGED_EMPTY_FLOOD, msg, sizeof msg), ASYNC_HTTP_ETLS);
    CHECK(strstr(msg, "record too small") != NULL); /* OpenSSL's word for it */
    CHECK_EQ(forged_alerts, 1);
}

/* A body of 1 MiB, chunked (one chunk), each of its bytes a TLS record of its own: 22 bytes
   of ciphertext for each (TLS 1.3), sent in batches made in memory. */
#define BYTE_RECORDS (1 << 20)

static char byte_record_at(size_t i) { return (char)('A' + (i * 5 + i / 509) % 26); }

static void play_tls_byte_records(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    BIO *mem;
    char head[128], c, *p;
    size_t i;
    long n;
    (void)s, (void)index;
    if (!ssl) return;
    if (!tls_read_request(ssl)) goto out;
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", BYTE_RECORDS);
    if (!tls_send_str(ssl, head)) goto out;
    mem = BIO_new(BIO_s_mem());
    SSL_set0_wbio(ssl, mem); /* what each SSL_write makes, sent in bulk */
    for (i = 0; i < BYTE_RECORDS; i++) {
        c = byte_record_at(i);
        if (SSL_write(ssl, &c, 1) != 1) goto out;
        if ((i & 0x3fff) == 0x3fff || i == BYTE_RECORDS - 1) {
            if (i == BYTE_RECORDS - 1) SSL_write(ssl, "\r\n0\r\n\r\n", 7);
            n = BIO_get_mem_data(mem, &p);
            if (n <= 0 || !send_all(fd, p, (size_t)n)) goto out;
            (void)BIO_reset(mem);
        }
    }
    SSL_read(ssl, &c, 1); /* until the client goes */
out:
    SSL_free(ssl);
}

/* Each byte its own record: over TCP reads come as the socket coalesced them, but TLS hands
   over a record a read, so the server makes the client take the body a byte at a time. The
   body is whole; the client's allocations stay few (the body's buffer doubles, it does not
   grow a byte at a time), none past twice the body, and the ciphertext buffer keeps its size. */
TEST(tls_one_byte_records_body) {
    env e;
    server s;
    async_http_request r;
    async_http_client_config cfg;
    alloc_count count;
    char url[128], ca[512];
    size_t i, bad = 0;
    SSL_CTX *ctx = tls_server_ctx(servers.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&s, play_tls_byte_records);
    memset(&cfg, 0, sizeof cfg);
    memset(&count, 0, sizeof count);
    tls_path(ca, sizeof ca, servers.root, "ca.pem");
    cfg.ca_file = ca;
    cfg.alloc = counting_alloc;
    cfg.alloc_user = &count;
    CHECK_EQ(env_init(&e, &cfg), 0);
    https_url(url, sizeof url, s.port, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(25)), 0);
    CHECK_EQ(r.response.body_len, BYTE_RECORDS);
    for (i = 0; i < r.response.body_len; i++) bad += r.response.body[i] != byte_record_at(i);
    CHECK_EQ(bad, 0);
    CHECK(count.calls < 100);
    CHECK(count.biggest <= 2 * BYTE_RECORDS + 1);
    CHECK(e.client._idle_newest != NULL);
    if (e.client._idle_newest) {
        CHECK_EQ(e.client._idle_newest->s._cin_cap, 65536);
        CHECK(e.client._idle_newest->s._cout_cap <= 16384);
    }
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&s);
    SSL_CTX_free(ctx);
}

/* The same records, slowly: one byte each time the test says (a pipe), 6 s apart on a stall
   clock, under a sock_read of 10 s. Each record's byte is the body's: the wait starts again,
   and the body (five records, 30 s) comes whole. */
static int slow_go[2];
static void play_tls_slow_records(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    char c;
    int one = 1;
    (void)index;
    if (!ssl) return;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* the record in the client's socket when marked */
    if (tls_read_request(ssl) && tls_send_str(ssl, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")) {
        server_mark(s);
        while (read(slow_go[0], &c, 1) == 1 && c != 'x' && SSL_write(ssl, &c, 1) == 1) server_mark(s);
    }
    SSL_read(ssl, &c, 1); /* until the client goes */
    SSL_free(ssl);
}

TEST(tls_slow_records_keep_the_read_going) {
    stalled_read x;
    const char *word = "slow!";
    int i;
    stalled_read_start(&x, play_tls_slow_records, slow_go); /* the head taken */
    for (i = 0; i < 5 && !async_done(&x.r.task.future); i++) {
        x.e.stall.now += ASYNC_SEC(6);
        CHECK_EQ(write(slow_go[1], word + i, 1), 1);
        stalled_read_wait(&x, 2 + i);
    }
    CHECK_EQ(async_run(&x.e.loop, &x.r.task.future), 0);
    CHECK_EQ(x.r.response.status, 200);
    CHECK(x.r.response.body_len == 5 && !memcmp(x.r.response.body, word, 5));
    CHECK(async_now(&x.e.loop) - x.began >= ASYNC_SEC(30)); /* past three sock_reads, all in all */
    stalled_read_stop(&x);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    if (!start_nginx()) {
        fprintf(stderr, "nginx with TLS did not start\n");
        fixture_stop(&servers);
        return test_summary("tls") | 1;
    }
    RUN(https_get_head_chunked_big);
    RUN(https_keep_alive_one_handshake);
    RUN(https_session_resumption);
    RUN(certificate_failures);
    RUN(handshake_failures);
    RUN(handshake_stall_is_connect_timeout);
    RUN(truncation_without_close_notify);
    RUN(close_delimited_body_with_close_notify);
    RUN(cancel_mid_handshake);
    RUN(cancel_mid_tls_read);
    RUN(close_notify_on_clean_close);
    RUN(missing_ca_file);
    RUN(tls_talk_while_idle_keeps_connection);
    RUN(tls_talk_with_response_keeps_connection);
    RUN(tls_stray_record_unseen_not_clean);
    RUN(tls_bytes_behind_an_answer);
    RUN(tls_stream_both_ways_at_once);
    RUN(tls_key_updates_unread_bounded);
    RUN(tls_bad_record_tells_the_peer);
    RUN(host_table_grows_mid_handshake);
    RUN(early_answer_to_an_upload);
    RUN(early_answer_and_a_server_that_holds_on);
    RUN(ipv6_zone_over_tls);
    RUN(tls_key_update_mid_body_keeps_connection);
    RUN(tls_renegotiation_mid_body_then_next_request);
    RUN(handshake_failure_reasons);
    RUN(sni_without_trailing_dot);
    RUN(tls_upload_keeps_no_body_sized_buffer);
    RUN(tls_idle_clean_takes_no_data);
    RUN(tls_stream_percent_in_a_name_is_no_zone);
    RUN(tls_idle_clean_sees_words_behind_tickets);
    RUN(tls_tickets_while_idle_keep_the_connection);
    RUN(tls_ticket_flood_while_idle_drops_the_connection);
    RUN(tls_key_updates_while_idle_drop_the_connection);
    RUN(tls_ticket_while_idle_keeps_the_keepalive_timeout);
    RUN(tls_tickets_do_not_restart_the_read_timeout);
    RUN(tls_renegotiation_seen_through_mid_body);
    RUN(tls_renegotiation_flood_mid_body);
    RUN(tls_renegotiation_while_idle_retires_connection);
    RUN(tls_hello_request_once_mid_body);
    RUN(tls_hello_request_flood_mid_body);
    RUN(tls_empty_records_mid_body);
    RUN_LIMIT(tls_one_byte_records_body, 30); /* (a million records: 7 s with ASan) */
    RUN(tls_slow_records_keep_the_read_going);
    fixture_stop(&servers);
    return test_summary("tls");
}
