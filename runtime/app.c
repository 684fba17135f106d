/*
 * Function app loading: local.settings.json, host.json (with AzureFunctionsJobHost__a__b
 * overrides), every NAME/function.json (with %SETTING% references resolved) and the
 * connections the bindings name, into one hf_app_t. Loading never prints: the first
 * problem becomes one line naming the file, the field and what is wrong, with every
 * registered secret masked.
 */
#define _GNU_SOURCE
#include "app.h"
#include "config_json.h"

#include "alloc.h"
#include "binding.h"
#include "jsonpath.h"
#include "kafka.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

extern char **environ;

#define HF_CONFIG_MAX_BYTES (16 << 20)
#define HF_OVERRIDE_PREFIX "AzureFunctionsJobHost"
#define HF_PATH_MAX 512

/* One host.json key set by an override, for messages. */
typedef struct {
    char *path;      /* lower-case dotted path, "extensions.eventhubs.maxeventbatchsize" */
    char *source;    /* "environment variable AzureFunctionsJobHost__..." */
} ld_origin_t;

/* Loader state. */
typedef struct {
    hf_app_t *app;
    hf_app_opts_t opts;
    char *disp;                    /* display prefix of the app folder: "" or "functions/" */
    char *err;
    size_t errsz;
    const hf_app_file_t *mem;      /* in-memory files (hf_app_load_mem), else NULL */
    size_t mem_n;
    ld_origin_t *orig;
    size_t orig_n;
} ld_t;

/* ---------------------------------------------------------------------------------- */
/* Small helpers                                                                       */

