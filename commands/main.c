/*
 * hubfn: command-line entry. Usage errors exit 2 with one line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "host.h"
#include "http.h"
#include "log.h"
#include "new.h"
#include "run.h"
#include "send.h"

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "hubfn %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see `hubfn help %s`)\n", cmd);
    return 2;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int set_log_format(const char *cmd, const char *v)
{
    if (strcmp(v, "text") == 0)
        hf_log_setup(HF_LOG_TEXT, isatty(2));
    else if (strcmp(v, "json") == 0)
        hf_log_setup(HF_LOG_JSON, 0);
    else
        return usage_error(cmd, "--log-format must be text or json, not \"%s\"", v);
    return 0;
}

static int cmd_start(int argc, char **argv)
{
    hf_host_opts_t opts = {0};
    opts.app_dir = ".";
    opts.http_port = -1;
    opts.partitions = 4;
    int have_dir = 0;
    /* Containers set these instead of flags; a flag wins. */
    const char *env_port = getenv("HUBFN_HTTP_PORT");
    if (env_port && *env_port && parse_int(env_port, 0, 65535, &opts.http_port) != 0)
        return usage_error("start", "HUBFN_HTTP_PORT must be a port number (0-65535), not \"%s\"",
                           env_port);
    const char *env_addr = getenv("HUBFN_HTTP_ADDRESS");
    if (env_addr && *env_addr) {
        if (!hf_http_valid_address(env_addr))
            return usage_error("start", "HUBFN_HTTP_ADDRESS must be an IPv4 or IPv6 address, "
                               "not \"%s\"", env_addr);
        opts.http_address = env_addr;
    }
    const char *env_drain = getenv("HUBFN_DRAIN_TIMEOUT");
    if (env_drain && *env_drain) {
        int n;
        if (parse_int(env_drain, 1, 3600, &n) != 0)
            return usage_error("start", "HUBFN_DRAIN_TIMEOUT must be seconds (1-3600), not \"%s\"",
                               env_drain);
        opts.drain_timeout_s = n;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--embedded") == 0) {
            opts.embedded = 1;
        } else if (strcmp(a, "--exit-on-eof") == 0) {
            opts.exit_on_eof = 1;
        } else if (strcmp(a, "--workers") == 0 || strcmp(a, "--partitions") == 0 ||
                   strcmp(a, "--http-port") == 0) {
            int n;
            int lo = strcmp(a, "--http-port") == 0 ? 0 : 1;
            if (!v || parse_int(v, lo, 65535, &n) != 0)
                return usage_error("start", "%s needs a whole number", a);
            if (strcmp(a, "--workers") == 0)
                opts.workers = n;
            else if (strcmp(a, "--partitions") == 0)
                opts.partitions = n;
            else
                opts.http_port = n;
            i++;
        } else if (strcmp(a, "--http-address") == 0) {
            if (!v || !hf_http_valid_address(v))
                return usage_error("start", "--http-address needs an IPv4 or IPv6 address, "
                                   "e.g. 0.0.0.0, 127.0.0.1 or ::, not \"%s\"", v ? v : "");
            opts.http_address = v;
            i++;
        } else if (strcmp(a, "--drain-timeout") == 0) {
            int n;
            if (!v || parse_int(v, 1, 3600, &n) != 0)
                return usage_error("start", "%s needs seconds (1-3600)", a);
            opts.drain_timeout_s = n;
            i++;
        } else if (strcmp(a, "--log-format") == 0) {
            if (!v)
                return usage_error("start", "%s needs text or json", a);
            if (set_log_format("start", v))
                return 2;
            i++;
        } else if (a[0] == '-') {
            return usage_error("start", "unknown option %s", a);
        } else if (!have_dir) {
            opts.app_dir = a;
            have_dir = 1;
        } else {
            return usage_error("start", "unexpected argument \"%s\"", a);
        }
    }
    return hf_host_main(&opts);
}

static int cmd_run(int argc, char **argv)
{
    const char *dir = NULL, *events = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--events") == 0) {
            if (i + 1 >= argc)
                return usage_error("run", "%s needs a file, or - for standard input", argv[i]);
            events = argv[++i];
        } else if (strcmp(argv[i], "--log-format") == 0) {
            if (i + 1 >= argc || set_log_format("run", argv[i + 1]))
                return 2;
            i++;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error("run", "unknown option %s", argv[i]);
        } else if (!dir) {
            dir = argv[i];
        } else {
            return usage_error("run", "unexpected argument \"%s\"", argv[i]);
        }
    }
    if (!dir)
        return usage_error("run", "%s", "missing FUNCTION_DIR");
    if (!events)
        return usage_error("run", "%s", "missing --events FILE (or --events - for standard input)");
    return hf_run_main(dir, events);
}

static int cmd_send(int argc, char **argv)
{
    hf_send_opts_t opts = {0};
    const char *pos[3];
    int npos = 0;
    opts.progress = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--key") == 0) {
            if (!v || !*v)
                return usage_error("send", "%s needs field names, e.g. --key userId,anonymousId",
                                   a);
            opts.keys = v;
            i++;
        } else if (strcmp(a, "--max-event-bytes") == 0) {
            int n;
            if (!v || parse_int(v, 1, HF_SEND_MAX_EVENT_LIMIT, &n) != 0)
                return usage_error("send", "%s needs a whole number from 1 to 67108864", a);
            opts.max_event_bytes = (size_t)n;
            i++;
        } else if (strcmp(a, "--timeout") == 0) {
            int n;
            if (!v || parse_int(v, 1, 3600, &n) != 0)
                return usage_error("send", "%s needs seconds (1-3600)", a);
            opts.timeout_s = n;
            i++;
        } else if (strcmp(a, "--no-progress") == 0) {
            opts.progress = 0;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("send", "unknown option %s", a);
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            return usage_error("send", "unexpected argument \"%s\"", a);
        }
    }
    if (npos < 1)
        return usage_error("send", "%s", "missing CONNECTION (a setting name or a connection value)");
    if (npos < 2)
        return usage_error("send", "%s", "missing HUB");
    opts.connection = pos[0];
    opts.hub = pos[1];
    opts.file = npos > 2 ? pos[2] : NULL;
    if (!*opts.hub)
        return usage_error("send", "%s", "HUB is empty");
    return hf_send_main(&opts);
}

int main(int argc, char **argv)
{
    /* Readable text on a terminal; JSON lines for log collectors (containers, CI). */
    hf_log_setup(isatty(2) ? HF_LOG_TEXT : HF_LOG_JSON, isatty(2));
    if (argc < 2)
        return hf_cli_help(NULL, stderr), 2;
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("hubfn %s\n", HF_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return hf_cli_help(argc > 2 ? argv[2] : NULL, stdout);
    if (strcmp(cmd, "start") == 0)
        return cmd_start(argc - 2, argv + 2);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "send") == 0)
        return cmd_send(argc - 2, argv + 2);
    if (strcmp(cmd, "new") == 0)
        return hf_new_main(argc - 2, argv + 2);
    fprintf(stderr, "hubfn: unknown command \"%s\" (see `hubfn help`)\n", cmd);
    return 2;
}
