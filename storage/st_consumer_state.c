/*
 * st_consumer_state.c -- durable consumer state: ONE append-only log per
 * stream, "<state_dir>/consumers.log", holding for each durable its
 * config (JSON, as the API shows it) and creation time, its delivered and
 * ack-floor sequences and its pending set with delivery counts.  Records
 * are appended to an in-memory buffer and written with one write() and
 * one fdatasync() per st_cons_log_flush(), so a batch of creates or a
 * flush of many dirty durables costs one sync.  Reloaded at startup by
 * st_cons_set_load(), compacted when it outgrows the live state.
 *
 * Layout (host byte order): the file opens with the magic "DTCLOG\0\1",
 * then records
 *   u32 crc32c (of everything after it)   u32 body bytes
 *   body: u8 kind, u8 name length, name, payload
 *     CREATE  i64 created, config JSON          (create; update)
 *     STATE   u64 delivered consumer, delivered stream, ack floor
 *             consumer, ack floor stream, i64 last delivery, last ack,
 *             then entries {u64 sseq, u64 dseq, i64 ts, u32 dc, u32 flags}
 *     DELETE  nothing
 * Replay: the last CREATE of a name gives its config (a CREATE of a live
 * name is an update and keeps its state), the last STATE its state, a
 * DELETE forgets the name.
 * Compatibility: the config is the JSON the API shows, parsed with the
 * API's parser, so a member added later (filter_subjects, 2.10) needs no
 * format change: records written before it simply lack it and load as
 * before; an older build reading a newer record ignores the member, as
 * Go's decoder would (such a consumer would come back unfiltered, so do
 * not downgrade with multi-filter durables).
 *
 * NOTES
 *   Damage: replay stops at the first record that is torn or fails its
 *   crc; the file is cut there (the cut bytes are saved as
 *   "consumers.log.bad") and later appends go after the good prefix.  A
 *   file without the magic is renamed "consumers.log.bad".
 *   Compaction: when the file exceeds LOG_COMPACT_FACTOR x the live
 *   records (and LOG_COMPACT_MIN), it is rewritten from memory (temp
 *   file, fsync, rename, fsync of the directory).  Not done after a
 *   load that could not recreate some durable (their records would be
 *   lost).
 *   Bounds: the buffer is written out (without sync) past LOG_SPILL and
 *   refuses appends past LOG_BUF_CAP (-ENOBUFS) while writes fail.
 *   A failed write is cut back (ftruncate) and retried at the next flush.
 *   Writes are synchronous on the storage thread; fsync only when
 *   state_sync.  Errors: 0 or -errno.
 */
#include "st_consumer_int.h"

#include "dt_log.h"
#include "st_crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_MAGIC "DTCLOG\0\1"
#define LOG_MAGIC_LEN 8u
#define LOG_NAME "consumers.log"
#define LOG_REC_HDR 8u
#define LOG_STATE_FIXED 48u
#define LOG_ENT 32u
#define LOG_MAX_FILE (1ull << 30)
#define LOG_SPILL (1u << 20)
#define LOG_BUF_CAP (256u << 20)
#define LOG_COMPACT_FACTOR 4u
#define LOG_COMPACT_MIN (64u << 10)

enum { REC_CREATE = 1, REC_STATE = 2, REC_DELETE = 3 };

struct st_cons_log {
    int fd;
    uint64_t size;          /* bytes in the file (written) */
    uint64_t live;          /* bytes of the records replay needs */
    struct dt_buf buf;      /* records not written yet */
    bool unsynced;          /* written since the last fdatasync */
    bool new_file;          /* directory entry not synced yet */
    bool no_compact;        /* some logged durable is not in memory */
};

static int
log_path(const struct st_cons_set *set, const char *suffix, char *dst,
         size_t cap)
{
    int k = snprintf(dst, cap, "%s/%s%s", set->s->state_dir, LOG_NAME, suffix);
    return k < 0 || (size_t)k >= cap ? -ENAMETOOLONG : 0;
}

static int
ensure_dir(struct st_cons_set *set)
{
    if (set->dir_ready)
        return 0;
    if (mkdir(set->s->state_dir, 0755) == -1 && errno != EEXIST) {
        int e = errno;
        dt_error("mkdir(%s) failed: %s", set->s->state_dir, strerror(e));
        return -e;
    }
    set->dir_ready = true;
    return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0)
            return w == -1 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int
sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return -errno;
    int rc = fsync(fd) == -1 ? -errno : 0;
    close(fd);
    return rc;
}

static uint64_t
get64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint32_t
get32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ------------------------------------------------------------------ */
/* Encoding. */

/* Start a record in b (its offset in *start). */
static int
rec_begin(struct dt_buf *b, int kind, const struct st_consumer *c,
          size_t *start)
{
    uint8_t h[LOG_REC_HDR + 2] = { 0 };
    h[LOG_REC_HDR] = (uint8_t)kind;
    h[LOG_REC_HDR + 1] = (uint8_t)c->name_len;
    *start = b->len;
    int rc = dt_buf_append(b, h, sizeof(h));
    if (rc == 0)
        rc = dt_buf_append(b, c->name, c->name_len);
    return rc;
}

/* Finish the record begun at start: length and crc.  Returns its size. */
static uint32_t
rec_end(struct dt_buf *b, size_t start)
{
    uint32_t blen = (uint32_t)(b->len - start - LOG_REC_HDR);
    memcpy(b->data + start + 4, &blen, 4);
    uint32_t crc = st_crc32c(0, b->data + start + 4, 4 + (size_t)blen);
    memcpy(b->data + start, &crc, 4);
    return (uint32_t)(b->len - start);
}

static int
enc_create(const struct st_consumer *c, struct dt_buf *b, uint32_t *size)
{
    struct dt_jw w;
    size_t start;
    int64_t created = c->created;
    int rc = rec_begin(b, REC_CREATE, c, &start);
    if (rc == 0)
        rc = dt_buf_append(b, &created, 8);
    if (rc == 0) {
        dt_jw_init(&w, b, false);
        st_cons_config_json(&w, &c->cfg);
        rc = dt_jw_finish(&w);
    }
    if (rc < 0) {
        b->len = start;
        return rc;
    }
    *size = rec_end(b, start);
    return 0;
}

static int
enc_state(struct st_consumer *c, struct dt_buf *b, uint32_t *size)
{
    size_t start;
    uint64_t fixed[6] = { c->dseq - 1, c->sseq - 1, c->adflr, c->asflr,
                          (uint64_t)c->ldt, (uint64_t)c->lat };
    int rc = rec_begin(b, REC_STATE, c, &start);
    if (rc == 0)
        rc = dt_buf_append(b, fixed, sizeof(fixed));
    struct st_pend *p = c->pend;
    for (uint32_t i = p ? p->head : 0; rc == 0 && p && i < p->n; i++) {
        const struct st_pent *e = &p->e[i];
        if (!(e->flags & PE_PENDING) && e->dc <= 1)
            continue;
        struct {
            uint64_t sseq, dseq;
            int64_t ts;
            uint32_t dc, flags;
        } rec = { e->sseq, e->dseq, e->ts, e->dc, e->flags & PE_PENDING };
        /* queued for redelivery: store it as due (its deadline passed) */
        if (e->flags & PE_RDQ)
            rec.ts = e->ts - (st_pend_deadline(c, e) - e->ts);
        rc = dt_buf_append(b, &rec, sizeof(rec));
    }
    if (rc < 0) {
        b->len = start;
        return rc;
    }
    *size = rec_end(b, start);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reading and checking a log file. */

/* Length of the valid prefix of a log image (magic + good records); *nrec
 * gets the number of good records. */
static size_t
log_scan(const char *p, size_t len, size_t *nrec)
{
    size_t off = LOG_MAGIC_LEN;
    *nrec = 0;
    while (len - off >= LOG_REC_HDR + 2) {
        uint32_t blen = get32(p + off + 4);
        if (blen < 2 || blen > len - off - LOG_REC_HDR)
            break;
        const char *body = p + off + LOG_REC_HDR;
        uint8_t kind = (uint8_t)body[0], nl = (uint8_t)body[1];
        if (get32(p + off) != st_crc32c(0, p + off + 4, 4 + (size_t)blen)
            || kind < REC_CREATE || kind > REC_DELETE || nl == 0
            || (size_t)nl + 2 > blen)
            break;
        off += LOG_REC_HDR + blen;
        (*nrec)++;
    }
    return off;
}

static int
read_all(const char *path, struct dt_buf *b)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int rc = 0;
    if (fd == -1)
        return -errno;
    if (fstat(fd, &st) == -1) {
        rc = -errno;
        goto out;
    }
    if ((uint64_t)st.st_size > LOG_MAX_FILE) {
        rc = -EFBIG;
        goto out;
    }
    b->len = 0;
    if ((rc = dt_buf_reserve(b, (size_t)st.st_size + 1)) < 0)
        goto out;
    while (b->len < (size_t)st.st_size) {
        ssize_t r = read(fd, b->data + b->len, (size_t)st.st_size - b->len);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r == -1 ? -errno : -EIO;
            goto out;
        }
        b->len += (size_t)r;
    }
