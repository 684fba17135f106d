/*
 * The batch pipeline: batching, outputs, retries, context.fail, the dead-letter hub and the
 * contiguous checkpoint, for any trigger. See pipeline.h and docs/reliability.md.
 */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "binding.h"
#include "jsonpath.h"
#include "log.h"
#include "metrics.h"
#include "trace.h"

/* Where a batch is on its way (hf_batch_t.stage). */
enum {
    ST_RUNNING = 1,              /* handed to a handler */
    ST_DELIVERING,               /* its outputs are being delivered */
    ST_WAITING,                  /* failed events waiting for the retry policy's delay */
    ST_DEAD_LETTERING,           /* failed events on their way to the $deadLetter binding */
    ST_DEAD_LETTER_WAITING       /* the dead-letter binding refused them: waiting to offer
                                    them again */
};

/* Seconds before a refused dead-letter delivery is offered again, unless the host says. */
#define DEAD_LETTER_BACKOFF_S 5.0

/* One event pushed into a lane and not resolved yet. */
typedef struct track {
    int64_t offset;
    unsigned char done;
} track_t;

/* An ordering key with events in flight (partitionConcurrency > 1): busy events hold it;
   `owner` is the batch being formed that may take more of them; `skipped` marks a key an
   event of which stayed behind in the current scan, so later ones of it stay too. */
typedef struct keyslot {
    uint64_t key;                /* 0: an empty slot */
    uint32_t busy;
    uint32_t skipped;
    uint64_t owner;
} keyslot_t;

/* The ordering key of keyless events (they keep their order among themselves). */
#define KEYLESS 1u

struct hf_lane {
    hf_pipeline_t *pl;
    int fn_index;
    const hf_function_t *fn;
    int32_t partition;
    int open;                    /* assigned: events come and batches go */
    int draining;                /* the host stops: nothing new is dispatched */
    int eof;                     /* nothing more is coming for now: flush partial batches */
    int blocked;                 /* an output binding of the function was full */
    uint64_t generation;         /* bumped on open and close: late results are recognised */
    const hf_lane_ops_t *ops;
    void *ud;
    hf_lane_source_t src;
    int worker;
    /* events pushed and not yet in a batch: [head, n) */
    hf_event_t *pending;
    size_t head, n, cap;
    /* every event pushed and not resolved, in offset order: a ring of cap entries from
       track_head; track_seq is the seq of the entry at track_head */
    track_t *track;
    size_t track_head, track_n, track_cap;
    uint64_t track_seq, next_seq;
    int64_t resolved_end;        /* the offset after the last event resolved, -1 none */
    int64_t acked;               /* the last offset acked, -1 none */
    int slots;                   /* batches dispatched and not resolved */
    hf_batch_t *batches;         /* those batches, linked by lane_next */
    ev_timer wait_timer;         /* maxWaitTime, when minEventBatchSize > 1 */
    /* partitionConcurrency > 1 with an orderingKey: the keys of events in flight (open
       addressing, linear probing) */
    int keyed;                   /* events get and hold keys */
    keyslot_t *keys;
    size_t keys_cap, keys_n;
    uint32_t scan;               /* the current dispatch scan */
    uint64_t batch_ids;
    size_t held;                 /* pending events that waited for their key at the last scan */
    hf_series_t *m_processed, *m_failed, *m_in_flight, *m_held;
};

/* A function's metric series. */
typedef struct fn_metrics {
    hf_series_t *ok, *failed, *batch_size, *duration, *to_start, *to_done, *retries,
        *dead_lettered;
    hf_series_t **delivered, **undelivered;   /* per output binding */
} fn_metrics_t;

struct hf_pipeline {
    hf_pipeline_env_t env;
    int conc;                    /* partitionConcurrency */
    hf_jsonpath_t order_path;    /* orderingKey "body:PATH" */
    hf_lane_t ***lanes;          /* [function][partition] */
    int32_t *lanes_cap;          /* per function */
    fn_metrics_t *fm;            /* per function */
    hf_host_stats_t stats;
    size_t delivering;
    int next_worker;
    int closing;
};

/* The outputs of one batch on their way. */
struct hf_delivery {
    hf_pipeline_t *pl;
    hf_batch_t *batch;
    size_t pending;              /* messages not reported yet, +1 while handing them over */
    unsigned char *reported;     /* per message: 0 not yet, 1 delivered, 2 failed */
};

static void dispatch(hf_lane_t *lane, int flush);
static void finalize(hf_pipeline_t *pl, hf_batch_t *batch);
static void dead_letter(hf_lane_t *lane, hf_batch_t *batch);
static void dead_lettered(hf_pipeline_t *pl, hf_batch_t *batch);

static size_t pending_count(const hf_lane_t *lane)
{
    return lane->n - lane->head;
}

/* Batches of one lane that may be in flight at once. */
static int concurrency(const hf_lane_t *lane)
{
    return lane->pl->conc;
}

/* Events of a lane past its checkpoint, at most (partitionConcurrency > 1): a batch that
   retries for long holds the checkpoint while later batches go on, and a crash repeats
   the events after the checkpoint, so how far they may go is bounded. */
static size_t window(const hf_lane_t *lane)
{
    return 4 * (size_t)concurrency(lane) * (size_t)lane->pl->env.app->host.max_batch;
}

/* ---- ordering keys ---- */

static uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h <= KEYLESS ? h + 2 : h;
}

/* The ordering key of an event, as host.json's orderingKey says. */
static uint64_t order_key(const hf_pipeline_t *pl, const hf_event_t *ev)
{
    const char *v = NULL;
    size_t n = 0;
    switch (pl->env.app->host.ordering) {
    case HF_ORDER_NONE:
        return 0;
    case HF_ORDER_PARTITION_KEY:
        v = ev->key;
        n = ev->key_len;
        break;
    case HF_ORDER_BODY:
        if (!hf_jsonpath_get(&pl->order_path, ev->payload, ev->len, &v, &n))
            v = NULL;
        break;
    }
    return v ? hash_bytes(v, n, 0xcbf29ce484222325ull) : KEYLESS;
}

static keyslot_t *key_find(const hf_lane_t *lane, uint64_t key)
{
    if (!lane->keys_cap)
        return NULL;
    size_t mask = lane->keys_cap - 1;
    for (size_t i = key & mask;; i = (i + 1) & mask) {
        if (lane->keys[i].key == key)
            return &lane->keys[i];
        if (lane->keys[i].key == 0)
            return NULL;
    }
}

static keyslot_t *key_add(hf_lane_t *lane, uint64_t key)
{
    if ((lane->keys_n + 1) * 2 > lane->keys_cap) {
        size_t cap = lane->keys_cap ? lane->keys_cap * 2 : 64;
        keyslot_t *old = lane->keys;
        size_t old_cap = lane->keys_cap;
        lane->keys = hf_calloc(cap, sizeof(*lane->keys));
        lane->keys_cap = cap;
        for (size_t i = 0; i < old_cap; i++) {
            if (!old[i].key)
                continue;
            size_t j = old[i].key & (cap - 1);
            while (lane->keys[j].key)
                j = (j + 1) & (cap - 1);
            lane->keys[j] = old[i];
        }
        free(old);
    }
    size_t mask = lane->keys_cap - 1, i = key & mask;
    while (lane->keys[i].key)
        i = (i + 1) & mask;
    memset(&lane->keys[i], 0, sizeof(lane->keys[i]));
    lane->keys[i].key = key;
    lane->keys_n++;
    return &lane->keys[i];
}

