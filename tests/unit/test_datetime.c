/* Unit tests of the date/time module: every form of the ISO 8601 parser, calendar and
   range checks, offsets, the formatter against gmtime_r and at the ends of int64, a
   round trip formatter -> parser over many values, durations and the clocks. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "datetime.h"
#include "test.h"

#define MIN_MS (-62167219200000LL)       /* 0000-01-01T00:00:00.000Z */
#define MAX_MS 253402300799999LL         /* 9999-12-31T23:59:59.999Z */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* hf_time_parse_exact on a C string: its result, or 42 when it refuses. */
static long long parse(const char *s)
{
    int64_t ms = 42;
    if (hf_time_parse_exact(s, strlen(s), &ms) < 0)
        return 42;
    return ms;
}

/* Fails the test naming s when the parser accepts it. */
#define REFUSED(s)                                                                      \
    do {                                                                                \
        int64_t ms_ = 42;                                                               \
        if (hf_time_parse_exact((s), strlen(s), &ms_) == 0 || ms_ != 42) {              \
            snprintf(hf_test_why, sizeof(hf_test_why), "%s:%d: accepted \"%s\"",        \
                     __FILE__, __LINE__, (s));                                          \
            hf_test_failed = 1;                                                         \
            return;                                                                     \
        }                                                                               \
    } while (0)

static const char *fmt(int64_t ms)
{
    static char out[HF_TIME_FORMAT_MAX];
    hf_time_format(ms, out);
    return out;
}

TEST(forms)
{
    const long long t = 1555296110000LL;            /* 2019-04-15T02:41:50Z */
    CHECK_INT(parse("2019-04-15T02:41:50Z"), t);
    CHECK_INT(parse("2019-04-15t02:41:50z"), t);
    CHECK_INT(parse("2019-04-15 02:41:50Z"), t);
    CHECK_INT(parse("2019-04-15T02:41:50"), t);     /* no zone: UTC */
    CHECK_INT(parse("2019-04-15T02:41Z"), t - 50000);
    CHECK_INT(parse("2019-04-15T02:41"), t - 50000);
    CHECK_INT(parse("2019-04-15"), 1555286400000LL);
    CHECK_INT(parse("2019-04-15Z"), 1555286400000LL);
    CHECK_INT(parse("2019-04-15+02:00"), 1555286400000LL - 7200000);
    CHECK_INT(parse("2019-04-15T02:41:50.5Z"), t + 500);
    CHECK_INT(parse("2019-04-15T02:41:50,25Z"), t + 250);
    CHECK_INT(parse("2019-04-15T02:41:50.987Z"), t + 987);
    CHECK_INT(parse("2019-04-15T02:41:50.123456789Z"), t + 123);
    CHECK_INT(parse("2019-04-15T02:41:50.99999999999999999999"), t + 999);   /* truncated */
    CHECK_INT(parse("2019-04-15T02:41:50.000"), t);
    CHECK_INT(parse("1970-01-01T00:00:00Z"), 0);
    CHECK_INT(parse("1969-12-31T23:59:59.999Z"), -1);
    CHECK_INT(parse("0000-01-01T00:00:00Z"), MIN_MS);
    CHECK_INT(parse("9999-12-31T23:59:59.999Z"), MAX_MS);
    CHECK_INT(parse("2016-12-31T23:59:60Z"), 1483228800000LL);       /* leap second */
    CHECK_INT(parse("2016-12-31T23:59:60.5Z"), 1483228800500LL);
    REFUSED("");
    REFUSED("2019");
    REFUSED("2019-04");
    REFUSED("19-04-15");
    REFUSED("20190-04-15");
    REFUSED("2019-4-15");
    REFUSED("2019-04-5");
    REFUSED("20190415");
    REFUSED("2019/04/15");
    REFUSED("-001-04-15");
    REFUSED("+2019-04-15");
    REFUSED("2019-04-15T");
    REFUSED("2019-04-15T02");
    REFUSED("2019-04-15T02:4");
    REFUSED("2019-04-15T2:41");
    REFUSED("2019-04-15T02:41:5");
    REFUSED("2019-04-15T02:41:500");
    REFUSED("2019-04-15T02:41.5");                    /* a fraction needs seconds */
    REFUSED("2019-04-15T02:41:50.");
    REFUSED("2019-04-15T02:41:50.Z");
    REFUSED("2019-04-15T02:41:50 Z");
    REFUSED("2019-04-15T02:41:50Z ");
    REFUSED(" 2019-04-15T02:41:50Z");
    REFUSED("2019-04-15T02:41:50ZZ");
    REFUSED("2019-04-15T02:41:50X");
    REFUSED("2019-04-15X");
    REFUSED("2019-04-15  02:41:50");
    REFUSED("2019-04-15T02:41:50Zjunk");
    REFUSED("yesterday");
    /* the parser reads exactly len bytes: what follows them does not matter */
    int64_t ms = 0;
    CHECK_INT(hf_time_parse_exact("2019-04-15T02:41:50Zjunk", 20, &ms), 0);
    CHECK_INT(ms, t);
    CHECK_INT(hf_time_parse_exact("2019-04-15T02:41:50Zjunk", 9, &ms), -1);
}

