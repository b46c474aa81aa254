/*
 * st_read.c -- the file store's read side: get by sequence, the subject
 * of a sequence (index only), next matching a subject filter, last by
 * subject, state and statistics.
 *
 * NOTES
 *   A record not yet written (still in a write buffer) is copied from
 *   the buffer; everything else is read with pread(2) through the fd
 *   cache.  Every record read is checked (crc, type, sequence), so a
 *   damaged record is reported (-EBADMSG), never returned.
 *   Subject filters are matched against the in-memory subject table:
 *   iterating never reads records that do not match.
 *   Ownership: messages returned point into the caller's dt_buf.
 */
#include "st_store_int.h"

#include "dt_subject.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

enum st_fkind { ST_F_ALL, ST_F_LITERAL, ST_F_WILD };

struct st_filter {
    enum st_fkind kind;
    const char *s;
    size_t n;
    uint32_t sid;           /* LITERAL: ST_SUBJ_NONE = matches nothing */
};

static int
st_filter_init(const struct st_store *st, struct st_filter *f,
               const char *s, size_t n)
{
    f->s = s;
    f->n = n;
    f->sid = ST_SUBJ_NONE;
    if (s == NULL || n == 0 || (n == 1 && s[0] == '>')) {
        f->kind = ST_F_ALL;
        return 0;
    }
    if (!dt_subject_valid(s, n))
        return -EINVAL;
    if (dt_subject_valid_literal(s, n)) {
        f->kind = ST_F_LITERAL;
        f->sid = st_index_subj_find(&st->ix, s, n);
        return 0;
    }
    f->kind = ST_F_WILD;
    return 0;
}

static bool
st_filter_match(const struct st_store *st, const struct st_filter *f,
                uint32_t sid)
{
    switch (f->kind) {
    case ST_F_ALL:
        return true;
    case ST_F_LITERAL:
        return sid == f->sid;
    default: {
        size_t len;
        const char *subj = st_index_subj_str(&st->ix, sid, &len);
        return subj && dt_subject_matches(f->s, f->n, subj, len);
    }
    }
}

