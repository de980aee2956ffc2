/* fetch.c - a small curl: many URLs at once, with curl's options and exit codes.
 *
 *     fetch [OPTIONS] URL...
 *
 * `fetch --help` lists the options; README.md's "The fetch tool" is the
 * manual page. Every URL is fetched at once through one client (its pool
 * limit is --parallel-max). Bodies go to files (-o, -O) as they arrive, or to
 * stdout in argument order. An option that curl has means what it means in
 * curl, and a failure that curl has an exit code for exits with curl's code.
 *
 * The shape:
 * - parse(): the options table turns argv into settings; plan() turns those
 *   into one transfer per URL (its URL, its output) and the request every
 *   transfer sends (method, headers, body).
 * - One task per transfer (transfer_run): start the request, await it,
 *   retry a transient failure (--retry) after a sleep, then finish (the
 *   error line, -w, the file closed).
 * - The library streams the body to on_body and tells each step to on_trace:
 *   from the trace come -v, the heads of -i and -I, and which body is the one
 *   to keep. Each head is told before any of its body (hop_told), and a
 *   redirect that -L follows has its body dropped by the library.
 * - stdout is shared in argument order: the first transfer whose output is
 *   not all out writes straight through; the others hold theirs until their
 *   turn (stdout_write, stdout_close).
 * - With stderr on a terminal, one more task redraws the progress meter.
 */
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define FETCH_VERSION ASYNC_HTTP_VERSION /* fetch is versioned with the library */

/* ------------------------------------------------------------------ */
/* exit codes                                                          */

/* curl's number wherever curl has the class. */
enum {
    EXIT_UNSUPPORTED = 1,
    EXIT_USAGE = 2,
    EXIT_URL = 3,
    EXIT_RESOLVE_PROXY = 5,
    EXIT_RESOLVE = 6,
    EXIT_CONNECT = 7,
    EXIT_WEIRD = 8,
    EXIT_PARTIAL = 18,
    EXIT_HTTP = 22,
    EXIT_WRITE = 23,
    EXIT_READ = 26,
    EXIT_NOMEM = 27,
    EXIT_TIMEOUT = 28,
    EXIT_TLS = 35,
    EXIT_BAD_REQUEST = 43,
    EXIT_REDIRECTS = 47,
    EXIT_EMPTY = 52,
    EXIT_RECV = 56,
    EXIT_CERT = 60,
    EXIT_ENCODING = 61,
    EXIT_CA_FILE = 77
};

/* What each means, for --help (and the README says the same). */
static const struct exit_class {
    int code;
    const char *what;
} exit_classes[] = {
    {0, "every transfer succeeded"},
    {EXIT_UNSUPPORTED, "unsupported protocol (not http or https), or what no code names"},
    {EXIT_USAGE, "usage: an unknown option, a bad value, no URL; or no I/O backend"},
    {EXIT_URL, "malformed URL (the proxy's too)"},
    {EXIT_RESOLVE_PROXY, "could not resolve the proxy's host name"},
    {EXIT_RESOLVE, "could not resolve the host name"},
    {EXIT_CONNECT, "could not connect (refused, unreachable)"},
    {EXIT_WEIRD, "malformed response"},
    {EXIT_PARTIAL, "the body was cut short"},
    {EXIT_HTTP, "-f: the status was 400 or more"},
    {EXIT_WRITE, "could not write the output (a file, stdout); -O found no name"},
    {EXIT_READ, "could not read an @FILE"},
    {EXIT_NOMEM, "out of memory"},
    {EXIT_TIMEOUT, "timed out (-m, --connect-timeout, --read-timeout)"},
    {EXIT_TLS, "the TLS handshake failed"},
    {EXIT_BAD_REQUEST, "the method or a header is not valid HTTP (nothing sent)"},
    {EXIT_REDIRECTS, "too many redirects (-L, --max-redirs)"},
    {EXIT_EMPTY, "the server closed the connection without a byte of answer"},
    {EXIT_RECV, "a receive failed (reset, TLS cut short, bad chunks, a head too large), or the proxy refused"},
    {EXIT_CERT, "the server's certificate is not trusted, or not for that name"},
    {EXIT_ENCODING, "--compressed: the body is corrupt, or in a coding fetch cannot decode"},
    {EXIT_CA_FILE, "the --cacert file cannot be read"},
};

/* What on_body fails a request with when its output cannot be written
   (below -4096: the client passes it through as it is). */
#define FETCH_EWRITE (-9023)
/* And when the body is in a Content-Encoding that is not decoded (--compressed). */
#define FETCH_ECODING (-9061)

/* A request's failure as an exit code. in_chunks: the last head framed its
   body in chunks, so a malformation found since is in them. */
static int exit_code_of(int err, const async_http_request *r, int in_chunks) {
    switch (err) {
    case ASYNC_HTTP_ENAME:
        return strstr(async_http_request_error(r), "the proxy's host name") ? EXIT_RESOLVE_PROXY : EXIT_RESOLVE;
    case ASYNC_HTTP_EREFUSED: return EXIT_CONNECT;
    case ASYNC_HTTP_ENETWORK: return r->info.connected ? EXIT_RECV : EXIT_CONNECT;
    case ASYNC_HTTP_ERESET:
    case ASYNC_HTTP_ETLS_TRUNCATED:
    case ASYNC_HTTP_EPROXY: return EXIT_RECV;
    case ASYNC_HTTP_ETIMEOUT_TOTAL:
    case ASYNC_HTTP_ETIMEOUT_CONNECT:
    case ASYNC_HTTP_ETIMEOUT_READ: return EXIT_TIMEOUT;
    case ASYNC_HTTP_ECLOSED: return r->info.first_byte ? EXIT_PARTIAL : EXIT_EMPTY;
    case ASYNC_HTTP_EMALFORMED: return in_chunks ? EXIT_RECV : EXIT_WEIRD; /* curl's "... in chunked-encoding": 56 */
    case ASYNC_HTTP_EHEADER_TOO_LARGE: return EXIT_RECV; /* curl's "Too large response headers": 56 */
    case ASYNC_HTTP_EURL: return EXIT_URL;
    case ASYNC_HTTP_ENOMEM: return EXIT_NOMEM;
    case ASYNC_HTTP_EHEADER:
    case ASYNC_HTTP_EMETHOD: return EXIT_BAD_REQUEST;
    case ASYNC_HTTP_ETLS_CERT:
    case ASYNC_HTTP_ETLS_NAME: return EXIT_CERT;
    case ASYNC_HTTP_ETLS: /* a --cacert that cannot be read: curl's own code */
        return strstr(async_http_request_error(r), "cannot load the trusted certificates") ? EXIT_CA_FILE : EXIT_TLS;
    case ASYNC_HTTP_ETLS_HANDSHAKE: return EXIT_TLS;
    case ASYNC_HTTP_EREDIRECTS: return EXIT_REDIRECTS;
    case ASYNC_HTTP_EDECODE: return EXIT_ENCODING;
    case FETCH_EWRITE: return EXIT_WRITE;
    case FETCH_ECODING: return EXIT_ENCODING;
    default: return EXIT_UNSUPPORTED; /* ASYNC_HTTP_ESCHEME, and anything new */
    }
}

/* ------------------------------------------------------------------ */
/* memory: a byte buffer and a list of strings                         */

static void *grow(void *p, size_t size) {
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        fprintf(stderr, "fetch: out of memory\n");
        exit(EXIT_NOMEM);
    }
    return q;
}

/* *slot becomes a copy of p[0, n), or NULL if p is; the old one is freed. */
static void keep_copy(char **slot, const char *p, size_t n) {
    free(*slot);
    *slot = NULL;
    if (!p) return;
    *slot = (char *)grow(NULL, n + 1);
    memcpy(*slot, p, n);
    (*slot)[n] = 0;
}

typedef struct buffer {
    char *data;
    size_t len, cap;
} buffer;

