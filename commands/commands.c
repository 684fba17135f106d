/*
 * The command table: what each command takes and says in its help, and the small
 * handler that turns a parsed command line into the call that does the work.
 */
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "binding.h"
#include "capture.h"
#include "checkpoints.h"
#include "datetime.h"
#include "embedded.h"
#include "host.h"
#include "http.h"
#include "log.h"
#include "new.h"
#include "run.h"
#include "send.h"

/* ---------------------------------------------------------------------------------- */
/* Shared options                                                                      */

/* Is v a --log-format value? */
static int hf_cmd_valid_log_format(const char *v)
{
    return strcmp(v, "text") == 0 || strcmp(v, "json") == 0;
}

/* Is v an address to listen on? */
static int hf_cmd_valid_address(const char *v)
{
    return hf_http_valid_address(v);
}

/* Is v not empty? */
static int hf_cmd_valid_nonempty(const char *v)
{
    return *v != '\0';
}

#define HF_OPT_LOG_FORMAT                                                               \
    {"log-format", 0, HF_ARG_TEXT, "text|json",                                        \
     "text or json (default: text on a terminal, json lines otherwise)",               \
     "text or json", .valid = hf_cmd_valid_log_format}

/* Switch the log format when --log-format was given (main chose one already). */
static void hf_cmd_log_format(const hf_cmd_value_t *v)
{
    if (!v->set)
        return;
    if (strcmp(v->text, "text") == 0)
        hf_log_setup(HF_LOG_TEXT, isatty(2));
    else
        hf_log_setup(HF_LOG_JSON, 0);
}

/* ---------------------------------------------------------------------------------- */
/* start                                                                               */

enum {
    START_EMBEDDED, START_EMBEDDED_PORT, START_HUB, START_PARTITIONS, START_EXIT_ON_EOF, START_WORKERS,
    START_HTTP_PORT, START_HTTP_ADDRESS, START_DRAIN_TIMEOUT, START_LOG_FORMAT, START_OPTS_N
};

static const hf_cmd_arg_t start_args[] = {
    {"APP", NULL},
    {NULL, NULL},
};

static const hf_cmd_opt_t start_opts[] = {
    [START_EMBEDDED] = {"embedded", 0, HF_ARG_FLAG, NULL,
                        "start an in-process Kafka-protocol broker, create every hub\n"
                        "the app names and point every connection at it"},
    [START_EMBEDDED_PORT] = {"embedded-port", 0, HF_ARG_INT, "N",
                             "the embedded broker's port on 127.0.0.1 (default 9192, or\n"
                             "$HUBFN_EMBEDDED_PORT; 0: any free port)",
                             "a whole number", 0, 65535, "a port number"},
    [START_HUB] = {"hub", 0, HF_ARG_TEXT, "NAME[:N]",
                   "one more hub for the embedded broker besides those the app\n"
                   "names, with N partitions (default --partitions); repeatable.\n"
                   "Any other hub is refused, as Event Hubs refuses it",
                   "a hub name, optionally with :PARTITIONS (1-65535), e.g. orders:8",
                   .valid = hf_embedded_valid_hub_arg, .repeat = 1},
    [START_PARTITIONS] = {"partitions", 0, HF_ARG_INT, "N",
                          "partitions per hub of the embedded broker (default 4)",
                          "a whole number", 1, 65535, "a whole number"},
    [START_EXIT_ON_EOF] = {"exit-on-eof", 0, HF_ARG_FLAG, NULL,
                           "exit 0 once every assigned partition is drained and committed"},
    [START_WORKERS] = {"workers", 0, HF_ARG_INT, "N",
                       "Lua worker threads (default: the number of cores)",
                       "a whole number", 1, 65535, "a whole number"},
    [START_HTTP_PORT] = {"http-port", 0, HF_ARG_INT, "N",
                         "serve /healthz, /readyz and /metrics (Prometheus) on port N\n"
                         "(0: any free port; default: off, or $HUBFN_HTTP_PORT)",
                         "a whole number", 0, 65535, "a port number"},
    [START_HTTP_ADDRESS] = {"http-address", 0, HF_ARG_TEXT, "A",
                            "the address to listen on (default 0.0.0.0, or\n"
                            "$HUBFN_HTTP_ADDRESS)",
                            "an IPv4 or IPv6 address, e.g. 0.0.0.0, 127.0.0.1 or ::",
                            .valid = hf_cmd_valid_address},
    [START_DRAIN_TIMEOUT] = {"drain-timeout", 0, HF_ARG_INT, "S",
                             "how long a drain may take before hubfn exits anyway\n"
                             "(default 25, or $HUBFN_DRAIN_TIMEOUT; keep it under\n"
                             "Kubernetes' grace period)",
                             "seconds (1-3600)", 1, 3600, "seconds"},
    [START_LOG_FORMAT] = HF_OPT_LOG_FORMAT,
    [START_OPTS_N] = {NULL},
};

