/*
 * Dates, times and durations (see datetime.h). The date-time parser runs for every
 * segment of every AEP event (the activation view's qualifiedAt), so it reads fixed
 * positions and never calls into the C library.
 */
#include "datetime.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MS_PER_DAY 86400000LL

/* The value of digit c, or a number above 9 when c is not a digit. */
static inline unsigned digit(unsigned char c)
{
    return (unsigned)c - '0';
}

/* The two-digit number at p, or -1 when those are not two digits. */
static inline int two_digits(const unsigned char *p)
{
    unsigned a = digit(p[0]), b = digit(p[1]);
    if (a > 9 || b > 9)
        return -1;
    return (int)(a * 10 + b);
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (m 1-12, d valid);
   H. Hinnant's days_from_civil. */
static inline int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                         /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;       /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                 /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static inline int is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/* At a decimal separator *pp, reads the 1 to max_digits digits after it (before end) as
   milliseconds: digits past the third are dropped. Advances *pp past them. 0, or -1 when
   there are no digits or more than max_digits. */
static int read_fraction(const char **pp, const char *end, int max_digits, int64_t *ms)
{
    const char *p = *pp + 1;
    int n = 0;
    int64_t frac = 0;
    while (p < end && digit((unsigned char)*p) <= 9) {
        if (n >= max_digits)
            return -1;
        if (n < 3)
            frac = frac * 10 + (*p - '0');
        n++;
        p++;
    }
    if (n == 0)
        return -1;
    for (int k = n; k < 3; k++)
        frac *= 10;
    *ms = frac;
    *pp = p;
    return 0;
}

/* Parses a date-time of the form datetime.h describes; see there. */
int hf_time_parse_exact(const char *s, size_t len, int64_t *ms)
{
    static const unsigned char mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    const unsigned char *p = (const unsigned char *)s;
    const char *end = s + len;
    if (len < 10 || p[4] != '-' || p[7] != '-')
        return -1;
    unsigned y0 = digit(p[0]), y1 = digit(p[1]), y2 = digit(p[2]), y3 = digit(p[3]);
    if ((y0 > 9) | (y1 > 9) | (y2 > 9) | (y3 > 9))
        return -1;
    int y = (int)(y0 * 1000 + y1 * 100 + y2 * 10 + y3);
    int mo = two_digits(p + 5), d = two_digits(p + 8);
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !is_leap(y)))
        return -1;
    int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * MS_PER_DAY;
    const char *q = s + 10;
    if (q < end && (*q == 'T' || *q == 't' || *q == ' ')) {
        const unsigned char *u = (const unsigned char *)q + 1;
        if (end - q < 6 || u[2] != ':')
            return -1;
        int h = two_digits(u), mi = two_digits(u + 3);
        if (h < 0 || h > 23 || mi < 0 || mi > 59)
            return -1;
        t += h * 3600000LL + mi * 60000LL;
        q += 6;
        if (q < end && *q == ':') {
            int sec = end - q >= 3 ? two_digits((const unsigned char *)q + 1) : -1;
            if (sec < 0 || sec > 60)
                return -1;
            t += sec * 1000LL;
            q += 3;
            if (q < end && (*q == '.' || *q == ',')) {
                int64_t frac;
                if (read_fraction(&q, end, INT_MAX, &frac) < 0)
                    return -1;
                t += frac;
            }
        }
    }
    if (q < end) {
        char c = *q++;
        if (c == '+' || c == '-') {
            int oh = end - q >= 2 ? two_digits((const unsigned char *)q) : -1, om = 0;
            if (oh < 0 || oh > 23)
                return -1;
            q += 2;
            if (q < end) {
                q += *q == ':';
                om = end - q >= 2 ? two_digits((const unsigned char *)q) : -1;
                if (om < 0 || om > 59)
                    return -1;
                q += 2;
            }
            int64_t off = (oh * 60 + om) * 60000LL;
            t += c == '-' ? off : -off;
        } else if (c != 'Z' && c != 'z') {
            return -1;
        }
    }
    if (q != end)
        return -1;
    *ms = t;
    return 0;
}

/* hf_time_parse_exact on s without the white space around it. */
int hf_time_parse(const char *s, long long *ms)
{
    if (!s || !ms)
        return -1;
    while (isspace((unsigned char)*s))
        s++;
    const char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    int64_t t;
    if (hf_time_parse_exact(s, (size_t)(end - s), &t) < 0)
        return -1;
    *ms = t;
    return 0;
}

