/* test.h - the tests' tiny harness.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_EQ(a, b); }
 *   int main(void) { RUN(name); return test_summary("suite"); }
 *
 * A test passes when none of its checks failed. test_summary() prints
 * "RESULT <suite> <passed> <failed>" for tests/run.sh to add up, and returns
 * the exit status.
 *
 * The watchdog. RUN arms an alarm of TEST_LIMIT seconds (default 10: every test
 * today takes under one) for the test it runs, and disarms it after. If it goes off,
 * the test hung: "FAIL <name>: still running after N s (watchdog)" goes to stderr, the
 * RESULT line to stdout with that test counted failed, and the process exits 1 at once
 * (so a hang costs its limit, not a stalled `make test`). RUN_LIMIT(name, seconds) gives
 * one test a limit of its own; TEST_LIMIT_SCALE=k in the environment multiplies every
 * limit (valgrind, a slow machine), and 0 switches the watchdog off (a debugger).
 * test_fatal(why) ends the run the same way at once: a test file can make the library's
 * ASYNC_ASSERT report through it, as the failure of the test that tripped it.
 * What runs outside RUN (main's own setup) has no watchdog.
 *
 * RUN_KNOWN_BUG(name, what) runs a test written for a bug not fixed yet: its failure is
 * a NOTE line (counted neither passed nor failed); once it passes it fails as
 * "fixed: make it a plain RUN", so that the mark goes with the fix. */
#ifndef TEST_H
#define TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#if defined(__unix__) || defined(__APPLE__)
#include <signal.h>
#include <unistd.h>
#define TEST__WATCHDOG 1
#else
#define TEST__WATCHDOG 0
#endif

#ifndef TEST_LIMIT
#define TEST_LIMIT 10 /* seconds */
#endif

static int test__passed, test__failed, test__checks_failed;
static const char *test__name = "(no test)"; /* the test running now */
static const char *test__file = "";          /* its file: the suite's name, for test_fatal */

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            test__checks_failed++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                              \
    } while (0)

#define CHECK_EQ(a, b)                                                                 \
    do {                                                                               \
        long long test__a = (long long)(a), test__b = (long long)(b);                  \
        if (test__a != test__b) {                                                      \
            test__checks_failed++;                                                     \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld != %lld)\n",       \
                    __FILE__, __LINE__, #a, #b, test__a, test__b);                     \
        }                                                                              \
    } while (0)

#define CHECK_STR(a, b)                                                                \
    do {                                                                               \
        const char *test__a = (a), *test__b = (b);                                     \
        if (!test__a || !test__b || strcmp(test__a, test__b) != 0) {                   \
            test__checks_failed++;                                                     \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == %s (\"%s\" != \"%s\")\n",  \
                    __FILE__, __LINE__, #a, #b, test__a ? test__a : "(null)",          \
                    test__b ? test__b : "(null)");                                     \
        }                                                                              \
    } while (0)

/* ---- the watchdog: only async-signal-safe calls from here to test__fatal's end ---- */

static void test__put(int fd, const char *s) {
#if TEST__WATCHDOG
    size_t len = strlen(s);
    while (len) {
        ssize_t n = write(fd, s, len);
        if (n <= 0) return;
        s += n;
        len -= (size_t)n;
    }
#else
    fputs(s, fd == 1 ? stdout : stderr);
#endif
}

static void test__put_uint(int fd, unsigned long v) {
    char buf[24], *p = buf + sizeof buf - 1;
    *p = '\0';
    do *--p = (char)('0' + v % 10); while ((v /= 10) != 0);
    test__put(fd, p);
}

/* The suite's name from the test file's: tests/test_http.c -> http. */
static void test__put_suite(int fd) {
#ifdef TEST_SUITE
    (void)test__file;
    test__put(fd, TEST_SUITE);
#else
    const char *f = test__file, *s;
    char name[64];
    size_t n;
    for (s = f; *s; s++)
        if (*s == '/') f = s + 1;
    if (strncmp(f, "test_", 5) == 0) f += 5;
    n = strcspn(f, ".");
    if (n >= sizeof name) n = sizeof name - 1;
    memcpy(name, f, n);
    name[n] = '\0';
    test__put(fd, n ? name : "tests");
#endif
}

/* Ends the run now, after "FAIL <test>: <why>": the RESULT line counts the running test
   failed. */
static void test__die(void) {
    test__put(2, "\n");
    test__put(1, "RESULT ");
    test__put_suite(1);
    test__put(1, " ");
    test__put_uint(1, (unsigned long)test__passed);
    test__put(1, " ");
    test__put_uint(1, (unsigned long)test__failed + 1);
    test__put(1, "\n");
#if TEST__WATCHDOG
    _exit(1);
#else
    exit(1);
#endif
}

/* A macro, not a function: no unused-function warning in a file that does not use it. */
#define test_fatal(why)                                                                \
    (test__put(2, "FAIL "), test__put(2, test__name), test__put(2, ": "), test__put(2, why), \
     test__die())

#if TEST__WATCHDOG
#include <sys/wait.h>
#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused)) /* a file that does not use it says nothing */
#endif
/* Run fn in a child process: it must abort, having said `expect` on stderr
   (or, with sanitizer_report, end as a sanitizer ends it: a nonzero exit). */
static int test__dies(void (*fn)(void), const char *expect, int sanitizer_report) {
    int fds[2], status = 0;
    char buf[2048], drain[512];
    size_t got = 0;
    ssize_t n;
    pid_t pid;
    fflush(stdout);
    fflush(stderr);
    if (pipe(fds) != 0) return 0;
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        alarm(10);
        fn();
        _exit(0); /* it did not abort */
    }
    close(fds[1]);
    while (got < sizeof buf - 1 && (n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)n;
    while (read(fds[0], drain, sizeof drain) > 0) { /* the rest (a sanitizer's report), or it dies of SIGPIPE */
    }
    buf[got] = 0;
    close(fds[0]);
    waitpid(pid, &status, 0);
    if (((WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) ||
         (sanitizer_report && WIFEXITED(status) && WEXITSTATUS(status) != 0)) &&
        strstr(buf, expect))
        return 1;
    fprintf(stderr, "  the child (status %d) said: %s\n", status, buf);
    return 0;
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused))
#endif
static int dies_saying(void (*fn)(void), const char *expect) { return test__dies(fn, expect, 0); }

