#include "metrics.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "alloc.h"
#include "json.h"

struct hf_series {
    hf_metric_t *metric;
    char **values;               /* one per label name */
    int hidden;                  /* gauge left out of the output */
    double value;                /* counter, gauge */
    uint64_t *counts;            /* histogram: per bucket, not cumulative; [buckets_n] = +Inf */
    double sum;
    uint64_t count;
    hf_series_t *next;
};

struct hf_metric {
    hf_metric_def_t def;
    char **labels;
    size_t labels_n;
    hf_series_t *series, *series_tail;
    hf_metric_t *next;
};

struct hf_metrics {
    hf_metric_t *head, *tail;
    hf_metric_t *by_id[HF_M__COUNT];
    void (*collect)(void *ud);
    void *collect_ud;
    double duration_buckets[32];   /* hubfn_invocation_duration_seconds' (function timeout) */
};

hf_metrics_t *hf_metrics_new(void)
{
    return hf_calloc(1, sizeof(hf_metrics_t));
}

static void series_free(hf_series_t *s, size_t labels_n)
{
    for (size_t i = 0; i < labels_n; i++)
        free(s->values[i]);
    free(s->values);
    free(s->counts);
    free(s);
}

static void metric_free(hf_metric_t *m)
{
    hf_series_t *s = m->series;
    while (s) {
        hf_series_t *next = s->next;
        series_free(s, m->labels_n);
        s = next;
    }
    for (size_t i = 0; i < m->labels_n; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m);
}

void hf_metrics_free(hf_metrics_t *reg)
{
    if (!reg)
        return;
    hf_metric_t *m = reg->head;
    while (m) {
        hf_metric_t *next = m->next;
        metric_free(m);
        m = next;
    }
    free(reg);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; without ':' for label names. */
static int valid_name(const char *s, size_t n, int colon)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

hf_metric_t *hf_metrics_find(hf_metrics_t *reg, const char *name)
{
    for (hf_metric_t *m = reg ? reg->head : NULL; m; m = m->next)
        if (strcmp(m->def.name, name) == 0)
            return m;
    return NULL;
}

/* Split the comma-separated label names of def into m->labels; -1 if one is invalid. */
static int parse_labels(hf_metric_t *m)
{
    const char *p = m->def.labels ? m->def.labels : "";
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = p;
        while (*end && *end != ',' && *end != ' ')
            end++;
        size_t n = (size_t)(end - p);
        if (!valid_name(p, n, 0) || (n >= 2 && p[0] == '_' && p[1] == '_') ||
            (m->def.type == HF_METRIC_HISTOGRAM && n == 2 && memcmp(p, "le", 2) == 0) ||
            m->labels_n == 16)
            return -1;
        m->labels = hf_realloc(m->labels, (m->labels_n + 1) * sizeof(*m->labels));
        m->labels[m->labels_n++] = hf_memdup(p, n);
        while (*end == ' ')
            end++;
        if (*end == ',')
            end++;
        p = end;
    }
    return 0;
}

static hf_series_t *series_new(hf_metric_t *m)
{
    hf_series_t *s = hf_calloc(1, sizeof(*s));
    s->metric = m;
    s->values = hf_calloc(m->labels_n ? m->labels_n : 1, sizeof(char *));
    if (m->def.type == HF_METRIC_HISTOGRAM)
        s->counts = hf_calloc(m->def.buckets_n + 1, sizeof(uint64_t));
    return s;
}

static void series_link(hf_metric_t *m, hf_series_t *s)
{
    if (m->series_tail)
        m->series_tail->next = s;
    else
        m->series = s;
    m->series_tail = s;
}

hf_metric_t *hf_metrics_define(hf_metrics_t *reg, const hf_metric_def_t *def)
{
    if (!reg || !def->name || !valid_name(def->name, strlen(def->name), 1) ||
        hf_metrics_find(reg, def->name))
        return NULL;
    if (def->type == HF_METRIC_HISTOGRAM) {
        if (!def->buckets || def->buckets_n == 0)
            return NULL;
        for (size_t i = 1; i < def->buckets_n; i++)
            if (!(def->buckets[i] > def->buckets[i - 1]))
                return NULL;
    }
    hf_metric_t *m = hf_calloc(1, sizeof(*m));
    m->def = *def;
    if (parse_labels(m) != 0) {
        metric_free(m);
        return NULL;
    }
    /* A family without labels has exactly one series, shown from the start. */
    if (m->labels_n == 0)
        series_link(m, series_new(m));
    if (reg->tail)
        reg->tail->next = m;
    else
        reg->head = m;
    reg->tail = m;
    return m;
}

