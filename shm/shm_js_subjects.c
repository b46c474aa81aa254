/*
 * shm_js_subjects.c -- storage's subjects for the gateways (see
 * shm_js_subjects.h).
 */
#include "shm_js_subjects.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
shm_js_subjects_write(struct shm_js_subjects *t,
                      const char *const *subjects, const size_t *lens,
                      uint32_t n)
{
    uint32_t seq = atomic_load_explicit(&t->seq, memory_order_relaxed);
    atomic_store_explicit(&t->seq, seq | 1u, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    size_t len = 0;
    uint32_t i;
    for (i = 0; i < n && len + lens[i] + 1 <= sizeof(t->data); i++) {
        memcpy(t->data + len, subjects[i], lens[i]);
        t->data[len + lens[i]] = '\0';
        len += lens[i] + 1;
    }
    t->overflow = i < n;
    t->count = i;
    t->len = (uint32_t)len;
    /* even, and never 0 again: "written" */
    atomic_store_explicit(&t->seq, (seq | 1u) + 1u, memory_order_release);
}

int
shm_js_subjects_read(const struct shm_js_subjects *t,
                     struct shm_js_subjects_copy *c)
{
    uint32_t seq = atomic_load_explicit(&t->seq, memory_order_acquire);
    if (seq == c->seq)
        return 0;
    if (seq & 1u)
        return -EAGAIN;
    uint32_t len = t->len, count = t->count;
    bool overflow = t->overflow;
    if (len > sizeof(t->data))
        return -EAGAIN;
    if (len > c->cap) {
        char *d = realloc(c->data, len);
        if (d == NULL)
            return -ENOMEM;
        c->data = d;
        c->cap = len;
    }
    if (len)
        memcpy(c->data, t->data, len);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&t->seq, memory_order_relaxed) != seq)
        return -EAGAIN;
    c->seq = seq;
    c->count = count;
    c->len = len;
    c->usable = seq != 0 && !overflow;
    return 1;
}

void
shm_js_subjects_copy_free(struct shm_js_subjects_copy *c)
{
    free(c->data);
    memset(c, 0, sizeof(*c));
}
