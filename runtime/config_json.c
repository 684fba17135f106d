/*
 * Configuration JSON: a validating scanner that finds the first syntax error with its
 * line and column (cJSON gives only a pointer and no reason), and that blanks out the
 * comments and trailing commas Json.NET tolerates so cJSON can parse what is left.
 * The blanked copy has the same length as the input, so offsets stay valid.
 */
#include "config_json.h"
#include "conn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *s;     /* input */
    char *out;         /* blanked copy, same length, NUL-terminated */
    size_t n;          /* input length */
    size_t i;          /* cursor */
    size_t at;         /* offset of the first error */
    const char *why;   /* reason of the first error, NULL while none */
} scan_t;

/* Record the first error; always returns -1. */
static int scan_fail(scan_t *sc, size_t at, const char *why)
{
    if (!sc->why) {
        sc->why = why;
        sc->at = at;
    }
    return -1;
}

/* Skip whitespace and comments, blanking comments in the copy. 0, or -1 on an
   unterminated block comment. */
static int scan_ws(scan_t *sc)
{
    while (sc->i < sc->n) {
        char c = sc->s[sc->i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            sc->i++;
        } else if (c == '/' && sc->i + 1 < sc->n && sc->s[sc->i + 1] == '/') {
            while (sc->i < sc->n && sc->s[sc->i] != '\n')
                sc->out[sc->i++] = ' ';
        } else if (c == '/' && sc->i + 1 < sc->n && sc->s[sc->i + 1] == '*') {
            size_t start = sc->i;
            sc->out[sc->i++] = ' ';
            sc->out[sc->i++] = ' ';
            for (;;) {
                if (sc->i + 1 >= sc->n) {
                    return scan_fail(sc, start, "unterminated /* comment");
                }
                if (sc->s[sc->i] == '*' && sc->s[sc->i + 1] == '/') {
                    sc->out[sc->i++] = ' ';
                    sc->out[sc->i++] = ' ';
                    break;
                }
                if (sc->s[sc->i] != '\n')
                    sc->out[sc->i] = ' ';
                sc->i++;
            }
        } else {
            break;
        }
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Read the 4 hex digits after "\u" at sc->i (pointing at 'u'); -1 if malformed. */
static long scan_u4(scan_t *sc, size_t at)
{
    long v = 0;
    if (sc->i + 4 >= sc->n)
        return -1;
    for (int k = 1; k <= 4; k++) {
        int h = hexval(sc->s[sc->i + k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    (void)at;
    return v;
}

/* A string starting at the opening quote. */
static int scan_string(scan_t *sc)
{
    size_t start = sc->i++;
    while (sc->i < sc->n) {
        unsigned char c = (unsigned char)sc->s[sc->i];
        if (c == '"') {
            sc->i++;
            return 0;
        }
        if (c == '\n' || c == '\r')
            return scan_fail(sc, start, "unterminated string");
        if (c < 0x20)
            return scan_fail(sc, sc->i, "control character in a string (escape it)");
        if (c == '\\') {
            size_t esc = sc->i++;
            if (sc->i >= sc->n)
                break;
            c = (unsigned char)sc->s[sc->i];
            if (c == 'u') {
                long cp = scan_u4(sc, esc);
                if (cp < 0)
                    return scan_fail(sc, esc, "invalid \\u escape (needs 4 hex digits)");
                sc->i += 5;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return scan_fail(sc, esc, "invalid \\u escape (unpaired surrogate)");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    long lo;
                    if (sc->i + 1 >= sc->n || sc->s[sc->i] != '\\' || sc->s[sc->i + 1] != 'u')
                        return scan_fail(sc, esc, "invalid \\u escape (unpaired surrogate)");
                    sc->i++;
                    lo = scan_u4(sc, esc);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return scan_fail(sc, esc, "invalid \\u escape (unpaired surrogate)");
                    sc->i += 5;
                }
                continue;
            }
            if (!strchr("\"\\/bfnrt", c) || c == 0)
                return scan_fail(sc, esc, "invalid escape in a string");
            sc->i++;
            continue;
        }
        sc->i++;
    }
    return scan_fail(sc, start, "unterminated string");
}

static int isdig(char c)
{
    return c >= '0' && c <= '9';
}

/* A number per RFC 8259. */
static int scan_number(scan_t *sc)
{
    size_t start = sc->i;
    if (sc->s[sc->i] == '-')
        sc->i++;
    if (sc->i >= sc->n || !isdig(sc->s[sc->i]))
        return scan_fail(sc, start, "invalid number");
    if (sc->s[sc->i] == '0') {
        sc->i++;
        if (sc->i < sc->n && isdig(sc->s[sc->i]))
            return scan_fail(sc, start, "invalid number (no leading zeros)");
    } else {
        while (sc->i < sc->n && isdig(sc->s[sc->i]))
            sc->i++;
    }
    if (sc->i < sc->n && sc->s[sc->i] == '.') {
        sc->i++;
        if (sc->i >= sc->n || !isdig(sc->s[sc->i]))
            return scan_fail(sc, start, "invalid number");
        while (sc->i < sc->n && isdig(sc->s[sc->i]))
            sc->i++;
    }
    if (sc->i < sc->n && (sc->s[sc->i] == 'e' || sc->s[sc->i] == 'E')) {
        sc->i++;
        if (sc->i < sc->n && (sc->s[sc->i] == '+' || sc->s[sc->i] == '-'))
            sc->i++;
        if (sc->i >= sc->n || !isdig(sc->s[sc->i]))
            return scan_fail(sc, start, "invalid number");
        while (sc->i < sc->n && isdig(sc->s[sc->i]))
            sc->i++;
    }
    return 0;
}

static int scan_value(scan_t *sc, int depth);

/* The members of an object or the elements of an array, the cursor on '{' or '['. */
static int scan_container(scan_t *sc, int depth)
{
    char close = sc->s[sc->i] == '{' ? '}' : ']';
    int obj = close == '}';
    const char *first = obj ? "expected a string key or '}'" : "expected a value or ']'";
    const char *next = obj ? "expected ',' or '}'" : "expected ',' or ']'";
    if (depth >= HF_CFGJSON_MAX_DEPTH)
        return scan_fail(sc, sc->i, "nested too deeply");
    sc->i++;
    if (scan_ws(sc) < 0)
        return -1;
    if (sc->i < sc->n && sc->s[sc->i] == close) {
        sc->i++;
        return 0;
    }
    for (;;) {
        if (obj) {
            if (sc->i >= sc->n || sc->s[sc->i] != '"')
                return scan_fail(sc, sc->i, first);
            if (scan_string(sc) < 0 || scan_ws(sc) < 0)
                return -1;
            if (sc->i >= sc->n || sc->s[sc->i] != ':')
                return scan_fail(sc, sc->i, "expected ':'");
            sc->i++;
            if (scan_ws(sc) < 0)
                return -1;
        }
        if (sc->i >= sc->n)
            return scan_fail(sc, sc->i, obj ? "expected a value" : first);
        if (scan_value(sc, depth + 1) < 0 || scan_ws(sc) < 0)
            return -1;
        if (sc->i < sc->n && sc->s[sc->i] == close) {
            sc->i++;
            return 0;
        }
        if (sc->i >= sc->n || sc->s[sc->i] != ',')
            return scan_fail(sc, sc->i, next);
        size_t comma = sc->i++;
        if (scan_ws(sc) < 0)
            return -1;
        if (sc->i < sc->n && sc->s[sc->i] == close) {
            sc->out[comma] = ' ';   /* trailing comma, as Json.NET allows */
            sc->i++;
            return 0;
        }
        first = obj ? "expected a string key" : "expected a value";
    }
}

/* One value at the cursor (whitespace already skipped). */
static int scan_value(scan_t *sc, int depth)
{
    static const char *const lits[] = { "true", "false", "null" };
    char c;
    if (sc->i >= sc->n)
        return scan_fail(sc, sc->i, "expected a value");
    c = sc->s[sc->i];
    if (c == '{' || c == '[')
        return scan_container(sc, depth);
    if (c == '"')
        return scan_string(sc);
    if (c == '-' || isdig(c))
        return scan_number(sc);
    for (size_t k = 0; k < 3; k++) {
        size_t l = strlen(lits[k]);
        if (sc->n - sc->i >= l && memcmp(sc->s + sc->i, lits[k], l) == 0) {
            sc->i += l;
            return 0;
        }
    }
    if (c == '\'')
        return scan_fail(sc, sc->i, "expected a value (strings take double quotes)");
    return scan_fail(sc, sc->i, "expected a value");
}

/* Line and column (from 1; columns in characters) of byte offset `at`. */
static void line_col(const char *s, size_t n, size_t at, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t k = 0; k < at && k < n; k++) {
        unsigned char b = (unsigned char)s[k];
        if (b == '\n') {
            l++;
            c = 1;
        } else if ((b & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Parse configuration JSON; see config_json.h. */
cJSON *hf_cfgjson_parse(const char *text, size_t len, const char *file, char *err,
                        size_t errsz)
{
    scan_t sc = { .s = text, .n = len };
    cJSON *root = NULL;
    int line, col;

    sc.out = malloc(len + 1);
    if (!sc.out) {
        snprintf(err, errsz, "%s: out of memory", file);
        return NULL;
    }
    memcpy(sc.out, text, len);
    sc.out[len] = '\0';
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        memset(sc.out, ' ', 3);
        sc.i = 3;
    }
    if (scan_ws(&sc) == 0) {
        if (sc.i >= sc.n) {
            scan_fail(&sc, sc.i, "the file is empty");
        } else if (scan_value(&sc, 0) == 0 && scan_ws(&sc) == 0 && sc.i < sc.n) {
            scan_fail(&sc, sc.i, "unexpected text after the end of the JSON value");
        }
    }
    if (!sc.why) {
        const char *end = NULL;
        root = cJSON_ParseWithOpts(sc.out, &end, 1);
        if (!root) {
            size_t at = end && end >= sc.out && end <= sc.out + len ? (size_t)(end - sc.out) : 0;
            scan_fail(&sc, at, "cannot parse this value");
        }
    }
    if (sc.why) {
        line_col(text, len, sc.at, &line, &col);
        snprintf(err, errsz, "%s:%d:%d: invalid JSON (%s%s)", file, line, col, sc.why,
                 sc.at >= len && strcmp(sc.why, "the file is empty") != 0
                     ? ", but the file ends" : "");
    }
    free(sc.out);
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
        char *s = malloc(rl * 2 + 16);
        if (!s) {
            snprintf(buf, bufsz, "a string");
            return buf;
        }
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
