/*
 * st_store_int.h -- private to storage/: the file store's handle and the
 * helpers its files share (st_store.c: write path and reads;
 * st_recover.c: open-time recovery and checkpoints; st_purge.c: deletes,
 * purges and limits).
 *
 * NOTES
 *   Segments are heap objects (pointers stay valid while the array
 *   moves) and are freed only when no op in flight (io_refs) and no write
 *   buffer extent (pending) names them.
 *   Write path: records are encoded into the active buffer `wa`; a batch
 *   swaps it with `wf` and writes `wf` (one op per segment extent), then
 *   fdatasyncs, linked in one chain.  One batch per store at a time;
 *   appends continue into `wa` meanwhile (group commit).
 *   Every sequence maps to a segment by st_seg_of(): segments hold
 *   ascending sequence ranges; max_seq of a segment without messages is
 *   inherited from the one before, so the array stays sorted by it.
 */
#ifndef ST_STORE_INT_H
#define ST_STORE_INT_H

#include "st_format.h"
#include "st_index.h"
#include "st_store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_EXT 8            /* segment extents per write buffer */
#define ST_MAX_BOPS 40          /* ops per batch */
#define ST_MAX_RETRIES 16       /* resubmissions of one batch */
#define ST_MAX_UNSYNCED_ROLLS 4 /* INTERVAL: rolled, unsynced segments */
#define ST_SEG_HARD_MAX (1ull << 31)    /* u32 offsets, with margin */
#define ST_REC_ABS_MAX ((64u << 20) + (64u << 10))
#define ST_WAIT_ROUNDS 1000000u /* bound on blocking waits */

struct st_seg {
    uint64_t id;
    int fd;                 /* -1 when closed by the fd cache */
    uint64_t size;          /* valid bytes, queued ones included */
    uint64_t disk;          /* bytes whose write completed */
    uint64_t synced;        /* bytes covered by a completed fdatasync */
    uint64_t max_seq;       /* highest MSG seq here, or inherited */
    uint64_t msgs;          /* live messages */
    uint64_t tombs;         /* DEL/FIRST records here */
    uint64_t tomb_max;      /* highest sequence they delete */
    int64_t last_ts;        /* newest MSG timestamp here */
    uint64_t last_use;      /* fd cache clock */
    uint64_t dead_ticket;   /* doomed: unlink once synced_ticket >= it */
    uint32_t io_refs;       /* ops in flight using fd */
    uint32_t pending;       /* write-buffer extents naming this segment */
    bool doomed;
};

struct st_extent {
    struct st_seg *seg;
    uint64_t off;           /* file offset */
    size_t buf_off;
    size_t len;
};

struct st_wbuf {
    char *data;
    size_t len, cap;
    struct st_extent ext[ST_MAX_EXT];
    unsigned next;
    uint64_t seq_lo, seq_hi;    /* MSG sequences in here (0 = none) */
    size_t last_rec;            /* offset of the last record or SIZE_MAX */
    bool last_is_first;         /* ... and it is a FIRST marker */
};

enum st_bop_kind {
    ST_BOP_WRITE,
    ST_BOP_FSYNC,
    ST_BOP_DIRSYNC,
    ST_BOP_CKP_WRITE,
    ST_BOP_CKP_FSYNC,
};

struct st_bop {
    uint8_t kind;
    bool done;
    int32_t err;            /* 0, or why it is not done */
    struct st_seg *seg;     /* WRITE, FSYNC */
    int fd;
    const char *buf;
    uint64_t off;
    uint32_t len;
    uint32_t done_bytes;
    uint64_t target;        /* FSYNC: seg->size when prepared */
};

struct st_batch {
    struct st_bop op[ST_MAX_BOPS];
    unsigned nops;
    unsigned ndata;         /* ops [0, ndata) carry the data; the rest
                             * write the checkpoint */
    unsigned outstanding;
    unsigned retries;
    unsigned resume;        /* first op to (re)submit when need_submit */
    bool active;
    bool sync;
    bool reported;
    bool ckp;
    bool need_submit;       /* no room in the io: retry on flush/tick */
    uint64_t seq_lo, seq_hi;
    uint64_t ticket;
};

struct st_anchor {
    uint64_t seg;           /* 0 = nothing written yet */
    uint64_t off;
    uint64_t end;
    uint32_t crc;
};

