/*
 * st_purge.c -- removing messages: delete by sequence, purge (all, below
 * a sequence, keep N, by subject filter), and the limits the stream
 * layer enforces (max_msgs, max_bytes, max_age, max_msgs_per_subject).
 *
 * NOTES
 *   Every operation follows the same three steps: reserve log space
 *   (st_del_begin: the only step that can fail, before anything
 *   changes), apply the deletes to memory while collecting them in a
 *   bitmap, then log them (st_del_commit: a FIRST marker when the first
 *   sequence moved, DEL bitmaps for interior holes).  Removing the oldest
 *   messages therefore costs one 36-byte record, however many go, and a
 *   FIRST marker still unwritten is rewritten in place by the next one.
 *   Errors: 0 or -errno; -EAGAIN (buffers busy) and -ENOMEM leave the
 *   store unchanged.
 */
#include "st_store_int.h"

#include "dt_subject.h"

#include <errno.h>
#include <string.h>

static bool
st_filter_all(const char *f, size_t n)
{
    return f == NULL || n == 0 || (n == 1 && f[0] == '>');
}

/* Delete everything below n: one FIRST record. */
static int
st_cut_below(struct st_store *st, uint64_t n, uint64_t *removed)
{
    uint64_t old_first = st_first_seq(st), before = st->msgs;
    if (n <= old_first)
        return 0;
    int rc = st_del_begin(st, st_del_estimate(0));
    if (rc < 0)
        return rc;
    st_apply_floor(st, n);
    struct st_delset ds = { 0 };
    st_del_commit(st, &ds, old_first);
    *removed += before - st->msgs;
    return 0;
}

int
st_store_delete(struct st_store *st, uint64_t seq)
{
    if (st == NULL)
        return -EINVAL;
    if (st->failed)
        return st->failed;
    const struct st_ient *e = st_index_at(&st->ix, seq);
    if (e == NULL || e->len == 0)
        return -ENOENT;
    uint64_t old_first = st_first_seq(st);
    int rc = st_del_begin(st, st_del_estimate(8));
    if (rc < 0)
        return rc;
    struct st_delset ds = { 0 };
    rc = st_delset_add(&ds, seq);
    if (rc < 0)
        return rc;
    st_apply_kill(st, seq);
    st_del_commit(st, &ds, old_first);
    st_delset_free(&ds);
    return 0;
}

/*
 * Delete the messages in [from, to) whose subject matches `filter` (all
 * when NULL) or whose subject id is `sid` (when != ST_SUBJ_NONE), at
 * most `maxp` of them (0 = no limit).
 */
static int
st_cut_matching(struct st_store *st, const char *filter, size_t flen,
                uint32_t sid, uint64_t to, uint64_t maxp, uint64_t *removed)
{
    struct st_index *ix = &st->ix;
    uint64_t from = ix->base;
    if (sid != ST_SUBJ_NONE && st_index_subj_first(ix, sid) > from)
        from = st_index_subj_first(ix, sid);
    uint64_t end = ix->base + ix->count;
    if (to && to < end)
        end = to;
    if (from >= end)
        return 0;
    uint64_t old_first = st_first_seq(st);
    int rc = st_del_begin(st, st_del_estimate(end - from));
    if (rc < 0)
        return rc;
    struct st_delset ds = { 0 };
    uint64_t n = 0;
    for (uint64_t seq = from; seq < end; seq++) {
        const struct st_ient *e = &ix->e[ix->head + (seq - ix->base)];
        if (e->len == 0)
            continue;
        if (sid != ST_SUBJ_NONE) {
            if (e->subj != sid)
                continue;
        } else if (filter) {
            size_t sl;
            const char *s = st_index_subj_str(ix, e->subj, &sl);
            if (!dt_subject_matches(filter, flen, s, sl))
                continue;
        }
        if (st_delset_add(&ds, seq) < 0)
            break;              /* out of memory: log what is done */
        st_apply_kill(st, seq);
        if (++n == maxp)
            break;
    }
    st_del_commit(st, &ds, old_first);
    st_delset_free(&ds);
    *removed += n;
    return 0;
}

