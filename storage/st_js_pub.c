/*
 * st_js_pub.c -- the JetStream engine's publish path: a message on a
 * stream subject goes to st_stream_publish(); its PubAck waits in the
 * stream's ack queue until the store's on_done() says it is durable
 * (then it moves to js->ready, sent by st_js_run()).  Also the queue of
 * publishes that met busy store buffers (-EAGAIN), and the retention
 * removals that follow consumer acks (interest, workqueue).
 *
 * NOTES
 *   Order: a stream's publishes are stored in arrival order; once one
 *   waits in the stream's pubq every later one queues behind it, and
 *   st_js_run() retries the queue front first.  The queues of all
 *   streams share ST_JS_PUBQ_MAX bytes; past it a publish is refused
 *   with 503/10077 "Resource temporarily unavailable" (a reply when it
 *   asked for one; nothing is stored).
 *   Acks settle in ticket order (tickets grow per store); a failed
 *   report turns every ack it covers into st_jserr_store_failed().
 *   Retention: the consumer layer reports acked ranges (st_js_on_ack);
 *   st_js_retire() removes what no consumer needs any more.  The
 *   consumers hear of it through on_remove like any removal (it changes
 *   none of their counts, except for a consumer created since the ack).
 *   A consumer deleted from an interest stream starts a bounded
 *   re-check of the whole stream (st_js_recheck()).
 *   Ownership: queued messages are heap copies owned by their queue.
 */
#include "st_js_int.h"

#include "dt_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages and FIFOs -------------------------------------------------- */

size_t
st_js_msg_size(const struct st_js_parts *p)
{
    return sizeof(struct st_js_msg) + p->subj_len + p->route_len
           + p->reply_len + p->hdr_len + p->data_len;
}

static char *
put(char *dst, const void *src, size_t n)
{
    if (n)
        memcpy(dst, src, n);
    return dst + n;
}

struct st_js_msg *
st_js_msg_new(const struct st_js_parts *p)
{
    struct st_js_msg *m;
    char *d;

    if (p->subj_len > UINT32_MAX || p->route_len > UINT32_MAX
        || p->reply_len > UINT32_MAX || p->hdr_len > UINT32_MAX
        || p->data_len > UINT32_MAX)
        return NULL;
    m = malloc(st_js_msg_size(p));
    if (m == NULL)
        return NULL;
    m->next = NULL;
    m->ticket = 0;
    m->subj_len = (uint32_t)p->subj_len;
    m->route_len = (uint32_t)p->route_len;
    m->reply_len = (uint32_t)p->reply_len;
    m->hdr_len = (uint32_t)p->hdr_len;
    m->data_len = (uint32_t)p->data_len;
    m->is_reply = p->is_reply;
    d = put(m->b, p->subj, p->subj_len);
    d = put(d, p->route, p->route_len);
    d = put(d, p->reply, p->reply_len);
    d = put(d, p->hdr, p->hdr_len);
    put(d, p->data, p->data_len);
    return m;
}

void
st_js_msg_parts(const struct st_js_msg *m, struct st_js_parts *p)
{
    p->subj = m->b;
    p->subj_len = m->subj_len;
    p->route = p->subj + m->subj_len;
    p->route_len = m->route_len;
    p->reply = p->route + m->route_len;
    p->reply_len = m->reply_len;
    p->hdr = p->reply + m->reply_len;
    p->hdr_len = m->hdr_len;
    p->data = (const char *)p->hdr + m->hdr_len;
    p->data_len = m->data_len;
    p->is_reply = m->is_reply;
}

static size_t
msg_bytes(const struct st_js_msg *m)
{
    struct st_js_parts p;

    st_js_msg_parts(m, &p);
    return st_js_msg_size(&p);
}

void
st_js_fifo_push(struct st_js_fifo *f, struct st_js_msg *m)
{
    m->next = NULL;
    if (f->tail)
        f->tail->next = m;
    else
        f->head = m;
    f->tail = m;
    f->bytes += msg_bytes(m);
    f->n++;
}

struct st_js_msg *
st_js_fifo_pop(struct st_js_fifo *f)
{
    struct st_js_msg *m = f->head;

    if (m == NULL)
        return NULL;
    f->head = m->next;
    if (f->head == NULL)
        f->tail = NULL;
    f->bytes -= msg_bytes(m);
    f->n--;
    m->next = NULL;
    return m;
}

void
st_js_fifo_clear(struct st_js_fifo *f)
{
    struct st_js_msg *m;

    while ((m = st_js_fifo_pop(f)) != NULL)
        free(m);
}

/* ---- publish ------------------------------------------------------------- */

/* Send the reply in js->ack to `reply`. */
static void
send_ack(struct st_js *js, const char *reply, size_t rl)
{
    st_js_reply(js, reply, rl, NULL, 0, js->ack.data, js->ack.len);
}

