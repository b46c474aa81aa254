/*
 * dt_relay.c -- the floor of a NATS round trip on this machine: the least
 * a server can do and still carry the benchmark's request/reply traffic.
 *
 * One thread, one epoll loop, level-triggered: read what a socket has,
 * turn each PUB into MSG for every subscription with exactly that subject
 * and send it with one send() per message.  No wildcards, queues,
 * headers, authentication, limits or monitoring: it is a measuring stick
 * for `tools/bench compare --floor`, not a server.  Whatever latency it
 * shows belongs to the client library and the kernel (loopback TCP,
 * wake-ups), which every server pays too.
 *
 *   dt-relay PORT        listen on 127.0.0.1:PORT until SIGTERM / SIGINT
 *
 * NOTES
 *   Bounds: RELAY_CONNS connections, RELAY_SUBS subscriptions, lines and
 *   messages up to RELAY_BUF bytes; past them the connection is told
 *   -ERR and closed.  A peer that does not read is closed when its socket
 *   buffer is full (send() would block): no queueing.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_CONNS 256
#define RELAY_SUBS  1024
#define RELAY_BUF   (256 * 1024)

struct relay_conn {
    int fd;                 /* -1: free */
    size_t len;             /* bytes in buf */
    char buf[RELAY_BUF];
};

struct relay_sub {
    int conn;               /* -1: free */
    char sid[32];
    char subject[256];
};

static struct relay_conn *conns;
static struct relay_sub subs[RELAY_SUBS];
static volatile sig_atomic_t stop;

static const char INFO[] =
    "INFO {\"server_id\":\"dt-relay\",\"server_name\":\"dt-relay\","
    "\"version\":\"2.9.10\",\"proto\":1,\"headers\":false,"
    "\"max_payload\":1048576}\r\n";

static void
on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void
close_conn(int epfd, int ci)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, conns[ci].fd, NULL);
    close(conns[ci].fd);
    conns[ci].fd = -1;
    conns[ci].len = 0;
    for (int i = 0; i < RELAY_SUBS; i++)
        if (subs[i].conn == ci)
            subs[i].conn = -1;
}

/* All of buf or false (the peer does not keep up, or is gone). */
static bool
send_all(int fd, const void *buf, size_t len)
{
    return send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len;
}

static void
add_sub(int ci, const char *subject, const char *sid)
{
    for (int i = 0; i < RELAY_SUBS; i++) {
        if (subs[i].conn == -1) {
            subs[i].conn = ci;
            snprintf(subs[i].subject, sizeof subs[i].subject, "%s", subject);
            snprintf(subs[i].sid, sizeof subs[i].sid, "%s", sid);
            return;
        }
    }
}

static void
remove_sub(int ci, const char *sid)
{
    for (int i = 0; i < RELAY_SUBS; i++)
        if (subs[i].conn == ci && strcmp(subs[i].sid, sid) == 0)
            subs[i].conn = -1;
}

/* MSG to every exact-subject subscriber; one send() each. */
static void
relay_pub(int epfd, const char *subject, const char *reply,
          const char *payload, size_t n)
{
    static char out[RELAY_BUF + 512];
    for (int i = 0; i < RELAY_SUBS; i++) {
        if (subs[i].conn < 0 || strcmp(subs[i].subject, subject) != 0)
            continue;
        int h = snprintf(out, 512, "MSG %s %s %s%s%zu\r\n", subject,
                         subs[i].sid, reply, *reply ? " " : "", n);
        memcpy(out + h, payload, n);
        memcpy(out + h + n, "\r\n", 2);
        int ci = subs[i].conn;
        if (!send_all(conns[ci].fd, out, (size_t)h + n + 2))
            close_conn(epfd, ci);
    }
}

/* Bytes of buf consumed by one complete command, 0 when more is needed,
 * -1 when the connection must go. */
