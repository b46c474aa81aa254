/*
 * st_stream.h -- JetStream streams as a library: the stream configuration
 * (parse, defaults, validation, JSON, update rules), a registry of the
 * streams kept in one store directory, the publish path (dedupe,
 * expected-* headers, limits, discard policies, rollups, sealed) and the
 * retention hooks the consumer layer calls.  nats-server 2.9.10
 * semantics.
 *
 * The library has no sockets, threads or clocks: every entry point that
 * needs the time takes `now` (ns since the Unix epoch, CLOCK_REALTIME:
 * message timestamps, "created", max_age and the duplicate window).
 *
 * Integration (the storage process, one thread):
 *   1. st_registry_open() at start: it reopens every stream of the store
 *      directory (file streams; memory streams do not survive a restart).
 *   2. Subscribe (through the router) to the subjects of every stream;
 *      hooks.on_stream tells when a stream appears, changes or goes.
 *   3. A message on such a subject: s = st_registry_match(), then
 *      st_stream_publish().  When res.reply is set, send the JSON it wrote
 *      to the reply subject: at once for DUPLICATE and ERROR, and for
 *      STORED once on_done() reported a ticket >= res.ticket with status 0
 *      (on a failure, send st_stream_puberr() of st_jserr_store_failed()).
 *      -EAGAIN: the store's buffers are busy; poll the st_io and retry.
 *   4. After a batch of publishes: st_registry_flush(); poll the st_io.
 *   5. Every few hundred ms: st_registry_tick() (max_age, duplicate
 *      window, store timers, limits whose enforcement had to wait).
 *   6. $JS.API.* requests: st_api_handle() (st_api.h).
 *   7. Consumers: read messages from st_stream_store(); call
 *      st_stream_ack_remove() when interest/workqueue retention says a
 *      message is no longer needed; receive stream events via hooks.
 *
 * NOTES
 *   Ownership: the registry owns its streams, their stores and dedupe
 *   tables; the st_io is borrowed and must outlive the registry.  A
 *   config is a deep copy owned by whoever holds it (st_stream_config_free).
 *   Concurrency: none; the thread of the st_io.  Hooks and on_done run
 *   inside library calls; they must not delete the stream they are told
 *   about (delete later).
 *   On disk: <dir>/<name>/stream.json (config + created, replaced
 *   atomically: tmp file, fsync, rename, fsync dir) and <dir>/<name>/msgs
 *   (the st_store).  <dir>/<name>/obs is left to the consumer layer.
 *   Memory streams live the same way under <dir>/.mem (or opts.mem_dir),
 *   emptied at open: the file store backs them, they are simply not
 *   recovered.  Deleting a stream renames its directory to .trash.N
 *   (fsync) then removes it; leftovers are removed at open.  Admin paths
 *   (create, update, delete) do blocking file I/O; publishes do not.
 *   Errors: 0 or -errno; nats-server errors (what the API answers) come
 *   back in struct st_jserr.
 */
#ifndef ST_STREAM_H
#define ST_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dt_buf.h"
#include "dt_json.h"
#include "st_io.h"
#include "st_jserr.h"
#include "st_store.h"

#define ST_STREAM_MAX_NAME 255          /* JSMaxNameLen */
#define ST_STREAM_MAX_DESC 4096         /* JSMaxDescriptionLen */
#define ST_STREAM_DUP_WINDOW (120ll * 1000000000ll)   /* 2 min */
#define ST_STREAM_MAX_DEDUPE (1u << 20) /* default ids per stream */

/* Retention; the values match the consumer layer's enum st_retention. */
enum st_sret {
    ST_SRET_LIMITS = 0,
    ST_SRET_INTEREST = 1,
    ST_SRET_WORKQUEUE = 2,
};

enum st_sdiscard {
    ST_SDISCARD_OLD = 0,
    ST_SDISCARD_NEW = 1,
};

enum st_sstorage {
    ST_SSTORAGE_FILE = 0,
    ST_SSTORAGE_MEMORY = 1,
};


/* ------------------------------------------------------------------ */
/* Configuration (StreamConfig). */

/*
 * Strings are NUL-terminated heap copies (NULL = absent).  Durations are
 * ns.  After st_stream_config_check() the zero values have their
 * nats-server defaults (limits -1, duplicate_window 2 min or max_age,
 * num_replicas 1, subjects = [name] unless a mirror or sources are
 * set).  metadata (a 2.10 member) is kept and echoed when present;
 * placement is kept and echoed; mirror and sources (streams of this
 * server only: "external" is refused) are kept and run by the engine;
 * republish is kept (src defaults to ">") and run by the stream layer
 * (hooks.republish); of the 2.9.10 destination mapping functions only
 * $N and {{wildcard(N)}} are built, the others are refused.
 */

