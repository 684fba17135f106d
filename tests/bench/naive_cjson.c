/*
 * The naive ceiling that `hubfn run` is measured against (tests/bench/decode.sh).
 *
 * Reads a file of JSON lines line by line, parses each with cJSON_ParseWithLength, turns
 * the tree into Lua tables by the obvious recursive walk (objects -> string-keyed tables,
 * arrays -> 1..n tables, null -> a light userdata), wraps it as { body = ... } and calls a
 * Lua handler once per batch of BATCH events (hubfn's maxEventBatchSize, 100). The handler
 * (HANDLER.lua, loaded like a hubfn handler: the chunk returns the function) gets the
 * array of events; the benchmark's one reads every segment status from
 * ev.body.segmentMembership.ups and writes the batch's realized count on stdout, as the
 * hubfn handler does, so the two outputs can be compared.
 *
 * usage: naive_cjson HANDLER.lua FILE.jsonl [BATCH]
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char null_tag = 0;

static void naive_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&null_tag);
}

#include "naive_walk.h"

/* Calls the handler (stack index 1) with the events array on top. */
static void call_handler(lua_State *L)
{
    lua_pushvalue(L, 1);
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "handler failed: %s\n", lua_tostring(L, -1));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s HANDLER.lua FILE.jsonl [BATCH]\n", argv[0]);
        return 2;
    }
    int batch = argc > 3 ? atoi(argv[3]) : 100;
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_loadfile(L, argv[1]) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK ||
        lua_type(L, -1) != LUA_TFUNCTION) {
        fprintf(stderr, "%s: %s\n", argv[1], lua_tostring(L, -1));
        return 1;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int in_batch = 0;
    long long lineno = 0, events = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n')
            len--;
        if (len == 0)
            continue;
        cJSON *j = cJSON_ParseWithLength(line, len);
        if (!j) {
            fprintf(stderr, "%s:%lld: not JSON\n", argv[2], lineno);
            return 1;
        }
        if (in_batch == 0)
            lua_createtable(L, batch, 0);
        lua_createtable(L, 0, 1);
        push_cjson(L, j);
        cJSON_Delete(j);
        lua_setfield(L, -2, "body");
        lua_rawseti(L, -2, ++in_batch);
        events++;
        if (in_batch == batch) {
            call_handler(L);
            in_batch = 0;
        }
    }
    if (in_batch)
        call_handler(L);
    free(line);
    fclose(f);
    lua_close(L);
    fprintf(stderr, "%lld events\n", events);
    return 0;
}
