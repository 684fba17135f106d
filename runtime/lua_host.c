#include "lua_host.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "alloc.h"
#include "binding.h"
#include "lua_bindings.h"
#include "lua_event.h"
#include "lua_http.h"
#include "lua_modules.h"
#include "datetime.h"
#include "httpc.h"
#include "json.h"
#include "lua_lazy.h"
#include "log.h"
#include "trace.h"

/* Instructions between two looks at the clock while a handler runs. */
#define HF_HOOK_COUNT 10000

/*
 * The allocator of a Lua state. It counts bytes, so that a memory cap can fail one
 * invocation rather than the host, and serves small blocks (up to HF_POOL_MAX bytes: the
 * tables, strings and payload copies every event makes) from per-state free lists, one
 * per 16-byte size class, carved from 256 KB chunks: no locking, no searching, and no
 * glibc malloc/free on the per-event path, where they were about a quarter of the
 * instructions (docs/json.md "Performance"). Freed small blocks are kept for reuse by
 * the same state and the chunks go back to the system when the state is closed, so the
 * state holds on to its peak small-block use. Sanitizer builds use malloc for every
 * block so that ASan still sees each one.
 */
#if defined(__SANITIZE_ADDRESS__)
#define HF_POOL_MAX 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HF_POOL_MAX 0
#endif
#endif
#ifndef HF_POOL_MAX
#define HF_POOL_MAX 1024
#endif
#define HF_POOL_CHUNK (256 * 1024)

struct hf_pool {
    void *free[HF_POOL_MAX / 16 + 1];   /* free blocks of each size class */
    char *next, *end;                   /* the unused part of the newest chunk */
    void *chunks;                       /* every chunk, linked through its first word */
};

static inline size_t pool_class(size_t n)
{
    return (n + 15) >> 4;
}

static void *pool_get(hf_pool_t *p, size_t n)
{
    size_t c = pool_class(n);
    void *b = p->free[c];
    if (b) {
        p->free[c] = *(void **)b;
        return b;
    }
    size_t sz = c << 4;
    if ((size_t)(p->end - p->next) < sz) {
        char *chunk = malloc(HF_POOL_CHUNK);
        if (!chunk)
            return NULL;
        *(void **)chunk = p->chunks;
        p->chunks = chunk;
        p->next = chunk + 16;                    /* keeps blocks 16-byte aligned */
        p->end = chunk + HF_POOL_CHUNK;
    }
    b = p->next;
    p->next += sz;
    return b;
}

static inline void pool_put(hf_pool_t *p, void *b, size_t n)
{
    size_t c = pool_class(n);
    *(void **)b = p->free[c];
    p->free[c] = b;
}

static void pool_destroy(hf_pool_t *p)
{
    if (!p)
        return;
    while (p->chunks) {
        void *next = *(void **)p->chunks;
        free(p->chunks);
        p->chunks = next;
    }
    free(p);
}

/* lua_alloc's general case: big blocks, growing, shrinking, the memory cap. */
static __attribute__((noinline)) void *lua_alloc_slow(hf_lua_t *lua, void *ptr, size_t osize,
                                                      size_t nsize)
{
    hf_pool_t *pool = lua->pool;
    if (nsize == 0) {
        if (ptr) {
            lua->mem_used -= osize;
            if (osize <= HF_POOL_MAX && pool)
                pool_put(pool, ptr, osize);
            else
                free(ptr);
        }
        return NULL;
    }
    size_t old = ptr ? osize : 0;
    if (lua->mem_limit && nsize > old && lua->mem_used + (nsize - old) > lua->mem_limit &&
        lua->capped) {
        lua->mem_exceeded = 1;
        return NULL;
    }
    void *p;
    if (!pool || (nsize > HF_POOL_MAX && (!ptr || old > HF_POOL_MAX))) {
        p = realloc(ptr, nsize);                 /* big blocks: glibc */
    } else if (ptr && old <= HF_POOL_MAX && nsize <= HF_POOL_MAX &&
               pool_class(old) == pool_class(nsize)) {
        p = ptr;                                 /* same size class */
    } else {
        p = nsize <= HF_POOL_MAX ? pool_get(pool, nsize) : malloc(nsize);
        if (p && ptr) {
            memcpy(p, ptr, old < nsize ? old : nsize);
            if (old <= HF_POOL_MAX)
                pool_put(pool, ptr, old);
            else
                free(ptr);
        }
    }
    if (p)
        lua->mem_used = lua->mem_used - old + nsize;
    return p;
}

/* Lua's lua_Alloc (osize is the block's size when ptr is not NULL). The common cases, a
   new small block from a free list and a small block freed, take a few instructions. */
static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    hf_lua_t *lua = ud;
    hf_pool_t *pool = lua->pool;
    if (pool) {
        if (nsize == 0) {
            if (ptr && osize <= HF_POOL_MAX) {
                lua->mem_used -= osize;
                pool_put(pool, ptr, osize);
                return NULL;
            }
        } else if (!ptr && nsize <= HF_POOL_MAX &&
                   (!lua->mem_limit || lua->mem_used + nsize <= lua->mem_limit)) {
            size_t c = pool_class(nsize);
            void *b = pool->free[c];
            if (b) {
                pool->free[c] = *(void **)b;
                lua->mem_used += nsize;
                return b;
            }
        }
    }
    return lua_alloc_slow(lua, ptr, osize, nsize);
}

/* Message handler for every pcall: the error with a traceback (lua.c's msghandler). */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/*
 * Count hook: once the deadline passed, raise on every hook so pcall cannot swallow it.
 * It runs on the state's main thread and on every coroutine (each lua_State thread has a
 * hook of its own: wrap_coroutines). A coroutine that times out also sets the main
 * thread's hook to every instruction, so that the code resuming it stops at once; a
 * coroutine left that way by an earlier call goes back to HF_HOOK_COUNT.
 */
