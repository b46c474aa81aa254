/*
 * st_api_stream.c -- $JS.API.INFO, $JS.API.STREAM.* and
 * $JS.API.DIRECT.GET.* for the stream registry: request parsing, the
 * order of nats-server's checks, and its JSON answers (types, members,
 * order, omitempty, error codes and words) -- see st_api.h.
 *
 * NOTES
 *   One table maps subject prefixes to handlers; a handler reads the
 *   body, acts through st_stream.h and writes the whole answer.  API
 *   errors go through api_error() so that each response type carries the
 *   extra members nats-server adds to its errors (paging fields, purged,
 *   streams null/[]).
 *   Ownership: everything is built in the caller's st_api_out.
 *   Errors: handlers return an enum st_api_rc or -errno (out of memory
 *   or the answer did not fit the caller's buffer cap).
 */
#include "st_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dt_subject.h"

#define API_PREFIX "$JS.API."
#define T_PREFIX "io.nats.jetstream.api.v1."

struct api_ctx {
    struct st_registry *r;
    const char *name;       /* the stream token, or NULL */
    size_t name_len;
    const char *rest;       /* DIRECT.GET: subject after the stream */
    size_t rest_len;
    const char *body;
    size_t blen;
    int64_t now;
    struct st_api_out *out;
    struct dt_jw w;
};

/* Extra members nats-server puts after "error" for some responses. */
enum err_extra {
    X_NONE,
    X_PAGED,                /* total, offset, limit = 0 */
    X_NAMES,                /* ... and "streams":null */
    X_LIST,                 /* ... and "streams":[] */
    X_PURGED,               /* "purged":0 */
};

/* ---- helpers ------------------------------------------------------------- */

void
st_api_out_free(struct st_api_out *o)
{
    dt_buf_free(&o->hdr);
    dt_buf_free(&o->data);
}

