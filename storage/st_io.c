/*
 * st_io.c -- the storage I/O context (op slots, completion routing) and
 * the io_uring backend of the I/O seam (see st_io.h, st_io_types.h).
 *
 * NOTES
 *   Ownership: the context owns its backend and its slot array; owners
 *   (stores) own the buffers they queue and keep them alive until the
 *   completion is dispatched.
 *   Concurrency: single thread.  The ring is created with
 *   SINGLE_ISSUER|DEFER_TASKRUN when the kernel has them (6.1+), so
 *   completions are only produced when this thread enters the kernel
 *   asking for events; st_io_poll() does whenever an op is queued or in
 *   flight and no completion is waiting in the ring already.
 *   Errors: 0 or -errno, as liburing returns them.
 */
#include "st_io.h"

#include "dt_log.h"

#include <errno.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ST_IO_DEFAULT_ENTRIES 256u
#define ST_IO_REAP_CHUNK 32u
#define ST_IO_DRAIN_ROUNDS 100000u      /* bound for close-time waits */

struct st_io_slot {
    st_io_done_fn fn;       /* NULL while free */
    void *owner;
    uint32_t tag;
    uint32_t gen;           /* bumped at each use; 0 never used */
    uint32_t next_free;
    uint32_t busy;          /* 1 from get to the completion */
};

struct st_io {
    const struct st_io_ops *ops;
    void *be;
    struct st_io_slot *slots;
    uint32_t nslots;
    uint32_t free_head;     /* UINT32_MAX = none */
    uint32_t nfree;
    uint32_t queued;        /* prepared since the last submit */
    struct st_io_stats stats;
    uint64_t stale;         /* completions with no live slot */
};

/* ---- io_uring backend ------------------------------------------------ */

struct st_uring {
    struct io_uring ring;
};

static unsigned
st_uring_space(void *be)
{
    struct st_uring *u = be;
    return io_uring_sq_space_left(&u->ring);
}

static int
st_uring_prep_write(void *be, int fd, const void *buf, uint32_t len,
                    uint64_t off, uint64_t ud, unsigned flags)
{
    struct st_uring *u = be;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_write(sqe, fd, buf, len, off);
    io_uring_sqe_set_data64(sqe, ud);
    if (flags & ST_IO_LINK)
        sqe->flags |= IOSQE_IO_LINK;
    return 0;
}

static int
st_uring_prep_fsync(void *be, int fd, uint64_t ud, unsigned flags)
{
    struct st_uring *u = be;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, ud);
    if (flags & ST_IO_LINK)
        sqe->flags |= IOSQE_IO_LINK;
    return 0;
}

static int
st_uring_submit(void *be, unsigned wait_nr)
{
    struct st_uring *u = be;
    /* completions already posted and nothing to send: reap them from the
     * ring without a syscall (the kernel is entered for more next time) */
    if (wait_nr == 0 && io_uring_sq_ready(&u->ring) == 0 &&
        io_uring_cq_ready(&u->ring) > 0 && !io_uring_cq_has_overflow(&u->ring))
        return 0;
    for (int tries = 0; tries < 8; tries++) {
        int rc = wait_nr ? io_uring_submit_and_wait(&u->ring, wait_nr)
                         : io_uring_submit_and_get_events(&u->ring);
        if (rc >= 0)
            return 0;
        /* EINTR: a signal; EBUSY/EAGAIN: the CQ is full, reap first */
        if (rc == -EBUSY || rc == -EAGAIN)
            return 0;
        if (rc != -EINTR)
            return rc;
    }
    return -EINTR;
}

static unsigned
st_uring_reap(void *be, struct st_io_cqe *out, unsigned max)
{
    struct st_uring *u = be;
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe) {
        if (n == max)
            break;
        out[n].user_data = io_uring_cqe_get_data64(cqe);
        out[n].res = cqe->res;
        out[n].pad = 0;
        n++;
    }
    io_uring_cq_advance(&u->ring, n);
    return n;
}

static void
st_uring_destroy(void *be)
{
    struct st_uring *u = be;
    io_uring_queue_exit(&u->ring);
    free(u);
}

static const struct st_io_ops st_uring_ops = {
    .name = "io_uring",
    .space = st_uring_space,
    .prep_write = st_uring_prep_write,
    .prep_fsync = st_uring_prep_fsync,
    .submit = st_uring_submit,
    .reap = st_uring_reap,
    .destroy = st_uring_destroy,
};

