/* test_minimal.c - async_http.h built with the least: no liburing (ASYNC_HTTP_NO_URING: epoll
 * only) and no OpenSSL (no ASYNC_HTTP_TLS). It must still fetch over http, and say exactly
 * what to do where the missing parts are asked for. Linked with -lpthread alone. */
#define _GNU_SOURCE
#define ASYNC_HTTP_NO_URING
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"
#include "test.h"
#include "net.h"

TEST(epoll_only) {
    async_loop loop;
    async_io io;
    async_io_config cfg;
    async_loop_init(&loop, NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.backend = ASYNC_IO_BACKEND_URING;
    CHECK_EQ(async_io_init(&io, &loop, &cfg), ASYNC_IO_ENOURING);
    CHECK(strstr(async_io_error(&io), "ASYNC_HTTP_NO_URING") != NULL);
    cfg.backend = ASYNC_IO_BACKEND_AUTO;
    CHECK_EQ(async_io_init(&io, &loop, &cfg), 0);
    CHECK_STR(async_io_backend_name(&io), "epoll");
    async_io_exit(&io);
}

TEST(http_works_https_says_what_to_do) {
    env e;
    server s;
    async_http_request r;
    async_tls tls;
    char url[96];
    server_start(&s, play_ok);
    CHECK_EQ(env_init(&e, NULL), 0);
    url_of(url, sizeof url, &s, "/");
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), 0);
    CHECK(r.response.status == 200 && r.response.body_len == 2);
    async_http_request_release(&r);

    snprintf(url, sizeof url, "https://127.0.0.1:%d/", s.port);
    CHECK_EQ(fetch_new(&e.client, &r, "GET", url, 0), ASYNC_HTTP_ESCHEME);
    CHECK_STR(async_http_request_error(&r),
              "unsupported URL scheme: https needs TLS: build with -DASYNC_HTTP_TLS and link -lssl -lcrypto");
    CHECK_EQ(async_tls_init(&tls, NULL), ASYNC_HTTP_ETLS);
    CHECK(strstr(tls.error, "ASYNC_HTTP_TLS") != NULL);
    CHECK(client_settled(&e.client));
    env_close(&e);
    server_stop(&s);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    RUN(epoll_only);
    RUN(http_works_https_says_what_to_do);
    return test_summary("minimal");
}
