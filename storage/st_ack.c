/*
 * st_ack.c -- ack reply subjects ($JS.ACK v1 tokens) and ack bodies.
 *
 * NOTES
 *   Pure functions over length-prefixed bytes; no allocation.  The NAK
 *   delay JSON is parsed into a small stack buffer (dt_json_parse_in).
 *   Errors: -EINVAL for malformed input, -ENOSPC / -ERANGE as documented
 *   in st_ack.h.  Bad input never crashes.
 */
#include "st_ack.h"

#include "dt_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int
st_ack_format(char *dst, size_t cap, const char *stream, size_t sl,
              const char *cons, size_t cl, uint64_t delivered,
              uint64_t sseq, uint64_t dseq, int64_t ts, uint64_t pending)
{
    if (dst == NULL || cap == 0)
        return -ENOSPC;
    int n = snprintf(dst, cap,
                     ST_ACK_PREFIX "%.*s.%.*s.%" PRIu64 ".%" PRIu64
                     ".%" PRIu64 ".%" PRId64 ".%" PRIu64,
                     (int)sl, stream, (int)cl, cons, delivered, sseq, dseq,
                     ts, pending);
    if (n < 0 || (size_t)n >= cap) {
        dst[0] = '\0';
        return -ENOSPC;
    }
    return n;
}

/* A decimal token of 1..19 digits (no sign), as nats-server writes. */
static int
ack_num(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19)
        return -EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int
st_ack_parse(const char *subj, size_t len, struct st_ack_meta *m)
{
    const char *tok[9];
    size_t tlen[9];
    size_t nt = 0, start = 0;
    if (subj == NULL || m == NULL)
        return -EINVAL;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && subj[i] != '.')
            continue;
        if (nt == 9)
            return -EINVAL;
        tok[nt] = subj + start;
        tlen[nt] = i - start;
        if (tlen[nt] == 0)
            return -EINVAL;
        nt++;
        start = i + 1;
    }
    if (nt != 9 || tlen[0] != 3 || memcmp(tok[0], "$JS", 3) != 0
        || tlen[1] != 3 || memcmp(tok[1], "ACK", 3) != 0)
        return -EINVAL;
    uint64_t ts;
    if (ack_num(tok[4], tlen[4], &m->delivered) < 0
        || ack_num(tok[5], tlen[5], &m->sseq) < 0
        || ack_num(tok[6], tlen[6], &m->dseq) < 0
        || ack_num(tok[7], tlen[7], &ts) < 0
        || ack_num(tok[8], tlen[8], &m->pending) < 0
        || ts > (uint64_t)INT64_MAX)
        return -EINVAL;
    m->ts = (int64_t)ts;
    m->stream = tok[2];
    m->stream_len = tlen[2];
    m->consumer = tok[3];
    m->consumer_len = tlen[3];
    return 0;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'
           || c == '\v';
}

static void
trim(const char **s, size_t *n)
{
    while (*n > 0 && is_space((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*s)[*n - 1]))
        (*n)--;
}

static bool
has_prefix(const char *s, size_t n, const char *p)
{
    size_t pl = strlen(p);
    return n >= pl && memcmp(s, p, pl) == 0;
}

static bool
equals(const char *s, size_t n, const char *p)
{
    return n == strlen(p) && memcmp(s, p, n) == 0;
}

/* "-NAK {"delay": ns}" or "-NAK 5s"; anything unparsable is a plain
 * NAK, as nats-server treats it. */
static void
nak_delay(struct st_ack_body *out)
{
    const char *a = out->arg;
    size_t n = out->arg_len;
    if (n == 0)
        return;
    if (a[0] == '{') {
        char mem[1024];
        const struct dt_json *root;
        int64_t d = 0;
        if (dt_json_parse_in(a, n, mem, sizeof(mem), &root, NULL) < 0
            || !dt_json_is(root, DT_JSON_OBJECT))
            return;
        const struct dt_json *v = dt_json_get(root, "delay");
        if (v != NULL && !dt_json_is_null(v) && dt_json_int64(v, &d) < 0)
            return;
        out->has_delay = true;
        out->delay = d;
        return;
    }
    int64_t d;
    if (st_go_duration_parse(a, n, &d) == 0) {
        out->has_delay = true;
        out->delay = d;
    }
}

