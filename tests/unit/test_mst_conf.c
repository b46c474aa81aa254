/*
 * test_mst_conf.c -- unit tests for the master's configuration: the
 * nats-server config-file reader (mst_conf) and the option table,
 * flags and loader (mst_options).
 *
 * NOTES
 *   Expected values and messages were checked against nats-server
 *   2.9.10 (`nats-server -t -c file`, /varz) where the two agree; the
 *   deliberate differences are listed in mst_conf.h and mst_options.h.
 *   Temporary files live in one mkdtemp() directory, removed at exit.
 */
#include "mst_conf.h"
#include "mst_options.h"
#include "dt_check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/test_mst_conf.XXXXXX";
static char *made[64];
static int nmade;

/* Write text to tmpdir/name; returns the path (owned by the test run). */
static const char *
write_file(const char *name, const char *text)
{
    char *path;
    if (asprintf(&path, "%s/%s", tmpdir, name) < 0)
        abort();
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        abort();
    }
    for (int i = 0; i < nmade; i++)
        if (strcmp(made[i], path) == 0) {
            free(path);
            return made[i];
        }
    if (nmade == (int)(sizeof(made) / sizeof(made[0])))
        abort();
    made[nmade++] = path;
    return path;
}

static void
cleanup(void)
{
    for (int i = 0; i < nmade; i++) {
        unlink(made[i]);
        free(made[i]);
    }
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
    rmdir(sub);
    rmdir(tmpdir);
}

/* Parse text as tmpdir/t.conf; err receives the message on failure. */
static struct mst_conf *
parse(const char *text, int *rc, char *err, size_t errlen)
{
    struct mst_conf *c = NULL;
    *rc = mst_conf_parse_file(write_file("t.conf", text), &c, err, errlen);
    return c;
}

static struct mst_conf *
parse_ok(const char *text)
{
    char err[512];
    int rc;
    struct mst_conf *c = parse(text, &rc, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "unexpected parse error: %s\n", err);
    CHECK(rc == 0 && c != NULL);
    return c;
}

/* Parse must fail; err must contain want. */
static void
parse_fails(const char *text, const char *want)
{
    char err[512] = "";
    int rc;
    struct mst_conf *c = parse(text, &rc, err, sizeof(err));
    CHECK(rc < 0 && c == NULL);
    CHECK_CONTAINS(err, want);
    mst_conf_free(c);
}

static const struct mst_conf_node *
get(const struct mst_conf *c, const char *key)
{
    return c ? mst_conf_get(c->root, key) : NULL;
}

static int64_t
get_int(const struct mst_conf *c, const char *key)
{
    const struct mst_conf_node *n = get(c, key);
    CHECK(n != NULL && n->type == MST_CONF_INT);
    return n && n->type == MST_CONF_INT ? n->i : -424242;
}

static const char *
get_str(const struct mst_conf *c, const char *key)
{
    const struct mst_conf_node *n = get(c, key);
    CHECK(n != NULL && n->type == MST_CONF_STRING);
    return n && n->type == MST_CONF_STRING ? n->str : "<none>";
}

/* ------------------------------------------------------------------ */
/* mst_conf: syntax                                                     */

static void
test_separators(void)
{
    struct mst_conf *c = parse_ok("a: 1\nb = 2\nc 3\nd:4\ne=5\n"
                                  "f\n  6\n\"g h\": 7\n'i': 8\n");
    CHECK(get_int(c, "a") == 1);
    CHECK(get_int(c, "b") == 2);
    CHECK(get_int(c, "c") == 3);
    CHECK(get_int(c, "d") == 4);
    CHECK(get_int(c, "e") == 5);
    CHECK(get_int(c, "f") == 6);       /* key and value on separate lines */
    CHECK(get_int(c, "g h") == 7);     /* quoted keys */
    CHECK(get_int(c, "i") == 8);
    CHECK(c && c->root->nkids == 8);
    mst_conf_free(c);

    /* ';' and ',' end top-level values too. */
    c = parse_ok("a: 1; b: 2, c: x\n");
    CHECK(get_int(c, "a") == 1 && get_int(c, "b") == 2);
    CHECK(strcmp(get_str(c, "c"), "x") == 0);
    mst_conf_free(c);

    /* A JSON-looking file: optional top-level braces. */
    c = parse_ok("{\n  \"port\": 4222,\n  \"host\": \"1.2.3.4\"\n}\n");
    CHECK(get_int(c, "port") == 4222);
    CHECK(strcmp(get_str(c, "host"), "1.2.3.4") == 0);
    mst_conf_free(c);
}

static void
test_blocks_and_arrays(void)
{
    struct mst_conf *c = parse_ok(
        "a { x: 1, y = 2\n  z 3 }\n"
        "b: { inner { deep: true } }\n"
        "c = {\n  k: v;\n  l: w,\n}\n"
        "arr: [1, two, \"three\", [4, 5], {six: 6}]\n"
        "nl = [\n  1\n  2,   # comment\n  // another\n  3,\n]\n"
        "empty: []\nemptymap {}\n");
    const struct mst_conf_node *a = get(c, "a");
    CHECK(a && a->type == MST_CONF_MAP && a->nkids == 3);
    CHECK(mst_conf_get(a, "Z") && mst_conf_get(a, "Z")->i == 3);
    const struct mst_conf_node *b = get(c, "b");
    const struct mst_conf_node *inner = mst_conf_get(b, "inner");
    CHECK(inner && mst_conf_get(inner, "deep") &&
          mst_conf_get(inner, "deep")->type == MST_CONF_BOOL);
    const struct mst_conf_node *cc = get(c, "c");
    CHECK(cc && cc->nkids == 2 &&
          strcmp(mst_conf_get(cc, "l")->str, "w") == 0);
    const struct mst_conf_node *arr = get(c, "arr");
    CHECK(arr && arr->type == MST_CONF_ARRAY && arr->nkids == 5);
    if (arr && arr->nkids == 5) {
        CHECK(arr->kids[0]->type == MST_CONF_INT && arr->kids[0]->i == 1);
        CHECK(arr->kids[1]->type == MST_CONF_STRING);
        CHECK(strcmp(arr->kids[2]->str, "three") == 0);
        CHECK(arr->kids[3]->type == MST_CONF_ARRAY && arr->kids[3]->nkids == 2);
        CHECK(arr->kids[4]->type == MST_CONF_MAP);
        CHECK(arr->kids[0]->key == NULL);
    }
    const struct mst_conf_node *nl = get(c, "nl");
    CHECK(nl && nl->nkids == 3 && nl->kids[2]->i == 3);
    CHECK(get(c, "empty") && get(c, "empty")->nkids == 0);
    CHECK(get(c, "emptymap") && get(c, "emptymap")->type == MST_CONF_MAP);
    mst_conf_free(c);
}

