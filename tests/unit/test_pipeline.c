/*
 * Unit tests of the batch pipeline (runtime/pipeline.c) with a fake trigger, a fake runner
 * and a fake output binding type: no broker, no Lua, milliseconds. Each test pushes events
 * into a lane, plays the handler's and the output's part, and checks what the lane
 * acknowledges (where the checkpoint may move), what it runs again, and what reaches the
 * dead-letter binding. docs/reliability.md lists which row each test covers.
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "binding.h"
#include "log.h"
#include "pipeline.h"
#include "test.h"

/* ---- the fake output binding type ---- */

typedef struct fake_out {
    hf_delivery_t *d[256];
    size_t i[256];
    size_t n;                    /* deliveries waiting for the test to report them */
    int mode;                    /* 0 hold, 1 deliver at once, 2 refuse at once */
    size_t delivered, refused;
    int full;                    /* backpressure */
    char last_headers[2048];     /* "name=value;" of the last message seen */
} fake_out_t;

static fake_out_t out_state;

static void fake_deliver(void *state, hf_delivery_t *d, size_t i)
{
    fake_out_t *o = state;
    hf_output_t *m = hf_delivery_msg(d, i);
    size_t n = 0;
    o->last_headers[0] = 0;
    for (size_t h = 0; h < m->headers_n; h++)
        n += (size_t)snprintf(o->last_headers + n, n < sizeof(o->last_headers) ?
                              sizeof(o->last_headers) - n : 0, "%s=%.*s;", m->headers[h].name,
                              (int)m->headers[h].value_len, m->headers[h].value);
    if (o->mode == 1) {
        o->delivered++;
        hf_delivery_report(d, i, 1, NULL);
    } else if (o->mode == 2) {
        o->refused++;
        hf_delivery_report(d, i, 0, "refused by the fake");
    } else {
        o->d[o->n] = d;
        o->i[o->n++] = i;
    }
}

static int fake_full(void *state, const hf_binding_t *b)
{
    (void)b;
    return ((fake_out_t *)state)->full;
}

static const char *fake_describe(const hf_binding_t *b, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "fake %s", b->name);
    return buf;
}

static const hf_binding_type_t fake_type = {
    .name = "fake", .direction = HF_DIR_OUT, .describe = fake_describe,
    .deliver = fake_deliver, .full = fake_full,
};

/* Report every held delivery: ok or not. */
static void report_all(int ok)
{
    size_t n = out_state.n;
    out_state.n = 0;
    for (size_t k = 0; k < n; k++)
        hf_delivery_report(out_state.d[k], out_state.i[k], ok, ok ? NULL : "broker down");
}

/* ---- the fake runner: batches wait here until a test runs them ---- */

static hf_batch_t *submitted[64];
static size_t submitted_n;

static void fake_submit(void *ud, int worker, hf_batch_t *batch)
{
    (void)ud;
    (void)worker;
    submitted[submitted_n++] = batch;
}

static hf_batch_t *take_submitted(void)
{
    if (!submitted_n)
        return NULL;
    hf_batch_t *b = submitted[0];
    memmove(submitted, submitted + 1, --submitted_n * sizeof(*submitted));
    return b;
}

/* ---- the fake trigger: what the lane acknowledges ---- */

static int64_t acked = -1;
static int acks, wakes;

static void on_ack(void *ud, int64_t offset)
{
    (void)ud;
    acked = offset;
    acks++;
}

static void on_wake(void *ud)
{
    (void)ud;
    wakes++;
}

static const hf_lane_ops_t ops = {on_ack, on_wake};

/* ---- the app and the pipeline ---- */

static hf_binding_t outs[2];
static hf_function_t fn;
static hf_app_t app;
static hf_pipeline_t *pl;
static struct ev_loop *loop;
static int fatal;

static void *type_state(void *ud, const hf_binding_type_t *type)
{
    (void)ud;
    return type == &fake_type ? &out_state : NULL;
}

static int env_failed(void *ud)
{
    (void)ud;
    return fatal;
}

/* A function with one output "out" and, when dead_letter, a "$deadLetter" binding; retries
   as given (max < 0: none). */
/* Batches a test left running are the runner's: freed here, after the pipeline. */
static void free_submitted(void)
{
    while (submitted_n)
        hf_batch_free(submitted[--submitted_n]);
}

