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
        lua->batch) {
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

/* Count hook: once the deadline passed, raise on every hook so pcall cannot swallow it. */
static void timeout_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    hf_lua_t *lua = hf_lua_of(L);
    if (lua->timed_out || (lua->deadline_us && hf_mono_us() > lua->deadline_us)) {
        lua->timed_out = 1;
        lua_sethook(L, timeout_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "function timed out after %I ms (host.json functionTimeout)",
                   (lua_Integer)lua->app->host.function_timeout_ms);
    }
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
   precompiled chunks or debug hooks (which could switch off the timeout). host.json
   extensions.lua.allowUnsafeLibraries turns it off. */
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
    if (!batch->event_failed[idx]) {
        batch->event_failed[idx] = 1;
        batch->failed_marked++;
    }
    if (!batch->error) {
        size_t len = strlen(reason) + 64;
        batch->error = hf_malloc(len);
        snprintf(batch->error, len, "event at offset %lld: %s",
                 (long long)batch->events[idx].offset, reason);
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

    lua_pushcfunction(L, msghandler);                        /* top+1 */
    if (luaL_loadfilex(L, fn->script_path, "t") != LUA_OK) {  /* top+2 */
        snprintf(err, errsz, "%s", lua_tostring(L, -1));
        lua_settop(L, top);
        return -1;
    }
    /* Each function gets its own globals, falling back to the shared ones. */
    lua_newtable(L);                                          /* top+3 */
    lua_createtable(L, 0, 1);
    lua_pushglobaltable(L);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, top + 3);
    lua_setupvalue(L, top + 2, 1);
    lua_insert(L, top + 1);                                   /* env, msgh, chunk */
    if (lua_pcall(L, 0, 1, top + 2) != LUA_OK) {
        snprintf(err, errsz, "%s", lua_tostring(L, -1));
        lua_settop(L, top);
        return -1;
    }
    /* The chunk returns the handler, a table holding entryPoint, or defines it globally. */
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_getfield(L, -1, fn->entry_point);
        lua_remove(L, -2);
    } else if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_getfield(L, top + 1, fn->entry_point);
    }
    if (lua_type(L, -1) != LUA_TFUNCTION) {
        snprintf(err, errsz,
                 "%s: the script must return the handler function, or a table holding "
                 "\"%s\" (function.json entryPoint), or define a global function \"%s\"",
                 fn->script_path, fn->entry_point, fn->entry_point);
        lua_settop(L, top);
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
    luaL_openlibs(L);
    if (!app->host.lua_unsafe)
        sandbox(L);
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

    /* The cap applies to handlers, not to loading the app. */
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

void hf_lua_close(hf_lua_t *lua)
{
    if (lua->L)
        lua_close(lua->L);
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

/* One protected call of the handler on events [first, first+n). 0 ok, -1 failed. */
static int invoke_range(hf_lua_t *lua, int fn_index, size_t first, size_t n, int many)
{
    lua->inv_first = first;
    lua->inv_n = n;
    if (lua->sends_ref != LUA_NOREF) {
        luaL_unref(lua->L, LUA_REGISTRYINDEX, lua->sends_ref);
        lua->sends_ref = LUA_NOREF;
    }
    lua_State *L = lua->L;
    hf_batch_t *batch = lua->batch;
    const hf_function_t *fn = batch->fn;
    char invocation_id[40];
    int top = lua_gettop(L);
    size_t outputs_before = batch->outputs_n;

    new_invocation_id(lua, invocation_id);
    if (hf_trace_recording()) {
        lua->span = hf_trace_begin(batch, first, n, invocation_id, push_group(lua, fn_index));
        lua_pop(L, 1);
    } else {
        lua->span = hf_trace_begin(batch, first, n, invocation_id, NULL);
    }
    int64_t started_us = hf_mono_us();
    atomic_store_explicit(&lua->running_fn, fn_index, memory_order_relaxed);
    atomic_store_explicit(&lua->running_since_us, started_us, memory_order_release);
    lua_pushstring(L, invocation_id);
    lua_setfield(L, LUA_REGISTRYINDEX, "hubfn.invocationId");
    lua_pushcfunction(L, msghandler);
    int base = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, lua->handlers[fn_index]);

    lua->timed_out = 0;
    lua->mem_exceeded = 0;
    lua->deadline_us = fn && lua->app->host.function_timeout_ms > 0
                           ? started_us + lua->app->host.function_timeout_ms * 1000
                           : 0;
    if (lua->deadline_us)
        lua_sethook(L, timeout_hook, LUA_MASKCOUNT, HF_HOOK_COUNT);

    int rc;
    if (!lua_checkstack(L, 8)) {
        rc = LUA_ERRMEM;
    } else {
        hf_lua_push_event_names(L);
        int names = lua_gettop(L);
        if (many) {
            lua_createtable(L, (int)n, 0);
            for (size_t i = 0; i < n; i++) {
                hf_lua_push_event(L, &batch->events[first + i], batch->fn->trigger.data_type, names);
                lua_rawseti(L, -2, (lua_Integer)i + 1);
            }
        } else {
            hf_lua_push_event(L, &batch->events[first], batch->fn->trigger.data_type, names);
        }
        lua_remove(L, names);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, "hubfn.events");
        lua_pushinteger(L, (lua_Integer)first);
        lua_setfield(L, LUA_REGISTRYINDEX, "hubfn.first");
        push_context(lua, fn_index, first, n, many, invocation_id, lua_gettop(L));
        rc = lua_pcall(L, 2, 1, base);
        if (rc == LUA_OK) {
            /* Route the return value through $return, itself protected. */
            lua_pushcfunction(L, hf_lua_l_send_return);
            lua_insert(L, -2);
            rc = lua_pcall(L, 1, 0, base);
        }
    }
    lua_sethook(L, NULL, 0, 0);
    lua->deadline_us = 0;

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
        if (!batch->error) {
            size_t len = strlen(head) + (msg ? strlen(msg) : 0) + 4;
            batch->error = hf_malloc(len);
            snprintf(batch->error, len, "%s%s%s", head, *head && msg ? ": " : "",
                     msg ? msg : "");
        }
        batch->failed_invocations++;
        /* Every event of a failed invocation failed, whatever context.fail said. */
        if (!many || batch->event_failed) {
            if (!batch->event_failed)
                batch->event_failed = hf_calloc(batch->events_n, 1);
            memset(batch->event_failed + first, 1, n);
        }
        /* Outputs of a failed invocation are not sent. */
        hf_batch_drop_outputs(batch, outputs_before);
        hf_trace_end_invocation(lua->span, lua->timed_out ? HF_OUTCOME_TIMEOUT
                                                          : HF_OUTCOME_ERROR,
                                *head ? head : msg ? msg : "unknown error");
    } else if (batch->event_failed && memchr(batch->event_failed + first, 1, n)) {
        hf_trace_end_invocation(lua->span, HF_OUTCOME_ERROR, batch->error);  /* context.fail */
    }
    atomic_store_explicit(&lua->running_since_us, 0, memory_order_release);
    lua->span = NULL;
    batch->invocations++;
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "hubfn.events");
    lua_settop(L, top);
    return rc == LUA_OK ? 0 : -1;
}

