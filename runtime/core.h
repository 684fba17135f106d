/*
 * What the host of `hubfn start` offers binding types: the event loop, the app, metrics,
 * the batch pipeline, and one way to stop the host on a failure waiting cannot fix. Binding
 * types see the host only through these calls (bindings/binding.h); runtime/host.c
 * implements them.
 *
 * Thread: the loop thread, unless a function says otherwise.
 */
#ifndef HF_CORE_H
#define HF_CORE_H

#include <ev.h>
#include <stdint.h>

#include "app.h"

typedef struct hf_core hf_core_t;
typedef struct hf_pipeline hf_pipeline_t;
typedef struct hf_metrics hf_metrics_t;

/* The command line's choices that binding types act on. */
typedef struct hf_core_opts {
    int embedded;                /* --embedded: every connection is the in-process broker */
    int exit_on_eof;             /* --exit-on-eof */
    int partitions;              /* embedded: partitions per hub */
    int embedded_port;           /* embedded: the port on 127.0.0.1 (0: any free port) */
    const char *const *embedded_hubs;  /* embedded: more hubs, "NAME[:PARTITIONS]" */
    int embedded_hubs_n;
    int workers;                 /* Lua worker threads */
} hf_core_opts_t;

/* Counters of the summary line `hubfn start` prints when it stops. */
typedef struct hf_host_stats {
    uint64_t events;
    uint64_t batches;
    uint64_t failed_batches;
    uint64_t failed_events;
    uint64_t outputs;
    uint64_t retries;
    uint64_t dead_lettered;
} hf_host_stats_t;

struct ev_loop *hf_core_loop(hf_core_t *core);
/* The app. Services that set connections up (the embedded broker) may change its
   connections before the other types start; everything else reads it. */
hf_app_t *hf_core_app(hf_core_t *core);
const hf_core_opts_t *hf_core_opts(hf_core_t *core);
/* The metrics registry, or NULL when metrics are off (metrics.h calls accept NULL). */
hf_metrics_t *hf_core_metrics(hf_core_t *core);
hf_pipeline_t *hf_core_pipeline(hf_core_t *core);

/* Stop the host with exit code 1 on a failure waiting cannot fix (credentials, rights, an
   unknown hub), after logging `why` as one error line. What the failure hit is not
   checkpointed: it runs again once the cause is fixed. The first call wins. */
void hf_core_fail(hf_core_t *core, const char *why);
/* 1 once hf_core_fail was called. */
int hf_core_failed(const hf_core_t *core);
/* 1 once the host began to drain (a signal, --exit-on-eof, a failure). */
int hf_core_stopping(const hf_core_t *core);
/* 1 when the drain gave up: release without waiting for handlers still running. */
int hf_core_abandoned(const hf_core_t *core);
/* Something a stop waits for may have happened (a trigger reached the end of its
   partitions, or went idle while draining): the host looks again. */
void hf_core_check(hf_core_t *core);

/* Triggers: partition `partition` of function fn_index's input was assigned to this
   instance. Binding types that keep something per partition load it (eventHubState
   restores its state); returns how many holds they put on it: hand none of its events to
   a handler until as many hf_core_partition_ready calls have come (the trigger's
   partition_ready callback). */
int hf_core_partition_assigned(hf_core_t *core, int fn_index, int32_t partition);
/* Triggers: the partition was revoked or lost (after its last checkpoint). */
void hf_core_partition_revoked(hf_core_t *core, int fn_index, int32_t partition);
/* Binding types: one hold on the partition is released. */
void hf_core_partition_ready(hf_core_t *core, int fn_index, int32_t partition);

#endif
