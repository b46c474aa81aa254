/*
 * st_recover.c -- open-time recovery of a file store and its
 * checkpoints: list the segments, load index.ckp when it proves valid,
 * scan forward from where it ends, cut a torn tail, rebuild the state.
 *
 * NOTES
 *   The same code runs at open and after a failed write (st_reload), so
 *   the error path is exercised by every restart.
 *   A checkpoint is a cache, never the truth: it is used only if its
 *   checksum holds, its anchor record is still on disk with the same
 *   crc, and it knows every segment up to the anchor.  Otherwise it is
 *   ignored and every segment is scanned.
 *   Damage policy: the first bad record of the last segment and all
 *   after it are cut (a crash tears only unsynced, unacknowledged
 *   bytes).  A bad record inside an older segment ends that segment's
 *   valid part (logged; the bytes stay for inspection).  A segment with a
 *   bad header is dropped if it is at the tail (it holds nothing that was
 *   acknowledged) or renamed *.bad otherwise.  An unknown format version
 *   stops the open (-EPROTO) instead of guessing.
 *   Reads here are synchronous pread(2): recovery runs before the store
 *   serves anything.
 */
#include "st_store_int.h"

#include "dt_log.h"
#include "st_crc32c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_SCAN_CHUNK (1u << 20)
#define ST_CKP_MAX_FILE (1ull << 34)

/* ---- helpers -------------------------------------------------------------- */

static int
st_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, (char *)buf + got, len - got,
                          (off_t)(off + got));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -ENODATA;
        got += (size_t)n;
    }
    return 0;
}

static int
st_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool
st_parse_seg_name(const char *name, uint64_t *id)
{
    size_t n = strlen(name);
    if (n != 16 + strlen(ST_SEG_SUFFIX)
        || strcmp(name + 16, ST_SEG_SUFFIX) != 0)
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return false;
        v = v << 4 | d;
    }
    *id = v;
    return v != 0;
}

static int
st_list_segments(struct st_store *st, uint64_t **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    int fd = dup(st->dirfd);
    if (fd == -1)
        return -errno;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int err = errno;
        close(fd);
        return -err;
    }
    rewinddir(d);
    uint64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t id;
        if (!st_parse_seg_name(de->d_name, &id))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            uint64_t *p = realloc(ids, ncap * sizeof(*p));
            if (p == NULL) {
                rc = -ENOMEM;
                break;
            }
            ids = p;
            cap = ncap;
        }
        ids[n++] = id;
    }
    closedir(d);
    if (rc < 0) {
        free(ids);
        return rc;
    }
    if (n > 1)
        qsort(ids, n, sizeof(*ids), st_cmp_u64);
    *out = ids;
    *nout = n;
    return 0;
}

/* 0, -EBADMSG (damaged) or -EPROTO (another format version). */
static int
st_seg_hdr_read(int fd, uint64_t id, struct st_seg_hdr *h)
{
    if (st_pread_full(fd, h, sizeof(*h), 0) < 0)
        return -EBADMSG;
    if (memcmp(h->magic, ST_SEG_MAGIC, sizeof(h->magic)) != 0)
        return -EBADMSG;
    if (h->crc != st_crc32c(0, h, offsetof(struct st_seg_hdr, crc)))
        return -EBADMSG;
    if (h->version != ST_FORMAT_VERSION)
        return -EPROTO;
    if (h->hdr_len != ST_SEG_HDR || h->seg_id != id)
        return -EBADMSG;
    return 0;
}

static int
st_seg_open_ro(struct st_store *st, uint64_t id, int flags)
{
    char name[32];
    st_seg_name(id, name, sizeof(name));
    return openat(st->dirfd, name, flags | O_CLOEXEC);
}

void
st_state_clear(struct st_store *st)
{
    for (uint32_t i = 0; i < st->nsegs; i++)
        st_seg_free(st, st->segs[i]);
    st->nsegs = 0;
    st->ndoomed = 0;
    st->active = NULL;
    st_index_free(&st->ix);
    st->last_seq = 0;
    st->last_ts = 0;
    st->msgs = st->bytes = 0;
    st->anchor = (struct st_anchor){ 0, 0, 0, 0 };
}

/* ---- checkpoint: write side ----------------------------------------------- */

