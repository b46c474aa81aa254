/*
 * test_flags.c -- the command line an operator uses: -v, -h, -t with a
 * config file, -P (pid file written, removed at exit), -l (one log file
 * for the master and every child), and flags of features Dialtone does
 * not have yet, which must be refused with a message naming them, never
 * silently ignored.  The Dialtone-only parts are skipped for nats-server.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"

/* Run bin with args (NULL-terminated), capture stdout+stderr into out;
 * returns the exit status, or -1. */
static int
run(const char *bin, const char *const *args, char *out, size_t outlen)
{
    int pfd[2];
    if (pipe(pfd) == -1)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        const char *argv[16] = { bin };
        for (int i = 0; args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < outlen &&
           (n = read(pfd[0], out + len, outlen - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(pfd[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static void
test_version_help_and_config_check(const char *bin, const char *dir)
{
    char out[8192], conf[300];
    CHECK_INT(run(bin, (const char *[]){ "-v", NULL }, out, sizeof(out)),
              ==, 0);
    CHECK(strstr(out, "v2.9.10") != NULL); /* both name this release */
    CHECK_INT(run(bin, (const char *[]){ "-h", NULL }, out, sizeof(out)),
              ==, 0);
    CHECK(strstr(out, "--port") != NULL);

    snprintf(conf, sizeof(conf), "%s/ok.conf", dir);
    FILE *f = fopen(conf, "w");
    REQUIRE(f != NULL);
    fputs("port: 4999\nmax_payload: 2MB\nmax_pending: 8MB\n", f);
    fclose(f);
    CHECK_INT(run(bin, (const char *[]){ "-t", "-c", conf, NULL }, out,
                  sizeof(out)), ==, 0);
    snprintf(conf, sizeof(conf), "%s/bad.conf", dir);
    f = fopen(conf, "w");
    REQUIRE(f != NULL);
    fputs("port: 4999\nno_such_option: 1\n", f);
    fclose(f);
    CHECK_INT(run(bin, (const char *[]){ "-t", "-c", conf, NULL }, out,
                  sizeof(out)), !=, 0);
    CHECK(strstr(out, "no_such_option") != NULL);
out:
    return;
}

static void
test_refused_features(const char *bin)
{
    static const char *const flags[][3] = {
        { "--tls", NULL }, { "--routes", "nats://x:1" },
        { "--cluster", "nats://127.0.0.1:1" }, { "-ms", "8443" },
    };
    char out[8192];
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        int rc = run(bin, flags[i], out, sizeof(out));
        CHECK_MSG(rc != 0, "%s was not refused", flags[i][0]);
        CHECK_MSG(strstr(out, flags[i][0] + (flags[i][0][1] == '-'))
                  != NULL, "message for %s does not name it: %s",
                  flags[i][0], out);
    }
    CHECK_INT(run(bin, (const char *[]){ "--no-such-flag", NULL }, out,
                  sizeof(out)), !=, 0);
}

static void
test_pid_and_log_files(const char *dir)
{
    char pidf[300], logf[300], arg_pid[320], arg_log[320];
    snprintf(pidf, sizeof(pidf), "%s/dialtone.pid", dir);
    snprintf(logf, sizeof(logf), "%s/dialtone.log", dir);
    snprintf(arg_pid, sizeof(arg_pid), "%s", pidf);
    snprintf(arg_log, sizeof(arg_log), "%s", logf);
    /* -D: children log their start-up at debug level */
    const char *const extra[] = { "-P", arg_pid, "-l", arg_log, "-D", NULL };
    struct dt_server s;
    REQUIRE(dt_server_start(&s, NULL, extra) == 0);
    FILE *f = fopen(pidf, "r");
    int pid = 0;
    CHECK(f != NULL && fscanf(f, "%d", &pid) == 1);
    if (f)
        fclose(f);
    CHECK_INT(pid, ==, s.pid);
    CHECK(dt_server_stop(&s) == 0);
    struct stat st;
    CHECK_MSG(stat(pidf, &st) == -1 && errno == ENOENT,
              "pid file left behind");
    /* the children's lines are in the same log as the master's */
    f = fopen(logf, "r");
    char line[1024];
    int master = 0, children = 0;
    while (f && fgets(line, sizeof(line), f)) {
        master += strstr(line, "Listening for client connections") != NULL;
        children += strstr(line, "] gateway ") != NULL ||
                    strstr(line, "[DBG] gateway ") != NULL;
    }
    if (f)
        fclose(f);
    CHECK_INT(master, ==, 1);
    CHECK_INT(children, >, 0);
out:
    return;
}

int
main(int argc, char **argv)
{
    const char *bin = dt_server_bin();
    char dir[] = "/tmp/dt-flags-XXXXXX";
    if (bin == NULL) {
        printf("SKIP: $DIALTONE_BIN not set or not executable\n");
        return DT_EXIT_SKIP;
    }
    if (mkdtemp(dir) == NULL)
        return 99;
    test_version_help_and_config_check(bin, dir);
    if (dt_bin_is_dialtone(bin) == 1) {
        test_refused_features(bin);
        test_pid_and_log_files(dir);
    }
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return dt_check_summary(argv[0]);
}
