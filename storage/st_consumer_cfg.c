/*
 * st_consumer_cfg.c -- ConsumerConfig: JSON parse (Go encoding/json
 * rules), defaults, the validation of nats-server 2.9.10 with its error
 * codes and wording (plus 2.10's filter_subjects rules), update rules,
 * workqueue partitions, JSON output, RFC 3339 times.
 *
 * NOTES
 *   A config owns one blob holding all its strings and backoff values
 *   (one allocation per consumer, which keeps 100k consumers small).
 *   Error texts are copied from what nats-server 2.9.10 answers (checked
 *   against the real server); the order of the checks follows
 *   checkConsumerCfg() and addConsumer().
 *   Errors: 0 or -errno; API errors fill struct st_jserr.
 */
#include "st_consumer_int.h"

#include "dt_subject.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL


/* ------------------------------------------------------------------ */
/* Blob packing: every string and the backoff array in one allocation. */

enum { S_DURABLE, S_NAME, S_DESC, S_FILTER, S_DELIVER, S_GROUP, S_SAMPLE,
       S_COUNT };

static char **
cfg_str(struct st_cons_config *c, int i)
{
    switch (i) {
    case S_DURABLE: return &c->durable;
    case S_NAME: return &c->name;
    case S_DESC: return &c->description;
    case S_FILTER: return &c->filter;
    case S_DELIVER: return &c->deliver_subject;
    case S_GROUP: return &c->deliver_group;
    default: return &c->sample_freq;
    }
}

/* The filter_subjects of a config being packed: v[i] with length
 * len[i] (len NULL: NUL-terminated). */
struct flt_in {
    const char *const *v;
    const size_t *len;
    uint32_t n;
};

static size_t
flt_len(const struct flt_in *f, uint32_t i)
{
    return f->len != NULL ? f->len[i] : strlen(f->v[i]);
}

/* Re-pack *c so that its strings are strs[i] (lengths lens[i], NULL =
 * absent), its backoff is bo[0..nbo) and its filter_subjects f.  The
 * blob holds the backoff values, then the filter pointer array, then
 * the strings.  The old blob is freed after copying, so the inputs may
 * point into it. */
static int
cfg_pack(struct st_cons_config *c, const char *const strs[S_COUNT],
         const size_t lens[S_COUNT], const int64_t *bo, uint32_t nbo,
         const struct flt_in *f)
{
    size_t total = (size_t)nbo * sizeof(int64_t)
                   + (size_t)f->n * sizeof(char *);
    for (int i = 0; i < S_COUNT; i++)
        if (strs[i] != NULL)
            total += lens[i] + 1;
    for (uint32_t i = 0; i < f->n; i++)
        total += flt_len(f, i) + 1;
    char *blob = malloc(total ? total : 1);
    if (blob == NULL)
        return -ENOMEM;
    char *p = blob;
    int64_t *nb = NULL;
    char **nf = NULL;
    if (nbo > 0) {
        nb = (int64_t *)(void *)p;
        memcpy(nb, bo, (size_t)nbo * sizeof(int64_t));
        p += (size_t)nbo * sizeof(int64_t);
    }
    if (f->n > 0) {
        nf = (char **)(void *)p;
        p += (size_t)f->n * sizeof(char *);
    }
    char *ns[S_COUNT];
    for (int i = 0; i < S_COUNT; i++) {
        ns[i] = NULL;
        if (strs[i] == NULL)
            continue;
        memcpy(p, strs[i], lens[i]);
        p[lens[i]] = '\0';
        ns[i] = p;
        p += lens[i] + 1;
    }
    for (uint32_t i = 0; i < f->n; i++) {
        size_t n = flt_len(f, i);
        memcpy(p, f->v[i], n);
        p[n] = '\0';
        nf[i] = p;
        p += n + 1;
    }
    free(c->blob);
    c->blob = blob;
    for (int i = 0; i < S_COUNT; i++)
        *cfg_str(c, i) = ns[i];
    c->backoff = nb;
    c->nbackoff = nbo;
    c->filters = nf;
    c->nfilters = f->n;
    return 0;
}

static void
cfg_strs(struct st_cons_config *c, const char *strs[S_COUNT],
         size_t lens[S_COUNT])
{
    for (int i = 0; i < S_COUNT; i++) {
        strs[i] = *cfg_str(c, i);
        lens[i] = strs[i] ? strlen(strs[i]) : 0;
    }
}

static struct flt_in
cfg_flt(const struct st_cons_config *c)
{
    return (struct flt_in){ (const char *const *)c->filters, NULL,
                            c->nfilters };
}

void
st_cons_config_free(struct st_cons_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->blob);
    memset(cfg, 0, sizeof(*cfg));
}

int
st_cons_config_copy(struct st_cons_config *dst,
                    const struct st_cons_config *src)
{
    const char *strs[S_COUNT];
    size_t lens[S_COUNT];
    struct st_cons_config tmp = *src;
    tmp.blob = NULL;
    struct flt_in f = cfg_flt(src);
    cfg_strs((struct st_cons_config *)src, strs, lens);
    int rc = cfg_pack(&tmp, strs, lens, src->backoff, src->nbackoff, &f);
    if (rc < 0)
        return rc;
    *dst = tmp;
    return 0;
}