static void buf_add(buffer *b, const void *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = (char *)grow(b->data, b->cap);
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

static void buf_str(buffer *b, const char *s) { buf_add(b, s, strlen(s)); }

/* Short things only: numbers, a status. */
static void buf_printf(buffer *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void buf_free(buffer *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* NULL-terminated, as the client takes header lines. */
typedef struct list {
    const char **items;
    size_t len, cap;
} list;

static void list_add(list *l, const char *s) {
    if (l->len + 2 > l->cap) {
        l->cap = (l->len + 2) * 2;
        l->items = (const char **)grow((void *)l->items, l->cap * sizeof *l->items);
    }
    l->items[l->len++] = s;
    l->items[l->len] = NULL;
}

/* ------------------------------------------------------------------ */
/* settings: what the command line asks                                */

#define REMOTE_NAME "\x01-O" /* in the outputs: -O's place */

typedef struct settings {
    /* Output */
    list outputs; /* -o FILE or -O: the i-th goes with the i-th URL */
    const char *output_dir, *write_out;
    int create_dirs, include, head, fail, fail_with_body, silent, show_error, bar, no_meter, verbose;
    /* Request */
    const char *method, *referer, *user;
    list headers;  /* -H, as given (an @FILE's lines one by one) */
    buffer data;   /* -d and its kin, joined */
    buffer query;  /* the same as -G puts it in the URL */
    int has_data, json, get;
    /* Connection */
    int location, compressed, retry_connrefused, retry_all;
    int parallel, globoff; /* -Z, -g: taken, nothing to do (every URL runs at once; none is a glob) */
    long max_redirs, retry, parallel_max;
    async_time retry_delay; /* -1: the server's Retry-After, or 1 s doubling */
    async_http_client_config config;
    list urls;
    /* Bookkeeping */
    enum { RUN, HELP, VERSION } action;
    list owned;      /* memory to free at the end */
    buffer stdin_in; /* @- read once */
    int stdin_read;
    int no_env_proxy; /* -x "": no proxy, whatever the environment says */
} settings;

static char *own(settings *s, char *p) {
    list_add(&s->owned, p);
    return p;
}

static char *own_copy(settings *s, const char *p, size_t n) {
    char *q = (char *)grow(NULL, n + 1);
    memcpy(q, p, n);
    q[n] = 0;
    return own(s, q);
}

/* -s hides the error lines; -S shows them again. */
static int errors_shown(const settings *s) { return !s->silent || s->show_error; }

/* The contents of an @FILE ("-": stdin), NUL-terminated, or NULL (said why). */
static char *load(settings *s, const char *name, size_t *len) {
    buffer b = {0};
    FILE *in;
    char chunk[65536];
    size_t n;
    int failed;
    if (strcmp(name, "-") == 0 && s->stdin_read) {
        *len = s->stdin_in.len;
        return own_copy(s, s->stdin_in.data ? s->stdin_in.data : "", s->stdin_in.len);
    }
    in = strcmp(name, "-") == 0 ? stdin : fopen(name, "rb");
    if (!in) {
        if (errors_shown(s)) fprintf(stderr, "fetch: cannot read %s: %s\n", name, strerror(errno));
        return NULL;
    }
    buf_add(&b, "", 0);
    while ((n = fread(chunk, 1, sizeof chunk, in)) > 0) buf_add(&b, chunk, n);
    failed = ferror(in);
    if (in != stdin) fclose(in);
    if (failed) {
        if (errors_shown(s)) fprintf(stderr, "fetch: cannot read %s: %s\n", name, strerror(errno));
        buf_free(&b);
        return NULL;
    }
    if (in == stdin) {
        s->stdin_read = 1;
        buf_add(&s->stdin_in, b.data, b.len);
    }
    *len = b.len;
    return own(s, b.data);
}

/* ------------------------------------------------------------------ */
/* the options table                                                   */

typedef struct option option;
/* A setter: 0, or the exit code (it said what is wrong). */
typedef int (*setter)(settings *s, const option *o, const char *value);

struct option {
    char short_name;   /* 0: none */
    const char *name;  /* the long name, without "--"; NULL: a group's title */
    const char *value; /* the value's name in --help; NULL: none is taken */
    setter set;
    size_t field;      /* where the generic setters store it (offsetof in settings) */
    const char *help;
};

#define FIELD(s, o, type) ((type *)(void *)((char *)(s) + (o)->field))
#define F(member) offsetof(settings, member)

/* Every option that takes a value has a long name: messages use it. */
static int bad_value(const option *o, const char *v, const char *why) {
    fprintf(stderr, "fetch: --%s: '%s' %s\n", o->name, v, why);
    return EXIT_USAGE;
}

static int set_flag(settings *s, const option *o, const char *v) {
    (void)v;
    *FIELD(s, o, int) = 1;
    return 0;
}

static int set_string(settings *s, const option *o, const char *v) {
    *FIELD(s, o, const char *) = v;
    return 0;
}

/* Seconds, fractional, as nanoseconds; -1 if not a number >= 0 or past
   curl's own limit (2^63 - 1 ms). Past what async_time holds (292 years)
   is as good as no limit: ASYNC_NO_TIMEOUT. */
static async_time seconds(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0) || v > 9223372036854775.0) return -1;
    if (v * 1e9 >= (double)ASYNC_NO_TIMEOUT) return ASYNC_NO_TIMEOUT;
    return v > 0 && v * 1e9 < 1 ? 1 : (async_time)(v * 1e9);
}

/* A timeout: 0 is none (or the default), as curl takes it. */
static int set_seconds(settings *s, const option *o, const char *v) {
    async_time t = seconds(v);
    if (t < 0) return bad_value(o, v, "is not a number of seconds");
    *FIELD(s, o, async_time) = t;
    return 0;
}

/* A whole number up to 2^31 - 1, from -1 (--max-redirs) or 0 (--parallel-max 0: the default, as curl). */
static int set_count(settings *s, const option *o, const char *v) {
    char *end;
    long n = strtol(v, &end, 10);
    long least = o->field == F(max_redirs) ? -1 : 0;
    if (end == v || *end || n < least || n > INT_MAX) return bad_value(o, v, "is not a count");
    *FIELD(s, o, long) = n;
    return 0;
}

static int set_action(settings *s, const option *o, const char *v) {
    (void)v;
    s->action = o->short_name == 'h' ? HELP : VERSION;
    return 0;
}

static int set_url(settings *s, const option *o, const char *v) {
    (void)o;
    list_add(&s->urls, v);
    return 0;
}

static int set_output(settings *s, const option *o, const char *v) {
    list_add(&s->outputs, o->short_name == 'O' ? REMOTE_NAME : v);
    return 0;
}

/* -x: host:port is http://host:port, as curl takes it (the client reads it so); with no
   port, curl's 1080; "" is no proxy at all, not even the environment's. */
static int set_proxy(settings *s, const option *o, const char *v) {
    const char *host = strstr(v, "://"), *at, *end;
    size_t len;
    char *with_port;
    (void)o;
    s->no_env_proxy = !*v;
    s->config.proxy = *v ? v : NULL;
    if (!*v) return 0;
    host = host ? host + 3 : v;
    end = host + strcspn(host, "/?#");
    for (at = end; at > host; at--) /* the last '@': the password may hold one */
        if (at[-1] == '@') {
            host = at;
            break;
        }
    if (*host == '[') /* an IPv6 literal's colons are not the port's */
        while (host < end && *host != ']') host++;
    if (memchr(host, ':', (size_t)(end - host))) return 0;
    len = strlen(v) + 6;
    with_port = (char *)grow(NULL, len);
    snprintf(with_port, len, "%.*s:1080%s", (int)(end - v), v, end);
    s->config.proxy = own(s, with_port);
    return 0;
}

/* -H 'Name: value' or @FILE (one header a line). */
static int set_header(settings *s, const option *o, const char *v) {
    size_t len;
    char *text, *line, *next;
    (void)o;
    if (v[0] != '@') {
        list_add(&s->headers, v);
        return 0;
    }
    if (!(text = load(s, v + 1, &len))) return EXIT_READ;
    for (line = text; line < text + len; line = next) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        next = end ? end + 1 : text + len;
        if (!end) end = text + len;
        *end = 0;
        if (end > line && end[-1] == '\r') *--end = 0;
        if (end > line) list_add(&s->headers, line);
    }
    return 0;
}

/* One more piece of the request body: joined to the others by '&', but a
   --json piece follows what came before as it is, whatever that was (as
   curl does: -d a --json b is "ab"). q: the piece as -G puts it in the
   query (NULL: the same). */
static void add_data(settings *s, const char *p, size_t n, int json, const char *q) {
    if (s->has_data && !json) buf_add(&s->data, "&", 1), buf_add(&s->query, "&", 1);
    buf_add(&s->data, p, n);
    buf_add(&s->query, q ? q : p, n);
    s->has_data = 1;
    s->json |= json;
}

/* -d, --data-ascii, --data-binary, --data-raw and --json: DATA or @FILE. */
static int set_data(settings *s, const option *o, const char *v) {
    int raw = strcmp(o->name, "data-raw") == 0, json = strcmp(o->name, "json") == 0;
    int binary = json || strcmp(o->name, "data-binary") == 0;
    size_t len, i, n = 0;
    char *text;
    if (raw || v[0] != '@') {
        add_data(s, v, strlen(v), json, NULL);
        return 0;
    }
    if (!(text = load(s, v + 1, &len))) return EXIT_READ;
    if (!binary) /* -d @FILE: without its newlines, as curl */
        for (i = 0; i < len; i++)
            if (text[i] != '\r' && text[i] != '\n') text[n++] = text[i];
    add_data(s, text, binary ? len : n, json, NULL);
    return 0;
}

/* --data-urlencode's encoding, as curl's: all but the unreserved characters
   (RFC 3986 2.3) as %XX, a space as '+'. hex: curl 7.88 writes upper case
   in a body, lower case in -G's query. */
static void urlencode(buffer *b, const char *p, size_t n, const char *hex) {
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr("-._~", c))) {
            buf_add(b, p + i, 1);
        } else if (c == ' ') {
            buf_add(b, "+", 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_add(b, e, 3);
        }
    }
}

/* --data-urlencode: TEXT, =TEXT, NAME=TEXT, @FILE, NAME@FILE (an = first
   makes it NAME=TEXT, whatever follows: as curl reads it). */
static int set_data_urlencode(settings *s, const option *o, const char *v) {
    size_t at = strchr(v, '=') ? strcspn(v, "=") : strcspn(v, "@"), len;
    const char *text = v;
    buffer b = {0}, q = {0};
    (void)o;
    if (v[at] == '@') {
        if (!(text = load(s, v + at + 1, &len))) return EXIT_READ;
    } else {
        text = v[at] ? v + at + 1 : v;
        len = strlen(text);
    }
    buf_add(&b, "", 0);
    if (v[at] && at > 0) {
        buf_add(&b, v, at);
        buf_add(&b, "=", 1);
    }
    buf_add(&q, b.data, b.len);
    urlencode(&b, text, len, "0123456789ABCDEF");
    urlencode(&q, text, len, "0123456789abcdef");
    add_data(s, b.data, b.len, 0, q.data);
    buf_free(&b);
    buf_free(&q);
    return 0;
}

