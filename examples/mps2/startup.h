/* startup.h - what startup.c gives the examples on mps2-an386. */
#ifndef MPS2_STARTUP_H
#define MPS2_STARTUP_H
void board_puts(const char *s); /* to QEMU's stdout, by semihosting */
void board_exit(int status);    /* ends QEMU with this status (0 or 1) */
#endif
