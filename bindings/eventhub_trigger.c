/*
 * The eventHubTrigger binding type: one librdkafka high-level consumer per function, in the
 * function's consumer group, woken through an fd on the libev loop. It fetches each
 * partition into a queue of its own (prefetchCount events), hands events to the partition's
 * lane in the pipeline (runtime/pipeline.h), which batches and runs them, and commits the
 * offsets the lane acknowledges (every batchCheckpointFrequency acknowledgements, on a
 * revoke, and at stop).
 *
 * Thread: the loop thread.
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
#include "datetime.h"
#include "eventhub.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"

typedef struct consumer consumer_t;

/* One partition of a function's input hub. Kept (unassigned) after a revoke. */
typedef struct part {
    consumer_t *c;
    int32_t id;
    hf_lane_t *lane;
    int assigned;
    int revoking;
    int64_t next_offset;         /* next offset expected from the broker, -1 unknown */
    int64_t acked_offset;        /* where the lane says the checkpoint may move, -1 none */
    int64_t committed_offset;    /* last offset committed, -1 none */
    int acks_since_commit;
    int commit_due;              /* batchCheckpointFrequency acknowledgements since the last
                                    commit: goes in the consumer's next commit */
    int paused;
    int held;                    /* holds binding types put on it (hf_core_partition_assigned):
                                    nothing is taken from its queue until they are released
                                    (fetching goes on up to prefetchCount; a pause would
                                    drop what was fetched, the end-of-partition event too) */
    int eof;
    rd_kafka_queue_t *queue;     /* the partition's own fetch queue (prefetchCount events) */
    int queue_full;              /* seen holding prefetchCount events: fetching may idle */
    int64_t seek_offset;         /* where take_from_queue last restarted fetching, -1 */
    size_t peak_queued;          /* the most its queue held since it was last empty: what
                                    the fetch responses it holds come to, roughly */
    int budget_paused;           /* paused with an empty queue while the other partitions
                                    held the fetch budget; resumed in turn (budget_resume) */
    uint64_t budget_turn;        /* when it was, to resume the longest waiting first */
    int budget_resumed;          /* resumed for the budget, nothing fetched since: counts as
                                    prefetchCount events */
    int taking;                  /* take_from_queue is running */
    int64_t resume_offset;       /* the group's checkpoint when assigned, until the first
                                    event shows where fetching really starts; -1 */
    int64_t position;            /* next offset to be handed over, for the lag gauge; -1 */
    int64_t checkpoint;          /* the group's committed offset as last known, for the
                                    checkpoint lag gauge; -1 none */
    struct {                     /* the enqueued times of the events handed over and not yet
                                    checkpointed, oldest first, for the lag in seconds (kept
                                    only while metrics are on); a ring */
        struct lag_entry { int64_t offset, ms; } *e;
        size_t head, n, cap;
    } unckpt;
    hf_series_t *m_received, *m_lag, *m_lag_s, *m_resets, *m_ck_lag;
} part_t;

/* The trigger of one function. */
struct consumer {
    hf_core_t *core;
    int fn_index;
    const hf_function_t *fn;
    const hf_eventhub_cfg_t *cfg;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    ev_async wake;               /* a queue of the consumer turned non-empty */
    ev_timer tick;
    ev_timer commit_timer;       /* the next commit of the partitions due */
    int64_t commit_sent_us;      /* when the last asynchronous commit was sent */
    int commit_inflight;         /* an asynchronous commit waits for its answer */
    int commit_due;              /* a partition is due */
    int closing;                 /* consumer_close began: nothing more is started */
    part_t **parts;
    int32_t parts_cap;
    int assigned_once;
    int had_partitions;
    int stopping;
    int64_t last_broker_warn_us;
    uint64_t events;
    size_t avg_len;              /* the events' average size, payload, key and overhead */
    uint64_t budget_turns;
    int in_pass;                 /* consume() is serving every partition in turn: */
    int held_known;              /* held and held_parts are queued_bytes()'s answer, until */
    size_t held, held_parts;     /* a queue, an average or a resumed partition changes */
    int brokers_down;            /* every broker unreachable, and no sign of life since */
    struct {                     /* metric series (NULL when metrics are off) */
        hf_series_t *commits, *commit_failures, *assigned;
    } m;
    char conn_desc[256];
};

/* The type's instance: every function's trigger. */
typedef struct triggers {
    hf_core_t *core;
    consumer_t **c;
    size_t n;
} triggers_t;

static void take_from_queue(part_t *part);
static rd_kafka_resp_err_t commit_bounded(consumer_t *c, rd_kafka_topic_partition_list_t *list,
                                          int timeout_ms);

static const hf_host_cfg_t *host_cfg(const consumer_t *c)
{
    return &hf_core_app(c->core)->host;
}

static part_t *part_get(consumer_t *c, int32_t id)
{
    if (id < 0)
        return NULL;
    if (id >= c->parts_cap) {
        int32_t cap = c->parts_cap ? c->parts_cap : 8;
        while (cap <= id)
            cap *= 2;
        c->parts = hf_realloc(c->parts, (size_t)cap * sizeof(*c->parts));
        memset(c->parts + c->parts_cap, 0, (size_t)(cap - c->parts_cap) * sizeof(*c->parts));
        c->parts_cap = cap;
    }
    if (!c->parts[id]) {
        part_t *part = hf_calloc(1, sizeof(*part));
        part->c = c;
        part->id = id;
        part->next_offset = part->acked_offset = part->committed_offset = -1;
        part->resume_offset = part->position = part->checkpoint = -1;
        hf_metrics_t *reg = hf_core_metrics(c->core);
        char num[16];
        snprintf(num, sizeof(num), "%d", (int)id);
        part->m_received = hf_metric_series(hf_metrics_get(reg, HF_M_EVENTS_RECEIVED),
                                            c->fn->name, num);
        part->m_lag = hf_metric_series(hf_metrics_get(reg, HF_M_CONSUMER_LAG), c->fn->name, num);
        part->m_lag_s = hf_metric_series(hf_metrics_get(reg, HF_M_CONSUMER_LAG_SECONDS),
                                         c->fn->name, num);
        part->m_resets = hf_metric_series(hf_metrics_get(reg, HF_M_OFFSET_RESETS), c->fn->name,
                                          num);
        part->m_ck_lag = hf_metric_series(hf_metrics_get(reg, HF_M_CHECKPOINT_LAG), c->fn->name,
                                          num);
        c->parts[id] = part;
    }
    return c->parts[id];
}

