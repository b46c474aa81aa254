/*
 * st_consumer_state.c -- durable consumer state files: one file per
 * durable, "<state_dir>/<escaped name>.cons", holding the config (JSON,
 * as the API shows it), the creation time, delivered and ack-floor
 * sequences and the pending set with delivery counts.  Written
 * atomically (temp file + rename, fsync of both when state_sync) and
 * reloaded at startup by st_cons_set_load().
 *
 * Layout (host byte order; crc32c covers everything after the crc):
 *   0  magic "DTCONS\0\1"      8  u32 version (1)   12 u32 crc32c
 *   16 u32 config bytes        20 u32 entries       24 i64 created
 *   32 u64 delivered consumer  40 u64 delivered stream
 *   48 u64 ack floor consumer  56 u64 ack floor stream
 *   64 i64 last delivery       72 i64 last ack      80 config JSON
 *   then entries {u64 sseq, u64 dseq, i64 ts, u32 dc, u32 flags}
 *
 * NOTES
 *   Names are escaped for the file system: bytes outside [A-Za-z0-9_-]
 *   become %XX.  Files are small (config + 32 B per pending message);
 *   writes are synchronous pwrite/rename on the storage thread, so the
 *   owner should batch them (st_cons_set_flush() every few seconds).
 *   A file that fails its checks at load is renamed "<file>.bad".
 *   Errors: 0 or -errno.
 */
#include "st_consumer_int.h"

#include "dt_log.h"
#include "st_crc32c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAGIC "DTCONS\0\1"
#define STATE_VERSION 1u
#define STATE_HDR 80u
#define STATE_ENT 32u
#define STATE_MAX_FILE (256u << 20)

static int
state_path(const struct st_consumer *c, const char *name, size_t nl,
           char *dst, size_t cap, const char *suffix)
{
    const char *dir = c ? c->set->s->state_dir : NULL;
    size_t n = 0;
    if (dir == NULL)
        return -EINVAL;
    int k = snprintf(dst, cap, "%s/", dir);
    if (k < 0 || (size_t)k >= cap)
        return -ENAMETOOLONG;
    n = (size_t)k;
    for (size_t i = 0; i < nl; i++) {
        unsigned char ch = (unsigned char)name[i];
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
                     || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
        if (n + 4 >= cap)
            return -ENAMETOOLONG;
        if (plain)
            dst[n++] = (char)ch;
        else
            n += (size_t)snprintf(dst + n, cap - n, "%%%02X", ch);
    }
    k = snprintf(dst + n, cap - n, ".cons%s", suffix);
    if (k < 0 || (size_t)k >= cap - n)
        return -ENAMETOOLONG;
    return 0;
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

static void
put64(struct dt_buf *b, size_t off, uint64_t v)
{
    memcpy(b->data + off, &v, 8);
}

static void
put32(struct dt_buf *b, size_t off, uint32_t v)
{
    memcpy(b->data + off, &v, 4);
}

/* Serialize the consumer into b. */
static int
state_encode(struct st_consumer *c, struct dt_buf *b)
{
    struct dt_jw w;
    int rc;
    b->len = 0;
    if ((rc = dt_buf_reserve(b, STATE_HDR)) < 0)
        return rc;
    memset(b->data, 0, STATE_HDR);
    b->len = STATE_HDR;
    dt_jw_init(&w, b, false);
    st_cons_config_json(&w, &c->cfg);
    if ((rc = dt_jw_finish(&w)) < 0)
        return rc;
    uint32_t cfg_len = (uint32_t)(b->len - STATE_HDR);
    uint32_t nent = 0;
    struct st_pend *p = c->pend;
    for (uint32_t i = p ? p->head : 0; p && i < p->n; i++) {
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
        if ((rc = dt_buf_append(b, &rec, sizeof(rec))) < 0)
            return rc;
        nent++;
    }
    memcpy(b->data, STATE_MAGIC, 8);
    put32(b, 8, STATE_VERSION);
    put32(b, 16, cfg_len);
    put32(b, 20, nent);
    put64(b, 24, (uint64_t)c->created);
    put64(b, 32, c->dseq - 1);
    put64(b, 40, c->sseq - 1);
    put64(b, 48, c->adflr);
    put64(b, 56, c->asflr);
    put64(b, 64, (uint64_t)c->ldt);
    put64(b, 72, (uint64_t)c->lat);
    put32(b, 12, st_crc32c(0, b->data + 16, b->len - 16));
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

/* First write of a new durable: an unnamed file linked in when complete
 * (one directory insert instead of create + rename).  -EAGAIN when the
 * file system or /proc cannot do it: use the rename path. */
static int
write_new(struct st_consumer *c, const char *path, const struct dt_buf *b)
{
    const struct st_cons_stream *s = c->set->s;
    char proc[64];
    int rc;
    int fd = open(s->state_dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd == -1)
        return -EAGAIN;
    if ((rc = write_all(fd, b->data, b->len)) < 0)
        goto out;
    if (s->state_sync && fsync(fd) == -1) {
        rc = -errno;
        goto out;
    }
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == -1) {
        rc = -EAGAIN;
        goto out;
    }
    if (s->state_sync)
        rc = sync_dir(s->state_dir);
out:
    close(fd);
    return rc;
}

int
st_cons_state_write(struct st_consumer *c)
{
    struct st_cons_set *set = c->set;
    char path[4096], tmp[4096];
    struct dt_buf b = { 0 };
    int rc, fd = -1;
    if ((rc = ensure_dir(set)) < 0)
        return rc;
    if ((rc = state_path(c, c->name, c->name_len, path, sizeof(path), "")) < 0
        || (rc = state_path(c, c->name, c->name_len, tmp, sizeof(tmp),
                            ".tmp")) < 0)
        return rc;
    if ((rc = state_encode(c, &b)) < 0)
        goto out;
    if (!(c->flags & CF_ON_DISK)) {
        rc = write_new(c, path, &b);
        if (rc != -EAGAIN) {
            if (rc == 0)
                c->flags |= CF_ON_DISK;
            goto out;
        }
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        rc = -errno;
        dt_error("open(%s) failed: %s", tmp, strerror(-rc));
        goto out;
    }
    if ((rc = write_all(fd, b.data, b.len)) < 0)
        goto out;
    if (set->s->state_sync && fsync(fd) == -1) {
        rc = -errno;
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) == -1) {
        rc = -errno;
        dt_error("rename(%s) failed: %s", tmp, strerror(-rc));
        goto out;
    }
    c->flags |= CF_ON_DISK;
    if (set->s->state_sync)
        rc = sync_dir(set->s->state_dir);
out:
    if (fd != -1) {
        close(fd);
        unlink(tmp);
    }
    dt_buf_free(&b);
    return rc;
}

