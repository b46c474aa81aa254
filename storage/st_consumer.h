/*
 * st_consumer.h -- JetStream consumers as a library: configuration
 * (parse, defaults, validation, JSON), the delivery state machine (next
 * message, acks, redelivery, max_deliver, max_ack_pending), pull
 * requests (ADR-13), push delivery with idle heartbeats and flow control,
 * and durable state (one append-only log per stream).  nats-server
 * 2.9.10 semantics.
 *
 * The library has no sockets, threads or clocks.  Every entry point takes
 * `now` (ns since the Unix epoch, CLOCK_REALTIME: it is also what
 * "created" and "last_active" report) and appends what must be published
 * to a struct st_outbox: "send this payload with these headers to this
 * subject (with this reply)".  The storage process publishes the records
 * in order.
 *
 * Integration (the stream layer, "the owner"):
 *   1. Fill one struct st_cons_stream per stream (it must outlive the
 *      set; fields may be updated in place, e.g. when the stream config
 *      changes) and create its struct st_cons_set.
 *   2. Restore durables at startup: st_cons_set_load().
 *   3. Route traffic (st_api_consumer.h does 3a-3d for $JS.API):
 *        a. $JS.API.CONSUMER.*            -> st_api_consumer_handle()
 *        b. $JS.ACK.<stream>.<consumer>.> -> st_consumer_ack()
 *        c. $JS.FC.<stream>.<consumer>.*  -> st_consumer_fc_reply()
 *        d. $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer> -> st_consumer_pull()
 *   4. After each append to the store: st_cons_set_on_append(seq, subj).
 *      After removing one message (delete, limits, interest/workqueue
 *      ack): st_cons_set_on_remove().  After a purge: st_cons_set_on_purge().
 *   5. Push consumers: tell the library whether the deliver subject has
 *      interest (st_consumer_set_active()) when that changes.
 *   6. Loop: st_cons_set_run(set, now, out, budget) whenever something
 *      happened or st_cons_set_next_timer() is due; publish `out`.
 *      Every few seconds: st_cons_set_flush() to persist durable state.
 *      Durable creates, updates and deletes are only buffered: to reply
 *      to a create only once it is on disk, handle a batch of API
 *      requests, call st_cons_set_flush() once (one write, one
 *      fdatasync for the whole batch), then publish the replies.
 *   7. Callbacks (struct st_cons_stream): on_ack for interest/workqueue
 *      retention (remove the message once no consumer needs it, see
 *      st_consumer_needs_ack()), on_event (created / deleted).
 *
 * NOTES
 *   Ownership: a set owns its consumers; a consumer owns its config
 *   copy, pending table and waiting requests; the set owns the state
 *   log "<state_dir>/consumers.log".  The owner's
 *   struct st_cons_stream and struct st_store are borrowed.  Messages are
 *   read into one scratch buffer per set.
 *   Concurrency: none; everything runs on the storage thread that owns
 *   the store.  Callbacks run inside library calls and must not delete
 *   the consumer they are told about (delete later).
 *   Bounds: st_outbox has a byte and a record cap; when full, calls stop
 *   early and return -ENOBUFS having changed nothing that was not also
 *   written out: publish the outbox and call st_cons_set_run() again.
 *   Pull requests per consumer are bounded by max_waiting, requests and
 *   API bodies by their parsers (dt_json limits).
 *   Errors: 0 or -errno; API-level errors (what nats-server answers)
 *   come back in struct st_jserr.
 *
 * DEVIATIONS from nats-server 2.9.10 (everything else was checked
 * against the real server's answers)
 *   - No advisories or ack metrics ($JS.EVENT.*) are produced here; the
 *     owner publishes the max_deliver, created and deleted advisories
 *     from on_max_deliver and on_event.
 *   - rate_limit_bps and sample_freq are validated and echoed, not
 *     enforced.  metadata (2.10) is ignored, as 2.9.10 ignores unknown
 *     members.  num_replicas > 1 is refused (10074) as on a single
 *     server; no "cluster" member in info.
 *   - filter_subjects is the one 2.10 member implemented, with 2.10's
 *     rules (errors.json codes 10136 both set, 10137 with a filter in
 *     the create subject, 10138 overlapping filters, 10139 an empty
 *     filter; filters "overlap" when one literal subject can match two
 *     of them, SubjectsCollide as in 2.10.13+; workqueue filters must
 *     not overlap other consumers' filters, on create and on update).
 *     Each filter must still be a subset of the stream's subjects
 *     (10093), as filter_subject is in 2.9.10, and an invalid one is
 *     10093 too.  At most ST_CONS_MAX_FILTERS filters ("invalid JSON"
 *     beyond).
 *   - "+TERM <reason>" is accepted (2.9.10 ignores it entirely).
 *   - A pull request that is not valid JSON gets "400 Bad Request -
 *     <our parser's reason>"; type errors use Go's wording.
 *   - Deadlines fire at now >= deadline (nats: strictly after), and the
 *     ephemeral inactivity timer has no random jitter.
 *   - A redelivery whose message left the stream is dropped as if
 *     terminated (nats retries it until its pending check drops it).
 *   - Deliveries queued for redelivery when the state is written are
 *     stored as due, so they go out right after a restart.
 *   - Removing messages a deleted consumer no longer needs (interest
 *     retention) is the owner's job: on_event(ST_CONS_DELETED).
 */
