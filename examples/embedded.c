/* embedded.c - async.h on a microcontroller: a Cortex-M4 with no OS and no
 * heap (QEMU's mps2-an386; `make embedded` builds it, `make test` runs it).
 *
 * - The clock is a 32-bit millisecond counter that the SysTick interrupt
 *   advances: ASYNC_TIME32, so the loop keeps every timer on time when the
 *   counter wraps (after 49.7 days; START_MS starts it 1 s before).
 * - Three workers share a semaphore of one unit and are gathered.
 * - An interrupt (the board's timer 0) wakes a task through a trigger.
 * - When nothing is ready the loop calls board_idle: check, then WFI, with
 *   interrupts masked in between so that no wake-up is lost.
 * - Output goes to the host by semihosting; a failed check is a breakpoint. */
#define ASYNC_TIME32 /* async_time: ticks of the millisecond counter */
#define ASYNC_TICK_HZ 1000
#define ASYNC_NO_POSIX_CLOCK
/* assert.h would pull in newlib's stdio and abort(): a breakpoint instead
   stops under a debugger (and faults without one). */
static inline void board_breakpoint(void) { __asm__ volatile("bkpt #0"); }
#define ASYNC_ASSERT(c) ((c) ? (void)0 : board_breakpoint())
#define ASYNC_IMPLEMENTATION
#include "../async.h"
#include "mps2/startup.h"

#ifndef START_MS
#define START_MS 0u
#endif

/* ---- the board ---- */
#define REG(addr) (*(volatile uint32_t *)(addr))
#define SYST_CSR REG(0xE000E010) /* SysTick: control, reload */
#define SYST_RVR REG(0xE000E014)
#define NVIC_ISER0 REG(0xE000E100)  /* interrupt set-enable */
#define TIMER0_CTRL REG(0x40000000) /* CMSDK APB timer 0, interrupt 8 */
#define TIMER0_RELOAD REG(0x40000008)
#define TIMER0_INTCLEAR REG(0x4000000C)
#define CPU_HZ 25000000u

static volatile uint32_t ticks = START_MS; /* the millisecond counter: wraps */
static async_loop loop;
static async_trigger button; /* "a button": timer 0's interrupt */
static unsigned timer0_count;

void SysTick_Handler(void) { ticks++; }

void TIMER0_Handler(void) {
    TIMER0_INTCLEAR = 1;
    if (++timer0_count <= 3) async_trigger_fire(&button); /* the one call an ISR may make */
    else TIMER0_CTRL = 0;
}

static async_time board_clock(void *user) {
    (void)user;
    return (async_time)ticks;
}

/* The check-then-idle pattern: with interrupts masked, an interrupt that
   comes after the check stays pending, and WFI returns at once for it. */
static void board_idle(void *user, async_time timeout) {
    (void)user, (void)timeout; /* SysTick wakes the core every millisecond anyway */
    __asm__ volatile("cpsid i" ::: "memory");
    if (!async_loop_signalled(&loop)) __asm__ volatile("wfi" ::: "memory");
    __asm__ volatile("cpsie i" ::: "memory");
}

/* ---- printing, without a libc ---- */
static void put_uint(char **p, uint32_t v) {
    char buf[11], *q = buf + sizeof buf;
    do *--q = (char)('0' + v % 10); while ((v /= 10) != 0);
    while (q < buf + sizeof buf) *(*p)++ = *q++;
}

/* "<ms since start> <what> <n>\n" */
static void say(const char *what, uint32_t n) {
    char line[64], *p = line;
    put_uint(&p, (uint32_t)ASYNC_TIME_DIFF(async_now(&loop), (async_time)START_MS));
    *p++ = ' ';
    while (*what) *p++ = *what++;
    *p++ = ' ';
    put_uint(&p, n);
    *p++ = '\n';
    *p = '\0';
    board_puts(line);
}

/* ---- the tasks ---- */
static async_semaphore sem; /* one unit: a resource one worker at a time */
static int holders, most_holders;

typedef struct worker {
    async_task task;
    async_timer timer;
    async_future slot;
    uint32_t id, round;
    async_time start, hold;
} worker;

static int worker_run(async_task *t) {
    worker *w = (worker *)t;
    ASYNC_BEGIN(t);
    ASYNC_AWAIT(t, async_sleep(t->loop, &w->timer, w->start));
    for (w->round = 0; w->round < 2; w->round++) {
        ASYNC_AWAIT(t, async_semaphore_acquire(&sem, &w->slot));
        if (++holders > most_holders) most_holders = holders;
        say("hold", w->id);
        ASYNC_AWAIT(t, async_sleep(t->loop, &w->timer, w->hold));
        say("free", w->id);
        holders--;
        async_semaphore_release(&sem);
    }
    ASYNC_RETURN(t, w->id * 10);
    ASYNC_END(t);
}

typedef struct presser {
    async_task task;
    async_future slot;
    uint32_t presses;
} presser;

static int presser_run(async_task *t) {
    presser *p = (presser *)t;
    ASYNC_BEGIN(t);
    for (p->presses = 1; p->presses <= 3; p->presses++) {
        ASYNC_AWAIT(t, async_trigger_wait(&button, &p->slot));
        say("irq", p->presses);
    }
    ASYNC_END(t);
}

typedef struct main_task {
    async_task task;
    worker w[3];
    presser irq;
    async_future *futs[4];
    async_link links[4];
    async_gather_op g;
} main_task;

static int main_run(async_task *t) {
    main_task *m = (main_task *)t;
    uint32_t i;
    ASYNC_BEGIN(t);
    for (i = 0; i < 3; i++) {
        m->w[i].id = i + 1;
        m->w[i].start = ASYNC_MS(100 * i);
        m->w[i].hold = ASYNC_MS(200);
        m->futs[i] = async_create_task(t->loop, &m->w[i].task, worker_run);
    }
    m->futs[3] = async_create_task(t->loop, &m->irq.task, presser_run);
    ASYNC_AWAIT(t, async_gather(&m->g, m->futs, m->links, 4, 0));
    ASYNC_RETURN(t, async_error(&m->g.future));
    ASYNC_END(t);
}

static main_task m;

int main(void) {
    async_loop_config cfg = {0};
    int err;
    cfg.clock = board_clock;
    cfg.idle = board_idle;
    async_loop_init(&loop, &cfg);
    async_semaphore_init(&sem, 1);
    async_trigger_init(&loop, &button);
    say("start", START_MS);
    SYST_RVR = CPU_HZ / 1000 - 1; /* a tick a millisecond */
    SYST_CSR = 7;                 /* processor clock, interrupt, on */
    TIMER0_RELOAD = CPU_HZ / 8 - 1; /* interrupts a few times a second */
    TIMER0_CTRL = 1 | 8;            /* on, interrupt */
    NVIC_ISER0 = 1u << 8;
    async_create_task(&loop, &m.task, main_run);
    err = async_main(&loop, &m.task.future);
    say("most holders", (uint32_t)most_holders);
    say("results", (uint32_t)(async_result(&m.w[0].task.future) + async_result(&m.w[1].task.future) +
                              async_result(&m.w[2].task.future)));
    say("exit", (uint32_t)(err != 0 || async_result(&m.task.future) != 0));
    return err != 0 || most_holders != 1;
}
