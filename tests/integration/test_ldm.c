/*
 * test_ldm.c -- lame duck mode (`--signal ldm=<pid>`, i.e. SIGUSR2), as
 * nats-server does it: every
 * client hears "ldm" in an INFO at once, no new client gets in, after
 * lame_duck_grace_period the clients are evicted one by one (at most 1 s
 * apart) and the server then exits with status 0; lame_duck_duration
 * below 30 s is refused with nats-server's words.  Checked against
 * nats-server 2.9.10 too.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define CLIENTS 4

static atomic_int told, gone;

static void
on_ldm(natsConnection *nc, void *closure)
{
    atomic_fetch_add(&told, 1);
}

static void
on_closed(natsConnection *nc, void *closure)
{
    atomic_fetch_add(&gone, 1);
}

static natsConnection *
connect_client(const char *url)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    if (natsOptions_Create(&o) != NATS_OK)
        return NULL;
    natsOptions_SetURL(o, url);
    natsOptions_SetAllowReconnect(o, false);
    natsOptions_SetLameDuckModeCB(o, on_ldm, NULL);
    natsOptions_SetClosedCB(o, on_closed, NULL);
    natsOptions_SetTimeout(o, 2000);
    natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    return nc;
}

static bool
wait_for(atomic_int *v, int want, int ms)
{
    for (int t = 0; t < ms / 20 && atomic_load(v) < want; t++)
        dt_sleep_ms(20);
    return atomic_load(v) >= want;
}

/* lame_duck_duration below 30 s: refused before anything starts. */
static void
test_short_duration_refused(const char *bin)
{
    char dir[256], conf[300], cmd[900], line[512] = "";
    if (dt_mkdtemp(dir, sizeof(dir), "dt-ldmconf") < 0)
        return;
    snprintf(conf, sizeof(conf), "%s/ldm.conf", dir);
    FILE *f = fopen(conf, "w");
    if (f == NULL)
        return;
    fputs("lame_duck_duration: 10s\n", f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "timeout 5 %s -c %s -a 127.0.0.1 -p 0 2>&1",
             bin, conf);
    FILE *p = popen(cmd, "r");
    bool said = false;
    while (p && fgets(line, sizeof(line), p))
        said |= strstr(line, "invalid lame_duck_duration of 10s, minimum "
                             "is 30 seconds") != NULL;
    int st = p ? pclose(p) : -1;
    CHECK(said);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 124);
    dt_remove_tree(dir);
}

int
main(int argc, char **argv)
{
    struct dt_server srv;
    natsConnection *nc[CLIENTS] = { NULL };
    static const char conf[] = "lame_duck_duration: 30s\n"
                               "lame_duck_grace_period: 1s\n";

    (void)argc;
    memset(&srv, 0, sizeof(srv));
    REQUIRE(dt_server_start_or_skip(&srv, conf, NULL) == 0);
    test_short_duration_refused(dt_server_bin());
    for (int i = 0; i < CLIENTS; i++)
        REQUIRE((nc[i] = connect_client(srv.url)) != NULL);

    /* `<server> --signal ldm=<pid>`, as an operator does (SIGUSR2) */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s --signal ldm=%d", dt_server_bin(),
             (int)srv.pid);
    int64_t t0 = dt_now_ms();
    REQUIRE(system(cmd) == 0);
    CHECK(wait_for(&told, CLIENTS, 2000));
    dt_sleep_ms(300);
    natsConnection *late = connect_client(srv.url);
    CHECK(late == NULL);                /* no new client gets in */
    natsConnection_Destroy(late);
    /* evicted after the 1 s grace, at most 1 s apart */
    CHECK(wait_for(&gone, CLIENTS, 10000));
    int64_t took = dt_now_ms() - t0;
    printf("%d told, %d evicted after %lld ms\n", atomic_load(&told),
           atomic_load(&gone), (long long)took);
    CHECK(took >= 900 && took < 8000);
    /* then the server exits by itself, with status 0 */
    CHECK_INT(dt_server_wait(&srv, 10000), ==, 0);
    dt_server_cleanup(&srv);
out:
    for (int i = 0; i < CLIENTS; i++)
        natsConnection_Destroy(nc[i]);
    return dt_nats_finish(&srv, argv[0]);
}
