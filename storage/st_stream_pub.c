/*
 * st_stream_pub.c -- what happens to a stream's messages: the publish
 * path (checks in nats-server's order, append, rollups, limits), the
 * Nats-Msg-Id dedupe table, message delete, purge, max_age expiry, the
 * retention hook for consumers, and the PubAck JSON.
 *
 * NOTES
 *   A publish changes nothing until its checks pass; then the append is
 *   the commit point.  Removals that follow it (rollup purge, the
 *   per-subject limit, an interest skip) and the discard-old limits may
 *   meet busy store buffers (-EAGAIN): they are kept as pending ops
 *   (bounded, retried by the next publish, flush or tick), so a limit can
 *   be exceeded briefly, never forgotten.  A publish is refused with
 *   -EAGAIN before its append when the pending list is nearly full.
 *   Consumers hear of every removal: on_remove per sequence, with its
 *   subject, for removals of chosen messages; on_purge when the first
 *   sequence moved.  The subject comes from the store's index (no record
 *   read) and is copied before the delete, which may free the index's
 *   string (a subject's last message): O(1) plus a copy per removal, and
 *   for a filtered purge one walk of the index with one copy per
 *   distinct subject.
 *   Every change of a store is marked with st_stream_changed() (flush
 *   and the server-limit usage totals).
 *   Republish: a stored (not skipped) message whose subject matches the
 *   republish src goes at once to hooks.republish with its own headers
 *   plus Nats-Stream, Nats-Subject, Nats-Sequence, Nats-Last-Sequence
 *   (the subject's previous last sequence, read before the append) and,
 *   headers_only, Nats-Msg-Size and no payload (nats-server 2.9.10).
 *   Ownership: dedupe ids are heap copies owned by the table.
 */
#include "st_stream_int.h"

#include "dt_log.h"
#include "dt_subject.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HDR_MAX 65535u

/* ---- headers ------------------------------------------------------------- */

