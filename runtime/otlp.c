/*
 * The OTLP/HTTP JSON exporter of finished spans. See otlp.h and docs/operations.md
 * "Tracing".
 */
#include "otlp.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc.h"
#include "conn.h"
#include "datetime.h"
#include "httpc.h"
#include "json.h"
#include "log.h"
#include "trace.h"

#define QUEUE_BYTES_MAX (16u << 20)  /* queued span text, whatever the span count */
#define RETRIES 2                    /* tries after the first, for 429/502/503/504/none */
#define RETRY_AFTER_MAX 10.0         /* seconds; a longer Retry-After is cut to this */
#define WARN_EVERY_US (60 * 1000000LL)
#define STOP_WAIT_MAX_MS 3000        /* the most a stop waits for the last export */

struct hf_otlp {
    struct ev_loop *loop;
    hf_httpc_t *http;
    char *url;
    char *shown;                 /* the URL as logs show it: no credentials, no query */
    hf_header_t *headers;        /* Content-Type and OTEL_EXPORTER_OTLP_HEADERS */
    size_t headers_n;
    long timeout_ms;
    char *ca_file;
    char *resource;              /* the "resource" object, as JSON */
    size_t max_queue, max_batch;
    double delay_s;
    /* spans waiting: a ring of max_queue entries from head */
    char **q;
    size_t *qlen;
    size_t head, n, bytes;
    /* the request in flight, or waiting for its retry */
    int busy;
    hf_buf_t body;
    size_t body_spans;
    int attempt;
    int stopping;
    ev_timer tick, kick, retry;
    /* warnings, per reason (queue-full, export-failed, rejected) */
    int failing;
    int64_t warned_us[3];
    uint64_t dropped_unsaid[3];
    char last_error[256];
    hf_series_t *m_exported, *m_drop_full, *m_drop_failed, *m_drop_rejected, *m_queue;
};

static void export_now(hf_otlp_t *o);

/* ---------------------------------------------------------------------------------- */
/* Settings                                                                            */

typedef struct setup {
    hf_otlp_get_fn get;
    void *ud;
} setup_t;

/* The signal-specific setting OTEL_EXPORTER_OTLP_TRACES_X, else OTEL_EXPORTER_OTLP_X;
   NULL when neither is set (or set empty). */
static const char *otlp_setting(const setup_t *st, const char *x, const char **name)
{
    static __thread char n1[96], n2[96];
    snprintf(n1, sizeof(n1), "OTEL_EXPORTER_OTLP_TRACES_%s", x);
    snprintf(n2, sizeof(n2), "OTEL_EXPORTER_OTLP_%s", x);
    const char *v = st->get(st->ud, n1);
    if (v && *v) {
        if (name)
            *name = n1;
        return v;
    }
    v = st->get(st->ud, n2);
    if (name)
        *name = n2;
    return v && *v ? v : NULL;
}

/* A whole number from min to max in setting `name`, else def (with a warning). */
static long number(const char *name, const char *v, long def, long min, long max)
{
    if (!v || !*v)
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || *end || n < min || n > max) {
        hf_log_warn("%s=%s is not a whole number from %ld to %ld; using %ld", name, v, min, max,
                    def);
        return def;
    }
    return n;
}

/* %XX-decode s[0..n) with surrounding spaces trimmed, as the OTEL_* lists write keys and
   values. */
static char *pct_decode(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    char *out = hf_malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            out[k++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = 0;
    return out;
}

/* Call fn(key, value) for each "key=value" of a comma-separated list; an entry without
   '=' or with an empty key gets a warning naming `what`. */
static void each_pair(const char *list, const char *what, int secret,
                      void (*fn)(void *ud, char *key, char *value), void *ud)
{
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        char *key = eq ? pct_decode(p, (size_t)(eq - p)) : NULL;
        if (key && *key) {
            char *value = pct_decode(eq + 1, len - (size_t)(eq + 1 - p));
            fn(ud, key, value);
        } else if (len && strspn(p, " \t") < len) {
            /* the entry itself is not shown: it may hold a credential */
            hf_log_warn("%s: an entry without \"key=value\" is ignored%s", what,
                        secret ? " (its text is not shown: it may hold a credential)" : "");
            free(key);
        } else {
            free(key);
        }
        p = end ? end + 1 : NULL;
    }
}

