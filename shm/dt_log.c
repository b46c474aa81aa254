/*
 * dt_log.c -- the log sink of one process (see dt_log.h).
 */
#include "dt_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static int log_max = DT_LOG_INFO;
static char log_tag[32];
static const uint32_t *follow_debug, *follow_trace;

int
dt_log_init(const char *path, int debug, int trace)
{
    log_max = trace ? DT_LOG_TRACE : debug ? DT_LOG_DEBUG : DT_LOG_INFO;
    if (path == NULL || path[0] == '\0')
        return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd == -1)
        return -errno;
    /* stderr becomes the file too, so that children (which log to their
     * inherited stderr) and stray messages land in the same log */
    if (dup2(fd, 2) == -1) {
        int e = errno;
        close(fd);
        return -e;
    }
    close(fd);
    log_fd = 2;
    return 0;
}

void
dt_log_follow(const uint32_t *debug, const uint32_t *trace)
{
    follow_debug = debug;
    follow_trace = trace;
}

static int
max_level(void)
{
    if (follow_debug == NULL)
        return log_max;
    if (__atomic_load_n(follow_trace, __ATOMIC_RELAXED))
        return DT_LOG_TRACE;
    return __atomic_load_n(follow_debug, __ATOMIC_RELAXED) ? DT_LOG_DEBUG
                                                           : DT_LOG_INFO;
}

void
dt_log_set_tag(const char *tag)
{
    snprintf(log_tag, sizeof(log_tag), "%s", tag ? tag : "");
}

void
dt_log(enum dt_log_level lvl, const char *fmt, ...)
{
    static const char *names[] = { "FTL", "ERR", "WRN", "INF", "DBG", "TRC" };
    if ((int)lvl > max_level())
        return;

    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "[%d] %04d/%02d/%02d %02d:%02d:%02d.%06ld [%s] %s%s",
                     (int)getpid(), tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)tv.tv_usec, names[lvl], log_tag,
                     log_tag[0] ? ": " : "");
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, (size_t)n);
    (void)w; /* nowhere better to report a failing log */
}
