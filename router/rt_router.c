/*
 * rt_router.c -- the router's loop: drain every gateway's inbound ring,
 * apply subscription changes, match each publish and push one delivery
 * descriptor per target to the target's gateway.
 *
 * NOTES
 *   Single-threaded; the only shared state it writes is ring heads and
 *   tails, chunk reference counts and its statistics block.
 *   A chunk's router_hold is released only after every delivery for it
 *   has been pushed and its refs counted, so the producing gateway never
 *   reclaims a chunk someone may still read.
 *   When a gateway's outbound ring is full the router waits for it (that
 *   gateway drains its ring unconditionally, so the wait is short), but
 *   not for the storage process, whose messages are dropped instead (a
 *   slow disk must not slow core traffic; JetStream retries); a
 *   gateway that drains nothing for RT_STUCK_NS is presumed dead and its
 *   deliveries are dropped and counted until its successor drains.
 */
#include "rt_router.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "dialtone.pb-c.h"
#include "dt_log.h"

#define RT_BATCH      256           /* descriptors per ring per turn */
#define RT_STUCK_NS   2000000000ull /* 2 s without progress */
#define RT_SPIN_TURNS 64            /* idle turns before sleeping */

/* ------------------------------------------------------------------ */
/* Subscription changes. */

static void dispatch_deferred(struct rt_router *r);

static void
gateway_synced(struct rt_router *r, unsigned gw)
{
    r->gw[gw].synced = true;
    for (unsigned g = 0; g < r->n_gw; g++)
        if (!r->gw[g].synced)
            return;
    if (r->resyncing)
        dispatch_deferred(r);
}

static bool push_out(struct rt_router *r, unsigned g, struct shm_desc *d);

/* The storage process keeps a replica of everyone else's interest (to
 * know whether a push consumer's deliver subject has a listener): pass
 * it every control message of the other ports, chunk and all. */
static void
forward_to_storage(struct rt_router *r, unsigned g, const struct shm_desc *d,
                   struct shm_chunk *c)
{
    unsigned sp = r->ch.h.hdr->storage_port;
    if (sp == SHM_NO_PORT || g == sp)
        return;
    struct shm_desc f = {
        .kind = SHM_D_CTRL, .src_gw = (uint16_t)g, .chunk = d->chunk,
        .len = d->len,
    };
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    if (!push_out(r, sp, &f))
        shm_chunk_unref(c);
}

static void
apply_control(struct rt_router *r, unsigned gw, const void *body, uint32_t len)
{
    Dialtone__Control *m = dialtone__control__unpack(NULL, len, body);
    if (m == NULL) {
        dt_warn("undecodable control message from gateway %u", gw);
        return;
    }
    int body_case = rt_interest_apply(&r->in, gw, m);
    if (body_case == DIALTONE__CONTROL__BODY_RESET && m->reset->complete)
        gateway_synced(r, gw);
    else if (body_case == DIALTONE__CONTROL__BODY__NOT_SET ||
             body_case > DIALTONE__CONTROL__BODY_RESET)
        dt_warn("unknown control message %d from gateway %u", body_case, gw);
    dialtone__control__free_unpacked(m, NULL);
}

/* ------------------------------------------------------------------ */
/* Fan-out. */

/* Publish what was staged for each gateway and wake those asleep. */
static void
wake_gateways(struct rt_router *r)
{
    for (unsigned g = 0; g < r->n_gw; g++) {
        if (r->gw[g].pushed) {
            shm_ring_publish(&r->gw[g].out);
            shm_doorbell_ring(r->gw[g].db, r->gw[g].efd);
            r->gw[g].pushed = false;
        }
    }
}

/* Push to gateway g's outbound ring, waiting while it is full; returns
 * false when the gateway looks dead and the delivery was dropped. */
