/*
 * dt_harness.c -- start/stop the server under test on ephemeral ports,
 * raw-socket and HTTP helpers, tiny JSON lookups.  The check counters
 * behind dt_check.h live in dt_check.c.
 *
 * NOTES
 *   Process model: the server is forked into its own process group with
 *   PR_SET_PDEATHSIG, so a crashed test does not leave it running, and
 *   dt_server_stop() can kill whatever the server itself spawned.
 *   Lines are read with MSG_PEEK then consumed, so no state is kept per
 *   socket.  All waits are bounded by the caller's timeout.
 *   Errors are -errno; failures of the server are reported with its log.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 5000
#define MAX_EXTRA_ARGS 32
#define START_ATTEMPTS 3

/* ---- time ------------------------------------------------------------- */

long long
dt_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
dt_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* ---- binary ----------------------------------------------------------- */

const char *
dt_server_bin(void)
{
    const char *bin = getenv("DIALTONE_BIN");

    if (bin == NULL || *bin == '\0')
        bin = getenv("DIALTONE_BIN_DEFAULT");

    if (bin == NULL || *bin == '\0' || access(bin, X_OK) == -1)
        return NULL;
    return bin;
}

int
dt_bin_is_dialtone(const char *bin)
{
    char cmd[600], out[512];
    size_t n;
    FILE *p;

    if (bin == NULL)
        return -ENOENT;
    snprintf(cmd, sizeof(cmd), "'%s' --version 2>&1", bin);
    p = popen(cmd, "r");
    if (p == NULL)
        return -errno;
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    pclose(p);
    for (char *c = out; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return strstr(out, "dialtone") != NULL;
}

/* ---- ports and sockets ------------------------------------------------ */

static void
loopback_addr(struct sockaddr_in *sa, int port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

int
dt_free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd, port;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -errno;
    loopback_addr(&sa, 0);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) == -1) {
        int e = errno;
        close(fd);
        return -e;
    }
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int
connect_timeout(int port, int timeout_ms)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    struct sockaddr_in sa;
    int fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    loopback_addr(&sa, port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int
dt_raw_connect(int port)
{
    return connect_timeout(port, 2000);
}

int
dt_raw_send(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? -ETIMEDOUT : -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
dt_raw_sends(int fd, const char *str)
{
    return dt_raw_send(fd, str, strlen(str));
}

/* Wait until fd is readable or the deadline passes: 0 or -ETIMEDOUT. */
static int
wait_readable(int fd, long long deadline)
{
    for (;;) {
        long long left = deadline - dt_now_ms();
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int rc;

        /* a deadline already passed still gets one look at the socket */
        rc = poll(&p, 1, left > 0 ? (int)left : 0);
        if (rc > 0)
            return 0;
        if (rc == -1 && errno != EINTR)
            return -errno;
        if (left <= 0)
            return -ETIMEDOUT;
    }
}

/*
 * Read one line (up to '\n') before the deadline.  Peeks so that exactly
 * the line is consumed.  Lines longer than linelen - 1 are truncated in
 * the copy but consumed entirely.
 */
static int
read_line(int fd, long long deadline, char *line, size_t linelen)
{
    size_t used = 0;

    for (;;) {
        char buf[4096];
        ssize_t n;
        char *nl;
        size_t take;
        int rc = wait_readable(fd, deadline);

        if (rc < 0)
            return rc;
        n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
        if (n == 0)
            return -ENOTCONN;
        if (n == -1) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return -errno;
        }
        nl = memchr(buf, '\n', (size_t)n);
        take = nl ? (size_t)(nl - buf) + 1 : (size_t)n;
        if (recv(fd, buf, take, MSG_DONTWAIT) != (ssize_t)take)
            return -EIO;
        for (size_t i = 0; i < take && linelen > 0; i++)
            if (used + 1 < linelen && buf[i] != '\n')
                line[used++] = buf[i];
        if (nl) {
            if (used > 0 && line[used - 1] == '\r')
                used--;
            if (linelen > 0)
                line[used] = '\0';
            return 0;
        }
    }
}

int
dt_raw_expect(int fd, const char *prefix, int timeout_ms, char *line,
              size_t linelen)
{
    long long deadline = dt_now_ms() + timeout_ms;
    char tmp[8192];

    for (;;) {
        int rc = read_line(fd, deadline, tmp, sizeof(tmp));

        if (rc < 0)
            return rc;
        if (prefix == NULL || strncmp(tmp, prefix, strlen(prefix)) == 0) {
            if (line != NULL && linelen > 0)
                snprintf(line, linelen, "%s", tmp);
            return 0;
        }
    }
}

int
dt_raw_read_exact(int fd, void *buf, size_t n, int timeout_ms)
{
    long long deadline = dt_now_ms() + timeout_ms;
    char *p = buf;

    while (n > 0) {
        ssize_t got;
        int rc = wait_readable(fd, deadline);

        if (rc < 0)
            return rc;
        got = recv(fd, p, n, MSG_DONTWAIT);
        if (got == 0)
            return -ENOTCONN;
        if (got == -1) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return -errno;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int
dt_raw_expect_closed(int fd, int timeout_ms)
{
    long long deadline = dt_now_ms() + timeout_ms;
    char sink[65536];

    for (;;) {
        ssize_t n;
        int rc = wait_readable(fd, deadline);

        if (rc < 0)
            return rc;
        n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
        if (n == 0)
            return 0;
        if (n == -1 && errno != EAGAIN && errno != EINTR)
            return 0;   /* reset: closed as well */
    }
}

int
dt_raw_handshake(int fd, const char *connect_json, char *info,
                 size_t infolen)
{
    char line[8192];
    int rc;

    rc = dt_raw_expect(fd, "INFO ", 2000, info, infolen);
    if (rc < 0)
        return rc;
    snprintf(line, sizeof(line), "CONNECT %s\r\nPING\r\n", connect_json);
    rc = dt_raw_sends(fd, line);
    if (rc < 0)
        return rc;
    for (;;) {
        rc = dt_raw_expect(fd, NULL, 2000, line, sizeof(line));
        if (rc < 0)
            return rc;
        if (strcmp(line, "PONG") == 0)
            return 0;
        if (strcmp(line, "+OK") != 0)
            return -EPROTO;
    }
}

/* ---- server process --------------------------------------------------- */

static int
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int rc = 0;

    if (f == NULL)
        return -errno;
    if (fputs(text, f) == EOF)
        rc = -EIO;
    if (fclose(f) == EOF && rc == 0)
        rc = -errno;
    return rc;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void
dt_remove_tree(const char *dir)
{
    if (dir[0] != '\0' && getenv("DT_KEEP_TMP") == NULL)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
dt_mkdtemp(char *out, size_t len, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(out, len, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
                     prefix);
    if (n < 0 || (size_t)n >= len) {
        out[0] = '\0';
        return -ENAMETOOLONG;
    }
    if (mkdtemp(out) == NULL) {
        int e = errno;
        out[0] = '\0';
        return -e;
    }
    return 0;
}

static void
remove_dir(char *dir)
{
    dt_remove_tree(dir);
    dir[0] = '\0';
}

static int
shell_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 255;
}

void
dt_server_dump_log(const struct dt_server *s)
{
    char path[300], buf[4096];
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/server.log", s->dir);
    f = fopen(path, "r");
    if (f == NULL)
        return;
    fprintf(stderr, "---- %s ----\n", path);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, stderr);
    fprintf(stderr, "---- end of server log ----\n");
    fclose(f);
}

/* 1 when the server log mentions that a port was in use. */
static int
log_says_port_taken(const struct dt_server *s)
{
    char path[300], buf[16384];
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/server.log", s->dir);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, "address already in use") != NULL ||
           strstr(buf, "Address already in use") != NULL;
}

/*
 * Child side of the fork: never returns.  The test may have threads
 * (libnats), so only async-signal-safe calls until execv.
 */
static void
exec_server(const char *log, const char *bin, char **argv)
{
    static const char msg[] = "exec of the server binary failed\n";
    int fd;

    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        close(fd);
    }
    /* the test's sockets (libnats does not set CLOEXEC) stay with it */
    if (close_range(3, ~0U, 0) == -1)
        for (fd = 3; fd < 1024; fd++)
            close(fd);
    execv(bin, argv);
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
        _exit(126);
    _exit(127);
}

static int
spawn(struct dt_server *s, const char *bin, const char *const *extra)
{
    char port[16], http[16], log[300];
    char *argv[10 + MAX_EXTRA_ARGS];
    int argc = 0;

    snprintf(log, sizeof(log), "%s/server.log", s->dir);
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(http, sizeof(http), "%d", s->http_port);
    argv[argc++] = (char *)bin;
    argv[argc++] = (char *)"-a";
    argv[argc++] = (char *)"127.0.0.1";
    argv[argc++] = (char *)"-p";
    argv[argc++] = port;
    argv[argc++] = (char *)"-m";
    argv[argc++] = http;
    if (s->conf[0]) {
        argv[argc++] = (char *)"-c";
        argv[argc++] = s->conf;
    }
    for (int i = 0; extra && extra[i] && i < MAX_EXTRA_ARGS; i++)
        argv[argc++] = (char *)extra[i];
    /* $DIALTONE_TEST_ARGS: more flags for Dialtone only, e.g. to run a
     * test again with --gateway_workers 1 */
    static char more[256];
    const char *env = getenv("DIALTONE_TEST_ARGS");
    if (env && dt_bin_is_dialtone(bin) == 1) {
        snprintf(more, sizeof(more), "%s", env);
        for (char *save = NULL, *t = strtok_r(more, " ", &save);
             t && argc < 8 + MAX_EXTRA_ARGS; t = strtok_r(NULL, " ", &save))
            argv[argc++] = t;
    }
    argv[argc] = NULL;

    fflush(NULL);
    s->pid = fork();
    if (s->pid == -1) {
        s->pid = 0;
        return -errno;
    }
    if (s->pid == 0)
        exec_server(log, bin, argv);
    setpgid(s->pid, s->pid);   /* also in the parent: no race with kill */
    return 0;
}

/* 1 once the client port answers INFO and the HTTP port accepts. */
static int
server_ready(const struct dt_server *s)
{
    int fd = connect_timeout(s->port, 500);
    int ok;

    if (fd < 0)
        return 0;
    ok = dt_raw_expect(fd, "INFO ", 1000, NULL, 0) == 0;
    close(fd);
    if (!ok)
        return 0;
    fd = connect_timeout(s->http_port, 500);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

/* One start attempt: 0, -EADDRINUSE (retry), or another -errno. */
static int
start_once(struct dt_server *s, const char *bin, const char *const *extra)
{
    long long deadline = dt_now_ms() + START_TIMEOUT_MS;
    int status, rc;

    s->port = dt_free_port();
    s->http_port = dt_free_port();
    while (s->http_port == s->port && s->http_port > 0)
        s->http_port = dt_free_port();
    if (s->port < 0 || s->http_port < 0)
        return s->port < 0 ? s->port : s->http_port;
    snprintf(s->url, sizeof(s->url), "nats://127.0.0.1:%d", s->port);
    rc = spawn(s, bin, extra);
    if (rc < 0)
        return rc;
    while (dt_now_ms() < deadline) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            return log_says_port_taken(s) ? -EADDRINUSE : -ESRCH;
        }
        if (server_ready(s))
            return 0;
        dt_sleep_ms(20);
    }
    return -ETIMEDOUT;
}