/* An event was handed to the lane: remember its enqueued time until it is checkpointed. */
static void unckpt_push(part_t *part, int64_t offset, int64_t ms)
{
    if (!part->m_lag_s)
        return;
    if (part->unckpt.n == part->unckpt.cap) {
        size_t cap = part->unckpt.cap ? part->unckpt.cap * 2 : 256;
        struct lag_entry *e = hf_malloc(cap * sizeof(*e));
        for (size_t i = 0; i < part->unckpt.n; i++)
            e[i] = part->unckpt.e[(part->unckpt.head + i) % part->unckpt.cap];
        free(part->unckpt.e);
        part->unckpt.e = e;
        part->unckpt.cap = cap;
        part->unckpt.head = 0;
    }
    struct lag_entry *slot =
        &part->unckpt.e[(part->unckpt.head + part->unckpt.n++) % part->unckpt.cap];
    slot->offset = offset;
    slot->ms = ms;
}

/* The broker took a checkpoint at `offset`: the events before it are checkpointed. */
static void unckpt_done(part_t *part, int64_t offset)
{
    while (part->unckpt.n > 0 && part->unckpt.e[part->unckpt.head].offset < offset) {
        part->unckpt.head = (part->unckpt.head + 1) % part->unckpt.cap;
        part->unckpt.n--;
    }
}

/* The lag in seconds of an owned partition: now minus the enqueued time of its oldest event
   not yet checkpointed; 0 when every event up to the high watermark hi is checkpointed;
   -1 when that is unknown (events wait in the hub that were not fetched yet, or the oldest
   has no timestamp). */
static double unckpt_lag_seconds(const part_t *part, int64_t pos, int64_t hi)
{
    if (part->unckpt.n > 0) {
        int64_t ms = part->unckpt.e[part->unckpt.head].ms;
        if (ms < 0)
            return -1;
        int64_t now = hf_now_ms();
        return now > ms ? (double)(now - ms) / 1000.0 : 0;
    }
    return hi >= 0 && pos >= hi ? 0 : -1;
}

/* Pause or resume fetching one partition. */
static void set_paused(part_t *part, int paused)
{
    consumer_t *c = part->c;
    if (part->paused == paused)
        return;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, c->cfg->hub, part->id);
    rd_kafka_resp_err_t err = paused ? rd_kafka_pause_partitions(c->rk, list)
                                     : rd_kafka_resume_partitions(c->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (!err)
        part->paused = paused;
}

/* Asynchronous commits of one function are at least this far apart: a resolved batch's
   checkpoint is committed within this time, together with every other partition due. A
   commit per batch cost a request to the broker (Event Hubs counts them against the
   namespace's throughput) and four thread wake-ups in librdkafka and this loop, per batch:
   at 10,000 events/s, in the small batches such a rate arrives in, a third of hubfn's CPU. */
#define COMMIT_INTERVAL_US 100000

/* Commit the offsets the lanes acknowledged, of every partition due, in one asynchronous
   request. At most one such request is in flight: partitions due meanwhile go in the next
   one, sent when its answer came (commit_cb) and COMMIT_INTERVAL_US after this one. */
