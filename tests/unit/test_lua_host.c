/* Unit tests of the Lua host: events, context, outputs, errors, the timeout hook and the
   memory cap (on handlers and on loading scripts). */
#include <lauxlib.h>
#include <signal.h>
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
#include "test.h"

static char dir[256];
static char script[512];
static hf_binding_t outs[2];
static hf_eventhub_cfg_t out_cfg[2], trig_cfg;
static hf_function_t fn;
static hf_app_t app;

/* An app of one function "f" whose handler.lua is `code`. */
static void setup(const char *code, hf_cardinality_t card, long long timeout_ms)
{
    char *path = script;
    snprintf(dir, sizeof(dir), "/tmp/hf-lua-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof(script), "%s/handler.lua", dir);
    FILE *f = fopen(path, "w");
    fputs(code, f);
    fclose(f);
    memset(&app, 0, sizeof(app));
    memset(&fn, 0, sizeof(fn));
    memset(outs, 0, sizeof(outs));
    memset(out_cfg, 0, sizeof(out_cfg));
    memset(&trig_cfg, 0, sizeof(trig_cfg));
    outs[0].name = "crm";
    outs[0].type = &hf_eventhub_output_type;
    outs[0].cfg = &out_cfg[0];
    out_cfg[0].hub = "crm-updates";
    outs[1].name = "$return";
    outs[1].type = &hf_eventhub_output_type;
    outs[1].cfg = &out_cfg[1];
    out_cfg[1].hub = "ret";
    fn.name = "f";
    fn.dir = dir;
    fn.script_path = path;
    fn.entry_point = "run";
    fn.trigger.name = "events";
    fn.trigger.type = &hf_eventhub_trigger_type;
    fn.trigger.cfg = &trig_cfg;
    trig_cfg.hub = "in";
    trig_cfg.consumer_group = "$Default";
    fn.trigger.cardinality = card;
    fn.outputs = outs;
    fn.outputs_n = 2;
    fn.returns = 1;
    fn.dead_letter = -1;
    fn.log_level = HF_LOG_NONE;
    app.dir = dir;
    app.functions = &fn;
    app.functions_n = 1;
    app.host.function_timeout_ms = timeout_ms;
    app.host.max_batch = 100;
}

static hf_batch_t *make_batch(const char **bodies, size_t n)
{
    hf_batch_t *b = hf_batch_new(n);
    b->fn = &fn;
    b->fn_index = 0;
    b->hub = "in";
    b->partition = 3;
    for (size_t i = 0; i < n; i++) {
        hf_event_t *ev = &b->events[b->events_n++];
        ev->own = strdup(bodies[i]);
        ev->payload = ev->own;
        ev->len = strlen(bodies[i]);
        ev->partition = 3;
        ev->offset = 100 + (int64_t)i;
        ev->enqueued_ms = 1700000000123LL;
    }
    return b;
}

static const char *out_body(hf_batch_t *b, size_t i)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf), "%.*s", (int)b->outputs[i].body_len, b->outputs[i].body);
    return buf;
}

