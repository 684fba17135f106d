#include "batch.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "binding.h"
#include "trace.h"

hf_batch_t *hf_batch_new(size_t events_cap)
{
    hf_batch_t *batch = hf_calloc(1, sizeof(*batch));
    batch->fail_binding = -1;
    batch->events = hf_calloc(events_cap ? events_cap : 1, sizeof(hf_event_t));
    return batch;
}

void hf_event_release(hf_event_t *ev)
{
    free(ev->own);
    free(ev->headers);
    ev->own = NULL;
    ev->headers = NULL;
    ev->headers_n = 0;
}

void hf_output_add_header(hf_output_t *out, const char *name, const char *value, size_t len)
{
    out->headers = hf_realloc(out->headers, (out->headers_n + 1) * sizeof(*out->headers));
    hf_header_t *h = &out->headers[out->headers_n++];
    h->name = hf_strdup(name);
    h->value = hf_memdup(value, len);
    h->value_len = len;
}

void hf_output_free(const hf_function_t *fn, hf_output_t *out)
{
    if (out->ext && fn && out->binding >= 0 && (size_t)out->binding < fn->outputs_n) {
        const hf_binding_type_t *type = fn->outputs[out->binding].type;
        if (type && type->free_ext)
            type->free_ext(out->ext);
    }
    out->ext = NULL;
    free(out->key);
    free(out->body);
    for (size_t i = 0; i < out->headers_n; i++) {
        free(out->headers[i].name);
        free(out->headers[i].value);
    }
    free(out->headers);
    out->key = out->body = NULL;
    out->headers = NULL;
    out->headers_n = 0;
}

void hf_batch_add_output(hf_batch_t *batch, const hf_output_t *out)
{
    if (batch->outputs_n == batch->outputs_cap) {
        batch->outputs_cap = batch->outputs_cap ? batch->outputs_cap * 2 : 16;
        batch->outputs = hf_realloc(batch->outputs, batch->outputs_cap * sizeof(*batch->outputs));
    }
    batch->outputs[batch->outputs_n++] = *out;
}

void hf_batch_drop_outputs(hf_batch_t *batch, size_t from)
{
    while (batch->outputs_n > from)
        hf_output_free(batch->fn, &batch->outputs[--batch->outputs_n]);
}

void hf_batch_clear_outputs(hf_batch_t *batch)
{
    hf_batch_drop_outputs(batch, 0);
}

void hf_batch_free(hf_batch_t *batch)
{
    if (!batch)
        return;
    hf_trace_batch_end(batch);   /* settled: its spans end with their outcome */
    for (size_t i = 0; i < batch->events_n; i++)
        hf_event_release(&batch->events[i]);
    hf_batch_clear_outputs(batch);
    free(batch->outputs);
    free(batch->event_failed);
    free(batch->bisect);
    free(batch->bisect_error);
    for (size_t i = 0; i < batch->event_error_n; i++)
        free(batch->event_error[i]);
    free(batch->event_error);
    free(batch->events);
    free(batch->error);
    free(batch->delivery_error);
    free(batch->fail_response);
    for (size_t i = 0; i < batch->inv_failures_n; i++) {
        free(batch->inv_failures[i].response);
        free(batch->inv_failures[i].error);
    }
    free(batch->inv_failures);
    free(batch);
}
