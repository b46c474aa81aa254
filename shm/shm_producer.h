/*
 * shm_producer.h -- one port's producer side of the fabric: its payload
 * arena and its inbound ring to the router, shared by every process that
 * owns a port (the gateway workers, the storage process).
 *
 * NOTES
 *   Order: control messages (subscription changes) and publishes leave
 *   in the order they were made.  A control message that finds the ring
 *   or the arena full waits in a queue (bounded: SHM_PRODUCER_CTRL_MAX,
 *   past it the message is dropped and logged), and while anything waits
 *   there the caller must not push publishes (shm_producer_ctrl_waiting).
 *   Staged entries become visible to the router every
 *   SHM_PRODUCER_PUBLISH_EVERY pushes and at shm_producer_wake(), which
 *   also rings the router's doorbell once.
 *   Concurrency: the port's one thread.
 */
#ifndef SHM_PRODUCER_H
#define SHM_PRODUCER_H

#include <stdbool.h>
#include <stdint.h>

#include "dialtone.pb-c.h"
#include "dt_buf.h"
#include "shm.h"

#define SHM_PRODUCER_CTRL_MAX (64u << 20)
#define SHM_PRODUCER_PUBLISH_EVERY 128

struct shm_producer {
    const struct shm_handle *h;
    unsigned index;                 /* the port */
    struct shm_ring_handle in;      /* to the router */
    struct shm_arena_handle arena;
    struct shm_doorbell *router_db;
    int router_efd;
    struct dt_buf ctrl;             /* [u32 len][packed Control]... */
    size_t ctrl_head;
    unsigned staged;                /* pushed, not yet published */
    uint32_t push_mark;             /* ring position after the last push */
};

/* Attach to port `index`, releasing what a predecessor allocated and
 * never published. */
void shm_producer_init(struct shm_producer *p, const struct shm_handle *h,
                       unsigned index, int router_efd);
void shm_producer_free(struct shm_producer *p);

/* A chunk with len bytes of body, or NULL when the ring or the arena is
 * full (try again after the router drained). */
struct shm_chunk *shm_producer_alloc(struct shm_producer *p, uint32_t len);
/* Push d (kind, flags, conn, conn_gen, sub, len) for chunk c, which
 * shm_producer_alloc() returned; src_gw, chunk and ring_pos are set
 * here. */
void shm_producer_push(struct shm_producer *p, struct shm_chunk *c,
                       struct shm_desc *d);

/* Pack and push m (version set here), or queue it behind the others.
 * -ENOMEM, or -ENOBUFS when the queue is full (m is dropped). */
int  shm_producer_send_ctrl(struct shm_producer *p, Dialtone__Control *m);
bool shm_producer_ctrl_waiting(const struct shm_producer *p);
/* Push queued control messages while there is room; true when none is
 * left waiting. */
bool shm_producer_flush_ctrl(struct shm_producer *p);

/* The control messages, built and sent (see shm_producer_send_ctrl). */
int  shm_producer_sub(struct shm_producer *p, uint32_t conn, uint32_t gen,
                      uint32_t sub_id, const char *subject,
                      const char *queue);
int  shm_producer_unsub(struct shm_producer *p, uint32_t conn, uint32_t gen,
                        uint32_t sub_id);
int  shm_producer_closed(struct shm_producer *p, uint32_t conn,
                         uint32_t gen);
/* ResetGateway: complete=false forgets every subscription of this port
 * (a re-announcement follows), complete=true ends the re-announcement. */
int  shm_producer_reset(struct shm_producer *p, bool complete,
                        uint32_t port_gen);

/* Make staged entries visible and wake the router if it sleeps. */
void shm_producer_wake(struct shm_producer *p);
/* A new router: the old one took entries it will never release. */
void shm_producer_router_restarted(struct shm_producer *p);

#endif /* SHM_PRODUCER_H */
