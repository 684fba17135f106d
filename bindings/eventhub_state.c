/*
 * The eventHubState binding type: per-key state a handler reads and writes
 * (context.bindings.NAME:get/set/delete), scoped to the partition being handled and kept
 * in a compacted hub with the input hub's partition count, so that whichever instance owns
 * input partition p owns partition p of the state hub and with it p's state.
 *
 *   - Memory: one store per binding (runtime/state.h), one map per owned partition, values
 *     as JSON text; workers share it under its lock.
 *   - An invocation's writes go to an overlay of its own (its later gets see them at once)
 *     and become final only when the handler returned (lua_finish): applied to the store
 *     under the partition's memory bound (extensions.eventHubs.stateMaxBytes) and queued as
 *     the batch's output messages to the state hub (key = state key, value = the JSON text,
 *     a delete = a tombstone with no value). A failed invocation's overlay is dropped.
 *   - Delivery: a state message is produced only once every other message of its
 *     invocation was delivered (a crash in between then repeats a message rather than
 *     losing one), and taken back in the store when one was not. The pipeline checkpoints
 *     the input only once the state hub acknowledged them.
 *   - Assignment: the trigger asks (hf_core_partition_assigned) and the type holds the
 *     partition while it reads partition p of the state hub from its start to its end
 *     into the store; then it releases the hold (hf_core_partition_ready) and the first
 *     batch runs. Revocation drops the partition's map.
 *   - Start: the state hub must be compacted and have the input hub's partition count.
 *   - A state write the state hub does not take (after the producer's retries) stops the
 *     host: memory is then ahead of the hub, and the next start restores from the hub and
 *     runs the events after the checkpoint again.
 *
 * Thread: the Lua side (get, set, delete, lua_finish) on workers; load, run_load and
 * run_save on the thread of `hubfn run` or the loader; the rest on the loop thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc.h"
#include "config_json.h"
#include "eventhub.h"
#include "eventhub_state.h"
#include "kafka.h"
#include "log.h"
#include "lua_bindings.h"
#include "metrics.h"
#include "pipeline.h"
#include "state.h"

/* Keys longer than this are refused (Kafka keys may be longer, but a state key is a name). */
#define STATE_MAX_KEY 4096

typedef struct state_cfg {
    hf_eventhub_cfg_t eh;        /* first: an HF_FAMILY_EVENTHUB type */
    hf_state_t *store;           /* made by load */
    size_t max_event_bytes;      /* the largest record the state hub takes (maxEventBytes) */
} state_cfg_t;

static state_cfg_t *state_cfg(const hf_binding_t *b)
{
    return (state_cfg_t *)b->cfg;
}

hf_state_t *hf_eventhub_state_store(const hf_binding_t *b)
{
    return state_cfg(b)->store;
}

static int is_state(const hf_binding_t *b)
{
    return b->type == &hf_eventhub_state_type;
}

/* ---------------------------------------------------------------------------------- */
/* Load                                                                                */

static int state_load(hf_binding_t *b, hf_load_ctx_t *ctx, char *err, size_t errsz)
{
    if (b->name[0] == '$') {
        snprintf(err, errsz, "%sname: \"%s\" cannot name an eventHubState binding (give it "
                 "a name the handler uses, e.g. \"state\")", ctx->prefix, b->name);
        return -1;
    }
    if (hf_eventhub_load(b, ctx, err, errsz) != 0)
        return -1;
    state_cfg_t *cfg = state_cfg(b);
    const hf_host_cfg_t *host = &ctx->app->host;
    cfg->max_event_bytes = host->max_event_bytes > 0 ? (size_t)host->max_event_bytes : 1000000;
    /* hubfn run resolves no connection and owns every partition */
    cfg->store = hf_state_new((size_t)host->state_max_bytes, !ctx->opts->resolve_connections);
    return 0;
}

static void state_unload(hf_binding_t *b)
{
    state_cfg_t *cfg = state_cfg(b);
    hf_state_free(cfg->store);
    cfg->store = NULL;
    hf_eventhub_unload(b);
}

/* ---------------------------------------------------------------------------------- */
/* Lua side (worker thread)                                                            */

/* The key at idx: a non-empty string of at most STATE_MAX_KEY bytes. */
static const char *check_key(lua_State *L, const hf_binding_t *b, const char *method, int idx,
                             size_t *len)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "bindings.%s:%s: the key must be a string, got %s", b->name, method,
                   luaL_typename(L, idx));
    const char *key = lua_tolstring(L, idx, len);
    if (*len == 0)
        luaL_error(L, "bindings.%s:%s: the key is empty", b->name, method);
    if (*len > STATE_MAX_KEY)
        luaL_error(L, "bindings.%s:%s: the key is %d bytes long; keys are at most %d",
                   b->name, method, (int)*len, STATE_MAX_KEY);
    return key;
}

/* The overlay's own entry (a light userdata key, apart from the string keys): how many
   bytes its writes add to the partition, for the check in set. */
static const char delta_key = 0;

/* Push the invocation's overlay of binding b ({key = JSON text, or false for a delete}),
   made when `make`; returns 0 and pushes nothing when there is none. */
static int push_overlay(lua_State *L, const hf_binding_t *b, int make)
{
    hf_lua_invocation_table(L);
    if (lua_rawgetp(L, -1, b) == LUA_TTABLE) {
        lua_remove(L, -2);
        return 1;
    }
    lua_pop(L, 1);
    if (!make) {
        lua_pop(L, 1);
        return 0;
    }
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, -3, b);
    lua_remove(L, -2);
    return 1;
}

static void raise_not_held(lua_State *L, const hf_binding_t *b, const char *method)
{
    luaL_error(L, "bindings.%s:%s: the state of partition %d is not held by this instance "
               "(the partition was revoked)", b->name, method, (int)hf_lua_partition(L));
}

/* Decode JSON text into one value; raises naming the key when it is not JSON. */
static void push_decoded(lua_State *L, const hf_binding_t *b, const char *key,
                         const char *text, size_t len)
{
    char why[256];
    if (hf_json_decode(L, text, len, why, sizeof(why)) != 0)
        luaL_error(L, "bindings.%s:get: the value of key \"%s\" is not JSON: %s", b->name, key,
                   why);
}

/* state:get(key) -> the value, or nil */
static int l_get(lua_State *L)
{
    const hf_binding_t *b = hf_lua_binding(L, 1);
    size_t klen;
    const char *key = check_key(L, b, "get", 2, &klen);
    if (push_overlay(L, b, 0)) {
        lua_pushvalue(L, 2);
        int t = lua_rawget(L, -2);
        if (t == LUA_TSTRING) {
            size_t n;
            const char *text = lua_tolstring(L, -1, &n);
            push_decoded(L, b, key, text, n);
            return 1;
        }
        if (t == LUA_TBOOLEAN) {
            lua_pushnil(L);          /* deleted in this invocation */
            return 1;
        }
        lua_pop(L, 2);
    }
    hf_buf_t buf;
    hf_buf_init(&buf);
    int rc = hf_state_get(state_cfg(b)->store, hf_lua_partition(L), key, klen, &buf);
    if (rc == HF_STATE_FOUND) {
        /* copy into Lua first, so that a raise cannot leak the buffer */
        lua_pushlstring(L, buf.data, buf.len);
        hf_buf_free(&buf);
        size_t n;
        const char *text = lua_tolstring(L, -1, &n);
        push_decoded(L, b, key, text, n);
        return 1;
    }
    hf_buf_free(&buf);
    if (rc == HF_STATE_NOT_HELD)
        raise_not_held(L, b, "get");
    lua_pushnil(L);
    return 1;
}

/* What the partition would hold once this invocation's writes and one more are applied:
   key (at key_idx) taking value_len bytes, or deleted when value_len is (size_t)-1. *delta
   gets the overlay's count with that write. (Other invocations may change the partition
   meanwhile: lua_finish checks again.) */