/* Writes the two digits of v (0-99) at p. */
static inline char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* Formats ms as datetime.h describes; H. Hinnant's civil_from_days, no gmtime. */
size_t hf_time_format(int64_t ms, char *out)
{
    int64_t days = ms / MS_PER_DAY, msod = ms % MS_PER_DAY;
    if (msod < 0) {
        msod += MS_PER_DAY;
        days--;
    }
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                       /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                     /* [0, 11] */
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int64_t y = yoe + era * 400 + (m <= 2);
    char *p = out;
    if (y >= 0 && y <= 9999) {
        p = put2(p, (int)(y / 100));
        p = put2(p, (int)(y % 100));
    } else {
        /* expanded year: sign, then at least six digits */
        char rev[20];
        int n = 0;
        uint64_t u = y < 0 ? (uint64_t)0 - (uint64_t)y : (uint64_t)y;
        *p++ = y < 0 ? '-' : '+';
        do {
            rev[n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        while (n < 6)
            rev[n++] = '0';
        while (n)
            *p++ = rev[--n];
    }
    int secs = (int)(msod / 1000), frac = (int)(msod % 1000);
    *p++ = '-';
    p = put2(p, m);
    *p++ = '-';
    p = put2(p, d);
    *p++ = 'T';
    p = put2(p, secs / 3600);
    *p++ = ':';
    p = put2(p, secs / 60 % 60);
    *p++ = ':';
    p = put2(p, secs % 60);
    *p++ = '.';
    *p++ = (char)('0' + frac / 100);
    p = put2(p, frac % 100);
    *p++ = 'Z';
    *p = '\0';
    return (size_t)(p - out);
}

/* Reads 1 to maxd digits at *p (before end) into *v, advancing *p; -1 when there are
   fewer than mind or more than maxd. */
static int read_digits(const char **p, const char *end, int mind, int maxd, int64_t *v)
{
    int n = 0;
    *v = 0;
    while (*p < end && digit((unsigned char)**p) <= 9) {
        if (n == maxd)
            return -1;
        *v = *v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n < mind ? -1 : 0;
}

/* Parses a .NET TimeSpan "[d.]hh:mm[:ss[.fffffff]]" or "-1"; see datetime.h. */
int hf_duration_parse(const char *s, long long *ms)
{
    const char *p, *end;
    int64_t days = 0, h, m, sec = 0, frac = 0, a;
    if (!s || !ms)
        return -1;
    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    if (end - s == 2 && s[0] == '-' && s[1] == '1') {
        *ms = -1;
        return 0;
    }
    p = s;
    if (read_digits(&p, end, 1, 8, &a) < 0)
        return -1;
    if (p < end && *p == '.') {
        days = a;
        p++;
        if (read_digits(&p, end, 1, 2, &h) < 0)
            return -1;
    } else {
        h = a;
        if (p - s > 2)
            return -1;
    }
    if (p >= end || *p != ':')
        return -1;
    p++;
    if (read_digits(&p, end, 1, 2, &m) < 0)
        return -1;
    if (p < end && *p == ':') {
        p++;
        if (read_digits(&p, end, 1, 2, &sec) < 0)
            return -1;
        if (p < end && *p == '.' && read_fraction(&p, end, 7, &frac) < 0)
            return -1;
    }
    if (p != end || h > 23 || m > 59 || sec > 59)
        return -1;
    *ms = (((days * 24 + h) * 60 + m) * 60 + sec) * 1000 + frac;
    return 0;
}

void hf_duration_format(long long ms, char *out, size_t outsz)
{
    long long sec = ms / 1000;
    int n;
    if (sec >= 86400)
        n = snprintf(out, outsz, "%lld.%02lld:%02lld:%02lld", sec / 86400, sec / 3600 % 24,
                     sec / 60 % 60, sec % 60);
    else
        n = snprintf(out, outsz, "%02lld:%02lld:%02lld", sec / 3600, sec / 60 % 60, sec % 60);
    if (ms % 1000 && n > 0 && (size_t)n < outsz)
        snprintf(out + n, outsz - (size_t)n, ".%03lld", ms % 1000);
}

int64_t hf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hf_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
