/* async_http.h - aiohttp in C: an I/O backend for async.h (io_uring, or epoll
   where io_uring is refused), TLS (OpenSSL), an incremental HTTP/1.1
   response parser and an HTTP/1.1 client with a keep-alive connection pool,
   redirects, decompression, proxies and name lookups off the loop. Linux.

   version 0.4.0 - MIT license (at the end of this file)

   Do this:
       #define ASYNC_IMPLEMENTATION
       #define ASYNC_HTTP_IMPLEMENTATION
       #define ASYNC_HTTP_TLS      // https (link -lssl -lcrypto); optional
       #define ASYNC_HTTP_ZLIB     // gzip/deflate bodies (link -lz); optional
   before you include async.h and this file in *one* C file. Link -luring
   -lpthread (and what the options above ask for). Other files include it
   plainly, with the same ASYNC_HTTP_NO_URING; under -std=c99 (not gnu99)
   first, or after defining _POSIX_C_SOURCE 200809L.

   OVERVIEW
   ========
       async_loop loop;          async_loop_init(&loop, NULL);
       async_io io;              async_io_init(&io, &loop, NULL);   // io_uring, else epoll
       async_http_client client; async_http_client_init(&client, &io, NULL);

       async_http_request req;
       async_http_start(&client, &req, &(async_http_request_desc){.url = "https://swapi.dev/api/people/1"});
       int err = async_run(&loop, &req.task.future);
       if (err) printf("%s\n", async_http_request_error(&req));
       else printf("%d %.*s\n", req.response.status, (int)req.response.body_len, req.response.body);
       async_http_request_release(&req);

       async_http_client_close(&client);  // cancels what still runs, and waits for it
       async_io_exit(&io);                 // after the client's close, never before it

   A request runs as a task: await &req.task.future from a coroutine (or
   gather many), then read req.response. Its result is the status code;
   its error one of the ASYNC_HTTP_E* codes below (or ASYNC_ECANCELED), and
   async_http_request_error says what happened, with the details (where a
   response was malformed, OpenSSL's reason, which timeout and its value).

   THE BACKEND (async_io_*)
   ========================
   One backend per loop, plugged into the loop's backend hook: io_uring
   (one ring, operations batched, one io_uring_enter per loop turn; it asks
   for SINGLE_ISSUER|DEFER_TASKRUN, then COOP_TASKRUN, then nothing, as far
   as the kernel allows), or epoll where io_uring is refused (Docker's
   default seccomp profile, kernel.io_uring_disabled, old kernels, gVisor):
   readiness-based, edge-triggered, one epoll_wait per turn. async_io_init
   picks io_uring and falls back by itself (config.log is told once why);
   config.backend or ASYNC_IO_BACKEND=io_uring|epoll in the environment
   forces one; async_io_backend_name says which runs. ASYNC_HTTP_NO_URING
   builds epoll alone, without liburing.
   Socket, connect, send, recv, accept, close, read and write are awaitable
   operations, one verb each as in liburing; their state (an async_io_op) is
   your storage and so are their buffers, which must stay put until the
   operation is done. Cancelling an operation (or the task awaiting it)
   completes it only when nothing can touch its buffer any more (io_uring:
   after the kernel's completion; epoll: at once, between syscalls). Such
   an operation may still have succeeded: after a caught cancellation, look
   at the operation's own future, and close a socket that socket() or
   accept() made all the same. A full submission queue never asserts: what
   does not fit waits in a backlog until the next turn. async_io_send
   always adds MSG_NOSIGNAL: a peer that went away is an error, not SIGPIPE.

   WORKERS AND THREADS
   ===================
   One loop per thread, sharing nothing: for more than one core, run N
   loops on N threads, each with its own io and client (status_codes
   --threads N). Two things cross threads, both per io:
   - async_io_post(io, &cb, fn, arg), asyncio's call_soon_threadsafe: any
     thread has fn(arg) run on the loop's thread, in the order posted. An
     eventfd that both backends watch wakes the loop, once per burst.
   - async_io_to_thread(io, &work, fn, arg), asyncio's to_thread: fn runs
     on a worker thread and work.future completes on the loop. Workers
     start as jobs need them, up to async_io_config.max_workers (default
     16: lookups wait on the network, not the CPU), and async_io_exit joins them. Cancelling the await ends the future
     at once, not fn: the pool keeps the async_work until fn has returned,
     then calls work.release (>>workers: who owns what, and until when).
   A job counts as in flight (a task awaiting one is never ASYNC_EDEADLK);
   the watched eventfd does not, so callbacks that only your threads post
   need async_io_ref while the loop must wait for them.
   Process-wide state: the error-name registry of async.h, filled once by
   async_io_init (pthread_once) and read by async_strerror: register
   domains of your own before starting threads (and, in a PARSER_ONLY
   build, call async_http_errors_register first); with ASYNC_HTTP_TLS, the
   BIO method, made once (pthread_once) and only read after. getenv:
   async_io_init reads ASYNC_IO_BACKEND, and async_http_client_init with
   trust_env the proxy variables (http_proxy, https_proxy, no_proxy, their
   upper-case names, REQUEST_METHOD): no setenv on another thread meanwhile.
   Nothing else is static.

   STREAMS AND TLS (async_stream_*, async_tls_*)
   ===============================================
   A connection is an async_stream: plain TCP, or TLS on top of it
   (ASYNC_HTTP_TLS, OpenSSL 3). OpenSSL never touches the socket: it reads
   and writes ciphertext through a BIO of ours over the stream's buffers,
   which the backend moves, so batching, timeouts and cancellation stay.
   Stream calls are poll-style: each returns the future to await and is
   called again, or NULL once it is over. The client uses them for its
   connections; a server can too (examples/swapi_server.c --tls).
   A client context verifies the peer against the system's store (or
   ca_file / ca_path; insecure: not at all), checks the host name or IP
   literal, sends SNI for names, wants TLS 1.2 at least and ALPN http/1.1;
   sessions are resumed on reconnect; close_notify goes out on a clean
   close, and a body that ends with the connection but without close_notify
   is a truncation (ASYNC_HTTP_ETLS_TRUNCATED), not a short success. A
   TLS 1.2 server's secure renegotiation, even in the middle of a body, is
   taken up (OpenSSL's default; a server asking for a client certificate
   there needs it); one it starts and never finishes keeps the connection
   out of the pool, and one it starts while the connection idles in the
   pool retires it (the next request opens another, resuming the
   session). A record OpenSSL refuses (one that does not decrypt,
   more than 32 empty ones in a row) ends the request with ASYNC_HTTP_ETLS,
   its alert sent.

   THE CLIENT (async_http_*)
   =========================
   As aiohttp's ClientSession: one client per application.
   - A pool of keep-alive connections keyed by scheme, host and port, with
     a total limit (default 100) and an optional per-host limit (requests
     beyond wait their turn, first come first served; one held back by its
     host's limit goes first once that host gives a connection back). An
     idle connection keeps a receive posted: bytes the server sends unasked
     (over TLS, other than its own messages, session tickets and key
     updates, of which it takes up to 256 KiB between two requests), or its
     close, retire it the moment they come, and taking it costs no syscall,
     but for one non-blocking peek when the request could not be retried (a
     POST), or the loop has not polled the kernel in the last 1 ms
     (ASYNC_STREAM_FRESH), or (epoll) not since the connection went idle:
     on io_uring its receive goes to the kernel ahead of the request, and
     ends first on bytes that were there before it (over TLS, a session
     ticket there is taken, anything else is not the answer). An idempotent
     request whose pooled connection the server closed, or sent such bytes
     on, is retried once on a new one.
   - ClientTimeout's total (default 300 s), sock_connect (default 30 s:
     the lookup, the connect and the TLS handshake; the pool's wait counts
     in the total only) and sock_read timeouts.
   - Names are looked up off the loop (getaddrinfo, or config.resolver, on
     the io's worker pool), cached dns_cache_ttl (10 s), one lookup shared
     by the requests that wait for it. Every address is tried, IPv6 and
     IPv4 taking turns (RFC 8305's Happy Eyeballs: 250 ms apart).
   - Redirects followed (max_redirects, 10): 303 makes a GET, 301/302 turn
     a POST into a GET, 307/308 keep method and body; Location resolved by
     RFC 3986 (async_http_url_resolve; a space or a byte past ASCII in it
     percent-encoded), an empty one followed nowhere;
     credentials (and a Host of yours) stay behind on the way to another
     origin; response.history lists the hops. None followed:
     ASYNC_HTTP_NO_REDIRECTS (the 3xx is the answer) or
     ASYNC_HTTP_REDIRECTS_FAIL (it is an error, ASYNC_HTTP_EREDIRECTS).
   - Bodies decompressed as they stream (ASYNC_HTTP_ZLIB: gzip, deflate;
     Accept-Encoding sent unless yours; another coding, or several, leave
     the body as it came); the body limit (max_body_size) is
     on the decoded size (and the compressed bytes stop a sixteenth and
     64 KiB past it: a body that decodes to nothing ends too); a streamed
     body (on_body) has no limit.
   - Proxies: config.proxy, or http_proxy / https_proxy / no_proxy with
     trust_env; https through CONNECT.
   - What you send is checked first: the method and header names are
     tokens, values hold no control characters, framing is the client's
     (a Content-Length must match the body; Transfer-Encoding: chunked
     makes the body go chunked), your Host replaces the client's, and
     http://user:pass@host/ becomes Authorization: Basic. The URL's path
     goes out without "." and ".." segments, a byte past ASCII in its
     path or query percent-encoded (as aiohttp sends it, and curl its
     path; response.url shows it so); a space or a control character in
     it is refused. A long body goes out while the answer is read: a
     final one of 300 or more (a 413, a 401, a redirect) stops the
     upload, as curl's does.
   - request.info and config.trace tell what happened (times, the peer's
     address, the heads sent and received): what fetch -v and -w print.
   - async_http_client_close cancels the requests still running and runs
     the loop until they have let go: the way to shut down after a gather
     that failed fast.
   A request is described by an async_http_request_desc (method, URL,
   headers, body, timeout, on_body); async_http_start copies what it needs
   (the method, URL and header lines), so the desc may go as soon as it
   returns; only the body must stay put until the request is done. The
   older calls async_http_fetch / _get / _head / _post / _put / _delete
   take the same inputs from the request's own fields.

   CONFIGURATION
   =============
   async_http_client_config and async_io_config, zeroed but for what you
   set (zero means the default; garbage is taken as it is):
   limits, timeouts, buffer sizes, TLS, proxies, the resolver, the trace,
   and the allocator (`alloc(user, ptr, size)`: realloc-like, size 0 frees;
   default realloc/free). async.h itself never allocates; the client
   allocates connection buffers, response bodies and lookups through
   `alloc` (not the TLS layer: its ciphertext buffers, 64 KiB in per
   connection and what waits to go out, and OpenSSL's own memory are
   malloc's; CRYPTO_set_mem_functions reaches all of those). A request of
   the usual size allocates only its stored body (nothing with on_body):
   its inputs' copy is inside it (up to 256 bytes with their pointers),
   its head in a block that an earlier one gave back (up to 1 KiB and 16
   lines). Bigger ones, redirects, compressed bodies and credentials in
   the URL allocate as they go. Macros defined before
   the include:
       ASYNC_HTTP_TLS           https, with OpenSSL 3 (-lssl -lcrypto)
       ASYNC_HTTP_ZLIB          gzip and deflate bodies, with zlib (-lz)
       ASYNC_HTTP_NO_URING      epoll only: no liburing needed
       ASYNC_HTTP_PARSER_ONLY   only the response parser: no backend, no
                                client, no liburing (builds anywhere C99 does,
                                ASYNC_TIME32 too; the rest needs 64-bit time)
       ASYNC_IO_FAULT_*         fault injection, for tests (>>io)
       ASYNC_IO_LAZY_TURNS      turns with tasks still ready that may
                                skip asking the kernel (default 8)
       ASYNC_IO_READS_PER_TURN  epoll: receives that may end at once
                                between two polls (default 64)
       ASYNC_STREAM_FRESH       how recent a poll lets a pooled
                                connection be taken unpeeked (1 ms)
       ASYNC_HTTP_HOST_KEEP     how long a host entry nothing uses is
                                kept once the table is full (60 s)

   SECTIONS
   ========
   Each part of the file starts with a banner `// >>name`; search for it.
   The declarations:
       >>errors     one list of the error codes, their names and texts
       >>parser     the incremental HTTP/1.1 response parser (no I/O)
       >>io         the backend contract: async_io_* operations, one verb each
       >>workers    what crosses threads: async_io_post, the worker pool
       >>stream     a connection's bytes, plain or TLS; TLS contexts
       >>client     the client's config, request, response, calls
   The implementation, in this order:
       >>errors >>parser >>io   as declared
       >>uring >>epoll   the two backends behind the >>io contract
       >>workers    the worker pool and async_io_post
       >>client     the client's memory, init, close and stats
       >>pool       connections: per-host idle lists, the free list, the queue
       >>resolve    name lookups on the worker pool, their cache
       >>url        URLs taken apart and resolved, the host table
       >>proxy      which proxy a host goes through
       >>stream     plain streams over the backend
       >>tls        OpenSSL over the stream's buffers
       >>request    what is sent: checks, framing, the bytes
       >>sink       parser -> decoder -> the stored body or on_body
       >>exchange   one request: attempts made of steps, each poll-style
       >>open       resolve -> dial (Happy Eyeballs) -> tunnel -> handshake
       >>transfer   send -> receive -> settle
       >>conclude   done, retry, redirect or fail
       >>task       the coroutine: the steps in order, and the public calls
       >>license

   LIMITS
   ======
   HTTP/1.1 only (no HTTP/2 or 3), no request pipelining, no cookie jar,
   no WebSocket (a 101 is an answer only to a request that asked to
   upgrade), no proxy over https or SOCKS. Host names are ASCII (an IDN
   comes in punycode; percent-encoded names are refused). Linux: io_uring
   needs 5.19 or later (IORING_OP_SOCKET; an older kernel gets epoll by
   itself); epoll runs anywhere Linux does. On epoll, a
   connect to a UNIX socket whose listener's queue is full fails EAGAIN at
   once (io_uring's waits): such a socket is writable before it connects,
   so there is no readiness to wait for.
*/
#ifndef ASYNC_HTTP_H
#define ASYNC_HTTP_H

#define ASYNC_HTTP_VERSION "0.4.0" /* major.minor.patch, as in the comment at the top */

/* The backend and the client need POSIX.1-2008 (liburing.h's sigset_t and
   AT_FDCWD; getaddrinfo, pread): ask for it in a strict mode (-std=c99,
   c11), as async.h does; this only helps when this header comes first. */
#if !defined(ASYNC_HTTP_PARSER_ONLY) && !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE) && !defined(_XOPEN_SOURCE) && \
    !defined(_DEFAULT_SOURCE) && (defined(__STRICT_ANSI__) || !(defined(__GNUC__) || defined(__clang__)))
#define _POSIX_C_SOURCE 200809L
#endif
#include "async.h"
#if defined(ASYNC_IMPLEMENTATION) && !defined(ASYNC_NO_POSIX_CLOCK) && !defined(ASYNC__POSIX_CLOCK) && \
    !defined(ASYNC_HTTP_PARSER_ONLY)
/* async.h said why it has no clock (a system header came first): the
   parser alone follows, so that its one message is the only one. */
#define ASYNC_HTTP_PARSER_ONLY
#endif
#if defined(ASYNC_TIME32) && !defined(ASYNC_HTTP_PARSER_ONLY)
/* One message; the parser alone compiles after it (no follow-on errors). */
#error "async_http.h counts time in nanoseconds: build it without ASYNC_TIME32 (the parser alone, ASYNC_HTTP_PARSER_ONLY, works with it)."
#define ASYNC_HTTP_PARSER_ONLY
#endif
#if !defined(ASYNC_HTTP_PARSER_ONLY) && (!defined(ASYNC_HTTP_NO_URING) || defined(ASYNC_HTTP_IMPLEMENTATION))
#include <fcntl.h>
#ifndef AT_FDCWD
/* One message, not liburing.h's page of sigset_t and AT_FDCWD errors. */
#error "async_http.h needs POSIX.1-2008 (liburing.h, getaddrinfo): define _POSIX_C_SOURCE 200809L or _GNU_SOURCE before any include (or build with -std=gnu11), or include async_http.h first."
#define ASYNC_HTTP_PARSER_ONLY
#endif
#endif
#ifndef ASYNC_HTTP_PARSER_ONLY
#ifndef ASYNC_HTTP_NO_URING
#include <liburing.h>
#endif
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

// >>errors
/* Every code of this header, with its name and text: the enums and
   async_strerror's names are made from these lists, so they cannot drift.
   The backend's own set-up errors have a range of their own. */
#define ASYNC_IO_ERRORS(X)                                                                                      \
    X(ASYNC_IO_ENOURING, -4150, "io_uring is not available (async_io_error() says why and what to do)")         \
    X(ASYNC_IO_EBACKEND, -4151, "the I/O backend could not be set up (async_io_error() says why)")

#define ASYNC_HTTP_ERRORS(X)                                                                                    \
    X(ASYNC_HTTP_EREFUSED, -4200, "connection refused")                                                          \
    X(ASYNC_HTTP_ERESET, -4201, "connection reset by the server")                                                \
    X(ASYNC_HTTP_ECLOSED, -4202, "the server closed the connection before the response was complete")           \
    X(ASYNC_HTTP_ETIMEOUT_TOTAL, -4203, "timed out: the total timeout passed")                                   \
    X(ASYNC_HTTP_ETIMEOUT_CONNECT, -4204, "timed out: the connect timeout passed")                               \
    X(ASYNC_HTTP_ETIMEOUT_READ, -4205, "timed out: the read timeout passed (the server went silent)")            \
    X(ASYNC_HTTP_EMALFORMED, -4206, "malformed response")                                                        \
    X(ASYNC_HTTP_EHEADER_TOO_LARGE, -4207, "response headers too large")                                         \
    X(ASYNC_HTTP_EBODY_TOO_LARGE, -4208, "response body too large")                                              \
    X(ASYNC_HTTP_ENAME, -4209, "host name not found")                                                            \
    X(ASYNC_HTTP_ESCHEME, -4210, "unsupported URL scheme")                             \
    X(ASYNC_HTTP_EURL, -4211, "invalid URL")                                                                     \
    X(ASYNC_HTTP_ENOMEM, -4212, "out of memory")                                                                 \
    /* -4213 was ASYNC_HTTP_ENOURING's; that name is ASYNC_IO_ENOURING's now */                                \
    X(ASYNC_HTTP_ENETWORK, -4214, "network error")                                                               \
    X(ASYNC_HTTP_EHEADER, -4215, "invalid request header")                                                      \
    X(ASYNC_HTTP_ETLS_CERT, -4216, "TLS: the server's certificate is not trusted")                               \
    X(ASYNC_HTTP_ETLS_NAME, -4217, "TLS: the server's certificate is not for this host")                         \
    X(ASYNC_HTTP_ETLS_HANDSHAKE, -4218, "TLS handshake failed")                                                  \
    X(ASYNC_HTTP_ETLS, -4219, "TLS error")                                                                       \
    X(ASYNC_HTTP_ETLS_TRUNCATED, -4220, "TLS: the connection was cut without close_notify (a truncated body)")   \
    X(ASYNC_HTTP_EREDIRECTS, -4221, "too many redirects")                                                        \
    X(ASYNC_HTTP_EDECODE, -4222, "the compressed body is corrupt")                                               \
    X(ASYNC_HTTP_EMETHOD, -4223, "invalid request method")                                                       \
    X(ASYNC_HTTP_EPROXY, -4224, "the proxy refused the connection")

#define ASYNC_HTTP__ENUM(name, code, text) name = code,
enum { ASYNC_IO_ERRORS(ASYNC_HTTP__ENUM) };
enum { ASYNC_HTTP_ERRORS(ASYNC_HTTP__ENUM) ASYNC_HTTP_ENOURING = ASYNC_IO_ENOURING /* the older name */ };
/* An operation's raw failure is -errno; async_strerror() names those too.
   async_http_errors_register() makes async_strerror() know these codes;
   async_io_init and async_http_client_init call it. */
void async_http_errors_register(void);

// >>parser
/* The response parser.
 *
 * Push-style: feed the bytes as they arrive, in pieces of any size. The parser keeps no pointer
 * to earlier pieces: it copies the status line and header lines into the caller's head buffer
 * and hands body bytes straight to on_body, so every byte is looked at once and the result does
 * not depend on how the stream was split.
 *
 * No allocation: all storage (head buffer, header array) belongs to the caller. */

/* Largest Content-Length or chunk size accepted (2^62): beyond it the peer is not serious,
   and every sum of such sizes still fits in an int64_t. */
#define ASYNC_HTTP_MAX_BODY_LENGTH ((uint64_t)1 << 62)

/* Longest chunk-size line (size, extensions, CRLF): extensions are skipped, not stored. */
#define ASYNC_HTTP_MAX_CHUNK_LINE 4096

/* How far a chunked body's framing may outgrow its data, which bounds the work a peer can
   make us do without sending body bytes (max_body_size would never come near). Each chunk
   may bring 16 bytes of framing plus twice its size; what goes beyond adds up, and past
   this the body is refused. A byte a chunk ("1\r\nX\r\n") stays free; extensions that
   dwarf their data do not. The rule Go's net/http took up (CVE-2023-39326). */
#define ASYNC_HTTP_MAX_CHUNK_EXCESS (16 * 1024)

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
    size_t offset;              /* stream bytes consumed so far (interim responses included);
                                   after an error only error_offset is exact */
    const char *error_reason;   /* static string once an error is returned, else NULL */
    size_t error_offset;        /* stream offset of the byte where the error was found */

    /* ---- Configuration (from init) */
    char *head_buf;
    size_t head_cap;
    size_t max_headers;
    int is_head_response;
    async_http_body_cb on_body;
    void *user;
    /* Set after init if not the default: */
    int upgrade_expected;       /* the request asked to upgrade: a 101 ends the response (else a
                                   101 is an error: no HTTP/1.1 response would follow it); 0 */
    unsigned max_interim;       /* 1xx responses allowed before the final one; 16 */

    /* ---- Optional: called when the head buffer or the header array is full. It may
       move the parser to larger storage with async_http_parser_rebase() and return 0;
       ASYNC_HTTP_ENOMEM fails the parse with that code (no memory to grow);
       anything else lets the limit stand (ASYNC_HTTP_EHEADER_TOO_LARGE). */
    int (*grow)(void *user, struct async_http_parser *p);
    /* ---- Optional: called as each head is complete, an interim (1xx) one
       too (`interim` 1: status and headers are its own, and go once this
       returns), before any byte of the body that follows reaches on_body.
       The framing is known by then (body length, content_length, chunked,
       keep_alive); a head whose framing is refused comes too, its error
       already set (error_reason). 0 goes on; a negative code stops the
       parse with it. */
    int (*on_head)(void *user, struct async_http_parser *p, int interim);

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
    uint64_t chunk_excess;      /* framing beyond what the chunks so far were allowed */
    int chunk_has_digit;        /* the chunk size has a digit already */
    int64_t body_length;        /* what async_http_parser_body_length() tells */
    unsigned interim;           /* 1xx responses seen */
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

/* Moves the parser to new storage (from a grow callback): copies the head bytes and the
   header fields there and points everything at the copies. The old storage is the
   caller's to free afterwards. */
void async_http_parser_rebase(async_http_parser *p, char *head_buf, size_t head_cap,
                              async_http_header *headers, size_t max_headers);

/* Whether the final response's status line and headers are available. */
int async_http_parser_head_done(const async_http_parser *p);

/* Once the head is done: the length of the body that follows it (0 when there is none, as for
   a HEAD, 204 or 304), or -1 when the body is chunked or ends with the connection. */
int64_t async_http_parser_body_length(const async_http_parser *p);

/* Case-insensitive lookup among n fields; returns the first match's value (and *len) or NULL.
   len may be NULL. */
const char *async_http_header_find(const async_http_header *h, size_t n, const char *name,
                                   size_t *len);

#ifndef ASYNC_HTTP_PARSER_ONLY
// >>io
/* The backend: socket operations as futures, one verb each. */
enum { ASYNC_IO_BACKEND_AUTO, ASYNC_IO_BACKEND_URING, ASYNC_IO_BACKEND_EPOLL };

typedef struct async_io_config {
    /* ASYNC_IO_BACKEND_AUTO (0): the one the environment variable
       ASYNC_IO_BACKEND=io_uring|epoll names, if set (that one or nothing);
       else io_uring, or epoll where io_uring is refused. _URING or _EPOLL:
       that one or nothing, whatever the environment says. */
    int backend;
    /* Told once, when the backend that runs is not the first choice (the
       fallback to epoll, and why). NULL: nobody is told. */
    void (*log)(void *user, const char *message);
    void *log_user;
    unsigned entries; /* io_uring submission queue size; 0: 1024 */
    unsigned flags;   /* io_uring_setup flags to use instead of the best the kernel takes
                         (not SQPOLL: the idle check cannot see what its thread has read) */
    unsigned max_workers; /* threads of async_io_to_thread's pool, started as needed; 0: 16 */
} async_io_config;

typedef struct async_io__backend async_io__backend;
typedef struct async_io__fd async_io__fd;
typedef struct async_io_op async_io_op;
typedef struct async_work async_work;               /* >>workers */
typedef struct async_io_callback async_io_callback; /* >>workers */

typedef struct async_io {
    async_loop *loop;
    unsigned inflight;    /* operations whose completion has not been seen, jobs the pool
                             holds, async_io_ref's (read it, don't write it) */
    /* Private. */
    const async_io__backend *_backend;
#ifndef ASYNC_HTTP_NO_URING
    struct io_uring _ring;
    async_io_op *_backlog_head;  /* waiting for a free submission slot, oldest first */
    async_io_op *_backlog_tail;
    int *_closes;                /* detached closes behind the backlog, in order (malloc'd) */
    size_t _ncloses, _closes_cap;
#endif
    int _epfd;
    unsigned _clients;  /* async_http_client's open on it: async_io_exit comes after their close */
    async_time _polled; /* when the backend last asked the kernel what happened */
    uint32_t _ends;     /* operations completed (their order, for a stream's take) */
    unsigned long _polls; /* how many times it did */
    unsigned _lazy_turns; /* turns since, that had tasks ready and did not ask */
    async_io__fd *_fds; /* epoll: per fd, what waits for it */
    int _nfds;
    unsigned _reads_now; /* epoll: receives that ended at once since the last poll */
    int *_later;        /* epoll: fds whose ready operations wait for the next poll (malloc'd) */
    size_t _nlater, _later_cap;
    char _error[512];   /* why init failed, and what to do */
    /* The wake-up and the worker pool (>>workers): the only part that other
       threads touch, and only under the two locks. */
    int _wake_fd;                  /* eventfd: written when _posted goes from empty to not */
    uint8_t _wake_armed;           /* io_uring: a read of it is in the kernel */
    uint8_t _wake_closing;         /* io_uring: exiting, do not read it again */
    uint8_t _reaping;              /* inside the reap (a callback's flush must not reap again) */
    uint8_t _locks;                /* the mutexes and the condition exist */
    uint64_t _wake_buf;            /* io_uring: what that read reads */
    pthread_mutex_t _post_lock;    /* guards _posted_* */
    async_io_callback *_posted_head, *_posted_tail;
    pthread_mutex_t _pool_lock;    /* guards the rest */
    pthread_cond_t _pool_cond;     /* idle workers wait on it */
    async_work *_queue_head, *_queue_tail;
    unsigned _queued, _idle, _threads, _max_workers;
    int _stopping;
    pthread_t *_thread_ids;        /* _max_workers of them, from the first start */
} async_io;

enum {
    ASYNC_IO_SOCKET, ASYNC_IO_CONNECT, ASYNC_IO_SEND, ASYNC_IO_RECV, ASYNC_IO_ACCEPT, ASYNC_IO_CLOSE,
    ASYNC_IO_READ, ASYNC_IO_WRITE
};

/* What an operation asks of the backend (private: the verbs fill it in). */
typedef struct async_io__args {
    int fd, flags, protocol;
    void *buf;
    size_t len;
    const struct sockaddr *addr;
    socklen_t addrlen, *addrlenp;
    int64_t offset;
} async_io__args;

struct async_io_op {
    async_future future; /* result: the completion's res (>= 0); error: -errno */
    async_io *io;
    uint8_t kind;        /* ASYNC_IO_SEND, ... */
    uint8_t _cancel_sent, _queued;
    uint32_t _ended;     /* io->_ends when it completed: which of two ended first */
    uint8_t _unheld;     /* not counted in io->inflight (async_io__op_unhold) */
    async_io_op *_next;  /* in a backend's list (a backlog, an fd's waiters) */
    async_io__args _args;
};

/* Fault injection, for tests: define these before the implementation.
   ASYNC_IO_FAULT_LENGTH(kind, len) may shrink a send or recv before it is
   submitted (a short read or write); ASYNC_IO_FAULT_RESULT(kind, res) may
   replace the result of a connect, send or recv with a failure. */
#ifndef ASYNC_IO_FAULT_LENGTH
#define ASYNC_IO_FAULT_LENGTH(kind, len) (len)
#endif
#ifndef ASYNC_IO_FAULT_RESULT
#define ASYNC_IO_FAULT_RESULT(kind, res) (res)
#endif
/* ASYNC_IO_FAULT_SUBMIT(res) may replace what io_uring_submit returned when
   the submission queue was full (-EBUSY: the kernel could not take it). */
#ifndef ASYNC_IO_FAULT_SUBMIT
#define ASYNC_IO_FAULT_SUBMIT(res) (res)
#endif
/* ASYNC_IO_FAULT_OPCODE(op, supported) may deny what the kernel's probe
   said of an opcode (a kernel before 5.19, which has no IORING_OP_SOCKET). */
#ifndef ASYNC_IO_FAULT_OPCODE
#define ASYNC_IO_FAULT_OPCODE(op, supported) (supported)
#endif

/* ASYNC_HTTP_NO_URING changes async_io: define it alike in every file (a
   file that inits an io with the other setting than the implementation's
   does not link: async_io_init_no_uring undefined, or async_io_init). */
#ifdef ASYNC_HTTP_NO_URING
#define async_io_init async_io_init_no_uring
#endif
/* 0, or ASYNC_IO_ENOURING (io_uring was asked for and refused) or
   ASYNC_IO_EBACKEND; async_io_error() then says why and what to do. Call
   it (and async_io_exit) on the thread that runs the loop: the ring
   answers only to the thread that made it. */
int async_io_init(async_io *io, async_loop *loop, const async_io_config *config);
const char *async_io_error(const async_io *io);
const char *async_io_backend_name(const async_io *io); /* "io_uring" or "epoll" */
/* Whatever is still in flight is the caller's to have finished first
   (async_http_client_close each client on it before); the worker pool is
   stopped as >>workers says. */
void async_io_exit(async_io *io);
/* Hand the kernel what is queued and take what has completed, now, without
   waiting. The loop does this when it waits, and at least every
   ASYNC_IO_LAZY_TURNS turns while tasks are ready; call it when the loop
   stops for a while with closes or sends still queued. */
void async_io_flush(async_io *io);

async_future *async_io_socket(async_io *io, async_io_op *op, int domain, int type, int protocol);
async_future *async_io_connect(async_io *io, async_io_op *op, int fd, const struct sockaddr *addr, socklen_t len);
/* flags: send(2)'s and recv(2)'s. MSG_WAITALL is io_uring's only: epoll's
   receive ends with what one read brings. */
async_future *async_io_send(async_io *io, async_io_op *op, int fd, const void *buf, size_t len, int flags);
async_future *async_io_recv(async_io *io, async_io_op *op, int fd, void *buf, size_t len, int flags);
async_future *async_io_accept(async_io *io, async_io_op *op, int fd, struct sockaddr *addr, socklen_t *len,
                              int flags);
/* Close an fd that operations used through the io, not with close(2): the
   epoll backend keeps what it knows of an fd (registered, ready) until then,
   and a new fd with the same number would be taken for the old one. An
   operation still waiting on it ends: on epoll at once, EBADF; on io_uring
   when the peer acts (the kernel keeps the file until then). */
async_future *async_io_close(async_io *io, async_io_op *op, int fd);
/* read(2)/write(2) for what is not a socket (a pipe, an eventfd, a signalfd,
   a file at `offset`; -1: the current position). */
async_future *async_io_read(async_io *io, async_io_op *op, int fd, void *buf, size_t len, int64_t offset);
async_future *async_io_write(async_io *io, async_io_op *op, int fd, const void *buf, size_t len, int64_t offset);
/* Close without waiting for the outcome (nobody keeps a buffer). */
void async_io_close_detached(async_io *io, int fd);

/* What a client needs of a TCP socket that is not an operation: set it up
   for request/response traffic (TCP_NODELAY: the rest of a short send must
   not wait for the peer's delayed ACK), and tell whether an idle connection
   is still clean (nothing to read, not closed by the peer: one
   non-blocking peek, what libcurl's liveness check costs too). */
void async_io_tcp_tune(async_io *io, int fd);
int async_io_idle_clean(async_io *io, int fd);
/* A non-blocking send or receive now, outside the queue (what a TLS
   close_notify or an idle check needs): bytes, or -errno (-EAGAIN). */
long async_io_send_nowait(async_io *io, int fd, const void *buf, size_t len);
long async_io_recv_nowait(async_io *io, int fd, void *buf, size_t len);

/* The message for a failed io_uring_setup (exposed for the tests). */
void async_io__describe_setup_error(char *out, size_t size, int err, int sysctl_disabled);

// >>workers
/* What crosses threads: a callback any thread may post to the loop
   (asyncio's call_soon_threadsafe), and a pool of worker threads for calls
   that block (asyncio's to_thread / run_in_executor). Both on either backend. */

/* A posted callback: your storage. Set nothing; async_io_post fills it. */
struct async_io_callback {
    void (*fn)(void *arg);
    void *arg;
    async_io_callback *_next; /* in the io's posted list */
};

/* Any thread: run fn(arg) on the loop thread, soon (from the loop's poll),
   after every callback posted before it (FIFO). cb must stay put, and not
   be posted again, until fn has begun; from then on it is yours again (fn
   may free it or post it anew). The io must outlive the call: other threads
   must have stopped posting before async_io_exit. */
void async_io_post(async_io *io, async_io_callback *cb, void (*fn)(void *arg), void *arg);

/* Loop thread: the loop declares ASYNC_EDEADLK only when nothing is in
   flight. A callback that only your thread will post is not counted: hold
   a reference (async_io_ref) while the loop must wait for it, and drop it
   (async_io_unref) once it came. Operations and work count by themselves. */
void async_io_ref(async_io *io);
void async_io_unref(async_io *io);

/* A call on a worker thread: your storage. Zero it before its first use
   and set `release` if you want it; async_io_to_thread sets the rest. Use
   it again once the pool has let go of it. */
struct async_work {
    async_future future; /* result: `result`; error: `error`, or ASYNC_ECANCELED */
    void *arg;           /* the call's arg, for fn */
    intptr_t result;     /* fn's to set (0 before it runs) */
    int error;           /* fn's to set: negative fails the future (0 before it runs) */
    /* Optional: called on the loop thread, once per call, when the pool has
       let go of w (see below); it may free w. Read, never written, by the pool. */
    void (*release)(async_work *w);
    /* Private. */
    async_io *_io;
    void (*_fn)(async_work *w);
    async_work *_next, *_prev; /* in the queue */
    async_io_callback _done; /* posted by the worker when fn has returned */
    uint8_t _state;          /* queued or running: under the pool's lock */
    uint8_t _held;           /* the pool holds w: the loop thread's alone */
};

/* Loop thread: run fn(w) on a worker thread; returns &w->future, done on
   the loop thread with fn's result or error once fn has returned. Jobs
   start in order; a worker starts when all are busy and fewer than
   max_workers run (none before the first call); workers stay until
   async_io_exit. fn must not touch the loop, the io or any future: nothing
   of async.h is thread-safe. Its way back is w->result and w->error (or
   async_io_post). Workers block every signal, so that a handler never
   interrupts fn and a signal goes to a thread of yours.

   Who owns w: the pool, from this call until it lets go; then you. It lets
   go (and calls release) in one of these ways:
   - fn returned: on the loop thread, the future is completed, then release
     is called;
   - the future was cancelled (itself or the task awaiting it) before fn
     began: fn never runs; the future ends cancelled and release is called,
     both inside the cancel;
   - cancelled while fn runs: the future ends cancelled at once, but fn runs
     on to its end: w, and whatever fn reaches through arg, must stay valid
     until then. Its result and error are dropped, and release is called
     when it has returned (on the loop thread, from the loop's poll);
   - async_io_exit: see there.
   async_io_work_held(w) tells the same thing: 1 while the pool holds w.
   If no worker could start at all, the future fails at once with -errno
   (and release is called). A job counts as in flight until the pool lets
   go: a task awaiting one is never told ASYNC_EDEADLK.

   async_io_exit stops the pool: jobs not yet begun never run (their
   futures end cancelled); it waits for the fns that run to return (it
   joins every worker) and completes their futures; then it runs every
   callback posted so far and every release, on the calling thread. After
   it, the pool holds nothing of yours. */
async_future *async_io_to_thread(async_io *io, async_work *w, void (*fn)(async_work *w), void *arg);
int async_io_work_held(const async_work *w);
#endif /* ASYNC_HTTP_PARSER_ONLY */


#ifndef ASYNC_HTTP_PARSER_ONLY
// >>stream
/* A byte stream over a socket: plain TCP, or TLS over it (ASYNC_HTTP_TLS).
   The client talks to its connections only through these calls, and a
   server can too (examples/swapi_server.c). Every operation is poll-style:
   it returns the future to await, and is then called again with the same
   arguments; or NULL once it is over, its outcome in its out-parameters
   (*err: 0 or a negative code). At most one send and one receive at a time.
   Buffers passed in stay put until the operation is over. */

/* TLS contexts (ASYNC_HTTP_TLS; OpenSSL 3, link -lssl -lcrypto). A client
   context verifies the peer against the system's store (or ca_file /
   ca_path) unless insecure; a server context has cert_file and key_file.
   TLS 1.2 at least, ALPN http/1.1. */
typedef struct async_tls_config {
    const char *ca_file;   /* PEM certificates to trust instead of the system's (curl --cacert) */
    const char *ca_path;   /* a hashed directory of them (curl --capath) */
    int insecure;          /* no verification of the certificate or the name (curl -k) */
    const char *cert_file; /* a server's certificate chain (PEM); makes a server context */
    const char *key_file;  /* and its private key (PEM) */
} async_tls_config;