static size_t overlay_would(lua_State *L, const hf_binding_t *b, int key_idx, size_t value_len,
                            lua_Integer *delta)
{
    size_t klen, total;
    const char *key = lua_tolstring(L, key_idx, &klen);
    size_t before = hf_state_key_bytes(state_cfg(b)->store, hf_lua_partition(L), key, klen,
                                       &total);
    *delta = 0;
    if (push_overlay(L, b, 0)) {
        lua_rawgetp(L, -1, &delta_key);
        *delta = lua_tointeger(L, -1);
        lua_pop(L, 1);
        lua_pushvalue(L, key_idx);
        int t = lua_rawget(L, -2);       /* its earlier write in this invocation */
        if (t == LUA_TSTRING)
            before = HF_STATE_ENTRY_BYTES(klen, lua_rawlen(L, -1));
        else if (t == LUA_TBOOLEAN)
            before = 0;
        lua_pop(L, 2);
    }
    size_t after = value_len == (size_t)-1 ? 0 : HF_STATE_ENTRY_BYTES(klen, value_len);
    *delta += (lua_Integer)after - (lua_Integer)before;
    lua_Integer would = (lua_Integer)total + *delta;
    return would > 0 ? (size_t)would : 0;
}

/* Record one write in the overlay: the value at value_idx (a string of JSON), or a delete
   (value_idx 0); delta from overlay_would. */
static void overlay_put(lua_State *L, const hf_binding_t *b, int key_idx, int value_idx,
                        lua_Integer delta)
{
    push_overlay(L, b, 1);
    lua_pushinteger(L, delta);
    lua_rawsetp(L, -2, &delta_key);
    lua_pushvalue(L, key_idx);
    if (value_idx)
        lua_pushvalue(L, value_idx);
    else
        lua_pushboolean(L, 0);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* A delete: never refused by the bound. */
static void overlay_delete(lua_State *L, const hf_binding_t *b, int key_idx)
{
    lua_Integer delta;
    overlay_would(L, b, key_idx, (size_t)-1, &delta);
    overlay_put(L, b, key_idx, 0, delta);
}

/* state:set(key, value); a nil value deletes the key */
static int l_set(lua_State *L)
{
    const hf_binding_t *b = hf_lua_binding(L, 1);
    state_cfg_t *cfg = state_cfg(b);
    size_t klen;
    const char *key = check_key(L, b, "set", 2, &klen);
    if (lua_isnoneornil(L, 3)) {
        overlay_delete(L, b, 2);
        return 0;
    }
    hf_buf_t buf;
    char why[256];
    hf_buf_init(&buf);
    if (hf_json_encode(L, 3, &buf, why, sizeof(why)) != 0) {
        hf_buf_free(&buf);
        return luaL_error(L, "bindings.%s:set: cannot encode the value of key \"%s\" as JSON: "
                          "%s", b->name, key, why);
    }
    lua_pushlstring(L, buf.data, buf.len);
    size_t vlen = buf.len;
    hf_buf_free(&buf);
    if (klen + vlen > cfg->max_event_bytes)
        return luaL_error(L, "bindings.%s:set: key \"%s\" and its value take %d bytes, over "
                          "the %d-byte limit of an Event Hubs event (host.json "
                          "extensions.eventHubs.maxEventBytes)", b->name, key,
                          (int)(klen + vlen), (int)cfg->max_event_bytes);
    size_t max = hf_state_max_bytes(cfg->store);
    lua_Integer delta;
    size_t would = overlay_would(L, b, 2, vlen, &delta);
    if (max && would > max)
        return luaL_error(L, "bindings.%s:set: key \"%s\" would take the state of partition "
                          "%d to %I bytes, over extensions.eventHubs.stateMaxBytes (%I): "
                          "delete keys, keep smaller values, or raise the bound in host.json",
                          b->name, key, (int)hf_lua_partition(L), (lua_Integer)would,
                          (lua_Integer)max);
    overlay_put(L, b, 2, lua_gettop(L), delta);
    return 0;
}

/* state:delete(key) */
static int l_delete(lua_State *L)
{
    const hf_binding_t *b = hf_lua_binding(L, 1);
    size_t klen;
    check_key(L, b, "delete", 2, &klen);
    overlay_delete(L, b, 2);
    return 0;
}

static const luaL_Reg state_methods[] = {
    {"get", l_get},
    {"set", l_set},
    {"delete", l_delete},
    {NULL, NULL}
};

/* The handler returned: apply the overlay to the store (all or none, under the bound) and,
   under hubfn start, queue each write as a message to the state hub. */
/* What a state message keeps besides its key and value: what the key held before the
   write (NULL: nothing), to take the write back. */
typedef struct write_ext {
    char *old;
    size_t old_len;
} write_ext_t;

static void state_free_ext(void *ext)
{
    write_ext_t *x = ext;
    free(x->old);
    free(x);
}

static void state_finish(lua_State *L, const hf_binding_t *b)
{
    state_cfg_t *cfg = state_cfg(b);
    if (!push_overlay(L, b, 0))
        return;
    int ov = lua_gettop(L);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, ov)) {
        n += lua_type(L, -2) == LUA_TSTRING;
        lua_pop(L, 1);
    }
    if (n == 0) {
        lua_pop(L, 1);
        return;
    }
    /* the writes point into the overlay's strings, alive while it is on the stack; their
       array is Lua memory, so a raise below leaks nothing */
    hf_state_write_t *w = lua_newuserdatauv(L, n * sizeof(*w), 0);
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, ov)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 1);
            continue;
        }
        w[i].key = lua_tolstring(L, -2, &w[i].key_len);
        w[i].old = NULL;
        w[i].old_len = 0;
        if (lua_type(L, -1) == LUA_TSTRING) {
            w[i].value = lua_tolstring(L, -1, &w[i].value_len);
        } else {
            w[i].value = NULL;
            w[i].value_len = 0;
        }
        i++;
        lua_pop(L, 1);
    }
    int32_t p = hf_lua_partition(L);
    size_t bytes = 0;
    /* under hubfn start, keep what each key held: a write whose invocation's other messages
       are not delivered is taken back (state_deliver) */
    int rc = hf_state_apply(cfg->store, p, w, n, &bytes, cfg->eh.conn != NULL);
    if (rc == HF_STATE_NOT_HELD)
        raise_not_held(L, b, "set");
    if (rc == HF_STATE_OVER_BOUND)
        luaL_error(L, "bindings.%s: this invocation's writes would take the state of "
                   "partition %d to %I bytes, over extensions.eventHubs.stateMaxBytes (%I); "
                   "they are dropped: delete keys, keep smaller values, or raise the bound in "
                   "host.json", b->name, (int)p, (lua_Integer)bytes,
                   (lua_Integer)hf_state_max_bytes(cfg->store));
    if (cfg->eh.conn) {
        for (i = 0; i < n; i++) {
            hf_output_t out = {0};
            out.key = hf_memdup(w[i].key, w[i].key_len);
            out.key_len = w[i].key_len;
            if (w[i].value) {
                out.body = hf_memdup(w[i].value, w[i].value_len);
                out.body_len = w[i].value_len;
                out.body_is_json = 1;
            }
            write_ext_t *ext = hf_malloc(sizeof(*ext));
            ext->old = w[i].old;
            ext->old_len = w[i].old_len;
            out.ext = ext;
            hf_lua_add_output(L, b, &out);
        }
    }
    lua_settop(L, ov - 1);
}

/* ---------------------------------------------------------------------------------- */
/* hubfn run --state FILE                                                              */

/* How many eventHubState bindings fn has. */
static int state_bindings(const hf_function_t *fn)
{
    int n = 0;
    for (size_t i = 0; i < fn->outputs_n; i++)
        n += is_state(&fn->outputs[i]);
    return n;
}

/* {"binding":"state","partition":0,"key":"k","value":V} lines; "binding" may be left out
   when the function has one state binding, "partition" defaults to 0. */