static void add_header(void *ud, char *key, char *value)
{
    hf_otlp_t *o = ud;
    hf_secret_add(value);        /* an API key, a bearer token: never in a log line */
    o->headers = hf_realloc(o->headers, (o->headers_n + 1) * sizeof(*o->headers));
    o->headers[o->headers_n].name = key;
    o->headers[o->headers_n].value = value;
    o->headers[o->headers_n].value_len = strlen(value);
    o->headers_n++;
}

/* Resource attributes collected while reading OTEL_RESOURCE_ATTRIBUTES. */
typedef struct res {
    hf_buf_t json;
    int n;
    char *service;
    int has_host;
} res_t;

static void res_put(res_t *r, const char *key, const char *value)
{
    const char *open = r->n++ ? ",{\"key\":" : "{\"key\":";
    hf_buf_append(&r->json, open, strlen(open));
    hf_json_put_string(&r->json, key, strlen(key));
    hf_buf_append(&r->json, ",\"value\":{\"stringValue\":", 24);
    hf_json_put_string(&r->json, value, strlen(value));
    hf_buf_append(&r->json, "}}", 2);
}

static void add_resource(void *ud, char *key, char *value)
{
    res_t *r = ud;
    if (strcmp(key, "service.name") == 0) {
        if (!r->service)
            r->service = hf_strdup(value);
    } else {
        r->has_host |= strcmp(key, "host.name") == 0;
        res_put(r, key, value);
    }
    free(key);
    free(value);
}

/* The "resource" object: OTEL_RESOURCE_ATTRIBUTES, service.name (OTEL_SERVICE_NAME first),
   host.name, process.pid and what telemetry.sdk.* says of hubfn. */
static char *resource_json(const setup_t *st, char **service)
{
    res_t r = {{0}, 0, NULL, 0};
    hf_buf_append(&r.json, "{\"attributes\":[", 15);
    const char *name = st->get(st->ud, "OTEL_SERVICE_NAME");
    if (name && *name)
        r.service = hf_strdup(name);
    const char *attrs = st->get(st->ud, "OTEL_RESOURCE_ATTRIBUTES");
    if (attrs)
        each_pair(attrs, "OTEL_RESOURCE_ATTRIBUTES", 0, add_resource, &r);
    if (!r.service)
        r.service = hf_strdup("unknown_service:hubfn");
    res_put(&r, "service.name", r.service);
    char host[256];
    if (!r.has_host && gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = 0;
        res_put(&r, "host.name", host);
    }
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    static const char pid_attr[] = ",{\"key\":\"process.pid\",\"value\":{\"intValue\":\"";
    hf_buf_append(&r.json, pid_attr, sizeof(pid_attr) - 1);
    hf_buf_append(&r.json, pid, strlen(pid));
    hf_buf_append(&r.json, "\"}}", 3);
    r.n++;
    res_put(&r, "telemetry.sdk.name", "hubfn");
    res_put(&r, "telemetry.sdk.version", HF_VERSION);
    hf_buf_append(&r.json, "]}", 2);
    *service = r.service;
    return r.json.data;
}

/* url without user:password@ and without its query, for log lines. */
static char *shown_url(const char *url)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *path = host + strcspn(host, "/?#");
    const char *at = memchr(host, '@', (size_t)(path - host));
    size_t head = (size_t)(host - url);
    const char *rest = at ? at + 1 : host;
    size_t restlen = strcspn(rest, "?#");
    char *out = hf_malloc(head + restlen + 1);
    memcpy(out, url, head);
    memcpy(out + head, rest, restlen);
    out[head + restlen] = 0;
    return out;
}