static void commit_due(consumer_t *c)
{
    if (!c->commit_due || c->commit_inflight || !c->rk || c->closing)
        return;
    c->commit_due = 0;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    for (int32_t i = 0; i < c->parts_cap; i++) {
        part_t *part = c->parts[i];
        if (!part || !part->commit_due)
            continue;
        part->commit_due = 0;
        if (!part->assigned || part->revoking || part->acked_offset < 0 ||
            part->acked_offset == part->committed_offset)
            continue;
        rd_kafka_topic_partition_list_add(list, c->cfg->hub, part->id)->offset =
            part->acked_offset;
    }
    if (list->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(list);
        return;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, list, 1);
    if (err) {                   /* an async commit is counted by commit_cb */
        hf_series_add(c->m.commit_failures, list->cnt);
        hf_log_ctx_t ctx = HF_LOG_CTX_NONE;
        ctx.function = c->fn->name;
        hf_log_ctx(HF_LOG_WARN, &ctx, "checkpoint of %d partition%s failed: %s; it is retried "
                   "with the next one", list->cnt, list->cnt == 1 ? "" : "s",
                   rd_kafka_err2str(err));
    } else {
        c->commit_inflight = 1;
        c->commit_sent_us = hf_mono_us();
        for (int i = 0; i < list->cnt; i++) {
            part_t *part = part_get(c, list->elems[i].partition);
            part->committed_offset = list->elems[i].offset;
            part->acks_since_commit = 0;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

static void on_commit_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    commit_due(w->data);
}

/* Something is due: commit it once the last commit answered and COMMIT_INTERVAL_US passed
   since it was sent. */
static void schedule_commit(consumer_t *c)
{
    if (!c->commit_due || c->commit_inflight || c->closing || ev_is_active(&c->commit_timer))
        return;
    int64_t wait = c->commit_sent_us + COMMIT_INTERVAL_US - hf_mono_us();
    ev_timer_set(&c->commit_timer, wait > 0 ? (double)wait / 1e6 : 0, 0);
    ev_timer_start(hf_core_loop(c->core), &c->commit_timer);
}

/* A partition's checkpoint may move. */
static void want_commit(part_t *part)
{
    consumer_t *c = part->c;
    part->commit_due = 1;
    c->commit_due = 1;
    schedule_commit(c);
}

/* Events that arrived through the consumer queue (before the partition's own queue took
   over) are bounded by pausing the partition at prefetchCount plus a batch. */
static size_t prefetch_bound(const hf_host_cfg_t *cfg)
{
    return (size_t)(cfg->prefetch + cfg->max_batch);
}

/* The lane's callbacks. */
static void on_ack(void *ud, int64_t offset)
{
    part_t *part = ud;
    part->acked_offset = offset;
    if (++part->acks_since_commit >= host_cfg(part->c)->checkpoint_every)
        want_commit(part);
}

static void on_wake(void *ud)
{
    take_from_queue(ud);
}

static const hf_lane_ops_t lane_ops = {on_ack, on_wake};

/* Fetching started before the partition's checkpoint: the checkpoint is not in the hub any
   more (events expired, or the hub was deleted and created again). Say so once. */
static void check_resume(consumer_t *c, part_t *part, int64_t offset)
{
    if (part->resume_offset < 0)
        return;
    if (offset < part->resume_offset) {
        const char *where = host_cfg(c)->initial_offset == HF_OFFSET_FROM_END
                                ? "the newest event (initialOffsetOptions fromEnd)"
                                : "the oldest event still in the hub";
        hf_log_warn("function %s: hub %s partition %d: the checkpoint (offset %lld) is no "
                    "longer in the hub (events expired, or the hub was recreated); resumed "
                    "from %s, offset %lld", c->fn->name, c->cfg->hub, (int)part->id,
                    (long long)part->resume_offset, where, (long long)offset);
        hf_series_add(part->m_resets, 1);
    }
    part->resume_offset = -1;
}

/* Copy one message into an event for the lane: payload, key and headers in one block, so
   that the message (which pins its whole fetch response) is released at once. */
static void add_event(consumer_t *c, rd_kafka_message_t *rkm)
{
    part_t *part = part_get(c, rkm->partition);
    if (!part || !part->assigned || part->revoking || c->stopping ||
        (part->next_offset >= 0 && rkm->offset < part->next_offset)) {
        rd_kafka_message_destroy(rkm);
        return;
    }
    size_t len = rkm->payload ? rkm->len : 0, key_len = rkm->key ? rkm->key_len : 0;
    size_t hbytes = 0, hn = 0;
    rd_kafka_headers_t *hdrs = NULL;
    const char *name;
    const void *val;
    size_t size;
    if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
        for (; rd_kafka_header_get_all(hdrs, hn, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             hn++)
            hbytes += strlen(name) + 1 + (val ? size : 0) + 1;
    }
    hf_event_t ev;
    memset(&ev, 0, sizeof(ev));
    char *own = hf_malloc(len + key_len + 2 + hbytes);
    if (len)
        memcpy(own, rkm->payload, len);
    own[len] = 0;
    ev.own = own;
    ev.payload = own;
    ev.len = len;
    char *p = own + len + 1;
    if (rkm->key) {
        memcpy(p, rkm->key, key_len);
        p[key_len] = 0;
        ev.key = p;
        ev.key_len = key_len;
    }
    p += key_len + 1;
    if (hn) {
        ev.headers = hf_malloc(hn * sizeof(*ev.headers));
        for (size_t i = 0; i < hn; i++) {
            rd_kafka_header_get_all(hdrs, i, &name, &val, &size);
            size_t nl = strlen(name);
            memcpy(p, name, nl + 1);
            ev.headers[i].name = p;
            p += nl + 1;
            if (val) {
                memcpy(p, val, size);
                p[size] = 0;
                ev.headers[i].value = p;
                ev.headers[i].value_len = size;
                p += size + 1;
            } else {
                ev.headers[i].value = NULL;      /* a null header: false in Lua */
                ev.headers[i].value_len = 0;
            }
        }
        ev.headers_n = hn;
    }
    ev.partition = rkm->partition;
    ev.offset = rkm->offset;
    rd_kafka_timestamp_type_t tstype;
    ev.enqueued_ms = rd_kafka_message_timestamp(rkm, &tstype);
    ev.received_us = hf_mono_us();
    check_resume(c, part, rkm->offset);
    unckpt_push(part, rkm->offset, ev.enqueued_ms);
    part->next_offset = rkm->offset + 1;
    rd_kafka_message_destroy(rkm);
    part->position = part->next_offset;
    part->eof = 0;
    c->events++;
    hf_series_add(part->m_received, 1);
    hf_lane_push(part->lane, &ev);
    if (hf_lane_pending(part->lane) >= prefetch_bound(host_cfg(c)))
        set_paused(part, 1);
}

/* A failure waiting cannot fix: say what it means and stop the host. */
static void fail_permanently(consumer_t *c, rd_kafka_resp_err_t err, const char *reason)
{
    char why[1024], line[1200];
    hf_kafka_target_t target = {c->cfg->conn, c->cfg->hub, c->cfg->consumer_group, 0};
    snprintf(line, sizeof(line), "function %s: %s", c->fn->name,
             hf_kafka_describe(err, reason, &target, why, sizeof(why)));
    hf_core_fail(c->core, line);
}

static void handle_message_error(consumer_t *c, rd_kafka_message_t *rkm)
{
    part_t *part = rkm->rkt ? part_get(c, rkm->partition) : NULL;
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (part && part->assigned && (part->next_offset < 0 || rkm->offset >= part->next_offset)) {
            check_resume(c, part, rkm->offset);
            part->position = rkm->offset;
            part->eof = 1;
            hf_core_check(c->core);
        }
        return;
    }
    if (hf_kafka_error_is_permanent(rkm->err)) {
        fail_permanently(c, rkm->err, rd_kafka_message_errstr(rkm));
        return;
    }
    hf_log_warn("function %s: consumer: %s", c->fn->name, rd_kafka_message_errstr(rkm));
}

static void take_message(consumer_t *c, rd_kafka_message_t *rkm)
{
    if (!rkm->err || rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        c->brokers_down = 0;
    if (rkm->err) {
        handle_message_error(c, rkm);
        rd_kafka_message_destroy(rkm);
        return;
    }
    add_event(c, rkm);
}

/* A librdkafka thread put something in an empty queue of the consumer (with its lock
   held: once the callback is disabled it is not running). */
static void queue_event(rd_kafka_t *rk, void *opaque)
{
    (void)rk;
    consumer_t *c = opaque;
    ev_async_send(hf_core_loop(c->core), &c->wake);
}

/* Fetch into the partition's own queue, so prefetchCount bounds each partition without
   pausing it (a pause drops what was fetched beyond it, often a whole record batch, to be
   fetched again). Set up right after the assign, before fetching starts; the consumer
   queue path stays for any event that would arrive there first. */
static void part_queue_open(consumer_t *c, part_t *part)
{
    if (!part->queue) {
        part->queue = rd_kafka_queue_get_partition(c->rk, c->cfg->hub, part->id);
        if (!part->queue)
            return;
        rd_kafka_queue_cb_event_enable(part->queue, queue_event, c);
    }
    rd_kafka_queue_forward(part->queue, NULL);
}

static void part_queue_close(part_t *part)
{
    if (!part->queue)
        return;
    rd_kafka_queue_cb_event_enable(part->queue, NULL, NULL);
    rd_kafka_queue_destroy(part->queue);
    part->queue = NULL;
    part->queue_full = 0;
}

/* The fetch budget. A partition fetches whole record batches, and what it fetched stays in
   memory, the whole fetch response with it, until its queue has handed over the last event
   of it: with record batches larger than prefetchCount events (a 1 MB batch holds about 1500
   AEP payloads) every partition would hold one or two, 32-64 MB on 32 partitions. So the
   consumer's queues together hold at most twice what prefetchCount asks of each
   (prefetchCount times the events' average size, times the partitions, times 2), and at
   least 4 MB: a partition whose queue drains while the others hold that much stops
   fetching, and fetches again, the longest waiting first, once they hold less. Once (not
   twice) cost a tenth to a sixth of the events/s on 1 MB record batches for 7-11 MB less
   (docs/performance.md). With record batches of far fewer than prefetchCount events it does
   not bind: each queue then stays near prefetchCount events. */
static size_t one_share(const consumer_t *c)
{
    const hf_host_cfg_t *cfg = host_cfg(c);
    return (size_t)(cfg->prefetch > 0 ? cfg->prefetch : 1) * c->avg_len;
}

static size_t queued_bytes(consumer_t *c, size_t *parts)
{
    /* one pass over the partitions serves every idle one without a scan each */
    if (c->in_pass && c->held_known) {
        *parts = c->held_parts;
        return c->held;
    }
    size_t n = 0, held = 0;
    for (int32_t i = 0; i < c->parts_cap; i++) {
        const part_t *part = c->parts[i];
        if (!part || !part->assigned || !part->queue)
            continue;
        n++;
        held += part->peak_queued ? part->peak_queued * c->avg_len
                                  : part->budget_resumed ? one_share(c) : 0;
    }
    *parts = c->held_parts = n;
    c->held = held;
    c->held_known = c->in_pass;
    return held;
}

static size_t fetch_budget(const consumer_t *c, size_t parts)
{
    size_t want = one_share(c) * parts * 2;
    return want > ((size_t)4 << 20) ? want : (size_t)4 << 20;
}

static int over_budget(consumer_t *c)
{
    size_t parts, held = queued_bytes(c, &parts);
    return held >= fetch_budget(c, parts);
}

/* Partitions stopped for the budget fetch again, the longest waiting first, while the
   queues hold less than it; each counts as prefetchCount events until its events come. */
static void budget_resume(consumer_t *c)
{
    if (c->stopping || c->closing)
        return;
    size_t parts, held = queued_bytes(c, &parts), budget = fetch_budget(c, parts);
    while (held < budget) {
        part_t *next = NULL;
        for (int32_t i = 0; i < c->parts_cap; i++) {
            part_t *part = c->parts[i];
            if (part && part->assigned && !part->revoking && part->budget_paused &&
                (!next || part->budget_turn < next->budget_turn))
                next = part;
        }
        if (!next)
            return;
        next->budget_paused = 0;
        next->budget_resumed = 1;
        c->held_known = 0;
        set_paused(next, 0);
        held += one_share(c);
    }
}

/* Take what the lane has room for from the partition's queue, then let it dispatch.
   librdkafka 2.0 stops fetching a partition whose queue holds prefetchCount events and
   looks again only when its broker thread wakes, at worst a second later; when every
   partition is full nothing wakes it. So a partition seen full and now drained is
   restarted at its position (a seek to where fetching stands, which drops nothing: its
   queue is empty). Once per position: the queue's length counts what is not an event too
   (a fetch the seek made stale, librdkafka's markers, the end of the partition), so with
   prefetchCount 1 each seek would bring on the next, and librdkafka's main thread and this
   loop would spin without fetching anything. */
static void take_from_queue(part_t *part)
{
    consumer_t *c = part->c;
    const hf_host_cfg_t *cfg = host_cfg(c);
    if (!part->assigned || part->revoking || c->stopping || part->taking || part->held > 0)
        return;
    part->taking = 1;
    if (part->queue) {
        size_t queued = rd_kafka_queue_length(part->queue);
        if (queued > 0 || part->peak_queued > 0)
            c->held_known = 0;   /* what this partition holds changes */
        if (queued >= (size_t)(cfg->prefetch > 0 ? cfg->prefetch : 1))
            part->queue_full = 1;
        if (queued > part->peak_queued)
            part->peak_queued = queued;
        if (queued > 0)
            part->budget_resumed = 0;
        rd_kafka_message_t *msgs[256];
        size_t room;
        while (queued > 0 && (room = hf_lane_room(part->lane)) > 0) {
            ssize_t n = rd_kafka_consume_batch_queue(part->queue, 0, msgs,
                                                     room < 256 ? room : 256);
            if (n <= 0)
                break;
            for (ssize_t i = 0; i < n; i++) {
                if (!msgs[i]->err)
                    c->avg_len = (c->avg_len * 63 + msgs[i]->len + msgs[i]->key_len + 96) / 64;
                take_message(c, msgs[i]);
            }
            queued = rd_kafka_queue_length(part->queue);
        }
        if (queued == 0) {
            part->peak_queued = 0;
            if (!part->paused && part->next_offset >= 0 && over_budget(c)) {
                /* the others hold the budget: this one waits, its queue empty (a pause
                   drops nothing then but a fetch on its way, fetched again on resume) */
                part->budget_paused = 1;
                part->budget_turn = ++c->budget_turns;
                part->queue_full = 0;
                set_paused(part, 1);
            } else {
                budget_resume(c);
            }
        }
        if (part->queue_full && queued == 0 && part->next_offset >= 0 &&
            part->next_offset != part->seek_offset) {
            part->queue_full = 0;
            part->seek_offset = part->next_offset;
            rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(list, c->cfg->hub, part->id)->offset =
                part->next_offset;
            rd_kafka_error_t *error = rd_kafka_seek_partitions(c->rk, list, 0);
            if (error)
                rd_kafka_error_destroy(error);
            rd_kafka_topic_partition_list_destroy(list);
        }
    }
    if (part->paused && !part->budget_paused &&
        hf_lane_pending(part->lane) <= prefetch_bound(cfg) / 2)
        set_paused(part, 0);
    part->taking = 0;
    if (part->assigned && !part->revoking && !c->stopping)
        hf_lane_pushed(part->lane, part->eof);
}

/* Serve the consumer queue (rebalances, errors, and events fetched before a partition's own
   queue took over), then each partition. */
static void consume(consumer_t *c)
{
    rd_kafka_message_t *rkm;
    while (c->rk && (rkm = rd_kafka_consumer_poll(c->rk, 0)) != NULL)
        take_message(c, rkm);
    c->in_pass = 1;
    c->held_known = 0;
    for (int32_t i = 0; i < c->parts_cap; i++)
        if (c->parts[i] && c->parts[i]->assigned)
            take_from_queue(c->parts[i]);
    c->in_pass = 0;
}

static void on_queue(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    consume(w->data);
}

/* A slow tick serves the consumer even if a wake-up were missed. */
static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    consume(w->data);
}

static void part_assign(consumer_t *c, int32_t id)
{
    part_t *part = part_get(c, id);
    part->assigned = 1;
    part->revoking = 0;
    part->paused = 0;
    part->eof = 0;
    part->next_offset = part->acked_offset = part->committed_offset = -1;
    part->resume_offset = part->seek_offset = -1;
    part->peak_queued = 0;
    part->budget_paused = part->budget_resumed = 0;
    part->position = -1;
    part->checkpoint = -1;
    part->acks_since_commit = 0;
    part->unckpt.head = part->unckpt.n = 0;
    part->lane = hf_pipeline_lane(hf_core_pipeline(c->core), c->fn_index, id);
    hf_lane_source_t src = {c->cfg->hub, c->cfg->consumer_group};
    hf_lane_open(part->lane, &src, &lane_ops, part);
    /* (a type may release its hold at once: count from 0 either way) */
    part->held = 0;
    part->held += hf_core_partition_assigned(c->core, c->fn_index, id);
}

static void part_revoke(consumer_t *c, int32_t id)
{
    part_t *part = id < c->parts_cap ? c->parts[id] : NULL;
    if (!part || !part->assigned)
        return;
    hf_lane_close(part->lane);
    part_queue_close(part);
    part->assigned = 0;
    part->revoking = 0;
    part->eof = 0;
    part->held = 0;
    hf_core_partition_revoked(c->core, c->fn_index, id);
}

/* A binding type released its hold on the partition: start handing its events over once
   no hold is left. */
static void part_released(consumer_t *c, int32_t id)
{
    part_t *part = id >= 0 && id < c->parts_cap ? c->parts[id] : NULL;
    if (!part || !part->assigned || part->held <= 0 || --part->held > 0)
        return;
    take_from_queue(part);
}

/* Note each assigned partition's checkpoint, to notice when fetching cannot start there. */
static void remember_checkpoints(consumer_t *c, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    if (rd_kafka_committed(c->rk, committed, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < committed->cnt; i++) {
            part_t *part = part_get(c, committed->elems[i].partition);
            if (part && committed->elems[i].offset >= 0)
                part->resume_offset = part->position = part->checkpoint =
                    committed->elems[i].offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(committed);
}

/* For fromEnqueuedTime: partitions without a committed offset start at that time. */
static void apply_initial_time(consumer_t *c, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    if (rd_kafka_committed(c->rk, committed, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(committed);
        return;
    }
    rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < committed->cnt; i++)
        if (committed->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(times, committed->elems[i].topic,
                                              committed->elems[i].partition)->offset =
                host_cfg(c)->initial_time_ms;
    if (times->cnt > 0 && rd_kafka_offsets_for_times(c->rk, times, 10000) == 0) {
        for (int i = 0; i < times->cnt; i++) {
            rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(
                parts, times->elems[i].topic, times->elems[i].partition);
            if (p)
                p->offset = times->elems[i].offset >= 0 ? times->elems[i].offset
                                                        : RD_KAFKA_OFFSET_END;
        }
    }
    rd_kafka_topic_partition_list_destroy(times);
    rd_kafka_topic_partition_list_destroy(committed);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    consumer_t *c = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    char list[512];
    size_t n = 0;
    list[0] = 0;
    for (int i = 0; i < parts->cnt && n + 12 < sizeof(list); i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%d", i ? "," : "",
                              (int)parts->elems[i].partition);

    c->brokers_down = 0;         /* the group coordinator answered */
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (host_cfg(c)->initial_offset == HF_OFFSET_FROM_ENQUEUED_TIME)
            apply_initial_time(c, parts);
        for (int i = 0; i < parts->cnt; i++)
            part_assign(c, parts->elems[i].partition);
        remember_checkpoints(c, parts);
        rd_kafka_error_t *error = NULL;
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (error) {
            hf_log_error("function %s: assign failed: %s", c->fn->name,
                         rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
        for (int i = 0; i < parts->cnt; i++)
            part_queue_open(c, part_get(c, parts->elems[i].partition));
        c->assigned_once = 1;
        if (parts->cnt > 0)
            c->had_partitions = 1;
        hf_log_info("function %s: assigned partitions [%s] of hub %s (group %s)", c->fn->name,
                    list, c->cfg->hub, c->cfg->consumer_group);
        if (c->stopping) {
            for (int i = 0; i < parts->cnt; i++) {
                part_t *part = part_get(c, parts->elems[i].partition);
                set_paused(part, 1);
                hf_lane_drain(part->lane);
            }
        }
        hf_core_check(c->core);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        int lost = rd_kafka_assignment_lost(rk);
        hf_lane_t **lanes = hf_calloc((size_t)parts->cnt + 1, sizeof(*lanes));
        size_t nl = 0;
        for (int i = 0; i < parts->cnt; i++) {
            part_t *part = parts->elems[i].partition < c->parts_cap
                               ? c->parts[parts->elems[i].partition] : NULL;
            if (part && part->assigned) {
                part->revoking = 1;
                lanes[nl++] = part->lane;
            }
        }
        /* A revoked partition's running batches finish and checkpoint first (bounded), so
           the next owner does not repeat them; a lost one's are repeated anyway. */
        if (!lost)
            hf_pipeline_settle(hf_core_pipeline(c->core), lanes, nl, 10000);
        free(lanes);
        /* one synchronous commit for every revoked partition (bounded), so that a revoke of
           many partitions holds the loop no longer than one */
        rd_kafka_topic_partition_list_t *done = rd_kafka_topic_partition_list_new(parts->cnt);
        for (int i = 0; i < parts->cnt && !lost; i++) {
            part_t *part = parts->elems[i].partition < c->parts_cap
                               ? c->parts[parts->elems[i].partition] : NULL;
            if (part && part->assigned && part->acked_offset >= 0 &&
                part->acked_offset != part->committed_offset)
                rd_kafka_topic_partition_list_add(done, c->cfg->hub, part->id)->offset =
                    part->acked_offset;
        }
        if (done->cnt) {
            rd_kafka_resp_err_t cerr = commit_bounded(c, done, 5000);
            hf_series_add(cerr ? c->m.commit_failures : c->m.commits, done->cnt);
            if (cerr)
                hf_log_warn("function %s: checkpoint of revoked partitions [%s] failed: %s; the "
                            "next owner repeats what they finished since their last one",
                            c->fn->name, list, rd_kafka_err2str(cerr));
        }
        rd_kafka_topic_partition_list_destroy(done);
        for (int i = 0; i < parts->cnt; i++)
            part_revoke(c, parts->elems[i].partition);
        if (cooperative) {
            rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, parts);
            if (error)
                rd_kafka_error_destroy(error);
        } else {
            rd_kafka_assign(rk, NULL);
        }
        hf_log_info("function %s: %s partitions [%s]", c->fn->name, lost ? "lost" : "revoked",
                    list);
    } else {
        hf_log_error("function %s: rebalance failed: %s", c->fn->name, rd_kafka_err2str(err));
        rd_kafka_assign(rk, NULL);
    }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    consumer_t *c = opaque;
    if (hf_kafka_error_is_permanent((rd_kafka_resp_err_t)err)) {
        fail_permanently(c, (rd_kafka_resp_err_t)err, reason);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512], line[700];
        rd_kafka_fatal_error(c->rk, fatal, sizeof(fatal));
        snprintf(line, sizeof(line), "function %s: fatal consumer error: %s", c->fn->name, fatal);
        hf_core_fail(c->core, line);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        c->brokers_down = 1;     /* /readyz says so until a broker answers again */
    /* Broker outages are retried by librdkafka; say so at most every 10 s. */
    int64_t now = hf_mono_us();
    if (now - c->last_broker_warn_us > 10 * 1000000LL || c->last_broker_warn_us == 0) {
        c->last_broker_warn_us = now;
        hf_log_warn("function %s: %s: %s (retrying)", c->fn->name, c->conn_desc, reason);
    }
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    consumer_t *c = opaque;
    /* the request in flight answered: partitions due meanwhile go now */
    c->commit_inflight = 0;
    schedule_commit(c);
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    for (int i = 0; offsets && i < offsets->cnt; i++)
        hf_series_add(err || offsets->elems[i].err ? c->m.commit_failures : c->m.commits, 1);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        c->brokers_down = 0;
        for (int i = 0; offsets && i < offsets->cnt; i++) {
            part_t *part = part_get(c, offsets->elems[i].partition);
            if (part && !offsets->elems[i].err && offsets->elems[i].offset >= 0)
                part->checkpoint = offsets->elems[i].offset;
            if (part && part->assigned && !offsets->elems[i].err)
                unckpt_done(part, offsets->elems[i].offset);
        }
        return;
    }
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        part_t *part = part_get(c, offsets->elems[i].partition);
        if (part && part->committed_offset == offsets->elems[i].offset)
            part->committed_offset = -1;  /* commit again with the next batch or at stop */
    }
    hf_log_warn("function %s: checkpoint failed: %s; retried with the next one", c->fn->name,
                rd_kafka_err2str(err));
}

/* librdkafka's statistics (only with metrics on): a broker in state UP means reachable. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    (void)rk;
    (void)json_len;
    consumer_t *c = opaque;
    if (strstr(json, "\"state\":\"UP\""))
        c->brokers_down = 0;
    return 0;
}

/* librdkafka's own log lines are for debugging; our messages say what matters. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    hf_log(level <= 3 ? HF_LOG_DEBUG : HF_LOG_TRACE, "librdkafka %s: %s", fac, buf);
}

/* Commit synchronously, but give up after timeout_ms (a plain synchronous commit waits for
   the coordinator without limit). Returns the commit's result or a timeout. */
static rd_kafka_resp_err_t commit_bounded(consumer_t *c, rd_kafka_topic_partition_list_t *list,
                                          int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(c->rk, list, q, NULL, NULL);
    if (!err) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms);
        if (!ev) {
            err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        } else {
            err = rd_kafka_event_error(ev);
            const rd_kafka_topic_partition_list_t *res =
                rd_kafka_event_topic_partition_list(ev);
            for (int i = 0; !err && res && i < res->cnt; i++)
                err = res->elems[i].err;
            rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_queue_destroy(q);
    return err;
}

/* The last checkpoints decide what the next run repeats: commit every partition's
   acknowledged offset synchronously (async commits may still be in flight or have failed
   unseen), and try for a while if the coordinator is busy. */
static void commit_all_sync(consumer_t *c, int attempts)
{
    for (int attempt = 0; attempt < attempts; attempt++) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
        for (int32_t i = 0; i < c->parts_cap; i++) {
            part_t *part = c->parts[i];
            if (part && part->assigned && part->acked_offset >= 0)
                rd_kafka_topic_partition_list_add(list, c->cfg->hub, part->id)->offset =
                    part->acked_offset;
        }
        rd_kafka_resp_err_t err = list->cnt ? commit_bounded(c, list, 5000)
                                            : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            hf_series_add(err ? c->m.commit_failures : c->m.commits, list->cnt);
        rd_kafka_topic_partition_list_destroy(list);
        if (!err || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
            return;
        hf_log_warn("function %s: final checkpoint failed: %s%s", c->fn->name,
                    rd_kafka_err2str(err), attempt + 1 < attempts ? "; trying again" : "");
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->rk, 500);
        if (rkm)
            rd_kafka_message_destroy(rkm);
    }
}

/* ---------------------------------------------------------------------------------- */
/* One function's trigger                                                              */

static void consumer_close(consumer_t *c, int abandon)
{
    if (!c)
        return;
    struct ev_loop *loop = hf_core_loop(c->core);
    ev_timer_stop(loop, &c->tick);
    c->closing = 1;
    ev_timer_stop(loop, &c->commit_timer);
    if (c->rk) {
        /* a drain that ran out of time leaves at once: one attempt */
        commit_all_sync(c, abandon ? 1 : 4);
        c->stopping = 1;
        for (int32_t i = 0; i < c->parts_cap; i++)
            if (c->parts[i] && c->parts[i]->assigned)
                hf_lane_close(c->parts[i]->lane);
        rd_kafka_queue_cb_event_enable(c->queue, NULL, NULL);
        rd_kafka_queue_destroy(c->queue);
        for (int32_t i = 0; i < c->parts_cap; i++)
            if (c->parts[i])
                part_queue_close(c->parts[i]);
        ev_async_stop(loop, &c->wake);   /* no queue calls queue_event any more */
        rd_kafka_consumer_close(c->rk);
        /* (closing may have served an assignment: a host that fails while starting) */
        for (int32_t i = 0; i < c->parts_cap; i++)
            if (c->parts[i])
                part_queue_close(c->parts[i]);
        /* Destroying the handle waits for every message still referenced, and a handler the
           drain gave up on may still hold one: the process exits instead. */
        if (abandon)
            return;
        rd_kafka_destroy(c->rk);
        c->rk = NULL;
    }
    for (int32_t i = 0; i < c->parts_cap; i++) {
        if (c->parts[i])
            free(c->parts[i]->unckpt.e);
        free(c->parts[i]);
    }
    free(c->parts);
    free(c);
}

static int consumer_start(hf_core_t *core, int fn_index, consumer_t **out, char *err,
                          size_t errsz)
{
    const hf_function_t *fn = &hf_core_app(core)->functions[fn_index];
    const hf_host_cfg_t *cfg = &hf_core_app(core)->host;
    hf_metrics_t *reg = hf_core_metrics(core);
    consumer_t *c = hf_calloc(1, sizeof(*c));
    char errstr[512], num[32];
    c->core = core;
    c->avg_len = 1024;
    c->fn_index = fn_index;
    c->fn = fn;
    c->cfg = hf_eventhub_cfg(&fn->trigger);
    hf_conn_describe(c->cfg->conn, c->conn_desc, sizeof(c->conn_desc));
    c->m.commits = hf_metric_series(hf_metrics_get(reg, HF_M_CHECKPOINTS), fn->name);
    c->m.commit_failures = hf_metric_series(hf_metrics_get(reg, HF_M_CHECKPOINT_FAILURES),
                                            fn->name);
    c->m.assigned = hf_metric_series(hf_metrics_get(reg, HF_M_PARTITIONS_ASSIGNED), fn->name);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    hf_kafka_conf_t kc = {conf, errstr, sizeof(errstr), NULL};
    /* Event Hubs' recommended consumer settings, then the app's. */
    if (hf_kafka_conf_common(&kc, c->cfg->conn) != 0)
        goto conf_err;
    if (hf_kafka_conf_set(&kc, "group.id", c->cfg->consumer_group) ||
        hf_kafka_conf_set(&kc, "enable.auto.commit", "false") ||
        hf_kafka_conf_set(&kc, "enable.auto.offset.store", "false") ||
        hf_kafka_conf_set(&kc, "enable.partition.eof",
                          hf_core_opts(core)->exit_on_eof ? "true" : "false") ||
        hf_kafka_conf_set(&kc, "auto.offset.reset",
                          cfg->initial_offset == HF_OFFSET_FROM_END ? "latest" : "earliest") ||
        hf_kafka_conf_set(&kc, "partition.assignment.strategy", "roundrobin") ||
        hf_kafka_conf_set(&kc, "session.timeout.ms", "30000") ||
        hf_kafka_conf_set(&kc, "heartbeat.interval.ms", "3000") ||
        hf_kafka_conf_set(&kc, "max.poll.interval.ms", "300000"))
        goto conf_err;
    /* The fetch wait is short because of how prefetchCount bounds a partition: a partition
       whose queue holds prefetchCount events leaves the fetch requests, and once drained it
       waits for the request in flight, which, when every other partition is idle, the
       broker holds for this long. So a busy partition among idle ones gets about
       prefetchCount events per wait: at 100 ms, 5,000-12,000 events/s; at 20 ms several
       times that (docs/performance.md). The price is an idle consumer asking 50 times a
       second, about half a percent of a CPU. */
    if (hf_kafka_conf_set(&kc, "fetch.wait.max.ms", "20"))
        goto conf_err;
    /* Each partition fetches into its own queue up to prefetchCount events (or 1 MB, the
       most one event may be); one fetch asks at most 64 KB per partition beyond the first
       record batch, so a fetch returns soon and a queue overshoots little, and at most 1 MB
       in all beyond the first record batch: every event of a fetch response keeps the whole
       response in memory, so a response spanning many partitions would stay until the
       slowest of them is handed over, whatever the fetch budget. */
    snprintf(num, sizeof(num), "%d", cfg->prefetch > 0 ? cfg->prefetch : 1);
    if (hf_kafka_conf_set(&kc, "queued.min.messages", num) ||
        hf_kafka_conf_set(&kc, "queued.max.messages.kbytes", "1024") ||
        hf_kafka_conf_set(&kc, "fetch.message.max.bytes", "65536") ||
        hf_kafka_conf_set(&kc, "fetch.max.bytes", "1048576"))
        goto conf_err;
    /* With metrics on, librdkafka's statistics keep the low watermarks (consumer lag) and
       the brokers' states (readiness) fresh. */
    if (reg && hf_kafka_conf_set(&kc, "statistics.interval.ms", "5000"))
        goto conf_err;
    if (hf_kafka_conf_user(&kc, cfg) != 0)
        goto conf_err;
    rd_kafka_conf_set_opaque(conf, c);
    if (reg)
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);

    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errsz, "function %s: cannot create the consumer: %s", fn->name, errstr);
        free(c);
        return -1;
    }
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);

    /* librdkafka's threads wake the loop through an ev_async when a queue turns non-empty:
       libev writes to its wake-up fd only when the loop is about to sleep and no wake-up
       is pending, so a busy loop is not woken again and again (a pipe per queue event
       was one write and one read per partition and fetch) */
    struct ev_loop *loop = hf_core_loop(core);
    ev_async_init(&c->wake, on_queue);
    c->wake.data = c;
    ev_async_start(loop, &c->wake);
    rd_kafka_queue_cb_event_enable(c->queue, queue_event, c);
    ev_timer_init(&c->tick, on_tick, 1.0, 1.0);
    c->tick.data = c;
    ev_timer_start(loop, &c->tick);
    ev_init(&c->commit_timer, on_commit_timer);
    c->commit_timer.data = c;

    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, c->cfg->hub, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rerr = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (rerr) {
        snprintf(err, errsz, "function %s: cannot subscribe to hub %s: %s", fn->name,
                 c->cfg->hub, rd_kafka_err2str(rerr));
        goto fail;
    }
    hf_log_info("function %s: listening to hub %s on %s (consumer group %s, cardinality %s)",
                fn->name, c->cfg->hub, c->conn_desc, c->cfg->consumer_group,
                fn->trigger.cardinality == HF_CARD_MANY ? "many" : "one");
    *out = c;
    return 0;

