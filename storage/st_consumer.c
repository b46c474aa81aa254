/*
 * st_consumer.c -- the delivery state machine of a stream's consumers:
 * the outbox, the start position (deliver policies), num_pending,
 * timers and inactivity, selecting the next message (redeliveries
 * first, then last-per-subject, then the stream; with several filters
 * through per-filter positions), pull and push
 * delivery with heartbeats and flow control, replay original, and
 * stream events (append / remove / purge).  The set itself, create /
 * update / delete and ConsumerInfo are in st_consumer_set.c.
 *
 * NOTES
 *   Messages are read into the set's scratch buffer and copied into the
 *   outbox.
 *   A delivery is decided in two steps: peek the next message (no state
 *   change), find who takes it, check the outbox has room, then commit.
 *   So a full outbox (-ENOBUFS) never loses or duplicates a delivery.
 *   Semantics follow nats-server 2.9.10 consumer.go; deviations are
 *   listed in st_consumer.h.
 *   Errors: 0 or -errno.
 */
#include "st_consumer_int.h"

#include "dt_log.h"
#include "st_ack.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_MS 1000000LL
#define ACK_SUBJ_MAX 768

enum { SRC_NEW, SRC_RDQ, SRC_LSS };

/* ------------------------------------------------------------------ */
/* Outbox. */

void
st_outbox_init(struct st_outbox *o, size_t max_bytes, uint32_t max_recs)
{
    memset(o, 0, sizeof(*o));
    if (max_bytes == 0 || max_bytes > (1u << 30))
        max_bytes = max_bytes ? (1u << 30) : (16u << 20);
    o->bytes.cap = max_bytes;
    o->max = max_recs ? max_recs : 4096;
}

void
st_outbox_reset(struct st_outbox *o)
{
    o->bytes.len = 0;
    o->n = 0;
}

void
st_outbox_free(struct st_outbox *o)
{
    dt_buf_free(&o->bytes);
    free(o->rec);
    o->rec = NULL;
    o->n = o->cap = 0;
}

bool
st_outbox_room(const struct st_outbox *o, uint32_t recs, size_t bytes)
{
    return o != NULL && o->n + (uint64_t)recs <= o->max
           && o->bytes.len + bytes <= o->bytes.cap;
}

int
st_outbox_add(struct st_outbox *o, enum st_out_kind kind, const char *subj,
              size_t subj_len, const char *reply, size_t reply_len,
              const void *hdr, size_t hdr_len, const void *data,
              size_t data_len, uint64_t sseq)
{
    size_t total = subj_len + reply_len + hdr_len + data_len;
    if (o == NULL)
        return -EINVAL;
    if (!st_outbox_room(o, 1, total))
        return -ENOBUFS;
    if (o->n == o->cap) {
        uint32_t nc = o->cap ? o->cap * 2 : 64;
        struct st_out_rec *nr = realloc(o->rec, nc * sizeof(*nr));
        if (nr == NULL)
            return -ENOMEM;
        o->rec = nr;
        o->cap = nc;
    }
    size_t base = o->bytes.len;
    if (dt_buf_reserve(&o->bytes, total) < 0)
        return -ENOBUFS;
    struct st_out_rec *r = &o->rec[o->n];
    r->kind = (uint8_t)kind;
    r->sseq = sseq;
    r->subj_off = (uint32_t)base;
    r->subj_len = (uint32_t)subj_len;
    r->reply_off = (uint32_t)(base + subj_len);
    r->reply_len = (uint32_t)reply_len;
    r->hdr_off = r->reply_off + (uint32_t)reply_len;
    r->hdr_len = (uint32_t)hdr_len;
    r->data_off = r->hdr_off + (uint32_t)hdr_len;
    r->data_len = (uint32_t)data_len;
    r->msubj_off = r->msubj_len = 0;
    char *p = o->bytes.data + base;
    if (subj_len)
        memcpy(p, subj, subj_len);
    if (reply_len)
        memcpy(p + subj_len, reply, reply_len);
    if (hdr_len)
        memcpy(p + subj_len + reply_len, hdr, hdr_len);
    if (data_len)
        memcpy(p + subj_len + reply_len + hdr_len, data, data_len);
    o->bytes.len = base + total;
    o->n++;
    return 0;
}

int
st_outbox_set_subject(struct st_outbox *o, const char *subj, size_t len)
{
    if (o == NULL || o->n == 0)
        return -EINVAL;
    size_t base = o->bytes.len;
    if (dt_buf_append(&o->bytes, subj, len) < 0)
        return -ENOBUFS;
    o->rec[o->n - 1].msubj_off = (uint32_t)base;
    o->rec[o->n - 1].msubj_len = (uint32_t)len;
    return 0;
}

int
st_cons_status(struct st_outbox *out, const char *to, size_t to_len,
               const char *hdr, size_t hdr_len)
{
    if (out == NULL)
        return 0;
    return st_outbox_add(out, ST_OUT_STATUS, to, to_len, NULL, 0, hdr,
                         hdr_len, NULL, 0, 0);
}

