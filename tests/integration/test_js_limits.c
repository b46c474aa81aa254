/*
 * test_js_limits.c -- the server-wide JetStream limits (jetstream {
 * max_file_store, max_memory_store }) as a standalone nats-server 2.9.10
 * without account limits enforces them: a stream whose max_bytes does
 * not fit the reservations left is refused (500/10047 file, 500/10028
 * memory; no max_bytes counts as 1 byte), so are two reservations that
 * together pass the limit; a stream without max_bytes takes messages
 * while the bytes held stay within the limit, then every publish to that
 * storage type gets 503/10023; a restart under a smaller limit leaves
 * the stream that no longer fits unloaded.  $JS.API.INFO keeps
 * reporting the account limits as -1.  Checked against nats-server
 * 2.9.10 too.
 *
 * NOTES
 *   /jsz "reserved_storage" / "reserved_memory" are checked too.  The
 *   store lives in a temp dir removed at the end; the server is
 *   restarted on it once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define WAIT_MS 5000
#define LIMIT (1 << 20)         /* 1MB in the config */
#define PAYLOAD 10000

static char payload[PAYLOAD];

/* Create stream name on subject subj with extra config members. */
static void
create(natsConnection *nc, const char *name, const char *subj,
       const char *extra, char *out, size_t len)
{
    char s[96], body[256];

    snprintf(s, sizeof(s), "$JS.API.STREAM.CREATE.%s", name);
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"subjects\":[\"%s\"]%s%s}",
             name, subj, extra ? "," : "", extra ? extra : "");
    dt_js_req(nc, s, body, out, len);
}

/* The /jsz member `key` reaches `want` (bounded wait: the numbers may be
 * refreshed every few hundred ms); skipped when not reported. */
static void
check_jsz(const struct dt_server *s, const char *key, long long want)
{
    char body[4096];
    long long v = -1;

    /* up to 10 s: the counters follow the storage loop, which may sit in
     * a directory fsync for seconds on a loaded disk */
    int status = 0;
    for (int i = 0; i < 200; i++) {
        status = dt_http_get(s->http_port, "/jsz", body, sizeof(body));
        if (status != 200) {
            dt_sleep_ms(50);
            continue;
        }
        if (dt_json_int(body, key, &v) == -ENOENT) {
            printf("/jsz has no %s: not checked\n", key);
            return;
        }
        if (v == want)
            return;
        dt_sleep_ms(50);
    }
    CHECK_MSG(0, "/jsz %s: %lld, want %lld (last HTTP status %d)", key, v,
              want, status);
}

static void
test_info(natsConnection *nc)
{
    char r[2048];

    dt_js_req(nc, "$JS.API.INFO", "", r, sizeof(r));
    CHECK_INT(dt_jint(r, "max_memory"), ==, -1);
    CHECK_INT(dt_jint(r, "max_storage"), ==, -1);
}

/* (a) max_bytes above the limit; no max_bytes when all is reserved. */
static void
test_create_too_big(const struct dt_server *s, natsConnection *nc)
{
    char r[2048], extra[64];

    snprintf(extra, sizeof(extra), "\"max_bytes\":%d", 2 * LIMIT);
    create(nc, "A", "a", extra, r, sizeof(r));
    dt_js_err(r, 500, 10047, "insufficient storage resources available");
    snprintf(extra, sizeof(extra), "\"max_bytes\":%d,\"storage\":\"memory\"",
             2 * LIMIT);
    create(nc, "AM", "am", extra, r, sizeof(r));
    dt_js_err(r, 500, 10028, "insufficient memory resources available");
    snprintf(extra, sizeof(extra), "\"max_bytes\":%d", LIMIT);
    create(nc, "A", "a", extra, r, sizeof(r));
    CHECK_INT(dt_jint(r, "max_bytes"), ==, LIMIT);
    check_jsz(s, "reserved_storage", LIMIT);
    create(nc, "B", "b", NULL, r, sizeof(r));
    dt_js_err(r, 500, 10047, "insufficient storage resources available");
    dt_js_req(nc, "$JS.API.STREAM.DELETE.A", "", r, sizeof(r));
    CHECK(strstr(r, "\"success\":true") != NULL);
    check_jsz(s, "reserved_storage", 0);
}

