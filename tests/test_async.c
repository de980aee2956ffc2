/* Tests of async.h. Every timing test runs on the loop's virtual clock: time
   stands still while tasks run and jumps to the next timer, so "after 30 ms"
   is exact and nothing sleeps. Built twice: with the switch/case and with
   the computed-goto continuation. */
#define ASYNC_IMPLEMENTATION
/* How many timers the loop moved in its timer structure (see test_timers_move_a_few_per_turn). */
static unsigned long timer_moves;
#define ASYNC__ON_TIMER_MOVE(loop) ((void)(loop), timer_moves++)
#include "../async.h"
#include "test.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#if TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* ---- a worker: sleeps, then returns its value or raises its error ---- */
typedef struct worker {
    async_task task;
    async_timer timer;
    async_time delay;
    intptr_t value;
    int error;       /* raise this instead of returning */
    int catches;     /* catch a cancellation, note it, and return value */
    int caught;      /* the code the catch saw */
    int started;
    async_time finished_at;
} worker;

static int finish_order[64], nfinished;

static int worker_run(async_task *t) {
    worker *w = (worker *)t;
    ASYNC_BEGIN(t);
    w->started = 1;
    if (w->catches) {
        ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &w->timer, w->delay), w->caught);
    } else {
        ASYNC_AWAIT(t, async_sleep(t->loop, &w->timer, w->delay));
    }
    w->finished_at = async_now(t->loop);
    finish_order[nfinished++] = (int)w->value;
    if (w->error) ASYNC_RAISE(t, w->error);
    ASYNC_RETURN(t, w->value);
    ASYNC_END(t);
}

static void virtual_loop(async_loop *loop) {
    async_loop_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_time = 1;
    async_loop_init(loop, &cfg);
    nfinished = 0;
}

/* Run the loop for `d` of (virtual) time. */
static void run_for(async_loop *loop, async_time d) {
    async_timer tick;
    memset(&tick, 0, sizeof tick);
    async_run(loop, async_sleep(loop, &tick, d));
}

static void start_workers(async_loop *loop, worker *w, async_future **futs, int n, const int *delays_ms) {
    int i;
    for (i = 0; i < n; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].delay = ASYNC_MS(delays_ms[i]);
        w[i].value = 100 + i;
        futs[i] = async_create_task(loop, &w[i].task, worker_run);
    }
}

/* ---- an awaiter: a task that awaits one future and records the outcome ---- */
typedef struct awaiter {
    async_task task;
    async_future slot; /* for a primitive's wait */
    async_future *target;
    int catches, err;
    async_time done_at;
} awaiter;

static int awaiter_run(async_task *t) {
    awaiter *a = (awaiter *)t;
    ASYNC_BEGIN(t);
    if (a->catches) {
        ASYNC_AWAIT_CATCH(t, a->target, a->err);
        a->done_at = async_now(t->loop);
        ASYNC_RETURN(t, 42);
    }
    ASYNC_AWAIT(t, a->target);
    a->done_at = async_now(t->loop);
    a->err = async_error(a->target);
    ASYNC_RETURN(t, async_result(a->target));
    ASYNC_END(t);
}

/* ================= basics ================= */

TEST(test_sizes) {
    printf("NOTE sizeof(async_task) = %u, async_future = %u, async_timer = %u, async_link = %u\n",
           (unsigned)sizeof(async_task), (unsigned)sizeof(async_future), (unsigned)sizeof(async_timer),
           (unsigned)sizeof(async_link));
    CHECK(sizeof(void *) != 8 || sizeof(async_task) <= 64);
}

TEST(test_task_result_and_time) {
    async_loop loop;
    worker w[1];
    async_future *f[1];
    int delays[1] = {250};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 1, delays);
    CHECK_EQ(async_run(&loop, f[0]), 0);
    CHECK_EQ(async_result(f[0]), 100);
    CHECK_EQ(w[0].finished_at, ASYNC_MS(250));
    CHECK_EQ(async_now(&loop), ASYNC_MS(250));
}

TEST(test_raise) {
    async_loop loop;
    worker w[1];
    async_future *f[1];
    int delays[1] = {1};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 1, delays);
    w[0].error = -7;
    CHECK_EQ(async_run(&loop, f[0]), -7);
    CHECK(!async_cancelled(f[0]));
    CHECK_EQ(async_result(f[0]), 0);
    CHECK_EQ(async_now(&loop), ASYNC_MS(1));
}

/* Two tasks that yield alternate: FIFO through the ready queue. */
typedef struct yielder {
    async_task task;
    int id, i;
    int *log, *nlog;
} yielder;

static int yielder_run(async_task *t) {
    yielder *y = (yielder *)t;
    ASYNC_BEGIN(t);
    for (y->i = 0; y->i < 3; y->i++) {
        y->log[(*y->nlog)++] = y->id * 10 + y->i;
        ASYNC_YIELD(t);
    }
    ASYNC_END(t);
}

TEST(test_yield_is_fifo) {
    async_loop loop;
    yielder a, b;
    async_future *fs[2];
    async_gather_op g;
    async_link links[2];
    int log[6], nlog = 0, expect[6] = {10, 20, 11, 21, 12, 22}, i;
    virtual_loop(&loop);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.id = 1, b.id = 2, a.log = b.log = log, a.nlog = b.nlog = &nlog;
    fs[0] = async_create_task(&loop, &a.task, yielder_run);
    fs[1] = async_create_task(&loop, &b.task, yielder_run);
    CHECK_EQ(async_run(&loop, async_gather(&g, fs, links, 2, 0)), 0);
    CHECK_EQ(nlog, 6);
    for (i = 0; i < 6; i++) CHECK_EQ(log[i], expect[i]);
    CHECK_EQ(async_now(&loop), 0);
}

/* A future of one's own, completed by another task (seed 003's make_request). */
typedef struct setter {
    async_task task;
    async_timer timer;
    async_future *target;
} setter;

static int setter_run(async_task *t) {
    setter *s = (setter *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_sleep(t->loop, &s->timer, ASYNC_SEC(1)));
    async_future_set_result(s->target, 42);
    ASYNC_END(t);
}

TEST(test_plain_future) {
    async_loop loop;
    async_future fut;
    setter s;
    awaiter a;
    virtual_loop(&loop);
    async_future_init(&fut);
    memset(&s, 0, sizeof s);
    memset(&a, 0, sizeof a);
    s.target = &fut;
    a.target = &fut;
    async_create_task(&loop, &s.task, setter_run);
    async_create_task(&loop, &a.task, awaiter_run);
    CHECK(!async_done(&fut));
    CHECK_EQ(async_run(&loop, &a.task.future), 0);
    CHECK_EQ(async_result(&a.task.future), 42);
    CHECK_EQ(a.done_at, ASYNC_SEC(1));
}

TEST(test_deadlock_is_reported) {
    async_loop loop;
    async_future never;
    awaiter a;
    virtual_loop(&loop);
    async_future_init(&never);
    memset(&a, 0, sizeof a);
    a.target = &never;
    async_create_task(&loop, &a.task, awaiter_run);
    CHECK_EQ(async_run(&loop, &a.task.future), ASYNC_EDEADLK);
    CHECK(!async_done(&a.task.future));
}

/* The one list (ASYNC_ERRORS) gives every code its name, inside the range. */
TEST(test_strerror_names_every_code) {
#define ROW(name, code, text) {ASYNC_##name, #name, text},
    static const struct {
        int code;
        const char *name, *text;
    } rows[] = {ASYNC_ERRORS(ROW)};
#undef ROW
    size_t i, j, n = sizeof rows / sizeof rows[0];
    CHECK_EQ(n, ASYNC_ERRORS_HIGHEST - ASYNC_ERRORS_LOWEST + 1);
    for (i = 0; i < n; i++) {
        CHECK(rows[i].code >= ASYNC_ERRORS_LOWEST && rows[i].code <= ASYNC_ERRORS_HIGHEST);
        CHECK_STR(async_strerror(rows[i].code), rows[i].text);
        for (j = 0; j < i; j++) CHECK(strcmp(rows[i].text, rows[j].text) != 0 && rows[i].code != rows[j].code);
    }
    CHECK_EQ(ASYNC_ECANCELED, -4097); /* the codes users may have stored keep their values */
    CHECK_EQ(ASYNC_EDONE, -4103);
    CHECK_STR(async_strerror(ASYNC_ERRORS_LOWEST - 1), "unknown error");
    CHECK_STR(async_strerror(ASYNC_ERRORS_HIGHEST + 1), "unknown error");
    CHECK_STR(async_strerror(-123456), "unknown error");
}

static const char *test_domain_name(int code) { return code == -5001 ? "five thousand and one" : "other"; }

TEST(test_error_domains) {
    static async_error_domain d = {-5009, -5000, test_domain_name, NULL};
    async_register_errors(&d);
    async_register_errors(&d); /* twice is harmless */
    CHECK_STR(async_strerror(-5001), "five thousand and one");
    CHECK_STR(async_strerror(-5010), "unknown error");
}

/* Timers fire in deadline order whatever the order they were started in,
   and stopping some leaves the others exact. */
typedef struct sleeper {
    async_task task;
    async_timer timer;
    async_time delay;
    async_time woke;
} sleeper;

static int sleeper_run(async_task *t) {
    sleeper *s = (sleeper *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_sleep(t->loop, &s->timer, s->delay));
    s->woke = async_now(t->loop);
    ASYNC_END(t);
}

TEST(test_timer_heap_order) {
    enum { N = 2000 };
    static sleeper s[N];
    static async_future *fs[N];
    static async_link links[N];
    async_gather_op g;
    async_loop loop;
    int i, bad = 0, cancelled = 0;
    unsigned rng = 12345;
    virtual_loop(&loop);
    for (i = 0; i < N; i++) {
        memset(&s[i], 0, sizeof s[i]);
        rng = rng * 1103515245u + 12345u;
        s[i].delay = ASYNC_US((rng >> 8) % 100000);
        fs[i] = async_create_task(&loop, &s[i].task, sleeper_run);
    }
    async_gather(&g, fs, links, N, 1);
    run_for(&loop, 0); /* every task starts its timer; then cancel every seventh */
    for (i = 0; i < N; i += 7) async_cancel(&s[i].task), cancelled++;
    CHECK_EQ(async_run(&loop, &g.future), 0);
    for (i = 0; i < N; i++) {
        if (i % 7 == 0) {
            if (!async_cancelled(fs[i])) bad++;
        } else if (s[i].woke != s[i].delay) {
            bad++;
        }
    }
    CHECK_EQ(bad, 0);
    CHECK(cancelled > 0);
}

/* ================= cancellation ================= */

TEST(test_cancel_during_sleep_ends_cancelled) {
    async_loop loop;
    worker w[1];
    async_future *f[1];
    int delays[1] = {1000};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 1, delays);
    run_for(&loop, ASYNC_MS(10));
    CHECK(w[0].started);
    CHECK_EQ(async_cancel(&w[0].task), 1);
    CHECK_EQ(async_run(&loop, f[0]), ASYNC_ECANCELED);
    CHECK(async_cancelled(f[0]));
    CHECK_EQ(nfinished, 0);            /* it never got past the await */
    CHECK_EQ(async_now(&loop), ASYNC_MS(10)); /* at once, not when the sleep would have ended */
    CHECK(!async_timer_armed(&w[0].timer)); /* its timer left the heap */
    CHECK_EQ(async_loop_timers(&loop), 0);
    CHECK_EQ(async_cancel(&w[0].task), 0); /* done: nothing to cancel */
}

TEST(test_cancel_before_start_never_runs) {
    async_loop loop;
    worker w[1];
    async_future *f[1];
    int delays[1] = {5};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 1, delays);
    async_cancel(&w[0].task);
    CHECK_EQ(async_run(&loop, f[0]), ASYNC_ECANCELED);
    CHECK(!w[0].started);
    CHECK_EQ(async_now(&loop), 0);
}

TEST(test_caught_cancellation_finishes_normally) {
    async_loop loop;
    worker w[1];
    async_future *f[1];
    int delays[1] = {1000};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 1, delays);
    w[0].catches = 1;
    run_for(&loop, ASYNC_MS(10));
    async_cancel(&w[0].task);
    CHECK_EQ(async_run(&loop, f[0]), 0);
    CHECK(!async_cancelled(f[0]));                 /* done, not cancelled */
    CHECK_EQ(async_result(f[0]), 100);             /* with the value it returned */
    CHECK_EQ(w[0].caught, ASYNC_ECANCELED);        /* after seeing the cancellation */
    CHECK_EQ(async_task_cancelling(&w[0].task), ASYNC_ECANCELED);
    CHECK_EQ(w[0].finished_at, ASYNC_MS(10));      /* at once, not after the sleep */
}

/* Cancelling a task that awaits another task cancels the inner one too, and
   the outer resumes only once the inner is done. */
TEST(test_cancel_propagates_to_awaited_task) {
    async_loop loop;
    worker w[1];
    async_future *f[1];
    awaiter a;
    int delays[1] = {1000};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 1, delays);
    memset(&a, 0, sizeof a);
    a.target = f[0];
    async_create_task(&loop, &a.task, awaiter_run);
    run_for(&loop, ASYNC_MS(5));
    async_cancel(&a.task);
    CHECK_EQ(async_run(&loop, &a.task.future), ASYNC_ECANCELED);
    CHECK(async_cancelled(f[0]));
    CHECK_EQ(async_now(&loop), ASYNC_MS(5));
}

/* A cancellation requested while a task is ready (not waiting) is seen at
   its next await, even if what it awaited completed normally. */
TEST(test_cancel_while_ready_seen_at_next_await) {
    async_loop loop;
    async_future fut;
    awaiter a;
    virtual_loop(&loop);
    async_future_init(&fut);
    memset(&a, 0, sizeof a);
    a.target = &fut;
    a.catches = 1;
    async_create_task(&loop, &a.task, awaiter_run);
    run_for(&loop, 0);
    async_future_set_result(&fut, 5); /* a is now ready */
    async_cancel(&a.task);
    CHECK(!async_cancelled(&fut));
    CHECK_EQ(async_run(&loop, &a.task.future), 0);
    CHECK_EQ(a.err, ASYNC_ECANCELED);
    CHECK_EQ(async_result(&a.task.future), 42);
    CHECK_EQ(a.done_at, 0);
}

/* ================= shutdown: asyncio.run ================= */

/* The obvious program: start N tasks, run a gather of them (no
   return_exceptions), free their storage. async_run is run_until_complete:
   the others run on. async_main is asyncio.run: when the gather fails, the
   rest are cancelled and run to their end before it returns, so the storage
   can go (ASan would see a timer or a ring touching it afterwards). */
TEST(test_main_cancels_what_is_left) {
    enum { N = 5 };
    async_loop loop;
    worker *w = calloc(N, sizeof *w);
    async_future *f[N];
    async_link links[N];
    async_gather_op g;
    int delays[N] = {40, 10, 300, 20, 500};
    CHECK(w != NULL);
    if (!w) return;
    virtual_loop(&loop);
    start_workers(&loop, w, f, N, delays);
    w[3].error = -9; /* fails at 20 ms */
    w[4].catches = 1; /* catches its cancellation and returns */
    CHECK_EQ(async_loop_tasks(&loop), N);
    CHECK_EQ(async_main(&loop, async_gather(&g, f, links, N, 0)), -9);
    CHECK_EQ(async_loop_tasks(&loop), 0);
    CHECK_EQ(async_loop_timers(&loop), 0);
    CHECK_EQ(async_now(&loop), ASYNC_MS(20)); /* nobody was waited for to the end */
    CHECK_EQ(async_result(f[1]), 101);
    CHECK(async_cancelled(f[0]) && async_cancelled(f[2]));
    CHECK_EQ(w[4].caught, ASYNC_ECANCELED); /* it saw the cancellation ... */
    CHECK_EQ(async_result(f[4]), 104);      /* ... and finished its own way */
    free(w);
    run_for(&loop, ASYNC_SEC(1)); /* nothing left that points into w */
    CHECK_EQ(async_now(&loop), ASYNC_MS(1020));
}

/* async_run leaves the other tasks alone (it may be called again on the
   same loop); async_loop_shutdown cancels them later, and a task that
   catches its cancellation gets to clean up. */
typedef struct cleaner {
    async_task task;
    async_timer nap;
    int err, cleaned;
} cleaner;

static int cleaner_run(async_task *t) {
    cleaner *c = (cleaner *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &c->nap, ASYNC_SEC(100)), c->err);
    ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &c->nap, ASYNC_MS(10)), c->err); /* the cleanup takes time */
    c->cleaned = 1;
    ASYNC_RAISE(t, ASYNC_ECANCELED);
    ASYNC_END(t);
}

TEST(test_run_then_shutdown) {
    async_loop loop;
    cleaner c;
    worker w[1];
    async_future *f[1];
    int delays[1] = {5};
    virtual_loop(&loop);
    memset(&c, 0, sizeof c);
    async_create_task(&loop, &c.task, cleaner_run);
    start_workers(&loop, w, f, 1, delays);
    CHECK_EQ(async_run(&loop, f[0]), 0);
    CHECK_EQ(async_loop_tasks(&loop), 1); /* run_until_complete: the cleaner runs on */
    CHECK(!async_done(&c.task.future));
    CHECK_EQ(async_loop_shutdown(&loop), 0);
    CHECK(async_cancelled(&c.task.future));
    CHECK(c.cleaned);
    CHECK_EQ(async_now(&loop), ASYNC_MS(15));
    CHECK_EQ(async_loop_tasks(&loop), 0);
    CHECK_EQ(async_loop_shutdown(&loop), 0); /* nothing left: at once */
}

/* A task that cannot finish (it ignores its cancellation and waits for a
   future nobody completes): shutdown says so instead of hanging. */
typedef struct stubborn {
    async_task task;
    async_future never, *first;
    int err;
} stubborn;

static int stubborn_run(async_task *t) {
    stubborn *s = (stubborn *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT_CATCH(t, s->first, s->err);
    ASYNC_AWAIT_CATCH(t, &s->never, s->err);
    ASYNC_END(t);
}

TEST(test_shutdown_reports_a_task_that_cannot_end) {
    async_loop loop;
    async_future first;
    stubborn s;
    virtual_loop(&loop);
    memset(&s, 0, sizeof s);
    async_future_init(&first);
    async_future_init(&s.never);
    s.first = &first;
    async_create_task(&loop, &s.task, stubborn_run);
    CHECK_EQ(async_main(&loop, &first), ASYNC_EDEADLK);
    CHECK(async_cancelled(&first));  /* what it awaited was cancelled ... */
    CHECK_EQ(async_loop_tasks(&loop), 1); /* ... but it is still there */
    async_future_set_result(&s.never, 1);
    CHECK_EQ(async_loop_shutdown(&loop), 0);
    CHECK_EQ(async_loop_tasks(&loop), 0);
}

/* ================= gather ================= */

TEST(test_gather_keeps_argument_order) {
    async_loop loop;
    worker w[5];
    async_future *f[5];
    async_link links[5];
    async_gather_op g;
    int delays[5] = {50, 10, 40, 20, 30}, i;
    virtual_loop(&loop);
    start_workers(&loop, w, f, 5, delays);
    CHECK_EQ(async_run(&loop, async_gather(&g, f, links, 5, 0)), 0);
    CHECK_EQ(async_result(&g.future), 5);
    /* completion order differs from argument order ... */
    CHECK_EQ(finish_order[0], 101);
    CHECK_EQ(finish_order[1], 103);
    CHECK_EQ(finish_order[4], 100);
    /* ... yet each result stands in its argument's slot */
    for (i = 0; i < 5; i++) CHECK_EQ(async_result(f[i]), 100 + i);
    CHECK_EQ(async_now(&loop), ASYNC_MS(50));
}

TEST(test_gather_of_nothing) {
    async_gather_op g;
    async_future *none[1];
    async_link links[1];
    async_future *f = async_gather(&g, none, links, 0, 0);
    CHECK(async_done(f));
    CHECK_EQ(async_error(f), 0);
    CHECK_EQ(async_result(f), 0);
}

TEST(test_gather_first_error_others_keep_running) {
    async_loop loop;
    worker w[3];
    async_future *f[3];
    async_link links[3];
    async_gather_op g;
    int delays[3] = {30, 10, 20};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 3, delays);
    w[1].error = -11;
    w[2].error = -22;
    CHECK_EQ(async_run(&loop, async_gather(&g, f, links, 3, 0)), -11);
    CHECK_EQ(async_now(&loop), ASYNC_MS(10)); /* at the first error, not at the end */
    CHECK(!async_done(f[0]));
    CHECK(!async_done(f[2]));
    CHECK(!async_future_watched(f[0]) && !async_future_watched(f[2])); /* the gather let go of them */
    /* the others run on to their own ends */
    CHECK_EQ(async_run(&loop, f[0]), 0);
    CHECK_EQ(async_result(f[0]), 100);
    CHECK_EQ(async_error(f[2]), -22);
    CHECK_EQ(async_error(&g.future), -11);
}

