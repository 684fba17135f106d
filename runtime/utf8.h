/* UTF-8 shared by the JSON decoder, the JSON lexer and `hubfn send`: one validator and one
   encoder, inline because the decoder's string loop calls them. */
#ifndef HF_UTF8_H
#define HF_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence at p (1 for ASCII, up to 4), or 0 when the bytes at
   p, before end, are not one: a stray continuation byte, an overlong form, a surrogate
   (U+D800..U+DFFF), a code point over U+10FFFF, or a sequence cut short by end. */
static inline int hf_utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t avail = (size_t)(end - p);
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        if (avail >= 2 && (p[1] & 0xc0) == 0x80)
            return 2;
        return 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        if (avail < 3 || (p[2] & 0xc0) != 0x80)
            return 0;
        unsigned lo = 0x80, hi = 0xbf;
        if (c == 0xe0)
            lo = 0xa0;               /* overlong */
        else if (c == 0xed)
            hi = 0x9f;               /* surrogates */
        return p[1] >= lo && p[1] <= hi ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (avail < 4 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
            return 0;
        unsigned lo = 0x80, hi = 0xbf;
        if (c == 0xf0)
            lo = 0x90;               /* overlong */
        else if (c == 0xf4)
            hi = 0x8f;               /* > U+10FFFF */
        return p[1] >= lo && p[1] <= hi ? 4 : 0;
    }
    return 0;
}

/* 1 when s[0..n) is valid UTF-8 (NUL bytes allowed), else 0. */
static inline int hf_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        int k = hf_utf8_seq(p, end);
        if (k <= 0)
            return 0;
        p += k;
    }
    return 1;
}

/* Write code point cp (at most U+10FFFF) as UTF-8 to out, which has room for 4 bytes;
   returns the byte count. */
static inline int hf_utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

#endif
