/* test_web.c - the client on the real web: redirects (the status x method matrix, relative
 * and absolute Location, credentials dropped across origins, loops, to https), URLs that say
 * what is wrong with them, RFC 3986's resolution examples, closing a client with requests in
 * flight. Scripted servers on loopback (tests/net.h's capture server), both backends. */
#define _GNU_SOURCE
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"
#include "test.h"
#include "net.h"
#include "tls.h"
#include <poll.h>
#include <sys/resource.h>
#include <zlib.h>

/* The i-th request the server got: its request line ("POST /next HTTP/1.1"), or "". */
static void request_line(server *s, int i, char *out, size_t n) {
    const captured *c = server_capture(s, i);
    size_t len = c ? strcspn(c->bytes, "\r") : 0;
    if (len >= n) len = n - 1;
    memcpy(out, c ? c->bytes : "", len);
    out[len] = 0;
}

/* The body the server's i-th request carried. */
static int body_is(server *s, int i, const char *body) {
    const captured *c = server_capture(s, i);
    return c && c->len - c->head_len == strlen(body) && !memcmp(c->bytes + c->head_len, body, strlen(body));
}

#define DONE_RESPONSE "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"

/* ------------------------------------------------------------------ */
/* redirects                                                           */

/* Each redirect status with GET and with a POST that has a body: the method and the body
   the second request carries, as aiohttp (and RFC 9110 15.4) have it, and the headers that
   go with the body (an expectation of 100-continue too). */
TEST(redirect_status_method_matrix) {
    static const int statuses[] = {301, 302, 303, 307, 308};
    static const char *const post_headers[] = {"Content-Type: text/plain", "Expect: 100-continue", "X-Keep: yes", NULL};
    size_t i;
    int post;
    for (i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        for (post = 0; post < 2; post++) {
            env e;
            server s;
            async_http_request r;
            async_http_request_desc d;
            char redirect[128], url[96], line[128], want[64];
            const char *responses[3];
            int keeps = statuses[i] == 307 || statuses[i] == 308;
            snprintf(redirect, sizeof redirect,
                     "HTTP/1.1 %d Moved\r\nLocation: /next\r\nContent-Length: 5\r\n\r\nmoved", statuses[i]);
            responses[0] = redirect, responses[1] = DONE_RESPONSE, responses[2] = NULL;
            server_start(&s, play_capture);
            s.responses = responses;
            CHECK_EQ(env_init(&e, NULL), 0);
            url_of(url, sizeof url, &s, "/start");
            memset(&d, 0, sizeof d);
            d.url = url;
            if (post) d.method = "POST", d.body = "abc", d.body_len = 3, d.headers = post_headers;
            async_http_start(&e.client, &r, &d);
            CHECK_EQ(async_run(&e.loop, &r.task.future), 0);
            CHECK_EQ(r.response.status, 200);
            CHECK(r.response.body_len == 4 && !memcmp(r.response.body, "done", 4));
            CHECK_EQ(r.response.history_len, 1);
            if (r.response.history_len == 1) {
                CHECK_EQ(r.response.history[0].status, statuses[i]);
                CHECK_STR(r.response.history[0].url, url);
            }
            CHECK(r.response.url && strstr(r.response.url, "/next") != NULL);
            CHECK_EQ(server_received(&s), 2);
            request_line(&s, 1, line, sizeof line);
            snprintf(want, sizeof want, "%s /next HTTP/1.1", post && keeps ? "POST" : "GET");
            if (strcmp(line, want) != 0) fprintf(stderr, "  %d %s: \"%s\"\n", statuses[i], post ? "POST" : "GET", line);
            CHECK_STR(line, want);
            if (post) {
                CHECK(body_is(&s, 1, keeps ? "abc" : ""));
                CHECK_EQ(has_line(&s, 1, "Content-Type: text/plain"), keeps); /* the body's own header goes with it */
                CHECK_EQ(has_line(&s, 1, "Content-Length: 3"), keeps);
                CHECK_EQ(has_line(&s, 1, "Expect: 100-continue"), keeps); /* never without content (RFC 9110 10.1.1) */
                CHECK(has_line(&s, 1, "X-Keep: yes"));
            }
            CHECK_EQ(client_connects(&e.client), 1); /* same origin: the pooled connection */
            async_http_request_release(&r);
            env_close(&e);
            server_stop(&s);
        }
    }
}

/* Location forms, each resolved against where the redirect came from; the URL keeps the
   Location's fragment, or else the one it came from (RFC 9110 10.2.2), and none goes out. */
TEST(redirect_location_forms) {
    static const struct {
        const char *location, *path;
    } forms[] = {
        {"next", "/a/b/next"},   {"../up", "/a/up"}, {"./here?x=1", "/a/b/here?x=1"},
        {"?q=2", "/a/b/c?q=2"},  {"/abs#frag", "/abs"}, {"//127.0.0.1:%d/a/../n", "/n"},
        {"/sp ace/caf\xc3\xa9?q=\xff", "/sp%20ace/caf%C3%A9?q=%FF"}, /* encoded, as curl does */
    };
    size_t i;
    for (i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        env e;
        server s;
        async_http_request r;
        char redirect[256], url[96], line[128], want[128], location[64];
        const char *responses[3];
        server_start(&s, play_capture);
        snprintf(location, sizeof location, forms[i].location, s.port); /* the port, where it has one */
        snprintf(redirect, sizeof redirect, "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n",
                 location);
        responses[0] = redirect, responses[1] = DONE_RESPONSE, responses[2] = NULL;
        s.responses = responses;
        CHECK_EQ(env_init(&e, NULL), 0);
        url_of(url, sizeof url, &s, "/a/b/c#start");
        CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
        CHECK_EQ(r.response.status, 200);
        request_line(&s, 1, line, sizeof line);
        snprintf(want, sizeof want, "GET %s HTTP/1.1", forms[i].path);
        if (strcmp(line, want) != 0) fprintf(stderr, "  Location \"%s\": \"%s\"\n", forms[i].location, line);
        CHECK_STR(line, want);
        snprintf(want, sizeof want, "%s%s", forms[i].path, strchr(location, '#') ? strchr(location, '#') : "#start");
        CHECK(r.response.url && strlen(r.response.url) > strlen(want) &&
              !strcmp(r.response.url + strlen(r.response.url) - strlen(want), want));
        async_http_request_release(&r);
        env_close(&e);
        server_stop(&s);
    }
}

/* To another origin (an absolute URL, and a network-path reference): Authorization, Cookie
   and a user Host stay behind, other headers go on; within one origin they go on too. */
TEST(redirect_across_origins_drops_credentials) {
    static const char *const headers[] = {"Authorization: Bearer secret", "Cookie: id=1", "X-Keep: yes",
                                          "Host: a.example", NULL};
    env e;
    server a, b;
    async_http_request r;
    async_http_request_desc d;
    char to_b[160], to_b_netpath[160], url[96], line[128];
    const char *ra[4], *rb[2] = {DONE_RESPONSE, NULL};
    server_start(&a, play_capture);
    server_start(&b, play_capture);
    snprintf(to_b, sizeof to_b, "HTTP/1.1 307 T\r\nLocation: http://127.0.0.1:%d/b\r\nContent-Length: 0\r\n\r\n", b.port);
    snprintf(to_b_netpath, sizeof to_b_netpath, "HTTP/1.1 307 T\r\nLocation: //127.0.0.1:%d/b2\r\nContent-Length: 0\r\n\r\n",
             b.port);
    ra[0] = "HTTP/1.1 302 F\r\nLocation: /same\r\nContent-Length: 0\r\n\r\n";
    ra[1] = to_b, ra[2] = to_b_netpath, ra[3] = NULL;
    a.responses = ra;
    b.responses = rb;
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &a, "/start");
    memset(&d, 0, sizeof d);
    d.url = url;
    d.headers = headers;
    async_http_start(&e.client, &r, &d);
    CHECK_EQ(async_run(&e.loop, &r.task.future), 0);
    CHECK_EQ(r.response.history_len, 2);
    CHECK(has_line(&a, 1, "Authorization: Bearer secret")); /* /same: the same origin */
    CHECK(has_line(&a, 1, "Cookie: id=1"));
    CHECK(has_line(&a, 1, "Host: a.example"));
    request_line(&b, 0, line, sizeof line);
    CHECK_STR(line, "GET /b HTTP/1.1");
    CHECK(!has_line(&b, 0, "Authorization:"));
    CHECK(!has_line(&b, 0, "Cookie:"));
    CHECK(has_line(&b, 0, "X-Keep: yes"));
    snprintf(line, sizeof line, "Host: 127.0.0.1:%d", b.port); /* the user's Host names the first origin */
    CHECK(has_line(&b, 0, line));
    async_http_request_release(&r);

    /* A network-path reference: the base's scheme, another authority. */
    async_http_start(&e.client, &r, &d);
    CHECK_EQ(async_run(&e.loop, &r.task.future), 0);
    request_line(&b, 1, line, sizeof line);
    CHECK_STR(line, "GET /b2 HTTP/1.1");
    CHECK(!has_line(&b, 1, "Authorization:"));
    CHECK(has_line(&b, 1, "X-Keep: yes"));
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&a);
    server_stop(&b);
}

/* A loop ends in its own error after max_redirects; with none allowed, the 3xx is the answer
   (or, asked for, an error at once); without Location, or with an empty one, the 3xx is the
   answer too. */
TEST(redirect_loop_and_limits) {
    env e;
    server s;
    async_http_request r;
    async_http_client_config cfg;
    char url[96];
    const char *loop_responses[] = {"HTTP/1.1 301 M\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n", NULL};
    server_start(&s, play_capture);
    s.responses = loop_responses;
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/again");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), ASYNC_HTTP_EREDIRECTS);
    CHECK(strstr(async_http_request_error(&r), "too many redirects: more than 10") != NULL);
    CHECK_EQ(server_received(&s), 11);
    CHECK(client_settled(&e.client));
    async_http_request_release(&r);
    env_close(&e);

    memset(&cfg, 0, sizeof cfg);
    cfg.max_redirects = ASYNC_HTTP_NO_REDIRECTS;
    CHECK_EQ(env_init(&e, &cfg), 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK_EQ(r.response.status, 301);
    CHECK_EQ(r.response.history_len, 0);
    async_http_request_release(&r);
    env_close(&e);

    memset(&cfg, 0, sizeof cfg);
    cfg.max_redirects = 2;
    CHECK_EQ(env_init(&e, &cfg), 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), ASYNC_HTTP_EREDIRECTS);
    async_http_request_release(&r);
    env_close(&e);

    memset(&cfg, 0, sizeof cfg);
    cfg.max_redirects = ASYNC_HTTP_REDIRECTS_FAIL; /* the first is an error, and not followed */
    CHECK_EQ(env_init(&e, &cfg), 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), ASYNC_HTTP_EREDIRECTS);
    CHECK(strstr(async_http_request_error(&r), "more than 0 (the last to /again)") != NULL);
    CHECK_EQ(r.response.history_len, 0);
    async_http_request_release(&r);
    CHECK_EQ(server_received(&s), 11 + 1 + 3 + 1); /* one request: none followed */
    CHECK(client_settled(&e.client));
    env_close(&e);
    server_stop(&s);

    loop_responses[0] = "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n"; /* no Location */
    server_start(&s, play_capture);
    s.responses = loop_responses;
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK_EQ(r.response.status, 302);
    async_http_request_release(&r);
    /* an empty Location leads nowhere either: a 307 to a POST is not sent again */
    loop_responses[0] = "HTTP/1.1 307 T\r\nLocation: \r\nContent-Length: 0\r\n\r\n";
    memset(&r, 0, sizeof r);
    r.body = "x=1";
    r.body_len = 3;
    CHECK_EQ(fetch(&e.client, &r, "POST", url), 0);
    CHECK_EQ(r.response.status, 307);
    async_http_request_release(&r);
    CHECK_EQ(server_received(&s), 2);
    env_close(&e);
    server_stop(&s);
}

/* A Location that is no URL of ours says so; an http:// site sending us to https:// is
   followed, over TLS, with the certificate checked. */
/* A redirect whose body is still coming when its head is in: the client follows at once and
   lets the connection go rather than read a body of no use past (one over the body limit, or
   one the server is slow to send, would otherwise fail or wait for the timeout). */
TEST(redirect_body_not_read_past) {
    static char first[256];
    const char *responses[] = {first, NULL};
    const char *lengths[] = {"100000000", "1000"}; /* over the 64 MiB limit, and under it */
    int i;
    for (i = 0; i < 2; i++) {
        env e;
        server a, b;
        async_http_request r;
        char url[96];
        server_start(&a, play_capture);
        server_start(&b, play_ok);
        snprintf(first, sizeof first, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/next\r\nContent-Length: %s\r\n\r\nthe start of a long body",
                 b.port, lengths[i]);
        a.responses = responses;
        a.body_after_ms = 1500; /* the head now, the rest later than the request may wait */
        CHECK_EQ(env_init(&e, NULL), 0);
        url_of(url, sizeof url, &a, "/start");
        CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(2)), 0);
        CHECK_EQ(r.response.status, 200);
        CHECK(r.response.body_len == 2 && !memcmp(r.response.body, "ok", 2));
        CHECK_EQ(r.response.history_len, 1);
        async_http_request_release(&r);
        CHECK(server_drained(&a, 3000)); /* the redirect's connection was closed */
        env_close(&e);
        server_stop(&a);
        server_stop(&b);
    }
}

TEST(redirect_to_bad_url_and_to_https) {
    env e;
    server s, t;
    async_http_request r;
    async_http_client_config cfg;
    fixture pki;
    char url[96], to_tls[160], ca[512];
    const char *responses[2] = {"HTTP/1.1 302 F\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n", NULL};
    SSL_CTX *ctx;
    server_start(&s, play_capture);
    s.responses = responses;
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), ASYNC_HTTP_EURL);
    CHECK(strstr(async_http_request_error(&r), "the redirect to http://[::1: '[' of an IPv6 literal never closed") !=
          NULL);
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&s);

    CHECK(fixture_init(&pki, "web_tls"));
    tls_make_pki(pki.root);
    ctx = tls_server_ctx(pki.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&t, play_tls_ok);
    t.response = DONE_RESPONSE;
    snprintf(to_tls, sizeof to_tls, "HTTP/1.1 301 M\r\nLocation: https://127.0.0.1:%d/secure\r\nContent-Length: 0\r\n\r\n",
             t.port);
    responses[0] = to_tls;
    server_start(&s, play_capture);
    s.responses = responses;
    url_of(url, sizeof url, &s, "/");
    memset(&cfg, 0, sizeof cfg);
    tls_path(ca, sizeof ca, pki.root, "ca.pem");
    cfg.ca_file = ca;
    CHECK_EQ(env_init(&e, &cfg), 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK(r.response.body_len == 4 && !memcmp(r.response.body, "done", 4));
    CHECK(r.response.url && !strncmp(r.response.url, "https://127.0.0.1:", 18));
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&s);
    server_stop(&t);
    SSL_CTX_free(ctx);
    fixture_stop(&pki);
}