int
st_cons_config_set_str(struct st_cons_config *cfg, char **field,
                       const char *s, size_t n)
{
    const char *strs[S_COUNT];
    size_t lens[S_COUNT];
    cfg_strs(cfg, strs, lens);
    for (int i = 0; i < S_COUNT; i++) {
        if (cfg_str(cfg, i) == field) {
            strs[i] = (s != NULL && n > 0) ? s : NULL;
            lens[i] = strs[i] ? n : 0;
        }
    }
    struct flt_in f = cfg_flt(cfg);
    return cfg_pack(cfg, strs, lens, cfg->backoff, cfg->nbackoff, &f);
}

int
st_cons_config_set_filters(struct st_cons_config *cfg, const char *const *v,
                           uint32_t n)
{
    const char *strs[S_COUNT];
    size_t lens[S_COUNT];
    struct flt_in f = { v, NULL, n };
    if (n > ST_CONS_MAX_FILTERS || (n > 0 && v == NULL))
        return -EINVAL;
    for (uint32_t i = 0; i < n; i++)
        if (v[i] == NULL)
            return -EINVAL;
    cfg_strs(cfg, strs, lens);
    return cfg_pack(cfg, strs, lens, cfg->backoff, cfg->nbackoff, &f);
}

/* ------------------------------------------------------------------ */
/* Times (Go time.Time JSON: RFC 3339 with optional fraction). */

int
st_time_format(char *dst, size_t cap, int64_t ns, int32_t tz_off)
{
    int64_t secs = ns / NS_PER_S;
    int64_t frac = ns % NS_PER_S;
    if (frac < 0) {
        frac += NS_PER_S;
        secs--;
    }
    time_t t = (time_t)(secs + tz_off);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return -EINVAL;
    char fb[16] = "";
    if (frac != 0) {
        int len = snprintf(fb, sizeof(fb), ".%09" PRId64, frac);
        while (len > 1 && fb[len - 1] == '0')
            fb[--len] = '\0';
    }
    char zb[8] = "Z";
    if (tz_off != 0) {
        int32_t a = tz_off < 0 ? -tz_off : tz_off;
        snprintf(zb, sizeof(zb), "%c%02d:%02d", tz_off < 0 ? '-' : '+',
                 (int)(a / 3600) % 100, (int)(a / 60) % 60);
    }
    int n = snprintf(dst, cap, "%04d-%02d-%02dT%02d:%02d:%02d%s%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, fb, zb);
    return (n < 0 || (size_t)n >= cap) ? -ENOSPC : n;
}

static int
digits(const char *s, size_t n, size_t at, size_t cnt, int *out)
{
    int v = 0;
    if (at + cnt > n)
        return -EINVAL;
    for (size_t i = 0; i < cnt; i++) {
        if (s[at + i] < '0' || s[at + i] > '9')
            return -EINVAL;
        v = v * 10 + (s[at + i] - '0');
    }
    *out = v;
    return 0;
}

int
st_time_parse(const char *s, size_t n, int64_t *ns, int32_t *tz_off)
{
    int Y, M, D, h, m, sec, zh = 0, zm = 0;
    size_t i = 19;
    if (digits(s, n, 0, 4, &Y) || n < 20 || s[4] != '-'
        || digits(s, n, 5, 2, &M) || s[7] != '-' || digits(s, n, 8, 2, &D)
        || (s[10] != 'T' && s[10] != 't') || digits(s, n, 11, 2, &h)
        || s[13] != ':' || digits(s, n, 14, 2, &m) || s[16] != ':'
        || digits(s, n, 17, 2, &sec))
        return -EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 59)
        return -EINVAL;
    int64_t frac = 0;
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        int64_t scale = NS_PER_S;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (scale > 1) {
                scale /= 10;
                frac += (s[i] - '0') * scale;
            }
        }
        if (i == f0)
            return -EINVAL;
    }
    int32_t off = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        if (digits(s, n, i + 1, 2, &zh) || i + 3 >= n || s[i + 3] != ':'
            || digits(s, n, i + 4, 2, &zm) || zh > 23 || zm > 59)
            return -EINVAL;
        off = (zh * 3600 + zm * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return -EINVAL;
    }
    if (i != n)
        return -EINVAL;
    struct tm tm = { 0 };
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *ns = ((int64_t)t - off) * NS_PER_S + frac;
    *tz_off = off;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Parsing. */

static int
bad_json(struct st_jserr *err)
{
    st_jserr_set(err, 400, 10025, "invalid JSON");
    return -EINVAL;
}

/* Integers, booleans and enums decode with dt_json_go_int64,
 * dt_json_go_bool and dt_json_enum (Go's null and enum rules). */
static int
get_str(const struct dt_json *v, const char **s, size_t *n)
{
    if (dt_json_is_null(v))
        return 0;
    if (dt_json_str(v, s, n) < 0)
        return -EINVAL;
    if (*n == 0)
        *s = NULL;
    return 0;
}

