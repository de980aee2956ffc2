/* fuzz_parser.c - libFuzzer target for the HTTP/1.1 response parser.
 *
 * The input is 4 control bytes and then the stream the "server" sent:
 *   byte 0: flags: 1 the request was HEAD, 2 the peer closes after the last byte,
 *           4 on_body aborts past a limit, 8 parse every response on the stream
 *           (pipelined: re-init after each complete response and go on with the rest)
 *   byte 1: head buffer size (< 128: 1024; else 1 + (b - 128) * 8)
 *   byte 2: max_headers (< 128: 16; else (b - 128) % 20, 0 included)
 *   byte 3: seed of one random split (the other random split is chosen by the stream bytes)
 *
 * The same stream is parsed whole, one byte at a time, and cut into pieces at random in
 * two ways; every run must agree with the whole one (result code, status, reason, fields,
 * trailers, keep-alive, framing, body bytes, consumed count, error reason and offset).
 * Each piece is copied into a heap block of exactly its size and freed right after it was
 * fed, the head buffer and the header array are exact heap blocks too: ASan catches any
 * read outside the input and any pointer kept into an earlier piece. Every body span must
 * lie inside the piece just fed and equal the stream's bytes at that place.
 *
 *   make fuzz                      (FUZZ_SECONDS each, default 60)
 *   build/fuzz_parser tests/corpus/parser/FILE...   (replays inputs)
 */
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ABORT_CODE (-9999)  /* what on_body returns past its limit */
#define MAX_RESPONSES 16    /* pipelined: responses parsed at most */

#define FUZZ_ASSERT(cond)                                                                    \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: FUZZ_ASSERT failed: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

typedef struct config {
    int is_head, eof, body_limit, pipelined;
    size_t head_cap, max_headers;
    unsigned seed;
    const unsigned char *stream;
    size_t len;
} config;

/* One response's outcome; strings are kept as FNV-1a hashes and lengths. */
typedef struct outcome {
    int rc;
    size_t start, end; /* stream offsets: where this parser started, where the response ended */
    int status, minor, keep_alive, chunked, head_done;
    long long content_length;
    uint64_t reason_hash, fields_hash, trailers_hash, body_hash;
    size_t header_count, trailer_start, body_len;
    uint64_t body_bytes;
    size_t offset;
    const char *error_reason;
    size_t error_offset;
} outcome;

typedef struct run_result {
    outcome r[MAX_RESPONSES];
    size_t n;
} run_result;

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}
#define FNV_INIT 1469598103934665603ull

/* ---- The body sink: checks each span against the stream */

typedef struct sink {
    const config *cfg;
    const char *piece;     /* the heap copy of the piece being fed */
    size_t piece_len;
    size_t piece_offset;   /* the piece's offset in the stream */
    uint64_t hash;
    size_t len;
} sink;

static int on_body(void *user, const char *data, size_t len) {
    sink *s = (sink *)user;
    size_t at;
    FUZZ_ASSERT(len > 0);
    FUZZ_ASSERT(s->piece != NULL);
    FUZZ_ASSERT(data >= s->piece && data + len <= s->piece + s->piece_len);
    at = s->piece_offset + (size_t)(data - s->piece);
    FUZZ_ASSERT(memcmp(data, s->cfg->stream + at, len) == 0);
    s->hash = fnv(s->hash, data, len);
    s->len += len;
    return s->cfg->body_limit && s->len > (size_t)s->cfg->body_limit ? ABORT_CODE : 0;
}

/* ---- Invariants of a parser's state */