static int set_write_out(settings *s, const option *o, const char *v) {
    size_t len;
    (void)o;
    if (v[0] == '@' && !(v = load(s, v + 1, &len))) return EXIT_READ;
    s->write_out = v;
    return 0;
}

static const option options[] = {
    {0, NULL, NULL, NULL, 0, "Output"},
    {'o', "output", "FILE", set_output, 0, "the body to FILE, not stdout (one -o per URL)"},
    {'O', "remote-name", NULL, set_output, 0, "to a file named as the URL's last segment"},
    {0, "output-dir", "DIR", set_string, F(output_dir), "put the files of -o and -O in DIR"},
    {0, "create-dirs", NULL, set_flag, F(create_dirs), "create the directories the files need"},
    {'i', "include", NULL, set_flag, F(include), "the response's head before its body"},
    {'I', "head", NULL, set_flag, F(head), "HEAD: the response's head only"},
    {'w', "write-out", "FORMAT", set_write_out, 0, "after each transfer, to stdout (@FILE; below)"},
    {'f', "fail", NULL, set_flag, F(fail), "exit 22 on a status of 400 or more; no body"},
    {0, "fail-with-body", NULL, set_flag, F(fail_with_body), "the same, with the body"},
    {'s', "silent", NULL, set_flag, F(silent), "no progress meter, no error messages"},
    {'S', "show-error", NULL, set_flag, F(show_error), "with -s: the error messages all the same"},
    {'#', "progress-bar", NULL, set_flag, F(bar), "the progress meter as a bar"},
    {0, "no-progress-meter", NULL, set_flag, F(no_meter), "no progress meter (errors still told)"},
    {'v', "verbose", NULL, set_flag, F(verbose), "heads (> <), connections, TLS (*) on stderr"},
    {0, NULL, NULL, NULL, 0, "Request"},
    {'X', "request", "METHOD", set_string, F(method), "default GET; POST with data; HEAD with -I"},
    {'H', "header", "LINE", set_header, 0, "'Name: value'; 'Name:' drops one; @FILE"},
    {'A', "user-agent", "NAME", set_string, F(config.user_agent), "default fetch/" FETCH_VERSION},
    {'e', "referer", "URL", set_string, F(referer), "the Referer header"},
    {'u', "user", "USER:PASS", set_string, F(user), "Basic authentication"},
    {'d', "data", "DATA", set_data, 0, "POST a form; @FILE (no newlines); joined by &"},
    {0, "data-ascii", "DATA", set_data, 0, "the same as -d"},
    {0, "data-binary", "DATA", set_data, 0, "the same; @FILE as it is"},
    {0, "data-raw", "DATA", set_data, 0, "the same; no @FILE"},
    {0, "data-urlencode", "DATA", set_data_urlencode, 0, "the same, encoded: TEXT NAME=TEXT @FILE NAME@FILE"},
    {0, "json", "DATA", set_data, 0, "POST JSON (its Content-Type and Accept); @FILE"},
    {'G', "get", NULL, set_flag, F(get), "the data in the URL's query, and GET"},
    {0, "url", "URL", set_url, 0, "one more URL"},
    {'g', "globoff", NULL, set_flag, F(globoff), "taken, and nothing to do: fetch never globs"},
    {0, NULL, NULL, NULL, 0, "Connection"},
    {'L', "location", NULL, set_flag, F(location), "follow redirects"},
    {0, "max-redirs", "N", set_count, F(max_redirs), "with -L, at most N (default 50; -1: no limit)"},
    {0, "compressed", NULL, set_flag, F(compressed), "ask for gzip or deflate, and decode it"},
    {'k', "insecure", NULL, set_flag, F(config.insecure), "https: no check of the certificate or name"},
    {0, "cacert", "FILE", set_string, F(config.ca_file), "https: trust the CAs in FILE, not the system's"},
    {0, "capath", "DIR", set_string, F(config.ca_path), "https: trust the CAs in DIR, not the system's"},
    {'x', "proxy", "HOST[:PORT]", set_proxy, 0, "an HTTP proxy (https goes by CONNECT; no port: 1080; \"\": none at all)"},
    {0, "noproxy", "LIST", set_string, F(config.no_proxy), "no proxy for: a.org,.b.org,10.0.0.0/8 or *"},
    {'m', "max-time", "SECS", set_seconds, F(config.timeout_total), "the whole transfer (default: no limit)"},
    {0, "timeout", "SECS", set_seconds, F(config.timeout_total), "the same as -m (fetch's first name for it)"},
    {0, "connect-timeout", "SECS", set_seconds, F(config.timeout_connect), "lookup, connect, TLS handshake (default 30)"},
    {0, "read-timeout", "SECS", set_seconds, F(config.timeout_sock_read), "each wait for response bytes (default: no limit)"},
    {0, "retry", "N", set_count, F(retry), "retry a transient failure (below) N times"},
    {0, "retry-delay", "SECS", set_seconds, F(retry_delay), "default: Retry-After, or 1 s doubling"},
    {0, "retry-connrefused", NULL, set_flag, F(retry_connrefused), "with --retry: a refused connect is transient"},
    {0, "retry-all-errors", NULL, set_flag, F(retry_all), "with --retry: every failure is transient"},
    {0, "parallel-max", "N", set_count, F(parallel_max), "at most N connections at once (default 100; 0: that)"},
    {'Z', "parallel", NULL, set_flag, F(parallel), "taken, and nothing to do: every URL runs at once"},
    {0, NULL, NULL, NULL, 0, "Other"},
    {'h', "help", NULL, set_action, 0, "this help"},
    {'V', "version", NULL, set_action, 0, "the version, the I/O backend, TLS, zlib"},
};
#define NOPTIONS (sizeof options / sizeof options[0])

/* --name as curl finds it: the exact name, else the one option it is a
   prefix of (--verb); NULL if none or several (--ver). */
static const option *find_long(const char *name) {
    size_t i, n = strlen(name);
    const option *hit = NULL;
    int hits = 0;
    for (i = 0; i < NOPTIONS; i++) {
        if (!options[i].name || strncmp(options[i].name, name, n) != 0) continue;
        if (!options[i].name[n]) return &options[i];
        hit = &options[i];
        hits++;
    }
    return hits == 1 ? hit : NULL;
}

/* An option that is on or off: --no-NAME turns it off. */
static int is_flag(const option *o) { return o->set == set_flag; }

static const option *find_short(char c) {
    size_t i;
    for (i = 0; i < NOPTIONS; i++)
        if (options[i].name && options[i].short_name == c) return &options[i];
    return NULL;
}

/* Error lines go to stderr unless -s (and not -S) says otherwise. */

static int hint(void) {
    fprintf(stderr, "fetch: try 'fetch --help' for the options\n");
    return EXIT_USAGE;
}

static int usage_error(const char *fmt, const char *what) {
    fprintf(stderr, "fetch: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    return hint();
}

/* Options and URLs in any order, as curl takes them: --long VALUE, -x VALUE,
   -xVALUE, short flags together (-sSL, -fsSLo FILE), --no-FLAG, and after
   "--" URLs only. 0 or an exit code. */
static int parse(int argc, char **argv, settings *s) {
    int i, rc, urls_only = 0;
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const option *o;
        if (urls_only || arg[0] != '-') {
            list_add(&s->urls, arg);
        } else if (strcmp(arg, "--") == 0) {
            urls_only = 1;
        } else if (arg[1] == '-') {
            char name[64];
            int off = 0;
            if (!(o = find_long(arg + 2)) && strncmp(arg + 2, "no-", 3) == 0) {
                /* --no-NAME: NAME exactly (curl takes no prefix here), and only a flag */
                off = (o = find_long(arg + 5)) != NULL && strcmp(o->name, arg + 5) == 0;
                if (off && !is_flag(o)) return usage_error("%s: the option is not one that is on or off", arg);
                if (!off) o = NULL;
            }
            if (!o) {
                snprintf(name, sizeof name, "%s", arg);
                return usage_error("unknown option '%s'", name);
            }
            if (off) {
                *FIELD(s, o, int) = 0;
                continue;
            }
            if (o->value && i + 1 == argc) return usage_error("%s needs a value", arg);
            if ((rc = o->set(s, o, o->value ? argv[++i] : NULL)) != 0) return rc == EXIT_USAGE ? hint() : rc;
        } else if (!arg[1]) { /* curl 7.88: "option -: is unknown" */
            return usage_error("unknown option '%s'", arg);
        } else {
            const char *p;
            for (p = arg + 1; *p; p++) {
                char flag[3] = {'-', *p, 0};
                if (!(o = find_short(*p))) return usage_error("unknown option '%s'", flag);
                if (o->value && !p[1] && i + 1 == argc) return usage_error("%s needs a value", flag);
                if ((rc = o->set(s, o, !o->value ? NULL : p[1] ? p + 1 : argv[++i])) != 0)
                    return rc == EXIT_USAGE ? hint() : rc;
                if (o->value) break;
            }
        }
    }
    return 0;
}