/* Remove a slot, moving later ones of its probe run back so lookups still find them. */
static void key_remove(hf_lane_t *lane, keyslot_t *slot)
{
    size_t mask = lane->keys_cap - 1, i = (size_t)(slot - lane->keys), j = i;
    lane->keys[i].key = 0;
    lane->keys_n--;
    for (;;) {
        j = (j + 1) & mask;
        if (!lane->keys[j].key)
            return;
        size_t home = lane->keys[j].key & mask;
        /* j's entry may move to i when its home is not in (i, j] cyclically */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            lane->keys[i] = lane->keys[j];
            lane->keys[j].key = 0;
            i = j;
        }
    }
}

/* The events of a batch leave the lane's flight: their keys are free for the next. */
static void unbusy(hf_lane_t *lane, const hf_batch_t *batch, size_t i)
{
    if (!batch->keyed)
        return;
    keyslot_t *slot = key_find(lane, batch->events[i].order_key);
    if (slot && --slot->busy == 0)
        key_remove(lane, slot);
}

static void unbusy_all(hf_lane_t *lane, const hf_batch_t *batch)
{
    for (size_t i = 0; batch->keyed && i < batch->events_n; i++)
        unbusy(lane, batch, i);
}

static void keys_reset(hf_lane_t *lane)
{
    if (lane->keys_cap)
        memset(lane->keys, 0, lane->keys_cap * sizeof(*lane->keys));
    lane->keys_n = 0;
    lane->held = 0;
}

static void lane_gauges(hf_lane_t *lane)
{
    hf_series_set(lane->m_in_flight, (double)lane->slots);
    hf_series_set(lane->m_held, (double)lane->held);
}

static void log_ctx_for(const hf_lane_t *lane, hf_log_ctx_t *ctx)
{
    *ctx = HF_LOG_CTX_NONE;
    ctx->function = lane->fn->name;
    ctx->partition = lane->partition;
}

/* ---------------------------------------------------------------------------------- */
/* The pipeline and its lanes                                                          */

static void init_metrics(hf_pipeline_t *pl)
{
    const hf_app_t *app = pl->env.app;
    hf_metrics_t *reg = pl->env.metrics;
    pl->fm = hf_calloc(app->functions_n ? app->functions_n : 1, sizeof(*pl->fm));
    if (!reg)
        return;
    for (size_t f = 0; f < app->functions_n; f++) {
        const hf_function_t *fn = &app->functions[f];
        fn_metrics_t *m = &pl->fm[f];
        m->ok = hf_metric_series(hf_metrics_get(reg, HF_M_INVOCATIONS), fn->name, "success");
        m->failed = hf_metric_series(hf_metrics_get(reg, HF_M_INVOCATIONS), fn->name, "failure");
        m->batch_size = hf_metric_series(hf_metrics_get(reg, HF_M_BATCH_SIZE), fn->name);
        m->duration = hf_metric_series(hf_metrics_get(reg, HF_M_INVOCATION_DURATION), fn->name);
        m->to_start = hf_metric_series(hf_metrics_get(reg, HF_M_ENQUEUED_TO_START), fn->name);
        m->to_done = hf_metric_series(hf_metrics_get(reg, HF_M_ENQUEUED_TO_DONE), fn->name);
        m->retries = hf_metric_series(hf_metrics_get(reg, HF_M_RETRIES), fn->name);
        m->dead_lettered = hf_metric_series(hf_metrics_get(reg, HF_M_DEAD_LETTERED), fn->name);
        if (fn->disabled || !fn->outputs_n)
            continue;
        m->delivered = hf_calloc(fn->outputs_n, sizeof(*m->delivered));
        m->undelivered = hf_calloc(fn->outputs_n, sizeof(*m->undelivered));
        for (size_t i = 0; i < fn->outputs_n; i++) {
            m->delivered[i] = hf_metric_series(hf_metrics_get(reg, HF_M_OUTPUTS_DELIVERED),
                                               fn->name, fn->outputs[i].name);
            m->undelivered[i] = hf_metric_series(hf_metrics_get(reg, HF_M_OUTPUTS_FAILED),
                                                 fn->name, fn->outputs[i].name);
        }
    }
}

hf_pipeline_t *hf_pipeline_new(const hf_pipeline_env_t *env)
{
    hf_pipeline_t *pl = hf_calloc(1, sizeof(*pl));
    size_t nf = env->app->functions_n ? env->app->functions_n : 1;
    pl->env = *env;
    pl->conc = env->app->host.partition_concurrency > 0 ? env->app->host.partition_concurrency
                                                        : 1;
    if (env->app->host.ordering == HF_ORDER_BODY) {
        char err[300];
        if (hf_jsonpath_compile(&pl->order_path, env->app->host.ordering_path, err,
                                sizeof(err)) < 0)
            memset(&pl->order_path, 0, sizeof(pl->order_path));   /* app.c checked it */
    }
    if (pl->env.dead_letter_backoff_s <= 0)
        pl->env.dead_letter_backoff_s = DEAD_LETTER_BACKOFF_S;
    if (pl->env.runner.workers < 1)
        pl->env.runner.workers = 1;
    pl->lanes = hf_calloc(nf, sizeof(*pl->lanes));
    pl->lanes_cap = hf_calloc(nf, sizeof(*pl->lanes_cap));
    init_metrics(pl);
    return pl;
}

static void drop_pending(hf_lane_t *lane)
{
    for (size_t i = lane->head; i < lane->n; i++)
        hf_event_release(&lane->pending[i]);
    lane->head = lane->n = 0;
}

/* Forget every batch the lane holds: waiting ones are freed now; running ones are freed
   when they come back (their generation no longer matches). */
static void forget_batches(hf_lane_t *lane, int keep_running)
{
    hf_batch_t **pp = &lane->batches;
    while (*pp) {
        hf_batch_t *b = *pp;
        int waiting = b->stage == ST_WAITING || b->stage == ST_DEAD_LETTER_WAITING;
        if (waiting || !keep_running) {
            *pp = b->lane_next;
            b->lane_next = NULL;
            lane->slots--;
            if (waiting) {
                ev_timer_stop(lane->pl->env.loop, &b->timer);
                unbusy_all(lane, b);
                hf_batch_free(b);
            }
        } else {
            pp = &b->lane_next;
        }
    }
}

void hf_pipeline_shutdown(hf_pipeline_t *pl)
{
    pl->closing = 1;
}

void hf_pipeline_free(hf_pipeline_t *pl)
{
    if (!pl)
        return;
    pl->closing = 1;
    const hf_app_t *app = pl->env.app;
    for (size_t f = 0; f < app->functions_n; f++) {
        for (int32_t p = 0; p < pl->lanes_cap[f]; p++) {
            hf_lane_t *lane = pl->lanes[f][p];
            if (!lane)
                continue;
            ev_timer_stop(pl->env.loop, &lane->wait_timer);
            drop_pending(lane);
            forget_batches(lane, 0);
            free(lane->pending);
            free(lane->track);
            free(lane->keys);
            free(lane);
        }
        free(pl->lanes[f]);
        free(pl->fm[f].delivered);
        free(pl->fm[f].undelivered);
    }
    free(pl->lanes);
    free(pl->lanes_cap);
    free(pl->fm);
    hf_jsonpath_free(&pl->order_path);
    free(pl);
}

static void on_wait_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    dispatch(w->data, 1);
}

