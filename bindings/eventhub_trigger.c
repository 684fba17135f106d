#define _GNU_SOURCE
#include "eventhub_trigger.h"

#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eventhub_output.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"

/* Per assigned partition. Kept (unassigned) after a revoke so late results are recognised. */
typedef struct hf_part {
    hf_trigger_t *trigger;
    int32_t id;
    int assigned;
    int revoking;
    uint64_t generation;
    hf_event_t *pending;         /* events fetched, not yet dispatched: [head, n) */
    size_t pending_head, pending_n, pending_cap;
    hf_batch_t *inflight;
    int64_t next_offset;         /* next offset expected from the broker, -1 unknown */
    int64_t done_offset;         /* offset after the last finished event, -1 none */
    int64_t committed_offset;    /* last offset committed, -1 none */
    int batches_since_commit;
    int paused;
    int eof;
    rd_kafka_queue_t *queue;     /* the partition's own fetch queue (prefetchCount events) */
    int queue_full;              /* seen holding prefetchCount events: fetching may idle */
    int taking;                  /* take_from_queue is running (an EOF in it dispatches) */
    int worker;
    ev_timer wait_timer;         /* maxWaitTime when minEventBatchSize > 1 */
    ev_timer retry_timer;        /* the retry policy's delay, or a dead-letter hub's back-off */
    hf_batch_t *retry_batch;     /* the failed events waiting for retry_timer */
    int64_t resume_offset;       /* the group's checkpoint when assigned, until the first
                                    event shows where fetching really starts; -1 */
    int64_t hold_offset;         /* end of the batch whose failed events are being retried:
                                    the checkpoint moves there once they are resolved; -1 */
    int64_t position;            /* next offset to be handed over, for the lag gauge; -1 */
    hf_series_t *m_received, *m_processed, *m_failed, *m_lag, *m_resets;
} hf_part_t;

struct hf_trigger {
    hf_host_t *host;
    int fn_index;
    const hf_function_t *fn;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    int fd[2];
    ev_io io;
    ev_timer tick;
    hf_part_t **parts;
    int32_t parts_cap;
    int assigned_once;
    int had_partitions;
    int stopping;
    int fatal;
    int64_t last_broker_warn_us;
    uint64_t events, batches, failed_batches, failed_events, outputs, retries, dead_lettered;
    int dead_letter;             /* index of the $deadLetter output binding, or -1 */
    uint64_t offset_resets;
    int brokers_down;            /* every broker unreachable, and no sign of life since */
    struct {                     /* the function's metric series (NULL when metrics are off) */
        hf_series_t *invocations_ok, *invocations_failed, *batch_size, *duration, *to_start,
            *to_done, *retries, *dead_lettered, *commits, *commit_failures, *assigned;
    } m;
    char conn_desc[256];
};

static int next_worker;

static void dispatch(hf_part_t *part, int flush);
static void take_from_queue(hf_trigger_t *t, hf_part_t *part);
static rd_kafka_resp_err_t commit_bounded(hf_trigger_t *t,
                                          rd_kafka_topic_partition_list_t *list, int timeout_ms);
static void check_finished(hf_trigger_t *t);

static size_t pending_count(const hf_part_t *part)
{
    return part->pending_n - part->pending_head;
}

static hf_part_t *part_get(hf_trigger_t *t, int32_t id)
{
    if (id < 0)
        return NULL;
    if (id >= t->parts_cap) {
        int32_t cap = t->parts_cap ? t->parts_cap : 8;
        while (cap <= id)
            cap *= 2;
        hf_part_t **grown = realloc(t->parts, (size_t)cap * sizeof(*grown));
        if (!grown)
            return NULL;
        memset(grown + t->parts_cap, 0, (size_t)(cap - t->parts_cap) * sizeof(*grown));
        t->parts = grown;
        t->parts_cap = cap;
    }
    if (!t->parts[id]) {
        hf_part_t *part = calloc(1, sizeof(*part));
        if (!part)
            return NULL;
        part->trigger = t;
        part->id = id;
        part->next_offset = part->done_offset = part->committed_offset = -1;
        part->hold_offset = -1;
        part->position = -1;
        part->wait_timer.data = part;
        part->retry_timer.data = part;
        hf_metrics_t *reg = t->host->metrics;
        char num[16];
        snprintf(num, sizeof(num), "%d", (int)id);
        part->m_received = hf_metric_series(hf_metrics_get(reg, HF_M_EVENTS_RECEIVED),
                                            t->fn->name, num);
        part->m_processed = hf_metric_series(hf_metrics_get(reg, HF_M_EVENTS_PROCESSED),
                                             t->fn->name, num);
        part->m_failed = hf_metric_series(hf_metrics_get(reg, HF_M_EVENTS_FAILED), t->fn->name,
                                          num);
        part->m_lag = hf_metric_series(hf_metrics_get(reg, HF_M_CONSUMER_LAG), t->fn->name, num);
        part->m_resets = hf_metric_series(hf_metrics_get(reg, HF_M_OFFSET_RESETS), t->fn->name,
                                          num);
        t->parts[id] = part;
    }
    return t->parts[id];
}

static void log_ctx_for(const hf_trigger_t *t, const hf_part_t *part, hf_log_ctx_t *ctx)
{
    *ctx = HF_LOG_CTX_NONE;
    ctx->function = t->fn->name;
    if (part)
        ctx->partition = part->id;
}

static void drop_pending(hf_part_t *part)
{
    for (size_t i = part->pending_head; i < part->pending_n; i++)
        hf_event_release(&part->pending[i]);
    part->pending_head = part->pending_n = 0;
}

/* Pause or resume fetching one partition (backpressure, drain). */
static void set_paused(hf_part_t *part, int paused)
{
    hf_trigger_t *t = part->trigger;
    if (part->paused == paused)
        return;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, t->fn->trigger.hub, part->id);
    rd_kafka_resp_err_t err = paused ? rd_kafka_pause_partitions(t->rk, list)
                                     : rd_kafka_resume_partitions(t->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (!err)
        part->paused = paused;
}

/* Commit the partition's finished offset. */
static void commit_part(hf_part_t *part, int sync)
{
    hf_trigger_t *t = part->trigger;
    if (part->done_offset < 0 || part->done_offset == part->committed_offset)
        return;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, t->fn->trigger.hub, part->id)->offset =
        part->done_offset;
    rd_kafka_resp_err_t err = sync ? commit_bounded(t, list, 5000) : rd_kafka_commit(t->rk, list, 1);
    rd_kafka_topic_partition_list_destroy(list);
    if (sync || err)             /* an async commit is counted by commit_cb */
        hf_series_add(err ? t->m.commit_failures : t->m.commits, 1);
    if (err) {
        hf_log_ctx_t ctx;
        log_ctx_for(t, part, &ctx);
        hf_log_ctx(HF_LOG_WARN, &ctx, "checkpoint at offset %lld failed: %s; it is retried "
                   "with the next one", (long long)part->done_offset, rd_kafka_err2str(err));
        return;
    }
    part->committed_offset = part->done_offset;
    part->batches_since_commit = 0;
}