/* ------------------------------------------------------------------ */
/* Counting what is pending in the stream. */

static size_t
slen(const char *f)
{
    return f != NULL ? strlen(f) : 0;
}

/* Messages matching filter f (NULL = all) with seq >= from. */
static uint64_t
count_one(struct st_consumer *c, const char *f, uint64_t from)
{
    struct st_store *st = c->set->s->store;
    struct st_subject_state ss;
    struct st_state state;
    struct st_msg m;
    if (st_store_subject_state(st, f, slen(f), &ss) < 0 || ss.msgs == 0
        || from > ss.last_seq)
        return 0;
    if (from <= ss.first_seq)
        return ss.msgs;
    st_store_state(st, &state);
    if (f == NULL && state.num_deleted == 0)
        return ss.last_seq - from + 1;
    uint64_t n = 0;
    for (uint64_t seq = from;
         st_store_next(st, seq, f, slen(f), &m, &c->set->scratch) == 0;
         seq = m.seq + 1)
        n++;
    return n;
}

/* Messages matching the consumer's filters with seq >= from.  The
 * filters cannot overlap (checked at create), so the counts add up. */
static uint64_t
count_from(struct st_consumer *c, uint64_t from)
{
    uint32_t nf = st_cons_config_nfilters(&c->cfg);
    uint64_t n = nf == 0 ? count_one(c, NULL, from) : 0;
    for (uint32_t i = 0; i < nf; i++)
        n += count_one(c, st_cons_config_filter(&c->cfg, i), from);
    return n;
}

/* ------------------------------------------------------------------ */
/* Finding the next message. */

void
st_cons_fcache_reset(struct st_consumer *c)
{
    free(c->fc);
    c->fc = NULL;
}

/* Several filters, from any `start`: the smallest of each filter's next
 * match (a store lookup per filter). */
static int
next_multi(struct st_consumer *c, uint64_t start, struct st_msg *m)
{
    struct st_store *st = c->set->s->store;
    uint32_t nf = st_cons_config_nfilters(&c->cfg);
    uint64_t best = 0, in_buf = 0;
    for (uint32_t i = 0; i < nf; i++) {
        const char *f = st_cons_config_filter(&c->cfg, i);
        int rc = st_store_next(st, start, f, strlen(f), m, &c->set->scratch);
        in_buf = rc == 0 ? m->seq : 0;
        if (rc == 0 && (best == 0 || m->seq < best))
            best = m->seq;
        else if (rc < 0 && rc != -ENOENT)
            return rc;
    }
    if (best == 0)
        return -ENOENT;
    return in_buf == best ? 0 : st_store_get(st, best, m, &c->set->scratch);
}

/* Several filters, from c->sseq: through the per-filter positions of
 * struct st_fcache.  A filter goes back to the store only when its
 * position fell behind c->sseq (it was delivered from) or new messages
 * arrived past what it had seen. */
static int
next_cached(struct st_consumer *c, struct st_msg *m)
{
    struct st_store *st = c->set->s->store;
    uint32_t nf = st_cons_config_nfilters(&c->cfg);
    uint64_t start = c->sseq;
    struct st_state state;
    int rc;
    if (c->fc != NULL && (c->fc->n != nf || start < c->fc->from))
        st_cons_fcache_reset(c);
    if (c->fc == NULL) {
        c->fc = calloc(1, sizeof(*c->fc) + nf * sizeof(c->fc->f[0]));
        if (c->fc == NULL)
            return next_multi(c, start, m);
        c->fc->n = nf;
    }
    struct st_fcache *fc = c->fc;
    fc->from = start;
    st_store_state(st, &state);
    /* each round returns or moves one position forward: bounded */
    for (;;) {
        uint64_t best = 0, in_buf = 0;
        uint32_t bi = 0;
        for (uint32_t i = 0; i < nf; i++) {
            struct st_fpos *p = &fc->f[i];
            if (p->pos < start) {
                p->pos = start;
                p->hit = false;
            }
            if (!p->hit && p->pos <= state.last_seq) {
                const char *f = st_cons_config_filter(&c->cfg, i);
                rc = st_store_next(st, p->pos, f, strlen(f), m,
                                   &c->set->scratch);
                in_buf = 0;
                if (rc == 0) {
                    p->pos = in_buf = m->seq;
                    p->hit = true;
                } else if (rc == -ENOENT) {
                    p->pos = state.last_seq + 1;
                } else {
                    return rc;
                }
            }
            if (p->hit && (best == 0 || p->pos < best)) {
                best = p->pos;
                bi = i;
            }
        }
        if (best == 0)
            return -ENOENT;
        if (in_buf == best)
            return 0;
        rc = st_store_get(st, best, m, &c->set->scratch);
        if (rc != -ENOENT)
            return rc;
        fc->f[bi].pos = best + 1;           /* removed since: look again */
        fc->f[bi].hit = false;
    }
}

