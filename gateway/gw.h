/*
 * gw.h -- the gateway worker process: its connections, subscriptions and
 * the functions the gateway's files offer each other.
 *
 * NOTES
 *   One process, one thread, one epoll loop (gw_loop.c).  Every client
 *   connection lives in exactly one gateway worker; its public face
 *   (counters, name, address) is mirrored into its shm_conn_slot for
 *   monitoring and for a successor.  Subscriptions are kept here, in
 *   private memory, and announced to the router over the inbound ring;
 *   the router's copy can always be rebuilt from these.
 *   Sub ids: low 20 bits index the connection's sub table, the high 12
 *   bits are a reuse counter, so a delivery for an unsubscribed sub never
 *   reaches a newer sub that took its slot.
 */
#ifndef GW_H
#define GW_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dt_buf.h"
#include "dt_child.h"
#include "shm_direct.h"
#include "shm_js_subjects.h"
#include "shm_producer.h"
#include "gw_parser.h"
#include "gw_subs.h"
#include "shm.h"

#define GW_READ_CHUNK     (64 * 1024)

struct gw_conn {
    int fd;
    uint32_t slot;           /* index in the worker's tables */
    uint32_t gen;            /* = shm slot gen */
    uint64_t cid;
    struct shm_conn_slot *shm;
    struct gw_parser ps;
    struct dt_buf in;        /* bytes read, not yet parsed: [in_head, len) */
    size_t in_head;
    struct dt_buf out;       /* bytes to write: [out_head, len) */
    size_t out_head;
    uint32_t flags;          /* SHM_CF_* */
    int protocol;
    struct gw_subs subs;
    uint64_t ping_due_ns;    /* next server PING */
    uint64_t last_in_ns;     /* last bytes read */
    uint64_t ping_sent_ns;   /* our PING awaiting its PONG, for the RTT */
    uint32_t pings_out;
    uint64_t auth_deadline_ns; /* 0 = no CONNECT needed any more */
    uint64_t stall_since_ns; /* output could not be written since */
    uint64_t wrote_ns;       /* last time send() took bytes */
    bool heavy;              /* in the worker's heavy list */
    uint64_t in_msgs, in_bytes, out_msgs, out_bytes; /* not yet in shm */
    bool pushed_since_pong;  /* sent PUB/SUB/UNSUB since its last PONG */
    bool pong_waiting;       /* owed a PONG; input paused till then */
    bool pong_target_set;
    uint32_t pong_target;    /* in-ring position the router must apply */
    bool in_flush_list;
    bool blocked;            /* input stopped: fabric full */
    bool epollout;           /* EPOLLOUT armed */
    bool closing;
    struct gw_conn *next_dead; /* closed this turn, freed at its end */
};

struct gw_worker {
    struct dt_child ch;
    struct shm_header *hdr;
    struct shm_settings *set;
    unsigned index;
    struct shm_producer prod;      /* our arena and ring to the router */
    struct shm_ring_handle out;    /* from the router */
    struct shm_ring_handle direct; /* from storage (shm_direct.h) */
    bool has_direct;               /* JetStream on: direct is live */
    /* to storage (gw_js.c): the direct ring, storage's subjects */
    struct shm_direct js_in;
    struct shm_js_subjects *js_table;  /* NULL: no JetStream */
    struct shm_js_subjects_copy js_copy;
    struct rt_sublist *js_subs;        /* over js_copy's subjects */
    struct rt_sub *js_sub_arr;
    uint32_t js_mark;                  /* SHM_DIRECT_MARK of the next send */
    uint64_t js_dropped;               /* storage's direct ring was full */
    /* lame duck mode (gw_ldm.c) */
    bool ldm;
    uint64_t ldm_next_ns;              /* next eviction */
    uint64_t ldm_gap_ns;               /* between evictions */
    struct shm_doorbell *db;       /* ours */
    uint32_t router_gen;           /* router generation last announced to */
    uint32_t announce_gen;         /* announce_gen last answered */

    struct gw_conn **conns;        /* [max_conns] */
    uint32_t max_conns;
    uint32_t *free_slots;          /* stack of free slot indexes */
    uint32_t n_free;

    uint32_t *flush;               /* slots with output to write */
    uint32_t n_flush;
    uint32_t *blocked;             /* slots waiting for fabric space */
    uint32_t n_blocked;

    uint32_t *heavy;               /* slots with more than half of
                                      max_pending waiting to be written */
    uint32_t n_heavy;
    bool stalled;                  /* not taking deliveries this turn */
    uint32_t *pong_waiters;        /* slots owed a PONG */
    uint32_t n_pong_waiters;
    /* Plain subscriptions of this worker's own connections, matched at
     * publish time so that a message to a subscriber on the same worker
     * is delivered in the same loop turn, without the router hop; the
     * router is told (SHM_DF_LOCAL_DONE) and skips them. */
    struct rt_sublist *local;
    uint32_t interest;             /* our subscriptions (= hdr->interest[us]) */
    uint32_t queue_subs;           /* of which queue subscriptions */
    struct gw_target *targets;     /* scratch for one publish's matches */
    uint32_t targets_cap;

