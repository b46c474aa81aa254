/*
 * st_js.c -- the JetStream engine's life cycle (see st_js.h): open and
 * close, the registry hooks that keep one consumer set per stream (with
 * its port subscriptions) in step with the streams, the consumer hooks
 * (created / deleted, interest), the deferred settle work (retention
 * removals, recounts after a store failure), stats and the next
 * deadline.
 *
 * NOTES
 *   Ownership: a struct st_js_stream is created on ST_STREAM_OPENED,
 *   hung on the stream (st_stream_set_user) and freed on
 *   ST_STREAM_DELETING or at close; it owns the consumer set, the
 *   subject copies the set borrows and the stream's publish queues.
 *   Hooks run inside library calls: they record (lists, flags) or pass
 *   a stream event to the consumer set (which never calls back into the
 *   stream layer); removals and recounts are done afterwards by
 *   st_js_settle(), so no library is re-entered from its own callback.
 *   Subscription ids: API ids are fixed (enum st_js_sub); stream
 *   subjects get ids from ST_JS_SUB_STREAMS up, never reused (2^32).
 *   Advisories (nats-server 2.9.10's JSON and subjects): stream
 *   created / updated / deleted, consumer created / deleted (also an
 *   ephemeral's inactivity delete, and every consumer of a deleted
 *   stream before the stream's), max_deliver.  Nothing for what is
 *   restored at open (js->quiet).  The id is 22 random base-62 chars
 *   (a nuid's shape), the timestamp the engine's last `now`.
 *   Errors: allocation failures in hooks are logged; the stream then
 *   lives without a consumer layer (its messages are ignored).
 */
#include "st_js_int.h"

#include "dt_log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- subscriptions ------------------------------------------------------- */

uint32_t
st_js_sub_alloc(struct st_js *js)
{
    if (js->next_sub < ST_JS_SUB_STREAMS)
        js->next_sub = ST_JS_SUB_STREAMS;
    return js->next_sub++;
}

static void
sub(struct st_js *js, uint32_t id, const char *subject)
{
    int rc;

    if (js->port.subscribe == NULL)
        return;
    rc = js->port.subscribe(js->port.arg, id, subject, strlen(subject));
    if (rc < 0)
        dt_warn("storage: subscribe %s: %s", subject, strerror(-rc));
}

static void
unsub(struct st_js *js, uint32_t id)
{
    if (js->port.unsubscribe != NULL)
        (void)js->port.unsubscribe(js->port.arg, id);
}

/* ---- sub id -> stream ----------------------------------------------------- */

static uint32_t
slot_of(uint32_t id, uint32_t mask)
{
    return (id * 2654435761u) & mask;    /* ids are sequential: spread them */
}

struct st_js_stream *
st_js_stream_of_sub(const struct st_js *js, uint32_t id)
{
    if (js->submap_cap == 0 || id == 0)
        return NULL;
    uint32_t mask = js->submap_cap - 1;
    for (uint32_t i = slot_of(id, mask);; i = (i + 1) & mask) {
        if (js->submap[i].id == id)
            return js->submap[i].t;
        if (js->submap[i].id == 0)
            return NULL;
    }
}

static int
submap_grow(struct st_js *js)
{
    uint32_t cap = js->submap_cap ? js->submap_cap * 2 : 64;
    struct st_js_subent *old = js->submap, *n = calloc(cap, sizeof(*n));
    if (n == NULL)
        return -ENOMEM;
    for (uint32_t k = 0; k < js->submap_cap; k++) {
        if (old[k].id == 0)
            continue;
        uint32_t i = slot_of(old[k].id, cap - 1);
        while (n[i].id != 0)
            i = (i + 1) & (cap - 1);
        n[i] = old[k];
    }
    free(old);
    js->submap = n;
    js->submap_cap = cap;
    return 0;
}

/* Without room the publish falls back to matching the registry. */
static void
submap_put(struct st_js *js, uint32_t id, struct st_js_stream *t)
{
    if ((js->submap_n + 1) * 2 > js->submap_cap && submap_grow(js) < 0)
        return;
    uint32_t mask = js->submap_cap - 1, i = slot_of(id, mask);
    while (js->submap[i].id != 0 && js->submap[i].id != id)
        i = (i + 1) & mask;
    if (js->submap[i].id == 0)
        js->submap_n++;
    js->submap[i] = (struct st_js_subent){ id, t };
}

