/*
 * st_js_int.h -- private to the JetStream engine (st_js.c: life cycle,
 * registry and consumer hooks, subscriptions, stats; st_js_pub.c: the
 * publish path, durable acks, retention removals, mirror and source
 * copies; st_js_run.c: message dispatch, held API replies, the port
 * backlog, the run loop).  Not for other modules: use st_js.h.
 *
 * NOTES
 *   Queues are singly linked FIFOs of st_js_msg (one allocation per
 *   message: subject, reply, header and data copied behind the struct),
 *   each with a byte bound and a defined behaviour when full (see the
 *   ST_JS_*_MAX constants).
 *   Removals: the stream layer's on_remove names the sequence and its
 *   subject, so every removal goes straight to st_cons_set_on_remove().
 *   A recount of a stream's consumers (st_js_settle) is left for a store
 *   that failed and went back to what is on disk.
 */
#ifndef ST_JS_INT_H
#define ST_JS_INT_H

#include "st_api.h"
#include "st_consumer.h"
#include "st_js.h"
#include "st_stream.h"

#define ST_JS_NS_MS 1000000ll
#define ST_JS_TICK_NS (250 * ST_JS_NS_MS)       /* st_registry_tick */
#define ST_JS_FLUSH_NS (1000 * ST_JS_NS_MS)     /* durable consumer state */
#define ST_JS_SYNC_DEFAULT (120000 * ST_JS_NS_MS)   /* nats-server: 2 min */
#define ST_JS_RETRY_NS (1 * ST_JS_NS_MS)        /* port backlog retry */
#define ST_JS_PUBQ_RETRY_NS (10 * ST_JS_NS_MS)  /* busy store retry */
#define ST_JS_RUN_BUDGET 1024u          /* deliveries per st_js_run() */
#define ST_JS_SCAN_BUDGET 4096u         /* interest re-check per call */
#define ST_JS_PUBQ_MAX (32u << 20)      /* publishes waiting for a store */
#define ST_JS_HELD_MAX (8u << 20)       /* replies waiting for a flush */

/* The parts of a message to send (borrowed).  route_len > 0: a
 * delivery that goes to the subscribers of `route` and shows `subj`. */
struct st_js_parts {
    const char *subj, *route, *reply;
    const void *hdr, *data;
    size_t subj_len, route_len, reply_len, hdr_len, data_len;
    bool is_reply;          /* answers one request: port.reply() may take it */
};

/* One message kept for later: the parts copied behind the struct. */
struct st_js_msg {
    struct st_js_msg *next;
    uint64_t ticket;        /* pending publish ack: its settle point */
    uint32_t subj_len, route_len, reply_len, hdr_len, data_len;
    bool is_reply;
    char b[];               /* subject, route, reply, header, data */
};

struct st_js_fifo {
    struct st_js_msg *head, *tail;
    size_t bytes;           /* st_js_msg_size() of every message */
    size_t n;
};

struct st_js_range {
    uint64_t lo, hi;
};

struct st_js_subent {
    uint32_t id;
    struct st_js_stream *t;
};

/* A set of consumers, unordered. */
struct st_js_cvec {
    struct st_consumer **v;
    size_t n, cap;
};

#define ST_JS_SRC_BUDGET 1024u         /* mirror/source copies per call */
#define ST_JS_SRC_HB_NS (1000 * ST_JS_NS_MS)   /* "active" heartbeat */

/* One mirror origin or source of a stream (same server).  pos is the
 * last origin sequence dealt with; it is derived from the target's own
 * messages (a mirror's last sequence; a source's last Nats-Stream-Source
 * header naming the origin) at open, update and after a store failure,
 * so it survives restarts without being stored. */
struct st_js_src {
    char *origin;
    char *filter;                   /* NULL = every subject */
    uint64_t start_seq;             /* opt_start_seq */
    int64_t start_time;             /* opt_start_time (has_time) */
    bool has_time;
    bool init;                      /* pos derived */
    uint64_t pos;
    uint64_t lag;                   /* origin messages not copied yet */
    int64_t active;                 /* last contact (realtime ns) */
};

/* The engine's side of one stream (st_stream_user()). */
struct st_js_stream {
    struct st_js_stream *prev, *next;
    struct st_js *js;
    struct st_stream *s;
    struct st_cons_set *set;
    struct st_cons_stream cs;       /* borrowed by set: lives here */
    char *name;
    char **subjects;                /* copies, for cs and the port */
    uint32_t *sub_ids;              /* port subscription per subject */
    size_t nsubjects;
    struct st_js_cvec cons;         /* interest/workqueue: all of them */
    struct st_js_cvec push;         /* push consumers (interest checks) */
    struct st_js_range *acked;      /* retention: acked, to retire */
    size_t nacked, cacked;
    struct st_js_fifo pubq;         /* publishes met busy buffers */
    struct st_js_fifo acks;         /* STORED replies, ticket order */
    int64_t timer;                  /* st_cons_set_next_timer(), cached */
    uint64_t recheck;               /* interest: scan from here (0 none) */
    bool touched;                   /* timer cache stale */
    bool need_flush;                /* a held reply waits for its log */
    bool recount;                   /* store failed: recount consumers */
    struct st_js_src *src;          /* mirror (one) or sources */
    size_t nsrc;
    bool mirror;
    uint64_t durable;               /* highest sequence on disk */
};

