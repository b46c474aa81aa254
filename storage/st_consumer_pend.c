/*
 * st_consumer_pend.c -- a consumer's pending acks: the sorted pending
 * table, the redelivery queue, ack deadlines (ack_wait, backoff), and
 * the processing of acks (+ACK, -NAK, +WPI, +TERM, +NXT, AckAll) and of
 * stream removals and purges that touch pending messages.
 *
 * NOTES
 *   Semantics follow nats-server 2.9.10 consumer.go (processAckMsg,
 *   processNak, checkPending, purge), including its quirks: the ack floor
 *   only moves when the acked delivery is floor + 1 (or nothing is
 *   pending), and a message past max_deliver keeps counting in
 *   num_redelivered until it is acked or purged.
 *   The table is allocated on first use and freed when it empties.
 *   The owner's on_ack callback is always called last, after the
 *   consumer's state is consistent, because the stream may remove the
 *   message and call back into st_cons_set_on_remove().
 */
#include "st_consumer_int.h"

#include "st_ack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ACK_WAIT_DELAY 1000000LL        /* 1 ms, nats' ackWaitDelay */

static bool
pent_alive(const struct st_pent *e)
{
    return (e->flags & PE_PENDING) || e->dc > 1;
}

static struct st_pend *
pend_get(struct st_consumer *c)
{
    if (c->pend == NULL)
        c->pend = calloc(1, sizeof(*c->pend));
    return c->pend;
}

/* Free the table once nothing in it is alive. */
static void
pend_maybe_free(struct st_consumer *c)
{
    struct st_pend *p = c->pend;
    if (p == NULL || p->npending > 0 || p->nrdc > 0
        || p->rdq_n > p->rdq_head)
        return;
    free(p->e);
    free(p->rdq);
    free(p);
    c->pend = NULL;
    c->pend_timer = INT64_MAX;
}

/* Drop dead entries at the head; compact when half the table is dead. */
static void
pend_gc(struct st_consumer *c)
{
    struct st_pend *p = c->pend;
    if (p == NULL)
        return;
    while (p->head < p->n && !pent_alive(&p->e[p->head])) {
        p->head++;
        p->ndead--;
    }
    uint32_t live = p->n - p->head - p->ndead;
    if (p->ndead > 16 && p->ndead > live) {
        uint32_t w = 0;
        for (uint32_t i = p->head; i < p->n; i++)
            if (pent_alive(&p->e[i]))
                p->e[w++] = p->e[i];
        p->head = 0;
        p->n = w;
        p->ndead = 0;
    } else if (p->head == p->n) {
        p->head = p->n = 0;
    }
    pend_maybe_free(c);
}

struct st_pent *
st_pend_find(struct st_pend *p, uint64_t sseq)
{
    if (p == NULL)
        return NULL;
    uint32_t lo = p->head, hi = p->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (p->e[mid].sseq < sseq)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < p->n && p->e[lo].sseq == sseq && pent_alive(&p->e[lo]))
        return &p->e[lo];
    return NULL;
}

int
st_pend_insert(struct st_consumer *c, uint64_t sseq, uint64_t dseq,
               int64_t ts, uint32_t dc, uint32_t flags)
{
    struct st_pend *p = pend_get(c);
    if (p == NULL)
        return -ENOMEM;
    if (p->n == p->cap) {
        if (p->head > 0 && p->head >= p->cap / 2) {
            memmove(p->e, p->e + p->head, (p->n - p->head) * sizeof(*p->e));
            p->n -= p->head;
            p->head = 0;
        } else {
            uint32_t nc = p->cap ? p->cap * 2 : 4;
            struct st_pent *ne = realloc(p->e, nc * sizeof(*ne));
            if (ne == NULL)
                return -ENOMEM;
            p->e = ne;
            p->cap = nc;
        }
    }
    uint32_t at = p->n;
    if (p->n > p->head && p->e[p->n - 1].sseq >= sseq) {
        /* out of order (state restore): keep the table sorted */
        uint32_t lo = p->head, hi = p->n;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (p->e[mid].sseq < sseq)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < p->n && p->e[lo].sseq == sseq) {
            if (pent_alive(&p->e[lo]))
                return -EEXIST;
            p->ndead--;         /* reuse the dead slot */
            at = lo;
            goto fill;
        }
        memmove(p->e + lo + 1, p->e + lo, (p->n - lo) * sizeof(*p->e));
        at = lo;
    }
    p->n++;
fill:
    p->e[at] = (struct st_pent){ sseq, dseq, ts, dc, flags & PE_PENDING };
    if (flags & PE_PENDING)
        p->npending++;
    if (dc > 1)
        p->nrdc++;
    if (!pent_alive(&p->e[at]))
        p->ndead++;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Redelivery queue (FIFO of stream sequences). */