/* One port, both schemes: TLS if the client's first byte starts a handshake (0x16), else
   plain HTTP; each request recorded and answered as play_capture does. */
static void play_tls_or_plain(server *s, int fd, int index) {
    unsigned char first;
    if (recv(fd, &first, 1, MSG_PEEK) != 1) return;
    if (first == 0x16) play_tls_capture(s, fd, index);
    else play_capture(s, fd, index);
}

/* An origin is scheme, host and port (RFC 6454): https://h:p and http://h:p are two, though
   one server answers both. A redirect from one to the other (either way) leaves behind the
   credentials (an Authorization of the user's, or the URL's user:password), the Cookie and a
   user Host, as to any other origin: a downgrade to http would otherwise show a bearer token
   to whoever is on the path. Other headers (X-Kept) go on. */
TEST(redirect_across_schemes_same_port_drops_credentials) {
    static char redirect[160];
    static const char *const headers[] = {"Authorization: Bearer secret", "Cookie: id=1", "Host: h.example", "X-Kept: 1",
                                          NULL};
    const char *responses[] = {redirect, DONE_RESPONSE, NULL};
    fixture pki;
    SSL_CTX *ctx;
    char ca[512];
    int i;
    CHECK(fixture_init(&pki, "web_schemes"));
    tls_make_pki(pki.root);
    ctx = tls_server_ctx(pki.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    tls_path(ca, sizeof ca, pki.root, "ca.pem");
    for (i = 0; i < 4; i++) { /* https -> http, http -> https; the user's Authorization, the URL's user:pw */
        const char *from = i % 2 ? "http" : "https", *to = i % 2 ? "https" : "http";
        int userinfo = i >= 2;
        env e;
        server s;
        async_http_request r;
        async_http_request_desc d;
        async_http_client_config cfg;
        char url[128], line[64];
        server_start(&s, play_tls_or_plain);
        s.responses = responses;
        snprintf(redirect, sizeof redirect, "HTTP/1.1 302 F\r\nLocation: %s://127.0.0.1:%d/next\r\nContent-Length: 0\r\n\r\n",
                 to, s.port);
        snprintf(url, sizeof url, "%s://%s127.0.0.1:%d/start", from, userinfo ? "user:pw@" : "", s.port);
        memset(&cfg, 0, sizeof cfg);
        cfg.ca_file = ca;
        CHECK_EQ(env_init(&e, &cfg), 0);
        memset(&d, 0, sizeof d);
        d.url = url;
        d.headers = userinfo ? headers + 1 : headers;
        async_http_start(&e.client, &r, &d);
        CHECK_EQ(async_run(&e.loop, &r.task.future), 0);
        CHECK_EQ(r.response.status, 200);
        CHECK_EQ(server_received(&s), 2);
        CHECK(has_line(&s, 0, userinfo ? "Authorization: Basic dXNlcjpwdw==" : "Authorization: Bearer secret"));
        CHECK(has_line(&s, 0, "Cookie: id=1") && has_line(&s, 0, "Host: h.example"));
        request_line(&s, 1, line, sizeof line);
        CHECK_STR(line, "GET /next HTTP/1.1");
        if (has_line(&s, 1, "Authorization:") || has_line(&s, 1, "Cookie:"))
            fprintf(stderr, "  %s -> %s (%s): credentials went on\n", from, to, userinfo ? "user:pw@" : "Authorization");
        CHECK(!has_line(&s, 1, "Authorization:"));
        CHECK(!has_line(&s, 1, "Cookie:"));
        CHECK(!has_line(&s, 1, "Host: h.example"));
        snprintf(line, sizeof line, "Host: 127.0.0.1:%d\r\n", s.port);
        CHECK(has_line(&s, 1, line));
        CHECK(has_line(&s, 1, "X-Kept: 1"));
        async_http_request_release(&r);
        env_close(&e);
        server_stop(&s);
    }
    SSL_CTX_free(ctx);
    fixture_stop(&pki);
}

/* The next hop of play_answer_the_head, and what it read of the cut upload. */
static server *upload_next_hop;
static size_t upload_drained;

/* Answers the head at once with s->response and reads nothing more until the client has
   gone on to upload_next_hop (a client that would first finish its upload never gets
   there); then reads what is left to its end, counting it in upload_drained: what was in
   flight when the client cut its upload, not the whole body. */
static void play_answer_the_head(server *s, int fd, int index) {
    char buf[65536];
    ssize_t n;
    (void)index;
    if (!read_request(fd) || !send_str(fd, s->response)) return;
    WAIT_UNTIL(server_get(upload_next_hop, &upload_next_hop->accepted) || server_stopping(s), 10000);
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) upload_drained += (size_t)n;
}

/* Whether the body of the server's i-th request (de-chunked, if it came chunked) is len
   bytes whose CRC-32 is crc. */
static int body_arrived_whole(server *s, int i, size_t len, uLong crc) {
    const captured *c = server_capture(s, i);
    const char *p, *end;
    size_t got = 0;
    uLong sum = crc32(0L, Z_NULL, 0);
    if (!c || !c->complete) return 0;
    p = c->bytes + c->head_len;
    end = c->bytes + c->len;
    if (!head_chunked(c->bytes, c->head_len)) {
        got = (size_t)(end - p);
        sum = crc32(sum, (const Bytef *)p, (uInt)got);
    } else {
        while (p < end) { /* size CRLF data CRLF ..., up to the last chunk (0) */
            char *data;
            size_t n = strtoul(p, &data, 16);
            if (!n || !(data = strstr(data, "\r\n")) || (size_t)(end - data) < n + 4) break;
            sum = crc32(sum, (const Bytef *)data + 2, (uInt)n);
            got += n;
            p = data + 2 + n + 2;
        }
    }
    if (got != len || sum != crc) fprintf(stderr, "  body: %lu bytes, CRC %08lx\n", (unsigned long)got, sum);
    return got == len && sum == crc;
}

/* A 307 (or 308) that comes while the client is still uploading a big body (8 MiB, more
   than the socket buffers hold: the server reads only the head): the client stops sending
   to the first server (which then finds less than the body in its socket: the rest never
   went), and the next hop gets the whole body again, from its first byte, as
   Content-Length says or chunked as the user asked; byte for byte (its CRC). Its send on
   the next hop must not go on from where the cut one stopped, nor lose what was in flight. */
TEST(redirect_307_308_mid_upload_sends_the_whole_body_again) {
    enum { BODY = 8 << 20 };
    static const int statuses[] = {307, 308};
    static const char *const chunked[] = {"Transfer-Encoding: chunked", NULL};
    static char redirect[160];
    char *body = (char *)malloc(BODY);
    uint32_t x = 2463534242u;
    uLong crc;
    size_t i;
    int k, whole;
    for (i = 0; i < BODY; i++) { /* letters: no chunked body's end inside it */
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        body[i] = (char)('a' + x % 26);
    }
    crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)body, BODY);
    for (k = 0; k < 4; k++) {
        env e;
        server a, b;
        async_http_request r;
        char url[96], line[64];
        server_start(&a, play_answer_the_head);
        server_start(&b, play_capture);
        b.response = DONE_RESPONSE;
        snprintf(redirect, sizeof redirect,
                 "HTTP/1.1 %d R\r\nLocation: http://127.0.0.1:%d/next\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                 statuses[k % 2], b.port);
        a.response = redirect;
        upload_next_hop = &b;
        upload_drained = 0;
        CHECK_EQ(env_init(&e, NULL), 0);
        url_of(url, sizeof url, &a, "/upload");
        memset(&r, 0, sizeof r);
        r.body = body;
        r.body_len = BODY;
        r.timeout = ASYNC_SEC(5);
        r.headers = k >= 2 ? chunked : NULL;
        CHECK_EQ(fetch(&e.client, &r, "POST", url), 0);
        CHECK_EQ(r.response.status, 200);
        CHECK_EQ(r.response.history_len, 1);
        CHECK_EQ(server_received(&b), 1);
        request_line(&b, 0, line, sizeof line);
        CHECK_STR(line, "POST /next HTTP/1.1");
        whole = body_arrived_whole(&b, 0, BODY, crc);
        if (!whole) fprintf(stderr, "  %d, %s\n", statuses[k % 2], k >= 2 ? "chunked" : "Content-Length");
        CHECK(whole);
        async_http_request_release(&r);
        env_close(&e);
        server_stop(&a);
        server_stop(&b);
        CHECK(upload_drained < BODY);
    }
    free(body);
}

/* ------------------------------------------------------------------ */
/* URLs                                                                */

TEST(url_errors_say_what_and_where) {
    static const struct {
        const char *url;
        int error;
        const char *message;
    } cases[] = {
        {"http//x/", ASYNC_HTTP_EURL, "invalid URL: ':' missing after the scheme at 4"},
        {"http:x/", ASYNC_HTTP_EURL, "invalid URL: '//' missing after the scheme at 5"},
        {"127.0.0.1/", ASYNC_HTTP_EURL, "invalid URL: no scheme (http:// or https://) at 0"},
        {"ftp://x/", ASYNC_HTTP_ESCHEME, "unsupported URL scheme: only http:// and https:// are supported"},
        {"http://[::1/", ASYNC_HTTP_EURL, "invalid URL: '[' of an IPv6 literal never closed at 7"},
        {"http://x:99999/", ASYNC_HTTP_EURL, "invalid URL: port out of range (1-65535) at 9"},
        {"http://x:0/", ASYNC_HTTP_EURL, "invalid URL: port out of range (1-65535) at 9"},
        {"http://x:8a/", ASYNC_HTTP_EURL, "invalid URL: invalid port at 10"},
        {"http://a b/", ASYNC_HTTP_EURL, "invalid URL: space in the host at 8"},
        {"http://a/b c", ASYNC_HTTP_EURL, "invalid URL: space in the URL (write it %20) at 10"},
        {"http://a/b\r\nX: y", ASYNC_HTTP_EURL, "invalid URL: control character in the URL at 10"},
        /* in the user:password too (base64 on the wire, but response.url shows it as given) */
        {"http://u\r\nX: 1:p@a/", ASYNC_HTTP_EURL, "invalid URL: control character in the URL at 8"},
        {"http://u v:p@a/", ASYNC_HTTP_EURL, "invalid URL: space in the URL (write it %20) at 8"},
        {"http:///path", ASYNC_HTTP_EURL, "invalid URL: no host at 7"},
        {" http://a/", ASYNC_HTTP_EURL, "invalid URL: white space before the URL at 0"},
        {"http://::1:8080/", ASYNC_HTTP_EURL, "invalid URL: an IPv6 address goes in brackets (http://[::1]:8080/) at 7"},
        {"http://u@fe80::1/", ASYNC_HTTP_EURL, "invalid URL: an IPv6 address goes in brackets (http://[::1]:8080/) at 9"},
        {"http://x:80:90/", ASYNC_HTTP_EURL, "invalid URL: invalid port at 11"}, /* a name: not an address */
        /* a '%' in a name would be looked up whole, and a certificate checked for what comes before it */
        {"https://localhost%.evil.test/", ASYNC_HTTP_EURL,
         "invalid URL: '%' in the host (percent-encoded names are not taken) at 17"},
        {"http://127.0.0.1%.x/", ASYNC_HTTP_EURL, "invalid URL: '%' in the host (percent-encoded names are not taken) at 16"},
        /* brackets hold an IPv6 address, nothing else (the Host sent would be "[127.0.0.1]") */
        {"http://[127.0.0.1]/", ASYNC_HTTP_EURL, "invalid URL: invalid IPv6 literal at 8"},
        {"http://[localhost]:80/", ASYNC_HTTP_EURL, "invalid URL: invalid IPv6 literal at 8"},
        {"http://[v1.fe]/", ASYNC_HTTP_EURL, "invalid URL: invalid IPv6 literal at 8"},
        {"http://[::1%25lo/x]/", ASYNC_HTTP_EURL, "invalid URL: '[' of an IPv6 literal never closed at 7"},
        {"http://[::1%25l o]/", ASYNC_HTTP_EURL, "invalid URL: invalid character in an IPv6 literal at 15"},
    };
    env e;
    size_t i;
    CHECK_EQ(env_init(&e, NULL), 0);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        async_http_request r;
        int err = fetch_new(&e.client, &r, "GET", cases[i].url, 0);
        if (err != cases[i].error || strcmp(async_http_request_error(&r), cases[i].message) != 0)
            fprintf(stderr, "  %s: %d \"%s\"\n", cases[i].url, err, async_http_request_error(&r));
        CHECK_EQ(err, cases[i].error);
        CHECK_STR(async_http_request_error(&r), cases[i].message);
        CHECK(r.info.start && r.info.done >= r.info.start); /* its times, as any failure's */
        async_http_request_release(&r);
    }
    CHECK(client_settled(&e.client));
    env_close(&e);
}

/* The URL given goes out as a Location would: its path's "." and ".." segments removed (RFC
   3986 5.2.2, 6.2.2.3), bytes past ASCII in the path and query escaped (RFC 9112 3.2), as curl
   and aiohttp send them; the fragment stays in response.url as it came; "%2e%2e" and a stray
   '%' are not dots and stay (as curl). */
