/* test_parser.c - the HTTP/1.1 response parser.
 *
 * Every case runs whole, byte by byte, split in two at every position and cut at random; all
 * runs must agree with the whole one (status, fields, body, where the response ended, error code
 * and offset), and then the whole run's outcome is checked against the expected values. */
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"
#include "test.h"
#include <stdlib.h>

#define ABORT_CODE (-9999) /* what the test's on_body returns past its limit */

typedef struct tcase {
    const char *data;
    size_t len;
    size_t head_cap;    /* 0: 1024 */
    size_t max_headers; /* 0: 16 */
    int is_head;        /* the request was HEAD */
    int eof;            /* the peer closes after the last byte */
    size_t body_limit;  /* on_body aborts once it has seen more; 0: no limit */
    int upgrade;        /* the request asked to upgrade (a 101 is then an answer) */
    unsigned max_interim; /* 0: the parser's default */
} tcase;

typedef struct outcome {
    int rc;       /* last feed's result, or eof's */
    size_t end;   /* input bytes that belonged to the response, when rc == 1 */
    int status, minor, keep_alive, chunked, head_done;
    long long content_length;
    char reason[64];
    char fields[1024];   /* "name: value\n" for each header field */
    char trailers[1024]; /* the same for trailer fields */
    char body[8192];
    size_t body_len;
    unsigned long long body_bytes;
    const char *error_reason;
    size_t error_offset;
} outcome;

/* Cases built from string literals; the literal's length, so that NULs may be in it. */
#define CASE(lit) tcase_of(lit, sizeof(lit) - 1)
static tcase tcase_of(const char *data, size_t len) {
    tcase c;
    memset(&c, 0, sizeof c);
    c.data = data;
    c.len = len;
    return c;
}

/* ---- Running a case */

typedef struct body_sink {
    outcome *o;
    size_t limit;
} body_sink;

static int collect_body(void *user, const char *data, size_t len) {
    body_sink *sink = user;
    outcome *o = sink->o;
    CHECK(len > 0); /* the parser never hands out empty spans */
    if (o->body_len + len <= sizeof o->body) memcpy(o->body + o->body_len, data, len);
    o->body_len += len;
    return sink->limit && o->body_len > sink->limit ? ABORT_CODE : 0;
}

static void append_fields(char *out, size_t cap, const async_http_header *h, size_t n) {
    size_t i, used = 0;
    out[0] = '\0';
    for (i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%.*s: %.*s\n", (int)h[i].name_len,
                                 h[i].name, (int)h[i].value_len, h[i].value);
}

static void record(outcome *o, const async_http_parser *p) {
    o->status = p->status;
    o->minor = p->version_minor;
    o->keep_alive = p->keep_alive;
    o->chunked = p->chunked;
    o->head_done = async_http_parser_head_done(p);
    o->content_length = p->content_length;
    snprintf(o->reason, sizeof o->reason, "%.*s", (int)p->reason_len,
             p->reason ? p->reason : "");
    /* Before the head is complete, trailer_start means nothing yet. */
    size_t n_fields = o->head_done ? p->trailer_start : p->header_count;
    append_fields(o->fields, sizeof o->fields, p->headers, n_fields);
    append_fields(o->trailers, sizeof o->trailers, p->headers + n_fields,
                  p->header_count - n_fields);
    o->body_bytes = p->body_bytes;
    o->error_reason = p->error_reason;
    o->error_offset = p->error_offset;
}

/* How the input is cut: next piece's length at pos. */
enum { WHOLE, BYTES, SPLIT, RANDOM };
static size_t piece_len(int mode, size_t param, size_t pos, size_t len, unsigned *rng) {
    switch (mode) {
    case WHOLE: return len - pos;
    case BYTES: return 1;
    case SPLIT: return pos < param ? param - pos : len - pos;
    default:
        *rng = *rng * 1103515245u + 12345u;
        return 1 + (*rng >> 16) % 9;
    }
}

static void run(const tcase *c, int mode, size_t param, outcome *o) {
    static char head[4096];
    static async_http_header fields[64];
    async_http_parser p;
    body_sink sink;
    size_t pos = 0, used;
    unsigned rng = (unsigned)param;
    int rc = 0;

    memset(o, 0, sizeof *o);
    memset(head, 0x55, sizeof head);
    sink.o = o;
    sink.limit = c->body_limit;
    async_http_parser_init(&p, head, c->head_cap ? c->head_cap : 1024, fields,
                           c->max_headers ? c->max_headers : 16, c->is_head, collect_body, &sink);
    p.upgrade_expected = c->upgrade;
    if (c->max_interim) p.max_interim = c->max_interim;
    do { /* at least one feed, even of an empty input */
        size_t n = piece_len(mode, param, pos, c->len, &rng);
        if (n > c->len - pos) n = c->len - pos;
        rc = async_http_parser_feed(&p, c->data + pos, n, &used);
        if (rc == 0) CHECK_EQ(used, n);
        if (rc < 0) CHECK_EQ(used, 0);
        if (rc == 1) {
            CHECK(used <= n);
            o->end = pos + used;
        }
        pos += n;
    } while (rc == 0 && pos < c->len);
    if (rc == 0 && c->eof) {
        rc = async_http_parser_eof(&p);
        if (rc == 1) o->end = c->len;
    }
    if (rc != 0) { /* the outcome sticks */
        CHECK_EQ(async_http_parser_feed(&p, "X", 1, &used), rc);
        CHECK_EQ(used, 0);
        CHECK_EQ(async_http_parser_eof(&p), rc);
    }
    o->rc = rc;
    record(o, &p);
}

static int same_outcome(const outcome *a, const outcome *b, int split_dependent) {
    int same = a->rc == b->rc && a->end == b->end && a->status == b->status &&
               a->minor == b->minor && a->keep_alive == b->keep_alive &&
               a->chunked == b->chunked && a->head_done == b->head_done &&
               a->content_length == b->content_length && !strcmp(a->reason, b->reason) &&
               !strcmp(a->fields, b->fields) && !strcmp(a->trailers, b->trailers) &&
               !strcmp(a->error_reason ? a->error_reason : "", b->error_reason ? b->error_reason : "");
    /* When on_body aborts, how much it saw (and so where) depends on the pieces. */
    if (!split_dependent)
        same = same && a->error_offset == b->error_offset && a->body_len == b->body_len &&
               a->body_bytes == b->body_bytes &&
               !memcmp(a->body, b->body, a->body_len < sizeof a->body ? a->body_len
                                                                       : sizeof a->body);
    return same;
}

static void expect_same(const outcome *whole, const outcome *o, const char *how, size_t param,
                        int split_dependent) {
    if (same_outcome(whole, o, split_dependent)) return;
    fprintf(stderr, "  run %s(%zu) differs from the whole run: rc %d/%d end %zu/%zu status %d/%d"
                    " body %zu/%zu error \"%s\"@%zu / \"%s\"@%zu\n",
            how, param, o->rc, whole->rc, o->end, whole->end, o->status, whole->status,
            o->body_len, whole->body_len, o->error_reason ? o->error_reason : "",
            o->error_offset, whole->error_reason ? whole->error_reason : "", whole->error_offset);
    CHECK(!"outcome depends on how the input was split");
}