/* hubfn start: the environment's settings, then the options (which win). */
static int hf_cmd_start(const hf_cmd_args_t *a)
{
    const hf_cmd_value_t *o = a->opt;
    hf_host_opts_t opts = {0};
    long n;
    /* The app folder: APP, else $AzureWebJobsScriptRoot (Azure's setting, which the image
       sets to /home/site/wwwroot), else the current folder. */
    const char *script_root = getenv("AzureWebJobsScriptRoot");
    if (a->arg[0])
        opts.app_dir = a->arg[0];
    else if (script_root && *script_root)
        opts.app_dir = script_root;
    else
        opts.app_dir = ".";
    opts.http_port = -1;
    opts.partitions = 4;
    char why[256];
    if (hf_embedded_port(&opts.embedded_port, why, sizeof(why)) != 0)
        return hf_cmdline_usage_error("start", "%s", why);
    /* Containers set these instead of options. */
    const char *env_port = getenv("HUBFN_HTTP_PORT");
    if (env_port && *env_port) {
        if (hf_cmdline_int(env_port, 0, 65535, &n) != 0)
            return hf_cmdline_usage_error("start", "HUBFN_HTTP_PORT must be a port number "
                                          "(0-65535), not \"%s\"", env_port);
        opts.http_port = (int)n;
    }
    const char *env_addr = getenv("HUBFN_HTTP_ADDRESS");
    if (env_addr && *env_addr) {
        if (!hf_http_valid_address(env_addr))
            return hf_cmdline_usage_error("start", "HUBFN_HTTP_ADDRESS must be an IPv4 or "
                                          "IPv6 address, not \"%s\"", env_addr);
        opts.http_address = env_addr;
    }
    const char *env_drain = getenv("HUBFN_DRAIN_TIMEOUT");
    if (env_drain && *env_drain) {
        if (hf_cmdline_int(env_drain, 1, 3600, &n) != 0)
            return hf_cmdline_usage_error("start", "HUBFN_DRAIN_TIMEOUT must be seconds "
                                          "(1-3600), not \"%s\"", env_drain);
        opts.drain_timeout_s = (double)n;
    }
    opts.embedded = o[START_EMBEDDED].set;
    if (o[START_EMBEDDED_PORT].set && !opts.embedded)
        return hf_cmdline_usage_error("start", "--embedded-port is the port of the embedded "
                                      "broker: add --embedded");
    if (o[START_HUB].set && !opts.embedded)
        return hf_cmdline_usage_error("start", "--hub adds a hub to the embedded broker: add "
                                      "--embedded");
    if (o[START_EMBEDDED_PORT].set)
        opts.embedded_port = (int)o[START_EMBEDDED_PORT].num;
    opts.embedded_hubs = o[START_HUB].all;
    opts.embedded_hubs_n = o[START_HUB].count;
    opts.exit_on_eof = o[START_EXIT_ON_EOF].set;
    if (o[START_WORKERS].set)
        opts.workers = (int)o[START_WORKERS].num;
    if (o[START_PARTITIONS].set)
        opts.partitions = (int)o[START_PARTITIONS].num;
    if (o[START_HTTP_PORT].set)
        opts.http_port = (int)o[START_HTTP_PORT].num;
    if (o[START_HTTP_ADDRESS].set)
        opts.http_address = o[START_HTTP_ADDRESS].text;
    if (o[START_DRAIN_TIMEOUT].set)
        opts.drain_timeout_s = (double)o[START_DRAIN_TIMEOUT].num;
    hf_cmd_log_format(&o[START_LOG_FORMAT]);
    return hf_host_main(&opts);
}