const char *
st_stream_hdr_get(const void *hdr, size_t hdr_len, const char *key,
                  size_t *vlen)
{
    const char *h = hdr, *end = h + hdr_len;
    size_t kl = strlen(key);
    const char *p = memchr(h, '\n', hdr_len);  /* skip "NATS/1.0 ..." */

    while (p != NULL && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        const char *stop = eol ? eol : end;
        if ((size_t)(stop - line) > kl && memcmp(line, key, kl) == 0
            && line[kl] == ':') {
            const char *v = line + kl + 1;
            while (v < stop && *v == ' ')
                v++;
            const char *ve = v;
            while (ve < stop && *ve != '\r')
                ve++;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol;
    }
    *vlen = 0;
    return NULL;
}

/* nats-server's parseInt64 on a header value: digits only, else -1; the
 * result is then used as uint64 (so "abc" expects sequence 2^64-1). */
static uint64_t
hdr_u64(const char *v, size_t n)
{
    uint64_t x = 0;

    if (n == 0 || n > 18)
        return UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return UINT64_MAX;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    return x;
}

/* ---- dedupe -------------------------------------------------------------- */

static uint32_t
dd_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

static struct st_dd_ent *
dd_at(const struct st_dedupe *dd, uint64_t abs)
{
    return &dd->ring[abs & (dd->cap - 1)];
}

/* Slot holding id, or the empty slot where it would go (*found). */
static uint64_t
dd_probe(const struct st_dedupe *dd, const char *id, size_t n, uint32_t h,
         bool *found)
{
    uint64_t mask = dd->nslots - 1, i = h & mask;

    *found = false;
    while (dd->slots[i]) {
        const struct st_dd_ent *e = dd_at(dd, dd->slots[i] - 1);
        if (e->hash == h && e->len == n && memcmp(e->id, id, n) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
    return i;
}

static const struct st_dd_ent *
dd_find(const struct st_dedupe *dd, const char *id, size_t n)
{
    bool found;

    if (dd->nslots == 0 || dd->head == dd->tail)
        return NULL;
    uint64_t i = dd_probe(dd, id, n, dd_hash(id, n), &found);
    return found ? dd_at(dd, dd->slots[i] - 1) : NULL;
}

/* Linear probing deletion by backward shift: no tombstones. */
static void
dd_slot_del(struct st_dedupe *dd, uint64_t i)
{
    uint64_t mask = dd->nslots - 1, j = i;

    dd->slots[i] = 0;
    for (;;) {
        j = (j + 1) & mask;
        if (dd->slots[j] == 0)
            return;
        uint64_t k = dd_at(dd, dd->slots[j] - 1)->hash & mask;
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            dd->slots[i] = dd->slots[j];
            dd->slots[j] = 0;
            i = j;
        }
    }
}

static void
dd_pop(struct st_dedupe *dd)
{
    struct st_dd_ent *e = dd_at(dd, dd->head);
    uint64_t mask = dd->nslots - 1, i = e->hash & mask;

    while (dd->slots[i] && dd->slots[i] != dd->head + 1)
        i = (i + 1) & mask;
    if (dd->slots[i])
        dd_slot_del(dd, i);
    free(e->id);
    e->id = NULL;
    dd->head++;
}

static int
dd_grow(struct st_dedupe *dd)
{
    uint64_t ncap = dd->cap ? dd->cap * 2 : 64, nslots = ncap * 2;
    struct st_dd_ent *ring = calloc(ncap, sizeof(*ring));
    uint64_t *slots = calloc(nslots, sizeof(*slots));

    if (ring == NULL || slots == NULL) {
        free(ring);
        free(slots);
        return -ENOMEM;
    }
    for (uint64_t a = dd->head; a < dd->tail; a++) {
        struct st_dd_ent *e = &ring[a & (ncap - 1)];
        *e = *dd_at(dd, a);
        uint64_t i = e->hash & (nslots - 1);
        while (slots[i])
            i = (i + 1) & (nslots - 1);
        slots[i] = a + 1;
    }
    free(dd->ring);
    free(dd->slots);
    dd->ring = ring;
    dd->slots = slots;
    dd->cap = ncap;
    dd->nslots = nslots;
    return 0;
}

static int
dd_add(struct st_stream *s, const char *id, size_t n, uint64_t seq,
       int64_t ts)
{
    struct st_dedupe *dd = &s->dd;
    uint32_t max = s->reg->o.max_dedupe ? s->reg->o.max_dedupe
                                        : ST_STREAM_MAX_DEDUPE;
    bool found;

    if (dd->cap && dd_find(dd, id, n))
        return 0;
    while (dd->tail - dd->head >= max)
        dd_pop(dd);
    if (dd->tail - dd->head == dd->cap && dd_grow(dd) < 0)
        return -ENOMEM;
    struct st_dd_ent *e = dd_at(dd, dd->tail);
    e->id = malloc(n ? n : 1);
    if (e->id == NULL)
        return -ENOMEM;
    memcpy(e->id, id, n);
    e->len = (uint32_t)n;
    e->hash = dd_hash(id, n);
    e->seq = seq;
    e->ts = ts;
    uint64_t i = dd_probe(dd, id, n, e->hash, &found);
    dd->slots[i] = dd->tail + 1;
    dd->tail++;
    return 0;
}

void
st_stream_dd_free(struct st_dedupe *dd)
{
    while (dd->head < dd->tail)
        dd_pop(dd);
    free(dd->ring);
    free(dd->slots);
    memset(dd, 0, sizeof(*dd));
}

void
st_stream_dd_expire(struct st_stream *s, int64_t now)
{
    struct st_dedupe *dd = &s->dd;
    int64_t window = s->cfg.duplicate_window;

    while (dd->head < dd->tail && now - dd_at(dd, dd->head)->ts >= window)
        dd_pop(dd);
}

static int
set_last_id(struct st_stream *s, const char *id, size_t n)
{
    free(s->last_msg_id);
    s->last_msg_id = NULL;
    if (n == 0)
        return 0;
    s->last_msg_id = malloc(n + 1);
    if (s->last_msg_id == NULL)
        return -ENOMEM;
    memcpy(s->last_msg_id, id, n);
    s->last_msg_id[n] = '\0';
    return 0;
}

/*
 * Rebuild the table from the messages still inside the window (after a
 * restart), as nats-server does on first need: walk back from the last
 * message while timestamps are in the window (at most max_dedupe), then
 * insert oldest first.
 */
static void
dd_load(struct st_stream *s, int64_t now)
{
    struct st_fast_state fs;
    struct dt_buf b = { 0 };
    uint32_t max = s->reg->o.max_dedupe ? s->reg->o.max_dedupe
                                        : ST_STREAM_MAX_DEDUPE;
    uint64_t *seqs = NULL, n = 0;

    if (s->dd_loaded)
        return;
    s->dd_loaded = true;
    st_stream_fast_state(s->store, &fs);
    if (fs.msgs == 0)
        return;
    seqs = malloc(sizeof(*seqs) * (fs.msgs < max ? fs.msgs : max));
    if (seqs == NULL)
        return;
    for (uint64_t seq = fs.last_seq; seq >= fs.first_seq && n < max; seq--) {
        struct st_msg m;
        if (st_store_get(s->store, seq, &m, &b) < 0)
            continue;
        if (now - m.ts >= s->cfg.duplicate_window)
            break;
        seqs[n++] = seq;
        if (seq == 1)
            break;
    }
    for (uint64_t i = n; i-- > 0;) {
        struct st_msg m;
        size_t vl = 0;
        const char *v = NULL;
        if (st_store_get(s->store, seqs[i], &m, &b) < 0)
            continue;
        if (m.hdr_len)
            v = st_stream_hdr_get(m.hdr, m.hdr_len, "Nats-Msg-Id", &vl);
        if (v && vl)
            dd_add(s, v, vl, m.seq, m.ts);
        if (m.seq == fs.last_seq)
            set_last_id(s, v, v ? vl : 0);
    }
    free(seqs);
    dt_buf_free(&b);
}

/* ---- removals ------------------------------------------------------------ */

static void
report_first_moved(struct st_stream *s)
{
    const struct st_stream_hooks *h = &s->reg->o.hooks;
    struct st_fast_state fs;

    if (h->on_purge == NULL)
        return;
    st_stream_fast_state(s->store, &fs);
    h->on_purge(h->arg, s, fs.first_seq, fs.last_seq);
}

static void
report_removed(struct st_stream *s, uint64_t seq, const char *subj,
               size_t len)
{
    const struct st_stream_hooks *h = &s->reg->o.hooks;

    if (h->on_remove)
        h->on_remove(h->arg, s, seq, subj, len);
}

/* The subject of a message about to be removed, copied out of the store
 * (short ones stay on the stack). */
struct rm_subj {
    char *p;
    size_t len;
    char small[128];
};

static int
rm_subj_take(struct st_stream *s, uint64_t seq, struct rm_subj *r)
{
    size_t len;
    const char *subj = st_store_subject(s->store, seq, &len);

    r->p = r->small;
    r->len = 0;
    if (subj == NULL)
        return -ENOENT;
    if (len > sizeof(r->small) && (r->p = malloc(len)) == NULL)
        return -ENOMEM;
    memcpy(r->p, subj, len);
    r->len = len;
    return 0;
}

static void
rm_subj_drop(struct rm_subj *r)
{
    if (r->p != r->small)
        free(r->p);
}

/* Delete one message; when `tell`, consumers hear of it with its
 * subject.  -ENOENT when it is not there, -EAGAIN (buffers busy),
 * -ENOMEM: nothing changed. */
static int
remove_one(struct st_stream *s, uint64_t seq, bool tell)
{
    struct rm_subj r;
    int rc;

    tell = tell && s->reg->o.hooks.on_remove != NULL;
    if (tell && (rc = rm_subj_take(s, seq, &r)) < 0)
        return rc;
    rc = st_store_delete(s->store, seq);
    if (rc == 0) {
        st_stream_changed(s);
        if (tell)
            report_removed(s, seq, r.p, r.len);
    }
    if (tell)
        rm_subj_drop(&r);
    return rc;
}

static bool
filter_all(const char *f, size_t n)
{
    return f == NULL || n == 0 || (n == 1 && f[0] == '>');
}

/* PurgeEx, telling consumers what went (a filtered purge: one by one,
 * with the subjects collected before the purge frees them). */
static int
purge_report(struct st_stream *s, const char *filter, size_t flen,
             uint64_t seq, uint64_t keep, uint64_t *purged)
{
    struct st_purge p = { filter, flen, seq, keep };
    struct dt_buf subjs = { 0 };
    struct st_rm *rm = NULL;
    uint64_t n = 0;
    size_t cnt = 0;
    int rc;

    *purged = 0;
    if (!filter_all(filter, flen) && s->reg->o.hooks.on_remove) {
        rc = st_stream_collect(s->store, filter, flen, seq, &rm, &cnt,
                               &subjs);
        if (rc < 0) {
            dt_buf_free(&subjs);
            return rc;
        }
        n = keep ? (cnt > keep ? cnt - keep : 0) : cnt;
    }
    rc = st_store_purge(s->store, &p, purged);
    if (rc == 0 && *purged) {
        st_stream_changed(s);
        if (filter_all(filter, flen))
            report_first_moved(s);
        /* the store takes them oldest first and may stop early */
        if (n > *purged)
            n = *purged;
        for (uint64_t i = 0; i < n; i++)
            report_removed(s, rm[i].seq, subjs.data + rm[i].off, rm[i].len);
    }
    free(rm);
    dt_buf_free(&subjs);
    return rc;
}

/* Keep at most max_msgs_per_subject messages of one literal subject. */
static int
trim_subject(struct st_stream *s, const char *subj, size_t len)
{
    int64_t max = s->cfg.max_msgs_per_subject;
    struct st_subject_state ss;

    if (max <= 0)
        return 0;
    for (int guard = 0; guard < 1 << 20; guard++) {
        int rc = st_store_subject_state(s->store, subj, len, &ss);
        if (rc < 0)
            return rc;
        if (ss.msgs <= (uint64_t)max || ss.first_seq == 0)
            return 0;
        rc = st_store_delete(s->store, ss.first_seq);
        if (rc < 0)
            return rc;
        st_stream_changed(s);
        report_removed(s, ss.first_seq, subj, len);
    }
    return 0;
}

/* max_msgs, max_bytes and (with_age) max_age: oldest first. */
static int
enforce_limits(struct st_stream *s, int64_t now, bool with_age)
{
    struct st_limits lim = { 0 };
    uint64_t removed = 0;

    if (s->cfg.max_msgs > 0)
        lim.max_msgs = (uint64_t)s->cfg.max_msgs;
    if (s->cfg.max_bytes > 0)
        lim.max_bytes = (uint64_t)s->cfg.max_bytes;
    if (with_age && s->cfg.max_age > 0)
        lim.max_age_ns = s->cfg.max_age;
    if (lim.max_msgs == 0 && lim.max_bytes == 0 && lim.max_age_ns == 0)
        return 0;
    int rc = st_store_enforce(s->store, &lim, now, &removed);
    if (rc == -EAGAIN) {
        s->need_enforce = true;
        return rc;
    }
    if (removed) {
        st_stream_changed(s);
        report_first_moved(s);
    }
    return rc;
}

static int
pend_add(struct st_stream *s, uint8_t kind, uint64_t seq, const char *subj,
         size_t len)
{
    struct st_pend *p;

    if (s->npend == ST_PEND_MAX)
        return -EAGAIN;
    p = &s->pend[s->npend];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    p->seq = seq;
    if (subj) {
        p->subj = malloc(len + 1);
        if (p->subj == NULL)
            return -ENOMEM;
        memcpy(p->subj, subj, len);
        p->subj[len] = '\0';
        p->len = len;
    }
    s->npend++;
    return 0;
}

void
st_stream_pend_free(struct st_stream *s)
{
    for (unsigned i = 0; i < s->npend; i++)
        free(s->pend[i].subj);
    s->npend = 0;
}

static int
pend_run(struct st_stream *s, const struct st_pend *p)
{
    uint64_t purged;
    int rc;

    switch (p->kind) {
    case ST_PEND_DELETE:
    case ST_PEND_REMOVE:
        rc = remove_one(s, p->seq, p->kind == ST_PEND_REMOVE);
        return rc == -ENOENT ? 0 : rc;
    case ST_PEND_PURGE:
        return purge_report(s, p->subj, p->len, p->seq, 0, &purged);
    case ST_PEND_SUBJ_LIMIT:
        return trim_subject(s, p->subj, p->len);
    default:
        return 0;
    }
}

int
st_stream_maintain(struct st_stream *s)
{
    unsigned done = 0;
    int rc = 0;

    while (done < s->npend) {
        rc = pend_run(s, &s->pend[done]);
        if (rc == -EAGAIN)
            break;
        if (rc < 0)
            dt_warn("storage: stream '%s': deferred removal failed: %s",
                    s->cfg.name, strerror(-rc));
        free(s->pend[done].subj);
        done++;
        rc = 0;
    }
    if (done) {
        memmove(s->pend, s->pend + done, (s->npend - done) * sizeof(*s->pend));
        s->npend -= done;
    }
    if (rc == 0 && s->need_enforce) {
        s->need_enforce = false;
        rc = enforce_limits(s, 0, false);
    }
    return s->npend || s->need_enforce ? -EAGAIN : rc;
}

/* Run a removal now, or keep it for later when the buffers are busy. */
static void
after_append(struct st_stream *s, uint8_t kind, uint64_t seq,
             const char *subj, size_t len)
{
    struct st_pend p = { .kind = kind, .seq = seq, .subj = (char *)subj,
                         .len = len };
    int rc = s->npend ? -EAGAIN : pend_run(s, &p);

    if (rc == -EAGAIN)
        rc = pend_add(s, kind, seq, subj, len);
    if (rc < 0)
        dt_warn("storage: stream '%s': removal after publish failed: %s",
                s->cfg.name, strerror(-rc));
}

struct over_list {
    uint64_t max;
    char **v;
    size_t n, cap;
    int err;
};

static int
collect_over(void *arg, const char *subj, size_t len, uint64_t msgs)
{
    struct over_list *l = arg;

    if (msgs <= l->max)
        return 0;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, ncap * sizeof(*v));
        if (v == NULL)
            return l->err = -ENOMEM;
        l->v = v;
        l->cap = ncap;
    }
    l->v[l->n] = malloc(len + 1);
    if (l->v[l->n] == NULL)
        return l->err = -ENOMEM;
    memcpy(l->v[l->n], subj, len);
    l->v[l->n][len] = '\0';
    l->n++;
    return 0;
}

