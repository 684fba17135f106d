/*
 * The host of `hubfn start`: loads the app, starts the Lua workers, the pipeline and every
 * binding type the app uses (bindings/registry.c), runs the loop, and drains on a signal.
 * Implements runtime/core.h for the binding types.
 *
 * Thread: the main thread runs everything here; workers only run handlers.
 */
#include "host.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "binding.h"
#include "core.h"
#include "datetime.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "otlp.h"
#include "pipeline.h"
#include "reload.h"
#include "worker.h"

struct hf_core {
    hf_host_opts_t opts;
    hf_core_opts_t copts;
    hf_app_t app;
    struct ev_loop *loop;
    hf_workers_t workers;
    ev_async done_async;
    ev_prepare submit_flush;     /* hands the batches submitted in one loop iteration to the
                                    workers at once */
    ev_signal sigint, sigterm;
    ev_timer drain_timer;
    hf_pipeline_t *pipeline;
    size_t types_n;              /* entries of hf_binding_types */
    void **states;               /* each type's instance, by registry index */
    unsigned char *started;
    int stopping;                /* a drain began */
    int abandon;                 /* the drain gave up: do not wait for running handlers */
    int fatal;                   /* stopping on a failure waiting cannot fix */
    int exit_code;
    hf_metrics_t *metrics;       /* NULL when HTTP is off (metrics.h calls accept NULL) */
    hf_http_t *http;
    hf_otlp_t *otlp;             /* the span exporter, NULL without an OTLP endpoint */
};

/* ---- core.h ---- */

struct ev_loop *hf_core_loop(hf_core_t *core)
{
    return core->loop;
}

hf_app_t *hf_core_app(hf_core_t *core)
{
    return &core->app;
}

const hf_core_opts_t *hf_core_opts(hf_core_t *core)
{
    return &core->copts;
}

hf_metrics_t *hf_core_metrics(hf_core_t *core)
{
    return core->metrics;
}

hf_pipeline_t *hf_core_pipeline(hf_core_t *core)
{
    return core->pipeline;
}

int hf_core_failed(const hf_core_t *core)
{
    return core->fatal;
}

int hf_core_stopping(const hf_core_t *core)
{
    return core->stopping;
}

int hf_core_abandoned(const hf_core_t *core)
{
    return core->abandon;
}

static void host_stop(hf_core_t *core, const char *why);

void hf_core_fail(hf_core_t *core, const char *why)
{
    if (core->fatal)
        return;
    core->fatal = 1;
    core->exit_code = 1;
    hf_log_error("%s", why);
    host_stop(core, "a fatal error");
}

/* Every started type for which pred holds (a NULL hook counts as holding). */
static int all_types(hf_core_t *core, size_t hook_offset)
{
    for (size_t i = 0; i < core->types_n; i++) {
        if (!core->started[i])
            continue;
        int (*pred)(void *) = *(int (**)(void *))((const char *)hf_binding_types[i] + hook_offset);
        if (pred && !pred(core->states[i]))
            return 0;
    }
    return 1;
}

/* Does any started type have this hook? */
static int any_type(hf_core_t *core, size_t hook_offset)
{
    for (size_t i = 0; i < core->types_n; i++)
        if (core->started[i] &&
            *(void **)((const char *)hf_binding_types[i] + hook_offset))
            return 1;
    return 0;
}

/* Leave the loop once a drain has nothing in flight; start one at EOF with --exit-on-eof. */
void hf_core_check(hf_core_t *core)
{
    if (core->stopping) {
        if (all_types(core, offsetof(hf_binding_type_t, idle)))
            ev_break(core->loop, EVBREAK_ALL);
    } else if (core->opts.exit_on_eof && any_type(core, offsetof(hf_binding_type_t, at_eof)) &&
               all_types(core, offsetof(hf_binding_type_t, at_eof))) {
        host_stop(core, "every assigned partition is drained");
    }
}

int hf_core_partition_assigned(hf_core_t *core, int fn_index, int32_t partition)
{
    int holds = 0;
    for (size_t i = 0; i < core->types_n; i++)
        if (core->started[i] && hf_binding_types[i]->partition_assigned)
            holds += hf_binding_types[i]->partition_assigned(core->states[i], fn_index,
                                                             partition);
    return holds;
}

