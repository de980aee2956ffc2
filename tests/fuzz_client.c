/* fuzz_client.c - libFuzzer target: the HTTP client end to end, against a server that
 * answers with the fuzzed bytes.
 *
 * Built with FUZZ_TLS (build/fuzz_client_tls), the same over https: the servers speak TLS
 * through async_stream's server side, with a certificate from a CA made at start-up, and the
 * fuzzed bytes are the plaintext of the response.
 *
 * Everything runs in one thread, on one loop: two listening sockets on 127.0.0.1 (ports
 * chosen by the kernel) are served by tasks of our own on the same io_uring as the client.
 * The "fuzz" server answers the first request of each input with the fuzzed bytes (sent in
 * pieces), then closes, resets, half-closes or keeps the connection open, and answers any
 * later request on it properly; the "good" server always answers properly.
 *
 * The input is 2 control bytes and then the response:
 *   byte 0: bits 0-1 the method (GET, HEAD, POST, DELETE); bits 2-3 how the server ends
 *           (0 close, 1 reset, 2 keep the connection open, 3 shutdown(SHUT_WR)); bits 4-7
 *           the seed of the pieces the response is sent in (0: one send)
 *   byte 1: client limits, 2 bits each: max_header_bytes, max_headers, max_body_size,
 *           recv_buffer_size (0: the defaults; else small values)
 *
 * A fuzzed redirect is followed: to our own servers as usual, to any other host through the
 * good server, which is the client's proxy for every host but 127.0.0.1 (so no name is looked
 * up and nothing leaves the machine).
 *
 * Each input: the fuzzed request must end with a response that makes sense or with one of
 * the client's named errors (never a timeout unless the server keeps the connection open: then
 * the fuzz requests have a 5 ms total timeout);
 * then a request to the good server on the same client must succeed, and a second request to
 * the fuzz server (on the pooled connection, if it was kept) must end too. Afterwards: no
 * connection lent out (client busy == 0, every slot free or idle), nothing in flight on the
 * ring, every allocation of the client freed, and exactly the fds of before.
 */
#define _GNU_SOURCE
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"
#include "net.h"
#ifdef FUZZ_TLS
#include "tls.h"
#endif

#define FUZZ_ASSERT(cond)                                                                    \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: FUZZ_ASSERT failed: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

enum { END_CLOSE, END_RESET, END_KEEP, END_SHUTDOWN };
#define GOOD_RESPONSE "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nk"
#define NSCONN 8

/* ---- The servers: tasks on the client's own loop */

typedef struct fuzz_input {
    const char *data;
    size_t len;
    int end;
    unsigned seed;
    int served; /* the fuzzed response went out once already */
} fuzz_input;

typedef struct sconn {
    async_task task;
    async_stream st; /* plain, or TLS (fuzz_client_tls): the fuzzed bytes are then the plaintext */
    int fd, fuzz, err, caught, in_use;
    char req[4096];
    size_t req_len, sent, piece, n;
    uint32_t rng;
    const char *out;
    size_t out_len;
} sconn;

typedef struct acceptor {
    async_task task;
    async_io_op op;
    int lfd, fuzz, err;
} acceptor;

static async_loop loop;
static async_io io;
#ifdef FUZZ_TLS
static fixture pki;         /* a temp dir with the test CA and the server's certificate */
static async_tls server_tls;
static char ca_file[512];
#define SCHEME "https"
#else
#define SCHEME "http"
#endif
static int lfd_fuzz, lfd_good, port_fuzz, port_good;
static sconn sconns[NSCONN];
static acceptor acc_fuzz, acc_good;
static fuzz_input input;

static size_t next_piece(sconn *s) {
    size_t left = s->out_len - s->sent, n;
    if (!s->fuzz || input.seed == 0) return left;
    s->rng ^= s->rng << 13, s->rng ^= s->rng >> 17, s->rng ^= s->rng << 5;
    n = 1 + s->rng % (input.seed * 8);
    return n < left ? n : left;
}

/* One await of a stream operation of the server's, until it is over (cancel: caught). */
#define SERVE(t, s, call) while ((f = (call)) != NULL) ASYNC_AWAIT_CATCH(t, f, (s)->caught)

