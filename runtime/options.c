/*
 * Option tables: defaults, reading and checking values, unknown keys, docs and templates,
 * all from one hf_option_t array. See options.h.
 */
#define _GNU_SOURCE
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "app.h"
#include "config_json.h"

#define PATH_MAX_LEN 300

/* ---------------------------------------------------------------------------------- */
/* Small helpers                                                                       */

static int is_value(const hf_option_t *o)
{
    return o->type != HF_OPT_SECTION && o->type != HF_OPT_CUSTOM && o->type != HF_OPT_IGNORED;
}

/* The last dotted segment of a path. */
static const char *last_segment(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

/* Case-insensitive Levenshtein distance of two short strings (99 when either is long). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The value at a dotted path under obj (keys matched in any case), or NULL. Only paths of
   the tables are walked, so keys holding dots (librdkafka properties) never split. */
static const cJSON *at_path(const cJSON *obj, const char *path)
{
    char seg[PATH_MAX_LEN];
    const char *p = path;
    const cJSON *cur = obj;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(seg) || !cJSON_IsObject(cur))
            return NULL;
        memcpy(seg, p, n);
        seg[n] = 0;
        cur = hf_cfgjson_get(cur, seg);
        p = dot ? dot + 1 : p + n;
    }
    return cur;
}

/* The section a path lives in: "extensions.eventHubs" for "extensions.eventHubs.x". */
static void section_of(const char *path, char *out, size_t outsz)
{
    const char *dot = strrchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : 0;
    if (n >= outsz)
        n = outsz - 1;
    memcpy(out, path, n);
    out[n] = 0;
}

/* Call fn for the option's name and each alias; stops at a non-zero return. */
static int each_name(const hf_option_t *o, int (*fn)(const char *name, void *ud), void *ud)
{
    if (o->aliases) {
        const char *p = o->aliases;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            char name[PATH_MAX_LEN];
            if (n < sizeof(name)) {
                memcpy(name, p, n);
                name[n] = 0;
                int rc = fn(name, ud);
                if (rc)
                    return rc;
            }
            p = comma ? comma + 1 : p + n;
        }
    }
    return fn(o->name, ud);
}

/* ---------------------------------------------------------------------------------- */
/* Strings                                                                             */

void hf_strings_free(hf_strings_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->keys[i]);
        free(s->values[i]);
    }
    free(s->keys);
    free(s->values);
    memset(s, 0, sizeof(*s));
}

int hf_strings_set(hf_strings_t *s, const char *key, const char *value, int ci)
{
    for (size_t i = 0; i < s->n; i++) {
        if (ci ? strcasecmp(s->keys[i], key) == 0 : strcmp(s->keys[i], key) == 0) {
            free(s->values[i]);
            s->values[i] = hf_strdup(value);
            return 0;
        }
    }
    s->keys = hf_realloc(s->keys, (s->n + 1) * sizeof(*s->keys));
    s->values = hf_realloc(s->values, (s->n + 1) * sizeof(*s->values));
    s->keys[s->n] = hf_strdup(key);
    s->values[s->n] = hf_strdup(value);
    s->n++;
    return 0;
}

const char *hf_strings_get(const hf_strings_t *s, const char *key, int ci)
{
    for (size_t i = s->n; i-- > 0;)
        if (ci ? strcasecmp(s->keys[i], key) == 0 : strcmp(s->keys[i], key) == 0)
            return s->values[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Reading values                                                                      */

/* An integer from a JSON number or a numeric string. 0, or -1 if it is not one. */
int hf_options_int(const cJSON *v, long long *out)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d != d || d < -9e15 || d > 9e15 || d != (double)(long long)d)
            return -1;
        *out = (long long)d;
        return 0;
    }
    if (cJSON_IsString(v) && v->valuestring) {
        const char *s = v->valuestring;
        char *end;
        while (isspace((unsigned char)*s))
            s++;
        if (!*s || (!isdigit((unsigned char)*s) && *s != '-' && *s != '+'))
            return -1;
        errno = 0;
        long long r = strtoll(s, &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        if (errno || *end || end == s)
            return -1;
        *out = r;
        return 0;
    }
    return -1;
}