hf_series_t *hf_metric_series(hf_metric_t *m, ...)
{
    if (!m)
        return NULL;
    const char *values[16];
    size_t n = m->labels_n < 16 ? m->labels_n : 16;
    va_list ap;
    va_start(ap, m);
    for (size_t i = 0; i < n; i++) {
        values[i] = va_arg(ap, const char *);
        if (!values[i])
            values[i] = "";
    }
    va_end(ap);
    if (n < m->labels_n)
        return NULL;
    for (hf_series_t *s = m->series; s; s = s->next) {
        size_t i = 0;
        while (i < n && strcmp(s->values[i], values[i]) == 0)
            i++;
        if (i == n)
            return s;
    }
    hf_series_t *s = series_new(m);
    for (size_t i = 0; i < n; i++)
        s->values[i] = hf_strdup(values[i]);
    series_link(m, s);
    return s;
}

void hf_series_add(hf_series_t *s, double v)
{
    if (!s || s->metric->def.type == HF_METRIC_HISTOGRAM)
        return;
    if (s->metric->def.type == HF_METRIC_COUNTER && !(v >= 0))
        return;
    s->value += v;
    s->hidden = 0;
}

void hf_series_set(hf_series_t *s, double v)
{
    if (!s || s->metric->def.type != HF_METRIC_GAUGE)
        return;
    s->value = v;
    s->hidden = 0;
}

void hf_series_hide(hf_series_t *s)
{
    if (s && s->metric->def.type == HF_METRIC_GAUGE)
        s->hidden = 1;
}

void hf_series_observe_n(hf_series_t *s, double v, uint64_t n)
{
    if (!s || s->metric->def.type != HF_METRIC_HISTOGRAM || n == 0 || isnan(v))
        return;
    const hf_metric_def_t *def = &s->metric->def;
    size_t i = 0;
    while (i < def->buckets_n && v > def->buckets[i])
        i++;
    s->counts[i] += n;
    s->count += n;
    s->sum += v * (double)n;
}

void hf_series_observe(hf_series_t *s, double v)
{
    hf_series_observe_n(s, v, 1);
}

double hf_series_value(const hf_series_t *s)
{
    if (!s)
        return 0;
    return s->metric->def.type == HF_METRIC_HISTOGRAM ? (double)s->count : s->value;
}

void hf_metrics_on_collect(hf_metrics_t *reg, void (*fn)(void *ud), void *ud)
{
    if (!reg)
        return;
    reg->collect = fn;
    reg->collect_ud = ud;
}

/* ---- rendering ---- */

typedef struct out {
    hf_buf_t buf;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    hf_buf_append(&o->buf, s, n);
}

