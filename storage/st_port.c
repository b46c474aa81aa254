/*
 * st_port.c -- the storage process's fabric port: publishes and
 * subscription changes into our arena and inbound ring, deliveries out of
 * our outbound ring (see st_port.h).
 *
 * NOTES
 *   Our subscriptions count in the header's interest counters like a
 *   gateway's, so that no gateway takes its router-less shortcut while
 *   JetStream is on (even before we subscribed, or while we restart).
 *   A delivery for another connection generation (queued for a previous
 *   instance of this process) is dropped: its publisher gets no ack and
 *   retries, which is JetStream's contract.
 */
#include "st_port.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dt_log.h"

/* n subscriptions, plus the one the master counts for us from the start
 * (see mst_supervise.c), so that the count never drops to zero: a gateway
 * would then skip the router, before our subscriptions reach it. */
static void
set_interest(struct st_port *p, uint32_t n)
{
    uint32_t old = atomic_exchange(&p->hdr->interest[p->index], n + 1);
    atomic_fetch_add(&p->hdr->interest_total, (uint64_t)n + 1 - old);
}

/* Our replica of the others' interest starts empty: have every gateway
 * announce its subscriptions again (through the router, to us). */
static void
ask_for_announcements(struct st_port *p)
{
    atomic_fetch_add_explicit(&p->hdr->announce_gen, 1, memory_order_release);
    for (unsigned g = 0; g < p->hdr->gateways; g++)
        shm_doorbell_ring(shm_doorbell_of(&p->ch->h, 1 + g),
                          p->ch->efd[1 + g]);
}

int
st_port_init(struct st_port *p, struct dt_child *ch, st_port_msg_fn fn,
             st_port_ctrl_fn ctrl, void *arg)
{
    struct shm_handle *h = &ch->h;
    memset(p, 0, sizeof(*p));
    p->ch = ch;
    p->hdr = h->hdr;
    p->index = ch->index;
    if (p->index != h->hdr->storage_port || ch->n_efd < 1 + h->hdr->ports)
        return -EINVAL;
    p->gen = atomic_load(&h->hdr->gateway_gen[p->index]);
    shm_producer_init(&p->prod, h, p->index, ch->efd[0]);
    for (unsigned g = 0; g < SHM_MAX_GATEWAYS; g++)
        p->router_mark[g] = p->prod.push_mark;
    shm_ring_handle_init(&p->out, h, shm_out_ring(h, p->index));
    for (unsigned g = 0; g < h->hdr->gateways; g++)
        shm_direct_init(&p->direct[g], h, shm_direct_to_gw(g), g,
                        ch->efd[1 + g]);
    p->db = shm_doorbell_of(h, 1 + p->index);
    p->db->pid = (uint32_t)getpid();
    p->efd = ch->efd[1 + p->index];
    p->on_msg = fn;
    p->on_ctrl = ctrl;
    p->arg = arg;
    if (st_port_own_init(p) < 0)
        return -ENOMEM;
    set_interest(p, 0);
    /* what a dead predecessor left in our ring was meant for it */
    struct shm_desc d;
    while (shm_ring_pop(&p->out, &d)) {
        struct shm_chunk *c = shm_chunk_of(h, &d);
        if (c)
            shm_chunk_unref(c);
    }
    ask_for_announcements(p);
    return 0;
}

void
st_port_free(struct st_port *p)
{
    st_port_own_free(p);
    for (uint32_t i = 0; i < p->nsubs; i++)
        free(p->subs[i].subject);
    free(p->subs);
    shm_producer_free(&p->prod);
    if (p->hdr)
        set_interest(p, 0);
}

/* ------------------------------------------------------------------ */
/* Producer side. */

static int
ctrl_sub(struct st_port *p, uint32_t id, const char *subject)
{
    return shm_producer_sub(&p->prod, ST_PORT_CONN, p->gen, id, subject, "");
}

