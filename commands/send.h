/*
 * hubfn send: publish the events of a file (JSON lines, a JSON array, or one document
 * {"events": [...]}) to one hub through an idempotent librdkafka producer, optionally keyed
 * by the first non-empty of some top-level fields (RudderStack's userId-else-anonymousId
 * rule). The whole input is read and checked first: an invalid or oversize event is
 * reported with its line and nothing is sent. docs/send.md describes the command.
 */
#ifndef HF_SEND_H
#define HF_SEND_H

#include <stddef.h>
#include <stdint.h>

/* Default and largest --max-event-bytes (key + body). 1000000 is what Microsoft
   recommends for a Kafka producer's max.request.size on Event Hubs, whose Kafka endpoint
   closes connections on requests over 1046528 bytes. */
#define HF_SEND_DEFAULT_MAX_EVENT 1000000
#define HF_SEND_MAX_EVENT_LIMIT (64 * 1024 * 1024)
/* Default --timeout: how long an event may take to be delivered, in seconds. */
#define HF_SEND_DEFAULT_TIMEOUT 120
/* Most --key fields. */
#define HF_SEND_MAX_KEYS 16

typedef struct hf_send_opts {
    const char *connection;      /* setting name or connection value */
    const char *hub;
    const char *file;            /* path; "-" or NULL = standard input */
    const char *keys;            /* "userId,anonymousId", or NULL for no key */
    size_t max_event_bytes;      /* 0 = HF_SEND_DEFAULT_MAX_EVENT */
    int timeout_s;               /* 0 = HF_SEND_DEFAULT_TIMEOUT */
    int progress;                /* -1 = when stderr is a terminal, 0 = never, 1 = always */
    int captured;                /* file holds capture records (hubfn capture) */
    int by_key;                  /* captured: by key, not to the recorded partition */
} hf_send_opts_t;

typedef enum {
    HF_SEND_EMPTY,               /* nothing but white space */
    HF_SEND_LINES,               /* JSON lines: one event per non-blank line */
    HF_SEND_ARRAY,               /* [ event, ... ] */
    HF_SEND_DOCUMENT,            /* { "events": [ event, ... ] } */
    HF_SEND_SINGLE               /* one JSON value that is none of the above: one event */
} hf_send_format_t;

/* One event: its compact JSON text and partition key (offsets into hf_send_input_t). */
typedef struct hf_send_event {
    size_t off, len;             /* compact text in in->text */
    size_t line;                 /* line where it starts (1-based) */
    size_t index;                /* 0-based element index (array/document), else 0 */
    size_t key_off, key_len;     /* key in in->keys, when has_key */
    int has_key;
    /* capture records only (all 0 otherwise) */
    int null_body;               /* a null value (a tombstone), not an empty one */
    int32_t partition;           /* the recorded partition; -1: the partitioner decides */
    int64_t timestamp_ms;        /* the recorded enqueued time; 0: now */
    size_t headers_first, headers_n;  /* in in->headers */
} hf_send_event_t;

/* A header of a capture record: name (NUL-terminated) and value in in->text. */
typedef struct hf_send_header {
    size_t name_off;
    size_t value_off, value_len;
    int null_value;
} hf_send_header_t;

typedef struct hf_send_input {
    char *text;                  /* the input, compacted in place (owned) */
    size_t len;
    hf_send_format_t format;
    hf_send_event_t *events;
    size_t events_n, events_cap;
    char *keys;                  /* decoded keys, back to back */
    size_t keys_len, keys_cap;
    size_t problems;             /* invalid or oversize events found */
    size_t keyless;              /* events without any --key field (when keys were asked) */
    hf_send_header_t *headers;   /* capture records' headers */
    size_t headers_n, headers_cap;
} hf_send_input_t;

/* Called once per problem with one line ("FILE:LINE: ..."), in input order. */
typedef void (*hf_send_problem_fn)(void *ud, const char *line);

/*
 * Take `text` (malloc'd, len bytes; owned by `in` from now on, also on failure) and find
 * its events: detect the format, check every event's JSON, compact it in place, take its
 * key from the first of `fields` holding a non-empty string or a number, and check its
 * size (key + body) against max_event_bytes. `name` names the input in problem lines.
 * Returns 0 when every event is fine (in->problems == 0), 1 when problems were reported
 * through problem(). Free with hf_send_input_free.
 */
int hf_send_parse(hf_send_input_t *in, char *text, size_t len, const char *name,
                  const char *const *fields, size_t fields_n, size_t max_event_bytes,
                  hf_send_problem_fn problem, void *ud);
void hf_send_input_free(hf_send_input_t *in);

/*
 * hf_send_parse for capture records (send_captured.c): every non-blank line of text one
 * record, decoded in place, keeping its key, headers, body bytes and enqueued time, and
 * its partition unless by_key. A line that is no capture record, or whose event is over
 * max_event_bytes, is a problem. Returns 0, or 1 when problems were reported.
 */
int hf_send_parse_captured(hf_send_input_t *in, char *text, size_t len, const char *name,
                           int by_key, size_t max_event_bytes, hf_send_problem_fn problem,
                           void *ud);

/* Split "a,b , c" into at most HF_SEND_MAX_KEYS trimmed field names pointing into buf
   (a writable copy of the list). 0, or -1 with the problem in err. */
int hf_send_split_keys(char *buf, const char **fields, size_t *fields_n, char *err,
                       size_t errsz);

/* Resolve a CONNECTION argument as `hubfn send` does (an app setting in the environment or
   ./local.settings.json, else a connection value) for command cmd ("capture"), whose name
   its messages carry. 0, or -1 after one line on stderr; free conn with hf_conn_free. */
struct hf_conn;
int hf_send_resolve_connection(const char *cmd, const char *arg, struct hf_conn *conn);

/* Run `hubfn send`; returns the exit code: 0 every event delivered, 1 some not (or the
   hub refused the connection), 2 usage, configuration or input errors (nothing sent). */
int hf_send_main(const hf_send_opts_t *opts);

#endif