size_t
st_api_time(char *dst, size_t cap, int64_t ns)
{
    struct tm tm;
    time_t sec;
    char frac[16] = "";
    int n;

    if (ns <= 0)
        return (size_t)snprintf(dst, cap, "0001-01-01T00:00:00Z");
    sec = (time_t)(ns / 1000000000);
    gmtime_r(&sec, &tm);
    long nsec = (long)(ns % 1000000000);
    if (nsec) {
        /* ".ddddddddd", then RFC3339Nano trims trailing zeros; nsec != 0
         * so at least one digit stays */
        int fl = snprintf(frac, sizeof(frac), ".%09ld", nsec);
        while (fl > 1 && fl < (int)sizeof(frac) && frac[fl - 1] == '0')
            frac[--fl] = '\0';
    }
    n = snprintf(dst, cap, "%04d-%02d-%02dT%02d:%02d:%02d%sZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, frac);
    return n < 0 ? 0 : (size_t)n;
}

static void
jw_time(struct dt_jw *w, const char *key, int64_t ns)
{
    char t[64];

    st_api_time(t, sizeof(t), ns);
    dt_jw_kstr(w, key, t);
}

static int
jw_base64(struct dt_jw *w, const char *key, const void *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    size_t olen = (n + 2) / 3 * 4, o = 0;
    char *b = malloc(olen + 1);

    if (b == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        b[o++] = tab[(v >> 18) & 63];
        b[o++] = tab[(v >> 12) & 63];
        b[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        b[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    dt_jw_key(w, key);
    dt_jw_strn(w, b, o);
    free(b);
    return 0;
}


static void
begin(struct api_ctx *c, const char *type)
{
    char t[96];

    snprintf(t, sizeof(t), T_PREFIX "%s", type);
    dt_jw_init(&c->w, &c->out->data, false);
    dt_jw_begin_object(&c->w);
    dt_jw_kstr(&c->w, "type", t);
}

static int
finish(struct api_ctx *c)
{
    dt_jw_end_object(&c->w);
    int rc = dt_jw_finish(&c->w);
    return rc < 0 ? rc : ST_API_REPLY;
}

/* An error answer; `counts` says whether nats-server counts it in the
 * account's API errors (it does not for a message delete that found
 * nothing: those go out as ordinary responses). */
static int
api_error_as(struct api_ctx *c, const char *type, const struct st_jserr *e,
             enum err_extra x, bool counts)
{
    st_registry_api_count(c->r, counts);
    begin(c, type);
    st_jserr_json(&c->w, e);
    if (x == X_PAGED || x == X_NAMES || x == X_LIST) {
        dt_jw_kint(&c->w, "total", 0);
        dt_jw_kint(&c->w, "offset", 0);
        dt_jw_kint(&c->w, "limit", 0);
    }
    if (x == X_NAMES) {
        dt_jw_key(&c->w, "streams");
        dt_jw_null(&c->w);
    } else if (x == X_LIST) {
        dt_jw_key(&c->w, "streams");
        dt_jw_begin_array(&c->w);
        dt_jw_end_array(&c->w);
    } else if (x == X_PURGED) {
        dt_jw_kint(&c->w, "purged", 0);
    }
    return finish(c);
}

static int
api_error(struct api_ctx *c, const char *type, const struct st_jserr *e,
          enum err_extra x)
{
    return api_error_as(c, type, e, x, true);
}

static int
api_error_code(struct api_ctx *c, const char *type, int code, int err_code,
               const char *desc, enum err_extra x)
{
    struct st_jserr e;

    st_jserr_set(&e, code, err_code, "%s", desc);
    return api_error(c, type, &e, x);
}

static int
bad_json(struct api_ctx *c, const char *type, enum err_extra x)
{
    return api_error_code(c, type, 400, 10025, "invalid JSON", x);
}

static int
bad_request(struct api_ctx *c, const char *type, enum err_extra x)
{
    return api_error_code(c, type, 400, 10003, "bad request", x);
}

static int
not_found(struct api_ctx *c, const char *type, enum err_extra x)
{
    return api_error_code(c, type, 404, 10059, "stream not found", x);
}

/* A request body Go could unmarshal into a struct: an object, or null
 * (which leaves every member at its zero value). */
static bool
req_shape(const struct dt_json *root)
{
    return dt_json_is(root, DT_JSON_OBJECT) || dt_json_is_null(root);
}

/* The body as JSON: 0 with *doc (NULL when empty per isEmptyRequest:
 * nothing, or an object without members), -EINVAL when it is not JSON
 * or not of a request's shape. */
static int
body_json(const struct api_ctx *c, struct dt_json_doc **doc)
{
    *doc = NULL;
    if (c->blen == 0)
        return 0;
    int rc = dt_json_parse(c->body, c->blen, 0, doc, NULL);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0)
        return -EINVAL;
    const struct dt_json *root = dt_json_root(*doc);
    if (dt_json_is(root, DT_JSON_OBJECT) && dt_json_count(root) == 0) {
        dt_json_free(*doc);
        *doc = NULL;
    }
    return *doc == NULL || req_shape(root) ? 0 : -EINVAL;
}

/* Typed members with Go's rules: absent or null leaves the default. */
static int
get_u64(const struct dt_json *o, const char *key, uint64_t *out)
{
    const struct dt_json *v = dt_json_get_fold(o, key);

    if (v == NULL || dt_json_is_null(v))
        return 0;
    return dt_json_uint64(v, out) < 0 ? -EINVAL : 0;
}

static int
get_i64(const struct dt_json *o, const char *key, int64_t *out)
{
    const struct dt_json *v = dt_json_get_fold(o, key);

    if (v == NULL || dt_json_is_null(v))
        return 0;
    return dt_json_int64(v, out) < 0 ? -EINVAL : 0;
}

static int
get_bool(const struct dt_json *o, const char *key, bool *out)
{
    const struct dt_json *v = dt_json_get_fold(o, key);

    if (v == NULL || dt_json_is_null(v))
        return 0;
    return dt_json_bool(v, out) < 0 ? -EINVAL : 0;
}

static int
get_str(const struct dt_json *o, const char *key, const char **s, size_t *n)
{
    const struct dt_json *v = dt_json_get_fold(o, key);

    if (v == NULL || dt_json_is_null(v))
        return 0;
    return dt_json_str(v, s, n) < 0 ? -EINVAL : 0;
}

static struct st_stream *
lookup(const struct api_ctx *c)
{
    return st_registry_find(c->r, c->name, c->name_len);
}

/* ---- stream info --------------------------------------------------------- */

struct subj_ent {
    char *s;
    size_t len;
    uint64_t msgs;
};

struct subj_list {
    struct subj_ent *v;
    size_t n, cap;
    int err;
};

static int
subj_collect(void *arg, const char *subj, size_t len, uint64_t msgs)
{
    struct subj_list *l = arg;

    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        struct subj_ent *v = realloc(l->v, ncap * sizeof(*v));
        if (v == NULL)
            return l->err = -ENOMEM;
        l->v = v;
        l->cap = ncap;
    }
    l->v[l->n].s = malloc(len ? len : 1);
    if (l->v[l->n].s == NULL)
        return l->err = -ENOMEM;
    memcpy(l->v[l->n].s, subj, len);
    l->v[l->n].len = len;
    l->v[l->n].msgs = msgs;
    l->n++;
    return 0;
}

static int
subj_cmp(const void *a, const void *b)
{
    const struct subj_ent *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);

    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void
subj_free(struct subj_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].s);
    free(l->v);
}

