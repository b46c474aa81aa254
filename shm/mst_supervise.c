/*
 * mst_supervise.c -- spawning, watching and restarting the subsystems.
 *
 * NOTES
 *   Signals are blocked and read from a signalfd; each child has a pidfd,
 *   so reaping is an ordinary readable event with no SIGCHLD race.
 *   A child that dies while we are not stopping is restarted after a
 *   back-off (100 ms doubling to 10 s, reset once a child has lived for
 *   30 s), with its generation bumped in the fabric header so that peers
 *   can tell a successor from its predecessor.
 *   Children die with the master (PR_SET_PDEATHSIG in dt_child.c).
 */
#include "mst_supervise.h"
#include "mst_reload.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dialtone.pb-c.h"
#include "dt_child.h"
#include "dt_config.h"
#include "dt_log.h"

#define BACKOFF_MIN_MS   100
#define BACKOFF_MAX_MS   10000
#define STABLE_AFTER_NS  (30ull * 1000000000ull)
#define STOP_GRACE_MS    700
#define STORAGE_GRACE_MS 10000    /* flushing and checkpointing streams */
#define LDM_CHECK_MS     100      /* lame duck mode: look for the end */
#define LDM_SLACK_NS     (5ull * 1000000000ull)

/* epoll tags: low bits say what, high bits which child */
enum { TAG_SIGNAL = 1, TAG_TIMER, TAG_PIDFD, TAG_CTL };
#define TAG(kind, idx) (((uint64_t)(idx) << 8) | (kind))

static int
pidfd_open_compat(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* "router", "storage" or "gateway 3", for log lines */
static const char *
role_name(const struct mst_child *c)
{
    static char buf[32];
    if (c->role == MST_ROUTER)
        return "router";
    if (c->role == MST_STORAGE)
        return "storage";
    snprintf(buf, sizeof(buf), "gateway %u", c->index);
    return buf;
}

/* Find a sibling binary: next to us (installed), or in the build tree. */
static int
find_binary(char *out, size_t outlen, const char *name, const char *subdir)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n == -1)
        return -errno;
    self[n] = '\0';
    char *dir = dirname(self);
    const char *env = getenv("DIALTONE_LIBEXEC");
    const char *cands[3][2] = {
        { env ? env : dir, "" }, { dir, subdir }, { DT_LIBEXECDIR, "" },
    };
    for (int i = 0; i < 3; i++) {
        snprintf(out, outlen, "%s/%s%s%s", cands[i][0], cands[i][1],
                 cands[i][1][0] ? "/" : "", name);
        if (access(out, X_OK) == 0)
            return 0;
    }
    dt_error("cannot find %s next to %s or in %s", name, dir, DT_LIBEXECDIR);
    return -ENOENT;
}

static int
listen_on(const char *host, uint32_t port, const char *what, bool reuseport)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res;
    char pbuf[16];
    snprintf(pbuf, sizeof(pbuf), "%u", port);
    int rc = getaddrinfo(host[0] ? host : NULL, pbuf, &hints, &res);
    if (rc != 0) {
        dt_error("Error listening on %s port: %s:%u, %s", what, host, port,
                 gai_strerror(rc));
        return -EINVAL;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    int one = 1;
    if (fd == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        (reuseport &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1) ||
        bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
        listen(fd, 4096) == -1) {
        rc = -errno;
        dt_error("Error listening on %s port: %s:%u, %s", what, host, port,
                 strerror(-rc));
        if (fd != -1)
            close(fd);
        freeaddrinfo(res);
        return rc;
    }
    freeaddrinfo(res);
    return fd;
}

static void
format_efds(const struct mst_supervisor *sv, char *buf, size_t len)
{
    size_t off = 0;
    for (unsigned i = 0; i < sv->n_child && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%d", i ? "," : "",
                                sv->efd[i]);
}

static void
keep_across_exec(int fd)
{
    if (fd >= 0)
        fcntl(fd, F_SETFD, 0);
}