static void puts_(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

/* A sample value as Prometheus reads it: integers without a fraction, +Inf, NaN. */
static void format_value(double v, char *num, size_t numsz)
{
    if (isnan(v))
        snprintf(num, numsz, "NaN");
    else if (isinf(v))
        snprintf(num, numsz, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(num, numsz, "%.0f", v);
    else {
        snprintf(num, numsz, "%.15g", v);
        if (strtod(num, NULL) != v)
            snprintf(num, numsz, "%.17g", v);
    }
}

static void put_value(out_t *o, double v)
{
    char num[64];
    format_value(v, num, sizeof(num));
    puts_(o, num);
}

/* Escape \, newline and (in label values) " as the text format requires. */
static void put_escaped(out_t *o, const char *s, int quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n"
                          : (quote && *s == '"') ? "\\\"" : NULL;
        if (!rep)
            continue;
        put(o, run, (size_t)(s - run));
        puts_(o, rep);
        run = s + 1;
    }
    put(o, run, (size_t)(s - run));
}

/* `name{a="x",b="y"` plus le when given, then `}`; nothing for no labels and no le. */
static void put_sample_name(out_t *o, const hf_series_t *s, const char *suffix, const char *le)
{
    const hf_metric_t *m = s->metric;
    puts_(o, m->def.name);
    puts_(o, suffix);
    if (m->labels_n == 0 && !le)
        return;
    puts_(o, "{");
    for (size_t i = 0; i < m->labels_n; i++) {
        if (i)
            puts_(o, ",");
        puts_(o, m->labels[i]);
        puts_(o, "=\"");
        put_escaped(o, s->values[i], 1);
        puts_(o, "\"");
    }
    if (le) {
        puts_(o, m->labels_n ? ",le=\"" : "le=\"");
        puts_(o, le);
        puts_(o, "\"");
    }
    puts_(o, "}");
}

static void render_histogram(out_t *o, const hf_series_t *s)
{
    const hf_metric_def_t *def = &s->metric->def;
    uint64_t cumulative = 0;
    char le[64];
    for (size_t i = 0; i <= def->buckets_n; i++) {
        cumulative += s->counts[i];
        format_value(i < def->buckets_n ? def->buckets[i] : INFINITY, le, sizeof(le));
        put_sample_name(o, s, "_bucket", le);
        puts_(o, " ");
        put_value(o, (double)cumulative);
        puts_(o, "\n");
    }
    put_sample_name(o, s, "_sum", NULL);
    puts_(o, " ");
    put_value(o, s->sum);
    puts_(o, "\n");
    put_sample_name(o, s, "_count", NULL);
    puts_(o, " ");
    put_value(o, (double)s->count);
    puts_(o, "\n");
}

char *hf_metrics_render(hf_metrics_t *reg, size_t *len)
{
    out_t o = {{0}};
    if (!reg)
        return NULL;
    if (reg->collect)
        reg->collect(reg->collect_ud);
    static const char *const types[] = {"counter", "gauge", "histogram"};
    for (const hf_metric_t *m = reg->head; m; m = m->next) {
        puts_(&o, "# HELP ");
        puts_(&o, m->def.name);
        puts_(&o, " ");
        put_escaped(&o, m->def.help ? m->def.help : "", 0);
        puts_(&o, "\n# TYPE ");
        puts_(&o, m->def.name);
        puts_(&o, " ");
        puts_(&o, types[m->def.type]);
        puts_(&o, "\n");
        for (const hf_series_t *s = m->series; s; s = s->next) {
            if (m->def.type == HF_METRIC_HISTOGRAM) {
                render_histogram(&o, s);
            } else if (!s->hidden) {
                put_sample_name(&o, s, "", NULL);
                puts_(&o, " ");
                put_value(&o, s->value);
                puts_(&o, "\n");
            }
        }
    }
    if (!o.buf.data)
        puts_(&o, "");               /* no families: an empty text */
    if (len)
        *len = o.buf.len;
    return o.buf.data;
}

/* ---- the families hubfn exports (docs/operations.md describes each) ---- */

static const double seconds_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1,     2.5,  5,     10,   30, 60};
/* Millisecond steps up to 5 ms, then 7.5 and 10 ms (event timestamps are whole
   milliseconds), so p50 and p99 of a healthy host can be read off closely. */
static const double lag_buckets[] = {0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015,
                                     0.025, 0.05,  0.1,   0.25,  0.5,   1,      2.5,  5,
                                     10,    30,    60,    300,   900,   3600};
static const double size_buckets[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000};
/* Invocation durations: seconds_buckets, then on to the default functionTimeout (5 min);
   hf_metrics_set_function_timeout fits them to the app's. */
static const double duration_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5,   1,      2.5,   5,    10,    30,   60,  120,
                                          300};
static const double duration_longer[] = {120, 300, 600, 900, 1800, 3600};

#define BUCKETS(b) b, sizeof(b) / sizeof(b[0])