typedef struct async_tls {
    struct ssl_ctx_st *_ctx; /* private */
    int _server;
    char error[256];         /* why async_tls_init failed (TLS is not named: the error's code says it) */
} async_tls;

typedef struct async_stream {
    async_io *io;
    int fd; /* -1: none */
    /* Private. */
    async_io_op _open_op, _send_op, _recv_op;
    unsigned _pending;            /* ops started whose outcome was not taken */
    struct sockaddr_storage _addr; /* the kernel may read it until connect completes */
    socklen_t _addrlen;
    struct ssl_st *_ssl;          /* NULL: plain TCP */
    char *_cin, *_cout;           /* TLS: ciphertext received (not yet decrypted), and to send */
    char *_cout_held;             /* TLS: the _cout that the send in flight reads, after _cout grew */
    size_t _cin_cap, _cin_len, _cin_off, _cout_cap, _cout_len, _cout_off;
    void **_session;              /* TLS client: where the session is kept for resumption */
    unsigned long _watched_at;    /* io->_polls when the watch began: only a later poll saw it */
    uint32_t _sent_ended;         /* after an unseen watch was trusted: when the first send ended */
    uint8_t _unseen;              /* an unseen watch was trusted: its receive must end after a send */
    uint8_t _state, _eof, _unclean, _failed;
    size_t _idle_taken;           /* TLS: what idle checks took since data was last sent */
    char _detail[128];            /* what went wrong, in words (OpenSSL's reason) */
} async_stream;

int async_tls_init(async_tls *tls, const async_tls_config *config); /* 0 or ASYNC_HTTP_ETLS (see ->error) */
void async_tls_free(async_tls *tls);
void async_tls_session_free(void *session); /* what a client stream kept in *session */

/* fd: a connected socket of yours (a server's accepted one), or -1 to connect. */
void async_stream_init(async_stream *s, async_io *io, int fd);
/* Socket (with TCP_NODELAY) and connect to addr, which is copied. */
async_future *async_stream_connect(async_stream *s, const struct sockaddr *addr, socklen_t len, int *err);
/* Start TLS on a connected stream: as a client of `host` (SNI and the
   name checked, or an IP literal checked), resuming and keeping the
   session in *session if session is not NULL; or as a server. Then drive
   async_stream_handshake. 0, or an error (the detail says why). */
int async_stream_tls_client(async_stream *s, async_tls *tls, const char *host, void **session);
int async_stream_tls_server(async_stream *s, async_tls *tls);
async_future *async_stream_handshake(async_stream *s, int *err);
/* Send buf[*sent, len); over when all of it is on its way. */
async_future *async_stream_send(async_stream *s, const void *buf, size_t len, size_t *sent, int *err);
/* Receive: *n bytes in buf, 0 at the end of the stream (see
   async_stream_unclean_eof). recv_start starts the receive early (with a
   send, so that the answer is read the moment it comes). */
void async_stream_recv_start(async_stream *s, void *buf, size_t cap);
async_future *async_stream_recv(async_stream *s, void *buf, size_t cap, size_t *n, int *err);
/* Withdraw what is in flight and wait until the kernel let go (NULL then). */
async_future *async_stream_settle(async_stream *s);
/* Watch an idle stream: a receive stays posted into buf (TLS: into its own
   buffer) while nobody reads, and completes when the peer sends something
   unasked or closes. Returns its future, or NULL if that happened already.
   The next async_stream_recv (same buf and cap) takes the receive over; to
   close instead, settle first. */
async_future *async_stream_watch(async_stream *s, void *buf, size_t cap);
/* An idle stream is clean: nothing to read, not closed by the peer. A
   watched one answers from its receive, with no syscall, if the loop asked
   the kernel within the last ASYNC_STREAM_FRESH (1 ms) after the watch
   began; on io_uring one too if the watch began since: its receive goes
   to the kernel ahead of the next send, and a receive that ended first
   (bytes that came before the request; over TLS, other than tickets) is
   taken as -EPROTO.
   Otherwise, or with `ask`, or unwatched, one non-blocking peek tells. */
int async_stream_idle_clean(async_stream *s, int ask);
#ifndef ASYNC_STREAM_FRESH
#define ASYNC_STREAM_FRESH ASYNC_MS(1)
#endif
/* Close: a TLS stream that ran cleanly sends close_notify first. */
void async_stream_close(async_stream *s);
int async_stream_is_open(const async_stream *s);        /* connected, and TLS (if any) set up */
int async_stream_tls_resumed(const async_stream *s);    /* the handshake resumed a session */
/* "TLSv1.3 TLS_AES_256_GCM_SHA384, ALPN http/1.1, CN=..." into out: its length (0: not TLS). */
size_t async_stream_tls_info(const async_stream *s, char *out, size_t cap);
int async_stream_unclean_eof(const async_stream *s);    /* TLS ended without close_notify */
const char *async_stream_detail(const async_stream *s); /* "" or what went wrong, in words */

// >>client
typedef struct async_http_request async_http_request;

typedef struct async_http_client_config {
    size_t limit;                /* connections in all; 0: 100 */
    size_t limit_per_host;       /* 0: no per-host limit */
    /* Timeouts: ASYNC_NO_TIMEOUT, or any negative one (as aiohttp's None): none. */
    async_time timeout_total;    /* whole request, pool wait included; 0: 300 s */
    async_time timeout_connect;  /* the lookup, connect and TLS handshake; 0: 30 s */
    async_time timeout_sock_read;/* each wait for response bytes (TLS's own messages do not end it); 0: none */
    async_time keepalive_timeout;/* an idle connection is not used, and closed, this long after
                                    its last response (when a connection is next asked for;
                                    TLS's own messages meanwhile do not count); 0: 15 s (aiohttp's);
                                    ASYNC_NO_TIMEOUT: kept until the server closes it */
    size_t max_body_size;        /* a stored body; 0: 64 MiB (a streamed one, on_body, has no limit) */
    size_t max_header_bytes;     /* status line + headers; 0: 16 KiB */
    size_t max_headers;          /* 0: 100 */
    unsigned max_interim;        /* 1xx responses allowed before the final one; 0: 16 */
    int max_redirects;           /* redirects followed; 0: 10; ASYNC_HTTP_NO_REDIRECTS: none, the 3xx is the
                                    answer; ASYNC_HTTP_REDIRECTS_FAIL: none, a redirect is an error */
    int no_decompress;           /* ASYNC_HTTP_ZLIB: leave gzip and deflate bodies compressed (no Accept-Encoding) */
    /* An HTTP proxy for every request ("http://[user:password@]host:port";
       without a scheme, http:// as curl reads it):
       http by the absolute form, https through CONNECT and then TLS to the
       origin; but not for the hosts in no_proxy ("localhost,.example.com,
       10.0.0.1:8080,fd00::/8,*": names or their domains, IPs or networks
       of them, an optional port).
       trust_env: when proxy is NULL, the environment's http_proxy,
       https_proxy and no_proxy (or their upper-case names; a lower-case
       one set empty says none) say, as aiohttp's trust_env and curl do;
       but not HTTP_PROXY in a CGI program
       (REQUEST_METHOD set), where it is the client's Proxy header. One of
       theirs that is no http:// proxy (https://, socks5://, unreadable)
       is left out, as aiohttp leaves out https ones; config.proxy's is
       ASYNC_HTTP_EURL. */
    const char *proxy;
    const char *no_proxy;
    int trust_env;
    /* Told each step of each request (ASYNC_HTTP_TRACE_*), on the loop thread. */
    void (*trace)(void *user, async_http_request *req, int what, const char *text, size_t len);
    void *trace_user;
    size_t recv_buffer_size;     /* per connection; 0: 64 KiB (only what a response fills is touched) */
    const char *user_agent;      /* NULL: "async_http.h"; "": no User-Agent header; a control
                                    character in it: client_init fails, ASYNC_HTTP_EHEADER */
    /* Name lookups run on the io's worker pool: resolver (NULL:
       async_http_getaddrinfo) is called on a worker thread, may block, and
       fills up to max addresses in the order to try them (ports unset);
       it returns 0 or a negative code (ASYNC_HTTP_ENAME). A name's
       addresses are kept dns_cache_ttl (0: 10 s, as aiohttp's;
       ASYNC_HTTP_NO_DNS_CACHE: not at all; ASYNC_NO_TIMEOUT: for good). */
    int (*resolver)(void *user, const char *name, struct sockaddr_storage *addrs, size_t max, size_t *count);
    void *resolver_user;
    async_time dns_cache_ttl;
    /* https (ASYNC_HTTP_TLS): the server's certificate and name are checked
       against the system's store, or these (curl's --cacert, --capath);
       insecure: not at all (curl -k). */
    const char *ca_file, *ca_path;
    int insecure;
    void *(*alloc)(void *user, void *ptr, size_t size); /* NULL: realloc/free */
    void *alloc_user;
} async_http_client_config;

typedef struct async_http__conn async_http__conn;
typedef struct async_http__host async_http__host;

/* Fields are private: configure with the config, look with async_http_client_get_stats. */
typedef struct async_http_client {
    async_http_client_config config; /* with the defaults filled in */
    async_io *io;
    async_http__conn *_conns;        /* `limit` slots */
    async_http__host *_hosts;
    size_t _nhosts, _hosts_cap;      /* entries made (some forgotten since), room */
    size_t *_host_slots;             /* the table's index: 2 * _hosts_cap slots, each 0 or index + 1 */
    size_t _hosts_forgotten;         /* a forgotten entry to make again, index + 1 (0: none) */
    uint64_t _nforgotten;            /* how many were forgotten so far */
    async_http_request *_wait_head, *_wait_tail; /* waiting for a connection, FIFO */
    async_http_request *_live;                   /* every request not yet done */
    size_t _busy;                                /* connections lent to requests */
    size_t _closing, _waiting;                   /* slots closing; requests waiting (queued or parked) */
    uint64_t _connects;                          /* connections opened so far */
    async_http__conn *_free_conns;               /* slots without a socket */
    async_http__conn *_idle_newest, *_idle_oldest;
    char *_proxies[2];  /* the proxy URL for http and for https (own copies), or NULL */
    char *_proxy_auth;  /* "Basic ..." from the http proxy's user:password */
    char *_proxy_auth_tls;
    char *_no_proxy;
    async_tls _tls;   /* made at the first https request */
    int _tls_made;    /* 0: not yet (or it failed: tried again next time); 1: made */
    uint64_t _tls_handshakes, _tls_resumed, _lookups;
    struct async_http__block *_spares; /* head blocks given back, for the next requests */
    size_t _nspares;
} async_http_client;

/* 0, or ASYNC_IO_EBACKEND (io is not set up: async_io_init failed, or the
   io is zeroed and never was), ASYNC_HTTP_EHEADER (a CR or LF in
   user_agent), ASYNC_HTTP_ENOMEM, or ASYNC_HTTP_EURL (a proxy in the config
   that does not parse).
   config (NULL: the defaults) is copied, not the strings it points to:
   user_agent, ca_file and ca_path are read later, and must stay until the
   close. */
int async_http_client_init(async_http_client *c, async_io *io, const async_http_client_config *config);
/* Cancels the requests still running and runs the loop until each has
   ended (call it outside a coroutine: it drives the loop), then closes the
   pooled connections and frees what the client holds. The way to shut down
   after a gather that failed fast or an as_completed that timed out. Call
   it before async_io_exit: withdrawing what its connections have posted
   (an idle one's receive too) needs the backend. */
void async_http_client_close(async_http_client *c);

/* What the client has done and holds now (for tests, logs and metrics). */
typedef struct async_http_client_stats {
    uint64_t connects;   /* connections opened so far */
    size_t busy;         /* connections lent to requests now */
    size_t busy_by_host; /* the same, summed over the hosts' own counts (equal to busy) */
    size_t idle;         /* keep-alive connections waiting in the pool */
    size_t waiting;      /* requests queued for a connection */
    uint64_t tls_handshakes; /* TLS handshakes completed */
    uint64_t tls_resumed;    /* of which resumed a session (no certificate exchange) */
    uint64_t lookups;        /* name lookups started (the others came from the cache or shared one) */
    size_t hosts;            /* entries kept for a scheme, host and port (their addresses, TLS session) */
    uint64_t hosts_forgotten; /* entries forgotten so far, unused for ASYNC_HTTP_HOST_KEEP */
} async_http_client_stats;
void async_http_client_get_stats(const async_http_client *c, async_http_client_stats *stats);
/* A host entry nothing uses (no request, no connection) is kept at least
   this long, with its addresses and TLS session; once the table is full,
   older ones are forgotten (not when dns_cache_ttl is ASYNC_NO_TIMEOUT). */
#ifndef ASYNC_HTTP_HOST_KEEP
#define ASYNC_HTTP_HOST_KEEP ASYNC_SEC(60)
#endif

/* What happened to a request, for logs, `fetch -w` and `-v` (curl's
   --write-out). Times are the loop turn's (async_loop_time), 0 where it
   did not come to that; a pooled connection is connected when the request
   got it; after redirects, connected, tls_done and first_byte are the last
   hop's. */
typedef struct async_http_info {
    async_time start, connected, tls_done, first_byte, done;
    char remote_ip[46];   /* of the last connection (a proxy's, through one) */
    unsigned remote_port;
    int reused;           /* the last attempt took a pooled connection */
    uint64_t body_bytes;  /* the body as it came (de-chunked, before decoding) */
    uint64_t decoded_bytes; /* as it was stored or streamed */
} async_http_info;

/* config.trace: told what a request does, as curl's -v shows it. */
enum {
    ASYNC_HTTP_TRACE_CONNECTED, /* text: "ip port" of the new connection */
    ASYNC_HTTP_TRACE_TLS,       /* text: protocol, cipher, ALPN, the peer's certificate subject */
    ASYNC_HTTP_TRACE_SENT,      /* text: the request's head as sent */
    ASYNC_HTTP_TRACE_RECEIVED,  /* text: a response's head as received (interim ones too) */
    ASYNC_HTTP_TRACE_REDIRECT,  /* text: the URL it follows to */
    ASYNC_HTTP_TRACE_PROXY_SENT,    /* text: the CONNECT to a proxy (https through it), as sent */
    ASYNC_HTTP_TRACE_PROXY_RECEIVED /* text: the proxy's answer to it, its head */
};

/* A redirect on the way to the response (aiohttp's history). */
typedef struct async_http_hop {
    int status;      /* 301, 302, 303, 307 or 308 */
    const char *url; /* the URL that answered with it */
} async_http_hop;

#define ASYNC_HTTP_NO_REDIRECTS (-1)
#define ASYNC_HTTP_REDIRECTS_FAIL (-2) /* ASYNC_HTTP_EREDIRECTS at the first (curl's -L --max-redirs 0) */
#define ASYNC_HTTP_NO_DNS_CACHE ((async_time)-1)
/* getaddrinfo on a worker thread (the default resolver): IPv6 and IPv4
   addresses taking turns, IPv6 first (RFC 8305). */
int async_http_getaddrinfo(void *user, const char *name, struct sockaddr_storage *addrs, size_t max, size_t *count);

/* A finished request's answer. Everything it points to is the response's
   own until async_http_request_release, none of it inside the request: a
   finished request may be moved (copied, its old storage reused). After a
   failure it is empty (status 0, body NULL, even if a head had come). */
typedef struct async_http_response {
    const char *url; /* where it came from, after the redirects */
    const async_http_hop *history;
    size_t history_len;
    int status, version_minor;
    const char *reason;
    size_t reason_len;
    async_http_header *headers;
    size_t header_count;
    /* A chunked body's trailer fields (RFC 9112 7.1.2): apart, never merged
       into the headers (RFC 9110 6.5.1). */
    async_http_header *trailers;
    size_t trailer_count;
    char *body; /* NUL-terminated for convenience (not counted in body_len) */
    size_t body_len;
} async_http_response;

/* What to ask (sokol's desc): every field optional but url. */
typedef struct async_http_request_desc {
    const char *method;         /* NULL: "GET" */
    const char *url;            /* http[s]://[user:password@]host[:port][/path][?query]; copied */
    const char *const *headers; /* NULL-terminated "Name: value" lines; copied */
    const void *body;           /* not copied: it must stay put until the request is done */
    size_t body_len;
    async_time timeout;         /* total timeout of this request; 0: the client's; negative: none */
    /* Stream the body instead of storing it: called with each decoded piece;
       a negative return fails the request with that code. */
    int (*on_body)(async_http_request *req, const char *data, size_t len);
    void *user;                 /* yours; also readable as req->user */
} async_http_request_desc;

/* One dial: a connect to one of the host's addresses, racing the others (>>open). */
#define ASYNC_HTTP__RACE 3
typedef struct async_http__dial {
    async_io_op op;               /* socket, then connect */
    struct sockaddr_storage addr; /* the kernel may read it until the connect completes */
    int fd;                       /* the socket it made, -1: none */
    int state;
    size_t turn;                  /* the address's place in the host's list: the lowest is the oldest */
    async_waiter lost;            /* a loser's end, after another won: its socket closes then */
} async_http__dial;

/* Everything a request is between two attempts (a retry starts afresh). */
typedef struct async_http__attempt {
    long conn;         /* index in the client's connections, -1: none */
    int reused;        /* the connection came from the pool */
    int touched;       /* the connection was used (so it cannot go back to the pool unused) */
    int got_bytes;     /* response bytes arrived */
    int phase;         /* what an ASYNC_ETIMEDOUT means (ASYNC_HTTP__PHASE_*) */
    async_time read_since; /* when the wait for bytes began (0: none yet): sock_read counts from there */
    int connected;     /* the new connection's TCP connect is done */
    int looked_up;     /* it waited for the host's lookup */
    size_t next_addr;  /* the host's next address to dial */
    int dial_error;    /* how the last dial failed */
    const struct async_http__dial *dial_failed; /* and which (its address goes into the error) */
    int tunnel;        /* through a proxy: 1 CONNECT going out, 2 its answer coming, 3 done */
    int drop_body;     /* a redirect to follow (its head said so): its body is read, not kept */
    int built;         /* the request bytes are in the send buffer */
    int sending;       /* the send was the last step (its error is the send's) */
    int send_error;    /* the send failed, the peer gone: its answer may be in the socket still */
    int send_cut;      /* the answer came first, and the rest of the body stayed unsent */
    async_future *body_send; /* a long body's send in flight, watched beside the receive */
    int user_error;    /* on_body's own failure, passed on as it is */
    int done;          /* the response is complete */
    int dialed;        /* the dials (the request's cold part) were set up */
    size_t sent, send_len, head_len;
    int part;          /* what goes out now (ASYNC_HTTP__SEND_*) */
    size_t tail_len;   /* a big body's: after send_len in sbuf, a chunked body's end */
    async_time connect_deadline;
} async_http__attempt;

struct async_http_request {
    async_task task; /* await &task.future: result = status, or an error */
    /* Inputs of async_http_fetch and its shorthands (zero: nothing / the
       client's default), read as they are: zero the request before its
       first use. async_http_start sets them from its desc. */
    const char *const *headers;
    const void *body;
    size_t body_len;
    async_time timeout;
    int (*on_body)(async_http_request *req, const char *data, size_t len);
    void *user;
    /* The outcome. */
    async_http_response response;
    int error;
    async_http_info info;
    /* Private, all below. */
    async_http_client *_client;
    char *_inputs;        /* the copy of its method, URL and header lines, if _inline could not hold it */
    const char *_method, *_url;
    const char *const *_headers;
    char *_url_owned;     /* the URL a redirect led to (_url points at it then) */
    const void *_body;    /* what is sent: a redirect may drop it */
    size_t _body_len;
    unsigned _drop;       /* user headers left out (ASYNC_HTTP__DROP_*) */
    int _redirects;
    async_http_hop *_history;
    size_t _history_cap;
    async_http_request *_live_prev, *_live_next; /* the client's requests not yet done */
    int _coding;          /* the body's Content-Encoding, as the decoder sees it */
    int _chunked;         /* the user asked for Transfer-Encoding: chunked: the body goes chunked */
    char *_basic;         /* "Basic ..." from the URL's user:password */
    void *_decoder;       /* ASYNC_HTTP_ZLIB: the inflate state, while a body is decoded */
    async_waiter _ended;  /* takes it off that list when its task ends */
    async_future _lookup_slot;            /* the wait for its host's lookup */
    const char *_path;    /* in _url */
    size_t _path_len;
    size_t _host;         /* index in the client's host table */
    int _host_bound;      /* _host counts this request among its users */
    int _is_head;
    int _desc_inputs;     /* ASYNC_HTTP__DESC_*: input fields set by the call, not by the user */
    int _attempts;        /* attempts made before this one */
    int _err;             /* what the last await or step failed with */
    int _settle_err;      /* what settling's awaits said (nothing it needs) */
    size_t _body_cap;
    char *_head_mem;      /* header array + head buffer: a client block, or one of its own if it grew */
    async_http_request *_wait_next, *_wait_prev;
    int _queued;          /* ASYNC_HTTP__QUEUED or _PARKED while it waits for a connection; 0 */
    async_future _pool_wait;
    async_wait_for_op _wait;
    async_deadline _deadline;
    async_http_parser _parser;
    async_http__attempt _try;
    /* Cold: async_http_start does not clear what follows (half of the
       request's size); each field is set up where it is first used (a new
       connection's dials, a failure's words, the inputs' copy). A field
       that needs clearing goes above. */
    async_http__dial _dials[ASYNC_HTTP__RACE]; /* connect attempts racing (Happy Eyeballs) */
    async_timer _stagger;                 /* when the next one may start */
    async_wait_op _race;                  /* the wait for the first of them to move */
    async_future *_race_futs[ASYNC_HTTP__RACE + 1];
    async_link _race_links[ASYNC_HTTP__RACE + 1];
    char _decode_why[64]; /* zlib's reason for ASYNC_HTTP_EDECODE */
    char _detail[160];
    union {
        char bytes[256];
        const char *aligned; /* the copy starts with the header lines' pointers */
    } _inline;               /* the inputs' copy, when it fits */
};

/* Start a request; the returned future is &req->task.future. The request
   needs no zeroing before: this sets every field it reads (some where they
   are first used). Under AddressSanitizer it fills the request with
   garbage first, so that a field it failed to set shows. A request still
   running must not be started again (await it, release it, then reuse;
   with ASYNC_DEBUG, doing so stops the program with a message). */
async_future *async_http_start(async_http_client *c, async_http_request *req, const async_http_request_desc *desc);
/* The same with the request's own input fields (headers, body, body_len,
   timeout, on_body, user) set before the call, and read as they are: the
   request needs zeroing before its first use (static, = {0} or memset),
   or every one of them set. post and put set body and body_len from
   their arguments, and release clears them again. */
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
/* The last head the request received, parsed: its status and fields (an
   interim 1xx's, a redirect's or the answer's). Meant for config.trace's
   ASYNC_HTTP_TRACE_RECEIVED, where it is the head just told; it lasts
   until the next hop or attempt starts, or the release. Returns 0, or -1
   if there is none. */
int async_http_request_head(const async_http_request *req, int *status, const async_http_header **headers,
                            size_t *count);
/* The value of an Authorization header for HTTP Basic authentication (RFC
   7617; aiohttp's BasicAuth.encode): "Basic " and the base64 of
   credentials[0, len), "user:password" as curl's -u takes it, into out
   (cap bytes, at least 6 + 4 * ((len + 2) / 3) + 1). Returns its length,
   or -1 if it does not fit. */
int async_http_basic_auth(const char *credentials, size_t len, char *out, size_t cap);
/* ref (a link, a Location) resolved against base, an http(s) URL, as RFC
   3986 5.2 says, but without a fragment (what a request sends), into out
   (cap bytes): its length, or a negative error. A space or a byte past
   ASCII in ref is percent-encoded first, as a redirect's Location is. */
int async_http_url_resolve(const char *base, const char *ref, char *out, size_t cap);
/* A message for the request's error, with details (where a response was malformed). */
const char *async_http_request_error(const async_http_request *req);
/* Free the response's memory, once the request is done. One that still
   runs must be cancelled and awaited first: releasing it is a misuse
   (ASYNC_MISUSE). A failed request holds nothing already; releasing it
   again does no harm. The input fields async_http_start set from its desc,
   and post's and put's body, are cleared; those you set for
   async_http_fetch stay yours. */
void async_http_request_release(async_http_request *req);
#endif /* ASYNC_HTTP_PARSER_ONLY */

#ifdef __cplusplus
}
#endif
#endif /* ASYNC_HTTP_H */

/* ======================================================================== */
#ifdef ASYNC_HTTP_IMPLEMENTATION
#ifndef ASYNC_HTTP__IMPLEMENTED
#define ASYNC_HTTP__IMPLEMENTED

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef ASYNC_HTTP_PARSER_ONLY
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#ifdef ASYNC_HTTP_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif
#ifdef ASYNC_HTTP_ZLIB
#include <zlib.h>
#endif
#endif

#define ASYNC_HTTP__CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

// >>errors
typedef struct async_http__error_text {
    int code;
    const char *text;
} async_http__error_text;

#define ASYNC_HTTP__ROW(name, code, text) {code, text},
static const async_http__error_text async_http__errors[] = {ASYNC_IO_ERRORS(ASYNC_HTTP__ROW)
                                                                ASYNC_HTTP_ERRORS(ASYNC_HTTP__ROW)};
#define ASYNC_HTTP__NERRORS (sizeof async_http__errors / sizeof async_http__errors[0])

static const char *async_http__error_name(int code) {
    size_t i;
    for (i = 0; i < ASYNC_HTTP__NERRORS; i++)
        if (async_http__errors[i].code == code) return async_http__errors[i].text;
    return "unknown error";
}

static const char *async_http__errno_name(int code) { return strerror(-code); }

static void async_http__register_once(void) {
    static async_error_domain http = {0, 0, async_http__error_name, NULL};
    static async_error_domain os = {-4095, -1, async_http__errno_name, NULL};
    size_t i;
    http.lowest = http.highest = async_http__errors[0].code;
    for (i = 1; i < ASYNC_HTTP__NERRORS; i++) {
        if (async_http__errors[i].code < http.lowest) http.lowest = async_http__errors[i].code;
        if (async_http__errors[i].code > http.highest) http.highest = async_http__errors[i].code;
    }
    async_register_errors(&http);
    async_register_errors(&os);
}

#ifdef ASYNC_HTTP_PARSER_ONLY
void async_http_errors_register(void) {
    static int done;
    if (!done) async_http__register_once();
    done = 1;
}
#else
/* Loops on several threads may start at once: the registry is shared. */
void async_http_errors_register(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, async_http__register_once);
}
#endif

// >>parser

/* What the parser expects next. The first three collect whole lines into head_buf. */
enum {
    ASYNC_HTTP__S_STATUS_LINE,
    ASYNC_HTTP__S_HEADER_LINE,
    ASYNC_HTTP__S_TRAILER_LINE,
    ASYNC_HTTP__S_BODY_LENGTH,   /* `remaining` bytes of a Content-Length body */
    ASYNC_HTTP__S_BODY_CLOSE,    /* body bytes until the peer closes */
    ASYNC_HTTP__S_CHUNK_SIZE,    /* hex digits of a chunk size */
    ASYNC_HTTP__S_CHUNK_SIZE_WS, /* whitespace after the size: only ';' may follow */
    ASYNC_HTTP__S_CHUNK_EXT_NAME,/* after ';': (whitespace and) an extension's name */
    ASYNC_HTTP__S_CHUNK_EXT,     /* the rest of the extensions, skipped up to CR */
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
    p->body_length = -1;
    p->max_interim = 16;
    p->state = ASYNC_HTTP__S_STATUS_LINE;
}

int async_http_parser_head_done(const async_http_parser *p) { return p->head_done; }

int64_t async_http_parser_body_length(const async_http_parser *p) { return p->head_done ? p->body_length : -1; }

void async_http_parser_rebase(async_http_parser *p, char *head_buf, size_t head_cap,
                              async_http_header *headers, size_t max_headers) {
    size_t i;
    if (p->head_len) memcpy(head_buf, p->head_buf, p->head_len); /* (the first storage may be none) */
    for (i = 0; i < p->header_count; i++) {
        headers[i] = p->headers[i];
        headers[i].name = head_buf + (p->headers[i].name - p->head_buf);
        headers[i].value = head_buf + (p->headers[i].value - p->head_buf);
    }
    if (p->reason) p->reason = head_buf + (p->reason - p->head_buf);
    p->head_buf = head_buf;
    p->head_cap = head_cap;
    p->headers = headers;
    p->max_headers = max_headers;
}

/* ---- Character classes and small string helpers */

static int async_http__is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Character classes by table (the parser asks one per byte of a head):
   tchar (RFC 9110 5.6.2: the characters of a token, such as a field name);
   text (field values, reason phrases and chunk extensions: anything but
   control characters, HTAB excepted, obs-text 0x80-0xFF included); OWS.
   The tests check the table against these definitions. */
enum { ASYNC_HTTP__TCHAR = 1, ASYNC_HTTP__TEXT = 2, ASYNC_HTTP__OWS = 4 };
static const unsigned char async_http__class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    6, 3, 2, 3, 3, 3, 3, 3, 2, 2, 3, 3, 2, 3, 3, 2,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2,
    2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 2, 3, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};
static int async_http__is_tchar(unsigned char c) { return async_http__class[c] & ASYNC_HTTP__TCHAR; }
static int async_http__is_text(unsigned char c) { return async_http__class[c] & ASYNC_HTTP__TEXT; }
static int async_http__is_ows(unsigned char c) { return async_http__class[c] & ASYNC_HTTP__OWS; }

/* Hex digit value, or -1. */
static int async_http__hex(unsigned char c) {
    if (async_http__is_digit(c)) return c - '0';
    c |= 0x20; /* ASCII lower case; what it does to non-letters cannot land in a..f */
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static unsigned char async_http__lower(unsigned char c) {
    return (unsigned char)(c + ((unsigned)(c - 'A') < 26u) * ('a' - 'A'));
}

static int async_http__ieq(const char *a, size_t alen, const char *b, size_t blen) {
    size_t i;
    if (alen != blen) return 0;
    for (i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x != y && async_http__lower(x) != async_http__lower(y)) return 0;
    }
    return 1;
}

/* Case-insensitive comparison of a string with a lower-case literal; the
   lengths first, without a call (most header names differ in length). */
#define ASYNC_HTTP__IEQ_LIT(s, len, lit) ((len) == sizeof(lit) - 1 && async_http__ieq(s, len, lit, sizeof(lit) - 1))

/* The first byte of [s, end) that is not text. Field values are most of a
   head: 8 bytes at a time while no byte of the word is below 0x20 (a
   control, or HTAB) or DEL, then byte by byte. The two tests are exact for
   the word as a whole, obs-text (0x80 and up) included: no bad byte slips
   through in a word that passes. */
static const char *async_http__text_end(const char *s, const char *end) {
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    while (end - s >= 8) {
        uint64_t x, del;
        memcpy(&x, s, 8);
        del = x ^ (ones * 0x7F); /* a zero byte where x has DEL */
        if (((x - ones * 0x20) & ~x & highs) | ((del - ones) & ~del & highs)) break;
        s += 8;
    }
    while (s < end && async_http__is_text((unsigned char)*s)) s++;
    return s;
}