static void setup(int max_batch, int min_batch, int retries, int dead_letter)
{
    if (pl)
        hf_pipeline_free(pl);
    pl = NULL;
    free_submitted();
    if (!loop)
        loop = ev_loop_new(0);
    memset(&out_state, 0, sizeof(out_state));
    out_state.mode = 1;
    submitted_n = 0;
    acked = -1;
    acks = wakes = 0;
    fatal = 0;
    memset(&app, 0, sizeof(app));
    memset(&fn, 0, sizeof(fn));
    memset(outs, 0, sizeof(outs));
    outs[0].name = "out";
    outs[0].type = &fake_type;
    outs[1].name = "$deadLetter";
    outs[1].type = &fake_type;
    fn.name = "f";
    fn.outputs = outs;
    fn.outputs_n = dead_letter ? 2 : 1;
    fn.dead_letter = dead_letter ? 1 : -1;
    fn.returns = -1;
    if (retries >= 0) {
        fn.retry.strategy = HF_RETRY_FIXED_DELAY;
        fn.retry.max_retry_count = retries;
        fn.retry.delay_ms = 10;
    }
    app.functions = &fn;
    app.functions_n = 1;
    app.host.max_batch = max_batch;
    app.host.min_batch = min_batch;
    app.host.max_wait_ms = 20;
    app.host.checkpoint_every = 1;
    app.host.partition_concurrency = 1;
    hf_pipeline_env_t env = {.loop = loop, .app = &app,
                             .runner = {fake_submit, NULL, 1, NULL}, .type_state = type_state,
                             .failed = env_failed, .dead_letter_backoff_s = 0.02};
    pl = hf_pipeline_new(&env);
}

static hf_lane_t *open_lane(int32_t partition)
{
    hf_lane_t *lane = hf_pipeline_lane(pl, 0, partition);
    hf_lane_source_t src = {"in-hub", "grp"};
    hf_lane_open(lane, &src, &ops, NULL);
    return lane;
}

/* Push events with offsets first..first+n-1 (body "{\"n\":OFFSET}", key "kOFFSET"). */
static void push(hf_lane_t *lane, int64_t first, int n)
{
    for (int i = 0; i < n; i++) {
        hf_event_t ev;
        char body[64];
        memset(&ev, 0, sizeof(ev));
        int len = snprintf(body, sizeof(body), "{\"n\":%lld}", (long long)(first + i));
        ev.own = hf_memdup(body, (size_t)len);
        ev.payload = ev.own;
        ev.len = (size_t)len;
        ev.offset = first + i;
        ev.enqueued_ms = 1700000000000LL;
        hf_lane_push(lane, &ev);
    }
    hf_lane_pushed(lane, 0);
}

/* Play the handler: the batch succeeds (failed_mask 0) or the events whose bit is set fail
   through context.fail (-1: the whole invocation raises); `outputs` messages are sent. */
static void run(hf_batch_t *b, long failed_mask, int outputs)
{
    b->invocations = 1;
    if (failed_mask == -1) {
        b->status = HF_BATCH_FAILED;
        b->failed_invocations = 1;
        b->error = hf_strdup("boom\nstack traceback: ...");
    } else if (failed_mask) {
        b->event_failed = hf_calloc(b->events_n, 1);
        for (size_t i = 0; i < b->events_n; i++)
            if (failed_mask & (1L << i)) {
                b->event_failed[i] = 1;
                b->failed_marked++;
            }
        b->status = HF_BATCH_FAILED;
        b->error = hf_strdup("marked");
    }
    for (int k = 0; k < outputs; k++) {
        hf_output_t o = {0};
        o.binding = 0;
        o.body = hf_strdup("x");
        o.body_len = 1;
        hf_batch_add_output(b, &o);
    }
    hf_pipeline_complete(pl, b);
}

/* Run the loop until cond or 2 s pass. */
#define WAIT_FOR(cond)                                                                      \
    do {                                                                                    \
        int64_t until_ = hf_mono_us() + 2000000;                                            \
        while (!(cond) && hf_mono_us() < until_)                                            \
            ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT), ev_sleep(0.001);                       \
    } while (0)

/* ---------------------------------------------------------------------------------- */

TEST(batches_by_size_and_one_in_flight)
{
    setup(3, 1, -1, 0);
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 7);
    CHECK_INT(submitted_n, 1);                 /* one batch of a partition at a time */
    hf_batch_t *b = take_submitted();
    CHECK_INT(b->events_n, 3);
    CHECK_INT(b->events[0].offset, 0);
    run(b, 0, 0);
    CHECK_INT(acked, 3);
    b = take_submitted();
    CHECK(b && b->events_n == 3 && b->events[0].offset == 3);
    run(b, 0, 0);
    b = take_submitted();
    CHECK(b && b->events_n == 1);
    run(b, 0, 0);
    CHECK_INT(acked, 7);
    CHECK(hf_lane_idle(lane));
}

TEST(min_batch_waits_then_flushes)
{
    setup(10, 5, -1, 0);
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 2);
    CHECK_INT(submitted_n, 0);                 /* waits for minEventBatchSize */
    WAIT_FOR(submitted_n == 1);                /* until maxWaitTime (20 ms) */
    CHECK_INT(submitted_n, 1);
    CHECK_INT(submitted[0]->events_n, 2);
    run(take_submitted(), 0, 0);
    push(lane, 2, 1);
    hf_lane_pushed(lane, 1);                   /* the end of the partition: no waiting */
    CHECK_INT(submitted_n, 1);
    run(take_submitted(), 0, 0);
    CHECK_INT(acked, 3);
}