void hf_core_partition_revoked(hf_core_t *core, int fn_index, int32_t partition)
{
    for (size_t i = 0; i < core->types_n; i++)
        if (core->started[i] && hf_binding_types[i]->partition_revoked)
            hf_binding_types[i]->partition_revoked(core->states[i], fn_index, partition);
}

void hf_core_partition_ready(hf_core_t *core, int fn_index, int32_t partition)
{
    for (size_t i = 0; i < core->types_n; i++)
        if (core->started[i] && hf_binding_types[i]->partition_ready)
            hf_binding_types[i]->partition_ready(core->states[i], fn_index, partition);
}

/* ---- the loop ---- */

static void on_done(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    hf_core_t *core = w->data;
    hf_batch_t *done = hf_workers_take_done(&core->workers);
    while (done) {
        hf_batch_t *next = done->next;
        done->next = NULL;
        hf_pipeline_complete(core->pipeline, done);
        done = next;
    }
}

static void on_submit_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    hf_core_t *core = w->data;
    hf_workers_flush(&core->workers);
}

static void on_drain_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    hf_core_t *core = w->data;
    hf_log_error("drain did not finish within %.0f s; exiting with batches in flight (they are "
                 "not checkpointed and will be processed again)", core->opts.drain_timeout_s);
    core->exit_code = 1;
    core->abandon = 1;
    ev_break(loop, EVBREAK_ALL);
}