/* The first message with seq >= start that the consumer's filters
 * match, read into the set's scratch buffer.  -ENOENT when none. */
static int
next_match(struct st_consumer *c, uint64_t start, struct st_msg *m)
{
    uint32_t nf = st_cons_config_nfilters(&c->cfg);
    if (nf <= 1) {
        const char *f = nf ? st_cons_config_filter(&c->cfg, 0) : NULL;
        return st_store_next(c->set->s->store, start, f, slen(f), m,
                             &c->set->scratch);
    }
    return start == c->sseq ? next_cached(c, m) : next_multi(c, start, m);
}

struct lps_ent {
    uint64_t seq;
    uint32_t off, len;
};

/* Subject -> last sequence, an open-addressing hash over `ents`. */
struct lps {
    struct dt_buf names;
    struct lps_ent *ents;
    uint32_t *slots;        /* entry index + 1, 0 = empty */
    uint32_t nent, cap, nslots;
};

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int
lps_grow(struct lps *t)
{
    uint32_t ns = t->nslots ? t->nslots * 2 : 64;
    uint32_t *nsl = calloc(ns, sizeof(*nsl));
    if (nsl == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < t->nent; i++) {
        uint32_t h = st_cons_hash(t->names.data + t->ents[i].off,
                                  t->ents[i].len);
        while (nsl[h & (ns - 1)] != 0)
            h++;
        nsl[h & (ns - 1)] = i + 1;
    }
    free(t->slots);
    t->slots = nsl;
    t->nslots = ns;
    return 0;
}

/* Message seq of subject subj: the newest of its subject so far. */
static int
lps_put(struct lps *t, const char *subj, size_t len, uint64_t seq)
{
    int rc;
    if (t->nent * 2 >= t->nslots && (rc = lps_grow(t)) < 0)
        return rc;
    for (uint32_t h = st_cons_hash(subj, len);; h++) {
        uint32_t s = t->slots[h & (t->nslots - 1)];
        if (s != 0) {
            struct lps_ent *e = &t->ents[s - 1];
            if (e->len == len && memcmp(t->names.data + e->off, subj,
                                        len) == 0) {
                e->seq = seq;
                return 0;
            }
            continue;
        }
        if (t->nent == t->cap) {
            uint32_t nc = t->cap ? t->cap * 2 : 32;
            struct lps_ent *ne = realloc(t->ents, nc * sizeof(*ne));
            if (ne == NULL)
                return -ENOMEM;
            t->ents = ne;
            t->cap = nc;
        }
        t->ents[t->nent] = (struct lps_ent){ seq, (uint32_t)t->names.len,
                                             (uint32_t)len };
        if ((rc = dt_buf_append(&t->names, subj, len)) < 0)
            return rc;
        t->slots[h & (t->nslots - 1)] = ++t->nent;
        return 0;
    }
}

/* The last sequence of every subject matching one of the filters (the
 * union over them, as 2.10), sorted, only those >= from.  Scans the
 * matching messages (the store has no per-subject listing yet). */
static int
lps_scan(struct st_consumer *c, uint64_t from, uint64_t **seqs, uint32_t *n)
{
    struct st_store *st = c->set->s->store;
    struct lps t = { 0 };
    uint32_t nf = st_cons_config_nfilters(&c->cfg);
    struct st_msg m;
    int rc = 0;
    *seqs = NULL;
    *n = 0;
    for (uint32_t fi = 0; rc == 0 && (fi < nf || (nf == 0 && fi == 0));
         fi++) {
        const char *f = nf ? st_cons_config_filter(&c->cfg, fi) : NULL;
        for (uint64_t seq = 1; rc == 0
             && st_store_next(st, seq, f, slen(f), &m, &c->set->scratch) == 0;
             seq = m.seq + 1)
            rc = lps_put(&t, m.subj, m.subj_len, m.seq);
    }
    uint64_t *v = rc == 0 ? malloc((t.nent ? t.nent : 1) * sizeof(*v)) : NULL;
    if (rc == 0 && v == NULL)
        rc = -ENOMEM;
    if (rc == 0) {
        uint32_t k = 0;
        for (uint32_t i = 0; i < t.nent; i++)
            if (t.ents[i].seq >= from)
                v[k++] = t.ents[i].seq;
        qsort(v, k, sizeof(*v), cmp_u64);
        *seqs = v;
        *n = k;
    }
    free(t.slots);
    free(t.ents);
    dt_buf_free(&t.names);
    return rc;
}

