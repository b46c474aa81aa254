/*
 * dt_nats.h -- libnats helpers for the integration tests: connect a test
 * client with the tests' defaults (no reconnect, 2 s connect timeout) and
 * a few per-test options, and end a libnats test's main().
 *
 * NOTES
 *   Built into testnats_dep only when libnats is found; tests that do not
 *   use libnats never link it.
 *   Ownership: the caller destroys the returned connection.
 *   Errors: natsStatus as libnats returns it; dt_nats_connect() prints a
 *   failure and returns NULL.
 */
#ifndef DT_NATS_H
#define DT_NATS_H

#include <stdbool.h>
#include <stddef.h>

#include <nats/nats.h>

#include "dt_harness.h"

/* What a test client changes from the defaults; zero/NULL: the default. */
struct dt_nats_opts {
    const char *name;           /* client name in CONNECT (and /connz) */
    const char *user;           /* with pass: user/password auth */
    const char *pass;
    const char *token;          /* token auth */
    int max_pending_msgs;       /* > 0: the subscriptions' pending limit */
    bool no_echo;               /* do not receive our own messages */
    int max_reconnect;          /* > 0: reconnect, at most this often */
    int reconnect_wait_ms;      /* > 0: pause between reconnect attempts */
    natsConnectionHandler disconnected_cb;   /* called with NULL closure */
};

/*
 * Connect to url with opts (NULL: defaults).  *nc is the connection, or
 * NULL on failure.  Silent: for connections a test expects to be refused.
 */
natsStatus dt_nats_try_connect(natsConnection **nc, const char *url,
                               const struct dt_nats_opts *opts);

/* As dt_nats_try_connect(), but prints a failure; NULL on failure. */
natsConnection *dt_nats_connect(const char *url,
                                const struct dt_nats_opts *opts);

/*
 * End of a libnats test's main(): dt_server_finish(s) (s may be NULL),
 * nats_Close(), then the check summary for name (argv[0]).  Returns the
 * exit code, 0 or 1.  Destroy every connection before calling it.
 */
int dt_nats_finish(struct dt_server *s, const char *name);

/* ---- JetStream API helpers (raw $JS.API requests) ---- */

#define DT_JS_REQ_MS 5000

/* A request with body (a NUL-terminated string) to subj; the reply's
 * payload, NUL-terminated, into out ("" and a printed note when no reply
 * came within DT_JS_REQ_MS). */
void dt_js_req(natsConnection *nc, const char *subj, const char *body,
               char *out, size_t len);
/* $JS.API.STREAM.CREATE.<name> with cfg as the body; the reply in r. */
void dt_js_create(natsConnection *nc, const char *name, const char *cfg,
                  char *r, size_t len);
/* The integer member key of a JSON text, or -999 when absent. */
long long dt_jint(const char *json, const char *key);
/* The string member key (a static buffer, valid until the next call),
 * or "" when absent. */
const char *dt_jstr(const char *json, const char *key);
/* CHECKs that a reply is the JetStream API error code / err_code /
 * description. */
void dt_js_err(const char *reply, int code, int err_code,
               const char *description);

#endif /* DT_NATS_H */
