/*
 * The host of `hubfn start`: one libev loop on the main thread that owns the Kafka
 * handles, timers and signals; Lua workers; one Event Hubs trigger per function.
 */
#ifndef HF_HOST_H
#define HF_HOST_H

#include <ev.h>
#include <stdint.h>

#include "app.h"
#include "log.h"
#include "worker.h"

typedef struct hf_trigger hf_trigger_t;
typedef struct hf_embedded hf_embedded_t;
typedef struct hf_outputs hf_outputs_t;
typedef struct hf_http hf_http_t;
typedef struct hf_metrics hf_metrics_t;

typedef struct hf_host_opts {
    const char *app_dir;
    int embedded;
    int exit_on_eof;
    int workers;                 /* 0 = number of cores */
    int partitions;              /* embedded: partitions per hub */
    int http_port;               /* -1 = off; 0 = any free port */
    const char *http_address;    /* NULL = 0.0.0.0 */
    double drain_timeout_s;      /* grace period for SIGTERM drain */
} hf_host_opts_t;

typedef struct hf_host_stats {
    uint64_t events;
    uint64_t batches;
    uint64_t failed_batches;
    uint64_t failed_events;
    uint64_t outputs;
    uint64_t retries;
    uint64_t dead_lettered;
} hf_host_stats_t;

typedef struct hf_host {
    hf_host_opts_t opts;
    hf_app_t app;
    struct ev_loop *loop;
    hf_workers_t workers;
    int workers_n;
    ev_async done_async;
    ev_signal sigint, sigterm;
    ev_timer drain_timer;
    hf_trigger_t **triggers;
    size_t triggers_n;
    hf_embedded_t *embedded;
    hf_outputs_t *outputs;       /* producers of the output bindings, NULL when none */
    int stopping;                /* 1 once a drain began */
    int abandon;                 /* the drain gave up: do not wait for running handlers */
    int fatal;                   /* a failure waiting cannot fix (credentials, rights): the
                                    batch it hit is not checkpointed */
    int exit_code;
    hf_host_stats_t stats;
    hf_metrics_t *metrics;       /* NULL when HTTP is off (metrics.h calls accept NULL) */
    hf_http_t *http;
} hf_host_t;

/* Run `hubfn start`; returns the process exit code. */
int hf_host_main(const hf_host_opts_t *opts);

/* Begin a drain: stop fetching, finish in-flight batches, commit, leave, exit. */
void hf_host_stop(hf_host_t *host, const char *why);
/* Called by a trigger when it finished (drained, or at EOF with --exit-on-eof). */
void hf_host_trigger_finished(hf_host_t *host);

/* 1 when the host is ready for work (functions loaded, broker reachable, every trigger
   in its group); else 0 with one line in why saying what it waits for. */
int hf_host_ready(hf_host_t *host, char *why, size_t whysz);

/* Route a finished batch back to its owner (loop thread). */
void hf_host_complete(hf_host_t *host, hf_batch_t *batch);

#endif