/* streamNumPending(): recount from the store. */
int64_t
st_cons_recount(struct st_consumer *c)
{
    struct st_state state;
    st_store_state(c->set->s->store, &state);
    if (c->cfg.deliver_policy == ST_DP_LAST_PER_SUBJECT) {
        uint64_t *v = NULL;
        uint32_t n = 0;
        if (lps_scan(c, c->sseq, &v, &n) == 0)
            c->npc = n;
        free(v);
    } else {
        c->npc = (int64_t)count_from(c, c->sseq);
    }
    c->npf = state.last_seq;
    return c->npc;
}

static uint64_t
num_pending(const struct st_consumer *c)
{
    return c->npc > 0 ? (uint64_t)c->npc : 0;
}

/* checkNumPending(): recount when the running count is clearly off. */
uint64_t
st_cons_check_num_pending(struct st_consumer *c)
{
    struct st_state state;
    st_store_state(c->set->s->store, &state);
    if ((c->sseq > state.last_seq && c->npc != 0)
        || c->npc > (int64_t)state.msgs)
        st_cons_recount(c);
    return num_pending(c);
}

/* GetSeqFromTime(): the first sequence with ts >= t. */
static uint64_t
seq_from_time(struct st_consumer *c, int64_t t)
{
    struct st_store *st = c->set->s->store;
    struct st_state state;
    struct st_msg m;
    st_store_state(st, &state);
    uint64_t lo = state.first_seq, hi = state.last_seq + 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (st_store_next(st, mid, NULL, 0, &m, &c->set->scratch) < 0
            || m.ts >= t)
            hi = mid;
        else
            lo = m.seq + 1;
    }
    return lo;
}

