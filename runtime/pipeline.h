/*
 * The batch pipeline: everything that happens to events between a trigger and the
 * checkpoint, and nothing about where they came from (no Kafka here).
 *
 * A trigger opens one lane per partition it owns and pushes the events it fetches into it.
 * The lane forms batches by host.json's rules (maxEventBatchSize, minEventBatchSize,
 * maxWaitTime), hands them to the runner (the Lua workers), and once a handler returned:
 *   1. delivers the batch's output messages through their binding types (hf_delivery_*),
 *   2. resolves failures: the function's retry policy runs the failed events again after
 *      its delay, context.fail fails single events, and events that failed for good go to
 *      the $deadLetter binding (offered again every 5 s while it refuses them) or are
 *      logged and counted;
 *   3. tells the trigger how far every event is resolved (ops->ack), so that it can move
 *      the checkpoint there. The checkpoint moves only over a contiguous run of resolved
 *      events: a crash never skips one that is not.
 * By default one batch of a lane is in flight at a time, so events of a partition are
 * handled in order and the next batch waits while the previous one retries. With host.json
 * partitionConcurrency N, up to N batches of a lane are in flight, spread over the workers;
 * events with the same orderingKey never run at once and start in offset order (the lane
 * keeps the keys of events in flight). bisectOnError reruns a failed batch in halves until
 * its failing events stand alone.
 *
 * docs/reliability.md lists each path; tests/unit/test_pipeline.c runs them with a fake
 * trigger and a fake output binding.
 *
 * Thread: the loop thread (the runner's workers call nothing here).
 */
#ifndef HF_PIPELINE_H
#define HF_PIPELINE_H

#include <ev.h>
#include <stdint.h>

#include "app.h"
#include "batch.h"
#include "core.h"

typedef struct hf_lane hf_lane_t;
typedef struct hf_delivery hf_delivery_t;
typedef struct hf_binding_type hf_binding_type_t;

/* Who runs handlers: the worker pool of `hubfn start`; tests run batches themselves. */
typedef struct hf_runner {
    /* Run the batch's handler on worker `worker` (0 .. workers-1); when it is done,
       hf_pipeline_complete(batch) follows on the loop thread. */
    void (*submit)(void *ud, int worker, hf_batch_t *batch);
    /* Block up to timeout_ms for finished batches; the finished ones linked by ->next, or
       NULL. Used while the loop waits for a revoked partition's batches. */
    hf_batch_t *(*wait)(void *ud, int timeout_ms);
    int workers;
    void *ud;
} hf_runner_t;

typedef struct hf_pipeline_env {
    struct ev_loop *loop;
    const hf_app_t *app;
    hf_runner_t runner;
    hf_metrics_t *metrics;       /* NULL: off */
    /* The host instance (`state`) of a binding type, or NULL when it is not started. */
    void *(*type_state)(void *ud, const hf_binding_type_t *type);
    /* 1 once the host stops on a failure waiting cannot fix (hf_core_failed). */
    int (*failed)(void *ud);
    /* 1 when the host gives up waiting for running handlers (settle stops waiting). */
    int (*abandoned)(void *ud);
    /* A batch was resolved or discarded: whatever waits for lanes to empty may look again. */
    void (*progress)(void *ud);
    void *ud;
    /* Seconds before events a dead-letter binding refused are offered again (0: 5). */
    double dead_letter_backoff_s;
} hf_pipeline_env_t;

/* How a lane reaches back to its trigger. */
typedef struct hf_lane_ops {
    /* Every event before `offset` is resolved: the checkpoint may move there. */
    void (*ack)(void *ud, int64_t offset);
    /* The lane has room for more events (hf_lane_room > 0). */
    void (*wake)(void *ud);
} hf_lane_ops_t;

/* Where a lane's events come from, for logs and dead-letter headers. */
typedef struct hf_lane_source {
    const char *hub;             /* the input hub */
    const char *group;           /* the consumer group */
} hf_lane_source_t;