static const char *const dp_names[] = {
    "all", "last", "new", "by_start_sequence", "by_start_time",
    "last_per_subject",
};
static const char *const ap_names[] = { "none", "all", "explicit" };
static const char *const rp_names[] = { "instant", "original" };

static bool
key_is(const struct dt_json *m, const char *key)
{
    size_t kl;
    const char *k = dt_json_key(m, &kl);
    return k != NULL && kl == strlen(key) && strncasecmp(k, key, kl) == 0;
}

/* filter_subjects ([]string): null is no filters, a null element is ""
 * (Go's decoding), anything else that is not a string is an error.  The
 * arrays point into the JSON tree; the caller frees them. */
static int
get_filters(const struct dt_json *m, struct flt_in *f)
{
    free((void *)f->v);
    free((void *)f->len);
    *f = (struct flt_in){ 0 };
    if (dt_json_is_null(m))
        return 0;
    if (!dt_json_is(m, DT_JSON_ARRAY))
        return -EINVAL;
    size_t n = dt_json_count(m);
    if (n == 0)
        return 0;
    if (n > ST_CONS_MAX_FILTERS)
        return -EINVAL;
    const char **v = calloc(n, sizeof(*v));
    size_t *len = calloc(n, sizeof(*len));
    f->v = v;
    f->len = len;
    if (v == NULL || len == NULL)
        return -ENOMEM;
    for (const struct dt_json *e = dt_json_first(m); e && f->n < n;
         e = dt_json_next(e)) {
        v[f->n] = "";
        if (!dt_json_is_null(e) && dt_json_str(e, &v[f->n], &len[f->n]) < 0)
            return -EINVAL;
        f->n++;
    }
    return 0;
}

int
st_cons_config_parse(const struct dt_json *obj, struct st_cons_config *cfg,
                     struct st_jserr *err)
{
    const char *strs[S_COUNT] = { 0 };
    size_t lens[S_COUNT] = { 0 };
    int64_t bo[ST_CONS_MAX_BACKOFF];
    uint32_t nbo = 0;
    struct flt_in flt = { 0 };
    int rc = 0;
    static const char *const skeys[S_COUNT] = {
        "durable_name", "name", "description", "filter_subject",
        "deliver_subject", "deliver_group", "sample_freq",
    };
    memset(cfg, 0, sizeof(*cfg));
    if (obj == NULL || dt_json_is_null(obj))
        goto pack;
    if (!dt_json_is(obj, DT_JSON_OBJECT))
        return bad_json(err);
    for (const struct dt_json *m = dt_json_first(obj); m && rc == 0;
         m = dt_json_next(m)) {
        int si;
        for (si = 0; si < S_COUNT && !key_is(m, skeys[si]); si++)
            ;
        if (si < S_COUNT) {
            strs[si] = NULL;
            lens[si] = 0;
            rc = get_str(m, &strs[si], &lens[si]);
        } else if (key_is(m, "deliver_policy")) {
            rc = dt_json_enum(m, dp_names, 6, false, &cfg->deliver_policy);
            /* "undefined" is DeliverAll too */
            if (rc < 0 && dt_json_is(m, DT_JSON_STRING) && m->len == 9
                && memcmp(m->u.s, "undefined", 9) == 0) {
                cfg->deliver_policy = ST_DP_ALL;
                rc = 0;
            }
        } else if (key_is(m, "ack_policy")) {
            rc = dt_json_enum(m, ap_names, 3, false, &cfg->ack_policy);
        } else if (key_is(m, "replay_policy")) {
            rc = dt_json_enum(m, rp_names, 2, false, &cfg->replay_policy);
        } else if (key_is(m, "opt_start_seq")) {
            if (!dt_json_is_null(m) && dt_json_uint64(m, &cfg->opt_start_seq) < 0)
                rc = -EINVAL;
        } else if (key_is(m, "opt_start_time")) {
            const char *s;
            size_t n;
            cfg->has_start_time = false;
            if (!dt_json_is_null(m)) {
                if (dt_json_str(m, &s, &n) < 0
                    || st_time_parse(s, n, &cfg->opt_start_time,
                                     &cfg->start_tz) < 0)
                    rc = -EINVAL;
                else
                    cfg->has_start_time = true;
            }
        } else if (key_is(m, "ack_wait")) {
            rc = dt_json_go_int64(m, &cfg->ack_wait);
        } else if (key_is(m, "max_deliver")) {
            rc = dt_json_go_int64(m, &cfg->max_deliver);
        } else if (key_is(m, "backoff")) {
            nbo = 0;
            if (!dt_json_is_null(m)) {
                if (!dt_json_is(m, DT_JSON_ARRAY))
                    rc = -EINVAL;
                for (const struct dt_json *e = dt_json_first(m); e && rc == 0;
                     e = dt_json_next(e)) {
                    int64_t v = 0;
                    if (dt_json_go_int64(e, &v) < 0)
                        rc = -EINVAL;
                    else if (nbo < ST_CONS_MAX_BACKOFF)
                        bo[nbo++] = v;
                }
            }
        } else if (key_is(m, "rate_limit_bps")) {
            if (!dt_json_is_null(m) && dt_json_uint64(m, &cfg->rate_limit) < 0)
                rc = -EINVAL;
        } else if (key_is(m, "max_waiting")) {
            rc = dt_json_go_int64(m, &cfg->max_waiting);
        } else if (key_is(m, "max_ack_pending")) {
            rc = dt_json_go_int64(m, &cfg->max_ack_pending);
        } else if (key_is(m, "idle_heartbeat")) {
            rc = dt_json_go_int64(m, &cfg->idle_heartbeat);
        } else if (key_is(m, "flow_control")) {
            rc = dt_json_go_bool(m, &cfg->flow_control);
        } else if (key_is(m, "headers_only")) {
            rc = dt_json_go_bool(m, &cfg->headers_only);
        } else if (key_is(m, "max_batch")) {
            rc = dt_json_go_int64(m, &cfg->max_batch);
        } else if (key_is(m, "max_expires")) {
            rc = dt_json_go_int64(m, &cfg->max_expires);
        } else if (key_is(m, "max_bytes")) {
            rc = dt_json_go_int64(m, &cfg->max_bytes);
        } else if (key_is(m, "inactive_threshold")) {
            rc = dt_json_go_int64(m, &cfg->inactive_threshold);
        } else if (key_is(m, "num_replicas")) {
            rc = dt_json_go_int64(m, &cfg->num_replicas);
        } else if (key_is(m, "mem_storage")) {
            rc = dt_json_go_bool(m, &cfg->mem_storage);
        } else if (key_is(m, "direct")) {
            rc = dt_json_go_bool(m, &cfg->direct);
        } else if (key_is(m, "filter_subjects")) {
            rc = get_filters(m, &flt);
        }
        /* anything else (metadata ...) is ignored */
    }
pack:
    if (rc == 0)
        rc = cfg_pack(cfg, strs, lens, bo, nbo, &flt);
    free((void *)flt.v);
    free((void *)flt.len);
    if (rc == -ENOMEM) {
        st_jserr_set(err, 500, 10012, "out of memory");
        return rc;
    }
    return rc < 0 ? bad_json(err) : 0;
}

