/* async_http.h - aiohttp in C: an io_uring socket backend for async.h, an
   incremental HTTP/1.1 response parser and an HTTP/1.1 client with a
   keep-alive connection pool. Linux, liburing.

   Do this:
       #define ASYNC_IMPLEMENTATION
       #define ASYNC_HTTP_IMPLEMENTATION
   before you include async.h and this file in *one* C file. Link -luring.

   OVERVIEW
   ========
       async_loop loop;          async_loop_init(&loop, NULL);
       async_io io;              async_io_init(&io, &loop, NULL);   // the ring, on the loop
       async_http_client client; async_http_client_init(&client, &io, NULL);

       async_http_request req = {0};
       async_http_get(&client, &req, "http://127.0.0.1:8080/api/people/1");
       int err = async_run(&loop, &req.task.future);
       if (err) printf("%s\n", async_http_request_error(&req));
       else printf("%d %.*s\n", req.response.status, (int)req.response.body_len, req.response.body);
       async_http_request_release(&req);

       async_http_client_close(&client);
       async_io_exit(&io);

   A request runs as a task: await &req.task.future from a coroutine (or
   gather many), then read req.response. Its result is the status code;
   its error one of the ASYNC_HTTP_E* codes below (or ASYNC_ECANCELED).

   THE BACKEND (async_io_*)
   ========================
   One io_uring per loop, plugged into the loop's backend hook. Socket,
   connect, send, recv, accept and close are awaitable operations, one verb
   each as in liburing; their state (an async_io_op) is your storage and so
   are their buffers, which must stay put until the operation is done.
   Operations are queued and submitted together: one io_uring_enter per loop
   turn. Cancelling an operation (or the task awaiting it) submits an
   io_uring cancel and the operation completes only when the kernel has let
   go of its buffer. The ring asks for SINGLE_ISSUER|DEFER_TASKRUN, then
   COOP_TASKRUN, then nothing, as far as the kernel allows.

   THE CLIENT (async_http_*)
   =========================
   As aiohttp's ClientSession: one client per application, a pool of
   keep-alive connections with a total limit (default 100) and an optional
   per-host limit (requests beyond wait their turn, first come first
   served), ClientTimeout's total (default 300 s), connect and sock_read
   timeouts, a body size limit, and one retry on a fresh connection for an
   idempotent request whose pooled connection the server had closed.
   http:// URLs with IPv4 or [IPv6] literals or host names (resolved once per
   client with getaddrinfo, which blocks, and cached). https:// fails with
   ASYNC_HTTP_ESCHEME: TLS is not built.

   CONFIGURATION
   =============
   async_http_client_config, zero meaning the default: limits, timeouts,
   buffer sizes and the allocator (`alloc(user, ptr, size)`: realloc-like,
   size 0 frees; default realloc/free). async.h itself never allocates; the
   client allocates connection buffers and response bodies through `alloc`.

   LIMITS
   ======
   No TLS, no redirects, no compression, no proxies, no request pipelining.
   Linux 5.19 or later (IORING_OP_SOCKET).
*/
#ifndef ASYNC_HTTP_H
#define ASYNC_HTTP_H

#include "async.h"
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ---- */
enum {
    ASYNC_HTTP_EREFUSED = -4200,         /* connection refused */
    ASYNC_HTTP_ERESET = -4201,           /* connection reset by the server */
    ASYNC_HTTP_ECLOSED = -4202,          /* the server closed the connection before the response ended */
    ASYNC_HTTP_ETIMEOUT_TOTAL = -4203,   /* the total timeout passed */
    ASYNC_HTTP_ETIMEOUT_CONNECT = -4204, /* the connect timeout passed */
    ASYNC_HTTP_ETIMEOUT_READ = -4205,    /* the read (sock_read) timeout passed */
    /* -4206 and -4207 are the parser's: ASYNC_HTTP_EMALFORMED, ASYNC_HTTP_EHEADER_TOO_LARGE */
    ASYNC_HTTP_EBODY_TOO_LARGE = -4208,  /* the body is over the client's max_body_size */
    ASYNC_HTTP_ENAME = -4209,            /* the host name was not found */
    ASYNC_HTTP_ESCHEME = -4210,          /* unsupported URL scheme (https: TLS is not built) */
    ASYNC_HTTP_EURL = -4211,             /* the URL is not valid */
    ASYNC_HTTP_ENOMEM = -4212,           /* the allocator failed */
    ASYNC_HTTP_ENOURING = -4213,         /* io_uring cannot be set up: see async_io_error() */
    ASYNC_HTTP_ENETWORK = -4214,         /* another socket error (unreachable network, ...) */
    ASYNC_HTTP_EHEADER = -4215           /* a request header is not a valid "Name: value" line */
};
/* An operation's raw failure is -errno; async_strerror() names those too. */

/* ---- the io_uring backend ---- */
typedef struct async_io_config {
    unsigned entries; /* submission queue size; 0: 1024 */
    unsigned flags;   /* io_uring_setup flags to use instead of the best the kernel takes */
} async_io_config;

typedef struct async_io {
    struct io_uring ring;
    async_loop *loop;
    unsigned inflight;   /* submissions whose completion has not been seen */
    unsigned setup_flags;/* what the kernel accepted */
    char error[256];     /* why init failed, and what to do */
} async_io;

typedef struct async_io_op {
    async_future future; /* result: the completion's res (>= 0); error: -errno */
    async_io *io;
    int cancel_sent;
} async_io_op;