/* What a stream info answer includes besides config/created/state. */
struct info_req {
    bool deleted;
    struct subj_list subjects;      /* sorted; page [off, off + lim) */
    size_t off;
    size_t lim;
};

static int
jw_deleted_one(void *arg, uint64_t seq)
{
    return dt_jw_uint64(arg, seq);
}

static void
jw_state(struct dt_jw *w, struct st_stream *s, const struct info_req *q)
{
    struct st_state st;

    st_stream_state(s, &st);
    dt_jw_key(w, "state");
    dt_jw_begin_object(w);
    dt_jw_kuint(w, "messages", st.msgs);
    dt_jw_kuint(w, "bytes", st.bytes);
    dt_jw_kuint(w, "first_seq", st.first_seq);
    jw_time(w, "first_ts", st.msgs ? st.first_ts : 0);
    dt_jw_kuint(w, "last_seq", st.last_seq);
    jw_time(w, "last_ts", st.last_ts);
    if (st.num_subjects)
        dt_jw_kuint(w, "num_subjects", st.num_subjects);
    if (q && q->off < q->subjects.n) {
        dt_jw_key(w, "subjects");
        dt_jw_begin_object(w);
        for (size_t i = q->off; i < q->subjects.n && i < q->off + q->lim;
             i++) {
            dt_jw_keyn(w, q->subjects.v[i].s, q->subjects.v[i].len);
            dt_jw_uint64(w, q->subjects.v[i].msgs);
        }
        dt_jw_end_object(w);
    }
    if (st.num_deleted)
        dt_jw_kuint(w, "num_deleted", st.num_deleted);
    if (q && q->deleted && st.num_deleted) {
        dt_jw_key(w, "deleted");
        dt_jw_begin_array(w);
        st_stream_deleted(s, 0, jw_deleted_one, w);
        dt_jw_end_array(w);
    }
    dt_jw_kuint(w, "consumer_count", st_stream_consumer_count(s));
    dt_jw_end_object(w);
}

static int
info_members(struct dt_jw *w, struct st_stream *s, const struct info_req *q)
{
    dt_jw_key(w, "config");
    st_stream_config_json(w, st_stream_config(s));
    jw_time(w, "created", st_stream_created(s));
    jw_state(w, s, q);
    return w->err;
}

/* StreamInfo with the mirror / sources state (not in a create reply:
 * nats-server has none yet then). */
static int
info_full(struct dt_jw *w, struct st_stream *s, const struct info_req *q)
{
    const struct st_stream_hooks *h = st_registry_hooks(st_stream_registry(s));

    info_members(w, s, q);
    if (h->source_info)
        h->source_info(h->arg, s, w);
    return w->err;
}

int
st_api_stream_info_members(struct dt_jw *w, struct st_stream *s)
{
    return info_members(w, s, NULL);
}

/* ---- handlers ------------------------------------------------------------ */

#define T_INFO "stream_info_response"
#define T_CREATE "stream_create_response"
#define T_UPDATE "stream_update_response"
#define T_DELETE "stream_delete_response"
#define T_PURGE "stream_purge_response"
#define T_NAMES "stream_names_response"
#define T_LIST "stream_list_response"
#define T_MSG_GET "stream_msg_get_response"
#define T_MSG_DEL "stream_msg_delete_response"

static int
h_account_info(struct api_ctx *c)
{
    uint64_t mem = 0, file = 0, consumers = 0, total, errors;
    struct st_stream **v;
    size_t n;

    st_registry_api_count(c->r, false);
    if (st_registry_sorted(c->r, &v, &n) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct st_state st;
        st_store_state(st_stream_store(v[i]), &st);
        if (st_stream_config(v[i])->storage == ST_SSTORAGE_MEMORY)
            mem += st.bytes;
        else
            file += st.bytes;
        consumers += st_stream_consumer_count(v[i]);
    }
    free(v);
    st_registry_api_stats(c->r, &total, &errors);
    begin(c, "account_info_response");
    dt_jw_kuint(&c->w, "memory", mem);
    dt_jw_kuint(&c->w, "storage", file);
    dt_jw_kuint(&c->w, "streams", n);
    dt_jw_kuint(&c->w, "consumers", consumers);
    dt_jw_key(&c->w, "limits");
    dt_jw_begin_object(&c->w);
    dt_jw_kint(&c->w, "max_memory", -1);
    dt_jw_kint(&c->w, "max_storage", -1);
    dt_jw_kint(&c->w, "max_streams", -1);
    dt_jw_kint(&c->w, "max_consumers", -1);
    dt_jw_kint(&c->w, "max_ack_pending", -1);
    dt_jw_kint(&c->w, "memory_max_stream_bytes", -1);
    dt_jw_kint(&c->w, "storage_max_stream_bytes", -1);
    dt_jw_kbool(&c->w, "max_bytes_required", false);
    dt_jw_end_object(&c->w);
    dt_jw_key(&c->w, "api");
    dt_jw_begin_object(&c->w);
    dt_jw_kuint(&c->w, "total", total - 1);     /* this one counts later */
    dt_jw_kuint(&c->w, "errors", errors);
    dt_jw_end_object(&c->w);
    return finish(c);
}