static void
test_comments(void)
{
    struct mst_conf *c = parse_ok("# leading\n// also\nport: 1 # trailing\n"
                                  "host: x // trailing too\n"
                                  "name: a#b\nurl: nats://h:4222\n");
    CHECK(get_int(c, "port") == 1);
    CHECK(strcmp(get_str(c, "host"), "x") == 0);
    /* Inside a bare value '#' and '//' are just characters. */
    CHECK(strcmp(get_str(c, "name"), "a#b") == 0);
    CHECK(strcmp(get_str(c, "url"), "nats://h:4222") == 0);
    CHECK(c && c->root->nkids == 4);
    mst_conf_free(c);
}

static void
test_strings(void)
{
    struct mst_conf *c = parse_ok(
        "dq: \"a\\tb\\n\\\"q\\\"\\\\\\x41\"\n"
        "sq: 'raw \\t $x'\n"
        "bare: hello\n"
        "esc: abc\\x42\n"
        "ml: \"two\nlines\"\n"
        "blk: (\nline one\nline two\n)\n"
        "ip: 127.0.0.1\n"
        "hp: 1.2.3.4:80\n"
        "words: \"my srv\"\n");
    CHECK(strcmp(get_str(c, "dq"), "a\tb\n\"q\"\\A") == 0);
    CHECK(strcmp(get_str(c, "sq"), "raw \\t $x") == 0);
    CHECK(strcmp(get_str(c, "bare"), "hello") == 0);
    CHECK(strcmp(get_str(c, "esc"), "abcB") == 0);
    CHECK(strcmp(get_str(c, "ml"), "two\nlines") == 0);
    CHECK(strcmp(get_str(c, "blk"), "\nline one\nline two") == 0);
    CHECK(strcmp(get_str(c, "ip"), "127.0.0.1") == 0);
    CHECK(strcmp(get_str(c, "hp"), "1.2.3.4:80") == 0);
    CHECK(strcmp(get_str(c, "words"), "my srv") == 0);
    mst_conf_free(c);
}

static void
test_numbers_and_sizes(void)
{
    struct mst_conf *c = parse_ok(
        "a: 1k\nb: 1kb\nc: 1KB\nd: 1K\ne: 1Ki\nf: 1KiB\n"
        "g: 2m\nh: 2MB\ni: 2mib\nj: 3g\nk: 3GB\nl: 1t\nm: 1tb\n"
        "n: -5k\no: 007\np: 1.5\nq: -0.25\nr: 64MB\n");
    CHECK(get_int(c, "a") == 1000);
    CHECK(get_int(c, "b") == 1024);
    CHECK(get_int(c, "c") == 1024);
    CHECK(get_int(c, "d") == 1000);     /* K alone is 1000, as in nats */
    CHECK(get_int(c, "e") == 1024);
    CHECK(get_int(c, "f") == 1024);
    CHECK(get_int(c, "g") == 2000000);
    CHECK(get_int(c, "h") == 2 << 20);
    CHECK(get_int(c, "i") == 2 << 20);
    CHECK(get_int(c, "j") == 3000000000LL);
    CHECK(get_int(c, "k") == 3LL << 30);
    CHECK(get_int(c, "l") == 1000000000000LL);
    CHECK(get_int(c, "m") == 1LL << 40);
    CHECK(get_int(c, "n") == -5000);
    CHECK(get_int(c, "o") == 7);
    CHECK(get(c, "p") && get(c, "p")->type == MST_CONF_FLOAT &&
          get(c, "p")->f == 1.5);
    CHECK(get(c, "q") && get(c, "q")->f == -0.25);
    CHECK(strcmp(get(c, "r")->str, "64MB") == 0);   /* source text kept */
    mst_conf_free(c);

    /* Digits followed by other text are strings (durations, hex...). */
    c = parse_ok("a: 30s\nb: 1h30m\nc: 0x10\nd: 1kx\ne: 12:30\n"
                 "f: [1, 2]\n");
    CHECK(strcmp(get_str(c, "a"), "30s") == 0);
    CHECK(strcmp(get_str(c, "b"), "1h30m") == 0);
    CHECK(strcmp(get_str(c, "c"), "0x10") == 0);
    CHECK(strcmp(get_str(c, "d"), "1kx") == 0);
    CHECK(strcmp(get_str(c, "e"), "12:30") == 0);
    CHECK(get(c, "f") && get(c, "f")->nkids == 2 &&
          get(c, "f")->kids[1]->i == 2);
    mst_conf_free(c);

    c = parse_ok("d: 2020-01-02T03:04:05Z\n");
    CHECK(get(c, "d") && get(c, "d")->type == MST_CONF_DATETIME &&
          strcmp(get(c, "d")->str, "2020-01-02T03:04:05Z") == 0);
    mst_conf_free(c);
}

static void
test_booleans(void)
{
    struct mst_conf *c = parse_ok("a: true\nb: FALSE\nc: yes\nd: No\ne: on\n"
                                  "f: off\ng: \"true\"\nh: truthy\n");
    static const char *keys = "abcdef";
    static const int want[] = {1, 0, 1, 0, 1, 0};
    for (int i = 0; i < 6; i++) {
        char k[2] = {keys[i], 0};
        const struct mst_conf_node *n = get(c, k);
        CHECK(n && n->type == MST_CONF_BOOL && n->b == want[i]);
    }
    CHECK(strcmp(get_str(c, "g"), "true") == 0);    /* quoted: a string */
    CHECK(strcmp(get_str(c, "h"), "truthy") == 0);
    mst_conf_free(c);
}

static void
test_duplicates_last_wins(void)
{
    struct mst_conf *c = parse_ok("port: 1\nhost: h\nport: 2\n");
    CHECK(get_int(c, "port") == 2);
    /* Replaced entries move to the end: file order of assignments. */
    CHECK(c && c->root->nkids == 2 &&
          strcmp(c->root->kids[1]->key, "port") == 0);
    mst_conf_free(c);
}