static void print_help(void) {
    size_t i;
    printf("usage: fetch [OPTIONS] URL...\n"
           "Fetches the URLs at once (HTTP/1.1; http:// when a URL has no scheme) and writes\n"
           "each body to stdout, in argument order, or to a file. The options are curl's.\n");
    for (i = 0; i < NOPTIONS; i++) {
        const option *o = &options[i];
        char left[64];
        if (!o->name) {
            printf("\n%s:\n", o->help);
            continue;
        }
        snprintf(left, sizeof left, "%c%c%c --%s%s%s", o->short_name ? '-' : ' ', o->short_name ? o->short_name : ' ',
                 o->short_name ? ',' : ' ', o->name, o->value ? " " : "", o->value ? o->value : "");
        printf("  %-27s %s\n", left, o->help);
    }
    printf("\nA transient failure: a timeout, a failed lookup, HTTP 408 429 500 502 503 504.\n"
           "\n-w FORMAT: %%{http_code} %%{url_effective} %%{size_download} %%{size_header}\n"
           "  %%{size_request} %%{size_upload} %%{speed_download} %%{time_total}\n"
           "  %%{time_connect} %%{time_appconnect} %%{time_pretransfer} %%{time_starttransfer}\n"
           "  %%{num_redirects} %%{num_connects} %%{remote_ip} %%{remote_port} %%{content_type}\n"
           "  %%{http_version} %%{num_headers} %%{method} %%{scheme} %%{redirect_url}\n"
           "  %%{filename_effective} %%{urlnum} %%{exitcode} %%{errormsg} %%header{NAME} %%{stdout}\n"
           "  %%{stderr}  \\n \\r \\t %%%%\n");
    printf("\nExit codes:\n");
    for (i = 0; i < sizeof exit_classes / sizeof exit_classes[0]; i++)
        printf("  %2d  %s\n", exit_classes[i].code, exit_classes[i].what);
    printf("With several URLs: the code of the last one (in argument order) that failed.\n");
}

static int print_version(void) {
    async_loop loop;
    async_io io;
    int ok;
    async_loop_init(&loop, NULL);
    ok = async_io_init(&io, &loop, NULL) == 0;
    printf("fetch %s (async_http.h %s, async.h %s)\n", FETCH_VERSION, ASYNC_HTTP_VERSION, ASYNC_VERSION);
    if (ok) printf("backend: %s\n", async_io_backend_name(&io));
    else printf("backend: none (%s)\n", async_io_error(&io));
#ifdef ASYNC_HTTP_TLS
    printf("TLS: on (%s)\n", OpenSSL_version(OPENSSL_VERSION));
#else
    printf("TLS: off (built without ASYNC_HTTP_TLS)\n");
#endif
#ifdef ASYNC_HTTP_ZLIB
    printf("zlib: on (%s)\n", zlibVersion());
#else
    printf("zlib: off (built without ASYNC_HTTP_ZLIB)\n");
#endif
    if (ok) async_io_exit(&io);
    return ok ? 0 : EXIT_USAGE;
}

/* ------------------------------------------------------------------ */
/* transfers: one per URL                                              */

/* What becomes of the body of the response coming in: kept (written out),
   or skipped (-I, -f's error). */
enum { HOP_KEEP, HOP_SKIP };

typedef struct app app;

typedef struct transfer {
    async_task task;        /* transfer_run */
    async_http_request req; /* the attempt running, or the last one */
    async_timer nap;        /* before a retry */
    async_future slot;      /* its place among the --parallel-max running */
    app *app;
    size_t index;
    const char *url;        /* as asked: with its scheme, and -G's query */
    const char *path;       /* the output file; NULL: stdout */
    FILE *file;             /* opened at the first byte for it */
    int code;               /* the exit code it ends with, 0: success */
    char message[320];      /* and why */
    long retries_left;
    async_time backoff, delay;
    /* The attempt: */
    int hop, status, redirects, write_errno;
    int connects;           /* made for it, every hop and retry (curl's num_connects) */
    char *effective;        /* where the last redirect led (own copy), or NULL */
    char *location;         /* the last head's Location if it was a redirect (own copy), or NULL */
    char method[24];        /* as last sent */
    int64_t expect;         /* the kept body's length, -1: not known */
    uint64_t got, size_header, size_request;
    int in_chunks;          /* the last head framed its body in chunks (exit_code_of) */
    char coding[40];        /* --compressed: the body's coding that is not decoded, or "" */
    /* The last head received, for -w: the library lets go of its own when a request fails. */
    async_http_header *fields; /* its fields, with their names and values after them (one block) */
    size_t nfields;
    char version[4];        /* "1.1", "1.0", or "" before any head */
    /* stdout: */
    buffer pending;         /* what it wrote to stdout before its turn */
    int finished;           /* over, its stdout all out or held in pending */
} transfer;

typedef struct meter {
    async_task task; /* meter_run */
    async_timer tick;
    app *app;
    int on, drawn;
    async_time start;
} meter;

struct app {
    async_task task; /* main_run */
    settings *s;
    async_loop loop;
    async_io io;
    async_http_client client;
    transfer *tr;
    size_t n, turn; /* turn: the first transfer whose stdout is not all out */
    async_future **futs;
    async_link *links;
    async_gather_op gather;
    /* --parallel-max transfers run at once, the others wait here: not in
       the client's queue, where -m would count the wait (curl's does not) */
    async_semaphore slots;
    meter meter;
    int err, stdout_errno;
    /* What every transfer sends: */
    const char *method;
    list headers;
    const void *body;
    size_t body_len;
};

/* ------------------------------------------------------------------ */
/* the plan                                                            */

/* Whether url starts with a scheme and "://". */
static int has_scheme(const char *url) {
    size_t n = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
    return n > 0 && strncmp(url + n, "://", 3) == 0;
}

/* The URL as curl makes it of what was given: the scheme in lower case,
   no "." or ".." segments (async_http_url_resolve removes them from an
   absolute reference), an empty path "/"; a fragment stays (curl's
   %{url_effective} shows it; the library does not send it), an empty one
   goes. One the library cannot parse stays as it is: the request then
   says what is wrong. */
static void normalize_url(buffer *b) {
    size_t len = b->len, fragment = strcspn(b->data, "#"), cap = 3 * len + 8, scheme, path, i;
    char *given = (char *)grow(NULL, len + 1), *out = (char *)grow(NULL, cap);
    memcpy(given, b->data, len + 1);
    given[fragment] = 0; /* the fragment's text is at given + fragment + 1 */
    if (async_http_url_resolve(given, given, out, cap) >= 0) {
        scheme = strcspn(out, ":");
        for (i = 0; i < scheme; i++)
            if (out[i] >= 'A' && out[i] <= 'Z') out[i] = (char)(out[i] - 'A' + 'a');
        path = scheme + 3 + strcspn(out + scheme + 3, "/?");
        b->len = 0;
        buf_add(b, out, path);
        if (out[path] != '/') buf_str(b, "/");
        buf_str(b, out + path);
        if (fragment + 1 < len) {
            buf_str(b, "#");
            buf_str(b, given + fragment + 1);
        }
    }
    free(given);
    free(out);
}

/* -G: the data joined to the URL's query by '&', or made its query when it
   has none or a bare "?"; no data adds nothing (as curl's URL API does). */
static void add_query(settings *s, buffer *b) {
    size_t fragment = strcspn(b->data, "#");
    char *rest = own_copy(s, b->data + fragment, b->len - fragment);
    const char *q = (const char *)memchr(b->data, '?', fragment);
    b->len = fragment;
    if (q && q + 1 < b->data + fragment) {
        buf_str(b, "&");
    } else {
        if (q) b->len--; /* the bare "?" */
        if (s->query.len) buf_str(b, "?");
    }
    buf_add(b, s->query.data, s->query.len);
    buf_str(b, rest);
}

/* "host/path" is "http://host/path", as curl takes it; -G puts the data in the query. */
static const char *plan_url(settings *s, const char *url) {
    buffer b = {0};
    buf_add(&b, "", 0);
    if (!has_scheme(url)) buf_str(&b, "http://");
    buf_str(&b, url);
    normalize_url(&b);
    if (s->get && s->has_data) add_query(s, &b);
    return own(s, b.data);
}

/* -O: the last segment of the URL's path (no query, no fragment); NULL if empty. */
static const char *remote_name(settings *s, const char *url) {
    const char *p = strstr(url, "://") + 3, *end, *name;
    p += strcspn(p, "/?#"); /* past the authority */
    end = p + strcspn(p, "?#");
    for (name = end; name > p && name[-1] != '/'; name--) {}
    return name < end && name > p ? own_copy(s, name, (size_t)(end - name)) : NULL;
}

static const char *plan_path(settings *s, const char *name) {
    buffer b = {0};
    if (!s->output_dir || name[0] == '/') return name;
    buf_str(&b, s->output_dir);
    if (b.len && b.data[b.len - 1] != '/') buf_str(&b, "/");
    buf_str(&b, name);
    return own(s, b.data);
}

/* The user's -H line for name ("Name: v", "Name:" or "Name;"), or NULL. */
static const char *user_header(const settings *s, const char *name) {
    size_t i, n = strlen(name);
    for (i = 0; i < s->headers.len; i++) {
        const char *h = s->headers.items[i];
        if (strncasecmp(h, name, n) == 0 && (h[n] == ':' || h[n] == ';')) return h;
    }
    return NULL;
}

/* "Name:" with nothing after it: the user drops that header (curl's -H). */
static int drops_header(const char *h) {
    const char *colon = strchr(h, ':');
    return colon && colon[1 + strspn(colon + 1, " \t")] == 0;
}

/* A header of fetch's, unless the user gave (or dropped) it. */
static void plan_header(app *a, const char *name, const char *value) {
    buffer b = {0};
    if (user_header(a->s, name)) return;
    buf_str(&b, name);
    buf_str(&b, ": ");
    buf_str(&b, value);
    list_add(&a->headers, own(a->s, b.data));
}

