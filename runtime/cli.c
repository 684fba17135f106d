#include "cli.h"

#include <string.h>

typedef struct hf_cmd_help {
    const char *name;
    const char *summary;
    const char *usage;
    const char *details;
} hf_cmd_help_t;

static const hf_cmd_help_t commands[] = {
    {"start", "host a function app on Event Hubs (or Kafka)",
     "hubfn start [APP] [--embedded] [--exit-on-eof] [--workers N] [--partitions N]\n"
     "            [--http-port N] [--drain-timeout S] [--log-format text|json]",
     "Runs every function of APP (default: the current folder) until SIGINT or SIGTERM,\n"
     "then drains: stops fetching, finishes in-flight batches, commits, leaves the group.\n"
     "  --embedded        start an in-process Kafka-protocol broker, create every hub the\n"
     "                    app names and point every connection at it\n"
     "  --partitions N    partitions per hub of the embedded broker (default 4)\n"
     "  --exit-on-eof     exit 0 once every assigned partition is drained and committed\n"
     "  --workers N       Lua worker threads (default: the number of cores)\n"
     "  --drain-timeout S how long a drain may take before hubfn exits anyway (default 25)\n"
     "  --log-format F    text (default) or json lines\n"},
    {"run", "run one function locally on events from a file, no broker",
     "hubfn run FUNCTION_DIR --events FILE|-",
     "FILE holds one event body per line (a line that is not JSON is still an event).\n"
     "Every output message is printed on stdout as one JSON line:\n"
     "  {\"binding\":..,\"eventHubName\":..,\"partitionKey\":..,\"properties\":{..},\"body\":..}\n"
     "Logs go to stderr. Exit 0 when every invocation succeeded, 1 when one failed,\n"
     "2 for usage or configuration errors.\n"},
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