TEST(test_gather_return_exceptions_slots) {
    async_loop loop;
    worker w[3];
    async_future *f[3];
    async_link links[3];
    async_gather_op g;
    int delays[3] = {30, 10, 20};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 3, delays);
    w[1].error = -11;
    CHECK_EQ(async_run(&loop, async_gather(&g, f, links, 3, 1)), 0);
    CHECK_EQ(async_now(&loop), ASYNC_MS(30));
    CHECK_EQ(async_result(f[0]), 100);
    CHECK_EQ(async_error(f[1]), -11);
    CHECK_EQ(async_result(f[2]), 102);
}

TEST(test_cancel_gather_cancels_children) {
    async_loop loop;
    worker w[3];
    async_future *f[3];
    async_link links[3];
    async_gather_op g;
    awaiter a;
    int delays[3] = {100, 10, 300};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 3, delays);
    memset(&a, 0, sizeof a);
    a.target = async_gather(&g, f, links, 3, 0);
    async_create_task(&loop, &a.task, awaiter_run);
    run_for(&loop, ASYNC_MS(50));
    CHECK(async_done(f[1]));
    async_cancel(&a.task);
    CHECK_EQ(async_run(&loop, &a.task.future), ASYNC_ECANCELED);
    CHECK(async_cancelled(&g.future));
    CHECK(async_cancelled(f[0]));
    CHECK(async_cancelled(f[2]));
    CHECK_EQ(async_result(f[1]), 101); /* the finished one keeps its result */
    CHECK_EQ(async_now(&loop), ASYNC_MS(50));
}

/* Without return_exceptions a cancelled child is an error of the gather's
   (ECANCELED); the gather itself is not cancelled, the others run on. */
TEST(test_gather_cancelled_child_is_an_error) {
    async_loop loop;
    worker w[3];
    async_future *f[3];
    async_link links[3];
    async_gather_op g;
    awaiter plain, catching;
    int delays[3] = {30, 100, 20};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 3, delays);
    memset(&plain, 0, sizeof plain);
    memset(&catching, 0, sizeof catching);
    plain.target = catching.target = async_gather(&g, f, links, 3, 0);
    catching.catches = 1;
    async_create_task(&loop, &plain.task, awaiter_run);
    async_create_task(&loop, &catching.task, awaiter_run);
    run_for(&loop, ASYNC_MS(5));
    async_cancel(&w[1].task);
    CHECK_EQ(async_run(&loop, &g.future), ASYNC_ECANCELED);
    CHECK(!async_cancelled(&g.future)); /* failed, with ECANCELED */
    CHECK_EQ(async_now(&loop), ASYNC_MS(5));
    CHECK(!async_done(f[0]) && !async_done(f[2]));
    /* awaiting it raises the cancellation: uncaught, the awaiter ends cancelled */
    CHECK_EQ(async_run(&loop, &plain.task.future), ASYNC_ECANCELED);
    CHECK(async_cancelled(&plain.task.future));
    CHECK_EQ(async_run(&loop, &catching.task.future), 0);
    CHECK_EQ(catching.err, ASYNC_ECANCELED);
    CHECK_EQ(async_task_cancelling(&catching.task), 0); /* the task itself was not cancelled */
    CHECK_EQ(async_run(&loop, f[0]), 0);
    CHECK_EQ(async_now(&loop), ASYNC_MS(30));
}

/* A gather that is done keeps its results when a cancellation comes after. */
TEST(test_gather_done_then_cancelled_results_stand) {
    async_loop loop;
    async_future kids[2];
    async_future *f[2];
    async_link links[2];
    async_gather_op g;
    awaiter a;
    virtual_loop(&loop);
    async_future_init(&kids[0]);
    async_future_init(&kids[1]);
    f[0] = &kids[0], f[1] = &kids[1];
    memset(&a, 0, sizeof a);
    a.target = async_gather(&g, f, links, 2, 0);
    async_create_task(&loop, &a.task, awaiter_run);
    run_for(&loop, ASYNC_MS(1));
    async_future_set_result(&kids[0], 1);
    async_future_set_result(&kids[1], 2); /* the gather is done; its awaiter has not run yet */
    async_cancel(&a.task);
    CHECK_EQ(async_future_cancel(&g.future), 0);
    CHECK_EQ(async_run(&loop, &a.task.future), ASYNC_ECANCELED); /* the awaiter is cancelled ... */
    CHECK(async_done(&g.future) && !async_cancelled(&g.future)); /* ... the gather is not */
    CHECK_EQ(async_result(&g.future), 2);
    CHECK_EQ(async_result(f[1]), 2);
}

/* A future awaited is cancelled (not the task): asyncio raises CancelledError
   in the awaiter, which ends cancelled unless it catches it. */
TEST(test_cancelled_future_ends_awaiter) {
    async_loop loop;
    async_timer nap;
    awaiter plain, catching;
    virtual_loop(&loop);
    memset(&nap, 0, sizeof nap);
    memset(&plain, 0, sizeof plain);
    memset(&catching, 0, sizeof catching);
    plain.target = catching.target = async_sleep(&loop, &nap, ASYNC_SEC(1));
    catching.catches = 1;
    async_create_task(&loop, &plain.task, awaiter_run);
    async_create_task(&loop, &catching.task, awaiter_run);
    run_for(&loop, ASYNC_MS(10));
    async_timer_stop(&nap); /* the sleep ends cancelled */
    CHECK_EQ(async_run(&loop, &plain.task.future), ASYNC_ECANCELED);
    CHECK_EQ(plain.done_at, 0); /* it never got past the await */
    CHECK_EQ(async_run(&loop, &catching.task.future), 0);
    CHECK_EQ(catching.err, ASYNC_ECANCELED);
    CHECK_EQ(catching.done_at, ASYNC_MS(10));
    CHECK_EQ(async_result(&catching.task.future), 42);
    CHECK_EQ(async_now(&loop), ASYNC_MS(10));
}

/* asyncio.shield: the awaiter is cancelled at once, the inner runs on. */
TEST(test_shield) {
    async_loop loop;
    worker w[2];
    async_future *f[2];
    async_shield_op sh[2];
    awaiter a[2];
    int delays[2] = {100, 100}, i;
    virtual_loop(&loop);
    start_workers(&loop, w, f, 2, delays);
    for (i = 0; i < 2; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].target = async_shield(&sh[i], f[i]);
        async_create_task(&loop, &a[i].task, awaiter_run);
    }
    run_for(&loop, ASYNC_MS(10));
    async_cancel(&a[0].task);
    CHECK_EQ(async_run(&loop, &a[0].task.future), ASYNC_ECANCELED);
    CHECK_EQ(async_now(&loop), ASYNC_MS(10)); /* at once */
    CHECK(async_cancelled(&sh[0].future));
    CHECK(!async_done(f[0]));               /* the inner was not cancelled ... */
    CHECK(!async_future_watched(f[0]));     /* ... nor is it watched any more */
    CHECK_EQ(async_run(&loop, f[0]), 0);    /* ... and finishes in its own time */
    CHECK_EQ(async_result(f[0]), 100);
    CHECK_EQ(async_now(&loop), ASYNC_MS(100));
    /* not cancelled, it gives the inner's outcome */
    CHECK_EQ(async_run(&loop, &a[1].task.future), 0);
    CHECK_EQ(async_result(&a[1].task.future), 101);
    /* an inner cancelled by someone else: the shield says so too */
    {
        async_future inner;
        async_shield_op s3;
        async_future_init(&inner);
        async_shield(&s3, &inner);
        async_future_cancel(&inner);
        CHECK(async_cancelled(&s3.future));
        CHECK(async_done(async_shield(&s3, &inner))); /* of a done future: done at once */
    }
}

/* ================= task group ================= */

/* The owner of a group (asyncio's `async with TaskGroup() as tg:`): spawns
   its children, sleeps in its body, then joins (or not). */
typedef struct group_owner {
    async_task task;
    async_task_group g;
    worker kids[4];
    async_future *futs[4];
    async_link links[4];
    int nkids, delays[4], errors[4], catches[4];
    int join, catch_body, i, body_err, join_err, spawn_rc;
    async_timer nap;
    async_time body_sleep, joined_at;
    async_time timeout; /* > 0: a deadline over the whole owner */
    async_deadline deadline;
} group_owner;

static int group_owner_run(async_task *t) {
    group_owner *o = (group_owner *)t;
    ASYNC_BEGIN(t);
    if (o->timeout) async_deadline_start(t->loop, &o->deadline, t, o->timeout);
    async_task_group_init(&o->g, t, o->futs, o->links, 4);
    for (o->i = 0; o->i < o->nkids; o->i++) {
        worker *w = &o->kids[o->i];
        memset(w, 0, sizeof *w);
        w->delay = ASYNC_MS(o->delays[o->i]);
        w->value = 100 + o->i;
        w->error = o->errors[o->i];
        w->catches = o->catches[o->i];
        o->spawn_rc |= async_task_group_spawn(&o->g, &w->task, worker_run);
    }
    if (o->body_sleep) {
        if (o->catch_body) {
            ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &o->nap, o->body_sleep), o->body_err);
        } else {
            ASYNC_AWAIT(t, async_sleep(t->loop, &o->nap, o->body_sleep));
        }
    }
    if (o->join) {
        ASYNC_AWAIT_CATCH(t, async_task_group_join(&o->g), o->join_err);
        o->joined_at = async_now(t->loop);
    }
    ASYNC_RETURN(t, 7);
    ASYNC_END(t);
}

static group_owner *new_group_owner(async_loop *loop, int nkids, const int *delays, const int *errors) {
    static group_owner o;
    int i;
    memset(&o, 0, sizeof o);
    o.nkids = nkids;
    for (i = 0; i < nkids; i++) o.delays[i] = delays[i], o.errors[i] = errors ? errors[i] : 0;
    o.body_sleep = ASYNC_SEC(1);
    (void)loop;
    return &o;
}

/* The first failure cancels the siblings and the body's await; the owner
   cannot end before its children, and ends with that first error. */
TEST(test_task_group_first_failure) {
    async_loop loop;
    int delays[3] = {10, 20, 500}, errors[3] = {0, -7, 0};
    group_owner *o;
    cleaner c;
    virtual_loop(&loop);
    o = new_group_owner(&loop, 3, delays, errors);
    async_create_task(&loop, &o->task, group_owner_run);
    run_for(&loop, 0);
    memset(&c, 0, sizeof c); /* a fourth child, which cleans up for 10 ms when cancelled */
    CHECK_EQ(async_task_group_spawn(&o->g, &c.task, cleaner_run), 0);
    CHECK_EQ(async_run(&loop, &o->task.future), -7);
    CHECK(!async_cancelled(&o->task.future));
    CHECK(c.cleaned);
    CHECK_EQ(async_now(&loop), ASYNC_MS(30)); /* failed at 20 ms, ended with its last child */
    CHECK_EQ(async_result(o->futs[0]), 100);
    CHECK_EQ(async_error(o->futs[1]), -7);
    CHECK(async_cancelled(o->futs[2]));
    CHECK_EQ(o->g.nerrors, 1);
    CHECK_EQ(async_error(&o->g.future), -7); /* joined by the owner's end */
    CHECK_EQ(async_loop_tasks(&loop), 0);
    CHECK_EQ(async_loop_timers(&loop), 0);
    CHECK_EQ(o->spawn_rc, 0);
}

/* With the body's cancellation caught and an explicit join: the join waits
   for every child, even one that takes its time to clean up, and gives the
   first error; the owner decides what to do with it. */
TEST(test_task_group_join_waits_for_every_child) {
    async_loop loop;
    int delays[3] = {1000, 20, 500}, errors[3] = {-8, -7, 0};
    group_owner *o;
    virtual_loop(&loop);
    o = new_group_owner(&loop, 3, delays, errors);
    o->catches[0] = 1; /* cancelled at 20 ms, it fails on its own (a second error) */
    o->catch_body = 1, o->join = 1;
    async_create_task(&loop, &o->task, group_owner_run);
    CHECK_EQ(async_run(&loop, &o->task.future), 0);
    CHECK_EQ(async_result(&o->task.future), 7);
    CHECK_EQ(o->body_err, ASYNC_ECANCELED); /* the body's await was cancelled by the group */
    CHECK_EQ(o->join_err, -7);              /* the first error */
    CHECK_EQ(o->g.nerrors, 2);
    CHECK_EQ(async_error(o->futs[0]), -8);  /* the others' errors are kept */
    CHECK(async_cancelled(o->futs[2]));
    CHECK_EQ(o->joined_at, ASYNC_MS(20));
    CHECK_EQ(async_now(&loop), ASYNC_MS(20));
    /* a failure while the owner waits in the join does not cancel the owner */
    o = new_group_owner(&loop, 2, delays + 1, errors + 1);
    o->join = 1, o->body_sleep = 0;
    async_create_task(&loop, &o->task, group_owner_run);
    CHECK_EQ(async_run(&loop, &o->task.future), 0);
    CHECK_EQ(o->join_err, -7);
    CHECK_EQ(o->joined_at, ASYNC_MS(40));
    CHECK(async_cancelled(o->futs[1]));
}

/* The first failure aborts at the next turn's start, as asyncio's done callback does:
   siblings that finish in the same turn keep their outcome (a result, or a second error),
   the ones still sleeping are cancelled. */
TEST(test_task_group_same_turn_siblings_keep_their_outcome) {
    async_loop loop;
    int delays[4] = {10, 10, 10, 20}, errors[4] = {-7, 0, -9, 0};
    group_owner *o;
    virtual_loop(&loop);
    o = new_group_owner(&loop, 4, delays, errors);
    async_create_task(&loop, &o->task, group_owner_run);
    async_run(&loop, &o->task.future);
    CHECK_EQ(async_now(&loop), ASYNC_MS(10));
    CHECK_EQ(async_error(o->futs[0]), -7);
    CHECK_EQ(async_result(o->futs[1]), 101); /* finished in the failing turn */
    CHECK_EQ(async_error(o->futs[2]), -9);   /* and so did this one, its error counted */
    CHECK(async_cancelled(o->futs[3]));
    CHECK_EQ(o->g.nerrors, 2);
    /* (equal deadlines fire in no set order: either error may be the first) */
    CHECK(async_error(&o->g.future) == -7 || async_error(&o->g.future) == -9);
    CHECK_EQ(async_error(&o->task.future), async_error(&o->g.future));
}

/* A failing last child settles a joined group at once: the abort that was due at the next
   turn is withdrawn, so the owner may reuse the group's storage at once (here for a second
   group, which a callback left queued would abort). The child fails in its first step and
   the owner joins in the same turn, right after it. */
typedef struct reusing_owner {
    async_task task;
    async_task_group g;
    async_future *futs[1];
    async_link links[1];
    async_task raiser;
    worker kid;
    int join_err[2];
} reusing_owner;

static int raise_at_once(async_task *t) {
    ASYNC_BEGIN(t);
    ASYNC_RAISE(t, -7);
    ASYNC_END(t);
}

static int reusing_owner_run(async_task *t) {
    reusing_owner *o = (reusing_owner *)t;
    ASYNC_BEGIN(t);
    async_task_group_init(&o->g, t, o->futs, o->links, 1);
    async_task_group_spawn(&o->g, &o->raiser, raise_at_once);
    ASYNC_YIELD(t); /* behind the child, in the turn it fails */
    ASYNC_AWAIT_CATCH(t, async_task_group_join(&o->g), o->join_err[0]);
    async_task_group_init(&o->g, t, o->futs, o->links, 1);
    async_task_group_spawn(&o->g, &o->kid.task, worker_run);
    ASYNC_AWAIT_CATCH(t, async_task_group_join(&o->g), o->join_err[1]);
    ASYNC_RETURN(t, 7);
    ASYNC_END(t);
}

TEST(test_task_group_last_child_fails_in_the_join) {
    async_loop loop;
    static reusing_owner o;
    virtual_loop(&loop);
    memset(&o, 0, sizeof o);
    o.kid.delay = ASYNC_MS(10), o.kid.value = 42;
    async_create_task(&loop, &o.task, reusing_owner_run);
    CHECK_EQ(async_run(&loop, &o.task.future), 0);
    CHECK_EQ(async_result(&o.task.future), 7);
    CHECK_EQ(o.join_err[0], -7);
    CHECK_EQ(o.join_err[1], 0);
    CHECK_EQ(async_result(&o.kid.task.future), 42); /* not cancelled by the first group's abort */
    CHECK_EQ(async_now(&loop), ASYNC_MS(10));
}

/* The abort comes in the next turn behind what was woken before the failure, as asyncio's
   done callback, which call_soon queues behind those wake-ups: a sibling and the owner that a
   task ahead of the failing child woke in that turn run first (the sibling finishes with its
   result, the owner passes its await and is cancelled at the next one); what is woken after
   the failure comes after the abort. X sets an event in the turn where A fails, ahead of it. */
static async_event abort_ev;

static int ev_setter_run(async_task *t) {
    ASYNC_BEGIN(t);
    ASYNC_YIELD(t);
    async_event_set(&abort_ev);
    ASYNC_RETURN(t, 1);
    ASYNC_END(t);
}

static int yield_then_raise(async_task *t) {
    ASYNC_BEGIN(t);
    ASYNC_YIELD(t);
    ASYNC_RAISE(t, -7);
    ASYNC_END(t);
}

typedef struct ev_kid {
    async_task task;
    async_future slot;
} ev_kid;

static int ev_kid_run(async_task *t) {
    ev_kid *k = (ev_kid *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_event_wait(&abort_ev, &k->slot));
    ASYNC_RETURN(t, 5);
    ASYNC_END(t);
}

typedef struct woken_owner {
    async_task task;
    async_task_group g;
    async_future *futs[3];
    async_link links[3];
    ev_kid kids[3];
    async_future slot;
    async_timer nap;
    int awaits, passed_wait, wait_err, sleep_err, join_err;
} woken_owner;

static int woken_owner_run(async_task *t) {
    woken_owner *o = (woken_owner *)t;
    ASYNC_BEGIN(t);
    async_task_group_init(&o->g, t, o->futs, o->links, 3);
    async_task_group_spawn(&o->g, &o->kids[0].task, ev_setter_run);
    async_task_group_spawn(&o->g, &o->kids[1].task, yield_then_raise);
    if (!o->awaits) {
        async_task_group_spawn(&o->g, &o->kids[2].task, ev_kid_run);
    } else {
        ASYNC_AWAIT_CATCH(t, async_event_wait(&abort_ev, &o->slot), o->wait_err);
        o->passed_wait = 1;
        ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &o->nap, ASYNC_SEC(1)), o->sleep_err);
    }
    ASYNC_AWAIT_CATCH(t, async_task_group_join(&o->g), o->join_err);
    if (o->join_err) ASYNC_RAISE(t, o->join_err);
    ASYNC_END(t);
}

TEST(test_task_group_abort_behind_earlier_wakeups) {
    async_loop loop;
    static woken_owner o;
    int awaits;
    for (awaits = 0; awaits < 2; awaits++) {
        virtual_loop(&loop);
        memset(&o, 0, sizeof o);
        async_event_init(&abort_ev);
        o.awaits = awaits;
        async_create_task(&loop, &o.task, woken_owner_run);
        CHECK_EQ(async_main(&loop, &o.task.future), -7);
        CHECK_EQ(async_result(o.futs[0]), 1);
        CHECK_EQ(async_error(o.futs[1]), -7);
        CHECK_EQ(o.g.nerrors, 1);
        CHECK_EQ(o.join_err, -7);
        CHECK_EQ(async_now(&loop), 0);
        if (!awaits) {
            CHECK_EQ(async_result(o.futs[2]), 5); /* woken ahead of the failure: not cancelled */
        } else {
            CHECK_EQ(o.wait_err, 0); /* woken ahead of the failure: it passed its await */
            CHECK(o.passed_wait);
            CHECK_EQ(o.sleep_err, ASYNC_ECANCELED); /* and the abort cancelled the next one */
        }
    }
}

/* A cancelled child is not a failure; an owner that returns without a join
   still waits for its children (not cancelling them). */
