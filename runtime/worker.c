#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "datetime.h"
#include "log.h"
#include "lua_modules.h"

/* Thread: worker, holding w->lock (released while loading). Reload what was asked for. */
static void reload_functions(hf_worker_t *w)
{
    const hf_app_t *app = w->pool->app;
    char err[1024];
    /* saved modules: forget them, and reload the functions that use them (the list is
       taken under the lock, then worked on without it) */
    char **mods = w->modules;
    size_t mods_n = w->modules_n;
    w->modules = NULL;
    w->modules_n = 0;
    for (size_t m = 0; m < mods_n; m++) {
        char *name = mods[m];
        unsigned char *users = hf_calloc(app->functions_n ? app->functions_n : 1, 1);
        pthread_mutex_unlock(&w->lock);
        int n = hf_lua_module_changed(w->lua.L, name, users, app->functions_n);
        if (w->index == 0) {
            char list[512];
            size_t k = 0;
            list[0] = 0;
            for (size_t i = 0; i < app->functions_n; i++)
                if (users[i])
                    k += (size_t)snprintf(list + k, k < sizeof(list) ? sizeof(list) - k : 0,
                                          "%s%s", k ? ", " : "", app->functions[i].name);
            if (n)
                hf_log_info("module %s changed: reloading %s between batches", name, list);
            else
                hf_log_info("module %s changed: no function uses it", name);
        }
        pthread_mutex_lock(&w->lock);
        for (size_t i = 0; i < app->functions_n; i++)
            w->reload[i] |= users[i];
        free(users);
        free(name);
    }
    free(mods);
    for (size_t i = 0; i < app->functions_n; i++) {
        if (!w->reload[i])
            continue;
        w->reload[i] = 0;
        pthread_mutex_unlock(&w->lock);
        if (hf_lua_load_function(&w->lua, (int)i, err, sizeof(err)) != 0) {
            hf_log_ctx_t ctx = HF_LOG_CTX_NONE;
            ctx.function = app->functions[i].name;
            hf_log_ctx(HF_LOG_ERROR, &ctx, "reload failed, the previous version keeps "
                       "running: %s", err);
        }
        pthread_mutex_lock(&w->lock);
    }
    w->reload_pending = w->modules_n > 0;
    for (size_t i = 0; i < app->functions_n; i++)
        w->reload_pending |= w->reload[i];
}

/* Thread: worker. A batch is done: hand it to the loop thread. */
static void batch_done(hf_workers_t *pool, hf_batch_t *batch)
{
    pthread_mutex_lock(&pool->done_lock);
    if (pool->done_tail)
        pool->done_tail->next = batch;
    else
        pool->done_head = batch;
    pool->done_tail = batch;
    pthread_cond_broadcast(&pool->done_cond);
    pthread_mutex_unlock(&pool->done_lock);
    if (pool->done_async)
        ev_async_send(pool->loop, pool->done_async);
}

/* Wake a worker that waits in hf_lua_poll. */
static void wake(hf_worker_t *w)
{
    if (atomic_load_explicit(&w->polling, memory_order_seq_cst))
        hf_lua_wakeup(&w->lua);
}