/* In the forked child: make the inherited fds survive exec, then exec. */
static void
exec_child(struct mst_supervisor *sv, struct mst_child *c, int ctl_fd,
           uint32_t gen)
{
    char fab[16], ctl[16], idx[16], gens[16], lfd[16], hfd[16];
    char efds[16 * (1 + SHM_MAX_GATEWAYS)], title[64];
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    keep_across_exec(sv->fabric_fd);
    keep_across_exec(ctl_fd);
    for (unsigned i = 0; i < sv->n_child; i++)
        keep_across_exec(sv->efd[i]);
    snprintf(fab, sizeof(fab), "%d", sv->fabric_fd);
    snprintf(ctl, sizeof(ctl), "%d", ctl_fd);
    snprintf(idx, sizeof(idx), "%u", c->index);
    snprintf(gens, sizeof(gens), "%u", gen);
    format_efds(sv, efds, sizeof(efds));

    const char *argv[20];
    int n = 0;
    snprintf(title, sizeof(title), "dialtone: %s", role_name(c));
    argv[n++] = title;
    argv[n++] = "--fabric-fd"; argv[n++] = fab;
    argv[n++] = "--ctl-fd";    argv[n++] = ctl;
    argv[n++] = "--efds";      argv[n++] = efds;
    argv[n++] = "--index";     argv[n++] = idx;
    argv[n++] = "--gen";       argv[n++] = gens;
    if (c->role == MST_GATEWAY) {
        keep_across_exec(sv->listen_fd[c->index]);
        snprintf(lfd, sizeof(lfd), "%d", sv->listen_fd[c->index]);
        argv[n++] = "--listen-fd"; argv[n++] = lfd;
        if (sv->http_fd >= 0) {
            keep_across_exec(sv->http_fd);
            snprintf(hfd, sizeof(hfd), "%d", sv->http_fd);
            argv[n++] = "--http-fd"; argv[n++] = hfd;
        }
    }
    argv[n] = NULL;
    const char *path = c->role == MST_ROUTER ? sv->bin_router :
                       c->role == MST_STORAGE ? sv->bin_storage :
                       sv->bin_gateway;
    execv(path, (char *const *)argv);
    dt_error("execv(%s) failed: %s", path, strerror(errno));
    _exit(127);
}

static uint32_t
bump_generation(struct mst_supervisor *sv, struct mst_child *c)
{
    struct shm_header *hdr = sv->h.hdr;
    if (c->role == MST_ROUTER)
        return atomic_fetch_add(&hdr->router_gen, 1) + 1;
    return atomic_fetch_add(&hdr->gateway_gen[c->index], 1) + 1;
}

static int
spawn(struct mst_supervisor *sv, struct mst_child *c)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
        return -errno;
    uint32_t gen = bump_generation(sv, c);
    pid_t pid = fork();
    if (pid == -1) {
        int e = errno;
        close(sp[0]);
        close(sp[1]);
        dt_error("fork() failed for %s: %s", role_name(c), strerror(e));
        return -e;
    }
    if (pid == 0) {
        close(sp[0]);
        exec_child(sv, c, sp[1], gen);
    }
    close(sp[1]);
    c->pid = pid;
    c->ctl_fd = sp[0];
    c->pidfd = pidfd_open_compat(pid);
    c->ready = false;
    c->started_ns = shm_now_ns();
    c->restart_at_ns = 0;
    unsigned i = (unsigned)(c - sv->child);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG(TAG_PIDFD, i) };
    epoll_ctl(sv->epfd, EPOLL_CTL_ADD, c->pidfd, &ev);
    ev.data.u64 = TAG(TAG_CTL, i);
    epoll_ctl(sv->epfd, EPOLL_CTL_ADD, c->ctl_fd, &ev);
    dt_debug("started %s (pid %d, generation %u)", role_name(c), (int)pid,
             gen);
    return 0;
}

/* JetStream: the store directory must be usable before we say we serve,
 * and unset limits get nats-server's defaults (3/4 of memory, 3/4 of the
 * disk space available to the store). */
