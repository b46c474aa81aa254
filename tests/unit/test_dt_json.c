/*
 * test_dt_json.c -- unit tests for the JSON reader and writer (dt_json).
 *
 * Covers: NATS CONNECT and JetStream-shaped documents, string unescaping
 * (escapes, \u, surrogates, invalid UTF-8), integer/double edge cases,
 * syntax errors with their positions, limits (depth, block size, caller
 * memory), duplicate keys, the writer's commas, escaping, misuse and
 * buffer-full behaviour, pretty output, and reader/writer round trips
 * including a bounded mutation run that must never crash.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dt_json.h"
#include "dt_check.h"

static struct dt_json_doc *
parse_ok(const char *text)
{
    struct dt_json_doc *doc = NULL;
    struct dt_json_error err = { 0, NULL };
    int rc = dt_json_parse(text, strlen(text), 0, &doc, &err);

    if (rc != 0)
        fprintf(stderr, "parse failed rc=%d at %zu: %s\n", rc, err.pos,
                err.reason ? err.reason : "?");
    CHECK(rc == 0 && doc != NULL);
    return doc;
}

static int
str_is(const struct dt_json *v, const char *want, size_t want_len)
{
    const char *s;
    size_t n;

    return dt_json_str(v, &s, &n) == 0 && n == want_len &&
           memcmp(s, want, n) == 0 && s[n] == '\0';
}

static void
test_connect_body(void)
{
    struct dt_json_doc *doc = parse_ok(
        " {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,"
        "\"name\":\"my-app\",\"lang\":\"go\",\"version\":\"1.11.0\","
        "\"protocol\":1,\"echo\":true,\"headers\":true,"
        "\"no_responders\":true,\"user\":\"u\",\"pass\":\"p\"}\r\n");
    const struct dt_json *r = dt_json_root(doc);
    bool b = true;
    int64_t i = 0;

    CHECK(dt_json_type(r) == DT_JSON_OBJECT);
    CHECK(dt_json_count(r) == 12);
    CHECK(dt_json_bool(dt_json_get(r, "verbose"), &b) == 0 && !b);
    CHECK(dt_json_bool(dt_json_get(r, "echo"), &b) == 0 && b);
    CHECK(str_is(dt_json_get(r, "name"), "my-app", 6));
    CHECK(str_is(dt_json_get(r, "lang"), "go", 2));
    CHECK(dt_json_int64(dt_json_get(r, "protocol"), &i) == 0 && i == 1);
    CHECK(dt_json_get(r, "auth_token") == NULL);
    CHECK(dt_json_bool(dt_json_get(r, "auth_token"), &b) == -ENOENT);
    CHECK(dt_json_bool(dt_json_get(r, "name"), &b) == -EINVAL);
    CHECK(dt_json_get(dt_json_get(r, "missing"), "x") == NULL);
    dt_json_free(doc);
}

static void
test_nested_jetstream_request(void)
{
    struct dt_json_doc *doc = parse_ok(
        "{\"name\":\"ORDERS\",\"config\":{\"subjects\":[\"orders.>\",\"x.*\"],"
        "\"max_age\":86400000000000,\"duplicate_window\":120000000000,"
        "\"num_replicas\":1,\"discard\":\"old\",\"sealed\":false,"
        "\"placement\":null,\"sources\":[],\"meta\":{}}}");
    const struct dt_json *cfg = dt_json_get(dt_json_root(doc), "config");
    const struct dt_json *subj = dt_json_get(cfg, "subjects"), *c;
    const char *want[] = { "orders.>", "x.*" };
    int64_t ns = 0;
    size_t n = 0, klen = 0;

    CHECK(dt_json_is(cfg, DT_JSON_OBJECT));
    CHECK(dt_json_is(subj, DT_JSON_ARRAY) && dt_json_count(subj) == 2);
    for (c = dt_json_first(subj); c; c = dt_json_next(c), n++)
        CHECK(n < 2 && str_is(c, want[n], strlen(want[n])));
    CHECK(n == 2);
    CHECK(dt_json_int64(dt_json_get(cfg, "max_age"), &ns) == 0 &&
          ns == 86400000000000LL);
    CHECK(dt_json_int64(dt_json_get(cfg, "duplicate_window"), &ns) == 0 &&
          ns == 120000000000LL);
    CHECK(dt_json_is_null(dt_json_get(cfg, "placement")));
    CHECK(dt_json_count(dt_json_get(cfg, "sources")) == 0);
    CHECK(dt_json_first(dt_json_get(cfg, "sources")) == NULL);
    CHECK(dt_json_count(dt_json_get(cfg, "meta")) == 0);
    /* members come back in text order, with their keys */
    c = dt_json_first(cfg);
    CHECK(c && strcmp(dt_json_key(c, &klen), "subjects") == 0 && klen == 8);
    CHECK(dt_json_key(dt_json_first(subj), NULL) == NULL);
    CHECK(dt_json_first(dt_json_get(cfg, "discard")) == NULL);
    dt_json_free(doc);
}

