/*
 * st_consumer_pull.c -- pull consumers (ADR-13): request parsing, the
 * waiting-request queue (bounded by max_waiting), request expiry and
 * heartbeats, and the status messages nats-server 2.9.10 sends:
 *
 *   NATS/1.0 404 No Messages                     no_wait, nothing pending
 *   NATS/1.0 408 Request Timeout                 expired, or a no_wait
 *     Nats-Pending-Messages: <batch left>        request that got some
 *     Nats-Pending-Bytes: <max_bytes left>       messages but not all
 *   NATS/1.0 408 Requests Pending                no_wait, others first
 *   NATS/1.0 409 Message Size Exceeds MaxBytes   (+ the two headers)
 *   NATS/1.0 409 Exceeded MaxWaiting
 *   NATS/1.0 409 Exceeded MaxRequestBatch of N
 *   NATS/1.0 409 Exceeded MaxRequestExpires of <Go duration>
 *   NATS/1.0 409 Exceeded MaxRequestMaxBytes of N
 *   NATS/1.0 409 Consumer is push based
 *   NATS/1.0 409 Consumer Deleted
 *   NATS/1.0 400 Bad Request - <reason>
 *   NATS/1.0 100 Idle Heartbeat                  (+ Nats-Last-Consumer,
 *                                                Nats-Last-Stream)
 *
 * NOTES
 *   The queue is a ring of request pointers that grows up to
 *   max_waiting; each request holds its reply subject inline.  A request
 *   served but not finished moves to the tail (round robin), as in
 *   nats-server.  Expiry uses `now >= expires` (nats: strictly after) so
 *   that a timer firing exactly at the deadline always makes progress.
 *   Requests whose reply subject lost interest (owner's has_interest)
 *   are dropped silently.  Deviation: a request that is not valid JSON
 *   gets "400 Bad Request - <our parser's reason>", not Go's wording.
 */
#include "st_consumer_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* Queue. */

static struct st_wreq *
wq_at(const struct st_waitq *q, uint32_t i)
{
    return q->r[(q->head + i) % q->cap];
}

static int
wq_add(struct st_consumer *c, struct st_wreq *wr)
{
    struct st_waitq *q = c->wq;
    if ((int64_t)q->n >= c->cfg.max_waiting)
        return -ENOSPC;
    if (q->n == q->cap) {
        uint32_t nc = q->cap ? q->cap * 2 : 4;
        if ((int64_t)nc > c->cfg.max_waiting)
            nc = (uint32_t)c->cfg.max_waiting;
        struct st_wreq **nr = malloc(nc * sizeof(*nr));
        if (nr == NULL)
            return -ENOMEM;
        for (uint32_t i = 0; i < q->n; i++)
            nr[i] = wq_at(q, i);
        free(q->r);
        q->r = nr;
        q->cap = nc;
        q->head = 0;
    }
    q->r[(q->head + q->n) % q->cap] = wr;
    q->n++;
    q->last = wr->received;
    return 0;
}

static void
wq_pop_head(struct st_waitq *q)
{
    q->head = (q->head + 1) % q->cap;
    if (--q->n == 0)
        q->head = 0;
}

/* Remove the i-th request (order kept) and free it. */
static void
wq_remove(struct st_waitq *q, uint32_t i)
{
    struct st_wreq *wr = wq_at(q, i);
    if (i == 0) {
        wq_pop_head(q);
    } else {
        for (uint32_t k = i; k + 1 < q->n; k++)
            q->r[(q->head + k) % q->cap] = wq_at(q, k + 1);
        q->n--;
    }
    free(wr);
}

bool
st_pull_interest(const struct st_consumer *c, const char *reply, size_t len)
{
    const struct st_cons_stream *s = c->set->s;
    return s->has_interest == NULL || s->has_interest(s->arg, reply, len);
}

void
st_pull_free(struct st_consumer *c)
{
    struct st_waitq *q = c->wq;
    if (q == NULL)
        return;
    for (uint32_t i = 0; i < q->n; i++)
        free(wq_at(q, i));
    free(q->r);
    free(q);
    c->wq = NULL;
}

