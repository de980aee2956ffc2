/* test_workers.c - what crosses threads: async_io_to_thread (the worker pool) and async_io_post
 * (call_soon_threadsafe), on the backend ASYNC_IO_BACKEND names; and four loops on four threads
 * fetching from one nginx. Built with ASan+UBSan and with ThreadSanitizer by `make test`.
 *
 * Nothing here calls CHECK off the main thread (test.h's counters are not thread-safe): jobs and
 * threads record what they saw, under a lock, and the main thread checks it. */
#define _GNU_SOURCE
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"
#include "test.h"
#include "net.h"

#include <errno.h>
#include <poll.h>

/* ------------------------------------------------------------------ */
/* tools                                                               */

/* Threads of this process now. */
static int count_threads(void) {
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* A gate that jobs wait at until the test opens it (or ms pass: a bug shows as a failed
   check, not a hung test). */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int open;
} gate;

static void gate_init(gate *g) {
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->open = 0;
}

static void gate_open(gate *g) {
    pthread_mutex_lock(&g->lock);
    g->open = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* 1 if it opened within ms. */
static int gate_wait(gate *g, int ms) {
    struct timespec until;
    int rc = 0, open;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
    pthread_mutex_lock(&g->lock);
    while (!g->open && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&g->cond, &g->lock, &until);
    open = g->open;
    pthread_mutex_unlock(&g->lock);
    return open;
}

static void gate_destroy(gate *g) {
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
}

/* What the jobs saw, under one lock: how many ran at once, and which. */
static struct {
    pthread_mutex_t lock;
    int running, max_running, runs, finished;
    int ran[64];     /* by job id: fn began */
    int done[64];    /* by job id: fn returned */
    int let_in[64];  /* by job id: its gate opened for it (it did not give up waiting) */
    int off_loop;    /* jobs that ran on a thread other than the loop's */
    pthread_t loop_thread;
    pthread_cond_t more_running; /* signalled as max_running grows */
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER, .more_running = PTHREAD_COND_INITIALIZER};

static void seen_reset(void) {
    pthread_mutex_lock(&seen.lock);
    seen.running = seen.max_running = seen.runs = seen.finished = seen.off_loop = 0;
    memset(seen.ran, 0, sizeof seen.ran);
    memset(seen.done, 0, sizeof seen.done);
    memset(seen.let_in, 0, sizeof seen.let_in);
    seen.loop_thread = pthread_self();
    pthread_mutex_unlock(&seen.lock);
}

static int seen_get(const int *field) {
    int v;
    pthread_mutex_lock(&seen.lock);
    v = *field;
    pthread_mutex_unlock(&seen.lock);
    return v;
}

typedef struct job {
    async_work w;
    int id;
    int sleep_ms; /* what fn does: sleep, or wait at the gate */
    int meet;     /* > 0: first wait (up to 2 s) until this many jobs have run at once */
    gate *gate;
    intptr_t answer; /* fn's result, or with fail its error */
    int fail;
} job;

static void job_fn(async_work *w) {
    job *j = (job *)w->arg;
    pthread_mutex_lock(&seen.lock);
    seen.runs++;
    seen.ran[j->id] = 1;
    if (!pthread_equal(pthread_self(), seen.loop_thread)) seen.off_loop++;
    if (++seen.running > seen.max_running) seen.max_running = seen.running;
    pthread_cond_broadcast(&seen.more_running);
    if (j->meet) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 2;
        while (seen.max_running < j->meet && pthread_cond_timedwait(&seen.more_running, &seen.lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&seen.lock);
    if (j->gate && gate_wait(j->gate, 2000)) {
        pthread_mutex_lock(&seen.lock);
        seen.let_in[j->id] = 1;
        pthread_mutex_unlock(&seen.lock);
    }
    if (j->sleep_ms) msleep(j->sleep_ms);
    if (j->fail) w->error = (int)j->answer;
    else w->result = j->answer;
    pthread_mutex_lock(&seen.lock);
    seen.running--;
    seen.finished++;
    seen.done[j->id] = 1;
    pthread_mutex_unlock(&seen.lock);
}

/* One loop and one io on the backend the environment names. */
typedef struct rig {
    async_loop loop;
    async_io io;
} rig;

static int rig_init(rig *r, unsigned max_workers) {
    async_io_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_workers = max_workers;
    async_loop_init(&r->loop, NULL);
    if (async_io_init(&r->io, &r->loop, &cfg)) {
        fprintf(stderr, "async_io_init: %s\n", async_io_error(&r->io));
        return -1;
    }
    return 0;
}

/* A task awaiting one future (with a timeout if `timeout`), catching what it ends with. */
typedef struct awaiter {
    async_task task;
    async_future *f;
    async_time timeout;
    async_wait_for_op wf;
    int err;
} awaiter;

static int awaiter_run(async_task *t) {
    awaiter *a = (awaiter *)t;
    ASYNC_BEGIN(t);
    if (a->timeout) {
        ASYNC_AWAIT_CATCH(t, async_wait_for(t->loop, &a->wf, a->f, a->timeout), a->err);
    } else {
        ASYNC_AWAIT_CATCH(t, a->f, a->err);
    }
    ASYNC_END(t);
}

static void awaiter_start(async_loop *loop, awaiter *a, async_future *f, async_time timeout) {
    memset(a, 0, sizeof *a);
    a->f = f;
    a->timeout = timeout;
    async_create_task(loop, &a->task, awaiter_run);
}

/* async_run, but a bug that would leave the loop waiting forever fails the test's checks in
   5 s, before test.h's watchdog ends the run (the future is cancelled, ASYNC_ETIMEDOUT). */
static int run_within(async_loop *loop, async_future *f) {
    awaiter a;
    awaiter_start(loop, &a, f, ASYNC_SEC(5));
    async_run(loop, &a.task.future);
    return a.err;
}

/* release: counts, and completes a future the test awaits. */
static int releases;
static async_future released;

static void count_release(async_work *w) {
    (void)w;
    releases++;
    if (!async_done(&released)) async_future_set_result(&released, releases);
}

/* ThreadSanitizer: liburing maps and unmaps its rings with raw syscalls, which the tool does
   not see, so a ring mapped where another thread's ring was looks like that thread's memory
   (a write to an SQE "races" with the dead thread's). Each ring is used by its own thread
   only (IORING_SETUP_SINGLE_ISSUER), so liburing's inline code is left out of the reports. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void) { return "race:liburing.h\n"; }

/* pthread_create as the library sees it (the build links with --wrap=pthread_create): it
   fails with EAGAIN while refuse_threads is set, as under a pids limit. */
static int refuse_threads; /* under refuse_lock: a server's thread starts threads too */
static pthread_mutex_t refuse_lock = PTHREAD_MUTEX_INITIALIZER;
int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg) {
    int refuse;
    pthread_mutex_lock(&refuse_lock);
    refuse = refuse_threads;
    pthread_mutex_unlock(&refuse_lock);
    return refuse ? EAGAIN : __real_pthread_create(t, a, fn, arg);
}

static void set_refuse_threads(int refuse) {
    pthread_mutex_lock(&refuse_lock);
    refuse_threads = refuse;
    pthread_mutex_unlock(&refuse_lock);
}

/* A resolver that answers 127.0.0.1 for every name, on the worker that runs it. */
static int loopback_resolve(void *user, const char *name, struct sockaddr_storage *addrs, size_t max,
                            size_t *count) {
    struct sockaddr_in *in = (struct sockaddr_in *)&addrs[0];
    (void)user, (void)name, (void)max;
    memset(in, 0, sizeof *in);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *count = 1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* to_thread                                                           */

TEST(test_results_delivered) {
    rig r;
    job a, b;
    awaiter wa, wb;
    int fds = count_fds();
    seen_reset();
    CHECK_EQ(rig_init(&r, 0), 0);
    memset(&a, 0, sizeof a), memset(&b, 0, sizeof b);
    a.id = 1, a.answer = 4242;
    b.id = 2, b.answer = -4321, b.fail = 1;
    awaiter_start(&r.loop, &wa, async_io_to_thread(&r.io, &a.w, job_fn, &a), 0);
    awaiter_start(&r.loop, &wb, async_io_to_thread(&r.io, &b.w, job_fn, &b), 0);
    CHECK_EQ(async_io_work_held(&a.w), 1);
    CHECK_EQ(run_within(&r.loop, &wa.task.future), 0);
    CHECK_EQ(run_within(&r.loop, &wb.task.future), 0);
    CHECK_EQ(wa.err, 0);
    CHECK_EQ(async_result(&a.w.future), 4242);
    CHECK_EQ(wb.err, -4321);
    CHECK_EQ(async_error(&b.w.future), -4321);
    CHECK_EQ(seen_get(&seen.off_loop), 2);
    CHECK_EQ(async_io_work_held(&a.w), 0);
    CHECK_EQ(async_io_work_held(&b.w), 0);
    CHECK_EQ(r.io.inflight, 0);
    async_io_exit(&r.io);
    CHECK_EQ(count_fds(), fds); /* the eventfd went with the io */
}

/* No thread before the first job; one for it; none after async_io_exit. */
TEST(test_workers_start_lazily) {
    rig r;
    job j;
    int before = count_threads();
    seen_reset();
    CHECK_EQ(rig_init(&r, 4), 0);
    CHECK_EQ(count_threads(), before);
    memset(&j, 0, sizeof j);
    j.answer = 7;
    CHECK_EQ(run_within(&r.loop, async_io_to_thread(&r.io, &j.w, job_fn, &j)), 0);
    CHECK_EQ(async_result(&j.w.future), 7);
    CHECK_EQ(count_threads(), before + 1);
    async_io_exit(&r.io);
    CHECK_EQ(count_threads(), before);
}

/* No worker thread can start: a job fails at once with the errno and never runs; a request
   whose host needs a lookup fails with a message that says why, not "name not found"; and
   once threads start again, the same client looks the name up and fetches. */
TEST(test_no_thread_can_start) {
    rig r;
    job j;
    server s;
    async_http_client c;
    async_http_client_config cfg;
    async_http_request req;
    char url[64];
    int before;
    seen_reset();
    server_start(&s, play_capture); /* its thread first */
    before = count_threads();
    CHECK_EQ(rig_init(&r, 4), 0);
    set_refuse_threads(1);
    memset(&j, 0, sizeof j);
    j.answer = 7;
    {
        async_future *f = async_io_to_thread(&r.io, &j.w, job_fn, &j);
        CHECK(async_done(f));
        CHECK_EQ(async_error(f), -EAGAIN);
    }
    CHECK_EQ(async_io_work_held(&j.w), 0);
    CHECK_EQ(r.io.inflight, 0);
    memset(&cfg, 0, sizeof cfg);
    cfg.resolver = loopback_resolve;
    CHECK_EQ(async_http_client_init(&c, &r.io, &cfg), 0);
    snprintf(url, sizeof url, "http://name.test:%d/", s.port);
    CHECK_EQ(fetch_new(&c, &req, "GET", url, 0), ASYNC_HTTP_ENETWORK);
    CHECK(strstr(async_http_request_error(&req), "no worker thread could start to look up name.test") != NULL);
    async_http_request_release(&req);
    set_refuse_threads(0);
    CHECK_EQ(fetch_new(&c, &req, "GET", url, 0), 0);
    CHECK_EQ(req.response.status, 200);
    async_http_request_release(&req);
    CHECK_EQ(server_received(&s), 1);
    CHECK_EQ(seen_get(&seen.runs), 0);
    async_http_client_close(&c);
    async_io_flush(&r.io);
    async_io_exit(&r.io);
    WAIT_UNTIL(count_threads() == before, 2000); /* the server's thread for the connection ends too */
    CHECK_EQ(count_threads(), before);
    server_stop(&s);
}

/* Many more jobs than workers: never more than the cap at once, and the cap is reached; every
   result arrives; the threads are the cap's number. cap 0 means 16. */
static void many_jobs(unsigned cap, unsigned expect) {
    enum { N = 40 };
    rig r;
    job *jobs = (job *)calloc(N, sizeof *jobs);
    async_future *futs[N];
    async_link links[N];
    async_gather_op g;
    int i, before = count_threads(), right = 0;
    seen_reset();
    CHECK_EQ(rig_init(&r, cap), 0);
    for (i = 0; i < N; i++) { /* the first `expect` meet, however slowly threads start */
        jobs[i].id = i;
        jobs[i].meet = (int)expect;
        jobs[i].sleep_ms = 5;
        jobs[i].answer = 1000 + i;
        futs[i] = async_io_to_thread(&r.io, &jobs[i].w, job_fn, &jobs[i]);
    }
    CHECK_EQ(run_within(&r.loop, async_gather(&g, futs, links, N, 0)), 0);
    for (i = 0; i < N; i++) right += async_result(futs[i]) == 1000 + i;
    CHECK_EQ(right, N);
    CHECK_EQ(seen_get(&seen.runs), N);
    CHECK_EQ(seen_get(&seen.max_running), (int)expect);
    CHECK_EQ(count_threads(), before + (int)expect);
    async_io_exit(&r.io);
    free(jobs);
}

TEST(test_cap_holds) {
    many_jobs(3, 3);
    many_jobs(0, 16); /* the default */
}

/* A cancelled await completes at once while fn runs on; the pool holds the work until fn
   returns, then calls release (which frees it: ASan sees any later touch); fn's result is
   dropped. */
TEST(test_cancel_while_running) {
    rig r;
    gate g;
    job *j = (job *)calloc(1, sizeof *j);
    awaiter a;
    seen_reset();
    gate_init(&g);
    releases = 0;
    async_future_init(&released);
    CHECK_EQ(rig_init(&r, 2), 0);
    j->id = 5, j->gate = &g, j->answer = 99;
    j->w.release = count_release;
    awaiter_start(&r.loop, &a, async_io_to_thread(&r.io, &j->w, job_fn, j), ASYNC_MS(30));
    CHECK_EQ(run_within(&r.loop, &a.task.future), 0);
    CHECK_EQ(a.err, ASYNC_ETIMEDOUT);
    CHECK(async_cancelled(&j->w.future));
    CHECK_EQ(seen_get(&seen.ran[5]), 1);
    CHECK_EQ(seen_get(&seen.done[5]), 0); /* fn runs on: the await ended at its timeout, not with fn */
    CHECK_EQ(async_io_work_held(&j->w), 1);
    CHECK_EQ(releases, 0);
    CHECK_EQ(r.io.inflight, 1); /* it still counts */
    gate_open(&g);
    /* The loop waits for the release (the job keeps it from deadlock), which frees j. */
    CHECK_EQ(run_within(&r.loop, &released), 0);
    CHECK_EQ(releases, 1);
    CHECK_EQ(seen_get(&seen.done[5]), 1);
    CHECK_EQ(r.io.inflight, 0);
    free(j); /* the pool let go */
    async_io_exit(&r.io);
    gate_destroy(&g);
}

/* The release above only counts; the memory goes here, on the loop thread, once the pool let
   go: free from release itself, the way a caller would. */
static void free_release(async_work *w) {
    releases++;
    free(w->arg);
}

TEST(test_release_may_free) {
    rig r;
    gate g;
    job *j = (job *)calloc(1, sizeof *j);
    awaiter a;
    seen_reset();
    gate_init(&g);
    releases = 0;
    CHECK_EQ(rig_init(&r, 1), 0);
    j->id = 6, j->gate = &g, j->answer = 1;
    j->w.release = free_release;
    awaiter_start(&r.loop, &a, async_io_to_thread(&r.io, &j->w, job_fn, j), ASYNC_MS(10));
    CHECK_EQ(run_within(&r.loop, &a.task.future), 0);
    CHECK_EQ(a.err, ASYNC_ETIMEDOUT);
    CHECK_EQ(releases, 0);
    gate_open(&g);
    /* async_io_exit waits for fn, then releases (frees) the job: no leak, no late touch. */
    async_io_exit(&r.io);
    CHECK_EQ(releases, 1);
    CHECK_EQ(seen_get(&seen.done[6]), 1);
    gate_destroy(&g);
}

/* A job still queued when its await is cancelled never runs; the queue goes on. */
TEST(test_cancel_queued_never_runs) {
    rig r;
    gate g;
    job first, second, third;
    seen_reset();
    gate_init(&g);
    releases = 0;
    async_future_init(&released);
    CHECK_EQ(rig_init(&r, 1), 0);
    memset(&first, 0, sizeof first), memset(&second, 0, sizeof second), memset(&third, 0, sizeof third);
    first.id = 1, first.gate = &g, first.answer = 1;
    second.id = 2, second.answer = 2, second.w.release = count_release;
    third.id = 3, third.answer = 3;
    async_io_to_thread(&r.io, &first.w, job_fn, &first);
    async_io_to_thread(&r.io, &second.w, job_fn, &second);
    async_io_to_thread(&r.io, &third.w, job_fn, &third);
    while (!seen_get(&seen.ran[1])) msleep(1); /* the only worker is busy with the first */
    CHECK_EQ(async_future_cancel(&second.w.future), 1);
    CHECK(async_cancelled(&second.w.future));
    CHECK_EQ(releases, 1); /* let go inside the cancel */
    CHECK_EQ(async_io_work_held(&second.w), 0);
    gate_open(&g);
    CHECK_EQ(run_within(&r.loop, &third.w.future), 0);
    CHECK_EQ(async_result(&first.w.future), 1);
    CHECK_EQ(async_result(&third.w.future), 3);
    CHECK_EQ(seen_get(&seen.ran[2]), 0);
    CHECK_EQ(seen_get(&seen.runs), 2);
    CHECK_EQ(releases, 1);
    CHECK_EQ(r.io.inflight, 0);
    async_io_exit(&r.io);
    gate_destroy(&g);
}

/* async_io_exit with one job running and two queued: it waits for the running one, completes
   its future with its result, cancels the queued ones (they never run), releases all three. */
typedef struct opener {
    gate *g;
    int ms;
} opener;

static void *open_later(void *p) {
    opener *o = (opener *)p;
    msleep(o->ms);
    gate_open(o->g);
    return NULL;
}

TEST(test_exit_with_work) {
    rig r;
    gate g;
    job jobs[3];
    opener o;
    pthread_t t;
    int i, before = count_threads();
    seen_reset();
    gate_init(&g);
    releases = 0;
    async_future_init(&released);
    CHECK_EQ(rig_init(&r, 1), 0);
    memset(jobs, 0, sizeof jobs);
    jobs[0].gate = &g;
    for (i = 0; i < 3; i++) {
        jobs[i].id = i;
        jobs[i].answer = 10 + i;
        jobs[i].w.release = count_release;
        async_io_to_thread(&r.io, &jobs[i].w, job_fn, &jobs[i]);
    }
    while (!seen_get(&seen.ran[0])) msleep(1);
    o.g = &g, o.ms = 100;
    pthread_create(&t, NULL, open_later, &o);
    async_io_exit(&r.io);
    CHECK_EQ(seen_get(&seen.done[0]), 1); /* it waited for fn, */
    CHECK_EQ(seen_get(&seen.let_in[0]), 1); /* at the gate until the opener came */
    CHECK_EQ(async_result(&jobs[0].w.future), 10);
    CHECK(async_cancelled(&jobs[1].w.future));
    CHECK(async_cancelled(&jobs[2].w.future));
    CHECK_EQ(seen_get(&seen.runs), 1);
    CHECK_EQ(releases, 3);
    for (i = 0; i < 3; i++) CHECK_EQ(async_io_work_held(&jobs[i].w), 0);
    pthread_join(t, NULL);
    CHECK_EQ(count_threads(), before); /* the worker was joined */
    gate_destroy(&g);
}

/* A task awaiting only a worker is not a deadlock; a loop with nothing in flight is, at once,
   idle workers and the armed wake-up notwithstanding. */
typedef struct rescuer {
    async_io *io;
    gate quit;
    async_io_callback cb;
    async_future *f;
} rescuer;

static void rescue(void *p) { async_future_set_result((async_future *)p, 1); }

/* If the loop has not given up within 1 s, completes the future from outside: a loop that
   waited would then say 0, not EDEADLK. */
static void *rescuer_run(void *p) {
    rescuer *r = (rescuer *)p;
    if (!gate_wait(&r->quit, 1000)) async_io_post(r->io, &r->cb, rescue, r->f);
    return NULL;
}

TEST(test_deadlock_rule) {
    rig r;
    job j;
    async_future never;
    rescuer res;
    pthread_t t;
    seen_reset();
    CHECK_EQ(rig_init(&r, 2), 0);
    memset(&j, 0, sizeof j);
    j.sleep_ms = 100, j.answer = 5;
    CHECK_EQ(run_within(&r.loop, async_io_to_thread(&r.io, &j.w, job_fn, &j)), 0);
    CHECK_EQ(async_result(&j.w.future), 5);
    /* Idle workers now exist; the eventfd read is armed. */
    async_future_init(&never);
    memset(&res, 0, sizeof res);
    res.io = &r.io, res.f = &never;
    gate_init(&res.quit);
    pthread_create(&t, NULL, rescuer_run, &res);
    CHECK_EQ(async_run(&r.loop, &never), ASYNC_EDEADLK); /* at once: not rescued after 1 s */
    gate_open(&res.quit);
    pthread_join(t, NULL);
    gate_destroy(&res.quit);
    async_io_exit(&r.io);
}

/* fn blocks until a sleep on the loop has ended and opened its gate: were the loop
   blocked while fn runs, fn would wait for the gate to give up (2 s) and end first. */
typedef struct sleeper {
    async_task task;
    async_timer timer;
    gate *opens;
    int fn_done_at_wake;
} sleeper;

static int sleeper_run(async_task *t) {
    sleeper *s = (sleeper *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_sleep(t->loop, &s->timer, ASYNC_MS(50)));
    s->fn_done_at_wake = seen_get(&seen.done[0]);
    gate_open(s->opens);
    ASYNC_END(t);
}

TEST(test_loop_runs_while_fn_blocks) {
    rig r;
    job j;
    sleeper s;
    gate g;
    awaiter a;
    async_future *futs[2];
    async_link links[2];
    async_gather_op gather;
    seen_reset();
    gate_init(&g);
    CHECK_EQ(rig_init(&r, 1), 0);
    memset(&j, 0, sizeof j), memset(&s, 0, sizeof s);
    j.gate = &g, j.answer = 1;
    s.opens = &g;
    awaiter_start(&r.loop, &a, async_io_to_thread(&r.io, &j.w, job_fn, &j), 0);
    futs[0] = &a.task.future;
    futs[1] = async_create_task(&r.loop, &s.task, sleeper_run);
    CHECK_EQ(run_within(&r.loop, async_gather(&gather, futs, links, 2, 0)), 0);
    CHECK_EQ(s.fn_done_at_wake, 0); /* the sleep ended while fn blocked, */
    CHECK_EQ(seen_get(&seen.let_in[0]), 1); /* and let it go */
    CHECK_EQ(a.err, 0);
    CHECK_EQ(async_result(&j.w.future), 1);
    async_io_exit(&r.io);
    gate_destroy(&g);
}

/* ------------------------------------------------------------------ */
/* post                                                                */

#define POSTERS 4
#define POSTS 5000

typedef struct post_rec {
    async_io_callback cb;
    int thread, seq, runs;
} post_rec;

static struct {
    post_rec recs[POSTERS][POSTS];
    int next[POSTERS]; /* the loop's: the seq each poster's next callback must have */
    int total, out_of_order, off_loop;
    pthread_t loop_thread;
    async_future all_done;
    async_io *io;
    gate go;
} posts;

static void on_post(void *p) {
    post_rec *r = (post_rec *)p;
    r->runs++;
    if (!pthread_equal(pthread_self(), posts.loop_thread)) posts.off_loop++;
    if (r->seq != posts.next[r->thread]) posts.out_of_order++;
    posts.next[r->thread] = r->seq + 1;
    if (++posts.total == POSTERS * POSTS) async_future_set_result(&posts.all_done, 1);
}

static void *poster(void *p) {
    int t = (int)(intptr_t)p, i;
    gate_wait(&posts.go, 5000); /* all start together */
    for (i = 0; i < POSTS; i++) {
        post_rec *r = &posts.recs[t][i];
        r->thread = t, r->seq = i;
        async_io_post(posts.io, &r->cb, on_post, r);
        if ((i & 1023) == 0) sched_yield();
    }
    return NULL;
}

TEST(test_post_from_many_threads) {
    rig r;
    pthread_t threads[POSTERS];
    int i, k, once = 0;
    CHECK_EQ(rig_init(&r, 0), 0);
    memset(&posts, 0, sizeof posts);
    posts.loop_thread = pthread_self();
    posts.io = &r.io;
    async_future_init(&posts.all_done);
    gate_init(&posts.go);
    async_io_ref(&r.io); /* the loop must wait for what only these threads will post */
    for (i = 0; i < POSTERS; i++) pthread_create(&threads[i], NULL, poster, (void *)(intptr_t)i);
    gate_open(&posts.go);
    CHECK_EQ(run_within(&r.loop, &posts.all_done), 0);
    async_io_unref(&r.io);
    for (i = 0; i < POSTERS; i++) pthread_join(threads[i], NULL);
    CHECK_EQ(posts.total, POSTERS * POSTS);
    for (i = 0; i < POSTERS; i++)
        for (k = 0; k < POSTS; k++) once += posts.recs[i][k].runs == 1;
    CHECK_EQ(once, POSTERS * POSTS);
    CHECK_EQ(posts.out_of_order, 0);
    CHECK_EQ(posts.off_loop, 0);
    CHECK_EQ(r.io.inflight, 0);
    gate_destroy(&posts.go);
    async_io_exit(&r.io);
}

/* A burst of posts while the loop is elsewhere writes the eventfd once: its counter is 1.
   Peeks at the private eventfd before the loop first polls (on io_uring its read is not
   submitted yet), and puts back what it took. */
static void nop(void *p) { ++*(int *)p; }

TEST(test_post_coalesces) {
    rig r;
    async_io_callback cbs[100];
    int i, ran = 0;
    uint64_t count = 0;
    struct pollfd pfd;
    CHECK_EQ(rig_init(&r, 0), 0);
    for (i = 0; i < 100; i++) async_io_post(&r.io, &cbs[i], nop, &ran);
    CHECK_EQ(ran, 0);
    pfd.fd = r.io._wake_fd, pfd.events = POLLIN, pfd.revents = 0;
    if (poll(&pfd, 1, 0) == 1) {
        CHECK_EQ(read(r.io._wake_fd, &count, sizeof count), (ssize_t)sizeof count);
        if (write(r.io._wake_fd, &count, sizeof count) != (ssize_t)sizeof count) CHECK(0);
    }
    CHECK_EQ(count, 1);
    /* And all of them run, once, in one go. */
    for (i = 0; i < 10 && ran < 100; i++) r.loop.poll(r.loop.backend, ASYNC_MS(10));
    CHECK_EQ(ran, 100);
    async_io_exit(&r.io);
}

/* Posted, then async_io_exit before the loop ran them: exit runs them, on its thread. */
TEST(test_exit_runs_posted) {
    rig r;
    async_io_callback cbs[3];
    int i, ran = 0;
    CHECK_EQ(rig_init(&r, 0), 0);
    for (i = 0; i < 3; i++) async_io_post(&r.io, &cbs[i], nop, &ran);
    async_io_exit(&r.io);
    CHECK_EQ(ran, 3);
}

/* ------------------------------------------------------------------ */
/* four loops on four threads, one nginx                               */

#define LOOPS 4
#define FETCHES 60

static char bodies[LOOPS][3000 + LOOPS * 1024]; /* file i: distinct bytes, distinct sizes */
static size_t body_lens[LOOPS];

typedef struct loop_ctx {
    int index, port;
    async_http_client *client;
    async_http_request reqs[FETCHES];
    char urls[FETCHES][96];
    async_work job;
    /* what the thread saw; the main thread checks */
    int init_rc, run_rc, ok, wrong, job_ok;
    uint64_t connects;
} loop_ctx;

/* A job on this loop's pool too: the sum of the bytes of file `index`. */
static void sum_fn(async_work *w) {
    loop_ctx *c = (loop_ctx *)w->arg;
    size_t i;
    intptr_t sum = 0;
    for (i = 0; i < body_lens[c->index]; i++) sum += (unsigned char)bodies[c->index][i];
    w->result = sum;
}

static async_future *start_fetch(void *user, int i) {
    loop_ctx *c = (loop_ctx *)user;
    if (i == FETCHES) return async_io_to_thread(c->client->io, &c->job, sum_fn, c);
    snprintf(c->urls[i], sizeof c->urls[i], "http://127.0.0.1:%d/f%d.bin", c->port, (c->index + i) % LOOPS);
    return async_http_get(c->client, &c->reqs[i], c->urls[i]);
}

static void *loop_thread(void *p) {
    loop_ctx *c = (loop_ctx *)p;
    async_http_client_config cfg;
    env *e = (env *)calloc(1, sizeof *e);
    int i;
    intptr_t sum = 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.limit = 8; /* fewer connections than requests: the pool's reuse is part of it */
    if ((c->init_rc = env_init(e, &cfg)) != 0) {
        free(e);
        return NULL;
    }
    c->client = &e->client;
    c->run_rc = run_gathered(&e->loop, FETCHES + 1, start_fetch, c);
    for (i = 0; i < FETCHES; i++) {
        int f = (c->index + i) % LOOPS;
        async_http_response *res = &c->reqs[i].response;
        if (!async_error(&c->reqs[i].task.future) && res->status == 200 && res->body_len == body_lens[f] &&
            memcmp(res->body, bodies[f], body_lens[f]) == 0)
            c->ok++;
        else
            c->wrong++;
        async_http_request_release(&c->reqs[i]);
    }
    for (i = 0; i < (int)body_lens[c->index]; i++) sum += (unsigned char)bodies[c->index][i];
    c->job_ok = !async_error(&c->job.future) && async_result(&c->job.future) == sum;
    c->connects = client_connects(&e->client);
    env_close(e);
    free(e);
    return NULL;
}

TEST(test_four_loops_one_nginx) {
    fixture f;
    nginx_options o;
    loop_ctx *ctx = (loop_ctx *)calloc(LOOPS, sizeof *ctx);
    pthread_t threads[LOOPS];
    int port, i, k, ok = 0;
    char name[32];
    memset(&o, 0, sizeof o);
    o.worker_connections = 256;
    o.error_log = "crit";
    CHECK(fixture_init(&f, "workers"));
    for (i = 0; i < LOOPS; i++) {
        body_lens[i] = 3000 + (size_t)i * 1024 + 7;
        for (k = 0; k < (int)body_lens[i]; k++) bodies[i][k] = (char)('a' + (k * 7 + i * 13) % 26);
        snprintf(name, sizeof name, "f%d.bin", i);
        fixture_write(&f, name, bodies[i], body_lens[i]);
    }
    port = fixture_nginx(&f, &o);
    CHECK(port > 0 && wait_for_port(port));
    for (i = 0; i < LOOPS; i++) {
        ctx[i].index = i, ctx[i].port = port;
        pthread_create(&threads[i], NULL, loop_thread, &ctx[i]);
    }
    for (i = 0; i < LOOPS; i++) pthread_join(threads[i], NULL);
    for (i = 0; i < LOOPS; i++) {
        CHECK_EQ(ctx[i].init_rc, 0);
        CHECK_EQ(ctx[i].run_rc, 0);
        CHECK_EQ(ctx[i].wrong, 0);
        CHECK_EQ(ctx[i].job_ok, 1);
        CHECK(ctx[i].connects >= 1 && ctx[i].connects <= 8);
        ok += ctx[i].ok;
    }
    CHECK_EQ(ok, LOOPS * FETCHES);
    fixture_stop(&f);
    free(ctx);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&seen.lock, NULL);
    RUN(test_results_delivered);
    RUN(test_workers_start_lazily);
    RUN(test_no_thread_can_start);
    RUN(test_cap_holds);
    RUN(test_cancel_while_running);
    RUN(test_release_may_free);
    RUN(test_cancel_queued_never_runs);
    RUN(test_exit_with_work);
    RUN(test_deadlock_rule);
    RUN(test_loop_runs_while_fn_blocks);
    RUN(test_post_from_many_threads);
    RUN(test_post_coalesces);
    RUN(test_exit_runs_posted);
    RUN(test_four_loops_one_nginx);
    return test_summary("workers");
}