static void
test_string_escapes(void)
{
    struct dt_json_doc *doc = parse_ok(
        "[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\","
        "\"\\ud83d\\ude00\", \"x\\u0000y\", \"\\ud800\", \"\\udc00z\","
        "\"\\ud83d\\u0041\", \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]");
    const struct dt_json *c = dt_json_first(dt_json_root(doc));

    CHECK(str_is(c, "a\"b\\c/d\b\f\n\r\t", 12));
    c = dt_json_next(c);
    CHECK(str_is(c, "\xc3\xa9\xe2\x82\xac", 5));
    c = dt_json_next(c);
    CHECK(str_is(c, "\xf0\x9f\x98\x80", 4));           /* U+1F600 */
    c = dt_json_next(c);
    CHECK(str_is(c, "x\0y", 3));                        /* embedded NUL */
    c = dt_json_next(c);
    CHECK(str_is(c, "\xef\xbf\xbd", 3));                /* lone high */
    c = dt_json_next(c);
    CHECK(str_is(c, "\xef\xbf\xbdz", 4));               /* lone low */
    c = dt_json_next(c);
    CHECK(str_is(c, "\xef\xbf\xbd" "A", 4));            /* high + non-low */
    c = dt_json_next(c);
    CHECK(str_is(c, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    dt_json_free(doc);
}

static void
test_invalid_utf8_replaced(void)
{
    /* stray continuation, overlong '/', surrogate D800, truncated seq */
    const char text[] = "[\"a\x80" "b\", \"\xc0\xaf\", \"\xed\xa0\x80\","
                        " \"\xe2\x82\"]";
    struct dt_json_doc *doc = parse_ok(text);
    const struct dt_json *c = dt_json_first(dt_json_root(doc));

    CHECK(str_is(c, "a\xef\xbf\xbd" "b", 5));
    c = dt_json_next(c);
    CHECK(str_is(c, "\xef\xbf\xbd\xef\xbf\xbd", 6));
    c = dt_json_next(c);
    CHECK(str_is(c, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9));
    c = dt_json_next(c);
    CHECK(str_is(c, "\xef\xbf\xbd\xef\xbf\xbd", 6));
    dt_json_free(doc);
}

static void
test_integers(void)
{
    struct dt_json_doc *doc = parse_ok(
        "[9223372036854775807, -9223372036854775808, 9223372036854775808,"
        " -9223372036854775809, 18446744073709551615, 18446744073709551616,"
        " 1.0, 1e3, -0, 0, -1, 123456789012345678901234567890]");
    const struct dt_json *c = dt_json_first(dt_json_root(doc));
    int64_t i = 0;
    uint64_t u = 0;
    double d = 0;

    CHECK(dt_json_int64(c, &i) == 0 && i == INT64_MAX);
    c = dt_json_next(c);
    CHECK(dt_json_int64(c, &i) == 0 && i == INT64_MIN);
    CHECK(dt_json_uint64(c, &u) == -ERANGE);
    c = dt_json_next(c);
    CHECK(dt_json_int64(c, &i) == -ERANGE);
    CHECK(dt_json_uint64(c, &u) == 0 && u == 9223372036854775808ULL);
    c = dt_json_next(c);
    CHECK(dt_json_int64(c, &i) == -ERANGE);
    c = dt_json_next(c);
    CHECK(dt_json_uint64(c, &u) == 0 && u == UINT64_MAX);
    CHECK(dt_json_int64(c, &i) == -ERANGE);
    c = dt_json_next(c);
    CHECK(dt_json_uint64(c, &u) == -ERANGE);
    CHECK(dt_json_double(c, &d) == 0 && d == 18446744073709551616.0);
    c = dt_json_next(c);
    CHECK(dt_json_int64(c, &i) == -EDOM);               /* 1.0 */
    CHECK(dt_json_double(c, &d) == 0 && d == 1.0);
    c = dt_json_next(c);
    CHECK(dt_json_int64(c, &i) == -EDOM);               /* 1e3 */
    CHECK(dt_json_double(c, &d) == 0 && d == 1000.0);
    c = dt_json_next(c);
    CHECK(dt_json_int64(c, &i) == 0 && i == 0);         /* -0 */
    CHECK(dt_json_uint64(c, &u) == 0 && u == 0);
    CHECK(dt_json_double(c, &d) == 0 && d == 0 && signbit(d));
    c = dt_json_next(c);
    CHECK(dt_json_int64(c, &i) == 0 && i == 0);
    c = dt_json_next(c);
    CHECK(dt_json_int64(c, &i) == 0 && i == -1);
    CHECK(dt_json_double(c, &d) == 0 && d == -1.0);
    c = dt_json_next(c);
    CHECK(dt_json_int64(c, &i) == -ERANGE);
    CHECK(dt_json_double(c, &d) == 0 && fabs(d - 1.2345678901234568e29) < 1e14);
    CHECK(dt_json_next(c) == NULL);
    dt_json_free(doc);
}

static void
test_doubles_and_types(void)
{
    struct dt_json_doc *doc = parse_ok(
        "{\"a\":1.5,\"b\":-2.5e-3,\"c\":1E+2,\"d\":1e400,\"e\":\"7\","
        "\"f\":true,\"g\":null,\"h\":0.1}");
    const struct dt_json *r = dt_json_root(doc);
    double d = 0;
    int64_t i = 0;
    bool b = false;

    CHECK(dt_json_double(dt_json_get(r, "a"), &d) == 0 && d == 1.5);
    CHECK(dt_json_double(dt_json_get(r, "b"), &d) == 0 && d == -2.5e-3);
    CHECK(dt_json_double(dt_json_get(r, "c"), &d) == 0 && d == 100.0);
    CHECK(dt_json_double(dt_json_get(r, "d"), &d) == -ERANGE);
    CHECK(dt_json_double(dt_json_get(r, "h"), &d) == 0 && d == 0.1);
    CHECK(dt_json_int64(dt_json_get(r, "e"), &i) == -EINVAL);
    CHECK(dt_json_double(dt_json_get(r, "f"), &d) == -EINVAL);
    CHECK(dt_json_bool(dt_json_get(r, "f"), &b) == 0 && b);
    CHECK(dt_json_type(dt_json_get(r, "g")) == DT_JSON_NULL);
    CHECK(dt_json_type(NULL) == 0);
    CHECK(dt_json_int64(NULL, &i) == -ENOENT);
    dt_json_free(doc);
}

static void
test_top_level_scalars(void)
{
    struct dt_json_doc *doc = parse_ok("  42 ");
    int64_t i = 0;

    CHECK(dt_json_int64(dt_json_root(doc), &i) == 0 && i == 42);
    dt_json_free(doc);
    doc = parse_ok("\"hi\"");
    CHECK(str_is(dt_json_root(doc), "hi", 2));
    dt_json_free(doc);
    doc = parse_ok("null");
    CHECK(dt_json_is_null(dt_json_root(doc)));
    dt_json_free(doc);
}

struct bad_case {
    const char *text;
    size_t pos;
};

static void
test_syntax_errors_report_position(void)
{
    static const struct bad_case cases[] = {
        { "", 0 },
        { "   ", 3 },
        { "{", 1 },
        { "[1,]", 3 },
        { "[1 2]", 3 },
        { "{\"a\" 1}", 5 },
        { "{\"a\":1,}", 7 },
        { "{,}", 1 },
        { "{1:2}", 1 },
        { "01", 1 },
        { "1.", 2 },
        { "1.e5", 2 },
        { "-", 1 },
        { "+1", 0 },
        { ".5", 0 },
        { "1e", 2 },
        { "tru", 0 },
        { "nul", 0 },
        { "NaN", 0 },
        { "\"abc", 4 },
        { "\"a\x01\"", 2 },
        { "\"\\x\"", 2 },
        { "\"\\u12G4\"", 3 },
        { "\"\\u12", 3 },
        { "[1] x", 4 },
        { "{\"a\":1}}", 7 },
        { "[\"a\"", 4 },
        { "\xef\xbb\xbf{}", 0 },     /* BOM: refused, as by Go */
    };

    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct dt_json_doc *doc = (struct dt_json_doc *)&doc;
        struct dt_json_error err = { 999, NULL };
        int rc = dt_json_parse(cases[k].text, strlen(cases[k].text), 0,
                               &doc, &err);
        if (rc != -EINVAL || err.pos != cases[k].pos)
            fprintf(stderr, "case %zu '%s': rc=%d pos=%zu (%s)\n", k,
                    cases[k].text, rc, err.pos, err.reason ? err.reason : "");
        CHECK(rc == -EINVAL);
        CHECK(err.pos == cases[k].pos);
        CHECK(err.reason != NULL && err.reason[0] != '\0');
        CHECK(doc == NULL);
    }
    /* embedded NUL in the text is just a bad character */
    struct dt_json_doc *doc = NULL;
    CHECK(dt_json_parse("[1,\0 2]", 7, 0, &doc, NULL) == -EINVAL);
    CHECK(dt_json_parse(NULL, 0, 0, &doc, NULL) == -EINVAL);
}

static char *
nested(unsigned depth)
{
    char *s = malloc(2 * depth + 1);

    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    return s;
}

static void
test_depth_limit(void)
{
    char *ok = nested(DT_JSON_MAX_DEPTH), *deep = nested(DT_JSON_MAX_DEPTH + 1);
    struct dt_json_doc *doc = NULL;
    struct dt_json_error err;
    const struct dt_json *v;
    unsigned d = 0;

    CHECK(dt_json_parse(ok, strlen(ok), 0, &doc, &err) == 0);
    for (v = dt_json_root(doc); v; v = dt_json_first(v))
        d++;
    CHECK(d == DT_JSON_MAX_DEPTH);
    dt_json_free(doc);
    CHECK(dt_json_parse(deep, strlen(deep), 0, &doc, &err) == -E2BIG);
    CHECK(err.pos == DT_JSON_MAX_DEPTH);
    free(ok);
    free(deep);
}

static void
test_block_limit_and_caller_memory(void)
{
    const char *text = "{\"k\":[1,2,3],\"s\":\"hello world\"}";
    struct dt_json_doc *doc = NULL;
    struct dt_json_error err;
    const struct dt_json *root = NULL;
    _Alignas(16) char mem[1024];
    int64_t i = 0;

    /* 6 nodes + 2 keys + 1 string, all NUL-terminated */
    CHECK(dt_json_parse(text, strlen(text), 100, &doc, &err) == -E2BIG);
    CHECK(doc == NULL);
    CHECK(dt_json_parse_in(text, strlen(text), mem, 100, &root, &err) ==
          -ENOBUFS);
    CHECK(root == NULL);
    /* an odd address still works: nodes are aligned inside */
    CHECK(dt_json_parse_in(text, strlen(text), mem + 1, sizeof(mem) - 1,
                           &root, &err) == 0);
    CHECK(((uintptr_t)root % _Alignof(struct dt_json)) == 0);
    CHECK(dt_json_int64(dt_json_first(dt_json_get(root, "k")), &i) == 0 &&
          i == 1);
    CHECK(str_is(dt_json_get(root, "s"), "hello world", 11));
    /* exactly the dry-run size is enough, one byte less is not */
    size_t need = 6 * sizeof(struct dt_json) + 2 + 2 + 12;
    CHECK(dt_json_parse_in(text, strlen(text), mem, need, &root, &err) == 0);
    CHECK(dt_json_parse_in(text, strlen(text), mem, need - 1, &root, &err) ==
          -ENOBUFS);
    CHECK(dt_json_parse_in(text, strlen(text), NULL, 0, &root, &err) ==
          -ENOBUFS);
}

static void
test_node_count_limit(void)
{
    /* "[0,0,...]" with more values than DT_JSON_MAX_NODES */
    size_t n = DT_JSON_MAX_NODES + 1, len = 2 * n + 1;
    char *s = malloc(len + 1);
    struct dt_json_doc *doc = NULL;
    struct dt_json_error err;

    s[0] = '[';
    for (size_t k = 0; k < n; k++) {
        s[1 + 2 * k] = '0';
        s[2 + 2 * k] = ',';
    }
    s[len - 1] = ']';
    s[len] = '\0';
    CHECK(dt_json_parse(s, len, (size_t)1 << 30, &doc, &err) == -E2BIG);
    CHECK(doc == NULL);
    free(s);
}

static void
test_duplicate_keys_and_fold(void)
{
    struct dt_json_doc *doc = parse_ok(
        "{\"a\":1,\"a\":2,\"Verbose\":true,\"verbose\":false,\"k\\u0000\":3}");
    const struct dt_json *r = dt_json_root(doc);
    int64_t i = 0;
    bool b = true;

    CHECK(dt_json_int64(dt_json_get(r, "a"), &i) == 0 && i == 2);
    CHECK(dt_json_get(r, "VERBOSE") == NULL);
    CHECK(dt_json_bool(dt_json_get_fold(r, "VERBOSE"), &b) == 0 && !b);
    CHECK(dt_json_get(r, "k") == NULL);
    CHECK(dt_json_int64(dt_json_getn(r, "k\0", 2), &i) == 0 && i == 3);
    CHECK(dt_json_get(dt_json_get(r, "a"), "a") == NULL);
    dt_json_free(doc);
}

/* ------------------------------------------------------------------ */
/* Writer. */

static int
buf_is(const struct dt_buf *b, const char *want)
{
    size_t n = strlen(want);

    if (b->len != n || memcmp(b->data, want, n) != 0) {
        fprintf(stderr, "got  '%.*s'\nwant '%s'\n", (int)b->len,
                b->data ? b->data : "", want);
        return 0;
    }
    return 1;
}

static void
test_writer_commas(void)
{
    struct dt_buf b = { 0 };
    struct dt_jw w;

    dt_jw_init(&w, &b, false);
    dt_jw_begin_object(&w);
    dt_jw_kstr(&w, "s", "x");
    dt_jw_kint(&w, "i", -5);
    dt_jw_kuint(&w, "u", UINT64_MAX);
    dt_jw_kdouble(&w, "d", 0.5);
    dt_jw_kbool(&w, "b", false);
    dt_jw_key(&w, "n");
    dt_jw_null(&w);
    dt_jw_key(&w, "a");
    dt_jw_begin_array(&w);
    dt_jw_int64(&w, INT64_MIN);
    dt_jw_begin_object(&w);
    dt_jw_end_object(&w);
    dt_jw_begin_array(&w);
    dt_jw_end_array(&w);
    dt_jw_str(&w, NULL);
    dt_jw_bool(&w, true);
    dt_jw_end_array(&w);
    dt_jw_key(&w, "o");
    dt_jw_begin_object(&w);
    dt_jw_kint(&w, "z", 0);
    dt_jw_end_object(&w);
    dt_jw_end_object(&w);
    CHECK(dt_jw_finish(&w) == 0);
    CHECK(buf_is(&b, "{\"s\":\"x\",\"i\":-5,\"u\":18446744073709551615,"
                     "\"d\":0.5,\"b\":false,\"n\":null,"
                     "\"a\":[-9223372036854775808,{},[],null,true],"
                     "\"o\":{\"z\":0}}"));
    dt_buf_free(&b);
}

static void
test_writer_escaping(void)
{
    struct dt_buf b = { 0 };
    struct dt_jw w;
    const char in[] = "q\"b\\s/\x01\x1f\n\t\r\b\f\x7f"
                      "\xc3\xa9\xf0\x9f\x98\x80\xff\xe2\x80\xa8";

    dt_jw_init(&w, &b, false);
    dt_jw_strn(&w, in, sizeof(in) - 1);
    CHECK(dt_jw_finish(&w) == 0);
    CHECK(buf_is(&b, "\"q\\\"b\\\\s/\\u0001\\u001f\\n\\t\\r\\b\\f\x7f"
                     "\xc3\xa9\xf0\x9f\x98\x80\\ufffd\\u2028\""));
    b.len = 0;
    CHECK(dt_json_quote(&b, "k\0v", 3) == 0);
    CHECK(buf_is(&b, "\"k\\u0000v\""));
    dt_buf_free(&b);
}

static void
test_writer_numbers(void)
{
    static const struct { double v; const char *s; } cases[] = {
        { 2.0, "2" }, { 0.5, "0.5" }, { -0.25, "-0.25" },
        { 0.7142857142857143, "0.7142857142857143" }, { 0.1, "0.1" },
        { 1e20, "100000000000000000000" }, { 1e-7, "1e-07" },
        { NAN, "null" }, { INFINITY, "null" },
        { 1.0 / 3, "0.3333333333333333" },
    };
    struct dt_buf b = { 0 };
    struct dt_jw w;

    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        b.len = 0;
        dt_jw_init(&w, &b, false);
        dt_jw_double(&w, cases[k].v);
        CHECK(dt_jw_finish(&w) == 0);
        CHECK(buf_is(&b, cases[k].s));
    }
    dt_buf_free(&b);
}