static void timeout_hook(lua_State *L, lua_Debug *ar)
{
    hf_lua_t *lua = hf_lua_of(L);
    if (lua->timed_out || (lua->deadline_us && hf_mono_us() > lua->deadline_us)) {
        if (!lua->timed_out && lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
            snprintf(lua->stopped_at, sizeof(lua->stopped_at), "%s:%d",
                     ar->source[0] == '@' ? ar->source + 1 : ar->short_src, ar->currentline);
        lua->timed_out = 1;
        lua_sethook(L, timeout_hook, LUA_MASKCOUNT, 1);
        if (L != lua->L)
            lua_sethook(lua->L, timeout_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "function timed out after %I ms (host.json functionTimeout)",
                   (lua_Integer)lua->app->host.function_timeout_ms);
    }
    if (lua_gethookcount(L) != HF_HOOK_COUNT)
        lua_sethook(L, timeout_hook, LUA_MASKCOUNT, HF_HOOK_COUNT);
}

/* The timeout from C code that loops without running Lua code (which the hook would
   see): raises as the hook does once the deadline passed. */
static void check_deadline(lua_State *L)
{
    hf_lua_t *lua = hf_lua_of(L);
    if (lua->deadline_us && (lua->timed_out || hf_mono_us() > lua->deadline_us)) {
        lua->timed_out = 1;
        lua_sethook(L, timeout_hook, LUA_MASKCOUNT, 1);
        if (L != lua->L)
            lua_sethook(lua->L, timeout_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "function timed out after %I ms (host.json functionTimeout)",
                   (lua_Integer)lua->app->host.function_timeout_ms);
    }
}

/* The start and the end of a call that runs a script's code (an invocation, or a load with
   fn_index's script): the deadline, the hook, and what other threads see of it. */
static void call_begin(hf_lua_t *lua, int fn_index, int loading)
{
    int64_t now = hf_mono_us();
    lua->timed_out = 0;
    lua->mem_exceeded = 0;
    lua->stopped_at[0] = 0;
    lua->deadline_us = lua->app->host.function_timeout_ms > 0
                           ? now + lua->app->host.function_timeout_ms * 1000
                           : 0;
    if (lua->deadline_us)
        lua_sethook(lua->L, timeout_hook, LUA_MASKCOUNT, HF_HOOK_COUNT);
    atomic_store_explicit(&lua->call_fn, fn_index, memory_order_relaxed);
    atomic_store_explicit(&lua->call_loading, loading, memory_order_relaxed);
    atomic_store_explicit(&lua->call_started_us, now, memory_order_release);
}

/* Did the call run past its deadline? The hook raises once it sees that, but a call into
   C that outlasted the deadline (os.execute) returns to code that may end before the next
   hook: such a call timed out as well. */
static int call_overran(hf_lua_t *lua)
{
    if (!lua->timed_out && lua->deadline_us && hf_mono_us() > lua->deadline_us)
        lua->timed_out = 1;
    return lua->timed_out;
}

static void call_end(hf_lua_t *lua)
{
    lua_sethook(lua->L, NULL, 0, 0);
    lua->deadline_us = 0;
    lua->capped = 0;
    atomic_store_explicit(&lua->call_started_us, 0, memory_order_release);
}

/* coroutine.create and coroutine.wrap: the new thread gets the timeout hook, whatever
   thread creates it (a thread has its own hook; Lua copies the creator's, and a coroutine
   made while no hook was set would otherwise run unbounded forever after). */
static void hook_thread(lua_State *L, lua_State *co)
{
    if (co && hf_lua_of(L)->app->host.function_timeout_ms > 0)
        lua_sethook(co, timeout_hook, LUA_MASKCOUNT, HF_HOOK_COUNT);
}

static int l_coroutine_create(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    hook_thread(L, lua_tothread(L, -1));
    return 1;
}

static int l_coroutine_wrap(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    if (lua_getupvalue(L, -1, 1)) {          /* the wrapping closure's thread */
        hook_thread(L, lua_tothread(L, -1));
        lua_pop(L, 1);
    }
    return 1;
}

/*
 * table.insert, table.remove and table.move as the standard library has them, with a look
 * at the deadline every HF_LOOP_CHECK elements: their loops run in C, and on a table whose
 * __len claims 2^40 elements (or a move of a range that long) they would go on for hours,
 * out of the hook's reach, moving nils.
 */
#define HF_LOOP_CHECK 4096

/* t[arg] can be read (r), written (w), measured (l): a table or something with those
   metamethods. */
static void check_table(lua_State *L, int arg, int r, int w, int l)
{
    if (lua_type(L, arg) == LUA_TTABLE)
        return;
    int ok = lua_getmetatable(L, arg), n = 1;
    const char *need[3] = {r ? "__index" : NULL, w ? "__newindex" : NULL, l ? "__len" : NULL};
    for (int i = 0; ok && i < 3; i++) {
        if (!need[i])
            continue;
        lua_pushstring(L, need[i]);
        ok = lua_rawget(L, -++n) != LUA_TNIL;
    }
    if (!ok)
        luaL_checktype(L, arg, LUA_TTABLE);      /* raises */
    lua_pop(L, n);
}

static int l_table_insert(lua_State *L)
{
    check_table(L, 1, 1, 1, 1);
    lua_Integer e = luaL_intop(+, luaL_len(L, 1), 1);     /* the first empty element */
    lua_Integer pos;
    switch (lua_gettop(L)) {
    case 2:
        pos = e;
        break;
    case 3:
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
        for (lua_Integer i = e; i > pos; i--) {           /* t[i] = t[i - 1] */
            if (((e - i) & (HF_LOOP_CHECK - 1)) == HF_LOOP_CHECK - 1)
                check_deadline(L);
            lua_geti(L, 1, i - 1);
            lua_seti(L, 1, i);
        }
        break;
    default:
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    lua_seti(L, 1, pos);
    return 0;
}

static int l_table_remove(lua_State *L)
{
    check_table(L, 1, 1, 1, 1);
    lua_Integer size = luaL_len(L, 1);
    lua_Integer pos = luaL_optinteger(L, 2, size);
    if (pos != size)
        luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2,
                      "position out of bounds");
    lua_geti(L, 1, pos);                                  /* the result */
    for (lua_Integer k = 0; pos < size; pos++, k++) {     /* t[pos] = t[pos + 1] */
        if ((k & (HF_LOOP_CHECK - 1)) == HF_LOOP_CHECK - 1)
            check_deadline(L);
        lua_geti(L, 1, pos + 1);
        lua_seti(L, 1, pos);
    }
    lua_pushnil(L);
    lua_seti(L, 1, pos);
    return 1;
}

static int l_table_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);
    lua_Integer t = luaL_checkinteger(L, 4);
    int tt = !lua_isnoneornil(L, 5) ? 5 : 1;              /* the destination */
    check_table(L, 1, 1, 0, 0);
    check_table(L, tt, 0, 1, 0);
    if (e >= f) {
        luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
        lua_Integer n = e - f + 1;
        luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
        /* upwards unless the ranges overlap with the destination above the source */
        int up = t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ));
        for (lua_Integer k = 0; k < n; k++) {
            lua_Integer i = up ? k : n - 1 - k;
            if ((k & (HF_LOOP_CHECK - 1)) == HF_LOOP_CHECK - 1)
                check_deadline(L);
            lua_geti(L, 1, f + i);
            lua_seti(L, tt, t + i);
        }
    }
    lua_pushvalue(L, tt);
    return 1;
}