/* ---------------------------------------------------------------------------------- */
/* run                                                                                 */

enum { RUN_EVENTS, RUN_CAPTURED, RUN_LIVE, RUN_STATE, RUN_LOG_FORMAT, RUN_OPTS_N };

static const hf_cmd_arg_t run_args[] = {
    {"FUNCTION_DIR", "missing FUNCTION_DIR"},
    {NULL, NULL},
};

static const hf_cmd_opt_t run_opts[] = {
    [RUN_EVENTS] = {"events", 0, HF_ARG_TEXT, "FILE|-",
                    "the events, one body per line (-: standard input)",
                    "a file, or - for standard input"},
    [RUN_CAPTURED] = {"captured", 0, HF_ARG_TEXT, "FILE|-",
                      "the events as capture records (`hubfn capture`): the handler\n"
                      "sees their partition, offset, enqueuedTime, key and properties",
                      "a file, or - for standard input"},
    [RUN_LIVE] = {"live", 0, HF_ARG_FLAG, NULL,
                  "also deliver what http output bindings send (other outputs\n"
                  "are only printed)"},
    [RUN_STATE] = {"state", 0, HF_ARG_TEXT, "FILE",
                   "load the state of eventHubState bindings from FILE (JSON\n"
                   "lines; none yet: empty) and save it there at the end",
                   "a file name", .valid = hf_cmd_valid_nonempty},
    [RUN_LOG_FORMAT] = HF_OPT_LOG_FORMAT,
    [RUN_OPTS_N] = {NULL},
};

/* hubfn run. */
static int hf_cmd_run(const hf_cmd_args_t *a)
{
    const hf_cmd_value_t *o = a->opt;
    if (o[RUN_EVENTS].set && o[RUN_CAPTURED].set)
        return hf_cmdline_usage_error("run", "--events and --captured cannot be combined: "
                                      "give one input");
    if (!o[RUN_EVENTS].set && !o[RUN_CAPTURED].set)
        return hf_cmdline_usage_error("run", "missing --events FILE or --captured FILE (- for "
                                      "standard input)");
    hf_cmd_log_format(&o[RUN_LOG_FORMAT]);
    return hf_run_main(a->arg[0], o[RUN_CAPTURED].set ? o[RUN_CAPTURED].text : o[RUN_EVENTS].text,
                       o[RUN_CAPTURED].set, o[RUN_LIVE].set,
                       o[RUN_STATE].set ? o[RUN_STATE].text : NULL);
}

/* ---------------------------------------------------------------------------------- */
/* send                                                                                */

enum { SEND_KEY, SEND_MAX_EVENT_BYTES, SEND_TIMEOUT, SEND_NO_PROGRESS, SEND_CAPTURED,
       SEND_BY_KEY, SEND_OPTS_N };

static const hf_cmd_arg_t send_args[] = {
    {"CONNECTION", "missing CONNECTION (a setting name or a connection value)"},
    {"HUB", "missing HUB"},
    {"FILE|-", NULL},
    {NULL, NULL},
};

