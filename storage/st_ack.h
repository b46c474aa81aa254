/*
 * st_ack.h -- the JetStream ack reply subject and the ack bodies clients
 * send back to it.
 *
 * Every message a consumer delivers carries a reply subject in the v1
 * token format of nats-server 2.9 (ADR-15):
 *
 *   $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>
 *
 * delivered = delivery count of this message (1 on first delivery),
 * sseq / dseq = stream and consumer sequence, ts = the message's stored
 * timestamp (ns since the epoch), pending = messages left for the
 * consumer after this one.  Clients parse it for message metadata, and
 * publish their ack to it:
 *
 *   ""  "+ACK"  "+OK"     ack
 *   "-NAK" [delay]        redeliver (delay: {"delay": ns} or a Go
 *                         duration such as "5s"; unparsable = no delay)
 *   "+WPI"                in progress: restart the ack deadline
 *   "+NXT" [request]      ack, then treat [request] as a pull request
 *   "+TERM" [reason]      stop redelivering this message
 *
 * NOTES
 *   Pure functions, no allocation, no state; safe from any thread.
 *   Errors: 0 (or a length) or -errno; -EINVAL for malformed input.
 *   Deviation: nats-server 2.9.10 ignores "+TERM <reason>" (it compares
 *   the whole body); we accept the reason as later servers do.
 */
#ifndef ST_ACK_H
#define ST_ACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dt_buf.h"

#define ST_ACK_PREFIX "$JS.ACK."

/* What an ack subject says; names point into the parsed subject. */
struct st_ack_meta {
    const char *stream;
    size_t stream_len;
    const char *consumer;
    size_t consumer_len;
    uint64_t delivered;
    uint64_t sseq;
    uint64_t dseq;
    int64_t ts;
    uint64_t pending;
};

/* Write the ack subject into dst[0..cap) (NUL-terminated).  Returns its
 * length, or -ENOSPC when it does not fit (dst then holds ""). */
int st_ack_format(char *dst, size_t cap, const char *stream, size_t sl,
                  const char *cons, size_t cl, uint64_t delivered,
                  uint64_t sseq, uint64_t dseq, int64_t ts, uint64_t pending);

/* Parse an ack subject: exactly 9 tokens, "$JS" "ACK", non-empty names,
 * and five decimal numbers (no sign, at most 19 digits; ts may be 0).
 * -EINVAL otherwise. */
int st_ack_parse(const char *subj, size_t len, struct st_ack_meta *m);

enum st_ack_kind {
    ST_ACK_ACK = 0,
    ST_ACK_NAK,
    ST_ACK_PROGRESS,
    ST_ACK_NEXT,
    ST_ACK_TERM,
    ST_ACK_UNKNOWN,         /* ignored by the consumer (still answered) */
};

struct st_ack_body {
    enum st_ack_kind kind;
    bool has_delay;         /* NAK with a parsable delay */
    int64_t delay;          /* ns, may be <= 0 */
    const char *arg;        /* NEXT: the pull request; TERM: the reason */
    size_t arg_len;         /* (whitespace trimmed; may be 0) */
};

/* Classify an ack body (the payload, headers already stripped). Never
 * fails: anything unrecognised is ST_ACK_UNKNOWN. */
void st_ack_body_parse(const char *body, size_t len, struct st_ack_body *out);

/* Go's time.ParseDuration ("300ms", "1.5h", "2h45m", "-1s"; units ns us
 * µs ms s m h).  -EINVAL on bad syntax, -ERANGE on overflow. */
int st_go_duration_parse(const char *s, size_t n, int64_t *ns);

#endif /* ST_ACK_H */