out:
    close(fd);
    return rc;
}

/* Read the log into b and cut what is damaged: a bad tail is saved to
 * ".bad" and truncated; a file without the magic is renamed ".bad" (b
 * is then empty).  -ENOENT when there is no log. */
static int
log_recover(struct st_cons_set *set, struct dt_buf *b)
{
    char path[4096], bad[4200];
    size_t nrec;
    int rc;
    if ((rc = log_path(set, "", path, sizeof(path))) < 0
        || (rc = log_path(set, ".bad", bad, sizeof(bad))) < 0
        || (rc = read_all(path, b)) < 0)
        return rc;
    if (b->len < LOG_MAGIC_LEN || memcmp(b->data, LOG_MAGIC, 8) != 0) {
        dt_warn("consumer log %s is damaged: renamed to .bad", path);
        b->len = 0;
        return rename(path, bad) == -1 ? -errno : 0;
    }
    size_t end = log_scan(b->data, b->len, &nrec);
    if (end == b->len)
        return 0;
    dt_warn("consumer log %s: damaged record at %zu, %zu bytes cut (kept "
            "in .bad)", path, end, b->len - end);
    int fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd != -1) {
        (void)write_all(fd, b->data + end, b->len - end);
        close(fd);
    }
    if (truncate(path, (off_t)end) == -1)
        return -errno;
    b->len = end;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The open log. */

static int
log_open(struct st_cons_set *set)
{
    char path[4096];
    struct stat st;
    int rc;
    if (set->log != NULL)
        return 0;
    if ((rc = ensure_dir(set)) < 0 || (rc = log_path(set, "", path,
                                                     sizeof(path))) < 0)
        return rc;
    if (!set->log_loaded) {
        /* never appended after a damaged tail: cut it first */
        struct dt_buf b = { 0 };
        rc = log_recover(set, &b);
        dt_buf_free(&b);
        if (rc < 0 && rc != -ENOENT)
            return rc;
        set->log_loaded = true;
    }
    struct st_cons_log *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return -ENOMEM;
    l->buf.cap = LOG_BUF_CAP;
    l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (l->fd == -1 || fstat(l->fd, &st) == -1) {
        rc = -errno;
        dt_error("open(%s) failed: %s", path, strerror(-rc));
        if (l->fd != -1)
            close(l->fd);
        free(l);
        return rc;
    }
    l->size = (uint64_t)st.st_size;
    if (l->size == 0) {
        l->new_file = true;
        (void)dt_buf_append(&l->buf, LOG_MAGIC, LOG_MAGIC_LEN);
    }
    set->log = l;
    return 0;
}

/* Write the buffer out (no sync). */
static int
log_write(struct st_cons_set *set)
{
    struct st_cons_log *l = set->log;
    if (l->buf.len == 0)
        return 0;
    int rc = write_all(l->fd, l->buf.data, l->buf.len);
    if (rc < 0) {
        dt_error("consumer log write failed: %s", strerror(-rc));
        /* no torn record may stay in front of later appends */
        if (ftruncate(l->fd, (off_t)l->size) == -1)
            dt_error("consumer log: cannot cut a failed write");
        return rc;
    }
    l->size += l->buf.len;
    l->buf.len = 0;
    l->unsynced = true;
    return 0;
}

/* A record was appended: write out a large buffer.  A failed write
 * keeps the records buffered (st_cons_log_flush() retries and reports
 * it): the record is accepted either way, so callers never see an error
 * for a record that may still reach the disk. */
static int
log_appended(struct st_cons_set *set)
{
    if (set->log->buf.len >= LOG_SPILL)
        (void)log_write(set);
    return 0;
}