int
st_read_rec(struct st_store *st, struct st_seg *seg, uint64_t off,
            uint32_t len, struct dt_buf *buf, struct st_rec_hdr *h)
{
    buf->len = 0;
    int rc = dt_buf_reserve(buf, len);
    if (rc < 0)
        return rc;
    if (off + len <= seg->disk) {
        int fd = st_seg_fd(st, seg);
        if (fd < 0)
            return fd;
        size_t got = 0;
        while (got < len) {
            ssize_t n = pread(fd, buf->data + got, len - got,
                              (off_t)(off + got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return n < 0 ? -errno : -EBADMSG;
            got += (size_t)n;
        }
    } else {
        /* not written yet: it is in a write buffer */
        const struct st_wbuf *ws[2] = { st->wa, st->b.active ? st->wf : NULL };
        const char *src = NULL;
        for (int k = 0; k < 2 && src == NULL; k++) {
            const struct st_wbuf *w = ws[k];
            for (unsigned i = 0; w && i < w->next && src == NULL; i++) {
                const struct st_extent *x = &w->ext[i];
                if (x->seg == seg && off >= x->off
                    && off + len <= x->off + x->len)
                    src = w->data + x->buf_off + (off - x->off);
            }
        }
        if (src == NULL)
            return -EIO;
        memcpy(buf->data, src, len);
    }
    buf->len = len;
    return st_rec_check(buf->data, len, h);
}

static int
st_fill(struct st_store *st, uint64_t seq, struct st_msg *m,
        struct dt_buf *buf)
{
    const struct st_ient *e = st_index_at(&st->ix, seq);
    if (e == NULL || e->len == 0)
        return -ENOENT;
    struct st_seg *seg = st_seg_of(st, seq);
    if (seg == NULL)
        return -EIO;
    struct st_rec_hdr h;
    int rc = st_read_rec(st, seg, e->off, ST_IENT_LEN(e), buf, &h);
    if (rc < 0)
        return rc;
    if (h.type != ST_REC_MSG || h.seq != seq)
        return -EBADMSG;
    const char *p = buf->data + ST_REC_HDR;
    m->seq = seq;
    m->ts = h.ts;
    m->subj = p;
    m->subj_len = h.subj_len;
    m->hdr = h.hdr_len ? p + h.subj_len : NULL;
    m->hdr_len = h.hdr_len;
    m->data = p + h.subj_len + h.hdr_len;
    m->data_len = h.data_len;
    return 0;
}

int
st_store_get(struct st_store *st, uint64_t seq, struct st_msg *m,
             struct dt_buf *buf)
{
    if (st == NULL || m == NULL || buf == NULL)
        return -EINVAL;
    return st_fill(st, seq, m, buf);
}

const char *
st_store_subject(const struct st_store *st, uint64_t seq, size_t *len)
{
    *len = 0;
    if (st == NULL)
        return NULL;
    const struct st_ient *e = st_index_at(&st->ix, seq);
    if (e == NULL || e->len == 0)
        return NULL;
    return st_index_subj_str(&st->ix, e->subj, len);
}

int
st_store_next(struct st_store *st, uint64_t start, const char *filter,
              size_t filter_len, struct st_msg *m, struct dt_buf *buf)
{
    if (st == NULL || m == NULL || buf == NULL)
        return -EINVAL;
    struct st_filter f;
    int rc = st_filter_init(st, &f, filter, filter_len);
    if (rc < 0)
        return rc;
    struct st_index *ix = &st->ix;
    uint64_t seq = start > ix->base ? start : ix->base;
    uint64_t end = ix->base + ix->count;
    if (f.kind == ST_F_LITERAL) {
        if (f.sid == ST_SUBJ_NONE)
            return -ENOENT;
        uint64_t first = st_index_subj_first(ix, f.sid);
        if (seq < first)
            seq = first;
        end = st_index_subj_last(ix, f.sid) + 1;
    }
    for (; seq < end; seq++) {
        const struct st_ient *e = &ix->e[ix->head + (seq - ix->base)];
        if (e->len && st_filter_match(st, &f, e->subj))
            return st_fill(st, seq, m, buf);
    }
    return -ENOENT;
}

int
st_store_last(struct st_store *st, const char *subj, size_t subj_len,
              struct st_msg *m, struct dt_buf *buf)
{
    if (st == NULL || m == NULL || buf == NULL)
        return -EINVAL;
    struct st_filter f;
    int rc = st_filter_init(st, &f, subj, subj_len);
    if (rc < 0)
        return rc;
    struct st_index *ix = &st->ix;
    if (f.kind == ST_F_LITERAL) {
        if (f.sid == ST_SUBJ_NONE)
            return -ENOENT;
        return st_fill(st, st_index_subj_last(ix, f.sid), m, buf);
    }
    for (uint64_t k = ix->count; k > 0; k--) {
        const struct st_ient *e = &ix->e[ix->head + k - 1];
        if (e->len && st_filter_match(st, &f, e->subj))
            return st_fill(st, ix->base + k - 1, m, buf);
    }
    return -ENOENT;
}

static void
st_ss_add(struct st_subject_state *o, uint64_t msgs, uint64_t first,
          uint64_t last)
{
    if (msgs == 0)
        return;
    o->msgs += msgs;
    if (o->first_seq == 0 || first < o->first_seq)
        o->first_seq = first;
    if (last > o->last_seq)
        o->last_seq = last;
}

int
st_store_subject_state(struct st_store *st, const char *filter,
                       size_t filter_len, struct st_subject_state *out)
{
    if (st == NULL || out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    struct st_filter f;
    int rc = st_filter_init(st, &f, filter, filter_len);
    if (rc < 0)
        return rc;
    struct st_index *ix = &st->ix;
    if (f.kind == ST_F_ALL) {
        uint64_t last = 0;
        for (uint64_t k = ix->count; k > 0 && last == 0; k--)
            if (ix->e[ix->head + k - 1].len)
                last = ix->base + k - 1;
        st_ss_add(out, st->msgs, ix->base, last);
        return 0;
    }
    if (f.kind == ST_F_LITERAL) {
        if (f.sid != ST_SUBJ_NONE)
            st_ss_add(out, ix->subj[f.sid].msgs,
                      st_index_subj_first(ix, f.sid),
                      st_index_subj_last(ix, f.sid));
        return 0;
    }
    for (uint32_t id = 0; id < ix->nsubj; id++) {
        if (ix->subj[id].len == 0 || !st_filter_match(st, &f, id))
            continue;
        st_ss_add(out, ix->subj[id].msgs, st_index_subj_first(ix, id),
                  st_index_subj_last(ix, id));
    }
    return 0;
}

void
st_store_state(struct st_store *st, struct st_state *out)
{
    memset(out, 0, sizeof(*out));
    if (st == NULL)
        return;
    out->msgs = st->msgs;
    out->bytes = st->bytes;
    out->first_seq = st_first_seq(st);
    out->last_seq = st->last_seq;
    out->last_ts = st->last_ts;
    out->num_subjects = st->ix.live_subj;
    if (st->msgs) {
        out->num_deleted = st->last_seq - out->first_seq + 1 - st->msgs;
        if (st->fts_seq != out->first_seq) {
            struct dt_buf b = { 0 };
            struct st_msg m;
            if (st_fill(st, out->first_seq, &m, &b) == 0) {
                st->fts_seq = out->first_seq;
                st->fts = m.ts;
            }
            dt_buf_free(&b);
        }
        out->first_ts = st->fts_seq == out->first_seq ? st->fts : 0;
    }
}

void
st_store_stats(const struct st_store *st, struct st_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (st == NULL)
        return;
    *out = st->stats;
    out->index_entries = st->ix.count;
    out->index_bytes = st_index_mem_seq(&st->ix);
    out->subjects = st->ix.live_subj;
    out->subject_bytes = st_index_mem_subj(&st->ix);
    out->segments = st->nsegs;
    out->open_files = st->open_fds;
    for (uint32_t i = 0; i < st->nsegs; i++)
        out->disk_bytes += st->segs[i]->size;
    out->durable_seq = st->durable_seq;
    out->ticket = st->ticket;
    out->durable_ticket = st->durable_ticket;
}