/* Runs the case every way; *whole gets the outcome of the one-piece run. */
static void run_all(const tcase *c, outcome *whole) {
    static outcome o;
    size_t k, stride = c->len <= 600 ? 1 : c->len / 300;
    int split_dependent = c->body_limit != 0;
    run(c, WHOLE, 0, whole);
    run(c, BYTES, 0, &o);
    expect_same(whole, &o, "bytes", 0, split_dependent);
    for (k = 0; k <= c->len; k += stride) {
        run(c, SPLIT, k, &o);
        expect_same(whole, &o, "split", k, split_dependent);
    }
    for (k = 1; k <= 20; k++) {
        run(c, RANDOM, k, &o);
        expect_same(whole, &o, "random", k, split_dependent);
    }
}

/* in[0, n), run every way, is one whole response with a body of body_len bytes (in *o). */
static void expect_whole(const char *in, size_t n, size_t body_len, outcome *o) {
    tcase c = tcase_of(in, n);
    run_all(&c, o);
    CHECK_EQ(o->rc, 1);
    CHECK_EQ(o->end, n);
    CHECK_EQ(o->body_len, body_len);
}

/* Offset of the first occurrence of needle in the case's input (for error offsets). */
static size_t at(const tcase *c, const char *needle) {
    size_t i, n = strlen(needle);
    for (i = 0; i + n <= c->len; i++)
        if (!memcmp(c->data + i, needle, n)) return i;
    CHECK(!"needle not in input");
    return (size_t)-1;
}

/* Runs a case expected to fail; checks code, reason and offset. */
static void expect_error(tcase c, int code, const char *reason, size_t offset) {
    static outcome o;
    run_all(&c, &o);
    CHECK_EQ(o.rc, code);
    CHECK_STR(o.error_reason, reason);
    CHECK_EQ(o.error_offset, offset);
    CHECK_EQ(o.end, 0);
}

static void expect_malformed(tcase c, const char *reason, size_t offset) {
    expect_error(c, ASYNC_HTTP_EMALFORMED, reason, offset);
}

#define HEAD200 "HTTP/1.1 200 OK\r\n"

/* ---- Basics */

/* RFC 9110 5.5: a field value's characters (VCHAR, SP, HTAB, obs-text). */
static int rfc_text(int c) { return (c >= 0x21 && c <= 0x7e) || c == ' ' || c == '\t' || c >= 0x80; }

/* The parser's table of character classes is what RFC 9110 says: tchar
   (5.6.2), field-value characters (5.5: VCHAR, SP, HTAB, obs-text), OWS;
   and the lower-casing that compares names is ASCII's. */
TEST(character_classes) {
    int c, wrong = 0;
    for (c = 0; c < 256; c++) {
        int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        int tchar = alnum || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
        int text = rfc_text(c);
        int ows = c == ' ' || c == '\t';
        int lower = c >= 'A' && c <= 'Z' ? c + 32 : c;
        wrong += !!async_http__is_tchar((unsigned char)c) != tchar;
        wrong += !!async_http__is_text((unsigned char)c) != text;
        wrong += !!async_http__is_ows((unsigned char)c) != ows;
        wrong += async_http__lower((unsigned char)c) != lower;
    }
    CHECK_EQ(wrong, 0);
}

TEST(simple_content_length) {
    static outcome o;
    tcase c = CASE(HEAD200 "Content-Length: 5\r\nContent-Type: text/plain\r\n\r\nhelloEXTRA");
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.end, c.len - 5);
    CHECK_EQ(o.status, 200);
    CHECK_EQ(o.minor, 1);
    CHECK_STR(o.reason, "OK");
    CHECK_STR(o.fields, "Content-Length: 5\nContent-Type: text/plain\n");
    CHECK_STR(o.trailers, "");
    CHECK_EQ(o.head_done, 1);
    CHECK_EQ(o.keep_alive, 1);
    CHECK_EQ(o.content_length, 5);
    CHECK_EQ(o.chunked, 0);
    CHECK_EQ(o.body_len, 5);
    CHECK(!memcmp(o.body, "hello", 5));
    CHECK_EQ(o.body_bytes, 5);
    CHECK(o.error_reason == NULL);
}

/* Direct use of the API: fields point into the caller's buffer, head_done before the body. */
TEST(api_direct) {
    static const char in[] = "HTTP/1.0 201 Created\r\nContent-Length: 3\r\nLocation: /x\r\n\r\nab";
    char head[256];
    async_http_header h[4];
    async_http_parser p;
    size_t used = 99, len = 0;
    const char *v;
    async_http_parser_init(&p, head, sizeof head, h, 4, 0, NULL, NULL);
    CHECK_EQ(async_http_parser_head_done(&p), 0);
    CHECK_EQ(async_http_parser_feed(&p, in, 0, &used), 0);
    CHECK_EQ(used, 0);
    CHECK_EQ(async_http_parser_feed(&p, in, sizeof in - 1, &used), 0);
    CHECK_EQ(used, sizeof in - 1);
    CHECK_EQ(async_http_parser_head_done(&p), 1);
    CHECK_EQ(p.status, 201);
    CHECK_EQ(p.version_minor, 0);
    CHECK_EQ(p.header_count, 2);
    CHECK(p.headers[1].name >= head && p.headers[1].name < head + sizeof head);
    v = async_http_header_find(p.headers, p.header_count, "location", &len);
    CHECK(v != NULL && len == 2 && !memcmp(v, "/x", 2));
    CHECK_EQ(p.body_bytes, 2);
    CHECK_EQ(async_http_parser_feed(&p, "cd", 2, NULL), 1);
    CHECK_EQ(async_http_parser_feed(&p, "c", 1, &used), 1);
    CHECK_EQ(used, 0);
    CHECK_EQ(p.offset, sizeof in - 1 + 1);
    CHECK_EQ(p.keep_alive, 0);
}

TEST(keep_alive_rules) {
    static const struct { const char *head; int keep_alive; } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1},
        {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nConnection: CLOSE\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nconnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nConnection: upgrade\r\nContent-Length: 0\r\n\r\n", 1},
        {"HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n", 1},
        {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 1},
        {"HTTP/1.0 200 OK\r\nCONNECTION: Keep-Alive\r\nContent-Length: 0\r\n\r\n", 1},
        {"HTTP/1.0 200 OK\r\nConnection: foo,  keep-alive \r\nContent-Length: 0\r\n\r\n", 1},
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\n"
         "Content-Length: 0\r\n\r\n", 0},
        /* HTTP/1.0 and Transfer-Encoding: close afterwards (RFC 9112 6.1) */
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 1},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        static outcome o;
        tcase c = tcase_of(cases[i].head, strlen(cases[i].head));
        run_all(&c, &o);
        CHECK_EQ(o.rc, 1);
        CHECK_EQ(o.end, c.len);
        if (o.keep_alive != cases[i].keep_alive) fprintf(stderr, "  case %zu\n", i);
        CHECK_EQ(o.keep_alive, cases[i].keep_alive);
    }
}