TEST(url_sent_normalized) {
    static const struct {
        const char *path, *line, *url_tail;
    } cases[] = {
        {"/a/./b/../c?x/../y#f/../g", "GET /a/c?x/../y HTTP/1.1", "/a/c?x/../y#f/../g"},
        {"/a/..", "GET / HTTP/1.1", "/"},
        {"/..", "GET / HTTP/1.1", "/"},
        {"/a/.?q", "GET /a/?q HTTP/1.1", "/a/?q"},
        {"/caf\xc3\xa9?q=\xc3\xa9#\xc3\xa9", "GET /caf%C3%A9?q=%C3%A9 HTTP/1.1", "/caf%C3%A9?q=%C3%A9#\xc3\xa9"},
        {"/a/%2e%2e/b%/.x/..y", "GET /a/%2e%2e/b%/.x/..y HTTP/1.1", "/a/%2e%2e/b%/.x/..y"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env e;
        server s;
        async_http_request r;
        char url[128], line[128];
        const char *responses[] = {DONE_RESPONSE, NULL};
        server_start(&s, play_capture);
        s.responses = responses;
        CHECK_EQ(env_init(&e, NULL), 0);
        url_of(url, sizeof url, &s, cases[i].path);
        CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
        CHECK_EQ(r.response.status, 200);
        request_line(&s, 0, line, sizeof line);
        if (strcmp(line, cases[i].line) != 0) fprintf(stderr, "  \"%s\": \"%s\"\n", cases[i].path, line);
        CHECK_STR(line, cases[i].line);
        CHECK(r.response.url && strlen(r.response.url) > strlen(cases[i].url_tail) &&
              !strcmp(r.response.url + strlen(r.response.url) - strlen(cases[i].url_tail), cases[i].url_tail));
        async_http_request_release(&r);
        env_close(&e);
        server_stop(&s);
    }
}

/* RFC 3986 5.4's examples, normal and abnormal (fragments dropped: they never go out). */
TEST(url_resolve_rfc3986) {
    static const char *const cases[][2] = {
        {"g", "http://a/b/c/g"},           {"./g", "http://a/b/c/g"},        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},              {"//g", "http://g"},              {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},       {"#s", "http://a/b/c/d;p?q"},     {"g#s", "http://a/b/c/g"},
        {"g?y#s", "http://a/b/c/g?y"},     {";x", "http://a/b/c/;x"},        {"g;x", "http://a/b/c/g;x"},
        {"", "http://a/b/c/d;p?q"},        {".", "http://a/b/c/"},           {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},             {"../", "http://a/b/"},           {"../g", "http://a/b/g"},
        {"../..", "http://a/"},            {"../../", "http://a/"},          {"../../g", "http://a/g"},
        {"../../../g", "http://a/g"},      {"../../../../g", "http://a/g"},  {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},           {"g.", "http://a/b/c/g."},        {".g", "http://a/b/c/.g"},
        {"g..", "http://a/b/c/g.."},       {"..g", "http://a/b/c/..g"},      {"./../g", "http://a/b/g"},
        {"./g/.", "http://a/b/c/g/"},      {"g/./h", "http://a/b/c/g/h"},    {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"}, {"g;x=1/../y", "http://a/b/c/y"}, {"g?y/./x", "http://a/b/c/g?y/./x"},
        {"g?y/../x", "http://a/b/c/g?y/../x"}, {"https://x/y", "https://x/y"},
        /* the dots of an absolute or network-path reference go too (5.2.2: remove_dot_segments) */
        {"//g/../x", "http://g/x"},        {"//g#/a/../b?c", "http://g"},        {"https://x/./y/../z?a/../b", "https://x/z?a/../b"}, {"http:g", "http:g"},
        /* a Location's space and bytes past ASCII escaped, as a redirect follows it (and curl
           and yarl resolve it); a scheme is ALPHA *(ALPHA / DIGIT / + / - / .) (3.1), else
           the colon is in a relative path, as curl and yarl take it */
        {"/sp ace/caf\xc3\xa9?q=\xc3\xa9 x#f g", "http://a/sp%20ace/caf%C3%A9?q=%C3%A9%20x"},
        {"1.2.3.4:80/x", "http://a/b/c/1.2.3.4:80/x"}, {"\\\\h:1/x", "http://a/b/c/\\\\h:1/x"},
        {"a+b-c.9:x", "a+b-c.9:x"},
    };
    char out[128];
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = async_http_url_resolve("http://a/b/c/d;p?q", cases[i][0], out, sizeof out);
        if (n < 0 || strcmp(out, cases[i][1]) != 0) fprintf(stderr, "  \"%s\": \"%s\"\n", cases[i][0], n < 0 ? "-" : out);
        CHECK(n == (int)strlen(cases[i][1]));
        CHECK_STR(out, cases[i][1]);
    }
    CHECK_EQ(async_http_url_resolve("http://a/b", "/a-long-path", out, 8), ASYNC_EINVAL); /* no room */
    /* a fragment with a '/' after a network-path: resolved in a scratch copy of its exact
       size (the room is short of the worst case), nothing read past it (ASan) */
    CHECK_EQ(async_http_url_resolve("http://a/b/c/d;p?q", "//g#/a/../b?c", out, 9), 8);
    CHECK_STR(out, "http://g");
    CHECK_EQ(async_http_url_resolve("nonsense", "g", out, sizeof out), ASYNC_HTTP_EURL);
}

/* ------------------------------------------------------------------ */
/* name lookups                                                        */

/* A resolver of the test's: answers with fixed addresses after a pause (or, held, once the
   test lets it), counts its calls (from worker threads: under a lock). */
typedef struct fake_dns {
    pthread_mutex_t lock;
    pthread_cond_t released;
    int calls, delay_ms, fail, held;
    const char *addrs[4]; /* IP literals, in the order to try */
} fake_dns;

static int fake_resolve(void *user, const char *name, struct sockaddr_storage *out, size_t max, size_t *count) {
    fake_dns *d = (fake_dns *)user;
    size_t i;
    struct timespec give_up;
    (void)name;
    clock_gettime(CLOCK_REALTIME, &give_up);
    give_up.tv_sec += 2; /* held: were it run on the loop's thread, the test fails, not hangs */
    pthread_mutex_lock(&d->lock);
    d->calls++;
    while (d->held && pthread_cond_timedwait(&d->released, &d->lock, &give_up) == 0) {
    }
    pthread_mutex_unlock(&d->lock);
    if (d->delay_ms) msleep(d->delay_ms);
    if (d->fail) return ASYNC_HTTP_ENAME;
    for (*count = 0, i = 0; i < 4 && d->addrs[i] && *count < max; i++) {
        struct sockaddr_storage *a = &out[(*count)++];
        memset(a, 0, sizeof *a);
        if (strchr(d->addrs[i], ':')) {
            a->ss_family = AF_INET6;
            inet_pton(AF_INET6, d->addrs[i], &((struct sockaddr_in6 *)(void *)a)->sin6_addr);
        } else {
            a->ss_family = AF_INET;
            inet_pton(AF_INET, d->addrs[i], &((struct sockaddr_in *)(void *)a)->sin_addr);
        }
    }
    return 0;
}

static int fake_calls(fake_dns *d) {
    int n;
    pthread_mutex_lock(&d->lock);
    n = d->calls;
    pthread_mutex_unlock(&d->lock);
    return n;
}

static void fake_init(fake_dns *d, int delay_ms, const char *a0, const char *a1) {
    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->released, NULL);
    d->delay_ms = delay_ms;
    d->addrs[0] = a0, d->addrs[1] = a1;
}

/* held: lookups wait from now on, until the test lets them go (held 0). */
static void fake_hold(fake_dns *d, int held) {
    pthread_mutex_lock(&d->lock);
    d->held = held;
    pthread_cond_broadcast(&d->released);
    pthread_mutex_unlock(&d->lock);
}

/* stalling: the loop on a stall clock (tests/net.h), which the test may also move. */
static int dns_env(env *e, fake_dns *d, async_time ttl, int stalling) {
    async_http_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.resolver = fake_resolve;
    cfg.resolver_user = d;
    cfg.dns_cache_ttl = ttl;
    return env_init_with(e, &cfg, stalling, NULL);
}

static uint64_t lookups(const env *e) { return client_stats(&e->client).lookups; }

/* A request that waits for a tick: the loop's time when it fired. */
typedef struct ticker {
    async_task task;
    async_timer t;
    async_time delay, fired;
} ticker;

static int ticker_run(async_task *t) {
    ticker *k = (ticker *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_sleep(t->loop, &k->t, k->delay));
    k->fired = async_now(t->loop);
    ASYNC_END(t);
}

/* Names are the same in any case (RFC 3986 3.2.2): one host, one lookup, one connection. */
TEST(host_names_case_insensitive) {
    static fake_dns d;
    env e;
    server s;
    async_http_request r;
    char url[96];
    const char *names[] = {"name.test", "Name.TEST", "NAME.test"};
    int i;
    fake_init(&d, 0, "127.0.0.1", NULL);
    server_start(&s, play_capture);
    CHECK_EQ(dns_env(&e, &d, 0, 0), 0);
    for (i = 0; i < 3; i++) {
        snprintf(url, sizeof url, "http://%s:%d/", names[i], s.port);
        CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
        async_http_request_release(&r);
    }
    CHECK_EQ(lookups(&e), 1);
    CHECK_EQ(fake_calls(&d), 1);
    CHECK_EQ(client_connects(&e.client), 1);
    env_close(&e);
    server_stop(&s);
}

/* Three hundred hosts (the table grows six times): each is found again, by any spelling,
   after the others came: one lookup each, never a second entry. */
TEST(many_hosts_found_again) {
    enum { HOSTS = 300 };
    static fake_dns d;
    env e;
    server s;
    async_http_request r;
    char url[96];
    int i, pass;
    fake_init(&d, 0, "127.0.0.1", NULL);
    server_start(&s, play_capture);
    CHECK_EQ(dns_env(&e, &d, ASYNC_NO_TIMEOUT, 0), 0);
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < HOSTS; i++) {
            snprintf(url, sizeof url, pass ? "http://H%d.Test:%d/" : "http://h%d.test:%d/", i, s.port);
            CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
            async_http_request_release(&r);
        }
    CHECK_EQ(lookups(&e), HOSTS);
    CHECK_EQ(e.client._nhosts, HOSTS);
    CHECK_EQ(server_received(&s), 2 * HOSTS);
    env_close(&e);
    server_stop(&s);
}

/* The table stays the size of what a client used lately: once it is full, an entry unused
   for ASYNC_HTTP_HOST_KEEP is forgotten (its addresses too, though still fresh: the next
   request for it looks it up again), one used since is kept (its addresses found without a
   lookup), and a forgotten entry's place is made again. The stall clock, moved by the test. */
TEST(hosts_forgotten_when_unused) {
    static fake_dns d;
    env e;
    server s;
    async_http_request r, first;
    char url[96];
    int i;
    async_time step = ASYNC_HTTP_HOST_KEEP / 2 + ASYNC_SEC(1);
    fake_init(&d, 0, "127.0.0.1", NULL);
    server_start(&s, play_ok);
    CHECK_EQ(dns_env(&e, &d, 4 * ASYNC_HTTP_HOST_KEEP, 1), 0); /* addresses outlive the entries */
    snprintf(url, sizeof url, "http://old.test:%d/", s.port);
    CHECK_EQ(fetch_new(&e.client, &first, "GET", url, 0), 0); /* done, kept: its host is not in use */
    e.stall.now += step;
    snprintf(url, sizeof url, "http://recent.test:%d/", s.port);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    async_http_request_release(&r);
    e.stall.now += step; /* old: unused for longer than ASYNC_HTTP_HOST_KEEP; recent: for half */
    for (i = 0; i < 8; i++) { /* the table (8) fills, and the ninth host's entry looks for room */
        snprintf(url, sizeof url, "http://n%d.test:%d/", i, s.port);
        CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
        async_http_request_release(&r);
    }
    CHECK_EQ(client_stats(&e.client).hosts_forgotten, 1);
    CHECK_EQ(client_stats(&e.client).hosts, 9);
    CHECK_EQ(e.client._nhosts, 9); /* the eighth new one in the forgotten one's place */
    CHECK_EQ(lookups(&e), 10);
    snprintf(url, sizeof url, "http://recent.test:%d/", s.port);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    async_http_request_release(&r);
    CHECK_EQ(lookups(&e), 10); /* kept, addresses and all */
    snprintf(url, sizeof url, "http://old.test:%d/", s.port);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK_EQ(r.response.status, 200);
    async_http_request_release(&r);
    CHECK_EQ(lookups(&e), 11); /* made again, looked up again */
    CHECK_EQ(client_stats(&e.client).hosts, 10);
    CHECK_EQ(first.response.status, 200);
    async_http_request_release(&first);
    env_close(&e);
    server_stop(&s);
}

/* A crawler: eighty hosts, eight at a time, the clock past ASYNC_HTTP_HOST_KEEP between
   the batches: the table never grows past its first 8 entries (their idle connections
   closed after keepalive_timeout, then they are forgotten). A host whose request is still
   in flight is never forgotten, however long it waits: its request ends well. */
TEST(hosts_crawled_table_bounded) {
    static fake_dns d;
    env e;
    server s, slow;
    async_http_request r, held;
    char url[96];
    int round, i;
    fake_init(&d, 0, "127.0.0.1", NULL);
    server_start(&s, play_ok);
    server_start(&slow, play_capture);
    server_hold(&slow);
    CHECK_EQ(dns_env(&e, &d, 0, 1), 0);
    memset(&held, 0, sizeof held);
    held.timeout = ASYNC_NO_TIMEOUT;
    snprintf(url, sizeof url, "http://held.test:%d/", slow.port);
    async_http_get(&e.client, &held, url);
    CHECK(run_until_received(&e.loop, &slow, 1, 2000));
    for (round = 0; round < 10; round++) {
        for (i = 0; i < 7; i++) {
            snprintf(url, sizeof url, "http://r%dh%d.test:%d/", round, i, s.port);
            CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
            CHECK_EQ(r.response.status, 200);
            async_http_request_release(&r);
        }
        e.stall.now += ASYNC_HTTP_HOST_KEEP + ASYNC_SEC(1);
    }
    CHECK_EQ(e.client._hosts_cap, 8);
    CHECK_EQ(client_stats(&e.client).hosts_forgotten, 63);
    CHECK_EQ(lookups(&e), 71);
    CHECK(!async_done(&held.task.future));
    server_release(&slow);
    CHECK_EQ(async_run(&e.loop, &held.task.future), 0);
    CHECK_EQ(held.response.status, 200);
    async_http_request_release(&held);
    env_close(&e);
    server_stop(&s);
    server_stop(&slow);
}

