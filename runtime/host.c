#include "host.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embedded.h"
#include "eventhub_output.h"
#include "eventhub_trigger.h"
#include "http.h"
#include "metrics.h"
#include "reload.h"

static hf_trigger_t **trigger_of_fn;   /* by function index */

static int all_triggers(hf_host_t *host, int (*pred)(const hf_trigger_t *))
{
    for (size_t i = 0; i < host->triggers_n; i++)
        if (!pred(host->triggers[i]))
            return 0;
    return 1;
}

/* Leave the loop once a drain has nothing in flight; start one at EOF with --exit-on-eof. */
static void maybe_finish(hf_host_t *host)
{
    if (host->stopping) {
        if (all_triggers(host, hf_trigger_idle))
            ev_break(host->loop, EVBREAK_ALL);
    } else if (host->opts.exit_on_eof && all_triggers(host, hf_trigger_at_eof)) {
        hf_host_stop(host, "every assigned partition is drained");
    }
}

void hf_host_trigger_finished(hf_host_t *host)
{
    maybe_finish(host);
}

void hf_host_complete(hf_host_t *host, hf_batch_t *batch)
{
    hf_trigger_t *t = trigger_of_fn[batch->fn_index];
    hf_trigger_complete(t, batch);
}

static void on_done(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    hf_host_t *host = w->data;
    hf_batch_t *done = hf_workers_take_done(&host->workers);
    while (done) {
        hf_batch_t *next = done->next;
        done->next = NULL;
        hf_host_complete(host, done);
        done = next;
    }
}

static void on_drain_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    hf_host_t *host = w->data;
    hf_log_error("drain did not finish within %.0f s; exiting with batches in flight (they are "
                 "not checkpointed and will be processed again)", host->opts.drain_timeout_s);
    host->exit_code = 1;
    host->abandon = 1;
    ev_break(loop, EVBREAK_ALL);
}