/* A body delimited by the close never leaves the connection reusable. */
TEST(close_delimited_body) {
    static outcome o;
    tcase c = CASE("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nsome body bytes");
    c.eof = 1;
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.end, c.len);
    CHECK_EQ(o.keep_alive, 0);
    CHECK_EQ(o.content_length, -1);
    CHECK_EQ(o.chunked, 0);
    CHECK_EQ(o.body_len, 15);
    CHECK(!memcmp(o.body, "some body bytes", 15));

    c = CASE(HEAD200 "\r\n"); /* close right after the head: an empty body */
    c.eof = 1;
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.body_len, 0);
    CHECK_EQ(o.keep_alive, 0);

    c = CASE(HEAD200 "\r\nmore to come"); /* without the close it is not over */
    run_all(&c, &o);
    CHECK_EQ(o.rc, 0);
    CHECK_EQ(o.body_len, 12);
}

TEST(reason_phrase) {
    static outcome o;
    tcase c = CASE("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n");
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.status, 200);
    CHECK_STR(o.reason, "");

    c = CASE("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"); /* no SP at all: tolerated */
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.status, 404);
    CHECK_STR(o.reason, "");

    c = CASE("HTTP/1.0 503 Service  Unavailable \r\nContent-Length: 0\r\n\r\n");
    run_all(&c, &o);
    CHECK_EQ(o.status, 503);
    CHECK_EQ(o.minor, 0);
    CHECK_STR(o.reason, "Service  Unavailable ");

    c = CASE("HTTP/1.1 200 \xc3\xa9t\xc3\xa9\t!\r\nContent-Length: 0\r\n\r\n"); /* obs-text, HTAB */
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_STR(o.reason, "\xc3\xa9t\xc3\xa9\t!");

    c = CASE("HTTP/1.1 200 O\x01K\r\n\r\n");
    expect_malformed(c, "invalid character in reason phrase", 14);
}

TEST(header_lookup) {
    static const char in[] = "HTTP/1.1 200 OK\r\nX-Empty:\r\nx-tabs:\t \tsome value \t\r\n"
                             "Content-Length: 0\r\nX-Obs: caf\xe9\r\nx-dup: a\r\nX-Dup: b\r\n"
                             "X-Spaces:    \r\n\r\n";
    char head[512];
    async_http_header h[8];
    async_http_parser p;
    size_t len = 99;
    const char *v;
    static outcome o;
    tcase c = CASE(in);

    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_STR(o.fields, "X-Empty: \nx-tabs: some value\nContent-Length: 0\nX-Obs: caf\xe9\n"
                        "x-dup: a\nX-Dup: b\nX-Spaces: \n");

    async_http_parser_init(&p, head, sizeof head, h, 8, 0, NULL, NULL);
    CHECK_EQ(async_http_parser_feed(&p, in, sizeof in - 1, NULL), 1);
    v = async_http_header_find(p.headers, p.header_count, "X-TABS", &len);
    CHECK(v != NULL && len == 10 && !memcmp(v, "some value", 10));
    v = async_http_header_find(p.headers, p.header_count, "x-empty", &len);
    CHECK(v != NULL);
    CHECK_EQ(len, 0);
    v = async_http_header_find(p.headers, p.header_count, "x-spaces", &len);
    CHECK(v != NULL);
    CHECK_EQ(len, 0);
    v = async_http_header_find(p.headers, p.header_count, "X-DUP", &len); /* the first */
    CHECK(v != NULL && len == 1 && v[0] == 'a');
    v = async_http_header_find(p.headers, p.header_count, "x-obs", &len);
    CHECK(v != NULL && len == 4 && !memcmp(v, "caf\xe9", 4));
    len = 99;
    CHECK(async_http_header_find(p.headers, p.header_count, "missing", &len) == NULL);
    CHECK_EQ(len, 0);
    CHECK(async_http_header_find(p.headers, p.header_count, "x-dup-", NULL) == NULL);
    CHECK(async_http_header_find(p.headers, p.header_count, "x-du", NULL) == NULL);
}

/* ---- Responses without a body */

TEST(head_response) {
    static outcome o;
    tcase c = CASE(HEAD200 "Content-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\n");
    c.is_head = 1;
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.end, at(&c, "\r\n\r\n") + 4);
    CHECK_EQ(o.content_length, 1234);
    CHECK_EQ(o.body_len, 0);
    CHECK_EQ(o.keep_alive, 1);

    /* Framing headers mean nothing here: no error, nothing to de-chunk. */
    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\nContent-Length: 12\r\n\r\n");
    c.is_head = 1;
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.end, c.len);
    CHECK_EQ(o.chunked, 0);
    CHECK_EQ(o.content_length, 12);
}

TEST(no_body_204_304) {
    static outcome o;
    tcase c = CASE("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1");
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.status, 204);
    CHECK_EQ(o.end, c.len - 8);
    CHECK_EQ(o.keep_alive, 1);
    CHECK_EQ(o.content_length, -1);
    CHECK_EQ(o.body_len, 0);

    c = CASE("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: \"x\"\r\n\r\nabc");
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.status, 304);
    CHECK_EQ(o.end, c.len - 3);
    CHECK_EQ(o.content_length, 99);
    CHECK_EQ(o.body_len, 0);

    c = CASE("HTTP/1.1 204 No Content\r\nContent-Length: abc\r\n\r\n"); /* ignored, not used */
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.content_length, -1);
}

TEST(content_length_zero) {
    static outcome o;
    tcase c = CASE(HEAD200 "Content-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n");
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.end, at(&c, "\r\n\r\n") + 4);
    CHECK_EQ(o.content_length, 0);
    CHECK_EQ(o.body_len, 0);
}

TEST(interim_responses) {
    static outcome o;
    tcase c = CASE("HTTP/1.1 100 Continue\r\n\r\n"
                   "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.end, c.len);
    CHECK_EQ(o.status, 200);
    CHECK_STR(o.reason, "OK");
    CHECK_STR(o.fields, "Content-Length: 2\n"); /* the interim fields are gone */
    CHECK_EQ(o.body_len, 2);
    CHECK(!memcmp(o.body, "hi", 2));

    /* Limits are per response: two heads of 40 bytes fit one after the other in 48. */
    c = CASE("HTTP/1.1 100 Continue\r\nX-A: 12345678\r\n\r\n"
             "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    c.head_cap = 48;
    c.max_headers = 1;
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.status, 200);

    /* An interim response alone is not a response */
    c = CASE("HTTP/1.1 100 Continue\r\n\r\n");
    c.eof = 1;
    expect_malformed(c, "connection closed before the end of the headers", c.len);
}

TEST(switching_protocols) {
    static outcome o;
    tcase c = CASE("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\n\r\n\x81\x05hello");
    c.upgrade = 1;
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.status, 101);
    CHECK_EQ(o.end, c.len - 7);
    CHECK_EQ(o.keep_alive, 0);
    CHECK_EQ(o.body_len, 0);

    /* Not asked for: no HTTP/1.1 response can follow it, so it is an error. */
    c.upgrade = 0;
    expect_malformed(c, "101 Switching Protocols to a request that asked for no upgrade", 9);
}

