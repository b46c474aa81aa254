/*
 * gw_fabric.c -- the gateway's producer side: publishes and subscription
 * changes go into this gateway's arena and inbound ring to the router.
 *
 * NOTES
 *   Order matters: a client's SUB must reach the router before its next
 *   PUB.  Control messages that find the ring or arena full wait in the
 *   producer's queue (shm_producer.c), and while anything waits there
 *   publishes wait too (-EAGAIN: the caller stops reading that
 *   connection), so the ring always carries a connection's operations in
 *   the order it sent them.  The router is woken once per loop turn, not
 *   per message.
 */
#include <errno.h>
#include <stdlib.h>

#include "dt_log.h"
#include "gw.h"

void
gw_msg_write(struct shm_msg *m, const struct gw_op *op)
{
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
}

/* 0 pushed to the router; 1 delivered here only; 2 here and to storage
 * directly (someone took it: no no-responders); -EAGAIN no room. */
int
gw_fabric_publish(struct gw_worker *w, struct gw_conn *c,
                  const struct gw_op *op, uint32_t *local)
{
    if (shm_producer_ctrl_waiting(&w->prod))
        return -EAGAIN;
    uint16_t flags = 0;
    if (c->flags & SHM_CF_NO_ECHO)
        flags |= SHM_DF_NO_ECHO;
    if ((c->flags & (SHM_CF_HEADERS | SHM_CF_NORESP)) ==
        (SHM_CF_HEADERS | SHM_CF_NORESP))
        flags |= SHM_DF_NORESP_OK;
    uint32_t len = (uint32_t)sizeof(struct shm_msg) + op->subject.len +
                   op->reply.len + op->headers.len + op->payload.len;
    bool js = gw_js_wants(w, op);
    enum gw_js_way way = js ? gw_js_way(w, len) : GW_JS_ROUTER;
    if (way == GW_JS_WAIT)
        return -EAGAIN;
    bool direct = js && way != GW_JS_ROUTER;   /* sent or dropped */
    /* nobody else holds a subscription: the router would only find what
     * we find here, so spare it (and its wake-up) */
    bool router = (js && !direct) || !gw_local_only(w);
    struct shm_chunk *ch = NULL;
    if (router && (ch = shm_producer_alloc(&w->prod, len)) == NULL)
        return -EAGAIN;     /* before the direct send: no duplicate later */
    if (way == GW_JS_DIRECT)
        gw_js_send(w, c, op, flags);
    if (direct)
        flags |= SHM_DF_STORAGE_DONE;
    *local = gw_local_match(w, c, op);
    if (!router)
        return direct ? 2 : 1;
    gw_msg_write(shm_chunk_body(ch), op);
    struct shm_desc d = {
        .kind = SHM_D_PUB, .flags = flags | SHM_DF_LOCAL_DONE,
        .conn = c->slot, .conn_gen = c->gen, .len = len, .sub = *local,
    };
    shm_producer_push(&w->prod, ch, &d);
    if (!direct && (js || !gw_js_usable(w)))
        gw_js_note_router(w);   /* it is, or may be, storage's */
    return 0;
}

/* Every control message goes past storage too (the router forwards it):
 * our next direct message to storage waits for it. */
bool
gw_fabric_flush_ctrl(struct gw_worker *w)
{
    bool done = shm_producer_flush_ctrl(&w->prod);
    gw_js_note_router(w);
    return done;
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
    int rc = shm_producer_sub(&w->prod, c->slot, c->gen, s->id, subject,
                              queue);
    gw_js_note_router(w);
    return rc;
}

int
gw_fabric_ctrl_unsub(struct gw_worker *w, struct gw_conn *c, uint32_t sub_id)
{
    int rc = shm_producer_unsub(&w->prod, c->slot, c->gen, sub_id);
    gw_js_note_router(w);
    return rc;
}

int
gw_fabric_ctrl_closed(struct gw_worker *w, struct gw_conn *c)
{
    int rc = shm_producer_closed(&w->prod, c->slot, c->gen);
    gw_js_note_router(w);
    return rc;
}

int
gw_fabric_ctrl_reset(struct gw_worker *w, bool complete)
{
    int rc = shm_producer_reset(&w->prod, complete,
                                atomic_load(&w->hdr->gateway_gen[w->index]));
    gw_js_note_router(w);
    return rc;
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
    c->pong_target_set = !shm_producer_ctrl_waiting(&w->prod);
    c->pong_target = w->prod.push_mark;
    c->pong_waiting = true;
    w->pong_waiters[w->n_pong_waiters++] = c->slot;
}

void
gw_fabric_release_pongs(struct gw_worker *w, uint32_t applied,
                        bool drained_all)
{
    if (w->n_pong_waiters == 0)
        return;
    bool queue_empty = !shm_producer_ctrl_waiting(&w->prod);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < w->n_pong_waiters; i++) {
        struct gw_conn *c = w->conns[w->pong_waiters[i]];
        if (c == NULL || c->closing || !c->pong_waiting)
            continue;
        if (!c->pong_target_set && queue_empty) {
            c->pong_target = w->prod.push_mark;
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
    shm_producer_wake(&w->prod);
    gw_js_wake(w);
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
    shm_producer_router_restarted(&w->prod);
    gw_fabric_ctrl_reset(w, false);
    unsigned subs = announce_all(w);
    gw_fabric_ctrl_reset(w, true);
    dt_debug("router generation %u: announced %u subscriptions", gen, subs);
}