/* A host whose request waits for a connection (the client's one slot is taken), and the
   proxy that hosts go through: in use, though no connection of theirs is, and never
   forgotten however long they wait. The queued request goes to its own host; every host
   behind the proxy still goes through it. */
static int waiting_7(void *client) { return client_stats((async_http_client *)client).waiting == 7; }

TEST(hosts_in_use_never_forgotten) {
    static fake_dns d;
    env e;
    server s, slow, proxy;
    async_http_request r, held, queued, b[6];
    async_http_client_config cfg;
    char url[96], proxy_url[64], urls[6][32], host_line[64];
    int i;
    fake_init(&d, 0, "127.0.0.1", NULL);
    server_start(&s, play_capture);
    server_start(&slow, play_capture);
    server_start(&proxy, play_capture);
    server_hold(&slow);
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", proxy.port);
    memset(&cfg, 0, sizeof cfg);
    cfg.resolver = fake_resolve, cfg.resolver_user = &d;
    cfg.limit = 1;
    cfg.timeout_total = ASYNC_NO_TIMEOUT;
    cfg.proxy = proxy_url;
    cfg.no_proxy = "test"; /* *.test direct, *.example through the proxy */
    CHECK_EQ(env_init_with(&e, &cfg, 1, NULL), 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", "http://a.example/", 0), 0); /* the proxy's entry, then a's */
    CHECK_EQ(r.response.status, 200);
    async_http_request_release(&r);
    memset(&held, 0, sizeof held);
    memset(&queued, 0, sizeof queued);
    memset(b, 0, sizeof b);
    snprintf(url, sizeof url, "http://held.test:%d/", slow.port);
    async_http_get(&e.client, &held, url);
    CHECK(run_until_received(&e.loop, &slow, 1, 2000)); /* it has the one slot */
    snprintf(url, sizeof url, "http://queued.test:%d/", s.port);
    async_http_get(&e.client, &queued, url);
    e.stall.now += 2 * ASYNC_HTTP_HOST_KEEP;
    for (i = 0; i < 6; i++) { /* the table (8) fills: its sweep may forget only a.example */
        snprintf(urls[i], sizeof urls[i], "http://b%d.example/", i);
        async_http_get(&e.client, &b[i], urls[i]);
    }
    CHECK(run_until(&e.loop, waiting_7, &e.client, 2000)); /* all made, all queued */
    CHECK_EQ(client_stats(&e.client).hosts_forgotten, 1);
    server_release(&slow);
    CHECK_EQ(async_run(&e.loop, &held.task.future), 0);
    CHECK_EQ(async_run(&e.loop, &queued.task.future), 0);
    CHECK_EQ(queued.response.status, 200);
    snprintf(host_line, sizeof host_line, "Host: queued.test:%d", s.port);
    CHECK(has_line(&s, 0, host_line));
    for (i = 0; i < 6; i++) {
        CHECK_EQ(async_run(&e.loop, &b[i].task.future), 0);
        CHECK_EQ(b[i].response.status, 200);
        async_http_request_release(&b[i]);
    }
    async_http_request_release(&held);
    async_http_request_release(&queued);
    CHECK_EQ(server_received(&proxy), 7); /* a, and the six b: all through the proxy */
    env_close(&e);
    server_stop(&s);
    server_stop(&slow);
    server_stop(&proxy);
}

/* A proxy whose hosts were all forgotten is unused; a new host behind it finds its entry and
   holds it before the sweep that makes the new host's room may forget it (before, the new
   host went through a forgotten entry: a NULL name looked up). And a forgotten entry whose
   making again fails (an IPv6 zone no interface has) stays forgotten, and is freed once. */
TEST(hosts_forgotten_around_a_proxy_and_a_failed_entry) {
    static fake_dns d;
    env e;
    server s, proxy;
    async_http_request r;
    async_http_client_config cfg;
    char url[96], proxy_url[64];
    int i;
    fake_init(&d, 0, "127.0.0.1", NULL);
    server_start(&s, play_capture);
    server_start(&proxy, play_capture);
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", proxy.port);
    memset(&cfg, 0, sizeof cfg);
    cfg.resolver = fake_resolve, cfg.resolver_user = &d;
    cfg.proxy = proxy_url;
    cfg.no_proxy = "test"; /* *.test direct, *.example through the proxy */
    CHECK_EQ(env_init_with(&e, &cfg, 1, NULL), 0);
    for (i = -1; i < 13; i++) { /* a.example (the proxy's entry, then a's), six to fill, a sweep, six more */
        if (i < 0) snprintf(url, sizeof url, "http://a.example/");
        else snprintf(url, sizeof url, "http://h%d.test:%d/", i, s.port);
        CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
        async_http_request_release(&r);
        if (i == 5) e.stall.now += 2 * ASYNC_HTTP_HOST_KEEP;
    }
    CHECK_EQ(client_stats(&e.client).hosts_forgotten, 7); /* a and six: not yet the proxy, a's user then */
    e.stall.now += 2 * ASYNC_HTTP_HOST_KEEP; /* the proxy unused for long now, as are the h */
    CHECK_EQ(fetch_new(&e.client, &r, "GET", "http://b.example/", 0), 0);
    CHECK_EQ(r.response.status, 200);
    async_http_request_release(&r);
    CHECK_EQ(server_received(&proxy), 2); /* a and b: through it */
    CHECK(client_stats(&e.client).hosts_forgotten >= 13);
    CHECK(e.client._hosts_forgotten != 0); /* the next entry goes in a forgotten place */
    CHECK_EQ(fetch_new(&e.client, &r, "GET", "http://[fe80::1%25nosuchif9]/", 0), ASYNC_HTTP_ENAME);
    async_http_request_release(&r);
    CHECK(e.client._hosts_forgotten != 0 && !e.client._hosts[e.client._hosts_forgotten - 1].name);
    env_close(&e); /* every name freed once */
    server_stop(&s);
    server_stop(&proxy);
}

/* A lookup that hangs blocks nothing: a 50 ms timer fires when due (a stall clock: the
   lookup is the stall), a request to an IP literal is served meanwhile, and the looked-up
   request waits for its lookup and then goes on. */
TEST(lookup_off_the_loop) {
    static fake_dns d;
    env e;
    server s;
    async_http_request by_name, by_ip;
    ticker k;
    char url_name[96], url_ip[96];
    async_time t0;
    fake_init(&d, 0, "127.0.0.1", NULL);
    fake_hold(&d, 1);
    server_start(&s, play_capture);
    CHECK_EQ(dns_env(&e, &d, 0, 1), 0);
    snprintf(url_name, sizeof url_name, "http://slow.test:%d/name", s.port);
    url_of(url_ip, sizeof url_ip, &s, "/ip");
    t0 = async_now(&e.loop);
    memset(&by_name, 0, sizeof by_name);
    memset(&by_ip, 0, sizeof by_ip);
    memset(&k, 0, sizeof k);
    k.delay = ASYNC_MS(50);
    async_http_get(&e.client, &by_name, url_name);
    async_http_get(&e.client, &by_ip, url_ip);
    async_create_task(&e.loop, &k.task, ticker_run);
    CHECK_EQ(async_run(&e.loop, &by_ip.task.future), 0);
    CHECK_EQ(by_ip.response.status, 200);
    CHECK_EQ(async_run(&e.loop, &k.task.future), 0);
    CHECK(fired_on_time(k.fired - t0, ASYNC_MS(50)));
    CHECK(!async_done(&by_name.task.future));
    fake_hold(&d, 0);
    CHECK_EQ(async_run(&e.loop, &by_name.task.future), 0);
    CHECK_EQ(by_name.response.status, 200);
    CHECK_EQ(fake_calls(&d), 1);
    async_http_request_release(&by_name);
    async_http_request_release(&by_ip);
    env_close(&e);
    server_stop(&s);
}

typedef struct named_requests {
    async_http_client *client;
    async_http_request reqs[100];
    char url[96];
} named_requests;

static const char *const close_it[] = {"Connection: close", NULL};

/* Each on a new connection: nothing pooled answers in place of a lookup. */
static async_future *start_named(void *user, int i) {
    named_requests *m = (named_requests *)user;
    memset(&m->reqs[i], 0, sizeof m->reqs[i]);
    m->reqs[i].headers = close_it;
    return async_http_get(m->client, &m->reqs[i], m->url);
}

/* One request on a new connection (so it needs the name's addresses): its error, or 0. */
static int fetch_anew(env *e, const char *url) {
    async_http_request r;
    int err;
    memset(&r, 0, sizeof r);
    r.headers = close_it;
    err = fetch(&e->client, &r, "GET", url);
    if (err == ASYNC_HTTP_ENAME) CHECK(!strncmp(async_http_request_error(&r), "host name not found: ", 21)); /* and which */
    async_http_request_release(&r);
    return err;
}

/* 100 requests at once to one name not yet looked up: one lookup, shared. Then the cache
   answers until its TTL is up, to the nanosecond (the test moves a stall clock); a failure
   is not kept. */
TEST(lookup_shared_and_cached) {
    static fake_dns d;
    static named_requests m;
    env e;
    server s;
    int i, ok = 0;
    fake_init(&d, 50, "127.0.0.1", NULL);
    server_start(&s, play_capture);
    CHECK_EQ(dns_env(&e, &d, ASYNC_MS(300), 1), 0);
    m.client = &e.client;
    snprintf(m.url, sizeof m.url, "http://many.test:%d/", s.port);
    CHECK_EQ(run_gathered(&e.loop, 100, start_named, &m), 0);
    for (i = 0; i < 100; i++) {
        ok += async_error(&m.reqs[i].task.future) == 0 && m.reqs[i].response.status == 200;
        async_http_request_release(&m.reqs[i]);
    }
    CHECK_EQ(ok, 100);
    CHECK_EQ(fake_calls(&d), 1);
    CHECK_EQ(lookups(&e), 1);

    /* new connections within the TTL (the clock stood still since the lookup): from the
       cache, up to its last nanosecond */
    CHECK_EQ(fetch_anew(&e, m.url), 0);
    e.stall.now += ASYNC_MS(300) - 1;
    CHECK_EQ(fetch_anew(&e, m.url), 0);
    CHECK_EQ(fake_calls(&d), 1);
    e.stall.now += 1; /* the TTL is up: looked up again */
    CHECK_EQ(fetch_anew(&e, m.url), 0);
    CHECK_EQ(fake_calls(&d), 2);

    /* a failure is not kept */
    d.fail = 1;
    e.stall.now += ASYNC_MS(300);
    CHECK_EQ(fetch_anew(&e, m.url), ASYNC_HTTP_ENAME);
    d.fail = 0;
    CHECK_EQ(fetch_anew(&e, m.url), 0);
    CHECK_EQ(fake_calls(&d), 4);
    CHECK(client_settled(&e.client));
    env_close(&e);

    /* no cache at all: each new connection asks */
    fake_init(&d, 0, "127.0.0.1", NULL);
    CHECK_EQ(dns_env(&e, &d, ASYNC_HTTP_NO_DNS_CACHE, 0), 0);
    for (i = 0; i < 3; i++) CHECK_EQ(fetch_anew(&e, m.url), 0);
    CHECK_EQ(fake_calls(&d), 3);
    env_close(&e);
    server_stop(&s);
}

/* The lookup is part of the connect timeout, which ends it exactly when due (a stall
   clock); a client closed while one runs leaves nothing (the lookup frees itself once its
   worker is done: ASan). */
TEST(lookup_counts_against_connect_timeout) {
    static fake_dns d;
    env e;
    async_http_client_config cfg;
    async_http_request r;
    async_time t0;
    fake_init(&d, 1000, "127.0.0.1", NULL); /* well past the timeout: the lookup is the stall */
    memset(&cfg, 0, sizeof cfg);
    cfg.resolver = fake_resolve;
    cfg.resolver_user = &d;
    cfg.timeout_connect = ASYNC_MS(150);
    CHECK_EQ(env_init_stalling(&e, &cfg), 0);
    t0 = async_now(&e.loop);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", "http://slow.test:1/", 0), ASYNC_HTTP_ETIMEOUT_CONNECT);
    CHECK(fired_on_time(async_now(&e.loop) - t0, ASYNC_MS(150)));
    CHECK_STR(async_http_request_error(&r), "timed out: the connect timeout (0.15 s) passed");
    async_http_request_release(&r);
    env_close(&e); /* the lookup still runs: the io's exit waits for its worker */
}

/* A lookup that failed: the request says which name, and why where the system said
   (getaddrinfo's EAI_SYSTEM: out of fds; EAI_AGAIN: no answer). A resolver's own timeout
   (or cancel) is a failed lookup, not the request's connect timeout (which it read as, at
   once, with the 30 s it never waited). */
static int failing_resolver(void *user, const char *name, struct sockaddr_storage *addrs, size_t max,
                            size_t *count) {
    (void)user, (void)addrs, (void)max, (void)count;
    return !strcmp(name, "lost.test") ? ASYNC_ETIMEDOUT : !strcmp(name, "busy.test") ? -EMFILE : -EAGAIN;
}

TEST(lookup_failures_say_which_and_why) {
    static const char *const cases[][2] = {
        {"http://lost.test:1/", "host name not found: lost.test"},
        {"http://busy.test:1/", "host name not found: busy.test (Too many open files)"},
        {"http://far.test:1/", "host name not found: far.test (the name server did not answer)"},
    };
    env e;
    async_http_client_config cfg;
    async_http_request r;
    size_t i;
    memset(&cfg, 0, sizeof cfg);
    cfg.resolver = failing_resolver;
    CHECK_EQ(env_init_with(&e, &cfg, 0, NULL), 0);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_EQ(fetch_new(&e.client, &r, "GET", cases[i][0], 0), ASYNC_HTTP_ENAME);
        CHECK_STR(async_http_request_error(&r), cases[i][1]);
        async_http_request_release(&r);
    }
    env_close(&e);
}

/* Every address is tried: one where nothing listens (127.0.0.2), then the server's. */
TEST(dial_next_address_when_refused) {
    static fake_dns d;
    env e;
    server s;
    async_http_request r;
    char url[96];
    fake_init(&d, 0, "127.0.0.2", "127.0.0.1");
    server_start(&s, play_capture);
    CHECK_EQ(dns_env(&e, &d, 0, 0), 0);
    snprintf(url, sizeof url, "http://two.test:%d/", s.port);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK_EQ(r.response.status, 200);
    CHECK_EQ(client_connects(&e.client), 1);
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&s);
}