void hf_host_stop(hf_host_t *host, const char *why)
{
    if (host->stopping)
        return;
    host->stopping = 1;
    hf_log_info("stopping (%s): finishing in-flight batches", why);
    for (size_t i = 0; i < host->triggers_n; i++)
        hf_trigger_stop(host->triggers[i]);
    ev_timer_init(&host->drain_timer, on_drain_timeout, host->opts.drain_timeout_s, 0);
    host->drain_timer.data = host;
    ev_timer_start(host->loop, &host->drain_timer);
    maybe_finish(host);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    hf_host_t *host = w->data;
    if (host->stopping) {
        hf_log_warn("second signal: exiting now without waiting for in-flight batches");
        host->exit_code = 1;
        host->abandon = 1;
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    hf_host_stop(host, w->signum == SIGINT ? "SIGINT" : "SIGTERM");
}

int hf_host_ready(hf_host_t *host, char *why, size_t whysz)
{
    if (host->stopping) {
        snprintf(why, whysz, host->fatal ? "stopping after a fatal error" : "draining");
        return 0;
    }
    for (size_t i = 0; i < host->triggers_n; i++)
        if (!hf_trigger_ready(host->triggers[i], why, whysz))
            return 0;
    snprintf(why, whysz, "ready");
    return 1;
}

/* Gauges read at scrape time (loop thread). */
static void collect_metrics(void *ud)
{
    hf_host_t *host = ud;
    char why[512];
    for (size_t i = 0; i < host->triggers_n; i++)
        hf_trigger_collect(host->triggers[i]);
    hf_series_set(hf_metric_series(hf_metrics_get(host->metrics, HF_M_READY)),
                  hf_host_ready(host, why, sizeof(why)));
}

/* GET /healthz, /readyz, /metrics (loop thread: answering at all shows the loop turns). */
static void serve_http(void *ud, const char *path, hf_http_response_t *res)
{
    hf_host_t *host = ud;
    char why[512];
    if (strcmp(path, "/healthz") == 0) {
        hf_http_text(res, 200, "ok\n");
    } else if (strcmp(path, "/readyz") == 0) {
        int ready = hf_host_ready(host, why, sizeof(why));
        hf_http_text(res, ready ? 200 : 503, "%s\n", why);
    } else if (strcmp(path, "/metrics") == 0) {
        res->body = hf_metrics_render(host->metrics, &res->body_len);
        if (res->body)
            res->content_type = "text/plain; version=0.0.4; charset=utf-8";
        else
            hf_http_text(res, 500, "out of memory\n");
    } else {
        hf_http_text(res, 404, "not found: %s (try /healthz, /readyz or /metrics)\n", path);
    }
}

/* Metrics and the HTTP endpoints, with --http-port. -1 with err when it cannot listen. */
static int start_http(hf_host_t *host, char *err, size_t errsz)
{
    const char *addr = host->opts.http_address ? host->opts.http_address : "0.0.0.0";
    if (host->opts.http_port < 0)
        return 0;
    if (!(host->metrics = hf_metrics_new_host())) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    hf_series_set(hf_metric_series(hf_metrics_get(host->metrics, HF_M_BUILD_INFO), HF_VERSION),
                  1);
    hf_metrics_on_collect(host->metrics, collect_metrics, host);
    if (hf_http_start(&host->http, host->loop, addr, host->opts.http_port, serve_http, host,
                      err, errsz) != 0)
        return -1;
    hf_log_info("serving /healthz, /readyz and /metrics on http://%s%s%s:%d",
                strchr(addr, ':') && addr[0] != '[' ? "[" : "", addr,
                strchr(addr, ':') && addr[0] != '[' ? "]" : "", hf_http_port(host->http));
    return 0;
}

/* Tell a person how to feed and read the embedded broker's hubs. */
static void print_embedded_commands(hf_host_t *host)
{
    const char *addr = hf_embedded_bootstrap(host->embedded);
    for (size_t f = 0; f < host->app.functions_n; f++) {
        const hf_function_t *fn = &host->app.functions[f];
        if (fn->disabled)
            continue;
        hf_log_info("feed %s: hubfn send %s %s events.jsonl   (or: kcat -P -b %s -t %s -l "
                    "events.jsonl)", fn->name, addr, fn->trigger.hub, addr, fn->trigger.hub);
        for (size_t o = 0; o < fn->outputs_n; o++)
            hf_log_info("read %s: kcat -C -b %s -t %s -f '%%k %%s\\n'", fn->outputs[o].hub,
                        addr, fn->outputs[o].hub);
    }
}

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int hf_host_main(const hf_host_opts_t *opts)
{
    hf_host_t host_s, *host = &host_s;
    char err[2048];
    int rc = 2;
    memset(host, 0, sizeof(*host));
    host->opts = *opts;
    if (host->opts.drain_timeout_s <= 0)
        host->opts.drain_timeout_s = 25;

    hf_app_opts_t aopts = {1, opts->embedded, NULL};
    if (hf_app_load(&host->app, opts->app_dir, &aopts, err, sizeof(err)) != 0) {
        hf_log_error("%s", err);
        return 2;
    }
    hf_log_set_level(host->app.host.log_default);
    for (size_t i = 0; i < host->app.warnings_n; i++)
        hf_log_warn("%s", host->app.warnings[i]);
    size_t enabled = 0;
    for (size_t i = 0; i < host->app.functions_n; i++)
        enabled += !host->app.functions[i].disabled;
    if (enabled == 0) {
        hf_log_error("%s: no enabled function found (a function is a folder holding "
                     "function.json); create one with `hubfn new NAME`", host->app.dir);
        hf_app_free(&host->app);
        return 2;
    }

    int need_embedded = opts->embedded;
    for (size_t c = 0; c < host->app.conns_n; c++)
        need_embedded |= host->app.conns[c]->kind == HF_CONN_EMBEDDED;
    if (need_embedded) {
        if (hf_embedded_start(&host->embedded, &host->app, opts->partitions > 0 ? opts->partitions : 4,
                              err, sizeof(err)) != 0) {
            hf_log_error("%s", err);
            hf_app_free(&host->app);
            return 1;
        }
        hf_log_info("embedded broker listening at %s", hf_embedded_bootstrap(host->embedded));
        print_embedded_commands(host);
    }

    host->loop = ev_default_loop(0);
    ev_async_init(&host->done_async, on_done);
    host->done_async.data = host;
    ev_async_start(host->loop, &host->done_async);

    if (start_http(host, err, sizeof(err)) != 0) {
        hf_log_error("%s", err);
        rc = 1;
        goto out_embedded;
    }

    host->workers_n = opts->workers > 0 ? opts->workers : cpu_count();
    if (hf_workers_start(&host->workers, &host->app, host->workers_n, host->loop,
                         &host->done_async, err, sizeof(err)) != 0) {
        hf_log_error("%s", err);
        goto out_embedded;
    }

    if (hf_outputs_start(&host->outputs, host, err, sizeof(err)) != 0) {
        hf_log_error("%s", err);
        hf_workers_stop(&host->workers);
        goto out_embedded;
    }

    host->triggers = calloc(host->app.functions_n, sizeof(*host->triggers));
    trigger_of_fn = calloc(host->app.functions_n, sizeof(*trigger_of_fn));
    for (size_t i = 0; i < host->app.functions_n; i++) {
        if (host->app.functions[i].disabled) {
            hf_log_info("function %s is disabled", host->app.functions[i].name);
            continue;
        }
        hf_trigger_t *t;
        if (hf_trigger_start(host, (int)i, &t, err, sizeof(err)) != 0) {
            hf_log_error("%s", err);
            rc = 2;
            goto out_triggers;
        }
        host->triggers[host->triggers_n++] = t;
        trigger_of_fn[i] = t;
    }

    hf_reload_t *reload = NULL;
    if (hf_reload_start(&reload, host, err, sizeof(err)) != 0)
        hf_log_warn("hot reload is off: %s", err);

    ev_signal_init(&host->sigint, on_signal, SIGINT);
    ev_signal_init(&host->sigterm, on_signal, SIGTERM);
    host->sigint.data = host->sigterm.data = host;
    ev_signal_start(host->loop, &host->sigint);
    ev_signal_start(host->loop, &host->sigterm);
    signal(SIGPIPE, SIG_IGN);

    hf_log_info("hubfn %s hosting %zu function%s from %s with %d worker%s", HF_VERSION, enabled,
                enabled == 1 ? "" : "s", host->app.dir, host->workers_n,
                host->workers_n == 1 ? "" : "s");
    ev_run(host->loop, 0);
    rc = host->exit_code;
    hf_http_stop(host->http);    /* the loop turns no more: refuse rather than hang */
    host->http = NULL;
    hf_reload_stop(reload);

out_triggers:
    for (size_t i = 0; i < host->triggers_n; i++) {
        hf_trigger_stats(host->triggers[i], &host->stats);
        hf_trigger_close(host->triggers[i]);
    }
    hf_outputs_close(host->outputs, host->abandon ? 1000 : 5000);
    if (host->abandon) {
        /* A handler still running cannot be stopped from outside its thread: what it was
           doing is not checkpointed, so leave now rather than wait for it. */
        hf_log_info("stopped without waiting for handlers still running");
        fflush(stderr);
        _exit(1);
    }
    hf_workers_stop(&host->workers);
    if (rc != 2)
        hf_log_info("stopped: %llu events in %llu batches, %llu failed batches (%llu events), "
                    "%llu outputs delivered, %llu retries, %llu dead-lettered",
                    (unsigned long long)host->stats.events,
                    (unsigned long long)host->stats.batches,
                    (unsigned long long)host->stats.failed_batches,
                    (unsigned long long)host->stats.failed_events,
                    (unsigned long long)host->stats.outputs,
                    (unsigned long long)host->stats.retries,
                    (unsigned long long)host->stats.dead_lettered);
    free(host->triggers);
    free(trigger_of_fn);
    trigger_of_fn = NULL;
out_embedded:
    hf_http_stop(host->http);
    hf_metrics_free(host->metrics);
    hf_embedded_stop(host->embedded);
    hf_app_free(&host->app);
    return rc;
}
