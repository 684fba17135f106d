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
static void setup(int max_batch, int min_batch, int retries, int dead_letter)
{
    if (pl)
        hf_pipeline_free(pl);
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