TEST(test_task_group_cancelled_child_and_no_join) {
    async_loop loop;
    int delays[3] = {10, 300, 200};
    group_owner *o;
    virtual_loop(&loop);
    o = new_group_owner(&loop, 3, delays, NULL);
    o->body_sleep = ASYNC_MS(50);
    async_create_task(&loop, &o->task, group_owner_run);
    run_for(&loop, ASYNC_MS(5));
    async_cancel(&o->kids[1].task);
    CHECK_EQ(async_run(&loop, &o->task.future), 0);
    CHECK_EQ(async_result(&o->task.future), 7);
    CHECK_EQ(async_now(&loop), ASYNC_MS(200)); /* the owner's body ended at 50 ms; its last child at 200 */
    CHECK(async_cancelled(o->futs[1]));
    CHECK_EQ(async_result(o->futs[2]), 102); /* run to its end, not cancelled */
    CHECK_EQ(o->g.nerrors, 0);
    CHECK_EQ(async_result(&o->g.future), 3);
}

/* Cancelling the owner cancels the group, in its body or in the join. */
TEST(test_task_group_owner_cancelled) {
    int in_join;
    for (in_join = 0; in_join < 2; in_join++) {
        async_loop loop;
        int delays[2] = {100, 200};
        group_owner *o;
        virtual_loop(&loop);
        o = new_group_owner(&loop, 2, delays, NULL);
        o->catches[1] = 1; /* this one finishes its own way */
        o->join = 1;
        if (in_join) o->body_sleep = 0;
        async_create_task(&loop, &o->task, group_owner_run);
        run_for(&loop, ASYNC_MS(10));
        async_cancel(&o->task);
        if (in_join) { /* the join is awaited with a catch: the owner goes on */
            CHECK_EQ(async_run(&loop, &o->task.future), 0);
            CHECK_EQ(o->join_err, ASYNC_ECANCELED);
            CHECK(async_cancelled(&o->g.future));
            CHECK_EQ(o->joined_at, ASYNC_MS(10));
        } else {
            CHECK_EQ(async_run(&loop, &o->task.future), ASYNC_ECANCELED);
        }
        CHECK_EQ(async_now(&loop), ASYNC_MS(10));
        CHECK(async_cancelled(o->futs[0]));
        CHECK_EQ(o->kids[1].caught, ASYNC_ECANCELED);
        CHECK_EQ(async_result(o->futs[1]), 101);
        CHECK_EQ(async_loop_tasks(&loop), 0);
    }
}

/* A group whose owner is cancelled (or its deadline passes) while it awaits the join, and a
   child that fails in its cleanup: the child's error wins over the cancellation (the join
   fails with it, and the owner is not cancelled), as asyncio's TaskGroup raises its
   ExceptionGroup rather than CancelledError; the same as when the owner's body ends
   without a join. */
typedef struct failing_cleaner {
    async_task task;
    async_timer tm;
    int caught;
} failing_cleaner;

static int failing_cleaner_run(async_task *t) {
    failing_cleaner *k = (failing_cleaner *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &k->tm, ASYNC_MS(100)), k->caught);
    ASYNC_AWAIT(t, async_sleep(t->loop, &k->tm, ASYNC_MS(5)));
    ASYNC_RAISE(t, -5001);
    ASYNC_END(t);
}

typedef struct joining_owner {
    async_task task;
    async_deadline d;
    async_timer tm;
    async_task_group g;
    async_future *futs[1];
    async_link links[1];
    failing_cleaner kid;
    int by_deadline, join;
} joining_owner;

static int joining_owner_run(async_task *t) {
    joining_owner *o = (joining_owner *)t;
    ASYNC_BEGIN(t);
    if (o->by_deadline) async_deadline_start(t->loop, &o->d, t, ASYNC_MS(10));
    async_task_group_init(&o->g, t, o->futs, o->links, 1);
    async_task_group_spawn(&o->g, &o->kid.task, failing_cleaner_run);
    if (!o->join) ASYNC_AWAIT(t, async_sleep(t->loop, &o->tm, ASYNC_MS(1000))); /* (cancelled first) */
    ASYNC_AWAIT(t, async_task_group_join(&o->g));
    if (async_error(&o->g.future)) ASYNC_RAISE(t, async_error(&o->g.future));
    ASYNC_END(t);
}

TEST(test_task_group_error_wins_over_cancel) {
    int by_deadline, join;
    for (by_deadline = 0; by_deadline < 2; by_deadline++)
        for (join = 0; join < 2; join++) {
            static joining_owner o;
            async_loop loop;
            virtual_loop(&loop);
            memset(&o, 0, sizeof o);
            o.by_deadline = by_deadline, o.join = join;
            async_create_task(&loop, &o.task, joining_owner_run);
            if (!by_deadline) {
                run_for(&loop, ASYNC_MS(10));
                async_cancel(&o.task);
            }
            if (async_run(&loop, &o.task.future) != -5001)
                fprintf(stderr, "  %s, %s: %s\n", by_deadline ? "deadline" : "cancel", join ? "join" : "no join",
                        async_strerror(async_error(&o.task.future)));
            CHECK_EQ(async_error(&o.task.future), -5001);
            CHECK_EQ(o.kid.caught, ASYNC_ECANCELED); /* the group cancels it either way */
            CHECK_EQ(async_now(&loop), ASYNC_MS(15));
            CHECK_EQ(async_loop_tasks(&loop), 0);
        }
}

/* Spawning into a full group, or into one that is failing, is refused. */
TEST(test_task_group_spawn_refused) {
    async_loop loop;
    int delays[4] = {10, 10, 10, 10};
    group_owner *o;
    worker extra;
    virtual_loop(&loop);
    o = new_group_owner(&loop, 4, delays, NULL);
    o->body_sleep = 0;
    async_create_task(&loop, &o->task, group_owner_run);
    run_for(&loop, 0);
    memset(&extra, 0, sizeof extra);
    CHECK_EQ(async_task_group_spawn(&o->g, &extra.task, worker_run), ASYNC_EINVAL); /* full */
    CHECK_EQ(async_loop_tasks(&loop), 5);                                         /* not started */
    CHECK_EQ(async_run(&loop, &o->task.future), 0);
    CHECK_EQ(async_now(&loop), ASYNC_MS(10));
    CHECK_EQ(async_task_group_spawn(&o->g, &extra.task, worker_run), ASYNC_EINVAL); /* done */
}

/* ================= as_completed ================= */

typedef struct ac_consumer {
    async_task task;
    async_as_completed ac;
    async_timer nap;
    async_time late; /* sleeps this long before it asks */
    int yielded[8], errors[8], steps;
    async_time at[8];
} ac_consumer;

static int ac_consumer_run(async_task *t) {
    ac_consumer *c = (ac_consumer *)t;
    ASYNC_BEGIN(t);
    if (c->late) ASYNC_AWAIT(t, async_sleep(t->loop, &c->nap, c->late));
    for (c->steps = 0; c->steps < 8; c->steps++) {
        ASYNC_AWAIT(t, async_as_completed_next(&c->ac));
        c->errors[c->steps] = async_error(&c->ac.step);
        c->yielded[c->steps] = (int)async_result(&c->ac.step);
        c->at[c->steps] = async_now(t->loop);
        if (c->errors[c->steps] == ASYNC_EDONE) break;
    }
    ASYNC_END(t);
}

TEST(test_as_completed_completion_order) {
    async_loop loop;
    worker w[4];
    async_future *f[4];
    async_link links[4];
    ac_consumer c;
    int delays[4] = {40, 10, 30, 20};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 4, delays);
    memset(&c, 0, sizeof c);
    async_as_completed_init(&loop, &c.ac, f, links, 4, ASYNC_NO_TIMEOUT);
    async_create_task(&loop, &c.task, ac_consumer_run);
    CHECK_EQ(async_run(&loop, &c.task.future), 0);
    CHECK_EQ(c.steps, 4);
    CHECK_EQ(c.yielded[0], 1);
    CHECK_EQ(c.yielded[1], 3);
    CHECK_EQ(c.yielded[2], 2);
    CHECK_EQ(c.yielded[3], 0);
    CHECK_EQ(c.at[0], ASYNC_MS(10));
    CHECK_EQ(c.at[3], ASYNC_MS(40));
    CHECK_EQ(c.errors[4], ASYNC_EDONE);
}

/* Several children finish while the consumer is busy: they still come out
   in the order they finished. */
TEST(test_as_completed_order_when_consumer_is_late) {
    async_loop loop;
    worker w[4];
    async_future *f[4];
    async_link links[4];
    ac_consumer c;
    int delays[4] = {30, 10, 20, 60};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 4, delays);
    memset(&c, 0, sizeof c);
    c.late = ASYNC_MS(50);
    async_as_completed_init(&loop, &c.ac, f, links, 4, ASYNC_NO_TIMEOUT);
    async_create_task(&loop, &c.task, ac_consumer_run);
    CHECK_EQ(async_run(&loop, &c.task.future), 0);
    CHECK_EQ(c.steps, 4);
    CHECK_EQ(c.yielded[0], 1);
    CHECK_EQ(c.yielded[1], 2);
    CHECK_EQ(c.yielded[2], 0);
    CHECK_EQ(c.yielded[3], 3);
    CHECK_EQ(c.at[0], ASYNC_MS(50)); /* the three done ones at once ... */
    CHECK_EQ(c.at[2], ASYNC_MS(50));
    CHECK_EQ(c.at[3], ASYNC_MS(60)); /* ... the last when it is done */
    CHECK_EQ(c.errors[4], ASYNC_EDONE);
}

TEST(test_as_completed_timeout_leaves_rest_running) {
    async_loop loop;
    worker w[4];
    async_future *f[4];
    async_link links[4];
    ac_consumer c;
    int delays[4] = {40, 10, 300, 20};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 4, delays);
    memset(&c, 0, sizeof c);
    async_as_completed_init(&loop, &c.ac, f, links, 4, ASYNC_MS(25));
    async_create_task(&loop, &c.task, ac_consumer_run);
    /* Two yields, the timeout once, then "done" (not the timeout again). */
    CHECK_EQ(async_run(&loop, &c.task.future), 0);
    CHECK_EQ(c.yielded[0], 1);
    CHECK_EQ(c.yielded[1], 3);
    CHECK_EQ(c.errors[2], ASYNC_ETIMEDOUT);
    CHECK_EQ(c.at[2], ASYNC_MS(25));
    CHECK_EQ(c.errors[3], ASYNC_EDONE);
    CHECK_EQ(c.at[3], ASYNC_MS(25));
    CHECK_EQ(c.steps, 3);
    CHECK_EQ(async_error(async_as_completed_next(&c.ac)), ASYNC_EDONE); /* and it stays done */
    CHECK(!async_done(f[0]));
    CHECK(!async_done(f[2]));
    CHECK(!async_future_watched(f[0]) && !async_future_watched(f[2])); /* unwatched */
    CHECK_EQ(async_run(&loop, f[2]), 0); /* the rest run on */
    CHECK_EQ(async_result(f[2]), 102);
    CHECK(async_done(f[0]));
}

/* After shutdown the loop holds nothing of the caller's: a timeout of an
   as_completed whose consumer was cancelled is stopped too. */
TEST(test_shutdown_leaves_no_timer) {
    async_loop loop;
    worker w[2];
    async_future *f[2];
    async_link links[2];
    ac_consumer *c = calloc(1, sizeof *c);
    int delays[2] = {10, 500};
    CHECK(c != NULL);
    if (!c) return;
    virtual_loop(&loop);
    start_workers(&loop, w, f, 2, delays);
    async_as_completed_init(&loop, &c->ac, f, links, 2, ASYNC_SEC(5));
    async_create_task(&loop, &c->task, ac_consumer_run);
    CHECK_EQ(async_main(&loop, f[0]), 0);
    CHECK(async_cancelled(&c->task.future));
    CHECK_EQ(async_loop_tasks(&loop), 0);
    CHECK_EQ(async_loop_timers(&loop), 0); /* the as_completed's 5 s timeout too */
    CHECK_EQ(async_now(&loop), ASYNC_MS(10));
    free(c);
    run_for(&loop, ASYNC_SEC(10));
    CHECK_EQ(async_now(&loop), ASYNC_MS(10010));
}

/* ================= wait ================= */

TEST(test_wait_first_exception) {
    async_loop loop;
    worker w[3];
    async_future *f[3];
    async_link links[3];
    async_wait_op wt;
    int delays[3] = {10, 20, 30};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 3, delays);
    w[1].error = -5;
    CHECK_EQ(async_run(&loop, async_wait(&loop, &wt, f, links, 3, ASYNC_FIRST_EXCEPTION, ASYNC_NO_TIMEOUT)), 0);
    CHECK_EQ(async_now(&loop), ASYNC_MS(20));
    CHECK_EQ(async_result(&wt.future), 2);
    CHECK(async_done(f[0]) && async_done(f[1]) && !async_done(f[2]));
    CHECK_EQ(async_error(f[1]), -5);
}

/* FIRST_EXCEPTION: a cancelled child is no exception; a child that failed
   before the wait began satisfies it at once. */
TEST(test_wait_first_exception_edges) {
    async_loop loop;
    worker w[3];
    async_future *f[3];
    async_link links[3];
    async_wait_op wt;
    int delays[3] = {1000, 20, 40};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 3, delays);
    w[2].error = -5;
    async_wait(&loop, &wt, f, links, 3, ASYNC_FIRST_EXCEPTION, ASYNC_NO_TIMEOUT);
    run_for(&loop, ASYNC_MS(5));
    async_cancel(&w[0].task);
    CHECK_EQ(async_run(&loop, &wt.future), 0);
    CHECK_EQ(async_now(&loop), ASYNC_MS(40)); /* at the failure, not at the cancellation */
    CHECK_EQ(async_result(&wt.future), 3);
    CHECK(async_cancelled(f[0]));
    {
        worker w2[3];
        async_future *f2[3];
        async_link l2[3];
        async_wait_op wt2;
        int d2[3] = {10, 500, 500};
        start_workers(&loop, w2, f2, 3, d2);
        w2[0].error = -6;
        run_for(&loop, ASYNC_MS(20));
        CHECK_EQ(async_error(f2[0]), -6);
        async_wait(&loop, &wt2, f2, l2, 3, ASYNC_FIRST_EXCEPTION, ASYNC_NO_TIMEOUT);
        CHECK(async_done(&wt2.future)); /* at once */
        CHECK_EQ(async_result(&wt2.future), 1);
        CHECK(!async_future_watched(f2[1])); /* and it watches nothing */
        async_cancel(&w2[1].task);
        async_cancel(&w2[2].task);
        CHECK_EQ(async_run(&loop, f2[2]), ASYNC_ECANCELED);
        CHECK_EQ(async_now(&loop), ASYNC_MS(60));
    }
}

TEST(test_wait_timeout_cancels_nothing) {
    async_loop loop;
    worker w[3];
    async_future *f[3];
    async_link links[3];
    async_wait_op wt;
    int delays[3] = {10, 200, 300};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 3, delays);
    CHECK_EQ(async_run(&loop, async_wait(&loop, &wt, f, links, 3, ASYNC_ALL_COMPLETED, ASYNC_MS(50))), 0);
    CHECK_EQ(async_now(&loop), ASYNC_MS(50));
    CHECK_EQ(async_result(&wt.future), 1);
    CHECK(async_done(f[0]) && !async_done(f[1]) && !async_done(f[2]));
    CHECK(!async_cancelled(f[1]) && !async_cancelled(f[2]));
    CHECK(!async_future_watched(f[1])); /* the wait left nothing watching */
    CHECK_EQ(async_run(&loop, f[2]), 0);
    CHECK_EQ(async_result(f[1]), 101);
    CHECK_EQ(async_result(f[2]), 102);
}

TEST(test_wait_first_completed_reports_all_done) {
    async_loop loop;
    worker w[3];
    async_future *f[3];
    async_link links[3];
    async_wait_op wt;
    int delays[3] = {10, 10, 500};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 3, delays);
    run_for(&loop, ASYNC_MS(20));
    CHECK(async_done(f[0]) && async_done(f[1]));
    async_wait(&loop, &wt, f, links, 3, ASYNC_FIRST_COMPLETED, ASYNC_NO_TIMEOUT);
    CHECK(async_done(&wt.future));
    CHECK_EQ(async_result(&wt.future), 2); /* both, not just one */
    /* and when two finish in the same instant while waiting, both count */
    {
        worker w2[3];
        async_future *f2[3];
        async_link l2[3];
        async_wait_op wt2;
        int d2[3] = {30, 30, 500};
        start_workers(&loop, w2, f2, 3, d2);
        CHECK_EQ(async_run(&loop, async_wait(&loop, &wt2, f2, l2, 3, ASYNC_FIRST_COMPLETED, ASYNC_NO_TIMEOUT)), 0);
        CHECK(async_done(f2[0]) && async_done(f2[1]) && !async_done(f2[2]));
        CHECK_EQ(async_result(&wt2.future), 2); /* both of that instant, not only the first */
        CHECK_EQ(async_now(&loop), ASYNC_MS(50));
        async_cancel(&w2[2].task);
        async_cancel(&w[2].task);
        async_run(&loop, f2[2]);
        async_run(&loop, f[2]);
    }
}

/* The wait reports in the next turn behind the tasks woken before its condition held, as
   asyncio's done callback: a child that such a task finishes counts. A waits on an event
   that X sets in the turn where B fails, ahead of B; A finishes before the wait reports. */
TEST(test_wait_counts_what_earlier_wakeups_finish) {
    async_loop loop;
    static ev_kid a;
    static async_task x, b;
    async_future *f[2];
    async_link links[2];
    async_wait_op wt;
    virtual_loop(&loop);
    async_event_init(&abort_ev);
    memset(&a, 0, sizeof a);
    f[0] = async_create_task(&loop, &a.task, ev_kid_run);
    async_create_task(&loop, &x, ev_setter_run);
    f[1] = async_create_task(&loop, &b, yield_then_raise);
    CHECK_EQ(async_run(&loop, async_wait(&loop, &wt, f, links, 2, ASYNC_FIRST_EXCEPTION, ASYNC_NO_TIMEOUT)), 0);
    CHECK_EQ(async_error(f[1]), -7);
    CHECK_EQ(async_result(f[0]), 5);
    CHECK_EQ(async_result(&wt.future), 2); /* A counts: it finished ahead of the report */
    CHECK_EQ(async_run(&loop, &x.future), 0);
}

/* A wait whose every child finishes in the instant its condition first held reports at once
   and withdraws the report it had queued; the next wait's report is still made. */
TEST(test_wait_withdrawn_report_leaves_the_next) {
    async_loop loop;
    worker w[2], w2[2];
    async_future *f[2], *f2[2];
    async_link links[2], l2[2];
    async_wait_op wt, wt2;
    int d[2] = {10, 10}, d2[2] = {20, 500};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 2, d);
    CHECK_EQ(async_run(&loop, async_wait(&loop, &wt, f, links, 2, ASYNC_FIRST_COMPLETED, ASYNC_NO_TIMEOUT)), 0);
    CHECK_EQ(async_result(&wt.future), 2);
    start_workers(&loop, w2, f2, 2, d2);
    CHECK_EQ(async_run(&loop, async_wait(&loop, &wt2, f2, l2, 2, ASYNC_FIRST_COMPLETED, ASYNC_NO_TIMEOUT)), 0);
    CHECK_EQ(async_result(&wt2.future), 1);
    CHECK_EQ(async_now(&loop), ASYNC_MS(30)); /* reported when the first finished, not with the last */
    async_cancel(&w2[1].task);
    async_run(&loop, f2[1]);
}

TEST(test_wait_invalid) {
    async_loop loop;
    async_wait_op wt;
    async_future *none[1];
    async_link links[1];
    async_future one;
    async_future *f1[1];
    virtual_loop(&loop);
    CHECK_EQ(async_error(async_wait(&loop, &wt, none, links, 0, ASYNC_ALL_COMPLETED, ASYNC_NO_TIMEOUT)),
             ASYNC_EINVAL);
    async_future_init(&one);
    f1[0] = &one;
    CHECK_EQ(async_error(async_wait(&loop, &wt, f1, links, 1, 99, ASYNC_NO_TIMEOUT)), ASYNC_EINVAL);
    CHECK(!async_future_watched(&one));
}

/* ================= wait_for and deadlines ================= */

TEST(test_wait_for_timeout_cancels_inner) {
    async_loop loop;
    worker w[1];
    async_future *f[1];
    async_wait_for_op wf;
    int delays[1] = {1000};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 1, delays);
    CHECK_EQ(async_run(&loop, async_wait_for(&loop, &wf, f[0], ASYNC_MS(100))), ASYNC_ETIMEDOUT);
    CHECK(async_cancelled(f[0]));
    CHECK_EQ(async_now(&loop), ASYNC_MS(100));
}

