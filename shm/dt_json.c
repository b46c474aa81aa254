/*
 * dt_json.c -- JSON reader and writer shared by all Dialtone processes
 * (API and contracts in dt_json.h).
 *
 * Reader: a recursive-descent parser (depth bounded by DT_JSON_MAX_DEPTH,
 * so the C stack is bounded too) that runs twice over the text.  The
 * first, "dry" run validates and sizes: it counts nodes and decoded string
 * bytes and stops as soon as a limit is passed, so a hostile text costs at
 * most one scan and no memory.  The second run builds the tree into a
 * block of exactly that size: nodes first, then the strings.  One code
 * path does both runs, so the sizes cannot disagree.
 *
 * Writer: two 64-bit masks remember, per open container, whether it is an
 * object and whether it already holds an element; that is all the state
 * commas and indentation need.
 *
 * NOTES
 *   No global state; reentrant.  strtod() is used for non-integer
 *   numbers, so the process must keep the "C" numeric locale (no
 *   Dialtone process calls setlocale()).
 */
#include "dt_json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define F_INT   0x01u   /* number written as an integer: u.mag is valid */
#define F_NEG   0x02u   /* integer with a minus sign */
#define F_BIG   0x04u   /* integer beyond 64 bits: u.d holds its value */
#define F_TRUE  0x08u   /* bool */

#define NUM_TEXT_MAX 512    /* longest non-integer number we convert */

struct dt_json_doc {
    const struct dt_json *root;
    size_t size;            /* bytes after this header */
    /* nodes, then strings, follow */
};

/* Parser state, shared by the dry (sizing) and the build run. */
struct jp {
    const char *t;
    size_t len;
    size_t pos;
    int dry;                /* 1: count only, write nothing */
    struct dt_json *nodes;  /* build run: node array */
    char *strs;             /* build run: string area */
    size_t nodes_max;       /* build run: nodes in the array */
    size_t strs_max;        /* build run: bytes in the string area */
    size_t nnodes;          /* nodes allocated so far */
    size_t nstr;            /* string bytes emitted so far */
    size_t limit;           /* dry run: max nodes*size + string bytes */
    int over_rc;            /* what passing `limit` returns */
    struct dt_json scratch; /* dry run: every node is this one */
    int rc;
    size_t err_pos;
    const char *reason;
};

static const struct dt_json *parse_value(struct jp *j, unsigned depth);

static void *
jp_fail(struct jp *j, int rc, const char *reason)
{
    if (j->rc == 0) {
        j->rc = rc;
        j->err_pos = j->pos;
        j->reason = reason;
    }
    return NULL;
}

static int
jp_over(const struct jp *j, size_t more_nodes, size_t more_bytes)
{
    size_t n = j->nnodes + more_nodes;
    size_t s = j->nstr + more_bytes;

    if (!j->dry)
        return n > j->nodes_max || s > j->strs_max;
    if (n > j->limit / sizeof(struct dt_json))
        return 1;
    return s > j->limit - n * sizeof(struct dt_json);
}

static struct dt_json *
jp_node(struct jp *j, enum dt_json_type type)
{
    struct dt_json *v;

    if (j->nnodes >= DT_JSON_MAX_NODES)
        return jp_fail(j, -E2BIG, "too many values");
    if (jp_over(j, 1, 0))
        return jp_fail(j, j->dry ? j->over_rc : -EIO,
                       "document exceeds the size limit");
    v = j->dry ? &j->scratch : &j->nodes[j->nnodes];
    j->nnodes++;
    memset(v, 0, sizeof(*v));
    v->type = (uint8_t)type;
    return v;
}

/* Append decoded string bytes (counted only in the dry run). */
static int
jp_emit(struct jp *j, const void *p, size_t n)
{
    if (jp_over(j, 0, n)) {
        jp_fail(j, j->dry ? j->over_rc : -EIO,
                "document exceeds the size limit");
        return -1;
    }
    if (!j->dry)
        memcpy(j->strs + j->nstr, p, n);
    j->nstr += n;
    return 0;
}

