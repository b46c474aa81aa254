/*
 * mst_signal.h -- `dialtone --signal <cmd>[=<pid>]`: signal a running
 * master the way nats-server's --signal does, then exit.
 */
#ifndef MST_SIGNAL_H
#define MST_SIGNAL_H

/* cmd: ldm, stop, quit, term, reopen or reload, optionally "=<pid>";
 * without a pid, the pid file (if configured) or the one running
 * dialtone master.  Returns the process exit code (0 sent, 1 not). */
int mst_send_signal(const char *cmd, const char *pid_file);

#endif /* MST_SIGNAL_H */
