/*
 * main.c -- `dialtone-router`: started by the master, never by hand.
 */
#include <signal.h>
#include <stdlib.h>

#include "dt_log.h"
#include "rt_router.h"

static struct rt_router router;

static void
on_term(int sig)
{
    (void)sig;
    router.stop = 1;
}

int
main(int argc, char **argv)
{
    struct sigaction sa = { .sa_handler = on_term };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (dt_child_init(&router.ch, argc, argv, DIALTONE__SUBSYSTEM__ROUTER,
                      "router") < 0)
        return 2;
    if (rt_router_init(&router) < 0) {
        dt_error("router: out of memory at start");
        return 2;
    }
    int code = rt_router_run(&router);
    rt_router_free(&router);
    return code;
}
