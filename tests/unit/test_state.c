/* Unit tests of per-partition state: the store (runtime/state.c) and the eventHubState
   binding's Lua side (get/set/delete, the invocation's overlay, what a finished invocation
   applies and sends, the memory bound), through the real Lua host. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "app.h"
#include "eventhub_state.h"
#include "log.h"
#include "lua_host.h"
#include "state.h"
#include "test.h"

/* ---------------------------------------------------------------------------------- */
/* The store                                                                           */

static int get(hf_state_t *st, int32_t p, const char *key, char *out, size_t outsz)
{
    hf_buf_t b;
    hf_buf_init(&b);
    int rc = hf_state_get(st, p, key, strlen(key), &b);
    snprintf(out, outsz, "%.*s", (int)b.len, b.data ? b.data : "");
    hf_buf_free(&b);
    return rc;
}

static int put(hf_state_t *st, int32_t p, const char *key, const char *value)
{
    hf_state_write_t w = {key, strlen(key), value, value ? strlen(value) : 0};
    return hf_state_apply(st, p, &w, 1, NULL, 0);
}

TEST(store_set_get_delete_and_stats)
{
    hf_state_t *st = hf_state_new(0, 0);
    char v[64];
    CHECK_INT(get(st, 0, "a", v, sizeof(v)), HF_STATE_NOT_HELD);
    hf_state_open(st, 0);
    CHECK_INT(hf_state_status(st, 0), HF_STATE_RESTORING);
    CHECK_INT(get(st, 0, "a", v, sizeof(v)), HF_STATE_NOT_HELD);   /* restoring */
    CHECK_INT(put(st, 0, "a", "1"), HF_STATE_NOT_HELD);
    hf_state_ready(st, 0);
    CHECK_INT(get(st, 0, "a", v, sizeof(v)), HF_STATE_MISSING);
    CHECK_INT(put(st, 0, "a", "{\"n\":1}"), 0);
    CHECK_INT(put(st, 0, "b", "\"x\""), 0);
    CHECK_INT(get(st, 0, "a", v, sizeof(v)), HF_STATE_FOUND);
    CHECK_STR(v, "{\"n\":1}");
    size_t keys, bytes;
    hf_state_stats(st, 0, &keys, &bytes);
    CHECK_INT(keys, 2);
    CHECK_INT(bytes, 1 + 7 + 1 + 3 + 2 * HF_STATE_KEY_OVERHEAD);
    CHECK_INT(put(st, 0, "a", "2"), 0);                 /* replaced */
    hf_state_stats(st, 0, &keys, &bytes);
    CHECK_INT(keys, 2);
    CHECK_INT(bytes, 1 + 1 + 1 + 3 + 2 * HF_STATE_KEY_OVERHEAD);
    CHECK_INT(put(st, 0, "a", NULL), 0);                /* deleted */
    CHECK_INT(get(st, 0, "a", v, sizeof(v)), HF_STATE_MISSING);
    CHECK_INT(put(st, 0, "zz", NULL), 0);               /* deleting nothing is fine */
    hf_state_stats(st, 0, &keys, &bytes);
    CHECK_INT(keys, 1);
    CHECK_INT(bytes, 1 + 3 + HF_STATE_KEY_OVERHEAD);
    /* other partitions are apart */
    CHECK_INT(get(st, 1, "b", v, sizeof(v)), HF_STATE_NOT_HELD);
    hf_state_open(st, 1);
    hf_state_ready(st, 1);
    CHECK_INT(get(st, 1, "b", v, sizeof(v)), HF_STATE_MISSING);
    CHECK_INT(hf_state_partitions(st), 2);
    /* a revoke drops the map; a new assignment starts empty */
    hf_state_drop(st, 0);
    CHECK_INT(hf_state_status(st, 0), HF_STATE_ABSENT);
    CHECK_INT(get(st, 0, "b", v, sizeof(v)), HF_STATE_NOT_HELD);
    hf_state_open(st, 0);
    hf_state_ready(st, 0);
    CHECK_INT(get(st, 0, "b", v, sizeof(v)), HF_STATE_MISSING);
    hf_state_free(st);
}

