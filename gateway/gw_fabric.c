/*
 * gw_fabric.c -- the gateway's producer side: publishes and subscription
 * changes go into this gateway's arena and inbound ring to the router.
 *
 * NOTES
 *   Order matters: a client's SUB must reach the router before its next
 *   PUB.  Control messages that find the ring or arena full wait in
 *   ctrl_pending, and while anything waits there publishes wait too
 *   (-EAGAIN: the caller stops reading that connection), so the ring
 *   always carries a connection's operations in the order it sent them.
 *   The router is woken once per loop turn, not per message.
 */
#include <errno.h>
#include <stdlib.h>

#include "dialtone.pb-c.h"
#include "dt_log.h"
#include "gw.h"

#define CTRL_PENDING_CAP (64u << 20)

#define PUBLISH_EVERY 128 /* staged entries before the router sees them */

static struct shm_chunk *
alloc_for_push(struct gw_worker *w, uint32_t body_len)
{
    if (!shm_ring_has_space(&w->in))
        return NULL;
    return shm_arena_alloc(&w->arena, body_len);
}

static void
push_chunk(struct gw_worker *w, struct shm_chunk *c, uint16_t kind,
           uint16_t flags, const struct gw_conn *conn, uint32_t len,
           uint32_t sub)
{
    c->ring_pos = shm_ring_next_pos(&w->in);
    struct shm_desc d = {
        .kind = kind, .flags = flags, .src_gw = (uint16_t)w->index,
        .conn = conn ? conn->slot : 0, .conn_gen = conn ? conn->gen : 0,
        .chunk = shm_off(&w->ch.h, c), .len = len, .sub = sub,
    };
    bool ok = shm_ring_stage(&w->in, &d);
    (void)ok; /* space was checked by alloc_for_push; single producer */
    w->push_mark = shm_ring_next_pos(&w->in);
    /* publish in batches, but often enough that the router works while
     * we are still parsing a large read */
    if (++w->staged >= PUBLISH_EVERY)
        gw_fabric_wake_router(w);
}

int
gw_fabric_publish(struct gw_worker *w, struct gw_conn *c,
                  const struct gw_op *op, uint32_t *local)
{
    if (w->ctrl_pending.len > w->ctrl_head)
        return -EAGAIN;
    if (gw_local_only(w)) {
        /* nobody else holds a subscription: the router would only find
         * what we find here, so spare it (and its wake-up) */
        *local = gw_local_match(w, c, op);
        return 1;
    }
    uint32_t len = (uint32_t)sizeof(struct shm_msg) + op->subject.len +
                   op->reply.len + op->headers.len + op->payload.len;
    struct shm_chunk *ch = alloc_for_push(w, len);
    if (ch == NULL)
        return -EAGAIN;
    struct shm_msg *m = shm_chunk_body(ch);
    m->subject_len = op->subject.len;
    m->reply_len = op->reply.len;
    m->hdr_len = op->headers.len;
    m->payload_len = op->payload.len;
    m->route_len = 0;
    m->reserved = 0;
    char *p = gw_slice_put((char *)(m + 1), op->subject);
    p = gw_slice_put(p, op->reply);
    p = gw_slice_put(p, op->headers);
    gw_slice_put(p, op->payload);

    uint16_t flags = SHM_DF_LOCAL_DONE;
    if (c->flags & SHM_CF_NO_ECHO)
        flags |= SHM_DF_NO_ECHO;
    if ((c->flags & (SHM_CF_HEADERS | SHM_CF_NORESP)) ==
        (SHM_CF_HEADERS | SHM_CF_NORESP))
        flags |= SHM_DF_NORESP_OK;
    *local = gw_local_match(w, c, op);
    push_chunk(w, ch, SHM_D_PUB, flags, c, len, *local);
    return 0;
}

