/*
 * Event tables and triggerMetadata, as handlers see them. See lua_event.h.
 *
 * Thread: the thread that owns the state.
 */
#include "lua_event.h"

#include <lauxlib.h>
#include <string.h>

#include "activation.h"
#include "datetime.h"
#include "lua_lazy.h"

/*
 * Event tables. What every handler reads is set when the event is built: partition,
 * offset, sequenceNumber, partitionKey, activation, and properties when the message has
 * headers. The rest is built on first read through the lazy metatable (lua_lazy.c): body (and
 * decodeError) from the payload, enqueuedTime from the private enqueued-time key,
 * properties ({} for a message without headers), systemProperties from the event's own
 * fields. pairs(ev) builds them all first. triggerMetadata works the same way: its
 * ...Array fields (cardinality many) and enqueuedTimeUtc/properties/systemProperties (one)
 * are built on first read from the events of the invocation.
 */

/* Private keys (light-userdata addresses) of host tables. */
static const char ev_enqueued_key = 0;   /* event: enqueued time in epoch ms, or false */
static const char tm_event_key = 0;      /* triggerMetadata (one): the event */
static const char tm_events_key = 0;     /* triggerMetadata (many): the events, in order */
static const char ev_names_key = 0;      /* registry: the field names below as strings */

enum { N_PARTITION = 1, N_OFFSET, N_SEQUENCE, N_PARTITION_KEY, N_ACTIVATION, N_BODY,
       N_PROPERTIES, N_COUNT };
static const char *const ev_names[N_COUNT] = {
    NULL, "partition", "offset", "sequenceNumber", "partitionKey", "activation", "body",
    "properties",
};

/* Pushes the table of event field names (index = the enum above), made once per state:
   setting a field by a pre-made string skips hashing the C string on every event. */
void hf_lua_push_event_names(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ev_names_key) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_createtable(L, N_COUNT, 0);
    for (int i = 1; i < N_COUNT; i++) {
        lua_pushstring(L, ev_names[i]);
        lua_rawseti(L, -2, i);
    }
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ev_names_key);
}

/* Pushes a new table of the event's headers (name = value string; a null value is
   false; with repeated names the last wins). */
static void push_headers(lua_State *L, const hf_event_t *ev)
{
    lua_createtable(L, 0, (int)ev->headers_n);
    for (size_t i = 0; i < ev->headers_n; i++) {
        if (ev->headers[i].value)
            lua_pushlstring(L, ev->headers[i].value, ev->headers[i].value_len);
        else
            lua_pushboolean(L, 0);
        lua_setfield(L, -2, ev->headers[i].name);
    }
}

/* Lazy field builders (json.c's hf_lazy_field): arg 1 the table, one result, nil
   when the field does not apply to it. */

/* The event of a cardinality-one triggerMetadata at idx pushed, or 0 (nothing pushed). */
static int tm_event(lua_State *L, int idx)
{
    if (lua_rawgetp(L, idx, &tm_event_key) == LUA_TTABLE)
        return 1;
    lua_pop(L, 1);
    return 0;
}

/* ev.enqueuedTime */
static int lazy_enqueued_time(lua_State *L)
{
    if (lua_rawgetp(L, 1, &ev_enqueued_key) != LUA_TNUMBER)
        return 0;
    char ts[HF_TIME_FORMAT_MAX];
    size_t n = hf_time_format((int64_t)lua_tointeger(L, -1), ts);
    lua_pushlstring(L, ts, n);
    return 1;
}

/* ev.properties (an event without headers: {}) and triggerMetadata.properties (one) */
static int lazy_properties(lua_State *L)
{
    if (lua_rawgetp(L, 1, &ev_enqueued_key) != LUA_TNIL) {
        lua_newtable(L);
        return 1;
    }
    if (tm_event(L, 1)) {
        lua_getfield(L, -1, "properties");
        return 1;
    }
    return 0;
}

/* ev.systemProperties, from the event's own fields; triggerMetadata.systemProperties */
static int lazy_system_properties(lua_State *L)
{
    if (lua_rawgetp(L, 1, &ev_enqueued_key) == LUA_TNIL) {
        if (tm_event(L, 1)) {
            lua_getfield(L, -1, "systemProperties");
            return 1;
        }
        return 0;
    }
    lua_createtable(L, 0, 5);
    lua_getfield(L, 1, "sequenceNumber");
    lua_setfield(L, -2, "x-opt-sequence-number");
    lua_getfield(L, 1, "offset");
    lua_setfield(L, -2, "x-opt-offset");
    lua_getfield(L, 1, "enqueuedTime");
    lua_setfield(L, -2, "x-opt-enqueued-time");
    lua_getfield(L, 1, "partitionKey");
    lua_setfield(L, -2, "x-opt-partition-key");
    lua_getfield(L, 1, "partition");
    lua_setfield(L, -2, "partitionId");
    return 1;
}

/* triggerMetadata.enqueuedTimeUtc (one) */
static int lazy_enqueued_time_utc(lua_State *L)
{
    if (!tm_event(L, 1))
        return 0;
    lua_getfield(L, -1, "enqueuedTime");
    return 1;
}

/* Pushes triggerMetadata.<array> (many): field of every event, missing ones as `missing`
   (false for partitionKeyArray as Azure's nulls, nil elsewhere). */
