/*
 * st_io_fault.c -- fault and crash injection behind the storage I/O seam
 * (see st_io_fault.h).
 *
 * NOTES
 *   Ownership: the backend owns its op queue, completion queue and the
 *   per-inode records; it borrows the fds and buffers of queued ops until
 *   their completion is reaped (the same contract as io_uring).
 *   Inodes are tracked by (dev, ino) with the path read from /proc at
 *   first sight, so a crash can still damage a file whose fd the store
 *   has closed.  A file that was unlinked or replaced meanwhile is left
 *   alone.  Bytes present when an inode is first seen count as synced.
 *   Errors: file errors during a crash are returned; op errors become
 *   completions, as the kernel would report them.
 */
#include "st_io_fault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_FAULT_QCAP 1024u
#define ST_FAULT_SECTOR 512u

enum { ST_FOP_WRITE, ST_FOP_FSYNC };

struct st_fault_op {
    int kind;
    int fd;
    const void *buf;
    uint32_t len;
    uint64_t off;
    uint64_t ud;
    unsigned flags;
};

struct st_fault_ext {
    uint64_t off;
    uint64_t len;
};

struct st_fault_file {
    dev_t dev;
    ino_t ino;
    char path[256];
    struct st_fault_ext *ext;   /* unsynced ranges, in write order */
    size_t n, cap;
};

struct st_fault {
    struct st_fault_op q[ST_FAULT_QCAP];
    unsigned nq;                /* prepared, not yet run */
    unsigned nsub;              /* of those, submitted (held) */
    struct st_io_cqe cq[ST_FAULT_QCAP];
    unsigned cq_head, ncq;
    struct st_fault_file *files;
    size_t nfiles, fcap;
    int64_t space;              /* -1 = unlimited */
    uint64_t fsync_after;
    int fsync_err;
    bool hold;
    bool dead;
    int prefix;                 /* held ops run at a crash; -1 random */
    uint64_t rng;
};

static uint64_t
st_fault_rand(struct st_fault *f)
{
    /* xorshift64*: reproducible from the crash seed */
    uint64_t x = f->rng ? f->rng : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    f->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static struct st_fault_file *
st_fault_file(struct st_fault *f, int fd, struct stat *stp)
{
    if (fstat(fd, stp) == -1)
        return NULL;
    for (size_t i = 0; i < f->nfiles; i++)
        if (f->files[i].dev == stp->st_dev && f->files[i].ino == stp->st_ino)
            return &f->files[i];
    if (f->nfiles == f->fcap) {
        size_t cap = f->fcap ? f->fcap * 2 : 16;
        struct st_fault_file *p = realloc(f->files, cap * sizeof(*p));
        if (p == NULL)
            return NULL;
        f->files = p;
        f->fcap = cap;
    }
    struct st_fault_file *ff = &f->files[f->nfiles];
    memset(ff, 0, sizeof(*ff));
    ff->dev = stp->st_dev;
    ff->ino = stp->st_ino;
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, ff->path, sizeof(ff->path) - 1);
    if (n < 0 || (size_t)n >= sizeof(ff->path) - 1)
        return NULL;
    ff->path[n] = '\0';
    f->nfiles++;
    return ff;
}

