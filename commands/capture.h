/*
 * `hubfn capture CONNECTION HUB`: read a hub's events without joining any consumer group
 * (no checkpoint moves) and write them as capture records (capture_record.h), one per line,
 * for `hubfn run --captured` and `hubfn send --captured`. docs/capture.md describes it.
 */
#ifndef HF_CAPTURE_H
#define HF_CAPTURE_H

#include <stdint.h>

typedef struct hf_capture_opts {
    const char *connection;      /* setting name or connection value, as hubfn send takes */
    const char *hub;
    int partition;               /* -1: every partition */
    int64_t from_offset;         /* -1: not given */
    const char *from_time;       /* ISO 8601, or NULL */
    int64_t count;               /* at most this many events; 0: no limit */
    const char *output;          /* file, or NULL / "-" for standard output */
    int follow;                  /* wait for new events instead of stopping at the end */
    int progress;                /* -1 on a terminal, 0 never */
} hf_capture_opts_t;

/* Run `hubfn capture`; returns the exit code: 0 done, 1 the hub could not be read
   (credentials, rights, no such hub, interrupted before the end), 2 usage errors. */
int hf_capture_main(const hf_capture_opts_t *opts);

#endif
