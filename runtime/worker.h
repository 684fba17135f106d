/*
 * Lua worker threads. Each worker owns one hf_lua_t (its own lua_State with the app
 * loaded) and starts the batches given to it in order. An invocation that waits on
 * require("hubfn").http requests is suspended, and the worker starts the next batches
 * meanwhile (the pipeline decides which batches may run at once: one per partition, or
 * up to partitionConcurrency with ordering keys). Finished batches come back to the loop
 * thread through a queue and an ev_async.
 */
#ifndef HF_WORKER_H
#define HF_WORKER_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>

#include "batch.h"
#include "lua_host.h"
#include "metrics.h"

typedef struct hf_workers hf_workers_t;

typedef struct hf_worker {
    hf_workers_t *pool;
    int index;
    pthread_t thread;
    hf_lua_t lua;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    hf_batch_t *head, *tail;     /* batches to run */
    int stop;
    int state;                   /* 0 starting, 1 ready, -1 failed */
    char err[1024];
    /* hot reload: per function, reload its script before the next batch */
    unsigned char *reload;
    char **modules;              /* lib modules saved since, whose users reload too */
    size_t modules_n;
    int reload_pending;
    _Atomic int polling;         /* in hf_lua_poll: hf_lua_wakeup ends its wait */
    _Atomic size_t lua_mem;      /* the state's memory after its last batch (metrics) */
} hf_worker_t;

struct hf_workers {
    const hf_app_t *app;
    hf_worker_t *w;
    int n;
    pthread_mutex_t done_lock;
    pthread_cond_t done_cond;
    hf_batch_t *done_head, *done_tail;
    struct ev_loop *loop;
    ev_async *done_async;
};

/* Start n workers, each loading the app; waits until all are ready. -1 with err. */
int hf_workers_start(hf_workers_t *pool, const hf_app_t *app, int n, struct ev_loop *loop,
                     ev_async *done_async, char *err, size_t errsz);
/* Queue a batch on worker i (loop thread). */
void hf_workers_submit(hf_workers_t *pool, int i, hf_batch_t *batch);
/* Take every finished batch, oldest first, as a list linked by ->next (loop thread). */
hf_batch_t *hf_workers_take_done(hf_workers_t *pool);
/* Block until a batch finishes or timeout_ms passes; then as hf_workers_take_done. */
hf_batch_t *hf_workers_wait_done(hf_workers_t *pool, int timeout_ms);
/* Have every worker reload function fn_index's script before its next batch (between
   batches, so no event is lost or run twice). A worker whose reload fails logs it and
   keeps the version it had. */
void hf_workers_reload(hf_workers_t *pool, int fn_index);
/* A module of APP/lib was saved: every worker forgets it and reloads the functions that
   required it (while loading or running), between batches. */
void hf_workers_reload_module(hf_workers_t *pool, const char *name);
/* Is a worker inside one call (an invocation or a script's load) that started more than
   limit_us ago? 1 with one line in why naming the worker, the function and how long (loop
   thread, any time between hf_workers_start and hf_workers_stop), else 0. */
int hf_workers_stuck(hf_workers_t *pool, int64_t limit_us, char *why, size_t whysz);
/* Set the workers' gauges (loop thread, at scrape time): each Lua state's memory and its
   limit, and per function how long its longest-running invocation has been running. */
void hf_workers_collect(hf_workers_t *pool, hf_metrics_t *reg);
/* Stop and join every worker; batches still queued are freed unrun. */
void hf_workers_stop(hf_workers_t *pool);

#endif