static int state_run_load(const hf_function_t *fn, const hf_binding_t *b, FILE *in,
                          const char *path, char *err, size_t errsz)
{
    state_cfg_t *cfg = state_cfg(b);
    int several = state_bindings(fn) > 1, rc = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    while (rc == 0 && (len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        size_t k = 0;
        while (k < (size_t)len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' ||
                                   line[k] == '\n'))
            k++;
        if (k == (size_t)len)
            continue;
        cJSON *doc = cJSON_ParseWithLength(line, (size_t)len);
        const cJSON *bind = doc ? cJSON_GetObjectItemCaseSensitive(doc, "binding") : NULL;
        const cJSON *part = doc ? cJSON_GetObjectItemCaseSensitive(doc, "partition") : NULL;
        const cJSON *key = doc ? cJSON_GetObjectItemCaseSensitive(doc, "key") : NULL;
        const cJSON *value = doc ? cJSON_GetObjectItemCaseSensitive(doc, "value") : NULL;
        if (!cJSON_IsObject(doc)) {
            snprintf(err, errsz, "--state %s:%ld: not a JSON object (each line is "
                     "{\"key\": K, \"value\": V} with an optional \"partition\" and "
                     "\"binding\")", path, lineno);
            rc = -1;
        } else if (bind && !cJSON_IsString(bind)) {
            snprintf(err, errsz, "--state %s:%ld: \"binding\" must be a string", path, lineno);
            rc = -1;
        } else if (!bind && several) {
            snprintf(err, errsz, "--state %s:%ld: no \"binding\" (the function has several "
                     "eventHubState bindings: name one)", path, lineno);
            rc = -1;
        } else if (bind && strcmp(bind->valuestring, b->name) != 0) {
            /* another binding's */
        } else if (!cJSON_IsString(key) || !*key->valuestring ||
                   strlen(key->valuestring) > STATE_MAX_KEY) {
            snprintf(err, errsz, "--state %s:%ld: \"key\" must be a non-empty string", path,
                     lineno);
            rc = -1;
        } else if (!value) {
            snprintf(err, errsz, "--state %s:%ld: no \"value\"", path, lineno);
            rc = -1;
        } else if (part && (!cJSON_IsNumber(part) || part->valuedouble < 0 ||
                            part->valuedouble > 65535 ||
                            part->valuedouble != (double)(int)part->valuedouble)) {
            snprintf(err, errsz, "--state %s:%ld: \"partition\" must be a partition number",
                     path, lineno);
            rc = -1;
        } else {
            char *text = cJSON_PrintUnformatted(value);
            hf_state_write_t w = {key->valuestring, strlen(key->valuestring), text,
                                  strlen(text)};
            size_t bytes;
            int32_t p = part ? (int32_t)part->valuedouble : 0;
            if (hf_state_apply(cfg->store, p, &w, 1, &bytes, 0) != 0) {
                snprintf(err, errsz, "--state %s:%ld: the state of partition %d would hold "
                         "%llu bytes, over extensions.eventHubs.stateMaxBytes (%llu)", path,
                         lineno, (int)p, (unsigned long long)bytes,
                         (unsigned long long)hf_state_max_bytes(cfg->store));
                rc = -1;
            }
            cJSON_free(text);
        }
        cJSON_Delete(doc);
    }
    free(line);
    return rc;
}

typedef struct save_ctx {
    FILE *out;
    const char *binding;
    int32_t partition;
    hf_buf_t line;
} save_ctx_t;

static void save_one(void *ud, const char *key, size_t klen, const char *value, size_t vlen)
{
    save_ctx_t *s = ud;
    char num[32];
    s->line.len = 0;
    hf_buf_append(&s->line, "{\"binding\":", 11);
    hf_json_put_string(&s->line, s->binding, strlen(s->binding));
    snprintf(num, sizeof(num), ",\"partition\":%d,\"key\":", (int)s->partition);
    hf_buf_append(&s->line, num, strlen(num));
    hf_json_put_string(&s->line, key, klen);
    hf_buf_append(&s->line, ",\"value\":", 9);
    hf_buf_append(&s->line, value, vlen);
    hf_buf_append(&s->line, "}\n", 2);
    fwrite(s->line.data, 1, s->line.len, s->out);
}