/* Events that arrived through the consumer queue (before the partition's own queue took
   over) are bounded by pausing the partition at prefetchCount plus a batch. */
static size_t prefetch_bound(const hf_host_cfg_t *cfg)
{
    return (size_t)(cfg->prefetch + cfg->max_batch);
}

static void on_wait_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    dispatch(w->data, 1);
}

/* Send the next batch of the partition to its worker when the batching rules allow. */
static void dispatch(hf_part_t *part, int flush)
{
    hf_trigger_t *t = part->trigger;
    const hf_host_cfg_t *cfg = &t->host->app.host;
    /* The queue signals only when it turns non-empty: what waited there while the last
       batch ran is taken now, not at the next wake-up. */
    if (!part->inflight)
        take_from_queue(t, part);
    size_t n = pending_count(part);
    if (part->inflight || !part->assigned || part->revoking || t->stopping || n == 0)
        return;
    if (!flush && !part->eof && n < (size_t)cfg->min_batch) {
        if (!ev_is_active(&part->wait_timer)) {
            ev_timer_init(&part->wait_timer, on_wait_timer, (double)cfg->max_wait_ms / 1000.0, 0);
            ev_timer_start(t->host->loop, &part->wait_timer);
        }
        return;
    }
    ev_timer_stop(t->host->loop, &part->wait_timer);
    if (n > (size_t)cfg->max_batch)
        n = (size_t)cfg->max_batch;
    hf_batch_t *batch = hf_batch_new(n);
    if (!batch)
        return;
    memcpy(batch->events, part->pending + part->pending_head, n * sizeof(hf_event_t));
    batch->events_n = n;
    part->pending_head += n;
    if (part->pending_head == part->pending_n)
        part->pending_head = part->pending_n = 0;
    batch->fn = t->fn;
    batch->fn_index = t->fn_index;
    batch->hub = t->fn->trigger.hub;
    batch->partition = part->id;
    batch->max_retry_count = t->fn->retry.strategy == HF_RETRY_NONE ? 0
                                                                     : t->fn->retry.max_retry_count;
    batch->owner = part;
    batch->generation = part->generation;
    part->inflight = batch;
    hf_workers_submit(&t->host->workers, part->worker, batch);
    if (part->paused && pending_count(part) <= prefetch_bound(cfg) / 2)
        set_paused(part, 0);
}

/* Fetching started before the partition's checkpoint: the checkpoint is not in the hub any
   more (events expired, or the hub was deleted and created again). Say so once. */
static void check_resume(hf_trigger_t *t, hf_part_t *part, int64_t offset)
{
    if (part->resume_offset < 0)
        return;
    if (offset < part->resume_offset) {
        const char *where = t->host->app.host.initial_offset == HF_OFFSET_FROM_END
                                ? "the newest event (initialOffsetOptions fromEnd)"
                                : "the oldest event still in the hub";
        hf_log_warn("function %s: hub %s partition %d: the checkpoint (offset %lld) is no "
                    "longer in the hub (events expired, or the hub was recreated); resumed "
                    "from %s, offset %lld", t->fn->name, t->fn->trigger.hub, (int)part->id,
                    (long long)part->resume_offset, where, (long long)offset);
        t->offset_resets++;
        hf_series_add(part->m_resets, 1);
    }
    part->resume_offset = -1;
}

static void add_event(hf_trigger_t *t, rd_kafka_message_t *rkm)
{
    hf_part_t *part = part_get(t, rkm->partition);
    const hf_host_cfg_t *cfg = &t->host->app.host;
    if (!part || !part->assigned || part->revoking || t->stopping ||
        (part->next_offset >= 0 && rkm->offset < part->next_offset)) {
        rd_kafka_message_destroy(rkm);
        return;
    }
    if (part->pending_n == part->pending_cap) {
        if (part->pending_head > 0) {
            memmove(part->pending, part->pending + part->pending_head,
                    pending_count(part) * sizeof(hf_event_t));
            part->pending_n -= part->pending_head;
            part->pending_head = 0;
        } else {
            size_t cap = part->pending_cap ? part->pending_cap * 2 : 64;
            hf_event_t *grown = realloc(part->pending, cap * sizeof(*grown));
            if (!grown) {
                rd_kafka_message_destroy(rkm);
                return;
            }
            part->pending = grown;
            part->pending_cap = cap;
        }
    }
    /* Copy payload, key and headers out: the message pins its whole fetch response. */
    size_t len = rkm->payload ? rkm->len : 0, key_len = rkm->key ? rkm->key_len : 0;
    char *own = malloc(len + key_len + 2);
    if (!own) {
        rd_kafka_message_destroy(rkm);
        return;
    }
    hf_event_t *ev = &part->pending[part->pending_n++];
    memset(ev, 0, sizeof(*ev));
    if (len)
        memcpy(own, rkm->payload, len);
    own[len] = 0;
    ev->own = own;
    ev->payload = own;
    ev->len = len;
    if (rkm->key) {
        memcpy(own + len + 1, rkm->key, key_len);
        own[len + 1 + key_len] = 0;
        ev->key = own + len + 1;
        ev->key_len = key_len;
    }
    if (rd_kafka_message_detach_headers(rkm, &ev->headers) != RD_KAFKA_RESP_ERR_NO_ERROR)
        ev->headers = NULL;
    ev->partition = rkm->partition;
    ev->offset = rkm->offset;
    rd_kafka_timestamp_type_t tstype;
    ev->enqueued_ms = rd_kafka_message_timestamp(rkm, &tstype);
    ev->received_us = hf_mono_us();
    check_resume(t, part, rkm->offset);
    part->next_offset = rkm->offset + 1;
    rd_kafka_message_destroy(rkm);
    part->position = part->next_offset;
    part->eof = 0;
    t->events++;
    hf_series_add(part->m_received, 1);
    if (pending_count(part) >= prefetch_bound(cfg))
        set_paused(part, 1);
}

/* Say what an authentication, authorization or unknown-hub failure means, in one line. */
static void log_access_error(hf_trigger_t *t, rd_kafka_resp_err_t err, const char *reason)
{
    char why[1024];
    hf_kafka_target_t target = {t->fn->trigger.conn, t->fn->trigger.hub,
                                t->fn->trigger.consumer_group, 0};
    hf_log_error("function %s: %s", t->fn->name,
                 hf_kafka_describe(err, reason, &target, why, sizeof(why)));
}