conf_err:
    snprintf(err, errsz, "function %s: %s", fn->name, errstr);
    rd_kafka_conf_destroy(conf);
    free(c);
    return -1;
fail:
    consumer_close(c, 0);
    return -1;
}

/* ---------------------------------------------------------------------------------- */
/* The type                                                                            */

static int trigger_start(hf_core_t *core, void **state, char *err, size_t errsz)
{
    hf_app_t *app = hf_core_app(core);
    triggers_t *t = hf_calloc(1, sizeof(*t));
    t->core = core;
    t->c = hf_calloc(app->functions_n ? app->functions_n : 1, sizeof(*t->c));
    *state = t;
    for (size_t i = 0; i < app->functions_n; i++) {
        const hf_function_t *fn = &app->functions[i];
        if (fn->disabled || fn->trigger.type != &hf_eventhub_trigger_type)
            continue;
        if (consumer_start(core, (int)i, &t->c[t->n], err, errsz) != 0)
            return -1;
        t->n++;
    }
    return 0;
}

static void trigger_drain(void *state)
{
    triggers_t *t = state;
    for (size_t k = 0; k < t->n; k++) {
        consumer_t *c = t->c[k];
        c->stopping = 1;
        for (int32_t i = 0; i < c->parts_cap; i++) {
            part_t *part = c->parts[i];
            if (!part || !part->assigned)
                continue;
            set_paused(part, 1);
            hf_lane_drain(part->lane);
        }
    }
}