/* "hh:mm:ss" of ms (whole seconds), for messages. */
static const char *format_duration(long long ms, char *buf, size_t bufsz)
{
    long long s = ms / 1000;
    if (s >= 86400)
        snprintf(buf, bufsz, "%lld.%02lld:%02lld:%02lld", s / 86400, s / 3600 % 24, s / 60 % 60,
                 s % 60);
    else
        snprintf(buf, bufsz, "%02lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    return buf;
}

/* Report a problem with the value at `path`: "FILE: PREFIXPATH: MESSAGE (set by ...)". */
static int __attribute__((format(printf, 3, 4)))
opt_fail(const hf_opt_ctx_t *ctx, const char *path, const char *fmt, ...)
{
    char msg[700], origin[400] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ctx->origin)
        ctx->origin(ctx->ud, path, origin, sizeof(origin));
    if (ctx->err && ctx->errsz) {
        char raw[1400];
        snprintf(raw, sizeof(raw), "%s: %s%s: %s%s", ctx->file, ctx->prefix ? ctx->prefix : "",
                 path, msg, origin);
        hf_secret_mask(raw, ctx->err, ctx->errsz);
    }
    return -1;
}

static const char *describe(const cJSON *v, char *buf, size_t bufsz)
{
    return hf_cfgjson_describe(v, buf, bufsz);
}

/* Convert and store one value; path is the name it was found under. */
static int store(const hf_option_t *o, const cJSON *v, const char *path, void *out,
                 const hf_opt_ctx_t *ctx)
{
    char desc[96], num[64];
    char *field = (char *)out + o->offset;
    long long x;
    if (cJSON_IsNull(v)) {
        if (o->type == HF_OPT_DURATION && (o->flags & HF_OPT_UNBOUNDED))
            *(long long *)field = -1;
        return 0;                          /* null keeps the default */
    }
    switch (o->type) {
    case HF_OPT_STRING: {
        if (!cJSON_IsString(v))
            return opt_fail(ctx, path, "expected a string, got %s", describe(v, desc, sizeof(desc)));
        if (!*v->valuestring && !(o->flags & HF_OPT_EMPTY_OK))
            return 0;
        char **s = (char **)field;
        free(*s);
        *s = hf_strdup(v->valuestring);
        return 0;
    }
    case HF_OPT_INT:
        if (hf_options_int(v, &x) < 0 || x < o->min || x > o->max) {
            char what[128] = "";
            describe(v, desc, sizeof(desc));
            if (o->noun)
                snprintf(what, sizeof(what), " (%s)", o->noun);
            if (o->min == 1 && o->max == INT_MAX)
                return opt_fail(ctx, path, "expected a positive integer, got %s", desc);
            if (o->max == INT_MAX || (hf_options_int(v, &x) == 0 && x < o->min))
                return opt_fail(ctx, path, "expected an integer >= %lld, got %s", o->min, desc);
            return opt_fail(ctx, path, "expected an integer from %lld to %lld%s, got %s", o->min,
                            o->max, what, desc);
        }
        *(int *)field = (int)x;
        return 0;
    case HF_OPT_BOOL:
        if (cJSON_IsBool(v)) {
            *(int *)field = cJSON_IsTrue(v);
            return 0;
        }
        if (cJSON_IsString(v) && (strcasecmp(v->valuestring, "true") == 0 ||
                                  strcasecmp(v->valuestring, "false") == 0)) {
            *(int *)field = strcasecmp(v->valuestring, "true") == 0;
            return 0;
        }
        return opt_fail(ctx, path, "expected true or false, got %s", describe(v, desc, sizeof(desc)));
    case HF_OPT_DURATION: {
        const char *example = o->use ? o->use : "00:01:00";
        char lim[32];
        if (cJSON_IsNumber(v) && v->valuedouble == -1 && (o->flags & HF_OPT_UNBOUNDED)) {
            *(long long *)field = -1;
            return 0;
        }
        if (!cJSON_IsString(v))
            return opt_fail(ctx, path, "expected a duration such as \"%s\", got %s", example,
                            describe(v, desc, sizeof(desc)));
        if (hf_duration_parse(v->valuestring, &x) < 0)
            return opt_fail(ctx, path, "%s is not a duration (use hh:mm:ss, e.g. \"%s\")",
                            describe(v, desc, sizeof(desc)), example);
        if (x < 0 && !(o->flags & HF_OPT_UNBOUNDED))
            return opt_fail(ctx, path, "\"-1\" (no limit) is not allowed here (use hh:mm:ss, "
                            "e.g. \"%s\")", example);
        if (x >= 0 && x < o->min) {
            if (o->min <= 1)
                return opt_fail(ctx, path, "must be more than 0%s",
                                (o->flags & HF_OPT_UNBOUNDED) ? " (use \"-1\" for no limit)" : "");
            return opt_fail(ctx, path, "%s is less than the minimum of %s",
                            describe(v, desc, sizeof(desc)), format_duration(o->min, lim, sizeof(lim)));
        }
        if (o->max > 0 && x > o->max)
            return opt_fail(ctx, path, "%s is more than the maximum of %s",
                            describe(v, desc, sizeof(desc)), format_duration(o->max, lim, sizeof(lim)));
        *(long long *)field = x;
        return 0;
    }
    case HF_OPT_TIME:
        if (!cJSON_IsString(v) || hf_time_parse(v->valuestring, &x) < 0)
            return opt_fail(ctx, path, "%s is not a time (use ISO 8601, e.g. "
                            "\"2020-10-26T20:31:00Z\")", describe(v, desc, sizeof(desc)));
        *(long long *)field = x;
        return 0;
    case HF_OPT_ENUM:
        if (!cJSON_IsString(v))
            return opt_fail(ctx, path, "expected a string, got %s", describe(v, desc, sizeof(desc)));
        for (int i = 0; o->choices[i]; i++) {
            if (strcasecmp(o->choices[i], v->valuestring) == 0) {
                *(int *)field = i;
                return 0;
            }
        }
        return opt_fail(ctx, path, "%s is not %s (%s)", describe(v, desc, sizeof(desc)),
                        o->noun ? o->noun : "an accepted value", o->use ? o->use : "see the docs");
    case HF_OPT_STRINGS: {
        hf_strings_t *s = (hf_strings_t *)field;
        char sub[PATH_MAX_LEN + 256];
        if (!cJSON_IsObject(v))
            return opt_fail(ctx, path, "expected an object, got %s", describe(v, desc, sizeof(desc)));
        for (const cJSON *it = v->child; it; it = it->next) {
            if (!it->string || !*it->string)
                return opt_fail(ctx, path, "a property has an empty name");
            snprintf(sub, sizeof(sub), "%s.%s", path, it->string);
            const char *text = hf_cfgjson_scalar(it, num, sizeof(num));
            if (!text)
                return opt_fail(ctx, sub, "expected a string, a number or true/false, got %s",
                                describe(it, desc, sizeof(desc)));
            hf_strings_set(s, it->string, text, 1);
        }
        return 0;
    }
    default:
        return 0;
    }
}