int
st_stream_enforce_all(struct st_stream *s, int64_t now, bool per_subject)
{
    struct over_list l = { 0 };
    int rc = enforce_limits(s, now, true);

    if (!per_subject || s->cfg.max_msgs_per_subject <= 0)
        return rc;
    /* collect first: trimming changes the table being walked */
    l.max = (uint64_t)s->cfg.max_msgs_per_subject;
    st_stream_subjects(s, NULL, 0, collect_over, &l);
    for (size_t i = 0; i < l.n; i++) {
        int r2 = trim_subject(s, l.v[i], strlen(l.v[i]));
        if (r2 == -EAGAIN)
            r2 = pend_add(s, ST_PEND_SUBJ_LIMIT, 0, l.v[i], strlen(l.v[i]));
        if (r2 < 0 && rc == 0)
            rc = r2;
        free(l.v[i]);
    }
    free(l.v);
    return rc ? rc : l.err;
}

int
st_stream_expire(struct st_stream *s, int64_t now)
{
    return enforce_limits(s, now, true);
}

/* ---- replies ------------------------------------------------------------- */

int
st_stream_puback(const struct st_stream *s, uint64_t seq, bool duplicate,
                 struct dt_buf *out)
{
    int rc = dt_buf_puts(out, "{\"stream\":");