/* Parse a StreamConfig body; 0, or the rc of the error reply (> 0). */
static int
parse_cfg(struct api_ctx *c, const char *type, struct st_stream_config *cfg,
          int *reply)
{
    struct st_jserr e;
    int rc = st_stream_config_parse_text(c->body, c->blen, cfg, &e);

    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        *reply = api_error(c, type, &e, X_NONE);
        return 1;
    }
    return 0;
}

static bool
name_matches(const struct api_ctx *c, const struct st_stream_config *cfg)
{
    return cfg->name && strlen(cfg->name) == c->name_len
           && memcmp(cfg->name, c->name, c->name_len) == 0;
}

static int
reply_info(struct api_ctx *c, const char *type, struct st_stream *s,
           bool did_create)
{
    st_registry_api_count(c->r, false);
    begin(c, type);
    if (did_create)
        info_members(&c->w, s, NULL);
    else
        info_full(&c->w, s, NULL);
    if (did_create)
        dt_jw_kbool(&c->w, "did_create", true);
    return finish(c);
}

static int
h_create(struct api_ctx *c)
{
    struct st_stream_config cfg = { 0 };
    struct st_stream *s;
    struct st_jserr e;
    bool created;
    int reply = 0, rc;

    rc = parse_cfg(c, T_CREATE, &cfg, &reply);
    if (rc != 0)
        return rc < 0 ? rc : reply;
    if (!name_matches(c, &cfg)) {
        reply = api_error_code(c, T_CREATE, 400, 10056, "stream name in "
                               "subject does not match request", X_NONE);
        goto out;
    }
    if (strchr(cfg.name, '/') || strchr(cfg.name, '\\')) {
        reply = api_error_code(c, T_CREATE, 400, 10128, "Stream name can not "
                               "contain path separators", X_NONE);
        goto out;
    }
    if (st_stream_config_check(&cfg, &e) < 0
        || st_registry_create(c->r, &cfg, c->now, &s, &created, &e) < 0) {
        reply = api_error(c, T_CREATE, &e, X_NONE);
        goto out;
    }
    reply = reply_info(c, T_CREATE, s, true);
out:
    st_stream_config_free(&cfg);
    return reply;
}

static int
h_update(struct api_ctx *c)
{
    struct st_stream_config cfg = { 0 };
    struct st_stream *s;
    struct st_jserr e;
    int reply = 0, rc;

    rc = parse_cfg(c, T_UPDATE, &cfg, &reply);
    if (rc != 0)
        return rc < 0 ? rc : reply;
    if (st_stream_config_check(&cfg, &e) < 0) {
        reply = api_error(c, T_UPDATE, &e, X_NONE);
        goto out;
    }
    if (!name_matches(c, &cfg)) {
        reply = api_error_code(c, T_UPDATE, 400, 10056, "stream name in "
                               "subject does not match request", X_NONE);
        goto out;
    }
    if ((s = lookup(c)) == NULL) {
        reply = not_found(c, T_UPDATE, X_NONE);
        goto out;
    }
    if (st_registry_update(c->r, s, &cfg, c->now, &e) < 0) {
        reply = api_error(c, T_UPDATE, &e, X_NONE);
        goto out;
    }
    reply = reply_info(c, T_UPDATE, s, false);
out:
    st_stream_config_free(&cfg);
    return reply;
}

static int
info_request(struct api_ctx *c, struct st_stream *s,
             const struct dt_json *req, struct info_req *q)
{
    const char *filter = NULL;
    size_t flen = 0;
    int64_t off = 0;

    if (get_bool(req, "deleted_details", &q->deleted) < 0
        || get_str(req, "subjects_filter", &filter, &flen) < 0
        || get_i64(req, "offset", &off) < 0)
        return -EINVAL;
    if (s == NULL || flen == 0)
        return 0;
    st_stream_subjects(s, filter, flen, subj_collect, &q->subjects);
    if (q->subjects.err)
        return q->subjects.err;
    if (q->subjects.n > 1)
        qsort(q->subjects.v, q->subjects.n, sizeof(*q->subjects.v),
              subj_cmp);
    q->off = off < 0 ? 0 : (size_t)off;
    if (q->off > q->subjects.n)
        q->off = q->subjects.n;
    q->lim = ST_API_SUBJECTS_LIMIT;
    return 0;
}