/* A peer that sends interim responses forever is cut off after max_interim of them. */
TEST(interim_response_limit) {
    static outcome o;
    char in[17 * 25 + 64];
    size_t i;
    tcase c;
    in[0] = 0;
    for (i = 0; i < 16; i++) strcat(in, "HTTP/1.1 100 Continue\r\n\r\n");
    strcat(in, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    c = tcase_of(in, strlen(in));
    run_all(&c, &o); /* 16: the default allows them */
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.status, 200);
    c.max_interim = 15;
    expect_malformed(c, "too many interim (1xx) responses", 15 * 25);
    memmove(in + 25, in, strlen(in) + 1); /* 17 of them */
    memcpy(in, "HTTP/1.1 103 Continue\r\n\r\n", 25);
    c = tcase_of(in, strlen(in));
    expect_malformed(c, "too many interim (1xx) responses", 16 * 25);
}

/* ---- Chunked */

TEST(chunked_extensions_trailers) {
    static outcome o;
    tcase c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n"
                   "5;name=value\r\nhello\r\n"
                   "7;quoted=\"a;b\\\"c\" ; flag\r\n, world\r\n"
                   "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                   "0001 ;x\r\n!\r\n"
                   "0;last\r\n"
                   "Expires: never\r\nX-Checksum:  abc \r\n\r\n"
                   "NEXT");
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.end, c.len - 4);
    CHECK_EQ(o.chunked, 1);
    CHECK_EQ(o.content_length, -1);
    CHECK_EQ(o.keep_alive, 1);
    CHECK_EQ(o.body_len, 39);
    CHECK(!memcmp(o.body, "hello, worldabcdefghijklmnopqrstuvwxyz!", 39));
    CHECK_EQ(o.body_bytes, 39);
    CHECK_STR(o.fields, "Transfer-Encoding: chunked\n");
    CHECK_STR(o.trailers, "Expires: never\nX-Checksum: abc\n");

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"); /* empty body */
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.end, c.len);
    CHECK_EQ(o.body_len, 0);
    CHECK_STR(o.trailers, "");

    /* The largest chunk size accepted, 2^62 */
    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n4000000000000000\r\nabc");
    run_all(&c, &o);
    CHECK_EQ(o.rc, 0);
    CHECK_EQ(o.body_len, 3);
}

TEST(chunked_after_other_codings) {
    static outcome o;
    tcase c = CASE(HEAD200 "Transfer-Encoding: gzip, chunked\r\n\r\n"
                   "4\r\n\x1f\x8b\x08\x00\r\n0\r\n\r\n");
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.chunked, 1);
    CHECK_EQ(o.body_len, 4);
    CHECK(!memcmp(o.body, "\x1f\x8b\x08\x00", 4)); /* de-chunked, not decompressed */

    c = CASE(HEAD200 "Transfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
             "2\r\nok\r\n0\r\n\r\n");
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.chunked, 1);
    CHECK_EQ(o.body_len, 2);

    /* chunked not last: the body runs to the close, undecoded */
    c = CASE(HEAD200 "Transfer-Encoding: chunked, gzip\r\n\r\n2\r\nok\r\n0\r\n\r\n");
    c.eof = 1;
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.chunked, 0);
    CHECK_EQ(o.keep_alive, 0);
    CHECK_EQ(o.body_len, 12);
    CHECK(!memcmp(o.body, "2\r\nok\r\n0\r\n\r\n", 12));

    /* RFC 9112 7.1: chunked has no parameters; with some it is no framing to read to the
       close (the body would be the chunks' framing): refused, wherever it is listed. */
    c = CASE(HEAD200 "Transfer-Encoding: chunked;q=1\r\n\r\n2\r\nok\r\n0\r\n\r\n");
    expect_malformed(c, "parameters on the chunked transfer coding", at(&c, ";q"));
    c = CASE(HEAD200 "Transfer-Encoding: gzip, Chunked \t; x\r\n\r\n2\r\nok\r\n0\r\n\r\n");
    expect_malformed(c, "parameters on the chunked transfer coding", at(&c, "; x"));
    c = CASE(HEAD200 "Transfer-Encoding: chunked;a, gzip\r\nTransfer-Encoding: chunked;b\r\n\r\n");
    expect_malformed(c, "parameters on the chunked transfer coding", at(&c, ";a"));
    c = CASE(HEAD200 "Transfer-Encoding: gzip;q=1, chunkedx;y, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
    run_all(&c, &o); /* parameters on other codings are theirs */
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.chunked, 1);
    CHECK_EQ(o.body_len, 2);
    c = CASE("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"); /* no body: not read */
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.end, c.len);

    c = CASE(HEAD200 "Transfer-Encoding: gzip\r\n\r\nxyz");
    c.eof = 1;
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.chunked, 0);
    CHECK_EQ(o.keep_alive, 0);
    CHECK_EQ(o.body_len, 3);
}

TEST(chunk_errors) {
    tcase c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\nzz\r\n");
    expect_malformed(c, "invalid chunk size", at(&c, "zz"));

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n\r\n");
    expect_malformed(c, "invalid chunk size", c.len - 2);

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n\r\n"); /* no size */
    expect_malformed(c, "invalid chunk size", c.len - 2);

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n");
    expect_malformed(c, "invalid chunk size", at(&c, "x"));

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n-5\r\n");
    expect_malformed(c, "invalid chunk size", at(&c, "-5"));

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n4000000000000001\r\n");
    expect_malformed(c, "chunk size too large", at(&c, "4000") + 15);

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n");
    expect_malformed(c, "chunk size too large", at(&c, "ffff") + 15);

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n");
    expect_malformed(c, "missing CRLF after chunk data", at(&c, "X"));

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\rX\n0\r\n\r\n");
    expect_malformed(c, "missing CRLF after chunk data", at(&c, "X"));

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n");
    expect_malformed(c, "missing CRLF after chunk data", at(&c, "hello") + 5);

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n");
    expect_malformed(c, "bare LF (not preceded by CR)", at(&c, "5\n") + 1);

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5;a\nhello\r\n");
    expect_malformed(c, "bare LF (not preceded by CR)", at(&c, ";a") + 2);

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5\rhello\r\n");
    expect_malformed(c, "bare CR (not followed by LF)", at(&c, "5\r") + 1);

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5;a\x01\r\nhello\r\n");
    expect_malformed(c, "invalid character in chunk extension", at(&c, "\x01"));

    /* RFC 9112 7.1.1: a ';' starts an extension, which has a name. */
    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n");
    expect_malformed(c, "chunk extension without a name", at(&c, "5;") + 2);
    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5; =v\r\nhello\r\n");
    expect_malformed(c, "chunk extension without a name", at(&c, "=v"));


    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n");
    expect_malformed(c, "invalid character after chunk size", at(&c, "5 ") + 2);

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: a\x01\r\n\r\n");
    expect_malformed(c, "control character in header field value", at(&c, "\x01"));

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5\r\nhel"); /* closed in the data */
    c.eof = 1;
    expect_malformed(c, "connection closed before the end of the body", c.len);

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n");
    c.eof = 1; /* closed in the trailers */
    expect_malformed(c, "connection closed before the end of the body", c.len);
}