TEST(store_restore_applies_in_order_and_honours_tombstones)
{
    hf_state_t *st = hf_state_new(0, 0);
    char v[64];
    CHECK_INT(hf_state_restore(st, 2, "k", 1, "1", 1), HF_STATE_NOT_HELD);
    hf_state_open(st, 2);
    CHECK_INT(hf_state_restore(st, 2, "k", 1, "1", 1), 0);
    CHECK_INT(hf_state_restore(st, 2, "j", 1, "5", 1), 0);
    CHECK_INT(hf_state_restore(st, 2, "k", 1, "2", 1), 0);   /* the latest value wins */
    CHECK_INT(hf_state_restore(st, 2, "j", 1, NULL, 0), 0);  /* a tombstone */
    hf_state_ready(st, 2);
    CHECK_INT(get(st, 2, "k", v, sizeof(v)), HF_STATE_FOUND);
    CHECK_STR(v, "2");
    CHECK_INT(get(st, 2, "j", v, sizeof(v)), HF_STATE_MISSING);
    /* opening again (a new assignment) forgets what was there */
    hf_state_open(st, 2);
    size_t keys, bytes;
    hf_state_stats(st, 2, &keys, &bytes);
    CHECK_INT(keys, 0);
    CHECK_INT(bytes, 0);
    hf_state_free(st);
}

TEST(store_bound_refuses_all_or_none_and_lets_deletes_through)
{
    size_t one = 1 + 10 + HF_STATE_KEY_OVERHEAD;          /* a 1-byte key, 10-byte value */
    hf_state_t *st = hf_state_new(3 * one, 0);
    hf_state_open(st, 0);
    hf_state_ready(st, 0);
    char v[64];
    CHECK_INT(put(st, 0, "a", "0123456789"), 0);
    CHECK_INT(put(st, 0, "b", "0123456789"), 0);
    hf_state_write_t w[2] = {{"c", 1, "0123456789", 10}, {"d", 1, "0123456789", 10}};
    size_t would = 0;
    CHECK_INT(hf_state_apply(st, 0, w, 2, &would, 0), HF_STATE_OVER_BOUND);
    CHECK_INT(would, 4 * one);
    CHECK_INT(get(st, 0, "c", v, sizeof(v)), HF_STATE_MISSING);   /* none applied */
    /* with a delete in the same group it fits */
    hf_state_write_t w2[3] = {{"c", 1, "0123456789", 10}, {"d", 1, "0123456789", 10},
                              {"a", 1, NULL, 0}};
    CHECK_INT(hf_state_apply(st, 0, w2, 3, &would, 0), 0);
    CHECK_INT(would, 3 * one);
    size_t total;
    CHECK_INT(hf_state_key_bytes(st, 0, "e", 1, &total), 0);
    CHECK_INT(total, 3 * one);
    CHECK_INT(hf_state_key_bytes(st, 0, "b", 1, &total), one);
    /* restore refuses a record past the bound, not a tombstone */
    hf_state_open(st, 1);
    CHECK_INT(hf_state_restore(st, 1, "a", 1, "0123456789", 10), 0);
    CHECK_INT(hf_state_restore(st, 1, "b", 1, "0123456789", 10), 0);
    CHECK_INT(hf_state_restore(st, 1, "c", 1, "0123456789", 10), 0);
    CHECK_INT(hf_state_restore(st, 1, "d", 1, "0123456789", 10), HF_STATE_OVER_BOUND);
    CHECK_INT(hf_state_restore(st, 1, "c", 1, NULL, 0), 0);
    CHECK_INT(hf_state_restore(st, 1, "d", 1, "0123456789", 10), 0);
    hf_state_free(st);
    /* a partition over a lowered bound still takes writes that shrink it */
    st = hf_state_new(one, 0);
    hf_state_open(st, 0);
    hf_state_ready(st, 0);
    CHECK_INT(put(st, 0, "a", "0123456789"), 0);
    CHECK_INT(put(st, 0, "b", "0123456789"), HF_STATE_OVER_BOUND);
    CHECK_INT(put(st, 0, "a", "01234"), 0);
    CHECK_INT(put(st, 0, "a", NULL), 0);
    hf_state_free(st);
}

