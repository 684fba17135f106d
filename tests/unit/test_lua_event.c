/* Unit tests of event tables (runtime/lua_event.c): every field is built on first read and
   reads as docs/lua-api.md says, whatever the order of reads, for events kept past their
   invocation and batch too, and for bad payloads. */
#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eventhub.h"
#include "log.h"
#include "lua_host.h"
#include "test.h"

static char dir[256];
static char script[512];
static hf_binding_t outs[1];
static hf_eventhub_cfg_t out_cfg[1], trig_cfg;
static hf_function_t fn;
static hf_app_t app;

/* An app of one function "f" whose handler.lua is `code`; its return value goes to
   $return. */
static void setup(const char *code, hf_cardinality_t card, hf_datatype_t type)
{
    snprintf(dir, sizeof(dir), "/tmp/hf-lua-event-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(script, sizeof(script), "%s/handler.lua", dir);
    FILE *f = fopen(script, "w");
    fputs(code, f);
    fclose(f);
    memset(&app, 0, sizeof(app));
    memset(&fn, 0, sizeof(fn));
    memset(outs, 0, sizeof(outs));
    memset(out_cfg, 0, sizeof(out_cfg));
    memset(&trig_cfg, 0, sizeof(trig_cfg));
    outs[0].name = "$return";
    outs[0].type = &hf_eventhub_output_type;
    outs[0].cfg = &out_cfg[0];
    out_cfg[0].hub = "ret";
    fn.name = "f";
    fn.dir = dir;
    fn.script_path = script;
    fn.entry_point = "run";
    fn.trigger.name = "events";
    fn.trigger.type = &hf_eventhub_trigger_type;
    fn.trigger.cfg = &trig_cfg;
    fn.trigger.data_type = type;
    trig_cfg.hub = "in";
    trig_cfg.consumer_group = "$Default";
    fn.trigger.cardinality = card;
    fn.outputs = outs;
    fn.outputs_n = 1;
    fn.returns = 0;
    fn.dead_letter = -1;
    fn.log_level = HF_LOG_NONE;
    app.dir = dir;
    app.functions = &fn;
    app.functions_n = 1;
    app.host.max_batch = 100;
}

/* A batch of n events with these bodies, offsets from `offset`; event 0 is keyed "k0" and
   has headers a=1 and b (no value). The payloads are copies that the batch frees. */
static hf_batch_t *make_batch(const char **bodies, size_t n, int64_t offset)
{
    hf_batch_t *b = hf_batch_new(n);
    b->fn = &fn;
    b->fn_index = 0;
    b->hub = "in";
    b->partition = 3;
    for (size_t i = 0; i < n; i++) {
        hf_event_t *ev = &b->events[b->events_n++];
        size_t len = strlen(bodies[i]);
        ev->own = malloc(len + 16 + 3 + 2 + 2);
        memcpy(ev->own, bodies[i], len + 1);
        ev->payload = ev->own;
        ev->len = len;
        ev->partition = 3;
        ev->offset = offset + (int64_t)i;
        ev->enqueued_ms = 1700000000123LL + (int64_t)i;
        if (i == 0) {
            char *k = ev->own + len + 1;
            memcpy(k, "k0", 3);
            ev->key = k;
            ev->key_len = 2;
            ev->headers = calloc(2, sizeof(hf_header_t));
            ev->headers_n = 2;
            ev->headers[0].name = k + 3;
            memcpy(k + 3, "a", 2);
            ev->headers[0].value = k + 5;
            memcpy(k + 5, "1", 2);
            ev->headers[0].value_len = 1;
            ev->headers[1].name = k + 7;
            memcpy(k + 7, "b", 2);
        }
    }
    return b;
}

/* Runs the handler on the bodies and returns what it returned (a string). */
static const char *run(hf_lua_t *lua, const char **bodies, size_t n, int64_t offset)
{
    static char buf[8192];
    hf_batch_t *b = make_batch(bodies, n, offset);
    hf_lua_invoke(lua, b);
    buf[0] = 0;
    if (b->status != HF_BATCH_OK)
        snprintf(buf, sizeof(buf), "FAILED: %s", b->error ? b->error : "?");
    else
        for (size_t i = 0; i < b->outputs_n; i++)
            snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%.*s", i ? "\n" : "",
                     (int)b->outputs[i].body_len, b->outputs[i].body);
    /* the batch goes away as in the host; its payloads are overwritten first, so that an
       event read later cannot be reading them */
    for (size_t i = 0; i < b->events_n; i++)
        if (b->events[i].own)
            memset(b->events[i].own, 'x', b->events[i].len);
    hf_batch_free(b);
    return buf;
}

