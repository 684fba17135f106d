/*
 * Event tables and triggerMetadata, as a handler sees them (docs/lua-api.md "events").
 *
 * An event costs nothing until the handler reads it: every field (partition, offset,
 * sequenceNumber, partitionKey, enqueuedTime, properties, systemProperties, activation,
 * body, decodeError) is built on first read from a copy of the invocation's events kept
 * in one block (a userdata) per invocation, and then stored in the table. pairs() and the JSON encoder build them
 * all first. triggerMetadata's per-event fields are built on first read the same way.
 *
 * Thread: the thread that owns the state.
 */
#ifndef HF_LUA_EVENT_H
#define HF_LUA_EVENT_H

#include <lua.h>

#include "app.h"
#include "batch.h"

/* Register the lazy fields of triggerMetadata and make the events' metatable in this
   state (once, at init). */
void hf_lua_event_register(lua_State *L);
/* Push the events of an invocation over events [first, first+n) of the batch: an array
   of n event tables (many), or the event table of events[first] (one, then n is 1). */
void hf_lua_push_events(lua_State *L, const hf_batch_t *batch, size_t first, size_t n,
                        int many);
/* Push triggerMetadata of an invocation over events [first, first+n) of the batch: evs is
   the stack index of the events array (many) or of the event (one), parts that of the
   function's cached context parts (holding partitionContext's fixed fields). */
void hf_lua_push_trigger_metadata(lua_State *L, const hf_batch_t *batch, size_t first,
                                  size_t n, int many, int evs, int parts);

#endif
