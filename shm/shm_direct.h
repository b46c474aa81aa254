/*
 * shm_direct.h -- the direct path from the storage port to one gateway:
 * an SPSC ring of deliveries and a byte arena of their messages, so that
 * JetStream's replies (publish acks, API responses) reach the requester's
 * gateway without a trip through the router.
 *
 * NOTES
 *   Who uses it: the storage process produces, only for a message with
 *   exactly one plain subscriber (its replica of the others' interest
 *   says which connection and sub id); the gateway consumes it like its
 *   ring from the router (SHM_D_MSG descriptors; the chunk's refs are
 *   ignored here) and marks entries applied once copied out.
 *   Space: the arena is reclaimed in ring order, never by refcount: every
 *   byte before the chunk of the oldest entry not yet applied is free
 *   (each descriptor's `seq` holds its chunk's arena position).  The
 *   producer advances `head` before publishing an entry, so a producer
 *   that dies between the two leaves a gap that is reclaimed, never a
 *   chunk that is overwritten while a gateway may still read it.  No
 *   entry is pushed while ring size - 1 entries are unapplied, so the
 *   slot of the oldest unapplied entry is always intact.
 *   Order: only messages for which order with anything else does not
 *   matter take this path (one reply per request); see storage/st_main.c.
 *   Concurrency: one producer process, one consumer process per pair.
 */
#ifndef SHM_DIRECT_H
#define SHM_DIRECT_H

#include <stdbool.h>
#include <stdint.h>

#include "shm.h"

struct shm_direct {
    const struct shm_handle *h;
    struct shm_ring_handle ring;
    struct shm_arena *a;
    uint8_t *data;
    struct shm_doorbell *db;        /* the gateway's */
    int efd;
    bool pushed;                    /* since the last wake */
};

/* Producer: attach to the path to gateway gw (doorbell efd). */
void shm_direct_init(struct shm_direct *d, const struct shm_handle *h,
                     unsigned gw, int efd);

/* Producer: room for a message of body_len bytes?  Then *desc is filled
 * (kind, conn, conn_gen, sub set by the caller beforehand) and the body
 * returned for the caller to write before shm_direct_push().  NULL when
 * the ring or the arena is full, or the message is too big: use the
 * router. */
void *shm_direct_reserve(struct shm_direct *d, struct shm_desc *desc,
                         uint32_t body_len);
void shm_direct_push(struct shm_direct *d, struct shm_desc *desc);
/* Producer: ring the gateway's doorbell if anything was pushed. */
void shm_direct_wake(struct shm_direct *d);

/* Consumer: the ring, and forgetting what a dead predecessor left. */
void shm_direct_consumer_init(struct shm_ring_handle *rh,
                              const struct shm_handle *h, unsigned gw);
void shm_direct_discard(struct shm_ring_handle *rh);

#endif /* SHM_DIRECT_H */