/* Remove id; later entries of its probe run move back (no tombstones). */
static void
submap_del(struct st_js *js, uint32_t id)
{
    if (js->submap_cap == 0)
        return;
    uint32_t mask = js->submap_cap - 1, i = slot_of(id, mask);
    while (js->submap[i].id != id) {
        if (js->submap[i].id == 0)
            return;
        i = (i + 1) & mask;
    }
    js->submap_n--;
    for (uint32_t j = (i + 1) & mask; js->submap[j].id != 0;
         j = (j + 1) & mask) {
        uint32_t home = slot_of(js->submap[j].id, mask);
        /* j's entry may fill the hole at i unless home lies in (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            js->submap[i] = js->submap[j];
            i = j;
        }
    }
    js->submap[i] = (struct st_js_subent){ 0, NULL };
}

/* A stream subject: subscribe and remember whose it is. */
static void
sub_stream(struct st_js_stream *t, uint32_t id, const char *subject)
{
    submap_put(t->js, id, t);
    sub(t->js, id, subject);
}

static void
sub_api(struct st_js *js)
{
    sub(js, ST_JS_SUB_API, "$JS.API.>");
    sub(js, ST_JS_SUB_ACK, "$JS.ACK.>");
    sub(js, ST_JS_SUB_FC, "$JS.FC.>");
}

void
st_js_resubscribe(struct st_js *js)
{
    sub_api(js);
    for (struct st_js_stream *t = js->head; t; t = t->next)
        for (size_t i = 0; i < t->nsubjects; i++)
            sub(js, t->sub_ids[i], t->subjects[i]);
}

/* ---- streams ------------------------------------------------------------- */

static void
free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static int
copy_subjects(const struct st_stream_config *cfg, char ***out)
{
    char **v = calloc(cfg->nsubjects ? cfg->nsubjects : 1, sizeof(*v));

    *out = v;
    if (v == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->nsubjects; i++)
        if ((v[i] = strdup(cfg->subjects[i])) == NULL)
            return -ENOMEM;
    return 0;
}

/* Does anyone listen on subj (a deliver subject, a pull inbox)? */
static bool
h_has_interest(void *arg, const char *subj, size_t len)
{
    const struct st_js_port *p = &((struct st_js_stream *)arg)->js->port;
    return p->has_interest(p->arg, subj, len);
}

/* What the consumer set reads of its stream (again after an update). */
static void
fill_cs(struct st_js_stream *t)
{
    const struct st_stream_config *cfg = st_stream_config(t->s);
    struct st_cons_stream *cs = &t->cs;

    cs->name = t->name;
    cs->store = st_stream_store(t->s);
    cs->retention = (enum st_retention)cfg->retention;
    cs->subjects = (const char *const *)t->subjects;
    cs->nsubjects = t->nsubjects;
    cs->replicas = (int)cfg->num_replicas;
    cs->max_consumers = cfg->max_consumers;
    cs->on_ack = cfg->retention != ST_SRET_LIMITS ? st_js_on_ack : NULL;
    cs->has_interest = t->js->port.has_interest ? h_has_interest : NULL;
    cs->arg = t;
    /* memory streams are not recovered: neither are their consumers */
    cs->state_dir = cfg->storage == ST_SSTORAGE_FILE ? st_stream_dir(t->s)
                                                      : NULL;
    cs->state_sync = t->js->o.sync_always;
}

static void h_cons_event(void *arg, struct st_consumer *c,
                         enum st_cons_event ev);

static void
link_stream(struct st_js *js, struct st_js_stream *t)
{
    t->prev = js->tail;
    t->next = NULL;
    if (js->tail)
        js->tail->next = t;
    else
        js->head = t;
    js->tail = t;
}

static void
unlink_stream(struct st_js *js, struct st_js_stream *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        js->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        js->tail = t->prev;
    t->prev = t->next = NULL;
}

static void
stream_release(struct st_js_stream *t)
{
    st_js_src_free(t);
    free_strv(t->subjects, t->nsubjects);
    free(t->sub_ids);
    free(t->cons.v);
    free(t->push.v);
    free(t->acked);
    free(t->name);
    free(t);
}

/* Unsubscribe (when asked), free the set and everything queued. */
static void
stream_free(struct st_js_stream *t, bool unsubscribe)
{
    struct st_js *js = t->js;

    for (size_t i = 0; i < t->nsubjects; i++) {
        submap_del(js, t->sub_ids[i]);
        if (unsubscribe)
            unsub(js, t->sub_ids[i]);
    }
    st_cons_set_free(t->set);
    st_js_pub_drop(t);
    st_stream_set_user(t->s, NULL);
    unlink_stream(js, t);
    stream_release(t);
}

static int
stream_new(struct st_js *js, struct st_stream *s, struct st_js_stream **out)
{
    const struct st_stream_config *cfg = st_stream_config(s);
    struct st_js_stream *t = calloc(1, sizeof(*t));
    int rc = -ENOMEM;

    if (t == NULL)
        return -ENOMEM;
    t->js = js;
    t->s = s;
    t->timer = INT64_MAX;
    t->touched = true;
    t->nsubjects = cfg->nsubjects;
    t->name = strdup(cfg->name);
    t->sub_ids = calloc(cfg->nsubjects ? cfg->nsubjects : 1,
                        sizeof(*t->sub_ids));
    if (copy_subjects(cfg, &t->subjects) < 0 || t->name == NULL
        || t->sub_ids == NULL)
        goto err;
    fill_cs(t);
    t->cs.on_event = h_cons_event;
    t->cs.on_max_deliver = st_js_on_max_deliver;
    if ((rc = st_cons_set_new(&t->set, &t->cs)) < 0)
        goto err;
    link_stream(js, t);
    st_stream_set_user(s, t);
    *out = t;
    return 0;
err:
    stream_release(t);
    return rc;
}

static void
stream_opened(struct st_js *js, struct st_stream *s)
{
    struct st_js_stream *t;
    struct st_state st;
    size_t loaded = 0;
    int rc = stream_new(js, s, &t);

    if (rc < 0) {
        dt_error("storage: stream '%s': no consumer layer: %s",
                 st_stream_name(s), strerror(-rc));
        return;
    }
    st_stream_state(s, &st);
    t->durable = st.last_seq;      /* what was reopened is on disk */
    if (st_js_src_setup(t) < 0)
        dt_error("storage: stream '%s': mirror/sources not set up: out of "
                 "memory", t->name);
    if (js->ntargets)
        js->flagged = true;     /* a new origin: targets may copy */
    bool quiet = js->quiet;
    st_js_advise_stream(js, t->name, "CREATED", "create");
    js->quiet = true;                   /* restored consumers */
    rc = st_cons_set_load(t->set, js->now, &loaded);
    js->quiet = quiet;
    if (rc < 0)
        dt_error("storage: stream '%s': consumers not restored: %s",
                 t->name, strerror(-rc));
    else if (loaded)
        dt_debug("storage: stream '%s': %zu durable consumers restored",
                 t->name, loaded);
    for (size_t i = 0; i < t->nsubjects; i++) {
        t->sub_ids[i] = st_js_sub_alloc(js);
        sub_stream(t, t->sub_ids[i], t->subjects[i]);
    }
}

static size_t
find_str(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] != NULL && strcmp(v[i], s) == 0)
            return i;
    return SIZE_MAX;
}

