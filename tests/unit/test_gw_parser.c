/*
 * test_gw_parser.c -- unit tests of the NATS client-protocol parser
 * (gateway/gw_parser.c).
 *
 * NOTES
 *   The expected behaviour and error wording were observed on nats-server
 *   2.9.10 over a raw TCP socket.  Inputs are copied into heap buffers of
 *   their exact size, so an ASan build catches any read past len.  The
 *   fuzz test is bounded both in iterations and in time.
 */
#include "gw_parser.h"
#include "dt_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MCL  4096u
#define MPAY (1024 * 1024)

/* ---- helpers ---------------------------------------------------------- */

static int
sl_eq(struct gw_slice s, const char *want)
{
    size_t n = strlen(want);

    return s.len == n && (n == 0 || memcmp(s.p, want, n) == 0);
}

/* Parses the single op (or error) at the start of s, from an exact-size
 * heap copy.  The copy is freed, so only scalar results survive: callers
 * that look at slices use parse_keep(). */
static int
parse_keep(struct gw_parser *p, const char *s, size_t n, char **copy,
           size_t *used, struct gw_op *op)
{
    *copy = malloc(n ? n : 1);
    if (*copy == NULL)
        abort();
    memcpy(*copy, s, n);
    return gw_parser_next(p, *copy, n, used, op);
}

/* One-shot parse of a NUL-terminated string with default limits. */
static int
parse1(const char *s, size_t *used, struct gw_op *op, char **copy)
{
    struct gw_parser p;

    gw_parser_init(&p, MCL, MPAY);
    return parse_keep(&p, s, strlen(s), copy, used, op);
}

/* Result code only, with the given limits. */
static int
rc_of(const char *s, size_t n, uint32_t mcl, int64_t mpay)
{
    struct gw_parser p;
    struct gw_op op;
    size_t used;
    char *copy;
    int rc;

    gw_parser_init(&p, mcl, mpay);
    rc = parse_keep(&p, s, n, &copy, &used, &op);
    free(copy);
    return rc;
}

static int
rc_str(const char *s)
{
    return rc_of(s, strlen(s), MCL, MPAY);
}

/* ---- recording a stream of ops, for split-read comparisons ----------- */

struct rec_slice {
    long     off; /* offset in the whole stream, -1 if p == NULL */
    uint32_t len;
};

struct rec {
    int              kind;
    int64_t          max_msgs;
    size_t           start, used;
    struct rec_slice f[9];
};

#define MAX_RECS 256

struct run {
    struct rec ops[MAX_RECS];
    int        nops;
    int        final;    /* last result: GW_PARSE_MORE or an error */
    size_t     consumed; /* stream bytes dropped after ops */
    int        bad;      /* a contract/invariant breach was seen */
};

static struct rec_slice
rec_sl(struct gw_slice s, const char *buf, size_t len, size_t base,
       int *bad)
{
    struct rec_slice r = { -1, s.len };

    if (s.p == NULL) {
        if (s.len != 0)
            *bad = 1;
        return r;
    }
    if (s.p < buf || s.p > buf + len || s.len > (size_t)(buf + len - s.p))
        *bad = 1;
    r.off = (long)(base + (size_t)(s.p - buf));
    return r;
}

static void
record(struct run *r, const struct gw_op *op, const char *buf, size_t len,
       size_t used)
{
    struct rec *x;
    const struct gw_slice *f[9] = { &op->subject, &op->reply, &op->queue,
                                    &op->sid, &op->arg, &op->headers,
                                    &op->payload, &op->line, NULL };

    if (r->nops >= MAX_RECS) {
        r->bad = 1;
        return;
    }
    x = &r->ops[r->nops++];
    memset(x, 0, sizeof(*x));
    x->kind = op->kind;
    x->max_msgs = op->max_msgs;
    x->start = r->consumed;
    x->used = used;
    for (int i = 0; f[i] != NULL; i++)
        x->f[i] = rec_sl(*f[i], buf, len, r->consumed, &r->bad);
}

/* Feeds s[0..n) as a connection would see it: the bytes become
 * available at each cut (increasing), then all of them.  Every call gets
 * an exact-size heap copy of all unconsumed bytes. */
static void
run_cuts(const char *s, size_t n, const size_t *cuts, size_t ncuts,
         uint32_t mcl, int64_t mpay, struct run *r)
{
    struct gw_parser p;

    memset(r, 0, sizeof(*r));
    gw_parser_init(&p, mcl, mpay);
    for (size_t c = 0; c <= ncuts; c++) {
        size_t avail = c < ncuts ? cuts[c] : n;
        size_t len = avail - r->consumed;
        char *copy = malloc(len ? len : 1);
        const char *buf = copy;

        if (copy == NULL)
            abort();
        memcpy(copy, s + r->consumed, len);
        for (int guard = 0; guard < MAX_RECS + 1; guard++) {
            struct gw_op op;
            size_t used = 12345;
            int rc = gw_parser_next(&p, buf, len, &used, &op);

            r->final = rc;
            if (rc == GW_PARSE_OP) {
                if (used == 0 || used > len)
                    r->bad = 1;
                record(r, &op, buf, len, used);
                if (r->bad)
                    break;
                buf += used;
                len -= used;
                r->consumed += used;
                continue;
            }
            if (used != 0 || (rc < 0 && rc < GW_PARSE_E_MIN) || rc > 1)
                r->bad = 1;
            break;
        }
        free(copy);
        if (r->final < 0 || r->bad)
            return;
    }
}

