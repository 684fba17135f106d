/*
 * Option tables: every setting hubfn reads from host.json, and every key a binding type reads
 * from its function.json binding, is declared once in a table of hf_option_t (Fluent Bit's
 * config map). The table gives each key its type, range, default, aliases and a one-line
 * help; one reader fills a C struct from a JSON object with it (defaults, checks, messages
 * naming the file and the key), warns about unknown keys with the nearest known one, and the
 * same table writes the host.json of `hubfn new` and the settings tables of
 * docs/configuration.md (a unit test fails when the docs and the tables disagree).
 *
 * Keys of host.json tables are dotted paths ("extensions.eventHubs.prefetchCount"); an
 * HF_OPT_SECTION entry says that the object at that path is hubfn's, so that unknown keys in
 * it are reported. Binding tables hold plain keys.
 *
 * Thread: any; the tables are constant.
 */
#ifndef HF_OPTIONS_H
#define HF_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

typedef enum {
    HF_OPT_STRING,       /* char * (malloc'd); "" counts as absent unless HF_OPT_EMPTY_OK */
    HF_OPT_INT,          /* int, from min to max; numeric strings too ("10", as overrides give) */
    HF_OPT_BOOL,         /* int 0 or 1: true/false, or the strings "true"/"false" (any case) */
    HF_OPT_DURATION,     /* long long milliseconds: "hh:mm:ss[.fff]", from min to max ms */
    HF_OPT_TIME,         /* long long epoch milliseconds: ISO 8601 */
    HF_OPT_ENUM,         /* int: the index of the word in choices (matched in any case) */
    HF_OPT_STRINGS,      /* hf_strings_t: an object of scalars (HTTP headers, librdkafka props) */
    HF_OPT_SECTION,      /* an object whose keys are the options under this path */
    HF_OPT_CUSTOM,       /* known here, read by the owner (retry, logging.logLevel, bindings) */
    HF_OPT_IGNORED       /* an Azure key with no effect in hubfn: accepted, with a note */
} hf_opt_type_t;

enum {
    HF_OPT_REQUIRED = 1 << 0,   /* absent is an error (the owner may check instead) */
    HF_OPT_SHAPES = 1 << 1,     /* changes what the handler receives: an unknown key that
                                   looks like this one is an error, not a warning */
    HF_OPT_HUBFN = 1 << 2,      /* hubfn's own setting, not Azure's */
    HF_OPT_UNBOUNDED = 1 << 3,  /* durations: -1, "-1" and null mean no limit (stored as -1) */
    HF_OPT_SECRET = 1 << 4,     /* the value is never printed */
    HF_OPT_TEMPLATE = 1 << 5,   /* `hubfn new` writes it, with its default, into host.json */
    HF_OPT_EMPTY_OK = 1 << 6,   /* strings: "" is a value, not "absent" */
    HF_OPT_WARN = 1 << 7,       /* HF_OPT_IGNORED: say so with a warning (Azure keys that
                                   look meaningful but do nothing over Kafka) */
};

/* An object of scalar values, in the order given (later duplicates replace earlier ones). */
typedef struct hf_strings {
    char **keys;
    char **values;
    size_t n;
} hf_strings_t;

typedef struct hf_option {
    const char *name;            /* key, or dotted path in host.json tables */
    hf_opt_type_t type;
    size_t offset;               /* where the value goes in the struct being filled */
    const char *def;             /* the default as JSON text ("100", "\"00:05:00\""), or NULL */
    long long min, max;          /* INT: the range; DURATION: the range in ms (0,0 = any) */
    const char *const *choices;  /* ENUM: the accepted words, NULL-terminated */
    unsigned flags;
    const char *aliases;         /* other names, comma-separated, read first so the name wins
                                    ("eventProcessorOptions.maxBatchSize", "path") */
    const char *noun;            /* what a value is, for messages: "a cardinality" */
    const char *use;             /* what to write instead, for messages: "use \"one\" or
                                    \"many\"", "e.g. \"00:01:00\"" */
    const char *help;            /* one line: what it does (docs, hubfn help settings) */
} hf_option_t;

