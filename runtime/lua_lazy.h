#ifndef HF_LUA_LAZY_H
#define HF_LUA_LAZY_H

#include <stddef.h>

#include <lua.h>

/*
 * Lazy tables. One shared metatable per state ("hubfn.event") lets a table compute some
 * of its fields on first read, so that a handler pays only for what it reads:
 *
 * hf_lazy_set_body makes the event table at ev_idx decode buf[0..len) (copied into a
 * Lua string) as its `body` the first time ev.body, ev.decodeError or pairs(ev) is used:
 * body is then the decoded value, or the raw string with decodeError set, exactly as an
 * eager hf_json_decode would give. Until then the payload waits in ev under a private
 * light-userdata key (visible to a raw next(ev) only; __pairs decodes and removes it
 * first). With hf_activation_push_json this lets an activation handler that never reads
 * ev.body skip building it.
 *
 * hf_lazy_field registers, for this state, a builder for the field `name` of every
 * table carrying the metatable: reading t.name when t has no such raw field calls
 * build(t) (one argument, one result); a non-nil result is stored in t with a raw set (so
 * it is built once) and returned. A builder returns nil for a table it does not apply to.
 * pairs(t) first decodes the body and builds every registered field t lacks, so iteration
 * sees them all. hf_lazy_set gives a table the metatable without a lazy body. The
 * host uses this for the event metadata (enqueuedTime, properties, systemProperties) and
 * for triggerMetadata (lua_host.c).
 *
 * Like any Lua API call these may raise a memory error; call them where the tables are
 * built (a protected call).
 */
void hf_lazy_set_body(lua_State *L, int ev_idx, const char *buf, size_t len);
void hf_lazy_set(lua_State *L, int idx);
/* hf_lazy_set_body for text already a Lua string at text_idx (shared, not copied). */
void hf_lazy_set_text(lua_State *L, int ev_idx, int text_idx);
void hf_lazy_field(lua_State *L, const char *name, lua_CFunction build);

/* Build every lazy field of the table at idx (what pairs() does first; the JSON encoder
   writes lazy tables this way) and return 1, or return 0 when idx is not a lazy table
   (its metatable was not marked with hf_lazy_mark). For the shared metatable: decode the
   lazy body and build every registered field the table lacks. */
int hf_lazy_fill(lua_State *L, int idx);
/* Mark the metatable at mt_idx as one of lazy tables: fill(t) builds every lazy field of t
   (a lua_CFunction called with t, no results). Other metatables than the shared one (the
   event tables of lua_event.c) mark themselves so. */
void hf_lazy_mark(lua_State *L, int mt_idx, lua_CFunction fill);
/* next() over a lazy table for its __pairs: raw, skipping the private light-userdata keys
   (arguments and results as next's). */
int hf_lazy_next(lua_State *L);
/* Push this state's lazy metatable and return 1, or push nothing and return 0 when no
   lazy table was made yet. */
int hf_lazy_push_mt(lua_State *L);

#endif
