/* async.h - asyncio in C: stackless coroutines, futures, tasks, an event loop
   with timers and cancellation, gather / as_completed / wait / wait_for /
   shield, deadlines, task groups, a semaphore, an event and a queue, and
   wake-ups an interrupt handler may give. Portable C99, no heap; runs on a
   microcontroller (IDLE AND INTERRUPTS, CONFIGURATION).

   version 0.4.0 - MIT license (at the end of this file)

   Do this:
       #define ASYNC_IMPLEMENTATION
   before you include this file in *one* C file to create the implementation,
   and include it there before any system header (it asks for
   clock_gettime). Everywhere else, include it plainly (C or C++), with
   the same ASYNC_TIME32 and ASYNC_TICK_HZ as the implementation.

   OVERVIEW
   ========
   A coroutine is a function `int fn(async_task *t)` whose body sits between
   ASYNC_BEGIN(t) and ASYNC_END(t). ASYNC_AWAIT(t, future) suspends it until
   the future is done; the loop then calls the function again and it jumps
   back to where it stopped (a protothread: Duff's device, or computed goto).
   A task is a future that runs a coroutine; a future is pending, done with a
   result, failed with an error, or cancelled.

       typedef struct { async_task task; async_timer nap; int id; } spider;

       static int spider_run(async_task *t) {
           spider *s = (spider *)t;              // the task is the first member
           ASYNC_BEGIN(t);
           ASYNC_AWAIT(t, async_sleep(t->loop, &s->nap, ASYNC_SEC(1)));
           ASYNC_RETURN(t, s->id);
           ASYNC_END(t);
       }

       async_loop loop;  async_loop_init(&loop, NULL);
       spider s = {0};   s.id = 7;
       async_create_task(&loop, &s.task, spider_run);
       int err = async_main(&loop, &s.task.future);  // asyncio.run: 0; async_result(&s.task.future) == 7

   THE COROUTINE RULES (read these once)
   =====================================
   - Stack locals do not survive an await: the function returns at every
     await and is called afresh. Keep what must live across an await in the
     struct that embeds the async_task (the idiom above).
   - With the portable variant (switch/case on __LINE__): no `switch` of your
     own may enclose an await (the first resume stops with a message), and
     at most one await per source line (a compile error otherwise). The
     computed-goto variant (GCC, Clang; chosen automatically) lifts the
     switch rule. Force one with ASYNC_LC_SWITCH or ASYNC_LC_GOTO.
   - End with ASYNC_RETURN(t, value), ASYNC_RAISE(t, error) or by falling
     through ASYNC_END(t) (result 0). Never `return` by hand (the loop stops
     with a message naming the coroutine).
   - Every object (task, timer, combinator, primitive) is your storage: it
     must stay where it is and alive until it is done. Zero a timer before
     its first start (static, = {0} or memset); the others are set up by
     their init or start calls.

   FUTURES
   =======
   The result is an intptr_t: an integer, or a pointer cast to intptr_t.
   Errors are negative integers (asyncio's exceptions); async_strerror()
   names them.
       async_future_init(f)              a pending future of your own
       async_future_set_result(f, v)     done with a result (wakes awaiters)
       async_future_set_error(f, err)    failed with err (< 0); with
                                         ASYNC_ECANCELED: cancelled, not failed
       async_future_cancel(f)            cancel (a task: request cancellation)
       async_done(f) async_result(f) async_error(f) async_cancelled(f)
   async_error() is 0 for a result, the code for an error and ASYNC_ECANCELED
   for a cancelled future.

   TASKS AND THE LOOP
   ==================
       async_loop_init(&loop, &config)   config may be NULL: the POSIX clock
       async_create_task(&loop, &task, fn)     schedules fn; returns &task.future
       async_main(&loop, future)         asyncio.run: runs until the future is
                                         done, then shuts down (below); returns
                                         async_error(future)
       async_run(&loop, future)          loop.run_until_complete: runs until the
                                         future is done and leaves the other
                                         tasks as they are (call it again later);
                                         returns async_error(future), or
                                         ASYNC_EDEADLK when nothing is left that
                                         could finish it
       async_loop_shutdown(&loop)        cancels every pending task and runs them
                                         to their end (a task that catches its
                                         cancellation gets to clean up), then
                                         stops the timers left: the loop then
                                         holds nothing of yours. ASYNC_EDEADLK if
                                         a task cannot end (it awaits a future
                                         nothing will complete); it stays
       async_cancel(&task)               ask the task to stop
       async_now(&loop)                  the time (reads the clock): monotonic
                                         nanoseconds, or ticks (ASYNC_TIME32)
       async_loop_time(&loop)            the time of this turn (what async_now
                                         read last; reads the clock only when
                                         no timer is armed): for timestamps
                                         on hot paths
       async_loop_tasks(&loop), async_loop_timers(&loop)   how many are pending
   Before you free tasks that may still run, shut the loop down: the obvious
   program (start N tasks, gather them without return_exceptions, free them)
   is safe with async_main, not with async_run alone, because a gather that
   fails fast leaves its other children running.
   Inside a coroutine:
       ASYNC_AWAIT(t, f)                 suspend until f is done
       ASYNC_AWAIT_CATCH(t, f, err)      the same, but catch a cancellation
       ASYNC_YIELD(t)                    let the other ready tasks run
       ASYNC_RETURN(t, v) ASYNC_RAISE(t, e)   finish with a result / an error
   Tasks run in FIFO order; each loop turn runs the tasks that were ready when
   it began, then fires due timers and polls the backend. Like libuv, the
   loop reads the clock once per turn while timers are armed (and every 64
   tasks in a long turn, and again after a poll that waited); a sleep counts
   from that reading, which async_loop_time() returns. A coroutine that
   computed for long before it sleeps can call async_now() first to bring it
   up to date.

   CANCELLATION
   ============
   async_cancel(task) asks; the task sees it at its next await, which
   completes with ASYNC_ECANCELED (a task that cancels itself: at once). A
   task suspended on a future cancels that future as asyncio does (a sleep
   stops, an awaited task or gather is cancelled, an I/O operation is
   withdrawn), and resumes only once that future is done, so no buffer is
   released while the kernel holds it. By default ASYNC_AWAIT then ends the
   task, cancelled. ASYNC_AWAIT_CATCH instead stores the code in `err` and
   lets the coroutine clean up (its try/finally); it may go on and finish
   normally, or end with ASYNC_RAISE(t, ASYNC_ECANCELED).
   async_task_cancelling(t) tells afterwards that a cancellation was
   delivered. A task cancelled before it first runs never runs.
   As in asyncio, an awaited future that ends cancelled (not the task: say a
   task it awaits, or a timer someone stopped), or a gather that fails with
   ASYNC_ECANCELED, raises the cancellation in the awaiter: ASYNC_AWAIT ends
   it cancelled, ASYNC_AWAIT_CATCH hands it ASYNC_ECANCELED (and
   async_task_cancelling stays 0). Catch when you await a task you cancelled.
   Where it differs from asyncio: a cancelled task's await reports the
   cancellation even if what it awaited swallowed it and returned (asyncio
   hands over that result); a deadline that expired first and a cancel in
   the same turn end the task timed out (asyncio: cancelled); a cancelled
   gather ends when its last child has, not at the first one cancelled, so
   no child outlives the storage it was given; a task that cancels itself
   gets it at its next await even of a future already done (asyncio: at
   its next await that suspends).

   TIMERS, DEADLINES, COMBINATORS
   ==============================
       async_sleep(loop, &timer, delay)          a future done after delay (ns, or ticks)
       async_gather(&g, futs, links, n, return_exceptions)
       async_as_completed_init(loop, &ac, futs, links, n, timeout)
           then async_as_completed_next(&ac) per step: its result
           (async_result(&ac.step)) is the index in futs of the next child done
       async_wait(loop, &w, futs, links, n, ASYNC_FIRST_COMPLETED, timeout)
       async_wait_for(loop, &wf, future, timeout)
       async_shield(&sh, future)                 asyncio.shield
       async_task_group_init(&g, t, futs, links, capacity), _spawn, _join
                                                 asyncio.TaskGroup
       async_deadline_start(loop, &d, task, timeout)   asyncio.timeout for a
           task; _stop, _when, _reschedule, _start_at (asyncio.timeout_at)
   A combinator watches n futures through n async_link slots you provide
   (the storage that keeps the library heap-free); completing one child costs
   O(1). The types to declare: async_gather_op, async_as_completed,
   async_wait_op, async_wait_for_op, async_shield_op, async_task_group,
   async_deadline; and async_future *futs[n], async_link links[n].
   Timeouts are relative nanoseconds (ASYNC_MS, ASYNC_SEC); ASYNC_NO_TIMEOUT
   (INT64_MAX, "infinitely far") means none, and any other timeout <= 0
   means now: wait_for times out before the inner task runs, a deadline
   expires at the task's next await. Semantics are asyncio's: gather keeps
   argument order and, without return_exceptions, fails with the first error
   (a cancelled child counts as ASYNC_ECANCELED) while the others run on;
   as_completed yields in completion order, its timeout gives ASYNC_ETIMEDOUT
   once and then ASYNC_EDONE, leaving the rest running; wait never cancels,
   and its count includes every child done when it completes;
   wait_for cancels the inner on timeout and fails with ASYNC_ETIMEDOUT
   (unless the inner ended otherwise: then its own outcome); a deadline
   cancels its task, which ends with ASYNC_ETIMEDOUT.
   Timers wait in a hierarchical wheel (16 levels of 32 slots, 16^L ns a
   slot on level L): O(1) start and stop; a timer moves down one level at a
   time, at most once per level (about log16 of its delay: 6 moves for
   100 ms), and the timers of each level's next block move a few per loop
   turn ahead of time, so no turn moves a crowd and 100,000 timers fire
   within microseconds of their deadlines. With ASYNC_TIME32, a radix heap
   of 33 lists (a small loop). Timers with equal deadlines fire in no
   particular order: ASYNC_YIELD, not a sleep of 0, is the fair yield
   (asyncio's sleep(0)). A timer started due from a timer's wake fires at
   the next turn, not in the pass that fires it.

   TIME
   ====
   By default async_time is int64_t nanoseconds of a monotonic clock
   (CLOCK_MONOTONIC, or yours: async_loop_config.clock). With ASYNC_TIME32 it
   is an int32_t count of your clock's ticks, ASYNC_TICK_HZ a second (default
   1000): give the loop the raw counter, `(async_time)systick_ms`, and let it
   wrap. The loop compares times only by their difference (as Linux's
   jiffies and FreeRTOS's ticks): a timer started before the wrap fires
   after it, on time. Compare your own times the same way:
       ASYNC_TIME_DIFF(b, a)    b - a, wrap-safe
       ASYNC_TIME_BEFORE(a, b)  a comes before b
       ASYNC_TIME_ADD(a, d)     a + d, wrapping
   ASYNC_MS(n) and the others convert to ticks. A delay is at most
   ASYNC_MAX_DELAY (2^30 ticks: 12.4 days at 1 kHz; longer ones are cut).

   IDLE AND INTERRUPTS
   ===================
   When nothing is ready the loop waits: in the backend's poll if one is
   attached; else in the idle hook (async_loop_config.idle), called with the
   time to the next timer (with ASYNC_TIME32 it may be short of it: the
   radix heap knows where a list's range begins, not its earliest timer,
   and the loop then waits again), -1 when no timer runs; never while a
   task is ready or a trigger has fired, and never with 0. Without a hook:
   nanosleep (POSIX clock; the last 50 us before a timer are spun, as
   nanosleep oversleeps by that much); on a Cortex-M the WFI pattern below;
   elsewhere the loop spins.
   An interrupt handler wakes a task through a trigger, the one object an
   ISR (or a POSIX signal handler) may touch, and only by this call:
       async_trigger tr;  async_trigger_init(&loop, &tr);   registers it
       async_trigger_fire(&tr)              in the ISR: two byte stores, no lock
       ASYNC_AWAIT(t, async_trigger_wait(&tr, &slot));      in a task
       async_trigger_remove(&tr)            before you free it
   The loop hands the wake-up over on its next turn, in its own context, to
   the first waiter, or keeps one (not more: FreeRTOS's binary semaphore
   "give from ISR") for the next wait. While a trigger is registered, a loop
   with nothing to do waits for interrupts instead of failing with
   ASYNC_EDEADLK. The check-then-idle pattern, so that no wake-up falls
   between the last look and the sleep (an interrupt taken while masked
   stays pending and ends WFI):
       static void board_idle(void *user, async_time timeout) {
           __asm__ volatile("cpsid i" ::: "memory");          // mask
           if (!async_loop_signalled(&loop)) __asm__ volatile("wfi");
           __asm__ volatile("cpsie i" ::: "memory");          // the ISR runs here
       }
   A periodic tick (SysTick) ends WFI too, so timers need nothing more;
   without one, program a wake-up `timeout` ticks ahead. Triggers are for
   the loop's own core: another thread or core needs a barrier this header
   does not give (async_http.h has a thread-safe wake-up).

   SYNCHRONISATION
   ===============
       async_semaphore_init(&sem, n)          ASYNC_EINVAL (and 0) if n < 0
       async_semaphore_acquire(&sem, &slot)   done when you hold a unit; FIFO
       async_event_wait(&ev, &slot)           done when the event is set
       async_queue (bounded, on caller-provided intptr_t slots, at least 1:
           asyncio's unbounded maxsize=0 has no counterpart):
           ASYNC_QUEUE_PUT(t, &q, v, &slot) / ASYNC_QUEUE_GET(t, &q, lvalue, &slot)
           async_queue_task_done(&q) / async_queue_join(&q, &slot)
   Each wait is a future of yours (`slot`), so it also composes with
   wait_for, wait or gather. A task cancelled while it waits keeps nothing;
   one cancelled after the grant, before it ran, passes the grant on.

   ERRORS
   ======
   ASYNC_ERRORS(X) lists async.h's codes (X(name, code, text)): the enum,
   async_strerror() and the range ASYNC_ERRORS_LOWEST..ASYNC_ERRORS_HIGHEST
   all come from it. Another header names its own codes, outside that range,
   with async_register_errors().

   MISUSE
   ======
   With ASYNC_DEBUG (on unless NDEBUG) these stop the program with a message
   on stderr (ASYNC_MISUSE): a coroutine that returned by hand, an await in a
   switch with the portable variant, a loop run before its init, an await of
   one of the coroutine's locals (GCC and Clang: it looks at the stack), a
   task awaiting itself or started again while it runs, async_run called
   from a coroutine (the loop runs already: await instead), a timer started
   without being zeroed, an as_completed, deadline, task group, semaphore,
   event or queue used before its init.

   CONFIGURATION (macros defined before the include)
   =================================================
       ASYNC_ASSERT(c)        default: assert() from <assert.h>; in a
                              freestanding build (-ffreestanding, GCC or
                              Clang) __builtin_trap(), as <assert.h> drags in
                              stdio and abort() (newlib: 12.5 KB more, or a
                              link that fails for _exit and _sbrk with
                              nano.specs). Better, your own: a breakpoint
                              stops under the debugger:
                                  static inline void brk(void) { __asm__ volatile("bkpt #0"); }
                                  #define ASYNC_ASSERT(c) ((c) ? (void)0 : brk())
       ASYNC_TIME32           32-bit ticks that wrap (TIME), and the small loop
       ASYNC_TICK_HZ          ticks a second with ASYNC_TIME32 (default 1000)
       ASYNC_LC_SWITCH        force the portable switch/case continuation
       ASYNC_LC_GOTO          force computed goto (GCC/Clang only)
       ASYNC_NO_POSIX_CLOCK   no clock_gettime/nanosleep: give the loop a
                              clock (async_loop_config.clock) and an idle
                              hook, or use virtual time; needed for
                              freestanding builds
       ASYNC_DEBUG            0 or 1: the misuse checks (default: !NDEBUG)
       ASYNC_MISUSE(what, where)  how a misuse is reported (default: stderr
                              and abort(); ASYNC_ASSERT when freestanding)
   The file that defines ASYNC_IMPLEMENTATION with the POSIX clock must see
   clock_gettime: include async.h before any system header there, or define
   _POSIX_C_SOURCE to 199309L or later yourself (else one #error says so;
   async_http.h needs 200809L, or _GNU_SOURCE, or a -std=gnu* mode).

   SIZES
   =====
   x86-64: async_future 32 bytes, async_task 64, async_timer 64, async_link
   24, async_loop 4.4 KB (the wheel's 512 slots; 432 bytes with
   ASYNC_TIME32); async_gather_op 72, async_as_completed 176, async_wait_op
   184, async_wait_for_op 144, async_shield_op 56, async_deadline 120,
   async_task_group 160, async_trigger 72.
   Cortex-M4 with ASYNC_TIME32: async_loop 224 bytes (NDEBUG too: one
   layout), async_task 36, async_timer 36, async_future 20, async_trigger
   40. Code (-Os, -ffunction-sections, --gc-sections): a small program's
   share (the loop, tasks, sleeps, a gather) about 3.0 KiB, all of async.h
   6.2 KiB
   (`make embedded` prints them). A task is
   one cache line: give an array of many tasks 64-byte alignment
   (posix_memalign) and a million of them run about twice as fast. The loop
   lists its pending tasks (for shutdown) in those 64 bytes: a task's cancel
   hook and wake function are the same for every task, so their words hold
   its coroutine and the list's links.

   LIMITS
   ======
   One loop per thread; nothing here is thread-safe, but for
   async_trigger_fire from an interrupt or signal handler of the loop's own
   core. Loops on several threads share only the error-name registry:
   async_register_errors before the threads start (async_strerror only
   reads it). The wheel's loop is 4.4 KB (use ASYNC_TIME32 where that
   counts). Removing a waiter from
   a future that many tasks await scans that future's waiters; a task's end
   scans its own (its deadlines and groups: a few). A task group holds at
   most `capacity` children (its futs and links). Errors do not propagate by
   themselves: after an await, read async_error() (only a cancellation ends
   the awaiting task).
*/
#ifndef ASYNC_H
#define ASYNC_H