TEST(store_apply_keeps_old_values_and_undo_takes_writes_back_newest_first)
{
    hf_state_t *st = hf_state_new(0, 0);
    hf_state_open(st, 0);
    hf_state_ready(st, 0);
    char v[64];
    CHECK_INT(put(st, 0, "k", "0"), 0);
    /* two invocations write k in turn (1, then 3); both are taken back, newest first */
    hf_state_write_t w1 = {"k", 1, "1", 1, NULL, 0}, w3 = {"k", 1, "3", 1, NULL, 0};
    hf_state_write_t wn = {"n", 1, "9", 1, NULL, 0};
    CHECK_INT(hf_state_apply(st, 0, &w1, 1, NULL, 1), 0);
    CHECK_STR(w1.old, "0");
    CHECK_INT(hf_state_apply(st, 0, &w3, 1, NULL, 1), 0);
    CHECK_STR(w3.old, "1");
    CHECK_INT(hf_state_apply(st, 0, &wn, 1, NULL, 1), 0);
    CHECK(wn.old == NULL);                  /* n held nothing */
    CHECK_INT(hf_state_undo(st, 0, "k", 1, "3", 1, w3.old, w3.old_len), 1);
    CHECK_INT(hf_state_undo(st, 0, "k", 1, "1", 1, w1.old, w1.old_len), 1);
    CHECK_INT(get(st, 0, "k", v, sizeof(v)), HF_STATE_FOUND);
    CHECK_STR(v, "0");
    CHECK_INT(hf_state_undo(st, 0, "n", 1, "9", 1, NULL, 0), 1);
    CHECK_INT(get(st, 0, "n", v, sizeof(v)), HF_STATE_MISSING);
    /* a write taken back after a later one of the key stands leaves the later one */
    hf_state_write_t a = {"k", 1, "a", 1, NULL, 0}, b = {"k", 1, "b", 1, NULL, 0};
    hf_state_apply(st, 0, &a, 1, NULL, 1);
    hf_state_apply(st, 0, &b, 1, NULL, 1);
    CHECK_INT(hf_state_undo(st, 0, "k", 1, "a", 1, a.old, a.old_len), 0);
    CHECK_INT(get(st, 0, "k", v, sizeof(v)), HF_STATE_FOUND);
    CHECK_STR(v, "b");
    /* a delete taken back brings the value back */
    hf_state_write_t d = {"k", 1, NULL, 0, NULL, 0};
    hf_state_apply(st, 0, &d, 1, NULL, 1);
    CHECK_INT(hf_state_undo(st, 0, "k", 1, NULL, 0, d.old, d.old_len), 1);
    CHECK_INT(get(st, 0, "k", v, sizeof(v)), HF_STATE_FOUND);
    CHECK_STR(v, "b");
    free(w1.old), free(w3.old), free(a.old), free(b.old), free(d.old);
    hf_state_free(st);
}

/* Random sets and deletes against a plain array model: the hash table (growth,
   backward-shift deletion) loses nothing and keeps nothing it should not. */
