/* swapi_server.c - a small HTTP/1.1 server on async_http.h's backend
 * (io_uring, or epoll). It serves SWAPI-shaped JSON (https://swapi.dev) so
 * that the other examples run offline.
 *
 *     swapi_server [--port P] [--delay-ms N] [--tls CERT KEY]
 *
 *     GET /api/people/N   N in 1..100: a person as JSON; anything else: 404
 *     /api/echo           any method: answers "METHOD TARGET\n" + the request body
 *     ?delay_ms=D         on any path: answer after D ms (at most a minute)
 *
 * It prints "listening on http://127.0.0.1:PORT" first (port 0, the default,
 * lets the kernel choose one); with --tls (a PEM certificate chain and its
 * key), it speaks https and says "listening on https://...".
 * Connections are async_stream's, the same layer the client uses: plain TCP,
 * or TLS on top. --delay-ms N holds each answer back by a
 * random 0..N ms, so that answers come back in another order than the
 * requests went out. SIGINT or SIGTERM stops it cleanly.
 *
 * The shape: an acceptor task accepts connections and starts one task per
 * connection; each connection task reads a request, answers it, and loops
 * (HTTP/1.1 keep-alive; pipelined requests are answered in turn). At most
 * MAX_CONNS connections are served at once: a semaphore counts the free
 * slots, and the acceptor takes one before it accepts, so any further
 * clients wait in the kernel's listen backlog. A request head over 8 KiB
 * gets 431 and the connection is closed; so is a connection whose next
 * request does not arrive whole within a minute (silent, or a slowloris
 * sending a byte at a time), or which does not take an answer within a
 * minute. A third task waits for the signal and cancels the others.
 */
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

enum {
    MAX_CONNS = 1024, /* connections served at once */
    IN_SIZE = 8192,   /* one request, head and body, must fit */
    OUT_SIZE = IN_SIZE + 512,
    IDLE_SEC = 60, /* a request (or an answer) that takes longer than this ends its connection */
    MAX_DELAY_MS = 60000,
    PEOPLE = 100
};

/* A connection: its task and everything that must live across an await
   (the coroutine's "locals"), buffers included. */
typedef struct conn {
    async_task task;
    int fd; /* -1: the slot is free */
    async_stream st;
    async_wait_for_op idle; /* each wait for the client, within the step's deadline */
    async_time until;       /* the deadline of the request being read, or of the answer being sent */
    async_timer delay;
    async_time delay_ns;
    char in[IN_SIZE];
    size_t in_len;      /* bytes received */
    size_t scanned;     /* bytes already searched for the end of the head */
    size_t head_len, request_len; /* the request being answered: its head; head and body */
    char out[OUT_SIZE];
    size_t out_len, sent, got;
    int close_after, err, caught;
} conn;

typedef struct acceptor {
    async_task task;
    async_io_op op;
    async_timer pause;
    async_future slot; /* the wait for a free connection slot */
    int err;
} acceptor;

typedef struct stopper {
    async_task task;
    async_io_op op;
    char signo;
    int i, err; /* err: how each stopped task ended (cancelled, as asked) */
} stopper;

/* One server per process: its state is a global. */
static struct {
    async_loop loop;
    async_io io;
    int listen_fd;
    int signal_pipe[2]; /* the signal handler writes to [1], a task reads [0] */
    char base_url[64];
    int delay_ms;
    async_tls tls; /* --tls: the server's certificate and key */
    int use_tls;
    async_semaphore free_slots; /* one unit per free slot in conns[] */
    int free_list[MAX_CONNS], nfree;
    conn conns[MAX_CONNS];
    acceptor acceptor;
    unsigned long requests, connections;
    int open, max_open;
} srv;

/* ---- SWAPI-shaped people ---- */

typedef struct person {
    const char *name, *height, *mass, *birth_year, *gender;
} person;

