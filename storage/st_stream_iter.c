/*
 * st_stream_iter.c -- what the stream layer reads from the file store's
 * in-memory indexes without reading records: the cheap state the publish
 * path checks per message, the subjects with their counts (stream info
 * "subjects"), the deleted sequences ("deleted") and the sequences a
 * filtered removal will take, with their subjects (so consumers can be
 * told one by one).
 *
 * NOTES
 *   These walk st_store's private index (st_store_int.h), read-only.
 *   They belong with st_read.c once the store grows public iterators;
 *   they live here so the store's files stay untouched.
 *   Costs: subjects O(subjects), deleted and collect O(last - first)
 *   12-byte index entries; no I/O.  Collect also keeps 16 bytes per
 *   message taken and one copy of each distinct subject taken.
 *   Ownership: arrays handed out are malloc'ed for the caller.
 */
#include "st_stream_int.h"

#include "st_store_int.h"
#include "dt_buf.h"
#include "dt_subject.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
st_stream_fast_state(struct st_store *st, struct st_fast_state *out)
{
    out->msgs = st->msgs;
    out->bytes = st->bytes;
    out->last_seq = st->last_seq;
    out->first_seq = st_first_seq(st);
}

static bool
filter_all(const char *f, size_t n)
{
    return f == NULL || n == 0 || (n == 1 && f[0] == '>');
}

int
st_stream_subjects(struct st_stream *s, const char *filter, size_t flen,
                   int (*fn)(void *arg, const char *subj, size_t len,
                             uint64_t msgs),
                   void *arg)
{
    struct st_store *st = s->store;
    const struct st_index *ix = &st->ix;
    bool all = filter_all(filter, flen);

    for (uint32_t id = 0; id < ix->nsubj; id++) {
        const struct st_subj *sj = &ix->subj[id];
        size_t len;
        if (sj->len == 0 || sj->msgs == 0)
            continue;
        const char *subj = st_index_subj_str(ix, id, &len);
        if (subj == NULL)
            continue;
        if (!all && !dt_subject_matches(filter, flen, subj, len))
            continue;
        int rc = fn(arg, subj, len, sj->msgs);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
st_stream_deleted(struct st_stream *s, uint64_t max,
                  int (*fn)(void *arg, uint64_t seq), void *arg)
{
    struct st_store *st = s->store;
    uint64_t first = st_first_seq(st), sent = 0;

    if (st->msgs == 0)
        return 0;
    for (uint64_t seq = first; seq <= st->last_seq; seq++) {
        const struct st_ient *e = st_index_at(&st->ix, seq);
        if (e != NULL && e->len != 0)
            continue;
        if (max && sent == max)
            break;
        int rc = fn(arg, seq);
        if (rc != 0)
            return rc;
        sent++;
    }
    return 0;
}

/*
 * Where subject id `sid` is in `subjs` (copied there on first sight), or
 * UINT32_MAX when it does not match.  memo[sid]: 0 unknown, UINT32_MAX
 * no match, else offset + 1, so a wildcard costs one match and one copy
 * per distinct subject.  -ENOMEM through *err.
 */
static uint32_t
sid_slot(struct st_store *st, uint32_t sid, const char *f, size_t fn,
         uint32_t *memo, struct dt_buf *subjs, int *err)
{
    size_t len;
    const char *subj;

    if (sid >= st->ix.nsubj)
        return UINT32_MAX;
    if (memo[sid] != 0)
        return memo[sid] == UINT32_MAX ? UINT32_MAX : memo[sid] - 1;
    subj = st_index_subj_str(&st->ix, sid, &len);
    if (subj == NULL || (f && !dt_subject_matches(f, fn, subj, len))) {
        memo[sid] = UINT32_MAX;
        return UINT32_MAX;
    }
    if (subjs->len + len >= UINT32_MAX - 1
        || dt_buf_append(subjs, subj, len) < 0) {
        *err = -ENOMEM;
        return UINT32_MAX;
    }
    memo[sid] = (uint32_t)(subjs->len - len) + 1;
    return memo[sid] - 1;
}

static int
rm_push(struct st_rm **v, size_t *cnt, size_t *cap, const struct st_rm *r)
{
    if (*cnt == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct st_rm *nv = realloc(*v, ncap * sizeof(*nv));
        if (nv == NULL)
            return -ENOMEM;
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*cnt)++] = *r;
    return 0;
}

int
st_stream_collect(struct st_store *st, const char *filter, size_t flen,
                  uint64_t below, struct st_rm **out, size_t *n,
                  struct dt_buf *subjs)
{
    bool all = filter_all(filter, flen);
    struct st_rm *v = NULL;
    size_t cnt = 0, cap = 0;
    uint32_t *memo;
    int rc = 0;

    *out = NULL;
    *n = 0;
    if (st->msgs == 0)
        return 0;
    memo = calloc(st->ix.nsubj ? st->ix.nsubj : 1, sizeof(*memo));
    if (memo == NULL)
        return -ENOMEM;
    uint64_t end = st->last_seq;
    if (below && below - 1 < end)
        end = below - 1;
    for (uint64_t seq = st_first_seq(st); seq <= end && rc == 0; seq++) {
        const struct st_ient *e = st_index_at(&st->ix, seq);
        if (e == NULL || e->len == 0)
            continue;
        uint32_t off = sid_slot(st, e->subj, all ? NULL : filter, flen, memo,
                                subjs, &rc);
        if (off == UINT32_MAX)
            continue;
        struct st_rm r = { seq, off, st->ix.subj[e->subj].len };
        rc = rm_push(&v, &cnt, &cap, &r);
    }
    free(memo);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}