/* The method, the headers and the body every transfer sends (as curl):
   the user's -H lines ("Name:" drops a header, "Name;" sends it empty),
   then Accept, the body's Content-Type, Referer and Authorization unless
   the user gave or dropped them. */
static void plan_request(app *a) {
    settings *s = a->s;
    int post = s->has_data && !s->get;
    size_t i;
    a->method = s->method ? s->method : s->head ? "HEAD" : post ? "POST" : "GET";
    if (post) {
        a->body = s->data.data;
        a->body_len = s->data.len;
    }
    for (i = 0; i < s->headers.len; i++) {
        const char *h = s->headers.items[i];
        size_t n = strlen(h);
        if (drops_header(h)) continue;
        if (!strchr(h, ':')) {
            char *line;
            if (!n || h[n - 1] != ';') continue; /* no header at all (-H "$EMPTY"): as curl */
            line = own_copy(s, h, n); /* "Name;": sent empty */
            line[n - 1] = ':';
            h = line;
        }
        list_add(&a->headers, h);
    }
    plan_header(a, "Accept", s->json ? "application/json" : "*/*");
    if (post) plan_header(a, "Content-Type", s->json ? "application/json" : "application/x-www-form-urlencoded");
    /* -e '': none, as curl; -e 'URL;auto': URL (";auto", a Referer set on each redirect, is not done) */
    if (s->referer) {
        size_t n = strlen(s->referer);
        if (n >= 5 && strcmp(s->referer + n - 5, ";auto") == 0) n -= 5;
        if (n) plan_header(a, "Referer", own_copy(s, s->referer, n));
    }
    if (s->user) {
        size_t n = strlen(s->user), cap;
        char *both = own_copy(s, s->user, n + 1), *value;
        if (!strchr(s->user, ':')) both[n++] = ':'; /* curl would ask for the password: an empty one */
        cap = 6 + 4 * ((n + 2) / 3) + 1;
        value = own(s, (char *)grow(NULL, cap));
        async_http_basic_auth(both, n, value, cap);
        plan_header(a, "Authorization", value);
    }
}

/* ------------------------------------------------------------------ */
/* output: files, and stdout shared in argument order                  */

static void stdout_put(app *a, const char *p, size_t n) {
    if (a->stdout_errno || !n) return;
    if (fwrite(p, 1, n, stdout) != n) a->stdout_errno = errno ? errno : EIO;
}

static void stdout_write(transfer *x, const char *p, size_t n) {
    app *a = x->app;
    if (x->index == a->turn) stdout_put(a, p, n);
    else buf_add(&x->pending, p, n);
    if (a->stdout_errno) x->write_errno = a->stdout_errno;
}

/* x is finished, and has written all it will to stdout: the turn moves
   on, and the transfer that has it now writes what it held. */
static void stdout_close(transfer *x) {
    app *a = x->app;
    while (a->turn < a->n) {
        transfer *t = &a->tr[a->turn];
        stdout_put(a, t->pending.data, t->pending.len);
        buf_free(&t->pending);
        if (!t->finished) break;
        a->turn++;
    }
}

/* --create-dirs: every directory on the way to path. */
static void make_dirs(const char *path) {
    char dir[4096];
    size_t i;
    for (i = 1; path[i] && i < sizeof dir; i++) {
        if (path[i] != '/') continue;
        memcpy(dir, path, i);
        dir[i] = 0;
        mkdir(dir, 0777); /* EEXIST is fine; any other failure shows at fopen */
    }
}

static int out_open(transfer *x) {
    if (x->app->s->create_dirs) make_dirs(x->path);
    if (!(x->file = fopen(x->path, "wb"))) x->write_errno = errno;
    return x->file != NULL;
}

/* The transfer's output (its heads with -i, its body): its file or its share of stdout. */
static void out_write(transfer *x, const char *p, size_t n) {
    if (x->write_errno || !n) return;
    if (!x->path) {
        stdout_write(x, p, n);
        return;
    }
    if (!x->file && !out_open(x)) return;
    if (fwrite(p, 1, n, x->file) != n) x->write_errno = errno ? errno : EIO;
}

static void body_write(transfer *x, const char *p, size_t n) {
    x->got += n;
    out_write(x, p, n);
}

/* The client's on_body: the decoded body, piece by piece. */
static int on_body(async_http_request *req, const char *data, size_t len) {
    transfer *x = (transfer *)req->user;
    if (x->hop == HOP_KEEP && x->coding[0]) return FETCH_ECODING; /* as curl: at the first byte, none written */
    if (x->hop == HOP_KEEP) body_write(x, data, len);
    return x->write_errno ? FETCH_EWRITE : 0;
}

/* ------------------------------------------------------------------ */
/* heads: the trace tells them (-v, -i, -I, and what the body is)      */

/* A whole number at the start of a field's value (Content-Length, Retry-After), or -1. */
static int64_t field_number(const char *v, size_t n) {
    char digits[24];
    char *end;
    long long x;
    if (!v || !n || n >= sizeof digits) return -1;
    memcpy(digits, v, n);
    digits[n] = 0;
    x = strtoll(digits, &end, 10);
    return end == digits || *end || x < 0 ? -1 : (int64_t)x;
}

static int is_redirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* -i, -I: a head as it came, but with LF line ends. */
static void write_head(transfer *x, const char *head, size_t len) {
    size_t i, start = 0;
    for (i = 0; i + 1 < len; i++)
        if (head[i] == '\r' && head[i + 1] == '\n') {
            out_write(x, head + start, i - start);
            start = i + 1;
        }
    out_write(x, head + start, len - start);
}

/* A copy of the head's fields and its HTTP version, for -w once the library's is gone. */
static void keep_head(transfer *x, const char *head, size_t len, const async_http_header *fields, size_t count) {
    size_t i, bytes = count * sizeof *fields;
    char *p;
    for (i = 0; i < count; i++) bytes += fields[i].name_len + fields[i].value_len;
    free(x->fields);
    x->fields = (async_http_header *)grow(NULL, bytes);
    x->nfields = count;
    p = (char *)(x->fields + count);
    for (i = 0; i < count; i++) {
        async_http_header *f = &x->fields[i];
        *f = fields[i];
        if (f->name_len) memcpy(p, f->name, f->name_len);
        f->name = p, p += f->name_len;
        if (f->value_len) memcpy(p, f->value, f->value_len);
        f->value = p, p += f->value_len;
    }
    snprintf(x->version, sizeof x->version, "%s", len > 8 && head[7] == '0' ? "1.0" : "1.1"); /* "HTTP/1.x " */
}

/* Whether p[0, n) is word, in any case. */
static int is_word(const char *p, size_t n, const char *word) {
    return strlen(word) == n && strncasecmp(p, word, n) == 0;
}

/* --compressed: the body's Content-Encoding if the library does not decode it
   (it decodes one coding, gzip or deflate; identity is none), else NULL. */
static const char *undecoded(const async_http_header *fields, size_t count, size_t *len) {
    const char *v = NULL;
    size_t i, lines = 0;
    for (i = 0; i < count; i++)
        if (is_word(fields[i].name, fields[i].name_len, "content-encoding") && lines++ == 0)
            v = fields[i].value, *len = fields[i].value_len;
    if (!v || (lines == 1 && (is_word(v, *len, "gzip") || is_word(v, *len, "x-gzip") || is_word(v, *len, "deflate") ||
                              is_word(v, *len, "identity"))))
        return NULL;
    return v;
}

/* A response's head was told (as it came, and parsed by the library): it
   says what its body is. */
static void hop_told(transfer *x, const char *head, size_t len) {
    settings *s = x->app->s;
    const async_http_header *fields = NULL;
    size_t count = 0, n = 0, m;
    int status = 0, failed;
    const char *loc, *v;
    async_http_request_head(&x->req, &status, &fields, &count);
    keep_head(x, head, len, fields, count);
    /* Transfer-Encoding without Content-Length (the two together are refused, a
       head's malformation): the body comes in chunks, and a malformation found
       from here on is in them, not in the head. */
    x->in_chunks = status >= 200 && async_http_header_find(fields, count, "transfer-encoding", &m) &&
                   !async_http_header_find(fields, count, "content-length", &m);
    x->coding[0] = 0;
    if (s->compressed && status >= 200 && (v = undecoded(fields, count, &m)) != NULL)
        snprintf(x->coding, sizeof x->coding, "%.*s", (int)m, v);
    loc = is_redirect(status) ? async_http_header_find(fields, count, "location", &n) : NULL;
    failed = s->fail && !s->fail_with_body && status >= 400;
    x->status = status;
    keep_copy(&x->location, loc, n);
    if (s->include || s->head) write_head(x, head, len);
    x->hop = s->head || failed ? HOP_SKIP : HOP_KEEP; /* a followed redirect's body never comes */
    x->expect = -1;
    if (x->hop == HOP_KEEP && (v = async_http_header_find(fields, count, "content-length", &n)) != NULL &&
        !(s->compressed && async_http_header_find(fields, count, "content-encoding", &m)))
        x->expect = field_number(v, n);
}

/* -v: each line of a head, after the mark; in one write (stderr has no buffer). */
static void say_head(char mark, const char *head, size_t len) {
    const char *p = head, *end = head + len;
    char lead[2];
    buffer b = {0};
    lead[0] = mark, lead[1] = ' ';
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
        if (n && p[n - 1] == '\r') n--;
        buf_add(&b, lead, 2);
        buf_add(&b, p, n);
        buf_add(&b, "\n", 1);
        p = eol ? eol + 1 : end;
    }
    if (b.len) fwrite(b.data, 1, b.len, stderr);
    buf_free(&b);
}