int async_io_init(async_io *io, async_loop *loop, const async_io_config *config); /* 0 or ASYNC_HTTP_ENOURING */
const char *async_io_error(const async_io *io);
void async_io_exit(async_io *io);

async_future *async_io_socket(async_io *io, async_io_op *op, int domain, int type, int protocol);
async_future *async_io_connect(async_io *io, async_io_op *op, int fd, const struct sockaddr *addr, socklen_t len);
async_future *async_io_send(async_io *io, async_io_op *op, int fd, const void *buf, size_t len, int flags);
async_future *async_io_recv(async_io *io, async_io_op *op, int fd, void *buf, size_t len, int flags);
async_future *async_io_accept(async_io *io, async_io_op *op, int fd, struct sockaddr *addr, socklen_t *len,
                              int flags);
async_future *async_io_close(async_io *io, async_io_op *op, int fd);
/* Close without waiting for the outcome (nobody keeps a buffer). */
void async_io_close_detached(async_io *io, int fd);

/* The message for a failed io_uring_setup (exposed for the tests). */
void async_io__describe_setup_error(char *out, size_t size, int err, int sysctl_disabled);

/* ---- the response parser ---- */
#ifdef ASYNC_HTTP_IMPLEMENTATION
#define ASYNC_HTTP_PARSER_IMPLEMENTATION
#endif
#include "wip/http_parser.h"

/* ---- the client ---- */
typedef struct async_http_client_config {
    size_t limit;                /* connections in all; 0: 100 */
    size_t limit_per_host;       /* 0: no per-host limit */
    async_time timeout_total;    /* whole request, pool wait included; 0: 300 s; ASYNC_NO_TIMEOUT: none */
    async_time timeout_connect;  /* 0 or ASYNC_NO_TIMEOUT: none */
    async_time timeout_sock_read;/* each read; 0 or ASYNC_NO_TIMEOUT: none */
    size_t max_body_size;        /* 0: 64 MiB */
    size_t max_header_bytes;     /* status line + headers; 0: 16 KiB */
    size_t max_headers;          /* 0: 100 */
    size_t recv_buffer_size;     /* per connection; 0: 16 KiB */
    const char *user_agent;      /* NULL: "async_http.h" */
    void *(*alloc)(void *user, void *ptr, size_t size); /* NULL: realloc/free */
    void *alloc_user;
} async_http_client_config;

typedef struct async_http__conn async_http__conn;
typedef struct async_http__host async_http__host;
typedef struct async_http_request async_http_request;

typedef struct async_http_client {
    async_http_client_config config;
    async_io *io;
    async_http__conn *conns; /* `limit` slots */
    async_http__host *hosts;
    size_t nhosts, hosts_cap;
    async_http_request *wait_head, *wait_tail; /* waiting for a connection, FIFO */
    size_t busy;                               /* connections lent to requests */
    uint64_t connects;                         /* connections opened so far */
} async_http_client;

int async_http_client_init(async_http_client *c, async_io *io, const async_http_client_config *config);
/* Closes the pooled connections and frees what the client holds. No
   request may be running. */
void async_http_client_close(async_http_client *c);

typedef struct async_http_response {
    int status, version_minor;
    const char *reason;
    size_t reason_len;
    async_http_header *headers;
    size_t header_count;
    char *body; /* NUL-terminated for convenience (not counted in body_len) */
    size_t body_len;
} async_http_response;

struct async_http_request {
    async_task task; /* await &task.future: result = status, or an error */
    /* Set before starting (zero: nothing / the client's default). */
    const char *const *headers; /* NULL-terminated "Name: value" lines */
    const void *body;
    size_t body_len;
    async_time timeout; /* total timeout of this request; 0: the client's */
    /* The outcome. */
    async_http_response response;
    int error;
    /* Private. */
    async_http_client *client;
    const char *method, *url;
    const char *path;
    size_t path_len;
    size_t host;  /* index in client->hosts */
    struct sockaddr_storage addr; /* the kernel may read it until connect completes */
    socklen_t addrlen;
    long conn;    /* index in client->conns, -1: none */
    int attempt, reused, got_bytes, is_head;
    size_t sent, send_len, body_cap;
    char *head_mem; /* head buffer + header array, one allocation */
    async_http_request *wait_next;
    async_future pool_wait;
    async_io_op op;
    async_wait_for_op wait;
    async_deadline deadline;
    async_http_parser parser;
    int step_err;
    char detail[160];
};

/* Start a request; the returned future is &req->task.future. */
async_future *async_http_fetch(async_http_client *c, async_http_request *req, const char *method, const char *url);
async_future *async_http_get(async_http_client *c, async_http_request *req, const char *url);
async_future *async_http_head(async_http_client *c, async_http_request *req, const char *url);
async_future *async_http_post(async_http_client *c, async_http_request *req, const char *url, const void *body,
                              size_t len);
async_future *async_http_put(async_http_client *c, async_http_request *req, const char *url, const void *body,
                             size_t len);
async_future *async_http_delete(async_http_client *c, async_http_request *req, const char *url);
/* A response header by name (case-insensitive), or NULL. */
const char *async_http_response_header(const async_http_response *r, const char *name, size_t *len);
/* A message for the request's error, with details (where a response was malformed). */
const char *async_http_request_error(const async_http_request *req);
/* Free the response's memory. */
void async_http_request_release(async_http_request *req);

#ifdef __cplusplus
}
#endif
#endif /* ASYNC_HTTP_H */