static int sconn_run(async_task *t) {
    sconn *s = (sconn *)t;
    async_future *f;
    ASYNC_BEGIN(t);
#ifdef FUZZ_TLS
    if (async_stream_tls_server(&s->st, &server_tls) != 0) goto done;
    SERVE(t, s, async_stream_handshake(&s->st, &s->err));
    if (s->err || s->caught) goto done;
#endif
    for (;;) {
        /* One request head (the client sends no request body here). */
        s->req_len = 0;
        while (s->req_len < 4 || !memmem(s->req, s->req_len, "\r\n\r\n", 4)) {
            if (s->req_len == sizeof s->req) goto done;
            s->n = 0;
            SERVE(t, s, async_stream_recv(&s->st, s->req + s->req_len, sizeof s->req - s->req_len, &s->n, &s->err));
            if (s->err || s->caught || s->n == 0) goto done;
            s->req_len += s->n;
        }
        if (s->fuzz && !input.served) {
            input.served = 1;
            s->out = input.data, s->out_len = input.len;
        } else {
            s->out = GOOD_RESPONSE, s->out_len = sizeof GOOD_RESPONSE - 1;
            s->fuzz = 0; /* pieces only for the fuzzed bytes */
        }
        for (s->sent = 0; s->sent < s->out_len; s->sent += s->piece) {
            s->piece = next_piece(s);
            s->n = 0;
            SERVE(t, s, async_stream_send(&s->st, s->out + s->sent, s->piece, &s->n, &s->err));
            if (s->err || s->caught) goto done;
        }
        if (s->out == input.data) {
            if (input.end == END_CLOSE) goto done;
            if (input.end == END_RESET) {
                struct linger l = {1, 0};
                setsockopt(s->st.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
                goto done;
            }
            if (input.end == END_SHUTDOWN) shutdown(s->st.fd, SHUT_WR); /* over TLS: no close_notify */
        }
    }
done:
    SERVE(t, s, async_stream_settle(&s->st));
    async_stream_close(&s->st); /* close_notify first, over TLS, if all went well */
    s->fd = -1;
    ASYNC_END(t);
}

static int acceptor_run(async_task *t) {
    acceptor *a = (acceptor *)t;
    ASYNC_BEGIN(t);
    for (;;) {
        ASYNC_AWAIT_CATCH(t, async_io_accept(&io, &a->op, a->lfd, NULL, NULL, SOCK_CLOEXEC), a->err);
        /* An accept that completed as the cancellation came still made a connection. */
        if (!async_error(&a->op.future)) {
            int fd = (int)async_result(&a->op.future), i;
            sconn *s = NULL;
            for (i = 0; i < NSCONN && !s; i++)
                if (!sconns[i].in_use) s = &sconns[i];
            if (!s || a->err) {
                close(fd);
            } else {
                memset(s, 0, sizeof *s);
                s->in_use = 1;
                s->fd = fd;
                async_stream_init(&s->st, &io, fd);
                s->fuzz = a->fuzz;
                s->rng = input.seed * 2654435761u + 7;
                async_create_task(&loop, &s->task, sconn_run);
            }
        }
        if (a->err) break;
    }
    ASYNC_END(t);
}

/* ---- What the client allocates (net.h's counting_alloc): it must give back every byte;
   sizes past 1 GiB fail, as a real allocator's would past what it has (and ASan would abort) */
static alloc_count allocs = {.fail_over = (size_t)1 << 30};

/* ---- Checks */

static int known_error(int err, int end) {
    switch (err) {
    case ASYNC_HTTP_EMALFORMED:
    case ASYNC_HTTP_EHEADER_TOO_LARGE:
    case ASYNC_HTTP_EBODY_TOO_LARGE:
    case ASYNC_HTTP_ECLOSED:
    case ASYNC_HTTP_ERESET:
    case ASYNC_HTTP_EURL:    /* a Location that is no URL */
    case ASYNC_HTTP_ESCHEME: /* a Location to ftp:, file:, ... */
    case ASYNC_HTTP_EDECODE: /* a body its Content-Encoding does not decode */
        return 1;
    case ASYNC_HTTP_ETIMEOUT_TOTAL: /* the server went silent with the connection open */
        return end == END_KEEP;
    case ASYNC_HTTP_ETLS_TRUNCATED: /* a body that ends with the connection, which ended without close_notify */
        return end == END_SHUTDOWN || end == END_RESET;
    default:
        return 0;
    }
}

/* ---- Redirects: a fuzzed Location may name any host. Every host but 127.0.0.1 goes through
   the good server as the client's proxy: no name is looked up, nothing leaves the machine.
   Our own two origins answer as they always do; a redirect anywhere else (another port,
   another scheme, a host behind the proxy) may end in any of the client's named errors. */
static char origins[2][64]; /* SCHEME://127.0.0.1:port of the fuzz and the good server */
static int redirected_away;

static void watch_redirects(void *user, async_http_request *req, int what, const char *text, size_t len) {
    int i, ours = 0;
    (void)user, (void)req;
    if (what != ASYNC_HTTP_TRACE_REDIRECT) return;
    for (i = 0; i < 2; i++) {
        size_t n = strlen(origins[i]);
        if (len > n && !memcmp(text, origins[i], n) && text[n] == '/') ours = 1;
    }
    if (!ours) redirected_away = 1;
}

static void check_request(async_http_request *r, const async_http_client_config *cfg, int is_head,
                          int end) {
    int err = async_error(&r->task.future);
    FUZZ_ASSERT(async_done(&r->task.future));
    if (err) {
        const char *msg = async_http_request_error(r);
        int ok = known_error(err, end) || (redirected_away && err <= -4200 && err > -4300); /* a named one */
        if (!ok) fprintf(stderr, "unexpected error %d: %s\n", err, msg);
        FUZZ_ASSERT(ok);
        FUZZ_ASSERT(msg && *msg && strcmp(msg, "unknown error") != 0);
        if (err == ASYNC_HTTP_EMALFORMED || err == ASYNC_HTTP_EHEADER_TOO_LARGE)
            FUZZ_ASSERT(strstr(msg, " at byte ") != NULL);
        FUZZ_ASSERT(r->response.body == NULL && r->response.headers == NULL); /* released */
    } else {
        async_http_response *resp = &r->response;
        size_t i;
        FUZZ_ASSERT(async_result(&r->task.future) == resp->status);
        FUZZ_ASSERT(resp->status == 101 || (resp->status >= 200 && resp->status <= 599));
        FUZZ_ASSERT(resp->body != NULL && resp->body[resp->body_len] == 0);
        FUZZ_ASSERT(resp->body_len <= cfg->max_body_size);
        FUZZ_ASSERT(resp->header_count <= cfg->max_headers);
        if (is_head) FUZZ_ASSERT(resp->body_len == 0);
        for (i = 0; i < resp->header_count; i++) {
            const async_http_header *h = &resp->headers[i];
            FUZZ_ASSERT(h->name_len > 0 && memchr(h->value, '\n', h->value_len) == NULL);
        }
    }
}

static void check_pool(const async_http_client *c) { FUZZ_ASSERT(client_settled(c)); }

/* ---- The target */

#ifdef FUZZ_TLS
static void remove_pki(void) { fixture_stop(&pki); }
#endif

static int setup(void) {
    signal(SIGPIPE, SIG_IGN);
    async_loop_init(&loop, NULL);
    if (async_io_init(&io, &loop, NULL)) {
        fprintf(stderr, "io_uring: %s\n", async_io_error(&io));
        exit(1);
    }
    lfd_fuzz = listen_on_loopback(64, &port_fuzz);
    lfd_good = listen_on_loopback(64, &port_good);
#ifdef FUZZ_TLS
    {
        async_tls_config t;
        char cert[512], key[512];
        FUZZ_ASSERT(fixture_init(&pki, "fuzz_tls"));
        tls_make_pki(pki.root);
        tls_path(ca_file, sizeof ca_file, pki.root, "ca.pem");
        tls_path(cert, sizeof cert, pki.root, "good.pem");
        tls_path(key, sizeof key, pki.root, "good.key");
        memset(&t, 0, sizeof t);
        t.cert_file = cert;
        t.key_file = key;
        FUZZ_ASSERT(async_tls_init(&server_tls, &t) == 0);
        atexit(remove_pki);
    }
#endif
    return 1;
}

static void start_servers(void) {
    memset(sconns, 0, sizeof sconns);
    memset(&acc_fuzz, 0, sizeof acc_fuzz);
    memset(&acc_good, 0, sizeof acc_good);
    acc_fuzz.lfd = lfd_fuzz, acc_fuzz.fuzz = 1;
    acc_good.lfd = lfd_good;
    async_create_task(&loop, &acc_fuzz.task, acceptor_run);
    async_create_task(&loop, &acc_good.task, acceptor_run);
}

static void stop_servers(void) {
    int i;
    async_cancel(&acc_fuzz.task);
    async_cancel(&acc_good.task);
    async_run(&loop, &acc_fuzz.task.future);
    async_run(&loop, &acc_good.task.future);
    for (i = 0; i < NSCONN; i++) {
        if (!sconns[i].in_use) continue;
        async_cancel(&sconns[i].task);
        async_run(&loop, &sconns[i].task.future);
        FUZZ_ASSERT(sconns[i].fd == -1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    static const char *const methods[] = {"GET", "HEAD", "POST", "DELETE"};
    static const size_t header_bytes[] = {0, 64, 256, 1024}, headers[] = {0, 1, 4, 16},
                        body_sizes[] = {0, 1, 16, 256}, recv_sizes[] = {0, 1, 7, 64};
    async_http_client client;
    async_http_client_config cfg;
    async_http_request r;
    char fuzz_url[64], good_url[64], proxy_url[64];
    const char *method;
    int fds, err, tries;
    async_time fuzz_timeout;
    if (!ready) ready = setup();
    if (size < 2) return 0;

    memset(&input, 0, sizeof input);
    input.data = (const char *)data + 2;
    input.len = size - 2;
    input.end = (data[0] >> 2) & 3;
    input.seed = data[0] >> 4;
    method = methods[data[0] & 3];
    fuzz_timeout = input.end == END_KEEP ? ASYNC_MS(5) : 0;

    memset(&cfg, 0, sizeof cfg);
    cfg.max_header_bytes = header_bytes[data[1] & 3];
    cfg.max_headers = headers[(data[1] >> 2) & 3];
    cfg.max_body_size = body_sizes[(data[1] >> 4) & 3];
    cfg.recv_buffer_size = recv_sizes[(data[1] >> 6) & 3];
    /* Never reached: it would be a hang. With the connection kept open, a response that
       wants more bytes ends by the fuzz requests' own 5 ms timeout (request.timeout), which
       leaves the good request's timeouts generous: it must succeed whatever the machine's load. */
    cfg.timeout_total = ASYNC_SEC(5);
    cfg.timeout_sock_read = ASYNC_SEC(2);
    cfg.alloc = counting_alloc;
    cfg.alloc_user = &allocs;
#ifdef FUZZ_TLS
    cfg.ca_file = ca_file;
#endif
    snprintf(fuzz_url, sizeof fuzz_url, SCHEME "://127.0.0.1:%d/fuzz", port_fuzz);
    snprintf(good_url, sizeof good_url, SCHEME "://127.0.0.1:%d/good", port_good);
    snprintf(origins[0], sizeof origins[0], SCHEME "://127.0.0.1:%d", port_fuzz);
    snprintf(origins[1], sizeof origins[1], SCHEME "://127.0.0.1:%d", port_good);
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", port_good);
    cfg.proxy = proxy_url;
    cfg.no_proxy = "127.0.0.1";
    cfg.trace = watch_redirects;
    redirected_away = 0;

    fds = count_fds();
    start_servers();
    FUZZ_ASSERT(async_http_client_init(&client, &io, &cfg) == 0);

    /* The fuzzed response. */
    fetch_new(&client, &r, method, fuzz_url, fuzz_timeout);
    check_request(&r, &client.config, !strcmp(method, "HEAD"), input.end);
    async_http_request_release(&r);
    check_pool(&client);

    /* The client goes on: a good server answers properly. */
    err = fetch_new(&client, &r, "GET", good_url, 0);
    if (err) fprintf(stderr, "good request failed: %s\n", async_http_request_error(&r));
    FUZZ_ASSERT(err == 0 && r.response.status == 200 && r.response.body_len == 1 &&
                r.response.body[0] == 'k');
    async_http_request_release(&r);
    check_pool(&client);

    /* The fuzz server again: on its pooled connection if the response left it reusable. */
    fetch_new(&client, &r, "GET", fuzz_url, fuzz_timeout);
    check_request(&r, &client.config, 0, input.end);
    async_http_request_release(&r);
    check_pool(&client);

    async_http_client_close(&client);
    FUZZ_ASSERT(allocs.live == 0);
    stop_servers();
    /* Detached closes go to the kernel with the next submission. */
    for (tries = 0; tries < 100 && count_fds() != fds; tries++) loop.poll(loop.backend, ASYNC_MS(1));
    FUZZ_ASSERT(io.inflight == 0);
    if (count_fds() != fds) fprintf(stderr, "fds: %d before, %d after\n", fds, count_fds());
    FUZZ_ASSERT(count_fds() == fds);
    return 0;
}
