/*
 * gw_proto.c -- what each NATS client operation means: INFO on accept,
 * CONNECT options and authentication, SUB/UNSUB bookkeeping, PUB into the
 * fabric, PING/PONG liveness, and the -ERR wording of nats-server.
 *
 * NOTES
 *   Parsing is gw_parser.c's job; this file acts on whole operations.
 *   A publish that finds the fabric full is not consumed: the connection
 *   is marked blocked and the same bytes are parsed again once the arena
 *   or ring has room (backpressure instead of dropping).
 *   Fatal errors close only the offending connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "dt_config.h"
#include "dt_json.h"
#include "dt_log.h"
#include "dt_subject.h"
#include "gw.h"

/* ------------------------------------------------------------------ */
/* INFO */

int
gw_proto_format_info(struct gw_worker *w, const struct gw_conn *c,
                     struct dt_buf *b)
{
    const struct shm_settings *s = w->set;
    struct dt_jw j;
    dt_buf_puts(b, "INFO ");
    dt_jw_init(&j, b, false);
    dt_jw_begin_object(&j);
    dt_jw_kstr(&j, "server_id", s->server_id);
    dt_jw_kstr(&j, "server_name", s->server_name);
    dt_jw_kstr(&j, "version", DT_NATS_COMPAT_VERSION);
    dt_jw_kint(&j, "proto", DT_PROTO);
    dt_jw_kstr(&j, "go", "dialtone");
    dt_jw_kstr(&j, "host", s->host);
    dt_jw_kuint(&j, "port", s->port);
    dt_jw_kbool(&j, "headers", true);
    if (s->auth_user[0] || s->auth_token[0])
        dt_jw_kbool(&j, "auth_required", true);
    dt_jw_kint(&j, "max_payload", s->max_payload);
    if (s->jetstream)
        dt_jw_kbool(&j, "jetstream", true);
    if (w->ldm)
        dt_jw_kbool(&j, "ldm", true);
    if (c) {
        dt_jw_kuint(&j, "client_id", c->cid);
        dt_jw_kstr(&j, "client_ip", c->shm->ip);
    }
    dt_jw_kstr(&j, "dialtone_version", DT_VERSION);
    dt_jw_end_object(&j);
    dt_buf_puts(b, " \r\n"); /* nats-server 2.9 puts a blank there too */
    return dt_jw_finish(&j);
}

