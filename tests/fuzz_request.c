/* fuzz_request.c - libFuzzer target: the request builder. Random methods, URLs, header lines
 * and bodies either fail with an error (and nothing to send) or make bytes that are exactly
 * one RFC 9112 request, as a strict checker of this file reads it: the method and the body
 * those given, one Host, framing that agrees with the body, nothing after its end.
 *
 * The input: segments split by NUL bytes: method, URL, body, then header lines (at most 8).
 * White-box: it calls the steps async_http_start's task takes before a byte goes out
 * (check, parse the URL, build) on a client that never connects. */
#define _GNU_SOURCE
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(cond)                                                                    \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: FUZZ_ASSERT failed: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* ---- a strict reader of one request (RFC 9112) */

typedef struct reader {
    const char *p, *end;
} reader;

static int is_tchar(unsigned char c) { return async_http__is_tchar(c); }

/* A line up to CRLF (no bare CR or LF inside); its length, or -1. */
static long line(reader *r, const char **start) {
    const char *s = r->p, *q;
    for (q = s; q + 1 < r->end; q++) {
        if (*q == '\r') {
            if (q[1] != '\n') return -1;
            *start = s;
            r->p = q + 2;
            return q - s;
        }
        if (*q == '\n') return -1;
    }
    return -1;
}

/* 1 if bytes[0, len) are exactly one request for method with body. */
static int one_request(const char *bytes, size_t len, const char *method, const char *body, size_t body_len) {
    reader r = {bytes, bytes + len};
    const char *l, *sp1, *sp2;
    long n;
    int hosts = 0, cls = 0, chunked = 0, te = 0;
    unsigned long cl = 0;
    size_t i, mlen = strlen(method);
    /* request-line: method SP origin-form SP HTTP/1.1 */
    if ((n = line(&r, &l)) < 0) return 0;
    sp1 = (const char *)memchr(l, ' ', (size_t)n);
    if (!sp1 || (size_t)(sp1 - l) != mlen || memcmp(l, method, mlen) != 0) return 0;
    for (i = 0; i < mlen; i++)
        if (!is_tchar((unsigned char)l[i])) return 0;
    sp2 = (const char *)memchr(sp1 + 1, ' ', (size_t)(l + n - sp1 - 1));
    if (!sp2 || sp1[1] != '/' || l + n - sp2 != 9 || memcmp(sp2, " HTTP/1.1", 9) != 0) return 0;
    for (i = 1; sp1 + i < sp2; i++)
        if ((unsigned char)sp1[i] <= ' ' || sp1[i] == 0x7f) return 0;
    /* fields */
    for (;;) {
        const char *colon, *v;
        if ((n = line(&r, &l)) < 0) return 0;
        if (n == 0) break;
        for (colon = l; colon < l + n && is_tchar((unsigned char)*colon); colon++) {
        }
        if (colon == l || colon == l + n || *colon != ':') return 0;
        for (v = colon + 1; v < l + n; v++)
            if ((unsigned char)*v < ' ' ? *v != '\t' : *v == 0x7f) return 0;
        if (async_http__ieq(l, (size_t)(colon - l), "host", 4)) hosts++;
        if (async_http__ieq(l, (size_t)(colon - l), "content-length", 14)) {
            cls++;
            for (v = colon + 1; v < l + n && (*v == ' ' || *v == '\t'); v++) {
            }
            cl = strtoul(v, NULL, 10);
        }
        if (async_http__ieq(l, (size_t)(colon - l), "transfer-encoding", 17)) {
            te++;
            chunked = l + n - colon >= 8 && async_http__ieq(l + n - 7, 7, "chunked", 7);
        }
    }
    if (hosts != 1 || cls > 1 || te > 1 || (cls && te) || (te && !chunked)) return 0;
    /* the body, as its framing says: the one given, and then nothing */
    if (chunked) {
        size_t got = 0;
        char *copy = (char *)malloc(body_len + 1);
        int ok = 1;
        for (;;) {
            unsigned long size;
            char *endp;
            if ((n = line(&r, &l)) <= 0) {
                ok = 0;
                break;
            }
            size = strtoul(l, &endp, 16);
            if (endp != l + n) {
                ok = 0;
                break;
            }
            if (size == 0) {
                ok = line(&r, &l) == 0;
                break;
            }
            if ((size_t)(r.end - r.p) < size + 2 || got + size > body_len || memcmp(r.p + size, "\r\n", 2) != 0) {
                ok = 0;
                break;
            }
            memcpy(copy + got, r.p, size);
            got += size;
            r.p += size + 2;
        }
        ok = ok && got == body_len && memcmp(copy, body, body_len) == 0;
        free(copy);
        return ok && r.p == r.end;
    }
    return (size_t)(r.end - r.p) == cl && cl == body_len && memcmp(r.p, body, body_len) == 0;
}

/* ---- the target */

static async_loop loop;
static async_io io;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    char *input, *seg[12];
    const char *headers[10];
    size_t nseg = 0, i, body_len;
    async_http_client client;
    async_http_client_config cfg;
    static async_http_request r;
    async_http_request_desc d;
    async_http__conn conn;
    int rc;
    if (!ready) {
        async_loop_init(&loop, NULL);
        FUZZ_ASSERT(async_io_init(&io, &loop, &(async_io_config){.backend = ASYNC_IO_BACKEND_EPOLL}) == 0);
        ready = 1;
    }
    input = (char *)malloc(size + 1);
    memcpy(input, data, size);
    input[size] = 0;
    seg[nseg++] = input;
    for (i = 0; i < size && nseg < 12; i++)
        if (!input[i]) seg[nseg++] = input + i + 1;
    if (nseg < 3) {
        free(input);
        return 0;
    }
    for (i = 3; i < nseg; i++) headers[i - 3] = seg[i];
    headers[nseg - 3] = NULL;
    body_len = strlen(seg[2]);

    memset(&cfg, 0, sizeof cfg);
    cfg.limit = 1;
    FUZZ_ASSERT(async_http_client_init(&client, &io, &cfg) == 0);
    memset(&d, 0, sizeof d);
    d.method = seg[0];
    d.url = seg[1];
    d.body = seg[2];
    d.body_len = body_len;
    d.headers = headers;
    /* async_http_start without its task: the copy of the inputs, the checks, the URL, the bytes */
    memset(&r, 0, sizeof r);
    r._client = &client;
    rc = async_http__copy_inputs(&r, &d);
    r.body = r._body = d.body;
    r.body_len = r._body_len = d.body_len;
    if (!rc) rc = async_http__check_request(&r);
    if (!rc) rc = async_http__parse_url(&r);
    memset(&conn, 0, sizeof conn);
    if (!rc) {
        rc = async_http__build(&r, &conn);
        FUZZ_ASSERT(rc == 0);
        if (!one_request(conn.sbuf, r._try.send_len, seg[0], seg[2], body_len)) {
            fprintf(stderr, "not one request: %.*s\n", (int)r._try.send_len, conn.sbuf);
            FUZZ_ASSERT(0);
        }
    } else {
        FUZZ_ASSERT(rc < -4096);
        FUZZ_ASSERT(strcmp(async_strerror(rc), "unknown error") != 0);
    }
    async_http__alloc(&client, conn.sbuf, 0);
    async_http__release(&r); /* the public one would say the request (with no task) still runs */
    async_http_client_close(&client);
    free(input);
    return 0;
}