/* The first ten as swapi.dev has them. */
static const person first_ten[10] = {
    {"Luke Skywalker", "172", "77", "19BBY", "male"},
    {"C-3PO", "167", "75", "112BBY", "n/a"},
    {"R2-D2", "96", "32", "33BBY", "n/a"},
    {"Darth Vader", "202", "136", "41.9BBY", "male"},
    {"Leia Organa", "150", "49", "19BBY", "female"},
    {"Owen Lars", "178", "120", "52BBY", "male"},
    {"Beru Whitesun lars", "165", "75", "47BBY", "female"},
    {"R5-D4", "97", "32", "unknown", "n/a"},
    {"Biggs Darklighter", "183", "84", "24BBY", "male"},
    {"Obi-Wan Kenobi", "182", "77", "57BBY", "male"},
};

/* Person `id` (1..PEOPLE) as JSON; the ones after ten are made up, the same
   every time. Returns the length. */
static int person_json(char *out, size_t size, int id) {
    static const char *given[10] = {"Jax", "Arlo", "Bexa", "Cade", "Dorn", "Eska", "Fenn", "Gila", "Hask", "Ivo"};
    static const char *family[10] = {"Tarkin", "Voss", "Rell", "Kast", "Oru", "Mara", "Solo", "Drex", "Quill", "Nabe"};
    char name[32], height[8], mass[8], born[16];
    person p;
    if (id <= 10) {
        p = first_ten[id - 1];
    } else {
        snprintf(name, sizeof name, "%s %s", given[id % 10], family[id / 10 % 10]);
        snprintf(height, sizeof height, "%d", 150 + id * 7 % 50);
        snprintf(mass, sizeof mass, "%d", 50 + id * 13 % 60);
        snprintf(born, sizeof born, "%dBBY", 10 + id * 3 % 90);
        p.name = name, p.height = height, p.mass = mass, p.birth_year = born;
        p.gender = id % 2 ? "female" : "male";
    }
    return snprintf(out, size,
                    "{\"name\": \"%s\", \"height\": \"%s\", \"mass\": \"%s\", \"birth_year\": \"%s\", "
                    "\"gender\": \"%s\", \"url\": \"%s/api/people/%d/\"}\n",
                    p.name, p.height, p.mass, p.birth_year, p.gender, srv.base_url, id);
}

/* ---- reading a request ---- */

/* The value of a header of the request head (name case-insensitive), or NULL;
   *count: how many lines have that name. */
static const char *header_value(const char *head, size_t head_len, const char *name, size_t *len, int *count) {
    const char *end = head + head_len, *line = memchr(head, '\n', head_len), *found = NULL;
    size_t n = strlen(name);
    *count = 0;
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line)), *v;
        if (!eol) break;
        if ((size_t)(eol - line) > n && line[n] == ':' && strncasecmp(line, name, n) == 0 && !(*count)++) {
            for (v = line + n + 1; *v == ' ' || *v == '\t'; v++) {}
            for (; eol > v && (eol[-1] == '\r' || eol[-1] == ' ' || eol[-1] == '\t'); eol--) {}
            *len = (size_t)(eol - v);
            found = v;
        }
        line = eol;
    }
    return found;
}

/* A header line whose name has a space or tab before its colon, or a line
   folded onto the one before (obs-fold): RFC 9112 5.1 and 5.2 say refuse
   them (a proxy in front may read them otherwise, and a request could hide
   in a body the two frame differently). */
static int bad_header_name(const char *head, size_t head_len) {
    const char *end = head + head_len, *line = memchr(head, '\n', head_len);
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line)), *colon;
        if (!eol) break;
        if (*line == ' ' || *line == '\t') return 1;
        colon = memchr(line, ':', (size_t)(eol - line));
        if (colon && colon > line && (colon[-1] == ' ' || colon[-1] == '\t')) return 1;
        line = eol;
    }
    return 0;
}

/* Does a Connection line of the head hold the token "close" (in a list, on
   any of its lines: RFC 9110 7.6.1)? */
static int asks_close(const char *head, size_t head_len) {
    const char *end = head + head_len, *line = memchr(head, '\n', head_len);
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line)), *v;
        if (!eol) break;
        if (eol - line > 11 && line[10] == ':' && strncasecmp(line, "connection", 10) == 0) {
            for (v = line + 11; v < eol;) {
                const char *comma = memchr(v, ',', (size_t)(eol - v)), *to = comma ? comma : eol;
                while (v < to && (*v == ' ' || *v == '\t')) v++;
                while (to > v && (to[-1] == ' ' || to[-1] == '\t' || to[-1] == '\r')) to--;
                if (to - v == 5 && strncasecmp(v, "close", 5) == 0) return 1;
                v = comma ? comma + 1 : eol;
            }
        }
        line = eol;
    }
    return 0;
}

