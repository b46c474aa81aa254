/*
 * rt_router.h -- the router process: applies subscription changes from
 * every gateway and fans each published message out to the gateways that
 * hold interested connections.
 *
 * NOTES
 *   All of the router's state (the sublist, who subscribed what) is
 *   private memory rebuilt from the gateways' announcements: after a
 *   router restart every gateway sees the new router generation in the
 *   fabric header and re-announces its subscriptions.
 */
#ifndef RT_ROUTER_H
#define RT_ROUTER_H

#include "dt_child.h"
#include "rt_interest.h"

struct rt_gateway {
    struct shm_ring_handle in;   /* from this gateway */
    struct shm_ring_handle out;  /* to this gateway */
    struct shm_doorbell *db;     /* this gateway's doorbell */
    int efd;
    bool pushed;                 /* out got entries since the last wake */
    bool synced;                 /* re-announced since this router began */
    uint64_t dropped;            /* deliveries dropped: gateway stuck */
    bool stuck;                  /* gave up waiting at stuck_pos: drop
                                    at once until the consumer moves */
    uint32_t stuck_pos;
};

struct rt_router {
    struct dt_child ch;
    struct rt_interest in;       /* every port's subscriptions */
    struct shm_router_stats *stats;
    struct shm_doorbell *db;     /* ours */
    unsigned n_gw;
    uint32_t max_conns;
    uint64_t rng;                /* queue member choice */
    volatile int stop;
    /* Until every gateway has re-announced its subscriptions, publishes
     * are held back (chunk holds kept), or they would miss subscribers
     * whose SUBs are still queued behind them. */
    bool resyncing;
    uint64_t resync_deadline_ns;
    struct shm_desc *deferred;   /* [RT_DEFER_MAX], in arrival order */
    uint32_t n_deferred;
    struct rt_gateway gw[SHM_MAX_GATEWAYS];
};

#define RT_DEFER_MAX      (1u << 20)
#define RT_RESYNC_NS      (3ull * 1000000000ull)

int  rt_router_init(struct rt_router *r);
int  rt_router_run(struct rt_router *r);  /* returns exit code */
void rt_router_free(struct rt_router *r);

#endif /* RT_ROUTER_H */
