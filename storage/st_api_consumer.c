/*
 * st_api_consumer.c -- $JS.API.CONSUMER.* handlers (create, durable
 * create, info, delete, names, list, msg.next) and the ack / flow
 * control routing, with nats-server 2.9.10's checks in its order.
 *
 * NOTES
 *   Request bodies are parsed into a heap tree (dt_json limits bound
 *   them); responses are written with dt_jw into the caller's buffer.
 *   Check order of a create: JSON, stream name in body vs subject,
 *   durable/name/filter in the subject, replicas (single server), stream
 *   lookup, defaults, checkConsumerCfg, then update-or-add.  The named
 *   form $JS.API.CONSUMER.CREATE.<stream>.<name> takes filter_subjects
 *   from the body like any other member.
 *   Errors: see st_api_consumer.h.
 */
#include "st_api_consumer.h"

#include "st_ack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_CREATE "io.nats.jetstream.api.v1.consumer_create_response"
#define T_INFO "io.nats.jetstream.api.v1.consumer_info_response"
#define T_DELETE "io.nats.jetstream.api.v1.consumer_delete_response"
#define T_NAMES "io.nats.jetstream.api.v1.consumer_names_response"
#define T_LIST "io.nats.jetstream.api.v1.consumer_list_response"

#define NAMES_LIMIT 1024
#define LIST_LIMIT 256
#define MAX_TOKENS 32

struct toks {
    const char *t[MAX_TOKENS];
    size_t l[MAX_TOKENS];
    size_t n;
    const char *s;
    size_t len;
};

static void
split(const char *s, size_t len, struct toks *k)
{
    size_t start = 0;
    k->n = 0;
    k->s = s;
    k->len = len;
    for (size_t i = 0; i <= len && k->n < MAX_TOKENS; i++) {
        if (i < len && s[i] != '.')
            continue;
        k->t[k->n] = s + start;
        k->l[k->n++] = i - start;
        start = i + 1;
    }
}

static bool
tok_eq(const struct toks *k, size_t i, const char *w)
{
    return i < k->n && k->l[i] == strlen(w) && memcmp(k->t[i], w, k->l[i]) == 0;
}

/* Go's encoding/json escapes <, > and & (and U+2028/2029) in strings;
 * they can only occur inside strings, so escape them in place. */
static int
go_escape(struct dt_buf *b, size_t from)
{
    size_t extra = 0;
    for (size_t i = from; i < b->len; i++) {
        unsigned char ch = (unsigned char)b->data[i];
        if (ch == '<' || ch == '>' || ch == '&')
            extra += 5;
        else if (ch == 0xE2 && i + 2 < b->len
                 && (unsigned char)b->data[i + 1] == 0x80
                 && ((unsigned char)b->data[i + 2] == 0xA8
                     || (unsigned char)b->data[i + 2] == 0xA9))
            extra += 3;
    }
    if (extra == 0)
        return 0;
    int rc = dt_buf_reserve(b, extra);
    if (rc < 0)
        return rc;
    size_t r = b->len, w = b->len + extra;
    while (r > from) {
        unsigned char ch = (unsigned char)b->data[--r];
        const char *rep = NULL;
        char tmp[7];
        if (ch == '<')
            rep = "\\u003c";
        else if (ch == '>')
            rep = "\\u003e";
        else if (ch == '&')
            rep = "\\u0026";
        else if ((ch == 0xA8 || ch == 0xA9) && r >= from + 2
                 && (unsigned char)b->data[r - 1] == 0x80
                 && (unsigned char)b->data[r - 2] == 0xE2) {
            snprintf(tmp, sizeof(tmp), "\\u202%c", ch == 0xA8 ? '8' : '9');
            rep = tmp;
            r -= 2;
        }
        if (rep != NULL) {
            w -= 6;
            memcpy(b->data + w, rep, 6);
        } else {
            b->data[--w] = (char)ch;
        }
    }
    b->len += extra;
    return 0;
}