static void
test_writer_misuse_is_sticky(void)
{
    struct dt_buf b = { 0 };
    struct dt_jw w;

    dt_jw_init(&w, &b, false);                  /* value without key */
    dt_jw_begin_object(&w);
    CHECK(dt_jw_int64(&w, 1) == -EINVAL);
    CHECK(dt_jw_kint(&w, "a", 1) == -EINVAL);   /* sticky */
    CHECK(dt_jw_finish(&w) == -EINVAL);

    dt_jw_init(&w, &b, false);                  /* key in an array */
    dt_jw_begin_array(&w);
    CHECK(dt_jw_key(&w, "a") == -EINVAL);

    dt_jw_init(&w, &b, false);                  /* mismatched end */
    dt_jw_begin_array(&w);
    CHECK(dt_jw_end_object(&w) == -EINVAL);

    dt_jw_init(&w, &b, false);                  /* dangling key */
    dt_jw_begin_object(&w);
    dt_jw_key(&w, "a");
    CHECK(dt_jw_end_object(&w) == -EINVAL);

    dt_jw_init(&w, &b, false);                  /* two keys in a row */
    dt_jw_begin_object(&w);
    dt_jw_key(&w, "a");
    CHECK(dt_jw_key(&w, "b") == -EINVAL);

    dt_jw_init(&w, &b, false);                  /* unclosed */
    dt_jw_begin_array(&w);
    CHECK(dt_jw_finish(&w) == -EINVAL);

    dt_jw_init(&w, &b, false);                  /* nothing written */
    CHECK(dt_jw_finish(&w) == -EINVAL);

    dt_jw_init(&w, &b, false);                  /* two top-level values */
    dt_jw_int64(&w, 1);
    CHECK(dt_jw_int64(&w, 2) == -EINVAL);

    dt_jw_init(&w, &b, false);                  /* end with nothing open */
    CHECK(dt_jw_end_array(&w) == -EINVAL);

    dt_jw_init(&w, &b, false);                  /* too deep */
    for (int k = 0; k < DT_JSON_MAX_DEPTH; k++)
        CHECK(dt_jw_begin_array(&w) == 0);
    CHECK(dt_jw_begin_array(&w) == -E2BIG);
    dt_buf_free(&b);
}

