/*
 * gw_parser.h -- NATS client-protocol parser (the bytes a client sends to
 * the gateway): CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG, and INFO, +OK,
 * -ERR, which nats-server also accepts from clients.
 *
 * NOTES
 *   Ownership: the parser never copies and never allocates.  Every slice in
 *   a returned struct gw_op points into the caller's buffer and is valid
 *   until the caller drops or moves those bytes.
 *
 *   Contract of gw_parser_next(): the caller passes ALL unconsumed bytes of
 *   one connection, contiguous.  On GW_PARSE_OP it drops *used bytes; on
 *   GW_PARSE_MORE it keeps them and calls again once more bytes are
 *   appended.  The parser remembers how far it has scanned (and, once a
 *   PUB/HPUB control line is parsed, how many bytes the op needs), so a
 *   control line or a payload arriving in many small reads is not rescanned
 *   each time.  If the caller breaks the contract (e.g. hands in a shorter
 *   or different buffer), results may be wrong but never unsafe: nothing is
 *   read at or past buf[len].  gw_parser_reset() forgets the scan state.
 *
 *   Errors are negative GW_PARSE_E_* values (a domain enum, not errno).
 *   Every one is fatal for the connection in nats-server 2.9.10.  Some are
 *   answered with "-ERR '<text>'" before the close, others close silently
 *   (only logged): gw_parse_error_sends() tells which, and
 *   gw_parse_error_text() gives the wording (the -ERR text, or the log text
 *   for silent ones).  Where the error was detected is kept in err_off.
 *
 *   Semantics left to the caller (gw_proto): the JSON of CONNECT/INFO (an
 *   empty or invalid one makes nats-server close silently), HPUB without
 *   "headers":true in CONNECT (silent close), -ERR from a client (silent
 *   close), subject validity, UNSUB max <= 0 meaning "unsubscribe now",
 *   and, when auth is required, any first op other than CONNECT.
 *
 *   Not thread-safe: one parser per connection.
 */
#ifndef GW_PARSER_H
#define GW_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define GW_PARSE_OP   1
#define GW_PARSE_MORE 0

/* nats-server's defaults, used when gw_parser_init() is given 0. */
#define GW_DEFAULT_MAX_CONTROL_LINE 4096u
#define GW_DEFAULT_MAX_PAYLOAD      (1024 * 1024)

/* Largest size nats-server parses: at most 9 decimal digits. */
#define GW_MAX_SIZE_DIGITS 9

enum gw_parse_err {
    GW_PARSE_E_UNKNOWN_OP = -1,       /* sent: bad op name / separator */
    GW_PARSE_E_MAX_CONTROL_LINE = -2, /* sent */
    GW_PARSE_E_MAX_PAYLOAD = -3,      /* sent */
    GW_PARSE_E_PAYLOAD_END = -4,      /* sent: payload not followed by CRLF */
    GW_PARSE_E_PUB_ARGS = -5,         /* silent: PUB arg count */
    GW_PARSE_E_PUB_SIZE = -6,         /* silent: PUB size bad */
    GW_PARSE_E_HPUB_ARGS = -7,        /* silent: HPUB arg count */
    GW_PARSE_E_HPUB_HDR_SIZE = -8,    /* silent: HPUB header size bad */
    GW_PARSE_E_HPUB_TOTAL_SIZE = -9,  /* silent: HPUB total size bad */
    GW_PARSE_E_HPUB_HDR_OVER = -10,   /* silent: header size > total */
    GW_PARSE_E_SUB_ARGS = -11,        /* silent: SUB arg count */
    GW_PARSE_E_UNSUB_ARGS = -12,      /* silent: UNSUB arg count */
};
#define GW_PARSE_E_MIN GW_PARSE_E_UNSUB_ARGS

enum gw_op_kind { GW_OP_CONNECT = 1, GW_OP_PUB, GW_OP_HPUB, GW_OP_SUB,
                  GW_OP_UNSUB, GW_OP_PING, GW_OP_PONG, GW_OP_INFO, GW_OP_OK,
                  GW_OP_ERR };

/* Length-prefixed bytes inside the caller's buffer; never NUL-terminated.
 * An absent field is {NULL, 0}. */
struct gw_slice {
    const char *p;
    uint32_t    len;
};

struct gw_op {
    enum gw_op_kind kind;
    struct gw_slice subject;  /* PUB/HPUB/SUB */
    struct gw_slice reply;    /* PUB/HPUB; len 0 if none */
    struct gw_slice queue;    /* SUB; len 0 if none */
    struct gw_slice sid;      /* SUB/UNSUB */
    int64_t max_msgs;         /* UNSUB: -1 if absent or not a valid size
                               * (nats-server ignores a bad max) */
    struct gw_slice arg;      /* CONNECT/INFO: the JSON text; -ERR: its
                               * text; raw, as nats-server passes it on */
    struct gw_slice headers;  /* HPUB: hdr_size bytes (len 0: nats-server
                               * then delivers a plain MSG) */
    struct gw_slice payload;  /* PUB/HPUB: the bytes after the headers */
    struct gw_slice line;     /* the control line without its line end,
                               * for tracing */
};

struct gw_parser {
    uint32_t max_control_line; /* limit on a control line's arguments */
    int64_t  max_payload;      /* limit on PUB size / HPUB total size */
    size_t   err_off;          /* after an error: offset in buf where it
                                * was detected */
    /* private scan state, valid only while the contract holds */
    size_t   scanned;          /* buf[0..scanned) holds no line end */
    size_t   need;             /* PUB/HPUB: bytes the whole op spans */
    int      cr_seen;          /* a CR follows the first argument byte */
};

/* max_control_line 0 -> 4096, max_payload <= 0 -> 1 MiB (as nats-server). */
void gw_parser_init(struct gw_parser *p, uint32_t max_control_line,
                    int64_t max_payload);
void gw_parser_reset(struct gw_parser *p);

/* Returns GW_PARSE_OP with *op filled and *used = bytes the op spans,
 * GW_PARSE_MORE with *used = 0, or a GW_PARSE_E_* error (*used = 0,
 * scan state reset). */
int  gw_parser_next(struct gw_parser *p, const char *buf, size_t len,
                    size_t *used, struct gw_op *op);

/* nats-server's wording for err: the text inside "-ERR '...'" when
 * gw_parse_error_sends(err), else the reason it logs.  Never NULL. */
const char *gw_parse_error_text(int err);

/* 1 if nats-server answers err with "-ERR '<text>'" before closing the
 * connection, 0 if it closes without a word. */
int  gw_parse_error_sends(int err);

/* Name of an op kind ("PUB", "+OK", ...), for logs.  Never NULL. */
const char *gw_op_name(enum gw_op_kind kind);

#endif /* GW_PARSER_H */
