/*
 * JSON <-> Lua. See json.h for the contract and docs/json.md for the decisions.
 *
 * Decoder: one pass over the bytes, no tree. An iterative state machine (an explicit frame
 * stack bounded by HF_JSON_MAX_DEPTH, so hostile nesting costs no C stack) pushes each
 * value on the Lua stack; the members of an open array/object wait on the stack and the
 * table is created when the container closes, with its exact size, so Lua never rehashes.
 * Containers longer than HF_DEC_CHUNK get their table early and take the rest one by one,
 * which bounds the Lua stack use at about HF_JSON_MAX_DEPTH * 2 * HF_DEC_CHUNK slots.
 * Repeated short strings (keys above all) come from a per-state cache. The same machine
 * runs in a validate-only mode (hf_json_validate) and under the pull reader
 * (hf_json_rd_*) that activation.c uses to build its view straight from the text.
 *
 * Encoder: iterative as well; object keys are sorted so output is deterministic.
 *
 * Lazy tables (lua_lazy.c, events and the activation view) are written with every field,
 * as pairs() sees them.
 *
 * Decoding and encoding run inside lua_pcall so that a memory error inside the Lua API
 * cannot escape to a caller that is not protected, and the C memory they hold is freed
 * on every path.
 */
#define _GNU_SOURCE
#include "lua_lazy.h"
#include "utf8.h"
#include "json.h"

#include "alloc.h"

#include <lauxlib.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The address of this byte is the null sentinel; its value is never read. */
static const char hf_json_null_tag = 0;
/* Registry keys (light userdata addresses): the array metatable, the encoder's buffer. */
static const char hf_json_array_mt_key = 0;
static const char hf_json_encbuf_key = 0;
static const char hf_json_strcache_key = 0;

#define HF_DEC_CHUNK 32          /* members kept on the Lua stack before the table exists */
#define HF_SC_BITS 10            /* string cache: 1024 entries per lua_State */
#define HF_SC_SIZE (1 << HF_SC_BITS)
#define HF_SC_KEYLEN 40          /* object keys up to this length go through the cache */
#define HF_SC_VALLEN 12          /* string values up to this length too */
#define HF_DEC_SCRATCH 256       /* inline scratch for strings with escapes */

/* ------------------------------------------------------------------------------------ */
/* buffer */

/* Makes b an empty buffer. */
void hf_buf_init(hf_buf_t *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Frees b's memory and leaves it empty. */
void hf_buf_free(hf_buf_t *b)
{
    free(b->data);
    hf_buf_init(b);
}

/* Makes room for n more bytes plus a NUL (growing by doubling). */
static void buf_reserve(hf_buf_t *b, size_t n)
{
    if (b->cap - b->len > n)
        return;
    if (n >= SIZE_MAX - b->len)
        hf_oom_at(n, __FILE__, __LINE__);
    size_t need = b->len + n + 1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->data = hf_realloc(b->data, cap);
    b->cap = cap;
}

/* Appends n bytes; returns 0 (see json.h). */
int hf_buf_append(hf_buf_t *b, const void *data, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* sentinel and array metatable */

/* Pushes the null sentinel (a light userdata, the same value in every state). */
void hf_json_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&hf_json_null_tag);
}

/* Returns 1 when the value at idx is the null sentinel, else 0. */
int hf_json_is_null(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA &&
           lua_touserdata(L, idx) == (void *)&hf_json_null_tag;
}

/* Pushes this state's array metatable, creating it in the registry the first time. */
void hf_json_push_array_mt(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &hf_json_array_mt_key) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "hubfn.json.array");
    lua_setfield(L, -2, "__name");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "__jsonarray");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &hf_json_array_mt_key);
}

/* Returns 1 when the table at idx carries the array metatable, else 0. */
int hf_json_is_array(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    hf_json_push_array_mt(L);
    int r = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return r;
}

/* C-locale object for strtod_l: created once, immutable afterwards, so thread-safe. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

/* Creates the C locale object (pthread_once callback). */
static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Parses a NUL-terminated number in the C locale whatever the process locale is. */
static double strtod_c(const char *s, char **end)
{
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale)
        return strtod_l(s, end, c_locale);
    return strtod(s, end);
}

/* ------------------------------------------------------------------------------------ */
/* decoder */

typedef struct dec_frame {
    int base;                /* stack index of the first pending item, later of the table */
    int n;                   /* elements (array) or members (object) so far */
    unsigned char is_obj;
    unsigned char has_table; /* table created early (long container) */
} dec_frame_t;

/* One entry of the string cache: a Lua string (kept alive by the cache's table) and the
   hash it was filed under. */
typedef struct sc_entry {
    uint64_t h;
    const char *s;
    size_t len;
} sc_entry_t;

typedef struct dec {
    lua_State *L;
    sc_entry_t *sc;          /* this state's string cache */
    int sc_idx;              /* stack index of the table holding the cached strings */
    const unsigned char *start, *end;
    char *err;
    size_t errsz;
    int failed;
    int build;               /* 0 = validate only: no Lua value is made */
    int depth;
    int shape;               /* validate: HF_JSON_SHAPE_* flags of the top level */
    const char *last_s;      /* the string just read (decoded), valid until the next */
    size_t last_n;
    int mt_idx;              /* stack index of the array metatable */
    char *scratch;           /* for strings with escapes and long numbers */
    size_t scratch_cap;
    char inline_scratch[HF_DEC_SCRATCH];
    dec_frame_t frames[HF_JSON_MAX_DEPTH];
} dec_t;

/* Byte classes inside strings: 0 = copy as is. */
enum { SC_PLAIN = 0, SC_QUOTE, SC_BSLASH, SC_CTRL, SC_UTF8 };
static const unsigned char str_class[256] = {
#define C4 SC_CTRL, SC_CTRL, SC_CTRL, SC_CTRL
#define U4 SC_UTF8, SC_UTF8, SC_UTF8, SC_UTF8
#define U16 U4, U4, U4, U4
    C4, C4, C4, C4, C4, C4, C4, C4,
    [0x22] = SC_QUOTE, [0x5c] = SC_BSLASH,
    [0x80] = U16, U16, U16, U16, U16, U16, U16, U16,
#undef C4
#undef U4
#undef U16
};