/* Begin a drain: stop fetching, finish in-flight batches, commit, leave, exit. */
static void host_stop(hf_core_t *core, const char *why)
{
    if (core->stopping)
        return;
    core->stopping = 1;
    hf_log_info("stopping (%s): finishing in-flight batches", why);
    for (size_t i = 0; i < core->types_n; i++)
        if (core->started[i] && hf_binding_types[i]->drain)
            hf_binding_types[i]->drain(core->states[i]);
    ev_timer_init(&core->drain_timer, on_drain_timeout, core->opts.drain_timeout_s, 0);
    core->drain_timer.data = core;
    ev_timer_start(core->loop, &core->drain_timer);
    hf_core_check(core);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    hf_core_t *core = w->data;
    if (core->stopping) {
        hf_log_warn("second signal: exiting now without waiting for in-flight batches");
        core->exit_code = 1;
        core->abandon = 1;
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    host_stop(core, w->signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* 1 when the host is ready for work (functions loaded, broker reachable, every trigger in
   its group); else 0 with one line in why saying what it waits for. */
static int host_ready(hf_core_t *core, char *why, size_t whysz)
{
    if (core->stopping) {
        snprintf(why, whysz, core->fatal ? "stopping after a fatal error" : "draining");
        return 0;
    }
    for (size_t i = 0; i < core->types_n; i++)
        if (core->started[i] && hf_binding_types[i]->ready &&
            !hf_binding_types[i]->ready(core->states[i], why, whysz))
            return 0;
    snprintf(why, whysz, "ready");
    return 1;
}

/* Gauges read at scrape time (loop thread). */
static void collect_metrics(void *ud)
{
    hf_core_t *core = ud;
    char why[512];
    for (size_t i = 0; i < core->types_n; i++)
        if (core->started[i] && hf_binding_types[i]->collect)
            hf_binding_types[i]->collect(core->states[i]);
    hf_series_set(hf_metric_series(hf_metrics_get(core->metrics, HF_M_READY)),
                  host_ready(core, why, sizeof(why)));
    hf_workers_collect(&core->workers, core->metrics);
    hf_metrics_collect_process(core->metrics);
}

/* How long past functionTimeout a worker may stay inside one call before /healthz fails.
   The timeout hook stops Lua code within microseconds of the deadline; what outlasts it
   is a call into C that does not return (os.execute, a blocking read). */
#define HF_HEALTH_GRACE_MS 10000

/* GET /healthz, /readyz, /metrics (loop thread: answering at all shows the loop turns;
   /healthz also fails while a worker is stuck in one call). */
static void serve_http(void *ud, const char *path, hf_http_response_t *res)
{
    hf_core_t *core = ud;
    char why[512];
    if (strcmp(path, "/healthz") == 0) {
        long long limit_ms = core->app.host.function_timeout_ms;
        char limit[32];
        if (limit_ms > 0 &&
            hf_workers_stuck(&core->workers, (limit_ms + HF_HEALTH_GRACE_MS) * 1000, why,
                             sizeof(why))) {
            hf_duration_format(limit_ms, limit, sizeof(limit));
            hf_http_text(res, 503, "%s, longer than functionTimeout (%s) plus %d s\n", why,
                         limit, HF_HEALTH_GRACE_MS / 1000);
        } else
            hf_http_text(res, 200, "ok\n");
    } else if (strcmp(path, "/readyz") == 0) {
        int ready = host_ready(core, why, sizeof(why));
        hf_http_text(res, ready ? 200 : 503, "%s\n", why);
    } else if (strcmp(path, "/metrics") == 0) {
        res->body = hf_metrics_render(core->metrics, &res->body_len);
        res->content_type = "text/plain; version=0.0.4; charset=utf-8";
    } else {
        hf_http_text(res, 404, "not found: %s (try /healthz, /readyz or /metrics)\n", path);
    }
}

/* Metrics and the HTTP endpoints, with --http-port. -1 with err when it cannot listen. */
static int start_http(hf_core_t *core, char *err, size_t errsz)
{
    const char *addr = core->opts.http_address ? core->opts.http_address : "0.0.0.0";
    if (core->opts.http_port < 0)
        return 0;
    core->metrics = hf_metrics_new_host();
    hf_series_set(hf_metric_series(hf_metrics_get(core->metrics, HF_M_BUILD_INFO), HF_VERSION),
                  1);
    hf_metrics_set_function_timeout(core->metrics,
                                    (double)core->app.host.function_timeout_ms / 1000.0);
    hf_metrics_on_collect(core->metrics, collect_metrics, core);
    if (hf_http_start(&core->http, core->loop, addr, core->opts.http_port, serve_http, core,
                      err, errsz) != 0)
        return -1;
    hf_log_info("serving /healthz, /readyz and /metrics on http://%s%s%s:%d",
                strchr(addr, ':') && addr[0] != '[' ? "[" : "", addr,
                strchr(addr, ':') && addr[0] != '[' ? "]" : "", hf_http_port(core->http));
    return 0;
}

/* The OTEL_* variables are app settings: the environment, then local.settings.json. */
static const char *setting(void *ud, const char *name)
{
    return hf_app_setting(ud, name);
}

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ---- the pipeline's environment ---- */

static void runner_submit(void *ud, int worker, hf_batch_t *batch)
{
    hf_workers_submit(&((hf_core_t *)ud)->workers, worker, batch);
}

static hf_batch_t *runner_wait(void *ud, int timeout_ms)
{
    return hf_workers_wait_done(&((hf_core_t *)ud)->workers, timeout_ms);
}

static void *type_state(void *ud, const hf_binding_type_t *type)
{
    hf_core_t *core = ud;
    for (size_t i = 0; i < core->types_n; i++)
        if (hf_binding_types[i] == type)
            return core->started[i] ? core->states[i] : NULL;
    return NULL;
}

static int env_failed(void *ud)
{
    return ((hf_core_t *)ud)->fatal;
}

static int env_abandoned(void *ud)
{
    return ((hf_core_t *)ud)->abandon;
}

static void env_progress(void *ud)
{
    hf_core_check(ud);
}

/* Does an enabled function use the type (a service: always)? */
static int type_used(const hf_app_t *app, const hf_binding_type_t *type)
{
    if (!type->name)
        return 1;
    for (size_t f = 0; f < app->functions_n; f++) {
        const hf_function_t *fn = &app->functions[f];
        if (fn->disabled)
            continue;
        if (fn->trigger.type == type)
            return 1;
        for (size_t o = 0; o < fn->outputs_n; o++)
            if (fn->outputs[o].type == type)
                return 1;
    }
    return 0;
}

/* A watchdog over closing the clients: librdkafka's destroy waits for its broker threads,
   and a hub deleted under a consumer (or a broker gone for good) can keep one from ever
   ending. The checkpoints are committed by then, so past CLOSE_GRACE_S the process leaves
   with the exit code it has rather than hang. */
#define CLOSE_GRACE_S 15

typedef struct close_watch {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    int rc;
} close_watch_t;

static void *close_watchdog(void *arg)
{
    close_watch_t *w = arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += CLOSE_GRACE_S;
    pthread_mutex_lock(&w->lock);
    while (!w->done)
        if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) == ETIMEDOUT)
            break;
    int done = w->done;
    pthread_mutex_unlock(&w->lock);
    if (!done) {
        hf_log_warn("the Kafka clients did not shut down within %d s (a hub deleted while "
                    "hubfn ran, or a broker gone?); checkpoints were committed: exiting "
                    "without waiting for them", CLOSE_GRACE_S);
        fflush(stderr);
        _exit(w->rc);
    }
    return NULL;
}

/* Close every started type, in reverse start order. */
static void close_types(hf_core_t *core, int abandon)
{
    for (size_t i = core->types_n; i-- > 0;) {
        if (!core->started[i])
            continue;
        if (hf_binding_types[i]->close)
            hf_binding_types[i]->close(core->states[i], abandon);
        core->started[i] = 0;
    }
}

int hf_host_main(const hf_host_opts_t *opts)
{
    hf_core_t core_s, *core = &core_s;
    char err[2048];
    int rc = 2, ran = 0;
    memset(core, 0, sizeof(*core));
    core->opts = *opts;
    if (core->opts.drain_timeout_s <= 0)
        core->opts.drain_timeout_s = 25;

    hf_app_opts_t aopts = {1, opts->embedded, NULL};
    if (hf_app_load(&core->app, opts->app_dir, &aopts, err, sizeof(err)) != 0) {
        hf_log_error("%s", err);
        return 2;
    }
    hf_log_set_level(core->app.host.log_default);
    hf_app_export_values(&core->app);
    for (size_t i = 0; i < core->app.warnings_n; i++)
        hf_log_warn("%s", core->app.warnings[i]);
    size_t enabled = 0;
    for (size_t i = 0; i < core->app.functions_n; i++) {
        enabled += !core->app.functions[i].disabled;
        if (core->app.functions[i].disabled)
            hf_log_info("function %s is disabled", core->app.functions[i].name);
    }
    if (enabled == 0) {
        hf_log_error("%s: no enabled function found (a function is a folder holding "
                     "function.json); create one with `hubfn new NAME`", core->app.dir);
        hf_app_free(&core->app);
        return 2;
    }
    for (core->types_n = 0; hf_binding_types[core->types_n]; core->types_n++)
        ;
    core->states = hf_calloc(core->types_n + 1, sizeof(*core->states));
    core->started = hf_calloc(core->types_n + 1, 1);
    core->copts.embedded = opts->embedded;
    core->copts.exit_on_eof = opts->exit_on_eof;
    core->copts.partitions = opts->partitions > 0 ? opts->partitions : 4;
    core->copts.embedded_port = opts->embedded_port;
    core->copts.embedded_hubs = opts->embedded_hubs;
    core->copts.embedded_hubs_n = opts->embedded_hubs_n;
    core->copts.workers = opts->workers > 0 ? opts->workers : cpu_count();

    core->loop = ev_default_loop(0);
    ev_async_init(&core->done_async, on_done);
    core->done_async.data = core;
    ev_async_start(core->loop, &core->done_async);
    ev_prepare_init(&core->submit_flush, on_submit_flush);
    core->submit_flush.data = core;

    hf_reload_t *reload = NULL;
    if (start_http(core, err, sizeof(err)) != 0) {
        hf_log_error("%s", err);
        rc = 1;
        goto out;
    }
    if (hf_otlp_setup(&core->otlp, core->loop, core->metrics, setting, &core->app, err,
                      sizeof(err)) != 0) {
        hf_log_error("%s", err);
        goto out;
    }
    if (hf_workers_start(&core->workers, &core->app, core->copts.workers, core->loop,
                         &core->done_async, err, sizeof(err)) != 0) {
        hf_log_error("%s", err);
        goto out;
    }
    ev_prepare_start(core->loop, &core->submit_flush);
    hf_pipeline_env_t env = {
        .loop = core->loop, .app = &core->app,
        .runner = {runner_submit, runner_wait, core->copts.workers, core},
        .metrics = core->metrics, .type_state = type_state, .failed = env_failed,
        .abandoned = env_abandoned, .progress = env_progress, .ud = core};
    core->pipeline = hf_pipeline_new(&env);

    for (size_t i = 0; i < core->types_n; i++) {
        const hf_binding_type_t *type = hf_binding_types[i];
        if (!type->start || !type_used(&core->app, type))
            continue;
        core->started[i] = 1;
        if (type->start(core, &core->states[i], err, sizeof(err)) != 0) {
            hf_log_error("%s", err);
            rc = type->name ? 2 : 1;
            goto out_types;
        }
    }

    reload = hf_reload_start(&core->app, core->loop, &core->workers, opts->embedded);

    ev_signal_init(&core->sigint, on_signal, SIGINT);
    ev_signal_init(&core->sigterm, on_signal, SIGTERM);
    core->sigint.data = core->sigterm.data = core;
    ev_signal_start(core->loop, &core->sigint);
    ev_signal_start(core->loop, &core->sigterm);
    signal(SIGPIPE, SIG_IGN);

    hf_log_info("hubfn %s hosting %zu function%s from %s with %d worker%s", HF_VERSION, enabled,
                enabled == 1 ? "" : "s", core->app.dir, core->copts.workers,
                core->copts.workers == 1 ? "" : "s");
    ev_run(core->loop, 0);
    ran = 1;
    rc = core->exit_code;
    hf_http_stop(core->http);    /* the loop turns no more: refuse rather than hang */
    core->http = NULL;
    hf_reload_stop(reload);

out_types:;
    hf_host_stats_t stats = {0};
    for (size_t i = 0; i < core->types_n; i++)
        if (core->started[i] && hf_binding_types[i]->stats)
            hf_binding_types[i]->stats(core->states[i], &stats);
    hf_pipeline_stats(core->pipeline, &stats);
    hf_pipeline_shutdown(core->pipeline);
    close_watch_t watch = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, rc};
    pthread_t watcher;
    int watching = !core->abandon &&
                   pthread_create(&watcher, NULL, close_watchdog, &watch) == 0;
    close_types(core, core->abandon);
    if (watching) {
        pthread_mutex_lock(&watch.lock);
        watch.done = 1;
        pthread_cond_signal(&watch.cond);
        pthread_mutex_unlock(&watch.lock);
        pthread_join(watcher, NULL);
    }
    if (core->abandon) {
        /* A handler still running cannot be stopped from outside its thread: what it was
           doing is not checkpointed, so leave now rather than wait for it. */
        hf_log_info("stopped without waiting for handlers still running");
        fflush(stderr);
        _exit(1);
    }
    ev_prepare_stop(core->loop, &core->submit_flush);
    hf_workers_stop(&core->workers);
    if (ran)
        hf_log_info("stopped: %llu events in %llu batches, %llu failed batches (%llu events), "
                    "%llu outputs delivered, %llu retries, %llu dead-lettered",
                    (unsigned long long)stats.events, (unsigned long long)stats.batches,
                    (unsigned long long)stats.failed_batches,
                    (unsigned long long)stats.failed_events, (unsigned long long)stats.outputs,
                    (unsigned long long)stats.retries, (unsigned long long)stats.dead_lettered);
out:
    hf_pipeline_free(core->pipeline);
    hf_otlp_shutdown(core->otlp, 3000);   /* the spans of every batch freed above */
    hf_http_stop(core->http);
    hf_metrics_free(core->metrics);
    free(core->states);
    free(core->started);
    hf_app_free(&core->app);
    return rc;
}
