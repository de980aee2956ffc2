/* embedded_small.c - the core a small program uses (the loop, tasks,
 * sleeps and a gather) on a Cortex-M4: `make embedded` links it to measure
 * async.h's share of a real image. Three LEDs blink at their own periods
 * for five seconds, on a SysTick millisecond clock. */
#define ASYNC_TIME32
#define ASYNC_NO_POSIX_CLOCK
static inline void board_breakpoint(void) { __asm__ volatile("bkpt #0"); }
#define ASYNC_ASSERT(c) ((c) ? (void)0 : board_breakpoint())
#define ASYNC_IMPLEMENTATION
#include "../async.h"

static volatile uint32_t ticks, leds;
void SysTick_Handler(void) { ticks++; }
static async_time board_clock(void *user) {
    (void)user;
    return (async_time)ticks;
}

typedef struct blinker {
    async_task task;
    async_timer timer;
    uint32_t mask, n;
    async_time period;
} blinker;

static int blink(async_task *t) {
    blinker *b = (blinker *)t;
    ASYNC_BEGIN(t);
    for (b->n = 0; b->n < 5000 / (uint32_t)b->period; b->n++) {
        leds ^= b->mask;
        ASYNC_AWAIT(t, async_sleep(t->loop, &b->timer, b->period));
    }
    ASYNC_END(t);
}

static async_loop loop;
static blinker led[3];
static async_future *futs[3];
static async_link links[3];
static async_gather_op g;

int main(void) {
    async_loop_config cfg = {0};
    int i;
    cfg.clock = board_clock; /* no idle hook: the library's WFI on a Cortex-M */
    async_loop_init(&loop, &cfg);
    *(volatile uint32_t *)0xE000E014 = 25000 - 1; /* SysTick: 1 ms at 25 MHz */
    *(volatile uint32_t *)0xE000E010 = 7;
    for (i = 0; i < 3; i++) {
        led[i].mask = 1u << i;
        led[i].period = ASYNC_MS(300 + 200 * i);
        futs[i] = async_create_task(&loop, &led[i].task, blink);
    }
    return async_run(&loop, async_gather(&g, futs, links, 3, 0));
}