    if (rc == 0)
        rc = dt_json_quote(out, s->cfg.name, strlen(s->cfg.name));
    if (rc == 0)
        rc = dt_buf_printf(out, ", \"seq\":%llu%s}", (unsigned long long)seq,
                           duplicate ? ",\"duplicate\": true" : "");
    return rc;
}

int
st_stream_puberr(const struct st_stream *s, const struct st_jserr *e,
                 struct dt_buf *out)
{
    struct dt_jw w;

    dt_jw_init(&w, out, false);
    dt_jw_begin_object(&w);
    dt_jw_key(&w, "error");
    dt_jw_begin_object(&w);
    dt_jw_kint(&w, "code", e->code);
    dt_jw_kint(&w, "err_code", e->err_code);
    dt_jw_kstr(&w, "description", e->description);
    dt_jw_end_object(&w);
    dt_jw_kstr(&w, "stream", s->cfg.name);
    dt_jw_kuint(&w, "seq", 0);
    dt_jw_end_object(&w);
    return dt_jw_finish(&w);
}

/* ---- publish ------------------------------------------------------------- */

/* What the headers ask for, once checked. */
struct pub_hdrs {
    const char *msg_id;
    size_t msg_id_len;
    bool rollup_sub;
    bool rollup_all;
};

/* Refuse the publish with a nats-server error; returns 1 ("done"). */
static int
refuse(struct st_pub_result *res, int code, int err_code, const char *fmt,
       const char *arg)
{
    res->status = ST_PUB_ERROR;
    st_jserr_set(&res->err, code, err_code, fmt, arg);
    return 1;
}

