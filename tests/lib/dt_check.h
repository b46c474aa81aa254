/*
 * dt_check.h -- the integration tests' check macros: each check is counted,
 * a failure prints file:line and what failed, and the test goes on (CHECK)
 * or jumps to its cleanup label `out` (REQUIRE).
 *
 * NOTES
 *   The counters live in dt_harness.c; one test program at a time.
 *   Checks are not thread-safe: call them from the main thread only
 *   (callbacks record, the main thread checks).
 *   main() ends with `return dt_check_summary(argv[0]);`.
 */
#ifndef DT_CHECK_H
#define DT_CHECK_H

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