TEST(test_wait_for_in_time) {
    async_loop loop;
    worker w[1];
    async_future *f[1];
    async_wait_for_op wf;
    int delays[1] = {10};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 1, delays);
    CHECK_EQ(async_run(&loop, async_wait_for(&loop, &wf, f[0], ASYNC_MS(100))), 0);
    CHECK_EQ(async_result(&wf.future), 100);
    CHECK_EQ(async_loop_timers(&loop), 0); /* its timer was stopped */
    CHECK_EQ(async_now(&loop), ASYNC_MS(10));
}

TEST(test_wait_for_done_zero_timeout) {
    async_loop loop;
    async_future done;
    async_wait_for_op wf;
    virtual_loop(&loop);
    async_future_init(&done);
    async_future_set_result(&done, 77);
    async_wait_for(&loop, &wf, &done, 0);
    CHECK(async_done(&wf.future));
    CHECK_EQ(async_result(&wf.future), 77);
}

/* On timeout the inner is cancelled; if it ends otherwise (it caught the
   cancellation), its own outcome is what wait_for gives, as in asyncio. */
TEST(test_wait_for_inner_outcome_wins_over_timeout) {
    async_loop loop;
    worker w[2];
    async_future *f[2];
    async_wait_for_op wf[2];
    int delays[2] = {1000, 1000};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 2, delays);
    w[0].catches = 1, w[0].error = -33; /* cleans up, then fails on its own */
    w[1].catches = 1;                   /* cleans up, then returns 101 */
    CHECK_EQ(async_run(&loop, async_wait_for(&loop, &wf[0], f[0], ASYNC_MS(100))), -33);
    CHECK_EQ(w[0].caught, ASYNC_ECANCELED);
    CHECK_EQ(async_now(&loop), ASYNC_MS(100));
    CHECK_EQ(async_run(&loop, async_wait_for(&loop, &wf[1], f[1], ASYNC_MS(50))), 0);
    CHECK_EQ(async_result(&wf[1].future), 101);
    CHECK_EQ(async_now(&loop), ASYNC_MS(150));
}

/* Cancelling a task that awaits wait_for ends it at once: the inner is
   cancelled, not waited for until it would have finished. */
TEST(test_cancel_task_awaiting_wait_for) {
    async_loop loop;
    worker w[1];
    async_future *f[1];
    async_wait_for_op wf;
    awaiter a;
    int delays[1] = {1000};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 1, delays);
    memset(&a, 0, sizeof a);
    a.target = async_wait_for(&loop, &wf, f[0], ASYNC_MS(500));
    async_create_task(&loop, &a.task, awaiter_run);
    run_for(&loop, ASYNC_MS(10));
    async_cancel(&a.task);
    CHECK_EQ(async_run(&loop, &a.task.future), ASYNC_ECANCELED);
    CHECK_EQ(async_now(&loop), ASYNC_MS(10));
    CHECK(async_cancelled(&wf.future));
    CHECK(async_cancelled(f[0]));
    CHECK_EQ(async_loop_timers(&loop), 0);
}

/* A task that cancels itself sees it at its next await, with no time passing. */
typedef struct self_canceller {
    async_task task;
    async_timer nap;
    int catches, err, after;
    async_time at;
} self_canceller;

static int self_canceller_run(async_task *t) {
    self_canceller *s = (self_canceller *)t;
    ASYNC_BEGIN(t);
    async_cancel(t);
    if (s->catches) {
        ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &s->nap, ASYNC_SEC(1)), s->err);
    } else {
        ASYNC_AWAIT(t, async_sleep(t->loop, &s->nap, ASYNC_SEC(1)));
    }
    s->after = 1;
    s->at = async_now(t->loop);
    ASYNC_END(t);
}

TEST(test_task_cancels_itself) {
    async_loop loop;
    self_canceller s[2];
    int i;
    virtual_loop(&loop);
    memset(s, 0, sizeof s);
    s[1].catches = 1;
    for (i = 0; i < 2; i++) async_create_task(&loop, &s[i].task, self_canceller_run);
    CHECK_EQ(async_run(&loop, &s[0].task.future), ASYNC_ECANCELED);
    CHECK(!s[0].after);
    CHECK_EQ(async_run(&loop, &s[1].task.future), 0);
    CHECK_EQ(s[1].err, ASYNC_ECANCELED);
    CHECK_EQ(s[1].at, 0);
    CHECK_EQ(async_now(&loop), 0);
    CHECK_EQ(async_loop_timers(&loop), 0);
}

/* The only timer stopped and nothing else able to run: the loop reports the
   deadlock at once instead of waiting for the stopped timer's deadline. */
TEST(test_deadlock_after_timer_stopped) {
    async_loop loop;
    async_future never;
    async_timer t;
    awaiter a;
    virtual_loop(&loop);
    async_future_init(&never);
    memset(&a, 0, sizeof a);
    memset(&t, 0, sizeof t);
    a.target = &never;
    async_create_task(&loop, &a.task, awaiter_run);
    run_for(&loop, ASYNC_MS(3));
    async_sleep(&loop, &t, ASYNC_SEC(100));
    async_timer_stop(&t);
    CHECK_EQ(async_run(&loop, &a.task.future), ASYNC_EDEADLK);
    CHECK_EQ(async_now(&loop), ASYNC_MS(3));
    async_future_cancel(&never);
    CHECK_EQ(async_run(&loop, &a.task.future), ASYNC_ECANCELED);
}

/* A task that gathers a group under a deadline (asyncio.timeout). */
typedef struct group_task {
    async_task task;
    async_deadline deadline;
    async_gather_op g;
    async_future **futs;
    async_link *links;
    size_t n;
    async_time timeout;
} group_task;

static int group_run(async_task *t) {
    group_task *gt = (group_task *)t;
    ASYNC_BEGIN(t);
    async_deadline_start(t->loop, &gt->deadline, t, gt->timeout);
    ASYNC_AWAIT(t, async_gather(&gt->g, gt->futs, gt->links, gt->n, 0));
    async_deadline_stop(&gt->deadline);
    ASYNC_RETURN(t, async_result(&gt->g.future));
    ASYNC_END(t);
}

TEST(test_deadline_cancels_group) {
    async_loop loop;
    worker w[3];
    async_future *f[3];
    async_link links[3];
    group_task gt;
    int delays[3] = {10, 500, 900};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 3, delays);
    memset(&gt, 0, sizeof gt);
    gt.futs = f, gt.links = links, gt.n = 3, gt.timeout = ASYNC_MS(100);
    async_create_task(&loop, &gt.task, group_run);
    CHECK_EQ(async_run(&loop, &gt.task.future), ASYNC_ETIMEDOUT);
    CHECK(!async_cancelled(&gt.task.future)); /* failed with a timeout, not cancelled */
    CHECK_EQ(async_now(&loop), ASYNC_MS(100));
    CHECK_EQ(async_result(f[0]), 100);
    CHECK(async_cancelled(f[1]));
    CHECK(async_cancelled(f[2]));
    CHECK(gt.deadline.expired);
    CHECK_EQ(async_loop_timers(&loop), 0);
}

TEST(test_deadline_not_reached) {
    async_loop loop;
    worker w[2];
    async_future *f[2];
    async_link links[2];
    group_task gt;
    int delays[2] = {10, 50};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 2, delays);
    memset(&gt, 0, sizeof gt);
    gt.futs = f, gt.links = links, gt.n = 2, gt.timeout = ASYNC_MS(100);
    async_create_task(&loop, &gt.task, group_run);
    CHECK_EQ(async_run(&loop, &gt.task.future), 0);
    CHECK_EQ(async_result(&gt.task.future), 2);
    CHECK(!gt.deadline.expired);
    CHECK_EQ(async_loop_timers(&loop), 0);
    CHECK_EQ(async_now(&loop), ASYNC_MS(50));
}

/* A task with a deadline it never stops (cancelled past its stop call): the
   deadline leaves the timer heap with the task. No timeout means none, and
   a huge one does not overflow into "now". */
typedef struct deadlined {
    async_task task;
    async_deadline deadline;
    async_timer nap;
    async_future done; /* an await that does not suspend comes first */
    async_time timeout, sleep;
    int passed_first;
} deadlined;

static int deadlined_run(async_task *t) {
    deadlined *d = (deadlined *)t;
    ASYNC_BEGIN(t);
    async_deadline_start(t->loop, &d->deadline, t, d->timeout);
    async_future_init(&d->done);
    async_future_set_result(&d->done, 1);
    ASYNC_AWAIT(t, &d->done);
    d->passed_first = 1;
    ASYNC_AWAIT(t, async_sleep(t->loop, &d->nap, d->sleep));
    async_deadline_stop(&d->deadline);
    ASYNC_RETURN(t, 7);
    ASYNC_END(t);
}

/* A deadline and an explicit cancel that land in the same turn: the task
   reports the one that came first. A timer's wake cancels the task at the
   deadline's own instant, once before the deadline fires and once after. */
typedef struct canceller_wake {
    async_waiter w;
    deadlined *victim;
    int deadline_first; /* the deadline had expired when the explicit cancel came */
} canceller_wake;

static void canceller_wake_run(async_waiter *w, async_future *f) {
    canceller_wake *c = (canceller_wake *)(void *)w;
    (void)f;
    c->deadline_first = async_deadline_expired(&c->victim->deadline);
    async_cancel(&c->victim->task);
}

static int deadline_and_cancel(int timer_first) {
    async_loop loop;
    deadlined d;
    async_timer at;
    canceller_wake c;
    int err;
    virtual_loop(&loop);
    memset(&d, 0, sizeof d);
    memset(&at, 0, sizeof at);
    memset(&c, 0, sizeof c);
    d.timeout = ASYNC_MS(10), d.sleep = ASYNC_MS(100);
    c.victim = &d;
    c.w.wake = canceller_wake_run;
    if (timer_first) async_future_add_waiter(async_sleep(&loop, &at, ASYNC_MS(10)), &c.w);
    async_create_task(&loop, &d.task, deadlined_run);
    if (!timer_first) {
        run_for(&loop, 0); /* the task starts its deadline first */
        async_future_add_waiter(async_sleep(&loop, &at, ASYNC_MS(10)), &c.w);
    }
    err = async_run(&loop, &d.task.future);
    CHECK_EQ(async_now(&loop), ASYNC_MS(10)); /* both in the same turn */
    CHECK_EQ(err, c.deadline_first ? ASYNC_ETIMEDOUT : ASYNC_ECANCELED);
    return c.deadline_first;
}

TEST(test_deadline_and_cancel_same_turn) {
    int a = deadline_and_cancel(1), b = deadline_and_cancel(0);
    CHECK(a != b); /* both orders were seen */
}

TEST(test_deadline_edges) {
    async_loop loop;
    deadlined d;
    async_wait_for_op wf;
    worker w[1];
    async_future *f[1];
    int delays[1] = {5};
    virtual_loop(&loop);
    memset(&d, 0, sizeof d);
    d.timeout = ASYNC_NO_TIMEOUT, d.sleep = ASYNC_MS(10);
    async_create_task(&loop, &d.task, deadlined_run);
    CHECK_EQ(async_run(&loop, &d.task.future), 0);
    CHECK_EQ(async_result(&d.task.future), 7);
    CHECK_EQ(async_now(&loop), ASYNC_MS(10));
    /* cancelled while sleeping: its stop is never reached */
    memset(&d, 0, sizeof d);
    d.timeout = ASYNC_SEC(5), d.sleep = ASYNC_SEC(1);
    async_create_task(&loop, &d.task, deadlined_run);
    run_for(&loop, ASYNC_MS(1));
    CHECK_EQ(async_loop_timers(&loop), 2);
    async_cancel(&d.task);
    CHECK_EQ(async_run(&loop, &d.task.future), ASYNC_ECANCELED);
    CHECK_EQ(async_loop_timers(&loop), 0);
    CHECK_EQ(async_now(&loop), ASYNC_MS(11));
    /* the largest timeout is "far away", not an overflow */
    start_workers(&loop, w, f, 1, delays);
    CHECK_EQ(async_run(&loop, async_wait_for(&loop, &wf, f[0], ASYNC_NO_TIMEOUT)), 0);
    CHECK_EQ(async_result(&wf.future), 100);
    CHECK_EQ(async_now(&loop), ASYNC_MS(16));
}

/* Nested deadlines (asyncio.timeout inside asyncio.timeout). */
typedef struct nester {
    async_task task;
    async_deadline outer, inner;
    async_timer nap;
    async_time outer_timeout, inner_timeout;
    int err, inner_expired, outer_expired;
    async_time at;
} nester;

static int nester_run(async_task *t) {
    nester *n = (nester *)t;
    ASYNC_BEGIN(t);
    async_deadline_start(t->loop, &n->outer, t, n->outer_timeout);
    async_deadline_start(t->loop, &n->inner, t, n->inner_timeout);
    ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &n->nap, ASYNC_SEC(1)), n->err);
    n->at = async_now(t->loop);
    n->inner_expired = async_deadline_stop(&n->inner);
    if (!n->inner_expired && n->err) ASYNC_RAISE(t, n->err); /* not ours: pass it on */
    n->outer_expired = async_deadline_stop(&n->outer);
    ASYNC_RETURN(t, 1);
    ASYNC_END(t);
}

TEST(test_deadline_nested) {
    async_loop loop;
    nester n;
    virtual_loop(&loop);
    /* the outer expires: inside the inner scope it is a cancellation passing
       through, and it leaves the task as ETIMEDOUT */
    memset(&n, 0, sizeof n);
    n.outer_timeout = ASYNC_MS(100), n.inner_timeout = ASYNC_MS(500);
    async_create_task(&loop, &n.task, nester_run);
    CHECK_EQ(async_run(&loop, &n.task.future), ASYNC_ETIMEDOUT);
    CHECK(!async_cancelled(&n.task.future));
    CHECK_EQ(n.err, ASYNC_ECANCELED);
    CHECK_EQ(n.inner_expired, 0);
    CHECK(n.outer.expired);
    CHECK_EQ(n.at, ASYNC_MS(100));
    CHECK_EQ(async_now(&loop), ASYNC_MS(100));
    CHECK_EQ(async_loop_timers(&loop), 0);
    /* the inner expires: its own timeout, which it handles; the outer never fires */
    memset(&n, 0, sizeof n);
    n.outer_timeout = ASYNC_MS(500), n.inner_timeout = ASYNC_MS(50);
    async_create_task(&loop, &n.task, nester_run);
    CHECK_EQ(async_run(&loop, &n.task.future), 0);
    CHECK_EQ(n.err, ASYNC_ETIMEDOUT);
    CHECK_EQ(n.inner_expired, 1);
    CHECK_EQ(n.outer_expired, 0);
    CHECK_EQ(async_now(&loop), ASYNC_MS(150));
    CHECK_EQ(async_loop_timers(&loop), 0);
}

/* asyncio.Timeout's when() and reschedule(). */
TEST(test_deadline_reschedule) {
    async_loop loop;
    deadlined d;
    virtual_loop(&loop);
    /* later */
    memset(&d, 0, sizeof d);
    d.timeout = ASYNC_MS(100), d.sleep = ASYNC_SEC(1);
    async_create_task(&loop, &d.task, deadlined_run);
    run_for(&loop, ASYNC_MS(50));
    CHECK_EQ(async_deadline_when(&d.deadline), ASYNC_MS(100));
    CHECK_EQ(async_deadline_reschedule(&d.deadline, async_now(&loop) + ASYNC_MS(200)), 0);
    CHECK_EQ(async_deadline_when(&d.deadline), ASYNC_MS(250));
    CHECK_EQ(async_run(&loop, &d.task.future), ASYNC_ETIMEDOUT);
    CHECK_EQ(async_now(&loop), ASYNC_MS(250));
    CHECK_EQ(async_deadline_reschedule(&d.deadline, ASYNC_SEC(9)), ASYNC_EINVAL); /* expired (and ended) */
    /* sooner, into the past: expires at once */
    memset(&d, 0, sizeof d);
    d.timeout = ASYNC_SEC(10), d.sleep = ASYNC_SEC(1);
    async_create_task(&loop, &d.task, deadlined_run);
    run_for(&loop, ASYNC_MS(10));
    CHECK_EQ(async_deadline_reschedule(&d.deadline, async_now(&loop) - 1), 0);
    CHECK_EQ(async_run(&loop, &d.task.future), ASYNC_ETIMEDOUT);
    CHECK_EQ(async_now(&loop), ASYNC_MS(260));
    /* to none: the sleep ends on its own */
    memset(&d, 0, sizeof d);
    d.timeout = ASYNC_MS(100), d.sleep = ASYNC_SEC(1);
    async_create_task(&loop, &d.task, deadlined_run);
    run_for(&loop, ASYNC_MS(10));
    CHECK_EQ(async_deadline_reschedule(&d.deadline, ASYNC_NO_TIMEOUT), 0);
    CHECK_EQ(async_deadline_when(&d.deadline), ASYNC_NO_TIMEOUT);
    CHECK_EQ(async_loop_timers(&loop), 1); /* the sleep's only */
    CHECK_EQ(async_run(&loop, &d.task.future), 0);
    CHECK_EQ(async_now(&loop), ASYNC_MS(1260));
    CHECK(!async_deadline_expired(&d.deadline));
    /* and back from none to a time (asyncio.timeout(None), then reschedule) */
    memset(&d, 0, sizeof d);
    d.timeout = ASYNC_NO_TIMEOUT, d.sleep = ASYNC_SEC(1);
    async_create_task(&loop, &d.task, deadlined_run);
    run_for(&loop, ASYNC_MS(10));
    CHECK_EQ(async_deadline_reschedule(&d.deadline, async_now(&loop) + ASYNC_MS(5)), 0);
    CHECK_EQ(async_run(&loop, &d.task.future), ASYNC_ETIMEDOUT);
    CHECK_EQ(async_now(&loop), ASYNC_MS(1275));
}

/* Only ASYNC_NO_TIMEOUT means "none"; every other timeout <= 0 means "now". */
TEST(test_timeouts_zero_or_negative_mean_now) {
    static const async_time now_ish[2] = {0, -1};
    int k;
#ifdef ASYNC_TIME32
    CHECK(ASYNC_NO_TIMEOUT == INT32_MAX);
#else
    CHECK(ASYNC_NO_TIMEOUT == INT64_MAX);
#endif
    for (k = 0; k < 2; k++) {
        async_loop loop;
        worker w[1];
        async_future *f[1];
        async_wait_for_op wf;
        deadlined d;
        int delays[1] = {50};
        virtual_loop(&loop);
        /* wait_for: times out at once, before the inner task runs, and cancels it */
        start_workers(&loop, w, f, 1, delays);
        CHECK_EQ(async_run(&loop, async_wait_for(&loop, &wf, f[0], now_ish[k])), ASYNC_ETIMEDOUT);
        CHECK(async_cancelled(f[0]));
        CHECK(!w[0].started);
        CHECK_EQ(async_now(&loop), 0);
        /* a deadline: expires at the task's next await */
        memset(&d, 0, sizeof d);
        d.timeout = now_ish[k], d.sleep = ASYNC_MS(10);
        async_create_task(&loop, &d.task, deadlined_run);
        CHECK_EQ(async_run(&loop, &d.task.future), ASYNC_ETIMEDOUT);
        CHECK(!d.passed_first); /* at the very next await, even one that does not suspend */
        CHECK(d.deadline.expired);
        CHECK_EQ(async_now(&loop), 0);
        CHECK_EQ(async_loop_timers(&loop), 0);
    }
    {
        /* and ASYNC_NO_TIMEOUT arms no timer at all */
        async_loop loop;
        worker w[1];
        async_future *f[1];
        async_wait_for_op wf;
        int delays[1] = {50};
        virtual_loop(&loop);
        start_workers(&loop, w, f, 1, delays);
        async_wait_for(&loop, &wf, f[0], ASYNC_NO_TIMEOUT);
        run_for(&loop, ASYNC_MS(1));
        CHECK_EQ(async_loop_timers(&loop), 1); /* the worker's sleep only */
        CHECK_EQ(async_run(&loop, &wf.future), 0);
        CHECK_EQ(async_now(&loop), ASYNC_MS(50));
    }
}

/* Closing an as_completed while a consumer waits for its next step ends
   that step with ASYNC_EDONE. */