#ifndef ST_CONSUMER_H
#define ST_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dt_buf.h"
#include "dt_json.h"
#include "st_jserr.h"
#include "st_store.h"

/* ------------------------------------------------------------------ */
/* Output records. */

enum st_out_kind {
    ST_OUT_MSG = 1,         /* a stream message (reply = ack subject) */
    ST_OUT_STATUS,          /* a status-only message (404, 408, 409 ...) */
    ST_OUT_HEARTBEAT,       /* 100 Idle Heartbeat */
    ST_OUT_FLOWCTL,         /* 100 FlowControl Request (reply = $JS.FC...) */
    ST_OUT_REPLY,           /* plain reply: ack of an ack, API response */
};

struct st_out_rec {
    uint8_t kind;           /* enum st_out_kind */
    uint32_t subj_off, subj_len;
    uint32_t reply_off, reply_len;      /* reply_len 0 = no reply */
    uint32_t hdr_off, hdr_len;          /* hdr_len 0 = no headers */
    uint32_t data_off, data_len;
    uint32_t msubj_off, msubj_len;  /* ST_OUT_MSG: the message's own
                                     * subject, what the receiver sees;
                                     * subj is where it goes */
    uint64_t sseq;          /* ST_OUT_MSG: the stream sequence */
};

/* Records and their bytes.  Offsets index `bytes.data`. */
struct st_outbox {
    struct dt_buf bytes;
    struct st_out_rec *rec;
    uint32_t n;             /* records */
    uint32_t cap;           /* allocated */
    uint32_t max;           /* record cap */
};

/* max_bytes 0 = 16 MiB, max_recs 0 = 4096. */
void st_outbox_init(struct st_outbox *o, size_t max_bytes, uint32_t max_recs);
void st_outbox_reset(struct st_outbox *o);
void st_outbox_free(struct st_outbox *o);
/* Append one record (copies everything).  -ENOBUFS when full (nothing
 * appended). */
int st_outbox_add(struct st_outbox *o, enum st_out_kind kind,
                  const char *subj, size_t subj_len,
                  const char *reply, size_t reply_len,
                  const void *hdr, size_t hdr_len,
                  const void *data, size_t data_len, uint64_t sseq);
/* Give the last record its own subject (msubj): -ENOBUFS when full. */
int st_outbox_set_subject(struct st_outbox *o, const char *subj, size_t len);
/* Would `recs` records of `bytes` bytes in total still fit? */
bool st_outbox_room(const struct st_outbox *o, uint32_t recs, size_t bytes);

static inline const char *
st_out_ptr(const struct st_outbox *o, uint32_t off)
{
    return o->bytes.data + off;
}

