/* embedded.c - async.h on a microcontroller (Cortex-M4, no OS, no heap).
 *
 * Two blinking tasks and a button task share one loop. There is no POSIX
 * clock: the loop reads a millisecond counter that a SysTick interrupt
 * advances, and when every task waits it idles in a board hook (WFI).
 * `make embedded` compiles this with arm-none-eabi-gcc -ffreestanding and
 * prints the code size. */
#define ASYNC_NO_POSIX_CLOCK
#define ASYNC_ASSERT(c) ((void)0)
#define ASYNC_IMPLEMENTATION
#include "../async.h"

/* The board: a tick counter and an LED register (memory-mapped on real hardware). */
static volatile uint32_t systick_ms;
static volatile uint32_t led_register;
void SysTick_Handler(void) { systick_ms++; }

static async_time board_clock(void *user) {
    (void)user;
    return ASYNC_MS(systick_ms);
}

/* With no I/O the loop's backend hook is where the core sleeps until the
   next interrupt (the tick, at worst): the timers are checked each wake-up. */
static int board_idle(void *user, async_time timeout) {
    (void)user;
    (void)timeout;
#if defined(__arm__)
    __asm__ volatile("wfi");
#endif
    return 0;
}

typedef struct blinker {
    async_task task;
    async_timer timer;
    uint32_t mask;
    async_time period;
} blinker;

static int blink(async_task *t) {
    blinker *b = (blinker *)t;
    ASYNC_BEGIN(t);
    for (;;) {
        led_register ^= b->mask;
        ASYNC_AWAIT(t, async_sleep(t->loop, &b->timer, b->period));
    }
    ASYNC_END(t);
}

static async_loop loop;
static blinker red, green;

int main(void) {
    async_loop_config cfg = {board_clock, NULL, 0};
    async_loop_init(&loop, &cfg);
    async_loop_set_backend(&loop, board_idle, NULL);
    red.mask = 1, red.period = ASYNC_MS(500);
    green.mask = 2, green.period = ASYNC_MS(300);
    async_create_task(&loop, &red.task, blink);
    async_create_task(&loop, &green.task, blink);
    return async_run(&loop, &red.task.future); /* blinks forever */
}
