/*
 * Module use per function, for hot reload. See lua_modules.h.
 */
#include "lua_modules.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "lua_host.h"

/* Registry key of the table module name -> { [function index] = true }. */
static const char users_key = 0;

/* require(name), recording name for the function being loaded or run (upvalue 1: the
   original require). */
static int l_require(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    int fn = hf_lua_of(L)->current_fn;
    if (fn >= 0) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &users_key);
        if (lua_getfield(L, -1, name) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -1);
            lua_setfield(L, -3, name);
        }
        lua_pushboolean(L, 1);
        lua_rawseti(L, -2, fn);
        lua_pop(L, 2);
    }
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 1, LUA_MULTRET);
    return lua_gettop(L);
}

void hf_lua_modules_init(lua_State *L)
{
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &users_key);
    lua_getglobal(L, "require");
    lua_pushcclosure(L, l_require, 1);
    lua_setglobal(L, "require");
}

int hf_lua_module_changed(lua_State *L, const char *name, unsigned char *users, size_t n)
{
    int count = 0;
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushnil(L);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &users_key);
    if (lua_getfield(L, -1, name) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_Integer fn = lua_tointeger(L, -2);
            if (fn >= 0 && (size_t)fn < n && !users[fn]) {
                users[fn] = 1;
                count++;
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 2);
    return count;
}

int hf_lua_module_name(const char *rel, char *out, size_t outsz)
{
    size_t n = strlen(rel);
    if (n < 5 || strcmp(rel + n - 4, ".lua") != 0 || n - 4 >= outsz)
        return -1;
    n -= 4;
    memcpy(out, rel, n);
    out[n] = 0;
    if (n >= 5 && strcmp(out + n - 5, "/init") == 0)
        out[n - 5] = 0;
    else if (strcmp(out, "init") == 0)
        return -1;
    for (char *c = out; *c; c++)
        if (*c == '/')
            *c = '.';
    return 0;
}