static int
h_info(struct api_ctx *c)
{
    struct info_req q = { 0 };
    struct dt_json_doc *doc = NULL;
    struct st_stream *s = lookup(c);
    int rc = body_json(c, &doc);

    if (rc == -ENOMEM)
        return rc;
    if (rc == 0 && doc)
        rc = info_request(c, s, dt_json_root(doc), &q);
    dt_json_free(doc);
    if (rc == -ENOMEM)
        goto out;
    if (rc < 0) {
        rc = bad_json(c, T_INFO, X_PAGED);
        goto out;
    }
    if (s == NULL) {
        rc = not_found(c, T_INFO, X_PAGED);
        goto out;
    }
    st_registry_api_count(c->r, false);
    begin(c, T_INFO);
    bool paged = q.subjects.n > 0;
    dt_jw_kuint(&c->w, "total", paged ? q.subjects.n : 0);
    dt_jw_kuint(&c->w, "offset", paged ? q.off : 0);
    dt_jw_kuint(&c->w, "limit", paged ? q.lim : 0);
    info_full(&c->w, s, &q);
    rc = finish(c);
out:
    subj_free(&q.subjects);
    return rc;
}

static int
h_delete(struct api_ctx *c)
{
    struct dt_json_doc *doc = NULL;
    struct st_stream *s;
    int rc = body_json(c, &doc);

    dt_json_free(doc);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0 || doc != NULL)
        return api_error_code(c, T_DELETE, 400, 10038, "expected an empty "
                              "request payload", X_NONE);
    if ((s = lookup(c)) == NULL)
        return not_found(c, T_DELETE, X_NONE);
    st_registry_delete(c->r, s);
    st_registry_api_count(c->r, false);
    begin(c, T_DELETE);
    dt_jw_kbool(&c->w, "success", true);
    return finish(c);
}

static int
h_purge(struct api_ctx *c)
{
    struct dt_json_doc *doc = NULL;
    const char *filter = NULL;
    size_t flen = 0;
    uint64_t seq = 0, keep = 0, purged = 0;
    struct st_stream *s;
    struct st_jserr e;
    int rc = body_json(c, &doc);

    if (rc == -ENOMEM)
        return rc;
    if (rc == 0 && doc) {
        const struct dt_json *req = dt_json_root(doc);
        if (get_str(req, "filter", &filter, &flen) < 0
            || get_u64(req, "seq", &seq) < 0 || get_u64(req, "keep", &keep) < 0)
            rc = -EINVAL;
    }
    if (rc < 0) {
        rc = bad_json(c, T_PURGE, X_PURGED);
        goto out;
    }
    if (seq > 0 && keep > 0) {
        rc = bad_request(c, T_PURGE, X_PURGED);
        goto out;
    }
    if ((s = lookup(c)) == NULL) {
        rc = not_found(c, T_PURGE, X_PURGED);
        goto out;
    }
    if (st_stream_purge(s, filter, flen, seq, keep, &purged, &e) < 0) {
        rc = api_error(c, T_PURGE, &e, X_PURGED);
        goto out;
    }
    st_registry_api_count(c->r, false);
    begin(c, T_PURGE);
    dt_jw_kbool(&c->w, "success", true);
    dt_jw_kuint(&c->w, "purged", purged);
    rc = finish(c);
out:
    dt_json_free(doc);
    return rc;
}

struct names_req {
    int64_t offset;
    const char *subject;
    size_t slen;
};

static int
names_request(struct api_ctx *c, struct dt_json_doc **doc,
              struct names_req *q)
{
    int rc = body_json(c, doc);

    if (rc < 0 || *doc == NULL)
        return rc;
    const struct dt_json *req = dt_json_root(*doc);
    if (get_i64(req, "offset", &q->offset) < 0
        || get_str(req, "subject", &q->subject, &q->slen) < 0)
        return -EINVAL;
    if (q->offset < 0)
        q->offset = 0;
    return 0;
}

static bool
stream_has_subject(struct st_stream *s, const char *f, size_t n)
{
    const struct st_stream_config *cfg = st_stream_config(s);

    if (n == 0)
        return true;
    for (size_t i = 0; i < cfg->nsubjects; i++)
        if (st_stream_subjects_collide(f, n, cfg->subjects[i],
                                       strlen(cfg->subjects[i])))
            return true;
    return false;
}