/* The length of the body a request head announces (its Content-Length), or 0. */
static uint64_t sent_body(const char *head, size_t len) {
    const char *p = head, *end = head + len, *eol;
    int64_t n;
    for (; p < end && (eol = memchr(p, '\n', (size_t)(end - p))) != NULL; p = eol + 1) {
        size_t k = 15; /* strlen("content-length:") */
        if ((size_t)(eol - p) <= k || strncasecmp(p, "content-length:", k) != 0) continue;
        for (p += k; p < eol && (*p == ' ' || *p == '\t'); p++) {}
        n = field_number(p, (size_t)(eol - p - (eol[-1] == '\r')));
        return n > 0 ? (uint64_t)n : 0;
    }
    return 0;
}

/* config.trace: what each request does. */
static void on_trace(void *user, async_http_request *req, int what, const char *text, size_t len) {
    app *a = (app *)user;
    transfer *x = (transfer *)req->user;
    int verbose = a->s->verbose;
    const char *sp;
    switch (what) {
    case ASYNC_HTTP_TRACE_CONNECTED: /* "ip port" */
        x->connects++;
        if (verbose && (sp = memchr(text, ' ', len)) != NULL)
            fprintf(stderr, "* Connected to %.*s port %.*s\n", (int)(sp - text), text, (int)(text + len - sp - 1), sp + 1);
        break;
    case ASYNC_HTTP_TRACE_TLS:
        if (verbose) fprintf(stderr, "* TLS: %.*s\n", (int)len, text);
        break;
    case ASYNC_HTTP_TRACE_SENT:
        x->size_request += len + sent_body(text, len);
        x->in_chunks = 0; /* until this request's answer says so */
        sp = memchr(text, ' ', len);
        snprintf(x->method, sizeof x->method, "%.*s", sp ? (int)(sp - text) : 0, text);
        if (verbose && req->info.reused)
            fprintf(stderr, "* Re-using the connection to %s port %u\n", req->info.remote_ip, req->info.remote_port);
        if (verbose) say_head('>', text, len);
        break;
    case ASYNC_HTTP_TRACE_RECEIVED:
        x->size_header += len;
        if (verbose) say_head('<', text, len);
        hop_told(x, text, len);
        break;
    case ASYNC_HTTP_TRACE_PROXY_SENT:
        if (verbose) say_head('>', text, len);
        break;
    case ASYNC_HTTP_TRACE_PROXY_RECEIVED: /* as curl: -v shows it, and -i and -I write it before the response's */
        if (verbose) say_head('<', text, len);
        if (a->s->include || a->s->head) write_head(x, text, len);
        break;
    case ASYNC_HTTP_TRACE_REDIRECT:
        x->redirects++;
        keep_copy(&x->effective, text, len);
        if (verbose) fprintf(stderr, "* Following the redirect to %s\n", x->effective);
        break;
    default: break;
    }
}

/* ------------------------------------------------------------------ */
/* -w: the write-out                                                   */

enum {
    W_HTTP_CODE, W_URL_EFFECTIVE, W_SIZE_DOWNLOAD, W_SIZE_HEADER, W_SIZE_REQUEST, W_SIZE_UPLOAD, W_SPEED_DOWNLOAD,
    W_TIME_TOTAL, W_TIME_CONNECT, W_TIME_APPCONNECT, W_TIME_PRETRANSFER, W_TIME_STARTTRANSFER, W_NUM_REDIRECTS,
    W_NUM_CONNECTS, W_REMOTE_IP, W_REMOTE_PORT, W_CONTENT_TYPE, W_HTTP_VERSION, W_METHOD, W_SCHEME, W_REDIRECT_URL,
    W_FILENAME_EFFECTIVE, W_EXITCODE, W_ERRORMSG, W_STDOUT, W_STDERR, W_URLNUM, W_NUM_HEADERS
};

static const struct variable {
    const char *name;
    int id;
} variables[] = {
    {"http_code", W_HTTP_CODE}, {"response_code", W_HTTP_CODE}, {"url_effective", W_URL_EFFECTIVE},
    {"size_download", W_SIZE_DOWNLOAD}, {"size_header", W_SIZE_HEADER}, {"size_request", W_SIZE_REQUEST},
    {"size_upload", W_SIZE_UPLOAD}, {"speed_download", W_SPEED_DOWNLOAD}, {"time_total", W_TIME_TOTAL},
    {"time_connect", W_TIME_CONNECT}, {"time_appconnect", W_TIME_APPCONNECT},
    {"time_pretransfer", W_TIME_PRETRANSFER}, {"time_starttransfer", W_TIME_STARTTRANSFER},
    {"num_redirects", W_NUM_REDIRECTS}, {"num_connects", W_NUM_CONNECTS}, {"remote_ip", W_REMOTE_IP},
    {"remote_port", W_REMOTE_PORT}, {"content_type", W_CONTENT_TYPE}, {"http_version", W_HTTP_VERSION},
    {"method", W_METHOD}, {"scheme", W_SCHEME}, {"redirect_url", W_REDIRECT_URL},
    {"filename_effective", W_FILENAME_EFFECTIVE}, {"exitcode", W_EXITCODE}, {"errormsg", W_ERRORMSG},
    {"stdout", W_STDOUT}, {"stderr", W_STDERR}, {"urlnum", W_URLNUM}, {"num_headers", W_NUM_HEADERS},
};

/* Seconds from the start of the (last) attempt to t; 0 if it did not come to t. */
static double since(const transfer *x, async_time t) { return t ? (double)(t - x->req.info.start) / 1e9 : 0; }

static void put_variable(transfer *x, buffer *b, int id) {
    const async_http_request *r = &x->req;
    const async_http_response *resp = &r->response;
    int ok = async_done(&r->task.future) && !async_error(&r->task.future);
    const char *url = ok ? resp->url : x->effective ? x->effective : x->url, *v;
    size_t n;
    switch (id) {
    case W_HTTP_CODE: buf_printf(b, "%03d", ok ? resp->status : x->status); break;
    case W_URL_EFFECTIVE: buf_str(b, url); break;
    case W_SIZE_DOWNLOAD: /* -f's error, -I: the body was not read, as curl reads it */
        buf_printf(b, "%llu", (unsigned long long)(x->hop == HOP_SKIP ? 0 : r->info.body_bytes));
        break;
    case W_SIZE_HEADER: buf_printf(b, "%llu", (unsigned long long)x->size_header); break;
    case W_SIZE_REQUEST: buf_printf(b, "%llu", (unsigned long long)x->size_request); break;
    case W_SIZE_UPLOAD: buf_printf(b, "%lu", (unsigned long)(x->size_request ? x->app->body_len : 0)); break;
    case W_SPEED_DOWNLOAD: {
        double t = since(x, r->info.done);
        buf_printf(b, "%.0f", t > 0 ? (double)r->info.body_bytes / t : 0);
        break;
    }
    case W_TIME_TOTAL: buf_printf(b, "%.6f", since(x, r->info.done)); break;
    case W_TIME_CONNECT: buf_printf(b, "%.6f", since(x, r->info.connected)); break;
    case W_TIME_APPCONNECT: buf_printf(b, "%.6f", since(x, r->info.tls_done)); break;
    case W_TIME_PRETRANSFER:
        buf_printf(b, "%.6f", since(x, r->info.tls_done > r->info.connected ? r->info.tls_done : r->info.connected));
        break;
    case W_TIME_STARTTRANSFER: buf_printf(b, "%.6f", since(x, r->info.first_byte)); break;
    case W_NUM_REDIRECTS: buf_printf(b, "%d", x->redirects); break;
    case W_NUM_CONNECTS: buf_printf(b, "%d", x->connects); break;
    case W_REMOTE_IP: buf_str(b, r->info.remote_ip); break;
    case W_REMOTE_PORT: buf_printf(b, "%u", r->info.remote_port); break;
    /* These from the last head, also when the transfer failed after it (curl's too). */
    case W_CONTENT_TYPE:
        if ((v = async_http_header_find(x->fields, x->nfields, "content-type", &n)) != NULL) buf_add(b, v, n);
        break;
    case W_HTTP_VERSION: buf_str(b, x->version[0] ? x->version : "0"); break;
    case W_NUM_HEADERS: buf_printf(b, "%lu", (unsigned long)x->nfields); break;
    case W_METHOD: buf_str(b, x->method[0] ? x->method : x->app->method); break;
    case W_SCHEME: /* once connected, as curl 7.88 */
        for (v = r->info.remote_ip[0] ? url : ""; *v && *v != ':'; v++)
            buf_printf(b, "%c", *v >= 'a' && *v <= 'z' ? *v - 'a' + 'A' : *v);
        break;
    case W_URLNUM: buf_printf(b, "%lu", (unsigned long)x->index); break;
    case W_REDIRECT_URL: /* where a redirect that was not followed (or one too many) points */
        if (x->location) {
            size_t cap = strlen(url) + strlen(x->location) + 16;
            char *out = (char *)grow(NULL, cap);
            const char *fragment = strchr(x->location, '#'); /* curl shows the Location's */
            if (async_http_url_resolve(url, x->location, out, cap) >= 0) {
                buf_str(b, out);
                if (fragment) buf_str(b, fragment);
            }
            free(out);
        }
        break;
    case W_FILENAME_EFFECTIVE: buf_str(b, x->path ? x->path : ""); break;
    case W_EXITCODE: buf_printf(b, "%d", x->code); break;
    case W_ERRORMSG: buf_str(b, x->message); break;
    default: break;
    }
}

