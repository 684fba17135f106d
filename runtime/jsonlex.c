/*
 * The JSON lexer of jsonlex.h: a recursive reader over one buffer that checks each value
 * as the dialect wants, then writes what it read to the output.
 */
#include "jsonlex.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

/*
 * The smallest magnitude a double cannot hold, in decimal: 2^1024 - 2^970 (309 digits,
 * so 1.797...e308), halfway between DBL_MAX and 2^1024, which rounding to nearest (ties
 * to even) takes to infinity. strtod, and so the decoder, turns a number into +-inf
 * exactly when its magnitude is at least this.
 */
static const char hf_jsonlex_huge[] =
    "1797693134862315807937289714053034150799341327100378269361737789804449682927647509"
    "4664901797758720709633028641669288791094655554785194040263065748867150582068190890"
    "2000708383676273854845817711531764475730270069855571366959622842914819860834936475"
    "292719074168444365510704342711559699508093042880177904174497792";

/* Start a lexer; see jsonlex.h. */
void hf_jsonlex_init(hf_jsonlex_t *lx, hf_jsonlex_mode_t mode, const char *text, size_t len,
                     char *out, hf_jsonlex_out_t out_mode)
{
    memset(lx, 0, sizeof(*lx));
    lx->s = text ? text : "";
    lx->len = lx->end = text ? len : 0;
    lx->end_what = "input";
    lx->out = out;
    lx->out_mode = out ? out_mode : HF_JSONLEX_OUT_NONE;
    lx->mode = mode;
    lx->max_depth = mode == HF_JSONLEX_STRICT ? HF_JSONLEX_STRICT_DEPTH
                                              : HF_JSONLEX_CONFIG_DEPTH;
    lx->line = 1;
}

/* Read one line next; see jsonlex.h. */
void hf_jsonlex_line(hf_jsonlex_t *lx, size_t pos, size_t end, size_t line)
{
    lx->pos = lx->line_start = pos;
    lx->end = end;
    lx->end_what = "line";
    lx->line = line;
    lx->depth = 0;
    lx->why = NULL;
    lx->unexpected = 0;
}

/* ---------------------------------------------------------------------------------- */
/* Errors                                                                              */

/* Line and column (in characters) of offset at, which may lie before the current line
   (the start of a comment that spans lines). */
static void hf_jsonlex_where(const hf_jsonlex_t *lx, size_t at, size_t *line, size_t *col)
{
    size_t l = lx->line, start = lx->line_start, c = 1;
    while (at < start && start > 0) {
        l--;
        start--;                             /* onto the '\n' that ends the line before */
        while (start > 0 && lx->s[start - 1] != '\n')
            start--;
    }
    for (size_t k = start; k < at && k < lx->len; k++)
        if (((unsigned char)lx->s[k] & 0xc0) != 0x80)
            c++;
    *line = l;
    *col = c;
}

/* Record an error at an offset; see jsonlex.h. */
int hf_jsonlex_fail(hf_jsonlex_t *lx, size_t at, const char *why)
{
    if (lx->why)
        return -1;
    lx->why = why;
    lx->unexpected = 0;
    lx->err_at = at;
    hf_jsonlex_where(lx, at, &lx->err_line, &lx->err_col);
    return -1;
}

/* Record what was expected at the read position; see jsonlex.h. */
int hf_jsonlex_expected(hf_jsonlex_t *lx, const char *what)
{
    if (lx->why)
        return -1;
    hf_jsonlex_fail(lx, lx->pos, what);
    lx->unexpected = 1;
    return -1;
}

/* The error as one phrase; see jsonlex.h. */
const char *hf_jsonlex_message(const hf_jsonlex_t *lx, char *buf, size_t bufsz)
{
    if (!lx->why) {
        snprintf(buf, bufsz, "no error");
    } else if (!lx->unexpected) {
        snprintf(buf, bufsz, "%s", lx->why);
    } else if (lx->err_at >= lx->end) {
        snprintf(buf, bufsz, "unexpected end of %s, %s", lx->end_what, lx->why);
    } else {
        unsigned char c = (unsigned char)lx->s[lx->err_at];
        if (c >= 0x20 && c < 0x7f)
            snprintf(buf, bufsz, "unexpected '%c', %s", c, lx->why);
        else
            snprintf(buf, bufsz, "unexpected byte 0x%02x, %s", c, lx->why);
    }
    return buf;
}