static void
test_variables(void)
{
    setenv("DT_TEST_PORT", "4300", 1);
    setenv("DT_TEST_STR", "\"quoted\"", 1);
    setenv("DT_TEST_SIZE", "2kb", 1);
    setenv("DT_TEST_BAD", "a b", 1);
    struct mst_conf *c = parse_ok(
        "P = 4223\nport: $P\n"
        "env_port: $DT_TEST_PORT\nenv_str: $DT_TEST_STR\n"
        "env_size: $DT_TEST_SIZE\n"
        "A = 5\nblk { B = $A, t: $B }\n"
        "m { x: 1 }\ncopy: $m\n"
        "hash: $2a$11$abc\n");
    CHECK(get_int(c, "port") == 4223);
    CHECK(get(c, "P") && get(c, "P")->used_as_var == 1);
    CHECK(get(c, "port")->used_as_var == 0);
    CHECK(get_int(c, "env_port") == 4300);         /* env parsed as a value */
    CHECK(strcmp(get_str(c, "env_str"), "quoted") == 0);
    CHECK(get_int(c, "env_size") == 2048);
    const struct mst_conf_node *blk = get(c, "blk");
    CHECK(mst_conf_get(blk, "t") && mst_conf_get(blk, "t")->i == 5);
    const struct mst_conf_node *copy = get(c, "copy");
    CHECK(copy && copy->type == MST_CONF_MAP &&
          mst_conf_get(copy, "x")->i == 1);
    CHECK(strcmp(get_str(c, "hash"), "$2a$11$abc") == 0);   /* bcrypt */
    mst_conf_free(c);

    /* Variables do not leak out of a block, nor come from later lines. */
    parse_fails("blk { A = 5 }\nport: $A\n",
                "variable reference for 'A' on line 2 can not be found");
    parse_fails("port: $X\nX = 1\n", "t.conf:1:6: variable reference for 'X'");
    parse_fails("port: $DT_TEST_BAD\n", "variable reference for "
                "'DT_TEST_BAD'");
    unsetenv("DT_TEST_PORT");
    unsetenv("DT_TEST_STR");
    unsetenv("DT_TEST_SIZE");
    unsetenv("DT_TEST_BAD");
}

static void
test_includes(void)
{
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
    CHECK(mkdir(sub, 0700) == 0);
    write_file("sub/inner.conf", "port: 4225\nhost: \"1.2.3.4\"\n"
                                 "include ../leaf.conf\n");
    write_file("leaf.conf", "server_name: leaf\n");
    write_file("auth.conf", "user: a\npassword: b\n");
    struct mst_conf *c = parse_ok("port: 1\ninclude ./sub/inner.conf\n"
                                  "authorization { include 'auth.conf' }\n"
                                  "INCLUDE \"leaf.conf\"; debug: true\n");
    CHECK(get_int(c, "port") == 4225);      /* the include came later */
    CHECK(strcmp(get_str(c, "server_name"), "leaf") == 0);
    const struct mst_conf_node *auth = get(c, "authorization");
    CHECK(mst_conf_get(auth, "user") &&
          strcmp(mst_conf_get(auth, "user")->str, "a") == 0);
    CHECK(get(c, "debug") != NULL);
    const struct mst_conf_node *host = get(c, "host");
    CHECK(host && strstr(host->file, "sub/inner.conf") && host->line == 2);
    mst_conf_free(c);

    /* Includes are parsed on their own: no access to our variables. */
    write_file("usevar.conf", "port: $OURS\n");
    parse_fails("OURS = 1\ninclude usevar.conf\n",
                "usevar.conf:1:6: variable reference for 'OURS'");
    parse_fails("include nope.conf\n",
                "error parsing include file 'nope.conf', open ");
    parse_fails("include [a]\n",
                "Expected include value but found start of an array");
    write_file("loop.conf", "include loop.conf\n");
    parse_fails("include loop.conf\n", "include loop?");
}

static void
test_parse_errors(void)
{
    parse_fails("port: \"open\n", "t.conf:2:1: Unexpected EOF.");
    parse_fails("x = [1, 2", "Unexpected EOF processing array.");
    parse_fails("x { a: 1", "Unexpected EOF processing map.");
    parse_fails("s: \"a\\qb\"", "t.conf:1:7: Invalid escape character 'q'");
    parse_fails("s: \"\\x4\"", "Expected two hexadecimal digits after '\\x'");
    parse_fails("s: \"\\x00\"", "'\\x00' is not allowed");
    parse_fails("port: 4222 x", "t.conf:1:12: Expected a top-level value to "
                "end with a new line, comment or EOF, but got 'x' instead.");
    parse_fails("server_name: my srv", "but got 's' instead");
    parse_fails("= 3", "Unexpected key separator '='");
    parse_fails("port: .5", "Floats must start with a digit");
    parse_fails("x: 1.\n", "Floats must have a digit after the '.'");
    parse_fails("x: -a", "Expected a digit but got 'a'.");
    parse_fails("x: -5x", "but got 'x' instead");
    parse_fails("x: 1.5k", "but got 'k' instead");
    /* A size suffix followed by a digit ends the number: quote "2m30s". */
    parse_fails("x: 2m30s", "but got '3' instead");
    parse_fails("x: 1-2", "All ISO8601 dates must be in full Zulu form.");
    parse_fails("x: 2020-01-01\n", "Expected 'T' in ISO8601 datetime");
    parse_fails("x: 2020-13-01T00:00:00Z\n", "Expected Zulu formatted");
    parse_fails("port:\n", "Expected value but found new line");
    parse_fails("port\n", "t.conf:1:0: key 'port' has no value");
    parse_fails("x: [,]", "Unexpected array value terminator ','.");
    parse_fails("x: ['a' 2]", "Expected an array value terminator");
    parse_fails("x: {a: 1 b: 2}", "Expected a map value terminator");
    parse_fails("x: {a: , b: 1}", "Unexpected map value terminator ','.");
    parse_fails("x: 99999999999999999999", "is out of the range");
    parse_fails("x: 9999999999g", "is out of the range");
    parse_fails("x: 1kbb", "Invalid size suffix");
    parse_fails("x: (\nno end", "Unexpected EOF processing block.");
    parse_fails("/x: 1", "t.conf:1:0: Unexpected '/'");
    char err[256] = "";
    struct mst_conf *c = NULL;
    CHECK(mst_conf_parse_file("/nonexistent/x.conf", &c, err,
                              sizeof(err)) == -ENOENT);
    CHECK_CONTAINS(err, "open /nonexistent/x.conf");
    CHECK(c == NULL);
    /* Embedded NUL bytes and very deep nesting are refused. */
    CHECK(mst_conf_parse_string("a: 1\n\0b", 7, "mem", &c, err,
                                sizeof(err)) == -EINVAL);
    CHECK_CONTAINS(err, "mem:2:1: NUL byte");
    char deep[400];
    memset(deep, '[', sizeof(deep));
    memcpy(deep, "x: ", 3);
    CHECK(mst_conf_parse_string(deep, sizeof(deep), "deep", &c, err,
                                sizeof(err)) == -ELOOP);
    CHECK_CONTAINS(err, "nested deeper than");
}

