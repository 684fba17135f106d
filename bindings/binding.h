/*
 * What a binding type is. A binding type (function.json "type": "eventHubTrigger",
 * "eventHub", ...) is one constant hf_binding_type_t in one file under bindings/, listed once
 * in bindings/registry.c. The host, the app loader and the Lua layer reach types only
 * through this table of callbacks, as Fluent Bit reaches its plugins: adding a type touches
 * nothing else. bindings/README.md walks through a complete small type.
 *
 * A type has three sides, each optional:
 *   - load (app.c, while reading function.json): its option table fills b->cfg, then
 *     `load` checks what the table cannot (a connection to resolve, a URL) and `unload`
 *     frees it again;
 *   - Lua (a worker thread, during an invocation): `lua_fields` and `lua_methods` make
 *     context.bindings.NAME, and `send` turns one value sent from Lua (or returned through
 *     $return) into an hf_output_t on the batch; `print` shows an output in `hubfn run`;
 *   - host (the loop thread of `hubfn start`): one instance per host serves every binding
 *     of the type (`start` .. `close`). A trigger fetches events and hands them to the
 *     pipeline (runtime/pipeline.h), which calls back when ranges are done; an output
 *     delivers the messages the pipeline gives it (`deliver`) and reports each outcome with
 *     hf_delivery_report.
 * A type talks to the host only through runtime/core.h (the loop, the app, metrics, the
 * pipeline, and hf_core_fail to stop the host on a failure waiting cannot fix).
 */
#ifndef HF_BINDING_H
#define HF_BINDING_H

#include <lua.h>
#include <lauxlib.h>
#include <stdio.h>

#include "app.h"
#include "batch.h"
#include "core.h"
#include "json.h"
#include "options.h"

typedef struct hf_delivery hf_delivery_t;   /* runtime/pipeline.h */

