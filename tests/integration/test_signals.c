/*
 * test_signals.c -- shutdown by signal: SIGTERM and SIGINT each make the
 * server close its clients and exit within 1 s, with nats-server's exit
 * status (2.9.10 exits 1 on SIGTERM and 0 on SIGINT).  For Dialtone (its
 * --version mentions "dialtone") also: no process of its process group
 * survives, and no new dialtone file is left in /dev/shm.
 *
 * NOTES
 *   Runs alone (is_parallel: false in meson.build) so that /dev/shm is not
 *   touched by another test's server meanwhile.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"

#define EXIT_WAIT_MS 1000
#define SHM_DIR "/dev/shm"
#define MAX_SHM 512

/* nats-server 2.9.10: os.Exit(1) after SIGTERM, a clean 0 after SIGINT.
 * Dialtone exits 0 after both, as nats-server does since 2.11: a service
 * manager should not see an orderly stop as a failure. */
#define NATS_TERM_STATUS 1
#define DIALTONE_TERM_STATUS 0
#define EXPECT_INT_STATUS 0

struct shm_list {
    int n;
    char names[MAX_SHM][256];
};

static void
shm_snapshot(struct shm_list *l)
{
    DIR *d = opendir(SHM_DIR);
    struct dirent *e;

    l->n = 0;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL && l->n < MAX_SHM)
        snprintf(l->names[l->n++], sizeof(l->names[0]), "%s", e->d_name);
    closedir(d);
}

/* Entries of after that are not in before and mention dialtone. */
static int
shm_new_dialtone(const struct shm_list *before, const struct shm_list *after)
{
    int found = 0;

    for (int i = 0; i < after->n; i++) {
        int old = 0;

        if (strcasestr(after->names[i], "dialtone") == NULL)
            continue;
        for (int j = 0; j < before->n && !old; j++)
            old = strcmp(before->names[j], after->names[i]) == 0;
        if (!old) {
            fprintf(stderr, "left behind: %s/%s\n", SHM_DIR, after->names[i]);
            found++;
        }
    }
    return found;
}

static void
check_signal(int sig, int expect_status, int is_dialtone)
{
    static struct shm_list before, after;
    struct dt_server s;
    long long t0, dt;
    int fd = -1, rc, status;

    shm_snapshot(&before);
    rc = dt_server_start(&s, NULL, NULL);
    CHECK_MSG(rc == 0, "start: %s", strerror(-rc));
    if (rc < 0)
        return;
    fd = dt_raw_connect(s.port);
    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_handshake(fd, "{\"verbose\":false}", NULL, 0) == 0);
    REQUIRE(dt_raw_sends(fd, "SUB sig.x 1\r\nPING\r\n") == 0);
    REQUIRE(dt_raw_expect(fd, "PONG", 2000, NULL, 0) == 0);

    t0 = dt_now_ms();
    REQUIRE(dt_server_signal(&s, sig) == 0);
    status = dt_server_wait(&s, EXIT_WAIT_MS);
    dt = dt_now_ms() - t0;
    CHECK_MSG(status >= 0, "%s: still running after %d ms", strsignal(sig),
              EXIT_WAIT_MS);
    CHECK_MSG(status == expect_status, "%s: exit status %d, want %d",
              strsignal(sig), status, expect_status);
    CHECK_INT(dt, <=, EXIT_WAIT_MS);
    /* the client was disconnected */
    CHECK(dt_raw_expect_closed(fd, 1000) == 0);

    if (is_dialtone) {
        long long deadline = dt_now_ms() + 1000;

        while (dt_server_group_alive(&s) && dt_now_ms() < deadline)
            dt_sleep_ms(10);
        CHECK_MSG(!dt_server_group_alive(&s),
                  "%s: processes of group %d survived", strsignal(sig),
                  (int)(s.pid < 0 ? -s.pid : s.pid));
        shm_snapshot(&after);
        CHECK_INT(shm_new_dialtone(&before, &after), ==, 0);
    }
out:
    if (fd >= 0)
        close(fd);
    if (dt_check_failures())
        dt_server_dump_log(&s);
    dt_server_cleanup(&s);
}

int
main(int argc, char **argv)
{
    const char *bin = dt_server_bin();
    int is_dialtone;

    (void)argc;
    if (bin == NULL) {
        printf("SKIP: $DIALTONE_BIN not set or not executable\n");
        return DT_EXIT_SKIP;
    }
    is_dialtone = dt_bin_is_dialtone(bin);
    CHECK(is_dialtone >= 0);
    printf("%s: %s\n", bin, is_dialtone == 1 ? "dialtone" : "not dialtone");
    check_signal(SIGTERM, is_dialtone == 1 ? DIALTONE_TERM_STATUS
                                           : NATS_TERM_STATUS,
                 is_dialtone == 1);
    check_signal(SIGINT, EXPECT_INT_STATUS, is_dialtone == 1);
    return dt_check_summary(argv[0]);
}
