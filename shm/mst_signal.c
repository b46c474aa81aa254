/*
 * mst_signal.c -- `dialtone --signal`: map nats-server's command names to
 * signals (ldm SIGUSR2, stop SIGKILL, quit SIGINT, term SIGTERM, reopen
 * SIGUSR1, reload SIGHUP), find the master and send it one.
 *
 * NOTES
 *   Without "=<pid>" the master is the pid file's (when one is set) or
 *   the only process named "dialtone" (the master's name; its children
 *   run as dialtone-gateway, dialtone-router, ...).  Several: name one.
 */
#include "mst_signal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name;
    int sig;
} commands[] = {
    { "ldm", SIGUSR2 }, { "stop", SIGKILL }, { "quit", SIGINT },
    { "term", SIGTERM }, { "reopen", SIGUSR1 }, { "reload", SIGHUP },
};

static int
signal_of(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strlen(commands[i].name) == len &&
            strncmp(commands[i].name, name, len) == 0)
            return commands[i].sig;
    return -1;
}

static pid_t
pid_from_file(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = 0;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v > 0 ? (pid_t)v : -1;
}

/* The one running master; 0 when none, -1 (listed) when several. */
static pid_t
find_master(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = 0, self = getpid();
    int n = 0;
    char list[1024] = "";
    while (d && (e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atol(e->d_name);
        char path[300], comm[64] = "";
        snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(comm, sizeof(comm), f) == NULL)
            comm[0] = '\0';
        fclose(f);
        comm[strcspn(comm, "\n")] = '\0';
        if (pid == self || strcmp(comm, "dialtone") != 0)
            continue;
        found = pid;
        n++;
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "  %d\n", (int)pid);
    }
    if (d)
        closedir(d);
    if (n > 1) {
        fprintf(stderr, "dialtone: multiple dialtone processes running:\n"
                "%sname one: --signal <cmd>=<pid>\n", list);
        return -1;
    }
    return found;
}

int
mst_send_signal(const char *cmd, const char *pid_file)
{
    const char *eq = strchr(cmd, '=');
    size_t len = eq ? (size_t)(eq - cmd) : strlen(cmd);
    int sig = signal_of(cmd, len);
    if (sig < 0) {
        fprintf(stderr, "dialtone: unknown signal \"%.*s\" (ldm, stop, "
                "quit, term, reopen, reload)\n", (int)len, cmd);
        return 1;
    }
    pid_t pid;
    if (eq != NULL) {
        char *end = NULL;
        long v = strtol(eq + 1, &end, 10);
        pid = v > 0 && end && *end == '\0' ? (pid_t)v : -1;
        if (pid < 0) {
            fprintf(stderr, "dialtone: invalid pid \"%s\"\n", eq + 1);
            return 1;
        }
    } else if (pid_file && pid_file[0]) {
        pid = pid_from_file(pid_file);
        if (pid < 0) {
            fprintf(stderr, "dialtone: cannot read a pid from %s\n",
                    pid_file);
            return 1;
        }
    } else {
        pid = find_master();
        if (pid == 0)
            fprintf(stderr, "dialtone: no dialtone processes running\n");
        if (pid <= 0)
            return 1;
    }
    if (kill(pid, sig) == -1) {
        fprintf(stderr, "dialtone: cannot signal %d: %s\n", (int)pid,
                strerror(errno));
        return 1;
    }
    return 0;
}
