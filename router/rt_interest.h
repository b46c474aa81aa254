/*
 * rt_interest.h -- who subscribed what, across every fabric port: the
 * subscription tables of each port's connections and the sublist built
 * from them, kept up to date by applying the ports' Control messages
 * (Sub, Unsub, ConnClosed, ResetGateway).
 *
 * The router owns one (it matches publishes against it); the storage
 * process keeps a replica of the other ports' interest from the Control
 * messages the router forwards to it, to know whether a consumer's
 * deliver subject or a pull request's inbox still has a subscriber.
 *
 * NOTES
 *   Private memory of one thread.  A sub is keyed by (port, connection
 *   slot, generation, sub id); a connection slot seen with a new
 *   generation forgets the old one's subscriptions (a missed close).
 *   Errors: a subscription the sublist refuses (bad subject) or that
 *   does not fit in memory is dropped and logged; nothing fails.
 */
#ifndef RT_INTEREST_H
#define RT_INTEREST_H

#include <stdint.h>

#include "dialtone.pb-c.h"
#include "rt_sublist.h"
#include "shm_types.h"

#define RT_SUB_INDEX_MASK 0xfffffu

/* The subscriptions of one client connection, by the gateway's sub id. */
struct rt_conn {
    uint32_t gen;
    uint32_t cap;            /* slots in subs[] */
    uint32_t count;
    struct rt_sub **subs;    /* index = sub_id & RT_SUB_INDEX_MASK */
};

struct rt_interest {
    struct rt_sublist *sl;
    unsigned nports;
    uint32_t max_conns;                    /* slots per port */
    struct rt_conn *conns[SHM_MAX_GATEWAYS];   /* [port][max_conns] */
};

int  rt_interest_init(struct rt_interest *in, unsigned nports,
                      uint32_t max_conns, uint32_t cache_size);
void rt_interest_free(struct rt_interest *in);

/* Apply m from `port`: Sub, Unsub, ConnClosed, and ResetGateway with
 * complete=false (forget everything of the port).  Returns m's body
 * case, for the caller's own handling of the rest. */
int  rt_interest_apply(struct rt_interest *in, unsigned port,
                       const Dialtone__Control *m);
void rt_interest_reset_port(struct rt_interest *in, unsigned port);

#endif /* RT_INTEREST_H */
