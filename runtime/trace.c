/*
 * Trace context, spans and the sampler. See trace.h and docs/operations.md "Tracing".
 */
#define _GNU_SOURCE
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "conn.h"
#include "json.h"

/* Links a span keeps unless OTEL_SPAN_LINK_COUNT_LIMIT says otherwise (OpenTelemetry's
   default). */
#define LINK_LIMIT 128
/* The longest failure message a span carries. */
#define ERROR_MAX 512

static hf_trace_cfg_t g_cfg = {{HF_SAMPLER_PARENT_ON, 1.0}, 0, LINK_LIMIT, NULL, NULL};

void hf_trace_setup(const hf_trace_cfg_t *cfg)
{
    if (cfg) {
        g_cfg = *cfg;
    } else {
        g_cfg = (hf_trace_cfg_t){{HF_SAMPLER_PARENT_ON, 1.0}, 0, LINK_LIMIT, NULL, NULL};
    }
}

int hf_trace_recording(void)
{
    return g_cfg.sink != NULL;
}

/* ---------------------------------------------------------------------------------- */
/* traceparent                                                                         */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;                   /* upper case is not allowed (HEXDIGLC) */
}

/* n bytes from 2n lower-case hex digits; -1 on any other character. */
static int unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

int hf_traceparent_parse(const char *s, size_t len, hf_trace_ctx_t *ctx)
{
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len < HF_TRACEPARENT_LEN)
        return -1;
    uint8_t version;
    if (unhex(s, &version, 1) != 0 || version == 0xff)
        return -1;
    /* version 00 is exactly 55 characters; a later version may add fields after a '-' */
    if (version == 0 ? len != HF_TRACEPARENT_LEN
                     : len > HF_TRACEPARENT_LEN && s[HF_TRACEPARENT_LEN] != '-')
        return -1;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return -1;
    hf_trace_ctx_t c;
    if (unhex(s + 3, c.trace_id, 16) != 0 || unhex(s + 36, c.span_id, 8) != 0 ||
        unhex(s + 53, &c.flags, 1) != 0)
        return -1;
    if (all_zero(c.trace_id, 16) || all_zero(c.span_id, 8))
        return -1;
    *ctx = c;
    return 0;
}

void hf_trace_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = 0;
}

void hf_traceparent_format(const hf_trace_ctx_t *ctx, char *out)
{
    memcpy(out, "00-", 3);
    hf_trace_hex(ctx->trace_id, 16, out + 3);
    out[35] = '-';
    hf_trace_hex(ctx->span_id, 8, out + 36);
    out[52] = '-';
    uint8_t flags = ctx->flags & HF_TRACE_SAMPLED;
    hf_trace_hex(&flags, 1, out + 53);
}

/* A property's value without its AMQP string encoding: an AMQP producer's string property
   reaches a Kafka consumer as str8 (0xa1, a length byte) or str32 (0xb1, four length
   bytes) followed by the text. */
static const char *amqp_unwrap(const char *v, size_t *len)
{
    const unsigned char *u = (const unsigned char *)v;
    if (*len >= 2 && u[0] == 0xa1 && (size_t)u[1] == *len - 2) {
        *len -= 2;
        return v + 2;
    }
    if (*len >= 5 && u[0] == 0xb1 &&
        ((size_t)u[1] << 24 | (size_t)u[2] << 16 | (size_t)u[3] << 8 | u[4]) == *len - 5) {
        *len -= 5;
        return v + 5;
    }
    return v;
}

/* A legacy hierarchical Request-Id, "|<root>.<n>.": the trace id when the root is 32
   lower-case hex digits (what .NET writes in W3C-compatible mode), else -1. */
static int request_id_parse(const char *s, size_t len, uint8_t *trace_id)
{
    if (len < 34 || s[0] != '|' || s[33] != '.')
        return -1;
    if (unhex(s + 1, trace_id, 16) != 0 || all_zero(trace_id, 16))
        return -1;
    return 0;
}