/* ======================================================================== */
#ifdef ASYNC_HTTP_IMPLEMENTATION
#ifndef ASYNC_HTTP__IMPLEMENTED
#define ASYNC_HTTP__IMPLEMENTED

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ASYNC_HTTP__CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ---- error names ---- */
static const char *async_http__error_name(int code) {
    switch (code) {
    case ASYNC_HTTP_EREFUSED: return "connection refused";
    case ASYNC_HTTP_ERESET: return "connection reset by the server";
    case ASYNC_HTTP_ECLOSED: return "the server closed the connection before the response was complete";
    case ASYNC_HTTP_ETIMEOUT_TOTAL: return "timed out: the total timeout passed";
    case ASYNC_HTTP_ETIMEOUT_CONNECT: return "timed out: the connect timeout passed";
    case ASYNC_HTTP_ETIMEOUT_READ: return "timed out: the read timeout passed (the server went silent)";
    case ASYNC_HTTP_EMALFORMED: return "malformed response";
    case ASYNC_HTTP_EHEADER_TOO_LARGE: return "response headers too large";
    case ASYNC_HTTP_EBODY_TOO_LARGE: return "response body too large";
    case ASYNC_HTTP_ENAME: return "host name not found";
    case ASYNC_HTTP_ESCHEME: return "unsupported URL scheme (https: TLS is not built)";
    case ASYNC_HTTP_EURL: return "invalid URL";
    case ASYNC_HTTP_ENOMEM: return "out of memory";
    case ASYNC_HTTP_ENOURING: return "io_uring is not available";
    case ASYNC_HTTP_ENETWORK: return "network error";
    case ASYNC_HTTP_EHEADER: return "invalid request header";
    default: return "unknown error";
    }
}

static const char *async_http__errno_name(int code) { return strerror(-code); }

static void async_http__register_errors(void) {
    static async_error_domain http = {ASYNC_HTTP_EHEADER, ASYNC_HTTP_EREFUSED, async_http__error_name, NULL};
    static async_error_domain os = {-4095, -1, async_http__errno_name, NULL};
    async_register_errors(&http);
    async_register_errors(&os);
}

/* ======================== the io_uring backend ======================== */

static struct io_uring_sqe *async_io__sqe(async_io *io) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
    if (!sqe) { /* the queue is full: hand it to the kernel now */
        io_uring_submit(&io->ring);
        sqe = io_uring_get_sqe(&io->ring);
    }
    ASYNC_ASSERT(sqe);
    io->inflight++;
    return sqe;
}

static void async_io__op_cancel(async_future *f) {
    async_io_op *op = ASYNC_HTTP__CONTAINER(f, async_io_op, future);
    struct io_uring_sqe *sqe;
    if (op->cancel_sent) return;
    op->cancel_sent = 1;
    sqe = async_io__sqe(op->io);
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
    io_uring_sqe_set_data(sqe, NULL); /* its own completion says nothing we need */
}

static struct io_uring_sqe *async_io__start(async_io *io, async_io_op *op) {
    struct io_uring_sqe *sqe = async_io__sqe(io);
    async_future_init_cancellable(&op->future, async_io__op_cancel);
    op->io = io;
    op->cancel_sent = 0;
    io_uring_sqe_set_data(sqe, op);
    return sqe;
}

async_future *async_io_socket(async_io *io, async_io_op *op, int domain, int type, int protocol) {
    io_uring_prep_socket(async_io__start(io, op), domain, type, protocol, 0);
    return &op->future;
}

async_future *async_io_connect(async_io *io, async_io_op *op, int fd, const struct sockaddr *addr, socklen_t len) {
    io_uring_prep_connect(async_io__start(io, op), fd, addr, len);
    return &op->future;
}

async_future *async_io_send(async_io *io, async_io_op *op, int fd, const void *buf, size_t len, int flags) {
    io_uring_prep_send(async_io__start(io, op), fd, buf, len, flags | MSG_NOSIGNAL);
    return &op->future;
}

async_future *async_io_recv(async_io *io, async_io_op *op, int fd, void *buf, size_t len, int flags) {
    io_uring_prep_recv(async_io__start(io, op), fd, buf, len, flags);
    return &op->future;
}

async_future *async_io_accept(async_io *io, async_io_op *op, int fd, struct sockaddr *addr, socklen_t *len,
                              int flags) {
    io_uring_prep_accept(async_io__start(io, op), fd, addr, len, flags);
    return &op->future;
}

async_future *async_io_close(async_io *io, async_io_op *op, int fd) {
    io_uring_prep_close(async_io__start(io, op), fd);
    return &op->future;
}

void async_io_close_detached(async_io *io, int fd) {
    struct io_uring_sqe *sqe = async_io__sqe(io);
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data(sqe, NULL);
}

static void async_io__complete(async_io_op *op, int res) {
    if (res >= 0) async_future_set_result(&op->future, res);
    else if (op->cancel_sent && (res == -ECANCELED || res == -EINTR)) async_future_set_error(&op->future, ASYNC_ECANCELED);
    else async_future_set_error(&op->future, res);
}

/* Reap every completion. A completion may wake tasks (into the ready queue)
   and run combinators' wake functions, which may queue submissions, never
   touch the completion queue. */
static void async_io__reap(async_io *io) {
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&io->ring, head, cqe) {
        async_io_op *op = (async_io_op *)io_uring_cqe_get_data(cqe);
        seen++;
        io->inflight--;
        if (op) async_io__complete(op, cqe->res);
    }
    io_uring_cq_advance(&io->ring, seen);
}