TEST(store_matches_a_model_under_random_writes)
{
    enum { KEYS = 3000, OPS = 60000 };
    static int model[KEYS];     /* 0: absent, else the value */
    memset(model, 0, sizeof(model));
    hf_state_t *st = hf_state_new(0, 0);
    hf_state_open(st, 0);
    hf_state_ready(st, 0);
    uint64_t x = 88172645463325252ULL;
    char key[32], val[32], got[64];
    for (int i = 0; i < OPS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(x % KEYS);
        snprintf(key, sizeof(key), "key-%d", k);
        if ((x >> 20) % 3 == 0) {
            model[k] = 0;
            CHECK_INT(put(st, 0, key, NULL), 0);
        } else {
            model[k] = i + 1;
            snprintf(val, sizeof(val), "%d", i + 1);
            CHECK_INT(put(st, 0, key, val), 0);
        }
    }
    size_t present = 0, bytes_want = 0;
    for (int k = 0; k < KEYS; k++) {
        snprintf(key, sizeof(key), "key-%d", k);
        int rc = get(st, 0, key, got, sizeof(got));
        if (!model[k]) {
            CHECK_INT(rc, HF_STATE_MISSING);
            continue;
        }
        CHECK_INT(rc, HF_STATE_FOUND);
        CHECK_INT(atoi(got), model[k]);
        present++;
        snprintf(val, sizeof(val), "%d", model[k]);
        bytes_want += strlen(key) + strlen(val) + HF_STATE_KEY_OVERHEAD;
    }
    size_t keys, bytes;
    hf_state_stats(st, 0, &keys, &bytes);
    CHECK_INT(keys, present);
    CHECK_INT(bytes, bytes_want);
    hf_state_free(st);
}

typedef struct each_ctx {
    char text[256];
} each_ctx_t;

static void each_one(void *ud, const char *key, size_t klen, const char *value, size_t vlen)
{
    each_ctx_t *c = ud;
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof(c->text) - n, "%.*s=%.*s;", (int)klen, key, (int)vlen, value);
}

TEST(store_each_visits_keys_in_byte_order)
{
    hf_state_t *st = hf_state_new(0, 1);    /* open on use, as hubfn run */
    CHECK_INT(put(st, 5, "b", "2"), 0);
    CHECK_INT(put(st, 5, "a", "1"), 0);
    CHECK_INT(put(st, 5, "ab", "3"), 0);
    CHECK_INT(put(st, 5, "B", "4"), 0);
    each_ctx_t c = {""};
    hf_state_each(st, 5, each_one, &c);
    CHECK_STR(c.text, "B=4;a=1;ab=3;b=2;");
    CHECK_INT(hf_state_partitions(st), 6);
    hf_state_free(st);
}

/* Workers read and write partitions 0-3 while the loop thread opens, restores and drops
   partitions 4-7: each worker's own keys always read back what it wrote. */
typedef struct worker_arg {
    hf_state_t *st;
    int id;
    int bad;
} worker_arg_t;

static void *worker(void *p)
{
    worker_arg_t *a = p;
    char key[32], val[32], got[64];
    for (int i = 0; i < 20000 && !a->bad; i++) {
        snprintf(key, sizeof(key), "w%d-%d", a->id, i % 97);
        snprintf(val, sizeof(val), "%d", i);
        if (put(a->st, a->id, key, val) != 0 || get(a->st, a->id, key, got, sizeof(got)) !=
                                                    HF_STATE_FOUND || strcmp(got, val) != 0)
            a->bad = 1;
    }
    return NULL;
}

TEST(store_is_shared_safely_across_threads)
{
    hf_state_t *st = hf_state_new(0, 0);
    for (int p = 0; p < 4; p++) {
        hf_state_open(st, p);
        hf_state_ready(st, p);
    }
    pthread_t t[4];
    worker_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg_t){st, i, 0};
        pthread_create(&t[i], NULL, worker, &args[i]);
    }
    char key[32];
    for (int round = 0; round < 300; round++) {
        int32_t p = 4 + round % 4;
        hf_state_open(st, p);
        for (int k = 0; k < 50; k++) {
            snprintf(key, sizeof(key), "r%d", k);
            hf_state_restore(st, p, key, strlen(key), "1", 1);
        }
        hf_state_ready(st, p);
        hf_state_drop(st, p);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT(args[i].bad, 0);
    }
    hf_state_free(st);
}

/* ---------------------------------------------------------------------------------- */
/* The binding's Lua side                                                              */

static hf_app_t app;
static hf_lua_t lua;
static char err[2048];

