/*
 * Which app modules (the .lua files of APP/lib, loaded with require) each function uses, so that a
 * saved module reloads the functions that use it (hot reload, runtime/reload.c). The global
 * require is wrapped: every module required while a function loads or runs counts as that
 * function's, nested requires included.
 *
 * Thread: the thread that owns the state.
 */
#ifndef HF_LUA_MODULES_H
#define HF_LUA_MODULES_H

#include <lua.h>

/* Wrap require in this state (once, at init). */
void hf_lua_modules_init(lua_State *L);
/* Forget module `name` (package.loaded), so the next require reads its file again, and
   mark in users[i] (one per function, zeroed by the caller) the functions that required
   it. Returns how many use it. */
int hf_lua_module_changed(lua_State *L, const char *name, unsigned char *users, size_t n);
/* The module name of a file below APP/lib: "util.lua" -> "util", "a/b.lua" -> "a.b",
   "a/init.lua" -> "a". Writes into out; -1 when the path is no Lua module. */
int hf_lua_module_name(const char *rel, char *out, size_t outsz);

#endif