static const char *aep =
    "{\"segmentMembership\":{\"ups\":{\"s2\":{\"status\":\"exited\"},"
    "\"s1\":{\"status\":\"realized\",\"lastQualificationTime\":\"2022-01-11T21:24:39Z\"}}},"
    "\"identityMap\":{\"ecid\":[{\"id\":\"E1\"}]},\"person\":{\"name\":\"A\"}}";

TEST(nothing_is_built_before_a_read)
{
    /* a raw look sees none of the fields; each read builds one and stores it */
    setup("local names = { 'partition', 'offset', 'sequenceNumber', 'partitionKey',\n"
          "  'enqueuedTime', 'properties', 'systemProperties', 'activation', 'body',\n"
          "  'decodeError' }\n"
          "return function(events)\n"
          "  local ev, out = events[1], {}\n"
          "  assert(type(ev) == 'table' and #events == 2 and #ev == 0)\n"
          "  for _, k in ipairs(names) do assert(rawget(ev, k) == nil, k) end\n"
          "  local n = 0\n"
          "  for _ in ipairs(events) do n = n + 1 end\n"
          "  out[#out + 1] = n\n"
          "  out[#out + 1] = ev.offset\n"
          "  out[#out + 1] = tostring(rawget(ev, 'offset')) .. tostring(rawget(ev, 'partition'))\n"
          "  out[#out + 1] = ev.partition .. ev.sequenceNumber .. ev.partitionKey\n"
          "  out[#out + 1] = ev.enqueuedTime .. ' ' .. events[2].enqueuedTime\n"
          "  out[#out + 1] = ev.properties.a .. tostring(ev.properties.b)\n"
          "  out[#out + 1] = tostring(events[2].partitionKey) .. tostring(next(events[2].properties))\n"
          "  out[#out + 1] = table.concat(ev.activation.realized, ',') .. ';' ..\n"
          "    table.concat(ev.activation.exited, ',') .. ';' .. ev.activation.identities.ecid[1]\n"
          "  out[#out + 1] = tostring(rawget(ev, 'body')) .. ' ' .. ev.body.person.name\n"
          "  out[#out + 1] = tostring(ev.decodeError) .. tostring(events[2].activation)\n"
          "  out[#out + 1] = events[2].body\n"
          "  out[#out + 1] = ev.systemProperties['x-opt-partition-key'] ..\n"
          "    ev.systemProperties['x-opt-offset']\n"
          "  for _, k in ipairs(names) do\n"
          "    if k ~= 'decodeError' then assert(rawget(ev, k) ~= nil, k) end\n"
          "  end\n"
          "  assert(ev.activation == ev.activation and ev.body == ev.body)\n"
          "  return table.concat(out, '|')\n"
          "end\n", HF_CARD_MANY, HF_DATA_JSON);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {aep, "7"};
    CHECK_STR(run(&lua, bodies, 2, 40),
              "2|40|40nil|340k0|2023-11-14T22:13:20.123Z 2023-11-14T22:13:20.124Z|1false|"
              "nilnil|s1;s2;E1|nil A|nilnil|7|k040");
    hf_lua_close(&lua);
}