/* Thread: worker. Runs batches until told to stop. */
static void *worker_main(void *arg)
{
    hf_worker_t *w = arg;
    hf_workers_t *pool = w->pool;
    char err[1024];

    if (hf_lua_init(&w->lua, pool->app, err, sizeof(err)) != 0) {
        pthread_mutex_lock(&w->lock);
        snprintf(w->err, sizeof(w->err), "%s", err);
        w->state = -1;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return NULL;
    }
    atomic_store_explicit(&w->lua_mem, w->lua.mem_used, memory_order_relaxed);
    pthread_mutex_lock(&w->lock);
    w->state = 1;
    pthread_cond_broadcast(&w->cond);
    for (;;) {
        /* With invocations waiting on requests, the worker waits on their answers and on
           new batches at once (hf_lua_poll, which hf_workers_submit wakes); else on the
           queue alone. */
        while (!w->head && !w->stop && !w->reload_pending && !w->lua.suspended_n)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->reload_pending) {
            reload_functions(w);
            continue;
        }
        if (!w->head && w->stop)
            break;               /* the host stops: invocations still waiting are dropped */
        hf_batch_t *batch = w->head;
        w->head = w->tail = NULL;
        if (!batch)
            atomic_store_explicit(&w->polling, 1, memory_order_seq_cst);
        pthread_mutex_unlock(&w->lock);

        while (batch) {
            hf_batch_t *next = batch->next;
            batch->next = NULL;
            if (hf_lua_start(&w->lua, batch))
                batch_done(pool, batch);
            atomic_store_explicit(&w->lua_mem, w->lua.mem_used, memory_order_relaxed);
            batch = next;
        }
        if (atomic_load_explicit(&w->polling, memory_order_seq_cst)) {
            hf_batch_t *done = hf_lua_poll(&w->lua, 1000);
            atomic_store_explicit(&w->polling, 0, memory_order_seq_cst);
            atomic_store_explicit(&w->lua_mem, w->lua.mem_used, memory_order_relaxed);
            while (done) {
                hf_batch_t *next = done->next;
                done->next = NULL;
                batch_done(pool, done);
                done = next;
            }
        }
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    hf_lua_close(&w->lua);
    return NULL;
}

int hf_workers_start(hf_workers_t *pool, const hf_app_t *app, int n, struct ev_loop *loop,
                     ev_async *done_async, char *err, size_t errsz)
{
    memset(pool, 0, sizeof(*pool));
    pool->app = app;
    pool->loop = loop;
    pool->done_async = done_async;
    pthread_mutex_init(&pool->done_lock, NULL);
    pthread_cond_init(&pool->done_cond, NULL);
    pool->w = hf_calloc((size_t)n, sizeof(hf_worker_t));
    for (int i = 0; i < n; i++) {
        hf_worker_t *w = &pool->w[i];
        w->pool = pool;
        w->index = i;
        w->reload = hf_calloc(app->functions_n ? app->functions_n : 1, 1);
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            snprintf(err, errsz, "cannot start worker thread %d: %s", i, strerror(errno));
            pool->n = i;
            hf_workers_stop(pool);
            return -1;
        }
        pool->n = i + 1;
    }
    for (int i = 0; i < n; i++) {
        hf_worker_t *w = &pool->w[i];
        pthread_mutex_lock(&w->lock);
        while (w->state == 0)
            pthread_cond_wait(&w->cond, &w->lock);
        int failed = w->state < 0;
        if (failed)
            snprintf(err, errsz, "%s", w->err);
        pthread_mutex_unlock(&w->lock);
        if (failed) {
            hf_workers_stop(pool);
            return -1;
        }
    }
    return 0;
}

void hf_workers_submit(hf_workers_t *pool, int i, hf_batch_t *batch)
{
    hf_worker_t *w = &pool->w[i % pool->n];
    batch->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = batch;
    else
        w->head = batch;
    w->tail = batch;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    wake(w);
}

hf_batch_t *hf_workers_take_done(hf_workers_t *pool)
{
    pthread_mutex_lock(&pool->done_lock);
    hf_batch_t *list = pool->done_head;
    pool->done_head = pool->done_tail = NULL;
    pthread_mutex_unlock(&pool->done_lock);
    return list;
}

hf_batch_t *hf_workers_wait_done(hf_workers_t *pool, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&pool->done_lock);
    while (!pool->done_head) {
        if (pthread_cond_timedwait(&pool->done_cond, &pool->done_lock, &ts) == ETIMEDOUT)
            break;
    }
    hf_batch_t *list = pool->done_head;
    pool->done_head = pool->done_tail = NULL;
    pthread_mutex_unlock(&pool->done_lock);
    return list;
}

void hf_workers_reload(hf_workers_t *pool, int fn_index)
{
    for (int i = 0; i < pool->n; i++) {
        hf_worker_t *w = &pool->w[i];
        pthread_mutex_lock(&w->lock);
        w->reload[fn_index] = 1;
        w->reload_pending = 1;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        wake(w);
    }
}

