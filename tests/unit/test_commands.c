/* Unit tests of the command table and its parser: options by long name, "=value" and
   order, range and type errors, positional arguments, and help texts that list every
   option within 90 columns. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "test.h"

static hf_cmd_args_t args;
static char said[4096];          /* what the parse printed (stdout and stderr) */

/* Parse "CMD ARG..." (words split on spaces) with stdout and stderr captured in `said`;
   returns hf_cmdline_parse's result, or with call_main set, the command's exit code when
   the line parses (for the checks a command makes itself). */
static int parse_or_run(const char *line, int call_main)
{
    static char buf[512];
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof(buf), "%s", line);
    for (char *w = strtok(buf, " "); w && argc < 31; w = strtok(NULL, " "))
        argv[argc++] = strcmp(w, "''") == 0 ? "" : w;
    argv[argc] = NULL;
    const hf_cmd_t *cmd = hf_commands_find(argv[0]);
    if (!cmd)
        return -9;
    char path[] = "/tmp/hubfn-test-commands.XXXXXX";
    int fd = mkstemp(path);
    fflush(stdout);
    fflush(stderr);
    int out = dup(1), err = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    int rc = hf_cmdline_parse(cmd, argc, argv, &args);
    if (rc < 0 && call_main)
        rc = cmd->main(&args);
    fflush(stdout);
    fflush(stderr);
    dup2(out, 1);
    dup2(err, 2);
    close(out);
    close(err);
    ssize_t n = pread(fd, said, sizeof(said) - 1, 0);
    said[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

static int parse(const char *line)
{
    return parse_or_run(line, 0);
}

/* The parsed value of option --name. */
static const hf_cmd_value_t *opt(const char *name)
{
    static const hf_cmd_value_t none;
    for (size_t i = 0; args.cmd->opts[i].name; i++)
        if (strcmp(args.cmd->opts[i].name, name) == 0)
            return &args.opt[i];
    return &none;
}

/* The help of a command as text. */
static const char *help(const char *name)
{
    static char text[8192];
    FILE *f = fmemopen(text, sizeof(text), "w");
    hf_cmdline_help(hf_commands_find(name), f);
    fclose(f);
    return text;
}

TEST(options_in_any_order)
{
    CHECK_INT(parse("start --workers 3 app --embedded --http-port=0"), -1);
    CHECK_STR(args.arg[0], "app");
    CHECK_INT(opt("workers")->num, 3);
    CHECK_INT(opt("embedded")->set, 1);
    CHECK_INT(opt("http-port")->set, 1);
    CHECK_INT(opt("http-port")->num, 0);
    CHECK_INT(opt("partitions")->set, 0);
    CHECK_INT(parse("send C H - --key userId --no-progress"), -1);
    CHECK_STR(args.arg[2], "-");
    CHECK_STR(opt("key")->text, "userId");
    CHECK_INT(opt("no-progress")->set, 1);
    CHECK_INT(parse("run fn --events=- --log-format json"), -1);
    CHECK_STR(opt("events")->text, "-");
    CHECK_STR(opt("log-format")->text, "json");
    /* after "--" everything is positional */
    CHECK_INT(parse("send C H -- -x"), -1);
    CHECK_STR(args.arg[2], "-x");
}

TEST(numbers_name_their_range)
{
    CHECK_INT(parse("start --workers 0"), 2);
    CHECK_STR(said, "hubfn start: --workers needs a whole number from 1 to 65535, not 0 "
                    "(see `hubfn help start`)\n");
    CHECK_INT(parse("start --workers lots"), 2);
    CHECK_STR(said, "hubfn start: --workers needs a whole number (see `hubfn help start`)\n");
    CHECK_INT(parse("start --http-port 70000"), 2);
    CHECK_HAS(said, "--http-port needs a port number from 0 to 65535, not 70000");
    CHECK_INT(parse("start --drain-timeout 0"), 2);
    CHECK_HAS(said, "--drain-timeout needs seconds from 1 to 3600, not 0");
    CHECK_INT(parse("start --drain-timeout soon"), 2);
    CHECK_HAS(said, "--drain-timeout needs seconds (1-3600)");
    CHECK_INT(parse("send C H --max-event-bytes 67108865"), 2);
    CHECK_HAS(said, "--max-event-bytes needs a whole number from 1 to 67108864, not 67108865");
    CHECK_INT(parse("start --workers 99999999999999999999"), 2);
    CHECK_HAS(said, "from 1 to 65535, not 99999999999999999999");
}

TEST(values_and_flags)
{
    CHECK_INT(parse("start --workers"), 2);
    CHECK_HAS(said, "hubfn start: --workers needs a whole number (see");
    CHECK_INT(parse("start --http-address localhost:80"), 2);
    CHECK_HAS(said, "--http-address needs an IPv4 or IPv6 address, e.g. 0.0.0.0, 127.0.0.1 "
                    "or ::, not \"localhost:80\"");
    CHECK_INT(parse("run fn --events f --log-format xml"), 2);
    CHECK_HAS(said, "--log-format needs text or json, not \"xml\"");
    CHECK_INT(parse("run fn --events f --log-format"), 2);
    CHECK_HAS(said, "hubfn run: --log-format needs text or json (see `hubfn help run`)");
    CHECK_INT(parse("send C H --key ''"), 2);
    CHECK_HAS(said, "--key needs field names, e.g. --key userId,anonymousId (see");
    CHECK_INT(parse("start --embedded=yes"), 2);
    CHECK_HAS(said, "hubfn start: --embedded takes no value");
    CHECK_INT(parse("start --bogus"), 2);
    CHECK_HAS(said, "hubfn start: unknown option --bogus (see `hubfn help start`)");
    CHECK_INT(parse("new -x"), 2);
    CHECK_HAS(said, "hubfn new: unknown option -x");
}

TEST(repeatable_options_keep_every_value)
{
    CHECK_INT(parse("start --embedded --hub a --workers 2 --hub=b:8 --hub c"), -1);
    CHECK_INT(opt("hub")->count, 3);
    CHECK_STR(opt("hub")->all[0], "a");
    CHECK_STR(opt("hub")->all[1], "b:8");
    CHECK_STR(opt("hub")->all[2], "c");
    CHECK_INT(opt("workers")->num, 2);
    CHECK_INT(parse("start --embedded"), -1);
    CHECK_INT(opt("hub")->count, 0);
    CHECK_INT(parse("start --embedded --hub orders:0"), 2);
    CHECK_HAS(said, "--hub needs a hub name, optionally with :PARTITIONS (1-65535), e.g. "
                    "orders:8, not \"orders:0\"");
    CHECK_INT(parse("start --embedded --hub a/b"), 2);
    CHECK_INT(parse("start --embedded --hub ''"), 2);
    CHECK_INT(parse("start --embedded-port 70000"), 2);
    CHECK_HAS(said, "--embedded-port needs a port number from 0 to 65535, not 70000");
    CHECK_HAS(help("start"), "[--hub NAME[:N]]...");
}

TEST(positional_arguments)
{
    CHECK_INT(parse("start a b"), 2);
    CHECK_STR(said, "hubfn start: unexpected argument \"b\" (see `hubfn help start`)\n");
    CHECK_INT(parse("run --events f"), 2);
    CHECK_HAS(said, "hubfn run: missing FUNCTION_DIR");
    CHECK_INT(parse_or_run("run fn", 1), 2);
    CHECK_HAS(said, "hubfn run: missing --events FILE or --captured FILE (- for standard "
                    "input)");
    CHECK_INT(parse_or_run("run fn --events a --captured b", 1), 2);
    CHECK_HAS(said, "hubfn run: --events and --captured cannot be combined");
    CHECK_INT(parse_or_run("capture C H --from-offset 1 --from-time 2026-01-01", 1), 2);
    CHECK_HAS(said, "hubfn capture: --from-offset and --from-time cannot be combined");
    CHECK_INT(parse("capture C H --from-time yesterday"), 2);
    CHECK_STR(said, "hubfn capture: --from-time needs an ISO 8601 date-time such as "
                    "2026-05-02T08:15:00Z, not \"yesterday\" (see `hubfn help capture`)\n");
    CHECK_INT(parse("checkpoints"), 2);
    CHECK_HAS(said, "hubfn checkpoints: missing FUNCTION, the function whose checkpoints to "
                    "show");
    CHECK_INT(parse("checkpoints app fn x"), 2);
    CHECK_HAS(said, "unexpected argument \"x\"");
    CHECK_INT(parse("checkpoints fn --set 0:1,2:3"), -1);
    CHECK_INT(parse("checkpoints fn --set 2026-05-02T08:15:00Z"), -1);
    CHECK_INT(parse("checkpoints fn --set latest"), -1);
    CHECK_INT(parse("checkpoints fn --set 0:"), 2);
    CHECK_STR(said, "hubfn checkpoints: --set needs earliest, latest, an ISO 8601 date-time or "
                    "PARTITION:OFFSET[,PARTITION:OFFSET...], not \"0:\" (see `hubfn help "
                    "checkpoints`)\n");
    CHECK_INT(parse("checkpoints fn --set ,0:1"), 2);
    CHECK_INT(parse("checkpoints fn --set Earliest"), 2);
    CHECK_INT(parse_or_run("checkpoints fn --dry-run", 1), 2);
    CHECK_HAS(said, "hubfn checkpoints: --dry-run goes with --set");
    CHECK_INT(parse_or_run("send C H f --captured g", 1), 2);
    CHECK_HAS(said, "hubfn send: give FILE or --captured FILE, not both");
    CHECK_INT(parse("capture C H --partition -1"), 2);
    CHECK_HAS(said, "hubfn capture: --partition needs a partition number from 0 to 65535, "
                    "not -1");
    CHECK_INT(parse("send"), 2);
    CHECK_HAS(said, "missing CONNECTION (a setting name or a connection value)");
    CHECK_INT(parse("send C"), 2);
    CHECK_HAS(said, "hubfn send: missing HUB (see `hubfn help send`)");
    CHECK_INT(parse("new"), 2);
    CHECK_HAS(said, "hubfn new: missing NAME, the function (and folder) to create");
}

TEST(help_option)
{
    CHECK_INT(parse("start --help"), 0);
    CHECK_STR(said, help("start"));
    CHECK_INT(parse("new x -h"), 0);
    CHECK_STR(said, help("new"));
}

TEST(help_lists_every_option)
{
    for (size_t i = 0; i < hf_commands_n; i++) {
        const hf_cmd_t *cmd = &hf_commands[i];
        const char *text = help(cmd->name);
        char want[64];
        snprintf(want, sizeof(want), "usage: hubfn %s", cmd->name);
        CHECK(strncmp(text, want, strlen(want)) == 0);
        for (const hf_cmd_opt_t *o = cmd->opts; o->name; o++) {
            snprintf(want, sizeof(want), "[--%s", o->name);
            if (!o->required)
                CHECK_HAS(text, want);
            snprintf(want, sizeof(want), "\n  --%s", o->name);
            CHECK_HAS(text, want);
        }
        for (const char *line = text; *line;) {
            const char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line) : strlen(line);
            if (len > 90)
                CHECK_STR(cmd->name, "a help line over 90 columns");
            line += len + (nl != NULL);
        }
    }
    CHECK_HAS(help("run"), "--log-format text|json  text or json (default: text on a "
                           "terminal, json lines otherwise)");
    CHECK_HAS(help("start"), "default: text on a terminal, json lines otherwise");
    CHECK_HAS(help("checkpoints"), "usage: hubfn checkpoints [APP] FUNCTION [--set WHERE] "
                                   "[--dry-run] [--json]\n");
    CHECK_HAS(help("capture"), "usage: hubfn capture CONNECTION HUB [--partition N]");
}

TEST_MAIN()