const char *async_http_header_find(const async_http_header *h, size_t n, const char *name,
                                   size_t *len) {
    size_t i, name_len = strlen(name);
    for (i = 0; i < n; i++) {
        if (h[i].name_len == name_len && async_http__ieq(h[i].name, h[i].name_len, name, name_len)) {
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
        int other_version = (i == 5 || i == 7) && async_http__is_digit(c);
        if (!ok && i == 0 && (c == '\r' || c == '\n')) /* (a server's extra CRLF, say after a body) */
            return async_http__malformed_at(p, "empty line where the status line was expected", at);
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
    if (s < end) { /* else no reason, and no SP before it: often seen, so tolerated */
        if (*s != ' ') return async_http__bad_char(p, s, "invalid status code");
        s++;
    }
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
    if (p->header_count == p->max_headers && p->grow) {
        size_t at = (size_t)(line - p->head_buf); /* the line moves with the head */
        int grown = p->grow(p->user, p);
        if (grown == ASYNC_HTTP_ENOMEM)
            return async_http__fail(p, grown, "no memory to grow the head", async_http__offset_of(p, line));
        if (grown == 0) {
            line = colon = p->head_buf + at;
            end = line + n;
        }
    }
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
    if ((s = async_http__text_end(value, end)) < end)
        return async_http__bad_char(p, s, "control character in header field value");
    value_end = end; /* trailing OWS is not part of it */
    while (value_end > value && async_http__is_ows((unsigned char)value_end[-1])) value_end--;
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
    const char *chunked_params;                 /* a "chunked" with parameters, if any */
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
    const char *s = h->value, *coding, *semi;
    size_t len, name_len;
    while (async_http__list_next(&s, h->value + h->value_len, &coding, &len)) {
        if (!len) continue;
        f->chunked = ASYNC_HTTP__IEQ_LIT(coding, len, "chunked");
        /* transfer-coding = token *( OWS ";" OWS transfer-parameter ): chunked defines
           none, and "chunked;x=y" is no coding anyone knows (RFC 9112 7.1: an error). */
        if ((semi = (const char *)memchr(coding, ';', len)) == NULL || f->chunked_params) continue;
        name_len = (size_t)(semi - coding);
        while (name_len && async_http__is_ows((unsigned char)coding[name_len - 1])) name_len--;
        if (ASYNC_HTTP__IEQ_LIT(coding, name_len, "chunked")) f->chunked_params = semi;
    }
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
    /* Read to the close, its body would be the chunks' framing and all: refuse. */
    if (f->chunked_params)
        return async_http__malformed_at(p, "parameters on the chunked transfer coding", f->chunked_params);
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
    p->body_length = (int64_t)length;
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
    p->body_length = 0;
    return async_http__done(p);
}

/* on_head's verdict on the head just parsed. */
static int async_http__tell_head(async_http_parser *p, int interim) {
    int rc;
    if (!p->on_head || (rc = p->on_head(p->user, p, interim)) == 0) return 0;
    /* where the head ends, whatever pieces it came in */
    if (rc > 0) return async_http__malformed(p, "on_head returned a positive value", p->head_end_offset);
    return async_http__fail(p, rc, "aborted by on_head", p->head_end_offset);
}

static int async_http__end_of_head(async_http_parser *p) {
    async_http__framing f;
    int rc, told;
    if (p->status < 200 && p->status != 101) {
        /* A peer that sends 1xx forever would otherwise hold us until the total timeout. */
        if (++p->interim > p->max_interim)
            return async_http__malformed_at(p, "too many interim (1xx) responses", p->head_buf);
        if ((rc = async_http__tell_head(p, 1)) != 0) return rc;
        return async_http__next_response(p);
    }
    if (p->status == 101 && !p->upgrade_expected)
        return async_http__malformed_at(p, "101 Switching Protocols to a request that asked for no upgrade",
                                        p->head_buf + 9);
    async_http__scan_framing(p, &f);
    p->head_done = 1;
    p->trailer_start = p->header_count;
    p->keep_alive = p->version_minor == 1 ? !f.close : f.keep_alive && !f.close;
    /* The framing first: on_head sees the body's length and keep_alive. */
    if (p->is_head_response || p->status == 101 || p->status == 204 || p->status == 304)
        rc = async_http__no_body(p, &f);
    else if (f.transfer_encoding) rc = async_http__body_transfer_encoded(p, &f);
    else if (f.content_length) rc = async_http__body_with_length(p);
    else rc = async_http__body_until_close(p);
    if (rc < 0) {
        if (p->on_head) p->on_head(p->user, p, 0); /* the error is set: a trace shows the head refused */
        return rc;
    }
    told = async_http__tell_head(p, 0);
    return told ? told : rc;
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
    int too_large, rc, grown = 0;
    while (take > p->head_cap - p->head_len && p->grow && (grown = p->grow(p->user, p)) == 0) {
    }
    if (grown == ASYNC_HTTP_ENOMEM) return async_http__fail(p, grown, "no memory to grow the head", p->offset);
    too_large = take > p->head_cap - p->head_len;
    if (too_large) take = p->head_cap - p->head_len;
    if (take) memcpy(p->head_buf + p->head_len, d, take); /* (head_buf may be NULL: no storage, no grow) */
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

static int async_http__chunk_size_end(async_http_parser *p, size_t off) {
    uint64_t allowed;
    if (p->chunk_size == 0) {
        p->state = ASYNC_HTTP__S_TRAILER_LINE; /* trailers go on after the head in head_buf */
        p->line_start = p->head_len;
        return 0;
    }
    p->chunk_excess += p->chunk_line_len + 2; /* its line, and the CRLF after its data */
    allowed = 16 + 2 * p->chunk_size;
    p->chunk_excess = p->chunk_excess > allowed ? p->chunk_excess - allowed : 0;
    if (p->chunk_excess > ASYNC_HTTP_MAX_CHUNK_EXCESS)
        return async_http__malformed(p, "chunk framing far beyond its data", off);
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
    case ';':  p->state = ASYNC_HTTP__S_CHUNK_EXT_NAME; return 0;
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
        if (c == ';') p->state = ASYNC_HTTP__S_CHUNK_EXT_NAME;
        else if (!async_http__is_ows(c))
            return async_http__malformed(p, "invalid character after chunk size", off);
        return 0;
    case ASYNC_HTTP__S_CHUNK_EXT_NAME: /* chunk-ext = *( BWS ";" BWS chunk-ext-name [ ... ] ) */
        if (async_http__is_tchar(c)) p->state = ASYNC_HTTP__S_CHUNK_EXT;
        else if (!async_http__is_ows(c)) return async_http__malformed(p, "chunk extension without a name", off);
        return 0;
    case ASYNC_HTTP__S_CHUNK_EXT:
        if (c == '\r') p->state = ASYNC_HTTP__S_CHUNK_SIZE_LF;
        else if (c == '\n') return async_http__malformed(p, "bare LF (not preceded by CR)", off);
        else if (!async_http__is_text(c))
            return async_http__malformed(p, "invalid character in chunk extension", off);
        return 0;
    default: /* ASYNC_HTTP__S_CHUNK_SIZE_LF */
        if (c != '\n') return async_http__malformed(p, "bare CR (not followed by LF)", off - 1);
        return async_http__chunk_size_end(p, off);
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


#ifndef ASYNC_HTTP_PARSER_ONLY
/* A string into a buffer of cap bytes, cut if it must be, always terminated. */
static void async_http__copy(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

// >>io
/* The contract every backend keeps: `start` begins an operation described
   in its async_io_op (or completes it at once); its completion goes through
   async_io__complete exactly once; `cancel` asks for an early end, and the
   operation still completes only when the kernel has let go of its buffer. */
struct async_io__backend {
    const char *name;
    void (*start)(async_io *io, async_io_op *op); /* reads op->_args */
    void (*cancel)(async_io_op *op);
    void (*close_detached)(async_io *io, int fd);
    int (*poll)(void *io, async_time timeout); /* the loop's backend hook */
    void (*exit)(async_io *io);
    /* Whether op has ended in the kernel without the loop having seen it yet
       (what it read is no longer in the socket for a peek to find). */
    int (*ended_unseen)(async_io *io, async_io_op *op);
    /* Operations queued together are tried in order, each at once: a receive
       queued before a send, with bytes already there, ends before it. */
    int in_order;
};

/* What the backends and init/exit use of >>workers. */
static int async_io__workers_init(async_io *io, const async_io_config *config);
static void async_io__workers_stop(async_io *io);
static void async_io__workers_fini(async_io *io);
static int async_io__run_posted(async_io *io);
static int async_io__deadlocked(async_io *io, async_time timeout);

/* A turn that has tasks still ready (timeout 0) need not ask the kernel:
   what it queued goes with a later turn's, in one syscall, and what
   completed waits at most ASYNC_IO_LAZY_TURNS turns. (A loop busy with
   ready tasks would otherwise make a syscall per turn, several per
   request.) */
#ifndef ASYNC_IO_LAZY_TURNS
#define ASYNC_IO_LAZY_TURNS 8
#endif
static int async_io__lazy_turn(async_io *io, async_time timeout) {
    if (timeout != 0 || io->_lazy_turns >= ASYNC_IO_LAZY_TURNS) {
        io->_lazy_turns = 0;
        return 0;
    }
    io->_lazy_turns++;
    return 1;
}

/* When the kernel was asked, for a watch's silence: a poll that waited
   reads the clock; one that did not is as old as the turn's reading. */
static async_time async_io__polled_at(async_io *io, async_time timeout) {
    return timeout != 0 ? async_now(io->loop) : async_loop_time(io->loop);
}

static void async_io__complete(async_io_op *op, int res) {
    async_io *io = op->io;
    op->_ended = ++io->_ends;
    if (op->_unheld) op->_unheld = 0;
    else io->inflight--;
    if (op->kind == ASYNC_IO_CONNECT || op->kind == ASYNC_IO_SEND || op->kind == ASYNC_IO_RECV)
        res = ASYNC_IO_FAULT_RESULT(op->kind, res);
    if (res >= 0) async_future_set_result(&op->future, res);
    else if (op->_cancel_sent && (res == -ECANCELED || res == -EINTR)) async_future_set_error(&op->future, ASYNC_ECANCELED);
    else async_future_set_error(&op->future, res);
}

static void async_io__op_cancel(async_future *f) {
    async_io_op *op = ASYNC_HTTP__CONTAINER(f, async_io_op, future);
    if (op->_cancel_sent) return;
    op->_cancel_sent = 1;
    op->io->_backend->cancel(op);
}

/* An operation nobody awaits (a watch on an idle connection) must not keep
   the loop waiting, nor hide a deadlock: it leaves io->inflight until
   someone awaits it again. */
static void async_io__op_unhold(async_io_op *op) {
    if (op->_unheld || async_done(&op->future)) return;
    op->_unheld = 1;
    op->io->inflight--;
}

static void async_io__op_hold(async_io_op *op) {
    if (!op->_unheld) return;
    op->_unheld = 0;
    op->io->inflight++;
}

/* Every verb writes what its kind needs into op->_args, then this starts it. */
static async_future *async_io__submit(async_io *io, async_io_op *op, int kind) {
    async_future_init_cancellable(&op->future, async_io__op_cancel);
    op->io = io;
    op->kind = (uint8_t)kind;
    op->_cancel_sent = 0;
    op->_unheld = 0;
    io->inflight++;
    io->_backend->start(io, op);
    return &op->future;
}

async_future *async_io_socket(async_io *io, async_io_op *op, int domain, int type, int protocol) {
    op->_args.fd = domain;
    op->_args.flags = type;
    op->_args.protocol = protocol;
    return async_io__submit(io, op, ASYNC_IO_SOCKET);
}

async_future *async_io_connect(async_io *io, async_io_op *op, int fd, const struct sockaddr *addr, socklen_t len) {
    op->_args.fd = fd;
    op->_args.addr = addr;
    op->_args.addrlen = len;
    return async_io__submit(io, op, ASYNC_IO_CONNECT);
}

static async_future *async_io__transfer(async_io *io, async_io_op *op, int kind, int fd, const void *buf,
                                        size_t len, int flags, int64_t offset) {
    op->_args.fd = fd;
    op->_args.buf = (void *)(uintptr_t)buf;
    /* Linux moves at most MAX_RW_COUNT a call (io_uring's length is 32 bits):
       a longer transfer is a short one, as the contract allows. */
    op->_args.len = len < 0x7ffff000u ? len : 0x7ffff000u;
    op->_args.flags = flags;
    op->_args.offset = offset;
    return async_io__submit(io, op, kind);
}

async_future *async_io_send(async_io *io, async_io_op *op, int fd, const void *buf, size_t len, int flags) {
    return async_io__transfer(io, op, ASYNC_IO_SEND, fd, buf, ASYNC_IO_FAULT_LENGTH(ASYNC_IO_SEND, len),
                              flags | MSG_NOSIGNAL, 0);
}

async_future *async_io_recv(async_io *io, async_io_op *op, int fd, void *buf, size_t len, int flags) {
    return async_io__transfer(io, op, ASYNC_IO_RECV, fd, buf, ASYNC_IO_FAULT_LENGTH(ASYNC_IO_RECV, len), flags, 0);
}

async_future *async_io_read(async_io *io, async_io_op *op, int fd, void *buf, size_t len, int64_t offset) {
    return async_io__transfer(io, op, ASYNC_IO_READ, fd, buf, len, 0, offset);
}

async_future *async_io_write(async_io *io, async_io_op *op, int fd, const void *buf, size_t len, int64_t offset) {
    return async_io__transfer(io, op, ASYNC_IO_WRITE, fd, buf, len, 0, offset);
}

async_future *async_io_accept(async_io *io, async_io_op *op, int fd, struct sockaddr *addr, socklen_t *len,
                              int flags) {
    op->_args.fd = fd;
    op->_args.buf = addr;
    op->_args.addrlenp = len;
    op->_args.flags = flags;
    return async_io__submit(io, op, ASYNC_IO_ACCEPT);
}

async_future *async_io_close(async_io *io, async_io_op *op, int fd) {
    op->_args.fd = fd;
    return async_io__submit(io, op, ASYNC_IO_CLOSE);
}

void async_io_close_detached(async_io *io, int fd) { io->_backend->close_detached(io, fd); }

void async_io_tcp_tune(async_io *io, int fd) {
    int one = 1;
    (void)io;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

long async_io_send_nowait(async_io *io, int fd, const void *buf, size_t len) {
    ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)io;
    return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : (long)n;
}

long async_io_recv_nowait(async_io *io, int fd, void *buf, size_t len) {
    ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
    (void)io;
    return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : (long)n;
}

int async_io_idle_clean(async_io *io, int fd) {
    char byte;
    (void)io;
    return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

const char *async_io_error(const async_io *io) { return io->_error; }

void async_io_flush(async_io *io) {
    io->_lazy_turns = ASYNC_IO_LAZY_TURNS; /* this one is not skipped */
    io->_backend->poll(io, 0);
}

void async_io_exit(async_io *io) {
    /* Their pooled connections' operations are the ring's: closing it
       first leaves the client nothing to withdraw them with. */
    if (ASYNC_DEBUG && io->_clients)
        async__misuse("async_io_exit: a client still uses this io (async_http_client_close it first)", NULL);
    async_io__workers_stop(io);
    if (io->_backend) io->_backend->exit(io);
    async_io__workers_fini(io);
    if (io->loop && io->loop->backend == io) async_loop_set_backend(io->loop, NULL, NULL);
    io->_backend = NULL;
}

// >>uring
#ifndef ASYNC_HTTP_NO_URING
/* io_uring: an operation is one SQE whose user data is the op; its CQE
   completes it. Cancels and detached closes carry no user data: their
   completions are seen and dropped. When the submission queue is full and
   the kernel cannot take it yet (it answers EBUSY or EAGAIN while its
   completion queue overflows), an operation waits in a backlog that each
   loop turn moves into the queue as room frees up: nothing asserts,
   nothing blocks. */
enum { ASYNC_IO__QUEUED_START = 1, ASYNC_IO__QUEUED_CANCEL = 2 };

static struct io_uring_sqe *async_io__uring_sqe(async_io *io) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&io->_ring);
    if (!sqe && ASYNC_IO_FAULT_SUBMIT(io_uring_submit(&io->_ring)) >= 0) sqe = io_uring_get_sqe(&io->_ring);
    return sqe;
}

static void async_io__uring_prep(struct io_uring_sqe *sqe, async_io_op *op) {
    const async_io__args *a = &op->_args;
    if (op->_queued == ASYNC_IO__QUEUED_CANCEL) {
        io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
        io_uring_sqe_set_data(sqe, NULL);
        return;
    }
    switch (op->kind) {
    case ASYNC_IO_SOCKET: io_uring_prep_socket(sqe, a->fd, a->flags, a->protocol, 0); break;
    case ASYNC_IO_CONNECT: io_uring_prep_connect(sqe, a->fd, a->addr, a->addrlen); break;
    case ASYNC_IO_SEND: io_uring_prep_send(sqe, a->fd, a->buf, a->len, a->flags); break;
    case ASYNC_IO_RECV: io_uring_prep_recv(sqe, a->fd, a->buf, a->len, a->flags); break;
    case ASYNC_IO_ACCEPT: io_uring_prep_accept(sqe, a->fd, (struct sockaddr *)a->buf, a->addrlenp, a->flags); break;
    case ASYNC_IO_CLOSE: io_uring_prep_close(sqe, a->fd); break;
    case ASYNC_IO_READ: io_uring_prep_read(sqe, a->fd, a->buf, (unsigned)a->len, (uint64_t)a->offset); break;
    default: io_uring_prep_write(sqe, a->fd, a->buf, (unsigned)a->len, (uint64_t)a->offset); break;
    }
    io_uring_sqe_set_data(sqe, op);
}

static void async_io__backlog_push(async_io *io, async_io_op *op, int what) {
    op->_queued = (uint8_t)what;
    op->_next = NULL;
    if (io->_backlog_tail) io->_backlog_tail->_next = op;
    else io->_backlog_head = op;
    io->_backlog_tail = op;
}

static void async_io__backlog_unlink(async_io *io, async_io_op *op) {
    async_io_op **pp = &io->_backlog_head, *prev = NULL;
    while (*pp != op) prev = *pp, pp = &(*pp)->_next;
    *pp = op->_next;
    if (io->_backlog_tail == op) io->_backlog_tail = prev;
    op->_queued = 0;
}

/* Move the backlog into the submission queue, as far as there is room;
   then the closes that waited behind it. */
static void async_io__backlog_flush(async_io *io) {
    async_io_op *op;
    struct io_uring_sqe *sqe;
    size_t i = 0;
    while ((op = io->_backlog_head) != NULL && (sqe = io_uring_get_sqe(&io->_ring)) != NULL) {
        io->_backlog_head = op->_next;
        if (!io->_backlog_head) io->_backlog_tail = NULL;
        async_io__uring_prep(sqe, op);
        op->_queued = 0;
    }
    while (!io->_backlog_head && i < io->_ncloses && (sqe = io_uring_get_sqe(&io->_ring)) != NULL) {
        io_uring_prep_close(sqe, io->_closes[i++]);
        io_uring_sqe_set_data(sqe, NULL);
    }
    if (i) memmove(io->_closes, io->_closes + i, (io->_ncloses -= i) * sizeof *io->_closes);
}

static void async_io__uring_start(async_io *io, async_io_op *op) {
    struct io_uring_sqe *sqe = io->_backlog_head ? NULL : async_io__uring_sqe(io);
    op->_queued = 0;
    if (sqe) async_io__uring_prep(sqe, op);
    else async_io__backlog_push(io, op, ASYNC_IO__QUEUED_START);
}

static void async_io__uring_cancel(async_io_op *op) {
    async_io *io = op->io;
    struct io_uring_sqe *sqe;
    if (op->_queued == ASYNC_IO__QUEUED_START) { /* never reached the kernel */
        async_io__backlog_unlink(io, op);
        async_io__complete(op, -ECANCELED);
        return;
    }
    if ((sqe = async_io__uring_sqe(io)) != NULL) {
        op->_queued = ASYNC_IO__QUEUED_CANCEL;
        async_io__uring_prep(sqe, op);
        op->_queued = 0;
    } else {
        async_io__backlog_push(io, op, ASYNC_IO__QUEUED_CANCEL);
    }
}

static void async_io__uring_close_detached(async_io *io, int fd) {
    /* Behind whatever waits for a slot (or sits unsubmitted, the kernel
       busy): an operation there may still name the fd, and close(2) now
       would hand it to the next socket made. */
    struct io_uring_sqe *sqe = io->_backlog_head || io->_ncloses ? NULL : async_io__uring_sqe(io);
    if (sqe) {
        io_uring_prep_close(sqe, fd);
        io_uring_sqe_set_data(sqe, NULL);
        return;
    }
    if (io->_ncloses == io->_closes_cap) {
        size_t cap = io->_closes_cap ? io->_closes_cap * 2 : 16;
        int *grown = (int *)realloc(io->_closes, cap * sizeof *grown);
        if (!grown) {
            close(fd); /* no memory either: at once, the last resort */
            return;
        }
        io->_closes = grown;
        io->_closes_cap = cap;
    }
    io->_closes[io->_ncloses++] = fd;
}

/* The wake-up's eventfd is read by one read kept in the kernel, its user
   data the buffer it reads into; it is not an operation (inflight does not
   count it). Each poll arms it again if it is not. */
static void async_io__uring_arm_wake(async_io *io) {
    struct io_uring_sqe *sqe = async_io__uring_sqe(io); /* (a full queue is submitted first) */
    if (!sqe) return;
    io_uring_prep_read(sqe, io->_wake_fd, &io->_wake_buf, sizeof io->_wake_buf, (uint64_t)-1);
    io_uring_sqe_set_data(sqe, &io->_wake_buf);
    io->_wake_armed = 1;
}

/* Its completion: the counter is consumed, so what is posted from now on
   writes it again; run what was posted until now. */
static void async_io__uring_woken(async_io *io) {
    io->_wake_armed = 0;
    if (!io->_wake_closing) async_io__run_posted(io);
}

/* Reap every completion. A completion may wake tasks (into the ready queue)
   and run combinators' wake functions, which may queue submissions, never
   touch the completion queue. */
static void async_io__uring_reap(async_io *io) {
    struct io_uring_cqe *batch[256];
    unsigned n, i;
    /* peek_batch rather than the io_uring_for_each_cqe macro: that one
       expands C11 atomics into this (C99) file. A posted callback (run in
       the middle of a batch) that calls async_io_flush must not reap the
       same batch again: its completions are the next turn's. */
    if (io->_reaping) return;
    io->_reaping = 1;
    do {
        n = io_uring_peek_batch_cqe(&io->_ring, batch, 256);
        for (i = 0; i < n; i++) {
            async_io_op *op = (async_io_op *)io_uring_cqe_get_data(batch[i]);
            if (!op) continue;
            if ((void *)op == &io->_wake_buf) {
                async_io__uring_woken(io);
                continue;
            }
            if (op->_queued) async_io__backlog_unlink(io, op); /* its cancel is moot now */
            async_io__complete(op, batch[i]->res);
        }
        io_uring_cq_advance(&io->_ring, n);
    } while (n == 256);
    io->_reaping = 0;
}

static int async_io__uring_poll(void *backend, async_time timeout) {
    async_io *io = (async_io *)backend;
    int rc;
    if (async_io__deadlocked(io, timeout)) return ASYNC_EDEADLK;
    /* The wake-up before the backlog: a loop that fills the queue every
       turn must not leave what is posted to it waiting forever. */
    if (!io->_wake_armed) async_io__uring_arm_wake(io);
    async_io__backlog_flush(io);
    /* With a backlog, come back soon: room frees up as completions are reaped.
       So too while the wake-up could not be armed: it would not wake us. */
    if (io->_backlog_head || io->_ncloses || !io->_wake_armed) timeout = 0;
    else if (async_io__lazy_turn(io, timeout)) return 0;
    if (timeout == 0) {
        rc = io_uring_submit_and_get_events(&io->_ring);
    } else {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts;
        ts.tv_sec = timeout / 1000000000;
        ts.tv_nsec = timeout % 1000000000;
        rc = io_uring_submit_and_wait_timeout(&io->_ring, &cqe, 1, timeout < 0 ? NULL : &ts, NULL);
    }
    /* EBUSY/EAGAIN: the kernel's completion queue is full; reaping makes room. */
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) return rc;
    io->_polled = async_io__polled_at(io, timeout);
    io->_polls++;
    async_io__uring_reap(io);
    return 0;
}

static void async_io__uring_exit(async_io *io) {
    /* The wake-up's read holds a buffer of io's: end it (a write completes it
       and, unlike a cancel, needs no free slot), and see it end. */
    io->_wake_closing = 1;
    if (io->_wake_armed) {
        uint64_t one = 1;
        ssize_t n = write(io->_wake_fd, &one, sizeof one);
        (void)n;
        while (io->_wake_armed) {
            int rc = io_uring_submit_and_wait(&io->_ring, 1);
            if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) break;
            async_io__uring_reap(io);
        }
    }
    io_uring_submit(&io->_ring); /* the detached closes still queued */
    io_uring_queue_exit(&io->_ring);
    while (io->_ncloses) close(io->_closes[--io->_ncloses]); /* those behind: nothing uses them now */
    free(io->_closes);
    io->_closes = NULL;
}

/* Without DEFER_TASKRUN the kernel runs a receive whose bytes came at any
   return of this thread to user space (with it, at any enter that gets
   events, as a submit does when the queue overflows), and posts its
   completion then: the bytes leave the socket before the loop reaps it. A
   look along the completion queue, no syscall. (Not for SQPOLL, whose
   kernel thread may hold the bytes before the completion is posted.) The
   ring's tail is read with acquire, as liburing's own loop over it does,
   in a builtin: liburing's macro for it is C11. */
static int async_io__uring_ended_unseen(async_io *io, async_io_op *op) {
    struct io_uring *ring = &io->_ring;
    unsigned head = *ring->cq.khead, tail = __atomic_load_n(ring->cq.ktail, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(ring->sq.kflags, __ATOMIC_RELAXED) & IORING_SQ_CQ_OVERFLOW) return 1; /* some wait in the kernel */
    for (; head != tail; head++)
        if (io_uring_cqe_get_data(&ring->cq.cqes[io_uring_cqe_index(ring, head, ring->cq.ring_mask)]) == (void *)op)
            return 1;
    return 0;
}

static const async_io__backend async_io__uring = {
    "io_uring",           async_io__uring_start, async_io__uring_cancel,        async_io__uring_close_detached,
    async_io__uring_poll, async_io__uring_exit,  async_io__uring_ended_unseen, 1,
};

static int async_io__sysctl_disabled(void) {
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
    int v = 0;
    if (!f) return 0;
    if (fscanf(f, "%d", &v) != 1) v = 0;
    fclose(f);
    return v;
}

/* The best set of flags first; older kernels refuse newer flags with EINVAL. */
static int async_io__uring_init(async_io *io, const async_io_config *config) {
    static const unsigned tries[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        0,
    };
    unsigned entries = config && config->entries ? config->entries : 1024;
    size_t i;
    int rc = -EINVAL;
    for (i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = config && config->flags ? config->flags : tries[i];
        p.cq_entries = entries <= 1u << 20 ? entries * 4 : 1u << 22; /* room for a burst of completions */
        p.flags |= IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;         /* the kernel's most, if that is more */
        rc = io_uring_queue_init_params(entries, &io->_ring, &p);
        if (rc == 0) break;
        if (rc != -EINVAL || (config && config->flags)) break;
    }
    if (rc == 0) {
        /* A kernel before 5.19 (the last try above takes it) makes rings but
           no sockets: every dial would fail. Such a ring is refused, and
           AUTO goes on to epoll. (No probe, as before 5.6: none either.) */
        struct io_uring_probe *probe = io_uring_get_probe_ring(&io->_ring);
        int sockets = probe && ASYNC_IO_FAULT_OPCODE(IORING_OP_SOCKET, io_uring_opcode_supported(probe, IORING_OP_SOCKET));
        if (probe) io_uring_free_probe(probe);
        if (sockets) {
            io->_backend = &async_io__uring;
            async_io__uring_arm_wake(io);
            return 0;
        }
        io_uring_queue_exit(&io->_ring);
        snprintf(io->_error, sizeof io->_error, "this kernel's io_uring has no IORING_OP_SOCKET (it came in Linux 5.19)");
        return ASYNC_IO_ENOURING;
    }
    async_io__describe_setup_error(io->_error, sizeof io->_error, rc, async_io__sysctl_disabled());
    return ASYNC_IO_ENOURING;
}
#endif /* ASYNC_HTTP_NO_URING */

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

// >>epoll
/* epoll: readiness, not completion. An operation tries its syscall at once,
   non-blocking; on EAGAIN it waits in its fd's list and tries again when
   the fd is ready. Each fd is registered once, edge-triggered, for both
   directions; what the last event or try said (readable, writable) saves
   the syscall that would only answer EAGAIN. Between two tries the kernel
   holds nothing of the operation's, so a cancelled one ends at once. */
struct async_io__fd {
    async_io_op *readers, *writers; /* waiting, oldest first */
    uint8_t registered, nonblocking, readable, writable;
    uint8_t stream; /* a stream socket: a short read took all there was (not so for datagrams, a peek) */
    uint8_t hangup; /* the peer closed (or an error came): reads never wait again */
    uint8_t reset;  /* the connect's SO_ERROR said ECONNRESET (reading it cleared it): the next transfer says so */
    uint8_t later;  /* in io->_later */
};

/* Receives that may end at once (the fd still readable) between two polls;
   past that they wait for the next one, as io_uring's completions do: a
   peer faster than its reader (TLS's full reads, an accept flood) must not
   keep the loop from its timers and its other tasks. */
#ifndef ASYNC_IO_READS_PER_TURN
#define ASYNC_IO_READS_PER_TURN 64
#endif

/* fd's state, the table grown to hold it; NULL if memory ran out. */
static async_io__fd *async_io__epoll_fd(async_io *io, int fd) {
    if (fd >= io->_nfds) {
        int n = io->_nfds ? io->_nfds : 64;
        async_io__fd *grown;
        while (n <= fd) n = n > INT_MAX / 2 ? fd + 1 : n * 2;
        if (!(grown = (async_io__fd *)realloc(io->_fds, (size_t)n * sizeof *grown))) return NULL;
        memset(grown + io->_nfds, 0, (size_t)(n - io->_nfds) * sizeof *grown);
        io->_fds = grown;
        io->_nfds = n;
    }
    return &io->_fds[fd];
}

/* Before fd is closed: out of the epoll set (a description that lives on,
   in a dup or a child, would go on reporting under the number, which a new
   fd then has), and what still waits on it ends, EBADF (else it would wait
   for good; io_uring's keeps the file open and ends when the peer acts). */
static void async_io__epoll_forget(async_io *io, int fd) {
    async_io_op *orphans[2], *op;
    int i;
    if (fd < 0 || fd >= io->_nfds) return;
    if (io->_fds[fd].registered) epoll_ctl(io->_epfd, EPOLL_CTL_DEL, fd, NULL);
    orphans[0] = io->_fds[fd].readers;
    orphans[1] = io->_fds[fd].writers;
    memset(&io->_fds[fd], 0, sizeof io->_fds[fd]);
    /* All off the lists first: a waiter woken by one may cancel another,
       which must then find it gone, not complete it a second time. */
    for (i = 0; i < 2; i++)
        for (op = orphans[i]; op; op = op->_next) op->_queued = 0;
    for (i = 0; i < 2; i++)
        while ((op = orphans[i]) != NULL) {
            orphans[i] = op->_next;
            async_io__complete(op, -EBADF);
        }
}

/* A new fd is tried as if ready; an fd of the caller's is made non-blocking first. */
static void async_io__epoll_adopt(async_io__fd *st, int fd) {
    if (!st->nonblocking) {
        int fl = fcntl(fd, F_GETFL), type = 0;
        socklen_t len = sizeof type;
        if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        st->nonblocking = 1;
        st->readable = st->writable = 1;
        st->stream = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
    }
}

static int async_io__epoll_wants_read(const async_io_op *op) {
    return op->kind == ASYNC_IO_RECV || op->kind == ASYNC_IO_ACCEPT || op->kind == ASYNC_IO_READ;
}

/* One try of the operation's syscall: its result, or -errno (-EAGAIN: not ready). */
#define ASYNC_IO__OFF_FITS(o) (sizeof(off_t) >= sizeof(int64_t) || (o) <= INT32_MAX)

static int async_io__epoll_try(async_io_op *op) {
    const async_io__args *a = &op->_args;
    ssize_t n;
    int err = 0;
    socklen_t len = sizeof err;
    switch (op->kind) {
    case ASYNC_IO_SEND: n = send(a->fd, a->buf, a->len, a->flags | MSG_DONTWAIT); break;
    case ASYNC_IO_RECV: n = recv(a->fd, a->buf, a->len, a->flags | MSG_DONTWAIT); break;
    /* An offset on a pipe or a socket is not an error (io_uring ignores it
       there). One past a 32-bit off_t (no _FILE_OFFSET_BITS=64) is refused,
       not cut short to another place in the file. */
    case ASYNC_IO_READ:
        n = a->offset < 0 ? -1 : ASYNC_IO__OFF_FITS(a->offset) ? pread(a->fd, a->buf, a->len, (off_t)a->offset)
                                                              : (errno = EOVERFLOW, -1);
        if (a->offset < 0 || (n < 0 && errno == ESPIPE)) n = read(a->fd, a->buf, a->len);
        break;
    case ASYNC_IO_WRITE:
        n = a->offset < 0 ? -1 : ASYNC_IO__OFF_FITS(a->offset) ? pwrite(a->fd, a->buf, a->len, (off_t)a->offset)
                                                              : (errno = EOVERFLOW, -1);
        if (a->offset < 0 || (n < 0 && errno == ESPIPE)) n = write(a->fd, a->buf, a->len);
        break;
    case ASYNC_IO_ACCEPT:
        n = accept(a->fd, (struct sockaddr *)a->buf, a->addrlenp);
        if (n >= 0) { /* accept4's flags, with what epoll needs */
            fcntl((int)n, F_SETFL, O_NONBLOCK);
            if (a->flags & SOCK_CLOEXEC) fcntl((int)n, F_SETFD, FD_CLOEXEC);
        }
        break;
    default: /* ASYNC_IO_CONNECT, once writable: how it went */
        if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        /* A reset says the connection was made, and then cut before we
           looked: what the peer sent first is still to be read (as io_uring
           reports it: connected, 1 here; the next transfer sees the reset). */
        return err == ECONNRESET ? 1 : -err;
    }
    if (n < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return (int)n;
}

/* Try op; 1 if it completed. What the try said about readiness is kept. */
static int async_io__epoll_attempt(async_io *io, async_io_op *op, async_io__fd *st) {
    int res = async_io__epoll_try(op), reading = async_io__epoll_wants_read(op), stream = st->stream;
    int transfer = op->kind != ASYNC_IO_ACCEPT && op->kind != ASYNC_IO_CONNECT;
    /* A short transfer means drained (or full) only where the bytes are a
       stream: a datagram or a peek leaves the rest for the next receive. */
    int short_drains = !reading || (stream && !(op->kind == ASYNC_IO_RECV && (op->_args.flags & MSG_PEEK)));
    if (res == -EAGAIN || (transfer && res > 0 && (size_t)res < op->_args.len && short_drains)) {
        /* The next edge says when that changes. An end of stream (0) stays
           readable for good. */
        if (reading) st->readable = st->hangup;
        else st->writable = 0;
    }
    if (res == -EAGAIN) return 0;
    if (op->kind == ASYNC_IO_CONNECT && res == 1) st->reset = 1, res = 0;
    else if (st->reset && transfer && ((reading && res == 0) || res == -EPIPE)) st->reset = 0, res = -ECONNRESET;
    if (op->kind == ASYNC_IO_ACCEPT && res >= 0) {
        async_io__fd *nst = async_io__epoll_fd(io, res); /* st may move with the table */
        if (nst) {
            memset(nst, 0, sizeof *nst);
            nst->nonblocking = nst->readable = nst->writable = 1;
            nst->stream = (uint8_t)stream; /* as its listener */
        }
    }
    async_io__complete(op, res);
    return 1;
}

static void async_io__epoll_enqueue(async_io_op **list, async_io_op *op) {
    op->_next = NULL;
    while (*list) list = &(*list)->_next;
    *list = op;
}

/* Wait for readiness: register the fd on first need. */
static void async_io__epoll_wait(async_io *io, async_io_op *op, async_io__fd *st) {
    if (!st->registered) {
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.fd = op->_args.fd;
        if (epoll_ctl(io->_epfd, EPOLL_CTL_ADD, op->_args.fd, &ev) < 0 && errno != EEXIST) {
            /* Not pollable (a regular file): it would never wait, so do it now. */
            int res = async_io__epoll_try(op);
            async_io__complete(op, res == -EAGAIN ? -EIO : res);
            return;
        }
        st->registered = 1;
    }
    op->_queued = 1;
    async_io__epoll_enqueue(async_io__epoll_wants_read(op) ? &st->readers : &st->writers, op);
}

/* fd's ready operations wait for the next poll (no new edge will come for
   them); 0 if memory ran out. */
static int async_io__epoll_later(async_io *io, int fd) {
    if (io->_fds[fd].later) return 1;
    if (io->_nlater == io->_later_cap) {
        size_t cap = io->_later_cap ? io->_later_cap * 2 : 16;
        int *grown = (int *)realloc(io->_later, cap * sizeof *grown);
        if (!grown) return 0;
        io->_later = grown;
        io->_later_cap = cap;
    }
    io->_later[io->_nlater++] = fd;
    io->_fds[fd].later = 1;
    return 1;
}

static void async_io__epoll_start(async_io *io, async_io_op *op) {
    const async_io__args *a = &op->_args;
    async_io__fd *st;
    int fd;
    op->_queued = 0;
    switch (op->kind) {
    case ASYNC_IO_SOCKET:
        fd = socket(a->fd, a->flags | SOCK_NONBLOCK, a->protocol);
        if (fd >= 0 && (st = async_io__epoll_fd(io, fd)) != NULL) {
            memset(st, 0, sizeof *st);
            st->nonblocking = st->readable = st->writable = 1;
            st->stream = (a->flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM;
        }
        async_io__complete(op, fd < 0 ? -errno : fd);
        return;
    case ASYNC_IO_CLOSE:
        async_io__epoll_forget(io, a->fd);
        async_io__complete(op, close(a->fd) < 0 ? -errno : 0);
        return;
    default: break;
    }
    if (a->fd < 0) { /* a closed stream's -1, say: what io_uring answers too */
        async_io__complete(op, -EBADF);
        return;
    }
    /* An fd not seen yet that is not open (a number closed already, or any
       number at all): EBADF, as io_uring answers, and nothing of it kept: no
       table grown to its size, no state a later fd of that number inherits. */
    if ((a->fd >= io->_nfds || !io->_fds[a->fd].nonblocking) && fcntl(a->fd, F_GETFD) < 0) {
        async_io__complete(op, -errno);
        return;
    }
    if (!(st = async_io__epoll_fd(io, a->fd))) {
        async_io__complete(op, -ENOMEM);
        return;
    }
    async_io__epoll_adopt(st, a->fd);
    if (op->kind == ASYNC_IO_CONNECT) {
        if (connect(a->fd, a->addr, a->addrlen) == 0) async_io__complete(op, 0);
        else if (errno != EINPROGRESS) async_io__complete(op, -errno);
        else {
            st->writable = 0;
            async_io__epoll_wait(io, op, st);
        }
        return;
    }
    /* Others waiting before it go first; else try now if the fd may be ready. */
    if (async_io__epoll_wants_read(op) ? !st->readers && st->readable : !st->writers && st->writable) {
        /* A receive past the turn's share waits for the poll (with no memory for that: now). */
        if (!async_io__epoll_wants_read(op) || io->_reads_now++ < ASYNC_IO_READS_PER_TURN ||
            !async_io__epoll_later(io, a->fd))
            if (async_io__epoll_attempt(io, op, st)) return;
    }
    async_io__epoll_wait(io, op, st);
}

static void async_io__epoll_unlink(async_io_op **list, async_io_op *op) {
    while (*list && *list != op) list = &(*list)->_next;
    if (*list) *list = op->_next;
}

static void async_io__epoll_cancel(async_io_op *op) {
    async_io *io = op->io;
    async_io__fd *st;
    if (!op->_queued) return; /* completed already, or completing */
    st = &io->_fds[op->_args.fd];
    async_io__epoll_unlink(async_io__epoll_wants_read(op) ? &st->readers : &st->writers, op);
    op->_queued = 0;
    async_io__complete(op, -ECANCELED);
}

static void async_io__epoll_close_detached(async_io *io, int fd) {
    async_io__epoll_forget(io, fd);
    close(fd);
}

/* Try fd's readers (or writers) in order, until one must wait again. The
   list is found anew after each: an accept may have grown (moved) the table. */
static void async_io__epoll_run(async_io *io, int fd, int reading) {
    async_io_op *op, **list;
    async_io__fd *st;
    for (;;) {
        st = &io->_fds[fd];
        list = reading ? &st->readers : &st->writers;
        if ((op = *list) == NULL) return;
        *list = op->_next;
        op->_queued = 0;
        if (!async_io__epoll_attempt(io, op, st)) {
            op->_queued = 1;
            op->_next = *list;
            *list = op;
            return;
        }
    }
}

static int async_io__epoll_poll(void *backend, async_time timeout) {
    async_io *io = (async_io *)backend;
    struct epoll_event ev[256];
    int n, i, ms;
    if (async_io__deadlocked(io, timeout)) return ASYNC_EDEADLK;
    /* A flush from a callback of this batch waits for the next turn: a
       nested epoll_wait would run posts made after the ones still in the
       batch (async_io_post is FIFO), as io_uring's reap guards too. */
    if (io->_reaping || async_io__lazy_turn(io, timeout)) return 0;
    /* epoll_wait counts in ms: round up, so that a timer is never woken early. */
    ms = timeout < 0 ? -1 : timeout > (async_time)INT32_MAX * 1000000 ? INT32_MAX : (int)((timeout + 999999) / 1000000);
    if (io->_nlater) ms = 0; /* ready already */
    n = epoll_wait(io->_epfd, ev, 256, ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    io->_polled = async_io__polled_at(io, timeout);
    io->_polls++;
    io->_reaping = 1;
    for (i = 0; i < n; i++) {
        int fd = ev[i].data.fd;
        async_io__fd *st;
        if (fd == io->_wake_fd) { /* level-triggered: readable means the counter is not 0 */
            uint64_t count;
            ssize_t r = read(fd, &count, sizeof count);
            (void)r;
            async_io__run_posted(io);
            continue;
        }
        if (fd >= io->_nfds) continue;
        st = &io->_fds[fd];
        if (ev[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) st->hangup = 1;
        if (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            st->readable = 1;
            async_io__epoll_run(io, fd, 1);
            st = &io->_fds[fd];
        }
        if (ev[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
            st->writable = 1;
            async_io__epoll_run(io, fd, 0);
        }
    }
    /* Those that waited for this poll; any that their wakes start wait for the next. */
    n = (int)io->_nlater;
    for (i = 0; i < n; i++) {
        int fd = io->_later[i];
        if (fd >= io->_nfds || !io->_fds[fd].later) continue; /* (forgotten meanwhile) */
        io->_fds[fd].later = 0;
        if (io->_fds[fd].readable) async_io__epoll_run(io, fd, 1);
    }
    if (n) memmove(io->_later, io->_later + n, (io->_nlater -= (size_t)n) * sizeof *io->_later);
    io->_reads_now = 0;
    io->_reaping = 0;
    return 0;
}

static void async_io__epoll_exit(async_io *io) {
    close(io->_epfd);
    free(io->_fds);
    io->_fds = NULL;
    free(io->_later);
    io->_later = NULL;
    io->_nfds = 0;
}

/* Readiness: every syscall of an operation is made in the loop's poll. */
static int async_io__epoll_ended_unseen(async_io *io, async_io_op *op) {
    (void)io, (void)op;
    return 0;
}

static const async_io__backend async_io__epoll = {
    "epoll",              async_io__epoll_start, async_io__epoll_cancel,        async_io__epoll_close_detached,
    async_io__epoll_poll, async_io__epoll_exit,  async_io__epoll_ended_unseen, 0,
};

static int async_io__epoll_init(async_io *io) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN; /* the wake-up's eventfd */
    ev.data.fd = io->_wake_fd;
    if ((io->_epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 || epoll_ctl(io->_epfd, EPOLL_CTL_ADD, io->_wake_fd, &ev) < 0) {
        snprintf(io->_error, sizeof io->_error, "epoll failed: %s", strerror(errno));
        if (io->_epfd >= 0) close(io->_epfd);
        io->_epfd = -1;
        return ASYNC_IO_EBACKEND;
    }
    io->_backend = &async_io__epoll;
    return 0;
}

/* Which backend: the config's, else the environment's, else io_uring
   falling back to epoll. */
static int async_io__wanted(const async_io_config *config) {
    const char *env = getenv("ASYNC_IO_BACKEND");
    if (config && config->backend) return config->backend;
    if (env && !strcmp(env, "epoll")) return ASYNC_IO_BACKEND_EPOLL;
    if (env && !strcmp(env, "io_uring")) return ASYNC_IO_BACKEND_URING;
    return ASYNC_IO_BACKEND_AUTO;
}

/* io_uring if it may and can; 1 if it should be epoll instead. */
static int async_io__try_uring(async_io *io, const async_io_config *config, int want, int *rc) {
#ifdef ASYNC_HTTP_NO_URING
    (void)config;
    if (want != ASYNC_IO_BACKEND_URING) return 1;
    snprintf(io->_error, sizeof io->_error, "io_uring is not built in (ASYNC_HTTP_NO_URING)");
    *rc = ASYNC_IO_ENOURING;
    return 0;
#else
    if (want == ASYNC_IO_BACKEND_EPOLL) return 1;
    *rc = async_io__uring_init(io, config);
    if (*rc == 0 || want == ASYNC_IO_BACKEND_URING) return 0; /* forced: its refusal is the answer */
    if (config && config->log) {
        char msg[sizeof io->_error + 64];
        snprintf(msg, sizeof msg, "async_io: using epoll, io_uring is refused: %s", io->_error);
        config->log(config->log_user, msg);
    }
    io->_error[0] = 0;
    return 1;
#endif
}

int async_io_init(async_io *io, async_loop *loop, const async_io_config *config) {
    int rc = 0;
    memset(io, 0, sizeof *io);
    io->_epfd = -1;
    async_http_errors_register();
    if ((rc = async_io__workers_init(io, config)) != 0) return rc;
    if (async_io__try_uring(io, config, async_io__wanted(config), &rc)) rc = async_io__epoll_init(io);
    if (rc) {
        async_io__workers_fini(io);
        return rc;
    }
    io->loop = loop;
    async_loop_set_backend(loop, io->_backend->poll, io);
    return 0;
}

const char *async_io_backend_name(const async_io *io) { return io->_backend ? io->_backend->name : "none"; }

// >>workers
/* The wake-up: a list of posted callbacks under a mutex, and an eventfd the
   backend watches. A poster writes the eventfd only when the list was
   empty; the loop reads the eventfd first and takes the whole list after,
   so a callback that found the list not empty is in what the loop takes,
   and a burst of posts costs one write and one wake-up. A mutex rather
   than a lock-free list: C99 has no atomics, and what it guards is a few
   stores. The eventfd blocks: io_uring answers EAGAIN for a read of a
   non-blocking file instead of waiting, and epoll reads it only when
   readable, alone.

   The pool: jobs wait in a FIFO queue under a second mutex, and idle
   workers on a condition. A worker takes a job, runs it without the lock,
   then posts the job's own callback (w->_done) to complete it on the
   loop: that post is its last touch of the job. The two locks are never
   held together. */
enum { ASYNC_IO__WORK_QUEUED = 1, ASYNC_IO__WORK_RUNNING = 2 };

#ifndef ASYNC_ASSERT /* async.h's, unless its implementation is in another file */
#include <assert.h>
#define ASYNC_ASSERT(c) assert(c)
#endif

static int async_io__workers_init(async_io *io, const async_io_config *config) {
    io->_max_workers = config && config->max_workers ? config->max_workers : 16;
    io->_wake_fd = eventfd(0, EFD_CLOEXEC);
    if (io->_wake_fd < 0) {
        snprintf(io->_error, sizeof io->_error, "eventfd failed: %s", strerror(errno));
        return ASYNC_IO_EBACKEND;
    }
    pthread_mutex_init(&io->_post_lock, NULL);
    pthread_mutex_init(&io->_pool_lock, NULL);
    pthread_cond_init(&io->_pool_cond, NULL);
    io->_locks = 1;
    return 0;
}

void async_io_post(async_io *io, async_io_callback *cb, void (*fn)(void *arg), void *arg) {
    int was_empty;
    cb->fn = fn;
    cb->arg = arg;
    cb->_next = NULL;
    pthread_mutex_lock(&io->_post_lock);
    was_empty = io->_posted_head == NULL;
    if (was_empty) io->_posted_head = cb;
    else io->_posted_tail->_next = cb;
    io->_posted_tail = cb;
    pthread_mutex_unlock(&io->_post_lock);
    if (was_empty) {
        uint64_t one = 1;
        ssize_t n = write(io->_wake_fd, &one, sizeof one); /* cannot fail: the counter is far from full */
        (void)n;
    }
}

/* Loop thread: run what was posted so far (what those post runs next time);
   how many ran. */
static int async_io__run_posted(async_io *io) {
    async_io_callback *cb, *next;
    int n = 0;
    pthread_mutex_lock(&io->_post_lock);
    cb = io->_posted_head;
    io->_posted_head = io->_posted_tail = NULL;
    pthread_mutex_unlock(&io->_post_lock);
    for (; cb; cb = next, n++) {
        next = cb->_next; /* cb is the caller's again once fn begins */
        cb->fn(cb->arg);
    }
    return n;
}

/* The backends' deadlock rule: waiting forever with nothing in flight. The
   armed eventfd read does not count (it would keep every loop alive); what
   was posted already does: it runs here, and the loop goes round again. */
static int async_io__deadlocked(async_io *io, async_time timeout) {
    return timeout < 0 && io->inflight == 0 && async_io__run_posted(io) == 0;
}

void async_io_ref(async_io *io) { io->inflight++; }

void async_io_unref(async_io *io) {
    ASYNC_ASSERT(io->inflight > 0);
    io->inflight--;
}

int async_io_work_held(const async_work *w) { return w->_held; }

/* Loop thread: the pool has let go of w. */
static void async_io__work_let_go(async_io *io, async_work *w) {
    w->_held = 0;
    io->inflight--;
    if (w->release) w->release(w);
}

/* Loop thread, posted by the worker once fn returned. */
static void async_io__work_done(void *arg) {
    async_work *w = (async_work *)arg;
    if (!async_done(&w->future)) { /* else cancelled while it ran: dropped */
        if (w->error < 0) async_future_set_error(&w->future, w->error);
        else async_future_set_result(&w->future, w->result);
    }
    async_io__work_let_go(w->_io, w);
}

/* Under the pool's lock. */
static void async_io__queue_unlink(async_io *io, async_work *w) {
    if (w->_prev) w->_prev->_next = w->_next;
    else io->_queue_head = w->_next;
    if (w->_next) w->_next->_prev = w->_prev;
    else io->_queue_tail = w->_prev;
    w->_next = w->_prev = NULL;
    w->_state = 0;
    io->_queued--;
}

static void *async_io__worker(void *arg) {
    async_io *io = (async_io *)arg;
    pthread_mutex_lock(&io->_pool_lock);
    while (!io->_stopping) {
        async_work *w = io->_queue_head;
        if (!w) {
            io->_idle++;
            pthread_cond_wait(&io->_pool_cond, &io->_pool_lock);
            io->_idle--;
            continue;
        }
        async_io__queue_unlink(io, w);
        w->_state = ASYNC_IO__WORK_RUNNING;
        pthread_mutex_unlock(&io->_pool_lock);
        w->_fn(w);
        async_io_post(io, &w->_done, async_io__work_done, w);
        pthread_mutex_lock(&io->_pool_lock);
    }
    pthread_mutex_unlock(&io->_pool_lock);
    return NULL;
}

/* Under the pool's lock. Every signal blocked in the worker: a handler
   must not interrupt fn, and a signalfd or sigwait on the loop thread must
   see them. 0 or -errno. */
static int async_io__start_worker(async_io *io) {
    sigset_t all, old;
    int rc;
    if (!io->_thread_ids) {
        io->_thread_ids = (pthread_t *)malloc(io->_max_workers * sizeof *io->_thread_ids);
        if (!io->_thread_ids) return -ENOMEM;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&io->_thread_ids[io->_threads], NULL, async_io__worker, io);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) return -rc;
    io->_threads++;
    return 0;
}

/* Loop thread: before fn began, it never will; after, the result is dropped. */
static void async_io__work_cancel(async_future *f) {
    async_work *w = ASYNC_HTTP__CONTAINER(f, async_work, future);
    async_io *io = w->_io;
    int queued;
    pthread_mutex_lock(&io->_pool_lock);
    queued = w->_state == ASYNC_IO__WORK_QUEUED;
    if (queued) async_io__queue_unlink(io, w);
    pthread_mutex_unlock(&io->_pool_lock);
    async_future_set_error(f, ASYNC_ECANCELED);
    if (queued) async_io__work_let_go(io, w);
}

async_future *async_io_to_thread(async_io *io, async_work *w, void (*fn)(async_work *w), void *arg) {
    int err = 0;
    ASYNC_ASSERT(!w->_held); /* still the pool's: see async_io_work_held */
    async_future_init_cancellable(&w->future, async_io__work_cancel);
    w->arg = arg;
    w->result = 0;
    w->error = 0;
    w->_io = io;
    w->_fn = fn;
    w->_held = 1;
    io->inflight++;
    pthread_mutex_lock(&io->_pool_lock);
    w->_state = ASYNC_IO__WORK_QUEUED;
    w->_next = NULL;
    w->_prev = io->_queue_tail;
    if (w->_prev) w->_prev->_next = w;
    else io->_queue_head = w;
    io->_queue_tail = w;
    io->_queued++;
    /* More jobs waiting than idle workers to take them: one more worker. */
    if (io->_queued > io->_idle && io->_threads < io->_max_workers) err = async_io__start_worker(io);
    if (io->_idle) pthread_cond_signal(&io->_pool_cond);
    if (err && io->_threads == 0) async_io__queue_unlink(io, w); /* nobody would ever run it */
    else err = 0;
    pthread_mutex_unlock(&io->_pool_lock);
    if (err) {
        async_future_set_error(&w->future, err);
        async_io__work_let_go(io, w);
    }
    return &w->future;
}

/* async_io_exit's first step: jobs not begun are cancelled, the running
   ones finish, the workers are joined, and what they posted runs. */
static void async_io__workers_stop(async_io *io) {
    async_work *queued, *w;
    unsigned i;
    if (!io->_locks) return;
    pthread_mutex_lock(&io->_pool_lock);
    io->_stopping = 1;
    queued = io->_queue_head;
    for (w = queued; w; w = w->_next) w->_state = 0;
    io->_queue_head = io->_queue_tail = NULL;
    io->_queued = 0;
    pthread_cond_broadcast(&io->_pool_cond);
    pthread_mutex_unlock(&io->_pool_lock);
    for (i = 0; i < io->_threads; i++) pthread_join(io->_thread_ids[i], NULL);
    free(io->_thread_ids);
    io->_thread_ids = NULL;
    io->_threads = 0;
    while ((w = queued) != NULL) {
        queued = w->_next;
        w->_next = w->_prev = NULL;
        if (!async_done(&w->future)) async_future_set_error(&w->future, ASYNC_ECANCELED);
        async_io__work_let_go(io, w);
    }
    async_io__run_posted(io);
}

/* After the backend: the eventfd and the locks go. */
static void async_io__workers_fini(async_io *io) {
    if (io->_wake_fd >= 0) close(io->_wake_fd);
    io->_wake_fd = -1;
    if (!io->_locks) return;
    pthread_mutex_destroy(&io->_post_lock);
    pthread_mutex_destroy(&io->_pool_lock);
    pthread_cond_destroy(&io->_pool_cond);
    io->_locks = 0;
}

// >>client
/* A connection slot: free (no socket), idle in the pool, lent to a
   request, or closing (its watch being withdrawn: >>pool). */
enum { ASYNC_HTTP__FREE, ASYNC_HTTP__IDLE, ASYNC_HTTP__BUSY, ASYNC_HTTP__CLOSING };

struct async_http__conn {
    async_stream s;
    async_http_client *client;
    char peer_ip[46];             /* where it is connected to, in words */
    unsigned peer_port;
    char *rbuf, *sbuf; /* what is received and what is sent (the request) */
    size_t scap;
    int state;
    size_t host;
    async_waiter watch;     /* idle or closing: woken when its receive ends */
    async_future *watched;  /* the future it waits on, NULL: none */
    async_http__conn *next, *prev;   /* the free list, or its host's idle list */
    async_time idle_since;           /* when it went into the pool */
    async_http__conn *newer, *older; /* every idle connection, the newest first */
};

struct async_http__host {
    char *name; /* as in the URL, brackets of IPv6 literals removed */
    unsigned port;
    int tls;       /* https: connections to it are TLS, and not shared with http ones */
    int proxy;     /* a proxy's own entry: keyed apart from an origin of the same name and port */
    void *session; /* TLS: the newest session, resumed by the next connection */
    char *host_header; /* "name" or "name:port" */
    size_t busy;       /* connections lent out for it */
    async_http__conn *idle;
    /* Its addresses (>>resolve): an IP literal's, or a lookup's, IPv6 and IPv4
       taking turns (RFC 8305 4), the port set; kept until `expires`. */
    struct sockaddr_storage *addrs;
    size_t naddrs;
    async_time expires;
    int literal;
    int lookup_error;                  /* how the last lookup failed (0: it did not) */
    int lookup_cause;                  /* and why, if the system said: an errno (0: the name is not known) */
    long via;                          /* the proxy's own host entry, or -1: connections go there */
    struct async_http__lookup *lookup; /* one in flight: requests for the host wait for it */
    struct async_http_request *parked, *parked_tail; /* waiters held back by limit_per_host, FIFO */
    size_t users;                      /* requests for it now, and hosts whose proxy it is */
    async_time unused_since;           /* when users last fell to 0 */
    size_t next_forgotten;             /* forgotten (name NULL): the next such entry, index + 1 */
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
    if (!ptr && !size) return NULL; /* a release frees many pointers that were never set */
    return c->config.alloc(c->config.alloc_user, ptr, size);
}

/* The response head starts in a small block (most heads are a few hundred
   bytes) and doubles up to the configured limits: memory per request in
   flight stays near one page. */
#define ASYNC_HTTP__HEAD_START 1024
#define ASYNC_HTTP__HEADERS_START 16

/* A request's response head starts in a block that an earlier request
   gave back when it was released (its inputs are copied into the request
   itself): at a steady rate, requests allocate nothing of their own. The
   blocks are of one size, the starting head's; a head that outgrows it
   gets a block of its own, allocated and freed as it comes. The client
   keeps one block per pool slot at most, and frees them when it closes.
   Under AddressSanitizer a kept block is poisoned: reading a response's
   headers after its release is still caught. And a request is filled with
   garbage as it starts, as the caller may leave it: a field the library
   reads before it sets it shows at once, not only where the caller's
   memory happened to be zero. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASYNC_HTTP__ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(ASYNC_HTTP__ASAN)
#include <sanitizer/asan_interface.h>
#define ASYNC_HTTP__POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define ASYNC_HTTP__UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#define ASYNC_HTTP__SCRIBBLE(p, n) memset(p, 0xA5, n)
#else
#define ASYNC_HTTP__POISON(p, n) ((void)(p), (void)(n))
#define ASYNC_HTTP__UNPOISON(p, n) ((void)(p), (void)(n))
#define ASYNC_HTTP__SCRIBBLE(p, n) ((void)(p), (void)(n))
#endif
typedef struct async_http__block {
    struct async_http__block *next;
    size_t cap; /* bytes after this header */
} async_http__block;
#define ASYNC_HTTP__BLOCK_CAP (ASYNC_HTTP__HEADERS_START * sizeof(async_http_header) + ASYNC_HTTP__HEAD_START)

static void *async_http__block_take(async_http_client *c, size_t size) {
    async_http__block *b = c->_spares;
    if (b && size <= ASYNC_HTTP__BLOCK_CAP) {
        c->_spares = b->next;
        c->_nspares--;
        ASYNC_HTTP__UNPOISON(b + 1, b->cap);
        return b + 1;
    }
    if (size < ASYNC_HTTP__BLOCK_CAP) size = ASYNC_HTTP__BLOCK_CAP;
    if (!(b = (async_http__block *)async_http__alloc(c, NULL, sizeof *b + size))) return NULL;
    b->cap = size;
    return b + 1;
}

static void async_http__block_give(async_http_client *c, void *p) {
    async_http__block *b = p ? (async_http__block *)p - 1 : NULL;
    if (!b) return;
    if (b->cap != ASYNC_HTTP__BLOCK_CAP || !c->_conns || c->_nspares >= c->config.limit) {
        async_http__alloc(c, b, 0);
        return;
    }
    b->next = c->_spares;
    c->_spares = b;
    c->_nspares++;
    ASYNC_HTTP__POISON(b + 1, b->cap);
}

/* A detail for the request's error message, after the code's own text. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3))) /* each call's arguments checked against its format */
#endif
static void async_http__set_detail(async_http_request *r, const char *fmt, ...) {
    va_list ap;
    int n = snprintf(r->_detail, sizeof r->_detail, "%s: ", async_strerror(r->error));
    if (n < 0 || (size_t)n >= sizeof r->_detail) return;
    va_start(ap, fmt);
    vsnprintf(r->_detail + n, sizeof r->_detail - (size_t)n, fmt, ap);
    va_end(ap);
}

static int async_http__proxy_setup(async_http_client *c);
static void async_http__host_free(async_http_client *c, async_http__host *h);
static int async_http__net_error(int err);

int async_http_client_init(async_http_client *c, async_io *io, const async_http_client_config *config) {
    async_http_client_config *cfg = &c->config;
    size_t i;
    memset(c, 0, sizeof *c);
    if (config) *cfg = *config;
    if (!cfg->limit) cfg->limit = 100;
    if (!cfg->timeout_total) cfg->timeout_total = ASYNC_SEC(300);
    if (!cfg->timeout_connect) cfg->timeout_connect = ASYNC_SEC(30); /* aiohttp's sock_connect */
    if (!cfg->keepalive_timeout) cfg->keepalive_timeout = ASYNC_SEC(15);
    if (!cfg->max_redirects) cfg->max_redirects = 10;
    if (!cfg->dns_cache_ttl) cfg->dns_cache_ttl = ASYNC_SEC(10);
    if (!cfg->resolver) cfg->resolver = async_http_getaddrinfo;
    if (!cfg->max_body_size) cfg->max_body_size = (size_t)64 << 20;
    if (!cfg->max_header_bytes) cfg->max_header_bytes = 16 << 10;
    if (!cfg->max_headers) cfg->max_headers = 100;
    if (!cfg->recv_buffer_size) cfg->recv_buffer_size = 64 << 10;
    if (!cfg->user_agent) cfg->user_agent = "async_http.h";
    if (!cfg->alloc) cfg->alloc = async_http__default_alloc;
    for (i = 0; cfg->user_agent[i]; i++) /* a CR or LF would end the header: another one after it */
        if (!async_http__is_text((unsigned char)cfg->user_agent[i])) return ASYNC_HTTP_EHEADER;
    if (!io || !io->_backend) return ASYNC_IO_EBACKEND; /* async_io_init did not run, or failed, or io_exit did */
    c->io = io;
    async_http_errors_register();
    if (cfg->limit > (size_t)-1 / sizeof *c->_conns) return ASYNC_HTTP_ENOMEM; /* the product would wrap */
    c->_conns = (async_http__conn *)async_http__alloc(c, NULL, cfg->limit * sizeof *c->_conns);
    if (!c->_conns) return ASYNC_HTTP_ENOMEM;
    io->_clients++; /* from here on, async_http_client_close undoes it */
    memset(c->_conns, 0, cfg->limit * sizeof *c->_conns);
    for (i = cfg->limit; i-- > 0;) {
        async_stream_init(&c->_conns[i].s, io, -1);
        c->_conns[i].client = c;
        c->_conns[i].next = c->_free_conns;
        c->_free_conns = &c->_conns[i];
    }
    {
        int rc = async_http__proxy_setup(c);
        if (rc) {
            async_http_client_close(c);
            return rc;
        }
    }
    return 0;
}

void async_http_client_get_stats(const async_http_client *c, async_http_client_stats *s) {
    const async_http__conn *k;
    size_t i;
    memset(s, 0, sizeof *s);
    s->connects = c->_connects;
    s->tls_handshakes = c->_tls_handshakes;
    s->tls_resumed = c->_tls_resumed;
    s->lookups = c->_lookups;
    s->busy = c->_busy;
    for (i = 0; i < c->_nhosts; i++) {
        s->busy_by_host += c->_hosts[i].busy;
        s->hosts += c->_hosts[i].name != NULL; /* (a forgotten one has none) */
    }
    s->hosts_forgotten = c->_nforgotten;
    for (k = c->_idle_newest; k; k = k->older) s->idle++;
    s->waiting = c->_waiting;
}

static void async_http__lookup_abandon(struct async_http__lookup *l);
static void async_http__unwatch(async_http__conn *k);

void async_http_client_close(async_http_client *c) {
    size_t i;
    if (!c->_conns) return;
    /* Requests still running are cancelled and run to their end, so that
       nothing of theirs is left in the kernel's hands or in the pool. */
    while (c->_live) {
        async_http_request *r = c->_live;
        async_cancel(&r->task);
        async_run(c->io->loop, &r->task.future);
    }
    for (i = 0; i < c->config.limit; i++) {
        async_http__conn *k = &c->_conns[i];
        async_future *f;
        async_http__unwatch(k); /* an idle or closing slot's receive is withdrawn here */
        while ((f = async_stream_settle(&k->s)) != NULL) async_run(c->io->loop, f);
        async_stream_close(&k->s);
        async_http__alloc(c, k->rbuf, 0);
        async_http__alloc(c, k->sbuf, 0);
    }
    for (i = 0; i < c->_nhosts; i++) async_http__host_free(c, &c->_hosts[i]);
    if (c->_tls_made == 1) async_tls_free(&c->_tls);
    c->_tls_made = 0;
    async_http__alloc(c, c->_proxies[0], 0);
    async_http__alloc(c, c->_proxies[1], 0);
    async_http__alloc(c, c->_proxy_auth, 0);
    async_http__alloc(c, c->_proxy_auth_tls, 0);
    async_http__alloc(c, c->_no_proxy, 0);
    c->_proxies[0] = c->_proxies[1] = c->_proxy_auth = c->_proxy_auth_tls = c->_no_proxy = NULL;
    async_http__alloc(c, c->_hosts, 0);
    async_http__alloc(c, c->_conns, 0);
    while (c->_spares) {
        async_http__block *b = c->_spares;
        c->_spares = b->next;
        ASYNC_HTTP__UNPOISON(b + 1, b->cap);
        async_http__alloc(c, b, 0);
    }
    c->_nspares = 0;
    async_http__alloc(c, c->_host_slots, 0);
    /* What pointed into the slots goes with them: the stats stay readable
       (the counts of connects, handshakes and lookups are the client's life's). */
    c->_conns = c->_free_conns = c->_idle_newest = c->_idle_oldest = NULL;
    c->io->_clients--;
    c->_wait_head = c->_wait_tail = NULL;
    c->_busy = c->_closing = c->_waiting = 0;
    c->_hosts = NULL;
    c->_host_slots = NULL;
    c->_nhosts = c->_hosts_forgotten = 0;
}

// >>pool
static int async_http__host_may_open(async_http_client *c, size_t host) {
    return !c->config.limit_per_host || c->_hosts[host].busy < c->config.limit_per_host;
}

/* Idle connections are watched (async_stream_watch): what a server sends
   unasked, or its close, retires the connection the moment it comes, and
   taking one mostly costs no syscall (async_http__pick says when it
   peeks). A watched receive holds the slot's buffer, so a slot whose
   connection is closed for another waits, CLOSING, until the kernel let
   go of it. */
static void async_http__watch_woken(async_waiter *w, async_future *done);

static void async_http__unwatch(async_http__conn *k) {
    if (k->watched) async_future_remove_waiter(k->watched, &k->watch);
    k->watched = NULL;
}

static void async_http__watch_on(async_http__conn *k, async_future *f) {
    k->watch.wake = async_http__watch_woken;
    k->watched = f;
    async_future_add_waiter(f, &k->watch);
}

static void async_http__idle_push(async_http_client *c, async_http__conn *k) {
    async_http__host *h = &c->_hosts[k->host];
    k->state = ASYNC_HTTP__IDLE;
    k->idle_since = async_loop_time(c->io->loop);
    k->prev = NULL;
    k->next = h->idle;
    if (h->idle) h->idle->prev = k;
    h->idle = k;
    k->older = c->_idle_newest;
    k->newer = NULL;
    if (c->_idle_newest) c->_idle_newest->newer = k;
    else c->_idle_oldest = k;
    c->_idle_newest = k;
}

static void async_http__idle_remove(async_http_client *c, async_http__conn *k) {
    if (k->prev) k->prev->next = k->next;
    else c->_hosts[k->host].idle = k->next;
    if (k->next) k->next->prev = k->prev;
    if (k->newer) k->newer->older = k->older;
    else c->_idle_newest = k->older;
    if (k->older) k->older->newer = k->newer;
    else c->_idle_oldest = k->newer;
    async_http__unwatch(k);
}

/* Into the pool, watched; 0 if it is not clean enough for that. */
static int async_http__idle_keep(async_http_client *c, async_http__conn *k) {
    async_future *f = async_stream_watch(&k->s, k->rbuf, c->config.recv_buffer_size);
    if (!f) return 0;
    async_http__idle_push(c, k);
    async_http__watch_on(k, f);
    return 1;
}

/* Close the connection and put its slot on the free list. */
static void async_http__free_slot(async_http_client *c, async_http__conn *k) {
    async_stream_close(&k->s);
    k->state = ASYNC_HTTP__FREE;
    k->next = c->_free_conns;
    c->_free_conns = k;
}

/* Close a connection no request holds (out of the idle lists): at once,
   or CLOSING until its receive is withdrawn. 1 if the slot is free now. */
static int async_http__retire(async_http_client *c, async_http__conn *k) {
    async_future *f;
    while ((f = async_stream_settle(&k->s)) != NULL && async_done(f)) continue; /* epoll withdraws at once */
    if (!f) {
        async_http__free_slot(c, k);
        return 1;
    }
    k->state = ASYNC_HTTP__CLOSING;
    c->_closing++;
    async_http__watch_on(k, f);
    return 0;
}

static void async_http__serve_waiters(async_http_client *c);

/* An idle connection's receive ended (the server spoke or closed: only
   TLS's own bytes, a session ticket, keep it, watched again where it was
   in the pool), or a closing one's was withdrawn: a slot for the waiters. */
static void async_http__watch_woken(async_waiter *w, async_future *done) {
    async_http__conn *k = ASYNC_HTTP__CONTAINER(w, async_http__conn, watch);
    async_http_client *c = k->client;
    async_future *f;
    (void)done;
    k->watched = NULL;
    if (k->state == ASYNC_HTTP__CLOSING) {
        c->_closing--;
        async_http__retire(c, k);
    } else if (async_stream_idle_clean(&k->s, 0) &&
               (f = async_stream_watch(&k->s, k->rbuf, c->config.recv_buffer_size)) != NULL) {
        async_http__watch_on(k, f); /* watched again where it was in the pool: its idle time runs on */
        return;
    } else {
        async_http__idle_remove(c, k);
        if (!async_http__retire(c, k)) return;
    }
    async_http__serve_waiters(c);
}

/* Idle connections are closed after keepalive_timeout, oldest first
   (aiohttp's keepalive_timeout): a server or a NAT that forgot one silently
   would otherwise stall the request that takes it until a timeout. Looked
   at whenever a connection is asked for, not by a timer of its own: idle
   connections never keep the loop waiting (the deadlock rule). */
static void async_http__expire_idle(async_http_client *c) {
    async_time now = async_loop_time(c->io->loop);
    async_http__conn *k;
    if (c->config.keepalive_timeout == ASYNC_NO_TIMEOUT || c->config.keepalive_timeout < 0) return; /* none */
    while ((k = c->_idle_oldest) != NULL && now - k->idle_since >= c->config.keepalive_timeout) {
        async_http__idle_remove(c, k);
        async_http__retire(c, k);
    }
}

static int async_http__idempotent(const char *m);

/* A connection for the request, in O(1): the host's most recently used
   idle one (if it is still clean), else a free slot, else the slot of the
   longest idle connection to another host (closed; if that takes a loop
   turn, -1 now and the slot goes to the queue). -1 if the request must
   wait; `queued`: it is in the queue already. A retry wants a new
   connection; a request that could not be retried (a POST) peeks the
   socket even when the watch is fresh. */

static long async_http__pick(async_http_client *c, async_http_request *r, int queued) {
    async_http__conn *k;
    size_t host = r->_host;
    async_http__expire_idle(c);
    if (!async_http__host_may_open(c, host)) return -1;
    while (r->_attempts == 0 && (k = c->_hosts[host].idle) != NULL) {
        async_http__idle_remove(c, k);
        if (async_stream_idle_clean(&k->s, !async_http__idempotent(r->_method))) return (long)(k - c->_conns);
        async_http__retire(c, k); /* a new one may take its place */
    }
    if ((k = c->_free_conns) != NULL) {
        c->_free_conns = k->next;
        return (long)(k - c->_conns);
    }
    /* No more slots closing than requests waiting for one. */
    if ((k = c->_idle_oldest) == NULL || c->_closing >= c->_waiting + !queued) return -1;
    async_http__idle_remove(c, k); /* for a fresh one, perhaps the host's own */
    if (!async_http__retire(c, k)) return -1;
    c->_free_conns = k->next;
    return (long)(k - c->_conns);
}

static void async_http__lend(async_http_client *c, async_http_request *r, long slot) {
    async_http__conn *k = &c->_conns[slot];
    k->state = ASYNC_HTTP__BUSY;
    k->host = r->_host;
    c->_hosts[r->_host].busy++;
    c->_busy++;
    r->_try.conn = slot;
}

static void async_http__pool_wait_cancel(async_future *f);

/* Requests waiting for a connection are in the client's queue (FIFO), or
   parked with their host while it is at limit_per_host: each time one of
   the host's connections comes back, its oldest parked waiter goes to the
   queue's head. So serving the queue never walks past waiters that could
   not be served (it stays O(1) per slot, however many wait for a busy
   host), and a cancelled waiter leaves in O(1). Both lists are doubly
   linked through _wait_next and _wait_prev. */
enum { ASYNC_HTTP__QUEUED = 1, ASYNC_HTTP__PARKED = 2 };

static void async_http__link(async_http_request **head, async_http_request **tail, async_http_request *r, int front) {
    r->_wait_prev = front ? NULL : *tail;
    r->_wait_next = front ? *head : NULL;
    if (front && *head) (*head)->_wait_prev = r;
    else if (!front && *tail) (*tail)->_wait_next = r;
    if (!r->_wait_prev) *head = r;
    if (!r->_wait_next) *tail = r;
}

static void async_http__unlink(async_http_request **head, async_http_request **tail, async_http_request *r) {
    if (r->_wait_prev) r->_wait_prev->_wait_next = r->_wait_next;
    else *head = r->_wait_next;
    if (r->_wait_next) r->_wait_next->_wait_prev = r->_wait_prev;
    else *tail = r->_wait_prev;
    r->_wait_next = r->_wait_prev = NULL;
}

static void async_http__enqueue(async_http_client *c, async_http_request *r) {
    async_future_init_cancellable(&r->_pool_wait, async_http__pool_wait_cancel);
    async_http__link(&c->_wait_head, &c->_wait_tail, r, 0);
    r->_queued = ASYNC_HTTP__QUEUED;
    c->_waiting++;
}

static void async_http__unqueue(async_http_client *c, async_http_request *r) {
    async_http__host *h = &c->_hosts[r->_host];
    if (r->_queued == ASYNC_HTTP__PARKED) async_http__unlink(&h->parked, &h->parked_tail, r);
    else async_http__unlink(&c->_wait_head, &c->_wait_tail, r);
    r->_queued = 0;
    c->_waiting--;
}

/* Its host gave a connection back: its oldest parked waiter is first in line. */
static void async_http__unpark(async_http_client *c, size_t host) {
    async_http__host *h = &c->_hosts[host];
    async_http_request *r = h->parked;
    if (!r) return;
    async_http__unlink(&h->parked, &h->parked_tail, r);
    async_http__link(&c->_wait_head, &c->_wait_tail, r, 1);
    r->_queued = ASYNC_HTTP__QUEUED;
}

static void async_http__pool_wait_cancel(async_future *f) {
    async_http_request *r = ASYNC_HTTP__CONTAINER(f, async_http_request, _pool_wait);
    async_http_client *c = r->_client;
    int was = r->_queued;
    if (was) async_http__unqueue(c, r);
    /* One unparked gives way: the next parked one of its host takes its place in line. */
    if (was == ASYNC_HTTP__QUEUED && async_http__host_may_open(c, r->_host)) async_http__unpark(c, r->_host);
    async_future_set_error(f, ASYNC_ECANCELED);
}

/* Give freed capacity to the waiters, first come first served; one whose
   host is at its own limit is parked and lets the next one go. */
static void async_http__serve_waiters(async_http_client *c) {
    async_http_request *r = c->_wait_head;
    while (r) {
        async_http_request *next = r->_wait_next;
        long slot;
        if (!async_http__host_may_open(c, r->_host)) {
            async_http__host *h = &c->_hosts[r->_host];
            async_http__unlink(&c->_wait_head, &c->_wait_tail, r);
            async_http__link(&h->parked, &h->parked_tail, r, 0);
            r->_queued = ASYNC_HTTP__PARKED;
        } else if ((slot = async_http__pick(c, r, 1)) >= 0) {
            async_http__unqueue(c, r);
            async_http__lend(c, r, slot);
            async_future_set_result(&r->_pool_wait, 0);
        } else if (c->_busy >= c->config.limit) {
            return;
        }
        r = next;
    }
}

/* A connection for this attempt now (1), or a place in the queue (0).
   Waiters in the queue could not use what is free now (their host is at
   its limit), so trying first takes nothing from them. */
static int async_http__take_conn(async_http_request *r) {
    async_http_client *c = r->_client;
    long slot = async_http__pick(c, r, 0);
    if (slot < 0) {
        async_http__enqueue(c, r);
        return 0;
    }
    async_http__lend(c, r, slot);
    return 1;
}

/* Take the request's connection back: pooled if it may carry another
   response, else closed. */
static void async_http__give_back(async_http_request *r, int keep) {
    async_http_client *c = r->_client;
    async_http__conn *k;
    if (r->_try.conn < 0) return;
    k = &c->_conns[r->_try.conn];
    if (!keep || !async_http__idle_keep(c, k)) async_http__retire(c, k);
    c->_hosts[k->host].busy--;
    c->_busy--;
    r->_try.conn = -1;
    async_http__unpark(c, k->host);
    async_http__serve_waiters(c);
}

// >>resolve
/* Name lookups never block the loop: getaddrinfo (or config.resolver) runs
   on the io's worker pool; the requests for a host wait for its one lookup
   in flight; its addresses are kept for dns_cache_ttl. A lookup is heap
   storage of its own, freed when the worker lets go of it, so a request
   cancelled (or a client closed) meanwhile leaves nothing behind. */
#define ASYNC_HTTP__MAX_ADDRS 16

/* now + a configured time, saturated: a long finite one must not wrap into the past. */
static async_time async_http__after(async_time now, async_time t) {
    return t > ASYNC_NO_TIMEOUT - now ? ASYNC_NO_TIMEOUT : now + t;
}

typedef struct async_http__lookup {
    async_work work;            /* first: the pool's */
    async_waiter finished;      /* on work.future: the results, on the loop thread */
    async_http_client *client;  /* NULL once the client let go of it */
    size_t host;                /* its host's index */
    int (*resolver)(void *user, const char *name, struct sockaddr_storage *addrs, size_t max, size_t *count);
    void *resolver_user;
    void *(*alloc)(void *user, void *ptr, size_t size); /* kept: the lookup may outlive the client */
    void *alloc_user;
    async_event done;           /* the requests waiting for it */
    struct sockaddr_storage addrs[ASYNC_HTTP__MAX_ADDRS];
    size_t naddrs;
    int cause;                  /* a failure's errno, if the resolver gave one (0: none) */
    char name[1];               /* allocated to its length */
} async_http__lookup;

/* The port of a looked-up address (a lookup is by name alone). */
static void async_http__set_port(struct sockaddr_storage *a, unsigned port) {
    if (a->ss_family == AF_INET6) ((struct sockaddr_in6 *)(void *)a)->sin6_port = htons((uint16_t)port);
    else ((struct sockaddr_in *)(void *)a)->sin_port = htons((uint16_t)port);
}

static socklen_t async_http__addr_len(const struct sockaddr_storage *a) {
    return a->ss_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6) : (socklen_t)sizeof(struct sockaddr_in);
}

/* An IP literal needs no lookup: its one address, for good. */
static int async_http__literal(async_http_client *c, async_http__host *h) {
    struct sockaddr_storage a;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&a;
    const char *zone = strchr(h->name, '%');
    char ip[INET6_ADDRSTRLEN];
    size_t len = zone ? (size_t)(zone - h->name) : strlen(h->name);
    memset(&a, 0, sizeof a);
    if (len >= sizeof ip) return 0;
    memcpy(ip, h->name, len);
    ip[len] = 0;
    if (!zone && inet_pton(AF_INET, ip, &((struct sockaddr_in *)(void *)&a)->sin_addr) == 1) a.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) a.ss_family = AF_INET6;
    else return 0;
    if (zone) { /* fe80::1%eth0, or RFC 6874's %25eth0: an interface's name or number */
        char *end;
        zone += strncmp(zone, "%25", 3) == 0 && zone[3] ? 3 : 1;
        if (!(in6->sin6_scope_id = if_nametoindex(zone)) &&
            (!(in6->sin6_scope_id = (uint32_t)strtoul(zone, &end, 10)) || *end || *zone < '0' || *zone > '9'))
            return ASYNC_HTTP_ENAME;
    }
    if (!(h->addrs = (struct sockaddr_storage *)async_http__alloc(c, NULL, sizeof a))) return ASYNC_HTTP_ENOMEM;
    async_http__set_port(&a, h->port);
    h->addrs[0] = a;
    h->naddrs = 1;
    h->literal = 1;
    return 0;
}

int async_http_getaddrinfo(void *user, const char *name, struct sockaddr_storage *addrs, size_t max, size_t *count) {
    struct addrinfo hints, *res = NULL, *ai;
    struct sockaddr_storage v6[ASYNC_HTTP__MAX_ADDRS], v4[ASYNC_HTTP__MAX_ADDRS];
    size_t n6 = 0, n4 = 0, i;
    (void)user;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    switch (getaddrinfo(name, NULL, &hints, &res)) {
    case 0: break;
    case EAI_SYSTEM: return errno > 0 ? -errno : ASYNC_HTTP_ENAME; /* out of fds, say */
    case EAI_MEMORY: return -ENOMEM;
    case EAI_AGAIN: return -EAGAIN; /* the name server did not answer */
    default: return ASYNC_HTTP_ENAME;
    }
    if (!res) return ASYNC_HTTP_ENAME;
    for (ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET6 && n6 < ASYNC_HTTP__MAX_ADDRS) memcpy(&v6[n6++], ai->ai_addr, ai->ai_addrlen);
        if (ai->ai_family == AF_INET && n4 < ASYNC_HTTP__MAX_ADDRS) memcpy(&v4[n4++], ai->ai_addr, ai->ai_addrlen);
    }
    freeaddrinfo(res);
    /* IPv6 first, then the families take turns (RFC 8305 4) */
    for (*count = 0, i = 0; *count < max && (i < n6 || i < n4); i++) {
        if (i < n6) addrs[(*count)++] = v6[i];
        if (i < n4 && *count < max) addrs[(*count)++] = v4[i];
    }
    return *count ? 0 : ASYNC_HTTP_ENAME;
}

/* On a worker thread: the call that may block. */
static void async_http__lookup_run(async_work *w) {
    async_http__lookup *l = (async_http__lookup *)(void *)w;
    size_t n = 0;
    w->error = l->resolver(l->resolver_user, l->name, l->addrs, ASYNC_HTTP__MAX_ADDRS, &n);
    if (!w->error && n == 0) w->error = ASYNC_HTTP_ENAME;
    l->cause = w->error < 0 && w->error > -4096 ? -w->error : 0; /* the request says it: the code is ENAME */
    /* (a timeout or cancel of the resolver's own would pass for the request's) */
    if (w->error > 0 || w->error < -4999 || (w->error < 0 && w->error > -4096) || w->error == ASYNC_ETIMEDOUT ||
        w->error == ASYNC_ECANCELED)
        w->error = ASYNC_HTTP_ENAME;
    l->naddrs = w->error ? 0 : n > ASYNC_HTTP__MAX_ADDRS ? ASYNC_HTTP__MAX_ADDRS : n;
}

/* On the loop thread: the host keeps the addresses (a failure is not kept:
   the next request asks again); the waiting requests go on. */
static void async_http__lookup_finished(async_waiter *self, async_future *f) {
    async_http__lookup *l = ASYNC_HTTP__CONTAINER(self, async_http__lookup, finished);
    async_http_client *c = l->client;
    if (c) {
        async_http__host *h = &c->_hosts[l->host];
        size_t i;
        h->lookup = NULL;
        h->lookup_error = async_error(f) ? async_error(f) : 0;
        h->lookup_cause = h->lookup_error ? l->cause : 0;
        if (h->lookup_error) { /* the expired addresses are not used in its place */
            async_http__alloc(c, h->addrs, 0);
            h->addrs = NULL;
            h->naddrs = 0;
        } else if (l->naddrs) {
            struct sockaddr_storage *a =
                (struct sockaddr_storage *)async_http__alloc(c, NULL, l->naddrs * sizeof *a);
            if (a) {
                for (i = 0; i < l->naddrs; i++) async_http__set_port(&l->addrs[i], h->port);
                memcpy(a, l->addrs, l->naddrs * sizeof *a);
                async_http__alloc(c, h->addrs, 0);
                h->addrs = a;
                h->naddrs = l->naddrs;
                h->expires = c->config.dns_cache_ttl < 0 ? 0
                                                         : async_http__after(async_now(c->io->loop), c->config.dns_cache_ttl);
            } else {
                h->lookup_error = ASYNC_HTTP_ENOMEM;
            }
        }
    }
    async_event_set(&l->done);
}

static void async_http__lookup_release(async_work *w) {
    async_http__lookup *l = (async_http__lookup *)(void *)w;
    l->alloc(l->alloc_user, l, 0);
}

/* The client goes: the lookup frees itself once its worker is done. */
static void async_http__lookup_abandon(async_http__lookup *l) { l->client = NULL; }

static int async_http__lookup_start(async_http_client *c, size_t host) {
    async_http__host *h = &c->_hosts[host];
    size_t len = strlen(h->name);
    async_http__lookup *l = (async_http__lookup *)async_http__alloc(c, NULL, sizeof *l + len);
    async_future *f;
    if (!l) return ASYNC_HTTP_ENOMEM;
    memset(l, 0, sizeof *l);
    memcpy(l->name, h->name, len + 1);
    l->client = c;
    l->host = host;
    l->resolver = c->config.resolver;
    l->resolver_user = c->config.resolver_user;
    l->alloc = c->config.alloc;
    l->alloc_user = c->config.alloc_user;
    async_event_init(&l->done);
    f = async_io_to_thread(c->io, &l->work, async_http__lookup_run, l);
    if (async_done(f)) { /* no worker could start (no release was set: the lookup is still ours) */
        int err = async_error(f);
        async_http__alloc(c, l, 0);
        return err ? err : ASYNC_HTTP_ENAME;
    }
    l->work.release = async_http__lookup_release;
    h->lookup = l;
    c->_lookups++;
    l->finished.wake = async_http__lookup_finished;
    async_future_add_waiter(f, &l->finished);
    return 0;
}

/* Whether the host's addresses may be used as they are. */
static int async_http__addresses_fresh(async_http_client *c, const async_http__host *h) {
    return h->naddrs && (h->literal || h->expires == ASYNC_NO_TIMEOUT || async_now(c->io->loop) < h->expires);
}


// >>url
static char *async_http__strndup(async_http_client *c, const char *s, size_t n) {
    char *d = (char *)async_http__alloc(c, NULL, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* The host table is found by a hash (open addressing over twice its
   capacity) of the name, in any case, the port and the scheme: a client of
   many hosts, a crawler's, finds each in O(1). An entry stays while it is
   used, and a while after (async_http__hosts_forget). */
static size_t *async_http__host_slot(async_http_client *c, int tls, int proxy, const char *name, size_t len,
                                     unsigned port) { /* FNV-1a */
    size_t mask = c->_hosts_cap * 2 - 1, i, hash = 2166136261u ^ port ^ ((size_t)tls << 17) ^ ((size_t)proxy << 18);
    for (i = 0; i < len; i++) hash = (hash ^ async_http__lower((unsigned char)name[i])) * 16777619u;
    for (i = hash & mask;; i = (i + 1) & mask) {
        const async_http__host *h;
        if (!c->_host_slots[i]) return &c->_host_slots[i];
        h = &c->_hosts[c->_host_slots[i] - 1];
        if (h->port == port && h->tls == tls && h->proxy == proxy && async_http__ieq(h->name, strlen(h->name), name, len))
            return &c->_host_slots[i];
    }
}

/* The index made again from the entries (the forgotten ones left out). */
static void async_http__hosts_index(async_http_client *c) {
    size_t i;
    memset(c->_host_slots, 0, 2 * c->_hosts_cap * sizeof *c->_host_slots);
    for (i = 0; i < c->_nhosts; i++) {
        const async_http__host *h = &c->_hosts[i];
        if (h->name) *async_http__host_slot(c, h->tls, h->proxy, h->name, strlen(h->name), h->port) = i + 1;
    }
}

/* What an entry holds, freed (the client closes, or forgets it). */
static void async_http__host_free(async_http_client *c, async_http__host *h) {
    async_http__alloc(c, h->name, 0);
    async_http__alloc(c, h->host_header, 0);
    if (h->session) async_tls_session_free(h->session);
    async_http__alloc(c, h->addrs, 0);
    if (h->lookup) async_http__lookup_abandon(h->lookup);
}

static void async_http__host_use(async_http_client *c, size_t host) { c->_hosts[host].users++; }

static void async_http__host_unuse(async_http_client *c, size_t host) {
    if (--c->_hosts[host].users == 0) c->_hosts[host].unused_since = async_loop_time(c->io->loop);
}

/* Once the table is full, the entries nothing has used for
   ASYNC_HTTP_HOST_KEEP (no request, connection, lookup, or host behind
   its proxy) are forgotten, with their addresses and TLS session: a
   crawler's table stays the size of what it used lately. Not when
   addresses are kept for good. Entries stay where they are (requests and
   connections hold their index); a forgotten one is made again next.
   How many were forgotten. */
static size_t async_http__hosts_forget(async_http_client *c) {
    async_time now = async_loop_time(c->io->loop);
    size_t i, n = 0;
    if (c->config.dns_cache_ttl == ASYNC_NO_TIMEOUT) return 0;
    async_http__expire_idle(c); /* (a host whose last connection outstayed keepalive_timeout is unused) */
    for (i = 0; i < c->_nhosts; i++) {
        async_http__host *h = &c->_hosts[i];
        if (!h->name || h->users || h->busy || h->idle || h->lookup || now - h->unused_since < ASYNC_HTTP_HOST_KEEP)
            continue;
        if (h->via >= 0) async_http__host_unuse(c, (size_t)h->via);
        async_http__host_free(c, h);
        memset(h, 0, sizeof *h);
        h->next_forgotten = c->_hosts_forgotten;
        c->_hosts_forgotten = i + 1;
        n++;
    }
    if (n) async_http__hosts_index(c);
    c->_nforgotten += n;
    return n;
}

/* Room for one more host: the table and its index, twice as big. */
static int async_http__hosts_grow(async_http_client *c) {
    size_t cap = c->_hosts_cap ? c->_hosts_cap * 2 : 8, i;
    async_http__host *grown = (async_http__host *)async_http__alloc(c, c->_hosts, cap * sizeof *grown);
    size_t *slots = (size_t *)async_http__alloc(c, NULL, 2 * cap * sizeof *slots);
    if (grown) { /* it may have moved: TLS streams keep where their host's session goes */
        c->_hosts = grown;
        for (i = 0; i < c->config.limit; i++)
            if (c->_conns[i].s._session) c->_conns[i].s._session = &grown[c->_conns[i].host].session;
    }
    if (!grown || !slots) {
        async_http__alloc(c, slots, 0);
        return ASYNC_HTTP_ENOMEM;
    }
    async_http__alloc(c, c->_host_slots, 0);
    c->_host_slots = slots;
    c->_hosts_cap = cap;
    async_http__hosts_index(c);
    return 0;
}

/* Where the next entry goes: a forgotten one, or the next of the table
   (grown, unless a quarter of it could be forgotten). */
static int async_http__host_room(async_http_client *c, size_t *index) {
    if (!c->_hosts_forgotten && c->_nhosts == c->_hosts_cap) {
        size_t forgotten = c->_hosts_cap ? async_http__hosts_forget(c) : 0;
        int rc = !forgotten || forgotten < c->_hosts_cap / 4 ? async_http__hosts_grow(c) : 0;
        if (rc && !forgotten) return rc;
    }
    *index = c->_hosts_forgotten ? c->_hosts_forgotten - 1 : c->_nhosts;
    return 0;
}

/* The entry could not be made (err): a forgotten one stays forgotten (no
   name), its proxy unused again. */
static int async_http__host_unmade(async_http_client *c, async_http__host *h, int err) {
    async_http__alloc(c, h->name, 0);
    async_http__alloc(c, h->host_header, 0);
    h->name = h->host_header = NULL;
    if (h->via >= 0) async_http__host_unuse(c, (size_t)h->via);
    return err;
}

/* The entry at index (from async_http__host_room) is made. */
static void async_http__host_made(async_http_client *c, size_t index) {
    async_http__host *h = &c->_hosts[index];
    h->unused_since = async_loop_time(c->io->loop);
    if (index == c->_nhosts) {
        c->_nhosts++;
    } else {
        c->_hosts_forgotten = h->next_forgotten;
        h->next_forgotten = 0;
    }
}

/* The host's index in the table, made the first time. Hosts are keyed by
   scheme, name and port: an https connection is never lent to an http
   request. A proxy's own entry (proxy 1) is a key of its own: a request
   for the proxy's URL goes through the proxy, whichever came first. */
static long async_http__proxy_for(async_http_client *c, int tls, const char *name, size_t name_len, unsigned port,
                                  int *err);

static int async_http__host_lookup(async_http_client *c, int tls, const char *name, size_t name_len, unsigned port,
                                   int bracketed, int proxy, size_t *index) {
    size_t *slot, at, next;
    async_http__host *h;
    char portbuf[16];
    int rc;
    if (c->_hosts_cap && *(slot = async_http__host_slot(c, tls, proxy, name, name_len, port))) {
        *index = *slot - 1;
        return 0;
    }
    {   /* through a proxy? (its own entry, made first: it may fill or move the table; in use from
           now on, so that the sweep room for this one may make is not its end) */
        long via = proxy ? -1 : async_http__proxy_for(c, tls, name, name_len, port, &rc);
        if (via < -1) return rc;
        if (via >= 0) async_http__host_use(c, (size_t)via);
        if ((rc = async_http__host_room(c, &at)) != 0) {
            if (via >= 0) async_http__host_unuse(c, (size_t)via);
            return rc;
        }
        h = &c->_hosts[at];
        next = at < c->_nhosts ? h->next_forgotten : 0; /* a forgotten one stays on its list until made */
        memset(h, 0, sizeof *h);
        h->next_forgotten = next;
        h->via = via;
    }
    h->port = port;
    h->tls = tls;
    h->proxy = proxy;
    h->name = async_http__strndup(c, name, name_len);
    snprintf(portbuf, sizeof portbuf, ":%u", port);
    h->host_header = (char *)async_http__alloc(c, NULL, name_len + 2 + sizeof portbuf);
    if (!h->name || !h->host_header) return async_http__host_unmade(c, h, ASYNC_HTTP_ENOMEM);
    snprintf(h->host_header, name_len + 2 + sizeof portbuf, "%s%.*s%s%s", bracketed ? "[" : "",
             (int)(bracketed ? strcspn(h->name, "%") : name_len), h->name, bracketed ? "]" : "",
             port == (tls ? 443u : 80u) ? "" : portbuf); /* an IPv6 zone is the client's own business */
    if ((rc = async_http__literal(c, h)) != 0) return async_http__host_unmade(c, h, rc);
    *async_http__host_slot(c, tls, proxy, name, name_len, port) = at + 1;
    async_http__host_made(c, at);
    *index = at;
    return 0;
}

int async_http_basic_auth(const char *credentials, size_t len, char *out, size_t cap) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = (const unsigned char *)credentials;
    size_t i, need = 6 + 4 * ((len + 2) / 3); /* base64, RFC 4648 */
    char *start = out;
    if (need >= cap || need > INT_MAX) return -1;
    memcpy(out, "Basic ", 6);
    out += 6;
    for (i = 0; i + 2 < len; i += 3, out += 4) {
        out[0] = digits[in[i] >> 2];
        out[1] = digits[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        out[2] = digits[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
        out[3] = digits[in[i + 2] & 63];
    }
    if (i < len) {
        out[0] = digits[in[i] >> 2];
        out[1] = digits[((in[i] & 3) << 4) | (i + 1 < len ? in[i + 1] >> 4 : 0)];
        out[2] = i + 1 < len ? digits[(in[i + 1] & 15) << 2] : '=';
        out[3] = '=';
        out += 4;
    }
    *out = 0;
    return (int)(out - start);
}

/* "Basic <base64 of user:password>" from a URL's userinfo, percent-decoded
   (aiohttp's BasicAuth.from_url): allocated, or NULL. */
static char *async_http__basic_auth(async_http_client *c, const char *info, size_t len) {
    unsigned char *plain = (unsigned char *)async_http__alloc(c, NULL, len + 2);
    char *out;
    size_t i, n = 0, size;
    if (!plain) return NULL;
    for (i = 0; i < len; i++) {
        int hi, lo;
        if (info[i] == '%' && i + 2 < len && (hi = async_http__hex((unsigned char)info[i + 1])) >= 0 &&
            (lo = async_http__hex((unsigned char)info[i + 2])) >= 0) {
            plain[n++] = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else {
            plain[n++] = (unsigned char)info[i];
        }
    }
    if (!memchr(info, ':', len)) plain[n++] = ':'; /* "user@": an empty password (RFC 7617 2) */
    size = 6 + 4 * ((n + 2) / 3) + 1;
    if ((out = (char *)async_http__alloc(c, NULL, size)) != NULL)
        async_http_basic_auth((const char *)plain, n, out, size);
    async_http__alloc(c, plain, 0);
    return out;
}

/* A URL taken apart: pointers into it, nothing copied. */
typedef struct async_http__url {
    int tls, bracketed;
    const char *host;     /* brackets of an IPv6 literal not included */
    size_t host_len;
    const char *userinfo; /* "user[:password]" before '@', or NULL */
    size_t userinfo_len;
    unsigned port;
    const char *path;     /* from its '/' or '?' up to the fragment; "/" if empty */
    size_t path_len;
    size_t authority;     /* where the authority starts (after "//") */
} async_http__url;

/* Why a URL is not one we can fetch, and where: for the request's detail. */
typedef struct async_http__url_error {
    const char *why;
    size_t at;
} async_http__url_error;

static int async_http__url_bad(async_http__url_error *e, const char *why, const char *u, const char *at) {
    e->why = why;
    e->at = (size_t)(at - u);
    return ASYNC_HTTP_EURL;
}

/* An IP address's 16 bytes (an IPv4 one as ::ffff:a.b.c.d, *bits 32) or 0
   when the text is none: URLs and no_proxy take addresses by this. */
static int async_http__ip_bytes(const char *s, size_t len, unsigned char ip[16], unsigned *bits) {
    char text[INET6_ADDRSTRLEN];
    if (!len || len >= sizeof text) return 0;
    memcpy(text, s, len);
    text[len] = '\0';
    if (inet_pton(AF_INET, text, ip + 12) == 1) {
        memset(ip, 0, 10);
        ip[10] = ip[11] = 0xff;
        *bits = 32;
        return 1;
    }
    *bits = 128;
    return inet_pton(AF_INET6, text, ip) == 1;
}

/* reg-name and IP literal characters (RFC 3986 3.2.2): unreserved, sub-delims ('%' is a
   zone's, in brackets: percent-encoded names are not taken). */
static int async_http__host_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=", c);
}

/* http[s]://[userinfo@]host[:port][/path][?query][#fragment], the scheme in any case. */
static int async_http__url_parse(const char *u, async_http__url *out, async_http__url_error *e) {
    const char *p, *auth, *auth_end, *host, *host_end, *at;
    unsigned long port;
    unsigned char v6[16];
    unsigned bits;
    memset(out, 0, sizeof *out);
    e->why = NULL;
    if (async_http__ieq(u, 8, "https://", 8)) out->tls = 1;
    else if (!async_http__ieq(u, 7, "http://", 7)) {
        const char *colon = strchr(u, ':');
        size_t n = colon ? (size_t)(colon - u) : 0;
        if (*u == ' ' || *u == '\t' || *u == '\n' || *u == '\r')
            return async_http__url_bad(e, "white space before the URL", u, u);
        if (colon && (async_http__ieq(u, n, "http", 4) || async_http__ieq(u, n, "https", 5)))
            return async_http__url_bad(e, "'//' missing after the scheme", u, colon + 1);
        if (colon && strncmp(colon, "://", 3) == 0) {
            e->why = "only http:// and https:// are supported";
            e->at = 0;
            return ASYNC_HTTP_ESCHEME;
        }
        if (async_http__ieq(u, 6, "http//", 6) || async_http__ieq(u, 7, "https//", 7))
            return async_http__url_bad(e, "':' missing after the scheme", u, u + strcspn(u, "/"));
        return async_http__url_bad(e, "no scheme (http:// or https://)", u, u);
    }
    auth = u + (out->tls ? 8 : 7);
    out->authority = (size_t)(auth - u);
    auth_end = auth + strcspn(auth, "/?#");
    /* userinfo: up to the last '@' of the authority */
    for (at = auth_end; at > auth && at[-1] != '@'; at--) {
    }
    if (at > auth) {
        out->userinfo = auth;
        out->userinfo_len = (size_t)(at - 1 - auth);
    }
    host = at;
    if (*host == '[') {
        host++;
        host_end = (const char *)memchr(host, ']', (size_t)(auth_end - host));
        if (!host_end) return async_http__url_bad(e, "'[' of an IPv6 literal never closed", u, host - 1);
        for (p = host; p < host_end && *p != '%'; p++) {
        }
        if (!async_http__ip_bytes(host, (size_t)(p - host), v6, &bits) || bits != 128)
            return async_http__url_bad(e, "invalid IPv6 literal", u, host); /* a name or IPv4 in brackets too */
        for (p++; p < host_end; p++) /* a zone after '%' */
            if (!async_http__host_char((unsigned char)*p) && *p != '%')
                return async_http__url_bad(e, "invalid character in an IPv6 literal", u, p);
        out->bracketed = 1;
        p = host_end + 1;
    } else {
        /* "::1:8080", "fe80::1": an IPv6 address (hex before a second ':'), not a port */
        const char *colon = (const char *)memchr(host, ':', (size_t)(auth_end - host));
        if (colon && memchr(colon + 1, ':', (size_t)(auth_end - colon - 1))) {
            for (p = host; p < colon && async_http__hex((unsigned char)*p) >= 0; p++) {
            }
            if (p == colon) return async_http__url_bad(e, "an IPv6 address goes in brackets (http://[::1]:8080/)", u, host);
        }
        for (host_end = host; host_end < auth_end && *host_end != ':'; host_end++)
            if (!async_http__host_char((unsigned char)*host_end))
                return async_http__url_bad(e, *host_end == ' '   ? "space in the host"
                                              : *host_end == '%' ? "'%' in the host (percent-encoded names are not taken)"
                                                                 : "invalid character in the host",
                                           u, host_end);
        p = host_end;
    }
    if (host_end == host) return async_http__url_bad(e, "no host", u, host);
    port = out->tls ? 443 : 80;
    if (p < auth_end && *p == ':') {
        const char *digits = ++p;
        unsigned long v = 0;
        for (; p < auth_end && *p >= '0' && *p <= '9'; p++)
            if ((v = v * 10 + (unsigned long)(*p - '0')) > 65535)
                return async_http__url_bad(e, "port out of range (1-65535)", u, digits);
        if (p < auth_end) return async_http__url_bad(e, "invalid port", u, p);
        if (p > digits) {
            if (v == 0) return async_http__url_bad(e, "port out of range (1-65535)", u, digits);
            port = v;
        }
    }
    if (p < auth_end) return async_http__url_bad(e, "unexpected character after the host", u, p);
    out->host = host;
    out->host_len = (size_t)(host_end - host);
    out->port = (unsigned)port;
    out->path = *auth_end == '/' || *auth_end == '?' ? auth_end : "/";
    out->path_len = *auth_end == '/' || *auth_end == '?' ? strcspn(auth_end, "#") : 1;
    /* What would split the request line, even in the fragment; and in the
       user:password, which response.url and the history show as given. */
    for (p = auth; *p; p++) {
        if (*p == ' ') return async_http__url_bad(e, "space in the URL (write it %20)", u, p);
        if ((unsigned char)*p < ' ' || *p == 0x7f) return async_http__url_bad(e, "control character in the URL", u, p);
    }
    return 0;
}

/* RFC 3986 5.2.4: remove_dot_segments on out[0, *len), in place. */
static void async_http__remove_dots(char *path, size_t *len) {
    char *in = path, *end = path + *len, *o = path;
    while (in < end) {
        size_t n = (size_t)(end - in);
        if (n >= 3 && !memcmp(in, "../", 3)) in += 3;
        else if (n >= 2 && !memcmp(in, "./", 2)) in += 2;
        else if ((n >= 3 && !memcmp(in, "/./", 3)) || (n == 2 && !memcmp(in, "/.", 2))) {
            in += 2;
            if (in == end) *--in = '/'; /* "/." at the end: "/" */
        } else if ((n >= 4 && !memcmp(in, "/../", 4)) || (n == 3 && !memcmp(in, "/..", 3))) {
            in += 3;
            if (in == end) *--in = '/';
            while (o > path && *--o != '/') {
            }
        } else if ((n == 1 && *in == '.') || (n == 2 && !memcmp(in, "..", 2))) {
            in = end;
        } else {
            do *o++ = *in++;
            while (in < end && *in != '/');
        }
    }
    *len = (size_t)(o - path);
}

/* A space or a byte past ASCII in s[0, len) as %XX (RFC 3986 2.1: upper
   case), the rest as it is: what a Location (or a URL) may hold that a
   request line may not (RFC 9112 3.2), made fit for it, as curl and yarl
   do. out: NULL to count; its length is returned (no NUL written). */
static size_t async_http__escape(char *out, const char *s, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    size_t i, n = 0;
    for (i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b == ' ' || b >= 0x80) {
            if (out) out[n] = '%', out[n + 1] = hex[b >> 4], out[n + 2] = hex[b & 15];
            n += 3;
        } else {
            if (out) out[n] = (char)b;
            n++;
        }
    }
    return n;
}

/* ref[0, n) is a scheme (RFC 3986 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )):
   a Location of "1.2.3.4:80/x", or of two backslashes and "h:1/x", is a
   relative path, as curl and yarl take it, not a URL of a scheme we lack. */
static int async_http__is_scheme(const char *ref, size_t n) {
    size_t i;
    if (!n || !(((unsigned char)ref[0] | 0x20) >= 'a' && ((unsigned char)ref[0] | 0x20) <= 'z')) return 0;
    for (i = 1; i < n; i++)
        if (!(((unsigned char)ref[i] | 0x20) >= 'a' && ((unsigned char)ref[i] | 0x20) <= 'z') &&
            !(ref[i] >= '0' && ref[i] <= '9') && !strchr("+-.", ref[i]))
            return 0;
    return 1;
}

/* What async_http__resolve_into writes at most, with its NUL. */
static size_t async_http__resolve_size(const char *base, const async_http__url *b, const char *ref) {
    return strlen(base) + b->path_len + strlen(ref) + 3;
}

/* The target of a redirect: ref (a Location value) resolved against base
   (RFC 3986 5.2) into out (async_http__resolve_size bytes). The fragment goes. */
static void async_http__resolve_into(char *out, const char *base, const async_http__url *b, const char *ref) {
    size_t rlen = strcspn(ref, "#"), origin = b->authority + strcspn(base + b->authority, "/?#");
    size_t bpath = b->path[0] == '?' ? 0 : strcspn(b->path, "?#"); /* the base's path, no query */
    size_t scheme = strcspn(ref, ":/?");
    char *t;
    size_t plen, total, kept;
    if (scheme < rlen && ref[scheme] == ':' && async_http__is_scheme(ref, scheme)) { /* absolute: as it is, but for dots */
        memcpy(out, ref, rlen);
        out[rlen] = 0;
        t = out + scheme + 1;
        if (t[0] == '/' && t[1] == '/') t += 2 + strcspn(t + 2, "/?");
    } else if (rlen >= 2 && ref[0] == '/' && ref[1] == '/') { /* network-path: the base's scheme */
        size_t n = b->authority - 2;
        memcpy(out, base, n);
        memcpy(out + n, ref, rlen);
        out[n + rlen] = 0;
        t = out + n + 2 + strcspn(out + n + 2, "/?"); /* out: ref without its fragment */
    } else {
        memcpy(out, base, origin);
        t = out + origin;
        if (rlen == 0) { /* the base itself */
            memcpy(t, b->path, b->path_len);
            t[b->path_len] = 0;
        } else if (ref[0] == '/') {
            memcpy(t, ref, rlen);
            t[rlen] = 0;
        } else if (ref[0] == '?') { /* the base's path, another query */
            if (!bpath) t[bpath++] = '/';
            else memcpy(t, b->path, bpath);
            memcpy(t + bpath, ref, rlen);
            t[bpath + rlen] = 0;
        } else { /* merge: the base's path up to its last '/', then ref */
            while (bpath > 0 && b->path[bpath - 1] != '/') bpath--;
            if (!bpath) t[bpath++] = '/';
            else memcpy(t, b->path, bpath);
            memcpy(t + bpath, ref, rlen);
            t[bpath + rlen] = 0;
        }
    }
    plen = strcspn(t, "?");
    total = strlen(t);
    kept = plen;
    async_http__remove_dots(t, &kept);
    memmove(t + kept, t + plen, total - plen + 1);
}

int async_http_url_resolve(const char *base, const char *ref, char *out, size_t cap) {
    async_http__url b;
    async_http__url_error e;
    int rc = async_http__url_parse(base, &b, &e);
    size_t need, rlen = strlen(ref), escaped = async_http__escape(NULL, ref, rlen);
    if (rc) return rc;
    if (escaped != rlen) { /* a space or a byte past ASCII: resolved as a redirect follows it */
        char *fit = (char *)malloc(escaped + 1);
        if (!fit) return ASYNC_HTTP_ENOMEM;
        async_http__escape(fit, ref, rlen);
        fit[escaped] = 0;
        rc = async_http_url_resolve(base, fit, out, cap);
        free(fit);
        return rc;
    }
    need = async_http__resolve_size(base, &b, ref);
    if (need > cap) {
        /* resolve into a scratch copy only when the caller's room may not do */
        char *tmp = (char *)malloc(need);
        size_t len;
        if (!tmp) return ASYNC_HTTP_ENOMEM;
        async_http__resolve_into(tmp, base, &b, ref);
        len = strlen(tmp);
        if (len >= cap) {
            free(tmp);
            return ASYNC_EINVAL;
        }
        memcpy(out, tmp, len + 1);
        free(tmp);
        return (int)len;
    }
    async_http__resolve_into(out, base, &b, ref);
    return (int)strlen(out);
}

/* The request no longer counts among its host's users. */
static void async_http__host_unbind(async_http_request *r) {
    if (!r->_host_bound || !r->_client->_hosts) return;
    r->_host_bound = 0;
    async_http__host_unuse(r->_client, r->_host);
}

/* The URL as it goes out: its path without "." and ".." segments (RFC 3986
   5.2.2 and 6.2.2.3: an absolute URL's dots go as a reference's do), a byte
   past ASCII in the path or query as %XX (RFC 9112 3.2), as a Location's
   are; curl and aiohttp send what they are given so. The usual URL needs
   neither and is left where it is (no allocation); one that does is made
   anew (response.url shows it), and u taken apart again. */
static int async_http__url_fit(async_http_request *r, async_http__url *u, async_http__url_error *e) {
    const char *url = r->_url, *path = url + u->authority + strcspn(url + u->authority, "/?#"), *seg;
    size_t plen = strcspn(path, "?#"), qlen = strcspn(path, "#"), head = (size_t)(path - url), epath, equery, rest;
    int dots = 0;
    char *fit;
    for (seg = path; seg < path + plen; seg++) /* a "." or ".." segment */
        if (*seg == '/' && seg[1] == '.' &&
            (seg + 2 == path + plen || seg[2] == '/' || (seg[2] == '.' && (seg + 3 == path + plen || seg[3] == '/'))))
            dots = 1;
    epath = async_http__escape(NULL, path, plen);
    equery = async_http__escape(NULL, path + plen, qlen - plen);
    if (!dots && epath == plen && equery == qlen - plen) return 0;
    rest = strlen(path + qlen); /* the fragment: never sent, kept as it came */
    if (!(fit = (char *)async_http__alloc(r->_client, NULL, head + epath + equery + rest + 1))) return ASYNC_HTTP_ENOMEM;
    memcpy(fit, url, head);
    async_http__escape(fit + head, path, plen);
    async_http__remove_dots(fit + head, &epath);
    async_http__escape(fit + head + epath, path + plen, qlen - plen);
    memcpy(fit + head + epath + equery, path + qlen, rest + 1);
    async_http__alloc(r->_client, r->_url_owned, 0); /* a redirect's target never needs this: defensive */
    r->_url = r->_url_owned = fit;
    return async_http__url_parse(r->_url, u, e); /* it parsed: it parses */
}

/* The request's current URL taken apart, its host looked up. */
static int async_http__parse_url(async_http_request *r) {
    async_http__url u;
    async_http__url_error e;
    size_t host;
    int rc = async_http__url_parse(r->_url, &u, &e);
    if (!rc && (rc = async_http__url_fit(r, &u, &e)) == ASYNC_HTTP_ENOMEM) return rc;
    if (rc) {
        r->error = rc;
        if (rc == ASYNC_HTTP_ESCHEME) async_http__set_detail(r, "%s", e.why);
        else async_http__set_detail(r, "%s at %lu", e.why, (unsigned long)e.at);
        return rc;
    }
#ifndef ASYNC_HTTP_TLS
    if (u.tls) {
        r->error = ASYNC_HTTP_ESCHEME;
        async_http__set_detail(r, "%s", "https needs TLS: build with -DASYNC_HTTP_TLS and link -lssl -lcrypto");
        return ASYNC_HTTP_ESCHEME;
    }
#endif
    r->_path = u.path;
    r->_path_len = u.path_len;
    async_http__alloc(r->_client, r->_basic, 0); /* a redirect's URL has its own, or none */
    r->_basic = NULL;
    if (u.userinfo && !(r->_basic = async_http__basic_auth(r->_client, u.userinfo, u.userinfo_len))) return ASYNC_HTTP_ENOMEM;
    if ((rc = async_http__host_lookup(r->_client, u.tls, u.host, u.host_len, u.port, u.bracketed, 0, &host)) != 0)
        return rc;
    async_http__host_use(r->_client, host); /* (before the last host is let go: it may be the same) */
    async_http__host_unbind(r);
    r->_host = host;
    r->_host_bound = 1;
    return 0;
}

// >>proxy
/* Which proxy a host goes through (config.proxy, or the environment's with
   trust_env), unless no_proxy names it. */

/* Whether an IP entry of no_proxy ("10.0.0.1", "::1", or a network in
   CIDR, "10.0.0.0/8", "fd00::/8", as curl 7.86) holds the address. */
static int async_http__no_proxy_ip(const unsigned char ip[16], unsigned bits, const char *e, size_t n) {
    const char *slash = (const char *)memchr(e, '/', n);
    unsigned char net[16];
    unsigned net_bits, prefix = bits, i;
    if (!async_http__ip_bytes(e, slash ? (size_t)(slash - e) : n, net, &net_bits) || net_bits != bits) return 0;
    if (slash) {
        unsigned long v = 0;
        const char *d = slash + 1;
        for (; d < e + n && *d >= '0' && *d <= '9' && v <= bits; d++) v = v * 10 + (unsigned long)(*d - '0');
        if (d == slash + 1 || d != e + n || v > bits) return 0;
        prefix = (unsigned)v;
    }
    prefix += 128 - bits; /* an IPv4 network's bits start after the mapping's 96 */
    for (i = 0; i < prefix / 8; i++)
        if (ip[i] != net[i]) return 0;
    return prefix % 8 == 0 || ((ip[i] ^ net[i]) & (0xff00u >> prefix % 8) & 0xffu) == 0;
}

/* Whether no_proxy names the host: "*", a name or its domain (".x.org" or
   "x.org" both match "a.x.org"; a trailing dot counts for nothing), an IP
   or a network of them (above; IPv6 with or without brackets), each with
   an optional ":port". */
static int async_http__no_proxy(const char *list, const char *name, size_t name_len, unsigned port) {
    const char *s = list, *e;
    size_t len;
    unsigned char ip[16];
    unsigned bits = 0; /* set when is_ip (gcc -O3 cannot tell) */
    int is_ip;
    if (name_len > 1 && name[name_len - 1] == '.') name_len--;
    is_ip = async_http__ip_bytes(name, name_len, ip, &bits); /* an IP has no domains to match */
    while (s && async_http__list_next(&s, list + strlen(list), &e, &len)) {
        const char *close = len && *e == '[' ? (const char *)memchr(e, ']', len) : NULL;
        const char *from = close ? close : e, *colon = (const char *)memchr(from, ':', len - (size_t)(from - e));
        size_t n = colon && (close || !memchr(colon + 1, ':', len - (size_t)(colon + 1 - e))) ? (size_t)(colon - e) : len;
        if (n < len && (unsigned)strtoul(e + n + 1, NULL, 10) != port) continue;
        if (close) e++, n = (size_t)(close - e); /* [::1] */
        if (n == 1 && *e == '*') return 1;
        if (n && *e == '.') e++, n--;
        if (n > 1 && e[n - 1] == '.') n--;
        if (!n) continue;
        if (is_ip) {
            if (async_http__no_proxy_ip(ip, bits, e, n)) return 1;
            continue;
        }
        if (async_http__ieq(name, name_len, e, n)) return 1;
        if (name_len > n && name[name_len - n - 1] == '.' && async_http__ieq(name + name_len - n, n, e, n)) return 1;
    }
    return 0;
}

static long async_http__proxy_for(async_http_client *c, int tls, const char *name, size_t name_len, unsigned port,
                                  int *err) {
    const char *proxy = c->_proxies[tls];
    async_http__url u;
    async_http__url_error e;
    size_t index;
    if (!proxy || (c->_no_proxy && async_http__no_proxy(c->_no_proxy, name, name_len, port))) return -1;
    async_http__url_parse(proxy, &u, &e); /* checked when the client was made */
    if ((*err = async_http__host_lookup(c, 0, u.host, u.host_len, u.port, u.bracketed, 1, &index)) != 0) return -2;
    return (long)index;
}

/* An environment variable by its lower-case name, or its upper-case one (if
   any). A lower-case one set empty says none (`http_proxy= prog`), as in
   Python's getproxies, whatever the upper-case one says. */
static const char *async_http__env(const char *lower, const char *upper) {
    const char *v = getenv(lower);
    if (v) return *v ? v : NULL;
    return upper && (v = getenv(upper)) && *v ? v : NULL;
}

/* The client's proxies, own copies, checked: 0 or ASYNC_HTTP_EURL. */
static int async_http__proxy_setup(async_http_client *c) {
    const char *http = c->config.proxy, *https = c->config.proxy, *none = c->config.no_proxy;
    int i, from_env = !c->config.proxy;
    if (!http && c->config.trust_env) {
        /* In a CGI program HTTP_PROXY is the client's own Proxy header
           (httpoxy): there only http_proxy counts, as in Python and curl. */
        http = async_http__env("http_proxy", getenv("REQUEST_METHOD") ? NULL : "HTTP_PROXY");
        https = async_http__env("https_proxy", "HTTPS_PROXY");
        if (!none) none = async_http__env("no_proxy", "NO_PROXY");
    }
    for (i = 0; i < 2; i++) {
        const char *url = i ? https : http;
        async_http__url u;
        async_http__url_error e;
        char **auth = i ? &c->_proxy_auth_tls : &c->_proxy_auth;
        const char *scheme;
        size_t len;
        if (!url) continue;
        /* "host:3128" without a scheme means http://, as curl and requests read it */
        scheme = strstr(url, "://") ? "" : "http://";
        len = strlen(scheme) + strlen(url) + 1;
        if (!(c->_proxies[i] = (char *)async_http__alloc(c, NULL, len))) return ASYNC_HTTP_ENOMEM;
        snprintf(c->_proxies[i], len, "%s%s", scheme, url);
        url = c->_proxies[i];
        if (async_http__url_parse(url, &u, &e) != 0 || u.tls) { /* an http:// proxy, or */
            if (!from_env) return ASYNC_HTTP_EURL;
            async_http__alloc(c, c->_proxies[i], 0); /* none: the environment's is not for us */
            c->_proxies[i] = NULL;
            continue;
        }
        if (u.userinfo && !(*auth = async_http__basic_auth(c, u.userinfo, u.userinfo_len))) return ASYNC_HTTP_ENOMEM;
    }
    if (none && !(c->_no_proxy = async_http__strndup(c, none, strlen(none)))) return ASYNC_HTTP_ENOMEM;
    return 0;
}

/* The host a request connects to: its own, or its proxy's. */
static size_t async_http__target(const async_http_client *c, size_t host) {
    return c->_hosts[host].via >= 0 ? (size_t)c->_hosts[host].via : host;
}

// >>stream
/* A stream's operations in flight, as bits of _pending: each is started
   once, and its outcome taken once. */
enum { ASYNC_STREAM__OPEN = 1, ASYNC_STREAM__SEND = 2, ASYNC_STREAM__RECV = 4 };
/* _state */
enum { ASYNC_STREAM__NEW, ASYNC_STREAM__CONNECTED, ASYNC_STREAM__HANDSHAKE, ASYNC_STREAM__TLS_OPEN };

void async_stream_init(async_stream *s, async_io *io, int fd) {
    memset(s, 0, sizeof *s);
    s->io = io;
    s->fd = fd;
    if (fd < 0) return;
    s->_state = ASYNC_STREAM__CONNECTED;
    async_io_tcp_tune(io, fd); /* a server's answers must not wait for the peer's delayed ACK either */
}

static async_io_op *async_stream__op(async_stream *s, unsigned which) {
    return which == ASYNC_STREAM__OPEN ? &s->_open_op : which == ASYNC_STREAM__SEND ? &s->_send_op : &s->_recv_op;
}

static async_future *async_stream__started(async_stream *s, unsigned which, async_future *f) {
    s->_pending |= which;
    return f;
}

/* The outcome of an operation that is done: its result, or its error. */
static long async_stream__take(async_stream *s, unsigned which) {
    async_io_op *op = async_stream__op(s, which);
    s->_pending &= ~which;
    return async_error(&op->future) ? (long)async_error(&op->future) : (long)async_result(&op->future);
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static void async_stream__detail(async_stream *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->_detail, sizeof s->_detail, fmt, ap);
    va_end(ap);
}

async_future *async_stream_connect(async_stream *s, const struct sockaddr *addr, socklen_t len, int *err) {
    long res;
    if (!(s->_pending & ASYNC_STREAM__OPEN)) {
        if (len > sizeof s->_addr) {
            *err = ASYNC_EINVAL;
            return NULL;
        }
        memcpy(&s->_addr, addr, len);
        s->_addrlen = len;
        return async_stream__started(s, ASYNC_STREAM__OPEN,
                                     async_io_socket(s->io, &s->_open_op, s->_addr.ss_family,
                                                     SOCK_STREAM | SOCK_CLOEXEC, 0));
    }
    res = async_stream__take(s, ASYNC_STREAM__OPEN);
    if (res < 0) {
        *err = (int)res;
        return NULL;
    }
    if (s->_open_op.kind == ASYNC_IO_CONNECT) {
        s->_state = ASYNC_STREAM__CONNECTED;
        return NULL;
    }
    s->fd = (int)res;
    async_io_tcp_tune(s->io, s->fd);
    return async_stream__started(s, ASYNC_STREAM__OPEN,
                                 async_io_connect(s->io, &s->_open_op, s->fd, (struct sockaddr *)&s->_addr,
                                                  s->_addrlen));
}

/* Plain TCP: the socket's own bytes. */
/* A finished send, taken; after a trusted unseen watch, the first one's end is noted. */
static long async_stream__take_send(async_stream *s) {
    long res = async_stream__take(s, ASYNC_STREAM__SEND);
    if (s->_unseen && !s->_sent_ended) s->_sent_ended = s->_send_op._ended;
    return res;
}

static async_future *async_stream__tcp_send(async_stream *s, const void *buf, size_t len, size_t *sent, int *err) {
    if (s->_pending & ASYNC_STREAM__SEND) {
        long res = async_stream__take_send(s);
        if (res < 0) {
            *err = (int)res;
            return NULL;
        }
        *sent += (size_t)res;
    }
    if (*sent >= len) return NULL; /* (more than len: a caller's counter gone wrong; never a send past buf) */
    return async_stream__started(s, ASYNC_STREAM__SEND,
                                 async_io_send(s->io, &s->_send_op, s->fd, (const char *)buf + *sent, len - *sent, 0));
}

/* After an unseen watch was trusted: its receive ended before the send that
   followed it (or with it still going), so its bytes were there before the
   request: not an answer to it. (No send at all: a server's read.) */
static int async_stream__stray(async_stream *s) {
    uint32_t ended = s->_recv_op._ended, sent = s->_sent_ended;
    s->_unseen = 0;
    if (!sent && (s->_pending & ASYNC_STREAM__SEND))
        sent = async_done(&s->_send_op.future) ? s->_send_op._ended : ended + 1;
    return sent && (int32_t)(ended - sent) < 0;
}

/* Bytes a stray receive brought: not the request's answer (the client retries it). */
static void async_stream__not_the_answer(async_stream *s, int *err) {
    async_stream__detail(s, "%s", "bytes came before the request was sent");
    *err = -EPROTO;
}

static async_future *async_stream__tcp_recv(async_stream *s, void *buf, size_t cap, size_t *n, int *err) {
    long res;
    async_stream_recv_start(s, buf, cap);
    if (!async_done(&s->_recv_op.future)) return &s->_recv_op.future;
    if (s->_unseen && async_stream__stray(s) && async_result(&s->_recv_op.future) > 0) {
        async_stream__take(s, ASYNC_STREAM__RECV);
        async_stream__not_the_answer(s, err);
        return NULL;
    }
    res = async_stream__take(s, ASYNC_STREAM__RECV);
    if (res < 0) *err = (int)res;
    else *n = (size_t)res;
    return NULL;
}

async_future *async_stream_settle(async_stream *s) {
    static const unsigned ops[] = {ASYNC_STREAM__OPEN, ASYNC_STREAM__SEND, ASYNC_STREAM__RECV};
    size_t i;
    for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        async_io_op *op = async_stream__op(s, ops[i]);
        long res;
        if (!(s->_pending & ops[i])) continue;
        if (!async_done(&op->future)) {
            async_io__op_hold(op); /* awaited now, even a watch's */
            async_future_cancel(&op->future);
            return &op->future;
        }
        /* A socket made by a connect that was cancelled meanwhile is kept, so that it is closed. */
        res = async_stream__take(s, ops[i]);
        if (op->kind == ASYNC_IO_SOCKET && res >= 0) s->fd = (int)res;
        if (s->_ssl && ops[i] == ASYNC_STREAM__SEND && res >= 0) {
            /* Ciphertext (a key update's answer that a read wrote, say): what
               went out is counted, the rest stays queued for the next flush,
               and the records stay whole. */
            free(s->_cout_held);
            s->_cout_held = NULL;
            s->_cout_off += (size_t)res;
            if (s->_cout_off == s->_cout_len) s->_cout_off = s->_cout_len = 0;
            continue;
        }
        /* A transfer cut short puts the stream off; one withdrawn before
           it moved a byte (a watch's receive) leaves it as it was. */
        if (ops[i] != ASYNC_STREAM__OPEN && res != ASYNC_ECANCELED) s->_failed = 1;
    }
    return NULL;
}

/* A watch still waiting: 1 if its silence may be trusted, 0 if the socket
   must be asked; -1 if it ended (bytes, the end, an error: not clean), seen
   by the loop or not yet, or the stream is not idle. */
static int async_stream__watch_says(async_stream *s, int ask) {
    if (s->_pending != ASYNC_STREAM__RECV) return s->_pending ? -1 : 0;
    if (async_done(&s->_recv_op.future) || s->io->_backend->ended_unseen(s->io, &s->_recv_op)) return -1;
    if (ask || async_loop_time(s->io->loop) - s->io->_polled >= ASYNC_STREAM_FRESH) return 0;
    if (s->io->_polls != s->_watched_at) return 1;
    /* A poll from before the watch began says nothing of bytes right behind
       the response. Where the watch's receive goes to the kernel with the
       next request, before it, such bytes end it first: the take finds them
       out (async_stream__tcp_recv; TLS: async_tls__fill_take), and no peek
       is needed. Else a peek. */
    if (!s->io->_backend->in_order) return 0;
    s->_unseen = 1, s->_sent_ended = 0;
    return 1;
}

/* A peek finds nothing, and the watch's receive (if any) has not taken
   something the loop has yet to see: looked at after the peek, whose own
   return to user space may run that receive. */
static int async_stream__peek_clean(async_stream *s) {
    return async_io_idle_clean(s->io, s->fd) &&
           !((s->_pending & ASYNC_STREAM__RECV) && s->io->_backend->ended_unseen(s->io, &s->_recv_op));
}

int async_stream_is_open(const async_stream *s) {
    return s->fd >= 0 && (s->_ssl ? s->_state == ASYNC_STREAM__TLS_OPEN : s->_state == ASYNC_STREAM__CONNECTED);
}

int async_stream_unclean_eof(const async_stream *s) { return s->_unclean; }
const char *async_stream_detail(const async_stream *s) { return s->_detail; }

// >>tls
#ifdef ASYNC_HTTP_TLS
/* OpenSSL never touches the socket: it reads ciphertext from _cin and
   writes it to _cout through a BIO of ours, and the stream moves those
   bytes with the backend's own send and recv. So TLS keeps the loop's
   batching, timeouts and cancellation, and nothing in it ever blocks. */

static BIO_METHOD *async_tls__bio_method;

/* A call whose failure we read needs OpenSSL's error queue empty. It
   nearly always is: looking costs 13 ns, clearing 87 (it walks all 16
   slots), and an https request makes three such calls. */
static void async_tls__clear_errors(void) {
    if (ERR_peek_error()) ERR_clear_error();
}

static int async_tls__bio_write(BIO *b, const char *data, int len) {
    async_stream *s = (async_stream *)BIO_get_data(b);
    size_t need = s->_cout_len + (size_t)len;
    if (need > s->_cout_cap) {
        size_t cap = s->_cout_cap ? s->_cout_cap * 2 : 16384;
        char *grown;
        while (cap < need) cap *= 2;
        if ((s->_pending & ASYNC_STREAM__SEND) && !s->_cout_held) {
            /* A send in flight reads the old buffer (a receive of another
               task's wrote here, an alert or a key update): it stays until
               that send ends. */
            if (!(grown = (char *)malloc(cap))) return -1;
            memcpy(grown, s->_cout, s->_cout_len);
            s->_cout_held = s->_cout;
        } else if (!(grown = (char *)realloc(s->_cout, cap))) {
            return -1;
        }
        s->_cout = grown;
        s->_cout_cap = cap;
    }
    memcpy(s->_cout + s->_cout_len, data, (size_t)len);
    s->_cout_len += (size_t)len;
    return len;
}

static int async_tls__bio_read(BIO *b, char *out, int len) {
    async_stream *s = (async_stream *)BIO_get_data(b);
    size_t avail = s->_cin_len - s->_cin_off, n = (size_t)len < avail ? (size_t)len : avail;
    BIO_clear_retry_flags(b);
    if (!n) {
        if (s->_eof) return 0;
        BIO_set_retry_read(b); /* more comes with the next receive */
        return -1;
    }
    memcpy(out, s->_cin + s->_cin_off, n);
    s->_cin_off += n;
    return (int)n;
}

static long async_tls__bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int async_tls__bio_create(BIO *b) {
    BIO_set_init(b, 1);
    return 1;
}

static void async_tls__make_bio_method(void) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "async_stream");
    if (!m) return;
    BIO_meth_set_write(m, async_tls__bio_write);
    BIO_meth_set_read(m, async_tls__bio_read);
    BIO_meth_set_ctrl(m, async_tls__bio_ctrl);
    BIO_meth_set_create(m, async_tls__bio_create);
    async_tls__bio_method = m;
}

/* A client keeps the newest session of a host for the next connection. */
static int async_tls__new_session(SSL *ssl, SSL_SESSION *session) {
    async_stream *s = (async_stream *)SSL_get_app_data(ssl);
    if (!s || !s->_session) return 0;
    if (*s->_session) SSL_SESSION_free((SSL_SESSION *)*s->_session);
    *s->_session = session;
    return 1; /* the reference is ours now */
}

static int async_tls__select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                                  unsigned inlen, void *arg) {
    static const unsigned char http11[] = "\x08http/1.1";
    (void)ssl, (void)arg;
    return SSL_select_next_proto((unsigned char **)(uintptr_t)out, outlen, http11, sizeof http11 - 1, in, inlen) ==
                   OPENSSL_NPN_NEGOTIATED
               ? SSL_TLSEXT_ERR_OK
               : SSL_TLSEXT_ERR_NOACK;
}