int
st_cons_log_create(struct st_consumer *c)
{
    struct st_cons_set *set = c->set;
    uint32_t size;
    int rc;
    if ((rc = log_open(set)) < 0
        || (rc = enc_create(c, &set->log->buf, &size)) < 0)
        return rc;
    set->log->live += (uint64_t)size - c->log_cfg;
    c->log_cfg = size;
    c->flags |= CF_ON_DISK;
    return log_appended(set);
}

int
st_cons_state_write(struct st_consumer *c)
{
    struct st_cons_set *set = c->set;
    uint32_t size;
    int rc;
    if (!(c->flags & CF_ON_DISK) && (rc = st_cons_log_create(c)) < 0)
        return rc;
    if ((rc = log_open(set)) < 0
        || (rc = enc_state(c, &set->log->buf, &size)) < 0)
        return rc;
    set->log->live += (uint64_t)size - c->log_st;
    c->log_st = size;
    return log_appended(set);
}

int
st_cons_state_remove(struct st_consumer *c)
{
    struct st_cons_set *set = c->set;
    size_t start;
    int rc;
    if (!(c->flags & CF_ON_DISK))
        return 0;
    if ((rc = log_open(set)) < 0
        || (rc = rec_begin(&set->log->buf, REC_DELETE, c, &start)) < 0)
        return rc;
    (void)rec_end(&set->log->buf, start);
    set->log->live -= (uint64_t)c->log_cfg + c->log_st;
    c->log_cfg = c->log_st = 0;
    c->flags &= ~CF_ON_DISK;
    return log_appended(set);
}

/* Rewrite the log from the durables in memory. */
static int
log_compact(struct st_cons_set *set)
{
    struct st_cons_log *l = set->log;
    char path[4096], tmp[4200];
    struct dt_buf b = { .cap = LOG_BUF_CAP };
    uint64_t live = 0;
    int rc, fd = -1;
    if ((rc = log_path(set, "", path, sizeof(path))) < 0
        || (rc = log_path(set, ".tmp", tmp, sizeof(tmp))) < 0)
        return rc;
    if ((rc = dt_buf_append(&b, LOG_MAGIC, LOG_MAGIC_LEN)) < 0)
        goto out;
    for (uint32_t k = 0; k < set->nbuckets; k++) {
        for (struct st_consumer *c = set->buckets[k]; c; c = c->hnext) {
            uint32_t a, s;
            if (!(c->flags & CF_ON_DISK))
                continue;
            if ((rc = enc_create(c, &b, &a)) < 0
                || (rc = enc_state(c, &b, &s)) < 0)
                goto out;
            c->log_cfg = a;     /* sizes of the records replay will use */
            c->log_st = s;
            live += (uint64_t)a + s;
        }
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        rc = -errno;
        goto out;
    }
    if ((rc = write_all(fd, b.data, b.len)) < 0)
        goto out;
    if (set->s->state_sync && fsync(fd) == -1) {
        rc = -errno;
        goto out;
    }
    if (rename(tmp, path) == -1) {
        rc = -errno;
        goto out;
    }
    if (set->s->state_sync)
        (void)sync_dir(set->s->state_dir);
    close(l->fd);
    l->fd = fd;         /* the same file, now named path: append to it */
    fd = -1;
    if (lseek(l->fd, 0, SEEK_END) == -1 || fcntl(l->fd, F_SETFL, O_APPEND)
        == -1)
        dt_warn("consumer log: lseek/fcntl failed after compaction");
    l->size = b.len;
    l->live = live;
    l->unsynced = false;
out:
    if (fd != -1) {
        close(fd);
        unlink(tmp);
    }
    dt_buf_free(&b);
    return rc;
}

static void
maybe_compact(struct st_cons_set *set)
{
    struct st_cons_log *l = set->log;
    if (l->no_compact || l->size < LOG_COMPACT_MIN
        || l->size <= LOG_COMPACT_FACTOR * (l->live + LOG_MAGIC_LEN))
        return;
    int rc = log_compact(set);
    if (rc < 0)
        dt_warn("consumer log compaction failed: %s", strerror(-rc));
}

