/*
 * dt_child.c -- start-up and control channel of a supervised child
 * (see dt_child.h).
 */
#include "dt_child.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dt_log.h"

#define CTL_MSG_MAX 4096

int
dt_channel_send(int fd, const Dialtone__Supervise *m)
{
    uint8_t buf[CTL_MSG_MAX];
    size_t n = dialtone__supervise__get_packed_size(m);
    if (n > sizeof(buf))
        return -EMSGSIZE;
    dialtone__supervise__pack(m, buf);
    if (send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
        return -errno;
    return 0;
}

int
dt_channel_recv(int fd, Dialtone__Supervise **out)
{
    uint8_t buf[CTL_MSG_MAX];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == -1)
        return errno == EAGAIN ? 0 : -errno;
    if (n == 0)
        return -EPIPE;
    *out = dialtone__supervise__unpack(NULL, (size_t)n, buf);
    return *out ? 1 : -EBADMSG;
}

static int
parse_efds(struct dt_child *c, const char *s)
{
    char *end;
    c->n_efd = 0;
    while (*s && c->n_efd < 1 + SHM_MAX_GATEWAYS) {
        long v = strtol(s, &end, 10);
        if (end == s || v < 0)
            return -EINVAL;
        c->efd[c->n_efd++] = (int)v;
        s = *end == ',' ? end + 1 : end;
    }
    return c->n_efd ? 0 : -EINVAL;
}

static int
parse_args(struct dt_child *c, int argc, char **argv, int *fabric_fd)
{
    *fabric_fd = -1;
    c->ctl_fd = c->listen_fd = c->http_fd = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--fabric-fd") == 0)
            *fabric_fd = atoi(v);
        else if (strcmp(k, "--ctl-fd") == 0)
            c->ctl_fd = atoi(v);
        else if (strcmp(k, "--listen-fd") == 0)
            c->listen_fd = atoi(v);
        else if (strcmp(k, "--http-fd") == 0)
            c->http_fd = atoi(v);
        else if (strcmp(k, "--index") == 0)
            c->index = (unsigned)atoi(v);
        else if (strcmp(k, "--gen") == 0)
            c->gen = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(k, "--efds") == 0) {
            if (parse_efds(c, v) < 0)
                return -EINVAL;
        } else
            return -EINVAL;
    }
    return *fabric_fd >= 0 && c->ctl_fd >= 0 && c->n_efd ? 0 : -EINVAL;
}

static void
send_hello(struct dt_child *c, Dialtone__Subsystem subsystem)
{
    Dialtone__Hello hello = DIALTONE__HELLO__INIT;
    hello.subsystem = subsystem;
    hello.index = c->index;
    hello.layout_version = SHM_LAYOUT_VERSION;
    hello.generation = c->gen;
    hello.build_id = (char *)"dialtone";
    hello.pid = (uint32_t)getpid();
    Dialtone__Supervise m = DIALTONE__SUPERVISE__INIT;
    m.version = 1;
    m.body_case = DIALTONE__SUPERVISE__BODY_HELLO;
    m.hello = &hello;
    dt_channel_send(c->ctl_fd, &m);
}

static volatile int *stop_flag;

static void
on_term(int sig)
{
    (void)sig;
    if (stop_flag)
        *stop_flag = 1;
}

void
dt_child_signals(volatile int *stop)
{
    struct sigaction sa = { .sa_handler = on_term };
    stop_flag = stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int
dt_child_init(struct dt_child *c, int argc, char **argv,
              Dialtone__Subsystem subsystem, const char *tag)
{
    int fabric_fd;
    memset(c, 0, sizeof(*c));
    /* die with the master; it holds the fabric and the listeners */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (parse_args(c, argc, argv, &fabric_fd) < 0) {
        fprintf(stderr, "%s: started without the master's arguments; run "
                "'dialtone' instead\n", argv[0]);
        return -EINVAL;
    }
    int rc = shm_segment_attach(fabric_fd, &c->h);
    if (rc < 0)
        return rc;
    struct shm_settings *s = &c->h.hdr->settings;
    dt_log_set_tag(tag);
    dt_log_init(NULL, (int)s->debug, (int)s->trace);
    dt_log_follow(&s->debug, &s->trace);
    if (getppid() != (pid_t)c->h.hdr->master_pid) {
        dt_error("master is gone before start");
        return -ESRCH;
    }
    send_hello(c, subsystem);
    return 0;
}

void
dt_child_ready(struct dt_child *c)
{
    Dialtone__Ready ready = DIALTONE__READY__INIT;
    Dialtone__Supervise m = DIALTONE__SUPERVISE__INIT;
    m.version = 1;
    m.body_case = DIALTONE__SUPERVISE__BODY_READY;
    m.ready = &ready;
    dt_channel_send(c->ctl_fd, &m);
}

int
dt_child_poll_ctl(struct dt_child *c)
{
    Dialtone__Supervise *m = NULL;
    int rc = dt_channel_recv(c->ctl_fd, &m);
    if (rc <= 0)
        return rc;
    int body = (int)m->body_case;
    if (body == DIALTONE__SUPERVISE__BODY__NOT_SET) {
        /* a newer master sent something we do not know: say so */
        Dialtone__Unknown unk = DIALTONE__UNKNOWN__INIT;
        Dialtone__Supervise r = DIALTONE__SUPERVISE__INIT;
        r.version = 1;
        r.body_case = DIALTONE__SUPERVISE__BODY_UNKNOWN;
        r.unknown = &unk;
        dt_channel_send(c->ctl_fd, &r);
    }
    dialtone__supervise__free_unpacked(m, NULL);
    return body;
}
