/*
 * gw_http.h -- the monitoring endpoints (/varz, /connz, /subsz,
 * /subscriptionsz, /healthz and an HTML index at /), answered from the
 * shared-memory segment with nats-server 2.9.10's JSON field names.
 *
 * NOTES
 *   gw_http_handle() is a pure request -> response function: the event
 *   loop owns the socket, feeds it the bytes received so far and writes
 *   what it appends to `out`, then closes the connection (every response
 *   says "Connection: close"; no keep-alive, no request bodies).
 *   It only reads the segment; counters may move while a response is
 *   built, which monitoring tolerates (each value is read once).
 *   Its only state is a per-process table of request counts, reported as
 *   /varz http_req_stats; it is not thread-safe (one loop per process).
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "dt_buf.h"
#include "shm.h"

#define GW_HTTP_MAX_REQUEST  8192   /* request line + headers */
#define GW_HTTP_DEFAULT_LIMIT 1024  /* /connz page size, as nats-server */

/* req/len: bytes received so far.  Returns 1 when a full request was
 * parsed and a full HTTP/1.1 response (status line, Content-Type,
 * Content-Length, Connection: close) was appended to out; *used = request
 * bytes consumed.  0 = need more bytes (nothing appended).  Bad or
 * oversized (> GW_HTTP_MAX_REQUEST) requests produce a 400 response and
 * return 1; unknown paths 404.  A negative -errno (-ENOBUFS, -ENOMEM)
 * means not even an error response fit in out: close the connection. */
int gw_http_handle(const struct shm_handle *h, const char *req, size_t len,
                   size_t *used, struct dt_buf *out);

/* Formatting helpers, exported for tests and for other monitoring code.
 * Each writes a NUL-terminated string into buf and returns its length. */

/* Go time.Duration.String(): "0s", "406µs", "1.5ms", "1m30s", "2h0m5s". */
size_t gw_http_fmt_duration(char *buf, size_t size, uint64_t ns);
/* nats-server uptime style: "5s", "3m2s", "1h0m0s", "2d3h4m5s", "1y..." */
size_t gw_http_fmt_uptime(char *buf, size_t size, uint64_t ns);
/* RFC 3339 with nanoseconds, UTC, trailing zeros trimmed, as Go's
 * time.RFC3339Nano: "2026-11-26T09:49:54.348074Z". */
size_t gw_http_fmt_time(char *buf, size_t size, uint64_t wall_ns);

/* gw_jsz.c: the "jetstream" member of /varz, and /jsz's members after
 * server_id and now, into an object the caller has begun. */
struct dt_jw;
void gw_jsz_varz(struct dt_jw *w, const struct shm_handle *h);
void gw_jsz_body(struct dt_jw *w, const struct shm_handle *h);

#endif /* GW_HTTP_H */