static const hf_cmd_opt_t send_opts[] = {
    [SEND_KEY] = {"key", 0, HF_ARG_TEXT, "FIELD[,FIELD...]",
                  "partition key: the first of these top-level fields holding\n"
                  "a non-empty string or a number (RudderStack:\n"
                  "userId,anonymousId); events with none get no key (a random\n"
                  "partition). Keys are hashed with murmur2, as Java clients do",
                  "field names, e.g. --key userId,anonymousId",
                  .valid = hf_cmd_valid_nonempty},
    [SEND_MAX_EVENT_BYTES] = {"max-event-bytes", 0, HF_ARG_INT, "N",
                              "the largest event, key included (default 1000000: Event\n"
                              "Hubs' Kafka endpoint refuses requests over 1046528 bytes)",
                              "a whole number", 1, HF_SEND_MAX_EVENT_LIMIT, "a whole number"},
    [SEND_TIMEOUT] = {"timeout", 0, HF_ARG_INT, "S",
                      "how long an event may take to be delivered (default 120)",
                      "seconds (1-3600)", 1, 3600, "seconds"},
    [SEND_NO_PROGRESS] = {"no-progress", 0, HF_ARG_FLAG, NULL,
                          "no progress line (shown only on a terminal anyway)"},
    [SEND_CAPTURED] = {"captured", 0, HF_ARG_TEXT, "FILE|-",
                       "publish capture records (`hubfn capture`) again: body bytes,\n"
                       "key, properties and enqueued time as recorded, each to its\n"
                       "recorded partition",
                       "a file, or - for standard input"},
    [SEND_BY_KEY] = {"by-key", 0, HF_ARG_FLAG, NULL,
                     "with --captured: partition by key (murmur2) instead"},
    [SEND_OPTS_N] = {NULL},
};

/* hubfn send. */
static int hf_cmd_send(const hf_cmd_args_t *a)
{
    const hf_cmd_value_t *o = a->opt;
    hf_send_opts_t opts = {0};
    opts.connection = a->arg[0];
    opts.hub = a->arg[1];
    opts.file = a->arg[2];
    opts.progress = o[SEND_NO_PROGRESS].set ? 0 : -1;
    if (o[SEND_KEY].set)
        opts.keys = o[SEND_KEY].text;
    if (o[SEND_MAX_EVENT_BYTES].set)
        opts.max_event_bytes = (size_t)o[SEND_MAX_EVENT_BYTES].num;
    if (o[SEND_TIMEOUT].set)
        opts.timeout_s = (int)o[SEND_TIMEOUT].num;
    if (!*opts.hub)
        return hf_cmdline_usage_error("send", "HUB is empty");
    if (o[SEND_CAPTURED].set) {
        if (opts.file)
            return hf_cmdline_usage_error("send", "give FILE or --captured FILE, not both");
        if (opts.keys)
            return hf_cmdline_usage_error("send", "--key does not apply to --captured: the "
                                          "records hold their keys");
        opts.file = o[SEND_CAPTURED].text;
        opts.captured = 1;
        opts.by_key = o[SEND_BY_KEY].set;
    } else if (o[SEND_BY_KEY].set) {
        return hf_cmdline_usage_error("send", "--by-key applies to --captured only (use --key "
                                      "FIELD for JSON events)");
    }
    return hf_send_main(&opts);
}

/* ---------------------------------------------------------------------------------- */
/* capture                                                                             */

/* Is v an ISO 8601 date-time? */
static int hf_cmd_valid_time(const char *v)
{
    long long ms;
    return hf_time_parse(v, &ms) == 0;
}

#define HF_TIME_NEEDS "an ISO 8601 date-time such as 2026-05-02T08:15:00Z"

enum { CAPTURE_PARTITION, CAPTURE_FROM_OFFSET, CAPTURE_FROM_TIME, CAPTURE_COUNT,
       CAPTURE_OUTPUT, CAPTURE_FOLLOW, CAPTURE_NO_PROGRESS, CAPTURE_OPTS_N };

static const hf_cmd_arg_t capture_args[] = {
    {"CONNECTION", "missing CONNECTION (a setting name or a connection value)"},
    {"HUB", "missing HUB"},
    {NULL, NULL},
};

