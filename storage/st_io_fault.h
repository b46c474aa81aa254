/*
 * st_io_fault.h -- a fault- and crash-injection backend for the storage
 * I/O seam, for tests (after SQLite's test6.c).
 *
 * Writes reach the real file at once (so reads see them, as the page
 * cache would) but the backend remembers, per inode, every byte range
 * written since that inode's last fsync.  st_fault_crash() then plays a
 * power loss: unsynced ranges are kept, dropped or torn, and the backend
 * dies (every later op fails with -EIO).  Other injections: a byte budget
 * after which writes are short and then fail with -ENOSPC, an fsync that
 * fails, and "hold", which keeps submitted ops in flight so a crash can
 * land between a batch's writes and its fsync.
 *
 * NOTES
 *   fsync is simulated (no real fdatasync): tests run fast, and only the
 *   simulated crash decides what survives.  Directory fsyncs are counted
 *   but file creation is assumed durable (test6.c does the same).
 *   Ops run synchronously at submit, in order, with IOSQE_IO_LINK rules.
 *   Single-threaded, like every backend.
 */
#ifndef ST_IO_FAULT_H
#define ST_IO_FAULT_H

#include "st_io.h"

#include <stdbool.h>
#include <stdint.h>

struct st_fault;

enum st_crash_mode {
    ST_CRASH_KEEP,      /* process crash: the page cache survives */
    ST_CRASH_DROP,      /* power loss: every unsynced byte is lost */
    ST_CRASH_TEAR,      /* power loss: a random subset of 512-byte sectors
                         * of unsynced ranges survives, others are zeroed
                         * or garbage, and the size lands anywhere between
                         * the synced and the current size */
};

/* A context on a new fault backend; *fault stays valid until
 * st_io_close(*out). */
int st_io_open_fault(struct st_io **out, struct st_fault **fault);

/* From now on at most `bytes` more bytes are written (then short writes,
 * then -ENOSPC).  -1 = no limit. */
void st_fault_set_space(struct st_fault *f, int64_t bytes);

/* The fsync after `after` more successful ones fails with `err`
 * (once).  err 0 disarms. */
void st_fault_fail_fsync(struct st_fault *f, uint64_t after, int err);

/* While held, submitted ops stay in flight (no completion). */
void st_fault_hold(struct st_fault *f, bool hold);

/* How many held ops run before the next crash: -1 (default) = a random
 * prefix, k >= 0 = exactly the first k. */
void st_fault_set_prefix(struct st_fault *f, int k);

/* Play a crash now (see enum st_crash_mode; held ops: a random prefix of
 * them runs first).  `seed` makes it reproducible.  The backend is dead
 * afterwards.  Returns 0 or -errno of a file operation. */
int st_fault_crash(struct st_fault *f, uint64_t seed, enum st_crash_mode mode);

/* Bytes written but not yet fsynced, over all inodes. */
uint64_t st_fault_unsynced(const struct st_fault *f);

#endif /* ST_IO_FAULT_H */