int
st_store_purge(struct st_store *st, const struct st_purge *p,
               uint64_t *purged)
{
    uint64_t removed = 0;
    if (purged)
        *purged = 0;
    if (st == NULL || p == NULL || (p->filter == NULL && p->filter_len))
        return -EINVAL;
    if (st->failed)
        return st->failed;
    int rc;
    if (st_filter_all(p->filter, p->filter_len)) {
        if (p->keep == 0 && p->seq <= 1)
            rc = st_cut_below(st, st->last_seq + 1, &removed);
        else if (p->seq > 1)
            rc = st_cut_below(st, p->seq, &removed);
        else if (p->keep >= st->msgs)
            rc = 0;
        else
            rc = st_cut_below(st, st->last_seq - p->keep + 1, &removed);
    } else {
        if (!dt_subject_valid(p->filter, p->filter_len))
            return -EINVAL;
        uint64_t maxp = 0;
        if (p->keep) {
            struct st_subject_state ss;
            rc = st_store_subject_state(st, p->filter, p->filter_len, &ss);
            if (rc < 0)
                return rc;
            if (p->keep >= ss.msgs)
                return 0;
            maxp = ss.msgs - p->keep;
        }
        uint32_t sid = ST_SUBJ_NONE;
        if (dt_subject_valid_literal(p->filter, p->filter_len)) {
            sid = st_index_subj_find(&st->ix, p->filter, p->filter_len);
            if (sid == ST_SUBJ_NONE)
                return 0;
        }
        rc = st_cut_matching(st, p->filter, p->filter_len, sid, p->seq, maxp,
                             &removed);
    }
    if (purged)
        *purged = removed;
    return rc;
}

/* Timestamp of a live message (reads its record). */
static int
st_msg_ts(struct st_store *st, uint64_t seq, struct dt_buf *scratch,
          int64_t *ts)
{
    struct st_msg m;
    int rc = st_store_get(st, seq, &m, scratch);
    if (rc == 0)
        *ts = m.ts;
    return rc;
}

int
st_store_enforce(struct st_store *st, const struct st_limits *lim,
                 int64_t now_ns, uint64_t *removed)
{
    uint64_t n = 0;
    if (removed)
        *removed = 0;
    if (st == NULL || lim == NULL)
        return -EINVAL;
    if (st->failed)
        return st->failed;
    struct st_index *ix = &st->ix;
    int64_t cutoff = lim->max_age_ns > 0 ? now_ns - lim->max_age_ns
                                         : INT64_MIN;
    uint64_t drop_msgs = 0, drop_bytes = 0;
    uint64_t cut = ix->base, end = ix->base + ix->count;
    struct dt_buf scratch = { 0 };
    int rc = 0;
    const struct st_seg *old_seg = NULL;    /* wholly older than cutoff */
    for (; cut < end; cut++) {
        const struct st_ient *e = &ix->e[ix->head + (cut - ix->base)];
        if (e->len == 0)
            continue;
        uint64_t left = st->msgs - drop_msgs;
        uint64_t left_b = st->bytes - drop_bytes;
        bool drop = (lim->max_msgs && left > lim->max_msgs)
            || (lim->max_bytes && left_b > lim->max_bytes);
        if (!drop && cutoff != INT64_MIN) {
            const struct st_seg *seg = st_seg_of(st, cut);
            if (seg && seg == old_seg) {
                drop = true;
            } else if (seg && seg->last_ts < cutoff) {
                old_seg = seg;  /* whole segment expired: no reads */
                drop = true;
            } else {
                int64_t ts = 0;
                rc = st_msg_ts(st, cut, &scratch, &ts);
                if (rc < 0)
                    break;
                drop = ts < cutoff;
            }
        }
        if (!drop)
            break;
        drop_msgs++;
        drop_bytes += ST_IENT_LEN(e) - 6 + ((e->len & ST_IENT_HDRS) ? 4 : 0);
    }
    dt_buf_free(&scratch);
    if (rc < 0)
        return rc;
    if (drop_msgs)
        rc = st_cut_below(st, cut, &n);
    if (removed)
        *removed = n;
    return rc;
}

int
st_store_enforce_subject(struct st_store *st, const char *subj,
                         size_t subj_len, uint64_t max_per_subject,
                         uint64_t *removed)
{
    uint64_t n = 0;
    if (removed)
        *removed = 0;
    if (st == NULL || subj == NULL)
        return -EINVAL;
    if (st->failed)
        return st->failed;
    if (max_per_subject == 0)
        return 0;
    uint32_t sid = st_index_subj_find(&st->ix, subj, subj_len);
    if (sid == ST_SUBJ_NONE || st->ix.subj[sid].msgs <= max_per_subject)
        return 0;
    uint64_t over = st->ix.subj[sid].msgs - max_per_subject;
    int rc = st_cut_matching(st, NULL, 0, sid, 0, over, &n);
    if (removed)
        *removed = n;
    return rc;
}