int
dt_server_start_bin(struct dt_server *s, const char *bin,
                    const char *conf_text, const char *const *extra_args)
{
    const char *tmp = getenv("TMPDIR");
    int rc = -EINVAL;

    memset(s, 0, sizeof(*s));
    if (bin == NULL || access(bin, X_OK) == -1)
        return -ENOENT;
    snprintf(s->dir, sizeof(s->dir), "%s/dt-itest-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(s->dir) == NULL) {
        rc = -errno;
        s->dir[0] = '\0';
        return rc;
    }
    if (conf_text != NULL) {
        snprintf(s->conf, sizeof(s->conf), "%s/server.conf", s->dir);
        rc = write_file(s->conf, conf_text);
        if (rc < 0)
            goto err;
    }
    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        rc = start_once(s, bin, extra_args);
        if (rc != -EADDRINUSE)
            break;
    }
    if (rc == 0)
        return 0;
    fprintf(stderr, "dt_server_start(%s): %s\n", bin, strerror(-rc));
    dt_server_dump_log(s);
err:
    dt_server_cleanup(s);
    return rc;
}

int
dt_server_start(struct dt_server *s, const char *conf_text,
                const char *const *extra_args)
{
    return dt_server_start_bin(s, dt_server_bin(), conf_text, extra_args);
}

