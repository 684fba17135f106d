/*
 * context.bindings: the tables a handler sends through, made from each binding's type
 * (bindings/binding.h), and the calls binding types' Lua code uses during an invocation.
 *
 * Thread: the thread that owns the state (a worker, or hubfn run's).
 */
#ifndef HF_LUA_BINDINGS_H
#define HF_LUA_BINDINGS_H

#include <lua.h>
#include <stdint.h>

#include "app.h"
#include "batch.h"

/* For binding types: */
/* The app of the state L belongs to. */
const hf_app_t *hf_lua_app(lua_State *L);
/* The binding whose context.bindings table is at idx (raises outside an invocation). */
const hf_binding_t *hf_lua_binding(lua_State *L, int idx);
/* Fill out->body from the value at idx: a string as it is, anything else as JSON (raises
   "bindings.NAME:send: cannot encode ..." when it cannot be). */
void hf_lua_output_body(lua_State *L, int idx, hf_output_t *out, const char *binding);

/* The current invocation's events: [*first, *first + *n) of the batch. */
void hf_lua_invocation(lua_State *L, size_t *first, size_t *n);
/* How many messages binding b sent before this one in the current invocation for the
   event at `offset` (counting from 0): with the event's coordinates, a request's place
   that is the same each time the invocation runs. */
uint64_t hf_lua_send_ordinal(lua_State *L, const hf_binding_t *b, int64_t offset);

/* Push the current invocation's own table, made on first use and dropped when the next
   invocation starts: what a binding type keeps per invocation goes in it, under a key of
   its own (a light userdata). */
void hf_lua_invocation_table(lua_State *L);
/* The partition of the batch being run (hubfn run: 0, or the captured event's). */
int32_t hf_lua_partition(lua_State *L);
/* Queue an output message of binding b made outside `send` (in lua_finish): as a message
   the invocation sent. */
void hf_lua_add_output(lua_State *L, const hf_binding_t *b, hf_output_t *out);

/* For the Lua host: */
/* Push context.bindings of fn. */
void hf_lua_push_bindings(lua_State *L, const hf_function_t *fn);
/* Queue one message of output binding `binding` (index in fn->outputs) from the value at
   idx with the options table at opts (0: none); raises on a bad value. */
void hf_lua_send(lua_State *L, int binding, int idx, int opts);
/* lua_CFunction: send arg 1 (the handler's return value) through $return, if any. */
int hf_lua_l_send_return(lua_State *L);
/* lua_CFunction, the very last step of an invocation that succeeded (nothing may fail it
   after): each binding's lua_finish makes the invocation's work final. An error raised
   here fails the invocation. */
int hf_lua_l_finish(lua_State *L);

#endif