void
gw_proto_send_info(struct gw_worker *w, struct gw_conn *c)
{
    struct dt_buf b = { .cap = 4096 };
    if (gw_proto_format_info(w, c, &b) == 0)
        gw_conn_send(w, c, b.data, b.len);
    dt_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* CONNECT */

static bool
json_flag(const struct dt_json *root, const char *key, bool dflt)
{
    bool v;
    return dt_json_bool(dt_json_get(root, key), &v) == 0 ? v : dflt;
}

static void
json_copy(const struct dt_json *root, const char *key, char *dst,
          size_t dstlen)
{
    const char *s;
    size_t n;
    dst[0] = '\0';
    if (dt_json_str(dt_json_get(root, key), &s, &n) == 0)
        snprintf(dst, dstlen, "%.*s", (int)n, s);
}

static bool
json_equals(const struct dt_json *root, const char *key, const char *want)
{
    const char *s;
    size_t n;
    if (dt_json_str(dt_json_get(root, key), &s, &n) < 0)
        return want[0] == '\0';
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

static bool
authorized(const struct shm_settings *s, const struct dt_json *root)
{
    if (s->auth_token[0])
        return json_equals(root, "auth_token", s->auth_token);
    if (s->auth_user[0])
        return json_equals(root, "user", s->auth_user) &&
               json_equals(root, "pass", s->auth_pass);
    return true;
}

static int
op_connect(struct gw_worker *w, struct gw_conn *c, const struct gw_op *op)
{
    struct dt_json_doc *doc = NULL;
    struct dt_json_error jerr;
    if (dt_json_parse(op->arg.p, op->arg.len, 64 * 1024, &doc, &jerr) < 0 ||
        !dt_json_is(dt_json_root(doc), DT_JSON_OBJECT)) {
        dt_json_free(doc);
        gw_conn_close(w, c, "invalid CONNECT JSON"); /* silent, like nats */
        return -1;
    }
    const struct dt_json *root = dt_json_root(doc);
    if (!authorized(w->set, root)) {
        dt_json_free(doc);
        dt_info("%s:%u - cid:%llu - authentication error", c->shm->ip,
                c->shm->port, (unsigned long long)c->cid);
        gw_conn_fail(w, c, "Authorization Violation");
        return -1;
    }
    /* absent fields keep nats-server's defaults: verbose and pedantic on */
    uint32_t f = SHM_CF_CONNECTED;
    f |= json_flag(root, "verbose", true) ? SHM_CF_VERBOSE : 0;
    f |= json_flag(root, "pedantic", true) ? SHM_CF_PEDANTIC : 0;
    f |= json_flag(root, "echo", true) ? 0 : SHM_CF_NO_ECHO;
    f |= json_flag(root, "headers", false) ? SHM_CF_HEADERS : 0;
    f |= json_flag(root, "no_responders", false) ? SHM_CF_NORESP : 0;
    int64_t proto = 0;
    dt_json_int64(dt_json_get(root, "protocol"), &proto);
    const char *bad = NULL;
    if (proto < 0 || proto > 1)
        bad = "invalid client protocol";
    else if ((f & SHM_CF_NORESP) && !(f & SHM_CF_HEADERS))
        bad = "no responders requires headers support";
    if (bad) {
        dt_json_free(doc);
        gw_conn_fail(w, c, bad);
        return -1;
    }
    c->protocol = (int)proto;
    c->flags = f;
    c->shm->flags = (uint16_t)f;
    json_copy(root, "name", c->shm->name, sizeof(c->shm->name));
    json_copy(root, "lang", c->shm->lang, sizeof(c->shm->lang));
    json_copy(root, "version", c->shm->version, sizeof(c->shm->version));
    c->auth_deadline_ns = 0;
    dt_json_free(doc);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Subscriptions */

void
gw_sub_remove(struct gw_worker *w, struct gw_conn *c, struct gw_sub *s)
{
    gw_fabric_ctrl_unsub(w, c, s->id);
    gw_local_del(w, s);
    gw_local_interest(w, s, -1);
    gw_subs_del(&c->subs, s);
}

static int
op_sub(struct gw_worker *w, struct gw_conn *c, const struct gw_op *op)
{
    if (!dt_subject_valid(op->subject.p, op->subject.len) ||
        (op->queue.len && !dt_queue_valid(op->queue.p, op->queue.len))) {
        gw_conn_send_err(w, c, "Invalid Subject");
        return 1; /* not fatal, no +OK */
    }
    if (gw_subs_by_sid(&c->subs, op->sid.p, op->sid.len))
        return 0; /* nats-server ignores a repeated sid */
    uint32_t max = w->set->max_subscriptions;
    if (max && c->subs.count >= max) {
        gw_conn_send_err(w, c, "maximum subscriptions exceeded");
        return 1;
    }
    struct gw_sub *s = gw_subs_add(&c->subs, op->sid.p, op->sid.len,
                                   op->subject.p, op->subject.len,
                                   op->queue.p, op->queue.len);
    if (s == NULL) {
        gw_conn_fail(w, c, "Server Resources Exhausted");
        return -1;
    }
    c->pushed_since_pong = true;
    gw_local_interest(w, s, +1);
    if (gw_local_add(w, c, s) < 0 || gw_fabric_ctrl_sub(w, c, s) < 0) {
        gw_conn_fail(w, c, "Server Resources Exhausted");
        return -1;
    }
    return 0;
}

static int
op_unsub(struct gw_worker *w, struct gw_conn *c, const struct gw_op *op)
{
    struct gw_sub *s = gw_subs_by_sid(&c->subs, op->sid.p, op->sid.len);
    if (s == NULL)
        return 0;
    if (op->max_msgs > 0 && s->delivered < (uint64_t)op->max_msgs) {
        s->max = (uint64_t)op->max_msgs;
        return 0;
    }
    c->pushed_since_pong = true;
    gw_sub_remove(w, c, s);
    return 0;
}

/* ------------------------------------------------------------------ */
/* PUB */

static int
op_pub(struct gw_worker *w, struct gw_conn *c, const struct gw_op *op)
{
    if (op->kind == GW_OP_HPUB && !(c->flags & SHM_CF_HEADERS)) {
        gw_conn_close(w, c, "HPUB without headers support"); /* silent */
        return -1;
    }
    uint32_t local;
    int rc = gw_fabric_publish(w, c, op, &local);
    if (rc < 0)
        return rc; /* -EAGAIN: try again when the fabric has room */
    c->in_msgs++;
    c->in_bytes += op->headers.len + op->payload.len;
    if (rc == 0)
        c->pushed_since_pong = true;
    /* nats-server's order: the complaint (it still routes the message),
     * then +OK, then the deliveries */
    if ((c->flags & SHM_CF_PEDANTIC) &&
        !dt_subject_valid_literal(op->subject.p, op->subject.len))
        gw_conn_send_err(w, c, "Invalid Publish Subject");
    if (c->flags & SHM_CF_VERBOSE)
        gw_conn_send(w, c, "+OK\r\n", 5);
    gw_local_deliver(w, op, local);
    if (rc == 1 && local == 0 && op->reply.len &&
        (c->flags & (SHM_CF_HEADERS | SHM_CF_NORESP)) ==
        (SHM_CF_HEADERS | SHM_CF_NORESP))
        gw_deliver_no_responders(w, c, op->reply);
    return 1;
}

/* ------------------------------------------------------------------ */

/* Returns 0 done (+OK if verbose), 1 done without +OK, -EAGAIN retry
 * later, -1 connection closed. */
static int
handle_op(struct gw_worker *w, struct gw_conn *c, const struct gw_op *op)
{
    bool auth_pending = c->auth_deadline_ns != 0;
    if (auth_pending && op->kind != GW_OP_CONNECT) {
        gw_conn_fail(w, c, "Authorization Violation");
        return -1;
    }
    switch (op->kind) {
    case GW_OP_CONNECT:
        return op_connect(w, c, op);
    case GW_OP_PUB:
    case GW_OP_HPUB:
        return op_pub(w, c, op);
    case GW_OP_SUB:
        return op_sub(w, c, op);
    case GW_OP_UNSUB:
        return op_unsub(w, c, op);
    case GW_OP_PING:
        gw_fabric_pong(w, c); /* may defer: see gw_proto_process */
        return 1;
    case GW_OP_PONG:
        if (c->ping_sent_ns) /* answer to our PING: that is the RTT */
            c->shm->rtt_ns = w->turn_ns - c->ping_sent_ns;
        c->ping_sent_ns = 0;
        c->pings_out = 0;
        return 1;
    default:
        return 1; /* INFO, +OK, -ERR from a client: nothing to do */
    }
}

/* A partial op left over is moved to the front by the next read. */
static void
compact_input(struct gw_conn *c)
{
    if (c->in_head == c->in.len)
        c->in.len = c->in_head = 0;
}

void
gw_proto_pause_input(struct gw_worker *w, struct gw_conn *c)
{
    if (c->blocked)
        return;
    c->blocked = true;
    w->blocked[w->n_blocked++] = c->slot;
    gw_loop_want_read(w, c, false);
}

int
gw_proto_process(struct gw_worker *w, struct gw_conn *c)
{
    while (!c->closing && c->in_head < c->in.len) {
        if (c->pong_waiting) {
            /* nothing this client sent after a PING may be answered
             * before its PONG: wait, input and all */
            gw_proto_pause_input(w, c);
            break;
        }
        struct gw_op op;
        size_t used = 0;
        int rc = gw_parser_next(&c->ps, c->in.data + c->in_head,
                                c->in.len - c->in_head, &used, &op);
        if (rc == GW_PARSE_MORE) {
            /* nats-server drops an HPUB from a client without headers
             * support at its control line, not after the payload */
            const char *p = c->in.data + c->in_head;
            if (!(c->flags & SHM_CF_HEADERS) && c->in.len - c->in_head > 5 &&
                strncasecmp(p, "HPUB", 4) == 0 && (p[4] == ' ' || p[4] == '\t')
                && memchr(p, '\n', c->in.len - c->in_head)) {
                gw_conn_close(w, c, "HPUB without headers support");
                return -1;
            }
            break;
        }
        if (rc < 0) {
            dt_debug("cid:%llu - protocol error: %s",
                     (unsigned long long)c->cid, gw_parse_error_text(rc));
            if (gw_parse_error_sends(rc))
                gw_conn_fail(w, c, gw_parse_error_text(rc));
            else /* nats-server closes these without a word */
                gw_conn_close(w, c, gw_parse_error_text(rc));
            return -1;
        }
        if (w->set->trace)
            dt_trace("%s:%u - cid:%llu - <<- [%.*s]", c->shm->ip, c->shm->port,
                     (unsigned long long)c->cid, (int)op.line.len, op.line.p);
        rc = handle_op(w, c, &op);
        if (rc == -EAGAIN) {
            gw_proto_pause_input(w, c);
            break;
        }
        if (rc < 0)
            return -1;
        c->in_head += used;
        if (rc == 0 && (c->flags & SHM_CF_VERBOSE))
            gw_conn_send(w, c, "+OK\r\n", 5);
    }
    if (c->closing)
        return -1;
    compact_input(c);
    return 0;
}

void
gw_proto_tick(struct gw_worker *w, struct gw_conn *c, uint64_t now)
{
    const struct shm_settings *s = w->set;
    if (c->auth_deadline_ns && now >= c->auth_deadline_ns) {
        gw_conn_fail(w, c, "Authentication Timeout");
        return;
    }
    if (c->stall_since_ns &&
        now - c->stall_since_ns > s->write_deadline_ms * 1000000ull) {
        atomic_fetch_add(&w->hdr->slow_consumers, 1);
        gw_conn_fail(w, c, "Slow Consumer (Write Deadline)");
        return;
    }
    if (now >= c->ping_due_ns) {
        uint64_t interval = s->ping_interval_ms * 1000000ull;
        if (c->last_in_ns + interval > now && c->pings_out == 0) {
            /* it talked to us recently: that is proof of life enough */
            c->ping_due_ns = now + interval;
            gw_conn_sync_stats(w, c);
            return;
        }
        if (c->pings_out + 1 > s->ping_max) {
            gw_conn_fail(w, c, "Stale Connection");
            return;
        }
        c->pings_out++;
        c->ping_due_ns = now + interval;
        c->ping_sent_ns = now;
        gw_conn_send(w, c, "PING\r\n", 6);
    }
    gw_conn_sync_stats(w, c);
}