static int
ctrl_reset(struct st_port *p, bool complete)
{
    return shm_producer_reset(&p->prod, complete, p->gen);
}

static struct st_port_sub *
find_sub(struct st_port *p, uint32_t id)
{
    for (uint32_t i = 0; i < p->nsubs; i++)
        if (p->subs[i].id == id)
            return &p->subs[i];
    return NULL;
}

static struct st_port_sub *
add_sub(struct st_port *p, uint32_t id)
{
    if (p->nsubs == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 16;
        struct st_port_sub *n = realloc(p->subs, cap * sizeof(*n));
        if (n == NULL)
            return NULL;
        p->subs = n;
        p->cap = cap;
    }
    struct st_port_sub *s = &p->subs[p->nsubs++];
    s->id = id;
    s->subject = NULL;
    s->own = NULL;
    set_interest(p, p->nsubs);
    return s;
}

int
st_port_subscribe(struct st_port *p, uint32_t id, const char *subject,
                  size_t len)
{
    struct st_port_sub *s = find_sub(p, id);
    if (s == NULL && (s = add_sub(p, id)) == NULL)
        return -ENOMEM;
    char *copy = strndup(subject, len);
    if (copy == NULL)
        return -ENOMEM;
    st_port_own_del(p, s);
    free(s->subject);
    s->subject = copy;
    if (st_port_own_set(p, s) < 0)
        dt_warn("storage: %s: only through the router", copy);
    return ctrl_sub(p, id, copy);
}

int
st_port_unsubscribe(struct st_port *p, uint32_t id)
{
    struct st_port_sub *s = find_sub(p, id);
    if (s == NULL)
        return -ENOENT;
    st_port_own_del(p, s);
    free(s->subject);
    *s = p->subs[--p->nsubs];
    set_interest(p, p->nsubs);
    return shm_producer_unsub(&p->prod, ST_PORT_CONN, p->gen, id);
}

static char *
put(char *dst, const void *src, size_t n)
{
    if (n)
        memcpy(dst, src, n);
    return dst + n;
}

/* The parts of one message, as a chunk body holds them (shm_msg). */
struct port_msg {
    const char *subj, *route, *reply;
    const void *hdr, *data;
    size_t subj_len, route_len, reply_len, hdr_len, data_len;
};

static uint64_t
msg_len(const struct port_msg *pm)
{
    return sizeof(struct shm_msg) + (uint64_t)pm->subj_len + pm->reply_len +
           pm->hdr_len + pm->data_len + pm->route_len;
}

static void
write_msg(struct shm_msg *m, const struct port_msg *pm)
{
    m->subject_len = (uint32_t)pm->subj_len;
    m->reply_len = (uint32_t)pm->reply_len;
    m->hdr_len = (uint32_t)pm->hdr_len;
    m->payload_len = (uint32_t)pm->data_len;
    m->route_len = (uint32_t)pm->route_len;
    m->reserved = 0;
    char *w = put((char *)(m + 1), pm->subj, pm->subj_len);
    w = put(w, pm->reply, pm->reply_len);
    w = put(w, pm->hdr, pm->hdr_len);
    w = put(w, pm->data, pm->data_len);
    put(w, pm->route, pm->route_len);
}

int
st_port_publish(struct st_port *p, const char *subj, size_t subj_len,
                const char *route, size_t route_len, const char *reply,
                size_t reply_len, const void *hdr, size_t hdr_len,
                const void *data, size_t data_len)
{
    const struct port_msg pm = {
        subj, route, reply, hdr, data,
        subj_len, route_len, reply_len, hdr_len, data_len,
    };
    st_port_own_publish(p);     /* before anything a client may act on */
    if (shm_producer_ctrl_waiting(&p->prod) &&
        !shm_producer_flush_ctrl(&p->prod))
        return -ENOBUFS;
    uint64_t len = msg_len(&pm);
    if (len > UINT32_MAX / 2)
        return -EMSGSIZE;
    struct shm_chunk *c = shm_producer_alloc(&p->prod, (uint32_t)len);
    if (c == NULL)
        return -ENOBUFS;
    write_msg(shm_chunk_body(c), &pm);
    struct shm_desc d = {
        .kind = SHM_D_PUB, .conn = ST_PORT_CONN, .conn_gen = p->gen,
        .len = (uint32_t)len,
    };
    shm_producer_push(&p->prod, c, &d);
    return 0;
}

