/*
 * A value at a path in a JSON document without decoding it. See jsonpath.h.
 */
#include "jsonpath.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

int hf_jsonpath_compile(hf_jsonpath_t *p, const char *path, char *err, size_t errsz)
{
    memset(p, 0, sizeof(*p));
    if (!path || !*path) {
        snprintf(err, errsz, "the path is empty");
        return -1;
    }
    size_t n = 1;
    for (const char *s = path; *s; s++)
        n += *s == '.';
    p->seg = hf_calloc(n, sizeof(*p->seg));
    p->seg_len = hf_calloc(n, sizeof(*p->seg_len));
    p->index = hf_calloc(n, sizeof(*p->index));
    const char *s = path;
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        if (len == 0) {
            snprintf(err, errsz, "\"%s\" has an empty segment (write names separated by "
                     "single dots, e.g. identityMap.ecid.0.id)", path);
            p->n = i;
            hf_jsonpath_free(p);
            return -1;
        }
        p->seg[i] = hf_strndup(s, len);
        p->seg_len[i] = len;
        p->index[i] = -1;
        if (len <= 9 && strspn(s, "0123456789") >= len)
            p->index[i] = strtol(p->seg[i], NULL, 10);
        p->n = i + 1;
        s = dot ? dot + 1 : s + len;
    }
    return 0;
}

void hf_jsonpath_free(hf_jsonpath_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->seg[i]);
    free(p->seg);
    free(p->seg_len);
    free(p->index);
    memset(p, 0, sizeof(*p));
}

typedef struct scan {
    const char *s;
    size_t len, pos;
} scan_t;

static void ws(scan_t *c)
{
    while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' ||
                               c->s[c->pos] == '\n' || c->s[c->pos] == '\r'))
        c->pos++;
}

/* At an opening quote: move past the closing one. 0, or -1 when the string does not end. */
static int skip_string(scan_t *c)
{
    for (c->pos++; c->pos < c->len; c->pos++) {
        char ch = c->s[c->pos];
        if (ch == '\\')
            c->pos++;
        else if (ch == '"') {
            c->pos++;
            return 0;
        }
    }
    return -1;
}

/* Move past the value at pos (without checking it much: the decoder does that). */
static int skip_value(scan_t *c)
{
    if (c->pos >= c->len)
        return -1;
    char ch = c->s[c->pos];
    if (ch == '"')
        return skip_string(c);
    if (ch == '{' || ch == '[') {
        size_t depth = 0;
        while (c->pos < c->len) {
            ch = c->s[c->pos];
            if (ch == '"') {
                if (skip_string(c) < 0)
                    return -1;
                continue;
            }
            if (ch == '{' || ch == '[')
                depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0) {
                c->pos++;
                return 0;
            }
            c->pos++;
        }
        return -1;
    }
    size_t start = c->pos;
    while (c->pos < c->len && !strchr(",}] \t\r\n", c->s[c->pos]))
        c->pos++;
    return c->pos > start ? 0 : -1;
}

/* Inside an object at '{': move to the value of key (seg, n). 1 found, 0 not, -1 bad. */
static int find_key(scan_t *c, const char *seg, size_t n)
{
    c->pos++;
    for (;;) {
        ws(c);
        if (c->pos >= c->len)
            return -1;
        if (c->s[c->pos] == '}')
            return 0;
        if (c->s[c->pos] != '"')
            return -1;
        size_t k = c->pos + 1;
        if (skip_string(c) < 0)
            return -1;
        size_t klen = c->pos - 1 - k;
        ws(c);
        if (c->pos >= c->len || c->s[c->pos] != ':')
            return -1;
        c->pos++;
        ws(c);
        if (klen == n && memcmp(c->s + k, seg, n) == 0)
            return 1;
        if (skip_value(c) < 0)
            return -1;
        ws(c);
        if (c->pos >= c->len)
            return -1;
        if (c->s[c->pos] == ',') {
            c->pos++;
            continue;
        }
        return c->s[c->pos] == '}' ? 0 : -1;
    }
}

/* Inside an array at '[': move to element index. 1 found, 0 not, -1 bad. */
static int find_index(scan_t *c, long index)
{
    c->pos++;
    for (long k = 0;; k++) {
        ws(c);
        if (c->pos >= c->len)
            return -1;
        if (c->s[c->pos] == ']')
            return 0;
        if (k == index)
            return 1;
        if (skip_value(c) < 0)
            return -1;
        ws(c);
        if (c->pos >= c->len)
            return -1;
        if (c->s[c->pos] == ',') {
            c->pos++;
            continue;
        }
        return 0;
    }
}

int hf_jsonpath_get(const hf_jsonpath_t *p, const char *doc, size_t len, const char **v,
                    size_t *vlen)
{
    scan_t c = {doc, len, 0};
    if (!doc)
        return 0;
    /* a UTF-8 byte order mark, as the decoder allows */
    if (len >= 3 && memcmp(doc, "\xEF\xBB\xBF", 3) == 0)
        c.pos = 3;
    ws(&c);
    for (size_t i = 0; i < p->n; i++) {
        if (c.pos >= c.len)
            return 0;
        int r;
        if (c.s[c.pos] == '{')
            r = find_key(&c, p->seg[i], p->seg_len[i]);
        else if (c.s[c.pos] == '[' && p->index[i] >= 0)
            r = find_index(&c, p->index[i]);
        else
            return 0;
        if (r <= 0)
            return 0;
    }
    if (c.pos >= c.len)
        return 0;
    char ch = c.s[c.pos];
    size_t start = c.pos;
    if (ch == '"') {
        if (skip_string(&c) < 0)
            return 0;
        *v = doc + start + 1;
        *vlen = c.pos - start - 2;
        return 1;
    }
    if (ch == '-' || (ch >= '0' && ch <= '9') || ch == 't' || ch == 'f') {
        if (skip_value(&c) < 0)
            return 0;
        *v = doc + start;
        *vlen = c.pos - start;
        return 1;
    }
    return 0;
}