static const hf_metric_def_t host_defs[HF_M__COUNT] = {
    [HF_M_EVENTS_RECEIVED] = {"hubfn_events_received_total", HF_METRIC_COUNTER,
                              "function,partition", NULL, 0,
                              "Events taken off the consumer."},
    [HF_M_EVENTS_PROCESSED] = {"hubfn_events_processed_total", HF_METRIC_COUNTER,
                               "function,partition", NULL, 0,
                               "Events whose handler finished without failing them (first try "
                               "or a retry)."},
    [HF_M_EVENTS_FAILED] = {"hubfn_events_failed_total", HF_METRIC_COUNTER,
                            "function,partition", NULL, 0,
                            "Events whose invocation failed for good (after the retry policy): "
                            "dead-lettered or skipped."},
    [HF_M_INVOCATIONS] = {"hubfn_invocations_total", HF_METRIC_COUNTER, "function,result", NULL,
                          0, "Handler invocations by result (success, failure), retries included."},
    [HF_M_BATCH_SIZE] = {"hubfn_batch_size_events", HF_METRIC_HISTOGRAM, "function",
                         BUCKETS(size_buckets), "Events per batch handed to the handler."},
    [HF_M_INVOCATION_DURATION] = {"hubfn_invocation_duration_seconds", HF_METRIC_HISTOGRAM,
                                  "function", BUCKETS(duration_buckets),
                                  "Time one handler invocation spent in Lua."},
    [HF_M_ENQUEUED_TO_START] = {"hubfn_enqueued_to_start_seconds", HF_METRIC_HISTOGRAM,
                                "function", BUCKETS(lag_buckets),
                                "Per event, from its enqueued time in the hub to its handler "
                                "starting."},
    [HF_M_ENQUEUED_TO_DONE] = {"hubfn_enqueued_to_done_seconds", HF_METRIC_HISTOGRAM,
                               "function", BUCKETS(lag_buckets),
                               "Per event, from its enqueued time in the hub to its handler "
                               "returning (end-to-end lag)."},
    [HF_M_CONSUMER_LAG] = {"hubfn_consumer_lag_events", HF_METRIC_GAUGE, "function,partition",
                           NULL, 0,
                           "Events in the partition after the fetch position (high watermark "
                           "minus position), for the partitions this instance owns."},
    [HF_M_CONSUMER_LAG_SECONDS] = {"hubfn_consumer_lag_seconds", HF_METRIC_GAUGE,
                                   "function,partition", NULL, 0,
                                   "Seconds since the enqueued time of the oldest event of the "
                                   "partition not yet checkpointed; 0 when caught up, absent "
                                   "when unknown."},
    [HF_M_PARTITIONS_ASSIGNED] = {"hubfn_partitions_assigned", HF_METRIC_GAUGE, "function",
                                  NULL, 0, "Partitions this instance owns."},
    [HF_M_PARTITION_IN_FLIGHT] = {"hubfn_partition_batches_in_flight", HF_METRIC_GAUGE,
                                  "function,partition", NULL, 0,
                                  "Batches of the partition taken and not resolved: running, "
                                  "delivering their outputs or waiting to retry (at most "
                                  "partitionConcurrency)."},
    [HF_M_HELD_BY_ORDERING] = {"hubfn_events_held_by_ordering", HF_METRIC_GAUGE,
                               "function,partition", NULL, 0,
                               "Events waiting because an earlier event with their ordering "
                               "key is in flight (partitionConcurrency > 1)."},
    [HF_M_RETRIES] = {"hubfn_retries_total", HF_METRIC_COUNTER, "function", NULL, 0,
                      "Retries scheduled by the function's retry policy."},
    [HF_M_DEAD_LETTERED] = {"hubfn_events_dead_lettered_total", HF_METRIC_COUNTER, "function",
                            NULL, 0, "Events the $deadLetter hub took."},
    [HF_M_CHECKPOINTS] = {"hubfn_checkpoints_committed_total", HF_METRIC_COUNTER, "function",
                          NULL, 0, "Partition checkpoints (offset commits) the broker took."},
    [HF_M_CHECKPOINT_FAILURES] = {"hubfn_checkpoints_failed_total", HF_METRIC_COUNTER,
                                  "function", NULL, 0,
                                  "Partition checkpoints that failed (retried with the next "
                                  "one)."},
    [HF_M_OFFSET_RESETS] = {"hubfn_offset_resets_total", HF_METRIC_COUNTER, "function,partition",
                            NULL, 0,
                            "Times fetching could not start at the checkpoint (no longer in "
                            "the hub) and resumed elsewhere."},
    [HF_M_OUTPUTS_DELIVERED] = {"hubfn_output_messages_delivered_total", HF_METRIC_COUNTER,
                                "function,binding", NULL, 0,
                                "Output messages with a successful delivery report."},
    [HF_M_OUTPUTS_FAILED] = {"hubfn_output_messages_failed_total", HF_METRIC_COUNTER,
                             "function,binding", NULL, 0,
                             "Output messages that could not be delivered."},
    [HF_M_HTTP_REQUESTS] = {"hubfn_http_requests_total", HF_METRIC_COUNTER,
                            "function,binding,status", NULL, 0,
                            "HTTP requests an http output binding made, by status class "
                            "(2xx, 3xx, 4xx, 5xx, or error: no response); retries included."},
    [HF_M_HTTP_DURATION] = {"hubfn_http_request_duration_seconds", HF_METRIC_HISTOGRAM,
                            "function,binding", BUCKETS(seconds_buckets),
                            "Time of one HTTP request, from start to the last byte."},
    [HF_M_HTTP_RETRIES] = {"hubfn_http_retries_total", HF_METRIC_COUNTER, "function,binding",
                           NULL, 0, "HTTP requests tried again (408, 429, 5xx, no response)."},
    [HF_M_HTTP_THROTTLED] = {"hubfn_http_throttled_seconds_total", HF_METRIC_COUNTER,
                             "function,binding,reason", NULL, 0,
                             "Time an http binding held requests back: reason retry-after (a "
                             "Retry-After in force) or rate-limit (requestsPerSecond)."},
    [HF_M_HTTP_IN_FLIGHT] = {"hubfn_http_in_flight", HF_METRIC_GAUGE, "function,binding",
                             NULL, 0, "HTTP requests of a binding waiting for their answer."},
    [HF_M_READY] = {"hubfn_ready", HF_METRIC_GAUGE, "", NULL, 0,
                    "1 when /readyz answers 200, else 0."},
    [HF_M_BUILD_INFO] = {"hubfn_build_info", HF_METRIC_GAUGE, "version", NULL, 0,
                         "Always 1; the version label says which hubfn runs."},
    [HF_M_CHECKPOINT_LAG] = {"hubfn_checkpoint_lag_events", HF_METRIC_GAUGE,
                             "function,partition", NULL, 0,
                             "Events in the partition after the committed checkpoint (high "
                             "watermark minus checkpoint): what KEDA's Kafka scaler sees."},
    [HF_M_OLDEST_INVOCATION] = {"hubfn_oldest_invocation_age_seconds", HF_METRIC_GAUGE,
                                "function", NULL, 0,
                                "How long the longest-running handler invocation of the "
                                "function has been running; 0 when none runs."},
    [HF_M_LUA_MEMORY] = {"hubfn_lua_memory_bytes", HF_METRIC_GAUGE, "worker", NULL, 0,
                         "Memory of each worker's Lua state after its last batch."},
    [HF_M_LUA_MEMORY_LIMIT] = {"hubfn_lua_memory_limit_bytes", HF_METRIC_GAUGE, "", NULL, 0,
                               "extensions.lua.memoryLimitMB in bytes (0: no limit)."},
    [HF_M_SPANS_EXPORTED] = {"hubfn_trace_spans_exported_total", HF_METRIC_COUNTER, "", NULL,
                             0, "Spans the OTLP collector took."},
    [HF_M_SPANS_DROPPED] = {"hubfn_trace_spans_dropped_total", HF_METRIC_COUNTER, "reason",
                            NULL, 0,
                            "Spans not exported: queue-full, export-failed (after retries, "
                            "or at stop), rejected (by the collector)."},
    [HF_M_SPAN_QUEUE] = {"hubfn_trace_export_queue_spans", HF_METRIC_GAUGE, "", NULL, 0,
                         "Spans waiting to be exported (queued or being sent)."},
    [HF_M_PROCESS_CPU] = {"process_cpu_seconds_total", HF_METRIC_COUNTER, "", NULL, 0,
                          "Total user and system CPU time spent in seconds."},
    [HF_M_PROCESS_RSS] = {"process_resident_memory_bytes", HF_METRIC_GAUGE, "", NULL, 0,
                          "Resident memory size in bytes."},
    [HF_M_PROCESS_VSZ] = {"process_virtual_memory_bytes", HF_METRIC_GAUGE, "", NULL, 0,
                          "Virtual memory size in bytes."},
    [HF_M_PROCESS_FDS] = {"process_open_fds", HF_METRIC_GAUGE, "", NULL, 0,
                          "Number of open file descriptors."},
    [HF_M_PROCESS_MAX_FDS] = {"process_max_fds", HF_METRIC_GAUGE, "", NULL, 0,
                              "Maximum number of open file descriptors."},
    [HF_M_PROCESS_START] = {"process_start_time_seconds", HF_METRIC_GAUGE, "", NULL, 0,
                            "Start time of the process since unix epoch in seconds."},
    [HF_M_STATE_KEYS] = {"hubfn_state_keys", HF_METRIC_GAUGE, "function,binding,partition",
                         NULL, 0, "Keys an eventHubState binding holds for a partition."},
    [HF_M_STATE_BYTES] = {"hubfn_state_bytes", HF_METRIC_GAUGE, "function,binding,partition",
                          NULL, 0, "Bytes an eventHubState binding holds for a partition "
                          "(keys, values and 64 per key), bounded by stateMaxBytes."},
    [HF_M_STATE_RESTORES] = {"hubfn_state_restores_total", HF_METRIC_COUNTER,
                             "function,binding", NULL, 0,
                             "Partitions whose state was read back from the state hub."},
    [HF_M_STATE_RESTORE_DURATION] = {"hubfn_state_restore_seconds", HF_METRIC_HISTOGRAM,
                                     "function,binding", BUCKETS(seconds_buckets),
                                     "Time from a partition's assignment to its state being "
                                     "restored."},
    [HF_M_STATE_WRITES] = {"hubfn_state_writes_total", HF_METRIC_COUNTER,
                           "function,binding,kind", NULL, 0,
                           "State writes the state hub acknowledged: kind set or delete."},
};