/* Strongest setup flags first: DEFER_TASKRUN (6.1) runs completion work
 * only when we ask for events, COOP_TASKRUN (5.19) avoids IPIs. */
static int
st_uring_init(struct io_uring *ring, unsigned entries, bool defer,
              const char **mode)
{
    static const struct {
        unsigned flags;
        const char *name;
    } tries[] = {
        { IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
          "single-issuer+defer-taskrun" },
        { IORING_SETUP_COOP_TASKRUN, "coop-taskrun" },
        { 0, "plain" },
    };
    int rc = -EINVAL;
    for (size_t i = defer ? 0 : 1; i < sizeof(tries) / sizeof(tries[0]);
         i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        p.flags = tries[i].flags;
        rc = io_uring_queue_init_params(entries, ring, &p);
        if (rc == 0) {
            *mode = tries[i].name;
            return 0;
        }
        if (rc != -EINVAL)
            return rc;
    }
    return rc;
}

static int
st_uring_probe(struct io_uring *ring)
{
    struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
    if (probe == NULL)
        return -EOPNOTSUPP;
    bool ok = io_uring_opcode_supported(probe, IORING_OP_WRITE)
        && io_uring_opcode_supported(probe, IORING_OP_FSYNC);
    dt_debug("storage io_uring: WRITE %d FSYNC %d WRITE_FIXED %d "
             "FILES_UPDATE %d",
             io_uring_opcode_supported(probe, IORING_OP_WRITE),
             io_uring_opcode_supported(probe, IORING_OP_FSYNC),
             io_uring_opcode_supported(probe, IORING_OP_WRITE_FIXED),
             io_uring_opcode_supported(probe, IORING_OP_FILES_UPDATE));
    io_uring_free_probe(probe);
    return ok ? 0 : -EOPNOTSUPP;
}

int
st_io_open_uring(struct st_io **out, unsigned entries)
{
    return st_io_open_uring_efd(out, entries, -1);
}

int
st_io_open_uring_efd(struct st_io **out, unsigned entries, int efd)
{
    *out = NULL;
    if (entries == 0)
        entries = ST_IO_DEFAULT_ENTRIES;
    struct st_uring *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return -ENOMEM;
    const char *mode = "";
    /* deferred task work posts completions only when we enter the
     * kernel, so an eventfd would not wake a sleeping loop */
    int rc = st_uring_init(&u->ring, entries, efd < 0, &mode);
    if (rc < 0) {
        dt_debug("io_uring_queue_init_params() failed: %s", strerror(-rc));
        free(u);
        return rc;
    }
    rc = st_uring_probe(&u->ring);
    if (rc == 0 && efd >= 0)
        rc = io_uring_register_eventfd(&u->ring, efd);
    if (rc < 0) {
        dt_error("io_uring lacks WRITE or FSYNC, or eventfd registration "
                 "failed: storage cannot run");
        st_uring_destroy(u);
        return rc;
    }
    dt_debug("storage io_uring ready: %u entries, %s", entries, mode);
    /* at most as many ops in flight as the CQ holds: it cannot overflow */
    return st_io_open(out, &st_uring_ops, u, u->ring.cq.ring_entries);
}

/* ---- context ----------------------------------------------------------- */

int
st_io_open(struct st_io **out, const struct st_io_ops *ops, void *be,
           unsigned slots)
{
    *out = NULL;
    if (slots == 0)
        slots = ST_IO_DEFAULT_ENTRIES;
    struct st_io *io = calloc(1, sizeof(*io));
    if (io == NULL)
        goto err;
    io->slots = calloc(slots, sizeof(*io->slots));
    if (io->slots == NULL)
        goto err;
    io->ops = ops;
    io->be = be;
    io->nslots = slots;
    io->nfree = slots;
    for (uint32_t i = 0; i < slots; i++)
        io->slots[i].next_free = i + 1 < slots ? i + 1 : UINT32_MAX;
    io->free_head = 0;
    *out = io;
    return 0;
err:
    if (io)
        free(io->slots);
    free(io);
    ops->destroy(be);
    return -ENOMEM;
}

void
st_io_close(struct st_io *io)
{
    if (io == NULL)
        return;
    /* the kernel may still read buffers: wait for every op, bounded */
    for (unsigned i = 0; i < ST_IO_DRAIN_ROUNDS && st_io_inflight(io); i++) {
        for (uint32_t s = 0; s < io->nslots; s++)
            io->slots[s].fn = NULL;     /* owners are gone: drop results */
        if (st_io_poll(io, 1) < 0)
            break;
    }
    io->ops->destroy(io->be);
    free(io->slots);
    free(io);
}