/* An app whose function "f" has trigger cardinality `card`, an eventHubState binding
   "state" and an eventHub output "out"; handler.lua is `code`. `broker`: connections are
   resolved (as under hubfn start, so that writes become messages to the state hub). */
static int setup(const char *code, const char *card, int broker, const char *host_extra)
{
    static char host[512], fnjson[1024];
    snprintf(host, sizeof(host), "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{%s}}}",
             host_extra ? host_extra : "");
    snprintf(fnjson, sizeof(fnjson),
             "{\"bindings\":["
             "{\"type\":\"eventHubTrigger\",\"direction\":\"in\",\"name\":\"events\","
             "\"eventHubName\":\"in\",\"connection\":\"C\",\"cardinality\":\"%s\"},"
             "{\"type\":\"eventHubState\",\"direction\":\"inout\",\"name\":\"state\","
             "\"eventHubName\":\"st\",\"connection\":\"C\"},"
             "{\"type\":\"eventHub\",\"direction\":\"out\",\"name\":\"out\","
             "\"eventHubName\":\"o\",\"connection\":\"C\"}]}",
             card);
    const char *settings = "{\"Values\":{\"C\":\"127.0.0.1:1\"}}";
    static char dir[64];
    char path[128];
    snprintf(dir, sizeof(dir), "/tmp/hf-state-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    const char *files[][2] = {{"host.json", host}, {"local.settings.json", settings},
                              {"f/function.json", fnjson}, {"f/handler.lua", code}};
    snprintf(path, sizeof(path), "%s/f", dir);
    mkdir(path, 0700);
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
        FILE *f = fopen(path, "w");
        if (!f)
            return -1;
        fputs(files[i][1], f);
        fclose(f);
    }
    hf_app_opts_t opts = {broker, 0, NULL};
    hf_app_free(&app);
    if (hf_app_load(&app, dir, &opts, err, sizeof(err)) != 0 ||
        hf_lua_init(&lua, &app, err, sizeof(err)) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    return 0;
}

static void teardown(void)
{
    char path[256];
    const char *files[] = {"f/handler.lua", "f/function.json", "f", "local.settings.json",
                           "host.json", ""};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", app.dir, files[i]);
        remove(path);
    }
    hf_lua_close(&lua);
    hf_app_free(&app);
}

static hf_state_t *store(void)
{
    return hf_eventhub_state_store(&app.functions[0].outputs[0]);
}

static hf_batch_t *run(int32_t partition, const char **bodies, size_t n)
{
    hf_batch_t *b = hf_batch_new(n);
    b->fn = &app.functions[0];
    b->fn_index = 0;
    b->hub = "in";
    b->partition = partition;
    for (size_t i = 0; i < n; i++) {
        hf_event_t *ev = &b->events[b->events_n++];
        ev->own = hf_strdup(bodies[i]);
        ev->payload = ev->own;
        ev->len = strlen(bodies[i]);
        ev->partition = partition;
        ev->offset = 10 + (int64_t)i;
        ev->enqueued_ms = -1;
    }
    hf_lua_invoke(&lua, b);
    return b;
}

static const char *value_of(int32_t p, const char *key)
{
    static char v[256];
    int rc = get(store(), p, key, v, sizeof(v));
    return rc == HF_STATE_FOUND ? v : rc == HF_STATE_MISSING ? "(missing)" : "(not held)";
}

static void ready(int32_t p)
{
    hf_state_open(store(), p);
    hf_state_ready(store(), p);
}