/* OpenSSL's last reason, in words; a system call's errno, when one is
   queued, before it (what "system lib" stands for: a file not there).
   Takes the queue. */
static const char *async_tls__reason(void) {
    unsigned long e, last = 0;
    int sys = 0;
    const char *why;
    while ((e = ERR_get_error()) != 0) {
        if (ERR_GET_LIB(e) == ERR_LIB_SYS && ERR_GET_REASON(e) > 0) sys = ERR_GET_REASON(e);
        last = e;
    }
    if (sys) return strerror(sys);
    why = last ? ERR_reason_error_string(last) : NULL;
    return why ? why : "unknown reason";
}

int async_tls_init(async_tls *tls, const async_tls_config *cfg) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    async_tls_config none;
    SSL_CTX *ctx;
    memset(tls, 0, sizeof *tls);
    if (!cfg) {
        memset(&none, 0, sizeof none);
        cfg = &none;
    }
    pthread_once(&once, async_tls__make_bio_method);
    async_tls__clear_errors();
    tls->_server = cfg->cert_file != NULL;
    ctx = SSL_CTX_new(tls->_server ? TLS_server_method() : TLS_client_method());
    if (!ctx || !async_tls__bio_method) {
        snprintf(tls->error, sizeof tls->error, "no context: %s", async_tls__reason());
        SSL_CTX_free(ctx);
        return ASYNC_HTTP_ETLS;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* an idle connection keeps no record buffers */
    if (tls->_server) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file ? cfg->key_file : cfg->cert_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(tls->error, sizeof tls->error, "the certificate %s or its key: %s", cfg->cert_file,
                     async_tls__reason());
            SSL_CTX_free(ctx);
            return ASYNC_HTTP_ETLS;
        }
        SSL_CTX_set_alpn_select_cb(ctx, async_tls__select_alpn, NULL);
    } else {
        int loaded = cfg->ca_file || cfg->ca_path ? SSL_CTX_load_verify_locations(ctx, cfg->ca_file, cfg->ca_path)
                                                  : SSL_CTX_set_default_verify_paths(ctx);
        if (loaded != 1) {
            snprintf(tls->error, sizeof tls->error, "cannot load the trusted certificates %s%s%s%s: %s",
                     cfg->ca_file ? cfg->ca_file : "", cfg->ca_file && cfg->ca_path ? ", " : "",
                     cfg->ca_path ? cfg->ca_path : "", cfg->ca_file || cfg->ca_path ? "" : "(the system's)",
                     async_tls__reason());
            SSL_CTX_free(ctx);
            return ASYNC_HTTP_ETLS;
        }
        SSL_CTX_set_verify(ctx, cfg->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, async_tls__new_session);
    }
    tls->_ctx = ctx;
    return 0;
}