/* Streams matching the filter, sorted by name, and the page start. */
static int
filtered(struct api_ctx *c, const struct names_req *q, struct st_stream ***v,
         size_t *n, size_t *off)
{
    size_t k = 0;
    int rc = st_registry_sorted(c->r, v, n);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < *n; i++)
        if (stream_has_subject((*v)[i], q->subject, q->slen))
            (*v)[k++] = (*v)[i];
    *n = k;
    *off = (uint64_t)q->offset > k ? k : (size_t)q->offset;
    return 0;
}

static int
h_names(struct api_ctx *c, bool list)
{
    const char *type = list ? T_LIST : T_NAMES;
    struct names_req q = { 0 };
    struct dt_json_doc *doc = NULL;
    struct st_stream **v = NULL;
    size_t n = 0, off = 0, lim = list ? ST_API_LIST_LIMIT
                                      : ST_API_NAMES_LIMIT;
    int rc = names_request(c, &doc, &q);

    if (rc == -ENOMEM || (rc == 0 && (rc = filtered(c, &q, &v, &n, &off))
                          == -ENOMEM))
        goto out;
    if (rc < 0) {
        rc = bad_json(c, type, list ? X_LIST : X_NAMES);
        goto out;
    }
    st_registry_api_count(c->r, false);
    begin(c, type);
    dt_jw_kuint(&c->w, "total", n);
    dt_jw_kuint(&c->w, "offset", off);
    dt_jw_kuint(&c->w, "limit", lim);
    dt_jw_key(&c->w, "streams");
    if (off == n && !list) {
        dt_jw_null(&c->w);          /* a nil slice in Go */
    } else {
        dt_jw_begin_array(&c->w);
        for (size_t i = off; i < n && i < off + lim; i++) {
            if (!list) {
                dt_jw_str(&c->w, st_stream_name(v[i]));
                continue;
            }
            dt_jw_begin_object(&c->w);
            info_full(&c->w, v[i], NULL);
            dt_jw_end_object(&c->w);
        }
        dt_jw_end_array(&c->w);
    }
    rc = finish(c);
out:
    free(v);
    dt_json_free(doc);
    return rc;
}

static int
h_names_only(struct api_ctx *c)
{
    return h_names(c, false);
}

static int
h_list(struct api_ctx *c)
{
    return h_names(c, true);
}

/* JSApiMsgGetRequest. */
struct get_req {
    uint64_t seq;
    const char *last;
    size_t last_len;
    const char *next;
    size_t next_len;
};

static int
get_request(const struct dt_json *req, struct get_req *q)
{
    if (!req_shape(req) || get_u64(req, "seq", &q->seq) < 0
        || get_str(req, "last_by_subj", &q->last, &q->last_len) < 0
        || get_str(req, "next_by_subj", &q->next, &q->next_len) < 0)
        return -EINVAL;
    return 0;
}

/* Load what a get request names. */
static int
get_load(struct st_stream *s, const struct get_req *q, struct st_msg *m,
         struct dt_buf *b)
{
    struct st_store *st = st_stream_store(s);

    if (q->seq > 0 && q->next_len == 0)
        return st_store_get(st, q->seq, m, b);
    if (q->next_len)
        return st_store_next(st, q->seq, q->next, q->next_len, m, b);
    return st_store_last(st, q->last, q->last_len, m, b);
}

static int
h_msg_get(struct api_ctx *c)
{
    struct get_req q = { 0 };
    struct dt_json_doc *doc = NULL;
    struct dt_buf b = { 0 };
    struct st_stream *s;
    struct st_msg m;
    int rc = body_json(c, &doc);

    if (rc == -ENOMEM)
        return rc;
    if (rc == 0 && doc == NULL) {
        rc = bad_request(c, T_MSG_GET, X_NONE);
        goto out;
    }
    if (rc < 0 || get_request(dt_json_root(doc), &q) < 0) {
        rc = bad_json(c, T_MSG_GET, X_NONE);
        goto out;
    }
    if ((q.seq > 0 && q.last_len) || (q.last_len && q.next_len)
        || (q.seq == 0 && q.last_len == 0 && q.next_len == 0)) {
        rc = bad_request(c, T_MSG_GET, X_NONE);
        goto out;
    }
    if ((s = lookup(c)) == NULL) {
        rc = not_found(c, T_MSG_GET, X_NONE);
        goto out;
    }
    if ((rc = get_load(s, &q, &m, &b)) < 0) {
        rc = rc == -ENOMEM ? rc : api_error_code(c, T_MSG_GET, 404, 10037,
                                                 "no message found", X_NONE);
        goto out;
    }
    /* nats-server 2.9.10 does not count a successful get in "api" */
    begin(c, T_MSG_GET);
    dt_jw_key(&c->w, "message");
    dt_jw_begin_object(&c->w);
    dt_jw_key(&c->w, "subject");
    dt_jw_strn(&c->w, m.subj, m.subj_len);
    dt_jw_kuint(&c->w, "seq", m.seq);
    if ((m.hdr_len && jw_base64(&c->w, "hdrs", m.hdr, m.hdr_len) < 0)
        || (m.data_len && jw_base64(&c->w, "data", m.data, m.data_len) < 0)) {
        rc = -ENOMEM;
        goto out;
    }
    jw_time(&c->w, "time", m.ts);
    dt_jw_end_object(&c->w);
    rc = finish(c);
out:
    dt_buf_free(&b);
    dt_json_free(doc);
    return rc;
}

