#include "cli.h"

#include <string.h>

#include "new.h"

typedef struct hf_cmd_help {
    const char *name;
    const char *summary;
    const char *usage;
    const char *details;
} hf_cmd_help_t;

static const hf_cmd_help_t commands[] = {
    {"start", "host a function app on Event Hubs (or Kafka)",
     "hubfn start [APP] [--embedded] [--exit-on-eof] [--workers N] [--partitions N]\n"
     "            [--http-port N] [--http-address A] [--drain-timeout S]\n"
     "            [--log-format text|json]",
     "Runs every function of APP (default: the current folder) until SIGINT or SIGTERM,\n"
     "then drains: stops fetching, finishes in-flight batches, commits, leaves the group.\n"
     "  --embedded        start an in-process Kafka-protocol broker, create every hub the\n"
     "                    app names and point every connection at it\n"
     "  --partitions N    partitions per hub of the embedded broker (default 4)\n"
     "  --exit-on-eof     exit 0 once every assigned partition is drained and committed\n"
     "  --workers N       Lua worker threads (default: the number of cores)\n"
     "  --http-port N     serve /healthz, /readyz and /metrics (Prometheus) on port N\n"
     "                    (0: any free port; default: off, or $HUBFN_HTTP_PORT)\n"
     "  --http-address A  the address to listen on (default 0.0.0.0, or\n"
     "                    $HUBFN_HTTP_ADDRESS)\n"
     "  --drain-timeout S how long a drain may take before hubfn exits anyway (default 25,\n"
     "                    or HUBFN_DRAIN_TIMEOUT; keep it under Kubernetes' grace period)\n"
     "  --log-format F    text (default) or json lines\n"},
    {"run", "run one function locally on events from a file, no broker",
     "hubfn run FUNCTION_DIR --events FILE|-",
     "FILE holds one event body per line (a line that is not JSON is still an event).\n"
     "Every output message is printed on stdout as one JSON line:\n"
     "  {\"binding\":..,\"eventHubName\":..,\"partitionKey\":..,\"properties\":{..},\"body\":..}\n"
     "Logs go to stderr. Exit 0 when every invocation succeeded, 1 when one failed,\n"
     "2 for usage or configuration errors.\n"},
    {"send", "publish events from a file to a hub",
     "hubfn send CONNECTION HUB [FILE|-] [--key FIELD[,FIELD...]] [--max-event-bytes N]\n"
     "           [--timeout S] [--no-progress]",
     "Publishes every event of FILE (default: standard input) to HUB and waits for each\n"
     "delivery report. CONNECTION is an app setting name (the environment, then\n"
     "./local.settings.json Values) or a connection value: an Event Hubs connection string,\n"
     "the emulator's, or host:port[,host:port...]; for `hubfn start --embedded` pass the\n"
     "address it printed.\n"
     "FILE holds JSON lines (one event per line), one JSON array of events, or one document\n"
     "{\"events\": [...]}. Each event is sent as its compact JSON text.\n"
     "  --key F1,F2,...      partition key: the first of these top-level fields holding a\n"
     "                       non-empty string or a number (RudderStack: userId,anonymousId);\n"
     "                       events with none get no key (a random partition). Keys are\n"
     "                       hashed with murmur2, as Java clients do\n"
     "  --max-event-bytes N  the largest event, key included (default 1000000: Event Hubs'\n"
     "                       Kafka endpoint refuses requests over 1046528 bytes)\n"
     "  --timeout S          how long an event may take to be delivered (default 120)\n"
     "  --no-progress        no progress line (shown only on a terminal anyway)\n"
     "The whole input is checked first: if any event is not valid JSON or is too large,\n"
     "every such event is reported by line and nothing is sent.\n"
     "Ends with one line on stderr: \"sent N events to HUB in T s (P partitions), F failed\".\n"
     "Exit 0 when every event was delivered, 1 when some were not (or the hub refused the\n"
     "connection: wrong key, no Send rights, no such hub), 2 for usage, configuration or\n"
     "input errors (nothing sent). See docs/send.md.\n"},
    {"new", HF_NEW_SUMMARY, HF_NEW_USAGE, HF_NEW_DETAILS},
    {"help", "show help for a command", "hubfn help [COMMAND]", ""},
};

int hf_cli_help(const char *cmd, FILE *out)
{
    size_t n = sizeof(commands) / sizeof(commands[0]);
    if (!cmd) {
        fprintf(out, "hubfn: a host for Lua trigger functions on Azure Event Hubs\n\ncommands:\n");
        for (size_t i = 0; i < n; i++)
            fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
        fprintf(out, "\nhubfn --version prints the version; hubfn help COMMAND explains one.\n");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(commands[i].name, cmd) == 0) {
            fprintf(out, "usage: %s\n\n%s", commands[i].usage, commands[i].details);
            return 0;
        }
    }
    fprintf(stderr, "hubfn help: unknown command \"%s\"\n", cmd);
    return 2;
}