void async_tls_free(async_tls *tls) {
    SSL_CTX_free(tls->_ctx);
    tls->_ctx = NULL;
}

void async_tls_session_free(void *session) { SSL_SESSION_free((SSL_SESSION *)session); }

static int async_tls__start(async_stream *s, async_tls *tls) {
    BIO *bio;
    async_tls__clear_errors();
    if (!tls->_ctx || !(s->_ssl = SSL_new(tls->_ctx)) || !(bio = BIO_new(async_tls__bio_method))) {
        async_stream__detail(s, "%s", tls->_ctx ? async_tls__reason() : "no TLS context");
        SSL_free(s->_ssl);
        s->_ssl = NULL;
        return ASYNC_HTTP_ETLS;
    }
    BIO_set_data(bio, s);
    SSL_set_bio(s->_ssl, bio, bio);
    SSL_set_app_data(s->_ssl, s);
    s->_cin_cap = 65536; /* a few records per receive */
    if (!(s->_cin = (char *)malloc(s->_cin_cap))) return ASYNC_HTTP_ENOMEM;
    s->_state = ASYNC_STREAM__HANDSHAKE;
    return 0;
}

int async_stream_tls_client(async_stream *s, async_tls *tls, const char *host, void **session) {
    unsigned char v6[16];
    char name[256];
    size_t len = strlen(host), zone = strcspn(host, "%");
    int rc = async_tls__start(s, tls), ip;
    if (rc) return rc;
    if (host[zone] && zone < sizeof name) { /* an IPv6 zone is not the certificate's business */
        memcpy(name, host, zone);
        name[zone] = 0;
        if (inet_pton(AF_INET6, name, v6) == 1) len = zone; /* (a '%' in a name is the name's) */
    }
    if (len > 1 && host[len - 1] == '.') len--; /* nor the root's dot: not in SNI (RFC 6066 3), nor in certificates */
    if (host[len] && len < sizeof name) host = (const char *)memcpy(name, host, len), name[len] = 0;
    ip = inet_pton(AF_INET, host, v6) == 1 || inet_pton(AF_INET6, host, v6) == 1;
    SSL_set_connect_state(s->_ssl);
    SSL_set_alpn_protos(s->_ssl, (const unsigned char *)"\x08http/1.1", 9);
    /* SNI for names only (RFC 6066); the name or the address checked either way. */
    if (!ip) SSL_set_tlsext_host_name(s->_ssl, host);
    if (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->_ssl), host) != 1 : SSL_set1_host(s->_ssl, host) != 1) {
        async_stream__detail(s, "cannot check the name %s", host);
        return ASYNC_HTTP_ETLS;
    }
    s->_session = session;
    if (session && *session) SSL_set_session(s->_ssl, (SSL_SESSION *)*session);
    return 0;
}

