/*
 * Capture records, written and read. See capture_record.h.
 */
#include "capture_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "base64.h"
#include "datetime.h"
#include "jsonlex.h"
#include "utf8.h"

/* ---------------------------------------------------------------------------------- */
/* Writing                                                                             */

/* Append a C string literal. */
#define PUT(b, s) hf_buf_append((b), (s), sizeof(s) - 1)

/* Append "\"BASE64\"". */
static void put_base64(hf_buf_t *b, const char *s, size_t n)
{
    PUT(b, "\"");
    hf_base64_encode(b, s, n);
    PUT(b, "\"");
}

/* Is header h's value text (or null)? */
static int header_is_text(const hf_header_t *h)
{
    return !h->value || hf_utf8_valid(h->value, h->value_len);
}

/* Append the headers whose value is text (text = 1) or not (text = 0) as an object's
   members; returns how many. */
static size_t put_headers(hf_buf_t *b, const hf_capture_record_t *rec, int text)
{
    size_t n = 0;
    for (size_t i = 0; i < rec->headers_n; i++) {
        const hf_header_t *h = &rec->headers[i];
        if (header_is_text(h) != text)
            continue;
        if (n++)
            PUT(b, ",");
        hf_json_put_string(b, h->name, strlen(h->name));
        PUT(b, ":");
        if (!h->value)
            PUT(b, "null");
        else if (text)
            hf_json_put_string(b, h->value, h->value_len);
        else
            put_base64(b, h->value, h->value_len);
    }
    return n;
}

void hf_capture_record_write(hf_buf_t *b, const hf_capture_record_t *rec)
{
    char num[96];
    int n = snprintf(num, sizeof(num), "{\"partition\":%d,\"offset\":%lld,\"enqueuedTime\":",
                     (int)rec->partition, (long long)rec->offset);
    hf_buf_append(b, num, (size_t)n);
    if (rec->enqueued_ms >= 0) {
        char t[HF_TIME_FORMAT_MAX];
        size_t tl = hf_time_format(rec->enqueued_ms, t);
        PUT(b, "\"");
        hf_buf_append(b, t, tl);
        PUT(b, "\"");
    } else {
        PUT(b, "null");
    }
    if (!rec->key) {
        PUT(b, ",\"partitionKey\":null");
    } else if (hf_utf8_valid(rec->key, rec->key_len)) {
        PUT(b, ",\"partitionKey\":");
        hf_json_put_string(b, rec->key, rec->key_len);
    } else {
        PUT(b, ",\"partitionKeyBase64\":");
        put_base64(b, rec->key, rec->key_len);
    }
    PUT(b, ",\"properties\":{");
    size_t text = put_headers(b, rec, 1);
    PUT(b, "}");
    if (text < rec->headers_n) {
        PUT(b, ",\"propertiesBase64\":{");
        put_headers(b, rec, 0);
        PUT(b, "}");
    }
    if (!rec->body) {
        PUT(b, ",\"body\":null}");
    } else if (hf_utf8_valid(rec->body, rec->body_len)) {
        PUT(b, ",\"body\":");
        hf_json_put_string(b, rec->body, rec->body_len);
        PUT(b, "}");
    } else {
        PUT(b, ",\"bodyBase64\":");
        put_base64(b, rec->body, rec->body_len);
        PUT(b, "}");
    }
}

/* ---------------------------------------------------------------------------------- */
/* Reading                                                                             */

void hf_capture_reader_free(hf_capture_reader_t *rd)
{
    free(rd->headers);
    rd->headers = NULL;
    rd->headers_cap = 0;
}

/* The state of one line being read: strings are decoded to line[w...], behind the read
   position (a decoded string is always shorter than its JSON text, NUL included). */
typedef struct reading {
    hf_jsonlex_t lx;
    char *line;
    size_t w;
    char *err;
    size_t errsz;
} reading_t;

/* Say what is wrong at byte offset at; -1. */
static int bad(reading_t *r, size_t at, const char *fmt, const char *name)
{
    char what[200];
    snprintf(what, sizeof(what), fmt, name);
    snprintf(r->err, r->errsz, "column %zu: %s", at + 1, what);
    return -1;
}

/* The lexer's error; -1. */
static int bad_json(reading_t *r)
{
    char why[256];
    snprintf(r->err, r->errsz, "column %zu: invalid JSON: %s", r->lx.err_col,
             hf_jsonlex_message(&r->lx, why, sizeof(why)));
    return -1;
}

/* Read the next value: its span in *vs..*ve. 0, or -1. */
static int next_value(reading_t *r, size_t *vs, size_t *ve)
{
    if (hf_jsonlex_peek(&r->lx) < 0)
        return r->lx.why ? bad_json(r) : bad(r, r->lx.pos, "%s", "expected a value");
    *vs = r->lx.pos;
    if (hf_jsonlex_value(&r->lx) < 0)
        return bad_json(r);
    *ve = r->lx.pos;
    return 0;
}

