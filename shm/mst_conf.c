/*
 * mst_conf.c -- reader for nats-server's configuration-file syntax
 * (see mst_conf.h for the accepted grammar and the error contract).
 *
 * A hand-written recursive-descent reader that mirrors the states of
 * nats-server's lexer (conf/lex.go) closely enough to accept and reject
 * the same files and to word most errors the same way.  One struct
 * pstate per file being read: includes get a fresh state (and so a fresh
 * variable scope, as in nats-server) but share the owning document.
 *
 * NOTES
 *   Bounded: file size (MST_CONF_MAX_BYTES), nesting (MST_CONF_MAX_NEST),
 *   include depth (MST_CONF_MAX_INCLUDE) and environment-variable
 *   indirection (ENV_MAX_DEPTH) are capped, so no input can recurse
 *   without limit.  The first error is written into the caller's buffer
 *   where it happens; callers above only propagate the return code.
 */
#include "mst_conf.h"

#include "dt_buf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENV_MAX_DEPTH   8
#define CH_EOF          (-1)

struct pstate {
    struct mst_conf *doc;
    const char *src;
    size_t len, pos;
    uint32_t line;
    size_t lstart;              /* offset of the '\n' opening this line */
    const char *file;           /* interned; "" for in-memory text */
    int inc_depth, env_depth, nest;
    struct mst_conf_node *ctx[MST_CONF_MAX_NEST + 2]; /* open maps/arrays */
    int nctx;
    char *err;
    size_t errlen;
};

static int parse_value(struct pstate *p, struct mst_conf_node **out);
static int parse_doc(struct pstate *p, struct mst_conf_node *map);
static int slurp(const char *path, char **out, size_t *outlen, char *err,
                 size_t errlen);