TEST(checkpoint_waits_for_outputs)
{
    setup(10, 1, -1, 0);
    out_state.mode = 0;
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 4);
    run(take_submitted(), 0, 2);
    CHECK_INT(out_state.n, 2);
    CHECK_INT(acked, -1);                      /* not before every output is delivered */
    CHECK(!hf_lane_idle(lane));
    report_all(1);
    CHECK_INT(acked, 4);
    CHECK(hf_lane_idle(lane));
}

TEST(handler_error_no_policy_moves_past)
{
    setup(10, 1, -1, 0);
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 3);
    run(take_submitted(), -1, 0);
    CHECK_INT(acked, 3);                       /* the checkpoint moves past it */
    hf_host_stats_t st = {0};
    hf_pipeline_stats(pl, &st);
    CHECK_INT(st.failed_batches, 1);
    CHECK_INT(st.failed_events, 3);
}

TEST(retry_runs_failed_events_again_and_holds_the_partition)
{
    setup(10, 1, 2, 0);
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 4);
    run(take_submitted(), 0x2 | 0x4, 0);       /* events 1 and 2 fail through context.fail */
    CHECK_INT(acked, 1);                       /* event 0 is done, 1 is not */
    push(lane, 4, 2);                          /* later events wait behind the retry */
    CHECK_INT(submitted_n, 0);
    WAIT_FOR(submitted_n == 1);
    hf_batch_t *r = take_submitted();
    CHECK(r && r->events_n == 2 && r->events[0].offset == 1 && r->retry_count == 1);
    run(r, 0, 0);                              /* the retry succeeds */
    CHECK_INT(acked, 4);
    CHECK_INT(submitted_n, 1);                 /* now the partition goes on */
    run(take_submitted(), 0, 0);
    CHECK_INT(acked, 6);
}

TEST(retries_exhausted_go_to_dead_letter_with_headers)
{
    setup(10, 1, 1, 1);
    hf_lane_t *lane = open_lane(2);
    push(lane, 10, 3);
    run(take_submitted(), 0x1, 0);             /* event 10 fails */
    WAIT_FOR(submitted_n == 1);
    run(take_submitted(), -1, 0);              /* and fails again: retries used up */
    CHECK_INT(out_state.delivered, 1);         /* the one event reached $deadLetter */
    CHECK_HAS(out_state.last_headers, "hubfn-source-hub=in-hub;");
    CHECK_HAS(out_state.last_headers, "hubfn-source-offset=10;");
    CHECK_HAS(out_state.last_headers, "hubfn-consumer-group=grp;");
    CHECK_HAS(out_state.last_headers, "hubfn-attempts=2;");
    CHECK_HAS(out_state.last_headers, "hubfn-error=boom;");   /* first line only */
    CHECK_INT(acked, 13);
    hf_host_stats_t st = {0};
    hf_pipeline_stats(pl, &st);
    CHECK_INT(st.dead_lettered, 1);
    CHECK_INT(st.retries, 1);
}

TEST(dead_letter_that_refuses_holds_and_offers_again)
{
    setup(10, 1, -1, 1);
    out_state.mode = 2;                        /* the dead-letter binding refuses */
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 2);
    run(take_submitted(), -1, 0);
    CHECK_INT(out_state.refused, 2);
    CHECK_INT(acked, -1);                      /* nothing is dropped */
    WAIT_FOR(out_state.refused >= 4);          /* offered again after the back-off */
    CHECK(out_state.refused >= 4);
    CHECK_INT(acked, -1);
    out_state.mode = 1;                        /* it takes them now */
    WAIT_FOR(acked == 2);
    CHECK_INT(acked, 2);
    CHECK_INT(out_state.delivered, 2);
}

TEST(output_failure_after_partial_fail_dead_letters_whole_batch)
{
    setup(10, 1, -1, 1);
    out_state.mode = 0;
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 3);
    run(take_submitted(), 0x1, 1);             /* event 0 marked failed, one output sent */
    report_all(0);                             /* the output is not delivered */
    /* the other events' outputs were lost too: every event of the batch is dead-lettered */
    CHECK_INT(out_state.n, 3);
    report_all(1);
    CHECK_INT(acked, 3);
}

/* The value of header `name` of a held message, or "". */
static const char *held_header(size_t k, const char *name)
{
    static char v[512];
    const hf_output_t *m = hf_delivery_msg(out_state.d[k], out_state.i[k]);
    v[0] = 0;
    for (size_t h = 0; h < m->headers_n; h++)
        if (strcmp(m->headers[h].name, name) == 0)
            snprintf(v, sizeof(v), "%.*s", (int)m->headers[h].value_len, m->headers[h].value);
    return v;
}

