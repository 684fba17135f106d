/*
 * context.bindings: one table per binding of the function, made from its binding type
 * (bindings/binding.h), and what binding types' Lua code may use. See lua_bindings.h.
 *
 * Thread: the worker that owns the state.
 */
#include "lua_bindings.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "binding.h"
#include "json.h"
#include "log.h"
#include "lua_host.h"
#include "options.h"
#include "trace.h"


const hf_app_t *hf_lua_app(lua_State *L)
{
    return hf_lua_of(L)->app;
}

/* Encode the value at idx as an output body: tables and scalars as JSON, strings as they are. */
void hf_lua_output_body(lua_State *L, int idx, hf_output_t *out, const char *binding)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        out->body = hf_memdup(s, n);
        out->body_len = n;
        out->body_is_json = 0;
        return;
    }
    hf_buf_t buf;
    char err[256];
    hf_buf_init(&buf);
    if (hf_json_encode(L, idx, &buf, err, sizeof(err)) != 0) {
        hf_buf_free(&buf);
        luaL_error(L, "bindings.%s:send: cannot encode the value as JSON: %s", binding, err);
    }
    out->body = buf.data;
    out->body_len = buf.len;
    out->body_is_json = 1;
}

/* Private keys (light-userdata addresses): a binding table's index in fn->outputs, and
   the registry's set of warnings already given. */
static const char binding_key = 0;
static const char warned_key = 0;

/* Protected part of hf_lua_send: the type fills the output from the value (arg 3) and the
   options (arg 4, nil for none). */
static int send_fill(lua_State *L)
{
    const hf_binding_t *b = lua_touserdata(L, 1);
    hf_output_t *out = lua_touserdata(L, 2);
    b->type->send(L, b, 3, lua_isnil(L, 4) ? 0 : 4, out);
    return 0;
}

/* Warn once per state about a send option of binding b that its type does not know: a
   typo (`partitionkey`) would otherwise be ignored without a word. */
static void check_options(lua_State *L, const hf_binding_t *b, int opts)
{
    const char *const *known = b->type->send_options;
    if (!known || !lua_istable(L, opts))
        return;
    lua_pushnil(L);
    while (lua_next(L, opts)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            continue;
        const char *k = lua_tostring(L, -1);
        int ok = 0;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = strcmp(known[i], k) == 0;
        if (ok)
            continue;
        if (lua_rawgetp(L, LUA_REGISTRYINDEX, &warned_key) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -1);
            lua_rawsetp(L, LUA_REGISTRYINDEX, &warned_key);
        }
        lua_pushfstring(L, "%s\n%s", b->name, k);
        if (lua_rawget(L, -2) == LUA_TNIL) {
            lua_pop(L, 1);
            lua_pushfstring(L, "%s\n%s", b->name, k);
            lua_pushboolean(L, 1);
            lua_rawset(L, -3);
            const char *near = hf_options_nearest_word(k, known);
            char names[256];
            size_t n = 0;
            names[0] = 0;
            for (size_t i = 0; known[i]; i++)
                n += (size_t)snprintf(names + n, n < sizeof(names) ? sizeof(names) - n : 0,
                                      "%s%s", i ? ", " : "", known[i]);
            hf_log_ctx_t ctx = HF_LOG_CTX_NONE;
            hf_lua_t *lua = hf_lua_of(L);
            ctx.function = lua->batch ? lua->batch->fn->name : NULL;
            if (near)
                hf_log_ctx(HF_LOG_WARN, &ctx, "bindings.%s:send: option \"%s\" is not one "
                           "hubfn knows; ignored (did you mean %s?)", b->name, k, near);
            else
                hf_log_ctx(HF_LOG_WARN, &ctx, "bindings.%s:send: option \"%s\" is not one "
                           "hubfn knows; ignored (the options are %s)", b->name, k, names);
        }
        lua_pop(L, 2);
    }
}

/* Queue one output message from value at idx with options table at opts (0 = none). What
   the type kept in the output is freed when it raises. */