static int parse_text(struct mst_conf *doc, const char *text, size_t len,
                      const char *name, int depth,
                      struct mst_conf_node **root, char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* Characters and positions.                                            */

static int
peek(const struct pstate *p)
{
    return p->pos < p->len ? (unsigned char)p->src[p->pos] : CH_EOF;
}

static int
peek2(const struct pstate *p)
{
    return p->pos + 1 < p->len ? (unsigned char)p->src[p->pos + 1] : CH_EOF;
}

static int
next(struct pstate *p)
{
    int c = peek(p);
    if (c == CH_EOF)
        return c;
    if (c == '\n') {
        p->line++;
        p->lstart = p->pos;
    }
    p->pos++;
    return c;
}

static bool
is_ws(int c)
{
    return c == ' ' || c == '\t';
}

static bool
is_nl(int c)
{
    return c == '\n' || c == '\r';
}

static bool
is_space(int c)
{
    return is_ws(c) || is_nl(c) || c == '\v' || c == '\f';
}

static bool
is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool
at_comment(const struct pstate *p)
{
    return peek(p) == '#' || (peek(p) == '/' && peek2(p) == '/');
}

/* Consume a comment up to, not including, the end of its line. */
static void
skip_comment(struct pstate *p)
{
    while (peek(p) != CH_EOF && !is_nl(peek(p)))
        next(p);
}

static uint32_t
cur_col(const struct pstate *p)
{
    return (uint32_t)(p->pos - p->lstart);
}

/* A character as nats-server shows it inside quotes in messages. */
static const char *
chdesc(int c, char buf[8])
{
    if (c == CH_EOF)
        return "EOF";
    if (c == '\n')
        return "\\n";
    if (c == '\r')
        return "\\r";
    if (c == '\t')
        return "\\t";
    if (c < 0x20 || c == 0x7f)
        snprintf(buf, 8, "\\x%02x", (unsigned)c & 0xffu);
    else
        snprintf(buf, 8, "%c", c);
    return buf;
}

static int
verrf(struct pstate *p, uint32_t line, uint32_t col, int rc, const char *fmt,
      va_list ap)
{
    if (p->err == NULL || p->errlen == 0)
        return rc;
    int n = snprintf(p->err, p->errlen, "%s:%u:%u: ",
                     p->file[0] ? p->file : "<config>", line, col);
    if (n < 0 || (size_t)n >= p->errlen)
        return rc;
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    return rc;
}

/* Write "file:line:col: message" for the current position; return rc. */
static int
errf(struct pstate *p, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
errf(struct pstate *p, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verrf(p, p->line, cur_col(p), rc, fmt, ap);
    va_end(ap);
    return rc;
}

static int
errf_at(struct pstate *p, uint32_t line, uint32_t col, int rc,
        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
errf_at(struct pstate *p, uint32_t line, uint32_t col, int rc,
        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verrf(p, line, col, rc, fmt, ap);
    va_end(ap);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Nodes.                                                               */

static void
node_free(struct mst_conf_node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->key);
    free(n->str);
    free(n);
}

static struct mst_conf_node *
node_new(const struct pstate *p, enum mst_conf_type type, uint32_t line,
         uint32_t col)
{
    struct mst_conf_node *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->type = type;
    n->file = p->file;
    n->line = line;
    n->col = col;
    return n;
}

static int
node_add(struct mst_conf_node *parent, struct mst_conf_node *kid)
{
    if (parent->nkids == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        struct mst_conf_node **k = realloc(parent->kids, cap * sizeof(*k));
        if (k == NULL)
            return -ENOMEM;
        parent->kids = k;
        parent->cap = cap;
    }
    parent->kids[parent->nkids++] = kid;
    return 0;
}

/* Insert kid into map; a later entry with the same key replaces the
 * earlier one (as a Go map assignment does) and moves to the end, so
 * walking kids in order applies assignments in file order. */
static int
map_set(struct mst_conf_node *map, struct mst_conf_node *kid)
{
    for (size_t i = 0; i < map->nkids; i++) {
        if (strcmp(map->kids[i]->key, kid->key) != 0)
            continue;
        node_free(map->kids[i]);
        memmove(&map->kids[i], &map->kids[i + 1],
                (map->nkids - i - 1) * sizeof(map->kids[0]));
        map->nkids--;
        break;
    }
    return node_add(map, kid);
}

static struct mst_conf_node *
node_clone(const struct mst_conf_node *n)
{
    struct mst_conf_node *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    *c = *n;
    c->key = NULL;
    c->str = NULL;
    c->kids = NULL;
    c->nkids = c->cap = 0;
    c->used_as_var = 0;
    if (n->key != NULL && (c->key = strdup(n->key)) == NULL)
        goto fail;
    if (n->str != NULL && (c->str = strdup(n->str)) == NULL)
        goto fail;
    for (size_t i = 0; i < n->nkids; i++) {
        struct mst_conf_node *k = node_clone(n->kids[i]);
        if (k == NULL || node_add(c, k) < 0) {
            node_free(k);
            goto fail;
        }
    }
    return c;
fail:
    node_free(c);
    return NULL;
}

static int
buf_to_str(struct dt_buf *b, char **out)
{
    char *s = malloc(b->len + 1);
    if (s == NULL)
        return -ENOMEM;
    if (b->len)
        memcpy(s, b->data, b->len);
    s[b->len] = '\0';
    *out = s;
    return 0;
}

static char *
dup_range(const struct pstate *p, size_t from, size_t to)
{
    char *s = malloc(to - from + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, p->src + from, to - from);
    s[to - from] = '\0';
    return s;
}

/* A STRING/DATETIME/INT/FLOAT node carrying src[from, to) as text. */
static int
text_node(struct pstate *p, enum mst_conf_type type, size_t from, size_t to,
          uint32_t line, uint32_t col, struct mst_conf_node **out)
{
    struct mst_conf_node *n = node_new(p, type, line, col);
    if (n == NULL || (n->str = dup_range(p, from, to)) == NULL) {
        node_free(n);
        return -ENOMEM;
    }
    *out = n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Strings.                                                             */

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* After a backslash: append the escaped byte to b. */
static int
parse_escape(struct pstate *p, struct dt_buf *b)
{
    char tmp[8];
    int c = next(p);
    char out;
    switch (c) {
    case 't':  out = '\t'; break;
    case 'n':  out = '\n'; break;
    case 'r':  out = '\r'; break;
    case '"':  out = '"'; break;
    case '\\': out = '\\'; break;
    case 'x': {
        int h = peek(p), l = peek2(p);
        if (h == CH_EOF || is_nl(h) || l == CH_EOF || is_nl(l))
            return errf(p, -EINVAL, "Expected two hexadecimal digits after "
                        "'\\x', but hit end of line");
        next(p);
        next(p);
        if (hexval(h) < 0 || hexval(l) < 0)
            return errf(p, -EINVAL, "Expected two hexadecimal digits after "
                        "'\\x', but got '%c%c'", h, l);
        out = (char)(hexval(h) * 16 + hexval(l));
        if (out == '\0')
            return errf(p, -EINVAL, "'\\x00' is not allowed in a string");
        break;
    }
    default:
        return errf(p, -EINVAL, "Invalid escape character '%s'. Only the "
                    "following escape characters are allowed: \\xXX, \\t, "
                    "\\n, \\r, \\\", \\\\.", chdesc(c, tmp));
    }
    return dt_buf_append(b, &out, 1);
}

static int
parse_dq_string(struct pstate *p, uint32_t line, uint32_t col,
                struct mst_conf_node **out)
{
    struct dt_buf b = {0};
    int rc = 0;
    next(p);
    for (;;) {
        int c = next(p);
        if (c == CH_EOF) {
            rc = errf(p, -EINVAL, "Unexpected EOF.");
            break;
        }
        if (c == '"')
            break;
        if (c == '\\')
            rc = parse_escape(p, &b);
        else if (c == '\0')
            rc = errf(p, -EINVAL, "NUL byte in string");
        else {
            char ch = (char)c;
            rc = dt_buf_append(&b, &ch, 1);
        }
        if (rc < 0)
            break;
    }
    struct mst_conf_node *n = NULL;
    if (rc == 0 && (n = node_new(p, MST_CONF_STRING, line, col)) == NULL)
        rc = -ENOMEM;
    if (rc == 0 && (rc = buf_to_str(&b, &n->str)) == 0)
        *out = n;
    else
        node_free(n);
    dt_buf_free(&b);
    return rc;
}

/* '...' : raw, no escapes, may span lines. */
static int
parse_sq_string(struct pstate *p, uint32_t line, uint32_t col,
                struct mst_conf_node **out)
{
    next(p);
    size_t start = p->pos;
    while (peek(p) != '\'') {
        if (peek(p) == CH_EOF)
            return errf(p, -EINVAL, "Unexpected EOF.");
        next(p);
    }
    size_t end = p->pos;
    next(p);
    return text_node(p, MST_CONF_STRING, start, end, line, col, out);
}

/* ( ... ) : raw text up to a ')' alone on its line. */
static int
parse_block_string(struct pstate *p, uint32_t line, uint32_t col,
                   struct mst_conf_node **out)
{
    next(p);
    size_t start = p->pos;
    for (;;) {
        int c = peek(p);
        if (c == CH_EOF)
            return errf(p, -EINVAL, "Unexpected EOF processing block.");
        if (c == ')' && p->pos > start && p->src[p->pos - 1] == '\n' &&
            (p->pos + 1 == p->len || p->src[p->pos + 1] == '\n')) {
            size_t end = p->pos - 1;
            next(p);
            return text_node(p, MST_CONF_STRING, start, end, line, col, out);
        }
        next(p);
    }
}

/* ------------------------------------------------------------------ */
/* Variables.                                                           */

static int
env_value(struct pstate *p, const char *name, struct mst_conf_node **out)
{
    const char *v = getenv(name);
    if (v == NULL || p->env_depth >= ENV_MAX_DEPTH)
        return -ENOENT;
    char scratch[256];
    struct pstate sub = {
        .doc = p->doc, .src = v, .len = strlen(v), .line = 1,
        .file = p->file, .inc_depth = p->inc_depth,
        .env_depth = p->env_depth + 1, .err = scratch,
        .errlen = sizeof(scratch),
    };
    struct mst_conf_node *n = NULL;
    int rc = parse_value(&sub, &n);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0)
        return -ENOENT;
    while (is_space(peek(&sub)))
        next(&sub);
    if (peek(&sub) != CH_EOF) {     /* "1 2" is not one value */
        node_free(n);
        return -ENOENT;
    }
    *out = n;
    return 0;
}

/* $name: the latest entry called name in an enclosing map (innermost
 * first), else the environment variable parsed as a value. */
static int
resolve_variable(struct pstate *p, const char *name, uint32_t line,
                 uint32_t col, struct mst_conf_node **out)
{
    if (strncmp(name, "2a$", 3) == 0) {     /* a bare bcrypt hash */
        struct mst_conf_node *n = node_new(p, MST_CONF_STRING, line, col);
        if (n == NULL || (n->str = malloc(strlen(name) + 2)) == NULL) {
            node_free(n);
            return -ENOMEM;
        }
        n->str[0] = '$';
        strcpy(n->str + 1, name);
        *out = n;
        return 0;
    }
    for (int i = p->nctx - 1; i >= 0; i--) {
        struct mst_conf_node *m = p->ctx[i];
        if (m->type != MST_CONF_MAP)
            continue;
        for (size_t k = m->nkids; k-- > 0;) {
            if (strcmp(m->kids[k]->key, name) != 0)
                continue;
            m->kids[k]->used_as_var = 1;
            if ((*out = node_clone(m->kids[k])) == NULL)
                return -ENOMEM;
            free((*out)->key);
            (*out)->key = NULL;
            (*out)->file = p->file;
            (*out)->line = line;
            (*out)->col = col;
            return 0;
        }
    }
    int rc = name[0] ? env_value(p, name, out) : -ENOENT;
    if (rc == 0) {
        (*out)->line = line;
        (*out)->col = col;
        return 0;
    }
    if (rc == -ENOMEM)
        return rc;
    return errf_at(p, line, col, -EINVAL, "variable reference for '%s' on "
                   "line %u can not be found", name, line);
}

/* ------------------------------------------------------------------ */
/* Bare strings, booleans, numbers, datetimes.                          */

static bool
is_bool_word(const char *s, int *val)
{
    static const char *const t[] = {"true", "yes", "on"};
    static const char *const f[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, t[i]) == 0) {
            *val = 1;
            return true;
        }
        if (strcasecmp(s, f[i]) == 0) {
            *val = 0;
            return true;
        }
    }
    return false;
}

/* Unquoted text from `start` (== p->pos, or the start of a number that
 * turned out to be text, on the same line) to a terminator. */
static int
parse_bare(struct pstate *p, size_t start, uint32_t line, uint32_t col,
           struct mst_conf_node **out)
{
    struct dt_buf b = {0};
    bool escaped = false;
    int rc = 0;
    p->pos = start;
    for (;;) {
        int c = peek(p);
        if (c == CH_EOF || is_nl(c) || is_ws(c) || c == ';' || c == ',' ||
            c == ']' || c == '}')
            break;
        next(p);
        if (c == '\'')
            break;
        if (c == '\\') {
            escaped = true;
            rc = parse_escape(p, &b);
        } else if (c == '\0') {
            rc = errf(p, -EINVAL, "NUL byte in value");
        } else {
            char ch = (char)c;
            rc = dt_buf_append(&b, &ch, 1);
        }
        if (rc < 0)
            goto done;
    }
    char *s;
    if ((rc = buf_to_str(&b, &s)) < 0)
        goto done;
    int bv;
    if (!escaped && s[0] == '$') {
        rc = resolve_variable(p, s + 1, line, col, out);
        free(s);
        goto done;
    }
    struct mst_conf_node *n;
    bool isbool = !escaped && is_bool_word(s, &bv);
    n = node_new(p, isbool ? MST_CONF_BOOL : MST_CONF_STRING, line, col);
    if (n == NULL) {
        free(s);
        rc = -ENOMEM;
        goto done;
    }
    if (isbool) {
        n->b = bv;
        free(s);
    } else {
        n->str = s;
    }
    *out = n;
done:
    dt_buf_free(&b);
    return rc;
}

static bool
num_term(int c)
{
    return c == CH_EOF || is_nl(c) || is_ws(c) || c == '}' || c == ';' ||
           c == ',' || c == ']';
}

static bool
in_set(int c, const char *set)
{
    return c > 0 && strchr(set, c) != NULL;
}

/* "64MB" -> 67108864: k/m/g/t/p/e are powers of 1000; with b, i or ib
 * (any case) powers of 1024, as nats-server 2.9.10 reads them. */
static int
int_value(struct pstate *p, const char *text, int64_t *out)
{
    size_t i = text[0] == '-' ? 1 : 0;
    while (is_digit(text[i]))
        i++;
    char digits[32];
    if (i >= sizeof(digits))
        return errf(p, -EINVAL, "Integer '%s' is out of the range.", text);
    memcpy(digits, text, i);
    digits[i] = '\0';
    errno = 0;
    long long v = strtoll(digits, NULL, 10);
    if (errno == ERANGE)
        return errf(p, -EINVAL, "Integer '%s' is out of the range.", text);
    static const struct { const char *sfx; int64_t mult; } units[] = {
        {"", 1},
        {"k", 1000LL}, {"kb", 1LL << 10}, {"ki", 1LL << 10}, {"kib", 1LL << 10},
        {"m", 1000000LL}, {"mb", 1LL << 20}, {"mi", 1LL << 20},
        {"mib", 1LL << 20},
        {"g", 1000000000LL}, {"gb", 1LL << 30}, {"gi", 1LL << 30},
        {"gib", 1LL << 30},
        {"t", 1000000000000LL}, {"tb", 1LL << 40}, {"ti", 1LL << 40},
        {"tib", 1LL << 40},
        {"p", 1000000000000000LL}, {"pb", 1LL << 50}, {"pi", 1LL << 50},
        {"pib", 1LL << 50},
        {"e", 1000000000000000000LL}, {"eb", 1LL << 60}, {"ei", 1LL << 60},
        {"eib", 1LL << 60},
    };
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        if (strcasecmp(text + i, units[u].sfx) != 0)
            continue;
        int64_t r;
        if (__builtin_mul_overflow((int64_t)v, units[u].mult, &r))
            return errf(p, -EINVAL, "Integer '%s' is out of the range.",
                        text);
        *out = r;
        return 0;
    }
    return errf(p, -EINVAL, "Invalid size suffix in integer '%s'.", text);
}

