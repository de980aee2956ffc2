/* net.h - what the tests that talk to sockets share (test_http, test_hostile, test_faults,
 * soak, fuzz_client): static helpers, test-only; not every test uses every one of them.
 *
 *   count_fds, msleep, now_ms              open fds, sleeping, a monotonic clock in ms
 *   loopback_addr, listen_on_loopback,     127.0.0.1: an address, a listening socket on a port
 *   free_port, wait_for_port               the kernel picks, a port nothing listens on, waiting
 *                                          until something does
 *   server_start, server_start6,           a scripted server: a thread accepts, and each
 *   server_start_port, server_stop,        connection runs a scenario in a thread of its own on
 *   server_drained, ...                    plain blocking sockets; the scenarios' tools
 *                                          read_request, send_all, send_str, wait_sent,
 *                                          reset_connection;
 *                                          play_ok, the well-behaved scenario
 *   server_hold, server_release            answers wait until the test lets them go
 *   server_mark, WAIT_UNTIL                a scenario marks its progress; waiting for it
 *   play_capture, server_received,         the capture server: records every request's raw
 *   server_capture                         bytes (head and body), in arrival order across
 *                                          servers, then answers (s->responses, one per request)
 *   run_until, run_until_received,         run a loop until a condition holds (bounded)
 *   run_until_each_received
 *   fixture_init, fixture_write,           a temp dir of files served by child processes
 *   fixture_spawn, fixture_nginx,          (nginx from a config of the test's, python3), ended
 *   fixture_stop                           and removed by fixture_stop
 *   env_init, env_flush, env_close         one loop, one ring, one client
 *   env_init_stalling, fired_on_time       the same on a clock that jumps while the peer stalls
 *   env_init_with                          either, with a ring config of the test's
 *   fetch, fetch_new                       one request, run to its end
 *   scribble_private                       a request's private part filled with garbage
 *   run_gathered                           many at once, run until all are done
 *   counting_alloc, alloc_count            an allocator that counts what the client holds
 *
 * Include it after async.h and async_http.h (and their implementations); the tests define
 * _GNU_SOURCE before their first include (memmem, mkdtemp, SOCK_CLOEXEC). Link -lpthread. */
#ifndef NET_H
#define NET_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* of use only when this header comes before any system header */
#endif
#include "../async.h"
#include "../async_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Static, and no warning in a test that leaves some of them unused. */
#if defined(__GNUC__)
#define NET_FN static __attribute__((unused))
#else
#define NET_FN static
#endif

/* ------------------------------------------------------------------ */
/* fds and time                                                        */

NET_FN int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

NET_FN void msleep(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

NET_FN double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ */
/* 127.0.0.1                                                           */

NET_FN void loopback_addr(struct sockaddr_in *a, int port) {
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* A socket listening on 127.0.0.1, on the port the kernel chose (*port); exits on failure. */
NET_FN int listen_on_loopback(int backlog, int *port) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    loopback_addr(&a, 0);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, backlog)) {
        perror("listen");
        exit(2);
    }
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port of 127.0.0.1 that nothing listens on. */
NET_FN int free_port(void) {
    int port, fd = listen_on_loopback(1, &port);
    close(fd);
    return port;
}

