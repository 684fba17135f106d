/*
 * Event tables and triggerMetadata, as a handler sees them (docs/lua-api.md "events").
 *
 * What every handler reads is set when the event is built: partition, offset,
 * sequenceNumber, partitionKey, activation, and properties when the event has headers. The
 * rest is built on first read through the lazy metatable (lua_lazy.h): body and decodeError
 * from the payload, enqueuedTime, properties ({} without headers) and systemProperties.
 * triggerMetadata's per-event fields are built on first read the same way.
 *
 * Thread: the thread that owns the state.
 */
#ifndef HF_LUA_EVENT_H
#define HF_LUA_EVENT_H

#include <lua.h>

#include "app.h"
#include "batch.h"

/* Register the lazy fields of events and triggerMetadata in this state (once, at init). */
void hf_lua_event_register(lua_State *L);
/* Push the table of event field names (made once per state); pass its stack index to
   hf_lua_push_event, which sets fields by these pre-made strings. */
void hf_lua_push_event_names(lua_State *L);
/* Push the event table of ev, its body decoded per data_type on first read. */
void hf_lua_push_event(lua_State *L, const hf_event_t *ev, hf_datatype_t data_type, int names);
/* Push triggerMetadata of an invocation over events [first, first+n) of the batch: evs is
   the stack index of the events array (many) or of the event (one), parts that of the
   function's cached context parts (holding partitionContext's fixed fields). */
void hf_lua_push_trigger_metadata(lua_State *L, const hf_batch_t *batch, size_t first,
                                  size_t n, int many, int evs, int parts);

#endif
