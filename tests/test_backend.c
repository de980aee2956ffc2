/* test_backend.c - the two backends: which one runs and why, epoll where io_uring is refused
 * (a seccomp filter, as in Docker), and a submission queue far smaller than the work. */
#define _GNU_SOURCE
/* Every other time the full submission queue goes to the kernel, the kernel says it is busy
   (as when its completion queue overflows): the operation must wait its turn, not assert. */
static int submits;
#define ASYNC_IO_FAULT_SUBMIT(res) ((res) < 0 ? (res) : (++submits & 1) ? -16 /* EBUSY */ : (res))
/* A kernel before 5.19: rings, but no IORING_OP_SOCKET in them. */
static int no_socket_opcode;
#define ASYNC_IO_FAULT_OPCODE(op, supported) (no_socket_opcode && (op) == IORING_OP_SOCKET ? 0 : (supported))
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"
#include "test.h"
#include "net.h"
#include "seccomp.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>

static char logged[1024];
static int log_calls;

static void log_message(void *user, const char *msg) {
    (void)user;
    log_calls++;
    snprintf(logged, sizeof logged, "%s", msg);
}

/* A loop and an io on that backend: async_io_init's result. */
static int io_start(async_loop *loop, async_io *io, int backend) {
    async_io_config cfg;
    async_loop_init(loop, NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.backend = backend;
    return async_io_init(io, loop, &cfg);
}

/* ------------------------------------------------------------------ */
/* choosing                                                            */

TEST(forced_and_chosen_backends) {
    async_loop loop;
    async_io io;
    async_io_config cfg;
    async_loop_init(&loop, NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.log = log_message;
    log_calls = 0;

    cfg.backend = ASYNC_IO_BACKEND_EPOLL;
    CHECK_EQ(async_io_init(&io, &loop, &cfg), 0);
    CHECK_STR(async_io_backend_name(&io), "epoll");
    async_io_exit(&io);

    cfg.backend = ASYNC_IO_BACKEND_URING;
    CHECK_EQ(async_io_init(&io, &loop, &cfg), 0);
    CHECK_STR(async_io_backend_name(&io), "io_uring");
    async_io_exit(&io);

    /* AUTO: the environment may choose; io_uring works here, so nobody is told anything. */
    cfg.backend = ASYNC_IO_BACKEND_AUTO;
    setenv("ASYNC_IO_BACKEND", "epoll", 1);
    CHECK_EQ(async_io_init(&io, &loop, &cfg), 0);
    CHECK_STR(async_io_backend_name(&io), "epoll");
    async_io_exit(&io);
    unsetenv("ASYNC_IO_BACKEND");
    CHECK_EQ(async_io_init(&io, &loop, &cfg), 0);
    CHECK_STR(async_io_backend_name(&io), "io_uring");
    async_io_exit(&io);
    CHECK_EQ(log_calls, 0);
}

/* A kernel whose io_uring has no sockets (before 5.19) is no io_uring for us: forced, it is
   refused with the reason; AUTO goes on to epoll and says why. */
TEST(io_uring_without_sockets_is_refused) {
    async_loop loop;
    async_io io;
    async_io_config cfg;
    async_loop_init(&loop, NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.log = log_message;
    log_calls = 0;
    unsetenv("ASYNC_IO_BACKEND");
    no_socket_opcode = 1;
    cfg.backend = ASYNC_IO_BACKEND_URING;
    CHECK_EQ(async_io_init(&io, &loop, &cfg), ASYNC_IO_ENOURING);
    CHECK(strstr(async_io_error(&io), "no IORING_OP_SOCKET") != NULL);
    cfg.backend = ASYNC_IO_BACKEND_AUTO;
    CHECK_EQ(async_io_init(&io, &loop, &cfg), 0);
    CHECK_STR(async_io_backend_name(&io), "epoll");
    CHECK_EQ(log_calls, 1);
    CHECK(strstr(logged, "no IORING_OP_SOCKET") != NULL);
    async_io_exit(&io);
    no_socket_opcode = 0, log_calls = 0;
}

/* ------------------------------------------------------------------ */
/* io_uring refused: the child of a fork under a seccomp filter         */

/* In the child: io_uring forced must fail with the refusal's reason; AUTO must fall back to
   epoll, say so once, and fetch the file from nginx. Writes what it saw to fd `out`. */
static int child_without_uring(int out, int port) {
    async_loop loop;
    async_io io;
    async_io_config cfg;
    async_http_client client;
    async_http_request req;
    char url[96], report[2048];
    int rc, forced;
    unsetenv("ASYNC_IO_BACKEND");
    if (deny_io_uring() != 0) return 3;
    async_loop_init(&loop, NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.log = log_message;
    cfg.backend = ASYNC_IO_BACKEND_URING;
    forced = async_io_init(&io, &loop, &cfg);
    snprintf(report, sizeof report, "forced=%d forced_error=[%s]\n", forced, async_io_error(&io));
    cfg.backend = ASYNC_IO_BACKEND_AUTO;
    rc = async_io_init(&io, &loop, &cfg);
    snprintf(report + strlen(report), sizeof report - strlen(report), "auto=%d backend=%s log_calls=%d log=[%s]\n",
             rc, rc ? "-" : async_io_backend_name(&io), log_calls, logged);
    if (rc == 0) {
        async_http_client_init(&client, &io, NULL);
        memset(&req, 0, sizeof req); /* async_http_get reads its input fields (headers, body, ...) */
        snprintf(url, sizeof url, "http://127.0.0.1:%d/hello.txt", port);
        async_http_get(&client, &req, url);
        async_run(&loop, &req.task.future);
        snprintf(report + strlen(report), sizeof report - strlen(report), "status=%d body=[%.*s]\n",
                 req.response.status, (int)req.response.body_len, req.response.body ? req.response.body : "");
        async_http_request_release(&req);
        async_http_client_close(&client);
        async_io_exit(&io);
    }
    return write(out, report, strlen(report)) > 0 ? 0 : 4;
}

TEST(epoll_where_io_uring_is_refused) {
    fixture f;
    nginx_options o;
    int port, fds[2], status = -1;
    char report[2048];
    ssize_t n;
    pid_t pid;
    memset(&o, 0, sizeof o);
    o.worker_connections = 64;
    CHECK(fixture_init(&f, "backend"));
    fixture_write(&f, "hello.txt", "hello from nginx\n", 17);
    port = fixture_nginx(&f, &o);
    CHECK(port > 0 && wait_for_port(port));
    CHECK_EQ(pipe(fds), 0);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        _exit(child_without_uring(fds[1], port));
    }
    close(fds[1]);
    n = read(fds[0], report, sizeof report - 1);
    close(fds[0]);
    waitpid(pid, &status, 0);
    report[n > 0 ? n : 0] = 0;
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!strstr(report, "status=200")) fprintf(stderr, "  the child said:\n%s", report);
    /* Forced, the refusal is the answer, and it says what is in the way. */
    CHECK(strstr(report, "forced=-4150 ") != NULL); /* ASYNC_IO_ENOURING */
    CHECK(strstr(report, "seccomp") != NULL);
    /* Chosen automatically: epoll, said once, and it works. */
    CHECK(strstr(report, "auto=0 backend=epoll log_calls=1 ") != NULL);
    CHECK(strstr(report, "log=[async_io: using epoll, io_uring is refused: io_uring_setup was refused (EPERM)") !=
          NULL);
    CHECK(strstr(report, "status=200 body=[hello from nginx\n]") != NULL);
    fixture_stop(&f);
}

/* ------------------------------------------------------------------ */
/* far more operations than submission slots                            */

#define PAIRS 500

typedef struct many {
    async_io io;
    int a[PAIRS], b[PAIRS];
    async_io_op recv_a[PAIRS], recv_b[PAIRS], send_a[PAIRS], send_b[PAIRS], extra[100];
    char in_a[PAIRS], in_b[PAIRS], out_a[PAIRS], out_b[PAIRS], extra_buf[100];
} many;

static int all_done(const async_io_op *ops, int n) {
    int i;
    for (i = 0; i < n; i++)
        if (!async_done(&ops[i].future)) return 0;
    return 1;
}

/* 1,000 receives and 100 more, then 1,000 sends, then the 100 cancelled: every one completes
   once, rightly, through a ring of 8 entries (or epoll). */
static void many_operations(int backend) {
    static many m;
    async_loop loop;
    async_io_config cfg;
    async_timer tick;
    int i, ok = 1, cancelled = 0;
    async_loop_init(&loop, NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.backend = backend;
    cfg.entries = 8;
    CHECK_EQ(async_io_init(&m.io, &loop, &cfg), 0);
    for (i = 0; i < PAIRS; i++) {
        int sv[2];
        CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        m.a[i] = sv[0];
        m.b[i] = sv[1];
        async_io_recv(&m.io, &m.recv_a[i], m.a[i], &m.in_a[i], 1, 0);
        async_io_recv(&m.io, &m.recv_b[i], m.b[i], &m.in_b[i], 1, 0);
    }
    /* A second receive on a hundred of them, to be cancelled while the rest runs. */
    for (i = 0; i < 100; i++) async_io_recv(&m.io, &m.extra[i], m.a[i], &m.extra_buf[i], 1, 0);
    CHECK(m.io.inflight == 2 * PAIRS + 100);
    for (i = 0; i < 100; i++) async_future_cancel(&m.extra[i].future);
    for (i = 0; i < PAIRS; i++) {
        m.out_a[i] = (char)(i & 0x7f);
        m.out_b[i] = (char)((i * 7) & 0x7f);
        async_io_send(&m.io, &m.send_a[i], m.a[i], &m.out_a[i], 1, 0);
        async_io_send(&m.io, &m.send_b[i], m.b[i], &m.out_b[i], 1, 0);
    }
    memset(&tick, 0, sizeof tick);
    for (i = 0; i < 1000 && !(all_done(m.recv_a, PAIRS) && all_done(m.recv_b, PAIRS) && all_done(m.extra, 100) &&
                              all_done(m.send_a, PAIRS) && all_done(m.send_b, PAIRS));
         i++)
        async_run(&loop, async_sleep(&loop, &tick, ASYNC_MS(1)));
    for (i = 0; i < PAIRS; i++) {
        /* Whichever receive of a got the byte, the first one is the oldest: it did. */
        ok &= async_result(&m.recv_a[i].future) == 1 && m.in_a[i] == m.out_b[i];
        ok &= async_result(&m.recv_b[i].future) == 1 && m.in_b[i] == m.out_a[i];
        ok &= async_result(&m.send_a[i].future) == 1 && async_result(&m.send_b[i].future) == 1;
    }
    for (i = 0; i < 100; i++) cancelled += async_error(&m.extra[i].future) == ASYNC_ECANCELED;
    CHECK(ok);
    CHECK_EQ(cancelled, 100);
    CHECK_EQ(m.io.inflight, 0);
    if (backend == ASYNC_IO_BACKEND_URING) CHECK(submits >= 1); /* the kernel was "busy": all went through */
    for (i = 0; i < PAIRS; i++) {
        async_io_close_detached(&m.io, m.a[i]);
        async_io_close_detached(&m.io, m.b[i]);
    }
    async_io_flush(&m.io);
    async_io_exit(&m.io);
}

TEST(small_ring_many_operations) { many_operations(ASYNC_IO_BACKEND_URING); }
TEST(epoll_many_operations) { many_operations(ASYNC_IO_BACKEND_EPOLL); }

/* epoll: an accept that completes in a turn's run of its listener's waiters may
   grow the fd table (the new fd is past its end). The run goes on with the
   next waiter of the same listener: it must read the table as it is now, not the
   one that was freed. Two accepts wait; two clients connect; both are accepted. */
TEST(epoll_accept_grows_the_table) {
    async_loop loop;
    async_io io;
    async_io_config cfg;
    async_io_op acc[2];
    async_timer tick;
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int lfd, cfd[2], pad[300], npad = 0, i;
    async_loop_init(&loop, NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.backend = ASYNC_IO_BACKEND_EPOLL;
    CHECK_EQ(async_io_init(&io, &loop, &cfg), 0);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(lfd >= 0 && lfd < 64);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(listen(lfd, 8), 0);
    CHECK_EQ(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    async_io_accept(&io, &acc[0], lfd, NULL, NULL, SOCK_CLOEXEC);
    async_io_accept(&io, &acc[1], lfd, NULL, NULL, SOCK_CLOEXEC);
    CHECK(!async_done(&acc[0].future) && !async_done(&acc[1].future)); /* both wait in the listener's list */
    /* the fds up to 256 taken: the next ones, accepted, are past the table's end (64 entries) */
    while (npad < 300 && (pad[npad] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        if (pad[npad++] >= 256) break;
    for (i = 0; i < 2; i++) {
        cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK_EQ(connect(cfd[i], (struct sockaddr *)&a, sizeof a), 0);
    }
    memset(&tick, 0, sizeof tick);
    for (i = 0; i < 100 && !all_done(acc, 2); i++)
        async_run(&loop, async_sleep(&loop, &tick, ASYNC_MS(1)));
    CHECK(async_result(&acc[0].future) >= 256);
    CHECK(async_result(&acc[1].future) >= 256);
    for (i = 0; i < 2; i++) {
        if (async_result(&acc[i].future) >= 0) async_io_close_detached(&io, (int)async_result(&acc[i].future));
        close(cfd[i]);
    }
    for (i = 0; i < 2; i++) if (!async_done(&acc[i].future)) async_future_cancel(&acc[i].future);
    while (npad > 0) close(pad[--npad]);
    close(lfd);
    async_io_exit(&io);
}

/* ------------------------------------------------------------------ */
/* the idle check                                                      */

/* A connected loopback TCP pair: *mine for the stream, *peer for the test. */
static void tcp_pair(int *mine, int *peer) {
    struct sockaddr_in a;
    int port, lfd = listen_on_loopback(0, &port);
    loopback_addr(&a, port);
    *mine = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_EQ(connect(*mine, (struct sockaddr *)&a, sizeof a), 0);
    *peer = accept(lfd, NULL, NULL);
    CHECK(*peer >= 0);
    close(lfd);
}

/* A watched idle stream whose peer wrote is not clean when asked, on every ring. Without
   DEFER_TASKRUN the kernel runs the watch's receive when this thread next returns from a
   syscall (here, the write itself): the bytes leave the socket before the loop has reaped
   the completion, so the peek alone would find nothing. (The unasked answer within
   ASYNC_STREAM_FRESH of a poll trusts the watch by design, on every backend.) */
static void watched_then_written(int backend, unsigned ring_flags) {
    async_loop loop;
    async_io io;
    async_io_config cfg;
    async_stream s;
    async_future *f;
    char buf[64];
    size_t n = 0;
    int mine, peer, err = 0, clean;
    async_loop_init(&loop, NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.backend = backend;
    cfg.flags = ring_flags;
    CHECK_EQ(async_io_init(&io, &loop, &cfg), 0);
    tcp_pair(&mine, &peer);
    async_stream_init(&s, &io, mine);
    CHECK(async_stream_watch(&s, buf, sizeof buf) != NULL);
    async_io_flush(&io); /* the receive is in the kernel, waiting */
    CHECK(async_stream_idle_clean(&s, 1));
    CHECK_EQ(write(peer, "evil", 4), 4);
    CHECK(wait_sent(peer, 2000)); /* acknowledged: in the stream's socket (or its receive's buffer) */
    if ((clean = async_stream_idle_clean(&s, 1)) != 0)
        fprintf(stderr, "  %s, ring flags %#x: the written stream was called clean\n", async_io_backend_name(&io), ring_flags);
    CHECK(!clean);
    while ((f = async_stream_recv(&s, buf, sizeof buf, &n, &err)) != NULL) async_run(&loop, f); /* the watch's */
    CHECK_EQ(err, 0);
    CHECK(n == 4 && memcmp(buf, "evil", 4) == 0);
    async_stream_close(&s);
    close(peer);
    async_io_flush(&io);
    async_io_exit(&io);
}

/* Bytes right behind a response (past its Content-Length) that no poll has seen yet, however
   recent the last poll: not taken for the next request's answer (one request in a hundred
   got them). On epoll a peek finds them; io_uring's watch goes to the kernel with the request,
   before its send, and its take finds it ended first (no syscall spent on a peek). */
static void stray_bytes_behind_a_watch(int backend) {
    async_loop loop;
    async_io io;
    async_stream s;
    async_future *f;
    char buf[64];
    size_t n = 0, sent = 0;
    int mine, peer, err = 0, clean;
    CHECK_EQ(io_start(&loop, &io, backend), 0);
    tcp_pair(&mine, &peer);
    async_stream_init(&s, &io, mine);
    async_io_flush(&io); /* the loop asked the kernel just now */
    CHECK(async_stream_watch(&s, buf, sizeof buf) != NULL);
    CHECK_EQ(write(peer, "stray", 5), 5);
    CHECK(wait_sent(peer, 2000));
    clean = async_stream_idle_clean(&s, 0);
    if (backend == ASYNC_IO_BACKEND_EPOLL) {
        CHECK(!clean);
        while ((f = async_stream_recv(&s, buf, sizeof buf, &n, &err)) != NULL) async_run(&loop, f);
        CHECK(err == 0 && n == 5 && memcmp(buf, "stray", 5) == 0);
    } else {
        CHECK(clean);
        while ((f = async_stream_send(&s, "GET", 3, &sent, &err)) != NULL) async_run(&loop, f);
        CHECK(err == 0 && sent == 3);
        while ((f = async_stream_recv(&s, buf, sizeof buf, &n, &err)) != NULL) async_run(&loop, f);
        CHECK_EQ(err, -EPROTO);
        CHECK_STR(async_stream_detail(&s), "bytes came before the request was sent");
    }
    async_stream_close(&s);
    close(peer);
    async_io_flush(&io);
    async_io_exit(&io);
}

TEST(stray_bytes_behind_a_watch_no_poll_has_seen) {
    stray_bytes_behind_a_watch(ASYNC_IO_BACKEND_URING);
    stray_bytes_behind_a_watch(ASYNC_IO_BACKEND_EPOLL);
}

TEST(written_watched_stream_not_clean) {
    /* 0: the best the kernel takes; then COOP_TASKRUN alone (kernels 5.19-6.0), and no task
       run flag at all (SUBMIT_ALL only to be nonzero). */
    watched_then_written(ASYNC_IO_BACKEND_URING, 0);
    watched_then_written(ASYNC_IO_BACKEND_URING, IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN);
    watched_then_written(ASYNC_IO_BACKEND_URING, IORING_SETUP_SUBMIT_ALL);
    watched_then_written(ASYNC_IO_BACKEND_EPOLL, 0);
}

/* ------------------------------------------------------------------ */
/* short reads that do not drain                                       */

/* One receive on the loop, given at most 2 s (a receive that waits for an edge that never
   comes times out): its result, or the error. */
static long recv_once(async_loop *loop, async_io *io, int fd, char *buf, size_t len, int flags) {
    async_io_op op;
    async_wait_for_op wf;
    async_future *f = async_io_recv(io, &op, fd, buf, len, flags);
    int err = async_run(loop, async_wait_for(loop, &wf, f, ASYNC_SEC(2)));
    if (err == ASYNC_ETIMEDOUT) async_run(loop, f); /* cancelled: its end */
    return err ? err : (long)async_result(f);
}

/* On both backends a receive shorter than its buffer is not taken to mean the socket is
   empty where that does not follow: datagrams (one per receive, more queued) and a peek
   (which leaves the bytes there). */
static void short_reads(int backend) {
    async_loop loop;
    async_io io;
    char buf[64];
    int dg[2], mine, peer, i;
    async_io_op op;
    async_future *f;
    CHECK_EQ(io_start(&loop, &io, backend), 0);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, dg), 0);
    CHECK_EQ(write(dg[1], "one", 3), 3);
    CHECK_EQ(write(dg[1], "two", 3), 3);
    CHECK_EQ(write(dg[1], "three", 5), 5);
    for (i = 0; i < 3; i++) CHECK_EQ(recv_once(&loop, &io, dg[0], buf, sizeof buf, 0), i == 2 ? 5 : 3);
    CHECK(!memcmp(buf, "three", 5));
    tcp_pair(&mine, &peer);
    f = async_io_recv(&io, &op, mine, buf, sizeof buf, 0); /* waits: the fd is watched from now on */
    CHECK_EQ(write(peer, "hi", 2), 2);
    CHECK_EQ(async_run(&loop, f), 0);
    CHECK_EQ(async_result(f), 2);
    CHECK_EQ(write(peer, "hello", 5), 5);
    CHECK(wait_sent(peer, 2000));
    CHECK_EQ(recv_once(&loop, &io, mine, buf, sizeof buf, MSG_PEEK), 5);
    CHECK_EQ(recv_once(&loop, &io, mine, buf, sizeof buf, 0), 5); /* still there */
    CHECK(!memcmp(buf, "hello", 5));
    async_io_close_detached(&io, dg[0]);
    async_io_close_detached(&io, mine);
    close(dg[1]);
    close(peer);
    async_io_flush(&io);
    async_io_exit(&io);
}

TEST(short_reads_that_do_not_drain) {
    short_reads(ASYNC_IO_BACKEND_URING);
    short_reads(ASYNC_IO_BACKEND_EPOLL);
}

/* A closed stream (fd -1) asked to receive or send: -EBADF on both backends, nothing read
   or written outside the epoll backend's table (ASan). A 4 GiB receive, which io_uring's
   32-bit length would make 0 (an end of stream), is a short one. */
static void bad_fds_and_huge_lengths_on(int backend) {
    async_loop loop;
    async_io io;
    async_stream st;
    char buf[16];
    size_t n = 0, sent = 0;
    int err = 0, mine, peer;
    async_future *f;
    CHECK_EQ(io_start(&loop, &io, backend), 0);
    tcp_pair(&mine, &peer);
    async_stream_init(&st, &io, mine);
    async_stream_close(&st);
    async_io_flush(&io);
    while ((f = async_stream_recv(&st, buf, sizeof buf, &n, &err)) != NULL) async_run(&loop, f);
    CHECK_EQ(err, -EBADF);
    err = 0;
    while ((f = async_stream_send(&st, "x", 1, &sent, &err)) != NULL) async_run(&loop, f);
    CHECK_EQ(err, -EBADF);
    /* A number that is not open, near the top of int: EBADF at once (epoll grew its table
       to that size, and its doubling wrapped), and no table of that size either. */
    CHECK_EQ(recv_once(&loop, &io, (1 << 30) + 5, buf, sizeof buf, 0), -EBADF);
    if (backend == ASYNC_IO_BACKEND_EPOLL) CHECK(io._nfds < (1 << 20));
    {   /* An op on a number closed already, then a blocking pipe given that number: the pipe
           is made non-blocking as any new fd (a read used to block the loop in read(2)). */
        async_io_op rop;
        async_timer tm;
        int num = dup(peer), p[2];
        close(num);
        CHECK_EQ(recv_once(&loop, &io, num, buf, sizeof buf, 0), -EBADF);
        CHECK_EQ(pipe(p), 0);
        if (p[0] == num) {
            async_io_read(&io, &rop, p[0], buf, sizeof buf, -1);
            memset(&tm, 0, sizeof tm);
            async_run(&loop, async_sleep(&loop, &tm, ASYNC_MS(20))); /* the loop goes on */
            CHECK(!async_done(&rop.future));
            CHECK_EQ(write(p[1], "x", 1), 1);
            CHECK_EQ(async_run(&loop, &rop.future), 0);
            CHECK_EQ(async_result(&rop.future), 1);
        } else {
            fprintf(stderr, "  the pipe did not get number %d\n", num);
            CHECK(p[0] == num);
        }
        close(p[0]);
        close(p[1]);
    }
    {
        size_t huge = (size_t)1 << 32;
        char *big = (char *)mmap(NULL, huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        int fds[2];
        CHECK(big != MAP_FAILED);
        CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
        CHECK_EQ(write(fds[1], "hello", 5), 5);
        CHECK_EQ(recv_once(&loop, &io, fds[0], big, huge, 0), 5);
        munmap(big, huge);
        close(fds[0]);
        close(fds[1]);
    }
    close(peer);
    async_io_exit(&io);
}

/* A connection made, answered and reset before the loop looked at its connect: the connect
   succeeded, what the peer sent first is read, and then the reset (not a clean end: epoll's
   connect check read it out of SO_ERROR, and the next transfer must still say it). */
static void reset_before_the_loop_looked_on(int backend) {
    async_loop loop;
    async_io io;
    async_io_op op;
    struct sockaddr_in a;
    char buf[16];
    int port, lfd = listen_on_loopback(0, &port), fd, peer, err;
    async_future *f;
    CHECK_EQ(io_start(&loop, &io, backend), 0);
    loopback_addr(&a, port);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    f = async_io_connect(&io, &op, fd, (struct sockaddr *)&a, sizeof a);
    /* io_uring's connect goes to the kernel; epoll's tried at once, and is left to wait
       for writability, which the loop looks at only after the reset (SO_ERROR then). */
    if (backend == ASYNC_IO_BACKEND_URING) async_io_flush(&io);
    peer = accept(lfd, NULL, NULL); /* the kernel made the connection: the loop has not looked */
    CHECK(peer >= 0);
    CHECK_EQ(write(peer, "413", 3), 3);
    CHECK(wait_sent(peer, 2000));
    reset_connection(peer);
    close(peer);
    err = async_run(&loop, f);
    if (err) fprintf(stderr, "  %s: the connect ended %d\n", async_io_backend_name(&io), err);
    CHECK_EQ(err, 0);
    CHECK_EQ(recv_once(&loop, &io, fd, buf, sizeof buf, 0), 3);
    CHECK_EQ(recv_once(&loop, &io, fd, buf, sizeof buf, 0), -ECONNRESET);
    close(fd);
    close(lfd);
    async_io_exit(&io);
}

TEST(reset_before_the_loop_looked) {
    reset_before_the_loop_looked_on(ASYNC_IO_BACKEND_URING);
    reset_before_the_loop_looked_on(ASYNC_IO_BACKEND_EPOLL);
}

/* An fd closed with a receive still waiting on it: the receive ends (io_uring's keeps the
   file and ends when the peer acts; epoll's ends at the close, EBADF) and nothing stays in
   flight, where epoll's used to wait for good. */
static void close_with_a_receive_waiting_on(int backend) {
    async_loop loop;
    async_io io;
    async_io_op rop, cop;
    char buf[16];
    int mine, peer;
    async_timer t;
    CHECK_EQ(io_start(&loop, &io, backend), 0);
    tcp_pair(&mine, &peer);
    async_io_recv(&io, &rop, mine, buf, sizeof buf, 0);
    memset(&t, 0, sizeof t);
    async_run(&loop, async_sleep(&loop, &t, ASYNC_MS(5))); /* the receive waits */
    CHECK(!async_done(&rop.future));
    CHECK_EQ(async_run(&loop, async_io_close(&io, &cop, mine)), 0);
    CHECK_EQ(write(peer, "hello", 5), 5);
    shutdown(peer, SHUT_RDWR);
    async_run(&loop, &rop.future);
    CHECK(async_done(&rop.future));
    if (backend == ASYNC_IO_BACKEND_EPOLL) CHECK_EQ(async_error(&rop.future), -EBADF);
    else CHECK_EQ(async_result(&rop.future), 5);
    CHECK_EQ(io.inflight, 0);
    close(peer);
    async_io_exit(&io);
}

TEST(close_with_a_receive_waiting) {
    close_with_a_receive_waiting_on(ASYNC_IO_BACKEND_URING);
    close_with_a_receive_waiting_on(ASYNC_IO_BACKEND_EPOLL);
}

/* On epoll, two receives waiting on an fd that is closed: the first one's end wakes a waiter
   that cancels the second, which must end once (it asserted, or left io.inflight wrapped). */
static async_io_op second_receive;

static void cancel_the_second(async_waiter *self, async_future *done) {
    (void)self, (void)done;
    async_future_cancel(&second_receive.future);
}

TEST(epoll_close_wakes_a_canceller) {
    async_loop loop;
    async_io io;
    async_io_op first, cop;
    async_waiter w;
    async_timer t;
    char b1[8], b2[8];
    int sv[2];
    CHECK_EQ(io_start(&loop, &io, ASYNC_IO_BACKEND_EPOLL), 0);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    async_io_recv(&io, &first, sv[0], b1, sizeof b1, 0);
    async_io_recv(&io, &second_receive, sv[0], b2, sizeof b2, 0);
    w.wake = cancel_the_second;
    async_future_add_waiter(&first.future, &w);
    memset(&t, 0, sizeof t);
    async_run(&loop, async_sleep(&loop, &t, ASYNC_MS(5)));
    CHECK(!async_done(&first.future) && !async_done(&second_receive.future));
    CHECK_EQ(async_run(&loop, async_io_close(&io, &cop, sv[0])), 0);
    CHECK_EQ(async_error(&first.future), -EBADF);
    CHECK_EQ(async_error(&second_receive.future), -EBADF);
    CHECK_EQ(io.inflight, 0);
    close(sv[1]);
    async_io_exit(&io);
}

/* A socket closed through the backend whose description lives on (a dup here; a forked
   child's copy as well) leaves epoll's set: its events are not taken for the new socket
   that gets the same number. That one's connect, to a listener whose queue is full (its
   SYN dropped), stays in progress when the old connection is reset, and does not end
   "connected" on an unconnected socket. */
TEST(epoll_closed_fd_number_reused) {
    async_loop loop;
    async_io io;
    async_io_op op;
    struct sockaddr_in full;
    struct linger hard = {1, 0};
    char buf[16];
    int old, old_peer, kept, fresh, lfd, port, fillers[2], i;
    async_timer t;
    CHECK_EQ(io_start(&loop, &io, ASYNC_IO_BACKEND_EPOLL), 0);
    tcp_pair(&old, &old_peer);
    async_io_recv(&io, &op, old, buf, sizeof buf, 0); /* registers old in the epoll set */
    async_future_cancel(&op.future);
    lfd = listen_on_loopback(0, &port);
    loopback_addr(&full, port);
    for (i = 0; i < 2; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fillers[i], (struct sockaddr *)&full, sizeof full);
    }
    memset(&t, 0, sizeof t);
    async_run(&loop, async_sleep(&loop, &t, ASYNC_MS(50)));
    kept = dup(old);
    CHECK_EQ(async_run(&loop, async_io_close(&io, &op, old)), 0);
    async_run(&loop, async_io_socket(&io, &op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    fresh = (int)async_result(&op.future);
    CHECK_EQ(fresh, old); /* the number is the old one's */
    async_io_connect(&io, &op, fresh, (struct sockaddr *)&full, sizeof full);
    async_run(&loop, async_sleep(&loop, &t, ASYNC_MS(50)));
    CHECK(!async_done(&op.future)); /* SYN_SENT */
    setsockopt(old_peer, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    close(old_peer); /* the old connection, alive in `kept`, is reset: an event for it */
    async_run(&loop, async_sleep(&loop, &t, ASYNC_MS(50)));
    CHECK(!async_done(&op.future));
    async_future_cancel(&op.future);
    async_run(&loop, &op.future);
    close(kept);
    close(fresh);
    for (i = 0; i < 2; i++) close(fillers[i]);
    close(lfd);
    async_io_exit(&io);
}

/* async_io_read and _write with an offset, on a pipe: as io_uring, epoll takes the offset
   to mean nothing there (pread would say ESPIPE). */
static void offset_on_a_pipe_on(int backend) {
    async_loop loop;
    async_io io;
    async_io_op w, r;
    char buf[8] = {0};
    int p[2];
    CHECK_EQ(io_start(&loop, &io, backend), 0);
    CHECK_EQ(pipe(p), 0);
    CHECK_EQ(async_run(&loop, async_io_write(&io, &w, p[1], "abc", 3, 0)), 0);
    CHECK_EQ(async_result(&w.future), 3);
    CHECK_EQ(async_run(&loop, async_io_read(&io, &r, p[0], buf, sizeof buf, 0)), 0);
    CHECK_EQ(async_result(&r.future), 3);
    CHECK(!memcmp(buf, "abc", 3));
    close(p[0]);
    close(p[1]);
    async_io_exit(&io);
}

TEST(offset_on_a_pipe) {
    offset_on_a_pipe_on(ASYNC_IO_BACKEND_URING);
    offset_on_a_pipe_on(ASYNC_IO_BACKEND_EPOLL);
}

/* A trigger fired from a signal handler with a backend attached: the loop waits for it (it
   said ASYNC_EDEADLK with nothing in flight), and a signal that lands just before the
   backend's wait is seen within a slice, not at the wait's end. */
static async_trigger *signal_trigger;

static void fire_on_signal(int sig) {
    (void)sig;
    async_trigger_fire(signal_trigger);
}

typedef struct trigger_waiter {
    async_task task;
    async_future slot;
} trigger_waiter;

static int trigger_waiter_run(async_task *t) {
    trigger_waiter *w = (trigger_waiter *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_trigger_wait(signal_trigger, &w->slot));
    ASYNC_RETURN(t, 1);
    ASYNC_END(t);
}

static void trigger_from_a_signal_on(int backend) {
    async_loop loop;
    async_io io;
    async_trigger tr;
    trigger_waiter w;
    struct itimerval in30ms;
    CHECK_EQ(io_start(&loop, &io, backend), 0);
    async_trigger_init(&loop, &tr);
    signal_trigger = &tr;
    signal(SIGALRM, fire_on_signal);
    memset(&in30ms, 0, sizeof in30ms);
    in30ms.it_value.tv_usec = 30000;
    memset(&w, 0, sizeof w);
    async_create_task(&loop, &w.task, trigger_waiter_run);
    setitimer(ITIMER_REAL, &in30ms, NULL);
    CHECK_EQ(async_run(&loop, &w.task.future), 0);
    CHECK_EQ(async_result(&w.task.future), 1);
    signal(SIGALRM, SIG_DFL);
    async_trigger_remove(&tr);
    async_io_exit(&io);
}

TEST(trigger_from_a_signal) {
    trigger_from_a_signal_on(ASYNC_IO_BACKEND_URING);
    trigger_from_a_signal_on(ASYNC_IO_BACKEND_EPOLL);
}

TEST(bad_fds_and_huge_lengths) {
    bad_fds_and_huge_lengths_on(ASYNC_IO_BACKEND_URING);
    bad_fds_and_huge_lengths_on(ASYNC_IO_BACKEND_EPOLL);
}

/* A big submission queue asked for: its completion queue (four times as big) past the
   kernel's most is clamped to it, and io_uring still runs. */
TEST(big_rings_are_clamped) {
    async_loop loop;
    async_io io;
    async_io_config cfg;
    async_loop_init(&loop, NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.backend = ASYNC_IO_BACKEND_URING;
    cfg.entries = 20000;
    CHECK_EQ(async_io_init(&io, &loop, &cfg), 0);
    CHECK_STR(async_io_backend_name(&io), "io_uring");
    async_io_exit(&io);
}

/* ------------------------------------------------------------------ */
/* a flush from a posted callback                                      */

static async_io *flushing_io;
static int flushes;

static void flush_from_callback(void *arg) {
    (void)arg;
    flushes++;
    async_io_flush(flushing_io); /* as a callback that queued closes might */
}

/* A posted callback runs while the backend takes a batch of completions (the wake-up's and
   a receive's, in one poll): its async_io_flush must not take the same batch again. Each
   operation completes once (a second completion asserts) and nothing stays counted in
   flight. */
static void flush_inside_reap(int backend) {
    async_loop loop;
    async_io io;
    async_io_callback cb;
    async_io_op op;
    async_timer t;
    char in = 0;
    int sv[2];
    CHECK_EQ(io_start(&loop, &io, backend), 0);
    flushing_io = &io;
    flushes = 0;
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    async_io_recv(&io, &op, sv[0], &in, 1, 0);
    memset(&t, 0, sizeof t);
    async_run(&loop, async_sleep(&loop, &t, ASYNC_MS(1))); /* the receive is in the kernel */
    async_io_post(&io, &cb, flush_from_callback, NULL);      /* the wake-up completes ... */
    CHECK_EQ(write(sv[1], "x", 1), 1);                     /* ... and so does the receive */
    CHECK_EQ(async_run(&loop, &op.future), 0);
    CHECK_EQ(async_result(&op.future), 1);
    CHECK_EQ(in, 'x');
    async_run(&loop, async_sleep(&loop, &t, ASYNC_MS(1)));
    CHECK_EQ(flushes, 1);
    CHECK_EQ(io.inflight, 0);
    async_io_close_detached(&io, sv[0]);
    close(sv[1]);
    async_io_flush(&io);
    async_io_exit(&io);
}

/* Posted callbacks run in the order posted, also when one of them flushes and posts
   another: the one posted later does not run ahead of those already waiting. */
static async_io_callback fifo_cbs[3];
static char fifo_order[4];
static int fifo_n;

static void fifo_note(void *arg) { fifo_order[fifo_n++] = (char)(intptr_t)arg; }

static void fifo_first(void *arg) {
    fifo_note(arg);
    async_io_post(flushing_io, &fifo_cbs[2], fifo_note, (void *)(intptr_t)'3');
    async_io_flush(flushing_io);
}

static void posts_stay_in_order(int backend) {
    async_loop loop;
    async_io io;
    async_timer t;
    CHECK_EQ(io_start(&loop, &io, backend), 0);
    flushing_io = &io;
    fifo_n = 0;
    memset(fifo_order, 0, sizeof fifo_order);
    async_io_post(&io, &fifo_cbs[0], fifo_first, (void *)(intptr_t)'1');
    async_io_post(&io, &fifo_cbs[1], fifo_note, (void *)(intptr_t)'2');
    memset(&t, 0, sizeof t);
    async_run(&loop, async_sleep(&loop, &t, ASYNC_MS(10)));
    CHECK_STR(fifo_order, "123");
    async_io_exit(&io);
}

TEST(flush_from_a_posted_callback) {
    flush_inside_reap(ASYNC_IO_BACKEND_URING);
    flush_inside_reap(ASYNC_IO_BACKEND_EPOLL);
    posts_stay_in_order(ASYNC_IO_BACKEND_URING);
    posts_stay_in_order(ASYNC_IO_BACKEND_EPOLL);
}

/* A loop that starts as many operations each turn as its ring has entries still runs what is
   posted to it: the wake-up's read is armed before the queue fills up (it was armed after, found
   no room, and what was posted waited for as long as the loop stayed that busy). */
static int posted_ran;
static void note_posted(void *arg) {
    (void)arg;
    posted_ran++;
}

static void posts_run_on_a_full_ring(int backend) {
    enum { K = 8 };
    async_loop loop;
    async_io io;
    async_io_config cfg;
    async_io_op ops[K];
    async_io_callback cbs[2];
    char buf[K];
    int sv[K][2], i, round, ran_at = -1;
    async_loop_init(&loop, NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.backend = backend;
    cfg.entries = K;
    CHECK_EQ(async_io_init(&io, &loop, &cfg), 0);
    for (i = 0; i < K; i++) CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), 0);
    async_io_ref(&io); /* the posts are this thread's own */
    for (round = 0; round < 1000 && ran_at < 0; round++) {
        if (round == 5 || round == 10) async_io_post(&io, &cbs[round == 10], note_posted, NULL);
        for (i = 0; i < K; i++) { /* the turn's work: K receives, their bytes there already */
            CHECK_EQ(write(sv[i][1], "x", 1), 1);
            async_io_recv(&io, &ops[i], sv[i][0], &buf[i], 1, 0);
        }
        for (i = 0; i < K; i++) CHECK_EQ(async_run(&loop, &ops[i].future), 0);
        if (round < 10) posted_ran = 0;
        else if (posted_ran) ran_at = round;
    }
    if (ran_at < 10 || ran_at > 12) fprintf(stderr, "  backend %d: the post ran at turn %d\n", backend, ran_at);
    CHECK(ran_at >= 10 && ran_at <= 12); /* -1 (never, in 1,000 turns) without the fix */
    async_io_unref(&io);
    for (i = 0; i < K; i++) close(sv[i][0]), close(sv[i][1]);
    async_io_exit(&io);
}

TEST(posts_run_though_every_turn_fills_the_ring) {
    posts_run_on_a_full_ring(ASYNC_IO_BACKEND_URING); /* (epoll's receives here end at once, no turn needed) */
}

/* A detached close waits behind the operations still waiting for a submission slot: a send
   of the backlog goes out on its socket, then the socket closes (the close went ahead of it,
   and the send failed EBADF; with no slot at all it was close(2) at once, and the send could
   go to the next socket made with that number). */
TEST(detached_close_waits_behind_the_backlog) {
    async_loop loop;
    async_io io;
    async_io_config cfg;
    async_io_op fill, snd;
    async_timer t;
    char dummy, got[32];
    int a[2], d[2], i;
    ssize_t n;
    async_loop_init(&loop, NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.backend = ASYNC_IO_BACKEND_URING;
    cfg.entries = 2;
    CHECK_EQ(async_io_init(&io, &loop, &cfg), 0);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, d), 0);
    async_io_recv(&io, &fill, d[0], &dummy, 1, 0); /* the queue (2) holds it and the wake-up's read */
    submits = 0;                                    /* the next submit: the kernel is busy */
    async_io_send(&io, &snd, a[0], "last words", 10, 0);
    CHECK_EQ(snd._queued, ASYNC_IO__QUEUED_START); /* in the backlog */
    async_io_close_detached(&io, a[0]);
    memset(&t, 0, sizeof t);
    for (i = 0; i < 50 && !async_done(&snd.future); i++) async_run(&loop, async_sleep(&loop, &t, ASYNC_MS(1)));
    CHECK_EQ(async_error(&snd.future), 0);
    CHECK_EQ(async_result(&snd.future), 10);
    n = recv(a[1], got, sizeof got, MSG_DONTWAIT);
    CHECK(n == 10 && !memcmp(got, "last words", 10));
    for (i = 0; i < 50 && (n = recv(a[1], got, sizeof got, MSG_DONTWAIT)) != 0; i++)
        async_run(&loop, async_sleep(&loop, &t, ASYNC_MS(1)));
    CHECK_EQ(n, 0); /* and then it closed */
    async_future_cancel(&fill.future);
    async_run(&loop, &fill.future);
    async_io_exit(&io);
    close(a[1]), close(d[0]), close(d[1]);
}

/* A socket that always has more to read does not keep one task from the others: past
   ASYNC_IO_READS_PER_TURN receives that end at once, the next waits for the poll. On epoll a
   receive on a readable socket ends inside the call: this reader took all 64 KiB before
   anyone else ran, and a TLS stream of full reads froze the loop, its timers too. io_uring's
   completions come through the loop anyway. */
typedef struct drainer {
    async_task task;
    async_io *io;
    async_io_op op;
    int fd, reads;
    size_t got;
    char buf[100];
} drainer;

static int drainer_run(async_task *t) {
    drainer *d = (drainer *)t;
    ASYNC_BEGIN(t);
    while (d->got < 65536) {
        ASYNC_AWAIT(t, async_io_recv(d->io, &d->op, d->fd, d->buf, sizeof d->buf, 0));
        if (async_result(&d->op.future) <= 0) break;
        d->got += (size_t)async_result(&d->op.future);
        d->reads++;
    }
    ASYNC_END(t);
}

typedef struct onlooker {
    async_task task;
    const drainer *d;
    int saw; /* the drainer's reads when this first ran */
} onlooker;

static int onlooker_run(async_task *t) {
    onlooker *o = (onlooker *)t;
    ASYNC_BEGIN(t);
    o->saw = o->d->reads;
    ASYNC_END(t);
}

static void reads_leave_room(int backend) {
    async_loop loop;
    async_io io;
    drainer d;
    onlooker o;
    static char data[65536];
    int sv[2];
    CHECK_EQ(io_start(&loop, &io, backend), 0);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    CHECK_EQ(write(sv[1], data, sizeof data), (ssize_t)sizeof data);
    memset(&d, 0, sizeof d);
    memset(&o, 0, sizeof o);
    d.io = &io, d.fd = sv[0], o.d = &d, o.saw = -1;
    async_create_task(&loop, &d.task, drainer_run);
    async_create_task(&loop, &o.task, onlooker_run);
    CHECK_EQ(async_run(&loop, &d.task.future), 0);
    CHECK_EQ(d.got, sizeof data);
    if (o.saw < 0 || o.saw > ASYNC_IO_READS_PER_TURN)
        fprintf(stderr, "  backend %d: the other task ran after %d of %d reads\n", backend, o.saw, d.reads);
    CHECK(o.saw >= 0 && o.saw <= ASYNC_IO_READS_PER_TURN);
    close(sv[0]), close(sv[1]);
    async_io_exit(&io);
}

TEST(reads_leave_room_for_the_others) {
    reads_leave_room(ASYNC_IO_BACKEND_EPOLL);
    reads_leave_room(ASYNC_IO_BACKEND_URING);
}

int main(void) {
    struct rlimit rl;
    /* 1,000 sockets and more: as many fds as the hard limit allows. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    RUN(forced_and_chosen_backends);
    RUN(io_uring_without_sockets_is_refused);
    RUN(epoll_where_io_uring_is_refused);
    RUN(small_ring_many_operations);
    RUN(epoll_many_operations);
    RUN(epoll_accept_grows_the_table);
    RUN(written_watched_stream_not_clean);
    RUN(stray_bytes_behind_a_watch_no_poll_has_seen);
    RUN(short_reads_that_do_not_drain);
    RUN(flush_from_a_posted_callback);
    RUN(big_rings_are_clamped);
    RUN(bad_fds_and_huge_lengths);
    RUN(reset_before_the_loop_looked);
    RUN(close_with_a_receive_waiting);
    RUN(epoll_close_wakes_a_canceller);
    RUN(epoll_closed_fd_number_reused);
    RUN(offset_on_a_pipe);
    RUN(trigger_from_a_signal);
    RUN(posts_run_though_every_turn_fills_the_ring);
    RUN(detached_close_waits_behind_the_backlog);
    RUN(reads_leave_room_for_the_others);
    return test_summary("backend");
}