hf_pipeline_t *hf_pipeline_new(const hf_pipeline_env_t *env);
/* The host closes its binding types: from now on finished batches and delivery reports
   are only freed. */
void hf_pipeline_shutdown(hf_pipeline_t *pl);
/* Free every lane and what they hold (after the triggers and outputs closed). */
void hf_pipeline_free(hf_pipeline_t *pl);

/* The lane of function fn_index's partition, made on first use; it lives as long as the
   pipeline, so that a late result for a revoked partition finds it. */
hf_lane_t *hf_pipeline_lane(hf_pipeline_t *pl, int fn_index, int32_t partition);
/* The partition is assigned: start from nothing (a fresh checkpoint count, no events). */
void hf_lane_open(hf_lane_t *lane, const hf_lane_source_t *src, const hf_lane_ops_t *ops,
                  void *ud);
/* How many more events the lane takes now. */
size_t hf_lane_room(const hf_lane_t *lane);
/* Events pushed and not yet handed to a handler. */
size_t hf_lane_pending(const hf_lane_t *lane);
/* Hand one event over (the struct is copied; its memory, ev->own, is the lane's now).
   Events come in offset order. */
void hf_lane_push(hf_lane_t *lane, const hf_event_t *ev);
/* Done pushing for now: dispatch what the batching rules allow. `eof`: nothing more is
   coming for a while (the end of the partition), so a partial batch goes at once. */
void hf_lane_pushed(hf_lane_t *lane, int eof);
/* Nothing waiting, running, delivering or waiting to retry. */
int hf_lane_idle(const hf_lane_t *lane);
/* Batches handed to a handler and not resolved (retries waiting for their delay do not
   count). */
int hf_lane_running(const hf_lane_t *lane);
/* The host stops: events not dispatched are dropped, retries waiting for their delay are
   not run (the checkpoint stays before them); running batches finish. */
void hf_lane_drain(hf_lane_t *lane);
/* The partition was revoked or lost: as hf_lane_drain, and results of batches still
   running are discarded when they come (the new owner runs those events again). */
void hf_lane_close(hf_lane_t *lane);

/* Wait up to timeout_ms for the running batches of these lanes to be resolved (a revoke
   lets them finish and checkpoint first), serving finished batches and output deliveries
   meanwhile. 0 when they were, -1 on timeout. */
int hf_pipeline_settle(hf_pipeline_t *pl, hf_lane_t *const *lanes, size_t n, int timeout_ms);
/* A batch came back from its handler. */
void hf_pipeline_complete(hf_pipeline_t *pl, hf_batch_t *batch);
/* An output binding that was full has room again: dispatch what waited for it. */
void hf_pipeline_resume(hf_pipeline_t *pl);
/* Add to the summary counters. */
void hf_pipeline_stats(const hf_pipeline_t *pl, hf_host_stats_t *add);
/* Output messages handed to binding types and not yet reported. */
size_t hf_pipeline_delivering(const hf_pipeline_t *pl);

/* ---- for output binding types ---- */

/* The batch a delivery belongs to, and its message i with the binding it goes through. */
hf_batch_t *hf_delivery_batch(hf_delivery_t *d);
hf_output_t *hf_delivery_msg(hf_delivery_t *d, size_t i);
const hf_binding_t *hf_delivery_binding(hf_delivery_t *d, size_t i);
/* The outcome of message i, reported once. A failure's `why` says what happened ("hub X
   does not exist in ..."). */
void hf_delivery_report(hf_delivery_t *d, size_t i, int ok, const char *why);
/* Message i so far: 1 delivered, -1 failed, 0 not reported yet (for a type whose messages
   wait for others of their invocation: eventHubState). */
int hf_delivery_outcome(const hf_delivery_t *d, size_t i);
/* A failure of message i with what the other end answered: an HTTP status and the first
   bytes of the response, which the dead-letter binding's headers then carry. */
void hf_delivery_fail(hf_delivery_t *d, size_t i, const char *why, int status,
                      const char *response, size_t response_len);

#endif