/* API errors are struct st_jserr (st_jserr.h), shared with streams. */

struct st_consumer;
struct st_cons_set;

/* ------------------------------------------------------------------ */
/* Configuration (ConsumerConfig). */

enum st_retention {
    ST_RET_LIMITS = 0,
    ST_RET_INTEREST,
    ST_RET_WORKQUEUE,
};

enum st_deliver_policy {
    ST_DP_ALL = 0,
    ST_DP_LAST,
    ST_DP_NEW,
    ST_DP_BY_START_SEQ,
    ST_DP_BY_START_TIME,
    ST_DP_LAST_PER_SUBJECT,
};

enum st_ack_policy {
    ST_AP_NONE = 0,
    ST_AP_ALL,
    ST_AP_EXPLICIT,
};

enum st_replay_policy {
    ST_RP_INSTANT = 0,
    ST_RP_ORIGINAL,
};

#define ST_CONS_MAX_NAME 255            /* JSMaxNameLen */
#define ST_CONS_MAX_DESC 4096           /* JSMaxDescriptionLen */
#define ST_CONS_MAX_BACKOFF 64          /* ours: backoff values kept */
#define ST_CONS_MAX_FILTERS 1024        /* ours: filter_subjects bound */

/*
 * A consumer configuration.  Strings are NUL-terminated, NULL when
 * absent, and all live in `blob` (one allocation owned by the config).
 * Durations are ns.  Zero/absent fields are defaulted by
 * st_cons_config_defaults() exactly as nats-server does.
 */
struct st_cons_config {
    char *durable;          /* durable_name */
    char *name;
    char *description;
    char *filter;           /* filter_subject */
    char *deliver_subject;
    char *deliver_group;
    char *sample_freq;
    int64_t *backoff;       /* into blob */
    char **filters;         /* filter_subjects: nfilters strings (an
                             * element may be "", which the checks
                             * refuse), array and strings in blob */
    char *blob;
    uint32_t nbackoff;
    uint32_t nfilters;
    int32_t start_tz;       /* opt_start_time: UTC offset in seconds */
    uint64_t opt_start_seq;
    int64_t opt_start_time; /* ns since epoch; valid when has_start_time */
    int64_t ack_wait;
    int64_t max_deliver;
    uint64_t rate_limit;    /* rate_limit_bps (accepted, not enforced) */
    int64_t max_waiting;
    int64_t max_ack_pending;
    int64_t idle_heartbeat;
    int64_t max_batch;
    int64_t max_expires;
    int64_t max_bytes;
    int64_t inactive_threshold;
    int64_t num_replicas;
    uint8_t deliver_policy; /* enum st_deliver_policy */
    uint8_t ack_policy;     /* enum st_ack_policy */
    uint8_t replay_policy;  /* enum st_replay_policy */
    bool has_start_time;
    bool flow_control;
    bool headers_only;
    bool mem_storage;
    bool direct;
};

/* Parse a ConsumerConfig JSON object (Go encoding/json rules: unknown
 * members ignored, so metadata of newer clients is ignored as in 2.9.10;
 * a wrong type or an unknown enum string is "invalid JSON"; a null
 * element of filter_subjects is "", as Go decodes it).  *cfg is owned by
 * the caller: st_cons_config_free(). */
int st_cons_config_parse(const struct dt_json *obj, struct st_cons_config *cfg,
                         struct st_jserr *err);
void st_cons_config_free(struct st_cons_config *cfg);
/* Deep copy into one blob. */
int st_cons_config_copy(struct st_cons_config *dst,
                        const struct st_cons_config *src);
/* Replace one string member (NULL clears it); re-packs the blob. */
int st_cons_config_set_str(struct st_cons_config *cfg, char **field,
                           const char *s, size_t n);
/* setConsumerConfigDefaults(): max_waiting 512 (pull), ack_wait 30 s,
 * max_deliver -1, ack_wait = backoff[0], max_ack_pending 1000. */
