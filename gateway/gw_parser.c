/*
 * gw_parser.c -- NATS client-protocol parser: turns the bytes a client
 * sent into struct gw_op values, without copying.
 *
 * NOTES
 *   Behaviour follows nats-server 2.9.10 as observed on a raw socket:
 *   - op names are case-insensitive and must start at the first byte of a
 *     line (a leading blank is an unknown op); PUB, HPUB, SUB, UNSUB and
 *     -ERR need a space or tab after the name, CONNECT and INFO take
 *     whatever follows as their argument, PING, PONG and +OK ignore
 *     anything up to the line end ("PINGX" is a PING);
 *   - a line ends at LF.  The arguments start at the first non-blank
 *     byte after the name, and that byte is taken even if it is the LF;
 *     they end at the LF, or one byte before it if a CR appeared after
 *     their first byte (so "CRLF" and lone "LF" both work);
 *   - PUB and HPUB split their arguments on spaces and tabs only, SUB and
 *     UNSUB also on CR and LF;
 *   - sizes are 1..9 decimal digits, nothing else (no sign, no 10th
 *     digit even if it is a leading zero);
 *   - max_control_line limits the arguments (as delimited above) and is
 *     also checked on the part that has arrived before the LF;
 *   - the PUB size / HPUB total size is checked against max_payload as
 *     soon as the control line is complete, before the payload arrives;
 *   - the payload must be followed by exactly CR LF; a wrong byte is an
 *     error as soon as it arrives.
 *   Deliberate differences: nats-server accepts unlimited junk after
 *   PING/PONG/+OK and unlimited blanks after an op name; here both count
 *   against max_control_line so the caller's buffer stays bounded.  And
 *   nats-server's own split-read path drops CRs inside arguments, which
 *   its one-read path keeps; here the result never depends on how the
 *   bytes were split, and follows the one-read path.
 *
 *   Ownership and errors: see gw_parser.h.  No allocation, no copying;
 *   nothing is read at or past buf[len].
 */
#include "gw_parser.h"

#include <stdbool.h>
#include <string.h>

/* How the bytes after an op name are treated. */
enum op_form {
    FORM_ARGS, /* a blank must follow the name (PUB, SUB, ..., -ERR) */
    FORM_TEXT, /* everything after the name (blanks skipped) is one arg */
    FORM_BARE, /* everything up to the line end is ignored */
};

struct op_def {
    const char     *name; /* lower case */
    uint8_t         len;
    uint8_t         form;
    enum gw_op_kind kind;
};

static const struct op_def op_defs[] = {
    { "pub",     3, FORM_ARGS, GW_OP_PUB },
    { "hpub",    4, FORM_ARGS, GW_OP_HPUB },
    { "sub",     3, FORM_ARGS, GW_OP_SUB },
    { "unsub",   5, FORM_ARGS, GW_OP_UNSUB },
    { "ping",    4, FORM_BARE, GW_OP_PING },
    { "pong",    4, FORM_BARE, GW_OP_PONG },
    { "connect", 7, FORM_TEXT, GW_OP_CONNECT },
    { "info",    4, FORM_TEXT, GW_OP_INFO },
    { "+ok",     3, FORM_BARE, GW_OP_OK },
    { "-err",    4, FORM_ARGS, GW_OP_ERR },
};
#define N_OP_DEFS (sizeof(op_defs) / sizeof(op_defs[0]))

/* Most tokens any op takes (HPUB with reply) plus one to detect excess. */
#define MAX_TOKENS 5

struct tokens {
    unsigned        n; /* may exceed MAX_TOKENS; only the first are kept */
    struct gw_slice t[MAX_TOKENS];
};

/* The control line once its LF has been found. */
struct line {
    size_t arg;     /* first byte of the arguments */
    size_t arg_end; /* end of the arguments */
    size_t end;     /* first byte after the LF */
};

void
gw_parser_init(struct gw_parser *p, uint32_t max_control_line,
               int64_t max_payload)
{
    memset(p, 0, sizeof(*p));
    p->max_control_line = max_control_line ? max_control_line
                                           : GW_DEFAULT_MAX_CONTROL_LINE;
    p->max_payload = max_payload > 0 ? max_payload : GW_DEFAULT_MAX_PAYLOAD;
}

void
gw_parser_reset(struct gw_parser *p)
{
    p->scanned = 0;
    p->need = 0;
    p->cr_seen = 0;
}