#if !defined(__cplusplus) && defined(__STRICT_ANSI__) && (!defined(__STDC_VERSION__) || __STDC_VERSION__ < 199901L)
#error "async.h needs C99 or later (-std=c99, c11, gnu99, ...), or C++"
#endif

#define ASYNC_VERSION "0.4.0" /* major.minor.patch, as in the comment at the top */

/* The implementation's POSIX clock needs clock_gettime, and async_http.h's
   POSIX.1-2008: ask for it before the first system header (this only helps
   when async.h comes first). Only in a strict mode (-std=c99, c11): the
   GNU modes have it already, and a _POSIX_C_SOURCE of ours would take
   their other extensions (M_PI, MAP_ANONYMOUS, usleep) from the file. */
#if (defined(ASYNC_IMPLEMENTATION) || defined(ASYNC_HTTP_IMPLEMENTATION)) && !defined(ASYNC_NO_POSIX_CLOCK) && \
    !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE) && !defined(_XOPEN_SOURCE) &&                      \
    !defined(_DEFAULT_SOURCE) && (defined(__STRICT_ANSI__) || !(defined(__GNUC__) || defined(__clang__)))
#define _POSIX_C_SOURCE 200809L
#endif

#include <stddef.h>
#include <stdint.h>

/* Misuse checks (a coroutine that returns by hand, an object used before
   its init): on unless NDEBUG. */
#ifndef ASYNC_DEBUG
#ifdef NDEBUG
#define ASYNC_DEBUG 0
#else
#define ASYNC_DEBUG 1
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors: below -4096 so that an operation's -errno never collides ----
   One list makes the codes, their names (async_strerror) and the bounds of
   the range: a new code goes at the end, one below the last (the build
   checks that the codes run on without a gap). */
#define ASYNC_ERRORS(X)                                                              \
    X(ECANCELED, -4097, "cancelled")                                                 \
    X(ETIMEDOUT, -4098, "timed out")                                                 \
    X(EINVAL, -4099, "invalid argument")                                             \
    X(EDEADLK, -4100, "deadlock: nothing left to run could complete the awaited future") \
    X(EFULL, -4101, "queue full")                                                    \
    X(EEMPTY, -4102, "queue empty")                                                  \
    X(EDONE, -4103, "no more futures to iterate")
