/* startup.c - the least a Cortex-M needs before main on QEMU's mps2-an386:
   a vector table, a reset handler that lays out .data and .bss, and
   semihosting (the debugger's console, which QEMU provides) for output
   and the exit status. Written for this project; no vendor code. */
#include <stdint.h>
#include "startup.h"

extern uint32_t data_start, data_end, data_load, bss_start, bss_end, stack_top;
int main(void);

/* A program defines the handlers it uses; the others fault. */
static void fault_handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("fault_handler")));
void TIMER0_Handler(void) __attribute__((weak, alias("fault_handler")));

/* A semihosting call: BKPT 0xAB with the operation in r0 and its argument in r1. */
static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void board_puts(const char *s) { semihost(0x04, s); /* SYS_WRITE0 */ }

void board_exit(int status) {
    /* SYS_EXIT: "application exit" is status 0 for QEMU, anything else 1 */
    semihost(0x18, (const void *)(uintptr_t)(status == 0 ? 0x20026 : 0x20023));
    for (;;) {
    }
}

static void fault_handler(void) {
    board_puts("fault: hard fault (a failed assertion's breakpoint, or a crash)\n");
    board_exit(1);
}

void reset_handler(void) {
    uint32_t *src = &data_load, *dst;
    for (dst = &data_start; dst < &data_end;) *dst++ = *src++;
    for (dst = &bss_start; dst < &bss_end;) *dst++ = 0;
    board_exit(main());
}

/* The table the core reads at address 0: the stack, then the handlers,
   the core's own exceptions first, then the board's interrupts (the CMSDK
   timer 0 is interrupt 8 on the MPS2). */
__attribute__((section(".vectors"), used)) static const struct {
    uint32_t *stack;
    void (*handler[15 + 9])(void);
} vectors = {&stack_top,
             {reset_handler, fault_handler, fault_handler, fault_handler, fault_handler, fault_handler, 0, 0, 0, 0,
              fault_handler, fault_handler, 0, fault_handler, SysTick_Handler, 0, 0, 0, 0, 0, 0, 0, 0,
              TIMER0_Handler}};