/* New subjects: keep the ids of those that stay, subscribe the new ones
 * before dropping the old ones (no gap). */
static void
stream_updated(struct st_js_stream *t)
{
    const struct st_stream_config *cfg = st_stream_config(t->s);
    struct st_js *js = t->js;
    char **nv = NULL;
    uint32_t *ids = calloc(cfg->nsubjects ? cfg->nsubjects : 1,
                           sizeof(*ids));

    if (ids == NULL || copy_subjects(cfg, &nv) < 0) {
        dt_error("storage: stream '%s': update: out of memory", t->name);
        free(ids);
        free_strv(nv, cfg->nsubjects);
        fill_cs(t);             /* limits at least; subjects stay */
        return;
    }
    for (size_t i = 0; i < cfg->nsubjects; i++) {
        size_t o = find_str(t->subjects, t->nsubjects, nv[i]);
        if (o != SIZE_MAX) {
            ids[i] = t->sub_ids[o];
            free(t->subjects[o]);
            t->subjects[o] = NULL;
            continue;
        }
        ids[i] = st_js_sub_alloc(js);
        sub_stream(t, ids[i], nv[i]);
    }
    for (size_t i = 0; i < t->nsubjects; i++)
        if (t->subjects[i] != NULL) {
            submap_del(js, t->sub_ids[i]);
            unsub(js, t->sub_ids[i]);
        }
    free_strv(t->subjects, t->nsubjects);
    free(t->sub_ids);
    t->subjects = nv;
    t->sub_ids = ids;
    t->nsubjects = cfg->nsubjects;
    fill_cs(t);
    t->touched = true;
    if (st_js_src_setup(t) < 0)
        dt_error("storage: stream '%s': update: sources not changed: out "
                 "of memory", t->name);
}