static void
test_writer_buffer_full(void)
{
    struct dt_buf b = { .cap = 16 };
    struct dt_jw w;

    dt_jw_init(&w, &b, false);
    dt_jw_begin_object(&w);
    dt_jw_kstr(&w, "key", "value");     /* {"key":"value" = 14 bytes */
    CHECK(w.err == 0);
    CHECK(dt_jw_kstr(&w, "k2", "v2") == -ENOBUFS);
    CHECK(dt_jw_end_object(&w) == -ENOBUFS);
    CHECK(dt_jw_finish(&w) == -ENOBUFS);
    CHECK(b.len <= 16);
    b.len = 0;
    CHECK(dt_json_quote(&b, "0123456789abcdefg", 17) == -ENOBUFS);
    CHECK(b.len == 0);                  /* quote rolls back */
    dt_buf_free(&b);
}

static void
test_writer_pretty(void)
{
    struct dt_buf b = { 0 };
    struct dt_jw w;

    dt_jw_init(&w, &b, true);
    dt_jw_begin_object(&w);
    dt_jw_kint(&w, "a", 1);
    dt_jw_key(&w, "e");
    dt_jw_begin_array(&w);
    dt_jw_end_array(&w);
    dt_jw_key(&w, "l");
    dt_jw_begin_array(&w);
    dt_jw_str(&w, "x");
    dt_jw_begin_object(&w);
    dt_jw_kbool(&w, "t", true);
    dt_jw_end_object(&w);
    dt_jw_end_array(&w);
    dt_jw_end_object(&w);
    CHECK(dt_jw_finish(&w) == 0);
    CHECK(buf_is(&b, "{\n  \"a\": 1,\n  \"e\": [],\n  \"l\": [\n    \"x\",\n"
                     "    {\n      \"t\": true\n    }\n  ]\n}"));
    dt_buf_free(&b);
}

