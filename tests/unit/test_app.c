/* Unit tests of the function-app loader: host.json, function.json, local.settings.json,
   settings, overrides, connections as bindings use them, durations, times, log levels. */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "eventhub.h"
#include "test.h"

extern char **environ;

#define EH(b) hf_eventhub_cfg(b)

static char root[256];      /* the temp folder of the current test */
static char app_dir[300];   /* root/app */
static char cwd0[1024];
static hf_app_t app;
static char err[1024];

static const char KEY[] = "c2VjcmV0LWtleS1ub3QtdG8tc2hvdy0xMjM0NTY3ODk=";
#define CONN_STR(extra) "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=send;" \
                        "SharedAccessKey=c2VjcmV0LWtleS1ub3QtdG8tc2hvdy0xMjM0NTY3ODk=" extra

/* Remove every variable a test may have set (HFT_*, AzureFunctionsJobHost*, AzureWebJobs*). */
static void reset_env(void)
{
    char *names[256];
    size_t n = 0;
    for (char **e = environ; e && *e && n < 256; e++) {
        if (!strncmp(*e, "HFT_", 4) || !strncasecmp(*e, "AzureFunctionsJobHost", 21) ||
            !strncmp(*e, "AzureWebJobs", 12)) {
            const char *eq = strchr(*e, '=');
            names[n++] = strndup(*e, eq ? (size_t)(eq - *e) : strlen(*e));
        }
    }
    for (size_t i = 0; i < n; i++) {
        unsetenv(names[i]);
        free(names[i]);
    }
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

/* Write root/app/REL (creating folders) with printf-style contents. */
static void put(const char *rel, const char *fmt, ...)
{
    char path[600];
    va_list ap;
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", app_dir, rel);
    for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        mkdir(path, 0755);
        *s = '/';
    }
    f = fopen(path, "w");
    if (!f)
        abort();
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

/* A fresh app folder with host.json {"version": "2.0"} and nothing else. */
static void fresh(void)
{
    const char *tmp = getenv("HF_TEST_TMP");
    if (!cwd0[0] && !getcwd(cwd0, sizeof(cwd0)))
        abort();
    if (chdir(cwd0) != 0)
        abort();
    if (root[0])
        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    snprintf(root, sizeof(root), "%s/hf-app-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root))
        abort();
    snprintf(app_dir, sizeof(app_dir), "%s/app", root);
    mkdir(app_dir, 0755);
    reset_env();
    hf_app_free(&app);
    err[0] = '\0';
    put("host.json", "{\"version\": \"2.0\"}");
}

/* A function NAME whose trigger reads hub "in-hub" through setting HFT_CONN. */
static void simple_fn(const char *name)
{
    char rel[200];
    snprintf(rel, sizeof(rel), "%s/function.json", name);
    put(rel, "{\"bindings\":[{\"type\":\"eventHubTrigger\",\"direction\":\"in\","
             "\"name\":\"events\",\"eventHubName\":\"in-hub\",\"connection\":\"HFT_CONN\"}]}");
    snprintf(rel, sizeof(rel), "%s/handler.lua", name);
    put(rel, "return function(events, context) end\n");
}

/* function.json of "router" with the given bindings array text. */
static void router(const char *bindings)
{
    put("router/function.json", "{\"bindings\": %s}", bindings);
    put("router/handler.lua", "return function() end\n");
}

static int load_opts(int resolve, int embedded, const char *only)
{
    hf_app_opts_t o = { .resolve_connections = resolve, .embedded = embedded,
                        .only_function = only };
    int rc;
    hf_app_free(&app);
    /* load "." from inside the app so messages read "host.json: ..." */
    if (chdir(app_dir) != 0)
        abort();
    rc = hf_app_load(&app, ".", &o, err, sizeof(err));
    if (chdir(cwd0) != 0)
        abort();
    return rc;
}

static int load(void)
{
    return load_opts(0, 0, NULL);
}

__attribute__((destructor)) static void cleanup(void)
{
    hf_app_free(&app);
    if (root[0] && cwd0[0] && chdir(cwd0) == 0)
        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---------------------------------------------------------------------------------- */

TEST(defaults_everywhere)
{
    fresh();
    simple_fn("router");
    CHECK_INT(load(), 0);
    CHECK_INT(app.host.function_timeout_ms, 300000);
    CHECK_INT(app.host.max_batch, 100);
    CHECK_INT(app.host.min_batch, 1);
    CHECK_INT(app.host.max_wait_ms, 60000);
    CHECK_INT(app.host.checkpoint_every, 1);
    CHECK_INT(app.host.prefetch, 300);
    CHECK_INT(app.host.initial_offset, HF_OFFSET_FROM_START);
    CHECK_INT(app.host.kafka.n, 0);
    CHECK_INT(app.host.log_default, HF_LOG_INFO);
    CHECK_INT(app.host.log_levels_n, 0);
    CHECK_INT(app.functions_n, 1);
    hf_function_t *f = &app.functions[0];
    CHECK_STR(f->name, "router");
    CHECK(app.dir[0] == '/');
    CHECK(strstr(f->script_path, "/app/router/handler.lua") != NULL);
    CHECK(f->script_path[0] == '/');
    CHECK(f->dir[0] == '/' && strstr(f->dir, "/app/router"));
    CHECK_STR(f->entry_point, "run");
    CHECK_STR(f->trigger.name, "events");
    CHECK_STR(EH(&f->trigger)->hub, "in-hub");
    CHECK_STR(EH(&f->trigger)->connection, "HFT_CONN");
    CHECK(EH(&f->trigger)->conn == NULL);
    CHECK_STR(EH(&f->trigger)->consumer_group, "$Default");
    CHECK_INT(f->trigger.cardinality, HF_CARD_ONE);
    CHECK_INT(f->trigger.data_type, HF_DATA_JSON);
    CHECK_INT(f->outputs_n, 0);
    CHECK_INT(f->disabled, 0);
    CHECK_INT(f->log_level, HF_LOG_INFO);
    CHECK_INT(f->retry.strategy, HF_RETRY_NONE);
    CHECK(app.lib_dir == NULL);
    CHECK_INT(app.has_local_settings, 0);
    CHECK_INT(app.conns_n, 0);
}

TEST(functions_sorted_and_non_functions_skipped)
{
    fresh();
    simple_fn("zeta");
    simple_fn("alpha");
    simple_fn("lib");                       /* lib is never a function */
    simple_fn("Mid");
    put("notes/readme.txt", "not a function");
    put(".hidden/function.json", "{ broken");
    put("lib/util.lua", "return {}");
    CHECK_INT(load(), 0);
    CHECK_INT(app.functions_n, 3);
    CHECK_STR(app.functions[0].name, "Mid");
    CHECK_STR(app.functions[1].name, "alpha");
    CHECK_STR(app.functions[2].name, "zeta");
    CHECK(app.lib_dir && strstr(app.lib_dir, "/app/lib"));
}

TEST(host_json_every_field)
{
    fresh();
    simple_fn("router");
    put("host.json",
        "{ \"version\": \"2.0\", \"functionTimeout\": \"00:00:30\",\n"
        "  \"extensions\": { \"eventHubs\": { \"maxEventBatchSize\": 50, \"minEventBatchSize\": 5,\n"
        "     \"maxWaitTime\": \"00:00:02.500\", \"batchCheckpointFrequency\": 3, \"prefetchCount\": 0,\n"
        "     \"initialOffsetOptions\": { \"type\": \"FROMEND\" } },\n"
        "    \"kafka\": { \"session.timeout.ms\": \"30000\", \"fetch.wait.max.ms\": 50,\n"
        "                 \"enable.partition.eof\": true, \"client.rack\": 0.5 } },\n"
        "  \"logging\": { \"logLevel\": { \"default\": \"warning\", \"Function.router\": \"Debug\",\n"
        "                 \"Host.Results\": \"none\" } } }");
    CHECK_INT(load(), 0);
    CHECK_INT(app.host.function_timeout_ms, 30000);
    CHECK_INT(app.host.max_batch, 50);
    CHECK_INT(app.host.min_batch, 5);
    CHECK_INT(app.host.max_wait_ms, 2500);
    CHECK_INT(app.host.checkpoint_every, 3);
    CHECK_INT(app.host.prefetch, 0);
    CHECK_INT(app.host.initial_offset, HF_OFFSET_FROM_END);
    CHECK_INT(app.host.kafka.n, 4);
    CHECK_STR(app.host.kafka.keys[0], "session.timeout.ms");
    CHECK_STR(app.host.kafka.values[0], "30000");
    CHECK_STR(app.host.kafka.values[1], "50");
    CHECK_STR(app.host.kafka.values[2], "true");
    CHECK_STR(app.host.kafka.values[3], "0.5");
    CHECK_INT(app.host.log_default, HF_LOG_WARN);
    CHECK_INT(app.host.log_levels_n, 2);
    CHECK_STR(app.host.log_levels[0].key, "Function.router");
    CHECK_STR(app.host.log_levels[0].value, "Debug");
    CHECK_STR(app.host.log_levels[1].value, "None");
    CHECK_INT(app.functions[0].log_level, HF_LOG_DEBUG);
    CHECK_INT(hf_app_log_level(&app, "Host.Results"), HF_LOG_NONE);
    CHECK_INT(hf_app_log_level(&app, "Host.Results.Extra"), HF_LOG_NONE);
    CHECK_INT(hf_app_log_level(&app, "Host.ResultsX"), HF_LOG_WARN);
    CHECK_INT(hf_app_log_level(&app, "Function.router.User"), HF_LOG_DEBUG);
}

TEST(env_overrides_host_json)
{
    fresh();
    simple_fn("router");
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"maxEventBatchSize\":7},"
                     "\"kafka\":{\"fetch.wait.max.ms\":\"500\"}}}");
    setenv("AzureFunctionsJobHost__extensions__eventHubs__maxEventBatchSize", "10", 1);
    setenv("AzureFunctionsJobHost__functionTimeout", "00:01:00", 1);
    setenv("AzureFunctionsJobHost__extensions__kafka__fetch.wait.max.ms", "50", 1);
    setenv("AzureFunctionsJobHost__extensions__kafka__linger.ms", "5", 1);
    setenv("AzureFunctionsJobHost__logging__logLevel__default", "Debug", 1);
    setenv("AZUREFUNCTIONSJOBHOST__EXTENSIONS__EVENTHUBS__PREFETCHCOUNT", "42", 1);
    setenv("AzureFunctionsJobHost__extensions__eventHubs__initialOffsetOptions__type",
           "fromEnqueuedTime", 1);
    setenv("AzureFunctionsJobHost__extensions__eventHubs__initialOffsetOptions__enqueuedTimeUtc",
           "2020-10-26T20:31Z", 1);
    CHECK_INT(load(), 0);
    CHECK_INT(app.host.max_batch, 10);
    CHECK_INT(app.host.function_timeout_ms, 60000);
    CHECK_INT(app.host.prefetch, 42);
    CHECK_INT(app.host.log_default, HF_LOG_DEBUG);
    CHECK_INT(app.functions[0].log_level, HF_LOG_DEBUG);
    CHECK_INT(app.host.initial_offset, HF_OFFSET_FROM_ENQUEUED_TIME);
    CHECK_INT(app.host.initial_time_ms, 1603744260000LL);
    CHECK_INT(app.host.kafka.n, 2);
    CHECK_STR(app.host.kafka.keys[0], "fetch.wait.max.ms");
    CHECK_STR(app.host.kafka.values[0], "50");
    CHECK_STR(app.host.kafka.keys[1], "linger.ms");
    CHECK_STR(app.host.kafka.values[1], "5");
}

TEST(local_settings_overrides_and_env_wins)
{
    fresh();
    simple_fn("router");
    put("local.settings.json",
        "{\"IsEncrypted\": false, \"Values\": {\n"
        "  \"AzureFunctionsJobHost__extensions__eventHubs__maxEventBatchSize\": \"20\",\n"
        "  \"AzureFunctionsJobHost__extensions__eventHubs__minEventBatchSize\": \"4\",\n"
        "  \"HFT_PLAIN\": \"from-file\", \"HFT_BOTH\": \"from-file\", \"HFT_NUM\": 12,\n"
        "  \"HFT_BOOL\": true }}");
    setenv("AzureFunctionsJobHost__extensions__eventHubs__maxEventBatchSize", "30", 1);
    setenv("HFT_BOTH", "from-env", 1);
    CHECK_INT(load(), 0);
    CHECK_INT(app.has_local_settings, 1);
    CHECK_INT(app.host.max_batch, 30);
    CHECK_INT(app.host.min_batch, 4);
    CHECK_STR(hf_app_setting(&app, "HFT_PLAIN"), "from-file");
    CHECK_STR(hf_app_setting(&app, "HFT_BOTH"), "from-env");
    CHECK_STR(hf_app_setting(&app, "HFT_NUM"), "12");
    CHECK_STR(hf_app_setting(&app, "HFT_BOOL"), "true");
    CHECK(hf_app_setting(&app, "HFT_NOWHERE") == NULL);
    CHECK(app.values_n == 6);
}

TEST(wrong_type_names_field_and_override_source)
{
    fresh();
    simple_fn("router");
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"maxEventBatchSize\":\"ten\"}}}");
    CHECK_INT(load(), -1);
    CHECK_STR(err, "host.json: extensions.eventHubs.maxEventBatchSize: expected a positive "
                   "integer, got \"ten\"");
    fresh();
    simple_fn("router");
    setenv("AzureFunctionsJobHost__extensions__eventhubs__maxeventbatchsize", "0", 1);
    CHECK_INT(load(), -1);
    CHECK_STR(err, "host.json: extensions.eventHubs.maxEventBatchSize: expected a positive "
                   "integer, got \"0\" (set by environment variable "
                   "AzureFunctionsJobHost__extensions__eventhubs__maxeventbatchsize)");
}

TEST(bad_duration_message)
{
    fresh();
    simple_fn("router");
    put("host.json", "{\"version\":\"2.0\",\"functionTimeout\":\"5 minutes\"}");
    CHECK_INT(load(), -1);
    CHECK_STR(err, "host.json: functionTimeout: \"5 minutes\" is not a duration (use "
                   "hh:mm:ss, e.g. \"00:05:00\")");
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"maxWaitTime\":60}}}");
    CHECK_INT(load(), -1);
    CHECK_STR(err, "host.json: extensions.eventHubs.maxWaitTime: expected a duration such as "
                   "\"00:01:00\", got 60");
}

