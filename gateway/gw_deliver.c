/*
 * gw_deliver.c -- the gateway's consumer side: deliveries from the router
 * become MSG/HMSG lines in the target connection's output buffer.
 *
 * NOTES
 *   The payload is read straight from the publishing gateway's arena and
 *   copied once, into the output buffer; the chunk's reference is dropped
 *   right after, so the producer can reclaim it.
 *   A delivery for a closed connection (stale slot generation) or a
 *   removed subscription (stale sub id) is dropped silently: that is the
 *   at-most-once contract of core NATS.
 *   Headers go only to connections that declared headers:true; others
 *   get the payload alone as MSG, as nats-server does.
 */
#include <stdio.h>

#include "dt_log.h"
#include "dt_subject.h"
#include "gw.h"
#include "shm_direct.h"

/* Decimal digits of v into p; returns the count. */
static size_t
put_u64(char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static char *
put(char *p, const void *s, size_t n)
{
    if (n)
        memcpy(p, s, n);
    return p + n;
}

static bool
view_of(const struct shm_desc *d, struct shm_chunk *ch, struct gw_msg *v)
{
    const struct shm_msg *m = shm_chunk_body(ch);
    if (d->len < sizeof(*m) || shm_msg_size(m) > d->len)
        return false;
    const char *p = (const char *)(m + 1);
    v->subject = (struct gw_slice){ p, m->subject_len };
    p += m->subject_len;
    v->reply = (struct gw_slice){ p, m->reply_len };
    p += m->reply_len;
    v->headers = (struct gw_slice){ p, m->hdr_len };
    p += m->hdr_len;
    v->payload = (struct gw_slice){ p, m->payload_len };
    return true;
}

/* MSG/HMSG <subject> <sid> [reply] [hdr_len] <total>\r\n<data>\r\n */
static void
write_msg(struct gw_worker *w, struct gw_conn *c, const struct gw_sub *s,
          const struct gw_msg *m)
{
    const char *subject = m->subject.p, *reply = m->reply.p;
    const char *hdr = m->headers.p, *payload = m->payload.p;
    uint32_t subject_len = m->subject.len, reply_len = m->reply.len;
    uint32_t hdr_len = m->headers.len, payload_len = m->payload.len;
    if (!(c->flags & SHM_CF_HEADERS))
        hdr_len = 0;
    size_t total = (size_t)hdr_len + payload_len;
    size_t max = 5 + subject_len + 1 + s->sid_len + 1 + reply_len + 1 +
                 2 * 20 + 2 + total + 2;
    char *p0 = gw_conn_out_reserve(w, c, max);
    if (p0 == NULL)
        return;
    char *p = p0;
    p = hdr_len ? put(p, "HMSG ", 5) : put(p, "MSG ", 4);
    p = put(p, subject, subject_len);
    *p++ = ' ';
    p = put(p, s->text, s->sid_len);
    *p++ = ' ';
    if (reply_len) {
        p = put(p, reply, reply_len);
        *p++ = ' ';
    }
    if (hdr_len) {
        p += put_u64(p, hdr_len);
        *p++ = ' ';
    }
    p += put_u64(p, total);
    p = put(p, "\r\n", 2);
    p = put(p, hdr, hdr_len);
    p = put(p, payload, payload_len);
    p = put(p, "\r\n", 2);
    gw_conn_out_commit(w, c, (size_t)(p - p0));
    c->out_msgs++;
    c->out_bytes += total;
}

void
gw_deliver_to(struct gw_worker *w, struct gw_conn *c, struct gw_sub *s,
              const struct gw_msg *m)
{
    write_msg(w, c, s, m);
    if (c->closing)
        return;
    s->delivered++;
    if (s->max && s->delivered >= s->max)
        gw_sub_remove(w, c, s);
}

static void
deliver_msg(struct gw_worker *w, const struct shm_desc *d,
            struct shm_chunk *ch)
{
    struct gw_conn *c = gw_conn_by_slot(w, d->conn, d->conn_gen);
    if (c == NULL)
        return;
    struct gw_sub *s = gw_subs_by_id(&c->subs, d->sub);
    struct gw_msg v;
    if (s != NULL && view_of(d, ch, &v))
        gw_deliver_to(w, c, s, &v);
}

/* Nobody took a request: answer with a 503 status on the publisher's own
 * subscription that covers the reply subject, as nats-server does. */
void
gw_deliver_no_responders(struct gw_worker *w, struct gw_conn *c,
                         struct gw_slice reply)
{
    static const char status[] = "NATS/1.0 503\r\n\r\n";
    for (uint32_t i = 0; i < c->subs.cap; i++) {
        struct gw_sub *s = &c->subs.slot[i];
        if (s->id && dt_subject_matches(gw_sub_subject(s), s->subject_len,
                                        reply.p, reply.len)) {
            struct gw_msg nr = {
                .subject = reply,
                .headers = { status, sizeof(status) - 1 },
            };
            write_msg(w, c, s, &nr);
            return;
        }
    }
}

static void
deliver_no_responders(struct gw_worker *w, const struct shm_desc *d,
                      struct shm_chunk *ch)
{
    struct gw_conn *c = gw_conn_by_slot(w, d->conn, d->conn_gen);
    struct gw_msg v;
    if (c != NULL && view_of(d, ch, &v))
        gw_deliver_no_responders(w, c, v.reply);
}

#define DRAIN_BATCH 32
#define DRAIN_BYTES (8u << 20)

static unsigned
drain_ring(struct gw_worker *w, struct shm_ring_handle *ring, unsigned max)
{
    struct shm_desc batch[DRAIN_BATCH];
    unsigned n = 0, got;
    uint64_t bytes = 0;
    do {
        unsigned want = max - n < DRAIN_BATCH ? max - n : DRAIN_BATCH;
        got = shm_ring_pop_batch(ring, batch, want);
        for (unsigned i = 0; i < got; i++) {
            const struct shm_desc *d = &batch[i];
            struct shm_chunk *ch = shm_chunk_of(&w->ch.h, d);
            if (ch == NULL) {
                dt_warn("delivery with a bad chunk offset dropped");
                continue;
            }
            if (d->kind == SHM_D_MSG)
                deliver_msg(w, d, ch);
            else if (d->kind == SHM_D_NORESP)
                deliver_no_responders(w, d, ch);
            bytes += d->len;
            shm_chunk_unref(ch);
        }
        n += got;
        if (w->n_heavy && gw_conn_should_stall(w, shm_now_ns()))
            break;
    } while (got == DRAIN_BATCH && n < max && bytes < DRAIN_BYTES);
    return n;
}

/* The router's ring, then storage's direct one up to what was there
 * before: storage sends a subscriber a direct message only after the
 * router applied its earlier ones for us, so those are in `out` by then
 * and go first.  Direct arena space is free again once marked applied,
 * after the copies. */
unsigned
gw_deliver_drain(struct gw_worker *w, unsigned max)
{
    if (!w->has_direct)
        return drain_ring(w, &w->out, max);
    uint32_t direct_end = shm_ring_producer_pos(&w->direct);
    unsigned n = drain_ring(w, &w->out, max);
    unsigned waiting = direct_end - shm_ring_consumer_pos(&w->direct);
    if (n < max && waiting) {
        n += drain_ring(w, &w->direct, waiting < max - n ? waiting : max - n);
        shm_ring_mark_applied(&w->direct);
    }
    return n;
}

bool
gw_deliver_pending(struct gw_worker *w)
{
    return shm_ring_count(&w->out) ||
           (w->has_direct && shm_ring_count(&w->direct));
}

void
gw_deliver_discard_all(struct gw_worker *w)
{
    struct shm_desc d;
    unsigned n = 0;
    while (shm_ring_pop(&w->out, &d)) {
        struct shm_chunk *ch = shm_chunk_of(&w->ch.h, &d);
        if (ch)
            shm_chunk_unref(ch);
        n++;
    }
    if (w->has_direct)
        shm_direct_discard(&w->direct);
    if (n)
        dt_info("dropped %u deliveries queued for the previous instance", n);
}