/* RePublish: after a message is stored, a copy goes to dest. */
struct st_stream_republish {
    char *src;              /* NULL/"" before the check: ">" after */
    char *dest;
    bool headers_only;
};

/* StreamSource: a mirror's origin or one source. */
struct st_stream_source {
    char *name;
    char *filter_subject;   /* NULL/"" = all */
    uint64_t opt_start_seq;
    int64_t opt_start_time; /* ns; valid when has_start_time */
    int32_t start_tz;       /* its UTC offset (echoed as given) */
    bool has_start_time;
    bool has_external;      /* refused: no other domains here */
};

struct st_stream_config {
    char *name;
    char *description;
    char **subjects;
    size_t nsubjects;
    char *template_owner;
    char *placement_cluster;
    char **placement_tags;
    size_t nplacement_tags;
    bool has_placement;
    char **meta_keys;       /* metadata, in text order */
    char **meta_vals;
    size_t nmeta;
    uint8_t retention;      /* enum st_sret */
    uint8_t discard;        /* enum st_sdiscard */
    uint8_t storage;        /* enum st_sstorage */
    int64_t max_consumers;
    int64_t max_msgs;
    int64_t max_bytes;
    int64_t max_age;
    int64_t max_msgs_per_subject;
    int32_t max_msg_size;
    int64_t num_replicas;
    int64_t duplicate_window;
    bool no_ack;
    bool sealed;
    bool deny_delete;
    bool deny_purge;
    bool allow_rollup;      /* allow_rollup_hdrs */
    bool allow_direct;
    bool mirror_direct;
    bool discard_new_per_subject;
    bool has_mirror;        /* mirror != NULL */
    bool has_sources;       /* nsources > 0 */
    struct st_stream_republish *republish;  /* NULL = none */
    struct st_stream_source *mirror;
    struct st_stream_source *sources;
    size_t nsources;
};

/* Parse a StreamConfig object with Go encoding/json rules (member names
 * match case-insensitively, unknown members are ignored, a wrong type or
 * an unknown enum string is 400/10025 "invalid JSON").  *cfg must be
 * zeroed or freed before; on error it is left freed. */
int st_stream_config_parse(const struct dt_json *obj,
                           struct st_stream_config *cfg, struct st_jserr *err);
/* Parse from text (the API body). */
int st_stream_config_parse_text(const char *text, size_t len,
                                struct st_stream_config *cfg,
                                struct st_jserr *err);
void st_stream_config_free(struct st_stream_config *cfg);
int st_stream_config_copy(struct st_stream_config *dst,
                          const struct st_stream_config *src);
/* checkStreamCfg(): fill the defaults and validate the config on its own
 * (name, limits, windows, subjects; not the overlap with other streams,
 * which st_registry_create/update check).  -EINVAL with err set. */
int st_stream_config_check(struct st_stream_config *cfg, struct st_jserr *err);
/* configUpdateCheck(): may `upd` (checked) replace `old`?  Applies the
 * sealed adjustments to upd.  -EINVAL with err set. */
int st_stream_config_update_check(const struct st_stream_config *old,
                                  struct st_stream_config *upd,
                                  struct st_jserr *err);
/* Equal after defaults (what "create an existing stream" compares). */
bool st_stream_config_equal(const struct st_stream_config *a,
                            const struct st_stream_config *b);
/* The config object as nats-server writes it (members, order, omitempty). */
int st_stream_config_json(struct dt_jw *w, const struct st_stream_config *cfg);

/* isValidName() plus the 2.9.10 path-separator rule; 0 or an error. */
int st_stream_name_check(const char *name, size_t len, struct st_jserr *err);
/* The republish transform (nats-server 2.9.10 newTransform): src and
 * dest valid, no '*' in dest, '>' in both or neither; when src has
 * wildcards, dest tokens "$N" / "{{wildcard(N)}}" (1 <= N <= the '*'
 * count of src, every '*' used).  subj NULL: only validate.  Else write
 * subj mapped to dest into out (appended).  0; -ENOENT subj does not
 * match src; -EINVAL invalid transform; -ENOTSUP a mapping function
 * this server does not build (partition, split...); -ENOMEM. */
int st_stream_republish_map(const char *src, const char *dest,
                            const char *subj, size_t subj_len,
                            struct dt_buf *out);
/* Do two subjects (wildcards allowed) match a common subject? */
bool st_stream_subjects_collide(const char *a, size_t an, const char *b,
                                size_t bn);