/* A failure nobody can fix by waiting stops the host with exit code 1. */
static void fail_fatally(hf_trigger_t *t)
{
    if (t->fatal)
        return;
    t->fatal = 1;
    t->host->fatal = 1;
    t->host->exit_code = 1;
    hf_host_stop(t->host, "a fatal error");
}

static void handle_message_error(hf_trigger_t *t, rd_kafka_message_t *rkm)
{
    hf_part_t *part = rkm->rkt ? part_get(t, rkm->partition) : NULL;
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (part && part->assigned && (part->next_offset < 0 || rkm->offset >= part->next_offset)) {
            check_resume(t, part, rkm->offset);
            part->position = rkm->offset;
            part->eof = 1;
            dispatch(part, 1);
            check_finished(t);
        }
        return;
    }
    if (hf_kafka_error_is_permanent(rkm->err)) {
        log_access_error(t, rkm->err, rd_kafka_message_errstr(rkm));
        fail_fatally(t);
        return;
    }
    hf_log_warn("function %s: consumer: %s", t->fn->name, rd_kafka_message_errstr(rkm));
}

static void take_message(hf_trigger_t *t, rd_kafka_message_t *rkm)
{
    if (!rkm->err || rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        t->brokers_down = 0;
    if (rkm->err) {
        handle_message_error(t, rkm);
        rd_kafka_message_destroy(rkm);
        return;
    }
    add_event(t, rkm);
}

/* Fetch into the partition's own queue, so prefetchCount bounds each partition without
   pausing it (a pause drops what was fetched beyond it, often a whole record batch, to be
   fetched again). Set up right after the assign, before fetching starts; the consumer
   queue path stays for any event that would arrive there first. */
static void part_queue_open(hf_trigger_t *t, hf_part_t *part)
{
    if (!part->queue) {
        part->queue = rd_kafka_queue_get_partition(t->rk, t->fn->trigger.hub, part->id);
        if (!part->queue)
            return;
        rd_kafka_queue_io_event_enable(part->queue, t->fd[1], "1", 1);
    }
    rd_kafka_queue_forward(part->queue, NULL);
}

static void part_queue_close(hf_part_t *part)
{
    if (!part->queue)
        return;
    rd_kafka_queue_io_event_enable(part->queue, -1, NULL, 0);
    rd_kafka_queue_destroy(part->queue);
    part->queue = NULL;
    part->queue_full = 0;
}

/* Take what the partition's next batch can hold from its queue. librdkafka 2.0 stops
   fetching a partition whose queue holds prefetchCount events and looks again only when
   its broker thread wakes, at worst a second later; when every partition is full nothing
   wakes it. So a partition seen full and now drained is restarted at its position (a seek
   to where fetching stands, which drops nothing: its queue is empty). */
static void take_from_queue(hf_trigger_t *t, hf_part_t *part)
{
    const hf_host_cfg_t *cfg = &t->host->app.host;
    if (!part->queue || !part->assigned || part->revoking || t->stopping || part->taking)
        return;
    part->taking = 1;            /* messages taken below are added in order, none nested */
    size_t queued = rd_kafka_queue_length(part->queue);
    if (queued >= (size_t)(cfg->prefetch > 0 ? cfg->prefetch : 1))
        part->queue_full = 1;
    rd_kafka_message_t *msgs[256];
    while (queued > 0 && pending_count(part) < (size_t)cfg->max_batch) {
        size_t room = (size_t)cfg->max_batch - pending_count(part);
        ssize_t n = rd_kafka_consume_batch_queue(part->queue, 0, msgs,
                                                 room < 256 ? room : 256);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            take_message(t, msgs[i]);
        queued = rd_kafka_queue_length(part->queue);
    }
    if (part->queue_full && queued == 0 && part->next_offset >= 0) {
        part->queue_full = 0;
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(list, t->fn->trigger.hub, part->id)->offset =
            part->next_offset;
        rd_kafka_error_t *error = rd_kafka_seek_partitions(t->rk, list, 0);
        if (error)
            rd_kafka_error_destroy(error);
        rd_kafka_topic_partition_list_destroy(list);
    }
    part->taking = 0;
}

/* Serve the consumer queue (rebalances, errors, and events fetched before a partition's own
   queue took over), then each partition: dispatch takes from its queue what its next batch
   needs. */
static void consume(hf_trigger_t *t)
{
    rd_kafka_message_t *rkm;
    while (t->rk && (rkm = rd_kafka_consumer_poll(t->rk, 0)) != NULL)
        take_message(t, rkm);
    for (int32_t i = 0; i < t->parts_cap; i++)
        if (t->parts[i] && t->parts[i]->assigned)
            dispatch(t->parts[i], 0);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    hf_trigger_t *t = w->data;
    char buf[256];
    while (read(t->fd[0], buf, sizeof(buf)) > 0)
        ;
    consume(t);
}

/* A slow tick serves the consumer even if a wake-up were missed. */
static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    consume(w->data);
}

static void part_assign(hf_trigger_t *t, int32_t id)
{
    hf_part_t *part = part_get(t, id);
    if (!part)
        return;
    part->assigned = 1;
    part->revoking = 0;
    part->generation++;
    part->paused = 0;
    part->eof = 0;
    part->next_offset = part->done_offset = part->committed_offset = -1;
    part->resume_offset = -1;
    part->position = -1;
    part->batches_since_commit = 0;
    part->worker = next_worker++ % t->host->workers_n;
}

/* Wait (bounded) for the in-flight batches of revoking partitions, so they checkpoint. */
static void wait_revoking(hf_trigger_t *t)
{
    int64_t deadline = hf_mono_us() + 10 * 1000000LL;
    for (;;) {
        int busy = 0;
        for (int32_t i = 0; i < t->parts_cap; i++)
            if (t->parts[i] && t->parts[i]->revoking && t->parts[i]->inflight &&
                !ev_is_active(&t->parts[i]->retry_timer))
                busy = 1;
        if (!busy || hf_mono_us() > deadline || t->host->abandon)
            return;
        if (t->host->outputs)
            hf_outputs_poll(t->host->outputs, 0);
        hf_batch_t *done = hf_workers_wait_done(&t->host->workers, t->host->outputs ? 20 : 100);
        while (done) {
            hf_batch_t *next = done->next;
            done->next = NULL;
            hf_host_complete(t->host, done);
            done = next;
        }
    }
}

