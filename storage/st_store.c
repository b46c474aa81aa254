/*
 * st_store.c -- the file store's life cycle and write path: open/close,
 * segments and their fd cache, record encoding, the double write buffer,
 * the batch engine (linked writes -> fdatasync through the I/O seam,
 * group commit), durability reports, error recovery and segment removal.
 *
 * NOTES
 *   Ordering: io_uring does not order a write before a later fsync, so a
 *   batch is one IOSQE_IO_LINK chain: write(seg A) -> write(seg B) ->
 *   fdatasync(A) -> fdatasync(B) -> fsync(dir) [-> checkpoint write ->
 *   checkpoint fdatasync].  A short write breaks the chain (the rest
 *   completes with -ECANCELED); the batch waits for all its completions,
 *   then resubmits from the first unfinished op (bounded retries).
 *   Reports: in ALWAYS mode on_done() fires when the data ops (through
 *   the fsyncs) are complete; in INTERVAL mode when the writes are.
 *   Errors: a write failing for lack of space (-ENOSPC, -EDQUOT, -EFBIG)
 *   fails every unwritten op, cuts the files back to what was written
 *   and reloads the indexes from disk -- the same recovery as at open,
 *   so there is one recovery path to trust.  Any other I/O error (fsync
 *   above all: after a failed fsync the page cache state is unknown)
 *   makes the store refuse changes until it is reopened.
 *   Segment removal waits until the deletes that emptied a segment are
 *   fsynced, so a crash cannot bring deleted messages back.
 */
#include "st_store_int.h"

#include "dt_log.h"
#include "dt_subject.h"
#include "st_crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024u * 1024u)
#define ST_WBUF_MIN (64u * 1024u)

static void st_batch_cb(void *owner, uint32_t tag, int32_t res);
static int st_batch_start(struct st_store *st);
static int st_batch_submit(struct st_store *st, unsigned from);

/* ---- configuration ------------------------------------------------------- */

void
st_config_default(struct st_config *c)
{
    if (c->segment_size == 0)
        c->segment_size = 8 * MiB;
    if (c->max_record == 0)
        c->max_record = 8 * MiB + 64 * 1024;
    if (c->write_buffer == 0)
        c->write_buffer = 1 * MiB;
    if (c->sync_interval_ns == 0)
        c->sync_interval_ns = 120ull * 1000000000ull;
    if (c->checkpoint_bytes == 0)
        c->checkpoint_bytes = 64ull * MiB;
    if (c->checkpoint_interval_ns == 0)
        c->checkpoint_interval_ns = 120ull * 1000000000ull;
    if (c->max_open_files == 0)
        c->max_open_files = 16;
}

static int
st_config_check(const struct st_config *c)
{
    if (c->segment_size < 64 * 1024 || c->segment_size > 1024ull * MiB)
        return -EINVAL;
    if (c->max_record < 4096 || c->max_record > ST_REC_ABS_MAX)
        return -EINVAL;
    if (c->write_buffer < 4096 || c->write_buffer > 64 * MiB)
        return -EINVAL;
    if (c->sync != ST_SYNC_ALWAYS && c->sync != ST_SYNC_INTERVAL)
        return -EINVAL;
    if (c->sync_interval_ns < 1000000 || c->checkpoint_interval_ns < 1000000)
        return -EINVAL;
    if (c->checkpoint_bytes < 64 * 1024)
        return -EINVAL;
    if (c->max_open_files < 4 || c->max_open_files > 4096)
        return -EINVAL;
    return 0;
}

/* ---- segments ------------------------------------------------------------ */

void
st_seg_name(uint64_t id, char *out, size_t n)
{
    snprintf(out, n, "%016" PRIx64 ST_SEG_SUFFIX, id);
}

struct st_seg *
st_seg_new(uint64_t id, int fd)
{
    struct st_seg *seg = calloc(1, sizeof(*seg));
    if (seg == NULL)
        return NULL;
    seg->id = id;
    seg->fd = fd;
    return seg;
}