/* ------------------------------------------------------------------ */
/* Registry and streams. */

struct st_registry;
struct st_stream;

enum st_stream_event {
    ST_STREAM_OPENED = 1,   /* created, or reopened at start */
    ST_STREAM_UPDATED,      /* config replaced (subjects may differ) */
    ST_STREAM_DELETING,     /* about to be closed and removed */
};

/*
 * What the stream layer tells its users (the consumer layer, the
 * storage process).  Every member may be NULL.
 *   on_stream       lifecycle (see enum st_stream_event)
 *   on_append       message `seq` was stored
 *   on_remove       message `seq`, whose subject was `subj` (len
 *                   bytes, not NUL-terminated, valid during the call),
 *                   was removed alone (API delete, retention ack,
 *                   per-subject limit, rollup of a subject, filtered
 *                   purge; also when such a removal waited for buffer
 *                   space).  An interest skip (a message never
 *                   announced by on_append) is not reported.
 *   on_purge        everything below first_seq is gone (purge, rollup
 *                   all, max_msgs/max_bytes/max_age); last_seq is the
 *                   stream's last sequence.  A filtered purge reports
 *                   its removals one by one through on_remove instead.
 *   has_interest    interest retention: does any consumer want `subj`?
 *                   NULL = no consumer layer: every message is kept.
 *   consumer_count  consumers of the stream (stream info, account info)
 *   source_info     StreamInfo "mirror" / "sources" (info, list, update)
 *   republish       a stored message's copy for the stream's republish
 *                   dest, sent at once (before it is durable, as
 *                   nats-server does, which republishes before its ack)
 */
struct st_stream_hooks {
    void *arg;
    void (*on_stream)(void *arg, struct st_stream *s, enum st_stream_event ev);
    void (*on_append)(void *arg, struct st_stream *s, uint64_t seq,
                      const char *subj, size_t len);
    void (*on_remove)(void *arg, struct st_stream *s, uint64_t seq,
                      const char *subj, size_t len);
    void (*on_purge)(void *arg, struct st_stream *s, uint64_t first_seq,
                     uint64_t last_seq);
    bool (*has_interest)(void *arg, struct st_stream *s, const char *subj,
                         size_t len);
    uint64_t (*consumer_count)(void *arg, struct st_stream *s);
    /* stream info: write the "mirror" / "sources" members (the
     * engine keeps their state) into the open object */
    void (*source_info)(void *arg, struct st_stream *s, struct dt_jw *w);
    /* republish: a copy of a stored message to publish now (subject,
     * full NATS header block, data; valid during the call) */
    void (*republish)(void *arg, struct st_stream *s, const char *subj,
                      size_t subj_len, const void *hdr, size_t hdr_len,
                      const void *data, size_t data_len);
};

/*
 * Registry options.
 *   dir            the store directory (created if missing; its parent
 *                  must exist)
 *   mem_dir        where memory streams live (NULL = <dir>/.mem); it is
 *                  emptied at open
 *   io             the thread's I/O context
 *   store          template for every store (on_done/on_done_arg are
 *                  replaced; memory streams always use INTERVAL sync)
 *   on_done        a store reported durable/failed operations
 *   max_dedupe     Nats-Msg-Id entries kept per stream (0 = 1 Mi); past
 *                  it the oldest go early
 *   max_streams    0 = unlimited (else 400/10027 on create)
 *   max_memory     the server's jetstream max_memory_store / max_file_store
 *   max_store      in bytes (<= 0 = unlimited), enforced as a standalone
 *                  nats-server 2.9.10 without account limits does:
 *                  - create: the reserved bytes of that storage type (the
 *                    sum of max_bytes > 0) plus this max_bytes (1 when
 *                    unset) must not pass the limit, else 500/10028
 *                    "insufficient memory resources available" or
 *                    500/10047 "insufficient storage resources available"
 *                    (after the sealed, replicas and name checks, before
 *                    the subject overlap);
 *                  - update: the same with new - old max_bytes (0 when it
 *                    shrinks), after the update rules, before the replicas
 *                    and overlap checks; the reservation then moves by
 *                    new - old (nats-server's arithmetic, -1 included);
 *                  - open: streams are loaded in name order and one that
 *                    does not fit is logged and left on disk, unloaded;
 *                  - publish: while the bytes held by streams of that
 *                    type exceed the limit, 503/10023 "insufficient
 *                    resources" (after the header and size checks, before
 *                    interest and discard policies; no sequence is used).
 */