/* Records the first error as "invalid JSON at byte N: ..." and returns -1. */
static int dec_fail(dec_t *d, const unsigned char *at, const char *fmt, ...)
{
    if (d->failed)
        return -1;
    d->failed = 1;
    size_t off = (size_t)(at - d->start);
    int n = snprintf(d->err, d->errsz, "invalid JSON at byte %zu: ", off);
    if (n >= 0 && (size_t)n < d->errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err + n, d->errsz - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Describes the byte at p for an error message ("'x'", "byte 0x00", "end of input"). */
static const char *dec_what(const dec_t *d, const unsigned char *p, char *tmp, size_t tmpsz)
{
    if (p >= d->end)
        return "end of input";
    if (*p >= 0x21 && *p < 0x7f)
        snprintf(tmp, tmpsz, "'%c'", *p);
    else
        snprintf(tmp, tmpsz, "byte 0x%02x", *p);
    return tmp;
}

/* Fails with "expected X, found Y" at p. */
static int dec_expected(dec_t *d, const unsigned char *p, const char *what)
{
    char tmp[16];
    if (p >= d->end)
        return dec_fail(d, p, "unexpected end of input, expected %s", what);
    return dec_fail(d, p, "expected %s, found %s", what, dec_what(d, p, tmp, sizeof(tmp)));
}

/* A cheap hash of a short string: its length and first and last 8 bytes. Collisions only
   cost a cache miss, since hits are confirmed with memcmp. */
static inline uint64_t sc_hash(const char *s, size_t n)
{
    uint64_t a = 0, b = 0;
    if (n >= 8) {
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
    } else if (n >= 4) {
        uint32_t x, y;
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        a = x;
        b = y;
    } else if (n > 0) {
        a = (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[n / 2] << 8 |
            (uint64_t)(unsigned char)s[n - 1] << 16;
    }
    uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ (b + n) * 0xc2b2ae3d27d4eb4fULL;
    return h ^ (h >> 31);
}

/* Pushes this state's string cache table and returns its entries, creating both in the
   registry the first time. The entries live in a userdata whose user value is the table
   of strings, so neither can be collected while the other is in use. */
static sc_entry_t *sc_open(lua_State *L)
{
    sc_entry_t *sc;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &hf_json_strcache_key) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        sc = lua_newuserdatauv(L, sizeof(sc_entry_t) * HF_SC_SIZE, 1);
        memset(sc, 0, sizeof(sc_entry_t) * HF_SC_SIZE);
        lua_createtable(L, HF_SC_SIZE, 0);
        lua_setiuservalue(L, -2, 1);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &hf_json_strcache_key);
    }
    sc = lua_touserdata(L, -1);
    lua_getiuservalue(L, -1, 1);
    lua_remove(L, -2);
    return sc;
}

/* Pushes the string s[0..n). Keys and short values go through the per-state cache:
   repeated keys (status, id, segment ids...) then cost a cheap hash, a memcmp and an
   array read instead of Lua's hash over every byte and its string-table walk. */
static inline void dec_push_str(dec_t *d, const char *s, size_t n, int is_key)
{
    lua_State *L = d->L;
    if (n > (is_key ? HF_SC_KEYLEN : HF_SC_VALLEN)) {
        lua_pushlstring(L, s, n);
        return;
    }
    uint64_t h = sc_hash(s, n);
    unsigned slot = (unsigned)(h & (HF_SC_SIZE - 1));
    sc_entry_t *e = &d->sc[slot];
    if (e->h == h && e->len == n && e->s && memcmp(e->s, s, n) == 0) {
        lua_rawgeti(L, d->sc_idx, slot + 1);
        return;
    }
    e->s = lua_pushlstring(L, s, n);
    e->len = n;
    e->h = h;
    lua_pushvalue(L, -1);
    lua_rawseti(L, d->sc_idx, slot + 1);
}

/* Records the string just read and pushes it when building. */
static inline void dec_str_done(dec_t *d, const char *s, size_t n, int is_key)
{
    d->last_s = s;
    d->last_n = n;
    if (d->build)
        dec_push_str(d, s, n, is_key);
}

/* Skips JSON whitespace (space, tab, CR, LF). */
static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* Makes the scratch buffer hold at least n bytes. */
static void dec_scratch(dec_t *d, size_t n)
{
    if (n <= d->scratch_cap)
        return;
    size_t cap = d->scratch_cap * 2;
    if (cap < n)
        cap = n;
    char *s = d->scratch == d->inline_scratch ? hf_malloc(cap) : hf_realloc(d->scratch, cap);
    if (d->scratch == d->inline_scratch)
        memcpy(s, d->inline_scratch, d->scratch_cap);
    d->scratch = s;
    d->scratch_cap = cap;
}

/* Reads 4 hex digits at p into *v; 0, or -1 when they are not hex digits. */
static inline int hex4(const unsigned char *p, const unsigned char *end, unsigned *v)
{
    if (end - p < 4)
        return -1;
    unsigned r = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], h;
        if (c >= '0' && c <= '9')
            h = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            h = (c | 0x20) - 'a' + 10;
        else
            return -1;
        r = r << 4 | h;
    }
    *v = r;
    return 0;
}

/* Marks (0x80 in the byte) the bytes of v that need attention in a string: a quote, a
   backslash, a control character or a byte >= 0x80. The lowest marked byte is exact
   (borrows only create false marks above a true one), which is all the scanner uses. */
static inline uint64_t swar_special(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    uint64_t zq = (q - ones) & ~q, zb = (b - ones) & ~b;
    uint64_t ctl = (v - ones * 0x20) & ~v;     /* bytes < 0x20 */
    return (zq | zb | ctl | v) & high;
}