TEST(output_failure_with_cardinality_one_fails_its_invocation_only)
{
    setup(10, 1, -1, 1);
    out_state.mode = 0;
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 4);
    hf_batch_t *b = take_submitted();
    b->invocations = 4;
    for (size_t k = 0; k < 4; k++) {           /* one output per invocation (event) */
        hf_output_t o = {0};
        o.binding = 0;
        o.body = hf_strdup("x");
        o.body_len = 1;
        o.invocation = k + 1;
        hf_batch_add_output(b, &o);
    }
    hf_pipeline_complete(pl, b);
    CHECK_INT(out_state.n, 4);
    hf_delivery_t *d[4];
    size_t at[4];
    for (size_t k = 0; k < 4; k++)
        d[k] = out_state.d[k], at[k] = out_state.i[k];
    out_state.n = 0;
    hf_delivery_report(d[0], at[0], 1, NULL);
    hf_delivery_fail(d[1], at[1], "HTTP 400: refused", 400, "bad one", 7);
    hf_delivery_report(d[2], at[2], 1, NULL);
    hf_delivery_fail(d[3], at[3], "gave up: HTTP 503", 503, "down", 4);
    /* only events 1 and 3 go to $deadLetter, each with its own invocation's failure */
    CHECK_INT(out_state.n, 2);
    CHECK_STR(held_header(0, "hubfn-source-offset"), "1");
    CHECK_STR(held_header(0, "hubfn-http-status"), "400");
    CHECK_STR(held_header(0, "hubfn-response"), "bad one");
    CHECK_STR(held_header(0, "hubfn-failed-binding"), "out");
    CHECK_HAS(held_header(0, "hubfn-error"), "fake out was not delivered: HTTP 400: refused");
    CHECK_STR(held_header(1, "hubfn-source-offset"), "3");
    CHECK_STR(held_header(1, "hubfn-http-status"), "503");
    CHECK_STR(held_header(1, "hubfn-response"), "down");
    CHECK_HAS(held_header(1, "hubfn-error"), "gave up: HTTP 503");
    report_all(1);
    CHECK_INT(acked, 4);
    hf_host_stats_t st = {0};
    hf_pipeline_stats(pl, &st);
    CHECK_INT(st.failed_events, 2);
    CHECK_INT(st.dead_lettered, 2);
}

TEST(fatal_output_failure_is_not_checkpointed)
{
    setup(10, 1, 3, 1);
    out_state.mode = 0;
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 3);
    run(take_submitted(), 0, 1);
    fatal = 1;                                 /* e.g. the policy lost its Send right */
    report_all(0);
    CHECK_INT(acked, -1);                      /* neither retried nor dead-lettered nor passed */
    CHECK_INT(submitted_n, 0);
    CHECK_INT(out_state.n, 0);
    CHECK(hf_lane_idle(lane));
}

TEST(drain_drops_waiting_retry_and_keeps_checkpoint_before_it)
{
    setup(10, 1, 5, 0);
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 4);
    run(take_submitted(), 0x4, 0);             /* event 2 waits for its retry */
    CHECK_INT(acked, 2);
    push(lane, 4, 3);                          /* fetched, not dispatched */
    hf_lane_drain(lane);
    CHECK(hf_lane_idle(lane));
    WAIT_FOR(submitted_n > 0);                 /* the retry's delay passes: nothing runs */
    CHECK_INT(submitted_n, 0);
    CHECK_INT(acked, 2);                       /* the next start runs 2 and on again */
}

TEST(failure_while_draining_is_left_for_the_next_start)
{
    setup(10, 1, 3, 0);
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 2);
    hf_batch_t *b = take_submitted();
    hf_lane_drain(lane);
    run(b, -1, 0);                             /* would be retried, but the host stops */
    CHECK_INT(acked, -1);
    CHECK(hf_lane_idle(lane));
}

TEST(retry_racing_a_revocation)
{
    setup(10, 1, 5, 0);
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 3);
    run(take_submitted(), 0x2, 0);             /* event 1 waits for its retry */
    CHECK_INT(acked, 1);
    hf_lane_close(lane);                       /* revoked before the retry runs */
    WAIT_FOR(submitted_n > 0);
    CHECK_INT(submitted_n, 0);                 /* the new owner runs it, not us */
    CHECK_INT(acked, 1);
    /* reassigned: the lane starts over */
    hf_lane_t *again = open_lane(0);
    CHECK(again == lane);
    push(lane, 1, 2);
    run(take_submitted(), 0, 0);
    CHECK_INT(acked, 3);
}

TEST(late_result_after_revocation_is_discarded)
{
    setup(10, 1, -1, 0);
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 3);
    hf_batch_t *b = take_submitted();          /* running while the partition is revoked */
    hf_lane_close(lane);
    open_lane(0);                              /* and assigned again */
    int before = acks;
    run(b, 0, 1);
    CHECK_INT(acks, before);                   /* the old owner's result moves nothing */
    CHECK_INT(out_state.delivered, 0);         /* and its outputs are not sent */
}