void hf_workers_reload_module(hf_workers_t *pool, const char *name)
{
    for (int i = 0; i < pool->n; i++) {
        hf_worker_t *w = &pool->w[i];
        pthread_mutex_lock(&w->lock);
        w->modules = hf_realloc(w->modules, (w->modules_n + 1) * sizeof(*w->modules));
        w->modules[w->modules_n++] = hf_strdup(name);
        w->reload_pending = 1;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        wake(w);
    }
}

int hf_workers_stuck(hf_workers_t *pool, int64_t limit_us, char *why, size_t whysz)
{
    int64_t now = hf_mono_us();
    for (int i = 0; i < pool->n; i++) {
        hf_lua_t *lua = &pool->w[i].lua;
        int64_t started = atomic_load_explicit(&lua->call_started_us, memory_order_acquire);
        if (!started || now - started <= limit_us)
            continue;
        int fn = atomic_load_explicit(&lua->call_fn, memory_order_relaxed);
        int loading = atomic_load_explicit(&lua->call_loading, memory_order_relaxed);
        const char *name = fn >= 0 && (size_t)fn < pool->app->functions_n
                               ? pool->app->functions[fn].name
                               : "?";
        snprintf(why, whysz, "worker %d has been %s function %s for %.0f s", i,
                 loading ? "loading the script of" : "inside one invocation of", name,
                 (double)(now - started) / 1e6);
        return 1;
    }
    return 0;
}

void hf_workers_collect(hf_workers_t *pool, hf_metrics_t *reg)
{
    const hf_app_t *app = pool->app;
    if (!reg || !app)
        return;
    char num[16];
    hf_metric_t *mem = hf_metrics_get(reg, HF_M_LUA_MEMORY);
    for (int i = 0; i < pool->n; i++) {
        snprintf(num, sizeof(num), "%d", i);
        hf_series_set(hf_metric_series(mem, num),
                      (double)atomic_load_explicit(&pool->w[i].lua_mem, memory_order_relaxed));
    }
    hf_series_set(hf_metric_series(hf_metrics_get(reg, HF_M_LUA_MEMORY_LIMIT)),
                  (double)app->host.lua_memory_mb * 1024 * 1024);
    double *age = hf_calloc(app->functions_n ? app->functions_n : 1, sizeof(double));
    int64_t now = hf_mono_us();
    for (int i = 0; i < pool->n; i++) {
        hf_lua_t *lua = &pool->w[i].lua;
        for (size_t fn = 0; lua->oldest_us && fn < app->functions_n; fn++) {
            int64_t since = atomic_load_explicit(&lua->oldest_us[fn], memory_order_acquire);
            if (since > 0 && now > since && (double)(now - since) / 1e6 > age[fn])
                age[fn] = (double)(now - since) / 1e6;
        }
    }
    hf_metric_t *oldest = hf_metrics_get(reg, HF_M_OLDEST_INVOCATION);
    for (size_t f = 0; f < app->functions_n; f++)
        if (!app->functions[f].disabled)
            hf_series_set(hf_metric_series(oldest, app->functions[f].name), age[f]);
    free(age);
}

void hf_workers_stop(hf_workers_t *pool)
{
    for (int i = 0; i < pool->n; i++) {
        hf_worker_t *w = &pool->w[i];
        pthread_mutex_lock(&w->lock);
        w->stop = 1;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        wake(w);
    }
    for (int i = 0; i < pool->n; i++) {
        hf_worker_t *w = &pool->w[i];
        pthread_join(w->thread, NULL);
        while (w->head) {
            hf_batch_t *next = w->head->next;
            hf_batch_free(w->head);
            w->head = next;
        }
        free(w->reload);
        for (size_t m = 0; m < w->modules_n; m++)
            free(w->modules[m]);
        free(w->modules);
    }
    hf_batch_t *done = hf_workers_take_done(pool);
    while (done) {
        hf_batch_t *next = done->next;
        hf_batch_free(done);
        done = next;
    }
    free(pool->w);
    pool->w = NULL;
    pool->n = 0;
}