/* Header checks in nats-server's order; 1 when the publish ends here
 * (res filled), 0 to go on. */
static int
check_headers(struct st_stream *s, const char *subj, size_t subj_len,
              const void *hdr, size_t hdr_len, int64_t now,
              struct pub_hdrs *ph, struct st_pub_result *res)
{
    struct st_fast_state fs;
    const char *v;
    size_t vl;
    char num[24];

    v = st_stream_hdr_get(hdr, hdr_len, "Nats-Expected-Stream", &vl);
    if (v && vl && (vl != strlen(s->cfg.name)
                    || memcmp(v, s->cfg.name, vl) != 0))
        return refuse(res, 400, 10060, "%s", "expected stream does not "
                      "match");
    v = st_stream_hdr_get(hdr, hdr_len, "Nats-Msg-Id", &vl);
    if (v && vl) {
        dd_load(s, now);
        const struct st_dd_ent *e = dd_find(&s->dd, v, vl);
        if (e) {
            res->status = ST_PUB_DUPLICATE;
            res->seq = e->seq;
            return 1;
        }
        ph->msg_id = v;
        ph->msg_id_len = vl;
    }
    v = st_stream_hdr_get(hdr, hdr_len, "Nats-Expected-Last-Subject-Sequence",
                          &vl);
    if (v && vl) {
        struct st_subject_state ss = { 0 };
        uint64_t want = hdr_u64(v, vl);
        st_store_subject_state(s->store, subj, subj_len, &ss);
        if (ss.last_seq != want) {
            snprintf(num, sizeof(num), "%llu",
                     (unsigned long long)ss.last_seq);
            return refuse(res, 400, 10071, "wrong last sequence: %s",
                          num);
        }
    }
    v = st_stream_hdr_get(hdr, hdr_len, "Nats-Expected-Last-Sequence", &vl);
    st_stream_fast_state(s->store, &fs);
    if (v && vl && hdr_u64(v, vl) != fs.last_seq) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)fs.last_seq);
        return refuse(res, 400, 10071, "wrong last sequence: %s", num);
    }
    v = st_stream_hdr_get(hdr, hdr_len, "Nats-Expected-Last-Msg-Id", &vl);
    if (v && vl) {
        if (s->last_msg_id == NULL)
            dd_load(s, now);
        const char *last = s->last_msg_id ? s->last_msg_id : "";
        if (vl != strlen(last) || memcmp(v, last, vl) != 0)
            return refuse(res, 400, 10070, "wrong last msg ID: %s",
                          last);
    }
    v = st_stream_hdr_get(hdr, hdr_len, "Nats-Rollup", &vl);
    if (v && vl) {
        if (!s->cfg.allow_rollup || s->cfg.deny_purge)
            return refuse(res, 500, 10111, "%s", "rollup not permitted");
        if (vl == 3 && strncasecmp(v, "sub", 3) == 0)
            ph->rollup_sub = true;
        else if (vl == 3 && strncasecmp(v, "all", 3) == 0)
            ph->rollup_all = true;
        else {
            res->status = ST_PUB_DROPPED;
            return 1;
        }
    }
    return 0;
}

