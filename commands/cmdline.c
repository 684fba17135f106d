/*
 * Command lines as data: getopt_long driven by a command's declaration, and help text
 * written from the same declaration.
 */
#include "cmdline.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* getopt_long's value for option i of a command (above every short option's letter). */
#define HF_OPT_VAL(i) (256 + (i))
/* The help text's width. */
#define HF_HELP_WIDTH 90

/* Print "hubfn CMD: ..." with a pointer to the help; returns 2. */
int hf_cmdline_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "hubfn %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see `hubfn help %s`)\n", cmd);
    return 2;
}

/* A whole number from min to max; see cmdline.h. */
int hf_cmdline_int(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end)
        return -1;
    if (errno == ERANGE || v < min || v > max)
        return -2;
    *out = v;
    return 0;
}

/* Check the value of option o and store it in *v; 0, or 2 after saying what is wrong. */
static int hf_cmdline_value(const hf_cmd_t *cmd, const hf_cmd_opt_t *o, const char *text,
                            hf_cmd_value_t *v)
{
    if (o->repeat) {
        if (v->count == HF_CMD_MAX_REPEATS)
            return hf_cmdline_usage_error(cmd->name, "--%s may be given at most %d times",
                                          o->name, HF_CMD_MAX_REPEATS);
        v->all[v->count++] = text;
    }
    v->set = 1;
    v->text = text;
    if (o->type == HF_ARG_INT) {
        int rc = hf_cmdline_int(text, o->min, o->max, &v->num);
        if (rc == -1)
            return hf_cmdline_usage_error(cmd->name, "--%s needs %s", o->name, o->needs);
        if (rc == -2)
            return hf_cmdline_usage_error(cmd->name, "--%s needs %s from %ld to %ld, not %s",
                                          o->name, o->unit, o->min, o->max, text);
    } else if (o->type == HF_ARG_TEXT && o->valid && !o->valid(text)) {
        if (!*text)
            return hf_cmdline_usage_error(cmd->name, "--%s needs %s", o->name, o->needs);
        return hf_cmdline_usage_error(cmd->name, "--%s needs %s, not \"%s\"", o->name,
                                      o->needs, text);
    }
    return 0;
}

/* The index in cmd->opts (n options) of getopt_long's value c, or n when none has it. */
static size_t hf_cmdline_index(const hf_cmd_t *cmd, size_t n, int c)
{
    if (c >= HF_OPT_VAL(0) && c < HF_OPT_VAL((int)n))
        return (size_t)(c - HF_OPT_VAL(0));
    for (size_t i = 0; i < n; i++)
        if (c > 0 && cmd->opts[i].letter == c)
            return i;
    return n;
}

/* Parse a command line; see cmdline.h. */
int hf_cmdline_parse(const hf_cmd_t *cmd, int argc, char **argv, hf_cmd_args_t *a)
{
    struct option longopts[HF_CMD_MAX_OPTS + 2];
    /* '-': positional arguments come back in order, as option 1; ':': a missing value
       comes back as ':' rather than '?'. */
    char shortopts[2 * HF_CMD_MAX_OPTS + 8] = "-:h";
    size_t sl = strlen(shortopts), n = 0, npos = 0;
    int c;

    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    for (; cmd->opts[n].name; n++) {
        const hf_cmd_opt_t *o = &cmd->opts[n];
        int has_arg = o->type == HF_ARG_FLAG ? no_argument : required_argument;
        longopts[n] = (struct option){o->name, has_arg, NULL, HF_OPT_VAL((int)n)};
        if (o->letter) {
            shortopts[sl++] = o->letter;
            if (has_arg)
                shortopts[sl++] = ':';
        }
    }
    shortopts[sl] = '\0';
    longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n + 1] = (struct option){NULL, 0, NULL, 0};

    optind = 0;                  /* start afresh (GNU) */
    opterr = 0;                  /* the messages below replace getopt's */
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        size_t i;
        if (c == 1) {
            if (!cmd->args[npos].name)
                return hf_cmdline_usage_error(cmd->name, "unexpected argument \"%s\"", optarg);
            a->arg[npos++] = optarg;
        } else if (c == 'h') {
            hf_cmdline_help(cmd, stdout);
            return 0;
        } else if (c == ':') {
            i = hf_cmdline_index(cmd, n, optopt);
            return hf_cmdline_usage_error(cmd->name, "--%s needs %s",
                                          i < n ? cmd->opts[i].name : "?",
                                          i < n ? cmd->opts[i].needs : "a value");
        } else if (c == '?') {
            /* An unknown option, or a value given to one that takes none. */
            i = hf_cmdline_index(cmd, n, optopt);
            if (i < n || optopt == 'h')
                return hf_cmdline_usage_error(cmd->name, "--%s takes no value",
                                              i < n ? cmd->opts[i].name : "help");
            if (optopt > 0 && optopt < 256)
                return hf_cmdline_usage_error(cmd->name, "unknown option -%c", optopt);
            return hf_cmdline_usage_error(cmd->name, "unknown option %s", argv[optind - 1]);
        } else if ((i = hf_cmdline_index(cmd, n, c)) < n) {
            int rc = hf_cmdline_value(cmd, &cmd->opts[i], optarg, &a->opt[i]);
            if (rc)
                return rc;
        }
    }
    /* What follows "--" is positional. */
    for (; optind < argc; optind++) {
        if (!cmd->args[npos].name)
            return hf_cmdline_usage_error(cmd->name, "unexpected argument \"%s\"",
                                          argv[optind]);
        a->arg[npos++] = argv[optind];
    }
    for (size_t k = npos; cmd->args[k].name; k++)
        if (cmd->args[k].missing)
            return hf_cmdline_usage_error(cmd->name, "%s", cmd->args[k].missing);
    for (size_t k = 0; k < n; k++)
        if (cmd->opts[k].required && !a->opt[k].set)
            return hf_cmdline_usage_error(cmd->name, "%s", cmd->opts[k].required);
    return -1;
}