int
st_ckp_build(struct st_store *st, char **out, size_t *len)
{
    const struct st_index *ix = &st->ix;
    uint64_t subj_bytes = 0;
    for (uint32_t i = 0; i < ix->nsubj; i++)
        subj_bytes += ix->subj[i].len;
    uint64_t size = sizeof(struct st_ckp_hdr)
        + (uint64_t)st->nsegs * sizeof(struct st_ckp_seg)
        + (uint64_t)ix->nsubj * sizeof(uint16_t) + subj_bytes
        + ix->count * sizeof(struct st_ient);
    if (size > ST_CKP_MAX_FILE || size > UINT32_MAX)
        return -EFBIG;                  /* one write op: u32 length */
    char *buf = malloc((size_t)size);
    if (buf == NULL)
        return -ENOMEM;

    struct st_ckp_hdr h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, ST_CKP_MAGIC, sizeof(h.magic));
    h.version = ST_FORMAT_VERSION;
    h.file_len = size;
    h.anchor_seg = st->anchor.seg;
    h.anchor_off = st->anchor.off;
    h.anchor_end = st->anchor.end;
    h.anchor_crc = st->anchor.crc;
    h.nsegs = st->nsegs;
    h.nsubj = ix->nsubj;
    h.subj_bytes = subj_bytes;
    h.ix_base = ix->base;
    h.ix_count = ix->count;
    h.last_seq = st->last_seq;
    h.last_ts = st->last_ts;
    char *p = buf;
    memcpy(p, &h, sizeof(h));
    p += sizeof(h);
    for (uint32_t i = 0; i < st->nsegs; i++) {
        const struct st_seg *seg = st->segs[i];
        struct st_ckp_seg cs = { seg->id, seg->size, seg->max_seq,
                                 seg->tombs, seg->tomb_max, seg->last_ts };
        memcpy(p, &cs, sizeof(cs));
        p += sizeof(cs);
    }
    for (uint32_t i = 0; i < ix->nsubj; i++) {
        uint16_t l = ix->subj[i].len;
        memcpy(p, &l, sizeof(l));
        p += sizeof(l);
    }
    for (uint32_t i = 0; i < ix->nsubj; i++) {
        if (ix->subj[i].len == 0)
            continue;
        memcpy(p, ix->arena + ix->subj[i].str_off, ix->subj[i].len);
        p += ix->subj[i].len;
    }
    if (ix->count)
        memcpy(p, ix->e + ix->head, ix->count * sizeof(struct st_ient));
    uint32_t crc = st_crc32c(0, buf, (size_t)size);
    memcpy(buf + offsetof(struct st_ckp_hdr, crc), &crc, sizeof(crc));
    *out = buf;
    *len = (size_t)size;
    return 0;
}

/* ---- checkpoint: read side -------------------------------------------------- */

struct st_ckp_ent {
    struct st_ckp_seg c;
    struct st_seg *seg;     /* NULL: removed since the checkpoint */
};

static bool
st_ids_has(const uint64_t *ids, size_t n, uint64_t id)
{
    return n && bsearch(&id, ids, n, sizeof(*ids), st_cmp_u64) != NULL;
}

/* The anchor record must still be on disk, unchanged. */
static int
st_ckp_anchor_ok(struct st_store *st, const struct st_ckp_hdr *h)
{
    int fd = st_seg_open_ro(st, h->anchor_seg, O_RDONLY);
    if (fd == -1)
        return -EINVAL;
    int rc = -EINVAL;
    struct stat sb;
    if (fstat(fd, &sb) == -1 || (uint64_t)sb.st_size < h->anchor_end)
        goto out;
    if (h->anchor_off == 0) {
        struct st_seg_hdr sh;
        if (h->anchor_end == ST_SEG_HDR
            && st_seg_hdr_read(fd, h->anchor_seg, &sh) == 0
            && sh.crc == h->anchor_crc)
            rc = 0;
    } else if (h->anchor_end - h->anchor_off >= ST_REC_HDR
               && h->anchor_end - h->anchor_off <= ST_REC_ABS_MAX) {
        /* the whole record: a damaged last record must not hide behind
         * the checkpoint, the scan has to see and cut it */
        size_t len = (size_t)(h->anchor_end - h->anchor_off);
        char *p = malloc(len);
        struct st_rec_hdr rh;
        if (p && st_pread_full(fd, p, len, h->anchor_off) == 0
            && st_rec_check(p, len, &rh) == 0 && rh.len == len
            && rh.crc == h->anchor_crc)
            rc = 0;
        free(p);
    }
out:
    close(fd);
    return rc;
}