/* Size of a stored message as nats-server's file store counts it. */
static uint64_t
stored_size(struct st_stream *s, uint64_t seq)
{
    struct dt_buf b = { 0 };
    struct st_msg m;
    uint64_t n = 0;

    if (st_store_get(s->store, seq, &m, &b) == 0)
        n = 22 + m.subj_len + m.hdr_len + m.data_len + 8
            + (m.hdr_len ? 4 : 0);
    dt_buf_free(&b);
    return n;
}

/* Discard new: refuse what would pass a limit. */
static int
check_discard_new(struct st_stream *s, const char *subj, size_t subj_len,
                  size_t size, struct st_pub_result *res)
{
    const struct st_stream_config *c = &s->cfg;
    struct st_subject_state ss = { 0 };
    struct st_fast_state fs;
    bool at_subj_limit = false;

    if (c->discard != ST_SDISCARD_NEW)
        return 0;
    if (c->max_msgs_per_subject > 0) {
        st_store_subject_state(s->store, subj, subj_len, &ss);
        if (ss.msgs >= (uint64_t)c->max_msgs_per_subject) {
            if (c->discard_new_per_subject)
                return refuse(res, 503, 10077, "%s", "maximum messages per "
                              "subject exceeded");
            at_subj_limit = true;   /* the oldest of it will make room */
        }
    }
    st_stream_fast_state(s->store, &fs);
    if (c->max_msgs > 0 && fs.msgs >= (uint64_t)c->max_msgs && !at_subj_limit)
        return refuse(res, 503, 10077, "%s", "maximum messages exceeded");
    if (c->max_bytes > 0 && fs.bytes + size >= (uint64_t)c->max_bytes
        && (!at_subj_limit || stored_size(s, ss.first_seq) <= size))
        return refuse(res, 503, 10077, "%s", "maximum bytes exceeded");
    return 0;
}

/* Interest retention with nobody interested: the sequence is used, the
 * message is not kept. */
static bool
no_interest(struct st_stream *s, const char *subj, size_t len)
{
    const struct st_stream_hooks *h = &s->reg->o.hooks;

    return s->cfg.retention == ST_SRET_INTEREST && h->has_interest
           && !h->has_interest(h->arg, s, subj, len);
}

static int
do_append(struct st_stream *s, const char *subj, size_t subj_len,
          const void *hdr, size_t hdr_len, const void *data, size_t data_len,
          int64_t now, struct st_pub_result *res)
{
    struct st_rec_in in = {
        .subj = subj, .subj_len = subj_len, .hdr = hdr_len ? hdr : NULL,
        .hdr_len = hdr_len, .data = data, .data_len = data_len, .ts = now,
    };
    int rc = st_store_append(s->store, &in, &res->seq);

    if (rc == -EAGAIN)
        return rc;
    if (rc == -EMSGSIZE) {
        refuse(res, 400, 10054, "%s", "message size exceeds maximum allowed");
        return 0;
    }
    if (rc < 0) {
        res->status = ST_PUB_ERROR;
        st_jserr_store_failed(&res->err, rc);
        return 0;
    }
    st_stream_changed(s);
    return 0;
}

/* Everything after a successful append. */
static void
after_store(struct st_stream *s, const char *subj, size_t subj_len,
            const struct pub_hdrs *ph, bool skip, int64_t now, uint64_t seq)
{
    const struct st_stream_hooks *h = &s->reg->o.hooks;

    if (ph->msg_id && dd_add(s, ph->msg_id, ph->msg_id_len, seq, now) < 0)
        dt_warn("storage: stream '%s': dedupe table full of memory",
                s->cfg.name);
    set_last_id(s, ph->msg_id, ph->msg_id ? ph->msg_id_len : 0);
    if (skip) {
        after_append(s, ST_PEND_DELETE, seq, NULL, 0);
        return;
    }
    if (h->on_append)
        h->on_append(h->arg, s, seq, subj, subj_len);
    if (ph->rollup_sub)
        after_append(s, ST_PEND_PURGE, seq, subj, subj_len);
    else if (ph->rollup_all)
        after_append(s, ST_PEND_PURGE, seq, NULL, 0);
    if (s->cfg.max_msgs_per_subject > 0)
        after_append(s, ST_PEND_SUBJ_LIMIT, 0, subj, subj_len);
    enforce_limits(s, now, false);
}

