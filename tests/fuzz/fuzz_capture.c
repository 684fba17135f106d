/*
 * libFuzzer target: capture records (commands/capture_record.c). Invariants checked:
 *  - hf_capture_record_read never crashes or reads outside the line, and on failure says
 *    where ("column N: ...", N within the line plus one);
 *  - a record it accepts writes as a line that reads back to the same partition, offset,
 *    enqueued time, key, headers and body bytes, and writing that again gives the same
 *    line (the written form is a fixed point).
 * Build and run: tests/fuzz/run.sh [SECONDS] capture
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "capture_record.h"

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "invariant broken: %s\n%s\n", what, detail ? detail : "");
    abort();
}

static int same_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    if (!a || !b)
        return a == b;
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hf_capture_reader_t r1, r2;
    hf_capture_record_t a, b;
    char err[512];
    char *line = hf_malloc(size ? size : 1);     /* exactly the input: ASan sees overreads */
    memcpy(line, data, size);
    if (hf_capture_record_read(&r1, line, size, &a, err, sizeof(err)) != 0) {
        unsigned long col = 0;
        if (sscanf(err, "column %lu:", &col) != 1 || col < 1 || col > size + 1)
            fail("an error without a column within the line", err);
        free(line);
        return 0;
    }
    hf_buf_t w1, w2;
    hf_buf_init(&w1);
    hf_buf_init(&w2);
    hf_capture_record_write(&w1, &a);
    char *copy = hf_memdup(w1.data, w1.len);
    if (hf_capture_record_read(&r2, copy, w1.len, &b, err, sizeof(err)) != 0)
        fail("a written record does not read back", err);
    if (a.partition != b.partition || a.offset != b.offset || a.enqueued_ms != b.enqueued_ms ||
        !same_bytes(a.key, a.key_len, b.key, b.key_len) ||
        !same_bytes(a.body, a.body_len, b.body, b.body_len) || a.headers_n != b.headers_n)
        fail("a record reads back different", w1.data);
    /* the text values are written before the base64 ones, so look each header up */
    for (size_t i = 0; i < a.headers_n; i++) {
        int found = 0;
        for (size_t k = 0; k < b.headers_n && !found; k++)
            found = strcmp(a.headers[i].name, b.headers[k].name) == 0 &&
                    same_bytes(a.headers[i].value, a.headers[i].value_len, b.headers[k].value,
                               b.headers[k].value_len);
        if (!found)
            fail("a header does not read back", a.headers[i].name);
    }
    hf_capture_record_write(&w2, &b);
    if (w1.len != w2.len || memcmp(w1.data, w2.data, w1.len) != 0)
        fail("writing a record read back gives another line", w1.data);
    hf_buf_free(&w1);
    hf_buf_free(&w2);
    free(copy);
    free(line);
    return 0;
}