/* Whether something accepts connections on 127.0.0.1:port within 6 s. */
NET_FN int wait_for_port(int port) {
    int i;
    for (i = 0; i < 300; i++) {
        struct sockaddr_in a;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;
        loopback_addr(&a, port);
        ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) return 1;
        msleep(20);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* a scripted server: each connection runs a scenario in a thread      */

typedef struct server server;
typedef void (*scenario)(server *s, int fd, int index); /* index: the connection's, from 0 */

struct server {
    int fd, port;
    scenario play;
    pthread_t thread;
    pthread_mutex_t lock;
    int accepted, open, max_open, stop; /* under lock */
    int marks;            /* under lock: what a scenario has done, as it counts it (server_mark) */
    int delay_ms;         /* play_ok's pause before each answer (a scenario may read it otherwise) */
    const char *response; /* what play_ok and the tests' own scenarios send */
    /* play_ok and play_capture: */
    int held;             /* under lock: answers wait until server_release() (server_hold) */
    pthread_cond_t cond;  /* signalled when held drops or stop is set */
    /* play_capture: */
    const char *const *responses; /* the i-th request the server received gets responses[i],
                                     the last one those beyond; NULL: response, or OK_RESPONSE */
    int body_after_ms;    /* > 0: a response's head goes out alone, the rest this much later */
    struct captured **captures; /* under lock: every request received, in order (ncaptured) */
    int ncaptured, captures_cap;
    struct conn_arg *conns; /* under lock: the connections whose scenario still runs */
};

/* A request as the capture server received it, byte for byte. */
typedef struct captured {
    char *bytes;    /* head, then the body its Content-Length frames; NUL-terminated */
    size_t len;     /* of bytes */
    size_t head_len;/* up to and including the empty line; 0 if the head never ended */
    int complete;   /* 0: the client closed the connection before the request ended */
    int conn;       /* the index of the connection it came on (0: the server's first) */
    unsigned long seq; /* arrival order across every capture server of the process, from 1 */
} captured;

#define OK_RESPONSE "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

NET_FN void server_count(server *s, int delta) {
    pthread_mutex_lock(&s->lock);
    s->open += delta;
    if (s->open > s->max_open) s->max_open = s->open;
    pthread_mutex_unlock(&s->lock);
}

/* A counter of s (&s->open, &s->stop, ...), read under its lock. */
NET_FN int server_get(server *s, const int *field) {
    int n;
    pthread_mutex_lock(&s->lock);
    n = *field;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* The connections open now. */
NET_FN int server_open(server *s) { return server_get(s, &s->open); }

/* A scenario says it got somewhere (what the test waits for, instead of a sleep). */
NET_FN void server_mark(server *s) {
    pthread_mutex_lock(&s->lock);
    s->marks++;
    pthread_mutex_unlock(&s->lock);
}

/* Waits, up to ms, until cond holds: for what another thread or process does, without
   guessing how long it takes. The test then checks cond itself. */
#define WAIT_UNTIL(cond, ms)                                                              \
    do {                                                                                  \
        int waited_;                                                                      \
        for (waited_ = 0; waited_ < (ms) && !(cond); waited_ += 2) msleep(2);              \
    } while (0)

/* Whether server_stop was called: the scenarios that never end on their own end then. */
NET_FN int server_stopping(server *s) { return server_get(s, &s->stop); }

typedef struct conn_arg {
    server *s;
    int fd, index;
    struct conn_arg *next, **prev; /* in s->conns */
} conn_arg;

NET_FN void *conn_thread(void *p) {
    conn_arg *a = (conn_arg *)p;
    server *s = a->s;
    s->play(s, a->fd, a->index);
    pthread_mutex_lock(&s->lock); /* off the list before its fd closes: server_stop may cut those listed */
    if ((*a->prev = a->next) != NULL) a->next->prev = a->prev;
    pthread_mutex_unlock(&s->lock);
    close(a->fd);
    free(a);
    server_count(s, -1);
    return NULL;
}

NET_FN void *accept_thread(void *p) {
    server *s = (server *)p;
    for (;;) {
        int fd = accept(s->fd, NULL, NULL);
        conn_arg *a;
        pthread_t t;
        if (fd < 0) return NULL;
        if (server_stopping(s)) {
            close(fd);
            return NULL;
        }
        server_count(s, 1);
        a = (conn_arg *)malloc(sizeof *a);
        a->s = s, a->fd = fd;
        pthread_mutex_lock(&s->lock);
        a->index = s->accepted++;
        if ((a->next = s->conns) != NULL) a->next->prev = &a->next;
        a->prev = &s->conns;
        s->conns = a;
        pthread_mutex_unlock(&s->lock);
        pthread_create(&t, NULL, conn_thread, a);
        pthread_detach(t);
    }
}

/* Serves the listening socket fd (on port) with play. */
NET_FN void server_serve(server *s, scenario play, int fd, int port) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->play = play;
    s->fd = fd;
    s->port = port;
    pthread_create(&s->thread, NULL, accept_thread, s);
}

/* On 127.0.0.1, a port of the kernel's choice (s->port). */
NET_FN void server_start(server *s, scenario play) {
    int port, fd = listen_on_loopback(128, &port);
    server_serve(s, play, fd, port);
}

/* The same on [::1]; 0 if it cannot listen there. */
NET_FN int server_start6(server *s, scenario play) {
    struct sockaddr_in6 a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(s, 0, sizeof *s);
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 128)) {
        close(fd);
        return 0;
    }
    getsockname(fd, (struct sockaddr *)&a, &len);
    server_serve(s, play, fd, ntohs(a.sin6_port));
    return 1;
}