static void
run_once(const char *s, size_t n, uint32_t mcl, int64_t mpay, struct run *r)
{
    run_cuts(s, n, NULL, 0, mcl, mpay, r);
}

static int
rec_equal(const struct rec *x, const struct rec *y)
{
    if (x->kind != y->kind || x->max_msgs != y->max_msgs
        || x->start != y->start || x->used != y->used)
        return 0;
    for (int i = 0; i < 9; i++)
        if (x->f[i].off != y->f[i].off || x->f[i].len != y->f[i].len)
            return 0;
    return 1;
}

static int
runs_equal(const struct run *a, const struct run *b)
{
    if (a->bad || b->bad || a->nops != b->nops || a->final != b->final)
        return 0;
    for (int i = 0; i < a->nops; i++)
        if (!rec_equal(&a->ops[i], &b->ops[i]))
            return 0;
    return 1;
}

/* ---- each op ----------------------------------------------------------- */

static void
test_ping_pong_ok(void)
{
    static const struct { const char *in; int kind; } cases[] = {
        { "PING\r\n", GW_OP_PING },   { "ping\r\n", GW_OP_PING },
        { "PiNg\n", GW_OP_PING },     { "PINGX\r\n", GW_OP_PING },
        { "PING x y\r\n", GW_OP_PING }, { "PING \t\r\n", GW_OP_PING },
        { "PONG\r\n", GW_OP_PONG },   { "pOnG\n", GW_OP_PONG },
        { "PONG junk\r\n", GW_OP_PONG }, { "+OK\r\n", GW_OP_OK },
        { "+ok\n", GW_OP_OK },        { "+OKX\r\n", GW_OP_OK },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gw_op op;
        size_t used;
        char *copy;

        CHECK(parse1(cases[i].in, &used, &op, &copy) == GW_PARSE_OP);
        CHECK(op.kind == (enum gw_op_kind)cases[i].kind);
        CHECK(used == strlen(cases[i].in));
        free(copy);
    }
}