void hf_lua_invoke(hf_lua_t *lua, hf_batch_t *batch)
{
    lua_State *L = lua->L;
    int fn_index = batch->fn_index;
    int64_t t0 = hf_mono_us();
    batch->started_ms = hf_now_ms();
    lua->batch = batch;
    lua->current_fn = fn_index;
    batch->status = HF_BATCH_OK;
    if (lua->handlers[fn_index] == LUA_NOREF) {
        batch->error = hf_strdup("the function is not loaded");
        batch->status = HF_BATCH_FAILED;
        lua->batch = NULL;
        lua->current_fn = -1;
        return;
    }
    if (batch->fn->trigger.cardinality == HF_CARD_MANY) {
        /* range_n: a part of a batch being bisected (bisectOnError) */
        size_t first = batch->range_n ? batch->range_first : 0;
        size_t n = batch->range_n ? batch->range_n : batch->events_n;
        if (invoke_range(lua, fn_index, first, n, 1) != 0)
            batch->status = HF_BATCH_FAILED;
    } else {
        for (size_t i = 0; i < batch->events_n; i++)
            if (invoke_range(lua, fn_index, i, 1, 0) != 0)
                batch->status = HF_BATCH_FAILED;
    }
    if (batch->failed_marked)
        batch->status = HF_BATCH_FAILED;   /* some events failed through context.fail */
    lua->batch = NULL;
    lua->current_fn = -1;
    /* A small GC step between batches keeps pauses short (Redis does the same). */
    lua_gc(L, LUA_GCSTEP, 0);
    batch->run_us = hf_mono_us() - t0;
    batch->done_ms = hf_now_ms();
}