/* Returns the first byte at or after p that is not plain string content, or end. */
static inline const unsigned char *scan_plain(const unsigned char *p, const unsigned char *end)
{
    while (end - p >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        uint64_t m = swar_special(v);
        if (m)
            return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
    while (p < end && str_class[*p] == SC_PLAIN)
        p++;
    return p;
}

/* Parses the string whose opening quote is at p and pushes it; returns the position
   after the closing quote, or NULL on error. */
static const unsigned char *dec_string(dec_t *d, const unsigned char *p, int is_key)
{
    const unsigned char *end = d->end;
    const unsigned char *s = ++p;
    /* Fast path: runs of plain ASCII (8 bytes at a time) and valid UTF-8 up to the
       closing quote, pushed straight from the input. */
    for (;;) {
        p = scan_plain(p, end);
        if (p >= end) {
            dec_fail(d, s - 1, "unterminated string");
            return NULL;
        }
        unsigned char cls = str_class[*p];
        if (cls == SC_QUOTE) {
            dec_str_done(d, (const char *)s, (size_t)(p - s), is_key);
            return p + 1;
        }
        if (cls == SC_UTF8) {
            int n = hf_utf8_seq(p, end);
            if (!n) {
                dec_fail(d, p, "invalid UTF-8 byte 0x%02x in string", *p);
                return NULL;
            }
            p += n;
            continue;
        }
        if (cls == SC_CTRL) {
            dec_fail(d, p, "control character 0x%02x in string (must be escaped)", *p);
            return NULL;
        }
        break;   /* backslash: slow path */
    }
    /* Slow path: copy into scratch while decoding escapes. The output is never longer
       than the input, so the rest of the input bounds the space needed. */
    size_t cap = (size_t)(end - s);
    dec_scratch(d, cap + 4);
    char *o = d->scratch;
    memcpy(o, s, (size_t)(p - s));
    o += p - s;
    while (p < end) {
        unsigned char c = *p;
        unsigned char cls = str_class[c];
        if (cls == SC_PLAIN) {
            *o++ = (char)c;
            p++;
        } else if (cls == SC_QUOTE) {
            dec_str_done(d, d->scratch, (size_t)(o - d->scratch), is_key);
            return p + 1;
        } else if (cls == SC_UTF8) {
            int n = hf_utf8_seq(p, end);
            if (!n) {
                dec_fail(d, p, "invalid UTF-8 byte 0x%02x in string", c);
                return NULL;
            }
            memcpy(o, p, (size_t)n);
            o += n;
            p += n;
        } else if (cls == SC_CTRL) {
            dec_fail(d, p, "control character 0x%02x in string (must be escaped)", c);
            return NULL;
        } else {
            const unsigned char *esc = p;
            if (++p >= end)
                break;
            switch (*p++) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '/': *o++ = '/'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                if (hex4(p, end, &cp) < 0) {
                    dec_fail(d, esc, "invalid \\u escape (needs 4 hex digits)");
                    return NULL;
                }
                p += 4;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    /* A high surrogate must be followed by \u and a low surrogate;
                       otherwise it is a lone surrogate and becomes U+FFFD. */
                    if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
                        hex4(p + 2, end, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        p += 6;
                    } else {
                        cp = 0xfffd;
                    }
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    cp = 0xfffd;
                }
                /* 6 input bytes give at most 3 output bytes; a pair 12 -> 4. */
                o += hf_utf8_put(o, cp);
                break;
            }
            default:
                dec_fail(d, esc, "invalid escape '\\%c' in string",
                         p[-1] >= 0x21 && p[-1] < 0x7f ? p[-1] : '?');
                return NULL;
            }
        }
    }
    dec_fail(d, s - 1, "unterminated string");
    return NULL;
}

/* Powers of ten exactly representable as doubles. */
static const double pow10_exact[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Parses the number at p and pushes it (integer when it has no fraction or exponent and
   fits int64, else float); returns the position after it, or NULL on error. */
static const unsigned char *dec_number(dec_t *d, const unsigned char *p)
{
    const unsigned char *start = p, *end = d->end;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9') {
        dec_fail(d, start, "invalid number: expected a digit after '-'");
        return NULL;
    }
    uint64_t m = 0;
    int nd = 0;                  /* significant digits accumulated into m */
    int dropped = 0;             /* integer digits beyond 19 (not in m) */
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9') {
            dec_fail(d, start, "invalid number: leading zero");
            return NULL;
        }
    } else {
        while (p < end && *p >= '0' && *p <= '9') {
            if (nd < 19) {
                m = m * 10 + (unsigned)(*p - '0');
                nd++;
            } else {
                dropped++;
            }
            p++;
        }
    }
    int is_float = 0, exp10 = dropped;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            dec_fail(d, start, "invalid number: expected a digit after '.'");
            return NULL;
        }
        is_float = 1;
        while (p < end && *p >= '0' && *p <= '9') {
            if (nd < 19) {
                if (m || *p != '0')
                    nd++;
                m = m * 10 + (unsigned)(*p - '0');
                exp10--;
            } else {
                dropped++;
            }
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0;
        if (p < end && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        if (p >= end || *p < '0' || *p > '9') {
            dec_fail(d, start, "invalid number: expected a digit in the exponent");
            return NULL;
        }
        is_float = 1;
        int e = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (e < 100000)
                e = e * 10 + (*p - '0');
            p++;
        }
        exp10 += eneg ? -e : e;
    }
    if (!is_float && !dropped) {
        if (!neg && m <= (uint64_t)INT64_MAX) {
            if (d->build)
                lua_pushinteger(d->L, (lua_Integer)m);
            return p;
        }
        if (neg && m != 0 && m <= (uint64_t)INT64_MAX + 1) {
            if (d->build)
                lua_pushinteger(d->L, (lua_Integer)(0 - m));
            return p;
        }
        /* -0 and int64 overflow fall through to floats */
    }
    double v;
    if (!dropped && m <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
        /* Exact: both m and 10^|e| are doubles and one IEEE operation rounds once. */
        v = (double)m;
        v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
        if (neg)
            v = -v;
    } else {
        size_t n = (size_t)(p - start);
        dec_scratch(d, n + 1);
        memcpy(d->scratch, start, n);
        d->scratch[n] = 0;
        v = strtod_c(d->scratch, NULL);
    }
    if (isinf(v)) {
        dec_fail(d, start, "number out of range (beyond +-1.8e308)");
        return NULL;
    }
    if (d->build)
        lua_pushnumber(d->L, v);
    return p;
}

/* Creates the table for a long container early, moving the pending items into it. */
static void dec_materialize(dec_t *d, dec_frame_t *f)
{
    lua_State *L = d->L;
    int b = f->base, n = f->n;
    if (f->is_obj) {
        lua_createtable(L, 0, n * 2);
        lua_rotate(L, b, 1);
        for (int i = 0; i < n; i++) {
            lua_pushvalue(L, b + 1 + 2 * i);
            lua_pushvalue(L, b + 2 + 2 * i);
            lua_rawset(L, b);
        }
        lua_settop(L, b);
    } else {
        lua_createtable(L, n * 2, 0);
        lua_rotate(L, b, 1);
        for (int i = n; i >= 1; i--)
            lua_rawseti(L, b, i);
    }
    f->has_table = 1;
}

