/* uring_floor.c - the floor under any io_uring HTTP client: keep-alive GETs with no
 * HTTP client around them, to show how much of a request's CPU is the kernel's.
 *
 *   uring_floor [--levers] URL CONNECTIONS SECONDS
 *
 * CONNECTIONS connections to URL (http://127.0.0.1:PORT/PATH only), each sending the
 * same GET again as soon as the previous response is in, for SECONDS. No parsing:
 * the first response is read whole (blocking, before the clock starts) to learn its
 * length, and after that a response is that many bytes. This holds for a static file
 * from nginx (the Date header keeps its length); a response that starts otherwise
 * than the first one is counted as an error. The ring is set up as async_http.h sets
 * up its own (SINGLE_ISSUER + DEFER_TASKRUN, a submission and wait per loop turn), so
 * the difference between this and bench_client is the client's own cost.
 *
 * --levers: the two kernel-side levers issue 14 names, together: the sockets as
 *   registered (fixed) files, and one multishot receive per connection into a
 *   provided-buffer ring instead of a receive per read.
 *
 * Prints:  RESULT requests=N errors=E seconds=S cpu_us_per_req=C rss_kib=R
 * Build: cc -std=c99 -O2 uring_floor.c -luring
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 20000
#define RECV_SIZE 16384
#define RING_BUFS 1024 /* provided buffers for --levers, shared by all connections */

typedef struct conn {
    int fd;
    size_t got;             /* bytes of the current response so far */
    char buf[RECV_SIZE];    /* plain receives only */
} conn;

static struct io_uring ring;
static conn *conns;
static int levers;
static char request[512], status_line[16];
static size_t request_len, response_len, status_len;
static struct io_uring_buf_ring *buf_ring;
static char *ring_bufs;
static unsigned ring_added;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

/* A free submission entry (submitting what is queued if none is left). */
static struct io_uring_sqe *next_sqe(void) {
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    if (!s) {
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
    }
    return s;
}

/* user_data: the connection, and 1 for a receive (0: a send). */
static void send_request(int i) {
    struct io_uring_sqe *s = next_sqe();
    io_uring_prep_send(s, levers ? i : conns[i].fd, request, request_len, 0);
    if (levers) s->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(s, (uint64_t)i << 1);
}

static void start_receive(int i) {
    struct io_uring_sqe *s = next_sqe();
    if (levers) {
        io_uring_prep_recv_multishot(s, i, NULL, 0, 0);
        s->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
        s->buf_group = 0;
    } else {
        io_uring_prep_recv(s, conns[i].fd, conns[i].buf, RECV_SIZE, 0);
    }
    io_uring_sqe_set_data64(s, (uint64_t)i << 1 | 1);
}

static void give_back(unsigned bid) {
    io_uring_buf_ring_add(buf_ring, ring_bufs + (size_t)bid * RECV_SIZE, RECV_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(RING_BUFS), (int)ring_added++);
}

/* The first response, read whole with plain syscalls: its length is every response's. */
static int learn_response(int fd) {
    static char first[65536];
    size_t have = 0, head = 0, body = 0;
    char *end, *cl;
    if (send(fd, request, request_len, 0) != (ssize_t)request_len) return -1;
    for (;;) {
        ssize_t n = recv(fd, first + have, sizeof first - 1 - have, 0);
        if (n <= 0) return -1;
        have += (size_t)n;
        first[have] = 0;
        if (!head && (end = strstr(first, "\r\n\r\n")) != NULL) {
            head = (size_t)(end - first) + 4;
            if (!(cl = strstr(first, "Content-Length: ")) || cl > end) return -1; /* keep-alive needs a length */
            body = strtoul(cl + 16, NULL, 10);
        }
        if (head && have >= head + body) break;
    }
    response_len = head + body;
    memcpy(status_line, first, sizeof status_line - 1);
    status_len = strlen(status_line);
    return have == response_len ? 0 : -1;
}

