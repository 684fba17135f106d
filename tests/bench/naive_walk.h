/*
 * The naive ceiling's cJSON -> Lua walk, shared by tests/bench/naive_cjson.c and the
 * in-process micro-benchmark tests/bench/decode/bench.c: objects become string-keyed
 * tables, arrays 1..n tables, numbers integers when they are whole. The includer defines
 * naive_push_null(L) first, to push its own null.
 */
#ifndef HF_BENCH_NAIVE_WALK_H
#define HF_BENCH_NAIVE_WALK_H

#include <cjson/cJSON.h>
#include <lua.h>

static void naive_push_null(lua_State *L);

/* Pushes the Lua value of a cJSON node (recursive walk, the obvious way). */
static void push_cjson(lua_State *L, const cJSON *j)
{
    if (cJSON_IsObject(j)) {
        lua_newtable(L);
        for (const cJSON *c = j->child; c; c = c->next) {
            lua_pushstring(L, c->string);
            push_cjson(L, c);
            lua_rawset(L, -3);
        }
    } else if (cJSON_IsArray(j)) {
        lua_newtable(L);
        lua_Integer i = 1;
        for (const cJSON *c = j->child; c; c = c->next) {
            push_cjson(L, c);
            lua_rawseti(L, -2, i++);
        }
    } else if (cJSON_IsString(j)) {
        lua_pushstring(L, j->valuestring);
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == (double)(long long)d && d > -9e15 && d < 9e15)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
    } else if (cJSON_IsBool(j)) {
        lua_pushboolean(L, cJSON_IsTrue(j));
    } else {
        naive_push_null(L);
    }
}

#endif