/* string.rep with nothing to repeat: "" at once (the library would loop n times). */
static int l_string_rep(lua_State *L)
{
    size_t l, lsep;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n > 0 && l == 0 && lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* The library functions above in place of the standard ones. */
static void bound_c_loops(lua_State *L)
{
    lua_getglobal(L, "table");
    if (lua_istable(L, -1)) {
        lua_pushcfunction(L, l_table_insert);
        lua_setfield(L, -2, "insert");
        lua_pushcfunction(L, l_table_remove);
        lua_setfield(L, -2, "remove");
        lua_pushcfunction(L, l_table_move);
        lua_setfield(L, -2, "move");
    }
    lua_pop(L, 1);
    lua_getglobal(L, "string");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "rep");
        lua_pushcclosure(L, l_string_rep, 1);
        lua_setfield(L, -2, "rep");
    }
    lua_pop(L, 1);
}

static void wrap_coroutines(lua_State *L)
{
    lua_getglobal(L, "coroutine");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "create");
        lua_pushcclosure(L, l_coroutine_create, 1);
        lua_setfield(L, -2, "create");
        lua_getfield(L, -1, "wrap");
        lua_pushcclosure(L, l_coroutine_wrap, 1);
        lua_setfield(L, -2, "wrap");
    }
    lua_pop(L, 1);
}

/* ---- context.log ---- */

static int log_at(lua_State *L, hf_log_level_t lvl, int first)
{
    hf_lua_t *lua = hf_lua_of(L);
    hf_batch_t *batch = lua->batch;
    const hf_function_t *fn = batch ? batch->fn : NULL;
    if (fn && lvl < fn->log_level)
        return 0;
    if (!fn && lvl < hf_log_get_level())
        return 0;
    luaL_Buffer b;
    int n = lua_gettop(L);
    luaL_buffinit(L, &b);
    for (int i = first; i <= n; i++) {
        if (i > first)
            luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    hf_log_ctx_t ctx = HF_LOG_CTX_NONE;
    if (batch) {
        ctx.function = fn->name;
        ctx.partition = batch->partition;
        lua_getfield(L, LUA_REGISTRYINDEX, "hubfn.invocationId");
        ctx.invocation_id = lua_tostring(L, -1);
        lua_pop(L, 1);
        hf_trace_log_ctx(lua->span, &ctx);
    }
    hf_log_write(lvl, &ctx, lua_tostring(L, -1));
    return 0;
}

static int l_log_call(lua_State *L) { return log_at(L, HF_LOG_INFO, 2); }
static int l_log_trace(lua_State *L) { return log_at(L, HF_LOG_TRACE, 1); }
static int l_log_debug(lua_State *L) { return log_at(L, HF_LOG_DEBUG, 1); }
static int l_log_info(lua_State *L) { return log_at(L, HF_LOG_INFO, 1); }
static int l_log_warn(lua_State *L) { return log_at(L, HF_LOG_WARN, 1); }
static int l_log_error(lua_State *L) { return log_at(L, HF_LOG_ERROR, 1); }

/* ---- the hubfn module ---- */

static int open_hubfn(lua_State *L)
{
    lua_newtable(L);
    hf_json_open(L);
    lua_getfield(L, -1, "null");
    lua_setfield(L, -3, "null");
    lua_setfield(L, -2, "json");
    lua_pushstring(L, HF_VERSION);
    lua_setfield(L, -2, "version");
    hf_lua_http_open(L);
    lua_setfield(L, -2, "http");
    return 1;
}

/* load() and loadfile() of text only: precompiled chunks can crash the VM. */
static int l_load_text(lua_State *L)
{
    int nargs = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);                      /* load, chunk, chunkname, mode, env */
    if (nargs < 3)
        lua_settop(L, 4);
    lua_pushliteral(L, "t");
    lua_replace(L, 4);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int l_loadfile_text(lua_State *L)
{
    int nargs = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);                      /* loadfile, filename, mode, env */
    if (nargs < 2)
        lua_settop(L, 3);
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* setmetatable without __gc. Lua 5.4 runs finalizers with hooks off, out of reach of
   functionTimeout, and marks an object for finalization only when its metatable has __gc
   at the time setmetatable is called (manual 2.5.3): refusing such a metatable here means
   no script code ever runs as a finalizer. */
static int l_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc finalizers are not allowed: they run "
                              "outside functionTimeout (host.json "
                              "extensions.lua.allowUnsafeLibraries allows them)");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static void remove_field(lua_State *L, const char *table, const char *field)
{
    lua_getglobal(L, table);
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        lua_setfield(L, -2, field);
    }
    lua_pop(L, 1);
}

/* The default sandbox: the standard library without process execution, native modules,
   precompiled chunks, debug hooks (which could switch off the timeout) or finalizers
   (which run outside it). host.json extensions.lua.allowUnsafeLibraries turns it off. */
static void sandbox(lua_State *L)
{
    static const char *const removed[][2] = {
        {"os", "execute"}, {"os", "exit"}, {"os", "setlocale"}, {"io", "popen"},
        {"package", "loadlib"}, {NULL, NULL}};
    for (int i = 0; removed[i][0]; i++)
        remove_field(L, removed[i][0], removed[i][1]);
    /* package.searchers: keep the preload and Lua searchers, drop the C ones. */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchers");
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        lua_rawseti(L, -2, 4);
        lua_pushnil(L);
        lua_rawseti(L, -2, 3);
    }
    lua_pop(L, 1);
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
    /* debug: only traceback stays. */
    lua_getglobal(L, "debug");
    lua_getfield(L, -1, "traceback");
    lua_createtable(L, 0, 1);
    lua_insert(L, -2);
    lua_setfield(L, -2, "traceback");
    lua_setglobal(L, "debug");
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE "debug");
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getglobal(L, "debug");
    lua_setfield(L, -2, "debug");
    lua_pop(L, 1);
    /* load/loadfile/dofile of text only */
    lua_getglobal(L, "load");
    lua_pushcclosure(L, l_load_text, 1);
    lua_setglobal(L, "load");
    lua_getglobal(L, "loadfile");
    lua_pushcclosure(L, l_loadfile_text, 1);
    lua_setglobal(L, "loadfile");
    remove_field(L, "_G", "dofile");
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, l_setmetatable, 1);
    lua_setglobal(L, "setmetatable");
}

/* context.fail(ev [, reason]): this event failed, the others of the batch succeeded; only
   it is retried or dead-lettered. The invocation itself goes on. */
