/*
 * Trace context: traceparent parsing and formatting (W3C Trace Context's rules), where an
 * event's context comes from (traceparent, Diagnostic-Id, AMQP-encoded values), the
 * sampler, and the span of an invocation from its start to its OTLP/JSON text.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "alloc.h"
#include "trace.h"
#include "test.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int parse(const char *s, hf_trace_ctx_t *ctx)
{
    return hf_traceparent_parse(s, strlen(s), ctx);
}

TEST(traceparent_valid)
{
    hf_trace_ctx_t c;
    char hex[33], out[56];
    CHECK_INT(parse(TP, &c), 0);
    hf_trace_hex(c.trace_id, 16, hex);
    CHECK_STR(hex, "4bf92f3577b34da6a3ce929d0e0e4736");
    hf_trace_hex(c.span_id, 8, hex);
    CHECK_STR(hex, "00f067aa0ba902b7");
    CHECK_INT(c.flags, 1);
    hf_traceparent_format(&c, out);
    CHECK_STR(out, TP);
    /* not sampled */
    CHECK_INT(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &c), 0);
    CHECK_INT(c.flags, 0);
    /* surrounding white space, as a header value may have */
    CHECK_INT(parse("  " TP "\t", &c), 0);
    /* unknown flag bits are read, and not passed on */
    CHECK_INT(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", &c), 0);
    CHECK_INT(c.flags, 0xff);
    hf_traceparent_format(&c, out);
    CHECK_STR(out, TP);
    /* a later version may carry more fields after a '-' */
    CHECK_INT(parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-"
                    "holds", &c), 0);
    CHECK_INT(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &c), 0);
}

TEST(traceparent_invalid)
{
    static const char *const bad[] = {
        "",
        "00",
        /* version ff is invalid; versions are two lower-case hex digits */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        /* upper case ids and flags */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
        /* all-zero ids */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        /* wrong lengths */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b77-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011",
        /* version 00 has nothing after the flags */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        /* a later version's extra fields start with '-' */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        /* separators */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        "|4bf92f3577b34da6a3ce929d0e0e4736.1.",
        NULL};
    hf_trace_ctx_t c;
    for (int i = 0; bad[i]; i++) {
        if (parse(bad[i], &c) == 0) {
            snprintf(hf_test_why, sizeof(hf_test_why), "accepted \"%s\"", bad[i]);
            hf_test_failed = 1;
            return;
        }
    }
}

/* An event with the given headers (name, value pairs; NULL ends). */
static hf_event_t event_with(int64_t offset, const char *const *h)
{
    hf_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.offset = offset;
    ev.payload = "{}";
    ev.len = 2;
    size_t n = 0;
    while (h && h[2 * n])
        n++;
    ev.headers = n ? hf_calloc(n, sizeof(hf_header_t)) : NULL;
    for (size_t i = 0; i < n; i++) {
        ev.headers[i].name = (char *)h[2 * i];
        ev.headers[i].value = (char *)h[2 * i + 1];
        ev.headers[i].value_len = strlen(h[2 * i + 1]);
    }
    ev.headers_n = n;
    return ev;
}

