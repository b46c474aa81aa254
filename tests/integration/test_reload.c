/*
 * test_reload.c -- config reload (`--signal reload=<pid>`, i.e. SIGHUP):
 * a changed max_payload reaches new clients; a reload that also changes
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

    /* server_name cannot change on a reload: nothing of it is applied */
    REQUIRE(rewrite(&srv, "max_payload: 4096\nserver_name: other\n"));
    reload(&srv);
    dt_sleep_ms(500);
    CHECK_INT(client_max_payload(srv.url), ==, 2048);
out:
    return dt_nats_finish(&srv, argv[0]);
}
