/*
 * Dates, times and durations: ISO 8601 date-times to epoch milliseconds and back, Azure
 * (.NET TimeSpan) durations, and the two clocks. Every function here is safe on any
 * thread; none allocates.
 */
#ifndef HF_DATETIME_H
#define HF_DATETIME_H

#include <stddef.h>
#include <stdint.h>

/*
 * The ISO 8601 date-times the parsers accept, in AEP's lastQualificationTime and in
 * host.json's initialOffsetOptions.enqueuedTimeUtc alike:
 *
 *   DATE [SEP TIME] [ZONE]
 *
 *   DATE  YYYY-MM-DD: a four-digit year 0000-9999 (proleptic Gregorian), month 01-12, a
 *         day that exists in that month (02-29 in leap years only).
 *   SEP   'T', 't' or one space.
 *   TIME  hh:mm, hh:mm:ss or hh:mm:ss.f with hh 00-23, mm 00-59, ss 00-60 (60 is a leap
 *         second and reads as the first second of the next minute); the fraction follows
 *         '.' or ',' and has one or more digits, of which the milliseconds are kept (the
 *         rest are dropped, not rounded).
 *   ZONE  'Z' or 'z' (UTC), or an offset +hh, +hhmm, +hh:mm (or '-') with hh 00-23 and mm
 *         00-59; no zone means UTC. A zone may follow the date alone ("2019-04-15Z").
 *
 * Examples: "2022-01-11T21:24:39Z", "2019-04-15T02:41:50+0000",
 * "2019-04-15t02:41:50.5+02:00", "2020-10-26 20:31", "1970-01-01".
 * Refused: anything else, including two- or five-digit years, "24:00", an offset with a
 * dangling colon ("+02:"), a fraction without digits, and any text around the value
 * (hf_time_parse alone skips white space around it).
 */

/* Parses exactly the len bytes at s as a date-time of the form above into milliseconds
   since 1970-01-01T00:00:00Z. 0, or -1 (and *ms untouched) when it is not one. */
int hf_time_parse_exact(const char *s, size_t len, int64_t *ms);

/* hf_time_parse_exact for the C string s, with white space around it ignored (host.json
   values). 0, or -1 when s is NULL or not a date-time. */
int hf_time_parse(const char *s, long long *ms);

/* Room hf_time_format needs, its NUL included. */
#define HF_TIME_FORMAT_MAX 32

/* Writes ms (milliseconds since the epoch, any value) as UTC "YYYY-MM-DDTHH:MM:SS.mmmZ"
   into out (HF_TIME_FORMAT_MAX bytes), NUL-terminated, and returns its length (24 for
   years 0000-9999). Other years are written as ISO 8601 expanded years, a sign and at
   least six digits, as JavaScript's toISOString does: "+010000-01-01T00:00:00.000Z",
   "-000001-12-31T23:59:59.999Z". */
size_t hf_time_format(int64_t ms, char *out);

/* Parses an Azure duration, the .NET TimeSpan form [d.]hh:mm[:ss[.fffffff]] ("00:05:00",
   "01:30" = 1 h 30 min, "2.03:04:05", fraction up to seven digits, milliseconds kept),
   with white space around it ignored, or "-1" (none: *ms = -1). A bare number (.NET:
   days) and other negative values are refused. 0, or -1 when s is not a duration. */
int hf_duration_parse(const char *s, long long *ms);

/* Writes ms (0 or more) as a duration hf_duration_parse reads, [d.]hh:mm:ss[.fff]
   ("00:05:00", "00:00:00.200", "2.03:04:05"), into out (outsz bytes, 32 are enough). */
void hf_duration_format(long long ms, char *out, size_t outsz);

/* Wall-clock time, milliseconds since the epoch. */
int64_t hf_now_ms(void);
/* Monotonic time in microseconds, for intervals and deadlines. */
int64_t hf_mono_us(void);

#endif