TEST(function_timeout_unbounded_and_days)
{
    fresh();
    simple_fn("router");
    put("host.json", "{\"version\":\"2.0\",\"functionTimeout\":\"-1\"}");
    CHECK_INT(load(), 0);
    CHECK_INT(app.host.function_timeout_ms, -1);
    put("host.json", "{\"version\":\"2.0\",\"functionTimeout\":null}");
    CHECK_INT(load(), 0);
    CHECK_INT(app.host.function_timeout_ms, -1);
    put("host.json", "{\"version\":\"2.0\",\"functionTimeout\":\"1.02:00:00\"}");
    CHECK_INT(load(), 0);
    CHECK_INT(app.host.function_timeout_ms, 93600000LL);
    put("host.json", "{\"version\":\"2.0\",\"functionTimeout\":\"00:00:00\"}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "functionTimeout: must be more than 0");
}

TEST(event_hubs_ranges)
{
    fresh();
    simple_fn("router");
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"maxWaitTime\":\"00:10:01\"}}}");
    CHECK_INT(load(), -1);
    CHECK_STR(err, "host.json: extensions.eventHubs.maxWaitTime: \"00:10:01\" is more than the "
                   "maximum of 00:10:00");
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"maxEventBatchSize\":10,"
                     "\"minEventBatchSize\":11}}}");
    CHECK_INT(load(), -1);
    CHECK_STR(err, "host.json: extensions.eventHubs.minEventBatchSize: 11 is larger than "
                   "maxEventBatchSize (10)");
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"maxEventBatchSize\":10,"
                     "\"minEventBatchSize\":10,\"maxWaitTime\":\"00:00:00\"}}}");
    CHECK_INT(load(), 0);
    CHECK_INT(app.host.min_batch, 10);
    CHECK_INT(app.host.max_wait_ms, 0);
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"batchCheckpointFrequency\":0}}}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "batchCheckpointFrequency: expected a positive integer, got 0");
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"prefetchCount\":-1}}}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "prefetchCount: expected an integer >= 0, got -1");
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"maxEventBatchSize\":2.5}}}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "got 2.5");
}

