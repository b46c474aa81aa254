/*
 * st_consumer.c -- the consumer set of a stream and the delivery state
 * machine: create / update / delete, the start position (deliver
 * policies), num_pending, selecting the next message (redeliveries
 * first, then last-per-subject, then the stream), pull and push
 * delivery with heartbeats and flow control, replay original, stream
 * events, ConsumerInfo, timers and inactivity.
 *
 * NOTES
 *   Ownership: the set owns its consumers (name hash + filter index +
 *   three intrusive lists: ready, timed, dirty).  Messages are read into
 *   the set's scratch buffer and copied into the outbox.
 *   A delivery is decided in two steps: peek the next message (no state
 *   change), find who takes it, check the outbox has room, then commit.
 *   So a full outbox (-ENOBUFS) never loses or duplicates a delivery.
 *   Semantics follow nats-server 2.9.10 consumer.go; deviations are
 *   listed in st_consumer.h.
 *   Errors: 0 or -errno.
 */
#include "st_consumer_int.h"

#include "dt_log.h"
#include "dt_subject.h"
#include "st_ack.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_MS 1000000LL
#define FC_DEFAULT_WINDOW (32u << 20)
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
st_cons_status(struct st_outbox *out, const char *to, size_t to_len,
               const char *hdr, size_t hdr_len)
{
    if (out == NULL)
        return 0;
    return st_outbox_add(out, ST_OUT_STATUS, to, to_len, NULL, 0, hdr,
                         hdr_len, NULL, 0, 0);
}

/* ------------------------------------------------------------------ */
/* Hashing, lists, indexes. */

uint32_t
st_cons_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

void
st_cons_list_add(struct st_consumer *c, int which)
{
    struct st_cons_set *set = c->set;
    if (c->lists & (1u << which))
        return;
    c->link[which].prev = NULL;
    c->link[which].next = set->head[which];
    if (set->head[which] != NULL)
        set->head[which]->link[which].prev = c;
    set->head[which] = c;
    c->lists |= (uint8_t)(1u << which);
}

void
st_cons_list_del(struct st_consumer *c, int which)
{
    struct st_cons_set *set = c->set;
    if (!(c->lists & (1u << which)))
        return;
    struct st_consumer *p = c->link[which].prev, *n = c->link[which].next;
    if (p != NULL)
        p->link[which].next = n;
    else
        set->head[which] = n;
    if (n != NULL)
        n->link[which].prev = p;
    c->link[which].prev = c->link[which].next = NULL;
    c->lists &= (uint8_t)~(1u << which);
}

void
st_cons_mark_ready(struct st_consumer *c)
{
    if (!(c->flags & CF_CLOSED))
        st_cons_list_add(c, L_READY);
}

void
st_cons_mark_dirty(struct st_consumer *c)
{
    if (c->cfg.durable != NULL && c->set->s->state_dir != NULL)
        st_cons_list_add(c, L_DIRTY);
}

static bool
filter_literal(const struct st_cons_config *cfg)
{
    const char *f = cfg->filter;
    return f != NULL && dt_subject_valid_literal(f, strlen(f));
}

bool
st_cons_filter_match(const struct st_consumer *c, const char *subj,
                     size_t len)
{
    const char *f = c->cfg.filter;
    if (f == NULL)
        return true;
    size_t fl = strlen(f);
    if (!(c->flags & CF_FILTER_WC))
        return fl == len && memcmp(f, subj, len) == 0;
    return dt_subject_matches(f, fl, subj, len);
}

static int
grow_buckets(struct st_consumer ***bk, uint32_t *nb, bool by_filter,
             struct st_cons_set *set)
{
    uint32_t nn = *nb * 2;
    struct st_consumer **nbk = calloc(nn, sizeof(*nbk));
    if (nbk == NULL)
        return -ENOMEM;
    if (!by_filter) {
        for (uint32_t i = 0; i < *nb; i++) {
            for (struct st_consumer *c = (*bk)[i], *nx; c; c = nx) {
                nx = c->hnext;
                c->hnext = nbk[c->hash & (nn - 1)];
                nbk[c->hash & (nn - 1)] = c;
            }
        }
    } else {
        for (uint32_t i = 0; i < *nb; i++) {
            for (struct st_consumer *c = (*bk)[i], *nx; c; c = nx) {
                nx = c->fnext;
                uint32_t h = st_cons_hash(c->cfg.filter, strlen(c->cfg.filter));
                c->fnext = nbk[h & (nn - 1)];
                nbk[h & (nn - 1)] = c;
            }
        }
    }
    (void)set;
    free(*bk);
    *bk = nbk;
    *nb = nn;
    return 0;
}