static int
finish_int(struct pstate *p, size_t start, uint32_t line, uint32_t col,
           struct mst_conf_node **out)
{
    struct mst_conf_node *n;
    int rc = text_node(p, MST_CONF_INT, start, p->pos, line, col, &n);
    if (rc < 0)
        return rc;
    if ((rc = int_value(p, n->str, &n->i)) < 0) {
        node_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

/* YYYY- already consumed up to the '-'; the rest must be MM-DDTHH:MM:SSZ. */
static int
parse_datetime(struct pstate *p, size_t start, uint32_t line, uint32_t col,
               struct mst_conf_node **out)
{
    static const char fmt[] = "-00-00T00:00:00Z";
    char tmp[8];
    for (const char *f = fmt; *f; f++) {
        int c = next(p);
        if (*f == '0' && !is_digit(c))
            return errf(p, -EINVAL, "Expected digit in ISO8601 datetime, "
                        "but found '%s' instead.", chdesc(c, tmp));
        if (*f != '0' && c != *f)
            return errf(p, -EINVAL, "Expected '%c' in ISO8601 datetime, but "
                        "found '%s' instead.", *f, chdesc(c, tmp));
    }
    const char *s = p->src + start;
    int mo = (s[5] - '0') * 10 + s[6] - '0', d = (s[8] - '0') * 10 + s[9] - '0';
    int h = (s[11] - '0') * 10 + s[12] - '0';
    int mi = (s[14] - '0') * 10 + s[15] - '0';
    int se = (s[17] - '0') * 10 + s[18] - '0';
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
        return errf(p, -EINVAL, "Expected Zulu formatted DateTime, but got "
                    "'%.20s'.", s);
    return text_node(p, MST_CONF_DATETIME, start, p->pos, line, col, out);
}

static int
parse_number(struct pstate *p, uint32_t line, uint32_t col,
             struct mst_conf_node **out)
{
    char tmp[8];
    size_t start = p->pos;
    bool neg = peek(p) == '-';
    if (neg)
        next(p);
    if (!is_digit(peek(p))) {
        if (peek(p) == '.')
            return errf(p, -EINVAL, "Floats must start with a digit, not "
                        "'.'.");
        return errf(p, -EINVAL, "Expected a digit but got '%s'.",
                    chdesc(peek(p), tmp));
    }
    while (is_digit(peek(p)))
        next(p);
    int c = peek(p);
    if (c == '-' && !neg) {
        if (p->pos - start != 4)
            return errf(p, -EINVAL, "All ISO8601 dates must be in full Zulu "
                        "form.");
        return parse_datetime(p, start, line, col, out);
    }
    if (c == '.') {
        next(p);
        if (!is_digit(peek(p)))
            return errf(p, -EINVAL, "Floats must have a digit after the '.', "
                        "but got '%s' instead.", chdesc(peek(p), tmp));
        while (is_digit(peek(p)))
            next(p);
        if (peek(p) == '.') {           /* an IP address, kept as text */
            while (is_digit(peek(p)) || peek(p) == '.' || peek(p) == ':' ||
                   peek(p) == '-')
                next(p);
            return text_node(p, MST_CONF_STRING, start, p->pos, line, col,
                             out);
        }
        struct mst_conf_node *n;
        int rc = text_node(p, MST_CONF_FLOAT, start, p->pos, line, col, &n);
        if (rc < 0)
            return rc;
        n->f = strtod(n->str, NULL);
        *out = n;
        return 0;
    }
    if (in_set(c, "kKmMgGtTpPeE")) {
        next(p);
        while (in_set(peek(p), "bBiI"))
            next(p);
        if (num_term(peek(p)) || is_digit(peek(p)))
            return finish_int(p, start, line, col, out);
        return parse_bare(p, start, line, col, out);    /* e.g. "1kx" */
    }
    if (num_term(c) || neg)
        return finish_int(p, start, line, col, out);
    return parse_bare(p, start, line, col, out);        /* "30s", "0x10" */
}

/* ------------------------------------------------------------------ */
/* Arrays, maps, entries.                                               */

static int
push_ctx(struct pstate *p, struct mst_conf_node *n)
{
    if (p->nest >= MST_CONF_MAX_NEST)
        return errf(p, -ELOOP, "maps and arrays nested deeper than %d",
                    MST_CONF_MAX_NEST);
    p->nest++;
    p->ctx[p->nctx++] = n;
    return 0;
}

static void
pop_ctx(struct pstate *p)
{
    p->nest--;
    p->nctx--;
}

/* Skip spaces (and new lines if nl) and comments. */
static void
skip_filler(struct pstate *p, bool nl)
{
    for (;;) {
        int c = peek(p);
        if (is_ws(c) || (nl && is_space(c)))
            next(p);
        else if (at_comment(p))
            skip_comment(p);
        else
            return;
    }
}

static int
parse_array_items(struct pstate *p, struct mst_conf_node *arr)
{
    char tmp[8];
    for (;;) {
        skip_filler(p, true);
        int c = peek(p);
        if (c == CH_EOF)
            return errf(p, -EINVAL, "Unexpected EOF processing array.");
        if (c == ',' || c == '/')
            return errf(p, -EINVAL, "Unexpected array value terminator "
                        "','.");
        if (c == ']') {
            next(p);
            return 0;
        }
        struct mst_conf_node *kid = NULL;
        int rc = parse_value(p, &kid);
        if (rc == 0 && (rc = node_add(arr, kid)) < 0)
            node_free(kid);
        if (rc < 0)
            return rc;
        skip_filler(p, false);
        c = next(p);
        if (c == ',' || is_nl(c))
            continue;
        if (c == ']')
            return 0;
        if (c == CH_EOF)
            return errf(p, -EINVAL, "Unexpected EOF processing array.");
        return errf(p, -EINVAL, "Expected an array value terminator \",\" or "
                    "an array terminator \"]\", but got '%s' instead.",
                    chdesc(c, tmp));
    }
}

static int
parse_array(struct pstate *p, uint32_t line, uint32_t col,
            struct mst_conf_node **out)
{
    struct mst_conf_node *arr = node_new(p, MST_CONF_ARRAY, line, col);
    if (arr == NULL)
        return -ENOMEM;
    next(p);
    int rc = push_ctx(p, arr);
    if (rc == 0) {
        rc = parse_array_items(p, arr);
        pop_ctx(p);
    }
    if (rc < 0) {
        node_free(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

static int parse_entry(struct pstate *p, struct mst_conf_node *map,
                       bool in_map);

static int
parse_map_entries(struct pstate *p, struct mst_conf_node *map)
{
    char tmp[8];
    for (;;) {
        skip_filler(p, true);
        int c = peek(p);
        if (c == '}') {
            next(p);
            return 0;
        }
        if (c == CH_EOF)
            return errf(p, -EINVAL, "Unexpected EOF processing map.");
        int rc = parse_entry(p, map, true);
        if (rc < 0)
            return rc;
        skip_filler(p, false);
        c = next(p);
        if (c == ';' || c == ',' || is_nl(c))
            continue;
        if (c == '}')
            return 0;
        if (c == CH_EOF)
            return errf(p, -EINVAL, "Unexpected EOF processing map.");
        return errf(p, -EINVAL, "Expected a map value terminator \",\" or a "
                    "map terminator \"}\", but got '%s' instead.",
                    chdesc(c, tmp));
    }
}

static int
parse_map(struct pstate *p, uint32_t line, uint32_t col,
          struct mst_conf_node **out)
{
    struct mst_conf_node *map = node_new(p, MST_CONF_MAP, line, col);
    if (map == NULL)
        return -ENOMEM;
    next(p);
    int rc = push_ctx(p, map);
    if (rc == 0) {
        rc = parse_map_entries(p, map);
        pop_ctx(p);
    }
    if (rc < 0) {
        node_free(map);
        return rc;
    }
    *out = map;
    return 0;
}

/* A value starts here, after optional spaces (never a new line). */
static int
parse_value(struct pstate *p, struct mst_conf_node **out)
{
    while (is_ws(peek(p)))
        next(p);
    uint32_t line = p->line, col = cur_col(p);
    int c = peek(p);
    if (c == CH_EOF)
        return errf(p, -EINVAL, "Expected value but found EOF");
    if (is_nl(c))
        return errf(p, -EINVAL, "Expected value but found new line");
    switch (c) {
    case '[':  return parse_array(p, line, col, out);
    case '{':  return parse_map(p, line, col, out);
    case '"':  return parse_dq_string(p, line, col, out);
    case '\'': return parse_sq_string(p, line, col, out);
    case '(':  return parse_block_string(p, line, col, out);
    case '.':  return errf(p, -EINVAL, "Floats must start with a digit");
    }
    if (c == '-' || is_digit(c))
        return parse_number(p, line, col, out);
    return parse_bare(p, p->pos, line, col, out);
}

/* ------------------------------------------------------------------ */
/* Includes.                                                            */

static int
include_path(struct pstate *p, char **out)
{
    char tmp[8];
    while (is_ws(peek(p)))
        next(p);
    int c = peek(p);
    switch (c) {
    case '[': return errf(p, -EINVAL, "Expected include value but found "
                          "start of an array");
    case '{': return errf(p, -EINVAL, "Expected include value but found "
                          "start of a map");
    case '(': return errf(p, -EINVAL, "Expected include value but found "
                          "start of a block");
    case '\\': return errf(p, -EINVAL, "Expected include value but found "
                           "escape sequence");
    case CH_EOF: return errf(p, -EINVAL, "Expected include value but found "
                             "EOF");
    }
    if (is_digit(c) || c == '-')
        return errf(p, -EINVAL, "Expected include value but found start of "
                    "a number");
    if (is_nl(c))
        return errf(p, -EINVAL, "Expected include value but found new line");
    size_t start, end;
    if (c == '"' || c == '\'') {
        next(p);
        start = p->pos;
        while (peek(p) != c) {
            if (peek(p) == CH_EOF)
                return errf(p, -EINVAL, "Unexpected EOF.");
            next(p);
        }
        end = p->pos;
        next(p);
    } else {
        start = p->pos;
        while (!num_term(peek(p)) && peek(p) != '\'')
            next(p);
        end = p->pos;
        if (peek(p) == '\'')
            next(p);
    }
    if (end == start)
        return errf(p, -EINVAL, "Expected include value but found '%s'",
                    chdesc(peek(p), tmp));
    if ((*out = dup_range(p, start, end)) == NULL)
        return -ENOMEM;
    return 0;
}

/* `include x`: read x (relative to this file's directory, as
 * nats-server joins it, even when x is absolute) and merge its top-level
 * entries into map. */
static int
parse_include(struct pstate *p, struct mst_conf_node *map)
{
    uint32_t line = p->line, col = cur_col(p);
    char *rel = NULL;
    int rc = include_path(p, &rel);
    if (rc < 0)
        return rc;
    if (p->inc_depth + 1 > MST_CONF_MAX_INCLUDE) {
        rc = errf_at(p, line, col, -ELOOP, "include '%s' nested deeper than "
                     "%d files (include loop?)", rel, MST_CONF_MAX_INCLUDE);
        free(rel);
        return rc;
    }
    const char *slash = strrchr(p->file, '/');
    int dirlen = slash ? (int)(slash - p->file) : 1;
    const char *dir = p->file;
    size_t need = (size_t)dirlen + strlen(rel) + 2;
    char *full = malloc(need);
    if (full == NULL) {
        free(rel);
        return -ENOMEM;
    }
    if (slash == NULL)      /* as Go's filepath.Join(".", rel) */
        snprintf(full, need, "%s", rel + strspn(rel, "/"));
    else
        snprintf(full, need, "%.*s/%s", dirlen, dir, rel);
    char *text = NULL;
    size_t len = 0;
    char oerr[300];
    rc = slurp(full, &text, &len, oerr, sizeof(oerr));
    if (rc < 0)
        errf_at(p, line, col, rc, "error parsing include file '%s', %s", rel,
                oerr);
    free(rel);
    struct mst_conf_node *sub = NULL;
    if (rc == 0)
        rc = parse_text(p->doc, text, len, full, p->inc_depth + 1, &sub,
                        p->err, p->errlen);
    free(text);
    free(full);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sub->nkids; i++) {
        if (rc == 0 && (rc = map_set(map, sub->kids[i])) == 0)
            sub->kids[i] = NULL;
        node_free(sub->kids[i]);
        sub->kids[i] = NULL;
    }
    sub->nkids = 0;
    node_free(sub);
    return rc;
}

/* key [sep] value, or include. */
static int
parse_entry(struct pstate *p, struct mst_conf_node *map, bool in_map)
{
    uint32_t line = p->line, col = cur_col(p);
    int c = peek(p);
    if (c == '=' || c == ':')
        return errf(p, -EINVAL, "Unexpected key separator '%c'", c);
    if (in_map && c == ']')
        return errf(p, -EINVAL, "Unexpected array end ']' processing map.");
    char *key;
    if (c == '"' || c == '\'') {
        next(p);
        size_t start = p->pos;
        while (peek(p) != c) {
            if (peek(p) == CH_EOF)
                return errf(p, -EINVAL, "Unexpected EOF.");
            next(p);
        }
        key = dup_range(p, start, p->pos);
        next(p);
    } else {
        size_t start = p->pos;
        while (peek(p) != CH_EOF && !is_space(peek(p)) && peek(p) != '=' &&
               peek(p) != ':')
            next(p);
        key = dup_range(p, start, p->pos);
        if (key != NULL && is_space(peek(p)) && strcasecmp(key, "include") == 0) {
            free(key);
            return parse_include(p, map);
        }
    }
    if (key == NULL)
        return -ENOMEM;
    while (is_space(peek(p)))
        next(p);
    c = peek(p);
    if (c == '=' || c == ':')
        next(p);
    if (in_map) {
        while (is_space(peek(p)))
            next(p);
        c = peek(p);
        if (c == ',') {
            free(key);
            return errf(p, -EINVAL, "Unexpected map value terminator ','.");
        }
    }
    c = peek(p);
    if (c == CH_EOF || (in_map && c == '}')) {
        int rc = errf_at(p, line, col, -EINVAL, "key '%s' has no value", key);
        free(key);
        return rc;
    }
    struct mst_conf_node *val = NULL;
    int rc = parse_value(p, &val);
    if (rc < 0) {
        free(key);
        return rc;
    }
    val->key = key;
    val->file = p->file;
    val->line = line;
    val->col = col;
    if ((rc = map_set(map, val)) < 0)
        node_free(val);
    return rc;
}

static int
top_value_end(struct pstate *p)
{
    char tmp[8];
    while (is_ws(peek(p)))
        next(p);
    if (at_comment(p)) {
        skip_comment(p);
        return 0;
    }
    int c = peek(p);
    if (c == CH_EOF)
        return 0;
    next(p);
    if (is_nl(c) || c == ';' || c == ',' || c == '}')
        return 0;
    return errf(p, -EINVAL, "Expected a top-level value to end with a new "
                "line, comment or EOF, but got '%s' instead.", chdesc(c, tmp));
}

static int
parse_doc(struct pstate *p, struct mst_conf_node *map)
{
    int rc = push_ctx(p, map);
    if (rc < 0)
        return rc;
    for (;;) {
        int c = peek(p);
        if (c == CH_EOF)
            break;
        /* Top-level braces are optional wrappers (JSON-style files). */
        if (is_space(c) || c == '{' || c == '}') {
            next(p);
            continue;
        }
        if (at_comment(p)) {
            skip_comment(p);
            continue;
        }
        if (c == '/') {
            rc = errf(p, -EINVAL, "Unexpected '/': comments start with '//' "
                      "or '#'");
            break;
        }
        if ((rc = parse_entry(p, map, false)) < 0)
            break;
        if ((rc = top_value_end(p)) < 0)
            break;
    }
    pop_ctx(p);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Files and documents.                                                 */

static const char *
intern(struct mst_conf *doc, const char *name)
{
    for (size_t i = 0; i < doc->nfiles; i++)
        if (strcmp(doc->files[i], name) == 0)
            return doc->files[i];
    char **f = realloc(doc->files, (doc->nfiles + 1) * sizeof(*f));
    if (f == NULL)
        return NULL;
    doc->files = f;
    if ((f[doc->nfiles] = strdup(name)) == NULL)
        return NULL;
    return f[doc->nfiles++];
}

static int
parse_text(struct mst_conf *doc, const char *text, size_t len,
           const char *name, int depth, struct mst_conf_node **root,
           char *err, size_t errlen)
{
    const char *file = intern(doc, name ? name : "");
    if (file == NULL)
        return -ENOMEM;
    struct pstate p = {
        .doc = doc, .src = text, .len = len, .line = 1, .file = file,
        .inc_depth = depth, .err = err, .errlen = errlen,
    };
    struct mst_conf_node *map = node_new(&p, MST_CONF_MAP, 1, 0);
    if (map == NULL)
        return -ENOMEM;
    if (memchr(text, '\0', len) != NULL) {
        node_free(map);
        const char *nul = memchr(text, '\0', len);
        p.pos = 0;
        while (p.src + p.pos < nul)
            next(&p);
        return errf(&p, -EINVAL, "NUL byte in config file");
    }
    int rc = parse_doc(&p, map);
    if (rc < 0) {
        node_free(map);
        return rc;
    }
    *root = map;
    return 0;
}

static int
slurp(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        int e = errno;
        snprintf(err, errlen, "open %s: %s", path, strerror(e));
        return -e;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : -ENOMEM;
    while (rc == 0) {
        if (len == cap) {
            if (cap > MST_CONF_MAX_BYTES) {
                snprintf(err, errlen, "open %s: file larger than %u bytes",
                         path, MST_CONF_MAX_BYTES);
                rc = -E2BIG;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            rc = -errno;
            snprintf(err, errlen, "open %s: read: %s", path, strerror(-rc));
        } else if (n == 0) {
            break;
        } else {
            len += (size_t)n;
        }
    }
    close(fd);
    if (rc == 0 && len > MST_CONF_MAX_BYTES) {
        snprintf(err, errlen, "open %s: file larger than %u bytes", path,
                 MST_CONF_MAX_BYTES);
        rc = -E2BIG;
    }
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

static int
read_file_into(struct mst_conf *doc, const char *path, int depth,
               struct mst_conf_node **root, char *err, size_t errlen)
{
    char *text;
    size_t len;
    int rc = slurp(path, &text, &len, err, errlen);
    if (rc < 0)
        return rc;
    rc = parse_text(doc, text, len, path, depth, root, err, errlen);
    free(text);
    return rc;
}

void
mst_conf_free(struct mst_conf *c)
{
    if (c == NULL)
        return;
    node_free(c->root);
    for (size_t i = 0; i < c->nfiles; i++)
        free(c->files[i]);
    free(c->files);
    free(c);
}

int
mst_conf_parse_file(const char *path, struct mst_conf **out, char *err,
                    size_t errlen)
{
    char scratch[1];
    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    err[0] = '\0';
    *out = NULL;
    struct mst_conf *doc = calloc(1, sizeof(*doc));
    if (doc == NULL)
        return -ENOMEM;
    int rc = read_file_into(doc, path, 0, &doc->root, err, errlen);
    if (rc < 0) {
        mst_conf_free(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

int
mst_conf_parse_string(const char *text, size_t len, const char *name,
                      struct mst_conf **out, char *err, size_t errlen)
{
    char scratch[1];
    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    err[0] = '\0';
    *out = NULL;
    struct mst_conf *doc = calloc(1, sizeof(*doc));
    if (doc == NULL)
        return -ENOMEM;
    int rc = parse_text(doc, text, len, name, 0, &doc->root, err, errlen);
    if (rc < 0) {
        mst_conf_free(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

const struct mst_conf_node *
mst_conf_get(const struct mst_conf_node *map, const char *key)
{
    if (map == NULL || map->type != MST_CONF_MAP)
        return NULL;
    for (size_t i = map->nkids; i-- > 0;)
        if (strcasecmp(map->kids[i]->key, key) == 0)
            return map->kids[i];
    return NULL;
}

const char *
mst_conf_type_name(enum mst_conf_type t)
{
    switch (t) {
    case MST_CONF_MAP:      return "map";
    case MST_CONF_ARRAY:    return "array";
    case MST_CONF_STRING:   return "string";
    case MST_CONF_INT:      return "integer";
    case MST_CONF_FLOAT:    return "float";
    case MST_CONF_BOOL:     return "boolean";
    case MST_CONF_DATETIME: return "datetime";
    }
    return "unknown";
}