static void
skip_ws(struct jp *j)
{
    while (j->pos < j->len) {
        char c = j->t[j->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        j->pos++;
    }
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid (overlong
 * forms, surrogates and code points past U+10FFFF are invalid, as in Go). */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t need;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else if (c >= 0xe0 && c <= 0xef)
        need = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (n < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return need;
}

static size_t
utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Four hex digits at t[at..at+4) -> value, or -1. */
static int32_t
hex4(const struct jp *j, size_t at)
{
    int32_t v = 0;

    if (at > j->len || j->len - at < 4)
        return -1;
    for (size_t i = 0; i < 4; i++) {
        char c = j->t[at + i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* j->pos is just past the 'u' of a \u escape: decode it (and the low half
 * of a surrogate pair) to a code point; lone surrogates become U+FFFD. */
static int32_t
parse_u_escape(struct jp *j)
{
    int32_t cp = hex4(j, j->pos), lo;

    if (cp < 0) {
        jp_fail(j, -EINVAL, "invalid \\u escape");
        return -1;
    }
    j->pos += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return 0xfffd;
    if (cp < 0xd800 || cp > 0xdbff)
        return cp;
    if (j->len - j->pos < 6 || j->t[j->pos] != '\\' ||
        j->t[j->pos + 1] != 'u')
        return 0xfffd;
    lo = hex4(j, j->pos + 2);
    if (lo < 0xdc00 || lo > 0xdfff)
        return 0xfffd;  /* the next escape is decoded on its own */
    j->pos += 6;
    return 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
}

static int
parse_escape(struct jp *j)
{
    char out[4];
    char c;

    if (j->pos >= j->len) {
        jp_fail(j, -EINVAL, "unterminated string");
        return -1;
    }
    c = j->t[j->pos++];
    switch (c) {
    case '"': case '\\': case '/': out[0] = c; break;
    case 'b': out[0] = '\b'; break;
    case 'f': out[0] = '\f'; break;
    case 'n': out[0] = '\n'; break;
    case 'r': out[0] = '\r'; break;
    case 't': out[0] = '\t'; break;
    case 'u': {
        int32_t cp = parse_u_escape(j);
        if (cp < 0)
            return -1;
        return jp_emit(j, out, utf8_put(out, (uint32_t)cp));
    }
    default:
        j->pos--;
        jp_fail(j, -EINVAL, "invalid escape in string");
        return -1;
    }
    return jp_emit(j, out, 1);
}

/* j->pos is at the opening quote.  Decodes into the string area, adds a
 * NUL, and returns the bytes' start (NULL on error or in the dry run). */
static const char *
parse_string(struct jp *j, uint32_t *out_len)
{
    static const char repl[3] = { (char)0xef, (char)0xbf, (char)0xbd };
    size_t start = j->nstr;

    j->pos++;
    for (;;) {
        size_t run = j->pos;
        while (run < j->len) {
            unsigned char c = (unsigned char)j->t[run];
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
                break;
            run++;
        }
        if (run > j->pos && jp_emit(j, j->t + j->pos, run - j->pos) < 0)
            return NULL;
        j->pos = run;
        if (j->pos >= j->len)
            return jp_fail(j, -EINVAL, "unterminated string");
        unsigned char c = (unsigned char)j->t[j->pos];
        if (c == '"')
            break;
        if (c < 0x20)
            return jp_fail(j, -EINVAL, "control character in string");
        if (c == '\\') {
            j->pos++;
            if (parse_escape(j) < 0)
                return NULL;
            continue;
        }
        size_t n = utf8_seq((const unsigned char *)j->t + j->pos,
                            j->len - j->pos);
        if (n == 0 ? jp_emit(j, repl, 3) < 0
                   : jp_emit(j, j->t + j->pos, n) < 0)
            return NULL;
        j->pos += n ? n : 1;
    }
    j->pos++;
    if (j->nstr - start > UINT32_MAX)
        return jp_fail(j, -E2BIG, "string too long");
    *out_len = (uint32_t)(j->nstr - start);
    if (jp_emit(j, "", 1) < 0)
        return NULL;
    return j->dry ? NULL : j->strs + start;
}

/* Scan the number grammar at j->pos; *n = its length, *integral = no
 * fraction and no exponent.  Returns 0 or -1 (error recorded). */
static int
scan_number(struct jp *j, int *integral, size_t *n)
{
    size_t p = j->pos;
    const char *t = j->t;

    *integral = 1;
    if (p < j->len && t[p] == '-')
        p++;
    if (p >= j->len || t[p] < '0' || t[p] > '9')
        goto bad;
    if (t[p] == '0')
        p++;
    else
        while (p < j->len && t[p] >= '0' && t[p] <= '9')
            p++;
    if (p < j->len && t[p] == '.') {
        *integral = 0;
        if (++p >= j->len || t[p] < '0' || t[p] > '9')
            goto bad;
        while (p < j->len && t[p] >= '0' && t[p] <= '9')
            p++;
    }
    if (p < j->len && (t[p] == 'e' || t[p] == 'E')) {
        *integral = 0;
        p++;
        if (p < j->len && (t[p] == '+' || t[p] == '-'))
            p++;
        if (p >= j->len || t[p] < '0' || t[p] > '9')
            goto bad;
        while (p < j->len && t[p] >= '0' && t[p] <= '9')
            p++;
    }
    *n = p - j->pos;
    return 0;
bad:
    j->pos = p;
    jp_fail(j, -EINVAL, "invalid number");
    return -1;
}

static int
number_to_double(struct jp *j, const char *s, size_t n, double *out)
{
    char tmp[NUM_TEXT_MAX];

    if (n >= sizeof(tmp)) {
        jp_fail(j, -E2BIG, "number too long");
        return -1;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    *out = strtod(tmp, NULL);   /* grammar already checked */
    return 0;
}

static const struct dt_json *
parse_number(struct jp *j)
{
    const char *s = j->t + j->pos;
    struct dt_json *v;
    int integral;
    size_t n;

    if (scan_number(j, &integral, &n) < 0)
        return NULL;
    v = jp_node(j, DT_JSON_NUMBER);
    if (v == NULL)
        return NULL;
    if (integral) {
        const char *d = s + (s[0] == '-');
        uint64_t mag = 0;
        int big = 0;
        v->flags = F_INT | (s[0] == '-' ? F_NEG : 0);
        for (; d < s + n; d++) {
            unsigned dig = (unsigned)(*d - '0');
            if (mag > (UINT64_MAX - dig) / 10)
                big = 1;
            mag = mag * 10 + dig;
        }
        if (!big)
            v->u.mag = mag;
        else
            v->flags |= F_BIG;
        if (big && number_to_double(j, s, n, &v->u.d) < 0)
            return NULL;
    } else if (number_to_double(j, s, n, &v->u.d) < 0) {
        return NULL;
    }
    j->pos += n;
    return v;
}

static const struct dt_json *
parse_literal(struct jp *j)
{
    static const struct { const char *w; enum dt_json_type t; uint8_t f; }
        lits[] = {
        { "true", DT_JSON_BOOL, F_TRUE },
        { "false", DT_JSON_BOOL, 0 },
        { "null", DT_JSON_NULL, 0 },
    };

    for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
        size_t n = strlen(lits[i].w);
        if (j->len - j->pos >= n && memcmp(j->t + j->pos, lits[i].w, n) == 0) {
            struct dt_json *v = jp_node(j, lits[i].t);
            if (v == NULL)
                return NULL;
            v->flags = lits[i].f;
            j->pos += n;
            return v;
        }
    }
    return jp_fail(j, -EINVAL, "invalid literal");
}

/* Link child after *last (or as first child of parent). */
static void
link_child(struct dt_json *parent, struct dt_json **last,
           const struct dt_json *child)
{
    if (*last == NULL)
        parent->u.child = child;
    else
        (*last)->next = child;
    *last = (struct dt_json *)child;
    parent->len++;
}

static const struct dt_json *
parse_array(struct jp *j, unsigned depth)
{
    struct dt_json *v = jp_node(j, DT_JSON_ARRAY), *last = NULL;

    if (v == NULL)
        return NULL;
    j->pos++;
    skip_ws(j);
    if (j->pos < j->len && j->t[j->pos] == ']') {
        j->pos++;
        return v;
    }
    for (;;) {
        const struct dt_json *c = parse_value(j, depth);
        if (j->rc)
            return NULL;
        if (!j->dry)
            link_child(v, &last, c);
        skip_ws(j);
        if (j->pos >= j->len)
            return jp_fail(j, -EINVAL, "unterminated array");
        char ch = j->t[j->pos++];
        if (ch == ']')
            return v;
        if (ch != ',') {
            j->pos--;
            return jp_fail(j, -EINVAL, "expected ',' or ']' in array");
        }
    }
}

static const struct dt_json *
parse_object(struct jp *j, unsigned depth)
{
    struct dt_json *v = jp_node(j, DT_JSON_OBJECT), *last = NULL;

    if (v == NULL)
        return NULL;
    j->pos++;
    skip_ws(j);
    if (j->pos < j->len && j->t[j->pos] == '}') {
        j->pos++;
        return v;
    }
    for (;;) {
        uint32_t klen = 0;
        const char *key;
        skip_ws(j);
        if (j->pos >= j->len || j->t[j->pos] != '"')
            return jp_fail(j, -EINVAL, "expected a string key in object");
        key = parse_string(j, &klen);
        if (j->rc)
            return NULL;
        skip_ws(j);
        if (j->pos >= j->len || j->t[j->pos] != ':')
            return jp_fail(j, -EINVAL, "expected ':' after object key");
        j->pos++;
        const struct dt_json *c = parse_value(j, depth);
        if (j->rc)
            return NULL;
        if (!j->dry) {
            struct dt_json *m = (struct dt_json *)c;
            m->key = key;
            m->key_len = klen;
            link_child(v, &last, c);
        }
        skip_ws(j);
        if (j->pos >= j->len)
            return jp_fail(j, -EINVAL, "unterminated object");
        char ch = j->t[j->pos++];
        if (ch == '}')
            return v;
        if (ch != ',') {
            j->pos--;
            return jp_fail(j, -EINVAL, "expected ',' or '}' in object");
        }
    }
}

static const struct dt_json *
parse_value(struct jp *j, unsigned depth)
{
    skip_ws(j);
    if (j->pos >= j->len)
        return jp_fail(j, -EINVAL, "unexpected end of input");
    char c = j->t[j->pos];
    if (c == '{' || c == '[') {
        if (depth >= DT_JSON_MAX_DEPTH)
            return jp_fail(j, -E2BIG, "nesting too deep");
        return c == '{' ? parse_object(j, depth + 1)
                        : parse_array(j, depth + 1);
    }
    if (c == '"') {
        struct dt_json *v = jp_node(j, DT_JSON_STRING);
        uint32_t n = 0;
        if (v == NULL)
            return NULL;
        v->u.s = parse_string(j, &n);
        v->len = n;
        return j->rc ? NULL : v;
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return parse_number(j);
    if (c == 't' || c == 'f' || c == 'n')
        return parse_literal(j);
    return jp_fail(j, -EINVAL, "unexpected character");
}

static const struct dt_json *
parse_text(struct jp *j)
{
    const struct dt_json *root = parse_value(j, 0);

    if (j->rc)
        return NULL;
    skip_ws(j);
    if (j->pos != j->len)
        return jp_fail(j, -EINVAL, "unexpected data after the JSON value");
    return root;
}

static void
set_error(const struct jp *j, struct dt_json_error *err)
{
    if (err) {
        err->pos = j->err_pos;
        err->reason = j->reason;
    }
}

/* Dry run: validate and size.  Returns 0 and the node/string counts. */
static int
json_size(const char *text, size_t len, size_t limit, int over_rc,
          size_t *nodes, size_t *strs, struct dt_json_error *err)
{
    struct jp j;

    memset(&j, 0, sizeof(j));
    j.t = text ? text : "";
    j.len = text ? len : 0;
    j.dry = 1;
    j.limit = limit;
    j.over_rc = over_rc;
    parse_text(&j);
    if (j.rc) {
        set_error(&j, err);
        return j.rc;
    }
    *nodes = j.nnodes;
    *strs = j.nstr;
    return 0;
}

/* Build run into nodes[nn] + strs[ns], already sized by json_size(). */
static const struct dt_json *
json_build(const char *text, size_t len, struct dt_json *nodes, size_t nn,
           char *strs, size_t ns, struct dt_json_error *err)
{
    struct jp j;
    const struct dt_json *root;

    memset(&j, 0, sizeof(j));
    j.t = text ? text : "";
    j.len = text ? len : 0;
    j.nodes = nodes;
    j.nodes_max = nn;
    j.strs = strs;
    j.strs_max = ns;
    root = parse_text(&j);
    if (j.rc)
        set_error(&j, err);
    return root;
}

int
dt_json_parse(const char *text, size_t len, size_t max_block,
              struct dt_json_doc **doc, struct dt_json_error *err)
{
    size_t nn = 0, ns = 0, size;
    struct dt_json_doc *d;
    int rc;

    *doc = NULL;
    if (max_block == 0)
        max_block = DT_JSON_DEFAULT_MAX_BLOCK;
    rc = json_size(text, len, max_block, -E2BIG, &nn, &ns, err);
    if (rc < 0)
        return rc;
    size = nn * sizeof(struct dt_json) + ns;
    d = malloc(sizeof(*d) + size);
    if (d == NULL)
        return -ENOMEM;
    d->size = size;
    struct dt_json *nodes = (struct dt_json *)(d + 1);
    d->root = json_build(text, len, nodes, nn, (char *)(nodes + nn), ns, err);
    if (d->root == NULL) {
        free(d);
        return -EIO;    /* the runs disagreed: a bug, never bad input */
    }
    *doc = d;
    return 0;
}

void
dt_json_free(struct dt_json_doc *doc)
{
    free(doc);
}

const struct dt_json *
dt_json_root(const struct dt_json_doc *doc)
{
    return doc ? doc->root : NULL;
}

int
dt_json_parse_in(const char *text, size_t len, void *mem, size_t memlen,
                 const struct dt_json **root, struct dt_json_error *err)
{
    uintptr_t a = (uintptr_t)mem, al = alignof(struct dt_json);
    size_t pad = (al - (a % al)) % al;
    size_t nn = 0, ns = 0;
    int rc;

    *root = NULL;
    if (mem == NULL || memlen < pad)
        memlen = pad = 0;
    rc = json_size(text, len, memlen - pad, -ENOBUFS, &nn, &ns, err);
    if (rc < 0)
        return rc;
    struct dt_json *nodes = (struct dt_json *)((char *)mem + pad);
    *root = json_build(text, len, nodes, nn, (char *)(nodes + nn), ns, err);
    return *root ? 0 : -EIO;
}

/* ------------------------------------------------------------------ */
/* Tree accessors. */

const struct dt_json *
dt_json_getn(const struct dt_json *v, const char *key, size_t key_len)
{
    const struct dt_json *c, *found = NULL;

    if (!dt_json_is(v, DT_JSON_OBJECT) || key == NULL)
        return NULL;
    for (c = v->u.child; c; c = c->next)
        if (c->key_len == key_len && memcmp(c->key, key, key_len) == 0)
            found = c;
    return found;
}

const struct dt_json *
dt_json_get(const struct dt_json *v, const char *key)
{
    return key ? dt_json_getn(v, key, strlen(key)) : NULL;
}

static int
ascii_eq_fold(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return 0;
    }
    return 1;
}

const struct dt_json *
dt_json_get_fold(const struct dt_json *v, const char *key)
{
    const struct dt_json *c, *found = NULL;
    size_t n;

    if (!dt_json_is(v, DT_JSON_OBJECT) || key == NULL)
        return NULL;
    n = strlen(key);
    for (c = v->u.child; c; c = c->next)
        if (c->key_len == n && ascii_eq_fold(c->key, key, n))
            found = c;
    return found;
}

const struct dt_json *
dt_json_first(const struct dt_json *v)
{
    if (!dt_json_is(v, DT_JSON_ARRAY) && !dt_json_is(v, DT_JSON_OBJECT))
        return NULL;
    return v->u.child;
}

size_t
dt_json_count(const struct dt_json *v)
{
    if (!dt_json_is(v, DT_JSON_ARRAY) && !dt_json_is(v, DT_JSON_OBJECT))
        return 0;
    return v->len;
}

const char *
dt_json_key(const struct dt_json *v, size_t *len)
{
    if (v == NULL || v->key == NULL)
        return NULL;
    if (len)
        *len = v->key_len;
    return v->key;
}

static int
check_type(const struct dt_json *v, enum dt_json_type t)
{
    if (v == NULL)
        return -ENOENT;
    return v->type == t ? 0 : -EINVAL;
}

int
dt_json_str(const struct dt_json *v, const char **s, size_t *len)
{
    int rc = check_type(v, DT_JSON_STRING);

    if (rc < 0)
        return rc;
    *s = v->u.s;
    if (len)
        *len = v->len;
    return 0;
}

static int
check_integer(const struct dt_json *v)
{
    int rc = check_type(v, DT_JSON_NUMBER);

    if (rc < 0)
        return rc;
    if (!(v->flags & F_INT))
        return -EDOM;
    return (v->flags & F_BIG) ? -ERANGE : 0;
}

int
dt_json_int64(const struct dt_json *v, int64_t *out)
{
    int rc = check_integer(v);

    if (rc < 0)
        return rc;
    if (v->flags & F_NEG) {
        if (v->u.mag > (uint64_t)INT64_MAX + 1)
            return -ERANGE;
        /* negate in unsigned arithmetic: INT64_MIN has no positive twin */
        *out = (int64_t)(0 - v->u.mag);
        return 0;
    }
    if (v->u.mag > (uint64_t)INT64_MAX)
        return -ERANGE;
    *out = (int64_t)v->u.mag;
    return 0;
}

int
dt_json_uint64(const struct dt_json *v, uint64_t *out)
{
    int rc = check_integer(v);

    if (rc < 0)
        return rc;
    if ((v->flags & F_NEG) && v->u.mag != 0)
        return -ERANGE;
    *out = v->u.mag;
    return 0;
}

int
dt_json_double(const struct dt_json *v, double *out)
{
    int rc = check_type(v, DT_JSON_NUMBER);
    double d;

    if (rc < 0)
        return rc;
    if ((v->flags & F_INT) && !(v->flags & F_BIG))
        d = (v->flags & F_NEG) ? -(double)v->u.mag : (double)v->u.mag;
    else
        d = v->u.d;
    if (isinf(d))
        return -ERANGE;
    *out = d;
    return 0;
}

int
dt_json_bool(const struct dt_json *v, bool *out)
{
    int rc = check_type(v, DT_JSON_BOOL);

    if (rc < 0)
        return rc;
    *out = (v->flags & F_TRUE) != 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Writer. */

/* Escape s[0..len) into b (no quotes).  Runs of plain bytes go in one
 * append.  U+2028/2029 are escaped too, so JSONP output is valid JS. */
static int
escape_into(struct dt_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;
    int rc = 0;

    while (i < len && rc == 0) {
        unsigned char c = p[i];
        char esc[8];
        size_t n = 0, step = 1;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            step = utf8_seq(p + i, len - i);
            if (step == 3 && c == 0xe2 && p[i + 1] == 0x80 &&
                (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
                n = (size_t)snprintf(esc, sizeof(esc), "\\u202%c",
                                     p[i + 2] == 0xa8 ? '8' : '9');
            } else if (step == 0) {
                memcpy(esc, "\\ufffd", 6);
                n = 6;
                step = 1;
            } else {
                i += step;  /* valid UTF-8: part of the run */
                continue;
            }
        } else if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else {
            const char *short_esc = NULL;
            switch (c) {
            case '\b': short_esc = "\\b"; break;
            case '\f': short_esc = "\\f"; break;
            case '\n': short_esc = "\\n"; break;
            case '\r': short_esc = "\\r"; break;
            case '\t': short_esc = "\\t"; break;
            }
            if (short_esc) {
                memcpy(esc, short_esc, 2);
                n = 2;
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                n = 6;
            }
        }
        rc = dt_buf_append(b, s + run, i - run);
        if (rc == 0)
            rc = dt_buf_append(b, esc, n);
        i += step;
        run = i;
    }
    if (rc == 0)
        rc = dt_buf_append(b, s + run, len - run);
    return rc;
}

int
dt_json_quote(struct dt_buf *b, const char *s, size_t len)
{
    size_t saved = b->len;
    int rc = dt_buf_append(b, "\"", 1);

    if (rc == 0)
        rc = escape_into(b, s ? s : "", s ? len : 0);
    if (rc == 0)
        rc = dt_buf_append(b, "\"", 1);
    if (rc < 0)
        b->len = saved;
    return rc;
}

void
dt_jw_init(struct dt_jw *w, struct dt_buf *b, bool pretty)
{
    memset(w, 0, sizeof(*w));
    w->b = b;
    w->pretty = pretty;
}

int
dt_jw_finish(const struct dt_jw *w)
{
    if (w->err)
        return w->err;
    return (w->done && w->depth == 0) ? 0 : -EINVAL;
}

static int
jw_fail(struct dt_jw *w, int rc)
{
    if (w->err == 0)
        w->err = rc;
    return w->err;
}

static int
jw_put(struct dt_jw *w, const char *s, size_t n)
{
    int rc;

    if (w->err)
        return w->err;
    rc = dt_buf_append(w->b, s, n);
    return rc < 0 ? jw_fail(w, rc) : 0;
}

/* Newline and indentation for an element at the current depth. */
static int
jw_newline(struct dt_jw *w, unsigned depth)
{
    char sp[1 + 2 * DT_JSON_MAX_DEPTH];

    if (!w->pretty)
        return 0;
    sp[0] = '\n';
    memset(sp + 1, ' ', 2 * depth);
    return jw_put(w, sp, 1 + 2 * (size_t)depth);
}

static bool
jw_in_object(const struct dt_jw *w)
{
    return w->depth > 0 && (w->is_object >> (w->depth - 1) & 1);
}

/* Comma and layout before a new element of the open array, or a check
 * that the value of a key is due in an object. */
static int
jw_before_value(struct dt_jw *w)
{
    uint64_t bit;

    if (w->err)
        return w->err;
    if (w->depth == 0)
        return w->done ? jw_fail(w, -EINVAL) : 0;
    if (jw_in_object(w)) {
        if (!w->after_key)
            return jw_fail(w, -EINVAL);
        w->after_key = 0;
        return 0;
    }
    bit = 1ull << (w->depth - 1);
    if ((w->has_items & bit) && jw_put(w, ",", 1) < 0)
        return w->err;
    w->has_items |= bit;
    return jw_newline(w, w->depth);
}

static int
jw_after_value(struct dt_jw *w)
{
    if (w->err == 0 && w->depth == 0)
        w->done = 1;
    return w->err;
}

static int
jw_begin(struct dt_jw *w, bool object)
{
    uint64_t bit;

    if (jw_before_value(w) < 0)
        return w->err;
    if (w->depth >= DT_JSON_MAX_DEPTH)
        return jw_fail(w, -E2BIG);
    if (jw_put(w, object ? "{" : "[", 1) < 0)
        return w->err;
    bit = 1ull << w->depth;
    w->depth++;
    w->has_items &= ~bit;
    if (object)
        w->is_object |= bit;
    else
        w->is_object &= ~bit;
    return 0;
}

static int
jw_end(struct dt_jw *w, bool object)
{
    uint64_t bit;

    if (w->err)
        return w->err;
    if (w->depth == 0 || jw_in_object(w) != object || w->after_key)
        return jw_fail(w, -EINVAL);
    bit = 1ull << (w->depth - 1);
    if ((w->has_items & bit) && jw_newline(w, w->depth - 1u) < 0)
        return w->err;
    if (jw_put(w, object ? "}" : "]", 1) < 0)
        return w->err;
    w->depth--;
    return jw_after_value(w);
}

int
dt_jw_begin_object(struct dt_jw *w)
{
    return jw_begin(w, true);
}

int
dt_jw_end_object(struct dt_jw *w)
{
    return jw_end(w, true);
}

int
dt_jw_begin_array(struct dt_jw *w)
{
    return jw_begin(w, false);
}

int
dt_jw_end_array(struct dt_jw *w)
{
    return jw_end(w, false);
}

int
dt_jw_keyn(struct dt_jw *w, const char *key, size_t len)
{
    uint64_t bit;
    int rc;

    if (w->err)
        return w->err;
    if (!jw_in_object(w) || w->after_key || key == NULL)
        return jw_fail(w, -EINVAL);
    bit = 1ull << (w->depth - 1);
    if ((w->has_items & bit) && jw_put(w, ",", 1) < 0)
        return w->err;
    w->has_items |= bit;
    if (jw_newline(w, w->depth) < 0)
        return w->err;
    rc = dt_json_quote(w->b, key, len);
    if (rc < 0)
        return jw_fail(w, rc);
    if (jw_put(w, w->pretty ? ": " : ":", w->pretty ? 2 : 1) < 0)
        return w->err;
    w->after_key = 1;
    return 0;
}

int
dt_jw_key(struct dt_jw *w, const char *key)
{
    return dt_jw_keyn(w, key, key ? strlen(key) : 0);
}

/* A scalar already formatted as JSON text. */
static int
jw_raw_value(struct dt_jw *w, const char *s, size_t n)
{
    if (jw_before_value(w) < 0 || jw_put(w, s, n) < 0)
        return w->err;
    return jw_after_value(w);
}

int
dt_jw_strn(struct dt_jw *w, const char *s, size_t len)
{
    int rc;

    if (s == NULL)
        return dt_jw_null(w);
    if (jw_before_value(w) < 0)
        return w->err;
    rc = dt_json_quote(w->b, s, len);
    if (rc < 0)
        return jw_fail(w, rc);
    return jw_after_value(w);
}

int
dt_jw_str(struct dt_jw *w, const char *s)
{
    return dt_jw_strn(w, s, s ? strlen(s) : 0);
}

int
dt_jw_int64(struct dt_jw *w, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

    return jw_raw_value(w, tmp, (size_t)n);
}

int
dt_jw_uint64(struct dt_jw *w, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);

    return jw_raw_value(w, tmp, (size_t)n);
}

/* Shortest text that reads back as the same double; integral values
 * below 1e21 print without exponent, as Go does. */
int
dt_jw_double(struct dt_jw *w, double v)
{
    char tmp[40];
    int n = 0;

    if (!isfinite(v))
        return dt_jw_null(w);
    if (v == floor(v) && fabs(v) < 1e21) {
        n = snprintf(tmp, sizeof(tmp), "%.0f", v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
    }
    return jw_raw_value(w, tmp, (size_t)n);
}

int
dt_jw_bool(struct dt_jw *w, bool v)
{
    return v ? jw_raw_value(w, "true", 4) : jw_raw_value(w, "false", 5);
}

int
dt_jw_null(struct dt_jw *w)
{
    return jw_raw_value(w, "null", 4);
}

int
dt_jw_kstr(struct dt_jw *w, const char *key, const char *s)
{
    return dt_jw_key(w, key) < 0 ? w->err : dt_jw_str(w, s);
}

int
dt_jw_kint(struct dt_jw *w, const char *key, int64_t v)
{
    return dt_jw_key(w, key) < 0 ? w->err : dt_jw_int64(w, v);
}

int
dt_jw_kuint(struct dt_jw *w, const char *key, uint64_t v)
{
    return dt_jw_key(w, key) < 0 ? w->err : dt_jw_uint64(w, v);
}

int
dt_jw_kdouble(struct dt_jw *w, const char *key, double v)
{
    return dt_jw_key(w, key) < 0 ? w->err : dt_jw_double(w, v);
}

int
dt_jw_kbool(struct dt_jw *w, const char *key, bool v)
{
    return dt_jw_key(w, key) < 0 ? w->err : dt_jw_bool(w, v);
}

int
dt_json_go_int64(const struct dt_json *v, int64_t *out)
{
    if (dt_json_is_null(v))
        return 0;
    return dt_json_int64(v, out) < 0 ? -EINVAL : 0;
}

int
dt_json_go_bool(const struct dt_json *v, bool *out)
{
    if (dt_json_is_null(v))
        return 0;
    return dt_json_bool(v, out) < 0 ? -EINVAL : 0;
}

int
dt_json_enum(const struct dt_json *v, const char *const *names, int count,
             bool fold, uint8_t *out)
{
    const char *s;
    size_t n;
    if (dt_json_str(v, &s, &n) < 0)
        return -EINVAL;
    for (int i = 0; i < count; i++) {
        if (names[i] == NULL || strlen(names[i]) != n)
            continue;
        if (fold ? strncasecmp(names[i], s, n) == 0
                 : memcmp(names[i], s, n) == 0) {
            *out = (uint8_t)i;
            return 0;
        }
    }
    return -EINVAL;
}