static void
index_add(struct st_consumer *c)
{
    struct st_cons_set *set = c->set;
    c->flags &= ~CF_FILTER_WC;
    if (filter_literal(&c->cfg)) {
        if (set->count > set->nfbuckets)
            (void)grow_buckets(&set->fbuckets, &set->nfbuckets, true, set);
        uint32_t h = st_cons_hash(c->cfg.filter, strlen(c->cfg.filter));
        uint32_t b = h & (set->nfbuckets - 1);
        c->fnext = set->fbuckets[b];
        set->fbuckets[b] = c;
    } else {
        if (c->cfg.filter != NULL)
            c->flags |= CF_FILTER_WC;
        c->fnext = set->wild;
        set->wild = c;
    }
}

static void
index_del(struct st_consumer *c)
{
    struct st_cons_set *set = c->set;
    struct st_consumer **pp;
    if (filter_literal(&c->cfg)) {
        uint32_t h = st_cons_hash(c->cfg.filter, strlen(c->cfg.filter));
        pp = &set->fbuckets[h & (set->nfbuckets - 1)];
    } else {
        pp = &set->wild;
    }
    for (; *pp != NULL; pp = &(*pp)->fnext) {
        if (*pp == c) {
            *pp = c->fnext;
            break;
        }
    }
    c->fnext = NULL;
}

static int
names_add(struct st_consumer *c)
{
    struct st_cons_set *set = c->set;
    if (set->count >= set->nbuckets
        && grow_buckets(&set->buckets, &set->nbuckets, false, set) < 0)
        return -ENOMEM;
    uint32_t b = c->hash & (set->nbuckets - 1);
    c->hnext = set->buckets[b];
    set->buckets[b] = c;
    set->count++;
    return 0;
}

static void
names_del(struct st_consumer *c)
{
    struct st_cons_set *set = c->set;
    struct st_consumer **pp = &set->buckets[c->hash & (set->nbuckets - 1)];
    for (; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == c) {
            *pp = c->hnext;
            set->count--;
            break;
        }
    }
}

/* ------------------------------------------------------------------ */
/* The set. */

int
st_cons_set_new(struct st_cons_set **out, const struct st_cons_stream *s)
{
    if (out == NULL || s == NULL || s->name == NULL || s->store == NULL)
        return -EINVAL;
    struct st_cons_set *set = calloc(1, sizeof(*set));
    if (set == NULL)
        return -ENOMEM;
    set->s = s;
    set->nbuckets = set->nfbuckets = 16;
    set->buckets = calloc(set->nbuckets, sizeof(*set->buckets));
    set->fbuckets = calloc(set->nfbuckets, sizeof(*set->fbuckets));
    if (set->buckets == NULL || set->fbuckets == NULL) {
        free(set->buckets);
        free(set->fbuckets);
        free(set);
        return -ENOMEM;
    }
    set->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)set;
    *out = set;
    return 0;
}

static void cons_free(struct st_consumer *c);

void
st_cons_set_free(struct st_cons_set *set)
{
    if (set == NULL)
        return;
    (void)st_cons_set_flush(set);
    for (uint32_t b = 0; b < set->nbuckets; b++) {
        for (struct st_consumer *c = set->buckets[b], *nx; c; c = nx) {
            nx = c->hnext;
            cons_free(c);
        }
    }
    free(set->buckets);
    free(set->fbuckets);
    dt_buf_free(&set->scratch);
    dt_buf_free(&set->hdrbuf);
    free(set);
}

const struct st_cons_stream *
st_cons_set_stream(const struct st_cons_set *set)
{
    return set->s;
}

size_t
st_cons_set_count(const struct st_cons_set *set)
{
    return set->count;
}