static const hf_cmd_opt_t capture_opts[] = {
    [CAPTURE_PARTITION] = {"partition", 0, HF_ARG_INT, "N",
                           "only partition N (default: every partition)",
                           "a partition number", 0, 65535, "a partition number"},
    [CAPTURE_FROM_OFFSET] = {"from-offset", 0, HF_ARG_INT, "N",
                             "start at offset N in each partition (default: the oldest\n"
                             "event still in the hub)",
                             "an offset (a whole number)", 0, 0x7fffffffffffffffL, "an offset"},
    [CAPTURE_FROM_TIME] = {"from-time", 0, HF_ARG_TEXT, "TIME",
                           "start at the first event enqueued at or after TIME (ISO\n"
                           "8601, UTC unless it says otherwise) in each partition",
                           HF_TIME_NEEDS, .valid = hf_cmd_valid_time},
    [CAPTURE_COUNT] = {"count", 0, HF_ARG_INT, "N", "stop after N events in all",
                       "a whole number", 1, 0x7fffffffffffffffL, "a whole number"},
    [CAPTURE_OUTPUT] = {"output", 0, HF_ARG_TEXT, "FILE",
                        "write the records to FILE (default: standard output)",
                        "a file name", .valid = hf_cmd_valid_nonempty},
    [CAPTURE_FOLLOW] = {"follow", 0, HF_ARG_FLAG, NULL,
                        "keep waiting for new events (until Ctrl-C or --count)"},
    [CAPTURE_NO_PROGRESS] = {"no-progress", 0, HF_ARG_FLAG, NULL,
                             "no progress line (shown on a terminal, else every 10 s)"},
    [CAPTURE_OPTS_N] = {NULL},
};

/* hubfn capture. */
static int hf_cmd_capture(const hf_cmd_args_t *a)
{
    const hf_cmd_value_t *o = a->opt;
    hf_capture_opts_t opts = {0};
    opts.connection = a->arg[0];
    opts.hub = a->arg[1];
    opts.partition = o[CAPTURE_PARTITION].set ? (int)o[CAPTURE_PARTITION].num : -1;
    opts.from_offset = o[CAPTURE_FROM_OFFSET].set ? o[CAPTURE_FROM_OFFSET].num : -1;
    opts.from_time = o[CAPTURE_FROM_TIME].set ? o[CAPTURE_FROM_TIME].text : NULL;
    opts.count = o[CAPTURE_COUNT].set ? o[CAPTURE_COUNT].num : 0;
    opts.output = o[CAPTURE_OUTPUT].set ? o[CAPTURE_OUTPUT].text : NULL;
    opts.follow = o[CAPTURE_FOLLOW].set;
    opts.progress = o[CAPTURE_NO_PROGRESS].set ? 0 : -1;
    if (!*opts.hub)
        return hf_cmdline_usage_error("capture", "HUB is empty");
    if (opts.from_time && opts.from_offset >= 0)
        return hf_cmdline_usage_error("capture", "--from-offset and --from-time cannot be "
                                      "combined: give one start");
    return hf_capture_main(&opts);
}

/* ---------------------------------------------------------------------------------- */
/* checkpoints                                                                         */

enum { CHECKPOINTS_SET, CHECKPOINTS_DRY_RUN, CHECKPOINTS_JSON, CHECKPOINTS_OPTS_N };

static const hf_cmd_arg_t checkpoints_args[] = {
    {"APP", "missing FUNCTION, the function whose checkpoints to show", "[APP]"},
    {"FUNCTION", NULL, "FUNCTION"},
    {NULL, NULL},
};

static const hf_cmd_opt_t checkpoints_opts[] = {
    [CHECKPOINTS_SET] = {"set", 0, HF_ARG_TEXT, "WHERE",
                         "move the checkpoints: earliest, latest, TIME (ISO 8601: the\n"
                         "first event at or after it in each partition) or\n"
                         "PARTITION:OFFSET[,PARTITION:OFFSET...]",
                         "earliest, latest, an ISO 8601 date-time or "
                         "PARTITION:OFFSET[,PARTITION:OFFSET...]",
                         .valid = hf_checkpoints_valid_spec},
    [CHECKPOINTS_DRY_RUN] = {"dry-run", 0, HF_ARG_FLAG, NULL,
                             "with --set: show what would change, change nothing"},
    [CHECKPOINTS_JSON] = {"json", 0, HF_ARG_FLAG, NULL, "one JSON document instead of a table"},
    [CHECKPOINTS_OPTS_N] = {NULL},
};

