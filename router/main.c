/*
 * main.c -- `dialtone-router`: started by the master, never by hand.
 */
#include <signal.h>
#include <stdlib.h>

#include "dt_log.h"
#include "rt_router.h"

static struct rt_router router;

int
main(int argc, char **argv)
{
    dt_child_signals(&router.stop);
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
