/*
 * gw_subs.c -- a connection's subscription table (see gw_subs.h).
 *
 * NOTES
 *   Slots are reused through a free stack; the id's high 12 bits change
 *   on every reuse so that a delivery still in flight for an old sub is
 *   recognised as stale.  The sid hash is open addressing with linear
 *   probing and tombstones, rebuilt when it gets over half full.
 */
#include "gw_subs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DELETED 0xffffffffu

static uint32_t
hash_sid(const char *s, uint32_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

struct gw_sub *
gw_subs_by_id(struct gw_subs *t, uint32_t id)
{
    uint32_t idx = id & GW_SUB_INDEX_MASK;
    if (idx >= t->cap || t->slot[idx].id != id)
        return NULL;
    return &t->slot[idx];
}

/* Position in hash[] of sid, or of the empty entry ending its probe. */
static uint32_t
probe(const struct gw_subs *t, const char *sid, uint32_t len, bool *found)
{
    uint32_t mask = t->hcap - 1, i = hash_sid(sid, len) & mask;
    for (;; i = (i + 1) & mask) {
        uint32_t e = t->hash[i];
        if (e == 0) {
            *found = false;
            return i;
        }
        if (e != DELETED) {
            const struct gw_sub *s = &t->slot[e - 1];
            if (s->sid_len == len && memcmp(s->text, sid, len) == 0) {
                *found = true;
                return i;
            }
        }
    }
}

struct gw_sub *
gw_subs_by_sid(struct gw_subs *t, const char *sid, uint32_t len)
{
    bool found;
    if (t->count == 0)
        return NULL;
    uint32_t i = probe(t, sid, len, &found);
    return found ? &t->slot[t->hash[i] - 1] : NULL;
}

static int
rehash(struct gw_subs *t, uint32_t hcap)
{
    uint32_t *h = calloc(hcap, sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    free(t->hash);
    t->hash = h;
    t->hcap = hcap;
    t->hused = 0;
    for (uint32_t k = 0; k < t->cap; k++) {
        const struct gw_sub *s = &t->slot[k];
        if (s->id == 0)
            continue;
        bool found;
        h[probe(t, s->text, s->sid_len, &found)] = k + 1;
        t->hused++;
    }
    return 0;
}

static int
grow_slots(struct gw_subs *t)
{
    uint32_t n = t->cap ? t->cap * 2 : 4;
    if (n > GW_SUB_INDEX_MASK + 1)
        return -ENOSPC;
    struct gw_sub *p = realloc(t->slot, n * sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    t->slot = p;
    uint32_t *f = realloc(t->free, n * sizeof(*f));
    if (f == NULL)
        return -ENOMEM;
    t->free = f;
    memset(p + t->cap, 0, (n - t->cap) * sizeof(*p));
    for (uint32_t k = n; k > t->cap; k--)
        t->free[t->n_free++] = k - 1;
    t->cap = n;
    return 0;
}

struct gw_sub *
gw_subs_add(struct gw_subs *t, const char *sid, uint32_t sid_len,
            const char *subject, uint32_t subject_len, const char *queue,
            uint32_t queue_len)
{
    if ((t->n_free == 0 && grow_slots(t) < 0) ||
        ((t->hused + 1) * 2 > t->hcap &&
         rehash(t, t->hcap ? (t->count + 1) * 4 > t->hcap ? t->hcap * 2
                                                          : t->hcap
                           : 8) < 0))
        return NULL;
    char *text = malloc((size_t)sid_len + subject_len + queue_len + 1);
    if (text == NULL)
        return NULL;
    if (sid_len)
        memcpy(text, sid, sid_len);
    if (subject_len)
        memcpy(text + sid_len, subject, subject_len);
    if (queue_len)
        memcpy(text + sid_len + subject_len, queue, queue_len);
    uint32_t idx = t->free[--t->n_free];
    t->reuse = (t->reuse + 1) & 0xfff;
    struct gw_sub *s = &t->slot[idx];
    *s = (struct gw_sub){
        .id = idx | ((t->reuse ? t->reuse : 1u) << GW_SUB_INDEX_BITS),
        .sid_len = sid_len, .subject_len = subject_len,
        .queue_len = queue_len, .text = text,
    };
    bool found;
    uint32_t i = probe(t, sid, sid_len, &found);
    t->hash[i] = idx + 1;
    t->hused++;
    t->count++;
    return s;
}

void
gw_subs_del(struct gw_subs *t, struct gw_sub *s)
{
    bool found;
    uint32_t i = probe(t, s->text, s->sid_len, &found);
    if (found)
        t->hash[i] = DELETED;
    uint32_t idx = (uint32_t)(s - t->slot);
    free(s->text);
    memset(s, 0, sizeof(*s));
    t->free[t->n_free++] = idx;
    t->count--;
}

void
gw_subs_free(struct gw_subs *t)
{
    for (uint32_t k = 0; k < t->cap; k++)
        free(t->slot[k].text);
    free(t->slot);
    free(t->free);
    free(t->hash);
    memset(t, 0, sizeof(*t));
}