void hf_lua_send(lua_State *L, int binding, int idx, int opts)
{
    hf_lua_t *lua = hf_lua_of(L);
    const hf_binding_t *b = &lua->batch->fn->outputs[binding];
    hf_output_t out = {0};
    out.binding = binding;
    if (lua->batch->fn->trigger.cardinality == HF_CARD_ONE)
        out.invocation = lua->inv_first + 1;
    if (lua_isnoneornil(L, idx))
        luaL_error(L, "bindings.%s:send: nothing to send (the value is nil)", b->name);
    if (!b->type->send)
        luaL_error(L, "bindings.%s: a %s binding takes no messages", b->name, b->type->name);
    idx = lua_absindex(L, idx);
    opts = opts ? lua_absindex(L, opts) : 0;
    if (opts && !lua_isnil(L, opts) && !lua_istable(L, opts))
        luaL_error(L, "bindings.%s:send: the options must be a table, got %s", b->name,
                   luaL_typename(L, opts));
    if (opts)
        check_options(L, b, opts);
    lua_pushcfunction(L, send_fill);
    lua_pushlightuserdata(L, (void *)b);
    lua_pushlightuserdata(L, &out);
    lua_pushvalue(L, idx);
    if (opts)
        lua_pushvalue(L, opts);
    else
        lua_pushnil(L);
    if (lua_pcall(L, 4, 0, 0) != LUA_OK) {
        hf_output_free(lua->batch->fn, &out);
        lua_error(L);
    }
    hf_trace_stamp(lua->span, &out);   /* traceparent, unless the handler set one */
    hf_batch_add_output(lua->batch, &out);
}

/* The index of the binding table at idx, or -1 when it is not one. */
static int binding_index(lua_State *L, int idx)
{
    if (!lua_istable(L, idx))
        return -1;
    int found = lua_rawgetp(L, idx, &binding_key) == LUA_TNUMBER;
    int i = found ? (int)lua_tointeger(L, -1) : -1;
    lua_pop(L, 1);
    return i;
}

const hf_binding_t *hf_lua_binding(lua_State *L, int idx)
{
    hf_lua_t *lua = hf_lua_of(L);
    int binding = binding_index(L, idx);
    if (binding < 0)
        luaL_error(L, "a binding's method was called without its binding: call it with a "
                   "colon, bindings.NAME:method(...)");
    if (!lua->batch || (size_t)binding >= lua->batch->fn->outputs_n)
        luaL_error(L, "called outside of an invocation");
    return &lua->batch->fn->outputs[binding];
}

/* binding:send(value [, options]); upvalue 1: the binding's index, upvalue 2: its name */
static int l_binding_send(lua_State *L)
{
    int binding = (int)lua_tointeger(L, lua_upvalueindex(1));
    if (binding_index(L, 1) != binding)
        return luaL_error(L, "bindings.%s.send: call it with a colon, bindings.%s:send(value), "
                          "so that the binding comes first", lua_tostring(L, lua_upvalueindex(2)),
                          lua_tostring(L, lua_upvalueindex(2)));
    if (!hf_lua_of(L)->batch)
        return luaL_error(L, "bindings.%s:send: called outside of an invocation",
                          lua_tostring(L, lua_upvalueindex(2)));
    hf_lua_send(L, binding, 2, lua_gettop(L) >= 3 ? 3 : 0);
    return 0;
}

/* __index of context.bindings: reading a binding that does not exist is a mistake worth a
   clear error (upvalue 1: the list of the function's bindings). rawget tests quietly. */
static int l_no_binding(lua_State *L)
{
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    return luaL_error(L, "context.bindings.%s: no such binding (this function's bindings: %s)",
                      lua_tostring(L, 2), lua_tostring(L, lua_upvalueindex(1)));
}

/* Send the handler's return value through the $return binding, if the function has one. */
static void send_return(lua_State *L, int idx)
{
    hf_lua_t *lua = hf_lua_of(L);
    int binding = lua->batch->fn->returns;
    if (binding < 0 || lua_isnil(L, idx))
        return;
    if (lua_type(L, idx) == LUA_TTABLE && lua_rawlen(L, idx) > 0) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            hf_lua_send(L, binding, lua_gettop(L), 0);
            lua_pop(L, 1);
        }
    } else {
        hf_lua_send(L, binding, idx, 0);
    }
}