/* tracestate is passed on only when it is plain printable text of a sane length. */
static int state_ok(const char *s, size_t len)
{
    if (len == 0 || len > HF_TRACESTATE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

hf_trace_from_t hf_trace_from_event(const hf_event_t *ev, hf_trace_ctx_t *ctx,
                                    const char **state, size_t *state_len)
{
    const hf_header_t *tp = NULL, *ts = NULL, *di = NULL;
    if (state) {
        *state = NULL;
        *state_len = 0;
    }
    for (size_t i = 0; i < ev->headers_n; i++) {
        const hf_header_t *h = &ev->headers[i];
        if (!h->value)
            continue;
        if (!tp && strcasecmp(h->name, "traceparent") == 0)
            tp = h;
        else if (!ts && strcasecmp(h->name, "tracestate") == 0)
            ts = h;
        else if (!di && strcasecmp(h->name, "Diagnostic-Id") == 0)
            di = h;
    }
    size_t len;
    const char *v;
    if (tp) {
        len = tp->value_len;
        v = amqp_unwrap(tp->value, &len);
        if (hf_traceparent_parse(v, len, ctx) == 0) {
            if (ts && state) {
                size_t sl = ts->value_len;
                const char *sv = amqp_unwrap(ts->value, &sl);
                if (state_ok(sv, sl)) {
                    *state = sv;
                    *state_len = sl;
                }
            }
            return HF_TRACE_FROM_TRACEPARENT;
        }
    }
    if (di) {
        len = di->value_len;
        v = amqp_unwrap(di->value, &len);
        if (hf_traceparent_parse(v, len, ctx) == 0)
            return HF_TRACE_FROM_DIAGNOSTIC_ID;
        if (request_id_parse(v, len, ctx->trace_id) == 0) {
            memset(ctx->span_id, 0, sizeof(ctx->span_id));
            ctx->flags = 0;
            return HF_TRACE_FROM_REQUEST_ID;
        }
    }
    return HF_TRACE_FROM_NONE;
}

/* ---------------------------------------------------------------------------------- */
/* The sampler                                                                         */

int hf_sampler_parse(const char *name, const char *arg, hf_sampler_t *s, char *err,
                     size_t errsz)
{
    static const struct {
        const char *name;
        hf_sampler_kind_t kind;
    } kinds[] = {{"always_on", HF_SAMPLER_ALWAYS_ON},
                 {"always_off", HF_SAMPLER_ALWAYS_OFF},
                 {"traceidratio", HF_SAMPLER_RATIO},
                 {"parentbased_always_on", HF_SAMPLER_PARENT_ON},
                 {"parentbased_always_off", HF_SAMPLER_PARENT_OFF},
                 {"parentbased_traceidratio", HF_SAMPLER_PARENT_RATIO}};
    s->kind = HF_SAMPLER_PARENT_ON;
    s->ratio = 1.0;
    if (name && *name) {
        size_t i = 0, n = sizeof(kinds) / sizeof(kinds[0]);
        while (i < n && strcasecmp(name, kinds[i].name) != 0)
            i++;
        if (i == n) {
            snprintf(err, errsz, "OTEL_TRACES_SAMPLER=%s is not a sampler hubfn knows (always_on, "
                     "always_off, traceidratio, parentbased_always_on, parentbased_always_off, "
                     "parentbased_traceidratio); using parentbased_always_on", name);
            return -1;
        }
        s->kind = kinds[i].kind;
    }
    if (s->kind != HF_SAMPLER_RATIO && s->kind != HF_SAMPLER_PARENT_RATIO)
        return 0;
    if (!arg || !*arg)
        return 0;
    char *end;
    double r = strtod(arg, &end);
    while (*end == ' ')
        end++;
    if (end == arg || *end || !(r >= 0 && r <= 1)) {
        snprintf(err, errsz, "OTEL_TRACES_SAMPLER_ARG=%s is not a ratio from 0 to 1; using 1.0",
                 arg);
        return -1;
    }
    s->ratio = r;
    return 0;
}

static int ratio_keeps(double ratio, const uint8_t trace_id[16])
{
    if (ratio >= 1)
        return 1;
    if (!(ratio > 0))
        return 0;
    uint64_t x = 0;
    for (int i = 8; i < 16; i++)
        x = x << 8 | trace_id[i];
    return (x >> 1) < (uint64_t)(ratio * 9223372036854775808.0);
}

int hf_sampler_sample(const hf_sampler_t *s, const hf_trace_ctx_t *parent,
                      const uint8_t trace_id[16])
{
    switch (s->kind) {
    case HF_SAMPLER_ALWAYS_ON:
        return 1;
    case HF_SAMPLER_ALWAYS_OFF:
        return 0;
    case HF_SAMPLER_RATIO:
        return ratio_keeps(s->ratio, trace_id);
    case HF_SAMPLER_PARENT_ON:
    case HF_SAMPLER_PARENT_OFF:
    case HF_SAMPLER_PARENT_RATIO:
        if (parent)
            return (parent->flags & HF_TRACE_SAMPLED) != 0;
        if (s->kind == HF_SAMPLER_PARENT_ON)
            return 1;
        if (s->kind == HF_SAMPLER_PARENT_OFF)
            return 0;
        return ratio_keeps(s->ratio, trace_id);
    }
    return 1;
}

void hf_trace_config_read(hf_trace_cfg_t *cfg, const char *(*get)(void *ud, const char *name),
                          void *ud, void (*warn)(void *ud, const char *line), void *warn_ud)
{
    char err[512];
    if (hf_sampler_parse(get(ud, "OTEL_TRACES_SAMPLER"), get(ud, "OTEL_TRACES_SAMPLER_ARG"),
                         &cfg->sampler, err, sizeof(err)) != 0 && warn)
        warn(warn_ud, err);
    cfg->link_limit = LINK_LIMIT;
    const char *lim = get(ud, "OTEL_SPAN_LINK_COUNT_LIMIT");
    if (lim && *lim) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (end == lim || *end || v < 0 || v > 100000) {
            snprintf(err, sizeof(err), "OTEL_SPAN_LINK_COUNT_LIMIT=%s is not a count from 0 to "
                     "100000; using %d", lim, LINK_LIMIT);
            if (warn)
                warn(warn_ud, err);
        } else {
            cfg->link_limit = (uint32_t)v;
        }
    }
}

/* ---------------------------------------------------------------------------------- */
/* Ids                                                                                 */

/* A per-thread xorshift128+ generator seeded from the kernel: ids need to be unique, not
   secret. */
static __thread uint64_t rng[2];

static uint64_t rng_next(void)
{
    if (!rng[0] && !rng[1]) {
        if (getrandom(rng, sizeof(rng), GRND_NONBLOCK) != (ssize_t)sizeof(rng)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            rng[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid();
            rng[1] = (uint64_t)(uintptr_t)&rng ^ 0x9e3779b97f4a7c15ULL;
        }
        if (!rng[0] && !rng[1])
            rng[1] = 1;
    }
    uint64_t a = rng[0];
    const uint64_t b = rng[1];
    rng[0] = b;
    a ^= a << 23;
    rng[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
    return rng[1] + b;
}

static void random_id(uint8_t *out, size_t n)
{
    do {
        for (size_t i = 0; i < n; i += 8) {
            uint64_t x = rng_next();
            memcpy(out + i, &x, n - i < 8 ? n - i : 8);
        }
    } while (all_zero(out, n));
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------- */
/* Spans                                                                               */

const char *hf_outcome_name(hf_outcome_t o)
{
    switch (o) {
    case HF_OUTCOME_OK: return "ok";
    case HF_OUTCOME_ERROR: return "error";
    case HF_OUTCOME_TIMEOUT: return "timeout";
    case HF_OUTCOME_DEAD_LETTERED: return "dead-lettered";
    }
    return "error";
}

/* The first line of msg, masked and cut to ERROR_MAX bytes, as a new string. */
static char *first_line(const char *msg)
{
    char line[ERROR_MAX + 1], masked[2 * ERROR_MAX + 64];
    size_t n = strcspn(msg, "\n");
    if (n > ERROR_MAX)
        n = ERROR_MAX;
    memcpy(line, msg, n);
    line[n] = 0;
    hf_secret_mask(line, masked, sizeof(masked));
    return hf_strdup(masked);
}

hf_span_t *hf_trace_begin(hf_batch_t *batch, size_t first, size_t n, const char *invocation_id,
                          const char *group)
{
    if (batch->spans_n == batch->spans_cap) {
        size_t cap = batch->spans_cap ? batch->spans_cap * 2
                                      : (batch->events_n ? batch->events_n : 1);
        batch->spans = hf_realloc(batch->spans, cap * sizeof(hf_span_t));
        batch->spans_cap = cap;
    }
    hf_span_t *s = &batch->spans[batch->spans_n++];
    memset(s, 0, sizeof(*s));
    if (g_cfg.sink)
        s->start_ns = now_ns();      /* only an exported span shows its times */
    s->first = first;
    s->n = n;
    s->function = batch->fn ? batch->fn->name : NULL;
    s->hub = batch->hub;
    s->partition = batch->partition;
    s->retry_count = batch->retry_count;
    s->first_offset = s->last_offset = -1;
    if (n && first + n <= batch->events_n) {
        s->first_offset = batch->events[first].offset;
        s->last_offset = batch->events[first + n - 1].offset;
    }
    if (invocation_id) {
        size_t len = strlen(invocation_id);
        if (len >= sizeof(s->invocation_id))
            len = sizeof(s->invocation_id) - 1;
        memcpy(s->invocation_id, invocation_id, len);
        s->invocation_id[len] = 0;
    }

    hf_trace_ctx_t in;
    const char *state = NULL;
    size_t state_len = 0;
    s->from = n && first < batch->events_n
                  ? hf_trace_from_event(&batch->events[first], &in, &state, &state_len)
                  : HF_TRACE_FROM_NONE;
    if (s->from == HF_TRACE_FROM_NONE) {
        random_id(s->ctx.trace_id, 16);
    } else {
        memcpy(s->ctx.trace_id, in.trace_id, 16);
        if (s->from != HF_TRACE_FROM_REQUEST_ID) {
            memcpy(s->parent_span_id, in.span_id, 8);
            s->has_parent = 1;
        }
    }
    random_id(s->ctx.span_id, 8);
    if (hf_sampler_sample(&g_cfg.sampler, s->has_parent ? &in : NULL, s->ctx.trace_id))
        s->ctx.flags = HF_TRACE_SAMPLED;
    if (state)
        s->tracestate = hf_strndup(state, state_len);

    /* What only an exported span needs. */
    if (!g_cfg.sink || !(s->ctx.flags & HF_TRACE_SAMPLED))
        return s;
    if (group)
        s->group = hf_strdup(group);
    for (size_t i = first; i < first + n && i < batch->events_n; i++) {
        hf_trace_ctx_t link;
        hf_trace_from_t from = hf_trace_from_event(&batch->events[i], &link, NULL, NULL);
        if (from != HF_TRACE_FROM_TRACEPARENT && from != HF_TRACE_FROM_DIAGNOSTIC_ID)
            continue;
        if (s->links_n >= g_cfg.link_limit) {
            s->links_dropped++;
            continue;
        }
        if (!s->links)
            s->links = hf_malloc((n < g_cfg.link_limit ? n : g_cfg.link_limit) *
                                 sizeof(*s->links));   /* link_limit > 0 here */
        s->links[s->links_n++] = link;
    }
    return s;
}

void hf_span_texts(hf_span_t *s)
{
    if (s->texts)
        return;
    s->texts = 1;
    hf_traceparent_format(&s->ctx, s->traceparent);
    hf_trace_hex(s->ctx.trace_id, 16, s->trace_hex);
    hf_trace_hex(s->ctx.span_id, 8, s->span_hex);
    if (s->has_parent)
        hf_trace_hex(s->parent_span_id, 8, s->parent_hex);
}

void hf_trace_end_invocation(hf_span_t *span, hf_outcome_t outcome, const char *error)
{
    if (!span)
        return;
    span->outcome = outcome;
    if (outcome != HF_OUTCOME_OK && error && !span->error)
        span->error = first_line(error);
}

void hf_trace_output_failed(hf_batch_t *batch, size_t invocation, const char *why)
{
    if (batch->dead_lettering)
        return;
    /* the latest span of that invocation: a retried batch is a new batch, a bisected one
       runs its parts as spans of their own */
    for (size_t i = batch->spans_n; i-- > 0;) {
        hf_span_t *s = &batch->spans[i];
        if (invocation && !(s->n == 1 && s->first == invocation - 1))
            continue;
        if (s->outcome == HF_OUTCOME_OK) {
            char msg[ERROR_MAX];
            snprintf(msg, sizeof(msg), "an output was not delivered: %s",
                     why ? why : "unknown error");
            s->outcome = HF_OUTCOME_ERROR;
            free(s->error);
            s->error = first_line(msg);
        }
        if (invocation)
            return;
    }
}

void hf_trace_stamp(hf_span_t *span, hf_output_t *out)
{
    if (!span || !g_cfg.propagate)
        return;
    for (size_t i = 0; i < out->headers_n; i++)
        if (strcasecmp(out->headers[i].name, "traceparent") == 0)
            return;
    hf_span_texts(span);
    hf_output_add_header(out, "traceparent", span->traceparent, HF_TRACEPARENT_LEN);
    if (!span->tracestate)
        return;
    for (size_t i = 0; i < out->headers_n; i++)
        if (strcasecmp(out->headers[i].name, "tracestate") == 0)
            return;
    hf_output_add_header(out, "tracestate", span->tracestate, strlen(span->tracestate));
}

void hf_trace_log_ctx(hf_span_t *span, hf_log_ctx_t *ctx)
{
    if (!span)
        return;
    hf_span_texts(span);
    ctx->trace_id = span->trace_hex;
    ctx->span_id = span->span_hex;
}

hf_span_t *hf_trace_batch_span(hf_batch_t *batch)
{
    for (size_t i = 0; i < batch->spans_n; i++)
        if (batch->spans[i].outcome != HF_OUTCOME_OK)
            return &batch->spans[i];
    return batch->spans_n ? &batch->spans[0] : NULL;
}

/* Does the batch still hold an event of the span (after dead-lettering it holds only the
   events that went to the dead-letter hub)? */
static int holds_event_of(const hf_batch_t *batch, const hf_span_t *s)
{
    for (size_t i = 0; i < batch->events_n; i++)
        if (batch->events[i].offset >= s->first_offset && batch->events[i].offset <= s->last_offset)
            return 1;
    return 0;
}

void hf_trace_batch_end(hf_batch_t *batch)
{
    if (!batch->spans)
        return;
    int64_t end = g_cfg.sink ? now_ns() : 0;
    int dead_lettered = batch->dead_lettering && !batch->delivery_failed && batch->outputs_n &&
                        batch->delivered == batch->outputs_n;
    for (size_t i = 0; i < batch->spans_n; i++) {
        hf_span_t *s = &batch->spans[i];
        if (dead_lettered && holds_event_of(batch, s)) {
            s->outcome = HF_OUTCOME_DEAD_LETTERED;
            if (!s->error && batch->error)
                s->error = first_line(batch->error);
        }
        s->end_ns = end;
        if (g_cfg.sink && (s->ctx.flags & HF_TRACE_SAMPLED)) {
            size_t len;
            char *json = hf_span_json(s, &len);
            g_cfg.sink(g_cfg.sink_ud, json, len);
        }
        free(s->tracestate);
        free(s->error);
        free(s->group);
        free(s->links);
    }
    free(batch->spans);
    batch->spans = NULL;
    batch->spans_n = batch->spans_cap = 0;
}

/* ---------------------------------------------------------------------------------- */
/* OTLP/JSON                                                                           */

static void put(hf_buf_t *b, const char *s)
{
    hf_buf_append(b, s, strlen(s));
}

static void put_str(hf_buf_t *b, const char *s)
{
    hf_json_put_string(b, s ? s : "", s ? strlen(s) : 0);
}

/* {"key":K,"value":{"stringValue":V}} */
static void attr_str(hf_buf_t *b, int *n, const char *key, const char *value)
{
    if (!value)
        return;
    put(b, (*n)++ ? ",{\"key\":" : "{\"key\":");
    put_str(b, key);
    put(b, ",\"value\":{\"stringValue\":");
    put_str(b, value);
    put(b, "}}");
}

/* int64 values are strings in OTLP/JSON (the protobuf JSON mapping). */
static void attr_int(hf_buf_t *b, int *n, const char *key, long long value)
{
    char num[32];
    put(b, (*n)++ ? ",{\"key\":" : "{\"key\":");
    put_str(b, key);
    snprintf(num, sizeof(num), ",\"value\":{\"intValue\":\"%lld\"}}", value);
    put(b, num);
}

char *hf_span_json(hf_span_t *s, size_t *len)
{
    hf_buf_t b = {0};
    char num[64], hex[33];
    hf_span_texts(s);
    put(&b, "{\"traceId\":\"");
    put(&b, s->trace_hex);
    put(&b, "\",\"spanId\":\"");
    put(&b, s->span_hex);
    put(&b, "\"");
    if (s->has_parent) {
        put(&b, ",\"parentSpanId\":\"");
        put(&b, s->parent_hex);
        put(&b, "\"");
    }
    if (s->tracestate) {
        put(&b, ",\"traceState\":");
        put_str(&b, s->tracestate);
    }
    put(&b, ",\"name\":");
    put_str(&b, s->function ? s->function : "invocation");
    put(&b, ",\"kind\":5");      /* SPAN_KIND_CONSUMER */
    snprintf(num, sizeof(num), ",\"startTimeUnixNano\":\"%lld\"", (long long)s->start_ns);
    put(&b, num);
    snprintf(num, sizeof(num), ",\"endTimeUnixNano\":\"%lld\"",
             (long long)(s->end_ns > s->start_ns ? s->end_ns : s->start_ns));
    put(&b, num);
    put(&b, ",\"attributes\":[");
    int n = 0;
    char part[16];
    snprintf(part, sizeof(part), "%d", (int)s->partition);
    attr_str(&b, &n, "messaging.system", "eventhubs");
    attr_str(&b, &n, "messaging.operation.type", "process");
    attr_str(&b, &n, "messaging.operation.name", "process");
    attr_str(&b, &n, "messaging.destination.name", s->hub);
    attr_str(&b, &n, "messaging.destination.partition.id", part);
    attr_str(&b, &n, "messaging.consumer.group.name", s->group);
    attr_int(&b, &n, "messaging.batch.message_count", (long long)s->n);
    attr_str(&b, &n, "faas.trigger", "pubsub");
    attr_str(&b, &n, "faas.invocation_id", s->invocation_id[0] ? s->invocation_id : NULL);
    attr_str(&b, &n, "hubfn.function", s->function);
    attr_int(&b, &n, "hubfn.offset.first", (long long)s->first_offset);
    attr_int(&b, &n, "hubfn.offset.last", (long long)s->last_offset);
    attr_int(&b, &n, "hubfn.retry_count", s->retry_count);
    attr_str(&b, &n, "hubfn.outcome", hf_outcome_name(s->outcome));
    if (s->outcome != HF_OUTCOME_OK)
        attr_str(&b, &n, "error.type", hf_outcome_name(s->outcome));
    put(&b, "]");
    if (s->links_n) {
        put(&b, ",\"links\":[");
        for (uint32_t i = 0; i < s->links_n; i++) {
            put(&b, i ? ",{\"traceId\":\"" : "{\"traceId\":\"");
            hf_trace_hex(s->links[i].trace_id, 16, hex);
            put(&b, hex);
            put(&b, "\",\"spanId\":\"");
            hf_trace_hex(s->links[i].span_id, 8, hex);
            put(&b, hex);
            put(&b, "\"}");
        }
        put(&b, "]");
    }
    if (s->links_dropped) {
        snprintf(num, sizeof(num), ",\"droppedLinksCount\":%u", s->links_dropped);
        put(&b, num);
    }
    if (s->outcome != HF_OUTCOME_OK) {
        put(&b, ",\"status\":{\"code\":2,\"message\":");   /* STATUS_CODE_ERROR */
        put_str(&b, s->error ? s->error : hf_outcome_name(s->outcome));
        put(&b, "}");
    }
    put(&b, "}");
    *len = b.len;
    return b.data;
}