int
dt_server_start_or_skip(struct dt_server *s, const char *conf_text,
                        const char *const *extra_args)
{
    int rc = dt_server_start(s, conf_text, extra_args);

    if (rc == -ENOENT) {
        printf("SKIP: $DIALTONE_BIN not set or not executable\n");
        exit(DT_EXIT_SKIP);
    }
    return rc;
}

int
dt_server_signal(struct dt_server *s, int sig)
{
    if (s->pid <= 0)
        return -ESRCH;
    return kill(s->pid, sig) == -1 ? -errno : 0;
}

int
dt_server_wait(struct dt_server *s, int timeout_ms)
{
    long long deadline = dt_now_ms() + timeout_ms;
    int status;

    if (s->pid <= 0)
        return -ECHILD;
    for (;;) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);

        if (r == s->pid) {
            s->pid = -s->pid;   /* reaped: keep the group id */
            return shell_status(status);
        }
        if (r == -1 && errno != EINTR)
            return -errno;
        if (dt_now_ms() >= deadline)
            return -ETIMEDOUT;
        dt_sleep_ms(5);
    }
}

int
dt_server_group_alive(const struct dt_server *s)
{
    pid_t pgid = s->pid < 0 ? -s->pid : s->pid;

    if (pgid == 0)
        return 0;
    return killpg(pgid, 0) == 0 || errno == EPERM;
}