static int
prepare_jetstream(struct shm_settings *s)
{
    if (mkdir(s->store_dir, 0750) == -1 && errno != EEXIST) {
        int e = errno;
        dt_error("cannot create the JetStream store directory %s: %s",
                 s->store_dir, strerror(e));
        return -e;
    }
    if (access(s->store_dir, W_OK | X_OK) == -1) {
        int e = errno;
        dt_error("JetStream store directory %s is not writable: %s",
                 s->store_dir, strerror(e));
        return -e;
    }
    if (s->js_max_memory <= 0) {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        s->js_max_memory = pages > 0 && psz > 0 ?
                           (int64_t)pages * psz / 4 * 3 : -1;
    }
    struct statvfs vfs;
    if (s->js_max_store <= 0)
        s->js_max_store = statvfs(s->store_dir, &vfs) == 0 ?
            (int64_t)(vfs.f_bavail * vfs.f_frsize / 4 * 3) : -1;
    dt_info("Starting JetStream");
    dt_info("  Max Memory:      %.2f GB", (double)s->js_max_memory / 1e9);
    dt_info("  Max Storage:     %.2f GB", (double)s->js_max_store / 1e9);
    dt_info("  Store Directory: \"%s/dialtone\"", s->store_dir);
    if (s->js_sync_ms == SHM_JS_SYNC_ALWAYS)
        dt_info("  Sync:            always (fdatasync before every ack)");
    return 0;
}

static int
make_fabric(struct mst_supervisor *sv, const struct mst_options *o)
{
    struct shm_layout_params p = {
        .gateways = o->gateway_workers,
        .storage = o->s.jetstream ? 1 : 0,
        .ring_size = o->ring_entries,
        .arena_size = o->arena_bytes,
        .max_conns_per_gw = o->s.max_connections < 65536 ?
                            o->s.max_connections + 1 : 65536,
    };
    int rc = shm_segment_create(&p, &sv->fabric_fd, &sv->h);
    if (rc < 0) {
        dt_error("cannot create the shared-memory fabric: %s", strerror(-rc));
        return rc;
    }
    sv->h.hdr->settings = o->s;
    sv->h.hdr->settings.gateways = o->gateway_workers;
    if (o->s.jetstream && (rc = prepare_jetstream(&sv->h.hdr->settings)) < 0)
        return rc;
    if (o->s.jetstream) {
        /* JetStream listens even before its process has subscribed: no
         * gateway may take the router-less path for a publish meanwhile,
         * or $JS.API requests would find no responders */
        struct shm_header *hdr = sv->h.hdr;
        atomic_store(&hdr->interest[hdr->storage_port], 1);
        atomic_store(&hdr->interest_total, 1);
    }
    sv->h.hdr->settings.start_ns = shm_wall_ns();
    struct shm_settings *set = &sv->h.hdr->settings;
    dt_log_follow(&set->debug, &set->trace);    /* a reload reaches us too */
    snprintf(set->http_host, sizeof(set->http_host), "%s",
             o->http_host[0] ? o->http_host : o->s.host);
    snprintf(set->config_file, sizeof(set->config_file), "%s",
             o->config_file);
    return 0;
}

static int
make_loop(struct mst_supervisor *sv)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sv->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    sv->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    sv->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (sv->sigfd == -1 || sv->timerfd == -1 || sv->epfd == -1)
        return -errno;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_SIGNAL };
    epoll_ctl(sv->epfd, EPOLL_CTL_ADD, sv->sigfd, &ev);
    ev.data.u64 = TAG_TIMER;
    epoll_ctl(sv->epfd, EPOLL_CTL_ADD, sv->timerfd, &ev);
    /* a 100 ms tick drives restart back-off; cheap and simple */
    struct itimerspec its = { .it_interval = { 0, 100000000 },
                              .it_value = { 0, 100000000 } };
    timerfd_settime(sv->timerfd, 0, &its, NULL);
    return 0;
}

/* The port a listening socket got (the asked one, or the kernel's pick). */
static uint32_t
bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* One listening socket per gateway worker, all on the client port
 * (SO_REUSEPORT): the kernel spreads new connections over the workers by
 * their address hash.  One shared socket (EPOLLEXCLUSIVE) woke the same
 * idle worker for every connection, so a second worker got none.  A dead
 * worker's socket stays open here: its share of new connections waits in
 * the backlog for its successor.
 * SO_REUSEPORT would also let a second server of the same user share the
 * port and take half the connections; so the port is first taken without
 * it, as nats-server takes it ("address already in use" if anyone holds
 * it), and handed over to the group right after. */