/* Closes the container of frame f: leaves its table (exactly sized) at f->base = top. */
static void dec_close(dec_t *d, dec_frame_t *f)
{
    lua_State *L = d->L;
    int b = f->base, n = f->n;
    if (f->is_obj) {
        if (!f->has_table) {
            lua_createtable(L, 0, n);
            lua_rotate(L, b, 1);
            /* in document order, so a repeated key keeps its last value */
            for (int i = 0; i < n; i++) {
                lua_pushvalue(L, b + 1 + 2 * i);
                lua_pushvalue(L, b + 2 + 2 * i);
                lua_rawset(L, b);
            }
            lua_settop(L, b);
        }
    } else {
        if (!f->has_table) {
            lua_createtable(L, n, 0);
            lua_rotate(L, b, 1);
            for (int i = n; i >= 1; i--)
                lua_rawseti(L, b, i);
        }
        lua_pushvalue(L, d->mt_idx);
        lua_setmetatable(L, b);
    }
}

/* Notes a top-level key that makes the body an activation (validate mode). */
static void dec_shape_key(dec_t *d)
{
    if (d->last_n == 17 && memcmp(d->last_s, "segmentMembership", 17) == 0)
        d->shape |= HF_JSON_SHAPE_SEGMENTS;
    else if (d->last_n == 11 && memcmp(d->last_s, "identityMap", 11) == 0)
        d->shape |= HF_JSON_SHAPE_IDENTITIES;
}

/* Parses one value starting at p (after optional whitespace). When building, exactly one
   value more is on the stack afterwards. Returns the position after the value, or NULL
   (d->failed). Nesting counts from d->depth. */
static const unsigned char *dec_value(dec_t *d, const unsigned char *p)
{
    lua_State *L = d->L;
    const unsigned char *end = d->end;
    const int build = d->build, depth0 = d->depth;
    dec_frame_t *f;
    char tmp[16];

value:
    p = skip_ws(p, end);
    if (p >= end) {
        dec_fail(d, p, "unexpected end of input, expected a value");
        return NULL;
    }
    switch (*p) {
    case '{':
    case '[':
        if (d->depth >= HF_JSON_MAX_DEPTH) {
            dec_fail(d, p, "nesting deeper than %d levels", HF_JSON_MAX_DEPTH);
            return NULL;
        }
        if (build && !lua_checkstack(L, 2 * HF_DEC_CHUNK + 8)) {
            dec_fail(d, p, "too large for the Lua stack");
            return NULL;
        }
        f = &d->frames[d->depth++];
        f->base = build ? lua_gettop(L) + 1 : 0;
        f->n = 0;
        f->has_table = 0;
        f->is_obj = *p == '{';
        if (!build && d->depth == 1 && f->is_obj)
            d->shape |= HF_JSON_SHAPE_OBJECT;
        p = skip_ws(p + 1, end);
        if (p < end && *p == (f->is_obj ? '}' : ']')) {
            p++;
            if (build)
                dec_close(d, f);
            d->depth--;
            goto after;
        }
        if (f->is_obj)
            goto key;
        goto value;
    case '"':
        if (!(p = dec_string(d, p, 0)))
            return NULL;
        goto after;
    case 't':
        if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
            if (build)
                lua_pushboolean(L, 1);
            p += 4;
            goto after;
        }
        break;
    case 'f':
        if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
            if (build)
                lua_pushboolean(L, 0);
            p += 5;
            goto after;
        }
        break;
    case 'n':
        if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
            if (build)
                hf_json_push_null(L);
            p += 4;
            goto after;
        }
        break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        if (!(p = dec_number(d, p)))
            return NULL;
        goto after;
    default:
        break;
    }
    if (*p >= 'a' && *p <= 'z')
        dec_fail(d, p, "invalid literal (expected true, false or null)");
    else
        dec_fail(d, p, "unexpected %s, expected a value", dec_what(d, p, tmp, sizeof(tmp)));
    return NULL;

key:
    if (p >= end || *p != '"') {
        dec_expected(d, p, "a string key");
        return NULL;
    }
    if (!(p = dec_string(d, p, 1)))
        return NULL;
    if (!build && d->depth == 1)
        dec_shape_key(d);
    p = skip_ws(p, end);
    if (p >= end || *p != ':') {
        dec_expected(d, p, "':' after object key");
        return NULL;
    }
    p++;
    goto value;

after:
    if (d->depth == depth0)
        return p;
    f = &d->frames[d->depth - 1];
    f->n++;
    p = skip_ws(p, end);
    if (f->is_obj) {
        if (!build)
            ;
        else if (f->has_table)
            lua_rawset(L, f->base);
        else if (f->n == HF_DEC_CHUNK)
            dec_materialize(d, f);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            goto key;
        }
        if (p < end && *p == '}') {
            p++;
            if (build)
                dec_close(d, f);
            d->depth--;
            goto after;
        }
        dec_expected(d, p, "',' or '}' after object member");
        return NULL;
    }
    if (!build)
        ;
    else if (f->has_table)
        lua_rawseti(L, f->base, f->n);
    else if (f->n == HF_DEC_CHUNK)
        dec_materialize(d, f);
    if (p < end && *p == ',') {
        p++;
        goto value;
    }
    if (p < end && *p == ']') {
        p++;
        if (build)
            dec_close(d, f);
        d->depth--;
        goto after;
    }
    dec_expected(d, p, "',' or ']' after array element");
    return NULL;
}