int
st_api_error_json(struct dt_buf *resp, const char *type,
                  const struct st_jserr *err)
{
    struct dt_jw w;
    dt_jw_init(&w, resp, false);
    dt_jw_begin_object(&w);
    dt_jw_kstr(&w, "type", type);
    st_jserr_json(&w, err);
    dt_jw_end_object(&w);
    return dt_jw_finish(&w);
}

static int
reply_err(struct dt_buf *resp, const char *type, const struct st_jserr *e)
{
    int rc = st_api_error_json(resp, type, e);
    return rc < 0 ? rc : ST_API_REPLY;
}

/* isEmptyRequest(): "", "{}" or any JSON object without members. */
static bool
empty_request(const char *body, size_t len)
{
    struct dt_json_doc *doc;
    if (len == 0)
        return true;
    if (dt_json_parse(body, len, 1 << 20, &doc, NULL) < 0)
        return false;
    const struct dt_json *r = dt_json_root(doc);
    bool empty = dt_json_is(r, DT_JSON_OBJECT) && dt_json_count(r) == 0;
    dt_json_free(doc);
    return empty;
}

static struct st_cons_set *
lookup(const struct st_api_cons_env *env, const char *name, size_t len)
{
    return env->lookup ? env->lookup(env->arg, name, len) : NULL;
}

static bool
str_is(const char *s, const char *p, size_t n)
{
    return s != NULL && strlen(s) == n && memcmp(s, p, n) == 0;
}

/* ------------------------------------------------------------------ */
/* Create. */

static int
info_reply(struct st_consumer *c, const char *type, int64_t now,
           struct dt_buf *resp)
{
    struct dt_jw w;
    dt_jw_init(&w, resp, false);
    dt_jw_begin_object(&w);
    dt_jw_kstr(&w, "type", type);
    st_consumer_info_json(c, now, &w);
    dt_jw_end_object(&w);
    int rc = dt_jw_finish(&w);
    return rc < 0 ? rc : ST_API_REPLY;
}

/* The subject's say on names and filters (2.9 create subjects; 2.10
 * refuses filter_subjects in the form with a filter, 10137). */
static int
create_subject_checks(const struct toks *k, bool durable_ep,
                      struct st_cons_config *cfg, struct st_jserr *err)
{
    if (durable_ep) {
        if (cfg->durable == NULL) {
            st_jserr_set(err, 400, 10018, "consumer expected to be durable but a durable name was not set");
            return -EINVAL;
        }
        if (!str_is(cfg->durable, k->t[6], k->l[6])) {
            st_jserr_set(err, 400, 10017, "consumer name in subject does not match durable name in request");
            return -EINVAL;
        }
        return 0;
    }
    if (k->n == 5) {
        if (cfg->durable != NULL) {
            st_jserr_set(err, 400, 10020, "consumer expected to be ephemeral but a durable name was set in request");
            return -EINVAL;
        }
        return 0;
    }
    const char *name = k->t[5];
    size_t nl = k->l[5];
    if (cfg->durable != NULL && !str_is(cfg->durable, name, nl)) {
        st_jserr_set(err, 400, 10017, "consumer name in subject does not match durable name in request");
        return -EINVAL;
    }
    if (st_cons_config_set_str(cfg, &cfg->name, name, nl) < 0) {
        st_jserr_set(err, 500, 10012, "out of memory");
        return -ENOMEM;
    }
    if (k->n > 6) {
        const char *f = k->t[6];
        size_t fl = (size_t)(k->s + k->len - f);
        /* 2.10: filter_subjects only through the forms without a filter */
        if (cfg->nfilters > 0) {
            st_jserr_set(err, 400, 10137, "consumer with multiple subject filters cannot use subject based API");
            return -EINVAL;
        }
        if (!str_is(cfg->filter, f, fl)) {
            st_jserr_set(err, 400, 10131, "Consumer create request did not match filtered subject from create subject");
            return -EINVAL;
        }
    }
    return 0;
}

