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

#endif /* DT_NATS_H */