struct st_consumer *
st_cons_set_find(const struct st_cons_set *set, const char *name, size_t len)
{
    if (set == NULL || name == NULL)
        return NULL;
    uint32_t h = st_cons_hash(name, len);
    for (struct st_consumer *c = set->buckets[h & (set->nbuckets - 1)]; c;
         c = c->hnext)
        if (c->hash == h && c->name_len == len
            && memcmp(c->name, name, len) == 0)
            return c;
    return NULL;
}

static int
by_name(const void *a, const void *b)
{
    const struct st_consumer *x = *(struct st_consumer *const *)a;
    const struct st_consumer *y = *(struct st_consumer *const *)b;
    return strcmp(x->name, y->name);
}

int
st_cons_set_sorted(const struct st_cons_set *set, struct st_consumer ***out,
                   size_t *n)
{
    struct st_consumer **v = malloc((set->count ? set->count : 1) * sizeof(*v));
    size_t k = 0;
    if (v == NULL)
        return -ENOMEM;
    for (uint32_t b = 0; b < set->nbuckets; b++)
        for (struct st_consumer *c = set->buckets[b]; c; c = c->hnext)
            v[k++] = c;
    qsort(v, k, sizeof(*v), by_name);
    *out = v;
    *n = k;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Counting what is pending in the stream. */

static size_t
filter_len(const struct st_consumer *c)
{
    return c->cfg.filter ? strlen(c->cfg.filter) : 0;
}

/* Messages matching the filter with seq >= from. */
static uint64_t
count_from(struct st_consumer *c, uint64_t from)
{
    struct st_store *st = c->set->s->store;
    struct st_subject_state ss;
    struct st_state state;
    struct st_msg m;
    if (st_store_subject_state(st, c->cfg.filter, filter_len(c), &ss) < 0
        || ss.msgs == 0 || from > ss.last_seq)
        return 0;
    if (from <= ss.first_seq)
        return ss.msgs;
    st_store_state(st, &state);
    if (c->cfg.filter == NULL && state.num_deleted == 0)
        return ss.last_seq - from + 1;
    uint64_t n = 0;
    for (uint64_t seq = from;
         st_store_next(st, seq, c->cfg.filter, filter_len(c), &m,
                       &c->set->scratch) == 0;
         seq = m.seq + 1)
        n++;
    return n;
}

struct lps_ent {
    uint64_t seq;
    uint32_t off, len;
};

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The last sequence of every subject matching the filter, sorted, only
 * those >= from.  Scans the matching messages (the store has no
 * per-subject listing yet). */
static int
lps_scan(struct st_consumer *c, uint64_t from, uint64_t **seqs, uint32_t *n)
{
    struct st_store *st = c->set->s->store;
    struct dt_buf names = { 0 };
    struct lps_ent *ents = NULL;
    uint32_t *slots = NULL;
    uint32_t nent = 0, cap = 0, nslots = 0;
    struct st_msg m;
    int rc = 0;
    *seqs = NULL;
    *n = 0;
    for (uint64_t seq = 1;
         st_store_next(st, seq, c->cfg.filter, filter_len(c), &m,
                       &c->set->scratch) == 0;
         seq = m.seq + 1) {
        if (nent * 2 >= nslots) {
            uint32_t ns = nslots ? nslots * 2 : 64;
            uint32_t *nsl = calloc(ns, sizeof(*nsl));
            if (nsl == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            for (uint32_t i = 0; i < nent; i++) {
                uint32_t h = st_cons_hash(names.data + ents[i].off,
                                          ents[i].len);
                while (nsl[h & (ns - 1)] != 0)
                    h++;
                nsl[h & (ns - 1)] = i + 1;
            }
            free(slots);
            slots = nsl;
            nslots = ns;
        }
        uint32_t h = st_cons_hash(m.subj, m.subj_len);
        for (;; h++) {
            uint32_t s = slots[h & (nslots - 1)];
            if (s == 0) {
                if (nent == cap) {
                    uint32_t nc = cap ? cap * 2 : 32;
                    struct lps_ent *ne = realloc(ents, nc * sizeof(*ne));
                    if (ne == NULL) {
                        rc = -ENOMEM;
                        goto out;
                    }
                    ents = ne;
                    cap = nc;
                }
                ents[nent] = (struct lps_ent){ m.seq, (uint32_t)names.len,
                                               (uint32_t)m.subj_len };
                if ((rc = dt_buf_append(&names, m.subj, m.subj_len)) < 0)
                    goto out;
                slots[h & (nslots - 1)] = ++nent;
                break;
            }
            struct lps_ent *e = &ents[s - 1];
            if (e->len == m.subj_len
                && memcmp(names.data + e->off, m.subj, m.subj_len) == 0) {
                e->seq = m.seq;
                break;
            }
        }
    }
    uint64_t *v = malloc((nent ? nent : 1) * sizeof(*v));
    if (v == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < nent; i++)
        if (ents[i].seq >= from)
            v[k++] = ents[i].seq;
    qsort(v, k, sizeof(*v), cmp_u64);
    *seqs = v;
    *n = k;
out:
    free(slots);
    free(ents);
    dt_buf_free(&names);
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
static uint64_t
check_num_pending(struct st_consumer *c)
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
static int
select_start(struct st_consumer *c)
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
        case ST_DP_LAST:
            sseq = state.last_seq;
            if (cfg->filter != NULL) {
                struct st_subject_state ss;
                if (st_store_subject_state(st, cfg->filter, filter_len(c),
                                           &ss) == 0)
                    sseq = ss.last_seq;
            }
            break;
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

static bool
is_push(const struct st_consumer *c)
{
    return c->cfg.deliver_subject != NULL;
}

void
st_cons_update_timer(struct st_consumer *c)
{
    int64_t t = INT64_MAX;
    int64_t thr = c->cfg.inactive_threshold;
    if (c->flags & CF_CLOSED)
        return;
    if (c->pend != NULL && c->pend->npending > 0 && c->pend_timer < t)
        t = c->pend_timer;
    if (!is_push(c)) {
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
    if (is_push(c))
        return !(c->flags & CF_ACTIVE);
    if (st_pull_count_live(c, now) > 0) {
        c->inact_from = now;            /* requests still waiting */
        st_cons_update_timer(c);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Create / update / delete. */

static void
cons_free(struct st_consumer *c)
{
    st_pend_free(c);
    st_pull_free(c);
    if (c->lss != NULL) {
        free(c->lss->seqs);
        free(c->lss);
    }
    st_cons_config_free(&c->cfg);
    free(c);
}

static void
gen_name(struct st_cons_set *set, char *buf)
{
    static const char alpha[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    do {
        for (int i = 0; i < 8; i++) {
            set->rng ^= set->rng << 13;
            set->rng ^= set->rng >> 7;
            set->rng ^= set->rng << 17;
            buf[i] = alpha[set->rng % 62];
        }
        buf[8] = '\0';
    } while (st_cons_set_find(set, buf, 8) != NULL);
}

static bool
has_interest(const struct st_consumer *c, const char *subj)
{
    const struct st_cons_stream *s = c->set->s;
    return s->has_interest == NULL
           || s->has_interest(s->arg, subj, strlen(subj));
}

static void
setup_push(struct st_consumer *c, int64_t now)
{
    const struct st_cons_stream *s = c->set->s;
    if (has_interest(c, c->cfg.deliver_subject)) {
        c->flags |= CF_ACTIVE;
        c->inact_from = 0;
    } else {
        c->flags &= ~CF_ACTIVE;
        c->inact_from = now;
    }
    if (c->cfg.flow_control) {
        c->pblimit = (int64_t)(s->fc_window ? s->fc_window : FC_DEFAULT_WINDOW);
        c->maxpb = c->pblimit / 16 ? c->pblimit / 16 : 1;
    } else {
        c->pblimit = c->maxpb = 0;
    }
    if (c->cfg.idle_heartbeat > 0)
        c->hb_next = now + c->cfg.idle_heartbeat;
}

int
st_consumer_create(struct st_cons_set *set, const struct st_cons_config *cfg,
                   int64_t now, bool recovering, struct st_consumer **out,
                   struct st_api_err *err)
{
    char gen[9];
    const char *name;
    int rc;
    if (set == NULL || cfg == NULL || out == NULL)
        return -EINVAL;
    *out = NULL;
    if ((rc = st_cons_check(set, cfg, recovering, err)) < 0)
        return rc;
    if (cfg->durable != NULL) {
        name = cfg->durable;
    } else if (cfg->name != NULL) {
        name = cfg->name;
    } else {
        gen_name(set, gen);
        name = gen;
    }
    if (st_cons_set_find(set, name, strlen(name)) != NULL) {
        st_api_err_set(err, 400, 10013, "consumer name already in use");
        return -EEXIST;
    }
    if (!recovering && (rc = st_cons_check_add(set, cfg, name, err)) < 0)
        return rc;
    size_t nl = strlen(name);
    if (nl > ST_CONS_MAX_NAME) {
        st_api_err_set(err, 400, 10102, "consumer name is too long, maximum allowed is %d", ST_CONS_MAX_NAME);
        return -EINVAL;
    }
    struct st_consumer *c = calloc(1, sizeof(*c) + nl + 1);
    if (c == NULL)
        goto nomem;
    if (st_cons_config_copy(&c->cfg, cfg) < 0) {
        free(c);
        goto nomem;
    }
    memcpy(c->name_buf, name, nl + 1);
    c->name = c->name_buf;
    c->name_len = (uint32_t)nl;
    c->hash = st_cons_hash(name, nl);
    c->set = set;
    c->created = now;
    c->pend_timer = INT64_MAX;
    c->timer = INT64_MAX;
    if (c->cfg.durable == NULL && c->cfg.inactive_threshold <= 0)
        c->cfg.inactive_threshold = 5000 * NS_PER_MS;
    if ((rc = select_start(c)) < 0) {
        cons_free(c);
        return rc;
    }
    if (is_push(c))
        setup_push(c, now);
    else
        c->inact_from = now;
    if (c->cfg.replay_policy == ST_RP_ORIGINAL) {
        struct st_state state;
        st_store_state(set->s->store, &state);
        c->flags |= CF_REPLAY;
        c->replay_lseq = state.last_seq;
    }
    st_cons_recount(c);
    if (names_add(c) < 0) {
        cons_free(c);
        goto nomem;
    }
    index_add(c);
    if (c->cfg.durable != NULL && set->s->state_dir != NULL && !recovering
        && st_cons_state_write(c) < 0) {
        index_del(c);
        names_del(c);
        cons_free(c);
        st_api_err_set(err, 500, 10012, "error creating store for consumer");
        return -EIO;
    }
    if (set->s->on_event != NULL)
        set->s->on_event(set->s->arg, c, ST_CONS_CREATED);
    st_cons_update_timer(c);
    st_cons_mark_ready(c);
    *out = c;
    return 0;
nomem:
    st_api_err_set(err, 500, 10012, "out of memory");
    return -ENOMEM;
}

/* forceExpirePending(): redeliver everything outstanding (the push
 * consumer moved to a new deliver subject). */
static void
force_expire(struct st_consumer *c, int64_t now)
{
    struct st_pend *p = c->pend;
    for (uint32_t i = p ? p->head : 0; p && i < p->n; i++) {
        struct st_pent *e = &p->e[i];
        if (!(e->flags & PE_PENDING) || (e->flags & PE_RDQ))
            continue;
        e->ts = now - (st_pend_deadline(c, e) - e->ts);   /* due now */
    }
    c->pend_timer = now;
    st_cons_mark_ready(c);
}

int
st_consumer_update(struct st_consumer *c, const struct st_cons_config *ncfg,
                   int64_t now, struct st_api_err *err)
{
    struct st_cons_config nc;
    int rc;
    if ((rc = st_cons_check_update(&c->cfg, ncfg, err)) < 0)
        return rc;
    if (st_cons_config_equal(&c->cfg, ncfg))
        return 0;
    bool ds_changed = is_push(c) && strcmp(c->cfg.deliver_subject,
                                           ncfg->deliver_subject) != 0;
    if (ds_changed && c->cfg.deliver_subject != NULL
        && c->set->s->has_interest != NULL
        && has_interest(c, c->cfg.deliver_subject)) {
        st_api_err_set(err, 400, 10013, "consumer name already in use");
        return -EINVAL;
    }
    if (st_cons_config_copy(&nc, ncfg) < 0) {
        st_api_err_set(err, 500, 10012, "out of memory");
        return -ENOMEM;
    }
    if (nc.durable == NULL && nc.inactive_threshold <= 0)
        nc.inactive_threshold = 5000 * NS_PER_MS;
    bool maxp_changed = nc.max_ack_pending != c->cfg.max_ack_pending;
    bool wait_changed = nc.ack_wait != c->cfg.ack_wait;
    index_del(c);
    st_cons_config_free(&c->cfg);
    c->cfg = nc;
    index_add(c);
    if (ds_changed) {
        if (c->pend != NULL && c->pend->npending > 0)
            force_expire(c, now);
        setup_push(c, now);
    }
    if (maxp_changed)
        st_cons_mark_ready(c);
    if (wait_changed)
        c->pend_timer = now;
    st_cons_recount(c);
    if (c->cfg.durable != NULL && c->set->s->state_dir != NULL)
        (void)st_cons_state_write(c);
    st_cons_update_timer(c);
    return 0;
}

void
st_consumer_delete(struct st_consumer *c, int64_t now, struct st_outbox *out)
{
    struct st_cons_set *set;
    (void)now;
    if (c == NULL)
        return;
    set = c->set;
    c->flags |= CF_CLOSED;
    if (!is_push(c))
        (void)st_pull_release_all(c, out);
    index_del(c);
    names_del(c);
    for (int i = 0; i < L_COUNT; i++)
        st_cons_list_del(c, i);
    if (c->cfg.durable != NULL && set->s->state_dir != NULL)
        (void)st_cons_state_remove(c);
    if (set->s->on_event != NULL)
        set->s->on_event(set->s->arg, c, ST_CONS_DELETED);
    cons_free(c);
}

const char *
st_consumer_name(const struct st_consumer *c)
{
    return c->name;
}

const struct st_cons_config *
st_consumer_config(const struct st_consumer *c)
{
    return &c->cfg;
}

bool
st_consumer_is_durable(const struct st_consumer *c)
{
    return c->cfg.durable != NULL;
}

bool
st_consumer_is_pull(const struct st_consumer *c)
{
    return !is_push(c);
}

void
st_consumer_set_active(struct st_consumer *c, bool active, int64_t now)
{
    if (!is_push(c) || (c->flags & CF_CLOSED))
        return;
    if (active) {
        if (!(c->flags & CF_ACTIVE)) {
            c->flags |= CF_ACTIVE;
            st_cons_mark_ready(c);
            if (c->cfg.idle_heartbeat > 0)
                c->hb_next = now + c->cfg.idle_heartbeat;
        }
        c->inact_from = 0;
    } else if (c->flags & CF_ACTIVE) {
        c->flags &= ~CF_ACTIVE;
        c->inact_from = now;
    }
    st_cons_update_timer(c);
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
        rc = st_store_next(st, l->seqs[l->i], c->cfg.filter, filter_len(c),
                           &k->m, &set->scratch);
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
    rc = st_store_next(st, c->sseq, c->cfg.filter, filter_len(c), &k->m,
                       &set->scratch);
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
    if (is_push(c)) {
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
    if (is_push(c)) {
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
    if (is_push(c)) {
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
    if (rc < 0)
        return rc;
    int64_t psz = (int64_t)(to_len + (size_t)an + hdr_len + data_len);
    if (!is_push(c))
        st_pull_take(c, sz, now);
    commit(c, &k, psz, now);
    if (is_push(c))
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
    if (!is_push(c) && c->wq != NULL
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
    if (!is_push(c) && c->wq != NULL) {
        bool eos = !more && why != -EAGAIN && c->replay_due == 0;
        if ((rc = st_pull_process_waiting(c, now, eos, out, NULL, NULL)) < 0)
            goto out;
    }
    if (is_push(c) && c->cfg.idle_heartbeat > 0 && now >= c->hb_next) {
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
    if ((is_push(c) && (c->flags & CF_ACTIVE))
        || (!is_push(c) && c->wq != NULL && c->wq->n > 0))
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

/* ------------------------------------------------------------------ */
/* Interest retention and info. */

bool
st_consumer_needs_ack(struct st_consumer *c, uint64_t sseq, const char *subj,
                      size_t len)
{
    const struct st_cons_stream *s = c->set->s;
    const char *f = c->cfg.filter;
    bool filtered = f != NULL
                    && !(s->nsubjects == 1 && s->subjects != NULL
                         && s->subjects[0] != NULL
                         && strcmp(f, s->subjects[0]) == 0);
    if (filtered) {
        struct st_msg m;
        if (subj == NULL) {
            if (st_store_get(s->store, sseq, &m, &c->set->scratch) < 0)
                return false;
            subj = m.subj;
            len = m.subj_len;
        }
        if (!st_cons_filter_match(c, subj, len))
            return false;
    }
    if (sseq <= c->asflr)
        return false;
    if (c->cfg.ack_policy != ST_AP_EXPLICIT || sseq >= c->sseq)
        return true;
    struct st_pent *e = st_pend_find(c->pend, sseq);
    return e != NULL && (e->flags & PE_PENDING);
}

void
st_consumer_info(struct st_consumer *c, int64_t now, struct st_cons_info *o)
{
    uint32_t nrdc = 0;
    memset(o, 0, sizeof(*o));
    o->created = c->created;
    o->delivered.consumer_seq = c->dseq - 1;
    o->delivered.stream_seq = c->sseq - 1;
    o->delivered.last_active = c->ldt;
    o->ack_floor.consumer_seq = c->adflr;
    o->ack_floor.stream_seq = c->asflr;
    o->ack_floor.last_active = c->lat;
    o->num_ack_pending = st_pend_count(c, &nrdc);
    o->num_redelivered = nrdc;
    o->num_pending = check_num_pending(c);
    o->push_bound = is_push(c) && (c->flags & CF_ACTIVE);
    if (!is_push(c))
        o->num_waiting = st_pull_count_live(c, now);
}

static void
seq_json(struct dt_jw *w, const char *key, const struct st_cons_seq_info *s)
{
    char tb[64];
    dt_jw_key(w, key);
    dt_jw_begin_object(w);
    dt_jw_kuint(w, "consumer_seq", s->consumer_seq);
    dt_jw_kuint(w, "stream_seq", s->stream_seq);
    if (s->last_active != 0 && st_time_format(tb, sizeof(tb), s->last_active,
                                              0) > 0)
        dt_jw_kstr(w, "last_active", tb);
    dt_jw_end_object(w);
}

int
st_consumer_info_json(struct st_consumer *c, int64_t now, struct dt_jw *w)
{
    struct st_cons_info in;
    char tb[64];
    st_consumer_info(c, now, &in);
    dt_jw_kstr(w, "stream_name", c->set->s->name);
    dt_jw_kstr(w, "name", c->name);
    if (st_time_format(tb, sizeof(tb), c->created, 0) > 0)
        dt_jw_kstr(w, "created", tb);
    dt_jw_key(w, "config");
    st_cons_config_json(w, &c->cfg);
    seq_json(w, "delivered", &in.delivered);
    seq_json(w, "ack_floor", &in.ack_floor);
    dt_jw_kuint(w, "num_ack_pending", in.num_ack_pending);
    dt_jw_kuint(w, "num_redelivered", in.num_redelivered);
    dt_jw_kuint(w, "num_waiting", in.num_waiting);
    dt_jw_kuint(w, "num_pending", in.num_pending);
    if (in.push_bound)
        dt_jw_kbool(w, "push_bound", true);
    return w->err;
}

int
st_consumer_persist(struct st_consumer *c)
{
    if (c->cfg.durable == NULL || c->set->s->state_dir == NULL)
        return 0;
    int rc = st_cons_state_write(c);
    if (rc == 0)
        st_cons_list_del(c, L_DIRTY);
    return rc;
}

int
st_cons_set_flush(struct st_cons_set *set)
{
    int first = 0;
    while (set->head[L_DIRTY] != NULL) {
        struct st_consumer *c = set->head[L_DIRTY];
        int rc = st_consumer_persist(c);
        if (rc < 0) {
            st_cons_list_del(c, L_DIRTY);   /* retried on its next change */
            if (first == 0)
                first = rc;
        }
    }
    return first;
}