hf_lane_t *hf_pipeline_lane(hf_pipeline_t *pl, int fn_index, int32_t partition)
{
    if (partition < 0 || fn_index < 0 || (size_t)fn_index >= pl->env.app->functions_n)
        return NULL;
    if (partition >= pl->lanes_cap[fn_index]) {
        int32_t cap = pl->lanes_cap[fn_index] ? pl->lanes_cap[fn_index] : 8;
        while (cap <= partition)
            cap *= 2;
        pl->lanes[fn_index] = hf_realloc(pl->lanes[fn_index], (size_t)cap * sizeof(hf_lane_t *));
        memset(pl->lanes[fn_index] + pl->lanes_cap[fn_index], 0,
               (size_t)(cap - pl->lanes_cap[fn_index]) * sizeof(hf_lane_t *));
        pl->lanes_cap[fn_index] = cap;
    }
    hf_lane_t *lane = pl->lanes[fn_index][partition];
    if (!lane) {
        lane = hf_calloc(1, sizeof(*lane));
        lane->pl = pl;
        lane->fn_index = fn_index;
        lane->fn = &pl->env.app->functions[fn_index];
        lane->partition = partition;
        lane->resolved_end = lane->acked = -1;
        ev_init(&lane->wait_timer, on_wait_timer);
        lane->wait_timer.data = lane;
        char num[16];
        snprintf(num, sizeof(num), "%d", (int)partition);
        hf_metrics_t *reg = pl->env.metrics;
        lane->m_processed = hf_metric_series(hf_metrics_get(reg, HF_M_EVENTS_PROCESSED),
                                             lane->fn->name, num);
        lane->m_failed = hf_metric_series(hf_metrics_get(reg, HF_M_EVENTS_FAILED),
                                          lane->fn->name, num);
        lane->m_in_flight = hf_metric_series(hf_metrics_get(reg, HF_M_PARTITION_IN_FLIGHT),
                                             lane->fn->name, num);
        if (pl->conc > 1 && pl->env.app->host.ordering != HF_ORDER_NONE)
            lane->m_held = hf_metric_series(hf_metrics_get(reg, HF_M_HELD_BY_ORDERING),
                                            lane->fn->name, num);
        pl->lanes[fn_index][partition] = lane;
    }
    return lane;
}

void hf_lane_open(hf_lane_t *lane, const hf_lane_source_t *src, const hf_lane_ops_t *ops,
                  void *ud)
{
    hf_pipeline_t *pl = lane->pl;
    if (lane->open)
        hf_lane_close(lane);
    lane->generation++;
    lane->open = 1;
    lane->draining = lane->eof = lane->blocked = 0;
    lane->ops = ops;
    lane->ud = ud;
    lane->src = *src;
    lane->track_head = lane->track_n = 0;
    lane->track_seq = lane->next_seq = 0;
    lane->resolved_end = lane->acked = -1;
    lane->worker = pl->next_worker++ % pl->env.runner.workers;
    lane->keyed = pl->conc > 1 && pl->env.app->host.ordering != HF_ORDER_NONE;
    keys_reset(lane);
    lane_gauges(lane);
}

size_t hf_lane_room(const hf_lane_t *lane)
{
    if (!lane->open || lane->draining)
        return 0;
    int free_slots = concurrency(lane) - lane->slots;
    if (free_slots <= 0)
        return 0;
    size_t want = (size_t)free_slots * (size_t)lane->pl->env.app->host.max_batch;
    size_t have = pending_count(lane);
    size_t room = have < want ? want - have : 0;
    if (concurrency(lane) > 1) {
        size_t w = window(lane);
        room = lane->track_n >= w ? 0 : room < w - lane->track_n ? room : w - lane->track_n;
    }
    return room;
}

size_t hf_lane_pending(const hf_lane_t *lane)
{
    return pending_count(lane);
}

void hf_lane_push(hf_lane_t *lane, const hf_event_t *ev)
{
    if (lane->n == lane->cap) {
        if (lane->head > 0) {
            memmove(lane->pending, lane->pending + lane->head,
                    pending_count(lane) * sizeof(hf_event_t));
            lane->n -= lane->head;
            lane->head = 0;
        } else {
            lane->cap = lane->cap ? lane->cap * 2 : 64;
            lane->pending = hf_realloc(lane->pending, lane->cap * sizeof(hf_event_t));
        }
    }
    if (lane->track_n == lane->track_cap) {
        size_t cap = lane->track_cap ? lane->track_cap * 2 : 64;
        track_t *t = hf_malloc(cap * sizeof(*t));
        for (size_t i = 0; i < lane->track_n; i++)
            t[i] = lane->track[(lane->track_head + i) % lane->track_cap];
        free(lane->track);
        lane->track = t;
        lane->track_cap = cap;
        lane->track_head = 0;
    }
    hf_event_t *e = &lane->pending[lane->n++];
    *e = *ev;
    e->seq = lane->next_seq++;
    e->order_key = lane->keyed ? order_key(lane->pl, e) : 0;
    track_t *t = &lane->track[(lane->track_head + lane->track_n++) % lane->track_cap];
    t->offset = ev->offset;
    t->done = 0;
    lane->eof = 0;
}

void hf_lane_pushed(hf_lane_t *lane, int eof)
{
    if (eof)
        lane->eof = 1;
    dispatch(lane, eof);
}

int hf_lane_idle(const hf_lane_t *lane)
{
    return lane->slots == 0 && pending_count(lane) == 0;
}

int hf_lane_running(const hf_lane_t *lane)
{
    int n = 0;
    for (const hf_batch_t *b = lane->batches; b; b = b->lane_next)
        n += b->stage != ST_WAITING && b->stage != ST_DEAD_LETTER_WAITING;
    return n;
}

void hf_lane_drain(hf_lane_t *lane)
{
    lane->draining = 1;
    ev_timer_stop(lane->pl->env.loop, &lane->wait_timer);
    drop_pending(lane);
    forget_batches(lane, 1);
}

void hf_lane_close(hf_lane_t *lane)
{
    if (!lane->open)
        return;
    ev_timer_stop(lane->pl->env.loop, &lane->wait_timer);
    drop_pending(lane);
    forget_batches(lane, 0);
    lane->slots = 0;
    lane->open = 0;
    lane->generation++;          /* what is still running is discarded when it comes back */
    lane->track_head = lane->track_n = 0;
    keys_reset(lane);
    lane_gauges(lane);
}

/* ---------------------------------------------------------------------------------- */
/* Resolving events and the checkpoint                                                 */

/* Mark the event with this seq resolved; move the checkpoint over what is contiguous. */
static void resolve_seq(hf_lane_t *lane, uint64_t seq)
{
    if (seq < lane->track_seq || seq - lane->track_seq >= lane->track_n)
        return;
    lane->track[(lane->track_head + (seq - lane->track_seq)) % lane->track_cap].done = 1;
}

static void advance(hf_lane_t *lane)
{
    while (lane->track_n > 0) {
        track_t *t = &lane->track[lane->track_head];
        if (!t->done)
            break;
        lane->resolved_end = t->offset + 1;
        lane->track_head = (lane->track_head + 1) % lane->track_cap;
        lane->track_n--;
        lane->track_seq++;
    }
    int64_t at = lane->track_n > 0 ? lane->track[lane->track_head].offset : lane->resolved_end;
    if (at > lane->acked && lane->resolved_end >= 0) {
        lane->acked = at;
        if (lane->ops && lane->ops->ack)
            lane->ops->ack(lane->ud, at);
    }
}