static int
st_fault_note(struct st_fault_file *ff, uint64_t off, uint64_t len)
{
    if (len == 0)
        return 0;
    if (ff->n && ff->ext[ff->n - 1].off + ff->ext[ff->n - 1].len == off) {
        ff->ext[ff->n - 1].len += len;  /* appends coalesce */
        return 0;
    }
    if (ff->n == ff->cap) {
        size_t cap = ff->cap ? ff->cap * 2 : 16;
        struct st_fault_ext *p = realloc(ff->ext, cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        ff->ext = p;
        ff->cap = cap;
    }
    ff->ext[ff->n].off = off;
    ff->ext[ff->n].len = len;
    ff->n++;
    return 0;
}

static int32_t
st_fault_do_write(struct st_fault *f, const struct st_fault_op *op)
{
    if (f->dead)
        return -EIO;
    uint32_t len = op->len;
    if (f->space >= 0 && (int64_t)len > f->space)
        len = (uint32_t)f->space;
    if (len == 0 && op->len > 0)
        return -ENOSPC;
    struct stat st;
    errno = 0;
    struct st_fault_file *ff = st_fault_file(f, op->fd, &st);
    if (ff == NULL)
        return errno ? -errno : -ENOMEM;
    ssize_t n = pwrite(op->fd, op->buf, len, (off_t)op->off);
    if (n < 0)
        return -errno;
    if (st_fault_note(ff, op->off, (uint64_t)n) < 0)
        return -ENOMEM;
    if (f->space >= 0)
        f->space -= n;
    return (int32_t)n;
}

static int32_t
st_fault_do_fsync(struct st_fault *f, const struct st_fault_op *op)
{
    if (f->dead)
        return -EIO;
    if (f->fsync_err) {
        if (f->fsync_after == 0) {
            int err = f->fsync_err;
            f->fsync_err = 0;
            return -err;
        }
        f->fsync_after--;
    }
    struct stat st;
    if (fstat(op->fd, &st) == -1)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return 0;
    struct st_fault_file *ff = st_fault_file(f, op->fd, &st);
    if (ff == NULL)
        return -ENOMEM;
    ff->n = 0;          /* fdatasync: every written byte is now durable */
    return 0;
}

static void
st_fault_push(struct st_fault *f, uint64_t ud, int32_t res)
{
    /* cannot overflow: ops queued <= QCAP and st_io bounds slots */
    unsigned tail = (f->cq_head + f->ncq) % ST_FAULT_QCAP;
    f->cq[tail].user_data = ud;
    f->cq[tail].res = res;
    f->cq[tail].pad = 0;
    f->ncq++;
}

/* Run the first n queued ops with link semantics; results to the CQ. */
static void
st_fault_run(struct st_fault *f, unsigned n)
{
    int cancel = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct st_fault_op *op = &f->q[i];
        int32_t res;
        if (cancel)
            res = -ECANCELED;
        else if (op->kind == ST_FOP_WRITE)
            res = st_fault_do_write(f, op);
        else
            res = st_fault_do_fsync(f, op);
        st_fault_push(f, op->ud, res);
        int failed = res < 0
            || (op->kind == ST_FOP_WRITE && (uint32_t)res != op->len);
        cancel = (op->flags & ST_IO_LINK) ? (cancel || failed) : 0;
    }
    memmove(f->q, f->q + n, (f->nq - n) * sizeof(f->q[0]));
    f->nq -= n;
    f->nsub = f->nsub > n ? f->nsub - n : 0;
}

static unsigned
st_fault_space(void *be)
{
    struct st_fault *f = be;
    unsigned used = f->nq + f->ncq;
    return used >= ST_FAULT_QCAP ? 0 : ST_FAULT_QCAP - used;
}

static int
st_fault_queue(struct st_fault *f, const struct st_fault_op *op)
{
    if (f->nq + f->ncq >= ST_FAULT_QCAP)
        return -EBUSY;
    f->q[f->nq++] = *op;
    return 0;
}

static int
st_fault_prep_write(void *be, int fd, const void *buf, uint32_t len,
                    uint64_t off, uint64_t ud, unsigned flags)
{
    struct st_fault_op op = { ST_FOP_WRITE, fd, buf, len, off, ud, flags };
    return st_fault_queue(be, &op);
}

static int
st_fault_prep_fsync(void *be, int fd, uint64_t ud, unsigned flags)
{
    struct st_fault_op op = { ST_FOP_FSYNC, fd, NULL, 0, 0, ud, flags };
    return st_fault_queue(be, &op);
}

static int
st_fault_submit(void *be, unsigned wait_nr)
{
    struct st_fault *f = be;
    f->nsub = f->nq;
    if (!f->hold || f->dead)
        st_fault_run(f, f->nq);
    return 0;
}

static unsigned
st_fault_reap(void *be, struct st_io_cqe *out, unsigned max)
{
    struct st_fault *f = be;
    unsigned n = 0;
    while (n < max && f->ncq) {
        out[n++] = f->cq[f->cq_head];
        f->cq_head = (f->cq_head + 1) % ST_FAULT_QCAP;
        f->ncq--;
    }
    return n;
}

static void
st_fault_destroy(void *be)
{
    struct st_fault *f = be;
    for (size_t i = 0; i < f->nfiles; i++)
        free(f->files[i].ext);
    free(f->files);
    free(f);
}

static const struct st_io_ops st_fault_ops = {
    .name = "fault",
    .space = st_fault_space,
    .prep_write = st_fault_prep_write,
    .prep_fsync = st_fault_prep_fsync,
    .submit = st_fault_submit,
    .reap = st_fault_reap,
    .destroy = st_fault_destroy,
};