static const char *sampler_name(const hf_sampler_t *s, char *buf, size_t bufsz)
{
    static const char *const names[] = {"always_on", "always_off", "traceidratio",
                                        "parentbased_always_on", "parentbased_always_off",
                                        "parentbased_traceidratio"};
    if (s->kind == HF_SAMPLER_RATIO || s->kind == HF_SAMPLER_PARENT_RATIO)
        snprintf(buf, bufsz, "%s %g", names[s->kind], s->ratio);
    else
        snprintf(buf, bufsz, "%s", names[s->kind]);
    return buf;
}

static void warn_line(void *ud, const char *line)
{
    (void)ud;
    hf_log_warn("%s", line);
}

/* Is the exporter switched off by OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER? */
static int export_off(const setup_t *st)
{
    const char *v = st->get(st->ud, "OTEL_SDK_DISABLED");
    if (v && strcasecmp(v, "true") == 0)
        return 1;
    v = st->get(st->ud, "OTEL_TRACES_EXPORTER");
    if (!v || !*v || strcasecmp(v, "otlp") == 0)
        return 0;
    if (strcasecmp(v, "none") != 0)
        hf_log_warn("OTEL_TRACES_EXPORTER=%s: hubfn exports spans only over OTLP (\"otlp\", or "
                    "\"none\" for no export); spans are not exported", v);
    return 1;
}

static hf_otlp_t *exporter_new(struct ev_loop *loop, hf_metrics_t *metrics, const setup_t *st,
                               char *url, const hf_sampler_t *sampler);

/* hf_trace_cfg_t.sink */
static void sink(void *ud, char *json, size_t len)
{
    hf_otlp_add(ud, json, len);
}

int hf_otlp_setup(hf_otlp_t **out, struct ev_loop *loop, hf_metrics_t *metrics,
                  hf_otlp_get_fn get, void *ud, char *err, size_t errsz)
{
    setup_t st = {get, ud};
    hf_trace_cfg_t tc;
    memset(&tc, 0, sizeof(tc));
    hf_trace_config_read(&tc, get, ud, warn_line, NULL);
    tc.propagate = 1;
    *out = NULL;

    const char *name = NULL, *ep = otlp_setting(&st, "ENDPOINT", &name);
    char *url = NULL;
    if (ep && !export_off(&st)) {
        if (strncasecmp(ep, "http://", 7) != 0 && strncasecmp(ep, "https://", 8) != 0) {
            snprintf(err, errsz, "%s=%s is not an http:// or https:// URL (an OTLP/HTTP "
                     "collector, e.g. http://otel-collector:4318)", name, ep);
            return -1;
        }
        if (strcmp(name, "OTEL_EXPORTER_OTLP_ENDPOINT") == 0) {
            /* the base URL: the traces path is added to it */
            size_t n = strlen(ep);
            url = hf_malloc(n + 12);
            snprintf(url, n + 12, "%s%s", ep, n && ep[n - 1] == '/' ? "v1/traces" : "/v1/traces");
        } else {
            url = hf_strdup(ep);
        }
    }
    if (url) {
        hf_otlp_t *o = exporter_new(loop, metrics, &st, url, &tc.sampler);
        tc.sink = sink;
        tc.sink_ud = o;
        *out = o;
    }
    hf_trace_setup(&tc);
    return 0;
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents);
static void on_kick(struct ev_loop *loop, ev_timer *w, int revents);
static void on_retry(struct ev_loop *loop, ev_timer *w, int revents);