static bool
push_out(struct rt_router *r, unsigned g, struct shm_desc *d)
{
    struct rt_gateway *gw = &r->gw[g];
    if (shm_ring_stage(&gw->out, d)) {
        gw->pushed = true;
        return true;
    }
    /* full: let the gateway see what we staged, then wait for room */
    shm_ring_publish(&gw->out);
    if (d->kind == SHM_D_MSG && g == r->ch.h.hdr->storage_port) {
        /* JetStream behind by a whole ring (a slow disk): never make core
         * traffic wait for it.  What is dropped was not acknowledged, so
         * publishers retry and consumers redeliver. */
        shm_doorbell_ring(gw->db, gw->efd);
        if ((gw->dropped++ & 0xfffff) == 0)
            dt_warn("storage is a full ring behind; %llu messages to it "
                    "dropped", (unsigned long long)gw->dropped);
        return false;
    }
    uint64_t start = shm_now_ns();
    uint32_t seen = shm_ring_consumer_pos(&gw->out);
    if (gw->stuck && seen == gw->stuck_pos) {
        gw->dropped++;          /* still dead: do not wait again */
        return false;
    }
    gw->stuck = false;
    struct timespec nap = { 0, 20000 };
    while (!r->stop) {
        shm_doorbell_ring(gw->db, gw->efd);
        nanosleep(&nap, NULL);
        if (shm_ring_push(&gw->out, d)) {
            gw->pushed = true;
            return true;
        }
        uint32_t now_pos = shm_ring_consumer_pos(&gw->out);
        if (now_pos != seen) {
            seen = now_pos;
            start = shm_now_ns();
        } else if (shm_now_ns() - start > RT_STUCK_NS) {
            break;
        }
    }
    if (gw->dropped++ == 0)
        dt_warn("port %u is not draining its ring; dropping deliveries",
                g);
    gw->stuck = true;
    gw->stuck_pos = shm_ring_consumer_pos(&gw->out);
    return false;
}

static bool
is_self(const struct rt_sub *s, unsigned src, const struct shm_desc *d)
{
    return s->gw == src && s->conn == d->conn && s->conn_gen == d->conn_gen;
}

static uint64_t
next_rand(struct rt_router *r)
{
    /* xorshift64*: queue member choice needs spread, not secrecy */
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return r->rng * 2685821657736338717ull;
}

static struct rt_sub *
pick_member(struct rt_router *r, const struct rt_qgroup *q, unsigned src,
            const struct shm_desc *d, bool no_echo)
{
    uint32_t start = (uint32_t)(next_rand(r) % q->n);
    for (uint32_t i = 0; i < q->n; i++) {
        struct rt_sub *s = q->subs[(start + i) % q->n];
        if (!(no_echo && is_self(s, src, d)))
            return s;
    }
    return NULL;
}

static unsigned
deliver(struct rt_router *r, struct shm_chunk *c, struct shm_desc *d,
        const struct rt_sub *s)
{
    struct shm_desc out = {
        .kind = SHM_D_MSG, .src_gw = d->src_gw, .conn = s->conn,
        .conn_gen = s->conn_gen, .chunk = d->chunk, .sub = s->sub_id,
        .len = d->len,
    };
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    if (push_out(r, s->gw, &out))
        return 1;
    shm_chunk_unref(c);
    return 0;
}

static void
dispatch_pub(struct rt_router *r, unsigned src, struct shm_desc *d,
             struct shm_chunk *c)
{
    const struct shm_msg *m = shm_chunk_body(c);
    if (d->len < sizeof(*m) || shm_msg_size(m) > d->len) {
        dt_warn("malformed publish chunk from gateway %u", src);
        return;
    }
    const char *subject = (const char *)(m + 1);
    uint32_t subject_len = m->subject_len;
    if (m->route_len) {
        subject += shm_msg_size(m) - sizeof(*m) - m->route_len;
        subject_len = m->route_len;
    }
    const struct rt_match *res = rt_sublist_match(r->in.sl, subject,
                                                  subject_len);
    bool no_echo = d->flags & SHM_DF_NO_ECHO;
    /* plain subscribers on the publisher's own gateway were served there;
     * the storage process got it straight from the gateway (it counts as
     * a taker: no no-responders for a request it will answer) */
    bool local_done = d->flags & SHM_DF_LOCAL_DONE;
    bool storage_done = d->flags & SHM_DF_STORAGE_DONE;
    unsigned n = storage_done ? 1 : 0;
    if (res != NULL) {
        for (uint32_t i = 0; i < res->n_psubs; i++) {
            const struct rt_sub *s = res->psubs[i];
            if ((local_done && s->gw == src) || (no_echo && is_self(s, src, d))
                || (storage_done && s->gw == r->ch.h.hdr->storage_port))
                continue;
            n += deliver(r, c, d, s);
        }
        for (uint32_t i = 0; i < res->n_qgroups; i++) {
            struct rt_sub *s = pick_member(r, &res->qgroups[i], src, d,
                                           no_echo);
            if (s)
                n += deliver(r, c, d, s);
        }
    }
    if (local_done)
        n += d->sub;
    atomic_fetch_add_explicit(&r->stats->msgs_routed, 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&r->stats->deliveries, n, memory_order_relaxed);
    if (n == 0) {
        atomic_fetch_add_explicit(&r->stats->no_interest, 1,
                                  memory_order_relaxed);
        if (m->reply_len && (d->flags & SHM_DF_NORESP_OK)) {
            struct shm_desc nr = *d;
            nr.kind = SHM_D_NORESP;
            atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
            if (!push_out(r, src, &nr))
                shm_chunk_unref(c);
        }
    }
}