TEST(settle_waits_for_running_batches)
{
    setup(10, 1, -1, 0);
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 3);
    hf_lane_t *lanes[1] = {lane};
    CHECK_INT(hf_pipeline_settle(pl, lanes, 1, 30), -1);   /* still running: times out */
    run(take_submitted(), 0, 0);
    CHECK_INT(hf_pipeline_settle(pl, lanes, 1, 30), 0);
    CHECK_INT(acked, 3);
}

TEST(contiguous_checkpoint_with_gaps_in_offsets)
{
    setup(2, 1, -1, 0);
    hf_lane_t *lane = open_lane(0);
    hf_event_t ev;
    int64_t offs[] = {5, 9, 12};               /* compacted or transactional hubs skip */
    for (int i = 0; i < 3; i++) {
        memset(&ev, 0, sizeof(ev));
        ev.own = hf_strdup("{}");
        ev.payload = ev.own;
        ev.len = 2;
        ev.offset = offs[i];
        hf_lane_push(lane, &ev);
    }
    hf_lane_pushed(lane, 0);
    run(take_submitted(), 0, 0);
    CHECK_INT(acked, 12);                      /* the first one not done */
    run(take_submitted(), 0, 0);
    CHECK_INT(acked, 13);
}

TEST(backpressure_holds_batches_until_resumed)
{
    setup(2, 1, -1, 0);
    hf_lane_t *lane = open_lane(0);
    out_state.full = 1;
    push(lane, 0, 2);
    CHECK_INT(submitted_n, 0);                 /* the output is full: nothing dispatched */
    out_state.full = 0;
    hf_pipeline_resume(pl);
    CHECK_INT(submitted_n, 1);
    run(take_submitted(), 0, 0);
    CHECK_INT(acked, 2);
}

TEST(room_is_a_batch_and_wakes_the_trigger)
{
    setup(5, 1, -1, 0);
    hf_lane_t *lane = open_lane(0);
    CHECK_INT(hf_lane_room(lane), 5);
    push(lane, 0, 5);
    CHECK_INT(hf_lane_room(lane), 0);          /* a batch in flight: take nothing more */
    int w = wakes;
    run(take_submitted(), 0, 0);
    CHECK(wakes > w);                          /* the trigger is asked for more */
    CHECK_INT(hf_lane_room(lane), 5);
}

/* ---- partitionConcurrency and orderingKey ---- */

/* setup() with N batches of a partition in flight, ordered as `ordering` says. */
static void setup_conc(int max_batch, int retries, int conc, hf_ordering_t ordering,
                       const char *path)
{
    setup(max_batch, 1, retries, 0);
    hf_pipeline_free(pl);
    free_submitted();
    app.host.partition_concurrency = conc;
    app.host.ordering = ordering;
    app.host.ordering_path = (char *)path;
    hf_pipeline_env_t env = {.loop = loop, .app = &app,
                             .runner = {fake_submit, NULL, 2, NULL}, .type_state = type_state,
                             .failed = env_failed, .dead_letter_backoff_s = 0.02};
    pl = hf_pipeline_new(&env);
}

/* Push one event per character of keys from offset first: a letter is its partition key,
   '-' an event without one. Bodies are {"user":"<letter>"} ({} for '-'). */
static void push_keyed(hf_lane_t *lane, int64_t first, const char *keys)
{
    for (size_t i = 0; keys[i]; i++) {
        hf_event_t ev;
        char buf[64];
        memset(&ev, 0, sizeof(ev));
        int len = keys[i] == '-' ? snprintf(buf, sizeof(buf), "{}")
                                 : snprintf(buf, sizeof(buf), "{\"user\":\"%c\"}%c", keys[i],
                                            keys[i]);
        ev.own = hf_memdup(buf, (size_t)len + 1);
        ev.payload = ev.own;
        ev.len = keys[i] == '-' ? (size_t)len : (size_t)len - 1;
        if (keys[i] != '-') {
            ev.key = ev.own + len - 1;          /* the letter after the body */
            ev.key_len = 1;
        }
        ev.offset = first + (int64_t)i;
        hf_lane_push(lane, &ev);
    }
    hf_lane_pushed(lane, 0);
}

/* The offsets of the batch, as "0,2,5". */
static const char *offsets(const hf_batch_t *b)
{
    static char buf[256];
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; b && i < b->events_n; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%lld", i ? "," : "",
                              (long long)b->events[i].offset);
    return buf;
}

/* Is a batch whose first event has this offset submitted? */
static int has_at(int64_t offset)
{
    for (size_t k = 0; k < submitted_n; k++)
        if (submitted[k]->events_n && submitted[k]->events[0].offset == offset)
            return 1;
    return 0;
}

/* The submitted batch whose first event has this offset, taken out of the list. */
static hf_batch_t *take_at(int64_t offset)
{
    for (size_t k = 0; k < submitted_n; k++) {
        hf_batch_t *b = submitted[k];
        if (b->events_n && b->events[0].offset == offset) {
            memmove(submitted + k, submitted + k + 1, (submitted_n - k - 1) * sizeof(*submitted));
            submitted_n--;
            return b;
        }
    }
    return NULL;
}