static void part_revoke(hf_trigger_t *t, int32_t id, int lost)
{
    hf_part_t *part = id < t->parts_cap ? t->parts[id] : NULL;
    if (!part || !part->assigned)
        return;
    ev_timer_stop(t->host->loop, &part->wait_timer);
    drop_pending(part);
    if (part->inflight && ev_is_active(&part->retry_timer)) {
        ev_timer_stop(t->host->loop, &part->retry_timer);
        part->done_offset = part->inflight->events[0].offset;
        hf_batch_free(part->inflight);
        part->retry_batch = NULL;
        part->inflight = NULL;
    }
    part->hold_offset = -1;
    if (!lost)
        commit_part(part, 1);
    part_queue_close(part);
    part->assigned = 0;
    part->revoking = 0;
    part->generation++;          /* a late result of the old owner is discarded */
    part->inflight = NULL;
    part->eof = 0;
}

/* Note each assigned partition's checkpoint, to notice when fetching cannot start there. */
static void remember_checkpoints(hf_trigger_t *t, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    if (rd_kafka_committed(t->rk, committed, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < committed->cnt; i++) {
            hf_part_t *part = part_get(t, committed->elems[i].partition);
            if (part && committed->elems[i].offset >= 0)
                part->resume_offset = part->position = committed->elems[i].offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(committed);
}

/* For fromEnqueuedTime: partitions without a committed offset start at that time. */
static void apply_initial_time(hf_trigger_t *t, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    if (rd_kafka_committed(t->rk, committed, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(committed);
        return;
    }
    rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < committed->cnt; i++)
        if (committed->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(times, committed->elems[i].topic,
                                              committed->elems[i].partition)->offset =
                t->host->app.host.initial_time_ms;
    if (times->cnt > 0 && rd_kafka_offsets_for_times(t->rk, times, 10000) == 0) {
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
    hf_trigger_t *t = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    char list[512];
    size_t n = 0;
    list[0] = 0;
    for (int i = 0; i < parts->cnt && n + 12 < sizeof(list); i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%d", i ? "," : "",
                              (int)parts->elems[i].partition);

    t->brokers_down = 0;         /* the group coordinator answered */
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (t->host->app.host.initial_offset == HF_OFFSET_FROM_ENQUEUED_TIME)
            apply_initial_time(t, parts);
        for (int i = 0; i < parts->cnt; i++)
            part_assign(t, parts->elems[i].partition);
        remember_checkpoints(t, parts);
        rd_kafka_error_t *error = NULL;
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (error) {
            hf_log_error("function %s: assign failed: %s", t->fn->name,
                         rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
        for (int i = 0; i < parts->cnt; i++)
            part_queue_open(t, part_get(t, parts->elems[i].partition));
        t->assigned_once = 1;
        if (parts->cnt > 0)
            t->had_partitions = 1;
        hf_log_info("function %s: assigned partitions [%s] of hub %s (group %s)", t->fn->name,
                    list, t->fn->trigger.hub, t->fn->trigger.consumer_group);
        if (t->stopping)
            for (int i = 0; i < parts->cnt; i++)
                set_paused(part_get(t, parts->elems[i].partition), 1);
        check_finished(t);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        int lost = rd_kafka_assignment_lost(rk);
        for (int i = 0; i < parts->cnt; i++) {
            hf_part_t *part = parts->elems[i].partition < t->parts_cap
                                  ? t->parts[parts->elems[i].partition] : NULL;
            if (part && part->assigned)
                part->revoking = 1;
        }
        if (!lost)
            wait_revoking(t);
        for (int i = 0; i < parts->cnt; i++)
            part_revoke(t, parts->elems[i].partition, lost);
        if (cooperative) {
            rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, parts);
            if (error)
                rd_kafka_error_destroy(error);
        } else {
            rd_kafka_assign(rk, NULL);
        }
        hf_log_info("function %s: %s partitions [%s]", t->fn->name, lost ? "lost" : "revoked",
                    list);
    } else {
        hf_log_error("function %s: rebalance failed: %s", t->fn->name, rd_kafka_err2str(err));
        rd_kafka_assign(rk, NULL);
    }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    hf_trigger_t *t = opaque;
    if (hf_kafka_error_is_permanent((rd_kafka_resp_err_t)err)) {
        log_access_error(t, (rd_kafka_resp_err_t)err, reason);
        fail_fatally(t);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_fatal_error(t->rk, fatal, sizeof(fatal));
        hf_log_error("function %s: fatal consumer error: %s", t->fn->name, fatal);
        fail_fatally(t);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        t->brokers_down = 1;     /* /readyz says so until a broker answers again */
    /* Broker outages are retried by librdkafka; say so at most every 10 s. */
    int64_t now = hf_mono_us();
    if (now - t->last_broker_warn_us > 10 * 1000000LL || t->last_broker_warn_us == 0) {
        t->last_broker_warn_us = now;
        hf_log_warn("function %s: %s: %s (retrying)", t->fn->name, t->conn_desc, reason);
    }
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    hf_trigger_t *t = opaque;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    for (int i = 0; offsets && i < offsets->cnt; i++)
        hf_series_add(err || offsets->elems[i].err ? t->m.commit_failures : t->m.commits, 1);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        t->brokers_down = 0;
        return;
    }
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        hf_part_t *part = part_get(t, offsets->elems[i].partition);
        if (part && part->committed_offset == offsets->elems[i].offset)
            part->committed_offset = -1;  /* commit again with the next batch or at stop */
    }
    hf_log_warn("function %s: checkpoint failed: %s; retried with the next one", t->fn->name,
                rd_kafka_err2str(err));
}

/* librdkafka's statistics (only with metrics on): a broker in state UP means reachable. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    (void)rk;
    (void)json_len;
    hf_trigger_t *t = opaque;
    if (strstr(json, "\"state\":\"UP\""))
        t->brokers_down = 0;
    return 0;
}

/* Look the function's metric series up once (they stay NULL when metrics are off). */
static void init_metrics(hf_trigger_t *t)
{
    hf_metrics_t *reg = t->host->metrics;
    const char *name = t->fn->name;
    t->m.invocations_ok = hf_metric_series(hf_metrics_get(reg, HF_M_INVOCATIONS), name, "success");
    t->m.invocations_failed = hf_metric_series(hf_metrics_get(reg, HF_M_INVOCATIONS), name,
                                               "failure");
    t->m.batch_size = hf_metric_series(hf_metrics_get(reg, HF_M_BATCH_SIZE), name);
    t->m.duration = hf_metric_series(hf_metrics_get(reg, HF_M_INVOCATION_DURATION), name);
    t->m.to_start = hf_metric_series(hf_metrics_get(reg, HF_M_ENQUEUED_TO_START), name);
    t->m.to_done = hf_metric_series(hf_metrics_get(reg, HF_M_ENQUEUED_TO_DONE), name);
    t->m.retries = hf_metric_series(hf_metrics_get(reg, HF_M_RETRIES), name);
    t->m.dead_lettered = hf_metric_series(hf_metrics_get(reg, HF_M_DEAD_LETTERED), name);
    t->m.commits = hf_metric_series(hf_metrics_get(reg, HF_M_CHECKPOINTS), name);
    t->m.commit_failures = hf_metric_series(hf_metrics_get(reg, HF_M_CHECKPOINT_FAILURES), name);
    t->m.assigned = hf_metric_series(hf_metrics_get(reg, HF_M_PARTITIONS_ASSIGNED), name);
}

/* librdkafka's own log lines are for debugging; our messages say what matters. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    hf_log(level <= 3 ? HF_LOG_DEBUG : HF_LOG_TRACE, "librdkafka %s: %s", fac, buf);
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

static int event_failed(const hf_batch_t *batch, size_t i)
{
    return batch->delivery_failed || !batch->event_failed || batch->event_failed[i];
}

static void on_retry_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    hf_part_t *part = w->data;
    hf_batch_t *batch = part->retry_batch;
    part->retry_batch = NULL;
    if (batch)
        hf_workers_submit(&part->trigger->host->workers, part->worker, batch);
}

/* Move the failed events of batch into a new batch run again after the policy's delay.
   The partition keeps it in flight, so its next events wait; other partitions go on. */
static void schedule_retry(hf_trigger_t *t, hf_part_t *part, hf_batch_t *batch)
{
    const hf_retry_t *policy = &t->fn->retry;
    hf_batch_t *rb = hf_batch_new(batch->events_n);
    size_t kept = 0;
    for (size_t i = 0; i < batch->events_n; i++) {
        if (event_failed(batch, i)) {
            rb->events[rb->events_n++] = batch->events[i];
        } else {
            batch->events[kept++] = batch->events[i];
        }
    }
    int64_t end = batch->events[batch->events_n - 1].offset + 1;
    if (end > part->hold_offset)
        part->hold_offset = end;
    batch->events_n = kept;
    hf_series_add(part->m_processed, (double)kept);
    rb->fn = batch->fn;
    rb->fn_index = batch->fn_index;
    rb->hub = batch->hub;
    rb->partition = batch->partition;
    rb->owner = part;
    rb->generation = batch->generation;
    rb->retry_count = batch->retry_count + 1;
    rb->max_retry_count = policy->max_retry_count;
    double delay = retry_delay_s(policy, rb->retry_count);
    hf_log_ctx_t ctx;
    log_ctx_for(t, part, &ctx);
    ctx.first_offset = rb->events[0].offset;
    ctx.last_offset = rb->events[rb->events_n - 1].offset;
    char of[32];
    if (policy->max_retry_count < 0)
        snprintf(of, sizeof(of), "unlimited");
    else
        snprintf(of, sizeof(of), "%d", policy->max_retry_count);
    hf_log_ctx(HF_LOG_WARN, &ctx, "invocation failed on hub %s partition %d offsets %lld-%lld "
               "(%zu events); retry %d of %s in %.1f s: %s", batch->hub, (int)part->id,
               (long long)ctx.first_offset, (long long)ctx.last_offset, rb->events_n,
               rb->retry_count, of, delay, batch->error ? batch->error : "unknown error");
    t->retries++;
    hf_series_add(t->m.retries, 1);
    part->inflight = rb;
    part->retry_batch = rb;
    hf_batch_free(batch);
    ev_timer_init(&part->retry_timer, on_retry_timer, delay, 0);
    ev_timer_start(t->host->loop, &part->retry_timer);
}

static int can_retry(const hf_trigger_t *t, const hf_batch_t *batch)
{
    const hf_retry_t *r = &t->fn->retry;
    return r->strategy != HF_RETRY_NONE && !t->stopping &&
           (r->max_retry_count < 0 || batch->retry_count < r->max_retry_count);
}

/* Move the partition's checkpoint past the batch and go on with the next one. */
static void checkpoint_batch(hf_trigger_t *t, hf_part_t *part, hf_batch_t *batch)
{
    part->inflight = NULL;
    int64_t end = batch->events[batch->events_n - 1].offset + 1;
    if (part->hold_offset > end)
        end = part->hold_offset;
    part->hold_offset = -1;
    part->done_offset = end;
    part->batches_since_commit++;
    if (part->batches_since_commit >= t->host->app.host.checkpoint_every)
        commit_part(part, 0);
    hf_batch_free(batch);
    dispatch(part, 0);
    check_finished(t);
}

static void dead_letter(hf_trigger_t *t, hf_part_t *part, hf_batch_t *batch);

/* Another try at a dead-letter hub that refused the events. */
static void on_dead_letter_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    hf_part_t *part = w->data;
    hf_batch_t *batch = part->inflight;
    if (batch && batch->dead_lettering && part->assigned)
        dead_letter(part->trigger, part, batch);
}

static void on_dead_lettered(hf_batch_t *batch, void *ud)
{
    hf_trigger_t *t = ud;
    hf_part_t *part = batch->owner;
    const hf_binding_t *b = &t->fn->outputs[t->dead_letter];
    hf_log_ctx_t ctx;
    if (part->generation != batch->generation || !part->assigned) {
        hf_batch_free(batch);
        check_finished(t);
        return;
    }
    log_ctx_for(t, part, &ctx);
    ctx.first_offset = batch->events[0].offset;
    ctx.last_offset = batch->events[batch->events_n - 1].offset;
    if (batch->delivery_failed || batch->delivered < batch->outputs_n) {
        /* Nothing is dropped: the partition waits and the events are offered again. */
        hf_log_ctx(HF_LOG_ERROR, &ctx, "dead-letter hub %s did not take %zu events; trying "
                   "again in 5 s: %s", b->hub, batch->outputs_n - batch->delivered,
                   batch->error ? batch->error : "unknown error");
        ev_timer_stop(t->host->loop, &part->retry_timer);
        ev_timer_init(&part->retry_timer, on_dead_letter_timer, 5.0, 0);
        ev_timer_start(t->host->loop, &part->retry_timer);
        return;
    }
    t->dead_lettered += batch->outputs_n;
    hf_series_add(t->m.dead_lettered, (double)batch->outputs_n);
    hf_log_ctx(HF_LOG_WARN, &ctx, "%zu events of hub %s partition %d offsets %lld-%lld sent to "
               "dead-letter hub %s after %d attempt%s", batch->outputs_n, batch->hub,
               (int)batch->partition, (long long)ctx.first_offset, (long long)ctx.last_offset,
               b->hub, batch->retry_count + 1, batch->retry_count ? "s" : "");
    checkpoint_batch(t, part, batch);
}

static void add_header(hf_output_t *out, const char *name, const char *value, size_t len)
{
    hf_header_t *grown = realloc(out->headers, (out->headers_n + 1) * sizeof(*grown));
    if (!grown)
        return;
    out->headers = grown;
    hf_header_t *h = &out->headers[out->headers_n++];
    h->name = strdup(name);
    h->value = malloc(len + 1);
    if (h->value) {
        memcpy(h->value, value, len);
        h->value[len] = 0;
    }
    h->value_len = len;
}

/* Send the batch's failed events, unchanged, to the function's $deadLetter hub with their
   coordinates and the error in headers; the checkpoint moves once the hub has them. */
static void dead_letter(hf_trigger_t *t, hf_part_t *part, hf_batch_t *batch)
{
    char num[64], *error = batch->error ? strdup(batch->error) : NULL;
    hf_batch_clear_outputs(batch);
    batch->delivered = 0;
    batch->delivery_failed = 0;
    for (size_t i = 0; i < batch->events_n; i++) {
        const hf_event_t *ev = &batch->events[i];
        if (batch->event_failed && !batch->event_failed[i] && !batch->dead_lettering)
            continue;
        hf_output_t out = {0};
        out.binding = t->dead_letter;
        out.body = malloc(ev->len ? ev->len : 1);
        if (!out.body)
            continue;
        memcpy(out.body, ev->payload, ev->len);
        out.body_len = ev->len;
        if (ev->key) {
            out.key = malloc(ev->key_len + 1);
            memcpy(out.key, ev->key, ev->key_len);
            out.key[ev->key_len] = 0;
            out.key_len = ev->key_len;
        }
        rd_kafka_headers_t *hdrs = ev->headers;
        if (hdrs) {
            const char *name;
            const void *val;
            size_t size;
            for (size_t h = 0; rd_kafka_header_get_all(hdrs, h, &name, &val, &size) ==
                               RD_KAFKA_RESP_ERR_NO_ERROR; h++)
                add_header(&out, name, val ? val : "", val ? size : 0);
        }
        add_header(&out, "hubfn-source-hub", batch->hub, strlen(batch->hub));
        snprintf(num, sizeof(num), "%d", (int)ev->partition);
        add_header(&out, "hubfn-source-partition", num, strlen(num));
        snprintf(num, sizeof(num), "%lld", (long long)ev->offset);
        add_header(&out, "hubfn-source-offset", num, strlen(num));
        add_header(&out, "hubfn-consumer-group", t->fn->trigger.consumer_group,
                   strlen(t->fn->trigger.consumer_group));
        add_header(&out, "hubfn-function", t->fn->name, strlen(t->fn->name));
        snprintf(num, sizeof(num), "%d", batch->retry_count + 1);
        add_header(&out, "hubfn-attempts", num, strlen(num));
        if (ev->enqueued_ms >= 0) {
            hf_log_time_iso(ev->enqueued_ms, num, sizeof(num));
            add_header(&out, "hubfn-enqueued-time", num, strlen(num));
        }
        const char *e = error ? error : "unknown error";
        const char *nl = strchr(e, '\n');   /* the first line; the traceback stays in the log */
        add_header(&out, "hubfn-error", e, nl ? (size_t)(nl - e) : strlen(e));
        if (batch->outputs_n == batch->outputs_cap) {
            size_t cap = batch->outputs_cap ? batch->outputs_cap * 2 : 8;
            hf_output_t *grown = realloc(batch->outputs, cap * sizeof(*grown));
            if (!grown) {
                hf_output_free(&out);
                continue;
            }
            batch->outputs = grown;
            batch->outputs_cap = cap;
        }
        batch->outputs[batch->outputs_n++] = out;
    }
    /* Keep only the events being dead-lettered, so a later attempt sends the same ones. */
    if (!batch->dead_lettering && batch->event_failed) {
        size_t kept = 0;
        for (size_t i = 0; i < batch->events_n; i++) {
            if (batch->event_failed[i])
                batch->events[kept++] = batch->events[i];
            else
                hf_event_release(&batch->events[i]);
        }
        int64_t end = batch->events[batch->events_n - 1].offset + 1;
        if (end > part->hold_offset)
            part->hold_offset = end;
        batch->events_n = kept;
    }
    batch->dead_lettering = 1;
    free(batch->error);
    batch->error = error;
    hf_outputs_deliver(t->host->outputs, batch, on_dead_lettered, t);
}

/* The batch is finished: handler done and every output delivered. Checkpoint it, retry its
   failed events, or send them to the dead-letter hub. */
static void finalize(hf_trigger_t *t, hf_batch_t *batch)
{
    hf_part_t *part = batch->owner;
    int failed = batch->status != HF_BATCH_OK || batch->delivery_failed;
    t->outputs += batch->delivered;
    if (part->generation != batch->generation || !part->assigned) {
        /* The partition was revoked meanwhile: its new owner reads these events again. */
        hf_batch_free(batch);
        check_finished(t);
        return;
    }
    if (failed && t->host->fatal) {
        /* Stopping on a failure waiting cannot fix (an output's credentials or rights):
           the batch is not checkpointed, so it runs again once that is fixed. */
        part->inflight = NULL;
        hf_batch_free(batch);
        check_finished(t);
        return;
    }
    if (failed && can_retry(t, batch)) {
        schedule_retry(t, part, batch);
        return;
    }
    t->batches++;
    if (!failed)
        hf_series_add(part->m_processed, (double)batch->events_n);
    if (failed) {
        hf_log_ctx_t ctx;
        log_ctx_for(t, part, &ctx);
        ctx.first_offset = batch->events[0].offset;
        ctx.last_offset = batch->events[batch->events_n - 1].offset;
        size_t n = 0;
        for (size_t i = 0; i < batch->events_n; i++)
            n += (size_t)event_failed(batch, i);
        hf_series_add(part->m_processed, (double)(batch->events_n - n));
        hf_series_add(part->m_failed, (double)n);
        t->failed_batches++;
        t->failed_events += n;
        char tries[64] = "";
        if (batch->retry_count > 0)
            snprintf(tries, sizeof(tries), " after %d retr%s", batch->retry_count,
                     batch->retry_count == 1 ? "y" : "ies");
        if (t->dead_letter >= 0 && t->host->outputs) {
            hf_log_ctx(HF_LOG_ERROR, &ctx,
                       "invocation failed on hub %s partition %d offsets %lld-%lld (%zu events)%s;"
                       " sending them to dead-letter hub %s: %s", batch->hub,
                       (int)batch->partition, (long long)ctx.first_offset,
                       (long long)ctx.last_offset, n, tries,
                       t->fn->outputs[t->dead_letter].hub,
                       batch->error ? batch->error : "unknown error");
            if (batch->delivery_failed && batch->event_failed)
                memset(batch->event_failed, 1, batch->events_n);
            dead_letter(t, part, batch);
            return;
        }
        hf_log_ctx(HF_LOG_ERROR, &ctx,
                   "invocation failed on hub %s partition %d offsets %lld-%lld (%zu events)%s; "
                   "the checkpoint moves past it: %s", batch->hub, (int)batch->partition,
                   (long long)ctx.first_offset, (long long)ctx.last_offset, n, tries,
                   batch->error ? batch->error : "unknown error");
    }
    checkpoint_batch(t, part, batch);
}

static void on_delivered(hf_batch_t *batch, void *ud)
{
    finalize(ud, batch);
}

/* Index of the function's $deadLetter output binding, or -1. */
static int find_dead_letter(const hf_function_t *fn)
{
    for (size_t i = 0; i < fn->outputs_n; i++)
        if (strcmp(fn->outputs[i].name, "$deadLetter") == 0)
            return (int)i;
    return -1;
}

/* Count one handler run of the batch: invocations, sizes, durations, lags. */
static void record_run(hf_trigger_t *t, const hf_batch_t *batch)
{
    int done = batch->invocations, failed = batch->failed_invocations;
    if (!t->host->metrics)
        return;
    hf_series_add(t->m.invocations_ok, done - failed);
    hf_series_add(t->m.invocations_failed, failed);
    hf_series_observe(t->m.batch_size, (double)batch->events_n);
    /* cardinality one: the batch's invocations share its time evenly */
    if (done > 0)
        hf_series_observe_n(t->m.duration, (double)batch->run_us / 1e6 / done, (uint64_t)done);
    if (batch->started_ms <= 0 || batch->done_ms <= 0)
        return;
    for (size_t i = 0; i < batch->events_n; i++) {
        int64_t enq = batch->events[i].enqueued_ms;
        if (enq < 0)
            continue;
        /* clamp clock skew between the producer or broker and this machine */
        hf_series_observe(t->m.to_start,
                          batch->started_ms > enq ? (double)(batch->started_ms - enq) / 1e3 : 0);
        hf_series_observe(t->m.to_done,
                          batch->done_ms > enq ? (double)(batch->done_ms - enq) / 1e3 : 0);
    }
}

void hf_trigger_complete(hf_trigger_t *t, hf_batch_t *batch)
{
    hf_part_t *part = batch->owner;
    record_run(t, batch);
    if (batch->outputs_n > 0 && t->host->outputs && part->generation == batch->generation &&
        part->assigned) {
        hf_outputs_deliver(t->host->outputs, batch, on_delivered, t);
        return;
    }
    finalize(t, batch);
}

int hf_trigger_at_eof(const hf_trigger_t *t)
{
    int assigned = 0;
    if (!t->assigned_once)
        return 0;
    for (int32_t i = 0; i < t->parts_cap; i++) {
        const hf_part_t *part = t->parts[i];
        if (!part || !part->assigned)
            continue;
        assigned++;
        if (!part->eof || pending_count(part) || part->inflight)
            return 0;
    }
    /* An empty assignment is the end only for an instance that never had partitions (more
       instances than partitions); one that lost its partitions waits for them again. */
    return assigned > 0 || !t->had_partitions;
}

int hf_trigger_idle(const hf_trigger_t *t)
{
    for (int32_t i = 0; i < t->parts_cap; i++)
        if (t->parts[i] && t->parts[i]->inflight)
            return 0;
    return 1;
}

static void check_finished(hf_trigger_t *t)
{
    if (t->stopping ? hf_trigger_idle(t)
                    : (t->host->opts.exit_on_eof && hf_trigger_at_eof(t)))
        hf_host_trigger_finished(t->host);
}

void hf_trigger_stop(hf_trigger_t *t)
{
    if (t->stopping)
        return;
    t->stopping = 1;
    for (int32_t i = 0; i < t->parts_cap; i++) {
        hf_part_t *part = t->parts[i];
        if (!part || !part->assigned)
            continue;
        ev_timer_stop(t->host->loop, &part->wait_timer);
        drop_pending(part);
        set_paused(part, 1);
        if (part->inflight && ev_is_active(&part->retry_timer)) {
            /* A retry (or a dead-letter attempt) waiting for its delay is not run:
               checkpoint up to its first event, so the next run starts there and repeats
               nothing that succeeded before. */
            ev_timer_stop(t->host->loop, &part->retry_timer);
            part->done_offset = part->inflight->events[0].offset;
            part->hold_offset = -1;
            hf_batch_free(part->inflight);
            part->retry_batch = NULL;
            part->inflight = NULL;
        }
    }
}

/* Commit synchronously, but give up after timeout_ms (a plain synchronous commit waits for
   the coordinator without limit). Returns the commit's result or a timeout. */
static rd_kafka_resp_err_t commit_bounded(hf_trigger_t *t,
                                          rd_kafka_topic_partition_list_t *list, int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(t->rk);
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(t->rk, list, q, NULL, NULL);
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

/* The last checkpoints decide what the next run repeats: commit every partition's finished
   offset synchronously (async commits may still be in flight or have failed unseen), and
   try for a while if the coordinator is busy. */
static void commit_all_sync(hf_trigger_t *t)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
        for (int32_t i = 0; i < t->parts_cap; i++) {
            hf_part_t *part = t->parts[i];
            if (part && part->assigned && part->done_offset >= 0)
                rd_kafka_topic_partition_list_add(list, t->fn->trigger.hub, part->id)->offset =
                    part->done_offset;
        }
        rd_kafka_resp_err_t err = list->cnt ? commit_bounded(t, list, 5000)
                                            : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            hf_series_add(err ? t->m.commit_failures : t->m.commits, list->cnt);
        rd_kafka_topic_partition_list_destroy(list);
        if (!err || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
            return;
        hf_log_warn("function %s: final checkpoint failed: %s%s", t->fn->name,
                    rd_kafka_err2str(err), attempt < 3 ? "; trying again" : "");
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(t->rk, 500);
        if (rkm)
            rd_kafka_message_destroy(rkm);
    }
}

void hf_trigger_close(hf_trigger_t *t)
{
    if (!t)
        return;
    ev_io_stop(t->host->loop, &t->io);
    ev_timer_stop(t->host->loop, &t->tick);
    if (t->rk) {
        commit_all_sync(t);
        t->stopping = 1;
        rd_kafka_queue_io_event_enable(t->queue, -1, NULL, 0);
        rd_kafka_queue_destroy(t->queue);
        for (int32_t i = 0; i < t->parts_cap; i++)
            if (t->parts[i])
                part_queue_close(t->parts[i]);
        rd_kafka_consumer_close(t->rk);
        /* Destroying the handle waits for every message still referenced, and a handler the
           drain gave up on still holds its batch: the process exits instead. */
        if (t->host->abandon)
            return;
        rd_kafka_destroy(t->rk);
        t->rk = NULL;
    }
    for (int32_t i = 0; i < t->parts_cap; i++) {
        if (!t->parts[i])
            continue;
        drop_pending(t->parts[i]);
        free(t->parts[i]->pending);
        free(t->parts[i]);
    }
    free(t->parts);
    close(t->fd[0]);
    close(t->fd[1]);
    free(t);
}

void hf_trigger_stats(const hf_trigger_t *t, hf_host_stats_t *add)
{
    add->events += t->events;
    add->batches += t->batches;
    add->failed_batches += t->failed_batches;
    add->failed_events += t->failed_events;
    add->outputs += t->outputs;
    add->dead_lettered += t->dead_lettered;
    add->retries += t->retries;
}

int hf_trigger_ready(const hf_trigger_t *t, char *why, size_t whysz)
{
    if (t->brokers_down) {
        snprintf(why, whysz, "function %s: no broker of %s is reachable", t->fn->name,
                 t->conn_desc);
        return 0;
    }
    if (!t->assigned_once) {
        snprintf(why, whysz, "function %s: joining consumer group %s of hub %s", t->fn->name,
                 t->fn->trigger.consumer_group, t->fn->trigger.hub);
        return 0;
    }
    return 1;
}

void hf_trigger_collect(hf_trigger_t *t)
{
    int assigned = 0;
    for (int32_t i = 0; i < t->parts_cap; i++) {
        hf_part_t *part = t->parts[i];
        if (!part)
            continue;
        int64_t lo = -1, hi = -1, pos = part->position;
        if (part->assigned && t->rk)
            rd_kafka_get_watermark_offsets(t->rk, t->fn->trigger.hub, part->id, &lo, &hi);
        if (pos < 0)             /* nothing fetched yet and no checkpoint: where it starts */
            pos = t->host->app.host.initial_offset == HF_OFFSET_FROM_END ? hi : lo;
        if (!part->assigned || hi < 0 || pos < 0)
            hf_series_hide(part->m_lag);
        else
            hf_series_set(part->m_lag, hi > pos ? (double)(hi - pos) : 0);
        assigned += part->assigned;
    }
    hf_series_set(t->m.assigned, assigned);
}

int hf_trigger_start(hf_host_t *host, int fn_index, hf_trigger_t **out, char *err, size_t errsz)
{
    const hf_function_t *fn = &host->app.functions[fn_index];
    const hf_host_cfg_t *cfg = &host->app.host;
    hf_trigger_t *t = calloc(1, sizeof(*t));
    char errstr[512], num[32];
    if (!t) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    t->host = host;
    t->fn_index = fn_index;
    t->fn = fn;
    t->fd[0] = t->fd[1] = -1;
    t->dead_letter = find_dead_letter(fn);
    hf_conn_describe(fn->trigger.conn, t->conn_desc, sizeof(t->conn_desc));
    init_metrics(t);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    hf_kafka_conf_t kc = {conf, errstr, sizeof(errstr), NULL};
    /* Event Hubs' recommended consumer settings, then the app's. */
    if (hf_kafka_conf_common(&kc, fn->trigger.conn) != 0)
        goto conf_err;
    if (hf_kafka_conf_set(&kc, "group.id", fn->trigger.consumer_group) ||
        hf_kafka_conf_set(&kc, "enable.auto.commit", "false") ||
        hf_kafka_conf_set(&kc, "enable.auto.offset.store", "false") ||
        hf_kafka_conf_set(&kc, "enable.partition.eof", host->opts.exit_on_eof ? "true" : "false") ||
        hf_kafka_conf_set(&kc, "auto.offset.reset",
                          cfg->initial_offset == HF_OFFSET_FROM_END ? "latest" : "earliest") ||
        hf_kafka_conf_set(&kc, "partition.assignment.strategy", "roundrobin") ||
        hf_kafka_conf_set(&kc, "session.timeout.ms", "30000") ||
        hf_kafka_conf_set(&kc, "heartbeat.interval.ms", "3000") ||
        hf_kafka_conf_set(&kc, "max.poll.interval.ms", "300000") ||
        hf_kafka_conf_set(&kc, "fetch.wait.max.ms", "100"))
        goto conf_err;
    /* Each partition fetches into its own queue up to prefetchCount events (or 1 MB, the
       most one event may be); one fetch asks at most 64 KB per partition beyond the first
       record batch, so a fetch returns soon and a queue overshoots little. */
    snprintf(num, sizeof(num), "%d", cfg->prefetch > 0 ? cfg->prefetch : 1);
    if (hf_kafka_conf_set(&kc, "queued.min.messages", num) ||
        hf_kafka_conf_set(&kc, "queued.max.messages.kbytes", "1024") ||
        hf_kafka_conf_set(&kc, "fetch.message.max.bytes", "65536"))
        goto conf_err;
    /* With metrics on, librdkafka's statistics keep the low watermarks (consumer lag) and
       the brokers' states (readiness) fresh. */
    if (host->metrics && hf_kafka_conf_set(&kc, "statistics.interval.ms", "5000"))
        goto conf_err;
    if (hf_kafka_conf_user(&kc, cfg) != 0)
        goto conf_err;
    rd_kafka_conf_set_opaque(conf, t);
    if (host->metrics)
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);

    t->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!t->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errsz, "function %s: cannot create the consumer: %s", fn->name, errstr);
        free(t);
        return -1;
    }
    rd_kafka_poll_set_consumer(t->rk);
    t->queue = rd_kafka_queue_get_consumer(t->rk);

    if (pipe2(t->fd, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, errsz, "pipe: %s", strerror(errno));
        goto fail;
    }
    rd_kafka_queue_io_event_enable(t->queue, t->fd[1], "1", 1);
    ev_io_init(&t->io, on_io, t->fd[0], EV_READ);
    t->io.data = t;
    ev_io_start(host->loop, &t->io);
    ev_timer_init(&t->tick, on_tick, 1.0, 1.0);
    t->tick.data = t;
    ev_timer_start(host->loop, &t->tick);

    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, fn->trigger.hub, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rerr = rd_kafka_subscribe(t->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (rerr) {
        snprintf(err, errsz, "function %s: cannot subscribe to hub %s: %s", fn->name,
                 fn->trigger.hub, rd_kafka_err2str(rerr));
        goto fail;
    }
    hf_log_info("function %s: listening to hub %s on %s (consumer group %s, cardinality %s)",
                fn->name, fn->trigger.hub, t->conn_desc, fn->trigger.consumer_group,
                fn->trigger.cardinality == HF_CARD_MANY ? "many" : "one");
    *out = t;
    return 0;

conf_err:
    snprintf(err, errsz, "function %s: %s", fn->name, errstr);
    rd_kafka_conf_destroy(conf);
    free(t);
    return -1;
fail:
    hf_trigger_close(t);
    return -1;
}