TEST(legacy_event_processor_options)
{
    fresh();
    simple_fn("router");
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"eventProcessorOptions\":"
                     "{\"maxBatchSize\":16,\"prefetchCount\":64}}}}");
    CHECK_INT(load(), 0);
    CHECK_INT(app.host.max_batch, 16);
    CHECK_INT(app.host.prefetch, 64);
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"eventProcessorOptions\":"
                     "{\"maxBatchSize\":16},\"maxEventBatchSize\":8}}}");
    CHECK_INT(load(), 0);
    CHECK_INT(app.host.max_batch, 8);
}

TEST(initial_offset_options)
{
    fresh();
    simple_fn("router");
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"initialOffsetOptions\":"
                     "{\"type\":\"fromEnqueuedTime\",\"enqueuedTimeUtc\":\"2020-10-26T20:31:00.123+02:00\"}}}}");
    CHECK_INT(load(), 0);
    CHECK_INT(app.host.initial_offset, HF_OFFSET_FROM_ENQUEUED_TIME);
    CHECK_INT(app.host.initial_time_ms, 1603744260000LL - 7200000 + 123);
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"initialOffsetOptions\":"
                     "{\"type\":\"fromEnqueuedTime\"}}}}");
    CHECK_INT(load(), -1);
    CHECK_STR(err, "host.json: extensions.eventHubs.initialOffsetOptions.enqueuedTimeUtc: "
                   "missing: a time is required when type is fromEnqueuedTime (e.g. "
                   "\"2020-10-26T20:31:00Z\")");
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"initialOffsetOptions\":"
                     "{\"type\":\"fromTheMiddle\"}}}}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "initialOffsetOptions.type: \"fromTheMiddle\" is not an offset type (use "
                   "fromStart, fromEnd or fromEnqueuedTime)");
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"initialOffsetOptions\":"
                     "{\"type\":\"fromEnqueuedTime\",\"enqueuedTimeUtc\":\"yesterday\"}}}}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "enqueuedTimeUtc: \"yesterday\" is not a time");
}

TEST(host_json_required_with_version)
{
    fresh();
    simple_fn("router");
    unlink(strcat(strcpy(err, app_dir), "/host.json"));
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "host.json: not found");
    put("host.json", "{\"extensions\":{}}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "host.json: version: missing");
    put("host.json", "{\"version\":\"1.0\"}");
    CHECK_INT(load(), -1);
    CHECK_STR(err, "host.json: version: \"1.0\" is not supported (use \"2.0\")");
    put("host.json", "[1]");
    CHECK_INT(load(), -1);
    CHECK_STR(err, "host.json: expected a JSON object, got an array");
}

TEST(invalid_json_line_and_column)
{
    fresh();
    simple_fn("router");
    /* relative app path "app": messages name "app/host.json" */
    CHECK(chdir(root) == 0);
    put("host.json", "{\n  \"version\": \"2.0\",\n  \"logging\": {\n  \"a\": 1 \"b\": 2 }\n}\n");
    hf_app_free(&app);
    CHECK_INT(hf_app_load(&app, "app", NULL, err, sizeof(err)), -1);
    CHECK_STR(err, "app/host.json:4:10: invalid JSON (expected ',' or '}')");
    CHECK_INT(hf_app_load(&app, "./app/", NULL, err, sizeof(err)), -1);
    CHECK_STR(err, "app/host.json:4:10: invalid JSON (expected ',' or '}')");
    CHECK(chdir(app_dir) == 0);
    CHECK_INT(hf_app_load(&app, ".", NULL, err, sizeof(err)), -1);
    CHECK_STR(err, "host.json:4:10: invalid JSON (expected ',' or '}')");
    CHECK(chdir(cwd0) == 0);
    put("host.json", "{\"version\": \"2.0\",\n \"x\": [1, 2\n");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "host.json:3:1: invalid JSON (expected ',' or ']', but the file ends)");
    put("host.json", "{\"version\": \"2.0\", \"x\": \"caf\xc3\xa9 \n\"}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "host.json:1:25: invalid JSON (unterminated string)");
    put("host.json", "");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "host.json:1:1: invalid JSON (the file is empty)");
    put("host.json", "{\"version\": \"2.0\"} x");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "host.json:1:20: invalid JSON (unexpected text after the end of the JSON value)");
}

