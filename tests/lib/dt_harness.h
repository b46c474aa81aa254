/*
 * dt_harness.h -- the integration-test harness: start and stop the server
 * binary named by $DIALTONE_BIN (dialtone, or nats-server: the flags are
 * the same) on ephemeral loopback ports, and talk to it over raw sockets
 * and HTTP.
 *
 * NOTES
 *   Ownership: a struct dt_server belongs to the test that started it;
 *   dt_server_stop() reaps the process and removes its temp dir.  The
 *   server runs in its own process group (pgid == pid), so a test can ask
 *   whether anything of it survived, and it gets SIGKILL if the test dies.
 *   Errors: every function returns 0 (or a documented value >= 0) or
 *   -errno.  Every wait is bounded; nothing here sleeps longer than needed.
 *   Raw sockets are read with MSG_PEEK, so the helpers keep no per-socket
 *   state and may be mixed freely on one fd.
 */
#ifndef DT_HARNESS_H
#define DT_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

/* exit code that makes meson count a test as skipped */
#define DT_EXIT_SKIP 77

struct dt_server {
    pid_t pid;          /* server process and group; < 0 once reaped */
    int port;           /* client port (-p) */
    int http_port;      /* monitoring port (-m) */
    char url[64];       /* "nats://127.0.0.1:<port>" */
    char dir[256];      /* temp dir: server.log, server.conf */
    char conf[300];     /* config path, or "" when started without -c */
};

/*
 * The server under test: $DIALTONE_BIN when set, else
 * $DIALTONE_BIN_DEFAULT (set by meson to the build's dialtone); NULL when
 * that is not an executable file.
 */
const char *dt_server_bin(void);

/* 1 when `<bin> --version` mentions "dialtone", 0 when not, -errno. */
int dt_bin_is_dialtone(const char *bin);

/*
 * Start dt_server_bin() -a 127.0.0.1 -p <free port> -m <free port>
 * [-c <dir>/server.conf holding conf_text, when conf_text != NULL]
 * [extra_args..., NULL-terminated, at most 32].
 * Waits (at most 10 s) until the client port answers with INFO and the
 * monitoring port accepts.  stdout/stderr go to <dir>/server.log, printed
 * on failure.  Retries with new ports if a port was taken meanwhile.
 * Returns 0, -ENOENT (no binary: the caller should skip), -ETIMEDOUT,
 * -ESRCH (the server exited during start-up), or another -errno.
 */
int dt_server_start(struct dt_server *s, const char *conf_text,
                    const char *const *extra_args);

/* Same as dt_server_start() with an explicit binary (e.g. for diffs). */
int dt_server_start_bin(struct dt_server *s, const char *bin,
                        const char *conf_text, const char *const *extra_args);

/*
 * SIGTERM, wait at most 5 s (then SIGKILL the group and fail with
 * -ETIMEDOUT), kill any process left in the group, remove the temp dir.
 * Returns the exit status shell-style: the exit code, or 128 + signal.
 */
int dt_server_stop(struct dt_server *s);

/*
 * dt_server_start() for a test's main(): when there is no server binary
 * (-ENOENT), print "SKIP: ..." and exit(DT_EXIT_SKIP), so call it before
 * anything needs cleaning up.  Otherwise returns what dt_server_start()
 * returned (0 or -errno; a failure has been printed with the log).
 */
int dt_server_start_or_skip(struct dt_server *s, const char *conf_text,
                            const char *const *extra_args);

/*
 * End of a test with a server: nothing when s is not running (pid 0, e.g.
 * its start failed); else dump its log if any check failed so far, stop
 * it and CHECK that the stop succeeded (dt_server_stop() >= 0).
 */
void dt_server_finish(struct dt_server *s);

/* Send sig to the server process (not its group).  0 or -errno. */
int dt_server_signal(struct dt_server *s, int sig);

/*
 * Wait at most timeout_ms for the server process to exit; returns its
 * status shell-style (see dt_server_stop) or -ETIMEDOUT.  Once reaped,
 * s->pid holds minus the group id (the group may outlive its leader);
 * call dt_server_cleanup() to finish.
 */