#define ASYNC__ERROR_CODE(name, code, text) ASYNC_##name = (code),
#define ASYNC__ERROR_INDEX(name, code, text) ASYNC__I_##name,
#define ASYNC__ERROR_COUNT(name, code, text) +1
#define ASYNC__ERROR_IN_ORDER(name, code, text) \
    ((int)ASYNC_##name == (int)ASYNC_ERRORS_HIGHEST - (int)ASYNC__I_##name) &&
enum { ASYNC_OK = 0, ASYNC_ERRORS(ASYNC__ERROR_CODE) };
enum { ASYNC_ERRORS(ASYNC__ERROR_INDEX) };
/* The range async.h's own codes take; another header's codes lie outside it. */
enum {
    ASYNC_ERRORS_HIGHEST = -4097,
    ASYNC_ERRORS_LOWEST = ASYNC_ERRORS_HIGHEST + 1 - (0 ASYNC_ERRORS(ASYNC__ERROR_COUNT))
};
typedef char async__error_codes_run_on_without_a_gap[(ASYNC_ERRORS(ASYNC__ERROR_IN_ORDER) 1) ? 1 : -1];
const char *async_strerror(int code);

/* Another header registers the names of its own codes (a static domain). */
typedef struct async_error_domain {
    int lowest, highest; /* the codes it names, inclusive */
    const char *(*name)(int code);
    struct async_error_domain *next; /* private */
} async_error_domain;
void async_register_errors(async_error_domain *domain);

/* ---- time ----
   By default monotonic nanoseconds in an int64_t. With ASYNC_TIME32 a
   32-bit count of the clock's ticks (ASYNC_TICK_HZ a second, default 1000)
   that may wrap, as a SysTick counter or Linux's jiffies do: every
   comparison of two times is by their difference, so a timer set before
   the wrap fires after it on time. Delays are then at most
   ASYNC_MAX_DELAY (2^30 ticks, 12.4 days at 1 kHz; longer ones are cut). */
#ifdef ASYNC_TIME32
typedef int32_t async_time;
#ifndef ASYNC_TICK_HZ
#define ASYNC_TICK_HZ 1000
#endif
/* Saturated, not wrapped, and one short of INT32_MAX (ASYNC_NO_TIMEOUT),
   so that a long finite delay never reads as "none"; the timer calls then
   cut it to ASYNC_MAX_DELAY. v (so ASYNC_MS's n) is evaluated more than once. */
#define ASYNC__TICKS(v) \
    ((v) >= INT32_MAX ? (async_time)(INT32_MAX - 1) : (v) < INT32_MIN ? (async_time)INT32_MIN : (async_time)(v))
#define ASYNC_NS(n) ASYNC__TICKS((int64_t)(n) * ASYNC_TICK_HZ / 1000000000)
#define ASYNC_US(n) ASYNC__TICKS((int64_t)(n) * ASYNC_TICK_HZ / 1000000)
#define ASYNC_MS(n) ASYNC__TICKS((int64_t)(n) * ASYNC_TICK_HZ / 1000)
#define ASYNC_SEC(n) ASYNC__TICKS((int64_t)(n) * ASYNC_TICK_HZ)
#define ASYNC_NO_TIMEOUT ((async_time)INT32_MAX)
#define ASYNC_MAX_DELAY ((async_time)1 << 30)
#else
typedef int64_t async_time;
#define ASYNC_NS(n) ((async_time)(n))
#define ASYNC_US(n) ((async_time)(n) * 1000)
#define ASYNC_MS(n) ((async_time)(n) * 1000000)
#define ASYNC_SEC(n) ((async_time)(n) * 1000000000)
/* "No timeout": infinitely far away, so code that forgets the special case
   still never fires. Every other timeout <= 0 means "now". */
#define ASYNC_NO_TIMEOUT ((async_time)INT64_MAX)
#define ASYNC_MAX_DELAY ASYNC_NO_TIMEOUT
#endif
/* b - a, and whether a comes before b: what comparing two times means
   when they may wrap (ASYNC_TIME32). Two's complement assumed. */
#ifdef ASYNC_TIME32
#define ASYNC_TIME_DIFF(b, a) ((async_time)(uint32_t)((uint32_t)(b) - (uint32_t)(a)))
#define ASYNC_TIME_ADD(a, d) ((async_time)(uint32_t)((uint32_t)(a) + (uint32_t)(d)))
#else
#define ASYNC_TIME_DIFF(b, a) ((b) - (a))
#define ASYNC_TIME_ADD(a, d) ((a) + (d))
#endif
#define ASYNC_TIME_BEFORE(a, b) (ASYNC_TIME_DIFF(b, a) > 0)

typedef struct async_loop async_loop;
typedef struct async_future async_future;
typedef struct async_task async_task;
typedef struct async_waiter async_waiter;

/* A waiter sits in a future's list and is woken once when the future is done.
   Combinators embed one (a task enters the list by its own link); `wake`
   runs inside the completing call. */
/* Rings tag tasks with their address's low bit: waiters and tasks need an
   even address, which 1-byte-aligned targets (AVR) do not give by themselves. */
#if defined(__GNUC__) || defined(__clang__)
#define ASYNC__EVEN __attribute__((aligned(2)))
#else
#define ASYNC__EVEN
#endif
struct async_waiter {
    async_waiter *next;
    void (*wake)(async_waiter *self, async_future *done);
} ASYNC__EVEN;

/* A waiter of a combinator's: knows whose it is. */
typedef struct async_link {
    async_waiter waiter;
    void *owner;
} async_link;

enum { ASYNC_PENDING = 0, ASYNC_FULFILLED, ASYNC_FAILED, ASYNC_CANCELLED };

/* Fields are private: use the functions. */
struct async_future {
    async_waiter *waiters;               /* ring; points at the newest waiter */
    void (*cancel)(async_future *self);  /* how to cancel; NULL: mark cancelled */
    intptr_t value;                      /* result or error; a running task: what it awaits;
                                            a wait list's slot: the next slot, or once granted its primitive */
    uint8_t state;                       /* ASYNC_PENDING ... */
    uint16_t flags;                      /* ASYNC__* below */
    int32_t lc; /* a task: its resumption point (its end state once its body ended);
                   a timer: where it waits in the loop's timers; unused by the others */
};

/* future.flags (private) */
enum {
    ASYNC__SENTINEL = 1,    /* a wait list's own ring future, never awaited */
    ASYNC__SCHEDULED = 2,   /* task: in the ready queue */
    ASYNC__WAITING = 4,     /* task: in the waiter ring of what it awaits */
    ASYNC__CANCEL_REQ = 8,  /* task: cancellation requested, not yet delivered */
    ASYNC__BY_TIMEOUT = 16, /* task: ... by a deadline */
    ASYNC__CANCELLING = 32, /* task: a cancellation was delivered (and caught) */
    ASYNC__CAUGHT_TIMEOUT = 64, /* task: the caught cancellation was a deadline's (ASYNC_ETIMEDOUT) */
    ASYNC__ARMED = 128,     /* timer: in the loop's timers (the wheel, or the radix heap) */
    ASYNC__GRANT = 256,     /* a primitive's granted slot: `cancel` hands the grant on */
    ASYNC__TASK = 512,      /* a task's future: `cancel` holds the coroutine */
    ASYNC__SCOPED = 1024,   /* task: a deadline or a group hangs in its ring: look there when it ends */
    ASYNC__CLOSING = 2048,  /* task: its body ended; it waits for its groups' children (lc: the end state) */
    ASYNC__CANCEL_MORE = 4096, /* task: a plain cancel came after an undelivered timeout: it comes next */
    ASYNC__DUE = 8192          /* task: a deadline expired while it ran: its request waits for the next await */
};

void async_future_init(async_future *f);
void async_future_set_result(async_future *f, intptr_t value);
void async_future_set_error(async_future *f, int error);
int async_future_cancel(async_future *f); /* 1 if a cancellation was made or requested */
/* For futures backed by an operation: `cancel` is called instead of marking
   the future cancelled; it must complete the future now or later. */
void async_future_init_cancellable(async_future *f, void (*cancel)(async_future *));
/* Attach a waiter yourself (what the combinators do); the waiter is woken
   even if f is already done (at once). async_future_remove_waiter detaches
   it (1), or says it was not attached (0). f's completion wakes every
   waiter attached then, as asyncio runs every done callback: from one
   wake, removing another waiter of f's gives 0 and it is woken still, so
   it may not be attached elsewhere before its own wake has come. */
void async_future_add_waiter(async_future *f, async_waiter *w);
int async_future_remove_waiter(async_future *f, async_waiter *w);

static inline int async_done(const async_future *f) { return f->state != ASYNC_PENDING; }
/* Something (a task, a combinator) waits for f. */
static inline int async_future_watched(const async_future *f) { return f->waiters != NULL; }
static inline int async_cancelled(const async_future *f) { return f->state == ASYNC_CANCELLED; }
static inline intptr_t async_result(const async_future *f) {
    return f->state == ASYNC_FULFILLED ? f->value : 0;
}
static inline int async_error(const async_future *f) {
    return f->state == ASYNC_FAILED ? (int)f->value : f->state == ASYNC_CANCELLED ? ASYNC_ECANCELED : 0;
}

/* ---- tasks ---- */
typedef int (*async_fn)(async_task *t);
enum { ASYNC_SUSPENDED = 0, ASYNC_FINISHED = 1 }; /* what a coroutine function returns */

/* One cache line on x86-64. A task needs no cancel hook and no wake
   function of its own (tasks are cancelled and woken by their own rule), so
   those two words hold its coroutine and a link of the loop's list. Its
   link comes first, where an async_waiter has its own: rings hold both. */
struct async_task {
    async_waiter *next;        /* private: in the ready queue, or in the ring of what it awaits */
    async_future future;       /* a task is a future: the coroutine's outcome (future.cancel: the coroutine) */
    async_task *older, *newer; /* private: the loop's list of pending tasks */
    async_loop *loop;
} ASYNC__EVEN;

async_future *async_create_task(async_loop *loop, async_task *t, async_fn fn);
int async_cancel(async_task *t);
/* The cancellation delivered to the task (ASYNC_ECANCELED or ASYNC_ETIMEDOUT)
   if it caught one with ASYNC_AWAIT_CATCH; else 0. */
int async_task_cancelling(const async_task *t);

/* ---- the loop ---- */
typedef struct async_loop_config {
    /* Monotonic time: nanoseconds from 0 up, or with ASYNC_TIME32 ticks
       that may wrap. NULL: CLOCK_MONOTONIC (or virtual time). */
    async_time (*clock)(void *user);
    void *clock_user;
    /* Nonzero: virtual time. The clock stands still while tasks run and jumps
       to the next timer when every task waits: tests of timing behaviour
       run instantly and exactly. (With an I/O backend attached the loop
       waits in the backend instead, and virtual time does not jump.) */
    int virtual_time;
    /* How to wait when nothing is ready and there is no backend (on a
       microcontroller: WFI, see IDLE AND INTERRUPTS). Called with the time
       to the next timer (-1: no timer, wait for an interrupt), never while
       a task is ready or a trigger has fired. NULL: nanosleep with the
       POSIX clock; the WFI pattern on a Cortex-M; else the loop spins. */
    void (*idle)(void *user, async_time timeout);
    void *idle_user;
} async_loop_config;

typedef struct async_timer async_timer;
typedef struct async_trigger async_trigger;

#ifdef ASYNC_TIME32
/* Timers wait in a radix heap over the tick count (33 lists: a small
   loop): bucket 0 holds those due at `timer_floor`, bucket b > 0 those
   whose deadline first differs from it in bit b-1. */
#define ASYNC__BUCKETS 33
#else
/* Timers wait in a hierarchical wheel: level L has 32 slots of 16^L ns
   each, two blocks of the level above (the floor's and the next), so the
   timers of a level's next block move down ahead of time, a few per turn,
   instead of all at once when the floor gets there. */
#define ASYNC__WHEEL_BITS 4
#define ASYNC__WHEEL_SLOTS (2 << ASYNC__WHEEL_BITS)
#define ASYNC__WHEEL_LEVELS (64 / ASYNC__WHEEL_BITS)
#endif

/* A callback queued as asyncio's call_soon queues it: in the next turn,
   behind the tasks woken before it. Private. */
typedef struct async__soon {
    async_waiter waiter; /* its next links the loop's list */
    async_task *after;   /* runs once this task has run (NULL: at the turn's start) */
} async__soon;

struct async_loop {
    async_waiter *ready_head, *ready_tail; /* private, all of it */
    async_task *oldest, *newest;           /* every pending task, for shutdown */
    size_t ntasks;
    async_future *drained;                 /* done when ntasks drops to 0 (shutdown's) */
    async__soon *soon_head, *soon_tail;    /* call_soon callbacks, in the ready queue's order */
    async_trigger *triggers;               /* interrupt sources */
    volatile unsigned char signalled;      /* a trigger fired (async_trigger_fire) */
    unsigned char firing;                  /* in async__fire_timers */
    int virtual_time;
    size_t ntimers;
    async_time now;
    async_time timer_floor;                /* no timer is due before it; never after now */
#ifdef ASYNC_TIME32
    uint32_t nonempty;                     /* bit b-1 for bucket b > 0 */
    async_timer *buckets[ASYNC__BUCKETS];
#else
    uint32_t levels;                             /* bit L: level L holds timers */
    uint32_t pending;                            /* bit L: level L's next block may hold timers to move down */
    uint32_t used[ASYNC__WHEEL_LEVELS];          /* bit s: slot s of level L holds timers */
    async_time level_min[ASYNC__WHEEL_LEVELS];   /* a lower bound of each level's deadlines */
    async_timer *slots[ASYNC__WHEEL_LEVELS][ASYNC__WHEEL_SLOTS];
#endif
    async_time (*clock)(void *user);
    void *clock_user;
    void (*idle)(void *user, async_time timeout);
    void *idle_user;
    /* ASYNC_DEBUG: the coroutine running now, for messages. There whatever
       ASYNC_DEBUG says: files built with and without NDEBUG share the loop. */
    const char *running;
    /* ASYNC_DEBUG, GCC/Clang: the frame that called the running coroutine;
       an await of something between it and the await's own frame is an
       await of one of the coroutine's locals. */
    const char *stack_mark;
    /* The backend (I/O): poll waits up to timeout (-1: no limit, the
       loop's own word for it, not ASYNC_NO_TIMEOUT; 0: just look) and
       completes what is ready. It returns 0, or a negative error;
       ASYNC_EDEADLK if asked to wait forever with nothing in flight. */
    int (*poll)(void *backend, async_time timeout);
    void *backend;
};

/* config: zeroed but for what you set (or NULL); it is copied. A file
   built with ASYNC_TIME32 and one without have different loops and times:
   define it (and ASYNC_TICK_HZ) alike in every file. A file that inits the
   loop with the other setting than the implementation's does not link
   (async_loop_init_time32 undefined, or async_loop_init). */
#ifdef ASYNC_TIME32
#define async_loop_init async_loop_init_time32
#endif
void async_loop_init(async_loop *loop, const async_loop_config *config);
/* Attach a backend's poll (see `poll` above; async_io_init does it); NULL detaches. */
void async_loop_set_backend(async_loop *loop, int (*poll)(void *, async_time), void *backend);
/* loop.run_until_complete: until f is done; the other tasks stay as they
   are. async_error(f), or ASYNC_EDEADLK (or the backend's error). */
int async_run(async_loop *loop, async_future *f);
/* Cancel every pending task, run them to their end, stop the timers left:
   0, or ASYNC_EDEADLK if a task cannot end (it stays pending). */
int async_loop_shutdown(async_loop *loop);
/* asyncio.run: async_run, then async_loop_shutdown; f's error, or the
   shutdown's if it failed. After it, free what you like. */
int async_main(async_loop *loop, async_future *f);
async_time async_now(async_loop *loop);
async_time async_loop_time(async_loop *loop);
static inline size_t async_loop_tasks(const async_loop *loop) { return loop->ntasks; } /* pending tasks */
static inline size_t async_loop_timers(const async_loop *loop) { return loop->ntimers; } /* armed timers */

/* ---- timers: a future done at a deadline ---- */
struct async_timer {
    async_future future; /* future.lc: where it waits in the loop (private) */
    async_time deadline;
    async_timer *next, **pprev; /* in a list of the loop's timer structure */
    async_loop *loop;
};
/* Start (restart) a timer `delay` from now (<= 0: due this turn); returns its future. */
async_future *async_sleep(async_loop *loop, async_timer *timer, async_time delay);
/* The same at an absolute deadline (async_now's time). */
async_future *async_timer_start_at(async_loop *loop, async_timer *timer, async_time deadline);
void async_timer_stop(async_timer *timer); /* a running timer ends cancelled */
/* Started and not yet fired or stopped. */
static inline int async_timer_armed(const async_timer *timer) { return (timer->future.flags & ASYNC__ARMED) != 0; }

/* ---- gather ---- */
typedef struct async_gather_op {
    async_future future; /* result: n; error: the first child's (without return_exceptions) */
    async_future *const *futs;
    async_link *links;
    size_t n, pending;
    int return_exceptions, cancelling;
} async_gather_op;
/* Done when every child is done; read each child's outcome in its own future
   (argument order is yours). Without return_exceptions it fails with the
   first error at once and the others keep running (a cancelled child is
   such an error, ASYNC_ECANCELED: the gather itself is not cancelled); with
   it, it never fails. Cancelling the gather cancels every child, and it
   ends cancelled once they are all done; with none left to cancel, its
   results stand. */
async_future *async_gather(async_gather_op *g, async_future *const *futs, async_link *links, size_t n,
                           int return_exceptions);

/* ---- as_completed ---- */
typedef struct async_as_completed {
    async_future step; /* each step's result: the index of a completed child */
    async_timer timer;
    async_waiter timer_waiter;
    async_future *const *futs;
    async_link *links;
    size_t n, unyielded;
    async_link *done_head, *done_tail; /* completed, not yet yielded */
    int asked, timed_out, closed;
    uint32_t magic; /* set by its init (32 bits: an int may have 16) */
} async_as_completed;
void async_as_completed_init(async_loop *loop, async_as_completed *ac, async_future *const *futs,
                             async_link *links, size_t n, async_time timeout);
/* The next step: a future whose result is the index (in futs) of the next
   child to complete, in completion order, also for children that were done
   before the step was asked for. ASYNC_ETIMEDOUT once, when the timeout
   passed (the rest run on, unwatched); then, and when all n were yielded
   or after close, ASYNC_EDONE. */
async_future *async_as_completed_next(async_as_completed *ac);
/* Stop early: detach from the children, stop the timer. A cancelled step
   does not close it (a wait_for around next gives up one step only): a
   task that may be cancelled while it iterates awaits next with
   ASYNC_AWAIT_CATCH and closes before it ends, or the children's waiter
   rings and the loop's timers keep pointing at the as_completed. */
void async_as_completed_close(async_as_completed *ac);

/* ---- wait ---- */
enum { ASYNC_FIRST_COMPLETED = 1, ASYNC_FIRST_EXCEPTION = 2, ASYNC_ALL_COMPLETED = 3 };
typedef struct async_wait_op {
    async_future future; /* result: how many children are done; never cancels them */
    async_timer timer;
    async_waiter timer_waiter;
    async__soon soon;
    async_loop *loop;
    async_future *const *futs;
    async_link *links;
    size_t n, ndone;
    int return_when, met;
} async_wait_op;
/* Done when the condition holds or the timeout passes (not an error: check
   async_done() of each child to tell done from pending). Its result counts
   every child done when it completes: once the condition holds, that is in
   the next loop turn, behind the tasks woken before it held (asyncio's done
   callback), so children that finish in the same instant, or in those
   tasks, all count; one that a task behind them finishes is done but not
   counted (async_done() of each child tells). n == 0 or an unknown
   condition fails with ASYNC_EINVAL. */
async_future *async_wait(async_loop *loop, async_wait_op *w, async_future *const *futs, async_link *links,
                         size_t n, int return_when, async_time timeout);

/* ---- wait_for ---- */
typedef struct async_wait_for_op {
    async_future future; /* the inner's outcome, or ASYNC_ETIMEDOUT */
    async_timer timer;
    async_waiter timer_waiter, inner_waiter;
    async_future *inner;
    int timed_out;
} async_wait_for_op;
/* On timeout the inner future is cancelled, and once it is done this fails
   with ASYNC_ETIMEDOUT, or gives the inner's own outcome if it ended
   otherwise (it caught the cancellation and returned, or failed). A timeout
   <= 0 cancels a pending inner at once (a task not yet run never runs). An
   inner already done gives its outcome at once. Cancelling this cancels
   the inner. */
async_future *async_wait_for(async_loop *loop, async_wait_for_op *wf, async_future *inner, async_time timeout);

/* ---- shield ---- */
typedef struct async_shield_op {
    async_future future; /* the inner's outcome */
    async_waiter inner_waiter;
    async_future *inner;
} async_shield_op;
/* asyncio.shield: a future that mirrors inner, except that cancelling it
   (or the task awaiting it) leaves inner running: the awaiter resumes
   cancelled at once, and inner's storage must outlive inner. */
async_future *async_shield(async_shield_op *s, async_future *inner);

/* ---- task group: asyncio.TaskGroup ---- */
typedef struct async_task_group {
    async_future future;       /* joined: done when every child is; fails with the first child error */
    async_waiter owner_waiter; /* in the owner's ring: the owner's end finds its open groups there */
    async__soon abort_soon;    /* a first failure aborts in the next turn, behind what was woken before it */
    async_task *owner;         /* NULL once the group let go of it */
    async_loop *loop;
    async_future **futs;
    async_link *links;
    size_t n, capacity, running, nerrors;
    int error, joined, closing, cancelled, aborting;
    uint32_t magic; /* set by its init */
} async_task_group;
/* The owner (the task whose body holds the group, the `async with` of
   asyncio) spawns children into it; the group watches them through the
   futs and links you provide (capacity of each). The first child that fails
   (a cancelled child is no failure) cancels the others and the owner's
   current await, unless that is the join, in the next turn, behind the
   tasks woken before the failure (asyncio's done callback, which call_soon
   queues behind them): a sibling that finishes in the same turn, or is
   woken in it ahead of the failure, keeps its outcome.
   async_task_group_join returns the future to await: done when every
   child is, failing with the first error
   (every child's own future keeps its outcome; nerrors counts them).
   The owner cannot end before its children: if its body ends (returns,
   raises, or is cancelled) with a group not joined, it waits for the
   children, cancelling them unless it returned normally, and then ends with
   the group's first error if there was one. Cancelling the owner or the
   join cancels every child; an owner cancelled while its ended body waits
   for them ends cancelled (or timed out), whatever its body returned. */
void async_task_group_init(async_task_group *g, async_task *owner, async_future **futs, async_link *links,
                           size_t capacity);
/* 0, or ASYNC_EINVAL when the group is full, failing or done (nothing is started). */
int async_task_group_spawn(async_task_group *g, async_task *t, async_fn fn);
async_future *async_task_group_join(async_task_group *g);

/* ---- deadline: asyncio.timeout() for a task ---- */
typedef struct async_deadline {
    async_timer timer;
    async_waiter timer_waiter, task_waiter;
    async_task *task; /* NULL once stopped, or when the task has ended */
    async_time when;  /* absolute (async_now's time); ASYNC_NO_TIMEOUT: none */
    unsigned char expired;
    unsigned char cancel_first; /* a cancel the task had not seen came before this expiry: it reports that */
    unsigned char due;          /* expired while its task ran: asked at the task's next await (private) */
    uint32_t magic; /* set by its start; an all-zero deadline is a stopped one */
} async_deadline;
/* A scope of the task's, from start to stop. When the deadline passes the
   task is cancelled; the await that sees it completes with ASYNC_ETIMEDOUT,
   and by default the task ends failed with ASYNC_ETIMEDOUT. A task awaiting
   a gather cancels the whole group. A timeout <= 0 expires at the task's
   next await, if the scope lasts until then: stopped before, it did not
   expire (asyncio.timeout(0) around no await). Unlike asyncio, that await
   need not suspend: one on a future already done (a free semaphore unit)
   expires it too. ASYNC_NO_TIMEOUT never does (until rescheduled).
   Nested deadlines: only the one that expired reports it (its stop returns
   1). An await inside an inner deadline's scope sees an outer deadline's
   expiry as a cancellation passing through (ASYNC_ECANCELED); a task that
   ends cancelled while an expired deadline covers it ends with
   ASYNC_ETIMEDOUT. A deadline and an explicit async_cancel that both land
   before the task sees either: the first one is what the task reports; a
   task that catches the timeout sees the cancel at its next await. */
void async_deadline_start(async_loop *loop, async_deadline *d, async_task *task, async_time timeout);
void async_deadline_start_at(async_loop *loop, async_deadline *d, async_task *task, async_time when); /* asyncio.timeout_at */
int async_deadline_stop(async_deadline *d); /* returns d->expired; it also stops when the task ends */
/* asyncio.Timeout's when() and reschedule(): absolute times, ASYNC_NO_TIMEOUT
   for none. Moving it sooner than now expires it: at once if its task
   waits; if the task moves it itself, at the task's next await (asyncio's
   call_soon(_on_timeout): moved on again before that, it did not expire).
   ASYNC_EINVAL once it expired or stopped. */
static inline async_time async_deadline_when(const async_deadline *d) { return d->when; }
static inline int async_deadline_expired(const async_deadline *d) { return d->expired; }
int async_deadline_reschedule(async_deadline *d, async_time when);

/* ---- semaphore, event, queue ----
   Each wait is a future of yours (`slot`), so it composes: await it, or
   give it to wait_for or gather. Waiters are served first come first
   served. A task cancelled after its slot was granted, before it ran,
   passes the grant on when it awaited the slot directly. */
typedef struct async_waitlist {
    async_future ring; /* private: a ring of waiting slots through their value fields */
    async_future *last;
} async_waitlist;
/* Nobody waits (e.g. async_waitlist_empty(&event.waiters)). */
static inline int async_waitlist_empty(const async_waitlist *wl) { return wl->last == &wl->ring; }

typedef struct async_semaphore {
    async_waitlist waiters;
    intptr_t value;
} async_semaphore;
/* A negative value is refused: ASYNC_EINVAL, and the semaphore starts at 0. */
int async_semaphore_init(async_semaphore *s, intptr_t value);
/* Done (at once, or when a unit is released) when the caller holds a unit. */
async_future *async_semaphore_acquire(async_semaphore *s, async_future *slot);
int async_semaphore_try_acquire(async_semaphore *s); /* 1 if acquired */
void async_semaphore_release(async_semaphore *s);

typedef struct async_event {
    async_waitlist waiters;
    int is_set;
} async_event;
void async_event_init(async_event *e);  /* not set */
void async_event_set(async_event *e);   /* set: every waiter's wait is done, and later waits at once */
void async_event_clear(async_event *e); /* not set: later waits wait */
async_future *async_event_wait(async_event *e, async_future *slot);

typedef struct async_queue {
    async_waitlist getters, putters, joiners;
    intptr_t *slots;
    size_t capacity, head, count;
    size_t unfinished; /* items put and not yet marked done (async_queue_task_done) */
} async_queue;
void async_queue_init(async_queue *q, intptr_t *slots, size_t capacity); /* capacity >= 1 */
int async_queue_put_nowait(async_queue *q, intptr_t item); /* 0 or ASYNC_EFULL */
int async_queue_get_nowait(async_queue *q, intptr_t *item); /* 0 or ASYNC_EEMPTY */
/* Done when an item may be there / room may be there (another task may
   take it first: the macros below try again). */
async_future *async_queue_wait_item(async_queue *q, async_future *slot);
async_future *async_queue_wait_room(async_queue *q, async_future *slot);
/* asyncio's Queue.task_done() and join(): a consumer says it has finished
   with an item it got; join is done when every item ever put has been
   (at once if none is unfinished). task_done called more often than
   items were put is ASYNC_EINVAL (asyncio's ValueError). */
int async_queue_task_done(async_queue *q);
async_future *async_queue_join(async_queue *q, async_future *slot);
/* ASYNC_QUEUE_PUT evaluates item at each try: give it a value without side effects
   that survives an await (a field of the coroutine's struct, not a local). */
#define ASYNC_QUEUE_PUT(t, q, item, slot)                                            \
    while (async_queue_put_nowait((q), (item)) != 0) ASYNC_AWAIT(t, async_queue_wait_room((q), (slot)))
#define ASYNC_QUEUE_GET(t, q, lvalue, slot)                                          \
    while (async_queue_get_nowait((q), &(lvalue)) != 0) ASYNC_AWAIT(t, async_queue_wait_item((q), (slot)))

/* ---- interrupt sources: wake-ups an ISR may give ----
   async_trigger_fire is the one call of this header an interrupt handler
   (or a POSIX signal handler) may make: two stores of a byte, no lock. On
   the loop's next turn, in its own context, the wake-up reaches the
   trigger's first waiter, or waits for the next one (at most one is kept:
   a binary semaphore, as FreeRTOS's "give from ISR"). While a trigger is
   registered the loop waits for interrupts instead of reporting
   ASYNC_EDEADLK. With the POSIX clock and no idle hook, it then never
   waits more than 10 ms at a time (a signal that lands between its last
   look and nanosleep or the backend's wait does not cut that wait short):
   a signal's wake-up comes within 10 ms. Not for another thread or core
   (no barrier). */
struct async_trigger {
    async_semaphore sem;           /* private: the wake-up kept, or its waiters */
    async_trigger *next;           /* private: the loop's list */
    async_loop *loop;
    volatile unsigned char fired;  /* private: set by async_trigger_fire */
};
void async_trigger_init(async_loop *loop, async_trigger *tr); /* registers it with the loop */
void async_trigger_remove(async_trigger *tr);                  /* before you free it */
void async_trigger_fire(async_trigger *tr);                    /* ISR-safe */
/* Done when the trigger fired (at once if it fired since the last wait). */
async_future *async_trigger_wait(async_trigger *tr, async_future *slot);
/* A trigger fired that the loop has not seen yet: an idle hook checks this
   with interrupts masked before it sleeps (IDLE AND INTERRUPTS). */
static inline int async_loop_signalled(const async_loop *loop) { return loop->signalled != 0; }

/* ---- the coroutine macros ----
   The local continuation (lc) is an int in the task: the source line with
   switch/case, or a label's offset from the function's start label with
   computed goto. 0 means "not started". */
#if !defined(ASYNC_LC_SWITCH) && !defined(ASYNC_LC_GOTO) && (defined(__GNUC__) || defined(__clang__))
#define ASYNC_LC_GOTO
#endif

#define ASYNC__CAT2(a, b) a##b
#define ASYNC__CAT(a, b) ASYNC__CAT2(a, b)

#ifdef ASYNC_LC_GOTO
/* Labels as values are a GNU extension; -Wpedantic is silenced around them. */
#define ASYNC__GNU(stmt)                                                             \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wpedantic\"") \
    stmt _Pragma("GCC diagnostic pop")
#define ASYNC__LC_BEGIN(t)                                                           \
    ASYNC__GNU(if ((t)->future.lc) goto *(void *)((char *)&&async__start + (t)->future.lc);) \
    async__start:
#define ASYNC__LC_END(t)
#define ASYNC__SUSPEND_AT(t, label)                                                  \
    ASYNC__GNU((t)->future.lc = (int32_t)((char *)&&label - (char *)&&async__start);) \
    return ASYNC_SUSPENDED;                                                          \
    label:
#define ASYNC__LABEL ASYNC__CAT(async__resume_, __COUNTER__)
#else
/* No case of ours matches when an await's case label went to a switch of
   the user's (it binds to the innermost switch): say so, do not end silently. */
#define ASYNC__LC_BEGIN(t)                                                           \
    switch ((t)->future.lc) {                                                        \
    default:                                                                         \
        async__misuse("an await inside a switch of yours: with ASYNC_LC_SWITCH no switch may enclose an await", \
                      __func__);                                                     \
        break;                                                                       \
    case 0:
#define ASYNC__LC_END(t) }
#define ASYNC__SUSPEND_AT(t, line)                                                   \
    (t)->future.lc = line;                                                           \
    return ASYNC_SUSPENDED;                                                          \
    case line:
#define ASYNC__LABEL __LINE__
#endif

#if ASYNC_DEBUG
#define ASYNC__NOTE_RUNNING(t) (t)->loop->running = __func__;
#else
#define ASYNC__NOTE_RUNNING(t)
#endif
#define ASYNC_BEGIN(t) ASYNC__NOTE_RUNNING(t) ASYNC__LC_BEGIN(t)
#define ASYNC_END(t)                                                                 \
    ASYNC__LC_END(t)                                                                 \
    async__finish((t), ASYNC_FULFILLED, 0);                                          \
    return ASYNC_FINISHED

/* Suspend until f is done. A cancellation arriving here ends the task. */
#define ASYNC_AWAIT(t, f) ASYNC__AWAIT(t, f, 0, 0, ASYNC__LABEL)
/* Suspend until f is done; err (an int lvalue) receives async_error(f), or
   the cancellation (ASYNC_ECANCELED, or ASYNC_ETIMEDOUT from a deadline),
   which the coroutine then handles itself. */
#define ASYNC_AWAIT_CATCH(t, f, err) ASYNC__AWAIT(t, f, 1, &(err), ASYNC__LABEL)
#define ASYNC__AWAIT(t, f, catching, errp, label)                                    \
    do {                                                                             \
        if (async__suspend((t), (f))) {                                              \
            ASYNC__SUSPEND_AT(t, label);                                             \
        }                                                                            \
        if (async__resumed((t), (catching), (errp))) return ASYNC_FINISHED;          \
    } while (0)

/* Go to the back of the ready queue (asyncio.sleep(0)). */
#define ASYNC_YIELD(t) ASYNC__YIELD(t, ASYNC__LABEL)
#define ASYNC__YIELD(t, label)                                                       \
    do {                                                                             \
        async__yield(t);                                                             \
        ASYNC__SUSPEND_AT(t, label);                                                 \
        if (async__resumed((t), 0, 0)) return ASYNC_FINISHED;                        \
    } while (0)

#define ASYNC_RETURN(t, v)                                                           \
    do {                                                                             \
        async__finish((t), ASYNC_FULFILLED, (intptr_t)(v));                          \
        return ASYNC_FINISHED;                                                       \
    } while (0)
#define ASYNC_RAISE(t, err)                                                          \
    do {                                                                             \
        async__finish((t), ASYNC_FAILED, (intptr_t)(err));                           \
        return ASYNC_FINISHED;                                                       \
    } while (0)

/* Private, used by the macros. */
int async__suspend(async_task *t, async_future *f);
int async__resume_slow(async_task *t, int catching, int *err);
void async__yield(async_task *t);
void async__finish(async_task *t, int state, intptr_t value);
void async__misuse(const char *what, const char *where);
/* The common resumption inline (no cancellation, what it awaited ended
   well, or a yield); the rest out of line (async__resume_slow). */
static inline int async__resumed(async_task *t, int catching, int *err) {
    const async_future *f = (const async_future *)t->future.value;
    if ((t->future.flags & ASYNC__CANCEL_REQ) || (f && f->state != ASYNC_FULFILLED))
        return async__resume_slow(t, catching, err);
    t->future.value = 0;
    if (err) *err = 0;
    return 0;
}

#ifdef __cplusplus
}
#endif
#endif /* ASYNC_H */

/* ======================================================================== */
#ifdef ASYNC_IMPLEMENTATION
#ifndef ASYNC__IMPLEMENTED
#define ASYNC__IMPLEMENTED

#ifndef ASYNC_ASSERT
#if defined(__STDC_HOSTED__) && !__STDC_HOSTED__ && (defined(__GNUC__) || defined(__clang__))
/* Freestanding: <assert.h> would drag in the C library's stdio and abort(). */
#ifdef NDEBUG
#define ASYNC_ASSERT(c) ((void)0)
#else
#define ASYNC_ASSERT(c) ((c) ? (void)0 : __builtin_trap())
#endif
#else
#include <assert.h>
#define ASYNC_ASSERT(c) assert(c)
#endif
#endif

#ifndef ASYNC_NO_POSIX_CLOCK
#include <time.h>
#ifdef CLOCK_MONOTONIC
#define ASYNC__POSIX_CLOCK
#else
/* One message, and the rest compiles without the clock (no follow-on errors). */
#error "async.h: clock_gettime is not visible here. Include async.h before any system header in this file, define _POSIX_C_SOURCE 200809L, or define ASYNC_NO_POSIX_CLOCK."
#endif
#endif

#include <string.h>

/* How a misuse is reported: the message, then stop. Override it (before the
   include) to log elsewhere; a freestanding build gets ASYNC_ASSERT. */
#ifndef ASYNC_MISUSE
#if defined(__STDC_HOSTED__) && __STDC_HOSTED__
#include <stdio.h>
#include <stdlib.h>
#define ASYNC_MISUSE(what, where)                                                    \
    (fprintf(stderr, "async.h: %s%s%s%s\n", (what), (where) ? " (in " : "", (where) ? (where) : "", \
             (where) ? ")" : ""),                                                    \
     abort())
#else
#define ASYNC_MISUSE(what, where) ((void)(what), (void)(where), ASYNC_ASSERT(0))
#endif
#endif

#define ASYNC__CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Rare paths kept out of line, so that the hot ones around them need not
   save registers for them. */
#if defined(__GNUC__) || defined(__clang__)
#define ASYNC__COLD __attribute__((noinline, cold))
#else
#define ASYNC__COLD
#endif

void async__misuse(const char *what, const char *where) { ASYNC_MISUSE(what, where); }

/* ASYNC_DEBUG, GCC/Clang: the local-await check compares the frame of
   async__suspend with the one that runs the coroutine (async__run_task,
   inlined into async__run), and each must stay a frame of the library's.
   Inlined into the coroutine, the await's frame is the coroutine's, above
   its locals (nothing is seen); inlined up into the function that calls
   async_run (LTO does it to a main that calls it once), the mark is that
   function's frame, and the task it declared would be called a local of
   the coroutine. (async__run, not async__run_task: a call per turn, not
   one per step.) */
#if ASYNC_DEBUG && (defined(__GNUC__) || defined(__clang__))
#define ASYNC__OWN_FRAME __attribute__((noinline))
#else
#define ASYNC__OWN_FRAME
#endif

/* Objects that need their init carry this word once it ran. */
#define ASYNC__MAGIC 0x6173796eu
#if ASYNC_DEBUG
#define ASYNC__CHECK_INIT(ok, what, ret)                                             \
    do {                                                                             \
        if (!(ok)) {                                                                 \
            async__misuse(what " used before its init (memory never set up, or overwritten)", NULL); \
            return ret;                                                              \
        }                                                                            \
    } while (0)
#else
#define ASYNC__CHECK_INIT(ok, what, ret)
#endif

/* ---- errors ---- */
static async_error_domain *async__domains;

void async_register_errors(async_error_domain *domain) {
    async_error_domain *d;
    for (d = async__domains; d; d = d->next)
        if (d == domain) return;
    domain->next = async__domains;
    async__domains = domain;
}

const char *async_strerror(int code) {
#define ASYNC__ERROR_NAME(name, code, text) case ASYNC_##name: return text;
    async_error_domain *d;
    switch (code) {
    case ASYNC_OK: return "success";
    ASYNC_ERRORS(ASYNC__ERROR_NAME)
    default: break;
    }
#undef ASYNC__ERROR_NAME
    for (d = async__domains; d; d = d->next)
        if (code >= d->lowest && code <= d->highest) return d->name(code);
    return "unknown error";
}

/* ---- futures ---- */
void async_future_init(async_future *f) { memset(f, 0, sizeof *f); }

void async_future_init_cancellable(async_future *f, void (*cancel)(async_future *)) {
    async_future_init(f);
    f->cancel = cancel;
}

/* Rings and the ready queue hold waiters, and tasks entered as their
   address with the low bit set (a task has no wake function: the word went
   to the loop's list). The bit tells them apart; either's link is its first
   word, so following one costs a mask, not a branch. */
static async_waiter *async__entry(async_task *t) { return (async_waiter *)(void *)((uintptr_t)t | 1); }
static int async__is_task(const async_waiter *w) { return (int)((uintptr_t)w & 1); }
static async_task *async__task_of(async_waiter *w) { return (async_task *)(void *)((uintptr_t)w & ~(uintptr_t)1); }
static async_waiter **async__next(async_waiter *w) { return (async_waiter **)(void *)((uintptr_t)w & ~(uintptr_t)1); }

/* The ring points at its newest waiter, whose next is the oldest: O(1)
   append and FIFO wake-up with one pointer. */
static inline void async__ring_push(async_waiter **ring, async_waiter *w) {
    if (*ring) {
        *async__next(w) = *async__next(*ring);
        *async__next(*ring) = w;
    } else {
        *async__next(w) = w;
    }
    *ring = w;
}

static inline async_waiter *async__ring_pop(async_waiter **ring) {
    async_waiter *oldest;
    if (!*ring) return NULL;
    oldest = *async__next(*ring);
    if (oldest == *ring) *ring = NULL;
    else *async__next(*ring) = *async__next(oldest);
    *async__next(oldest) = NULL;
    return oldest;
}

static int async__ring_remove(async_waiter **ring, async_waiter *w) {
    async_waiter *prev = *ring, *cur;
    if (!prev) return 0;
    do {
        cur = *async__next(prev);
        if (cur == w) {
            if (cur == prev) *ring = NULL;
            else {
                *async__next(prev) = *async__next(cur);
                if (*ring == cur) *ring = prev;
            }
            *async__next(w) = NULL;
            return 1;
        }
        prev = cur;
    } while (prev != *ring);
    return 0;
}

void async_future_add_waiter(async_future *f, async_waiter *w) {
    if (f->state != ASYNC_PENDING) w->wake(w, f);
    else async__ring_push(&f->waiters, w);
}

int async_future_remove_waiter(async_future *f, async_waiter *w) { return async__ring_remove(&f->waiters, w); }

static void async__wake_task(async_task *t);

/* Wake every waiter, oldest first. The ring is taken off the future first,
   so a waiter that detaches itself meanwhile does no harm: every wake
   function ignores a wake that comes after its owner is done. */

static void async__complete(async_future *f, int state, intptr_t value) {
    async_waiter *ring = f->waiters, *w;
    ASYNC_ASSERT(f->state == ASYNC_PENDING);
    f->state = (uint8_t)state;
    f->value = value;
    f->waiters = NULL;
    while ((w = async__ring_pop(&ring)) != NULL) {
        if (async__is_task(w)) async__wake_task(async__task_of(w));
        else w->wake(w, f);
    }
}

void async_future_set_result(async_future *f, intptr_t value) { async__complete(f, ASYNC_FULFILLED, value); }

void async_future_set_error(async_future *f, int error) {
    if (error == ASYNC_ECANCELED) async__complete(f, ASYNC_CANCELLED, ASYNC_ECANCELED);
    else async__complete(f, ASYNC_FAILED, error);
}

static void async__task_request_cancel(async_task *t, int by_timeout);

int async_future_cancel(async_future *f) {
    if (f->state != ASYNC_PENDING) return 0;
    if (f->flags & ASYNC__TASK) async__task_request_cancel(ASYNC__CONTAINER(f, async_task, future), 0);
    else if (f->cancel) f->cancel(f);
    else async__complete(f, ASYNC_CANCELLED, ASYNC_ECANCELED);
    return 1;
}

/* ---- tasks ---- */
static inline void async__schedule(async_task *t) {
    async_loop *loop = t->loop;
    async_waiter *e = async__entry(t);
    ASYNC_ASSERT(!(t->future.flags & ASYNC__SCHEDULED));
    t->future.flags |= ASYNC__SCHEDULED;
    t->next = NULL;
    if (loop->ready_tail) async__task_of(loop->ready_tail)->next = e; /* only tasks here */
    else loop->ready_head = e;
    loop->ready_tail = e;
}

static void async__wake_task(async_task *t) {
    t->future.flags &= (uint16_t)~ASYNC__WAITING;
    async__schedule(t);
}

/* Apply a cancellation request to a suspended task: what it awaits is
   cancelled, as asyncio does, and its completion wakes the task. */
static void async__cancel_waiting(async_task *t) { async_future_cancel((async_future *)t->future.value); }

static void async__groups_abort(async_task *t);

/* Of a deadline and an explicit cancel that land before the task sees
   either, the first one is what it reports (asyncio reports the cancel
   either way). A cancel after the timeout is not lost: a task that catches
   the timeout sees it at its next await. */
static void async__task_request_cancel(async_task *t, int by_timeout) {
    if (t->future.state != ASYNC_PENDING) return;
    if (by_timeout && !(t->future.flags & ASYNC__CANCEL_REQ)) t->future.flags |= ASYNC__BY_TIMEOUT;
    else if (!by_timeout && (t->future.flags & ASYNC__BY_TIMEOUT)) t->future.flags |= ASYNC__CANCEL_MORE;
    t->future.flags |= ASYNC__CANCEL_REQ;
    if (t->future.flags & ASYNC__WAITING) async__cancel_waiting(t);
    else if (t->future.flags & ASYNC__CLOSING) async__groups_abort(t); /* ends when its children do */
}

/* The coroutine lives in the future's cancel word (see struct async_task);
   the cast goes through void (*)(void), the type C lets any function pointer
   round-trip through. */
static void async__set_coroutine(async_task *t, async_fn fn) {
    t->future.cancel = (void (*)(async_future *))(void (*)(void))fn;
}
static async_fn async__coroutine(const async_task *t) { return (async_fn)(void (*)(void))t->future.cancel; }

int async_cancel(async_task *t) {
    if (t->future.state != ASYNC_PENDING) return 0;
    async__task_request_cancel(t, 0);
    return 1;
}

int async_task_cancelling(const async_task *t) {
    if (!(t->future.flags & ASYNC__CANCELLING)) return 0;
    return (t->future.flags & ASYNC__CAUGHT_TIMEOUT) ? ASYNC_ETIMEDOUT : ASYNC_ECANCELED;
}

#if ASYNC_DEBUG
/* t is in the loop's list: its older links lead to the loop's oldest, each
   one confirmed by the task it names. (A task left pending by a loop since
   initialised again looks like one of this loop's, and its neighbours may
   still name it; the list it was in is not this one.) */
static int async__task_listed(const async_loop *loop, const async_task *t) {
    size_t n = loop->ntasks;
    for (; t->older; t = t->older)
        if (t->older->newer != t || n-- == 0) return 0;
    return loop->oldest == t;
}
#endif

async_future *async_create_task(async_loop *loop, async_task *t, async_fn fn) {
#if ASYNC_DEBUG
    /* Starting it again would link it into the loop's list twice. (A task
       needs no zeroing, so only a struct that was a task of this loop, still
       pending, can look like one; the walk runs for those alone.) */
    if (t->loop == loop && loop->ntasks && t->future.state == ASYNC_PENDING && (t->future.flags & ASYNC__TASK) &&
        async__task_listed(loop, t))
        async__misuse("async_create_task: the task is still running (a task's storage is its own until it is "
                      "done: await or cancel it first, or use another)",
                      loop->running);
#endif
    async_future_init(&t->future);
    t->future.flags = ASYNC__TASK;
    async__set_coroutine(t, fn);
    t->loop = loop;
    t->newer = NULL;
    t->older = loop->newest;
    if (loop->newest) loop->newest->newer = t;
    else loop->oldest = t;
    loop->newest = t;
    loop->ntasks++;
    async__schedule(t);
    return &t->future;
}

static int async__deadline_covers(async_task *t);
static ASYNC__COLD int async__groups_close(async_task *t, int state);
static int async__groups_error(async_task *t);

/* The task's end. Done tasks leave the loop's list at once: their storage
   is the user's again. */
static inline void async__task_end(async_task *t, int state, intptr_t value) {
    async_loop *loop = t->loop;
    if (t->older) t->older->newer = t->newer;
    else loop->oldest = t->newer;
    if (t->newer) t->newer->older = t->older;
    else loop->newest = t->older;
    if (--loop->ntasks == 0 && loop->drained) async__complete(loop->drained, ASYNC_FULFILLED, 0);
    async__complete(&t->future, state, value);
}

/* The end of a task with deadlines or groups in its ring: the group's
   first error, or an expired deadline's ETIMEDOUT, may stand instead. */
static ASYNC__COLD void async__task_end_scoped(async_task *t, int state, intptr_t value) {
    int err;
    /* Cancelled while it waited for its children, after a body that
       succeeded: it ends cancelled (asyncio's TaskGroup re-raises it). */
    if ((t->future.flags & ASYNC__CANCEL_REQ) && state == ASYNC_FULFILLED) {
        int timeout = t->future.flags & ASYNC__BY_TIMEOUT;
        state = timeout ? ASYNC_FAILED : ASYNC_CANCELLED;
        value = timeout ? ASYNC_ETIMEDOUT : ASYNC_ECANCELED;
    }
    t->future.flags &= (uint16_t)~(ASYNC__CLOSING | ASYNC__CANCEL_REQ | ASYNC__BY_TIMEOUT | ASYNC__CANCEL_MORE);
    if ((err = async__groups_error(t)) != 0) state = ASYNC_FAILED, value = err;
    else if (state == ASYNC_CANCELLED && async__deadline_covers(t)) state = ASYNC_FAILED, value = ASYNC_ETIMEDOUT;
    async__task_end(t, state, value);
}

static void async__deadlines_due(async_task *t);
static void async__group_cancel(async_future *f);

void async__finish(async_task *t, int state, intptr_t value) {
    if (state == ASYNC_FAILED && value == ASYNC_ECANCELED) state = ASYNC_CANCELLED;
    t->future.flags &= (uint16_t)~(ASYNC__CANCEL_REQ | ASYNC__BY_TIMEOUT | ASYNC__CANCEL_MORE);
    if (!(t->future.flags & ASYNC__SCOPED)) {
        async__task_end(t, state, value);
        return;
    }
    /* A group's children still running: the last one's end ends the task,
       which waits meanwhile with its end state in lc (its body is over). */
    if (async__groups_close(t, state)) {
        t->future.lc = state;
        t->future.value = value;
        /* The wait for the children is the body's last await: a deadline
           due since the body's last one asks now (it aborts the group). */
        if (t->future.flags & ASYNC__DUE) async__deadlines_due(t); /* CLOSING: it aborts the group */
        return;
    }
    async__task_end_scoped(t, state, value);
}

ASYNC__OWN_FRAME int async__suspend(async_task *t, async_future *f) {
#if ASYNC_DEBUG
    /* Its first cancel would cancel what it awaits, itself, forever (asyncio
       refuses it too: "Task cannot await on itself"). */
    if (f == &t->future) {
        async__misuse("a task awaits itself", t->loop->running);
        t->future.value = 0;
        return 0;
    }
#endif
    t->future.value = (intptr_t)f;
    if (t->future.flags & ASYNC__DUE) async__deadlines_due(t); /* even if f is done: the resumption sees it */
    if (f->state != ASYNC_PENDING) return 0;
#if ASYNC_DEBUG && (defined(__GNUC__) || defined(__clang__))
    /* The coroutine's frame is gone when it suspends (the stack grows down
       here; where it grows up the range is empty and nothing is said). */
    if ((uintptr_t)f > (uintptr_t)__builtin_frame_address(0) && (uintptr_t)f < (uintptr_t)t->loop->stack_mark)
        async__misuse("an await of a local variable of the coroutine: locals do not survive an await (keep what "
                      "you await, and what it holds, in the task's struct or in static storage)",
                      t->loop->running);
#endif
    async__ring_push(&f->waiters, async__entry(t));
    t->future.flags |= ASYNC__WAITING;
    /* A request that came while the task ran applies to what it awaits now. */
    if (t->future.flags & ASYNC__CANCEL_REQ) async__cancel_waiting(t);
    return 1;
}

void async__yield(async_task *t) {
    t->future.value = 0;
    if (t->future.flags & ASYNC__DUE) async__deadlines_due(t); /* as at an await */
    async__schedule(t);
}

int async__resume_slow(async_task *t, int catching, int *err) {
    async_future *f = (async_future *)t->future.value;
    uint16_t flags = t->future.flags, more;
    int code;
    t->future.value = 0;
    if (!(flags & ASYNC__CANCEL_REQ)) {
        code = f ? async_error(f) : 0;
        /* What it awaited was cancelled (not the task): asyncio raises
           CancelledError here too, and uncaught it ends the task. */
        if (code == ASYNC_ECANCELED && !catching) {
            async__finish(t, ASYNC_CANCELLED, ASYNC_ECANCELED);
            return 1;
        }
        if (err) *err = code;
        return 0;
    }
    /* A task group's join that failed: its children's error wins over the
       cancellation that stopped them (asyncio's TaskGroup raises its
       ExceptionGroup, not CancelledError). */
    if (f && f->cancel == async__group_cancel && f->state == ASYNC_FAILED) {
        t->future.flags &= (uint16_t)~(ASYNC__CANCEL_REQ | ASYNC__BY_TIMEOUT | ASYNC__CANCEL_MORE);
        if (err) *err = (int)f->value;
        return 0;
    }
    /* Granted a unit or an item, then cancelled before it used it: pass it on. */
    if (f && (f->flags & ASYNC__GRANT) && f->state == ASYNC_FULFILLED) {
        f->flags &= (uint16_t)~ASYNC__GRANT;
        f->cancel(f);
    }
    code = (flags & ASYNC__BY_TIMEOUT) ? ASYNC_ETIMEDOUT : ASYNC_ECANCELED;
    if (!catching) {
        async__finish(t, code == ASYNC_ETIMEDOUT ? ASYNC_FAILED : ASYNC_CANCELLED, code);
        return 1;
    }
    more = (flags & ASYNC__CANCEL_MORE) ? ASYNC__CANCEL_REQ : 0; /* a cancel after the timeout: next await */
    flags &= (uint16_t)~(ASYNC__CANCEL_REQ | ASYNC__BY_TIMEOUT | ASYNC__CAUGHT_TIMEOUT | ASYNC__CANCEL_MORE);
    t->future.flags = (uint16_t)(flags | more | ASYNC__CANCELLING | (code == ASYNC_ETIMEDOUT ? ASYNC__CAUGHT_TIMEOUT : 0));
    *err = code;
    return 0;
}

static void async__run_task(async_task *t) {
    t->future.flags &= (uint16_t)~ASYNC__SCHEDULED;
    /* Cancelled before it ever ran: it never runs (asyncio does the same). */
    if (t->future.lc == 0 && (t->future.flags & ASYNC__CANCEL_REQ)) {
        int timeout = t->future.flags & ASYNC__BY_TIMEOUT;
        async__finish(t, timeout ? ASYNC_FAILED : ASYNC_CANCELLED, timeout ? ASYNC_ETIMEDOUT : ASYNC_ECANCELED);
        return;
    }
#if ASYNC_DEBUG
    {
        /* Ended (ASYNC_FINISHED), the task may be gone already: a waiter's
           wake, inside its end, may free or reuse what is the user's again.
           (So a hand-written return of ASYNC_FINISHED goes unseen.) */
        async_loop *loop = t->loop; /* (running is NULL between steps: cleared below) */
#if defined(__GNUC__) || defined(__clang__)
        loop->stack_mark = (const char *)__builtin_frame_address(0);
#endif
        /* Neither finished, nor waiting, nor queued: it left by a bare return. */
        if (async__coroutine(t)(t) != ASYNC_FINISHED && t->future.state == ASYNC_PENDING &&
            !(t->future.flags & (ASYNC__SCHEDULED | ASYNC__WAITING | ASYNC__CLOSING)))
            async__misuse("a coroutine returned without ASYNC_END, ASYNC_RETURN or ASYNC_RAISE (a bare return?)",
                          loop->running);
        loop->running = NULL; /* no coroutine runs now: async_run may be called */
    }
#else
    async__coroutine(t)(t);
#endif
}

/* ---- clock ---- */
#ifdef ASYNC__POSIX_CLOCK
/* Ticks of a timespec: nsec * hz / 1e9, not nsec / (1e9 / hz), which overshoots
   hz within a second (and steps back at the next) when hz does not divide 1e9. */
#define ASYNC__CLOCK_TICKS(sec, nsec, hz) ((uint64_t)(sec) * (hz) + (uint64_t)(nsec) * (hz) / 1000000000)
static async_time async__posix_clock(void *user) {
    struct timespec ts;
    (void)user;
    clock_gettime(CLOCK_MONOTONIC, &ts);
#ifdef ASYNC_TIME32
    return (async_time)(uint32_t)ASYNC__CLOCK_TICKS(ts.tv_sec, ts.tv_nsec, ASYNC_TICK_HZ);
#else
    return (async_time)ts.tv_sec * 1000000000 + ts.tv_nsec;
#endif
}
#endif

static async_time async__read_clock(async_loop *loop) {
    if (loop->clock) loop->now = loop->clock(loop->clock_user);
    return loop->now; /* virtual time: moved only by the loop */
}

async_time async_now(async_loop *loop) { return async__read_clock(loop); }

/* The loop keeps its reading fresh only while timers exist: without one,
   the turn's time is the clock's. */
async_time async_loop_time(async_loop *loop) { return loop->ntimers ? loop->now : async__read_clock(loop); }

void async_loop_init(async_loop *loop, const async_loop_config *config) {
    memset(loop, 0, sizeof *loop);
    if (config) {
        loop->clock = config->clock;
        loop->clock_user = config->clock_user;
        loop->virtual_time = config->virtual_time;
        loop->idle = config->idle;
        loop->idle_user = config->idle_user;
    }
#ifdef ASYNC__POSIX_CLOCK
    if (!loop->clock && !loop->virtual_time) loop->clock = async__posix_clock;
#endif
    /* Without a clock, time is virtual. */
    if (!loop->clock) loop->virtual_time = 1;
    async__read_clock(loop);
}

void async_loop_set_backend(async_loop *loop, int (*poll)(void *, async_time), void *backend) {
    loop->poll = poll;
    loop->backend = backend;
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__SIZEOF_INT__) && __SIZEOF_INT__ < 4
/* A 16-bit int (AVR, MSP430): the int builtins would cut a uint32_t. */
#define ASYNC__CTZ32(x) __builtin_ctzl(x)
#define ASYNC__CLZ32(x) (__builtin_clzl(x) - (int)(8 * sizeof(unsigned long) - 32))
#elif defined(__GNUC__) || defined(__clang__)
#define ASYNC__CTZ32(x) __builtin_ctz(x)
#define ASYNC__CLZ32(x) __builtin_clz(x)
#else
static int async__ctz32(uint32_t x) {
    int n = 0;
    while (!(x & 1)) x >>= 1, n++;
    return n;
}
#define ASYNC__CTZ32(x) async__ctz32(x)
#endif

/* Tests count how many timers each turn moves (to see that no turn moves
   a crowd): they define this before the include. */
#ifndef ASYNC__ON_TIMER_MOVE
#define ASYNC__ON_TIMER_MOVE(loop) ((void)0)
#endif

static void async__list_push(async_timer **head, async_timer *t) {
    t->next = *head;
    if (t->next) t->next->pprev = &t->next;
    t->pprev = head;
    *head = t;
}

static void async__list_unlink(async_timer *t) {
    *t->pprev = t->next;
    if (t->next) t->next->pprev = t->pprev;
}

static void async__timer_complete(async_loop *loop, async_timer *t);

/* Fire the timers of the floor's list, all due when the pass begins. */
static void async__fire_due(async_loop *loop, async_timer **list) {
    async_timer *t;
    /* A wake may start a timer into this very list, due later: the floor
       moved under the pass (the loop's first timer takes now as its floor;
       a wake may run the loop), and the list is another slot's now. */
    while ((t = *list) != NULL && !ASYNC_TIME_BEFORE(loop->now, t->deadline)) async__timer_complete(loop, t);
}

#ifdef ASYNC_TIME32
/* ---- timers, 32-bit ticks: a radix heap ----
   Bucket b > 0 holds the deadlines whose highest bit differing from the
   floor's is b-1. On wrapped 32-bit values this still orders timers,
   because every deadline lies less than 2^31 ticks after the floor: a
   bucket never mixes deadlines from both sides of the wrap. */
static int async__bucket_of(const async_loop *loop, async_time deadline) {
    uint32_t diff = (uint32_t)deadline ^ (uint32_t)loop->timer_floor;
    int b = 0;
#if defined(__GNUC__) || defined(__clang__)
    if (diff) b = 32 - ASYNC__CLZ32(diff);
#else
    while (diff) diff >>= 1, b++;
#endif
    return b;
}

static void async__timer_place(async_loop *loop, async_timer *t) {
    int b = async__bucket_of(loop, t->deadline);
    async__list_push(&loop->buckets[b], t);
    t->future.lc = b;
    if (b) loop->nonempty |= (uint32_t)1 << (b - 1);
}

static void async__timer_unplace(async_loop *loop, async_timer *t) {
    int b = t->future.lc;
    async__list_unlink(t);
    if (b && !loop->buckets[b]) loop->nonempty &= ~((uint32_t)1 << (b - 1));
}

/* The lowest bucket above 0, and where its range starts: the floor's bits
   above b-1, bit b-1 flipped (past the wrap: cleared), zeros below. No
   deadline in it is earlier: a lower bound the loop may wake at once too
   early, not a minimum kept per bucket (that would double the loop). */
static int async__lowest_bucket(const async_loop *loop, async_time *start) {
    int b;
    if (!loop->nonempty) return 0;
    b = ASYNC__CTZ32(loop->nonempty) + 1;
    *start = (async_time)(((((uint32_t)loop->timer_floor >> (b - 1)) ^ 1u) << (b - 1)));
    return b;
}

/* Fire every timer due by now; 1 and the next deadline (a lower bound)
   if timers are left. When bucket 0 runs dry and the lowest bucket's range has begun, the floor moves to that range's start and its
   timers spread over the lower buckets. */
static int async__fire(async_loop *loop, async_time *next) {
    for (;;) {
        async_timer *t, *list;
        async_time start = 0;
        int b;
        async__fire_due(loop, &loop->buckets[0]);
        b = async__lowest_bucket(loop, &start);
        *next = start;
        if (!b || ASYNC_TIME_BEFORE(loop->now, start)) return b != 0;
        list = loop->buckets[b];
        loop->buckets[b] = NULL;
        loop->nonempty &= ~((uint32_t)1 << (b - 1));
        loop->timer_floor = start;
        while (list) {
            t = list->next;
            ASYNC__ON_TIMER_MOVE(loop);
            async__timer_place(loop, list);
            list = t;
        }
    }
}

static int async__drain(async_loop *loop, int budget) {
    (void)loop, (void)budget;
    return 0; /* a radix heap has nothing to do ahead of time */
}

static async_timer *async__any_timer(const async_loop *loop) {
    int b;
    for (b = 0; b < ASYNC__BUCKETS; b++)
        if (loop->buckets[b]) return loop->buckets[b];
    return NULL;
}
#else
/* ---- timers, 64-bit time: a hierarchical wheel ----
   Level L's slot s holds the timers whose deadline d has (d >> 4L) % 32 ==
   s and whose block of the level above (d >> 4(L+1)) is the floor's or the
   next one: the lowest level with such a window takes a timer. Level 0
   then holds exact deadlines; a higher level's slot is a block of time. As
   the floor moves on, each level's next block becomes part of the window
   below: `async__drain` moves those timers down a few per loop turn, so
   that no turn has to move a whole block (the radix heap this replaced
   moved up to half of all timers in one turn at power-of-two instants:
   milliseconds late at 100,000 timers). */
static unsigned async__shift(int level) { return (unsigned)level * ASYNC__WHEEL_BITS; }

static int async__level_of(const async_loop *loop, uint64_t d) {
    uint64_t f = (uint64_t)loop->timer_floor, gap = d - f;
    int level = 0;
    /* A gap under 16^(L+1) fits level L's window; one of 16^L or more
       needs level L-1 at least: start there, a step or two below. */
#if defined(__GNUC__) || defined(__clang__)
    if (gap >> 8) level = (63 - __builtin_clzll(gap)) / ASYNC__WHEEL_BITS - 1;
#endif
    while (level < ASYNC__WHEEL_LEVELS - 1 &&
           (d >> async__shift(level + 1)) - (f >> async__shift(level + 1)) > 1)
        level++;
    return level;
}

static void async__timer_place(async_loop *loop, async_timer *t) {
    uint64_t d = (uint64_t)t->deadline;
    int level = async__level_of(loop, d);
    unsigned s = (unsigned)(d >> async__shift(level)) & (ASYNC__WHEEL_SLOTS - 1);
    uint32_t bit = (uint32_t)1 << level;
    async__list_push(&loop->slots[level][s], t);
    t->future.lc = level * ASYNC__WHEEL_SLOTS + (int)s;
    loop->used[level] |= (uint32_t)1 << s;
    if (!(loop->levels & bit) || t->deadline < loop->level_min[level]) loop->level_min[level] = t->deadline;
    loop->levels |= bit;
}

static void async__timer_unplace(async_loop *loop, async_timer *t) {
    int level = t->future.lc / ASYNC__WHEEL_SLOTS, s = t->future.lc % ASYNC__WHEEL_SLOTS;
    async__list_unlink(t);
    if (loop->slots[level][s]) return;
    loop->used[level] &= ~((uint32_t)1 << s);
    if (!loop->used[level]) loop->levels &= ~((uint32_t)1 << level);
}

/* The first slot of a level at or after the floor's block (in the window's
   circular order), and when that slot's time begins. */
static async_time async__level_next(const async_loop *loop, int level, unsigned *slot) {
    unsigned sh = async__shift(level);
    uint64_t fb = (uint64_t)loop->timer_floor >> sh;
    unsigned f = (unsigned)fb & (ASYNC__WHEEL_SLOTS - 1), k;
    uint32_t used = loop->used[level];
    if (f) used = (used >> f) | (used << (ASYNC__WHEEL_SLOTS - f));
    k = (unsigned)ASYNC__CTZ32(used);
    *slot = (f + k) & (ASYNC__WHEEL_SLOTS - 1);
    return (async_time)((fb + k) << sh);
}

/* The earliest a timer may be due: exact on level 0; above, the later of
   the slot's start and the level's least deadline (exact for a lone
   timer). The lowest level holds the earliest timers: a higher level's lie
   beyond the windows below, but for its next block, which may wait for the
   drain still. */
static int async__next_deadline(async_loop *loop, async_time *when) {
    uint32_t levels = loop->levels;
    uint64_t f = (uint64_t)loop->timer_floor;
    unsigned slot;
    int level;
    if (!levels) return 0;
    level = ASYNC__CTZ32(levels);
    *when = async__level_next(loop, level, &slot);
    if (*when < loop->level_min[level]) *when = loop->level_min[level];
    for (levels = loop->pending & ~(((uint32_t)2 << level) - 1); levels; levels &= levels - 1) {
        unsigned sh = async__shift(level = ASYNC__CTZ32(levels));
        uint64_t next = (f >> sh) + 1;
        async_time t = (async_time)(next << sh);
        if (!(loop->used[level] & ((uint32_t)1 << (next & (ASYNC__WHEEL_SLOTS - 1))))) continue;
        if (t < loop->level_min[level]) t = loop->level_min[level];
        if (t < *when) *when = t;
    }
    return 1;
}

static void async__slot_move_down(async_loop *loop, int level, unsigned s, int32_t budget) { /* (int is 16 bits on AVR) */
    async_timer *t;
    while (budget-- > 0 && (t = loop->slots[level][s]) != NULL) {
        ASYNC__ON_TIMER_MOVE(loop);
        async__timer_unplace(loop, t);
        async__timer_place(loop, t);
    }
}

/* Move the floor up to `to` (<= now, <= every deadline). Where its block
   changed, the slot of its new block must be empty: whatever the drain had
   not moved yet goes down now. */
static void async__floor_to(async_loop *loop, async_time to) {
    uint64_t old = (uint64_t)loop->timer_floor, nw = (uint64_t)to;
    uint32_t levels = loop->levels & ~(uint32_t)1;
    loop->timer_floor = to;
    while (levels) {
        int level = ASYNC__CTZ32(levels);
        unsigned sh = async__shift(level);
        levels &= levels - 1;
        if ((old >> sh) == (nw >> sh)) break; /* and so on every level above */
        async__slot_move_down(loop, level, (unsigned)(nw >> sh) & (ASYNC__WHEEL_SLOTS - 1), INT32_MAX);
        /* its next block now lies in the window below: the drain's work */
        if (loop->used[level] & ((uint32_t)1 << (((nw >> sh) + 1) & (ASYNC__WHEEL_SLOTS - 1))))
            loop->pending |= (uint32_t)1 << level;
    }
}

/* Fire every timer due by now, moving the floor from one due slot to the
   next; 1 and the next deadline (or a lower bound) if timers are left. */
static int async__fire(async_loop *loop, async_time *next) {
    for (;;) {
        /* all due at the floor: level 0 slots are exact */
        async__fire_due(loop, &loop->slots[0][(unsigned)loop->timer_floor & (ASYNC__WHEEL_SLOTS - 1)]);
        if (!async__next_deadline(loop, next)) return 0;
        if (*next > loop->now) return 1;
        async__floor_to(loop, *next);
    }
}

/* Move up to `budget` timers of each pending level's next block one level
   down; 1 if some are left (the loop then turns again without waiting). A
   next block only fills when the floor moves on (a new timer in it goes
   lower at once): `pending` is set there, and cleared here. */
static int async__drain(async_loop *loop, int budget) {
    uint32_t levels = loop->pending;
    while (levels) {
        int level = ASYNC__CTZ32(levels);
        unsigned s = (unsigned)(((uint64_t)loop->timer_floor >> async__shift(level)) + 1) & (ASYNC__WHEEL_SLOTS - 1);
        levels &= levels - 1;
        async__slot_move_down(loop, level, s, budget);
        if (!(loop->used[level] & ((uint32_t)1 << s))) loop->pending &= ~((uint32_t)1 << level);
    }
    return loop->pending != 0;
}

static async_timer *async__any_timer(const async_loop *loop) {
    int level;
    if (!loop->levels) return NULL;
    level = ASYNC__CTZ32(loop->levels);
    return loop->slots[level][ASYNC__CTZ32(loop->used[level])];
}
#endif

/* While timers fire, one started due is set a tick on (async_timer_start_at). */
static int async__fire_timers(async_loop *loop, async_time *next) {
    unsigned char was = loop->firing; /* a wake may run the loop (async_run) inside this pass */
    int more;
    loop->firing = 1;
    more = async__fire(loop, next);
    loop->firing = was;
    return more;
}

static void async__timer_disarm(async_loop *loop, async_timer *t) {
    async__timer_unplace(loop, t);
    t->next = NULL;
    t->pprev = NULL;
    t->future.flags &= (uint16_t)~ASYNC__ARMED;
    loop->ntimers--;
}

static void async__timer_complete(async_loop *loop, async_timer *t) {
    async__timer_disarm(loop, t);
    async__complete(&t->future, ASYNC_FULFILLED, 0);
}

static void async__timer_cancel_hook(async_future *f) {
    async_timer_stop(ASYNC__CONTAINER(f, async_timer, future));
}

async_future *async_timer_start_at(async_loop *loop, async_timer *timer, async_time deadline) {
#if ASYNC_DEBUG
    /* A timer never zeroed may have its ARMED bit set by chance: believe the
       bit only if the timer really is linked into this loop's timers. */
    if ((timer->future.flags & ASYNC__ARMED) &&
        (timer->loop != loop || !timer->pprev || *timer->pprev != timer)) {
        async__misuse("a timer started that was never zeroed (or runs on another loop)", NULL);
        return &timer->future;
    }
#endif
    /* A restarted timer keeps its waiters: they now wait for the new deadline. */
    if (timer->future.flags & ASYNC__ARMED) async__timer_disarm(timer->loop, timer);
    else async_future_init_cancellable(&timer->future, async__timer_cancel_hook);
    if (loop->ntimers == 0) {
#ifdef ASYNC_TIME32
        /* The loop's reading may be old (it keeps it fresh only while timers
           exist), and a deadline over ASYNC_MAX_DELAY past it would pass for
           the past. (64-bit time has no such horizon; its floor stays the
           reading its sleeps were computed from.) */
        loop->timer_floor = async__read_clock(loop);
#else
        loop->timer_floor = loop->now;
#endif
#ifndef ASYNC_TIME32
        loop->pending = 0;
#endif
    }
#ifdef ASYNC_TIME32
    /* Cut as a delay is: further on it might pass for the past (it is
       compared with the floor, which may lag now). */
    if (ASYNC_TIME_DIFF(deadline, loop->now) > ASYNC_MAX_DELAY) deadline = ASYNC_TIME_ADD(loop->now, ASYNC_MAX_DELAY);
#endif
    /* A deadline already past is due at the floor, which is never after now.
       Started while timers fire (by a waiter's wake), a due one is a tick
       on: the next turn's, as asyncio's call_later(0) from a callback, or a
       timer re-armed with delay 0 there would keep the pass going forever. */
    if (loop->firing && !ASYNC_TIME_BEFORE(loop->now, deadline)) deadline = ASYNC_TIME_ADD(loop->now, 1);
    timer->deadline = ASYNC_TIME_BEFORE(loop->timer_floor, deadline) ? deadline : loop->timer_floor;
    timer->loop = loop;
    timer->future.flags |= ASYNC__ARMED;
    loop->ntimers++;
    async__timer_place(loop, timer);
    return &timer->future;
}

/* now + delay, kept within reach: ASYNC_MAX_DELAY with 32-bit ticks, no
   overflow past ASYNC_NO_TIMEOUT with 64-bit time. */
static async_time async__after(async_time now, async_time delay) {
    if (delay < 0) delay = 0;
#ifdef ASYNC_TIME32
    if (delay > ASYNC_MAX_DELAY) delay = ASYNC_MAX_DELAY;
    return ASYNC_TIME_ADD(now, delay);
#else
    return delay > INT64_MAX - now ? INT64_MAX : now + delay;
#endif
}

async_future *async_sleep(async_loop *loop, async_timer *timer, async_time delay) {
    return async_timer_start_at(loop, timer, async__after(async_loop_time(loop), delay));
}

void async_timer_stop(async_timer *timer) {
    if (!(timer->future.flags & ASYNC__ARMED)) return;
    async__timer_disarm(timer->loop, timer);
    async__complete(&timer->future, ASYNC_CANCELLED, ASYNC_ECANCELED);
}

/* ---- interrupt sources ---- */
void async_trigger_init(async_loop *loop, async_trigger *tr) {
    async_semaphore_init(&tr->sem, 0);
    tr->loop = loop;
    tr->fired = 0;
    tr->next = loop->triggers;
    loop->triggers = tr;
}

void async_trigger_remove(async_trigger *tr) {
    async_trigger **p;
    for (p = &tr->loop->triggers; *p; p = &(*p)->next)
        if (*p == tr) {
            *p = tr->next;
            return;
        }
}

/* The trigger's own flag first, the loop's after: a loop that clears its
   flag and then looks at the triggers misses none. */
void async_trigger_fire(async_trigger *tr) {
    tr->fired = 1;
    tr->loop->signalled = 1;
}

static void async__trigger_give(async_semaphore *s);

static void async__deliver_triggers(async_loop *loop) {
    async_trigger *tr;
    loop->signalled = 0;
    for (tr = loop->triggers; tr; tr = tr->next) {
        if (!tr->fired) continue;
        tr->fired = 0;
        async__trigger_give(&tr->sem);
    }
}

/* ---- the loop ---- */
/* asyncio's call_soon, for the combinators' done callbacks: the callback
   runs in the next turn behind the tasks woken so far (right after the
   ready queue's last task runs; with none queued, at the turn's start), and
   ahead of those woken after it. Each waits for the queue's tail of its
   moment, so the list keeps the queue's order: the loop looks at its head. */
static void async__call_soon(async_loop *loop, async__soon *s) {
    s->after = loop->ready_tail ? async__task_of(loop->ready_tail) : NULL;
    s->waiter.next = NULL;
    if (loop->soon_tail) loop->soon_tail->waiter.next = &s->waiter;
    else loop->soon_head = s;
    loop->soon_tail = s;
}

static async__soon *async__soon_next(const async__soon *s) { return (async__soon *)(void *)s->waiter.next; }

/* Withdraw a callback: the list holds a few at most, so a scan will do. */
static void async__cancel_soon(async_loop *loop, async__soon *s) {
    async__soon **p, *prev = NULL;
    for (p = &loop->soon_head; *p; prev = *p, p = (async__soon **)(void *)&(*p)->waiter.next) {
        if (*p != s) continue;
        *p = async__soon_next(s);
        if (loop->soon_tail == s) loop->soon_tail = prev;
        return;
    }
}

/* Run the callbacks that wait for `after` (NULL: the turn's start). */
static void async__run_soon(async_loop *loop, const async_task *after) {
    async__soon *s;
    while ((s = loop->soon_head) != NULL && s->after == after) {
        loop->soon_head = async__soon_next(s);
        if (!loop->soon_head) loop->soon_tail = NULL;
        s->waiter.wake(&s->waiter, NULL);
    }
}

/* The idle wait with no backend and no hook. On a Cortex-M: WFI with
   interrupts masked, so that an interrupt arriving after the check still
   ends the WFI (it stays pending) and is handled after PRIMASK is restored. */
#if !defined(ASYNC__POSIX_CLOCK) && defined(__arm__) && defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
#define ASYNC__WFI
static void async__wait_for_interrupt(const async_loop *loop) {
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    if (!loop->signalled) __asm__ volatile("wfi" ::: "memory");
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
}
#endif

/* Linux lets nanosleep run up to 50 us late (the default timer slack):
   the last stretch before a timer is spun, not slept. */
#define ASYNC__SLACK ASYNC_US(50)
#define ASYNC__TRIGGER_SLICE (ASYNC_MS(10) > 0 ? ASYNC_MS(10) : 1) /* a tick at least: a slow tick rate must not spin */

static int async__idle(async_loop *loop, async_time timeout) {
#if defined(ASYNC__POSIX_CLOCK)
    /* A signal handler's trigger may land after the loop's last look and
       before the wait starts (nanosleep, epoll_wait), which it does not cut
       short: while triggers are registered, no wait outlasts a slice, and
       none is "forever" (so no deadlock either, with a backend too). */
    if (loop->triggers && !loop->idle && !loop->virtual_time && (timeout < 0 || timeout > ASYNC__TRIGGER_SLICE))
        timeout = ASYNC__TRIGGER_SLICE;
#endif
    if (loop->poll) return loop->poll(loop->backend, timeout);
    if (timeout < 0 && !loop->triggers) return ASYNC_EDEADLK;
    if (loop->idle) {
        if (timeout != 0) loop->idle(loop->idle_user, timeout);
    } else if (!loop->virtual_time) {
#if defined(ASYNC__POSIX_CLOCK)
        struct timespec ts; /* (no timer and triggers: a slice, above) */
        if (timeout <= ASYNC__SLACK) return 0;
        timeout -= ASYNC__SLACK;
        ts.tv_sec = (time_t)(timeout / ASYNC_SEC(1));
        ts.tv_nsec = (long)(timeout % ASYNC_SEC(1) * (1000000000 / ASYNC_SEC(1)));
        nanosleep(&ts, NULL);
#elif defined(ASYNC__WFI)
        async__wait_for_interrupt(loop);
#endif
    }
    if (loop->virtual_time && timeout > 0) loop->now = ASYNC_TIME_ADD(loop->now, timeout);
    return 0;
}

static ASYNC__OWN_FRAME int async__run(async_loop *loop, const async_future *f) {
    unsigned ran = 0;
#if ASYNC_DEBUG
    /* async_loop_init leaves a clock or virtual time: a zeroed loop would
       wait for ever for timers whose time never comes. */
    if (!loop->clock && !loop->virtual_time) async__misuse("a loop (async_loop_init) used before its init", NULL);
    /* The running coroutine is half way through a step: a turn run from
       inside it could resume it, or a task it is about to await. */
    if (loop->running)
        async__misuse("async_run (or something that calls it, like async_http_client_close) called from a "
                      "coroutine: the loop already runs; await the future instead",
                      loop->running);
#endif
    while (f->state == ASYNC_PENDING) {
        async_waiter *batch;
        async_time timeout, next = 0; /* (set when have_next is: GCC inlining async_run cannot tell) */
        int rc, have_next = 0;
        /* the two rare lists behind one test: triggers first, then the
           call_soon callbacks queued with no task ready; the tasks either
           wakes join this turn's batch */
        if (loop->soon_head || loop->signalled) {
            if (loop->signalled) async__deliver_triggers(loop);
            if (loop->soon_head) async__run_soon(loop, NULL);
        }
        batch = loop->ready_head;
        /* Run only what was ready when the turn began: a task that yields
           waits for the next turn, after timers and I/O had their say. */
        loop->ready_head = loop->ready_tail = NULL;
        while (batch) {
            async_waiter *next_task = async__task_of(batch)->next;
            async__run_task(async__task_of(batch));
            if (loop->soon_head) async__run_soon(loop, async__task_of(batch));
            batch = next_task;
            /* Sleeps count from the loop's time: keep it fresh through a long
               batch, for the price of one clock read per 64 tasks. */
            if ((++ran & 63) == 0 && loop->ntimers) async__read_clock(loop);
        }
        if (loop->ntimers) {
            async__read_clock(loop);
            have_next = async__fire_timers(loop, &next);
        }
        if (f->state != ASYNC_PENDING) break;
        /* Timers move ahead of time in small steps; while some are left the
           loop does not wait (moving them leaves `next` a lower bound). */
        if (loop->ready_head || loop->soon_head || loop->signalled || (have_next && async__drain(loop, 64))) {
            if (!loop->poll) continue;
            timeout = 0;
        } else if (have_next && !(ASYNC_NO_TIMEOUT == ASYNC_MAX_DELAY && next == ASYNC_NO_TIMEOUT)) {
            timeout = ASYNC_TIME_BEFORE(loop->now, next) ? ASYNC_TIME_DIFF(next, loop->now) : 0;
        } else { /* (64-bit time: a sleep of ASYNC_NO_TIMEOUT never ends, a virtual clock's neither) */
            timeout = -1;
        }
        rc = async__idle(loop, timeout);
        if (rc < 0) return rc;
        /* A poll that did not wait leaves the clock to the next turn's
           reading, a few microseconds on: one reading per busy turn. */
        if (loop->ntimers && timeout != 0) {
            async__read_clock(loop);
            async__fire_timers(loop, &next);
        }
    }
    return 0;
}

int async_run(async_loop *loop, async_future *f) {
    int rc = async__run(loop, f);
    return rc < 0 ? rc : async_error(f);
}

int async_loop_shutdown(async_loop *loop) {
    async_task *t, *last = loop->newest;
    async_timer *timer;
    async_future drained;
    int rc;
    /* Cancel what was pending when shutdown began, oldest first. Cancelling
       only asks (no task ends inside async_cancel), so the list holds still
       under the walk. Tasks created from now on run to their end. */
    for (t = loop->oldest; t; t = t->newer) {
        async_cancel(t);
        if (t == last) break;
    }
    async_future_init(&drained);
    if (loop->ntasks == 0) async__complete(&drained, ASYNC_FULFILLED, 0);
    loop->drained = &drained; /* the last task's end completes it */
    rc = async__run(loop, &drained);
    loop->drained = NULL;
    if (rc < 0) return rc;
    /* No task is left: what still points into the user's storage is a
       combinator's timeout or a wait about to report. Settle those too. */
    while (loop->soon_head) async__run_soon(loop, loop->soon_head->after);
    while ((timer = async__any_timer(loop)) != NULL) async_timer_stop(timer);
    return 0;
}

int async_main(async_loop *loop, async_future *f) {
    int rc = async_run(loop, f), down = async_loop_shutdown(loop);
    return down < 0 ? down : rc;
}

/* ---- what the combinators share ---- */
/* Stop watching the children still pending (those done already let go). */
static ASYNC__COLD void async__detach_links(async_future *const *futs, async_link *links, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!async_done(futs[i])) async__ring_remove(&futs[i]->waiters, &links[i].waiter);
}