TEST(comments_trailing_commas_and_bom_accepted)
{
    fresh();
    simple_fn("router");
    put("host.json", "\xEF\xBB\xBF// host settings\n{ \"version\": \"2.0\", /* the batch */\n"
                     "  \"extensions\": { \"eventHubs\": { \"maxEventBatchSize\": 9, }, },\n"
                     "  \"functions\": [ \"router\", ],\n}\n");
    CHECK_INT(load(), 0);
    CHECK_INT(app.host.max_batch, 9);
}

TEST(invalid_json_in_function_json)
{
    fresh();
    put("router/function.json", "{\"bindings\": [\n  {\"type\": \"eventHubTrigger\",,}\n]}");
    put("router/handler.lua", "return function() end");
    CHECK_INT(load(), -1);
    CHECK_STR(err, "router/function.json:2:30: invalid JSON (expected a string key)");
}

TEST(local_settings_errors)
{
    fresh();
    simple_fn("router");
    put("local.settings.json", "{\"IsEncrypted\": true, \"Values\": {}}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "local.settings.json: IsEncrypted is true, but encrypted settings are not "
                   "supported");
    put("local.settings.json", "{\"Values\": {\"HFT_X\": {\"nested\": 1}}}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "local.settings.json: Values.HFT_X: expected a string, got an object");
    put("local.settings.json", "{\"Values\": [\"a\"]}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "local.settings.json: Values: expected an object of strings, got an array");
    put("local.settings.json", "{\"Values\": {\"HFT_X\": \"1\"}, \"Host\": {\"LocalHttpPort\": 7071},"
                               " \"ConnectionStrings\": {}}");
    CHECK_INT(load(), 0);
}

TEST(setting_references_resolve)
{
    fresh();
    put("local.settings.json", "{\"Values\": {\"HFT_HUB\": \"file-hub\", \"HFT_GROUP\": \"grp\","
                               " \"HFT_A\": \"x\"}}");
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"events\",\"eventHubName\":\"%HFT_HUB%\","
           "\"consumerGroup\":\"%HFT_GROUP%-%HFT_ENV%\",\"connection\":\"HFT_CONN\"},"
           "{\"type\":\"eventHub\",\"direction\":\"out\",\"name\":\"out\","
           "\"eventHubName\":\"a%%b-%HFT_A%%HFT_A%\"}]");
    setenv("HFT_ENV", "env", 1);
    CHECK_INT(load(), -1);        /* "a%b-xx" is not a valid hub name */
    CHECK_HAS(err, "bindings[1].eventHubName: \"a%b-xx\" is not a valid event hub name");
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"events\",\"eventHubName\":\"%HFT_HUB%\","
           "\"consumerGroup\":\"%HFT_GROUP%-%HFT_ENV%%%\",\"connection\":\"HFT_CONN\"},"
           "{\"type\":\"eventHub\",\"direction\":\"out\",\"name\":\"out\","
           "\"eventHubName\":\"b-%HFT_A%%HFT_A%\"}]");
    CHECK_INT(load(), 0);
    CHECK_STR(EH(&app.functions[0].trigger)->hub, "file-hub");
    CHECK_STR(EH(&app.functions[0].trigger)->consumer_group, "grp-env%");
    CHECK_STR(EH(&app.functions[0].outputs[0])->hub, "b-xx");
    setenv("HFT_HUB", "env-hub", 1);           /* the environment beats the file */
    CHECK_INT(load(), 0);
    CHECK_STR(EH(&app.functions[0].trigger)->hub, "env-hub");
}

TEST(missing_setting_message)
{
    fresh();
    put("local.settings.json", "{\"Values\": {}}");
    router("[{\"type\":\"eventHubTrigger\",\"direction\":\"in\",\"name\":\"events\","
           "\"eventHubName\":\"%INPUT_HUB%\",\"connection\":\"HFT_CONN\"}]");
    unsetenv("INPUT_HUB");
    /* the app folder "functions" given relative, as the CLI does */
    CHECK(chdir(root) == 0);
    CHECK(rename("app", "functions") == 0);
    hf_app_free(&app);
    CHECK_INT(hf_app_load(&app, "functions", NULL, err, sizeof(err)), -1);
    CHECK(rename("functions", "app") == 0);
    CHECK(chdir(cwd0) == 0);
    CHECK_STR(err, "functions/router/function.json: bindings[0].eventHubName: app setting "
                   "\"INPUT_HUB\" is not set (looked in the environment and in "
                   "local.settings.json Values)");
    unlink(strcat(strcpy(err, app_dir), "/local.settings.json"));
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "app setting \"INPUT_HUB\" is not set (looked in the environment; there is "
                   "no local.settings.json)");
}

TEST(unterminated_setting_reference)
{
    fresh();
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"events\",\"eventHubName\":\"hub%OOPS\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "router/function.json: bindings[0].eventHubName: unterminated %NAME% "
                   "reference (write %% for a literal %)");
}

TEST(unknown_binding_type)
{
    fresh();
    router("[{\"type\":\"httpTrigger\",\"direction\":\"in\",\"name\":\"req\",\"x\":\"%NOPE%\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "router/function.json: bindings[0].type: unknown binding type "
                   "\"httpTrigger\" (hubfn supports eventHubTrigger (direction in), "
                   "eventHub (direction out)");
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"e\",\"eventHubName\":\"h\"},"
           "{\"type\":\"queue\",\"direction\":\"out\",\"name\":\"q\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "bindings[1].type: unknown binding type \"queue\"");
    router("[{\"direction\":\"in\",\"name\":\"e\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "bindings[0].type: missing");
}