static int is_tchar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void check_fields(const async_http_parser *p) {
    size_t i, j;
    FUZZ_ASSERT(p->header_count <= p->max_headers);
    for (i = 0; i < p->header_count; i++) {
        const async_http_header *h = &p->headers[i];
        FUZZ_ASSERT(h->name_len > 0);
        FUZZ_ASSERT(h->name >= p->head_buf && h->name + h->name_len <= p->head_buf + p->head_cap);
        FUZZ_ASSERT(h->value >= p->head_buf && h->value + h->value_len <= p->head_buf + p->head_cap);
        for (j = 0; j < h->name_len; j++) FUZZ_ASSERT(is_tchar((unsigned char)h->name[j]));
        for (j = 0; j < h->value_len; j++) {
            unsigned char c = (unsigned char)h->value[j];
            FUZZ_ASSERT(c != '\r' && c != '\n' && c != 0);
        }
        if (h->value_len) { /* OWS trimmed */
            FUZZ_ASSERT(h->value[0] != ' ' && h->value[0] != '\t');
            FUZZ_ASSERT(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
        }
    }
}

static uint64_t hash_fields(const async_http_header *h, size_t n) {
    uint64_t x = FNV_INIT;
    size_t i;
    for (i = 0; i < n; i++) {
        x = fnv(x, h[i].name, h[i].name_len);
        x = fnv(x, ":", 1);
        x = fnv(x, h[i].value, h[i].value_len);
        x = fnv(x, "\n", 1);
    }
    return x;
}

static void record(outcome *o, const async_http_parser *p, const sink *s, int rc, size_t start) {
    size_t nf;
    memset(o, 0, sizeof *o);
    o->rc = rc;
    o->start = start;
    o->end = rc == 1 ? start + p->offset : 0;
    o->status = p->status;
    o->minor = p->version_minor;
    o->keep_alive = p->keep_alive;
    o->chunked = p->chunked;
    o->head_done = async_http_parser_head_done(p);
    o->content_length = p->content_length;
    o->reason_hash = p->reason ? fnv(FNV_INIT, p->reason, p->reason_len) : 0;
    nf = o->head_done ? p->trailer_start : p->header_count;
    o->fields_hash = hash_fields(p->headers, nf);
    o->trailers_hash = hash_fields(p->headers + nf, p->header_count - nf);
    o->header_count = p->header_count;
    o->trailer_start = o->head_done ? p->trailer_start : 0;
    o->body_hash = s->hash;
    o->body_len = s->len;
    o->body_bytes = p->body_bytes;
    o->offset = p->offset;
    o->error_reason = p->error_reason;
    o->error_offset = p->error_offset;
}

/* The final state of one response's parse, whatever the split. */
static void check_outcome(const config *cfg, const async_http_parser *p, const outcome *o) {
    check_fields(p);
    FUZZ_ASSERT(o->rc == 0 || o->rc == 1 || o->rc == ASYNC_HTTP_EMALFORMED ||
                o->rc == ASYNC_HTTP_EHEADER_TOO_LARGE || o->rc == ABORT_CODE);
    FUZZ_ASSERT(o->start + p->offset <= cfg->len);
    FUZZ_ASSERT(o->body_bytes == o->body_len);
    if (o->rc < 0) {
        FUZZ_ASSERT(o->error_reason != NULL);
        FUZZ_ASSERT(o->error_offset <= p->offset);
    } else {
        FUZZ_ASSERT(o->error_reason == NULL);
    }
    if (o->head_done) {
        FUZZ_ASSERT(o->status >= 100 && o->status <= 599);
        FUZZ_ASSERT(o->status >= 200 || o->status == 101);
        FUZZ_ASSERT(o->minor == 0 || o->minor == 1);
        FUZZ_ASSERT(p->trailer_start <= p->header_count);
        FUZZ_ASSERT(p->head_len <= p->head_cap);
    } else {
        FUZZ_ASSERT(o->body_len == 0);
        FUZZ_ASSERT(o->rc != 1);
    }
    if (o->rc == 1) {
        int no_body = cfg->is_head || o->status == 204 || o->status == 304 || o->status == 101;
        if (no_body) FUZZ_ASSERT(o->body_len == 0);
        else if (!o->chunked && o->content_length >= 0)
            FUZZ_ASSERT(o->body_len == (size_t)o->content_length);
        if (!o->chunked && o->content_length < 0 && !no_body) FUZZ_ASSERT(!o->keep_alive);
    }
}

static int same(const outcome *a, const outcome *b, int split_dependent) {
    int s = a->rc == b->rc && a->start == b->start && a->end == b->end && a->status == b->status &&
            a->minor == b->minor && a->keep_alive == b->keep_alive && a->chunked == b->chunked &&
            a->head_done == b->head_done && a->content_length == b->content_length &&
            a->reason_hash == b->reason_hash && a->fields_hash == b->fields_hash &&
            a->trailers_hash == b->trailers_hash && a->header_count == b->header_count &&
            a->trailer_start == b->trailer_start &&
            ((a->error_reason == NULL && b->error_reason == NULL) ||
             (a->error_reason && b->error_reason && !strcmp(a->error_reason, b->error_reason)));
    /* When on_body aborts, how much it saw (so where the error is) depends on the pieces. */
    if (!split_dependent)
        s = s && a->body_hash == b->body_hash && a->body_len == b->body_len &&
            a->body_bytes == b->body_bytes && a->error_offset == b->error_offset &&
            /* after an error, offset counts the failing piece's bytes looked at: not compared */
            (a->rc < 0 || a->offset == b->offset);
    return s;
}

/* ---- Runs */

enum { WHOLE, BYTES, SEEDED, BY_CONTENT };

typedef struct splitter {
    int mode;
    uint32_t rng;
} splitter;

static size_t next_piece(splitter *sp, const config *cfg, size_t pos) {
    size_t left = cfg->len - pos, n;
    switch (sp->mode) {
    case WHOLE: return left;
    case BYTES: return left ? 1 : 0;
    case SEEDED:
        sp->rng ^= sp->rng << 13, sp->rng ^= sp->rng >> 17, sp->rng ^= sp->rng << 5;
        n = 1 + sp->rng % 64;
        break;
    default: /* the stream's own bytes choose where it is cut */
        n = left ? 1 + (size_t)(cfg->stream[pos] * 31u + pos) % 23 : 0;
        break;
    }
    return n < left ? n : left;
}

typedef struct parse_state {
    async_http_parser p;
    char *head;
    async_http_header *fields;
    sink s;
    size_t start; /* stream offset where this parser began */
    int active;
} parse_state;

static void state_init(parse_state *st, const config *cfg, size_t start) {
    memset(&st->s, 0, sizeof st->s);
    st->s.cfg = cfg;
    st->s.hash = FNV_INIT;
    memset(st->head, 0xAA, cfg->head_cap);
    async_http_parser_init(&st->p, st->head, cfg->head_cap, st->fields, cfg->max_headers,
                           cfg->is_head, on_body, &st->s);
    st->start = start;
    st->active = 1;
}

/* Feeds piece[0, n) (a heap block of exactly n bytes at stream offset off) to the current
   parser, and in pipelined mode what is left of it to the next ones. Returns 0 to go on. */
static int feed_piece(parse_state *st, run_result *res, const config *cfg, const char *piece,
                      size_t n, size_t off) {
    size_t pos = 0;
    do {
        size_t used = 12345, before;
        int rc;
        if (!st->active) state_init(st, cfg, off + pos);
        before = st->p.offset;
        st->s.piece = piece + pos;
        st->s.piece_len = n - pos;
        st->s.piece_offset = off + pos;
        rc = async_http_parser_feed(&st->p, piece + pos, n - pos, &used);
        st->s.piece = NULL;
        if (rc == 0) FUZZ_ASSERT(used == n - pos);
        else if (rc < 0) FUZZ_ASSERT(used == 0);
        else FUZZ_ASSERT(used <= n - pos);
        if (rc >= 0) FUZZ_ASSERT(st->p.offset == before + used);
        if (rc == 0) return 0;
        /* Done: the outcome sticks. */
        {
            size_t again = 99;
            FUZZ_ASSERT(async_http_parser_feed(&st->p, "X", 1, &again) == rc);
            FUZZ_ASSERT(again == 0);
            FUZZ_ASSERT(async_http_parser_eof(&st->p) == rc);
        }
        FUZZ_ASSERT(res->n < MAX_RESPONSES);
        record(&res->r[res->n], &st->p, &st->s, rc, st->start);
        check_outcome(cfg, &st->p, &res->r[res->n]);
        res->n++;
        st->active = 0;
        if (rc < 0 || !cfg->pipelined || res->n == MAX_RESPONSES) return 1;
        pos += used;
    } while (pos < n);
    return 0;
}

static void run(const config *cfg, int mode, run_result *res) {
    parse_state st;
    splitter sp;
    size_t pos = 0;
    int stop = 0;
    memset(res, 0, sizeof *res);
    memset(&st, 0, sizeof st);
    st.head = (char *)malloc(cfg->head_cap ? cfg->head_cap : 1);
    st.fields = (async_http_header *)malloc(cfg->max_headers ? cfg->max_headers * sizeof *st.fields : 1);
    sp.mode = mode;
    sp.rng = cfg->seed * 2654435761u + 1;
    state_init(&st, cfg, 0);
    do { /* at least one feed, even of an empty stream */
        size_t n = next_piece(&sp, cfg, pos);
        char *piece = (char *)malloc(n ? n : 1);
        memcpy(piece, cfg->stream + pos, n);
        stop = feed_piece(&st, res, cfg, piece, n, pos);
        free(piece);
        pos += n;
    } while (!stop && pos < cfg->len);
    if (!stop && st.active) {
        int rc = cfg->eof ? async_http_parser_eof(&st.p) : 0;
        if (rc != 0) FUZZ_ASSERT(async_http_parser_eof(&st.p) == rc);
        record(&res->r[res->n], &st.p, &st.s, rc, st.start);
        check_outcome(cfg, &st.p, &res->r[res->n]);
        res->n++;
    }
    free(st.head);
    free(st.fields);
}

static void compare(const run_result *whole, const run_result *other, const char *how,
                    int split_dependent) {
    size_t i;
    int ok = whole->n == other->n;
    for (i = 0; ok && i < whole->n; i++) ok = same(&whole->r[i], &other->r[i], split_dependent);
    if (ok) return;
    fprintf(stderr, "the %s run differs from the whole run (%zu vs %zu responses)\n", how,
            other->n, whole->n);
    for (i = 0; i < whole->n || i < other->n; i++) {
        const outcome *a = i < whole->n ? &whole->r[i] : NULL, *b = i < other->n ? &other->r[i] : NULL;
        fprintf(stderr, "  #%zu whole: rc %d end %zu status %d body %zu error \"%s\"@%zu\n", i,
                a ? a->rc : 0, a ? a->end : 0, a ? a->status : 0, a ? a->body_len : 0,
                a && a->error_reason ? a->error_reason : "", a ? a->error_offset : 0);
        fprintf(stderr, "  #%zu %-5s: rc %d end %zu status %d body %zu error \"%s\"@%zu\n", i, how,
                b ? b->rc : 0, b ? b->end : 0, b ? b->status : 0, b ? b->body_len : 0,
                b && b->error_reason ? b->error_reason : "", b ? b->error_offset : 0);
    }
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static run_result whole, other;
    config cfg;
    int split_dependent;
    if (size < 4) return 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.is_head = data[0] & 1;
    cfg.eof = (data[0] >> 1) & 1;
    cfg.body_limit = (data[0] & 4) ? 1 + (data[3] & 63) : 0;
    cfg.pipelined = (data[0] >> 3) & 1;
    cfg.head_cap = data[1] < 128 ? 1024 : 1 + (size_t)(data[1] - 128) * 8;
    cfg.max_headers = data[2] < 128 ? 16 : (size_t)(data[2] - 128) % 20;
    cfg.seed = data[3];
    cfg.stream = data + 4;
    cfg.len = size - 4;
    split_dependent = cfg.body_limit != 0;

    run(&cfg, WHOLE, &whole);
    FUZZ_ASSERT(whole.n >= 1);
    run(&cfg, BYTES, &other);
    compare(&whole, &other, "bytes", split_dependent);
    run(&cfg, SEEDED, &other);
    compare(&whole, &other, "seeded", split_dependent);
    run(&cfg, BY_CONTENT, &other);
    compare(&whole, &other, "split", split_dependent);
    return 0;
}