void st_cons_config_defaults(struct st_cons_config *cfg);
/* checkConsumerCfg() against the set's stream (a config that went
 * through defaults): -EINVAL with err filled, as nats-server answers. */
int st_cons_config_check(const struct st_cons_set *set,
                         const struct st_cons_config *cfg,
                         struct st_jserr *err);
/* Write the config as nats-server does (same members, order, omitempty;
 * "filter_subjects" after "filter_subject", as 2.10). */
int st_cons_config_json(struct dt_jw *w, const struct st_cons_config *cfg);
/* Replace filter_subjects by v[0..n) (n 0 clears it); re-packs the blob.
 * -EINVAL beyond ST_CONS_MAX_FILTERS, -ENOMEM. */
int st_cons_config_set_filters(struct st_cons_config *cfg,
                               const char *const *v, uint32_t n);

/* gatherSubjectFilters(): the filters a consumer applies, filter_subject
 * or else the filter_subjects (0 = unfiltered; a config that passed the
 * checks never has both). */
static inline uint32_t
st_cons_config_nfilters(const struct st_cons_config *cfg)
{
    return cfg->filter != NULL ? 1 : cfg->nfilters;
}

static inline const char *
st_cons_config_filter(const struct st_cons_config *cfg, uint32_t i)
{
    return cfg->filter != NULL ? cfg->filter : cfg->filters[i];
}

/* RFC 3339 with nanoseconds, as Go's time.RFC3339Nano (trailing zeros of
 * the fraction dropped); tz_off in seconds (0 = "Z"). */
int st_time_format(char *dst, size_t cap, int64_t ns, int32_t tz_off);
int st_time_parse(const char *s, size_t n, int64_t *ns, int32_t *tz_off);

/* ------------------------------------------------------------------ */
/* The owner's view of its stream. */

enum st_cons_event {
    ST_CONS_CREATED = 1,
    ST_CONS_DELETED,        /* about to be freed (API delete, inactivity) */
};

/*
 * What a consumer needs from the stream that owns it.  Filled by the
 * stream layer, borrowed by the set; it must outlive the set.
 *   name            the stream name (ack and flow-control subjects)
 *   store           messages and state (st_store_next/get/state ...)
 *   retention       limits / interest / workqueue
 *   subjects        the stream's subjects (filter validation, deliver
 *                   subject cycle check); NULL/0 = skip those checks
 *   replicas        stream num_replicas
 *   max_consumers   stream max_consumers (<= 0: unlimited)
 *   on_ack          interest/workqueue: the consumer acked stream
 *                   sequences [lo, hi] (AckAll acks a range; AckNone
 *                   "acks" on delivery).  May be NULL for limits.
 *   on_event        a consumer was created / is being deleted.  May be NULL.
 *   on_max_deliver  stream message sseq reached max_deliver (deliveries
 *                   times) and will not be delivered again (nats-server's
 *                   MAX_DELIVERIES advisory point).  May be NULL.
 *   has_interest    does a subject have subscribers (pull reply
 *                   subjects, push deliver subjects)?  NULL = always yes.
 *   state_dir       directory of the durable state log consumers.log
 *                   (created if missing); NULL = not persisted
 *   state_sync      fdatasync the log at each flush (and the directory
 *                   when the log is created or compacted)
 *   fc_window       push flow-control window in bytes (0 = 32 MiB)
 */
struct st_cons_stream {
    const char *name;
    struct st_store *store;
    enum st_retention retention;
    const char *const *subjects;
    size_t nsubjects;
    int replicas;
    int64_t max_consumers;
    void (*on_ack)(void *arg, struct st_consumer *c, uint64_t lo,
                   uint64_t hi);
    void (*on_event)(void *arg, struct st_consumer *c,
                     enum st_cons_event ev);
    void (*on_max_deliver)(void *arg, struct st_consumer *c, uint64_t sseq,
                           uint64_t deliveries);
    bool (*has_interest)(void *arg, const char *subj, size_t len);
    void *arg;
    const char *state_dir;
    bool state_sync;
    uint64_t fc_window;
};