static int
listen_clients(struct mst_supervisor *sv, const struct mst_options *o)
{
    unsigned n = sv->h.hdr->gateways;
    uint32_t port = o->s.port;
    if (n > 1) {
        int probe = listen_on(o->s.host, port, "client", false);
        if (probe < 0)
            return probe;
        port = bound_port(probe);
        close(probe);
        if (port == 0)
            return -EINVAL;
    }
    for (unsigned i = 0; i < n; i++) {
        int fd = listen_on(o->s.host, port, "client", n > 1);
        if (fd < 0)
            return fd;
        sv->listen_fd[i] = fd;
        if (i == 0 && (port = bound_port(fd)) == 0)
            return -EINVAL;
    }
    return 0;
}

int
mst_supervisor_start(struct mst_supervisor *sv, const struct mst_options *o)
{
    memset(sv, 0, sizeof(*sv));
    sv->fabric_fd = sv->http_fd = -1;
    for (unsigned i = 0; i < SHM_MAX_GATEWAYS; i++)
        sv->listen_fd[i] = -1;
    int rc;
    if ((rc = find_binary(sv->bin_router, sizeof(sv->bin_router),
                          "dialtone-router", "../router")) < 0 ||
        (rc = find_binary(sv->bin_gateway, sizeof(sv->bin_gateway),
                          "dialtone-gateway", "../gateway")) < 0 ||
        (o->s.jetstream &&
         (rc = find_binary(sv->bin_storage, sizeof(sv->bin_storage),
                           "dialtone-storage", "../storage")) < 0))
        return rc;
    if ((rc = make_loop(sv)) < 0 || (rc = make_fabric(sv, o)) < 0)
        return rc;

    if ((rc = listen_clients(sv, o)) < 0)
        return rc;
    if (o->s.http_port) {
        const char *hh = sv->h.hdr->settings.http_host;
        sv->http_fd = listen_on(hh, o->s.http_port, "monitoring", false);
        if (sv->http_fd < 0)
            return sv->http_fd;
        dt_info("Starting http monitor on %s:%u", hh, o->s.http_port);
    }
    /* child i > 0 serves port i - 1 and is woken by efd[i] */
    sv->n_child = 1 + sv->h.hdr->ports;
    for (unsigned i = 0; i < sv->n_child; i++) {
        sv->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (sv->efd[i] == -1)
            return -errno;
        sv->child[i].role = i == 0 ? MST_ROUTER :
                            i - 1 == sv->h.hdr->storage_port ? MST_STORAGE :
                            MST_GATEWAY;
        sv->child[i].index = i == 0 ? 0 : i - 1;
        sv->child[i].pidfd = sv->child[i].ctl_fd = -1;
        sv->child[i].backoff_ms = BACKOFF_MIN_MS;
    }
    dt_info("Listening for client connections on %s:%u", o->s.host,
            o->s.port);
    for (unsigned i = 0; i < sv->n_child; i++)
        if ((rc = spawn(sv, &sv->child[i])) < 0)
            return rc;
    return 0;
}

static void
forget_child(struct mst_supervisor *sv, struct mst_child *c)
{
    if (c->pidfd >= 0) {
        epoll_ctl(sv->epfd, EPOLL_CTL_DEL, c->pidfd, NULL);
        close(c->pidfd);
    }
    if (c->ctl_fd >= 0) {
        epoll_ctl(sv->epfd, EPOLL_CTL_DEL, c->ctl_fd, NULL);
        close(c->ctl_fd);
    }
    c->pidfd = c->ctl_fd = -1;
    c->pid = 0;
    c->ready = false;
}

static void
on_child_exit(struct mst_supervisor *sv, struct mst_child *c, bool stopping)
{
    int status = 0;
    if (waitpid(c->pid, &status, WNOHANG) <= 0)
        return;
    uint64_t now = shm_now_ns();
    uint64_t lived = now - c->started_ns;
    if (!stopping) {
        if (WIFSIGNALED(status))
            dt_error("%s (pid %d) killed by signal %d", role_name(c),
                     (int)c->pid, WTERMSIG(status));
        else
            dt_error("%s (pid %d) exited with status %d", role_name(c),
                     (int)c->pid, WEXITSTATUS(status));
    }
    forget_child(sv, c);
    if (stopping || sv->ldm_grace_end_ns)
        return;                 /* in lame duck mode nothing comes back */
    if (lived > STABLE_AFTER_NS)
        c->backoff_ms = BACKOFF_MIN_MS;
    c->restart_at_ns = now + (uint64_t)c->backoff_ms * 1000000ull;
    dt_warn("restarting %s in %u ms", role_name(c), c->backoff_ms);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                       : c->backoff_ms * 2;
}