static int trigger_idle(void *state)
{
    triggers_t *t = state;
    for (size_t k = 0; k < t->n; k++)
        for (int32_t i = 0; i < t->c[k]->parts_cap; i++) {
            part_t *part = t->c[k]->parts[i];
            if (part && part->assigned && !hf_lane_idle(part->lane))
                return 0;
        }
    return 1;
}

static int consumer_at_eof(const consumer_t *c)
{
    int assigned = 0;
    if (!c->assigned_once)
        return 0;
    for (int32_t i = 0; i < c->parts_cap; i++) {
        const part_t *part = c->parts[i];
        if (!part || !part->assigned)
            continue;
        assigned++;
        if (!part->eof || !hf_lane_idle(part->lane) ||
            (part->queue && rd_kafka_queue_length(part->queue) > 0))
            return 0;
    }
    /* An empty assignment is the end only for an instance that never had partitions (more
       instances than partitions); one that lost its partitions waits for them again. */
    return assigned > 0 || !c->had_partitions;
}

static int trigger_at_eof(void *state)
{
    triggers_t *t = state;
    for (size_t k = 0; k < t->n; k++)
        if (!consumer_at_eof(t->c[k]))
            return 0;
    return 1;
}

static void trigger_close(void *state, int abandon)
{
    triggers_t *t = state;
    if (!t)
        return;
    for (size_t k = 0; k < t->n; k++)
        consumer_close(t->c[k], abandon);
    free(t->c);
    free(t);
}

