#define _GNU_SOURCE
#include "eventhub_output.h"

#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka.h"
#include "log.h"
#include "metrics.h"

/* One producer per connection, shared by every output binding using it. */
typedef struct hf_producer {
    hf_outputs_t *outputs;
    const hf_conn_t *conn;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    int fd[2];
    ev_io io;
    char desc[256];
    int fatal;
    int64_t last_warn_us;
} hf_producer_t;

typedef struct hf_delivery hf_delivery_t;

/* A message's opaque: its delivery and the binding it went through. */
typedef struct hf_msg_ref {
    hf_delivery_t *d;
    int binding;
} hf_msg_ref_t;

/* The outputs of one batch on their way; freed when the last report is in. */
struct hf_delivery {
    hf_outputs_t *outputs;
    hf_batch_t *batch;
    size_t pending;              /* messages produced without a report yet, +1 while producing */
    hf_outputs_done_fn done;
    void *ud;
    hf_msg_ref_t refs[];         /* one per output message of the batch */
};

struct hf_outputs {
    hf_host_t *host;
    hf_producer_t *producers;
    size_t producers_n;
    size_t in_flight;
    int closing;
    ev_timer tick;
    hf_series_t ***delivered;    /* [function][binding] metric series; NULL when metrics off */
    hf_series_t ***failed;
};

/* Count one output message of binding b of the batch's function as delivered or not. */
static void count_message(hf_outputs_t *o, const hf_batch_t *batch, int b, int ok)
{
    if (o->delivered)
        hf_series_add((ok ? o->delivered : o->failed)[batch->fn_index][b], 1);
}

static hf_producer_t *producer_for(hf_outputs_t *o, const hf_conn_t *conn)
{
    for (size_t i = 0; i < o->producers_n; i++)
        if (o->producers[i].conn == conn)
            return &o->producers[i];
    return NULL;
}

/* Note the first failure of a delivery in its batch's error text. */
static void delivery_fail(hf_delivery_t *d, const char *hub, const char *why)
{
    hf_batch_t *batch = d->batch;
    batch->delivery_failed = 1;
    if (batch->error)
        return;
    size_t n = strlen(why) + strlen(hub) + 64;
    batch->error = malloc(n);
    if (batch->error)
        snprintf(batch->error, n, "an output to hub %s was not delivered: %s", hub, why);
}

static void delivery_release(hf_delivery_t *d)
{
    if (--d->pending > 0)
        return;
    hf_outputs_t *o = d->outputs;
    if (o->closing)
        hf_batch_free(d->batch);
    else
        d->done(d->batch, d->ud);
    free(d);
}

/* Say what a refused message means for the person who configured the binding. */
static void describe_error(const hf_producer_t *p, rd_kafka_resp_err_t err, const char *hub,
                           char *out, size_t outsz)
{
    hf_kafka_target_t target = {p->conn, hub, NULL, 1};
    hf_kafka_describe(err, NULL, &target, out, outsz);
}

static void fail_fatally(hf_producer_t *p, const char *why);

/* Delivery report (loop thread, served by rd_kafka_poll). */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    hf_producer_t *p = opaque;
    hf_msg_ref_t *ref = rkm->_private;
    hf_delivery_t *d = ref->d;
    p->outputs->in_flight--;
    count_message(p->outputs, d->batch, ref->binding, !rkm->err);
    if (rkm->err) {
        char why[512];
        describe_error(p, rkm->err, rd_kafka_topic_name(rkm->rkt), why, sizeof(why));
        delivery_fail(d, rd_kafka_topic_name(rkm->rkt), why);
        if (rkm->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
            rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            rkm->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
            fail_fatally(p, why);
    } else {
        d->batch->delivered++;
    }
    delivery_release(d);
}