static int async_io__poll(void *backend, async_time timeout) {
    async_io *io = (async_io *)backend;
    int rc;
    if (timeout < 0 && io->inflight == 0) return ASYNC_EDEADLK;
    if (timeout == 0) {
        rc = io_uring_submit_and_get_events(&io->ring);
    } else {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts;
        ts.tv_sec = timeout / 1000000000;
        ts.tv_nsec = timeout % 1000000000;
        rc = io_uring_submit_and_wait_timeout(&io->ring, &cqe, 1, timeout < 0 ? NULL : &ts, NULL);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) return rc;
    async_io__reap(io);
    return 0;
}

void async_io__describe_setup_error(char *out, size_t size, int err, int sysctl_disabled) {
    if (sysctl_disabled == 2)
        snprintf(out, size, "io_uring is disabled on this machine (sysctl kernel.io_uring_disabled = 2); "
                            "enable it with: sysctl -w kernel.io_uring_disabled=0");
    else if (sysctl_disabled == 1 && err == -EPERM)
        snprintf(out, size, "io_uring is restricted to the group in kernel.io_uring_io_uring_group "
                            "(sysctl kernel.io_uring_disabled = 1); run as a member of that group, or: "
                            "sysctl -w kernel.io_uring_disabled=0");
    else if (err == -ENOSYS)
        snprintf(out, size, "io_uring_setup is not available (ENOSYS): the kernel is too old or built without "
                            "io_uring, or a seccomp profile (a container's default) blocks it; use Linux 5.19+ "
                            "and allow io_uring_setup/io_uring_enter/io_uring_register in the seccomp profile");
    else if (err == -EPERM)
        snprintf(out, size, "io_uring_setup was refused (EPERM): a seccomp profile or security module blocks "
                            "io_uring; allow io_uring_setup/io_uring_enter/io_uring_register for this program");
    else if (err == -ENOMEM)
        snprintf(out, size, "io_uring_setup ran out of locked memory (ENOMEM): raise the limit (ulimit -l) or "
                            "ask for fewer entries");
    else
        snprintf(out, size, "io_uring_setup failed: %s", strerror(-err));
}

static int async_io__sysctl_disabled(void) {
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
    int v = 0;
    if (!f) return 0;
    if (fscanf(f, "%d", &v) != 1) v = 0;
    fclose(f);
    return v;
}

int async_io_init(async_io *io, async_loop *loop, const async_io_config *config) {
    /* The best set of flags first; older kernels refuse newer flags with EINVAL. */
    static const unsigned tries[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        0,
    };
    unsigned entries = config && config->entries ? config->entries : 1024;
    size_t i;
    int rc = -EINVAL;
    memset(io, 0, sizeof *io);
    async_http__register_errors();
    for (i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = config && config->flags ? config->flags : tries[i];
        p.cq_entries = entries * 4; /* room for a burst of completions */
        p.flags |= IORING_SETUP_CQSIZE;
        rc = io_uring_queue_init_params(entries, &io->ring, &p);
        if (rc == 0) {
            io->setup_flags = p.flags;
            break;
        }
        if (rc != -EINVAL || (config && config->flags)) break;
    }
    if (rc < 0) {
        async_io__describe_setup_error(io->error, sizeof io->error, rc, async_io__sysctl_disabled());
        return ASYNC_HTTP_ENOURING;
    }
    io->loop = loop;
    async_loop_set_backend(loop, async_io__poll, io);
    return 0;
}

const char *async_io_error(const async_io *io) { return io->error; }

void async_io_exit(async_io *io) {
    /* Whatever is still in flight is the caller's to have finished first. */
    io_uring_submit(&io->ring);
    io_uring_queue_exit(&io->ring);
    if (io->loop && io->loop->backend == io) async_loop_set_backend(io->loop, NULL, NULL);
}

/* ============================== the client ============================== */

enum { ASYNC_HTTP__FREE, ASYNC_HTTP__IDLE, ASYNC_HTTP__BUSY };

struct async_http__conn {
    int fd;
    int state;
    size_t host;
    unsigned served; /* responses read on it: > 0 means a reused connection */
    char *rbuf, *sbuf;
    size_t scap;
};

struct async_http__host {
    char *name; /* as in the URL, brackets of IPv6 literals removed */
    unsigned port;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *host_header; /* "name" or "name:port" */
    size_t busy;       /* connections lent out for it */
    int resolve_error; /* 0, or ASYNC_HTTP_ENAME: cached either way */
};

static void *async_http__default_alloc(void *user, void *ptr, size_t size) {
    (void)user;
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, size);
}

static void *async_http__alloc(async_http_client *c, void *ptr, size_t size) {
    return c->config.alloc(c->config.alloc_user, ptr, size);
}

int async_http_client_init(async_http_client *c, async_io *io, const async_http_client_config *config) {
    async_http_client_config *cfg = &c->config;
    size_t i;
    memset(c, 0, sizeof *c);
    if (config) *cfg = *config;
    if (!cfg->limit) cfg->limit = 100;
    if (!cfg->timeout_total) cfg->timeout_total = ASYNC_SEC(300);
    if (!cfg->max_body_size) cfg->max_body_size = (size_t)64 << 20;
    if (!cfg->max_header_bytes) cfg->max_header_bytes = 16 << 10;
    if (!cfg->max_headers) cfg->max_headers = 100;
    if (!cfg->recv_buffer_size) cfg->recv_buffer_size = 16 << 10;
    if (!cfg->user_agent) cfg->user_agent = "async_http.h";
    if (!cfg->alloc) cfg->alloc = async_http__default_alloc;
    c->io = io;
    async_http__register_errors();
    c->conns = (async_http__conn *)async_http__alloc(c, NULL, cfg->limit * sizeof *c->conns);
    if (!c->conns) return ASYNC_HTTP_ENOMEM;
    memset(c->conns, 0, cfg->limit * sizeof *c->conns);
    for (i = 0; i < cfg->limit; i++) c->conns[i].fd = -1;
    return 0;
}