unsigned
st_io_space(const struct st_io *io)
{
    unsigned be = io->ops->space(io->be);
    return be < io->nfree ? be : io->nfree;
}

unsigned
st_io_inflight(const struct st_io *io)
{
    return io->nslots - io->nfree;
}

void
st_io_get_stats(const struct st_io *io, struct st_io_stats *out)
{
    *out = io->stats;
}

void *
st_io_backend(struct st_io *io)
{
    return io->be;
}

static int
st_io_slot_get(struct st_io *io, st_io_done_fn fn, void *owner,
               uint32_t tag, uint64_t *ud)
{
    if (io->free_head == UINT32_MAX)
        return -EBUSY;
    uint32_t i = io->free_head;
    struct st_io_slot *s = &io->slots[i];
    io->free_head = s->next_free;
    io->nfree--;
    s->gen = s->gen + 1 ? s->gen + 1 : 1;
    s->busy = 1;
    s->fn = fn;
    s->owner = owner;
    s->tag = tag;
    *ud = ((uint64_t)s->gen << 32) | i;
    return 0;
}

static void
st_io_slot_put(struct st_io *io, uint32_t i)
{
    struct st_io_slot *s = &io->slots[i];
    s->fn = NULL;
    s->owner = NULL;
    s->busy = 0;
    s->next_free = io->free_head;
    io->free_head = i;
    io->nfree++;
}

int
st_io_write(struct st_io *io, int fd, const void *buf, uint32_t len,
            uint64_t off, unsigned flags, st_io_done_fn fn, void *owner,
            uint32_t tag)
{
    uint64_t ud;
    int rc = st_io_slot_get(io, fn, owner, tag, &ud);
    if (rc < 0)
        return rc;
    rc = io->ops->prep_write(io->be, fd, buf, len, off, ud, flags);
    if (rc < 0) {
        st_io_slot_put(io, (uint32_t)ud);
        return rc;
    }
    io->queued++;
    io->stats.writes++;
    io->stats.write_bytes += len;
    return 0;
}

int
st_io_fsync(struct st_io *io, int fd, unsigned flags, st_io_done_fn fn,
            void *owner, uint32_t tag)
{
    uint64_t ud;
    int rc = st_io_slot_get(io, fn, owner, tag, &ud);
    if (rc < 0)
        return rc;
    rc = io->ops->prep_fsync(io->be, fd, ud, flags);
    if (rc < 0) {
        st_io_slot_put(io, (uint32_t)ud);
        return rc;
    }
    io->queued++;
    io->stats.fsyncs++;
    return 0;
}

int
st_io_submit(struct st_io *io)
{
    if (io->queued == 0)
        return 0;
    io->queued = 0;
    io->stats.submits++;
    return io->ops->submit(io->be, 0);
}

static int
st_io_dispatch(struct st_io *io)
{
    struct st_io_cqe cqes[ST_IO_REAP_CHUNK];
    int total = 0;
    /* bounded: never more completions than slots in flight, plus strays */
    for (uint32_t round = 0; round <= io->nslots; round++) {
        unsigned n = io->ops->reap(io->be, cqes, ST_IO_REAP_CHUNK);
        for (unsigned k = 0; k < n; k++) {
            uint32_t i = (uint32_t)cqes[k].user_data;
            uint32_t gen = (uint32_t)(cqes[k].user_data >> 32);
            if (i >= io->nslots || io->slots[i].gen != gen
                || !io->slots[i].busy) {
                io->stale++;
                continue;
            }
            struct st_io_slot s = io->slots[i];
            st_io_slot_put(io, i);
            io->stats.completions++;
            total++;
            if (s.fn)
                s.fn(s.owner, s.tag, cqes[k].res);
        }
        if (n < ST_IO_REAP_CHUNK)
            break;
    }
    return total;
}

int
st_io_poll(struct st_io *io, unsigned wait_nr)
{
    unsigned inflight = st_io_inflight(io);
    if (inflight == 0)
        return 0;   /* nothing queued, nothing to complete: no syscall */
    if (wait_nr > inflight)
        wait_nr = inflight;
    io->queued = 0;
    io->stats.submits++;
    int rc = io->ops->submit(io->be, wait_nr);
    if (rc < 0)
        return rc;
    int n = st_io_dispatch(io);
    /* handlers may have chained new ops (next batch): send them now */
    if (io->queued) {
        rc = st_io_submit(io);
        if (rc < 0)
            return rc;
    }
    return n;
}
