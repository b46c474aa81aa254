/*
 * dt_child.h -- what every child of the master does at start: read the
 * fds it inherited from its command line, attach the fabric, greet the
 * master over the control channel, and notice when the master is gone.
 *
 * NOTES
 *   Command line, written by mst_supervise.c and read here:
 *     --fabric-fd N --ctl-fd N --efds a,b,... --index K --gen G
 *     [--listen-fd N] [--http-fd N]
 *   efds[0] wakes the router, efds[1+k] wakes gateway k.
 */
#ifndef DT_CHILD_H
#define DT_CHILD_H

#include "shm.h"
#include "dialtone.pb-c.h"

struct dt_child {
    struct shm_handle h;
    unsigned index;          /* gateway worker index, 0 for the router */
    uint32_t gen;            /* generation the master gave this start */
    int ctl_fd;              /* SOCK_SEQPACKET to the master */
    int listen_fd;           /* client listener (gateways), or -1 */
    int http_fd;             /* monitoring listener (gateways), or -1 */
    int efd[1 + SHM_MAX_GATEWAYS];
    unsigned n_efd;
};

/* SIGTERM and SIGINT set *stop (the loop then ends cleanly); SIGPIPE is
 * ignored, since peers may close sockets under us at any time. */
void dt_child_signals(volatile int *stop);

/* Parse argv, attach, log "<tag> started".  Returns 0 or -errno. */
int  dt_child_init(struct dt_child *c, int argc, char **argv,
                   Dialtone__Subsystem subsystem, const char *tag);
/* Tell the master this child serves now. */
void dt_child_ready(struct dt_child *c);
/* One Supervise message from the master; returns its body case, 0 when
 * nothing is pending, or -errno (-EPIPE: the master is gone). */
int  dt_child_poll_ctl(struct dt_child *c);

int  dt_channel_send(int fd, const Dialtone__Supervise *m);
/* Caller frees *out with dialtone__supervise__free_unpacked. */
int  dt_channel_recv(int fd, Dialtone__Supervise **out);

#endif /* DT_CHILD_H */
