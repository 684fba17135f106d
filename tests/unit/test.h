/*
 * A small unit-test harness. Each test file defines tests with TEST(name) and ends with
 * TEST_MAIN(). The binary runs every test, or only those named on the command line, and
 * prints one TAP-style line per test ("ok - file/name" or "not ok - file/name: why") that
 * tests/run.sh counts.
 */
#ifndef HF_TEST_H
#define HF_TEST_H

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

typedef void (*hf_test_fn)(void);
struct hf_test { const char *name; hf_test_fn fn; };

extern struct hf_test hf_tests[];
extern int hf_tests_n;
extern int hf_test_failed;
extern char hf_test_why[2048];

#define TEST(tname)                                                                     \
    static void test_##tname(void);                                                     \
    __attribute__((constructor)) static void reg_##tname(void)                          \
    {                                                                                   \
        hf_tests[hf_tests_n].name = #tname;                                             \
        hf_tests[hf_tests_n++].fn = test_##tname;                                       \
    }                                                                                   \
    static void test_##tname(void)

/* Fail the current test with a message and return from it. */
#define CHECK(expr)                                                                     \
    do {                                                                                \
        if (!(expr)) {                                                                  \
            snprintf(hf_test_why, sizeof(hf_test_why), "%s:%d: CHECK(%s)", __FILE__,    \
                     __LINE__, #expr);                                                  \
            hf_test_failed = 1;                                                         \
            return;                                                                     \
        }                                                                               \
    } while (0)

#define CHECK_STR(got, want)                                                            \
    do {                                                                                \
        const char *g_ = (got), *w_ = (want);                                           \
        if (!g_ || !w_ || strcmp(g_, w_) != 0) {                                        \
            snprintf(hf_test_why, sizeof(hf_test_why), "%s:%d: got \"%s\", want \"%s\"", \
                     __FILE__, __LINE__, g_ ? g_ : "(null)", w_ ? w_ : "(null)");       \
            hf_test_failed = 1;                                                         \
            return;                                                                     \
        }                                                                               \
    } while (0)

#define CHECK_INT(got, want)                                                            \
    do {                                                                                \
        long long g_ = (long long)(got), w_ = (long long)(want);                        \
        if (g_ != w_) {                                                                 \
            snprintf(hf_test_why, sizeof(hf_test_why), "%s:%d: %s = %lld, want %lld",   \
                     __FILE__, __LINE__, #got, g_, w_);                                 \
            hf_test_failed = 1;                                                         \
            return;                                                                     \
        }                                                                               \
    } while (0)

/* Substring check, for error messages. */
#define CHECK_HAS(hay, needle)                                                          \
    do {                                                                                \
        const char *h_ = (hay), *n_ = (needle);                                         \
        if (!h_ || !strstr(h_, n_)) {                                                   \
            snprintf(hf_test_why, sizeof(hf_test_why), "%s:%d: \"%s\" lacks \"%s\"",    \
                     __FILE__, __LINE__, h_ ? h_ : "(null)", n_);                       \
            hf_test_failed = 1;                                                         \
            return;                                                                     \
        }                                                                               \
    } while (0)

#define TEST_MAIN()                                                                     \
    struct hf_test hf_tests[256];                                                       \
    int hf_tests_n;                                                                     \
    int hf_test_failed;                                                                 \
    char hf_test_why[2048];                                                              \
    int main(int argc, char **argv)                                                     \
    {                                                                                   \
        const char *file = strrchr(__FILE__, '/') ? strrchr(__FILE__, '/') + 1 : __FILE__; \
        int failures = 0;                                                               \
        for (int i = 0; i < hf_tests_n; i++) {                                          \
            int wanted = argc < 2;                                                      \
            for (int a = 1; a < argc; a++)                                              \
                if (strcmp(argv[a], hf_tests[i].name) == 0)                             \
                    wanted = 1;                                                         \
            if (!wanted)                                                                \
                continue;                                                               \
            hf_test_failed = 0;                                                         \
            hf_tests[i].fn();                                                           \
            if (hf_test_failed) {                                                       \
                printf("not ok - %.*s/%s: %s\n", (int)(strlen(file) - 2), file,         \
                       hf_tests[i].name, hf_test_why);                                  \
                failures++;                                                             \
            } else {                                                                    \
                printf("ok - %.*s/%s\n", (int)(strlen(file) - 2), file, hf_tests[i].name); \
            }                                                                           \
            fflush(stdout);                                                             \
        }                                                                               \
        return failures ? 1 : 0;                                                        \
    }

#endif