typedef struct read_st {
    const hf_option_t *o;
    const cJSON *obj;
    void *out;
    const hf_opt_ctx_t *ctx;
} read_st_t;

static int read_name(const char *name, void *ud)
{
    read_st_t *st = ud;
    const cJSON *v = at_path(st->obj, name);
    if (!v)
        return 0;
    return store(st->o, v, name, st->out, st->ctx) < 0 ? -1 : 0;
}

/* Does v give a required option a value? null does not, nor "" for a string unless the
   option takes it. */
static int has_value(const hf_option_t *o, const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return 0;
    if (o->type == HF_OPT_STRING && cJSON_IsString(v) && !*v->valuestring &&
        !(o->flags & HF_OPT_EMPTY_OK))
        return 0;
    return 1;
}

int hf_options_read(const hf_option_t *table, const cJSON *obj, void *out,
                    const hf_opt_ctx_t *ctx)
{
    char desc[96];
    /* Sections first, so that a section that is not an object is reported as such. */
    for (const hf_option_t *o = table; o->name; o++) {
        if (o->type != HF_OPT_SECTION)
            continue;
        const cJSON *v = at_path(obj, o->name);
        if (v && !cJSON_IsNull(v) && !cJSON_IsObject(v))
            return opt_fail(ctx, o->name, "expected an object, got %s",
                            describe(v, desc, sizeof(desc)));
    }
    for (const hf_option_t *o = table; o->name; o++) {
        if (!is_value(o))
            continue;
        read_st_t st = {o, obj, out, ctx};
        if (each_name(o, read_name, &st) < 0)
            return -1;
        if ((o->flags & HF_OPT_REQUIRED) && !has_value(o, at_path(obj, o->name))) {
            int found = 0, written = at_path(obj, o->name) != NULL;
            if (o->aliases) {
                char names[PATH_MAX_LEN];
                snprintf(names, sizeof(names), "%s", o->aliases);
                for (char *tok = strtok(names, ","); tok && !found; tok = strtok(NULL, ",")) {
                    found = has_value(o, at_path(obj, tok));
                    written |= at_path(obj, tok) != NULL;
                }
            }
            if (!found)
                return opt_fail(ctx, o->name, "%s%s%s%s", written ? "empty" : "missing",
                                o->help ? " (" : "", o->help ? o->help : "",
                                o->help ? ")" : "");
        }
    }
    return 0;
}