static int state_run_save(const hf_function_t *fn, const hf_binding_t *b, FILE *out, char *err,
                          size_t errsz)
{
    (void)fn, (void)err, (void)errsz;
    state_cfg_t *cfg = state_cfg(b);
    save_ctx_t s = {out, b->name, 0, {0}};
    int32_t n = hf_state_partitions(cfg->store);
    for (s.partition = 0; s.partition < n; s.partition++)
        hf_state_each(cfg->store, s.partition, save_one, &s);
    hf_buf_free(&s.line);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Host side (loop thread)                                                             */

typedef struct states states_t;
typedef struct sbind sbind_t;

/* One producer per connection, shared by the state bindings that use it. */
typedef struct producer {
    states_t *st;
    const hf_conn_t *conn;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    int fd[2];
    ev_io io;
    char desc[256];
    int64_t last_warn_us;
} producer_t;

/* One partition being read back from the state hub. */
typedef struct restore {
    int32_t partition;
    rd_kafka_queue_t *q;
    int64_t start_us;
    int64_t last_log_us;
    int64_t records;
    int64_t offset;              /* the last offset read, -1 none */
    int64_t warned_us;
} restore_t;

/* One eventHubState binding of one enabled function. */
struct sbind {
    states_t *st;
    int fn_index;
    const hf_function_t *fn;
    const hf_binding_t *b;
    state_cfg_t *cfg;
    producer_t *prod;
    rd_kafka_t *rk;              /* the restore consumer (no group: it commits nothing) */
    rd_kafka_topic_t *rkt;
    int partitions;              /* the state hub's partition count, -1 unknown */
    restore_t **restores;        /* by partition, NULL when not restoring */
    int32_t restores_cap;
    hf_series_t **m_keys, **m_bytes;   /* by partition */
    int32_t m_cap;
    hf_series_t *m_restores, *m_restore_s, *m_sets, *m_deletes;
    int warned_keyless, warned_json;
    int64_t last_warn_us;
    char desc[256];
};

/* A state message waiting for the other messages of its invocation (states_deliver). */
typedef struct held_write {
    hf_delivery_t *d;
    size_t i;
    sbind_t *sb;
} held_write_t;

struct states {
    hf_core_t *core;
    sbind_t *b;
    size_t n;
    producer_t *prods;
    size_t prods_n;
    size_t in_flight;
    int fd[2];                   /* every restore queue wakes the loop through it */
    ev_io io;
    ev_timer more;               /* restores left with records: come back next turn */
    ev_timer tick;
    held_write_t *held;          /* state messages waiting for their invocations' others */
    size_t held_n, held_cap;
    ev_check check;              /* active while some are held */
};

/* A state write's opaque: its delivery and message index. */
typedef struct write_ref {
    hf_delivery_t *d;
    size_t i;
    sbind_t *sb;
    int32_t partition;
    int del;
} write_ref_t;

/* A log line about partition p of the binding's function, at the function's level. */
static void plog(const sbind_t *sb, int32_t partition, hf_log_level_t lvl, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void plog(const sbind_t *sb, int32_t partition, hf_log_level_t lvl, const char *fmt, ...)
{
    if (lvl < sb->fn->log_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hf_log_ctx_t ctx = HF_LOG_CTX_NONE;
    ctx.function = sb->fn->name;
    ctx.partition = partition;
    hf_log_ctx(lvl, &ctx, "%s", msg);
}

/* ---- metrics ---- */

static void part_series(sbind_t *sb, int32_t p)
{
    if (p < sb->m_cap)
        return;
    int32_t cap = sb->m_cap ? sb->m_cap : 8;
    while (cap <= p)
        cap *= 2;
    sb->m_keys = hf_realloc(sb->m_keys, (size_t)cap * sizeof(*sb->m_keys));
    sb->m_bytes = hf_realloc(sb->m_bytes, (size_t)cap * sizeof(*sb->m_bytes));
    hf_metrics_t *reg = hf_core_metrics(sb->st->core);
    for (int32_t i = sb->m_cap; i < cap; i++) {
        char num[16];
        snprintf(num, sizeof(num), "%d", (int)i);
        sb->m_keys[i] = hf_metric_series(hf_metrics_get(reg, HF_M_STATE_KEYS), sb->fn->name,
                                         sb->b->name, num);
        sb->m_bytes[i] = hf_metric_series(hf_metrics_get(reg, HF_M_STATE_BYTES), sb->fn->name,
                                          sb->b->name, num);
        hf_series_hide(sb->m_keys[i]);
        hf_series_hide(sb->m_bytes[i]);
    }
    sb->m_cap = cap;
}

/* ---- restoring ---- */

static restore_t *restore_of(const sbind_t *sb, int32_t p)
{
    return p >= 0 && p < sb->restores_cap ? sb->restores[p] : NULL;
}

/* Stop reading partition p of the state hub (its buffered records go with its queue). */
static void restore_stop(sbind_t *sb, int32_t p)
{
    restore_t *r = restore_of(sb, p);
    if (!r)
        return;
    rd_kafka_consume_stop(sb->rkt, p);
    rd_kafka_queue_io_event_enable(r->q, -1, NULL, 0);
    rd_kafka_queue_destroy(r->q);
    free(r);
    sb->restores[p] = NULL;
}

static void restore_done(sbind_t *sb, restore_t *r)
{
    int32_t p = r->partition;
    size_t keys, bytes;
    hf_state_ready(sb->cfg->store, p);
    hf_state_stats(sb->cfg->store, p, &keys, &bytes);
    double secs = (double)(hf_mono_us() - r->start_us) / 1e6;
    hf_series_add(sb->m_restores, 1);
    hf_series_observe(sb->m_restore_s, secs);
    plog(sb, p, HF_LOG_INFO, "state %s: restored %zu keys (%zu bytes) of partition %d from hub "
         "%s in %.3f s (%lld records read)", sb->b->name, keys, bytes, (int)p, sb->cfg->eh.hub,
         secs, (long long)r->records);
    restore_stop(sb, p);
    hf_core_partition_ready(sb->st->core, sb->fn_index, p);
}

static void restore_fail(sbind_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void restore_fail(sbind_t *sb, const char *fmt, ...)
{
    char line[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    hf_core_fail(sb->st->core, line);
}

/* One record of the state hub into the store. 0, or -1 when the restore cannot go on. */
static int restore_record(sbind_t *sb, restore_t *r, rd_kafka_message_t *m)
{
    r->records++;
    r->offset = m->offset;
    if (!m->key || m->key_len == 0) {
        if (!sb->warned_keyless++) {
            plog(sb, r->partition, HF_LOG_WARN, "state %s: hub %s partition %d offset %lld: "
                 "a record without a key is no state; ignored (the hub should hold only what "
                 "hubfn writes)", sb->b->name, sb->cfg->eh.hub, (int)r->partition,
                 (long long)m->offset);
        }
        return 0;
    }
    char why[256];
    if (m->payload && hf_json_validate(m->payload, m->len, NULL, why, sizeof(why)) != 0) {
        if (!sb->warned_json++) {
            plog(sb, r->partition, HF_LOG_WARN, "state %s: hub %s partition %d offset %lld: "
                 "the value of key \"%.*s\" is not JSON (%s); ignored", sb->b->name,
                 sb->cfg->eh.hub, (int)r->partition, (long long)m->offset,
                 (int)(m->key_len > 200 ? 200 : m->key_len), (const char *)m->key, why);
        }
        return 0;
    }
    int rc = hf_state_restore(sb->cfg->store, r->partition, m->key, m->key_len, m->payload,
                              m->payload ? m->len : 0);
    if (rc == HF_STATE_OVER_BOUND) {
        size_t keys, bytes;
        hf_state_stats(sb->cfg->store, r->partition, &keys, &bytes);
        restore_fail(sb, "function %s: state %s: partition %d of hub %s holds more than "
                     "extensions.eventHubs.stateMaxBytes (%llu bytes; %zu keys restored by "
                     "offset %lld): raise the bound in host.json, or delete keys the handler "
                     "no longer needs", sb->fn->name, sb->b->name, (int)r->partition,
                     sb->cfg->eh.hub, (unsigned long long)hf_state_max_bytes(sb->cfg->store),
                     keys, (long long)m->offset);
        restore_stop(sb, r->partition);
        return -1;
    }
    return 0;
}

/* An error from the restore consumer's queue. 1 when the partition is restored. */
static int restore_error(sbind_t *sb, restore_t *r, rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return 1;
    char why[1024];
    hf_kafka_target_t target = {sb->cfg->eh.conn, sb->cfg->eh.hub, NULL, 0};
    hf_kafka_describe(m->err, rd_kafka_message_errstr(m), &target, why, sizeof(why));
    if (hf_kafka_error_is_permanent(m->err)) {
        restore_fail(sb, "function %s: state %s: cannot read partition %d of the state hub: %s",
                     sb->fn->name, sb->b->name, (int)r->partition, why);
        restore_stop(sb, r->partition);
        return -1;
    }
    int64_t now = hf_mono_us();
    if (!r->warned_us || now - r->warned_us > 10 * 1000000LL) {
        r->warned_us = now;
        plog(sb, r->partition, HF_LOG_WARN, "state %s: restoring partition %d from hub %s: %s "
             "(retrying; the partition waits)", sb->b->name, (int)r->partition,
             sb->cfg->eh.hub, why);
    }
    return 0;
}

/* Is the restore at the end of the partition: its last record read is the last one the
   broker said the partition holds (the high watermark of the fetch that brought it)? Nobody
   else writes to the partition of a state hub this instance owns, so this is the end
   without waiting for an empty fetch to say so (the end-of-partition event stays the
   answer for an empty partition). */
static int restore_at_end(const sbind_t *sb, const restore_t *r)
{
    int64_t lo = -1, hi = -1;
    if (r->offset < 0)
        return 0;
    rd_kafka_get_watermark_offsets(sb->rk, sb->cfg->eh.hub, r->partition, &lo, &hi);
    return hi >= 0 && r->offset + 1 >= hi;
}

/* Read what partition p's queue holds, up to a budget. 1 when records are left. */
static int restore_serve(sbind_t *sb, int32_t p)
{
    rd_kafka_message_t *msgs[512];
    int budget = 20000;
    while (budget > 0) {
        restore_t *r = restore_of(sb, p);
        if (!r)
            return 0;
        ssize_t got = rd_kafka_consume_batch_queue(r->q, 0, msgs, 512);
        if (got <= 0)
            return 0;
        budget -= (int)got;
        int done = 0;
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (!done && restore_of(sb, p) == r) {
                int rc = m->err ? restore_error(sb, r, m) : restore_record(sb, r, m);
                if (rc != 0)
                    done = rc;
            }
            rd_kafka_message_destroy(m);
        }
        if (!done && restore_at_end(sb, r))
            done = 1;
        if (done == 1)
            restore_done(sb, r);
        if (done)
            return 0;
    }
    return 1;
}

static void serve_all(states_t *st)
{
    int more = 0;
    for (size_t k = 0; k < st->n; k++) {
        sbind_t *sb = &st->b[k];
        for (int32_t p = 0; p < sb->restores_cap; p++)
            if (sb->restores[p])
                more |= restore_serve(sb, p);
    }
    if (more && !ev_is_active(&st->more)) {
        ev_timer_set(&st->more, 0, 0);
        ev_timer_start(hf_core_loop(st->core), &st->more);
    }
}

static void on_restore_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    states_t *st = w->data;
    char buf[256];
    while (read(st->fd[0], buf, sizeof(buf)) > 0)
        ;
    serve_all(st);
}

static void on_more(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    serve_all(w->data);
}

/* Start reading partition p of the state hub from its beginning into a fresh map. */
static void restore_start(sbind_t *sb, int32_t p)
{
    restore_stop(sb, p);
    hf_state_open(sb->cfg->store, p);
    part_series(sb, p);
    if (sb->partitions >= 0 && p >= sb->partitions) {
        restore_fail(sb, "function %s: state %s: input partition %d has no partition in state "
                     "hub %s, which has %d: create the state hub with the input hub's "
                     "partition count", sb->fn->name, sb->b->name, (int)p, sb->cfg->eh.hub,
                     sb->partitions);
        return;
    }
    if (p >= sb->restores_cap) {
        int32_t cap = sb->restores_cap ? sb->restores_cap : 8;
        while (cap <= p)
            cap *= 2;
        sb->restores = hf_realloc(sb->restores, (size_t)cap * sizeof(*sb->restores));
        memset(sb->restores + sb->restores_cap, 0,
               (size_t)(cap - sb->restores_cap) * sizeof(*sb->restores));
        sb->restores_cap = cap;
    }
    restore_t *r = hf_calloc(1, sizeof(*r));
    r->partition = p;
    r->offset = -1;
    r->start_us = r->last_log_us = hf_mono_us();
    r->q = rd_kafka_queue_new(sb->rk);
    rd_kafka_queue_io_event_enable(r->q, sb->st->fd[1], "1", 1);
    sb->restores[p] = r;
    if (rd_kafka_consume_start_queue(sb->rkt, p, RD_KAFKA_OFFSET_BEGINNING, r->q) != 0) {
        restore_fail(sb, "function %s: state %s: cannot read partition %d of hub %s: %s",
                     sb->fn->name, sb->b->name, (int)p, sb->cfg->eh.hub,
                     rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_queue_io_event_enable(r->q, -1, NULL, 0);
        rd_kafka_queue_destroy(r->q);
        free(r);
        sb->restores[p] = NULL;
        return;
    }
    plog(sb, p, HF_LOG_DEBUG, "state %s: restoring partition %d from hub %s", sb->b->name,
         (int)p, sb->cfg->eh.hub);
}

static int states_partition_assigned(void *state, int fn_index, int32_t partition)
{
    states_t *st = state;
    int holds = 0;
    for (size_t k = 0; k < st->n; k++) {
        sbind_t *sb = &st->b[k];
        if (sb->fn_index != fn_index || hf_core_failed(st->core))
            continue;
        restore_start(sb, partition);
        holds += restore_of(sb, partition) != NULL;
    }
    return holds;
}

static void states_partition_revoked(void *state, int fn_index, int32_t partition)
{
    states_t *st = state;
    for (size_t k = 0; k < st->n; k++) {
        sbind_t *sb = &st->b[k];
        if (sb->fn_index != fn_index)
            continue;
        restore_stop(sb, partition);
        hf_state_drop(sb->cfg->store, partition);
        if (partition < sb->m_cap) {
            hf_series_hide(sb->m_keys[partition]);
            hf_series_hide(sb->m_bytes[partition]);
        }
    }
}

static void held_scan(states_t *st);

/* Every second: say how long restores go, serve the clients' callbacks. */
static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    states_t *st = w->data;
    int64_t now = hf_mono_us();
    for (size_t k = 0; k < st->n; k++) {
        sbind_t *sb = &st->b[k];
        rd_kafka_poll(sb->rk, 0);
        for (int32_t p = 0; p < sb->restores_cap; p++) {
            restore_t *r = sb->restores[p];
            if (!r || now - r->last_log_us < 5 * 1000000LL)
                continue;
            r->last_log_us = now;
            int64_t lo = -1, hi = -1;
            rd_kafka_get_watermark_offsets(sb->rk, sb->cfg->eh.hub, p, &lo, &hi);
            size_t keys, bytes;
            hf_state_stats(sb->cfg->store, p, &keys, &bytes);
            char of[48] = "";
            if (hi >= 0)
                snprintf(of, sizeof(of), " of %lld", (long long)hi);
            plog(sb, p, HF_LOG_INFO, "state %s: restoring partition %d from hub %s: %zu keys "
                 "(%zu bytes) so far, at offset %lld%s, for %.0f s; the partition waits",
                 sb->b->name, (int)p, sb->cfg->eh.hub, keys, bytes, (long long)(r->offset + 1),
                 of, (double)(now - r->start_us) / 1e6);
        }
    }
    for (size_t i = 0; i < st->prods_n; i++)
        rd_kafka_poll(st->prods[i].rk, 0);
    serve_all(st);
    held_scan(st);
}

/* ---- writing ---- */

static producer_t *producer_for(states_t *st, const hf_conn_t *conn)
{
    for (size_t i = 0; i < st->prods_n; i++)
        if (st->prods[i].conn == conn)
            return &st->prods[i];
    return NULL;
}

/* Delivery report (loop thread, served by rd_kafka_poll). */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    producer_t *prod = opaque;
    write_ref_t *ref = m->_private;
    hf_delivery_t *d = ref->d;
    size_t i = ref->i;
    sbind_t *sb = ref->sb;
    int32_t p = ref->partition;
    int del = ref->del;
    free(ref);
    prod->st->in_flight--;
    if (!m->err) {
        hf_series_add(del ? sb->m_deletes : sb->m_sets, 1);
        hf_delivery_report(d, i, 1, NULL);
        return;
    }
    char why[1024];
    hf_kafka_target_t target = {prod->conn, sb->cfg->eh.hub, NULL, 1};
    hf_kafka_describe(m->err, rd_kafka_err2str(m->err), &target, why, sizeof(why));
    char line[1400];
    snprintf(line, sizeof(line), "function %s: state %s: a write to partition %d of hub %s "
             "was not delivered: %s; stopping, so that the next start restores the state from "
             "the hub and runs the events after the checkpoint again", sb->fn->name,
             sb->b->name, (int)p, sb->cfg->eh.hub, why);
    hf_core_fail(prod->st->core, line);
    hf_delivery_report(d, i, 0, why);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    producer_t *prod = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL || err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
        err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED) {
        char fatal[512], why[1024], line[1200];
        rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)err;
        if (err == RD_KAFKA_RESP_ERR__FATAL)
            e = rd_kafka_fatal_error(prod->rk, fatal, sizeof(fatal));
        /* the state hubs this producer writes to, for the message */
        char hubs[512];
        size_t n = 0;
        hubs[0] = 0;
        for (size_t k = 0; k < prod->st->n; k++) {
            const sbind_t *sb = &prod->st->b[k];
            if (sb->prod == prod && !strstr(hubs, sb->cfg->eh.hub))
                n += (size_t)snprintf(hubs + n, n < sizeof(hubs) ? sizeof(hubs) - n : 0,
                                      "%s%s", n ? ", " : "", sb->cfg->eh.hub);
        }
        hf_kafka_target_t target = {prod->conn, hubs, NULL, 1};
        snprintf(line, sizeof(line), "state writes: %s",
                 hf_kafka_describe(e, reason, &target, why, sizeof(why)));
        hf_core_fail(prod->st->core, line);
        return;
    }
    int64_t now = hf_mono_us();
    if (!prod->last_warn_us || now - prod->last_warn_us > 10 * 1000000LL) {
        prod->last_warn_us = now;
        hf_log_warn("state writes: %s: %s (retrying)", prod->desc, reason);
    }
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    hf_log(level <= 3 ? HF_LOG_DEBUG : HF_LOG_TRACE, "librdkafka %s: %s", fac, buf);
}

