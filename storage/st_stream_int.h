/*
 * st_stream_int.h -- private to the stream layer (st_stream.c: registry
 * and lifecycle; st_stream_pub.c: publish, dedupe, removals;
 * st_stream_iter.c: walks over the store's indexes): the stream and
 * registry handles and the helpers those files share.
 *
 * NOTES
 *   The dedupe table maps Nats-Msg-Id -> (seq, ts).  Entries live in a
 *   ring in arrival order (so expiry pops the front) and are found
 *   through an open-addressing hash of absolute ring positions (linear
 *   probing, backward-shift deletion).  Bounded by max_dedupe.
 *   Pending ops: removals that follow an append (rollup, per-subject
 *   limit, interest skip) may meet busy store buffers (-EAGAIN) after the
 *   append succeeded; they wait here, bounded, and are retried by the
 *   next publish, flush or tick.
 *   Server limits (max_memory / max_store): the registry keeps what the
 *   streams reserve (max_bytes) and what they hold, per storage type.
 *   Every change of a store goes through st_stream_changed(), which
 *   moves the stream's byte count into the registry's total, so the
 *   publish check is O(1); the tick re-reads every stream as well.
 */
#ifndef ST_STREAM_INT_H
#define ST_STREAM_INT_H

#include "st_stream.h"

#define ST_PEND_MAX 64

struct st_dd_ent {
    uint64_t seq;
    int64_t ts;
    char *id;
    uint32_t len;
    uint32_t hash;
};

struct st_dedupe {
    struct st_dd_ent *ring;
    uint64_t head;          /* absolute position of the oldest */
    uint64_t tail;          /* absolute position of the next */
    uint64_t cap;           /* ring size, a power of two (0 = none yet) */
    uint64_t *slots;        /* absolute position + 1; 0 = empty */
    uint64_t nslots;        /* 2 * cap */
};

enum st_pend_kind {
    ST_PEND_DELETE = 1,     /* delete seq (interest skip) */
    ST_PEND_REMOVE,         /* delete seq and tell consumers (retention) */
    ST_PEND_PURGE,          /* subj (NULL = all) below seq (rollup) */
    ST_PEND_SUBJ_LIMIT,     /* trim subj to max_msgs_per_subject */
};

struct st_pend {
    uint8_t kind;
    uint64_t seq;
    char *subj;
    size_t len;
};

struct st_stream {
    struct st_registry *reg;
    struct st_stream_config cfg;
    int64_t created;
    char *dir;              /* <root>/<name> */
    struct st_store *store;
    void *user;
    bool dirty;             /* changed since the last flush */
    bool need_enforce;      /* max_msgs/max_bytes waited for space */
    bool dd_loaded;         /* dedupe rebuilt from the store */
    bool purged_empty;      /* purged before any message (first_seq 1) */
    bool counted;           /* in the registry's usage totals */
    uint64_t acct;          /* bytes last added to reg->used */
    char *last_msg_id;      /* of the last message stored (lmsgId) */
    struct st_dedupe dd;
    struct st_pend pend[ST_PEND_MAX];
    unsigned npend;
};

struct st_name_slot {
    uint64_t hash;
    struct st_stream *s;    /* NULL = free */
};

struct st_registry {
    struct st_registry_opts o;
    char *dir;
    char *mem_dir;
    int lockfd;
    struct st_stream **streams;
    size_t n, cap;
    /* by name: open addressing over (hash, stream), cap a power of two
     * kept above 2n; names never change (an update keeps the name) */
    struct st_name_slot *byname;
    size_t byname_cap;
    uint64_t api_total;
    uint64_t api_errors;
    uint64_t trash_seq;
    /* per enum st_sstorage: reservations as nats-server keeps them
     * (max_bytes of each stream, with its update arithmetic: may drift
     * and even go negative), bytes held, "over the limit" logged */
    int64_t reserved[2];
    uint64_t used[2];
    bool over_logged[2];
};

/* What the publish path needs per message, without touching records. */
struct st_fast_state {
    uint64_t msgs;
    uint64_t bytes;
    uint64_t first_seq;
    uint64_t last_seq;
};

/* One message a filtered removal will take, with its subject (copied:
 * the store frees a subject's string with its last message): bytes
 * [off, off + len) of the collect's subject buffer. */
struct st_rm {
    uint64_t seq;
    uint32_t off, len;
};

/* st_stream.c */
/* The store of s changed: mark it for the next flush and update the
 * registry's usage total. */
void st_stream_changed(struct st_stream *s);
/* Move s's current byte count into the registry's total. */
void st_stream_acct(struct st_stream *s);
/* Is the server already past max_memory / max_store for this storage
 * type (nats-server's limitsExceeded: usage > limit, before storing)? */
bool st_registry_over(struct st_registry *r, uint8_t storage);

/* st_stream_iter.c */
void st_stream_fast_state(struct st_store *st, struct st_fast_state *out);
/* Live sequences whose subject matches filter (NULL = all), below `below`
 * (0 = no bound), ascending, into a malloc'ed array (*n); each distinct
 * subject is appended once to `subjs` (the caller frees it). */
int st_stream_collect(struct st_store *st, const char *filter, size_t flen,
                      uint64_t below, struct st_rm **out, size_t *n,
                      struct dt_buf *subjs);

/* st_stream_pub.c */
void st_stream_dd_free(struct st_dedupe *dd);
void st_stream_dd_expire(struct st_stream *s, int64_t now);
/* Retry pending removals; -EAGAIN when some still wait. */
int st_stream_maintain(struct st_stream *s);
void st_stream_pend_free(struct st_stream *s);
/* Enforce the limits of the config now (after an update): max_msgs,
 * max_bytes, max_age, and max_msgs_per_subject when `per_subject`. */
int st_stream_enforce_all(struct st_stream *s, int64_t now, bool per_subject);

#endif /* ST_STREAM_INT_H */