/* Stop a combinator's own timer without waking the combinator. */
static void async__timer_release(async_timer *timer, async_waiter *w) {
    async__ring_remove(&timer->future.waiters, w);
    async_timer_stop(timer);
}

/* ---- gather ---- */

static void async__gather_wake(async_waiter *w, async_future *child) {
    async_gather_op *g = (async_gather_op *)((async_link *)w)->owner;
    if (g->future.state != ASYNC_PENDING) return;
    g->pending--;
    if (child->state != ASYNC_FULFILLED && !g->return_exceptions && !g->cancelling) {
        async__detach_links(g->futs, g->links, g->n);
        /* A cancelled child is an error of the gather's (ECANCELED), not a
           cancellation of the gather itself: asyncio does the same. */
        async__complete(&g->future, ASYNC_FAILED, async_error(child));
    } else if (g->pending == 0) {
        if (g->cancelling) async__complete(&g->future, ASYNC_CANCELLED, ASYNC_ECANCELED);
        else async__complete(&g->future, ASYNC_FULFILLED, (intptr_t)g->n);
    }
}

static void async__gather_cancel(async_future *f) {
    async_gather_op *g = ASYNC__CONTAINER(f, async_gather_op, future);
    size_t i;
    int requested = 0;
    if (g->cancelling) return;
    g->cancelling = 1;
    /* A child may complete inside the loop and so complete the gather. */
    for (i = 0; i < g->n && g->future.state == ASYNC_PENDING; i++) requested |= async_future_cancel(g->futs[i]);
    /* Nothing left to cancel: the results stand (asyncio's cancel() returns False). */
    if (!requested) g->cancelling = 0;
}

