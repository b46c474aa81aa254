/*
 * gw_subs.h -- one connection's subscriptions: a slot array indexed by the
 * low bits of the sub id (what deliveries carry) and a hash of sids (what
 * UNSUB names), both O(1), so a client with a million subscriptions costs
 * no more per operation than one with ten.
 */
#ifndef GW_SUBS_H
#define GW_SUBS_H

#include <stdbool.h>
#include <stdint.h>

struct rt_sub;

struct gw_sub {
    uint32_t id;            /* 0 = free slot */
    uint32_t sid_len;
    uint32_t subject_len;
    uint32_t queue_len;
    char *text;             /* sid, subject, queue back to back, malloc'd */
    uint64_t max;           /* auto-unsubscribe after this many; 0 = none */
    uint64_t delivered;
    struct rt_sub *local;   /* entry in the worker's local index (plain
                               subscriptions only), or NULL */
};

struct gw_subs {
    struct gw_sub *slot;    /* [cap] */
    uint32_t cap;
    uint32_t count;
    uint32_t *free;         /* stack of free slot indexes */
    uint32_t n_free;
    uint32_t *hash;         /* [hcap]: slot index + 1; 0 empty, ~0 deleted */
    uint32_t hcap;          /* power of two */
    uint32_t hused;         /* live + deleted entries */
    uint32_t reuse;         /* high bits for the next id */
};

#define GW_SUB_INDEX_BITS 20
#define GW_SUB_INDEX_MASK ((1u << GW_SUB_INDEX_BITS) - 1)

struct gw_sub *gw_subs_by_id(struct gw_subs *t, uint32_t id);
struct gw_sub *gw_subs_by_sid(struct gw_subs *t, const char *sid,
                              uint32_t len);
/* New subscription; NULL on ENOMEM or when 2^20 are open at once. */
struct gw_sub *gw_subs_add(struct gw_subs *t, const char *sid,
                           uint32_t sid_len, const char *subject,
                           uint32_t subject_len, const char *queue,
                           uint32_t queue_len);
void gw_subs_del(struct gw_subs *t, struct gw_sub *s);
void gw_subs_free(struct gw_subs *t);

static inline const char *
gw_sub_subject(const struct gw_sub *s)
{
    return s->text + s->sid_len;
}

static inline const char *
gw_sub_queue(const struct gw_sub *s)
{
    return s->text + s->sid_len + s->subject_len;
}

#endif /* GW_SUBS_H */