static int
st_ckp_segments(struct st_store *st, const char *p, uint32_t nsegs,
                const uint64_t *ids, size_t nids, struct st_ckp_ent *ce,
                uint64_t anchor_seg)
{
    uint64_t prev_id = 0, prev_max = 0;
    for (uint32_t i = 0; i < nsegs; i++) {
        memcpy(&ce[i].c, p + (size_t)i * sizeof(struct st_ckp_seg),
               sizeof(struct st_ckp_seg));
        const struct st_ckp_seg *c = &ce[i].c;
        if (c->id <= prev_id || c->max_seq < prev_max || c->size < ST_SEG_HDR
            || c->size > ST_SEG_HARD_MAX + ST_REC_ABS_MAX)
            return -EINVAL;
        prev_id = c->id;
        prev_max = c->max_seq;
        ce[i].seg = NULL;
        if (!st_ids_has(ids, nids, c->id))
            continue;
        struct st_seg *seg = st_seg_new(c->id, -1);
        if (seg == NULL || st_seg_push(st, seg) < 0) {
            free(seg);
            return -ENOMEM;
        }
        seg->size = seg->disk = seg->synced = c->size;
        seg->max_seq = c->max_seq;
        seg->tombs = c->tombs;
        seg->tomb_max = c->tomb_max;
        seg->last_ts = c->last_ts;
        ce[i].seg = seg;
    }
    if (nsegs == 0 || prev_id != anchor_seg)
        return -EINVAL;
    /* every segment up to the anchor must be known to the checkpoint
     * (both lists are sorted: one merge pass) */
    uint32_t k = 0;
    for (size_t i = 0; i < nids && ids[i] <= anchor_seg; i++) {
        while (k < st->nsegs && st->segs[k]->id < ids[i])
            k++;
        if (k == st->nsegs || st->segs[k]->id != ids[i])
            return -EINVAL;
    }
    return 0;
}

/* Count messages per subject and segment from the entries; entries of
 * segments removed since the checkpoint die here. */
static int
st_ckp_recount(struct st_store *st, struct st_ckp_ent *ce, uint32_t nsegs)
{
    struct st_index *ix = &st->ix;
    uint32_t cur = 0;
    for (uint64_t k = 0; k < ix->count; k++) {
        struct st_ient *e = &ix->e[ix->head + k];
        if (e->len == 0)
            continue;
        uint64_t seq = ix->base + k;
        while (cur < nsegs && ce[cur].c.max_seq < seq)
            cur++;
        if (cur == nsegs)
            return -EINVAL;
        if (ce[cur].seg == NULL) {
            e->len = 0;
            continue;
        }
        uint32_t len = ST_IENT_LEN(e);
        if (e->subj >= ix->nsubj || ix->subj[e->subj].len == 0
            || len < ST_REC_HDR || e->off < ST_SEG_HDR
            || (uint64_t)e->off + len > ce[cur].c.size)
            return -EINVAL;
        struct st_subj *sj = &ix->subj[e->subj];
        if (sj->msgs++ == 0)
            sj->first = seq;
        sj->last = seq;
        ce[cur].seg->msgs++;
        st->msgs++;
        st->bytes += len - 6 + ((e->len & ST_IENT_HDRS) ? 4 : 0);
    }
    return 0;
}

