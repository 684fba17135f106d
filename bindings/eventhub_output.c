/*
 * The eventHub output binding type: one idempotent librdkafka producer per connection,
 * shared by every eventHub output binding that uses it. The pipeline hands it a batch's
 * messages after the handler returned; each delivery report goes back to the pipeline
 * (hf_delivery_report), which checkpoints the input only once every message is safely in
 * its hub.
 *
 * Thread: `send` and `print` run on a worker (or hubfn run's thread); the rest on the loop
 * thread (delivery reports are served on the libev loop through an fd).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "base64.h"
#include "eventhub.h"
#include "kafka.h"
#include "log.h"
#include "lua_bindings.h"
#include "pipeline.h"
#include "utf8.h"

typedef struct outputs outputs_t;

/* One producer per connection, shared by every output binding using it. */
typedef struct producer {
    outputs_t *o;
    const hf_conn_t *conn;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    int fd[2];
    ev_io io;
    char desc[256];
    int64_t last_warn_us;
} producer_t;

/* A message's opaque: the delivery it belongs to and its index there. */
typedef struct msg_ref {
    hf_delivery_t *d;
    size_t i;
} msg_ref_t;

/* The type's instance. */
struct outputs {
    hf_core_t *core;
    producer_t *producers;
    size_t producers_n;
    size_t in_flight;
    ev_timer tick;
};

static producer_t *producer_for(outputs_t *o, const hf_conn_t *conn)
{
    for (size_t i = 0; i < o->producers_n; i++)
        if (o->producers[i].conn == conn)
            return &o->producers[i];
    return NULL;
}

/* What a refused message means for the person who configured the binding. */
static const char *describe_error(const producer_t *p, rd_kafka_resp_err_t err, const char *hub,
                                  char *out, size_t outsz)
{
    hf_kafka_target_t target = {p->conn, hub, NULL, 1};
    return hf_kafka_describe(err, NULL, &target, out, outsz);
}

/* Delivery report (loop thread, served by rd_kafka_poll). */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    producer_t *p = opaque;
    msg_ref_t *ref = rkm->_private;
    hf_delivery_t *d = ref->d;
    size_t i = ref->i;
    free(ref);
    p->o->in_flight--;
    if (!rkm->err) {
        hf_delivery_report(d, i, 1, NULL);
        return;
    }
    char why[1024];
    const char *hub = rd_kafka_topic_name(rkm->rkt);
    describe_error(p, rkm->err, hub, why, sizeof(why));
    if (hf_kafka_error_is_permanent(rkm->err)) {
        char line[1200];
        snprintf(line, sizeof(line), "outputs: %s", why);
        hf_core_fail(p->o->core, line);
    }
    hf_delivery_report(d, i, 0, why);
}

/* The hubs the producer's output bindings send to, comma-separated. */
static void hubs_of(const producer_t *p, char *out, size_t outsz)
{
    const hf_app_t *app = hf_core_app(p->o->core);
    size_t n = 0;
    out[0] = 0;
    for (size_t f = 0; f < app->functions_n; f++) {
        const hf_function_t *fn = &app->functions[f];
        for (size_t i = 0; !fn->disabled && i < fn->outputs_n; i++) {
            const hf_binding_t *b = &fn->outputs[i];
            if (b->type != &hf_eventhub_output_type || hf_eventhub_cfg(b)->conn != p->conn ||
                strstr(out, hf_eventhub_cfg(b)->hub))
                continue;
            n += (size_t)snprintf(out + n, n < outsz ? outsz - n : 0, "%s%s", n ? ", " : "",
                                  hf_eventhub_cfg(b)->hub);
        }
    }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    producer_t *p = opaque;
    char why[1024], line[1200];
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        if (ferr == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED ||
            ferr == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
            /* The idempotent producer's first request: the policy cannot send at all. */
            char hubs[512];
            hubs_of(p, hubs, sizeof(hubs));
            snprintf(line, sizeof(line), "outputs: %s",
                     describe_error(p, ferr, hubs, why, sizeof(why)));
        } else {
            snprintf(line, sizeof(line), "output producer for %s: fatal error: %s", p->desc,
                     fatal);
        }
        hf_core_fail(p->o->core, line);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
        err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED) {
        hf_kafka_target_t target = {p->conn, NULL, NULL, 1};
        snprintf(line, sizeof(line), "outputs: %s",
                 hf_kafka_describe((rd_kafka_resp_err_t)err, reason, &target, why, sizeof(why)));
        hf_core_fail(p->o->core, line);
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

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    producer_t *p = w->data;
    char buf[256];
    while (read(p->fd[0], buf, sizeof(buf)) > 0)
        ;
    rd_kafka_poll(p->rk, 0);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    outputs_t *o = w->data;
    for (size_t i = 0; i < o->producers_n; i++)
        rd_kafka_poll(o->producers[i].rk, 0);
}