TEST(chunk_extension_bound) {
    static char in[6000];
    static const char head[] = HEAD200 "Transfer-Encoding: chunked\r\n\r\n5;x=";
    size_t n = sizeof head - 1, line_start = n - 4;
    tcase c;
    memcpy(in, head, n);
    memset(in + n, 'a', sizeof in - n);
    c = tcase_of(in, sizeof in);
    /* The 4097th byte of the chunk-size line is one too many. */
    expect_malformed(c, "chunk-size line too long", line_start + ASYNC_HTTP_MAX_CHUNK_LINE);

    /* Just under the bound is fine. */
    c.len = line_start + ASYNC_HTTP_MAX_CHUNK_LINE - 2;
    memcpy(in + c.len, "\r\nhello\r\n0\r\n\r\n", 14);
    c.len += 14;
    {
        static outcome o;
        run_all(&c, &o);
        CHECK_EQ(o.rc, 1);
        CHECK_EQ(o.end, c.len);
        CHECK_EQ(o.body_len, 5);
    }
}

/* Framing may outgrow the data only so far, over the whole body: 1-byte chunks with
   200-byte lines each leave 186 bytes beyond their allowance (16 + 2 x 1), and the 89th
   brings the sum past 16 KiB. Data pays the debt back: with a chunk of 4 KiB after the
   60th, 120 such chunks go through. A byte a chunk with no extension stays free: 6,000
   of them. */
TEST(chunk_framing_bound) {
    static char in[65536], ext[197];
    static outcome o;
    size_t i, n, last_lf = 0;
    tcase c;
    memset(ext, 'a', sizeof ext - 1);
    n = (size_t)sprintf(in, HEAD200 "Transfer-Encoding: chunked\r\n\r\n");
    for (i = 0; i < 100; i++) {
        n += (size_t)sprintf(in + n, "1;x=%s\r", ext);
        if (i == 88) last_lf = n;
        n += (size_t)sprintf(in + n, "\nz\r\n");
    }
    c = tcase_of(in, n);
    expect_malformed(c, "chunk framing far beyond its data", last_lf);

    n = (size_t)sprintf(in, HEAD200 "Transfer-Encoding: chunked\r\n\r\n");
    for (i = 0; i < 120; i++) {
        if (i == 60) {
            n += (size_t)sprintf(in + n, "1000\r\n");
            memset(in + n, 'y', 4096);
            n += 4096;
            n += (size_t)sprintf(in + n, "\r\n");
        }
        n += (size_t)sprintf(in + n, "1;x=%s\r\nz\r\n", ext);
    }
    n += (size_t)sprintf(in + n, "0\r\n\r\n");
    CHECK(n < sizeof in);
    expect_whole(in, n, 120 + 4096, &o);

    n = (size_t)sprintf(in, HEAD200 "Transfer-Encoding: chunked\r\n\r\n");
    for (i = 0; i < 6000; i++) n += (size_t)sprintf(in + n, "1\r\n%c\r\n", 'a' + (int)(i % 26));
    n += (size_t)sprintf(in + n, "0\r\n\r\n");
    CHECK(n < sizeof in);
    expect_whole(in, n, 6000, &o);
}

/* The per-line state starts afresh for each chunk: many small chunks are fine. */
TEST(many_chunks) {
    static char in[32768]; /* about 18 KB are used */
    static outcome o;
    size_t i, n = (size_t)sprintf(in, HEAD200 "Transfer-Encoding: chunked\r\n\r\n");
    for (i = 0; i < 1500; i++)
        n += (size_t)sprintf(in + n, "1;i=%zu\r\n%c\r\n", i, 'a' + (int)(i % 26));
    n += (size_t)sprintf(in + n, "0\r\n\r\n");
    CHECK(n < sizeof in);
    expect_whole(in, n, 1500, &o);
    CHECK(o.body[0] == 'a' && o.body[25] == 'z' && o.body[1499] == 'a' + 1499 % 26);
}

/* ---- Framing errors */