/* Parses a whole document: optional BOM, one value, nothing but whitespace after it. */
static int dec_run(dec_t *d)
{
    const unsigned char *p = d->start, *end = d->end;
    char tmp[16];
    if (end - p >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
        p += 3;                                  /* UTF-8 byte order mark */
    p = skip_ws(p, end);
    if (p >= end)
        return dec_fail(d, p, "empty body");
    if (!(p = dec_value(d, p)))
        return -1;
    p = skip_ws(p, end);
    if (p < end) {
        return dec_fail(d, p, "trailing %s after the JSON value",
                        dec_what(d, p, tmp, sizeof(tmp)));
    }
    return 0;
}

/* Sets up a decoder over buf[0..len). */
static void dec_init(dec_t *d, lua_State *L, const char *buf, size_t len, char *err,
                     size_t errsz, int build)
{
    d->L = L;
    d->sc = NULL;
    d->start = (const unsigned char *)(buf ? buf : "");
    d->end = d->start + (buf ? len : 0);
    d->err = err;
    d->errsz = errsz;
    d->failed = 0;
    d->build = build;
    d->depth = 0;
    d->shape = 0;
    d->last_s = NULL;
    d->last_n = 0;
    d->scratch = d->inline_scratch;
    d->scratch_cap = sizeof(d->inline_scratch);
    if (errsz)
        err[0] = 0;
}

/* Checks buf as hf_json_decode would, building nothing; 0 or -1 with its message. */
int hf_json_validate(const char *buf, size_t len, int *shape, char *err, size_t errsz)
{
    dec_t dec;
    dec_init(&dec, NULL, buf, len, err, errsz, 0);
    int rc = dec_run(&dec);
    if (dec.scratch != dec.inline_scratch)
        free(dec.scratch);
    if (shape)
        *shape = rc == 0 ? dec.shape : 0;
    return rc;
}

/* lua_CFunction run under lua_pcall: arg 1 is the dec_t. Returns the value, or nothing
   on a syntax error (d->failed). */
static int dec_protected(lua_State *L)
{
    dec_t *d = lua_touserdata(L, 1);
    hf_json_push_array_mt(L);
    d->mt_idx = lua_gettop(L);
    d->sc = sc_open(L);
    d->sc_idx = lua_gettop(L);
    if (dec_run(d) < 0)
        return 0;
    return 1;
}

/* Parses buf[0..len) into one pushed Lua value; 0, or -1 with "invalid JSON at byte N: ...". */
int hf_json_decode(lua_State *L, const char *buf, size_t len, char *err, size_t errsz)
{
    dec_t dec, *d = &dec;          /* about 12 KB of C stack: no allocation per event */
    dec_init(d, L, buf, len, err, errsz, 1);
    int top = lua_gettop(L);
    int rc = 0;
    if (!lua_checkstack(L, 4)) {
        snprintf(err, errsz, "invalid JSON at byte 0: Lua stack overflow");
        rc = -1;
    } else {
        lua_pushcfunction(L, dec_protected);
        lua_pushlightuserdata(L, d);
        int st = lua_pcall(L, 1, 1, 0);
        if (st != LUA_OK) {
            if (!d->failed)
                snprintf(err, errsz, "invalid JSON at byte 0: %s",
                         st == LUA_ERRMEM ? "out of memory"
                                          : lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
            rc = -1;
        } else if (d->failed) {
            rc = -1;
        }
        if (rc < 0)
            lua_settop(L, top);
    }
    if (d->scratch != d->inline_scratch)
        free(d->scratch);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* reader: pull access to text that hf_json_validate accepted */

#define HF_RD_LEVELS 32            /* containers the reader itself walks into */

struct hf_json_rd {
    dec_t d;
    const unsigned char *p;
    int level;                     /* open containers */
    unsigned char first[HF_RD_LEVELS];   /* no member read yet at that level */
    unsigned char is_obj[HF_RD_LEVELS];
};

_Static_assert(sizeof(struct hf_json_rd) <= HF_JSON_RD_SIZE, "raise HF_JSON_RD_SIZE");

/* Starts reading buf; pushes the two values the reader needs while it is in use. */
hf_json_rd_t *hf_json_rd_init(hf_json_rd_mem_t *mem, lua_State *L, const char *buf,
                              size_t len, char *err, size_t errsz)
{
    hf_json_rd_t *r = (hf_json_rd_t *)mem;
    dec_init(&r->d, L, buf, len, err, errsz, 1);
    hf_json_push_array_mt(L);
    r->d.mt_idx = lua_gettop(L);
    r->d.sc = sc_open(L);
    r->d.sc_idx = lua_gettop(L);
    r->p = r->d.start;
    r->level = 0;
    if (r->d.end - r->p >= 3 && r->p[0] == 0xef && r->p[1] == 0xbb && r->p[2] == 0xbf)
        r->p += 3;
    r->p = skip_ws(r->p, r->d.end);
    if (r->p >= r->d.end)
        dec_fail(&r->d, r->p, "empty body");
    return r;
}

/* Frees what the reader allocated (safe to call after a Lua error unwound its user). */
void hf_json_rd_done(hf_json_rd_t *r)
{
    if (r->d.scratch != r->d.inline_scratch)
        free(r->d.scratch);
    r->d.scratch = r->d.inline_scratch;
}

/* Returns -1 once the reader met invalid JSON (err holds the message), else 0. */
int hf_json_rd_failed(hf_json_rd_t *r)
{
    return r->d.failed ? -1 : 0;
}

/* Checks that only whitespace follows the top-level value; 0 or -1. */
int hf_json_rd_end(hf_json_rd_t *r)
{
    char tmp[16];
    if (r->d.failed)
        return -1;
    r->p = skip_ws(r->p, r->d.end);
    if (r->p < r->d.end)
        return dec_fail(&r->d, r->p, "trailing %s after the JSON value",
                        dec_what(&r->d, r->p, tmp, sizeof(tmp)));
    return 0;
}

/* Next significant byte, or -1 at the end or after an error. */
int hf_json_rd_peek(hf_json_rd_t *r)
{
    r->p = skip_ws(r->p, r->d.end);
    if (r->d.failed || r->p >= r->d.end)
        return -1;
    return *r->p;
}

/* Consumes c ('{' or '[') when it is next; returns 1 if it was. */
int hf_json_rd_open(hf_json_rd_t *r, int c)
{
    if (hf_json_rd_peek(r) != c)
        return 0;
    if (r->level >= HF_RD_LEVELS || r->level >= HF_JSON_MAX_DEPTH) {
        dec_fail(&r->d, r->p, "nesting deeper than the reader supports");
        return 0;
    }
    r->first[r->level] = 1;
    r->is_obj[r->level] = c == '{';
    r->level++;
    r->p++;
    return 1;
}

/* Inside an object: reads the next key and its ':' (returns 1, key valid until the next
   reader call), or consumes the closing '}' (returns 0). Separators are checked as the
   decoder checks them. */
int hf_json_rd_key(hf_json_rd_t *r, const char **key, size_t *n)
{
    if (r->level == 0 || !r->is_obj[r->level - 1])
        return 0;
    int c = hf_json_rd_peek(r);
    if (c < 0) {
        if (!r->d.failed)
            dec_expected(&r->d, r->p, r->first[r->level - 1] ? "a string key"
                                                             : "',' or '}' after object member");
        return 0;
    }
    if (c == '}') {
        r->p++;
        r->level--;
        return 0;
    }
    if (!r->first[r->level - 1]) {
        if (c != ',') {
            dec_expected(&r->d, r->p, "',' or '}' after object member");
            return 0;
        }
        r->p = skip_ws(r->p + 1, r->d.end);
        c = r->p < r->d.end ? *r->p : -1;
    }
    if (c != '"') {
        dec_expected(&r->d, r->p, "a string key");
        return 0;
    }
    r->first[r->level - 1] = 0;
    r->d.build = 0;
    const unsigned char *q = dec_string(&r->d, r->p, 1);
    r->d.build = 1;
    if (!q)
        return 0;
    r->p = skip_ws(q, r->d.end);
    if (r->p >= r->d.end || *r->p != ':') {
        dec_expected(&r->d, r->p, "':' after object key");
        return 0;
    }
    r->p++;
    *key = r->d.last_s;
    *n = r->d.last_n;
    return 1;
}

/* Inside an array: returns 1 when an element follows, or consumes ']' and returns 0. */
int hf_json_rd_next(hf_json_rd_t *r)
{
    if (r->level == 0 || r->is_obj[r->level - 1])
        return 0;
    int c = hf_json_rd_peek(r);
    if (c == ']') {
        r->p++;
        r->level--;
        return 0;
    }
    if (c < 0) {
        if (!r->d.failed)
            dec_expected(&r->d, r->p, r->first[r->level - 1] ? "a value"
                                                             : "',' or ']' after array element");
        return 0;
    }
    if (!r->first[r->level - 1]) {
        if (c != ',') {
            dec_expected(&r->d, r->p, "',' or ']' after array element");
            return 0;
        }
        r->p++;
    }
    r->first[r->level - 1] = 0;
    return 1;
}

/* Skips one value, validating it. */
void hf_json_rd_skip(hf_json_rd_t *r)
{
    if (r->d.failed)
        return;
    r->d.build = 0;
    r->d.depth = r->level;
    const unsigned char *q = dec_value(&r->d, r->p);
    r->d.build = 1;
    r->d.depth = 0;
    if (q)
        r->p = q;
}

/* Decodes one value and pushes it (nil after an error); returns its Lua type. */
int hf_json_rd_push(hf_json_rd_t *r)
{
    int top = lua_gettop(r->d.L);
    const unsigned char *q = NULL;
    if (!r->d.failed) {
        r->d.depth = r->level;
        q = dec_value(&r->d, r->p);
        r->d.depth = 0;
    }
    if (!q) {
        lua_settop(r->d.L, top);
        lua_pushnil(r->d.L);
        return LUA_TNIL;
    }
    r->p = q;
    return lua_type(r->d.L, -1);
}

/* Pushes s[0..n) as a string, through the string cache as object keys are. */
void hf_json_rd_push_key(hf_json_rd_t *r, const char *s, size_t n)
{
    dec_push_str(&r->d, s, n, 1);
}

/* ------------------------------------------------------------------------------------ */
/* encoder */

typedef struct enc_key {
    const char *s;
    size_t len;
    int slot;                /* index of the value in the frame's key table */
} enc_key_t;

typedef struct enc_frame {
    int base;                /* stack index of the table being written */
    int is_obj;
    lua_Integer n, i;        /* member count, next member (1-based) */
    const void *ptr;         /* identity of the table, for cycle detection */
    enc_key_t *keys;         /* objects: keys sorted, in a userdata at base + 2 */
} enc_frame_t;

typedef struct enc {
    lua_State *L;
    hf_buf_t *out;
    char *err;
    size_t errsz;
    int failed;
    int depth;
    int mt_idx;
    enc_frame_t frames[HF_JSON_MAX_DEPTH];
} enc_t;


/* Writes the JSON path of the value being encoded ("$.a[3].b") to buf. */
static void enc_path(enc_t *e, char *buf, size_t sz)
{
    size_t n = 0;
    n += (size_t)snprintf(buf, sz, "$");
    for (int i = 0; i < e->depth && n < sz; i++) {
        enc_frame_t *f = &e->frames[i];
        lua_Integer cur = f->i - 1;
        if (cur < 1 || cur > f->n)
            break;
        if (!f->is_obj) {
            n += (size_t)snprintf(buf + n, sz - n, "[%lld]", (long long)cur);
            continue;
        }
        const enc_key_t *k = &f->keys[cur - 1];
        int plain = k->len > 0 && k->len < 64;
        for (size_t j = 0; plain && j < k->len; j++) {
            unsigned char c = (unsigned char)k->s[j];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (j > 0 && c >= '0' && c <= '9')))
                plain = 0;
        }
        if (plain)
            n += (size_t)snprintf(buf + n, sz - n, ".%.*s", (int)k->len, k->s);
        else
            n += (size_t)snprintf(buf + n, sz - n, "[\"%.*s\"]",
                                  (int)(k->len > 40 ? 40 : k->len), k->s);
    }
}

/* Records the first error, "<what> at <path>", and returns -1. */
static int enc_fail(enc_t *e, const char *fmt, ...)
{
    if (e->failed)
        return -1;
    e->failed = 1;
    char msg[160], path[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    enc_path(e, path, sizeof(path));
    snprintf(e->err, e->errsz, "%s at %s", msg, path);
    return -1;
}

/* Appends n bytes. */
static inline void enc_put(enc_t *e, const void *s, size_t n)
{
    hf_buf_append(e->out, s, n);
}

/* Appends s as a JSON string: escapes what JSON requires, replaces each byte that does
   not start a valid UTF-8 sequence with U+FFFD, so the output is always valid UTF-8. */
static void put_string(hf_buf_t *b, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str, *end = s + len, *run = s;
    buf_reserve(b, len + 2);
    b->data[b->len++] = '"';
    while (s < end) {
        unsigned char c = *s;
        unsigned char cls = str_class[c];
        if (cls == SC_PLAIN) {
            s++;
            continue;
        }
        int n = 0;
        if (cls == SC_UTF8 && (n = hf_utf8_seq(s, end)) > 0) {
            s += n;
            continue;
        }
        hf_buf_append(b, run, (size_t)(s - run));
        char esc[8];
        size_t el = 2;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                el = 6;
            } else {
                memcpy(esc, "\xef\xbf\xbd", 3);      /* U+FFFD */
                el = 3;
            }
        }
        hf_buf_append(b, esc, el);
        run = ++s;
    }
    hf_buf_append(b, run, (size_t)(s - run));
    hf_buf_append(b, "\"", 1);
}

