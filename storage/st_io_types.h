/*
 * st_io_types.h -- the storage I/O seam: the small ops table every write
 * and fsync of the file store goes through, and the types around it.
 *
 * Two backends implement it: io_uring (st_io.c, production) and a fault
 * and crash-injection backend for tests (st_io_fault.c, in the style of
 * SQLite's test6.c).  A backend only moves bytes: it knows nothing of
 * records or stores.
 *
 * NOTES
 *   Contract for a backend (`be` is its private state):
 *   - prep_*() queues one op and returns 0, -EBUSY when it has no room
 *     (the caller asks space() first, so this is a bug guard), or
 *     -errno.  flags may hold ST_IO_LINK: the next op queued starts only
 *     after this one completes in full, and is completed with -ECANCELED
 *     if this one fails or is short (io_uring's IOSQE_IO_LINK rules).
 *   - submit(wait_nr) hands every queued op to the kernel and waits until
 *     at least wait_nr completions are ready; 0 or -errno.
 *   - reap() copies up to `max` ready completions; never blocks.
 *   - res is the syscall's result: bytes written (maybe short), 0 for an
 *     fsync, or -errno.  fsync means fdatasync.
 *   Single-threaded: one thread owns a backend.
 */
#ifndef ST_IO_TYPES_H
#define ST_IO_TYPES_H

#include <stdint.h>

#define ST_IO_LINK 0x1u

struct st_io_cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t pad;
};

struct st_io_ops {
    const char *name;
    unsigned (*space)(void *be);    /* ops that can be queued now */
    int (*prep_write)(void *be, int fd, const void *buf, uint32_t len,
                      uint64_t off, uint64_t user_data, unsigned flags);
    int (*prep_fsync)(void *be, int fd, uint64_t user_data, unsigned flags);
    int (*submit)(void *be, unsigned wait_nr);
    unsigned (*reap)(void *be, struct st_io_cqe *out, unsigned max);
    void (*destroy)(void *be);
};

/* Completion of one op, delivered to whoever queued it: `tag` is the
 * caller's own value, res as above. */
typedef void (*st_io_done_fn)(void *owner, uint32_t tag, int32_t res);

/* Counters of what went through the seam (tests count fsyncs here). */
struct st_io_stats {
    uint64_t writes;
    uint64_t write_bytes;
    uint64_t fsyncs;
    uint64_t submits;
    uint64_t completions;
};

#endif /* ST_IO_TYPES_H */