TEST(lua_get_set_delete_round_trip_and_own_writes_seen_at_once)
{
    const char *code =
        "return function(events, context)\n"
        "  local s = context.bindings.state\n"
        "  assert(s.eventHubName == 'st')\n"
        "  assert(s:get('t') == nil)\n"
        "  s:set('t', { a = { 1, 2, 'x' }, b = true, n = 1.5 })\n"
        "  local t = s:get('t')\n"
        "  assert(t.a[3] == 'x' and t.b == true and t.n == 1.5)\n"
        "  t.a[1] = 99  -- a copy: changing it changes nothing stored\n"
        "  assert(s:get('t').a[1] == 1)\n"
        "  s:set('s', 'text'); assert(s:get('s') == 'text')\n"
        "  s:set('i', 42); assert(math.type(s:get('i')) == 'integer')\n"
        "  s:set('f', false); assert(s:get('f') == false)\n"
        "  s:set('gone', 1); s:delete('gone'); assert(s:get('gone') == nil)\n"
        "  s:set('nil', 1); s:set('nil', nil); assert(s:get('nil') == nil)\n"
        "  local null = require('hubfn').json.null\n"
        "  s:set('null', null); assert(s:get('null') == null)\n"
        "end\n";
    CHECK(setup(code, "many", 1, NULL) == 0);
    ready(3);
    const char *ev[] = {"{}"};
    hf_batch_t *b = run(3, ev, 1);
    CHECK_STR(b->error ? b->error : "", "");
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_STR(value_of(3, "t"), "{\"a\":[1,2,\"x\"],\"b\":true,\"n\":1.5}");
    CHECK_STR(value_of(3, "s"), "\"text\"");
    CHECK_STR(value_of(3, "i"), "42");
    CHECK_STR(value_of(3, "gone"), "(missing)");
    CHECK_STR(value_of(3, "null"), "null");
    /* each write left is one message to the state hub, a delete a tombstone */
    const hf_function_t *fn = &app.functions[0];
    size_t sets = 0, tombstones = 0;
    for (size_t i = 0; i < b->outputs_n; i++) {
        const hf_output_t *o = &b->outputs[i];
        CHECK(fn->outputs[o->binding].type == &hf_eventhub_state_type);
        if (!o->body) {
            tombstones++;
            CHECK(strcmp(o->key, "gone") == 0 || strcmp(o->key, "nil") == 0);
        } else {
            sets++;
            if (strcmp(o->key, "t") == 0)
                CHECK_STR(o->body, "{\"a\":[1,2,\"x\"],\"b\":true,\"n\":1.5}");
        }
    }
    CHECK_INT(sets, 5);
    CHECK_INT(tombstones, 2);
    CHECK(b->outputs[0].ext != NULL);       /* what the key held, to take the write back */
    hf_batch_free(b);
    teardown();
}

TEST(lua_failed_invocation_drops_its_writes)
{
    const char *code =
        "return function(events, context)\n"
        "  local s = context.bindings.state\n"
        "  s:set('n', (s:get('n') or 0) + 1)\n"
        "  context.bindings.out:send('x')\n"
        "  if events[1].body.fail then error('boom') end\n"
        "end\n";
    CHECK(setup(code, "many", 1, NULL) == 0);
    ready(0);
    const char *ok[] = {"{}"}, *bad[] = {"{\"fail\":true}"};
    hf_batch_t *b = run(0, ok, 1);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_INT(b->outputs_n, 2);
    hf_batch_free(b);
    b = run(0, bad, 1);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK_INT(b->outputs_n, 0);
    CHECK_STR(value_of(0, "n"), "1");
    hf_batch_free(b);
    b = run(0, ok, 1);
    CHECK_STR(value_of(0, "n"), "2");
    hf_batch_free(b);
    teardown();
}

TEST(lua_cardinality_one_applies_each_invocation_and_fails_only_its_own)
{
    const char *code =
        "return function(ev, context)\n"
        "  local s = context.bindings.state\n"
        "  local k = ev.body.k\n"
        "  s:set(k, (s:get(k) or 0) + 1)\n"
        "  if ev.body.fail then error('boom') end\n"
        "end\n";
    CHECK(setup(code, "one", 1, NULL) == 0);
    ready(1);
    const char *evs[] = {"{\"k\":\"a\"}", "{\"k\":\"a\"}", "{\"k\":\"a\",\"fail\":true}",
                         "{\"k\":\"b\"}", "{\"k\":\"a\"}"};
    hf_batch_t *b = run(1, evs, 5);
    CHECK_INT(b->failed_invocations, 1);
    CHECK_STR(value_of(1, "a"), "3");
    CHECK_STR(value_of(1, "b"), "1");
    /* one message per successful invocation, tied to it */
    CHECK_INT(b->outputs_n, 4);
    CHECK_INT(b->outputs[0].invocation, 1);
    CHECK_INT(b->outputs[1].invocation, 2);
    CHECK_INT(b->outputs[2].invocation, 4);
    CHECK_INT(b->outputs[3].invocation, 5);
    CHECK_STR(b->outputs[3].body, "3");
    hf_batch_free(b);
    teardown();
}

