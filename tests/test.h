/* test.h - the tests' tiny harness.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_EQ(a, b); }
 *   int main(void) { RUN(name); return test_summary("suite"); }
 *
 * A test passes when none of its checks failed. test_summary() prints
 * "RESULT <suite> <passed> <failed>" for tests/run.sh to add up, and returns
 * the exit status. */
#ifndef TEST_H
#define TEST_H
#include <stdio.h>
#include <string.h>
#include <stdint.h>

static int test__passed, test__failed, test__checks_failed;

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

#define RUN(name)                                                                      \
    do {                                                                               \
        int test__before = test__checks_failed;                                        \
        name();                                                                        \
        if (test__checks_failed == test__before) test__passed++;                       \
        else { test__failed++; fprintf(stderr, "FAIL %s\n", #name); }                  \
    } while (0)

static int test_summary(const char *suite) {
    printf("RESULT %s %d %d\n", suite, test__passed, test__failed);
    return test__failed ? 1 : 0;
}
#endif
