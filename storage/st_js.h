/*
 * st_js.h -- the JetStream engine: one object that binds the stream
 * registry (st_stream.h), one consumer set per stream (st_consumer.h) and
 * the $JS API dispatch (st_api.h, st_api_consumer.h).  The storage
 * process feeds it the messages its subscriptions receive and it answers
 * through a port: "publish this", "subscribe to that".  No sockets, no
 * fabric, no clocks: the port is a table of callbacks and every call
 * takes `now` (ns since the Unix epoch, CLOCK_REALTIME).
 *
 * Use (the storage process, one thread):
 *   st_js_open()          opens <opts.dir> (every stream and its
 *                         durable consumers) and subscribes, through
 *                         port.subscribe, to $JS.API.>, $JS.ACK.>,
 *                         $JS.FC.> and every stream's subjects
 *   st_js_on_msg()        for each message a subscription received
 *   st_js_run()           after each batch of st_js_on_msg() calls and
 *                         whenever st_js_next_deadline() is due or the
 *                         st_io reported completions: flushes stores and
 *                         consumer state, sends the replies whose
 *                         operation is durable, runs consumers
 *   st_js_resubscribe()   the router restarted: announce every
 *                         subscription again (port.subscribe per id)
 *   st_js_close()         at exit: flush, checkpoint, free
 *
 * Replies: a publish is acknowledged ({"stream","seq"}) only once the
 * store's on_done reported it durable (after the fsync in "always" sync
 * mode); durable consumer creates/updates/deletes are answered after the
 * consumer log was flushed in the same st_js_run().
 *
 * Mirrors and sources (streams of this server): once a message of an
 * origin is durable, st_js_run() copies it into every mirror (same
 * sequence and timestamp) and source (appended with "Nats-Stream-Source:
 * <origin> <seq>") whose filter matches, at most ST_JS_SRC_BUDGET per
 * stream and call; what was copied is derived from the target's own
 * messages at open, so restarts and kill -9 neither skip nor repeat.
 *
 * Republish: the stream layer hands each stored message's copy for the
 * stream's republish dest to the engine, which publishes it at once
 * through the port (before the PubAck, which waits for durability, as
 * nats-server 2.9.10 sends its copy before its ack).
 *
 * Advisories ($JS.EVENT.ADVISORY.*, nats-server 2.9.10's JSON): stream
 * created / updated / deleted, consumer created / deleted, consumer
 * max_deliver; none for what st_js_open() restores; no API audit.
 *
 * NOTES
 *   Ownership: the engine owns the registry, consumer sets and outboxes;
 *   opts.io is borrowed and must outlive it.  Strings passed to the port
 *   are valid during the call only.
 *   Concurrency: none; the thread that owns opts.io.
 *   Bounds: when port.publish returns -ENOBUFS the engine keeps the
 *   message in its own queue (at most ST_JS_BACKLOG_MAX bytes; past that
 *   deliveries are dropped and counted: consumers redeliver what was not
 *   acked) and stops running consumers until st_js_run() could drain it.
 *   Errors: 0 or -errno; bad requests get nats-server's API errors as
 *   replies, never an error return.
 */
#ifndef ST_JS_H
#define ST_JS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st_io.h"

#define ST_JS_BACKLOG_MAX (64u << 20)

/* Subscription ids the engine uses (port.subscribe); streams take ids
 * from ST_JS_SUB_STREAMS up. */
enum st_js_sub {
    ST_JS_SUB_API = 1,      /* $JS.API.> */
    ST_JS_SUB_ACK = 2,      /* $JS.ACK.> */
    ST_JS_SUB_FC = 3,       /* $JS.FC.> */
    ST_JS_SUB_STREAMS = 16,
};

/* What the engine needs from the process that hosts it.  The callbacks
 * must not call back into the engine (queue a loopback instead). */
