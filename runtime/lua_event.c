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
#include "json.h"
#include "lua_lazy.h"

/*
 * Event tables. An event costs nothing until the handler reads it: the table holds only
 * two private keys (light-userdata addresses), the block of its invocation and its place there,
 * and the events' metatable (one per state) builds each field on first read and stores it
 * in the table (a raw set), so later reads are plain table reads. The block is one Lua
 * userdata per invocation holding a copy of what the events need (payloads, keys, headers,
 * partition, offset, enqueued time) and, per event, which fields were built already: a
 * field is built once, so one the handler removed stays removed, and one that is absent
 * (partitionKey without a key, activation of another body, decodeError of a good body) is
 * looked at once. pairs(ev) and the JSON encoder build every field first. A block holds
 * the events of one invocation: the batch (or the part of it being bisected) with
 * cardinality many, the event with cardinality one.
 *
 * triggerMetadata is a lazy table of lua_lazy.c: its ...Array fields (cardinality many)
 * and enqueuedTimeUtc/properties/systemProperties (one) are built on first read from the
 * events of the invocation.
 */

/* Private keys (light-userdata addresses) of host tables. */
static const char ev_blk_key = 0;        /* event: the block of its batch (a userdata) */
static const char ev_idx_key = 0;        /* event: its place in the block, from 1 */
static const char ev_mt_key = 0;         /* registry: the events' metatable */
static const char tm_event_key = 0;      /* triggerMetadata (one): the event */
static const char tm_events_key = 0;     /* triggerMetadata (many): the events, in order */

/* The fields of an event, in the order pairs() builds them. */
enum { F_PARTITION, F_OFFSET, F_SEQUENCE, F_PARTITION_KEY, F_ENQUEUED, F_PROPERTIES,
       F_SYSTEM_PROPERTIES, F_ACTIVATION, F_BODY, F_DECODE_ERROR, F_COUNT };
static const struct { const char *s; size_t n; } ev_names[F_COUNT] = {
    {"partition", 9}, {"offset", 6}, {"sequenceNumber", 14}, {"partitionKey", 12},
    {"enqueuedTime", 12}, {"properties", 10}, {"systemProperties", 16},
    {"activation", 10}, {"body", 4}, {"decodeError", 11},
};

typedef struct ev_header {
    const char *name;                    /* NUL-terminated */
    const char *value;                   /* NULL: a header without a value */
    size_t value_len;
} ev_header_t;

/* One event in a block. */
typedef struct ev_rec {
    const char *payload;                 /* never NULL ("" for a null Kafka value) */
    size_t len;
    const char *key;                     /* NULL without a key */
    size_t key_len;
    ev_header_t *headers;
    size_t headers_n;
    int64_t offset;
    int64_t enqueued_ms;                 /* -1: unknown */
    int32_t partition;
    unsigned built;                      /* 1 << F_...: fields built (or found absent) */
} ev_rec_t;

/* The block of an invocation: what its events need, copied, as the batch goes away after
   the invocation while a handler may keep an event. */
typedef struct ev_blk {
    size_t n;
    hf_datatype_t data_type;
    ev_rec_t recs[];
} ev_blk_t;

/* Classifies a field name; -1 for any other key. */
static int ev_field(const char *k, size_t n)
{
    int f = -1;
    switch (n) {
    case 4: f = F_BODY; break;
    case 6: f = F_OFFSET; break;
    case 9: f = F_PARTITION; break;
    case 10: f = k[0] == 'p' ? F_PROPERTIES : F_ACTIVATION; break;
    case 11: f = F_DECODE_ERROR; break;
    case 12: f = k[0] == 'p' ? F_PARTITION_KEY : F_ENQUEUED; break;
    case 14: f = F_SEQUENCE; break;
    case 16: f = F_SYSTEM_PROPERTIES; break;
    default: return -1;
    }
    return memcmp(k, ev_names[f].s, n) == 0 ? f : -1;
}