static int producer_init(outputs_t *o, producer_t *p, const hf_conn_t *conn, char *err,
                         size_t errsz)
{
    char errstr[512];
    const hf_host_cfg_t *cfg = &hf_core_app(o->core)->host;
    p->o = o;
    p->conn = conn;
    p->fd[0] = p->fd[1] = -1;
    hf_conn_describe(conn, p->desc, sizeof(p->desc));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    hf_kafka_conf_t kc = {conf, errstr, sizeof(errstr), NULL};
    /* A produce request holds the event plus its overhead (Event Hubs closes connections
       sending requests over 1046528 bytes); murmur2 puts a key where Java clients (and
       Event Hubs' own guidance) put it. No hub is created by sending to it, as in Event
       Hubs (the embedded broker would create it). */
    if (hf_kafka_conf_producer(&kc, conn, cfg->max_event_bytes + 4096) ||
        hf_kafka_conf_set(&kc, "allow.auto.create.topics", "false") ||
        hf_kafka_conf_set(&kc, "partitioner", "murmur2_random") ||
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
    ev_io_start(hf_core_loop(o->core), &p->io);
    return 0;
}

static void outputs_close(void *state, int abandon)
{
    outputs_t *o = state;
    if (!o)
        return;
    ev_timer_stop(hf_core_loop(o->core), &o->tick);
    for (size_t i = 0; i < o->producers_n; i++) {
        producer_t *p = &o->producers[i];
        if (p->rk) {
            if (rd_kafka_flush(p->rk, abandon ? 1000 : 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
                hf_log_warn("outputs: %d messages to %s were not delivered in time",
                            rd_kafka_outq_len(p->rk), p->desc);
            if (p->queue) {
                rd_kafka_queue_io_event_enable(p->queue, -1, NULL, 0);
                rd_kafka_queue_destroy(p->queue);
                ev_io_stop(hf_core_loop(o->core), &p->io);
            }
            rd_kafka_destroy(p->rk);
        }
        if (p->fd[0] >= 0)
            close(p->fd[0]);
        if (p->fd[1] >= 0)
            close(p->fd[1]);
    }
    free(o->producers);
    free(o);
}

static int outputs_start(hf_core_t *core, void **state, char *err, size_t errsz)
{
    const hf_app_t *app = hf_core_app(core);
    size_t wanted = 0;
    for (size_t f = 0; f < app->functions_n; f++)
        if (!app->functions[f].disabled)
            wanted += app->functions[f].outputs_n;
    outputs_t *o = hf_calloc(1, sizeof(*o));
    o->core = core;
    o->producers = hf_calloc(wanted ? wanted : 1, sizeof(producer_t));
    *state = o;
    for (size_t f = 0; f < app->functions_n; f++) {
        const hf_function_t *fn = &app->functions[f];
        for (size_t i = 0; !fn->disabled && i < fn->outputs_n; i++) {
            const hf_binding_t *b = &fn->outputs[i];
            if (b->type != &hf_eventhub_output_type || producer_for(o, hf_eventhub_cfg(b)->conn))
                continue;
            producer_t *p = &o->producers[o->producers_n++];
            if (producer_init(o, p, hf_eventhub_cfg(b)->conn, err, errsz) != 0)
                return -1;
        }
    }
    ev_timer_init(&o->tick, on_tick, 1.0, 1.0);
    o->tick.data = o;
    ev_timer_start(hf_core_loop(core), &o->tick);
    return 0;
}

/* Produce message i of the delivery; its report comes through dr_msg_cb. */
static void outputs_deliver(void *state, hf_delivery_t *d, size_t i)
{
    outputs_t *o = state;
    hf_output_t *msg = hf_delivery_msg(d, i);
    const hf_binding_t *b = hf_delivery_binding(d, i);
    const char *hub = hf_eventhub_cfg(b)->hub;
    producer_t *p = producer_for(o, hf_eventhub_cfg(b)->conn);
    char why[1024];
    if (!p) {
        hf_delivery_report(d, i, 0, "no producer for its connection");
        return;
    }
    rd_kafka_headers_t *hdrs = NULL;
    if (msg->headers_n) {
        hdrs = rd_kafka_headers_new(msg->headers_n);
        for (size_t h = 0; h < msg->headers_n; h++)
            rd_kafka_header_add(hdrs, msg->headers[h].name, -1, msg->headers[h].value,
                                (ssize_t)msg->headers[h].value_len);
    }
    msg_ref_t *ref = hf_malloc(sizeof(*ref));
    ref->d = d;
    ref->i = i;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(hub), RD_KAFKA_V_VALUE(msg->body, msg->body_len),
            RD_KAFKA_V_KEY(msg->key, msg->key ? msg->key_len : 0),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_OPAQUE(ref),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            msg->body = NULL;    /* librdkafka owns it now */
            o->in_flight++;
            return;
        }
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* The local queue is full: serve reports until there is room. */
            rd_kafka_poll(p->rk, 50);
            continue;
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        free(ref);
        hf_delivery_report(d, i, 0, describe_error(p, err, hub, why, sizeof(why)));
        return;
    }
}

static void outputs_poll(void *state, int timeout_ms)
{
    outputs_t *o = state;
    for (size_t i = 0; i < o->producers_n; i++)
        rd_kafka_poll(o->producers[i].rk, i == 0 ? timeout_ms : 0);
}

static size_t outputs_in_flight(void *state)
{
    return ((outputs_t *)state)->in_flight;
}

/* ---- Lua side (worker thread) ---- */

/* binding:send(value [, {partitionKey=, properties=}]) */
static void eh_send(lua_State *L, const hf_binding_t *b, int value, int opts, hf_output_t *out)
{
    if (opts && lua_istable(L, opts)) {
        lua_getfield(L, opts, "partitionKey");
        if (!lua_isnil(L, -1)) {
            size_t n;
            if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
                luaL_error(L, "bindings.%s:send: partitionKey must be a string, got %s",
                           b->name, luaL_typename(L, -1));
            const char *k = lua_tolstring(L, -1, &n);
            out->key = hf_memdup(k, n);
            out->key_len = n;
        }
        lua_pop(L, 1);
        lua_getfield(L, opts, "properties");
        if (lua_istable(L, -1)) {
            int pt = lua_gettop(L);
            lua_pushnil(L);
            while (lua_next(L, pt)) {
                if (lua_type(L, -2) != LUA_TSTRING) {
                    lua_pop(L, 1);
                    continue;
                }
                int t = lua_type(L, -1);
                if (t == LUA_TTABLE || t == LUA_TFUNCTION || t == LUA_TUSERDATA ||
                    t == LUA_TTHREAD)
                    luaL_error(L, "bindings.%s:send: properties.%s is a %s; a property's value "
                               "is a string (encode structured values with hubfn.json.encode)",
                               b->name, lua_tostring(L, -2), luaL_typename(L, -1));
                size_t vn;
                const char *v = luaL_tolstring(L, -1, &vn);
                hf_output_add_header(out, lua_tostring(L, -3), v, vn);
                lua_pop(L, 2);
            }
        } else if (!lua_isnil(L, -1)) {
            luaL_error(L, "bindings.%s:send: properties must be a table", b->name);
        }
        lua_pop(L, 1);
    }
    hf_lua_output_body(L, value, out, b->name);
    const hf_app_t *app = hf_lua_app(L);
    size_t limit = app->host.max_event_bytes > 0 ? (size_t)app->host.max_event_bytes : 1000000;
    if (out->body_len > limit)
        luaL_error(L, "bindings.%s:send: event of %d bytes exceeds the %d-byte limit of an "
                   "Event Hubs event (host.json extensions.eventHubs.maxEventBytes)", b->name,
                   (int)out->body_len, (int)limit);
}

/* hubfn run's line: {"binding","eventHubName","partitionKey","properties","body"} */
static void eh_print(const hf_binding_t *b, const hf_output_t *out, hf_buf_t *line)
{
    hf_buf_append(line, "{\"binding\":", 11);
    hf_json_put_string(line, b->name, strlen(b->name));
    hf_buf_append(line, ",\"eventHubName\":", 16);
    const char *hub = hf_eventhub_cfg(b)->hub ? hf_eventhub_cfg(b)->hub : "";
    hf_json_put_string(line, hub, strlen(hub));
    hf_buf_append(line, ",\"partitionKey\":", 16);
    if (out->key)
        hf_json_put_string(line, out->key, out->key_len);
    else
        hf_buf_append(line, "null", 4);
    hf_buf_append(line, ",\"properties\":{", 15);
    /* sorted by name, a later duplicate winning, as a Lua table would keep them */
    size_t *order = hf_malloc((out->headers_n ? out->headers_n : 1) * sizeof(*order));
    size_t n = 0;
    for (size_t i = 0; i < out->headers_n; i++) {
        size_t k = 0;
        while (k < n && strcmp(out->headers[order[k]].name, out->headers[i].name) < 0)
            k++;
        if (k < n && strcmp(out->headers[order[k]].name, out->headers[i].name) == 0) {
            order[k] = i;
            continue;
        }
        memmove(order + k + 1, order + k, (n - k) * sizeof(*order));
        order[k] = i;
        n++;
    }
    /* a value that is not UTF-8 text goes to propertiesBase64, so its bytes survive */
    size_t binary = 0;
    for (size_t k = 0; k < n; k++) {
        const hf_header_t *h = &out->headers[order[k]];
        if (!hf_utf8_valid(h->value, h->value_len)) {
            binary++;
            continue;
        }
        if (k - binary)
            hf_buf_append(line, ",", 1);
        hf_json_put_string(line, h->name, strlen(h->name));
        hf_buf_append(line, ":", 1);
        hf_json_put_string(line, h->value, h->value_len);
    }
    hf_buf_append(line, "}", 1);
    if (binary) {
        hf_buf_append(line, ",\"propertiesBase64\":{", 21);
        size_t w = 0;
        for (size_t k = 0; k < n; k++) {
            const hf_header_t *h = &out->headers[order[k]];
            if (hf_utf8_valid(h->value, h->value_len))
                continue;
            if (w++)
                hf_buf_append(line, ",", 1);
            hf_json_put_string(line, h->name, strlen(h->name));
            hf_buf_append(line, ":\"", 2);
            hf_base64_encode(line, h->value, h->value_len);
            hf_buf_append(line, "\"", 1);
        }
        hf_buf_append(line, "}", 1);
    }
    free(order);
    if (out->body_is_json) {
        hf_buf_append(line, ",\"body\":", 8);
        hf_buf_append(line, out->body, out->body_len);
    } else if (hf_utf8_valid(out->body, out->body_len)) {
        hf_buf_append(line, ",\"body\":", 8);
        hf_json_put_string(line, out->body, out->body_len);
    } else {
        /* bytes that are not text (dataType binary): kept exact, not replaced by U+FFFD */
        hf_buf_append(line, ",\"bodyBase64\":\"", 15);
        hf_base64_encode(line, out->body, out->body_len);
        hf_buf_append(line, "\"", 1);
    }
    hf_buf_append(line, "}", 1);
}

static const char *const send_options[] = {"partitionKey", "properties", NULL};

static const hf_option_t output_options[] = {
    HF_EVENTHUB_OPTIONS,
    {NULL}
};

const hf_binding_type_t hf_eventhub_output_type = {
    .name = "eventHub",
    .direction = HF_DIR_OUT,
    .family = HF_FAMILY_EVENTHUB,
    .options = output_options,
    .cfg_size = sizeof(hf_eventhub_cfg_t),
    .summary = "messages to an Event Hub (or Kafka topic), keyed and with properties",
    .load = hf_eventhub_load,
    .unload = hf_eventhub_unload,
    .describe = hf_eventhub_describe,
    .lua_fields = hf_eventhub_lua_fields,
    .send = eh_send,
    .send_options = send_options,
    .print = eh_print,
    .start = outputs_start,
    .close = outputs_close,
    .deliver = outputs_deliver,
    .poll = outputs_poll,
    .in_flight = outputs_in_flight,
};