    int epfd;
    int http_conns[64];
    struct dt_buf http_in[64];
    uint64_t http_since[64];
    char info_prefix[1024];        /* INFO {... up to client_id */
    size_t info_prefix_len;
    struct gw_conn *dead;          /* closed, to free after this turn */
    volatile int stop;
    uint64_t next_tick_ns;
    uint64_t turn_ns, turn_wall_ns; /* clocks read once per loop turn */
    int64_t wall_offset_ns;         /* realtime - monotonic, per tick */
};

/* Copy a slice (which may be empty with a NULL pointer) to dst; returns
 * the byte after it. */
static inline char *
gw_slice_put(char *dst, struct gw_slice s)
{
    if (s.len)
        memcpy(dst, s.p, s.len);
    return dst + s.len;
}

/* A message as it is delivered: slices of the publisher's bytes or of an
 * arena chunk. */
struct gw_msg {
    struct gw_slice subject, reply, headers, payload;
};

struct gw_target {
    uint32_t conn, conn_gen, sub_id;
};

/* gw_conn.c */
int  gw_worker_init_conns(struct gw_worker *w);
struct gw_conn *gw_conn_open(struct gw_worker *w, int fd);
/* Close now; `why` goes to the debug log only. */
void gw_conn_close(struct gw_worker *w, struct gw_conn *c, const char *why);
/* Send -ERR '<text>' (nats-server's wording), then close. */
void gw_conn_fail(struct gw_worker *w, struct gw_conn *c, const char *text);
/* Free connections closed during this loop turn. */
void gw_conn_reap(struct gw_worker *w);
/* Reserve n bytes of output; NULL and the connection is closed as a slow
 * consumer when max_pending would be passed. */
char *gw_conn_out_reserve(struct gw_worker *w, struct gw_conn *c, size_t n);
void gw_conn_out_commit(struct gw_worker *w, struct gw_conn *c, size_t n);
void gw_conn_send(struct gw_worker *w, struct gw_conn *c, const char *s,
                  size_t n);
void gw_conn_send_err(struct gw_worker *w, struct gw_conn *c,
                      const char *text);
void gw_conn_flush_all(struct gw_worker *w);
void gw_conn_flush(struct gw_worker *w, struct gw_conn *c);
void gw_conn_sync_stats(struct gw_worker *w, struct gw_conn *c);
/* True while a connection that is reading, just slower than its
 * publishers, has over half of max_pending queued: the worker then stops
 * taking deliveries so that backpressure reaches the publishers through
 * the rings (nats-server stalls fast producers the same way) instead of
 * cutting the reader off.  A reader that takes nothing gets no such
 * protection and is closed as a slow consumer. */
bool gw_conn_should_stall(struct gw_worker *w, uint64_t now);
struct gw_conn *gw_conn_by_slot(struct gw_worker *w, uint32_t slot,
                                uint32_t gen);

/* gw_proto.c */
/* INFO line for c (NULL: no client fields) appended to b; 0 or -errno. */
int  gw_proto_format_info(struct gw_worker *w, const struct gw_conn *c,
                          struct dt_buf *b);
void gw_proto_send_info(struct gw_worker *w, struct gw_conn *c);
/* Parse and act on the connection's buffered input.  Returns 0, or -1
 * when the connection was closed. */
/* Stop reading c until retry (fabric full, or a local reader stalls
 * this worker); its unparsed bytes are parsed again then. */
void gw_proto_pause_input(struct gw_worker *w, struct gw_conn *c);
int  gw_proto_process(struct gw_worker *w, struct gw_conn *c);
void gw_proto_tick(struct gw_worker *w, struct gw_conn *c, uint64_t now);
void gw_sub_remove(struct gw_worker *w, struct gw_conn *c, struct gw_sub *s);

/* gw_fabric.c: the gateway's side of the rings */
/* Push op to the router: 0; or 1 when nobody but this worker's own plain
 * subscribers can want it and the router was skipped; or -EAGAIN: the
 * fabric is full.  *local is the number of this worker's own subscribers,
 * left in w->targets for gw_local_deliver(), which the caller calls next. */
int  gw_fabric_publish(struct gw_worker *w, struct gw_conn *c,
                       const struct gw_op *op, uint32_t *local);
int  gw_fabric_ctrl_sub(struct gw_worker *w, struct gw_conn *c,
                        const struct gw_sub *s);
int  gw_fabric_ctrl_unsub(struct gw_worker *w, struct gw_conn *c,
                          uint32_t sub_id);