void
st_cons_config_defaults(struct st_cons_config *cfg)
{
    bool acks = cfg->ack_policy == ST_AP_EXPLICIT
                || cfg->ack_policy == ST_AP_ALL;
    if (cfg->deliver_subject == NULL && cfg->max_waiting == 0)
        cfg->max_waiting = 512;
    if (cfg->ack_wait == 0 && acks)
        cfg->ack_wait = 30 * NS_PER_S;
    if (cfg->max_deliver == 0)
        cfg->max_deliver = -1;
    if (cfg->nbackoff > 0)
        cfg->ack_wait = cfg->backoff[0];
    if (acks && cfg->max_ack_pending == 0)
        cfg->max_ack_pending = 1000;
}

/* ------------------------------------------------------------------ */
/* Subject relations: dt_subject_subset / dt_subject_overlap (shared). */

static bool
has_wildcard(const char *s)
{
    return !dt_subject_valid_literal(s, strlen(s));
}

/* subjectIsLiteral() is false: some token is exactly '*' or '>'. */
static bool
has_wildcard_token(const char *s)
{
    for (const char *t = s; *t; ) {
        size_t n = strcspn(t, ".");
        if (n == 1 && (t[0] == '*' || t[0] == '>'))
            return true;
        t += n + (t[n] == '.');
    }
    return false;
}

static bool
valid_filter(const struct st_cons_stream *s, const char *f)
{
    size_t fl = strlen(f);
    if (!dt_subject_valid(f, fl))
        return false;
    if (s->subjects == NULL || s->nsubjects == 0)
        return true;            /* the owner gave no subjects to check */
    bool wc = has_wildcard(f);
    for (size_t i = 0; i < s->nsubjects; i++) {
        const char *ss = s->subjects[i];
        if (ss == NULL)
            continue;
        if (dt_subject_subset(f, strlen(f), ss, strlen(ss)) ||
            (wc && dt_subject_subset(ss, strlen(ss), f, strlen(f))))
            return true;
    }
    return false;
}

static bool
valid_name(const char *n)
{
    return n[0] != '\0' && strpbrk(n, " \t\r\n\f.*>") == NULL;
}

/* strconv.Atoi on sample_freq without its '%'. */
static int
check_sampling(const char *sf, struct st_jserr *err)
{
    size_t n = strlen(sf);
    size_t k = n;
    if (k > 0 && sf[k - 1] == '%')
        k--;
    size_t i = 0;
    bool neg = false;
    if (i < k && (sf[i] == '+' || sf[i] == '-'))
        neg = sf[i++] == '-';
    bool ok = i < k;
    uint64_t v = 0;
    for (; i < k && ok; i++) {
        if (sf[i] < '0' || sf[i] > '9')
            ok = false;
        else if ((v = v * 10 + (uint64_t)(sf[i] - '0')) > INT64_MAX) {
            st_jserr_set(err, 400, 10095,
                           "failed to parse consumer sampling configuration: "
                           "strconv.Atoi: parsing \"%.*s\": value out of range",
                           (int)k, sf);
            return -EINVAL;
        }
    }
    if (!ok) {
        st_jserr_set(err, 400, 10095,
                       "failed to parse consumer sampling configuration: "
                       "strconv.Atoi: parsing \"%.*s\": invalid syntax",
                       (int)k, sf);
        return -EINVAL;
    }
    if (neg && v > 0) {
        st_jserr_set(err, 400, 10095,
                       "failed to parse consumer sampling configuration");
        return -EINVAL;
    }
    return 0;
}

