/*
 * st_js_run.c -- the JetStream engine at work: dispatch of what the
 * subscriptions receive ($JS.API, $JS.ACK, $JS.FC, stream subjects),
 * API replies held until the consumer log they depend on is flushed,
 * the ordered port backlog, and st_js_run() (retries, replies, timers,
 * consumers, store flush).
 *
 * NOTES
 *   Output order: everything the engine sends goes through st_js_send();
 *   once port.publish() said -ENOBUFS, later messages queue behind the
 *   first refused one (ST_JS_BACKLOG_MAX bytes; past it they are dropped
 *   and counted) and consumers are not run until the backlog drained.
 *   Held replies: a consumer create / delete may write the consumer log
 *   (buffered by the library); its reply, and every API reply after it
 *   (to keep replies in request order), waits in js->held until
 *   st_js_run() flushed the touched sets (one write + sync per set per
 *   batch).  Bounded by ST_JS_HELD_MAX: past it the flush happens early.
 *   Time: `now` is CLOCK_REALTIME; tick and flush periods run on a clock
 *   derived from it that never goes back (a step back of the wall clock
 *   does not stall them).
 *   st_api.h must be included before st_api_consumer.h (both name
 *   ST_API_REPLY).
 */
#include "st_js_int.h"

#include "dt_log.h"
#include "st_api_consumer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- output -------------------------------------------------------------- */

static int
port_publish(struct st_js *js, const struct st_js_parts *p)
{
    const struct st_js_port *o = &js->port;
    const char *reply = p->reply_len ? p->reply : NULL;
    const void *hdr = p->hdr_len ? p->hdr : NULL;
    int rc;

    if (p->is_reply && o->reply != NULL && p->reply_len == 0 &&
        p->route_len == 0)
        rc = o->reply(o->arg, p->subj, p->subj_len, hdr, p->hdr_len, p->data,
                      p->data_len);
    else if (p->route_len == 0)
        rc = o->publish(o->arg, p->subj, p->subj_len, reply, p->reply_len,
                        hdr, p->hdr_len, p->data, p->data_len);
    else if (o->deliver != NULL)
        rc = o->deliver(o->arg, p->subj, p->subj_len, p->route, p->route_len,
                        reply, p->reply_len, hdr, p->hdr_len, p->data,
                        p->data_len);
    else
        rc = o->publish(o->arg, p->route, p->route_len, reply, p->reply_len,
                        hdr, p->hdr_len, p->data, p->data_len);
    if (rc < 0 && rc != -ENOBUFS) {
        js->dropped++;
        dt_debug("storage: publish to %.*s: %s", (int)p->subj_len, p->subj,
                 strerror(-rc));
    }
    return rc;
}

void
st_js_send(struct st_js *js, const struct st_js_parts *p)
{
    struct st_js_msg *m = NULL;

    if (js->out.head == NULL && port_publish(js, p) != -ENOBUFS)
        return;
    if (js->out.bytes + st_js_msg_size(p) <= ST_JS_BACKLOG_MAX)
        m = st_js_msg_new(p);
    if (m == NULL) {
        js->dropped++;
        return;
    }
    st_js_fifo_push(&js->out, m);
}

void
st_js_reply(struct st_js *js, const char *to, size_t to_len, const void *hdr,
            size_t hdr_len, const void *data, size_t data_len)
{
    const struct st_js_parts p = {
        .subj = to, .subj_len = to_len, .hdr = hdr, .hdr_len = hdr_len,
        .data = data, .data_len = data_len, .is_reply = true,
    };

    st_js_send(js, &p);
}

/* Publish the consumer output; a delivery (a record with the message's
 * own subject) goes to its deliver subject showing that subject. */
void
st_js_emit_outbox(struct st_js *js)
{
    struct st_outbox *o = &js->ob;

    for (uint32_t i = 0; i < o->n; i++) {
        const struct st_out_rec *r = &o->rec[i];
        struct st_js_parts p = {
            .subj = st_out_ptr(o, r->subj_off), .subj_len = r->subj_len,
            .reply = st_out_ptr(o, r->reply_off), .reply_len = r->reply_len,
            .hdr = st_out_ptr(o, r->hdr_off), .hdr_len = r->hdr_len,
            .data = st_out_ptr(o, r->data_off), .data_len = r->data_len,
        };
        if (r->msubj_len > 0) {
            p.route = p.subj;
            p.route_len = p.subj_len;
            p.subj = st_out_ptr(o, r->msubj_off);
            p.subj_len = r->msubj_len;
        }
        st_js_send(js, &p);
    }
    st_outbox_reset(o);
}

void
st_js_drain(struct st_js *js)
{
    struct st_js_msg *m;
    struct st_js_parts p;

    while ((m = js->out.head) != NULL) {
        st_js_msg_parts(m, &p);
        if (port_publish(js, &p) == -ENOBUFS)
            return;
        free(st_js_fifo_pop(&js->out));
    }
}

static void
send_msg(struct st_js *js, struct st_js_msg *m)
{
    struct st_js_parts p;

    st_js_msg_parts(m, &p);
    st_js_send(js, &p);
    free(m);
}