TEST(bad_payload_reads_the_same_in_any_order)
{
    /* invalid JSON holding an activation key: no view, the raw text as body, decodeError
       with the byte; nothing raised, whichever field the handler reads first */
    setup("local json = require('hubfn').json\n"
          "local orders = {\n"
          "  { 'activation', 'body', 'decodeError' }, { 'body', 'activation', 'decodeError' },\n"
          "  { 'decodeError', 'activation', 'body' }, { 'pairs' }, { 'encode' } }\n"
          "return function(events)\n"
          "  local out = {}\n"
          "  for i, order in ipairs(orders) do\n"
          "    local ev, got = events[i], {}\n"
          "    for _, k in ipairs(order) do\n"
          "      if k == 'pairs' then for _ in pairs(ev) do end\n"
          "      elseif k == 'encode' then json.encode(ev)\n"
          "      else got[k] = ev[k] end\n"
          "    end\n"
          "    out[i] = table.concat({ tostring(ev.activation), ev.body, ev.decodeError }, '|')\n"
          "  end\n"
          "  for i = 2, #out do assert(out[i] == out[1], out[i]) end\n"
          "  return out[1]\n"
          "end\n", HF_CARD_MANY, HF_DATA_JSON);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bad = "{\"segmentMembership\":{\"ups\":{}},\"x\":tru}";
    const char *bodies[] = {bad, bad, bad, bad, bad};
    CHECK_STR(run(&lua, bodies, 5, 0),
              "nil|{\"segmentMembership\":{\"ups\":{}},\"x\":tru}|invalid JSON at byte 36: "
              "invalid literal (expected true, false or null)");
    hf_lua_close(&lua);
}

TEST(fields_are_built_once)
{
    /* a field the handler removed stays removed; one it set first is its own (a body set
       before any read is not decoded); systemProperties follows the handler's fields */
    setup("return function(events)\n"
          "  local a, b, c = events[1], events[2], events[3]\n"
          "  local _ = a.body\n"
          "  a.body = nil\n"
          "  a.activation = nil\n"
          "  b.body = 'mine'\n"
          "  b.offset = 7\n"
          "  c.activation = false\n"
          "  local n = 0\n"
          "  for k in pairs(b) do n = n + 1 end\n"
          "  return table.concat({ tostring(a.body), tostring(a.activation), b.body,\n"
          "    tostring(b.decodeError), b.systemProperties['x-opt-offset'],\n"
          "    b.systemProperties['x-opt-sequence-number'], tostring(c.activation),\n"
          "    tostring(rawget(b, 'activation') ~= nil), n }, '|')\n"
          "end\n", HF_CARD_MANY, HF_DATA_JSON);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {aep, "{oops", aep};
    CHECK_STR(run(&lua, bodies, 3, 10), "nil|nil|mine|nil|7|11|false|false|7");
    hf_lua_close(&lua);
}

TEST(events_kept_after_their_batch)
{
    /* events kept in a global are read after their batch is gone (its payloads
       overwritten): they still read as they would have */
    setup("local kept = {}\n"
          "return function(events)\n"
          "  if not kept[1] then\n"
          "    kept = { events[1], events[2] }\n"
          "    return nil\n"
          "  end\n"
          "  local a, b = kept[1], kept[2]\n"
          "  return table.concat({ a.activation.realized[1], a.body.person.name,\n"
          "    a.activation.attributes.person.name, a.partitionKey, a.properties.a,\n"
          "    a.offset, b.body.n, events[1].body.n }, '|')\n"
          "end\n", HF_CARD_MANY, HF_DATA_JSON);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *first[] = {aep, "{\"n\":2}"};
    CHECK_STR(run(&lua, first, 2, 5), "");
    lua_gc(lua.L, LUA_GCCOLLECT, 0);
    const char *second[] = {"{\"n\":3}"};
    CHECK_STR(run(&lua, second, 1, 7), "s1|A|A|k0|1|5|2|3");
    hf_lua_close(&lua);
}

