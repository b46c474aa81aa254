/*
 * dt_json.h -- a small JSON reader (text -> read-only tree) and a JSON
 * writer (calls -> text in a dt_buf), shared by every Dialtone process.
 *
 * Reader
 *   dt_json_parse() parses one JSON text (RFC 8259, any top-level value)
 *   into a tree held in ONE block: the nodes and every unescaped string
 *   live in it, nothing points back into the input, and dt_json_free()
 *   releases it all.  dt_json_parse_in() builds the same tree inside
 *   caller memory (no allocation at all), e.g. a stack buffer for a NATS
 *   CONNECT.
 *   Strings are unescaped to UTF-8 (\uXXXX and surrogate pairs included)
 *   and NUL-terminated for convenience, but may hold \u0000: use the
 *   length.  Invalid UTF-8 and lone surrogates become U+FFFD, as Go's
 *   encoding/json (nats-server) does.
 *   Numbers keep their exact integer value when written as an integer
 *   (no fraction, no exponent); dt_json_int64()/dt_json_uint64() refuse
 *   anything else, so "1.0" or "1e3" is never silently truncated.
 *
 * Writer
 *   struct dt_jw appends to a struct dt_buf and inserts commas itself;
 *   callers only say begin/end/key/value.  The first error (buffer cap,
 *   misuse such as a value in an object without a key) is sticky: later
 *   calls do nothing and dt_jw_finish() reports it.  Strings are escaped
 *   (quote, backslash, control characters); valid UTF-8 passes through,
 *   invalid bytes are written as \ufffd, so the output is always valid.
 *
 * NOTES
 *   Ownership: a parsed tree is immutable and owned by its dt_json_doc
 *   (or by the caller's memory for dt_json_parse_in()).  Nothing here is
 *   thread-safe by itself; a finished tree may be read by many threads.
 *   Limits: nesting depth DT_JSON_MAX_DEPTH (both sides), at most
 *   DT_JSON_MAX_NODES values per text and max_block bytes per tree.
 *   Errors: functions return 0 or -errno; parse errors fill a
 *   dt_json_error with the byte offset and a static reason.  Bad input
 *   never crashes.
 */
#ifndef DT_JSON_H
#define DT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dt_buf.h"

#define DT_JSON_MAX_DEPTH         64
#define DT_JSON_MAX_NODES         (1u << 22)
#define DT_JSON_DEFAULT_MAX_BLOCK ((size_t)64 << 20)

enum dt_json_type {
    DT_JSON_NULL = 1,
    DT_JSON_BOOL,
    DT_JSON_NUMBER,
    DT_JSON_STRING,
    DT_JSON_ARRAY,
    DT_JSON_OBJECT,
};

/* One value of a parsed tree.  Read it only through the accessors. */
struct dt_json {
    uint8_t type;               /* enum dt_json_type */
    uint8_t flags;              /* DT_JSON_F_* (private) */
    uint16_t reserved;
    uint32_t len;               /* string bytes, or number of children */
    uint32_t key_len;
    uint32_t reserved2;
    const char *key;            /* member name when the parent is an object */
    const struct dt_json *next; /* next sibling, NULL at the end */
    union {
        const char *s;              /* string bytes */
        const struct dt_json *child;/* first child of an array/object */
        uint64_t mag;               /* integer magnitude (flag INT) */
        double d;                   /* any other number */
    } u;
};

/* Where and why a parse failed. */
struct dt_json_error {
    size_t pos;                 /* byte offset into the text */
    const char *reason;         /* static string, never NULL after error */
};

struct dt_json_doc;             /* one block: header, nodes, strings */

/* Parse text[0..len) into a freshly allocated tree of at most max_block
 * bytes (0 = DT_JSON_DEFAULT_MAX_BLOCK).  Returns 0 and *doc, or
 * -EINVAL (syntax; err says where), -E2BIG (depth, node count or
 * max_block exceeded), -ENOMEM.  err may be NULL. */
int dt_json_parse(const char *text, size_t len, size_t max_block,
                  struct dt_json_doc **doc, struct dt_json_error *err);
void dt_json_free(struct dt_json_doc *doc);
const struct dt_json *dt_json_root(const struct dt_json_doc *doc);

/* Parse into mem[0..memlen) (any alignment; no allocation).  Returns 0
 * and the root in *root, or -EINVAL, -E2BIG, or -ENOBUFS when mem is too
 * small.  The tree lives as long as mem. */
int dt_json_parse_in(const char *text, size_t len, void *mem, size_t memlen,
                     const struct dt_json **root, struct dt_json_error *err);

/* Navigation.  Every function accepts NULL and then returns NULL/0, so
 * lookups chain: dt_json_get(dt_json_get(root, "config"), "name"). */
static inline enum dt_json_type
dt_json_type(const struct dt_json *v)
{
    return v ? (enum dt_json_type)v->type : (enum dt_json_type)0;
}

static inline bool
dt_json_is(const struct dt_json *v, enum dt_json_type t)
{
    return v != NULL && v->type == t;
}