/* ::1 and 127.0.0.1: a server on each, IPv6 tried first; with nothing on ::1, 127.0.0.1 at
   once (a refusal does not wait for the 250 ms stagger: on a stall clock, no time passes). */
TEST(dial_ipv6_then_ipv4) {
    static fake_dns d;
    env e;
    server s4, s6;
    async_http_request r;
    char url[96];
    async_time t0;
    server_start(&s4, play_capture);
    if (!server_start6(&s6, play_capture)) {
        printf("NOTE dial_ipv6_then_ipv4: no IPv6 loopback here; tried the IPv4 half only\n");
        server_stop(&s4);
        return;
    }
    fake_init(&d, 0, "::1", "127.0.0.1");
    CHECK_EQ(dns_env(&e, &d, 0, 0), 0);
    snprintf(url, sizeof url, "http://both.test:%d/", s6.port);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK_EQ(server_received(&s6), 1); /* IPv6 first */
    async_http_request_release(&r);
    env_close(&e);
    snprintf(url, sizeof url, "http://both.test:%d/", s4.port); /* nothing on [::1] at that port */
    CHECK_EQ(dns_env(&e, &d, 0, 1), 0);
    t0 = async_now(&e.loop);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK_EQ(async_now(&e.loop) - t0, 0);
    CHECK_EQ(server_received(&s4), 1);
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&s4);
    server_stop(&s6);
}

/* ip:port, a listener that never accepts, its queue filled (fillers[4]): a SYN to it goes
   unanswered, as to a host that is down. Its fd. */
static int dead_address(const char *ip, int port, int fillers[4]) {
    struct sockaddr_in a;
    int hole = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), i;
    loopback_addr(&a, port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    CHECK(bind(hole, (struct sockaddr *)&a, sizeof a) == 0 && listen(hole, 0) == 0);
    for (i = 0; i < 4; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        connect(fillers[i], (struct sockaddr *)&a, sizeof a);
    }
    return hole;
}

static void dead_address_close(int hole, const int fillers[4]) {
    int i;
    for (i = 0; i < 4; i++) close(fillers[i]);
    close(hole);
}

/* An address that does not answer (a listener whose backlog is full: the SYN is dropped)
   holds nobody: 250 ms later, exactly (a stall clock), the next address is dialled,
   connects and wins; the first attempt is cancelled and its socket closed. */
static int fds_while_receiving;
static int fds_as_the_body_comes(async_http_request *req, const char *data, size_t len) {
    (void)req, (void)data, (void)len;
    if (fds_while_receiving < 0) fds_while_receiving = count_fds();
    return 0;
}

TEST(dial_happy_eyeballs_stagger) {
    static fake_dns d;
    env e;
    server s;
    async_http_request r;
    char url[96];
    int hole, fillers[4], fds;
    async_time t0;
    server_start(&s, play_capture);
    hole = dead_address("127.0.0.3", s.port, fillers); /* the server's port, on another address */
    msleep(50);
    fake_init(&d, 0, "127.0.0.3", "127.0.0.1");
    CHECK_EQ(dns_env(&e, &d, 0, 1), 0);
    fds = count_fds();
    snprintf(url, sizeof url, "http://slow-first.test:%d/", s.port);
    t0 = async_now(&e.loop);
    memset(&r, 0, sizeof r);
    r.timeout = ASYNC_SEC(5);
    r.on_body = fds_as_the_body_comes;
    fds_while_receiving = -1;
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    CHECK(fired_on_time(async_now(&e.loop) - t0, ASYNC_MS(250))); /* the stagger */
    CHECK_EQ(server_received(&s), 1);
    /* the loser is closed when the winner connects, not when the response is over (its SYN
       may yet be answered: a connection the server would keep for nobody) */
    CHECK_EQ(fds_while_receiving, fds + 2);
    async_http_request_release(&r);
    env_flush(&e);
    CHECK_EQ(count_fds(), fds + 2); /* the winner, pooled, and the server's end of it: the loser's is closed */
    env_close(&e);
    dead_address_close(hole, fillers);
    server_stop(&s);
}

/* More dead addresses than attempts that race (three): every 250 ms the next address is due,
   and with every place taken the oldest attempt gives way, so the fourth address (the live
   one) is dialed at 750 ms, well within the connect timeout. */
TEST(dial_past_three_dead_addresses) {
    static fake_dns d;
    static const char *dead[3] = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
    env e;
    server s;
    async_http_request r;
    char url[96];
    int holes[3], fillers[3][4], k, fds;
    async_time t0;
    server_start(&s, play_capture);
    for (k = 0; k < 3; k++) holes[k] = dead_address(dead[k], s.port, fillers[k]);
    msleep(50);
    fake_init(&d, 0, dead[0], dead[1]);
    d.addrs[2] = dead[2], d.addrs[3] = "127.0.0.1";
    CHECK_EQ(dns_env(&e, &d, 0, 1), 0);
    fds = count_fds();
    snprintf(url, sizeof url, "http://three-dead.test:%d/", s.port);
    t0 = async_now(&e.loop);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    CHECK(fired_on_time(async_now(&e.loop) - t0, ASYNC_MS(750)));
    CHECK_EQ(server_received(&s), 1);
    async_http_request_release(&r);
    env_flush(&e);
    CHECK_EQ(count_fds(), fds + 2); /* the winner, pooled, and the server's end: the three others closed */
    env_close(&e);
    for (k = 0; k < 3; k++) dead_address_close(holes[k], fillers[k]);
    server_stop(&s);
}

/* ------------------------------------------------------------------ */
/* proxies                                                             */

/* tinyproxy (Debian's) on a free port of 127.0.0.1, its config and log in a temp dir. */
static int start_tinyproxy(fixture *f) {
    char conf[1024], path[512];
    int port = free_port();
    FILE *out;
    snprintf(conf, sizeof conf,
             "Port %d\nListen 127.0.0.1\nTimeout 30\nLogFile \"%s/tinyproxy.log\"\nLogLevel Info\n"
             "PidFile \"%s/tinyproxy.pid\"\nMaxClients 50\nAllow 127.0.0.1\nViaProxyName \"tinyproxy\"\n",
             port, f->root, f->root);
    snprintf(path, sizeof path, "%s/tinyproxy.conf", f->root);
    if (!(out = fopen(path, "w"))) return 0;
    fputs(conf, out);
    fclose(out);
    {
        char *argv[] = {"tinyproxy", "-d", "-c", path, NULL};
        if (fixture_spawn(f, argv) <= 0) return 0;
    }
    return wait_for_port(port) ? port : 0;
}

/* http through a proxy: the absolute form, the origin's Host, Proxy-Authorization from the
   proxy URL's credentials; the origin's name is the proxy's to look up, not ours. */
TEST(proxy_http_absolute_form) {
    env e;
    server proxy;
    async_http_request r;
    async_http_client_config cfg;
    char proxy_url[96], want_line[128];
    server_start(&proxy, play_capture); /* answers in place of the origin */
    snprintf(proxy_url, sizeof proxy_url, "http://user:pw@127.0.0.1:%d", proxy.port);
    memset(&cfg, 0, sizeof cfg);
    cfg.proxy = proxy_url;
    CHECK_EQ(env_init(&e, &cfg), 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", "http://origin.invalid:8080/p?q=1", 0), 0);
    CHECK_EQ(r.response.status, 200);
    async_http_request_release(&r);
    request_line(&proxy, 0, want_line, sizeof want_line);
    CHECK_STR(want_line, "GET http://origin.invalid:8080/p?q=1 HTTP/1.1");
    CHECK(has_line(&proxy, 0, "Host: origin.invalid:8080"));
    CHECK(has_line(&proxy, 0, "Proxy-Authorization: Basic dXNlcjpwdw=="));
    CHECK_EQ(lookups(&e), 0); /* 127.0.0.1 is a literal; origin.invalid never looked up */
    env_close(&e);
    server_stop(&proxy);
}

/* A request for the proxy's own URL goes through the proxy (as curl sends it), whether it
   comes first or after another host made the proxy's entry. */
TEST(proxy_own_url_through_the_proxy) {
    env e;
    server proxy;
    async_http_request r;
    async_http_client_config cfg;
    char proxy_url[64], url[96], line[128], want[128];
    const char *orders[2][3] = {{"/self-first", NULL, "/self-after"}, {NULL, "/self-second", NULL}};
    int order, i, seen = 0;
    server_start(&proxy, play_capture);
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", proxy.port);
    memset(&cfg, 0, sizeof cfg);
    cfg.proxy = proxy_url;
    for (order = 0; order < 2; order++) {
        CHECK_EQ(env_init(&e, &cfg), 0);
        for (i = 0; i < (order ? 2 : 3); i++) {
            const char *path = orders[order][i];
            if (path) snprintf(url, sizeof url, "%s%s", proxy_url, path);
            else snprintf(url, sizeof url, "http://other.test/");
            CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
            async_http_request_release(&r);
            request_line(&proxy, seen++, line, sizeof line);
            snprintf(want, sizeof want, "GET %s HTTP/1.1", url);
            CHECK_STR(line, want);
        }
        env_close(&e);
    }
    server_stop(&proxy);
}

/* The first host that goes through the proxy when the host table is full: the proxy's own
   entry is made first and fills it (ASan: no write past the table). And through a proxy, a
   user's Host shorter than the URL's host: the request line still carries the URL's host,
   whole (the send buffer is sized for it). */
TEST(proxy_host_table_and_long_host) {
    env e;
    server proxy, origin;
    async_http_request r;
    async_http_client_config cfg;
    char proxy_url[96], url[400], name[260], want[400];
    const char *headers[] = {"Host: x", NULL};
    int i;
    server_start(&proxy, play_capture);
    server_start(&origin, play_ok);
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", proxy.port);
    memset(&cfg, 0, sizeof cfg);
    cfg.proxy = proxy_url;
    cfg.no_proxy = "127.0.0.1";
    CHECK_EQ(env_init(&e, &cfg), 0);
    for (i = 0; i < 7; i++) { /* seven hosts around the proxy: the table's first 8 slots but one */
        snprintf(url, sizeof url, "http://127.0.0.1:%d/%d", i ? free_port() : origin.port, i);
        fetch_new(&e.client, &r, "GET", url, 0);
        async_http_request_release(&r);
    }
    CHECK_EQ(fetch_new(&e.client, &r, "GET", "http://origin.invalid/first", 0), 0);
    CHECK_EQ(r.response.status, 200);
    async_http_request_release(&r);
    memset(name, 'a', 250);
    name[250] = 0;
    snprintf(url, sizeof url, "http://%s.example/long", name);
    memset(&r, 0, sizeof r);
    r.headers = headers;
    CHECK_EQ(fetch(&e.client, &r, "GET", url), 0);
    async_http_request_release(&r);
    request_line(&proxy, 1, want, sizeof want);
    CHECK(!strncmp(want, "GET http://", 11) && strstr(want, ".example/long HTTP/1.1") && strlen(want) > 260);
    CHECK(has_line(&proxy, 1, "Host: x"));
    env_close(&e);
    server_stop(&proxy);
    server_stop(&origin);
}

/* https through a proxy to an IPv6 literal with a zone: the zone is the client's, and neither
   the CONNECT line nor its Host carries it. */
TEST(proxy_connect_leaves_the_zone_out) {
    env e;
    server proxy;
    async_http_request r;
    async_http_client_config cfg;
    char proxy_url[64], line[128];
    server_start(&proxy, play_capture);
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", proxy.port);
    memset(&cfg, 0, sizeof cfg);
    cfg.proxy = proxy_url;
    CHECK_EQ(env_init(&e, &cfg), 0);
    CHECK(fetch_new(&e.client, &r, "GET", "https://[fe80::1%25lo]:4443/", ASYNC_SEC(5)) != 0); /* no TLS there */
    async_http_request_release(&r);
    request_line(&proxy, 0, line, sizeof line);
    CHECK_STR(line, "CONNECT [fe80::1]:4443 HTTP/1.1");
    CHECK(has_line(&proxy, 0, "Host: [fe80::1]:4443"));
    env_close(&e);
    server_stop(&proxy);
}

/* no_proxy's entries as curl reads them: "*", a name and its subdomains (with or without the
   leading dot), an IP only itself (no "domain" of an address) or a network of them, an
   optional port. */
TEST(no_proxy_matching) {
    static const struct {
        const char *list, *name;
        unsigned port;
        int direct;
    } cases[] = {
        {"*", "any.host", 80, 1},           {"example.org", "example.org", 80, 1},
        {"example.org", "a.example.org", 80, 1}, {".example.org", "a.b.example.org", 443, 1},
        {"example.org", "badexample.org", 80, 0}, {"EXAMPLE.org", "www.Example.ORG", 80, 1},
        {"127.0.0.1", "127.0.0.1", 80, 1},   {"0.0.1", "127.0.0.1", 80, 0},
        {".0.0.1", "127.0.0.1", 80, 0},      {"::1", "::1", 80, 1},
        {"1", "fe80::1", 80, 0},             {"x.org:8080", "x.org", 8080, 1},
        {"x.org:8080", "x.org", 80, 0},      {"a.org, b.org ,c.org", "c.org", 80, 1},
        /* a trailing dot counts for nothing, on either side */
        {"example.org.", "a.example.org", 80, 1}, {"example.org", "example.org.", 80, 1},
        {"example.org", "example.org.x", 80, 0},
        /* addresses, not spellings; networks in CIDR, as curl 7.86 */
        {"::0:1", "::1", 80, 1},             {"[::1]", "::1", 80, 1},
        {"[::1]:8080", "::1", 8080, 1},      {"[::1]:8080", "::1", 80, 0},
        {"10.0.0.0/8", "10.200.3.4", 80, 1}, {"10.0.0.0/8", "11.0.0.1", 80, 0},
        {"192.168.0.0/17", "192.168.127.1", 80, 1}, {"192.168.0.0/17", "192.168.128.1", 80, 0},
        {"0.0.0.0/0", "8.8.8.8", 80, 1},     {"10.0.0.1/32", "10.0.0.2", 80, 0},
        {"10.0.0.0/33", "10.0.0.1", 80, 0},  {"10.0.0.0/", "10.0.0.0", 80, 0},
        {"10.0.0.0/8x", "10.0.0.1", 80, 0},  {"fd00::/8", "fd12::5", 80, 1},
        {"fd00::/8", "fe80::1", 80, 0},      {"::/0", "2001:db8::1", 80, 1},
        {"10.0.0.0/8", "::ffff:10.0.0.1", 80, 0}, /* families do not mix */
        {"::ffff:0:0/96", "10.0.0.1", 80, 0},
        {"10.0.0.0/8", "10.example.org", 80, 0},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = async_http__no_proxy(cases[i].list, cases[i].name, strlen(cases[i].name), cases[i].port);
        if (got != cases[i].direct) fprintf(stderr, "  no_proxy \"%s\", %s: %d\n", cases[i].list, cases[i].name, got);
        CHECK_EQ(got, cases[i].direct);
    }
}

/* httpoxy: in a CGI program (REQUEST_METHOD set) HTTP_PROXY is the client's own Proxy
   header, never a proxy to use; http_proxy still is, also written without a scheme. */
TEST(proxy_env_httpoxy) {
    env e;
    server attacker, origin, proxy;
    async_http_request r;
    async_http_client_config cfg;
    char v[96], url[96];
    server_start(&attacker, play_capture);
    server_start(&origin, play_capture);
    server_start(&proxy, play_capture);
    snprintf(v, sizeof v, "http://127.0.0.1:%d", attacker.port);
    setenv("REQUEST_METHOD", "GET", 1);
    setenv("HTTP_PROXY", v, 1);
    unsetenv("http_proxy");
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    memset(&cfg, 0, sizeof cfg);
    cfg.trust_env = 1;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url, sizeof url, &origin, "/direct");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    async_http_request_release(&r);
    env_close(&e);
    CHECK_EQ(server_received(&attacker), 0);
    CHECK_EQ(server_received(&origin), 1);
    /* the lower-case one is the user's; without a scheme it is http://, as curl reads it */
    snprintf(v, sizeof v, "127.0.0.1:%d", proxy.port);
    setenv("http_proxy", v, 1);
    CHECK_EQ(env_init(&e, &cfg), 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    async_http_request_release(&r);
    env_close(&e);
    CHECK_EQ(server_received(&proxy), 1);
    CHECK_EQ(server_received(&attacker), 0);
    /* outside CGI, HTTP_PROXY counts; but a lower-case one set empty says none */
    unsetenv("REQUEST_METHOD");
    setenv("http_proxy", "", 1);
    CHECK_EQ(env_init(&e, &cfg), 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    async_http_request_release(&r);
    env_close(&e);
    CHECK_EQ(server_received(&origin), 2);
    CHECK_EQ(server_received(&attacker), 0);
    unsetenv("HTTP_PROXY");
    unsetenv("http_proxy");
    server_stop(&attacker);
    server_stop(&origin);
    server_stop(&proxy);
}

/* A real proxy (tinyproxy): http to a capture server and https to a TLS server through it
   (CONNECT); no_proxy sends a host around it; the environment's proxy with trust_env. */
/* What config.trace told of a proxy's CONNECT: the first line sent and the first received. */
static char proxy_said[2][64];
static void note_proxy_trace(void *user, async_http_request *req, int what, const char *text, size_t len) {
    int i = what == ASYNC_HTTP_TRACE_PROXY_SENT ? 0 : what == ASYNC_HTTP_TRACE_PROXY_RECEIVED ? 1 : -1;
    (void)user, (void)req;
    if (i >= 0) snprintf(proxy_said[i], sizeof proxy_said[i], "%.*s", (int)strcspn(text, "\r"), len ? text : "");
}

TEST(proxy_tinyproxy_http_https_no_proxy) {
    fixture f;
    env e;
    server origin, tls_origin;
    async_http_request r;
    async_http_client_config cfg;
    char proxy_url[96], url[128], ca[512];
    int port;
    SSL_CTX *ctx;
    CHECK(fixture_init(&f, "web_proxy"));
    tls_make_pki(f.root);
    port = start_tinyproxy(&f);
    CHECK(port > 0);
    if (!port) {
        fixture_stop(&f);
        return;
    }
    ctx = tls_server_ctx(f.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&origin, play_capture);
    server_start(&tls_origin, play_tls_capture);
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", port);
    tls_path(ca, sizeof ca, f.root, "ca.pem");
    memset(&cfg, 0, sizeof cfg);
    cfg.proxy = proxy_url;
    cfg.ca_file = ca;
    cfg.trace = note_proxy_trace;
    memset(proxy_said, 0, sizeof proxy_said);
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url, sizeof url, &origin, "/via");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    async_http_request_release(&r);
    CHECK(has_line(&origin, 0, "Via: 1.1 tinyproxy")); /* it came through the proxy */
    snprintf(url, sizeof url, "https://127.0.0.1:%d/secure", tls_origin.port);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    CHECK(r.response.body_len == 2 && !memcmp(r.response.body, "ok", 2));
    async_http_request_release(&r);
    /* the request went whole through the tunnel (not from where the CONNECT's length ended) */
    CHECK(server_received(&tls_origin) == 1 && !strncmp(server_capture(&tls_origin, 0)->bytes, "GET /secure HTTP/1.1\r\n", 22));
    CHECK(has_line(&tls_origin, 0, "Host: 127.0.0.1:"));
    /* the trace told the tunnel's exchange with the proxy (curl -v shows it) */
    snprintf(url, sizeof url, "CONNECT 127.0.0.1:%d HTTP/1.1", tls_origin.port);
    CHECK_STR(proxy_said[0], url);
    CHECK(!strncmp(proxy_said[1], "HTTP/1.", 7) && strstr(proxy_said[1], " 200 ") != NULL);
    cfg.trace = NULL;
    env_close(&e);

    /* a proxy nobody answers on: the request fails, unless no_proxy names the host */
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", free_port());
    cfg.no_proxy = NULL;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url, sizeof url, &origin, "/direct");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), ASYNC_HTTP_EREFUSED);
    async_http_request_release(&r);
    env_close(&e);
    cfg.no_proxy = "example.org, 127.0.0.1";
    CHECK_EQ(env_init(&e, &cfg), 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    async_http_request_release(&r);
    env_close(&e);

    /* trust_env: http_proxy says where */
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", port);
    setenv("http_proxy", proxy_url, 1);
    memset(&cfg, 0, sizeof cfg);
    cfg.trust_env = 1;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url, sizeof url, &origin, "/env");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    async_http_request_release(&r);
    CHECK(has_line(&origin, server_received(&origin) - 1, "Via: 1.1 tinyproxy"));
    env_close(&e);
    unsetenv("http_proxy");

    server_stop(&origin);
    server_stop(&tls_origin);
    SSL_CTX_free(ctx);
    fixture_stop(&f);
}

