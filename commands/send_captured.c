/*
 * hubfn send --captured: capture records (capture_record.h) as the events to publish, each
 * with its key, headers, body bytes, enqueued time and partition. Records are decoded
 * where they were read, as hf_send_parse compacts JSON events in place.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "capture_record.h"
#include "send.h"

/* Append an event; where it goes. */
static hf_send_event_t *add_event(hf_send_input_t *in)
{
    if (in->events_n == in->events_cap) {
        in->events_cap = in->events_cap ? in->events_cap * 2 : 256;
        in->events = hf_realloc(in->events, in->events_cap * sizeof(*in->events));
    }
    hf_send_event_t *ev = &in->events[in->events_n++];
    memset(ev, 0, sizeof(*ev));
    return ev;
}

/* Copy a key into the key arena; its offset there. */
static size_t add_key(hf_send_input_t *in, const char *key, size_t n)
{
    if (in->keys_len + n + 1 > in->keys_cap) {
        size_t cap = in->keys_cap ? in->keys_cap : 4096;
        while (cap < in->keys_len + n + 1)
            cap *= 2;
        in->keys = hf_realloc(in->keys, cap);
        in->keys_cap = cap;
    }
    size_t off = in->keys_len;
    if (n)
        memcpy(in->keys + off, key, n);
    in->keys_len += n;
    return off;
}

static void add_header(hf_send_input_t *in, const char *text, const hf_header_t *h)
{
    if (in->headers_n == in->headers_cap) {
        in->headers_cap = in->headers_cap ? in->headers_cap * 2 : 64;
        in->headers = hf_realloc(in->headers, in->headers_cap * sizeof(*in->headers));
    }
    hf_send_header_t *sh = &in->headers[in->headers_n++];
    sh->name_off = (size_t)(h->name - text);
    sh->null_value = h->value == NULL;
    sh->value_off = h->value ? (size_t)(h->value - text) : 0;
    sh->value_len = h->value_len;
}

/* Report one problem line (and count it). */
static void problem_at(hf_send_input_t *in, hf_send_problem_fn fn, void *ud, const char *name,
                       size_t line, const char *what)
{
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s:%zu: %s", name, line, what);
    in->problems++;
    if (fn)
        fn(ud, msg);
}

int hf_send_parse_captured(hf_send_input_t *in, char *text, size_t len, const char *name,
                           int by_key, size_t max_event_bytes, hf_send_problem_fn problem,
                           void *ud)
{
    hf_capture_reader_t rd = {0};
    char err[512];
    size_t p = 0, line = 1;
    memset(in, 0, sizeof(*in));
    in->text = text;
    in->len = len;
    in->format = HF_SEND_LINES;
    for (; p < len; line++) {
        char *nl = memchr(text + p, '\n', len - p);
        size_t le = nl ? (size_t)(nl - text) : len, n = le - p;
        char *s = text + p;
        p = le + 1;
        if (n && s[n - 1] == '\r')
            n--;
        int blank = 1;
        for (size_t i = 0; i < n && blank; i++)
            blank = s[i] == ' ' || s[i] == '\t';
        if (blank)
            continue;
        hf_capture_record_t rec;
        if (hf_capture_record_read(&rd, s, n, &rec, err, sizeof(err)) != 0) {
            char what[600];
            snprintf(what, sizeof(what), "%s (not a capture record)", err);
            problem_at(in, problem, ud, name, line, what);
            continue;
        }
        hf_send_event_t *ev = add_event(in);
        ev->line = line;
        ev->null_body = rec.body == NULL;
        ev->off = rec.body ? (size_t)(rec.body - text) : 0;
        ev->len = rec.body_len;
        if (rec.key) {
            ev->has_key = 1;
            ev->key_off = add_key(in, rec.key, rec.key_len);
            ev->key_len = rec.key_len;
        }
        ev->partition = by_key ? -1 : rec.partition;
        ev->timestamp_ms = rec.enqueued_ms > 0 ? rec.enqueued_ms : 0;
        ev->headers_first = in->headers_n;
        ev->headers_n = rec.headers_n;
        for (size_t i = 0; i < rec.headers_n; i++)
            add_header(in, text, &rec.headers[i]);
        size_t size = ev->len + ev->key_len;
        if (size > max_event_bytes) {
            char what[200];
            snprintf(what, sizeof(what), "the event is %zu bytes%s, over the limit of %zu bytes "
                     "(--max-event-bytes)", size, ev->has_key ? " with its key" : "",
                     max_event_bytes);
            problem_at(in, problem, ud, name, line, what);
        }
    }
    hf_capture_reader_free(&rd);
    return in->problems ? 1 : 0;
}