static int
policy_err(struct st_jserr *err, const char *dp, const char *what,
           bool also)
{
    st_jserr_set(err, 400, 10094,
                   "consumer delivery policy is deliver %s, but optional %s "
                   "is %s", dp, what, also ? "also set" : "not set");
    return -EINVAL;
}

static int
check_start(const struct st_cons_config *c, struct st_jserr *err)
{
    static const char *const dpn[] = {
        "all", "last", "new", "by start sequence", "by start time",
        "last per subject",
    };
    const char *dp = dpn[c->deliver_policy % 6];
    switch (c->deliver_policy) {
    case ST_DP_ALL:
    case ST_DP_LAST:
    case ST_DP_NEW:
    case ST_DP_LAST_PER_SUBJECT:
        if (c->opt_start_seq > 0)
            return policy_err(err, dp, "start sequence", true);
        if (c->has_start_time)
            return policy_err(err, dp, "start time", true);
        if (c->deliver_policy == ST_DP_LAST_PER_SUBJECT
            && st_cons_config_nfilters(c) == 0)
            return policy_err(err, dp, "filter subject", false);
        return 0;
    case ST_DP_BY_START_SEQ:
        if (c->opt_start_seq == 0)
            return policy_err(err, dp, "start sequence", false);
        if (c->has_start_time)
            return policy_err(err, dp, "start time", true);
        return 0;
    default:
        if (!c->has_start_time)
            return policy_err(err, dp, "start time", false);
        if (c->opt_start_seq != 0)
            return policy_err(err, dp, "start sequence", true);
        return 0;
    }
}

static int
check_push(const struct st_cons_stream *s, const struct st_cons_config *c,
           struct st_jserr *err)
{
    const char *ds = c->deliver_subject;
    size_t dl = strlen(ds);
    if (has_wildcard_token(ds)) {
        st_jserr_set(err, 400, 10079, "consumer deliver subject has wildcards");
        return -EINVAL;
    }
    if (!dt_subject_valid_literal(ds, dl)) {
        st_jserr_set(err, 400, 10112, "invalid push consumer deliver subject");
        return -EINVAL;
    }
    for (size_t i = 0; s->subjects != NULL && i < s->nsubjects; i++) {
        const char *ss = s->subjects[i];
        if (ss != NULL && dt_subject_matches(ss, strlen(ss), ds, dl)) {
            st_jserr_set(err, 400, 10081, "consumer deliver subject forms a cycle");
            return -EINVAL;
        }
    }
    if (c->max_waiting != 0) {
        st_jserr_set(err, 400, 10080, "consumer in push mode can not set max waiting");
        return -EINVAL;
    }
    if (c->max_ack_pending > 0 && c->ack_policy == ST_AP_NONE) {
        st_jserr_set(err, 400, 10082, "consumer requires ack policy for max ack pending");
        return -EINVAL;
    }
    if (c->idle_heartbeat > 0 && c->idle_heartbeat < 100 * NS_PER_MS) {
        st_jserr_set(err, 400, 10083, "consumer idle heartbeat needs to be >= 100ms");
        return -EINVAL;
    }
    return 0;
}

static int
check_pull(const struct st_cons_stream *s, const struct st_cons_config *c,
           struct st_jserr *err)
{
    if (c->ack_policy == ST_AP_NONE && s->retention == ST_RET_WORKQUEUE) {
        st_jserr_set(err, 400, 10084, "consumer in pull mode requires ack policy");
        return -EINVAL;
    }
    if (c->rate_limit > 0) {
        st_jserr_set(err, 400, 10086, "consumer in pull mode can not have rate limit set");
        return -EINVAL;
    }
    if (c->max_waiting < 0) {
        st_jserr_set(err, 400, 10087, "consumer max waiting needs to be positive");
        return -EINVAL;
    }
    if (c->idle_heartbeat > 0) {
        st_jserr_set(err, 400, 10088, "consumer idle heartbeat requires a push based consumer");
        return -EINVAL;
    }
    if (c->flow_control) {
        st_jserr_set(err, 400, 10089, "consumer flow control requires a push based consumer");
        return -EINVAL;
    }
    if (c->max_batch < 0) {
        st_jserr_set(err, 400, 10114, "consumer max request batch needs to be > 0");
        return -EINVAL;
    }
    if (c->max_expires != 0 && c->max_expires < NS_PER_MS) {
        st_jserr_set(err, 400, 10115, "consumer max request expires needs to be >= 1ms");
        return -EINVAL;
    }
    return 0;
}