static int
rdq_push(struct st_consumer *c, struct st_pent *e)
{
    struct st_pend *p = c->pend;
    if (e->flags & PE_RDQ)
        return 0;
    if (p->rdq_n == p->rdq_cap) {
        if (p->rdq_head > 0) {
            memmove(p->rdq, p->rdq + p->rdq_head,
                    (p->rdq_n - p->rdq_head) * sizeof(uint64_t));
            p->rdq_n -= p->rdq_head;
            p->rdq_head = 0;
        }
        if (p->rdq_n == p->rdq_cap) {
            uint32_t nc = p->rdq_cap ? p->rdq_cap * 2 : 8;
            uint64_t *nq = realloc(p->rdq, nc * sizeof(uint64_t));
            if (nq == NULL)
                return -ENOMEM;
            p->rdq = nq;
            p->rdq_cap = nc;
        }
    }
    p->rdq[p->rdq_n++] = e->sseq;
    e->flags |= PE_RDQ;
    return 0;
}

static void
rdq_remove(struct st_consumer *c, struct st_pent *e)
{
    struct st_pend *p = c->pend;
    if (!(e->flags & PE_RDQ))
        return;
    e->flags &= ~PE_RDQ;
    for (uint32_t i = p->rdq_head; i < p->rdq_n; i++) {
        if (p->rdq[i] == e->sseq) {
            memmove(p->rdq + i, p->rdq + i + 1,
                    (p->rdq_n - i - 1) * sizeof(uint64_t));
            p->rdq_n--;
            break;
        }
    }
    if (p->rdq_head == p->rdq_n)
        p->rdq_head = p->rdq_n = 0;
}

uint32_t
st_rdq_len(const struct st_consumer *c)
{
    return c->pend ? c->pend->rdq_n - c->pend->rdq_head : 0;
}

/* The next sequence queued for redelivery (0 = none); not removed. */
uint64_t
st_rdq_front(const struct st_consumer *c)
{
    return st_rdq_len(c) ? c->pend->rdq[c->pend->rdq_head] : 0;
}

void
st_rdq_pop(struct st_consumer *c)
{
    struct st_pend *p = c->pend;
    if (p == NULL || p->rdq_head == p->rdq_n)
        return;
    struct st_pent *e = st_pend_find(p, p->rdq[p->rdq_head]);
    if (e != NULL)
        e->flags &= ~PE_RDQ;
    if (++p->rdq_head == p->rdq_n)
        p->rdq_head = p->rdq_n = 0;
}

/* ------------------------------------------------------------------ */
/* Entry state changes. */

/* Forget an entry completely (acked, terminated, purged). */
void
st_pend_kill(struct st_consumer *c, struct st_pent *e)
{
    struct st_pend *p = c->pend;
    if (!pent_alive(e))
        return;
    rdq_remove(c, e);
    if (e->flags & PE_PENDING)
        p->npending--;
    if (e->dc > 1)
        p->nrdc--;
    e->flags = 0;
    e->dc = 0;
    p->ndead++;
}

/* Past max_deliver: no longer pending, but still counted as redelivered
 * (dc is already the incremented count). */
void
st_pend_exhaust(struct st_consumer *c, struct st_pent *e, uint32_t dc)
{
    struct st_pend *p = c->pend;
    rdq_remove(c, e);
    if (e->dc <= 1 && dc > 1)
        p->nrdc++;
    e->dc = dc;
    if (e->flags & PE_PENDING)
        p->npending--;
    e->flags = 0;
    if (!pent_alive(e))
        p->ndead++;
}

/* A delivery of sseq as consumer sequence dseq (trackPending). */
int
st_pend_track(struct st_consumer *c, uint64_t sseq, uint64_t dseq,
              uint32_t dc, int64_t now)
{
    struct st_pent *e = st_pend_find(c->pend, sseq);
    int rc = 0;
    if (e != NULL) {
        if (e->dc <= 1 && dc > 1)
            c->pend->nrdc++;
        e->ts = now;
        e->dseq = dseq;
        e->dc = dc;
        if (!(e->flags & PE_PENDING)) {
            e->flags |= PE_PENDING;
            c->pend->npending++;
        }
    } else {
        rc = st_pend_insert(c, sseq, dseq, now, dc, PE_PENDING);
        e = st_pend_find(c->pend, sseq);
    }
    if (e != NULL) {
        int64_t d = st_pend_deadline(c, e);
        if (d < c->pend_timer)
            c->pend_timer = d;
    }
    return rc;
}

/* The ack wait that applies to an entry: backoff[dc-1] (the last value
 * repeats) or ack_wait. */