async_future *async_gather(async_gather_op *g, async_future *const *futs, async_link *links, size_t n,
                           int return_exceptions) {
    size_t i;
    async_future_init_cancellable(&g->future, async__gather_cancel);
    g->futs = futs;
    g->links = links;
    g->n = n;
    g->pending = n;
    g->return_exceptions = return_exceptions;
    g->cancelling = 0;
    for (i = 0; i < n && g->future.state == ASYNC_PENDING; i++) {
        links[i].owner = g;
        links[i].waiter.wake = async__gather_wake;
        async_future_add_waiter(futs[i], &links[i].waiter);
    }
    if (n == 0) async__complete(&g->future, ASYNC_FULFILLED, 0);
    return &g->future;
}

/* ---- as_completed ---- */
/* Complete the step the consumer asked for, if there is something to say. */
static void async__ac_emit(async_as_completed *ac) {
    async_link *l = ac->done_head;
    if (!ac->asked || ac->step.state != ASYNC_PENDING) return;
    if (l) {
        ac->done_head = (async_link *)(void *)l->waiter.next;
        if (!ac->done_head) ac->done_tail = NULL;
        ac->asked = 0;
        if (--ac->unyielded == 0) async_timer_stop(&ac->timer);
        async__complete(&ac->step, ASYNC_FULFILLED, (intptr_t)(l - ac->links));
    } else if (ac->timed_out) {
        ac->asked = 0;
        ac->unyielded = 0; /* said once; the iteration is over: EDONE from now on */
        async__complete(&ac->step, ASYNC_FAILED, ASYNC_ETIMEDOUT);
    }
}