static int
api_create(const struct st_api_cons_env *env, const struct toks *k,
           bool durable_ep, const char *body, size_t body_len, int64_t now,
           struct dt_buf *resp)
{
    struct st_jserr err = { 0 };
    struct st_cons_config cfg = { 0 };
    struct dt_json_doc *doc = NULL;
    struct st_consumer *c;
    int rc;
    size_t si = durable_ep ? 5 : 4;
    const char *sname;
    size_t sl = 0;
    if (dt_json_parse(body, body_len, 0, &doc, NULL) < 0
        || !dt_json_is(dt_json_root(doc), DT_JSON_OBJECT)) {
        st_jserr_set(&err, 400, 10025, "invalid JSON");
        goto fail;
    }
    const struct dt_json *root = dt_json_root(doc);
    const struct dt_json *sn = dt_json_get_fold(root, "stream_name");
    sname = NULL;
    if (sn != NULL && !dt_json_is_null(sn) && dt_json_str(sn, &sname, &sl) < 0) {
        st_jserr_set(&err, 400, 10025, "invalid JSON");
        goto fail;
    }
    if (st_cons_config_parse(dt_json_get_fold(root, "config"), &cfg, &err) < 0)
        goto fail;
    if (sname == NULL || sl != k->l[si] || memcmp(sname, k->t[si], sl) != 0) {
        st_jserr_set(&err, 400, 10056, "stream name in subject does not match request");
        goto fail;
    }
    if (create_subject_checks(k, durable_ep, &cfg, &err) < 0)
        goto fail;
    if (cfg.num_replicas > 1) {
        st_jserr_set(&err, 500, 10074, "replicas > 1 not supported in non-clustered mode");
        goto fail;
    }
    struct st_cons_set *set = lookup(env, k->t[si], k->l[si]);
    if (set == NULL) {
        st_jserr_set(&err, 404, 10059, "stream not found");
        goto fail;
    }
    st_cons_config_defaults(&cfg);
    if (st_cons_config_check(set, &cfg, &err) < 0)
        goto fail;
    const char *cname = cfg.durable ? cfg.durable : cfg.name;
    c = cname ? st_cons_set_find(set, cname, strlen(cname)) : NULL;
    if (c != NULL) {
        if (st_consumer_update(c, &cfg, now, &err) < 0)
            goto fail;
    } else if (st_consumer_create(set, &cfg, now, false, &c, &err) < 0) {
        goto fail;
    }
    dt_json_free(doc);
    st_cons_config_free(&cfg);
    return info_reply(c, T_CREATE, now, resp);
fail:
    dt_json_free(doc);
    st_cons_config_free(&cfg);
    rc = reply_err(resp, T_CREATE, &err);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Info, delete. */

static struct st_consumer *
find_consumer(const struct st_api_cons_env *env, const struct toks *k,
              const char *body, size_t body_len, struct st_jserr *err)
{
    if (!empty_request(body, body_len)) {
        st_jserr_set(err, 400, 10038, "expected an empty request payload");
        return NULL;
    }
    struct st_cons_set *set = lookup(env, k->t[4], k->l[4]);
    if (set == NULL) {
        st_jserr_set(err, 404, 10059, "stream not found");
        return NULL;
    }
    struct st_consumer *c = st_cons_set_find(set, k->t[5], k->l[5]);
    if (c == NULL)
        st_jserr_set(err, 404, 10014, "consumer not found");
    return c;
}

static int
api_info(const struct st_api_cons_env *env, const struct toks *k,
         const char *body, size_t body_len, int64_t now, struct dt_buf *resp)
{
    struct st_jserr err = { 0 };
    struct st_consumer *c = find_consumer(env, k, body, body_len, &err);
    if (c == NULL)
        return reply_err(resp, T_INFO, &err);
    return info_reply(c, T_INFO, now, resp);
}

static int
api_delete(const struct st_api_cons_env *env, const struct toks *k,
           const char *body, size_t body_len, int64_t now,
           struct dt_buf *resp, struct st_outbox *out)
{
    struct st_jserr err = { 0 };
    struct dt_jw w;
    struct st_consumer *c = find_consumer(env, k, body, body_len, &err);
    if (c == NULL)
        return reply_err(resp, T_DELETE, &err);
    st_consumer_delete(c, now, out);
    dt_jw_init(&w, resp, false);
    dt_jw_begin_object(&w);
    dt_jw_kstr(&w, "type", T_DELETE);
    dt_jw_kbool(&w, "success", true);
    dt_jw_end_object(&w);
    int rc = dt_jw_finish(&w);
    return rc < 0 ? rc : ST_API_REPLY;
}

/* ------------------------------------------------------------------ */
/* Names, list. */

static int
api_page(const struct st_api_cons_env *env, const struct toks *k, bool list,
         const char *body, size_t body_len, int64_t now, struct dt_buf *resp)
{
    const char *type = list ? T_LIST : T_NAMES;
    struct st_jserr err = { 0 };
    struct st_consumer **v = NULL;
    size_t n = 0;
    int64_t offset = 0;
    struct dt_jw w;
    struct st_cons_set *set = NULL;
    if (!empty_request(body, body_len)) {
        struct dt_json_doc *doc;
        int rc = dt_json_parse(body, body_len, 1 << 20, &doc, NULL);
        const struct dt_json *o = rc == 0 ? dt_json_get_fold(dt_json_root(doc),
                                                             "offset") : NULL;
        if (rc < 0 || !dt_json_is(dt_json_root(doc), DT_JSON_OBJECT)
            || (o != NULL && !dt_json_is_null(o)
                && dt_json_int64(o, &offset) < 0)) {
            if (rc == 0)
                dt_json_free(doc);
            st_jserr_set(&err, 400, 10025, "invalid JSON");
            goto page;
        }
        dt_json_free(doc);
    }
    set = lookup(env, k->t[4], k->l[4]);
    if (set == NULL) {
        st_jserr_set(&err, 404, 10059, "stream not found");
        goto page;
    }
    if (st_cons_set_sorted(set, &v, &n) < 0)
        return -ENOMEM;
    if (offset < 0)
        offset = 0;
    if ((size_t)offset > n)
        offset = (int64_t)n;
page:
    dt_jw_init(&w, resp, false);
    dt_jw_begin_object(&w);
    dt_jw_kstr(&w, "type", type);
    if (err.code != 0)
        st_jserr_json(&w, &err);
    dt_jw_kuint(&w, "total", err.code ? 0 : n);
    dt_jw_kint(&w, "offset", err.code ? 0 : offset);
    dt_jw_kint(&w, "limit", err.code ? 0 : (list ? LIST_LIMIT : NAMES_LIMIT));
    dt_jw_key(&w, "consumers");
    dt_jw_begin_array(&w);
    size_t limit = list ? LIST_LIMIT : NAMES_LIMIT;
    for (size_t i = (size_t)offset, k2 = 0; i < n && k2 < limit; i++, k2++) {
        if (list) {
            dt_jw_begin_object(&w);
            st_consumer_info_json(v[i], now, &w);
            dt_jw_end_object(&w);
        } else {
            dt_jw_str(&w, st_consumer_name(v[i]));
        }
    }
    dt_jw_end_array(&w);
    dt_jw_end_object(&w);
    free(v);
    int rc = dt_jw_finish(&w);
    return rc < 0 ? rc : ST_API_REPLY;
}

/* ------------------------------------------------------------------ */
/* Dispatch. */

static int
dispatch(const struct st_api_cons_env *env, const char *subj, size_t subj_len,
         const char *body, size_t body_len, const char *reply,
         size_t reply_len, int64_t now, struct dt_buf *resp,
         struct st_outbox *out)
{
    struct toks k;
    if (body == NULL)
        body_len = 0;
    split(subj, subj_len, &k);
    if (k.n < 5 || !tok_eq(&k, 0, "$JS") || !tok_eq(&k, 1, "API")
        || !tok_eq(&k, 2, "CONSUMER"))
        return ST_API_NO_REPLY;
    for (size_t i = 0; i < k.n; i++)
        if (k.l[i] == 0)
            return ST_API_NO_REPLY;
    if (tok_eq(&k, 3, "CREATE"))
        return api_create(env, &k, false, body, body_len, now, resp);
    if (tok_eq(&k, 3, "DURABLE") && tok_eq(&k, 4, "CREATE")) {
        if (k.n != 7)
            return ST_API_NO_REPLY;
        return api_create(env, &k, true, body, body_len, now, resp);
    }
    if (tok_eq(&k, 3, "INFO") && k.n == 6)
        return api_info(env, &k, body, body_len, now, resp);
    if (tok_eq(&k, 3, "DELETE") && k.n == 6)
        return api_delete(env, &k, body, body_len, now, resp, out);
    if (tok_eq(&k, 3, "NAMES") && k.n == 5)
        return api_page(env, &k, false, body, body_len, now, resp);
    if (tok_eq(&k, 3, "LIST") && k.n == 5)
        return api_page(env, &k, true, body, body_len, now, resp);
    if (tok_eq(&k, 3, "MSG") && tok_eq(&k, 4, "NEXT") && k.n == 7) {
        struct st_cons_set *set = lookup(env, k.t[5], k.l[5]);
        struct st_consumer *c = set ? st_cons_set_find(set, k.t[6], k.l[6])
                                    : NULL;
        if (c == NULL || reply == NULL || reply_len == 0)
            return ST_API_NO_REPLY;
        int rc = st_consumer_pull(c, reply, reply_len, body, body_len, now,
                                  out);
        if (rc == 0)
            rc = st_consumer_run(c, now, out, 0);
        return rc < 0 ? rc : ST_API_NO_REPLY;
    }
    return ST_API_NO_REPLY;
}

int
st_api_consumer_handle(const struct st_api_cons_env *env, const char *subj,
                       size_t subj_len, const char *body, size_t body_len,
                       const char *reply, size_t reply_len, int64_t now,
                       struct dt_buf *resp, struct st_outbox *out)
{
    if (env == NULL || subj == NULL || resp == NULL)
        return -EINVAL;
    size_t start = resp->len;
    int rc = dispatch(env, subj, subj_len, body, body_len, reply, reply_len,
                      now, resp, out);
    if (rc == ST_API_REPLY) {
        int erc = go_escape(resp, start);
        if (erc < 0)
            return erc;
    }
    return rc;
}

static struct st_consumer *
route(const struct st_api_cons_env *env, const struct toks *k)
{
    struct st_cons_set *set = lookup(env, k->t[2], k->l[2]);
    return set ? st_cons_set_find(set, k->t[3], k->l[3]) : NULL;
}

int
st_api_consumer_ack(const struct st_api_cons_env *env, const char *subj,
                    size_t subj_len, const char *body, size_t body_len,
                    const char *reply, size_t reply_len, int64_t now,
                    struct st_outbox *out)
{
    struct toks k;
    struct st_ack_meta m;
    if (st_ack_parse(subj, subj_len, &m) < 0)
        return -EINVAL;
    split(subj, subj_len, &k);
    struct st_consumer *c = route(env, &k);
    if (c == NULL)
        return -ENOENT;
    int rc = st_consumer_ack(c, subj, subj_len, body, body_len, reply,
                             reply_len, now, out);
    if (rc == 0)
        rc = st_consumer_run(c, now, out, 0);
    return rc < 0 ? rc : 0;
}

int
st_api_consumer_fc(const struct st_api_cons_env *env, const char *subj,
                   size_t subj_len, int64_t now)
{
    struct toks k;
    split(subj, subj_len, &k);
    if (k.n != 5 || !tok_eq(&k, 0, "$JS") || !tok_eq(&k, 1, "FC"))
        return -EINVAL;
    struct st_consumer *c = route(env, &k);
    if (c == NULL)
        return -ENOENT;
    return st_consumer_fc_reply(c, subj, subj_len, now);
}