static int l_context_fail(lua_State *L)
{
    hf_lua_t *lua = hf_lua_of(L);
    hf_batch_t *batch = lua->batch;
    if (!batch)
        return luaL_error(L, "context.fail: called outside of an invocation");
    const char *reason = luaL_optstring(L, 2, "failed by the handler");
    lua_getfield(L, LUA_REGISTRYINDEX, "hubfn.first");
    size_t first = (size_t)lua_tointeger(L, -1);
    lua_getfield(L, LUA_REGISTRYINDEX, "hubfn.events");
    size_t idx = (size_t)-1;
    if (lua_rawequal(L, -1, 1)) {
        idx = first;                       /* cardinality one: the event itself */
    } else if (lua_istable(L, -1)) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= n && idx == (size_t)-1; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_rawequal(L, -1, 1))
                idx = first + (size_t)(i - 1);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 2);
    if (idx == (size_t)-1 || idx >= batch->events_n)
        return luaL_error(L, "context.fail: the first argument must be an event of this "
                          "invocation");
    if (!batch->event_failed)
        batch->event_failed = hf_calloc(batch->events_n, 1);
    if (!batch->event_error) {
        batch->event_error = hf_calloc(batch->events_n, sizeof(char *));
        batch->event_error_n = batch->events_n;
    }
    if (!batch->event_failed[idx]) {
        batch->event_failed[idx] = 1;
        batch->failed_marked++;
        size_t len = strlen(reason) + 64;
        char *why = hf_malloc(len);
        snprintf(why, len, "event at offset %lld: %s", (long long)batch->events[idx].offset,
                 reason);
        batch->event_error[idx] = why;
        if (!batch->error) {
            batch->error = hf_strdup(why);
            lua->error_is_fail = 1;        /* an error raised later replaces it */
        }
    }
    return 0;
}

/* Build the parts of the context that do not change between invocations of fn. */
static void build_context_parts(lua_State *L, const hf_function_t *fn)
{
    lua_createtable(L, 0, 4);                 /* parts */
    /* log: callable table */
    lua_createtable(L, 0, 5);
    static const luaL_Reg log_fns[] = {
        {"trace", l_log_trace}, {"debug", l_log_debug}, {"info", l_log_info},
        {"warn", l_log_warn},   {"error", l_log_error}, {NULL, NULL}};
    luaL_setfuncs(L, log_fns, 0);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_log_call);
    lua_setfield(L, -2, "__call");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "log");
    lua_pushcfunction(L, l_context_fail);
    lua_setfield(L, -2, "fail");
    hf_lua_push_bindings(L, fn);
    lua_setfield(L, -2, "bindings");
    /* partitionContext template values: the trigger's (eventHubName, consumerGroup) */
    lua_createtable(L, 0, 2);
    if (fn->trigger.type->lua_fields)
        fn->trigger.type->lua_fields(L, &fn->trigger);
    lua_setfield(L, -2, "partitionContext");
}

static int load_function(hf_lua_t *lua, int fn_index, char *err, size_t errsz);

/* One line on why running fn's script failed (rc, message msg): the limit it hit, or the
   error without its traceback, naming the script. */
static void load_error(hf_lua_t *lua, const hf_function_t *fn, int rc, const char *msg,
                       char *err, size_t errsz)
{
    const char *script = fn->script_path;
    if (lua->timed_out) {
        char limit[48];
        hf_duration_format(lua->app->host.function_timeout_ms, limit, sizeof(limit));
        snprintf(err, errsz, "%s: loading the script took longer than functionTimeout (%s)%s%s",
                 script, limit, lua->stopped_at[0] ? "; it was at " : "", lua->stopped_at);
        return;
    }
    if (rc == LUA_ERRMEM || (lua->mem_exceeded && msg && strstr(msg, "not enough memory"))) {
        if (lua->mem_limit)
            snprintf(err, errsz, "%s: loading the script ran out of memory "
                     "(extensions.lua.memoryLimitMB is %d)", script,
                     lua->app->host.lua_memory_mb);
        else
            snprintf(err, errsz, "%s: loading the script ran out of memory", script);
        return;
    }
    if (!msg)
        msg = "unknown error";
    /* the message alone (a syntax error, an error the chunk raised), its lines joined */
    size_t len = strlen(msg);
    const char *tb = strstr(msg, "\nstack traceback:");
    if (tb)
        len = (size_t)(tb - msg);
    size_t plen = strlen(script);
    int named = strncmp(msg, script, plen) == 0 && msg[plen] == ':';
    size_t o = 0;
    if (!named)
        o = (size_t)snprintf(err, errsz, "%s: ", script);
    for (size_t i = 0; i < len && o + 1 < errsz; i++) {
        if (msg[i] == '\n') {
            while (i + 1 < len && (msg[i + 1] == '\t' || msg[i + 1] == ' '))
                i++;
            err[o++] = ' ';
        } else {
            err[o++] = msg[i];
        }
    }
    if (o < errsz)
        err[o] = 0;
    else if (errsz)
        err[errsz - 1] = 0;
}

/* Run a script's chunk (chunk, env, entry point name) and find its handler: the chunk
   returns the handler, a table holding the entry point, or defines it globally. Returns
   what it found, which the caller checks. Protected: lookups may run metamethods. */
static int run_chunk(lua_State *L)
{
    const char *entry = lua_tostring(L, 3);
    lua_pushvalue(L, 1);
    lua_call(L, 0, 1);
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_getfield(L, -1, entry);
    } else if (lua_isnil(L, -1)) {
        lua_getfield(L, 2, entry);
    }
    return 1;
}

int hf_lua_load_function(hf_lua_t *lua, int fn_index, char *err, size_t errsz)
{
    int rc, previous = lua->current_fn;
    lua->current_fn = fn_index;
    rc = load_function(lua, fn_index, err, errsz);
    lua->current_fn = previous;
    return rc;
}

/* hf_lua_load_function's work, with current_fn set. */
static int load_function(hf_lua_t *lua, int fn_index, char *err, size_t errsz)
{
    lua_State *L = lua->L;
    const hf_function_t *fn = &lua->app->functions[fn_index];
    int top = lua_gettop(L);

    /* The chunk and what it requires run as a handler does: under functionTimeout and the
       memory cap, which apply to parsing the file too. */
    call_begin(lua, fn_index, 1);
    lua_pushcfunction(L, msghandler);                        /* top+1 */
    lua->capped = 1;
    int rc = luaL_loadfilex(L, fn->script_path, "t");        /* top+2 */
    lua->capped = 0;
    if (rc == LUA_OK) {
        /* Each function gets its own globals, falling back to the shared ones. */
        lua_newtable(L);                                      /* top+3 */
        lua_createtable(L, 0, 1);
        lua_pushglobaltable(L);
        lua_setfield(L, -2, "__index");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setupvalue(L, top + 2, 1);
        lua_pushcfunction(L, run_chunk);
        lua_insert(L, top + 2);                               /* msgh, run_chunk, chunk, env */
        lua_pushstring(L, fn->entry_point);
        lua->capped = 1;
        rc = lua_pcall(L, 3, 1, top + 1);
        lua->capped = 0;
        if (rc == LUA_OK && call_overran(lua))
            rc = LUA_ERRRUN;
    }
    call_end(lua);
    if (rc != LUA_OK) {
        load_error(lua, fn, rc, lua_tostring(L, -1), err, errsz);
        lua_settop(L, top);
        /* Give back what the failed chunk left (the small-block pool keeps its peak). */
        lua_gc(L, LUA_GCCOLLECT);
        return -1;
    }
    if (lua_type(L, -1) != LUA_TFUNCTION) {
        snprintf(err, errsz,
                 "%s: the script must return the handler function, or a table holding "
                 "\"%s\" (function.json entryPoint), or define a global function \"%s\"",
                 fn->script_path, fn->entry_point, fn->entry_point);
        lua_settop(L, top);
        lua_gc(L, LUA_GCCOLLECT);
        return -1;
    }
    if (lua->handlers[fn_index] != LUA_NOREF)
        luaL_unref(L, LUA_REGISTRYINDEX, lua->handlers[fn_index]);
    lua->handlers[fn_index] = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, top);
    return 0;
}