static void
send_error(struct st_js *js, struct st_js_stream *t, const char *reply,
           size_t rl, int status)
{
    struct st_jserr e;

    if (rl == 0)
        return;
    st_jserr_store_failed(&e, status);
    js->ack.len = 0;
    if (st_stream_puberr(t->s, &e, &js->ack) == 0)
        send_ack(js, reply, rl);
}

/* A STORED reply: wait for its ticket.  Out of memory: say so now
 * rather than acknowledge what is not durable yet. */
static void
ack_wait(struct st_js *js, struct st_js_stream *t, const char *reply,
         size_t rl, uint64_t ticket)
{
    const struct st_js_parts p = {
        .subj = reply, .subj_len = rl,
        .data = js->ack.data, .data_len = js->ack.len, .is_reply = true,
    };
    struct st_js_msg *m = st_js_msg_new(&p);

    if (m == NULL) {
        send_error(js, t, reply, rl, -ENOMEM);
        return;
    }
    m->ticket = ticket;
    st_js_fifo_push(&t->acks, m);
}

/* One publish (p: subj, reply, hdr, data); -EAGAIN when the store's
 * buffers are busy (nothing changed). */
static int
pub_one(struct st_js *js, struct st_js_stream *t,
        const struct st_js_parts *p, int64_t now)
{
    struct st_pub_result res;
    int rc;

    js->ack.len = 0;
    rc = st_stream_publish(t->s, p->subj, p->subj_len, p->reply,
                           p->reply_len, p->hdr, p->hdr_len, p->data,
                           p->data_len, now, &res, &js->ack);
    if (rc == -EAGAIN)
        return rc;
    if (rc < 0) {
        dt_warn("storage: stream '%s': publish on %.*s: %s", t->name,
                (int)p->subj_len, p->subj, strerror(-rc));
        return rc;
    }
    if (!res.reply)
        return 0;
    if (res.status == ST_PUB_STORED)
        ack_wait(js, t, p->reply, p->reply_len, res.ticket);
    else
        send_ack(js, p->reply, p->reply_len);
    return 0;
}

static void
pub_queue(struct st_js *js, struct st_js_stream *t,
          const struct st_js_parts *p)
{
    size_t sz = st_js_msg_size(p);
    struct st_js_msg *m = NULL;

    if (js->pubq_bytes + sz <= ST_JS_PUBQ_MAX)
        m = st_js_msg_new(p);
    if (m == NULL) {
        send_error(js, t, p->reply, p->reply_len, -EAGAIN);
        return;
    }
    st_js_fifo_push(&t->pubq, m);
    js->pubq_bytes += sz;
}

void
st_js_publish(struct st_js *js, uint32_t sub_id, const char *subj,
              size_t sl, const char *reply, size_t rl, const void *hdr,
              size_t hl, const void *data, size_t dl, int64_t now)
{
    /* by the subscription it came on: streams never overlap, so that is
     * the stream; matching every stream's subjects is the fallback */
    struct st_js_stream *t = st_js_stream_of_sub(js, sub_id);
    if (t == NULL) {
        struct st_stream *s = st_registry_match(js->reg, subj, sl);
        t = s ? st_stream_user(s) : NULL;
    }
    const struct st_js_parts p = {
        .subj = subj, .subj_len = sl, .reply = reply, .reply_len = rl,
        .hdr = hdr, .hdr_len = hl, .data = data, .data_len = dl,
    };

    if (t == NULL)
        return;                 /* no stream (any more): not ours */
    if (t->pubq.head == NULL && pub_one(js, t, &p, now) != -EAGAIN)
        return;
    pub_queue(js, t, &p);
}

void
st_js_pub_retry(struct st_js *js, int64_t now)
{
    for (struct st_js_stream *t = js->head; t && js->pubq_bytes;
         t = t->next) {
        struct st_js_msg *m;
        struct st_js_parts p;
        while ((m = t->pubq.head) != NULL) {
            st_js_msg_parts(m, &p);
            if (pub_one(js, t, &p, now) == -EAGAIN)
                break;
            js->pubq_bytes -= msg_bytes(m);
            free(st_js_fifo_pop(&t->pubq));
        }
    }
}

/* The stream goes: what waits for it is dropped without a reply, as a
 * publish to a stream being deleted may get none from nats-server. */
void
st_js_pub_drop(struct st_js_stream *t)
{
    t->js->pubq_bytes -= t->pubq.bytes;
    st_js_fifo_clear(&t->pubq);
    st_js_fifo_clear(&t->acks);
}

/* ---- durability ---------------------------------------------------------- */

