/*
 * Function app model: host.json, function.json files, local.settings.json and the
 * environment, resolved into one immutable structure the host runs from.
 *
 * Loading never prints: every problem is one human line in the caller's buffer naming
 * the file, the field and what to do, and the loader returns -1 (the CLI exits 2).
 */
#ifndef HF_APP_H
#define HF_APP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conn.h"
#include "datetime.h"   /* hf_duration_parse, hf_time_parse: host.json's forms */
#include "log.h"        /* hf_log_level_t */
#include "options.h"

typedef enum { HF_CARD_ONE, HF_CARD_MANY } hf_cardinality_t;
typedef enum { HF_DATA_JSON, HF_DATA_STRING, HF_DATA_BINARY } hf_datatype_t;
typedef enum { HF_OFFSET_FROM_START, HF_OFFSET_FROM_END, HF_OFFSET_FROM_ENQUEUED_TIME } hf_offset_type_t;
/* The most batches of one partition in flight (extensions.eventHubs.partitionConcurrency). */
#define HF_MAX_PARTITION_CONCURRENCY 256
/* extensions.eventHubs.orderingKey: which events of a partition keep their order. */
typedef enum { HF_ORDER_PARTITION_KEY, HF_ORDER_NONE, HF_ORDER_BODY } hf_ordering_t;
typedef enum { HF_DIR_IN, HF_DIR_OUT, HF_DIR_INOUT } hf_direction_t;

typedef struct hf_kv {
    char *key;
    char *value;
} hf_kv_t;

/* host.json, after AzureFunctionsJobHost__a__b overrides. Filled from the option table in
   app.c (hf_app_host_options), which holds every key's default, range and help. Durations
   in milliseconds. */
typedef struct hf_host_cfg {
    char *version;                   /* "2.0" */
    long long function_timeout_ms;   /* functionTimeout; -1 = none */
    int max_batch;                   /* extensions.eventHubs.maxEventBatchSize */
    int min_batch;                   /* minEventBatchSize */
    long long max_wait_ms;           /* maxWaitTime */
    int checkpoint_every;            /* batchCheckpointFrequency */
    int prefetch;                    /* prefetchCount */
    int max_event_bytes;             /* maxEventBytes (hubfn): largest output event */
    int partition_concurrency;       /* partitionConcurrency (hubfn): batches of a partition
                                        in flight at once */
    char *ordering_key;              /* orderingKey (hubfn): "partitionKey", "none",
                                        "body:PATH" */
    hf_ordering_t ordering;          /* what ordering_key says */
    char *ordering_path;             /* HF_ORDER_BODY: the PATH (jsonpath.h) */
    int bisect_on_error;             /* bisectOnError (hubfn) */
    int state_max_bytes;             /* stateMaxBytes (hubfn): an eventHubState binding's
                                        memory bound per partition */
    hf_offset_type_t initial_offset; /* initialOffsetOptions.type */
    long long initial_time_ms;       /* initialOffsetOptions.enqueuedTimeUtc, epoch ms */
    int lua_memory_mb;               /* extensions.lua.memoryLimitMB (hubfn); 0 = none */
    int lua_unsafe;                  /* extensions.lua.allowUnsafeLibraries (hubfn) */
    hf_strings_t kafka;              /* extensions.kafka: librdkafka properties, as strings */
    hf_log_level_t log_default;      /* logging.logLevel.default */
    hf_kv_t *log_levels;             /* other logging.logLevel entries ("Function.NAME") */
    size_t log_levels_n;
} hf_host_cfg_t;

typedef struct hf_binding_type hf_binding_type_t;   /* bindings/binding.h */

/* One entry of function.json "bindings". What it reaches (a hub, a URL) is the type's:
   b->cfg holds the options of the type's table (bindings/binding.h). */
typedef struct hf_binding {
    const hf_binding_type_t *type;
    char *name;                      /* Lua name; "$return" for the return value, "$deadLetter"
                                        for the events that failed for good */
    int index;                       /* position in function.json "bindings" */
    hf_direction_t direction;
    hf_cardinality_t cardinality;    /* triggers: default one */
    hf_datatype_t data_type;         /* triggers: default JSON */
    void *cfg;                       /* the type's options and what its load added */
} hf_binding_t;

/* A function-level "retry" policy (Azure's fixedDelay / exponentialBackoff). */
typedef enum { HF_RETRY_NONE, HF_RETRY_FIXED_DELAY, HF_RETRY_EXPONENTIAL } hf_retry_strategy_t;

typedef struct hf_retry {
    hf_retry_strategy_t strategy;    /* HF_RETRY_NONE when function.json has no "retry" */
    int max_retry_count;             /* maxRetryCount; -1 = retry forever */
    long long delay_ms;              /* fixedDelay: delayInterval */
    long long min_interval_ms;       /* exponentialBackoff: minimumInterval */
    long long max_interval_ms;       /* exponentialBackoff: maximumInterval */
} hf_retry_t;

typedef struct hf_function {
    char *name;                      /* folder name */
    char *dir;                       /* absolute folder path */
    char *script_path;               /* absolute path of scriptFile (default handler.lua) */
    char *entry_point;               /* entryPoint, default "run" */
    hf_binding_t trigger;            /* the trigger (the binding with direction in) */
    hf_binding_t *outputs;           /* every other binding, in function.json order */
    size_t outputs_n;
    int dead_letter;                 /* index in outputs of "$deadLetter", or -1 */
    int returns;                     /* index in outputs of "$return", or -1 */
    hf_log_level_t log_level;        /* logging.logLevel["Function.NAME"] or default */
    int disabled;                    /* AzureWebJobs.NAME.Disabled = true */
    hf_retry_t retry;                /* function-level "retry", strategy NONE when absent */
} hf_function_t;

