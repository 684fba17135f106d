/*
 * A Lua state with every function of the app loaded, and the call of one handler on one
 * batch: its events (lua_event.c), the context with context.bindings (lua_bindings.c), a
 * traceback on error, a count hook that enforces functionTimeout, a capped allocator.
 * Loading a script (its chunk and what it requires) runs under the same timeout and cap as
 * a handler.
 *
 * Thread: an hf_lua_t belongs to one thread (a worker, or the main thread of hubfn run);
 * only call_started_us, call_fn and call_loading may be read from another thread.
 */
#ifndef HF_LUA_HOST_H
#define HF_LUA_HOST_H

#include <lua.h>
#include <stdatomic.h>

#include "app.h"
#include "batch.h"

typedef struct hf_pool hf_pool_t;  /* small-block allocator of the state (lua_host.c) */
typedef struct hf_httpc_sync hf_httpc_sync_t;   /* httpc.h */
typedef struct hf_httpc_group hf_httpc_group_t;
typedef struct hf_run hf_run_t;    /* a batch being run (lua_host.c) */
typedef struct hf_inv hf_inv_t;    /* an invocation, a coroutine (lua_host.c) */

typedef struct hf_lua {
    lua_State *L;
    const hf_app_t *app;
    int *handlers;               /* registry ref of each function's handler, or LUA_NOREF */
    int *contexts;               /* registry ref of each function's cached context parts */
    /* The invocation running now (its fields are swapped in while it runs and out while it
       waits), or NULL between invocations */
    hf_batch_t *batch;           /* the batch being run */
    size_t inv_first, inv_n;     /* the current invocation's events in the batch */
    int current_fn;              /* the function being loaded or run, or -1 */
    int sends_ref;               /* registry ref of the invocation's own table (send
                                    counters, bindings' per-invocation data: lua_bindings.h
                                    hf_lua_invocation_table), or LUA_NOREF (made on first
                                    use) */
    int64_t deadline_us;         /* monotonic deadline of the current call (an invocation or
                                    a script's load), 0 = none */
    int timed_out;
    char stopped_at[300];        /* where the timeout stopped the script ("file:line"), or "" */
    size_t mem_used;
    size_t mem_limit;            /* 0 = none */
    int capped;                  /* mem_limit applies: set only inside the protected calls
                                    that run a script's code, so that the host's own
                                    unprotected calls never see an allocation fail */
    int mem_exceeded;
    int error_is_fail;           /* batch->error is context.fail's reason, not a raised error */
    hf_inv_t *inv;               /* the invocation running now */
    lua_State *inv_co;           /* its coroutine: only there may a request suspend it */
    hf_httpc_group_t *suspend_group;   /* set by require("hubfn").http before it yields */
    hf_httpc_sync_t *http;       /* the state's HTTP client (lua_http.c) */
    hf_run_t *suspended;         /* runs whose invocation waits for its requests */
    size_t suspended_n;
    uint64_t rng;                /* invocation ids */
    int calls_since_gc;
    hf_pool_t *pool;             /* NULL: every block from malloc */
    /* The call running now, for health checks from other threads: its monotonic start
       (0 when the state runs no call), its function and whether it loads the script. */
    _Atomic int64_t call_started_us;
    _Atomic int call_fn;
    _Atomic int call_loading;
    struct hf_span *span;        /* the current invocation's span (trace.h), or NULL */
    /* Per function, the monotonic start of its oldest invocation in flight on this state,
       running or waiting (0: none), for the loop thread's metrics. */
    _Atomic int64_t *oldest_us;
} hf_lua_t;

/* Create the state and load every enabled function. -1 with one line (file:line) in err. */
int hf_lua_init(hf_lua_t *lua, const hf_app_t *app, char *err, size_t errsz);
/* (Re)load one function's script under functionTimeout and the memory cap; on failure the
   previous handler stays, a full GC gives back what the failed load left, and err holds
   one line naming the script. */
int hf_lua_load_function(hf_lua_t *lua, int fn_index, char *err, size_t errsz);
void hf_lua_close(hf_lua_t *lua);

/* Run the batch's function on its events; fills status, error, outputs, counters. An
   invocation that waits on require("hubfn").http requests is suspended (its coroutine
   yields) and the state may run other batches meanwhile:
     hf_lua_start   starts a batch: 1 when it finished, 0 when an invocation of it waits
     hf_lua_poll    serves the waiting invocations for up to timeout_ms and returns the
                    batches that finished (linked by ->next), or NULL
     hf_lua_wakeup  ends a hf_lua_poll early (thread: any)
   hf_lua_invoke runs one batch to its end, waiting as long as it takes. */
int hf_lua_start(hf_lua_t *lua, hf_batch_t *batch);
hf_batch_t *hf_lua_poll(hf_lua_t *lua, int timeout_ms);
void hf_lua_wakeup(hf_lua_t *lua);
void hf_lua_invoke(hf_lua_t *lua, hf_batch_t *batch);

/* May the running code suspend its invocation for requests (is L the invocation's own
   coroutine, and can it yield)? Then require("hubfn").http starts its requests with
   hf_lua_suspend and yields. */
int hf_lua_can_suspend(lua_State *L);
/* The requests the invocation waits for (started with ud hf_lua_inv_ud(L)). */
void hf_lua_suspend(lua_State *L, hf_httpc_group_t *group);
void *hf_lua_inv_ud(lua_State *L);

/* The hf_lua_t a state belongs to. */
static inline hf_lua_t *hf_lua_of(lua_State *L)
{
    return *(hf_lua_t **)lua_getextraspace(L);
}

#endif
