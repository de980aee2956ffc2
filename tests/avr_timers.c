/* avr_timers.c - async.h where int is 16 bits: an ATmega2560 under simavr (tests/check_avr.sh).
 * 24 tasks sleep for pseudo-random delays on a virtual clock (with 64-bit time up to 2^43 ns,
 * so that timers move down through every level of the wheel; with ASYNC_TIME32 up to 100,000
 * ticks) and are gathered; each must wake exactly when it asked. One line on the UART says
 * how it went; the CPU then sleeps with interrupts off, which ends simavr. */
#define ASYNC_NO_POSIX_CLOCK
#define ASYNC_IMPLEMENTATION
#include "async.h"
#include <avr/io.h>
#include <avr/interrupt.h>
#include <avr/sleep.h>
#include <stdio.h>

static int uart_put(char c, FILE *f) {
    (void)f;
    while (!(UCSR0A & (1 << UDRE0))) {
    }
    UDR0 = (uint8_t)c;
    return 0;
}
static FILE uart = FDEV_SETUP_STREAM(uart_put, NULL, _FDEV_SETUP_WRITE);

#define N 24
typedef struct sleeper {
    async_task task;
    async_timer nap;
    async_time delay, woke;
} sleeper;
static sleeper s[N];
static async_future *futs[N];
static async_link links[N];
static async_gather_op gather;
static unsigned wrong;

static int sleeper_run(async_task *t) {
    sleeper *z = (sleeper *)t;
    async_time start;
    ASYNC_BEGIN(t);
    z->woke = async_now(t->loop); /* the start, for now */
    ASYNC_AWAIT(t, async_sleep(t->loop, &z->nap, z->delay));
    start = z->woke;
    z->woke = async_now(t->loop);
    if (ASYNC_TIME_DIFF(z->woke, start) != z->delay) wrong++;
    ASYNC_END(t);
}

int main(void) {
    async_loop loop;
    async_loop_config cfg = {0};
    uint32_t x = 2463534242u;
    int i, rc;
    stdout = &uart;
    UCSR0B = (1 << TXEN0);
    cfg.virtual_time = 1;
    async_loop_init(&loop, &cfg);
    for (i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift32 */
#ifdef ASYNC_TIME32
        s[i].delay = (async_time)(1 + x % 100000u);
#else
        s[i].delay = (async_time)1 + ((async_time)x << (i % 12)); /* up to 2^43 ns: every level */
#endif
        futs[i] = async_create_task(&loop, &s[i].task, sleeper_run);
    }
    rc = async_run(&loop, async_gather(&gather, futs, links, N, 0));
    printf("sizeof(int) %u, time %u bytes: gather %d, %u of %u late or early\n", (unsigned)sizeof(int),
           (unsigned)sizeof(async_time), rc, wrong, (unsigned)N);
    cli();
    sleep_cpu(); /* simavr ends here */
    return 0;
}