/* Is a whole request in c->in? 1: yes (c->request_len is set), 0: read
   more, or an error status to answer before closing the connection. */
static int request_complete(conn *c) {
    static const char crlf2[] = "\r\n\r\n";
    size_t i, head_len = 0, body_len = 0, n;
    int lines;
    const char *v;
    /* Empty lines before a request line are passed over (RFC 9112 2.2). */
    for (i = 0; i < c->in_len && (c->in[i] == '\r' || c->in[i] == '\n'); i++) {}
    if (i) {
        memmove(c->in, c->in + i, c->in_len - i);
        c->in_len -= i;
        c->scanned = 0;
    }
    /* Search only what is new (and the 3 bytes before, where "\r\n\r\n" may begin). */
    for (i = c->scanned > 3 ? c->scanned - 3 : 0; i + 4 <= c->in_len && !head_len; i++)
        if (memcmp(c->in + i, crlf2, 4) == 0) head_len = i + 4;
    if (!head_len) {
        c->scanned = c->in_len;
        return c->in_len == IN_SIZE ? 431 : 0;
    }
    if (bad_header_name(c->in, head_len)) return 400;
    if (header_value(c->in, head_len, "transfer-encoding", &n, &lines)) return 501;
    if ((v = header_value(c->in, head_len, "content-length", &n, &lines)) != NULL) {
        if (lines > 1) return 400; /* two lengths: which frames the body? (RFC 9112 6.3) */
        if (n == 0 || n > 9) return n ? 413 : 400;
        for (i = 0; i < n; i++) {
            if (v[i] < '0' || v[i] > '9') return 400;
            body_len = body_len * 10 + (size_t)(v[i] - '0');
        }
    }
    if (head_len + body_len > IN_SIZE) return 413;
    c->head_len = head_len;
    c->request_len = head_len + body_len;
    return c->in_len >= c->request_len;
}

/* ---- answering it ---- */

static const char *reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* Write the response into c->out. HEAD gets the head only. */
static void respond(conn *c, int status, int head_only, const char *type, const char *body, size_t len) {
    int n = snprintf(c->out, OUT_SIZE,
                     "HTTP/1.1 %d %s\r\nServer: swapi_server (async_http.h)\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n",
                     status, reason(status), type, len, status == 405 ? "Allow: GET, HEAD\r\n" : "",
                     c->close_after ? "Connection: close\r\n" : "");
    c->out_len = (size_t)n;
    if (!head_only) {
        memcpy(c->out + n, body, len);
        c->out_len += len;
    }
}

static void respond_error(conn *c, int status, int head_only) {
    char body[96];
    int n = snprintf(body, sizeof body, "{\"detail\": \"%s\"}\n", reason(status));
    respond(c, status, head_only, "application/json", body, (size_t)n);
}

