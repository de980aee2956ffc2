/* http_parser.h - incremental HTTP/1.1 response parser (RFC 9112).
 *
 * Work in progress: the two sections below are meant to be pasted into async_http.h.
 * Standalone use: #define ASYNC_HTTP_PARSER_IMPLEMENTATION in one file before including. */
#ifndef ASYNC_HTTP_PARSER_H
#define ASYNC_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- Response parser ------------------------------------------------------------------------
 *
 * Push-style: feed the bytes as they arrive, in pieces of any size. The parser keeps no pointer
 * to earlier pieces: it copies the status line and header lines into the caller's head buffer
 * and hands body bytes straight to on_body, so every byte is looked at once and the result does
 * not depend on how the stream was split.
 *
 * No allocation: all storage (head buffer, header array) belongs to the caller. */

/* Error codes (negative ints). */
#define ASYNC_HTTP_EMALFORMED        (-4206) /* malformed response: see error_reason, error_offset */
#define ASYNC_HTTP_EHEADER_TOO_LARGE (-4207) /* head (+ trailers) over head_cap bytes, or more
                                                header fields than max_headers */

/* Largest Content-Length or chunk size accepted (2^62): beyond it the peer is not serious,
   and every sum of such sizes still fits in an int64_t. */
#define ASYNC_HTTP_MAX_BODY_LENGTH ((uint64_t)1 << 62)

/* Longest chunk-size line (size, extensions, CRLF): extensions are skipped, not stored, so
   this bounds the work a peer can make us do without sending body bytes. */
#define ASYNC_HTTP_MAX_CHUNK_LINE 4096

typedef struct async_http_header {
    const char *name;  size_t name_len;   /* point into the caller's head buffer */
    const char *value; size_t value_len;  /* leading and trailing OWS trimmed */
} async_http_header;

typedef int (*async_http_body_cb)(void *user, const char *data, size_t len);

typedef struct async_http_parser {
    /* ---- Results: the head's as soon as async_http_parser_head_done(), the rest at the end */
    int status;                 /* 100..599, of the final (non-1xx) response */
    int version_minor;          /* 0 or 1: HTTP/1.0 or HTTP/1.1 */
    const char *reason;         /* reason phrase, in the head buffer; may be empty */
    size_t reason_len;
    async_http_header *headers; /* the caller's array; header fields then trailer fields */
    size_t header_count;        /* header fields + trailer fields stored */
    size_t trailer_start;       /* index of the first trailer field (== header_count if none) */
    int keep_alive;             /* the connection may carry another response after this one */
    int chunked;                /* the body is chunked (and on_body gets it de-chunked) */
    int64_t content_length;     /* Content-Length value, -1 if none (or TE is used) */
    uint64_t body_bytes;        /* decoded body bytes given to on_body so far */
    size_t offset;              /* stream bytes consumed so far (interim responses included) */
    const char *error_reason;   /* static string once an error is returned, else NULL */
    size_t error_offset;        /* stream offset of the byte where the error was found */

    /* ---- Configuration (from init) */
    char *head_buf;
    size_t head_cap;
    size_t max_headers;
    int is_head_response;
    async_http_body_cb on_body;
    void *user;

    /* ---- Private state */
    int state;                  /* what the next byte is expected to be (ASYNC_HTTP__S_*) */
    int result;                 /* 0 while parsing; then 1 or the error code, for good */
    int head_done;              /* the final response's head has been parsed */
    size_t head_len;            /* bytes stored in head_buf */
    size_t line_start;          /* where the line being collected starts in head_buf */
    size_t head_end_offset;     /* stream offset just past head_buf[head_len - 1] */
    uint64_t remaining;         /* body bytes left (Content-Length) or chunk bytes left */
    uint64_t chunk_size;        /* chunk size being read */
    size_t chunk_line_len;      /* bytes of the chunk-size line so far */
    int chunk_has_digit;        /* the chunk size has a digit already */
} async_http_parser;