TEST(ranges)
{
    REFUSED("2019-00-15");
    REFUSED("2019-13-15");
    REFUSED("2019-04-00");
    REFUSED("2019-04-31");
    REFUSED("2019-01-32");
    REFUSED("2019-04-15T24:00");
    REFUSED("2019-04-15T24:00:00Z");
    REFUSED("2019-04-15T23:60Z");
    REFUSED("2019-04-15T23:59:61Z");
    REFUSED("2019-04-15T99:99:99Z");
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    char s[32];
    for (int m = 1; m <= 12; m++) {
        snprintf(s, sizeof(s), "2019-%02d-%02d", m, mdays[m - 1]);
        CHECK(parse(s) != 42);
        snprintf(s, sizeof(s), "2019-%02d-%02d", m, mdays[m - 1] + 1);
        REFUSED(s);
    }
}

TEST(leap_years)
{
    CHECK_INT(parse("2024-02-29T00:00:00Z"), 1709164800000LL);
    CHECK_INT(parse("2000-02-29T00:00:00Z"), 951782400000LL);
    CHECK_INT(parse("2400-02-29"), 13574563200000LL);
    CHECK_INT(parse("0000-02-29"), MIN_MS + 59 * 86400000LL);
    CHECK_INT(parse("2024-03-01") - parse("2024-02-28"), 2 * 86400000LL);
    CHECK_INT(parse("2023-03-01") - parse("2023-02-28"), 86400000LL);
    CHECK_INT(parse("2001-01-01") - parse("2000-01-01"), 366 * 86400000LL);
    CHECK_INT(parse("1901-01-01") - parse("1900-01-01"), 365 * 86400000LL);
    REFUSED("2023-02-29");
    REFUSED("1900-02-29");
    REFUSED("2100-02-29");
    REFUSED("2024-02-30");
    /* every day of 1600-2400 against timegm */
    for (int y = 1600; y <= 2400; y++)
        for (int m = 1; m <= 12; m++)
            for (int d = 1; d <= 31; d++) {
                char s[16];
                struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
                time_t want = timegm(&tm);
                int exists = tm.tm_mday == d;          /* timegm normalised a missing day */
                snprintf(s, sizeof(s), "%04d-%02d-%02d", y, m, d);
                long long got = parse(s);
                if (exists ? got != (long long)want * 1000 : got != 42) {
                    snprintf(hf_test_why, sizeof(hf_test_why), "%s -> %lld, want %s", s,
                             got, exists ? "timegm's" : "refused");
                    hf_test_failed = 1;
                    return;
                }
            }
}