static void async__ac_child_wake(async_waiter *w, async_future *child) {
    async_link *l = (async_link *)w;
    async_as_completed *ac = (async_as_completed *)l->owner;
    (void)child;
    if (ac->closed || ac->timed_out) return;
    l->waiter.next = NULL; /* the done list reuses the link */
    if (ac->done_tail) ac->done_tail->waiter.next = &l->waiter;
    else ac->done_head = l;
    ac->done_tail = l;
    async__ac_emit(ac);
}

static void async__ac_timer_wake(async_waiter *w, async_future *timer) {
    async_as_completed *ac = ASYNC__CONTAINER(w, async_as_completed, timer_waiter);
    if (timer->state != ASYNC_FULFILLED || ac->closed) return;
    ac->timed_out = 1;
    async__detach_links(ac->futs, ac->links, ac->n); /* the rest run on, unwatched */
    async__ac_emit(ac);
}

void async_as_completed_init(async_loop *loop, async_as_completed *ac, async_future *const *futs,
                             async_link *links, size_t n, async_time timeout) {
    size_t i;
    memset(ac, 0, sizeof *ac);
    ac->magic = ASYNC__MAGIC;
    ac->futs = futs;
    ac->links = links;
    ac->n = ac->unyielded = n;
    if (timeout != ASYNC_NO_TIMEOUT && n > 0) {
        ac->timer_waiter.wake = async__ac_timer_wake;
        async_future_add_waiter(async_sleep(loop, &ac->timer, timeout), &ac->timer_waiter);
    }
    for (i = 0; i < n; i++) {
        links[i].owner = ac;
        links[i].waiter.wake = async__ac_child_wake;
        async_future_add_waiter(futs[i], &links[i].waiter);
    }
}

