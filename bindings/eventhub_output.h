/*
 * The eventHub output binding: one idempotent librdkafka producer per connection, shared
 * by every output binding that uses it; a batch's outputs are produced after its handler
 * returned, and the batch is handed back once every message has a delivery report, so the
 * trigger checkpoints the input only after its outputs are safely in their hubs.
 *
 * Thread: loop thread (delivery reports are served on the libev loop through an fd).
 */
#ifndef HF_EVENTHUB_OUTPUT_H
#define HF_EVENTHUB_OUTPUT_H

#include "host.h"

typedef struct hf_outputs hf_outputs_t;

/* Called once per delivered batch. On failure batch->delivery_failed is set and
   batch->error says which binding, hub and why (e.g. the policy lacks Send rights). */
typedef void (*hf_outputs_done_fn)(hf_batch_t *batch, void *ud);

/* Create the producers every enabled function's output bindings need. -1 with err. */
int hf_outputs_start(hf_outputs_t **out, hf_host_t *host, char *err, size_t errsz);
/* Produce every output of the batch; done() runs on the loop thread when all delivery
   reports are in (at once when there are none). */
void hf_outputs_deliver(hf_outputs_t *outputs, hf_batch_t *batch, hf_outputs_done_fn done,
                        void *ud);
/* Serve delivery reports now, waiting up to timeout_ms for one (used while the loop is
   blocked, e.g. in a rebalance callback waiting for revoked partitions' batches). */
void hf_outputs_poll(hf_outputs_t *outputs, int timeout_ms);
/* Messages still waiting for a delivery report. */
size_t hf_outputs_in_flight(const hf_outputs_t *outputs);
/* Wait up to timeout_ms for in-flight messages, then destroy the producers. */
void hf_outputs_close(hf_outputs_t *outputs, int timeout_ms);

#endif