/* How a value is read: where it came from and where problems go. */
typedef struct hf_opt_ctx {
    const char *file;            /* "host.json", "functions/router/function.json" */
    const char *prefix;          /* put before a key in messages: "bindings[1]." or "" */
    char *err;                   /* one line on failure (the reader returns -1) */
    size_t errsz;
    /* A warning line (unknown key, ignored key); NULL drops them. */
    void (*warn)(void *ud, const char *line);
    /* " (set by ...)" when the value at path came from somewhere else than the file
       (host.json overrides); NULL when nothing does. */
    const char *(*origin)(void *ud, const char *path, char *buf, size_t bufsz);
    void *ud;
} hf_opt_ctx_t;

/* Fill out with every option's default (strings strdup'd). */
void hf_options_defaults(const hf_option_t *table, void *out);

/* Read the keys of table from obj (the object the table describes; for host.json, the
   document root) into out, which holds the defaults or earlier values: absent keys keep
   them. Checks types and ranges; the first problem is one line in ctx->err and -1. */
int hf_options_read(const hf_option_t *table, const cJSON *obj, void *out,
                    const hf_opt_ctx_t *ctx);

/* Warn about the keys of obj no option of `tables` (NULL-terminated) names, with the
   nearest known key when one is close. A host.json table lists its sections (HF_OPT_SECTION;
   the root is the one named ""): a section flagged HF_OPT_WARN reports every unknown key, an
   open one only keys close to a known one (Azure's own settings pass quietly). A table with
   no sections (a binding's) checks obj itself, every key. A key whose nearest known key has
   HF_OPT_SHAPES is an error instead (-1 with ctx->err): a typo there would change what the
   handler receives without a word. 0 otherwise. */
int hf_options_check_keys(const hf_option_t *const *tables, const cJSON *obj,
                          const hf_opt_ctx_t *ctx);

/* An integer from a JSON number or a numeric string ("10", as overrides give). 0, or -1
   when it is neither (a fraction, a word). */
int hf_options_int(const cJSON *v, long long *out);

/* Free what hf_options_read or hf_options_defaults allocated in out. */
void hf_options_free(const hf_option_t *table, void *out);

/* 1 when every option has the same value in a and b. */
int hf_options_equal(const hf_option_t *table, const void *a, const void *b);

/* The option named `name` (any case; aliases too), or NULL. */
const hf_option_t *hf_options_find(const hf_option_t *table, const char *name);

/* The known key nearest to `key` (edit distance at most 3, or a known alias's last part),
   among the keys directly under `section` ("" = the top); NULL when none is close. */
const hf_option_t *hf_options_nearest(const hf_option_t *table, const char *section,
                                      const char *key);

/* The word of `words` (NULL-terminated) nearest to `key` (same rule as
   hf_options_nearest), or NULL. */
const char *hf_options_nearest_word(const char *key, const char *const *words);

/* Write the table as a Markdown table (key, default, accepted values, meaning): the rows
   of docs/configuration.md. `prefix` is put before each key ("extensions.eventHubs."). */
void hf_options_markdown(const hf_option_t *table, FILE *out);

/* Write the JSON object of the options flagged HF_OPT_TEMPLATE, with their defaults, as
   indented text (host.json of `hubfn new`). */
void hf_options_template(const hf_option_t *table, FILE *out);

/* The accepted values of an option in words ("integer from 1 to 10000000"). */
const char *hf_options_accepted(const hf_option_t *o, char *buf, size_t bufsz);

void hf_strings_free(hf_strings_t *s);
/* Set key to value (replacing an equal key, compared in any case when ci). 0 or -1 OOM. */
int hf_strings_set(hf_strings_t *s, const char *key, const char *value, int ci);
/* The value of key (compared in any case when ci), or NULL. */
const char *hf_strings_get(const hf_strings_t *s, const char *key, int ci);

#endif