static long
one_command(int epfd, int ci, char *buf, size_t len)
{
    char *eol = memchr(buf, '\n', len);
    if (eol == NULL)
        return len >= RELAY_BUF ? -1 : 0;
    size_t line = (size_t)(eol - buf) + 1;
    *eol = '\0';
    if (eol > buf && eol[-1] == '\r')
        eol[-1] = '\0';
    char a[256] = "", b[256] = "", c[256] = "", d[256] = "";
    int nf = sscanf(buf, "%*s %255s %255s %255s %255s", a, b, c, d);
    if (strncasecmp(buf, "PING", 4) == 0)
        return send_all(conns[ci].fd, "PONG\r\n", 6) ? (long)line : -1;
    if (strncasecmp(buf, "SUB ", 4) == 0) {
        add_sub(ci, a, nf == 3 ? c : b);
        return (long)line;
    }
    if (strncasecmp(buf, "UNSUB ", 6) == 0) {
        remove_sub(ci, a);
        return (long)line;
    }
    if (strncasecmp(buf, "PUB ", 4) == 0) {
        const char *reply = nf == 3 ? b : "";
        size_t n = strtoul(nf == 3 ? c : b, NULL, 10);
        if (line + n + 2 > RELAY_BUF)
            return -1;
        if (len < line + n + 2)
            return 0;           /* the payload is not all here yet */
        relay_pub(epfd, a, reply, buf + line, n);
        return (long)(line + n + 2);
    }
    if (strncasecmp(buf, "CONNECT", 7) == 0 || strncasecmp(buf, "PONG", 4) == 0)
        return (long)line;
    send_all(conns[ci].fd, "-ERR 'Unknown Protocol Operation'\r\n", 35);
    return -1;
}

static void
read_conn(int epfd, int ci)
{
    struct relay_conn *c = &conns[ci];
    ssize_t r = recv(c->fd, c->buf + c->len, RELAY_BUF - c->len, 0);
    if (r <= 0) {
        if (r == 0 || (errno != EAGAIN && errno != EINTR))
            close_conn(epfd, ci);
        return;
    }
    c->len += (size_t)r;
    size_t off = 0;
    for (;;) {
        /* a PUB line is parsed in place: keep a copy-free view */
        long used = one_command(epfd, ci, c->buf + off, c->len - off);
        if (used < 0) {
            close_conn(epfd, ci);
            return;
        }
        if (used == 0)
            break;
        off += (size_t)used;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
}

static void
accept_conn(int epfd, int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    int ci = 0;
    while (ci < RELAY_CONNS && conns[ci].fd != -1)
        ci++;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (ci == RELAY_CONNS || !send_all(fd, INFO, sizeof INFO - 1)) {
        close(fd);
        return;
    }
    conns[ci].fd = fd;
    conns[ci].len = 0;
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)ci };
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int
listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0)
        return -1;
    return fd;
}

int
main(int argc, char **argv)
{
    int port = argc == 2 ? atoi(argv[1]) : 0;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "usage: dt-relay PORT\n");
        return 2;
    }
    conns = calloc(RELAY_CONNS, sizeof *conns);
    int lfd = listen_on(port), epfd = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || lfd < 0 || epfd < 0) {
        fprintf(stderr, "dt-relay: cannot listen on 127.0.0.1:%d: %s\n", port,
                strerror(errno));
        return 1;
    }
    for (int i = 0; i < RELAY_CONNS; i++)
        conns[i].fd = -1;
    for (int i = 0; i < RELAY_SUBS; i++)
        subs[i].conn = -1;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    fprintf(stderr, "dt-relay: listening on 127.0.0.1:%d\n", port);
    while (!stop) {
        struct epoll_event evs[64];
        int n = epoll_wait(epfd, evs, 64, 1000);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u32 == UINT32_MAX)
                accept_conn(epfd, lfd);
            else if (conns[evs[i].data.u32].fd != -1)
                read_conn(epfd, (int)evs[i].data.u32);
        }
    }
    for (int i = 0; i < RELAY_CONNS; i++)
        if (conns[i].fd != -1)
            close(conns[i].fd);
    free(conns);
    close(lfd);
    close(epfd);
    return 0;
}