static void async_http__conn_close(async_http_client *c, async_http__conn *k) {
    if (k->fd >= 0) async_io_close_detached(c->io, k->fd);
    k->fd = -1;
    k->served = 0;
}

void async_http_client_close(async_http_client *c) {
    size_t i;
    if (!c->conns) return;
    for (i = 0; i < c->config.limit; i++) {
        async_http__conn *k = &c->conns[i];
        if (k->fd >= 0) close(k->fd);
        async_http__alloc(c, k->rbuf, 0);
        async_http__alloc(c, k->sbuf, 0);
    }
    for (i = 0; i < c->nhosts; i++) {
        async_http__alloc(c, c->hosts[i].name, 0);
        async_http__alloc(c, c->hosts[i].host_header, 0);
    }
    async_http__alloc(c, c->hosts, 0);
    async_http__alloc(c, c->conns, 0);
    c->conns = NULL;
    c->hosts = NULL;
}

/* ---- URLs and hosts ---- */
static char *async_http__strndup(async_http_client *c, const char *s, size_t n) {
    char *d = (char *)async_http__alloc(c, NULL, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static int async_http__resolve(async_http__host *h) {
    struct addrinfo hints, *res = NULL;
    struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)&h->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)&h->addr;
    memset(&h->addr, 0, sizeof h->addr);
    if (inet_pton(AF_INET, h->name, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)h->port);
        h->addrlen = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, h->name, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)h->port);
        h->addrlen = sizeof *v6;
        return 0;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    if (getaddrinfo(h->name, NULL, &hints, &res) != 0 || !res) return ASYNC_HTTP_ENAME;
    memcpy(&h->addr, res->ai_addr, res->ai_addrlen);
    h->addrlen = (socklen_t)res->ai_addrlen;
    if (res->ai_family == AF_INET) v4->sin_port = htons((uint16_t)h->port);
    else v6->sin6_port = htons((uint16_t)h->port);
    freeaddrinfo(res);
    return 0;
}

/* The host's index in the cache, resolving it the first time. */
static int async_http__host_lookup(async_http_client *c, const char *name, size_t name_len, unsigned port,
                                   int bracketed, size_t *index) {
    size_t i;
    async_http__host *h;
    char portbuf[16];
    for (i = 0; i < c->nhosts; i++) {
        h = &c->hosts[i];
        if (h->port == port && strlen(h->name) == name_len && memcmp(h->name, name, name_len) == 0) {
            *index = i;
            return h->resolve_error;
        }
    }
    if (c->nhosts == c->hosts_cap) {
        size_t cap = c->hosts_cap ? c->hosts_cap * 2 : 8;
        async_http__host *grown = (async_http__host *)async_http__alloc(c, c->hosts, cap * sizeof *grown);
        if (!grown) return ASYNC_HTTP_ENOMEM;
        c->hosts = grown;
        c->hosts_cap = cap;
    }
    h = &c->hosts[c->nhosts];
    memset(h, 0, sizeof *h);
    h->port = port;
    h->name = async_http__strndup(c, name, name_len);
    snprintf(portbuf, sizeof portbuf, ":%u", port);
    h->host_header = (char *)async_http__alloc(c, NULL, name_len + 2 + sizeof portbuf);
    if (!h->name || !h->host_header) {
        async_http__alloc(c, h->name, 0);
        async_http__alloc(c, h->host_header, 0);
        return ASYNC_HTTP_ENOMEM;
    }
    snprintf(h->host_header, name_len + 2 + sizeof portbuf, "%s%s%s%s", bracketed ? "[" : "", h->name,
             bracketed ? "]" : "", port == 80 ? "" : portbuf);
    h->resolve_error = async_http__resolve(h);
    *index = c->nhosts++;
    return h->resolve_error;
}

/* http://host[:port][/path][?query][#fragment] */
static int async_http__parse_url(async_http_request *r) {
    const char *u = r->url, *host, *host_end, *p;
    unsigned long port = 80;
    int bracketed = 0;
    if (strncmp(u, "https://", 8) == 0) return ASYNC_HTTP_ESCHEME;
    if (strncmp(u, "http://", 7) != 0) return strstr(u, "://") ? ASYNC_HTTP_ESCHEME : ASYNC_HTTP_EURL;
    host = u + 7;
    if (*host == '[') {
        bracketed = 1;
        host++;
        host_end = strchr(host, ']');
        if (!host_end) return ASYNC_HTTP_EURL;
        p = host_end + 1;
    } else {
        host_end = host + strcspn(host, ":/?#");
        p = host_end;
    }
    if (host_end == host || memchr(host, '@', (size_t)(host_end - host))) return ASYNC_HTTP_EURL;
    if (*p == ':') {
        char *end;
        p++;
        if (*p < '0' || *p > '9') return ASYNC_HTTP_EURL;
        port = strtoul(p, &end, 10);
        if (port == 0 || port > 65535) return ASYNC_HTTP_EURL;
        p = end;
    }
    if (*p && *p != '/' && *p != '?' && *p != '#') return ASYNC_HTTP_EURL;
    r->path = *p == '/' || *p == '?' ? p : "/";
    r->path_len = *p == '/' || *p == '?' ? strcspn(p, "#") : 1;
    {
        size_t k;
        for (k = 0; k < r->path_len; k++)
            if ((unsigned char)r->path[k] <= ' ' || r->path[k] == 0x7f) return ASYNC_HTTP_EURL;
    }
    return async_http__host_lookup(r->client, host, (size_t)(host_end - host), (unsigned)port, bracketed, &r->host);
}

