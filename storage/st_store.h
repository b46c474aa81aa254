/*
 * st_store.h -- the per-stream message store (JetStream's file store):
 * append, read, delete, purge and limits over checksummed segment files
 * written through io_uring with group commit.
 *
 * Typical loop of the storage thread (one st_io, many stores):
 *   drain inbound rings: st_store_append() / st_store_delete() ...
 *   for each store touched: st_store_flush()
 *   st_io_poll(io, 1)          -> on_done() reports what is durable:
 *                                 ack those publishes, nack failures
 *   now and then: st_store_tick(st, now)  (interval fsync, checkpoint)
 *
 * NOTES
 *   Ownership: a store owns its directory (flock on LOCK: a second open
 *   gets -EBUSY), its files and buffers; the st_io is shared and must
 *   outlive every store on it.  Input bytes are copied at once.
 *   Concurrency: none; the thread of the st_io.  on_done() runs inside
 *   st_io_poll(), st_store_sync() or st_store_close(); it may append,
 *   delete or read, but must not close the store.
 *   Durability: every mutation gets a ticket (st_store_ticket()); it is
 *   settled when on_done() reports a ticket >= it.  Appends and deletes
 *   are visible to reads at once, before they are durable.
 *   Errors: 0 or -errno.  -EAGAIN: both write buffers are busy, poll the
 *   io and retry.  -EINVAL: bad input (never a crash).  -ENOENT: no such
 *   message.  -EBADMSG: a record failed its checksum on read.  -ENOSPC:
 *   a write ran out of space; the unwritten ops were rolled back and
 *   reported, the store stays usable.  -EIO: an fsync or a write failed
 *   otherwise; the store refuses changes until it is closed and
 *   reopened (recovery then restores what is on disk).
 *   Reads use pread(2) on a small fd cache (page-cache hits in practice);
 *   they are synchronous today.
 */
#ifndef ST_STORE_H
#define ST_STORE_H

#include "dt_buf.h"
#include "st_io.h"
#include "st_store_types.h"

struct st_store;

/* Defaults for every zero field of *cfg (see st_store_types.h). */
void st_config_default(struct st_config *cfg);

/* Open or create the store in directory `dir` (created if missing, its
 * parent must exist), recovering it: torn tails are cut, the index is
 * loaded from the checkpoint and the tail after it scanned.  cfg NULL =
 * defaults.  -EINVAL for an out-of-range config, -EBUSY when another
 * handle holds the directory, -EPROTO for an unknown format version. */
int st_store_open(struct st_store **out, struct st_io *io, const char *dir,
                  const struct st_config *cfg);

/* Flush, fsync, write a checkpoint and free.  Waits (bounded) for the
 * store's I/O.  Returns 0, or the error that kept the checkpoint from
 * being written (the store is freed regardless). */
int st_store_close(struct st_store *st);

/* Append one message; *seq_out (may be NULL) gets its sequence.
 * -EMSGSIZE above max_record, -EINVAL for a bad subject or an explicit
 * seq <= last, -EAGAIN when buffers are busy, -EIO when failed. */
int st_store_append(struct st_store *st, const struct st_rec_in *in,
                    uint64_t *seq_out);

/* Start writing what is queued (one write per segment touched, then one
 * fdatasync per segment in ALWAYS mode).  If a batch is in flight, the
 * next one starts when it completes.  Never blocks. */
int st_store_flush(struct st_store *st);

/* Flush and wait until everything queued so far is on disk and fsynced,
 * whatever the sync mode.  Blocks the thread: admin paths and tests. */
int st_store_sync(struct st_store *st);

/* Timers: the interval fsync and periodic checkpoints.  Call every few
 * hundred ms with CLOCK_MONOTONIC ns (or any monotonic clock). */
int st_store_tick(struct st_store *st, uint64_t now_ns);

/* Ticket of the last mutation queued (0 = none yet). */
uint64_t st_store_ticket(const struct st_store *st);

/* Remove one message (-ENOENT if absent). */
int st_store_delete(struct st_store *st, uint64_t seq);

/* See struct st_purge; *purged (may be NULL) gets the count removed. */
int st_store_purge(struct st_store *st, const struct st_purge *p,
                   uint64_t *purged);

/* Remove the oldest messages while over max_msgs, max_bytes or older
 * than now_ns - max_age_ns (now_ns: CLOCK_REALTIME ns, as stored ts). */
int st_store_enforce(struct st_store *st, const struct st_limits *lim,
                     int64_t now_ns, uint64_t *removed);

/* Remove the oldest messages of one literal subject while it has more
 * than max_per_subject (max_msgs_per_subject; 0 = no limit). */
int st_store_enforce_subject(struct st_store *st, const char *subj,
                             size_t subj_len, uint64_t max_per_subject,
                             uint64_t *removed);

/* Read message `seq` into `buf` (its contents are replaced). */
int st_store_get(struct st_store *st, uint64_t seq, struct st_msg *m,
                 struct dt_buf *buf);

/* The subject of live message `seq`, from the in-memory index (no record
 * read, O(1)); *len gets its length.  It points into the store and is
 * valid until the store next changes (a delete may free it): copy it
 * before deleting.  NULL (*len 0) when seq is not a live message. */
const char *st_store_subject(const struct st_store *st, uint64_t seq,
                             size_t *len);

/* The first message with seq >= start whose subject matches `filter`
 * (NULL, "" or ">" = any; '*' and '>' wildcards).  -ENOENT when none. */
int st_store_next(struct st_store *st, uint64_t start, const char *filter,
                  size_t filter_len, struct st_msg *m, struct dt_buf *buf);

/* The newest message whose subject matches `subj` (literal: O(1) from
 * the subject index; wildcard: scans backwards). */
int st_store_last(struct st_store *st, const char *subj, size_t subj_len,
                  struct st_msg *m, struct dt_buf *buf);

void st_store_state(struct st_store *st, struct st_state *out);

/* Count, first and last sequence over the subjects matching a filter
 * (literal or wildcard; NULL/""/">" = all). */
int st_store_subject_state(struct st_store *st, const char *filter,
                           size_t filter_len, struct st_subject_state *out);

void st_store_stats(const struct st_store *st, struct st_stats *out);

#endif /* ST_STORE_H */