void hf_json_put_string(hf_buf_t *b, const char *s, size_t len)
{
    put_string(b, s, len);
}

/* Formats an integer in decimal; returns the length. */
static int fmt_int(char *buf, lua_Integer v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int len = 0;
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    buf[len] = 0;
    return len;
}

/* Formats a finite double with the fewest digits (15..17) that read back exactly, in the
   C locale, with ".0" added when it would otherwise read back as an integer. */
static int fmt_float(char *buf, size_t sz, double v)
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, sz, "%.*g", prec, v);
        /* The process locale may use another decimal separator: normalise it to '.'. */
        int o = 0;
        for (int i = 0; i < n; i++) {
            char c = buf[i];
            if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e' || c == 'E') {
                buf[o++] = c;
            } else if (o == 0 || buf[o - 1] != '.') {
                buf[o++] = '.';
            }
        }
        buf[o] = 0;
        n = o;
        if (strtod_c(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eE") && (size_t)n + 2 < sz) {
        buf[n++] = '.';
        buf[n++] = '0';
        buf[n] = 0;
    }
    return n;
}

/* Orders keys by bytes, a shorter prefix first. */
static int key_cmp(const void *a, const void *b)
{
    const enc_key_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Opens the table at the stack top: writes '[' or '{' and pushes a frame, or writes
   the empty form. The table stays on the stack while its frame is open. */
static int enc_open_table(enc_t *e)
{
    lua_State *L = e->L;
    int t = lua_gettop(L);
    const void *ptr = lua_topointer(L, t);
    for (int i = 0; i < e->depth; i++)
        if (e->frames[i].ptr == ptr)
            return enc_fail(e, "cycle: a table contains itself");
    if (e->depth >= HF_JSON_MAX_DEPTH)
        return enc_fail(e, "nesting deeper than %d levels", HF_JSON_MAX_DEPTH);
    if (!lua_checkstack(L, 8))
        return enc_fail(e, "Lua stack overflow");
    /* An event (a lazy table) is written with every field, as pairs() sees it: body and
       the built fields, not the private keys. */
    int lazy = 0;
    if (lua_getmetatable(L, t)) {
        int arr = lua_rawequal(L, -1, e->mt_idx);
        lua_pop(L, 1);
        if (!arr)
            lazy = hf_lazy_fill(L, t);
    }

    /* Classify: keys exactly 1..n make an array. */
    lua_Integer n = 0, maxk = 0;
    int all_int = 1;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lazy && lua_type(L, -1) == LUA_TLIGHTUSERDATA)
            continue;
        n++;
        if (all_int) {
            if (lua_isinteger(L, -1)) {
                lua_Integer k = lua_tointeger(L, -1);
                if (k >= 1 && k > maxk)
                    maxk = k;
                else if (k < 1)
                    all_int = 0;
            } else {
                all_int = 0;
            }
        }
    }
    if (n == 0) {
        int arr = 0;
        if (lua_getmetatable(L, t)) {
            arr = lua_rawequal(L, -1, e->mt_idx);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        enc_put(e, arr ? "[]" : "{}", 2);
        return 0;
    }
    enc_frame_t *f = &e->frames[e->depth];
    f->base = t;
    f->ptr = ptr;
    f->n = n;
    f->i = 1;
    f->keys = NULL;
    if (all_int && maxk == n) {
        f->is_obj = 0;
        e->depth++;
        enc_put(e, "[", 1);
        return 0;
    }
    /* Object: a key table {k1, v1, k2, v2, ...} (number keys as strings) at t + 1 and the
       sorted key index in a userdata at t + 2, both collected by Lua on any error. */
    if (n > (lua_Integer)(INT32_MAX / 2 - 1) ||
        (size_t)n > SIZE_MAX / sizeof(enc_key_t))
        return enc_fail(e, "table too large");
    lua_createtable(L, (int)(2 * n), 0);
    enc_key_t *keys = lua_newuserdatauv(L, (size_t)n * sizeof(enc_key_t), 0);
    f->is_obj = 1;
    f->keys = keys;
    e->depth++;            /* so that errors below name the table's path */
    f->i = 1;
    int slot = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int kt = lua_type(L, -2);
        if (lazy && kt == LUA_TLIGHTUSERDATA) {
            lua_pop(L, 1);
            continue;
        }
        if (kt == LUA_TSTRING) {
            lua_pushvalue(L, -2);
        } else if (kt == LUA_TNUMBER) {
            char nb[40];
            int nl;
            if (lua_isinteger(L, -2)) {
                nl = fmt_int(nb, lua_tointeger(L, -2));
            } else {
                double kv = lua_tonumber(L, -2);
                if (!isfinite(kv))
                    return enc_fail(e, "cannot encode the non-finite number key %g", kv);
                nl = fmt_float(nb, sizeof(nb), kv);
            }
            lua_pushlstring(L, nb, (size_t)nl);
        } else {
            return enc_fail(e, "cannot encode a table key of type %s (keys must be strings "
                               "or numbers)", luaL_typename(L, -2));
        }
        keys[slot].s = lua_tolstring(L, -1, &keys[slot].len);
        keys[slot].slot = 2 * slot + 2;
        lua_rawseti(L, t + 1, 2 * slot + 1);      /* key string; kept alive by the table */
        lua_rawseti(L, t + 1, 2 * slot + 2);      /* value */
        slot++;
    }
    qsort(keys, (size_t)n, sizeof(*keys), key_cmp);
    for (lua_Integer i = 1; i < n; i++)
        if (key_cmp(&keys[i - 1], &keys[i]) == 0) {
            f->i = i + 1;
            return enc_fail(e, "duplicate key \"%.*s\" (a number key and a string key "
                               "spell the same)", (int)(keys[i].len > 40 ? 40 : keys[i].len),
                            keys[i].s);
        }
    enc_put(e, "{", 1);
    return 0;
}