/* ---- the pool ---- */
static int async_http__host_may_open(async_http_client *c, size_t host) {
    return !c->config.limit_per_host || c->hosts[host].busy < c->config.limit_per_host;
}

/* A connection for the request: an idle one to its host, else a free slot,
   else an idle slot of another host (closed). -1 if it must wait. */
static long async_http__pick(async_http_client *c, size_t host) {
    long free_slot = -1, other_idle = -1;
    size_t i;
    if (!async_http__host_may_open(c, host)) return -1;
    for (i = 0; i < c->config.limit; i++) {
        async_http__conn *k = &c->conns[i];
        if (k->state == ASYNC_HTTP__IDLE && k->host == host) return (long)i;
        if (k->state == ASYNC_HTTP__FREE && free_slot < 0) free_slot = (long)i;
        if (k->state == ASYNC_HTTP__IDLE && other_idle < 0) other_idle = (long)i;
    }
    if (free_slot >= 0) return free_slot;
    if (other_idle >= 0) async_http__conn_close(c, &c->conns[other_idle]);
    return other_idle;
}

static void async_http__lend(async_http_client *c, async_http_request *r, long slot) {
    async_http__conn *k = &c->conns[slot];
    if (k->state != ASYNC_HTTP__IDLE || k->host != r->host) async_http__conn_close(c, k);
    k->state = ASYNC_HTTP__BUSY;
    k->host = r->host;
    c->hosts[r->host].busy++;
    c->busy++;
    r->conn = slot;
}

static void async_http__pool_wait_cancel(async_future *f) {
    async_http_request *r = ASYNC_HTTP__CONTAINER(f, async_http_request, pool_wait), **pp;
    async_http_client *c = r->client;
    async_http_request *prev = NULL;
    for (pp = &c->wait_head; *pp; prev = *pp, pp = &(*pp)->wait_next) {
        if (*pp == r) {
            *pp = r->wait_next;
            if (c->wait_tail == r) c->wait_tail = prev;
            break;
        }
    }
    async_future_set_error(f, ASYNC_ECANCELED);
}

/* Give freed capacity to the waiters, first come first served (a waiter
   whose host is at its own limit lets the next one go). */
static void async_http__serve_waiters(async_http_client *c) {
    async_http_request *r = c->wait_head, *prev = NULL;
    while (r) {
        async_http_request *next = r->wait_next;
        long slot = async_http__pick(c, r->host);
        if (slot >= 0) {
            if (prev) prev->wait_next = next;
            else c->wait_head = next;
            if (c->wait_tail == r) c->wait_tail = prev;
            async_http__lend(c, r, slot);
            async_future_set_result(&r->pool_wait, 0);
        } else {
            if (c->busy >= c->config.limit) return;
            prev = r;
        }
        r = next;
    }
}

/* Take the request's connection back: pooled if it may carry another
   response, else closed. */
static void async_http__give_back(async_http_client *c, async_http_request *r, int keep) {
    async_http__conn *k;
    if (r->conn < 0) return;
    k = &c->conns[r->conn];
    if (keep) {
        k->state = ASYNC_HTTP__IDLE;
        k->served++;
    } else {
        async_http__conn_close(c, k);
        k->state = ASYNC_HTTP__FREE;
    }
    c->hosts[k->host].busy--;
    c->busy--;
    r->conn = -1;
    async_http__serve_waiters(c);
}

/* ---- the request ---- */
static int async_http__idempotent(const char *m) {
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") || !strcmp(m, "DELETE") ||
           !strcmp(m, "OPTIONS") || !strcmp(m, "TRACE");
}

static int async_http__on_body(void *user, const char *data, size_t len) {
    async_http_request *r = (async_http_request *)user;
    async_http_client *c = r->client;
    size_t need = r->response.body_len + len + 1;
    if (r->response.body_len + len > c->config.max_body_size) return ASYNC_HTTP_EBODY_TOO_LARGE;
    if (need > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap * 2 : 4096;
        char *grown;
        if (r->parser.content_length >= 0 && (size_t)r->parser.content_length + 1 > cap)
            cap = (size_t)r->parser.content_length + 1;
        while (cap < need) cap *= 2;
        grown = (char *)async_http__alloc(c, r->response.body, cap);
        if (!grown) return ASYNC_HTTP_ENOMEM;
        r->response.body = grown;
        r->body_cap = cap;
    }
    memcpy(r->response.body + r->response.body_len, data, len);
    r->response.body_len += len;
    return 0;
}

/* Write the request into the connection's send buffer. */
static int async_http__build(async_http_request *r, async_http__conn *k) {
    async_http_client *c = r->client;
    const char *const *h;
    size_t need = strlen(r->method) + r->path_len + strlen(c->hosts[r->host].host_header) +
                  strlen(c->config.user_agent) + r->body_len + 128;
    char *p;
    for (h = r->headers; h && *h; h++) {
        const char *colon = strchr(*h, ':');
        if (!colon || colon == *h || strpbrk(*h, "\r\n")) return ASYNC_HTTP_EHEADER;
        need += strlen(*h) + 2;
    }
    if (need > k->scap) {
        char *grown = (char *)async_http__alloc(c, k->sbuf, need);
        if (!grown) return ASYNC_HTTP_ENOMEM;
        k->sbuf = grown;
        k->scap = need;
    }
    p = k->sbuf;
    p += sprintf(p, "%s %.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n", r->method, (int)r->path_len, r->path,
                 c->hosts[r->host].host_header, c->config.user_agent);
    for (h = r->headers; h && *h; h++) p += sprintf(p, "%s\r\n", *h);
    if (r->body_len || !strcmp(r->method, "POST") || !strcmp(r->method, "PUT"))
        p += sprintf(p, "Content-Length: %zu\r\n", r->body_len);
    p += sprintf(p, "\r\n");
    if (r->body_len) {
        memcpy(p, r->body, r->body_len);
        p += r->body_len;
    }
    r->send_len = (size_t)(p - k->sbuf);
    return 0;
}