static int64_t
pend_ttl(const struct st_consumer *c, uint32_t dc)
{
    const struct st_cons_config *cfg = &c->cfg;
    if (cfg->nbackoff > 0) {
        uint32_t i = dc > 0 ? dc - 1 : 0;
        if (i >= cfg->nbackoff)
            i = cfg->nbackoff - 1;
        return cfg->backoff[i];
    }
    return cfg->ack_wait;
}

int64_t
st_pend_deadline(const struct st_consumer *c, const struct st_pent *e)
{
    return e->ts + pend_ttl(c, e->dc);
}

/* checkPending(): queue expired deliveries for redelivery, drop entries
 * the stream no longer has, and compute the next deadline. */
void
st_pend_check(struct st_consumer *c, int64_t now)
{
    struct st_pend *p = c->pend;
    if (p == NULL || p->npending == 0) {
        c->pend_timer = INT64_MAX;
        pend_gc(c);
        return;
    }
    struct st_state ss;
    st_store_state(c->set->s->store, &ss);
    int64_t next = c->cfg.nbackoff ? c->cfg.backoff[c->cfg.nbackoff - 1]
                                   : c->cfg.ack_wait + ACK_WAIT_DELAY;
    int64_t off = 0;
    bool first = true, expired = false;
    for (uint32_t i = p->head; i < p->n; i++) {
        struct st_pent *e = &p->e[i];
        if (!(e->flags & PE_PENDING))
            continue;
        if (e->sseq < ss.first_seq || e->sseq <= c->asflr) {
            if (e->sseq > c->asflr)
                c->asflr = e->sseq;
            if (e->dseq > c->adflr)
                c->adflr = e->dseq;
            st_pend_kill(c, e);
            st_cons_mark_dirty(c);
            continue;
        }
        int64_t ttl = pend_ttl(c, e->dc);
        int64_t elapsed = now - e->ts;
        if (elapsed >= ttl) {
            if (e->flags & PE_RDQ)
                continue;
            if (first) {
                off = now - e->ts;
                first = false;
            }
            if (rdq_push(c, e) == 0) {
                e->ts += off;
                expired = true;
            }
        } else if (ttl - elapsed < next) {
            next = ttl - elapsed;
        }
    }
    if (next < ACK_WAIT_DELAY)
        next = ACK_WAIT_DELAY;
    c->pend_timer = p->npending > 0 ? now + next : INT64_MAX;
    pend_gc(c);
    if (expired) {
        st_cons_mark_dirty(c);
        st_cons_mark_ready(c);
    }
}

/* ------------------------------------------------------------------ */
/* Acks. */

static void
notify_ack(struct st_consumer *c, uint64_t lo, uint64_t hi)
{
    const struct st_cons_stream *s = c->set->s;
    if (s->retention != ST_RET_LIMITS && s->on_ack != NULL && lo <= hi
        && hi > 0)
        s->on_ack(s->arg, c, lo ? lo : 1, hi);
}

/* processAckMsg() for explicit and all; acks for AckNone are ignored. */
void
st_pend_ack(struct st_consumer *c, uint64_t sseq, uint64_t dseq, int64_t now)
{
    struct st_pend *p = c->pend;
    int64_t maxp = c->cfg.max_ack_pending;
    bool signal = false;
    uint64_t lo = sseq, hi = sseq;
    if (c->cfg.ack_policy == ST_AP_EXPLICIT) {
        struct st_pent *e = st_pend_find(p, sseq);
        if (e != NULL && (e->flags & PE_PENDING)) {
            if (maxp > 0 && p->npending >= (uint64_t)maxp)
                signal = true;
            dseq = e->dseq;
        }
        if (e != NULL)
            st_pend_kill(c, e);
        if (p == NULL || p->npending == 0) {
            c->adflr = c->dseq - 1;
            c->asflr = c->sseq - 1;
        } else if (dseq == c->adflr + 1) {
            c->adflr = dseq;
            c->asflr = sseq;
            for (uint32_t i = p->head; i < p->n; i++) {
                struct st_pent *x = &p->e[i];
                if (x->sseq > sseq && x->sseq < c->sseq
                    && (x->flags & PE_PENDING)) {
                    if (x->dseq > 0) {
                        c->adflr = x->dseq - 1;
                        c->asflr = x->sseq - 1;
                    }
                    break;
                }
            }
        }
    } else if (c->cfg.ack_policy == ST_AP_ALL) {
        if (dseq <= c->adflr || sseq <= c->asflr)
            return;
        if (p != NULL && maxp > 0 && p->npending >= (uint64_t)maxp)
            signal = true;
        lo = c->asflr + 1;
        c->adflr = dseq;
        c->asflr = sseq;
        for (uint32_t i = p ? p->head : 0; p && i < p->n
             && p->e[i].sseq <= sseq; i++)
            st_pend_kill(c, &p->e[i]);
    } else {
        return;
    }
    c->lat = now;
    pend_gc(c);
    st_cons_mark_dirty(c);
    if (signal)
        st_cons_mark_ready(c);
    notify_ack(c, lo, hi);
}

