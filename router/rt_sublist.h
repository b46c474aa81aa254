/*
 * rt_sublist.h -- the router's subscription index: a token trie with
 * '*' and '>' wildcards, queue groups, and a bounded match cache keyed by
 * literal subject (the design of nats-server's sublist).
 *
 * NOTES
 *   Ownership: the router owns every struct rt_sub and the subject and
 *   queue bytes it points to; they must stay valid and unchanged from
 *   rt_sublist_insert() until rt_sublist_remove() returns.  The index
 *   stores only pointers to them.  A sub is in at most one sublist.
 *   Before the first insert the private fields (sl_*) must be zero (use a
 *   designated initialiser or calloc); remove() zeroes them again, so a
 *   sub can be re-inserted.  Do not copy an inserted sub by value.
 *   Concurrency: none.  One thread (the router loop) owns a sublist.
 *   Errors: functions return 0 or -errno; match returns NULL only when
 *   memory runs out.  Bad subjects return -EINVAL, never crash.
 */
#ifndef RT_SUBLIST_H
#define RT_SUBLIST_H

#include <stdint.h>

struct rt_sub {
    const char *subject;
    uint32_t subject_len;
    const char *queue;
    uint32_t queue_len;     /* 0 = plain subscription */
    uint16_t gw;            /* router's fields, not interpreted */
    uint16_t flags;
    uint32_t conn;
    uint32_t conn_gen;
    uint32_t sub_id;
    /* private to rt_sublist; zero before the first insert */
    void *sl_owner;         /* trie node or queue group holding the sub */
    uint32_t sl_idx;        /* index in the owner's array */
};

/* All matching queue subscriptions with one queue name, whatever subject
 * they were made on.  `name` points at a member's queue bytes. */
struct rt_qgroup {
    const char *name;
    uint32_t name_len;
    uint32_t n;
    struct rt_sub **subs;
};

struct rt_match {
    uint32_t n_psubs;
    struct rt_sub **psubs;
    uint32_t n_qgroups;
    struct rt_qgroup *qgroups;
};

struct rt_sublist_stats {
    uint64_t count;         /* subscriptions in the index */
    uint64_t cache_entries; /* cached subjects now */
    uint64_t inserts;
    uint64_t removes;
    uint64_t matches;
    uint64_t cache_hits;
    uint64_t nodes;         /* trie nodes, root excluded (0 when empty) */
};

struct rt_sublist;

/* cache_max: most subjects kept in the match cache (0 = no cache; when
 * full the least recently useful entry is evicted, CLOCK order).
 * NULL on ENOMEM. */
struct rt_sublist *rt_sublist_new(uint32_t cache_max);
/* Frees the index, not the subs (they belong to the router). */
void rt_sublist_free(struct rt_sublist *sl);

/* 0; -EINVAL bad subject or queue name; -EEXIST this object is already
 * inserted; -ENOMEM (the index is unchanged). */
int rt_sublist_insert(struct rt_sublist *sl, struct rt_sub *s);
/* 0; -ENOENT when s is not inserted. */
int rt_sublist_remove(struct rt_sublist *sl, struct rt_sub *s);

/* Every sub whose subject matches the literal `subject`, plain subs in
 * psubs and queue subs grouped by queue name (one group per name even
 * across different subjects, e.g. "foo.*" and "foo.bar" both queue "q").
 * Order is unspecified.  A subject with an empty token matches nothing.
 * The result is owned by the sublist and valid until the next
 * insert/remove/match call.  NULL only on ENOMEM. */
const struct rt_match *rt_sublist_match(struct rt_sublist *sl,
                                        const char *subject, uint32_t len);

void rt_sublist_stats(const struct rt_sublist *sl,
                      struct rt_sublist_stats *st);

#endif /* RT_SUBLIST_H */