static int tm_array(lua_State *L, const char *field, int missing_false)
{
    if (lua_rawgetp(L, 1, &tm_events_key) != LUA_TTABLE)
        return 0;
    int evs = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, evs);
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, evs, i);
        lua_getfield(L, -1, field);
        if (missing_false && lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_pushboolean(L, 0);
        }
        lua_rawseti(L, -3, i);
        lua_pop(L, 1);
    }
    return 1;
}

static int lazy_pk_array(lua_State *L) { return tm_array(L, "partitionKey", 1); }
static int lazy_offset_array(lua_State *L) { return tm_array(L, "offset", 0); }
static int lazy_seq_array(lua_State *L) { return tm_array(L, "sequenceNumber", 0); }
static int lazy_enq_array(lua_State *L) { return tm_array(L, "enqueuedTime", 0); }
static int lazy_props_array(lua_State *L) { return tm_array(L, "properties", 0); }
static int lazy_sysprops_array(lua_State *L) { return tm_array(L, "systemProperties", 0); }

/* Registers the lazy fields of events and triggerMetadata in this state. */
void hf_lua_event_register(lua_State *L)
{
    static const luaL_Reg fields[] = {
        {"enqueuedTime", lazy_enqueued_time},
        {"properties", lazy_properties},
        {"systemProperties", lazy_system_properties},
        {"enqueuedTimeUtc", lazy_enqueued_time_utc},
        {"partitionKeyArray", lazy_pk_array},
        {"offsetArray", lazy_offset_array},
        {"sequenceNumberArray", lazy_seq_array},
        {"enqueuedTimeUtcArray", lazy_enq_array},
        {"propertiesArray", lazy_props_array},
        {"systemPropertiesArray", lazy_sysprops_array},
        {NULL, NULL}};
    for (const luaL_Reg *f = fields; f->name; f++)
        hf_lazy_field(L, f->name, f->func);
}

/* Sets field k (from the names table at `names`) of the table at t to integer v. */
static inline void set_int(lua_State *L, int t, int names, int k, lua_Integer v)
{
    lua_rawgeti(L, names, k);
    lua_pushinteger(L, v);
    lua_rawset(L, t);
}

void hf_lua_push_event(lua_State *L, const hf_event_t *ev, hf_datatype_t data_type, int names)
{
    char err[256];
    lua_createtable(L, 0, 8);
    int t = lua_gettop(L);
    set_int(L, t, names, N_PARTITION, ev->partition);
    set_int(L, t, names, N_OFFSET, ev->offset);
    set_int(L, t, names, N_SEQUENCE, ev->offset);
    if (ev->key) {
        lua_rawgeti(L, names, N_PARTITION_KEY);
        lua_pushlstring(L, ev->key, ev->key_len);
        lua_rawset(L, t);
    }
    if (ev->enqueued_ms >= 0)
        lua_pushinteger(L, ev->enqueued_ms);
    else
        lua_pushboolean(L, 0);
    lua_rawsetp(L, t, &ev_enqueued_key);
    if (ev->headers_n) {
        lua_rawgeti(L, names, N_PROPERTIES);
        push_headers(L, ev);
        lua_rawset(L, t);
    }
    const char *payload = ev->payload ? ev->payload : "";
    switch (data_type) {
    case HF_DATA_JSON:
        /* The activation view comes straight from the text; the body (and the view's
           identities and attributes) are decoded on first use from the same string, so a
           handler that reads only the segments never pays for the rest. */
        lua_pushlstring(L, payload, ev->len);
        if (hf_activation_push_text(L, -1, err, sizeof(err)) == 1) {
            lua_rawgeti(L, names, N_ACTIVATION);
            lua_insert(L, -2);
            lua_rawset(L, t);
        }
        hf_lazy_set_text(L, t, -1);
        lua_pop(L, 1);
        break;
    case HF_DATA_STRING:
    case HF_DATA_BINARY:
        lua_rawgeti(L, names, N_BODY);
        lua_pushlstring(L, payload, ev->len);
        lua_rawset(L, t);
        hf_lazy_set(L, t);
        break;
    }
}

void hf_lua_push_trigger_metadata(lua_State *L, const hf_batch_t *batch, size_t first,
                                  size_t n, int many, int evs, int parts)
{
    lua_createtable(L, 0, many ? 2 : 8);
    int tm = lua_gettop(L);
    lua_createtable(L, 0, 3);
    lua_getfield(L, parts, "partitionContext");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -5);
    }
    lua_pop(L, 1);
    lua_pushfstring(L, "%d", (int)batch->partition);
    lua_setfield(L, -2, "partitionId");
    lua_setfield(L, tm, "partitionContext");
    if (many) {
        /* a copy, so that a handler reordering its events array leaves these alone */
        lua_createtable(L, (int)n, 0);
        for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, evs, (lua_Integer)i);
            lua_rawseti(L, -2, (lua_Integer)i);
        }
        lua_rawsetp(L, tm, &tm_events_key);
    } else {
        const hf_event_t *ev = &batch->events[first];
        lua_pushvalue(L, evs);
        lua_rawsetp(L, tm, &tm_event_key);
        if (ev->key) {
            lua_pushlstring(L, ev->key, ev->key_len);
            lua_setfield(L, tm, "partitionKey");
        }
        lua_pushinteger(L, ev->offset);
        lua_setfield(L, tm, "offset");
        lua_pushinteger(L, ev->offset);
        lua_setfield(L, tm, "sequenceNumber");
    }
    hf_lazy_set(L, tm);
}