struct st_js {
    struct st_js_opts o;
    char *dir;
    struct st_js_port port;
    struct st_registry *reg;
    struct st_js_stream *head, *tail;
    uint32_t next_sub;
    /* stream subject subscriptions: sub id -> stream, so that a publish
     * finds its stream without matching every stream's subjects */
    struct st_js_subent *submap;    /* open addressing, 0 = free */
    uint32_t submap_cap, submap_n;  /* cap a power of two, n < cap / 2 */
    int64_t now;                    /* last realtime seen */
    int64_t mono;                   /* advances with now, never back */
    int64_t next_tick, next_flush;  /* on the mono clock */
    struct st_outbox ob;            /* consumer output, published at once */
    struct dt_buf ack;              /* publish reply */
    struct dt_buf errbuf;           /* failed publish reply (on_done) */
    struct dt_buf resp;             /* consumer API reply */
    struct dt_buf scratch;          /* message reads */
    struct st_api_out api;          /* stream API reply */
    struct st_js_fifo out;          /* port backlog */
    struct st_js_fifo ready;        /* settled publish replies */
    struct st_js_fifo held;         /* API replies waiting for a flush */
    size_t pubq_bytes;              /* over every stream's pubq */
    bool hold_api;                  /* the current request writes a log */
    bool quiet;                     /* restoring: no advisories */
    bool flagged;                   /* some stream has settle work */
    size_t ntargets;                /* streams with a mirror or sources */
    struct dt_buf srcmsg, srchdr;   /* mirror/source copy buffers */
    uint64_t dropped;
    int err_flush, err_tick;        /* last errors, logged once */
};

/* st_js.c */
uint32_t st_js_sub_alloc(struct st_js *js);
void st_js_settle(struct st_js *js);

/* st_js_pub.c: messages and FIFOs */
size_t st_js_msg_size(const struct st_js_parts *p);
struct st_js_msg *st_js_msg_new(const struct st_js_parts *p);
/* The parts of a kept message (pointing into it). */
void st_js_msg_parts(const struct st_js_msg *m, struct st_js_parts *p);
void st_js_fifo_push(struct st_js_fifo *f, struct st_js_msg *m);
struct st_js_msg *st_js_fifo_pop(struct st_js_fifo *f);
void st_js_fifo_clear(struct st_js_fifo *f);

/* st_js_pub.c: publish path and retention */
/* The stream whose subject subscription is `id`, or NULL. */
struct st_js_stream *st_js_stream_of_sub(const struct st_js *js, uint32_t id);
void st_js_publish(struct st_js *js, uint32_t sub_id, const char *subj,
                   size_t sl, const char *reply, size_t rl, const void *hdr,
                   size_t hl, const void *data, size_t dl, int64_t now);
void st_js_pub_retry(struct st_js *js, int64_t now);
void st_js_pub_drop(struct st_js_stream *t);
void st_js_on_done(void *arg, struct st_stream *s, const struct st_done *d);
void st_js_on_ack(void *arg, struct st_consumer *c, uint64_t lo,
                  uint64_t hi);
void st_js_retire(struct st_js_stream *t);
void st_js_recheck(struct st_js_stream *t, unsigned budget);

/* st_js_pub.c: mirrors and sources */
int st_js_src_setup(struct st_js_stream *t);
void st_js_src_free(struct st_js_stream *t);
/* Copy what the origins have (durable) and the target lacks, at most
 * budget messages; true when the budget ran out. */
bool st_js_src_walk(struct st_js_stream *t, unsigned budget);
void st_js_src_info(void *arg, struct st_stream *s, struct dt_jw *w);

/* st_js_run.c: output */
void st_js_send(struct st_js *js, const struct st_js_parts *p);
/* st_js_send() of a plain reply (no route, no reply subject). */
void st_js_reply(struct st_js *js, const char *to, size_t to_len,
                 const void *hdr, size_t hdr_len, const void *data,
                 size_t data_len);
void st_js_emit_outbox(struct st_js *js);
void st_js_drain(struct st_js *js);
void st_js_release(struct st_js *js);

/* st_js_adv.c */
void st_js_advise_stream(struct st_js *js, const char *name, const char *ev,
                         const char *action);
void st_js_advise_consumer(struct st_js *js, const char *stream,
                           struct st_consumer *c, bool created);
void st_js_advise_stream_gone(struct st_js_stream *t);
void st_js_on_max_deliver(void *arg, struct st_consumer *c, uint64_t sseq,
                          uint64_t deliveries);

#endif /* ST_JS_INT_H */
