/*
 * A Lua state with every function of the app loaded, and the call of one handler on one
 * batch: its events (lua_event.c), the context with context.bindings (lua_bindings.c), a
 * traceback on error, a count hook that enforces functionTimeout, a capped allocator.
 *
 * Thread: an hf_lua_t belongs to one thread (a worker, or the main thread of hubfn run).
 */
#ifndef HF_LUA_HOST_H
#define HF_LUA_HOST_H

#include <lua.h>

#include "app.h"
#include "batch.h"

typedef struct hf_pool hf_pool_t;  /* small-block allocator of the state (lua_host.c) */

typedef struct hf_lua {
    lua_State *L;
    const hf_app_t *app;
    int *handlers;               /* registry ref of each function's handler, or LUA_NOREF */
    int *contexts;               /* registry ref of each function's cached context parts */
    hf_batch_t *batch;           /* the batch being run */
    size_t inv_first, inv_n;     /* the current invocation's events in the batch */
    int current_fn;              /* the function being loaded or run, or -1 */
    int sends_ref;               /* registry ref of the invocation's own table (send
                                    counters, bindings' per-invocation data: lua_bindings.h
                                    hf_lua_invocation_table), or LUA_NOREF (made on first
                                    use) */
    int64_t deadline_us;         /* monotonic deadline of the current invocation, 0 = none */
    int timed_out;
    size_t mem_used;
    size_t mem_limit;            /* 0 = none */
    int mem_exceeded;
    uint64_t rng;                /* invocation ids */
    int calls_since_gc;
    hf_pool_t *pool;             /* NULL: every block from malloc */
} hf_lua_t;

/* Create the state and load every enabled function. -1 with one line (file:line) in err. */
int hf_lua_init(hf_lua_t *lua, const hf_app_t *app, char *err, size_t errsz);
/* (Re)load one function's script; on failure the previous handler stays. */
int hf_lua_load_function(hf_lua_t *lua, int fn_index, char *err, size_t errsz);
void hf_lua_close(hf_lua_t *lua);

/* Run the batch's function on its events; fills status, error, outputs, counters. */
void hf_lua_invoke(hf_lua_t *lua, hf_batch_t *batch);

/* The hf_lua_t a state belongs to. */
static inline hf_lua_t *hf_lua_of(lua_State *L)
{
    return *(hf_lua_t **)lua_getextraspace(L);
}

#endif