static int trigger_ready(void *state, char *why, size_t whysz)
{
    triggers_t *t = state;
    for (size_t k = 0; k < t->n; k++) {
        const consumer_t *c = t->c[k];
        if (c->brokers_down) {
            snprintf(why, whysz, "function %s: no broker of %s is reachable", c->fn->name,
                     c->conn_desc);
            return 0;
        }
        if (!c->assigned_once) {
            snprintf(why, whysz, "function %s: joining consumer group %s of hub %s",
                     c->fn->name, c->cfg->consumer_group, c->cfg->hub);
            return 0;
        }
    }
    return 1;
}

static void trigger_collect(void *state)
{
    triggers_t *t = state;
    for (size_t k = 0; k < t->n; k++) {
        consumer_t *c = t->c[k];
        int assigned = 0;
        for (int32_t i = 0; i < c->parts_cap; i++) {
            part_t *part = c->parts[i];
            if (!part)
                continue;
            int64_t lo = -1, hi = -1, pos = part->position;
            if (part->assigned && c->rk)
                rd_kafka_get_watermark_offsets(c->rk, c->cfg->hub, part->id, &lo, &hi);
            if (pos < 0)         /* nothing fetched yet and no checkpoint: where it starts */
                pos = host_cfg(c)->initial_offset == HF_OFFSET_FROM_END ? hi : lo;
            if (!part->assigned || hi < 0 || pos < 0)
                hf_series_hide(part->m_lag);
            else
                hf_series_set(part->m_lag, hi > pos ? (double)(hi - pos) : 0);
            /* against the checkpoint, as KEDA measures; none yet: where fetching starts */
            int64_t ck = part->checkpoint >= 0 ? part->checkpoint
                         : host_cfg(c)->initial_offset == HF_OFFSET_FROM_END ? hi : lo;
            if (!part->assigned || hi < 0 || ck < 0)
                hf_series_hide(part->m_ck_lag);
            else
                hf_series_set(part->m_ck_lag, hi > ck ? (double)(hi - ck) : 0);
            double secs = part->assigned ? unckpt_lag_seconds(part, pos, hi) : -1;
            if (secs < 0)
                hf_series_hide(part->m_lag_s);   /* unknown is absent, never 0 */
            else
                hf_series_set(part->m_lag_s, secs);
            assigned += part->assigned;
        }
        hf_series_set(c->m.assigned, assigned);
    }
}