static int
st_ckp_parse(struct st_store *st, char *buf, size_t size,
             const uint64_t *ids, size_t nids)
{
    struct st_ckp_hdr h;
    if (size < sizeof(h))
        return -EINVAL;
    memcpy(&h, buf, sizeof(h));
    if (memcmp(h.magic, ST_CKP_MAGIC, sizeof(h.magic)) != 0
        || h.version != ST_FORMAT_VERSION || h.file_len != size)
        return -EINVAL;
    memset(buf + offsetof(struct st_ckp_hdr, crc), 0, sizeof(h.crc));
    if (st_crc32c(0, buf, size) != h.crc)
        return -EINVAL;
    uint64_t need = sizeof(h);
    need += (uint64_t)h.nsegs * sizeof(struct st_ckp_seg);
    need += (uint64_t)h.nsubj * sizeof(uint16_t);
    if (h.subj_bytes > size || h.ix_count > size / sizeof(struct st_ient))
        return -EINVAL;
    need += h.subj_bytes + h.ix_count * sizeof(struct st_ient);
    if (need != size || h.nsubj >= ST_SUBJ_NONE || h.ix_base == 0
        || (h.ix_count && h.ix_base + h.ix_count - 1 > h.last_seq))
        return -EINVAL;
    if (st_ckp_anchor_ok(st, &h) < 0)
        return -EINVAL;

    struct st_ckp_ent *ce = calloc(h.nsegs ? h.nsegs : 1, sizeof(*ce));
    if (ce == NULL)
        return -ENOMEM;
    const char *p = buf + sizeof(h);
    int rc = st_ckp_segments(st, p, h.nsegs, ids, nids, ce, h.anchor_seg);
    if (rc < 0)
        goto out;
    p += (size_t)h.nsegs * sizeof(struct st_ckp_seg);
    const char *str = p + (size_t)h.nsubj * sizeof(uint16_t);
    uint64_t used = 0;
    for (uint32_t i = 0; i < h.nsubj && rc == 0; i++) {
        uint16_t l;
        memcpy(&l, p + (size_t)i * sizeof(l), sizeof(l));
        if (used + l > h.subj_bytes) {
            rc = -EINVAL;
            break;
        }
        rc = st_index_subj_load(&st->ix, str + used, l);
        used += l;
    }
    if (rc < 0 || used != h.subj_bytes) {
        rc = rc < 0 ? rc : -EINVAL;
        goto out;
    }
    p = str + h.subj_bytes;
    rc = st_index_reserve(&st->ix, h.ix_count);
    if (rc < 0)
        goto out;
    if (h.ix_count)
        memcpy(st->ix.e, p, (size_t)h.ix_count * sizeof(struct st_ient));
    st->ix.head = 0;
    st->ix.base = h.ix_base;
    st->ix.count = h.ix_count;
    rc = st_ckp_recount(st, ce, h.nsegs);
    if (rc < 0)
        goto out;
    st_index_subj_sweep(&st->ix);
    st_index_trim(&st->ix);
    if (st->msgs == 0)
        st_index_advance(&st->ix, h.last_seq + 1);
    st->last_seq = h.last_seq;
    st->last_ts = h.last_ts;
    st->anchor = (struct st_anchor){ h.anchor_seg, h.anchor_off,
                                     h.anchor_end, h.anchor_crc };
out:
    free(ce);
    return rc;
}