static void
test_parse_string_api(void)
{
    struct mst_conf *c = NULL;
    char err[128];
    const char *text = "a: 1\nb { c: [x, y] }\n";
    CHECK(mst_conf_parse_string(text, strlen(text), NULL, &c, err,
                                sizeof(err)) == 0);
    CHECK(c && mst_conf_get(c->root, "B") != NULL);
    CHECK(mst_conf_get(c->root, "zzz") == NULL);
    CHECK(strcmp(mst_conf_type_name(MST_CONF_ARRAY), "array") == 0);
    mst_conf_free(c);
    mst_conf_free(NULL);
}

/* Random text built from the grammar's own characters: every input
 * either parses or fails with a message (run under ASan in CI). */
static void
test_garbage_never_crashes(void)
{
    static const char alphabet[] = "ab1k.-:=;,{}[]()\"'\\$#/ \t\nxXtrue";
    uint32_t seed = 12345;
    char text[96], err[256];
    int parsed = 0, failed_with_msg = 0, runs = 3000;
    setenv("DT_FUZZ", "$DT_FUZZ", 1);       /* self-reference: bounded */
    for (int i = 0; i < runs; i++) {
        size_t len = 1 + (seed >> 16) % (sizeof(text) - 1);
        for (size_t k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            text[k] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        if (i % 7 == 0 && len > 9)
            memcpy(text, "v: $DT_FUZZ", 9);
        struct mst_conf *c = NULL;
        err[0] = '\0';
        int rc = mst_conf_parse_string(text, len, "fuzz", &c, err,
                                       sizeof(err));
        if (rc == 0 && c != NULL)
            parsed++;
        else if (rc < 0 && c == NULL && strncmp(err, "fuzz:", 5) == 0)
            failed_with_msg++;
        mst_conf_free(c);
    }
    unsetenv("DT_FUZZ");
    CHECK(parsed + failed_with_msg == runs);
    CHECK(parsed > 0 && failed_with_msg > 0);
}

/* ------------------------------------------------------------------ */
/* mst_options                                                          */

/* Load with a config text (NULL: no -c) and extra flags. */
static int
load(struct mst_options *o, const char *conf, char *err, size_t errlen, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "dialtone";
    if (conf != NULL) {
        argv[argc++] = "-c";
        argv[argc++] = (char *)write_file("opt.conf", conf);
    }
    va_list ap;
    va_start(ap, errlen);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && argc < 31)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    memset(o, 0, sizeof(*o));
    return mst_options_load(o, argc, argv, err, errlen);
}

static void
load_ok(struct mst_options *o, const char *conf, const char *flag1,
        const char *flag2, const char *flag3)
{
    char err[512] = "";
    int rc = load(o, conf, err, sizeof(err), flag1, flag2, flag3,
                  (char *)NULL);
    if (rc != 0)
        fprintf(stderr, "unexpected load error: %s\n", err);
    CHECK(rc == 0);
}

static void
load_fails(const char *conf, const char *want, const char *flag1,
           const char *flag2)
{
    struct mst_options o;
    char err[512] = "";
    int rc = load(&o, conf, err, sizeof(err), flag1, flag2, (char *)NULL);
    CHECK(rc == -EINVAL);
    CHECK_CONTAINS(err, want);
}