int  gw_fabric_ctrl_closed(struct gw_worker *w, struct gw_conn *c);
int  gw_fabric_ctrl_reset(struct gw_worker *w, bool complete);
/* Push queued control messages; true when none is left. */
bool gw_fabric_flush_ctrl(struct gw_worker *w);
/* Publish staged entries to the router and wake it if it sleeps. */
void gw_fabric_wake_router(struct gw_worker *w);
/* Answer a PING now, or once the router has acted on everything this
 * connection sent before it, as nats-server's PONG promises: its SUBs are
 * in the index and its messages are routed (and, to itself, delivered
 * before the PONG). */
void gw_fabric_pong(struct gw_worker *w, struct gw_conn *c);
/* applied: the router's applied position read before the last drain of
 * deliveries; drained_all: that drain took every delivery published when
 * applied was read. */
void gw_fabric_release_pongs(struct gw_worker *w, uint32_t applied,
                             bool drained_all);
/* Re-announce every subscription after a router restart, or when another
 * process asks for it (announce_gen). */
void gw_fabric_check_router(struct gw_worker *w);

/* Fill m (shm_msg) with op's subject, reply, headers and payload. */
void gw_msg_write(struct shm_msg *m, const struct gw_op *op);

/* gw_js.c */
void gw_js_init(struct gw_worker *w);
void gw_js_free(struct gw_worker *w);
/* Once per loop turn: pick up a new list of storage's subjects. */
void gw_js_refresh(struct gw_worker *w);
/* Is storage's list known (so that what it does not hold is not for
 * storage)? */
bool gw_js_usable(const struct gw_worker *w);
/* Does storage subscribe to op's subject? */
bool gw_js_wants(struct gw_worker *w, const struct gw_op *op);
/* Storage must see what we just pushed to the router before our next
 * direct message (a subscription change, a publish it may get). */
void gw_js_note_router(struct gw_worker *w);
/* How a publish of len bytes (shm_msg included) that storage wants gets
 * there now. */
enum gw_js_way {
    GW_JS_DIRECT,       /* room in the direct ring: gw_js_send() */
    GW_JS_WAIT,         /* full (or order): try again later (-EAGAIN) */
    GW_JS_DROP,         /* storage is stuck: drop it (counted) */
    GW_JS_ROUTER,       /* too big for the direct arena: the router */
};
enum gw_js_way gw_js_way(struct gw_worker *w, uint32_t len);
/* op, straight to storage; gw_js_way() said GW_JS_DIRECT. */
void gw_js_send(struct gw_worker *w, struct gw_conn *c,
                const struct gw_op *op, uint16_t flags);
void gw_js_wake(struct gw_worker *w);

/* gw_ldm.c: lame duck mode (the master's Drain) */
void gw_ldm_begin(struct gw_worker *w);
void gw_ldm_tick(struct gw_worker *w, uint64_t now);

/* gw_local.c */
int  gw_local_init(struct gw_worker *w);
int  gw_local_add(struct gw_worker *w, struct gw_conn *c, struct gw_sub *s);
void gw_local_del(struct gw_worker *w, struct gw_sub *s);
/* This worker's plain subscribers for op, into w->targets; returns how
 * many.  Then gw_local_deliver() writes op to them: done in two steps so
 * that the count can ride the publish descriptor, pushed in between. */
uint32_t gw_local_match(struct gw_worker *w, struct gw_conn *pub,
                        const struct gw_op *op);
void gw_local_deliver(struct gw_worker *w, const struct gw_op *op,
                      uint32_t n);
/* Account for a subscription added (+1) or removed (-1). */
void gw_local_interest(struct gw_worker *w, const struct gw_sub *s, int delta);
/* True when only this worker's plain subscribers can want a publish
 * (storage's interest left out once its subjects are known: what it
 * wants goes to it directly). */
bool gw_local_only(struct gw_worker *w);
/* A request nobody anywhere took: 503 to the publisher itself. */
void gw_deliver_no_responders(struct gw_worker *w, struct gw_conn *c,
                              struct gw_slice reply);

/* gw_deliver.c */
/* Write one message to subscription s of c, counting it toward an
 * auto-unsubscribe. */
void gw_deliver_to(struct gw_worker *w, struct gw_conn *c, struct gw_sub *s,
                   const struct gw_msg *m);
/* Drain up to `max` deliveries from the router, then from storage's
 * direct ring; returns how many. */
unsigned gw_deliver_drain(struct gw_worker *w, unsigned max);
/* Anything waiting in the router's or the direct ring? */
bool gw_deliver_pending(struct gw_worker *w);
/* Drop every queued delivery (start-up of a successor). */
void gw_deliver_discard_all(struct gw_worker *w);

/* gw_loop.c */
int  gw_loop_init(struct gw_worker *w);
int  gw_loop_run(struct gw_worker *w);
void gw_loop_want_write(struct gw_worker *w, struct gw_conn *c, bool on);
void gw_loop_want_read(struct gw_worker *w, struct gw_conn *c, bool on);

#endif /* GW_H */