static void on_prod_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    producer_t *prod = w->data;
    char buf[256];
    while (read(prod->fd[0], buf, sizeof(buf)) > 0)
        ;
    rd_kafka_poll(prod->rk, 0);
}

static int producer_init(states_t *st, producer_t *prod, const hf_conn_t *conn, char *err,
                         size_t errsz)
{
    char errstr[512];
    const hf_host_cfg_t *cfg = &hf_core_app(st->core)->host;
    prod->st = st;
    prod->conn = conn;
    prod->fd[0] = prod->fd[1] = -1;
    hf_conn_describe(conn, prod->desc, sizeof(prod->desc));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    hf_kafka_conf_t kc = {conf, errstr, sizeof(errstr), NULL};
    /* As the eventHub outputs (idempotent: an outage neither loses nor reorders a key's
       writes within the partition), with room for the longest key. */
    if (hf_kafka_conf_producer(&kc, conn, cfg->max_event_bytes + STATE_MAX_KEY + 4096) ||
        hf_kafka_conf_user(&kc, cfg)) {
        snprintf(err, errsz, "state producer for %s: %s", prod->desc, errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_opaque(conf, prod);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    prod->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!prod->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errsz, "state producer for %s: %s", prod->desc, errstr);
        return -1;
    }
    if (pipe2(prod->fd, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, errsz, "pipe: %s", strerror(errno));
        return -1;
    }
    prod->queue = rd_kafka_queue_get_main(prod->rk);
    rd_kafka_queue_io_event_enable(prod->queue, prod->fd[1], "1", 1);
    ev_io_init(&prod->io, on_prod_io, prod->fd[0], EV_READ);
    prod->io.data = prod;
    ev_io_start(hf_core_loop(st->core), &prod->io);
    return 0;
}