static void
test_round_trip(void)
{
    struct dt_buf b = { 0 };
    struct dt_jw w;
    char raw[256];
    struct dt_json_doc *doc = NULL;
    const struct dt_json *r;
    const char *s;
    size_t n;
    int64_t i = 0;
    double d = 0;

    for (int k = 0; k < 256; k++)
        raw[k] = (char)(k < 128 ? k : 'a' + k % 26);   /* valid UTF-8 */
    dt_jw_init(&w, &b, true);
    dt_jw_begin_object(&w);
    dt_jw_key(&w, "raw");
    dt_jw_strn(&w, raw, sizeof(raw));
    dt_jw_kint(&w, "min", INT64_MIN);
    dt_jw_kdouble(&w, "third", 1.0 / 3);
    dt_jw_end_object(&w);
    CHECK(dt_jw_finish(&w) == 0);
    CHECK(dt_json_parse(b.data, b.len, 0, &doc, NULL) == 0);
    r = dt_json_root(doc);
    CHECK(dt_json_str(dt_json_get(r, "raw"), &s, &n) == 0 &&
          n == sizeof(raw) && memcmp(s, raw, n) == 0);
    CHECK(dt_json_int64(dt_json_get(r, "min"), &i) == 0 && i == INT64_MIN);
    CHECK(dt_json_double(dt_json_get(r, "third"), &d) == 0 && d == 1.0 / 3);
    dt_json_free(doc);
    dt_buf_free(&b);
}

