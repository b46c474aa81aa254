/*
 * st_js_src.c -- the JetStream engine's mirrors and sources (streams on
 * this server only): copy each durable origin message into the streams
 * that mirror or source it, catch up existing messages in bounded steps
 * per st_js_run(), find how far a copy got again after a restart (a
 * mirror: its last sequence; a source: the last Nats-Stream-Source header
 * naming the origin), and report StreamInfo's "mirror" / "sources".
 *
 * NOTES
 *   A mirror keeps the origin's sequences and timestamps (origin gaps stay
 *   gaps); a source appends through the normal publish path with
 *   "Nats-Stream-Source: <origin> <seq>" after the origin's headers, as
 *   nats-server 2.9.10 does.  Only messages the origin has made durable
 *   are copied, so a crash never leaves a copy of what the origin lost.
 */
#include "st_js_int.h"

#include "dt_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- mirrors and sources ------------------------------------------------- */

static void
src_clear(struct st_js_src *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].origin);
        free(v[i].filter);
    }
    free(v);
}

void
st_js_src_free(struct st_js_stream *t)
{
    if (t->nsrc)
        t->js->ntargets--;
    src_clear(t->src, t->nsrc);
    t->src = NULL;
    t->nsrc = 0;
    t->mirror = false;
}

static int
src_fill(struct st_js_src *d, const struct st_stream_source *ss)
{
    d->origin = strdup(ss->name ? ss->name : "");
    d->filter = ss->filter_subject && *ss->filter_subject
                    ? strdup(ss->filter_subject) : NULL;
    d->start_seq = ss->opt_start_seq;
    d->start_time = ss->opt_start_time;
    d->has_time = ss->has_start_time;
    if (d->origin == NULL
        || (ss->filter_subject && *ss->filter_subject && d->filter == NULL))
        return -ENOMEM;
    return 0;
}

static bool
str_same(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* An origin that stays (same name and filter) keeps its position. */
static void
src_carry(struct st_js_src *d, const struct st_js_src *old, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(old[i].origin, d->origin) == 0
            && str_same(old[i].filter, d->filter)) {
            d->init = old[i].init;
            d->pos = old[i].pos;
            d->active = old[i].active;
            return;
        }
}

/* The config's mirror or sources; sources naming the same stream
 * collapse into the last one, as nats-server keys them by name. */