/* ---------------------------------------------------------------------------------- */
/* Output                                                                              */

/* Is the quote at q, in a string that starts at start, escaped (an odd number of
   backslashes before it)? */
static inline int hf_jsonlex_escaped(const char *start, const char *q)
{
    size_t n = 0;
    while (q - n - 1 > start && q[-(ptrdiff_t)n - 1] == '\\')
        n++;
    return n & 1;
}

/* Write the value read at [from, to), which the lexer accepted, at out[o] without its
   white space, comments and trailing commas. It runs once the value is read, so that
   compacting in place never overwrites text an error message may still quote. */
static void hf_jsonlex_compact(hf_jsonlex_t *lx, size_t from, size_t to)
{
    const char *s = lx->s;
    char *out = lx->out;
    size_t o = lx->o, o0 = lx->o;
    for (size_t i = from; i < to; i++) {
        char c = s[i];
        if (c == '"') {
            /* to the closing quote: the first one not escaped */
            const char *q = s + i;
            do
                q = memchr(q + 1, '"', (size_t)(s + to - q - 1));
            while (hf_jsonlex_escaped(s + i, q));
            size_t n = (size_t)(q - (s + i)) + 1;
            memmove(out + o, s + i, n);
            o += n;
            i += n - 1;
        } else if (c == '/') {
            if (s[i + 1] == '/') {
                while (i + 1 < to && s[i + 1] != '\n')
                    i++;
            } else {
                for (i += 2; !(s[i] == '*' && s[i + 1] == '/'); i++)
                    ;
                i++;
            }
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            if ((c == '}' || c == ']') && o > o0 && out[o - 1] == ',')
                o--;                         /* a trailing comma (configuration) */
            out[o++] = c;
        }
    }
    lx->o = o;
}

/* Blank the input's bytes [from, to) in a blanked copy, newlines kept. */
static void hf_jsonlex_blank(hf_jsonlex_t *lx, size_t from, size_t to)
{
    if (lx->out_mode != HF_JSONLEX_OUT_BLANK)
        return;
    for (size_t k = from; k < to; k++)
        if (lx->out[k] != '\n')
            lx->out[k] = ' ';
}

/* ---------------------------------------------------------------------------------- */
/* White space                                                                         */

/* Skip a byte order mark; see jsonlex.h. */
int hf_jsonlex_bom(hf_jsonlex_t *lx)
{
    if (lx->end - lx->pos < 3 || memcmp(lx->s + lx->pos, "\xef\xbb\xbf", 3) != 0)
        return 0;
    hf_jsonlex_blank(lx, lx->pos, lx->pos + 3);
    if (lx->line_start == lx->pos)
        lx->line_start += 3;                 /* editors do not show it: no column */
    lx->pos += 3;
    return 1;
}

/* A comment at the read position (configuration dialect): 1 skipped, 0 when the '/'
   there starts none, -1 when a block comment never ends. */
static int hf_jsonlex_comment(hf_jsonlex_t *lx)
{
    const char *s = lx->s;
    size_t start = lx->pos;
    if (start + 1 >= lx->end || (s[start + 1] != '/' && s[start + 1] != '*'))
        return 0;
    if (s[start + 1] == '/') {
        while (lx->pos < lx->end && s[lx->pos] != '\n')
            lx->pos++;
    } else {
        for (lx->pos = start + 2;; lx->pos++) {
            if (lx->pos + 1 >= lx->end)
                return hf_jsonlex_fail(lx, start, "unterminated /* comment");
            if (s[lx->pos] == '*' && s[lx->pos + 1] == '/') {
                lx->pos += 2;
                break;
            }
            if (s[lx->pos] == '\n') {
                lx->line++;
                lx->line_start = lx->pos + 1;
            }
        }
    }
    hf_jsonlex_blank(lx, start, lx->pos);
    return 1;
}

/* Skip white space; see jsonlex.h. */
int hf_jsonlex_ws(hf_jsonlex_t *lx)
{
    const char *s = lx->s;
    while (lx->pos < lx->end) {
        char c = s[lx->pos];
        if (c == ' ' || c == '\t' || c == '\r') {
            lx->pos++;
        } else if (c == '\n') {
            lx->pos++;
            lx->line++;
            lx->line_start = lx->pos;
        } else if (c == '/' && lx->mode == HF_JSONLEX_CONFIG) {
            int rc = hf_jsonlex_comment(lx);
            if (rc < 0)
                return -1;
            if (rc == 0)
                break;
        } else {
            break;
        }
    }
    return 0;
}