/* Format one error line into the caller's buffer, secrets masked; returns -1. */
static int fail(ld_t *ld, const char *fmt, ...)
{
    char raw[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    if (ld->err && ld->errsz)
        hf_secret_mask(raw, ld->err, ld->errsz);
    return -1;
}

/* printf into a new string. */
static char *fmt_dup(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        hf_panic("cannot format \"%s\"", fmt);
    s = hf_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Add one warning line for the CLI (masked). */
static void warn(ld_t *ld, const char *fmt, ...)
{
    char raw[1024], masked[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    hf_secret_mask(raw, masked, sizeof(masked));
    ld->app->warnings = hf_realloc(ld->app->warnings,
                                   (ld->app->warnings_n + 1) * sizeof(*ld->app->warnings));
    ld->app->warnings[ld->app->warnings_n++] = hf_strdup(masked);
}

/* Case-insensitive string equality, NULL-safe. */
static int ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

/* Set or replace key in a kv array (case-insensitive key match when ci). */
static void kv_set(hf_kv_t **arr, size_t *n, const char *key, const char *value, int ci)
{
    char *v = hf_strdup(value);
    for (size_t i = 0; i < *n; i++) {
        if (ci ? strcasecmp((*arr)[i].key, key) == 0 : strcmp((*arr)[i].key, key) == 0) {
            free((*arr)[i].value);
            (*arr)[i].value = v;
            return;
        }
    }
    *arr = hf_realloc(*arr, (*n + 1) * sizeof(**arr));
    (*arr)[*n].key = hf_strdup(key);
    (*arr)[*n].value = v;
    (*n)++;
}

static void kv_free(hf_kv_t *arr, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(arr[i].key);
        free(arr[i].value);
    }
    free(arr);
}

/* Is s a true setting value: "true" (any case) or "1"? */
static int setting_true(const char *s)
{
    char buf[16];
    size_t n;
    if (!s)
        return 0;
    while (isspace((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= sizeof(buf))
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return strcasecmp(buf, "true") == 0 || strcmp(buf, "1") == 0;
}

/* Lexically normalise a relative path ("a/./b/../c" -> "a/c"). */
static char *path_norm(const char *p)
{
    size_t len = strlen(p), o = 0;
    char *out = hf_malloc(len + 2);
    const char *s = p;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.')) {
            /* skip */
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            if (o)
                out[o++] = '/';
            memcpy(out + o, s, n);
            o += n;
        }
        if (!e)
            break;
        s = e + 1;
    }
    out[o] = '\0';
    return out;
}

/* ---------------------------------------------------------------------------------- */
/* Log levels                                                                          */

/* Level for a category: longest matching logging.logLevel key, else default. */
hf_log_level_t hf_app_log_level(const hf_app_t *app, const char *category)
{
    size_t best = 0;
    hf_log_level_t lvl;
    if (!app)
        return HF_LOG_INFO;
    lvl = app->host.log_default;
    if (!category)
        return lvl;
    for (size_t i = 0; i < app->host.log_levels_n; i++) {
        const char *k = app->host.log_levels[i].key;
        size_t kl = strlen(k);
        hf_log_level_t l;
        if (kl <= best || strncasecmp(category, k, kl) != 0)
            continue;
        if (category[kl] != '\0' && category[kl] != '.')
            continue;
        if (hf_log_level_parse(app->host.log_levels[i].value, &l) == 0) {
            best = kl;
            lvl = l;
        }
    }
    return lvl;
}

/* ---------------------------------------------------------------------------------- */
/* Settings                                                                            */

/* Environment first, then local.settings.json Values. */
const char *hf_app_setting(const hf_app_t *app, const char *name)
{
    const char *v;
    if (!name || !*name)
        return NULL;
    v = getenv(name);
    if (v)
        return v;
    if (app)
        for (size_t i = 0; i < app->values_n; i++)
            if (strcmp(app->values[i].key, name) == 0)
                return app->values[i].value;
    return NULL;
}

void hf_app_export_values(const hf_app_t *app)
{
    for (size_t i = 0; i < app->values_n; i++)
        if (app->values[i].key[0] && !strchr(app->values[i].key, '='))
            setenv(app->values[i].key, app->values[i].value, 0);
}

/* Where a missing setting was looked for. */
static const char *looked_in(const ld_t *ld)
{
    return ld->app->has_local_settings
               ? "looked in the environment and in local.settings.json Values"
               : "looked in the environment; there is no local.settings.json";
}

/* Expand %NAME% references (%% = a literal %) in s; malloc'd result or NULL with the
   error written ("FILE: FIELD: app setting "X" is not set (...)"). */
static char *expand(ld_t *ld, const char *file, const char *field, const char *s)
{
    size_t cap = strlen(s) + 1, o = 0;
    char *out = hf_malloc(cap);
    const char *p = s;
    while (*p) {
        const char *add = p;
        size_t n = 1;
        char name[256];
        if (*p == '%') {
            const char *close = strchr(p + 1, '%');
            if (!close) {
                fail(ld, "%s: %s: unterminated %%NAME%% reference (write %%%% for a literal %%)",
                     file, field);
                free(out);
                return NULL;
            }
            if (close == p + 1) {
                n = 1;              /* "%%": one literal '%' */
                p += 2;
            } else {
                size_t nl = (size_t)(close - p - 1);
                if (nl >= sizeof(name)) {
                    fail(ld, "%s: %s: the setting name in %%...%% is too long", file, field);
                    free(out);
                    return NULL;
                }
                memcpy(name, p + 1, nl);
                name[nl] = '\0';
                add = hf_app_setting(ld->app, name);
                if (!add) {
                    fail(ld, "%s: %s: app setting \"%s\" is not set (%s)", file, field, name,
                         looked_in(ld));
                    free(out);
                    return NULL;
                }
                n = strlen(add);
                p = close + 1;
            }
        } else {
            p++;
        }
        if (o + n + 1 > cap) {
            cap = (o + n + 1) * 2;
            out = hf_realloc(out, cap);
        }
        memcpy(out + o, add, n);
        o += n;
    }
    out[o] = '\0';
    return out;
}

/* Append ".key" or "[i]" to a field path (truncating quietly). */
static void path_push(char *path, size_t cap, const char *key, int idx)
{
    size_t l = strlen(path);
    if (key)
        snprintf(path + l, cap - l, "%s%s", l ? "." : "", key);
    else
        snprintf(path + l, cap - l, "[%d]", idx);
}

/* Resolve %NAME% in every string value under node. */
static int expand_tree(ld_t *ld, const char *file, cJSON *node, char *path, size_t cap)
{
    size_t mark = strlen(path);
    int idx = 0;
    for (cJSON *it = node->child; it; it = it->next, idx++) {
        path_push(path, cap, cJSON_IsObject(node) ? (it->string ? it->string : "") : NULL, idx);
        if (cJSON_IsString(it) && it->valuestring && strchr(it->valuestring, '%')) {
            char *v = expand(ld, file, path, it->valuestring);
            if (!v)
                return -1;
            /* cJSON refuses only a non-string or a reference, which parsing never makes */
            if (!cJSON_SetValuestring(it, v))
                hf_panic("%s: %s: cJSON_SetValuestring refused a parsed string", file, path);
            free(v);
        } else if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
            if (expand_tree(ld, file, it, path, cap) < 0)
                return -1;
        }
        path[mark] = '\0';
    }
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Files                                                                               */

/* Read an app-relative file: 1 read (text NUL-terminated), 0 absent, -1 error. */
static int ld_read(ld_t *ld, const char *rel, char **text, size_t *len)
{
    char *path;
    struct stat st;
    FILE *f;
    size_t got;
    *text = NULL;
    *len = 0;
    if (ld->mem) {
        for (size_t i = 0; i < ld->mem_n; i++) {
            if (ld->mem[i].path && strcmp(ld->mem[i].path, rel) == 0) {
                size_t n = ld->mem[i].text ? ld->mem[i].len : 0;
                *text = hf_memdup(ld->mem[i].text, n);
                *len = n;
                return 1;
            }
        }
        return 0;
    }
    path = fmt_dup("%s/%s", ld->app->dir, rel);
    if (stat(path, &st) != 0) {
        int e = errno;
        free(path);
        if (e == ENOENT || e == ENOTDIR)
            return 0;
        return fail(ld, "%s%s: cannot read (%s)", ld->disp, rel, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        free(path);
        return fail(ld, "%s%s: is not a regular file", ld->disp, rel);
    }
    if (st.st_size > HF_CONFIG_MAX_BYTES) {
        free(path);
        return fail(ld, "%s%s: too large (%lld bytes; the limit is %d)", ld->disp, rel,
                    (long long)st.st_size, HF_CONFIG_MAX_BYTES);
    }
    f = fopen(path, "rb");
    free(path);
    if (!f)
        return fail(ld, "%s%s: cannot read (%s)", ld->disp, rel, strerror(errno));
    *text = hf_malloc((size_t)st.st_size + 1);
    got = fread(*text, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        free(*text);
        *text = NULL;
        return fail(ld, "%s%s: cannot read (%s)", ld->disp, rel, strerror(e));
    }
    fclose(f);
    (*text)[got] = '\0';
    *len = got;
    return 1;
}

/* Read and parse an app-relative JSON file: 1 parsed, 0 absent, -1 error. The root must
   be an object. */
static int ld_json(ld_t *ld, const char *rel, cJSON **root)
{
    char *text, file[HF_PATH_MAX], desc[80];
    size_t len;
    int rc = ld_read(ld, rel, &text, &len);
    *root = NULL;
    if (rc <= 0)
        return rc;
    snprintf(file, sizeof(file), "%s%s", ld->disp, rel);
    *root = hf_cfgjson_parse(text, len, file, ld->err, ld->errsz);
    free(text);
    if (!*root) {
        /* the message may quote the file's text: mask it */
        char raw[1024];
        snprintf(raw, sizeof(raw), "%s", ld->err ? ld->err : "");
        return fail(ld, "%s", raw);
    }
    if (!cJSON_IsObject(*root)) {
        fail(ld, "%s: expected a JSON object, got %s", file,
             hf_cfgjson_describe(*root, desc, sizeof(desc)));
        cJSON_Delete(*root);
        *root = NULL;
        return -1;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------- */
/* local.settings.json                                                                 */

static int load_local_settings(ld_t *ld)
{
    cJSON *root, *enc, *values;
    char file[HF_PATH_MAX], desc[80], num[64];
    int rc = ld_json(ld, "local.settings.json", &root);
    if (rc <= 0)
        return rc;
    ld->app->has_local_settings = 1;
    snprintf(file, sizeof(file), "%slocal.settings.json", ld->disp);
    enc = hf_cfgjson_get(root, "IsEncrypted");
    if (cJSON_IsTrue(enc) || (cJSON_IsString(enc) && setting_true(enc->valuestring))) {
        cJSON_Delete(root);
        return fail(ld, "%s: IsEncrypted is true, but encrypted settings are not supported "
                    "(run \"func settings decrypt\", or set the values in the environment)",
                    file);
    }
    values = hf_cfgjson_get(root, "Values");
    if (values && !cJSON_IsNull(values) && !cJSON_IsObject(values)) {
        fail(ld, "%s: Values: expected an object of strings, got %s", file,
             hf_cfgjson_describe(values, desc, sizeof(desc)));
        cJSON_Delete(root);
        return -1;
    }
    for (cJSON *it = values ? values->child : NULL; it; it = it->next) {
        const char *v = hf_cfgjson_scalar(it, num, sizeof(num));
        if (!v) {
            fail(ld, "%s: Values.%s: expected a string, got %s", file, it->string,
                 hf_cfgjson_describe(it, desc, sizeof(desc)));
            cJSON_Delete(root);
            return -1;
        }
        if (!it->string || !*it->string)
            continue;
        kv_set(&ld->app->values, &ld->app->values_n, it->string, v, 0);
    }
    cJSON_Delete(root);
    return 1;
}

/* ---------------------------------------------------------------------------------- */
/* host.json overrides                                                                 */

/* Remember that `path` (segments) was set by `source`. */
static void origin_add(ld_t *ld, char **segs, size_t n, const char *source)
{
    size_t len = 0;
    char *p;
    for (size_t i = 0; i < n; i++)
        len += strlen(segs[i]) + 1;
    p = hf_malloc(len + 1);
    p[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(p, ".");
        strcat(p, segs[i]);
    }
    for (char *c = p; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    for (size_t i = 0; i < ld->orig_n; i++) {
        if (strcmp(ld->orig[i].path, p) == 0) {
            free(ld->orig[i].source);
            ld->orig[i].source = hf_strdup(source);
            free(p);
            return;
        }
    }
    ld->orig = hf_realloc(ld->orig, (ld->orig_n + 1) * sizeof(*ld->orig));
    ld->orig[ld->orig_n].path = p;
    ld->orig[ld->orig_n].source = hf_strdup(source);
    ld->orig_n++;
}

/* " (set by ...)" when a host.json field came from an override, else "". */
static const char *origin_of(const ld_t *ld, const char *path, char *buf, size_t bufsz)
{
    buf[0] = '\0';
    for (size_t i = 0; i < ld->orig_n; i++)
        if (strcasecmp(ld->orig[i].path, path) == 0)
            snprintf(buf, bufsz, " (set by %s)", ld->orig[i].source);
    return buf;
}

/* Is s a non-negative decimal index? */
static int is_index(const char *s, int *idx)
{
    long v = 0;
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p) || v > 100000)
            return 0;
        v = v * 10 + (*p - '0');
    }
    *idx = (int)v;
    return 1;
}

/* Give a new cJSON item the member name `key` (allocated the way cJSON frees it). */
static void name_item(cJSON *item, const char *key)
{
    size_t n = strlen(key) + 1;
    char *k = cJSON_malloc(n);
    memcpy(k, key, n);
    item->string = k;
}

/* Set (or, for an empty value, remove) the host.json key at segs in root. */
static void override_set(cJSON *root, char **segs, size_t n, const char *value)
{
    cJSON *cur = root;
    for (size_t i = 0; i < n; i++) {
        int last = i + 1 == n, idx;
        cJSON *next = NULL;
        if (cJSON_IsArray(cur)) {
            if (!is_index(segs[i], &idx))
                return;                 /* not an index into an array: ignored */
            next = cJSON_GetArrayItem(cur, idx);
            if (!next && idx != cJSON_GetArraySize(cur))
                return;                 /* a gap: ignored */
        } else {
            next = hf_cfgjson_get(cur, segs[i]);
        }
        if (last) {
            cJSON *leaf;
            if (!*value) {
                if (next)
                    cJSON_Delete(cJSON_DetachItemViaPointer(cur, next));
                return;
            }
            leaf = cJSON_CreateString(value);
            if (next) {
                if (next->string)
                    name_item(leaf, next->string);
                cJSON_ReplaceItemViaPointer(cur, next, leaf);
            } else if (cJSON_IsArray(cur)) {
                cJSON_AddItemToArray(cur, leaf);
            } else {
                cJSON_AddItemToObject(cur, segs[i], leaf);
            }
            return;
        }
        if (!next || (!cJSON_IsObject(next) && !cJSON_IsArray(next))) {
            cJSON *obj;
            if (!*value)
                return;                 /* removing below a missing key: nothing to do */
            obj = cJSON_CreateObject();
            if (next) {
                if (next->string)
                    name_item(obj, next->string);
                cJSON_ReplaceItemViaPointer(cur, next, obj);
            } else if (cJSON_IsArray(cur)) {
                cJSON_AddItemToArray(cur, obj);
            } else {
                cJSON_AddItemToObject(cur, segs[i], obj);
            }
            next = obj;
        }
        cur = next;
    }
}

/* Apply one AzureFunctionsJobHost__a__b=value override, if name is one. */
static void override_one(ld_t *ld, cJSON *root, const char *name, const char *value,
                         const char *source)
{
    size_t plen = strlen(HF_OVERRIDE_PREFIX), n = 0;
    char *rest, *p, *segs[32];
    if (strncasecmp(name, HF_OVERRIDE_PREFIX, plen) != 0)
        return;
    p = (char *)name + plen;
    if (strncmp(p, "__", 2) == 0)
        p += 2;
    else if (*p == ':')
        p += 1;
    else
        return;
    rest = hf_strdup(p);
    /* split on "__" and ':' */
    for (char *s = rest; n < 32;) {
        char *d = strstr(s, "__"), *c = strchr(s, ':'), *e = d;
        size_t skip = 2;
        if (c && (!d || c < d)) {
            e = c;
            skip = 1;
        }
        segs[n++] = s;
        if (!e)
            break;
        *e = '\0';
        s = e + skip;
    }
    for (size_t i = 0; i < n; i++) {
        if (!*segs[i]) {
            warn(ld, "%s: ignored (an empty key between separators)", source);
            free(rest);
            return;
        }
    }
    if (n == 32) {
        warn(ld, "%s: ignored (too deep)", source);
        free(rest);
        return;
    }
    override_set(root, segs, n, value);
    origin_add(ld, segs, n, source);
    free(rest);
}

/* Apply every override: local.settings.json Values first, then the environment (which
   wins, as Core Tools never replaces a variable that is already set). */
static void apply_overrides(ld_t *ld, cJSON *root)
{
    char source[400];
    for (size_t i = 0; i < ld->app->values_n; i++) {
        snprintf(source, sizeof(source), "local.settings.json Values.%s",
                 ld->app->values[i].key);
        override_one(ld, root, ld->app->values[i].key, ld->app->values[i].value, source);
    }
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char name[300];
        size_t nl;
        if (!eq || (nl = (size_t)(eq - *e)) >= sizeof(name))
            continue;
        memcpy(name, *e, nl);
        name[nl] = '\0';
        snprintf(source, sizeof(source), "environment variable %s", name);
        override_one(ld, root, name, eq + 1, source);
    }
}

/* ---------------------------------------------------------------------------------- */
/* host.json                                                                           */

#define H(field) offsetof(hf_host_cfg_t, field)
#define AMQP_ONLY "it configures the AMQP client, not the Kafka endpoint"

static const char *const offset_types[] = {"fromStart", "fromEnd", "fromEnqueuedTime", NULL};

/* Every host.json key hubfn reads, and the Azure keys it knows to have no effect. The root
   and "extensions" are open: only a key close to a known one is reported there (Azure's
   other settings, extensionBundle or extensions.http, are ignored quietly). hubfn's own
   sections report every unknown key. */
static const hf_option_t host_options[] = {
    {"", HF_OPT_SECTION},
    {"version", HF_OPT_CUSTOM, .def = "\"2.0\"", .flags = HF_OPT_REQUIRED | HF_OPT_TEMPLATE,
     .use = "`\"2.0\"`", .help = "the host.json schema hubfn runs"},
    {"functionTimeout", HF_OPT_DURATION, H(function_timeout_ms), "\"00:05:00\"", 1, 0, NULL,
     HF_OPT_UNBOUNDED | HF_OPT_TEMPLATE, .use = "00:05:00",
     .help = "how long one invocation may run before it fails"},
    {"functions", HF_OPT_CUSTOM, .use = "an array of function names (any case)",
     .help = "load only these functions; a name that is no function folder is an error"},
    {"extensions", HF_OPT_SECTION},
    {"extensions.eventHubs", HF_OPT_SECTION, .flags = HF_OPT_WARN},
    {"extensions.eventHubs.maxEventBatchSize", HF_OPT_INT, H(max_batch), "100", 1, INT_MAX,
     NULL, HF_OPT_TEMPLATE, "extensions.eventHubs.eventProcessorOptions.maxBatchSize",
     .help = "the most events in one batch (one invocation with cardinality `many`)"},
    {"extensions.eventHubs.minEventBatchSize", HF_OPT_INT, H(min_batch), "1", 1, INT_MAX,
     NULL, 0,
     .help = "the fewest events a batch waits for, up to maxWaitTime; at most maxEventBatchSize"},
    {"extensions.eventHubs.maxWaitTime", HF_OPT_DURATION, H(max_wait_ms), "\"00:01:00\"", 0,
     600000, NULL, 0, .use = "00:01:00",
     .help = "how long a batch waits for minEventBatchSize events"},
    {"extensions.eventHubs.batchCheckpointFrequency", HF_OPT_INT, H(checkpoint_every), "1", 1,
     INT_MAX, NULL, HF_OPT_TEMPLATE, .help = "batches of a partition between two checkpoints"},
    {"extensions.eventHubs.prefetchCount", HF_OPT_INT, H(prefetch), "300", 0, 10000000, NULL,
     HF_OPT_TEMPLATE, "extensions.eventHubs.eventProcessorOptions.prefetchCount",
     .noun = "librdkafka's queued.min.messages",
     .help = "events each partition fetches ahead of its handler (0: none, as in Azure)"},
    {"extensions.eventHubs.maxEventBytes", HF_OPT_INT, H(max_event_bytes), "1000000", 1,
     64 * 1024 * 1024, NULL, HF_OPT_HUBFN,
     .help = "the largest event an output binding sends (Event Hubs: 1 MB)"},
    {"extensions.eventHubs.partitionConcurrency", HF_OPT_INT, H(partition_concurrency), "1", 1,
     HF_MAX_PARTITION_CONCURRENCY, NULL, HF_OPT_HUBFN,
     .help = "batches of one partition handled at once, spread over the workers (1: one "
             "after the other)"},
    {"extensions.eventHubs.orderingKey", HF_OPT_STRING, H(ordering_key), "\"partitionKey\"",
     0, 0, NULL, HF_OPT_HUBFN, .use = "use \"partitionKey\", \"none\" or \"body:PATH\" "
     "(e.g. \"body:identityMap.ecid.0.id\")",
     .help = "with partitionConcurrency > 1, events with the same key run in offset order "
             "and never at once: `partitionKey`, `none`, or `body:PATH` into the JSON body"},
    {"extensions.eventHubs.bisectOnError", HF_OPT_BOOL, H(bisect_on_error), "false", 0, 0,
     NULL, HF_OPT_HUBFN,
     .help = "with cardinality `many`, a batch whose handler raised is split in halves and "
             "run again until the failing events stand alone"},
    {"extensions.eventHubs.stateMaxBytes", HF_OPT_INT, H(state_max_bytes), "67108864", 4096,
     INT_MAX, NULL, HF_OPT_HUBFN,
     .help = "the most an eventHubState binding keeps in memory per partition: keys, values "
             "and 64 bytes per key"},
    {"extensions.eventHubs.eventProcessorOptions", HF_OPT_SECTION, .flags = HF_OPT_WARN},
    {"extensions.eventHubs.eventProcessorOptions.receiveTimeout", HF_OPT_IGNORED,
     .flags = HF_OPT_WARN, .help = AMQP_ONLY},
    {"extensions.eventHubs.eventProcessorOptions.enableReceiverRuntimeMetric", HF_OPT_IGNORED,
     .flags = HF_OPT_WARN, .help = AMQP_ONLY},
    {"extensions.eventHubs.eventProcessorOptions.invokeProcessorAfterReceiveTimeout",
     HF_OPT_IGNORED, .flags = HF_OPT_WARN, .help = AMQP_ONLY},
    {"extensions.eventHubs.initialOffsetOptions", HF_OPT_SECTION, .flags = HF_OPT_WARN},
    {"extensions.eventHubs.initialOffsetOptions.type", HF_OPT_ENUM, H(initial_offset),
     "\"fromStart\"", 0, 0, offset_types, HF_OPT_TEMPLATE, .noun = "an offset type",
     .use = "use fromStart, fromEnd or fromEnqueuedTime",
     .help = "where a partition without a checkpoint starts"},
    {"extensions.eventHubs.initialOffsetOptions.enqueuedTimeUtc", HF_OPT_TIME,
     H(initial_time_ms), .help = "with fromEnqueuedTime: the first enqueued time to read"},
    {"extensions.eventHubs.prefetchSizeInBytes", HF_OPT_IGNORED, .flags = HF_OPT_WARN, .help = AMQP_ONLY},
    {"extensions.eventHubs.transportType", HF_OPT_IGNORED, .flags = HF_OPT_WARN, .help = AMQP_ONLY},
    {"extensions.eventHubs.webProxy", HF_OPT_IGNORED, .flags = HF_OPT_WARN, .help = AMQP_ONLY},
    {"extensions.eventHubs.customEndpointAddress", HF_OPT_IGNORED, .flags = HF_OPT_WARN,
     .help = AMQP_ONLY},
    {"extensions.eventHubs.targetUnprocessedEventThreshold", HF_OPT_IGNORED,
     .flags = HF_OPT_WARN, .help = AMQP_ONLY},
    {"extensions.eventHubs.clientRetryOptions", HF_OPT_IGNORED, .flags = HF_OPT_WARN,
     .help = AMQP_ONLY},
    {"extensions.eventHubs.trackLastEnqueuedEventProperties", HF_OPT_IGNORED,
     .flags = HF_OPT_WARN, .help = AMQP_ONLY},
    {"extensions.eventHubs.partitionOwnershipExpirationInterval", HF_OPT_IGNORED,
     .flags = HF_OPT_WARN, .help = AMQP_ONLY},
    {"extensions.eventHubs.loadBalancingUpdateInterval", HF_OPT_IGNORED, .flags = HF_OPT_WARN,
     .help = AMQP_ONLY},
    {"extensions.eventHubs.partitionManagerOptions", HF_OPT_IGNORED, .flags = HF_OPT_WARN,
     .help = AMQP_ONLY},
    {"extensions.eventHubs.invokeProcessorAfterReceiveTimeout", HF_OPT_IGNORED,
     .flags = HF_OPT_WARN, .help = AMQP_ONLY},
    {"extensions.kafka", HF_OPT_STRINGS, H(kafka),
     .help = "librdkafka properties, passed through unchanged (an escape hatch)"},
    {"extensions.lua", HF_OPT_SECTION, .flags = HF_OPT_WARN},
    {"extensions.lua.memoryLimitMB", HF_OPT_INT, H(lua_memory_mb), "256", 0, 1024 * 1024, NULL,
     HF_OPT_HUBFN, .help = "the memory cap of each Lua state, in MB (0: none)"},
    {"extensions.lua.allowUnsafeLibraries", HF_OPT_BOOL, H(lua_unsafe), "false", 0, 0, NULL,
     HF_OPT_HUBFN,
     .help = "give handlers os.execute, io.popen, native modules and the whole debug library"},
    {"logging", HF_OPT_SECTION},
    {"logging.logLevel", HF_OPT_CUSTOM, .def = "{ \"default\": \"Information\" }",
     .flags = HF_OPT_TEMPLATE, .use = "category → `Trace`, `Debug`, `Information`, `Warning`, `Error`, `Critical`, `None`",
     .help = "log levels by category: `default`, `Function.NAME` (default Information)"},
    {NULL}
};

const hf_option_t *hf_app_host_options(void)
{
    return host_options;
}

/* The options table's context for one file of the app. */
static void opt_warn(void *ud, const char *line)
{
    warn(ud, "%s", line);
}

static const char *opt_origin(void *ud, const char *path, char *buf, size_t bufsz)
{
    return origin_of(ud, path, buf, bufsz);
}

static hf_opt_ctx_t opt_ctx(ld_t *ld, const char *file, const char *prefix)
{
    hf_opt_ctx_t ctx = {.file = file, .prefix = prefix, .err = ld->err, .errsz = ld->errsz,
                        .warn = opt_warn, .origin = opt_origin, .ud = ld};
    return ctx;
}

/* A host.json error for `path` ("extensions.eventHubs.maxEventBatchSize"). */
static int host_fail(ld_t *ld, const char *path, const char *fmt, ...)
{
    char msg[700], ob[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return fail(ld, "%shost.json: %s: %s%s", ld->disp, path, msg,
                origin_of(ld, path, ob, sizeof(ob)));
}

/* extensions.eventHubs.orderingKey into h->ordering (and ordering_path). */
static int parse_ordering(ld_t *ld, hf_host_cfg_t *h)
{
    const char *k = h->ordering_key ? h->ordering_key : "partitionKey";
    const char *path = "extensions.eventHubs.orderingKey";
    if (strcasecmp(k, "partitionKey") == 0) {
        h->ordering = HF_ORDER_PARTITION_KEY;
    } else if (strcasecmp(k, "none") == 0) {
        h->ordering = HF_ORDER_NONE;
    } else if (strncasecmp(k, "body:", 5) == 0) {
        hf_jsonpath_t jp;
        char why[300];
        if (hf_jsonpath_compile(&jp, k + 5, why, sizeof(why)) < 0)
            return host_fail(ld, path, "%s", why);
        hf_jsonpath_free(&jp);
        h->ordering = HF_ORDER_BODY;
        h->ordering_path = hf_strdup(k + 5);
    } else {
        return host_fail(ld, path, "\"%s\" is not an ordering key (use \"partitionKey\", "
                         "\"none\" or \"body:PATH\", e.g. \"body:identityMap.ecid.0.id\")", k);
    }
    return 0;
}

/* Register the string values of extensions.kafka properties named like a password or
   secret before any message could echo them. */
static void register_kafka_secrets(const cJSON *k)
{
    for (const cJSON *it = cJSON_IsObject(k) ? k->child : NULL; it; it = it->next)
        if (it->string && cJSON_IsString(it) &&
            (strcasestr(it->string, "password") || strcasestr(it->string, "secret")))
            hf_secret_add(it->valuestring);
}

/* logging.logLevel. */
static int load_logging(ld_t *ld, const cJSON *logging)
{
    hf_host_cfg_t *h = &ld->app->host;
    const cJSON *ll;
    char desc[80], path[300];
    ll = hf_cfgjson_get(logging, "logLevel");
    if (ll && !cJSON_IsNull(ll) && !cJSON_IsObject(ll))
        return host_fail(ld, "logging.logLevel", "expected an object, got %s",
                         hf_cfgjson_describe(ll, desc, sizeof(desc)));
    for (const cJSON *it = ll ? ll->child : NULL; it; it = it->next) {
        hf_log_level_t lvl;
        if (!it->string || !*it->string || cJSON_IsNull(it))
            continue;
        snprintf(path, sizeof(path), "logging.logLevel.%s", it->string);
        if (!cJSON_IsString(it) || hf_log_level_parse(it->valuestring, &lvl) < 0)
            return host_fail(ld, path, "%s is not a log level (use Trace, Debug, Information, "
                             "Warning, Error, Critical or None)",
                             hf_cfgjson_describe(it, desc, sizeof(desc)));
        if (ieq(it->string, "default"))
            h->log_default = lvl;
        else
            kv_set(&h->log_levels, &h->log_levels_n, it->string, hf_log_level_name(lvl), 1);
    }
    return 0;
}

/* host.json: read, override, check, fill app->host. *allow gets the "functions" list (a
   detached array/object to free) or NULL. */
static int load_host(ld_t *ld, cJSON **allow)
{
    hf_host_cfg_t *h = &ld->app->host;
    cJSON *root, *ver, *fl;
    char desc[80], file[HF_PATH_MAX];
    int rc = ld_json(ld, "host.json", &root);
    *allow = NULL;
    if (rc < 0)
        return -1;
    if (rc == 0)
        return fail(ld, "%shost.json: not found (a function app folder holds host.json with "
                    "\"version\": \"2.0\")", ld->disp);
    snprintf(file, sizeof(file), "%shost.json", ld->disp);
    hf_opt_ctx_t ctx = opt_ctx(ld, file, "");
    apply_overrides(ld, root);
    register_kafka_secrets(hf_cfgjson_get(hf_cfgjson_get(root, "extensions"), "kafka"));
    ver = hf_cfgjson_get(root, "version");
    if (!ver) {
        host_fail(ld, "version", "missing (hubfn runs host.json \"version\": \"2.0\")");
        goto bad;
    }
    if (!cJSON_IsString(ver) || strcmp(ver->valuestring, "2.0") != 0) {
        host_fail(ld, "version", "%s is not supported (use \"2.0\")",
                  hf_cfgjson_describe(ver, desc, sizeof(desc)));
        goto bad;
    }
    h->version = hf_strdup("2.0");
    if (hf_options_read(host_options, root, h, &ctx) < 0 ||
        hf_options_check_keys((const hf_option_t *const[]){host_options, NULL}, root, &ctx) < 0)
        goto bad;
    /* librdkafka's own checks of extensions.kafka, now rather than when a client starts */
    const char *bad;
    char why[512], path[400];
    if (hf_kafka_check_props(&h->kafka, &bad, why, sizeof(why)) < 0) {
        snprintf(path, sizeof(path), "extensions.kafka.%s", bad);
        host_fail(ld, path, "librdkafka refuses it: %s", why);
        goto bad;
    }
    if (h->min_batch > h->max_batch) {
        host_fail(ld, "extensions.eventHubs.minEventBatchSize",
                  "%d is larger than maxEventBatchSize (%d)", h->min_batch, h->max_batch);
        goto bad;
    }
    if (parse_ordering(ld, h) < 0)
        goto bad;
    if (h->initial_offset == HF_OFFSET_FROM_ENQUEUED_TIME &&
        !hf_cfgjson_get(hf_cfgjson_get(hf_cfgjson_get(hf_cfgjson_get(root, "extensions"),
                                                      "eventHubs"), "initialOffsetOptions"),
                        "enqueuedTimeUtc")) {
        host_fail(ld, "extensions.eventHubs.initialOffsetOptions.enqueuedTimeUtc",
                  "missing: a time is required when type is fromEnqueuedTime (e.g. "
                  "\"2020-10-26T20:31:00Z\")");
        goto bad;
    }
    if (load_logging(ld, hf_cfgjson_get(root, "logging")) < 0)
        goto bad;
    fl = hf_cfgjson_get(root, "functions");
    if (fl && !cJSON_IsNull(fl)) {
        if (!cJSON_IsArray(fl) && !cJSON_IsObject(fl)) {
            host_fail(ld, "functions", "expected an array of function names, got %s",
                      hf_cfgjson_describe(fl, desc, sizeof(desc)));
            goto bad;
        }
        for (cJSON *it = fl->child; it; it = it->next) {
            if (!cJSON_IsString(it)) {
                host_fail(ld, "functions", "expected an array of function names, got %s in it",
                          hf_cfgjson_describe(it, desc, sizeof(desc)));
                goto bad;
            }
        }
        *allow = cJSON_DetachItemViaPointer(root, fl);
    }
    cJSON_Delete(root);
    return 0;
bad:
    cJSON_Delete(root);
    return -1;
}

/* ---------------------------------------------------------------------------------- */
/* function.json                                                                       */

static const char *const cardinalities[] = {"one", "many", NULL};

/* Keys every binding has, whatever its type. */
static const hf_option_t binding_options[] = {
    {"type", HF_OPT_CUSTOM, .flags = HF_OPT_REQUIRED, .use = "a binding type (any case)",
     .help = "eventHubTrigger, eventHub, ... (the tables below)"},
    {"direction", HF_OPT_CUSTOM, .use = "`in`, `out` or `inout`",
     .help = "must fit the type; when omitted, the type's"},
    {"name", HF_OPT_CUSTOM, .flags = HF_OPT_REQUIRED,
     .use = "a letter or `_`, then letters, digits or `_`; or `$return`, `$deadLetter`",
     .help = "the name in Lua (`context.bindings.NAME`); unique in the function (any case)"},
    {NULL}
};

/* Keys every trigger has: what the handler receives. */
static const hf_option_t trigger_options[] = {
    {"cardinality", HF_OPT_ENUM, offsetof(hf_binding_t, cardinality), "\"one\"", 0, 0,
     cardinalities, HF_OPT_SHAPES, .noun = "a cardinality", .use = "use \"one\" or \"many\"",
     .help = "`one`: the handler gets one event; `many`: an array of them"},
    {"dataType", HF_OPT_CUSTOM, .flags = HF_OPT_SHAPES, .use = "`string` or `binary`",
     .help = "the body as raw bytes, never decoded; omitted: decoded JSON"},
    {NULL}
};

/* function.json's own keys. */
static const hf_option_t function_options[] = {
    {"scriptFile", HF_OPT_CUSTOM, .def = "\"handler.lua\"",
     .use = "a path, relative to the function folder or absolute",
     .help = "the script; it must exist"},
    {"entryPoint", HF_OPT_CUSTOM, .def = "\"run\"", .use = "a name, not empty",
     .help = "the handler's name when the script returns a table or defines a global"},
    {"disabled", HF_OPT_CUSTOM, .def = "false",
     .use = "`true`, `false`, `\"true\"`, `\"false\"`, `\"1\"`, `\"0\"`",
     .help = "the function is loaded and checked but not run"},
    {"retry", HF_OPT_CUSTOM, .use = "an object (below)",
     .help = "the function's retry policy: fixedDelay or exponentialBackoff"},
    {"bindings", HF_OPT_CUSTOM, .flags = HF_OPT_REQUIRED, .use = "an array of objects",
     .help = "exactly one trigger (direction `in`) and any number of other bindings"},
    {"generatedBy", HF_OPT_IGNORED},
    {"configurationSource", HF_OPT_IGNORED},
    {"excluded", HF_OPT_IGNORED},
    {NULL}
};

const hf_option_t *hf_app_binding_options(void)
{
    return binding_options;
}

const hf_option_t *hf_app_trigger_options(void)
{
    return trigger_options;
}

const hf_option_t *hf_app_function_options(void)
{
    return function_options;
}

/* A string field of obj: absent or null -> *out NULL; a non-string is an error. */
static int fn_str(ld_t *ld, const char *file, const char *prefix, const cJSON *obj,
                  const char *key, const char **out)
{
    const cJSON *v = hf_cfgjson_get(obj, key);
    char desc[80];
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return fail(ld, "%s: %s%s: expected a string, got %s", file, prefix, key,
                    hf_cfgjson_describe(v, desc, sizeof(desc)));
    *out = v->valuestring;
    return 0;
}

/* Is name a valid function (folder) name? Azure: a letter, then letters, digits, '-' or
   '_', at most 128. */
int hf_app_valid_function_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || !isalpha((unsigned char)s[0]))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return 0;
    return 1;
}

/* Binding names: a letter or '_', then letters, digits or '_' (a Lua name), $return, or
   $deadLetter (the hub that receives events whose invocation failed for good). */
static int valid_binding_name(const char *s)
{
    size_t n = strlen(s);
    if (strcasecmp(s, "$return") == 0 || strcasecmp(s, "$deadLetter") == 0)
        return 1;
    if (n == 0 || n > 128 || (!isalpha((unsigned char)s[0]) && s[0] != '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

const char *hf_binding_describe(const hf_binding_t *b, char *buf, size_t bufsz)
{
    if (b->type && b->type->describe)
        return b->type->describe(b, buf, bufsz);
    snprintf(buf, bufsz, "binding %s", b->name ? b->name : "?");
    return buf;
}

static void binding_free(hf_binding_t *b)
{
    if (b->type && b->cfg) {
        if (b->type->unload)
            b->type->unload(b);
        if (b->type->options)
            hf_options_free(b->type->options, b->cfg);
    }
    free(b->cfg);
    free(b->name);
    memset(b, 0, sizeof(*b));
}

static void function_free(hf_function_t *f)
{
    free(f->name);
    free(f->dir);
    free(f->script_path);
    free(f->entry_point);
    binding_free(&f->trigger);
    for (size_t i = 0; i < f->outputs_n; i++)
        binding_free(&f->outputs[i]);
    free(f->outputs);
    memset(f, 0, sizeof(*f));
}

/* The shared connection for setting `name`, or NULL. */
static hf_conn_t *conn_find(hf_app_t *app, const char *name)
{
    for (size_t i = 0; i < app->conns_n; i++)
        if (strcmp(app->conns[i]->setting, name) == 0)
            return app->conns[i];
    return NULL;
}

/* Keep a parsed connection in app->conns (taking ownership). */
static hf_conn_t *conn_keep(hf_app_t *app, hf_conn_t *c)
{
    hf_conn_t *heap = hf_malloc(sizeof(*heap));
    app->conns = hf_realloc(app->conns, (app->conns_n + 1) * sizeof(*app->conns));
    *heap = *c;
    app->conns[app->conns_n++] = heap;
    return heap;
}

/* EntityPath of setting `name` when it holds a valid connection string, quietly. */
static char *quiet_entity(ld_t *ld, const char *name)
{
    const char *v = hf_app_setting(ld->app, name);
    hf_conn_t tmp;
    char e[8];
    char *r = NULL;
    if (v && hf_conn_parse(&tmp, name, v, e, sizeof(e)) == 0) {
        if (tmp.entity_path)
            r = hf_strdup(tmp.entity_path);
        hf_conn_free(&tmp);
    }
    return r;
}

/* hf_load_ctx_t.connection: resolve the connection a binding names (see binding.h). */
static int load_connection(hf_load_ctx_t *lc, const char *field, const char *setting,
                           int optional, hf_conn_t **out, char **entity, char *err,
                           size_t errsz)
{
    ld_t *ld = lc->ud;
    hf_conn_t *c, tmp;
    const char *value;
    char cerr[600];
    *out = NULL;
    *entity = NULL;
    if (!ld->opts.resolve_connections) {
        *entity = quiet_entity(ld, setting);
        return 0;
    }
    c = conn_find(ld->app, setting);
    if (!c && ld->opts.embedded) {
        memset(&tmp, 0, sizeof(tmp));
        tmp.kind = HF_CONN_EMBEDDED;
        tmp.setting = hf_strdup(setting);
        tmp.entity_path = quiet_entity(ld, setting);
        c = conn_keep(ld->app, &tmp);
    }
    if (!c) {
        value = hf_app_setting(ld->app, setting);
        if (!value) {
            char id[300];
            if (optional)
                return 0;
            snprintf(id, sizeof(id), "%s__fullyQualifiedNamespace", setting);
            if (hf_app_setting(ld->app, id))
                snprintf(err, errsz, "%s: app setting \"%s\" is an identity-based connection "
                         "(%s), which the Kafka endpoint does not support; set \"%s\" to a "
                         "connection string", field, setting, id, setting);
            else
                snprintf(err, errsz, "%s: app setting \"%s\" is not set (%s)", field, setting,
                         looked_in(ld));
            return -1;
        }
        if (hf_conn_parse(&tmp, setting, value, cerr, sizeof(cerr)) < 0) {
            snprintf(err, errsz, "%s: %s", field, cerr);
            return -1;
        }
        c = conn_keep(ld->app, &tmp);
    }
    if (c->entity_path)
        *entity = hf_strdup(c->entity_path);
    *out = c;
    return 0;
}

/* hf_load_ctx_t.warn */
static void load_warn(hf_load_ctx_t *lc, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    warn(lc->ud, "%s: %s", lc->file, line);
}

/* The data type of a trigger: absent = JSON, "string", "binary". */
static int load_data_type(ld_t *ld, const char *file, const char *pre, const cJSON *b,
                          hf_binding_t *out)
{
    const char *dtype;
    if (fn_str(ld, file, pre, b, "dataType", &dtype) < 0)
        return -1;
    if (!dtype)
        out->data_type = HF_DATA_JSON;
    else if (ieq(dtype, "string"))
        out->data_type = HF_DATA_STRING;
    else if (ieq(dtype, "binary"))
        out->data_type = HF_DATA_BINARY;
    else
        return fail(ld, "%s: %sdataType: \"%s\" is not a data type (use \"string\" or "
                    "\"binary\", or leave it out to decode JSON)", file, pre, dtype);
    return 0;
}

/* One binding at bindings[idx], of the type check_bindings found. */
static int load_binding(ld_t *ld, const char *file, hf_function_t *fn, const cJSON *b, int idx,
                        const hf_binding_type_t *type, hf_binding_t *out)
{
    char pre[64], err[1024];
    const char *name;
    int trigger = type->direction == HF_DIR_IN;

    snprintf(pre, sizeof(pre), "bindings[%d].", idx);
    out->type = type;
    out->index = idx;
    out->direction = type->direction;
    if (fn_str(ld, file, pre, b, "name", &name) < 0)
        return -1;
    if (!name || !*name)
        return fail(ld, "%s: %sname: missing (the name the handler knows this binding by)",
                    file, pre);
    if (!valid_binding_name(name) || (trigger && name[0] == '$'))
        return fail(ld, "%s: %sname: \"%s\" is not a valid binding name (a letter or '_', "
                    "then letters, digits or '_'%s)", file, pre, name,
                    trigger ? "" : "; or $return, or $deadLetter");
    /* binding names compare in any case, as Azure compares them: the two special ones get
       their one spelling */
    if (strcasecmp(name, "$return") == 0)
        name = "$return";
    else if (strcasecmp(name, "$deadLetter") == 0)
        name = "$deadLetter";
    out->name = hf_strdup(name);

    hf_opt_ctx_t octx = opt_ctx(ld, file, pre);
    const hf_option_t *tables[4] = {type->options ? type->options : binding_options,
                                    binding_options, trigger ? trigger_options : NULL, NULL};
    if (trigger && (hf_options_read(trigger_options, b, out, &octx) < 0 ||
                    load_data_type(ld, file, pre, b, out) < 0))
        return -1;
    out->cfg = hf_calloc(1, type->cfg_size ? type->cfg_size : 1);
    if (type->options) {
        hf_options_defaults(type->options, out->cfg);
        if (hf_options_read(type->options, b, out->cfg, &octx) < 0)
            return -1;
    }
    if (hf_options_check_keys(tables, b, &octx) < 0)
        return -1;
    if (type->load) {
        hf_load_ctx_t lc = {.app = ld->app, .opts = &ld->opts, .fn = fn, .file = file,
                            .prefix = pre, .connection = load_connection, .warn = load_warn,
                            .ud = ld};
        err[0] = 0;
        if (type->load(out, &lc, err, sizeof(err)) < 0)
            return fail(ld, "%s: %s", file, err);
    }
    return 0;
}

/* function.json "retry". */
static int load_retry(ld_t *ld, const char *file, const cJSON *r, hf_retry_t *out)
{
    char desc[80];
    const char *strategy;
    const cJSON *v;
    long long x;
    struct { const char *key; long long *ms; } need[2];
    size_t nneed;
    memset(out, 0, sizeof(*out));
    if (!r || cJSON_IsNull(r))
        return 0;
    if (!cJSON_IsObject(r))
        return fail(ld, "%s: retry: expected an object, got %s", file,
                    hf_cfgjson_describe(r, desc, sizeof(desc)));
    if (fn_str(ld, file, "retry.", r, "strategy", &strategy) < 0)
        return -1;
    if (ieq(strategy, "fixedDelay")) {
        out->strategy = HF_RETRY_FIXED_DELAY;
        need[0].key = "delayInterval";
        need[0].ms = &out->delay_ms;
        nneed = 1;
    } else if (ieq(strategy, "exponentialBackoff")) {
        out->strategy = HF_RETRY_EXPONENTIAL;
        need[0].key = "minimumInterval";
        need[0].ms = &out->min_interval_ms;
        need[1].key = "maximumInterval";
        need[1].ms = &out->max_interval_ms;
        nneed = 2;
    } else if (!strategy) {
        return fail(ld, "%s: retry.strategy: missing (use \"fixedDelay\" or "
                    "\"exponentialBackoff\")", file);
    } else {
        return fail(ld, "%s: retry.strategy: \"%s\" is not a retry strategy (use "
                    "\"fixedDelay\" or \"exponentialBackoff\")", file, strategy);
    }
    v = hf_cfgjson_get(r, "maxRetryCount");
    if (!v || cJSON_IsNull(v))
        return fail(ld, "%s: retry.maxRetryCount: missing (a number of retries, or -1 for no "
                    "limit)", file);
    if (hf_options_int(v, &x) < 0 || x < -1 || x > INT_MAX)
        return fail(ld, "%s: retry.maxRetryCount: expected an integer >= -1 (-1 = no limit), "
                    "got %s", file, hf_cfgjson_describe(v, desc, sizeof(desc)));
    out->max_retry_count = (int)x;
    for (size_t i = 0; i < nneed; i++) {
        v = hf_cfgjson_get(r, need[i].key);
        if (!v || cJSON_IsNull(v))
            return fail(ld, "%s: retry.%s: missing (a duration such as \"00:00:10\")", file,
                        need[i].key);
        if (!cJSON_IsString(v) || hf_duration_parse(v->valuestring, need[i].ms) < 0 ||
            *need[i].ms < 0)
            return fail(ld, "%s: retry.%s: %s is not a duration (use hh:mm:ss, e.g. "
                        "\"00:00:10\")", file, need[i].key,
                        hf_cfgjson_describe(v, desc, sizeof(desc)));
    }
    if (out->strategy == HF_RETRY_EXPONENTIAL && out->min_interval_ms > out->max_interval_ms)
        return fail(ld, "%s: retry.minimumInterval: longer than maximumInterval", file);
    return 0;
}

/* Resolve and check scriptFile: *abs gets the absolute path. */
static int find_script(ld_t *ld, const char *file, const char *fname, const char *script,
                       char **abs)
{
    char *rel, *path;
    struct stat st;
    *abs = NULL;
    if (ld->mem) {
        int found = 0;
        rel = fmt_dup("%s/%s", fname, script);
        path = path_norm(rel);
        free(rel);
        for (size_t i = 0; i < ld->mem_n && script[0] != '/'; i++)
            if (ld->mem[i].path && strcmp(ld->mem[i].path, path) == 0)
                found = 1;
        if (!found) {
            fail(ld, "%s: scriptFile: %s%s does not exist", file, ld->disp, path);
            free(path);
            return -1;
        }
        *abs = fmt_dup("%s/%s", ld->app->dir, path);
        free(path);
        return 0;
    }
    if (script[0] == '/')
        path = hf_strdup(script);
    else
        path = fmt_dup("%s/%s/%s", ld->app->dir, fname, script);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        int exists = access(path, F_OK) == 0;
        free(path);
        if (script[0] == '/')
            return fail(ld, "%s: scriptFile: %s %s", file, script,
                        exists ? "is not a file" : "does not exist");
        return fail(ld, "%s: scriptFile: %s%s/%s %s", file, ld->disp, fname, script,
                    exists ? "is not a file" : "does not exist");
    }
    *abs = realpath(path, NULL);
    free(path);
    return *abs ? 0 : fail(ld, "%s: scriptFile: %s: %s", file, script, strerror(errno));
}

/* Check binding types and directions before anything else (so an unsupported binding is
   reported before, say, a setting it references). Sets *trig to the trigger's index and
   types[i] to each binding's type. */
static int check_bindings(ld_t *ld, const char *file, const cJSON *bindings, int *trig,
                          const hf_binding_type_t **types)
{
    char desc[80], supported[512];
    int idx = 0;
    *trig = -1;
    hf_binding_types_list(supported, sizeof(supported));
    if (!bindings || cJSON_IsNull(bindings))
        return fail(ld, "%s: bindings: missing (a function needs one eventHubTrigger "
                    "binding)", file);
    if (!cJSON_IsArray(bindings))
        return fail(ld, "%s: bindings: expected an array, got %s", file,
                    hf_cfgjson_describe(bindings, desc, sizeof(desc)));
    for (const cJSON *b = bindings->child; b; b = b->next, idx++) {
        const cJSON *t, *d;
        const char *dir = NULL;
        if (!cJSON_IsObject(b))
            return fail(ld, "%s: bindings[%d]: expected an object, got %s", file, idx,
                        hf_cfgjson_describe(b, desc, sizeof(desc)));
        t = hf_cfgjson_get(b, "type");
        d = hf_cfgjson_get(b, "direction");
        if (!t || !cJSON_IsString(t) || !*t->valuestring)
            return fail(ld, "%s: bindings[%d].type: missing (hubfn supports %s)", file, idx,
                        supported);
        if (d && !cJSON_IsNull(d)) {
            if (!cJSON_IsString(d))
                return fail(ld, "%s: bindings[%d].direction: expected \"in\" or \"out\", got %s",
                            file, idx, hf_cfgjson_describe(d, desc, sizeof(desc)));
            dir = d->valuestring;
        }
        const hf_binding_type_t *type = hf_binding_type_find(t->valuestring);
        if (!type)
            return fail(ld, "%s: bindings[%d].type: unknown binding type %s (hubfn supports %s)",
                        file, idx, hf_cfgjson_describe(t, desc, sizeof(desc)), supported);
        static const char *const dirs[] = {"in", "out", "inout"};
        if (dir && !ieq(dir, dirs[type->direction]))
            return fail(ld, "%s: bindings[%d].direction: \"%s\" does not fit type %s (hubfn "
                        "supports %s)", file, idx, dir, type->name, supported);
        types[idx] = type;
        if (type->direction == HF_DIR_IN) {
            if (*trig >= 0)
                return fail(ld, "%s: bindings[%d]: a second %s (a function has exactly one "
                            "trigger; the first is bindings[%d])", file, idx, type->name, *trig);
            *trig = idx;
        }
    }
    if (*trig < 0)
        return fail(ld, "%s: bindings: no eventHubTrigger binding (a function needs exactly "
                    "one, with \"direction\": \"in\")", file);
    return 0;
}

/* Load NAME/function.json into fn. */
static int load_function(ld_t *ld, const char *name, hf_function_t *fn)
{
    char file[HF_PATH_MAX], rel[HF_PATH_MAX], path[HF_PATH_MAX], desc[80], setting[300];
    cJSON *root = NULL, *bindings, *dis;
    const char *script, *entry;
    const hf_binding_type_t **types = NULL;
    int trig, idx, rc;
    size_t nout = 0;

    snprintf(file, sizeof(file), "%s%s/function.json", ld->disp, name);
    snprintf(rel, sizeof(rel), "%s/function.json", name);
    fn->dead_letter = fn->returns = -1;
    if (!hf_app_valid_function_name(name))
        return fail(ld, "%s%s: \"%s\" is not a valid function name (a letter, then letters, "
                    "digits, '-' or '_'; at most 128)", ld->disp, name, name);
    fn->name = hf_strdup(name);
    fn->dir = fmt_dup("%s/%s", ld->app->dir, name);
    rc = ld_json(ld, rel, &root);
    if (rc == 0)
        return fail(ld, "%s: not found", file);
    if (rc < 0)
        return -1;
    bindings = hf_cfgjson_get(root, "bindings");
    types = hf_calloc((size_t)cJSON_GetArraySize(bindings) + 1, sizeof(*types));
    if (check_bindings(ld, file, bindings, &trig, types) < 0)
        goto bad;
    path[0] = '\0';
    if (expand_tree(ld, file, root, path, sizeof(path)) < 0)
        goto bad;
    hf_opt_ctx_t octx = opt_ctx(ld, file, "");
    if (hf_options_check_keys((const hf_option_t *const[]){function_options, NULL}, root,
                              &octx) < 0)
        goto bad;

    /* disabled: function.json, then AzureWebJobs.NAME.Disabled (or _NAME_ on Linux) */
    dis = hf_cfgjson_get(root, "disabled");
    if (dis && !cJSON_IsNull(dis)) {
        if (cJSON_IsBool(dis))
            fn->disabled = cJSON_IsTrue(dis);
        else if (cJSON_IsString(dis) && (setting_true(dis->valuestring) ||
                 ieq(dis->valuestring, "false") || !strcmp(dis->valuestring, "0")))
            fn->disabled = setting_true(dis->valuestring);
        else {
            fail(ld, "%s: disabled: expected true or false, got %s", file,
                 hf_cfgjson_describe(dis, desc, sizeof(desc)));
            goto bad;
        }
    }
    snprintf(setting, sizeof(setting), "AzureWebJobs.%s.Disabled", name);
    if (setting_true(hf_app_setting(ld->app, setting)))
        fn->disabled = 1;
    snprintf(setting, sizeof(setting), "AzureWebJobs_%s_Disabled", name);
    if (setting_true(hf_app_setting(ld->app, setting)))
        fn->disabled = 1;

    if (fn_str(ld, file, "", root, "scriptFile", &script) < 0 ||
        fn_str(ld, file, "", root, "entryPoint", &entry) < 0)
        goto bad;
    if (script && !*script) {
        fail(ld, "%s: scriptFile: empty (leave it out for handler.lua)", file);
        goto bad;
    }
    if (find_script(ld, file, name, script ? script : "handler.lua", &fn->script_path) < 0)
        goto bad;
    if (entry && !*entry) {
        fail(ld, "%s: entryPoint: empty (leave it out for \"run\")", file);
        goto bad;
    }
    fn->entry_point = hf_strdup(entry ? entry : "run");
    if (load_retry(ld, file, hf_cfgjson_get(root, "retry"), &fn->retry) < 0)
        goto bad;

    /* bindings: the trigger first, then the others in order */
    if (load_binding(ld, file, fn, cJSON_GetArrayItem(bindings, trig), trig, types[trig],
                     &fn->trigger) < 0)
        goto bad;
    nout = (size_t)cJSON_GetArraySize(bindings) - 1;
    if (nout)
        fn->outputs = hf_calloc(nout, sizeof(*fn->outputs));
    idx = 0;
    for (const cJSON *b = bindings->child; b; b = b->next, idx++) {
        if (idx == trig)
            continue;
        if (load_binding(ld, file, fn, b, idx, types[idx], &fn->outputs[fn->outputs_n]) < 0) {
            binding_free(&fn->outputs[fn->outputs_n]);
            goto bad;
        }
        fn->outputs_n++;
        /* unique names (case-insensitive, as Azure compares them) */
        const char *nm = fn->outputs[fn->outputs_n - 1].name;
        if (ieq(nm, fn->trigger.name)) {
            fail(ld, "%s: bindings[%d].name: \"%s\" is already the name of bindings[%d] "
                 "(binding names must be unique)", file, idx, nm, trig);
            goto bad;
        }
        for (size_t k = 0; k + 1 < fn->outputs_n; k++) {
            if (ieq(nm, fn->outputs[k].name)) {
                fail(ld, "%s: bindings[%d].name: \"%s\" is used by another binding (binding "
                     "names must be unique)", file, idx, nm);
                goto bad;
            }
        }
        if (strcmp(nm, "$deadLetter") == 0)
            fn->dead_letter = (int)fn->outputs_n - 1;
        if (strcmp(nm, "$return") == 0)
            fn->returns = (int)fn->outputs_n - 1;
    }
    free(types);
    cJSON_Delete(root);
    return 0;
bad:
    free(types);
    cJSON_Delete(root);
    return -1;
}

/* ---------------------------------------------------------------------------------- */
/* The app                                                                             */

/* Release everything the app owns. */
void hf_app_free(hf_app_t *app)
{
    if (!app)
        return;
    free(app->dir);
    hf_options_free(host_options, &app->host);
    free(app->host.version);
    free(app->host.ordering_path);
    kv_free(app->host.log_levels, app->host.log_levels_n);
    for (size_t i = 0; i < app->functions_n; i++)
        function_free(&app->functions[i]);
    free(app->functions);
    for (size_t i = 0; i < app->conns_n; i++) {
        hf_conn_free(app->conns[i]);
        free(app->conns[i]);
    }
    free(app->conns);
    kv_free(app->values, app->values_n);
    free(app->lib_dir);
    for (size_t i = 0; i < app->warnings_n; i++)
        free(app->warnings[i]);
    free(app->warnings);
    memset(app, 0, sizeof(*app));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load everything once ld->app->dir, ld->disp and the function names are known (names
   stay the caller's; they get sorted). */
static int load_app(ld_t *ld, char **names, size_t n)
{
    hf_app_t *app = ld->app;
    cJSON *allow = NULL;
    const char **sel = NULL;
    size_t i, nsel = 0;
    int rc = -1;

    hf_options_defaults(host_options, &app->host);
    app->host.log_default = HF_LOG_INFO;

    if (load_local_settings(ld) < 0 || load_host(ld, &allow) < 0)
        return -1;
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);     /* names is NULL when n is 0 */
    sel = hf_malloc(n * sizeof(*sel));
    if (allow && !ld->opts.only_function) {
        /* host.json "functions": load only those listed; a name that is no function is an
           error (a typo would otherwise silently run nothing) */
        for (cJSON *it = allow->child; it; it = it->next) {
            int found = 0;
            for (i = 0; i < n; i++)
                if (ieq(names[i], it->valuestring))
                    found = 1;
            if (!found) {
                fail(ld, "%shost.json: functions: \"%s\" is not a function folder of this app",
                     ld->disp, it->valuestring);
                goto out;
            }
        }
        for (i = 0; i < n; i++)
            for (cJSON *it = allow->child; it; it = it->next)
                if (ieq(names[i], it->valuestring)) {
                    sel[nsel++] = names[i];
                    break;
                }
    } else {
        for (i = 0; i < n; i++)
            sel[nsel++] = names[i];
    }
    if (nsel)
        app->functions = hf_calloc(nsel, sizeof(*app->functions));
    for (i = 0; i < nsel; i++) {
        hf_function_t *fn = &app->functions[app->functions_n++];
        char category[300];
        if (load_function(ld, sel[i], fn) < 0)
            goto out;
        snprintf(category, sizeof(category), "Function.%s", fn->name);
        fn->log_level = hf_app_log_level(app, category);
    }
    if (nsel == 0)
        warn(ld, "%s: no functions found (a function is a folder holding function.json)",
             *ld->disp ? ld->disp : "the app folder");
    rc = 0;
out:
    free(sel);
    cJSON_Delete(allow);
    return rc;
}

static void ld_free(ld_t *ld)
{
    for (size_t i = 0; i < ld->orig_n; i++) {
        free(ld->orig[i].path);
        free(ld->orig[i].source);
    }
    free(ld->orig);
    free(ld->disp);
}

/* Display prefix for an app folder as given: "" for ".", else "DIR/" without "./". */
static char *make_disp(const char *dir)
{
    size_t n;
    while (dir[0] == '.' && dir[1] == '/') {
        dir += 2;
        while (*dir == '/')
            dir++;
    }
    n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n == 0 || (n == 1 && dir[0] == '.'))
        return hf_strdup("");
    if (n == 1 && dir[0] == '/')
        return hf_strdup("/");
    return fmt_dup("%.*s/", (int)n, dir);
}

/* Load an app folder; see app.h. */
int hf_app_load(hf_app_t *app, const char *dir, const hf_app_opts_t *opts, char *err,
                size_t errsz)
{
    ld_t ld = { .app = app, .err = err, .errsz = errsz };
    char *appdir = NULL, *only = NULL, **names = NULL, *fname = NULL, *lib = NULL;
    size_t n = 0, cap = 0;
    struct stat st;
    int rc = -1;

    memset(app, 0, sizeof(*app));
    if (err && errsz)
        err[0] = '\0';
    if (opts)
        ld.opts = *opts;
    if (ld.opts.only_function) {
        size_t len;
        char *slash, *base;
        only = hf_strdup(ld.opts.only_function);
        len = strlen(only);
        while (len > 1 && only[len - 1] == '/')
            only[--len] = '\0';
        slash = strrchr(only, '/');
        base = slash ? slash + 1 : only;
        if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
            char *real = realpath(only, NULL);
            if (!real) {
                fail(&ld, "%s: %s", ld.opts.only_function, strerror(errno));
                goto out;
            }
            free(only);
            only = real;
            slash = strrchr(only, '/');
            base = slash + 1;
        }
        fname = hf_strdup(base);
        if (!slash)
            appdir = hf_strdup(".");
        else if (slash == only)
            appdir = hf_strdup("/");
        else
            appdir = hf_strndup(only, (size_t)(slash - only));
    } else {
        appdir = hf_strdup(dir && *dir ? dir : ".");
    }
    ld.disp = make_disp(appdir);
    if (stat(appdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fail(&ld, "%s: %s", appdir, stat(appdir, &st) != 0 ? "no such folder"
                                                           : "is not a folder");
        goto out;
    }
    if (!(app->dir = realpath(appdir, NULL))) {
        fail(&ld, "%s: %s", appdir, strerror(errno));
        goto out;
    }
    if (fname) {
        char *fj = fmt_dup("%s/%s/function.json", app->dir, fname);
        if (stat(fj, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(fj);
            fail(&ld, "%s: no function.json in this folder (hubfn run takes a function "
                 "folder, e.g. functions/router)", ld.opts.only_function);
            goto out;
        }
        free(fj);
        names = hf_malloc(sizeof(*names));
        names[n++] = fname;
        fname = NULL;
    } else {
        DIR *d = opendir(app->dir);
        struct dirent *de;
        if (!d) {
            fail(&ld, "%s: cannot list (%s)", appdir, strerror(errno));
            goto out;
        }
        while ((de = readdir(d))) {
            char *fj;
            int isfn;
            if (de->d_name[0] == '.' || !strcmp(de->d_name, "lib"))
                continue;
            fj = fmt_dup("%s/%s/function.json", app->dir, de->d_name);
            isfn = stat(fj, &st) == 0 && S_ISREG(st.st_mode);
            free(fj);
            if (!isfn)
                continue;
            if (n == cap)
                names = hf_realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));
            names[n++] = hf_strdup(de->d_name);
        }
        closedir(d);
    }
    lib = fmt_dup("%s/lib", app->dir);
    if (stat(lib, &st) == 0 && S_ISDIR(st.st_mode)) {
        app->lib_dir = lib;
        lib = NULL;
    }
    rc = load_app(&ld, names, n);
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(fname);
    free(only);
    free(appdir);
    free(lib);
    ld_free(&ld);
    if (rc != 0)
        hf_app_free(app);
    return rc;
}

/* Load an app from in-memory files; see app.h. */
int hf_app_load_mem(hf_app_t *app, const char *dir, const hf_app_file_t *files, size_t n,
                    const hf_app_opts_t *opts, char *err, size_t errsz)
{
    ld_t ld = { .app = app, .err = err, .errsz = errsz, .mem = files, .mem_n = n };
    char **names = NULL, *only = NULL;
    size_t nn = 0;
    int rc = -1;

    memset(app, 0, sizeof(*app));
    if (err && errsz)
        err[0] = '\0';
    if (opts)
        ld.opts = *opts;
    /* a non-NULL mem pointer marks memory mode even with no files */
    if (!files)
        ld.mem = (const hf_app_file_t *)"";
    ld.disp = hf_strdup("");
    app->dir = hf_strdup(dir && *dir ? dir : "/app");
    if (ld.opts.only_function) {
        size_t len;
        char *slash;
        only = hf_strdup(ld.opts.only_function);
        len = strlen(only);
        while (len > 1 && only[len - 1] == '/')
            only[--len] = '\0';
        slash = strrchr(only, '/');
        memmove(only, slash ? slash + 1 : only, strlen(slash ? slash + 1 : only) + 1);
    }
    if (n)
        names = hf_calloc(n, sizeof(*names));
    for (size_t i = 0; i < n; i++) {
        const char *p = files[i].path, *slash;
        int dup = 0;
        if (!p || !(slash = strchr(p, '/')) || strcmp(slash + 1, "function.json") != 0 ||
            slash == p || p[0] == '.')
            continue;
        if ((size_t)(slash - p) == 3 && !strncmp(p, "lib", 3))
            continue;
        if (only && (strlen(only) != (size_t)(slash - p) || strncmp(p, only, (size_t)(slash - p))))
            continue;
        for (size_t k = 0; k < nn; k++)
            if (strlen(names[k]) == (size_t)(slash - p) && !strncmp(names[k], p, (size_t)(slash - p)))
                dup = 1;
        if (dup)
            continue;
        names[nn++] = hf_strndup(p, (size_t)(slash - p));
    }
    for (size_t i = 0; i < n; i++)
        if (files[i].path && !strncmp(files[i].path, "lib/", 4) && !app->lib_dir)
            app->lib_dir = fmt_dup("%s/lib", app->dir);
    if (only && nn == 0) {
        fail(&ld, "%s: no function.json in this folder (hubfn run takes a function folder, "
             "e.g. functions/router)", ld.opts.only_function);
        goto out;
    }
    rc = load_app(&ld, names, nn);
out:
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    free(only);
    ld_free(&ld);
    if (rc != 0)
        hf_app_free(app);
    return rc;
}

/* Read only DIR/local.settings.json; see app.h. */
int hf_app_load_settings(hf_app_t *app, const char *dir, char *err, size_t errsz)
{
    ld_t ld = { .app = app, .err = err, .errsz = errsz };
    const char *d = dir && *dir ? dir : ".";
    int rc = -1;

    memset(app, 0, sizeof(*app));
    if (err && errsz)
        err[0] = '\0';
    ld.disp = make_disp(d);
    if (!(app->dir = realpath(d, NULL)))
        fail(&ld, "%s: %s", d, strerror(errno));
    else
        rc = load_local_settings(&ld) < 0 ? -1 : 0;
    ld_free(&ld);
    if (rc != 0)
        hf_app_free(app);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Settings reference                                                                  */

int hf_app_settings_doc(const char *topic, FILE *out)
{
    static const char *const dirs[] = {"in", "out", "inout"};
    if (strcasecmp(topic, "host.json") == 0) {
        hf_options_markdown(host_options, out);
        return 0;
    }
    if (strcasecmp(topic, "function.json") == 0) {
        hf_options_markdown(function_options, out);
        return 0;
    }
    if (strcasecmp(topic, "bindings") == 0) {
        hf_options_markdown(binding_options, out);
        return 0;
    }
    if (strcasecmp(topic, "triggers") == 0) {
        hf_options_markdown(trigger_options, out);
        return 0;
    }
    const hf_binding_type_t *type = hf_binding_type_find(topic);
    if (!type)
        return -1;
    fprintf(out, "`\"type\": \"%s\"`, direction `%s`: %s.\n\n", type->name,
            dirs[type->direction], type->summary ? type->summary : "");
    if (type->options)
        hf_options_markdown(type->options, out);
    return 0;
}
