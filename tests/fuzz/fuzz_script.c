/*
 * libFuzzer target for handler scripts: arbitrary bytes as a handler.lua top level, or as
 * the body of a handler, loaded and run through hf_lua_init, hf_lua_load_function (the hot
 * reload path) and hf_lua_invoke under a 200 ms functionTimeout and a 16 MB memory cap.
 * Checks that nothing crashes (ASan, UBSan, a Lua panic) and that every load and every
 * invocation returns within 5 s of wall time: functionTimeout must hold for whatever the
 * script does. A call that never returns is caught by libFuzzer's -timeout.
 *
 *   tests/fuzz/run.sh SECONDS script   (builds it with clang-14 and the whole library)
 *
 * Input: a first byte of flags, then the Lua text.
 *   bit 0  the text is the body of `return function(events, context) ... end`, else the
 *          whole script (its top level runs at load and may return the handler)
 *   bit 1  cardinality one (else many)
 *   bit 2  invoke a second time on the same state
 * The state is the default sandbox with, for the fuzzer's sake, no file, process or
 * network access at all: io, require, package, loadfile, print and most of os are gone (a
 * random script must not write files or open connections), and `json` is hubfn's JSON
 * module. string.find, match, gmatch and gsub are gone too: Lua's pattern matcher runs in
 * C and can take hours on a long subject (a pattern that backtracks, a long plain
 * search), the one long call into C the sandbox has (docs/lua-api.md "Limits"); /healthz,
 * not the timeout, reports it.
 */
#define _GNU_SOURCE
#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datetime.h"
#include "eventhub.h"
#include "log.h"
#include "lua_host.h"

#define TIMEOUT_MS 200
#define MEMORY_MB 16
#define WALL_LIMIT_US 5000000

static char dir[64], script[96];
static hf_binding_t outs[2];
static hf_eventhub_cfg_t out_cfg[2], trig_cfg;
static hf_function_t fn;
static hf_app_t app;

static void cleanup(void)
{
    unlink(script);
    rmdir(dir);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/hubfn-fuzz-script-%d", (int)getpid());
    atexit(cleanup);
    mkdir(dir, 0700);
    snprintf(script, sizeof(script), "%s/handler.lua", dir);
    outs[0].name = "out";
    outs[0].type = &hf_eventhub_output_type;
    outs[0].cfg = &out_cfg[0];
    out_cfg[0].hub = "out";
    outs[1].name = "$return";
    outs[1].type = &hf_eventhub_output_type;
    outs[1].cfg = &out_cfg[1];
    out_cfg[1].hub = "ret";
    fn.name = "f";
    fn.dir = dir;
    fn.script_path = script;
    fn.entry_point = "run";
    fn.trigger.name = "events";
    fn.trigger.type = &hf_eventhub_trigger_type;
    fn.trigger.cfg = &trig_cfg;
    trig_cfg.hub = "in";
    trig_cfg.consumer_group = "$Default";
    fn.outputs = outs;
    fn.outputs_n = 2;
    fn.returns = 1;
    fn.dead_letter = -1;
    fn.log_level = HF_LOG_NONE;
    app.dir = dir;
    app.functions = &fn;
    app.functions_n = 1;
    app.host.function_timeout_ms = TIMEOUT_MS;
    app.host.lua_memory_mb = MEMORY_MB;
    app.host.max_batch = 100;
    app.host.max_event_bytes = 1000000;
    hf_log_set_level(HF_LOG_NONE);
}

static void write_script(const char *head, const uint8_t *text, size_t n, const char *tail)
{
    FILE *f = fopen(script, "wb");
    if (!f)
        abort();
    fputs(head, f);
    fwrite(text, 1, n, f);
    fputs(tail, f);
    fclose(f);
}