/* Has the router applied our last message for gateway g? */
static bool
router_done_for(struct st_port *p, unsigned g)
{
    uint32_t applied = shm_ring_applied_pos(&p->prod.in);
    return (int32_t)(applied - p->router_mark[g]) >= 0;
}

#define GATEWAY_STUCK_NS (2ull * 1000000000ull)

/* Has gateway g taken everything we sent it directly?  A gateway that
 * has not taken anything for GATEWAY_STUCK_NS counts as done: it is dead
 * and its successor drops what it left, so nothing else may wait on it. */
static bool
direct_done_for(struct st_port *p, unsigned g)
{
    uint32_t applied = shm_ring_applied_pos(&p->direct[g].ring);
    if (applied == p->direct[g].ring.tail)
        return true;
    uint64_t now = shm_now_ns();
    if (applied != p->direct_seen[g] || p->direct_since[g] == 0) {
        p->direct_seen[g] = applied;
        p->direct_since[g] = now;
    }
    return now - p->direct_since[g] > GATEWAY_STUCK_NS;
}

static int
send_direct(struct st_port *p, const struct st_port_target *t,
            const struct port_msg *pm)
{
    uint64_t len = msg_len(pm);
    if (len > UINT32_MAX / 2)
        return -EMSGSIZE;
    struct shm_desc d = {
        .kind = SHM_D_MSG, .src_gw = (uint16_t)p->index, .conn = t->conn,
        .conn_gen = t->conn_gen, .sub = t->sub_id,
    };
    struct shm_msg *m = shm_direct_reserve(&p->direct[t->gw], &d,
                                           (uint32_t)len);
    if (m == NULL)
        return -ENOBUFS;
    write_msg(m, pm);
    shm_direct_push(&p->direct[t->gw], &d);
    return 0;
}

static int
send_routed(struct st_port *p, uint64_t ports, bool unordered,
            const struct port_msg *pm)
{
    for (unsigned g = 0; g < p->hdr->gateways && !unordered; g++)
        if ((ports >> g & 1) && !direct_done_for(p, g))
            return -EAGAIN;
    int rc = st_port_publish(p, pm->subj, pm->subj_len, pm->route,
                             pm->route_len, pm->reply, pm->reply_len,
                             pm->hdr, pm->hdr_len, pm->data, pm->data_len);
    if (rc == 0 && !unordered)
        for (unsigned g = 0; g < p->hdr->gateways; g++)
            if (ports >> g & 1)
                p->router_mark[g] = p->prod.push_mark;
    return rc;
}

int
st_port_send(struct st_port *p, const struct st_port_target *t,
             bool unordered, const char *subj, size_t subj_len, const char *route,
             size_t route_len, const char *reply, size_t reply_len,
             const void *hdr, size_t hdr_len, const void *data,
             size_t data_len)
{
    const struct port_msg pm = {
        subj, route, reply, hdr, data,
        subj_len, route_len, reply_len, hdr_len, data_len,
    };
    st_port_own_publish(p);     /* before anything a client may act on */
    int rc;
    if (t->one && t->gw < p->hdr->gateways) {
        rc = unordered || router_done_for(p, t->gw) ? send_direct(p, t, &pm)
                                                    : -EAGAIN;
        /* too big for the direct arena (or, for a reply, a full ring):
         * the router, once that is safe */
        if (rc == -EMSGSIZE || (rc == -ENOBUFS && (unordered ||
                !shm_direct_fits(&p->direct[t->gw],
                                 (uint32_t)msg_len(&pm)))))
            rc = send_routed(p, 1ull << t->gw, unordered, &pm);
    } else {
        rc = send_routed(p, t->ports, unordered, &pm);
    }
    if (rc == -EAGAIN || rc == -ENOBUFS) {
        p->out_deferred = true;
        return -ENOBUFS;
    }
    return rc;
}

