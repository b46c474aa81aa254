/*
 * test_reload.c -- config reload (`--signal reload=<pid>`, i.e. SIGHUP):
 * a changed max_payload reaches new clients, debug logging switched on
 * shows up in the log; a reload that also changes
 * something that cannot be reloaded (server_name) is refused whole, and
 * the server keeps serving with what it had.  Checked against
 * nats-server 2.9.10 too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

/* max_payload a new client is told, or -1. */
static int64_t
client_max_payload(const char *url)
{
    natsConnection *nc = dt_nats_connect(url, NULL);
    int64_t v = nc ? natsConnection_GetMaxPayload(nc) : -1;
    natsConnection_Destroy(nc);
    return v;
}

static bool
rewrite(const struct dt_server *s, const char *text)
{
    FILE *f = fopen(s->conf, "w");
    if (f == NULL)
        return false;
    fputs(text, f);
    return fclose(f) == 0;
}

static void
reload(const struct dt_server *s)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s --signal reload=%d", dt_server_bin(),
             (int)s->pid);
    CHECK(system(cmd) == 0);
}

/* Does the server log hold a debug line? */
static bool
log_has_debug(const struct dt_server *s)
{
    char path[320], line[1024];
    snprintf(path, sizeof(path), "%s/server.log", s->dir);
    FILE *f = fopen(path, "r");
    bool found = false;
    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, "[DBG]") != NULL;
    if (f)
        fclose(f);
    return found;
}

/* Debug logging switched on by a reload reaches the processes that
 * handle clients (a client's close is a debug line in both servers). */
static void
test_debug_on(const struct dt_server *s)
{
    CHECK_INT(client_max_payload(s->url), >, 0);
    dt_sleep_ms(200);
    CHECK(!log_has_debug(s));
    REQUIRE(rewrite(s, "max_payload: 2048\ndebug: true\n"));
    reload(s);
    bool found = false;
    for (int i = 0; i < 30 && !found; i++) {
        client_max_payload(s->url);     /* a connect and a close */
        dt_sleep_ms(100);
        found = log_has_debug(s);
    }
    CHECK(found);
out:
    return;
}

/* Poll new clients until they are told `want` (at most ~3 s). */
static int64_t
wait_max_payload(const char *url, int64_t want)
{
    int64_t v = -1;
    for (int i = 0; i < 30 && v != want; i++) {
        v = client_max_payload(url);
        if (v != want)
            dt_sleep_ms(100);
    }
    return v;
}

int
main(int argc, char **argv)
{
    struct dt_server srv;
    (void)argc;
    memset(&srv, 0, sizeof(srv));
    REQUIRE(dt_server_start_or_skip(&srv, "max_payload: 1024\n", NULL) == 0);
    CHECK_INT(client_max_payload(srv.url), ==, 1024);

    REQUIRE(rewrite(&srv, "max_payload: 2048\n"));
    reload(&srv);
    CHECK_INT(wait_max_payload(srv.url, 2048), ==, 2048);
    test_debug_on(&srv);

    /* server_name cannot change on a reload: nothing of it is applied */
    REQUIRE(rewrite(&srv, "max_payload: 4096\nserver_name: other\n"));
    reload(&srv);
    dt_sleep_ms(500);
    CHECK_INT(client_max_payload(srv.url), ==, 2048);
out:
    return dt_nats_finish(&srv, argv[0]);
}
