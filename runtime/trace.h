/*
 * Trace context (W3C Trace Context, https://www.w3.org/TR/trace-context/): the incoming
 * context of each event, one span per invocation, the sampler, and what outputs, logs and
 * Lua see of the span. runtime/otlp.c exports finished spans.
 *
 * An event's context is its `traceparent` property (a Kafka header), else its
 * `Diagnostic-Id` (older Azure SDKs), which holds either a traceparent or a legacy
 * hierarchical Request-Id ("|<root>.<n>.") whose root, when it is 32 hex digits, gives the
 * trace id. Values encoded as AMQP strings (an AMQP producer read through the Kafka
 * endpoint) are read too.
 *
 * An invocation's span takes its trace id and parent from the first event's context (or
 * starts a new trace), gets a new span id, and links to every event's context. Its sampled
 * flag comes from the sampler (OTEL_TRACES_SAMPLER). The span ends when its batch is
 * settled (hf_trace_batch_end, from hf_batch_free): its outcome is then known (ok, error,
 * timeout, dead-lettered), and a sampled span goes to the sink (the OTLP exporter) as one
 * OTLP/JSON span object.
 *
 * Thread: hf_trace_setup before any worker starts; hf_trace_begin / hf_trace_end_invocation
 * / hf_trace_stamp on the thread that runs the invocation; hf_trace_batch_end where batches
 * are freed (the loop thread); the sink is called there.
 */
#ifndef HF_TRACE_H
#define HF_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "log.h"

#define HF_TRACEPARENT_LEN 55        /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define HF_TRACESTATE_MAX 512        /* longer tracestate values are not passed on */

/* One W3C context: a trace id, a span id and the trace flags (bit 0: sampled). */
typedef struct hf_trace_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t flags;
} hf_trace_ctx_t;

#define HF_TRACE_SAMPLED 0x01

/* Parse a traceparent value (surrounding spaces and tabs allowed). Version 00 must be
   exactly 55 characters; a later version may carry more after a '-'; version ff, upper
   case hex, an all-zero trace or span id or a wrong length are invalid. 0, or -1. */
int hf_traceparent_parse(const char *s, size_t len, hf_trace_ctx_t *ctx);
/* ctx as a version-00 traceparent into out (56 bytes: 55 and a NUL). */
void hf_traceparent_format(const hf_trace_ctx_t *ctx, char *out);
/* n bytes as 2n lower-case hex digits and a NUL. */
void hf_trace_hex(const uint8_t *bytes, size_t n, char *out);

/* Where an event's context came from. */
typedef enum {
    HF_TRACE_FROM_NONE,          /* none (or none valid): a new trace */
    HF_TRACE_FROM_TRACEPARENT,   /* the traceparent property */
    HF_TRACE_FROM_DIAGNOSTIC_ID, /* a traceparent in Diagnostic-Id */
    HF_TRACE_FROM_REQUEST_ID     /* a legacy Request-Id in Diagnostic-Id: trace id only */
} hf_trace_from_t;

/* The event's incoming context. With HF_TRACE_FROM_REQUEST_ID only ctx->trace_id is set.
   *state (may be NULL) gets the tracestate property when the context came from
   traceparent and the value is fit to pass on (printable, at most HF_TRACESTATE_MAX). */
hf_trace_from_t hf_trace_from_event(const hf_event_t *ev, hf_trace_ctx_t *ctx,
                                    const char **state, size_t *state_len);

/* ---- the sampler (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG) ---- */

typedef enum {
    HF_SAMPLER_ALWAYS_ON,
    HF_SAMPLER_ALWAYS_OFF,
    HF_SAMPLER_RATIO,            /* traceidratio */
    HF_SAMPLER_PARENT_ON,        /* parentbased_always_on (the default) */
    HF_SAMPLER_PARENT_OFF,       /* parentbased_always_off */
    HF_SAMPLER_PARENT_RATIO      /* parentbased_traceidratio */
} hf_sampler_kind_t;

typedef struct hf_sampler {
    hf_sampler_kind_t kind;
    double ratio;                /* 0..1, for the ratio kinds */
} hf_sampler_t;

/* Read a sampler name and its argument (either may be NULL or empty: the default
   parentbased_always_on; ratio 1.0). 0; or -1 with one line in err (an unknown name, an
   argument that is not a number from 0 to 1), s then holding the default. */
int hf_sampler_parse(const char *name, const char *arg, hf_sampler_t *s, char *err,
                     size_t errsz);
/* Sample a span of trace_id whose parent is `parent` (NULL: a root span). 1 or 0.
   traceidratio keeps a trace when the last 8 bytes of its id, read as a big-endian number
   and halved, are below ratio * 2^63: the same trace is kept or not everywhere. */
int hf_sampler_sample(const hf_sampler_t *s, const hf_trace_ctx_t *parent,
                      const uint8_t trace_id[16]);

