/*
 * st_api_consumer.h -- the consumer part of the JetStream API, as a
 * dispatcher: request subject + body + now in, response JSON (and
 * records to publish) out.
 *
 *   $JS.API.CONSUMER.CREATE.<stream>                      ephemeral, or
 *                                                         named by body
 *   $JS.API.CONSUMER.CREATE.<stream>.<name>[.<filter>]    named (2.9)
 *   $JS.API.CONSUMER.DURABLE.CREATE.<stream>.<durable>
 *   $JS.API.CONSUMER.INFO.<stream>.<consumer>
 *   $JS.API.CONSUMER.DELETE.<stream>.<consumer>
 *   $JS.API.CONSUMER.NAMES.<stream>       {"offset": n}, limit 1024
 *   $JS.API.CONSUMER.LIST.<stream>        {"offset": n}, limit 256
 *   $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>   pull request
 *   $JS.ACK.<stream>.<consumer>.<...>                st_api_consumer_ack()
 *   $JS.FC.<stream>.<consumer>.<id>                  st_api_consumer_fc()
 *
 * Responses have nats-server 2.9.10's types
 * (io.nats.jetstream.api.v1.consumer_create_response, ..._info_, ...
 * _delete_, _names_, _list_), members, member order and errors.
 *
 * NOTES
 *   The caller owns streams: env->lookup() maps a stream name to its
 *   consumer set (NULL = no such stream).  Nothing here blocks except
 *   the state-file write of a durable create/update/delete.
 *   Return values: ST_API_REPLY (resp holds the JSON to send to the
 *   request's reply subject), ST_API_NO_REPLY (nothing to answer: a
 *   subject nats-server does not answer, or MSG.NEXT whose answers are
 *   records in `out`), or -errno for internal failures (-ENOBUFS: the
 *   response or the outbox hit its cap).
 */
#ifndef ST_API_CONSUMER_H
#define ST_API_CONSUMER_H

#include "st_consumer.h"

#define ST_API_REPLY 0
#define ST_API_NO_REPLY 1

struct st_api_cons_env {
    struct st_cons_set *(*lookup)(void *arg, const char *stream, size_t len);
    void *arg;
};

/* subj must start with "$JS.API.CONSUMER."; reply (may be empty) is used
 * by MSG.NEXT only.  `resp` is appended to; `out` gets records to publish
 * (409 Consumer Deleted to waiting pulls, pull deliveries). */
int st_api_consumer_handle(const struct st_api_cons_env *env,
                           const char *subj, size_t subj_len,
                           const char *body, size_t body_len,
                           const char *reply, size_t reply_len, int64_t now,
                           struct dt_buf *resp, struct st_outbox *out);

/* $JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>: route to
 * the consumer.  -ENOENT when the stream or consumer is unknown (nats
 * drops the ack), -EINVAL for a malformed ack subject. */
int st_api_consumer_ack(const struct st_api_cons_env *env, const char *subj,
                        size_t subj_len, const char *body, size_t body_len,
                        const char *reply, size_t reply_len, int64_t now,
                        struct st_outbox *out);

/* $JS.FC.<stream>.<consumer>.<id>: a flow-control answer. */
int st_api_consumer_fc(const struct st_api_cons_env *env, const char *subj,
                       size_t subj_len, int64_t now);

/* Append {"type": type, "error": {...}} (no other members). */
int st_api_error_json(struct dt_buf *resp, const char *type,
                      const struct st_jserr *err);

#endif /* ST_API_CONSUMER_H */
