/*
 * dt_buf.h -- a growable byte buffer with a hard cap, process-local.
 *
 * NOTES
 *   Length-prefixed bytes, never NUL-terminated.  Growth doubles up to
 *   `cap`; an append that would pass the cap fails with -ENOBUFS and
 *   leaves the buffer unchanged, so every user has a defined behaviour
 *   when full.
 */
#ifndef DT_BUF_H
#define DT_BUF_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct dt_buf {
    char *data;
    size_t len;     /* bytes in use */
    size_t alloc;   /* bytes allocated */
    size_t cap;     /* never grow past this; 0 = 1 GiB */
};

int  dt_buf_reserve(struct dt_buf *b, size_t extra);
int  dt_buf_append(struct dt_buf *b, const void *p, size_t n);
int  dt_buf_printf(struct dt_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes (after a partial write or parse). */
void dt_buf_consume(struct dt_buf *b, size_t n);
void dt_buf_free(struct dt_buf *b);

static inline int
dt_buf_puts(struct dt_buf *b, const char *s)
{
    return dt_buf_append(b, s, strlen(s));
}

#endif /* DT_BUF_H */