struct st_js_port {
    void *arg;
    /* A core NATS publish (hdr_len 0 = no headers; hdr is a full NATS
     * header block).  0, or -ENOBUFS when the port cannot take it now. */
    int (*publish)(void *arg, const char *subj, size_t subj_len,
                   const char *reply, size_t reply_len, const void *hdr,
                   size_t hdr_len, const void *data, size_t data_len);
    /* Ask for the messages on `subject` (wildcards allowed) under `id`;
     * a second call with the same id is a new announcement of the same
     * subscription (after st_js_resubscribe). */
    int (*subscribe)(void *arg, uint32_t id, const char *subject,
                     size_t len);
    int (*unsubscribe)(void *arg, uint32_t id);
    /* Optional: a consumer delivery.  Publish to the subscribers of
     * `route` (the deliver subject, or the pull request's reply subject)
     * a message they see as sent on `subj` (its subject in the stream),
     * as nats-server does.  0 or -ENOBUFS, like publish.  NULL: publish()
     * to `route` is used (receivers then see `route` as the subject). */
    int (*deliver)(void *arg, const char *subj, size_t subj_len,
                   const char *route, size_t route_len, const char *reply,
                   size_t reply_len, const void *hdr, size_t hdr_len,
                   const void *data, size_t data_len);
    /* Optional: the one reply to a request (a publish ack, an API
     * response): it is ordered against nothing else, so the port need not
     * keep it behind what it sent the same subscriber before.  0 or
     * -ENOBUFS.  NULL: publish(). */
    int (*reply)(void *arg, const char *subj, size_t subj_len,
                 const void *hdr, size_t hdr_len, const void *data,
                 size_t data_len);
    /* Optional: does anyone else subscribe to subj?  Push consumers
     * without a listener stop delivering (and ephemeral ones expire
     * after inactive_threshold); pull requests whose inbox lost its
     * subscriber are dropped.  NULL: everyone always listens. */
    bool (*has_interest)(void *arg, const char *subj, size_t len);
};

struct st_js_opts {
    const char *dir;            /* where streams live (created if missing) */
    struct st_io *io;
    bool sync_always;           /* fsync before every ack */
    int64_t sync_interval_ns;   /* otherwise: fsync this often (0 = 2 min) */
    int64_t max_memory;         /* the server's jetstream max_memory_store */
    int64_t max_store;          /*   and max_file_store, enforced as
                                 *   st_registry_opts says (<= 0 =
                                 *   unlimited); $JS.API.INFO still
                                 *   reports the account limits as -1 */
};

/* For /jsz and $JS.API.INFO. */
struct st_js_stats {
    uint64_t streams, consumers, messages, bytes;
    uint64_t memory, store;         /* bytes used by memory / file streams */
    /* /jsz "reserved_memory" / "reserved_storage": the max_bytes the
     * streams reserve, nats-server's int64 shown as uint64 (it can wrap
     * below 0 after some updates, as there) */
    uint64_t reserved_memory, reserved_store;
    uint64_t api_total, api_errors;
    uint64_t dropped;               /* port backlog overflows */
    uint64_t backlog;               /* bytes waiting for the port */
    uint64_t pub_waiting;           /* publishes waiting for store buffers */
};

struct st_js;

int st_js_open(struct st_js **out, const struct st_js_opts *opts,
               const struct st_js_port *port, int64_t now);
void st_js_close(struct st_js *js);

/* A message received on subscription `sub_id` (hdr_len 0 = none). */
void st_js_on_msg(struct st_js *js, uint32_t sub_id, const char *subj,
                  size_t subj_len, const char *reply, size_t reply_len,
                  const void *hdr, size_t hdr_len, const void *data,
                  size_t data_len, int64_t now);

/* Flush, send what is ready, run consumers, timers.  Returns 1 when work
 * is left (call again soon), 0 when idle until the next deadline or
 * message, -errno on an internal failure (logged; the engine goes on). */
int st_js_run(struct st_js *js, int64_t now);

/* Earliest `now` at which st_js_run() has timed work (INT64_MAX: none). */
int64_t st_js_next_deadline(const struct st_js *js);

void st_js_resubscribe(struct st_js *js);
/* Subscriptions elsewhere changed: re-check whether each push consumer's
 * deliver subject still has a listener. */
void st_js_interest_changed(struct st_js *js, int64_t now);
void st_js_stats(const struct st_js *js, struct st_js_stats *out);

#endif /* ST_JS_H */