/* No files, processes or network for random scripts (see the top). */
static void lock_down(lua_State *L)
{
    static const char *const gone[] = {"io", "require", "package", "loadfile", "dofile",
                                       "print", NULL};
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "hubfn");
    lua_getfield(L, -1, "json");
    lua_setglobal(L, "json");
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_setfield(L, -2, "hubfn");
    lua_pushnil(L);
    lua_setfield(L, -2, "io");
    lua_createtable(L, 0, 4);
    static const char *const os_kept[] = {"time", "clock", "date", "difftime", NULL};
    lua_getglobal(L, "os");
    for (int i = 0; os_kept[i]; i++) {
        lua_getfield(L, -1, os_kept[i]);
        lua_setfield(L, -3, os_kept[i]);
    }
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "os");
    lua_setglobal(L, "os");
    lua_pop(L, 1);
    for (int i = 0; gone[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, gone[i]);
    }
    static const char *const patterns[] = {"find", "match", "gmatch", "gsub", NULL};
    lua_getglobal(L, "string");
    for (int i = 0; patterns[i]; i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, patterns[i]);
    }
    lua_pop(L, 1);
}

static hf_batch_t *make_batch(void)
{
    static const char *bodies[] = {
        "{\"id\":1,\"segmentMembership\":{\"ups\":{\"s1\":{\"status\":\"realized\"}}},"
        "\"identityMap\":{\"ecid\":[{\"id\":\"123\"}]}}",
        "not json",
    };
    hf_batch_t *b = hf_batch_new(2);
    b->fn = &fn;
    b->fn_index = 0;
    b->hub = "in";
    b->partition = 1;
    for (size_t i = 0; i < 2; i++) {
        hf_event_t *ev = &b->events[b->events_n++];
        ev->own = strdup(bodies[i]);
        ev->payload = ev->own;
        ev->len = strlen(bodies[i]);
        ev->partition = 1;
        ev->offset = 7 + (int64_t)i;
        ev->enqueued_ms = 1700000000000LL;
    }
    return b;
}

/* A call that outlasted functionTimeout by far: the limit did not hold. */
static void check_time(const char *what, int64_t t0, const uint8_t *text, size_t n)
{
    int64_t took = hf_mono_us() - t0;
    if (took > WALL_LIMIT_US) {
        fprintf(stderr, "%s took %lld ms with functionTimeout %d ms:\n%.*s\n", what,
                (long long)(took / 1000), TIMEOUT_MS, (int)(n > 2000 ? 2000 : n),
                (const char *)text);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    char err[1024];
    hf_lua_t lua;
    if (!ready) {
        setup();
        ready = 1;
    }
    if (size < 1)
        return 0;
    int flags = data[0];
    const uint8_t *text = data + 1;
    size_t n = size - 1;
    fn.trigger.cardinality = (flags & 2) ? HF_CARD_ONE : HF_CARD_MANY;

    /* Start with a plain handler, lock the state down, then load the fuzzed script as a
       hot reload would. */
    write_script("return function() end\n", NULL, 0, "");
    if (hf_lua_init(&lua, &app, err, sizeof(err)) != 0) {
        fprintf(stderr, "the plain handler does not load: %s\n", err);
        abort();
    }
    lock_down(lua.L);
    if (flags & 1)
        write_script("return function(events, context)\n", text, n, "\nend\n");
    else
        write_script("", text, n, "");
    int64_t t0 = hf_mono_us();
    int loaded = hf_lua_load_function(&lua, 0, err, sizeof(err)) == 0;
    check_time("loading the script", t0, text, n);
    if (!loaded && strchr(err, '\n')) {
        fprintf(stderr, "a load error of more than one line: %s\n", err);
        abort();
    }
    for (int round = 0; loaded && round < ((flags & 4) ? 2 : 1); round++) {
        hf_batch_t *b = make_batch();
        t0 = hf_mono_us();
        hf_lua_invoke(&lua, b);
        check_time("an invocation", t0, text, n);
        if (b->status == HF_BATCH_FAILED && !b->error) {
            fprintf(stderr, "a failed invocation without an error\n");
            abort();
        }
        hf_batch_free(b);
    }
    hf_lua_close(&lua);
    return 0;
}
