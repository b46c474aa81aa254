/*
 * st_consumer_set.c -- the consumer set of a stream and each consumer's
 * life cycle: the name hash, the filter index and the ready / timed /
 * dirty lists; create / update / delete (names, defaults, push setup,
 * durable state log records, created / deleted events); accessors and push
 * interest; interest retention (needs_ack); ConsumerInfo and its JSON;
 * persisting dirty durables.  The delivery state machine (start
 * position, num_pending, timers, delivery, stream events) is in
 * st_consumer.c.
 *
 * NOTES
 *   Ownership: the set owns its consumers (name hash + filter index +
 *   three intrusive lists, whose nodes live in struct st_consumer).
 *   A consumer is freed only by st_consumer_delete() or
 *   st_cons_set_free(); both take it off every index and list first.
 *   Semantics follow nats-server 2.9.10 consumer.go; deviations are
 *   listed in st_consumer.h.
 *   Errors: 0 or -errno; API-facing errors also fill a struct st_jserr.
 */
#include "st_consumer_int.h"

#include "dt_subject.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_MS 1000000LL
#define FC_DEFAULT_WINDOW (32u << 20)

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

/* One literal filter: the consumer goes in the literal hash (several
 * filters go on the wild list, checked one by one). */
static bool
filter_literal(const struct st_cons_config *cfg)
{
    const char *f = st_cons_single_filter(cfg);
    return f != NULL && dt_subject_valid_literal(f, strlen(f));
}

bool
st_cons_filter_match(const struct st_consumer *c, const char *subj,
                     size_t len)
{
    uint32_t n = st_cons_config_nfilters(&c->cfg);
    if (n == 0)
        return true;
    if (!(c->flags & CF_FILTER_WC)) {
        const char *f = st_cons_config_filter(&c->cfg, 0);
        return strlen(f) == len && memcmp(f, subj, len) == 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *f = st_cons_config_filter(&c->cfg, i);
        if (dt_subject_matches(f, strlen(f), subj, len))
            return true;
    }
    return false;
}

static uint32_t
filter_hash(const struct st_consumer *c)
{
    const char *f = st_cons_single_filter(&c->cfg);
    return st_cons_hash(f, strlen(f));
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
                uint32_t h = filter_hash(c);
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
        uint32_t b = filter_hash(c) & (set->nfbuckets - 1);
        c->fnext = set->fbuckets[b];
        set->fbuckets[b] = c;
    } else {
        if (st_cons_config_nfilters(&c->cfg) > 0)
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
        pp = &set->fbuckets[filter_hash(c) & (set->nfbuckets - 1)];
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
    st_cons_log_close(set);
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
    free(c->fc);
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
                   struct st_jserr *err)
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
        st_jserr_set(err, 400, 10013, "consumer name already in use");
        return -EEXIST;
    }
    if (!recovering && (rc = st_cons_check_add(set, cfg, name, err)) < 0)
        return rc;
    size_t nl = strlen(name);
    if (nl > ST_CONS_MAX_NAME) {
        st_jserr_set(err, 400, 10102, "consumer name is too long, maximum allowed is %d", ST_CONS_MAX_NAME);
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
    if ((rc = st_cons_select_start(c)) < 0) {
        cons_free(c);
        return rc;
    }
    if (st_cons_is_push(c))
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
        && st_cons_log_create(c) < 0) {
        index_del(c);
        names_del(c);
        cons_free(c);
        st_jserr_set(err, 500, 10012, "error creating store for consumer");
        return -EIO;
    }
    if (set->s->on_event != NULL)
        set->s->on_event(set->s->arg, c, ST_CONS_CREATED);
    st_cons_update_timer(c);
    st_cons_mark_ready(c);
    *out = c;
    return 0;
nomem:
    st_jserr_set(err, 500, 10012, "out of memory");
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
                   int64_t now, struct st_jserr *err)
{
    struct st_cons_config nc;
    int rc;
    /* 2.10 (addConsumer, before updateConfig): a workqueue consumer's
     * filters must stay unique among the others */
    if (c->set->s->retention == ST_RET_WORKQUEUE
        && !st_cons_partition_unique(c->set, c, ncfg, err))
        return -EINVAL;
    if ((rc = st_cons_check_update(&c->cfg, ncfg, err)) < 0)
        return rc;
    if (st_cons_config_equal(&c->cfg, ncfg))
        return 0;
    bool ds_changed = st_cons_is_push(c) && strcmp(c->cfg.deliver_subject,
                                           ncfg->deliver_subject) != 0;
    if (ds_changed && c->cfg.deliver_subject != NULL
        && c->set->s->has_interest != NULL
        && has_interest(c, c->cfg.deliver_subject)) {
        st_jserr_set(err, 400, 10013, "consumer name already in use");
        return -EINVAL;
    }
    if (st_cons_config_copy(&nc, ncfg) < 0) {
        st_jserr_set(err, 500, 10012, "out of memory");
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
    st_cons_fcache_reset(c);        /* the filters may have changed */
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
    if (c->cfg.durable != NULL && c->set->s->state_dir != NULL
        && st_cons_log_create(c) == 0)
        st_cons_mark_dirty(c);
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
    if (!st_cons_is_push(c))
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
    return !st_cons_is_push(c);
}

void
st_consumer_set_active(struct st_consumer *c, bool active, int64_t now)
{
    if (!st_cons_is_push(c) || (c->flags & CF_CLOSED))
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
/* Interest retention and info. */

bool
st_consumer_needs_ack(struct st_consumer *c, uint64_t sseq, const char *subj,
                      size_t len)
{
    const struct st_cons_stream *s = c->set->s;
    const char *f = st_cons_single_filter(&c->cfg);
    bool filtered = st_cons_config_nfilters(&c->cfg) > 0
                    && !(f != NULL && s->nsubjects == 1
                         && s->subjects != NULL && s->subjects[0] != NULL
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
    o->num_pending = st_cons_check_num_pending(c);
    o->push_bound = st_cons_is_push(c) && (c->flags & CF_ACTIVE);
    if (!st_cons_is_push(c))
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
    if (rc == 0)
        rc = st_cons_log_flush(c->set);
    return rc;
}

/* Append a STATE record per dirty durable, then write them all (and any
 * CREATE / DELETE records buffered since the last flush) with one write
 * and one sync. */
int
st_cons_set_flush(struct st_cons_set *set)
{
    int first = 0;
    while (set->head[L_DIRTY] != NULL) {
        struct st_consumer *c = set->head[L_DIRTY];
        int rc = st_cons_state_write(c);
        st_cons_list_del(c, L_DIRTY);   /* on error: retried on its next change */
        if (rc < 0 && first == 0)
            first = rc;
    }
    int rc = st_cons_log_flush(set);
    return first != 0 ? first : rc;
}