static int
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* SUB and UNSUB split like nats-server's splitArg(). */
static int
is_sub_sep(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char
lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static struct gw_slice
mkslice(const char *p, size_t n)
{
    struct gw_slice s = { p, (uint32_t)n };
    return s;
}

/* Matches the op name at the start of buf.  Returns 1 and *def when a
 * whole name matched, 0 when the bytes so far are a prefix of some name,
 * -1 when they match none.  No name is a prefix of another. */
static int
match_op(const char *buf, size_t len, const struct op_def **def)
{
    int partial = 0;

    for (size_t i = 0; i < N_OP_DEFS; i++) {
        const struct op_def *d = &op_defs[i];
        size_t n = len < d->len ? len : d->len;
        size_t k = 0;

        while (k < n && lower(buf[k]) == d->name[k])
            k++;
        if (k < n)
            continue;
        if (n == d->len) {
            *def = d;
            return 1;
        }
        partial = 1;
    }
    return partial ? 0 : -1;
}

/* nats-server's parseSize: 1..9 decimal digits, else -1. */
static int64_t
parse_size(struct gw_slice s)
{
    int64_t v = 0;

    if (s.len == 0 || s.len > GW_MAX_SIZE_DIGITS)
        return -1;
    for (uint32_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -1;
        v = v * 10 + (s.p[i] - '0');
    }
    return v;
}

/* pub: PUB/HPUB split on blanks only; else CR and LF separate too.  A
 * flag, not a function pointer, so the test inlines (perf: the indirect
 * call per byte was 2% of the gateway). */
static inline int
is_sep(char c, bool pub)
{
    return pub ? is_blank(c) : is_sub_sep(c);
}

static void
tokenize(const char *buf, size_t from, size_t to, bool pub,
         struct tokens *tk)
{
    size_t i = from;

    tk->n = 0;
    while (i < to) {
        size_t start;

        while (i < to && is_sep(buf[i], pub))
            i++;
        if (i == to)
            break;
        start = i;
        while (i < to && !is_sep(buf[i], pub))
            i++;
        if (tk->n < MAX_TOKENS)
            tk->t[tk->n] = mkslice(buf + start, i - start);
        tk->n++;
    }
}

static int
fail(struct gw_parser *p, size_t off, int err)
{
    p->err_off = off;
    gw_parser_reset(p);
    return err;
}

/* Skips the blanks after the op name, up to 'to'.  Stops early once the
 * run exceeds the limit, which the caller then reports. */
static size_t
skip_blanks(const struct gw_parser *p, const char *buf, size_t from,
            size_t to)
{
    size_t i = from;

    while (i < to && is_blank(buf[i]) && i - from <= p->max_control_line)
        i++;
    return i;
}

/* Looks for the LF in buf[from..len), noting CRs on the way.  Returns
 * its index, or len if it has not arrived. */
static size_t
scan_lf(struct gw_parser *p, const char *buf, size_t from, size_t len)
{
    /* two vectorised scans beat one byte loop on every control line */
    const char *lf = memchr(buf + from, '\n', len - from);
    size_t end = lf ? (size_t)(lf - buf) : len;
    if (memchr(buf + from, '\r', end - from))
        p->cr_seen = 1;
    return end;
}

/* PING, PONG, +OK: whatever follows the name up to the LF is ignored,
 * but bounded.  Returns 1 with *ln filled, MORE, or an error. */
static int
find_bare_line(struct gw_parser *p, const char *buf, size_t len,
               size_t name_end, struct line *ln)
{
    size_t from = p->scanned > name_end ? p->scanned : name_end;
    size_t lf = scan_lf(p, buf, from, len);
    size_t end = lf;

    if (end > name_end && buf[end - 1] == '\r')
        end--;
    if (end - name_end > p->max_control_line)
        return fail(p, lf, GW_PARSE_E_MAX_CONTROL_LINE);
    if (lf == len) {
        p->scanned = len;
        return GW_PARSE_MORE;
    }
    ln->arg = ln->arg_end = end;
    ln->end = lf + 1;
    return 1;
}

/* Ops with arguments.  The first non-blank byte after the name always
 * belongs to the arguments (even an LF), and a CR after it makes the
 * arguments end one byte before the LF: nats-server's "drop".  Returns 1
 * with *ln filled, MORE, or an error. */
static int
find_arg_line(struct gw_parser *p, const char *buf, size_t len,
              size_t name_end, struct line *ln)
{
    size_t arg = skip_blanks(p, buf, name_end, len);
    size_t from, lf;

    if (arg - name_end > p->max_control_line)
        return fail(p, arg, GW_PARSE_E_MAX_CONTROL_LINE);
    if (arg == len)
        return GW_PARSE_MORE;
    from = p->scanned > arg + 1 ? p->scanned : arg + 1;
    lf = scan_lf(p, buf, from, len);
    if (lf - (size_t)p->cr_seen - arg > p->max_control_line)
        return fail(p, lf, GW_PARSE_E_MAX_CONTROL_LINE);
    if (lf == len) {
        p->scanned = len;
        return GW_PARSE_MORE;
    }
    ln->arg = arg;
    ln->arg_end = lf - (size_t)p->cr_seen;
    ln->end = lf + 1;
    return 1;
}

static int
parse_pub(struct gw_parser *p, const struct tokens *tk, size_t off,
          struct gw_op *op, int64_t *size)
{
    if (tk->n != 2 && tk->n != 3)
        return fail(p, off, GW_PARSE_E_PUB_ARGS);
    op->subject = tk->t[0];
    if (tk->n == 3)
        op->reply = tk->t[1];
    *size = parse_size(tk->t[tk->n - 1]);
    if (*size < 0)
        return fail(p, off, GW_PARSE_E_PUB_SIZE);
    if (*size > p->max_payload)
        return fail(p, off, GW_PARSE_E_MAX_PAYLOAD);
    return 0;
}

static int
parse_hpub(struct gw_parser *p, const struct tokens *tk, size_t off,
           struct gw_op *op, int64_t *hdr, int64_t *size)
{
    if (tk->n != 3 && tk->n != 4)
        return fail(p, off, GW_PARSE_E_HPUB_ARGS);
    op->subject = tk->t[0];
    if (tk->n == 4)
        op->reply = tk->t[1];
    *hdr = parse_size(tk->t[tk->n - 2]);
    if (*hdr < 0)
        return fail(p, off, GW_PARSE_E_HPUB_HDR_SIZE);
    *size = parse_size(tk->t[tk->n - 1]);
    if (*size < 0)
        return fail(p, off, GW_PARSE_E_HPUB_TOTAL_SIZE);
    if (*hdr > *size)
        return fail(p, off, GW_PARSE_E_HPUB_HDR_OVER);
    if (*size > p->max_payload)
        return fail(p, off, GW_PARSE_E_MAX_PAYLOAD);
    return 0;
}

/* PUB/HPUB control line parsed: wait for size bytes plus CR LF.  The
 * required length is remembered so that later calls return at once
 * until the payload's last byte is there. */
static int
take_payload(struct gw_parser *p, const char *buf, size_t len,
             const struct line *ln, int64_t hdr, int64_t size,
             struct gw_op *op, size_t *used)
{
    size_t cr = ln->end + (size_t)size;

    if (len > cr && buf[cr] != '\r')
        return fail(p, cr, GW_PARSE_E_PAYLOAD_END);
    if (len > cr + 1 && buf[cr + 1] != '\n')
        return fail(p, cr + 1, GW_PARSE_E_PAYLOAD_END);
    if (len < cr + 2) {
        p->need = cr + 2;
        p->scanned = ln->end - 1; /* up to the LF: a shorter buffer is
                                   * a broken contract, see entry */
        return GW_PARSE_MORE;
    }
    if (op->kind == GW_OP_HPUB)
        op->headers = mkslice(buf + ln->end, (size_t)hdr);
    op->payload = mkslice(buf + ln->end + (size_t)hdr,
                          (size_t)(size - hdr));
    *used = cr + 2;
    gw_parser_reset(p);
    return GW_PARSE_OP;
}

static int
parse_args(struct gw_parser *p, const char *buf, size_t len,
           const struct line *ln, struct gw_op *op, size_t *used)
{
    struct tokens tk;
    int64_t hdr = 0, size = 0;
    int pub = op->kind == GW_OP_PUB || op->kind == GW_OP_HPUB;
    int rc;

    /* 2.9.10 splits PUB/HPUB on blanks only, SUB/UNSUB also on CR/LF */
    tokenize(buf, ln->arg, ln->arg_end, pub, &tk);
    switch (op->kind) {
    case GW_OP_PUB:
        rc = parse_pub(p, &tk, ln->arg, op, &size);
        break;
    case GW_OP_HPUB:
        rc = parse_hpub(p, &tk, ln->arg, op, &hdr, &size);
        break;
    case GW_OP_SUB:
        if (tk.n != 2 && tk.n != 3)
            return fail(p, ln->arg, GW_PARSE_E_SUB_ARGS);
        op->subject = tk.t[0];
        if (tk.n == 3)
            op->queue = tk.t[1];
        op->sid = tk.t[tk.n - 1];
        goto done;
    default: /* GW_OP_UNSUB */
        if (tk.n != 1 && tk.n != 2)
            return fail(p, ln->arg, GW_PARSE_E_UNSUB_ARGS);
        op->sid = tk.t[0];
        op->max_msgs = tk.n == 2 ? parse_size(tk.t[1]) : -1;
        goto done;
    }
    if (rc < 0)
        return rc;
    return take_payload(p, buf, len, ln, hdr, size, op, used);
done:
    *used = ln->end;
    gw_parser_reset(p);
    return GW_PARSE_OP;
}

static int
finish_line(struct gw_parser *p, const char *buf, size_t len,
            const struct op_def *def, const struct line *ln,
            struct gw_op *op, size_t *used)
{
    memset(op, 0, sizeof(*op));
    op->kind = def->kind;
    op->max_msgs = -1;
    op->line = mkslice(buf, ln->arg_end);
    if (def->kind == GW_OP_ERR || def->form == FORM_TEXT)
        op->arg = mkslice(buf + ln->arg, ln->arg_end - ln->arg);
    else if (def->form == FORM_ARGS)
        return parse_args(p, buf, len, ln, op, used);
    *used = ln->end;
    gw_parser_reset(p);
    return GW_PARSE_OP;
}

int
gw_parser_next(struct gw_parser *p, const char *buf, size_t len,
               size_t *used, struct gw_op *op)
{
    const struct op_def *def = NULL;
    struct line ln;
    int rc;

    *used = 0;
    if (len < p->scanned)       /* contract broken: start over, safely */
        gw_parser_reset(p);
    if (p->need != 0 && len + 2 <= p->need)
        return GW_PARSE_MORE;   /* payload still arriving: no rescan */
    if (len == 0)
        return GW_PARSE_MORE;
    rc = match_op(buf, len, &def);
    if (rc < 0)
        return fail(p, 0, GW_PARSE_E_UNKNOWN_OP);
    if (rc == 0)
        return GW_PARSE_MORE;
    if (def->form == FORM_ARGS) {
        if (len == def->len)
            return GW_PARSE_MORE;
        if (!is_blank(buf[def->len]))
            return fail(p, def->len, GW_PARSE_E_UNKNOWN_OP);
    }
    if (def->form == FORM_BARE)
        rc = find_bare_line(p, buf, len, def->len, &ln);
    else
        rc = find_arg_line(p, buf, len, def->len, &ln);
    if (rc != 1)
        return rc;
    return finish_line(p, buf, len, def, &ln, op, used);
}

const char *
gw_parse_error_text(int err)
{
    switch (err) {
    case GW_PARSE_E_UNKNOWN_OP:
    case GW_PARSE_E_PAYLOAD_END:
        return "Unknown Protocol Operation";
    case GW_PARSE_E_MAX_CONTROL_LINE:
        return "maximum control line exceeded";
    case GW_PARSE_E_MAX_PAYLOAD:
        return "Maximum Payload Violation";
    case GW_PARSE_E_PUB_ARGS:
        return "processPub Parse Error";
    case GW_PARSE_E_PUB_SIZE:
        return "processPub Bad or Missing Size";
    case GW_PARSE_E_HPUB_ARGS:
        return "processHeaderPub Parse Error";
    case GW_PARSE_E_HPUB_HDR_SIZE:
        return "processHeaderPub Bad or Missing Header Size";
    case GW_PARSE_E_HPUB_TOTAL_SIZE:
        return "processHeaderPub Bad or Missing Total Size";
    case GW_PARSE_E_HPUB_HDR_OVER:
        return "processHeaderPub Header Size larger then TotalSize";
    case GW_PARSE_E_SUB_ARGS:
        return "processSub Parse Error";
    case GW_PARSE_E_UNSUB_ARGS:
        return "processUnsub Parse Error";
    default:
        return "Unknown Protocol Error";
    }
}

int
gw_parse_error_sends(int err)
{
    return err == GW_PARSE_E_UNKNOWN_OP
        || err == GW_PARSE_E_PAYLOAD_END
        || err == GW_PARSE_E_MAX_CONTROL_LINE
        || err == GW_PARSE_E_MAX_PAYLOAD;
}

const char *
gw_op_name(enum gw_op_kind kind)
{
    static const char *const names[] = {
        [GW_OP_CONNECT] = "CONNECT", [GW_OP_PUB] = "PUB",
        [GW_OP_HPUB] = "HPUB",       [GW_OP_SUB] = "SUB",
        [GW_OP_UNSUB] = "UNSUB",     [GW_OP_PING] = "PING",
        [GW_OP_PONG] = "PONG",       [GW_OP_INFO] = "INFO",
        [GW_OP_OK] = "+OK",          [GW_OP_ERR] = "-ERR",
    };

    if ((unsigned)kind < sizeof(names) / sizeof(names[0]) && names[kind])
        return names[kind];
    return "?";
}