TEST(trigger_count_and_directions)
{
    fresh();
    router("[{\"type\":\"eventHub\",\"direction\":\"out\",\"name\":\"o\",\"eventHubName\":\"h\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "router/function.json: bindings: no eventHubTrigger binding");
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"a\",\"eventHubName\":\"h\"},"
           "{\"type\":\"eventHubTrigger\",\"name\":\"b\",\"eventHubName\":\"h\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "bindings[1]: a second eventHubTrigger");
    router("[{\"type\":\"eventHubTrigger\",\"direction\":\"out\",\"name\":\"a\",\"eventHubName\":\"h\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "bindings[0].direction: \"out\" does not fit type eventHubTrigger");
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"a\",\"eventHubName\":\"h\"},"
           "{\"type\":\"eventHub\",\"direction\":\"in\",\"name\":\"b\",\"eventHubName\":\"h\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "bindings[1].direction: \"in\" does not fit type eventHub");
    put("router/function.json", "{\"scriptFile\": \"handler.lua\"}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "router/function.json: bindings: missing");
}

TEST(missing_event_hub_name)
{
    fresh();
    router("[{\"type\":\"eventHubTrigger\",\"direction\":\"in\",\"name\":\"events\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "router/function.json: bindings[0].eventHubName: missing eventHubName");
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"events\",\"eventHubName\":\"in\"},"
           "{\"type\":\"eventHub\",\"name\":\"out\",\"eventHubName\":\"\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "bindings[1].eventHubName: missing eventHubName");
    /* v1's "path" is accepted for eventHubName */
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"events\",\"path\":\"legacy-hub\"}]");
    CHECK_INT(load(), 0);
    CHECK_STR(EH(&app.functions[0].trigger)->hub, "legacy-hub");
}

TEST(entity_path_overrides_event_hub_name)
{
    fresh();
    setenv("HFT_CONN", CONN_STR(";EntityPath=real-hub"), 1);
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"events\",\"eventHubName\":\"other\","
           "\"connection\":\"HFT_CONN\"},"
           "{\"type\":\"eventHub\",\"direction\":\"out\",\"name\":\"out\",\"connection\":\"HFT_CONN\"}]");
    CHECK_INT(load_opts(1, 0, NULL), 0);
    CHECK_STR(EH(&app.functions[0].trigger)->hub, "real-hub");
    CHECK_STR(EH(&app.functions[0].outputs[0])->hub, "real-hub");   /* no eventHubName needed */
    CHECK(app.warnings_n >= 1);
    CHECK_HAS(app.warnings[0], "\"other\" is overridden by EntityPath \"real-hub\"");
    /* without resolving connections (hubfn run) EntityPath still applies */
    CHECK_INT(load_opts(0, 0, NULL), 0);
    CHECK_STR(EH(&app.functions[0].outputs[0])->hub, "real-hub");
    CHECK(EH(&app.functions[0].trigger)->conn == NULL);
}

TEST(connections_resolved_and_shared)
{
    fresh();
    setenv("HFT_CONN", CONN_STR(""), 1);
    setenv("HFT_LOCAL", "localhost:9092", 1);
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"events\",\"eventHubName\":\"in\","
           "\"connection\":\"HFT_CONN\",\"cardinality\":\"many\"},"
           "{\"type\":\"eventHub\",\"direction\":\"out\",\"name\":\"crm\",\"eventHubName\":\"crm\","
           "\"connection\":\"HFT_CONN\"},"
           "{\"type\":\"eventHub\",\"direction\":\"out\",\"name\":\"$return\",\"eventHubName\":\"r\","
           "\"connection\":\"HFT_LOCAL\"}]");
    simple_fn("second");
    CHECK_INT(load_opts(1, 0, NULL), 0);
    CHECK_INT(app.conns_n, 2);
    hf_function_t *r = &app.functions[0], *s = &app.functions[1];
    CHECK_STR(r->name, "router");
    CHECK(EH(&r->trigger)->conn && EH(&r->trigger)->conn == EH(&r->outputs[0])->conn);
    CHECK(EH(&s->trigger)->conn == EH(&r->trigger)->conn);
    CHECK_INT(EH(&r->trigger)->conn->kind, HF_CONN_EVENTHUBS);
    CHECK_STR(EH(&r->trigger)->conn->bootstrap, "ns1.servicebus.windows.net:9093");
    CHECK_INT(EH(&r->outputs[1])->conn->kind, HF_CONN_BOOTSTRAP);
    CHECK_STR(r->outputs[1].name, "$return");
    CHECK_INT(r->trigger.cardinality, HF_CARD_MANY);
    CHECK_INT(r->outputs_n, 2);
}

TEST(connection_errors)
{
    fresh();
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"events\",\"eventHubName\":\"in\"}]");
    CHECK_INT(load_opts(1, 0, NULL), -1);
    CHECK_HAS(err, "router/function.json: bindings[0].connection: missing");
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"events\",\"eventHubName\":\"in\","
           "\"connection\":\"HFT_CONN\"}]");
    CHECK_INT(load_opts(1, 0, NULL), -1);
    CHECK_HAS(err, "router/function.json: bindings[0].connection: app setting \"HFT_CONN\" is "
                   "not set (looked in the environment; there is no local.settings.json)");
    setenv("HFT_CONN__fullyQualifiedNamespace", "ns1.servicebus.windows.net", 1);
    CHECK_INT(load_opts(1, 0, NULL), -1);
    CHECK_HAS(err, "identity-based connection");
    setenv("HFT_CONN", "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=x;"
                       "SharedAccessKey=c2VjcmV0LWtleS1ub3QtdG8tc2hvdy0xMjM0NTY3ODk=;oops", 1);
    CHECK_INT(load_opts(1, 0, NULL), -1);
    CHECK_HAS(err, "bindings[0].connection: app setting \"HFT_CONN\" is not a valid connection "
                   "string: part 4 has no '='");
    CHECK(strstr(err, KEY) == NULL);
    setenv("HFT_CONN", "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKey=" 
                       "c2VjcmV0LWtleS1ub3QtdG8tc2hvdy0xMjM0NTY3ODk=", 1);
    CHECK_INT(load_opts(1, 0, NULL), -1);
    CHECK_HAS(err, "has no SharedAccessKeyName");
    CHECK(strstr(err, KEY) == NULL);
}

TEST(embedded_and_unresolved_modes)
{
    fresh();
    simple_fn("router");
    simple_fn("other");
    CHECK_INT(load_opts(1, 1, NULL), 0);       /* HFT_CONN need not exist */
    CHECK_INT(app.conns_n, 1);
    CHECK_INT(EH(&app.functions[0].trigger)->conn->kind, HF_CONN_EMBEDDED);
    CHECK_STR(EH(&app.functions[0].trigger)->conn->setting, "HFT_CONN");
    CHECK(EH(&app.functions[0].trigger)->conn == EH(&app.functions[1].trigger)->conn);
    setenv("HFT_CONN", "not a connection at all", 1);
    CHECK_INT(load_opts(1, 1, NULL), 0);       /* embedded ignores the value */
    CHECK_INT(load_opts(0, 0, NULL), 0);       /* hubfn run: not parsed, not needed */
    CHECK(EH(&app.functions[0].trigger)->conn == NULL);
    CHECK_STR(EH(&app.functions[0].trigger)->connection, "HFT_CONN");
    CHECK_INT(app.conns_n, 0);
}