int
st_cons_state_remove(struct st_consumer *c)
{
    char path[4096];
    int rc = state_path(c, c->name, c->name_len, path, sizeof(path), "");
    if (rc < 0)
        return rc;
    if (unlink(path) == -1 && errno != ENOENT)
        return -errno;
    if (c->set->s->state_sync)
        (void)sync_dir(c->set->s->state_dir);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Load. */

static int
read_file(const char *path, struct dt_buf *b)
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
    if (st.st_size < (off_t)STATE_HDR || st.st_size > (off_t)STATE_MAX_FILE) {
        rc = -EBADMSG;
        goto out;
    }
    b->len = 0;
    if ((rc = dt_buf_reserve(b, (size_t)st.st_size)) < 0)
        goto out;
    while (b->len < (size_t)st.st_size) {
        ssize_t r = read(fd, b->data + b->len, (size_t)st.st_size - b->len);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r == -1 ? -errno : -EBADMSG;
            goto out;
        }
        b->len += (size_t)r;
    }
out:
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

/* Recreate one durable from its file contents. */
static int
state_apply(struct st_cons_set *set, const struct dt_buf *b, int64_t now)
{
    const char *p = b->data;
    struct st_cons_config cfg;
    struct st_api_err err = { 0 };
    struct dt_json_doc *doc = NULL;
    struct st_consumer *c = NULL;
    int rc;
    if (memcmp(p, STATE_MAGIC, 8) != 0 || get32(p + 8) != STATE_VERSION
        || get32(p + 12) != st_crc32c(0, p + 16, b->len - 16))
        return -EBADMSG;
    uint32_t cfg_len = get32(p + 16), nent = get32(p + 20);
    if ((uint64_t)STATE_HDR + cfg_len + (uint64_t)nent * STATE_ENT != b->len)
        return -EBADMSG;
    if ((rc = dt_json_parse(p + STATE_HDR, cfg_len, 0, &doc, NULL)) < 0)
        return -EBADMSG;
    rc = st_cons_config_parse(dt_json_root(doc), &cfg, &err);
    dt_json_free(doc);
    if (rc < 0)
        return -EBADMSG;
    if (cfg.durable == NULL) {
        st_cons_config_free(&cfg);
        return -EBADMSG;
    }
    rc = st_consumer_create(set, &cfg, now, true, &c, &err);
    st_cons_config_free(&cfg);
    if (rc < 0) {
        dt_warn("consumer state: cannot recreate: %s", err.description);
        return rc;
    }
    c->flags |= CF_ON_DISK;
    uint64_t dcons = get64(p + 32), dstream = get64(p + 40);
    c->created = (int64_t)get64(p + 24);
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
    c->adflr = get64(p + 48);
    c->asflr = get64(p + 56);
    c->ldt = (int64_t)get64(p + 64);
    c->lat = (int64_t)get64(p + 72);
    const char *e = p + STATE_HDR + cfg_len;
    for (uint32_t i = 0; i < nent; i++, e += STATE_ENT) {
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
    st_cons_recount(c);
    st_cons_update_timer(c);
    st_cons_mark_ready(c);
    return 0;
}

int
st_cons_set_load(struct st_cons_set *set, int64_t now, size_t *loaded)
{
    const char *dir = set->s->state_dir;
    struct dt_buf b = { 0 };
    size_t n = 0;
    int first = 0;
    if (loaded != NULL)
        *loaded = 0;
    if (dir == NULL)
        return 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : -errno;
    set->dir_ready = true;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        char path[4096], bad[4200];
        if (l < 6 || strcmp(de->d_name + l - 5, ".cons") != 0)
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name)
            >= (int)sizeof(path))
            continue;
        int rc = read_file(path, &b);
        if (rc == 0)
            rc = state_apply(set, &b, now);
        if (rc == 0) {
            n++;
            continue;
        }
        if (rc == -EBADMSG) {
            snprintf(bad, sizeof(bad), "%s.bad", path);
            dt_warn("consumer state %s is damaged: renamed to .bad", path);
            (void)rename(path, bad);
        } else if (first == 0) {
            first = rc;
        }
    }
    closedir(d);
    dt_buf_free(&b);
    if (loaded != NULL)
        *loaded = n;
    return first;
}