TEST(context_from_event)
{
    hf_trace_ctx_t c;
    char hex[33];
    const char *st;
    size_t stn;
    /* traceparent, any case, with its tracestate */
    const char *h1[] = {"TraceParent", TP, "tracestate", "congo=t61rcWkgMzE", NULL};
    hf_event_t ev = event_with(1, h1);
    CHECK_INT(hf_trace_from_event(&ev, &c, &st, &stn), HF_TRACE_FROM_TRACEPARENT);
    CHECK(st && stn == 17 && memcmp(st, "congo=t61rcWkgMzE", 17) == 0);
    free(ev.headers);
    /* traceparent wins over Diagnostic-Id */
    const char *h2[] = {"Diagnostic-Id", "00-11111111111111111111111111111111-2222222222222222-01",
                        "traceparent", TP, NULL};
    ev = event_with(1, h2);
    CHECK_INT(hf_trace_from_event(&ev, &c, NULL, NULL), HF_TRACE_FROM_TRACEPARENT);
    hf_trace_hex(c.trace_id, 16, hex);
    CHECK_STR(hex, "4bf92f3577b34da6a3ce929d0e0e4736");
    free(ev.headers);
    /* an invalid traceparent falls back to Diagnostic-Id; its tracestate is not used */
    const char *h3[] = {"traceparent", "00-XYZ", "tracestate", "a=b", "diagnostic-id",
                        "00-11111111111111111111111111111111-2222222222222222-00", NULL};
    ev = event_with(1, h3);
    CHECK_INT(hf_trace_from_event(&ev, &c, &st, &stn), HF_TRACE_FROM_DIAGNOSTIC_ID);
    CHECK(st == NULL);
    hf_trace_hex(c.span_id, 8, hex);
    CHECK_STR(hex, "2222222222222222");
    CHECK_INT(c.flags, 0);
    free(ev.headers);
    /* a legacy Request-Id with a W3C root: the trace id only */
    const char *h4[] = {"Diagnostic-Id", "|4bf92f3577b34da6a3ce929d0e0e4736.2e4a5c1b_1.", NULL};
    ev = event_with(1, h4);
    CHECK_INT(hf_trace_from_event(&ev, &c, NULL, NULL), HF_TRACE_FROM_REQUEST_ID);
    hf_trace_hex(c.trace_id, 16, hex);
    CHECK_STR(hex, "4bf92f3577b34da6a3ce929d0e0e4736");
    free(ev.headers);
    /* a Request-Id of the older kind, or anything else: nothing */
    const char *h5[] = {"Diagnostic-Id", "|a000b421-5d183ab6.1.", NULL};
    ev = event_with(1, h5);
    CHECK_INT(hf_trace_from_event(&ev, &c, NULL, NULL), HF_TRACE_FROM_NONE);
    free(ev.headers);
    ev = event_with(1, NULL);
    CHECK_INT(hf_trace_from_event(&ev, &c, NULL, NULL), HF_TRACE_FROM_NONE);
    /* an AMQP producer's string property, read through the Kafka endpoint (str8) */
    char amqp[2 + 55];
    amqp[0] = (char)0xa1;
    amqp[1] = 55;
    memcpy(amqp + 2, TP, 55);
    hf_header_t h = {"traceparent", amqp, sizeof(amqp)};
    ev.headers = &h;
    ev.headers_n = 1;
    CHECK_INT(hf_trace_from_event(&ev, &c, NULL, NULL), HF_TRACE_FROM_TRACEPARENT);
    /* a wrong AMQP length is just an invalid value */
    amqp[1] = 54;
    CHECK_INT(hf_trace_from_event(&ev, &c, NULL, NULL), HF_TRACE_FROM_NONE);
}

TEST(sampler_parse)
{
    hf_sampler_t s;
    char err[512];
    CHECK_INT(hf_sampler_parse(NULL, NULL, &s, err, sizeof(err)), 0);
    CHECK_INT(s.kind, HF_SAMPLER_PARENT_ON);
    CHECK_INT(hf_sampler_parse("always_off", NULL, &s, err, sizeof(err)), 0);
    CHECK_INT(s.kind, HF_SAMPLER_ALWAYS_OFF);
    CHECK_INT(hf_sampler_parse("parentbased_traceidratio", "0.25", &s, err, sizeof(err)), 0);
    CHECK_INT(s.kind, HF_SAMPLER_PARENT_RATIO);
    CHECK(s.ratio == 0.25);
    CHECK_INT(hf_sampler_parse("traceidratio", "", &s, err, sizeof(err)), 0);
    CHECK(s.ratio == 1.0);
    CHECK_INT(hf_sampler_parse("jaeger_remote", NULL, &s, err, sizeof(err)), -1);
    CHECK_INT(s.kind, HF_SAMPLER_PARENT_ON);
    CHECK_HAS(err, "OTEL_TRACES_SAMPLER=jaeger_remote");
    CHECK_INT(hf_sampler_parse("traceidratio", "1.5", &s, err, sizeof(err)), -1);
    CHECK_HAS(err, "OTEL_TRACES_SAMPLER_ARG=1.5");
    CHECK(s.ratio == 1.0);
    CHECK_INT(hf_sampler_parse("traceidratio", "half", &s, err, sizeof(err)), -1);
    /* the argument of a sampler without a ratio is ignored */
    CHECK_INT(hf_sampler_parse("always_on", "half", &s, err, sizeof(err)), 0);
}