TEST(test_as_completed_close_wakes_consumer) {
    async_loop loop;
    worker w[2];
    async_future *f[2];
    async_link links[2];
    ac_consumer c;
    int delays[2] = {10, 500};
    virtual_loop(&loop);
    start_workers(&loop, w, f, 2, delays);
    memset(&c, 0, sizeof c);
    async_as_completed_init(&loop, &c.ac, f, links, 2, ASYNC_NO_TIMEOUT);
    async_create_task(&loop, &c.task, ac_consumer_run);
    run_for(&loop, ASYNC_MS(20));
    CHECK_EQ(c.steps, 1);
    async_as_completed_close(&c.ac);
    CHECK_EQ(async_run(&loop, &c.task.future), 0);
    CHECK_EQ(c.errors[1], ASYNC_EDONE);
    CHECK(!async_future_watched(f[1]));
    async_cancel(&w[1].task);
    async_run(&loop, f[1]);
}

/* ================= semaphore, event, queue ================= */

typedef struct holder {
    async_task task;
    async_timer timer;
    async_future slot;
    async_semaphore *sem;
    int id, *inside, *max_inside, *log, *nlog;
} holder;

static int holder_run(async_task *t) {
    holder *h = (holder *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_semaphore_acquire(h->sem, &h->slot));
    h->log[(*h->nlog)++] = h->id;
    if (++*h->inside > *h->max_inside) *h->max_inside = *h->inside;
    ASYNC_AWAIT(t, async_sleep(t->loop, &h->timer, ASYNC_MS(10 + h->id % 3)));
    --*h->inside;
    async_semaphore_release(h->sem);
    ASYNC_END(t);
}

TEST(test_semaphore_limit_and_fifo) {
    enum { N = 10 };
    async_loop loop;
    async_semaphore sem;
    holder h[N];
    async_future *f[N];
    async_link links[N];
    async_gather_op g;
    int inside = 0, max_inside = 0, log[N], nlog = 0, i, fifo = 1;
    virtual_loop(&loop);
    async_semaphore_init(&sem, 3);
    for (i = 0; i < N; i++) {
        memset(&h[i], 0, sizeof h[i]);
        h[i].sem = &sem, h[i].id = i, h[i].inside = &inside, h[i].max_inside = &max_inside;
        h[i].log = log, h[i].nlog = &nlog;
        f[i] = async_create_task(&loop, &h[i].task, holder_run);
    }
    CHECK_EQ(async_run(&loop, async_gather(&g, f, links, N, 0)), 0);
    CHECK_EQ(max_inside, 3);
    CHECK_EQ(nlog, N);
    for (i = 0; i < N; i++) fifo &= log[i] == i; /* first come, first served */
    CHECK(fifo);
    CHECK_EQ(sem.value, 3);
    CHECK_EQ(async_now(&loop), ASYNC_MS(40)); /* 10 holders of 10-12 ms, 3 at a time */
}

TEST(test_semaphore_negative_is_refused) {
    async_semaphore sem;
    CHECK_EQ(async_semaphore_init(&sem, -1), ASYNC_EINVAL);
    CHECK(!async_semaphore_try_acquire(&sem)); /* it starts at 0 */
    async_semaphore_release(&sem);
    CHECK(async_semaphore_try_acquire(&sem));
    CHECK(!async_semaphore_try_acquire(&sem));
    CHECK_EQ(async_semaphore_init(&sem, 2), 0);
}

TEST(test_semaphore_cancelled_waiter_keeps_no_unit) {
    async_loop loop;
    async_semaphore sem;
    awaiter a[3];
    int i;
    virtual_loop(&loop);
    async_semaphore_init(&sem, 1);
    CHECK(async_semaphore_try_acquire(&sem));
    for (i = 0; i < 3; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].target = async_semaphore_acquire(&sem, &a[i].slot);
        async_create_task(&loop, &a[i].task, awaiter_run);
    }
    run_for(&loop, 0);
    async_cancel(&a[0].task); /* cancelled while still waiting */
    async_semaphore_release(&sem);
    /* the release went to a[1], not to the cancelled a[0] */
    CHECK_EQ(async_run(&loop, &a[1].task.future), 0);
    CHECK(async_cancelled(&a[0].task.future));
    CHECK(!async_done(&a[2].task.future));
    CHECK_EQ(sem.value, 0);
    /* granted, then cancelled before it ran: the unit goes on to a[2] */
    {
        awaiter b;
        memset(&b, 0, sizeof b);
        b.target = async_semaphore_acquire(&sem, &b.slot);
        async_create_task(&loop, &b.task, awaiter_run);
        run_for(&loop, 0);
        async_semaphore_release(&sem); /* a[1]'s unit: to a[2] */
        async_semaphore_release(&sem); /* a[2]'s: to b */
        async_cancel(&b.task);         /* b was granted but has not run */
        CHECK_EQ(async_run(&loop, &b.task.future), ASYNC_ECANCELED);
        CHECK(async_done(&a[2].task.future));
        CHECK_EQ(sem.value, 1); /* b's unit came back */
    }
}

/* A primitive's wait is a future of one's own: it composes with wait_for
   and wait like any other. */
TEST(test_primitive_waits_compose) {
    async_loop loop;
    async_event ev;
    async_semaphore sem;
    async_future slot, slot2;
    async_wait_for_op wf;
    async_wait_op w;
    async_timer nap;
    async_future *futs[2];
    async_link links[2];
    virtual_loop(&loop);
    async_event_init(&ev);
    /* asyncio.wait_for(event.wait(), 10 ms) */
    CHECK_EQ(async_run(&loop, async_wait_for(&loop, &wf, async_event_wait(&ev, &slot), ASYNC_MS(10))),
             ASYNC_ETIMEDOUT);
    CHECK(async_cancelled(&slot));
    CHECK(async_waitlist_empty(&ev.waiters)); /* it left the event's list */
    CHECK_EQ(async_now(&loop), ASYNC_MS(10));
    /* asyncio.wait({sem.acquire(), sleep(1)}, FIRST_COMPLETED): the unit goes to the slot */
    async_semaphore_init(&sem, 0);
    memset(&nap, 0, sizeof nap);
    futs[0] = async_semaphore_acquire(&sem, &slot2);
    futs[1] = async_sleep(&loop, &nap, ASYNC_SEC(1));
    async_wait(&loop, &w, futs, links, 2, ASYNC_FIRST_COMPLETED, ASYNC_NO_TIMEOUT);
    async_semaphore_release(&sem);
    CHECK_EQ(async_run(&loop, &w.future), 0);
    CHECK(async_done(&slot2) && !async_cancelled(&slot2));
    CHECK_EQ(sem.value, 0); /* the slot holds it */
    async_semaphore_release(&sem);
    CHECK_EQ(sem.value, 1);
    async_timer_stop(&nap);
}

TEST(test_event_wakes_all) {
    async_loop loop;
    async_event ev;
    awaiter a[3];
    async_future *f[3];
    async_link links[3];
    async_gather_op g;
    int i;
    virtual_loop(&loop);
    async_event_init(&ev);
    for (i = 0; i < 3; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].target = async_event_wait(&ev, &a[i].slot);
        f[i] = async_create_task(&loop, &a[i].task, awaiter_run);
    }
    run_for(&loop, ASYNC_MS(5));
    CHECK(!async_done(f[0]));
    async_event_set(&ev);
    CHECK_EQ(async_run(&loop, async_gather(&g, f, links, 3, 0)), 0);
    CHECK_EQ(a[2].done_at, ASYNC_MS(5));
    {
        async_future slot;
        CHECK(async_done(async_event_wait(&ev, &slot))); /* set: no wait */
        async_event_clear(&ev);
        CHECK(!async_done(async_event_wait(&ev, &slot)));
        async_future_cancel(&slot); /* leaves the event's list */
        CHECK(async_cancelled(&slot));
        CHECK(async_waitlist_empty(&ev.waiters));
    }
}

/* Producer/consumer over a queue of 2 slots. */
typedef struct producer {
    async_task task;
    async_future slot;
    async_queue *q;
    intptr_t i, n;
} producer;

static int producer_run(async_task *t) {
    producer *p = (producer *)t;
    ASYNC_BEGIN(t);
    for (p->i = 1; p->i <= p->n; p->i++) ASYNC_QUEUE_PUT(t, p->q, p->i, &p->slot);
    ASYNC_QUEUE_PUT(t, p->q, 0, &p->slot); /* end */
    ASYNC_END(t);
}

typedef struct consumer {
    async_task task;
    async_future slot;
    async_timer timer;
    async_queue *q;
    intptr_t item, sum, count;
} consumer;

static int consumer_run(async_task *t) {
    consumer *c = (consumer *)t;
    ASYNC_BEGIN(t);
    for (;;) {
        ASYNC_QUEUE_GET(t, c->q, c->item, &c->slot);
        if (c->item == 0) break;
        c->sum += c->item;
        c->count++;
        ASYNC_AWAIT(t, async_sleep(t->loop, &c->timer, ASYNC_MS(1)));
    }
    ASYNC_RETURN(t, c->sum);
    ASYNC_END(t);
}

TEST(test_queue_producer_consumer) {
    async_loop loop;
    async_queue q;
    intptr_t slots[2];
    producer p;
    consumer c;
    virtual_loop(&loop);
    async_queue_init(&q, slots, 2);
    memset(&p, 0, sizeof p);
    memset(&c, 0, sizeof c);
    p.q = c.q = &q;
    p.n = 100;
    async_create_task(&loop, &c.task, consumer_run);
    async_create_task(&loop, &p.task, producer_run);
    CHECK_EQ(async_run(&loop, &c.task.future), 0);
    CHECK_EQ(async_result(&c.task.future), 5050);
    CHECK_EQ(c.count, 100);
    CHECK(async_done(&p.task.future));
    CHECK_EQ(async_now(&loop), ASYNC_MS(100));
    CHECK_EQ(async_queue_get_nowait(&q, &c.item), ASYNC_EEMPTY);
    CHECK_EQ(async_queue_put_nowait(&q, 1), 0);
    CHECK_EQ(async_queue_put_nowait(&q, 2), 0);
    CHECK_EQ(async_queue_put_nowait(&q, 3), ASYNC_EFULL);
}

/* Queue.task_done() and join(): workers that take items and say when each is finished. */
typedef struct join_worker {
    async_task task;
    async_future slot;
    async_timer timer;
    async_queue *q;
    intptr_t item, *finished;
    async_time *last_done;
} join_worker;

static int join_worker_run(async_task *t) {
    join_worker *w = (join_worker *)t;
    ASYNC_BEGIN(t);
    for (;;) {
        ASYNC_QUEUE_GET(t, w->q, w->item, &w->slot);
        ASYNC_AWAIT(t, async_sleep(t->loop, &w->timer, ASYNC_MS(w->item))); /* the item's work */
        ++*w->finished;
        *w->last_done = async_now(t->loop);
        CHECK_EQ(async_queue_task_done(w->q), 0);
    }
    ASYNC_END(t);
}

typedef struct join_producer {
    async_task task;
    async_future slot, joined, second;
    async_queue *q;
    intptr_t i, *finished, finished_at_join;
} join_producer;

static int join_producer_run(async_task *t) {
    join_producer *p = (join_producer *)t;
    ASYNC_BEGIN(t);
    for (p->i = 1; p->i <= 5; p->i++) ASYNC_QUEUE_PUT(t, p->q, p->i, &p->slot);
    async_queue_join(p->q, &p->second); /* a second joiner, not awaited: woken all the same */
    ASYNC_AWAIT(t, async_queue_join(p->q, &p->joined));
    p->finished_at_join = *p->finished;
    ASYNC_END(t);
}

TEST(test_queue_join_waits_for_every_task_done) {
    async_loop loop;
    async_queue q;
    intptr_t slots[2], finished = 0, v;
    async_time last_done = 0;
    async_future early;
    join_worker w[2];
    join_producer p;
    int i;
    virtual_loop(&loop);
    async_queue_init(&q, slots, 2);
    CHECK(async_done(async_queue_join(&q, &early))); /* nothing unfinished: at once */
    CHECK_EQ(async_queue_task_done(&q), ASYNC_EINVAL);  /* more done than put */
    memset(w, 0, sizeof w);
    memset(&p, 0, sizeof p);
    for (i = 0; i < 2; i++) {
        w[i].q = &q, w[i].finished = &finished, w[i].last_done = &last_done;
        async_create_task(&loop, &w[i].task, join_worker_run);
    }
    p.q = &q, p.finished = &finished;
    async_create_task(&loop, &p.task, join_producer_run);
    CHECK_EQ(async_run(&loop, &p.task.future), 0);
    /* Done when the last item was finished, not when it was taken (items 1-5 on two
       workers: 1, 2, then 3 at 1 ms, 4 at 2 ms, 5 at 4 ms, finished at 9 ms). */
    CHECK_EQ(p.finished_at_join, 5);
    CHECK_EQ(last_done, ASYNC_MS(9));
    CHECK_EQ(async_now(&loop), ASYNC_MS(9));
    CHECK(async_done(&p.second) && !async_error(&p.second));
    CHECK_EQ(async_queue_task_done(&q), ASYNC_EINVAL);
    /* Taken but not finished keeps a join waiting. */
    CHECK_EQ(async_cancel(&w[0].task), 1);
    CHECK_EQ(async_cancel(&w[1].task), 1);
    async_run(&loop, &w[1].task.future);
    CHECK_EQ(async_queue_put_nowait(&q, 7), 0);
    CHECK_EQ(async_queue_get_nowait(&q, &v), 0);
    CHECK(!async_done(async_queue_join(&q, &early)));
    CHECK_EQ(async_queue_task_done(&q), 0);
    CHECK(async_done(&early) && !async_error(&early));
}

/* ================= misuse: diagnosed, not silent ================= */

static async_loop misuse_loop;

static int bare_return_run(async_task *t) {
    ASYNC_BEGIN(t);
    if (t->loop) return 0; /* a hand-written return: the task would hang forever */
    ASYNC_END(t);
}

static void run_bare_return(void) {
    async_task t;
    virtual_loop(&misuse_loop);
    async_create_task(&misuse_loop, &t, bare_return_run);
    async_run(&misuse_loop, &t.future);
}

static void start_unzeroed_timer(void) {
    async_timer t;
    virtual_loop(&misuse_loop);
    memset(&t, 0xab, sizeof t);
    async_sleep(&misuse_loop, &t, ASYNC_MS(1));
}

static void next_of_uninitialised_as_completed(void) {
    async_as_completed ac;
    memset(&ac, 0xab, sizeof ac);
    async_as_completed_next(&ac);
}

static void stop_garbage_deadline(void) {
    async_deadline d;
    memset(&d, 0xab, sizeof d);
    async_deadline_stop(&d);
}

static void spawn_into_uninitialised_group(void) {
    async_task_group g;
    async_task t;
    memset(&g, 0xab, sizeof g);
    async_task_group_spawn(&g, &t, bare_return_run);
}

static void release_uninitialised_semaphore(void) {
    async_semaphore s;
    memset(&s, 0xab, sizeof s);
    async_semaphore_release(&s);
}

/* A queue that is all zero (static, never initialised): its waits too. */
static void wait_item_of_uninitialised_queue(void) {
    async_queue q;
    async_future slot;
    memset(&q, 0, sizeof q);
    async_queue_wait_item(&q, &slot);
}

static void wait_room_of_uninitialised_queue(void) {
    async_queue q;
    async_future slot;
    memset(&q, 0, sizeof q);
    async_queue_wait_room(&q, &slot);
}

static int self_await_run(async_task *t) {
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, &t->future);
    ASYNC_END(t);
}

/* Its first cancel (shutdown's, here) would cancel itself without end. */
static void await_itself(void) {
    async_task t;
    virtual_loop(&misuse_loop);
    async_create_task(&misuse_loop, &t, self_await_run);
    async_main(&misuse_loop, &t.future);
}

/* The same storage started twice: the loop's list would hold it twice. */
static void start_running_task_again(void) {
    static sleeper s;
    virtual_loop(&misuse_loop);
    s.delay = ASYNC_MS(5);
    async_create_task(&misuse_loop, &s.task, sleeper_run);
    async_create_task(&misuse_loop, &s.task, sleeper_run);
}

/* One in the middle of the loop's list: its links lead to the loop's oldest. */
static void start_middle_task_again(void) {
    static sleeper s[3];
    int i;
    virtual_loop(&misuse_loop);
    for (i = 0; i < 3; i++) {
        s[i].delay = ASYNC_MS(5);
        async_create_task(&misuse_loop, &s[i].task, sleeper_run);
    }
    async_create_task(&misuse_loop, &s[1].task, sleeper_run);
}

static int nested_run_run(async_task *t) {
    static sleeper inner;
    ASYNC_BEGIN(t);
    inner.delay = ASYNC_MS(5);
    async_create_task(t->loop, &inner.task, sleeper_run);
    async_run(t->loop, &inner.task.future); /* must be an await */
    ASYNC_END(t);
}

static void run_from_a_coroutine(void) {
    async_task t;
    virtual_loop(&misuse_loop);
    async_create_task(&misuse_loop, &t, nested_run_run);
    async_run(&misuse_loop, &t.future);
}

/* Its timer is in the frame that the await returns from: gone when the loop fires it. */
static int local_await_run(async_task *t) {
    async_timer timer;
    memset(&timer, 0, sizeof timer);
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_sleep(t->loop, &timer, ASYNC_MS(1)));
    ASYNC_END(t);
}

static void await_a_local(void) {
    async_task t;
    virtual_loop(&misuse_loop);
    async_create_task(&misuse_loop, &t, local_await_run);
    async_run(&misuse_loop, &t.future);
}

#if defined(__GNUC__) || defined(__clang__)
/* The same with async__suspend inlined into the coroutine (flatten does here
   what LTO may do anywhere): the await's frame would be the coroutine's own. */
__attribute__((flatten)) static int local_await_inlined_run(async_task *t) {
    async_timer timer;
    memset(&timer, 0, sizeof timer);
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_sleep(t->loop, &timer, ASYNC_MS(1)));
    ASYNC_END(t);
}

static void await_a_local_inlined(void) {
    async_task t;
    virtual_loop(&misuse_loop);
    async_create_task(&misuse_loop, &t, local_await_inlined_run);
    async_run(&misuse_loop, &t.future);
}

/* Under ASan with its fake stack (detect_stack_use_after_return, on by default
   since clang 15) a coroutine's locals live off the real stack, where the check
   does not look; ASan reports the await itself (stack-use-after-return) instead. */
#if TEST_ASAN
__attribute__((noinline)) static int locals_in_fake_stack(void) {
    volatile char local = 0;
    void *fake = __asan_get_current_fake_stack();
    return fake && __asan_addr_is_in_fake_stack(fake, (void *)&local, NULL, NULL) != NULL;
}
#endif

static int local_await_diagnosed(void (*fn)(void), const char *expect) {
#if TEST_ASAN
    if (locals_in_fake_stack()) return test__dies(fn, "stack-use-after-return", 1);
#endif
    return dies_saying(fn, expect);
}

/* async_run inlined into its caller, the loop's turn and the task's step with
   it (LTO does it to a main that calls async_run once; GCC's flatten here):
   the task and its timer in the caller's frame are not the coroutine's locals. */
__attribute__((flatten)) static async_time run_inlined_into_its_caller(void) {
    async_loop loop;
    sleeper s;
    virtual_loop(&loop);
    memset(&s, 0, sizeof s);
    s.delay = ASYNC_MS(5);
    async_create_task(&loop, &s.task, sleeper_run);
    async_run(&loop, &s.task.future);
    return s.woke;
}
#endif

/* All zero (static, never initialised): no clock and no virtual time. */
static void run_uninitialised_loop(void) {
    static async_loop loop;
    static sleeper s;
    s.delay = ASYNC_MS(5);
    async_create_task(&loop, &s.task, sleeper_run);
    async_run(&loop, &s.task.future);
}

/* A waiter's wake takes the task's storage back inside its end (zeroes it
   for a next use, or frees it): it is the user's again there, and nothing
   after the step (the debug checks) reads it. */
static int task_taken_back;

typedef struct taker {
    async_waiter waiter; /* first: the wake's waiter is the taker */
    sleeper *s;
} taker;

static void take_the_task_back(async_waiter *w, async_future *done) {
    (void)done;
    memset(((taker *)w)->s, 0, sizeof(sleeper));
    task_taken_back++;
}

static void free_the_task(async_waiter *w, async_future *done) {
    (void)done;
    free(((taker *)w)->s);
    task_taken_back++;
}

