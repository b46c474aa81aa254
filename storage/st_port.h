/*
 * st_port.h -- the storage process's place on the fabric: one port, like
 * a gateway's, with an inbound ring and arena (what storage publishes and
 * its subscription changes) and an outbound ring (what the router
 * delivers to it).  To the router the storage process is one more
 * gateway holding a single connection (slot 1) whose subscriptions are
 * JetStream's.
 *
 * NOTES
 *   Ownership: the port keeps its own copy of every subscription, so it
 *   can announce them again by itself when the router restarts.
 *   Order: control messages and publishes leave in the order they were
 *   made (shm_producer.h: a control message that finds the ring or arena
 *   full waits in a bounded queue and publishes wait behind it).
 *   Full: st_port_publish() returns -ENOBUFS and the caller keeps the
 *   message (the JetStream engine has its own bounded backlog).
 *   Concurrency: the storage thread only.
 */
#ifndef ST_PORT_H
#define ST_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dt_buf.h"
#include "dt_child.h"
#include "shm.h"
#include "shm_direct.h"
#include "shm_producer.h"

#define ST_PORT_CONN 1u                 /* our one connection slot */

/* A message the router delivered on subscription sub_id. */
typedef void (*st_port_msg_fn)(void *arg, uint32_t sub_id,
                               const char *subj, size_t subj_len,
                               const char *reply, size_t reply_len,
                               const void *hdr, size_t hdr_len,
                               const void *data, size_t data_len);

/* A control message of port `from` (a gateway's Sub, Unsub, ConnClosed or
 * ResetGateway) that the router forwarded: the other ports' interest. */
typedef void (*st_port_ctrl_fn)(void *arg, unsigned from, const void *body,
                                size_t len);

struct rt_sub;
struct rt_sublist;

struct st_port_sub {
    uint32_t id;
    char *subject;
    struct rt_sub *own;             /* its entry in st_port.own */
};

struct st_port {
    struct dt_child *ch;
    struct shm_header *hdr;
    unsigned index;                 /* our port */
    uint32_t gen;                   /* our connection generation */
    uint32_t router_gen;
    struct shm_producer prod;       /* our arena and ring to the router */
    struct shm_ring_handle out;     /* from the router */
    struct shm_direct direct[SHM_MAX_GATEWAYS]; /* to each gateway */
    /* from each gateway (st_port_direct.c) */
    struct shm_ring_handle from_gw[SHM_MAX_GATEWAYS];
    struct rt_sublist *own;         /* our subscriptions, for those */
    bool own_dirty;                 /* the list for the gateways is old */
    bool deferred;                  /* a gateway's entry waits for the
                                       router to catch up */
    /* order of what we send a gateway by both paths (st_port_send) */
    uint32_t router_mark[SHM_MAX_GATEWAYS]; /* our ring to the router,
                                       after the last message for it */
    uint32_t direct_seen[SHM_MAX_GATEWAYS]; /* its applied position ... */
    uint64_t direct_since[SHM_MAX_GATEWAYS]; /* ... unchanged since (ns) */
    bool out_deferred;              /* a send waits for a path to drain */
    struct shm_doorbell *db;        /* ours */
    int efd;
    struct st_port_sub *subs;       /* sorted by nothing; few */
    uint32_t nsubs, cap;
    uint64_t dropped;               /* bad deliveries */
    st_port_msg_fn on_msg;
    st_port_ctrl_fn on_ctrl;
    void *arg;
};

/* Also asks every gateway to announce its subscriptions again, so that
 * on_ctrl rebuilds the other ports' interest from scratch. */
int st_port_init(struct st_port *p, struct dt_child *ch, st_port_msg_fn fn,
                 st_port_ctrl_fn ctrl, void *arg);
void st_port_free(struct st_port *p);

int st_port_subscribe(struct st_port *p, uint32_t id, const char *subject,
                      size_t len);
int st_port_unsubscribe(struct st_port *p, uint32_t id);
/* A publish on subj; with route_len > 0 it goes to the subscribers of
 * `route` and they see it as sent on subj. */
int st_port_publish(struct st_port *p, const char *subj, size_t subj_len,
                    const char *route, size_t route_len, const char *reply,
                    size_t reply_len, const void *hdr, size_t hdr_len,
                    const void *data, size_t data_len);

/* Where a message goes, from our replica of the others' interest: the
 * one plain subscriber (sub_id of connection conn/gen on gateway gw) or,
 * when there is not exactly one, the set of gateways the router may
 * deliver it to (bit g of ports). */
struct st_port_target {
    bool one;
    unsigned gw;
    uint32_t conn, conn_gen, sub_id;
    uint64_t ports;
};

/* Send a message (route: as st_port_publish) to `t`: straight into the
 * subscriber's gateway's direct ring when there is one subscriber, else
 * through the router.  Unless `unordered` (a reply: one per request), a
 * gateway gets one subscriber's messages in the order sent whichever way
 * each went: a direct one waits until the router has applied our last
 * message for that gateway, a routed one until that gateway took
 * everything sent to it directly.  -ENOBUFS (and st_port_deferred())
 * when that wait, or a full ring, holds it back: try again later, in the
 * same order. */
int st_port_send(struct st_port *p, const struct st_port_target *t,
                 bool unordered,
                 const char *subj, size_t subj_len, const char *route,
                 size_t route_len, const char *reply, size_t reply_len,
                 const void *hdr, size_t hdr_len, const void *data,
                 size_t data_len);
/* A message in a chunk, as pointers into it. */
struct st_port_msg {
    const char *subj, *reply, *hdr, *data;
    uint32_t subj_len, reply_len, hdr_len, data_len;
};
/* false when d's chunk c does not hold a whole message */
bool st_port_msg_of(const struct shm_desc *d, struct shm_chunk *c,
                    struct st_port_msg *out);

/* Deliveries: up to max, each handed to on_msg (or on_ctrl): the
 * router's, then the gateways' direct publishes.  Returns how many. */
unsigned st_port_drain(struct st_port *p, unsigned max);
unsigned st_port_drain_router(struct st_port *p, unsigned max);
/* Anything delivered and not yet drained (entries waiting for the router
 * to catch up excluded)? */
bool st_port_pending(struct st_port *p);
/* A gateway's direct entry waits for the router, or a send for a path
 * to drain: look again soon. */
static inline bool
st_port_deferred(const struct st_port *p)
{
    return p->deferred || p->out_deferred;
}

/* st_port_direct.c: publishes straight from the gateways, our own
 * subscriptions indexed for them, and their list in the fabric. */
int  st_port_own_init(struct st_port *p);
void st_port_own_free(struct st_port *p);
int  st_port_own_set(struct st_port *p, struct st_port_sub *s);
void st_port_own_del(struct st_port *p, struct st_port_sub *s);
/* Rewrite the list of our subjects for the gateways if it changed: done
 * before anything leaves the port, so a client that heard back from us
 * (a stream created) publishes through a gateway that knows the new
 * list. */
void st_port_own_publish(struct st_port *p);
unsigned st_port_drain_direct(struct st_port *p, unsigned max);
bool st_port_direct_pending(struct st_port *p);
/* A new router: announce every subscription again. */
void st_port_check_router(struct st_port *p);
/* Retry queued control messages, make staged entries visible and wake
 * the router, and every gateway that got a direct message. */
void st_port_flush(struct st_port *p);

#endif /* ST_PORT_H */