void
st_ack_body_parse(const char *body, size_t len, struct st_ack_body *out)
{
    memset(out, 0, sizeof(*out));
    if (body == NULL)
        len = 0;
    if (len == 0 || equals(body, len, "+ACK") || equals(body, len, "+OK")) {
        out->kind = ST_ACK_ACK;
        return;
    }
    const char *rest;
    size_t rn;
    if (has_prefix(body, len, "+NXT")) {
        out->kind = ST_ACK_NEXT;
    } else if (has_prefix(body, len, "-NAK")) {
        out->kind = ST_ACK_NAK;
    } else if (equals(body, len, "+WPI")) {
        out->kind = ST_ACK_PROGRESS;
        return;
    } else if (equals(body, len, "+TERM")
               || (has_prefix(body, len, "+TERM") && is_space(body[5]))) {
        out->kind = ST_ACK_TERM;
    } else {
        out->kind = ST_ACK_UNKNOWN;
        return;
    }
    rest = body + 4 + (out->kind == ST_ACK_TERM);
    rn = len - 4 - (out->kind == ST_ACK_TERM);
    trim(&rest, &rn);
    out->arg = rest;
    out->arg_len = rn;
    if (out->kind == ST_ACK_NAK)
        nak_delay(out);
}

/* ------------------------------------------------------------------ */
/* Go durations. */

static int64_t
unit_ns(const char *u, size_t n)
{
    static const struct { const char *name; int64_t ns; } units[] = {
        { "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 },
        { "\xce\xbcs", 1000 }, { "ms", 1000000 }, { "s", 1000000000 },
        { "m", 60 * (int64_t)1000000000 },
        { "h", 3600 * (int64_t)1000000000 },
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (equals(u, n, units[i].name))
            return units[i].ns;
    return 0;
}

int
st_go_duration_parse(const char *s, size_t n, int64_t *ns)
{
    const uint64_t lim = (uint64_t)INT64_MAX + 1;
    bool neg = false;
    size_t i = 0;
    uint64_t total = 0;
    if (s == NULL || n == 0)
        return -EINVAL;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i++;
    }
    if (n - i == 1 && s[i] == '0') {
        *ns = 0;
        return 0;
    }
    if (i == n)
        return -EINVAL;
    while (i < n) {
        uint64_t v = 0, frac = 0, scale = 1;
        size_t d0 = i;
        bool digits = false;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (v > (lim - 9) / 10)
                return -ERANGE;
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
        digits = i > d0;
        if (i < n && s[i] == '.') {
            size_t f0 = ++i;
            for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
                if (scale < 1000000000000000000ull) {
                    frac = frac * 10 + (uint64_t)(s[i] - '0');
                    scale *= 10;
                }
            }
            digits = digits || i > f0;
        }
        if (!digits)
            return -EINVAL;
        size_t u0 = i;
        while (i < n && s[i] != '.' && (s[i] < '0' || s[i] > '9'))
            i++;
        int64_t unit = unit_ns(s + u0, i - u0);
        if (unit == 0)
            return -EINVAL;
        if (v > lim / (uint64_t)unit)
            return -ERANGE;
        v *= (uint64_t)unit;
        /* frac / scale of a unit, computed without overflow */
        double f = (double)frac * (double)unit / (double)scale;
        v += (uint64_t)f;
        if (v > lim || total > lim - v)
            return -ERANGE;
        total += v;
    }
    if (!neg && total > (uint64_t)INT64_MAX)
        return -ERANGE;
    *ns = neg ? (int64_t)(0 - total) : (int64_t)total;
    return 0;
}