int
st_js_src_setup(struct st_js_stream *t)
{
    const struct st_stream_config *cfg = st_stream_config(t->s);
    size_t want = cfg->mirror ? 1 : cfg->nsources, n = 0;
    struct st_js_src *v = NULL;

    if (want && (v = calloc(want, sizeof(*v))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < want; i++) {
        const struct st_stream_source *ss = cfg->mirror ? cfg->mirror
                                                        : &cfg->sources[i];
        size_t k = n;
        for (size_t j = 0; j < n; j++)
            if (strcmp(v[j].origin, ss->name ? ss->name : "") == 0)
                k = j;
        if (k < n) {
            free(v[k].origin);
            free(v[k].filter);
            memset(&v[k], 0, sizeof(v[k]));
        } else
            n++;
        if (src_fill(&v[k], ss) < 0) {
            src_clear(v, n);
            return -ENOMEM;
        }
        v[k].active = t->js->now;
        src_carry(&v[k], t->src, t->nsrc);
    }
    st_js_src_free(t);
    t->src = v;
    t->nsrc = n;
    t->mirror = cfg->mirror != NULL;
    if (n) {
        t->js->ntargets++;
        t->js->flagged = true;
    }
    return 0;
}

/* The sequence of the last "Nats-Stream-Source: <origin> <seq>" line of
 * a header block (0 when none names origin). */
static uint64_t
hdr_source_seq(const char *h, size_t n, const char *origin)
{
    static const char key[] = "Nats-Stream-Source:";
    size_t ol = strlen(origin);
    uint64_t seq = 0;

    for (size_t i = 0; i < n;) {
        const char *eol = memchr(h + i, '\n', n - i);
        size_t ll = eol ? (size_t)(eol - (h + i)) : n - i;
        const char *l = h + i;
        if (ll > sizeof(key) - 1 && memcmp(l, key, sizeof(key) - 1) == 0) {
            size_t p = sizeof(key) - 1;
            while (p < ll && l[p] == ' ')
                p++;
            if (ll - p > ol + 1 && memcmp(l + p, origin, ol) == 0
                && l[p + ol] == ' ') {
                uint64_t v = 0;
                for (p += ol + 1; p < ll && l[p] >= '0' && l[p] <= '9'; p++)
                    v = v * 10 + (uint64_t)(l[p] - '0');
                seq = v;
            }
        }
        i += ll + 1;
    }
    return seq;
}

/* Where a source got: its last message in the target, newest first (as
 * nats-server's startingSequenceForSources does). */
static uint64_t
last_sourced(struct st_js_stream *t, const char *origin)
{
    struct st_store *st = st_stream_store(t->s);
    struct dt_buf *b = &t->js->srcmsg;
    struct st_state ss;
    struct st_msg m;

    st_store_state(st, &ss);
    for (uint64_t q = ss.last_seq; q >= ss.first_seq && q > 0; q--) {
        uint64_t v;
        if (st_store_get(st, q, &m, b) < 0 || m.hdr_len == 0)
            continue;
        if ((v = hdr_source_seq(m.hdr, m.hdr_len, origin)) != 0)
            return v;
    }
    return 0;
}

/* The last origin sequence before opt_start_time (its last when every
 * message is older). */
static uint64_t
seq_before_time(struct st_stream *o, int64_t ts, struct dt_buf *b)
{
    struct st_store *st = st_stream_store(o);
    struct st_state ss;
    struct st_msg m;
    uint64_t q = 1;

    st_store_state(st, &ss);
    while (st_store_next(st, q, NULL, 0, &m, b) == 0) {
        if (m.ts >= ts)
            return m.seq - 1;
        q = m.seq + 1;
    }
    return ss.last_seq;
}

static int
src_init(struct st_js_stream *t, struct st_js_src *src, struct st_stream *o)
{
    struct st_state ss;

    if (t->mirror) {
        st_stream_state(t->s, &ss);
        src->pos = ss.last_seq;
    } else
        src->pos = last_sourced(t, src->origin);
    if (src->pos == 0 && src->start_seq > 0)
        src->pos = src->start_seq - 1;
    else if (src->pos == 0 && src->has_time)
        src->pos = seq_before_time(o, src->start_time, &t->js->srcmsg);
    src->init = true;
    return 0;
}

/* A source's copy: the origin's header (if any) plus Nats-Stream-Source
 * "<origin> <seq>", appended as nats-server's genHeader does. */
static int
source_copy(struct st_js_stream *t, const struct st_js_src *src,
            const struct st_msg *m, struct st_pub_result *res)
{
    struct dt_buf *h = &t->js->srchdr;

    h->len = 0;
    if (m->hdr_len > 4)
        dt_buf_append(h, m->hdr, m->hdr_len - 2);
    else
        dt_buf_append(h, "NATS/1.0\r\n", 10);
    if (dt_buf_printf(h, "Nats-Stream-Source: %s %llu\r\n\r\n", src->origin,
                      (unsigned long long)m->seq) < 0)
        return -ENOMEM;
    return st_stream_publish(t->s, m->subj, m->subj_len, NULL, 0, h->data,
                             h->len, m->data, m->data_len, t->js->now, res,
                             NULL);
}

static int
copy_one(struct st_js_stream *t, const struct st_js_src *src,
         const struct st_msg *m)
{
    struct st_pub_result res;
    int rc;

    if (t->mirror)
        return st_stream_mirror_append(t->s, m->seq, m->ts, m->subj,
                                       m->subj_len, m->hdr, m->hdr_len,
                                       m->data, m->data_len, t->js->now,
                                       NULL);
    rc = source_copy(t, src, m, &res);
    if (rc == 0 && res.status == ST_PUB_ERROR)
        dt_debug("storage: stream '%s': source '%s' message %llu: %s",
                 t->name, src->origin, (unsigned long long)m->seq,
                 res.err.description);
    return rc;
}

/* Copy one origin's durable messages after src->pos; false when the
 * target's buffers are busy (its on_done will call again). */
static bool
src_pull(struct st_js_stream *t, struct st_js_src *src, struct st_stream *o,
         unsigned *budget)
{
    struct st_js_stream *ot = st_stream_user(o);
    struct st_store *ost = st_stream_store(o);
    struct dt_buf *b = &t->js->srcmsg;
    size_t fl = src->filter ? strlen(src->filter) : 0;
    struct st_state ss;
    struct st_msg m;
    uint64_t limit;
    int rc;

    st_store_state(ost, &ss);
    limit = ot != NULL && ot->durable < ss.last_seq ? ot->durable
                                                    : ss.last_seq;
    while (*budget > 0 && src->pos < limit) {
        rc = st_store_next(ost, src->pos + 1, src->filter, fl, &m, b);
        if (rc == -ENOENT || (rc == 0 && m.seq > limit)) {
            src->pos = limit;
            break;
        }
        if (rc == 0 && (rc = copy_one(t, src, &m)) == -EAGAIN)
            return false;
        if (rc < 0)
            dt_warn("storage: stream '%s': %s '%s' message %llu not "
                    "copied: %s", t->name, t->mirror ? "mirror" : "source",
                    src->origin, (unsigned long long)src->pos + 1,
                    strerror(-rc));
        src->pos = rc == 0 || rc == -EINVAL || rc == -EMSGSIZE ? m.seq
                                                               : src->pos + 1;
        src->active = t->js->now;
        (*budget)--;
    }
    return true;
}

bool
st_js_src_walk(struct st_js_stream *t, unsigned budget)
{
    struct st_registry *reg = t->js->reg;

    for (size_t i = 0; i < t->nsrc; i++) {
        struct st_js_src *src = &t->src[i];
        struct st_stream *o = st_registry_find(reg, src->origin,
                                               strlen(src->origin));
        if (o == NULL || o == t->s)
            continue;
        if (!src->init)
            (void)src_init(t, src, o);
        if (!src_pull(t, src, o, &budget))
            return false;
    }
    return budget == 0;
}

static void
src_info_one(struct st_js_stream *t, const struct st_js_src *src,
             struct dt_jw *w)
{
    struct st_registry *reg = t->js->reg;
    struct st_stream *o = st_registry_find(reg, src->origin,
                                           strlen(src->origin));
    struct st_state ss = { 0 };
    int64_t since;

    if (o != NULL)
        st_store_state(st_stream_store(o), &ss);
    dt_jw_begin_object(w);
    dt_jw_kstr(w, "name", src->origin);
    dt_jw_kuint(w, "lag", o != NULL && src->init && ss.last_seq > src->pos
                              ? ss.last_seq - src->pos : 0);
    if (o == NULL) {
        dt_jw_kint(w, "active", -1);
        dt_jw_key(w, "error");
        dt_jw_begin_object(w);
        dt_jw_kint(w, "code", 404);
        dt_jw_kint(w, "err_code", 10059);
        dt_jw_kstr(w, "description", "stream not found");
        dt_jw_end_object(w);
    } else {
        /* nats-server's source consumer hears a heartbeat every second
         * when idle: "active" never grows past that */
        since = t->js->now - src->active;
        if (since < 0)
            since = 0;
        dt_jw_kint(w, "active", since % ST_JS_SRC_HB_NS);
    }
    dt_jw_end_object(w);
}

void
st_js_src_info(void *arg, struct st_stream *s, struct dt_jw *w)
{
    struct st_js_stream *t = st_stream_user(s);

    (void)arg;
    if (t == NULL || t->nsrc == 0)
        return;
    if (t->mirror) {
        dt_jw_key(w, "mirror");
        src_info_one(t, &t->src[0], w);
        return;
    }
    dt_jw_key(w, "sources");
    dt_jw_begin_array(w);
    for (size_t i = 0; i < t->nsrc; i++)
        src_info_one(t, &t->src[i], w);
    dt_jw_end_array(w);
}
