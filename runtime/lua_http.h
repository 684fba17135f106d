/*
 * require("hubfn").http: HTTP requests with responses, from a handler. They block the
 * calling handler (and count against functionTimeout) but never the event loop, the other
 * workers or the delivery of outputs: each Lua state has a client of its own
 * (runtime/httpc.c, blocking mode). For lookups and enrichment; deliveries that must not be
 * lost go through an http output binding. docs/lua-api.md describes the calls.
 *
 * Thread: the thread that owns the state.
 */
#ifndef HF_LUA_HTTP_H
#define HF_LUA_HTTP_H

#include <lua.h>

/* Push the http table (request, requests). */
int hf_lua_http_open(lua_State *L);

#endif