TEST(transfer_encoding_and_content_length) {
    tcase c = CASE(HEAD200 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n0\r\n\r\n");
    expect_malformed(c, "both Transfer-Encoding and Content-Length", at(&c, "Transfer"));

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\nX: y\r\ncontent-length: 5\r\n\r\n");
    expect_malformed(c, "both Transfer-Encoding and Content-Length", at(&c, "content-length"));

    c = CASE(HEAD200 "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n");
    expect_malformed(c, "both Transfer-Encoding and Content-Length", at(&c, "Content"));
}

TEST(bad_content_length) {
    tcase c = CASE(HEAD200 "Content-Length: 12a\r\n\r\n");
    expect_malformed(c, "invalid Content-Length", at(&c, "a\r"));

    c = CASE(HEAD200 "Content-Length: -1\r\n\r\n");
    expect_malformed(c, "invalid Content-Length", at(&c, "-1"));

    c = CASE(HEAD200 "Content-Length: +1\r\n\r\n");
    expect_malformed(c, "invalid Content-Length", at(&c, "+1"));

    c = CASE(HEAD200 "Content-Length: 3 4\r\n\r\n");
    expect_malformed(c, "invalid Content-Length", at(&c, "3 4") + 1);

    c = CASE(HEAD200 "Content-Length: \r\n\r\n");
    expect_malformed(c, "invalid Content-Length", at(&c, "\r\n\r\n"));

    c = CASE(HEAD200 "Content-Length: 5,\r\n\r\n");
    expect_malformed(c, "invalid Content-Length", at(&c, ",") + 1);

    c = CASE(HEAD200 "Content-Length: 99999999999999999999\r\n\r\n");
    expect_malformed(c, "Content-Length too large", at(&c, "999"));

    /* 2^62 + 1, just over the bound */
    c = CASE(HEAD200 "Content-Length: 4611686018427387905\r\n\r\n");
    expect_malformed(c, "Content-Length too large", at(&c, "461"));

    c = CASE(HEAD200 "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello");
    expect_malformed(c, "conflicting Content-Length values", at(&c, "6"));

    c = CASE(HEAD200 "Content-Length: 5, 6\r\n\r\nhello");
    expect_malformed(c, "conflicting Content-Length values", at(&c, "6"));
}

TEST(content_length_bound_and_duplicates) {
    static const char *const heads[] = {
        HEAD200 "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        HEAD200 "Content-Length: 5 , 5,5\r\n\r\nhello",
        HEAD200 "Content-Length: 005\r\n\r\nhello",
    };
    static outcome o;
    size_t i;
    tcase c;
    for (i = 0; i < 3; i++) {
        c = tcase_of(heads[i], strlen(heads[i]));
        run_all(&c, &o);
        CHECK_EQ(o.rc, 1);
        CHECK_EQ(o.end, c.len);
        CHECK_EQ(o.content_length, 5);
        CHECK_EQ(o.body_len, 5);
    }
    c = CASE(HEAD200 "Content-Length: 4611686018427387904\r\n\r\nabc"); /* 2^62 */
    run_all(&c, &o);
    CHECK_EQ(o.rc, 0);
    CHECK_EQ(o.content_length, 4611686018427387904LL);
    CHECK_EQ(o.body_len, 3);
}

/* ---- Syntax errors in the head */

/* Every byte at every place of a long field value: the value check reads
   8 bytes at a time, so a control character must be caught wherever it sits
   in the word, and obs-text (0x80 and up) must pass everywhere. */
TEST(value_bytes_everywhere) {
    static const char head[] = HEAD200 "X-Long: ";
    char msg[128];
    size_t value_at = sizeof head - 1, pos;
    int b, wrong = 0;
    static outcome o;
    for (pos = 0; pos < 24; pos++) {
        for (b = 0; b < 256; b++) {
            int text = rfc_text(b);
            tcase c;
            if (b == '\n') continue; /* it would end the line */
            memcpy(msg, head, value_at);
            memset(msg + value_at, 'v', 24);
            msg[value_at + pos] = (char)b;
            memcpy(msg + value_at + 24, "\r\n\r\n", 4);
            c = tcase_of(msg, value_at + 28);
            c.eof = 1;
            run(&c, WHOLE, 0, &o);
            if (text) wrong += o.rc != 1;
            else wrong += o.rc != ASYNC_HTTP_EMALFORMED || o.error_offset != value_at + pos;
        }
    }
    CHECK_EQ(wrong, 0);
}

TEST(field_syntax_errors) {
    tcase c = CASE(HEAD200 "X-A: a\x01z\r\n\r\n");
    expect_malformed(c, "control character in header field value", at(&c, "\x01"));

    c = CASE(HEAD200 "X-A: a\x7f\r\n\r\n");
    expect_malformed(c, "control character in header field value", at(&c, "\x7f"));

    c = CASE(HEAD200 "X-A: a\0b\r\n\r\n");
    expect_malformed(c, "control character in header field value", at(&c, "a") + 1);

    c = CASE(HEAD200 "Content-Length : 5\r\n\r\nhello");
    expect_malformed(c, "whitespace in header field name or before colon", at(&c, " : "));

    c = CASE(HEAD200 "Content-Length\t: 5\r\n\r\nhello");
    expect_malformed(c, "whitespace in header field name or before colon", at(&c, "\t"));

    c = CASE(HEAD200 "X-A: a\r\n  continued\r\n\r\n");
    expect_malformed(c, "obsolete line folding (line starts with whitespace)", at(&c, "  c"));

    c = CASE(HEAD200 "\tX-A: a\r\n\r\n");
    expect_malformed(c, "obsolete line folding (line starts with whitespace)", 17);

    c = CASE(HEAD200 ": a\r\n\r\n");
    expect_malformed(c, "empty header field name", 17);

    c = CASE(HEAD200 "X(a): b\r\n\r\n");
    expect_malformed(c, "invalid character in header field name", at(&c, "("));

    c = CASE(HEAD200 "NoColon\r\n\r\n");
    expect_malformed(c, "missing colon in header field", at(&c, "\r\n\r\n"));
}

TEST(line_endings) {
    tcase c = CASE("HTTP/1.1 200 OK\nContent-Length: 0\n\n");
    expect_malformed(c, "bare LF (not preceded by CR)", 15);

    c = CASE(HEAD200 "X-A: b\nContent-Length: 0\r\n\r\n");
    expect_malformed(c, "bare LF (not preceded by CR)", at(&c, "\nC"));

    c = CASE(HEAD200 "Content-Length: 0\r\n\n");
    expect_malformed(c, "bare LF (not preceded by CR)", c.len - 1);

    c = CASE(HEAD200 "X-A: a\rb\r\n\r\n");
    expect_malformed(c, "bare CR (not followed by LF)", at(&c, "\rb"));

    c = CASE("HTTP/1.1 200 O\rK\r\n\r\n");
    expect_malformed(c, "bare CR (not followed by LF)", 14);

    c = CASE(HEAD200 "X-A\r: a\r\n\r\n");
    expect_malformed(c, "bare CR (not followed by LF)", at(&c, "\r:"));
}

TEST(status_line_errors) {
    tcase c = CASE("HTTP/2.0 200 OK\r\n\r\n");
    expect_malformed(c, "unsupported HTTP version", 5);

    c = CASE("HTTP/1.2 200 OK\r\n\r\n");
    expect_malformed(c, "unsupported HTTP version", 7);

    c = CASE("http/1.1 200 OK\r\n\r\n");
    expect_malformed(c, "invalid HTTP version", 0);

    c = CASE("HTTP/1.x 200 OK\r\n\r\n");
    expect_malformed(c, "invalid HTTP version", 7);

    c = CASE("HTTP/1\r\n\r\n");
    expect_malformed(c, "invalid HTTP version", 6);

    /* An empty line first (RFC 9112 2.2 lets only servers skip one, before a request);
       after an interim response too, where it is the first byte of its status line. */
    c = CASE("\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    expect_malformed(c, "empty line where the status line was expected", 0);
    c = CASE("\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    expect_malformed(c, "empty line where the status line was expected", 0);
    c = CASE("HTTP/1.1 100 Continue\r\n\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    expect_malformed(c, "empty line where the status line was expected", 25);

    /* Not HTTP at all: caught on the first byte, long before the head limit */
    c = CASE("SSH-2.0-OpenSSH_9.6\r\n");
    expect_malformed(c, "invalid HTTP version", 0);

    c = CASE("HTTP/1.1\r\n\r\n");
    expect_malformed(c, "missing status code", 8);

    c = CASE("HTTP/1.1200 OK\r\n\r\n");
    expect_malformed(c, "expected SP after HTTP version", 8);

    c = CASE("HTTP/1.1  200 OK\r\n\r\n");
    expect_malformed(c, "invalid status code", 9);

    c = CASE("HTTP/1.1 20 OK\r\n\r\n");
    expect_malformed(c, "invalid status code", 11);

    c = CASE("HTTP/1.1 20\r\n\r\n");
    expect_malformed(c, "invalid status code", 11);

    c = CASE("HTTP/1.1 2000 OK\r\n\r\n");
    expect_malformed(c, "invalid status code", 12);

    c = CASE("HTTP/1.1 abc OK\r\n\r\n");
    expect_malformed(c, "invalid status code", 9);

    c = CASE("HTTP/1.1 099 OK\r\n\r\n");
    expect_malformed(c, "invalid status code", 9);

    c = CASE("HTTP/1.1 600 OK\r\n\r\n");
    expect_malformed(c, "invalid status code", 9);
}

/* ---- Limits */

TEST(header_count_limit) {
    static outcome o;
    tcase c = CASE(HEAD200 "A: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n");
    c.max_headers = 3;
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);

    c.max_headers = 2;
    expect_error(c, ASYNC_HTTP_EHEADER_TOO_LARGE, "too many header fields", at(&c, "Content"));

    /* Trailers count too */
    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\n\r\n");
    c.max_headers = 3;
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_STR(o.trailers, "A: 1\nB: 2\n");
    c.max_headers = 2;
    expect_error(c, ASYNC_HTTP_EHEADER_TOO_LARGE, "too many header fields", at(&c, "B: 2"));
}

TEST(head_size_limit) {
    static outcome o;
    tcase c = CASE(HEAD200 "Content-Length: 2\r\n\r\nok");
    size_t head_len = c.len - 2;
    c.head_cap = head_len; /* exactly enough, final CRLF included */
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.body_len, 2);

    c.head_cap = head_len - 1;
    expect_error(c, ASYNC_HTTP_EHEADER_TOO_LARGE, "response head too large", head_len - 1);

    c.head_cap = 10; /* inside the status line */
    expect_error(c, ASYNC_HTTP_EHEADER_TOO_LARGE, "response head too large", 10);

    c.head_cap = 4; /* the version check still sees what fits */
    c.data = "HTTX/1.1 200 OK\r\n\r\n";
    c.len = strlen(c.data);
    expect_malformed(c, "invalid HTTP version", 3);

    /* Trailers share the buffer with the head: 2 bytes left for them, the final CRLF */
    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n");
    c.head_cap = at(&c, "\r\n\r\n") + 4 + 2;
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.body_len, 1);
    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nT: 1\r\n\r\n");
    c.head_cap = at(&c, "\r\n\r\n") + 4 + 2;
    expect_error(c, ASYNC_HTTP_EHEADER_TOO_LARGE, "response head too large", at(&c, "T: 1") + 2);
}

/* ---- End of stream */

TEST(eof_truncation) {
    tcase c = CASE(HEAD200 "Content-Length: 10\r\n\r\nhello");
    c.eof = 1;
    expect_malformed(c, "connection closed before the end of the body", c.len);

    c = CASE(HEAD200 "Content-Le");
    c.eof = 1;
    expect_malformed(c, "connection closed before the end of the headers", c.len);

    c = CASE(""); /* closed before a single byte: offset 0 tells it */
    c.eof = 1;
    expect_malformed(c, "connection closed before the end of the headers", 0);

    {
        static outcome o;
        c = CASE(HEAD200 "Content-Length: 5\r\n\r\nhello"); /* complete: eof changes nothing */
        c.eof = 1;
        run_all(&c, &o);
        CHECK_EQ(o.rc, 1);
        CHECK_EQ(o.keep_alive, 1);
    }
}

/* ---- on_body */

TEST(on_body_abort) {
    static outcome o;
    tcase c = CASE(HEAD200 "Content-Length: 10\r\n\r\n0123456789");
    c.body_limit = 3;
    run_all(&c, &o);
    CHECK_EQ(o.rc, ABORT_CODE);
    CHECK_STR(o.error_reason, "aborted by on_body");
    CHECK_EQ(o.error_offset, at(&c, "0123")); /* whole: the span started the body */
    CHECK_EQ(o.body_len, 10);

    c = CASE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n");
    c.body_limit = 4;
    run_all(&c, &o);
    CHECK_EQ(o.rc, ABORT_CODE);
    CHECK_EQ(o.error_offset, at(&c, "def"));
    CHECK_EQ(o.body_len, 6);

    c.body_limit = 6; /* exactly the limit: no abort */
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
}

/* ---- Several responses on one connection */

TEST(pipelined) {
    static outcome o;
    tcase c = CASE(HEAD200 "Content-Length: 3\r\n\r\nabc"
                   "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n"
                   "HTTP/1.1 304 Not Modified\r\n\r\n");
    tcase rest;
    run_all(&c, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.end, at(&c, "abc") + 3);
    CHECK_EQ(o.status, 200);

    rest = tcase_of(c.data + o.end, c.len - o.end);
    run_all(&rest, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.status, 201);
    CHECK_EQ(o.body_len, 3);
    CHECK(!memcmp(o.body, "xyz", 3));
    CHECK_EQ(o.end, at(&rest, "0\r\n\r\n") + 5);

    rest = tcase_of(rest.data + o.end, rest.len - o.end);
    run_all(&rest, &o);
    CHECK_EQ(o.rc, 1);
    CHECK_EQ(o.status, 304);
    CHECK_EQ(o.end, rest.len);
}

/* ---- Error offsets, counted by hand */

TEST(error_offsets) {
    /* "HTTP/1.1 200 OK\r\n" is 17 bytes; "X-Bad: a" 8 more */
    tcase c = CASE("HTTP/1.1 200 OK\r\nX-Bad: a\x01\r\n\r\n");
    expect_malformed(c, "control character in header field value", 25);

    /* Offsets run on across interim responses: 25 + 17 + 4 ("X: y") */
    c = CASE("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX: y\n\r\n");
    expect_malformed(c, "bare LF (not preceded by CR)", 46);

    /* ... and across the body: head 17 + 28 + 2 = 47, then "2\r\nok\r\n" 7 more */
    c = CASE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\ng\r\n");
    expect_malformed(c, "invalid chunk size", 54);

    /* Content-Length: 17 + 16 ("Content-Length: ") + 2 */
    c = CASE("HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n");
    expect_malformed(c, "invalid Content-Length", 35);
}

/* A grow callback moves the parser to larger storage mid-head: fed whole or one byte at a
   time, a head far larger than the first buffer comes out intact, and the limit holds. */
typedef struct growable {
    char *mem;
    size_t head_cap, nheaders, max_head, max_headers;
    int grows;
} growable;

static int grow_storage(void *user, async_http_parser *p) {
    growable *g = (growable *)user;
    size_t cap = p->head_cap ? p->head_cap * 2 : 64, n = p->max_headers ? p->max_headers * 2 : 4;
    cap = cap > g->max_head ? g->max_head : cap;
    n = n > g->max_headers ? g->max_headers : n;
    char *mem;
    if (cap == p->head_cap && n == p->max_headers) return -1;
    mem = (char *)malloc(n * sizeof(async_http_header) + cap);
    async_http_parser_rebase(p, mem + n * sizeof(async_http_header), cap, (async_http_header *)(void *)mem, n);
    free(g->mem);
    g->mem = mem;
    g->grows++;
    return 0;
}

/* Feeds data in pieces of `step` bytes (the last one shorter) until the parse ends: its result. */
static int feed_in_steps(async_http_parser *p, const char *data, size_t len, size_t step) {
    size_t off = 0;
    int rc = 0;
    while (off < len && rc == 0) {
        size_t n = len - off < step ? len - off : step;
        rc = async_http_parser_feed(p, data + off, n, NULL);
        off += n;
    }
    return rc;
}

static int parse_growing(const char *data, size_t len, size_t step, size_t max_head, growable *g,
                         async_http_parser *p) {
    memset(g, 0, sizeof *g);
    g->max_head = max_head;
    g->max_headers = 64;
    g->mem = (char *)malloc(4 * sizeof(async_http_header) + 64);
    async_http_parser_init(p, g->mem + 4 * sizeof(async_http_header), 64, (async_http_header *)(void *)g->mem, 4,
                           0, NULL, NULL);
    p->grow = grow_storage;
    p->user = g;
    return feed_in_steps(p, data, len, step);
}

TEST(grow_head_storage) {
    char resp[8192];
    size_t len, i, step;
    int n = sprintf(resp, "HTTP/1.1 200 Fine\r\n");
    for (i = 0; i < 30; i++) n += sprintf(resp + n, "X-Field-%u: value-%u\r\n", (unsigned)i, (unsigned)i);
    n += sprintf(resp + n, "X-Long: ");
    memset(resp + n, 'v', 2000);
    n += 2000;
    n += sprintf(resp + n, "\r\nContent-Length: 0\r\n\r\n");
    len = (size_t)n;
    for (step = 1; step <= len; step = step == 1 ? len : len + 1) {
        growable g;
        async_http_parser p;
        size_t vlen;
        const char *v;
        CHECK_EQ(parse_growing(resp, len, step, 8192, &g, &p), 1);
        CHECK(g.grows >= 5);
        CHECK_EQ(p.header_count, 32);
        CHECK(p.reason_len == 4 && memcmp(p.reason, "Fine", 4) == 0);
        v = async_http_header_find(p.headers, p.header_count, "x-field-29", &vlen);
        CHECK(v && vlen == 8 && memcmp(v, "value-29", 8) == 0);
        v = async_http_header_find(p.headers, p.header_count, "X-Long", &vlen);
        CHECK(v && vlen == 2000 && v[0] == 'v' && v[1999] == 'v');
        free(g.mem);
        /* the same head over a smaller limit */
        CHECK_EQ(parse_growing(resp, len, step, 1024, &g, &p), ASYNC_HTTP_EHEADER_TOO_LARGE);
        free(g.mem);
    }
}


/* on_head sees the head's framing (body length, Content-Length, chunked, keep_alive) as the
   end of the parse does, a head refused for its framing with its error set, and its own abort
   lands at the head's end however the input was cut. */
typedef struct head_seen {
    int calls, abort;
    long long body_length, content_length;
    int chunked, keep_alive, had_error;
} head_seen;

static int see_head(void *user, async_http_parser *p, int interim) {
    head_seen *h = (head_seen *)user;
    if (interim) return 0;
    h->calls++;
    h->body_length = async_http_parser_body_length(p);
    h->content_length = p->content_length;
    h->chunked = p->chunked;
    h->keep_alive = p->keep_alive;
    h->had_error = p->error_reason != NULL;
    return h->abort;
}

static int parse_seeing_head(const char *data, size_t step, int is_head, int eof, head_seen *h,
                             async_http_parser *p) {
    static char buf[1024];
    static async_http_header fields[16];
    int rc, abort = h->abort;
    memset(h, 0, sizeof *h);
    h->abort = abort;
    async_http_parser_init(p, buf, sizeof buf, fields, 16, is_head, NULL, NULL);
    p->on_head = see_head;
    p->user = h;
    rc = feed_in_steps(p, data, strlen(data), step);
    if (rc == 0 && eof) rc = async_http_parser_eof(p);
    return rc;
}

TEST(on_head_sees_the_framing) {
    static const struct {
        const char *data;
        int is_head, eof;
        long long body_length, content_length;
        int chunked, keep_alive;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, 0, 5, 5, 0, 1},
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nabc", 0, 1, -1, -1, 0, 0}, /* ends with the close */
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 0, -1, -1, 1, 1},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 1, 0, 0, 5, 0, 1}, /* to a HEAD */
        {"HTTP/1.1 204 No Content\r\n\r\n", 0, 0, 0, -1, 0, 1},
    };
    const char *refused = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    const char *aborted = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    size_t i, step;
    for (step = 1; step <= 4096; step = step == 1 ? 4096 : 8192) {
        async_http_parser p;
        head_seen h;
        for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            h.abort = 0;
            CHECK_EQ(parse_seeing_head(cases[i].data, step, cases[i].is_head, cases[i].eof, &h, &p), 1);
            CHECK_EQ(h.calls, 1);
            CHECK_EQ(h.body_length, cases[i].body_length);
            CHECK_EQ(h.content_length, cases[i].content_length);
            CHECK_EQ(h.chunked, cases[i].chunked);
            CHECK_EQ(h.keep_alive, cases[i].keep_alive);
            CHECK_EQ(h.keep_alive, p.keep_alive); /* as the end of the parse says */
            CHECK_EQ(h.had_error, 0);
        }
        h.abort = 0;
        CHECK_EQ(parse_seeing_head(refused, step, 0, 0, &h, &p), ASYNC_HTTP_EMALFORMED);
        CHECK(h.calls == 1 && h.had_error); /* told, the error set: a trace shows what was refused */
        h.abort = -77;
        CHECK_EQ(parse_seeing_head(aborted, step, 0, 0, &h, &p), -77);
        CHECK_EQ(p.error_offset, strlen(aborted) - 3); /* the head's end, whole or byte by byte */
        h.abort = 5;
        CHECK_EQ(parse_seeing_head(aborted, step, 0, 0, &h, &p), ASYNC_HTTP_EMALFORMED);
        CHECK_EQ(p.error_offset, strlen(aborted) - 3);
    }
}

