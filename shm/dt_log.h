/*
 * dt_log.h -- logging in nats-server's line format:
 *   [pid] 2026/11/26 09:42:50.123456 [INF] message
 *
 * NOTES
 *   One log sink per process (stderr or the file named by -l), opened
 *   by dt_log_init().  Writes are single write(2) calls per line so that
 *   several processes appending to one file do not interleave mid-line.
 */
#ifndef DT_LOG_H
#define DT_LOG_H

#include <stdint.h>

#include <stdarg.h>

enum dt_log_level { DT_LOG_FATAL, DT_LOG_ERROR, DT_LOG_WARN, DT_LOG_INFO,
                    DT_LOG_DEBUG, DT_LOG_TRACE };

/* path NULL or "" = stderr.  Returns 0 or -errno. */
int  dt_log_init(const char *path, int debug, int trace);
void dt_log_set_tag(const char *tag); /* e.g. "gateway 0", shown after level */
/* From now on the debug and trace switches are read from these (the
 * fabric's settings), so that a config reload reaches every process. */
void dt_log_follow(const uint32_t *debug, const uint32_t *trace);
void dt_log(enum dt_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define dt_fatal(...) dt_log(DT_LOG_FATAL, __VA_ARGS__)
#define dt_error(...) dt_log(DT_LOG_ERROR, __VA_ARGS__)
#define dt_warn(...)  dt_log(DT_LOG_WARN, __VA_ARGS__)
#define dt_info(...)  dt_log(DT_LOG_INFO, __VA_ARGS__)
#define dt_debug(...) dt_log(DT_LOG_DEBUG, __VA_ARGS__)
#define dt_trace(...) dt_log(DT_LOG_TRACE, __VA_ARGS__)

#endif /* DT_LOG_H */