/* Send the settled publish replies; flush the consumer logs that held
 * replies wait for, then send those. */
void
st_js_release(struct st_js *js)
{
    struct st_js_msg *m;

    while ((m = st_js_fifo_pop(&js->ready)) != NULL)
        send_msg(js, m);
    for (struct st_js_stream *t = js->head; t; t = t->next) {
        if (!t->need_flush)
            continue;
        t->need_flush = false;
        int rc = st_cons_set_flush(t->set);
        if (rc < 0)
            dt_error("storage: stream '%s': consumer log: %s", t->name,
                     strerror(-rc));
    }
    while ((m = st_js_fifo_pop(&js->held)) != NULL)
        send_msg(js, m);
}

/* ---- API ----------------------------------------------------------------- */

static struct st_cons_set *
lookup(void *arg, const char *name, size_t len)
{
    struct st_js *js = arg;
    struct st_stream *s = st_registry_find(js->reg, name, len);
    struct st_js_stream *t = s ? st_stream_user(s) : NULL;

    if (t == NULL)
        return NULL;
    t->touched = true;
    if (js->hold_api)
        t->need_flush = true;
    return t->set;
}

/* Consumer requests that may buffer consumer log records. */
static bool
holds(const char *subj, size_t sl)
{
    static const char *const ops[] = { "CREATE.", "DURABLE.CREATE.",
                                       "DELETE." };
    const size_t pl = sizeof("$JS.API.CONSUMER.") - 1;

    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t n = strlen(ops[i]);
        if (sl > pl + n && memcmp(subj + pl, ops[i], n) == 0)
            return true;
    }
    return false;
}

/* {"type":"...","error":{...}: the type never holds a quote. */
static bool
resp_error(const struct dt_buf *b)
{
    static const char key[] = "\",\"error\":";
    const char *p = b->len ? memchr(b->data + 1, ',', b->len - 1) : NULL;

    if (p == NULL || p == b->data + 1)
        return false;
    p--;
    return (size_t)(b->data + b->len - p) >= sizeof(key) - 1
           && memcmp(p, key, sizeof(key) - 1) == 0;
}

static void
reply_api(struct st_js *js, const char *reply, size_t rl, const void *hdr,
          size_t hl, const void *data, size_t dl, bool hold)
{
    const struct st_js_parts p = {
        .subj = reply, .subj_len = rl, .hdr = hdr, .hdr_len = hl,
        .data = data, .data_len = dl, .is_reply = true,
    };
    struct st_js_msg *m;

    if (rl == 0)
        return;
    if (!hold && js->held.head == NULL) {
        st_js_send(js, &p);
        return;
    }
    if (js->held.bytes + st_js_msg_size(&p) > ST_JS_HELD_MAX)
        st_js_release(js);
    m = st_js_msg_new(&p);
    if (m == NULL) {
        st_js_release(js);      /* flushed: the reply may go now */
        st_js_send(js, &p);
        return;
    }
    st_js_fifo_push(&js->held, m);
}

static void
on_consumer_api(struct st_js *js, const char *subj, size_t sl,
                const char *reply, size_t rl, const char *data, size_t dl,
                int64_t now)
{
    const struct st_api_cons_env env = { lookup, js };
    bool hold = holds(subj, sl);
    int rc;

    js->resp.len = 0;
    js->hold_api = hold;
    rc = st_api_consumer_handle(&env, subj, sl, data, dl, reply, rl, now,
                                &js->resp, &js->ob);
    js->hold_api = false;
    st_js_emit_outbox(js);
    if (rc < 0 && rc != -ENOBUFS)
        dt_warn("storage: %.*s: %s", (int)sl, subj, strerror(-rc));
    if (rc != ST_API_REPLY)
        return;
    st_registry_api_count(js->reg, resp_error(&js->resp));
    reply_api(js, reply, rl, NULL, 0, js->resp.data, js->resp.len, hold);
}

static void
on_api(struct st_js *js, const char *subj, size_t sl, const char *reply,
       size_t rl, const char *data, size_t dl, int64_t now)
{
    struct st_api_out *o = &js->api;
    int rc = st_api_handle(js->reg, subj, sl, reply, rl, data, dl, now, o);

    if (rc == ST_API_NOT_MINE) {
        on_consumer_api(js, subj, sl, reply, rl, data, dl, now);
        return;
    }
    if (rc < 0)
        dt_warn("storage: %.*s: %s", (int)sl, subj, strerror(-rc));
    if (rc == ST_API_REPLY)
        reply_api(js, reply, rl, o->hdr.data, o->hdr.len, o->data.data,
                  o->data.len, false);
}

static void
on_ack(struct st_js *js, const char *subj, size_t sl, const char *reply,
       size_t rl, const char *data, size_t dl, int64_t now)
{
    const struct st_api_cons_env env = { lookup, js };
    int rc = st_api_consumer_ack(&env, subj, sl, data, dl, reply, rl, now,
                                 &js->ob);

    st_js_emit_outbox(js);
    if (rc < 0 && rc != -ENOENT && rc != -ENOBUFS)
        dt_debug("storage: ack %.*s: %s", (int)sl, subj, strerror(-rc));
}