static bool
filters_collide(const char *a, const char *b)
{
    return dt_subject_overlap(a, strlen(a), b, strlen(b));
}

/* The filter checks of checkConsumerCfg() (2.10 for filter_subjects):
 * not both members, no empty element, each a valid subject, no two that
 * one subject can match, and (not when recovering, as nats) each a
 * subset of the stream's subjects. */
static int
check_filters(const struct st_cons_stream *s, const struct st_cons_config *c,
              bool recovering, struct st_jserr *err)
{
    uint32_t n = st_cons_config_nfilters(c);
    if (c->filter != NULL && c->nfilters > 0) {
        st_jserr_set(err, 400, 10136, "consumer cannot have both FilterSubject and FilterSubjects specified");
        return -EINVAL;
    }
    if (n > ST_CONS_MAX_FILTERS)
        return bad_json(err);
    for (uint32_t i = 0; i < c->nfilters; i++) {
        if (c->filters[i][0] == '\0') {
            st_jserr_set(err, 400, 10139, "consumer filter in FilterSubjects cannot be empty");
            return -EINVAL;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *f = st_cons_config_filter(c, i);
        if (!dt_subject_valid(f, strlen(f)))
            goto not_subset;
    }
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t j = i + 1; j < n; j++) {
            if (filters_collide(c->filters[i], c->filters[j])) {
                st_jserr_set(err, 400, 10138, "consumer subject filters cannot overlap");
                return -EINVAL;
            }
        }
    }
    for (uint32_t i = 0; i < n && !recovering; i++)
        if (!valid_filter(s, st_cons_config_filter(c, i)))
            goto not_subset;
    return 0;
not_subset:
    st_jserr_set(err, 400, 10093, "consumer filter subject is not a valid subset of the interest subjects");
    return -EINVAL;
}

/* checkConsumerCfg() of nats-server 2.9.10, in its order (2.10's filter
 * checks where 2.9.10 checks filter_subject). */
int
st_cons_check(const struct st_cons_set *set, const struct st_cons_config *c,
              bool recovering, struct st_jserr *err)
{
    const struct st_cons_stream *s = set->s;
    int rc;
    if (c->num_replicas > 0 && c->num_replicas > s->replicas) {
        st_jserr_set(err, 400, 10126, "consumer config replica count exceeds parent stream");
        return -EINVAL;
    }
    if (c->num_replicas < 0) {
        st_jserr_set(err, 400, 10133, "replicas count cannot be negative");
        return -EINVAL;
    }
    if (s->retention != ST_RET_LIMITS && !recovering && c->num_replicas != 0
        && c->num_replicas != s->replicas) {
        st_jserr_set(err, 400, 10134, "consumer config replicas must match interest retention stream's replicas");
        return -EINVAL;
    }
    if (c->nbackoff > 0 && c->max_deliver <= (int64_t)c->nbackoff) {
        st_jserr_set(err, 400, 10116, "max deliver is required to be > length of backoff values");
        return -EINVAL;
    }
    if (c->description != NULL && strlen(c->description) > ST_CONS_MAX_DESC) {
        st_jserr_set(err, 400, 10107, "consumer description is too long, maximum allowed is %d", ST_CONS_MAX_DESC);
        return -EINVAL;
    }
    rc = c->deliver_subject ? check_push(s, c, err) : check_pull(s, c, err);
    if (rc < 0)
        return rc;
    if (c->direct && c->deliver_subject == NULL) {
        st_jserr_set(err, 400, 10090, "consumer direct requires a push based consumer");
        return -EINVAL;
    }
    if (c->direct && c->durable != NULL) {
        st_jserr_set(err, 400, 10091, "consumer direct requires an ephemeral consumer");
        return -EINVAL;
    }
    if ((rc = check_filters(s, c, recovering, err)) < 0)
        return rc;
    if ((rc = check_start(c, err)) < 0)
        return rc;
    if (c->sample_freq != NULL && (rc = check_sampling(c->sample_freq, err)) < 0)
        return rc;
    if (c->flow_control && c->idle_heartbeat == 0) {
        st_jserr_set(err, 400, 10108, "consumer with flow control also needs heartbeats");
        return -EINVAL;
    }
    if (c->durable != NULL && c->name != NULL
        && strcmp(c->durable, c->name) != 0) {
        st_jserr_set(err, 400, 10132, "Consumer Durable and Name have to be equal if both are provided");
        return -EINVAL;
    }
    /* addConsumer(): limits, workqueue rules, the name */
    return 0;
}

int
st_cons_config_check(const struct st_cons_set *set,
                     const struct st_cons_config *cfg, struct st_jserr *err)
{
    return st_cons_check(set, cfg, false, err);
}

/* partitionUnique(): no filter of `c` can match a subject that a filter
 * of another consumer (`self` excluded) matches, and no other consumer
 * is unfiltered.  A config without filters passes (as in nats, where
 * the loop is over its filters).  err = 10100 when not unique. */