/* The hubs the producer's output bindings send to, comma-separated. */
static void hubs_of(const hf_producer_t *p, char *out, size_t outsz)
{
    const hf_app_t *app = &p->outputs->host->app;
    size_t n = 0;
    out[0] = 0;
    for (size_t f = 0; f < app->functions_n; f++) {
        const hf_function_t *fn = &app->functions[f];
        for (size_t i = 0; !fn->disabled && i < fn->outputs_n; i++) {
            if (fn->outputs[i].conn != p->conn || strstr(out, fn->outputs[i].hub))
                continue;
            n += (size_t)snprintf(out + n, n < outsz ? outsz - n : 0, "%s%s", n ? ", " : "",
                                  fn->outputs[i].hub);
        }
    }
}

/* A failure waiting cannot fix: one line, and the host stops with exit code 1 without
   checkpointing the batch it hit. */
static void fail_fatally(hf_producer_t *p, const char *why)
{
    hf_host_t *host = p->outputs->host;
    if (p->fatal || host->fatal)
        return;
    p->fatal = 1;
    host->fatal = 1;
    host->exit_code = 1;
    hf_log_error("outputs: %s", why);
    hf_host_stop(host, "a fatal error");
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    hf_producer_t *p = opaque;
    hf_host_t *host = p->outputs->host;
    const hf_conn_t *conn = p->conn;
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
        err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED || err == RD_KAFKA_RESP_ERR__FATAL) {
        if (p->fatal || host->fatal)
            return;
        p->fatal = 1;
        host->fatal = 1;
        char why[1024];
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
            char fatal[512];
            rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
            if (ferr == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED ||
                ferr == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
                /* The idempotent producer's first request: the policy cannot send at all. */
                char hubs[512];
                hubs_of(p, hubs, sizeof(hubs));
                describe_error(p, ferr, hubs, why, sizeof(why));
                hf_log_error("outputs: %s", why);
            } else {
                hf_log_error("output producer for %s: fatal error: %s", p->desc, fatal);
            }
        } else {
            hf_kafka_target_t target = {conn, NULL, NULL, 1};
            hf_log_error("outputs: %s", hf_kafka_describe((rd_kafka_resp_err_t)err, reason,
                                                          &target, why, sizeof(why)));
        }
        host->exit_code = 1;
        hf_host_stop(host, "a fatal error");
        return;
    }
    /* Broker outages are retried by librdkafka; say so at most every 10 s. */
    int64_t now = hf_mono_us();
    if (p->last_warn_us == 0 || now - p->last_warn_us > 10 * 1000000LL) {
        p->last_warn_us = now;
        hf_log_warn("outputs: %s: %s (retrying)", p->desc, reason);
    }
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    hf_log(level <= 3 ? HF_LOG_DEBUG : HF_LOG_TRACE, "librdkafka %s: %s", fac, buf);
}

static void serve(hf_producer_t *p)
{
    char buf[256];
    while (read(p->fd[0], buf, sizeof(buf)) > 0)
        ;
    rd_kafka_poll(p->rk, 0);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    serve(w->data);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    hf_outputs_t *o = w->data;
    for (size_t i = 0; i < o->producers_n; i++)
        rd_kafka_poll(o->producers[i].rk, 0);
}