/* Writes the value at the stack top. Scalars are popped; a non-empty table stays on the
   stack with a new frame. */
static int enc_value(enc_t *e)
{
    lua_State *L = e->L;
    char nb[40];
    int n;
    switch (lua_type(L, -1)) {
    case LUA_TNIL:
        lua_pop(L, 1);
        enc_put(e, "null", 4);
        return 0;
    case LUA_TBOOLEAN: {
        int v = lua_toboolean(L, -1);
        lua_pop(L, 1);
        enc_put(e, v ? "true" : "false", v ? 4 : 5);
        return 0;
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, -1)) {
            n = fmt_int(nb, lua_tointeger(L, -1));
        } else {
            double v = lua_tonumber(L, -1);
            if (isnan(v))
                return enc_fail(e, "cannot encode NaN");
            if (isinf(v))
                return enc_fail(e, "cannot encode %s", v > 0 ? "inf" : "-inf");
            n = fmt_float(nb, sizeof(nb), v);
        }
        lua_pop(L, 1);
        enc_put(e, nb, (size_t)n);
        return 0;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        put_string(e->out, s, len);
        lua_pop(L, 1);
        return 0;
    }
    case LUA_TTABLE:
        return enc_open_table(e);
    case LUA_TLIGHTUSERDATA:
        if (hf_json_is_null(L, -1)) {
            lua_pop(L, 1);
            enc_put(e, "null", 4);
            return 0;
        }
        return enc_fail(e, "cannot encode a light userdata (only hubfn.null)");
    default:
        return enc_fail(e, "cannot encode a %s", luaL_typename(L, -1));
    }
}