/* An option as the usage line and the option list show it: "--workers N". */
static void hf_cmdline_spec(const hf_cmd_opt_t *o, char *buf, size_t bufsz)
{
    if (o->letter)
        snprintf(buf, bufsz, "-%c, --%s%s%s", o->letter, o->name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
    else
        snprintf(buf, bufsz, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

/* Append one item of the usage line, wrapping before it when the line would get too
   long; continuation lines start at column indent. */
static void hf_cmdline_usage_item(FILE *out, const char *item, int indent, int *col)
{
    int len = (int)strlen(item);
    if (*col + 1 + len > HF_HELP_WIDTH && *col > indent) {
        fprintf(out, "\n%*s", indent, "");
        *col = indent;
    } else {
        fputc(' ', out);
        (*col)++;
    }
    fputs(item, out);
    *col += len;
}

/* Write the help of a command; see cmdline.h. */
void hf_cmdline_help(const hf_cmd_t *cmd, FILE *out)
{
    char item[160], spec[128];
    int indent = (int)strlen("usage: hubfn ") + (int)strlen(cmd->name);
    int col = indent, width = 0;

    fprintf(out, "usage: hubfn %s", cmd->name);
    indent++;
    for (const hf_cmd_arg_t *p = cmd->args; p->name; p++) {
        snprintf(item, sizeof(item), p->missing || p->shown ? "%s" : "[%s]",
                 p->shown ? p->shown : p->name);
        hf_cmdline_usage_item(out, item, indent, &col);
    }
    for (const hf_cmd_opt_t *o = cmd->opts; o->name; o++) {
        snprintf(item, sizeof(item), o->required ? "--%s%s%s%s" : "[--%s%s%s]%s", o->name,
                 o->arg ? " " : "", o->arg ? o->arg : "", o->repeat ? "..." : "");
        hf_cmdline_usage_item(out, item, indent, &col);
    }
    fprintf(out, "\n\n%s", cmd->intro);

    for (const hf_cmd_opt_t *o = cmd->opts; o->name; o++) {
        hf_cmdline_spec(o, spec, sizeof(spec));
        if ((int)strlen(spec) > width)
            width = (int)strlen(spec);
    }
    if (width < 10)
        width = 10;                          /* "-h, --help" */
    for (const hf_cmd_opt_t *o = cmd->opts; o->name; o++) {
        const char *h = o->help;
        hf_cmdline_spec(o, spec, sizeof(spec));
        fprintf(out, "  %-*s  ", width, spec);
        for (;;) {
            const char *nl = strchr(h, '\n');
            if (!nl) {
                fprintf(out, "%s\n", h);
                break;
            }
            fprintf(out, "%.*s\n%*s", (int)(nl - h), h, width + 4, "");
            h = nl + 1;
        }
    }
    fprintf(out, "  %-*s  this help\n", width, "-h, --help");
    fputs(cmd->outro, out);
}