static void
test_defaults(void)
{
    struct mst_options o;
    load_ok(&o, NULL, NULL, NULL, NULL);
    CHECK(o.s.port == 4222);
    CHECK(strcmp(o.s.host, "0.0.0.0") == 0);
    CHECK(o.s.http_port == 0);
    CHECK(o.s.max_payload == 1048576);
    CHECK(o.s.max_pending == 64 << 20);
    CHECK(o.s.max_control_line == 4096);
    CHECK(o.s.max_connections == 65536);
    CHECK(o.s.max_subscriptions == 0);
    CHECK(o.s.ping_interval_ms == 120000);
    CHECK(o.s.ping_max == 2);
    CHECK(o.s.write_deadline_ms == 10000);
    CHECK(o.s.auth_timeout_ms == 2000);
    CHECK(o.s.debug == 0 && o.s.trace == 0 && o.logtime == 1);
    CHECK(o.s.auth_user[0] == 0 && o.s.auth_token[0] == 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(o.gateway_workers >= 1 &&
          (long)o.gateway_workers == (cpus > 64 ? 64 : cpus));
    CHECK(o.s.gateways == o.gateway_workers);
    CHECK(o.ring_entries == 65536);
    CHECK(o.arena_bytes == 64ull << 20);
    CHECK(strcmp(o.http_host, "0.0.0.0") == 0);
    CHECK(o.warnings[0] == '\0');
    /* server_id: 56 chars of base32 starting with 'N'; name defaults to it */
    CHECK(strlen(o.s.server_id) == 56 && o.s.server_id[0] == 'N');
    CHECK(strspn(o.s.server_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == 56);
    CHECK(strcmp(o.s.server_name, o.s.server_id) == 0);
    struct mst_options o2;
    load_ok(&o2, NULL, NULL, NULL, NULL);
    CHECK(strcmp(o.s.server_id, o2.s.server_id) != 0);
}

static void
test_config_keys(void)
{
    struct mst_options o;
    load_ok(&o,
            "port: 4333\nnet: 127.0.0.1\nhttp_port: 8333\n"
            "server_name: \"my srv\"\nmax_payload: 2MB\nmax_control_line: 8kb\n"
            "max_conn: 100\nmax_pending: 128MB\nmax_subs: 50\n"
            "ping_interval: \"30s\"\nping_max: 5\nwrite_deadline: \"1m30s\"\n"
            "authorization { username: alice, pass: secret, timeout: 0.5 }\n"
            "debug: yes\ntrace: on\nlogtime: false\nlogfile: /tmp/x.log\n"
            "pidfile: /tmp/x.pid\ngateway_workers: 3\nring_entries: 1024\n"
            "arena_size: 256MB\n",
            NULL, NULL, NULL);
    CHECK(o.s.port == 4333);
    CHECK(strcmp(o.s.host, "127.0.0.1") == 0);
    CHECK(strcmp(o.http_host, "127.0.0.1") == 0);   /* follows host */
    CHECK(o.s.http_port == 8333);
    CHECK(strcmp(o.s.server_name, "my srv") == 0);
    CHECK(o.s.max_payload == 2 << 20);
    CHECK(o.s.max_control_line == 8192);
    CHECK(o.s.max_connections == 100);
    CHECK(o.s.max_pending == 128 << 20);
    CHECK(o.s.max_subscriptions == 50);
    CHECK(o.s.ping_interval_ms == 30000);
    CHECK(o.s.ping_max == 5);
    CHECK(o.s.write_deadline_ms == 90000);
    CHECK(strcmp(o.s.auth_user, "alice") == 0);
    CHECK(strcmp(o.s.auth_pass, "secret") == 0);
    CHECK(o.s.auth_timeout_ms == 500);
    CHECK(o.s.debug == 1 && o.s.trace == 1 && o.logtime == 0);
    CHECK(strcmp(o.log_file, "/tmp/x.log") == 0);
    CHECK(strcmp(o.pid_file, "/tmp/x.pid") == 0);
    CHECK(o.gateway_workers == 3 && o.s.gateways == 3);
    CHECK(o.ring_entries == 1024);
    CHECK(o.arena_bytes == 256ull << 20);
    CHECK(strcmp(o.s.config_file, o.config_file) == 0 &&
          strstr(o.config_file, "opt.conf") != NULL);
    CHECK(o.warnings[0] == '\0');

    load_ok(&o, "listen: \"10.0.0.1:5222\"\nhttp: \"127.0.0.1:8222\"\n"
            "authorization { token: \"s3cr3t\", timeout: \"1500ms\" }\n",
            NULL, NULL, NULL);
    CHECK(strcmp(o.s.host, "10.0.0.1") == 0 && o.s.port == 5222);
    CHECK(strcmp(o.http_host, "127.0.0.1") == 0 && o.s.http_port == 8222);
    CHECK(strcmp(o.s.auth_token, "s3cr3t") == 0);
    CHECK(o.s.auth_timeout_ms == 1500);

    load_ok(&o, "listen: 6222\nhttp: 8223\nlisten: \"[::1]:7222\"\n",
            NULL, NULL, NULL);
    CHECK(strcmp(o.s.host, "::1") == 0 && o.s.port == 7222);
    CHECK(o.s.http_port == 8223);

    /* 0 means the default, -1 an ephemeral port, as in nats-server. */
    load_ok(&o, "port: 0\nmax_payload: 0\nping_max: 0\nping_interval: \"0s\"\n"
            "authorization { timeout: 0 }\n", NULL, NULL, NULL);
    CHECK(o.s.port == 4222 && o.s.max_payload == 1048576 && o.s.ping_max == 2);
    CHECK(o.s.ping_interval_ms == 120000 && o.s.auth_timeout_ms == 2000);
    load_ok(&o, "port: -1\n", NULL, NULL, NULL);
    CHECK(o.s.port == 0);

    /* Keys are case-insensitive; variables are not config keys. */
    load_ok(&o, "PORT: 4555\nMY_PORT = 4556\nhttp_port: $MY_PORT\n",
            NULL, NULL, NULL);
    CHECK(o.s.port == 4555 && o.s.http_port == 4556);

    /* Refused features are fine when switched off. */
    load_ok(&o, "jetstream: disabled\nsyslog: false\n", NULL, NULL, NULL);
}

static void
test_durations(void)
{
    struct mst_options o;
    load_ok(&o, "ping_interval: \"1h\"\nwrite_deadline: \"250ms\"\n",
            NULL, NULL, NULL);
    CHECK(o.s.ping_interval_ms == 3600000 && o.s.write_deadline_ms == 250);
    load_ok(&o, "ping_interval: \"2m30s\"\nwrite_deadline: \"1.5s\"\n",
            NULL, NULL, NULL);
    CHECK(o.s.ping_interval_ms == 150000 && o.s.write_deadline_ms == 1500);
    load_ok(&o, "write_deadline: \"100us\"\n", NULL, NULL, NULL);
    CHECK(o.s.write_deadline_ms == 1);              /* rounded up to 1ms */

    /* An integer is seconds, with nats-server's warning. */
    load_ok(&o, "ping_interval: 30\n", NULL, NULL, NULL);
    CHECK(o.s.ping_interval_ms == 30000);
    CHECK_CONTAINS(o.warnings, "opt.conf:1:0: invalid use of field "
                   "\"ping_interval\": ping_interval should be converted to "
                   "a duration");
    /* ... which -t turns into an error, as nats-server -t does. */
    load_fails("ping_interval: 30\n", "should be converted to a duration",
               "-t", NULL);

    load_fails("ping_interval: \"bogus\"\n", "opt.conf:1:0: error parsing "
               "ping_interval: time: invalid duration \"bogus\"", NULL, NULL);
    load_fails("ping_interval: \"5x\"\n", "time: unknown unit \"x\" in "
               "duration \"5x\"", NULL, NULL);
    load_fails("ping_interval: \"5s3\"\n", "time: missing unit", NULL, NULL);
    load_fails("ping_interval: \"-1s\"\n", "invalid value -1000ms for "
               "ping_interval", NULL, NULL);
    load_fails("write_deadline: 1.5\n", "write_deadline must be a duration",
               NULL, NULL);
    load_fails("authorization { timeout: true }\n",
               "timeout must be a duration", NULL, NULL);
}

static void
test_config_errors(void)
{
    load_fails("foo: 1\n", "opt.conf:1:0: unknown field \"foo\"", NULL, NULL);
    load_fails("port: 1\nbar { a: 1 }\n", "opt.conf:2:1: unknown field "
               "\"bar\"", NULL, NULL);
    load_fails("authorization { bogus: 1 }\n", "opt.conf:1:16: unknown "
               "field \"bogus\"", NULL, NULL);
    load_fails("UNUSED = 5\n", "unknown field \"UNUSED\"", NULL, NULL);
    load_fails("port: \"4222\"\n", "port must be an integer, got a string",
               NULL, NULL);
    load_fails("debug: 1\n", "debug must be a boolean, got an integer",
               NULL, NULL);
    load_fails("server_name: 5\n", "server_name must be a string", NULL,
               NULL);
    load_fails("authorization: 5\n", "authorization must be a map", NULL,
               NULL);
    load_fails("port: 70000\n", "invalid value 70000 for port: must be "
               "between -1 and 65535", NULL, NULL);
    load_fails("http_port: -1\n", "http_port -1 (a random port) is not "
               "supported by Dialtone yet", NULL, NULL);
    load_fails("max_connections: -1\n", "invalid value -1 for "
               "max_connections", NULL, NULL);
    load_fails("max_payload: 2GB\n", "opt.conf:1:0: max_payload value is "
               "too big", NULL, NULL);
    load_fails("max_control_line: 2GB\n", "max_control_line value is too "
               "big", NULL, NULL);
    load_fails("max_payload: 65MB\n", "max_payload (68157440) cannot be "
               "higher than max_pending (67108864)", NULL, NULL);
    load_fails("listen: \"localhost\"\n", "could not parse address string "
               "\"localhost\"", NULL, NULL);
    load_fails("listen: \"h:xx\"\n", "could not parse port \"xx\"", NULL,
               NULL);
    load_fails("authorization { token: abc, user: a }\n", "opt.conf:1:0: "
               "Cannot have a user/pass and token", NULL, NULL);
    load_fails("authorization { user: a, password: $2a$11$abc }\n",
               "bcrypt-hashed secrets are not supported by Dialtone yet",
               NULL, NULL);
    char longname[200];
    memset(longname, 'x', sizeof(longname));
    memcpy(longname, "server_name: ", 13);
    longname[sizeof(longname) - 2] = '\n';
    longname[sizeof(longname) - 1] = '\0';
    load_fails(longname, "server_name is too long (185 bytes, at most 63)",
               NULL, NULL);
    load_fails("gateway_workers: 65\n", "invalid value 65 for "
               "gateway_workers: must be between 1 and 64", NULL, NULL);
    load_fails("ring_entries: 1000\n", "ring_entries must be a power of two",
               NULL, NULL);
    load_fails("arena_size: 64M\n", "arena_size must be a power of two, got "
               "64000000 (write sizes as 64MB", NULL, NULL);
    load_fails("arena_size: 1MB\nmax_payload: 1MB\n", "arena_size (1048576) "
               "must be at least twice", NULL, NULL);
    load_fails("port: [1]\n", "port must be an integer, got an array", NULL,
               NULL);
    /* Syntax errors come through with their position. */
    load_fails("port: 4222 x\n", "opt.conf:1:12: Expected a top-level value",
               NULL, NULL);
    load_fails(NULL, "open /nonexistent.conf", "-c", "/nonexistent.conf");
}

static void
test_refused_keys(void)
{
    static const struct { const char *conf, *want; } cases[] = {
        {"jetstream { domain: hub }\n", "config key 'jetstream.domain' "
                                          "(JetStream domains) is not "
                                          "supported by Dialtone yet"},
        {"jetstream { cipher: aes }\n", "(encryption at rest)"},
        {"tls { cert_file: x }\n", "'tls' (TLS)"},
        {"cluster { port: 6222 }\n", "'cluster' (clustering)"},
        {"gateway { name: x }\n", "'gateway' (super-cluster gateways)"},
        {"leafnodes {}\n", "'leafnodes' (leaf nodes)"},
        {"leaf {}\n", "'leaf' (leaf nodes)"},
        {"websocket {}\n", "(WebSocket)"},
        {"mqtt {}\n", "(MQTT)"},
        {"accounts {}\n", "'accounts' (accounts)"},
        {"operator: /x.jwt\n", "(operator mode (JWT))"},
        {"resolver: MEMORY\n", "(account resolvers)"},
        {"system_account: SYS\n", "(the system account)"},
        {"authorization { users: [ {user: a, password: b} ] }\n",
         "opt.conf:1:16: config key 'authorization.users' (user lists)"},
        {"authorization { permissions: {} }\n", "(permissions)"},
        {"https_port: 8443\n", "(HTTPS monitoring)"},
        {"syslog: true\n", "'syslog' (syslog)"},
        {"prof_port: 6060\n", "(profiling)"},
        {"mappings {}\n", "(subject mappings)"},
        {"no_header_support: true\n", "(disabling headers)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        load_fails(cases[i].conf, cases[i].want, NULL, NULL);
}

/* nats-server's lame duck settings: a duration of at least 30 s. */
static void
test_lame_duck(void)
{
    struct mst_options o;
    load_ok(&o, NULL, NULL, NULL, NULL);
    CHECK(o.s.ldm_duration_ms == 120000 && o.s.ldm_grace_ms == 10000);
    load_ok(&o, "lame_duck_duration: \"30s\"\nlame_duck_grace_period: 1s\n",
            NULL, NULL, NULL);
    CHECK(o.s.ldm_duration_ms == 30000 && o.s.ldm_grace_ms == 1000);
    load_fails("lame_duck_duration: 10s\n",
               "invalid lame_duck_duration of 10s, minimum is 30 seconds",
               NULL, NULL);
}

static void
test_flags(void)
{
    struct mst_options o;
    char err[512];
    /* Short and long names, one or two dashes, "-x v" and "-x=v". */
    load_ok(&o, NULL, "-p", "4300", "--addr=127.0.0.2");
    CHECK(o.s.port == 4300 && strcmp(o.s.host, "127.0.0.2") == 0);
    load_ok(&o, NULL, "--port=4301", "-net", "::1");
    CHECK(o.s.port == 4301 && strcmp(o.s.host, "::1") == 0);
    load_ok(&o, NULL, "-port", "0x10", "-a=h");
    CHECK(o.s.port == 16);              /* Go's base prefixes */
    load_ok(&o, NULL, "-m", "8222", "--name=srv1");
    CHECK(o.s.http_port == 8222 && strcmp(o.s.server_name, "srv1") == 0);
    load_ok(&o, NULL, "--server_name", "srv2", "-n=srv3");
    CHECK(strcmp(o.s.server_name, "srv3") == 0);   /* last one wins */
    load_ok(&o, NULL, "-l", "/tmp/l.log", "--pid=/tmp/p.pid");
    CHECK(strcmp(o.log_file, "/tmp/l.log") == 0 &&
          strcmp(o.pid_file, "/tmp/p.pid") == 0);
    load_ok(&o, NULL, "-D", "--trace", "-T=false");
    CHECK(o.s.debug == 1 && o.s.trace == 1 && o.logtime == 0);
    load_ok(&o, NULL, "-DV", NULL, NULL);
    CHECK(o.s.debug == 1 && o.s.trace == 1 && o.logtime == 1);
    load_ok(&o, NULL, "--user", "u", "--pass=p");
    CHECK(strcmp(o.s.auth_user, "u") == 0 && strcmp(o.s.auth_pass, "p") == 0);
    load_ok(&o, NULL, "--auth", "tok", "--gateway_workers=2");
    CHECK(strcmp(o.s.auth_token, "tok") == 0 && o.gateway_workers == 2 &&
          o.s.gateways == 2);
    load_ok(&o, NULL, "-p", "-1", NULL);    /* a value may start with '-' */
    CHECK(o.s.port == 0);
    /* Refused boolean features switched off are accepted. */
    load_ok(&o, NULL, "-js=false", "--tls=0", NULL);

    /* -h, -v and the "version"/"help" commands stop before loading. */
    load_ok(&o, NULL, "-h", NULL, NULL);
    CHECK(o.show_help == 1);
    load_ok(&o, NULL, "--version", NULL, NULL);
    CHECK(o.show_version == 1);
    load_ok(&o, NULL, "version", NULL, NULL);
    CHECK(o.show_version == 1);
    load_ok(&o, NULL, "-D", "help", NULL);
    CHECK(o.show_help == 1);
    load_ok(&o, NULL, "-c", "/nonexistent.conf", "-h");
    CHECK(o.show_help == 1);

    /* -t with a valid file. */
    load_ok(&o, "port: 5\n", "-t", NULL, NULL);
    CHECK(o.test_config == 1 && o.s.port == 5);

    load_fails(NULL, "flag provided but not defined: -x (see 'dialtone -h' "
               "for usage)", "-x", NULL);
    load_fails(NULL, "flag provided but not defined: -bogus", "--bogus=1",
               NULL);
    load_fails(NULL, "flag needs an argument: -p", "-p", NULL);
    load_fails(NULL, "invalid value \"abc\" for flag -p: parse error", "-p",
               "abc");
    load_fails(NULL, "invalid value \"99999999999999999999\" for flag -p: "
               "value out of range", "-p", "99999999999999999999");
    load_fails(NULL, "flag -p: invalid value 70000 for port", "-p", "70000");
    load_fails(NULL, "invalid boolean value \"maybe\" for -D: parse error",
               "-D=maybe", NULL);
    load_fails(NULL, "bad flag syntax: ---p=4", "---p=4", NULL);
    load_fails(NULL, "unrecognized command: \"false\"", "-T", "false");
    load_fails(NULL, "unrecognized command: \"-p\"", "--", "-p");
    load_fails(NULL, "must specify [-c, --config] option to check "
               "configuration file syntax", "-t", NULL);
    load_fails(NULL, "flag --gateway_workers: invalid value 65 for "
               "gateway_workers", "--gateway_workers", "65");
    load_fails(NULL, "flag -m: http_port -1 (a random port)", "-m", "-1");
    load_fails(NULL, "bcrypt-hashed secrets", "--pass", "$2a$11$xyz");
    /* Go's bool flags never take the next argument. */
    CHECK(load(&o, NULL, err, sizeof(err), "-D", "-p", "5", (char *)NULL)
          == 0 && o.s.debug == 1 && o.s.port == 5);
}

static void
test_refused_flags(void)
{
    static const char *const cases[][2] = {
        {"--tls", "flag --tls (TLS)"},
        {"--tlscert=c.pem", "flag --tlscert (TLS)"},
        {"--routes", "flag --routes (clustering)"},
        {"--cluster=nats://x:6222", "flag --cluster (clustering)"},
        {"--cluster_name=c", "flag --cluster_name (clustering)"},
        {"-ms", "flag -ms (HTTPS monitoring)"},
        {"--https_port=1", "flag --https_port (HTTPS monitoring)"},
        {"--profile=1", "flag --profile (profiling)"},
        {"-s", "flag -s (syslog)"},
        {"-r=udp://x:514", "flag -r (remote syslog)"},
        {"--client_advertise=x", "flag --client_advertise"},
        {"--ports_file_dir=/tmp", "flag --ports_file_dir (ports files)"},
        {"-VV", "flag -VV (verbose tracing)"},
        {"-DVV", "flag -DVV (verbose tracing)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        load_fails(NULL, cases[i][1], cases[i][0], "x");
    /* Refused even as the last argument, without the value it takes. */
    load_fails(NULL, "flag --routes (clustering) is not supported",
               "--routes", NULL);
    load_fails(NULL, "flag needs an argument: -sd", "-D", "-sd");
}

/* JetStream: -js/-sd, and the jetstream key as a switch or a block. */
static void
test_jetstream(void)
{
    struct mst_options o;
    load_ok(&o, NULL, NULL, NULL, NULL);
    CHECK(o.s.jetstream == 0 && strcmp(o.s.store_dir, "/tmp/nats") == 0);
    CHECK(o.s.js_sync_ms == 120000);
    load_ok(&o, NULL, "-js", "-sd=/data/js", NULL);
    CHECK(o.s.jetstream == 1 && strcmp(o.s.store_dir, "/data/js") == 0);
    load_ok(&o, "jetstream: enabled\n", NULL, NULL, NULL);
    CHECK(o.s.jetstream == 1);
    load_ok(&o, "jetstream: true\n", NULL, NULL, NULL);
    CHECK(o.s.jetstream == 1);
    load_ok(&o, "jetstream: disabled\n", NULL, NULL, NULL);
    CHECK(o.s.jetstream == 0);
    load_ok(&o, "jetstream {}\n", NULL, NULL, NULL);
    CHECK(o.s.jetstream == 1);
    load_ok(&o, "jetstream { enabled: false, store_dir: /x }\n", NULL, NULL,
            NULL);
    CHECK(o.s.jetstream == 0);
    load_ok(&o, "jetstream {\n  store_dir: \"/var/lib/js\"\n"
            "  max_memory_store: 1GB\n  max_file_store: 10GB\n"
            "  sync_interval: always\n}\n", NULL, NULL, NULL);
    CHECK(o.s.jetstream == 1 && strcmp(o.s.store_dir, "/var/lib/js") == 0);
    CHECK(o.s.js_max_memory == 1LL << 30 && o.s.js_max_store == 10LL << 30);
    CHECK(o.s.js_sync_ms == SHM_JS_SYNC_ALWAYS);
    load_ok(&o, "jetstream { sync_interval: \"30s\", max_mem: 1024 }\n",
            NULL, NULL, NULL);
    CHECK(o.s.js_sync_ms == 30000 && o.s.js_max_memory == 1024);
    /* flags beat the file */
    load_ok(&o, "jetstream { store_dir: /a }\n", "-sd", "/b", NULL);
    CHECK(strcmp(o.s.store_dir, "/b") == 0);
    load_fails("jetstream { sync_interval: \"often\" }\n",
               "error parsing sync_interval", NULL, NULL);
    load_fails("jetstream { no_such: 1 }\n", "unknown field \"no_such\"",
               NULL, NULL);
    load_fails("jetstream: 5\n", "jetstream must be a boolean or a map",
               NULL, NULL);
}

static void
test_precedence(void)
{
    struct mst_options o;
    const char *conf = "port: 4500\nhost: 10.1.1.1\ndebug: true\n"
                       "server_name: fromfile\nlogtime: true\n"
                       "authorization { user: fu, password: fp }\n";
    /* Flags beat the file, wherever they stand relative to -c. */
    char *path = (char *)write_file("prec.conf", conf);
    char *argv[] = {"dialtone", "-p", "4600", "-c", path, "-D=false",
                    "--name", "fromflag", "-T=false", "--user", "cu", NULL};
    char err[256];
    memset(&o, 0, sizeof(o));
    CHECK(mst_options_load(&o, 11, argv, err, sizeof(err)) == 0);
    CHECK(o.s.port == 4600);
    CHECK(strcmp(o.s.host, "10.1.1.1") == 0);      /* not overridden */
    CHECK(o.s.debug == 0);                          /* -D=false beats file */
    CHECK(strcmp(o.s.server_name, "fromflag") == 0);
    CHECK(o.logtime == 0);
    CHECK(strcmp(o.s.auth_user, "cu") == 0);
    CHECK(strcmp(o.s.auth_pass, "fp") == 0);
    /* -p 0 means the default even over the file, as in nats-server. */
    load_ok(&o, conf, "-p", "0", NULL);
    CHECK(o.s.port == 4222);
    /* listen in the file, -a on the command line. */
    load_ok(&o, "listen: \"10.2.2.2:4700\"\n", "-a", "127.0.0.1", NULL);
    CHECK(strcmp(o.s.host, "127.0.0.1") == 0 && o.s.port == 4700);
    /* Later keys in the file beat earlier ones, aliases included. */
    load_ok(&o, "listen: \"10.2.2.2:4700\"\nport: 4800\nnet: 10.3.3.3\n",
            NULL, NULL, NULL);
    CHECK(strcmp(o.s.host, "10.3.3.3") == 0 && o.s.port == 4800);
}

static void
test_table_and_compare(void)
{
    /* Every row has a help text, a name and a sane range. */
    for (size_t i = 0; i < mst_option_count; i++) {
        const struct mst_option *r = &mst_option_table[i];
        CHECK(r->keys[0] != NULL || r->flags[0] != NULL);
        if (r->type == MST_OT_REFUSED)
            CHECK(r->feature != NULL);
        else
            CHECK(r->help != NULL);
        if (r->type == MST_OT_INT || r->type == MST_OT_DURATION)
            CHECK(r->min <= r->max);
    }
    const struct mst_option *r = mst_option_by_key("MAX_CONN", NULL);
    CHECK(r && strcmp(r->keys[0], "max_connections") == 0 &&
          r->home == MST_HOME_SHM &&
          r->off == offsetof(struct shm_settings, max_connections));
    CHECK(mst_option_by_key("user", NULL) == NULL);
    CHECK(mst_option_by_key("user", "authorization") != NULL);
    CHECK(mst_option_by_flag("p") == mst_option_by_key("port", NULL));
    CHECK(mst_option_by_flag("P") == mst_option_by_key("pid_file", NULL));
    CHECK(mst_option_by_flag("nope") == NULL);

    struct mst_options a, b;
    unsigned mask;
    load_ok(&a, "max_payload: 1MB\n", NULL, NULL, NULL);
    load_ok(&b, "max_payload: 1MB\n", NULL, NULL, NULL);
    memcpy(b.s.server_id, a.s.server_id, sizeof(a.s.server_id));
    memcpy(b.s.server_name, a.s.server_name, sizeof(a.s.server_name));
    CHECK(mst_options_compare(&a, &b, &mask) == MST_CHANGE_HOT && mask == 0);
    b.s.max_payload = 2048;
    CHECK(mst_options_compare(&a, &b, &mask) == MST_CHANGE_HOT &&
          mask == 1u << MST_SUB_GATEWAY);
    b.s.port = 1;
    CHECK(mst_options_compare(&a, &b, &mask) == MST_CHANGE_SUBSYS);
    b.ring_entries = 128;
    CHECK(mst_options_compare(&a, &b, NULL) == MST_CHANGE_RESTART);

    /* A reload makes a new id; keep_identity restores the running one,
     * and the name when it was defaulted to the id. */
    char *argv[] = {"dialtone", NULL};
    struct mst_options c;
    memset(&c, 0xa5, sizeof(c));    /* need not be initialised */
    CHECK(mst_options_load(&c, 1, argv, NULL, 0) == 0);
    CHECK(strcmp(c.s.server_id, a.s.server_id) != 0);
    mst_options_keep_identity(&c, &a);
    CHECK(strcmp(c.s.server_id, a.s.server_id) == 0);
    CHECK(strcmp(c.s.server_name, a.s.server_id) == 0);
    load_ok(&c, "server_name: named\n", NULL, NULL, NULL);
    mst_options_keep_identity(&c, &a);
    CHECK(strcmp(c.s.server_id, a.s.server_id) == 0);
    CHECK(strcmp(c.s.server_name, "named") == 0);

    char buf[57];
    CHECK(mst_options_new_server_id(buf, sizeof(buf)) == 0 &&
          strlen(buf) == 56 && buf[0] == 'N');
    CHECK(mst_options_new_server_id(buf, 10) == -ENOSPC);
}

static void
test_usage(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL);
    mst_options_usage(f);
    fclose(f);
    CHECK_CONTAINS(text, "Usage: dialtone [options]");
    CHECK_CONTAINS(text, "-p, --port <port>");
    CHECK_CONTAINS(text, "-a, --addr, --net <host>");
    CHECK_CONTAINS(text, "-c, --config <file>");
    CHECK_CONTAINS(text, "--gateway_workers <n>");
    CHECK_CONTAINS(text, "-DV");
    CHECK_CONTAINS(text, "Not supported by Dialtone yet");
    CHECK_CONTAINS(text, "JetStream Options:");
    CHECK_CONTAINS(text, "-js, --jetstream");
    CHECK_CONTAINS(text, "-sd, --store_dir <dir>");
    free(text);
}

int
main(int argc, char **argv)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 99;
    }
    test_separators();
    test_blocks_and_arrays();
    test_comments();
    test_strings();
    test_numbers_and_sizes();
    test_booleans();
    test_duplicates_last_wins();
    test_variables();
    test_includes();
    test_parse_errors();
    test_parse_string_api();
    test_garbage_never_crashes();
    test_defaults();
    test_config_keys();
    test_durations();
    test_config_errors();
    test_refused_keys();
    test_flags();
    test_lame_duck();
    test_refused_flags();
    test_jetstream();
    test_precedence();
    test_table_and_compare();
    test_usage();
    cleanup();
    return dt_check_summary(argv[0]);
}