/* What -w's FORMAT has written so far goes to stdout (in turn) or stderr. */
static void write_out_flush(transfer *x, buffer *b, int to_stderr) {
    if (to_stderr) fwrite(b->data, 1, b->len, stderr);
    else stdout_write(x, b->data, b->len);
    b->len = 0;
}

/* -w FORMAT, after the transfer: %{variable}, %header{name}, %%, \n \r \t. */
static void write_out(transfer *x) {
    const char *f = x->app->s->write_out, *end;
    buffer b = {0};
    int to_stderr = 0;
    size_t i, n;
    buf_add(&b, "", 0);
    while (*f) {
        if (f[0] == '%' && f[1] == '%') {
            buf_add(&b, "%", 1);
            f += 2;
        } else if (f[0] == '%' && f[1] == '{' && (end = strchr(f, '}')) != NULL) {
            n = (size_t)(end - f - 2);
            for (i = 0; i < sizeof variables / sizeof variables[0]; i++)
                if (strlen(variables[i].name) == n && strncmp(variables[i].name, f + 2, n) == 0) break;
            if (i == sizeof variables / sizeof variables[0]) {
                fprintf(stderr, "fetch: unknown --write-out variable: '%.*s'\n", (int)n, f + 2);
            } else if (variables[i].id == W_STDOUT || variables[i].id == W_STDERR) {
                write_out_flush(x, &b, to_stderr);
                to_stderr = variables[i].id == W_STDERR;
            } else {
                put_variable(x, &b, variables[i].id);
            }
            f = end + 1;
        } else if (strncmp(f, "%header{", 8) == 0 && (end = strchr(f, '}')) != NULL) {
            char name[128];
            const char *v;
            snprintf(name, sizeof name, "%.*s", (int)(end - f - 8), f + 8);
            if ((v = async_http_header_find(x->fields, x->nfields, name, &n)) != NULL) buf_add(&b, v, n);
            f = end + 1;
        } else if (f[0] == '\\' && (f[1] == 'n' || f[1] == 'r' || f[1] == 't')) {
            buf_add(&b, f[1] == 'n' ? "\n" : f[1] == 'r' ? "\r" : "\t", 1);
            f += 2;
        } else {
            buf_add(&b, f++, 1);
        }
    }
    write_out_flush(x, &b, to_stderr);
    buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* the progress meter                                                  */

static void human(char *out, size_t cap, double bytes) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) bytes /= 1024, u++;
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

/* One line, redrawn in place: every transfer's bytes together. */
static void meter_draw(meter *m, int last) {
    app *a = m->app;
    uint64_t got = 0, expect = 0;
    int known = 1;
    size_t i, finished = 0;
    double secs = (double)(async_now(&a->loop) - m->start) / 1e9, rate, part;
    char line[160], have[32], total[32], speed[32], eta[32];
    for (i = 0; i < a->n; i++) {
        const transfer *x = &a->tr[i];
        got += x->got;
        finished += (size_t)x->finished;
        if (x->finished || (x->expect >= 0 && (uint64_t)x->expect < x->got)) expect += x->got;
        else if (x->expect >= 0) expect += (uint64_t)x->expect;
        else known = 0;
    }
    rate = secs > 0 ? (double)got / secs : 0;
    part = known && expect ? (double)got / (double)expect : known ? 1 : 0;
    if (a->s->bar) {
        static const char hashes[] = "##################################################";
        int fill = (int)(part * 50);
        if (known) snprintf(line, sizeof line, "%.*s%*s %5.1f%%", fill, hashes, 50 - fill, "", part * 100);
        else human(line, sizeof line, (double)got);
    } else {
        human(have, sizeof have, (double)got);
        human(total, sizeof total, (double)expect);
        human(speed, sizeof speed, rate);
        if (known && rate > 0) {
            long left = (long)((double)(expect - got) / rate + 0.5);
            snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", left / 3600, left / 60 % 60, left % 60);
        } else {
            snprintf(eta, sizeof eta, "--:--:--");
        }
        snprintf(line, sizeof line, "%3.0f%%  %10s of %-10s  %10s/s  ETA %s  %lu/%lu done", part * 100, have,
                 known ? total : "?", speed, eta, (unsigned long)finished, (unsigned long)a->n);
        if (!known) memcpy(line, " --", 3);
    }
    fprintf(stderr, "\r%-78s%s", line, last ? "\n" : "");
    m->drawn = !last;
}

/* An error line while the meter is drawn goes on a line of its own. */
static void meter_break(app *a) {
    if (!a->meter.drawn) return;
    fputc('\n', stderr);
    a->meter.drawn = 0;
}

static int meter_run(async_task *t) {
    meter *m = (meter *)t;
    ASYNC_BEGIN(t);
    for (;;) {
        ASYNC_AWAIT(t, async_sleep(t->loop, &m->tick, ASYNC_MS(200)));
        meter_draw(m, 0);
    }
    ASYNC_END(t);
}

/* On when stderr is a terminal that no output goes to (curl's rule), and not -s, -v. */
static int meter_wanted(const app *a) {
    const settings *s = a->s;
    int to_stdout = s->write_out != NULL;
    size_t i;
    if (!isatty(2) || s->silent || s->no_meter || s->verbose) return 0;
    for (i = 0; i < a->n; i++) to_stdout |= a->tr[i].path == NULL;
    return !(to_stdout && isatty(1));
}

/* ------------------------------------------------------------------ */
/* a transfer's life                                                   */

static void transfer_start(transfer *x) {
    app *a = x->app;
    async_http_request_desc d;
    memset(&d, 0, sizeof d);
    d.method = a->method;
    d.url = x->url;
    d.headers = a->headers.items;
    d.body = a->body;
    d.body_len = a->body_len;
    d.on_body = on_body;
    d.user = x;
    x->hop = HOP_KEEP;
    x->status = x->redirects = 0;
    x->expect = -1;
    x->got = x->size_header = x->size_request = 0;
    x->method[0] = x->coding[0] = x->version[0] = 0;
    x->in_chunks = 0;
    free(x->fields);
    x->fields = NULL;
    x->nfields = 0;
    keep_copy(&x->effective, NULL, 0);
    keep_copy(&x->location, NULL, 0);
    async_http_start(&a->client, &x->req, &d);
}

/* The output failed: that is the transfer's error, whatever else happened. */
static void write_failed(transfer *x) {
    x->code = EXIT_WRITE;
    snprintf(x->message, sizeof x->message, "cannot write %s: %s", x->path ? x->path : "to stdout",
             strerror(x->write_errno));
}

/* The attempt is over: the exit code it ends with, and why. */
static void transfer_conclude(transfer *x) {
    const settings *s = x->app->s;
    const async_http_request *r = &x->req;
    int err = async_error(&r->task.future), st = r->response.status;
    x->code = 0;
    x->message[0] = 0;
    if (x->write_errno) {
        write_failed(x);
    } else if (err == FETCH_ECODING) {
        x->code = EXIT_ENCODING;
        snprintf(x->message, sizeof x->message,
                 "unrecognized content encoding type: %s (fetch decodes gzip and deflate)", x->coding);
    } else if (err) {
        x->code = exit_code_of(err, r, x->in_chunks);
        snprintf(x->message, sizeof x->message, "%s", async_http_request_error(r));
    } else if ((s->fail || s->fail_with_body) && st >= 400) {
        x->code = EXIT_HTTP;
        snprintf(x->message, sizeof x->message, "the requested URL returned error: %d %.*s", st,
                 (int)r->response.reason_len, r->response.reason);
    }
}

/* curl's transient failures: a timeout, a failed lookup, HTTP 408, 429, 500, 502, 503, 504. */
static int transient(const transfer *x) {
    const settings *s = x->app->s;
    int err = async_error(&x->req.task.future), st = x->req.response.status;
    if (x->code == EXIT_WRITE) return 0;
    if (s->retry_all && x->code) return 1;
    if (x->code == EXIT_TIMEOUT || x->code == EXIT_RESOLVE) return 1;
    if (s->retry_connrefused && err == ASYNC_HTTP_EREFUSED) return 1;
    return !err && (st == 408 || st == 429 || st == 500 || st == 502 || st == 503 || st == 504);
}

/* 1 if the transfer goes again (after x->delay); else its outcome is set. */
static int transfer_retry(transfer *x) {
    const settings *s = x->app->s;
    const async_http_request *r = &x->req;
    int64_t after = -1;
    size_t n;
    const char *v;
    transfer_conclude(x);
    if (x->retries_left <= 0 || !transient(x)) return 0;
    x->retries_left--;
    if (!async_error(&r->task.future) && (v = async_http_response_header(&r->response, "retry-after", &n)) != NULL)
        after = field_number(v, n);
    if (s->retry_delay >= 0) {
        x->delay = s->retry_delay;
    } else if (after >= 0) {
        x->delay = ASYNC_SEC(after < 600 ? after : 600);
    } else {
        x->delay = x->backoff;
        if (x->backoff < ASYNC_SEC(600)) x->backoff *= 2;
    }
    if (errors_shown(s)) {
        meter_break(x->app);
        if (x->code) fprintf(stderr, "fetch: %s: %s", x->url, x->message);
        else fprintf(stderr, "fetch: %s: HTTP %d", x->url, r->response.status);
        fprintf(stderr, "; retrying in %g s (%ld %s left)\n", (double)x->delay / 1e9, x->retries_left,
                x->retries_left == 1 ? "retry" : "retries");
    }
    /* Afresh: a regular file starts over (stdout, a device or a pipe keeps
       what it was given, as in curl). */
    if (x->file) {
        struct stat st;
        if (fflush(x->file) != 0 || (fstat(fileno(x->file), &st) == 0 && S_ISREG(st.st_mode) &&
                                     (ftruncate(fileno(x->file), 0) != 0 || fseek(x->file, 0, SEEK_SET) != 0)))
            x->write_errno = errno;
    }
    async_http_request_release(&x->req);
    return 1;
}