int async_stream_tls_server(async_stream *s, async_tls *tls) {
    int rc = async_tls__start(s, tls);
    if (rc == 0) SSL_set_accept_state(s->_ssl);
    return rc;
}

/* What TLS still has to say, now, best effort (one non-blocking send, no
   send of the stream's in flight): what went out is counted, the rest
   stays queued, records whole. */
static void async_tls__flush_now(async_stream *s) {
    long sent;
    if (s->_cout_len == s->_cout_off || (s->_pending & ASYNC_STREAM__SEND)) return;
    sent = async_io_send_nowait(s->io, s->fd, s->_cout + s->_cout_off, s->_cout_len - s->_cout_off);
    if (sent > 0 && (s->_cout_off += (size_t)sent) == s->_cout_len) s->_cout_off = s->_cout_len = 0;
}

/* The ciphertext SSL wrote, onto the socket. NULL once it is all sent. */
static async_future *async_tls__flush(async_stream *s, int *err) {
    if (s->_pending & ASYNC_STREAM__SEND) {
        long res;
        if (!async_done(&s->_send_op.future)) return &s->_send_op.future;
        free(s->_cout_held);
        s->_cout_held = NULL;
        if ((res = async_stream__take_send(s)) < 0) {
            *err = (int)res;
            return NULL;
        }
        s->_cout_off += (size_t)res;
    }
    if (s->_cout_off == s->_cout_len) {
        s->_cout_off = s->_cout_len = 0;
        return NULL;
    }
    if (s->_cout_off) { /* what a short send left, to the start: pieces added after it do not grow the buffer */
        memmove(s->_cout, s->_cout + s->_cout_off, s->_cout_len - s->_cout_off);
        s->_cout_len -= s->_cout_off;
        s->_cout_off = 0;
    }
    return async_stream__started(s, ASYNC_STREAM__SEND,
                                 async_io_send(s->io, &s->_send_op, s->fd, s->_cout + s->_cout_off,
                                               s->_cout_len - s->_cout_off, 0));
}

/* What _cin holds and OpenSSL has not read, moved to its start: the room
   after it takes the next receive. */
static void async_tls__cin_compact(async_stream *s) {
    if (!s->_cin_off) return;
    memmove(s->_cin, s->_cin + s->_cin_off, s->_cin_len - s->_cin_off);
    s->_cin_len -= s->_cin_off;
    s->_cin_off = 0;
}

/* One non-blocking receive of ciphertext into _cin's room: its result
   (-EAGAIN: nothing there; 0: the end, or no room left). */
static long async_tls__cin_recv_now(async_stream *s) {
    long got;
    async_tls__cin_compact(s);
    if (s->_cin_len == s->_cin_cap) return 0;
    got = async_io_recv_nowait(s->io, s->fd, s->_cin + s->_cin_len, s->_cin_cap - s->_cin_len);
    if (got > 0) s->_cin_len += (size_t)got;
    return got;
}

/* One receive of ciphertext after what _cin holds (moved to its start). */
static void async_tls__fill_start(async_stream *s) {
    if ((s->_pending & ASYNC_STREAM__RECV) || s->_eof) return;
    async_tls__cin_compact(s);
    async_stream__started(s, ASYNC_STREAM__RECV,
                          async_io_recv(s->io, &s->_recv_op, s->fd, s->_cin + s->_cin_len, s->_cin_cap - s->_cin_len,
                                        0));
}

/* The ciphertext in hand holds TLS's own messages only (tickets, taken
   now), in whole records: no data, no alert, nothing cut short. */
static int async_tls__own_only(async_stream *s) {
    char byte;
    int rc;
    async_tls__clear_errors();
    rc = SSL_peek(s->_ssl, &byte, 1);
    return rc <= 0 && SSL_get_error(s->_ssl, rc) == SSL_ERROR_WANT_READ && !SSL_in_init(s->_ssl) &&
           !SSL_has_pending(s->_ssl);
}

/* Take a finished receive of ciphertext; the future if it still runs. */
static async_future *async_tls__fill_take(async_stream *s, int *err) {
    long res;
    int before;
    if (!(s->_pending & ASYNC_STREAM__RECV)) return NULL;
    if (!async_done(&s->_recv_op.future)) return &s->_recv_op.future;
    before = s->_unseen && async_stream__stray(s);
    if ((res = async_stream__take(s, ASYNC_STREAM__RECV)) < 0) {
        *err = (int)res;
    } else if (res == 0) {
        s->_eof = 1;
    } else {
        s->_cin_len += (size_t)res;
        /* A trusted watch's bytes, there before the request: tickets are
           taken (the request goes on), anything else is not its answer. */
        if (before && !async_tls__own_only(s)) async_stream__not_the_answer(s, err);
    }
    return NULL;
}

/* Why a TLS call failed, as a code and the stream's detail. */
static int async_tls__failure(async_stream *s, int handshake) {
    long v = SSL_get_verify_result(s->_ssl);
    unsigned long e = ERR_peek_last_error();
    s->_failed = 1;
    /* Not verified (insecure): OpenSSL still notes what it found, not the cause. */
    if (handshake && v != X509_V_OK && SSL_get_verify_mode(s->_ssl) != SSL_VERIFY_NONE) {
        async_stream__detail(s, "%s", X509_verify_cert_error_string(v));
        return v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH ? ASYNC_HTTP_ETLS_NAME
                                                                                       : ASYNC_HTTP_ETLS_CERT;
    }
    if (!e && s->_eof) {
        async_stream__detail(s, "%s", "the peer closed the connection");
    } else if (!e && SSL_get_shutdown(s->_ssl) & SSL_RECEIVED_SHUTDOWN) {
        async_stream__detail(s, "%s", "the peer ended the TLS session (close_notify)");
    } else if (handshake && ERR_GET_LIB(e) == ERR_LIB_SSL && /* (past it, the peer does speak TLS) */
               (ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER || ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST ||
                ERR_GET_REASON(e) == SSL_R_PACKET_LENGTH_TOO_LONG)) {
        async_stream__detail(s, "%s (does the peer speak plain HTTP on this port?)", async_tls__reason());
    } else {
        async_stream__detail(s, "%s", async_tls__reason());
    }
    return handshake ? ASYNC_HTTP_ETLS_HANDSHAKE : ASYNC_HTTP_ETLS;
}

async_future *async_stream_handshake(async_stream *s, int *err) {
    async_future *f;
    int rc;
    if (!s->_ssl || s->_state != ASYNC_STREAM__HANDSHAKE) return NULL;
    for (;;) {
        if ((f = async_tls__flush(s, err)) != NULL || *err) return f;
        if ((f = async_tls__fill_take(s, err)) != NULL || *err) return f;
        async_tls__clear_errors();
        rc = SSL_do_handshake(s->_ssl);
        if (rc == 1) {
            /* The last flight (a client's Finished, a server's tickets) goes out
               with the first send or before the first wait for input: one
               packet and one syscall fewer per connection. */
            s->_state = ASYNC_STREAM__TLS_OPEN;
            return NULL;
        }
        if (SSL_get_error(s->_ssl, rc) != SSL_ERROR_WANT_READ || s->_eof) {
            /* The reason first: another SSL call (to flush the alert it
               wrote, best effort) would clear it. */
            *err = async_tls__failure(s, 1);
            async_tls__flush_now(s);
            return NULL;
        }
        if (s->_cout_len) continue; /* what it wrote goes out before we wait */
        async_tls__fill_start(s);
    }
}

#define ASYNC_TLS__PIECE 65536

static async_future *async_tls__send(async_stream *s, const void *buf, size_t len, size_t *sent, int *err) {
    for (;;) {
        async_future *f;
        /* The BIO never refuses, so a piece at a time, the next once the last
           is nearly out: a big upload is not all ciphertext at once (in a
           buffer the pooled connection would keep). */
        if (*sent < len && s->_cout_len - s->_cout_off < ASYNC_TLS__PIECE) {
            size_t n = len - *sent < ASYNC_TLS__PIECE ? len - *sent : ASYNC_TLS__PIECE;
            int rc;
            async_tls__clear_errors();
            rc = SSL_write(s->_ssl, (const char *)buf + *sent, (int)n);
            if (rc <= 0 && SSL_get_error(s->_ssl, rc) == SSL_ERROR_WANT_READ && SSL_in_init(s->_ssl)) {
                /* A renegotiation the server began (TLS 1.2), which a read
                   met while the request went out: not taken up then. */
                s->_failed = 1;
                async_stream__detail(s, "%s", "the server began a renegotiation while the request went out");
                *err = ASYNC_HTTP_ETLS;
                return NULL;
            }
            if (rc <= 0) {
                *err = async_tls__failure(s, 0);
                return NULL;
            }
            *sent += (size_t)rc;
            s->_idle_taken = 0; /* a request: the idle time ended */
        }
        if ((f = async_tls__flush(s, err)) != NULL || *err || *sent >= len) return f;
    }
}

static async_future *async_tls__recv(async_stream *s, void *buf, size_t cap, size_t *n, int *err) {
    async_future *f;
    for (;;) {
        int rc, e;
        if ((f = async_tls__fill_take(s, err)) != NULL || *err) return f;
        async_tls__clear_errors();
        rc = SSL_read(s->_ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
        if (rc > 0) {
            *n = (size_t)rc;
            return NULL;
        }
        e = SSL_get_error(s->_ssl, rc);
        if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify */
            *n = 0;
            return NULL;
        }
        if (e == SSL_ERROR_WANT_READ && !s->_eof) {
            /* Something to answer (a key update) goes out, but a receive
               never waits for a send: another task's may be stuck until we
               read. A send in flight takes these bytes along; one that ended
               (our last flight, which nobody else takes) is taken here, or a
               renegotiation's second flight would never go out. */
            if (!(s->_pending & ASYNC_STREAM__SEND) || async_done(&s->_send_op.future)) {
                async_tls__flush(s, err);
            } else if (s->_cout_len - s->_cout_off > 4 * ASYNC_TLS__PIECE) { /* (a send queues 2 itself) */
                /* The peer makes us answer (key updates) and reads none of
                   it: its answers would pile up for as long as it likes. */
                s->_failed = 1;
                async_stream__detail(s, "%s", "the peer does not read what TLS must answer it");
                *err = ASYNC_HTTP_ETLS;
            }
            if (*err) return NULL;
            async_tls__fill_start(s);
            continue;
        }
        if (s->_eof && (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_SYSCALL ||
                        ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
            s->_unclean = 1; /* the end, but not one the peer vouched for */
            *n = 0;
            return NULL;
        }
        *err = async_tls__failure(s, 0);
        /* The alert OpenSSL wrote (bad_record_mac, say) goes out, behind
           what a send that ended left (RFC 8446 5.2: the peer is told). */
        if ((s->_pending & ASYNC_STREAM__SEND) && async_done(&s->_send_op.future)) {
            long res = async_stream__take_send(s);
            free(s->_cout_held);
            s->_cout_held = NULL;
            if (res < 0) return NULL;
            s->_cout_off += (size_t)res;
        }
        async_tls__flush_now(s);
        return NULL;
    }
}

/* The most idle checks take between two sends of data: about a thousand tickets of 255 bytes. */
#define ASYNC_TLS__IDLE_TAKE_MAX (256 * 1024)

/* Bytes that came while idle may be only TLS's own (a session ticket): let
   OpenSSL read them; anything else (data, an alert, the end) is not clean.
   A watched stream's receive brought them (or still waits: nothing came);
   else one non-blocking receive looks. An answer a receive sent (to a key
   update) is taken first if it went out, as nobody waited for it. */
static int async_tls__idle_clean(async_stream *s, int ask) {
    char byte;
    int rc, err = 0, says, watched = 0;
    if ((s->_pending & ASYNC_STREAM__SEND) && (async_tls__flush(s, &err) || err)) return 0;
    if (SSL_in_init(s->_ssl)) return 0; /* a renegotiation the server began: a write now wants to read */
    says = async_stream__watch_says(s, ask);
    if (says < 0 && s->_pending == ASYNC_STREAM__RECV) { /* the watch ended: what came? */
        if (async_tls__fill_take(s, &err)) return 0; /* not seen by the loop yet: nothing to look at */
        if (err || s->_eof) return 0;
        watched = 1;
    } else if (says < 0) {
        return 0;
    } else if (s->_pending) { /* watched, and nothing came since: unless the socket says otherwise */
        if (!says && !async_stream__peek_clean(s)) return 0;
        /* What came before the watch (a ticket after the response's end) is looked at below. */
    } else {
        long got;
        if (s->_eof || (got = async_tls__cin_recv_now(s)) == 0 || (got < 0 && got != -EAGAIN)) return 0;
    }
    /* All _cin holds came since the last check (one that passed left it empty). */
    s->_idle_taken += s->_cin_len - s->_cin_off;
    if (s->_cin_len == s->_cin_off && !SSL_has_pending(s->_ssl)) return 1;
    async_tls__clear_errors();
    /* A peek: TLS's own messages (tickets, key updates) are taken, data
       stays for the stream's next read (a server watching an idle client
       reads the request after). What it wrote (a key update's answer) goes
       out before the next bytes sent. */
    for (;;) {
        long got;
        rc = SSL_peek(s->_ssl, &byte, 1);
        if (rc > 0 || SSL_get_error(s->_ssl, rc) != SSL_ERROR_WANT_READ || SSL_in_init(s->_ssl)) return 0;
        /* A peer whose tickets never stop is given up: counted in bytes
           over the whole idle time, as each wake of the watch is a check
           of its own and a look takes whatever came since the last one. */
        if (s->_idle_taken > ASYNC_TLS__IDLE_TAKE_MAX) return 0;
        /* The watch caught TLS's own messages only (tickets): what it did
           not catch, a segment behind them, is still in the socket, and is
           looked at too (more tickets keep the connection). A record cut
           short (pending) may be data. */
        if (!watched) return !SSL_has_pending(s->_ssl);
        if ((got = async_tls__cin_recv_now(s)) == -EAGAIN) return !SSL_has_pending(s->_ssl);
        if (got <= 0) return 0;
        s->_idle_taken += (size_t)got;
        async_tls__clear_errors();
    }
}

int async_stream_tls_resumed(const async_stream *s) { return s->_ssl && SSL_session_reused(s->_ssl); }

size_t async_stream_tls_info(const async_stream *s, char *out, size_t cap) {
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    char subject[128] = "";
    X509 *peer;
    int n;
    if (!s->_ssl || !cap) return 0;
    SSL_get0_alpn_selected(s->_ssl, &alpn, &alpn_len);
    if ((peer = SSL_get1_peer_certificate(s->_ssl)) != NULL) {
        X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof subject);
        X509_free(peer);
    }
    n = snprintf(out, cap, "%s %s, ALPN %.*s, %s%s%s", SSL_get_version(s->_ssl), SSL_get_cipher_name(s->_ssl),
                 alpn_len ? (int)alpn_len : 4, alpn_len ? (const char *)alpn : "none", subject[0] ? "subject " : "",
                 subject, SSL_session_reused(s->_ssl) ? " (resumed)" : "");
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* close_notify, if the stream ran cleanly: one non-blocking send, best
   effort, after whatever TLS still had to say (records are numbered: none
   may be skipped). */
static void async_tls__close(async_stream *s) {
    if (s->_state == ASYNC_STREAM__TLS_OPEN && !s->_failed && !s->_pending && s->fd >= 0) {
        async_tls__clear_errors();
        if (SSL_shutdown(s->_ssl) >= 0) async_tls__flush_now(s);
    }
    SSL_free(s->_ssl);
    s->_ssl = NULL;
    free(s->_cin);
    free(s->_cout);
    free(s->_cout_held);
    s->_cin = s->_cout = s->_cout_held = NULL;
    s->_cin_cap = s->_cin_len = s->_cin_off = s->_cout_cap = s->_cout_len = s->_cout_off = 0;
}
#else
/* Without ASYNC_HTTP_TLS, a stream is plain TCP and TLS calls say how to get it. */
static const char async_tls__absent[] = "TLS is not built in: define ASYNC_HTTP_TLS and link -lssl -lcrypto";

int async_tls_init(async_tls *tls, const async_tls_config *config) {
    (void)config;
    memset(tls, 0, sizeof *tls);
    snprintf(tls->error, sizeof tls->error, "%s", async_tls__absent);
    return ASYNC_HTTP_ETLS;
}
void async_tls_free(async_tls *tls) { (void)tls; }
void async_tls_session_free(void *session) { (void)session; }
int async_stream_tls_client(async_stream *s, async_tls *tls, const char *host, void **session) {
    (void)tls, (void)host, (void)session;
    async_stream__detail(s, "%s", async_tls__absent);
    return ASYNC_HTTP_ETLS;
}
int async_stream_tls_server(async_stream *s, async_tls *tls) { return async_stream_tls_client(s, tls, NULL, NULL); }
async_future *async_stream_handshake(async_stream *s, int *err) {
    (void)s, (void)err;
    return NULL;
}
int async_stream_tls_resumed(const async_stream *s) {
    (void)s;
    return 0;
}
size_t async_stream_tls_info(const async_stream *s, char *out, size_t cap) {
    (void)s;
    if (cap) out[0] = 0;
    return 0;
}
#define async_tls__send(s, buf, len, sent, err) async_stream__tcp_send(s, buf, len, sent, err)
#define async_tls__recv(s, buf, cap, n, err) async_stream__tcp_recv(s, buf, cap, n, err)
#define async_tls__idle_clean(s, ask) 0
#define async_tls__fill_start(s) ((void)0)
#define async_tls__close(s) ((void)0)
#define async_tls__flush_now(s) ((void)0)
#endif /* ASYNC_HTTP_TLS */

async_future *async_stream_send(async_stream *s, const void *buf, size_t len, size_t *sent, int *err) {
    return s->_ssl ? async_tls__send(s, buf, len, sent, err) : async_stream__tcp_send(s, buf, len, sent, err);
}

void async_stream_recv_start(async_stream *s, void *buf, size_t cap) {
    async_io__op_hold(&s->_recv_op); /* a watch's receive, taken over */
    if (s->_ssl) async_tls__fill_start(s);
    else if (!(s->_pending & ASYNC_STREAM__RECV))
        async_stream__started(s, ASYNC_STREAM__RECV, async_io_recv(s->io, &s->_recv_op, s->fd, buf, cap, 0));
}

async_future *async_stream_watch(async_stream *s, void *buf, size_t cap) {
    /* A client's last handshake flight, a key update's answer: a peer that
       speaks first waits for it, and nothing else sends it while idle. */
    if (s->_ssl) async_tls__flush_now(s);
    async_stream_recv_start(s, buf, cap);
    s->_watched_at = s->io->_polls, s->_unseen = 0;
    if (!(s->_pending & ASYNC_STREAM__RECV) || async_done(&s->_recv_op.future)) return NULL;
    async_io__op_unhold(&s->_recv_op); /* counted again once awaited */
    return &s->_recv_op.future;
}

async_future *async_stream_recv(async_stream *s, void *buf, size_t cap, size_t *n, int *err) {
    async_io__op_hold(&s->_recv_op);
    return s->_ssl ? async_tls__recv(s, buf, cap, n, err) : async_stream__tcp_recv(s, buf, cap, n, err);
}

int async_stream_idle_clean(async_stream *s, int ask) {
    int says;
    if (s->_failed || s->_unclean) return 0;
    if (s->_ssl) return async_tls__idle_clean(s, ask);
    says = async_stream__watch_says(s, ask);
    return says ? says > 0 : async_stream__peek_clean(s);
}

void async_stream_close(async_stream *s) {
    static const unsigned ops[] = {ASYNC_STREAM__OPEN, ASYNC_STREAM__SEND, ASYNC_STREAM__RECV};
    size_t i;
    /* What ended is taken (a watch that saw bytes); nothing may be in flight (settle first). */
    for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (!(s->_pending & ops[i])) continue;
        ASYNC_ASSERT(async_done(&async_stream__op(s, ops[i])->future));
        async_stream__take(s, ops[i]);
        s->_failed = 1;
    }
    if (s->_ssl) async_tls__close(s);
    if (s->fd >= 0) async_io_close_detached(s->io, s->fd);
    s->fd = -1;
    s->_state = ASYNC_STREAM__NEW;
    s->_eof = s->_unclean = s->_failed = 0;
    s->_detail[0] = 0;
}

// >>request
/* The value of a "Name: value" line if it is named `name` (lower case), or NULL. */
static const char *async_http__line_named(const char *line, const char *name) {
    size_t n = strlen(name);
    return async_http__ieq(line, n, name, n) && line[n] == ':' ? line + n + 1 : NULL;
}

/* The value of the user's header line `name` (lower case), or NULL. */
static const char *async_http__user_header(const char *const *h, const char *name) {
    const char *v;
    for (; h && *h; h++)
        if ((v = async_http__line_named(*h, name)) != NULL) return v;
    return NULL;
}

/* User headers a request leaves out after a redirect: credentials and Host
   on the way to another origin, the body's own headers once the body is dropped. */
enum { ASYNC_HTTP__DROP_AUTH = 1, ASYNC_HTTP__DROP_BODY = 2 };

static int async_http__dropped(const async_http_request *r, const char *line) {
    static const char *const auth[] = {"authorization", "proxy-authorization", "cookie", "host", NULL};
    static const char *const body[] = {"content-type",     "content-length", "transfer-encoding",
                                       "content-encoding", "expect",         NULL};
    const char *const *n;
    if (r->_drop & ASYNC_HTTP__DROP_AUTH)
        for (n = auth; *n; n++)
            if (async_http__line_named(line, *n)) return 1;
    if (r->_drop & ASYNC_HTTP__DROP_BODY)
        for (n = body; *n; n++)
            if (async_http__line_named(line, *n)) return 1;
    return 0;
}