TEST(outputs_names_unique_and_valid)
{
    fresh();
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"events\",\"eventHubName\":\"in\"},"
           "{\"type\":\"eventHub\",\"name\":\"Events\",\"eventHubName\":\"o\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "bindings[1].name: \"Events\" is already the name of bindings[0]");
    router("[{\"type\":\"eventHub\",\"name\":\"a\",\"eventHubName\":\"o\"},"
           "{\"type\":\"eventHubTrigger\",\"name\":\"events\",\"eventHubName\":\"in\"},"
           "{\"type\":\"eventHub\",\"name\":\"a\",\"eventHubName\":\"o2\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "bindings[2].name: \"a\" is used by another binding");
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"my-events\",\"eventHubName\":\"in\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "bindings[0].name: \"my-events\" is not a valid binding name");
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"$return\",\"eventHubName\":\"in\"}]");
    CHECK_INT(load(), -1);
    router("[{\"type\":\"eventHubTrigger\",\"eventHubName\":\"in\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "bindings[0].name: missing");
    /* the trigger may come anywhere; outputs keep their order */
    router("[{\"type\":\"eventHub\",\"name\":\"first\",\"eventHubName\":\"o1\"},"
           "{\"type\":\"EVENTHUBTRIGGER\",\"name\":\"events\",\"eventHubName\":\"in\"},"
           "{\"type\":\"eventHub\",\"name\":\"second\",\"eventHubName\":\"o2\"}]");
    CHECK_INT(load(), 0);
    CHECK_STR(app.functions[0].trigger.name, "events");
    CHECK_STR(app.functions[0].outputs[0].name, "first");
    CHECK_STR(EH(&app.functions[0].outputs[1])->hub, "o2");
}

TEST(cardinality_and_data_type)
{
    fresh();
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"e\",\"eventHubName\":\"in\","
           "\"cardinality\":\"Many\",\"dataType\":\"binary\"}]");
    CHECK_INT(load(), 0);
    CHECK_INT(app.functions[0].trigger.cardinality, HF_CARD_MANY);
    CHECK_INT(app.functions[0].trigger.data_type, HF_DATA_BINARY);
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"e\",\"eventHubName\":\"in\","
           "\"cardinality\":\"one\",\"dataType\":\"string\"}]");
    CHECK_INT(load(), 0);
    CHECK_INT(app.functions[0].trigger.cardinality, HF_CARD_ONE);
    CHECK_INT(app.functions[0].trigger.data_type, HF_DATA_STRING);
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"e\",\"eventHubName\":\"in\","
           "\"cardinality\":\"all\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "bindings[0].cardinality: \"all\" is not a cardinality (use \"one\" or \"many\")");
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"e\",\"eventHubName\":\"in\","
           "\"dataType\":\"stream\"}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "bindings[0].dataType: \"stream\" is not a data type");
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"e\",\"eventHubName\":\"in\","
           "\"cardinality\":2}]");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "bindings[0].cardinality: expected a string, got 2");
}

TEST(script_file_and_entry_point)
{
    fresh();
    put("router/function.json", "{\"scriptFile\":\"src/main.lua\",\"entryPoint\":\"handle\","
        "\"bindings\":[{\"type\":\"eventHubTrigger\",\"name\":\"e\",\"eventHubName\":\"in\"}]}");
    CHECK_INT(load(), -1);
    CHECK_STR(err, "router/function.json: scriptFile: router/src/main.lua does not exist");
    put("router/src/main.lua", "return {handle = function() end}");
    CHECK_INT(load(), 0);
    CHECK(strstr(app.functions[0].script_path, "/app/router/src/main.lua"));
    CHECK_STR(app.functions[0].entry_point, "handle");
    put("router/function.json", "{\"scriptFile\":\"../lib/shared.lua\","
        "\"bindings\":[{\"type\":\"eventHubTrigger\",\"name\":\"e\",\"eventHubName\":\"in\"}]}");
    put("lib/shared.lua", "return function() end");
    CHECK_INT(load(), 0);
    CHECK(strstr(app.functions[0].script_path, "/app/lib/shared.lua"));
    put("router/function.json", "{\"bindings\":[{\"type\":\"eventHubTrigger\",\"name\":\"e\","
        "\"eventHubName\":\"in\"}]}");
    unlink(strcat(strcpy(err, app_dir), "/router/handler.lua"));
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "router/function.json: scriptFile: ");
    CHECK_HAS(err, "router/handler.lua does not exist");
}

TEST(disabled_functions)
{
    fresh();
    simple_fn("a");
    simple_fn("b");
    simple_fn("c");
    simple_fn("d");
    put("a/function.json", "{\"disabled\": true, \"bindings\":[{\"type\":\"eventHubTrigger\","
        "\"name\":\"e\",\"eventHubName\":\"in\",\"connection\":\"HFT_MISSING\"}]}");
    put("local.settings.json", "{\"Values\": {\"AzureWebJobs.b.Disabled\": \"True\"}}");
    setenv("AzureWebJobs_c_Disabled", "1", 1);
    setenv("HFT_CONN", "localhost:9092", 1);
    CHECK_INT(load_opts(1, 0, NULL), 0);     /* a disabled function's setting may be missing */
    CHECK_INT(app.functions[0].disabled, 1);
    CHECK(EH(&app.functions[0].trigger)->conn == NULL);
    CHECK_INT(app.functions[1].disabled, 1);
    CHECK_INT(app.functions[2].disabled, 1);
    CHECK_INT(app.functions[3].disabled, 0);
    put("a/function.json", "{\"disabled\": \"maybe\", \"bindings\":[{\"type\":\"eventHubTrigger\","
        "\"name\":\"e\",\"eventHubName\":\"in\"}]}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "a/function.json: disabled: expected true or false, got \"maybe\"");
}

TEST(only_function_loads_one_from_parent)
{
    fresh();
    simple_fn("router");
    simple_fn("other");
    put("other/function.json", "{ broken");       /* not loaded, so not an error */
    CHECK(chdir(root) == 0);
    hf_app_opts_t o = { .only_function = "app/router/" };
    hf_app_free(&app);
    hf_app_free(&app);
    int rc = hf_app_load(&app, NULL, &o, err, sizeof(err));
    CHECK(chdir(cwd0) == 0);
    CHECK_INT(rc, 0);
    CHECK_INT(app.functions_n, 1);
    CHECK_STR(app.functions[0].name, "router");
    CHECK(strlen(app.dir) > 4 && !strcmp(app.dir + strlen(app.dir) - 4, "/app"));
    CHECK(chdir(app_dir) == 0);
    o.only_function = "router";
    hf_app_free(&app);
    rc = hf_app_load(&app, NULL, &o, err, sizeof(err));
    CHECK(chdir(cwd0) == 0);
    CHECK_INT(rc, 0);
    CHECK_STR(app.functions[0].name, "router");
    CHECK(chdir(app_dir) == 0);
    CHECK(chdir("router") == 0);
    o.only_function = ".";
    hf_app_free(&app);
    rc = hf_app_load(&app, NULL, &o, err, sizeof(err));
    CHECK(chdir(cwd0) == 0);
    CHECK_INT(rc, 0);
    CHECK_STR(app.functions[0].name, "router");
    put("empty/x.txt", "");
    char only[400];
    snprintf(only, sizeof(only), "%s/empty", app_dir);
    CHECK_INT(load_opts(0, 0, only), -1);
    CHECK_HAS(err, "/app/empty: no function.json in this folder");
}

