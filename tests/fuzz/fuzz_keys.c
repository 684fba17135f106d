/*
 * libFuzzer target for the key sets of host.json and function.json: the input chooses which
 * keys appear (every key of hubfn's option tables, each binding type's own, and misspellings
 * of them: a letter dropped, doubled, swapped or changed, or its case), with which values
 * (numbers in and out of range, strings, booleans, durations, objects, arrays, null), in
 * which bindings; the target writes the two files and loads the app from memory
 * (hf_app_load_mem). It checks, beyond no crash (ASan, UBSan):
 *   - an error or a warning is one line, not empty, and names its file;
 *   - loading the same files twice gives the same outcome, error and warnings;
 *   - a misspelt binding key whose nearest known key changes what the handler receives
 *     (cardinality, dataType) never loads: it is an error, not a silent default;
 *   - any other misspelt key that loads is reported in a warning naming it.
 *
 *   tests/fuzz/run.sh SECONDS keys
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "app.h"
#include "binding.h"
#include "options.h"

typedef struct rd {
    const uint8_t *p;
    size_t n, i;
} rd_t;

static unsigned take(rd_t *r, unsigned below)
{
    if (!below)
        return 0;
    unsigned v = r->i < r->n ? r->p[r->i++] : 0;
    if (below > 256 && r->i < r->n)
        v = v << 8 | r->p[r->i++];
    return v % below;
}

/* A misspelling of name into out (mode 0: none). */
static void misspell(rd_t *r, const char *name, char *out, size_t outsz, unsigned mode)
{
    size_t n = strlen(name), at = n ? take(r, (unsigned)n) : 0;
    snprintf(out, outsz, "%s", name);
    if (!n || n + 2 >= outsz)
        return;
    switch (mode) {
    case 1:                                  /* a letter dropped */
        memmove(out + at, out + at + 1, n - at);
        break;
    case 2:                                  /* a letter doubled */
        memmove(out + at + 1, out + at, n - at + 1);
        break;
    case 3:                                  /* two letters swapped */
        if (at + 1 < n) {
            char c = out[at];
            out[at] = out[at + 1];
            out[at + 1] = c;
        }
        break;
    case 4:                                  /* a letter changed */
        out[at] = (char)('a' + take(r, 26));
        break;
    case 5:                                  /* the case of a letter */
        out[at] = (char)(out[at] ^ 0x20);
        break;
    }
}

static cJSON *value(rd_t *r, const hf_option_t *o)
{
    switch (take(r, 12)) {
    case 0: return cJSON_CreateNumber((double)take(r, 1000));
    case 1: return cJSON_CreateNumber(-1);
    case 2: return cJSON_CreateNumber(1e20);
    case 3: return cJSON_CreateString("00:00:05");
    case 4: return cJSON_CreateString("many");
    case 5: return cJSON_CreateString("one");
    case 6: return cJSON_CreateBool(take(r, 2));
    case 7: return cJSON_CreateNull();
    case 8: return cJSON_CreateObject();
    case 9: return cJSON_CreateArray();
    case 10: return cJSON_CreateString("%SETTING%");
    default:
        /* the option's own default, when it has one: mostly valid files */
        if (o && o->def) {
            cJSON *v = cJSON_Parse(o->def);
            if (v)
                return v;
        }
        return cJSON_CreateString("x");
    }
}

/* Set obj.path (dotted) = v, making objects on the way; v is freed when it cannot go. */
static void set_path(cJSON *obj, const char *path, cJSON *v)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *s = buf, *dot;
    while ((dot = strchr(s, '.')) != NULL) {
        *dot = 0;
        cJSON *next = cJSON_GetObjectItemCaseSensitive(obj, s);
        if (!next) {
            next = cJSON_CreateObject();
            cJSON_AddItemToObject(obj, s, next);
        }
        if (!cJSON_IsObject(next)) {
            cJSON_Delete(v);
            return;
        }
        obj = next;
        s = dot + 1;
    }
    if (cJSON_GetObjectItemCaseSensitive(obj, s))
        cJSON_DeleteItemFromObjectCaseSensitive(obj, s);
    cJSON_AddItemToObject(obj, s, v);
}

static size_t table_len(const hf_option_t *t)
{
    size_t n = 0;
    while (t && t[n].name)
        n++;
    return n;
}

/* Is key known to one of the tables (case-insensitively, as the loader matches)? */
static int known_key(const hf_option_t *const *tables, const char *key)
{
    for (size_t t = 0; tables[t]; t++)
        if (hf_options_find(tables[t], key))
            return 1;
    return 0;
}

static void check_line(const char *what, const char *line, const char *file1,
                       const char *file2)
{
    if (!line || !*line || strchr(line, '\n') ||
        (!strstr(line, file1) && !(file2 && strstr(line, file2)))) {
        fprintf(stderr, "bad %s line: [%s]\n", what, line ? line : "(null)");
        abort();
    }
}