/* What the user asks to send is checked before a byte goes out: the method
   and header names are tokens (RFC 9110 5.6.2, 9.1), values hold no control
   character but HTAB, and framing is the client's: a user Content-Length
   must match the body and is sent once; a user Transfer-Encoding may only
   say chunked, and then the client sends the body chunked; never both. A
   user Host replaces the client's. The detail says which and why. */
static int async_http__bad_header(async_http_request *r, size_t i, const char *why) {
    const char *line = r->_headers[i];
    size_t n = 0;
    while (n < 40 && async_http__is_tchar((unsigned char)line[n])) n++; /* only what prints safely */
    r->error = ASYNC_HTTP_EHEADER;
    async_http__set_detail(r, "header %lu ('%.*s%s'): %s", (unsigned long)i + 1, (int)n, line,
                           line[n] && line[n] != ':' ? "..." : "", why);
    return ASYNC_HTTP_EHEADER;
}

static int async_http__check_request(async_http_request *r) {
    const char *m = r->_method, *cl = NULL, *te = NULL;
    size_t i, hosts = 0;
    for (i = 0; m[i]; i++)
        if (!async_http__is_tchar((unsigned char)m[i])) break;
    if (!i || m[i]) {
        r->error = ASYNC_HTTP_EMETHOD;
        async_http__set_detail(r, i ? "a character no token has at %lu" : "empty%.0lu", (unsigned long)i);
        return ASYNC_HTTP_EMETHOD;
    }
    for (i = 0; r->_headers[i]; i++) {
        const char *h = r->_headers[i], *v;
        size_t n = 0;
        while (async_http__is_tchar((unsigned char)h[n])) n++;
        if (!n || h[n] != ':')
            return async_http__bad_header(r, i, !n ? "no name" : h[n] ? "not a token's character in the name"
                                                                        : "no ':' after the name");
        for (v = h + n + 1; *v; v++)
            if (!async_http__is_text((unsigned char)*v))
                return async_http__bad_header(r, i, *v == '\r' || *v == '\n' ? "CR or LF in the value"
                                                                              : "a control character in the value");
        if (async_http__line_named(h, "host") && ++hosts > 1) return async_http__bad_header(r, i, "a second Host");
        if (async_http__line_named(h, "content-length")) {
            char want[32];
            const char *val = async_http__line_named(h, "content-length");
            while (async_http__is_ows((unsigned char)*val)) val++;
            snprintf(want, sizeof want, "%lu", (unsigned long)r->_body_len);
            if (cl || strncmp(val, want, strlen(want)) != 0 || val[strspn(val + strlen(want), " \t") + strlen(want)])
                return async_http__bad_header(r, i, cl ? "a second Content-Length"
                                                       : "Content-Length differs from the body's length");
            cl = h;
        }
        if ((v = async_http__line_named(h, "transfer-encoding")) != NULL) {
            size_t len;
            const char *opt, *end = v + strlen(v);
            while (async_http__list_next(&v, end, &opt, &len))
                if (!ASYNC_HTTP__IEQ_LIT(opt, len, "chunked"))
                    return async_http__bad_header(r, i, "only chunked is a Transfer-Encoding the client frames");
            te = h;
        }
        if (cl && te) return async_http__bad_header(r, i, "Content-Length and Transfer-Encoding together");
    }
    r->_chunked = te != NULL;
    return 0;
}

static char *async_http__put(char *p, const char *s, size_t n) {
    memcpy(p, s, n);
    return p + n;
}

#define ASYNC_HTTP__PUT_LIT(p, lit) async_http__put(p, lit, sizeof(lit) - 1)

/* One header line of ours. */
static char *async_http__put_header(char *p, const char *name, size_t name_len, const char *value, size_t len) {
    p = async_http__put(p, name, name_len);
    p = ASYNC_HTTP__PUT_LIT(p, ": ");
    p = async_http__put(p, value, len);
    return ASYNC_HTTP__PUT_LIT(p, "\r\n");
}

/* A user header line the client sends in its own place, or not at all. */
static int async_http__ours(const async_http_request *r, const char *line) {
    return async_http__dropped(r, line) || async_http__line_named(line, "host") ||
           async_http__line_named(line, "content-length") || async_http__line_named(line, "transfer-encoding");
}

/* Write the request into the connection's send buffer (no printf: this runs
   once per request): the request line (the absolute form through a proxy),
   Host (the user's if given), User-Agent, Accept-Encoding and Authorization
   unless the user gave them, the user's headers in their order, then the
   framing the client owns and the body. */
/* Up to ASYNC_HTTP__BODY_COPIED, the body is copied after the head and goes
   out with it in one send (WHOLE); a bigger one goes from the user's
   buffer, between the head and the tail (a chunked body's end). */
#define ASYNC_HTTP__BODY_COPIED 16384
enum { ASYNC_HTTP__SEND_WHOLE, ASYNC_HTTP__SEND_HEAD, ASYNC_HTTP__SEND_BODY, ASYNC_HTTP__SEND_TAIL };

static int async_http__build(async_http_request *r, async_http__conn *s) {
    async_http_client *c = r->_client;
    const async_http__host *hh = &c->_hosts[r->_host];
    const char *const *h;
    const char *host = hh->host_header, *agent = c->config.user_agent, *user_host;
    int proxied_http = hh->via >= 0 && !hh->tls, has_length;
    /* A big body is sent from where it is: no copy, and no buffer of its size kept with the connection. */
    int apart = r->_body_len > ASYNC_HTTP__BODY_COPIED;
    size_t method_len = strlen(r->_method), host_len = strlen(host), agent_len = strlen(agent), need;
    char *p, *tail = NULL;
    user_host = r->_drop & ASYNC_HTTP__DROP_AUTH ? NULL : async_http__user_header(r->_headers, "host");
    if (user_host) {
        while (async_http__is_ows((unsigned char)*user_host)) user_host++;
        host = user_host;
        host_len = strlen(user_host);
        while (host_len && async_http__is_ows((unsigned char)host[host_len - 1])) host_len--;
    }
    /* The request line's host through a proxy is the URL's, not the user's Host. */
    need = method_len + r->_path_len + 2 * host_len + (proxied_http ? strlen(hh->host_header) : 0) + agent_len +
           (apart ? 0 : r->_body_len) + 160 + (r->_basic ? strlen(r->_basic) : 0) +
           (proxied_http && c->_proxy_auth ? strlen(c->_proxy_auth) : 0);
    for (h = r->_headers; h && *h; h++) need += strlen(*h) + 2;
    if (need > s->scap) {
        char *grown = (char *)async_http__alloc(c, s->sbuf, need);
        if (!grown) return ASYNC_HTTP_ENOMEM;
        s->sbuf = grown;
        s->scap = need;
    }
    p = async_http__put(s->sbuf, r->_method, method_len);
    p = ASYNC_HTTP__PUT_LIT(p, " ");
    if (proxied_http) { /* the absolute form a proxy needs (RFC 9112 3.2.2) */
        p = ASYNC_HTTP__PUT_LIT(p, "http://");
        p = async_http__put(p, hh->host_header, strlen(hh->host_header));
    }
    if (*r->_path == '?') p = ASYNC_HTTP__PUT_LIT(p, "/"); /* http://h?q asks for /?q (RFC 9112 3.2.1) */
    p = async_http__put(p, r->_path, r->_path_len);
    p = ASYNC_HTTP__PUT_LIT(p, " HTTP/1.1\r\n");
    p = async_http__put_header(p, "Host", 4, host, host_len);
    if (agent_len && !async_http__user_header(r->_headers, "user-agent"))
        p = async_http__put_header(p, "User-Agent", 10, agent, agent_len);
#ifdef ASYNC_HTTP_ZLIB
    /* What the decoder takes, unless the user asks for something else. */
    if (!c->config.no_decompress && !async_http__user_header(r->_headers, "accept-encoding"))
        p = ASYNC_HTTP__PUT_LIT(p, "Accept-Encoding: gzip, deflate\r\n");
#endif
    if (r->_basic && ((r->_drop & ASYNC_HTTP__DROP_AUTH) || !async_http__user_header(r->_headers, "authorization")))
        p = async_http__put_header(p, "Authorization", 13, r->_basic, strlen(r->_basic));
    if (proxied_http && c->_proxy_auth) p = async_http__put_header(p, "Proxy-Authorization", 19, c->_proxy_auth, strlen(c->_proxy_auth));
    for (h = r->_headers; h && *h; h++) {
        if (async_http__ours(r, *h)) continue;
        p = async_http__put(p, *h, strlen(*h));
        p = ASYNC_HTTP__PUT_LIT(p, "\r\n");
    }
    has_length = r->_body_len || !strcmp(r->_method, "POST") || !strcmp(r->_method, "PUT");
    if (r->_chunked && !(r->_drop & ASYNC_HTTP__DROP_BODY)) {
        char size[24];
        p = ASYNC_HTTP__PUT_LIT(p, "Transfer-Encoding: chunked\r\n\r\n");
        r->_try.head_len = (size_t)(p - s->sbuf);
        if (r->_body_len) {
            p = async_http__put(p, size, (size_t)sprintf(size, "%lx\r\n", (unsigned long)r->_body_len));
            if (!apart) p = async_http__put(p, (const char *)r->_body, r->_body_len);
            tail = p;
            p = ASYNC_HTTP__PUT_LIT(p, "\r\n");
        }
        p = ASYNC_HTTP__PUT_LIT(p, "0\r\n\r\n");
    } else {
        if (has_length) p += sprintf(p, "Content-Length: %lu\r\n", (unsigned long)r->_body_len);
        p = ASYNC_HTTP__PUT_LIT(p, "\r\n");
        r->_try.head_len = (size_t)(p - s->sbuf);
        if (!apart && r->_body_len) p = async_http__put(p, (const char *)r->_body, r->_body_len);
        tail = p;
    }
    r->_try.send_len = (size_t)((apart ? tail : p) - s->sbuf);
    r->_try.tail_len = apart ? (size_t)(p - tail) : 0;
    r->_try.part = apart ? ASYNC_HTTP__SEND_HEAD : ASYNC_HTTP__SEND_WHOLE;
    return 0;
}

// >>sink
/* parser -> [decoder] -> sink: the body's bytes, de-chunked by the parser,
   are decompressed if the response says gzip or deflate (ASYNC_HTTP_ZLIB),
   then go to the user's on_body or into the stored body, whose size limit
   lives here and counts decoded bytes (a small bomb never becomes a big
   allocation). */
enum { ASYNC_HTTP__CODING_UNKNOWN, ASYNC_HTTP__CODING_NONE, ASYNC_HTTP__CODING_GZIP, ASYNC_HTTP__CODING_DEFLATE };

static int async_http__sink_head(async_http_request *r);

/* The end of the chain: decoded bytes, to on_body or the stored body. */
static int async_http__sink_write(async_http_request *r, const char *data, size_t len) {
    async_http_client *c = r->_client;
    size_t need = r->response.body_len + len + 1;
    int64_t announced = async_http_parser_body_length(&r->_parser);
    r->info.decoded_bytes += len;
    if (r->on_body) {
        int rc = r->on_body(r, data, len);
        if (rc < 0) r->_try.user_error = rc; /* a -1 or -EIO of yours is not a network error */
        return rc;
    }
    if (async_http__sink_head(r) || r->response.body_len + len > c->config.max_body_size)
        return ASYNC_HTTP_EBODY_TOO_LARGE;
    if (need > r->_body_cap) {
        size_t cap = r->_body_cap ? r->_body_cap * 2 : 4096;
        char *grown;
        /* The announced length up front (if it is the body's, not compressed),
           but no more than 1 MiB on a promise alone: past that the body grows
           as its bytes arrive. */
        if (announced >= 0 && r->_coding <= ASYNC_HTTP__CODING_NONE && (size_t)announced + 1 > cap)
            cap = (size_t)announced + 1 < ((size_t)1 << 20) ? (size_t)announced + 1 : ((size_t)1 << 20);
        while (cap < need) cap *= 2;
        if (cap - 1 > c->config.max_body_size) cap = c->config.max_body_size + 1; /* never past the limit */
        grown = (char *)async_http__alloc(c, r->response.body, cap);
        if (!grown) return ASYNC_HTTP_ENOMEM;
        r->response.body = grown;
        r->_body_cap = cap;
    }
    memcpy(r->response.body + r->response.body_len, data, len);
    r->response.body_len += len;
    return 0;
}

#ifdef ASYNC_HTTP_ZLIB
/* The decoder: one inflate stream and a piece of output, allocated through
   the client's allocator (zlib's window too) when a compressed body starts. */
typedef struct async_http__decoder {
    z_stream z;
    int ended;       /* the compressed stream reached its end */
    unsigned char lead[2]; /* deflate: the first two bytes, which tell zlib's format from raw deflate */
    int nlead;
    char out[16384];
} async_http__decoder;

static voidpf async_http__zalloc(voidpf opaque, uInt items, uInt size) {
    async_http_client *c = (async_http_client *)opaque;
    return items && size <= (size_t)-1 / items ? async_http__alloc(c, NULL, (size_t)items * size) : NULL;
}

static void async_http__zfree(voidpf opaque, voidpf p) { async_http__alloc((async_http_client *)opaque, p, 0); }

/* The response's Content-Encoding, if it is one coding we decode. */
static int async_http__coding_of(const async_http_request *r) {
    size_t len = 0, i, lines = 0;
    const char *v = NULL;
    for (i = 0; i < r->_parser.trailer_start; i++) { /* several lines are one list (RFC 9110 5.3): several codings */
        const async_http_header *h = &r->_parser.headers[i];
        if (ASYNC_HTTP__IEQ_LIT(h->name, h->name_len, "content-encoding") && lines++ == 0) v = h->value, len = h->value_len;
    }
    if (r->_client->config.no_decompress || !v || lines > 1) return ASYNC_HTTP__CODING_NONE;
    if (ASYNC_HTTP__IEQ_LIT(v, len, "gzip") || ASYNC_HTTP__IEQ_LIT(v, len, "x-gzip")) return ASYNC_HTTP__CODING_GZIP;
    if (ASYNC_HTTP__IEQ_LIT(v, len, "deflate")) return ASYNC_HTTP__CODING_DEFLATE;
    return ASYNC_HTTP__CODING_NONE; /* another coding (br, several): the body stays as it came */
}

static int async_http__decoder_start(async_http_request *r, int raw) {
    async_http__decoder *d = (async_http__decoder *)r->_decoder;
    if (!d) {
        if (!(d = (async_http__decoder *)async_http__alloc(r->_client, NULL, sizeof *d))) return ASYNC_HTTP_ENOMEM;
        r->_decoder = d;
    } else {
        inflateEnd(&d->z);
    }
    memset(&d->z, 0, sizeof d->z);
    d->z.zalloc = async_http__zalloc;
    d->z.zfree = async_http__zfree;
    d->z.opaque = r->_client;
    d->ended = 0;
    if (!raw) d->nlead = 0; /* a fresh body; raw: the same body, its first bytes told it is raw */
    /* gzip: 16 + window; deflate: zlib's format, or raw (-15) */
    return inflateInit2(&d->z, r->_coding == ASYNC_HTTP__CODING_GZIP ? 15 + 16 : raw ? -15 : 15) == Z_OK
               ? 0
               : ASYNC_HTTP_ENOMEM;
}

static void async_http__decoder_free(async_http_request *r) {
    async_http__decoder *d = (async_http__decoder *)r->_decoder;
    if (!d) return;
    inflateEnd(&d->z);
    async_http__alloc(r->_client, d, 0);
    r->_decoder = NULL;
}

static int async_http__corrupt(async_http_request *r, const char *why) {
    async_http__copy(r->_decode_why, sizeof r->_decode_why, why ? why : "corrupt data");
    return ASYNC_HTTP_EDECODE;
}

/* Compressed bytes in, decoded pieces out to the sink. */
static int async_http__inflate(async_http_request *r, const char *data, size_t len) {
    async_http__decoder *d = (async_http__decoder *)r->_decoder;
    int rc;
    int full = 0; /* the last inflate filled out: zlib may hold more, with all the input taken */
    d->z.next_in = (Bytef *)(uintptr_t)data;
    d->z.avail_in = (uInt)len;
    while (d->z.avail_in > 0 || (full && !d->ended)) {
        if (d->ended) {
            /* gzip members may follow one another (RFC 1952 2.2); anything else after the end is not right */
            if (r->_coding != ASYNC_HTTP__CODING_GZIP) return async_http__corrupt(r, "data after the end of the compressed body");
            inflateReset(&d->z);
            d->ended = 0;
        }
        d->z.next_out = (Bytef *)d->out;
        d->z.avail_out = sizeof d->out;
        rc = inflate(&d->z, Z_NO_FLUSH);
        if (rc == Z_MEM_ERROR) return ASYNC_HTTP_ENOMEM; /* the allocator's failure, not the server's */
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return async_http__corrupt(r, d->z.msg);
        if (rc == Z_STREAM_END) d->ended = 1;
        full = d->z.avail_out == 0;
        if (sizeof d->out - d->z.avail_out &&
            (rc = async_http__sink_write(r, d->out, sizeof d->out - d->z.avail_out)) != 0)
            return rc;
    }
    return 0;
}

/* deflate is zlib's format when its first two bytes are a zlib header
   (RFC 1950 2.2: method 8, a window of at most 32 KiB, a multiple of 31),
   else raw deflate; they are held until both came, however the body is cut. */
static int async_http__decode(async_http_request *r, const char *data, size_t len) {
    async_http__decoder *d = (async_http__decoder *)r->_decoder;
    int rc;
    if (r->_coding == ASYNC_HTTP__CODING_DEFLATE && d->nlead < 2) {
        for (; d->nlead < 2 && len; len--) d->lead[d->nlead++] = (unsigned char)*data++;
        if (d->nlead < 2) return 0;
        if (!((d->lead[0] & 0x0F) == 8 && d->lead[0] >> 4 <= 7 && (d->lead[0] * 256 + d->lead[1]) % 31 == 0) &&
            (rc = async_http__decoder_start(r, 1)) != 0)
            return rc;
        if ((rc = async_http__inflate(r, (const char *)d->lead, 2)) != 0) return rc;
    }
    return len ? async_http__inflate(r, data, len) : 0;
}

/* The body ended: so must the compressed stream in it. */
static int async_http__decoder_end(async_http_request *r) {
    async_http__decoder *d = (async_http__decoder *)r->_decoder;
    return d && !d->ended && (d->z.total_in || d->nlead) ? async_http__corrupt(r, "the compressed body ends early")
                                                          : 0;
}
#else
#define async_http__coding_of(r) ASYNC_HTTP__CODING_NONE
#define async_http__decoder_start(r, raw) 0
#define async_http__decode(r, data, len) async_http__sink_write(r, data, len)
#define async_http__decoder_end(r) 0
#define async_http__decoder_free(r) ((void)0)
#endif

/* Once the head is in: a stored, plain body announced over the limit fails
   now, not after the server sent (or failed to send) all of it. A
   compressed one is held to the limit as it is decoded. */
static int async_http__sink_head(async_http_request *r) {
    int coding = r->_coding == ASYNC_HTTP__CODING_UNKNOWN ? async_http__coding_of(r) : r->_coding;
    int64_t announced;
    if (r->on_body || !async_http_parser_head_done(&r->_parser) || coding > ASYNC_HTTP__CODING_NONE) return 0;
    announced = async_http_parser_body_length(&r->_parser); /* -1: not said */
    /* unsigned: a limit of SIZE_MAX ("none") is no negative number */
    return announced > 0 && (uint64_t)announced > (uint64_t)r->_client->config.max_body_size ? ASYNC_HTTP_EBODY_TOO_LARGE
                                                                                             : 0;
}

/* Tell config.trace, if there is one. */
static void async_http__trace(async_http_request *r, int what, const char *text, size_t len) {
    const async_http_client_config *cfg = &r->_client->config;
    if (cfg->trace) cfg->trace(cfg->trace_user, r, what, text, len);
}

static int async_http__redirect_status(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* The parser's on_head: each head goes to the trace as it comes (1xx ones
   too), before any of its body; a redirect that will be followed (or fail
   as one too many) has its body read past, neither kept nor given to
   on_body, which sees the answer's body only. */
static int async_http__head(void *user, async_http_parser *p, int interim) {
    async_http_request *r = (async_http_request *)user;
    size_t loc_len = 0;
    async_http__trace(r, ASYNC_HTTP_TRACE_RECEIVED, p->head_buf, p->head_len);
    if (!interim) /* an empty Location leads nowhere: the 3xx is the answer (as curl and aiohttp) */
        r->_try.drop_body = (r->_client->config.max_redirects >= 0 ||
                             r->_client->config.max_redirects == ASYNC_HTTP_REDIRECTS_FAIL) &&
                            async_http__redirect_status(p->status) &&
                            async_http_header_find(p->headers, p->header_count, "location", &loc_len) && loc_len;
    return 0;
}

/* The parser's on_body: the first piece decides on the decoder. */
static int async_http__body(void *user, const char *data, size_t len) {
    async_http_request *r = (async_http_request *)user;
    int rc;
    if (r->_try.drop_body) return 0;
    if (r->_coding == ASYNC_HTTP__CODING_UNKNOWN) {
        r->_coding = async_http__coding_of(r);
        if (r->_coding > ASYNC_HTTP__CODING_NONE && (rc = async_http__decoder_start(r, 0)) != 0) return rc;
    }
    if (r->_coding <= ASYNC_HTTP__CODING_NONE) return async_http__sink_write(r, data, len);
    if (!r->on_body) {
        /* The limit is on decoded bytes; compressed ones are never many more
           (deflate's stored blocks add 5 in 64 KiB), so a body that keeps
           coming while it decodes to next to nothing (empty blocks) ends too. */
        uint64_t lim = r->_client->config.max_body_size, wire = lim > UINT64_MAX / 2 ? UINT64_MAX : lim + lim / 16 + 65536;
        if (r->_parser.body_bytes > wire) return ASYNC_HTTP_EBODY_TOO_LARGE; /* (this piece counted already) */
    }
    return async_http__decode(r, data, len);
}

// >>exchange
/* One request is a loop of attempts (a retry is another attempt); an
   attempt is phases, each a step in the stream's poll style: it returns
   the future to await next, or NULL when the phase is over (done, not
   needed, or failed: r->_err). A failed phase leaves the next ones nothing
   to do but settle. conclude() then says what happens: done, retry, fail. */
enum { ASYNC_HTTP__DONE, ASYNC_HTTP__RETRY, ASYNC_HTTP__FAIL };
enum { ASYNC_HTTP__PHASE_OTHER, ASYNC_HTTP__PHASE_CONNECT, ASYNC_HTTP__PHASE_READ };

static int async_http__head_alloc(async_http_request *r, size_t head_cap, size_t nheaders) {
    char *mem = (char *)async_http__block_take(r->_client, nheaders * sizeof(async_http_header) + head_cap);
    if (!mem) return ASYNC_HTTP_ENOMEM;
    if (r->_head_mem) {
        async_http_parser_rebase(&r->_parser, mem + nheaders * sizeof(async_http_header), head_cap,
                                 (async_http_header *)(void *)mem, nheaders);
        async_http__block_give(r->_client, r->_head_mem);
    }
    r->_head_mem = mem;
    return 0;
}

static int async_http__grow_head(void *user, async_http_parser *p) {
    async_http_request *r = (async_http_request *)user;
    const async_http_client_config *cfg = &r->_client->config;
    size_t cap = p->head_cap * 2, n = p->max_headers * 2;
    if (cap > cfg->max_header_bytes) cap = cfg->max_header_bytes;
    if (n > cfg->max_headers) n = cfg->max_headers;
    if (cap == p->head_cap && n == p->max_headers) return 1; /* at the limits */
    return async_http__head_alloc(r, cap, n) ? ASYNC_HTTP_ENOMEM : 0;
}

/* A parser for the next head (the answer's, or a proxy's to CONNECT), in a
   fresh block (a retry or a tunnel starts afresh), growing within the
   client's limits. */
static int async_http__head_start(async_http_request *r, int no_body, async_http_body_cb on_body) {
    const async_http_client_config *cfg = &r->_client->config;
    size_t cap = cfg->max_header_bytes < ASYNC_HTTP__HEAD_START ? cfg->max_header_bytes : ASYNC_HTTP__HEAD_START;
    size_t n = cfg->max_headers < ASYNC_HTTP__HEADERS_START ? cfg->max_headers : ASYNC_HTTP__HEADERS_START;
    async_http__block_give(r->_client, r->_head_mem);
    r->_head_mem = NULL;
    if (async_http__head_alloc(r, cap, n)) return ASYNC_HTTP_ENOMEM;
    async_http_parser_init(&r->_parser, r->_head_mem + n * sizeof(async_http_header), cap,
                           (async_http_header *)(void *)r->_head_mem, n, no_body, on_body, r);
    r->_parser.grow = async_http__grow_head;
    return 0;
}

/* Await f with a timeout (none if <= 0); on timeout the result is ASYNC_ETIMEDOUT. */
static async_future *async_http__timed(async_http_request *r, async_future *f, async_time timeout) {
    if (timeout <= 0) return f;
    return async_wait_for(r->task.loop, &r->_wait, f, timeout);
}

static async_http__conn *async_http__conn_of(async_http_request *r) { return &r->_client->_conns[r->_try.conn]; }

/* An address in words: its IP into ip, and its port. */
static unsigned async_http__addr_text(const struct sockaddr_storage *a, char *ip, size_t cap) {
    const void *in = a->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr
                                              : (const void *)&((const struct sockaddr_in *)(const void *)a)->sin_addr;
    inet_ntop(a->ss_family, in, ip, (socklen_t)cap);
    return ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)(const void *)a)->sin6_port
                                          : ((const struct sockaddr_in *)(const void *)a)->sin_port);
}

/* Where the connection goes, in info (and for the trace, when new); put
   in words once per connection. */
static void async_http__note_peer(async_http_request *r, async_http__conn *k, const struct sockaddr_storage *a) {
    if (a) k->peer_port = async_http__addr_text(a, k->peer_ip, sizeof k->peer_ip);
    memcpy(r->info.remote_ip, k->peer_ip, sizeof r->info.remote_ip);
    r->info.remote_port = k->peer_port;
    r->info.connected = async_loop_time(r->task.loop);
    if (a && r->_client->config.trace) {
        char text[64];
        snprintf(text, sizeof text, "%s %u", k->peer_ip, k->peer_port);
        async_http__trace(r, ASYNC_HTTP_TRACE_CONNECTED, text, strlen(text));
    }
}

/* Before the first attempt: the URL and the headers make sense, and the
   total timeout runs (through the pool wait, every attempt and the body). */
static int async_http__begin(async_http_request *r) {
    async_http_client *c = r->_client;
    async_time total = r->timeout ? r->timeout : c->config.timeout_total;
    int rc = r->_err; /* the copy of the inputs may have failed */
    r->info.start = async_loop_time(r->task.loop);
    r->_body = r->body;
    r->_body_len = r->body_len;
    if (!rc) rc = async_http__check_request(r);
    if (!rc) rc = async_http__parse_url(r);
    if (rc) return rc;
    if (total > 0) async_deadline_start(r->task.loop, &r->_deadline, &r->task, total);
    return 0;
}

/* Every attempt starts from nothing but the request itself. */
static void async_http__begin_attempt(async_http_request *r) {
    memset(&r->_try, 0, sizeof r->_try);
    r->_try.conn = -1;
    r->_err = 0;
}

/* The client's TLS context, made at the first https request (loading the
   system's trusted certificates takes a while). */
static int async_http__tls_context(async_http_client *c) {
    async_tls_config t;
    if (c->_tls_made) return 0;
    memset(&t, 0, sizeof t);
    t.ca_file = c->config.ca_file;
    t.ca_path = c->config.ca_path;
    t.insecure = c->config.insecure;
    /* A failure is not kept: the CA file may be there next time, the fds
       or the memory that ran out back. */
    if (async_tls_init(&c->_tls, &t) != 0) return ASYNC_HTTP_ETLS;
    c->_tls_made = 1;
    return 0;
}

/* An await of the opening, within what is left of the connect timeout. */
static async_future *async_http__connecting(async_http_request *r, async_future *f) {
    async_time left = r->_try.connect_deadline ? r->_try.connect_deadline - async_now(r->task.loop) : 0;
    r->_try.phase = ASYNC_HTTP__PHASE_CONNECT;
    return async_http__timed(r, f, r->_try.connect_deadline && left <= 0 ? 1 : left);
}

// >>open
/* A new connection: the host's addresses (resolve), a connect to one of
   them (dial: RFC 8305's Happy Eyeballs: the next dial 250 ms after the
   last, at once if the last failed, up to three at a time, the oldest
   giving way when a fourth is due; the first to connect wins, the others
   are cancelled and their sockets closed), the proxy's CONNECT (tunnel),
   the TLS handshake. */
#define ASYNC_HTTP__STAGGER ASYNC_MS(250)
enum { ASYNC_HTTP__DIAL_IDLE, ASYNC_HTTP__DIAL_SOCKET, ASYNC_HTTP__DIAL_CONNECT, ASYNC_HTTP__DIAL_OVER };

/* Whether the request needs a new connection. The first call in an
   attempt (from whichever step of >>open runs first) also claims the
   attempt's connection: whether it is a pooled one (reused), and for a new
   one the start of the connect timeout, which covers the lookup, the
   connect and the TLS handshake, as aiohttp's does. */
static int async_http__needs_open(async_http_request *r) {
    async_http_client *c = r->_client;
    if (r->_err) return 0;
    if (!r->_try.touched) {
        r->_try.touched = 1;
        r->_try.reused = async_stream_is_open(&async_http__conn_of(r)->s);
        r->info.reused = r->_try.reused;
        if (r->_try.reused) async_http__note_peer(r, async_http__conn_of(r), NULL);
        if (!r->_try.reused && c->config.timeout_connect > 0 && c->config.timeout_connect != ASYNC_NO_TIMEOUT)
            r->_try.connect_deadline = async_http__after(async_now(r->task.loop), c->config.timeout_connect);
    }
    return !r->_try.reused;
}

/* The host's addresses: an IP literal's or the cache's at once; else the
   host's lookup in flight (started if there is none) is waited for. */
static async_future *async_http__resolve_step(async_http_request *r) {
    async_http_client *c = r->_client;
    size_t target = async_http__target(c, r->_host);
    async_http__host *h = &c->_hosts[target];
    const char *why;
    if (!async_http__needs_open(r) || r->_try.connected) return NULL;
    if (r->_try.looked_up) { /* what came of the lookup we waited for */
        if (h->naddrs) return NULL;
        r->_err = h->lookup_error ? h->lookup_error : ASYNC_HTTP_ENAME;
        r->error = r->_err; /* for the detail's words: which name, and the system's reason */
        why = !h->lookup_cause              ? NULL
              : h->lookup_cause == EAGAIN ? "the name server did not answer"
                                          : strerror(h->lookup_cause);
        async_http__set_detail(r, target != r->_host ? "the proxy's host name (%s)%s%s%s" : "%s%s%s%s", h->name,
                               why ? " (" : "", why ? why : "", why ? ")" : "");
        return NULL;
    }
    if (async_http__addresses_fresh(c, h)) return NULL;
    r->_try.looked_up = 1;
    if (!h->lookup && (r->_err = async_http__lookup_start(c, target)) != 0) {
        if (r->_err != ASYNC_HTTP_ENOMEM) { /* no thread (a pids limit): say what it was for */
            r->error = r->_err;
            async_http__set_detail(r, "no worker thread could start to look up %s", h->name);
        }
        return NULL;
    }
    return async_http__connecting(r, async_event_wait(&h->lookup->done, &r->_lookup_slot));
}

/* A dial's socket or connect that completed: its next step. */
static void async_http__dial_took(async_http_request *r, async_http__dial *d) {
    async_io *io = r->_client->io;
    int err = async_error(&d->op.future);
    if (d->state == ASYNC_HTTP__DIAL_SOCKET && !err) {
        d->fd = (int)async_result(&d->op.future);
        d->state = ASYNC_HTTP__DIAL_CONNECT;
        async_io_connect(io, &d->op, d->fd, (struct sockaddr *)&d->addr, async_http__addr_len(&d->addr));
        return;
    }
    d->state = ASYNC_HTTP__DIAL_OVER;
    if (!err) return; /* connected */
    if (err != ASYNC_ECANCELED) r->_try.dial_error = err, r->_try.dial_failed = d; /* not one that gave way */
    if (d->fd >= 0) async_io_close_detached(io, d->fd);
    d->fd = -1;
}

/* A dial that lost the race has ended: its socket (made perhaps as the
   cancel came) closes now, not when the request ends, and no late SYN-ACK
   leaves the server a connection nobody uses (RFC 8305 5). */
static void async_http__dial_lost(async_waiter *w, async_future *f) {
    async_http__dial *d = ASYNC_HTTP__CONTAINER(w, async_http__dial, lost);
    if (d->state == ASYNC_HTTP__DIAL_SOCKET && !async_error(f)) d->fd = (int)async_result(f);
    if (d->fd >= 0) async_io_close_detached(d->op.io, d->fd);
    d->fd = -1;
    d->state = ASYNC_HTTP__DIAL_OVER;
}

/* The first dial to connect: its socket becomes the connection's stream;
   the others are withdrawn, each closed as it ends. */
static void async_http__dial_won(async_http_request *r, async_http__dial *won) {
    async_http_client *c = r->_client;
    size_t i;
    async_stream_init(&async_http__conn_of(r)->s, c->io, won->fd);
    async_http__note_peer(r, async_http__conn_of(r), &won->addr);
    won->fd = -1;
    r->_try.connected = 1;
    c->_connects++;
    for (i = 0; i < ASYNC_HTTP__RACE; i++) {
        async_http__dial *d = &r->_dials[i];
        if (d->state != ASYNC_HTTP__DIAL_SOCKET && d->state != ASYNC_HTTP__DIAL_CONNECT) continue;
        async_future_cancel(&d->op.future);
        if (async_done(&d->op.future)) {
            async_http__dial_lost(&d->lost, &d->op.future);
        } else {
            d->lost.wake = async_http__dial_lost;
            async_future_add_waiter(&d->op.future, &d->lost);
        }
    }
    async_timer_stop(&r->_stagger);
}

/* The stagger timer fired (not stopped, not running). */
static int async_http__stagger_due(async_http_request *r) {
    return async_done(&r->_stagger.future) && !async_error(&r->_stagger.future);
}

/* The next address, on a dial of its own; the stagger timer for the one after. */
static void async_http__dial_start(async_http_request *r, async_http__dial *d) {
    async_http_client *c = r->_client;
    const async_http__host *h = &c->_hosts[async_http__target(c, r->_host)];
    d->turn = r->_try.next_addr;
    d->addr = h->addrs[r->_try.next_addr++];
    d->fd = -1;
    d->state = ASYNC_HTTP__DIAL_SOCKET;
    async_io_socket(c->io, &d->op, d->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->_try.next_addr < h->naddrs) async_sleep(r->task.loop, &r->_stagger, ASYNC_HTTP__STAGGER);
}

static async_future *async_http__dial_step(async_http_request *r) {
    const async_http__host *h = &r->_client->_hosts[async_http__target(r->_client, r->_host)];
    size_t i, n = 0;
    int moved = 1;
    if (!async_http__needs_open(r) || r->_try.connected) return NULL;
    if (!r->_try.dialed) {
        memset(r->_dials, 0, sizeof r->_dials);
        memset(&r->_stagger, 0, sizeof r->_stagger);
        r->_try.dialed = 1;
    }
    while (moved) {
        async_http__dial *idle = NULL;
        size_t running = 0;
        moved = 0;
        for (i = 0; i < ASYNC_HTTP__RACE; i++) {
            async_http__dial *d = &r->_dials[i];
            if ((d->state == ASYNC_HTTP__DIAL_SOCKET || d->state == ASYNC_HTTP__DIAL_CONNECT) &&
                async_done(&d->op.future)) {
                async_http__dial_took(r, d);
                moved = 1;
                if (d->state == ASYNC_HTTP__DIAL_OVER && d->fd >= 0) {
                    async_http__dial_won(r, d);
                    return NULL;
                }
            }
            if (d->state == ASYNC_HTTP__DIAL_SOCKET || d->state == ASYNC_HTTP__DIAL_CONNECT) running++;
            else if (!idle && (d->state == ASYNC_HTTP__DIAL_IDLE || d->fd < 0)) idle = d;
        }
        /* Another dial: none runs (the last failed), or 250 ms passed. */
        if (idle && r->_try.next_addr < h->naddrs && (!running || async_http__stagger_due(r))) {
            async_http__dial_start(r, idle);
            moved = 1;
        } else if (!idle && r->_try.next_addr < h->naddrs && async_http__stagger_due(r)) {
            /* Every place races and the next address is due: the oldest dial
               (its SYN perhaps lost for good) gives way; its end frees a place. */
            async_http__dial *oldest = NULL;
            for (i = 0; i < ASYNC_HTTP__RACE; i++)
                if (!oldest || r->_dials[i].turn < oldest->turn) oldest = &r->_dials[i];
            async_future_cancel(&oldest->op.future);
        } else if (!running) {
            r->_err = r->_try.dial_error ? r->_try.dial_error : ASYNC_HTTP_ENETWORK;
            if (r->_try.dial_failed) { /* where it went (the proxy's address, a default port), and why */
                char ip[INET6_ADDRSTRLEN];
                unsigned port = async_http__addr_text(&r->_try.dial_failed->addr, ip, sizeof ip);
                int unnamed = async_http__net_error(r->_err) == ASYNC_HTTP_ENETWORK && r->_err < 0 && r->_err > -4096 &&
                              r->_err != -ETIMEDOUT; /* (the kernel's SYN timeout is said as such) */
                snprintf(async_http__conn_of(r)->s._detail, sizeof async_http__conn_of(r)->s._detail, "%s port %u%s%s",
                         ip, port, unnamed ? ": " : "", unnamed ? strerror(-r->_err) : ""); /* (out of fds, no route) */
            }
            return NULL;
        }
    }
    for (i = 0; i < ASYNC_HTTP__RACE; i++)
        if (r->_dials[i].state == ASYNC_HTTP__DIAL_SOCKET || r->_dials[i].state == ASYNC_HTTP__DIAL_CONNECT)
            r->_race_futs[n++] = &r->_dials[i].op.future;
    if (async_timer_armed(&r->_stagger)) r->_race_futs[n++] = &r->_stagger.future;
    return async_http__connecting(
        r, async_wait(r->task.loop, &r->_race, r->_race_futs, r->_race_links, n, ASYNC_FIRST_COMPLETED, ASYNC_NO_TIMEOUT));
}