TEST(sampler_decisions)
{
    hf_sampler_t s;
    char err[256];
    uint8_t low[16] = {0}, high[16];
    memset(high, 0xff, sizeof(high));
    hf_trace_ctx_t sampled = {{1}, {1}, 1}, unsampled = {{1}, {1}, 0};
    hf_sampler_parse("always_on", NULL, &s, err, sizeof(err));
    CHECK(hf_sampler_sample(&s, &unsampled, high));
    hf_sampler_parse("always_off", NULL, &s, err, sizeof(err));
    CHECK(!hf_sampler_sample(&s, &sampled, low));
    /* parent-based: the parent decides; roots by the root sampler */
    hf_sampler_parse("parentbased_always_on", NULL, &s, err, sizeof(err));
    CHECK(hf_sampler_sample(&s, &sampled, high));
    CHECK(!hf_sampler_sample(&s, &unsampled, low));
    CHECK(hf_sampler_sample(&s, NULL, high));
    hf_sampler_parse("parentbased_always_off", NULL, &s, err, sizeof(err));
    CHECK(hf_sampler_sample(&s, &sampled, high));
    CHECK(!hf_sampler_sample(&s, NULL, low));
    /* traceidratio: by the trace id's last 8 bytes, whatever the parent says */
    hf_sampler_parse("traceidratio", "0.5", &s, err, sizeof(err));
    CHECK(hf_sampler_sample(&s, &unsampled, low));
    CHECK(!hf_sampler_sample(&s, &sampled, high));
    hf_sampler_parse("traceidratio", "0", &s, err, sizeof(err));
    CHECK(!hf_sampler_sample(&s, NULL, low));
    hf_sampler_parse("traceidratio", "1", &s, err, sizeof(err));
    CHECK(hf_sampler_sample(&s, NULL, high));
    hf_sampler_parse("parentbased_traceidratio", "0.5", &s, err, sizeof(err));
    CHECK(!hf_sampler_sample(&s, NULL, high));
    CHECK(hf_sampler_sample(&s, &sampled, high));
    /* about the ratio of random ids, and the same decision for the same id */
    hf_sampler_parse("traceidratio", "0.25", &s, err, sizeof(err));
    int kept = 0;
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        uint8_t id[16];
        for (int b = 0; b < 16; b += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(id + b, &x, 8);
        }
        int k = hf_sampler_sample(&s, NULL, id);
        CHECK_INT(hf_sampler_sample(&s, NULL, id), k);
        kept += k;
    }
    CHECK(kept > 4500 && kept < 5500);
}

/* What the sink got. */
static char *sunk[16];
static int sunk_n;

static void sink(void *ud, char *json, size_t len)
{
    (void)ud;
    (void)len;
    if (sunk_n < 16)
        sunk[sunk_n++] = json;
    else
        free(json);
}

static void sunk_clear(void)
{
    for (int i = 0; i < sunk_n; i++)
        free(sunk[i]);
    sunk_n = 0;
}

static const char *attr(cJSON *span, const char *key)
{
    static char num[32];
    cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(span, "attributes"))
    {
        if (strcmp(cJSON_GetObjectItem(a, "key")->valuestring, key) != 0)
            continue;
        cJSON *v = cJSON_GetObjectItem(a, "value");
        cJSON *s = cJSON_GetObjectItem(v, "stringValue");
        if (s)
            return s->valuestring;
        s = cJSON_GetObjectItem(v, "intValue");
        snprintf(num, sizeof(num), "%s", s ? s->valuestring : "?");
        return num;
    }
    return NULL;
}

static hf_function_t fn = {.name = "route"};

/* A batch of 3 events: the first two carry contexts, the third none. */
static hf_batch_t *batch3(void)
{
    static const char *h1[] = {"traceparent", TP, "tracestate", "congo=t61rcWkgMzE", NULL};
    static const char *h2[] = {"Diagnostic-Id",
                               "00-11111111111111111111111111111111-2222222222222222-01", NULL};
    hf_batch_t *b = hf_batch_new(3);
    b->fn = &fn;
    b->hub = "orders";
    b->partition = 2;
    b->events[0] = event_with(40, h1);
    b->events[1] = event_with(41, h2);
    b->events[2] = event_with(42, NULL);
    b->events_n = 3;
    return b;
}