/* The batch is done with: unlink it, free its slot, free it, and go on with the lane. */
static void release(hf_lane_t *lane, hf_batch_t *batch, int resolve)
{
    hf_pipeline_t *pl = lane->pl;
    if (resolve) {
        for (size_t i = 0; i < batch->events_n; i++)
            resolve_seq(lane, batch->events[i].seq);
        advance(lane);
    }
    unbusy_all(lane, batch);
    for (hf_batch_t **pp = &lane->batches; *pp; pp = &(*pp)->lane_next) {
        if (*pp == batch) {
            *pp = batch->lane_next;
            lane->slots--;
            break;
        }
    }
    hf_batch_free(batch);
    /* The trigger is asked for events first: what waited at its end while the batch ran is
       taken now (its queue signals only when it turns non-empty), then dispatched. */
    if (lane->open && lane->ops && lane->ops->wake && hf_lane_room(lane) > 0)
        lane->ops->wake(lane->ud);
    dispatch(lane, lane->eof);
    lane_gauges(lane);
    if (pl->env.progress)
        pl->env.progress(pl->env.ud);
}

/* ---------------------------------------------------------------------------------- */
/* Dispatching                                                                         */

/* Is an output binding of the lane's function full (backpressure)? */
static int outputs_full(hf_lane_t *lane)
{
    const hf_function_t *fn = lane->fn;
    for (size_t i = 0; i < fn->outputs_n; i++) {
        const hf_binding_t *b = &fn->outputs[i];
        if (!b->type || !b->type->full)
            continue;
        void *state = lane->pl->env.type_state(lane->pl->env.ud, b->type);
        if (state && b->type->full(state, b))
            return 1;
    }
    return 0;
}

/* Take up to max events whose keys are free, in offset order, out of the pending ones
   into a new batch (the others keep their order); NULL when every pending event waits
   for its key. An event waits when an earlier event with its key is in flight in another
   batch, or stayed behind in this scan. */
static hf_batch_t *take_keyed(hf_lane_t *lane, size_t max)
{
    uint32_t scan = ++lane->scan;
    uint64_t id = ++lane->batch_ids;
    hf_batch_t *batch = NULL;
    size_t w = lane->head, held = 0;
    for (size_t i = lane->head; i < lane->n; i++) {
        hf_event_t *ev = &lane->pending[i];
        if (!batch || batch->events_n < max) {
            keyslot_t *slot = key_find(lane, ev->order_key);
            if (!slot || (slot->busy == 0 && slot->skipped != scan) ||
                (slot->owner == id && slot->skipped != scan)) {
                if (!slot)
                    slot = key_add(lane, ev->order_key);
                slot->busy++;
                slot->owner = id;
                if (!batch)
                    batch = hf_batch_new(max);
                batch->events[batch->events_n++] = *ev;
                continue;
            }
            slot->skipped = scan;
            held++;
        }
        if (w != i)
            lane->pending[w] = *ev;
        w++;
    }
    lane->n = w;
    if (lane->head == lane->n)
        lane->head = lane->n = 0;
    lane->held = held;
    if (batch)
        batch->keyed = 1;
    return batch;
}

/* Start the lane's next batches when the batching rules allow. */
static void dispatch(hf_lane_t *lane, int flush)
{
    hf_pipeline_t *pl = lane->pl;
    const hf_host_cfg_t *cfg = &pl->env.app->host;
    while (lane->open && !lane->draining && lane->slots < concurrency(lane)) {
        size_t n = pending_count(lane);
        if (n == 0)
            break;
        if (!flush && !lane->eof && n < (size_t)cfg->min_batch) {
            if (!ev_is_active(&lane->wait_timer)) {
                ev_timer_set(&lane->wait_timer, (double)cfg->max_wait_ms / 1000.0, 0);
                ev_timer_start(pl->env.loop, &lane->wait_timer);
            }
            break;
        }
        if (outputs_full(lane)) {
            lane->blocked = 1;
            break;
        }
        lane->blocked = 0;
        if (n > (size_t)cfg->max_batch)
            n = (size_t)cfg->max_batch;
        hf_batch_t *batch;
        if (lane->keyed) {
            batch = take_keyed(lane, n);
            if (!batch)
                break;           /* every pending event waits for a batch in flight */
        } else {
            batch = hf_batch_new(n);
            memcpy(batch->events, lane->pending + lane->head, n * sizeof(hf_event_t));
            batch->events_n = n;
            lane->head += n;
            if (lane->head == lane->n)
                lane->head = lane->n = 0;
        }
        ev_timer_stop(pl->env.loop, &lane->wait_timer);
        batch->fn = lane->fn;
        batch->fn_index = lane->fn_index;
        batch->hub = lane->src.hub;
        batch->partition = lane->partition;
        batch->max_retry_count = lane->fn->retry.strategy == HF_RETRY_NONE
                                     ? 0 : lane->fn->retry.max_retry_count;
        batch->owner = lane;
        batch->generation = lane->generation;
        batch->stage = ST_RUNNING;
        batch->lane_next = lane->batches;
        lane->batches = batch;
        lane->slots++;
        /* One batch at a time runs on the lane's worker; several are spread over all. */
        int worker = concurrency(lane) > 1 ? pl->next_worker++ % pl->env.runner.workers
                                           : lane->worker;
        pl->env.runner.submit(pl->env.runner.ud, worker, batch);
    }
    lane_gauges(lane);
}

void hf_pipeline_resume(hf_pipeline_t *pl)
{
    const hf_app_t *app = pl->env.app;
    for (size_t f = 0; f < app->functions_n; f++)
        for (int32_t p = 0; p < pl->lanes_cap[f]; p++)
            if (pl->lanes[f][p] && pl->lanes[f][p]->blocked)
                dispatch(pl->lanes[f][p], pl->lanes[f][p]->eof);
}

/* ---------------------------------------------------------------------------------- */
/* Outputs                                                                             */

hf_batch_t *hf_delivery_batch(hf_delivery_t *d)
{
    return d->batch;
}

hf_output_t *hf_delivery_msg(hf_delivery_t *d, size_t i)
{
    return &d->batch->outputs[i];
}

const hf_binding_t *hf_delivery_binding(hf_delivery_t *d, size_t i)
{
    return &d->batch->fn->outputs[d->batch->outputs[i].binding];
}

static void delivery_release(hf_delivery_t *d)
{
    if (--d->pending > 0)
        return;
    hf_pipeline_t *pl = d->pl;
    hf_batch_t *batch = d->batch;
    free(d->reported);
    free(d);
    if (pl->closing) {
        hf_batch_free(batch);
        return;
    }
    if (batch->dead_lettering)
        dead_lettered(pl, batch);
    else
        finalize(pl, batch);
}

/* The first bytes of a response kept for the dead-letter headers. */
#define FAIL_RESPONSE_MAX 256