/* Push one packed control message now, or report that it must wait. */
static bool
push_ctrl_bytes(struct gw_worker *w, const uint8_t *bytes, uint32_t len)
{
    struct shm_chunk *ch = alloc_for_push(w, len);
    if (ch == NULL)
        return false;
    memcpy(shm_chunk_body(ch), bytes, len);
    push_chunk(w, ch, SHM_D_CTRL, 0, NULL, len, 0);
    return true;
}

bool
gw_fabric_flush_ctrl(struct gw_worker *w)
{
    struct dt_buf *q = &w->ctrl_pending;
    while (w->ctrl_head < q->len) {
        uint32_t len;
        memcpy(&len, q->data + w->ctrl_head, sizeof(len));
        if (!push_ctrl_bytes(w, (uint8_t *)q->data + w->ctrl_head +
                             sizeof(len), len))
            return false;
        w->ctrl_head += sizeof(len) + len;
    }
    q->len = w->ctrl_head = 0;
    return true;
}

static int
send_ctrl(struct gw_worker *w, Dialtone__Control *m)
{
    m->version = 1;
    size_t n = dialtone__control__get_packed_size(m);
    uint8_t stackbuf[1024];
    uint8_t *buf = n <= sizeof(stackbuf) ? stackbuf : malloc(n);
    if (buf == NULL)
        return -ENOMEM;
    dialtone__control__pack(m, buf);
    int rc = 0;
    if (w->ctrl_pending.len == w->ctrl_head &&
        push_ctrl_bytes(w, buf, (uint32_t)n))
        goto out;
    /* wait behind the others; the queue keeps their order */
    w->ctrl_pending.cap = CTRL_PENDING_CAP;
    uint32_t len = (uint32_t)n;
    if (dt_buf_append(&w->ctrl_pending, &len, sizeof(len)) < 0 ||
        dt_buf_append(&w->ctrl_pending, buf, n) < 0) {
        dt_error("control queue to the router is full (%u bytes)",
                 CTRL_PENDING_CAP);
        rc = -ENOBUFS;
    }
out:
    if (buf != stackbuf)
        free(buf);
    return rc;
}

int
gw_fabric_ctrl_sub(struct gw_worker *w, struct gw_conn *c,
                   const struct gw_sub *s)
{
    char subject[s->subject_len + 1], queue[s->queue_len + 1];
    memcpy(subject, gw_sub_subject(s), s->subject_len);
    subject[s->subject_len] = '\0';
    memcpy(queue, gw_sub_queue(s), s->queue_len);
    queue[s->queue_len] = '\0';
    Dialtone__Sub sub = DIALTONE__SUB__INIT;
    sub.conn = c->slot;
    sub.conn_gen = c->gen;
    sub.sub_id = s->id;
    sub.subject = subject;
    sub.queue = queue;
    Dialtone__Control m = DIALTONE__CONTROL__INIT;
    m.body_case = DIALTONE__CONTROL__BODY_SUB;
    m.sub = &sub;
    return send_ctrl(w, &m);
}

int
gw_fabric_ctrl_unsub(struct gw_worker *w, struct gw_conn *c, uint32_t sub_id)
{
    Dialtone__Unsub u = DIALTONE__UNSUB__INIT;
    u.conn = c->slot;
    u.conn_gen = c->gen;
    u.sub_id = sub_id;
    Dialtone__Control m = DIALTONE__CONTROL__INIT;
    m.body_case = DIALTONE__CONTROL__BODY_UNSUB;
    m.unsub = &u;
    return send_ctrl(w, &m);
}

int
gw_fabric_ctrl_closed(struct gw_worker *w, struct gw_conn *c)
{
    Dialtone__ConnClosed cc = DIALTONE__CONN_CLOSED__INIT;
    cc.conn = c->slot;
    cc.conn_gen = c->gen;
    Dialtone__Control m = DIALTONE__CONTROL__INIT;
    m.body_case = DIALTONE__CONTROL__BODY_CONN_CLOSED;
    m.conn_closed = &cc;
    return send_ctrl(w, &m);
}