TEST(lua_partitions_are_apart_and_a_revoked_one_fails_clearly)
{
    const char *code =
        "return function(events, context)\n"
        "  local s = context.bindings.state\n"
        "  s:set('p', events[1].partition)\n"
        "end\n";
    CHECK(setup(code, "many", 1, NULL) == 0);
    ready(0);
    ready(1);
    const char *ev[] = {"{}"};
    hf_batch_t *b = run(0, ev, 1);
    hf_batch_free(b);
    b = run(1, ev, 1);
    hf_batch_free(b);
    CHECK_STR(value_of(0, "p"), "0");
    CHECK_STR(value_of(1, "p"), "1");
    hf_state_drop(store(), 1);
    b = run(1, ev, 1);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK_HAS(b->error, "bindings.state:set: the state of partition 1 is not held by this "
                        "instance");
    CHECK_INT(b->outputs_n, 0);
    hf_batch_free(b);
    teardown();
}

TEST(lua_bound_fails_the_invocation_with_the_setting_named)
{
    /* each key: 1 + 1002 + 64 bytes; the bound takes three */
    const char *code =
        "return function(events, context)\n"
        "  local s = context.bindings.state\n"
        "  local big = string.rep('x', 1000)\n"
        "  for _, k in ipairs(events[1].body.keys) do s:set(k, big) end\n"
        "end\n";
    CHECK(setup(code, "many", 1, "\"stateMaxBytes\": 4096") == 0);
    ready(0);
    const char *two[] = {"{\"keys\":[\"a\",\"b\"]}"};
    hf_batch_t *b = run(0, two, 1);
    CHECK_INT(b->status, HF_BATCH_OK);
    hf_batch_free(b);
    /* one more fits; the set that takes it over fails at once, naming the key, and the
       invocation's other writes are dropped with it */
    const char *more[] = {"{\"keys\":[\"c\",\"d\"]}"};
    b = run(0, more, 1);
    CHECK_INT(b->status, HF_BATCH_FAILED);
    CHECK_HAS(b->error, "bindings.state:set: key \"d\" would take the state of partition 0 to "
                        "4268 bytes, over extensions.eventHubs.stateMaxBytes (4096)");
    CHECK_INT(b->outputs_n, 0);
    CHECK_STR(value_of(0, "c"), "(missing)");
    hf_batch_free(b);
    /* replacing and deleting keys count what they free */
    const char *again[] = {"{\"keys\":[\"a\",\"b\",\"a\",\"c\"]}"};
    b = run(0, again, 1);
    CHECK_INT(b->status, HF_BATCH_OK);
    hf_batch_free(b);
    CHECK_STR(value_of(0, "c"), value_of(0, "b"));
    CHECK(strcmp(value_of(0, "c"), "(missing)") != 0);
    teardown();
}

