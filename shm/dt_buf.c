/*
 * dt_buf.c -- bounded growable byte buffer (see dt_buf.h).
 */
#include "dt_buf.h"

#include <stdio.h>

#define DT_BUF_DEFAULT_CAP ((size_t)1 << 30)

int
dt_buf_reserve(struct dt_buf *b, size_t extra)
{
    size_t cap = b->cap ? b->cap : DT_BUF_DEFAULT_CAP;
    if (extra > cap || b->len > cap - extra)
        return -ENOBUFS;
    size_t need = b->len + extra;
    if (need <= b->alloc)
        return 0;
    size_t n = b->alloc ? b->alloc : 256;
    while (n < need)
        n *= 2;
    if (n > cap)
        n = cap;
    char *p = realloc(b->data, n);
    if (p == NULL)
        return -ENOMEM;
    b->data = p;
    b->alloc = n;
    return 0;
}

int
dt_buf_append(struct dt_buf *b, const void *p, size_t n)
{
    int rc = dt_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int
dt_buf_printf(struct dt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    int rc = dt_buf_reserve(b, (size_t)n + 1);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void
dt_buf_consume(struct dt_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void
dt_buf_free(struct dt_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}