/* A proxy that refuses CONNECT: its status in the error. */
TEST(proxy_refuses_connect) {
    env e;
    server proxy;
    async_http_request r;
    async_http_client_config cfg;
    char proxy_url[96];
    static char many[1024];
    const char *responses[3] = {"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", many, NULL};
    int i, at = sprintf(many, "HTTP/1.1 403 Forbidden\r\n");
    for (i = 0; i < 20; i++) at += sprintf(many + at, "X-Proxy-%d: %d\r\n", i, i); /* more than a head starts with */
    sprintf(many + at, "Content-Length: 0\r\nConnection: close\r\n\r\n");
    server_start(&proxy, play_capture);
    proxy.responses = responses;
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", proxy.port);
    memset(&cfg, 0, sizeof cfg);
    cfg.proxy = proxy_url;
    CHECK_EQ(env_init(&e, &cfg), 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", "https://secure.invalid/x", 0), ASYNC_HTTP_EPROXY);
    CHECK_STR(async_http_request_error(&r), "the proxy refused the connection: CONNECT answered 403 Forbidden");
    async_http_request_release(&r);
    {
        char line[128];
        request_line(&proxy, 0, line, sizeof line);
        CHECK_STR(line, "CONNECT secure.invalid:443 HTTP/1.1");
    }
    /* the proxy's answer grows within the client's limits, as any head does */
    CHECK_EQ(fetch_new(&e.client, &r, "GET", "https://secure.invalid/y", 0), ASYNC_HTTP_EPROXY);
    CHECK_STR(async_http_request_error(&r), "the proxy refused the connection: CONNECT answered 403 Forbidden");
    async_http_request_release(&r);
    CHECK(client_settled(&e.client));
    env_close(&e);
    server_stop(&proxy);
}

/* Bytes from one socket to the other, both ways, until either side closes or the server
   stops; buf holds n bytes that came before the tunnel opened (sent on first). */
static void relay(server *s, int fd, int up, const char *buf, size_t n) {
    struct pollfd p[2];
    char chunk[16384];
    if (n && !send_all(up, buf, n)) return;
    p[0].fd = fd, p[1].fd = up;
    p[0].events = p[1].events = POLLIN;
    while (!server_stopping(s)) {
        int i;
        if (poll(p, 2, 20) <= 0) continue;
        for (i = 0; i < 2; i++) {
            ssize_t got;
            if (!p[i].revents) continue;
            if ((got = recv(p[i].fd, chunk, sizeof chunk, 0)) <= 0 || !send_all(p[1 - i].fd, chunk, (size_t)got)) return;
        }
    }
}

/* A proxy: each request recorded (server_capture); a CONNECT to 127.0.0.1:port is answered
   200 and tunnelled there, any other request answered as play_capture does (in place of
   the origin). */
static void play_proxy(server *s, int fd, int index) {
    conn_bytes in = {NULL, 0, 0};
    captured c;
    int got;
    while ((got = read_whole_request(fd, &in, &c)) != 0) {
        const char *target = c.bytes + 8;
        int i;
        c.conn = index;
        i = server_record(s, &c);
        if (got < 0) break;
        if (!strncmp(c.bytes, "CONNECT ", 8)) {
            struct sockaddr_in a;
            int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            loopback_addr(&a, atoi(target + strcspn(target, ":") + 1));
            if (connect(up, (struct sockaddr *)&a, sizeof a) == 0 &&
                send_str(fd, "HTTP/1.1 200 Connection established\r\n\r\n"))
                relay(s, fd, up, in.buf, in.len);
            close(up);
            break;
        }
        if (!send_str(fd, server_response_for(s, i))) break;
    }
    free(in.buf);
}

/* The credentials of the proxy URL (pu:pp@) are the proxy's: they go on the CONNECT, never
   inside the tunnel to the https origin (which would learn them), and never to an origin
   reached directly (one in no_proxy, here by a redirect from an origin behind the proxy),
   though the request through the proxy before it carried them. */
TEST(proxy_credentials_only_to_the_proxy) {
    static fake_dns d;
    static char redirect[160];
    const char *responses[] = {redirect, NULL};
    env e;
    server proxy, tls_origin, direct;
    async_http_request r;
    async_http_client_config cfg;
    fixture pki;
    SSL_CTX *ctx;
    char proxy_url[96], url[96], ca[512], line[128];
    CHECK(fixture_init(&pki, "web_proxy_auth"));
    tls_make_pki(pki.root);
    ctx = tls_server_ctx(pki.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&proxy, play_proxy);
    server_start(&tls_origin, play_tls_capture);
    server_start(&direct, play_capture);
    snprintf(redirect, sizeof redirect, "HTTP/1.1 302 F\r\nLocation: http://direct.test:%d/direct\r\nContent-Length: 0\r\n\r\n",
             direct.port);
    proxy.responses = responses;
    fake_init(&d, 0, "127.0.0.1", NULL);
    snprintf(proxy_url, sizeof proxy_url, "http://pu:pp@127.0.0.1:%d", proxy.port);
    tls_path(ca, sizeof ca, pki.root, "ca.pem");
    memset(&cfg, 0, sizeof cfg);
    cfg.proxy = proxy_url;
    cfg.no_proxy = "direct.test";
    cfg.resolver = fake_resolve, cfg.resolver_user = &d;
    cfg.ca_file = ca;
    CHECK_EQ(env_init(&e, &cfg), 0);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/secure", tls_origin.port);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    CHECK_EQ(r.response.status, 200);
    async_http_request_release(&r);
    request_line(&proxy, 0, line, sizeof line);
    snprintf(url, sizeof url, "CONNECT 127.0.0.1:%d HTTP/1.1", tls_origin.port);
    CHECK_STR(line, url);
    CHECK(has_line(&proxy, 0, "Proxy-Authorization: Basic cHU6cHA="));
    CHECK_EQ(server_received(&tls_origin), 1);
    CHECK(!has_line(&tls_origin, 0, "Proxy-Authorization:"));

    CHECK_EQ(fetch_new(&e.client, &r, "GET", "http://origin.invalid/start", ASYNC_SEC(5)), 0);
    CHECK_EQ(r.response.status, 200);
    CHECK_EQ(r.response.history_len, 1);
    async_http_request_release(&r);
    CHECK(has_line(&proxy, 1, "Proxy-Authorization: Basic cHU6cHA=")); /* GET http://origin.invalid/start */
    request_line(&direct, 0, line, sizeof line);
    CHECK_STR(line, "GET /direct HTTP/1.1");
    CHECK(!has_line(&direct, 0, "Proxy-Authorization:"));
    env_close(&e);
    server_stop(&proxy);
    server_stop(&tls_origin);
    server_stop(&direct);
    SSL_CTX_free(ctx);
    fixture_stop(&pki);
}

/* A proxy that answers CONNECT with 407 (it wants credentials; it keeps the connection
   open, its answer framed): the request fails with the proxy's error, which says 407. That
   connection carries no tunnel, so it must not be pooled: a next request for the same
   origin that took it would send its request, in clear, to the proxy as if to the origin
   (and take the proxy's answer for the origin's). The next one dials again. */
TEST(proxy_407_fails_and_its_connection_is_not_reused) {
    static const char *const responses[] = {
        "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=x\r\nContent-Length: 5\r\n\r\nauth\n",
        NULL};
    env e;
    server proxy;
    async_http_request r;
    async_http_client_config cfg;
    char proxy_url[64], line[128];
    int i;
    server_start(&proxy, play_capture);
    proxy.responses = responses;
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", proxy.port);
    memset(&cfg, 0, sizeof cfg);
    cfg.proxy = proxy_url;
    CHECK_EQ(env_init(&e, &cfg), 0);
    for (i = 0; i < 2; i++) {
        CHECK_EQ(fetch_new(&e.client, &r, "GET", "https://secure.invalid/x", ASYNC_SEC(5)), ASYNC_HTTP_EPROXY);
        if (!strstr(async_http_request_error(&r), "CONNECT answered 407")) fprintf(stderr, "  %s\n", async_http_request_error(&r));
        CHECK(strstr(async_http_request_error(&r), "CONNECT answered 407") != NULL);
        async_http_request_release(&r);
        request_line(&proxy, i, line, sizeof line);
        CHECK_STR(line, "CONNECT secure.invalid:443 HTTP/1.1");
    }
    CHECK_EQ(client_connects(&e.client), 2);
    CHECK_EQ(server_get(&proxy, &proxy.accepted), 2);
    CHECK(client_settled(&e.client));
    env_close(&e);
    server_stop(&proxy);
}

/* Its first connection: the CONNECT read, and the connection closed; after that, play_proxy. */
static void play_proxy_closing_first(server *s, int fd, int index) {
    conn_bytes in = {NULL, 0, 0};
    captured c;
    if (index > 0) {
        play_proxy(s, fd, index);
        return;
    }
    if (read_whole_request(fd, &in, &c) != 0) server_record(s, &c);
    free(in.buf);
}

/* A proxy that hangs up instead of answering CONNECT: the request fails with the proxy's
   error (not a retry loop, nor a network error that says nothing of the proxy), and what it
   leaves behind does not spoil the next request, which tunnels through and gets its answer. */
TEST(proxy_closing_on_connect_fails_then_next_works) {
    env e;
    server proxy, tls_origin;
    async_http_request r;
    async_http_client_config cfg;
    fixture pki;
    SSL_CTX *ctx;
    char proxy_url[64], url[96], ca[512];
    CHECK(fixture_init(&pki, "web_proxy_close"));
    tls_make_pki(pki.root);
    ctx = tls_server_ctx(pki.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&proxy, play_proxy_closing_first);
    server_start(&tls_origin, play_tls_capture);
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", proxy.port);
    tls_path(ca, sizeof ca, pki.root, "ca.pem");
    memset(&cfg, 0, sizeof cfg);
    cfg.proxy = proxy_url;
    cfg.ca_file = ca;
    CHECK_EQ(env_init(&e, &cfg), 0);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/x", tls_origin.port);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), ASYNC_HTTP_EPROXY);
    CHECK_STR(async_http_request_error(&r),
              "the proxy refused the connection: its answer to CONNECT: connection closed before the end of the headers");
    async_http_request_release(&r);
    CHECK_EQ(server_received(&proxy), 1);
    CHECK_EQ(server_received(&tls_origin), 0);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), 0);
    CHECK_EQ(r.response.status, 200);
    CHECK(r.response.body_len == 2 && !memcmp(r.response.body, "ok", 2));
    async_http_request_release(&r);
    CHECK_EQ(server_received(&tls_origin), 1);
    CHECK(client_settled(&e.client));
    env_close(&e);
    server_stop(&proxy);
    server_stop(&tls_origin);
    SSL_CTX_free(ctx);
    fixture_stop(&pki);
}