/* On 127.0.0.1:port (a port of the test's own: see test_client's network namespace);
   0 if it cannot listen there. */
NET_FN int server_start_port(server *s, scenario play, int port) {
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    loopback_addr(&a, port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 128)) {
        close(fd);
        return 0;
    }
    server_serve(s, play, fd, port);
    return 1;
}

/* Whether every connection of the server has ended within ms: the client let go. */
NET_FN int server_drained(server *s, int ms) {
    WAIT_UNTIL(server_open(s) == 0, ms);
    return server_open(s) == 0;
}

/* Stops accepting, and gives the connection threads 2 s to wind down; then cuts the
   sockets of those still running (their calls fail) and waits again. A thread that
   outlived its server would write into memory the test has moved on from (the server is
   on its stack): the test stops there instead. */
NET_FN void server_stop(server *s) {
    int i;
    conn_arg *a;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    shutdown(s->fd, SHUT_RDWR);
    pthread_join(s->thread, NULL);
    close(s->fd);
    if (!server_drained(s, 2000)) {
        pthread_mutex_lock(&s->lock);
        for (a = s->conns; a; a = a->next) shutdown(a->fd, SHUT_RDWR);
        pthread_mutex_unlock(&s->lock);
        if (!server_drained(s, 5000)) {
            fprintf(stderr, "server_stop: a scenario on port %d still runs after its socket was cut\n", s->port);
            abort();
        }
    }
    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->ncaptured; i++) {
        free(s->captures[i]->bytes);
        free(s->captures[i]);
    }
    free(s->captures);
    s->captures = NULL;
    s->ncaptured = s->captures_cap = 0;
    pthread_mutex_unlock(&s->lock);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
}

/* From now on, answers wait (play_ok, play_capture: the request is read and recorded, the
   answer held back) until server_release(). */
NET_FN void server_hold(server *s) {
    pthread_mutex_lock(&s->lock);
    s->held = 1;
    pthread_mutex_unlock(&s->lock);
}

NET_FN void server_release(server *s) {
    pthread_mutex_lock(&s->lock);
    s->held = 0;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* A scenario's wait while the server is held; 0 if the server is stopping instead. */
NET_FN int server_gate(server *s) {
    int go;
    pthread_mutex_lock(&s->lock);
    while (s->held && !s->stop) pthread_cond_wait(&s->cond, &s->lock);
    go = !s->stop;
    pthread_mutex_unlock(&s->lock);
    return go;
}

NET_FN void url_of(char *out, size_t n, const server *s, const char *path) {
    snprintf(out, n, "http://127.0.0.1:%d%s", s->port, path);
}

/* Read one request head; 0 when the client closed. */
NET_FN int read_request(int fd) {
    char buf[4096];
    size_t len = 0;
    while (len < sizeof buf) {
        ssize_t n = recv(fd, buf + len, sizeof buf - len, 0);
        if (n <= 0) return 0;
        len += (size_t)n;
        if (len >= 4 && memmem(buf, len, "\r\n\r\n", 4)) return 1;
    }
    return 0;
}

/* 0 once the peer is gone. */
NET_FN int send_all(int fd, const char *data, size_t len) {
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0) return 0;
        data += n;
        len -= (size_t)n;
    }
    return 1;
}

NET_FN int send_str(int fd, const char *s) { return send_all(fd, s, strlen(s)); }

/* Waits (up to ms) until the peer's kernel has acknowledged every byte sent on fd: they
   are in its receive queue, ahead of whatever comes next (a reset, a FIN). 0 if not. */
NET_FN int wait_sent(int fd, int ms) {
    int waited, unacked = 0;
    for (waited = 0; waited <= ms; waited++) {
        if (ioctl(fd, TIOCOUTQ, &unacked) != 0) return 0;
        if (unacked == 0) return 1;
        msleep(1);
    }
    return 0;
}

NET_FN void reset_connection(int fd) {
    struct linger l = {1, 0}; /* close() then sends RST */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

/* The good server: keep-alive, answers every request (with s->response, or OK_RESPONSE),
   each after s->delay_ms if that is over 0, and once released if held. */
NET_FN void play_ok(server *s, int fd, int index) {
    (void)index;
    while (read_request(fd)) {
        if (!server_gate(s)) return;
        if (s->delay_ms > 0) msleep(s->delay_ms);
        if (!send_str(fd, s->response ? s->response : OK_RESPONSE)) return;
    }
}

/* ------------------------------------------------------------------ */
/* the capture server: what the client sent, byte for byte            */

/* The arrival order of requests across the process's capture servers. */
NET_FN unsigned long net_next_seq(void) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static unsigned long seq;
    unsigned long n;
    pthread_mutex_lock(&lock);
    n = ++seq;
    pthread_mutex_unlock(&lock);
    return n;
}