/* ------------------------------------------------------------------ */
/* The consumers of one stream. */

int st_cons_set_new(struct st_cons_set **out, const struct st_cons_stream *s);
/* Flush dirty durable state, then free every consumer (the state log
 * stays) and the set. */
void st_cons_set_free(struct st_cons_set *set);
const struct st_cons_stream *st_cons_set_stream(const struct st_cons_set *set);
size_t st_cons_set_count(const struct st_cons_set *set);
struct st_consumer *st_cons_set_find(const struct st_cons_set *set,
                                     const char *name, size_t len);
/* All consumers sorted by name into a malloc'ed array (*n of them);
 * the caller frees the array.  -ENOMEM. */
int st_cons_set_sorted(const struct st_cons_set *set,
                       struct st_consumer ***out, size_t *n);

/* Stream events.  on_append: message `seq` with subject `subj` was
 * stored (counts pending, wakes consumers whose filter matches).
 * on_remove: message `seq` was deleted (a pending delivery of it is
 * dropped as if terminated).  on_purge: everything below first_seq is
 * gone (first_seq = last_seq + 1 when all is). */
void st_cons_set_on_append(struct st_cons_set *set, uint64_t seq,
                           const char *subj, size_t len);
void st_cons_set_on_remove(struct st_cons_set *set, uint64_t seq,
                           const char *subj, size_t len, int64_t now);
void st_cons_set_on_purge(struct st_cons_set *set, uint64_t first_seq,
                          uint64_t last_seq, int64_t now);

/* Run every consumer with work ready or a timer due, at most `budget`
 * deliveries in total (0 = unlimited).  Deletes consumers idle past
 * their inactive_threshold.  Returns 1 when work is left (budget hit),
 * 0 when done, -ENOBUFS when `out` filled up. */
int st_cons_set_run(struct st_cons_set *set, int64_t now,
                    struct st_outbox *out, unsigned budget);
/* Earliest `now` at which st_cons_set_run() has timed work (INT64_MAX:
 * none; <= now: call it now). */
int64_t st_cons_set_next_timer(const struct st_cons_set *set);
/* Persist the state of every durable changed since its last write, and
 * every create / update / delete buffered since the last flush: one
 * write() and (state_sync) one fdatasync() for all of them; the log is
 * compacted when it exceeds 4x its live records (and 64 KiB).
 * Returns 0 or the first error (others are still attempted). */
int st_cons_set_flush(struct st_cons_set *set);
/* Recreate the durables found in state_dir's log (call it before
 * creating consumers).  *loaded (may be NULL) gets how many.  Replay
 * keeps the last record of each name; it stops at the first torn or
 * crc-failing record: the file is cut there (the cut bytes saved as
 * "consumers.log.bad"), so the records before it survive.  A log
 * without its magic is renamed "consumers.log.bad".  Per-durable
 * "*.cons" files of earlier versions are not read. */
int st_cons_set_load(struct st_cons_set *set, int64_t now, size_t *loaded);

/* ------------------------------------------------------------------ */
/* One consumer. */

/*
 * Create a consumer from a config that went through defaults.  Performs
 * the checks of checkConsumerCfg() and addConsumer() (name, limits,
 * workqueue rules; `recovering` skips the filter check as nats does) and
 * picks the start sequence.  The config is copied.  On error returns
 * -EINVAL (err says why; -EEXIST in err for "name in use"), or -errno.
 * A durable's CREATE record is buffered, not yet on disk: see
 * st_cons_set_flush().
 */
int st_consumer_create(struct st_cons_set *set,
                       const struct st_cons_config *cfg, int64_t now,
                       bool recovering, struct st_consumer **out,
                       struct st_jserr *err);
/* Update with a new config (updateConfig rules: only some members may
 * change; the filters may, and num_pending is recounted).  Returns 0
 * (nothing else changed when the configs are equal), or -EINVAL with
 * err = 500/10012 "<member> can not be updated", or 400/10100 when a
 * workqueue consumer's new filters overlap another consumer's. */