static void
on_timer(struct mst_supervisor *sv)
{
    uint64_t ticks;
    ssize_t n = read(sv->timerfd, &ticks, sizeof(ticks));
    (void)n;
    uint64_t now = shm_now_ns();
    for (unsigned i = 0; i < sv->n_child; i++) {
        struct mst_child *c = &sv->child[i];
        if (c->pid == 0 && c->restart_at_ns && now >= c->restart_at_ns) {
            c->restarts++;
            if (spawn(sv, c) < 0)
                c->restart_at_ns = now + (uint64_t)c->backoff_ms * 1000000ull;
        }
    }
}

static void
on_ctl(struct mst_supervisor *sv, struct mst_child *c)
{
    Dialtone__Supervise *m = NULL;
    int rc = dt_channel_recv(c->ctl_fd, &m);
    if (rc < 0) {
        /* EOF: the pidfd event will follow; stop polling this socket */
        epoll_ctl(sv->epfd, EPOLL_CTL_DEL, c->ctl_fd, NULL);
        return;
    }
    if (rc == 0)
        return;
    if (m->body_case == DIALTONE__SUPERVISE__BODY_HELLO &&
        m->hello->layout_version != SHM_LAYOUT_VERSION)
        dt_error("%s speaks fabric layout %u, we have %u", role_name(c),
                 m->hello->layout_version, SHM_LAYOUT_VERSION);
    if (m->body_case == DIALTONE__SUPERVISE__BODY_READY) {
        c->ready = true;
        if (c->restarts)
            dt_info("%s is back (pid %d)", role_name(c), (int)c->pid);
    }
    dialtone__supervise__free_unpacked(m, NULL);

    bool all = true;
    for (unsigned i = 0; i < sv->n_child; i++)
        all = all && sv->child[i].ready;
    if (all && !sv->announced_ready) {
        sv->announced_ready = true;
        dt_info("Server is ready");
    }
}

/* nats-server's lame duck mode (SIGUSR2): no new clients (our copies of
 * the listening sockets close, the gateways close theirs), the gateways
 * tell their clients (INFO "ldm") and evict them, one by one, after the
 * grace period; we stop once none is left or the duration is over. */
static void
enter_lame_duck(struct mst_supervisor *sv)
{
    if (sv->ldm_grace_end_ns)
        return;
    const struct shm_settings *s = &sv->h.hdr->settings;
    dt_info("Entering lame duck mode, stop accepting new clients");
    for (unsigned i = 0; i < SHM_MAX_GATEWAYS; i++)
        if (sv->listen_fd[i] >= 0) {
            close(sv->listen_fd[i]);
            sv->listen_fd[i] = -1;
        }
    uint64_t now = shm_now_ns();
    sv->ldm_grace_end_ns = now + s->ldm_grace_ms * 1000000ull;
    sv->ldm_end_ns = sv->ldm_grace_end_ns + s->ldm_duration_ms * 1000000ull +
                     LDM_SLACK_NS;
    Dialtone__Drain drain = DIALTONE__DRAIN__INIT;
    Dialtone__Supervise m = DIALTONE__SUPERVISE__INIT;
    m.version = 1;
    m.body_case = DIALTONE__SUPERVISE__BODY_DRAIN;
    m.drain = &drain;
    for (unsigned i = 0; i < sv->n_child; i++)
        if (sv->child[i].role == MST_GATEWAY && sv->child[i].ctl_fd >= 0)
            dt_channel_send(sv->child[i].ctl_fd, &m);
}