/* Write message i of the delivery to partition p of the state hub; a message without a
   body is a tombstone. */
static void produce_write(states_t *st, sbind_t *sb, hf_delivery_t *d, size_t i)
{
    hf_output_t *msg = hf_delivery_msg(d, i);
    int32_t p = hf_delivery_batch(d)->partition;
    producer_t *prod = sb->prod;
    write_ref_t *ref = hf_malloc(sizeof(*ref));
    *ref = (write_ref_t){d, i, sb, p, msg->body == NULL};
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            prod->rk, RD_KAFKA_V_TOPIC(sb->cfg->eh.hub), RD_KAFKA_V_PARTITION(p),
            RD_KAFKA_V_VALUE(msg->body, msg->body ? msg->body_len : 0),
            RD_KAFKA_V_KEY(msg->key, msg->key_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
            RD_KAFKA_V_OPAQUE(ref), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            msg->body = NULL;    /* librdkafka owns it now */
            st->in_flight++;
            return;
        }
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(prod->rk, 50);
            continue;
        }
        free(ref);
        char why[1024], line[1400];
        hf_kafka_target_t target = {prod->conn, sb->cfg->eh.hub, NULL, 1};
        hf_kafka_describe(err, rd_kafka_err2str(err), &target, why, sizeof(why));
        snprintf(line, sizeof(line), "function %s: state %s: a write to partition %d of hub %s "
                 "was refused: %s", sb->fn->name, sb->b->name, (int)p, sb->cfg->eh.hub, why);
        hf_core_fail(st->core, line);
        hf_delivery_report(d, i, 0, why);
        return;
    }
}

/* The invocation's other messages were not all delivered: its write is taken back in
   memory (unless a later write of the key stands) and never reaches the state hub, so the
   invocation's retry, or the next start, runs against the state before it. */
static void take_back_write(sbind_t *sb, hf_delivery_t *d, size_t i)
{
    hf_output_t *msg = hf_delivery_msg(d, i);
    const write_ext_t *x = msg->ext;
    hf_state_undo(sb->cfg->store, hf_delivery_batch(d)->partition, msg->key, msg->key_len,
                  msg->body, msg->body_len, x ? x->old : NULL, x ? x->old_len : 0);
    hf_delivery_report(d, i, 0, "not written: another message of its invocation was not "
                                "delivered, so the write was taken back");
}

/* What the other messages of message i's invocation (cardinality many: of the batch) came
   to: 1 all delivered, -1 one failed, 0 some not reported yet. The state messages of the
   invocation do not count. */
static int others_outcome(hf_delivery_t *d, size_t i)
{
    const hf_batch_t *batch = hf_delivery_batch(d);
    size_t inv = batch->outputs[i].invocation;
    int waiting = 0;
    for (size_t k = 0; k < batch->outputs_n; k++) {
        if (batch->outputs[k].invocation != inv ||
            hf_delivery_binding(d, k)->type == &hf_eventhub_state_type)
            continue;
        int o = hf_delivery_outcome(d, k);
        if (o < 0)
            return -1;
        waiting |= o == 0;
    }
    return waiting ? 0 : 1;
}

/* Decide the held writes whose invocations' other messages are all reported: written when
   they were delivered, taken back when one was not. Runs after every turn of the loop
   while writes are held (ev_check), and on the tick. */
static void held_scan(states_t *st)
{
    if (!st->held_n)
        return;
    /* decide first (reports may free a delivery), then act on a copy (acting may hold new
       writes) */
    held_write_t *go = hf_malloc(st->held_n * sizeof(*go));
    int *out = hf_malloc(st->held_n * sizeof(*out));
    size_t n = 0, kept = 0;
    hf_delivery_t *last_d = NULL;
    size_t last_inv = 0;
    int last = 0;
    for (size_t h = 0; h < st->held_n; h++) {
        held_write_t hw = st->held[h];
        size_t inv = hf_delivery_batch(hw.d)->outputs[hw.i].invocation;
        int o = hw.d == last_d && inv == last_inv ? last : others_outcome(hw.d, hw.i);
        last_d = hw.d, last_inv = inv, last = o;
        if (o == 0) {
            st->held[kept++] = hw;
            continue;
        }
        go[n] = hw;
        out[n++] = o;
    }
    st->held_n = kept;
    if (!kept)
        ev_check_stop(hf_core_loop(st->core), &st->check);
    for (size_t k = 0; k < n; k++)           /* writes in the order they were made */
        if (out[k] > 0)
            produce_write(st, go[k].sb, go[k].d, go[k].i);
    for (size_t k = n; k-- > 0;)             /* take-backs newest first */
        if (out[k] < 0)
            take_back_write(go[k].sb, go[k].d, go[k].i);
    free(go);
    free(out);
}

static void on_check(struct ev_loop *loop, ev_check *w, int revents)
{
    (void)loop, (void)revents;
    held_scan(w->data);
}

/* A state message goes to the state hub only once every other message of its invocation
   was delivered: a crash in between then repeats a message (the replay meets a state
   without the write) rather than losing one (a state saying "sent" for a message that was
   not). */
static void states_deliver(void *state, hf_delivery_t *d, size_t i)
{
    states_t *st = state;
    const hf_binding_t *b = hf_delivery_binding(d, i);
    sbind_t *sb = NULL;
    for (size_t k = 0; k < st->n && !sb; k++)
        if (st->b[k].b == b)
            sb = &st->b[k];
    if (!sb || !sb->prod) {
        hf_delivery_report(d, i, 0, "no producer for the state binding");
        return;
    }
    if (st->held_n == st->held_cap) {
        st->held_cap = st->held_cap ? st->held_cap * 2 : 64;
        st->held = hf_realloc(st->held, st->held_cap * sizeof(*st->held));
    }
    st->held[st->held_n++] = (held_write_t){d, i, sb};
    if (!ev_is_active(&st->check))
        ev_check_start(hf_core_loop(st->core), &st->check);
}

/* The loop is blocked (a revoked partition's batches settle): serve reports, and decide
   the held writes the loop's check would. */
static void states_poll(void *state, int timeout_ms)
{
    states_t *st = state;
    held_scan(st);
    for (size_t i = 0; i < st->prods_n; i++)
        rd_kafka_poll(st->prods[i].rk, i == 0 ? timeout_ms : 0);
    held_scan(st);
}

static size_t states_in_flight(void *state)
{
    const states_t *st = state;
    return st->in_flight + st->held_n;
}

/* ---- start-time checks ---- */

/* The partition count of `hub` through rk: >= 0, or -1 with err set (the error in *kerr). */
static int hub_partitions(rd_kafka_t *rk, const char *hub, rd_kafka_resp_err_t *kerr)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, hub, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    int n = -1;
    if (!err && md && md->topic_cnt == 1) {
        err = md->topics[0].err;
        if (!err)
            n = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    *kerr = err;
    return n;
}