TEST(span_of_a_batch)
{
    hf_trace_cfg_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.sampler.kind = HF_SAMPLER_PARENT_ON;
    cfg.propagate = 1;
    cfg.link_limit = 128;
    cfg.sink = sink;
    hf_trace_setup(&cfg);
    CHECK(hf_trace_recording());

    hf_batch_t *b = batch3();
    b->retry_count = 1;
    hf_span_t *s = hf_trace_begin(b, 0, 3, "5b99-inv", "g1");
    CHECK_INT(s->texts, 0);              /* made when something needs them */
    hf_span_texts(s);
    /* the first event's trace, a new span id, its parent the event's span */
    CHECK_STR(s->trace_hex, "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK_STR(s->parent_hex, "00f067aa0ba902b7");
    CHECK(strcmp(s->span_hex, "00f067aa0ba902b7") != 0);
    CHECK_INT(strlen(s->span_hex), 16);
    CHECK_INT(s->ctx.flags, HF_TRACE_SAMPLED);
    CHECK_STR(s->tracestate, "congo=t61rcWkgMzE");
    CHECK_INT(s->links_n, 2);            /* the third event has no context */
    /* outputs get the span as their parent, and the tracestate */
    hf_output_t out = {0};
    hf_trace_stamp(s, &out);
    CHECK_INT(out.headers_n, 2);
    CHECK_STR(out.headers[0].name, "traceparent");
    char want[56];
    snprintf(want, sizeof(want), "00-%s-%s-01", s->trace_hex, s->span_hex);
    CHECK_STR(out.headers[0].value, want);
    CHECK_STR(out.headers[1].value, "congo=t61rcWkgMzE");
    hf_output_free(NULL, &out);
    /* unless the handler set one (any case) */
    hf_output_add_header(&out, "TraceParent", "mine", 4);
    hf_trace_stamp(s, &out);
    CHECK_INT(out.headers_n, 1);
    hf_output_free(NULL, &out);
    /* log lines */
    hf_log_ctx_t ctx = HF_LOG_CTX_NONE;
    hf_trace_log_ctx(s, &ctx);
    CHECK_STR(ctx.trace_id, s->trace_hex);
    CHECK_STR(ctx.span_id, s->span_hex);
    char span_id[17];
    memcpy(span_id, s->span_hex, 17);

    hf_trace_end_invocation(s, HF_OUTCOME_ERROR, "boom\nstack traceback: ...");
    hf_batch_free(b);                    /* settled: the span goes to the sink */
    CHECK_INT(sunk_n, 1);
    cJSON *j = cJSON_Parse(sunk[0]);
    CHECK(j != NULL);
    CHECK_STR(cJSON_GetObjectItem(j, "traceId")->valuestring, "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK_STR(cJSON_GetObjectItem(j, "spanId")->valuestring, span_id);
    CHECK_STR(cJSON_GetObjectItem(j, "parentSpanId")->valuestring, "00f067aa0ba902b7");
    CHECK_STR(cJSON_GetObjectItem(j, "traceState")->valuestring, "congo=t61rcWkgMzE");
    CHECK_STR(cJSON_GetObjectItem(j, "name")->valuestring, "route");
    CHECK_INT(cJSON_GetObjectItem(j, "kind")->valueint, 5);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "links")), 2);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "links"), 1),
                                  "spanId")->valuestring, "2222222222222222");
    CHECK_STR(attr(j, "messaging.destination.name"), "orders");
    CHECK_STR(attr(j, "messaging.destination.partition.id"), "2");
    CHECK_STR(attr(j, "messaging.consumer.group.name"), "g1");
    CHECK_STR(attr(j, "messaging.batch.message_count"), "3");
    CHECK_STR(attr(j, "hubfn.offset.first"), "40");
    CHECK_STR(attr(j, "hubfn.offset.last"), "42");
    CHECK_STR(attr(j, "hubfn.function"), "route");
    CHECK_STR(attr(j, "hubfn.outcome"), "error");
    CHECK_STR(attr(j, "hubfn.retry_count"), "1");
    CHECK_STR(attr(j, "faas.invocation_id"), "5b99-inv");
    cJSON *status = cJSON_GetObjectItem(j, "status");
    CHECK_INT(cJSON_GetObjectItem(status, "code")->valueint, 2);
    CHECK_STR(cJSON_GetObjectItem(status, "message")->valuestring, "boom");
    long long t0 = atoll(cJSON_GetObjectItem(j, "startTimeUnixNano")->valuestring);
    long long t1 = atoll(cJSON_GetObjectItem(j, "endTimeUnixNano")->valuestring);
    CHECK(t0 > 1600000000LL * 1000000000LL && t1 >= t0);
    cJSON_Delete(j);
    sunk_clear();
    hf_trace_setup(NULL);
}