/* (c) two reservations that together pass the limit, both types. */
static void
test_two_reservations(const struct dt_server *s, natsConnection *nc)
{
    static const char *const st[2] = { "file", "memory" };
    char r[2048], extra[96];

    for (int k = 0; k < 2; k++) {
        snprintf(extra, sizeof(extra), "\"storage\":\"%s\",\"max_bytes\":%d",
                 st[k], LIMIT / 2);
        create(nc, "C", "c", extra, r, sizeof(r));
        CHECK_INT(dt_jint(r, "max_bytes"), ==, LIMIT / 2);
        snprintf(extra, sizeof(extra), "\"storage\":\"%s\",\"max_bytes\":%d",
                 st[k], LIMIT / 2 + 1);
        create(nc, "D", "d", extra, r, sizeof(r));
        if (k == 0)
            dt_js_err(r, 500, 10047, "insufficient storage resources "
                      "available");
        else
            dt_js_err(r, 500, 10028, "insufficient memory resources "
                      "available");
        snprintf(extra, sizeof(extra), "\"storage\":\"%s\",\"max_bytes\":%d",
                 st[k], LIMIT / 2);
        create(nc, "D", "d", extra, r, sizeof(r));
        CHECK_INT(dt_jint(r, "max_bytes"), ==, LIMIT / 2);
        check_jsz(s, k ? "reserved_memory" : "reserved_storage", LIMIT);
        dt_js_req(nc, "$JS.API.STREAM.DELETE.C", "", r, sizeof(r));
        dt_js_req(nc, "$JS.API.STREAM.DELETE.D", "", r, sizeof(r));
        check_jsz(s, k ? "reserved_memory" : "reserved_storage", 0);
    }
}

/* Publish PAYLOAD bytes until the first error reply; returns how many
 * were acknowledged, the error reply in r. */
static int
fill(natsConnection *nc, const char *subj, char *r, size_t len)
{
    for (int i = 0; i < 200; i++) {
        natsMsg *m = NULL;
        r[0] = '\0';
        if (natsConnection_Request(&m, nc, subj, payload, PAYLOAD, WAIT_MS)
            != NATS_OK)
            return -1;
        snprintf(r, len, "%.*s", natsMsg_GetDataLength(m),
                 natsMsg_GetData(m));
        natsMsg_Destroy(m);
        if (strstr(r, "\"error\"") != NULL)
            return i;
    }
    return 200;
}

/* (b) a file stream without max_bytes past the limit; (d) memory. */
static void
test_publish_past_limit(const struct dt_server *s, natsConnection *nc)
{
    char r[2048];
    long long v;

    create(nc, "F", "f", NULL, r, sizeof(r));
    CHECK_STR(dt_jstr(r, "name"), "F");
    create(nc, "H", "h", "\"max_bytes\":100000", r, sizeof(r));
    CHECK_STR(dt_jstr(r, "name"), "H");
    /* usage <= limit: stored (the last one passes it), then refused */
    CHECK_INT(fill(nc, "f", r, sizeof(r)), ==, 105);
    CHECK_STR(r, "{\"error\":{\"code\":503,\"err_code\":10023,"
              "\"description\":\"insufficient resources\"},\"stream\":\"F\","
              "\"seq\":0}");
    /* any file stream, even one with room of its own */
    dt_js_req(nc, "h", "x", r, sizeof(r));
    dt_js_err(r, 503, 10023, "insufficient resources");
    CHECK(dt_http_wait_int(s->http_port, "/jsz", "storage", LIMIT + 1,
                           WAIT_MS, &v) == 0);
    /* memory has its own limit */
    create(nc, "M", "m", "\"storage\":\"memory\"", r, sizeof(r));
    CHECK_STR(dt_jstr(r, "storage"), "memory");
    CHECK_INT(fill(nc, "m", r, sizeof(r)), ==, 105);
    CHECK_STR(r, "{\"error\":{\"code\":503,\"err_code\":10023,"
              "\"description\":\"insufficient resources\"},\"stream\":\"M\","
              "\"seq\":0}");
    /* room again; the refused publishes used no sequence */
    dt_js_req(nc, "$JS.API.STREAM.PURGE.F", "{\"keep\":50}", r, sizeof(r));
    CHECK_INT(dt_jint(r, "purged"), ==, 55);
    dt_js_req(nc, "f", "x", r, sizeof(r));
    CHECK_STR(r, "{\"stream\":\"F\", \"seq\":106}");
    dt_js_req(nc, "$JS.API.STREAM.DELETE.M", "", r, sizeof(r));
    dt_js_req(nc, "$JS.API.STREAM.DELETE.F", "", r, sizeof(r));
    dt_js_req(nc, "$JS.API.STREAM.DELETE.H", "", r, sizeof(r));
}