int hf_lua_init(hf_lua_t *lua, const hf_app_t *app, char *err, size_t errsz)
{
    memset(lua, 0, sizeof(*lua));
    atomic_init(&lua->call_started_us, 0);
    atomic_init(&lua->call_fn, -1);
    atomic_init(&lua->call_loading, 0);
    lua->app = app;
    lua->sends_ref = LUA_NOREF;
    lua->current_fn = -1;
    lua->rng = (uint64_t)hf_mono_us() ^ ((uint64_t)(uintptr_t)lua << 17) ^ 0x9e3779b97f4a7c15ULL;
    if (HF_POOL_MAX > 0)
        lua->pool = hf_calloc(1, sizeof(hf_pool_t));
    lua->L = lua_newstate(lua_alloc, lua);
    if (!lua->L) {
        pool_destroy(lua->pool);
        lua->pool = NULL;
        snprintf(err, errsz, "cannot create a Lua state (out of memory)");
        return -1;
    }
    lua_State *L = lua->L;
    *(hf_lua_t **)lua_getextraspace(L) = lua;
    lua->http = hf_httpc_sync_new();
    lua->oldest_us = hf_calloc(app->functions_n ? app->functions_n : 1, sizeof(*lua->oldest_us));
    luaL_openlibs(L);
    if (!app->host.lua_unsafe)
        sandbox(L);
    wrap_coroutines(L);
    bound_c_loops(L);
    hf_lua_event_register(L);
    hf_lua_modules_init(L);
    lua->handlers = hf_malloc(sizeof(int) * (app->functions_n ? app->functions_n : 1));
    lua->contexts = hf_malloc(sizeof(int) * (app->functions_n ? app->functions_n : 1));
    for (size_t i = 0; i < app->functions_n; i++)
        lua->handlers[i] = lua->contexts[i] = LUA_NOREF;

    /* require "hubfn", and package.path with the app's lib/ folder */
    luaL_requiref(L, "hubfn", open_hubfn, 0);
    lua_pop(L, 1);
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/lib/?.lua;%s/lib/?/init.lua;", app->dir, app->dir);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);

    /* The cap applies to the scripts (their loads and their handlers), not to setting up
       the libraries above. */
    lua->mem_limit = (size_t)app->host.lua_memory_mb * 1024 * 1024;
    for (size_t i = 0; i < app->functions_n; i++) {
        if (app->functions[i].disabled)
            continue;
        if (hf_lua_load_function(lua, (int)i, err, errsz) != 0) {
            hf_lua_close(lua);
            return -1;
        }
        build_context_parts(L, &app->functions[i]);
        lua->contexts[i] = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    return 0;
}

static void abandon_suspended(hf_lua_t *lua);

void hf_lua_close(hf_lua_t *lua)
{
    /* Invocations still waiting (the host gave up on them): their requests stop, their
       batches go. */
    abandon_suspended(lua);
    if (lua->L)
        lua_close(lua->L);
    hf_httpc_sync_free(lua->http);
    lua->http = NULL;
    free((void *)lua->oldest_us);
    lua->oldest_us = NULL;
    pool_destroy(lua->pool);
    lua->pool = NULL;
    free(lua->handlers);
    free(lua->contexts);
    lua->L = NULL;
    lua->handlers = lua->contexts = NULL;
}

/* ---- events ---- */

static void new_invocation_id(hf_lua_t *lua, char *out)
{
    unsigned char b[16];
    for (int i = 0; i < 16; i += 8) {
        uint64_t x = lua->rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        lua->rng = x;
        memcpy(b + i, &x, 8);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

/* ---- context.traceContext ---- */

static const char context_mt_key = 0;

/* Pushes context.traceContext of the invocation's span. */
static void push_trace_context(lua_State *L, hf_span_t *span)
{
    hf_span_texts(span);
    lua_createtable(L, 0, 9);
    lua_pushstring(L, span->traceparent);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "traceparent");
    lua_setfield(L, -2, "traceParent");          /* Azure Functions' spelling */
    if (span->tracestate) {
        lua_pushstring(L, span->tracestate);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "tracestate");
        lua_setfield(L, -2, "traceState");
    }
    lua_pushstring(L, span->trace_hex);
    lua_setfield(L, -2, "traceId");
    lua_pushstring(L, span->span_hex);
    lua_setfield(L, -2, "spanId");
    if (span->has_parent) {
        lua_pushstring(L, span->parent_hex);
        lua_setfield(L, -2, "parentSpanId");
    }
    lua_pushboolean(L, (span->ctx.flags & HF_TRACE_SAMPLED) != 0);
    lua_setfield(L, -2, "sampled");
}

/* __index of every context: context.traceContext is made on first read (most handlers
   never read it), then kept in the context. */
static int l_context_index(lua_State *L)
{
    hf_lua_t *lua = hf_lua_of(L);
    if (!lua->span || lua_type(L, 2) != LUA_TSTRING ||
        strcmp(lua_tostring(L, 2), "traceContext") != 0)
        return 0;
    push_trace_context(L, lua->span);
    lua_pushvalue(L, -1);
    lua_setfield(L, 1, "traceContext");
    return 1;
}

/* The consumer group of fn's trigger, from its partitionContext, pushed (a string or nil). */
static const char *push_group(hf_lua_t *lua, int fn_index)
{
    lua_State *L = lua->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, lua->contexts[fn_index]);
    lua_getfield(L, -1, "partitionContext");
    lua_getfield(L, -1, "consumerGroup");
    lua_replace(L, -3);
    lua_pop(L, 1);
    return lua_tostring(L, -1);
}

/* Push the context of one invocation over events [first, first+n); evs is the stack
   index of the events array (many) or of the event (one). */