/* ---- registry hooks ------------------------------------------------------ */

static struct st_js_stream *
user(struct st_stream *s)
{
    return st_stream_user(s);
}

static void
h_stream(void *arg, struct st_stream *s, enum st_stream_event ev)
{
    struct st_js *js = arg;
    struct st_js_stream *t = user(s);

    if (ev == ST_STREAM_OPENED) {
        stream_opened(js, s);
    } else if (ev == ST_STREAM_UPDATED && t != NULL) {
        stream_updated(t);
        st_js_advise_stream(js, t->name, "UPDATED", "modify");
    } else if (ev == ST_STREAM_DELETING && t != NULL) {
        st_js_advise_stream_gone(t);
        stream_free(t, true);
    }
}

/* A stream's republish copy: a plain core publish, in output order. */
static void
h_republish(void *arg, struct st_stream *s, const char *subj, size_t subj_len,
            const void *hdr, size_t hdr_len, const void *data,
            size_t data_len)
{
    struct st_js_parts p = {
        .subj = subj, .subj_len = subj_len, .hdr = hdr, .hdr_len = hdr_len,
        .data = data, .data_len = data_len,
    };

    (void)s;
    st_js_send(arg, &p);
}

static void
h_append(void *arg, struct st_stream *s, uint64_t seq, const char *subj,
         size_t len)
{
    struct st_js *js = arg;
    struct st_js_stream *t = user(s);

    if (js->ntargets)
        js->flagged = true;     /* mirrors/sources copy it once durable */
    if (t == NULL)
        return;
    st_cons_set_on_append(t->set, seq, subj, len);
    t->touched = true;
}

/* Consumers whose filter matches drop one from num_pending (when not
 * delivered yet) or their pending delivery of it.  A retention removal
 * (nobody needs the message) changes no count, and is told all the
 * same: a consumer created since the ack may count it. */
static void
h_remove(void *arg, struct st_stream *s, uint64_t seq, const char *subj,
         size_t len)
{
    struct st_js *js = arg;
    struct st_js_stream *t = user(s);

    if (t == NULL)
        return;
    st_cons_set_on_remove(t->set, seq, subj, len, js->now);
    t->touched = true;
}

static void
h_purge(void *arg, struct st_stream *s, uint64_t first_seq, uint64_t last_seq)
{
    struct st_js *js = arg;
    struct st_js_stream *t = user(s);

    if (t == NULL)
        return;
    st_cons_set_on_purge(t->set, first_seq, last_seq, js->now);
    t->touched = true;
}

/* Interest retention: is there a consumer for a new message on subj? */
static bool
h_interest(void *arg, struct st_stream *s, const char *subj, size_t len)
{
    struct st_js_stream *t = user(s);

    (void)arg;
    if (t == NULL)
        return true;            /* no consumer layer: keep everything */
    for (size_t i = 0; i < t->cons.n; i++)
        if (st_consumer_needs_ack(t->cons.v[i], UINT64_MAX, subj, len))
            return true;
    return false;
}

static uint64_t
h_count(void *arg, struct st_stream *s)
{
    struct st_js_stream *t = user(s);

    (void)arg;
    return t != NULL ? st_cons_set_count(t->set) : 0;
}

/* ---- consumer hooks ------------------------------------------------------ */