/* A request is in c->in[0, request_len): route it. */
static void answer(conn *c) {
    const char *line_end = memchr(c->in, '\r', c->request_len), *method = c->in, *target, *version;
    const char *path_end, *query;
    char body[IN_SIZE + 64]; /* the longest: an echo of a full buffer */
    size_t method_len, target_len, n;
    int head_only, id = 0, digits = 0, lines;
    c->close_after = 1; /* until the request line proves good */
    target = memchr(c->in, ' ', (size_t)(line_end - c->in));
    version = target ? memchr(target + 1, ' ', (size_t)(line_end - target - 1)) : NULL;
    if (!version || target == method || version == target + 1 || line_end - version != 9 ||
        memcmp(version, " HTTP/", 6) != 0 || version[6] < '0' || version[6] > '9' || version[7] != '.' ||
        version[8] < '0' || version[8] > '9') {
        respond_error(c, 400, 0);
        return;
    }
    if (version[6] != '1') { /* HTTP/2.0 and the like: well formed, not ours (RFC 9110 15.6.6) */
        respond_error(c, 505, 0);
        return;
    }
    /* HTTP/1.1 (and a later 1.x, read as 1.1: RFC 9110 2.5) names one host,
       exactly once (RFC 9112 3.2): a proxy and this server must agree on it. */
    if (version[8] != '0' && (!header_value(c->in, c->head_len, "host", &n, &lines) || lines > 1)) {
        respond_error(c, 400, 0);
        return;
    }
    method_len = (size_t)(target - method);
    target++;
    target_len = (size_t)(version - target);
    head_only = method_len == 4 && memcmp(method, "HEAD", 4) == 0;
    /* HTTP/1.1 keeps the connection open unless the client says close; 1.0 closes. */
    c->close_after = version[8] == '0' || asks_close(c->in, c->head_len); /* the head's, not the body's */

    path_end = memchr(target, '?', target_len);
    query = path_end ? path_end + 1 : NULL;
    if (!path_end) path_end = target + target_len;
    if (query && strncmp(query, "delay_ms=", 9) == 0) {
        long ms = strtol(query + 9, NULL, 10);
        c->delay_ns = ASYNC_MS(ms < 0 ? 0 : ms > MAX_DELAY_MS ? MAX_DELAY_MS : ms);
    }
    else if (srv.delay_ms) c->delay_ns = ASYNC_MS(rand() % (srv.delay_ms + 1));

    if (path_end - target == 9 && memcmp(target, "/api/echo", 9) == 0) {
        n = (size_t)snprintf(body, sizeof body, "%.*s %.*s\n", (int)method_len, method, (int)target_len, target);
        memcpy(body + n, c->in + c->head_len, c->request_len - c->head_len);
        respond(c, 200, head_only, "text/plain", body, n + c->request_len - c->head_len);
        return;
    }
    if (path_end - target > 12 && memcmp(target, "/api/people/", 12) == 0) {
        const char *p = target + 12;
        for (; p < path_end && *p >= '0' && *p <= '9' && digits < 4; p++, digits++) id = id * 10 + (*p - '0');
        if (p < path_end && *p == '/') p++;
        if (digits && p == path_end && id >= 1 && id <= PEOPLE) {
            if (!head_only && !(method_len == 3 && memcmp(method, "GET", 3) == 0)) {
                respond_error(c, 405, 0);
                return;
            }
            n = (size_t)person_json(body, sizeof body, id);
            respond(c, 200, head_only, "application/json", body, n);
            return;
        }
    }
    respond_error(c, 404, head_only);
}

/* ---- the tasks ---- */

/* One connection: read a request, answer it, again, until the client closes
   (or asks to), an error, or a cancellation. Every await catches what it
   gets (ASYNC_AWAIT_CATCH), cancellation included, so that the connection
   always reaches `done`, which closes the socket and frees the slot: the
   try/finally of a coroutine. */
/* Each of the stream's steps awaited until it is over, within the deadline
   of the whole request (or answer): wait_for cancels what waits once it
   passes, so that a client that is silent, or sends a byte a minute (a
   slowloris), or reads that slowly, cannot hold its slot forever. A
   caught cancellation ends the loop at once (the next await would write
   over it, and the task would go on as if it had not come). One await per
   line (portable coroutines). */
#define AWAIT_STREAM(t, c, call) \
    while (!(c)->caught && (f = (call)) != NULL) \
    ASYNC_AWAIT_CATCH(t, async_wait_for(t->loop, &(c)->idle, f, (c)->until - async_now(t->loop)), (c)->caught)