const hf_metric_def_t *hf_metrics_host_defs(void)
{
    return host_defs;
}

hf_metrics_t *hf_metrics_new_host(void)
{
    hf_metrics_t *reg = hf_metrics_new();
    for (int i = 0; i < HF_M__COUNT; i++)
        if (!(reg->by_id[i] = hf_metrics_define(reg, &host_defs[i])))
            hf_panic("metric %s: its definition in metrics.c is invalid", host_defs[i].name);
    return reg;
}

hf_metric_t *hf_metrics_get(hf_metrics_t *reg, hf_metric_id_t id)
{
    return reg && id >= 0 && id < HF_M__COUNT ? reg->by_id[id] : NULL;
}

int hf_metrics_set_function_timeout(hf_metrics_t *reg, double seconds)
{
    hf_metric_t *m = hf_metrics_get(reg, HF_M_INVOCATION_DURATION);
    if (!m || m->series)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < sizeof(seconds_buckets) / sizeof(seconds_buckets[0]); i++)
        reg->duration_buckets[n++] = seconds_buckets[i];
    double top = seconds > 0 ? seconds : 3600;
    for (size_t i = 0; i < sizeof(duration_longer) / sizeof(duration_longer[0]); i++)
        if (duration_longer[i] < top)
            reg->duration_buckets[n++] = duration_longer[i];
    if (top > reg->duration_buckets[n - 1])
        reg->duration_buckets[n++] = top;
    m->def.buckets = reg->duration_buckets;
    m->def.buckets_n = n;
    return 0;
}