/* In lame duck mode: time to stop? */
static bool
lame_duck_done(struct mst_supervisor *sv)
{
    uint64_t now = shm_now_ns();
    if (sv->ldm_grace_end_ns == 0 || now < sv->ldm_grace_end_ns)
        return false;
    return atomic_load(&sv->h.hdr->num_conns) == 0 || now >= sv->ldm_end_ns;
}

/* Returns 1 when the signal asks us to stop. */
static int
on_signal(struct mst_supervisor *sv)
{
    struct signalfd_siginfo si;
    int stop = 0;
    while (read(sv->sigfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
            dt_info("Trapped \"%s\" signal", si.ssi_signo == SIGINT ?
                    "interrupt" : "terminated");
            stop = 1;
        } else if (si.ssi_signo == SIGHUP) {
            if (sv->opts != NULL)
                mst_reload(sv->opts, &sv->h.hdr->settings, sv->argc,
                           sv->argv);
        } else if (si.ssi_signo == SIGUSR1) {
            dt_warn("log reopening is not supported yet; ignoring SIGUSR1");
        } else if (si.ssi_signo == SIGUSR2) {
            enter_lame_duck(sv);
        }
    }
    return stop;
}

int
mst_supervisor_run(struct mst_supervisor *sv)
{
    for (;;) {
        struct epoll_event evs[16];
        int n = epoll_wait(sv->epfd, evs, 16,
                           sv->ldm_grace_end_ns ? LDM_CHECK_MS : -1);
        if (lame_duck_done(sv)) {
            dt_info("Lame duck mode: every client is gone, stopping");
            return 0;
        }
        if (n == -1 && errno != EINTR) {
            dt_error("epoll_wait() failed: %s", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            struct mst_child *c = &sv->child[tag >> 8];
            switch (tag & 0xff) {
            case TAG_SIGNAL:
                if (on_signal(sv))
                    return 0;
                break;
            case TAG_TIMER:
                on_timer(sv);
                break;
            case TAG_PIDFD:
                on_child_exit(sv, c, false);
                break;
            case TAG_CTL:
                on_ctl(sv, c);
                break;
            }
        }
    }
}

/* Wait for every child to exit, at most grace_ms; true if all did. */
static bool
wait_children(struct mst_supervisor *sv, int grace_ms)
{
    uint64_t deadline = shm_now_ns() + (uint64_t)grace_ms * 1000000ull;
    for (;;) {
        bool alive = false;
        for (unsigned i = 0; i < sv->n_child; i++) {
            struct mst_child *c = &sv->child[i];
            if (c->pid && waitpid(c->pid, NULL, WNOHANG) == c->pid)
                forget_child(sv, c);
            alive = alive || c->pid;
        }
        if (!alive)
            return true;
        if (shm_now_ns() >= deadline)
            return false;
        usleep(5000);
    }
}

static void
signal_children(struct mst_supervisor *sv, int sig)
{
    for (unsigned i = 0; i < sv->n_child; i++)
        if (sv->child[i].pid)
            kill(sv->child[i].pid, sig);
}

void
mst_supervisor_stop(struct mst_supervisor *sv)
{
    if (sv->h.hdr)
        atomic_store(&sv->h.hdr->shutting_down, 1);
    signal_children(sv, SIGTERM);
    bool storage = sv->h.hdr && sv->h.hdr->storage_port != SHM_NO_PORT;
    if (!wait_children(sv, storage ? STORAGE_GRACE_MS : STOP_GRACE_MS)) {
        dt_warn("children did not stop in %d ms; killing them",
                storage ? STORAGE_GRACE_MS : STOP_GRACE_MS);
        signal_children(sv, SIGKILL);
        wait_children(sv, 1000);
    }
    for (unsigned i = 0; i < sv->n_child; i++)
        if (sv->efd[i] > 0)
            close(sv->efd[i]);
    for (unsigned i = 0; i < SHM_MAX_GATEWAYS; i++)
        if (sv->listen_fd[i] >= 0)
            close(sv->listen_fd[i]);
    if (sv->http_fd >= 0)
        close(sv->http_fd);
    dt_log_follow(NULL, NULL);      /* the settings are going away */
    shm_segment_detach(&sv->h);
    if (sv->fabric_fd >= 0)
        close(sv->fabric_fd); /* the memfd, and so the fabric, is gone */
}
