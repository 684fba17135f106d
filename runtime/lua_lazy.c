/*
 * Lazy tables: the metatable that lets an event (and the activation view) compute fields
 * on first read. See lua_lazy.h.
 */
#include "lua_lazy.h"

#include <lauxlib.h>
#include <string.h>

#include "json.h"

/* Registry and table keys (light userdata addresses). */
static const char lazy_mt_key = 0;
static const char lazy_store_key = 0;    /* key of the pending payload */
static const char lazy_fields_key = 0;   /* the table of lazy field builders */
static const char lazy_fill_key = 0;     /* in a lazy metatable: the table's fill function */


/* Decodes the pending payload of the event at ev, if any, into body / decodeError. The
   payload waits in the event under a private light-userdata key that this removes. A body
   the handler assigned itself is left alone. */
static void lazy_materialize(lua_State *L, int ev)
{
    char err[256];
    if (lua_rawgetp(L, ev, &lazy_store_key) != LUA_TSTRING) {
        lua_pop(L, 1);
        return;
    }
    lua_pushnil(L);
    lua_rawsetp(L, ev, &lazy_store_key);      /* decode once */
    lua_pushliteral(L, "body");
    if (lua_rawget(L, ev) != LUA_TNIL) {
        lua_pop(L, 2);
        return;
    }
    lua_pop(L, 1);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (hf_json_decode(L, s, len, err, sizeof(err)) == 0) {
        lua_setfield(L, ev, "body");
    } else {
        lua_pushvalue(L, -1);
        lua_setfield(L, ev, "body");          /* the raw text */
        lua_pushstring(L, err);
        lua_setfield(L, ev, "decodeError");
    }
    lua_pop(L, 1);
}

/* With the builder function on top, builds field k (stack index) of table t: calls
   builder(t), stores a non-nil result in t (raw, so it runs once) and leaves the result
   on top in place of the builder. */
static void lazy_build(lua_State *L, int t, int k)
{
    lua_pushvalue(L, t);
    lua_call(L, 1, 1);
    if (!lua_isnil(L, -1)) {
        lua_pushvalue(L, k);
        lua_pushvalue(L, -2);
        lua_rawset(L, t);
    }
}

/* Decodes the body of the lazy table at t and builds every registered field it lacks;
   builders is the stack index of the table of builders. */
static void lazy_fill_with(lua_State *L, int t, int builders)
{
    lazy_materialize(L, t);
    lua_pushnil(L);
    while (lua_next(L, builders)) {                  /* name at -2, builder at -1 */
        int k = lua_gettop(L) - 1;
        lua_pushvalue(L, k);
        if (lua_rawget(L, t) == LUA_TNIL) {
            lua_pop(L, 1);
            lazy_build(L, t, k);
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 1);                               /* builder or its result */
    }
}

/* next() for pairs on lazy tables: raw, so that it works where the global next is
   removed, and skipping the private light-userdata keys. */
int hf_lazy_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    while (lua_next(L, 1)) {
        if (lua_type(L, -2) != LUA_TLIGHTUSERDATA)
            return 2;
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    return 1;
}

/* __index of lazy tables (upvalue 1: the table of field builders): body and decodeError
   appear on first use; a field with a builder is built on first read. */
static int l_lazy_index(lua_State *L)
{
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    size_t n;
    const char *k = lua_tolstring(L, 2, &n);
    if ((n == 4 && memcmp(k, "body", 4) == 0) ||
        (n == 11 && memcmp(k, "decodeError", 11) == 0)) {
        lazy_materialize(L, 1);
        lua_pushvalue(L, 2);
        lua_rawget(L, 1);
        return 1;
    }
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TFUNCTION)
        return 0;
    lazy_build(L, 1, 2);
    return 1;
}

/* __pairs of lazy tables: decodes the body and builds every field first, so that
   iteration sees them all (and not the private keys). */
static int l_lazy_pairs(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lazy_fill_with(L, 1, lua_upvalueindex(1));
    lua_pushcfunction(L, hf_lazy_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* Fill function of the shared lazy metatable: arg 1 the table. */
static int l_lazy_fill(lua_State *L)
{
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lazy_fields_key);
    if (lua_istable(L, 2))
        lazy_fill_with(L, 1, 2);
    return 0;
}

/* Pushes this state's lazy-table metatable, creating it (and the builders table, kept
   as an upvalue of __index and __pairs and in the registry) the first time. */
static void push_lazy_mt(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &lazy_mt_key) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 3);
    lua_createtable(L, 0, 8);                        /* builders */
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &lazy_fields_key);
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, l_lazy_index, 1);
    lua_setfield(L, -3, "__index");
    lua_pushcclosure(L, l_lazy_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushliteral(L, "hubfn.event");
    lua_setfield(L, -2, "__name");
    hf_lazy_mark(L, -1, l_lazy_fill);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &lazy_mt_key);
}

/* Makes the event table at ev_idx decode buf as its body on first use of ev.body,
   ev.decodeError or pairs(ev). */
void hf_lazy_set_body(lua_State *L, int ev_idx, const char *buf, size_t len)
{
    ev_idx = lua_absindex(L, ev_idx);
    lua_pushlstring(L, buf ? buf : "", buf ? len : 0);
    hf_lazy_set_text(L, ev_idx, -1);
    lua_pop(L, 1);
}

/* hf_lazy_set_body with the text already a Lua string at text_idx. */
void hf_lazy_set_text(lua_State *L, int ev_idx, int text_idx)
{
    ev_idx = lua_absindex(L, ev_idx);
    lua_pushvalue(L, text_idx);
    lua_rawsetp(L, ev_idx, &lazy_store_key);
    push_lazy_mt(L);
    lua_setmetatable(L, ev_idx);
}

/* Gives the table at idx the lazy metatable (registered fields only, no body). */
void hf_lazy_set(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    push_lazy_mt(L);
    lua_setmetatable(L, idx);
}

/* Registers the builder of lazy field name for this state. */
void hf_lazy_field(lua_State *L, const char *name, lua_CFunction build)
{
    push_lazy_mt(L);
    lua_pop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lazy_fields_key);
    lua_pushcfunction(L, build);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

void hf_lazy_mark(lua_State *L, int mt_idx, lua_CFunction fill)
{
    mt_idx = lua_absindex(L, mt_idx);
    lua_pushcfunction(L, fill);
    lua_rawsetp(L, mt_idx, &lazy_fill_key);
}

int hf_lazy_fill(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    idx = lua_absindex(L, idx);
    if (lua_rawgetp(L, -1, &lazy_fill_key) != LUA_TFUNCTION) {
        lua_pop(L, 2);
        return 0;
    }
    lua_pushvalue(L, idx);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
    return 1;
}

int hf_lazy_push_mt(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &lazy_mt_key) == LUA_TTABLE)
        return 1;
    lua_pop(L, 1);
    return 0;
}
