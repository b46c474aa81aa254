/*
 * st_api.h -- the stream half of the JetStream JSON API: $JS.API.INFO,
 * $JS.API.STREAM.* (create, update, info, delete, purge, names, list,
 * msg get, msg delete, leader stepdown and peer remove answered as a
 * standalone nats-server does) and $JS.API.DIRECT.GET.*.  Request and
 * response JSON are nats-server 2.9.10's: the same types, members,
 * member order, defaults, error codes and descriptions.
 *
 * Use (the storage process, for a message on $JS.API.>):
 *   rc = st_api_handle(reg, subj, n, reply, rn, body, bn, now, &out);
 *   ST_API_REPLY     publish out.hdr (a NATS header block, empty for
 *                    JSON answers) + out.data to the reply subject
 *   ST_API_NO_REPLY  nothing to send (no reply subject, an unknown API
 *                    subject, or a direct get on a stream without
 *                    allow_direct: nats-server stays silent there too)
 *   ST_API_NOT_MINE  not a stream subject: $JS.API.CONSUMER.> goes to
 *                    the consumer API (st_api_consumer*), and that
 *                    handler should call st_registry_api_count()
 *   < 0              -ENOMEM / -ENOBUFS building the answer
 * The answer is ready at once; what an operation changed may not be
 * durable yet (the store reports it through on_done like a publish).
 *
 * NOTES
 *   Ownership: out's buffers belong to the caller (reset by every call;
 *   st_api_out_free() at the end).  Bodies are parsed with dt_json.
 *   Concurrency: none; the storage thread.
 *   Requests without a reply subject are still carried out (a create
 *   creates), as nats-server does.
 */
#ifndef ST_API_H
#define ST_API_H

#include <stddef.h>
#include <stdint.h>

#include "dt_buf.h"
#include "dt_json.h"
#include "st_stream.h"

enum st_api_rc {
    ST_API_REPLY = 0,
    ST_API_NO_REPLY = 1,
    ST_API_NOT_MINE = 2,
};

#define ST_API_NAMES_LIMIT 1024         /* JSApiNamesLimit */
#define ST_API_LIST_LIMIT 256           /* JSApiListLimit */
#define ST_API_SUBJECTS_LIMIT 100000    /* JSMaxSubjectDetails */

struct st_api_out {
    struct dt_buf hdr;      /* header block ("NATS/1.0 ...") or empty */
    struct dt_buf data;     /* the JSON answer, or a message payload */
};

void st_api_out_free(struct st_api_out *o);

int st_api_handle(struct st_registry *r, const char *subj, size_t subj_len,
                  const char *reply, size_t reply_len, const char *body,
                  size_t body_len, int64_t now, struct st_api_out *out);

/* The StreamInfo members ("config", "created", "state") into an object
 * the caller has begun (for other users of stream info, e.g. the
 * consumer layer's advisories). */
int st_api_stream_info_members(struct dt_jw *w, struct st_stream *s);

/* Go's time.RFC3339Nano in UTC ("2026-11-26T10:57:04.68396406Z"); ns 0 is
 * Go's zero time "0001-01-01T00:00:00Z".  Returns the length. */
size_t st_api_time(char *dst, size_t cap, int64_t ns);

#endif /* ST_API_H */