/* The next byte after white space; see jsonlex.h. */
int hf_jsonlex_peek(hf_jsonlex_t *lx)
{
    if (lx->why || hf_jsonlex_ws(lx) < 0 || lx->pos >= lx->end)
        return -1;
    return (unsigned char)lx->s[lx->pos];
}

/* Skip white space and consume c when it is next; 1 when it was. */
static int hf_jsonlex_eat(hf_jsonlex_t *lx, char c)
{
    if (hf_jsonlex_peek(lx) != (unsigned char)c)
        return 0;
    lx->pos++;
    return 1;
}

/* Take a structural character; see jsonlex.h. */
int hf_jsonlex_take(hf_jsonlex_t *lx, char c)
{
    if (!hf_jsonlex_eat(lx, c))
        return 0;
    if (lx->out_mode == HF_JSONLEX_OUT_COMPACT)
        lx->out[lx->o++] = c;
    return 1;
}

/* ---------------------------------------------------------------------------------- */
/* Values                                                                              */

/* The value of the 4 hexadecimal digits at p (before end), or -1. */
static long hf_jsonlex_hex4(const char *p, const char *end)
{
    long v = 0;
    if (end - p < 4)
        return -1;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        if (c >= '0' && c <= '9')
            v = v * 16 + (c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v = v * 16 + ((c | 0x20) - 'a' + 10);
        else
            return -1;
    }
    return v;
}