/* Nothing of the dials may be left in flight when the attempt ends. */
static async_future *async_http__dials_settle(async_http_request *r) {
    size_t i;
    if (!r->_try.dialed) return NULL;
    for (i = 0; i < ASYNC_HTTP__RACE; i++) {
        async_http__dial *d = &r->_dials[i];
        if (d->state == ASYNC_HTTP__DIAL_SOCKET || d->state == ASYNC_HTTP__DIAL_CONNECT) {
            if (!async_done(&d->op.future)) {
                async_future_cancel(&d->op.future);
                return &d->op.future;
            }
            if (d->state == ASYNC_HTTP__DIAL_SOCKET && !async_error(&d->op.future))
                d->fd = (int)async_result(&d->op.future); /* made as the cancel came */
        }
        if (d->state != ASYNC_HTTP__DIAL_IDLE && d->fd >= 0) async_io_close_detached(r->_client->io, d->fd);
        d->fd = -1;
        d->state = ASYNC_HTTP__DIAL_IDLE;
    }
    async_timer_stop(&r->_stagger);
    return NULL;
}

/* https through a proxy: CONNECT host:port and its 2xx answer, a step of
   round trips of its own before TLS, within the connect timeout. */
static async_future *async_http__tunnel_step(async_http_request *r) {
    async_http_client *c = r->_client;
    async_http__host *h = &c->_hosts[r->_host];
    async_http__conn *k;
    async_future *f;
    size_t n = 0, used = 0;
    int rc;
    if (!async_http__needs_open(r) || !h->tls || h->via < 0 || r->_try.tunnel == 3) return NULL;
    k = async_http__conn_of(r);
    if (r->_try.tunnel == 0) { /* the request, and a parser for the answer (which has no body) */
        size_t need = 2 * strlen(h->name) + 96 + (c->_proxy_auth_tls ? strlen(c->_proxy_auth_tls) + 24 : 0);
        int v6 = strchr(h->name, ':') != NULL;
        char *grown;
        if (need > k->scap) {
            if (!(grown = (char *)async_http__alloc(c, k->sbuf, need))) return r->_err = ASYNC_HTTP_ENOMEM, (async_future *)NULL;
            k->sbuf = grown;
            k->scap = need;
        }
        int name_len = (int)strcspn(h->name, "%"); /* an IPv6 zone is ours, not the proxy's */
        r->_try.send_len = (size_t)sprintf(k->sbuf, "CONNECT %s%.*s%s:%u HTTP/1.1\r\nHost: %s%.*s%s:%u\r\n%s%s%s\r\n",
                                           v6 ? "[" : "", name_len, h->name, v6 ? "]" : "", h->port, v6 ? "[" : "",
                                           name_len, h->name, v6 ? "]" : "", h->port,
                                           c->_proxy_auth_tls ? "Proxy-Authorization: " : "",
                                           c->_proxy_auth_tls ? c->_proxy_auth_tls : "", c->_proxy_auth_tls ? "\r\n" : "");
        async_http__trace(r, ASYNC_HTTP_TRACE_PROXY_SENT, k->sbuf, r->_try.send_len);
        r->_try.sent = 0;
        if (!k->rbuf && !(k->rbuf = (char *)async_http__alloc(c, NULL, c->config.recv_buffer_size)))
            return r->_err = ASYNC_HTTP_ENOMEM, (async_future *)NULL;
        if (async_http__head_start(r, 1, NULL)) return r->_err = ASYNC_HTTP_ENOMEM, (async_future *)NULL; /* no body after a 2xx */
        r->_try.tunnel = 1;
    }
    if (r->_try.tunnel == 1) {
        if ((f = async_stream_send(&k->s, k->sbuf, r->_try.send_len, &r->_try.sent, &r->_err)) != NULL)
            return async_http__connecting(r, f);
        if (r->_err) return NULL;
        r->_try.tunnel = 2;
    }
    for (;;) {
        if ((f = async_stream_recv(&k->s, k->rbuf, c->config.recv_buffer_size, &n, &r->_err)) != NULL)
            return async_http__connecting(r, f);
        if (r->_err) return NULL;
        rc = n ? async_http_parser_feed(&r->_parser, k->rbuf, n, &used) : async_http_parser_eof(&r->_parser);
        if (rc == 0) continue;
        if (async_http_parser_head_done(&r->_parser))
            async_http__trace(r, ASYNC_HTTP_TRACE_PROXY_RECEIVED, r->_parser.head_buf, r->_parser.head_len);
        if (rc == 1 && r->_parser.status / 100 == 2 && used == n) break;
        r->_err = ASYNC_HTTP_EPROXY;
        if (rc < 0) snprintf(k->s._detail, sizeof k->s._detail, "its answer to CONNECT: %s", r->_parser.error_reason);
        else if (r->_parser.status / 100 == 2) async_http__copy(k->s._detail, sizeof k->s._detail, "bytes after its answer to CONNECT");
        else
            snprintf(k->s._detail, sizeof k->s._detail, "CONNECT answered %d %.*s", r->_parser.status,
                     (int)(r->_parser.reason_len > 60 ? 60 : r->_parser.reason_len), r->_parser.reason);
        return NULL;
    }
    r->_try.tunnel = 3;
    return NULL;
}

/* https: the TLS handshake on the new connection. */
static async_future *async_http__handshake_step(async_http_request *r) {
    async_http_client *c = r->_client;
    async_http__host *h = &c->_hosts[r->_host];
    async_http__conn *k;
    async_future *f;
    if (!async_http__needs_open(r) || !h->tls) return NULL;
    k = async_http__conn_of(r);
    if (!k->s._ssl) {
        if ((r->_err = async_http__tls_context(c)) != 0)
            async_http__copy(k->s._detail, sizeof k->s._detail, c->_tls.error);
        else r->_err = async_stream_tls_client(&k->s, &c->_tls, h->name, &h->session);
        if (r->_err) return NULL;
    }
    if ((f = async_stream_handshake(&k->s, &r->_err)) != NULL) return async_http__connecting(r, f);
    if (r->_err) return NULL;
    c->_tls_handshakes++;
    c->_tls_resumed += (uint64_t)async_stream_tls_resumed(&k->s);
    r->info.tls_done = async_loop_time(r->task.loop);
    if (c->config.trace) {
        char text[256];
        size_t n = async_stream_tls_info(&k->s, text, sizeof text);
        async_http__trace(r, ASYNC_HTTP_TRACE_TLS, text, n);
    }
    return NULL;
}

// >>transfer
/* The request's bytes in the send buffer, the parser and the sink ready,
   and the first receive started with the send: the response is read the
   moment it arrives, a loop turn sooner. */
static int async_http__begin_exchange(async_http_request *r, async_http__conn *k) {
    const async_http_client_config *cfg = &r->_client->config;
    int rc;
    if (!k->rbuf && !(k->rbuf = (char *)async_http__alloc(r->_client, NULL, cfg->recv_buffer_size)))
        return ASYNC_HTTP_ENOMEM;
    if ((rc = async_http__build(r, k)) != 0) return rc;
    if (async_http__head_start(r, r->_is_head, async_http__body)) return ASYNC_HTTP_ENOMEM;
    r->_coding = ASYNC_HTTP__CODING_UNKNOWN;
    async_http__decoder_free(r); /* a retry starts afresh */
    r->_parser.on_head = async_http__head;
    r->_parser.upgrade_expected = async_http__user_header(r->_headers, "upgrade") != NULL;
    if (cfg->max_interim) r->_parser.max_interim = cfg->max_interim;
    r->response.body_len = 0;
    async_stream_recv_start(&k->s, k->rbuf, cfg->recv_buffer_size);
    return 0;
}

/* Bytes of the response (n == 0: the server closed): into the parser and
   on to the sink. Returns 0 (r->_try.done once the response is complete)
   or an error. */
static int async_http__received(async_http_request *r, const char *data, size_t n) {
    size_t used = 0;
    int rc;
    if (n == 0) {
        /* Closed before the response ended: nothing sent, or cut short in
           the head or the body; the parser's reason says where. */
        if (async_http_parser_eof(&r->_parser) != 1) return ASYNC_HTTP_ECLOSED;
        /* A body that ends with the connection ends for real only with TLS's close_notify. */
        if (async_stream_unclean_eof(&async_http__conn_of(r)->s)) return ASYNC_HTTP_ETLS_TRUNCATED;
        r->_try.done = 1;
        return async_http__decoder_end(r);
    }
    if (!r->_try.got_bytes && !r->info.first_byte) r->info.first_byte = async_loop_time(r->task.loop);
    r->_try.got_bytes = 1;
    rc = async_http_parser_feed(&r->_parser, data, n, &used);
    if (rc < 0) return rc;
    if (rc == 0 && r->_try.drop_body && async_http_parser_head_done(&r->_parser)) {
        /* A redirect to follow, its body still coming: of no use, and it may
           be long or never end. The connection goes instead of being read
           past (as aiohttp releases it). */
        r->_parser.keep_alive = 0;
        r->_try.done = 1;
        return 0;
    }
    if (rc == 0) return async_http__sink_head(r);
    if (used != n) r->_parser.keep_alive = 0; /* stray bytes: the stream is off */
    r->_try.done = 1;
    return async_http__decoder_end(r);
}

/* While a long body goes out, the answer may already come (RFC 9112 9.5),
   and is read as it comes: a final one of 300 or more (a 413, a 401, a
   redirect) ends the sending, and the connection, as curl does; a server
   that then neither reads on nor closes would hold the request until the
   total timeout. A 1xx, a 2xx: the body goes on. What to await (the send,
   or the first of it and the receive), or NULL: stop sending. */
static async_future *async_http__send_or_answer(async_http_request *r, async_http__conn *k, async_future *send) {
    size_t n = 0;
    int err = 0;
    while (!async_http_parser_head_done(&r->_parser) || r->_parser.status < 300) {
        async_future *recv;
        if (r->_try.done) return send; /* all of a 2xx in: the body still goes */
        recv = async_stream_recv(&k->s, k->rbuf, r->_client->config.recv_buffer_size, &n, &err);
        if (recv) { /* (the dials' race is over: its wait serves here) */
            r->_race_futs[0] = send, r->_race_futs[1] = recv;
            return async_wait(r->task.loop, &r->_race, r->_race_futs, r->_race_links, 2, ASYNC_FIRST_COMPLETED,
                              ASYNC_NO_TIMEOUT);
        }
        if (!err) err = async_http__received(r, k->rbuf, n);
        if (err || n == 0) break; /* failed, or closed */
    }
    r->_err = err;
    r->_try.send_cut = 1;
    r->_parser.keep_alive = 0; /* the body's rest never went: the stream is off */
    return NULL;
}

static async_future *async_http__send_step(async_http_request *r) {
    async_http__conn *k;
    if (r->_err || r->_try.send_cut) return NULL;
    k = async_http__conn_of(r);
    if (!r->_try.built) {
        r->_try.built = 1;
        r->_try.sent = 0; /* a tunnel's CONNECT went out from the same buffer */
        if ((r->_err = async_http__begin_exchange(r, k)) != 0) return NULL;
        async_http__trace(r, ASYNC_HTTP_TRACE_SENT, k->sbuf, r->_try.head_len);
    }
    r->_try.phase = ASYNC_HTTP__PHASE_OTHER;
    r->_try.sending = 1;
    for (;;) {
        async_future *f;
        const char *buf = k->sbuf;
        size_t len = r->_try.send_len;
        if (r->_try.part == ASYNC_HTTP__SEND_BODY) buf = (const char *)r->_body, len = r->_body_len;
        if (r->_try.part == ASYNC_HTTP__SEND_TAIL) buf += len, len = r->_try.tail_len;
        /* Woken by the receive, the send still going: it is not to be taken yet. */
        f = r->_try.body_send && !async_done(r->_try.body_send)
                ? r->_try.body_send
                : async_stream_send(&k->s, buf, len, &r->_try.sent, &r->_err);
        r->_try.body_send = NULL;
        if (f && r->_try.part != ASYNC_HTTP__SEND_WHOLE) {
            r->_try.body_send = f;
            return async_http__send_or_answer(r, k, f);
        }
        if (f || r->_err || r->_try.part == ASYNC_HTTP__SEND_WHOLE || r->_try.part == ASYNC_HTTP__SEND_TAIL)
            return f;
        r->_try.part++;
        r->_try.sent = 0;
    }
}

/* What is left of sock_read for the wait for bytes: it counts from when
   the wait began, so a wake that brought none (over TLS, its own messages:
   a ticket, a key update; a record not all in yet) does not start it
   again, as aiohttp's counts from the last data. */
static async_time async_http__read_left(async_http_request *r) {
    async_time limit = r->_client->config.timeout_sock_read, now, spent;
    if (limit <= 0 || limit == ASYNC_NO_TIMEOUT) return limit;
    now = async_loop_time(r->task.loop);
    if (!r->_try.read_since) r->_try.read_since = now;
    spent = now - r->_try.read_since;
    return spent < limit ? limit - spent : 1;
}

static async_future *async_http__recv_step(async_http_request *r) {
    async_http_client *c = r->_client;
    if (r->_try.sending && (r->_err == -EPIPE || r->_err == -ECONNRESET)) {
        /* A server that answers early (a 413 to a long upload) and closes
           makes the send fail; its answer is read all the same, as curl
           and aiohttp do (RFC 9112 9.5). */
        r->_try.send_error = r->_err;
        r->_err = 0;
        /* Nothing more goes out: should the peer still be there, it sees the end and stops waiting. */
        shutdown(async_http__conn_of(r)->s.fd, SHUT_WR);
    }
    r->_try.sending = 0;
    while (!r->_err && !r->_try.done) {
        async_http__conn *k = async_http__conn_of(r);
        size_t n = 0;
        async_future *f = async_stream_recv(&k->s, k->rbuf, c->config.recv_buffer_size, &n, &r->_err);
        if (f) {
            r->_try.phase = ASYNC_HTTP__PHASE_READ;
            return async_http__timed(r, f, async_http__read_left(r));
        }
        r->_try.read_since = 0; /* bytes came: the next wait is a new one */
        if (!r->_err) r->_err = async_http__received(r, k->rbuf, n);
    }
    if (r->_try.send_error) {
        r->_parser.keep_alive = 0; /* the connection is broken */
        if (r->_err && !r->_try.got_bytes) r->_err = r->_try.send_error; /* no answer: the send's failure */
    }
    return NULL;
}

static async_future *async_http__settle_step(async_http_request *r) {
    async_future *f = async_http__dials_settle(r);
    return f || r->_try.conn < 0 ? f : async_stream_settle(&async_http__conn_of(r)->s);
}

// >>conclude
/* What an attempt came to: done, another attempt (a retry, a redirect),
   or the request fails. */
static int async_http__idempotent(const char *m) {
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") || !strcmp(m, "DELETE") ||
           !strcmp(m, "OPTIONS") || !strcmp(m, "TRACE");
}

/* An operation's failure in the client's terms. */
static int async_http__net_error(int err) {
    switch (err) {
    case -ECONNREFUSED: return ASYNC_HTTP_EREFUSED;
    case -ECONNRESET:
    case -EPIPE: return ASYNC_HTTP_ERESET;
    case -EPROTO: return ASYNC_HTTP_ECLOSED; /* bytes before the request: the pooled connection is off, retried */
    default: return err < 0 && err > -4096 ? ASYNC_HTTP_ENETWORK : err;
    }
}

/* What the attempt failed with, 0 if it did not: a cancellation of the
   request (the total timeout is one), one of its own timeouts (the phase
   tells which), or the failure of an operation or of the response. */
static int async_http__outcome(async_http_request *r) {
    int cancelling = async_task_cancelling(&r->task);
    if (cancelling == ASYNC_ETIMEDOUT) return ASYNC_HTTP_ETIMEOUT_TOTAL;
    if (cancelling) return ASYNC_ECANCELED;
    if (r->_err && r->_err == r->_try.user_error) return r->_err; /* on_body's own code, even a timeout's */
    if (r->_err == ASYNC_ETIMEDOUT)
        return r->_try.phase == ASYNC_HTTP__PHASE_CONNECT ? ASYNC_HTTP_ETIMEOUT_CONNECT : ASYNC_HTTP_ETIMEOUT_READ;
    /* The kernel gave up on the SYNs first: the connect timed out all the same. */
    if (r->_err == -ETIMEDOUT && r->_try.phase == ASYNC_HTTP__PHASE_CONNECT && !r->_try.connected)
        return ASYNC_HTTP_ETIMEOUT_CONNECT;
    return async_http__net_error(r->_err);
}

/* A pooled connection the server closed meanwhile shows as a reset or an
   end of stream before any byte of the response. */
static int async_http__may_retry(async_http_request *r, int err) {
    return r->_try.reused && !r->_try.got_bytes && r->_attempts == 0 && async_http__idempotent(r->_method) &&
           (err == ASYNC_HTTP_ERESET || err == ASYNC_HTTP_ECLOSED);
}


/* The response owns all it points to, the request struct none of it, so a
   finished request may be moved: a URL copied into the request itself
   goes beside the head, in the room after it (or on its own if there is
   none; should that fail, it stays where it was). */
static const char *async_http__response_url(async_http_request *r) {
    async_http_parser *p = &r->_parser;
    size_t n;
    if (r->_inputs || r->_url_owned) return r->_url; /* on the heap already */
    n = strlen(r->_url) + 1;
    if (p->head_cap - p->head_len >= n) return (const char *)memcpy(p->head_buf + p->head_len, r->_url, n);
    if ((r->_url_owned = async_http__strndup(r->_client, r->_url, n - 1)) != NULL) r->_url = r->_url_owned;
    return r->_url;
}

static void async_http__finish_response(async_http_request *r) {
    async_http_response *resp = &r->response;
    resp->url = async_http__response_url(r);
    resp->history = r->_history;
    resp->history_len = (size_t)r->_redirects;
    resp->status = r->_parser.status;
    resp->version_minor = r->_parser.version_minor;
    resp->reason = r->_parser.reason;
    resp->reason_len = r->_parser.reason_len;
    resp->headers = r->_parser.headers;
    resp->header_count = r->_parser.trailer_start;
    resp->trailers = r->_parser.headers + r->_parser.trailer_start;
    resp->trailer_count = r->_parser.header_count - r->_parser.trailer_start;
    if (!resp->body) resp->body = (char *)"";
    else resp->body[resp->body_len] = 0;
}

/* The request said "Connection: close": its connection carries nothing after it (RFC 9112 9.6). */
static int async_http__asked_close(const async_http_request *r) {
    const char *v = async_http__user_header(r->_headers, "connection"), *opt, *end;
    size_t len;
    if (!v) return 0;
    end = v + strlen(v);
    while (async_http__list_next(&v, end, &opt, &len))
        if (ASYNC_HTTP__IEQ_LIT(opt, len, "close")) return 1;
    return 0;
}

/* A Location as the server wrote it, made fit for a request line: a space
   or a byte past ASCII is percent-encoded (as curl and yarl do), not
   refused or sent raw. */
static char *async_http__location(async_http_client *c, const char *loc, size_t len) {
    size_t n = async_http__escape(NULL, loc, len);
    char *out = (char *)async_http__alloc(c, NULL, n + 1);
    if (out) {
        async_http__escape(out, loc, len);
        out[n] = 0;
    }
    return out;
}

static int async_http__same_origin(const async_http__url *a, const async_http__url *b) {
    return a->tls == b->tls && a->port == b->port && async_http__ieq(a->host, a->host_len, b->host, b->host_len);
}

/* A redirect to follow (aiohttp's rules): the new URL in place, the method
   and body as the status says, the hop in the history. 1 if followed, 0 if
   the response is the answer, or an error. */
static int async_http__follow(async_http_request *r) {
    async_http_client *c = r->_client;
    int status = r->_parser.status, rc;
    size_t loc_len, n;
    const char *loc = async_http_header_find(r->_parser.headers, r->_parser.trailer_start, "location", &loc_len);
    async_http__url from, to;
    async_http__url_error e;
    char *ref, *target, *keep = NULL;
    const char *frag;
    int limit = c->config.max_redirects < 0 ? 0 : c->config.max_redirects;
    if (!r->_try.drop_body) return 0; /* the head decided (async_http__head): not one to follow */
    if (r->_redirects >= limit) {
        r->error = ASYNC_HTTP_EREDIRECTS;
        async_http__set_detail(r, "more than %d (the last to %.*s)", limit, (int)(loc_len > 80 ? 80 : loc_len), loc);
        return ASYNC_HTTP_EREDIRECTS;
    }
    if (!(ref = async_http__location(c, loc, loc_len))) return ASYNC_HTTP_ENOMEM;
    async_http__url_parse(r->_url, &from, &e); /* it was fetched: it parses */
    /* The fragment never goes out, but the URL keeps it: the Location's, or
       else the one it came from (RFC 9110 10.2.2). */
    if (!(frag = strchr(ref, '#'))) frag = strchr(r->_url, '#');
    n = frag ? strlen(frag) : 0;
    target = (char *)async_http__alloc(c, NULL, async_http__resolve_size(r->_url, &from, ref) + n);
    if (target) {
        async_http__resolve_into(target, r->_url, &from, ref);
        if (n) memcpy(target + strlen(target), frag, n + 1);
    }
    async_http__alloc(c, ref, 0);
    if (!target) return ASYNC_HTTP_ENOMEM;
    if ((rc = async_http__url_parse(target, &to, &e)) != 0) {
        r->error = rc;
        async_http__set_detail(r, "the redirect to %.80s: %s", target, e.why);
        async_http__alloc(c, target, 0);
        return rc;
    }
    /* The hop, for the history: the URL that answered with the redirect. */
    n = (size_t)r->_redirects;
    if (n == r->_history_cap) {
        size_t cap = n ? n * 2 : 4;
        async_http_hop *grown = (async_http_hop *)async_http__alloc(c, r->_history, cap * sizeof *grown);
        if (!grown) {
            async_http__alloc(c, target, 0);
            return ASYNC_HTTP_ENOMEM;
        }
        r->_history = grown;
        r->_history_cap = cap;
    }
    r->_history[n].status = status;
    r->_history[n].url = r->_url_owned ? r->_url_owned : async_http__strndup(c, r->_url, strlen(r->_url));
    r->_url_owned = NULL; /* the hop keeps it */
    if (!r->_history[n].url) {
        async_http__alloc(c, target, 0);
        return ASYNC_HTTP_ENOMEM;
    }
    r->_redirects++;
    /* 303: a GET (a HEAD stays one); 301 and 302: a POST becomes a GET; 307
       and 308 keep the method and the body. */
    if (status == 303 ? !r->_is_head : (status == 301 || status == 302) && !strcmp(r->_method, "POST")) {
        r->_method = "GET";
        r->_body = NULL;
        r->_body_len = 0;
        r->_drop |= ASYNC_HTTP__DROP_BODY;
    }
    if (!async_http__same_origin(&from, &to)) r->_drop |= ASYNC_HTTP__DROP_AUTH;
    else if (!to.userinfo) keep = r->_basic, r->_basic = NULL; /* the origin's credentials go on */
    r->_url = r->_url_owned = target;
    r->_attempts = 0;
    r->info.connected = r->info.tls_done = r->info.first_byte = 0; /* the next hop's own */
    async_http__trace(r, ASYNC_HTTP_TRACE_REDIRECT, target, strlen(target));
    /* The redirect's own body is of no use. */
    if (r->_body_cap) async_http__alloc(c, r->response.body, 0);
    r->_body_cap = 0;
    r->response.body = NULL;
    r->response.body_len = 0;
    rc = async_http__parse_url(r);
    if (keep && !r->_basic) r->_basic = keep;
    else async_http__alloc(c, keep, 0);
    return rc ? rc : 1;
}

static void async_http__release(async_http_request *req);

/* The request fails with err: its detail (the parser's reason and where,
   the stream's, which timeout and its value), and it holds nothing. */

static int async_http__give_up(async_http_request *r, int err, const char *why) {
    const async_http_client_config *cfg = &r->_client->config;
    r->info.done = async_loop_time(r->task.loop);
    r->info.body_bytes = r->_parser.body_bytes;
    int syns = err == ASYNC_HTTP_ETIMEOUT_CONNECT && r->_err == -ETIMEDOUT; /* the kernel's, not ours */
    async_time limit = err == ASYNC_HTTP_ETIMEOUT_CONNECT ? (syns ? 0 : cfg->timeout_connect)
                       : err == ASYNC_HTTP_ETIMEOUT_READ  ? cfg->timeout_sock_read
                       : err == ASYNC_HTTP_ETIMEOUT_TOTAL ? (r->timeout ? r->timeout : cfg->timeout_total)
                                                          : 0;
    async_deadline_stop(&r->_deadline);
    r->error = err;
    if (r->_detail[0]) {
        /* said already (a redirect's) */
    } else if (err == ASYNC_HTTP_EMALFORMED || err == ASYNC_HTTP_EHEADER_TOO_LARGE ||
               (err == ASYNC_HTTP_ECLOSED && r->_parser.offset > 0)) {
        async_http__set_detail(r, "%s at byte %lu", r->_parser.error_reason ? r->_parser.error_reason : "?",
                               (unsigned long)r->_parser.error_offset);
    } else if (err == ASYNC_HTTP_EDECODE) {
        async_http__set_detail(r, "%s", r->_decode_why);
    } else if (err == ASYNC_HTTP_EBODY_TOO_LARGE) {
        char announced[48] = "";
        int64_t length = async_http_parser_body_length(&r->_parser); /* -1: not said */
        if (length > 0) snprintf(announced, sizeof announced, "; it announced %lld", (long long)length);
        async_http__set_detail(r, "over max_body_size (%llu bytes%s): raise it, or take the body in pieces with "
                               "on_body", (unsigned long long)cfg->max_body_size, announced);
    } else if (syns) {
        snprintf(r->_detail, sizeof r->_detail, "timed out connecting%s%s: the kernel gave up (no answer to its SYNs)",
                 why && why[0] ? " to " : "", why ? why : "");
    } else if (limit) { /* which limit, and its value */
        snprintf(r->_detail, sizeof r->_detail, "timed out: the %s timeout (%g s) passed%s",
                 err == ASYNC_HTTP_ETIMEOUT_CONNECT ? "connect" : err == ASYNC_HTTP_ETIMEOUT_READ ? "read" : "total",
                 (double)limit / 1e9, err == ASYNC_HTTP_ETIMEOUT_READ ? " (the server went silent)" : "");
    } else if (why && why[0]) {
        async_http__set_detail(r, "%s", why);
    }
    async_http__release(r); /* a failed request holds nothing */
    return ASYNC_HTTP__FAIL;
}

/* After an attempt: done, another attempt (a retry, a redirect), or the
   request fails. */
static int async_http__conclude(async_http_request *r) {
    int err = async_http__outcome(r);
    char why[sizeof r->_detail];
    if (!err) {
        async_http__give_back(r, r->_parser.keep_alive && !async_http__asked_close(r));
        if ((err = async_http__follow(r)) == 1) return ASYNC_HTTP__RETRY;
        if (err) return async_http__give_up(r, err, NULL);
        async_deadline_stop(&r->_deadline);
        async_http__decoder_free(r);
        async_http__finish_response(r);
        async_http__host_unbind(r);
        r->info.done = async_loop_time(r->task.loop);
        r->info.body_bytes = r->_parser.body_bytes;
        return ASYNC_HTTP__DONE;
    }
    why[0] = 0; /* what the stream knows of its failure (TLS's reason), before it closes */
    if (r->_try.conn >= 0) async_http__copy(why, sizeof why, async_stream_detail(&async_http__conn_of(r)->s));
    /* A pooled connection granted to a request cancelled before it used it
       goes back to the pool, still good. */
    async_http__give_back(r, r->_try.conn >= 0 && !r->_try.touched && async_stream_is_open(&async_http__conn_of(r)->s));
    if (async_http__may_retry(r, err)) {
        r->_attempts++;
        return ASYNC_HTTP__RETRY;
    }
    return async_http__give_up(r, err, why);
}

// >>task
/* The request's coroutine, and the calls that start it. */

/* Await each future a step names until the step is over. One line: the
   portable coroutines allow one await per line. It uses the caller's
   locals f (the future) and r (the request). */
#define ASYNC_HTTP__DRIVE(t, step, err)                                                                          \
    while ((f = step(r)) != NULL) ASYNC_AWAIT_CATCH(t, f, err)

static int async_http__run(async_task *t) {
    async_http_request *r = (async_http_request *)t;
    async_future *f;
    ASYNC_BEGIN(t);
    if ((r->error = async_http__begin(r)) != 0) {
        r->info.done = async_loop_time(t->loop); /* as on every failure: -w's times add up */
        async_http__release(r);
        ASYNC_RAISE(t, r->error);
    }
    for (;;) {
        async_http__begin_attempt(r);
        if (!async_http__take_conn(r)) ASYNC_AWAIT_CATCH(t, &r->_pool_wait, r->_err);
        ASYNC_HTTP__DRIVE(t, async_http__resolve_step, r->_err);
        ASYNC_HTTP__DRIVE(t, async_http__dial_step, r->_err);
        ASYNC_HTTP__DRIVE(t, async_http__tunnel_step, r->_err);
        ASYNC_HTTP__DRIVE(t, async_http__handshake_step, r->_err);
        ASYNC_HTTP__DRIVE(t, async_http__send_step, r->_err);
        ASYNC_HTTP__DRIVE(t, async_http__recv_step, r->_err);
        ASYNC_HTTP__DRIVE(t, async_http__settle_step, r->_settle_err);
        switch (async_http__conclude(r)) {
        case ASYNC_HTTP__DONE: ASYNC_RETURN(t, r->response.status);
        case ASYNC_HTTP__FAIL: ASYNC_RAISE(t, r->error);
        default: break; /* another attempt */
        }
    }
    ASYNC_END(t);
}

/* The request's own copy of what it was asked: the method, the URL and the
   header lines, in one block (a redirect may replace the URL): inside the
   request when they fit, as they mostly do. */
static int async_http__copy_inputs(async_http_request *r, const async_http_request_desc *d) {
    const char *method = d->method ? d->method : "GET";
    size_t n = 0, i, size, ml = strlen(method) + 1, ul = strlen(d->url) + 1;
    const char **lines;
    char *p;
    while (d->headers && d->headers[n]) n++;
    size = (n + 1) * sizeof(char *) + ml + ul;
    for (i = 0; i < n; i++) size += strlen(d->headers[i]) + 1;
    if (size <= sizeof r->_inline.bytes) p = r->_inline.bytes;
    else if (!(p = r->_inputs = (char *)async_http__alloc(r->_client, NULL, size))) return ASYNC_HTTP_ENOMEM;
    lines = (const char **)(void *)p;
    p += (n + 1) * sizeof(char *);
    r->_url = p;
    memcpy(p, d->url, ul);
    p += ul;
    r->_method = p;
    memcpy(p, method, ml);
    p += ml;
    for (i = 0; i < n; i++) {
        size_t len = strlen(d->headers[i]) + 1;
        lines[i] = p;
        memcpy(p, d->headers[i], len);
        p += len;
    }
    lines[n] = NULL;
    r->_headers = lines;
    return 0;
}

/* The request's task ended, whichever way (even cancelled before it ran):
   the client forgets it. */
static void async_http__ended(async_waiter *w, async_future *task) {
    async_http_request *r = ASYNC_HTTP__CONTAINER(task, async_http_request, task.future);
    async_http_client *c = r->_client;
    (void)w;
    if (r->_live_prev) r->_live_prev->_live_next = r->_live_next;
    else c->_live = r->_live_next;
    if (r->_live_next) r->_live_next->_live_prev = r->_live_prev;
    r->_live_prev = r->_live_next = NULL;
    /* One cancelled before it first ran never gave back what the start
       took (big inputs' copy): a failed request holds nothing. */
    if (async_error(task)) async_http__release(r);
}

enum { ASYNC_HTTP__DESC_HEADERS = 1, ASYNC_HTTP__DESC_BODY = 2, ASYNC_HTTP__DESC_REST = 4 /* timeout, on_body, user */ };

static async_future *async_http__start(async_http_client *c, async_http_request *req,
                                       const async_http_request_desc *desc) {
    async_future *f;
    /* (A request needs no zeroing: only one of this client's still pending
       can have its client and a pending task here.) */
    if (ASYNC_DEBUG && req->_client == c && req->task.future.state == ASYNC_PENDING &&
        (req->_live_prev ? req->_live_prev->_live_next == req : c->_live == req))
        async__misuse("a request started again while it runs (await or cancel it first, or use another)",
                     c->io->loop->running);
    ASYNC_HTTP__SCRIBBLE(req, sizeof *req);
    memset(req, 0, offsetof(async_http_request, _dials)); /* the cold part is set where it is used */
    req->_decode_why[0] = req->_detail[0] = 0;
    req->_client = c;
    req->_try.conn = -1;
    req->_method = "GET";
    req->headers = desc->headers;
    req->body = desc->body;
    req->body_len = desc->body_len;
    req->timeout = desc->timeout;
    req->on_body = desc->on_body;
    req->user = desc->user;
    req->_err = desc->url ? async_http__copy_inputs(req, desc) : ASYNC_HTTP_EURL;
    req->_is_head = !strcmp(req->_method, "HEAD");
    f = async_create_task(c->io->loop, &req->task, async_http__run);
    req->_live_next = c->_live;
    if (c->_live) c->_live->_live_prev = req;
    c->_live = req;
    req->_ended.wake = async_http__ended;
    async_future_add_waiter(f, &req->_ended);
    return f;
}

async_future *async_http_start(async_http_client *c, async_http_request *req, const async_http_request_desc *desc) {
    async_future *f = async_http__start(c, req, desc);
    /* The desc may go now: the fields point at the request's own copy, or
       at the body that stays put until the request is done, and release
       clears them (a later async_http_get on this struct reads none of it). */
    req->headers = req->_headers;
    req->_desc_inputs = ASYNC_HTTP__DESC_HEADERS | ASYNC_HTTP__DESC_BODY | ASYNC_HTTP__DESC_REST;
    return f;
}

async_future *async_http_fetch(async_http_client *c, async_http_request *req, const char *method, const char *url) {
    async_http_request_desc d;
    memset(&d, 0, sizeof d);
    d.method = method;
    d.url = url;
    d.headers = req->headers;
    d.body = req->body;
    d.body_len = req->body_len;
    d.timeout = req->timeout;
    d.on_body = req->on_body;
    d.user = req->user;
    return async_http__start(c, req, &d);
}

async_future *async_http_get(async_http_client *c, async_http_request *req, const char *url) {
    return async_http_fetch(c, req, "GET", url);
}

async_future *async_http_head(async_http_client *c, async_http_request *req, const char *url) {
    return async_http_fetch(c, req, "HEAD", url);
}

async_future *async_http_post(async_http_client *c, async_http_request *req, const char *url, const void *body,
                              size_t len) {
    async_future *f;
    req->body = body;
    req->body_len = len;
    f = async_http_fetch(c, req, "POST", url);
    req->_desc_inputs = ASYNC_HTTP__DESC_BODY; /* the call's, not the fields' */
    return f;
}

async_future *async_http_put(async_http_client *c, async_http_request *req, const char *url, const void *body,
                             size_t len) {
    async_future *f;
    req->body = body;
    req->body_len = len;
    f = async_http_fetch(c, req, "PUT", url);
    req->_desc_inputs = ASYNC_HTTP__DESC_BODY;
    return f;
}

async_future *async_http_delete(async_http_client *c, async_http_request *req, const char *url) {
    return async_http_fetch(c, req, "DELETE", url);
}

const char *async_http_response_header(const async_http_response *r, const char *name, size_t *len) {
    return async_http_header_find(r->headers, r->header_count, name, len);
}

const char *async_http_request_error(const async_http_request *req) {
    int err = async_error(&req->task.future);
    if (req->_detail[0]) return req->_detail;
    return async_strerror(err ? err : req->error);
}

int async_http_request_head(const async_http_request *req, int *status, const async_http_header **headers,
                            size_t *count) {
    const async_http_parser *p = &req->_parser;
    if (!req->_head_mem || !p->status) return -1; /* released, or no head yet in this attempt */
    if (status) *status = p->status;
    if (headers) *headers = p->headers;
    if (count) *count = p->head_done ? p->trailer_start : p->header_count; /* trailers are not the head's */
    return 0;
}

static void async_http__release(async_http_request *req) {
    async_http_client *c = req->_client;
    if (!c) return;
    async_http__host_unbind(req);
    async_http__decoder_free(req);
    if (req->_body_cap) async_http__alloc(c, req->response.body, 0);
    async_http__block_give(c, req->_head_mem);
    async_http__alloc(c, req->_inputs, 0);
    async_http__alloc(c, req->_url_owned, 0);
    async_http__alloc(c, req->_basic, 0);
    req->_basic = NULL;
    while (req->_redirects > 0) async_http__alloc(c, (void *)(uintptr_t)req->_history[--req->_redirects].url, 0);
    async_http__alloc(c, req->_history, 0);
    req->_inputs = req->_url_owned = NULL;
    req->_url = NULL;
    req->_headers = NULL;
    req->_head_mem = NULL;
    req->_history = NULL;
    req->_body_cap = req->_history_cap = 0;
    memset(&req->response, 0, sizeof req->response);
    if (req->_desc_inputs & ASYNC_HTTP__DESC_HEADERS) req->headers = NULL; /* the desc's, not the user's */
    if (req->_desc_inputs & ASYNC_HTTP__DESC_BODY) req->body = NULL, req->body_len = 0;
    req->_desc_inputs &= ASYNC_HTTP__DESC_REST; /* the user's release clears those (user stays readable till then) */
}

void async_http_request_release(async_http_request *req) {
    /* Its parser and its connection would go on writing into what this frees. */
    if (ASYNC_DEBUG && req->_client && !async_done(&req->task.future))
        async__misuse("async_http_request_release: the request still runs (cancel it, await it, then release)",
                     NULL);
    async_http__release(req);
    if (req->_desc_inputs & ASYNC_HTTP__DESC_REST) req->timeout = 0, req->on_body = NULL, req->user = NULL;
    req->_desc_inputs = 0;
}
#endif /* ASYNC_HTTP_PARSER_ONLY */

#endif /* ASYNC_HTTP__IMPLEMENTED */
#endif /* ASYNC_HTTP_IMPLEMENTATION */

// >>license
/*
   MIT License

   Copyright (c) 2026 the async.h authors

   Permission is hereby granted, free of charge, to any person obtaining a copy
   of this software and associated documentation files (the "Software"), to deal
   in the Software without restriction, including without limitation the rights
   to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
   copies of the Software, and to permit persons to whom the Software is
   furnished to do so, subject to the following conditions:

   The above copyright notice and this permission notice shall be included in all
   copies or substantial portions of the Software.

   THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
   IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
   FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
   AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
   LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
   OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
   SOFTWARE.
*/
