/*
 * The OTLP exporter: finished spans (trace.h) go to an OpenTelemetry collector over
 * OTLP/HTTP with JSON encoding (POST .../v1/traces, Content-Type application/json), through
 * the libcurl client on the loop (httpc.h), so that a slow or absent collector never holds
 * the loop up.
 *
 * Spans wait in a queue of at most OTEL_BSP_MAX_QUEUE_SIZE spans (and 16 MiB); one request
 * at a time carries up to OTEL_BSP_MAX_EXPORT_BATCH_SIZE of them, when that many wait or
 * every OTEL_BSP_SCHEDULE_DELAY. A request answered 429, 502, 503 or 504, or not answered,
 * is tried twice more (after 1 s and 2 s, or the Retry-After it names, at most 10 s);
 * then its spans are dropped. Spans that find the queue full are dropped at once. Either
 * way hubfn_trace_spans_dropped_total counts them and a warning says so (at most once a
 * minute per reason while it lasts). Events are never held back for spans.
 *
 * The settings are the standard OpenTelemetry variables (docs/operations.md "Tracing"),
 * looked up as app settings: the environment, then local.settings.json Values.
 *
 * Thread: the loop thread.
 */
#ifndef HF_OTLP_H
#define HF_OTLP_H

#include <ev.h>
#include <stddef.h>

#include "metrics.h"

typedef struct hf_otlp hf_otlp_t;

/* A setting lookup: the value of `name`, or NULL. */
typedef const char *(*hf_otlp_get_fn)(void *ud, const char *name);

/* Set tracing up for hubfn start from the OTEL_* settings: the sampler, the link limit and
   traceparent on outputs (hf_trace_setup), and the exporter when an endpoint is set (*out
   then holds it, else NULL). Questionable values get one warning line each and their
   default. -1 with one line in err when the endpoint is not an http(s) URL. */
int hf_otlp_setup(hf_otlp_t **out, struct ev_loop *loop, hf_metrics_t *metrics,
                  hf_otlp_get_fn get, void *ud, char *err, size_t errsz);

/* Queue one span (an OTLP/JSON span object; the exporter owns json from now on). */
void hf_otlp_add(hf_otlp_t *o, char *json, size_t len);

/* Send what waits, serving the client for up to timeout_ms (the loop no longer runs),
   without retries; stop tracing (hf_trace_setup(NULL)) and free. NULL: only the latter. */
void hf_otlp_shutdown(hf_otlp_t *o, int timeout_ms);

#endif