uint32_t
st_pull_count_live(const struct st_consumer *c, int64_t now)
{
    const struct st_waitq *q = c->wq;
    uint32_t live = 0;
    for (uint32_t i = 0; q != NULL && i < q->n; i++) {
        const struct st_wreq *wr = wq_at(q, i);
        if ((wr->expires == 0 || now < wr->expires)
            && st_pull_interest(c, wr->reply, wr->reply_len))
            live++;
    }
    return live;
}

/* ------------------------------------------------------------------ */
/* Status messages. */

static int
status_pending(struct st_outbox *out, const struct st_wreq *wr,
               const char *what)
{
    char hdr[160];
    int n = snprintf(hdr, sizeof(hdr),
                     "NATS/1.0 %s\r\nNats-Pending-Messages: %" PRId64
                     "\r\nNats-Pending-Bytes: %" PRId64 "\r\n\r\n",
                     what, wr->n, wr->b);
    return st_cons_status(out, wr->reply, wr->reply_len, hdr, (size_t)n);
}

static int
status_line(struct st_outbox *out, const char *to, size_t to_len,
            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
status_line(struct st_outbox *out, const char *to, size_t to_len,
            const char *fmt, ...)
{
    char hdr[512];
    va_list ap;
    int n = snprintf(hdr, sizeof(hdr), "NATS/1.0 ");
    va_start(ap, fmt);
    n += vsnprintf(hdr + n, sizeof(hdr) - (size_t)n - 4, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(hdr) - 5)
        n = (int)sizeof(hdr) - 5;
    memcpy(hdr + n, "\r\n\r\n", 4);
    return st_cons_status(out, to, to_len, hdr, (size_t)n + 4);
}

/* Go's time.Duration.String(): "1m0s", "1.5s", "500ms", "1h0m0s". */
static void
go_duration_string(char *dst, size_t cap, int64_t d)
{
    uint64_t u = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
    const char *sign = d < 0 ? "-" : "";
    if (u == 0) {
        snprintf(dst, cap, "0s");
        return;
    }
    if (u < 1000000000ull) {
        const char *unit = "ns";
        uint64_t div = 1;
        if (u >= 1000000ull) {
            unit = "ms";
            div = 1000000ull;
        } else if (u >= 1000ull) {
            unit = "\xc2\xb5s";
            div = 1000ull;
        }
        char frac[16] = "";
        if (u % div) {
            int w = div == 1000000ull ? 6 : 3;
            int fl = snprintf(frac, sizeof(frac), ".%0*" PRIu64, w, u % div);
            while (fl > 1 && frac[fl - 1] == '0')
                frac[--fl] = '\0';
        }
        snprintf(dst, cap, "%s%" PRIu64 "%s%s", sign, u / div, frac, unit);
        return;
    }
    uint64_t secs = u / 1000000000ull, ns = u % 1000000000ull;
    char frac[16] = "";
    if (ns) {
        int fl = snprintf(frac, sizeof(frac), ".%09" PRIu64, ns);
        while (fl > 1 && frac[fl - 1] == '0')
            frac[--fl] = '\0';
    }
    uint64_t h = secs / 3600, m = (secs / 60) % 60, s = secs % 60;
    if (h > 0)
        snprintf(dst, cap, "%s%" PRIu64 "h%" PRIu64 "m%" PRIu64 "%ss", sign,
                 h, m, s, frac);
    else if (m > 0)
        snprintf(dst, cap, "%s%" PRIu64 "m%" PRIu64 "%ss", sign, m, s, frac);
    else
        snprintf(dst, cap, "%s%" PRIu64 "%ss", sign, s, frac);
}

/* ------------------------------------------------------------------ */
/* Requests. */

struct pull_req {
    int64_t batch;
    int64_t expires;
    int64_t max_bytes;
    int64_t hb;
    bool no_wait;
};

static bool
key_is(const struct dt_json *m, const char *key)
{
    size_t kl;
    const char *k = dt_json_key(m, &kl);
    return k != NULL && kl == strlen(key) && strncasecmp(k, key, kl) == 0;
}

static const char *
json_kind(const struct dt_json *v)
{
    switch (dt_json_type(v)) {
    case DT_JSON_STRING: return "string";
    case DT_JSON_BOOL: return "bool";
    case DT_JSON_ARRAY: return "array";
    case DT_JSON_OBJECT: return "object";
    default: return "number";
    }
}

/* nextReqFromMsg(): "" = 1, "<n>" = n, JSON = the request.  Returns 0 or
 * -EINVAL with a reason in err. */
static int
pull_parse(const char *body, size_t len, struct pull_req *r, char *err,
           size_t errcap)
{
    memset(r, 0, sizeof(*r));
    r->batch = 1;
    while (len > 0 && (body[0] == ' ' || body[0] == '\t' || body[0] == '\r'
                       || body[0] == '\n'))
        body++, len--;
    while (len > 0 && (body[len - 1] == ' ' || body[len - 1] == '\t'
                       || body[len - 1] == '\r' || body[len - 1] == '\n'))
        len--;
    if (len == 0)
        return 0;
    if (body[0] != '{') {
        int64_t v = 0;
        size_t i = 0;
        bool neg = false;
        if (body[0] == '+' || body[0] == '-')
            neg = body[i++] == '-';
        if (i == len || len - i > 18)
            return 0;
        for (; i < len; i++) {
            if (body[i] < '0' || body[i] > '9')
                return 0;
            v = v * 10 + (body[i] - '0');
        }
        r->batch = neg ? -v : v;
        return 0;
    }
    struct dt_json_doc *doc = NULL;
    struct dt_json_error je = { 0 };
    if (dt_json_parse(body, len, 1 << 20, &doc, &je) < 0) {
        snprintf(err, errcap, "%s", je.reason ? je.reason : "invalid JSON");
        return -EINVAL;
    }
    const struct dt_json *root = dt_json_root(doc);
    static const struct { const char *key, *gotype; } f[] = {
        { "batch", "int" }, { "expires", "time.Duration" },
        { "no_wait", "bool" }, { "max_bytes", "int" },
        { "idle_heartbeat", "time.Duration" },
    };
    int rc = 0;
    r->batch = 0;
    for (const struct dt_json *m = dt_json_first(root); m && rc == 0;
         m = dt_json_next(m)) {
        for (int k = 0; k < 5; k++) {
            if (!key_is(m, f[k].key) || dt_json_is_null(m))
                continue;
            int64_t v = 0;
            bool b = false;
            int ok = k == 2 ? dt_json_bool(m, &b) : dt_json_int64(m, &v);
            if (ok < 0) {
                snprintf(err, errcap,
                         "json: cannot unmarshal %s into Go struct field "
                         "JSApiConsumerGetNextRequest.%s of type %s",
                         json_kind(m), f[k].key, f[k].gotype);
                rc = -EINVAL;
                break;
            }
            switch (k) {
            case 0: r->batch = v; break;
            case 1: r->expires = v; break;
            case 2: r->no_wait = b; break;
            case 3: r->max_bytes = v; break;
            default: r->hb = v; break;
            }
        }
    }
    dt_json_free(doc);
    if (rc == 0 && r->hb > 0 && r->hb * 2 > r->expires) {
        snprintf(err, errcap, "heartbeat value too large");
        rc = -EINVAL;
    }
    return rc;
}

int
st_consumer_pull(struct st_consumer *c, const char *reply, size_t reply_len,
                 const char *body, size_t body_len, int64_t now,
                 struct st_outbox *out)
{
    struct pull_req r;
    char err[256];
    char dur[32];
    int rc;
    if (c == NULL || (c->flags & CF_CLOSED) || reply == NULL
        || reply_len == 0 || reply_len > UINT16_MAX)
        return -EINVAL;
    if (c->cfg.deliver_subject != NULL)
        return status_line(out, reply, reply_len, "409 Consumer is push based");
    if (pull_parse(body, body_len, &r, err, sizeof(err)) < 0)
        return status_line(out, reply, reply_len, "400 Bad Request - %s", err);
    if (c->cfg.max_batch > 0 && r.batch > c->cfg.max_batch)
        return status_line(out, reply, reply_len,
                           "409 Exceeded MaxRequestBatch of %" PRId64,
                           c->cfg.max_batch);
    if (r.expires != 0 && c->cfg.max_expires > 0
        && r.expires > c->cfg.max_expires) {
        go_duration_string(dur, sizeof(dur), c->cfg.max_expires);
        return status_line(out, reply, reply_len,
                           "409 Exceeded MaxRequestExpires of %s", dur);
    }
    if (r.max_bytes > 0 && c->cfg.max_bytes > 0
        && r.max_bytes > c->cfg.max_bytes)
        return status_line(out, reply, reply_len,
                           "409 Exceeded MaxRequestMaxBytes of %" PRId64,
                           c->cfg.max_bytes);
    if (c->wq == NULL && (c->wq = calloc(1, sizeof(*c->wq))) == NULL)
        return -ENOMEM;
    if ((int64_t)c->wq->n >= c->cfg.max_waiting
        && (rc = st_pull_process_waiting(c, now, false, out, NULL, NULL)) < 0)
        return rc;
    if (r.no_wait) {
        uint64_t pending = (c->npc > 0 ? (uint64_t)c->npc : 0) + st_rdq_len(c);
        if (pending == 0 && r.expires == 0) {
            c->wq->last = now;
            c->inact_from = now;
            return status_line(out, reply, reply_len, "404 No Messages");
        }
        if (pending > 0) {
            int64_t brp = 0;
            rc = st_pull_process_waiting(c, now, false, out, &brp, NULL);
            if (rc < 0)
                return rc;
            if ((int64_t)pending < brp) {
                c->wq->last = now;
                c->inact_from = now;
                return status_line(out, reply, reply_len,
                                   "408 Requests Pending");
            }
        }
    }
    struct st_wreq *wr = malloc(sizeof(*wr) + reply_len + 1);
    if (wr == NULL)
        return -ENOMEM;
    *wr = (struct st_wreq){
        .expires = r.expires ? now + r.expires : 0,
        .received = now,
        .hb = r.hb,
        .hbt = r.hb > 0 ? now + r.hb : 0,
        .n = r.batch,
        .b = r.max_bytes,
        .no_wait = r.no_wait,
        .reply_len = (uint16_t)reply_len,
    };
    memcpy(wr->reply, reply, reply_len);
    wr->reply[reply_len] = '\0';
    if ((rc = wq_add(c, wr)) < 0) {
        free(wr);
        if (rc == -ENOMEM)
            return rc;
        return status_line(out, reply, reply_len, "409 Exceeded MaxWaiting");
    }
    c->inact_from = now;
    st_cons_mark_ready(c);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Serving. */

/* processWaiting(): expire requests (and, at the end of the stream,
 * no_wait requests that got something), drop those without interest,
 * send due heartbeats.  *brp = messages still wanted, *fexp = earliest
 * expiry or heartbeat (INT64_MAX none).  -ENOBUFS when out filled up
 * (what was done is consistent). */
int
st_pull_process_waiting(struct st_consumer *c, int64_t now, bool eos,
                        struct st_outbox *out, int64_t *brp, int64_t *fexp)
{
    struct st_waitq *q = c->wq;
    int64_t want = 0, next = INT64_MAX;
    int rc = 0;
    for (uint32_t i = 0; q != NULL && i < q->n;) {
        struct st_wreq *wr = wq_at(q, i);
        if ((eos && wr->no_wait && wr->d > 0)
            || (wr->expires != 0 && now >= wr->expires)) {
            if ((rc = status_pending(out, wr, "408 Request Timeout")) < 0)
                break;
            wq_remove(q, i);
            continue;
        }
        if (!st_pull_interest(c, wr->reply, wr->reply_len)) {
            wq_remove(q, i);
            continue;
        }
        want += wr->n;
        if (wr->hbt != 0) {
            if (now >= wr->hbt) {
                if ((rc = st_cons_heartbeat(c, out, wr->reply,
                                            wr->reply_len)) < 0)
                    break;
                wr->hbt = now + wr->hb;
            }
            if (wr->hbt < next)
                next = wr->hbt;
        }
        if (wr->expires != 0 && wr->expires < next)
            next = wr->expires;
        i++;
    }
    if (brp != NULL)
        *brp = want;
    if (fexp != NULL)
        *fexp = next;
    return rc;
}

/* nextWaiting(): the request that gets a message of `sz` bytes (max_bytes
 * accounting) whose record needs `rec_bytes` besides the reply subject.
 * Expired and too-small requests are finished on the way.  *got = NULL
 * when nobody can take it.  Nothing is changed for the chosen request
 * until st_pull_take(). */
int
st_pull_next_waiting(struct st_consumer *c, int64_t now, int64_t sz,
                     struct st_outbox *out, struct st_wreq **got)
{
    struct st_waitq *q = c->wq;
    *got = NULL;
    while (q != NULL && q->n > 0) {
        struct st_wreq *wr = wq_at(q, 0);
        int rc;
        if (wr->b > 0 && sz > wr->b) {
            if ((rc = status_pending(out, wr,
                                     "409 Message Size Exceeds MaxBytes")) < 0)
                return rc;
            wq_remove(q, 0);
            continue;
        }
        if (wr->expires == 0 || now < wr->expires) {
            if (st_pull_interest(c, wr->reply, wr->reply_len)) {
                *got = wr;
                return 0;
            }
            wq_remove(q, 0);
            continue;
        }
        if ((rc = status_pending(out, wr, "408 Request Timeout")) < 0)
            return rc;
        wq_remove(q, 0);
    }
    return 0;
}

/* The message of `sz` bytes went to the head request (its record is
 * already in the outbox): count it, then rotate or finish the request. */
void
st_pull_take(struct st_consumer *c, int64_t sz, int64_t now)
{
    struct st_waitq *q = c->wq;
    struct st_wreq *wr = wq_at(q, 0);
    if (wr->b > 0) {
        wr->b -= sz;
        if (wr->b == 0)
            wr->n = 1;
    }
    wr->d++;
    wr->n--;
    if (wr->n > 0 && q->n > 1) {
        wq_pop_head(q);
        q->r[(q->head + q->n) % q->cap] = wr;
        q->n++;
    } else if (wr->n <= 0) {
        wq_remove(q, 0);
        wr = NULL;
    }
    if (wr != NULL && wr->hb > 0)
        wr->hbt = now + wr->hb;
    q->last = now;
}

/* Every waiting request gets "409 Consumer Deleted". */
int
st_pull_release_all(struct st_consumer *c, struct st_outbox *out)
{
    struct st_waitq *q = c->wq;
    int rc = 0;
    for (uint32_t i = 0; q != NULL && i < q->n && out != NULL; i++) {
        struct st_wreq *wr = wq_at(q, i);
        int r = st_cons_status(out, wr->reply, wr->reply_len,
                               "NATS/1.0 409 Consumer Deleted\r\n\r\n",
                               strlen("NATS/1.0 409 Consumer Deleted\r\n\r\n"));
        if (r < 0 && rc == 0)
            rc = r;
    }
    st_pull_free(c);
    return rc;
}

/* Earliest expiry or heartbeat of the waiting requests. */
int64_t
st_pull_timer(const struct st_consumer *c)
{
    const struct st_waitq *q = c->wq;
    int64_t t = INT64_MAX;
    for (uint32_t i = 0; q != NULL && i < q->n; i++) {
        const struct st_wreq *wr = wq_at(q, i);
        if (wr->expires != 0 && wr->expires < t)
            t = wr->expires;
        if (wr->hbt != 0 && wr->hbt < t)
            t = wr->hbt;
    }
    return t;
}
