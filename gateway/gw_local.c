/*
 * gw_local.c -- delivery to subscribers on the publisher's own worker,
 * without the router.
 *
 * NOTES
 *   Each worker indexes its own connections' plain subscriptions (queue
 *   subscriptions are left to the router, which alone sees every member
 *   of a group and so can pick exactly one).  A publish is still pushed to
 *   the router first, flagged SHM_DF_LOCAL_DONE with the number of local
 *   deliveries, so the router serves the other workers' subscribers and
 *   knows whether anyone at all took a request (no-responders).
 *   Order stays right: a given subscriber is always reached by the same
 *   path from a given publisher.
 *   Matches are copied into a scratch array before delivering, because
 *   a delivery can end an auto-unsubscribe and so change the index.
 */
#include <errno.h>
#include <stdlib.h>

#include "dt_log.h"
#include "gw.h"
#include "rt_sublist.h"

#define LOCAL_CACHE 4096 /* subjects cached by the local index */

int
gw_local_init(struct gw_worker *w)
{
    /* a successor: what its predecessor held is gone */
    uint32_t old = atomic_exchange(&w->hdr->interest[w->index], 0);
    atomic_fetch_sub(&w->hdr->interest_total, old);
    w->local = rt_sublist_new(LOCAL_CACHE);
    return w->local ? 0 : -ENOMEM;
}

void
gw_local_interest(struct gw_worker *w, const struct gw_sub *s, int delta)
{
    /* stored before the SUB's PONG can go out, so any publish another
     * client makes after that PONG sees it and takes the router */
    w->interest += (uint32_t)delta;
    if (s->queue_len)
        w->queue_subs += (uint32_t)delta;
    atomic_store_explicit(&w->hdr->interest[w->index], w->interest,
                          memory_order_release);
    atomic_fetch_add_explicit(&w->hdr->interest_total, (uint64_t)(int64_t)delta,
                              memory_order_acq_rel);
}

bool
gw_local_only(struct gw_worker *w)
{
    uint64_t total = atomic_load_explicit(&w->hdr->interest_total,
                                          memory_order_acquire);
    if (gw_js_usable(w))
        total -= atomic_load_explicit(
            &w->hdr->interest[w->hdr->storage_port], memory_order_acquire);
    return w->queue_subs == 0 && total == w->interest;
}

int
gw_local_add(struct gw_worker *w, struct gw_conn *c, struct gw_sub *s)
{
    if (s->queue_len)
        return 0;
    struct rt_sub *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return -ENOMEM;
    e->subject = gw_sub_subject(s);
    e->subject_len = s->subject_len;
    e->conn = c->slot;
    e->conn_gen = c->gen;
    e->sub_id = s->id;
    int rc = rt_sublist_insert(w->local, e);
    if (rc < 0) {
        free(e);
        return rc;
    }
    s->local = e;
    return 0;
}

void
gw_local_del(struct gw_worker *w, struct gw_sub *s)
{
    if (s->local == NULL)
        return;
    rt_sublist_remove(w->local, s->local);
    free(s->local);
    s->local = NULL;
}

static int
reserve_targets(struct gw_worker *w, uint32_t n)
{
    if (n <= w->targets_cap)
        return 0;
    uint32_t cap = w->targets_cap ? w->targets_cap : 64;
    while (cap < n)
        cap *= 2;
    struct gw_target *t = realloc(w->targets, cap * sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    w->targets = t;
    w->targets_cap = cap;
    return 0;
}

uint32_t
gw_local_match(struct gw_worker *w, struct gw_conn *pub,
               const struct gw_op *op)
{
    const struct rt_match *res = rt_sublist_match(w->local, op->subject.p,
                                                  op->subject.len);
    if (res == NULL || res->n_psubs == 0 ||
        reserve_targets(w, res->n_psubs) < 0)
        return 0;
    bool no_echo = pub->flags & SHM_CF_NO_ECHO;
    uint32_t n = 0;
    for (uint32_t i = 0; i < res->n_psubs; i++) {
        const struct rt_sub *e = res->psubs[i];
        if (no_echo && e->conn == pub->slot && e->conn_gen == pub->gen)
            continue;
        w->targets[n++] = (struct gw_target){ e->conn, e->conn_gen,
                                              e->sub_id };
    }
    return n;
}

void
gw_local_deliver(struct gw_worker *w, const struct gw_op *op, uint32_t n)
{
    struct gw_msg m = { op->subject, op->reply, op->headers, op->payload };
    for (uint32_t i = 0; i < n; i++) {
        const struct gw_target *t = &w->targets[i];
        struct gw_conn *c = gw_conn_by_slot(w, t->conn, t->conn_gen);
        struct gw_sub *s = c ? gw_subs_by_id(&c->subs, t->sub_id) : NULL;
        if (s)
            gw_deliver_to(w, c, s, &m);
    }
}