int main(int argc, char **argv) {
    int a = 1, nconns, i, port;
    double secs, t0, t1;
    char host[64], path[256];
    struct sockaddr_in addr;
    struct io_uring_params p;
    long done = 0, errors = 0;
    struct rusage ru;
    if (a < argc && !strcmp(argv[a], "--levers")) levers = 1, a++;
    if (argc - a != 3 || sscanf(argv[a], "http://%63[^:]:%d%255s", host, &port, path) != 3) {
        fprintf(stderr, "usage: %s [--levers] http://127.0.0.1:PORT/PATH CONNECTIONS SECONDS\n", argv[0]);
        return 2;
    }
    nconns = atoi(argv[a + 1]);
    secs = atof(argv[a + 2]);
    if (nconns < 1 || nconns > MAX_CONNS) return 2;
    request_len = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", path, host, port);

    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = 4 * (unsigned)nconns + 512; /* never fewer than the 256 submission entries */
    if ((errno = -io_uring_queue_init_params(256, &ring, &p)) != 0) { perror("io_uring_queue_init"); return 1; }
    conns = calloc((size_t)nconns, sizeof *conns);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    if (!conns || inet_pton(AF_INET, host, &addr.sin_addr) != 1) return 2;
    for (i = 0; i < nconns; i++) {
        int one = 1;
        conns[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        if (conns[i].fd < 0 || connect(conns[i].fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("connect"); return 1; }
        setsockopt(conns[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as async_http.h does */
    }
    if (learn_response(conns[0].fd) < 0) { fprintf(stderr, "the first response could not be read whole, or has no Content-Length\n"); return 1; }
    if (levers) {
        int *fds = malloc((size_t)nconns * sizeof *fds);
        struct io_uring_buf_reg reg;
        for (i = 0; i < nconns; i++) fds[i] = conns[i].fd;
        if ((errno = -io_uring_register_files(&ring, fds, (unsigned)nconns)) != 0) { perror("register_files"); return 1; }
        free(fds);
        ring_bufs = aligned_alloc(4096, (size_t)RING_BUFS * RECV_SIZE);
        buf_ring = aligned_alloc(4096, RING_BUFS * sizeof(struct io_uring_buf));
        if (!ring_bufs || !buf_ring) return 1;
        memset(&reg, 0, sizeof reg);
        reg.ring_addr = (unsigned long)buf_ring;
        reg.ring_entries = RING_BUFS;
        if ((errno = -io_uring_register_buf_ring(&ring, &reg, 0)) != 0) { perror("register_buf_ring"); return 1; }
        io_uring_buf_ring_init(buf_ring);
        for (i = 0; i < RING_BUFS; i++) give_back((unsigned)i);
        io_uring_buf_ring_advance(buf_ring, ring_added);
        ring_added = 0;
    }

    t0 = now_s();
    for (i = 0; i < nconns; i++) {
        send_request(i);
        start_receive(i);
    }
    while (now_s() - t0 < secs) {
        struct io_uring_cqe *batch[256];
        unsigned n, j;
        io_uring_submit_and_wait(&ring, 1);
        /* peek_batch, not io_uring_for_each_cqe: that macro is C11 (_Atomic) */
        while ((n = io_uring_peek_batch_cqe(&ring, batch, 256)) > 0) {
            for (j = 0; j < n; j++) {
                struct io_uring_cqe *cqe = batch[j];
                int c = (int)(cqe->user_data >> 1);
                conn *k = &conns[c];
                if (!(cqe->user_data & 1)) { /* a send */
                    if (cqe->res != (int)request_len) { fprintf(stderr, "send: %d\n", cqe->res); return 1; }
                    continue;
                }
                if (cqe->res <= 0 && !(levers && cqe->res == -ENOBUFS)) { fprintf(stderr, "recv: %d\n", cqe->res); return 1; }
                if (cqe->res > 0) {
                    unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                    const char *data = levers ? ring_bufs + (size_t)bid * RECV_SIZE : k->buf;
                    if (k->got == 0 && memcmp(data, status_line, status_len) != 0) errors++;
                    k->got += (size_t)cqe->res;
                    if (levers) give_back(bid);
                    if (k->got >= response_len) { /* nothing is sent before the response is whole */
                        k->got -= response_len;
                        done++;
                        send_request(c);
                    }
                }
                if (!levers || !(cqe->flags & IORING_CQE_F_MORE)) start_receive(c);
            }
            if (levers && ring_added) {
                io_uring_buf_ring_advance(buf_ring, ring_added);
                ring_added = 0;
            }
            io_uring_cq_advance(&ring, n);
        }
    }
    t1 = now_s();
    getrusage(RUSAGE_SELF, &ru);
    /* The whole process's CPU, set-up included, as the other peers count it. */
    printf("RESULT requests=%ld errors=%ld seconds=%.3f cpu_us_per_req=%.2f rss_kib=%ld\n", done, errors, t1 - t0,
           done ? cpu_s() * 1e6 / (double)done : 0.0, ru.ru_maxrss);
    return 0;
}