static void push_context(hf_lua_t *lua, int fn_index, size_t first, size_t n, int many,
                         const char *invocation_id, int evs)
{
    lua_State *L = lua->L;
    hf_batch_t *batch = lua->batch;
    const hf_function_t *fn = batch->fn;
    lua_createtable(L, 0, 8);
    int c = lua_gettop(L);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &context_mt_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, l_context_index);
        lua_setfield(L, -2, "__index");
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &context_mt_key);
    }
    lua_setmetatable(L, c);
    lua_rawgeti(L, LUA_REGISTRYINDEX, lua->contexts[fn_index]);
    int parts = lua_gettop(L);
    lua_pushstring(L, invocation_id);
    lua_setfield(L, c, "invocationId");
    lua_pushstring(L, fn->name);
    lua_setfield(L, c, "functionName");
    lua_getfield(L, parts, "log");
    lua_setfield(L, c, "log");
    lua_getfield(L, parts, "fail");
    lua_setfield(L, c, "fail");
    lua_getfield(L, parts, "bindings");
    lua_setfield(L, c, "bindings");

    lua_createtable(L, 0, 2);
    lua_pushinteger(L, batch->retry_count);
    lua_setfield(L, -2, "retryCount");
    lua_pushinteger(L, batch->max_retry_count);
    lua_setfield(L, -2, "maxRetryCount");
    lua_setfield(L, c, "retryContext");

    hf_lua_push_trigger_metadata(L, batch, first, n, many, evs, parts);
    lua_setfield(L, c, "triggerMetadata");
    lua_settop(L, c);
}

/* The handler's arguments for events [first, first+n) of the batch: (fn_index, first, n,
   many, invocation id) -> events, context. A protected call, so that running out of
   memory while building them fails the invocation, not the host. */
static int build_args(lua_State *L)
{
    hf_lua_t *lua = hf_lua_of(L);
    hf_batch_t *batch = lua->batch;
    int fn_index = (int)lua_tointeger(L, 1);
    size_t first = (size_t)lua_tointeger(L, 2);
    size_t n = (size_t)lua_tointeger(L, 3);
    int many = lua_toboolean(L, 4);
    const char *invocation_id = lua_tostring(L, 5);
    luaL_checkstack(L, 8, "building the events");
    hf_lua_push_events(L, batch, first, n, many);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "hubfn.events");
    lua_pushinteger(L, (lua_Integer)first);
    lua_setfield(L, LUA_REGISTRYINDEX, "hubfn.first");
    push_context(lua, fn_index, first, n, many, invocation_id, lua_gettop(L));
    return 2;
}

/* Record that the invocation over events [first, first+n) failed with `error` (taken). A
   raised error is what its events report: it replaces a reason context.fail gave. */
static void invocation_failed(hf_lua_t *lua, size_t first, size_t n, int many, char *error)
{
    hf_batch_t *batch = lua->batch;
    int replaces = !batch->error || lua->error_is_fail;
    if (!replaces && !batch->event_error) {
        /* an earlier invocation of the batch failed otherwise: these events keep their own */
        batch->event_error = hf_calloc(batch->events_n, sizeof(char *));
        batch->event_error_n = batch->events_n;
    }
    for (size_t i = first; batch->event_error && i < first + n; i++) {
        free(batch->event_error[i]);
        batch->event_error[i] = replaces ? NULL : hf_strdup(error);
    }
    if (replaces) {
        /* the events context.fail failed in other invocations keep their reasons in
           event_error */
        free(batch->error);
        batch->error = error;
        lua->error_is_fail = 0;
    } else {
        free(error);
    }
    batch->failed_invocations++;
    /* Every event of a failed invocation failed, whatever context.fail said. */
    if (!many || batch->event_failed) {
        if (!batch->event_failed)
            batch->event_failed = hf_calloc(batch->events_n, 1);
        memset(batch->event_failed + first, 1, n);
    }
}

/* ---- invocations as coroutines ---- */

/* One invocation: the handler on events [first, first+n) of its run's batch, running in a
   coroutine of its own so that it can wait for requests without holding the state. */
struct hf_inv {
    hf_run_t *run;
    lua_State *co;
    int co_ref;                  /* registry refs anchoring the coroutine and the events */
    int events_ref;
    size_t first, n;
    int many;
    size_t outputs_before;
    char id[40];
    int64_t started_us;
    struct hf_span *span;        /* its span (trace.h) */
    /* the state's fields of the invocation while it waits */
    int sends_ref;
    int64_t deadline_us;
    int timed_out;
    char stopped_at[300];
    hf_httpc_group_t *group;     /* what it waits for */
};

/* A batch being run: its invocations one after another (cardinality one), or its one. */
struct hf_run {
    hf_batch_t *batch;
    int fn_index;
    size_t next;                 /* cardinality one: the next event to invoke */
    int error_is_fail;
    int64_t t0;
    hf_inv_t inv;
    hf_run_t *prev_w, *next_w;   /* in lua->suspended */
};

enum { INV_DONE, INV_WAITING };

/* Function fn's oldest invocation in flight on this state, for metrics: `started` began
   now (0: one of fn's ended). Runs waiting are few: a scan is cheap. */
static void publish_oldest(hf_lua_t *lua, int fn, int64_t started)
{
    if (!lua->oldest_us || fn < 0)
        return;
    int64_t oldest = started;
    for (hf_run_t *r = lua->suspended; r; r = r->next_w)
        if (r->fn_index == fn && r->inv.started_us &&
            (!oldest || r->inv.started_us < oldest))
            oldest = r->inv.started_us;
    atomic_store_explicit(&lua->oldest_us[fn], oldest, memory_order_release);
}

/* The error object at the top of L as text: a string, a value with __tostring, or its
   type. Protected: __tostring may fail. */
static int error_text(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING)
        return 1;
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
        return 1;
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    return 1;
}

/* The state's fields become those of inv, which runs now. */
static void inv_enter(hf_lua_t *lua, hf_inv_t *inv)
{
    lua_State *L = lua->L;
    hf_run_t *run = inv->run;
    lua->inv = inv;
    lua->inv_co = inv->co;
    lua->span = inv->span;
    lua->batch = run->batch;
    lua->current_fn = run->fn_index;
    lua->error_is_fail = run->error_is_fail;
    lua->inv_first = inv->first;
    lua->inv_n = inv->n;
    lua->sends_ref = inv->sends_ref;
    lua->deadline_us = inv->deadline_us;
    lua->timed_out = inv->timed_out;
    memcpy(lua->stopped_at, inv->stopped_at, sizeof(lua->stopped_at));
    lua_rawgeti(L, LUA_REGISTRYINDEX, inv->events_ref);
    lua_setfield(L, LUA_REGISTRYINDEX, "hubfn.events");
    lua_pushinteger(L, (lua_Integer)inv->first);
    lua_setfield(L, LUA_REGISTRYINDEX, "hubfn.first");
    lua_pushstring(L, inv->id);
    lua_setfield(L, LUA_REGISTRYINDEX, "hubfn.invocationId");
    atomic_store_explicit(&lua->call_fn, run->fn_index, memory_order_relaxed);
    atomic_store_explicit(&lua->call_loading, 0, memory_order_relaxed);
    atomic_store_explicit(&lua->call_started_us, hf_mono_us(), memory_order_release);
}