/* Sequences deleted by one operation, as a bitmap from `lo`. */
struct st_delset {
    uint64_t lo;
    uint64_t count;
    uint64_t hi;
    uint8_t *bits;
    size_t cap;
};

struct st_store {
    struct st_config cfg;
    struct st_io *io;
    int dirfd;
    int lockfd;
    struct st_seg **segs;
    uint32_t nsegs, segs_cap;
    uint32_t ndoomed;
    struct st_seg *active;  /* the last segment, written to */
    uint64_t next_seg_id;
    struct st_index ix;
    uint64_t last_seq;
    int64_t last_ts;
    uint64_t msgs;
    uint64_t bytes;         /* nats-server accounting */
    struct st_wbuf wb[2];
    struct st_wbuf *wa;     /* filling */
    struct st_wbuf *wf;     /* being written by the batch */
    struct st_batch b;
    uint64_t ticket;
    uint64_t durable_ticket;
    uint64_t synced_ticket;
    uint64_t durable_seq;
    bool flush_req;
    bool sync_req;
    bool ckp_req;
    bool dir_dirty;
    bool changed;           /* since the last checkpoint */
    bool recovering;
    int failed;             /* sticky -EIO, or 0 */
    unsigned unsynced_rolls;
    struct st_anchor anchor;
    char *ckp_buf;
    size_t ckp_len;
    int ckp_fd;
    uint64_t ckp_bytes_since;
    uint64_t ckp_last_size;
    uint64_t ckp_last_ns;
    uint64_t sync_last_ns;
    uint32_t open_fds;
    uint64_t use_clock;
    uint64_t fts_seq;       /* first_ts cache: for this first seq */
    int64_t fts;
    char *scan_buf;
    size_t scan_cap;
    struct st_stats stats;
};

/* ---- st_store.c ---------------------------------------------------------- */

void st_seg_name(uint64_t id, char *out, size_t n);
int st_seg_fd(struct st_store *st, struct st_seg *seg);
struct st_seg *st_seg_of(const struct st_store *st, uint64_t seq);
int st_seg_push(struct st_store *st, struct st_seg *seg);
struct st_seg *st_seg_new(uint64_t id, int fd);
void st_seg_free(struct st_store *st, struct st_seg *seg);
uint64_t st_first_seq(const struct st_store *st);

/* Validate a record at p (len bytes available); *h gets its header.
 * 0, or -EBADMSG. */
int st_rec_check(const char *p, size_t avail, struct st_rec_hdr *h);
uint32_t st_rec_crc(const char *p, uint32_t len);

/* Memory effects of records (shared by the write path and recovery). */
int st_apply_msg(struct st_store *st, struct st_seg *seg,
                 const struct st_rec_hdr *h, const char *subj, uint32_t sid,
                 uint32_t off);
int st_apply_kill(struct st_store *st, uint64_t seq);
void st_apply_floor(struct st_store *st, uint64_t n);
void st_apply_del(struct st_store *st, uint64_t base, const uint8_t *bits,
                  size_t nbytes);

/* Deletes: reserve log space (before changing memory), then commit the
 * set (queues FIRST and DEL records; cannot fail once reserved). */
int st_del_begin(struct st_store *st, size_t est_bytes);
void st_del_commit(struct st_store *st, struct st_delset *ds,
                   uint64_t old_first);
size_t st_del_estimate(uint64_t range);
int st_delset_add(struct st_delset *ds, uint64_t seq);
void st_delset_free(struct st_delset *ds);

void st_gc_check(struct st_store *st, struct st_seg *seg);
void st_gc_front(struct st_store *st);
void st_gc_sweep(struct st_store *st);

/* Read the raw record at (seg, off, len) into buf and check it. */
int st_read_rec(struct st_store *st, struct st_seg *seg, uint64_t off,
                uint32_t len, struct dt_buf *buf, struct st_rec_hdr *h);

/* ---- st_recover.c -------------------------------------------------------- */

int st_recover(struct st_store *st);
/* Forget segments, index and counters (before recovering again). */
void st_state_clear(struct st_store *st);
/* Serialize the checkpoint of the current state into a new buffer. */
int st_ckp_build(struct st_store *st, char **out, size_t *len);

#endif /* ST_STORE_INT_H */