/* A parser may start with no storage at all and get it from grow. */
TEST(grow_from_no_storage) {
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    size_t step;
    for (step = 1; step <= sizeof resp; step = step == 1 ? sizeof resp : sizeof resp + 1) {
        growable g;
        async_http_parser p;
        memset(&g, 0, sizeof g);
        g.max_head = 1024;
        g.max_headers = 16;
        async_http_parser_init(&p, NULL, 0, NULL, 0, 0, NULL, NULL);
        p.grow = grow_storage;
        p.user = &g;
        CHECK_EQ(feed_in_steps(&p, resp, sizeof resp - 1, step), 1);
        CHECK_EQ(p.status, 200);
        CHECK_EQ(p.content_length, 2);
        free(g.mem);
    }
}

/* One list makes the codes, their names and the registered range: every code is named by
   async_strerror with its own text, and no two codes are the same. */
typedef struct error_row {
    int code;
    const char *name, *text;
} error_row;
#define ERROR_ROW(name, code, text) {code, #name, text},
static const error_row error_rows[] = {ASYNC_IO_ERRORS(ERROR_ROW) ASYNC_HTTP_ERRORS(ERROR_ROW)};

TEST(error_list) {
    size_t i, j, n = sizeof error_rows / sizeof error_rows[0];
    async_http_errors_register();
    CHECK(n >= 16);
    for (i = 0; i < n; i++) {
        if (strcmp(async_strerror(error_rows[i].code), error_rows[i].text) != 0)
            fprintf(stderr, "  %s: \"%s\"\n", error_rows[i].name, async_strerror(error_rows[i].code));
        CHECK_STR(async_strerror(error_rows[i].code), error_rows[i].text);
        CHECK(error_rows[i].code < -4096); /* never an -errno */
        for (j = 0; j < i; j++) CHECK(error_rows[i].code != error_rows[j].code);
    }
    CHECK_EQ(ASYNC_HTTP_ENOURING, ASYNC_IO_ENOURING); /* the older name stays */
    CHECK_STR(async_strerror(-4299), "unknown error");
}