bool
st_cons_partition_unique(const struct st_cons_set *set,
                         const struct st_consumer *self,
                         const struct st_cons_config *c, struct st_jserr *err)
{
    uint32_t n = st_cons_config_nfilters(c);
    for (uint32_t b = 0; n > 0 && b < set->nbuckets; b++) {
        for (const struct st_consumer *o = set->buckets[b]; o; o = o->hnext) {
            uint32_t on = st_cons_config_nfilters(&o->cfg);
            bool clash = o != self && on == 0;
            for (uint32_t i = 0; o != self && !clash && i < n; i++)
                for (uint32_t j = 0; !clash && j < on; j++)
                    clash = filters_collide(st_cons_config_filter(c, i),
                                            st_cons_config_filter(&o->cfg, j));
            if (clash) {
                st_jserr_set(err, 400, 10100, "filtered consumer not unique on workqueue stream");
                return false;
            }
        }
    }
    return true;
}

/* The part of addConsumer() that needs the other consumers. */
int
st_cons_check_add(const struct st_cons_set *set,
                  const struct st_cons_config *c, const char *name,
                  struct st_jserr *err)
{
    const struct st_cons_stream *s = set->s;
    if (s->max_consumers > 0 && (int64_t)set->count >= s->max_consumers) {
        st_jserr_set(err, 400, 10026, "maximum consumers limit reached");
        return -EINVAL;
    }
    if (s->retention == ST_RET_WORKQUEUE && !c->direct) {
        if (c->ack_policy != ST_AP_EXPLICIT) {
            st_jserr_set(err, 400, 10098, "workqueue stream requires explicit ack");
            return -EINVAL;
        }
        if (set->count > 0 && st_cons_config_nfilters(c) == 0) {
            st_jserr_set(err, 400, 10099, "multiple non-filtered consumers not allowed on workqueue stream");
            return -EINVAL;
        }
        if (set->count > 0 && !st_cons_partition_unique(set, NULL, c, err))
            return -EINVAL;
        if (c->deliver_policy != ST_DP_ALL) {
            st_jserr_set(err, 400, 10101, "consumer must be deliver all on workqueue stream");
            return -EINVAL;
        }
    }
    if (strlen(name) > ST_CONS_MAX_NAME) {
        st_jserr_set(err, 400, 10102, "consumer name is too long, maximum allowed is %d", ST_CONS_MAX_NAME);
        return -EINVAL;
    }
    if (strpbrk(name, "/\\") != NULL) {
        st_jserr_set(err, 400, 10127, "Consumer name can not contain path separators");
        return -EINVAL;
    }
    if (!valid_name(name)) {
        st_jserr_set(err, 400, 10103, "durable name can not contain '.', '*', '>'");
        return -EINVAL;
    }
    return 0;
}

static bool
str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Go's reflect.DeepEqual on the slices: same filters in the same order
 * (the caller compared the counts). */
static bool
filters_eq(const struct st_cons_config *a, const struct st_cons_config *b)
{
    for (uint32_t i = 0; i < a->nfilters; i++)
        if (strcmp(a->filters[i], b->filters[i]) != 0)
            return false;
    return true;
}

bool
st_cons_config_equal(const struct st_cons_config *a,
                     const struct st_cons_config *b)
{
    return str_eq(a->durable, b->durable) && str_eq(a->name, b->name)
           && str_eq(a->description, b->description)
           && str_eq(a->filter, b->filter)
           && a->nfilters == b->nfilters && filters_eq(a, b)
           && str_eq(a->deliver_subject, b->deliver_subject)
           && str_eq(a->deliver_group, b->deliver_group)
           && str_eq(a->sample_freq, b->sample_freq)
           && a->nbackoff == b->nbackoff
           && (a->nbackoff == 0
               || memcmp(a->backoff, b->backoff,
                         a->nbackoff * sizeof(int64_t)) == 0)
           && a->has_start_time == b->has_start_time
           && (!a->has_start_time
               || (a->opt_start_time == b->opt_start_time
                   && a->start_tz == b->start_tz))
           && a->opt_start_seq == b->opt_start_seq
           && a->ack_wait == b->ack_wait && a->max_deliver == b->max_deliver
           && a->rate_limit == b->rate_limit
           && a->max_waiting == b->max_waiting
           && a->max_ack_pending == b->max_ack_pending
           && a->idle_heartbeat == b->idle_heartbeat
           && a->max_batch == b->max_batch
           && a->max_expires == b->max_expires
           && a->max_bytes == b->max_bytes
           && a->inactive_threshold == b->inactive_threshold
           && a->num_replicas == b->num_replicas
           && a->deliver_policy == b->deliver_policy
           && a->ack_policy == b->ack_policy
           && a->replay_policy == b->replay_policy
           && a->flow_control == b->flow_control
           && a->headers_only == b->headers_only
           && a->mem_storage == b->mem_storage && a->direct == b->direct;
}

static int
upd_err(struct st_jserr *err, const char *what)
{
    st_jserr_set(err, 500, 10012, "%s", what);
    return -EINVAL;
}

/* checkNewConsumerConfig().  The deliver-subject-in-use case needs the
 * owner's interest callback and is checked by the caller. */
