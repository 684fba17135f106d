/*
 * Command lines as data. A command declares its positional arguments and its options
 * (long name, short name, value name, help, what a value must be); hf_cmdline_parse
 * builds getopt_long's table from that declaration and checks every value, and
 * hf_cmdline_help writes the usage line and the option list from the same declaration,
 * so what a command accepts and what its help says cannot drift apart.
 *
 * Usage errors are one line on stderr, "hubfn CMD: PROBLEM (see `hubfn help CMD`)", and
 * exit code 2.
 */
#ifndef HF_CMDLINE_H
#define HF_CMDLINE_H

#include <stdio.h>

/* Most positional arguments and options a command declares. */
#define HF_CMD_MAX_ARGS 4
#define HF_CMD_MAX_OPTS 16
/* Most values a repeatable option keeps. */
#define HF_CMD_MAX_REPEATS 64

typedef enum {
    HF_ARG_FLAG,                 /* no value */
    HF_ARG_TEXT,                 /* a value, checked by valid() when set */
    HF_ARG_INT                   /* a whole number from min to max */
} hf_cmd_opt_type_t;

typedef struct hf_cmd_opt {
    const char *name;            /* long name without "--"; NULL ends the list */
    char letter;                 /* short name, or 0 */
    hf_cmd_opt_type_t type;
    const char *arg;             /* the value's name in help ("N", "FILE|-"); NULL for flags */
    const char *help;            /* help text; '\n' continues it on the next line */
    const char *needs;           /* what a value must be, for "--NAME needs NEEDS" when it is
                                    missing, not a number, or refused by valid() */
    long min, max;               /* HF_ARG_INT: the range */
    const char *unit;            /* HF_ARG_INT: what a value is, for "--NAME needs UNIT from
                                    MIN to MAX, not V" */
    int (*valid)(const char *value);   /* HF_ARG_TEXT: 1 when the value will do; NULL = any */
    const char *required;        /* the message when the option is left out; NULL when it is
                                    optional */
    int repeat;                  /* HF_ARG_TEXT: may be given several times, every value kept
                                    (else the last one wins) */
} hf_cmd_opt_t;

typedef struct hf_cmd_arg {
    const char *name;            /* as the usage line shows it ("APP", "FILE|-"); NULL ends */
    const char *missing;         /* the message when it is left out; NULL when optional */
    const char *shown;           /* the usage line's text when not NAME or [NAME] (an
                                    optional first argument before a required one), or NULL */
} hf_cmd_arg_t;

/* One option as given on the command line. */
typedef struct hf_cmd_value {
    int set;                     /* given (a flag: at least once) */
    const char *text;            /* the value as given (NULL for a flag) */
    long num;                    /* HF_ARG_INT: the value */
    const char *all[HF_CMD_MAX_REPEATS];   /* a repeatable option: every value, in order */
    int count;                   /* a repeatable option: how many */
} hf_cmd_value_t;

typedef struct hf_cmd hf_cmd_t;

/* A parsed command line. */
typedef struct hf_cmd_args {
    const hf_cmd_t *cmd;
    const char *arg[HF_CMD_MAX_ARGS];      /* positional arguments; NULL when not given */
    hf_cmd_value_t opt[HF_CMD_MAX_OPTS];   /* by index in cmd->opts */
} hf_cmd_args_t;

struct hf_cmd {
    const char *name;
    const char *summary;         /* one line for `hubfn help` */
    const hf_cmd_arg_t *args;    /* positional arguments in order */
    const hf_cmd_opt_t *opts;    /* options in the order help lists them */
    const char *intro;           /* help text before the option list */
    const char *outro;           /* help text after it ("" for none) */
    int (*main)(const hf_cmd_args_t *a);   /* runs the command; returns the exit code */
};

/*
 * Parse argv[1..argc) (argv[0] is the command's name) into *a. Options and positional
 * arguments may come in any order; "--" ends the options, "--name=value" works as well
 * as "--name value", and -h / --help asks for the help. Returns -1 when the command line
 * is good, else the exit code to return at once: 0 after printing the help on stdout,
 * 2 after printing a usage error.
 */
int hf_cmdline_parse(const hf_cmd_t *cmd, int argc, char **argv, hf_cmd_args_t *a);

/* Write the help of cmd: the usage line, the intro, the options, the outro. */
void hf_cmdline_help(const hf_cmd_t *cmd, FILE *out);

/* Print "hubfn CMD: PROBLEM (see `hubfn help CMD`)" on stderr; returns 2. */
int hf_cmdline_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Read a whole number from min to max (strtol's syntax, base 10). 0, or -1 when s is not
   a number; -2 when it is one out of range. */
int hf_cmdline_int(const char *s, long min, long max, long *out);

#endif