TEST(test_task_taken_back_by_a_wake_at_its_end) {
    static sleeper kept;
    async_loop loop;
    taker zero, give;
    async_timer tick;
    sleeper *s = (sleeper *)calloc(1, sizeof *s);
    CHECK(s != NULL);
    virtual_loop(&loop);
    memset(&tick, 0, sizeof tick);
    kept.delay = s->delay = ASYNC_MS(1);
    async_create_task(&loop, &kept.task, sleeper_run);
    async_create_task(&loop, &s->task, sleeper_run);
    zero.waiter.wake = take_the_task_back;
    zero.s = &kept;
    give.waiter.wake = free_the_task;
    give.s = s;
    async_future_add_waiter(&kept.task.future, &zero.waiter);
    async_future_add_waiter(&s->task.future, &give.waiter);
    task_taken_back = 0;
    CHECK_EQ(async_run(&loop, async_sleep(&loop, &tick, ASYNC_MS(2))), 0);
    CHECK_EQ(task_taken_back, 2);
    CHECK_EQ(async_loop_tasks(&loop), 0);
}

/* A loop initialised again forgets the tasks its last run left pending: one
   of them started on it is a new task, though its old neighbours may still
   name it, or its old older neighbour be the new loop's oldest. */
typedef struct event_waiter {
    async_task task;
    async_event *event;
    async_future slot;
} event_waiter;

static int event_waiter_run(async_task *t) {
    event_waiter *w = (event_waiter *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_event_wait(w->event, &w->slot));
    ASYNC_END(t);
}

TEST(test_task_of_a_forgotten_run_starts_again) {
    static async_loop loop;
    static async_event never, go;
    static event_waiter a, b, c, x;
    static sleeper s;
    int life;
    a.event = b.event = c.event = x.event = &never;
    virtual_loop(&loop);
    async_event_init(&never);
    async_create_task(&loop, &a.task, event_waiter_run);
    async_create_task(&loop, &b.task, event_waiter_run);
    async_create_task(&loop, &c.task, event_waiter_run);
    s.delay = ASYNC_MS(1);
    async_create_task(&loop, &s.task, sleeper_run);
    CHECK_EQ(async_run(&loop, &s.task.future), 0);
    CHECK_EQ(async_loop_tasks(&loop), 3); /* a, b and c wait for ever: left as they are */
    /* The second life: b's old neighbours a and c still name it. The third:
       b's older one, x, is the loop's oldest again, and names no one. */
    for (life = 2; life <= 3; life++) {
        virtual_loop(&loop); /* the run is over: a new one on the same storage */
        async_event_init(&never);
        async_event_init(&go);
        b.event = x.event = life == 3 ? &go : &never;
        async_create_task(&loop, &x.task, event_waiter_run);
        async_create_task(&loop, &b.task, event_waiter_run); /* no complaint */
        CHECK_EQ(async_loop_tasks(&loop), 2);
        s.delay = ASYNC_MS(1);
        async_create_task(&loop, &s.task, sleeper_run);
        CHECK_EQ(async_run(&loop, &s.task.future), 0);
    }
    async_event_set(&go);
    CHECK_EQ(async_run(&loop, &b.task.future), 0);
    CHECK_EQ(async_run(&loop, &x.task.future), 0);
    CHECK_EQ(async_loop_tasks(&loop), 0);
}

TEST(test_misuse_is_diagnosed) {
    async_deadline zero;
    CHECK(dies_saying(await_itself, "a task awaits itself (in self_await_run)"));
    CHECK(dies_saying(run_bare_return, "returned without ASYNC_END, ASYNC_RETURN or ASYNC_RAISE"));
    CHECK(dies_saying(run_bare_return, "(in bare_return_run)"));
    CHECK(dies_saying(start_unzeroed_timer, "a timer started that was never zeroed"));
    CHECK(dies_saying(next_of_uninitialised_as_completed,
                      "an as_completed (async_as_completed_init) used before its init"));
    CHECK(dies_saying(stop_garbage_deadline, "a deadline (async_deadline_start) used before its init"));
    CHECK(dies_saying(spawn_into_uninitialised_group, "a task group (async_task_group_init) used before its init"));
    CHECK(dies_saying(release_uninitialised_semaphore, "a semaphore (async_semaphore_init) used before its init"));
    CHECK(dies_saying(wait_item_of_uninitialised_queue, "a queue (async_queue_init) used before its init"));
    CHECK(dies_saying(wait_room_of_uninitialised_queue, "a queue (async_queue_init) used before its init"));
    CHECK(dies_saying(start_running_task_again, "async_create_task: the task is still running"));
    CHECK(dies_saying(start_middle_task_again, "async_create_task: the task is still running"));
    CHECK(dies_saying(run_uninitialised_loop, "a loop (async_loop_init) used before its init"));
    CHECK(dies_saying(run_from_a_coroutine, "called from a coroutine: the loop already runs"));
    CHECK(dies_saying(run_from_a_coroutine, "(in nested_run_run)"));
#if defined(__GNUC__) || defined(__clang__)
    CHECK(local_await_diagnosed(await_a_local, "an await of a local variable of the coroutine: locals do not survive an await"));
    CHECK(local_await_diagnosed(await_a_local, "(in local_await_run)"));
    CHECK(local_await_diagnosed(await_a_local_inlined, "an await of a local variable of the coroutine"));
    CHECK(local_await_diagnosed(await_a_local_inlined, "(in local_await_inlined_run)"));
    CHECK_EQ(run_inlined_into_its_caller(), ASYNC_MS(5)); /* and no complaint */
#endif
    memset(&zero, 0, sizeof zero); /* all zero is a stopped deadline: no complaint */
    CHECK_EQ(async_deadline_stop(&zero), 0);
}

/* With computed goto a switch may enclose an await; with the portable
   variant the await's case label goes to the user's switch, and the first
   resume says so. */
typedef struct switcher {
    async_task task;
    async_timer timer;
    int mode;
} switcher;

static int switcher_run(async_task *t) {
    switcher *s = (switcher *)t;
    ASYNC_BEGIN(t);
    switch (s->mode) {
    case 1:
        ASYNC_AWAIT(t, async_sleep(t->loop, &s->timer, ASYNC_MS(1)));
        ASYNC_RETURN(t, 10);
    default:
        ASYNC_AWAIT(t, async_sleep(t->loop, &s->timer, ASYNC_MS(2)));
        ASYNC_RETURN(t, 20);
    }
    ASYNC_END(t);
}

#ifdef ASYNC_LC_GOTO
TEST(test_switch_around_await) {
    async_loop loop;
    switcher s;
    virtual_loop(&loop);
    memset(&s, 0, sizeof s);
    s.mode = 1;
    async_create_task(&loop, &s.task, switcher_run);
    CHECK_EQ(async_run(&loop, &s.task.future), 0);
    CHECK_EQ(async_result(&s.task.future), 10);
    CHECK_EQ(async_now(&loop), ASYNC_MS(1));
}
#else
static void run_switcher(void) {
    switcher s;
    virtual_loop(&misuse_loop);
    memset(&s, 0, sizeof s);
    s.mode = 1;
    async_create_task(&misuse_loop, &s.task, switcher_run);
    async_run(&misuse_loop, &s.task.future);
}

TEST(test_switch_around_await) {
    CHECK(dies_saying(run_switcher, "an await inside a switch of yours: with ASYNC_LC_SWITCH"));
    CHECK(dies_saying(run_switcher, "(in switcher_run)"));
}
#endif


/* ================= the loop's time: spreading, wrapping, idling, interrupts ================= */

typedef struct tiny_sleeper {
    async_task task;
    async_timer timer;
    async_time delay, woke;
} tiny_sleeper;

static int tiny_sleeper_run(async_task *t) {
    tiny_sleeper *s = (tiny_sleeper *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_sleep(t->loop, &s->timer, s->delay));
    s->woke = async_now(t->loop);
    ASYNC_END(t);
}

/* 100,000 timers over 100 ms: no loop turn moves a crowd of timers at once
   (a radix heap moved up to half of them at power-of-two instants, which
   made the timers due meanwhile milliseconds late on a real clock). The
   loop reads its clock once per turn: the clock marks the turns. */
static unsigned long moves_at_turn, moves_max_turn;
static async_time turn_clock(void *user) {
    async_time *now = (async_time *)user;
    if (timer_moves - moves_at_turn > moves_max_turn) moves_max_turn = timer_moves - moves_at_turn;
    moves_at_turn = timer_moves;
    return *now;
}
static void turn_idle(void *user, async_time timeout) {
    if (timeout > 0) *(async_time *)user += timeout;
}

TEST(test_timers_move_a_few_per_turn) {
    enum { N = 100000 };
    tiny_sleeper *s = calloc(N, sizeof *s);
    async_future **futs = calloc(N, sizeof *futs);
    async_link *links = calloc(N, sizeof *links);
    async_loop_config cfg;
    async_loop loop;
    async_gather_op g;
    unsigned rng = 7;
    size_t i, wrong = 0;
    CHECK(s && futs && links);
    if (!s || !futs || !links) return;
    async_time now = 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.clock = turn_clock;
    cfg.clock_user = &now;
    cfg.idle = turn_idle;
    cfg.idle_user = &now;
    async_loop_init(&loop, &cfg);
    for (i = 0; i < N; i++) {
        rng = rng * 1103515245u + 12345u;
        s[i].delay = ASYNC_US((rng >> 4) % 100000);
        futs[i] = async_create_task(&loop, &s[i].task, tiny_sleeper_run);
    }
    moves_at_turn = timer_moves, moves_max_turn = 0;
    CHECK_EQ(async_run(&loop, async_gather(&g, futs, links, N, 0)), 0);
    for (i = 0; i < N; i++) wrong += s[i].woke != s[i].delay;
    CHECK_EQ(wrong, 0);
    printf("NOTE 100k timers over 100 ms: at most %lu moved in one loop turn\n", moves_max_turn);
#ifndef ASYNC_TIME32
    CHECK(moves_max_turn <= 1024);
#endif
    free(s), free(futs), free(links);
}

/* A busy turn (one that does not wait) reads the clock once, and
   async_loop_time() reads it only when no timer keeps the loop's reading
   fresh: the clock counts its readings. */
static unsigned long clock_reads;
static async_time counting_clock(void *user) {
    clock_reads++;
    return *(async_time *)user;
}

typedef struct time_reader {
    async_task task;
    int i, n;
    unsigned long read_by_loop_time; /* readings async_loop_time() made */
    int wrong_time;
} time_reader;

static int time_reader_run(async_task *t) {
    time_reader *y = (time_reader *)t;
    ASYNC_BEGIN(t);
    for (y->i = 0; y->i < y->n; y->i++) {
        unsigned long before = clock_reads;
        if (async_loop_time(t->loop) != ASYNC_MS(5)) y->wrong_time++;
        y->read_by_loop_time += clock_reads - before;
        ASYNC_YIELD(t);
    }
    ASYNC_END(t);
}

/* A backend whose poll finds nothing: time moves only when it may wait. */
static unsigned long empty_polls;
static int empty_poll(void *user, async_time timeout) {
    empty_polls++;
    if (timeout > 0) *(async_time *)user += timeout;
    return 0;
}

TEST(test_busy_turns_read_the_clock_once) {
    async_time now = ASYNC_MS(5);
    async_loop_config cfg;
    async_loop loop;
    async_timer timer;
    time_reader y;
    unsigned long reads;
    memset(&cfg, 0, sizeof cfg);
    cfg.clock = counting_clock;
    cfg.clock_user = &now;
    async_loop_init(&loop, &cfg);
    async_loop_set_backend(&loop, empty_poll, &now); /* each turn polls, as with io */
    memset(&timer, 0, sizeof timer);
    async_sleep(&loop, &timer, ASYNC_SEC(1)); /* armed: the loop keeps its reading fresh */
    memset(&y, 0, sizeof y);
    y.n = 1000;
    reads = clock_reads, empty_polls = 0;
    CHECK_EQ(async_run(&loop, async_create_task(&loop, &y.task, time_reader_run)), 0);
    CHECK(empty_polls >= 1000);
    CHECK_EQ(y.read_by_loop_time, 0);
    CHECK_EQ(y.wrong_time, 0);
    CHECK(clock_reads - reads >= 1000);    /* every turn reads it... */
    /* ...once (it was twice, around the poll), and once per 64 tasks run */
    CHECK(clock_reads - reads <= 1000 + 1000 / 64 + 8);
    async_timer_stop(&timer);
    now += ASYNC_MS(7);
    reads = clock_reads;
    CHECK_EQ(async_loop_time(&loop), ASYNC_MS(12)); /* no timer: the clock's time */
    CHECK_EQ(clock_reads - reads, 1);
}

/* Timers started, restarted and stopped at random, with delays from
   nanoseconds to hours, the loop run for random stretches: each timer
   fires once, exactly at its deadline, and a stopped one never. */
typedef struct rtimer {
    async_waiter w;
    async_timer t;
    async_time deadline, fired_at;
    int armed, fired, bad;
} rtimer;

static async_loop *rt_loop;
static void rtimer_wake(async_waiter *w, async_future *f) {
    rtimer *r = (rtimer *)w;
    if (f->state != ASYNC_FULFILLED) return; /* stopped */
    if (!r->armed || async_now(rt_loop) != r->deadline) r->bad++;
    r->armed = 0, r->fired++;
}

TEST(test_timers_at_random) {
    enum { N = 300, STEPS = 20000 };
    static rtimer r[N];
    async_loop loop;
    unsigned rng = 4242;
    int i, step, bad = 0, late = 0;
    virtual_loop(&loop);
    rt_loop = &loop;
    memset(r, 0, sizeof r);
    for (step = 0; step < STEPS; step++) {
        unsigned op, k;
        async_time d;
        rng = rng * 1103515245u + 12345u;
        op = (rng >> 16) % 10;
        k = (rng >> 4) % N;
        rng = rng * 1103515245u + 12345u;
        /* a delay of some power of 16 (of ticks or ns), or 0 */
        d = (async_time)((rng >> 8) % 100) << (4 * ((rng >> 2) % 7));
        if (op < 6) {                           /* start or restart */
            if (!async_timer_armed(&r[k].t)) {
                r[k].w.wake = rtimer_wake;
                async_future_add_waiter(async_sleep(&loop, &r[k].t, d), &r[k].w);
            } else {
                async_sleep(&loop, &r[k].t, d); /* keeps its waiter */
            }
            r[k].deadline = r[k].t.deadline, r[k].armed = 1;
        } else if (op < 7) {                    /* stop */
            async_timer_stop(&r[k].t);
            r[k].armed = 0;
        } else {                                /* let time pass */
            run_for(&loop, d);
        }
        for (i = 0; i < N; i++)
            if (r[i].armed && ASYNC_TIME_BEFORE(r[i].deadline, async_now(&loop))) late++;
    }
    for (i = 0; i < N; i++) async_timer_stop(&r[i].t), bad += r[i].bad;
    CHECK_EQ(bad, 0);
    CHECK_EQ(late, 0);
    CHECK_EQ(async_loop_timers(&loop), 0);
}

/* An MCU's clock: a 32-bit tick counter that the idle hook advances by
   the time it is asked to sleep, as SysTick would while the core waits in WFI. */
static uint32_t mcu_ticks;
static unsigned idle_calls;
static async_time idle_last, idle_timeouts[16];
static async_trigger *idle_fires; /* the "interrupt" the hook raises, if any */
static async_time mcu_clock(void *user) {
    (void)user;
    return (async_time)mcu_ticks;
}
static void mcu_idle(void *user, async_time timeout) {
    async_loop *loop = (async_loop *)user;
    if (idle_calls < 16) idle_timeouts[idle_calls] = timeout;
    idle_calls++;
    idle_last = timeout;
    if (idle_fires) {
        /* An interrupt that lands after the loop's last look, before the
           core sleeps: the check-then-idle pattern must see it. */
        async_trigger_fire(idle_fires);
        if (async_loop_signalled(loop)) return; /* (interrupts masked here) */
    }
    if (timeout > 0) mcu_ticks += (uint32_t)timeout; /* WFI until the tick that is due */
}

static void mcu_loop(async_loop *loop, uint32_t start) {
    async_loop_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.clock = mcu_clock;
    cfg.idle = mcu_idle;
    cfg.idle_user = loop;
    mcu_ticks = start;
    idle_calls = 0;
    idle_fires = NULL;
    async_loop_init(loop, &cfg);
    nfinished = 0;
}

/* The hook is never called while a task is ready, and is told how long
   the loop means to wait. */
TEST(test_idle_hook) {
    async_loop loop;
    yielder a, b;
    async_future *fs[2];
    async_gather_op g;
    async_link links[2];
    worker w[1];
    async_future *f[1];
    int log[6], nlog = 0, delays[1] = {5};
    mcu_loop(&loop, 1000);
    memset(&a, 0, sizeof a), memset(&b, 0, sizeof b);
    a.id = 1, b.id = 2, a.log = b.log = log, a.nlog = b.nlog = &nlog;
    fs[0] = async_create_task(&loop, &a.task, yielder_run);
    fs[1] = async_create_task(&loop, &b.task, yielder_run);
    CHECK_EQ(async_run(&loop, async_gather(&g, fs, links, 2, 0)), 0);
    CHECK_EQ(idle_calls, 0); /* tasks were ready all along */
    start_workers(&loop, w, f, 1, delays);
    CHECK_EQ(async_run(&loop, f[0]), 0);
    CHECK_EQ(w[0].finished_at, (async_time)(1000 + ASYNC_MS(5)));
    CHECK(idle_calls >= 1);
#ifndef ASYNC_TIME32
    CHECK_EQ(idle_calls, 1); /* one wait, exactly as long as the sleep */
    CHECK_EQ(idle_timeouts[0], ASYNC_MS(5));
#else
    CHECK(idle_calls <= 8); /* a radix heap's bound: a few waits on the way */
#endif
}

/* A trigger: fired from an "ISR" (the idle hook here), it wakes the task
   that waits on it; the loop waits for it instead of reporting a deadlock. */
typedef struct irq_waiter {
    async_task task;
    async_trigger *tr;
    async_future slot;
    int woken;
} irq_waiter;

static int irq_waiter_run(async_task *t) {
    irq_waiter *w = (irq_waiter *)t;
    ASYNC_BEGIN(t);
    for (w->woken = 0; w->woken < 3; w->woken++) ASYNC_AWAIT(t, async_trigger_wait(w->tr, &w->slot));
    ASYNC_END(t);
}

TEST(test_trigger_wakes_task) {
    async_loop loop;
    async_trigger tr;
    irq_waiter w;
    async_future slot;
    mcu_loop(&loop, 0);
    async_trigger_init(&loop, &tr);
    /* fires before anyone waits, in one turn and in two: one wake-up is
       kept (a binary semaphore) */
    async_trigger_fire(&tr);
    async_trigger_fire(&tr);
    CHECK(async_loop_signalled(&loop));
    run_for(&loop, 0);
    CHECK(!async_loop_signalled(&loop));
    async_trigger_fire(&tr);
    run_for(&loop, 0);
    CHECK(async_done(async_trigger_wait(&tr, &slot)));
    CHECK(!async_done(async_trigger_wait(&tr, &slot)));
    async_future_cancel(&slot);
    /* a task that waits on nothing but the trigger: the loop idles with
       no timeout (-1), the hook's interrupt wakes it, three times */
    memset(&w, 0, sizeof w);
    w.tr = &tr;
    idle_fires = &tr;
    async_create_task(&loop, &w.task, irq_waiter_run);
    CHECK_EQ(async_run(&loop, &w.task.future), 0);
    CHECK_EQ(w.woken, 3);
    CHECK_EQ(idle_calls, 3);
    CHECK_EQ(idle_last, -1);
    if (!async_done(&w.task.future)) async_cancel(&w.task), run_for(&loop, 0); /* w is reused below */
    /* without a trigger registered, the same wait is a deadlock */
    async_trigger_remove(&tr);
    idle_fires = NULL;
    memset(&w, 0, sizeof w);
    w.tr = &tr;
    async_create_task(&loop, &w.task, irq_waiter_run);
    CHECK_EQ(async_run(&loop, &w.task.future), ASYNC_EDEADLK);
    async_cancel(&w.task);
    run_for(&loop, 0);
}

/* A waiter cancelled after a trigger's wake-up reached it, before it ran,
   hands the wake-up on, and the trigger still keeps one at most. The first
   fire reaches w[0], which is cancelled and hands it to w[1]; the second
   finds no waiter and is kept; w[1] is cancelled and hands the first on
   again: one kept, not two. */
static async_trigger *handed_trigger;
static irq_waiter *handed_victims;
static int trigger_canceller_run(async_task *t) {
    ASYNC_BEGIN(t);
    async_cancel(&handed_victims[0].task); /* woken this turn, not run yet */
    async_trigger_fire(handed_trigger);
    ASYNC_YIELD(t);
    async_cancel(&handed_victims[1].task); /* got the first one's wake-up, not run yet */
    ASYNC_END(t);
}

