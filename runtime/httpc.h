/*
 * HTTP requests through libcurl, two ways:
 *   - on the libev loop (hf_httpc_t): libcurl's multi interface driven by the loop through
 *     curl_multi_socket_action, with an ev_io per socket and one ev_timer; nothing blocks
 *     the loop. The HTTP output binding and the OTLP exporter send this way.
 *   - blocking, on a worker (hf_httpc_sync_t): a multi handle of the thread's own that runs
 *     a set of requests at once and waits for them (or a deadline) with curl_multi_poll;
 *     require("hubfn").http from a handler and `hubfn run --live` use it.
 * Both keep connections open between requests (keep-alive; HTTP/2 with multiplexing where
 * the server offers it over TLS), verify TLS against the system's CAs unless a request
 * names another CA file, and take proxies from the usual environment variables
 * (http_proxy, https_proxy, no_proxy), as libcurl does.
 *
 * Thread: an hf_httpc_t belongs to its loop's thread; an hf_httpc_sync_t to the thread that
 * made it.
 */
#ifndef HF_HTTPC_H
#define HF_HTTPC_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "json.h"

/* One request. Everything is copied when it is sent. */
typedef struct hf_httpc_req {
    const char *method;          /* "GET", "POST", ...; NULL = POST with a body, else GET */
    const char *url;
    const hf_header_t *headers;  /* name and value (value_len bytes) */
    size_t headers_n;
    const char *body;            /* NULL or body_len bytes */
    size_t body_len;
    long timeout_ms;             /* the whole request, connecting included; 0 = 30 s */
    const char *ca_file;         /* PEM file of CAs to trust instead of the system's */
    size_t keep_body;            /* keep at most this many bytes of the response body */
} hf_httpc_req_t;

/* What came back. */
typedef struct hf_httpc_res {
    int status;                  /* the HTTP status, 0 when no response came */
    int transport;               /* a libcurl error (CURLcode) when no response came, else 0 */
    int retryable;               /* no response, but trying again may work (a timeout, a
                                    refused or reset connection, a name not resolved) */
    char error[256];             /* what went wrong when no response came */
    hf_buf_t body;               /* the response body, cut at keep_body bytes */
    hf_header_t *headers;        /* response headers, names in lower case */
    size_t headers_n;
    double seconds;              /* from start to the last byte */
} hf_httpc_res_t;

/* The value of response header `name` (lower case), or NULL. */
const char *hf_httpc_res_header(const hf_httpc_res_t *res, const char *name);
void hf_httpc_res_free(hf_httpc_res_t *res);

/* Seconds to wait from a Retry-After value (seconds, or an HTTP date), or -1 when it is
   neither; now_ms is the current epoch time. */
double hf_httpc_retry_after(const char *value, int64_t now_ms);

/* ---- on the loop ---- */

typedef struct hf_httpc hf_httpc_t;

/* Called once per request on the loop thread; res is freed after it returns. */
typedef void (*hf_httpc_done_fn)(void *ud, hf_httpc_res_t *res);

hf_httpc_t *hf_httpc_new(struct ev_loop *loop);
/* Start a request; done(ud, res) follows on the loop (never from inside this call). */
void hf_httpc_send(hf_httpc_t *c, const hf_httpc_req_t *req, hf_httpc_done_fn done, void *ud);
/* Requests started and not done. */
size_t hf_httpc_in_flight(const hf_httpc_t *c);
/* Serve the client now for up to timeout_ms (while the loop itself is blocked). */
void hf_httpc_poll(hf_httpc_t *c, int timeout_ms);
/* Stop every request (their done is not called) and free the client. */
void hf_httpc_free(hf_httpc_t *c);

/* ---- on a worker ---- */
/* A client of the thread's own: a multi handle run with curl_multi_poll. Requests go in
   groups; a handler either waits for its group (hf_httpc_sync_run) or, suspended, lets the
   worker serve other invocations meanwhile (start, wait, take). */
typedef struct hf_httpc_sync hf_httpc_sync_t;
typedef struct hf_httpc_group hf_httpc_group_t;

hf_httpc_sync_t *hf_httpc_sync_new(void);
/* Run the n requests at once and wait until all are answered or deadline_us (monotonic,
   hf_mono_us; 0 = none) passes; requests still running then fail with "timed out".
   Other groups progress meanwhile. */
void hf_httpc_sync_run(hf_httpc_sync_t *s, const hf_httpc_req_t *reqs, hf_httpc_res_t *res,
                       size_t n, int64_t deadline_us);
/* Start n requests as one group whose results go to res[0..n) (which must stay valid
   until the group is taken or cancelled); it is done when all are answered or deadline_us
   passes. */
hf_httpc_group_t *hf_httpc_sync_start(hf_httpc_sync_t *s, const hf_httpc_req_t *reqs,
                                      hf_httpc_res_t *res, size_t n, int64_t deadline_us,
                                      void *ud);
/* Serve requests for up to timeout_ms; returns earlier once a group is done or
   hf_httpc_sync_wakeup was called. */
void hf_httpc_sync_wait(hf_httpc_sync_t *s, int timeout_ms);
/* The ud of a group that is done (its results are in its res), removing it; NULL when
   none is. */
void *hf_httpc_sync_take(hf_httpc_sync_t *s);
/* Groups started and not taken or cancelled. */
size_t hf_httpc_sync_groups(const hf_httpc_sync_t *s);
/* Stop a group (its res entries are freed when it was done). */
void hf_httpc_sync_cancel(hf_httpc_group_t *g);
/* End a hf_httpc_sync_wait of the owning thread early. Thread: any. */
void hf_httpc_sync_wakeup(hf_httpc_sync_t *s);
/* Cancels every group. */
void hf_httpc_sync_free(hf_httpc_sync_t *s);
#endif