static int conn_run(async_task *t) {
    conn *c = (conn *)t;
    async_future *f;
    int status;
    ASYNC_BEGIN(t);
    c->until = async_now(t->loop) + ASYNC_SEC(IDLE_SEC);
    if (srv.use_tls) {
        if (async_stream_tls_server(&c->st, &srv.tls) != 0) goto done;
        AWAIT_STREAM(t, c, async_stream_handshake(&c->st, &c->err));
        if (c->err || c->caught) goto done;
    }
    for (;;) {
        /* A pipelined request may already be in the buffer: look before reading. */
        c->until = async_now(t->loop) + ASYNC_SEC(IDLE_SEC);
        while ((status = request_complete(c)) == 0) {
            c->got = 0;
            AWAIT_STREAM(t, c, async_stream_recv(&c->st, c->in + c->in_len, IN_SIZE - c->in_len, &c->got, &c->err));
            if (c->caught || c->err || c->got == 0) goto done; /* cancelled, idle, failed or closed */
            c->in_len += c->got;
        }
        c->delay_ns = 0;
        if (status == 1) {
            answer(c);
        } else {
            c->close_after = 1; /* the rest of the stream cannot be trusted */
            respond_error(c, status, 0);
        }
        if (c->delay_ns > 0) {
            ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &c->delay, c->delay_ns), c->err);
            if (c->err) goto done;
        }
        c->sent = 0;
        c->until = async_now(t->loop) + ASYNC_SEC(IDLE_SEC);
        AWAIT_STREAM(t, c, async_stream_send(&c->st, c->out, c->out_len, &c->sent, &c->err));
        if (c->caught || c->err) goto done;
        srv.requests++;
        if (c->close_after) break;
        /* Keep the bytes after this request: the start of the next one. */
        c->in_len -= c->request_len;
        memmove(c->in, c->in + c->request_len, c->in_len);
        c->scanned = 0;
    }
done:
    /* Whatever the kernel still holds of the buffers is let go first. */
    while ((f = async_stream_settle(&c->st)) != NULL) ASYNC_AWAIT_CATCH(t, f, c->caught);
    async_stream_close(&c->st); /* close_notify first, over TLS */
    c->fd = -1;
    srv.open--;
    srv.free_list[srv.nfree++] = (int)(c - srv.conns);
    async_semaphore_release(&srv.free_slots);
    ASYNC_END(t);
}

/* Accept connections forever, one task each. */
static int accept_run(async_task *t) {
    acceptor *a = (acceptor *)t;
    conn *c;
    ASYNC_BEGIN(t);
    for (;;) {
        /* A free slot first: while all are taken, new clients wait in the backlog. */
        ASYNC_AWAIT(t, async_semaphore_acquire(&srv.free_slots, &a->slot));
        ASYNC_AWAIT_CATCH(t, async_io_accept(&srv.io, &a->op, srv.listen_fd, NULL, NULL, SOCK_CLOEXEC), a->err);
        if (a->err == ASYNC_ECANCELED) { /* the accept may have made a socket as the cancel came */
            if (!async_error(&a->op.future)) async_io_close_detached(&srv.io, (int)async_result(&a->op.future));
            ASYNC_RAISE(t, ASYNC_ECANCELED);
        }
        if (async_error(&a->op.future)) {
            /* Out of file descriptors, say: report it and let connections close. */
            fprintf(stderr, "swapi_server: accept: %s\n", async_strerror(async_error(&a->op.future)));
            async_semaphore_release(&srv.free_slots);
            ASYNC_AWAIT(t, async_sleep(t->loop, &a->pause, ASYNC_MS(100)));
            continue;
        }
        c = &srv.conns[srv.free_list[--srv.nfree]];
        c->fd = (int)async_result(&a->op.future);
        async_stream_init(&c->st, &srv.io, c->fd);
        /* A slot starts clean: the last connection's error would end this one at its first check. */
        c->in_len = c->scanned = c->got = 0;
        c->err = c->caught = c->close_after = 0;
        c->delay_ns = 0;
        srv.connections++;
        if (++srv.open > srv.max_open) srv.max_open = srv.open;
        async_create_task(t->loop, &c->task, conn_run);
    }
    ASYNC_END(t);
}

/* The main task: wait for SIGINT or SIGTERM, then cancel the acceptor and
   every connection and wait until each has cleaned up. */