/* processNak() */
static void
pend_nak(struct st_consumer *c, uint64_t sseq, uint64_t dseq,
         const struct st_ack_body *b, int64_t now)
{
    if (dseq <= c->adflr || dseq > c->dseq)
        return;
    struct st_pent *e = st_pend_find(c->pend, sseq);
    if (e == NULL || !(e->flags & PE_PENDING))
        return;
    if (b->has_delay) {
        rdq_remove(c, e);
        e->ts = now - c->cfg.ack_wait + b->delay;
        int64_t d = st_pend_deadline(c, e);
        if (d < c->pend_timer)
            c->pend_timer = d;
        st_cons_mark_dirty(c);
        return;
    }
    if (rdq_push(c, e) == 0)
        st_cons_mark_ready(c);
}

/* progressUpdate(): +WPI restarts the deadline. */
static void
pend_progress(struct st_consumer *c, uint64_t sseq, int64_t now)
{
    struct st_pent *e = st_pend_find(c->pend, sseq);
    if (e == NULL || !(e->flags & PE_PENDING))
        return;
    e->ts = now;
    st_cons_mark_dirty(c);
}

int
st_consumer_ack(struct st_consumer *c, const char *subj, size_t subj_len,
                const char *body, size_t body_len, const char *reply,
                size_t reply_len, int64_t now, struct st_outbox *out)
{
    struct st_ack_meta m;
    struct st_ack_body b;
    bool skip_reply = false;
    int rc = 0;
    if (c == NULL || (c->flags & CF_CLOSED))
        return -EINVAL;
    if (st_ack_parse(subj, subj_len, &m) < 0)
        return -EINVAL;
    st_ack_body_parse(body, body_len, &b);
    switch (b.kind) {
    case ST_ACK_ACK:
    case ST_ACK_TERM:
        st_pend_ack(c, m.sseq, m.dseq, now);
        break;
    case ST_ACK_NEXT:
        st_pend_ack(c, m.sseq, m.dseq, now);
        skip_reply = true;
        if (reply_len > 0)
            rc = st_consumer_pull(c, reply, reply_len, b.arg, b.arg_len, now,
                                  out);
        break;
    case ST_ACK_NAK:
        pend_nak(c, m.sseq, m.dseq, &b, now);
        break;
    case ST_ACK_PROGRESS:
        pend_progress(c, m.sseq, now);
        break;
    default:
        break;
    }
    /* any ack keeps an idle consumer alive (suppressDeletion) */
    if (c->cfg.inactive_threshold > 0 && c->inact_from != 0)
        c->inact_from = now;
    if (reply_len > 0 && !skip_reply && out != NULL) {
        int arc = st_outbox_add(out, ST_OUT_REPLY, reply, reply_len, NULL, 0,
                                NULL, 0, NULL, 0, 0);
        if (arc < 0 && rc == 0)
            rc = arc;
    }
    st_cons_update_timer(c);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Stream removals and purges. */

/* decStreamPending(): message sseq left the stream. */
void
st_pend_removed(struct st_consumer *c, uint64_t sseq, int64_t now)
{
    struct st_pent *e = st_pend_find(c->pend, sseq);
    if (e != NULL && (e->flags & PE_PENDING))
        st_pend_ack(c, sseq, e->dseq, now);     /* processTerm */
}

/* purge(): everything below first is gone. */
void
st_pend_purge(struct st_consumer *c, uint64_t first)
{
    struct st_pend *p = c->pend;
    if (c->sseq < first)
        c->sseq = first;
    if (c->asflr < first) {
        c->asflr = first - 1;
        for (uint32_t i = p ? p->head : 0; p && i < p->n; i++) {
            struct st_pent *e = &p->e[i];
            if (e->sseq > c->asflr)
                break;
            if (!pent_alive(e))
                continue;
            if (e->dseq > c->adflr) {
                c->adflr = e->dseq;
                if (c->adflr > c->dseq)
                    c->dseq = c->adflr;
            }
            st_pend_kill(c, e);
        }
    }
    /* redeliveries below the new start are dropped with their entries */
    pend_gc(c);
    st_cons_mark_dirty(c);
}

/* Restore: the whole pending table of a state file. */
uint32_t
st_pend_count(const struct st_consumer *c, uint32_t *nrdc)
{
    if (nrdc != NULL)
        *nrdc = c->pend ? c->pend->nrdc : 0;
    return c->pend ? c->pend->npending : 0;
}

void
st_pend_free(struct st_consumer *c)
{
    if (c->pend == NULL)
        return;
    free(c->pend->e);
    free(c->pend->rdq);
    free(c->pend);
    c->pend = NULL;
}