static inline bool
dt_json_is_null(const struct dt_json *v)
{
    return dt_json_is(v, DT_JSON_NULL);
}

/* Object member by exact key (the last one wins on duplicates, as in Go);
 * NULL if v is not an object or has no such member. */
const struct dt_json *dt_json_get(const struct dt_json *v, const char *key);
const struct dt_json *dt_json_getn(const struct dt_json *v, const char *key,
                                   size_t key_len);
/* Same with ASCII case folding, which is how Go fills a struct field
 * (a CONNECT with "Verbose" sets verbose in nats-server). */
const struct dt_json *dt_json_get_fold(const struct dt_json *v,
                                       const char *key);

/* Children of an array or object, in text order:
 *   for (c = dt_json_first(arr); c; c = dt_json_next(c)) ... */
const struct dt_json *dt_json_first(const struct dt_json *v);

static inline const struct dt_json *
dt_json_next(const struct dt_json *v)
{
    return v ? v->next : NULL;
}

/* Number of children of an array/object, 0 for anything else. */
size_t dt_json_count(const struct dt_json *v);

/* Member name of a child of an object (NUL-terminated); NULL otherwise. */
const char *dt_json_key(const struct dt_json *v, size_t *len);

/* Typed reads: 0 on success, -ENOENT if v is NULL (missing member),
 * -EINVAL if v has another type, and for numbers -EDOM when the text has
 * a fraction or exponent and an integer was asked for, -ERANGE when the
 * value does not fit (or a double overflowed to infinity). */
int dt_json_str(const struct dt_json *v, const char **s, size_t *len);
int dt_json_int64(const struct dt_json *v, int64_t *out);
int dt_json_uint64(const struct dt_json *v, uint64_t *out);
int dt_json_double(const struct dt_json *v, double *out);
int dt_json_bool(const struct dt_json *v, bool *out);

/* Decoding as Go's encoding/json does into a struct field, which is what
 * nats-server's JSON APIs do: a JSON null leaves the field as it is (0);
 * anything of the wrong type is -EINVAL.  v must be a present member. */
int dt_json_go_int64(const struct dt_json *v, int64_t *out);
int dt_json_go_bool(const struct dt_json *v, bool *out);
/* A string that must be one of names[0..count) (NULL entries skipped),
 * compared exactly or ASCII case-folded; its index goes to *out.  A null
 * is -EINVAL (nats-server's enums have their own UnmarshalJSON). */
int dt_json_enum(const struct dt_json *v, const char *const *names,
                 int count, bool fold, uint8_t *out);

/* ------------------------------------------------------------------ */
/* Writer. */

struct dt_jw {
    struct dt_buf *b;
    int err;                /* first error, sticky */
    uint8_t depth;          /* open containers */
    uint8_t pretty;         /* indent two spaces, like Go MarshalIndent */
    uint8_t after_key;      /* a key was written, its value is due */
    uint8_t done;           /* a complete top-level value was written */
    uint64_t is_object;     /* bit d: container at depth d+1 is an object */
    uint64_t has_items;     /* bit d: it already holds an element */
};

/* Start writing into b (appending to what it holds). */
void dt_jw_init(struct dt_jw *w, struct dt_buf *b, bool pretty);
/* 0 if a complete value was written, else the first error (-ENOBUFS,
 * -ENOMEM from the buffer; -EINVAL for misuse or unclosed containers). */
int dt_jw_finish(const struct dt_jw *w);

int dt_jw_begin_object(struct dt_jw *w);
int dt_jw_end_object(struct dt_jw *w);
int dt_jw_begin_array(struct dt_jw *w);
int dt_jw_end_array(struct dt_jw *w);
int dt_jw_key(struct dt_jw *w, const char *key);
int dt_jw_keyn(struct dt_jw *w, const char *key, size_t len);
int dt_jw_str(struct dt_jw *w, const char *s);          /* NULL -> null */
int dt_jw_strn(struct dt_jw *w, const char *s, size_t len);
int dt_jw_int64(struct dt_jw *w, int64_t v);
int dt_jw_uint64(struct dt_jw *w, uint64_t v);
int dt_jw_double(struct dt_jw *w, double v);  /* NaN/inf -> null */
int dt_jw_bool(struct dt_jw *w, bool v);
int dt_jw_null(struct dt_jw *w);

/* key + value in one call, for the common flat objects. */
int dt_jw_kstr(struct dt_jw *w, const char *key, const char *s);
int dt_jw_kint(struct dt_jw *w, const char *key, int64_t v);
int dt_jw_kuint(struct dt_jw *w, const char *key, uint64_t v);
int dt_jw_kdouble(struct dt_jw *w, const char *key, double v);
int dt_jw_kbool(struct dt_jw *w, const char *key, bool v);

/* Append s[0..len) as a quoted, escaped JSON string to b, without any
 * writer state (for callers building JSON by hand, e.g. INFO). */
int dt_json_quote(struct dt_buf *b, const char *s, size_t len);

#endif /* DT_JSON_H */