/* inv waits: its fields are kept in it, and the state runs nothing. */
static void inv_leave(hf_lua_t *lua, hf_inv_t *inv)
{
    inv->sends_ref = lua->sends_ref;
    inv->deadline_us = lua->deadline_us;
    inv->timed_out = lua->timed_out;
    memcpy(inv->stopped_at, lua->stopped_at, sizeof(inv->stopped_at));
    inv->run->error_is_fail = lua->error_is_fail;
    lua->inv = NULL;
    lua->inv_co = NULL;
    lua->span = NULL;
    lua->batch = NULL;
    lua->current_fn = -1;
    lua->sends_ref = LUA_NOREF;
    lua->deadline_us = 0;
    lua->timed_out = 0;
    lua->capped = 0;
    lua_pushnil(lua->L);
    lua_setfield(lua->L, LUA_REGISTRYINDEX, "hubfn.events");
    atomic_store_explicit(&lua->call_started_us, 0, memory_order_release);
}

/* The invocation ended (rc, and the error text at the top of L when it failed): count it,
   record a failure, and let go of its coroutine. */
static void inv_end(hf_lua_t *lua, hf_inv_t *inv, int rc)
{
    lua_State *L = lua->L;
    hf_batch_t *batch = inv->run->batch;
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        char head[200];
        if (lua->timed_out && !(msg && strstr(msg, "timed out")))
            snprintf(head, sizeof(head), "function timed out after %lld ms (functionTimeout)",
                     (long long)lua->app->host.function_timeout_ms);
        else if (lua->timed_out)
            head[0] = 0;
        else if (lua->mem_exceeded || rc == LUA_ERRMEM)
            snprintf(head, sizeof(head), "out of memory (the Lua state's memory cap is %zu bytes)",
                     lua->mem_limit);
        else
            head[0] = 0;
        size_t len = strlen(head) + (msg ? strlen(msg) : 0) + 4;
        char *error = hf_malloc(len);
        snprintf(error, len, "%s%s%s", head, *head && msg ? ": " : "", msg ? msg : "");
        invocation_failed(lua, inv->first, inv->n, inv->many, error);
        /* Outputs of a failed invocation are not sent. */
        hf_batch_drop_outputs(batch, inv->outputs_before);
        hf_trace_end_invocation(lua->span, lua->timed_out ? HF_OUTCOME_TIMEOUT
                                                          : HF_OUTCOME_ERROR,
                                *head ? head : msg ? msg : "unknown error");
    } else if (batch->event_failed && memchr(batch->event_failed + inv->first, 1, inv->n)) {
        hf_trace_end_invocation(lua->span, HF_OUTCOME_ERROR, batch->error);  /* context.fail */
    }
    lua->span = NULL;
    inv->span = NULL;
    inv->started_us = 0;
    publish_oldest(lua, inv->run->fn_index, 0);
    batch->invocations++;
    inv->run->error_is_fail = lua->error_is_fail;
    luaL_unref(L, LUA_REGISTRYINDEX, inv->co_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, inv->events_ref);
    inv->co_ref = inv->events_ref = LUA_NOREF;
    inv->co = NULL;
    if (lua->sends_ref != LUA_NOREF) {
        luaL_unref(L, LUA_REGISTRYINDEX, lua->sends_ref);
        lua->sends_ref = LUA_NOREF;
    }
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "hubfn.events");
    call_end(lua);
    lua->inv = NULL;
    lua->inv_co = NULL;
    lua->batch = NULL;
    lua->current_fn = -1;
}

/* Run inv's coroutine (nargs values on it) until it ends or waits. */
static int inv_resume(hf_lua_t *lua, hf_inv_t *inv, int nargs)
{
    lua_State *L = lua->L, *co = inv->co;
    int top = lua_gettop(L), nres = 0;
    lua->suspend_group = NULL;
    lua->capped = 1;
    int rc = lua_resume(co, L, nargs, &nres);
    lua->capped = 0;
    if (rc == LUA_YIELD && lua->suspend_group) {
        inv->group = lua->suspend_group;
        lua->suspend_group = NULL;
        lua_pop(co, nres);
        inv_leave(lua, inv);
        return INV_WAITING;
    }
    if (rc == LUA_YIELD) {
        /* coroutine.yield in the handler itself, outside a coroutine of its own */
        lua_pushstring(L, "attempt to yield from outside a coroutine (the handler is not "
                          "a coroutine; wrap the code that yields in coroutine.wrap)");
        luaL_traceback(L, co, lua_tostring(L, -1), 0);
        lua_remove(L, -2);
        rc = LUA_ERRRUN;
    } else if (rc == LUA_OK) {
        /* Route the return value through $return, itself protected. */
        lua_pushcfunction(L, msghandler);
        int base = lua_gettop(L);
        lua_pushcfunction(L, hf_lua_l_send_return);
        if (nres > 0) {
            lua_pop(co, nres - 1);
            lua_xmove(co, L, 1);
        } else {
            lua_pushnil(L);
        }
        lua->capped = 1;
        rc = lua_pcall(L, 1, 0, base);
        lua->capped = 0;
        if (rc != LUA_OK)
            lua_remove(L, base);
        else if (call_overran(lua)) {
            rc = LUA_ERRRUN;
            lua_pushnil(L);
        } else {
            lua_pushcfunction(L, hf_lua_l_finish);   /* bindings make it final (state) */
            rc = lua_pcall(L, 0, 0, 0);
        }
    } else {
        /* the error and where it happened, from the coroutine's stack */
        lua_xmove(co, L, 1);
        lua_pushcfunction(L, error_text);
        lua_insert(L, -2);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            lua_pushliteral(L, "(error object is not a string)");
        }
        luaL_traceback(L, co, lua_tostring(L, -1), 0);
        lua_remove(L, -2);
    }
    inv_end(lua, inv, rc);
    lua_settop(L, top);
    return INV_DONE;
}

