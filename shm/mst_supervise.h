/*
 * mst_supervise.h -- the master's children: spawn, watch, restart, stop.
 *
 * NOTES
 *   The master owns every long-lived fd (fabric memfd, listeners,
 *   eventfds) so that they outlive any child; children get them by
 *   inheritance at exec.  One epoll loop watches a signalfd, one pidfd
 *   per child, each child's control socket and a timerfd for restart
 *   back-off.  The master never touches a ring.
 */
#ifndef MST_SUPERVISE_H
#define MST_SUPERVISE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "mst_options.h"
#include "shm.h"

enum mst_role { MST_ROUTER, MST_GATEWAY, MST_STORAGE };

struct mst_child {
    enum mst_role role;
    unsigned index;           /* fabric port (gateway worker, storage) */
    pid_t pid;                /* 0 when not running */
    int pidfd;
    int ctl_fd;               /* master's end of the control socketpair */
    bool ready;
    uint64_t started_ns;
    uint64_t restart_at_ns;   /* 0 = no restart pending */
    uint32_t backoff_ms;
    uint32_t restarts;
};

struct mst_supervisor {
    struct shm_handle h;
    int fabric_fd;
    int listen_fd[SHM_MAX_GATEWAYS];  /* one per gateway worker */
    int http_fd;              /* -1 when monitoring is off */
    int efd[1 + SHM_MAX_GATEWAYS];
    struct mst_child child[1 + SHM_MAX_GATEWAYS]; /* [0] router, then
                                                     one per port */
    unsigned n_child;
    int epfd, sigfd, timerfd;
    bool announced_ready;
    struct mst_options *opts;     /* the running configuration, and */
    int argc;                     /* ... what it was loaded from (for a */
    char **argv;                  /* ... reload); set by the caller */
    uint64_t ldm_grace_end_ns;    /* lame duck mode: 0 = not in it */
    uint64_t ldm_end_ns;          /* stop by then whatever is left */
    char bin_router[PATH_MAX];
    char bin_gateway[PATH_MAX];
    char bin_storage[PATH_MAX];
};

/* Create fabric, listeners and eventfds; spawn every child. */
int  mst_supervisor_start(struct mst_supervisor *sv,
                          const struct mst_options *o);
/* Serve until SIGINT/SIGTERM; returns the process exit code. */
int  mst_supervisor_run(struct mst_supervisor *sv);
/* Stop children (TERM, then KILL after a grace) and release everything. */
void mst_supervisor_stop(struct mst_supervisor *sv);

#endif /* MST_SUPERVISE_H */