/* Random byte mutations and truncations of a valid document: the parser
 * must return 0 or a documented error and never fault (run under ASan). */
static void
test_mutations_never_crash(void)
{
    const char *base = "{\"a\":[1,-2.5e3,\"x\\u00e9\\ud83d\\ude00\",true,null],"
                       "\"b\":{\"c\":\"d\\n\",\"e\":[]},\"f\":false}";
    static const char alphabet[] = "{}[]\":,\\u0123456789eE+-.tfnrl \x80\xff";
    size_t len = strlen(base), bad = 0;
    char buf[256];
    unsigned seed = 12345;
    _Alignas(8) char mem[4096];

    for (int it = 0; it < 20000; it++) {
        struct dt_json_doc *doc = NULL;
        const struct dt_json *root;
        size_t n = len;
        memcpy(buf, base, len);
        for (int m = 0; m < 1 + it % 4; m++) {
            seed = seed * 1103515245u + 12345u;
            buf[(seed >> 8) % len] =
                alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
        }
        if (it % 3 == 0)
            n = (seed >> 4) % (len + 1);
        int rc = dt_json_parse(buf, n, 0, &doc, NULL);
        int rc2 = dt_json_parse_in(buf, n, mem, sizeof(mem), &root, NULL);
        if (!(rc == 0 || rc == -EINVAL || rc == -E2BIG) || rc != rc2)
            bad++;
        dt_json_free(doc);
    }
    CHECK(bad == 0);
}