TEST(concurrency_runs_batches_at_once_and_checkpoints_contiguously)
{
    setup_conc(2, -1, 3, HF_ORDER_NONE, NULL);
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 8);
    CHECK_INT(submitted_n, 3);                 /* three batches of one partition at once */
    CHECK_STR(offsets(submitted[0]), "0,1");
    CHECK_STR(offsets(submitted[2]), "4,5");
    run(take_at(4), 0, 0);                     /* the third finishes first */
    CHECK_INT(acked, -1);                      /* the checkpoint does not pass 0..3 */
    CHECK_INT(submitted_n, 3);                 /* its slot went to 6,7 */
    run(take_at(0), 0, 0);
    CHECK_INT(acked, 2);
    run(take_at(6), 0, 0);
    CHECK_INT(acked, 2);
    run(take_at(2), 0, 0);
    CHECK_INT(acked, 8);                       /* the longest finished run from the start */
    CHECK(hf_lane_idle(lane));
}

TEST(same_key_waits_for_its_predecessor_other_keys_go)
{
    setup_conc(2, -1, 4, HF_ORDER_PARTITION_KEY, NULL);
    hf_lane_t *lane = open_lane(0);
    push_keyed(lane, 0, "ABAC");
    /* {A0, B1} goes; A2 waits for A0's batch; C3 goes alone */
    CHECK_INT(submitted_n, 2);
    CHECK_STR(offsets(submitted[0]), "0,1");
    CHECK_STR(offsets(submitted[1]), "3");
    CHECK_INT(hf_lane_pending(lane), 1);
    run(take_at(3), 0, 0);
    CHECK_INT(submitted_n, 1);                 /* A2 still waits */
    run(take_at(0), 0, 0);
    CHECK_INT(submitted_n, 1);
    CHECK_STR(offsets(submitted[0]), "2");     /* now A2 */
    CHECK_INT(acked, 2);
    run(take_at(2), 0, 0);
    CHECK_INT(acked, 4);
    CHECK(hf_lane_idle(lane));
}

TEST(events_of_one_key_in_one_batch_keep_their_order)
{
    setup_conc(4, -1, 4, HF_ORDER_PARTITION_KEY, NULL);
    hf_lane_t *lane = open_lane(0);
    push_keyed(lane, 0, "AABAB");
    CHECK_INT(submitted_n, 1);
    CHECK_STR(offsets(submitted[0]), "0,1,2,3");   /* a batch holds many keys, in order */
    CHECK_INT(hf_lane_pending(lane), 1);           /* B4 waits for B2's batch */
    run(take_submitted(), 0, 0);
    CHECK_STR(offsets(submitted_n ? submitted[0] : NULL), "4");
}

TEST(keyless_events_are_ordered_among_themselves)
{
    setup_conc(1, -1, 8, HF_ORDER_PARTITION_KEY, NULL);
    hf_lane_t *lane = open_lane(0);
    push_keyed(lane, 0, "--A-");
    CHECK_INT(submitted_n, 2);                 /* the first keyless event, and A */
    CHECK_STR(offsets(submitted[0]), "0");
    CHECK_STR(offsets(submitted[1]), "2");
    run(take_at(0), 0, 0);
    CHECK_INT(submitted_n, 2);
    CHECK(has_at(1));
    CHECK(!has_at(3));                 /* offset 3 waits for offset 1 */
}

TEST(ordering_by_a_body_path)
{
    setup_conc(1, -1, 8, HF_ORDER_BODY, "user");
    hf_lane_t *lane = open_lane(0);
    push_keyed(lane, 0, "ABA-B");
    /* A0, B1 and the keyless 3 go; A2 and B4 wait */
    CHECK_INT(submitted_n, 3);
    CHECK(!has_at(2) && !has_at(4));
    hf_batch_t *b = take_at(1);
    run(b, 0, 0);
    CHECK(has_at(4));                 /* B4 after B1 */
    CHECK(!has_at(2));
}

TEST(ordering_none_runs_any_event)
{
    setup_conc(1, -1, 4, HF_ORDER_NONE, NULL);
    hf_lane_t *lane = open_lane(0);
    push_keyed(lane, 0, "AAAA");
    CHECK_INT(submitted_n, 4);
}

TEST(a_retry_holds_its_key_and_the_checkpoint_not_the_partition)
{
    setup_conc(1, 1, 3, HF_ORDER_PARTITION_KEY, NULL);
    hf_lane_t *lane = open_lane(0);
    push_keyed(lane, 0, "ABA");
    CHECK_INT(submitted_n, 2);                 /* A0 and B1 */
    run(take_at(0), -1, 0);                    /* A0 fails: a retry waits 10 ms */
    run(take_at(1), 0, 0);                     /* B1 finishes meanwhile */
    CHECK_INT(acked, -1);                      /* A0 holds the checkpoint */
    CHECK_INT(submitted_n, 0);                 /* A2 waits for A0 */
    WAIT_FOR(submitted_n == 1);
    hf_batch_t *b = take_submitted();
    CHECK_STR(offsets(b), "0");                /* the retry of A0 */
    CHECK_INT(b->retry_count, 1);
    run(b, 0, 0);
    CHECK_INT(acked, 2);
    CHECK_STR(offsets(submitted_n ? submitted[0] : NULL), "2");
    run(take_submitted(), 0, 0);
    CHECK_INT(acked, 3);
}

