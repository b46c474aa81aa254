/*
 * st_store_types.h -- public types of the per-stream message store:
 * configuration, appended and read messages, durability reports, purge
 * and limit requests, state and statistics.
 *
 * NOTES
 *   Nothing here names files: a memory store can later implement the same
 *   API (st_store.h) with these same types.  Sequences start at 1; 0
 *   means "none".  Timestamps are ns since the Unix epoch.
 *   Byte counts in st_state follow nats-server's file store accounting
 *   (22 + subject + payload + 8, plus 4 + headers when there are
 *   headers), so max_bytes limits and stream info match nats-server.
 */
#ifndef ST_STORE_TYPES_H
#define ST_STORE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Durability modes, as nats-server names them (jetstream.sync_interval). */
enum st_sync {
    ST_SYNC_INTERVAL = 0,   /* report after the write completes; fdatasync
                             * every sync_interval_ns (st_store_tick) */
    ST_SYNC_ALWAYS = 1,     /* report only after fdatasync ("always") */
};

/*
 * What became durable (status 0) or failed (status < 0).  Covers every
 * op queued before the report: all ops with ticket <= `ticket` are
 * settled, and appended sequences [seq_lo, seq_hi] (none when seq_lo ==
 * 0) are durable or were rolled back.  After a failure the store has
 * already been restored to what is on disk (sequences are reused).
 */
struct st_done {
    uint64_t seq_lo;
    uint64_t seq_hi;
    uint64_t ticket;
    int status;             /* 0, -ENOSPC (store usable), -EIO (failed) */
};
typedef void (*st_done_fn)(void *arg, const struct st_done *d);

/*
 * Configuration.  Zero fields take the default (st_config_default()).
 *   field                   default   range              note
 *   segment_size            8 MiB     64 KiB .. 1 GiB    roll threshold
 *   max_record              8 MiB+64K 4 KiB .. 64 MiB    one message
 *   write_buffer            1 MiB     4 KiB .. 64 MiB    x2 (double buf)
 *   sync                    INTERVAL                     see enum st_sync
 *   sync_interval_ns        2 min     >= 1 ms            INTERVAL only
 *   checkpoint_bytes        64 MiB    >= 64 KiB          periodic ckp
 *   checkpoint_interval_ns  2 min     >= 1 ms            periodic ckp
 *   max_open_files          16        4 .. 4096          fd cache
 * All are fixed for the life of an open store (change = reopen).
 */
struct st_config {
    uint64_t segment_size;
    uint32_t max_record;
    uint32_t write_buffer;
    enum st_sync sync;
    uint64_t sync_interval_ns;
    uint64_t checkpoint_bytes;
    uint64_t checkpoint_interval_ns;
    uint32_t max_open_files;
    st_done_fn on_done;     /* may be NULL */
    void *on_done_arg;
};

/* A message to append.  The store copies everything before returning. */
struct st_rec_in {
    const char *subj;       /* literal subject, 1..65535 bytes */
    size_t subj_len;
    const void *hdr;        /* NATS header block or NULL */
    size_t hdr_len;
    const void *data;
    size_t data_len;
    int64_t ts;             /* 0 = now (CLOCK_REALTIME) */
    uint64_t seq;           /* 0 = last + 1; else must be > last */
};

/* A message read back.  Pointers are into the caller's dt_buf and valid
 * until that buffer is changed. */
struct st_msg {
    uint64_t seq;
    int64_t ts;
    const char *subj;
    size_t subj_len;
    const void *hdr;
    size_t hdr_len;
    const void *data;
    size_t data_len;
};

/*
 * Purge, as nats-server's PurgeEx:
 *   filter NULL, "" or ">": keep 0 and seq <= 1: everything;
 *     seq > 1: everything below seq (seq past the end: first = seq);
 *     keep > 0: everything below last - keep + 1.
 *   filter given: messages whose subject matches, below seq when seq > 0,
 *     and, with keep, only the oldest (matching - keep) of them.
 */
struct st_purge {
    const char *filter;
    size_t filter_len;
    uint64_t seq;
    uint64_t keep;
};

/* Stream limits the stream layer enforces through st_store_enforce();
 * 0 = unlimited.  Discard-new policies are checked by the caller before
 * appending; these remove the oldest messages. */
struct st_limits {
    uint64_t max_msgs;
    uint64_t max_bytes;
    int64_t max_age_ns;
};

struct st_state {
    uint64_t msgs;
    uint64_t bytes;         /* nats-server accounting, see above */
    uint64_t first_seq;     /* last_seq + 1 when empty */
    uint64_t last_seq;
    int64_t first_ts;       /* 0 when empty */
    int64_t last_ts;        /* of the last message ever stored */
    uint64_t num_subjects;
    uint64_t num_deleted;   /* interior gaps: last - first + 1 - msgs */
};

/* Messages of the subjects matching a filter. */
struct st_subject_state {
    uint64_t msgs;
    uint64_t first_seq;     /* 0 when none */
    uint64_t last_seq;
};

struct st_stats {
    /* what the last open (or error reload) did */
    uint64_t rec_bytes_scanned;     /* record bytes read and checked */
    uint64_t rec_records;           /* records scanned */
    uint64_t rec_truncated;         /* bytes cut from torn tails */
    uint32_t rec_used_checkpoint;   /* 1 when index.ckp was used */
    uint32_t rec_bad_segments;      /* segments set aside as *.bad */
    /* memory held by the indexes */
    uint64_t index_entries;         /* sequences covered (incl. deleted) */
    uint64_t index_bytes;           /* allocated for the sequence index */
    uint64_t subjects;
    uint64_t subject_bytes;         /* subject table + hash + strings */
    /* activity */
    uint32_t segments;
    uint32_t open_files;
    uint64_t disk_bytes;            /* sum of segment sizes */
    uint64_t batches;               /* write batches submitted */
    uint64_t checkpoints;           /* checkpoints completed */
    uint64_t checkpoint_bytes;      /* size of the last one */
    uint64_t durable_seq;
    uint64_t ticket;                /* last op queued */
    uint64_t durable_ticket;        /* last op settled */
};

#endif /* ST_STORE_TYPES_H */