static void
on_fc(struct st_js *js, const char *subj, size_t sl, int64_t now)
{
    const struct st_api_cons_env env = { lookup, js };

    (void)st_api_consumer_fc(&env, subj, sl, now);
}

/* ---- entry points -------------------------------------------------------- */

static void
clock_update(struct st_js *js, int64_t now)
{
    if (now > js->now)
        js->mono += now - js->now;
    js->now = now;
}

void
st_js_on_msg(struct st_js *js, uint32_t sub_id, const char *subj,
             size_t subj_len, const char *reply, size_t reply_len,
             const void *hdr, size_t hdr_len, const void *data,
             size_t data_len, int64_t now)
{
    if (js == NULL || subj == NULL || subj_len == 0)
        return;
    if (reply == NULL)
        reply_len = 0;
    if (hdr == NULL)
        hdr_len = 0;
    if (data == NULL)
        data_len = 0;
    clock_update(js, now);
    if (sub_id == ST_JS_SUB_API)
        on_api(js, subj, subj_len, reply, reply_len, data, data_len, now);
    else if (sub_id == ST_JS_SUB_ACK)
        on_ack(js, subj, subj_len, reply, reply_len, data, data_len, now);
    else if (sub_id == ST_JS_SUB_FC)
        on_fc(js, subj, subj_len, now);
    else if (sub_id >= ST_JS_SUB_STREAMS)
        st_js_publish(js, sub_id, subj, subj_len, reply, reply_len, hdr,
                      hdr_len, data, data_len, now);
    st_js_settle(js);
}

/* Log an error once, not on every run while it lasts. */
static int
note_err(int *last, int rc, const char *what)
{
    if (rc < 0 && rc != *last)
        dt_error("storage: %s: %s", what, strerror(-rc));
    *last = rc < 0 ? rc : 0;
    return rc;
}

static void
timers(struct st_js *js, int64_t now)
{
    if (js->mono >= js->next_tick) {
        js->next_tick = js->mono + ST_JS_TICK_NS;
        (void)note_err(&js->err_tick,
                       st_registry_tick(js->reg, now, (uint64_t)js->mono),
                       "stream timers");
    }
    if (js->mono < js->next_flush)
        return;
    js->next_flush = js->mono + ST_JS_FLUSH_NS;
    for (struct st_js_stream *t = js->head; t; t = t->next) {
        int rc = st_cons_set_flush(t->set);
        if (rc < 0)
            dt_warn("storage: stream '%s': consumer state: %s", t->name,
                    strerror(-rc));
    }
}

static unsigned
deliveries(const struct st_outbox *o)
{
    unsigned n = 0;

    for (uint32_t i = 0; i < o->n; i++)
        n += o->rec[i].kind == ST_OUT_MSG;
    return n;
}

/* Run one set within the budget; true when it has work left. */
static bool
run_set(struct st_js *js, struct st_js_stream *t, int64_t now,
        unsigned *budget)
{
    int rc = st_cons_set_run(t->set, now, &js->ob, *budget);
    unsigned n = deliveries(&js->ob);

    st_js_emit_outbox(js);
    *budget = n >= *budget ? 0 : *budget - n;
    t->timer = st_cons_set_next_timer(t->set);
    t->touched = false;
    return rc == 1 || rc == -ENOBUFS;
}

static void
to_tail(struct st_js *js, struct st_js_stream *t)
{
    if (js->tail == t)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        js->head = t->next;
    t->next->prev = t->prev;
    t->prev = js->tail;
    t->next = NULL;
    js->tail->next = t;
    js->tail = t;
}

/* Sets with work or a due timer, round robin: one that had work left
 * goes to the back of the list. */
static bool
run_consumers(struct st_js *js, int64_t now)
{
    unsigned budget = ST_JS_RUN_BUDGET;
    struct st_js_stream *last = js->tail, *next;
    bool left = false;

    for (struct st_js_stream *t = js->head; t; t = next) {
        next = t == last ? NULL : t->next;
        if (js->out.head != NULL)
            return false;       /* the port is full: wait for it */
        if (t->touched) {
            t->timer = st_cons_set_next_timer(t->set);
            t->touched = false;
        }
        if (t->timer > now)
            continue;
        if (budget == 0)
            return true;
        if (run_set(js, t, now, &budget)) {
            left = true;
            to_tail(js, t);
        }
    }
    return left;
}

int
st_js_run(struct st_js *js, int64_t now)
{
    bool left;
    int rc;

    if (js == NULL)
        return -EINVAL;
    clock_update(js, now);
    st_js_pub_retry(js, now);
    st_js_settle(js);
    st_js_release(js);
    st_js_drain(js);
    timers(js, now);
    left = js->out.head == NULL && run_consumers(js, now);
    st_js_settle(js);
    rc = note_err(&js->err_flush, st_registry_flush(js->reg), "store flush");
    (void)st_io_submit(js->o.io);
    if (left || js->flagged)
        return 1;
    return rc < 0 ? rc : 0;
}