TEST(events_past_the_checkpoint_are_bounded)
{
    setup_conc(1, -1, 2, HF_ORDER_NONE, NULL);  /* window: 4 x 2 x 1 = 8 events */
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 2);
    hf_batch_t *stuck = take_at(0);             /* offset 0 does not finish */
    int64_t off = 2;
    while (submitted_n && off < 40) {
        run(take_submitted(), 0, 0);
        if (hf_lane_room(lane) == 0)
            break;
        push(lane, off++, 1);
    }
    CHECK_INT(off, 8);                          /* offsets 0..7 taken, no more */
    CHECK_INT(hf_lane_room(lane), 0);
    CHECK_INT(acked, -1);
    run(stuck, 0, 0);
    CHECK_INT(acked, 8);
    CHECK(hf_lane_room(lane) > 0);
}

/* Many keys, batches finishing in a random order: a key is never in two batches in
   flight, each key's events start in offset order, and everything is acknowledged. */
TEST(random_completion_keeps_key_order)
{
    setup_conc(3, -1, 16, HF_ORDER_PARTITION_KEY, NULL);
    hf_lane_t *lane = open_lane(0);
    const int total = 3000;
    char keys[2];
    int64_t last_started[26];
    for (int k = 0; k < 26; k++)
        last_started[k] = -1;
    unsigned rnd = 12345;
    int64_t next = 0, started = 0;
    int bad_order = 0, shared = 0;
    keys[1] = 0;
    for (int round = 0; round < 100000 && (next < total || submitted_n); round++) {
        while (next < total && hf_lane_room(lane) > 0) {
            rnd = rnd * 1103515245u + 12345u;
            unsigned r = (rnd >> 16) % 100;
            keys[0] = r < 30 ? 'A' : (char)('A' + (int)(r % 26));   /* a hot key */
            push_keyed(lane, next++, keys);
        }
        if (!submitted_n)
            continue;
        /* a key in two batches in flight? */
        int seen[26] = {0};
        for (size_t k = 0; k < submitted_n; k++) {
            int mine[26] = {0};
            for (size_t i = 0; i < submitted[k]->events_n; i++)
                mine[submitted[k]->events[i].key[0] - 'A'] = 1;
            for (int c = 0; c < 26; c++) {
                shared += mine[c] && seen[c];
                seen[c] |= mine[c];
            }
        }
        rnd = rnd * 1103515245u + 12345u;
        size_t pick = (rnd >> 16) % submitted_n;
        hf_batch_t *b = submitted[pick];
        memmove(submitted + pick, submitted + pick + 1,
                (submitted_n - pick - 1) * sizeof(*submitted));
        submitted_n--;
        for (size_t i = 0; i < b->events_n; i++) {
            int c = b->events[i].key[0] - 'A';
            bad_order += b->events[i].offset <= last_started[c];
            last_started[c] = b->events[i].offset;
            started++;
        }
        run(b, 0, 0);
    }
    CHECK_INT(shared, 0);
    CHECK_INT(bad_order, 0);
    CHECK_INT(started, total);
    CHECK_INT(acked, total);
    CHECK(hf_lane_idle(lane));
}

TEST(revocation_frees_the_keys)
{
    setup_conc(1, -1, 4, HF_ORDER_PARTITION_KEY, NULL);
    hf_lane_t *lane = open_lane(0);
    push_keyed(lane, 0, "AA");
    hf_batch_t *late = take_submitted();
    hf_lane_close(lane);
    open_lane(0);
    push_keyed(lane, 0, "AA");
    CHECK_INT(submitted_n, 1);                 /* A0 again, not held by the old batch */
    run(late, 0, 0);                           /* discarded: another generation */
    CHECK_INT(acked, -1);
    run(take_submitted(), 0, 0);
    CHECK_INT(acked, 1);
}

/* ---- bisectOnError ---- */

/* Play a cardinality-many handler that raises when its events (the batch's current part)
   include an offset whose bit is set in poison. */
static void run_poison(hf_batch_t *b, unsigned long poison)
{
    size_t first = b->range_n ? b->range_first : 0, n = b->range_n ? b->range_n : b->events_n;
    b->invocations = 1;
    for (size_t i = first; i < first + n; i++) {
        if (poison & (1UL << b->events[i].offset)) {
            b->status = HF_BATCH_FAILED;
            b->failed_invocations = 1;
            char msg[64];
            snprintf(msg, sizeof(msg), "poison at %lld", (long long)b->events[i].offset);
            b->error = hf_strdup(msg);
            if (b->event_failed)
                memset(b->event_failed + first, 1, n);
            break;
        }
    }
    if (!b->failed_invocations) {
        hf_output_t o = {0};             /* one output per event of a part that succeeds */
        for (size_t i = first; i < first + n; i++) {
            o.binding = 0;
            o.body = hf_strdup("x");
            o.body_len = 1;
            hf_batch_add_output(b, &o);
        }
    }
    hf_pipeline_complete(pl, b);
}

