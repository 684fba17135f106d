/*
 * Configuration JSON: the lexer (jsonlex.c, configuration dialect) finds the first syntax
 * error with its line and column (cJSON gives only a pointer and no reason) and blanks
 * the comments and trailing commas Json.NET tolerates, so cJSON can parse what is left.
 */
#include "config_json.h"

#include "alloc.h"
#include "conn.h"
#include "jsonlex.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* cJSON allocates through hf_malloc, so its allocations follow the process's policy
   (alloc.h): a NULL from cJSON then always means invalid input, never missing memory. */
static void *cjson_malloc(size_t n)
{
    return hf_malloc(n);
}

/* Installed before main, while there is one thread: cJSON's hooks are process-wide
   globals, and every program that reads configuration links this file. */
__attribute__((constructor)) static void cjson_hooks_install(void)
{
    cJSON_Hooks hooks = {.malloc_fn = cjson_malloc, .free_fn = free};
    cJSON_InitHooks(&hooks);
}

/* Parse configuration JSON; see config_json.h. */
cJSON *hf_cfgjson_parse(const char *text, size_t len, const char *file, char *err,
                        size_t errsz)
{
    hf_jsonlex_t lx;
    cJSON *root = NULL;
    /* cJSON parses a copy in which the lexer blanked what only Json.NET accepts. */
    char *copy = hf_memdup(text, len);
    hf_jsonlex_init(&lx, HF_JSONLEX_CONFIG, text, len, copy, HF_JSONLEX_OUT_BLANK);
    if (hf_jsonlex_document(&lx, "the file is empty") == 0) {
        const char *end = NULL;
        root = cJSON_ParseWithOpts(copy, &end, 1);
        if (!root)
            hf_jsonlex_fail(&lx, end && end >= copy && end <= copy + len ? (size_t)(end - copy)
                                                                         : 0,
                            "cannot parse this value");
    }
    if (lx.why)
        snprintf(err, errsz, "%s:%zu:%zu: invalid JSON (%s%s)", file, lx.err_line, lx.err_col,
                 lx.why, lx.unexpected && lx.err_at >= len ? ", but the file ends" : "");
    free(copy);
    return root;
}

/* Case-insensitive member lookup, last duplicate wins. */
cJSON *hf_cfgjson_get(const cJSON *obj, const char *key)
{
    cJSON *found = NULL, *it;
    if (!obj || !cJSON_IsObject(obj))
        return NULL;
    for (it = obj->child; it; it = it->next)
        if (it->string && strcasecmp(it->string, key) == 0)
            found = it;
    return found;
}

/* Shortest round-trip text of a double. */
const char *hf_cfgjson_scalar(const cJSON *v, char *buf, size_t bufsz)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v))
        return hf_cfgjson_number(v->valuedouble, buf, bufsz);
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    return NULL;
}

const char *hf_cfgjson_number(double d, char *buf, size_t bufsz)
{
    if (isnan(d) || isinf(d)) {
        snprintf(buf, bufsz, "%s", isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        return buf;
    }
    if (d == floor(d) && fabs(d) < 9007199254740992.0) {
        snprintf(buf, bufsz, "%lld", (long long)d);
        return buf;
    }
    /* a whole number too large for a double to hold exactly: its digits, not an exponent
       (what was written, rounded to the nearest double) */
    if (d == floor(d) && fabs(d) < 1e21) {
        snprintf(buf, bufsz, "%.0f", d);
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, bufsz, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return buf;
}

/* A value for messages. */
const char *hf_cfgjson_describe(const cJSON *v, char *buf, size_t bufsz)
{
    if (!bufsz)
        return buf;
    if (!v) {
        snprintf(buf, bufsz, "nothing");
    } else if (cJSON_IsString(v)) {
        /* mask before shortening, so a cut never leaves part of a secret */
        const char *raw = v->valuestring ? v->valuestring : "";
        size_t rl = strlen(raw), o = 0, k;
        size_t lim = bufsz > 8 ? bufsz - 6 : 0;
        char *s = hf_malloc(rl * 2 + 16);
        hf_secret_mask(raw, s, rl * 2 + 16);
        if (lim > 64)
            lim = 64;
        buf[o++] = '"';
        for (k = 0; s[k] && o < lim; k++) {
            unsigned char c = (unsigned char)s[k];
            buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
        if (s[k] && o + 4 < bufsz) {
            memcpy(buf + o, "...", 3);
            o += 3;
        }
        free(s);
        if (o + 1 < bufsz)
            buf[o++] = '"';
        buf[o < bufsz ? o : bufsz - 1] = '\0';
    } else if (cJSON_IsNumber(v)) {
        hf_cfgjson_number(v->valuedouble, buf, bufsz);
    } else if (cJSON_IsBool(v)) {
        snprintf(buf, bufsz, "%s", cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNull(v)) {
        snprintf(buf, bufsz, "null");
    } else if (cJSON_IsObject(v)) {
        snprintf(buf, bufsz, "an object");
    } else if (cJSON_IsArray(v)) {
        snprintf(buf, bufsz, "an array");
    } else {
        snprintf(buf, bufsz, "an invalid value");
    }
    return buf;
}
