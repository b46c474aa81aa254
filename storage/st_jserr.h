/*
 * st_jserr.h -- a JetStream API error as nats-server reports it:
 * {"error":{"code":400,"err_code":10058,"description":"..."}}.
 * Shared by the stream and consumer layers.
 */
#ifndef ST_JSERR_H
#define ST_JSERR_H

struct dt_jw;

struct st_jserr {
    int code;               /* 0 = no error; else HTTP-like (400, 404, 500) */
    int err_code;           /* JSErrCode, e.g. 10014 */
    char description[256];
};

void st_jserr_set(struct st_jserr *e, int code, int err_code,
                  const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 503/10077 "<reason>" for a store failure reported by on_done(). */
void st_jserr_store_failed(struct st_jserr *e, int status);
/* Write the "error" member into the object being written. */
void st_jserr_json(struct dt_jw *w, const struct st_jserr *e);

#endif /* ST_JSERR_H */