/* hubfn checkpoints. */
static int hf_cmd_checkpoints(const hf_cmd_args_t *a)
{
    const hf_cmd_value_t *o = a->opt;
    hf_checkpoints_opts_t opts = {0};
    static char app_dir[4096];
    const char *script_root = getenv("AzureWebJobsScriptRoot");
    if (a->arg[1]) {
        opts.app_dir = a->arg[0];
        opts.function = a->arg[1];
    } else {
        /* One argument: FUNCTION in the app folder (as hubfn start finds it), or a path to
           a function folder. */
        snprintf(app_dir, sizeof(app_dir), "%s", a->arg[0]);
        size_t n = strlen(app_dir);
        while (n > 1 && app_dir[n - 1] == '/')
            app_dir[--n] = 0;
        char *cut = strrchr(app_dir, '/');
        if (cut) {
            *cut = 0;
            opts.app_dir = cut == app_dir ? "/" : app_dir;
            opts.function = cut + 1;
        } else {
            opts.app_dir = script_root && *script_root ? script_root : ".";
            opts.function = app_dir;
        }
    }
    if (!*opts.function)
        return hf_cmdline_usage_error("checkpoints", "FUNCTION is empty");
    opts.set = o[CHECKPOINTS_SET].set ? o[CHECKPOINTS_SET].text : NULL;
    opts.dry_run = o[CHECKPOINTS_DRY_RUN].set;
    opts.json = o[CHECKPOINTS_JSON].set;
    if (opts.dry_run && !opts.set)
        return hf_cmdline_usage_error("checkpoints", "--dry-run goes with --set");
    return hf_checkpoints_main(&opts);
}

/* ---------------------------------------------------------------------------------- */
/* new                                                                                 */

enum { NEW_TEMPLATE, NEW_OPTS_N };

static const hf_cmd_arg_t new_args[] = {
    {"NAME", "missing NAME, the function (and folder) to create"},
    {NULL, NULL},
};

static const hf_cmd_opt_t new_opts[] = {
    [NEW_TEMPLATE] = {"template", 0, HF_ARG_TEXT, "TEMPLATE",
                      "passthrough (default), aep-activation or rudderstack",
                      "a template: aep-activation, rudderstack or passthrough"},
    [NEW_OPTS_N] = {NULL},
};

/* hubfn new. */
static int hf_cmd_new(const hf_cmd_args_t *a)
{
    const hf_cmd_value_t *t = &a->opt[NEW_TEMPLATE];
    return hf_new_main(a->arg[0], t->set ? t->text : "passthrough");
}

/* ---------------------------------------------------------------------------------- */
/* help                                                                                */

static const hf_cmd_arg_t help_args[] = {
    {"COMMAND|TOPIC", NULL},
    {NULL, NULL},
};

static const hf_cmd_opt_t help_opts[] = {
    {NULL},
};

/* The list of commands. */
static void hf_cmd_overview(FILE *out)
{
    fprintf(out, "hubfn: a host for Lua trigger functions on Azure Event Hubs\n\ncommands:\n");
    for (size_t i = 0; i < hf_commands_n; i++)
        fprintf(out, "  %-11s %s\n", hf_commands[i].name, hf_commands[i].summary);
    fprintf(out, "\nhubfn --version prints the version; hubfn help COMMAND explains one.\n"
                 "hubfn help host.json, function.json, bindings, triggers or a binding type\n"
                 "(eventHubTrigger, eventHub, ...) lists its settings.\n");
}