static int
cvec_add(struct st_js_cvec *cv, struct st_consumer *c)
{
    if (cv->n == cv->cap) {
        size_t n = cv->cap ? cv->cap * 2 : 8;
        struct st_consumer **v = realloc(cv->v, n * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        cv->v = v;
        cv->cap = n;
    }
    cv->v[cv->n++] = c;
    return 0;
}

static void
cvec_del(struct st_js_cvec *cv, struct st_consumer *c)
{
    for (size_t i = 0; i < cv->n; i++)
        if (cv->v[i] == c) {
            cv->v[i] = cv->v[--cv->n];
            return;
        }
}

/* Retention streams track their consumers for needs_ack(); a consumer
 * leaving an interest stream may leave messages nobody needs. */
static void
h_cons_event(void *arg, struct st_consumer *c, enum st_cons_event ev)
{
    struct st_js_stream *t = arg;

    t->touched = true;
    st_js_advise_consumer(t->js, t->name, c, ev == ST_CONS_CREATED);
    if (!st_consumer_is_pull(c)) {
        if (ev == ST_CONS_DELETED)
            cvec_del(&t->push, c);
        else if (cvec_add(&t->push, c) < 0)
            dt_error("storage: stream '%s': consumer %s not tracked for "
                     "interest", t->name, st_consumer_name(c));
    }
    if (t->cs.retention == ST_RET_LIMITS)
        return;
    if (ev == ST_CONS_CREATED) {
        if (cvec_add(&t->cons, c) < 0)
            dt_error("storage: stream '%s': consumer %s not tracked for "
                     "retention", t->name, st_consumer_name(c));
        return;
    }
    cvec_del(&t->cons, c);
    if (t->cs.retention == ST_RET_INTEREST) {
        t->recheck = 1;
        t->js->flagged = true;
    }
}

/* ---- settle -------------------------------------------------------------- */

/* The store went back to what is on disk: let every consumer recount
 * its pending (the purge event with the current first sequence does
 * exactly that). */
static void
recount(struct st_js_stream *t)
{
    struct st_state st;

    st_store_state(st_stream_store(t->s), &st);
    st_cons_set_on_purge(t->set, st.first_seq, st.last_seq, t->js->now);
    t->recount = false;
    t->touched = true;
}

void
st_js_settle(struct st_js *js)
{
    bool more = false;

    if (!js->flagged)
        return;
    /* hooks may flag again while this runs: that is kept */
    js->flagged = false;
    for (struct st_js_stream *t = js->head; t; t = t->next) {
        if (t->nsrc)
            more |= st_js_src_walk(t, ST_JS_SRC_BUDGET);
        if (t->nacked)
            st_js_retire(t);
        if (t->recheck)
            st_js_recheck(t, ST_JS_SCAN_BUDGET);
        if (t->recount)
            recount(t);
        more |= t->recheck != 0 || t->nacked != 0;
    }
    js->flagged |= more;
}

/* ---- open / close -------------------------------------------------------- */

static int
reg_open(struct st_js *js)
{
    struct st_registry_opts ro;

    memset(&ro, 0, sizeof(ro));
    ro.dir = js->dir;
    ro.io = js->o.io;
    ro.store.sync = js->o.sync_always ? ST_SYNC_ALWAYS : ST_SYNC_INTERVAL;
    ro.store.sync_interval_ns = js->o.sync_interval_ns > 0
                                    ? (uint64_t)js->o.sync_interval_ns
                                    : (uint64_t)ST_JS_SYNC_DEFAULT;
    ro.on_done = st_js_on_done;
    ro.on_done_arg = js;
    ro.hooks.arg = js;
    ro.hooks.on_stream = h_stream;
    ro.hooks.on_append = h_append;
    ro.hooks.on_remove = h_remove;
    ro.hooks.on_purge = h_purge;
    ro.hooks.has_interest = h_interest;
    ro.hooks.consumer_count = h_count;
    ro.hooks.source_info = st_js_src_info;
    ro.hooks.republish = h_republish;
    ro.max_memory = js->o.max_memory;
    ro.max_store = js->o.max_store;
    return st_registry_open(&js->reg, &ro);
}

static void
js_free(struct st_js *js)
{
    while (js->head != NULL)
        stream_free(js->head, false);
    st_registry_close(js->reg);
    st_outbox_free(&js->ob);
    dt_buf_free(&js->ack);
    dt_buf_free(&js->errbuf);
    dt_buf_free(&js->resp);
    dt_buf_free(&js->scratch);
    dt_buf_free(&js->srcmsg);
    dt_buf_free(&js->srchdr);
    st_api_out_free(&js->api);
    st_js_fifo_clear(&js->out);
    st_js_fifo_clear(&js->ready);
    st_js_fifo_clear(&js->held);
    free(js->submap);
    free(js->dir);
    free(js);
}

int
st_js_open(struct st_js **out, const struct st_js_opts *opts,
           const struct st_js_port *port, int64_t now)
{
    struct st_js *js;
    int rc;

    *out = NULL;
    if (opts == NULL || opts->dir == NULL || opts->io == NULL || port == NULL
        || port->publish == NULL)
        return -EINVAL;
    js = calloc(1, sizeof(*js));
    if (js == NULL)
        return -ENOMEM;
    js->o = *opts;
    js->port = *port;
    js->dir = strdup(opts->dir);
    js->o.dir = js->dir;
    js->now = now;
    js->mono = now;
    js->next_tick = js->mono + ST_JS_TICK_NS;
    js->next_flush = js->mono + ST_JS_FLUSH_NS;
    js->next_sub = ST_JS_SUB_STREAMS;
    st_outbox_init(&js->ob, 0, 0);
    if (js->dir == NULL) {
        js_free(js);
        return -ENOMEM;
    }
    sub_api(js);
    js->quiet = true;                   /* streams restored: no advisories */
    rc = reg_open(js);
    js->quiet = false;
    if (rc < 0) {
        dt_error("storage: %s: %s", opts->dir, strerror(-rc));
        unsub(js, ST_JS_SUB_API);
        unsub(js, ST_JS_SUB_ACK);
        unsub(js, ST_JS_SUB_FC);
        js_free(js);
        return rc;
    }
    *out = js;
    return 0;
}

/* Make what is queued durable and answer it: retry waiting publishes
 * between syncs (bounded), then send the replies once. */
static void
close_flush(struct st_js *js)
{
    for (int round = 0; round < 64; round++) {
        for (struct st_js_stream *t = js->head; t; t = t->next)
            (void)st_store_sync(st_stream_store(t->s));
        if (js->pubq_bytes == 0)
            break;
        st_js_pub_retry(js, js->now);
    }
    st_js_settle(js);
    st_js_release(js);
    st_js_drain(js);
}

void
st_js_close(struct st_js *js)
{
    if (js == NULL)
        return;
    close_flush(js);
    unsub(js, ST_JS_SUB_API);
    unsub(js, ST_JS_SUB_ACK);
    unsub(js, ST_JS_SUB_FC);
    for (struct st_js_stream *t = js->head; t; t = t->next)
        for (size_t i = 0; i < t->nsubjects; i++)
            unsub(js, t->sub_ids[i]);
    if (js->out.n)
        dt_warn("storage: %zu messages not delivered at close", js->out.n);
    js_free(js);
}

void
st_js_interest_changed(struct st_js *js, int64_t now)
{
    if (js == NULL || js->port.has_interest == NULL)
        return;
    for (struct st_js_stream *t = js->head; t; t = t->next) {
        for (size_t i = 0; i < t->push.n; i++) {
            struct st_consumer *c = t->push.v[i];
            const char *ds = st_consumer_config(c)->deliver_subject;
            st_consumer_set_active(c, ds != NULL &&
                                   h_has_interest(t, ds, strlen(ds)), now);
        }
        if (t->push.n)
            t->touched = true;
    }
}

/* ---- stats, deadline ----------------------------------------------------- */

void
st_js_stats(const struct st_js *js, struct st_js_stats *out)
{
    struct st_registry_usage u;

    memset(out, 0, sizeof(*out));
    out->streams = st_registry_count(js->reg);
    for (struct st_js_stream *t = js->head; t; t = t->next) {
        struct st_state st;
        st_store_state(st_stream_store(t->s), &st);
        out->consumers += st_cons_set_count(t->set);
        out->messages += st.msgs;
        out->bytes += st.bytes;
        if (st_stream_config(t->s)->storage == ST_SSTORAGE_MEMORY)
            out->memory += st.bytes;
        else
            out->store += st.bytes;
    }
    st_registry_api_stats(js->reg, &out->api_total, &out->api_errors);
    st_registry_usage(js->reg, &u);
    out->reserved_memory = (uint64_t)u.reserved_memory;
    out->reserved_store = (uint64_t)u.reserved_store;
    out->dropped = js->dropped;
    out->backlog = js->out.bytes;
    for (struct st_js_stream *t = js->head; t; t = t->next)
        out->pub_waiting += t->pubq.n;
}

static int64_t
min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int64_t
st_js_next_deadline(const struct st_js *js)
{
    int64_t d;

    if (js->ready.head || js->held.head || js->flagged)
        return js->now;
    d = js->now + (min64(js->next_tick, js->next_flush) - js->mono);
    if (js->out.head)
        d = min64(d, js->now + ST_JS_RETRY_NS);
    if (js->pubq_bytes)
        d = min64(d, js->now + ST_JS_PUBQ_RETRY_NS);
    for (const struct st_js_stream *t = js->head; t; t = t->next)
        d = min64(d, t->touched ? st_cons_set_next_timer(t->set) : t->timer);
    return d < js->now ? js->now : d;
}