int
st_cons_log_flush(struct st_cons_set *set)
{
    struct st_cons_log *l = set->log;
    int rc;
    if (l == NULL)
        return 0;
    if ((rc = log_write(set)) < 0)
        return rc;
    if (set->s->state_sync && l->unsynced) {
        if (fdatasync(l->fd) == -1)
            return -errno;
        if (l->new_file && (rc = sync_dir(set->s->state_dir)) < 0)
            return rc;
        l->new_file = false;
    }
    l->unsynced = false;
    maybe_compact(set);
    return 0;
}

void
st_cons_log_close(struct st_cons_set *set)
{
    if (set->log == NULL)
        return;
    close(set->log->fd);
    dt_buf_free(&set->log->buf);
    free(set->log);
    set->log = NULL;
}

/* ------------------------------------------------------------------ */
/* Load. */

/* The last records of one name during replay. */
struct rent {
    const char *name;
    uint32_t cfg, st;       /* record offsets, 0 = none */
    uint8_t nlen;
    bool live;
};

struct replay {
    struct rent *e;
    uint32_t *slot;         /* hash: entry index + 1, 0 = empty */
    size_t n, mask;
};

static struct rent *
replay_get(struct replay *r, const char *name, uint8_t nl)
{
    size_t i = st_cons_hash(name, nl) & r->mask;
    for (; r->slot[i] != 0; i = (i + 1) & r->mask) {
        struct rent *e = &r->e[r->slot[i] - 1];
        if (e->nlen == nl && memcmp(e->name, name, nl) == 0)
            return e;
    }
    struct rent *e = &r->e[r->n++];
    *e = (struct rent){ .name = name, .nlen = nl };
    r->slot[i] = (uint32_t)r->n;
    return e;
}

static int
replay_index(struct replay *r, const char *p, size_t len, size_t nrec)
{
    size_t ns = 16;
    while (ns < 2 * nrec + 2)
        ns <<= 1;
    r->e = calloc(nrec + 1, sizeof(*r->e));
    r->slot = calloc(ns, sizeof(*r->slot));
    if (r->e == NULL || r->slot == NULL)
        return -ENOMEM;
    r->mask = ns - 1;
    for (size_t off = LOG_MAGIC_LEN; off < len;) {
        const char *body = p + off + LOG_REC_HDR;
        struct rent *e = replay_get(r, body + 2, (uint8_t)body[1]);
        switch (body[0]) {
        case REC_CREATE:
            if (!e->live)
                e->st = 0;              /* a new consumer of that name */
            e->live = true;
            e->cfg = (uint32_t)off;
            break;
        case REC_STATE:
            e->st = (uint32_t)off;
            break;
        default:
            e->live = false;
            e->cfg = e->st = 0;
        }
        off += LOG_REC_HDR + get32(p + off + 4);
    }
    return 0;
}

/* Apply a STATE record to a recreated consumer. */
static int
apply_state(struct st_consumer *c, const char *body, uint32_t blen,
            int64_t now)
{
    size_t skip = 2u + (uint8_t)body[1];
    if (blen < skip + LOG_STATE_FIXED || (blen - skip - LOG_STATE_FIXED)
        % LOG_ENT != 0)
        return -EBADMSG;
    const char *p = body + skip;
    uint32_t nent = (uint32_t)((blen - skip - LOG_STATE_FIXED) / LOG_ENT);
    uint64_t dcons = get64(p), dstream = get64(p + 8);
    if (dcons > 0 || nent > 0) {
        if (c->lss != NULL) {
            free(c->lss->seqs);
            free(c->lss);
            c->lss = NULL;
        }
        if (c->sseq <= dstream)
            c->sseq = dstream + 1;
        c->dseq = dcons + 1;
    }
    c->adflr = get64(p + 16);
    c->asflr = get64(p + 24);
    c->ldt = (int64_t)get64(p + 32);
    c->lat = (int64_t)get64(p + 40);
    const char *e = p + LOG_STATE_FIXED;
    for (uint32_t i = 0; i < nent; i++, e += LOG_ENT) {
        uint32_t dc = get32(e + 24), fl = get32(e + 28) & PE_PENDING;
        if (fl == 0 && dc <= 1)
            continue;
        if (st_pend_insert(c, get64(e), get64(e + 8), (int64_t)get64(e + 16),
                           dc, fl) == -ENOMEM)
            return -ENOMEM;
    }
    /* check deadlines (and drop what the stream no longer has) soon */
    if (c->pend != NULL)
        c->pend_timer = now;
    return 0;
}