static void
dispatch_deferred(struct rt_router *r)
{
    r->resyncing = false;
    for (uint32_t i = 0; i < r->n_deferred; i++) {
        struct shm_desc *d = &r->deferred[i];
        struct shm_chunk *c = shm_chunk_of(&r->ch.h, d);
        if (c == NULL)
            continue;
        dispatch_pub(r, d->src_gw, d, c);
        shm_chunk_release_router(c);
    }
    if (r->n_deferred)
        dt_info("routed %u messages held while gateways re-announced",
                r->n_deferred);
    r->n_deferred = 0;
    free(r->deferred);
    r->deferred = NULL;
}

static bool
defer_pub(struct rt_router *r, const struct shm_desc *d)
{
    if (r->deferred == NULL)
        r->deferred = malloc(RT_DEFER_MAX * sizeof(*r->deferred));
    if (r->deferred == NULL || r->n_deferred == RT_DEFER_MAX) {
        dt_warn("too many messages held during resync; routing them now");
        dispatch_deferred(r);
        return false;
    }
    r->deferred[r->n_deferred++] = *d;
    return true;
}

static void
handle_in(struct rt_router *r, unsigned g, struct shm_desc *d)
{
    struct shm_chunk *c = shm_chunk_of(&r->ch.h, d);
    if (c == NULL) {
        dt_warn("descriptor with a bad chunk from gateway %u", g);
        return;
    }
    d->src_gw = (uint16_t)g; /* trust the ring, not the descriptor */
    if (d->kind == SHM_D_PUB) {
        if (r->resyncing && defer_pub(r, d))
            return; /* keeps the router hold until dispatched */
        dispatch_pub(r, g, d, c);
    } else if (d->kind == SHM_D_CTRL) {
        apply_control(r, g, shm_chunk_body(c), d->len);
        forward_to_storage(r, g, d, c);
    }
    shm_chunk_release_router(c);
}

static void
publish_stats(struct rt_router *r)
{
    struct rt_sublist_stats st;
    rt_sublist_stats(r->in.sl, &st);
    struct shm_router_stats *s = r->stats;
    atomic_store_explicit(&s->num_subscriptions, st.count,
                          memory_order_relaxed);
    atomic_store_explicit(&s->num_cache, st.cache_entries,
                          memory_order_relaxed);
    atomic_store_explicit(&s->num_inserts, st.inserts, memory_order_relaxed);
    atomic_store_explicit(&s->num_removes, st.removes, memory_order_relaxed);
    atomic_store_explicit(&s->num_matches, st.matches, memory_order_relaxed);
    atomic_store_explicit(&s->cache_hits, st.cache_hits,
                          memory_order_relaxed);
}