static int
h_msg_delete(struct api_ctx *c)
{
    struct dt_json_doc *doc = NULL;
    struct st_stream *s;
    struct st_jserr e;
    uint64_t seq = 0;
    bool no_erase = false;
    int rc = body_json(c, &doc);

    if (rc == -ENOMEM)
        return rc;
    if (rc == 0 && doc == NULL) {
        rc = bad_request(c, T_MSG_DEL, X_NONE);
        goto out;
    }
    if (rc < 0 || get_u64(dt_json_root(doc), "seq", &seq) < 0
        || get_bool(dt_json_root(doc), "no_erase", &no_erase) < 0) {
        rc = bad_json(c, T_MSG_DEL, X_NONE);
        goto out;
    }
    if ((s = lookup(c)) == NULL) {
        rc = not_found(c, T_MSG_DEL, X_NONE);
        goto out;
    }
    if (st_stream_delete_msg(s, seq, no_erase, &e) < 0) {
        bool missing = e.err_code == 10043
                       || strcmp(e.description, "no message found") == 0
                       || strcmp(e.description, "stream store EOF") == 0;
        rc = api_error_as(c, T_MSG_DEL, &e, X_NONE, !missing);
        goto out;
    }
    st_registry_api_count(c->r, false);
    begin(c, T_MSG_DEL);
    dt_jw_kbool(&c->w, "success", true);
    rc = finish(c);
out:
    dt_json_free(doc);
    return rc;
}

static int
h_stepdown(struct api_ctx *c)
{
    return api_error_code(c, "stream_leader_stepdown_response", 503, 10010,
                          "JetStream clustering support required", X_NONE);
}

static int
h_peer_remove(struct api_ctx *c)
{
    return api_error_code(c, "stream_remove_peer_response", 503, 10010,
                          "JetStream clustering support required", X_NONE);
}

static int
h_template_names(struct api_ctx *c)
{
    st_registry_api_count(c->r, false);
    begin(c, "stream_template_names_response");
    dt_jw_kint(&c->w, "total", 0);
    dt_jw_kint(&c->w, "offset", 0);
    dt_jw_kint(&c->w, "limit", ST_API_NAMES_LIMIT);
    dt_jw_key(&c->w, "streams");
    dt_jw_begin_array(&c->w);
    dt_jw_end_array(&c->w);
    return finish(c);
}

/* ---- direct get ---------------------------------------------------------- */

static int
direct_status(struct api_ctx *c, const char *status)
{
    int rc = dt_buf_printf(&c->out->hdr, "NATS/1.0 %s\r\n\r\n", status);

    return rc < 0 ? rc : ST_API_REPLY;
}

/* The stored headers plus Nats-Stream, -Subject, -Sequence, -Time-Stamp
 * before the blank line that ends them. */
static int
direct_reply(struct api_ctx *c, struct st_stream *s, const struct st_msg *m)
{
    struct dt_buf *h = &c->out->hdr;
    char ts[64];
    int rc;

    st_api_time(ts, sizeof(ts), m->ts);
    if (m->hdr_len > 4) {
        rc = dt_buf_append(h, m->hdr, m->hdr_len - 2);   /* drop one CRLF */
    } else {
        rc = dt_buf_puts(h, "NATS/1.0\r\n");
    }
    if (rc == 0)
        rc = dt_buf_printf(h, "Nats-Stream: %s\r\nNats-Subject: %.*s\r\n"
                           "Nats-Sequence: %llu\r\nNats-Time-Stamp: %s\r\n"
                           "\r\n", st_stream_name(s), (int)m->subj_len,
                           m->subj, (unsigned long long)m->seq, ts);
    if (rc == 0)
        rc = dt_buf_append(&c->out->data, m->data, m->data_len);
    return rc < 0 ? rc : ST_API_REPLY;
}