void
dt_server_cleanup(struct dt_server *s)
{
    if (s->pid > 0) {
        killpg(s->pid, SIGKILL);
        kill(s->pid, SIGKILL);
        while (waitpid(s->pid, NULL, 0) == -1 && errno == EINTR)
            ;
    } else if (s->pid < 0 && dt_server_group_alive(s)) {
        killpg(-s->pid, SIGKILL);   /* the leader is gone, others are not */
    }
    s->pid = 0;
    remove_dir(s->dir);
}

int
dt_server_stop(struct dt_server *s)
{
    int rc;

    if (s->pid <= 0) {
        dt_server_cleanup(s);
        return -ESRCH;
    }
    dt_server_signal(s, SIGTERM);
    rc = dt_server_wait(s, STOP_TIMEOUT_MS);
    if (rc == -ETIMEDOUT)
        fprintf(stderr, "dt_server_stop: pid %d ignored SIGTERM for %d ms\n",
                (int)s->pid, STOP_TIMEOUT_MS);
    else if (dt_server_group_alive(s))
        fprintf(stderr, "dt_server_stop: processes of group %d survived\n",
                (int)-s->pid);
    if (rc < 0 || rc >= 128)
        dt_server_dump_log(s);
    dt_server_cleanup(s);
    return rc;
}

void
dt_server_finish(struct dt_server *s)
{
    int rc;

    if (s->pid == 0)
        return;
    if (dt_check_failures())
        dt_server_dump_log(s);
    rc = dt_server_stop(s);
    CHECK_MSG(rc >= 0, "dt_server_stop(%s) >= 0 (%s)", s->url,
              strerror(rc < 0 ? -rc : 0));
}

/* ---- HTTP ------------------------------------------------------------- */

/* Decode a chunked body in place; returns the new length. */
static size_t
dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;

    while (in < len) {
        char *end;
        unsigned long sz = strtoul(body + in, &end, 16);
        char *nl = memchr(body + in, '\n', len - in);

        if (nl == NULL || sz == 0)
            break;
        in = (size_t)(nl - body) + 1;
        if (sz > len - in)
            sz = len - in;
        memmove(body + out, body + in, sz);
        out += sz;
        in += sz + 2;   /* the chunk's CRLF */
        (void)end;
    }
    return out;
}

int
dt_http_get(int port, const char *path, char *body, size_t bodylen)
{
    long long deadline = dt_now_ms() + 5000;
    size_t cap = 1 << 20, len = 0;
    char req[512], *resp, *hdr_end;
    int fd, rc, status = -EPROTO;

    fd = connect_timeout(port, 2000);
    if (fd < 0)
        return fd;
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n"
             "Connection: close\r\n\r\n", path, port);
    rc = dt_raw_sends(fd, req);
    resp = malloc(cap + 1);
    if (rc < 0 || resp == NULL) {
        close(fd);
        free(resp);
        return rc < 0 ? rc : -ENOMEM;
    }
    while (len < cap) {
        ssize_t n;

        rc = wait_readable(fd, deadline);
        if (rc < 0)
            break;
        n = recv(fd, resp + len, cap - len, MSG_DONTWAIT);
        if (n == 0)
            break;
        if (n == -1) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    resp[len] = '\0';
    hdr_end = strstr(resp, "\r\n\r\n");
    if (strncmp(resp, "HTTP/1.", 7) == 0 && len > 12 && hdr_end) {
        char *b = hdr_end + 4;
        size_t blen = len - (size_t)(b - resp);

        *hdr_end = '\0';
        status = atoi(resp + 9);
        if (strcasestr(resp, "transfer-encoding: chunked"))
            blen = dechunk(b, blen);
        if (body && bodylen > 0) {
            if (blen >= bodylen)
                blen = bodylen - 1;
            memcpy(body, b, blen);
            body[blen] = '\0';
        }
    }
    free(resp);
    return status;
}