/* A misspelt binding key: which it was, and whether the loader must refuse it. */
typedef struct typo {
    char key[128];
    int shapes;
} typo_t;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd_t r = {data, size, 0};
    const hf_option_t *host = hf_app_host_options();
    size_t host_n = table_len(host);
    typo_t typos[16];
    size_t typos_n = 0;

    /* host.json */
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "version", "2.0");
    for (unsigned k = take(&r, 10); k > 0; k--) {
        const hf_option_t *o = &host[take(&r, (unsigned)host_n)];
        if (!o->name[0] || o->type == HF_OPT_SECTION || strcmp(o->name, "version") == 0)
            continue;
        char name[160];
        unsigned mode = take(&r, 8);
        misspell(&r, o->name, name, sizeof(name), mode > 5 ? 0 : mode);
        set_path(h, name, value(&r, o));
    }

    /* function.json: a trigger and up to three other bindings */
    cJSON *f = cJSON_CreateObject(), *bs = cJSON_AddArrayToObject(f, "bindings");
    size_t types_n = 0;
    while (hf_binding_types[types_n])
        types_n++;
    unsigned nb = 1 + take(&r, 4);
    for (unsigned b = 0; b < nb; b++) {
        const hf_binding_type_t *type = NULL;
        if (b == 0) {
            for (size_t i = 0; i < types_n && !type; i++)
                if (hf_binding_types[i]->name &&
                    strcasecmp(hf_binding_types[i]->name, "eventHubTrigger") == 0)
                    type = hf_binding_types[i];
        } else {
            type = hf_binding_types[take(&r, (unsigned)types_n)];
        }
        if (!type || !type->name)
            continue;
        int trigger = b == 0;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", type->name);
        cJSON_AddStringToObject(o, "direction", trigger ? "in" : "out");
        char bname[16];
        snprintf(bname, sizeof(bname), "b%u", b);
        cJSON_AddStringToObject(o, "name", bname);
        /* the same tables, in the same order, as the loader checks the keys with */
        const hf_option_t *tables[4] = {type->options ? type->options : hf_app_binding_options(),
                                        hf_app_binding_options(),
                                        trigger ? hf_app_trigger_options() : NULL, NULL};
        for (unsigned k = take(&r, 8); k > 0; k--) {
            const hf_option_t *t = tables[take(&r, trigger ? 3 : 2)];
            size_t tn = table_len(t);
            if (!tn)
                continue;
            const hf_option_t *opt = &t[take(&r, (unsigned)tn)];
            if (strcmp(opt->name, "type") == 0 || strcmp(opt->name, "direction") == 0 ||
                strcmp(opt->name, "name") == 0 || strchr(opt->name, '.'))
                continue;
            char key[128];
            unsigned mode = take(&r, 8);
            misspell(&r, opt->name, key, sizeof(key), mode > 5 ? 0 : mode);
            if (cJSON_GetObjectItemCaseSensitive(o, key))
                continue;
            cJSON_AddItemToObject(o, key, value(&r, opt));
            if (known_key(tables, key) || typos_n == 16)
                continue;
            /* the loader's rule: the first table with a near key decides */
            const hf_option_t *near = NULL;
            for (size_t ti = 0; tables[ti] && !near; ti++)
                near = hf_options_nearest(tables[ti], "", key);
            snprintf(typos[typos_n].key, sizeof(typos[typos_n].key), "%s", key);
            typos[typos_n++].shapes = near && (near->flags & HF_OPT_SHAPES);
        }
        cJSON_AddItemToArray(bs, o);
    }

    char *ht = cJSON_PrintUnformatted(h), *ft = cJSON_PrintUnformatted(f);
    cJSON_Delete(h);
    cJSON_Delete(f);
    static const char settings[] = "{\"Values\":{\"SETTING\":\"s\",\"Conn\":\"localhost:9092\"}}";
    hf_app_file_t files[] = {
        {"host.json", ht, strlen(ht)},
        {"f/function.json", ft, strlen(ft)},
        {"f/handler.lua", "return function() end", 22},
        {"local.settings.json", settings, sizeof(settings) - 1},
    };
    hf_app_opts_t opts = {0};
    hf_app_t app;
    char err[1024], err2[1024];
    int rc = hf_app_load_mem(&app, "/fuzz", files, 4, &opts, err, sizeof(err));
    size_t warns = 0;
    char **warn_copy = NULL;
    if (rc == 0) {
        warns = app.warnings_n;
        warn_copy = calloc(warns ? warns : 1, sizeof(char *));
        for (size_t i = 0; i < warns; i++) {
            check_line("warning", app.warnings[i], "host.json", "function.json");
            warn_copy[i] = strdup(app.warnings[i]);
        }
        /* host.json "functions" may leave the function out: then nothing of it is read */
        int loaded = 0;
        for (size_t i = 0; i < app.functions_n; i++)
            loaded |= strcmp(app.functions[i].name, "f") == 0;
        for (size_t t = 0; loaded && t < typos_n; t++) {
            if (typos[t].shapes) {
                fprintf(stderr, "binding key %s loaded, though its nearest key shapes what "
                        "the handler receives\n%s\n", typos[t].key, ft);
                abort();
            }
            int named = 0;
            for (size_t i = 0; i < warns && !named; i++)
                named = strstr(app.warnings[i], typos[t].key) != NULL;
            if (!named) {
                fprintf(stderr, "misspelt binding key %s loaded without a warning\n%s\n",
                        typos[t].key, ft);
                abort();
            }
        }
        hf_app_free(&app);
    } else {
        check_line("error", err, "host.json", "function.json");
    }

    /* the same files again: the same outcome */
    int rc2 = hf_app_load_mem(&app, "/fuzz", files, 4, &opts, err2, sizeof(err2));
    if (rc2 != rc || (rc && strcmp(err, err2) != 0) || (!rc && app.warnings_n != warns)) {
        fprintf(stderr, "a second load differs: %d [%s] / %d [%s]\n", rc, rc ? err : "",
                rc2, rc2 ? err2 : "");
        abort();
    }
    if (rc2 == 0) {
        for (size_t i = 0; i < warns; i++)
            if (strcmp(app.warnings[i], warn_copy[i]) != 0)
                abort();
        hf_app_free(&app);
    }
    for (size_t i = 0; i < warns; i++)
        free(warn_copy[i]);
    free(warn_copy);
    cJSON_free(ht);
    cJSON_free(ft);
    return 0;
}