TEST(many_gets_array_with_metadata)
{
    setup("return function(events, context)\n"
          "  for _, ev in ipairs(events) do\n"
          "    context.bindings.crm:send(string.format('%s|%d|%d|%d|%s|%s', ev.body.name,\n"
          "      ev.partition, ev.offset, ev.sequenceNumber, ev.enqueuedTime, #events))\n"
          "  end\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{\"name\":\"a\"}", "{\"name\":\"b\"}"};
    hf_batch_t *b = make_batch(bodies, 2);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_INT(b->outputs_n, 2);
    CHECK_STR(out_body(b, 0), "a|3|100|100|2023-11-14T22:13:20.123Z|2");
    CHECK_STR(out_body(b, 1), "b|3|101|101|2023-11-14T22:13:20.123Z|2");
    CHECK_INT(b->invocations, 1);
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(one_invokes_per_event_in_order)
{
    setup("local seen = 0\n"
          "return function(ev, context)\n"
          "  seen = seen + 1\n"
          "  return { offset = ev.offset, seen = seen }\n"
          "end\n", HF_CARD_ONE, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"1", "2", "3"};
    hf_batch_t *b = make_batch(bodies, 3);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->invocations, 3);
    CHECK_INT(b->outputs_n, 3);
    CHECK_STR(out_body(b, 2), "{\"offset\":102,\"seen\":3}");
    CHECK_INT(b->outputs[0].binding, 1);
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(context_fields)
{
    setup("return function(events, c)\n"
          "  local tm = c.triggerMetadata\n"
          "  assert(#c.invocationId == 36, c.invocationId)\n"
          "  return table.concat({ c.functionName, tm.partitionContext.eventHubName,\n"
          "    tm.partitionContext.consumerGroup, tm.partitionContext.partitionId,\n"
          "    #tm.offsetArray, tm.sequenceNumberArray[2], tm.enqueuedTimeUtcArray[1],\n"
          "    c.retryContext.retryCount, c.retryContext.maxRetryCount, type(c.log),\n"
          "    type(c.log.warn) }, ',')\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{}", "{}"};
    hf_batch_t *b = make_batch(bodies, 2);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_INT(b->outputs_n, 1);
    CHECK_STR(out_body(b, 0), "f,in,$Default,3,2,101,2023-11-14T22:13:20.123Z,0,0,table,function");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(invalid_json_arrives_with_decode_error)
{
    setup("return function(events, c)\n"
          "  local ev = events[1]\n"
          "  return ev.body .. '|' .. tostring(ev.decodeError ~= nil) .. '|' ..\n"
          "         tostring(ev.activation)\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{\"a\":"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_STR(out_body(b, 0), "{\"a\":|true|nil");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(error_has_traceback_and_drops_outputs)
{
    setup("local function inner(x)\n"
          "  error('boom ' .. x)\n"
          "end\n"
          "return function(events, c)\n"
          "  c.bindings.crm:send('before')\n"
          "  inner(events[1].body.v)\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{\"v\":7}"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK_HAS(b->error, "handler.lua:2: boom 7");
    CHECK_HAS(b->error, "stack traceback");
    CHECK_HAS(b->error, "handler.lua:6");
    CHECK_INT(b->outputs_n, 0);
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(timeout_cannot_be_swallowed_by_pcall)
{
    setup("return function(events, c)\n"
          "  if events[1].body == 1 then\n"
          "    for i = 1, 10 do pcall(function() while true do end end) end\n"
          "  end\n"
          "  return 'survived'\n"
          "end\n", HF_CARD_MANY, 50);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"1"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK_HAS(b->error, "timed out");
    CHECK_INT(b->outputs_n, 0);
    hf_batch_free(b);
    /* The state still works afterwards. */
    const char *again[] = {"2"};
    b = make_batch(again, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_STR(out_body(b, 0), "survived");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(send_options_key_and_properties)
{
    setup("return function(events, c)\n"
          "  c.bindings.crm:send({ a = 1 }, { partitionKey = 'user-9',\n"
          "                                  properties = { source = 'aep', n = 2 } })\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{}"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_INT(b->outputs_n, 1);
    CHECK_STR(out_body(b, 0), "{\"a\":1}");
    CHECK(b->outputs[0].body_is_json);
    CHECK_STR(b->outputs[0].key, "user-9");
    CHECK_INT(b->outputs[0].headers_n, 2);
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(oversize_send_fails_with_size)
{
    setup("return function(events, c)\n"
          "  c.bindings.crm:send(string.rep('x', 2 * 1024 * 1024))\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{}"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK_HAS(b->error, "2097152 bytes exceeds");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(syntax_error_names_file_and_line)
{
    setup("return function(events)\n  local x = = 1\nend\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == -1);
    CHECK_HAS(err, "handler.lua:2:");
}

TEST(script_must_return_handler)
{
    setup("local x = 1\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == -1);
    CHECK_HAS(err, "must return the handler function");
}

TEST(entry_point_table_and_global)
{
    setup("function run(events) return 'global' end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{}"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->outputs_n, 1);
    CHECK_STR(out_body(b, 0), "global");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(return_array_sends_each)
{
    setup("return { run = function(events) return { { a = 1 }, 'two', { b = 3 } } end }\n",
          HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{}"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->outputs_n, 3);
    CHECK_STR(out_body(b, 1), "two");
    CHECK_STR(out_body(b, 2), "{\"b\":3}");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(hubfn_module_json)
{
    setup("local hubfn = require('hubfn')\n"
          "return function(events)\n"
          "  local t = hubfn.json.decode('{\"x\":[1,2,null]}')\n"
          "  assert(t.x[3] == hubfn.null)\n"
          "  return hubfn.json.encode(t)\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{}"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_STR(out_body(b, 0), "{\"x\":[1,2,null]}");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(lazy_metadata_reads_as_before)
{
    /* enqueuedTime, properties and systemProperties are built on first read: each read
       gives what the eager host gave, rawget shows nothing before, pairs sees them all */
    setup("local function keys(t)\n"
          "  local k = {}\n"
          "  for name in pairs(t) do if type(name) == 'string' then k[#k + 1] = name end end\n"
          "  table.sort(k)\n"
          "  return table.concat(k, ',')\n"
          "end\n"
          "return function(events, c)\n"
          "  local ev = events[1]\n"
          "  local before = tostring(rawget(ev, 'properties')) .. tostring(rawget(ev, 'enqueuedTime'))\n"
          "    .. tostring(rawget(ev, 'systemProperties')) .. tostring(rawget(ev, 'body'))\n"
          "  local sp = ev.systemProperties\n"
          "  assert(ev.systemProperties == sp and ev.properties == ev.properties)\n"
          "  assert(next(ev.properties) == nil and type(ev.properties) == 'table')\n"
          "  local out = { before, ev.enqueuedTime, keys(sp), sp['x-opt-offset'],\n"
          "    sp['x-opt-sequence-number'], sp['x-opt-enqueued-time'], sp.partitionId,\n"
          "    tostring(sp['x-opt-partition-key']), keys(events[2]) }\n"
          "  ev.properties.mine = 1\n"
          "  assert(events[2].properties.mine == nil, 'each event has its own properties')\n"
          "  return table.concat(out, '|')\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{\"identityMap\":{}}", "{\"a\":1}"};
    hf_batch_t *b = make_batch(bodies, 2);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_INT(b->outputs_n, 1);
    CHECK_STR(out_body(b, 0),
              "nilnilnilnil|2023-11-14T22:13:20.123Z|partitionId,x-opt-enqueued-time,"
              "x-opt-offset,x-opt-sequence-number|100|100|2023-11-14T22:13:20.123Z|3|nil|"
              "body,enqueuedTime,offset,partition,properties,sequenceNumber,systemProperties");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(enqueued_time_format)
{
    /* the host's own formatter against hf_log_time_iso over many dates */
    setup("return function(events)\n"
          "  local t = {}\n"
          "  for i, ev in ipairs(events) do t[i] = tostring(ev.enqueuedTime) end\n"
          "  return table.concat(t, ' ')\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    enum { N = 64 };
    const char *bodies[N];
    for (int i = 0; i < N; i++)
        bodies[i] = "1";
    hf_batch_t *b = make_batch(bodies, N);
    static const long long fixed[] = { 0, 999, 1000, 951782400000LL, 951868799999LL,
                                        4102444800000LL, 253402300799999LL, 1700000000123LL };
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b->events[i].enqueued_ms = i < 8 ? fixed[i] : (long long)(x % 253402300800000ULL);
    }
    b->events[N - 1].enqueued_ms = -1;               /* unknown: nil */
    char want[N * 32] = "", ts[40];
    for (int i = 0; i < N; i++) {
        if (i)
            strcat(want, " ");
        if (b->events[i].enqueued_ms < 0)
            strcat(want, "nil");
        else {
            hf_log_time_iso(b->events[i].enqueued_ms, ts, sizeof(ts));
            strcat(want, ts);
        }
    }
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_INT(b->outputs_n, 1);
    CHECK_STR(b->outputs[0].body, want);
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(trigger_metadata_arrays_are_lazy_and_complete)
{
    setup("return function(events, c)\n"
          "  local tm = c.triggerMetadata\n"
          "  assert(rawget(tm, 'offsetArray') == nil)\n"
          "  table.remove(events, 1)   -- the handler's own array; the metadata keeps order\n"
          "  local n = 0\n"
          "  for k in pairs(tm) do if type(k) == 'string' then n = n + 1 end end\n"
          "  return table.concat({ #tm.offsetArray, tm.offsetArray[1], tm.sequenceNumberArray[3],\n"
          "    tostring(tm.partitionKeyArray[2]), tm.enqueuedTimeUtcArray[3],\n"
          "    type(tm.propertiesArray[1]), tm.systemPropertiesArray[2]['x-opt-offset'],\n"
          "    tostring(tm.partitionKey), n }, ',')\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"1", "2", "3"};
    hf_batch_t *b = make_batch(bodies, 3);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_STR(out_body(b, 0), "3,100,102,false,2023-11-14T22:13:20.123Z,table,101,nil,7");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(trigger_metadata_one)
{
    setup("return function(ev, c)\n"
          "  local tm = c.triggerMetadata\n"
          "  return table.concat({ tm.offset, tm.sequenceNumber, tm.enqueuedTimeUtc,\n"
          "    tostring(tm.properties == ev.properties),\n"
          "    tm.systemProperties['x-opt-sequence-number'], tostring(tm.offsetArray),\n"
          "    tm.partitionContext.partitionId }, ',')\n"
          "end\n", HF_CARD_ONE, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"1", "2"};
    hf_batch_t *b = make_batch(bodies, 2);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_INT(b->outputs_n, 2);
    CHECK_STR(out_body(b, 1), "101,101,2023-11-14T22:13:20.123Z,true,101,nil,3");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(string_data_type_keeps_lazy_metadata)
{
    setup("return function(events)\n"
          "  local ev = events[1]\n"
          "  return ev.body .. '|' .. tostring(ev.activation) .. '|' .. ev.enqueuedTime ..\n"
          "         '|' .. ev.systemProperties['x-opt-offset']\n"
          "end\n", HF_CARD_MANY, 0);
    fn.trigger.data_type = HF_DATA_STRING;
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{\"identityMap\":{}}"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_STR(out_body(b, 0), "{\"identityMap\":{}}|nil|2023-11-14T22:13:20.123Z|100");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(memory_cap_fails_the_invocation_not_the_host)
{
    /* the small-block pool still counts every byte against the cap */
    setup("return function(events)\n"
          "  local t = {}\n"
          "  for i = 1, 1e7 do t[i] = { i } end\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    lua.mem_limit = lua.mem_used + 8 * 1024 * 1024;
    const char *bodies[] = {"{}"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK_HAS(b->error, "out of memory");
    hf_batch_free(b);
    lua_gc(lua.L, LUA_GCCOLLECT);
    CHECK(lua.mem_used < lua.mem_limit);
    b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_FAILED);   /* fails again, the state still works */
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(event_encodes_whole)
{
    /* forwarding a whole event: every field, as the eager host gave them */
    setup("local json = require('hubfn').json\n"
          "return function(events) return json.encode(events[1]) end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{\"identityMap\":{\"ecid\":[{\"id\":\"1\"}]}}"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_STR(out_body(b, 0),
              "{\"activation\":{\"attributes\":{},\"existing\":[],\"exited\":[],"
              "\"identities\":{\"ecid\":[\"1\"]},\"realized\":[],\"segments\":[]},"
              "\"body\":{\"identityMap\":{\"ecid\":[{\"id\":\"1\"}]}},"
              "\"enqueuedTime\":\"2023-11-14T22:13:20.123Z\",\"offset\":100,\"partition\":3,"
              "\"properties\":{},\"sequenceNumber\":100,\"systemProperties\":{\"partitionId\":3,"
              "\"x-opt-enqueued-time\":\"2023-11-14T22:13:20.123Z\",\"x-opt-offset\":100,"
              "\"x-opt-sequence-number\":100}}");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(sandbox_removes_process_and_native_access)
{
    setup("return function(events)\n"
          "  return table.concat({ tostring(os.execute), tostring(io.popen),\n"
          "    tostring(package.loadlib), tostring(debug.sethook), type(debug.traceback),\n"
          "    tostring(select(2, load(string.dump(function() end))) ~= nil),\n"
          "    type(os.time), type(io.open), tostring(dofile) }, ',')\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{}"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_STR(out_body(b, 0), "nil,nil,nil,nil,function,true,function,function,nil");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(unsafe_libraries_when_allowed)
{
    setup("return function(events)\n"
          "  return tostring(type(os.execute)) .. ',' .. tostring(type(debug.sethook))\n"
          "end\n", HF_CARD_MANY, 0);
    app.host.lua_unsafe = 1;
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{}"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_STR(out_body(b, 0), "function,function");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(memory_bomb_fails_only_that_invocation)
{
    setup("return function(events)\n"
          "  if events[1].body == 1 then\n"
          "    local t = {}\n"
          "    for i = 1, 1e9 do t[i] = string.rep('x', 100) .. i end\n"
          "  end\n"
          "  return 'fine'\n"
          "end\n", HF_CARD_MANY, 0);
    app.host.lua_memory_mb = 16;
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bomb[] = {"1"};
    hf_batch_t *b = make_batch(bomb, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK_HAS(b->error, "out of memory");
    hf_batch_free(b);
    const char *ok[] = {"2"};
    b = make_batch(ok, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_STR(out_body(b, 0), "fine");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(context_fail_marks_single_events)
{
    setup("return function(events, context)\n"
          "  for _, ev in ipairs(events) do\n"
          "    if ev.body.bad then context.fail(ev, 'bad id ' .. ev.body.id)\n"
          "    else context.bindings.crm:send({ id = ev.body.id }) end\n"
          "  end\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{\"id\":1}", "{\"id\":2,\"bad\":true}", "{\"id\":3}"};
    hf_batch_t *b = make_batch(bodies, 3);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK(b->event_failed != NULL);
    CHECK_INT(b->event_failed[0], 0);
    CHECK_INT(b->event_failed[1], 1);
    CHECK_INT(b->event_failed[2], 0);
    CHECK_INT(b->outputs_n, 2);
    CHECK_HAS(b->error, "offset 101: bad id 2");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(context_fail_rejects_foreign_values)
{
    setup("return function(events, context) context.fail({}) end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{}"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK_HAS(b->error, "must be an event of this invocation");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

/* ---- limits on loading scripts, finalizers, coroutines ---- */

/* A limit that does not hold hangs: end the binary with a failing line rather than the
   suite's watchdog. */
static const char *watched;
static void on_alarm(int sig)
{
    (void)sig;
    char line[256];
    int n = snprintf(line, sizeof(line), "not ok - test_lua_host/%s: hung (a limit did not "
                     "hold)\n", watched);
    if (write(1, line, (size_t)n) < 0)
        _exit(1);
    _exit(1);
}

static void watchdog(const char *name, unsigned secs)
{
    watched = name;
    signal(SIGALRM, on_alarm);
    alarm(secs);
}

static void rewrite(const char *code)
{
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.new", script);
    FILE *f = fopen(tmp, "w");
    fputs(code, f);
    fclose(f);
    rename(tmp, script);
}

TEST(load_timeout_at_start)
{
    watchdog("load_timeout_at_start", 20);
    setup("local n = 0\nwhile true do n = n + 1 end\nreturn function() end\n", HF_CARD_MANY,
          1000);
    hf_lua_t lua;
    char err[1024], want[700];
    int64_t t0 = hf_mono_us();
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) != 0);
    CHECK(hf_mono_us() - t0 < 5000000);
    snprintf(want, sizeof(want), "%s: loading the script took longer than functionTimeout "
             "(00:00:01); it was at ", script);
    CHECK_HAS(err, want);
    CHECK(!strchr(err, '\n'));
    alarm(0);
}

TEST(load_memory_cap_at_start)
{
    watchdog("load_memory_cap_at_start", 20);
    setup("local t = {}\nfor i = 1, 50000 do t[i] = string.rep('x', 4096) .. i end\n"
          "return function() end\n", HF_CARD_MANY, 0);           /* 200 MB */
    app.host.lua_memory_mb = 8;
    hf_lua_t lua;
    char err[1024], want[700];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) != 0);
    snprintf(want, sizeof(want), "%s: loading the script ran out of memory "
             "(extensions.lua.memoryLimitMB is 8)", script);
    CHECK_STR(err, want);
    alarm(0);
}

TEST(load_limits_cover_required_modules)
{
    watchdog("load_limits_cover_required_modules", 20);
    setup("local m = require('spin')\nreturn function() end\n", HF_CARD_MANY, 200);
    char lib[600];
    snprintf(lib, sizeof(lib), "%s/lib", dir);
    mkdir(lib, 0755);
    snprintf(lib, sizeof(lib), "%s/lib/spin.lua", dir);
    FILE *f = fopen(lib, "w");
    fputs("while true do end\n", f);
    fclose(f);
    hf_lua_t lua;
    char err[1024];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) != 0);
    CHECK_HAS(err, "took longer than functionTimeout (00:00:00.200)");
    CHECK_HAS(err, "spin.lua:1");
    alarm(0);
}

TEST(failed_reload_keeps_the_previous_handler)
{
    watchdog("failed_reload_keeps_the_previous_handler", 30);
    setup("return function() return 'v1' end\n", HF_CARD_MANY, 200);
    app.host.lua_memory_mb = 16;
    hf_lua_t lua;
    char err[1024];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    size_t base = lua.mem_used;
    const char *bodies[] = {"{}"};

    rewrite("while true do end\n");
    CHECK(hf_lua_load_function(&lua, 0, err, sizeof(err)) != 0);
    CHECK_HAS(err, "handler.lua: loading the script took longer than functionTimeout");
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_STR(out_body(b, 0), "v1");
    hf_batch_free(b);

    /* the memory cap, not the timeout, stops this one, also on a slow machine or under
       the sanitizers */
    app.host.function_timeout_ms = 20000;
    rewrite("big = {}\nfor i = 1, 50000 do big[i] = string.rep('x', 4096) .. i end\n");
    CHECK(hf_lua_load_function(&lua, 0, err, sizeof(err)) != 0);
    CHECK_HAS(err, "handler.lua: loading the script ran out of memory "
                   "(extensions.lua.memoryLimitMB is 16)");
    /* the failed load's garbage is collected (its env and what it held went with it) */
    CHECK(lua.mem_used < base + 1024 * 1024);
    b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_STR(out_body(b, 0), "v1");
    hf_batch_free(b);

    rewrite("return function() return 'v2' end\n");
    CHECK(hf_lua_load_function(&lua, 0, err, sizeof(err)) == 0);
    b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_STR(out_body(b, 0), "v2");
    hf_batch_free(b);
    hf_lua_close(&lua);
    alarm(0);
}

TEST(load_metamethods_run_under_the_timeout)
{
    /* finding the entry point in what the chunk returned may run its metamethods */
    watchdog("load_metamethods_run_under_the_timeout", 20);
    setup("return setmetatable({}, { __index = function() while true do end end })\n",
          HF_CARD_MANY, 200);
    hf_lua_t lua;
    char err[1024];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) != 0);
    CHECK_HAS(err, "took longer than functionTimeout");
    alarm(0);
}

TEST(gc_finalizers_are_refused)
{
    watchdog("gc_finalizers_are_refused", 20);
    setup("return function(ev)\n"
          "  if ev.body == 1 then\n"
          "    setmetatable({}, { __gc = function() while true do end end })\n"
          "    collectgarbage()\n"
          "  end\n"
          "  -- __gc added after setmetatable never runs (Lua 5.4 manual 2.5.3)\n"
          "  local mt = {}\n"
          "  local t = setmetatable({}, mt)\n"
          "  mt.__gc = function() finalized = true end\n"
          "  t = nil\n"
          "  collectgarbage() collectgarbage()\n"
          "  return tostring(finalized)\n"
          "end\n", HF_CARD_ONE, 200);
    hf_lua_t lua;
    char err[1024];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"1", "2"};
    hf_batch_t *b = make_batch(bodies, 2);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK_INT(b->failed_invocations, 1);
    CHECK_HAS(b->error, "handler.lua:3: setmetatable: __gc finalizers are not allowed: they run "
                        "outside functionTimeout (host.json extensions.lua.allowUnsafeLibraries "
                        "allows them)");
    CHECK_INT(b->outputs_n, 1);
    CHECK_STR(out_body(b, 0), "nil");
    hf_batch_free(b);
    hf_lua_close(&lua);
    alarm(0);
}

TEST(gc_finalizers_at_load_are_refused)
{
    watchdog("gc_finalizers_at_load_are_refused", 20);
    setup("setmetatable({}, { __gc = function() while true do end end })\n"
          "collectgarbage()\n"
          "return function() end\n", HF_CARD_MANY, 200);
    hf_lua_t lua;
    char err[1024];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) != 0);
    CHECK_HAS(err, "handler.lua:1: setmetatable: __gc finalizers are not allowed");
    alarm(0);
}

TEST(gc_finalizers_with_unsafe_libraries)
{
    setup("return function()\n"
          "  setmetatable({}, { __gc = function() finalized = true end })\n"
          "  collectgarbage() collectgarbage()\n"
          "  return tostring(finalized)\n"
          "end\n", HF_CARD_MANY, 200);
    app.host.lua_unsafe = 1;
    hf_lua_t lua;
    char err[1024];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"1"};
    hf_batch_t *b = make_batch(bodies, 1);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_STR(out_body(b, 0), "true");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(coroutines_stay_under_the_timeout)
{
    watchdog("coroutines_stay_under_the_timeout", 30);
    /* a coroutine made by the top level (no call running), one made by the handler, and
       one that times out while the handler goes on and returns */
    setup("local spin = coroutine.wrap(function() while true do end end)\n"
          "local co = coroutine.create(function() while true do end end)\n"
          "return function(ev)\n"
          "  if ev.body == 1 then spin() end\n"
          "  if ev.body == 2 then coroutine.resume(co) end\n"
          "  if ev.body == 3 then coroutine.wrap(function() while true do end end)() end\n"
          "  if ev.body == 4 then\n"
          "    local ok = coroutine.resume(coroutine.create(function() while true do end end))\n"
          "    return 'resumed ' .. tostring(ok)\n"
          "  end\n"
          "  if ev.body == 5 then\n"
          "    for i = 1, 3 do pcall(coroutine.wrap(function() while true do end end)) end\n"
          "  end\n"
          "  local w = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)\n"
          "  return 'fine ' .. w() .. w() .. w()\n"
          "end\n", HF_CARD_ONE, 200);
    hf_lua_t lua;
    char err[1024];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"1", "2", "3", "4", "5", "6"};
    int64_t t0 = hf_mono_us();
    hf_batch_t *b = make_batch(bodies, 6);
    hf_lua_invoke(&lua, b);
    CHECK(hf_mono_us() - t0 < 10000000);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK_INT(b->failed_invocations, 5);
    CHECK_HAS(b->error, "timed out");
    for (int i = 0; i < 5; i++)
        CHECK_INT(b->event_failed[i], 1);
    CHECK_INT(b->event_failed[5], 0);
    CHECK_INT(b->outputs_n, 1);
    CHECK_STR(out_body(b, 0), "fine 123");
    hf_batch_free(b);
    hf_lua_close(&lua);
    alarm(0);
}

TEST(callbacks_from_c_stay_under_the_timeout)
{
    watchdog("callbacks_from_c_stay_under_the_timeout", 30);
    setup("return function(ev)\n"
          "  local spin = function() while true do end end\n"
          "  if ev.body == 1 then string.gsub('aaa', 'a', spin) end\n"
          "  if ev.body == 2 then table.sort({3, 2, 1}, spin) end\n"
          "  if ev.body == 3 then load(spin) end\n"
          "  if ev.body == 4 then tostring(setmetatable({}, { __tostring = spin })) end\n"
          "  if ev.body == 5 then\n"
          "    do local x <close> = setmetatable({}, { __close = spin }) end\n"
          "  end\n"
          "  return 'fine'\n"
          "end\n", HF_CARD_ONE, 200);
    hf_lua_t lua;
    char err[1024];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"1", "2", "3", "4", "5", "6"};
    hf_batch_t *b = make_batch(bodies, 6);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->failed_invocations, 5);
    CHECK_INT(b->outputs_n, 1);
    hf_batch_free(b);
    hf_lua_close(&lua);
    alarm(0);
}

TEST(c_loops_stay_under_the_timeout)
{
    /* library loops that run no Lua code: a __len of 2^40, a range of 10^12, nothing to
       repeat 10^12 times */
    watchdog("c_loops_stay_under_the_timeout", 30);
    setup("local huge = setmetatable({}, { __len = function() return 1 << 40 end })\n"
          "return function(ev)\n"
          "  if ev.body == 1 then table.insert(huge, 1, 'x') end\n"
          "  if ev.body == 2 then table.remove(huge, 1) end\n"
          "  if ev.body == 3 then table.move({}, 1, 1e12, 2) end\n"
          "  if ev.body == 4 then return #string.rep('', 1e12) end\n"
          "  local t = { 1, 2, 3 }\n"
          "  table.insert(t, 1, 0) table.remove(t) table.move(t, 1, 3, 2)\n"
          "  return table.concat(t, ',')\n"
          "end\n", HF_CARD_ONE, 200);
    hf_lua_t lua;
    char err[1024];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"1", "2", "3", "4", "5"};
    int64_t t0 = hf_mono_us();
    hf_batch_t *b = make_batch(bodies, 5);
    hf_lua_invoke(&lua, b);
    CHECK(hf_mono_us() - t0 < 10000000);
    CHECK_INT(b->failed_invocations, 3);
    CHECK_HAS(b->error, "timed out");
    CHECK_INT(b->outputs_n, 2);
    CHECK_STR(out_body(b, 0), "0");
    CHECK_STR(out_body(b, 1), "0,0,1,2");
    hf_batch_free(b);
    hf_lua_close(&lua);
    alarm(0);
}

TEST(context_fail_then_error_reports_the_error)
{
    setup("return function(events, context)\n"
          "  context.fail(events[1], 'not an AEP profile')\n"
          "  local x = nil\n"
          "  return x.field\n"
          "end\n", HF_CARD_MANY, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{}", "{}"};
    hf_batch_t *b = make_batch(bodies, 2);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK_HAS(b->error, "handler.lua:4: attempt to index a nil value (local 'x')");
    CHECK_HAS(b->error, "stack traceback");
    CHECK(!strstr(b->error, "not an AEP profile"));
    CHECK_INT(b->event_failed[0], 1);
    CHECK_INT(b->event_failed[1], 1);
    /* no event keeps the fail reason: the raised error failed them all */
    for (size_t i = 0; i < b->event_error_n; i++)
        CHECK(b->event_error[i] == NULL);
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(context_fail_reason_stays_for_events_only_it_failed)
{
    /* cardinality one: event 100 is failed by context.fail alone, 101 by an error, 102
       succeeds, 103 by another error */
    setup("return function(ev, context)\n"
          "  if ev.body == 1 then context.fail(ev, 'bad id') end\n"
          "  if ev.body == 2 then context.fail(ev, 'hidden'); error('real trouble') end\n"
          "  if ev.body == 4 then error('more trouble') end\n"
          "end\n", HF_CARD_ONE, 0);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"1", "2", "3", "4"};
    hf_batch_t *b = make_batch(bodies, 4);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK_INT(b->failed_invocations, 2);
    CHECK_HAS(b->error, "handler.lua:3: real trouble");
    CHECK_HAS(b->error, "stack traceback");
    CHECK(b->event_error != NULL);
    CHECK_INT(b->event_error_n, 4);
    CHECK_STR(b->event_error[0], "event at offset 100: bad id");
    CHECK(b->event_error[1] == NULL);          /* the batch's error */
    CHECK(b->event_error[2] == NULL);
    CHECK_HAS(b->event_error[3], "handler.lua:4: more trouble");
    CHECK_INT(b->event_failed[0], 1);
    CHECK_INT(b->event_failed[1], 1);
    CHECK_INT(b->event_failed[2], 0);
    CHECK_INT(b->event_failed[3], 1);
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(memory_full_of_live_data_fails_invocations_not_the_host)
{
    /* the handler keeps what it allocated: building the next events hits the cap too,
       which fails those invocations (it used to be a Lua panic outside any pcall) */
    setup("local keep = {}\n"
          "return function(ev)\n"
          "  for i = 1, 1e9 do keep[#keep + 1] = string.rep('x', 100) .. i end\n"
          "end\n", HF_CARD_ONE, 0);
    app.host.lua_memory_mb = 8;
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{\"a\":1}", "{\"a\":2}", "{\"a\":3}"};
    hf_batch_t *b = make_batch(bodies, 3);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->failed_invocations, 3);
    CHECK_HAS(b->error, "out of memory");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST_MAIN()