static unsigned test__limit_now; /* the running test's limit, in seconds */

static void test__on_alarm(int sig) {
    (void)sig;
    test__put(2, "FAIL ");
    test__put(2, test__name);
    test__put(2, ": still running after ");
    test__put_uint(2, test__limit_now);
    test__put(2, " s (watchdog; RUN_LIMIT(name, seconds) gives a test longer)");
    test__die();
}

/* The limit times TEST_LIMIT_SCALE (0: no watchdog). */
static unsigned test__scaled(unsigned seconds) {
    const char *scale = getenv("TEST_LIMIT_SCALE");
    return scale && *scale ? seconds * (unsigned)atoi(scale) : seconds;
}
#endif

static void test__begin(const char *name, const char *file, unsigned seconds) {
    fflush(stdout); /* what the tests before printed is out, whatever happens next */
    test__name = name;
    test__file = file;
#if TEST__WATCHDOG
    test__limit_now = test__scaled(seconds);
    signal(SIGALRM, test__on_alarm);
    alarm(test__limit_now);
#else
    (void)seconds;
#endif
}

static void test__end(void) {
#if TEST__WATCHDOG
    alarm(0);
#endif
    fflush(stdout);
}

#define RUN_LIMIT(name, seconds)                                                       \
    do {                                                                               \
        int test__before = test__checks_failed;                                        \
        test__begin(#name, __FILE__, (seconds));                                       \
        name();                                                                        \
        test__end();                                                                   \
        if (test__checks_failed == test__before) test__passed++;                       \
        else { test__failed++; fprintf(stderr, "FAIL %s\n", #name); }                  \
    } while (0)

#define RUN(name) RUN_LIMIT(name, TEST_LIMIT)

#define RUN_KNOWN_BUG(name, what)                                                      \
    do {                                                                               \
        int test__before = test__checks_failed;                                        \
        test__begin(#name, __FILE__, TEST_LIMIT);                                      \
        name();                                                                        \
        test__end();                                                                   \
        if (test__checks_failed != test__before) {                                     \
            test__checks_failed = test__before;                                        \
            printf("NOTE known bug, its test %s fails as expected: %s\n", #name, what);\
        } else {                                                                       \
            test__failed++;                                                            \
            fprintf(stderr, "FAIL %s: passes now, the bug is fixed (%s): make it a "   \
                    "plain RUN\n", #name, what);                                       \
        }                                                                              \
    } while (0)

static int test_summary(const char *suite) {
    printf("RESULT %s %d %d\n", suite, test__passed, test__failed);
    return test__failed ? 1 : 0;
}
#endif