/* What app.c offers a type's `load`: the function being loaded and its settings. */
typedef struct hf_load_ctx {
    const hf_app_t *app;
    const hf_app_opts_t *opts;
    const hf_function_t *fn;     /* the function (name, dir, disabled); its bindings are
                                    still being read */
    const char *file;            /* "functions/router/function.json", for messages */
    const char *prefix;          /* "bindings[1].", for messages */
    /* Resolve the connection named by setting `name` (the binding's field `field`):
       *conn gets the app's shared connection (NULL when connections are not resolved, or
       when `optional` and the setting is missing), *entity a malloc'd EntityPath or NULL.
       -1 with the message in err. */
    int (*connection)(struct hf_load_ctx *ctx, const char *field, const char *name,
                      int optional, hf_conn_t **conn, char **entity, char *err, size_t errsz);
    /* Add a warning line for the CLI to log. */
    void (*warn)(struct hf_load_ctx *ctx, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
    void *ud;
} hf_load_ctx_t;

typedef enum {
    HF_FAMILY_OTHER,
    HF_FAMILY_EVENTHUB           /* b->cfg starts with hf_eventhub_cfg_t (bindings/eventhub.h):
                                    reaches a hub through a connection; the embedded broker
                                    creates its hub */
} hf_binding_family_t;

struct hf_binding_type {
    const char *name;            /* function.json "type" (matched in any case); NULL for a
                                    host service with no binding (the embedded broker) */
    hf_direction_t direction;
    hf_binding_family_t family;
    const hf_option_t *options;  /* the keys of its function.json binding, besides type,
                                    direction and name (and cardinality and dataType for a
                                    trigger); NULL-terminated */
    size_t cfg_size;             /* size of the struct the options fill (b->cfg) */
    const char *summary;         /* one line for docs and messages */

    /* ---- load (app.c) ---- */
    /* Check and finish b->cfg once the options are read. -1 with one line in err (the
       loader puts the file in front). */
    int (*load)(hf_binding_t *b, hf_load_ctx_t *ctx, char *err, size_t errsz);
    /* Free what `load` allocated in b->cfg beyond the options. */
    void (*unload)(hf_binding_t *b);
    /* 1 when a changed binding can be applied by reloading the function (hot reload);
       NULL: only when the options are equal. */
    int (*same)(const hf_binding_t *a, const hf_binding_t *b);
    /* What it reaches, for messages: "hub crm-updates". */
    const char *(*describe)(const hf_binding_t *b, char *buf, size_t bufsz);

    /* ---- Lua (worker thread) ---- */
    /* Set the fields of context.bindings.NAME (the table on top of the stack) besides
       `name`. */
    void (*lua_fields)(lua_State *L, const hf_binding_t *b);
    /* Methods of context.bindings.NAME besides send; arg 1 is the binding table
       (hf_lua_binding() finds the binding and the invocation). */
    const luaL_Reg *lua_methods;
    /* Outputs: fill *out from the value at stack index `value` and the options table at
       `opts` (0: none); raise a Lua error for a bad value. The host sets out->binding and
       keeps *out when this returns. */
    void (*send)(lua_State *L, const hf_binding_t *b, int value, int opts, hf_output_t *out);
    /* The keys send's options table takes (NULL-terminated); any other gets a warning,
       once per worker, with the nearest one. */
    const char *const *send_options;
    /* hubfn run: the output as one JSON line (no newline), instead of delivering it. */
    void (*print)(const hf_binding_t *b, const hf_output_t *out, hf_buf_t *line);
    /* Free what `send` put in out->ext. */
    void (*free_ext)(void *ext);
    /* hubfn run --live: deliver one message now, blocking, with the type's own retries.
       0, or -1 with why. NULL: the type's messages are only printed. */
    int (*deliver_now)(const hf_binding_t *b, const hf_output_t *out, char *why, size_t whysz);
    /* The handler of an invocation returned (and its $return value was sent): make what the
       invocation did through the binding final, e.g. add its messages to the batch with
       hf_lua_add_output. Raising a Lua error here fails the invocation (its outputs are
       dropped). Not called for an invocation that failed. */
    void (*lua_finish)(lua_State *L, const hf_binding_t *b);
    /* hubfn run --state FILE: read what the type keeps between events from `in` (JSON
       lines; `path` for messages), before the first event; write it to `out` after the
       last. -1 with one line in err. */
    int (*run_load)(const hf_function_t *fn, const hf_binding_t *b, FILE *in, const char *path,
                    char *err, size_t errsz);
    int (*run_save)(const hf_function_t *fn, const hf_binding_t *b, FILE *out, char *err,
                    size_t errsz);

    /* ---- host (loop thread) ---- */
    /* Start serving every binding of this type in the app (called only when the app has
       one, or always for a service). *state is passed to every call below. */
    int (*start)(hf_core_t *core, void **state, char *err, size_t errsz);
    /* The host stops: take no new work (triggers stop fetching). */
    void (*drain)(void *state);
    /* Nothing in flight (a drain may end). NULL: always idle. */
    int (*idle)(void *state);
    /* --exit-on-eof: everything assigned is consumed and checkpointed. NULL: not a trigger. */
    int (*at_eof)(void *state);
    /* Release everything (after a drain, or when the host gives up: `abandon`). */
    void (*close)(void *state, int abandon);
    /* 1 when ready for work, else 0 with what it waits for in why. NULL: ready. */
    int (*ready)(void *state, char *why, size_t whysz);
    /* Set gauges read at scrape time. */
    void (*collect)(void *state);
    /* Add to the summary line of `hubfn start`. */
    void (*stats)(void *state, hf_host_stats_t *add);
    /* Outputs: deliver message `i` of delivery d (hf_delivery_msg). Report it once with
       hf_delivery_report, now or later on the loop thread. */
    void (*deliver)(void *state, hf_delivery_t *d, size_t i);
    /* Serve delivery results now, waiting up to timeout_ms for one (the loop is blocked
       while a revoked partition's batches finish). */
    void (*poll)(void *state, int timeout_ms);
    /* Messages handed over and not yet reported. */
    size_t (*in_flight)(void *state);
    /* Backpressure: 1 while binding b takes no more messages; the pipeline then hands no
       new batches to the partitions of b's function until the type calls
       hf_pipeline_resume (runtime/pipeline.h). */
    int (*full)(void *state, const hf_binding_t *b);
    /* Partition `partition` of function fn_index's input hub was assigned to this instance
       (the trigger says so through hf_core_partition_assigned): load what the type keeps
       per partition. Returns how many holds it puts on the partition (0: none): no event
       of a held partition reaches a handler until the type has called
       hf_core_partition_ready as many times. */
    int (*partition_assigned)(void *state, int fn_index, int32_t partition);
    /* ... revoked or lost (hf_core_partition_revoked, after its last checkpoint): drop what
       the type keeps for it, and put no more holds on it. */
    void (*partition_revoked)(void *state, int fn_index, int32_t partition);
    /* Triggers: one hold on the partition was released (hf_core_partition_ready). */
    void (*partition_ready)(void *state, int fn_index, int32_t partition);
};

/* Every type, in start order (registry.c); NULL-terminated. */
extern const hf_binding_type_t *const hf_binding_types[];

/* The type named `name` (any case), or NULL. */
const hf_binding_type_t *hf_binding_type_find(const char *name);
/* "eventHubTrigger (direction in), eventHub (direction out) and ..." for messages. */
const char *hf_binding_types_list(char *buf, size_t bufsz);

#endif
