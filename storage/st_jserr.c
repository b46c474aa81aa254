/*
 * st_jserr.c -- JetStream API errors (see st_jserr.h).
 */
#include "st_jserr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dt_json.h"

void
st_jserr_set(struct st_jserr *e, int code, int err_code, const char *fmt, ...)
{
    va_list ap;
    if (e == NULL)
        return;
    e->code = code;
    e->err_code = err_code;
    va_start(ap, fmt);
    vsnprintf(e->description, sizeof(e->description), fmt, ap);
    va_end(ap);
}

void
st_jserr_store_failed(struct st_jserr *e, int status)
{
    if (status == -ENOSPC || status == -EDQUOT)     /* as nats-server */
        st_jserr_set(e, 503, 10023, "insufficient resources");
    else
        st_jserr_set(e, 503, 10077, "%s", strerror(status < 0 ? -status
                                                               : EIO));
}

void
st_jserr_json(struct dt_jw *w, const struct st_jserr *e)
{
    dt_jw_key(w, "error");
    dt_jw_begin_object(w);
    dt_jw_kint(w, "code", e->code);
    dt_jw_kint(w, "err_code", e->err_code);
    dt_jw_kstr(w, "description", e->description);
    dt_jw_end_object(w);
}