/* Go-style decoding used by the JetStream configs: null keeps the field,
 * a wrong type is an error, enums match exactly or case-folded. */
static void
test_go_style_accessors(void)
{
    struct dt_json_doc *doc = parse_ok(
        "{\"n\":null,\"i\":42,\"s\":\"x\",\"b\":true,"
        "\"e\":\"WorkQueue\"}");
    const struct dt_json *root = dt_json_root(doc);
    int64_t v = 7;
    bool b = false;
    CHECK(dt_json_go_int64(dt_json_get(root, "n"), &v) == 0 && v == 7);
    CHECK(dt_json_go_int64(dt_json_get(root, "i"), &v) == 0 && v == 42);
    CHECK(dt_json_go_int64(dt_json_get(root, "s"), &v) == -EINVAL);
    CHECK(dt_json_go_bool(dt_json_get(root, "n"), &b) == 0 && !b);
    CHECK(dt_json_go_bool(dt_json_get(root, "b"), &b) == 0 && b);
    CHECK(dt_json_go_bool(dt_json_get(root, "i"), &b) == -EINVAL);
    static const char *const names[] = { "limits", NULL, "workqueue" };
    uint8_t e = 9;
    CHECK(dt_json_enum(dt_json_get(root, "e"), names, 3, false, &e) ==
          -EINVAL && e == 9);
    CHECK(dt_json_enum(dt_json_get(root, "e"), names, 3, true, &e) == 0 &&
          e == 2);
    CHECK(dt_json_enum(dt_json_get(root, "n"), names, 3, true, &e) ==
          -EINVAL);
    dt_json_free(doc);
}

int
main(int argc, char **argv)
{
    test_go_style_accessors();
    test_connect_body();
    test_nested_jetstream_request();
    test_string_escapes();
    test_invalid_utf8_replaced();
    test_integers();
    test_doubles_and_types();
    test_top_level_scalars();
    test_syntax_errors_report_position();
    test_depth_limit();
    test_block_limit_and_caller_memory();
    test_node_count_limit();
    test_duplicate_keys_and_fold();
    test_writer_commas();
    test_writer_escaping();
    test_writer_numbers();
    test_writer_misuse_is_sticky();
    test_writer_buffer_full();
    test_writer_pretty();
    test_round_trip();
    test_mutations_never_crash();
    return dt_check_summary(argv[0]);
}
