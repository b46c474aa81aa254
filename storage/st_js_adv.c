/*
 * st_js_adv.c -- the JetStream advisories nats-server 2.9.10 publishes
 * that this engine produces: stream created / updated / deleted,
 * consumer created / deleted, and max deliveries reached, on
 * $JS.EVENT.ADVISORY.* with nats-server's JSON
 * (io.nats.jetstream.advisory.v1.*).
 *
 * NOTES
 *   Sent through the engine's port like any message (no reply); nothing
 *   for a create that changes nothing or for what is restored at open.
 */
#include "st_js_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define ADV_PFX "$JS.EVENT.ADVISORY."
#define ADV_TYPE "io.nats.jetstream.advisory.v1."

/* Publish {"type","id","timestamp",<rest>} on subj (truncated subjects
 * or bodies are not sent). */
static void
advise(struct st_js *js, const char *subj, const char *type, const char *rest)
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              "abcdefghijklmnopqrstuvwxyz";
    unsigned char rnd[22];
    char id[23], ts[64], body[1536];
    int n;

    if (js->quiet)
        return;
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
        for (size_t i = 0; i < sizeof(rnd); i++)
            rnd[i] = (unsigned char)rand();
    for (size_t i = 0; i < sizeof(rnd); i++)
        id[i] = b62[rnd[i] % 62];
    id[22] = '\0';
    if (st_time_format(ts, sizeof(ts), js->now, 0) < 0)
        return;
    n = snprintf(body, sizeof(body), "{\"type\":\"" ADV_TYPE "%s\",\"id\":"
                 "\"%s\",\"timestamp\":\"%s\",%s}", type, id, ts, rest);
    if (n < 0 || (size_t)n >= sizeof(body))
        return;
    struct st_js_parts p = {
        .subj = subj, .subj_len = strlen(subj), .data = body,
        .data_len = (size_t)n,
    };
    st_js_send(js, &p);
}

/* STREAM.CREATED / UPDATED / DELETED (names are JSON-safe: no quotes,
 * no '>' or '.', see st_stream_name_check). */
void
st_js_advise_stream(struct st_js *js, const char *name, const char *ev,
                    const char *action)
{
    char subj[320], rest[320];

    if (snprintf(subj, sizeof(subj), ADV_PFX "STREAM.%s.%s", ev, name)
            >= (int)sizeof(subj)
        || snprintf(rest, sizeof(rest), "\"stream\":\"%s\",\"action\":"
                    "\"%s\"", name, action) >= (int)sizeof(rest))
        return;
    advise(js, subj, "stream_action", rest);
}

void
st_js_advise_consumer(struct st_js *js, const char *stream,
                      struct st_consumer *c, bool created)
{
    const char *name = st_consumer_name(c);
    char subj[640], rest[640];

    if (snprintf(subj, sizeof(subj), ADV_PFX "CONSUMER.%s.%s.%s",
                 created ? "CREATED" : "DELETED", stream, name)
            >= (int)sizeof(subj)
        || snprintf(rest, sizeof(rest), "\"stream\":\"%s\",\"consumer\":"
                    "\"%s\",\"action\":\"%s\"", stream, name,
                    created ? "create" : "delete") >= (int)sizeof(rest))
        return;
    advise(js, subj, "consumer_action", rest);
}

void
st_js_on_max_deliver(void *arg, struct st_consumer *c, uint64_t sseq,
                     uint64_t deliveries)
{
    struct st_js_stream *t = arg;
    const char *name = st_consumer_name(c);
    char subj[640], rest[640];

    if (snprintf(subj, sizeof(subj), ADV_PFX "CONSUMER.MAX_DELIVERIES.%s.%s",
                 t->name, name) >= (int)sizeof(subj)
        || snprintf(rest, sizeof(rest), "\"stream\":\"%s\",\"consumer\":"
                    "\"%s\",\"stream_seq\":%llu,\"deliveries\":%llu",
                    t->name, name, (unsigned long long)sseq,
                    (unsigned long long)deliveries) >= (int)sizeof(rest))
        return;
    advise(t->js, subj, "max_deliver", rest);
}

/* A stream goes: its consumers' advisories, then its own. */
void
st_js_advise_stream_gone(struct st_js_stream *t)
{
    struct st_consumer **v = NULL;
    size_t n = 0;

    if (st_cons_set_sorted(t->set, &v, &n) == 0)
        for (size_t i = 0; i < n; i++)
            st_js_advise_consumer(t->js, t->name, v[i], false);
    free(v);
    st_js_advise_stream(t->js, t->name, "DELETED", "delete");
}

