/*
 * st_io.h -- one I/O context per storage thread: a backend (io_uring by
 * default) plus a fixed pool of op slots that routes each completion to
 * the store that queued it.
 *
 * NOTES
 *   Ownership: st_io_open() takes ownership of the backend; several
 *   stores share one context (one ring per thread, not per stream).  A
 *   store must have no op in flight when it is freed (st_store_close()
 *   drains its own), because a completion names its slot, never memory.
 *   user_data layout: bits 0-31 slot index, bits 32-63 the slot's
 *   generation; a stale or unknown completion is counted and dropped.
 *   Concurrency: none; the thread that opened the context uses it (the
 *   io_uring backend asks for IORING_SETUP_SINGLE_ISSUER).
 *   Errors: 0 or -errno.  -EBUSY means no free slot or queue entry:
 *   reap completions (st_io_poll) and try again.
 */
#ifndef ST_IO_H
#define ST_IO_H

#include "st_io_types.h"

#include <stdint.h>

struct st_io;

/* Default backend: io_uring with `entries` submission entries (0 = 256).
 * Tries SINGLE_ISSUER|DEFER_TASKRUN, then COOP_TASKRUN, then none, and
 * refuses (-EOPNOTSUPP) a kernel without WRITE and FSYNC ops.  -ENOSYS or
 * -EPERM when io_uring is unavailable (tests exit 77 then). */
int st_io_open_uring(struct st_io **out, unsigned entries);
/* The same, and every completion also writes to the eventfd `efd`, so a
 * loop can sleep in epoll until storage I/O finishes (efd < 0: none). */
int st_io_open_uring_efd(struct st_io **out, unsigned entries, int efd);

/* Any backend: `ops` must outlive the context; `be` is owned from now
 * on, even when this fails.  `slots` bounds ops in flight (0 = 256). */
int st_io_open(struct st_io **out, const struct st_io_ops *ops, void *be,
               unsigned slots);

/* Free the context and its backend.  Ops still in flight are waited
 * for (bounded) and their completions dropped. */
void st_io_close(struct st_io *io);

/* Ops that can be queued right now (free slots and queue entries). */
unsigned st_io_space(const struct st_io *io);

int st_io_write(struct st_io *io, int fd, const void *buf, uint32_t len,
                uint64_t off, unsigned flags, st_io_done_fn fn, void *owner,
                uint32_t tag);
int st_io_fsync(struct st_io *io, int fd, unsigned flags, st_io_done_fn fn,
                void *owner, uint32_t tag);

/* Submit what is queued without waiting. */
int st_io_submit(struct st_io *io);

/* Submit, wait for at least `wait_nr` completions (never more than are
 * in flight, so it cannot block forever), then dispatch every ready
 * completion to its owner.  Completion functions may queue new ops;
 * those are submitted before returning.  Returns completions dispatched
 * or -errno. */
int st_io_poll(struct st_io *io, unsigned wait_nr);

/* Ops queued or in flight. */
unsigned st_io_inflight(const struct st_io *io);

void st_io_get_stats(const struct st_io *io, struct st_io_stats *out);

/* The backend's private state (tests reach the fault backend here). */
void *st_io_backend(struct st_io *io);

#endif /* ST_IO_H */