int
st_io_open_fault(struct st_io **out, struct st_fault **fault)
{
    *out = NULL;
    *fault = NULL;
    struct st_fault *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -ENOMEM;
    f->space = -1;
    f->prefix = -1;
    int rc = st_io_open(out, &st_fault_ops, f, ST_FAULT_QCAP / 2);
    if (rc == 0)
        *fault = f;
    return rc;
}

void
st_fault_set_space(struct st_fault *f, int64_t bytes)
{
    f->space = bytes < 0 ? -1 : bytes;
}

void
st_fault_fail_fsync(struct st_fault *f, uint64_t after, int err)
{
    f->fsync_after = after;
    f->fsync_err = err < 0 ? -err : err;
}

void
st_fault_set_prefix(struct st_fault *f, int k)
{
    f->prefix = k;
}

void
st_fault_hold(struct st_fault *f, bool hold)
{
    f->hold = hold;
    if (!hold && f->nsub)
        st_fault_run(f, f->nsub);
}

uint64_t
st_fault_unsynced(const struct st_fault *f)
{
    uint64_t n = 0;
    for (size_t i = 0; i < f->nfiles; i++)
        for (size_t k = 0; k < f->files[i].n; k++)
            n += f->files[i].ext[k].len;
    return n;
}

static int
st_fault_fill(int fd, uint64_t off, uint64_t len, int garbage,
              struct st_fault *f)
{
    unsigned char buf[ST_FAULT_SECTOR];
    if (garbage)
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = (unsigned char)st_fault_rand(f);
    else
        memset(buf, 0, sizeof(buf));
    if (pwrite(fd, buf, (size_t)len, (off_t)off) == -1)
        return -errno;
    return 0;
}

/* Damage the unsynced ranges of one inode; its size ends in
 * [lo, cur] where lo is the end of its synced prefix. */
static int
st_fault_damage(struct st_fault *f, struct st_fault_file *ff,
                enum st_crash_mode mode)
{
    int fd = open(ff->path, O_RDWR | O_CLOEXEC);
    if (fd == -1)
        return errno == ENOENT ? 0 : -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) == -1) {
        rc = -errno;
        goto out;
    }
    if (st.st_ino != ff->ino || st.st_dev != ff->dev)
        goto out;                       /* replaced since: not ours */
    uint64_t cur = (uint64_t)st.st_size, lo = cur;
    for (size_t i = 0; i < ff->n; i++)
        if (ff->ext[i].off < lo)
            lo = ff->ext[i].off;
    uint64_t size = cur;
    if (mode == ST_CRASH_DROP)
        size = lo;
    else if (mode == ST_CRASH_TEAR)
        size = lo + st_fault_rand(f) % (cur - lo + 1);
    for (size_t i = 0; i < ff->n && rc == 0; i++) {
        uint64_t a = ff->ext[i].off, e = a + ff->ext[i].len;
        if (e > size)
            e = size;
        for (uint64_t s = a; s < e && rc == 0; ) {
            uint64_t n = ST_FAULT_SECTOR - s % ST_FAULT_SECTOR;
            if (n > e - s)
                n = e - s;
            unsigned r = (unsigned)(st_fault_rand(f) % 4);
            if (mode == ST_CRASH_DROP || (mode == ST_CRASH_TEAR && r >= 2))
                rc = st_fault_fill(fd, s, n, r == 3, f);
            s += n;
        }
    }
    if (rc == 0 && size < cur && ftruncate(fd, (off_t)size) == -1)
        rc = -errno;
out:
    close(fd);
    return rc;
}

int
st_fault_crash(struct st_fault *f, uint64_t seed, enum st_crash_mode mode)
{
    f->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    if (f->nsub && !f->dead) {
        /* the kernel got through some of the held ops, then power died */
        unsigned k = (unsigned)(st_fault_rand(f) % (f->nsub + 1));
        if (f->prefix >= 0)
            k = (unsigned)f->prefix < f->nsub ? (unsigned)f->prefix : f->nsub;
        st_fault_run(f, k);
    }
    int rc = 0;
    if (mode != ST_CRASH_KEEP)
        for (size_t i = 0; i < f->nfiles; i++) {
            int r = st_fault_damage(f, &f->files[i], mode);
            if (r < 0 && rc == 0)
                rc = r;
            f->files[i].n = 0;
        }
    f->dead = true;
    f->hold = false;
    st_fault_run(f, f->nq);             /* everything left fails: -EIO */
    return rc;
}