/* The record of the event table at idx, or NULL when it is not one (pushes nothing). */
static ev_rec_t *ev_rec(lua_State *L, int idx, ev_blk_t **blk)
{
    ev_rec_t *r = NULL;
    if (lua_rawgetp(L, idx, &ev_blk_key) == LUA_TUSERDATA &&
        lua_rawgetp(L, idx, &ev_idx_key) == LUA_TNUMBER) {
        ev_blk_t *b = lua_touserdata(L, -2);
        lua_Integer i = lua_tointeger(L, -1);
        if (i >= 1 && (size_t)i <= b->n) {
            r = &b->recs[i - 1];
            *blk = b;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return r;
}

/* Pushes a new table of the event's headers (name = value string; a null value is
   false; with repeated names the last wins). */
static void push_headers(lua_State *L, const ev_rec_t *r)
{
    lua_createtable(L, 0, (int)r->headers_n);
    for (size_t i = 0; i < r->headers_n; i++) {
        if (r->headers[i].value)
            lua_pushlstring(L, r->headers[i].value, r->headers[i].value_len);
        else
            lua_pushboolean(L, 0);
        lua_setfield(L, -2, r->headers[i].name);
    }
}

/* Decodes the body of event t (record r) once, as body and (when it is not JSON)
   decodeError, unless the handler set body itself. */
static void ev_body(lua_State *L, int t, const ev_blk_t *b, ev_rec_t *r)
{
    char err[256];
    r->built |= 1u << F_BODY | 1u << F_DECODE_ERROR;
    lua_pushlstring(L, "body", 4);
    if (lua_rawget(L, t) != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    if (b->data_type != HF_DATA_JSON) {
        lua_pushlstring(L, r->payload, r->len);
        lua_setfield(L, t, "body");
    } else if (hf_json_decode(L, r->payload, r->len, err, sizeof(err)) == 0) {
        lua_setfield(L, t, "body");
    } else {
        lua_pushlstring(L, r->payload, r->len);   /* the raw text */
        lua_setfield(L, t, "body");
        lua_pushstring(L, err);
        lua_setfield(L, t, "decodeError");
    }
}

/* Builds field f of event t (record r), which is neither in t nor built before: pushes
   its value (nil when the event has none) and stores it in t when it is not nil, under the
   key at stack index k (the field's name), or 0 to push the name. */
static void ev_build(lua_State *L, int t, const ev_blk_t *b, ev_rec_t *r, int f, int k)
{
    char err[256];
    if (f == F_BODY || f == F_DECODE_ERROR) {
        ev_body(L, t, b, r);
        if (k)
            lua_pushvalue(L, k);
        else
            lua_pushlstring(L, ev_names[f].s, ev_names[f].n);
        lua_rawget(L, t);
        return;
    }
    r->built |= 1u << f;
    switch (f) {
    case F_PARTITION:
        lua_pushinteger(L, r->partition);
        break;
    case F_OFFSET:
    case F_SEQUENCE:
        lua_pushinteger(L, r->offset);
        break;
    case F_PARTITION_KEY:
        if (r->key)
            lua_pushlstring(L, r->key, r->key_len);
        else
            lua_pushnil(L);
        break;
    case F_ENQUEUED:
        if (r->enqueued_ms >= 0) {
            char ts[HF_TIME_FORMAT_MAX];
            size_t n = hf_time_format(r->enqueued_ms, ts);
            lua_pushlstring(L, ts, n);
        } else {
            lua_pushnil(L);
        }
        break;
    case F_PROPERTIES:
        push_headers(L, r);
        break;
    case F_SYSTEM_PROPERTIES:
        /* from the event's own fields, as the handler may have changed them */
        lua_createtable(L, 0, 5);
        lua_getfield(L, t, "sequenceNumber");
        lua_setfield(L, -2, "x-opt-sequence-number");
        lua_getfield(L, t, "offset");
        lua_setfield(L, -2, "x-opt-offset");
        lua_getfield(L, t, "enqueuedTime");
        lua_setfield(L, -2, "x-opt-enqueued-time");
        lua_getfield(L, t, "partitionKey");
        lua_setfield(L, -2, "x-opt-partition-key");
        lua_getfield(L, t, "partition");
        lua_setfield(L, -2, "partitionId");
        break;
    case F_ACTIVATION:
        /* straight from the text; invalid JSON gives no view (the body says why) */
        if (b->data_type != HF_DATA_JSON ||
            hf_activation_push_json(L, r->payload, r->len, err, sizeof(err)) != 1)
            lua_pushnil(L);
        break;
    }
    if (!lua_isnil(L, -1)) {
        if (k)
            lua_pushvalue(L, k);
        else
            lua_pushlstring(L, ev_names[f].s, ev_names[f].n);
        lua_pushvalue(L, -2);
        lua_rawset(L, t);
    }
}

/* __index of events: a field not in the table is built on first read. */
static int l_ev_index(lua_State *L)
{
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    size_t n;
    const char *k = lua_tolstring(L, 2, &n);
    int f = ev_field(k, n);
    ev_blk_t *b;
    ev_rec_t *r;
    if (f < 0 || !(r = ev_rec(L, 1, &b)) || (r->built & 1u << f))
        return 0;
    ev_build(L, 1, b, r, f, 2);
    return 1;
}

/* __newindex of events (a key not in the table): a field the handler sets before reading
   it is its own from then on, as if built (a body it sets is not decoded, and an
   activation it sets to nil stays nil). */
static int l_ev_newindex(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TSTRING) {
        size_t n;
        const char *k = lua_tolstring(L, 2, &n);
        int f = ev_field(k, n);
        ev_blk_t *b;
        ev_rec_t *r;
        if (f >= 0 && (r = ev_rec(L, 1, &b)))
            r->built |= f == F_BODY ? 1u << F_BODY | 1u << F_DECODE_ERROR : 1u << f;
    }
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 0;
}

/* Fill function (lua_lazy.h) of events: builds every field the event lacks. */
static int l_ev_fill(lua_State *L)
{
    ev_blk_t *b;
    ev_rec_t *r = ev_rec(L, 1, &b);
    if (!r)
        return 0;
    for (int f = 0; f < F_COUNT; f++) {
        if (r->built & 1u << f)
            continue;
        lua_pushlstring(L, ev_names[f].s, ev_names[f].n);
        int present = lua_rawget(L, 1) != LUA_TNIL;
        lua_pop(L, 1);
        if (present) {
            if (f == F_BODY)                      /* the handler's own body: no decode */
                r->built |= 1u << F_BODY | 1u << F_DECODE_ERROR;
            else
                r->built |= 1u << f;
            continue;
        }
        ev_build(L, 1, b, r, f, 0);
        lua_pop(L, 1);
    }
    return 0;
}

/* __pairs of events: builds every field first, then iterates without the private keys. */
static int l_ev_pairs(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_pushcfunction(L, l_ev_fill);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 0);
    lua_pushcfunction(L, hf_lazy_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* Pushes the events' metatable, made once per state. */
static void push_ev_mt(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ev_mt_key) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 5);
    lua_pushcfunction(L, l_ev_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_ev_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, l_ev_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushliteral(L, "hubfn.event");
    lua_setfield(L, -2, "__name");
    hf_lazy_mark(L, -1, l_ev_fill);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ev_mt_key);
}

/* Copies n bytes to *at (advancing it); returns the copy. */
static const char *blk_copy(char **at, const char *s, size_t n)
{
    char *d = *at;
    if (n)
        memcpy(d, s, n);
    d[n] = 0;
    *at += n + 1;
    return d;
}

/* Pushes a new block of the batch's events [first, first+n). */
static ev_blk_t *push_blk(lua_State *L, const hf_batch_t *batch, size_t first, size_t n)
{
    size_t headers = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const hf_event_t *ev = &batch->events[first + i];
        bytes += (ev->payload ? ev->len : 0) + 1 + (ev->key ? ev->key_len + 1 : 0);
        headers += ev->headers_n;
        for (size_t h = 0; h < ev->headers_n; h++)
            bytes += strlen(ev->headers[h].name) + 1 +
                     (ev->headers[h].value ? ev->headers[h].value_len + 1 : 0);
    }
    size_t size = sizeof(ev_blk_t) + n * sizeof(ev_rec_t) + headers * sizeof(ev_header_t) +
                  bytes;
    ev_blk_t *b = lua_newuserdatauv(L, size, 0);
    b->n = n;
    b->data_type = batch->fn->trigger.data_type;
    ev_header_t *hd = (ev_header_t *)(b->recs + n);
    char *at = (char *)(hd + headers);
    for (size_t i = 0; i < n; i++) {
        const hf_event_t *ev = &batch->events[first + i];
        ev_rec_t *r = &b->recs[i];
        r->len = ev->payload ? ev->len : 0;
        r->payload = blk_copy(&at, ev->payload ? ev->payload : "", r->len);
        r->key = ev->key ? blk_copy(&at, ev->key, ev->key_len) : NULL;
        r->key_len = ev->key ? ev->key_len : 0;
        r->headers = hd;
        r->headers_n = ev->headers_n;
        for (size_t h = 0; h < ev->headers_n; h++, hd++) {
            const hf_header_t *src = &ev->headers[h];
            hd->name = blk_copy(&at, src->name, strlen(src->name));
            hd->value = src->value ? blk_copy(&at, src->value, src->value_len) : NULL;
            hd->value_len = src->value ? src->value_len : 0;
        }
        r->offset = ev->offset;
        r->enqueued_ms = ev->enqueued_ms;
        r->partition = ev->partition;
        r->built = 0;
    }
    return b;
}