/* Set a counter or gauge to v, read rather than counted. */
static void series_put(hf_metrics_t *reg, hf_metric_id_t id, double v)
{
    hf_metric_t *m = hf_metrics_get(reg, id);
    if (m && m->series)
        m->series->value = v;
}

/* The fields of /proc/self/stat after the command name (field 3, the state, is [0]). */
static int proc_stat_fields(char **fields, size_t n, char *buf, size_t bufsz)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    size_t len = fread(buf, 1, bufsz - 1, f);
    fclose(f);
    buf[len] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    size_t k = 0;
    while (k < n) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        fields[k++] = p;
        while (*p && *p != ' ')
            p++;
        if (*p)
            *p++ = 0;
    }
    return k == n ? 0 : -1;
}

/* The system's boot time, epoch seconds (/proc/stat btime), or -1. */
static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[256];
    double t = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "btime ", 6) == 0) {
            t = strtod(line + 6, NULL);
            break;
        }
    fclose(f);
    return t;
}

void hf_metrics_collect_process(hf_metrics_t *reg)
{
    if (!reg)
        return;
    char buf[2048], *fields[22];
    double ticks = (double)sysconf(_SC_CLK_TCK);
    if (ticks > 0 && proc_stat_fields(fields, 22, buf, sizeof(buf)) == 0) {
        /* fields[i] is field i+3 of proc(5): utime 14, stime 15, starttime 22, vsize 23,
           rss 24 (pages) */
        series_put(reg, HF_M_PROCESS_CPU,
                   (strtod(fields[11], NULL) + strtod(fields[12], NULL)) / ticks);
        series_put(reg, HF_M_PROCESS_VSZ, strtod(fields[20], NULL));
        series_put(reg, HF_M_PROCESS_RSS, strtod(fields[21], NULL) * (double)sysconf(_SC_PAGESIZE));
        static double start = -1;
        if (start < 0) {
            double boot = boot_time();
            if (boot >= 0)
                start = boot + strtod(fields[19], NULL) / ticks;
        }
        if (start >= 0)
            series_put(reg, HF_M_PROCESS_START, start);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            n += e->d_name[0] != '.';
        closedir(d);
        series_put(reg, HF_M_PROCESS_FDS, n - 1);   /* the directory's own descriptor */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        series_put(reg, HF_M_PROCESS_MAX_FDS,
                   rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
}