async_future *async_as_completed_next(async_as_completed *ac) {
    ASYNC__CHECK_INIT(ac->magic == ASYNC__MAGIC, "an as_completed (async_as_completed_init)", &ac->step);
    async_future_init(&ac->step);
    if (ac->unyielded == 0 || ac->closed) {
        async__complete(&ac->step, ASYNC_FAILED, ASYNC_EDONE);
        return &ac->step;
    }
    ac->asked = 1;
    async__ac_emit(ac); /* done at once if a completion is queued */
    return &ac->step;
}

void async_as_completed_close(async_as_completed *ac) {
    ASYNC__CHECK_INIT(ac->magic == ASYNC__MAGIC, "an as_completed (async_as_completed_init)", );
    if (ac->closed) return;
    ac->closed = 1;
    if (ac->asked && ac->step.state == ASYNC_PENDING) async__complete(&ac->step, ASYNC_FAILED, ASYNC_EDONE);
    if (!ac->timed_out) async__detach_links(ac->futs, ac->links, ac->n);
    async__timer_release(&ac->timer, &ac->timer_waiter);
}

/* ---- wait ---- */
static int async__wait_satisfied(const async_wait_op *w, const async_future *child) {
    switch (w->return_when) {
    case ASYNC_FIRST_COMPLETED: return w->ndone > 0;
    case ASYNC_FIRST_EXCEPTION: return w->ndone == w->n || (child && child->state == ASYNC_FAILED);
    default: return w->ndone == w->n;
    }
}

static void async__wait_finish(async_wait_op *w, int state) {
    if (w->met) async__cancel_soon(w->loop, &w->soon);
    async__detach_links(w->futs, w->links, w->n);
    async__timer_release(&w->timer, &w->timer_waiter);
    async__complete(&w->future, state, state == ASYNC_CANCELLED ? (intptr_t)ASYNC_ECANCELED : (intptr_t)w->ndone);
}

/* The condition held during the last turn: report what is done by now. */
static void async__wait_soon(async_waiter *l, async_future *unused) {
    async_wait_op *w = ASYNC__CONTAINER(l, async_wait_op, soon.waiter);
    (void)unused;
    w->met = 0;
    async__wait_finish(w, ASYNC_FULFILLED);
}

static void async__wait_child_wake(async_waiter *l, async_future *child) {
    async_wait_op *w = (async_wait_op *)((async_link *)l)->owner;
    if (w->future.state != ASYNC_PENDING) return;
    w->ndone++;
    if (w->ndone == w->n) async__wait_finish(w, ASYNC_FULFILLED); /* nothing more can come */
    else if (!w->met && async__wait_satisfied(w, child)) {
        w->met = 1; /* the others finishing in this instant count too */
        async__call_soon(w->loop, &w->soon);
    }
}

static void async__wait_timer_wake(async_waiter *l, async_future *timer) {
    async_wait_op *w = ASYNC__CONTAINER(l, async_wait_op, timer_waiter);
    if (w->future.state != ASYNC_PENDING || timer->state != ASYNC_FULFILLED) return;
    async__wait_finish(w, ASYNC_FULFILLED);
}

static void async__wait_cancel(async_future *f) { async__wait_finish(ASYNC__CONTAINER(f, async_wait_op, future), ASYNC_CANCELLED); }

async_future *async_wait(async_loop *loop, async_wait_op *w, async_future *const *futs, async_link *links,
                         size_t n, int return_when, async_time timeout) {
    size_t i;
    int failed = 0;
    memset(w, 0, sizeof *w);
    async_future_init_cancellable(&w->future, async__wait_cancel);
    w->loop = loop;
    w->soon.waiter.wake = async__wait_soon;
    w->futs = futs;
    w->links = links;
    w->return_when = return_when;
    if (n == 0 || return_when < ASYNC_FIRST_COMPLETED || return_when > ASYNC_ALL_COMPLETED) {
        async__complete(&w->future, ASYNC_FAILED, ASYNC_EINVAL);
        return &w->future;
    }
    /* Count what is done already before watching the rest, so that every
       future done now is reported, not only the first. */
    w->n = n;
    for (i = 0; i < n; i++) {
        if (!async_done(futs[i])) continue;
        w->ndone++;
        if (futs[i]->state == ASYNC_FAILED) failed = 1;
    }
    if ((failed && return_when == ASYNC_FIRST_EXCEPTION) || async__wait_satisfied(w, NULL)) {
        async__complete(&w->future, ASYNC_FULFILLED, (intptr_t)w->ndone);
        return &w->future;
    }
    for (i = 0; i < n; i++) {
        if (async_done(futs[i])) continue;
        links[i].owner = w;
        links[i].waiter.wake = async__wait_child_wake;
        async__ring_push(&futs[i]->waiters, &links[i].waiter);
    }
    if (timeout != ASYNC_NO_TIMEOUT) {
        w->timer_waiter.wake = async__wait_timer_wake;
        async_future_add_waiter(async_sleep(loop, &w->timer, timeout), &w->timer_waiter);
    }
    return &w->future;
}

/* ---- wait_for ---- */
static void async__wait_for_settle(async_wait_for_op *wf) {
    async_future *in = wf->inner;
    async__timer_release(&wf->timer, &wf->timer_waiter);
    /* Cancelled by the timeout: ETIMEDOUT. An inner that ended otherwise
       while being cancelled (its own error, or a result) says so itself. */
    if (wf->timed_out && async_error(in) == ASYNC_ECANCELED) async__complete(&wf->future, ASYNC_FAILED, ASYNC_ETIMEDOUT);
    else async__complete(&wf->future, in->state, in->value);
}

static void async__wait_for_inner_wake(async_waiter *l, async_future *inner) {
    async_wait_for_op *wf = ASYNC__CONTAINER(l, async_wait_for_op, inner_waiter);
    (void)inner;
    if (wf->future.state == ASYNC_PENDING) async__wait_for_settle(wf);
}

static void async__wait_for_timer_wake(async_waiter *l, async_future *timer) {
    async_wait_for_op *wf = ASYNC__CONTAINER(l, async_wait_for_op, timer_waiter);
    if (wf->future.state != ASYNC_PENDING || timer->state != ASYNC_FULFILLED) return;
    wf->timed_out = 1;
    async_future_cancel(wf->inner); /* settles when the inner is done */
}

static void async__wait_for_cancel(async_future *f) {
    async_wait_for_op *wf = ASYNC__CONTAINER(f, async_wait_for_op, future);
    async_timer_stop(&wf->timer);
    async_future_cancel(wf->inner);
}

async_future *async_wait_for(async_loop *loop, async_wait_for_op *wf, async_future *inner, async_time timeout) {
    memset(wf, 0, sizeof *wf);
    async_future_init_cancellable(&wf->future, async__wait_for_cancel);
    wf->inner = inner;
    if (async_done(inner)) {
        async__complete(&wf->future, inner->state, inner->value);
        return &wf->future;
    }
    wf->inner_waiter.wake = async__wait_for_inner_wake;
    async__ring_push(&inner->waiters, &wf->inner_waiter);
    if (timeout <= 0) {
        /* Out of time before it began: the inner is cancelled now (a task
           not yet run never runs) and this settles once it is done. */
        wf->timed_out = 1;
        async_future_cancel(inner);
    } else if (timeout != ASYNC_NO_TIMEOUT) {
        wf->timer_waiter.wake = async__wait_for_timer_wake;
        async_future_add_waiter(async_sleep(loop, &wf->timer, timeout), &wf->timer_waiter);
    }
    return &wf->future;
}

/* ---- shield ---- */
static void async__shield_inner_wake(async_waiter *l, async_future *inner) {
    async_shield_op *s = ASYNC__CONTAINER(l, async_shield_op, inner_waiter);
    if (s->future.state != ASYNC_PENDING) return; /* cancelled while inner's waiters were being woken */
    async__complete(&s->future, inner->state, inner->value);
}

static void async__shield_cancel(async_future *f) {
    async_shield_op *s = ASYNC__CONTAINER(f, async_shield_op, future);
    async__ring_remove(&s->inner->waiters, &s->inner_waiter); /* inner runs on, unwatched */
    async__complete(&s->future, ASYNC_CANCELLED, ASYNC_ECANCELED);
}

async_future *async_shield(async_shield_op *s, async_future *inner) {
    async_future_init_cancellable(&s->future, async__shield_cancel);
    s->inner = inner;
    s->inner_waiter.wake = async__shield_inner_wake;
    async_future_add_waiter(inner, &s->inner_waiter); /* done at once if inner is */
    return &s->future;
}

/* ---- task group ---- */
static void async__group_owner_done(async_waiter *l, async_future *owner) {
    (void)owner;
    ASYNC__CONTAINER(l, async_task_group, owner_waiter)->owner = NULL;
}

/* The open groups of a task hang in its ring (with its deadlines and what
   awaits it: a few entries); walk them. */
static async_task_group *async__group_next(async_task *t, async_waiter **w) {
    async_waiter *ring = t->future.waiters;
    while (ring && *w != ring) {
        *w = *w ? *async__next(*w) : *async__next(ring);
        if (!async__is_task(*w) && (*w)->wake == async__group_owner_done)
            return ASYNC__CONTAINER(*w, async_task_group, owner_waiter);
    }
    return NULL;
}
#define ASYNC__FOR_GROUPS(t, g, w) for (w = NULL; (g = async__group_next(t, &w)) != NULL;)

static void async__group_abort(async_task_group *g) {
    size_t i;
    if (g->aborting) return; /* once: a child cleaning up is not cancelled again */
    g->aborting = 1;
    for (i = 0; i < g->n; i++) async_future_cancel(g->futs[i]);
}

static void async__group_settle(async_task_group *g) {
    async_task *o = g->owner;
    if (g->error) async__cancel_soon(g->loop, &g->abort_soon); /* nothing left to abort (if still queued) */
    /* Joined by the owner, who reads the outcome itself: let go of it. */
    if (g->joined && o && !(o->future.flags & ASYNC__CLOSING)) {
        async__ring_remove(&o->future.waiters, &g->owner_waiter);
        g->owner = NULL;
    }
    if (g->error) async__complete(&g->future, ASYNC_FAILED, g->error);
    else if (g->cancelled) async__complete(&g->future, ASYNC_CANCELLED, ASYNC_ECANCELED);
    else async__complete(&g->future, ASYNC_FULFILLED, (intptr_t)g->n);
}

static int async__groups_running(async_task *t) {
    async_task_group *g;
    async_waiter *w;
    ASYNC__FOR_GROUPS(t, g, w) if (g->running) return 1;
    return 0;
}

static void async__group_child_done(async_waiter *l, async_future *child) {
    async_task_group *g = (async_task_group *)((async_link *)l)->owner;
    async_task *o = g->owner;
    int code = async_error(child);
    g->running--;
    if (code && code != ASYNC_ECANCELED) {
        g->nerrors++;
        if (!g->error) {
            g->error = code;
            /* not aborting for another reason already: abort soon (asyncio's done callback) */
            if (!g->aborting) async__call_soon(g->loop, &g->abort_soon);
        }
    }
    if (g->running || g->future.state != ASYNC_PENDING) return;
    if (g->joined || g->closing || g->cancelled) async__group_settle(g);
    if (o && (o->future.flags & ASYNC__CLOSING) && !async__groups_running(o))
        async__task_end_scoped(o, o->future.lc, o->future.value);
}

/* The first failure, one turn on: cancel the siblings still running, and
   the owner's current await unless it is the join (asyncio's
   parent_task.cancel()). */
static void async__group_abort_soon(async_waiter *w, async_future *unused) {
    async_task_group *g = ASYNC__CONTAINER(w, async_task_group, abort_soon.waiter);
    async_task *o = g->owner;
    (void)unused;
    if (g->aborting) return;
    async__group_abort(g);
    if (o && !(o->future.flags & ASYNC__CLOSING) &&
        !((o->future.flags & ASYNC__WAITING) && o->future.value == (intptr_t)&g->future))
        async__task_request_cancel(o, 0);
}

static void async__group_cancel(async_future *f) {
    async_task_group *g = ASYNC__CONTAINER(f, async_task_group, future);
    g->cancelled = 1;
    async__group_abort(g);
    if (!g->running) async__group_settle(g);
}