static int producer_init(hf_outputs_t *o, hf_producer_t *p, const hf_conn_t *conn, char *err,
                         size_t errsz)
{
    char errstr[512];
    const hf_host_cfg_t *cfg = &o->host->app.host;
    p->outputs = o;
    p->conn = conn;
    p->fd[0] = p->fd[1] = -1;
    hf_conn_describe(conn, p->desc, sizeof(p->desc));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    hf_kafka_conf_t kc = {conf, errstr, sizeof(errstr), NULL};
    char max_bytes[32];
    /* A produce request holds the event plus its overhead; Event Hubs closes connections
       sending requests over 1046528 bytes. */
    snprintf(max_bytes, sizeof(max_bytes), "%d", cfg->max_event_bytes + 4096);
    /* Idempotence: a broker outage of seconds neither loses nor reorders nor duplicates
       what was produced; murmur2 puts a key where Java clients (and Event Hubs' own
       guidance) put it. */
    if (hf_kafka_conf_common(&kc, conn) || hf_kafka_conf_set(&kc, "enable.idempotence", "true") ||
        hf_kafka_conf_set(&kc, "acks", "all") || hf_kafka_conf_set(&kc, "linger.ms", "5") ||
        hf_kafka_conf_set(&kc, "partitioner", "murmur2_random") ||
        hf_kafka_conf_set(&kc, "message.max.bytes", max_bytes) ||
        hf_kafka_conf_set(&kc, "request.timeout.ms", "60000") ||
        hf_kafka_conf_set(&kc, "message.timeout.ms", "300000") ||
        hf_kafka_conf_set(&kc, "queue.buffering.max.kbytes", "65536") ||
        hf_kafka_conf_user(&kc, cfg)) {
        snprintf(err, errsz, "output producer for %s: %s", p->desc, errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errsz, "output producer for %s: %s", p->desc, errstr);
        return -1;
    }
    if (pipe2(p->fd, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, errsz, "pipe: %s", strerror(errno));
        return -1;
    }
    p->queue = rd_kafka_queue_get_main(p->rk);
    rd_kafka_queue_io_event_enable(p->queue, p->fd[1], "1", 1);
    ev_io_init(&p->io, on_io, p->fd[0], EV_READ);
    p->io.data = p;
    ev_io_start(o->host->loop, &p->io);
    return 0;
}

/* Look up each output binding's delivered and failed series once. -1 out of memory. */
static int init_metrics(hf_outputs_t *o)
{
    const hf_app_t *app = &o->host->app;
    hf_metrics_t *reg = o->host->metrics;
    if (!reg)
        return 0;
    o->delivered = calloc(app->functions_n, sizeof(*o->delivered));
    o->failed = calloc(app->functions_n, sizeof(*o->failed));
    if (!o->delivered || !o->failed)
        return -1;
    for (size_t f = 0; f < app->functions_n; f++) {
        const hf_function_t *fn = &app->functions[f];
        if (fn->disabled || fn->outputs_n == 0)
            continue;
        o->delivered[f] = calloc(fn->outputs_n, sizeof(hf_series_t *));
        o->failed[f] = calloc(fn->outputs_n, sizeof(hf_series_t *));
        if (!o->delivered[f] || !o->failed[f])
            return -1;
        for (size_t i = 0; i < fn->outputs_n; i++) {
            o->delivered[f][i] = hf_metric_series(hf_metrics_get(reg, HF_M_OUTPUTS_DELIVERED),
                                                  fn->name, fn->outputs[i].name);
            o->failed[f][i] = hf_metric_series(hf_metrics_get(reg, HF_M_OUTPUTS_FAILED),
                                               fn->name, fn->outputs[i].name);
        }
    }
    return 0;
}

int hf_outputs_start(hf_outputs_t **out, hf_host_t *host, char *err, size_t errsz)
{
    hf_app_t *app = &host->app;
    size_t wanted = 0;
    *out = NULL;
    for (size_t f = 0; f < app->functions_n; f++)
        if (!app->functions[f].disabled)
            wanted += app->functions[f].outputs_n;
    if (wanted == 0)
        return 0;
    hf_outputs_t *o = calloc(1, sizeof(*o));
    if (!o || !(o->producers = calloc(wanted, sizeof(hf_producer_t)))) {
        free(o);
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    o->host = host;
    if (init_metrics(o) != 0) {
        snprintf(err, errsz, "out of memory");
        hf_outputs_close(o, 0);
        return -1;
    }
    for (size_t f = 0; f < app->functions_n; f++) {
        const hf_function_t *fn = &app->functions[f];
        if (fn->disabled)
            continue;
        for (size_t i = 0; i < fn->outputs_n; i++) {
            const hf_conn_t *conn = fn->outputs[i].conn;
            if (producer_for(o, conn))
                continue;
            hf_producer_t *p = &o->producers[o->producers_n++];
            if (producer_init(o, p, conn, err, errsz) != 0) {
                hf_outputs_close(o, 0);
                return -1;
            }
        }
    }
    ev_timer_init(&o->tick, on_tick, 1.0, 1.0);
    o->tick.data = o;
    ev_timer_start(host->loop, &o->tick);
    *out = o;
    return 0;
}

/* Produce one message; 0, or -1 with the reason in why. */
static int produce_one(hf_producer_t *p, const hf_binding_t *b, hf_output_t *msg,
                       hf_msg_ref_t *ref, char *why, size_t whysz)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (msg->headers_n) {
        hdrs = rd_kafka_headers_new(msg->headers_n);
        for (size_t i = 0; i < msg->headers_n; i++)
            rd_kafka_header_add(hdrs, msg->headers[i].name, -1, msg->headers[i].value,
                                (ssize_t)msg->headers[i].value_len);
    }
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(b->hub), RD_KAFKA_V_VALUE(msg->body, msg->body_len),
            RD_KAFKA_V_KEY(msg->key, msg->key ? msg->key_len : 0),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_OPAQUE(ref),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            msg->body = NULL;    /* librdkafka owns it now */
            return 0;
        }
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* The local queue is full: serve reports until there is room. */
            rd_kafka_poll(p->rk, 50);
            continue;
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        describe_error(p, err, b->hub, why, whysz);
        return -1;
    }
}

