/*
 * Capture records: one event of a hub as one JSON line, as `hubfn capture` writes them and
 * `hubfn run --captured` and `hubfn send --captured` read them (docs/capture.md):
 *
 *   {"partition":3,"offset":120,"enqueuedTime":"2026-05-02T08:15:00.120Z",
 *    "partitionKey":"u1","properties":{"source":"web"},"body":"..."}
 *
 * Bytes that are not valid UTF-8 cannot be a JSON string, so such a body is written as
 * "bodyBase64" instead of "body", such a key as "partitionKeyBase64" instead of
 * "partitionKey", and such property values under "propertiesBase64" (same names) instead
 * of "properties". Everything else is text exactly as the event held it, so a record reads
 * back to the very bytes it was written from.
 */
#ifndef HF_CAPTURE_RECORD_H
#define HF_CAPTURE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "json.h"

/* One event. Writing reads these; reading fills them with pointers into the line. */
typedef struct hf_capture_record {
    int32_t partition;
    int64_t offset;
    int64_t enqueued_ms;         /* epoch ms; -1 when the event has none (null) */
    const char *key;             /* partition key, or NULL for none */
    size_t key_len;
    hf_header_t *headers;        /* properties in order; a NULL value is a null header */
    size_t headers_n;
    const char *body;
    size_t body_len;
} hf_capture_record_t;

/* Append rec as one capture record to b (no newline). A header name that is not valid
   UTF-8 is written with U+FFFD in place of each bad byte (Kafka clients write names as
   text, so this does not happen in practice). */
void hf_capture_record_write(hf_buf_t *b, const hf_capture_record_t *rec);

/* Where a reader keeps the headers of the record it read last (reused from line to line);
   zero-initialised is empty. */
typedef struct hf_capture_reader {
    hf_header_t *headers;
    size_t headers_cap;
} hf_capture_reader_t;

void hf_capture_reader_free(hf_capture_reader_t *rd);

/*
 * Read the capture record in line[0..len). Its strings are decoded in place: the line's
 * bytes are overwritten, and rec's key, body, header names and values point into it, each
 * followed by a NUL. "partition", "offset" and one of "body" / "bodyBase64" are required;
 * unknown members are ignored (records may gain fields). 0, or -1 with one phrase in err
 * saying what is wrong ("column 12: \"partition\" must be a whole number from 0").
 */
int hf_capture_record_read(hf_capture_reader_t *rd, char *line, size_t len,
                           hf_capture_record_t *rec, char *err, size_t errsz);

#endif