TEST(offsets)
{
    const long long t = 1555296110000LL;            /* 2019-04-15T02:41:50Z */
    CHECK_INT(parse("2019-04-15T02:41:50+0000"), t);
    CHECK_INT(parse("2019-04-15T02:41:50+00:00"), t);
    CHECK_INT(parse("2019-04-15T02:41:50-00:00"), t);
    CHECK_INT(parse("2019-04-15T02:41:50+00"), t);
    CHECK_INT(parse("2019-04-15T04:41:50+02:00"), t);
    CHECK_INT(parse("2019-04-15T04:41:50+02"), t);
    CHECK_INT(parse("2019-04-14T21:11:50-0530"), t);
    CHECK_INT(parse("2019-04-14T21:11:50-05:30"), t);
    CHECK_INT(parse("2019-04-15T08:11:50.250+05:30"), t + 250);
    CHECK_INT(parse("2019-04-16T02:40:50+23:59"), t);
    CHECK_INT(parse("2019-04-14T02:42:50-23:59"), t);
    CHECK_INT(parse("2019-04-15T04:41+02:00"), t - 50000);
    /* an offset may carry a time past the ends of the four-digit years */
    CHECK_INT(parse("0000-01-01T00:00:00+01:00"), MIN_MS - 3600000);
    CHECK_INT(parse("9999-12-31T23:59:59.999-01:00"), MAX_MS + 3600000);
    REFUSED("2019-04-15T02:41:50+");
    REFUSED("2019-04-15T02:41:50+2");
    REFUSED("2019-04-15T02:41:50+02:");
    REFUSED("2019-04-15T02:41:50+020");
    REFUSED("2019-04-15T02:41:50+02:0");
    REFUSED("2019-04-15T02:41:50+02:000");
    REFUSED("2019-04-15T02:41:50+02::00");
    REFUSED("2019-04-15T02:41:50+2400");
    REFUSED("2019-04-15T02:41:50+0060");
    REFUSED("2019-04-15T02:41:50+02:60");
    REFUSED("2019-04-15T02:41:50Z+02:00");
    REFUSED("2019-04-15T02:41:50+02:00Z");
    REFUSED("2019-04-15T02:41:50 +02:00");
}

TEST(config_strings)
{
    long long ms = 7;
    CHECK_INT(hf_time_parse("  2020-10-26T20:31:00Z\t\n", &ms), 0);
    CHECK_INT(ms, 1603744260000LL);
    CHECK_INT(hf_time_parse("2020-10-26", &ms), 0);
    CHECK_INT(ms, 1603670400000LL);
    ms = 7;
    CHECK_INT(hf_time_parse("2020-10-26 T20:31", &ms), -1);
    CHECK_INT(hf_time_parse("", &ms), -1);
    CHECK_INT(hf_time_parse("   ", &ms), -1);
    CHECK_INT(hf_time_parse(NULL, &ms), -1);
    CHECK_INT(ms, 7);
}

TEST(format)
{
    char out[HF_TIME_FORMAT_MAX];
    CHECK_INT(hf_time_format(0, out), 24);
    CHECK_STR(out, "1970-01-01T00:00:00.000Z");
    CHECK_STR(fmt(-1), "1969-12-31T23:59:59.999Z");
    CHECK_STR(fmt(999), "1970-01-01T00:00:00.999Z");
    CHECK_STR(fmt(951782400000LL), "2000-02-29T00:00:00.000Z");
    CHECK_STR(fmt(1700000000123LL), "2023-11-14T22:13:20.123Z");
    CHECK_STR(fmt(1483228800000LL - 1), "2016-12-31T23:59:59.999Z");
    CHECK_STR(fmt(MIN_MS), "0000-01-01T00:00:00.000Z");
    CHECK_STR(fmt(MAX_MS), "9999-12-31T23:59:59.999Z");
    /* outside 0000-9999: expanded years */
    CHECK_INT(hf_time_format(MAX_MS + 1, out), 27);
    CHECK_STR(out, "+010000-01-01T00:00:00.000Z");
    CHECK_STR(fmt(MIN_MS - 1), "-000001-12-31T23:59:59.999Z");
    CHECK_STR(fmt(MIN_MS - 365 * 86400000LL), "-000001-01-01T00:00:00.000Z"); /* not leap */
    /* the ends of JavaScript's Date */
    CHECK_STR(fmt(8640000000000000LL), "+275760-09-13T00:00:00.000Z");
    CHECK_STR(fmt(-8640000000000000LL), "-271821-04-20T00:00:00.000Z");
    CHECK_INT(hf_time_format(INT64_MAX, out), 30);
    CHECK_STR(out, "+292278994-08-17T07:12:55.807Z");
    CHECK_INT(hf_time_format(INT64_MIN, out), 30);
    CHECK_STR(out, "-292275055-05-16T16:47:04.192Z");
}

