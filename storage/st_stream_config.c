/*
 * st_stream_config.c -- the stream configuration: parsing StreamConfig
 * JSON with Go's encoding/json rules, nats-server 2.9.10's defaults and
 * validation (checkStreamCfg, configUpdateCheck), equality, the JSON it
 * echoes, and subject helpers (overlap, subset, names).  Mirror and
 * sources (StreamSource) are parsed, checked for their shape (the checks
 * against other streams, filters and cycles, are the registry's) and
 * echoed; "external" is refused.  RePublish is parsed, checked
 * (source subset, cycle, the transform) and echoed; its subject mapping
 * (st_stream_republish_map) lives here too.
 *
 * NOTES
 *   Ownership: a config owns every string it points to (heap copies).
 *   Error texts are nats-server's, word for word; they are checked in the
 *   same order so that a config with several faults gets the same answer.
 *   Errors: 0 or -errno; validation failures are -EINVAL with err set.
 */
#include "st_stream.h"

#include "st_consumer.h"     /* st_time_parse, st_time_format */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dt_subject.h"

#define MS_NS 1000000ll
#define ST_MAX_REPLICAS 5               /* StreamMaxReplicas */

static int
bad_json(struct st_jserr *err)
{
    st_jserr_set(err, 400, 10025, "invalid JSON");
    return -EINVAL;
}