/* ---- republish ------------------------------------------------------------ */

/* Nats-Last-Sequence: the subject's last sequence before this message. */
static uint64_t
rp_last(struct st_stream *s, const char *subj, size_t len)
{
    struct st_subject_state ss = { 0 };

    if (s->cfg.republish == NULL || s->reg->o.hooks.republish == NULL)
        return 0;
    st_store_subject_state(s->store, subj, len, &ss);
    return ss.last_seq;
}

/* The header block of the copy: the message's own (status line kept)
 * without its closing blank line, then the republish headers. */
static int
rp_headers(struct st_stream *s, struct dt_buf *b, const char *subj,
           size_t subj_len, const char *hdr, size_t hdr_len, size_t data_len,
           uint64_t seq, uint64_t last)
{
    int rc;

    if (hdr_len >= 4 && memcmp(hdr + hdr_len - 4, "\r\n\r\n", 4) == 0)
        rc = dt_buf_append(b, hdr, hdr_len - 2);
    else if (hdr_len >= 2 && memcmp(hdr + hdr_len - 2, "\r\n", 2) == 0)
        rc = dt_buf_append(b, hdr, hdr_len);
    else
        rc = dt_buf_puts(b, "NATS/1.0\r\n");
    if (rc < 0)
        return rc;
    rc = dt_buf_printf(b, "Nats-Stream: %s\r\nNats-Subject: %.*s\r\n"
                       "Nats-Sequence: %llu\r\nNats-Last-Sequence: %llu\r\n",
                       s->cfg.name, (int)subj_len, subj,
                       (unsigned long long)seq, (unsigned long long)last);
    if (rc >= 0 && s->cfg.republish->headers_only)
        rc = dt_buf_printf(b, "Nats-Msg-Size: %zu\r\n", data_len);
    if (rc >= 0)
        rc = dt_buf_puts(b, "\r\n");
    return rc < 0 ? rc : 0;
}

static void
republish(struct st_stream *s, const char *subj, size_t subj_len,
          const void *hdr, size_t hdr_len, const void *data, size_t data_len,
          uint64_t seq, uint64_t last)
{
    const struct st_stream_republish *rp = s->cfg.republish;
    const struct st_stream_hooks *h = &s->reg->o.hooks;
    struct dt_buf b = { 0 };
    size_t dl;

    if (rp == NULL || h->republish == NULL)
        return;
    if (st_stream_republish_map(rp->src, rp->dest, subj, subj_len, &b) == 0
        && (dl = b.len) > 0
        && rp_headers(s, &b, subj, subj_len, hdr, hdr_len, data_len, seq,
                      last) == 0)
        h->republish(h->arg, s, b.data, dl, b.data + dl, b.len - dl,
                     rp->headers_only ? NULL : data,
                     rp->headers_only ? 0 : data_len);
    dt_buf_free(&b);
}

int
st_stream_publish(struct st_stream *s, const char *subj, size_t subj_len,
                  const char *reply, size_t reply_len, const void *hdr,
                  size_t hdr_len, const void *data, size_t data_len,
                  int64_t now, struct st_pub_result *res, struct dt_buf *ack)
{
    struct pub_hdrs ph = { 0 };
    int rc;

    if (s == NULL || subj == NULL || subj_len == 0 || res == NULL
        || (hdr_len && hdr == NULL) || (data_len && data == NULL))
        return -EINVAL;
    memset(res, 0, sizeof(*res));
    if (s->npend || s->need_enforce)
        st_stream_maintain(s);
    if (s->npend + 3 > ST_PEND_MAX)
        return -EAGAIN;             /* room for this one's removals */
    if (s->cfg.sealed)
        refuse(res, 400, 10109, "%s", "invalid operation on sealed stream");
    else if (hdr_len && check_headers(s, subj, subj_len, hdr, hdr_len, now,
                                      &ph, res))
        ;
    else if (s->cfg.max_msg_size >= 0
             && hdr_len + data_len > (size_t)s->cfg.max_msg_size)
        refuse(res, 400, 10054, "%s", "message size exceeds maximum allowed");
    else if (hdr_len > HDR_MAX)
        refuse(res, 400, 10097, "%s", "header size exceeds maximum allowed "
               "of 64k");
    else if (st_registry_over(s->reg, s->cfg.storage))
        refuse(res, 503, 10023, "%s", "insufficient resources");
    else {
        bool skip = no_interest(s, subj, subj_len);
        if (skip || !check_discard_new(s, subj, subj_len, hdr_len + data_len,
                                       res)) {
            uint64_t last = skip ? 0 : rp_last(s, subj, subj_len);
            rc = do_append(s, subj, subj_len, hdr, hdr_len, data, data_len,
                           now, res);
            if (rc < 0)
                return rc;
            if (res->status == ST_PUB_STORED) {
                if (!skip)
                    republish(s, subj, subj_len, hdr, hdr_len, data,
                              data_len, res->seq, last);
                after_store(s, subj, subj_len, &ph, skip, now, res->seq);
                res->ticket = st_store_ticket(s->store);
            }
        }
    }
    if (res->status == ST_PUB_DROPPED || reply_len == 0 || s->cfg.no_ack)
        return 0;
    res->reply = true;
    if (ack == NULL)
        return 0;
    if (res->status == ST_PUB_ERROR)
        return st_stream_puberr(s, &res->err, ack);
    return st_stream_puback(s, res->seq, res->status == ST_PUB_DUPLICATE,
                            ack);
}