void hf_options_defaults(const hf_option_t *table, void *out)
{
    hf_opt_ctx_t ctx = {.file = "(defaults)"};
    for (const hf_option_t *o = table; o->name; o++) {
        if (!is_value(o) || !o->def)
            continue;
        cJSON *v = cJSON_Parse(o->def);
        if (!v)
            hf_panic("option %s: its default %s is not JSON", o->name, o->def);
        store(o, v, o->name, out, &ctx);
        cJSON_Delete(v);
    }
}

void hf_options_free(const hf_option_t *table, void *out)
{
    for (const hf_option_t *o = table; o->name; o++) {
        char *field = (char *)out + o->offset;
        if (o->type == HF_OPT_STRING) {
            free(*(char **)field);
            *(char **)field = NULL;
        } else if (o->type == HF_OPT_STRINGS) {
            hf_strings_free((hf_strings_t *)field);
        }
    }
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int hf_options_equal(const hf_option_t *table, const void *a, const void *b)
{
    for (const hf_option_t *o = table; o->name; o++) {
        const char *fa = (const char *)a + o->offset, *fb = (const char *)b + o->offset;
        switch (o->type) {
        case HF_OPT_STRING:
            if (!same_str(*(char *const *)fa, *(char *const *)fb))
                return 0;
            break;
        case HF_OPT_INT:
        case HF_OPT_BOOL:
        case HF_OPT_ENUM:
            if (*(const int *)fa != *(const int *)fb)
                return 0;
            break;
        case HF_OPT_DURATION:
        case HF_OPT_TIME:
            if (*(const long long *)fa != *(const long long *)fb)
                return 0;
            break;
        case HF_OPT_STRINGS: {
            const hf_strings_t *sa = (const hf_strings_t *)fa, *sb = (const hf_strings_t *)fb;
            if (sa->n != sb->n)
                return 0;
            for (size_t i = 0; i < sa->n; i++)
                if (!same_str(sa->keys[i], sb->keys[i]) || !same_str(sa->values[i], sb->values[i]))
                    return 0;
            break;
        }
        default:
            break;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------------------------- */
/* Known keys                                                                          */

typedef struct find_st {
    const char *name;
} find_st_t;

static int name_is(const char *name, void *ud)
{
    return strcasecmp(name, ((find_st_t *)ud)->name) == 0;
}

const hf_option_t *hf_options_find(const hf_option_t *table, const char *name)
{
    find_st_t st = {name};
    for (const hf_option_t *o = table; o && o->name; o++)
        if (each_name(o, name_is, &st))
            return o;
    return NULL;
}

typedef struct near_st {
    const char *section;
    const char *key;
    size_t best;
    int hit;
} near_st_t;

/* Is `name` directly under the section, or an alias whose last part could be meant? */
static int near_name(const char *name, void *ud)
{
    near_st_t *st = ud;
    char sec[PATH_MAX_LEN];
    section_of(name, sec, sizeof(sec));
    size_t d = edit_distance(st->key, last_segment(name));
    /* an alias's last part counts from any depth below the section ("maxBatchSize") */
    if (strcasecmp(sec, st->section) != 0 &&
        (strncasecmp(sec, st->section, strlen(st->section)) != 0 || d != 0))
        return 0;
    if (d < st->best) {
        st->best = d;
        st->hit = 1;
    }
    return 0;
}

const hf_option_t *hf_options_nearest(const hf_option_t *table, const char *section,
                                      const char *key)
{
    const hf_option_t *best = NULL;
    size_t bestd = 4;
    size_t keylen = strlen(key);
    for (const hf_option_t *o = table; o && o->name; o++) {
        if (o->type == HF_OPT_IGNORED)
            continue;
        near_st_t st = {section, key, 99, 0};
        each_name(o, near_name, &st);
        if (st.hit && st.best < bestd && st.best < keylen) {
            bestd = st.best;
            best = o;
        }
    }
    return best;
}

const char *hf_options_nearest_word(const char *key, const char *const *words)
{
    const char *best = NULL;
    size_t bestd = 4, keylen = strlen(key);
    for (size_t i = 0; words[i]; i++) {
        size_t d = edit_distance(key, words[i]);
        if (d < bestd && d < keylen) {
            bestd = d;
            best = words[i];
        }
    }
    return best;
}

/* Is key (directly under section) named by an option of the table? */
static const hf_option_t *known(const hf_option_t *table, const char *section, const char *key)
{
    char path[PATH_MAX_LEN * 2];
    if (*section)
        snprintf(path, sizeof(path), "%s.%s", section, key);
    else
        snprintf(path, sizeof(path), "%s", key);
    return hf_options_find(table, path);
}

/* Check the keys of one object (the section at `section`); `open`: report only keys close
   to a known one. */
static int check_object(const hf_option_t *const *tables, const char *section, const cJSON *obj,
                        int open, const hf_opt_ctx_t *ctx)
{
    char path[PATH_MAX_LEN * 2];
    for (const cJSON *it = obj->child; it; it = it->next) {
        const char *k = it->string;
        const hf_option_t *o = NULL;
        if (!k)
            continue;
        for (size_t t = 0; tables[t] && !o; t++)
            o = known(tables[t], section, k);
        if (*section)
            snprintf(path, sizeof(path), "%s.%s", section, k);
        else
            snprintf(path, sizeof(path), "%s", k);
        if (o) {
            if (o->type == HF_OPT_IGNORED && (o->flags & HF_OPT_WARN) && ctx->warn) {
                char line[1200];
                snprintf(line, sizeof(line), "%s: %s%s has no effect in hubfn (%s); ignored",
                         ctx->file, ctx->prefix ? ctx->prefix : "", path,
                         o->help ? o->help : "not used over the Kafka endpoint");
                ctx->warn(ctx->ud, line);
            }
            continue;
        }
        const hf_option_t *near = NULL;
        for (size_t t = 0; tables[t] && !near; t++)
            near = hf_options_nearest(tables[t], section, k);
        if (open && !near)
            continue;
        const char *near_key = near ? last_segment(near->name) : NULL;
        if (near && (near->flags & HF_OPT_SHAPES))
            return opt_fail(ctx, path, "not a key hubfn knows (did you mean %s? as written it is "
                            "ignored and %s keeps its default, which changes what the handler "
                            "receives)", near_key, near_key);
        if (ctx->warn) {
            char line[1200];
            if (near)
                snprintf(line, sizeof(line), "%s: %s%s is not a setting hubfn knows; ignored "
                         "(did you mean %s?)", ctx->file, ctx->prefix ? ctx->prefix : "", path,
                         near_key);
            else
                snprintf(line, sizeof(line), "%s: %s%s is not a setting hubfn knows; ignored",
                         ctx->file, ctx->prefix ? ctx->prefix : "", path);
            ctx->warn(ctx->ud, line);
        }
    }
    return 0;
}

int hf_options_check_keys(const hf_option_t *const *tables, const cJSON *obj,
                          const hf_opt_ctx_t *ctx)
{
    if (!cJSON_IsObject(obj) || !tables[0])
        return 0;
    int sections = 0;
    for (const hf_option_t *o = tables[0]; o->name; o++) {
        if (o->type != HF_OPT_SECTION)
            continue;
        sections++;
        const cJSON *v = *o->name ? at_path(obj, o->name) : obj;
        if (cJSON_IsObject(v) &&
            check_object(tables, o->name, v, !(o->flags & HF_OPT_WARN), ctx) < 0)
            return -1;
    }
    if (!sections)
        return check_object(tables, "", obj, 0, ctx);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Docs and templates                                                                  */

const char *hf_options_accepted(const hf_option_t *o, char *buf, size_t bufsz)
{
    char a[32], b[32];
    size_t n = 0;
    switch (o->type) {
    case HF_OPT_STRING:
        snprintf(buf, bufsz, "a string");
        break;
    case HF_OPT_INT:
        if (o->max == INT_MAX)
            snprintf(buf, bufsz, "integer ≥ %lld", o->min);
        else
            snprintf(buf, bufsz, "integer from %lld to %lld", o->min, o->max);
        break;
    case HF_OPT_BOOL:
        snprintf(buf, bufsz, "`true` or `false`");
        break;
    case HF_OPT_DURATION:
        if (o->max > 0)
            snprintf(buf, bufsz, "a duration from %s to %s%s",
                     format_duration(o->min, a, sizeof(a)), format_duration(o->max, b, sizeof(b)),
                     (o->flags & HF_OPT_UNBOUNDED) ? "; `-1` = no limit" : "");
        else if (o->min > 1)
            snprintf(buf, bufsz, "a duration of at least %s%s", format_duration(o->min, a, sizeof(a)),
                     (o->flags & HF_OPT_UNBOUNDED) ? "; `-1` = no limit" : "");
        else
            snprintf(buf, bufsz, "a duration%s%s", o->min == 1 ? " greater than 0" : "",
                     (o->flags & HF_OPT_UNBOUNDED) ? "; `-1` or `null` = no limit" : "");
        break;
    case HF_OPT_TIME:
        snprintf(buf, bufsz, "an ISO 8601 time");
        break;
    case HF_OPT_ENUM:
        buf[0] = 0;
        for (int i = 0; o->choices[i]; i++)
            n += (size_t)snprintf(buf + n, n < bufsz ? bufsz - n : 0, "%s`%s`",
                                  i == 0 ? "" : o->choices[i + 1] ? ", " : " or ", o->choices[i]);
        break;
    case HF_OPT_STRINGS:
        snprintf(buf, bufsz, "an object of strings");
        break;
    case HF_OPT_SECTION:
        snprintf(buf, bufsz, "an object");
        break;
    case HF_OPT_IGNORED:
        snprintf(buf, bufsz, "ignored");
        break;
    default:
        snprintf(buf, bufsz, "%s", o->use ? o->use : "see below");
    }
    return buf;
}

/* A default as docs show it: the JSON text without quotes, or "none". */
static const char *doc_default(const hf_option_t *o, char *buf, size_t bufsz)
{
    if (o->flags & HF_OPT_REQUIRED)
        return "required";
    if (!o->def)
        return "none";
    size_t n = strlen(o->def);
    if (n >= 2 && o->def[0] == '"' && o->def[n - 1] == '"')
        snprintf(buf, bufsz, "`%.*s`", (int)(n - 2), o->def + 1);
    else
        snprintf(buf, bufsz, "`%s`", o->def);
    return buf;
}

void hf_options_markdown(const hf_option_t *table, FILE *out)
{
    char acc[300], def[128];
    fprintf(out, "| key | default | accepted values | meaning |\n|---|---|---|---|\n");
    for (const hf_option_t *o = table; o->name; o++) {
        if (o->type == HF_OPT_SECTION || o->type == HF_OPT_IGNORED || !*o->name)
            continue;
        fprintf(out, "| `%s`", o->name);
        if (o->aliases) {
            char names[PATH_MAX_LEN];
            snprintf(names, sizeof(names), "%s", o->aliases);
            int first = 1;
            for (char *tok = strtok(names, ","); tok; tok = strtok(NULL, ",")) {
                fprintf(out, "%s`%s`", first ? " (also " : ", ", tok);
                first = 0;
            }
            fprintf(out, ")");
        }
        if (o->flags & HF_OPT_HUBFN)
            fprintf(out, " (hubfn)");
        fprintf(out, " | %s | %s | %s |\n", doc_default(o, def, sizeof(def)),
                hf_options_accepted(o, acc, sizeof(acc)), o->help ? o->help : "");
    }
}

/* Write the template options under `section` as JSON members at `indent`. */
static void template_level(const hf_option_t *table, const char *section, int indent, FILE *out,
                           int *first)
{
    for (const hf_option_t *o = table; o->name; o++) {
        char sec[PATH_MAX_LEN];
        section_of(o->name, sec, sizeof(sec));
        if (strcmp(sec, section) != 0 || !*o->name)
            continue;
        int wanted = 0;
        if (o->type == HF_OPT_SECTION) {
            size_t l = strlen(o->name);
            for (const hf_option_t *c = table; c->name && !wanted; c++)
                wanted = (c->flags & HF_OPT_TEMPLATE) && strncmp(c->name, o->name, l) == 0 &&
                         c->name[l] == '.';
        } else {
            wanted = (o->flags & HF_OPT_TEMPLATE) && o->def;
        }
        if (!wanted)
            continue;
        fprintf(out, "%s\n%*s\"%s\": ", *first ? "" : ",", indent, "", last_segment(o->name));
        *first = 0;
        if (o->type == HF_OPT_SECTION) {
            int inner = 1;
            fprintf(out, "{");
            template_level(table, o->name, indent + 2, out, &inner);
            fprintf(out, "\n%*s}", indent, "");
        } else {
            fprintf(out, "%s", o->def);
        }
    }
}

void hf_options_template(const hf_option_t *table, FILE *out)
{
    int first = 1;
    fprintf(out, "{");
    template_level(table, "", 2, out, &first);
    fprintf(out, "\n}\n");
}
