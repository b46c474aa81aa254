/*
 * dt_nats.c -- libnats clients for the integration tests (see dt_nats.h).
 *
 * NOTES
 *   A test client never reconnects unless asked to: a server that drops
 *   it must show up as a failure, not be papered over.  The 2 s connect
 *   timeout is libnats' default, set explicitly so that tests do not
 *   depend on it.
 *   Errors: libnats' natsStatus, passed through unchanged.
 */
#include <stdio.h>
#include <string.h>

#include "dt_check.h"
#include "dt_nats.h"

#define CONNECT_TIMEOUT_MS 2000

/* Apply opts (may be NULL) to o; the first failing status, or NATS_OK. */
static natsStatus
apply_opts(natsOptions *o, const char *url, const struct dt_nats_opts *opts)
{
    static const struct dt_nats_opts defaults;
    natsStatus st;

    if (opts == NULL)
        opts = &defaults;
    st = natsOptions_SetURL(o, url);
    if (st == NATS_OK)
        st = natsOptions_SetTimeout(o, CONNECT_TIMEOUT_MS);
    if (st == NATS_OK)
        st = natsOptions_SetAllowReconnect(o, opts->max_reconnect > 0);
    if (st == NATS_OK && opts->max_reconnect > 0)
        st = natsOptions_SetMaxReconnect(o, opts->max_reconnect);
    if (st == NATS_OK && opts->reconnect_wait_ms > 0)
        st = natsOptions_SetReconnectWait(o, opts->reconnect_wait_ms);
    if (st == NATS_OK && opts->disconnected_cb != NULL)
        st = natsOptions_SetDisconnectedCB(o, opts->disconnected_cb, NULL);
    if (st == NATS_OK && opts->name != NULL)
        st = natsOptions_SetName(o, opts->name);
    if (st == NATS_OK && opts->user != NULL)
        st = natsOptions_SetUserInfo(o, opts->user, opts->pass);
    if (st == NATS_OK && opts->token != NULL)
        st = natsOptions_SetToken(o, opts->token);
    if (st == NATS_OK && opts->max_pending_msgs > 0)
        st = natsOptions_SetMaxPendingMsgs(o, opts->max_pending_msgs);
    if (st == NATS_OK && opts->no_echo)
        st = natsOptions_SetNoEcho(o, true);
    return st;
}

natsStatus
dt_nats_try_connect(natsConnection **nc, const char *url,
                    const struct dt_nats_opts *opts)
{
    natsOptions *o = NULL;
    natsStatus st;

    *nc = NULL;
    st = natsOptions_Create(&o);
    if (st != NATS_OK)
        return st;
    st = apply_opts(o, url, opts);
    if (st == NATS_OK)
        st = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    if (st != NATS_OK)
        *nc = NULL;
    return st;
}

natsConnection *
dt_nats_connect(const char *url, const struct dt_nats_opts *opts)
{
    natsConnection *nc;
    natsStatus st = dt_nats_try_connect(&nc, url, opts);

    if (st != NATS_OK)
        fprintf(stderr, "connect %s: %s\n", url, natsStatus_GetText(st));
    return nc;
}

int
dt_nats_finish(struct dt_server *s, const char *name)
{
    if (s != NULL)
        dt_server_finish(s);
    nats_Close();
    return dt_check_summary(name);
}

void
dt_js_req(natsConnection *nc, const char *subj, const char *body, char *out,
          size_t len)
{
    natsMsg *m = NULL;

    out[0] = '\0';
    if (natsConnection_Request(&m, nc, subj, body, (int)strlen(body),
                               DT_JS_REQ_MS) != NATS_OK) {
        printf("no reply on %s: %s\n", subj, nats_GetLastError(NULL));
        return;
    }
    snprintf(out, len, "%.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
    natsMsg_Destroy(m);
}

void
dt_js_create(natsConnection *nc, const char *name, const char *cfg, char *r,
             size_t len)
{
    char subj[300];

    snprintf(subj, sizeof(subj), "$JS.API.STREAM.CREATE.%s", name);
    dt_js_req(nc, subj, cfg, r, len);
}

long long
dt_jint(const char *json, const char *key)
{
    long long v = -999;

    if (dt_json_int(json, key, &v) < 0)
        return -999;
    return v;
}

const char *
dt_jstr(const char *json, const char *key)
{
    static char buf[512];

    if (dt_json_str(json, key, buf, sizeof(buf)) < 0)
        buf[0] = '\0';
    return buf;
}

void
dt_js_err(const char *reply, int code, int err_code, const char *description)
{
    CHECK_INT(dt_jint(reply, "code"), ==, code);
    CHECK_INT(dt_jint(reply, "err_code"), ==, err_code);
    CHECK_STR(dt_jstr(reply, "description"), description);
}