static hf_otlp_t *exporter_new(struct ev_loop *loop, hf_metrics_t *metrics, const setup_t *st,
                               char *url, const hf_sampler_t *sampler)
{
    hf_otlp_t *o = hf_calloc(1, sizeof(*o));
    o->loop = loop;
    o->url = url;
    o->shown = shown_url(url);
    const char *name;
    const char *v = otlp_setting(st, "PROTOCOL", &name);
    if (v && strcmp(v, "http/json") != 0)
        hf_log_warn("%s=%s: hubfn sends OTLP over HTTP with JSON encoding (http/json); the "
                    "collector's OTLP/HTTP receiver (port 4318) takes it", name, v);
    v = otlp_setting(st, "COMPRESSION", &name);
    if (v && strcasecmp(v, "none") != 0)
        hf_log_warn("%s=%s: hubfn sends spans uncompressed", name, v);
    add_header(o, hf_strdup("Content-Type"), hf_strdup("application/json"));
    v = otlp_setting(st, "HEADERS", &name);
    if (v)
        each_pair(v, name, 1, add_header, o);
    v = otlp_setting(st, "TIMEOUT", &name);
    o->timeout_ms = number(name, v, 10000, 1, 600000);
    v = otlp_setting(st, "CERTIFICATE", &name);
    if (v)
        o->ca_file = hf_strdup(v);
    o->max_queue = (size_t)number("OTEL_BSP_MAX_QUEUE_SIZE",
                                  st->get(st->ud, "OTEL_BSP_MAX_QUEUE_SIZE"), 2048, 1, 1000000);
    o->max_batch = (size_t)number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                                  st->get(st->ud, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"), 512, 1,
                                  1000000);
    if (o->max_batch > o->max_queue)
        o->max_batch = o->max_queue;
    o->delay_s = (double)number("OTEL_BSP_SCHEDULE_DELAY",
                                st->get(st->ud, "OTEL_BSP_SCHEDULE_DELAY"), 5000, 1,
                                3600000) / 1000.0;
    char *service = NULL;
    o->resource = resource_json(st, &service);
    o->q = hf_calloc(o->max_queue, sizeof(*o->q));
    o->qlen = hf_calloc(o->max_queue, sizeof(*o->qlen));
    o->http = hf_httpc_new(loop);
    o->m_exported = hf_metric_series(hf_metrics_get(metrics, HF_M_SPANS_EXPORTED));
    o->m_drop_full = hf_metric_series(hf_metrics_get(metrics, HF_M_SPANS_DROPPED), "queue-full");
    o->m_drop_failed = hf_metric_series(hf_metrics_get(metrics, HF_M_SPANS_DROPPED),
                                        "export-failed");
    o->m_drop_rejected = hf_metric_series(hf_metrics_get(metrics, HF_M_SPANS_DROPPED),
                                          "rejected");
    o->m_queue = hf_metric_series(hf_metrics_get(metrics, HF_M_SPAN_QUEUE));
    ev_timer_init(&o->tick, on_tick, o->delay_s, o->delay_s);
    o->tick.data = o;
    ev_timer_start(loop, &o->tick);
    ev_timer_init(&o->kick, on_kick, 0, 0);
    o->kick.data = o;
    ev_init(&o->retry, on_retry);
    o->retry.data = o;
    char sname[64];
    hf_log_info("exporting spans over OTLP/HTTP (JSON) to %s as service %s, sampler %s", o->shown,
                service, sampler_name(sampler, sname, sizeof(sname)));
    free(service);
    return o;
}

/* ---------------------------------------------------------------------------------- */
/* Dropping and warning                                                                */

static void set_queue_gauge(hf_otlp_t *o)
{
    hf_series_set(o->m_queue, (double)(o->n + o->body_spans));
}

/* Count n spans dropped for reason r (0 queue-full, 1 export-failed, 2 rejected), and say
   so: the first time, then at most once a minute per reason while it lasts. */
static void dropped(hf_otlp_t *o, int r, size_t n, const char *why)
{
    hf_series_t *series[3] = {o->m_drop_full, o->m_drop_failed, o->m_drop_rejected};
    if (!n)
        return;
    hf_series_add(series[r], (double)n);
    o->dropped_unsaid[r] += n;
    int64_t now = hf_mono_us();
    if (o->warned_us[r] && now - o->warned_us[r] < WARN_EVERY_US)
        return;
    o->warned_us[r] = now;
    hf_log_warn("OTLP export to %s: %llu span%s dropped (%s); events are not affected, and "
                "hubfn_trace_spans_dropped_total counts the spans", o->shown,
                (unsigned long long)o->dropped_unsaid[r], o->dropped_unsaid[r] == 1 ? "" : "s",
                why);
    o->dropped_unsaid[r] = 0;
}