/* The value of the head's first Content-Length field, or 0. */
NET_FN size_t head_content_length(const char *head, size_t len) {
    static const char name[] = "\r\ncontent-length:";
    size_t i, k, n = sizeof name - 1;
    for (i = 0; i + n <= len; i++) {
        for (k = 0; k < n && tolower((unsigned char)head[i + k]) == name[k]; k++) {
        }
        if (k == n) {
            const char *v = head + i + n;
            while (*v == ' ' || *v == '\t') v++;
            return (size_t)strtoul(v, NULL, 10);
        }
    }
    return 0;
}

/* The bytes a connection received and has not handed out yet. */
typedef struct conn_bytes {
    char *buf;
    size_t len, cap;
} conn_bytes;

/* Whether the head says Transfer-Encoding: chunked (the client's chunked bodies: a test's
   body never holds "\r\n0\r\n\r\n" itself). */
NET_FN int head_chunked(const char *head, size_t len) {
    return memmem(head, len, "\r\nTransfer-Encoding: chunked\r\n", 30) != NULL;
}

/* Where a chunked body that starts at body[0] ends, or 0 if not yet. */
NET_FN size_t chunked_end(const char *body, size_t len) {
    const char *end;
    if (len >= 5 && !memcmp(body, "0\r\n\r\n", 5)) return 5;
    end = (const char *)memmem(body, len, "\r\n0\r\n\r\n", 7);
    return end ? (size_t)(end + 7 - body) : 0;
}

/* Reads the next whole request of the connection into *out (out->bytes malloc'd): 1, or
   -1 when the client closed in the middle of one (out has what came, complete = 0), or 0
   when it closed between requests. A body is framed by Content-Length, or chunked. */
NET_FN int read_whole_request(int fd, conn_bytes *in, captured *out) {
    size_t head_len = 0, body_len = 0, take;
    int chunked = 0;
    memset(out, 0, sizeof *out);
    for (;;) {
        ssize_t n;
        if (!head_len && in->len >= 4) {
            char *end = (char *)memmem(in->buf, in->len, "\r\n\r\n", 4);
            if (end) {
                head_len = (size_t)(end + 4 - in->buf);
                body_len = head_content_length(in->buf, head_len);
                chunked = head_chunked(in->buf, head_len);
            }
        }
        if (chunked && head_len && (body_len = chunked_end(in->buf + head_len, in->len - head_len)) != 0) break;
        if (head_len && !chunked && in->len >= head_len + body_len) break;
        if (in->len == in->cap) {
            size_t cap = in->cap ? in->cap * 2 : 4096;
            char *grown = cap <= ((size_t)64 << 20) ? (char *)realloc(in->buf, cap) : NULL;
            if (!grown) return 0;
            in->buf = grown;
            in->cap = cap;
        }
        n = recv(fd, in->buf + in->len, in->cap - in->len, 0);
        if (n <= 0) {
            if (in->len == 0) return 0;
            out->bytes = (char *)malloc(in->len + 1);
            memcpy(out->bytes, in->buf, in->len);
            out->bytes[in->len] = 0;
            out->len = in->len;
            out->head_len = head_len;
            in->len = 0;
            return -1;
        }
        in->len += (size_t)n;
    }
    take = head_len + body_len;
    out->bytes = (char *)malloc(take + 1);
    memcpy(out->bytes, in->buf, take);
    out->bytes[take] = 0;
    out->len = take;
    out->head_len = head_len;
    out->complete = 1;
    memmove(in->buf, in->buf + take, in->len - take);
    in->len -= take;
    return 1;
}

/* Keeps a copy of c (and takes its bytes); the request's index among the server's. */
NET_FN int server_record(server *s, const captured *c) {
    captured *kept = (captured *)malloc(sizeof *kept);
    int i;
    *kept = *c;
    pthread_mutex_lock(&s->lock);
    if (s->ncaptured == s->captures_cap) {
        int cap = s->captures_cap ? s->captures_cap * 2 : 16;
        s->captures = (captured **)realloc(s->captures, (size_t)cap * sizeof *s->captures);
        s->captures_cap = cap;
    }
    kept->seq = net_next_seq();
    i = s->ncaptured;
    s->captures[s->ncaptured++] = kept;
    pthread_mutex_unlock(&s->lock);
    return i;
}