static int stop_run(async_task *t) {
    stopper *s = (stopper *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_io_recv(&srv.io, &s->op, srv.signal_pipe[0], &s->signo, 1, 0));
    async_cancel(&srv.acceptor.task);
    for (s->i = 0; s->i < MAX_CONNS; s->i++)
        if (srv.conns[s->i].fd >= 0) async_cancel(&srv.conns[s->i].task);
    /* Each ends cancelled: catch it, or the first would end this task too. */
    ASYNC_AWAIT_CATCH(t, &srv.acceptor.task.future, s->err);
    for (s->i = 0; s->i < MAX_CONNS; s->i++) {
        if (srv.conns[s->i].fd < 0) continue;
        ASYNC_AWAIT_CATCH(t, &srv.conns[s->i].task.future, s->err);
        /* A task cancelled before it first ran never runs, nor its `done`:
           its socket is closed here (nothing of it is in flight). */
        if (srv.conns[s->i].fd >= 0) {
            async_stream_close(&srv.conns[s->i].st);
            srv.conns[s->i].fd = -1;
            srv.open--;
        }
    }
    ASYNC_RETURN(t, s->signo);
    ASYNC_END(t);
}

/* ---- setup ---- */

/* The self-pipe trick: a signal becomes a byte that a task can await. */
static void on_signal(int signo) {
    char byte = (char)signo;
    int saved = errno;
    send(srv.signal_pipe[1], &byte, 1, MSG_DONTWAIT);
    errno = saved;
}

/* Each connection is a file descriptor: allow as many as the hard limit. */
static void raise_fd_limit(void) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < MAX_CONNS + 16)
        fprintf(stderr, "swapi_server: only %lu file descriptors: fewer than %d connections will fit\n",
                (unsigned long)r.rlim_cur, MAX_CONNS);
}

static int listen_on_loopback(int port) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    snprintf(srv.base_url, sizeof srv.base_url, "%s://127.0.0.1:%d", srv.use_tls ? "https" : "http",
             ntohs(a.sin_port));
    return fd;
}

static int usage(void) {
    fprintf(stderr, "usage: swapi_server [--port P] [--delay-ms N] [--tls CERT KEY]\n");
    return 2;
}

/* What the I/O backend has to say (once, if it falls back to epoll). */
static void say(void *user, const char *message) {
    (void)user;
    printf("%s\n", message);
}

int main(int argc, char **argv) {
    static stopper stop;
    struct sigaction sa;
    async_io_config io_cfg;
    int i, port = 0, rc;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc) srv.delay_ms = atoi(argv[++i]);
        else if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
            async_tls_config t;
            memset(&t, 0, sizeof t);
            t.cert_file = argv[++i];
            t.key_file = argv[++i];
            if (async_tls_init(&srv.tls, &t) != 0) {
                fprintf(stderr, "swapi_server: TLS: %s\n", srv.tls.error);
                return 1;
            }
            srv.use_tls = 1;
        } else return usage();
    }
    if (port < 0 || port > 65535 || srv.delay_ms < 0) return usage();
    raise_fd_limit();
    srand((unsigned)getpid());
    if ((srv.listen_fd = listen_on_loopback(port)) < 0) {
        perror("swapi_server: listen");
        return 1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, srv.signal_pipe) != 0) {
        perror("swapi_server: socketpair");
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    async_loop_init(&srv.loop, NULL);
    memset(&io_cfg, 0, sizeof io_cfg);
    io_cfg.log = say; /* where io_uring is refused (a container), the library says it uses epoll */
    if (async_io_init(&srv.io, &srv.loop, &io_cfg) != 0) {
        fprintf(stderr, "swapi_server: %s\n", async_io_error(&srv.io));
        return 1;
    }
    async_semaphore_init(&srv.free_slots, MAX_CONNS);
    for (i = 0; i < MAX_CONNS; i++) {
        srv.conns[i].fd = -1;
        srv.free_list[srv.nfree++] = MAX_CONNS - 1 - i;
    }
    printf("listening on %s\n", srv.base_url);
    fflush(stdout);

    async_create_task(&srv.loop, &srv.acceptor.task, accept_run);
    async_create_task(&srv.loop, &stop.task, stop_run);
    rc = async_run(&srv.loop, &stop.task.future);
    printf("stopped by %s: %lu requests on %lu connections, at most %d at once (%s)\n",
           async_result(&stop.task.future) == SIGINT ? "SIGINT" : "SIGTERM", srv.requests, srv.connections,
           srv.max_open, async_io_backend_name(&srv.io));
    close(srv.listen_fd);
    async_io_exit(&srv.io);
    if (srv.use_tls) async_tls_free(&srv.tls);
    return rc ? 1 : 0;
}