int main(void) {
    RUN(error_list);
    RUN(character_classes);
    RUN(simple_content_length);
    RUN(grow_head_storage);
    RUN(on_head_sees_the_framing);
    RUN(grow_from_no_storage);
    RUN(api_direct);
    RUN(keep_alive_rules);
    RUN(close_delimited_body);
    RUN(reason_phrase);
    RUN(header_lookup);
    RUN(head_response);
    RUN(no_body_204_304);
    RUN(content_length_zero);
    RUN(interim_responses);
    RUN(switching_protocols);
    RUN(interim_response_limit);
    RUN(chunked_extensions_trailers);
    RUN(chunked_after_other_codings);
    RUN(chunk_errors);
    RUN(chunk_extension_bound);
    RUN(chunk_framing_bound);
    RUN(many_chunks);
    RUN(transfer_encoding_and_content_length);
    RUN(bad_content_length);
    RUN(content_length_bound_and_duplicates);
    RUN(value_bytes_everywhere);
    RUN(field_syntax_errors);
    RUN(line_endings);
    RUN(status_line_errors);
    RUN(header_count_limit);
    RUN(head_size_limit);
    RUN(eof_truncation);
    RUN(on_body_abort);
    RUN(pipelined);
    RUN(error_offsets);
    return test_summary("parser");
}