/* What the server answers to its i-th request. */
NET_FN const char *server_response_for(const server *s, int i) {
    int k;
    if (!s->responses || !s->responses[0]) return s->response ? s->response : OK_RESPONSE;
    for (k = 0; k < i && s->responses[k + 1]; k++) {
    }
    return s->responses[k];
}

/* The capture server: keep-alive; records each request whole (server_capture), then, once
   released if held and after delay_ms, answers it with server_response_for (the head
   alone first if body_after_ms), and closes the connection after a response that says
   "Connection: close". */
NET_FN void play_capture(server *s, int fd, int index) {
    conn_bytes in = {NULL, 0, 0};
    captured c;
    int got;
    while ((got = read_whole_request(fd, &in, &c)) != 0) {
        const char *resp, *body;
        int i;
        c.conn = index;
        i = server_record(s, &c);
        if (got < 0 || !server_gate(s)) break;
        if (s->delay_ms > 0) msleep(s->delay_ms);
        resp = server_response_for(s, i);
        body = s->body_after_ms > 0 ? strstr(resp, "\r\n\r\n") : NULL;
        if (body) {
            body += 4;
            if (!send_all(fd, resp, (size_t)(body - resp))) break;
            msleep(s->body_after_ms);
            if (!send_str(fd, body)) break;
        } else if (!send_str(fd, resp)) {
            break;
        }
        if (strstr(resp, "Connection: close")) break;
    }
    free(in.buf);
}

/* How many requests the server has received (recorded) so far. */
NET_FN int server_received(server *s) { return server_get(s, &s->ncaptured); }

/* The server's i-th request, or NULL: stays valid until server_stop. */
NET_FN const captured *server_capture(server *s, int i) {
    const captured *c = NULL;
    pthread_mutex_lock(&s->lock);
    if (i >= 0 && i < s->ncaptured) c = s->captures[i];
    pthread_mutex_unlock(&s->lock);
    return c;
}

/* Whether the server's i-th request has a header line starting with `line` (case as given). */
NET_FN int has_line(server *s, int i, const char *line) {
    const captured *c = server_capture(s, i);
    char pat[256];
    snprintf(pat, sizeof pat, "\r\n%s", line);
    return c && c->head_len && memmem(c->bytes, c->head_len, pat, strlen(pat)) != NULL;
}

/* ------------------------------------------------------------------ */
/* a temp dir served by child processes: nginx, python3                */

typedef struct fixture {
    char root[256]; /* the temp dir: the files served, the configs, the logs */
    pid_t pids[8];  /* the children, in the order they were started */
    int npids;
} fixture;