int hf_lua_l_send_return(lua_State *L)
{
    send_return(L, 1);
    return 0;
}

int hf_lua_l_finish(lua_State *L)
{
    const hf_function_t *fn = hf_lua_of(L)->batch->fn;
    for (size_t i = 0; i < fn->outputs_n; i++)
        if (fn->outputs[i].type->lua_finish)
            fn->outputs[i].type->lua_finish(L, &fn->outputs[i]);
    return 0;
}

/* Pushes context.bindings of fn: one table per binding but the trigger, whose metatable's
   methods come from the binding's type (send for outputs, and the type's own). */
void hf_lua_push_bindings(lua_State *L, const hf_function_t *fn)
{
    lua_createtable(L, 0, (int)fn->outputs_n);
    luaL_Buffer names;
    luaL_buffinit(L, &names);
    for (size_t i = 0; i < fn->outputs_n; i++) {
        if (i)
            luaL_addstring(&names, ", ");
        luaL_addstring(&names, fn->outputs[i].name);
    }
    if (!fn->outputs_n)
        luaL_addstring(&names, "none");
    luaL_pushresult(&names);
    int list = lua_gettop(L);
    for (size_t i = 0; i < fn->outputs_n; i++) {
        const hf_binding_t *b = &fn->outputs[i];
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, (lua_Integer)i);
        lua_rawsetp(L, -2, &binding_key);
        lua_pushstring(L, b->name);
        lua_setfield(L, -2, "name");
        if (b->type->lua_fields)
            b->type->lua_fields(L, b);
        lua_createtable(L, 0, 1);             /* metatable */
        lua_createtable(L, 0, 2);             /* methods */
        if (b->type->send) {
            lua_pushinteger(L, (lua_Integer)i);
            lua_pushstring(L, b->name);
            lua_pushcclosure(L, l_binding_send, 2);
            lua_setfield(L, -2, "send");
        }
        if (b->type->lua_methods)
            luaL_setfuncs(L, b->type->lua_methods, 0);
        lua_setfield(L, -2, "__index");
        lua_setmetatable(L, -2);
        lua_setfield(L, -3, b->name);
    }
    lua_createtable(L, 0, 1);                 /* context.bindings' own metatable */
    lua_pushvalue(L, list);
    lua_pushcclosure(L, l_no_binding, 1);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -3);
    lua_pop(L, 1);                            /* the list */
}

void hf_lua_invocation(lua_State *L, size_t *first, size_t *n)
{
    hf_lua_t *lua = hf_lua_of(L);
    *first = lua->inv_first;
    *n = lua->inv_n;
}

void hf_lua_invocation_table(lua_State *L)
{
    hf_lua_t *lua = hf_lua_of(L);
    if (lua->sends_ref == LUA_NOREF) {
        lua_newtable(L);
        lua->sends_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, lua->sends_ref);
}

int32_t hf_lua_partition(lua_State *L)
{
    hf_lua_t *lua = hf_lua_of(L);
    return lua->batch ? lua->batch->partition : -1;
}

void hf_lua_add_output(lua_State *L, const hf_binding_t *b, hf_output_t *out)
{
    hf_lua_t *lua = hf_lua_of(L);
    const hf_function_t *fn = lua->batch->fn;
    out->binding = (int)(b - fn->outputs);
    if (fn->trigger.cardinality == HF_CARD_ONE)
        out->invocation = lua->inv_first + 1;
    hf_batch_add_output(lua->batch, out);
}

uint64_t hf_lua_send_ordinal(lua_State *L, const hf_binding_t *b, int64_t offset)
{
    hf_lua_invocation_table(L);
    lua_pushfstring(L, "%s\n%I", b->name, (lua_Integer)offset);
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    lua_Integer n = lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_pushinteger(L, n + 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    return (uint64_t)n;
}