/* selectStartingSeqNo() */
int
st_cons_select_start(struct st_consumer *c)
{
    struct st_store *st = c->set->s->store;
    const struct st_cons_config *cfg = &c->cfg;
    struct st_state state;
    st_store_state(st, &state);
    uint64_t sseq;
    if (cfg->opt_start_seq == 0) {
        switch (cfg->deliver_policy) {
        case ST_DP_ALL:
            sseq = state.first_seq;
            break;
        case ST_DP_LAST: {
            /* the latest last message over the filters (2.10) */
            uint32_t nf = st_cons_config_nfilters(cfg);
            sseq = nf == 0 ? state.last_seq : 0;
            for (uint32_t i = 0; i < nf; i++) {
                const char *f = st_cons_config_filter(cfg, i);
                struct st_subject_state ss;
                if (st_store_subject_state(st, f, strlen(f), &ss) == 0
                    && ss.last_seq > sseq)
                    sseq = ss.last_seq;
            }
            break;
        }
        case ST_DP_LAST_PER_SUBJECT: {
            uint64_t *v;
            uint32_t n;
            int rc = lps_scan(c, 0, &v, &n);
            if (rc < 0)
                return rc;
            if (n > 0) {
                c->lss = malloc(sizeof(*c->lss));
                if (c->lss == NULL) {
                    free(v);
                    return -ENOMEM;
                }
                *c->lss = (struct st_lss){ state.last_seq, v, 0, n };
                sseq = v[0];
            } else {
                free(v);
                sseq = state.last_seq;
            }
            break;
        }
        case ST_DP_BY_START_TIME:
            sseq = seq_from_time(c, cfg->opt_start_time);
            break;
        default:
            sseq = state.last_seq + 1;
            break;
        }
    } else {
        sseq = cfg->opt_start_seq;
    }
    if (state.last_seq == 0 && state.msgs == 0)
        sseq = 1;
    else if (sseq < state.first_seq)
        sseq = state.first_seq;
    else if (sseq > state.last_seq)
        sseq = state.last_seq + 1;
    c->sseq = sseq;
    c->dseq = 1;
    /* the consumer store starts with an empty ack floor */
    c->adflr = c->asflr = 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Timers. */

void
st_cons_update_timer(struct st_consumer *c)
{
    int64_t t = INT64_MAX;
    int64_t thr = c->cfg.inactive_threshold;
    if (c->flags & CF_CLOSED)
        return;
    if (c->pend != NULL && c->pend->npending > 0 && c->pend_timer < t)
        t = c->pend_timer;
    if (!st_cons_is_push(c)) {
        int64_t w = st_pull_timer(c);
        if (w < t)
            t = w;
        if (thr > 0 && c->inact_from != 0 && c->inact_from + thr < t)
            t = c->inact_from + thr;
    } else {
        if (c->cfg.idle_heartbeat > 0 && (c->flags & CF_ACTIVE)
            && c->hb_next < t)
            t = c->hb_next;
        if (thr > 0 && !(c->flags & CF_ACTIVE) && c->inact_from != 0
            && c->inact_from + thr < t)
            t = c->inact_from + thr;
    }
    if (c->replay_due != 0 && c->replay_due < t)
        t = c->replay_due;
    c->timer = t;
    if (t == INT64_MAX)
        st_cons_list_del(c, L_TIMED);
    else
        st_cons_list_add(c, L_TIMED);
}

int64_t
st_consumer_next_timer(const struct st_consumer *c)
{
    return c->timer;
}

int64_t
st_cons_set_next_timer(const struct st_cons_set *set)
{
    if (set->head[L_READY] != NULL)
        return INT64_MIN;
    int64_t t = INT64_MAX;
    for (const struct st_consumer *c = set->head[L_TIMED]; c;
         c = c->link[L_TIMED].next)
        if (c->timer < t)
            t = c->timer;
    return t;
}

/* Ephemeral (or durable with inactive_threshold) idle for too long. */
static bool
idle_expired(struct st_consumer *c, int64_t now)
{
    int64_t thr = c->cfg.inactive_threshold;
    if (thr <= 0 || c->inact_from == 0 || now - c->inact_from < thr)
        return false;
    if (st_cons_is_push(c))
        return !(c->flags & CF_ACTIVE);
    if (st_pull_count_live(c, now) > 0) {
        c->inact_from = now;            /* requests still waiting */
        st_cons_update_timer(c);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Push extras: heartbeats and flow control. */

static int
fc_subject(const struct st_consumer *c, uint32_t id, char *dst, size_t cap)
{
    static const char alpha[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char tok[5];
    uint32_t v = id * 2654435761u;
    for (int i = 0; i < 4; i++) {
        tok[i] = alpha[v % 62];
        v /= 62;
    }
    tok[4] = '\0';
    int n = snprintf(dst, cap, "$JS.FC.%s.%s.%s", c->set->s->name, c->name,
                     tok);
    return (n < 0 || (size_t)n >= cap) ? -ENOSPC : n;
}

int
st_cons_heartbeat(struct st_consumer *c, struct st_outbox *out,
                  const char *to, size_t to_len)
{
    char hdr[1024];
    char fc[ACK_SUBJ_MAX];
    int n = snprintf(hdr, sizeof(hdr),
                     "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: %"
                     PRIu64 "\r\nNats-Last-Stream: %" PRIu64 "\r\n",
                     c->dseq - 1, c->sseq - 1);
    if (c->fcid != 0 && fc_subject(c, c->fcid, fc, sizeof(fc)) > 0)
        n += snprintf(hdr + n, sizeof(hdr) - (size_t)n,
                      "Nats-Consumer-Stalled: %s\r\n", fc);
    n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "\r\n");
    if (out == NULL)
        return 0;
    return st_outbox_add(out, ST_OUT_HEARTBEAT, to, to_len, NULL, 0, hdr,
                         (size_t)n, NULL, 0, 0);
}

int
st_consumer_fc_reply(struct st_consumer *c, const char *subj, size_t len,
                     int64_t now)
{
    char want[ACK_SUBJ_MAX];
    (void)now;
    if (c == NULL || c->fcid == 0)
        return 0;
    int n = fc_subject(c, c->fcid, want, sizeof(want));
    if (n < 0 || (size_t)n != len || memcmp(want, subj, len) != 0)
        return 0;                       /* not the latest: ignored */
    if (c->maxpb < c->pblimit) {
        c->maxpb *= 2;
        if (c->maxpb > c->pblimit)
            c->maxpb = c->pblimit;
    }
    c->pbytes -= c->fcsz;
    if (c->pbytes < 0)
        c->pbytes = 0;
    c->fcid = 0;
    c->fcsz = 0;
    st_cons_mark_ready(c);
    return 0;
}

/* needFlowControl() + sendFlowControl() after a delivery of sz bytes. */
static int
flow_control(struct st_consumer *c, int64_t sz, struct st_outbox *out)
{
    char fc[ACK_SUBJ_MAX];
    static const char hdr[] = "NATS/1.0 100 FlowControl Request\r\n\r\n";
    if (c->maxpb == 0)
        return 0;
    if (c->fcid == 0 && c->pbytes > c->maxpb / 2) {
        uint32_t id = ++c->set->fc_counter;
        if (id == 0)
            id = ++c->set->fc_counter;
        int n = fc_subject(c, id, fc, sizeof(fc));
        if (n < 0)
            return n;
        int rc = st_outbox_add(out, ST_OUT_FLOWCTL, c->cfg.deliver_subject,
                               strlen(c->cfg.deliver_subject), fc, (size_t)n,
                               hdr, sizeof(hdr) - 1, NULL, 0, 0);
        if (rc < 0)
            return rc;
        c->fcid = id;
        c->fcsz = c->pbytes;
        return 0;
    }
    if (c->fcid != 0 && c->pbytes - c->fcsz >= c->maxpb)
        c->fcsz += sz;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Delivery. */

struct cand {
    struct st_msg m;
    uint32_t dc;
    int src;
};

/* getNextMsg() without side effects on what it returns: redeliveries,
 * then the last-per-subject list, then the stream.  -ENOENT at the end
 * of the stream, -EAGAIN when max_ack_pending holds new deliveries. */
static int
next_msg(struct st_consumer *c, int64_t now, struct cand *k)
{
    struct st_cons_set *set = c->set;
    struct st_store *st = set->s->store;
    uint64_t seq;
    int rc;
    while ((seq = st_rdq_front(c)) != 0) {
        struct st_pent *e = st_pend_find(c->pend, seq);
        if (e == NULL || !(e->flags & PE_PENDING)) {
            st_rdq_pop(c);
            continue;
        }
        uint32_t dc = e->dc + 1;
        if (c->cfg.max_deliver > 0 && (int64_t)dc > c->cfg.max_deliver) {
            st_pend_exhaust(c, e, dc);
            st_cons_mark_dirty(c);
            if (set->s->on_max_deliver != NULL)
                set->s->on_max_deliver(set->s->arg, c, seq, dc - 1);
            continue;
        }
        rc = st_store_get(st, seq, &k->m, &set->scratch);
        if (rc == -ENOENT) {
            st_pend_ack(c, seq, e->dseq, now);  /* gone: as terminated */
            continue;
        }
        if (rc < 0)
            return rc;
        k->dc = dc;
        k->src = SRC_RDQ;
        return 0;
    }
    int64_t maxp = c->cfg.max_ack_pending;
    if (maxp > 0 && c->pend != NULL && c->pend->npending >= (uint64_t)maxp)
        return -EAGAIN;
    while (c->lss != NULL) {
        struct st_lss *l = c->lss;
        /* several filters: the listed message matched one when listed,
         * read it directly (next_multi() costs a lookup per filter) */
        rc = -ENOENT;
        if (st_cons_config_nfilters(&c->cfg) > 1) {
            rc = st_store_get(st, l->seqs[l->i], &k->m, &set->scratch);
            if (rc == 0 && !st_cons_filter_match(c, k->m.subj, k->m.subj_len))
                rc = -ENOENT;           /* the filters changed since */
        }
        if (rc == -ENOENT)
            rc = next_match(c, l->seqs[l->i], &k->m);
        if (rc == 0) {
            k->dc = 1;
            k->src = SRC_LSS;
            return 0;
        }
        if (rc != -ENOENT)
            return rc;
        /* nothing left at or after it: the list is done */
        if (c->sseq < l->resume)
            c->sseq = l->resume;
        free(l->seqs);
        free(l);
        c->lss = NULL;
    }
    rc = next_match(c, c->sseq, &k->m);
    if (rc == -ENOENT) {
        struct st_state state;
        st_store_state(st, &state);
        if (c->sseq <= state.last_seq)
            c->sseq = state.last_seq + 1;
        if (c->sseq > state.last_seq && c->npc != 0) {
            c->npc = 0;                 /* checkNumPendingOnEOF() */
            c->npf = state.last_seq;
        }
        return -ENOENT;
    }
    if (rc < 0)
        return rc;
    k->dc = 1;
    k->src = SRC_NEW;
    return 0;
}

/* The message as sent: headers_only replaces the payload by a
 * Nats-Msg-Size header. */
static int
shape(struct st_consumer *c, const struct st_msg *m, const void **hdr,
      size_t *hdr_len, const void **data, size_t *data_len)
{
    *hdr = m->hdr;
    *hdr_len = m->hdr_len;
    *data = m->data;
    *data_len = m->data_len;
    if (!c->cfg.headers_only)
        return 0;
    struct dt_buf *b = &c->set->hdrbuf;
    int rc;
    b->len = 0;
    if (m->hdr_len >= 4)
        rc = dt_buf_append(b, m->hdr, m->hdr_len - 2);
    else
        rc = dt_buf_puts(b, "NATS/1.0\r\n");
    if (rc == 0)
        rc = dt_buf_printf(b, "Nats-Msg-Size: %zu\r\n\r\n", m->data_len);
    if (rc < 0)
        return rc;
    *hdr = b->data;
    *hdr_len = b->len;
    *data = NULL;
    *data_len = 0;
    return 0;
}

/* Apply a delivery that is already in the outbox. */
static void
commit(struct st_consumer *c, const struct cand *k, int64_t sz, int64_t now)
{
    uint64_t seq = k->m.seq;
    uint64_t dseq = c->dseq;
    const struct st_cons_stream *s = c->set->s;
    switch (k->src) {
    case SRC_RDQ:
        st_rdq_pop(c);
        break;
    case SRC_LSS:
        if (++c->lss->i == c->lss->n) {
            c->sseq = c->lss->resume;
            free(c->lss->seqs);
            free(c->lss);
            c->lss = NULL;
        }
        /* fall through */
    default:
        if (seq >= c->sseq)
            c->sseq = seq + 1;
        break;
    }
    if (k->dc == 1)
        c->npc--;
    c->dseq++;
    if (c->cfg.ack_policy != ST_AP_NONE) {
        (void)st_pend_track(c, seq, dseq, k->dc, now);
    } else {
        c->adflr = dseq;
        c->asflr = seq;
    }
    c->ldt = now;
    if (st_cons_is_push(c)) {
        if (c->maxpb > 0)
            c->pbytes += sz;
        if (c->cfg.idle_heartbeat > 0)
            c->hb_next = now + c->cfg.idle_heartbeat;
    } else if (c->cfg.inactive_threshold > 0) {
        c->inact_from = now;
    }
    if (c->flags & CF_REPLAY) {
        c->replay_lts = k->m.ts;
        c->replay_at = now;
    }
    st_cons_mark_dirty(c);
    if (c->cfg.ack_policy == ST_AP_NONE && s->retention != ST_RET_LIMITS
        && s->on_ack != NULL)
        s->on_ack(s->arg, c, seq, seq);
}

/* One delivery.  Returns 1 delivered, 0 nothing to do (*why says:
 * -ENOENT end of stream, -EAGAIN max ack pending, -EBUSY no taker or
 * waiting on replay), -ENOBUFS when out is full, or -errno. */
static int
deliver_one(struct st_consumer *c, int64_t now, struct st_outbox *out,
            int *why)
{
    struct cand k;
    char ack[ACK_SUBJ_MAX];
    const void *hdr, *data;
    size_t hdr_len, data_len;
    int rc;
    *why = -EBUSY;
    if (c->replay_due != 0) {
        if (now < c->replay_due)
            return 0;
        c->replay_due = 0;
    }
    if (st_cons_is_push(c)) {
        if (!(c->flags & CF_ACTIVE)
            || (c->maxpb > 0 && c->pbytes > c->maxpb))
            return 0;
    } else if (c->wq == NULL || c->wq->n == 0) {
        return 0;
    }
    rc = next_msg(c, now, &k);
    if (rc == -ENOENT || rc == -EAGAIN) {
        *why = rc;
        return 0;
    }
    if (rc < 0)
        return rc;
    if ((c->flags & CF_REPLAY) && c->replay_lts > 0) {
        int64_t delay = k.m.ts - c->replay_lts;
        if (delay > NS_PER_MS && now < c->replay_at + delay) {
            c->replay_due = c->replay_at + delay;
            return 0;
        }
    }
    int64_t pend = c->npc - (k.dc == 1);
    int an = st_ack_format(ack, sizeof(ack), c->set->s->name,
                           strlen(c->set->s->name), c->name, c->name_len,
                           k.dc, k.m.seq, c->dseq, k.m.ts,
                           pend > 0 ? (uint64_t)pend : 0);
    if (an < 0)
        return an;
    if ((rc = shape(c, &k.m, &hdr, &hdr_len, &data, &data_len)) < 0)
        return rc;
    int64_t sz = (int64_t)(k.m.subj_len + (size_t)an + hdr_len + data_len);
    const char *to;
    size_t to_len;
    if (st_cons_is_push(c)) {
        to = c->cfg.deliver_subject;
        to_len = strlen(to);
    } else {
        struct st_wreq *wr;
        if ((rc = st_pull_next_waiting(c, now, sz, out, &wr)) < 0)
            return rc;
        if (wr == NULL)
            return 0;
        to = wr->reply;
        to_len = wr->reply_len;
    }
    /* room for the message and a flow-control request after it */
    if (!st_outbox_room(out, 2, (size_t)sz + 2 * to_len + ACK_SUBJ_MAX + 128))
        return -ENOBUFS;
    rc = st_outbox_add(out, ST_OUT_MSG, to, to_len, ack, (size_t)an, hdr,
                       hdr_len, data, data_len, k.m.seq);
    if (rc == 0)
        rc = st_outbox_set_subject(out, k.m.subj, k.m.subj_len);
    if (rc < 0)
        return rc;
    int64_t psz = (int64_t)(to_len + (size_t)an + hdr_len + data_len);
    if (!st_cons_is_push(c))
        st_pull_take(c, sz, now);
    commit(c, &k, psz, now);
    if (st_cons_is_push(c))
        (void)flow_control(c, psz, out);
    return 1;
}

int
st_consumer_run(struct st_consumer *c, int64_t now, struct st_outbox *out,
                unsigned budget)
{
    int rc = 0, why = -EBUSY;
    unsigned done = 0;
    bool more = false;
    if (c == NULL || out == NULL)
        return -EINVAL;
    if (c->flags & CF_CLOSED)
        return 0;
    if (c->pend != NULL && now >= c->pend_timer)
        st_pend_check(c, now);
    if (!st_cons_is_push(c) && c->wq != NULL
        && (rc = st_pull_process_waiting(c, now, false, out, NULL, NULL)) < 0)
        goto out;
    for (;;) {
        if (budget != 0 && done >= budget) {
            more = true;
            break;
        }
        rc = deliver_one(c, now, out, &why);
        if (rc <= 0)
            break;
        done++;
    }
    if (rc < 0 && rc != -ENOBUFS) {
        dt_warn("consumer %s > %s: reading the next message failed: %s",
                c->set->s->name, c->name, strerror(-rc));
        rc = 0;
    }
    if (rc == -ENOBUFS)
        goto out;
    if ((c->flags & CF_REPLAY) && c->sseq > c->replay_lseq)
        c->flags &= ~CF_REPLAY;
    if (!st_cons_is_push(c) && c->wq != NULL) {
        bool eos = !more && why != -EAGAIN && c->replay_due == 0;
        if ((rc = st_pull_process_waiting(c, now, eos, out, NULL, NULL)) < 0)
            goto out;
    }
    if (st_cons_is_push(c) && c->cfg.idle_heartbeat > 0 && now >= c->hb_next) {
        if (c->flags & CF_ACTIVE) {
            rc = st_cons_heartbeat(c, out, c->cfg.deliver_subject,
                                   strlen(c->cfg.deliver_subject));
            if (rc < 0)
                goto out;
        }
        c->hb_next = now + c->cfg.idle_heartbeat;
    }
    rc = more ? 1 : 0;
out:
    st_cons_update_timer(c);
    return rc;
}

int
st_cons_set_run(struct st_cons_set *set, int64_t now, struct st_outbox *out,
                unsigned budget)
{
    unsigned left = budget;
    for (struct st_consumer *c = set->head[L_TIMED]; c;
         c = c->link[L_TIMED].next)
        if (c->timer <= now)
            st_cons_mark_ready(c);
    while (set->head[L_READY] != NULL) {
        struct st_consumer *c = set->head[L_READY];
        size_t before = out->n;
        int rc = st_consumer_run(c, now, out, budget ? left : 0);
        if (rc < 0 && rc != -ENOBUFS)
            rc = 0;
        if (rc == -ENOBUFS)
            return rc;
        if (budget != 0) {
            size_t made = out->n - before;
            left = made >= left ? 0 : left - (unsigned)made;
        }
        if (rc == 1 || (budget != 0 && left == 0)) {
            if (rc == 0)
                st_cons_list_del(c, L_READY);
            return 1;
        }
        st_cons_list_del(c, L_READY);
        if (idle_expired(c, now))
            st_consumer_delete(c, now, out);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Stream events. */

static void
signal_new(struct st_consumer *c, uint64_t seq)
{
    if (seq > c->npf)
        c->npc++;
    if (seq < c->sseq)
        return;
    if ((st_cons_is_push(c) && (c->flags & CF_ACTIVE))
        || (!st_cons_is_push(c) && c->wq != NULL && c->wq->n > 0))
        st_cons_mark_ready(c);
}

void
st_cons_set_on_append(struct st_cons_set *set, uint64_t seq,
                      const char *subj, size_t len)
{
    uint32_t h = st_cons_hash(subj, len);
    for (struct st_consumer *c = set->fbuckets[h & (set->nfbuckets - 1)]; c;
         c = c->fnext)
        if (st_cons_filter_match(c, subj, len))
            signal_new(c, seq);
    for (struct st_consumer *c = set->wild; c; c = c->fnext)
        if (st_cons_filter_match(c, subj, len))
            signal_new(c, seq);
}

static void
removed(struct st_consumer *c, uint64_t seq, int64_t now)
{
    if (seq >= c->sseq)
        c->npc--;
    st_pend_removed(c, seq, now);
    st_cons_update_timer(c);
}

void
st_cons_set_on_remove(struct st_cons_set *set, uint64_t seq,
                      const char *subj, size_t len, int64_t now)
{
    uint32_t h = st_cons_hash(subj, len);
    for (struct st_consumer *c = set->fbuckets[h & (set->nfbuckets - 1)], *nx;
         c; c = nx) {
        nx = c->fnext;
        if (st_cons_filter_match(c, subj, len))
            removed(c, seq, now);
    }
    for (struct st_consumer *c = set->wild, *nx; c; c = nx) {
        nx = c->fnext;
        if (st_cons_filter_match(c, subj, len))
            removed(c, seq, now);
    }
}

void
st_cons_set_on_purge(struct st_cons_set *set, uint64_t first_seq,
                     uint64_t last_seq, int64_t now)
{
    if (first_seq == 0)
        first_seq = last_seq + 1;
    for (uint32_t b = 0; b < set->nbuckets; b++) {
        for (struct st_consumer *c = set->buckets[b]; c; c = c->hnext) {
            st_pend_purge(c, first_seq);
            if (c->lss != NULL) {
                struct st_lss *l = c->lss;
                while (l->i < l->n && l->seqs[l->i] < first_seq)
                    l->i++;
                if (l->i == l->n) {
                    if (c->sseq < l->resume)
                        c->sseq = l->resume;
                    free(l->seqs);
                    free(l);
                    c->lss = NULL;
                }
            }
            st_cons_recount(c);
            st_cons_update_timer(c);
        }
    }
    (void)now;
}