TEST(retry_policies)
{
    fresh();
    put("router/function.json", "{\"retry\":{\"strategy\":\"fixedDelay\",\"maxRetryCount\":4,"
        "\"delayInterval\":\"00:00:10\"},\"bindings\":[{\"type\":\"eventHubTrigger\","
        "\"name\":\"e\",\"eventHubName\":\"in\"}]}");
    put("router/handler.lua", "return function() end");
    CHECK_INT(load(), 0);
    CHECK_INT(app.functions[0].retry.strategy, HF_RETRY_FIXED_DELAY);
    CHECK_INT(app.functions[0].retry.max_retry_count, 4);
    CHECK_INT(app.functions[0].retry.delay_ms, 10000);
    put("router/function.json", "{\"retry\":{\"strategy\":\"exponentialBackoff\","
        "\"maxRetryCount\":-1,\"minimumInterval\":\"00:00:01\",\"maximumInterval\":\"00:15:00\"},"
        "\"bindings\":[{\"type\":\"eventHubTrigger\",\"name\":\"e\",\"eventHubName\":\"in\"}]}");
    CHECK_INT(load(), 0);
    CHECK_INT(app.functions[0].retry.strategy, HF_RETRY_EXPONENTIAL);
    CHECK_INT(app.functions[0].retry.max_retry_count, -1);
    CHECK_INT(app.functions[0].retry.min_interval_ms, 1000);
    CHECK_INT(app.functions[0].retry.max_interval_ms, 900000);
    put("router/function.json", "{\"retry\":{\"strategy\":\"sometimes\",\"maxRetryCount\":1},"
        "\"bindings\":[{\"type\":\"eventHubTrigger\",\"name\":\"e\",\"eventHubName\":\"in\"}]}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "retry.strategy: \"sometimes\" is not a retry strategy");
    put("router/function.json", "{\"retry\":{\"strategy\":\"fixedDelay\",\"maxRetryCount\":1,"
        "\"delayInterval\":\"10s\"},\"bindings\":[{\"type\":\"eventHubTrigger\",\"name\":\"e\","
        "\"eventHubName\":\"in\"}]}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "retry.delayInterval: \"10s\" is not a duration");
}

TEST(host_functions_allow_list)
{
    fresh();
    simple_fn("a");
    simple_fn("b");
    simple_fn("c");
    put("host.json", "{\"version\":\"2.0\",\"functions\":[\"c\",\"A\"]}");
    CHECK_INT(load(), 0);
    CHECK_INT(app.functions_n, 2);
    CHECK_STR(app.functions[0].name, "a");
    CHECK_STR(app.functions[1].name, "c");
    put("host.json", "{\"version\":\"2.0\",\"functions\":[\"nope\"]}");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "host.json: functions: \"nope\" is not a function folder of this app");
}

TEST(unknown_keys_ignored_with_warnings)
{
    fresh();
    simple_fn("router");
    put("host.json", "{\"version\":\"2.0\",\"extensionBundle\":{\"id\":\"x\"},\"whatever\":1,"
                     "\"extensions\":{\"eventHubs\":{\"maxEventBatchSze\":5,\"transportType\":"
                     "\"amqpWebSockets\",\"zzz\":1},\"http\":{}}}");
    CHECK_INT(load(), 0);
    CHECK_INT(app.host.max_batch, 100);
    CHECK_INT(app.warnings_n, 3);
    CHECK_HAS(app.warnings[0], "maxEventBatchSze is not a setting hubfn knows; ignored (did you "
                               "mean maxEventBatchSize?)");
    CHECK_HAS(app.warnings[1], "transportType has no effect");
    CHECK_HAS(app.warnings[2], "zzz is not a setting hubfn knows; ignored");
}

TEST(secrets_never_in_errors)
{
    fresh();
    /* the connection string reaches a field that is echoed: the key must be masked */
    setenv("HFT_CONN", CONN_STR(""), 1);
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"e\",\"eventHubName\":\"%HFT_CONN%\","
           "\"connection\":\"HFT_CONN\"}]");
    CHECK_INT(load_opts(1, 0, NULL), -1);
    CHECK(strstr(err, KEY) == NULL);
    CHECK(strstr(err, "c2VjcmV0") == NULL);
    CHECK_HAS(err, "bindings[0].eventHubName: \"***\" is not a valid event hub name");
    /* never registered (no connection names it): the SharedAccessKey= pattern masks it */
    setenv("HFT_OTHER", "SharedAccessKey=b3RoZXIta2V5LXRoYXQtbXVzdC1ub3Qtc2hvdw==;x=y", 1);
    router("[{\"type\":\"eventHubTrigger\",\"name\":\"e\",\"eventHubName\":\"%HFT_OTHER%\"}]");
    CHECK_INT(load(), -1);
    CHECK(strstr(err, "b3RoZXIta2V5") == NULL);
    CHECK_HAS(err, "\"SharedAccessKey=***;x=y\" is not a valid event hub name");
    /* a sasl.password in extensions.kafka is a secret too */
    fresh();
    simple_fn("router");
    put("host.json", "{\"version\":\"2.0\",\"extensions\":{\"kafka\":{\"sasl.password\":"
                     "\"hunter2-very-secret\"},\"eventHubs\":{\"maxWaitTime\":\"hunter2-very-secret\"}}}");
    CHECK_INT(load(), -1);
    CHECK(strstr(err, "hunter2-very-secret") == NULL);
}

TEST(memory_loader)
{
    const char *host = "{\"version\":\"2.0\",\"extensions\":{\"eventHubs\":{\"maxEventBatchSize\":3}}}";
    const char *fj = "{\"bindings\":[{\"type\":\"eventHubTrigger\",\"name\":\"e\","
                     "\"eventHubName\":\"%HFT_H%\"}]}";
    const char *ls = "{\"Values\":{\"HFT_H\":\"mem-hub\"}}";
    hf_app_file_t files[] = {
        { "host.json", host, strlen(host) },
        { "local.settings.json", ls, strlen(ls) },
        { "f1/function.json", fj, strlen(fj) },
        { "f1/handler.lua", "", 0 },
        { "f2/function.json", fj, strlen(fj) },
    };
    reset_env();
    hf_app_free(&app);
    CHECK_INT(hf_app_load_mem(&app, "/mem", files, 4, NULL, err, sizeof(err)), 0);
    CHECK_INT(app.host.max_batch, 3);
    CHECK_STR(EH(&app.functions[0].trigger)->hub, "mem-hub");
    CHECK_STR(app.functions[0].script_path, "/mem/f1/handler.lua");
    hf_app_free(&app);
    CHECK_INT(hf_app_load_mem(&app, "/mem", files, 5, NULL, err, sizeof(err)), -1);
    CHECK_STR(err, "f2/function.json: scriptFile: f2/handler.lua does not exist");
}

