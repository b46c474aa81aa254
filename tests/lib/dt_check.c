/*
 * dt_check.c -- the counters behind dt_check.h: every check of a test
 * program is counted, failures are printed as they happen, and the
 * summary turns the count into the program's exit code.
 *
 * NOTES
 *   Kept apart from dt_harness.c so that unit tests link only this and
 *   none of the server-process code.
 *   Concurrency: plain counters, one test program at a time; checks run
 *   on the main thread only (callbacks record, the main thread checks).
 *   Errors: a failed check is reported on stderr as
 *   "file:line: CHECK failed: ..." and the test goes on.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dt_check.h"

static int checks_run;
static int checks_failed;

int
dt_check(int ok, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    checks_run++;
    if (ok)
        return 1;
    checks_failed++;
    fprintf(stderr, "%s:%d: CHECK failed: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 0;
}

int
dt_check_summary(const char *name)
{
    const char *base = strrchr(name, '/');

    base = base ? base + 1 : name;
    if (checks_failed) {
        printf("%s: %d of %d checks FAILED\n", base, checks_failed,
               checks_run);
        return 1;
    }
    printf("%s: %d checks passed\n", base, checks_run);
    return 0;
}

int
dt_check_failures(void)
{
    return checks_failed;
}