/* ---------------------------------------------------------------------------------- */
/* Queue and requests                                                                  */

void hf_otlp_add(hf_otlp_t *o, char *json, size_t len)
{
    if (!o || !json) {
        free(json);
        return;
    }
    if (o->n >= o->max_queue || o->bytes + len > QUEUE_BYTES_MAX) {
        free(json);
        char why[128];
        snprintf(why, sizeof(why), "the queue of %zu spans is full", o->max_queue);
        dropped(o, 0, 1, why);
        return;
    }
    size_t at = (o->head + o->n) % o->max_queue;
    o->q[at] = json;
    o->qlen[at] = len;
    o->n++;
    o->bytes += len;
    set_queue_gauge(o);
    if (o->n >= o->max_batch && !o->busy && !o->stopping && !ev_is_active(&o->kick))
        ev_timer_start(o->loop, &o->kick);
}

static void on_done(void *ud, hf_httpc_res_t *res);

static void send_body(hf_otlp_t *o)
{
    hf_httpc_req_t req = {.method = "POST", .url = o->url, .headers = o->headers,
                          .headers_n = o->headers_n, .body = o->body.data,
                          .body_len = o->body.len, .timeout_ms = o->timeout_ms,
                          .ca_file = o->ca_file, .keep_body = 4096};
    hf_httpc_send(o->http, &req, on_done, o);
}

/* Take up to max_batch spans off the queue into one request and send it. */
static void export_now(hf_otlp_t *o)
{
    if (o->busy || o->n == 0)
        return;
    static const char head[] = "{\"resourceSpans\":[{\"resource\":";
    static const char scope[] = ",\"scopeSpans\":[{\"scope\":{\"name\":\"hubfn\",\"version\":\""
                                HF_VERSION "\"},\"spans\":[";
    hf_buf_free(&o->body);
    hf_buf_append(&o->body, head, sizeof(head) - 1);
    hf_buf_append(&o->body, o->resource, strlen(o->resource));
    hf_buf_append(&o->body, scope, sizeof(scope) - 1);
    size_t take = o->n < o->max_batch ? o->n : o->max_batch;
    for (size_t i = 0; i < take; i++) {
        if (i)
            hf_buf_append(&o->body, ",", 1);
        hf_buf_append(&o->body, o->q[o->head], o->qlen[o->head]);
        free(o->q[o->head]);
        o->bytes -= o->qlen[o->head];
        o->q[o->head] = NULL;
        o->head = (o->head + 1) % o->max_queue;
        o->n--;
    }
    hf_buf_append(&o->body, "]}]}]}", 6);
    o->body_spans = take;
    o->attempt = 0;
    o->busy = 1;
    send_body(o);
}

/* The request is over (sent, or given up): go on with the queue. */
static void finish(hf_otlp_t *o)
{
    o->busy = 0;
    o->body_spans = 0;
    hf_buf_free(&o->body);
    set_queue_gauge(o);
    if (o->n >= o->max_batch && !o->stopping)
        export_now(o);
}

/* A 2xx answer may still carry {"partialSuccess":{"rejectedSpans":N,"errorMessage":...}}:
   how many spans the collector did not keep, and why. */
static size_t rejected_spans(const hf_httpc_res_t *res, char *why, size_t whysz)
{
    if (!res->body.data || !strstr(res->body.data, "rejectedSpans"))
        return 0;
    cJSON *doc = cJSON_ParseWithLength(res->body.data, res->body.len);
    cJSON *ps = cJSON_GetObjectItem(doc, "partialSuccess");
    cJSON *n = cJSON_GetObjectItem(ps, "rejectedSpans");
    cJSON *msg = cJSON_GetObjectItem(ps, "errorMessage");
    /* int64 is a string in OTLP/JSON; a number is taken too */
    double count = cJSON_IsString(n) ? strtod(n->valuestring, NULL) : cJSON_IsNumber(n)
                                                                        ? n->valuedouble : 0;
    snprintf(why, whysz, "the collector rejected them%s%.200s", cJSON_IsString(msg) ? ": " : "",
             cJSON_IsString(msg) ? msg->valuestring : "");
    cJSON_Delete(doc);
    return count > 0 ? (size_t)count : 0;
}