/* Pushes the event table of record i (from 1) of the block at blk, the metatable at mt. */
static inline void push_ev(lua_State *L, int blk, int mt, lua_Integer i)
{
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, blk);
    lua_rawsetp(L, -2, &ev_blk_key);
    lua_pushinteger(L, i);
    lua_rawsetp(L, -2, &ev_idx_key);
    lua_pushvalue(L, mt);
    lua_setmetatable(L, -2);
}

void hf_lua_push_events(lua_State *L, const hf_batch_t *batch, size_t first, size_t n,
                        int many)
{
    push_ev_mt(L);
    int mt = lua_gettop(L);
    push_blk(L, batch, first, n);
    int blk = lua_gettop(L);
    if (many) {
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            push_ev(L, blk, mt, (lua_Integer)i + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    } else {
        push_ev(L, blk, mt, 1);
    }
    lua_replace(L, mt);
    lua_settop(L, mt);
}

/* triggerMetadata builders (hf_lazy_field): arg 1 the table, one result, nil when the
   field does not apply to it. */

/* The event of a cardinality-one triggerMetadata at idx pushed, or 0 (nothing pushed). */
static int tm_event(lua_State *L, int idx)
{
    if (lua_rawgetp(L, idx, &tm_event_key) == LUA_TTABLE)
        return 1;
    lua_pop(L, 1);
    return 0;
}

/* Pushes field of the event of a cardinality-one triggerMetadata (arg 1); or nothing. */
static int tm_field(lua_State *L, const char *field)
{
    if (!tm_event(L, 1))
        return 0;
    lua_getfield(L, -1, field);
    return 1;
}

static int lazy_properties(lua_State *L) { return tm_field(L, "properties"); }
static int lazy_system_properties(lua_State *L) { return tm_field(L, "systemProperties"); }
static int lazy_enqueued_time_utc(lua_State *L) { return tm_field(L, "enqueuedTime"); }

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

/* Registers the lazy fields of triggerMetadata and makes the events' metatable. */
void hf_lua_event_register(lua_State *L)
{
    static const luaL_Reg fields[] = {
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
    push_ev_mt(L);
    lua_pop(L, 1);
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