int
dt_http_wait_int(int port, const char *path, const char *key,
                 long long min, int timeout_ms, long long *out)
{
    long long deadline = dt_now_ms() + timeout_ms, v = 0;
    size_t cap = 1 << 20;
    char *body = malloc(cap);
    int rc = -ETIMEDOUT;

    if (body == NULL)
        return -ENOMEM;
    for (;;) {
        if (dt_http_get(port, path, body, cap) == 200 &&
            dt_json_int(body, key, &v) == 0 && v >= min) {
            rc = 0;
            break;
        }
        if (dt_now_ms() >= deadline)
            break;
        dt_sleep_ms(20);
    }
    if (out)
        *out = v;
    free(body);
    return rc;
}

/* ---- JSON ------------------------------------------------------------- */

/* Pointer to the value of the first "key": ..., or NULL. */
static const char *
json_value(const char *json, const char *key)
{
    char pat[256];
    const char *p = json;

    snprintf(pat, sizeof(pat), "\"%s\"", key);
    while ((p = strstr(p, pat)) != NULL) {
        const char *v = p + strlen(pat);

        while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
            v++;
        if (*v == ':') {
            v++;
            while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
                v++;
            return v;
        }
        p = v;
    }
    return NULL;
}

int
dt_json_int(const char *json, const char *key, long long *out)
{
    const char *v = json_value(json, key);
    char *end;

    if (v == NULL)
        return -ENOENT;
    errno = 0;
    *out = strtoll(v, &end, 10);
    if (end == v || errno)
        return -EINVAL;
    return 0;
}

int
dt_json_str(const char *json, const char *key, char *out, size_t outlen)
{
    const char *v = json_value(json, key);
    size_t n = 0;

    if (v == NULL)
        return -ENOENT;
    if (*v != '"' || outlen == 0)
        return -EINVAL;
    for (v++; *v && *v != '"'; v++) {
        if (*v == '\\' && v[1])
            v++;
        if (n + 1 < outlen)
            out[n++] = *v;
    }
    out[n] = '\0';
    return *v == '"' ? 0 : -EINVAL;
}

int
dt_json_bool(const char *json, const char *key, int *out)
{
    const char *v = json_value(json, key);

    if (v == NULL)
        return -ENOENT;
    if (strncmp(v, "true", 4) == 0)
        *out = 1;
    else if (strncmp(v, "false", 5) == 0)
        *out = 0;
    else
        return -EINVAL;
    return 0;
}

pid_t
dt_server_child(const struct dt_server *s, const char *title)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = -1;
    while (d && (e = readdir(d)) != NULL && found < 0) {
        char path[300], buf[512];
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        int ppid = -1;
        if (f) {
            if (fgets(buf, sizeof(buf), f)) {
                char *rp = strrchr(buf, ')');
                if (rp)
                    sscanf(rp + 2, "%*c %d", &ppid);
            }
            fclose(f);
        }
        if (ppid != s->pid)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
        f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        if (strcmp(buf, title) == 0)
            found = pid;
    }
    if (d)
        closedir(d);
    return found;
}

pid_t
dt_server_new_child(const struct dt_server *s, const char *title, pid_t old,
                    int timeout_ms)
{
    long long deadline = dt_now_ms() + timeout_ms;
    pid_t p;
    do {
        p = dt_server_child(s, title);
        if (p > 0 && p != old)
            return p;
        dt_sleep_ms(20);
    } while (dt_now_ms() < deadline);
    return -1;
}

int
dt_proc_sockets(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char fd[320], link[128];
        snprintf(fd, sizeof(fd), "%s/%s", path, e->d_name);
        ssize_t len = readlink(fd, link, sizeof(link) - 1);
        if (len > 0 && strncmp(link, "socket:", 7) == 0)
            n++;
    }
    closedir(d);
    return n;
}