static struct st_js_msg *
to_error(struct st_js *js, struct st_js_stream *t, struct st_js_msg *m,
         int status)
{
    struct st_jserr e;
    struct st_js_parts p;
    struct st_js_msg *n;

    st_jserr_store_failed(&e, status);
    js->errbuf.len = 0;
    if (st_stream_puberr(t->s, &e, &js->errbuf) < 0)
        return m;
    st_js_msg_parts(m, &p);
    p.data = js->errbuf.data;
    p.data_len = js->errbuf.len;
    n = st_js_msg_new(&p);
    if (n == NULL)
        return m;
    free(m);
    return n;
}

void
st_js_on_done(void *arg, struct st_stream *s, const struct st_done *d)
{
    struct st_js *js = arg;
    struct st_js_stream *t = st_stream_user(s);
    struct st_js_msg *m;

    if (t == NULL)
        return;                 /* being deleted: nobody to answer */
    while ((m = t->acks.head) != NULL && m->ticket <= d->ticket) {
        m = st_js_fifo_pop(&t->acks);
        if (d->status < 0)
            m = to_error(js, t, m, d->status);
        st_js_fifo_push(&js->ready, m);
    }
    if (d->status == 0 && d->seq_lo != 0 && d->seq_hi > t->durable)
        t->durable = d->seq_hi;
    if (d->status < 0) {
        /* the store went back to what is on disk: consumers recount,
         * mirrors and sources find again where they got */
        struct st_state st;
        st_store_state(st_stream_store(s), &st);
        if (t->durable > st.last_seq)
            t->durable = st.last_seq;
        for (size_t i = 0; i < t->nsrc; i++)
            t->src[i].init = false;
        t->recount = true;
        js->flagged = true;
    }
    if (js->ntargets)
        js->flagged = true;     /* origins may have more to copy */
}

/* ---- retention ----------------------------------------------------------- */

void
st_js_on_ack(void *arg, struct st_consumer *c, uint64_t lo, uint64_t hi)
{
    struct st_js_stream *t = arg;
    struct st_js_range *r = t->nacked ? &t->acked[t->nacked - 1] : NULL;

    (void)c;
    if (r != NULL && lo <= r->hi + 1 && hi + 1 >= r->lo) {
        r->lo = lo < r->lo ? lo : r->lo;
        r->hi = hi > r->hi ? hi : r->hi;
        return;
    }
    if (t->nacked == t->cacked) {
        size_t n = t->cacked ? t->cacked * 2 : 16;
        struct st_js_range *v = realloc(t->acked, n * sizeof(*v));
        if (v == NULL) {
            dt_error("storage: stream '%s': acked messages %llu-%llu kept "
                     "(out of memory)", t->name, (unsigned long long)lo,
                     (unsigned long long)hi);
            return;
        }
        t->acked = v;
        t->cacked = n;
    }
    t->acked[t->nacked++] = (struct st_js_range){ lo, hi };
    t->js->flagged = true;
}

static bool
needed(const struct st_js_stream *t, uint64_t seq, const char *subj,
       size_t len)
{
    for (size_t i = 0; i < t->cons.n; i++)
        if (st_consumer_needs_ack(t->cons.v[i], seq, subj, len))
            return true;
    return false;
}

static void
remove_acked(struct st_js_stream *t, uint64_t seq)
{
    int rc = st_stream_ack_remove(t->s, seq);

    if (rc < 0 && rc != -ENOENT)
        dt_warn("storage: stream '%s': remove %llu: %s", t->name,
                (unsigned long long)seq, strerror(-rc));
}

/* Interest: the live messages of [lo, hi] nobody needs go.  Workqueue:
 * a message has one consumer, so its ack is enough. */
static void
retire_range(struct st_js_stream *t, uint64_t lo, uint64_t hi)
{
    struct st_store *st = st_stream_store(t->s);
    struct st_msg m;

    for (uint64_t seq = lo; seq <= hi && seq != 0; seq = m.seq + 1) {
        if (t->cs.retention == ST_RET_WORKQUEUE) {
            remove_acked(t, seq);
            m.seq = seq;
            continue;
        }
        if (st_store_next(st, seq, NULL, 0, &m, &t->js->scratch) < 0
            || m.seq > hi)
            return;
        if (!needed(t, m.seq, m.subj, m.subj_len))
            remove_acked(t, m.seq);
    }
}

void
st_js_retire(struct st_js_stream *t)
{
    for (size_t i = 0; i < t->nacked; i++)
        retire_range(t, t->acked[i].lo, t->acked[i].hi);
    t->nacked = 0;
    t->touched = true;
}

void
st_js_recheck(struct st_js_stream *t, unsigned budget)
{
    struct st_store *st = st_stream_store(t->s);
    struct st_msg m;
    uint64_t seq = t->recheck;

    while (budget-- > 0) {
        if (st_store_next(st, seq, NULL, 0, &m, &t->js->scratch) < 0) {
            t->recheck = 0;
            t->touched = true;
            return;
        }
        if (!needed(t, m.seq, m.subj, m.subj_len))
            remove_acked(t, m.seq);
        seq = m.seq + 1;
    }
    t->recheck = seq;
}