struct st_registry_opts {
    const char *dir;
    const char *mem_dir;
    struct st_io *io;
    struct st_config store;
    void (*on_done)(void *arg, struct st_stream *s, const struct st_done *d);
    void *on_done_arg;
    struct st_stream_hooks hooks;
    uint32_t max_dedupe;
    uint32_t max_streams;
    int64_t max_memory;
    int64_t max_store;
};

/* What the streams of the registry reserve and hold, per storage type
 * (/jsz "reserved_memory", "reserved_storage", "memory", "storage").
 * The reservations follow nats-server's bookkeeping and may go below 0
 * (nats-server then reports them as uint64). */
struct st_registry_usage {
    int64_t reserved_memory, reserved_store;
    uint64_t memory, store;
};

/* Open the registry and every stream in it.  A stream that fails to open
 * is logged and left on disk untouched (-EBUSY when another process
 * holds the directory). */
int st_registry_open(struct st_registry **out,
                     const struct st_registry_opts *opts);
/* Close every stream (flush, checkpoint) and free. */
void st_registry_close(struct st_registry *r);

size_t st_registry_count(const struct st_registry *r);
struct st_stream *st_registry_find(const struct st_registry *r,
                                   const char *name, size_t len);
/* The stream whose subjects match the literal subject `subj` (streams
 * never overlap, so at most one); NULL when none. */
struct st_stream *st_registry_match(const struct st_registry *r,
                                    const char *subj, size_t len);
/* Streams sorted by name into a malloc'ed array the caller frees. */
int st_registry_sorted(const struct st_registry *r, struct st_stream ***out,
                       size_t *n);

/* Create a stream from a checked config (st_stream_config_check).  An
 * existing stream with an equal config is returned with *created false
 * (nats-server answers that as a create); a different one is 400/10058.
 * Errors: -EEXIST, -EINVAL (err set), -errno from disk (err 500/10049). */
int st_registry_create(struct st_registry *r,
                       const struct st_stream_config *cfg,
                       int64_t now, struct st_stream **out, bool *created,
                       struct st_jserr *err);
/* Replace the config of `s` with `cfg` (checked; update rules applied
 * here).  Tighter limits are enforced at once. */
int st_registry_update(struct st_registry *r, struct st_stream *s,
                       const struct st_stream_config *cfg, int64_t now,
                       struct st_jserr *err);
/* Delete the stream and its data; `s` is freed. */
int st_registry_delete(struct st_registry *r, struct st_stream *s);

/* st_store_flush() for every stream changed since the last call. */
int st_registry_flush(struct st_registry *r);
/* Timers: max_age, the duplicate window, store ticks (now_mono for
 * those), limits whose enforcement waited for buffer space. */
int st_registry_tick(struct st_registry *r, int64_t now, uint64_t now_mono);

void st_registry_usage(const struct st_registry *r,
                       struct st_registry_usage *out);

/* API counters ($JS.API.INFO "api": total / errors). */
void st_registry_api_count(struct st_registry *r, bool error);
void st_registry_api_stats(const struct st_registry *r, uint64_t *total,
                           uint64_t *errors);
const struct st_stream_hooks *st_registry_hooks(const struct st_registry *r);

const char *st_stream_name(const struct st_stream *s);
const struct st_stream_config *st_stream_config(const struct st_stream *s);
struct st_store *st_stream_store(struct st_stream *s);
struct st_registry *st_stream_registry(struct st_stream *s);
int64_t st_stream_created(const struct st_stream *s);
/* <dir>/<name>: the consumer layer keeps its state under it. */
const char *st_stream_dir(const struct st_stream *s);
uint64_t st_stream_consumer_count(struct st_stream *s);
/* The store's state as nats-server reports it: first_seq is 0 for a
 * stream that never held a message (1 once an empty one was purged). */
void st_stream_state(struct st_stream *s, struct st_state *out);
/* One pointer for the caller (e.g. its consumer set). */
void st_stream_set_user(struct st_stream *s, void *user);
void *st_stream_user(const struct st_stream *s);

/* ------------------------------------------------------------------ */
/* Publish. */

enum st_pub_status {
    ST_PUB_STORED = 0,      /* appended: ack once res.ticket is durable */
    ST_PUB_DUPLICATE,       /* Nats-Msg-Id seen in the window: ack now */
    ST_PUB_ERROR,           /* refused: the error JSON goes out now */
    ST_PUB_DROPPED,         /* dropped without a reply, as nats-server
                             * does for an unknown Nats-Rollup value */
};