int st_consumer_update(struct st_consumer *c, const struct st_cons_config *cfg,
                       int64_t now, struct st_jserr *err);
/* Delete: waiting pull requests get "409 Consumer Deleted" (into out,
 * may be NULL), a DELETE record is buffered for the state log (on disk
 * at the next st_cons_set_flush()), on_event(DELETED) is called, the
 * consumer is freed. */
void st_consumer_delete(struct st_consumer *c, int64_t now,
                        struct st_outbox *out);

const char *st_consumer_name(const struct st_consumer *c);
const struct st_cons_config *st_consumer_config(const struct st_consumer *c);
bool st_consumer_is_durable(const struct st_consumer *c);
bool st_consumer_is_pull(const struct st_consumer *c);

/*
 * A pull request (ADR-13): body = "" (batch 1), a number (batch), or
 * {"batch", "expires", "no_wait", "max_bytes", "idle_heartbeat"}.  Errors
 * go to `reply` as status records (400 Bad Request, 409 Exceeded
 * MaxRequestBatch / MaxRequestExpires / MaxRequestMaxBytes / MaxWaiting,
 * 409 Consumer is push based, 404 No Messages, 408 Requests Pending);
 * otherwise the request is queued and served at once as far as possible.
 */
int st_consumer_pull(struct st_consumer *c, const char *reply,
                     size_t reply_len, const char *body, size_t body_len,
                     int64_t now, struct st_outbox *out);

/* An ack published to this consumer's ack subject (subject = the full
 * $JS.ACK... subject, body = payload without headers, reply may be
 * empty: when present it gets an empty message, as nats-server does).
 * -EINVAL when the subject is not a v1 ack subject (nothing done). */
int st_consumer_ack(struct st_consumer *c, const char *subj, size_t subj_len,
                    const char *body, size_t body_len, const char *reply,
                    size_t reply_len, int64_t now, struct st_outbox *out);

/* A reply to a flow-control request ($JS.FC.<stream>.<consumer>.<id>);
 * stale ids are ignored. */
int st_consumer_fc_reply(struct st_consumer *c, const char *subj,
                         size_t subj_len, int64_t now);

/* Push consumers: the deliver subject gained / lost its subscribers. */
void st_consumer_set_active(struct st_consumer *c, bool active, int64_t now);

/* Deliver and run timers of this consumer (see st_cons_set_run()). */
int st_consumer_run(struct st_consumer *c, int64_t now, struct st_outbox *out,
                    unsigned budget);
/* Earliest time at which st_consumer_run() has timed work (INT64_MAX). */
int64_t st_consumer_next_timer(const struct st_consumer *c);

/* Interest/workqueue retention: does this consumer still need stream
 * message `sseq` (subject `subj`, NULL = read it from the store)? */
bool st_consumer_needs_ack(struct st_consumer *c, uint64_t sseq,
                           const char *subj, size_t len);

/* ConsumerInfo. */
struct st_cons_seq_info {
    uint64_t consumer_seq;
    uint64_t stream_seq;
    int64_t last_active;    /* 0 = never */
};

struct st_cons_info {
    int64_t created;
    struct st_cons_seq_info delivered;
    struct st_cons_seq_info ack_floor;
    uint64_t num_ack_pending;
    uint64_t num_redelivered;
    uint64_t num_waiting;
    uint64_t num_pending;
    bool push_bound;
};

void st_consumer_info(struct st_consumer *c, int64_t now,
                      struct st_cons_info *out);
/* The ConsumerInfo JSON object members (the caller has begun the
 * object; API responses put "type" first). */
int st_consumer_info_json(struct st_consumer *c, int64_t now,
                          struct dt_jw *w);

/* Write this consumer's state now (durables only; 0 otherwise): append
 * its STATE record and flush the log (with everything else buffered). */
int st_consumer_persist(struct st_consumer *c);

#endif /* ST_CONSUMER_H */