/* Recreate one durable from its last CREATE and STATE records. */
static int
replay_one(struct st_cons_set *set, const char *p, const struct rent *e,
           int64_t now)
{
    const char *body = p + e->cfg + LOG_REC_HDR;
    uint32_t blen = get32(p + e->cfg + 4);
    size_t skip = 2u + e->nlen;
    struct st_cons_config cfg;
    struct st_jserr err = { 0 };
    struct dt_json_doc *doc = NULL;
    struct st_consumer *c = NULL;
    int rc;
    if (blen < skip + 8
        || dt_json_parse(body + skip + 8, blen - skip - 8, 0, &doc, NULL) < 0)
        return -EBADMSG;
    rc = st_cons_config_parse(dt_json_root(doc), &cfg, &err);
    dt_json_free(doc);
    if (rc < 0)
        return -EBADMSG;
    if (cfg.durable == NULL || strlen(cfg.durable) != e->nlen
        || memcmp(cfg.durable, e->name, e->nlen) != 0) {
        st_cons_config_free(&cfg);
        return -EBADMSG;
    }
    rc = st_consumer_create(set, &cfg, now, true, &c, &err);
    st_cons_config_free(&cfg);
    if (rc < 0) {
        dt_warn("consumer state: cannot recreate %.*s: %s", (int)e->nlen,
                e->name, err.description);
        return rc;
    }
    c->flags |= CF_ON_DISK;
    c->created = (int64_t)get64(body + skip);
    c->log_cfg = LOG_REC_HDR + blen;
    if (e->st != 0) {
        uint32_t sl = get32(p + e->st + 4);
        if ((rc = apply_state(c, p + e->st + LOG_REC_HDR, sl, now)) < 0)
            return rc;
        c->log_st = LOG_REC_HDR + sl;
    }
    st_cons_recount(c);
    st_cons_update_timer(c);
    st_cons_mark_ready(c);
    return 0;
}

static int
replay(struct st_cons_set *set, const struct dt_buf *b, int64_t now,
       size_t *n, bool *lost)
{
    struct replay r = { 0 };
    size_t nrec;
    int first = 0;
    (void)log_scan(b->data, b->len, &nrec);
    int rc = replay_index(&r, b->data, b->len, nrec);
    for (size_t i = 0; rc == 0 && i < r.n; i++) {
        if (!r.e[i].live)
            continue;
        int k = replay_one(set, b->data, &r.e[i], now);
        if (k == 0) {
            (*n)++;
            continue;
        }
        *lost = true;
        if (k == -EBADMSG)
            dt_warn("consumer log: bad record for %.*s skipped",
                    (int)r.e[i].nlen, r.e[i].name);
        else if (first == 0)
            first = k;
    }
    free(r.e);
    free(r.slot);
    return rc < 0 ? rc : first;
}

int
st_cons_set_load(struct st_cons_set *set, int64_t now, size_t *loaded)
{
    struct dt_buf b = { 0 };
    size_t n = 0;
    bool lost = false;
    int rc;
    if (loaded != NULL)
        *loaded = 0;
    if (set->s->state_dir == NULL)
        return 0;
    /* records of this set not written yet go in before the replay */
    if (set->log != NULL && (rc = st_cons_log_flush(set)) < 0)
        return rc;
    st_cons_log_close(set);
    set->log_loaded = true;
    rc = log_recover(set, &b);
    if (rc == -ENOENT) {
        dt_buf_free(&b);
        return 0;
    }
    set->dir_ready = true;
    if (rc == 0 && b.len > 0)
        rc = replay(set, &b, now, &n, &lost);
    dt_buf_free(&b);
    int orc = log_open(set);
    if (orc == 0) {
        uint64_t live = 0;
        for (uint32_t k = 0; k < set->nbuckets; k++)
            for (struct st_consumer *c = set->buckets[k]; c; c = c->hnext)
                live += (uint64_t)c->log_cfg + c->log_st;
        set->log->live = live;
        set->log->no_compact = lost;
        maybe_compact(set);
    } else if (rc == 0) {
        rc = orc;
    }
    if (loaded != NULL)
        *loaded = n;
    return rc;
}