static void
test_connect_info(void)
{
    static const struct { const char *in; int kind; const char *arg; }
    cases[] = {
        { "CONNECT {\"verbose\":false}\r\n", GW_OP_CONNECT,
          "{\"verbose\":false}" },
        { "connect\t{}  \r\n", GW_OP_CONNECT, "{}  " },
        { "CoNnEcT   { \"a\" : 1 }\n", GW_OP_CONNECT, "{ \"a\" : 1 }" },
        /* nats-server hands these to its JSON decoder, which fails */
        { "CONNECT\r\n", GW_OP_CONNECT, "\r" },
        { "CONNECT\nPING\r\n", GW_OP_CONNECT, "\nPING" },
        { "CONNECTX {}\r\n", GW_OP_CONNECT, "X {}" },
        { "INFO {\"server_id\":\"x\"}\r\n", GW_OP_INFO,
          "{\"server_id\":\"x\"}" },
        { "info\t{}\n", GW_OP_INFO, "{}" },
        { "INFO\r\n", GW_OP_INFO, "\r" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gw_op op;
        size_t used;
        char *copy;

        CHECK(parse1(cases[i].in, &used, &op, &copy) == GW_PARSE_OP);
        CHECK(op.kind == (enum gw_op_kind)cases[i].kind);
        CHECK(sl_eq(op.arg, cases[i].arg));
        CHECK(used == strlen(cases[i].in));
        free(copy);
    }
}

static void
test_minus_err(void)
{
    struct gw_op op;
    size_t used;
    char *copy;

    CHECK(parse1("-ERR 'Authorization Violation'\r\n", &used, &op, &copy)
          == GW_PARSE_OP);
    CHECK(op.kind == GW_OP_ERR);
    CHECK(sl_eq(op.arg, "'Authorization Violation'"));
    free(copy);
    CHECK(parse1("-err\tfoo \n", &used, &op, &copy) == GW_PARSE_OP);
    CHECK(op.kind == GW_OP_ERR && sl_eq(op.arg, "foo "));
    free(copy);
    /* the name must be followed by a blank */
    CHECK(rc_str("-ERR\r\n") == GW_PARSE_E_UNKNOWN_OP);
    CHECK(rc_str("-ERRX\r\n") == GW_PARSE_E_UNKNOWN_OP);
}

static void
test_pub(void)
{
    static const struct {
        const char *in, *subj, *reply, *payload;
    } cases[] = {
        { "PUB foo 5\r\nhello\r\n", "foo", "", "hello" },
        { "pub foo bar 5\r\nhello\r\n", "foo", "bar", "hello" },
        { "PUB\tfoo\t3\r\nabc\r\n", "foo", "", "abc" },
        { "Pub  foo \t 3  \r\nabc\r\n", "foo", "", "abc" },
        { "PUB foo 3\nabc\r\n", "foo", "", "abc" },          /* lone LF */
        { "PUB foo 0\r\n\r\n", "foo", "", "" },
        { "PUB foo 000000003\r\nabc\r\n", "foo", "", "abc" }, /* 9 digits */
        /* PUB splits on blanks only: a stray CR is part of a token */
        { "PUB foo\rbar 3\r\nabc\r\n", "foo\rbar", "", "abc" },
        { "PUB foo \r 3\r\nabc\r\n", "foo", "\r", "abc" },
        /* the first argument byte is taken even if it is an LF */
        { "PUB \nfoo 3\r\nabc\r\n", "\nfoo", "", "abc" },
        { "PUB a.b.> _INBOX.x 4\r\n\r\n\r\n\r\n", "a.b.>", "_INBOX.x",
          "\r\n\r\n" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gw_op op;
        size_t used;
        char *copy;

        CHECK(parse1(cases[i].in, &used, &op, &copy) == GW_PARSE_OP);
        CHECK(op.kind == GW_OP_PUB);
        CHECK(sl_eq(op.subject, cases[i].subj));
        CHECK(sl_eq(op.reply, cases[i].reply));
        CHECK(sl_eq(op.payload, cases[i].payload));
        CHECK(op.headers.len == 0);
        CHECK(used == strlen(cases[i].in));
        free(copy);
    }
}

static void
test_pub_slices_point_into_buffer(void)
{
    const char *in = "PUB foo r 2\r\nhi\r\nPING\r\n";
    struct gw_op op;
    size_t used;
    char *copy;

    CHECK(parse1(in, &used, &op, &copy) == GW_PARSE_OP);
    CHECK(op.subject.p == copy + 4);
    CHECK(op.reply.p == copy + 8);
    CHECK(op.payload.p == copy + 13);
    CHECK(sl_eq(op.line, "PUB foo r 2"));
    CHECK(used == 17);
    free(copy);
}

static void
test_hpub(void)
{
    static const struct {
        const char *in, *subj, *reply, *hdr, *payload;
    } cases[] = {
        { "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nab\r\n", "foo", "",
          "NATS/1.0\r\n\r\n", "ab" },
        { "hpub foo bar 12 12\r\nNATS/1.0\r\n\r\n\r\n", "foo", "bar",
          "NATS/1.0\r\n\r\n", "" },
        { "HpUb\tfoo\t\t12 \t14\nNATS/1.0\r\n\r\nab\r\n", "foo", "",
          "NATS/1.0\r\n\r\n", "ab" },
        /* nats-server does not look inside the header block */
        { "HPUB foo 0 3\r\nabc\r\n", "foo", "", "", "abc" },
        { "HPUB foo 2 2\r\nab\r\n", "foo", "", "ab", "" },
        { "HPUB foo 0 0\r\n\r\n", "foo", "", "", "" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gw_op op;
        size_t used;
        char *copy;

        CHECK(parse1(cases[i].in, &used, &op, &copy) == GW_PARSE_OP);
        CHECK(op.kind == GW_OP_HPUB);
        CHECK(sl_eq(op.subject, cases[i].subj));
        CHECK(sl_eq(op.reply, cases[i].reply));
        CHECK(sl_eq(op.headers, cases[i].hdr));
        CHECK(sl_eq(op.payload, cases[i].payload));
        CHECK(used == strlen(cases[i].in));
        free(copy);
    }
}

static void
test_sub(void)
{
    static const struct { const char *in, *subj, *queue, *sid; } cases[] = {
        { "SUB foo 1\r\n", "foo", "", "1" },
        { "sub foo.* workers 22\r\n", "foo.*", "workers", "22" },
        { "SuB\tfoo\t 1 \r\n", "foo", "", "1" },
        { "SUB foo q sid-x\n", "foo", "q", "sid-x" },
        /* SUB splits on CR too */
        { "SUB foo\rq 1\r\n", "foo", "q", "1" },
        { "SUB foo\r1\r\n", "foo", "", "1" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gw_op op;
        size_t used;
        char *copy;

        CHECK(parse1(cases[i].in, &used, &op, &copy) == GW_PARSE_OP);
        CHECK(op.kind == GW_OP_SUB);
        CHECK(sl_eq(op.subject, cases[i].subj));
        CHECK(sl_eq(op.queue, cases[i].queue));
        CHECK(sl_eq(op.sid, cases[i].sid));
        CHECK(used == strlen(cases[i].in));
        free(copy);
    }
}

static void
test_unsub(void)
{
    static const struct { const char *in, *sid; int64_t max; } cases[] = {
        { "UNSUB 1\r\n", "1", -1 },
        { "unsub 1 5\r\n", "1", 5 },
        { "UnSuB\t7 \t 0\n", "7", 0 },
        { "UNSUB 1 000000010\r\n", "1", 10 },
        { "UNSUB 1\r1\r\n", "1", 1 },
        /* nats-server ignores a max it cannot parse */
        { "UNSUB 1 x\r\n", "1", -1 },
        { "UNSUB 1 -5\r\n", "1", -1 },
        { "UNSUB 1 0000000001\r\n", "1", -1 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gw_op op;
        size_t used;
        char *copy;

        CHECK(parse1(cases[i].in, &used, &op, &copy) == GW_PARSE_OP);
        CHECK(op.kind == GW_OP_UNSUB);
        CHECK(sl_eq(op.sid, cases[i].sid));
        CHECK(op.max_msgs == cases[i].max);
        CHECK(used == strlen(cases[i].in));
        free(copy);
    }
}

/* ---- errors ------------------------------------------------------------ */

static void
test_errors(void)
{
    static const struct { const char *in; int err; } cases[] = {
        { "FOO\r\n", GW_PARSE_E_UNKNOWN_OP },
        { "\r\n", GW_PARSE_E_UNKNOWN_OP },
        { " PING\r\n", GW_PARSE_E_UNKNOWN_OP },
        { "PIN\r\n", GW_PARSE_E_UNKNOWN_OP },
        { "PONX\r\n", GW_PARSE_E_UNKNOWN_OP },
        { "MSG foo 1 3\r\nabc\r\n", GW_PARSE_E_UNKNOWN_OP },
        { "PUB\r\n", GW_PARSE_E_UNKNOWN_OP },
        { "PUBX foo 1\r\n", GW_PARSE_E_UNKNOWN_OP },
        { "SUB\r\n", GW_PARSE_E_UNKNOWN_OP },
        { "SUBX foo 1\r\n", GW_PARSE_E_UNKNOWN_OP },
        { "UNSUB\r\n", GW_PARSE_E_UNKNOWN_OP },
        { "HPUB\r\n", GW_PARSE_E_UNKNOWN_OP },
        { "PUB foo\r\n", GW_PARSE_E_PUB_ARGS },
        { "PUB \r\n", GW_PARSE_E_PUB_ARGS },
        { "PUB a b c d\r\n", GW_PARSE_E_PUB_ARGS },
        { "PUB foo bar baz 2000000\r\n", GW_PARSE_E_PUB_ARGS },
        { "PUB foo abc\r\n", GW_PARSE_E_PUB_SIZE },
        { "PUB foo -1\r\n", GW_PARSE_E_PUB_SIZE },
        { "PUB foo -0\r\n", GW_PARSE_E_PUB_SIZE },
        { "PUB foo +3\r\n", GW_PARSE_E_PUB_SIZE },
        { "PUB foo 12a\r\n", GW_PARSE_E_PUB_SIZE },
        { "PUB foo 1000000000\r\n", GW_PARSE_E_PUB_SIZE },
        { "PUB foo 0000000003\r\n", GW_PARSE_E_PUB_SIZE },
        { "PUB foo 99999999999999999999999\r\n", GW_PARSE_E_PUB_SIZE },
        { "PUB foo 1048577\r\n", GW_PARSE_E_MAX_PAYLOAD },
        { "PUB foo bar 999999999\r\n", GW_PARSE_E_MAX_PAYLOAD },
        { "HPUB foo 12\r\n", GW_PARSE_E_HPUB_ARGS },
        { "HPUB foo\r\n", GW_PARSE_E_HPUB_ARGS },
        { "HPUB foo a b 12 12\r\n", GW_PARSE_E_HPUB_ARGS },
        { "HPUB foo x 12\r\n", GW_PARSE_E_HPUB_HDR_SIZE },
        { "HPUB foo -1 12\r\n", GW_PARSE_E_HPUB_HDR_SIZE },
        { "HPUB foo 12 x\r\n", GW_PARSE_E_HPUB_TOTAL_SIZE },
        { "HPUB foo 13 12\r\n", GW_PARSE_E_HPUB_HDR_OVER },
        { "HPUB foo 2000000 12\r\n", GW_PARSE_E_HPUB_HDR_OVER },
        { "HPUB foo 12 2000000\r\n", GW_PARSE_E_MAX_PAYLOAD },
        { "SUB foo\r\n", GW_PARSE_E_SUB_ARGS },
        { "SUB \r\n", GW_PARSE_E_SUB_ARGS },
        { "SUB foo q 1 2\r\n", GW_PARSE_E_SUB_ARGS },
        { "UNSUB \r\n", GW_PARSE_E_UNSUB_ARGS },
        { "UNSUB 1 2 3\r\n", GW_PARSE_E_UNSUB_ARGS },
        /* a CR after the first argument byte drops the byte before LF */
        { "PUB foo\r 2\n", GW_PARSE_E_PUB_ARGS },
        { "PUB foo 3\rx\n", GW_PARSE_E_PUB_SIZE },
        { "PUB foo 3\r\r\n", GW_PARSE_E_PUB_SIZE },
        { "SUB bar\r 1\n", GW_PARSE_E_SUB_ARGS },
        { "PUB foo 3\r\nabcXY", GW_PARSE_E_PAYLOAD_END },
        { "PUB foo 3\r\nabcd\r\n", GW_PARSE_E_PAYLOAD_END },
        { "PUB foo 3\r\nabc\n", GW_PARSE_E_PAYLOAD_END },
        { "PUB foo 3\r\nabc\rX", GW_PARSE_E_PAYLOAD_END },
        { "PUB foo 3\r\nabc\r\r\n", GW_PARSE_E_PAYLOAD_END },
        { "PUB foo 0\r\nPING\r\n", GW_PARSE_E_PAYLOAD_END },
        { "HPUB foo 12 12\r\nNATS/1.0\r\n\r\nX", GW_PARSE_E_PAYLOAD_END },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = rc_str(cases[i].in);

        if (rc != cases[i].err)
            fprintf(stderr, "case %zu %s: got %d\n", i, cases[i].in, rc);
        CHECK(rc == cases[i].err);
    }
}

/* A wrong byte after the payload is an error as soon as it arrives, also
 * when the parser already waits for that payload (nats-server fails on
 * the first wrong byte, it does not wait for a line end). */
static void
test_payload_end_detected_early(void)
{
    const char *in = "PUB foo 3\r\nabcX";
    const char *in2 = "PUB foo 3\r\nabc\rX";
    struct gw_parser p;
    struct gw_op op;
    size_t used;
    char *copy;

    gw_parser_init(&p, MCL, MPAY);
    CHECK(parse_keep(&p, in, 13, &copy, &used, &op) == GW_PARSE_MORE);
    free(copy);
    CHECK(parse_keep(&p, in, 14, &copy, &used, &op) == GW_PARSE_MORE);
    free(copy);
    CHECK(parse_keep(&p, in, 15, &copy, &used, &op)
          == GW_PARSE_E_PAYLOAD_END);
    free(copy);
    gw_parser_init(&p, MCL, MPAY);
    CHECK(parse_keep(&p, in2, 14, &copy, &used, &op) == GW_PARSE_MORE);
    free(copy);
    CHECK(parse_keep(&p, in2, 15, &copy, &used, &op) == GW_PARSE_MORE);
    free(copy);
    CHECK(parse_keep(&p, in2, 16, &copy, &used, &op)
          == GW_PARSE_E_PAYLOAD_END);
    free(copy);
}

static void
test_error_position(void)
{
    struct gw_parser p;
    struct gw_op op;
    size_t used;
    char *copy;

    gw_parser_init(&p, MCL, MPAY);
    CHECK(parse_keep(&p, "PUB foo 3\r\nabcX", 15, &copy, &used, &op)
          == GW_PARSE_E_PAYLOAD_END);
    CHECK(p.err_off == 14);
    CHECK(used == 0);
    free(copy);
    gw_parser_init(&p, MCL, MPAY);
    CHECK(parse_keep(&p, "PUBX", 4, &copy, &used, &op)
          == GW_PARSE_E_UNKNOWN_OP);
    CHECK(p.err_off == 3);
    free(copy);
}

static void
test_error_texts(void)
{
    CHECK(strcmp(gw_parse_error_text(GW_PARSE_E_UNKNOWN_OP),
                 "Unknown Protocol Operation") == 0);
    CHECK(strcmp(gw_parse_error_text(GW_PARSE_E_PAYLOAD_END),
                 "Unknown Protocol Operation") == 0);
    CHECK(strcmp(gw_parse_error_text(GW_PARSE_E_MAX_CONTROL_LINE),
                 "maximum control line exceeded") == 0);
    CHECK(strcmp(gw_parse_error_text(GW_PARSE_E_MAX_PAYLOAD),
                 "Maximum Payload Violation") == 0);
    CHECK(strcmp(gw_parse_error_text(GW_PARSE_E_PUB_SIZE),
                 "processPub Bad or Missing Size") == 0);
    CHECK(strcmp(gw_parse_error_text(GW_PARSE_E_HPUB_HDR_OVER),
                 "processHeaderPub Header Size larger then TotalSize") == 0);
    CHECK(gw_parse_error_sends(GW_PARSE_E_UNKNOWN_OP));
    CHECK(gw_parse_error_sends(GW_PARSE_E_PAYLOAD_END));
    CHECK(gw_parse_error_sends(GW_PARSE_E_MAX_CONTROL_LINE));
    CHECK(gw_parse_error_sends(GW_PARSE_E_MAX_PAYLOAD));
    for (int e = GW_PARSE_E_PUB_ARGS; e >= GW_PARSE_E_MIN; e--) {
        CHECK(!gw_parse_error_sends(e));
        CHECK(strncmp(gw_parse_error_text(e), "process", 7) == 0);
    }
    CHECK(gw_parse_error_text(-999) != NULL);
    CHECK(gw_parse_error_text(1) != NULL);
    CHECK(strcmp(gw_op_name(GW_OP_OK), "+OK") == 0);
    CHECK(strcmp(gw_op_name(GW_OP_HPUB), "HPUB") == 0);
    CHECK(strcmp(gw_op_name((enum gw_op_kind)99), "?") == 0);
}

/* ---- limits ------------------------------------------------------------ */

/* "PUB " + subject + " 0" + end, with an argument part of arglen bytes. */
static char *
long_pub(size_t arglen, const char *end, size_t *n)
{
    size_t elen = strlen(end);
    char *s = malloc(4 + arglen + elen + 16);

    if (s == NULL)
        abort();
    memcpy(s, "PUB ", 4);
    memset(s + 4, 'a', arglen - 2);
    memcpy(s + 4 + arglen - 2, " 0", 2);
    memcpy(s + 4 + arglen, end, elen);
    *n = 4 + arglen + elen;
    return s;
}

static void
test_max_control_line(void)
{
    size_t n;
    char *s;

    /* the argument part may be exactly max_control_line long */
    s = long_pub(MCL, "\r\n\r\n", &n);
    CHECK(rc_of(s, n, MCL, MPAY) == GW_PARSE_OP);
    CHECK(rc_of(s, n - 2, MCL, MPAY) == GW_PARSE_MORE);
    CHECK(rc_of(s, n - 3, MCL, MPAY) == GW_PARSE_MORE); /* ends in CR */
    free(s);
    s = long_pub(MCL, "\n\r\n", &n);
    CHECK(rc_of(s, n, MCL, MPAY) == GW_PARSE_OP);
    free(s);
    /* one more byte is too much, with or without the LF */
    s = long_pub(MCL + 1, "\r\n\r\n", &n);
    CHECK(rc_of(s, n, MCL, MPAY) == GW_PARSE_E_MAX_CONTROL_LINE);
    CHECK(rc_of(s, n - 4, MCL, MPAY) == GW_PARSE_E_MAX_CONTROL_LINE);
    free(s);
    /* trailing blanks count (nats-server counts them too) */
    s = long_pub(MCL, "  \r\n\r\n", &n);
    CHECK(rc_of(s, n, MCL, MPAY) == GW_PARSE_E_MAX_CONTROL_LINE);
    free(s);
    /* a small limit, several ops */
    CHECK(rc_str("SUB foo 1\r\n") == GW_PARSE_OP);
    CHECK(rc_of("SUB foo 1\r\n", 11, 5, MPAY) == GW_PARSE_OP);
    CHECK(rc_of("SUB foo 12\r\n", 12, 5, MPAY)
          == GW_PARSE_E_MAX_CONTROL_LINE);
    CHECK(rc_of("SUB foo 12", 10, 5, MPAY) == GW_PARSE_E_MAX_CONTROL_LINE);
    CHECK(rc_of("CONNECT {\"ab\":12}\r\n", 19, 8, MPAY)
          == GW_PARSE_E_MAX_CONTROL_LINE);
    CHECK(rc_of("CONNECT {\"ab\":12}", 17, 8, MPAY)
          == GW_PARSE_E_MAX_CONTROL_LINE);
    CHECK(rc_of("-ERR 123456789", 14, 8, MPAY)
          == GW_PARSE_E_MAX_CONTROL_LINE);
    /* bounded here, unlike nats-server: junk after PING, blank runs */
    CHECK(rc_of("PING 123456789", 14, 8, MPAY)
          == GW_PARSE_E_MAX_CONTROL_LINE);
    CHECK(rc_of("PUB          ", 13, 8, MPAY)
          == GW_PARSE_E_MAX_CONTROL_LINE);
    CHECK(rc_of("PUB        ", 11, 8, MPAY) == GW_PARSE_MORE);
}

static void
test_max_payload(void)
{
    CHECK(rc_of("PUB foo 10\r\n", 12, MCL, 10) == GW_PARSE_MORE);
    CHECK(rc_of("PUB foo 10\r\n0123456789\r\n", 24, MCL, 10)
          == GW_PARSE_OP);
    /* fatal as soon as the line is in, without waiting for the bytes */
    CHECK(rc_of("PUB foo 11\r\n", 12, MCL, 10) == GW_PARSE_E_MAX_PAYLOAD);
    CHECK(rc_of("HPUB foo 2 11\r\n", 15, MCL, 10) == GW_PARSE_E_MAX_PAYLOAD);
    CHECK(rc_of("HPUB foo 2 10\r\n", 15, MCL, 10) == GW_PARSE_MORE);
    CHECK(rc_str("PUB foo 1048576\r\n") == GW_PARSE_MORE);
    /* 0 selects nats-server's defaults */
    CHECK(rc_of("PUB foo 1048577\r\n", 17, 0, 0) == GW_PARSE_E_MAX_PAYLOAD);
    CHECK(rc_of("PUB foo 1048576\r\n", 17, 0, 0) == GW_PARSE_MORE);
}

/* ---- incomplete input and split reads ---------------------------------- */

static const char script[] =
    "CONNECT {\"verbose\":false,\"headers\":true}\r\n"
    "INFO {}\r\n"
    "PING\r\n"
    "pong\n"
    "+OK\r\n"
    "SUB foo 1\r\n"
    "sub\tbar  q\t2 \r\n"
    "PUB foo 5\r\nhello\r\n"
    "pub foo reply 0\r\n\r\n"
    "PUB  foo \t 13\nhe\r\nllo\nworld\r\n"
    "HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"
    "hpub foo r 0 3\r\nabc\r\n"
    "UNSUB 1\r\n"
    "unsub 2 10\r\n"
    "-ERR 'oops'\r\n"
    "PINGjunk\r\n"
    "CoNnEcT {}\n";

static const int script_kinds[] = {
    GW_OP_CONNECT, GW_OP_INFO, GW_OP_PING, GW_OP_PONG, GW_OP_OK, GW_OP_SUB,
    GW_OP_SUB, GW_OP_PUB, GW_OP_PUB, GW_OP_PUB, GW_OP_HPUB, GW_OP_HPUB,
    GW_OP_UNSUB, GW_OP_UNSUB, GW_OP_ERR, GW_OP_PING, GW_OP_CONNECT,
};
#define N_SCRIPT_OPS ((int)(sizeof(script_kinds) / sizeof(script_kinds[0])))

static void
test_script_one_shot(void)
{
    static struct run r;
    int ok = 1;

    run_once(script, sizeof(script) - 1, MCL, MPAY, &r);
    CHECK(!r.bad);
    CHECK(r.final == GW_PARSE_MORE);
    CHECK(r.nops == N_SCRIPT_OPS);
    CHECK(r.consumed == sizeof(script) - 1);
    for (int i = 0; i < r.nops && i < N_SCRIPT_OPS; i++)
        ok &= r.ops[i].kind == script_kinds[i];
    CHECK(ok);
}

/* Every proper prefix of a single op is "more", never an error. */
static void
test_every_prefix_is_more(void)
{
    static struct run whole;
    int ok = 1;

    run_once(script, sizeof(script) - 1, MCL, MPAY, &whole);
    for (int i = 0; i < whole.nops; i++) {
        const char *op = script + whole.ops[i].start;

        for (size_t k = 0; k < whole.ops[i].used; k++)
            ok &= rc_of(op, k, MCL, MPAY) == GW_PARSE_MORE;
        ok &= rc_of(op, whole.ops[i].used, MCL, MPAY) == GW_PARSE_OP;
    }
    CHECK(whole.nops == N_SCRIPT_OPS);
    CHECK(ok);
}

static void
test_split_every_boundary(void)
{
    static struct run whole, split;
    size_t n = sizeof(script) - 1;
    int ok = 1;

    run_once(script, n, MCL, MPAY, &whole);
    for (size_t k = 0; k <= n; k++) {
        run_cuts(script, n, &k, 1, MCL, MPAY, &split);
        if (!runs_equal(&whole, &split)) {
            fprintf(stderr, "split at %zu differs\n", k);
            ok = 0;
        }
    }
    CHECK(ok);
}

static void
test_byte_by_byte(void)
{
    static struct run whole, split;
    size_t n = sizeof(script) - 1;
    size_t *cuts = malloc(n * sizeof(*cuts));

    if (cuts == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        cuts[i] = i;
    run_once(script, n, MCL, MPAY, &whole);
    run_cuts(script, n, cuts, n, MCL, MPAY, &split);
    CHECK(runs_equal(&whole, &split));
    free(cuts);
}

/* A 1 MiB payload arriving in 997-byte reads: "more" until the end, with
 * the required size remembered, then one op spanning everything. */
static void
test_large_payload_in_pieces(void)
{
    const size_t size = MPAY;
    const char hdr[] = "PUB big 1048576\r\n";
    size_t hl = sizeof(hdr) - 1, total = hl + size + 2, len, used = 1;
    char *buf = malloc(total);
    struct gw_parser p;
    struct gw_op op;
    int rc = GW_PARSE_MORE, mores = 0, need_ok = 1;

    if (buf == NULL)
        abort();
    memcpy(buf, hdr, hl);
    for (size_t i = 0; i < size; i++)
        buf[hl + i] = (char)('a' + i % 26);
    memcpy(buf + hl + size, "\r\n", 2);
    gw_parser_init(&p, MCL, MPAY);
    for (len = 0; len < total; len += 997) {
        rc = gw_parser_next(&p, buf, len, &used, &op);
        if (rc != GW_PARSE_MORE || used != 0)
            break;
        if (len > hl)
            need_ok &= p.need == total;
        mores++;
    }
    CHECK(rc == GW_PARSE_MORE);
    CHECK(need_ok);
    CHECK(mores > 1000);
    rc = gw_parser_next(&p, buf, total, &used, &op);
    CHECK(rc == GW_PARSE_OP);
    CHECK(used == total);
    CHECK(op.kind == GW_OP_PUB && sl_eq(op.subject, "big"));
    CHECK(op.payload.p == buf + hl && op.payload.len == size);
    CHECK(p.need == 0);
    free(buf);
}

/* Breaking the contract (a shorter buffer, or reset) stays safe. */
static void
test_contract_breach_and_reset(void)
{
    const char *in = "PUB foo 5\r\nhello\r\n";
    struct gw_parser p;
    struct gw_op op;
    size_t used;
    char *copy;

    gw_parser_init(&p, MCL, MPAY);
    CHECK(parse_keep(&p, in, 13, &copy, &used, &op) == GW_PARSE_MORE);
    free(copy);
    CHECK(parse_keep(&p, "PING\r\n", 6, &copy, &used, &op) == GW_PARSE_OP);
    CHECK(op.kind == GW_OP_PING);
    free(copy);
    CHECK(parse_keep(&p, in, 13, &copy, &used, &op) == GW_PARSE_MORE);
    free(copy);
    gw_parser_reset(&p);
    CHECK(p.need == 0 && p.scanned == 0);
    CHECK(parse_keep(&p, "SUB a 1\r\n", 9, &copy, &used, &op)
          == GW_PARSE_OP);
    CHECK(op.kind == GW_OP_SUB);
    free(copy);
}

/* ---- fuzz -------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static size_t
make_input(char *s, size_t cap)
{
    static const char alpha[] = "PUBSHINGOCTERKpubsh +-\r\n\t0123456789{}.";
    size_t n;

    if (rng() % 2) {
        /* a mutated slice of the script */
        size_t from = rng() % (sizeof(script) - 1);

        n = rng() % cap;
        if (n > sizeof(script) - 1 - from)
            n = sizeof(script) - 1 - from;
        memcpy(s, script + from, n);
        for (unsigned m = rng() % 4; m > 0 && n > 0; m--)
            s[rng() % n] = (rng() % 3) ? alpha[rng() % (sizeof(alpha) - 1)]
                                       : (char)rng();
        return n;
    }
    n = rng() % cap;
    for (size_t i = 0; i < n; i++)
        s[i] = (rng() % 8) ? alpha[rng() % (sizeof(alpha) - 1)]
                           : (char)rng();
    return n;
}

/* Random and mutated inputs, one-shot and randomly split: no crash, no
 * contract breach, and the same ops and final result both ways. */
static void
test_fuzz(void)
{
    static struct run whole, split;
    char s[160];
    size_t cuts[8];
    long iters = 0, mismatches = 0, bad = 0;
    clock_t start = clock();

    for (; iters < 200000; iters++) {
        size_t n = make_input(s, sizeof(s));
        uint32_t mcl = 4 + rng() % 40;
        int64_t mpay = 1 + rng() % 40;
        size_t nc = n ? rng() % 8 : 0;

        for (size_t c = 0; c < nc; c++)
            cuts[c] = rng() % (n + 1);
        for (size_t c = 1; c < nc; c++) /* sort: insertion */
            for (size_t d = c; d > 0 && cuts[d - 1] > cuts[d]; d--) {
                size_t t = cuts[d];
                cuts[d] = cuts[d - 1];
                cuts[d - 1] = t;
            }
        run_once(s, n, mcl, mpay, &whole);
        run_cuts(s, n, cuts, nc, mcl, mpay, &split);
        bad += whole.bad || split.bad;
        mismatches += !runs_equal(&whole, &split);
        if (iters % 1024 == 0
            && (double)(clock() - start) / CLOCKS_PER_SEC > 3.0)
            break;
    }
    CHECK(bad == 0);
    CHECK(mismatches == 0);
    CHECK(iters > 1000);
    printf("fuzz: %ld inputs\n", iters);
}

int
main(int argc, char **argv)
{
    test_ping_pong_ok();
    test_connect_info();
    test_minus_err();
    test_pub();
    test_pub_slices_point_into_buffer();
    test_hpub();
    test_sub();
    test_unsub();
    test_errors();
    test_error_position();
    test_payload_end_detected_early();
    test_error_texts();
    test_max_control_line();
    test_max_payload();
    test_script_one_shot();
    test_every_prefix_is_more();
    test_split_every_boundary();
    test_byte_by_byte();
    test_large_payload_in_pieces();
    test_contract_breach_and_reset();
    test_fuzz();
    return dt_check_summary(argv[0]);
}
