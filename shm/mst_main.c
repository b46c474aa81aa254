/*
 * mst_main.c -- `dialtone`, the master process: options, then supervise.
 *
 * NOTES
 *   Thin on purpose: options come from mst_options.c, the children and
 *   the fabric from mst_supervise.c.  Exit 0 after SIGINT/SIGTERM, 1 on a
 *   start-up error (bad flag, port in use), as nats-server does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dt_config.h"
#include "dt_log.h"
#include "mst_options.h"
#include "mst_signal.h"
#include "mst_supervise.h"

static int
write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -errno;
    fprintf(f, "%d", (int)getpid());
    fclose(f);
    return 0;
}

int
main(int argc, char **argv)
{
    static struct mst_options o;
    static struct mst_supervisor sv;
    char err[512];

    if (mst_options_load(&o, argc, argv, err, sizeof(err)) < 0) {
        fprintf(stderr, "dialtone: %s\n", err);
        return 1;
    }
    if (o.warnings[0])
        fprintf(stderr, "%s\n", o.warnings);
    if (o.show_help) {
        mst_options_usage(stdout);
        return 0;
    }
    if (o.signal_cmd[0])
        return mst_send_signal(o.signal_cmd, o.pid_file);
    if (o.show_version) {
        printf("dialtone: v%s (nats-server v%s compatible)\n", DT_VERSION,
               DT_NATS_COMPAT_VERSION);
        return 0;
    }
    if (o.test_config) {
        printf("dialtone: configuration file %s is valid\n",
               o.config_file[0] ? o.config_file : "(none)");
        return 0;
    }
    if (dt_log_init(o.log_file, (int)o.s.debug, (int)o.s.trace) < 0) {
        fprintf(stderr, "dialtone: cannot open log file %s: %s\n",
                o.log_file, strerror(errno));
        return 1;
    }
    dt_info("Starting dialtone v%s (nats-server v%s compatible)", DT_VERSION,
            DT_NATS_COMPAT_VERSION);
    dt_info("  Name:  %s", o.s.server_name);
    dt_info("  ID:    %s", o.s.server_id);
    if (o.config_file[0])
        dt_info("Using configuration file: %s", o.config_file);
    if (o.pid_file[0] && write_pid_file(o.pid_file) < 0)
        dt_warn("cannot write pid file %s: %s", o.pid_file, strerror(errno));

    int code = 1;
    if (mst_supervisor_start(&sv, &o) == 0) {
        sv.opts = &o;
        sv.argc = argc;
        sv.argv = argv;
        code = mst_supervisor_run(&sv);
    }
    mst_supervisor_stop(&sv);
    if (o.pid_file[0])
        unlink(o.pid_file);
    dt_info("Server Exiting..");
    return code;
}