/* A required setting written as null or "" is as missing (an http binding's url once
   crashed the loader this way; found by tests/fuzz/fuzz_keys.c). */
TEST(required_setting_null_or_empty)
{
    const char *vals[] = {"null", "\"\"", NULL};
    for (int i = 0; vals[i]; i++) {
        char fj[512];
        snprintf(fj, sizeof(fj), "{\"bindings\":[{\"type\":\"eventHubTrigger\",\"name\":\"e\","
                 "\"eventHubName\":\"h\"},{\"type\":\"http\",\"direction\":\"out\","
                 "\"name\":\"o\",\"url\":%s}]}", vals[i]);
        hf_app_file_t files[] = {
            { "host.json", "{\"version\":\"2.0\"}", 17 },
            { "f/function.json", fj, strlen(fj) },
            { "f/handler.lua", "", 0 },
        };
        reset_env();
        hf_app_free(&app);
        CHECK_INT(hf_app_load_mem(&app, "/mem", files, 3, NULL, err, sizeof(err)), -1);
        CHECK(strstr(err, "f/function.json: bindings[1].url: empty") == err);
    }
}

/* ---------------------------------------------------------------------------------- */

TEST(duration_parse)
{
    long long ms;
    CHECK_INT(hf_duration_parse("00:05:00", &ms), 0);
    CHECK_INT(ms, 300000);
    CHECK_INT(hf_duration_parse(" 01:02:03.5 ", &ms), 0);
    CHECK_INT(ms, 3723500);
    CHECK_INT(hf_duration_parse("00:00:00.1234567", &ms), 0);
    CHECK_INT(ms, 123);
    CHECK_INT(hf_duration_parse("2.03:04:05", &ms), 0);
    CHECK_INT(ms, ((2 * 24 + 3) * 3600 + 4 * 60 + 5) * 1000LL);
    CHECK_INT(hf_duration_parse("01:30", &ms), 0);   /* hh:mm, as .NET reads it */
    CHECK_INT(ms, 5400000);
    CHECK_INT(hf_duration_parse("-1", &ms), 0);
    CHECK_INT(ms, -1);
    CHECK_INT(hf_duration_parse("5", &ms), -1);       /* .NET: 5 days; refused as ambiguous */
    CHECK_INT(hf_duration_parse("24:00:00", &ms), -1);
    CHECK_INT(hf_duration_parse("00:60:00", &ms), -1);
    CHECK_INT(hf_duration_parse("00:00:60", &ms), -1);
    CHECK_INT(hf_duration_parse("00:00:01.12345678", &ms), -1);
    CHECK_INT(hf_duration_parse("-00:00:01", &ms), -1);
    CHECK_INT(hf_duration_parse("", &ms), -1);
    CHECK_INT(hf_duration_parse("00:05:00x", &ms), -1);
    CHECK_INT(hf_duration_parse("5 minutes", &ms), -1);
    CHECK_INT(hf_duration_parse("100:00:00", &ms), -1);
}

TEST(time_parse)
{
    long long ms;
    CHECK_INT(hf_time_parse("2020-10-26T20:31Z", &ms), 0);
    CHECK_INT(ms, 1603744260000LL);
    CHECK_INT(hf_time_parse("2020-10-26T20:31:00Z", &ms), 0);
    CHECK_INT(ms, 1603744260000LL);
    CHECK_INT(hf_time_parse("2020-10-26 20:31:00", &ms), 0);
    CHECK_INT(ms, 1603744260000LL);
    CHECK_INT(hf_time_parse("2020-10-26T20:31:00.123+02:00", &ms), 0);
    CHECK_INT(ms, 1603744260123LL - 7200000);
    CHECK_INT(hf_time_parse("2020-10-26T20:31:00-0130", &ms), 0);
    CHECK_INT(ms, 1603744260000LL + 5400000);
    CHECK_INT(hf_time_parse("1970-01-01", &ms), 0);
    CHECK_INT(ms, 0);
    CHECK_INT(hf_time_parse("2024-02-29T00:00:00Z", &ms), 0);
    CHECK_INT(ms, 1709164800000LL);
    CHECK_INT(hf_time_parse("2023-02-29T00:00:00Z", &ms), -1);
    CHECK_INT(hf_time_parse("2020-13-01T00:00Z", &ms), -1);
    CHECK_INT(hf_time_parse("2020-10-26T25:00Z", &ms), -1);
    CHECK_INT(hf_time_parse("yesterday", &ms), -1);
    CHECK_INT(hf_time_parse("2020-10-26T20:31Zjunk", &ms), -1);
}

TEST(log_levels)
{
    hf_log_level_t l;
    CHECK_INT(hf_log_level_parse("information", &l), 0);
    CHECK_INT(l, HF_LOG_INFO);
    CHECK_INT(hf_log_level_parse("CRITICAL", &l), 0);
    CHECK_INT(l, HF_LOG_CRITICAL);
    CHECK_INT(hf_log_level_parse("warn", &l), 0);
    CHECK_INT(l, HF_LOG_WARN);
    CHECK_INT(hf_log_level_parse("None", &l), 0);
    CHECK_INT(l, HF_LOG_NONE);
    CHECK_INT(hf_log_level_parse("verbose", &l), -1);
    CHECK_STR(hf_log_level_name(HF_LOG_WARN), "Warning");
    CHECK_STR(hf_log_level_name(HF_LOG_TRACE), "Trace");
    fresh();
    simple_fn("router");
    put("host.json", "{\"version\":\"2.0\",\"logging\":{\"logLevel\":{\"Function\":\"Error\","
                     "\"default\":\"Trace\"}}}");
    CHECK_INT(load(), 0);
    CHECK_INT(app.functions[0].log_level, HF_LOG_ERROR);
    put("host.json", "{\"version\":\"2.0\",\"logging\":{\"logLevel\":{\"Function.router\":\"Loud\"}}}");
    CHECK_INT(load(), -1);
    CHECK_STR(err, "host.json: logging.logLevel.Function.router: \"Loud\" is not a log level "
                   "(use Trace, Debug, Information, Warning, Error, Critical or None)");
}

TEST(invalid_function_folder_name)
{
    fresh();
    simple_fn("9lives");
    CHECK_INT(load(), -1);
    CHECK_HAS(err, "9lives: \"9lives\" is not a valid function name");
}

TEST_MAIN()