/* Makes the temp dir /tmp/<name>_XXXXXX; 0 if it could not. */
NET_FN int fixture_init(fixture *f, const char *name) {
    memset(f, 0, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/%s_XXXXXX", name);
    if (mkdtemp(f->root)) return 1;
    f->root[0] = '\0';
    return 0;
}

NET_FN void fixture_write(const fixture *f, const char *name, const char *data, size_t len) {
    char path[512];
    FILE *out;
    snprintf(path, sizeof path, "%s/%s", f->root, name);
    out = fopen(path, "wb");
    fwrite(data, 1, len, out);
    fclose(out);
}

/* Starts argv[0] (looked up on PATH), its stdout and stderr to /dev/null; the pid, or -1. */
NET_FN pid_t fixture_spawn(fixture *f, char *const argv[]) {
    pid_t pid, parent;
    if (f->npids == (int)(sizeof f->pids / sizeof f->pids[0])) return -1;
    parent = getpid();
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        /* Ends with the test, however the test ends (the watchdog's _exit, a crash). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid > 0) f->pids[f->npids++] = pid;
    return pid;
}

/* What an nginx config has of the test's own; the rest (the pid file, the logs and the temp
   paths in the temp dir, one server on 127.0.0.1 whose root is the temp dir) is the same. */
typedef struct nginx_options {
    const char *error_log; /* its level ("crit"), or NULL for nginx's default */
    int worker_connections;
    const char *http;      /* more directives of the http block, or NULL */
    const char *listen;    /* parameters of the listen directive ("backlog=4096"), or NULL */
    const char *server;    /* more directives of the server block, or NULL */
} nginx_options;

/* Writes <root>/nginx.conf and starts nginx on it, on a free port of 127.0.0.1: the port
   (wait_for_port says when nginx is up), or 0 if it could not be started. */
NET_FN int fixture_nginx(fixture *f, const nginx_options *o) {
    char conf[8192], path[512];
    const char *r = f->root;
    int port = free_port();
    FILE *out;
    snprintf(conf, sizeof conf,
             "daemon off; worker_processes 1; pid %s/nginx.pid; error_log %s/error.log%s%s;\n"
             "events { worker_connections %d; }\n"
             "http { access_log off; %s\n"
             "  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;\n"
             "  uwsgi_temp_path %s; scgi_temp_path %s;\n"
             "  server { listen 127.0.0.1:%d%s%s; root %s;%s%s }\n}\n",
             r, r, o->error_log ? " " : "", o->error_log ? o->error_log : "", o->worker_connections,
             o->http ? o->http : "", r, r, r, r, r, port, o->listen ? " " : "", o->listen ? o->listen : "", r,
             o->server ? " " : "", o->server ? o->server : "");
    snprintf(path, sizeof path, "%s/nginx.conf", r);
    out = fopen(path, "w");
    if (!out) return 0;
    fputs(conf, out);
    fclose(out);
    {
        char *argv[] = {"nginx", "-p", f->root, "-c", path, NULL};
        return fixture_spawn(f, argv) > 0 ? port : 0;
    }
}

/* Ends the children (SIGTERM, and waits for each) and removes the temp dir. */
NET_FN void fixture_stop(fixture *f) {
    char cmd[300];
    int i;
    for (i = 0; i < f->npids; i++) {
        kill(f->pids[i], SIGTERM);
        waitpid(f->pids[i], NULL, 0);
    }
    f->npids = 0;
    if (!f->root[0]) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", f->root);
}

/* ------------------------------------------------------------------ */
/* one loop, one ring, one client                                      */

/* Virtual time over the real backend, for the tests of timeouts against a peer that
   stalls (async.h's own virtual time does not jump with a backend attached). The clock
   stands still while anything happens; when a poll has waited until the loop's next
   timer (or STALL_CLOCK_QUIET, if that is sooner) and nothing came, the peer is taken to
   be stalling and the clock jumps to that timer. So a timeout fires exactly when it is
   due, and a test can check the time to the nanosecond. Only for peers that stall for
   good: one that is merely slow (a server sleeping, bytes trickling) needs the real
   clock. QUIET is long beside anything loopback does, even under a sanitizer on a loaded
   machine. While the clock stands still, an idle connection's watch is always fresh
   (ASYNC_STREAM_FRESH): asked reuse checks peek, unasked ones trust the watch. */
#define STALL_CLOCK_QUIET ASYNC_SEC(2)

typedef struct stall_clock {
    async_time now;
    int (*poll)(void *backend, async_time timeout); /* the real backend's */
    void *backend;
} stall_clock;

NET_FN async_time stall_clock_now(void *user) { return ((stall_clock *)user)->now; }

NET_FN int stall_clock_poll(void *user, async_time timeout) {
    stall_clock *c = (stall_clock *)user;
    async_time quiet = timeout > STALL_CLOCK_QUIET ? STALL_CLOCK_QUIET : timeout;
    double began;
    int rc;
    /* No timer: nothing to jump to (and a wait for ever with nothing in flight must
       still be the backend's deadlock). 0: a look, no wait. */
    if (timeout <= 0) return c->poll(c->backend, timeout);
    began = now_ms();
    rc = c->poll(c->backend, quiet);
    if (rc == 0 && now_ms() - began >= quiet / 1e6) c->now += timeout; /* nothing came */
    return rc;
}

typedef struct env {
    async_loop loop;
    async_io io;
    async_http_client client;
    stall_clock stall; /* the loop's clock, if env_init_stalling made it */
} env;

/* cfg, io_cfg: NULL for the defaults. stalling: the loop runs on a stall clock (above). 0,
   or the error (the ring's is printed). */
NET_FN int env_init_with(env *e, const async_http_client_config *cfg, int stalling, const async_io_config *io_cfg) {
    async_loop_config lc;
    memset(&lc, 0, sizeof lc);
    memset(&e->stall, 0, sizeof e->stall);
    e->stall.now = ASYNC_SEC(1); /* not 0, which no real clock reads */
    if (stalling) {
        lc.clock = stall_clock_now;
        lc.clock_user = &e->stall;
    }
    async_loop_init(&e->loop, &lc);
    if (async_io_init(&e->io, &e->loop, io_cfg)) {
        fprintf(stderr, "async_io_init: %s\n", async_io_error(&e->io));
        return -1;
    }
    if (stalling) {
        e->stall.poll = e->loop.poll;
        e->stall.backend = e->loop.backend;
        async_loop_set_backend(&e->loop, stall_clock_poll, &e->stall);
    }
    return async_http_client_init(&e->client, &e->io, cfg);
}

NET_FN int env_init(env *e, const async_http_client_config *cfg) { return env_init_with(e, cfg, 0, NULL); }
NET_FN int env_init_stalling(env *e, const async_http_client_config *cfg) { return env_init_with(e, cfg, 1, NULL); }

/* Detached closes go to the kernel with the next submission: this one. */
NET_FN void env_flush(env *e) { async_io_flush(&e->io); }

NET_FN void env_close(env *e) {
    async_http_client_close(&e->client);
    env_flush(e);
    async_io_exit(&e->io);
    async_loop_set_backend(&e->loop, NULL, NULL); /* the stall clock's wrapper, if any */
}

/* The client's counters, now. */
NET_FN async_http_client_stats client_stats(const async_http_client *c) {
    async_http_client_stats s;
    async_http_client_get_stats(c, &s);
    return s;
}

/* Connections the client has opened so far. */
NET_FN uint64_t client_connects(const async_http_client *c) { return client_stats(c).connects; }

/* Whether a timeout of `timeout` ended what took `took` on a stall clock: exactly when due. */
NET_FN int fired_on_time(async_time took, async_time timeout) {
    if (took != timeout)
        fprintf(stderr, "  a timeout of %lld ms fired after %.6f ms\n", (long long)(timeout / 1000000), took / 1e6);
    return took == timeout;
}

/* Whether nothing is lent out or queued: what every test ends with. */
NET_FN int client_settled(const async_http_client *c) {
    async_http_client_stats s = client_stats(c);
    if (s.busy || s.busy_by_host || s.waiting)
        fprintf(stderr, "client not settled: busy %zu, by host %zu, waiting %zu\n", s.busy, s.busy_by_host,
                s.waiting);
    return !s.busy && !s.busy_by_host && !s.waiting;
}

/* A request needs no zeroing (async_http_start sets every field it reads): its private part
   is scribbled over before it starts, so a field left unset shows. */
NET_FN void scribble_private(async_http_request *r) {
    size_t priv = offsetof(async_http_request, _client);
    memset((char *)r + priv, 0xA5, sizeof *r - priv);
}

/* Runs request r (its fields set by the caller) to its end on the client's loop: its error,
   or 0. */
NET_FN int fetch(async_http_client *c, async_http_request *r, const char *method, const char *url) {
    scribble_private(r);
    async_http_fetch(c, r, method, url);
    return async_run(c->io->loop, &r->task.future);
}

/* The answer a server gives a long upload before reading it (and then resets). */
#define EARLY_ANSWER "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!"

/* POSTs 32 MiB to url, whose server answers EARLY_ANSWER before reading it and resets:
   whether that answer is the response (not the reset the send ran into). */
NET_FN int upload_gets_the_early_answer(async_http_client *c, const char *url) {
    enum { BODY = 32 << 20 };
    async_http_request r;
    char *body = (char *)calloc(BODY, 1);
    int ok;
    memset(&r, 0, sizeof r);
    r.body = body;
    r.body_len = BODY;
    ok = fetch(c, &r, "POST", url) == 0 && r.response.status == 413 && r.response.body_len == 8 &&
         !memcmp(r.response.body, "too big!", 8);
    if (!ok) fprintf(stderr, "  the upload to %s: %s (status %d)\n", url, async_http_request_error(&r), r.response.status);
    async_http_request_release(&r);
    free(body);
    return ok;
}

/* The same for a request of nothing but a total timeout (0: the client's). */
NET_FN int fetch_new(async_http_client *c, async_http_request *r, const char *method, const char *url,
                     async_time timeout) {
    memset(r, 0, sizeof *r);
    r->timeout = timeout;
    return fetch(c, r, method, url);
}

/* Many at once: a task starts n operations (start(user, i) returns the i-th one's future)
   and gathers them, failed ones included; run on loop until all are done. async_run's result. */
typedef async_future *(*start_fn)(void *user, int i);

typedef struct gathered {
    async_task task;
    start_fn start;
    void *user;
    async_future **futs;
    async_link *links;
    async_gather_op g;
    int n;
} gathered;

NET_FN int gathered_run(async_task *t) {
    gathered *g = (gathered *)t;
    int i;
    ASYNC_BEGIN(t);
    for (i = 0; i < g->n; i++) g->futs[i] = g->start(g->user, i);
    ASYNC_AWAIT(t, async_gather(&g->g, g->futs, g->links, (size_t)g->n, 1));
    ASYNC_END(t);
}

NET_FN int run_gathered(async_loop *loop, int n, start_fn start, void *user) {
    gathered g;
    int err;
    memset(&g, 0, sizeof g);
    g.start = start, g.user = user, g.n = n;
    g.futs = (async_future **)calloc((size_t)n, sizeof *g.futs);
    g.links = (async_link *)calloc((size_t)n, sizeof *g.links);
    async_create_task(loop, &g.task, gathered_run);
    err = async_run(loop, &g.task.future);
    free(g.futs);
    free(g.links);
    return err;
}

/* Runs loop until cond(arg) holds, looking every millisecond of the loop's: 1, or 0 if it
   did not hold within ms (real time). For "the client has got this far" (a request queued,
   a server reached), never for how long something took. */
typedef struct until {
    async_task task;
    async_timer tick;
    int (*cond)(void *arg);
    void *arg;
    double give_up_at;
} until;

NET_FN int until_run(async_task *t) {
    until *u = (until *)t;
    ASYNC_BEGIN(t);
    while (!u->cond(u->arg)) {
        if (now_ms() > u->give_up_at) ASYNC_RETURN(t, 0);
        ASYNC_AWAIT(t, async_sleep(t->loop, &u->tick, ASYNC_MS(1)));
    }
    ASYNC_RETURN(t, 1);
    ASYNC_END(t);
}

NET_FN int run_until(async_loop *loop, int (*cond)(void *), void *arg, int ms) {
    until u;
    memset(&u, 0, sizeof u);
    u.cond = cond, u.arg = arg, u.give_up_at = now_ms() + ms;
    async_create_task(loop, &u.task, until_run);
    return async_run(loop, &u.task.future) == 0 && async_result(&u.task.future) == 1;
}

typedef struct received_at_least {
    server *s;
    int n;
} received_at_least;

NET_FN int received_cond(void *arg) {
    received_at_least *r = (received_at_least *)arg;
    return server_received(r->s) >= r->n;
}

/* Runs loop until the capture server s has received n requests in all (within ms). */
NET_FN int run_until_received(async_loop *loop, server *s, int n, int ms) {
    received_at_least r;
    r.s = s, r.n = n;
    return run_until(loop, received_cond, &r, ms);
}

typedef struct server_pair {
    server *a, *b;
} server_pair;

NET_FN int each_received_cond(void *arg) {
    server_pair *p = (server_pair *)arg;
    return server_received(p->a) >= 1 && server_received(p->b) >= 1;
}

/* Runs loop until the capture servers a and b have each received a request (within ms). */
NET_FN int run_until_each_received(async_loop *loop, server *a, server *b, int ms) {
    server_pair p;
    p.a = a, p.b = b;
    return run_until(loop, each_received_cond, &p, ms);
}

/* ------------------------------------------------------------------ */
/* an allocator that counts                                            */

/* For async_http_client_config: .alloc = counting_alloc, .alloc_user = an alloc_count. */
typedef struct alloc_count {
    long live;        /* blocks allocated and not freed: 0 once the client gave back every byte */
    long calls;       /* allocations and reallocations asked for */
    size_t biggest;   /* the largest size asked for */
    size_t fail_over; /* larger sizes fail, as a real allocator's would past what it has (and
                         ASan would abort on a huge size); 0: none do */
} alloc_count;

NET_FN void *counting_alloc(void *user, void *ptr, size_t size) {
    alloc_count *a = (alloc_count *)user;
    if (size == 0) {
        if (ptr) a->live--;
        free(ptr);
        return NULL;
    }
    a->calls++;
    if (size > a->biggest) a->biggest = size;
    if (a->fail_over && size > a->fail_over) return NULL;
    if (!ptr) a->live++;
    return realloc(ptr, size);
}

#endif /* NET_H */