void hf_delivery_fail(hf_delivery_t *d, size_t i, const char *why, int status,
                      const char *response, size_t response_len)
{
    hf_batch_t *batch = d->batch;
    size_t inv = i < batch->outputs_n ? batch->outputs[i].invocation : 0;
    if (inv && inv <= batch->events_n && !d->reported[i] && !batch->dead_lettering) {
        /* cardinality one: the invocation's own reason, for its event's dead-letter headers */
        if (!batch->inv_failures) {
            batch->inv_failures = hf_calloc(batch->events_n, sizeof(*batch->inv_failures));
            batch->inv_failures_n = batch->events_n;
        }
        hf_inv_failure_t *f = &batch->inv_failures[inv - 1];
        if (!f->error) {
            char what[300], msg[1024];
            const hf_binding_t *b = &batch->fn->outputs[batch->outputs[i].binding];
            snprintf(msg, sizeof(msg), "an output to %s was not delivered: %s",
                     hf_binding_describe(b, what, sizeof(what)), why ? why : "unknown error");
            f->binding = batch->outputs[i].binding;
            f->status = status;
            f->error = hf_strdup(msg);
            if (response && response_len)
                f->response = hf_memdup(response, response_len < FAIL_RESPONSE_MAX
                                                      ? response_len : FAIL_RESPONSE_MAX);
        }
    }
    if (i < batch->outputs_n && !d->reported[i] && batch->fail_binding < 0) {
        batch->fail_binding = batch->outputs[i].binding;
        batch->fail_status = status;
        if (response && response_len)
            batch->fail_response = hf_memdup(response, response_len < FAIL_RESPONSE_MAX
                                                           ? response_len : FAIL_RESPONSE_MAX);
    }
    hf_delivery_report(d, i, 0, why);
}

void hf_delivery_report(hf_delivery_t *d, size_t i, int ok, const char *why)
{
    hf_pipeline_t *pl = d->pl;
    hf_batch_t *batch = d->batch;
    if (i >= batch->outputs_n || d->reported[i])
        return;
    d->reported[i] = ok ? 1 : 2;
    pl->delivering--;
    int b = batch->outputs[i].binding;
    fn_metrics_t *m = &pl->fm[batch->fn_index];
    if (m->delivered)
        hf_series_add((ok ? m->delivered : m->undelivered)[b], 1);
    size_t inv = batch->outputs[i].invocation;
    if (ok) {
        batch->delivered++;
    } else {
        if (inv && inv <= batch->events_n && !batch->dead_lettering) {
            /* cardinality one: the invocation that sent it failed, the others did not */
            if (!batch->event_failed)
                batch->event_failed = hf_calloc(batch->events_n, 1);
            batch->event_failed[inv - 1] = 1;
            batch->status = HF_BATCH_FAILED;
        } else {
            batch->delivery_failed = 1;
        }
        hf_trace_output_failed(batch, inv, why);   /* its span ends as an error */
        if (!batch->delivery_error) {
            char what[300], msg[1024];
            snprintf(msg, sizeof(msg), "an output to %s was not delivered: %s",
                     hf_binding_describe(&batch->fn->outputs[b], what, sizeof(what)),
                     why ? why : "unknown error");
            batch->delivery_error = hf_strdup(msg);
            if (!batch->error)
                batch->error = hf_strdup(msg);
        }
    }
    delivery_release(d);
}

int hf_delivery_outcome(const hf_delivery_t *d, size_t i)
{
    if (i >= d->batch->outputs_n)
        return 0;
    return d->reported[i] == 1 ? 1 : d->reported[i] == 2 ? -1 : 0;
}

/* Hand every output message of the batch to its binding type. */
static void deliver(hf_pipeline_t *pl, hf_batch_t *batch)
{
    hf_delivery_t *d = hf_calloc(1, sizeof(*d));
    d->pl = pl;
    d->batch = batch;
    d->pending = batch->outputs_n + 1;
    d->reported = hf_calloc(batch->outputs_n ? batch->outputs_n : 1, 1);
    batch->delivered = 0;
    batch->delivery_failed = 0;
    free(batch->delivery_error);
    batch->delivery_error = NULL;
    pl->delivering += batch->outputs_n;
    for (size_t i = 0; i < batch->outputs_n; i++) {
        const hf_binding_t *b = &batch->fn->outputs[batch->outputs[i].binding];
        void *state = b->type ? pl->env.type_state(pl->env.ud, b->type) : NULL;
        if (!state || !b->type->deliver) {
            char why[200];
            snprintf(why, sizeof(why), "no %s output is running", b->type ? b->type->name : "?");
            hf_delivery_report(d, i, 0, why);
            continue;
        }
        b->type->deliver(state, d, i);
    }
    delivery_release(d);
}

/* Count one handler run of the batch: invocations, sizes, durations, lags. */
static void record_run(hf_pipeline_t *pl, const hf_batch_t *batch)
{
    fn_metrics_t *m = &pl->fm[batch->fn_index];
    int done = batch->invocations, failed = batch->failed_invocations;
    if (!pl->env.metrics)
        return;
    hf_series_add(m->ok, done - failed);
    hf_series_add(m->failed, failed);
    hf_series_observe(m->batch_size, (double)batch->events_n);
    /* cardinality one: the batch's invocations share its time evenly */
    if (done > 0)
        hf_series_observe_n(m->duration, (double)batch->run_us / 1e6 / done, (uint64_t)done);
    if (batch->started_ms <= 0 || batch->done_ms <= 0 || batch->range_n || batch->bisect_n)
        return;                  /* a part of a bisected batch: its events were counted */
    for (size_t i = 0; i < batch->events_n; i++) {
        int64_t enq = batch->events[i].enqueued_ms;
        if (enq < 0)
            continue;
        /* clamp clock skew between the producer or broker and this machine */
        hf_series_observe(m->to_start,
                          batch->started_ms > enq ? (double)(batch->started_ms - enq) / 1e3 : 0);
        hf_series_observe(m->to_done,
                          batch->done_ms > enq ? (double)(batch->done_ms - enq) / 1e3 : 0);
    }
}

/* ---------------------------------------------------------------------------------- */
/* bisectOnError                                                                       */

static void bisect_push(hf_batch_t *batch, size_t first, size_t n)
{
    if (batch->bisect_n + 2 > batch->bisect_cap) {
        batch->bisect_cap = batch->bisect_cap ? batch->bisect_cap * 2 : 16;
        batch->bisect = hf_realloc(batch->bisect, batch->bisect_cap * sizeof(size_t));
    }
    batch->bisect[batch->bisect_n++] = first;
    batch->bisect[batch->bisect_n++] = n;
}

/* Split the range in halves, the first half to run next. */
static void bisect_split(hf_batch_t *batch, size_t first, size_t n)
{
    size_t half = n / 2;
    bisect_push(batch, first + half, n - half);
    bisect_push(batch, first, half);
}

/* With bisectOnError and cardinality many, a run whose handler raised on more than one
   event is split in halves run one after the other (keeping their order), and so on until
   the events that fail stand alone; events in parts that succeed are done, their outputs
   kept. 1 when the batch went back to the runner, 0 when it goes on to its outputs and
   finalize (event_failed then marks the events that failed alone). */