/* Two 512 KiB reservations, then a restart under 700 KiB: the first in
 * name order is loaded, the second stays on disk, unloaded. */
static void
test_restart_smaller(struct dt_server *s, const char *store)
{
    natsConnection *nc = NULL;
    char r[2048], conf[512], extra[64];

    REQUIRE((nc = dt_nats_connect(s->url, NULL)) != NULL);
    snprintf(extra, sizeof(extra), "\"max_bytes\":%d", LIMIT / 2);
    create(nc, "RA", "ra", extra, r, sizeof(r));
    CHECK_STR(dt_jstr(r, "name"), "RA");
    create(nc, "RB", "rb", extra, r, sizeof(r));
    CHECK_STR(dt_jstr(r, "name"), "RB");
    natsConnection_Destroy(nc);
    nc = NULL;
    CHECK_INT(dt_server_stop(s), >=, 0);     /* nats-server exits 1 */
    memset(s, 0, sizeof(*s));
    snprintf(conf, sizeof(conf), "jetstream {\n  store_dir: \"%s\"\n"
             "  max_file_store: 700KB\n  max_memory_store: 1MB\n}\n", store);
    REQUIRE(dt_server_start(s, conf, NULL) == 0);
    REQUIRE((nc = dt_nats_connect(s->url, NULL)) != NULL);
    dt_js_req(nc, "$JS.API.STREAM.NAMES", "", r, sizeof(r));
    CHECK(strstr(r, "\"streams\":[\"RA\"]") != NULL);
    check_jsz(s, "reserved_storage", LIMIT / 2);
    dt_js_req(nc, "$JS.API.STREAM.INFO.RB", "", r, sizeof(r));
    CHECK_INT(dt_jint(r, "err_code"), ==, 10059);
out:
    natsConnection_Destroy(nc);
}

int
main(int argc, char **argv)
{
    struct dt_server srv;
    natsConnection *nc = NULL;
    char store[256], conf[512];

    (void)argc;
    memset(&srv, 0, sizeof(srv));
    memset(payload, 'x', sizeof(payload));
    if (dt_server_bin() == NULL || dt_mkdtemp(store, sizeof(store),
                                              "dt-jslim") < 0) {
        printf("SKIP: no server binary or no temp dir\n");
        return DT_EXIT_SKIP;
    }
    snprintf(conf, sizeof(conf), "jetstream {\n  store_dir: \"%s\"\n"
             "  max_file_store: 1MB\n  max_memory_store: 1MB\n}\n", store);
    if (dt_server_start_or_skip(&srv, conf, NULL) != 0) {
        CHECK(0);
        goto out;
    }
    REQUIRE((nc = dt_nats_connect(srv.url, NULL)) != NULL);
    test_info(nc);
    test_create_too_big(&srv, nc);
    test_two_reservations(&srv, nc);
    test_publish_past_limit(&srv, nc);
    natsConnection_Destroy(nc);
    nc = NULL;
    test_restart_smaller(&srv, store);
out:
    natsConnection_Destroy(nc);
    int rc = dt_nats_finish(&srv, argv[0]);
    dt_remove_tree(store);
    return rc;
}