TEST(cardinality_one_events_read_their_own)
{
    /* one invocation per event: each reads its own fields, and an event kept from an
       earlier invocation (and batch) still reads right */
    setup("local kept\n"
          "return function(ev)\n"
          "  local s = ev.offset .. ':' .. tostring(ev.partitionKey) .. ':' ..\n"
          "    (ev.decodeError and 'bad' or tostring(ev.body.n)) .. ':' ..\n"
          "    tostring(ev.properties.a)\n"
          "  if kept then s = s .. ':' .. kept.offset .. '=' .. kept.body.n end\n"
          "  if ev.offset == 1 then kept = ev end\n"
          "  return s\n"
          "end\n", HF_CARD_ONE, HF_DATA_JSON);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *first[] = {"{\"n\":0}", "{\"n\":1}", "{x"};
    CHECK_STR(run(&lua, first, 3, 0), "0:k0:0:1\n1:nil:1:nil\n2:nil:bad:nil:1=1");
    const char *second[] = {"{\"n\":5}", "{\"n\":6}"};
    CHECK_STR(run(&lua, second, 2, 10), "10:k0:5:1:1=1\n11:nil:6:nil:1=1");
    hf_lua_close(&lua);
}

TEST(string_and_binary_bodies_are_raw)
{
    setup("return function(events)\n"
          "  local ev = events[1]\n"
          "  return table.concat({ #ev.body, tostring(ev.activation), tostring(ev.decodeError),\n"
          "    events[2].body }, '|')\n"
          "end\n", HF_CARD_MANY, HF_DATA_STRING);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {aep, "{oops"};
    char want[64];
    snprintf(want, sizeof(want), "%zu|nil|nil|{oops", strlen(aep));
    CHECK_STR(run(&lua, bodies, 2, 0), want);
    hf_lua_close(&lua);
}

TEST(events_as_send_targets_and_fail_arguments)
{
    /* events given to context.fail and encoded whole still work unread */
    setup("local json = require('hubfn').json\n"
          "return function(events, context)\n"
          "  context.fail(events[2], 'no')\n"
          "  return json.encode(events[3])\n"
          "end\n", HF_CARD_MANY, HF_DATA_JSON);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"1", "2", "[3]"};
    hf_batch_t *b = make_batch(bodies, 3, 0);
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->failed_marked, 1);
    CHECK(b->event_failed && b->event_failed[1] && !b->event_failed[0]);
    CHECK_INT(b->outputs_n, 1);
    CHECK_STR(b->outputs[0].body,
              "{\"body\":[3],\"enqueuedTime\":\"2023-11-14T22:13:20.125Z\",\"offset\":2,"
              "\"partition\":3,\"properties\":{},\"sequenceNumber\":2,\"systemProperties\":{"
              "\"partitionId\":3,\"x-opt-enqueued-time\":\"2023-11-14T22:13:20.125Z\","
              "\"x-opt-offset\":2,\"x-opt-sequence-number\":2}}");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST(a_bisected_part_of_a_batch)
{
    /* bisectOnError invokes the handler on a part of the batch: its events only */
    setup("return function(events)\n"
          "  local t = {}\n"
          "  for i, ev in ipairs(events) do t[i] = ev.offset .. '=' .. ev.body.n end\n"
          "  return table.concat(t, ',')\n"
          "end\n", HF_CARD_MANY, HF_DATA_JSON);
    hf_lua_t lua;
    char err[512];
    CHECK(hf_lua_init(&lua, &app, err, sizeof(err)) == 0);
    const char *bodies[] = {"{\"n\":0}", "{\"n\":1}", "{\"n\":2}", "{\"n\":3}"};
    hf_batch_t *b = make_batch(bodies, 4, 20);
    b->range_first = 1;
    b->range_n = 2;
    hf_lua_invoke(&lua, b);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_INT(b->outputs_n, 1);
    CHECK_STR(b->outputs[0].body, "21=1,22=2");
    hf_batch_free(b);
    hf_lua_close(&lua);
}

TEST_MAIN()