void
st_port_flush(struct st_port *p)
{
    shm_producer_flush_ctrl(&p->prod);
    shm_producer_wake(&p->prod);
    st_port_own_publish(p);
    for (unsigned g = 0; g < p->hdr->gateways; g++)
        shm_direct_wake(&p->direct[g]);
}

void
st_port_check_router(struct st_port *p)
{
    uint32_t gen = atomic_load_explicit(&p->hdr->router_gen,
                                        memory_order_acquire);
    if (gen == p->router_gen)
        return;
    p->router_gen = gen;
    shm_producer_router_restarted(&p->prod);
    ctrl_reset(p, false);
    for (uint32_t i = 0; i < p->nsubs; i++)
        ctrl_sub(p, p->subs[i].id, p->subs[i].subject);
    ctrl_reset(p, true);
    st_port_flush(p);
    dt_debug("router generation %u: announced %u subscriptions", gen,
             p->nsubs);
}

/* ------------------------------------------------------------------ */
/* Consumer side. */

bool
st_port_msg_of(const struct shm_desc *d, struct shm_chunk *c,
               struct st_port_msg *out)
{
    const struct shm_msg *m = shm_chunk_body(c);
    if (d->len < sizeof(*m) || shm_msg_size(m) > d->len)
        return false;
    out->subj = (const char *)(m + 1);
    out->subj_len = m->subject_len;
    out->reply = out->subj + m->subject_len;
    out->reply_len = m->reply_len;
    out->hdr = out->reply + m->reply_len;
    out->hdr_len = m->hdr_len;
    out->data = out->hdr + m->hdr_len;
    out->data_len = m->payload_len;
    return true;
}

static void
deliver(struct st_port *p, const struct shm_desc *d, struct shm_chunk *c)
{
    struct st_port_msg v;
    if (d->kind == SHM_D_CTRL) {
        if (p->on_ctrl && d->src_gw < p->hdr->ports)
            p->on_ctrl(p->arg, d->src_gw, shm_chunk_body(c), d->len);
        return;
    }
    if (d->kind != SHM_D_MSG || d->conn != ST_PORT_CONN ||
        d->conn_gen != p->gen)
        return;
    if (!st_port_msg_of(d, c, &v)) {
        p->dropped++;
        return;
    }
    p->on_msg(p->arg, d->sub, v.subj, v.subj_len, v.reply, v.reply_len,
              v.hdr, v.hdr_len, v.data, v.data_len);
}

unsigned
st_port_drain_router(struct st_port *p, unsigned max)
{
    struct shm_desc batch[64];
    unsigned n = 0, got;
    do {
        unsigned want = max - n < 64 ? max - n : 64;
        got = shm_ring_pop_batch(&p->out, batch, want);
        for (unsigned i = 0; i < got; i++) {
            struct shm_chunk *c = shm_chunk_of(&p->ch->h, &batch[i]);
            if (c == NULL) {
                p->dropped++;
                continue;
            }
            deliver(p, &batch[i], c);
            shm_chunk_unref(c);
        }
        n += got;
    } while (got == 64 && n < max);
    return n;
}

unsigned
st_port_drain(struct st_port *p, unsigned max)
{
    p->out_deferred = false;    /* what waited is tried again this turn */
    unsigned n = st_port_drain_router(p, max);
    return n + st_port_drain_direct(p, max);
}

bool
st_port_pending(struct st_port *p)
{
    return shm_ring_count(&p->out) > 0 || st_port_direct_pending(p);
}