/* Is the value at vs..ve null? */
static int is_null(const reading_t *r, size_t vs, size_t ve)
{
    return ve - vs == 4 && memcmp(r->line + vs, "null", 4) == 0;
}

/* Decode the string at vs..ve (checked to be one by the caller) to line[w], NUL after it;
   base64 = 1 also decodes its base64. 0 with *out and *len, or -1. */
static int decode_string(reading_t *r, size_t vs, size_t ve, int base64, const char *name,
                         char **out, size_t *len)
{
    char *dst = r->line + r->w;
    size_t n = hf_jsonlex_unescape(r->line + vs + 1, ve - vs - 2, dst);
    if (base64) {
        hf_buf_t bytes;
        hf_buf_init(&bytes);
        if (hf_base64_decode(&bytes, dst, n) != 0) {
            hf_buf_free(&bytes);
            return bad(r, vs, "%s is not base64", name);
        }
        if (bytes.len)
            memmove(dst, bytes.data, bytes.len);
        n = bytes.len;
        hf_buf_free(&bytes);
    }
    dst[n] = 0;
    r->w += n + 1;
    *out = dst;
    *len = n;
    return 0;
}

/* A string member value (or null when null_ok; *out NULL then). 0, or -1. */
static int read_string(reading_t *r, const char *name, int base64, int null_ok, char **out,
                       size_t *len)
{
    size_t vs, ve;
    if (next_value(r, &vs, &ve) < 0)
        return -1;
    if (null_ok && is_null(r, vs, ve)) {
        *out = NULL;
        *len = 0;
        return 0;
    }
    if (r->line[vs] != '"')
        return bad(r, vs, null_ok ? "\"%s\" must be a string or null" : "\"%s\" must be a string",
                   name);
    return decode_string(r, vs, ve, base64, name, out, len);
}

/* A whole number from 0 up. 0, or -1. */
static int read_count(reading_t *r, const char *name, int64_t max, int64_t *out)
{
    size_t vs, ve;
    if (next_value(r, &vs, &ve) < 0)
        return -1;
    int64_t v = 0;
    size_t i = vs;
    for (; i < ve && r->line[i] >= '0' && r->line[i] <= '9'; i++) {
        if (v > (max - (r->line[i] - '0')) / 10)
            return bad(r, vs, "\"%s\" is too large", name);
        v = v * 10 + (r->line[i] - '0');
    }
    if (i == vs || i != ve)
        return bad(r, vs, "\"%s\" must be a whole number from 0", name);
    *out = v;
    return 0;
}

/* Room for one more header. */
static hf_header_t *add_header(hf_capture_reader_t *rd, size_t *n)
{
    if (*n == rd->headers_cap) {
        rd->headers_cap = rd->headers_cap ? rd->headers_cap * 2 : 8;
        rd->headers = hf_realloc(rd->headers, rd->headers_cap * sizeof(*rd->headers));
    }
    hf_header_t *h = &rd->headers[(*n)++];
    memset(h, 0, sizeof(*h));
    return h;
}

/* The members of "properties" (base64 = 0) or "propertiesBase64" (1), appended to the
   reader's headers. 0, or -1. */
static int read_properties(reading_t *r, hf_capture_reader_t *rd, size_t *n, int base64)
{
    const char *what = base64 ? "propertiesBase64" : "properties";
    if (hf_jsonlex_peek(&r->lx) == 'n') {
        size_t vs, ve;
        if (next_value(r, &vs, &ve) < 0)
            return -1;
        if (is_null(r, vs, ve))
            return 0;
    }
    if (!hf_jsonlex_take(&r->lx, '{'))
        return r->lx.why ? bad_json(r) : bad(r, r->lx.pos, "\"%s\" must be an object", what);
    if (hf_jsonlex_take(&r->lx, '}'))
        return 0;
    for (;;) {
        char *name, *value;
        size_t name_len, value_len;
        if (hf_jsonlex_peek(&r->lx) != '"')
            return r->lx.why ? bad_json(r)
                             : bad(r, r->lx.pos, "expected a property name in \"%s\"", what);
        if (read_string(r, what, 0, 0, &name, &name_len) < 0)
            return -1;
        if (memchr(name, 0, name_len))
            return bad(r, r->lx.pos, "a property name in \"%s\" holds a NUL character", what);
        if (!hf_jsonlex_take(&r->lx, ':'))
            return r->lx.why ? bad_json(r) : bad(r, r->lx.pos, "%s", "expected ':'");
        if (read_string(r, base64 ? "a value of \"propertiesBase64\"" : "a property value",
                        base64, 1, &value, &value_len) < 0)
            return -1;
        hf_header_t *h = add_header(rd, n);
        h->name = name;
        h->value = value;
        h->value_len = value_len;
        if (hf_jsonlex_take(&r->lx, '}'))
            return 0;
        if (!hf_jsonlex_take(&r->lx, ','))
            return r->lx.why ? bad_json(r) : bad(r, r->lx.pos, "%s", "expected ',' or '}'");
    }
}

