#include "batch.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>

hf_batch_t *hf_batch_new(size_t events_cap)
{
    hf_batch_t *batch = calloc(1, sizeof(*batch));
    if (!batch)
        return NULL;
    batch->events = calloc(events_cap ? events_cap : 1, sizeof(hf_event_t));
    if (!batch->events) {
        free(batch);
        return NULL;
    }
    return batch;
}

void hf_event_release(hf_event_t *ev)
{
    free(ev->own);
    if (ev->headers)
        rd_kafka_headers_destroy(ev->headers);
    ev->own = NULL;
    ev->headers = NULL;
}

void hf_output_free(hf_output_t *out)
{
    free(out->key);
    free(out->body);
    for (size_t i = 0; i < out->headers_n; i++) {
        free(out->headers[i].name);
        free(out->headers[i].value);
    }
    free(out->headers);
}

void hf_batch_clear_outputs(hf_batch_t *batch)
{
    for (size_t i = 0; i < batch->outputs_n; i++)
        hf_output_free(&batch->outputs[i]);
    batch->outputs_n = 0;
}

void hf_batch_free(hf_batch_t *batch)
{
    if (!batch)
        return;
    for (size_t i = 0; i < batch->events_n; i++)
        hf_event_release(&batch->events[i]);
    hf_batch_clear_outputs(batch);
    free(batch->outputs);
    free(batch->event_failed);
    free(batch->events);
    free(batch->error);
    free(batch);
}