/* Start the invocation over [first, first+n) of run. */
static int inv_start(hf_lua_t *lua, hf_run_t *run, size_t first, size_t n, int many)
{
    lua_State *L = lua->L;
    hf_inv_t *inv = &run->inv;
    hf_batch_t *batch = run->batch;
    int fn_index = run->fn_index;
    int top = lua_gettop(L);
    memset(inv, 0, sizeof(*inv));
    inv->run = run;
    inv->first = first;
    inv->n = n;
    inv->many = many;
    inv->outputs_before = batch->outputs_n;
    inv->co_ref = inv->events_ref = LUA_NOREF;
    inv->sends_ref = LUA_NOREF;
    new_invocation_id(lua, inv->id);

    lua->inv = inv;
    lua->batch = batch;
    lua->current_fn = fn_index;
    lua->error_is_fail = run->error_is_fail;
    lua->inv_first = first;
    lua->inv_n = n;
    lua->sends_ref = LUA_NOREF;
    lua_pushstring(L, inv->id);
    lua_setfield(L, LUA_REGISTRYINDEX, "hubfn.invocationId");
    if (hf_trace_recording()) {
        inv->span = hf_trace_begin(batch, first, n, inv->id, push_group(lua, fn_index));
        lua_pop(L, 1);
    } else {
        inv->span = hf_trace_begin(batch, first, n, inv->id, NULL);
    }
    lua->span = inv->span;
    inv->started_us = hf_mono_us();
    publish_oldest(lua, fn_index, inv->started_us);
    call_begin(lua, fn_index, 0);

    int rc;
    if (!lua_checkstack(L, 10)) {
        lua_pushliteral(L, "not enough memory");
        rc = LUA_ERRMEM;
    } else {
        lua->capped = 1;
        lua_State *co = lua_newthread(L);
        lua->capped = 0;
        inv->co = co;
        inv->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        lua->inv_co = co;
        if (lua->deadline_us)
            lua_sethook(co, timeout_hook, LUA_MASKCOUNT, HF_HOOK_COUNT);
        lua_pushcfunction(L, msghandler);
        int base = lua_gettop(L);
        lua_rawgeti(L, LUA_REGISTRYINDEX, lua->handlers[fn_index]);
        lua_pushcfunction(L, build_args);
        lua_pushinteger(L, fn_index);
        lua_pushinteger(L, (lua_Integer)first);
        lua_pushinteger(L, (lua_Integer)n);
        lua_pushboolean(L, many);
        lua_pushstring(L, inv->id);
        lua->capped = 1;
        rc = lua_pcall(L, 5, 2, base);                 /* handler, events, context */
        lua->capped = 0;
        if (rc == LUA_OK) {
            lua_pushvalue(L, -2);
            inv->events_ref = luaL_ref(L, LUA_REGISTRYINDEX);
            lua_xmove(L, co, 3);
            lua_settop(L, top);
            return inv_resume(lua, inv, 2);
        }
        lua_remove(L, base);
    }
    inv_end(lua, inv, rc);
    lua_settop(L, top);
    return INV_DONE;
}

/* The batch's handler is done with: its status, timings and a small GC step. */
static void run_finish(hf_lua_t *lua, hf_run_t *run)
{
    hf_batch_t *batch = run->batch;
    if (batch->failed_marked)
        batch->status = HF_BATCH_FAILED;   /* some events failed through context.fail */
    else if (batch->failed_invocations)
        batch->status = HF_BATCH_FAILED;
    /* A small GC step between batches keeps pauses short (Redis does the same). It runs no
       script code: the sandbox allows no finalizers written in Lua (with
       allowUnsafeLibraries they run here too, outside functionTimeout). */
    lua_gc(lua->L, LUA_GCSTEP, 0);
    batch->run_us = hf_mono_us() - run->t0;
    batch->done_ms = hf_now_ms();
}

/* Go on with a run until its batch is done (1) or an invocation waits (0). */
static int run_continue(hf_lua_t *lua, hf_run_t *run)
{
    hf_batch_t *batch = run->batch;
    for (;;) {
        if (batch->fn->trigger.cardinality == HF_CARD_MANY) {
            if (run->next > 0)
                return 1;
            run->next = 1;
            /* range_n: a part of a batch being bisected (bisectOnError) */
            size_t first = batch->range_n ? batch->range_first : 0;
            size_t n = batch->range_n ? batch->range_n : batch->events_n;
            if (inv_start(lua, run, first, n, 1) == INV_WAITING)
                return 0;
        } else {
            if (run->next >= batch->events_n)
                return 1;
            if (inv_start(lua, run, run->next++, 1, 0) == INV_WAITING)
                return 0;
        }
    }
}

static void suspended_add(hf_lua_t *lua, hf_run_t *run)
{
    run->prev_w = NULL;
    run->next_w = lua->suspended;
    if (lua->suspended)
        lua->suspended->prev_w = run;
    lua->suspended = run;
    lua->suspended_n++;
}

static void suspended_remove(hf_lua_t *lua, hf_run_t *run)
{
    if (run->prev_w)
        run->prev_w->next_w = run->next_w;
    else
        lua->suspended = run->next_w;
    if (run->next_w)
        run->next_w->prev_w = run->prev_w;
    run->prev_w = run->next_w = NULL;
    lua->suspended_n--;
}

int hf_lua_start(hf_lua_t *lua, hf_batch_t *batch)
{
    int fn_index = batch->fn_index;
    batch->started_ms = hf_now_ms();
    batch->status = HF_BATCH_OK;
    if (lua->handlers[fn_index] == LUA_NOREF) {
        batch->error = hf_strdup("the function is not loaded");
        batch->status = HF_BATCH_FAILED;
        batch->done_ms = hf_now_ms();
        return 1;
    }
    hf_run_t *run = hf_calloc(1, sizeof(*run));
    run->batch = batch;
    run->fn_index = fn_index;
    run->t0 = hf_mono_us();
    if (!run_continue(lua, run)) {
        suspended_add(lua, run);
        return 0;
    }
    run_finish(lua, run);
    free(run);
    return 1;
}

hf_batch_t *hf_lua_poll(hf_lua_t *lua, int timeout_ms)
{
    hf_batch_t *done = NULL, **tail = &done;
    if (!lua->suspended_n || !lua->http)
        return NULL;
    hf_httpc_sync_wait(lua->http, timeout_ms);
    hf_inv_t *inv;
    while ((inv = hf_httpc_sync_take(lua->http)) != NULL) {
        hf_run_t *run = inv->run;
        inv->group = NULL;
        inv_enter(lua, inv);
        if (inv_resume(lua, inv, 0) == INV_WAITING)
            continue;
        if (!run_continue(lua, run))
            continue;            /* its next invocation waits */
        suspended_remove(lua, run);
        run_finish(lua, run);
        *tail = run->batch;
        tail = &run->batch->next;
        run->batch->next = NULL;
        free(run);
    }
    return done;
}

void hf_lua_wakeup(hf_lua_t *lua)
{
    if (lua->http)
        hf_httpc_sync_wakeup(lua->http);
}

void hf_lua_invoke(hf_lua_t *lua, hf_batch_t *batch)
{
    if (hf_lua_start(lua, batch))
        return;
    for (;;) {
        hf_batch_t *done = hf_lua_poll(lua, 1000);
        int mine = 0;
        while (done) {
            hf_batch_t *next = done->next;
            done->next = NULL;
            mine |= done == batch;
            done = next;
        }
        if (mine)
            return;
    }
}

int hf_lua_can_suspend(lua_State *L)
{
    hf_lua_t *lua = hf_lua_of(L);
    return lua->inv && L == lua->inv_co && lua->http && lua_isyieldable(L);
}

void hf_lua_suspend(lua_State *L, hf_httpc_group_t *group)
{
    hf_lua_of(L)->suspend_group = group;
}

void *hf_lua_inv_ud(lua_State *L)
{
    return hf_lua_of(L)->inv;
}

static void abandon_suspended(hf_lua_t *lua)
{
    while (lua->suspended) {
        hf_run_t *run = lua->suspended;
        suspended_remove(lua, run);
        if (run->inv.group)
            hf_httpc_sync_cancel(run->inv.group);
        hf_batch_free(run->batch);
        free(run);
    }
}