static void trigger_partition_ready(void *state, int fn_index, int32_t partition)
{
    triggers_t *t = state;
    for (size_t k = 0; k < t->n; k++)
        if (t->c[k]->fn_index == fn_index)
            part_released(t->c[k], partition);
}

static void trigger_stats(void *state, hf_host_stats_t *add)
{
    triggers_t *t = state;
    for (size_t k = 0; k < t->n; k++)
        add->events += t->c[k]->events;
}

static const hf_option_t trigger_options[] = {
    HF_EVENTHUB_OPTIONS,
    {"consumerGroup", HF_OPT_STRING, offsetof(hf_eventhub_cfg_t, consumer_group), "\"$Default\"",
     .flags = HF_OPT_EMPTY_OK, .help = "the consumer group whose checkpoints this function keeps"},
    {NULL}
};

/* consumerGroup must not be empty (leaving it out gives $Default). */
static int trigger_load(hf_binding_t *b, hf_load_ctx_t *ctx, char *err, size_t errsz)
{
    hf_eventhub_cfg_t *cfg = hf_eventhub_cfg(b);
    if (!cfg->consumer_group || !*cfg->consumer_group) {
        snprintf(err, errsz, "%sconsumerGroup: empty (leave it out for \"$Default\")",
                 ctx->prefix);
        return -1;
    }
    return hf_eventhub_load(b, ctx, err, errsz);
}

