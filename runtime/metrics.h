/*
 * Metrics: a small registry of counters, gauges and histograms with labels, rendered in
 * the Prometheus text format 0.0.4 for `GET /metrics` (runtime/http.c).
 *
 * A family (hf_metric_t) has a name, a type, label names and, for a histogram, bucket
 * bounds; a series (hf_series_t) is one set of label values of a family. Callers look a
 * series up once (hf_metric_series) and keep the pointer: it stays valid until the
 * registry is freed, so counting an event is one addition.
 *
 * Every function accepts NULL for the registry, family or series and then does nothing,
 * so code can count unconditionally while metrics are off.
 *
 * Thread: the loop thread only (no locking). Workers record what they measure in their
 * batch (hf_batch_t run_us, started_ms, done_ms) and the loop thread adds it when the batch
 * comes back.
 *
 * The families hubfn exports are one table in metrics.c (hf_metrics_new_host);
 * docs/operations.md describes each of them.
 */
#ifndef HF_METRICS_H
#define HF_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct hf_metrics hf_metrics_t;
typedef struct hf_metric hf_metric_t;
typedef struct hf_series hf_series_t;

typedef enum { HF_METRIC_COUNTER, HF_METRIC_GAUGE, HF_METRIC_HISTOGRAM } hf_metric_type_t;

/* One family. labels: comma-separated label names, "" or NULL for none. buckets: a
   histogram's upper bounds, ascending (+Inf is implicit). Strings are not copied. */
typedef struct hf_metric_def {
    const char *name;
    hf_metric_type_t type;
    const char *labels;
    const double *buckets;
    size_t buckets_n;
    const char *help;
} hf_metric_def_t;

hf_metrics_t *hf_metrics_new(void);
void hf_metrics_free(hf_metrics_t *reg);

/* Add a family; NULL if def is invalid (bad name or label name, a histogram without
   buckets, a name defined twice). */
hf_metric_t *hf_metrics_define(hf_metrics_t *reg, const hf_metric_def_t *def);
/* The family named name, or NULL. */
hf_metric_t *hf_metrics_find(hf_metrics_t *reg, const char *name);

/* The series with these label values (exactly one const char * per label name of the
   family, in order; at most 16 labels), created on first use. NULL if m is NULL. */
hf_series_t *hf_metric_series(hf_metric_t *m, ...);

/* Counter or gauge: add v (a counter ignores v < 0). */
void hf_series_add(hf_series_t *s, double v);
/* Gauge: set to v. */
void hf_series_set(hf_series_t *s, double v);
/* Gauge: leave the series out of the output until it is set again (e.g. the lag of a
   partition this instance no longer owns). */
void hf_series_hide(hf_series_t *s);
/* Histogram: count one observation of v. */
void hf_series_observe(hf_series_t *s, double v);
/* Histogram: count n observations of v (n equal values, e.g. a batch's events). */
void hf_series_observe_n(hf_series_t *s, double v, uint64_t n);
/* The current value of a counter or gauge, or a histogram's observation count. */
double hf_series_value(const hf_series_t *s);

/* fn(ud) runs before each rendering, to set gauges that are read rather than counted. */
void hf_metrics_on_collect(hf_metrics_t *reg, void (*fn)(void *ud), void *ud);

/* Render every family in the Prometheus text format 0.0.4: a malloc'd NUL-terminated
   string (its length in *len); NULL only when reg is NULL. */
char *hf_metrics_render(hf_metrics_t *reg, size_t *len);

/* The families hubfn exports, in the order of the table in metrics.c. */
typedef enum {
    HF_M_EVENTS_RECEIVED,
    HF_M_EVENTS_PROCESSED,
    HF_M_EVENTS_FAILED,
    HF_M_INVOCATIONS,
    HF_M_BATCH_SIZE,
    HF_M_INVOCATION_DURATION,
    HF_M_ENQUEUED_TO_START,
    HF_M_ENQUEUED_TO_DONE,
    HF_M_CONSUMER_LAG,
    HF_M_CONSUMER_LAG_SECONDS,
    HF_M_PARTITIONS_ASSIGNED,
    HF_M_PARTITION_IN_FLIGHT,
    HF_M_HELD_BY_ORDERING,
    HF_M_RETRIES,
    HF_M_DEAD_LETTERED,
    HF_M_CHECKPOINTS,
    HF_M_CHECKPOINT_FAILURES,
    HF_M_OFFSET_RESETS,
    HF_M_OUTPUTS_DELIVERED,
    HF_M_OUTPUTS_FAILED,
    HF_M_HTTP_REQUESTS,
    HF_M_HTTP_DURATION,
    HF_M_HTTP_RETRIES,
    HF_M_HTTP_THROTTLED,
    HF_M_HTTP_IN_FLIGHT,
    HF_M_READY,
    HF_M_BUILD_INFO,
    HF_M_CHECKPOINT_LAG,
    HF_M_OLDEST_INVOCATION,
    HF_M_LUA_MEMORY,
    HF_M_LUA_MEMORY_LIMIT,
    HF_M_SPANS_EXPORTED,
    HF_M_SPANS_DROPPED,
    HF_M_SPAN_QUEUE,
    HF_M_PROCESS_CPU,
    HF_M_PROCESS_RSS,
    HF_M_PROCESS_VSZ,
    HF_M_PROCESS_FDS,
    HF_M_PROCESS_MAX_FDS,
    HF_M_PROCESS_START,
    HF_M_STATE_KEYS,
    HF_M_STATE_BYTES,
    HF_M_STATE_RESTORES,
    HF_M_STATE_RESTORE_DURATION,
    HF_M_STATE_WRITES,
    HF_M__COUNT
} hf_metric_id_t;

/* A registry holding every family of the table. */
hf_metrics_t *hf_metrics_new_host(void);
/* Family id of a registry made by hf_metrics_new_host; NULL when reg is NULL. */
hf_metric_t *hf_metrics_get(hf_metrics_t *reg, hf_metric_id_t id);
/* The table itself (HF_M__COUNT entries), for documentation checks. */
const hf_metric_def_t *hf_metrics_host_defs(void);
/* Let hubfn_invocation_duration_seconds' buckets reach the function timeout (seconds; <= 0:
   none, the buckets then reach 1 h): 1 ms to 60 s, then 120, 300, 600, 900, 1800, 3600 s
   below the timeout, then the timeout itself. Only before the family has series; -1
   after. */
int hf_metrics_set_function_timeout(hf_metrics_t *reg, double seconds);
/* Set the process_* families from /proc (Linux): CPU time, resident and virtual memory,
   open and allowed file descriptors, start time. */
void hf_metrics_collect_process(hf_metrics_t *reg);

#endif