/* Does the member name at line[ks..ke) (quotes included) equal lit? */
static int name_is(const reading_t *r, size_t ks, size_t ke, const char *lit)
{
    size_t n = strlen(lit);
    return ke - ks == n + 2 && memcmp(r->line + ks + 1, lit, n) == 0;
}

int hf_capture_record_read(hf_capture_reader_t *rd, char *line, size_t len,
                           hf_capture_record_t *rec, char *err, size_t errsz)
{
    reading_t r;
    int have_partition = 0, have_offset = 0, have_body = 0;
    size_t nh = 0;
    int64_t v;
    char *s;
    size_t sl;

    memset(rec, 0, sizeof(*rec));
    rec->enqueued_ms = -1;
    r.line = line;
    r.w = 0;
    r.err = err;
    r.errsz = errsz;
    hf_jsonlex_init(&r.lx, HF_JSONLEX_STRICT, line, len, NULL, HF_JSONLEX_OUT_NONE);
    hf_jsonlex_bom(&r.lx);
    if (!hf_jsonlex_take(&r.lx, '{'))
        return bad(&r, r.lx.pos, "%s", "expected a capture record, a JSON object {\"partition\":"
                   "..., \"offset\":..., \"body\":...}");
    if (!hf_jsonlex_take(&r.lx, '}')) {
        for (;;) {
            size_t ks, ke;
            if (hf_jsonlex_peek(&r.lx) != '"')
                return r.lx.why ? bad_json(&r) : bad(&r, r.lx.pos, "%s", "expected a member name");
            if (next_value(&r, &ks, &ke) < 0)
                return -1;
            if (!hf_jsonlex_take(&r.lx, ':'))
                return r.lx.why ? bad_json(&r) : bad(&r, r.lx.pos, "%s", "expected ':'");
            if (name_is(&r, ks, ke, "partition")) {
                if (read_count(&r, "partition", INT32_MAX, &v) < 0)
                    return -1;
                rec->partition = (int32_t)v;
                have_partition = 1;
            } else if (name_is(&r, ks, ke, "offset")) {
                if (read_count(&r, "offset", INT64_MAX, &v) < 0)
                    return -1;
                rec->offset = v;
                have_offset = 1;
            } else if (name_is(&r, ks, ke, "enqueuedTime")) {
                size_t vs, ve;
                if (next_value(&r, &vs, &ve) < 0)
                    return -1;
                if (is_null(&r, vs, ve)) {
                    rec->enqueued_ms = -1;
                } else if (line[vs] != '"' ||
                           hf_time_parse_exact(line + vs + 1, ve - vs - 2, &v) != 0 || v < 0) {
                    return bad(&r, vs, "%s", "\"enqueuedTime\" must be an ISO 8601 date-time "
                               "from 1970 on, such as \"2026-05-02T08:15:00.120Z\", or null");
                } else {
                    rec->enqueued_ms = v;
                }
            } else if (name_is(&r, ks, ke, "partitionKey") ||
                       name_is(&r, ks, ke, "partitionKeyBase64")) {
                int b64 = ke - ks > 14;
                if (read_string(&r, b64 ? "partitionKeyBase64" : "partitionKey", b64, 1, &s,
                                &sl) < 0)
                    return -1;
                rec->key = s;
                rec->key_len = sl;
            } else if (name_is(&r, ks, ke, "properties") ||
                       name_is(&r, ks, ke, "propertiesBase64")) {
                if (read_properties(&r, rd, &nh, ke - ks > 12) < 0)
                    return -1;
            } else if (name_is(&r, ks, ke, "body") || name_is(&r, ks, ke, "bodyBase64")) {
                int b64 = ke - ks > 6;
                if (have_body)
                    return bad(&r, ks, "%s", "a record holds one of \"body\" and \"bodyBase64\", "
                               "not both");
                if (read_string(&r, b64 ? "bodyBase64" : "body", b64, 1, &s, &sl) < 0)
                    return -1;
                rec->body = s;
                rec->body_len = sl;
                have_body = 1;
            } else {
                size_t vs, ve;               /* a member this version does not know */
                if (next_value(&r, &vs, &ve) < 0)
                    return -1;
            }
            if (hf_jsonlex_take(&r.lx, '}'))
                break;
            if (!hf_jsonlex_take(&r.lx, ','))
                return r.lx.why ? bad_json(&r) : bad(&r, r.lx.pos, "%s", "expected ',' or '}'");
        }
    }
    if (hf_jsonlex_peek(&r.lx) >= 0)
        return bad(&r, r.lx.pos, "%s", "more follows the record (one record per line)");
    if (!have_partition)
        return bad(&r, 0, "%s", "the record has no \"partition\"");
    if (!have_offset)
        return bad(&r, 0, "%s", "the record has no \"offset\"");
    if (!have_body)
        return bad(&r, 0, "%s", "the record has no \"body\" (nor \"bodyBase64\")");
    rec->headers = nh ? rd->headers : NULL;
    rec->headers_n = nh;
    return 0;
}