/* triggerMetadata.partitionContext's fields besides partitionId */
static void trigger_lua_fields(lua_State *L, const hf_binding_t *b)
{
    const hf_eventhub_cfg_t *cfg = hf_eventhub_cfg(b);
    lua_pushstring(L, cfg->hub ? cfg->hub : "");
    lua_setfield(L, -2, "eventHubName");
    lua_pushstring(L, cfg->consumer_group ? cfg->consumer_group : "$Default");
    lua_setfield(L, -2, "consumerGroup");
}

const hf_binding_type_t hf_eventhub_trigger_type = {
    .name = "eventHubTrigger",
    .direction = HF_DIR_IN,
    .family = HF_FAMILY_EVENTHUB,
    .options = trigger_options,
    .cfg_size = sizeof(hf_eventhub_cfg_t),
    .summary = "events of an Event Hub (or Kafka topic), in the function's consumer group",
    .load = trigger_load,
    .unload = hf_eventhub_unload,
    .describe = hf_eventhub_describe,
    .lua_fields = trigger_lua_fields,
    .start = trigger_start,
    .drain = trigger_drain,
    .idle = trigger_idle,
    .at_eof = trigger_at_eof,
    .close = trigger_close,
    .ready = trigger_ready,
    .collect = trigger_collect,
    .stats = trigger_stats,
    .partition_ready = trigger_partition_ready,
};