static int bisect_step(hf_pipeline_t *pl, hf_lane_t *lane, hf_batch_t *batch)
{
    if (!pl->env.app->host.bisect_on_error || batch->fn->trigger.cardinality != HF_CARD_MANY ||
        batch->bisected || lane->draining)
        return 0;
    size_t first = batch->range_n ? batch->range_first : 0;
    size_t n = batch->range_n ? batch->range_n : batch->events_n;
    int raised = batch->failed_invocations > 0;
    if (!batch->range_n && !batch->bisect_n) {
        /* the whole batch ran */
        if (!raised || n < 2)
            return 0;
        free(batch->event_failed);
        batch->event_failed = hf_calloc(batch->events_n, 1);
        hf_log_ctx_t ctx;
        log_ctx_for(lane, &ctx);
        ctx.first_offset = batch->events[0].offset;
        ctx.last_offset = batch->events[n - 1].offset;
        hf_log_ctx(HF_LOG_WARN, &ctx, "invocation failed on hub %s partition %d offsets "
                   "%lld-%lld (%zu events); bisecting to find the events that fail: %s",
                   lane->src.hub, (int)lane->partition, (long long)ctx.first_offset,
                   (long long)ctx.last_offset, n, batch->error ? batch->error : "unknown error");
        bisect_split(batch, 0, n);
    } else if (raised && n > 1) {
        memset(batch->event_failed + first, 0, n);
        bisect_split(batch, first, n);
    } else if (raised && batch->error) {
        /* an event failed alone: its own error goes with it (dead-letter headers) */
        if (!batch->event_error) {
            batch->event_error = hf_calloc(batch->events_n, sizeof(char *));
            batch->event_error_n = batch->events_n;
        }
        free(batch->event_error[first]);
        batch->event_error[first] = hf_strdup(batch->error);
        if (!batch->bisect_error)
            batch->bisect_error = hf_strdup(batch->error);
    }
    if (!batch->bisect_n) {
        /* every part ran */
        batch->bisected = 1;
        batch->range_first = batch->range_n = 0;
        int any = 0;
        for (size_t i = 0; i < batch->events_n; i++)
            any |= batch->event_failed[i];
        batch->status = any ? HF_BATCH_FAILED : HF_BATCH_OK;
        if (batch->bisect_error) {
            free(batch->error);
            batch->error = batch->bisect_error;
            batch->bisect_error = NULL;
        }
        return 0;
    }
    batch->range_n = batch->bisect[--batch->bisect_n];
    batch->range_first = batch->bisect[--batch->bisect_n];
    /* a fresh run of that part */
    batch->status = HF_BATCH_OK;
    free(batch->error);
    batch->error = NULL;
    batch->invocations = batch->failed_invocations = 0;
    batch->failed_marked = 0;
    batch->stage = ST_RUNNING;
    pl->env.runner.submit(pl->env.runner.ud, lane->worker, batch);
    return 1;
}

void hf_pipeline_complete(hf_pipeline_t *pl, hf_batch_t *batch)
{
    hf_lane_t *lane = batch->owner;
    if (pl->closing) {
        hf_batch_free(batch);
        return;
    }
    record_run(pl, batch);
    if (lane->generation != batch->generation || !lane->open) {
        hf_batch_free(batch);    /* revoked meanwhile: the new owner runs these again */
        if (pl->env.progress)
            pl->env.progress(pl->env.ud);
        return;
    }
    if (bisect_step(pl, lane, batch))
        return;
    if (batch->outputs_n > 0) {
        batch->stage = ST_DELIVERING;
        deliver(pl, batch);
        return;
    }
    finalize(pl, batch);
}

/* ---------------------------------------------------------------------------------- */
/* Failures                                                                            */

static int event_failed(const hf_batch_t *batch, size_t i)
{
    return batch->delivery_failed || !batch->event_failed || batch->event_failed[i];
}

/* Delay before retry number `attempt` (1 = the first retry) of the policy, in seconds. */
static double retry_delay_s(const hf_retry_t *r, int attempt)
{
    if (r->strategy == HF_RETRY_FIXED_DELAY)
        return (double)r->delay_ms / 1000.0;
    double ms = (double)r->min_interval_ms;
    for (int i = 1; i < attempt && ms < (double)r->max_interval_ms; i++)
        ms *= 2;
    if (ms > (double)r->max_interval_ms)
        ms = (double)r->max_interval_ms;
    /* A little randomness, as Azure adds, so retrying instances do not beat in step. */
    ms *= 0.9 + 0.2 * ((double)(hf_mono_us() % 1000) / 1000.0);
    return ms / 1000.0;
}

/* Replace `old` by `now` in the lane's list of batches (the slot stays taken). */
static void swap_batch(hf_lane_t *lane, hf_batch_t *old, hf_batch_t *now)
{
    for (hf_batch_t **pp = &lane->batches; *pp; pp = &(*pp)->lane_next) {
        if (*pp == old) {
            now->lane_next = old->lane_next;
            *pp = now;
            old->lane_next = NULL;
            return;
        }
    }
}

static void on_retry_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    hf_batch_t *batch = w->data;
    hf_lane_t *lane = batch->owner;
    batch->stage = ST_RUNNING;
    lane->pl->env.runner.submit(lane->pl->env.runner.ud, lane->worker, batch);
}

/* The range of the failed events of a batch, and how many they are. */
static size_t failed_range(const hf_batch_t *batch, int64_t *first, int64_t *last)
{
    size_t n = 0;
    *first = *last = -1;
    for (size_t i = 0; i < batch->events_n; i++) {
        if (!event_failed(batch, i))
            continue;
        if (n++ == 0)
            *first = batch->events[i].offset;
        *last = batch->events[i].offset;
    }
    return n;
}

/* Move the failed events of the batch into a new batch run again after the policy's delay;
   the others are done. The slot stays taken and the failed events keep their ordering keys:
   the partition's next events wait (with partitionConcurrency 1), or those of their keys. */
static void schedule_retry(hf_lane_t *lane, hf_batch_t *batch)
{
    hf_pipeline_t *pl = lane->pl;
    const hf_retry_t *policy = &lane->fn->retry;
    hf_batch_t *rb = hf_batch_new(batch->events_n);
    size_t kept = 0;
    for (size_t i = 0; i < batch->events_n; i++) {
        if (event_failed(batch, i))
            rb->events[rb->events_n++] = batch->events[i];
        else
            batch->events[kept++] = batch->events[i];
    }
    batch->events_n = kept;
    hf_series_add(lane->m_processed, (double)kept);
    for (size_t i = 0; i < kept; i++) {
        resolve_seq(lane, batch->events[i].seq);
        unbusy(lane, batch, i);
    }
    rb->keyed = batch->keyed;
    rb->fn = batch->fn;
    rb->fn_index = batch->fn_index;
    rb->hub = batch->hub;
    rb->partition = batch->partition;
    rb->owner = lane;
    rb->generation = batch->generation;
    rb->retry_count = batch->retry_count + 1;
    rb->max_retry_count = policy->max_retry_count;
    rb->stage = ST_WAITING;
    double delay = retry_delay_s(policy, rb->retry_count);
    hf_log_ctx_t ctx;
    log_ctx_for(lane, &ctx);
    hf_trace_log_ctx(hf_trace_batch_span(batch), &ctx);
    ctx.first_offset = rb->events[0].offset;
    ctx.last_offset = rb->events[rb->events_n - 1].offset;
    char of[32];
    if (policy->max_retry_count < 0)
        snprintf(of, sizeof(of), "unlimited");
    else
        snprintf(of, sizeof(of), "%d", policy->max_retry_count);
    hf_log_ctx(HF_LOG_WARN, &ctx, "invocation failed on hub %s partition %d offsets %lld-%lld "
               "(%zu event%s); retry %d of %s in %.1f s: %s", lane->src.hub, (int)lane->partition,
               (long long)ctx.first_offset, (long long)ctx.last_offset, rb->events_n,
               rb->events_n == 1 ? "" : "s",
               rb->retry_count, of, delay, batch->error ? batch->error : "unknown error");
    pl->stats.retries++;
    hf_series_add(pl->fm[lane->fn_index].retries, 1);
    swap_batch(lane, batch, rb);
    hf_batch_free(batch);
    advance(lane);
    ev_timer_init(&rb->timer, on_retry_timer, delay, 0);
    rb->timer.data = rb;
    ev_timer_start(pl->env.loop, &rb->timer);
}

