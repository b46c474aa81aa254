/*
 * shm_producer.c -- a port's producer side: arena chunks and inbound ring
 * entries to the router, control messages in order (see shm_producer.h).
 */
#include "shm_producer.h"

#include <errno.h>
#include <stdlib.h>

#include "dt_log.h"

void
shm_producer_init(struct shm_producer *p, const struct shm_handle *h,
                  unsigned index, int router_efd)
{
    memset(p, 0, sizeof(*p));
    p->h = h;
    p->index = index;
    shm_ring_handle_init(&p->in, h, shm_in_ring(h, index));
    shm_arena_handle_init(&p->arena, h, index);
    shm_arena_drop_unpublished(&p->arena, shm_ring_producer_pos(&p->in));
    /* positions are compared as differences: start from the ring's */
    p->push_mark = shm_ring_producer_pos(&p->in);
    p->router_db = shm_doorbell_of(h, 0);
    p->router_efd = router_efd;
    p->ctrl.cap = SHM_PRODUCER_CTRL_MAX;
}

void
shm_producer_free(struct shm_producer *p)
{
    dt_buf_free(&p->ctrl);
}

struct shm_chunk *
shm_producer_alloc(struct shm_producer *p, uint32_t len)
{
    if (!shm_ring_has_space(&p->in))
        return NULL;
    return shm_arena_alloc(&p->arena, len);
}

void
shm_producer_push(struct shm_producer *p, struct shm_chunk *c,
                  struct shm_desc *d)
{
    c->ring_pos = shm_ring_next_pos(&p->in);
    d->src_gw = (uint16_t)p->index;
    d->chunk = shm_off(p->h, c);
    bool ok = shm_ring_stage(&p->in, d);
    (void)ok;   /* room was checked by shm_producer_alloc; one producer */
    p->push_mark = shm_ring_next_pos(&p->in);
    /* publish in batches, but often enough that the router works while
     * the caller is still busy (e.g. parsing a large read) */
    if (++p->staged >= SHM_PRODUCER_PUBLISH_EVERY)
        shm_producer_wake(p);
}

static bool
push_ctrl_bytes(struct shm_producer *p, const void *bytes, uint32_t len)
{
    struct shm_chunk *c = shm_producer_alloc(p, len);
    if (c == NULL)
        return false;
    memcpy(shm_chunk_body(c), bytes, len);
    struct shm_desc d = { .kind = SHM_D_CTRL, .len = len };
    shm_producer_push(p, c, &d);
    return true;
}

bool
shm_producer_ctrl_waiting(const struct shm_producer *p)
{
    return p->ctrl_head < p->ctrl.len;
}

bool
shm_producer_flush_ctrl(struct shm_producer *p)
{
    while (shm_producer_ctrl_waiting(p)) {
        uint32_t len;
        memcpy(&len, p->ctrl.data + p->ctrl_head, sizeof(len));
        if (!push_ctrl_bytes(p, p->ctrl.data + p->ctrl_head + sizeof(len),
                             len))
            return false;
        p->ctrl_head += sizeof(len) + len;
    }
    p->ctrl.len = p->ctrl_head = 0;
    return true;
}

int
shm_producer_send_ctrl(struct shm_producer *p, Dialtone__Control *m)
{
    m->version = 1;
    size_t n = dialtone__control__get_packed_size(m);
    uint8_t stackbuf[1024];
    uint8_t *buf = n <= sizeof(stackbuf) ? stackbuf : malloc(n);
    if (buf == NULL)
        return -ENOMEM;
    dialtone__control__pack(m, buf);
    int rc = 0;
    if (!shm_producer_ctrl_waiting(p) &&
        push_ctrl_bytes(p, buf, (uint32_t)n))
        goto out;
    /* wait behind the others; the queue keeps their order */
    uint32_t len = (uint32_t)n;
    if (dt_buf_append(&p->ctrl, &len, sizeof(len)) < 0 ||
        dt_buf_append(&p->ctrl, buf, n) < 0) {
        dt_error("control queue to the router is full (%u bytes)",
                 SHM_PRODUCER_CTRL_MAX);
        rc = -ENOBUFS;
    }
out:
    if (buf != stackbuf)
        free(buf);
    return rc;
}

int
shm_producer_sub(struct shm_producer *p, uint32_t conn, uint32_t gen,
                 uint32_t sub_id, const char *subject, const char *queue)
{
    Dialtone__Sub sub = DIALTONE__SUB__INIT;
    sub.conn = conn;
    sub.conn_gen = gen;
    sub.sub_id = sub_id;
    sub.subject = (char *)subject;
    sub.queue = (char *)(queue ? queue : "");
    Dialtone__Control m = DIALTONE__CONTROL__INIT;
    m.body_case = DIALTONE__CONTROL__BODY_SUB;
    m.sub = &sub;
    return shm_producer_send_ctrl(p, &m);
}

int
shm_producer_unsub(struct shm_producer *p, uint32_t conn, uint32_t gen,
                   uint32_t sub_id)
{
    Dialtone__Unsub u = DIALTONE__UNSUB__INIT;
    u.conn = conn;
    u.conn_gen = gen;
    u.sub_id = sub_id;
    Dialtone__Control m = DIALTONE__CONTROL__INIT;
    m.body_case = DIALTONE__CONTROL__BODY_UNSUB;
    m.unsub = &u;
    return shm_producer_send_ctrl(p, &m);
}

int
shm_producer_closed(struct shm_producer *p, uint32_t conn, uint32_t gen)
{
    Dialtone__ConnClosed cc = DIALTONE__CONN_CLOSED__INIT;
    cc.conn = conn;
    cc.conn_gen = gen;
    Dialtone__Control m = DIALTONE__CONTROL__INIT;
    m.body_case = DIALTONE__CONTROL__BODY_CONN_CLOSED;
    m.conn_closed = &cc;
    return shm_producer_send_ctrl(p, &m);
}

int
shm_producer_reset(struct shm_producer *p, bool complete, uint32_t port_gen)
{
    Dialtone__ResetGateway r = DIALTONE__RESET_GATEWAY__INIT;
    r.complete = complete;
    r.gateway = p->index;
    r.gateway_gen = port_gen;
    Dialtone__Control m = DIALTONE__CONTROL__INIT;
    m.body_case = DIALTONE__CONTROL__BODY_RESET;
    m.reset = &r;
    return shm_producer_send_ctrl(p, &m);
}

void
shm_producer_wake(struct shm_producer *p)
{
    p->staged = 0;
    if (shm_ring_publish(&p->in))
        shm_doorbell_ring(p->router_db, p->router_efd);
}

void
shm_producer_router_restarted(struct shm_producer *p)
{
    shm_arena_drop_lost_holds(&p->arena, shm_ring_consumer_pos(&p->in));
}