/* ------------------------------------------------------------------ */
/* decompression                                                       */

/* body compressed as zlib's deflate (raw: windowBits -15), or gzip (16 + 15); its length. */
static size_t squeeze(const char *in, size_t len, char *out, size_t cap, int window_bits) {
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    len = z.total_out;
    deflateEnd(&z);
    return len;
}

/* A response of head + compressed body (which may hold NULs: its length says where it ends). */
static char *compressed_response(const char *coding, const char *body, size_t body_len, size_t *len) {
    static char gz[1 << 16];
    char *resp = (char *)malloc(sizeof gz + 256);
    int bits = !strcmp(coding, "gzip") ? 16 + 15 : !strcmp(coding, "raw") ? -15 : 15;
    size_t n = squeeze(body, body_len, gz, sizeof gz, bits), head;
    head = (size_t)sprintf(resp, "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %lu\r\n\r\n",
                           !strcmp(coding, "raw") ? "deflate" : coding, (unsigned long)n);
    memcpy(resp + head, gz, n);
    *len = head + n;
    return resp;
}

typedef struct blob_server {
    const char *bytes;
    size_t len;
    size_t split; /* > 0: the first this many bytes go alone, the rest 20 ms later */
    size_t recv_buffer_size; /* the client's (0: its default) */
} blob_server;
static blob_server blob;

/* Answers each request with blob.bytes (binary: a compressed body may hold NULs). */
static void play_blob(server *s, int fd, int index) {
    (void)s, (void)index;
    while (read_request(fd)) {
        size_t first = blob.split ? blob.split : blob.len;
        if (!send_all(fd, blob.bytes, first)) return;
        if (first < blob.len) {
            msleep(20);
            if (!send_all(fd, blob.bytes + first, blob.len - first)) return;
        }
    }
}

static int fetch_blob(const char *bytes, size_t len, async_http_request *r, size_t max_body) {
    env e;
    server s;
    async_http_client_config cfg;
    char url[96];
    int err;
    blob.bytes = bytes, blob.len = len;
    server_start(&s, play_blob);
    memset(&cfg, 0, sizeof cfg);
    cfg.max_body_size = max_body;
    cfg.recv_buffer_size = blob.recv_buffer_size;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url, sizeof url, &s, "/z");
    err = fetch_new(&e.client, r, "GET", url, ASYNC_SEC(5));
    if (!err) { /* keep the body past the client's close: a copy */
        size_t n = r->response.body_len;
        char *copy = (char *)malloc(n + 1);
        memcpy(copy, r->response.body, n + 1);
        async_http_request_release(r);
        r->response.body = copy;
        r->response.body_len = n;
    } else {
        async_http_request_release(r);
    }
    CHECK(client_settled(&e.client));
    env_close(&e);
    server_stop(&s);
    return err;
}

/* gzip, deflate (zlib's format) and raw deflate are decoded, however the body is cut; other
   codings stay as they are; a corrupt stream and one cut short are their own error. */
TEST(decompress_gzip_deflate_raw_and_errors) {
    static const char text[] = "It is a period of civil war. Rebel spaceships, striking from a hidden base...";
    async_http_request r;
    size_t len;
    char *resp;
    const char *codings[] = {"gzip", "deflate", "raw"};
    size_t i;
    for (i = 0; i < 3; i++) {
        resp = compressed_response(codings[i], text, sizeof text - 1, &len);
        CHECK_EQ(fetch_blob(resp, len, &r, 0), 0);
        if (r.response.body_len != sizeof text - 1) fprintf(stderr, "  %s: %lu bytes\n", codings[i], (unsigned long)r.response.body_len);
        CHECK(r.response.body_len == sizeof text - 1 && !memcmp(r.response.body, text, sizeof text - 1));
        free(r.response.body);
        free(resp);
    }
    /* corrupt: a byte of the stream flipped */
    resp = compressed_response("gzip", text, sizeof text - 1, &len);
    resp[len - 12] ^= 0x55;
    CHECK_EQ(fetch_blob(resp, len, &r, 0), ASYNC_HTTP_EDECODE);
    CHECK(strncmp(async_http_request_error(&r), "the compressed body is corrupt: ", 32) == 0);
    free(resp);
    /* cut short: the response framed shorter than its stream */
    resp = compressed_response("gzip", text, sizeof text - 1, &len);
    {
        char *cl = strstr(resp, "Content-Length: ");
        unsigned long n = strtoul(cl + 16, NULL, 10);
        char *body = strstr(resp, "\r\n\r\n") + 4, fixed[4096];
        size_t head = (size_t)sprintf(fixed, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %lu\r\n\r\n", n - 10);
        memcpy(fixed + head, body, n - 10);
        CHECK_EQ(fetch_blob(fixed, head + n - 10, &r, 0), ASYNC_HTTP_EDECODE);
        CHECK_STR(async_http_request_error(&r), "the compressed body is corrupt: the compressed body ends early");
    }
    free(resp);
    {   /* one byte of deflate, and the body's end */
        static const char one[] = "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: 1\r\n\r\nx";
        CHECK_EQ(fetch_blob(one, sizeof one - 1, &r, 0), ASYNC_HTTP_EDECODE);
        CHECK_STR(async_http_request_error(&r), "the compressed body is corrupt: the compressed body ends early");
    }
    /* raw deflate whose last input byte leaves a full 16 KiB of output in zlib: all of it comes
       out (sizes just past a multiple of the decoder's buffer) */
    {
        static char as[40000];
        size_t sizes[] = {16385, 16387, 16400, 32771}, k;
        memset(as, 'a', sizeof as);
        for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            resp = compressed_response("raw", as, sizes[k], &len);
            CHECK_EQ(fetch_blob(resp, len, &r, 0), 0);
            CHECK_EQ(r.response.body_len, sizes[k]);
            free(r.response.body);
            free(resp);
        }
    }
    /* however the body is cut: deflate's first byte alone (raw or zlib's format), raw
       deflate in chunks whose first is one byte; a gzip body over the limit whose decoded
       bytes are under it, its head alone */
    for (i = 0; i < 4; i++) {
        resp = compressed_response(i == 3 ? "gzip" : i == 1 ? "deflate" : "raw", text, sizeof text - 1, &len);
        if (i == 2) { /* chunked: 1 byte, then the rest */
            char *body = strstr(resp, "\r\n\r\n") + 4, *chunked = (char *)malloc(len + 128);
            size_t n = len - (size_t)(body - resp), at;
            at = (size_t)sprintf(chunked, "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n"
                                          "1\r\n%c\r\n%lx\r\n", body[0], (unsigned long)n - 1);
            memcpy(chunked + at, body + 1, n - 1);
            at += n - 1;
            memcpy(chunked + at, "\r\n0\r\n\r\n", 7);
            free(resp);
            resp = chunked, len = at + 7;
        } else {
            blob.split = (size_t)(strstr(resp, "\r\n\r\n") + 4 - resp) + (i < 2); /* the head, a byte */
        }
        CHECK_EQ(fetch_blob(resp, len, &r, i == 3 ? sizeof text - 1 : 0), 0);
        blob.split = 0;
        CHECK(r.response.body_len == sizeof text - 1 && !memcmp(r.response.body, text, sizeof text - 1));
        free(r.response.body);
        free(resp);
    }
    /* another coding: left as it came */
    {
        static const char br[] = "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 4\r\n\r\n\x0b\x01\x80\x03";
        CHECK_EQ(fetch_blob(br, sizeof br - 1, &r, 0), 0);
        CHECK(r.response.body_len == 4 && !memcmp(r.response.body, "\x0b\x01\x80\x03", 4));
        free(r.response.body);
    }
}

/* A bomb: 64 KiB that inflate to 64 MiB, under a 1 MiB limit. It ends in "body too large"
   once 1 MiB is decoded, and the memory it took stays near the limit. */
/* Edges of the body's way: no limit (SIZE_MAX) with a Content-Length; two Content-Encoding
   lines are two codings, so the body stays as it came (not decoded once and called done);
   zlib refused its window by the allocator is out of memory, not a corrupt body; on_body's
   own ASYNC_ETIMEDOUT is its code, not the read timeout. */
static int say_timed_out(async_http_request *req, const char *data, size_t len) {
    (void)req, (void)data, (void)len;
    return ASYNC_ETIMEDOUT;
}

TEST(body_edges) {
    static const char text[] = "It is a period of civil war. Rebel spaceships, striking from a hidden base...";
    static char once[256], twice[512], resp[1024];
    static alloc_count a;
    async_http_request r;
    size_t n1, n2, head, len;
    char *big;
    env e;
    server s;
    async_http_client_config cfg;
    char url[96];

    CHECK_EQ(fetch_blob(OK_RESPONSE, strlen(OK_RESPONSE), &r, SIZE_MAX), 0);
    CHECK(r.response.body_len == 2 && !memcmp(r.response.body, "ok", 2));
    free((void *)r.response.body);

    n1 = squeeze(text, sizeof text - 1, once, sizeof once, 16 + 15);
    n2 = squeeze(once, n1, twice, sizeof twice, 16 + 15);
    head = (size_t)sprintf(resp, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Encoding: gzip\r\n"
                                 "Content-Length: %lu\r\n\r\n", (unsigned long)n2);
    memcpy(resp + head, twice, n2);
    CHECK_EQ(fetch_blob(resp, head + n2, &r, 0), 0);
    CHECK(r.response.body_len == n2 && !memcmp(r.response.body, twice, n2));
    free((void *)r.response.body);

    big = (char *)malloc(100000);
    memset(big, 'y', 100000);
    blob.bytes = compressed_response("gzip", big, 100000, &len);
    blob.len = len;
    server_start(&s, play_blob);
    memset(&cfg, 0, sizeof cfg);
    cfg.recv_buffer_size = 4096;
    cfg.alloc = counting_alloc;
    cfg.alloc_user = &a;
    CHECK_EQ(env_init(&e, &cfg), 0);
    a.fail_over = 20000; /* the decoder (16 KiB) may come; zlib's 32 KiB window may not */
    url_of(url, sizeof url, &s, "/z");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, ASYNC_SEC(5)), ASYNC_HTTP_ENOMEM);
    async_http_request_release(&r);
    a.fail_over = 0;
    memset(&r, 0, sizeof r);
    r.on_body = say_timed_out;
    CHECK_EQ(fetch(&e.client, &r, "GET", url), ASYNC_ETIMEDOUT);
    async_http_request_release(&r);
    env_close(&e);
    CHECK_EQ(a.live, 0);
    server_stop(&s);
    free((void *)blob.bytes);
    free(big);
}