/* Writes the value at stack index 2 (the pcall argument), iteratively. */
static int enc_run(enc_t *e)
{
    lua_State *L = e->L;
    lua_pushvalue(L, 2);
    if (enc_value(e) < 0)
        return -1;
    while (e->depth > 0) {
        enc_frame_t *f = &e->frames[e->depth - 1];
        if (f->i > f->n) {
            enc_put(e, f->is_obj ? "}" : "]", 1);
            lua_settop(L, f->base - 1);
            e->depth--;
            continue;
        }
        if (f->i > 1)
            enc_put(e, ",", 1);
        if (f->is_obj) {
            const enc_key_t *k = &f->keys[f->i - 1];
            put_string(e->out, k->s, k->len);
            enc_put(e, ":", 1);
            lua_rawgeti(L, f->base + 1, k->slot);
        } else {
            lua_rawgeti(L, f->base, f->i);
        }
        f->i++;
        if (enc_value(e) < 0)
            return -1;
    }
    return 0;
}

/* lua_CFunction run under lua_pcall: arg 1 is the enc_t, arg 2 the value. */
static int enc_protected(lua_State *L)
{
    enc_t *e = lua_touserdata(L, 1);
    hf_json_push_array_mt(L);
    e->mt_idx = lua_gettop(L);
    enc_run(e);
    return 0;
}

/* Appends the compact JSON of the value at idx to out; 0, or -1 with "what at $.path". */
int hf_json_encode(lua_State *L, int idx, hf_buf_t *out, char *err, size_t errsz)
{
    idx = lua_absindex(L, idx);
    enc_t *e = hf_malloc(sizeof(*e));
    e->L = L;
    e->out = out;
    e->err = err;
    e->errsz = errsz;
    e->failed = 0;
    e->depth = 0;
    if (errsz)
        err[0] = 0;
    size_t len0 = out->len;
    int top = lua_gettop(L);
    int rc = 0;
    if (!lua_checkstack(L, 4)) {
        snprintf(err, errsz, "Lua stack overflow");
        rc = -1;
    } else {
        lua_pushcfunction(L, enc_protected);
        lua_pushlightuserdata(L, e);
        lua_pushvalue(L, idx);
        int st = lua_pcall(L, 2, 0, 0);
        if (st != LUA_OK) {
            if (!e->failed)
                snprintf(err, errsz, "%s", st == LUA_ERRMEM ? "out of memory"
                         : lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
            rc = -1;
        } else if (e->failed) {
            rc = -1;
        }
        lua_settop(L, top);
    }
    if (rc < 0) {
        out->len = len0;
        if (out->data)
            out->data[len0] = 0;
    }
    free(e);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* the Lua module */

/* __gc of the per-state encode buffer. */
static int l_encbuf_gc(lua_State *L)
{
    hf_buf_t *b = lua_touserdata(L, 1);
    hf_buf_free(b);
    return 0;
}

/* Pushes nothing; returns this state's reusable encode buffer (a userdata in the registry,
   freed by its __gc), so a Lua error while pushing the result cannot leak it. */
static hf_buf_t *encbuf(lua_State *L)
{
    hf_buf_t *b;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &hf_json_encbuf_key) == LUA_TUSERDATA) {
        b = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return b;
    }
    lua_pop(L, 1);
    b = lua_newuserdatauv(L, sizeof(*b), 0);
    hf_buf_init(b);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_encbuf_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &hf_json_encbuf_key);
    return b;
}

/* hubfn.json.encode(v) -> string; raises "what at $.path" on failure. */
static int l_encode(lua_State *L)
{
    char err[512];
    lua_settop(L, 1);
    hf_buf_t *b = encbuf(L);
    b->len = 0;
    if (hf_json_encode(L, 1, b, err, sizeof(err)) < 0)
        return luaL_error(L, "json.encode: %s", err);
    lua_pushlstring(L, b->data, b->len);
    if (b->cap > 65536)           /* do not keep a huge buffer alive between calls */
        hf_buf_free(b);
    return 1;
}

/* hubfn.json.decode(s) -> value; raises "invalid JSON at byte N: ..." on failure. */
static int l_decode(lua_State *L)
{
    char err[256];
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (hf_json_decode(L, s, len, err, sizeof(err)) < 0)
        return luaL_error(L, "json.decode: %s", err);
    return 1;
}

/* hubfn.json.array([t]) -> t, marked so that it encodes as [] even when empty. */
static int l_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
    }
    hf_json_push_array_mt(L);
    lua_setmetatable(L, 1);
    return 1;
}

/* Pushes { encode, decode, null, array, array_mt }; returns 1. */
int hf_json_open(lua_State *L)
{
    lua_createtable(L, 0, 5);
    lua_pushcfunction(L, l_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, l_decode);
    lua_setfield(L, -2, "decode");
    lua_pushcfunction(L, l_array);
    lua_setfield(L, -2, "array");
    hf_json_push_null(L);
    lua_setfield(L, -2, "null");
    hf_json_push_array_mt(L);
    lua_setfield(L, -2, "array_mt");
    return 1;
}
