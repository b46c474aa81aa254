/*
 * dt_check.h -- the tests' check macros (unit and integration): each check
 * is counted, a failure prints file:line and what failed, and the test
 * goes on (CHECK) or jumps to its cleanup label `out` (REQUIRE).
 *
 * NOTES
 *   The counters live in dt_check.c (testcheck_dep; testlib_dep brings
 *   it too); one test program at a time.
 *   Checks are not thread-safe: call them from the main thread only
 *   (callbacks record, the main thread checks).
 *   main() ends with `return dt_check_summary(argv[0]);`: exit code 0
 *   when every check passed, 1 otherwise (77, DT_EXIT_SKIP, is the
 *   test's own to return).
 */
#ifndef DT_CHECK_H
#define DT_CHECK_H

#include <string.h>

/* Record one check; returns ok.  Prints "file:line: CHECK failed: ...". */
int dt_check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Print "<name>: <n> checks passed" (or the failures); returns 0 or 1. */
int dt_check_summary(const char *name);

/* Number of failed checks so far. */
int dt_check_failures(void);

#define CHECK(e) \
    ((void)dt_check(!!(e), __FILE__, __LINE__, "%s", #e))

/* Compare two integers, printing both values on failure. */
#define CHECK_INT(a, op, b) \
    do { \
        long long dt_a_ = (long long)(a), dt_b_ = (long long)(b); \
        (void)dt_check(dt_a_ op dt_b_, __FILE__, __LINE__, \
                       "%s %s %s (%lld vs %lld)", #a, #op, #b, dt_a_, dt_b_); \
    } while (0)

/* String equality, printing both strings on failure. */
#define CHECK_STR(a, b) \
    do { \
        const char *dt_sa_ = (a), *dt_sb_ = (b); \
        (void)dt_check(dt_sa_ && dt_sb_ && strcmp(dt_sa_, dt_sb_) == 0, \
                       __FILE__, __LINE__, "%s == %s (\"%s\" vs \"%s\")", \
                       #a, #b, dt_sa_ ? dt_sa_ : "(null)", \
                       dt_sb_ ? dt_sb_ : "(null)"); \
    } while (0)

/* hay contains needle, printing both on failure (NULL hay fails). */
#define CHECK_CONTAINS(hay, needle) \
    do { \
        const char *dt_h_ = (hay), *dt_n_ = (needle); \
        (void)dt_check(dt_h_ && dt_n_ && strstr(dt_h_, dt_n_) != NULL, \
                       __FILE__, __LINE__, "\"%s\" does not contain \"%s\"", \
                       dt_h_ ? dt_h_ : "(null)", dt_n_ ? dt_n_ : "(null)"); \
    } while (0)

/* A check with a printf-style explanation. */
#define CHECK_MSG(e, ...) \
    ((void)dt_check(!!(e), __FILE__, __LINE__, __VA_ARGS__))

/* Like CHECK, but on failure jump to the function's `out:` label. */
#define REQUIRE(e) \
    do { \
        if (!dt_check(!!(e), __FILE__, __LINE__, "%s", #e)) \
            goto out; \
    } while (0)

#endif /* DT_CHECK_H */
