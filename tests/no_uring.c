/* no_uring - run a command where io_uring is refused, as in a Docker container with the
 * default seccomp profile:
 *
 *     build/no_uring build/fetch http://127.0.0.1:8080/
 *
 * `make demo DEMO_WRAP=build/no_uring` runs every example this way: the library falls back
 * to epoll on its own. */
#define _GNU_SOURCE
#include "seccomp.h"
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: no_uring COMMAND [ARG]...\n");
        return 2;
    }
    if (deny_io_uring() != 0) {
        perror("no_uring: seccomp");
        return 2;
    }
    execvp(argv[1], argv + 1);
    perror("no_uring: exec");
    return 127;
}