/* Bytes a string holds as they are: not '"', '\\', a control character or >= 0x80. */
static const unsigned char hf_jsonlex_plain[256] = {
    [0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* 0x22 '"' */
    [0x30] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    [0x40] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    [0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,   /* 0x5c '\\' */
    [0x60] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    [0x70] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* A string, the read position on its opening quote. */
static int hf_jsonlex_string(hf_jsonlex_t *lx)
{
    const char *s = lx->s, *end = s + lx->end;
    size_t start = lx->pos, p = start + 1;
    for (;;) {
        while (p < lx->end && hf_jsonlex_plain[(unsigned char)s[p]])
            p++;
        if (p >= lx->end)
            return hf_jsonlex_fail(lx, start, "unterminated string");
        unsigned char c = (unsigned char)s[p];
        if (c == '"')
            break;
        if (c == '\\') {
            size_t esc = p;
            if (p + 1 >= lx->end)
                return hf_jsonlex_fail(lx, start, "unterminated string");
            c = (unsigned char)s[p + 1];
            if (c == 'u') {
                long cp = hf_jsonlex_hex4(s + p + 2, end), lo;
                if (cp < 0)
                    return hf_jsonlex_fail(lx, esc,
                                           "invalid \\u escape (needs 4 hex digits)");
                p += 6;
                /* A lone surrogate: the decoder makes it U+FFFD, but cJSON, which parses
                   the configuration files, refuses it. */
                if (lx->mode == HF_JSONLEX_CONFIG && cp >= 0xd800 && cp <= 0xdfff) {
                    if (cp >= 0xdc00 || p + 1 >= lx->end || s[p] != '\\' ||
                        s[p + 1] != 'u' || (lo = hf_jsonlex_hex4(s + p + 2, end)) < 0xdc00 ||
                        lo > 0xdfff)
                        return hf_jsonlex_fail(lx, esc,
                                               "invalid \\u escape (unpaired surrogate)");
                    p += 6;
                }
            } else if (c && strchr("\"\\/bfnrt", c)) {
                p += 2;
            } else {
                return hf_jsonlex_fail(lx, esc, "invalid escape in a string");
            }
            continue;
        }
        if (c == '\n' || c == '\r')
            return hf_jsonlex_fail(lx, start, "unterminated string");
        if (c < 0x20)
            return hf_jsonlex_fail(lx, p, "control character in a string (escape it)");
        if (c >= 0x80 && lx->mode == HF_JSONLEX_STRICT) {
            int n = hf_utf8_seq((const unsigned char *)s + p, (const unsigned char *)end);
            if (!n)
                return hf_jsonlex_fail(lx, p, "invalid UTF-8 in a string");
            p += (size_t)n;
            continue;
        }
        p++;
    }
    lx->pos = p + 1;
    return 0;
}

/* Does the valid JSON number t[0..n) overflow a double (see hf_jsonlex_huge)? */
static int hf_jsonlex_overflows(const char *t, size_t n)
{
    size_t i = t[0] == '-', mend = i, point, first;
    long long e = 0;
    while (mend < n && t[mend] != 'e' && t[mend] != 'E')
        mend++;
    if (mend < n) {
        size_t k = mend + 1;
        int neg = t[k] == '-';
        if (t[k] == '+' || t[k] == '-')
            k++;
        for (; k < n; k++)
            if (e < 1000000000000000LL)     /* beyond any input's digit count */
                e = e * 10 + (t[k] - '0');
        if (neg)
            e = -e;
    }
    for (point = i; point < mend && t[point] != '.'; point++)
        ;
    for (first = i; first < mend && (t[first] == '0' || t[first] == '.'); first++)
        ;
    if (first == mend)
        return 0;                            /* zero */
    /* The decimal exponent of the first significant digit. */
    long long mag = first < point ? (long long)(point - first) - 1
                                  : -(long long)(first - point);
    mag += e;
    if (mag != 308)
        return mag > 308;
    /* 1e308 <= |value| < 1e309: compare the digits with the threshold's. */
    size_t k = 0, huge_n = sizeof(hf_jsonlex_huge) - 1;
    for (size_t j = first; j < mend; j++) {
        if (t[j] == '.')
            continue;
        if (k == huge_n) {
            if (t[j] != '0')
                return 1;
            continue;
        }
        if (t[j] != hf_jsonlex_huge[k])
            return t[j] > hf_jsonlex_huge[k];
        k++;
    }
    for (; k < huge_n; k++)
        if (hf_jsonlex_huge[k] != '0')
            return 0;
    return 1;                                /* exactly the threshold */
}

/* Is c a digit? */
static inline int hf_jsonlex_digit(const hf_jsonlex_t *lx, size_t p)
{
    return p < lx->end && lx->s[p] >= '0' && lx->s[p] <= '9';
}

/* A number, the read position on its first byte ('-' or a digit); kept as written. */
static int hf_jsonlex_number(hf_jsonlex_t *lx)
{
    size_t start = lx->pos;
    if (lx->s[lx->pos] == '-') {
        lx->pos++;
        if (!hf_jsonlex_digit(lx, lx->pos))
            return hf_jsonlex_expected(lx, "expected a digit after '-'");
    }
    if (lx->s[lx->pos] == '0') {
        lx->pos++;
        if (hf_jsonlex_digit(lx, lx->pos))
            return hf_jsonlex_expected(lx, "numbers have no leading zeros");
    } else {
        while (hf_jsonlex_digit(lx, lx->pos))
            lx->pos++;
    }
    if (lx->pos < lx->end && lx->s[lx->pos] == '.') {
        lx->pos++;
        if (!hf_jsonlex_digit(lx, lx->pos))
            return hf_jsonlex_expected(lx, "expected a digit after '.'");
        while (hf_jsonlex_digit(lx, lx->pos))
            lx->pos++;
    }
    if (lx->pos < lx->end && (lx->s[lx->pos] == 'e' || lx->s[lx->pos] == 'E')) {
        lx->pos++;
        if (lx->pos < lx->end && (lx->s[lx->pos] == '+' || lx->s[lx->pos] == '-'))
            lx->pos++;
        if (!hf_jsonlex_digit(lx, lx->pos))
            return hf_jsonlex_expected(lx, "expected a digit in the exponent");
        while (hf_jsonlex_digit(lx, lx->pos))
            lx->pos++;
    }
    if (lx->mode == HF_JSONLEX_STRICT &&
        hf_jsonlex_overflows(lx->s + start, lx->pos - start))
        return hf_jsonlex_fail(lx, start, "number out of range (beyond +-1.8e308)");
    return 0;
}

static int hf_jsonlex_value_or(hf_jsonlex_t *lx, const char *what);

/* An object or an array, the read position on its '{' or '['. */
static int hf_jsonlex_container(hf_jsonlex_t *lx)
{
    char open = lx->s[lx->pos], close = open == '{' ? '}' : ']';
    int obj = open == '{';
    const char *first = obj ? "expected a string key or '}'" : "expected a value or ']'";
    if (lx->depth >= lx->max_depth) {
        snprintf(lx->why_buf, sizeof(lx->why_buf), "nested too deeply: over %d levels",
                 lx->max_depth);
        return hf_jsonlex_fail(lx, lx->pos, lx->why_buf);
    }
    lx->depth++;
    hf_jsonlex_eat(lx, open);
    if (hf_jsonlex_eat(lx, close)) {
        lx->depth--;
        return 0;
    }
    for (;;) {
        if (obj) {
            if (hf_jsonlex_peek(lx) != '"')
                return hf_jsonlex_expected(lx, first);
            if (hf_jsonlex_string(lx) < 0)
                return -1;
            if (!hf_jsonlex_eat(lx, ':'))
                return hf_jsonlex_expected(lx, "expected ':' after a key");
            first = "expected a value";
        }
        if (hf_jsonlex_value_or(lx, first) < 0)
            return -1;
        if (hf_jsonlex_eat(lx, close)) {
            lx->depth--;
            return 0;
        }
        if (!hf_jsonlex_eat(lx, ','))
            return hf_jsonlex_expected(lx, obj ? "expected ',' or '}'"
                                               : "expected ',' or ']'");
        size_t comma = lx->pos - 1;
        if (lx->mode == HF_JSONLEX_CONFIG && hf_jsonlex_peek(lx) == (unsigned char)close) {
            /* A trailing comma, as Json.NET allows. */
            hf_jsonlex_blank(lx, comma, comma + 1);
            hf_jsonlex_eat(lx, close);
            lx->depth--;
            return 0;
        }
        first = obj ? "expected a string key" : "expected a value";
    }
}

/* One value after white space; what is the reason when none starts there. */
static int hf_jsonlex_value_or(hf_jsonlex_t *lx, const char *what)
{
    static const char *const words[] = {"true", "false", "null"};
    int c = hf_jsonlex_peek(lx);
    if (c < 0)
        return lx->why ? -1 : hf_jsonlex_expected(lx, what);
    if (c == '{' || c == '[')
        return hf_jsonlex_container(lx);
    if (c == '"')
        return hf_jsonlex_string(lx);
    if (c == '-' || (c >= '0' && c <= '9'))
        return hf_jsonlex_number(lx);
    for (size_t k = 0; k < 3; k++) {
        size_t n = strlen(words[k]);
        if (lx->end - lx->pos >= n && memcmp(lx->s + lx->pos, words[k], n) == 0) {
            lx->pos += n;
            return 0;
        }
    }
    if (c == '\'')
        return hf_jsonlex_expected(lx, "expected a value (strings take double quotes)");
    return hf_jsonlex_expected(lx, what);
}

/* One value; see jsonlex.h. */
int hf_jsonlex_value(hf_jsonlex_t *lx)
{
    if (hf_jsonlex_ws(lx) < 0)
        return -1;
    size_t from = lx->pos;
    if (hf_jsonlex_value_or(lx, "expected a value") < 0)
        return -1;
    if (lx->out_mode == HF_JSONLEX_OUT_COMPACT)
        hf_jsonlex_compact(lx, from, lx->pos);
    return 0;
}

/* A whole document; see jsonlex.h. */
int hf_jsonlex_document(hf_jsonlex_t *lx, const char *empty_why)
{
    hf_jsonlex_bom(lx);
    if (hf_jsonlex_peek(lx) < 0)
        return lx->why ? -1 : hf_jsonlex_fail(lx, lx->pos, empty_why);
    if (hf_jsonlex_value(lx) < 0)
        return -1;
    if (hf_jsonlex_peek(lx) >= 0)
        return hf_jsonlex_fail(lx, lx->pos,
                               "unexpected text after the end of the JSON value");
    return lx->why ? -1 : 0;
}

/* ---------------------------------------------------------------------------------- */
/* Strings                                                                             */

/* Decode a string's body; see jsonlex.h. */
size_t hf_jsonlex_unescape(const char *s, size_t n, char *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        if (s[i] != '\\') {
            out[o++] = s[i++];
            continue;
        }
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            uint32_t cp = (uint32_t)hf_jsonlex_hex4(s + i, s + n);
            i += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && i + 6 <= n && s[i] == '\\' &&
                s[i + 1] == 'u') {
                long lo = hf_jsonlex_hex4(s + i + 2, s + n);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
                    i += 6;
                }
            }
            if (cp >= 0xd800 && cp <= 0xdfff)
                cp = 0xfffd;
            o += (size_t)hf_utf8_put(out + o, cp);
            break;
        }
        default: out[o++] = e; break;        /* \" \\ \/ */
        }
    }
    return o;
}