int
gw_fabric_ctrl_reset(struct gw_worker *w, bool complete)
{
    Dialtone__ResetGateway r = DIALTONE__RESET_GATEWAY__INIT;
    r.complete = complete;
    r.gateway = w->index;
    r.gateway_gen = atomic_load(&w->hdr->gateway_gen[w->index]);
    Dialtone__Control m = DIALTONE__CONTROL__INIT;
    m.body_case = DIALTONE__CONTROL__BODY_RESET;
    m.reset = &r;
    return send_ctrl(w, &m);
}

void
gw_fabric_pong(struct gw_worker *w, struct gw_conn *c)
{
    if (!c->pushed_since_pong) {
        gw_conn_send(w, c, "PONG\r\n", 6);
        return;
    }
    c->pushed_since_pong = false;
    /* a control message still queued has no position yet: decide later */
    c->pong_target_set = w->ctrl_pending.len == w->ctrl_head;
    c->pong_target = w->push_mark;
    c->pong_waiting = true;
    w->pong_waiters[w->n_pong_waiters++] = c->slot;
}

void
gw_fabric_release_pongs(struct gw_worker *w, uint32_t applied,
                        bool drained_all)
{
    if (w->n_pong_waiters == 0)
        return;
    bool queue_empty = w->ctrl_pending.len == w->ctrl_head;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < w->n_pong_waiters; i++) {
        struct gw_conn *c = w->conns[w->pong_waiters[i]];
        if (c == NULL || c->closing || !c->pong_waiting)
            continue;
        if (!c->pong_target_set && queue_empty) {
            c->pong_target = w->push_mark;
            c->pong_target_set = true;
        }
        if (!c->pong_target_set || !drained_all ||
            (int32_t)(applied - c->pong_target) < 0) {
            w->pong_waiters[kept++] = c->slot;
            continue;
        }
        gw_conn_send(w, c, "PONG\r\n", 6);
        c->pong_waiting = false;
    }
    w->n_pong_waiters = kept;
}

void
gw_fabric_wake_router(struct gw_worker *w)
{
    w->staged = 0;
    if (shm_ring_publish(&w->in))
        shm_doorbell_ring(w->router_db, w->ch.efd[0]);
}

static unsigned
announce_all(struct gw_worker *w)
{
    unsigned subs = 0;
    for (uint32_t i = 0; i < w->max_conns; i++) {
        struct gw_conn *c = w->conns[i];
        if (c == NULL || c->closing)
            continue;
        for (uint32_t k = 0; k < c->subs.cap; k++)
            if (c->subs.slot[k].id) {
                gw_fabric_ctrl_sub(w, c, &c->subs.slot[k]);
                subs++;
            }
    }
    return subs;
}

void
gw_fabric_check_router(struct gw_worker *w)
{
    uint32_t gen = atomic_load_explicit(&w->hdr->router_gen,
                                        memory_order_acquire);
    uint32_t ann = atomic_load_explicit(&w->hdr->announce_gen,
                                        memory_order_acquire);
    if (gen == w->router_gen && ann == w->announce_gen)
        return;
    w->announce_gen = ann;
    if (gen == w->router_gen) {
        /* someone else rebuilds a replica (storage): our Subs again, no
         * reset, so the router's index never misses them meanwhile */
        unsigned subs = announce_all(w);
        dt_debug("announced %u subscriptions again on request", subs);
        return;
    }
    w->router_gen = gen;
    /* chunks the dead router had taken will never be released by it */
    shm_arena_drop_lost_holds(&w->arena, shm_ring_consumer_pos(&w->in));
    gw_fabric_ctrl_reset(w, false);
    unsigned subs = announce_all(w);
    gw_fabric_ctrl_reset(w, true);
    dt_debug("router generation %u: announced %u subscriptions", gen, subs);
}
