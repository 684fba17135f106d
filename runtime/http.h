/*
 * A very small HTTP server on the libev loop, for probes and metrics: HTTP/1.0 and 1.1,
 * GET and HEAD, one request per connection (Connection: close). Sockets are non-blocking;
 * a request head is at most HF_HTTP_MAX_REQUEST bytes, a connection lives at most
 * HF_HTTP_TIMEOUT_S seconds and at most HF_HTTP_MAX_CONNS are open at once (a new client
 * closes the oldest one not being answered), so slow or idle clients can neither block the
 * loop, nor hold memory for long, nor lock probes out.
 *
 * What a path answers is up to the caller's handler (runtime/host.c: /healthz, /readyz,
 * /metrics).
 *
 * Thread: the loop thread only.
 */
#ifndef HF_HTTP_H
#define HF_HTTP_H

#include <ev.h>
#include <stddef.h>

#define HF_HTTP_MAX_REQUEST 8192
#define HF_HTTP_MAX_CONNS 64
#define HF_HTTP_TIMEOUT_S 10.0

typedef struct hf_http hf_http_t;

typedef struct hf_http_response {
    int status;                  /* 200 unless the handler says otherwise */
    const char *content_type;    /* default "text/plain; charset=utf-8" */
    char *body;                  /* malloc'd; the server frees it */
    size_t body_len;
} hf_http_response_t;

/* Answer a GET (or HEAD) of path, the request target without its query string. */
typedef void (*hf_http_handler_fn)(void *ud, const char *path, hf_http_response_t *res);

/* Listen on address:port (an IPv4 or IPv6 literal; port 0 picks a free one) and serve on
   loop. -1 with one line in err (e.g. the port is taken). */
int hf_http_start(hf_http_t **out, struct ev_loop *loop, const char *address, int port,
                  hf_http_handler_fn handler, void *ud, char *err, size_t errsz);
/* The port listened on (the one picked when 0 was asked for). */
int hf_http_port(const hf_http_t *http);
/* Close the listener and every connection. */
void hf_http_stop(hf_http_t *http);

/* Set res to status with a text body (printf format). */
void hf_http_text(hf_http_response_t *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 1 if address is an IPv4 or IPv6 literal hf_http_start accepts ("[::1]" too). */
int hf_http_valid_address(const char *address);

#endif