/* head_buf: caller storage for the status line and header lines (raw, CRLFs included); its size
   limits the head (plus any trailers). headers: caller array of max_headers entries (the limit on
   the number of header + trailer fields). is_head_response: the request was HEAD, so the response
   has no body whatever its headers say. on_body(user, data, len): receives the decoded
   (de-chunked) body in pieces; it may be NULL. It returns 0 to go on, or a negative code to abort
   the parse with that code (e.g. a body size limit). */
void async_http_parser_init(async_http_parser *p, char *head_buf, size_t head_cap,
                            async_http_header *headers, size_t max_headers, int is_head_response,
                            async_http_body_cb on_body, void *user);

/* Feeds the next piece of the stream (any size, even 0 or 1 byte). Returns
     0: need more; *consumed = len.
     1: the response is complete; *consumed = how many of these bytes belonged to it (the rest
        belongs to what follows on the connection: re-init and feed it to parse the next one).
    <0: an error code; *consumed = 0 (the connection cannot be trusted any more).
   After completion or an error, further calls return the same result with *consumed = 0.
   consumed may be NULL. */
int async_http_parser_feed(async_http_parser *p, const char *data, size_t len, size_t *consumed);

/* The peer closed the connection. Returns 1 if that completes the response (a body delimited by
   close, or a response already complete), else ASYNC_HTTP_EMALFORMED with error_reason
   "connection closed before the end of the headers" or "... of the body" (p->offset == 0 then
   tells that nothing at all was received). Later feeds return the same result. */
int async_http_parser_eof(async_http_parser *p);

/* Whether the final response's status line and headers are available. */
int async_http_parser_head_done(const async_http_parser *p);

/* Case-insensitive lookup among n fields; returns the first match's value (and *len) or NULL.
   len may be NULL. */
const char *async_http_header_find(const async_http_header *h, size_t n, const char *name,
                                   size_t *len);


/* ==== IMPLEMENTATION ==== */
#ifdef ASYNC_HTTP_PARSER_IMPLEMENTATION

/* What the parser expects next. The first three collect whole lines into head_buf. */
enum {
    ASYNC_HTTP__S_STATUS_LINE,
    ASYNC_HTTP__S_HEADER_LINE,
    ASYNC_HTTP__S_TRAILER_LINE,
    ASYNC_HTTP__S_BODY_LENGTH,   /* `remaining` bytes of a Content-Length body */
    ASYNC_HTTP__S_BODY_CLOSE,    /* body bytes until the peer closes */
    ASYNC_HTTP__S_CHUNK_SIZE,    /* hex digits of a chunk size */
    ASYNC_HTTP__S_CHUNK_SIZE_WS, /* whitespace after the size: only ';' may follow */
    ASYNC_HTTP__S_CHUNK_EXT,     /* chunk extensions, skipped up to CR */
    ASYNC_HTTP__S_CHUNK_SIZE_LF, /* LF ending the chunk-size line */
    ASYNC_HTTP__S_CHUNK_DATA,    /* `remaining` bytes of chunk data */
    ASYNC_HTTP__S_CHUNK_DATA_CR, /* CRLF after the chunk data */
    ASYNC_HTTP__S_CHUNK_DATA_LF,
    ASYNC_HTTP__S_DONE,
    ASYNC_HTTP__S_ERROR
};

void async_http_parser_init(async_http_parser *p, char *head_buf, size_t head_cap,
                            async_http_header *headers, size_t max_headers, int is_head_response,
                            async_http_body_cb on_body, void *user) {
    memset(p, 0, sizeof *p);
    p->head_buf = head_buf;
    p->head_cap = head_cap;
    p->headers = headers;
    p->max_headers = max_headers;
    p->is_head_response = is_head_response;
    p->on_body = on_body;
    p->user = user;
    p->content_length = -1;
    p->state = ASYNC_HTTP__S_STATUS_LINE;
}

int async_http_parser_head_done(const async_http_parser *p) { return p->head_done; }

/* ---- Character classes and small string helpers */

static int async_http__is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int async_http__is_ows(unsigned char c) { return c == ' ' || c == '\t'; }

/* tchar (RFC 9110 5.6.2): the characters of a token, such as a field name. */
static int async_http__is_tchar(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || async_http__is_digit(c)) return 1;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return 1;
    default:
        return 0;
    }
}