void hf_outputs_deliver(hf_outputs_t *o, hf_batch_t *batch, hf_outputs_done_fn done, void *ud)
{
    hf_delivery_t *d = calloc(1, sizeof(*d) + batch->outputs_n * sizeof(hf_msg_ref_t));
    if (!d) {
        batch->delivery_failed = 1;
        done(batch, ud);
        return;
    }
    d->outputs = o;
    d->batch = batch;
    d->done = done;
    d->ud = ud;
    d->pending = 1;
    for (size_t i = 0; i < batch->outputs_n; i++) {
        hf_output_t *msg = &batch->outputs[i];
        const hf_binding_t *b = &batch->fn->outputs[msg->binding];
        hf_producer_t *p = producer_for(o, b->conn);
        char why[512];
        d->refs[i].d = d;
        d->refs[i].binding = msg->binding;
        if (!p) {
            count_message(o, batch, msg->binding, 0);
            delivery_fail(d, b->hub, "no producer for its connection");
            continue;
        }
        d->pending++;
        o->in_flight++;
        if (produce_one(p, b, msg, &d->refs[i], why, sizeof(why)) != 0) {
            d->pending--;
            o->in_flight--;
            count_message(o, batch, msg->binding, 0);
            delivery_fail(d, b->hub, why);
        }
    }
    delivery_release(d);
}

void hf_outputs_poll(hf_outputs_t *o, int timeout_ms)
{
    for (size_t i = 0; i < o->producers_n; i++)
        rd_kafka_poll(o->producers[i].rk, i == 0 ? timeout_ms : 0);
}

size_t hf_outputs_in_flight(const hf_outputs_t *o)
{
    return o ? o->in_flight : 0;
}

void hf_outputs_close(hf_outputs_t *o, int timeout_ms)
{
    if (!o)
        return;
    o->closing = 1;
    ev_timer_stop(o->host->loop, &o->tick);
    for (size_t i = 0; i < o->producers_n; i++) {
        hf_producer_t *p = &o->producers[i];
        if (p->rk) {
            if (rd_kafka_flush(p->rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
                hf_log_warn("outputs: %d messages to %s were not delivered in time",
                            rd_kafka_outq_len(p->rk), p->desc);
            if (p->queue) {
                rd_kafka_queue_io_event_enable(p->queue, -1, NULL, 0);
                rd_kafka_queue_destroy(p->queue);
                ev_io_stop(o->host->loop, &p->io);
            }
            rd_kafka_destroy(p->rk);
        }
        if (p->fd[0] >= 0)
            close(p->fd[0]);
        if (p->fd[1] >= 0)
            close(p->fd[1]);
    }
    for (size_t f = 0; o->delivered && f < o->host->app.functions_n; f++) {
        free(o->delivered[f]);
        free(o->failed ? o->failed[f] : NULL);
    }
    free(o->delivered);
    free(o->failed);
    free(o->producers);
    free(o);
}
