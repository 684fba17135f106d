/*
 * The eventHubState binding type (eventhub_state.c): per-key state of the partition being
 * handled, kept in a compacted hub. What other code may reach of it: the type, and the
 * store of one of its bindings (tests, tools).
 */
#ifndef HF_EVENTHUB_STATE_H
#define HF_EVENTHUB_STATE_H

#include "binding.h"
#include "state.h"

extern const hf_binding_type_t hf_eventhub_state_type;

/* The in-memory state of an eventHubState binding (made when the binding was loaded). */
hf_state_t *hf_eventhub_state_store(const hf_binding_t *b);

#endif