static int
bad_cfg(struct st_jserr *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
bad_cfg(struct st_jserr *err, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        err->code = 500;
        err->err_code = 10052;
        va_start(ap, fmt);
        vsnprintf(err->description, sizeof(err->description), fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* ---- subjects ------------------------------------------------------------ */

bool
st_stream_subjects_collide(const char *a, size_t an, const char *b, size_t bn)
{
    return dt_subject_overlap(a, an, b, bn);
}

int
st_stream_name_check(const char *name, size_t len, struct st_jserr *err)
{
    if (name == NULL || len == 0 || strcspn(name, " \t\r\n\f.*>") < len
        || memchr(name, '\0', len) != NULL)
        return bad_cfg(err, "stream name is required and can not contain "
                       "'.', '*', '>'");
    if (len > ST_STREAM_MAX_NAME)
        return bad_cfg(err, "stream name is too long, maximum allowed is %d",
                       ST_STREAM_MAX_NAME);
    if (memchr(name, '/', len) || memchr(name, '\\', len)) {
        st_jserr_set(err, 400, 10128,
                     "Stream name can not contain path separators");
        return -EINVAL;
    }
    return 0;
}

/* ---- strings and arrays -------------------------------------------------- */

static char *
xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void
free_strv(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int
copy_strv(char ***dst, char *const *src, size_t n)
{
    *dst = NULL;
    if (n == 0)
        return 0;
    *dst = calloc(n, sizeof(char *));
    if (*dst == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        (*dst)[i] = xstrndup(src[i], strlen(src[i]));
        if ((*dst)[i] == NULL)
            return -ENOMEM;
    }
    return 0;
}

static int
copy_str(char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    *dst = xstrndup(src, strlen(src));
    return *dst ? 0 : -ENOMEM;
}

static bool
str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a == NULL || *a == '\0') && (b == NULL || *b == '\0');
    return strcmp(a, b) == 0;
}

static bool
strv_eq(char *const *a, size_t an, char *const *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

/* ---- StreamSource -------------------------------------------------------- */

static void
src_free(struct st_stream_source *ss)
{
    if (ss == NULL)
        return;
    free(ss->name);
    free(ss->filter_subject);
    memset(ss, 0, sizeof(*ss));
}

static int
src_copy(struct st_stream_source *dst, const struct st_stream_source *src)
{
    *dst = *src;
    dst->name = dst->filter_subject = NULL;
    if (copy_str(&dst->name, src->name) < 0
        || copy_str(&dst->filter_subject, src->filter_subject) < 0) {
        src_free(dst);
        return -ENOMEM;
    }
    return 0;
}

static bool
src_eq(const struct st_stream_source *a, const struct st_stream_source *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return str_eq(a->name, b->name)
        && str_eq(a->filter_subject, b->filter_subject)
        && a->opt_start_seq == b->opt_start_seq
        && a->has_start_time == b->has_start_time
        && (!a->has_start_time || a->opt_start_time == b->opt_start_time)
        && a->has_external == b->has_external;
}

static bool
srcv_eq(const struct st_stream_config *a, const struct st_stream_config *b)
{
    if (a->nsources != b->nsources)
        return false;
    for (size_t i = 0; i < a->nsources; i++)
        if (!src_eq(&a->sources[i], &b->sources[i]))
            return false;
    return true;
}

static bool
key_is(const char *k, size_t kn, const char *name)
{
    return strlen(name) == kn && strncasecmp(k, name, kn) == 0;
}

static int
src_str(const struct dt_json *v, char **field)
{
    const char *p;
    size_t n;

    if (dt_json_is_null(v))
        return 0;
    if (dt_json_str(v, &p, &n) < 0)
        return -EINVAL;
    free(*field);
    *field = xstrndup(p, n);
    return *field ? 0 : -ENOMEM;
}

static int
src_member(const struct dt_json *m, struct st_stream_source *ss)
{
    size_t kn;
    const char *k = dt_json_key(m, &kn), *p;
    size_t n;

    if (key_is(k, kn, "name"))
        return src_str(m, &ss->name);
    if (key_is(k, kn, "filter_subject"))
        return src_str(m, &ss->filter_subject);
    if (key_is(k, kn, "opt_start_seq"))
        return dt_json_is_null(m) ? 0 : dt_json_uint64(m, &ss->opt_start_seq);
    if (key_is(k, kn, "opt_start_time")) {
        ss->has_start_time = false;
        if (dt_json_is_null(m))
            return 0;
        if (dt_json_str(m, &p, &n) < 0
            || st_time_parse(p, n, &ss->opt_start_time, &ss->start_tz) < 0)
            return -EINVAL;
        ss->has_start_time = true;
        return 0;
    }
    if (key_is(k, kn, "external")) {
        if (!dt_json_is_null(m) && !dt_json_is(m, DT_JSON_OBJECT))
            return -EINVAL;
        ss->has_external = dt_json_is(m, DT_JSON_OBJECT);
    }
    return 0;
}

/* One StreamSource object (null: *ss stays zero, *present false). */
static int
src_parse(const struct dt_json *v, struct st_stream_source *ss)
{
    int rc;

    if (dt_json_is_null(v))
        return 0;
    if (!dt_json_is(v, DT_JSON_OBJECT))
        return -EINVAL;
    for (const struct dt_json *m = dt_json_first(v); m; m = dt_json_next(m))
        if ((rc = src_member(m, ss)) < 0)
            return rc;
    return 0;
}

static int
get_mirror(const struct dt_json *v, struct st_stream_config *c)
{
    src_free(c->mirror);
    free(c->mirror);
    c->mirror = NULL;
    c->has_mirror = false;
    if (dt_json_is_null(v))
        return 0;
    if (!dt_json_is(v, DT_JSON_OBJECT))
        return -EINVAL;
    if ((c->mirror = calloc(1, sizeof(*c->mirror))) == NULL)
        return -ENOMEM;
    c->has_mirror = true;
    return src_parse(v, c->mirror);
}

static int
get_sources(const struct dt_json *v, struct st_stream_config *c)
{
    size_t n;
    int rc;

    for (size_t i = 0; i < c->nsources; i++)
        src_free(&c->sources[i]);
    free(c->sources);
    c->sources = NULL;
    c->nsources = 0;
    c->has_sources = false;
    if (dt_json_is_null(v))
        return 0;
    if (!dt_json_is(v, DT_JSON_ARRAY))
        return -EINVAL;
    if ((n = dt_json_count(v)) == 0)
        return 0;
    if ((c->sources = calloc(n, sizeof(*c->sources))) == NULL)
        return -ENOMEM;
    for (const struct dt_json *e = dt_json_first(v); e; e = dt_json_next(e)) {
        c->nsources++;
        if ((rc = src_parse(e, &c->sources[c->nsources - 1])) < 0)
            return rc;
    }
    c->has_sources = true;
    return 0;
}

static void
json_source(struct dt_jw *w, const struct st_stream_source *ss)
{
    char tb[64];

    dt_jw_begin_object(w);
    dt_jw_kstr(w, "name", ss->name ? ss->name : "");
    if (ss->opt_start_seq)
        dt_jw_kuint(w, "opt_start_seq", ss->opt_start_seq);
    if (ss->has_start_time
        && st_time_format(tb, sizeof(tb), ss->opt_start_time,
                          ss->start_tz) > 0)
        dt_jw_kstr(w, "opt_start_time", tb);
    if (ss->filter_subject && *ss->filter_subject)
        dt_jw_kstr(w, "filter_subject", ss->filter_subject);
    dt_jw_end_object(w);
}

/* ---- RePublish ----------------------------------------------------------- */

static void
rp_free(struct st_stream_republish *rp)
{
    if (rp == NULL)
        return;
    free(rp->src);
    free(rp->dest);
    free(rp);
}

static int
rp_copy(struct st_stream_republish **dst, const struct st_stream_republish *src)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    if ((*dst = calloc(1, sizeof(**dst))) == NULL)
        return -ENOMEM;
    (*dst)->headers_only = src->headers_only;
    if (copy_str(&(*dst)->src, src->src) < 0
        || copy_str(&(*dst)->dest, src->dest) < 0)
        return -ENOMEM;
    return 0;
}

static bool
rp_eq(const struct st_stream_republish *a, const struct st_stream_republish *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return str_eq(a->src, b->src) && str_eq(a->dest, b->dest)
        && a->headers_only == b->headers_only;
}

static int
get_republish(const struct dt_json *v, struct st_stream_config *c)
{
    struct st_stream_republish *rp;
    int rc = 0;

    rp_free(c->republish);
    c->republish = NULL;
    if (dt_json_is_null(v))
        return 0;
    if (!dt_json_is(v, DT_JSON_OBJECT))
        return -EINVAL;
    if ((rp = c->republish = calloc(1, sizeof(*rp))) == NULL)
        return -ENOMEM;
    for (const struct dt_json *m = dt_json_first(v); m && rc == 0;
         m = dt_json_next(m)) {
        size_t kn;
        const char *k = dt_json_key(m, &kn);
        if (key_is(k, kn, "src"))
            rc = src_str(m, &rp->src);
        else if (key_is(k, kn, "dest"))
            rc = src_str(m, &rp->dest);
        else if (key_is(k, kn, "headers_only"))
            rc = dt_json_go_bool(m, &rp->headers_only);
    }
    return rc;
}

static void
json_republish(struct dt_jw *w, const struct st_stream_republish *rp)
{
    dt_jw_key(w, "republish");
    dt_jw_begin_object(w);
    if (rp->src && *rp->src)
        dt_jw_kstr(w, "src", rp->src);
    dt_jw_kstr(w, "dest", rp->dest ? rp->dest : "");
    if (rp->headers_only)
        dt_jw_kbool(w, "headers_only", true);
    dt_jw_end_object(w);
}

#define RP_MAX_PWC 64               /* '*' tokens a republish src may use */

struct rp_tok {
    const char *p;
    size_t n;
};

/* Walks the '.'-separated tokens of s[0, n); pos > n: done. */
struct rp_it {
    const char *s;
    size_t n, pos;
};

static struct rp_it
rp_iter(const char *s, size_t n)
{
    struct rp_it it = { .s = s, .n = n, .pos = 0 };
    return it;
}

static bool
rp_more(const struct rp_it *it)
{
    return it->pos <= it->n;
}

static bool
rp_next(struct rp_it *it, struct rp_tok *t)
{
    const char *dot;

    if (!rp_more(it))
        return false;
    t->p = it->s + it->pos;
    dot = memchr(t->p, '.', it->n - it->pos);
    t->n = dot ? (size_t)(dot - t->p) : it->n - it->pos;
    it->pos += t->n + 1;
    return true;
}

static bool
tok_is(const struct rp_tok *t, const char *s)
{
    return t->n == strlen(s) && memcmp(t->p, s, t->n) == 0;
}

static bool
all_digits(const char *p, size_t n)
{
    if (n == 0 || n > 9)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

static void
trim(const char **p, size_t *n)
{
    while (*n && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
        (*n)--;
}

/* A dest token: 0 literal, N + 1 a reference to wildcard N (nats-server
 * takes N = 0 as the subject's first token), -EINVAL a bad or unknown
 * function, -ENOTSUP a function not built here. */
static int
rp_dest_token(const struct rp_tok *t)
{
    static const char *const other[] = {
        "partition", "splitfromleft", "splitfromright", "slicefromleft",
        "slicefromright", "split",
    };
    const char *p = t->p, *open;
    size_t n = t->n, fl;

    if (n >= 2 && p[0] == '$' && all_digits(p + 1, n - 1))
        return atoi(p + 1) + 1;
    if (n < 4 || memcmp(p, "{{", 2) != 0 || memcmp(p + n - 2, "}}", 2) != 0)
        return 0;
    p += 2;
    n -= 4;
    trim(&p, &n);
    open = memchr(p, '(', n);
    if (open == NULL || n == 0 || p[n - 1] != ')')
        return -EINVAL;
    fl = (size_t)(open - p);
    const char *a = open + 1;
    size_t an = n - fl - 2;
    trim(&p, &fl);
    trim(&a, &an);
    if (fl == 8 && strncasecmp(p, "wildcard", 8) == 0)
        return all_digits(a, an) ? atoi(a) + 1 : -EINVAL;
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        if (fl == strlen(other[i]) && strncasecmp(p, other[i], fl) == 0)
            return -ENOTSUP;
    return -EINVAL;
}

/* Length of the first token of s[0, n). */
static size_t
strcspn_n(const char *s, size_t n)
{
    const char *dot = memchr(s, '.', n);

    return dot ? (size_t)(dot - s) : n;
}

/* Match subj against src, collecting the '*' tokens and what '>' took. */
static int
rp_match(const char *src, const char *subj, size_t len, struct rp_tok *pwc,
         size_t *npwc, struct rp_tok *rest)
{
    struct rp_it si = rp_iter(src, strlen(src)), it = rp_iter(subj, len);
    struct rp_tok st, t;

    *npwc = 0;
    while (rp_next(&si, &st)) {
        if (tok_is(&st, ">")) {
            if (!rp_more(&it))
                return -ENOENT;
            rest->p = subj + it.pos;
            rest->n = len - it.pos;
            return 0;
        }
        if (!rp_next(&it, &t))
            return -ENOENT;
        if (tok_is(&st, "*")) {
            if (*npwc >= RP_MAX_PWC)
                return -EINVAL;
            pwc[(*npwc)++] = t;
        } else if (st.n != t.n || memcmp(st.p, t.p, t.n) != 0) {
            return -ENOENT;
        }
    }
    return rp_more(&it) ? -ENOENT : 0;
}

/* nats-server's subjectInfo(): no empty token, '>' only last (spaces
 * and the like are allowed: "{{ wildcard( 1 ) }}"). */
static bool
rp_subject_valid(const char *s, size_t n)
{
    struct rp_it it = rp_iter(s, n);
    struct rp_tok t;

    if (n == 0)
        return false;
    while (rp_next(&it, &t))
        if (t.n == 0 || (tok_is(&t, ">") && rp_more(&it)))
            return false;
    return true;
}

/* newTransform's checks on their own. */
static int
rp_validate(const char *src, const char *dest, size_t *npwc_out)
{
    size_t sl = strlen(src), dl = strlen(dest), npwc = 0, nph = 0;
    bool sfwc = false, dfwc = false;
    struct rp_it it;
    struct rp_tok t;
    int rc;

    if (!rp_subject_valid(src, sl) || !rp_subject_valid(dest, dl))
        return -EINVAL;
    for (it = rp_iter(src, sl); rp_next(&it, &t);) {
        npwc += tok_is(&t, "*");
        sfwc |= tok_is(&t, ">");
    }
    for (it = rp_iter(dest, dl); rp_next(&it, &t);) {
        if (tok_is(&t, "*"))
            return -EINVAL;
        dfwc |= tok_is(&t, ">");
    }
    if (sfwc != dfwc || npwc > RP_MAX_PWC)
        return -EINVAL;
    *npwc_out = npwc;
    if (npwc == 0 && !sfwc)
        return 0;                   /* dest is taken literally */
    for (it = rp_iter(dest, dl); rp_next(&it, &t);) {
        if ((rc = rp_dest_token(&t)) < 0)
            return rc;
        if (rc > (int)npwc + 1)
            return -EINVAL;
        nph += rc > 0;
    }
    return nph < npwc ? -EINVAL : 0;
}

int
st_stream_republish_map(const char *src, const char *dest, const char *subj,
                        size_t subj_len, struct dt_buf *out)
{
    struct rp_tok pwc[RP_MAX_PWC], rest = { 0 }, t;
    size_t npwc = 0, n = 0, dl;
    struct rp_it it;
    int rc;

    if (src == NULL || *src == '\0')
        src = ">";
    if (dest == NULL)
        return -EINVAL;
    if ((rc = rp_validate(src, dest, &npwc)) < 0)
        return rc;
    if (subj == NULL)
        return 0;
    if ((rc = rp_match(src, subj, subj_len, pwc, &n, &rest)) < 0)
        return rc;
    dl = strlen(dest);
    if (npwc == 0 && dest[dl - 1] != '>')
        return dt_buf_append(out, dest, dl);    /* literal src and dest */
    for (it = rp_iter(dest, dl); rp_next(&it, &t);) {
        int ref = rp_dest_token(&t);
        if (t.p != dest && dt_buf_append(out, ".", 1) < 0)
            return -ENOMEM;
        if (tok_is(&t, ">"))
            rc = dt_buf_append(out, rest.p, rest.n);
        else if (ref == 1)
            rc = dt_buf_append(out, subj, strcspn_n(subj, subj_len));
        else if (ref > 1)
            rc = dt_buf_append(out, pwc[ref - 2].p, pwc[ref - 2].n);
        else
            rc = dt_buf_append(out, t.p, t.n);
        if (rc < 0)
            return -ENOMEM;
    }
    return 0;
}

void
st_stream_config_free(struct st_stream_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->name);
    free(cfg->description);
    free_strv(cfg->subjects, cfg->nsubjects);
    free(cfg->template_owner);
    free(cfg->placement_cluster);
    free_strv(cfg->placement_tags, cfg->nplacement_tags);
    free_strv(cfg->meta_keys, cfg->nmeta);
    free_strv(cfg->meta_vals, cfg->nmeta);
    src_free(cfg->mirror);
    free(cfg->mirror);
    for (size_t i = 0; i < cfg->nsources; i++)
        src_free(&cfg->sources[i]);
    free(cfg->sources);
    rp_free(cfg->republish);
    memset(cfg, 0, sizeof(*cfg));
}

int
st_stream_config_copy(struct st_stream_config *dst,
                      const struct st_stream_config *src)
{
    *dst = *src;
    dst->name = dst->description = dst->template_owner = NULL;
    dst->placement_cluster = NULL;
    dst->subjects = dst->placement_tags = NULL;
    dst->meta_keys = dst->meta_vals = NULL;
    dst->nsubjects = dst->nplacement_tags = dst->nmeta = 0;
    dst->mirror = NULL;
    dst->sources = NULL;
    dst->nsources = 0;
    dst->republish = NULL;
    if (src->mirror && (dst->mirror = calloc(1, sizeof(*dst->mirror))) == NULL)
        goto err;
    if (src->mirror && src_copy(dst->mirror, src->mirror) < 0)
        goto err;
    if (src->nsources
        && (dst->sources = calloc(src->nsources, sizeof(*dst->sources)))
               == NULL)
        goto err;
    for (size_t i = 0; i < src->nsources; i++) {
        if (src_copy(&dst->sources[i], &src->sources[i]) < 0)
            goto err;
        dst->nsources = i + 1;
    }
    if (copy_str(&dst->name, src->name) < 0
        || copy_str(&dst->description, src->description) < 0
        || copy_str(&dst->template_owner, src->template_owner) < 0
        || copy_str(&dst->placement_cluster, src->placement_cluster) < 0)
        goto err;
    dst->nsubjects = src->nsubjects;
    if (copy_strv(&dst->subjects, src->subjects, src->nsubjects) < 0)
        goto err;
    dst->nplacement_tags = src->nplacement_tags;
    if (copy_strv(&dst->placement_tags, src->placement_tags,
                  src->nplacement_tags) < 0)
        goto err;
    if (rp_copy(&dst->republish, src->republish) < 0)
        goto err;
    dst->nmeta = src->nmeta;
    if (copy_strv(&dst->meta_keys, src->meta_keys, src->nmeta) < 0
        || copy_strv(&dst->meta_vals, src->meta_vals, src->nmeta) < 0)
        goto err;
    return 0;
err:
    /* partially filled arrays: counts cover NULL slots, free() takes NULL */
    st_stream_config_free(dst);
    return -ENOMEM;
}

/* ---- parsing ------------------------------------------------------------- */

enum cfg_key {
    K_NAME, K_DESC, K_SUBJECTS, K_RETENTION, K_MAX_CONSUMERS, K_MAX_MSGS,
    K_MAX_BYTES, K_MAX_AGE, K_MAX_PER_SUBJ, K_MAX_MSG_SIZE, K_DISCARD,
    K_STORAGE, K_REPLICAS, K_NO_ACK, K_TEMPLATE, K_DUP_WINDOW, K_PLACEMENT,
    K_MIRROR, K_SOURCES, K_REPUBLISH, K_ALLOW_DIRECT, K_MIRROR_DIRECT,
    K_DISCARD_NEW_PER, K_SEALED, K_DENY_DELETE, K_DENY_PURGE, K_ROLLUP,
    K_METADATA, K_COUNT
};

static const char *const cfg_keys[K_COUNT] = {
    "name", "description", "subjects", "retention", "max_consumers",
    "max_msgs", "max_bytes", "max_age", "max_msgs_per_subject",
    "max_msg_size", "discard", "storage", "num_replicas", "no_ack",
    "template_owner", "duplicate_window", "placement", "mirror", "sources",
    "republish", "allow_direct", "mirror_direct", "discard_new_per_subject",
    "sealed", "deny_delete", "deny_purge", "allow_rollup_hdrs", "metadata",
};

static int
key_index(const char *k, size_t n)
{
    /* exact first, then ASCII case folding, as Go's decoder does */
    for (int i = 0; i < K_COUNT; i++)
        if (strlen(cfg_keys[i]) == n && memcmp(cfg_keys[i], k, n) == 0)
            return i;
    for (int i = 0; i < K_COUNT; i++)
        if (strlen(cfg_keys[i]) == n && strncasecmp(cfg_keys[i], k, n) == 0)
            return i;
    return -1;
}

/* A string member: null leaves the field as it is (Go). */
static int
get_str(const struct dt_json *v, char **field)
{
    const char *s;
    size_t n;

    if (dt_json_is_null(v))
        return 0;
    if (dt_json_str(v, &s, &n) < 0)
        return -EINVAL;
    free(*field);
    *field = xstrndup(s, n);
    return *field ? 0 : -ENOMEM;
}

/* An array of strings (null = empty). */
static int
get_strv(const struct dt_json *v, char ***out, size_t *n)
{
    size_t cnt = 0;

    if (dt_json_is_null(v)) {
        free_strv(*out, *n);
        *out = NULL;
        *n = 0;
        return 0;
    }
    if (!dt_json_is(v, DT_JSON_ARRAY))
        return -EINVAL;
    for (const struct dt_json *c = dt_json_first(v); c; c = dt_json_next(c))
        if (!dt_json_is(c, DT_JSON_STRING))
            return -EINVAL;
    free_strv(*out, *n);
    *out = NULL;
    *n = 0;
    if (dt_json_count(v) == 0)
        return 0;
    *out = calloc(dt_json_count(v), sizeof(char *));
    if (*out == NULL)
        return -ENOMEM;
    for (const struct dt_json *c = dt_json_first(v); c; c = dt_json_next(c)) {
        const char *s;
        size_t sl;
        dt_json_str(c, &s, &sl);
        (*out)[cnt] = xstrndup(s, sl);
        *n = ++cnt;
        if ((*out)[cnt - 1] == NULL)
            return -ENOMEM;
    }
    return 0;
}

static int
get_placement(const struct dt_json *v, struct st_stream_config *cfg)
{
    if (dt_json_is_null(v)) {
        free(cfg->placement_cluster);
        cfg->placement_cluster = NULL;
        free_strv(cfg->placement_tags, cfg->nplacement_tags);
        cfg->placement_tags = NULL;
        cfg->nplacement_tags = 0;
        cfg->has_placement = false;
        return 0;
    }
    if (!dt_json_is(v, DT_JSON_OBJECT))
        return -EINVAL;
    cfg->has_placement = true;
    for (const struct dt_json *m = dt_json_first(v); m; m = dt_json_next(m)) {
        size_t kn;
        const char *k = dt_json_key(m, &kn);
        int rc = 0;
        if (kn == 7 && strncasecmp(k, "cluster", 7) == 0)
            rc = get_str(m, &cfg->placement_cluster);
        else if (kn == 4 && strncasecmp(k, "tags", 4) == 0)
            rc = get_strv(m, &cfg->placement_tags, &cfg->nplacement_tags);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int
get_metadata(const struct dt_json *v, struct st_stream_config *cfg)
{
    size_t n = 0;

    free_strv(cfg->meta_keys, cfg->nmeta);
    free_strv(cfg->meta_vals, cfg->nmeta);
    cfg->meta_keys = cfg->meta_vals = NULL;
    cfg->nmeta = 0;
    if (dt_json_is_null(v))
        return 0;
    if (!dt_json_is(v, DT_JSON_OBJECT))
        return -EINVAL;
    for (const struct dt_json *m = dt_json_first(v); m; m = dt_json_next(m))
        if (!dt_json_is(m, DT_JSON_STRING))
            return -EINVAL;
    if (dt_json_count(v) == 0)
        return 0;
    cfg->meta_keys = calloc(dt_json_count(v), sizeof(char *));
    cfg->meta_vals = calloc(dt_json_count(v), sizeof(char *));
    if (cfg->meta_keys == NULL || cfg->meta_vals == NULL)
        return -ENOMEM;
    for (const struct dt_json *m = dt_json_first(v); m; m = dt_json_next(m)) {
        size_t kn, vn;
        const char *k = dt_json_key(m, &kn), *s;
        dt_json_str(m, &s, &vn);
        cfg->meta_keys[n] = xstrndup(k, kn);
        cfg->meta_vals[n] = xstrndup(s, vn);
        cfg->nmeta = ++n;
        if (cfg->meta_keys[n - 1] == NULL || cfg->meta_vals[n - 1] == NULL)
            return -ENOMEM;
    }
    return 0;
}

static const char *const ret_names[] = { "limits", "interest", "workqueue" };
static const char *const disc_names[] = { "old", "new" };
static const char *const stor_names[] = { "file", "memory" };

static int
parse_member(const struct dt_json *m, int key, struct st_stream_config *c)
{
    int64_t i64 = 0;
    int rc;

    switch (key) {
    case K_NAME:            return get_str(m, &c->name);
    case K_DESC:            return get_str(m, &c->description);
    case K_TEMPLATE:        return get_str(m, &c->template_owner);
    case K_SUBJECTS:        return get_strv(m, &c->subjects, &c->nsubjects);
    case K_RETENTION:       return dt_json_enum(m, ret_names, 3, false,
                                            &c->retention);
    case K_DISCARD:         return dt_json_enum(m, disc_names, 2, true,
                                            &c->discard);
    case K_STORAGE:         return dt_json_enum(m, stor_names, 2, false,
                                            &c->storage);
    case K_MAX_CONSUMERS:   return dt_json_go_int64(m, &c->max_consumers);
    case K_MAX_MSGS:        return dt_json_go_int64(m, &c->max_msgs);
    case K_MAX_BYTES:       return dt_json_go_int64(m, &c->max_bytes);
    case K_MAX_AGE:         return dt_json_go_int64(m, &c->max_age);
    case K_MAX_PER_SUBJ:    return dt_json_go_int64(m, &c->max_msgs_per_subject);
    case K_REPLICAS:        return dt_json_go_int64(m, &c->num_replicas);
    case K_DUP_WINDOW:      return dt_json_go_int64(m, &c->duplicate_window);
    case K_MAX_MSG_SIZE:
        i64 = c->max_msg_size;
        rc = dt_json_go_int64(m, &i64);
        if (rc < 0 || i64 < INT32_MIN || i64 > INT32_MAX)
            return -EINVAL;
        c->max_msg_size = (int32_t)i64;
        return 0;
    case K_NO_ACK:          return dt_json_go_bool(m, &c->no_ack);
    case K_ALLOW_DIRECT:    return dt_json_go_bool(m, &c->allow_direct);
    case K_MIRROR_DIRECT:   return dt_json_go_bool(m, &c->mirror_direct);
    case K_DISCARD_NEW_PER: return dt_json_go_bool(m, &c->discard_new_per_subject);
    case K_SEALED:          return dt_json_go_bool(m, &c->sealed);
    case K_DENY_DELETE:     return dt_json_go_bool(m, &c->deny_delete);
    case K_DENY_PURGE:      return dt_json_go_bool(m, &c->deny_purge);
    case K_ROLLUP:          return dt_json_go_bool(m, &c->allow_rollup);
    case K_PLACEMENT:       return get_placement(m, c);
    case K_METADATA:        return get_metadata(m, c);
    case K_MIRROR:          return get_mirror(m, c);
    case K_REPUBLISH:       return get_republish(m, c);
    case K_SOURCES:         return get_sources(m, c);
    default:
        return 0;
    }
}

int
st_stream_config_parse(const struct dt_json *obj, struct st_stream_config *cfg,
                       struct st_jserr *err)
{
    memset(cfg, 0, sizeof(*cfg));
    if (dt_json_is_null(obj))
        return 0;                   /* Go: null leaves every member zero */
    if (!dt_json_is(obj, DT_JSON_OBJECT))
        return bad_json(err);
    for (const struct dt_json *m = dt_json_first(obj); m; m = dt_json_next(m)) {
        size_t kn;
        const char *k = dt_json_key(m, &kn);
        int key = key_index(k, kn);
        if (key < 0)
            continue;
        int rc = parse_member(m, key, cfg);
        if (rc < 0) {
            st_stream_config_free(cfg);
            if (rc == -ENOMEM) {
                st_jserr_set(err, 500, 10049, "out of memory");
                return rc;
            }
            return bad_json(err);
        }
    }
    return 0;
}

int
st_stream_config_parse_text(const char *text, size_t len,
                            struct st_stream_config *cfg, struct st_jserr *err)
{
    struct dt_json_doc *doc = NULL;

    memset(cfg, 0, sizeof(*cfg));
    int rc = dt_json_parse(text, len, 0, &doc, NULL);
    if (rc == -ENOMEM) {
        st_jserr_set(err, 500, 10049, "out of memory");
        return rc;
    }
    if (rc < 0)
        return bad_json(err);
    rc = st_stream_config_parse(dt_json_root(doc), cfg, err);
    dt_json_free(doc);
    return rc;
}

/* ---- validation ---------------------------------------------------------- */

static void
limit_defaults(struct st_stream_config *c)
{
    if (c->num_replicas == 0)
        c->num_replicas = 1;
    if (c->max_msgs == 0)
        c->max_msgs = -1;
    if (c->max_msgs_per_subject == 0)
        c->max_msgs_per_subject = -1;
    if (c->max_bytes == 0)
        c->max_bytes = -1;
    if (c->max_msg_size == 0)
        c->max_msg_size = -1;
    if (c->max_consumers == 0)
        c->max_consumers = -1;
    if (c->duplicate_window == 0 && !c->has_mirror) {
        if (c->max_age != 0 && c->max_age < ST_STREAM_DUP_WINDOW)
            c->duplicate_window = c->max_age;
        else
            c->duplicate_window = ST_STREAM_DUP_WINDOW;
    }
}

static int
check_windows(const struct st_stream_config *c, struct st_jserr *err)
{
    if (c->max_age > 0 && c->max_age < 100 * MS_NS)
        return bad_cfg(err, "max age needs to be >= 100ms");
    if (c->duplicate_window < 0)
        return bad_cfg(err, "duplicates window can not be negative");
    if (c->max_age != 0 && c->duplicate_window > c->max_age)
        return bad_cfg(err, "duplicates window can not be larger then "
                       "max age");
    if (c->duplicate_window > 0 && c->duplicate_window < 100 * MS_NS)
        return bad_cfg(err, "duplicates window needs to be >= 100ms");
    if (c->deny_purge && c->allow_rollup)
        return bad_cfg(err, "roll-ups require the purge permission");
    return 0;
}

static int
check_discard_new_per(const struct st_stream_config *c, struct st_jserr *err)
{
    if (!c->discard_new_per_subject)
        return 0;
    if (c->discard != ST_SDISCARD_NEW)
        return bad_cfg(err, "discard new per subject requires discard new "
                       "policy to be set");
    if (c->max_msgs_per_subject <= 0)
        return bad_cfg(err, "discard new per subject requires max msgs per "
                       "subject > 0");
    return 0;
}

static int
check_subjects(struct st_stream_config *c, struct st_jserr *err)
{
    static const char api[] = "$JS.API.>";

    if (c->nsubjects == 0 && (c->has_mirror || c->has_sources))
        return 0;                   /* nats-server adds no default then */
    if (c->nsubjects == 0) {
        c->subjects = calloc(1, sizeof(char *));
        if (c->subjects == NULL || copy_str(&c->subjects[0], c->name) < 0)
            goto nomem;
        c->nsubjects = 1;
        return 0;
    }
    for (size_t i = 0; i < c->nsubjects; i++) {
        const char *s = c->subjects[i];
        size_t n = strlen(s);
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->subjects[j], s) == 0)
                return bad_cfg(err, "duplicate subjects detected");
        if (dt_subject_subset(s, n, api, sizeof(api) - 1))
            return bad_cfg(err, "subjects overlap with jetstream api");
        if (!dt_subject_valid(s, n))
            return bad_cfg(err, "invalid subject");
    }
    for (size_t i = 0; i < c->nsubjects; i++)
        for (size_t j = 0; j < c->nsubjects; j++) {
            const char *a = c->subjects[i], *b = c->subjects[j];
            if (i != j && st_stream_subjects_collide(a, strlen(a), b,
                                                     strlen(b)))
                return bad_cfg(err, "subject \"%s\" overlaps with \"%s\"",
                               a, b);
        }
    return 0;
nomem:
    st_jserr_set(err, 500, 10049, "out of memory");
    return -ENOMEM;
}

/* Mirrors and sources as nats-server checks their shape; streams of
 * other domains ("external") do not exist here. */
static int
check_sources(const struct st_stream_config *c, struct st_jserr *err)
{
    if (c->has_mirror) {
        if (c->nsubjects > 0) {
            st_jserr_set(err, 400, 10034,
                         "stream mirrors can not contain subjects");
            return -EINVAL;
        }
        if (c->has_sources) {
            st_jserr_set(err, 400, 10031,
                         "stream mirrors can not also contain other sources");
            return -EINVAL;
        }
        if (c->mirror->name && strcmp(c->mirror->name, c->name) == 0)
            return bad_cfg(err, "detected cycle");
        if (c->mirror->has_external)
            return bad_cfg(err, "stream mirror external is not supported by "
                           "this server (no other JetStream domains)");
    }
    for (size_t i = 0; i < c->nsources; i++) {
        const struct st_stream_source *ss = &c->sources[i];
        if (ss->name && strcmp(ss->name, c->name) == 0)
            return bad_cfg(err, "detected cycle");
        if (ss->has_external)
            return bad_cfg(err, "stream source external is not supported by "
                           "this server (no other JetStream domains)");
    }
    return 0;
}

/* checkStreamCfg's republish part (after the subjects): src defaults to
 * ">", must overlap a subject; dest must not; the transform must be
 * valid. */
static int
check_republish(struct st_stream_config *c, struct st_jserr *err)
{
    struct st_stream_republish *rp = c->republish;
    bool ok = false;
    int rc;

    if (rp == NULL)
        return 0;
    if (rp->src == NULL || *rp->src == '\0') {
        free(rp->src);
        if ((rp->src = xstrndup(">", 1)) == NULL) {
            st_jserr_set(err, 500, 10049, "out of memory");
            return -ENOMEM;
        }
    }
    const char *d = rp->dest ? rp->dest : "";
    for (size_t i = 0; i < c->nsubjects && !ok; i++)
        ok = st_stream_subjects_collide(rp->src, strlen(rp->src),
                                        c->subjects[i], strlen(c->subjects[i]));
    if (!ok)
        return bad_cfg(err, "stream configuration for republish source is "
                       "not valid subset of subjects");
    for (size_t i = 0; i < c->nsubjects; i++)
        if (st_stream_subjects_collide(d, strlen(d), c->subjects[i],
                                       strlen(c->subjects[i])))
            return bad_cfg(err, "stream configuration for republish "
                           "destination forms a cycle");
    rc = st_stream_republish_map(rp->src, d, NULL, 0, NULL);
    if (rc == -ENOTSUP)
        return bad_cfg(err, "stream configuration for republish destination "
                       "mapping function is not supported by this server "
                       "(only $N and {{wildcard(N)}})");
    if (rc < 0)
        return bad_cfg(err, "stream configuration for republish not valid");
    return 0;
}

int
st_stream_config_check(struct st_stream_config *c, struct st_jserr *err)
{
    size_t nl = c->name ? strlen(c->name) : 0;
    int rc;

    if (nl == 0 || strcspn(c->name, " \t\r\n\f.*>") < nl)
        return bad_cfg(err, "stream name is required and can not contain "
                       "'.', '*', '>'");
    if (nl > ST_STREAM_MAX_NAME)
        return bad_cfg(err, "stream name is too long, maximum allowed is %d",
                       ST_STREAM_MAX_NAME);
    if (c->description && strlen(c->description) > ST_STREAM_MAX_DESC)
        return bad_cfg(err, "stream description is too long, maximum "
                       "allowed is %d", ST_STREAM_MAX_DESC);
    if (c->num_replicas > ST_MAX_REPLICAS)
        return bad_cfg(err, "maximum replicas is %d", ST_MAX_REPLICAS);
    if (c->num_replicas < 0) {
        st_jserr_set(err, 400, 10133, "replicas count cannot be negative");
        return -EINVAL;
    }
    limit_defaults(c);
    if ((rc = check_windows(c, err)) < 0
        || (rc = check_discard_new_per(c, err)) < 0
        || (rc = check_sources(c, err)) < 0
        || (rc = check_subjects(c, err)) < 0)
        return rc;
    return check_republish(c, err);
}

int
st_stream_config_update_check(const struct st_stream_config *old,
                              struct st_stream_config *c, struct st_jserr *err)
{
    if (strcmp(c->name, old->name) != 0)
        return bad_cfg(err, "stream configuration name must match original");
    if (!src_eq(c->mirror, old->mirror)) {
        st_jserr_set(err, 400, 10055, "stream mirror configuration can not "
                     "be updated");
        return -EINVAL;
    }
    if (c->max_consumers != old->max_consumers)
        return bad_cfg(err, "stream configuration update can not change "
                       "MaxConsumers");
    if (c->storage != old->storage)
        return bad_cfg(err, "stream configuration update can not change "
                       "storage type");
    if (c->retention != old->retention)
        return bad_cfg(err, "stream configuration update can not change "
                       "retention policy");
    if (old->template_owner && *old->template_owner)
        return bad_cfg(err, "stream configuration update not allowed on "
                       "template owned stream");
    if (c->template_owner && *c->template_owner)
        return bad_cfg(err, "stream configuration update can not be owned "
                       "by a template");
    if (!c->sealed && old->sealed)
        return bad_cfg(err, "stream configuration update can not unseal a "
                       "sealed stream");
    if (!c->deny_delete && old->deny_delete)
        return bad_cfg(err, "stream configuration update can not cancel "
                       "deny message deletes");
    if (!c->deny_purge && old->deny_purge)
        return bad_cfg(err, "stream configuration update can not cancel "
                       "deny purge");
    int rc = check_discard_new_per(c, err);
    if (rc < 0)
        return rc;
    if (c->sealed) {
        c->max_age = 0;
        c->discard = ST_SDISCARD_NEW;
        c->deny_delete = c->deny_purge = true;
        c->allow_rollup = false;
    }
    return 0;
}

bool
st_stream_config_equal(const struct st_stream_config *a,
                       const struct st_stream_config *b)
{
    return str_eq(a->name, b->name) && str_eq(a->description, b->description)
        && strv_eq(a->subjects, a->nsubjects, b->subjects, b->nsubjects)
        && str_eq(a->template_owner, b->template_owner)
        && a->has_placement == b->has_placement
        && str_eq(a->placement_cluster, b->placement_cluster)
        && strv_eq(a->placement_tags, a->nplacement_tags, b->placement_tags,
                   b->nplacement_tags)
        && strv_eq(a->meta_keys, a->nmeta, b->meta_keys, b->nmeta)
        && strv_eq(a->meta_vals, a->nmeta, b->meta_vals, b->nmeta)
        && a->retention == b->retention && a->discard == b->discard
        && a->storage == b->storage && a->max_consumers == b->max_consumers
        && a->max_msgs == b->max_msgs && a->max_bytes == b->max_bytes
        && a->max_age == b->max_age
        && a->max_msgs_per_subject == b->max_msgs_per_subject
        && a->max_msg_size == b->max_msg_size
        && a->num_replicas == b->num_replicas
        && a->duplicate_window == b->duplicate_window
        && a->no_ack == b->no_ack && a->sealed == b->sealed
        && a->deny_delete == b->deny_delete && a->deny_purge == b->deny_purge
        && a->allow_rollup == b->allow_rollup
        && a->allow_direct == b->allow_direct
        && a->mirror_direct == b->mirror_direct
        && a->discard_new_per_subject == b->discard_new_per_subject
        && src_eq(a->mirror, b->mirror) && srcv_eq(a, b)
        && rp_eq(a->republish, b->republish);
}

/* ---- JSON ---------------------------------------------------------------- */

static void
json_strv(struct dt_jw *w, const char *key, char *const *v, size_t n)
{
    dt_jw_key(w, key);
    dt_jw_begin_array(w);
    for (size_t i = 0; i < n; i++)
        dt_jw_str(w, v[i]);
    dt_jw_end_array(w);
}

static void
json_placement(struct dt_jw *w, const struct st_stream_config *c)
{
    dt_jw_key(w, "placement");
    dt_jw_begin_object(w);
    if (c->placement_cluster && *c->placement_cluster)
        dt_jw_kstr(w, "cluster", c->placement_cluster);
    if (c->nplacement_tags)
        json_strv(w, "tags", c->placement_tags, c->nplacement_tags);
    dt_jw_end_object(w);
}

int
st_stream_config_json(struct dt_jw *w, const struct st_stream_config *c)
{
    dt_jw_begin_object(w);
    dt_jw_kstr(w, "name", c->name);
    if (c->description && *c->description)
        dt_jw_kstr(w, "description", c->description);
    if (c->nsubjects)
        json_strv(w, "subjects", c->subjects, c->nsubjects);
    dt_jw_kstr(w, "retention", ret_names[c->retention % 3]);
    dt_jw_kint(w, "max_consumers", c->max_consumers);
    dt_jw_kint(w, "max_msgs", c->max_msgs);
    dt_jw_kint(w, "max_bytes", c->max_bytes);
    dt_jw_kint(w, "max_age", c->max_age);
    dt_jw_kint(w, "max_msgs_per_subject", c->max_msgs_per_subject);
    dt_jw_kint(w, "max_msg_size", c->max_msg_size);
    dt_jw_kstr(w, "discard", disc_names[c->discard % 2]);
    dt_jw_kstr(w, "storage", stor_names[c->storage % 2]);
    dt_jw_kint(w, "num_replicas", c->num_replicas);
    if (c->no_ack)
        dt_jw_kbool(w, "no_ack", true);
    if (c->template_owner && *c->template_owner)
        dt_jw_kstr(w, "template_owner", c->template_owner);
    if (c->duplicate_window)
        dt_jw_kint(w, "duplicate_window", c->duplicate_window);
    if (c->has_placement)
        json_placement(w, c);
    if (c->mirror) {
        dt_jw_key(w, "mirror");
        json_source(w, c->mirror);
    }
    if (c->nsources) {
        dt_jw_key(w, "sources");
        dt_jw_begin_array(w);
        for (size_t i = 0; i < c->nsources; i++)
            json_source(w, &c->sources[i]);
        dt_jw_end_array(w);
    }
    if (c->republish)
        json_republish(w, c->republish);
    dt_jw_kbool(w, "allow_direct", c->allow_direct);
    dt_jw_kbool(w, "mirror_direct", c->mirror_direct);
    if (c->discard_new_per_subject)
        dt_jw_kbool(w, "discard_new_per_subject", true);
    dt_jw_kbool(w, "sealed", c->sealed);
    dt_jw_kbool(w, "deny_delete", c->deny_delete);
    dt_jw_kbool(w, "deny_purge", c->deny_purge);
    dt_jw_kbool(w, "allow_rollup_hdrs", c->allow_rollup);
    if (c->nmeta) {
        dt_jw_key(w, "metadata");
        dt_jw_begin_object(w);
        for (size_t i = 0; i < c->nmeta; i++)
            dt_jw_kstr(w, c->meta_keys[i], c->meta_vals[i]);
        dt_jw_end_object(w);
    }
    return dt_jw_end_object(w);
}