TEST(lua_refused_set_caught_with_pcall_leaves_the_invocation_as_it_was)
{
    const char *code =
        "return function(events, context)\n"
        "  local s = context.bindings.state\n"
        "  s:set('small', 1)\n"
        "  local ok, err = pcall(s.set, s, 'big', string.rep('x', 5000))\n"
        "  assert(not ok and err:find('stateMaxBytes'))\n"
        "  assert(s:get('big') == nil)\n"
        "  s:set('small2', 2)\n"
        "end\n";
    CHECK(setup(code, "many", 1, "\"stateMaxBytes\": 4096") == 0);
    ready(0);
    const char *ev[] = {"{}"};
    hf_batch_t *b = run(0, ev, 1);
    CHECK_STR(b->error ? b->error : "", "");
    CHECK_INT(b->outputs_n, 2);
    CHECK_STR(value_of(0, "big"), "(missing)");
    CHECK_STR(value_of(0, "small2"), "2");
    size_t keys, bytes;
    hf_state_stats(store(), 0, &keys, &bytes);
    CHECK_INT(keys, 2);
    hf_batch_free(b);
    teardown();
}

TEST(lua_bad_keys_and_values_are_one_clear_error)
{
    const char *code =
        "return function(events, context)\n"
        "  local s = context.bindings.state\n"
        "  local what = events[1].body.what\n"
        "  if what == 'number' then s:get(1)\n"
        "  elseif what == 'empty' then s:set('', 1)\n"
        "  elseif what == 'function' then s:set('k', { f = print })\n"
        "  elseif what == 'dot' then s.get('k')\n"
        "  elseif what == 'huge' then s:set('k', string.rep('x', 1000001)) end\n"
        "end\n";
    CHECK(setup(code, "many", 0, NULL) == 0);
    struct { const char *ev, *msg; } cases[] = {
        {"{\"what\":\"number\"}", "bindings.state:get: the key must be a string, got number"},
        {"{\"what\":\"empty\"}", "bindings.state:set: the key is empty"},
        {"{\"what\":\"function\"}", "bindings.state:set: cannot encode the value of key \"k\" "
                                    "as JSON: cannot encode a function"},
        {"{\"what\":\"dot\"}", "call it with a colon"},
        {"{\"what\":\"huge\"}", "over the 1000000-byte limit of an Event Hubs event"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *ev[] = {cases[i].ev};
        hf_batch_t *b = run(0, ev, 1);
        CHECK_INT(b->status, HF_BATCH_FAILED);
        CHECK_HAS(b->error, cases[i].msg);
        hf_batch_free(b);
    }
    teardown();
}

TEST(lua_without_a_broker_keeps_state_and_sends_nothing)
{
    /* hubfn run: every partition is there, writes stay in memory */
    const char *code =
        "return function(events, context)\n"
        "  local s = context.bindings.state\n"
        "  for _, ev in ipairs(events) do s:set('n', (s:get('n') or 0) + 1) end\n"
        "end\n";
    CHECK(setup(code, "many", 0, NULL) == 0);
    const char *ev[] = {"{}", "{}", "{}"};
    hf_batch_t *b = run(7, ev, 3);
    CHECK_INT(b->status, HF_BATCH_OK);
    CHECK_INT(b->outputs_n, 0);
    hf_batch_free(b);
    b = run(7, ev, 2);
    hf_batch_free(b);
    CHECK_STR(value_of(7, "n"), "5");
    teardown();
}

TEST(load_refuses_special_names)
{
    const char *fnjson = "{\"bindings\":["
                         "{\"type\":\"eventHubTrigger\",\"direction\":\"in\",\"name\":\"e\","
                         "\"eventHubName\":\"in\",\"connection\":\"C\"},"
                         "{\"type\":\"eventHubState\",\"direction\":\"inout\","
                         "\"name\":\"$return\",\"eventHubName\":\"st\",\"connection\":\"C\"}]}";
    const char *host = "{\"version\":\"2.0\"}";
    hf_app_file_t files[] = {
        {"host.json", host, strlen(host)},
        {"f/function.json", fnjson, strlen(fnjson)},
        {"f/handler.lua", "return function() end", 21},
    };
    hf_app_free(&app);
    CHECK_INT(hf_app_load_mem(&app, "/mem", files, 3, NULL, err, sizeof(err)), -1);
    CHECK_HAS(err, "f/function.json: bindings[1].name: \"$return\" cannot name an "
                   "eventHubState binding");
    hf_app_free(&app);
}

TEST_MAIN()