typedef struct hf_app {
    char *dir;                       /* absolute app folder */
    hf_host_cfg_t host;
    hf_function_t *functions;        /* sorted by name */
    size_t functions_n;
    hf_conn_t **conns;               /* distinct resolved connections, one per setting name */
    size_t conns_n;
    hf_kv_t *values;                 /* local.settings.json "Values" */
    size_t values_n;
    char *lib_dir;                   /* absolute APP/lib when that folder exists, else NULL */
    int has_local_settings;          /* local.settings.json was found and read */
    char **warnings;                 /* lines for the CLI to log (ignored or ineffective
                                        settings, EntityPath overrides); no secrets */
    size_t warnings_n;
} hf_app_t;

typedef struct hf_app_opts {
    /* Resolve every binding's connection setting. Off for `hubfn run` (no broker). */
    int resolve_connections;
    /* Every connection is the embedded broker: settings named by "connection" need not
       exist, and hf_conn_t.kind is HF_CONN_EMBEDDED. */
    int embedded;
    /* Load only this function folder (hubfn run FUNCTION_DIR); NULL = all. */
    const char *only_function;
} hf_app_opts_t;

/* Load the app in folder `dir`. 0 on success; -1 with one line in err.
   `dir` NULL means "."; it is ignored when opts->only_function is set (the app folder is
   then that folder's parent). opts NULL = all zero. *app is overwritten (free an app
   loaded earlier first). On failure *app is left empty (no need to call hf_app_free,
   though it is harmless). Messages name files relative to
   `dir` as given ("host.json" for ".", "functions/router/function.json"). */
int hf_app_load(hf_app_t *app, const char *dir, const hf_app_opts_t *opts, char *err,
                size_t errsz);

/* One in-memory file for hf_app_load_mem(). */
typedef struct hf_app_file {
    const char *path;                /* app-relative: "host.json", "local.settings.json",
                                        "NAME/function.json", "NAME/handler.lua" */
    const char *text;                /* contents (need not be NUL-terminated) */
    size_t len;
} hf_app_file_t;

/* Load an app from in-memory files instead of folder `dir` (tests, fuzzing).
   Functions are the "NAME/function.json" entries; a scriptFile exists when its
   app-relative path is among the files; `dir` (default "/app") is used only to build
   app->dir and the absolute paths. The environment is still consulted. Everything else
   behaves as hf_app_load. */
int hf_app_load_mem(hf_app_t *app, const char *dir, const hf_app_file_t *files, size_t n,
                    const hf_app_opts_t *opts, char *err, size_t errsz);
void hf_app_free(hf_app_t *app);

/* Read only DIR/local.settings.json (dir NULL means ".") into app->values, by the rules
   hf_app_load follows, so that hf_app_setting works without an app (hubfn send).
   app->has_local_settings says whether the file exists. 0, or -1 with one line in err
   ("local.settings.json: ..."). *app is overwritten; free it with hf_app_free. */
int hf_app_load_settings(hf_app_t *app, const char *dir, char *err, size_t errsz);

/*
 * Look a setting up: the environment first, then local.settings.json Values.
 * Returns the value (owned by the environment or the app) or NULL.
 */
const char *hf_app_setting(const hf_app_t *app, const char *name);
/* Put local.settings.json Values into the environment where the environment does not
   already set them, as the Functions host does locally, so that a handler's os.getenv
   sees every app setting. Call before threads start. */
void hf_app_export_values(const hf_app_t *app);

/* The level for a log category ("Function.router", "Function.router.User",
   "Host.Results"): the logging.logLevel entry whose key is the category or its longest
   dot-separated prefix (case-insensitive), else logging.logLevel.default. */
hf_log_level_t hf_app_log_level(const hf_app_t *app, const char *category);

/* Is s a valid function (folder) name: a letter, then letters, digits, '-' or '_', at most
   128 characters (Azure's rule)? 1 or 0. */
int hf_app_valid_function_name(const char *s);

/* The option table of host.json (docs/configuration.md's tables and `hubfn new` come from
   it). */
const hf_option_t *hf_app_host_options(void);
/* The options every binding has besides its type's (type, direction, name), and those of
   every trigger (cardinality, dataType). */
const hf_option_t *hf_app_binding_options(void);
const hf_option_t *hf_app_trigger_options(void);
/* The option table of function.json's own keys (scriptFile, entryPoint, disabled, retry,
   bindings). */
const hf_option_t *hf_app_function_options(void);
/* The reference of a settings topic as Markdown (docs/configuration.md holds the same
   tables; tests/unit/test_options.c checks they agree): "host.json", "function.json",
   "bindings" (keys of every binding), "triggers" (keys of every trigger) or a binding type
   ("eventHub"). -1 for an unknown topic. */
int hf_app_settings_doc(const char *topic, FILE *out);
/* A binding's description for messages ("hub crm-updates"), from its type. */
const char *hf_binding_describe(const hf_binding_t *b, char *buf, size_t bufsz);

#endif