static int can_retry(const hf_lane_t *lane, const hf_batch_t *batch)
{
    const hf_retry_t *r = &lane->fn->retry;
    return r->strategy != HF_RETRY_NONE &&
           (r->max_retry_count < 0 || batch->retry_count < r->max_retry_count);
}

/* The batch's handler returned and its outputs were delivered: resolve it, retry its failed
   events, or send them to the dead-letter binding. */
static void finalize(hf_pipeline_t *pl, hf_batch_t *batch)
{
    hf_lane_t *lane = batch->owner;
    int failed = batch->status != HF_BATCH_OK || batch->delivery_failed;
    pl->stats.outputs += batch->delivered;
    if (lane->generation != batch->generation || !lane->open) {
        hf_batch_free(batch);    /* revoked meanwhile: the new owner runs these again */
        if (pl->env.progress)
            pl->env.progress(pl->env.ud);
        return;
    }
    if (failed && pl->env.failed && pl->env.failed(pl->env.ud)) {
        /* Stopping on a failure waiting cannot fix (an output's credentials or rights):
           the batch is not resolved, so it runs again once that is fixed. */
        release(lane, batch, 0);
        return;
    }
    if (failed && can_retry(lane, batch)) {
        if (lane->draining) {
            /* The host stops: a retry is not run now. The events stay unresolved and the
               next start runs them again. */
            release(lane, batch, 0);
            return;
        }
        schedule_retry(lane, batch);
        return;
    }
    pl->stats.batches++;
    if (!failed) {
        hf_series_add(lane->m_processed, (double)batch->events_n);
        release(lane, batch, 1);
        return;
    }
    hf_log_ctx_t ctx;
    log_ctx_for(lane, &ctx);
    hf_trace_log_ctx(hf_trace_batch_span(batch), &ctx);
    size_t n = failed_range(batch, &ctx.first_offset, &ctx.last_offset);
    hf_series_add(lane->m_processed, (double)(batch->events_n - n));
    hf_series_add(lane->m_failed, (double)n);
    pl->stats.failed_batches++;
    pl->stats.failed_events += n;
    char tries[64] = "";
    if (batch->retry_count > 0)
        snprintf(tries, sizeof(tries), " after %d retr%s", batch->retry_count,
                 batch->retry_count == 1 ? "y" : "ies");
    const hf_function_t *fn = lane->fn;
    if (fn->dead_letter >= 0) {
        char what[300];
        hf_log_ctx(HF_LOG_ERROR, &ctx,
                   "invocation failed on hub %s partition %d offsets %lld-%lld (%zu event%s)%s;"
                   " sending %s to dead-letter %s: %s", lane->src.hub, (int)lane->partition,
                   (long long)ctx.first_offset, (long long)ctx.last_offset, n, n == 1 ? "" : "s",
                   tries, n == 1 ? "it" : "them",
                   hf_binding_describe(&fn->outputs[fn->dead_letter], what, sizeof(what)),
                   batch->error ? batch->error : "unknown error");
        dead_letter(lane, batch);
        return;
    }
    hf_log_ctx(HF_LOG_ERROR, &ctx,
               "invocation failed on hub %s partition %d offsets %lld-%lld (%zu event%s)%s; "
               "the checkpoint moves past it: %s", lane->src.hub, (int)lane->partition,
               (long long)ctx.first_offset, (long long)ctx.last_offset, n, n == 1 ? "" : "s",
               tries,
               batch->error ? batch->error : "unknown error");
    release(lane, batch, 1);
}

/* ---------------------------------------------------------------------------------- */
/* The dead-letter binding                                                             */

static void on_dead_letter_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    hf_batch_t *batch = w->data;
    dead_letter(batch->owner, batch);
}

/* A dead-letter message must fit the largest event a hub takes (host.json maxEventBytes,
   Event Hubs' 1 MB): an event that does not is sent with its body cut to fit and headers
   saying so, rather than refused again and again; the whole event stays in the input hub
   at its offset for as long as the hub keeps it. */
static void fit_dead_letter(hf_lane_t *lane, hf_output_t *out)
{
    size_t limit = (size_t)lane->pl->env.app->host.max_event_bytes, over = out->key_len;
    for (size_t h = 0; h < out->headers_n; h++)
        over += strlen(out->headers[h].name) + out->headers[h].value_len + 8;
    over += 128;                 /* the headers added below, and record overhead */
    if (!limit || out->body_len + over <= limit)
        return;
    size_t keep = limit > over ? limit - over : 0;
    char num[32];
    snprintf(num, sizeof(num), "%zu", out->body_len);
    hf_output_add_header(out, "hubfn-truncated", "true", 4);
    hf_output_add_header(out, "hubfn-original-bytes", num, strlen(num));
    hf_log_ctx_t ctx;
    log_ctx_for(lane, &ctx);
    hf_log_ctx(HF_LOG_WARN, &ctx, "an event of %s bytes is larger than a dead-letter message "
               "may be (maxEventBytes %zu): its first %zu bytes are sent, with "
               "hubfn-truncated: true; the whole event stays in hub %s", num, limit, keep,
               lane->src.hub ? lane->src.hub : "?");
    out->body_len = keep;
}

/* Send the batch's failed events, unchanged, to the function's $deadLetter binding with
   their coordinates and the error in headers; they are resolved once it has them. */