/* The hub's cleanup.policy (malloc'd), or NULL with why (the broker did not say). */
static char *cleanup_policy(rd_kafka_t *rk, const char *hub, char *why, size_t whysz)
{
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, hub);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    char errstr[256];
    rd_kafka_AdminOptions_set_request_timeout(opts, 15000, errstr, sizeof(errstr));
    rd_kafka_DescribeConfigs(rk, &res, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    char *policy = NULL;
    snprintf(why, whysz, "no answer");
    if (ev && rd_kafka_event_error(ev)) {
        snprintf(why, whysz, "%s", rd_kafka_event_error_string(ev));
    } else if (ev) {
        const rd_kafka_DescribeConfigs_result_t *result =
            rd_kafka_event_DescribeConfigs_result(ev);
        size_t n = 0;
        const rd_kafka_ConfigResource_t **rs =
            result ? rd_kafka_DescribeConfigs_result_resources(result, &n) : NULL;
        for (size_t i = 0; i < n && !policy; i++) {
            rd_kafka_resp_err_t rerr = rd_kafka_ConfigResource_error(rs[i]);
            if (rerr) {
                const char *text = rd_kafka_ConfigResource_error_string(rs[i]);
                snprintf(why, whysz, "%s", text ? text : rd_kafka_err2str(rerr));
                continue;
            }
            size_t cn = 0;
            const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(rs[i], &cn);
            for (size_t j = 0; j < cn; j++)
                if (strcmp(rd_kafka_ConfigEntry_name(ce[j]), "cleanup.policy") == 0) {
                    const char *v = rd_kafka_ConfigEntry_value(ce[j]);
                    policy = hf_strdup(v ? v : "");
                    break;
                }
            if (!policy)
                snprintf(why, whysz, "no cleanup.policy in the answer");
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    return policy;
}

/* How to create the state hub right, for messages. */
static void how_to_create(const sbind_t *sb, int partitions, char *out, size_t outsz)
{
    char n[16] = "N";
    if (partitions > 0)
        snprintf(n, sizeof(n), "%d", partitions);
    snprintf(out, outsz, "create it with %s partitions and cleanup policy compact (Event Hubs, "
             "Standard tier or above: az eventhubs eventhub create --name %s --partition-count "
             "%s --cleanup-policy Compact ...; Kafka: kafka-topics.sh --create --topic %s "
             "--partitions %s --config cleanup.policy=compact)", n, sb->cfg->eh.hub, n,
             sb->cfg->eh.hub, n);
}

/* The state hub exists, is compacted and has the input hub's partition count. A check the
   broker cannot answer (no Describe rights on Event Hubs, an unreachable broker) is a
   warning. */
static int check_hubs(sbind_t *sb, char *err, size_t errsz)
{
    const hf_eventhub_cfg_t *in = hf_eventhub_cfg(&sb->fn->trigger);
    const char *hub = sb->cfg->eh.hub;
    char how[600], why[1024];
    if (strcmp(hub, in->hub) == 0 && sb->cfg->eh.conn == in->conn) {
        snprintf(err, errsz, "function %s: state %s: hub %s is the function's input hub; the "
                 "state needs a hub of its own (compacted, with the input's partition count)",
                 sb->fn->name, sb->b->name, hub);
        return -1;
    }
    /* the input hub, through the state hub's client when they share a connection */
    rd_kafka_resp_err_t kerr;
    rd_kafka_t *rk = sb->rk;
    if (in->conn != sb->cfg->eh.conn) {
        char errstr[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        hf_kafka_conf_t kc = {conf, errstr, sizeof(errstr), NULL};
        if (hf_kafka_conf_common(&kc, in->conn) ||
            !(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)))) {
            rd_kafka_conf_destroy(conf);
            rk = NULL;
        }
    }
    int in_n = rk ? hub_partitions(rk, in->hub, &kerr) : -1;
    if (rk && rk != sb->rk)
        rd_kafka_destroy(rk);
    int state_n = hub_partitions(sb->rk, hub, &kerr);
    if (state_n < 0) {
        hf_kafka_target_t target = {sb->cfg->eh.conn, hub, NULL, 0};
        hf_kafka_describe(kerr, NULL, &target, why, sizeof(why));
        if (hf_kafka_error_is_permanent(kerr)) {
            how_to_create(sb, in_n, how, sizeof(how));
            snprintf(err, errsz, "function %s: state %s: %s; %s", sb->fn->name, sb->b->name,
                     why, how);
            return -1;
        }
        hf_log_warn("function %s: state %s: cannot check hub %s yet: %s", sb->fn->name,
                    sb->b->name, hub, why);
        return 0;
    }
    sb->partitions = state_n;
    if (in_n >= 0 && in_n != state_n) {
        how_to_create(sb, in_n, how, sizeof(how));
        snprintf(err, errsz, "function %s: state %s: state hub %s has %d partition%s and input "
                 "hub %s has %d: the state of input partition p is kept in partition p of the "
                 "state hub, so both need %d; %s", sb->fn->name, sb->b->name, hub, state_n,
                 state_n == 1 ? "" : "s", in->hub, in_n, in_n, how);
        return -1;
    }
    if (sb->cfg->eh.conn && sb->cfg->eh.conn->kind == HF_CONN_EMBEDDED)
        return 0;                /* the embedded broker keeps everything; it has no configs */
    char *policy = cleanup_policy(sb->rk, hub, why, sizeof(why));
    if (!policy) {
        hf_log_warn("function %s: state %s: cannot read the cleanup policy of hub %s (%s): "
                    "make sure it is compacted, or its state expires with its retention",
                    sb->fn->name, sb->b->name, hub, why);
        return 0;
    }
    int rc = 0;
    if (!strstr(policy, "compact")) {
        how_to_create(sb, state_n, how, sizeof(how));
        snprintf(err, errsz, "function %s: state %s: hub %s is not compacted (cleanup.policy="
                 "%s), so its state would expire with its retention; %s", sb->fn->name,
                 sb->b->name, hub, policy, how);
        rc = -1;
    } else if (strstr(policy, "delete")) {
        hf_log_warn("function %s: state %s: hub %s is compacted but also deletes by retention "
                    "(cleanup.policy=%s): keys not written within the retention are lost",
                    sb->fn->name, sb->b->name, hub, policy);
    }
    free(policy);
    return rc;
}

/* ---- the instance ---- */

/* The restore consumer's errors: rights and credentials stop the host; the rest (a broker
   down) are retried, said at most every 10 s while the partitions wait. */
static void restore_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    sbind_t *sb = opaque;
    rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)err;
    char why[1024], fatal[512];
    if (e == RD_KAFKA_RESP_ERR__FATAL)
        e = rd_kafka_fatal_error(sb->rk, fatal, sizeof(fatal));
    hf_kafka_target_t target = {sb->cfg->eh.conn, sb->cfg->eh.hub, NULL, 0};
    hf_kafka_describe(e, reason, &target, why, sizeof(why));
    if (hf_kafka_error_is_permanent(e) || err == RD_KAFKA_RESP_ERR__FATAL) {
        restore_fail(sb, "function %s: state %s: %s", sb->fn->name, sb->b->name, why);
        return;
    }
    int64_t now = hf_mono_us();
    if (!sb->last_warn_us || now - sb->last_warn_us > 10 * 1000000LL) {
        sb->last_warn_us = now;
        hf_log_warn("function %s: state %s: %s: %s (retrying)", sb->fn->name, sb->b->name,
                    sb->desc, reason);
    }
}

