/*
 * require("hubfn").http: HTTP requests with responses, from a handler. The handler waits
 * for its answers (and they count against functionTimeout), but neither its worker nor the
 * event loop does: inside an invocation's own coroutine the requests start on the state's
 * client (runtime/httpc.c, worker side) and the coroutine yields, so the worker runs other
 * invocations until the answers are there (lua_host.c, hf_lua_poll). Elsewhere (a
 * coroutine of the script's, a module's top level) the call waits. For lookups and
 * enrichment; deliveries that must not be lost go through an http output binding.
 * docs/lua-api.md describes the calls.
 *
 * Thread: the thread that owns the state.
 */
#ifndef HF_LUA_HTTP_H
#define HF_LUA_HTTP_H

#include <lua.h>

/* Push the http table (request, requests). */
int hf_lua_http_open(lua_State *L);

#endif