/* Map an operation's failure to the client's codes. */
static int async_http__net_error(int err) {
    switch (err) {
    case -ECONNREFUSED: return ASYNC_HTTP_EREFUSED;
    case -ECONNRESET:
    case -EPIPE: return ASYNC_HTTP_ERESET;
    case ASYNC_ECANCELED: return ASYNC_ECANCELED;
    default: return err < 0 && err > -4096 ? ASYNC_HTTP_ENETWORK : err;
    }
}

/* A pooled connection the server closed meanwhile shows as a reset or an
   end of stream before any byte of the response. */
static int async_http__may_retry(async_http_request *r, int err) {
    return r->reused && !r->got_bytes && r->attempt == 0 && async_http__idempotent(r->method) &&
           (err == ASYNC_HTTP_ERESET || err == ASYNC_HTTP_ECLOSED);
}

/* Await f with a timeout (none if <= 0); on timeout the result is ASYNC_ETIMEDOUT. */
static async_future *async_http__timed(async_http_request *r, async_future *f, async_time timeout) {
    if (timeout <= 0) return f;
    return async_wait_for(r->task.loop, &r->wait, f, timeout);
}

#define ASYNC_HTTP__FAIL(r, code)                                                    \
    do {                                                                             \
        (r)->error = (code);                                                         \
        goto fail;                                                                   \
    } while (0)

static int async_http__run(async_task *t) {
    async_http_request *r = (async_http_request *)t;
    async_http_client *c = r->client;
    async_http__conn *k;
    int rc;
    ASYNC_BEGIN(t);
    r->error = async_http__parse_url(r);
    if (r->error) ASYNC_RAISE(t, r->error);
    {
        async_time total = r->timeout ? r->timeout : c->config.timeout_total;
        if (total > 0) async_deadline_start(t->loop, &r->deadline, t, total);
    }
retry:
    r->got_bytes = 0;
    /* A connection from the pool, or a turn in the queue for one. */
    {
        long slot = c->wait_head ? -1 : async_http__pick(c, r->host);
        if (slot >= 0) {
            async_http__lend(c, r, slot);
        } else {
            async_future_init_cancellable(&r->pool_wait, async_http__pool_wait_cancel);
            r->wait_next = NULL;
            if (c->wait_tail) c->wait_tail->wait_next = r;
            else c->wait_head = r;
            c->wait_tail = r;
        }
    }
    if (r->conn < 0) {
        ASYNC_AWAIT_CATCH(t, &r->pool_wait, r->step_err);
        if (r->step_err) ASYNC_HTTP__FAIL(r, r->step_err);
    }
    k = &c->conns[r->conn];
    r->reused = k->fd >= 0;
    if (k->fd < 0) {
        r->addr = c->hosts[r->host].addr;
        r->addrlen = c->hosts[r->host].addrlen;
        ASYNC_AWAIT_CATCH(t, async_io_socket(c->io, &r->op, r->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0),
                          r->step_err);
        if (r->step_err) ASYNC_HTTP__FAIL(r, async_http__net_error(r->step_err));
        k = &c->conns[r->conn];
        k->fd = (int)async_result(&r->op.future);
        c->connects++;
        ASYNC_AWAIT_CATCH(t,
                          async_http__timed(r, async_io_connect(c->io, &r->op, k->fd,
                                                                (struct sockaddr *)&r->addr, r->addrlen),
                                            c->config.timeout_connect),
                          r->step_err);
        if (r->step_err == ASYNC_ETIMEDOUT && !async_task_cancelling(t)) ASYNC_HTTP__FAIL(r, ASYNC_HTTP_ETIMEOUT_CONNECT);
        if (r->step_err) ASYNC_HTTP__FAIL(r, async_http__net_error(r->step_err));
        k = &c->conns[r->conn];
        if (!k->rbuf) {
            k->rbuf = (char *)async_http__alloc(c, NULL, c->config.recv_buffer_size);
            if (!k->rbuf) ASYNC_HTTP__FAIL(r, ASYNC_HTTP_ENOMEM);
        }
    }
    k = &c->conns[r->conn];
    rc = async_http__build(r, k);
    if (rc) ASYNC_HTTP__FAIL(r, rc);
    for (r->sent = 0; r->sent < r->send_len;) {
        k = &c->conns[r->conn];
        ASYNC_AWAIT_CATCH(t, async_io_send(c->io, &r->op, k->fd, k->sbuf + r->sent, r->send_len - r->sent, 0),
                          r->step_err);
        if (r->step_err) ASYNC_HTTP__FAIL(r, async_http__net_error(r->step_err));
        r->sent += (size_t)async_result(&r->op.future);
    }
    /* Read until the parser says the response is complete. */
    if (!r->head_mem) {
        r->head_mem = (char *)async_http__alloc(
            c, NULL, c->config.max_header_bytes + c->config.max_headers * sizeof(async_http_header));
        if (!r->head_mem) ASYNC_HTTP__FAIL(r, ASYNC_HTTP_ENOMEM);
    }
    async_http_parser_init(&r->parser, r->head_mem + c->config.max_headers * sizeof(async_http_header),
                           c->config.max_header_bytes, (async_http_header *)(void *)r->head_mem,
                           c->config.max_headers, r->is_head, async_http__on_body, r);
    r->response.body_len = 0;
    for (;;) {
        k = &c->conns[r->conn];
        ASYNC_AWAIT_CATCH(t,
                          async_http__timed(r, async_io_recv(c->io, &r->op, k->fd, k->rbuf,
                                                             c->config.recv_buffer_size, 0),
                                            c->config.timeout_sock_read),
                          r->step_err);
        if (r->step_err == ASYNC_ETIMEDOUT && !async_task_cancelling(t)) ASYNC_HTTP__FAIL(r, ASYNC_HTTP_ETIMEOUT_READ);
        if (r->step_err) ASYNC_HTTP__FAIL(r, async_http__net_error(r->step_err));
        {
            size_t n = (size_t)async_result(&r->op.future), used = 0;
            k = &c->conns[r->conn];
            if (n == 0) {
                rc = async_http_parser_eof(&r->parser);
                if (rc == 1) break;
                ASYNC_HTTP__FAIL(r, r->parser.offset == 0 ? ASYNC_HTTP_ECLOSED : rc);
            }
            r->got_bytes = 1;
            rc = async_http_parser_feed(&r->parser, k->rbuf, n, &used);
            if (rc < 0) ASYNC_HTTP__FAIL(r, rc);
            if (rc == 1) {
                if (used != n) r->parser.keep_alive = 0; /* stray bytes: the stream is off */
                break;
            }
        }
    }
    async_http__give_back(c, r, r->parser.keep_alive);
    async_deadline_stop(&r->deadline);
    {
        async_http_response *resp = &r->response;
        resp->status = r->parser.status;
        resp->version_minor = r->parser.version_minor;
        resp->reason = r->parser.reason;
        resp->reason_len = r->parser.reason_len;
        resp->headers = r->parser.headers;
        resp->header_count = r->parser.header_count;
        if (!resp->body) resp->body = (char *)"";
        else resp->body[resp->body_len] = 0;
    }
    ASYNC_RETURN(t, r->response.status);

fail:
    async_http__give_back(c, r, 0);
    if (async_task_cancelling(t) == ASYNC_ETIMEDOUT) r->error = ASYNC_HTTP_ETIMEOUT_TOTAL;
    else if (async_task_cancelling(t)) r->error = ASYNC_ECANCELED;
    else if (async_http__may_retry(r, r->error)) {
        r->attempt++;
        goto retry;
    }
    async_deadline_stop(&r->deadline);
    if (r->error == ASYNC_HTTP_EMALFORMED || r->error == ASYNC_HTTP_EHEADER_TOO_LARGE)
        snprintf(r->detail, sizeof r->detail, "%s: %s at byte %zu", async_strerror(r->error),
                 r->parser.error_reason ? r->parser.error_reason : "?", r->parser.error_offset);
    ASYNC_RAISE(t, r->error);
    ASYNC_END(t);
}

