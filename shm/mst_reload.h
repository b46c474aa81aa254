/*
 * mst_reload.h -- config reload for the master (see mst_reload.c).
 */
#ifndef MST_RELOAD_H
#define MST_RELOAD_H

#include "mst_options.h"

/* Load the configuration again from argc/argv; apply what changed to
 * `live` (the fabric's settings) and to `running` when all of it can be.
 * 0 applied (or nothing changed), -1 refused or failed (logged). */
int mst_reload(struct mst_options *running, struct shm_settings *live,
               int argc, char **argv);

#endif /* MST_RELOAD_H */