static void dead_letter(hf_lane_t *lane, hf_batch_t *batch)
{
    hf_pipeline_t *pl = lane->pl;
    const hf_function_t *fn = lane->fn;
    char num[64], *error = batch->error ? hf_strdup(batch->error) : NULL;
    /* what a refused output answered (the dead-letter delivery itself must not change it) */
    int fail_binding = batch->fail_binding, fail_status = batch->fail_status;
    char *fail_response = batch->fail_response;
    batch->fail_response = NULL;
    batch->fail_binding = -1;
    hf_batch_clear_outputs(batch);
    /* Keep only the events being dead-lettered, so a later attempt sends the same ones; the
       others are done. */
    if (!batch->dead_lettering) {
        size_t kept = 0;
        for (size_t i = 0; i < batch->events_n; i++) {
            if (event_failed(batch, i)) {
                if (batch->inv_failures && kept != i) {
                    hf_inv_failure_t *f = &batch->inv_failures[i];
                    batch->inv_failures[kept] = *f;   /* that slot's event was done: empty */
                    memset(f, 0, sizeof(*f));
                }
                if (i < batch->event_error_n && kept != i) {   /* its own reason moves too */
                    free(batch->event_error[kept]);
                    batch->event_error[kept] = batch->event_error[i];
                    batch->event_error[i] = NULL;
                }
                batch->events[kept++] = batch->events[i];
            } else {
                resolve_seq(lane, batch->events[i].seq);
                unbusy(lane, batch, i);
                hf_event_release(&batch->events[i]);
            }
        }
        batch->events_n = kept;
        advance(lane);
    }
    batch->dead_lettering = 1;
    for (size_t i = 0; i < batch->events_n; i++) {
        const hf_event_t *ev = &batch->events[i];
        hf_output_t out = {0};
        out.binding = fn->dead_letter;
        out.body = hf_memdup(ev->payload, ev->len);
        out.body_len = ev->len;
        if (ev->key) {
            out.key = hf_memdup(ev->key, ev->key_len);
            out.key_len = ev->key_len;
        }
        for (size_t h = 0; h < ev->headers_n; h++)
            hf_output_add_header(&out, ev->headers[h].name,
                                 ev->headers[h].value ? ev->headers[h].value : "",
                                 ev->headers[h].value ? ev->headers[h].value_len : 0);
        const char *hub = lane->src.hub ? lane->src.hub : "";
        hf_output_add_header(&out, "hubfn-source-hub", hub, strlen(hub));
        snprintf(num, sizeof(num), "%d", (int)ev->partition);
        hf_output_add_header(&out, "hubfn-source-partition", num, strlen(num));
        snprintf(num, sizeof(num), "%lld", (long long)ev->offset);
        hf_output_add_header(&out, "hubfn-source-offset", num, strlen(num));
        const char *group = lane->src.group ? lane->src.group : "";
        hf_output_add_header(&out, "hubfn-consumer-group", group, strlen(group));
        hf_output_add_header(&out, "hubfn-function", fn->name, strlen(fn->name));
        snprintf(num, sizeof(num), "%d", batch->retry_count + 1);
        hf_output_add_header(&out, "hubfn-attempts", num, strlen(num));
        if (ev->enqueued_ms >= 0) {
            hf_log_time_iso(ev->enqueued_ms, num, sizeof(num));
            hf_output_add_header(&out, "hubfn-enqueued-time", num, strlen(num));
        }
        /* with cardinality one, what failed this event's own invocation; else the event's
           own reason (context.fail's), else the batch's error */
        const hf_inv_failure_t *f = i < batch->inv_failures_n && batch->inv_failures[i].error
                                        ? &batch->inv_failures[i] : NULL;
        const char *e = f ? f->error : error ? error : "unknown error";
        if (!f && i < batch->event_error_n && batch->event_error[i])
            e = batch->event_error[i];
        const char *nl = strchr(e, '\n');   /* the first line; the traceback stays in the log */
        hf_output_add_header(&out, "hubfn-error", e, nl ? (size_t)(nl - e) : strlen(e));
        int fb = f ? f->binding : fail_binding, fs = f ? f->status : fail_status;
        const char *fr = f ? f->response : fail_response;
        if (fb >= 0) {
            /* an output the other end refused: which one, and what it answered */
            const char *bn = fn->outputs[fb].name;
            hf_output_add_header(&out, "hubfn-failed-binding", bn, strlen(bn));
            if (fs > 0) {
                snprintf(num, sizeof(num), "%d", fs);
                hf_output_add_header(&out, "hubfn-http-status", num, strlen(num));
            }
            if (fr)
                hf_output_add_header(&out, "hubfn-response", fr, strlen(fr));
        }
        fit_dead_letter(lane, &out);
        hf_batch_add_output(batch, &out);
    }
    free(batch->error);
    batch->error = error;
    /* kept for a later attempt's headers */
    batch->fail_binding = fail_binding;
    batch->fail_status = fail_status;
    batch->fail_response = fail_response;
    batch->stage = ST_DEAD_LETTERING;
    deliver(pl, batch);
}

/* The dead-letter binding answered for the batch. */
static void dead_lettered(hf_pipeline_t *pl, hf_batch_t *batch)
{
    hf_lane_t *lane = batch->owner;
    const hf_function_t *fn = lane->fn;
    char what[300];
    if (lane->generation != batch->generation || !lane->open) {
        hf_batch_free(batch);
        if (pl->env.progress)
            pl->env.progress(pl->env.ud);
        return;
    }
    hf_log_ctx_t ctx;
    log_ctx_for(lane, &ctx);
    hf_trace_log_ctx(hf_trace_batch_span(batch), &ctx);
    ctx.first_offset = batch->events[0].offset;
    ctx.last_offset = batch->events[batch->events_n - 1].offset;
    hf_binding_describe(&fn->outputs[fn->dead_letter], what, sizeof(what));
    if (batch->delivery_failed || batch->delivered < batch->outputs_n) {
        if (pl->env.failed && pl->env.failed(pl->env.ud)) {
            release(lane, batch, 0);
            return;
        }
        /* Nothing is dropped: the partition waits and the events are offered again. */
        const char *why = batch->delivery_error ? strstr(batch->delivery_error,
                                                         " was not delivered: ") : NULL;
        hf_log_ctx(HF_LOG_ERROR, &ctx, "dead-letter %s did not take %zu event%s; trying again "
                   "in %g s: %s", what, batch->outputs_n - batch->delivered,
                   batch->outputs_n - batch->delivered == 1 ? "" : "s",
                   pl->env.dead_letter_backoff_s, why ? why + 20 : "unknown error");
        batch->stage = ST_DEAD_LETTER_WAITING;
        ev_timer_init(&batch->timer, on_dead_letter_timer, pl->env.dead_letter_backoff_s, 0);
        batch->timer.data = batch;
        ev_timer_start(pl->env.loop, &batch->timer);
        return;
    }
    pl->stats.dead_lettered += batch->outputs_n;
    hf_series_add(pl->fm[lane->fn_index].dead_lettered, (double)batch->outputs_n);
    hf_log_ctx(HF_LOG_WARN, &ctx, "%zu event%s of hub %s partition %d offsets %lld-%lld sent "
               "to dead-letter %s after %d attempt%s", batch->outputs_n,
               batch->outputs_n == 1 ? "" : "s", lane->src.hub,
               (int)lane->partition, (long long)ctx.first_offset, (long long)ctx.last_offset,
               what, batch->retry_count + 1, batch->retry_count ? "s" : "");
    release(lane, batch, 1);
}

/* ---------------------------------------------------------------------------------- */
/* Waiting for revoked partitions                                                      */

int hf_pipeline_settle(hf_pipeline_t *pl, hf_lane_t *const *lanes, size_t n, int timeout_ms)
{
    int64_t deadline = hf_mono_us() + (int64_t)timeout_ms * 1000;
    const hf_app_t *app = pl->env.app;
    for (;;) {
        int busy = 0;
        for (size_t i = 0; i < n && !busy; i++)
            busy = lanes[i] && lanes[i]->open && hf_lane_running(lanes[i]) > 0;
        if (!busy)
            return 0;
        if (hf_mono_us() > deadline || (pl->env.abandoned && pl->env.abandoned(pl->env.ud)))
            return -1;
        /* serve output deliveries of every type the app uses */
        for (size_t f = 0; f < app->functions_n; f++) {
            const hf_function_t *fn = &app->functions[f];
            for (size_t o = 0; !fn->disabled && o < fn->outputs_n; o++) {
                const hf_binding_type_t *type = fn->outputs[o].type;
                void *state = type ? pl->env.type_state(pl->env.ud, type) : NULL;
                if (state && type->poll)
                    type->poll(state, 0);
            }
        }
        hf_batch_t *done = pl->env.runner.wait ? pl->env.runner.wait(pl->env.runner.ud,
                                                                     pl->delivering ? 20 : 100)
                                               : NULL;
        while (done) {
            hf_batch_t *next = done->next;
            done->next = NULL;
            hf_pipeline_complete(pl, done);
            done = next;
        }
    }
}

void hf_pipeline_stats(const hf_pipeline_t *pl, hf_host_stats_t *add)
{
    add->batches += pl->stats.batches;
    add->failed_batches += pl->stats.failed_batches;
    add->failed_events += pl->stats.failed_events;
    add->outputs += pl->stats.outputs;
    add->retries += pl->stats.retries;
    add->dead_lettered += pl->stats.dead_lettered;
}

size_t hf_pipeline_delivering(const hf_pipeline_t *pl)
{
    return pl->delivering;
}