int dt_server_wait(struct dt_server *s, int timeout_ms);

/* 1 while any process of the server's group is alive, 0 when none. */
int dt_server_group_alive(const struct dt_server *s);

/* SIGKILL what is left of the group, reap, remove the temp dir. */
void dt_server_cleanup(struct dt_server *s);

/* Print <dir>/server.log to stderr (for failure reports). */
void dt_server_dump_log(const struct dt_server *s);

/* A free TCP port on 127.0.0.1 (bound then released), or -errno. */
int dt_free_port(void);

/* Blocking TCP socket to 127.0.0.1:port with 2 s send/recv timeouts. */
int dt_raw_connect(int port);

/* Send all of buf.  0 or -errno. */
int dt_raw_send(int fd, const void *buf, size_t len);

/* Send a NUL-terminated string.  0 or -errno. */
int dt_raw_sends(int fd, const char *str);

/*
 * Read lines (CRLF or LF stripped) until one starts with prefix ("" or
 * NULL: any line) or timeout_ms passes.  The matching line is copied to
 * line (truncated to linelen - 1) when line != NULL.  Returns 0,
 * -ETIMEDOUT, -ENOTCONN when the peer closed, or -errno (e.g. ECONNRESET).
 */
int dt_raw_expect(int fd, const char *prefix, int timeout_ms, char *line,
                  size_t linelen);

/* Exactly n bytes (payloads).  0, -ETIMEDOUT, -ENOTCONN or -errno. */
int dt_raw_read_exact(int fd, void *buf, size_t n, int timeout_ms);

/*
 * Discard input until the peer closes (EOF or reset): returns 0, or
 * -ETIMEDOUT if it is still open after timeout_ms.
 */
int dt_raw_expect_closed(int fd, int timeout_ms);

/*
 * Raw handshake: expect INFO (copied to info when != NULL), send
 * "CONNECT <connect_json>" and PING, expect PONG (skipping +OK).
 */
int dt_raw_handshake(int fd, const char *connect_json, char *info,
                     size_t infolen);

/*
 * HTTP/1.0 GET http://127.0.0.1:port<path>.  The body is NUL-terminated
 * and truncated to bodylen - 1.  Returns the HTTP status or -errno.
 */
int dt_http_get(int port, const char *path, char *body, size_t bodylen);

/*
 * Tiny JSON lookups (first occurrence of "key" anywhere in json, value
 * after optional spaces and a colon).  0, -ENOENT or -EINVAL.
 */
int dt_json_int(const char *json, const char *key, long long *out);
int dt_json_str(const char *json, const char *key, char *out, size_t outlen);
int dt_json_bool(const char *json, const char *key, int *out);

/*
 * Poll GET path (at most timeout_ms, every 20 ms) until the integer field
 * key is >= min; *out gets the last value read.  0 or -ETIMEDOUT/-errno.
 */
int dt_http_wait_int(int port, const char *path, const char *key,
                     long long min, int timeout_ms, long long *out);

/* Dialtone: the pid of the server's child whose command line is `title`
 * ("dialtone: router", "dialtone: gateway 0", "dialtone: storage"), or
 * -1.  dt_server_new_child() waits (at most timeout_ms) for one other
 * than `old` (a restarted successor). */
pid_t dt_server_child(const struct dt_server *s, const char *title);
pid_t dt_server_new_child(const struct dt_server *s, const char *title,
                          pid_t old, int timeout_ms);

/* Sockets process pid holds (a gateway worker: its listener and its
 * clients' connections), or -1. */
int dt_proc_sockets(pid_t pid);

/* A fresh directory "<$TMPDIR or /tmp>/<prefix>-XXXXXX", its path in
 * out.  0 or -errno (out is "" then). */
int dt_mkdtemp(char *out, size_t len, const char *prefix);

/* Remove dir and everything below it, unless $DT_KEEP_TMP is set (to
 * look at what a failed test left).  "" is ignored. */
void dt_remove_tree(const char *dir);

/* Monotonic milliseconds. */
long long dt_now_ms(void);

/* Sleep ms milliseconds. */
void dt_sleep_ms(int ms);

#endif /* DT_HARNESS_H */
