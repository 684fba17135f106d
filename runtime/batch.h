/*
 * Events, batches and the outputs an invocation sends: the unit of work that moves from
 * the loop thread (triggers, the pipeline) to a Lua worker and back.
 */
#ifndef HF_BATCH_H
#define HF_BATCH_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"

typedef struct hf_header {
    char *name;
    char *value;                 /* may hold NUL bytes; value_len says how long */
    size_t value_len;
} hf_header_t;

/* One event as the handler sees it. The trigger copies payload, key and headers out of its
   client's buffers into `own` at once, so that a few waiting events do not keep whole fetch
   responses alive. */
typedef struct hf_event {
    char *own;                   /* payload (NUL-terminated), key, header names and values;
                                    or NULL */
    const char *payload;
    size_t len;
    const char *key;             /* partition key, or NULL */
    size_t key_len;
    hf_header_t *headers;        /* properties (names and values point into own), or NULL */
    size_t headers_n;
    int32_t partition;
    int64_t offset;
    int64_t enqueued_ms;         /* broker/producer timestamp, epoch ms; -1 unknown */
    int64_t received_us;         /* monotonic time the host took it off the consumer */
    uint64_t seq;                /* its place in its lane (pipeline.c) */
    uint64_t order_key;          /* a hash of its ordering key (pipeline.c); 0: none */
} hf_event_t;

/* One message an invocation sent through an output binding. */
typedef struct hf_output {
    int binding;                 /* index in fn->outputs */
    char *key;                   /* partition key or NULL */
    size_t key_len;
    hf_header_t *headers;        /* owned */
    size_t headers_n;
    char *body;
    size_t body_len;
    int body_is_json;            /* body is a JSON document (a table was sent) */
    void *ext;                   /* what else the binding type keeps (its free_ext frees it) */
    size_t invocation;           /* cardinality one: 1 + the index of the event whose
                                    invocation sent it, so that its failed delivery fails
                                    that invocation only; 0: the batch's */
} hf_output_t;

typedef enum { HF_BATCH_OK, HF_BATCH_FAILED } hf_batch_status_t;

/* Why an invocation's output was not delivered, for its events' dead-letter headers. */
typedef struct hf_inv_failure {
    int binding;                 /* index in fn->outputs */
    int status;                  /* its HTTP status, when it had one, else 0 */
    char *response;              /* the first bytes of the answer, or NULL */
    char *error;                 /* NULL: nothing recorded */
} hf_inv_failure_t;

typedef struct hf_batch {
    /* in */
    const hf_function_t *fn;
    int fn_index;
    const char *hub;
    int32_t partition;
    hf_event_t *events;
    size_t events_n;
    int retry_count;
    int max_retry_count;
    /* out, filled by the worker */
    hf_batch_status_t status;
    char *error;                 /* message with traceback when FAILED */
    int invocations;             /* cardinality one: one per event */
    int failed_invocations;
    size_t failed_marked;        /* events failed through context.fail */
    unsigned char *event_failed; /* per event, set when its invocation failed; NULL = all
                                    events share the batch's status (cardinality many) */
    char **event_error;          /* per event, why it failed when that is not `error`
                                    (context.fail's reason, another invocation's error);
                                    NULL entries (or NULL) mean `error` */
    size_t event_error_n;        /* entries of event_error */
    hf_output_t *outputs;
    size_t outputs_n, outputs_cap;
    int64_t run_us;              /* time spent in Lua */
    int64_t started_ms;          /* wall clock when the handler started, epoch ms */
    int64_t done_ms;             /* wall clock when it returned, epoch ms */
    /* filled while its outputs are delivered */
    int delivery_failed;         /* an output message could not be delivered */
    char *delivery_error;        /* why the first one was not */
    int fail_binding;            /* the binding of that message (index in fn->outputs), -1 */
    int fail_status;             /* its HTTP status, when it had one, else 0 */
    char *fail_response;         /* the first bytes of the answer, when there was one */
    size_t delivered;            /* output messages with a successful delivery report */
    /* the spans of its invocations (trace.c), ended when the batch is freed */
    struct hf_span *spans;
    size_t spans_n, spans_cap;
    hf_inv_failure_t *inv_failures;  /* cardinality one: per event, the first output of its
                                        invocation that failed for good; NULL when none */
    size_t inv_failures_n;
    /* the pipeline's (pipeline.c) */
    void *owner;                 /* the lane */
    uint64_t generation;         /* the lane's, when dispatched */
    int stage;                   /* where the batch is on its way */
    int dead_lettering;          /* the outputs are the failed events, for $deadLetter */
    int keyed;                   /* its events hold their ordering keys in the lane */
    /* bisectOnError: the batch's handler raised, and it runs again on parts of it */
    size_t range_first, range_n; /* the events the next run covers; range_n 0: all */
    size_t *bisect;              /* parts still to run: (first, n) pairs, last runs next */
    size_t bisect_n, bisect_cap;
    int bisected;                /* every part ran: event_failed says which events failed */
    char *bisect_error;          /* the error of the first event that failed alone */
    ev_timer timer;              /* a retry's delay, a dead-letter hub's back-off */
    struct hf_batch *lane_next;  /* the lane's unresolved batches */
    struct hf_batch *next;       /* in worker queues and lists of finished batches */
} hf_batch_t;

hf_batch_t *hf_batch_new(size_t events_cap);
/* Free the batch, its outputs and its events; its spans end (trace.h). */
void hf_batch_free(hf_batch_t *batch);
void hf_batch_clear_outputs(hf_batch_t *batch);
/* Append an output message (taking what it holds). */
void hf_batch_add_output(hf_batch_t *batch, const hf_output_t *out);
/* Free the outputs from index `from` on (those of a failed invocation). */
void hf_batch_drop_outputs(hf_batch_t *batch, size_t from);
void hf_event_release(hf_event_t *ev);
/* Free an output of function fn (its binding type frees out->ext); fn NULL when there is
   no ext. */
void hf_output_free(const hf_function_t *fn, hf_output_t *out);
/* Add a header to an output (name and value copied). */
void hf_output_add_header(hf_output_t *out, const char *name, const char *value, size_t len);

#endif
