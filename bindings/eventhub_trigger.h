/*
 * The eventHubTrigger binding: a librdkafka high-level consumer in the function's consumer
 * group, woken through an fd on the libev loop, batching events per partition and
 * checkpointing (committing) only what the handler has finished.
 *
 * Thread: everything here runs on the loop thread.
 */
#ifndef HF_EVENTHUB_TRIGGER_H
#define HF_EVENTHUB_TRIGGER_H

#include "host.h"

/* Create and subscribe the consumer of function fn_index. -1 with one line in err. */
int hf_trigger_start(hf_host_t *host, int fn_index, hf_trigger_t **out, char *err,
                     size_t errsz);
/* A batch of this trigger finished on a worker. */
void hf_trigger_complete(hf_trigger_t *trigger, hf_batch_t *batch);
/* Stop fetching and drop what is not dispatched yet; in-flight batches still finish. */
void hf_trigger_stop(hf_trigger_t *trigger);
/* Nothing in flight any more (after hf_trigger_stop). */
int hf_trigger_idle(const hf_trigger_t *trigger);
/* With --exit-on-eof: every assigned partition is drained and checkpointed. */
int hf_trigger_at_eof(const hf_trigger_t *trigger);
/* Commit what is finished, leave the group and free everything. */
void hf_trigger_close(hf_trigger_t *trigger);
/* 1 when the consumer has joined its group and a broker answers; else 0 with why. */
int hf_trigger_ready(const hf_trigger_t *trigger, char *why, size_t whysz);
/* Set the gauges read at scrape time: consumer lag per partition, partitions owned. */
void hf_trigger_collect(hf_trigger_t *trigger);
/* Counters for the summary line. */
void hf_trigger_stats(const hf_trigger_t *trigger, hf_host_stats_t *add);

#endif