/* 0 and the resume point, or < 0: no usable checkpoint (state clean). */
static int
st_ckp_load(struct st_store *st, const uint64_t *ids, size_t nids,
            uint64_t *rseg, uint64_t *roff)
{
    int fd = openat(st->dirfd, ST_CKP_NAME, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -ENOENT;
    struct stat sb;
    char *buf = NULL;
    int rc = -EINVAL;
    if (fstat(fd, &sb) == -1 || sb.st_size < (off_t)sizeof(struct st_ckp_hdr)
        || (uint64_t)sb.st_size > ST_CKP_MAX_FILE)
        goto out;
    buf = malloc((size_t)sb.st_size);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = st_pread_full(fd, buf, (size_t)sb.st_size, 0);
    if (rc < 0)
        goto out;
    rc = st_ckp_parse(st, buf, (size_t)sb.st_size, ids, nids);
out:
    free(buf);
    close(fd);
    if (rc < 0) {
        dt_warn("storage: checkpoint not usable (%s), scanning all segments",
                strerror(-rc));
        st_state_clear(st);
        return rc;
    }
    *rseg = st->anchor.seg;
    *roff = st->anchor.end;
    st->stats.rec_used_checkpoint = 1;
    return 0;
}

/* ---- scanning ------------------------------------------------------------- */

struct st_scan {
    int fd;
    uint64_t fsize;
    uint64_t win_off;
    size_t win_len;
};

/* Make [off, off + len) readable at *p through a window of the file. */
static int
st_scan_get(struct st_store *st, struct st_scan *sc, uint64_t off,
            size_t len, const char **p)
{
    if (off >= sc->win_off && off + len <= sc->win_off + sc->win_len) {
        *p = st->scan_buf + (off - sc->win_off);
        return 0;
    }
    if (off + len > sc->fsize)
        return -ENODATA;
    size_t want = len > ST_SCAN_CHUNK ? len : ST_SCAN_CHUNK;
    if (off + want > sc->fsize)
        want = (size_t)(sc->fsize - off);
    if (want > st->scan_cap) {
        char *q = realloc(st->scan_buf, want);
        if (q == NULL)
            return -ENOMEM;
        st->scan_buf = q;
        st->scan_cap = want;
    }
    int rc = st_pread_full(sc->fd, st->scan_buf, want, off);
    if (rc < 0)
        return rc;
    sc->win_off = off;
    sc->win_len = want;
    *p = st->scan_buf;
    return 0;
}

static uint64_t
st_bitmap_top(uint64_t base, const uint8_t *bits, size_t n)
{
    while (n > 0 && bits[n - 1] == 0)
        n--;
    if (n == 0)
        return 0;
    return base + 8 * (n - 1) + (uint64_t)(31 - __builtin_clz(bits[n - 1]));
}

/* Apply one valid record; -EBADMSG when it cannot follow what came
 * before (treated like a bad checksum). */
static int
st_scan_apply(struct st_store *st, struct st_seg *seg,
              const struct st_rec_hdr *h, const char *p, uint64_t off)
{
    const uint8_t *body = (const uint8_t *)p + ST_REC_HDR;
    switch (h->type) {
    case ST_REC_MSG:
        if (h->seq <= st->last_seq || off > UINT32_MAX)
            return -EBADMSG;
        return st_apply_msg(st, seg, h, p + ST_REC_HDR, ST_SUBJ_NONE,
                            (uint32_t)off);
    case ST_REC_DEL: {
        st_apply_del(st, h->seq, body, h->data_len);
        uint64_t top = st_bitmap_top(h->seq, body, h->data_len);
        seg->tombs++;
        if (top > seg->tomb_max)
            seg->tomb_max = top;
        return 0;
    }
    case ST_REC_FIRST:
        st_apply_floor(st, h->seq);
        seg->tombs++;
        if (h->seq - 1 > seg->tomb_max)
            seg->tomb_max = h->seq - 1;
        return 0;
    default:
        return -EBADMSG;
    }
}

static int
st_scan_seg(struct st_store *st, struct st_seg *seg, int fd, uint64_t from,
            uint64_t fsize, bool last)
{
    struct st_scan sc = { fd, fsize, 0, 0 };
    uint64_t off = from;
    while (off < fsize) {
        const char *p;
        if (st_scan_get(st, &sc, off, ST_REC_HDR, &p) < 0)
            break;
        uint32_t len;
        memcpy(&len, p, sizeof(len));
        if (len < ST_REC_HDR || len > ST_REC_ABS_MAX || off + len > fsize)
            break;
        int rc = st_scan_get(st, &sc, off, len, &p);
        if (rc == -ENOMEM)
            return rc;
        struct st_rec_hdr h;
        if (rc < 0 || st_rec_check(p, len, &h) < 0)
            break;
        rc = st_scan_apply(st, seg, &h, p, off);
        if (rc == -EBADMSG)
            break;
        if (rc < 0)
            return rc;
        st->stats.rec_records++;
        st->stats.rec_bytes_scanned += len;
        st->anchor = (struct st_anchor){ seg->id, off, off + len, h.crc };
        off += len;
    }
    /* what was read may be only in the page cache (a process crash):
     * the open's sync makes it durable before anything builds on it */
    if (off != from || off != fsize)
        seg->synced = 0;
    else if (seg->synced > off)
        seg->synced = off;
    seg->size = seg->disk = off;
    if (off == fsize)
        return 0;
    char name[32];
    st_seg_name(seg->id, name, sizeof(name));
    st->stats.rec_truncated += fsize - off;
    st->changed = true;
    if (!last) {
        dt_warn("storage: %s: %" PRIu64 " bytes after offset %" PRIu64
                " are damaged and ignored", name, fsize - off, off);
        return 0;
    }
    dt_warn("storage: %s: cutting a torn tail of %" PRIu64
            " bytes at offset %" PRIu64, name, fsize - off, off);
    if (ftruncate(fd, (off_t)off) == -1) {
        int err = errno;
        dt_error("ftruncate(%s) failed: %s", name, strerror(err));
        return -err;
    }
    return 0;
}

/* Set a damaged middle segment aside; it holds nothing we can read. */
static void
st_seg_set_aside(struct st_store *st, uint64_t id)
{
    char name[32], bad[40];
    st_seg_name(id, name, sizeof(name));
    snprintf(bad, sizeof(bad), "%s.bad", name);
    dt_warn("storage: %s has a damaged header, renamed to %s", name, bad);
    if (renameat(st->dirfd, name, st->dirfd, bad) == -1)
        dt_warn("renameat(%s) failed: %s", name, strerror(errno));
    st->stats.rec_bad_segments++;
    st->dir_dirty = true;
}

/* Drop tail segments without a valid header: crash during creation. */
static int
st_drop_bad_tail(struct st_store *st, const uint64_t *ids, size_t *n)
{
    while (*n > 0) {
        uint64_t id = ids[*n - 1];
        int fd = st_seg_open_ro(st, id, O_RDONLY);
        if (fd == -1)
            return -errno;
        struct st_seg_hdr h;
        int rc = st_seg_hdr_read(fd, id, &h);
        close(fd);
        if (rc == 0)
            return 0;
        if (rc == -EPROTO) {
            dt_error("storage: segment %016" PRIx64 " has format version "
                     "%u, this build reads %u", id, h.version,
                     ST_FORMAT_VERSION);
            return rc;
        }
        char name[32];
        st_seg_name(id, name, sizeof(name));
        dt_warn("storage: removing %s: header torn at creation", name);
        if (unlinkat(st->dirfd, name, 0) == -1)
            return -errno;
        st->stats.rec_bad_segments++;
        st->dir_dirty = true;
        st->changed = true;
        (*n)--;
    }
    return 0;
}

static int
st_recover_seg(struct st_store *st, uint64_t id, uint64_t from, bool last,
               struct st_seg *known)
{
    int fd = st_seg_open_ro(st, id, O_RDWR);
    if (fd == -1)
        return -errno;
    struct stat sb;
    if (fstat(fd, &sb) == -1) {
        int err = errno;
        close(fd);
        return -err;
    }
    struct st_seg *seg = known;
    if (from == 0) {
        struct st_seg_hdr h;
        int rc = st_seg_hdr_read(fd, id, &h);
        if (rc == -EPROTO) {
            close(fd);
            return rc;
        }
        if (rc < 0) {
            close(fd);
            st_seg_set_aside(st, id);
            return 0;
        }
        seg = st_seg_new(id, -1);
        if (seg == NULL || st_seg_push(st, seg) < 0) {
            free(seg);
            close(fd);
            return -ENOMEM;
        }
        seg->max_seq = st->nsegs > 1 ? st->segs[st->nsegs - 2]->max_seq : 0;
        st_apply_floor(st, h.first_seq);
        if (h.last_seq > st->last_seq)
            st->last_seq = h.last_seq;
        if (st->msgs == 0)
            st_index_advance(&st->ix, st->last_seq + 1);
        st->anchor = (struct st_anchor){ id, 0, ST_SEG_HDR, h.crc };
        from = ST_SEG_HDR;
    }
    seg->fd = fd;
    st->open_fds++;
    int rc = st_scan_seg(st, seg, fd, from, (uint64_t)sb.st_size, last);
    if (!last && st->open_fds > st->cfg.max_open_files) {
        close(seg->fd);
        seg->fd = -1;
        st->open_fds--;
    }
    return rc;
}

int
st_recover(struct st_store *st)
{
    st->recovering = true;
    st->stats.rec_bytes_scanned = st->stats.rec_records = 0;
    st->stats.rec_truncated = 0;
    st->stats.rec_used_checkpoint = st->stats.rec_bad_segments = 0;
    uint64_t *ids = NULL;
    size_t n = 0;
    int rc = st_list_segments(st, &ids, &n);
    if (rc < 0)
        goto out;
    if (n && ids[n - 1] >= st->next_seg_id)
        st->next_seg_id = ids[n - 1] + 1;
    if (unlinkat(st->dirfd, ST_CKP_TMP, 0) == 0)
        st->dir_dirty = true;
    rc = st_drop_bad_tail(st, ids, &n);
    if (rc < 0)
        goto out;

    uint64_t rseg = 0, roff = 0;
    bool ckp = st_ckp_load(st, ids, n, &rseg, &roff) == 0;
    if (!ckp)
        st->changed = true;
    for (size_t i = 0; i < n; i++) {
        struct st_seg *known = NULL;
        uint64_t from = 0;
        if (ckp && ids[i] < rseg)
            continue;
        if (ckp && ids[i] == rseg) {
            for (uint32_t k = 0; k < st->nsegs; k++)
                if (st->segs[k]->id == rseg)
                    known = st->segs[k];
            from = roff;
            if (known == NULL) {
                rc = -EINVAL;
                goto out;
            }
        }
        rc = st_recover_seg(st, ids[i], from, i + 1 == n, known);
        if (rc < 0)
            goto out;
    }
    if (st->stats.rec_bytes_scanned)
        st->changed = true;
    st_index_trim(&st->ix);
    st->active = st->nsegs ? st->segs[st->nsegs - 1] : NULL;
    for (uint32_t i = 0; i < st->nsegs; i++)
        if (st->segs[i]->msgs == 0)
            st_gc_check(st, st->segs[i]);
    rc = 0;
out:
    free(ids);
    st->recovering = false;
    return rc;
}