/* Field values, reason phrases and chunk extensions may hold anything but control characters
   (HTAB excepted); obs-text (0x80-0xFF) included. */
static int async_http__is_text(unsigned char c) { return c >= 0x20 ? c != 0x7f : c == '\t'; }

/* Hex digit value, or -1. */
static int async_http__hex(unsigned char c) {
    if (async_http__is_digit(c)) return c - '0';
    c |= 0x20; /* ASCII lower case; what it does to non-letters cannot land in a..f */
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static unsigned char async_http__lower(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

static int async_http__ieq(const char *a, size_t alen, const char *b, size_t blen) {
    size_t i;
    if (alen != blen) return 0;
    for (i = 0; i < alen; i++)
        if (async_http__lower((unsigned char)a[i]) != async_http__lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* Case-insensitive comparison of a string with a lower-case literal. */
#define ASYNC_HTTP__IEQ_LIT(s, len, lit) async_http__ieq(s, len, lit, sizeof lit - 1)

const char *async_http_header_find(const async_http_header *h, size_t n, const char *name,
                                   size_t *len) {
    size_t i, name_len = strlen(name);
    for (i = 0; i < n; i++) {
        if (async_http__ieq(h[i].name, h[i].name_len, name, name_len)) {
            if (len) *len = h[i].value_len;
            return h[i].value;
        }
    }
    if (len) *len = 0;
    return NULL;
}

/* Steps through a comma-separated list (RFC 9110 5.6.1): sets *elem, *len to the next element,
   OWS trimmed (possibly empty) and advances *s, which becomes NULL after the last element.
   Returns 0 once the list is exhausted. */
static int async_http__list_next(const char **s, const char *end, const char **elem,
                                 size_t *len) {
    const char *b = *s, *e;
    if (!b) return 0;
    e = (const char *)memchr(b, ',', (size_t)(end - b));
    *s = e ? e + 1 : NULL;
    if (!e) e = end;
    while (b < e && async_http__is_ows((unsigned char)*b)) b++;
    while (e > b && async_http__is_ows((unsigned char)e[-1])) e--;
    *elem = b;
    *len = (size_t)(e - b);
    return 1;
}

/* ---- Outcomes */

/* Records the error for good: every later call returns it. */
static int async_http__fail(async_http_parser *p, int code, const char *reason, size_t offset) {
    p->state = ASYNC_HTTP__S_ERROR;
    p->result = code;
    p->error_reason = reason;
    p->error_offset = offset;
    return code;
}

static int async_http__malformed(async_http_parser *p, const char *reason, size_t offset) {
    return async_http__fail(p, ASYNC_HTTP_EMALFORMED, reason, offset);
}

static int async_http__done(async_http_parser *p) {
    p->state = ASYNC_HTTP__S_DONE;
    p->result = 1;
    return 1;
}

/* Stream offset of a byte of head_buf. Valid for the line being collected, and for the whole
   head at its end: both are contiguous in the stream up to the last byte stored. */
static size_t async_http__offset_of(const async_http_parser *p, const char *at) {
    return p->head_end_offset - (size_t)(p->head_buf + p->head_len - at);
}

static int async_http__malformed_at(async_http_parser *p, const char *reason, const char *at) {
    return async_http__malformed(p, reason, async_http__offset_of(p, at));
}

/* A byte inside a line (before its CRLF) that does not belong there. A CR gets its own reason:
   it is the usual sign of broken line endings. */
static int async_http__bad_char(async_http_parser *p, const char *at, const char *reason) {
    return async_http__malformed_at(p, *at == '\r' ? "bare CR (not followed by LF)" : reason, at);
}

/* ---- Status line: HTTP/1.x SP 3DIGIT [SP reason-phrase] */

/* Checks the status line's "HTTP/1.x" prefix, head_buf[from, to), as it arrives: a peer that
   does not speak HTTP/1 is caught at once, not after head_cap bytes. */
static int async_http__check_version(async_http_parser *p, size_t from, size_t to) {
    static const char prefix[] = "HTTP/1.";
    size_t i;
    for (i = from; i < to && i < 8; i++) {
        const char *at = p->head_buf + i;
        unsigned char c = (unsigned char)*at;
        int ok = i < 7 ? c == (unsigned char)prefix[i] : c == '0' || c == '1';
        /* HTTP/d.d is well-formed, just a version we do not speak. */
        int other_version = (i == 5 || i == 7) ? async_http__is_digit(c) : 0;
        if (!ok)
            return async_http__malformed_at(p, other_version ? "unsupported HTTP version"
                                                             : "invalid HTTP version", at);
    }
    return 0;
}

/* line[0, n) is the status line without its CRLF. Its first 8 bytes are "HTTP/1.0" or "HTTP/1.1":
   async_http__check_version saw each of them before the line could end. */
static int async_http__status_line(async_http_parser *p, const char *line, size_t n) {
    const char *s, *end = line + n;
    size_t i;
    int status = 0;
    if (n == 8) return async_http__malformed_at(p, "missing status code", end);
    if (line[8] != ' ') return async_http__bad_char(p, line + 8, "expected SP after HTTP version");
    for (i = 9; i < 12; i++) {
        if (i == n) return async_http__malformed_at(p, "invalid status code", end);
        if (!async_http__is_digit((unsigned char)line[i]))
            return async_http__bad_char(p, line + i, "invalid status code");
        status = status * 10 + (line[i] - '0');
    }
    s = line + 12;
    /* The SP before an empty reason is often left out; tolerate that. */
    if (s < end && *s++ != ' ') return async_http__bad_char(p, s - 1, "invalid status code");
    if (status < 100 || status > 599)
        return async_http__malformed_at(p, "invalid status code", line + 9);
    p->reason = s;
    p->reason_len = (size_t)(end - s);
    for (; s < end; s++)
        if (!async_http__is_text((unsigned char)*s))
            return async_http__bad_char(p, s, "invalid character in reason phrase");
    p->status = status;
    p->version_minor = line[7] - '0';
    p->state = ASYNC_HTTP__S_HEADER_LINE;
    return 0;
}

/* ---- Header and trailer fields: field-name ":" OWS field-value OWS */

/* line[0, n), n > 0, is a field line without its CRLF. */
static int async_http__field_line(async_http_parser *p, const char *line, size_t n) {
    const char *end = line + n, *colon = line, *value, *value_end, *s;
    async_http_header *h;
    if (async_http__is_ows((unsigned char)*line))
        return async_http__malformed_at(p, "obsolete line folding (line starts with whitespace)",
                                        line);
    if (p->header_count == p->max_headers)
        return async_http__fail(p, ASYNC_HTTP_EHEADER_TOO_LARGE, "too many header fields",
                                async_http__offset_of(p, line));
    while (colon < end && async_http__is_tchar((unsigned char)*colon)) colon++;
    if (colon == end) return async_http__malformed_at(p, "missing colon in header field", end);
    if (*colon != ':') {
        if (async_http__is_ows((unsigned char)*colon))
            return async_http__malformed_at(p, "whitespace in header field name or before colon",
                                            colon);
        return async_http__bad_char(p, colon, "invalid character in header field name");
    }
    if (colon == line) return async_http__malformed_at(p, "empty header field name", line);
    value = colon + 1;
    while (value < end && async_http__is_ows((unsigned char)*value)) value++;
    for (s = value_end = value; s < end; s++) {
        unsigned char c = (unsigned char)*s;
        if (!async_http__is_text(c))
            return async_http__bad_char(p, s, "control character in header field value");
        if (!async_http__is_ows(c)) value_end = s + 1; /* trailing OWS is not part of it */
    }
    h = &p->headers[p->header_count++];
    h->name = line;
    h->name_len = (size_t)(colon - line);
    h->value = value;
    h->value_len = (size_t)(value_end - value);
    return 0;
}

/* ---- End of the head: how is the body delimited? (RFC 9112 6.3) */

typedef struct async_http__framing {
    const async_http_header *content_length;    /* first Content-Length field, if any */
    const async_http_header *transfer_encoding; /* first Transfer-Encoding field, if any */
    int chunked;                                /* the last transfer coding is chunked */
    int close, keep_alive;                      /* Connection options seen */
} async_http__framing;

static void async_http__connection_options(const async_http_header *h, async_http__framing *f) {
    const char *s = h->value, *opt;
    size_t len;
    while (async_http__list_next(&s, h->value + h->value_len, &opt, &len)) {
        if (ASYNC_HTTP__IEQ_LIT(opt, len, "close")) f->close = 1;
        if (ASYNC_HTTP__IEQ_LIT(opt, len, "keep-alive")) f->keep_alive = 1;
    }
}

/* Codings are listed in the order they were applied, across fields: only the last one tells
   whether the body is chunked (anything applied before is the application's business). */
static void async_http__transfer_codings(const async_http_header *h, async_http__framing *f) {
    const char *s = h->value, *coding;
    size_t len;
    while (async_http__list_next(&s, h->value + h->value_len, &coding, &len))
        if (len) f->chunked = ASYNC_HTTP__IEQ_LIT(coding, len, "chunked");
}

static void async_http__scan_framing(const async_http_parser *p, async_http__framing *f) {
    size_t i;
    memset(f, 0, sizeof *f);
    for (i = 0; i < p->header_count; i++) {
        const async_http_header *h = &p->headers[i];
        if (ASYNC_HTTP__IEQ_LIT(h->name, h->name_len, "connection")) {
            async_http__connection_options(h, f);
        } else if (ASYNC_HTTP__IEQ_LIT(h->name, h->name_len, "transfer-encoding")) {
            if (!f->transfer_encoding) f->transfer_encoding = h;
            async_http__transfer_codings(h, f);
        } else if (ASYNC_HTTP__IEQ_LIT(h->name, h->name_len, "content-length")) {
            if (!f->content_length) f->content_length = h;
        }
    }
}

/* A decimal length, at most ASYNC_HTTP_MAX_BODY_LENGTH. Returns NULL, or why not and *at. */
static const char *async_http__decimal(const char *s, size_t len, uint64_t *value,
                                       const char **at) {
    uint64_t v = 0;
    size_t i;
    *at = s;
    if (len == 0) return "invalid Content-Length";
    for (i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - (unsigned)'0';
        if (d > 9) {
            *at = s + i;
            return "invalid Content-Length";
        }
        if (v > (ASYNC_HTTP_MAX_BODY_LENGTH - d) / 10) return "Content-Length too large";
        v = v * 10 + d;
    }
    *value = v;
    return NULL;
}

/* Content-Length is a single number, but the same value repeated, in several fields or as a
   list, is allowed (RFC 9110 8.6). Returns NULL and the *value, or why not and *at. */
static const char *async_http__content_length(const async_http_parser *p, uint64_t *value,
                                              const char **at) {
    size_t i;
    int seen = 0;
    for (i = 0; i < p->header_count; i++) {
        const async_http_header *h = &p->headers[i];
        const char *s = h->value, *elem, *why;
        size_t len;
        uint64_t v = 0;
        if (!ASYNC_HTTP__IEQ_LIT(h->name, h->name_len, "content-length")) continue;
        while (async_http__list_next(&s, h->value + h->value_len, &elem, &len)) {
            if ((why = async_http__decimal(elem, len, &v, at)) != NULL) return why;
            if (seen && v != *value) {
                *at = elem;
                return "conflicting Content-Length values";
            }
            seen = 1;
            *value = v;
        }
    }
    return NULL;
}

/* A 1xx (but 101) is interim: forget it and read the response that follows. */
static int async_http__next_response(async_http_parser *p) {
    p->head_len = 0;
    p->header_count = 0;
    p->status = 0;
    p->version_minor = 0;
    p->reason = NULL;
    p->reason_len = 0;
    p->state = ASYNC_HTTP__S_STATUS_LINE;
    return 0;
}

static int async_http__body_until_close(async_http_parser *p) {
    p->keep_alive = 0; /* the close is the end of the body */
    p->state = ASYNC_HTTP__S_BODY_CLOSE;
    return 0;
}

static int async_http__body_transfer_encoded(async_http_parser *p, const async_http__framing *f) {
    if (f->content_length) {
        /* Framing by both is how requests get smuggled: refuse (RFC 9112 6.3 item 3). */
        const char *second = f->content_length->name > f->transfer_encoding->name
                                 ? f->content_length->name : f->transfer_encoding->name;
        return async_http__malformed_at(p, "both Transfer-Encoding and Content-Length", second);
    }
    /* HTTP/1.0 has no Transfer-Encoding: an intermediary may have mangled the framing, so do
       not trust the connection afterwards (RFC 9112 6.1). */
    if (p->version_minor == 0) p->keep_alive = 0;
    if (!f->chunked) return async_http__body_until_close(p);
    p->chunked = 1;
    p->state = ASYNC_HTTP__S_CHUNK_SIZE;
    return 0;
}

static int async_http__body_with_length(async_http_parser *p) {
    const char *at = NULL, *why;
    uint64_t length = 0;
    if ((why = async_http__content_length(p, &length, &at)) != NULL)
        return async_http__malformed_at(p, why, at);
    p->content_length = (int64_t)length;
    if (length == 0) return async_http__done(p);
    p->remaining = length;
    p->state = ASYNC_HTTP__S_BODY_LENGTH;
    return 0;
}

/* The response has no body whatever its headers say (RFC 9112 6.3 item 1); Content-Length is
   still reported when valid, as it tells the size of the resource for a HEAD or 304. */
static int async_http__no_body(async_http_parser *p, const async_http__framing *f) {
    const char *at;
    uint64_t length = 0;
    if (p->status == 101) p->keep_alive = 0; /* the connection now speaks something else */
    if (f->content_length && !async_http__content_length(p, &length, &at))
        p->content_length = (int64_t)length;
    return async_http__done(p);
}

static int async_http__end_of_head(async_http_parser *p) {
    async_http__framing f;
    if (p->status < 200 && p->status != 101) return async_http__next_response(p);
    async_http__scan_framing(p, &f);
    p->head_done = 1;
    p->trailer_start = p->header_count;
    p->keep_alive = p->version_minor == 1 ? !f.close : f.keep_alive && !f.close;
    if (p->is_head_response || p->status == 101 || p->status == 204 || p->status == 304)
        return async_http__no_body(p, &f);
    if (f.transfer_encoding) return async_http__body_transfer_encoded(p, &f);
    if (f.content_length) return async_http__body_with_length(p);
    return async_http__body_until_close(p);
}

/* ---- Lines: the status line, header fields, trailer fields */

/* head_buf[line_start, head_len) is a complete line, LF included. */
static int async_http__end_line(async_http_parser *p) {
    const char *line = p->head_buf + p->line_start;
    size_t n = p->head_len - p->line_start - 1; /* without the LF */
    if (n == 0 || line[n - 1] != '\r')
        return async_http__malformed_at(p, "bare LF (not preceded by CR)", line + n);
    n--;
    if (p->state == ASYNC_HTTP__S_STATUS_LINE) return async_http__status_line(p, line, n);
    if (n > 0) return async_http__field_line(p, line, n);
    if (p->state == ASYNC_HTTP__S_HEADER_LINE) return async_http__end_of_head(p);
    return async_http__done(p); /* the empty line after the trailers ends the message */
}

/* Copies input up to the end of the line (or of the input) into head_buf: lines are checked
   once complete, so they must not depend on the input piece they came in. */
static int async_http__step_line(async_http_parser *p, const char *d, size_t n, size_t *used) {
    const char *lf = (const char *)memchr(d, '\n', n);
    size_t take = lf ? (size_t)(lf - d) + 1 : n, from = p->head_len;
    int too_large = take > p->head_cap - p->head_len, rc;
    if (too_large) take = p->head_cap - p->head_len;
    memcpy(p->head_buf + p->head_len, d, take);
    p->head_len += take;
    p->head_end_offset = p->offset + take;
    *used = take;
    if (p->state == ASYNC_HTTP__S_STATUS_LINE &&
        (rc = async_http__check_version(p, from, p->head_len)) != 0)
        return rc;
    if (too_large)
        return async_http__fail(p, ASYNC_HTTP_EHEADER_TOO_LARGE, "response head too large",
                                p->head_end_offset);
    if (!lf) return 0;
    rc = async_http__end_line(p);
    p->line_start = p->head_len;
    return rc;
}

/* ---- Body */

/* Hands a span of decoded body to on_body. */
static int async_http__deliver(async_http_parser *p, const char *d, size_t n) {
    int rc;
    p->body_bytes += n;
    if (!p->on_body || (rc = p->on_body(p->user, d, n)) == 0) return 0;
    /* A positive code would read as success: the contract is 0 or negative. */
    if (rc > 0) return async_http__malformed(p, "on_body returned a positive value", p->offset);
    return async_http__fail(p, rc, "aborted by on_body", p->offset);
}

static int async_http__step_body_length(async_http_parser *p, const char *d, size_t n,
                                        size_t *used) {
    size_t take = n < p->remaining ? n : (size_t)p->remaining;
    int rc;
    *used = take;
    p->remaining -= take;
    if ((rc = async_http__deliver(p, d, take)) != 0) return rc;
    return p->remaining ? 0 : async_http__done(p);
}

static int async_http__step_body_close(async_http_parser *p, const char *d, size_t n,
                                       size_t *used) {
    *used = n;
    return async_http__deliver(p, d, n);
}

static int async_http__step_chunk_data(async_http_parser *p, const char *d, size_t n,
                                       size_t *used) {
    size_t take = n < p->remaining ? n : (size_t)p->remaining;
    *used = take;
    p->remaining -= take;
    if (!p->remaining) p->state = ASYNC_HTTP__S_CHUNK_DATA_CR;
    return async_http__deliver(p, d, take);
}

/* ---- Chunked framing: chunk-size [chunk-ext] CRLF, chunk-data CRLF, ..., 0 CRLF trailers CRLF */

static int async_http__chunk_size_end(async_http_parser *p) {
    if (p->chunk_size == 0) {
        p->state = ASYNC_HTTP__S_TRAILER_LINE; /* trailers go on after the head in head_buf */
        p->line_start = p->head_len;
        return 0;
    }
    p->remaining = p->chunk_size;
    p->state = ASYNC_HTTP__S_CHUNK_DATA;
    return 0;
}

static int async_http__chunk_size_digit(async_http_parser *p, unsigned char c, size_t off) {
    int v = async_http__hex(c);
    if (v >= 0) {
        if (p->chunk_size > (ASYNC_HTTP_MAX_BODY_LENGTH - (unsigned)v) / 16)
            return async_http__malformed(p, "chunk size too large", off);
        p->chunk_size = p->chunk_size * 16 + (unsigned)v;
        p->chunk_has_digit = 1;
        return 0;
    }
    if (!p->chunk_has_digit) return async_http__malformed(p, "invalid chunk size", off);
    switch (c) {
    case '\r': p->state = ASYNC_HTTP__S_CHUNK_SIZE_LF; return 0;
    case ';':  p->state = ASYNC_HTTP__S_CHUNK_EXT; return 0;
    case ' ': case '\t': p->state = ASYNC_HTTP__S_CHUNK_SIZE_WS; return 0;
    case '\n': return async_http__malformed(p, "bare LF (not preceded by CR)", off);
    default:   return async_http__malformed(p, "invalid chunk size", off);
    }
}

/* One byte of the chunk-size line. Extensions (RFC 9112 7.1.1) mean nothing to us: they are
   skipped, but only printable text may be in them, so CR still reliably ends the line. */
static int async_http__chunk_size_byte(async_http_parser *p, unsigned char c, size_t off) {
    if (++p->chunk_line_len > ASYNC_HTTP_MAX_CHUNK_LINE)
        return async_http__malformed(p, "chunk-size line too long", off);
    switch (p->state) {
    case ASYNC_HTTP__S_CHUNK_SIZE:
        return async_http__chunk_size_digit(p, c, off);
    case ASYNC_HTTP__S_CHUNK_SIZE_WS:
        if (c == ';') p->state = ASYNC_HTTP__S_CHUNK_EXT;
        else if (!async_http__is_ows(c))
            return async_http__malformed(p, "invalid character after chunk size", off);
        return 0;
    case ASYNC_HTTP__S_CHUNK_EXT:
        if (c == '\r') p->state = ASYNC_HTTP__S_CHUNK_SIZE_LF;
        else if (c == '\n') return async_http__malformed(p, "bare LF (not preceded by CR)", off);
        else if (!async_http__is_text(c))
            return async_http__malformed(p, "invalid character in chunk extension", off);
        return 0;
    default: /* ASYNC_HTTP__S_CHUNK_SIZE_LF */
        if (c != '\n') return async_http__malformed(p, "bare CR (not followed by LF)", off - 1);
        return async_http__chunk_size_end(p);
    }
}

static int async_http__chunk_framing_byte(async_http_parser *p, unsigned char c, size_t off) {
    switch (p->state) {
    case ASYNC_HTTP__S_CHUNK_DATA_CR:
        if (c != '\r') return async_http__malformed(p, "missing CRLF after chunk data", off);
        p->state = ASYNC_HTTP__S_CHUNK_DATA_LF;
        return 0;
    case ASYNC_HTTP__S_CHUNK_DATA_LF:
        if (c != '\n') return async_http__malformed(p, "missing CRLF after chunk data", off);
        p->state = ASYNC_HTTP__S_CHUNK_SIZE;
        p->chunk_size = 0;
        p->chunk_has_digit = 0;
        p->chunk_line_len = 0;
        return 0;
    default:
        return async_http__chunk_size_byte(p, c, off);
    }
}

/* The bytes between chunk data spans, one at a time (there are few), until the next span or
   the trailers. */
static int async_http__step_chunk_framing(async_http_parser *p, const char *d, size_t n,
                                          size_t *used) {
    size_t i;
    for (i = 0; i < n; i++) {
        int rc = async_http__chunk_framing_byte(p, (unsigned char)d[i], p->offset + i);
        if (rc != 0 || p->state == ASYNC_HTTP__S_CHUNK_DATA ||
            p->state == ASYNC_HTTP__S_TRAILER_LINE) {
            *used = i + 1;
            return rc;
        }
    }
    *used = n;
    return 0;
}

/* ---- Driving */

/* Consumes a prefix of d[0, n) (at least one byte) in the current state. */
static int async_http__step(async_http_parser *p, const char *d, size_t n, size_t *used) {
    switch (p->state) {
    case ASYNC_HTTP__S_STATUS_LINE:
    case ASYNC_HTTP__S_HEADER_LINE:
    case ASYNC_HTTP__S_TRAILER_LINE: return async_http__step_line(p, d, n, used);
    case ASYNC_HTTP__S_BODY_LENGTH:  return async_http__step_body_length(p, d, n, used);
    case ASYNC_HTTP__S_BODY_CLOSE:   return async_http__step_body_close(p, d, n, used);
    case ASYNC_HTTP__S_CHUNK_DATA:   return async_http__step_chunk_data(p, d, n, used);
    default:                         return async_http__step_chunk_framing(p, d, n, used);
    }
}

int async_http_parser_feed(async_http_parser *p, const char *data, size_t len, size_t *consumed) {
    size_t i = 0;
    int rc = p->result;
    while (rc == 0 && i < len) {
        size_t used = 0;
        rc = async_http__step(p, data + i, len - i, &used);
        i += used;
        p->offset += used;
    }
    if (consumed) *consumed = rc < 0 ? 0 : i; /* i is 0 if the parse had ended before */
    return rc;
}

int async_http_parser_eof(async_http_parser *p) {
    if (p->result) return p->result;
    if (p->state == ASYNC_HTTP__S_BODY_CLOSE) return async_http__done(p);
    return async_http__malformed(p, p->head_done ? "connection closed before the end of the body"
                                                 : "connection closed before the end of the headers",
                                 p->offset);
}

#endif /* ASYNC_HTTP_PARSER_IMPLEMENTATION */
#endif /* ASYNC_HTTP_PARSER_H */