TEST(test_trigger_handed_on_keeps_one) {
    async_loop loop;
    async_trigger tr;
    irq_waiter w[2];
    async_task canceller;
    async_future slots[3];
    int i;
    virtual_loop(&loop);
    async_trigger_init(&loop, &tr);
    memset(w, 0, sizeof w);
    for (i = 0; i < 2; i++) {
        w[i].tr = &tr;
        async_create_task(&loop, &w[i].task, irq_waiter_run);
    }
    run_for(&loop, 0); /* both wait */
    handed_trigger = &tr, handed_victims = w;
    async_create_task(&loop, &canceller, trigger_canceller_run);
    async_trigger_fire(&tr);
    async_run(&loop, &canceller.future);
    run_for(&loop, 0);
    CHECK_EQ(async_error(&w[0].task.future), ASYNC_ECANCELED);
    CHECK_EQ(async_error(&w[1].task.future), ASYNC_ECANCELED);
    CHECK_EQ(w[0].woken + w[1].woken, 0);
    CHECK(async_done(async_trigger_wait(&tr, &slots[0])));
    CHECK(!async_done(async_trigger_wait(&tr, &slots[1])));
    CHECK(!async_done(async_trigger_wait(&tr, &slots[2])));
    async_future_cancel(&slots[1]);
    async_future_cancel(&slots[2]);
    async_trigger_remove(&tr);
}

/* A POSIX signal handler is an ISR: it fires the trigger while the loop
   (no timer, no hook) sleeps; the loop neither spins nor reports a deadlock. */
static async_trigger *signal_trigger;
static void on_usr1(int sig) {
    (void)sig;
    async_trigger_fire(signal_trigger);
}

TEST(test_trigger_from_signal_handler) {
    async_loop loop;
    async_trigger tr;
    irq_waiter w;
    pid_t child;
    int i;
    async_loop_init(&loop, NULL); /* the POSIX clock and nanosleep */
    async_trigger_init(&loop, &tr);
    struct sigaction sa;
    signal_trigger = &tr;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* sigaction, not signal(): that one resets after one delivery */
    sigaction(SIGUSR1, &sa, NULL);
    memset(&w, 0, sizeof w);
    w.tr = &tr;
    async_create_task(&loop, &w.task, irq_waiter_run);
    child = fork();
    if (child == 0) {
        pid_t parent = getppid();
        struct timespec pause = {0, 20000000};
        for (i = 0; i < 3; i++) {
            nanosleep(&pause, NULL);
            kill(parent, SIGUSR1);
        }
        _exit(0);
    }
    CHECK(child > 0);
    CHECK_EQ(async_run(&loop, &w.task.future), 0);
    CHECK_EQ(w.woken, 3);
    waitpid(child, NULL, 0);
    signal(SIGUSR1, SIG_DFL);
    async_trigger_remove(&tr);
}

/* A 32-bit tick counter that wraps: timers set before the wrap fire after
   it, each exactly on time, in order; deadlines and wait_for too. */
#ifdef ASYNC_TIME32
static void clock_wraps_at(uint32_t start) {
    enum { N = 2000 };
    static tiny_sleeper s[N];
    static async_future *fs[N];
    static async_link links[N];
    async_gather_op g;
    async_loop loop;
    worker w[3];
    async_future *f[3];
    group_task gt;
    async_link glinks[3];
    int delays[3] = {500, 1000, 1500};
    unsigned rng = 99;
    int i, wrong = 0;
    /* sleepers on either side of the wrap */
    mcu_loop(&loop, start);
    start_workers(&loop, w, f, 3, delays);
    CHECK_EQ(async_run(&loop, f[2]), 0);
    for (i = 0; i < 3; i++) CHECK_EQ((uint32_t)w[i].finished_at, start + (uint32_t)ASYNC_MS(delays[i]));
    for (i = 0; i < 3; i++) CHECK_EQ(finish_order[i], 100 + i);
    /* many timers across the wrap, some stopped */
    mcu_loop(&loop, start);
    for (i = 0; i < N; i++) {
        memset(&s[i], 0, sizeof s[i]);
        rng = rng * 1103515245u + 12345u;
        s[i].delay = ASYNC_MS((rng >> 8) % 2000);
        fs[i] = async_create_task(&loop, &s[i].task, tiny_sleeper_run);
    }
    async_gather(&g, fs, links, N, 1);
    run_for(&loop, 0);
    for (i = 0; i < N; i += 7) async_cancel(&s[i].task);
    CHECK_EQ(async_run(&loop, &g.future), 0);
    for (i = 0; i < N; i++)
        if (i % 7 ? (uint32_t)s[i].woke != start + (uint32_t)s[i].delay : !async_cancelled(fs[i])) wrong++;
    CHECK_EQ(wrong, 0);
    /* a deadline that passes the wrap cancels its group on time */
    mcu_loop(&loop, start);
    start_workers(&loop, w, f, 3, delays);
    memset(&gt, 0, sizeof gt);
    gt.futs = f, gt.links = glinks, gt.n = 3, gt.timeout = ASYNC_MS(1200);
    async_create_task(&loop, &gt.task, group_run);
    CHECK_EQ(async_run(&loop, &gt.task.future), ASYNC_ETIMEDOUT);
    CHECK_EQ((uint32_t)async_now(&loop), start + (uint32_t)ASYNC_MS(1200));
    CHECK(!async_cancelled(f[1]) && async_cancelled(f[2]));
}
#endif

TEST(test_clock_wraps) {
#ifdef ASYNC_TIME32
    clock_wraps_at((uint32_t)0 - (uint32_t)ASYNC_SEC(1));          /* 1 s before the counter wraps */
    clock_wraps_at((uint32_t)0x80000000 - (uint32_t)ASYNC_SEC(1)); /* and before async_time's sign flips */
#else
    printf("NOTE test_clock_wraps: 64-bit time does not wrap (see the ASYNC_TIME32 builds)\n");
#endif
}

/* ================= timer edges ================= */

/* A waiter that re-arms its timer with delay 0 from its wake, as a
   callback-driven poll would (asyncio's call_later(0) from a callback). */
static long rearm_wakes;
static int rearm_nests; /* the first wake runs the loop inside the pass (a nested async_run) */
static async_loop *rearm_loop;
static async_timer rearm_timer, rearm_inner;
static void rearm_wake(async_waiter *w, async_future *f) {
    if (f->state != ASYNC_FULFILLED) return;
    if (++rearm_wakes == 1 && rearm_nests) async_run(rearm_loop, async_sleep(rearm_loop, &rearm_inner, 1));
    /* capped: without the fix, the one firing pass never ended */
    if (rearm_wakes < 1000) async_future_add_waiter(async_sleep(rearm_loop, &rearm_timer, 0), w);
}

/* ... fires a tick on, at the next turn, not again and again in the pass
   that fires it: the loop goes on, and a task's 3-tick sleep ends. */
static void timer_rearmed_due_from_its_wake(int nests) {
    async_loop loop;
    async_waiter w;
    tiny_sleeper y;
    virtual_loop(&loop);
    rearm_loop = &loop, rearm_wakes = 0, rearm_nests = nests;
    memset(&rearm_timer, 0, sizeof rearm_timer);
    memset(&rearm_inner, 0, sizeof rearm_inner);
    memset(&w, 0, sizeof w);
    w.wake = rearm_wake;
    async_future_add_waiter(async_sleep(&loop, &rearm_timer, 0), &w);
    memset(&y, 0, sizeof y);
    y.delay = 3; /* ticks */
    async_create_task(&loop, &y.task, tiny_sleeper_run);
    CHECK_EQ(async_run(&loop, &y.task.future), 0);
    CHECK_EQ(async_now(&loop), 3);
    CHECK(rearm_wakes >= 3 && rearm_wakes <= 4); /* one a tick (999 at once without the fix) */
    async_timer_stop(&rearm_timer);
    CHECK_EQ(async_loop_timers(&loop), 0);
}

TEST(test_timer_rearmed_due_from_its_wake) {
    timer_rearmed_due_from_its_wake(0);
    timer_rearmed_due_from_its_wake(1); /* a loop run inside the pass leaves it a firing pass */
}

/* The same on a loop that wakes late (an idle wait that oversleeps, as
   nanosleep does; a millisecond clock given in nanoseconds always does): the
   lone timer takes now as the floor again, and its tick-on deadline may land
   in the very slot list the pass walks. It still waits for the next turn. */
static async_time late_clock_now;
static long late_turns, late_early;
static async_future late_done;
static async_time late_clock(void *user) {
    (void)user;
    return late_clock_now;
}
static void late_idle(void *user, async_time timeout) {
    (void)user;
    late_turns++;
    late_clock_now += timeout + 31; /* 31 late: the slot of floor + 32 is the floor's */
}
static void late_rearm_wake(async_waiter *w, async_future *f) {
    if (f->state != ASYNC_FULFILLED) return;
    if (async_now(rearm_loop) < rearm_timer.deadline) late_early++;
    if (++rearm_wakes < 1000) async_future_add_waiter(async_sleep(rearm_loop, &rearm_timer, 0), w);
    else async_future_set_result(&late_done, 0);
}

TEST(test_timer_rearmed_from_its_wake_on_a_late_loop) {
    async_loop loop;
    async_loop_config cfg;
    async_waiter w;
    memset(&cfg, 0, sizeof cfg);
    cfg.clock = late_clock;
    cfg.idle = late_idle;
    async_loop_init(&loop, &cfg);
    late_clock_now = 0, late_turns = late_early = 0;
    rearm_loop = &loop, rearm_wakes = 0;
    memset(&rearm_timer, 0, sizeof rearm_timer);
    memset(&w, 0, sizeof w);
    w.wake = late_rearm_wake;
    async_future_add_waiter(async_sleep(&loop, &rearm_timer, 5), &w);
    async_future_init(&late_done);
    CHECK_EQ(async_run(&loop, &late_done), 0);
    CHECK_EQ(rearm_wakes, 1000);
    CHECK_EQ(late_early, 0);      /* 999 fired before their deadline, in one pass, without the fix */
    CHECK(late_turns >= 999);     /* one a turn */
    async_timer_stop(&rearm_timer);
}

/* A sleep of ASYNC_NO_TIMEOUT never ends, on a virtual clock neither: with
   nothing else to wait for the run is a deadlock (the clock jumped to the
   end of time and fired it). */
TEST(test_sleep_forever_on_a_virtual_clock) {
#ifndef ASYNC_TIME32
    async_loop loop;
    async_timer forever;
    memset(&forever, 0, sizeof forever);
    virtual_loop(&loop);
    CHECK_EQ(async_run(&loop, async_sleep(&loop, &forever, ASYNC_NO_TIMEOUT)), ASYNC_EDEADLK);
    CHECK_EQ(forever.future.state, ASYNC_PENDING);
    CHECK(async_now(&loop) < ASYNC_NO_TIMEOUT);
    async_timer_stop(&forever);
    CHECK_EQ(async_loop_timers(&loop), 0);
#else
    printf("NOTE test_sleep_forever_on_a_virtual_clock: 32-bit ticks cut it to ASYNC_MAX_DELAY\n");
#endif
}

/* Ticks of a timespec at a rate that does not divide 1e9: within a second
   they stay below the rate (a division by 1e9 / hz overshot it, and the
   clock stepped back at the next second). */
TEST(test_clock_ticks_of_a_timespec) {
    static const uint64_t hz[] = {32768, 3000000, 1000, 1000000, 7};
    size_t i;
    for (i = 0; i < sizeof hz / sizeof hz[0]; i++) {
        CHECK(ASYNC__CLOCK_TICKS(0, 999999999, hz[i]) < hz[i]);
        CHECK(ASYNC__CLOCK_TICKS(5, 999999999, hz[i]) < ASYNC__CLOCK_TICKS(6, 0, hz[i]));
        CHECK_EQ(ASYNC__CLOCK_TICKS(6, 0, hz[i]), 6 * hz[i]);
        CHECK_EQ(ASYNC__CLOCK_TICKS(0, 500000000, hz[i]), hz[i] / 2);
    }
}

#ifdef ASYNC_TIME32
/* ASYNC_SEC and the others saturate: an hour at 1 MHz (3.6e9 ticks) is cut
   to ASYNC_MAX_DELAY by the sleep, not wrapped into the past. */
static const async_time an_hour = ASYNC_SEC(3600); /* still a constant expression */
#endif

TEST(test_time32_long_delays_are_cut) {
#ifdef ASYNC_TIME32
    async_loop loop;
    async_wait_for_op wf;
    worker w[1];
    async_future *f[1];
    int delays[1] = {10};
    CHECK(an_hour > 0 && ASYNC_MS(3600000) > 0 && ASYNC_US((int64_t)3600000000) > 0);
    CHECK(ASYNC_NS((int64_t)3600 * 1000000000) > 0);
    CHECK(ASYNC_SEC(-3600) < 0 && ASYNC_MS(-3600000) < 0);
    CHECK(ASYNC_SEC(3600) != ASYNC_NO_TIMEOUT); /* a time, not "none" */
    CHECK_EQ(ASYNC_SEC(2), 2000000);
    virtual_loop(&loop);
    run_for(&loop, ASYNC_SEC(3600));
    CHECK_EQ(async_now(&loop), ASYNC_MAX_DELAY);
    /* a wait_for with such a timeout does not time out at once */
    virtual_loop(&loop);
    start_workers(&loop, w, f, 1, delays);
    CHECK_EQ(async_run(&loop, async_wait_for(&loop, &wf, f[0], ASYNC_SEC(3600))), 0);
    CHECK_EQ(async_now(&loop), ASYNC_MS(10));
#else
    printf("NOTE test_time32_long_delays_are_cut: 64-bit time (see the ASYNC_TIME32 builds)\n");
#endif
}

/* A deadline of timeout 0 when the tick counter reads INT32_MAX (that is
   ASYNC_NO_TIMEOUT): still "now", not "none". */
TEST(test_time32_deadline_zero_at_int32_max) {
#ifdef ASYNC_TIME32
    static const uint32_t at[] = {0x7fffffffu, 0x7ffffffeu, 0};
    size_t k;
    for (k = 0; k < sizeof at / sizeof at[0]; k++) {
        async_loop loop;
        deadlined d;
        mcu_loop(&loop, at[k]);
        memset(&d, 0, sizeof d);
        d.timeout = 0, d.sleep = ASYNC_MS(5);
        async_create_task(&loop, &d.task, deadlined_run);
        CHECK_EQ(async_run(&loop, &d.task.future), ASYNC_ETIMEDOUT);
        CHECK(d.deadline.expired);
        CHECK(d.deadline.when != ASYNC_NO_TIMEOUT);
        CHECK_EQ(mcu_ticks, at[k]);
    }
#else
    printf("NOTE test_time32_deadline_zero_at_int32_max: 64-bit time (see the ASYNC_TIME32 builds)\n");
#endif
}

/* An absolute deadline further than ASYNC_MAX_DELAY (here 1.75 * 2^30
   ticks) is cut to now + ASYNC_MAX_DELAY, as a delay is: it used to pass
   for the past against a timer floor that lags now, and fire at once. */
TEST(test_time32_far_deadline_is_cut) {
#ifdef ASYNC_TIME32
    async_loop loop;
    async_timer far, b, tick;
    async_time now, when;
    mcu_loop(&loop, 0);
    memset(&far, 0, sizeof far), memset(&b, 0, sizeof b), memset(&tick, 0, sizeof tick);
    async_sleep(&loop, &far, ASYNC_MAX_DELAY); /* the floor stays at 0 */
    mcu_ticks = (uint32_t)1 << 29;             /* time passes without a turn */
    now = async_now(&loop);
    when = ASYNC_TIME_ADD(now, ((async_time)7 << 28));
    async_timer_start_at(&loop, &b, when);
    CHECK_EQ(b.deadline, ASYNC_TIME_ADD(now, ASYNC_MAX_DELAY));
    CHECK_EQ(async_run(&loop, async_sleep(&loop, &tick, 1)), 0);
    CHECK(!async_done(&b.future));
    CHECK_EQ(async_run(&loop, &b.future), 0);
    CHECK_EQ(async_now(&loop), ASYNC_TIME_ADD(now, ASYNC_MAX_DELAY));
    CHECK(async_done(&far.future)); /* on the way, on time */
#else
    printf("NOTE test_time32_far_deadline_is_cut: 64-bit time (see the ASYNC_TIME32 builds)\n");
#endif
}

/* The first timer after a long time with none (a loop woken only by interrupts): the loop
   had not read its clock since, and a deadline on the counter's present time, over
   ASYNC_MAX_DELAY past that old reading, passed for the past or was cut: it fired early. */
TEST(test_time32_first_timer_after_a_long_quiet) {
#ifdef ASYNC_TIME32
    async_loop loop;
    async_timer t;
    async_time want;
    mcu_loop(&loop, 0);
    memset(&t, 0, sizeof t);
    mcu_ticks = ((uint32_t)1 << 30) + 5; /* no timer all along: no turn read the clock */
    want = ASYNC_TIME_ADD((async_time)mcu_ticks, 1000);
    async_timer_start_at(&loop, &t, want);
    CHECK_EQ(t.deadline, want);
    CHECK_EQ(async_run(&loop, &t.future), 0);
    CHECK_EQ(async_now(&loop), want);
#else
    printf("NOTE test_time32_first_timer_after_a_long_quiet: 64-bit time (see the ASYNC_TIME32 builds)\n");
#endif
}

/* ================= scale ================= */

typedef struct tiny {
    async_task task;
    async_timer timer;
    async_time delay;
} tiny;

static int tiny_run(async_task *t) {
    tiny *s = (tiny *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_sleep(t->loop, &s->timer, s->delay));
    ASYNC_RETURN(t, async_now(t->loop));
    ASYNC_END(t);
}

/* A million tasks, each sleeping a pseudo-random time, gathered; each must
   wake exactly at its own deadline. */
TEST(test_million_tasks) {
    enum { N = 1000000 };
    tiny *tasks = calloc(N, sizeof *tasks);
    async_future **futs = calloc(N, sizeof *futs);
    async_link *links = calloc(N, sizeof *links);
    async_loop loop;
    async_gather_op g;
    unsigned rng = 2024;
    size_t i, wrong = 0;
    CHECK(tasks && futs && links);
    if (!tasks || !futs || !links) return;
    virtual_loop(&loop);
    for (i = 0; i < N; i++) {
        rng = rng * 1664525u + 1013904223u;
        tasks[i].delay = ASYNC_US(rng % 1000000);
        futs[i] = async_create_task(&loop, &tasks[i].task, tiny_run);
    }
    CHECK_EQ(async_run(&loop, async_gather(&g, futs, links, N, 0)), 0);
    rng = 2024;
    for (i = 0; i < N; i++) {
        rng = rng * 1664525u + 1013904223u;
        if (async_result(futs[i]) != ASYNC_US(rng % 1000000)) wrong++;
    }
    CHECK_EQ(wrong, 0);
    CHECK_EQ(async_result(&g.future), N);
    free(tasks);
    free(futs);
    free(links);
}

/* ================= cancellation corner cases (a review's findings) ================= */

/* A shield whose inner future fails while its owner's group aborts completes once: the
   owner of a task group awaits shield(child); the child fails; the shield (in the same turn)
   completes failed, and stays so when the group cancels the owner at the next turn's start,
   which the owner sees at its await (as asyncio's _must_cancel). */
typedef struct shield_owner {
    async_task task;
    async_task_group g;
    async_future *futs[1];
    async_link links[1];
    worker child;
    async_shield_op sh;
    int err, shield_state;
} shield_owner;

static int shield_owner_run(async_task *t) {
    shield_owner *o = (shield_owner *)t;
    ASYNC_BEGIN(t);
    async_task_group_init(&o->g, t, o->futs, o->links, 1);
    async_task_group_spawn(&o->g, &o->child.task, worker_run);
    ASYNC_AWAIT_CATCH(t, async_shield(&o->sh, &o->child.task.future), o->err);
    o->shield_state = o->sh.future.state;
    ASYNC_AWAIT(t, async_task_group_join(&o->g));
    ASYNC_END(t);
}

TEST(test_shield_cancelled_by_its_group_completes_once) {
    async_loop loop;
    static shield_owner o;
    virtual_loop(&loop);
    memset(&o, 0, sizeof o);
    o.child.delay = ASYNC_MS(1), o.child.error = -5;
    async_create_task(&loop, &o.task, shield_owner_run);
    CHECK_EQ(async_main(&loop, &o.task.future), 0);
    CHECK_EQ(async_error(&o.g.future), -5); /* the join: the group's first error */
    CHECK_EQ(o.err, ASYNC_ECANCELED);
    CHECK_EQ(o.shield_state, ASYNC_FAILED); /* and it stayed so */
    CHECK_EQ(async_error(&o.sh.future), -5);
}