struct st_pub_result {
    enum st_pub_status status;
    bool reply;             /* JSON was written to `ack`: send it to the
                             * reply subject (none when there is no reply
                             * subject, no_ack is set, or DROPPED) */
    uint64_t seq;           /* STORED: the new one; DUPLICATE: the first */
    uint64_t ticket;        /* STORED: settle point (st_done.ticket) */
    struct st_jserr err;    /* ERROR */
};

/*
 * Store one message published on `subj` (literal, matching the stream),
 * applying in nats-server's order: sealed, Nats-Expected-Stream,
 * Nats-Msg-Id dedupe, Nats-Expected-Last-Subject-Sequence,
 * Nats-Expected-Last-Sequence, Nats-Expected-Last-Msg-Id, Nats-Rollup,
 * max_msg_size, the 64 KiB header limit, the server's max_memory /
 * max_store (see st_registry_opts), interest (no consumer: the
 * sequence is used and the message dropped), discard new (max_msgs,
 * max_bytes, per subject), then the append, the rollup purge and the
 * discard-old limits.  `ack` receives the reply JSON when res->reply.
 * Returns 0 (see res), -EAGAIN (buffers busy: nothing changed), -EINVAL,
 * -ENOMEM/-ENOBUFS (ack buffer).
 */
int st_stream_publish(struct st_stream *s, const char *subj, size_t subj_len,
                      const char *reply, size_t reply_len, const void *hdr,
                      size_t hdr_len, const void *data, size_t data_len,
                      int64_t now, struct st_pub_result *res,
                      struct dt_buf *ack);

/* A mirror's copy of origin message `seq` (kept: it must be above the
 * mirror's last) with the origin's timestamp `ts`: no header checks, no
 * dedupe; then the mirror's own limits.  *ticket gets the settle point.
 * 0, -EAGAIN (buffers busy: nothing changed), -EMSGSIZE, -EINVAL (seq
 * not above last), -EIO. */
int st_stream_mirror_append(struct st_stream *s, uint64_t seq, int64_t ts,
                            const char *subj, size_t subj_len,
                            const void *hdr, size_t hdr_len, const void *data,
                            size_t data_len, int64_t now, uint64_t *ticket);

/* {"stream":"S", "seq":N} (+ "duplicate": true), byte for byte. */
int st_stream_puback(const struct st_stream *s, uint64_t seq, bool duplicate,
                     struct dt_buf *out);
/* {"error":{...},"stream":"S","seq":0}. */
int st_stream_puberr(const struct st_stream *s, const struct st_jserr *e,
                     struct dt_buf *out);

/* A header value of a NATS header block as nats-server's getHeader()
 * finds it (case-sensitive key at a line start, leading blanks
 * skipped).  NULL when absent. */
const char *st_stream_hdr_get(const void *hdr, size_t hdr_len, const char *key,
                       size_t *vlen);

/* ------------------------------------------------------------------ */
/* Operations (the API calls these; errors as nats-server words them). */

/* Remove one message (STREAM.MSG.DELETE).  -EINVAL with err set;
 * -ENOMEM (err set, nothing removed) when its subject could not be
 * copied for on_remove. */
int st_stream_delete_msg(struct st_stream *s, uint64_t seq, bool no_erase,
                         struct st_jserr *err);
/* PurgeEx: filter (NULL = all), seq (below), keep.  *purged gets the
 * count.  -EINVAL with err set (sealed, deny_purge). */
int st_stream_purge(struct st_stream *s, const char *filter, size_t flen,
                    uint64_t seq, uint64_t keep, uint64_t *purged,
                    struct st_jserr *err);
/* Retention: no consumer needs `seq` any more.  Interest and workqueue
 * streams delete it (0, or -ENOENT when already gone; -EAGAIN from the
 * store is kept and retried later, 0) and report it through on_remove;
 * limits streams ignore the call (0).  -ENOMEM: nothing removed. */
int st_stream_ack_remove(struct st_stream *s, uint64_t seq);
/* Remove what max_age allows (realtime now); also done by the tick. */
int st_stream_expire(struct st_stream *s, int64_t now);

/* Every subject with messages matching `filter` (NULL/""/">" = all),
 * with its count, in no particular order.  fn returns non-zero to stop
 * (that value is returned). */
int st_stream_subjects(struct st_stream *s, const char *filter, size_t flen,
                       int (*fn)(void *arg, const char *subj, size_t len,
                                 uint64_t msgs),
                       void *arg);
/* Every deleted sequence between first and last, ascending, at most max
 * (0 = all). */
int st_stream_deleted(struct st_stream *s, uint64_t max,
                      int (*fn)(void *arg, uint64_t seq), void *arg);

#endif /* ST_STREAM_H */