static int
h_direct(struct api_ctx *c)
{
    struct st_stream *s = lookup(c);
    const struct st_stream_config *cfg;
    struct get_req q = { 0 };
    struct dt_json_doc *doc = NULL;
    struct dt_buf b = { 0 };
    struct st_msg m;
    int rc;

    if (s == NULL)
        return ST_API_NO_REPLY;
    cfg = st_stream_config(s);
    if (!cfg->allow_direct && !cfg->mirror_direct)
        return ST_API_NO_REPLY;
    if (c->rest) {                  /* DIRECT.GET.<stream>.<subject> */
        if (c->blen != 0 || c->rest_len == 0)
            return direct_status(c, "408 Bad Request");
        q.last = c->rest;
        q.last_len = c->rest_len;
    } else {
        if (c->blen == 0)
            return direct_status(c, "408 Empty Request");
        rc = dt_json_parse(c->body, c->blen, 0, &doc, NULL);
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0 || get_request(dt_json_root(doc), &q) < 0) {
            rc = direct_status(c, "408 Malformed Request");
            goto out;
        }
        if (q.seq == 0 && q.last_len == 0 && q.next_len == 0) {
            rc = direct_status(c, "408 Empty Request");
            goto out;
        }
        if ((q.seq > 0 && q.last_len) || (q.last_len && q.next_len)) {
            rc = direct_status(c, "408 Bad Request");
            goto out;
        }
    }
    rc = get_load(s, &q, &m, &b);
    if (rc == -ENOMEM)
        goto out;
    rc = rc < 0 ? direct_status(c, "404 Message Not Found")
                : direct_reply(c, s, &m);
out:
    dt_buf_free(&b);
    dt_json_free(doc);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------ */

enum name_mode {
    N_NONE,                 /* the subject is the whole prefix */
    N_ONE,                  /* one more token: the stream name */
    N_REST,                 /* the name, then optionally a subject */
};

struct route {
    const char *prefix;     /* after $JS.API. */
    enum name_mode mode;
    int (*fn)(struct api_ctx *c);
};

static const struct route routes[] = {
    { "INFO", N_NONE, h_account_info },
    { "STREAM.CREATE.", N_ONE, h_create },
    { "STREAM.UPDATE.", N_ONE, h_update },
    { "STREAM.INFO.", N_ONE, h_info },
    { "STREAM.DELETE.", N_ONE, h_delete },
    { "STREAM.PURGE.", N_ONE, h_purge },
    { "STREAM.NAMES", N_NONE, h_names_only },
    { "STREAM.LIST", N_NONE, h_list },
    { "STREAM.MSG.GET.", N_ONE, h_msg_get },
    { "STREAM.MSG.DELETE.", N_ONE, h_msg_delete },
    { "STREAM.LEADER.STEPDOWN.", N_ONE, h_stepdown },
    { "STREAM.PEER.REMOVE.", N_ONE, h_peer_remove },
    { "STREAM.TEMPLATE.NAMES", N_NONE, h_template_names },
    { "DIRECT.GET.", N_REST, h_direct },
};

/* Fill c->name (and c->rest) from what follows the prefix; false when the
 * subject does not have the shape of the route. */
static bool
route_args(struct api_ctx *c, const struct route *rt, const char *p,
           size_t n)
{
    const char *dot;

    if (rt->mode == N_NONE)
        return n == 0;
    if (n == 0)
        return false;
    dot = memchr(p, '.', n);
    if (dot == NULL) {
        c->name = p;
        c->name_len = n;
        return true;
    }
    if (rt->mode == N_ONE || dot == p)
        return false;
    c->name = p;
    c->name_len = (size_t)(dot - p);
    c->rest = dot + 1;
    c->rest_len = n - c->name_len - 1;
    return true;
}

int
st_api_handle(struct st_registry *r, const char *subj, size_t subj_len,
              const char *reply, size_t reply_len, const char *body,
              size_t body_len, int64_t now, struct st_api_out *out)
{
    const size_t pl = sizeof(API_PREFIX) - 1;
    struct api_ctx c = { .r = r, .body = body, .blen = body_len,
                         .now = now, .out = out };

    out->hdr.len = 0;
    out->data.len = 0;
    if (subj_len < pl || memcmp(subj, API_PREFIX, pl) != 0)
        return ST_API_NOT_MINE;
    subj += pl;
    subj_len -= pl;
    if (subj_len >= 9 && memcmp(subj, "CONSUMER.", 9) == 0)
        return ST_API_NOT_MINE;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *rt = &routes[i];
        size_t n = strlen(rt->prefix);
        if (subj_len < n || memcmp(subj, rt->prefix, n) != 0)
            continue;
        if (!route_args(&c, rt, subj + n, subj_len - n))
            continue;
        int rc = rt->fn(&c);
        if (rc < 0)
            return rc;
        return reply_len == 0 ? ST_API_NO_REPLY : rc;
    }
    return ST_API_NO_REPLY;
}