/* ---- spans ---- */

typedef enum {
    HF_OUTCOME_OK,
    HF_OUTCOME_ERROR,            /* raised, context.fail, an output not delivered */
    HF_OUTCOME_TIMEOUT,          /* past functionTimeout */
    HF_OUTCOME_DEAD_LETTERED     /* failed, and its events went to $deadLetter */
} hf_outcome_t;

const char *hf_outcome_name(hf_outcome_t o);

/* The span of one invocation. */
typedef struct hf_span {
    hf_trace_ctx_t ctx;          /* its trace id, its own span id, its flags */
    uint8_t parent_span_id[8];
    int has_parent;
    hf_trace_from_t from;        /* where the first event's context came from */
    /* the text forms, made on first need (hf_span_texts) */
    int texts;
    char traceparent[HF_TRACEPARENT_LEN + 1];   /* ctx, as outputs carry it */
    char trace_hex[33], span_hex[17], parent_hex[17];
    char *tracestate;            /* the parent's, passed on; NULL */
    char invocation_id[40];
    size_t first, n;             /* its events in the batch when it ran */
    int64_t first_offset, last_offset;
    int64_t start_ns, end_ns;    /* epoch nanoseconds */
    hf_outcome_t outcome;        /* as the handler left it */
    char *error;                 /* the first line of the failure, masked; NULL */
    const char *function;        /* the function's name (the app's) */
    const char *hub;             /* the input hub (the app's); NULL */
    char *group;                 /* the consumer group; NULL */
    int32_t partition;
    int retry_count;
    hf_trace_ctx_t *links;       /* every event's context (recorded when exported) */
    uint32_t links_n, links_dropped;
} hf_span_t;

/* What hubfn start sets up; hubfn run keeps the defaults (no sink, no propagation). */
typedef struct hf_trace_cfg {
    hf_sampler_t sampler;
    int propagate;               /* add traceparent to output messages */
    uint32_t link_limit;         /* links kept per span (OTEL_SPAN_LINK_COUNT_LIMIT, 128) */
    /* Takes one finished sampled span as an OTLP/JSON span object (a malloc'd string it
       then owns); NULL: spans are not kept. */
    void (*sink)(void *ud, char *json, size_t len);
    void *sink_ud;
} hf_trace_cfg_t;

/* Install cfg (NULL: the defaults: parentbased_always_on, 128 links, no propagation, no
   sink). */
void hf_trace_setup(const hf_trace_cfg_t *cfg);
/* The settings of the OTEL_* variables that concern spans (sampler, link limit), read
   through get (a setting lookup, e.g. hf_app_setting). Bad values are left at their
   defaults, each with one warning line in warn (when warn is not NULL). */
void hf_trace_config_read(hf_trace_cfg_t *cfg, const char *(*get)(void *ud, const char *name),
                          void *ud, void (*warn)(void *ud, const char *line), void *warn_ud);

/* 1 when finished spans go somewhere (an exporter is set up): what only exported spans
   need (links, the consumer group) is gathered then. */
int hf_trace_recording(void);

/* Start the span of the invocation over events [first, first+n) of the batch, the span
   stored in the batch (freed with it). `group` (may be NULL) is the consumer group. */
hf_span_t *hf_trace_begin(hf_batch_t *batch, size_t first, size_t n, const char *invocation_id,
                          const char *group);
/* Fill the span's text forms (traceparent, the hex ids) if not done yet. */
void hf_span_texts(hf_span_t *span);
/* The invocation returned: ok, failed (error, its first line kept) or timed out. */
void hf_trace_end_invocation(hf_span_t *span, hf_outcome_t outcome, const char *error);
/* An output message of the batch was not delivered: the span of the invocation that sent it
   (`invocation`: 1 + its event's index, cardinality one; 0: every invocation of the batch)
   ends as an error, unless it goes to the dead-letter hub. Nothing while dead-lettering. */
void hf_trace_output_failed(hf_batch_t *batch, size_t invocation, const char *why);
/* Add "traceparent" (and "tracestate" when there is one) to an output message unless it
   has a traceparent header already; only when propagation is on. */
void hf_trace_stamp(hf_span_t *span, hf_output_t *out);
/* Fill the trace fields of a log context with the span's ids. */
void hf_trace_log_ctx(hf_span_t *span, hf_log_ctx_t *ctx);
/* The span a log line about the batch's failure belongs to: the first failed one, else the
   first; NULL when the batch ran no invocation. */
hf_span_t *hf_trace_batch_span(hf_batch_t *batch);
/* The batch is settled (or dropped): end its spans with their outcome, hand the sampled
   ones to the sink, free them. */
void hf_trace_batch_end(hf_batch_t *batch);

/* The OTLP/JSON span object of a finished span (a malloc'd string; its length in *len). */
char *hf_span_json(hf_span_t *span, size_t *len);

#endif
