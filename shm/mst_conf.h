/*
 * mst_conf.h -- reader for nats-server's configuration-file syntax.
 *
 * Turns a config file into a small tree of maps, arrays and scalars,
 * following nats-server 2.9.10's lexer: `key: value`, `key = value` and
 * `key value`; blocks `name { ... }`; arrays `[a, b]` separated by commas
 * or new lines; `#` and `//` comments; "..." strings with escapes, '...'
 * raw strings, bare strings and `( ... )` block strings; integers with
 * size suffixes (k=1000, kb/ki/kib=1024, likewise m, g, t, p, e);
 * floats; booleans true/false/yes/no/on/off; ISO8601 Zulu datetimes;
 * `include path` (relative to the including file's directory, depth
 * bounded by MST_CONF_MAX_INCLUDE); `$VAR` references to keys defined
 * earlier in the same or an enclosing block, else to the environment.
 *
 * NOTES
 *   Ownership: a parse returns one struct mst_conf that owns every node,
 *   string and file name in it; mst_conf_free() releases all of it.
 *   Nodes are immutable once returned.  Not thread-safe; the master
 *   parses on its main thread only.
 *   Errors: functions return 0 or -errno (-EINVAL for syntax, -ENOENT
 *   etc. for files, -E2BIG for oversized input, -ELOOP for too-deep
 *   nesting or includes, -ENOMEM) and write "file:line:col: problem"
 *   into err.  Columns follow nats-server's convention (0-based on
 *   line 1, counted from the preceding newline after that), so messages
 *   line up with what nats-server prints for the same file.
 *   Deliberate differences from nats-server 2.9.10 (its behaviour is a
 *   bug in each case): an integer directly followed by ']' is accepted;
 *   a key with no value is an error rather than silently dropped; an
 *   include loop is an error rather than a stack overflow; integer
 *   overflow and unknown size suffixes are errors rather than wrapped or
 *   dropped values; "\x00" is refused; a stray '}' at top level is
 *   skipped like the optional '{' (nats-server reads it as a key).
 */
#ifndef MST_CONF_H
#define MST_CONF_H

#include <stddef.h>
#include <stdint.h>

#define MST_CONF_MAX_BYTES    (4u << 20)  /* per file */
#define MST_CONF_MAX_INCLUDE  10          /* nested include depth */
#define MST_CONF_MAX_NEST     64          /* nested maps/arrays per file */

enum mst_conf_type {
    MST_CONF_MAP,
    MST_CONF_ARRAY,
    MST_CONF_STRING,
    MST_CONF_INT,
    MST_CONF_FLOAT,
    MST_CONF_BOOL,
    MST_CONF_DATETIME,      /* str holds "YYYY-MM-DDTHH:MM:SSZ" */
};

struct mst_conf_node {
    enum mst_conf_type type;
    char *key;              /* entry name inside a MAP; NULL otherwise */
    char *str;              /* STRING, DATETIME: the value; INT, FLOAT:
                               the source text, e.g. "64MB"; else NULL */
    int64_t i;              /* INT: value with the suffix applied */
    double f;               /* FLOAT */
    int b;                  /* BOOL: 0 or 1 */
    const char *file;       /* file it came from (owned by the mst_conf) */
    uint32_t line, col;     /* of the key for map entries, else the value */
    int used_as_var;        /* a later $reference named this entry */
    struct mst_conf_node **kids;    /* MAP entries in file order, ARRAY items */
    size_t nkids, cap;
};

struct mst_conf {
    struct mst_conf_node *root;     /* always a MAP */
    char **files;                   /* interned file names */
    size_t nfiles;
};

/* Parse a file.  On success *out owns the tree; on failure *out is NULL. */
int  mst_conf_parse_file(const char *path, struct mst_conf **out,
                         char *err, size_t errlen);
/* Parse text held in memory; name is used in messages and its
 * directory anchors includes ("" or NULL: the current directory). */
int  mst_conf_parse_string(const char *text, size_t len, const char *name,
                           struct mst_conf **out, char *err, size_t errlen);
void mst_conf_free(struct mst_conf *c);

/* Last entry of map whose key equals key, ignoring ASCII case (as
 * nats-server matches option names); NULL if none or map is not a MAP. */
const struct mst_conf_node *mst_conf_get(const struct mst_conf_node *map,
                                         const char *key);
/* "map", "array", "string", ... for messages. */
const char *mst_conf_type_name(enum mst_conf_type t);

#endif /* MST_CONF_H */