/* One pass over every inbound ring; returns descriptors handled. */
static unsigned
drain_inbound(struct rt_router *r)
{
    unsigned work = 0;
    bool took[SHM_MAX_GATEWAYS];
    for (unsigned g = 0; g < r->n_gw; g++) {
        struct shm_desc batch[RT_BATCH];
        unsigned n = shm_ring_pop_batch(&r->gw[g].in, batch, RT_BATCH);
        for (unsigned k = 0; k < n; k++)
            handle_in(r, g, &batch[k]);
        took[g] = n > 0;
        work += n;
    }
    wake_gateways(r);
    /* only now, with the deliveries published, may a gateway answer a
     * PING that waits for these entries (nats-server's flush promise) */
    for (unsigned g = 0; g < r->n_gw; g++)
        if (took[g])
            shm_ring_mark_applied(&r->gw[g].in);
    return work;
}

static bool
inbound_pending(struct rt_router *r)
{
    for (unsigned g = 0; g < r->n_gw; g++)
        if (shm_ring_count(&r->gw[g].in))
            return true;
    return false;
}

static void
sleep_until_work(struct rt_router *r)
{
    publish_stats(r);
    shm_doorbell_prepare_sleep(r->db);
    if (!inbound_pending(r) && !r->stop) {
        /* while resyncing, wake up in time for the deadline */
        struct pollfd pfd[2] = {
            { .fd = r->ch.efd[0], .events = POLLIN },
            { .fd = r->ch.ctl_fd, .events = POLLIN },
        };
        poll(pfd, 2, r->resyncing ? 50 : 1000);
        if (pfd[0].revents)
            shm_doorbell_clear(r->ch.efd[0]);
        if (pfd[1].revents) {
            int rc = dt_child_poll_ctl(&r->ch);
            if (rc < 0 || rc == DIALTONE__SUPERVISE__BODY_TERMINATE)
                r->stop = 1;
        }
    }
    shm_doorbell_awake(r->db);
}

int
rt_router_run(struct rt_router *r)
{
    unsigned idle = 0, turns = 0;
    dt_child_ready(&r->ch);
    /* a port asleep would notice this new router only at its next timer:
     * wake them all so that they re-announce their subscriptions now */
    for (unsigned g = 0; g < r->n_gw; g++)
        shm_doorbell_ring(r->gw[g].db, r->gw[g].efd);
    while (!r->stop) {
        /* the clock once per 256 turns and after each sleep, not on
         * every turn (perf: 1.3% of the router) */
        if ((turns++ & 255) == 0) {
            uint64_t now = shm_now_ns();
            atomic_store_explicit(&r->db->heartbeat_ns, now,
                                  memory_order_relaxed);
            if (r->resyncing && now > r->resync_deadline_ns) {
                dt_warn("not every gateway re-announced in time; routing");
                dispatch_deferred(r);
            }
        }
        if (drain_inbound(r)) {
            idle = 0;
            continue;
        }
        if (++idle < RT_SPIN_TURNS)
            continue;
        idle = 0;
        sleep_until_work(r);
        turns = 0;
    }
    publish_stats(r);
    return 0;
}

int
rt_router_init(struct rt_router *r)
{
    struct shm_header *hdr = r->ch.h.hdr;
    r->n_gw = hdr->ports;   /* gateways and the storage process alike */
    r->max_conns = hdr->max_conns_per_gw;
    r->stats = shm_router_stats(&r->ch.h);
    r->db = shm_doorbell_of(&r->ch.h, 0);
    r->db->pid = (uint32_t)getpid();
    r->rng = shm_now_ns() | 1;
    r->resyncing = true;
    r->resync_deadline_ns = shm_now_ns() + RT_RESYNC_NS;
    if (rt_interest_init(&r->in, r->n_gw, r->max_conns, 65536) < 0 ||
        r->ch.n_efd < 1 + r->n_gw)
        return -ENOMEM;
    for (unsigned g = 0; g < r->n_gw; g++) {
        struct rt_gateway *gw = &r->gw[g];
        shm_ring_handle_init(&gw->in, &r->ch.h, shm_in_ring(&r->ch.h, g));
        shm_ring_handle_init(&gw->out, &r->ch.h, shm_out_ring(&r->ch.h, g));
        gw->db = shm_doorbell_of(&r->ch.h, 1 + g);
        gw->efd = r->ch.efd[1 + g];
    }
    return 0;
}

void
rt_router_free(struct rt_router *r)
{
    rt_interest_free(&r->in);
    free(r->deferred);
}