static int retryable_status(int status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

static void on_done(void *ud, hf_httpc_res_t *res)
{
    hf_otlp_t *o = ud;
    char why[400];
    if (res->status >= 200 && res->status < 300) {
        size_t rejected = rejected_spans(res, why, sizeof(why));
        if (rejected > o->body_spans)
            rejected = o->body_spans;
        hf_series_add(o->m_exported, (double)(o->body_spans - rejected));
        dropped(o, 2, rejected, why);
        if (o->failing)
            hf_log_info("OTLP export to %s works again", o->shown);
        o->failing = 0;
        finish(o);
        return;
    }
    if (res->status)
        snprintf(why, sizeof(why), "the collector answered %d%s%.*s", res->status,
                 res->body.len ? ": " : "", (int)(res->body.len < 200 ? res->body.len : 200),
                 res->body.data ? res->body.data : "");
    else
        snprintf(why, sizeof(why), "no answer: %s", res->error);
    for (char *c = why; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    int again = res->status ? retryable_status(res->status) : 1;
    if (again && o->attempt < RETRIES && !o->stopping) {
        o->attempt++;
        double delay = o->attempt == 1 ? 1.0 : 2.0;
        double ra = hf_httpc_retry_after(hf_httpc_res_header(res, "retry-after"), hf_now_ms());
        if (ra >= 0)
            delay = ra < RETRY_AFTER_MAX ? ra : RETRY_AFTER_MAX;
        ev_timer_set(&o->retry, delay, 0);
        ev_timer_start(o->loop, &o->retry);
        return;
    }
    o->failing = 1;
    snprintf(o->last_error, sizeof(o->last_error), "%s", why);
    char full[600];
    snprintf(full, sizeof(full), "%s%s", why,
             again && !o->stopping ? ", also after 2 retries" : "");
    dropped(o, 1, o->body_spans, full);
    finish(o);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    send_body(w->data);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    export_now(w->data);
}

static void on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    export_now(w->data);
}

void hf_otlp_shutdown(hf_otlp_t *o, int timeout_ms)
{
    hf_trace_setup(NULL);
    if (!o)
        return;
    o->stopping = 1;
    ev_timer_stop(o->loop, &o->tick);
    ev_timer_stop(o->loop, &o->kick);
    if (ev_is_active(&o->retry)) {
        ev_timer_stop(o->loop, &o->retry);
        send_body(o);            /* one last try, now */
    }
    if (timeout_ms > STOP_WAIT_MAX_MS)
        timeout_ms = STOP_WAIT_MAX_MS;
    if (timeout_ms > o->timeout_ms)
        timeout_ms = (int)o->timeout_ms;
    int64_t deadline = hf_mono_us() + (int64_t)timeout_ms * 1000;
    while ((o->busy || o->n) && hf_mono_us() < deadline) {
        export_now(o);
        hf_httpc_poll(o->http, 50);
    }
    size_t left = o->n + o->body_spans;
    if (left) {
        hf_series_add(o->m_drop_failed, (double)left);
        hf_log_warn("OTLP export to %s: %zu span%s not exported at stop%s%s", o->shown, left,
                    left == 1 ? "" : "s", o->failing ? ": " : "", o->failing ? o->last_error : "");
    }
    hf_httpc_free(o->http);
    for (size_t i = 0; i < o->n; i++)
        free(o->q[(o->head + i) % o->max_queue]);
    free(o->q);
    free(o->qlen);
    hf_buf_free(&o->body);
    for (size_t i = 0; i < o->headers_n; i++) {
        free(o->headers[i].name);
        free(o->headers[i].value);
    }
    free(o->headers);
    free(o->url);
    free(o->shown);
    free(o->ca_file);
    free(o->resource);
    free(o);
}