/* An owner whose body returned, cancelled (or timed out) while it waits for its group's
   children, ends cancelled (or timed out), not with what its body returned (7). */
TEST(test_task_group_owner_cancelled_while_closing) {
    int by_deadline;
    for (by_deadline = 0; by_deadline < 2; by_deadline++) {
        async_loop loop;
        int delays[2] = {5000, 5000};
        group_owner *o;
        virtual_loop(&loop);
        o = new_group_owner(&loop, 2, delays, NULL);
        o->body_sleep = 0; /* the body returns at once: the group is closed by its end */
        o->timeout = by_deadline ? ASYNC_MS(100) : 0;
        async_create_task(&loop, &o->task, group_owner_run);
        run_for(&loop, ASYNC_MS(by_deadline ? 50 : 100));
        CHECK(!async_done(&o->task.future)); /* its body is over; it waits for the children */
        if (!by_deadline) async_cancel(&o->task);
        CHECK_EQ(async_run(&loop, &o->task.future), by_deadline ? ASYNC_ETIMEDOUT : ASYNC_ECANCELED);
        CHECK_EQ(async_cancelled(&o->task.future), !by_deadline);
        CHECK_EQ(async_now(&loop), ASYNC_MS(100));
        CHECK(async_cancelled(o->futs[0]) && async_cancelled(o->futs[1]));
    }
}

/* A deadline that expired at once (a timeout of 0, a reschedule into the past) and is stopped
   before the task awaited anything: the scope is over, nothing reaches the awaits after it, and
   it did not expire (asyncio.timeout(0) around no await). */
typedef struct brief_scope {
    async_task task;
    async_deadline d;
    async_timer nap;
    int reschedule, expired, err;
} brief_scope;

static int brief_scope_run(async_task *t) {
    brief_scope *b = (brief_scope *)t;
    ASYNC_BEGIN(t);
    async_deadline_start(t->loop, &b->d, t, b->reschedule ? ASYNC_SEC(10) : 0);
    if (b->reschedule) async_deadline_reschedule(&b->d, async_loop_time(t->loop) - 1);
    b->expired = async_deadline_stop(&b->d); /* no await in the scope */
    ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &b->nap, ASYNC_MS(1)), b->err);
    ASYNC_RETURN(t, 42);
    ASYNC_END(t);
}

TEST(test_deadline_stopped_before_any_await_did_not_expire) {
    int reschedule;
    for (reschedule = 0; reschedule < 2; reschedule++) {
        async_loop loop;
        brief_scope b;
        virtual_loop(&loop);
        memset(&b, 0, sizeof b);
        b.reschedule = reschedule;
        async_create_task(&loop, &b.task, brief_scope_run);
        CHECK_EQ(async_main(&loop, &b.task.future), 0);
        CHECK_EQ(async_result(&b.task.future), 42);
        CHECK_EQ(b.expired, 0);
        CHECK_EQ(b.err, 0);
        CHECK_EQ(async_now(&loop), ASYNC_MS(1));
    }
}

/* Two deadlines whose expiries are both still undelivered when their scopes end, with no await
   in either: each stop withdraws its own request and no other's, nothing reaches the sleep after
   the scopes, and neither expired. asyncio:
       async with asyncio.timeout(0) as outer:          # case 0; case 1: timeout(10) ...
           async with asyncio.timeout(0) as inner:
               pass                                     # ... and outer.reschedule(loop.time())
       await asyncio.sleep(0.001)                       # runs; inner/outer.expired(): False
   Case 2: a cancel came before both; it stays and the sleep sees it. Case 3: as case 1, and
   a cancel after both expiries: it stays too (not taken back with theirs). */
typedef struct nested_brief {
    async_task task;
    async_deadline outer, inner;
    async_timer nap;
    int kind, inner_expired, outer_expired, err;
} nested_brief;

static int nested_brief_run(async_task *t) {
    nested_brief *b = (nested_brief *)t;
    ASYNC_BEGIN(t);
    if (b->kind == 2) async_cancel(t);
    async_deadline_start(t->loop, &b->outer, t, b->kind == 1 || b->kind == 3 ? ASYNC_SEC(10) : 0);
    async_deadline_start(t->loop, &b->inner, t, 0);
    if (b->kind == 1 || b->kind == 3) async_deadline_reschedule(&b->outer, async_loop_time(t->loop));
    if (b->kind == 3) async_cancel(t);
    b->inner_expired = async_deadline_stop(&b->inner);
    b->outer_expired = async_deadline_stop(&b->outer);
    ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &b->nap, ASYNC_MS(1)), b->err);
    ASYNC_RETURN(t, 42);
    ASYNC_END(t);
}

TEST(test_nested_deadlines_stopped_before_any_await) {
    int kind;
    for (kind = 0; kind < 4; kind++) {
        async_loop loop;
        nested_brief b;
        virtual_loop(&loop);
        memset(&b, 0, sizeof b);
        b.kind = kind;
        async_create_task(&loop, &b.task, nested_brief_run);
        CHECK_EQ(async_main(&loop, &b.task.future), 0);
        CHECK_EQ(async_result(&b.task.future), 42);
        CHECK_EQ(b.inner_expired, 0);
        CHECK_EQ(b.outer_expired, 0);
        CHECK_EQ(b.err, kind >= 2 ? ASYNC_ECANCELED : 0);
        CHECK_EQ(async_now(&loop), kind >= 2 ? 0 : ASYNC_MS(1));
    }
}

/* Three scopes: the middle one and the outer one rescheduled into the past while the task
   runs, then the inner and the middle stopped before any await: the middle one did not
   expire, and the outer one's expiry is the next await's, as its own timeout (asyncio:
   CancelledError there, TimeoutError at the outer scope's end). */
typedef struct three_scopes {
    async_task task;
    async_deadline outer, mid, inner;
    async_timer nap;
    int mid_expired, outer_expired, err;
} three_scopes;

static int three_scopes_run(async_task *t) {
    three_scopes *b = (three_scopes *)t;
    ASYNC_BEGIN(t);
    async_deadline_start(t->loop, &b->outer, t, ASYNC_SEC(10));
    async_deadline_start(t->loop, &b->mid, t, ASYNC_SEC(10));
    async_deadline_start(t->loop, &b->inner, t, ASYNC_SEC(10));
    async_deadline_reschedule(&b->mid, async_loop_time(t->loop));
    async_deadline_reschedule(&b->outer, async_loop_time(t->loop));
    async_deadline_stop(&b->inner);
    b->mid_expired = async_deadline_stop(&b->mid);
    ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &b->nap, ASYNC_SEC(1)), b->err);
    b->outer_expired = async_deadline_stop(&b->outer);
    ASYNC_END(t);
}

TEST(test_deadline_outer_due_after_inner_scopes_end) {
    async_loop loop;
    three_scopes b;
    virtual_loop(&loop);
    memset(&b, 0, sizeof b);
    async_create_task(&loop, &b.task, three_scopes_run);
    CHECK_EQ(async_main(&loop, &b.task.future), 0);
    CHECK_EQ(b.mid_expired, 0);
    CHECK_EQ(b.err, ASYNC_ETIMEDOUT);
    CHECK_EQ(b.outer_expired, 1);
    CHECK_EQ(async_now(&loop), 0);
}

/* A timeout of 0 asks at the next yield too; one moved on before the task awaited asks at
   its new time, not at once. */
typedef struct due_moves {
    async_task task;
    async_deadline d;
    async_timer nap;
    int yielded, err;
    async_time at;
} due_moves;

static int due_moves_run(async_task *t) {
    due_moves *m = (due_moves *)t;
    ASYNC_BEGIN(t);
    async_deadline_start(t->loop, &m->d, t, 0);
    async_deadline_reschedule(&m->d, async_loop_time(t->loop) + ASYNC_MS(5));
    ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &m->nap, ASYNC_SEC(1)), m->err);
    m->at = async_loop_time(t->loop);
    async_deadline_stop(&m->d);
    async_deadline_start(t->loop, &m->d, t, 0);
    ASYNC_YIELD(t);
    m->yielded = 1; /* not reached: the yield's resumption is the timeout's */
    ASYNC_END(t);
}

TEST(test_deadline_due_at_yield_and_moved) {
    async_loop loop;
    due_moves m;
    virtual_loop(&loop);
    memset(&m, 0, sizeof m);
    async_create_task(&loop, &m.task, due_moves_run);
    CHECK_EQ(async_main(&loop, &m.task.future), ASYNC_ETIMEDOUT);
    CHECK_EQ(m.err, ASYNC_ETIMEDOUT);
    CHECK_EQ(m.at, ASYNC_MS(5));
    CHECK_EQ(m.yielded, 0);
}

/* A timeout of 0 whose body ends with a group's child still running: the wait for the child
   is the body's last await, where the deadline asks; the child is cancelled and the owner
   ends timed out at once (asyncio: timeout(0) around a TaskGroup). */
typedef struct due_kid {
    async_task task;
    async_timer t;
} due_kid;

static int due_kid_run(async_task *t) {
    due_kid *k = (due_kid *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_sleep(t->loop, &k->t, ASYNC_SEC(1)));
    ASYNC_END(t);
}

typedef struct due_owner {
    async_task task;
    async_task_group g;
    async_future *futs[1];
    async_link links[1];
    due_kid kid;
    async_deadline d;
} due_owner;

static int due_owner_run(async_task *t) {
    due_owner *o = (due_owner *)t;
    ASYNC_BEGIN(t);
    async_task_group_init(&o->g, t, o->futs, o->links, 1);
    async_task_group_spawn(&o->g, &o->kid.task, due_kid_run);
    async_deadline_start(t->loop, &o->d, t, 0);
    ASYNC_RETURN(t, 7); /* the group is joined by the end */
    ASYNC_END(t);
}

TEST(test_deadline_due_when_the_body_ends_with_children) {
    async_loop loop;
    due_owner o;
    virtual_loop(&loop);
    memset(&o, 0, sizeof o);
    async_create_task(&loop, &o.task, due_owner_run);
    CHECK_EQ(async_main(&loop, &o.task.future), ASYNC_ETIMEDOUT);
    CHECK(async_cancelled(&o.kid.task.future));
    CHECK(async_deadline_expired(&o.d));
    CHECK_EQ(async_now(&loop), 0);
}

/* A deadline whose expiry the task saw (and caught), then a cancel in the same scope: the stop
   reports the expiry and leaves the cancel, which is the next await's. */
typedef struct caught_then_cancelled {
    async_task task;
    async_deadline d;
    async_timer nap;
    int first, expired, second;
} caught_then_cancelled;

static int caught_then_cancelled_run(async_task *t) {
    caught_then_cancelled *c = (caught_then_cancelled *)t;
    ASYNC_BEGIN(t);
    async_deadline_start(t->loop, &c->d, t, ASYNC_MS(5));
    ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &c->nap, ASYNC_SEC(1)), c->first);
    async_cancel(t);
    c->expired = async_deadline_stop(&c->d);
    ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &c->nap, ASYNC_MS(1)), c->second);
    ASYNC_END(t);
}

TEST(test_deadline_seen_then_cancel_in_its_scope) {
    async_loop loop;
    caught_then_cancelled c;
    virtual_loop(&loop);
    memset(&c, 0, sizeof c);
    async_create_task(&loop, &c.task, caught_then_cancelled_run);
    CHECK_EQ(async_main(&loop, &c.task.future), 0);
    CHECK_EQ(c.first, ASYNC_ETIMEDOUT);
    CHECK_EQ(c.expired, 1);
    CHECK_EQ(c.second, ASYNC_ECANCELED);
}

/* A cancel that lands after a deadline's expiry, before the task saw it: the task reports the
   timeout first, and, having caught it, sees the cancel at its next await; it is not lost.
   Here async_loop_shutdown's cancel lands on a task that retries on timeouts: it ends
   cancelled after one try, where it used to retry on and finish. */
typedef struct retrier {
    async_task task;
    async_deadline d;
    async_timer op;
    int tries, err;
} retrier;

static int retrier_run(async_task *t) {
    retrier *r = (retrier *)t;
    ASYNC_BEGIN(t);
    for (r->tries = 0; r->tries < 5; r->tries++) {
        async_deadline_start(t->loop, &r->d, t, ASYNC_MS(100));
        ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &r->op, ASYNC_SEC(1)), r->err);
        async_deadline_stop(&r->d);
        if (r->err != ASYNC_ETIMEDOUT) break; /* a timeout: try again */
    }
    if (r->err) ASYNC_RAISE(t, r->err);
    ASYNC_RETURN(t, 42);
    ASYNC_END(t);
}

typedef struct two_scopes {
    async_task task;
    async_deadline outer, inner;
    async_timer op;
    int err1, err2, inner_expired, outer_expired;
    async_time at;
} two_scopes;

static int two_scopes_run(async_task *t) {
    two_scopes *n = (two_scopes *)t;
    ASYNC_BEGIN(t);
    async_deadline_start(t->loop, &n->outer, t, ASYNC_MS(500));
    async_deadline_start(t->loop, &n->inner, t, ASYNC_MS(100));
    ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &n->op, ASYNC_SEC(1)), n->err1);
    n->inner_expired = async_deadline_stop(&n->inner);
    if (n->err1 != ASYNC_ETIMEDOUT) ASYNC_RAISE(t, n->err1);
    ASYNC_AWAIT_CATCH(t, async_sleep(t->loop, &n->op, ASYNC_SEC(1)), n->err2); /* still in the outer scope */
    n->at = async_now(t->loop);
    n->outer_expired = async_deadline_stop(&n->outer);
    ASYNC_END(t);
}

TEST(test_cancel_after_an_unseen_timeout_is_not_lost) {
    async_loop loop;
    static retrier r;
    static two_scopes n;
    virtual_loop(&loop);
    memset(&r, 0, sizeof r);
    async_create_task(&loop, &r.task, retrier_run);
    async_run(&loop, &r.d.timer.future); /* the first deadline fired; the task has not seen it */
    CHECK(!async_done(&r.task.future));
    async_loop_shutdown(&loop);
    CHECK(async_cancelled(&r.task.future));
    CHECK_EQ(r.tries, 1);
    CHECK_EQ(async_now(&loop), ASYNC_MS(100));
    /* nested: the inner deadline fires, the outer is moved to now in the same turn; the task
       handles the inner timeout, and its next await sees the outer's expiry at once */
    virtual_loop(&loop);
    memset(&n, 0, sizeof n);
    async_create_task(&loop, &n.task, two_scopes_run);
    async_run(&loop, &n.inner.timer.future);
    CHECK_EQ(async_deadline_reschedule(&n.outer, async_now(&loop)), 0);
    CHECK_EQ(async_run(&loop, &n.task.future), 0);
    CHECK_EQ(n.err1, ASYNC_ETIMEDOUT);
    CHECK_EQ(n.inner_expired, 1);
    CHECK_EQ(n.err2, ASYNC_ECANCELED); /* the outer's, passing through */
    CHECK_EQ(n.at, ASYNC_MS(100));
    CHECK_EQ(n.outer_expired, 1);
}

int main(void) {
    RUN(test_sizes);
    RUN(test_task_result_and_time);
    RUN(test_raise);
    RUN(test_yield_is_fifo);
    RUN(test_plain_future);
    RUN(test_deadlock_is_reported);
    RUN(test_strerror_names_every_code);
    RUN(test_error_domains);
    RUN(test_timer_heap_order);
    RUN(test_cancel_during_sleep_ends_cancelled);
    RUN(test_cancel_before_start_never_runs);
    RUN(test_caught_cancellation_finishes_normally);
    RUN(test_cancel_propagates_to_awaited_task);
    RUN(test_cancel_while_ready_seen_at_next_await);
    RUN(test_main_cancels_what_is_left);
    RUN(test_run_then_shutdown);
    RUN(test_shutdown_reports_a_task_that_cannot_end);
    RUN(test_gather_keeps_argument_order);
    RUN(test_gather_of_nothing);
    RUN(test_gather_first_error_others_keep_running);
    RUN(test_gather_return_exceptions_slots);
    RUN(test_cancel_gather_cancels_children);
    RUN(test_gather_cancelled_child_is_an_error);
    RUN(test_gather_done_then_cancelled_results_stand);
    RUN(test_cancelled_future_ends_awaiter);
    RUN(test_shield);
    RUN(test_task_group_first_failure);
    RUN(test_task_group_join_waits_for_every_child);
    RUN(test_task_group_same_turn_siblings_keep_their_outcome);
    RUN(test_task_group_last_child_fails_in_the_join);
    RUN(test_task_group_abort_behind_earlier_wakeups);
    RUN(test_task_group_cancelled_child_and_no_join);
    RUN(test_task_group_owner_cancelled);
    RUN(test_task_group_error_wins_over_cancel);
    RUN(test_task_group_spawn_refused);
    RUN(test_as_completed_completion_order);
    RUN(test_as_completed_order_when_consumer_is_late);
    RUN(test_as_completed_timeout_leaves_rest_running);
    RUN(test_shutdown_leaves_no_timer);
    RUN(test_wait_first_exception);
    RUN(test_wait_first_exception_edges);
    RUN(test_wait_timeout_cancels_nothing);
    RUN(test_wait_first_completed_reports_all_done);
    RUN(test_wait_counts_what_earlier_wakeups_finish);
    RUN(test_wait_withdrawn_report_leaves_the_next);
    RUN(test_wait_invalid);
    RUN(test_wait_for_timeout_cancels_inner);
    RUN(test_wait_for_in_time);
    RUN(test_wait_for_done_zero_timeout);
    RUN(test_wait_for_inner_outcome_wins_over_timeout);
    RUN(test_cancel_task_awaiting_wait_for);
    RUN(test_task_cancels_itself);
    RUN(test_deadlock_after_timer_stopped);
    RUN(test_deadline_cancels_group);
    RUN(test_deadline_not_reached);
    RUN(test_deadline_and_cancel_same_turn);
    RUN(test_deadline_edges);
    RUN(test_timeouts_zero_or_negative_mean_now);
    RUN(test_deadline_nested);
    RUN(test_deadline_reschedule);
    RUN(test_shield_cancelled_by_its_group_completes_once);
    RUN(test_task_group_owner_cancelled_while_closing);
    RUN(test_deadline_stopped_before_any_await_did_not_expire);
    RUN(test_nested_deadlines_stopped_before_any_await);
    RUN(test_deadline_seen_then_cancel_in_its_scope);
    RUN(test_deadline_outer_due_after_inner_scopes_end);
    RUN(test_deadline_due_at_yield_and_moved);
    RUN(test_deadline_due_when_the_body_ends_with_children);
    RUN(test_cancel_after_an_unseen_timeout_is_not_lost);
    RUN(test_as_completed_close_wakes_consumer);
    RUN(test_semaphore_limit_and_fifo);
    RUN(test_semaphore_negative_is_refused);
    RUN(test_semaphore_cancelled_waiter_keeps_no_unit);
    RUN(test_event_wakes_all);
    RUN(test_primitive_waits_compose);
    RUN(test_queue_producer_consumer);
    RUN(test_queue_join_waits_for_every_task_done);
    RUN(test_task_taken_back_by_a_wake_at_its_end);
    RUN(test_task_of_a_forgotten_run_starts_again);
    RUN(test_misuse_is_diagnosed);
    RUN(test_switch_around_await);
    RUN(test_timers_move_a_few_per_turn);
    RUN(test_busy_turns_read_the_clock_once);
    RUN(test_timers_at_random);
    RUN(test_idle_hook);
    RUN(test_trigger_wakes_task);
    RUN(test_trigger_handed_on_keeps_one);
    RUN(test_trigger_from_signal_handler);
    RUN(test_clock_wraps);
    RUN(test_timer_rearmed_due_from_its_wake);
    RUN(test_timer_rearmed_from_its_wake_on_a_late_loop);
    RUN(test_sleep_forever_on_a_virtual_clock);
    RUN(test_clock_ticks_of_a_timespec);
    RUN(test_time32_long_delays_are_cut);
    RUN(test_time32_deadline_zero_at_int32_max);
    RUN(test_time32_far_deadline_is_cut);
    RUN(test_time32_first_timer_after_a_long_quiet);
    RUN(test_million_tasks);
#ifdef ASYNC_LC_GOTO
    return test_summary("async(goto)");
#else
    return test_summary("async(switch)");
#endif
}