/* hubfn help [COMMAND]. */
static int hf_cmd_help(const hf_cmd_args_t *a)
{
    if (!a->arg[0]) {
        hf_cmd_overview(stdout);
        return 0;
    }
    const hf_cmd_t *cmd = hf_commands_find(a->arg[0]);
    if (!cmd && hf_app_settings_doc(a->arg[0], stdout) == 0)
        return 0;
    if (!cmd) {
        char types[512];
        fprintf(stderr, "hubfn help: unknown command or topic \"%s\" (commands: start, run, "
                "send, capture, checkpoints, new, help; topics: host.json, function.json, bindings, triggers, or a "
                "binding type: %s)\n", a->arg[0], hf_binding_types_list(types, sizeof(types)));
        return 2;
    }
    hf_cmdline_help(cmd, stdout);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* The table                                                                           */

const hf_cmd_t hf_commands[] = {
    {"start", "host a function app on Event Hubs (or Kafka)", start_args, start_opts,
     "Runs every function of APP until SIGINT or SIGTERM, then drains: stops fetching,\n"
     "finishes in-flight batches, commits, leaves the group. Without APP: the folder\n"
     "$AzureWebJobsScriptRoot names (as in Azure and the container image), else the\n"
     "current folder.\n",
     "The embedded broker listens on 127.0.0.1:9192 at every start (hubfn send embedded\n"
     "HUB reaches it) and holds the hubs the app names and those of --hub. As in Event\n"
     "Hubs, no client creates a hub by sending to it: any other hub does not exist.\n",
     hf_cmd_start},
    {"run", "run one function locally on events from a file, no broker", run_args, run_opts,
     "Runs the function in FUNCTION_DIR on the events of FILE, one event body per line\n"
     "(a line that is not JSON is still an event), or with --captured on the capture\n"
     "records `hubfn capture` wrote: each event as it was in the hub (partition, offset,\n"
     "enqueuedTime, key, properties, body bytes), batched per partition as the trigger\n"
     "batches them. Every output message is printed on\n"
     "stdout as one JSON line:\n"
     "  {\"binding\":..,\"eventHubName\":..,\"partitionKey\":..,\"properties\":{..},\"body\":..}\n"
     "Logs go to stderr. An eventHubState binding keeps its state in memory from one event\n"
     "to the next (its writes are not printed); --state FILE loads it before the first\n"
     "event and saves it after the last, one {\"binding\",\"partition\",\"key\",\"value\"}\n"
     "JSON line per key.\n",
     "Exit 0 when every invocation succeeded, 1 when one failed, 2 for usage or\n"
     "configuration errors.\n",
     hf_cmd_run},
    {"send", "publish events from a file to a hub", send_args, send_opts,
     "Publishes every event of FILE (default: standard input) to HUB and waits for each\n"
     "delivery report. CONNECTION is an app setting name (the environment, then\n"
     "./local.settings.json Values) or a connection value: an Event Hubs connection string,\n"
     "the emulator's, host:port[,host:port...], or embedded: the broker of\n"
     "`hubfn start --embedded` on 127.0.0.1:9192 (or port $HUBFN_EMBEDDED_PORT).\n"
     "FILE holds JSON lines (one event per line), one JSON array of events, or one document\n"
     "{\"events\": [...]}. Each event is sent as its compact JSON text. With --captured,\n"
     "FILE holds capture records and each event is sent as it was recorded.\n",
     "The whole input is checked first: if any event is not valid JSON or is too large,\n"
     "every such event is reported by line and nothing is sent.\n"
     "Ends with one line on stderr: \"sent N events to HUB in T s (P partitions), F failed\".\n"
     "Exit 0 when every event was delivered, 1 when some were not (or the hub refused the\n"
     "connection: wrong key, no Send rights, no such hub, no embedded broker listening),\n"
     "2 for usage, configuration or input errors (nothing sent). See docs/send.md.\n",
     hf_cmd_send},
    {"capture", "save a hub's events to a file, moving no checkpoint", capture_args,
     capture_opts,
     "Reads the events of HUB without joining any consumer group (no checkpoint moves)\n"
     "and writes one capture record per line:\n"
     "  {\"partition\":3,\"offset\":120,\"enqueuedTime\":\"2026-05-02T08:15:00.120Z\",\n"
     "   \"partitionKey\":\"u1\",\"properties\":{\"source\":\"web\"},\"body\":\"...\"}\n"
     "(partitionKey null without a key; bytes that are not UTF-8 text are written as\n"
     "bodyBase64, partitionKeyBase64 or under propertiesBase64). Partitions come one after\n"
     "the other, each in offset order, from the start offset to the newest event at the\n"
     "start of the capture; --follow instead waits for new events and writes them as\n"
     "they come. CONNECTION is resolved as `hubfn send` resolves it.\n",
     "Ends with one line on stderr: \"captured N events from HUB (P partitions) in T s\".\n"
     "Replay with `hubfn run FUNCTION_DIR --captured FILE` or republish with\n"
     "`hubfn send CONNECTION HUB --captured FILE`. Exit 0 when done, 1 when the hub could\n"
     "not be read (wrong key, no Listen rights, no such hub) or the capture was\n"
     "interrupted before its end, 2 for usage errors. See docs/capture.md.\n",
     hf_cmd_capture},
    {"checkpoints", "show or move a function's checkpoints on its input hub",
     checkpoints_args, checkpoints_opts,
     "Shows, per partition of FUNCTION's input hub, the checkpoint (committed offset) of\n"
     "its consumer group, the oldest and newest offsets in the hub, the events behind, and\n"
     "the enqueued time of the event at the checkpoint (the oldest one not yet handled).\n"
     "A checkpoint past the end of the hub (a recreated hub) or before its oldest event\n"
     "(expired) is reported as such. APP: the app folder (default: $AzureWebJobsScriptRoot,\n"
     "else the current folder); FUNCTION may also be a path to the function's folder.\n"
     "--set moves the checkpoints (every partition, or those listed); it is refused while\n"
     "the consumer group has active members, which are named.\n",
     "Exit 0 when done, 1 when the hub or the group could not be read or changed (or the\n"
     "group has members), 2 for usage and configuration errors. See docs/capture.md.\n",
     hf_cmd_checkpoints},
    {"new", "create a function from a template in the current app folder", new_args, new_opts,
     "Writes NAME/function.json and NAME/handler.lua into the current folder (the app\n"
     "folder). When the folder has no host.json, it also writes host.json with the\n"
     "defaults and local.settings.json with HubConnection = embedded. An existing\n"
     "function is never overwritten. NAME: a letter, then letters, digits, '-' or '_'\n"
     "(at most 128); it is also the consumer group. Every template connects through the\n"
     "setting HubConnection and runs as written:\n"
     "  passthrough     (default) every event of hub NAME-in, unchanged (raw bytes, key\n"
     "                  and properties), to hub NAME-out\n"
     "  aep-activation  AEP profiles from hub aep-activations: each audience entered or\n"
     "                  left, to hub crm-updates keyed by crmid, else email, else ecid\n"
     "  rudderstack     RudderStack events from hub rudderstack-events to hub NAME-out,\n"
     "                  keyed by userId, else anonymousId\n",
     "Then: hubfn run NAME --events FILE, or hubfn start . --embedded.\n"
     "Exit 0 when written, 2 for usage errors or when something is in the way.\n",
     hf_cmd_new},
    {"help", "show help for a command", help_args, help_opts,
     "Lists the commands; with COMMAND, shows how to use that one (as\n"
     "`hubfn COMMAND --help` does). With a settings topic (host.json, function.json,\n"
     "bindings, triggers, or a binding type such as eventHub), lists its keys: default,\n"
     "accepted values and meaning, as docs/configuration.md does.\n",
     "", hf_cmd_help},
};

const size_t hf_commands_n = sizeof(hf_commands) / sizeof(hf_commands[0]);

/* Find a command by name. */
const hf_cmd_t *hf_commands_find(const char *name)
{
    for (size_t i = 0; i < hf_commands_n; i++)
        if (strcmp(hf_commands[i].name, name) == 0)
            return &hf_commands[i];
    return NULL;
}

/* Dispatch on the command name; see commands.h. */
int hf_commands_main(int argc, char **argv)
{
    hf_cmd_args_t a;
    if (argc < 2) {
        hf_cmd_overview(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("hubfn %s\n", HF_VERSION);
        return 0;
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        name = "help";
    const hf_cmd_t *cmd = hf_commands_find(name);
    if (!cmd) {
        fprintf(stderr, "hubfn: unknown command \"%s\" (see `hubfn help`)\n", name);
        return 2;
    }
    int rc = hf_cmdline_parse(cmd, argc - 1, argv + 1, &a);
    if (rc >= 0)
        return rc;
    return cmd->main(&a);
}