TEST(decompress_bomb_bounded) {
    async_http_request r;
    char *zeros = (char *)calloc(64u << 20, 1), *resp;
    size_t len;
    long before, after;
    struct rusage ru;
    static char gz[1 << 17];
    size_t n = squeeze(zeros, 64u << 20, gz, sizeof gz, 16 + 15), head;
    free(zeros);
    resp = (char *)malloc(n + 256);
    head = (size_t)sprintf(resp, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %lu\r\n\r\n", (unsigned long)n);
    memcpy(resp + head, gz, n);
    len = head + n;
    getrusage(RUSAGE_SELF, &ru);
    before = ru.ru_maxrss;
    CHECK(n < (100u << 10)); /* it is a bomb: about 1000 to 1 */
    CHECK_EQ(fetch_blob(resp, len, &r, 1u << 20), ASYNC_HTTP_EBODY_TOO_LARGE);
    getrusage(RUSAGE_SELF, &ru);
    after = ru.ru_maxrss;
    if (after - before > 16 * 1024) fprintf(stderr, "  peak RSS grew by %ld KiB\n", after - before);
    CHECK(after - before <= 16 * 1024); /* KiB: the 1 MiB limit and zlib's window, not 64 MiB */
    free(resp);
}

/* The other way round: 2 MiB of deflate's empty stored blocks, which decode to nothing at
   all, under a 64 KiB limit. It ends once the compressed bytes are well past what the limit
   could ever come from (it was read to its end: endless, had it been chunked). */
TEST(decompress_nothing_bounded) {
    enum { BLOCKS = (2 << 20) / 5 };
    async_http_request r;
    size_t head, i;
    char *resp = (char *)malloc(BLOCKS * 5 + 256), *p;
    head = (size_t)sprintf(resp, "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %lu\r\n\r\n",
                           (unsigned long)(2 + BLOCKS * 5));
    p = resp + head;
    *p++ = 0x78, *p++ = 0x01; /* zlib's header */
    for (i = 0; i < BLOCKS; i++, p += 5) memcpy(p, "\x00\x00\x00\xff\xff", 5); /* not the last; stored; 0 bytes */
    CHECK_EQ(fetch_blob(resp, (size_t)(p - resp), &r, 64u << 10), ASYNC_HTTP_EBODY_TOO_LARGE);
    free(resp);
}

/* A compressed body that decodes to exactly max_body_size, read at once (a 1 MiB receive
   buffer): within the bound on compressed bytes, each counted once. Incompressible bytes,
   so the gzip is a little longer than what it holds. */
TEST(decompress_at_the_limit_in_one_read) {
    enum { SIZE = 70000 };
    async_http_request r;
    static char plain[SIZE], gz[SIZE + 1024];
    uint32_t x = 2463534242u;
    size_t i, n, len;
    char *resp;
    for (i = 0; i < SIZE; i++) { /* xorshift: no pattern deflate could use */
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        plain[i] = (char)x;
    }
    n = squeeze(plain, SIZE, gz, sizeof gz, 16 + 15);
    CHECK(n > SIZE);
    resp = (char *)malloc(n + 256);
    len = (size_t)sprintf(resp, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %lu\r\n\r\n", (unsigned long)n);
    memcpy(resp + len, gz, n);
    len += n;
    blob.recv_buffer_size = 1u << 20;
    CHECK_EQ(fetch_blob(resp, len, &r, SIZE), 0);
    blob.recv_buffer_size = 0;
    CHECK(r.response.body_len == SIZE && !memcmp(r.response.body, plain, SIZE));
    free(r.response.body);
    free(resp);
}

/* ------------------------------------------------------------------ */
/* what a request tells: info and the trace (fetch -v, -w)             */

typedef struct traced {
    char events[16];
    int n;
    char sent[512], tls[256];
} traced;

static void record(void *user, async_http_request *req, int what, const char *text, size_t len) {
    traced *t = (traced *)user;
    (void)req;
    if (t->n < 15) t->events[t->n++] = "CTSRXPQ"[what]; /* (P, Q: a proxy's CONNECT and its answer) */
    if (what == ASYNC_HTTP_TRACE_SENT) snprintf(t->sent, sizeof t->sent, "%.*s", (int)len, text);
    if (what == ASYNC_HTTP_TRACE_TLS) snprintf(t->tls, sizeof t->tls, "%.*s", (int)len, text);
}

TEST(info_and_trace) {
    static traced t;
    env e;
    server s, tls_s;
    async_http_request r;
    async_http_client_config cfg;
    fixture pki;
    char url[96], ca[512];
    const char *responses[3];
    char redirect[128];
    SSL_CTX *ctx;
    CHECK(fixture_init(&pki, "web_trace"));
    tls_make_pki(pki.root);
    ctx = tls_server_ctx(pki.root, "good", 0, 0);
    tls_scenario_ctx = ctx;
    server_start(&tls_s, play_tls_ok);
    server_start(&s, play_capture);
    snprintf(redirect, sizeof redirect, "HTTP/1.1 302 F\r\nLocation: https://127.0.0.1:%d/t\r\nContent-Length: 0\r\n\r\n",
             tls_s.port);
    responses[0] = redirect, responses[1] = NULL;
    s.responses = responses;
    memset(&cfg, 0, sizeof cfg);
    tls_path(ca, sizeof ca, pki.root, "ca.pem");
    cfg.ca_file = ca;
    cfg.trace = record;
    cfg.trace_user = &t;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url, sizeof url, &s, "/start");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    /* connect, sent, received, redirect; then connect, TLS, sent, received */
    CHECK_STR(t.events, "CSRXCTSR");
    CHECK(!strncmp(t.sent, "GET /t HTTP/1.1\r\nHost: 127.0.0.1:", 33) && strstr(t.sent, "\r\n\r\n"));
    if (!strstr(t.tls, "ALPN http/1.1")) fprintf(stderr, "  tls: %s\n", t.tls);
    CHECK(!strncmp(t.tls, "TLSv1.3 TLS_", 12) && strstr(t.tls, "ALPN http/1.1") && strstr(t.tls, "CN=localhost"));
    CHECK_STR(r.info.remote_ip, "127.0.0.1");
    CHECK_EQ(r.info.remote_port, tls_s.port);
    CHECK(r.info.start > 0 && r.info.connected >= r.info.start && r.info.tls_done >= r.info.connected);
    CHECK(r.info.first_byte >= r.info.tls_done && r.info.done >= r.info.first_byte);
    CHECK_EQ(r.info.reused, 0);
    CHECK_EQ(r.info.body_bytes, 2);
    CHECK_EQ(r.response.history_len, 1);
    async_http_request_release(&r);
    /* again: the pooled connection, no new connect in the trace */
    t.n = 0;
    memset(t.events, 0, sizeof t.events);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", "https://127.0.0.1:1/never", 0) != 0, 1); /* port 1: refused */
    async_http_request_release(&r);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/again", tls_s.port);
    t.n = 0;
    memset(t.events, 0, sizeof t.events);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK_STR(t.events, "SR");
    CHECK_EQ(r.info.reused, 1);
    async_http_request_release(&r);
    env_close(&e);
    server_stop(&s);
    server_stop(&tls_s);
    SSL_CTX_free(ctx);
    fixture_stop(&pki);
}

/* Heads and bodies in the order they came: the trace hears each head (1xx
   ones too) before any byte of its body reaches on_body, even when the
   head and the body come in one read; a followed redirect's body reaches
   neither on_body nor the stored body. */
typedef struct ordered {
    char log[256];
} ordered;

/* Each head as "[status fields first-field]" from the parsed head, which must say what the
   text told. */
static void log_heads(void *user, async_http_request *req, int what, const char *text, size_t len) {
    ordered *o = (ordered *)user;
    size_t at = strlen(o->log), count = 0;
    const async_http_header *h = NULL;
    int status = 0;
    if (what == ASYNC_HTTP_TRACE_RECEIVED && len > 12) {
        CHECK_EQ(async_http_request_head(req, &status, &h, &count), 0);
        CHECK_EQ(status, atoi(text + 9));
        snprintf(o->log + at, sizeof o->log - at, "[%d %zu %.*s]", status, count, count ? (int)h[0].value_len : 0,
                 count ? h[0].value : "");
    }
    if (what == ASYNC_HTTP_TRACE_REDIRECT) snprintf(o->log + at, sizeof o->log - at, ">");
}

static int log_body(async_http_request *req, const char *data, size_t len) {
    ordered *o = (ordered *)req->user;
    size_t at = strlen(o->log);
    snprintf(o->log + at, sizeof o->log - at, "%.*s", (int)len, data);
    return 0;
}

TEST(heads_before_bodies) {
    static ordered o;
    env e;
    server s;
    async_http_request r;
    async_http_client_config cfg;
    char url[96];
    int i;
    const char *redirect = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nLocation: /two\r\nContent-Length: 5\r\n\r\nredir";
    const char *final = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal";
    const char *responses[] = {redirect, final, redirect, final, NULL}; /* the two rounds below */
    server_start(&s, play_capture);
    s.responses = responses;
    memset(&cfg, 0, sizeof cfg);
    cfg.trace = log_heads;
    cfg.trace_user = &o;
    CHECK_EQ(env_init(&e, &cfg), 0);
    url_of(url, sizeof url, &s, "/one");
    for (i = 0; i < 2; i++) { /* streamed to on_body, then stored */
        memset(&o, 0, sizeof o);
        memset(&r, 0, sizeof r);
        r.user = &o;
        if (i == 0) r.on_body = log_body;
        async_http_get(&e.client, &r, url);
        CHECK_EQ(async_http_request_head(&r, NULL, NULL, NULL), -1); /* none yet */
        CHECK_EQ(async_run(&e.loop, &r.task.future), 0);
        CHECK_EQ(r.response.status, 200);
        CHECK_STR(o.log, i == 0 ? "[100 0 ][302 2 /two]>[103 1 </s.css>][200 1 5]final"
                                : "[100 0 ][302 2 /two]>[103 1 </s.css>][200 1 5]");
        if (i == 1) CHECK(r.response.body_len == 5 && !memcmp(r.response.body, "final", 5));
        CHECK_EQ(r.response.history_len, 1);
        async_http_request_release(&r);
        CHECK_EQ(async_http_request_head(&r, NULL, NULL, NULL), -1); /* its memory is given back */
    }
    env_close(&e);
    server_stop(&s);
}

/* ------------------------------------------------------------------ */
/* shutting down                                                       */

typedef struct many_requests {
    async_http_client *client;
    async_http_request reqs[100];
    char url[96];
} many_requests;

static async_future *start_one(void *user, int i) {
    many_requests *m = (many_requests *)user;
    memset(&m->reqs[i], 0, sizeof m->reqs[i]);
    return async_http_get(m->client, &m->reqs[i], m->url);
}

/* A client closed with 100 requests in flight (50 waiting for answers that do not come, 50
   for a connection): each ends cancelled, at once, and nothing is left (fds, memory: ASan). */
TEST(close_with_requests_in_flight) {
    static many_requests m;
    env e;
    server s;
    async_http_client_config cfg;
    async_timer tick;
    int i, fds = count_fds(), cancelled = 0;
    double t0;
    server_start(&s, play_capture);
    server_hold(&s); /* no answer until the server stops */
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = 50; /* half of them wait for a connection */
    CHECK_EQ(env_init(&e, &cfg), 0);
    m.client = &e.client;
    url_of(m.url, sizeof m.url, &s, "/slow");
    for (i = 0; i < 100; i++) start_one(&m, i);
    memset(&tick, 0, sizeof tick);
    async_run(&e.loop, async_sleep(&e.loop, &tick, ASYNC_MS(100)));
    t0 = now_ms();
    async_http_client_close(&e.client);
    CHECK(now_ms() - t0 < 1000);
    for (i = 0; i < 100; i++) {
        CHECK(async_done(&m.reqs[i].task.future));
        cancelled += async_error(&m.reqs[i].task.future) == ASYNC_ECANCELED;
        async_http_request_release(&m.reqs[i]);
    }
    CHECK_EQ(cancelled, 100);
    env_flush(&e);
    async_io_exit(&e.io);
    server_stop(&s);
    CHECK_EQ(count_fds(), fds);
}

/* The defaults aiohttp has: a 30 s connect timeout, ten redirects. */
TEST(client_defaults) {
    env e;
    CHECK_EQ(env_init(&e, NULL), 0);
    CHECK_EQ(e.client.config.timeout_connect, ASYNC_SEC(30));
    CHECK_EQ(e.client.config.timeout_total, ASYNC_SEC(300));
    CHECK_EQ(e.client.config.max_redirects, 10);
    env_close(&e);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    RUN(redirect_status_method_matrix);
    RUN(redirect_location_forms);
    RUN(redirect_across_origins_drops_credentials);
    RUN(redirect_loop_and_limits);
    RUN(redirect_body_not_read_past);
    RUN(redirect_to_bad_url_and_to_https);
    RUN(redirect_across_schemes_same_port_drops_credentials);
    RUN(redirect_307_308_mid_upload_sends_the_whole_body_again);
    RUN(url_errors_say_what_and_where);
    RUN(url_resolve_rfc3986);
    RUN(url_sent_normalized);
    RUN(lookup_off_the_loop);
    RUN(host_names_case_insensitive);
    RUN(many_hosts_found_again);
    RUN(hosts_forgotten_when_unused);
    RUN(hosts_crawled_table_bounded);
    RUN(hosts_in_use_never_forgotten);
    RUN(hosts_forgotten_around_a_proxy_and_a_failed_entry);
    RUN(lookup_shared_and_cached);
    RUN(lookup_counts_against_connect_timeout);
    RUN(dial_next_address_when_refused);
    RUN(dial_ipv6_then_ipv4);
    RUN(dial_happy_eyeballs_stagger);
    RUN(dial_past_three_dead_addresses);
    RUN(proxy_http_absolute_form);
    RUN(proxy_tinyproxy_http_https_no_proxy);
    RUN(no_proxy_matching);
    RUN(lookup_failures_say_which_and_why);
    RUN(proxy_connect_leaves_the_zone_out);
    RUN(proxy_refuses_connect);
    RUN(proxy_credentials_only_to_the_proxy);
    RUN(proxy_407_fails_and_its_connection_is_not_reused);
    RUN(proxy_closing_on_connect_fails_then_next_works);
    RUN(proxy_own_url_through_the_proxy);
    RUN(proxy_host_table_and_long_host);
    RUN(proxy_env_httpoxy);
    RUN(decompress_gzip_deflate_raw_and_errors);
    RUN(body_edges);
    RUN(decompress_bomb_bounded);
    RUN(decompress_nothing_bounded);
    RUN(decompress_at_the_limit_in_one_read);
    RUN(info_and_trace);
    RUN(heads_before_bodies);
    RUN(close_with_requests_in_flight);
    RUN(client_defaults);
    return test_summary("web");
}