TEST(bisect_leaves_only_the_failing_events_for_the_dead_letter_hub)
{
    setup(16, 1, -1, 1);
    fn.trigger.cardinality = HF_CARD_MANY;
    app.host.bisect_on_error = 1;
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 16);
    unsigned long poison = (1UL << 3) | (1UL << 4) | (1UL << 13);
    int runs = 0;
    hf_batch_t *b;
    while ((b = take_submitted()) && runs < 100) {
        runs++;
        run_poison(b, poison);
    }
    CHECK_INT(runs, 19);                       /* the halves visited: 3 events of 16 */
    CHECK_INT(out_state.delivered, 13 + 3);    /* 13 good events' outputs, 3 dead letters */
    hf_host_stats_t st = {0};
    hf_pipeline_stats(pl, &st);
    CHECK_INT(st.dead_lettered, 3);
    CHECK_INT(st.failed_events, 3);
    CHECK(strstr(out_state.last_headers, "hubfn-source-offset=13;") != NULL);
    CHECK(strstr(out_state.last_headers, "hubfn-error=poison at 13;") != NULL);  /* its own */
    CHECK_INT(acked, 16);
    CHECK(hf_lane_idle(lane));
}

TEST(bisect_then_retry_policy_sees_only_the_failing_event)
{
    setup(8, 1, 1, 1);
    fn.trigger.cardinality = HF_CARD_MANY;
    app.host.bisect_on_error = 1;
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 8);
    hf_batch_t *b;
    int runs = 0;
    size_t retried = 0;
    while (runs < 100) {
        WAIT_FOR(submitted_n > 0 || hf_lane_idle(lane));
        if (!(b = take_submitted()))
            break;
        runs++;
        if (b->retry_count > 0)
            retried = b->events_n;
        run_poison(b, 1UL << 6);
    }
    CHECK_INT(retried, 1);                     /* the retry ran offset 6 alone */
    hf_host_stats_t st = {0};
    hf_pipeline_stats(pl, &st);
    CHECK_INT(st.dead_lettered, 1);
    CHECK_INT(acked, 8);
}

TEST(without_bisect_the_whole_batch_fails)
{
    setup(8, 1, -1, 1);
    fn.trigger.cardinality = HF_CARD_MANY;
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 8);
    run_poison(take_submitted(), 1UL << 6);
    CHECK_INT(submitted_n, 0);
    hf_host_stats_t st = {0};
    hf_pipeline_stats(pl, &st);
    CHECK_INT(st.dead_lettered, 8);
    CHECK(hf_lane_idle(lane));
}

/* "name=value;" of every header of a held delivery's message */
static const char *held_headers(size_t k)
{
    static char buf[2048];
    hf_output_t *m = hf_delivery_msg(out_state.d[k], out_state.i[k]);
    size_t n = 0;
    buf[0] = 0;
    for (size_t h = 0; h < m->headers_n; h++)
        n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, "%s=%.*s;",
                              m->headers[h].name, (int)m->headers[h].value_len,
                              m->headers[h].value);
    return buf;
}

TEST(dead_letter_headers_carry_each_events_own_reason)
{
    /* cardinality one: event 1 failed through context.fail alone, event 3 by an error its
       invocation raised (the batch's error) */
    setup(10, 1, -1, 1);
    hf_lane_t *lane = open_lane(0);
    push(lane, 0, 4);
    hf_batch_t *b = take_submitted();
    b->invocations = 4;
    b->failed_invocations = 1;
    b->failed_marked = 1;
    b->status = HF_BATCH_FAILED;
    b->event_failed = hf_calloc(4, 1);
    b->event_failed[1] = b->event_failed[3] = 1;
    b->event_error = hf_calloc(4, sizeof(char *));
    b->event_error_n = 4;
    b->event_error[1] = hf_strdup("event at offset 1: bad id");
    b->error = hf_strdup("handler.lua:3: real trouble\nstack traceback: ...");
    out_state.mode = 0;
    hf_pipeline_complete(pl, b);
    CHECK_INT(out_state.n, 2);
    CHECK_HAS(held_headers(0), "hubfn-source-offset=1;");
    CHECK_HAS(held_headers(0), "hubfn-error=event at offset 1: bad id;");
    CHECK_HAS(held_headers(1), "hubfn-source-offset=3;");
    CHECK_HAS(held_headers(1), "hubfn-error=handler.lua:3: real trouble;");
    report_all(1);
    CHECK_INT(acked, 4);
}

TEST_MAIN()