/* The owner's body ended: its groups are joined by that; 1 if one still runs. */
static ASYNC__COLD int async__groups_close(async_task *t, int state) {
    async_task_group *g;
    async_waiter *w;
    int hold = 0;
    t->future.flags |= ASYNC__CLOSING; /* from now on its groups keep to its ring (and the walk holds) */
    ASYNC__FOR_GROUPS(t, g, w) {
        if (g->future.state != ASYNC_PENDING) continue;
        g->closing = 1;
        if (state != ASYNC_FULFILLED) async__group_abort(g);
        if (g->running) hold = 1;
        else async__group_settle(g);
    }
    if (!hold) t->future.flags &= (uint16_t)~ASYNC__CLOSING;
    return hold;
}

static void async__groups_abort(async_task *t) {
    async_task_group *g;
    async_waiter *w;
    ASYNC__FOR_GROUPS(t, g, w) if (g->future.state == ASYNC_PENDING) async__group_abort(g);
}

static int async__groups_error(async_task *t) {
    async_task_group *g;
    async_waiter *w;
    ASYNC__FOR_GROUPS(t, g, w) if (g->error) return g->error;
    return 0;
}

void async_task_group_init(async_task_group *g, async_task *owner, async_future **futs, async_link *links,
                           size_t capacity) {
    memset(g, 0, sizeof *g);
    g->magic = ASYNC__MAGIC;
    async_future_init_cancellable(&g->future, async__group_cancel);
    g->owner = owner;
    g->loop = owner->loop;
    g->futs = futs;
    g->links = links;
    g->capacity = capacity;
    g->owner_waiter.wake = async__group_owner_done;
    g->abort_soon.waiter.wake = async__group_abort_soon;
    async__ring_push(&owner->future.waiters, &g->owner_waiter);
    owner->future.flags |= ASYNC__SCOPED;
}

int async_task_group_spawn(async_task_group *g, async_task *t, async_fn fn) {
    async_link *l;
    ASYNC__CHECK_INIT(g->magic == ASYNC__MAGIC, "a task group (async_task_group_init)", ASYNC_EINVAL);
    if (g->future.state != ASYNC_PENDING || g->aborting || g->n == g->capacity) return ASYNC_EINVAL;
    async_create_task(g->loop, t, fn);
    g->futs[g->n] = &t->future;
    l = &g->links[g->n++];
    l->owner = g;
    l->waiter.wake = async__group_child_done;
    async__ring_push(&t->future.waiters, &l->waiter);
    g->running++;
    return 0;
}

async_future *async_task_group_join(async_task_group *g) {
    ASYNC__CHECK_INIT(g->magic == ASYNC__MAGIC, "a task group (async_task_group_init)", &g->future);
    g->joined = 1;
    if (!g->running && g->future.state == ASYNC_PENDING) async__group_settle(g);
    return &g->future;
}

/* ---- deadline ---- */
static void async__deadline_task_done(async_waiter *l, async_future *task);

/* Whether no deadline of the task was started after d and still runs: then
   d's expiry is the task's own timeout, else it passes through the inner
   scopes as a plain cancellation. The task's ring holds what awaits it and
   its deadlines, oldest first: a few entries. */
static int async__deadline_innermost(async_deadline *d) {
    async_waiter *oldest = *async__next(d->task->future.waiters), *w;
    for (w = d->task_waiter.next; w != oldest; w = *async__next(w))
        if (!async__is_task(w) && w->wake == async__deadline_task_done) return 0;
    return 1;
}

static void async__deadline_request(async_deadline *d) {
    uint16_t flags = d->task->future.flags;
    d->expired = 1;
    /* An explicit cancel the task has not seen yet came first: that is what it reports. */
    d->cancel_first = (flags & ASYNC__CANCEL_REQ) && !(flags & ASYNC__BY_TIMEOUT);
    async__task_request_cancel(d->task, async__deadline_innermost(d));
}

/* Expired while the task itself runs (a timeout <= 0, a reschedule into
   the past): the cancel is asked at its next await or yield, as asyncio's
   Timeout calls its _on_timeout soon, not at once; a stop before that
   takes back that and nothing else. Otherwise now. */
static void async__deadline_expire(async_deadline *d) {
    async_task *t = d->task;
    if (!(t->future.flags & (ASYNC__WAITING | ASYNC__SCHEDULED | ASYNC__CLOSING))) {
        d->due = 1;
        t->future.flags |= ASYNC__DUE;
        return;
    }
    async__deadline_request(d);
}

/* The task awaits or yields: the deadlines that came due while it ran ask now. */
static void async__deadlines_due(async_task *t) {
    async_waiter *ring = t->future.waiters, *w;
    t->future.flags &= (uint16_t)~ASYNC__DUE;
    if (!ring) return;
    w = ring;
    do {
        async_deadline *d;
        w = *async__next(w);
        if (async__is_task(w) || w->wake != async__deadline_task_done) continue;
        d = ASYNC__CONTAINER(w, async_deadline, task_waiter);
        if (d->due) {
            d->due = 0;
            async__deadline_request(d);
        }
    } while (w != ring);
}

static void async__deadline_wake(async_waiter *l, async_future *timer) {
    async_deadline *d = ASYNC__CONTAINER(l, async_deadline, timer_waiter);
    if (timer->state != ASYNC_FULFILLED || !d->task) return;
    async__deadline_expire(d);
}

/* The task ended (perhaps cancelled past its own async_deadline_stop):
   its deadline must not outlive it in the loop's timers. */
static void async__deadline_task_done(async_waiter *l, async_future *task) {
    async_deadline *d = ASYNC__CONTAINER(l, async_deadline, task_waiter);
    (void)task;
    d->task = NULL;
    async__timer_release(&d->timer, &d->timer_waiter);
}

/* Whether an expired deadline still covers the task: a cancellation that
   ends it then ends it with ASYNC_ETIMEDOUT (asyncio.timeout's __aexit__). */
static int async__deadline_covers(async_task *t) {
    async_waiter *ring = t->future.waiters, *w;
    if (!ring) return 0;
    w = ring;
    do {
        w = *async__next(w);
        if (!async__is_task(w) && w->wake == async__deadline_task_done &&
            ASYNC__CONTAINER(w, async_deadline, task_waiter)->expired &&
            !ASYNC__CONTAINER(w, async_deadline, task_waiter)->cancel_first)
            return 1;
    } while (w != ring);
    return 0;
}

static void async__deadline_set(async_deadline *d, async_time when) {
    async_loop *loop = d->task->loop;
    d->when = when;
    d->due = 0; /* moved before it asked: the new time decides */
    if (when == ASYNC_NO_TIMEOUT) {
        async__timer_release(&d->timer, &d->timer_waiter);
    } else if (!ASYNC_TIME_BEFORE(async_loop_time(loop), when)) {
        async__timer_release(&d->timer, &d->timer_waiter);
        async__deadline_expire(d);
    } else if (async_timer_armed(&d->timer)) {
        async_timer_start_at(loop, &d->timer, when); /* keeps its waiter */
    } else {
        async_future_add_waiter(async_timer_start_at(loop, &d->timer, when), &d->timer_waiter);
    }
}

void async_deadline_start_at(async_loop *loop, async_deadline *d, async_task *task, async_time when) {
    memset(d, 0, sizeof *d);
    d->magic = ASYNC__MAGIC;
    (void)loop; /* the task's loop */
    d->task = task;
    d->timer_waiter.wake = async__deadline_wake;
    d->task_waiter.wake = async__deadline_task_done;
    d->when = when;
    if (async_done(&task->future)) { /* nothing left to time out */
        d->task = NULL;
        return;
    }
    async__ring_push(&task->future.waiters, &d->task_waiter);
    task->future.flags |= ASYNC__SCOPED;
    async__deadline_set(d, when);
}

void async_deadline_start(async_loop *loop, async_deadline *d, async_task *task, async_time timeout) {
    async_time now = async_loop_time(task->loop), when;
    if (timeout == ASYNC_NO_TIMEOUT) when = ASYNC_NO_TIMEOUT;
    /* A finite timeout gives a real deadline, never "none": a 32-bit clock
       that wraps can land on INT32_MAX, so take the tick before (a timeout
       <= 0 gives now, async__after). */
    else if ((when = async__after(now, timeout)) == ASYNC_NO_TIMEOUT) when = ASYNC_NO_TIMEOUT - 1;
    async_deadline_start_at(loop, d, task, when);
}

int async_deadline_reschedule(async_deadline *d, async_time when) {
    ASYNC__CHECK_INIT(d->magic == ASYNC__MAGIC, "a deadline (async_deadline_start)", ASYNC_EINVAL);
    if (!d->task || d->expired) return ASYNC_EINVAL;
    async__deadline_set(d, when);
    return 0;
}

int async_deadline_stop(async_deadline *d) {
    ASYNC__CHECK_INIT(d->magic == ASYNC__MAGIC || d->magic == 0, "a deadline (async_deadline_start)", 0);
    /* A due one (expired while the task ran, not asked yet) goes with the
       ring: it did not expire (asyncio.timeout(0) around no await). */
    if (d->task) async__ring_remove(&d->task->future.waiters, &d->task_waiter);
    d->task = NULL;
    async__timer_release(&d->timer, &d->timer_waiter);
    return d->expired;
}

/* ---- semaphore, event, queue: wait lists of slots ----
   A wait list is a ring of pending slots linked through their value fields,
   closed by the list's own sentinel future: appending is O(1), and a
   cancelled slot finds its list by walking the ring to the sentinel. */
/* The sentinel's cancel word (never called) marks a list that was set up. */
static void async__waitlist_marker(async_future *f) { (void)f; }
#define ASYNC__CHECK_WAITLIST(wl, what, ret) \
    ASYNC__CHECK_INIT((wl)->ring.cancel == async__waitlist_marker, what, ret)

static void async__waitlist_init(async_waitlist *wl) {
    async_future_init_cancellable(&wl->ring, async__waitlist_marker);
    wl->ring.flags = ASYNC__SENTINEL;
    wl->ring.value = (intptr_t)&wl->ring;
    wl->last = &wl->ring;
}

static void async__waitlist_cancel(async_future *slot) {
    async_future *prev = slot, *next;
    async_waitlist *wl = NULL;
    while ((next = (async_future *)prev->value) != slot) {
        if (next->flags & ASYNC__SENTINEL) wl = ASYNC__CONTAINER(next, async_waitlist, ring);
        prev = next;
    }
    prev->value = slot->value;
    if (wl->last == slot) wl->last = prev;
    async__complete(slot, ASYNC_CANCELLED, ASYNC_ECANCELED);
}

static async_future *async__waitlist_push(async_waitlist *wl, async_future *slot) {
    async_future_init_cancellable(slot, async__waitlist_cancel);
    slot->value = (intptr_t)&wl->ring;
    wl->last->value = (intptr_t)slot;
    wl->last = slot;
    return slot;
}

/* Complete a slot as granted. A grant that can be handed on carries how:
   if its task is cancelled before it used it, async__resume_slow calls it. */
static async_future *async__grant(async_future *slot, void (*hand_on)(async_future *), void *owner) {
    slot->cancel = hand_on;
    if (hand_on) slot->flags |= ASYNC__GRANT;
    async__complete(slot, ASYNC_FULFILLED, (intptr_t)owner);
    return slot;
}

/* Grant the first waiting slot; 0 if nobody waits. */
static int async__waitlist_grant(async_waitlist *wl, void (*hand_on)(async_future *), void *owner) {
    async_future *first = (async_future *)wl->ring.value;
    if (first == &wl->ring) return 0;
    wl->ring.value = first->value;
    if (wl->last == first) wl->last = &wl->ring;
    async__grant(first, hand_on, owner);
    return 1;
}

static void async__semaphore_hand_on(async_future *slot) {
    async_semaphore_release((async_semaphore *)slot->value);
}

int async_semaphore_init(async_semaphore *s, intptr_t value) {
    async__waitlist_init(&s->waiters);
    s->value = value < 0 ? 0 : value;
    return value < 0 ? ASYNC_EINVAL : 0;
}

int async_semaphore_try_acquire(async_semaphore *s) {
    ASYNC__CHECK_WAITLIST(&s->waiters, "a semaphore (async_semaphore_init)", 0);
    if (s->value <= 0) return 0;
    s->value--;
    return 1;
}

async_future *async_semaphore_acquire(async_semaphore *s, async_future *slot) {
    /* A unit is only free when nobody waits: release hands units to waiters. */
    async_future_init(slot);
    if (async_semaphore_try_acquire(s)) return async__grant(slot, async__semaphore_hand_on, s);
    return async__waitlist_push(&s->waiters, slot);
}

void async_semaphore_release(async_semaphore *s) {
    ASYNC__CHECK_WAITLIST(&s->waiters, "a semaphore (async_semaphore_init)", );
    if (!async__waitlist_grant(&s->waiters, async__semaphore_hand_on, s)) s->value++;
}

/* A trigger's wake-up, from the loop or handed on by a waiter cancelled
   before it ran: to the first waiter, else kept, one at most (a binary
   semaphore, so a plain release would not do). */
static void async__trigger_hand_on(async_future *slot) { async__trigger_give((async_semaphore *)slot->value); }

static void async__trigger_give(async_semaphore *s) {
    if (!async__waitlist_grant(&s->waiters, async__trigger_hand_on, s)) s->value = 1;
}

async_future *async_trigger_wait(async_trigger *tr, async_future *slot) {
    async_future_init(slot);
    if (async_semaphore_try_acquire(&tr->sem)) return async__grant(slot, async__trigger_hand_on, &tr->sem);
    return async__waitlist_push(&tr->sem.waiters, slot);
}

void async_event_init(async_event *e) {
    async__waitlist_init(&e->waiters);
    e->is_set = 0;
}

void async_event_set(async_event *e) {
    ASYNC__CHECK_WAITLIST(&e->waiters, "an event (async_event_init)", );
    e->is_set = 1;
    while (async__waitlist_grant(&e->waiters, NULL, e)) {
    }
}

void async_event_clear(async_event *e) { e->is_set = 0; }

async_future *async_event_wait(async_event *e, async_future *slot) {
    ASYNC__CHECK_WAITLIST(&e->waiters, "an event (async_event_init)", slot);
    async_future_init(slot);
    if (e->is_set) return async__grant(slot, NULL, e);
    return async__waitlist_push(&e->waiters, slot);
}

/* A queue's grant says "an item (or room) may be there"; a cancelled
   grantee passes it to the next waiter while that still holds. */
static void async__queue_getter_hand_on(async_future *slot);
static void async__queue_putter_hand_on(async_future *slot);

static void async__queue_wake_getter(async_queue *q) {
    if (q->count) async__waitlist_grant(&q->getters, async__queue_getter_hand_on, q);
}

static void async__queue_wake_putter(async_queue *q) {
    if (q->count < q->capacity) async__waitlist_grant(&q->putters, async__queue_putter_hand_on, q);
}

static void async__queue_getter_hand_on(async_future *slot) { async__queue_wake_getter((async_queue *)slot->value); }
static void async__queue_putter_hand_on(async_future *slot) { async__queue_wake_putter((async_queue *)slot->value); }

void async_queue_init(async_queue *q, intptr_t *slots, size_t capacity) {
    async__waitlist_init(&q->getters);
    async__waitlist_init(&q->putters);
    async__waitlist_init(&q->joiners);
    q->slots = slots;
    q->capacity = capacity;
    q->head = q->count = q->unfinished = 0;
}

int async_queue_put_nowait(async_queue *q, intptr_t item) {
    ASYNC__CHECK_WAITLIST(&q->getters, "a queue (async_queue_init)", ASYNC_EINVAL);
    if (q->count == q->capacity) return ASYNC_EFULL;
    q->slots[(q->head + q->count) % q->capacity] = item;
    q->count++;
    q->unfinished++;
    async__queue_wake_getter(q);
    return 0;
}

int async_queue_get_nowait(async_queue *q, intptr_t *item) {
    ASYNC__CHECK_WAITLIST(&q->getters, "a queue (async_queue_init)", ASYNC_EINVAL);
    if (q->count == 0) return ASYNC_EEMPTY;
    *item = q->slots[q->head];
    q->head = (q->head + 1) % q->capacity;
    q->count--;
    async__queue_wake_putter(q);
    return 0;
}

async_future *async_queue_wait_item(async_queue *q, async_future *slot) {
    ASYNC__CHECK_WAITLIST(&q->getters, "a queue (async_queue_init)", slot);
    async_future_init(slot);
    if (q->count) return async__grant(slot, NULL, q);
    return async__waitlist_push(&q->getters, slot);
}

async_future *async_queue_wait_room(async_queue *q, async_future *slot) {
    ASYNC__CHECK_WAITLIST(&q->putters, "a queue (async_queue_init)", slot);
    async_future_init(slot);
    if (q->count < q->capacity) return async__grant(slot, NULL, q);
    return async__waitlist_push(&q->putters, slot);
}

int async_queue_task_done(async_queue *q) {
    ASYNC__CHECK_WAITLIST(&q->joiners, "a queue (async_queue_init)", ASYNC_EINVAL);
    if (q->unfinished == 0) return ASYNC_EINVAL;
    if (--q->unfinished == 0) /* like an event's set: every joiner, and no unit to hand on */
        while (async__waitlist_grant(&q->joiners, NULL, q)) {
        }
    return 0;
}

async_future *async_queue_join(async_queue *q, async_future *slot) {
    ASYNC__CHECK_WAITLIST(&q->joiners, "a queue (async_queue_init)", slot);
    async_future_init(slot);
    if (q->unfinished == 0) return async__grant(slot, NULL, q);
    return async__waitlist_push(&q->joiners, slot);
}

#endif /* ASYNC__IMPLEMENTED */
#endif /* ASYNC_IMPLEMENTATION */

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