/* The transfer is over: the error line, the file, -w, its turn on stdout. */
static void transfer_finish(transfer *x) {
    app *a = x->app;
    const settings *s = a->s;
    int written = x->code == 0 || (x->code == EXIT_HTTP && s->fail_with_body);
    if (written && x->path && !x->file && !x->write_errno) out_open(x); /* an empty body: an empty file */
    if (x->file && fclose(x->file) != 0 && !x->write_errno) x->write_errno = errno;
    x->file = NULL;
    if (x->write_errno && x->code != EXIT_WRITE) write_failed(x);
    if (x->code && errors_shown(s)) {
        meter_break(a);
        fprintf(stderr, "fetch: %s: %s\n", x->url, x->message);
    }
    if (s->write_out) write_out(x);
    x->finished = 1;
    stdout_close(x);
    async_http_request_release(&x->req);
    keep_copy(&x->effective, NULL, 0);
    keep_copy(&x->location, NULL, 0);
    free(x->fields);
    x->fields = NULL;
}

static int transfer_run(async_task *t) {
    transfer *x = (transfer *)t;
    ASYNC_BEGIN(t);
    if (x->code == 0) { /* else the plan failed it already (-O without a name) */
        ASYNC_AWAIT(t, async_semaphore_acquire(&x->app->slots, &x->slot));
        for (;;) {
            transfer_start(x);
            ASYNC_AWAIT(t, &x->req.task.future);
            if (!transfer_retry(x)) break;
            ASYNC_AWAIT(t, async_sleep(t->loop, &x->nap, x->delay));
        }
        async_semaphore_release(&x->app->slots);
    }
    transfer_finish(x);
    ASYNC_END(t);
}

/* Every transfer at once, and the meter beside them. */
static int main_run(async_task *t) {
    app *a = (app *)t;
    size_t i;
    ASYNC_BEGIN(t);
    async_semaphore_init(&a->slots, (intptr_t)a->client.config.limit);
    for (i = 0; i < a->n; i++) a->futs[i] = async_create_task(&a->loop, &a->tr[i].task, transfer_run);
    if (a->meter.on) async_create_task(&a->loop, &a->meter.task, meter_run);
    ASYNC_AWAIT(t, async_gather(&a->gather, a->futs, a->links, a->n, 1));
    if (a->meter.on) {
        async_cancel(&a->meter.task);
        ASYNC_AWAIT_CATCH(t, &a->meter.task.future, a->err);
        meter_draw(&a->meter, 1);
    }
    ASYNC_END(t);
}

/* ------------------------------------------------------------------ */
/* main                                                                */

/* The client's configuration as curl means the options: no redirects
   without -L; no total limit without -m; decompression only when asked;
   the environment's proxies. */
static void configure(app *a) {
    settings *s = a->s;
    async_http_client_config *c = &s->config;
    const char *ua, *ae;
    c->trace = on_trace;
    c->trace_user = a;
    if (!c->user_agent) c->user_agent = "fetch/" FETCH_VERSION;
    if ((ua = user_header(s, "user-agent")) != NULL && drops_header(ua)) c->user_agent = ""; /* as curl does */
    c->no_decompress = !s->compressed;
    /* -H 'Accept-Encoding:' drops the library's, as curl drops its own; the library
       leaves it out only when it decodes nothing (a body compressed all the same then
       comes as it was sent, where curl decodes it). */
    if ((ae = user_header(s, "accept-encoding")) != NULL && drops_header(ae)) c->no_decompress = 1;
    c->max_redirects = !s->location          ? ASYNC_HTTP_NO_REDIRECTS
                       : s->max_redirs == 0 ? ASYNC_HTTP_REDIRECTS_FAIL
                       : s->max_redirs < 0  ? INT_MAX
                                            : (int)s->max_redirs;
    if (!c->timeout_total) c->timeout_total = ASYNC_NO_TIMEOUT;
    c->max_header_bytes = 300 << 10; /* curl's limit on a head: real sites send big ones */
    c->max_headers = 1000;
    c->trust_env = !s->no_env_proxy;
    /* With -x the library reads no environment; curl still takes no_proxy from it. */
    if (c->proxy && !c->no_proxy && !s->no_env_proxy) {
        const char *none = getenv("no_proxy");
        c->no_proxy = none && *none ? none : getenv("NO_PROXY");
    }
    c->limit = (size_t)s->parallel_max;
}

/* One transfer per URL, with its output. */
static void plan_transfers(app *a) {
    settings *s = a->s;
    size_t i;
    for (i = 0; i < a->n; i++) {
        transfer *x = &a->tr[i];
        const char *out = i < s->outputs.len ? s->outputs.items[i] : NULL;
        x->app = a;
        x->index = i;
        x->url = plan_url(s, s->urls.items[i]);
        x->retries_left = s->retry;
        x->backoff = ASYNC_SEC(1);
        x->expect = -1;
        if (out && strcmp(out, REMOTE_NAME) == 0 && !(out = remote_name(s, x->url))) {
            x->code = EXIT_WRITE;
            snprintf(x->message, sizeof x->message, "-O: the URL has no file name");
        } else if (out && strcmp(out, "-") != 0) {
            x->path = plan_path(s, out);
        }
    }
    if (s->outputs.len > a->n && !s->silent)
        fprintf(stderr, "fetch: more -o and -O than URLs: the last %lu are not used\n",
                (unsigned long)(s->outputs.len - a->n));
}

static int run(settings *s) {
    app *a = (app *)grow(NULL, sizeof *a);
    int code = 0, err;
    size_t i;
    memset(a, 0, sizeof *a);
    a->s = s;
    a->n = s->urls.len;
    a->tr = (transfer *)grow(NULL, a->n * sizeof *a->tr);
    memset(a->tr, 0, a->n * sizeof *a->tr);
    a->futs = (async_future **)grow(NULL, a->n * sizeof *a->futs);
    a->links = (async_link *)grow(NULL, a->n * sizeof *a->links);
    configure(a);
    plan_request(a);
    plan_transfers(a);
    async_loop_init(&a->loop, NULL);
    if (async_io_init(&a->io, &a->loop, NULL) != 0) {
        if (errors_shown(s)) fprintf(stderr, "fetch: %s\n", async_io_error(&a->io));
        code = EXIT_USAGE;
    } else if ((err = async_http_client_init(&a->client, &a->io, &s->config)) != 0) {
        if (errors_shown(s)) fprintf(stderr, "fetch: the proxy (-x, or http_proxy and its kin): %s\n", async_strerror(err));
        code = err == ASYNC_HTTP_EURL ? EXIT_URL : EXIT_NOMEM;
        async_io_exit(&a->io);
    } else {
        a->meter.on = meter_wanted(a);
        a->meter.app = a;
        a->meter.start = async_now(&a->loop);
        async_create_task(&a->loop, &a->task, main_run);
        async_run(&a->loop, &a->task.future);
        async_http_client_close(&a->client);
        async_io_exit(&a->io);
        if (fflush(stdout) != 0 && !a->stdout_errno) a->stdout_errno = errno;
        for (i = 0; i < a->n; i++) /* the last to fail, in argument order */
            if (a->tr[i].code) code = a->tr[i].code;
        if (!code && a->stdout_errno) {
            if (errors_shown(s)) fprintf(stderr, "fetch: cannot write to stdout: %s\n", strerror(a->stdout_errno));
            code = EXIT_WRITE;
        }
    }
    for (i = 0; i < a->n; i++) {
        buf_free(&a->tr[i].pending);
    }
    free((void *)a->headers.items);
    free(a->tr);
    free(a->futs);
    free(a->links);
    free(a);
    return code;
}

static void settings_free(settings *s) {
    size_t i;
    for (i = 0; i < s->owned.len; i++) free((void *)s->owned.items[i]);
    free((void *)s->owned.items);
    free((void *)s->outputs.items);
    free((void *)s->headers.items);
    free((void *)s->urls.items);
    buf_free(&s->data);
    buf_free(&s->query);
    buf_free(&s->stdin_in);
}

int main(int argc, char **argv) {
    settings s;
    int code;
    memset(&s, 0, sizeof s);
    s.max_redirs = 50; /* with -L, as curl */
    s.retry_delay = -1;
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is a write error (23), as in curl */
    code = parse(argc, argv, &s);
    if (code) {
        /* said already */
    } else if (s.action == HELP) {
        print_help();
    } else if (s.action == VERSION) {
        code = print_version();
    } else if (!s.urls.len) {
        fprintf(stderr, "usage: fetch [OPTIONS] URL...\n");
        code = hint();
    } else if (s.fail && s.fail_with_body) { /* curl: "option --fail-with-body: is badly used here" */
        code = usage_error("%s", "--fail and --fail-with-body: one or the other");
    } else if (s.head && s.has_data && !s.get) {
        code = usage_error("%s", "-I and -d ask for two methods (HEAD and POST)");
    } else {
        code = run(&s);
    }
    settings_free(&s);
    return code;
}