static int sbind_init(states_t *st, sbind_t *sb, char *err, size_t errsz)
{
    char errstr[512];
    const hf_host_cfg_t *host = &hf_core_app(st->core)->host;
    hf_metrics_t *reg = hf_core_metrics(st->core);
    sb->partitions = -1;
    hf_conn_describe(sb->cfg->eh.conn, sb->desc, sizeof(sb->desc));
    sb->m_restores = hf_metric_series(hf_metrics_get(reg, HF_M_STATE_RESTORES), sb->fn->name,
                                      sb->b->name);
    sb->m_restore_s = hf_metric_series(hf_metrics_get(reg, HF_M_STATE_RESTORE_DURATION),
                                       sb->fn->name, sb->b->name);
    sb->m_sets = hf_metric_series(hf_metrics_get(reg, HF_M_STATE_WRITES), sb->fn->name,
                                  sb->b->name, "set");
    sb->m_deletes = hf_metric_series(hf_metrics_get(reg, HF_M_STATE_WRITES), sb->fn->name,
                                     sb->b->name, "delete");
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    hf_kafka_conf_t kc = {conf, errstr, sizeof(errstr), NULL};
    /* No group.id: the restore consumer reads partitions it is told to and commits nothing.
       Large fetches: a restore reads a whole partition as fast as it can. */
    if (hf_kafka_conf_common(&kc, sb->cfg->eh.conn) ||
        hf_kafka_conf_set(&kc, "enable.partition.eof", "true") ||
        hf_kafka_conf_set(&kc, "enable.auto.commit", "false") ||
        hf_kafka_conf_set(&kc, "enable.auto.offset.store", "false") ||
        hf_kafka_conf_set(&kc, "fetch.wait.max.ms", "100") ||
        hf_kafka_conf_set(&kc, "queued.min.messages", "100000") ||
        hf_kafka_conf_set(&kc, "queued.max.messages.kbytes", "16384") ||
        hf_kafka_conf_set(&kc, "fetch.message.max.bytes", "4194304") ||
        hf_kafka_conf_user(&kc, host)) {
        snprintf(err, errsz, "function %s: state %s: %s", sb->fn->name, sb->b->name, errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, restore_error_cb);
    rd_kafka_conf_set_opaque(conf, sb);
    sb->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!sb->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errsz, "function %s: state %s: %s", sb->fn->name, sb->b->name, errstr);
        return -1;
    }
    sb->rkt = rd_kafka_topic_new(sb->rk, sb->cfg->eh.hub, NULL);
    if (check_hubs(sb, err, errsz) != 0)
        return -1;
    sb->prod = producer_for(st, sb->cfg->eh.conn);
    if (!sb->prod) {
        sb->prod = &st->prods[st->prods_n++];
        if (producer_init(st, sb->prod, sb->cfg->eh.conn, err, errsz) != 0)
            return -1;
    }
    hf_log_info("function %s: state %s in hub %s on %s (at most %llu bytes per partition)",
                sb->fn->name, sb->b->name, sb->cfg->eh.hub, sb->desc,
                (unsigned long long)hf_state_max_bytes(sb->cfg->store));
    return 0;
}

static void states_close(void *state, int abandon)
{
    states_t *st = state;
    if (!st)
        return;
    struct ev_loop *loop = hf_core_loop(st->core);
    ev_timer_stop(loop, &st->tick);
    ev_timer_stop(loop, &st->more);
    ev_check_stop(loop, &st->check);
    ev_io_stop(loop, &st->io);
    for (size_t k = 0; k < st->n; k++) {
        sbind_t *sb = &st->b[k];
        for (int32_t p = 0; p < sb->restores_cap; p++)
            restore_stop(sb, p);
        free(sb->restores);
        if (sb->rkt)
            rd_kafka_topic_destroy(sb->rkt);
        if (sb->rk)
            rd_kafka_destroy(sb->rk);
        free(sb->m_keys);
        free(sb->m_bytes);
    }
    for (size_t i = 0; i < st->prods_n; i++) {
        producer_t *prod = &st->prods[i];
        if (prod->rk) {
            if (rd_kafka_flush(prod->rk, abandon ? 1000 : 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
                hf_log_warn("state writes: %d to %s were not delivered in time",
                            rd_kafka_outq_len(prod->rk), prod->desc);
            if (prod->queue) {
                rd_kafka_queue_io_event_enable(prod->queue, -1, NULL, 0);
                rd_kafka_queue_destroy(prod->queue);
                ev_io_stop(loop, &prod->io);
            }
            rd_kafka_destroy(prod->rk);
        }
        if (prod->fd[0] >= 0)
            close(prod->fd[0]);
        if (prod->fd[1] >= 0)
            close(prod->fd[1]);
    }
    if (st->fd[0] >= 0)
        close(st->fd[0]);
    if (st->fd[1] >= 0)
        close(st->fd[1]);
    free(st->prods);
    free(st->held);
    free(st->b);
    free(st);
}

static int states_start(hf_core_t *core, void **state, char *err, size_t errsz)
{
    const hf_app_t *app = hf_core_app(core);
    states_t *st = hf_calloc(1, sizeof(*st));
    st->core = core;
    st->fd[0] = st->fd[1] = -1;
    size_t wanted = 0;
    for (size_t f = 0; f < app->functions_n; f++)
        if (!app->functions[f].disabled)
            wanted += (size_t)state_bindings(&app->functions[f]);
    st->b = hf_calloc(wanted ? wanted : 1, sizeof(*st->b));
    st->prods = hf_calloc(wanted ? wanted : 1, sizeof(*st->prods));
    *state = st;
    if (pipe2(st->fd, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, errsz, "pipe: %s", strerror(errno));
        return -1;
    }
    struct ev_loop *loop = hf_core_loop(core);
    ev_io_init(&st->io, on_restore_io, st->fd[0], EV_READ);
    st->io.data = st;
    ev_io_start(loop, &st->io);
    ev_timer_init(&st->more, on_more, 0, 0);
    st->more.data = st;
    ev_timer_init(&st->tick, on_tick, 1.0, 1.0);
    st->tick.data = st;
    ev_check_init(&st->check, on_check);
    st->check.data = st;
    ev_timer_start(loop, &st->tick);
    for (size_t f = 0; f < app->functions_n; f++) {
        const hf_function_t *fn = &app->functions[f];
        for (size_t i = 0; !fn->disabled && i < fn->outputs_n; i++) {
            if (!is_state(&fn->outputs[i]))
                continue;
            sbind_t *sb = &st->b[st->n++];
            sb->st = st;
            sb->fn_index = (int)f;
            sb->fn = fn;
            sb->b = &fn->outputs[i];
            sb->cfg = state_cfg(sb->b);
            if (sbind_init(st, sb, err, errsz) != 0)
                return -1;
        }
    }
    return 0;
}

static int states_ready(void *state, char *why, size_t whysz)
{
    states_t *st = state;
    for (size_t k = 0; k < st->n; k++) {
        sbind_t *sb = &st->b[k];
        size_t n = 0;
        char list[256] = "";
        for (int32_t p = 0; p < sb->restores_cap; p++)
            if (sb->restores[p] && n + 12 < sizeof(list))
                n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%d", n ? "," : "", (int)p);
        if (n) {
            snprintf(why, whysz, "function %s: restoring the state of partitions [%s] from "
                     "hub %s", sb->fn->name, list, sb->cfg->eh.hub);
            return 0;
        }
    }
    return 1;
}

static void states_collect(void *state)
{
    states_t *st = state;
    for (size_t k = 0; k < st->n; k++) {
        sbind_t *sb = &st->b[k];
        for (int32_t p = 0; p < sb->m_cap; p++) {
            if (hf_state_status(sb->cfg->store, p) == HF_STATE_ABSENT) {
                hf_series_hide(sb->m_keys[p]);
                hf_series_hide(sb->m_bytes[p]);
                continue;
            }
            size_t keys, bytes;
            hf_state_stats(sb->cfg->store, p, &keys, &bytes);
            hf_series_set(sb->m_keys[p], (double)keys);
            hf_series_set(sb->m_bytes[p], (double)bytes);
        }
    }
}

static const hf_option_t state_options[] = {
    HF_EVENTHUB_OPTIONS,
    {NULL}
};

const hf_binding_type_t hf_eventhub_state_type = {
    .name = "eventHubState",
    .direction = HF_DIR_INOUT,
    .family = HF_FAMILY_EVENTHUB,
    .options = state_options,
    .cfg_size = sizeof(state_cfg_t),
    .summary = "per-key state of the partition being handled, kept in a compacted hub with "
               "the input hub's partition count (context.bindings.NAME:get/set/delete)",
    .load = state_load,
    .unload = state_unload,
    .describe = hf_eventhub_describe,
    .lua_fields = hf_eventhub_lua_fields,
    .lua_methods = state_methods,
    .lua_finish = state_finish,
    .free_ext = state_free_ext,
    .run_load = state_run_load,
    .run_save = state_run_save,
    .start = states_start,
    .close = states_close,
    .ready = states_ready,
    .collect = states_collect,
    .deliver = states_deliver,
    .poll = states_poll,
    .in_flight = states_in_flight,
    .partition_assigned = states_partition_assigned,
    .partition_revoked = states_partition_revoked,
};