async_future *async_http_fetch(async_http_client *c, async_http_request *req, const char *method, const char *url) {
    memset(&req->response, 0, sizeof req->response);
    req->error = 0;
    req->client = c;
    req->method = method;
    req->url = url;
    req->conn = -1;
    req->attempt = 0;
    req->is_head = !strcmp(method, "HEAD");
    req->detail[0] = 0;
    req->head_mem = NULL;
    req->body_cap = 0;
    memset(&req->deadline, 0, sizeof req->deadline);
    return async_create_task(c->io->loop, &req->task, async_http__run);
}

async_future *async_http_get(async_http_client *c, async_http_request *req, const char *url) {
    return async_http_fetch(c, req, "GET", url);
}

async_future *async_http_head(async_http_client *c, async_http_request *req, const char *url) {
    return async_http_fetch(c, req, "HEAD", url);
}

async_future *async_http_post(async_http_client *c, async_http_request *req, const char *url, const void *body,
                              size_t len) {
    req->body = body;
    req->body_len = len;
    return async_http_fetch(c, req, "POST", url);
}

async_future *async_http_put(async_http_client *c, async_http_request *req, const char *url, const void *body,
                             size_t len) {
    req->body = body;
    req->body_len = len;
    return async_http_fetch(c, req, "PUT", url);
}

async_future *async_http_delete(async_http_client *c, async_http_request *req, const char *url) {
    return async_http_fetch(c, req, "DELETE", url);
}

const char *async_http_response_header(const async_http_response *r, const char *name, size_t *len) {
    return async_http_header_find(r->headers, r->header_count, name, len);
}

const char *async_http_request_error(const async_http_request *req) {
    int err = async_error(&req->task.future);
    if (req->detail[0]) return req->detail;
    return async_strerror(err ? err : req->error);
}

void async_http_request_release(async_http_request *req) {
    async_http_client *c = req->client;
    if (!c) return;
    if (req->body_cap) async_http__alloc(c, req->response.body, 0);
    async_http__alloc(c, req->head_mem, 0);
    req->head_mem = NULL;
    req->body_cap = 0;
    memset(&req->response, 0, sizeof req->response);
}

#endif /* ASYNC_HTTP__IMPLEMENTED */
#endif /* ASYNC_HTTP_IMPLEMENTATION */