TEST(outcomes_and_sampling)
{
    hf_trace_cfg_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.sampler.kind = HF_SAMPLER_PARENT_ON;
    cfg.link_limit = 1;
    cfg.sink = sink;
    hf_trace_setup(&cfg);

    /* cardinality one: a span per event; the second failed and was dead-lettered */
    hf_batch_t *b = batch3();
    for (size_t i = 0; i < 3; i++)
        hf_trace_begin(b, i, 1, "inv", NULL);
    CHECK_INT(b->spans[0].links_n, 1);
    hf_span_texts(&b->spans[0]);
    hf_span_texts(&b->spans[2]);
    CHECK(!b->spans[2].has_parent);      /* a new trace for the event without a context */
    CHECK(strcmp(b->spans[2].trace_hex, b->spans[0].trace_hex) != 0);
    hf_trace_end_invocation(&b->spans[1], HF_OUTCOME_TIMEOUT, "function timed out");
    /* what pipeline.c's dead_letter leaves: only the failed event, its message delivered */
    hf_event_release(&b->events[0]);
    hf_event_release(&b->events[2]);
    b->events[0] = b->events[1];
    b->events_n = 1;
    b->dead_lettering = 1;
    hf_output_t dl = {0};
    hf_batch_add_output(b, &dl);
    b->delivered = 1;
    CHECK(hf_trace_batch_span(b) == &b->spans[1]);
    hf_batch_free(b);
    /* the second event's Diagnostic-Id is sampled, so are the new traces (the root rule) */
    CHECK_INT(sunk_n, 3);
    CHECK_HAS(sunk[0], "\"hubfn.outcome\",\"value\":{\"stringValue\":\"ok\"}");
    CHECK_HAS(sunk[1], "\"hubfn.outcome\",\"value\":{\"stringValue\":\"dead-lettered\"}");
    CHECK_HAS(sunk[1], "\"message\":\"function timed out\"");
    CHECK_HAS(sunk[2], "\"hubfn.outcome\",\"value\":{\"stringValue\":\"ok\"}");
    sunk_clear();

    /* a batch whose output was not delivered: its span is an error */
    b = batch3();
    hf_trace_begin(b, 0, 3, "inv", NULL);
    CHECK_INT(b->spans[0].links_n, 1);   /* the limit */
    CHECK_INT(b->spans[0].links_dropped, 1);
    hf_trace_output_failed(b, 0, "gone");
    hf_batch_free(b);
    CHECK_INT(sunk_n, 1);
    CHECK_HAS(sunk[0], "\"hubfn.outcome\",\"value\":{\"stringValue\":\"error\"}");
    CHECK_HAS(sunk[0], "\"droppedLinksCount\":1");
    CHECK_HAS(sunk[0], "\"message\":\"an output was not delivered: gone\"");
    sunk_clear();

    /* cardinality one: only the invocation whose output failed */
    b = batch3();
    for (size_t i = 0; i < 3; i++)
        hf_trace_begin(b, i, 1, "inv", NULL);
    hf_trace_output_failed(b, 2, "refused");
    hf_batch_free(b);
    CHECK_INT(sunk_n, 3);
    CHECK_HAS(sunk[0], "\"hubfn.outcome\",\"value\":{\"stringValue\":\"ok\"}");
    CHECK_HAS(sunk[1], "\"hubfn.outcome\",\"value\":{\"stringValue\":\"error\"}");
    CHECK_HAS(sunk[1], "not delivered: refused");
    CHECK_HAS(sunk[2], "\"hubfn.outcome\",\"value\":{\"stringValue\":\"ok\"}");
    sunk_clear();

    /* an unsampled parent: no span is exported, and outputs say so in their flags */
    cfg.propagate = 1;
    hf_trace_setup(&cfg);
    static const char *h[] = {"traceparent",
                              "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", NULL};
    b = hf_batch_new(1);
    b->fn = &fn;
    b->events[0] = event_with(7, h);
    b->events_n = 1;
    hf_span_t *s = hf_trace_begin(b, 0, 1, "inv", NULL);
    CHECK_INT(s->ctx.flags, 0);
    CHECK_INT(s->links_n, 0);            /* nothing gathered for a span nobody sees */
    hf_output_t out = {0};
    hf_trace_stamp(s, &out);
    CHECK(out.headers_n == 1 && out.headers[0].value[54] == '0');
    hf_output_free(NULL, &out);
    hf_batch_free(b);
    CHECK_INT(sunk_n, 0);

    /* without propagation (hubfn run), outputs stay as the handler made them */
    hf_trace_setup(NULL);
    CHECK(!hf_trace_recording());
    b = batch3();
    s = hf_trace_begin(b, 0, 1, "inv", NULL);
    hf_trace_stamp(s, &out);
    CHECK_INT(out.headers_n, 0);
    hf_batch_free(b);
    CHECK_INT(sunk_n, 0);
}

TEST_MAIN()