TEST(format_matches_gmtime)
{
    for (int i = 0; i < 200000; i++) {
        int64_t ms = MIN_MS + (int64_t)(next() % (uint64_t)(MAX_MS - MIN_MS + 1));
        if (i < 1000)
            ms = (int64_t)(next() % 4102444800000ULL);         /* 1970-2099 */
        time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        struct tm tm;
        char want[64];
        gmtime_r(&secs, &tm);
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (int)(ms - (int64_t)secs * 1000));
        if (strcmp(fmt(ms), want) != 0) {
            snprintf(hf_test_why, sizeof(hf_test_why), "%lld -> %s, gmtime_r: %s",
                     (long long)ms, fmt(ms), want);
            hf_test_failed = 1;
            return;
        }
    }
}

TEST(round_trip)
{
    static const char *const zones[] = { "+", "-" };
    for (int i = 0; i < 500000; i++) {
        int64_t ms;
        switch (i % 4) {
        case 0: ms = MIN_MS + (int64_t)(next() % (uint64_t)(MAX_MS - MIN_MS + 1)); break;
        case 1: ms = (int64_t)(next() % 4102444800000ULL); break;
        case 2: ms = i / 4 % 2 ? MAX_MS - i / 4 : MIN_MS + i / 4; break;
        default: ms = (int64_t)(i / 4) * 86400000 - 86400000 * 10000LL + i % 1000; break;
        }
        char s[64];
        size_t n = hf_time_format(ms, s);
        int64_t got = 42;
        if (hf_time_parse_exact(s, n, &got) != 0 || got != ms) {
            snprintf(hf_test_why, sizeof(hf_test_why), "%lld -> %s -> %lld", (long long)ms,
                     s, (long long)got);
            hf_test_failed = 1;
            return;
        }
        /* the same instant in a zone: local time written, offset after it */
        int off = (int)(next() % (24 * 60)), sign = (int)(next() % 2);
        int64_t local = ms + (sign ? -1 : 1) * off * 60000LL;
        if (local < MIN_MS || local > MAX_MS)
            continue;
        n = hf_time_format(local, s) - 1;                 /* without the Z */
        snprintf(s + n, sizeof(s) - n, i % 2 ? "%s%02d:%02d" : "%s%02d%02d", zones[sign],
                 off / 60, off % 60);
        if (i % 3 == 0)
            s[10] = ' ';
        if (hf_time_parse_exact(s, strlen(s), &got) != 0 || got != ms) {
            snprintf(hf_test_why, sizeof(hf_test_why), "%lld -> %s -> %lld", (long long)ms,
                     s, (long long)got);
            hf_test_failed = 1;
            return;
        }
    }
}

TEST(durations)
{
    long long ms;
    CHECK_INT(hf_duration_parse("1:2", &ms), 0);
    CHECK_INT(ms, 3720000);
    CHECK_INT(hf_duration_parse("1.00:00", &ms), 0);
    CHECK_INT(ms, 86400000);
    CHECK_INT(hf_duration_parse("99999999.23:59:59.9999999", &ms), 0);
    CHECK_INT(ms, 99999999LL * 86400000 + 86399999);
    CHECK_INT(hf_duration_parse("\t00:00:01.5\n", &ms), 0);
    CHECK_INT(ms, 1500);
    CHECK_INT(hf_duration_parse("00:00:01,5", &ms), -1);
    CHECK_INT(hf_duration_parse("00:00:01.", &ms), -1);
    CHECK_INT(hf_duration_parse("123456789.00:00:00", &ms), -1);
    CHECK_INT(hf_duration_parse("1.", &ms), -1);
    CHECK_INT(hf_duration_parse("00:", &ms), -1);
    CHECK_INT(hf_duration_parse(":00", &ms), -1);
    CHECK_INT(hf_duration_parse("-1 ", &ms), 0);
    CHECK_INT(ms, -1);
    CHECK_INT(hf_duration_parse("-2", &ms), -1);
    CHECK_INT(hf_duration_parse(NULL, &ms), -1);
}

TEST(clocks)
{
    int64_t now = hf_now_ms(), t = (int64_t)time(NULL) * 1000;
    CHECK(now >= t - 2000 && now <= t + 2000);
    int64_t a = hf_mono_us(), b = hf_mono_us();
    CHECK(a > 0 && b >= a);
}

TEST_MAIN()