int
st_seg_push(struct st_store *st, struct st_seg *seg)
{
    if (st->nsegs == st->segs_cap) {
        uint32_t cap = st->segs_cap ? st->segs_cap * 2 : 16;
        struct st_seg **p = realloc(st->segs, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        st->segs = p;
        st->segs_cap = cap;
    }
    st->segs[st->nsegs++] = seg;
    return 0;
}

void
st_seg_free(struct st_store *st, struct st_seg *seg)
{
    if (seg->fd >= 0) {
        close(seg->fd);
        st->open_fds--;
    }
    free(seg);
}

uint64_t
st_first_seq(const struct st_store *st)
{
    return st->msgs ? st->ix.base : st->last_seq + 1;
}

/* First segment whose max_seq >= seq (max_seq is non-decreasing). */
struct st_seg *
st_seg_of(const struct st_store *st, uint64_t seq)
{
    uint32_t lo = 0, hi = st->nsegs;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (st->segs[mid]->max_seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < st->nsegs ? st->segs[lo] : NULL;
}

/* Close least recently used fds beyond the cap; never one in use. */
static void
st_fd_evict(struct st_store *st, const struct st_seg *keep)
{
    while (st->open_fds > st->cfg.max_open_files) {
        struct st_seg *victim = NULL;
        for (uint32_t i = 0; i < st->nsegs; i++) {
            struct st_seg *s = st->segs[i];
            if (s->fd < 0 || s == keep || s == st->active || s->io_refs
                || s->pending)
                continue;
            if (victim == NULL || s->last_use < victim->last_use)
                victim = s;
        }
        if (victim == NULL)
            return;
        close(victim->fd);
        victim->fd = -1;
        st->open_fds--;
    }
}

int
st_seg_fd(struct st_store *st, struct st_seg *seg)
{
    seg->last_use = ++st->use_clock;
    if (seg->fd >= 0)
        return seg->fd;
    char name[32];
    st_seg_name(seg->id, name, sizeof(name));
    int fd = openat(st->dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd == -1) {
        int err = errno;
        dt_error("openat(%s) failed: %s", name, strerror(err));
        return -err;
    }
    seg->fd = fd;
    st->open_fds++;
    st_fd_evict(st, seg);
    return fd;
}

/* ---- records ------------------------------------------------------------- */

uint32_t
st_rec_crc(const char *p, uint32_t len)
{
    uint32_t c = st_crc32c(0, p, 4);
    return st_crc32c(c, p + 8, len - 8);
}

int
st_rec_check(const char *p, size_t avail, struct st_rec_hdr *h)
{
    if (avail < ST_REC_HDR)
        return -EBADMSG;
    memcpy(h, p, ST_REC_HDR);
    if (h->len < ST_REC_HDR || h->len > avail || h->len > ST_REC_ABS_MAX)
        return -EBADMSG;
    if ((uint64_t)ST_REC_HDR + h->subj_len + h->hdr_len + h->data_len
        != h->len || h->flags != 0 || h->seq == 0)
        return -EBADMSG;
    switch (h->type) {
    case ST_REC_MSG:
        if (h->subj_len == 0)
            return -EBADMSG;
        break;
    case ST_REC_DEL:
        if (h->subj_len || h->hdr_len || h->data_len == 0
            || h->data_len > ST_DEL_MAX_BITMAP
            || h->seq > UINT64_MAX - 8ull * h->data_len)
            return -EBADMSG;
        break;
    case ST_REC_FIRST:
        if (h->subj_len || h->hdr_len || h->data_len)
            return -EBADMSG;
        break;
    default:
        return -EBADMSG;
    }
    if (st_rec_crc(p, h->len) != h->crc)
        return -EBADMSG;
    return 0;
}

static void
st_rec_encode(char *p, uint8_t type, uint64_t seq, int64_t ts,
              const char *subj, size_t slen, const void *hdr, size_t hlen,
              const void *data, size_t dlen)
{
    struct st_rec_hdr h;
    memset(&h, 0, sizeof(h));
    h.len = (uint32_t)(ST_REC_HDR + slen + hlen + dlen);
    h.seq = seq;
    h.ts = ts;
    h.subj_len = (uint16_t)slen;
    h.type = type;
    h.hdr_len = (uint32_t)hlen;
    h.data_len = (uint32_t)dlen;
    memcpy(p, &h, ST_REC_HDR);
    char *q = p + ST_REC_HDR;
    if (slen)
        memcpy(q, subj, slen);
    if (hlen)
        memcpy(q + slen, hdr, hlen);
    if (dlen)
        memcpy(q + slen + hlen, data, dlen);
    uint32_t crc = st_rec_crc(p, h.len);
    memcpy(p + 4, &crc, 4);
}

static uint64_t
st_ent_bytes(const struct st_ient *e)
{
    /* nats-server: 22 + subj + msg + 8 (+ 4 + hdr): our record has 36
     * bytes of header instead of 30 (34 with headers) */
    return ST_IENT_LEN(e) - 6 + ((e->len & ST_IENT_HDRS) ? 4 : 0);
}

/* ---- memory effects of records ------------------------------------------- */

/* sid: the subject's id when the caller interned it, else ST_SUBJ_NONE */
int
st_apply_msg(struct st_store *st, struct st_seg *seg,
             const struct st_rec_hdr *h, const char *subj, uint32_t sid,
             uint32_t off)
{
    int rc = 0;
    if (sid == ST_SUBJ_NONE)
        rc = st_index_subj_intern(&st->ix, subj, h->subj_len, &sid);
    if (rc < 0)
        return rc;
    uint32_t lenf = h->len | (h->hdr_len ? ST_IENT_HDRS : 0);
    rc = st_index_push(&st->ix, h->seq, off, lenf, sid);
    if (rc < 0) {
        if (st->ix.subj[sid].msgs == 0)
            st_index_subj_sweep(&st->ix);
        return rc;
    }
    seg->msgs++;
    seg->max_seq = h->seq;
    if (h->ts > seg->last_ts)
        seg->last_ts = h->ts;
    st->msgs++;
    st->bytes += st_ent_bytes(st_index_at(&st->ix, h->seq));
    st->last_seq = h->seq;
    st->last_ts = h->ts;
    return 0;
}

int
st_apply_kill(struct st_store *st, uint64_t seq)
{
    struct st_ient e;
    if (st_index_kill(&st->ix, seq, &e) < 0)
        return -ENOENT;
    struct st_seg *seg = st_seg_of(st, seq);
    if (seg && seg->msgs && --seg->msgs == 0)
        st_gc_check(st, seg);
    st->msgs--;
    st->bytes -= st_ent_bytes(&e);
    return 0;
}

void
st_apply_floor(struct st_store *st, uint64_t n)
{
    uint64_t end = st->ix.base + st->ix.count;
    for (uint64_t seq = st->ix.base; seq < n && seq < end; seq++) {
        const struct st_ient *e = st_index_at(&st->ix, seq);
        if (e && e->len)
            st_apply_kill(st, seq);
    }
    st_index_advance(&st->ix, n);
    if (n > 0 && n - 1 > st->last_seq)
        st->last_seq = n - 1;
}

void
st_apply_del(struct st_store *st, uint64_t base, const uint8_t *bits,
             size_t nbytes)
{
    for (size_t i = 0; i < nbytes; i++) {
        if (bits[i] == 0)
            continue;
        for (unsigned k = 0; k < 8; k++)
            if (bits[i] & (1u << k))
                st_apply_kill(st, base + 8 * i + k);
    }
    st_index_trim(&st->ix);
}

/* ---- write buffers --------------------------------------------------------- */

static int
st_wbuf_room(struct st_wbuf *w, size_t need)
{
    if (w->len + need <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : ST_WBUF_MIN;
    while (cap < w->len + need)
        cap *= 2;
    char *p = realloc(w->data, cap);
    if (p == NULL)
        return -ENOMEM;
    w->data = p;
    w->cap = cap;
    return 0;
}

static void
st_wbuf_reset(struct st_store *st, struct st_wbuf *w)
{
    for (unsigned i = 0; i < w->next; i++)
        w->ext[i].seg->pending--;
    w->len = 0;
    w->next = 0;
    w->seq_lo = w->seq_hi = 0;
    w->last_rec = SIZE_MAX;
    w->last_is_first = false;
    /* a huge delete set grew it: give the memory back */
    if (w->cap > 4 * (size_t)st->cfg.write_buffer + ST_REC_ABS_MAX) {
        free(w->data);
        w->data = NULL;
        w->cap = 0;
    }
}

static void
st_ext_open(struct st_wbuf *w, struct st_seg *seg)
{
    struct st_extent *x = &w->ext[w->next++];
    x->seg = seg;
    x->off = seg->size;
    x->buf_off = w->len;
    x->len = 0;
    seg->pending++;
}

/* Claim len bytes at the end of the active buffer (room reserved). */
static char *
st_wbuf_put(struct st_store *st, uint32_t len, uint64_t *off)
{
    struct st_wbuf *w = st->wa;
    struct st_extent *x = &w->ext[w->next - 1];
    char *p = w->data + w->len;
    *off = st->active->size;
    w->last_rec = w->len;
    w->last_is_first = false;
    w->len += len;
    x->len += len;
    st->active->size += len;
    st->ckp_bytes_since += len;
    return p;
}

static int
st_roll(struct st_store *st, size_t need)
{
    struct st_wbuf *w = st->wa;
    int rc = st_wbuf_room(w, ST_SEG_HDR + need);
    if (rc < 0)
        return rc;
    char name[32];
    uint64_t id = st->next_seg_id;
    st_seg_name(id, name, sizeof(name));
    int fd = openat(st->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                    0640);
    if (fd == -1) {
        rc = -errno;
        dt_error("openat(%s) failed creating a segment: %s", name,
                 strerror(-rc));
        return rc;
    }
    struct st_seg *seg = st_seg_new(id, fd);
    if (seg)
        seg->max_seq = st->nsegs ? st->segs[st->nsegs - 1]->max_seq : 0;
    if (seg == NULL || st_seg_push(st, seg) < 0) {
        close(fd);
        unlinkat(st->dirfd, name, 0);
        free(seg);
        return -ENOMEM;
    }
    st->open_fds++;
    st->next_seg_id++;
    st->dir_dirty = true;
    if (st->active && st->cfg.sync == ST_SYNC_INTERVAL
        && ++st->unsynced_rolls >= ST_MAX_UNSYNCED_ROLLS)
        st->sync_req = true;
    st->active = seg;
    st_ext_open(w, seg);

    struct st_seg_hdr h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, ST_SEG_MAGIC, sizeof(h.magic));
    h.version = ST_FORMAT_VERSION;
    h.hdr_len = ST_SEG_HDR;
    h.seg_id = id;
    h.first_seq = st_first_seq(st);
    h.last_seq = st->last_seq;
    h.crc = st_crc32c(0, &h, offsetof(struct st_seg_hdr, crc));
    uint64_t off;
    char *p = st_wbuf_put(st, ST_SEG_HDR, &off);
    memcpy(p, &h, ST_SEG_HDR);
    w->last_rec = SIZE_MAX;
    st->anchor = (struct st_anchor){ id, 0, ST_SEG_HDR, h.crc };
    st_fd_evict(st, seg);
    return 0;
}

/*
 * Room for `need` bytes of records at the end of the active segment and
 * buffer: may roll to a new segment, may start a batch to free a buffer.
 * soft: deletes may grow the buffer past write_buffer (bounded by the
 * index size, see st_del_estimate) and the segment past segment_size.
 */
static int
st_reserve(struct st_store *st, size_t need, bool soft)
{
    if (st->failed)
        return st->failed;
    struct st_seg *a = st->active;
    bool roll = a == NULL || a->size + need > ST_SEG_HARD_MAX
        || (a->size > ST_SEG_HDR && a->size + need > st->cfg.segment_size);
    size_t total = need + (roll ? ST_SEG_HDR : 0);
    struct st_wbuf *w = st->wa;
    bool new_ext = roll || w->next == 0 || w->ext[w->next - 1].seg != a;
    bool full = (new_ext && w->next == ST_MAX_EXT)
        || (!soft && w->len > 0 && w->len + total > st->cfg.write_buffer);
    if (full) {
        if (st->b.active) {
            st->flush_req = true;
            return -EAGAIN;
        }
        int rc = st_batch_start(st);
        if (rc < 0)
            return rc == -EBUSY ? -EAGAIN : rc;
        w = st->wa;
        if (w->len)
            return -EAGAIN;
        new_ext = true;
    }
    if (roll)
        return st_roll(st, need);
    if (new_ext)
        st_ext_open(w, a);
    return st_wbuf_room(w, need);
}

/* ---- appends --------------------------------------------------------------- */

static int64_t
st_now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
st_store_append(struct st_store *st, const struct st_rec_in *in,
                uint64_t *seq_out)
{
    if (st == NULL || in == NULL || in->subj == NULL
        || (in->hdr_len && in->hdr == NULL)
        || (in->data_len && in->data == NULL))
        return -EINVAL;
    if (st->failed)
        return st->failed;
    if (in->subj_len > UINT16_MAX
        || !dt_subject_valid_literal(in->subj, in->subj_len))
        return -EINVAL;
    if (in->hdr_len > st->cfg.max_record || in->data_len > st->cfg.max_record
        || ST_REC_HDR + in->subj_len + in->hdr_len + in->data_len
        > st->cfg.max_record)
        return -EMSGSIZE;
    if (in->seq && in->seq <= st->last_seq)
        return -EINVAL;
    uint64_t seq = in->seq ? in->seq : st->last_seq + 1;
    if (seq == UINT64_MAX)
        return -EOVERFLOW;
    uint32_t len = (uint32_t)(ST_REC_HDR + in->subj_len + in->hdr_len
                              + in->data_len);

    int rc = st_reserve(st, len, false);
    if (rc < 0)
        return rc;
    /* everything that can fail happens before the bytes are queued */
    uint32_t sid;
    rc = st_index_subj_intern(&st->ix, in->subj, in->subj_len, &sid);
    if (rc < 0)
        return rc;
    uint64_t first_gap = st->ix.count ? seq - (st->ix.base + st->ix.count)
                                      : 0;
    rc = st_index_reserve(&st->ix, first_gap + 1);
    if (rc < 0) {
        st_index_subj_sweep(&st->ix);
        return rc;
    }
    int64_t ts = in->ts ? in->ts : st_now_real();
    uint64_t off;
    char *p = st_wbuf_put(st, len, &off);
    st_rec_encode(p, ST_REC_MSG, seq, ts, in->subj, in->subj_len, in->hdr,
                  in->hdr_len, in->data, in->data_len);
    struct st_rec_hdr h;
    memcpy(&h, p, ST_REC_HDR);
    rc = st_apply_msg(st, st->active, &h, in->subj, sid, (uint32_t)off);
    if (rc < 0) {
        /* bytes are queued but unindexed: only a reload can reconcile */
        st->failed = -EIO;
        return rc;
    }
    st->anchor = (struct st_anchor){ st->active->id, off, off + len, h.crc };
    struct st_wbuf *w = st->wa;
    if (w->seq_lo == 0)
        w->seq_lo = seq;
    w->seq_hi = seq;
    st->ticket++;
    st->changed = true;
    if (seq_out)
        *seq_out = seq;
    return 0;
}

/* ---- deletes: log records ---------------------------------------------------- */

size_t
st_del_estimate(uint64_t range)
{
    uint64_t bytes = range / 8 + 1;
    uint64_t recs = bytes / ST_DEL_MAX_BITMAP + 2;
    return (size_t)(bytes + recs * ST_REC_HDR + ST_REC_HDR);
}

int
st_del_begin(struct st_store *st, size_t est_bytes)
{
    return st_reserve(st, est_bytes, true);
}

static void
st_queue_first(struct st_store *st, uint64_t n)
{
    struct st_wbuf *w = st->wa;
    struct st_seg *a = st->active;
    if (w->last_is_first && w->last_rec != SIZE_MAX) {
        /* coalesce: limits move the first sequence once per append */
        char *p = w->data + w->last_rec;
        memcpy(p + offsetof(struct st_rec_hdr, seq), &n, sizeof(n));
        uint32_t crc = st_rec_crc(p, ST_REC_HDR);
        memcpy(p + 4, &crc, 4);
        st->anchor.crc = crc;
    } else {
        uint64_t off;
        char *p = st_wbuf_put(st, ST_REC_HDR, &off);
        st_rec_encode(p, ST_REC_FIRST, n, st_now_real(), NULL, 0, NULL, 0,
                      NULL, 0);
        uint32_t crc;
        memcpy(&crc, p + 4, 4);
        st->anchor = (struct st_anchor){ a->id, off, off + ST_REC_HDR, crc };
        w->last_is_first = true;
        a->tombs++;
    }
    if (n - 1 > a->tomb_max)
        a->tomb_max = n - 1;
}

static void
st_queue_del(struct st_store *st, uint64_t base, const uint8_t *bits,
             size_t nbytes)
{
    struct st_seg *a = st->active;
    uint64_t off;
    char *p = st_wbuf_put(st, (uint32_t)(ST_REC_HDR + nbytes), &off);
    st_rec_encode(p, ST_REC_DEL, base, st_now_real(), NULL, 0, NULL, 0,
                  bits, nbytes);
    uint32_t crc;
    memcpy(&crc, p + 4, 4);
    st->anchor = (struct st_anchor){ a->id, off, off + ST_REC_HDR + nbytes,
                                     crc };
    a->tombs++;
    uint8_t top = bits[nbytes - 1];
    uint64_t hi = base + 8 * (nbytes - 1) + (uint64_t)(31 - __builtin_clz(top));
    if (hi > a->tomb_max)
        a->tomb_max = hi;
}

int
st_delset_add(struct st_delset *ds, uint64_t seq)
{
    if (ds->count == 0)
        ds->lo = seq;
    if (seq < ds->lo)
        return -EINVAL;
    uint64_t bit = seq - ds->lo;
    size_t need = (size_t)(bit / 8 + 1);
    if (need > ds->cap) {
        size_t cap = ds->cap ? ds->cap : 64;
        while (cap < need)
            cap *= 2;
        uint8_t *p = realloc(ds->bits, cap);
        if (p == NULL)
            return -ENOMEM;
        memset(p + ds->cap, 0, cap - ds->cap);
        ds->bits = p;
        ds->cap = cap;
    }
    ds->bits[bit / 8] |= (uint8_t)(1u << (bit % 8));
    ds->count++;
    if (seq > ds->hi)
        ds->hi = seq;
    return 0;
}

void
st_delset_free(struct st_delset *ds)
{
    free(ds->bits);
    memset(ds, 0, sizeof(*ds));
}

/*
 * Log what one operation deleted: a FIRST marker when the stream's first
 * sequence moved, and DEL bitmaps for the interior sequences above it.
 * Room was reserved by st_del_begin() with st_del_estimate().
 */
void
st_del_commit(struct st_store *st, struct st_delset *ds, uint64_t old_first)
{
    st_index_trim(&st->ix);
    uint64_t first = st_first_seq(st);
    bool logged = false;
    if (first > old_first) {
        st_queue_first(st, first);
        logged = true;
    }
    if (ds->count && ds->hi >= first) {
        uint64_t from = first > ds->lo ? first - ds->lo : 0;
        size_t b0 = (size_t)(from / 8);
        size_t nb = (size_t)((ds->hi - ds->lo) / 8 + 1);
        if (from % 8)           /* bits below `first` are covered already */
            ds->bits[b0] &= (uint8_t)(0xffu << (from % 8));
        while (b0 < nb) {
            while (b0 < nb && ds->bits[b0] == 0)
                b0++;
            if (b0 == nb)
                break;
            size_t e = b0 + ST_DEL_MAX_BITMAP < nb ? b0 + ST_DEL_MAX_BITMAP
                                                   : nb;
            while (ds->bits[e - 1] == 0)
                e--;
            st_queue_del(st, ds->lo + 8 * (uint64_t)b0, ds->bits + b0, e - b0);
            logged = true;
            b0 = e;
        }
    }
    /* doom before the ticket moves: dead_ticket is this op's ticket */
    st_gc_front(st);
    if (logged) {
        st->ticket++;
        st->changed = true;
    }
}

/* ---- segment removal --------------------------------------------------------- */

/* A segment may go once it holds no live message and every tombstone in
 * it points below the first sequence (nothing left to delete). */
void
st_gc_check(struct st_store *st, struct st_seg *seg)
{
    if (seg->doomed || seg == st->active || seg->msgs)
        return;
    if (seg->tombs && seg->tomb_max >= st_first_seq(st))
        return;
    seg->doomed = true;
    seg->dead_ticket = st->recovering ? 0 : st->ticket + 1;
    st->ndoomed++;
}

void
st_gc_front(struct st_store *st)
{
    for (uint32_t i = 0; i < st->nsegs; i++) {
        struct st_seg *seg = st->segs[i];
        if (seg == st->active || seg->msgs)
            break;
        st_gc_check(st, seg);
    }
}

void
st_gc_sweep(struct st_store *st)
{
    if (st->ndoomed == 0 || st->failed)
        return;
    uint32_t j = 0;
    for (uint32_t i = 0; i < st->nsegs; i++) {
        struct st_seg *seg = st->segs[i];
        if (seg->doomed && seg->dead_ticket <= st->synced_ticket
            && seg->io_refs == 0 && seg->pending == 0) {
            char name[32];
            st_seg_name(seg->id, name, sizeof(name));
            if (unlinkat(st->dirfd, name, 0) == -1 && errno != ENOENT) {
                dt_warn("unlinkat(%s) failed: %s", name, strerror(errno));
                st->segs[j++] = seg;
                continue;
            }
            st->ndoomed--;
            st->dir_dirty = true;
            st_seg_free(st, seg);
            continue;
        }
        st->segs[j++] = seg;
    }
    st->nsegs = j;
}

/* ---- the batch engine ---------------------------------------------------- */

static struct st_bop *
st_bop_add(struct st_batch *b, uint8_t kind, struct st_seg *seg, int fd)
{
    if (b->nops == ST_MAX_BOPS)
        return NULL;
    struct st_bop *op = &b->op[b->nops++];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->seg = seg;
    op->fd = fd;
    return op;
}

static bool
st_dirty_any(const struct st_store *st)
{
    /* unsynced segments are always a suffix: a sync covers all of them
     * and only the last segment is written */
    return st->nsegs && st->segs[st->nsegs - 1]->synced
        < st->segs[st->nsegs - 1]->size;
}

static void
st_ckp_abort(struct st_store *st)
{
    if (st->ckp_fd >= 0) {
        close(st->ckp_fd);
        st->ckp_fd = -1;
        unlinkat(st->dirfd, ST_CKP_TMP, 0);
    }
    free(st->ckp_buf);
    st->ckp_buf = NULL;
    st->ckp_len = 0;
}

static int
st_ckp_prepare(struct st_store *st)
{
    if (st->anchor.seg == 0 || st->nsegs == 0)
        return -ENOENT;
    int rc = st_ckp_build(st, &st->ckp_buf, &st->ckp_len);
    if (rc < 0)
        return rc;
    st->ckp_fd = openat(st->dirfd, ST_CKP_TMP,
                        O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (st->ckp_fd == -1) {
        rc = -errno;
        dt_warn("openat(%s) failed: %s", ST_CKP_TMP, strerror(-rc));
        st_ckp_abort(st);
        return rc;
    }
    st->ckp_bytes_since = 0;
    st->changed = false;
    return 0;
}

static void
st_ckp_commit(struct st_store *st)
{
    close(st->ckp_fd);
    st->ckp_fd = -1;
    if (renameat(st->dirfd, ST_CKP_TMP, st->dirfd, ST_CKP_NAME) == -1) {
        dt_warn("renameat(%s) failed: %s", ST_CKP_TMP, strerror(errno));
        unlinkat(st->dirfd, ST_CKP_TMP, 0);
        st->changed = true;
    } else {
        st->dir_dirty = true;
        st->stats.checkpoints++;
        st->stats.checkpoint_bytes = st->ckp_len;
        st->ckp_last_size = st->ckp_len;
    }
    free(st->ckp_buf);
    st->ckp_buf = NULL;
    st->ckp_len = 0;
}

/* Start writing the active buffer (and syncing, and maybe a checkpoint).
 * 0 when started or when there is nothing to do. */
static int
st_batch_start(struct st_store *st)
{
    if (st->failed)
        return st->failed;
    struct st_batch *b = &st->b;
    if (b->active) {
        st->flush_req = true;
        return 0;
    }
    struct st_wbuf *w = st->wa;
    bool sync = st->cfg.sync == ST_SYNC_ALWAYS || st->sync_req || st->ckp_req;
    bool work = w->len || st->ckp_req
        || (sync && (st_dirty_any(st) || st->dir_dirty));
    if (!work) {
        st->sync_req = false;
        st->flush_req = false;
        return 0;
    }
    for (unsigned i = 0; i < w->next; i++) {
        int fd = st_seg_fd(st, w->ext[i].seg);
        if (fd < 0)
            return fd;
    }
    b->nops = b->ndata = b->outstanding = b->retries = b->resume = 0;
    b->reported = b->ckp = b->need_submit = false;
    st->wa = st->wf;
    st->wf = w;
    for (unsigned i = 0; i < w->next; i++) {
        struct st_extent *x = &w->ext[i];
        struct st_bop *op = st_bop_add(b, ST_BOP_WRITE, x->seg, x->seg->fd);
        op->buf = w->data + x->buf_off;
        op->off = x->off;
        op->len = (uint32_t)x->len;
    }
    if (sync) {
        uint32_t i = st->nsegs;
        while (i > 0 && st->segs[i - 1]->synced < st->segs[i - 1]->size)
            i--;
        for (; i < st->nsegs; i++) {
            struct st_seg *seg = st->segs[i];
            int fd = st_seg_fd(st, seg);
            struct st_bop *op = fd < 0 ? NULL
                : st_bop_add(b, ST_BOP_FSYNC, seg, fd);
            if (op == NULL) {
                st->sync_req = true;    /* the rest next time */
                break;
            }
            op->target = seg->size;
        }
        if (st->dir_dirty && b->nops < ST_MAX_BOPS) {
            st_bop_add(b, ST_BOP_DIRSYNC, NULL, st->dirfd);
            st->dir_dirty = false;
        }
        st->unsynced_rolls = 0;
    }
    b->ndata = b->nops;
    if (st->ckp_req && b->nops + 2 <= ST_MAX_BOPS) {
        st->ckp_req = false;
        if (st_ckp_prepare(st) == 0) {
            struct st_bop *op = st_bop_add(b, ST_BOP_CKP_WRITE, NULL,
                                           st->ckp_fd);
            op->buf = st->ckp_buf;
            op->len = (uint32_t)st->ckp_len;
            st_bop_add(b, ST_BOP_CKP_FSYNC, NULL, st->ckp_fd);
            b->ckp = true;
        }
    }
    if (b->nops == 0) {
        st->wf = st->wa;
        st->wa = w;
        return 0;
    }
    b->active = true;
    b->sync = sync;
    b->seq_lo = w->seq_lo;
    b->seq_hi = w->seq_hi;
    b->ticket = st->ticket;
    st->flush_req = false;
    if (sync)
        st->sync_req = false;
    st->stats.batches++;
    int rc = st_batch_submit(st, 0);
    return rc == -EBUSY ? 0 : rc;
}

static int
st_batch_submit(struct st_store *st, unsigned from)
{
    struct st_batch *b = &st->b;
    if (st_io_space(st->io) < b->nops - from) {
        b->need_submit = true;
        b->resume = from;
        return -EBUSY;
    }
    b->need_submit = false;
    for (unsigned i = from; i < b->nops; i++) {
        struct st_bop *op = &b->op[i];
        unsigned flags = i + 1 < b->nops ? ST_IO_LINK : 0;
        int rc;
        op->err = 0;
        if (op->kind == ST_BOP_WRITE || op->kind == ST_BOP_CKP_WRITE)
            rc = st_io_write(st->io, op->fd, op->buf + op->done_bytes,
                             op->len - op->done_bytes,
                             op->off + op->done_bytes, flags, st_batch_cb, st,
                             i);
        else
            rc = st_io_fsync(st->io, op->fd, flags, st_batch_cb, st, i);
        if (rc < 0) {
            /* cannot happen after the space check; leave the rest for a
             * retry from here once the queued part completes */
            op->err = -EAGAIN;
            if (b->outstanding == 0) {
                b->need_submit = true;
                b->resume = i;
                return -EBUSY;
            }
            break;
        }
        if (op->seg)
            op->seg->io_refs++;
        b->outstanding++;
    }
    return 0;
}

static void
st_report(struct st_store *st, uint64_t lo, uint64_t hi, uint64_t ticket,
          int status)
{
    if (st->cfg.on_done == NULL)
        return;
    struct st_done d = { lo, hi, ticket, status };
    st->cfg.on_done(st->cfg.on_done_arg, &d);
}

static void
st_batch_report_ok(struct st_store *st)
{
    struct st_batch *b = &st->b;
    b->reported = true;
    if (b->ticket > st->durable_ticket)
        st->durable_ticket = b->ticket;
    if (b->seq_hi > st->durable_seq)
        st->durable_seq = b->seq_hi;
    if (b->sync && b->ticket > st->synced_ticket)
        st->synced_ticket = b->ticket;
    st_report(st, b->seq_lo, b->seq_hi, b->ticket, 0);
}

static void
st_batch_finish(struct st_store *st)
{
    struct st_batch *b = &st->b;
    for (unsigned i = 0; i < b->ndata; i++) {
        struct st_bop *op = &b->op[i];
        if (op->kind == ST_BOP_WRITE && op->off + op->len > op->seg->disk)
            op->seg->disk = op->off + op->len;
        if (op->kind == ST_BOP_FSYNC && op->target > op->seg->synced)
            op->seg->synced = op->target;
    }
    if (b->ckp)
        st_ckp_commit(st);
    st_wbuf_reset(st, st->wf);
    b->active = false;
    if (!b->reported)
        st_batch_report_ok(st);
    st_gc_sweep(st);
    if (st->flush_req || st->sync_req || st->ckp_req)
        (void)st_batch_start(st);
}

/* Cut every file back to what was written and rebuild memory from disk. */
static void
st_reload(struct st_store *st)
{
    for (uint32_t i = 0; i < st->nsegs; i++) {
        struct st_seg *seg = st->segs[i];
        if (seg->size <= seg->disk)
            continue;
        int fd = st_seg_fd(st, seg);
        if (fd < 0 || ftruncate(fd, (off_t)seg->disk) == -1) {
            dt_error("ftruncate() failed cutting a failed write: %s",
                     strerror(fd < 0 ? -fd : errno));
            st->failed = -EIO;
            return;
        }
    }
    st_wbuf_reset(st, st->wa);
    st_wbuf_reset(st, st->wf);
    st_state_clear(st);
    st->fts_seq = 0;
    int rc = st_recover(st);
    if (rc < 0) {
        dt_error("storage reload after a failed write failed: %s",
                 strerror(-rc));
        st->failed = -EIO;
        return;
    }
    /* what recovery found may not be fsynced yet: the reload is an op
     * of its own, synced by the next batch; segments it doomed go only
     * after that */
    st->ticket++;
    st->sync_req = true;
    for (uint32_t i = 0; i < st->nsegs; i++)
        if (st->segs[i]->doomed)
            st->segs[i]->dead_ticket = st->ticket;
}

static void
st_batch_fail(struct st_store *st, const struct st_bop *op)
{
    struct st_batch *b = &st->b;
    int err = op->err;
    bool space = op->kind == ST_BOP_WRITE
        && (err == -ENOSPC || err == -EDQUOT || err == -EFBIG);
    uint64_t lo = b->seq_lo ? b->seq_lo : st->wa->seq_lo;
    uint64_t hi = st->wa->seq_hi ? st->wa->seq_hi : b->seq_hi;
    dt_error("storage %s failed: %s", op->kind == ST_BOP_WRITE ? "write"
             : "fsync", strerror(-err));
    if (b->ckp)
        st_ckp_abort(st);
    b->active = false;
    if (space) {
        st_reload(st);
    } else {
        st->failed = -EIO;
        st_wbuf_reset(st, st->wf);
    }
    st->durable_ticket = st->ticket;
    st_report(st, lo, hi, st->ticket, space && !st->failed ? -ENOSPC : -EIO);
}

/* All completions of the batch are in: finish, retry or fail. */
static void
st_batch_settle(struct st_store *st)
{
    struct st_batch *b = &st->b;
    unsigned i = 0;
    while (i < b->nops && b->op[i].done)
        i++;
    if (i == b->nops) {
        st_batch_finish(st);
        return;
    }
    struct st_bop *op = &b->op[i];
    int err = op->err;
    if (err == 0 || err == -ECANCELED || err == -EAGAIN || err == -EINTR) {
        if (++b->retries <= ST_MAX_RETRIES) {
            (void)st_batch_submit(st, i);
            return;
        }
        op->err = -EIO;
    }
    if (i < b->ndata) {
        st_batch_fail(st, op);
        return;
    }
    /* only the checkpoint failed: the data is durable, try again later */
    dt_warn("storage checkpoint write failed: %s", strerror(-op->err));
    st_ckp_abort(st);
    b->ckp = false;
    st->changed = true;
    st_batch_finish(st);
}

static void
st_batch_cb(void *owner, uint32_t tag, int32_t res)
{
    struct st_store *st = owner;
    struct st_batch *b = &st->b;
    if (tag >= b->nops || !b->active)
        return;
    struct st_bop *op = &b->op[tag];
    if (op->seg)
        op->seg->io_refs--;
    b->outstanding--;
    if (op->kind == ST_BOP_WRITE || op->kind == ST_BOP_CKP_WRITE) {
        if (res > 0) {
            op->done_bytes += (uint32_t)res;
            op->done = op->done_bytes >= op->len;
            op->err = 0;                /* short: resubmit the rest */
        } else {
            op->err = res < 0 ? res : -EIO;
        }
    } else {
        op->done = res == 0;
        op->err = res;
    }
    if (!b->reported && op->done && tag < b->ndata) {
        unsigned i = 0;
        while (i < b->ndata && b->op[i].done)
            i++;
        if (i == b->ndata)
            st_batch_report_ok(st);
    }
    if (b->outstanding == 0)
        st_batch_settle(st);
}

/* ---- flush, sync, timers ---------------------------------------------------- */

int
st_store_flush(struct st_store *st)
{
    if (st == NULL)
        return -EINVAL;
    if (st->failed)
        return st->failed;
    if (st->b.active) {
        st->flush_req = true;
        if (st->b.need_submit && st->b.outstanding == 0) {
            int rc = st_batch_submit(st, st->b.resume);
            return rc == -EBUSY ? 0 : rc;
        }
        return 0;
    }
    return st_batch_start(st);
}

static bool
st_has_work(const struct st_store *st)
{
    return st->wa->len || st->ckp_req || st->dir_dirty || st_dirty_any(st)
        || st->sync_req;
}

/* Wait until the current batch (if any) has settled. */
static int
st_wait_batch(struct st_store *st)
{
    for (unsigned r = 0; r < ST_WAIT_ROUNDS && st->b.active; r++) {
        if (st->b.need_submit && st->b.outstanding == 0) {
            int rc = st_batch_submit(st, st->b.resume);
            if (rc == -EBUSY && st_io_inflight(st->io) == 0)
                return -EBUSY;
        }
        int rc = st_io_poll(st->io, 1);
        if (rc < 0)
            return rc;
    }
    return st->b.active ? -ETIMEDOUT : 0;
}

int
st_store_sync(struct st_store *st)
{
    if (st == NULL)
        return -EINVAL;
    for (unsigned r = 0; r < ST_WAIT_ROUNDS; r++) {
        if (st->failed)
            return st->failed;
        int rc = st_wait_batch(st);
        if (rc < 0)
            return rc;
        if (st->failed)
            return st->failed;
        if (!st_has_work(st))
            return 0;
        st->sync_req = true;
        rc = st_batch_start(st);
        if (rc < 0)
            return rc;
        if (!st->b.active && !st_has_work(st))
            return 0;
    }
    return -ETIMEDOUT;
}

int
st_store_tick(struct st_store *st, uint64_t now_ns)
{
    if (st == NULL)
        return -EINVAL;
    if (st->failed)
        return st->failed;
    if (st->sync_last_ns == 0)
        st->sync_last_ns = now_ns;
    if (st->ckp_last_ns == 0)
        st->ckp_last_ns = now_ns;
    if (st->cfg.sync == ST_SYNC_INTERVAL
        && now_ns - st->sync_last_ns >= st->cfg.sync_interval_ns) {
        st->sync_last_ns = now_ns;
        if (st_dirty_any(st) || st->dir_dirty)
            st->sync_req = true;
    }
    uint64_t ckp_at = st->cfg.checkpoint_bytes;
    if (ckp_at < 8 * st->ckp_last_size)
        ckp_at = 8 * st->ckp_last_size; /* bound the write amplification */
    if (st->changed && (st->ckp_bytes_since >= ckp_at
                        || now_ns - st->ckp_last_ns
                        >= st->cfg.checkpoint_interval_ns)) {
        st->ckp_last_ns = now_ns;
        st->ckp_req = true;
    }
    if (st->sync_req || st->ckp_req || st->wa->len || st->b.need_submit)
        return st_store_flush(st);
    return 0;
}

uint64_t
st_store_ticket(const struct st_store *st)
{
    return st ? st->ticket : 0;
}

/* ---- open and close ---------------------------------------------------------- */

static int
st_lock_dir(struct st_store *st)
{
    st->lockfd = openat(st->dirfd, ST_LOCK_NAME,
                        O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (st->lockfd == -1) {
        int err = errno;
        dt_error("openat(%s) failed: %s", ST_LOCK_NAME, strerror(err));
        return -err;
    }
    if (flock(st->lockfd, LOCK_EX | LOCK_NB) == -1)
        return errno == EWOULDBLOCK ? -EBUSY : -errno;
    return 0;
}

static void
st_free(struct st_store *st)
{
    if (st->ckp_fd >= 0 || st->ckp_buf)
        st_ckp_abort(st);
    for (uint32_t i = 0; i < st->nsegs; i++)
        st_seg_free(st, st->segs[i]);
    free(st->segs);
    st_index_free(&st->ix);
    free(st->wb[0].data);
    free(st->wb[1].data);
    free(st->scan_buf);
    if (st->lockfd >= 0)
        close(st->lockfd);
    if (st->dirfd >= 0)
        close(st->dirfd);
    free(st);
}

int
st_store_open(struct st_store **out, struct st_io *io, const char *dir,
              const struct st_config *cfg)
{
    if (out == NULL || io == NULL || dir == NULL || dir[0] == '\0')
        return -EINVAL;
    *out = NULL;
    struct st_config c;
    if (cfg)
        c = *cfg;
    else
        memset(&c, 0, sizeof(c));
    st_config_default(&c);
    int rc = st_config_check(&c);
    if (rc < 0)
        return rc;
    if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
        rc = -errno;
        dt_error("mkdir(%s) failed: %s", dir, strerror(-rc));
        return rc;
    }
    struct st_store *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    st->lockfd = st->ckp_fd = -1;
    st->cfg = c;
    st->io = io;
    st->next_seg_id = 1;
    st->wa = &st->wb[0];
    st->wf = &st->wb[1];
    st->wa->last_rec = st->wf->last_rec = SIZE_MAX;
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
        seed = (uint64_t)st_now_real() ^ (uint64_t)(uintptr_t)st;
    st_index_init(&st->ix, seed);
    st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->dirfd == -1) {
        rc = -errno;
        dt_error("open(%s) failed: %s", dir, strerror(-rc));
        goto err;
    }
    rc = st_lock_dir(st);
    if (rc < 0)
        goto err;
    rc = st_recover(st);
    if (rc < 0)
        goto err;
    /* make what recovery found (and cut) durable before building on it */
    rc = st_store_sync(st);
    if (rc < 0)
        goto err;
    st_gc_sweep(st);
    *out = st;
    return 0;
err:
    st_free(st);
    return rc;
}

int
st_store_close(struct st_store *st)
{
    if (st == NULL)
        return 0;
    int rc = 0;
    if (!st->failed) {
        if (st->changed)
            st->ckp_req = true;
        rc = st_store_sync(st);
        if (rc == 0)
            st_gc_sweep(st);
    }
    int rc2 = st_wait_batch(st);
    if (rc == 0 && st->failed)
        rc = st->failed;
    if (rc == 0)
        rc = rc2;
    if (st->b.active && st->b.outstanding) {
        /* ops we could not wait out still name our buffers: leak them
         * rather than let the kernel write freed memory */
        dt_error("storage close: I/O did not complete, leaking buffers");
        return -ETIMEDOUT;
    }
    st_free(st);
    return rc;
}