int
st_stream_mirror_append(struct st_stream *s, uint64_t seq, int64_t ts,
                        const char *subj, size_t subj_len, const void *hdr,
                        size_t hdr_len, const void *data, size_t data_len,
                        int64_t now, uint64_t *ticket)
{
    struct st_rec_in in = {
        .subj = subj, .subj_len = subj_len, .hdr = hdr_len ? hdr : NULL,
        .hdr_len = hdr_len, .data = data, .data_len = data_len,
        .ts = ts ? ts : now, .seq = seq,
    };
    struct pub_hdrs ph = { 0 };
    int rc;

    if (s == NULL || subj == NULL || subj_len == 0 || seq == 0)
        return -EINVAL;
    if (s->npend || s->need_enforce)
        st_stream_maintain(s);
    if (s->npend + 3 > ST_PEND_MAX)
        return -EAGAIN;
    if ((rc = st_store_append(s->store, &in, NULL)) < 0)
        return rc;
    st_stream_changed(s);
    after_store(s, subj, subj_len, &ph, false, now, seq);
    if (ticket)
        *ticket = st_store_ticket(s->store);
    return 0;
}

/* ---- operations ---------------------------------------------------------- */

int
st_stream_delete_msg(struct st_stream *s, uint64_t seq, bool no_erase,
                     struct st_jserr *err)
{
    struct st_fast_state fs;
    int rc;

    if (s->cfg.sealed) {
        st_jserr_set(err, 400, 10109, "invalid operation on sealed stream");
        return -EINVAL;
    }
    if (s->cfg.deny_delete) {
        st_jserr_set(err, 500, 10057, "message delete not permitted");
        return -EINVAL;
    }
    st_stream_fast_state(s->store, &fs);
    if (seq == 0 || seq < fs.first_seq) {
        st_jserr_set(err, 500, 10057, "no message found");
        return -EINVAL;
    }
    if (seq > fs.last_seq) {
        st_jserr_set(err, 500, 10057, "stream store EOF");
        return -EINVAL;
    }
    rc = remove_one(s, seq, true);
    if (rc == -ENOENT) {
        st_jserr_set(err, 400, 10043, "sequence %llu not found",
                     (unsigned long long)seq);
        return -EINVAL;
    }
    if (rc < 0) {
        st_jserr_set(err, 500, 10057, "%s", strerror(-rc));
        return rc;
    }
    return 0;
}

int
st_stream_purge(struct st_stream *s, const char *filter, size_t flen,
                uint64_t seq, uint64_t keep, uint64_t *purged,
                struct st_jserr *err)
{
    struct st_fast_state fs;
    int rc;

    *purged = 0;
    if (s->cfg.sealed) {
        st_jserr_set(err, 400, 10109, "invalid operation on sealed stream");
        return -EINVAL;
    }
    if (s->cfg.deny_purge) {
        st_jserr_set(err, 500, 10110, "stream purge not permitted");
        return -EINVAL;
    }
    rc = purge_report(s, filter, flen, seq, keep, purged);
    st_stream_fast_state(s->store, &fs);
    if (rc == 0 && fs.last_seq == 0)
        s->purged_empty = true;     /* nats-server then reports first 1 */
    if (rc < 0)
        st_jserr_set(err, 500, 10110, "%s", strerror(-rc));
    return rc;
}

int
st_stream_ack_remove(struct st_stream *s, uint64_t seq)
{
    int rc;

    if (s->cfg.retention == ST_SRET_LIMITS)
        return 0;
    rc = remove_one(s, seq, true);
    if (rc == -EAGAIN)
        return pend_add(s, ST_PEND_REMOVE, seq, NULL, 0);
    return rc;
}