int
st_cons_check_update(const struct st_cons_config *o,
                     const struct st_cons_config *n, struct st_jserr *err)
{
    if (st_cons_config_equal(o, n))
        return 0;
    if (o->deliver_policy != n->deliver_policy)
        return upd_err(err, "deliver policy can not be updated");
    if (o->opt_start_seq != n->opt_start_seq)
        return upd_err(err, "start sequence can not be updated");
    /* Go compares the *time.Time pointers: any start time differs */
    if (o->has_start_time || n->has_start_time)
        return upd_err(err, "start time can not be updated");
    if (o->ack_policy != n->ack_policy)
        return upd_err(err, "ack policy can not be updated");
    if (o->replay_policy != n->replay_policy)
        return upd_err(err, "replay policy can not be updated");
    if (o->idle_heartbeat != n->idle_heartbeat)
        return upd_err(err, "heart beats can not be updated");
    if (o->flow_control != n->flow_control)
        return upd_err(err, "flow control can not be updated");
    if (o->max_waiting != n->max_waiting)
        return upd_err(err, "max waiting can not be updated");
    if (!str_eq(o->deliver_subject, n->deliver_subject)) {
        if (o->deliver_subject == NULL)
            return upd_err(err, "can not update pull consumer to push based");
        if (n->deliver_subject == NULL)
            return upd_err(err, "can not update push consumer to pull based");
    }
    if (n->nbackoff > 0 && n->max_deliver <= (int64_t)n->nbackoff) {
        st_jserr_set(err, 400, 10116, "max deliver is required to be > length of backoff values");
        return -EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* JSON output, member order and omitempty as Go's ConsumerConfig. */

int
st_cons_config_json(struct dt_jw *w, const struct st_cons_config *c)
{
    char tb[64];
    dt_jw_begin_object(w);
    if (c->durable)
        dt_jw_kstr(w, "durable_name", c->durable);
    if (c->name)
        dt_jw_kstr(w, "name", c->name);
    if (c->description)
        dt_jw_kstr(w, "description", c->description);
    dt_jw_kstr(w, "deliver_policy", dp_names[c->deliver_policy % 6]);
    if (c->opt_start_seq)
        dt_jw_kuint(w, "opt_start_seq", c->opt_start_seq);
    if (c->has_start_time
        && st_time_format(tb, sizeof(tb), c->opt_start_time, c->start_tz) > 0)
        dt_jw_kstr(w, "opt_start_time", tb);
    dt_jw_kstr(w, "ack_policy", ap_names[c->ack_policy % 3]);
    if (c->ack_wait)
        dt_jw_kint(w, "ack_wait", c->ack_wait);
    if (c->max_deliver)
        dt_jw_kint(w, "max_deliver", c->max_deliver);
    if (c->nbackoff) {
        dt_jw_key(w, "backoff");
        dt_jw_begin_array(w);
        for (uint32_t i = 0; i < c->nbackoff; i++)
            dt_jw_int64(w, c->backoff[i]);
        dt_jw_end_array(w);
    }
    if (c->filter)
        dt_jw_kstr(w, "filter_subject", c->filter);
    if (c->nfilters) {
        dt_jw_key(w, "filter_subjects");
        dt_jw_begin_array(w);
        for (uint32_t i = 0; i < c->nfilters; i++)
            dt_jw_str(w, c->filters[i]);
        dt_jw_end_array(w);
    }
    dt_jw_kstr(w, "replay_policy", rp_names[c->replay_policy % 2]);
    if (c->rate_limit)
        dt_jw_kuint(w, "rate_limit_bps", c->rate_limit);
    if (c->sample_freq)
        dt_jw_kstr(w, "sample_freq", c->sample_freq);
    if (c->max_waiting)
        dt_jw_kint(w, "max_waiting", c->max_waiting);
    if (c->max_ack_pending)
        dt_jw_kint(w, "max_ack_pending", c->max_ack_pending);
    if (c->idle_heartbeat)
        dt_jw_kint(w, "idle_heartbeat", c->idle_heartbeat);
    if (c->flow_control)
        dt_jw_kbool(w, "flow_control", true);
    if (c->headers_only)
        dt_jw_kbool(w, "headers_only", true);
    if (c->max_batch)
        dt_jw_kint(w, "max_batch", c->max_batch);
    if (c->max_expires)
        dt_jw_kint(w, "max_expires", c->max_expires);
    if (c->max_bytes)
        dt_jw_kint(w, "max_bytes", c->max_bytes);
    if (c->deliver_subject)
        dt_jw_kstr(w, "deliver_subject", c->deliver_subject);
    if (c->deliver_group)
        dt_jw_kstr(w, "deliver_group", c->deliver_group);
    if (c->inactive_threshold)
        dt_jw_kint(w, "inactive_threshold", c->inactive_threshold);
    dt_jw_kint(w, "num_replicas", c->num_replicas);
    if (c->mem_storage)
        dt_jw_kbool(w, "mem_storage", true);
    if (c->direct)
        dt_jw_kbool(w, "direct", true);
    return dt_jw_end_object(w);
}
