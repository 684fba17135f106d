/*
 * hubfn send: read a file of events, check and compact every event, then publish them to
 * one hub with an idempotent producer and report what was delivered.
 *
 * Input (see send.h): the first JSON value of the input decides the format. If it is the
 * whole input, it is a document: an array (each element an event), an object with an
 * "events" array (each element an event) or any other value (one event). If more follows a
 * first value that sits on one line, the input is JSON lines. Events are compacted in the
 * buffer they were read into (compaction never grows text, so writing trails reading).
 */
#include "send.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "app.h"
#include "conn.h"
#include "embedded.h"
#include "jsonlex.h"
#include "kafka.h"
#include "log.h"

/* ---------------------------------------------------------------------------------- */
/* Messages                                                                            */

/* The command whose messages hf_send_say prints: "send", or one that resolves its
   CONNECTION as send does (hf_send_resolve_connection). */
static const char *hf_send_cmd = "send";

/* Print "hubfn send: MESSAGE" on stderr with secrets masked. */
static void hf_send_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void hf_send_say(const char *fmt, ...)
{
    char raw[2048], masked[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    hf_secret_mask(raw, masked, sizeof(masked));
    fprintf(stderr, "hubfn %s: %s\n", hf_send_cmd, masked);
}

/* ---------------------------------------------------------------------------------- */
/* Keys                                                                                */

/* Room for n more bytes at the end of the key arena: where they go. */
static char *hf_send_key_add(hf_send_input_t *in, size_t n)
{
    if (in->keys_len + n > in->keys_cap) {
        size_t cap = in->keys_cap ? in->keys_cap : 4096;
        while (cap < in->keys_len + n)
            cap *= 2;
        in->keys = hf_realloc(in->keys, cap);
        in->keys_cap = cap;
    }
    return in->keys + in->keys_len;
}

/* Find the event's key: the first of `fields` (top-level members of an object event)
   holding a non-empty string (decoded) or a number (as written). */
static void hf_send_find_key(hf_send_input_t *in, hf_send_event_t *ev,
                             const char *const *fields, size_t fields_n)
{
    const char *v = in->text + ev->off;
    size_t vs[HF_SEND_MAX_KEYS], ve[HF_SEND_MAX_KEYS];
    char name[256];
    hf_jsonlex_t lx;
    ev->has_key = 0;
    if (fields_n == 0)
        return;
    if (ev->len < 2 || v[0] != '{') {
        in->keyless++;
        return;
    }
    for (size_t f = 0; f < fields_n; f++)
        vs[f] = ve[f] = 0;
    /* The event is checked, compact JSON: walk its members. */
    hf_jsonlex_init(&lx, HF_JSONLEX_STRICT, v, ev->len, NULL, HF_JSONLEX_OUT_NONE);
    hf_jsonlex_take(&lx, '{');
    while (hf_jsonlex_peek(&lx) == '"') {
        size_t ks = lx.pos + 1;
        hf_jsonlex_value(&lx);
        const char *key = v + ks;
        size_t klen = lx.pos - 1 - ks;
        if (memchr(key, '\\', klen) && klen < sizeof(name)) {
            klen = hf_jsonlex_unescape(key, klen, name);
            key = name;
        }
        hf_jsonlex_take(&lx, ':');
        size_t start = lx.pos;
        hf_jsonlex_value(&lx);
        for (size_t f = 0; f < fields_n; f++) {
            if (strlen(fields[f]) == klen && memcmp(fields[f], key, klen) == 0) {
                vs[f] = start;               /* the last duplicate wins */
                ve[f] = lx.pos;
            }
        }
        if (!hf_jsonlex_take(&lx, ','))
            break;
    }
    for (size_t f = 0; f < fields_n; f++) {
        char *dst;
        if (ve[f] <= vs[f])
            continue;
        const char *val = v + vs[f];
        size_t len = ve[f] - vs[f];
        if (val[0] == '"') {
            if (len <= 2)
                continue;                    /* "" counts as absent */
            dst = hf_send_key_add(in, len - 2);
            ev->key_len = hf_jsonlex_unescape(val + 1, len - 2, dst);
        } else if (val[0] == '-' || (val[0] >= '0' && val[0] <= '9')) {
            dst = hf_send_key_add(in, len);
            memcpy(dst, val, len);
            ev->key_len = len;
        } else {
            continue;                        /* null, booleans, objects, arrays */
        }
        ev->key_off = in->keys_len;
        in->keys_len += ev->key_len;
        ev->has_key = 1;
        return;
    }
    in->keyless++;
}

/* ---------------------------------------------------------------------------------- */
/* Input                                                                               */

/* Report one problem line (and count it). */
static void hf_send_problem(hf_send_input_t *in, hf_send_problem_fn fn, void *ud,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void hf_send_problem(hf_send_input_t *in, hf_send_problem_fn fn, void *ud,
                            const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    in->problems++;
    if (fn)
        fn(ud, line);
}

/* Report the lexer's error: "NAME:LINE:COLUMN: invalid JSON: ...". */
static void hf_send_json_problem(hf_send_input_t *in, const hf_jsonlex_t *lx,
                                 const char *name, hf_send_problem_fn fn, void *ud)
{
    char why[256];
    hf_send_problem(in, fn, ud, "%s:%zu:%zu: invalid JSON: %s", name, lx->err_line,
                    lx->err_col, hf_jsonlex_message(lx, why, sizeof(why)));
}

/* Remember an event (nothing without `in`: a dry run). */
static void hf_send_add_event(hf_send_input_t *in, size_t off, size_t len, size_t line,
                              size_t index)
{
    if (!in)
        return;
    if (in->events_n == in->events_cap) {
        in->events_cap = in->events_cap ? in->events_cap * 2 : 256;
        in->events = hf_realloc(in->events, in->events_cap * sizeof(*in->events));
    }
    hf_send_event_t *ev = &in->events[in->events_n++];
    memset(ev, 0, sizeof(*ev));
    ev->off = off;
    ev->len = len;
    ev->line = line;
    ev->index = index;
}

/* The elements of the array at the read position, each an event checked as the decoder
   checks a body (so nested from level 0). -1 on a syntax error (in lx). */
static int hf_send_scan_events(hf_jsonlex_t *lx, hf_send_input_t *in)
{
    size_t index = 0;
    hf_jsonlex_take(lx, '[');
    if (hf_jsonlex_take(lx, ']'))
        return 0;
    for (;;) {
        if (hf_jsonlex_peek(lx) < 0)
            return hf_jsonlex_expected(lx, index ? "expected a value"
                                                 : "expected a value or ']'");
        size_t start = lx->o, line = lx->line;
        if (hf_jsonlex_value(lx) < 0)
            return -1;
        hf_send_add_event(in, start, lx->o - start, line, index++);
        if (hf_jsonlex_take(lx, ','))
            continue;
        if (hf_jsonlex_take(lx, ']'))
            return 0;
        return hf_jsonlex_expected(lx, "expected ',' or ']'");
    }
}

/* The document at the read position: an array of events, an object with an "events"
   array, or one event; in->format says which. Without `in` (a dry run) only checks it.
   -1 on a syntax error (in lx). */
static int hf_send_scan_document(hf_jsonlex_t *lx, hf_send_input_t *in)
{
    int c = hf_jsonlex_peek(lx), found = 0;
    size_t start = lx->o, line = lx->line;
    if (c == '[') {
        if (in)
            in->format = HF_SEND_ARRAY;
        return hf_send_scan_events(lx, in);
    }
    if (c != '{') {
        if (in)
            in->format = HF_SEND_SINGLE;
        if (hf_jsonlex_value(lx) < 0)
            return -1;
        hf_send_add_event(in, start, lx->o - start, line, 0);
        return 0;
    }
    /* An object: look for "events" among its members, which sit one level down (the
       object may be the one event). */
    hf_jsonlex_take(lx, '{');
    lx->depth = 1;
    if (!hf_jsonlex_take(lx, '}')) {
        const char *want_key = "expected a string key or '}'";
        for (;;) {
            if (hf_jsonlex_peek(lx) != '"')
                return hf_jsonlex_expected(lx, want_key);
            /* (read before the key is compacted over) */
            int is_events = lx->end - lx->pos >= 8 && memcmp(lx->s + lx->pos, "\"events\"",
                                                              8) == 0;
            if (hf_jsonlex_value(lx) < 0)
                return -1;
            if (!hf_jsonlex_take(lx, ':'))
                return hf_jsonlex_expected(lx, "expected ':' after a key");
            if (is_events && hf_jsonlex_peek(lx) == '[') {
                if (in)
                    in->events_n = 0;        /* a repeated "events": the last one wins */
                found = 1;
                lx->depth = 0;
                int rc = hf_send_scan_events(lx, in);
                lx->depth = 1;
                if (rc < 0)
                    return rc;
            } else if (hf_jsonlex_value(lx) < 0) {
                return -1;
            }
            if (hf_jsonlex_take(lx, '}'))
                break;
            if (!hf_jsonlex_take(lx, ','))
                return hf_jsonlex_expected(lx, "expected ',' or '}'");
            want_key = "expected a string key";
        }
    }
    lx->depth = 0;
    if (!in)
        return 0;
    if (found) {
        in->format = HF_SEND_DOCUMENT;
        return 0;
    }
    in->format = HF_SEND_SINGLE;
    in->events_n = 0;
    hf_send_add_event(in, start, lx->o - start, line, 0);
    return 0;
}

/* JSON lines: every non-blank line one event, checked as the decoder checks a body (a
   byte order mark may start it). Bad lines are reported and skipped. */
static void hf_send_scan_lines(hf_jsonlex_t *lx, hf_send_input_t *in, const char *name,
                               hf_send_problem_fn fn, void *ud)
{
    size_t p = 0, line = 1;
    in->format = HF_SEND_LINES;
    while (p < in->len) {
        const char *nl = memchr(in->text + p, '\n', in->len - p);
        size_t le = nl ? (size_t)(nl - in->text) : in->len;
        hf_jsonlex_line(lx, p, le, line);
        hf_jsonlex_bom(lx);
        if (hf_jsonlex_peek(lx) >= 0) {
            size_t start = lx->o;
            int rc = hf_jsonlex_value(lx);
            if (rc == 0 && hf_jsonlex_peek(lx) >= 0)
                rc = hf_jsonlex_expected(lx, "expected the end of the line (one event per "
                                             "line)");
            if (rc == 0) {
                hf_send_add_event(in, start, lx->o - start, line, 0);
            } else {
                hf_send_json_problem(in, lx, name, fn, ud);
                lx->o = start;
            }
        }
        p = le + 1;
        line++;
    }
}

/* Free what hf_send_parse kept. */
void hf_send_input_free(hf_send_input_t *in)
{
    if (!in)
        return;
    free(in->text);
    free(in->events);
    free(in->keys);
    free(in->headers);
    memset(in, 0, sizeof(*in));
}

/* Problems held back so that they go out in line order (the size check runs after the
   JSON check). Each starts "NAME:LINE". */
typedef struct held {
    const char *name;
    hf_send_problem_fn fn;
    void *ud;
    struct held_line {
        size_t line, seq;
        char *text;
    } *v;
    size_t n;
} held_t;

static void hold_problem(void *ud, const char *text)
{
    held_t *h = ud;
    size_t nl = strlen(h->name), line = 0;
    if (strncmp(text, h->name, nl) == 0 && text[nl] == ':')
        line = strtoul(text + nl + 1, NULL, 10);
    h->v = hf_realloc(h->v, (h->n + 1) * sizeof(*h->v));
    h->v[h->n].line = line;
    h->v[h->n].seq = h->n;
    h->v[h->n++].text = hf_strdup(text);
}

static int cmp_held(const void *a, const void *b)
{
    const struct held_line *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int hf_send_parse_checked(hf_send_input_t *in, char *text, size_t len,
                                 const char *name, const char *const *fields,
                                 size_t fields_n, size_t max_event_bytes,
                                 hf_send_problem_fn problem, void *ud);

/* Detect the format, check and compact every event, find keys, check sizes; problems in
   line order. */
int hf_send_parse(hf_send_input_t *in, char *text, size_t len, const char *name,
                  const char *const *fields, size_t fields_n, size_t max_event_bytes,
                  hf_send_problem_fn problem, void *ud)
{
    held_t h = {name, problem, ud, NULL, 0};
    int rc = hf_send_parse_checked(in, text, len, name, fields, fields_n, max_event_bytes,
                                   hold_problem, &h);
    if (h.n > 1)
        qsort(h.v, h.n, sizeof(*h.v), cmp_held);
    for (size_t i = 0; i < h.n; i++) {
        if (problem)
            problem(ud, h.v[i].text);
        free(h.v[i].text);
    }
    free(h.v);
    return rc;
}

static int hf_send_parse_checked(hf_send_input_t *in, char *text, size_t len,
                                 const char *name, const char *const *fields,
                                 size_t fields_n, size_t max_event_bytes,
                                 hf_send_problem_fn problem, void *ud)
{
    hf_jsonlex_t lx;
    memset(in, 0, sizeof(*in));
    in->text = text;
    in->len = len;
    if (fields_n > HF_SEND_MAX_KEYS)
        fields_n = HF_SEND_MAX_KEYS;

    /* A dry run over the first value decides the format. */
    hf_jsonlex_init(&lx, HF_JSONLEX_STRICT, text, len, NULL, HF_JSONLEX_OUT_NONE);
    hf_jsonlex_bom(&lx);
    if (hf_jsonlex_peek(&lx) < 0) {
        in->format = HF_SEND_EMPTY;
        return 0;
    }
    size_t first = lx.pos, first_line = lx.line;
    int rc = hf_send_scan_document(&lx, NULL);
    int lines;
    if (rc == 0) {
        int one_line = memchr(text + first, '\n', lx.pos - first) == NULL;
        size_t value_end_line = lx.line;
        if (hf_jsonlex_peek(&lx) < 0) {
            lines = 0;
        } else if (one_line) {
            lines = 1;
        } else {
            hf_send_problem(in, problem, ud,
                            "%s:%zu: more JSON follows the value that ends on line %zu: "
                            "expected JSON lines (one event per line), one JSON array of "
                            "events, or one {\"events\": [...]} document",
                            name, lx.line, value_end_line);
            return 1;
        }
    } else {
        /* An error on the first value's own line: read the input as JSON lines, which
           reports every bad line; else the document itself is broken. */
        lines = lx.err_line == first_line;
        if (!lines) {
            hf_send_json_problem(in, &lx, name, problem, ud);
            return 1;
        }
    }

    /* Check every event again and compact it where it was read. */
    hf_jsonlex_init(&lx, HF_JSONLEX_STRICT, text, len, text, HF_JSONLEX_OUT_COMPACT);
    rc = 0;
    if (lines) {
        hf_send_scan_lines(&lx, in, name, problem, ud);
    } else {
        hf_jsonlex_bom(&lx);
        rc = hf_send_scan_document(&lx, in);
    }
    if (rc < 0) {
        /* The dry run accepted this document, so this cannot happen; say so anyway. */
        hf_send_json_problem(in, &lx, name, problem, ud);
        return 1;
    }

    for (size_t i = 0; i < in->events_n; i++) {
        hf_send_event_t *ev = &in->events[i];
        hf_send_find_key(in, ev, fields, fields_n);
        size_t size = ev->len + (ev->has_key ? ev->key_len : 0);
        if (size <= max_event_bytes)
            continue;
        if (in->format == HF_SEND_LINES || in->format == HF_SEND_SINGLE)
            hf_send_problem(in, problem, ud, "%s:%zu: the event is %zu bytes%s, over the limit "
                            "of %zu bytes (--max-event-bytes)", name, ev->line, size,
                            ev->has_key ? " with its key" : "", max_event_bytes);
        else
            hf_send_problem(in, problem, ud, "%s:%zu: %s[%zu] is %zu bytes%s, over the limit "
                            "of %zu bytes (--max-event-bytes)", name, ev->line,
                            in->format == HF_SEND_DOCUMENT ? "events" : "", ev->index, size,
                            ev->has_key ? " with its key" : "", max_event_bytes);
    }
    return in->problems ? 1 : 0;
}

/* Split the --key list; see send.h. */
int hf_send_split_keys(char *buf, const char **fields, size_t *fields_n, char *err,
                       size_t errsz)
{
    size_t n = 0;
    char *s = buf;
    for (;;) {
        char *end = strchr(s, ',');
        if (end)
            *end = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        size_t l = strlen(s);
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\t'))
            s[--l] = '\0';
        if (l == 0) {
            snprintf(err, errsz, "--key needs field names separated by commas, e.g. "
                     "--key userId,anonymousId");
            return -1;
        }
        if (l >= 256) {
            snprintf(err, errsz, "--key: a field name is longer than 255 bytes");
            return -1;
        }
        if (n == HF_SEND_MAX_KEYS) {
            snprintf(err, errsz, "--key takes at most %d fields", HF_SEND_MAX_KEYS);
            return -1;
        }
        fields[n++] = s;
        if (!end)
            break;
        s = end + 1;
    }
    *fields_n = n;
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Connection                                                                          */

/* Is `s` usable as an environment variable / setting name (no '=' or ';')? */
static int hf_send_setting_like(const char *s)
{
    return *s && !strchr(s, '=') && !strchr(s, ';');
}

/* Resolve CONNECTION (setting name or value) into conn. 0, or -1 after saying why. */
static int hf_send_resolve(const char *arg, hf_conn_t *conn)
{
    char err[1024], local_err[1024] = "";
    hf_app_t local;
    const char *value = NULL, *setting = "";
    int exists = 0, local_rc = 1;
    if (hf_send_setting_like(arg)) {
        /* The environment, then ./local.settings.json Values, as the app reads them. A
           broken local.settings.json matters only if arg is no connection value. */
        value = hf_app_setting(NULL, arg);
        if (!value) {
            local_rc = hf_app_load_settings(&local, ".", local_err, sizeof(local_err));
            if (local_rc == 0) {
                exists = local.has_local_settings;
                value = hf_app_setting(&local, arg);
            }
        }
        if (value)
            setting = arg;
    }
    if (!value)
        value = arg;
    int rc = hf_conn_parse(conn, setting, value, err, sizeof(err));
    if (local_rc == 0)
        hf_app_free(&local);
    if (rc < 0) {
        if (local_rc < 0)
            hf_send_say("%s", local_err);
        else if (!*setting && hf_send_setting_like(arg) && !strchr(arg, ':') &&
                 !strchr(arg, ','))
            hf_send_say("CONNECTION \"%s\" is neither an app setting (looked in the environment "
                        "%s) nor a connection value (an Event Hubs connection string, "
                        "host:port[,host:port...], or a setting holding one)", arg,
                        exists ? "and in ./local.settings.json Values"
                               : "and in ./local.settings.json, which does not exist");
        else
            hf_send_say("%s", err);
        return -1;
    }
    if (conn->kind == HF_CONN_EMBEDDED) {
        /* The broker of `hubfn start --embedded`, on its port on this machine. */
        int port;
        char buf[64];
        if (hf_embedded_port(&port, err, sizeof(err)) != 0) {
            hf_send_say("%s", err);
            hf_conn_free(conn);
            return -1;
        }
        if (port == 0) {
            hf_send_say("HUBFN_EMBEDDED_PORT is 0 (any free port), so \"embedded\" names no "
                        "port: pass the address `hubfn start --embedded` printed (\"embedded "
                        "broker listening at HOST:PORT\") as CONNECTION");
            hf_conn_free(conn);
            return -1;
        }
        snprintf(buf, sizeof(buf), "127.0.0.1:%d", port);
        conn->bootstrap = hf_strdup(buf);
    }
    return 0;
}

/* Resolve CONNECTION for another command; see send.h. */
int hf_send_resolve_connection(const char *cmd, const char *arg, hf_conn_t *conn)
{
    const char *saved = hf_send_cmd;
    hf_send_cmd = cmd;
    int rc = hf_send_resolve(arg, conn);
    hf_send_cmd = saved;
    return rc;
}

/* Is something listening on the embedded broker's address (conn->bootstrap,
   "127.0.0.1:PORT")? */
static int hf_send_embedded_listening(const hf_conn_t *conn)
{
    const char *colon = strrchr(conn->bootstrap, ':');
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)atoi(colon ? colon + 1 : "0")),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 1;                    /* cannot tell: let the producer find out */
    int rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
    close(fd);
    return rc == 0;
}

/* ---------------------------------------------------------------------------------- */
/* Sending                                                                             */

/* Set by the first SIGINT/SIGTERM: stop producing, wait for what is in flight, report.
   A second signal ends the process at once (SA_RESETHAND). */
static volatile sig_atomic_t hf_send_interrupted;

/* Signal handler: only note the signal. */
static void hf_send_on_signal(int sig)
{
    hf_send_interrupted = sig;
}

/* Catch the first SIGINT/SIGTERM. */
static void hf_send_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = hf_send_on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Failures of one kind, for the report. */
typedef struct hf_send_fail {
    rd_kafka_resp_err_t err;
    size_t count;
    const hf_send_event_t *first;
} hf_send_fail_t;

typedef struct hf_send_run {
    const hf_send_opts_t *opts;
    const char *name;            /* input name for messages */
    hf_conn_t conn;
    char desc[256];              /* hf_conn_describe */
    hf_send_input_t in;
    rd_kafka_t *rk;
    size_t produced, reported;   /* handed to librdkafka; with a delivery report */
    size_t delivered, failed;    /* failed: refused locally or in a report */
    hf_send_fail_t fails[8];
    size_t fails_n;
    unsigned char *parts;        /* partitions that got an event */
    size_t parts_cap;
    int partition_cnt;
    int abort;                   /* an error nothing can fix by waiting: stop */
    int warned;                  /* the "cannot reach" warning was printed */
    int progress;
    int progress_shown;
    int64_t t0_us, last_progress_us;
} hf_send_run_t;

/* Say what an access error means for the policy and hub; one line. */
static void hf_send_access_error(hf_send_run_t *r, rd_kafka_resp_err_t err, const char *reason)
{
    char why[1024];
    hf_kafka_target_t target = {&r->conn, r->opts->hub, NULL, 1};
    hf_send_say("%s", hf_kafka_describe(err, reason, &target, why, sizeof(why)));
}

/* Errors about credentials or rights: waiting does not fix them. */
static int hf_send_is_access_error(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
           err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED ||
           err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
           err == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED;
}

/* librdkafka errors: access and fatal errors stop the send; outages are retried. */
static void hf_send_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    hf_send_run_t *r = opaque;
    if (r->abort)
        return;
    if (hf_send_is_access_error((rd_kafka_resp_err_t)err)) {
        r->abort = 1;
        hf_send_access_error(r, (rd_kafka_resp_err_t)err, reason);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof(why));
        r->abort = 1;
        if (hf_send_is_access_error(orig))
            hf_send_access_error(r, orig, why);
        else
            hf_send_say("%s: fatal producer error: %s", r->desc, why);
        return;
    }
    if (!r->warned && (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE ||
                       err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
                       err == RD_KAFKA_RESP_ERR__SSL)) {
        r->warned = 1;
        if (r->progress_shown)
            fputs("\r\033[K", stderr);
        hf_send_say("%s: %s (retrying)", r->desc, reason);
    }
}

/* librdkafka's own log lines only matter when debugging. */
static void hf_send_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    hf_log(level <= 3 ? HF_LOG_DEBUG : HF_LOG_TRACE, "librdkafka %s: %s", fac, buf);
}

/* Note that partition p got an event. */
static void hf_send_mark_partition(hf_send_run_t *r, int32_t p)
{
    if (p < 0)
        return;
    if ((size_t)p >= r->parts_cap) {
        size_t cap = r->parts_cap ? r->parts_cap : 64;
        while (cap <= (size_t)p)
            cap *= 2;
        r->parts = hf_realloc(r->parts, cap);
        memset(r->parts + r->parts_cap, 0, cap - r->parts_cap);
        r->parts_cap = cap;
    }
    r->parts[p] = 1;
}

/* Count a failed event under its error (the first eight kinds are told apart). */
static void hf_send_count_failure(hf_send_run_t *r, const hf_send_event_t *ev,
                                  rd_kafka_resp_err_t err)
{
    r->failed++;
    for (size_t i = 0; i < r->fails_n; i++) {
        if (r->fails[i].err == err) {
            r->fails[i].count++;
            return;
        }
    }
    if (r->fails_n == sizeof(r->fails) / sizeof(r->fails[0]))
        return;
    r->fails[r->fails_n].err = err;
    r->fails[r->fails_n].count = 1;
    r->fails[r->fails_n].first = ev;
    r->fails_n++;
}

/* Delivery report: count it; an access error stops the send. */
static void hf_send_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    hf_send_run_t *r = opaque;
    const hf_send_event_t *ev = m->_private;
    r->reported++;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        r->delivered++;
        hf_send_mark_partition(r, m->partition);
        return;
    }
    hf_send_count_failure(r, ev, m->err);
    if (!r->abort && (hf_send_is_access_error(m->err) ||
                      m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                      m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)) {
        r->abort = 1;
        hf_send_access_error(r, m->err, rd_kafka_err2str(m->err));
    }
}

/* Where an event came from, for messages: "FILE:LINE" or "FILE:LINE (events[3])". */
static const char *hf_send_where(const hf_send_run_t *r, const hf_send_event_t *ev, char *buf,
                                 size_t bufsz)
{
    if (r->in.format == HF_SEND_ARRAY || r->in.format == HF_SEND_DOCUMENT)
        snprintf(buf, bufsz, "%s:%zu (%s[%zu])", r->name, ev->line,
                 r->in.format == HF_SEND_DOCUMENT ? "events" : "", ev->index);
    else
        snprintf(buf, bufsz, "%s:%zu", r->name, ev->line);
    return buf;
}

/* Update the progress line (terminal only), at most five times a second. */
static void hf_send_show_progress(hf_send_run_t *r, int force)
{
    if (!r->progress)
        return;
    int64_t now = hf_mono_us();
    if (!force && (now - r->t0_us < 500000 || now - r->last_progress_us < 200000))
        return;
    r->last_progress_us = now;
    double secs = (double)(now - r->t0_us) / 1e6;
    double rate = secs > 0 ? (double)r->delivered / secs : 0;
    fprintf(stderr, "\r\033[Ksending to %s: %zu/%zu produced, %zu delivered, %zu failed, "
            "%.0f events/s", r->opts->hub, r->produced, r->in.events_n, r->delivered,
            r->failed, rate);
    fflush(stderr);
    r->progress_shown = 1;
}

/* Erase the progress line, if one is shown. */
static void hf_send_clear_progress(hf_send_run_t *r)
{
    if (r->progress_shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        r->progress_shown = 0;
    }
}

/* Configure and create the producer. 0, or -1 after saying why. */
static int hf_send_producer(hf_send_run_t *r)
{
    char errstr[512], max_bytes[32], timeout[32], req_timeout[32];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    hf_kafka_conf_t kc = {conf, errstr, sizeof(errstr), NULL};
    size_t max_event = r->opts->max_event_bytes;
    int timeout_ms = r->opts->timeout_s * 1000;
    /* Room for one event of max_event bytes plus its record overhead; batches stay at
       librdkafka's batch.size (1000000), under Event Hubs' 1046528-byte request limit. */
    snprintf(max_bytes, sizeof(max_bytes), "%zu",
             (max_event > HF_SEND_DEFAULT_MAX_EVENT ? max_event : HF_SEND_DEFAULT_MAX_EVENT) +
                 4096);
    snprintf(timeout, sizeof(timeout), "%d", timeout_ms);
    snprintf(req_timeout, sizeof(req_timeout), "%d", timeout_ms < 60000 ? timeout_ms : 60000);
    /* Idempotence: retries after a broker hiccup neither duplicate nor reorder events.
       murmur2_random: a key lands where Java clients (and hubfn's output bindings) put
       it; events without a key go to a random partition. Asking for a hub never creates
       it, as in Event Hubs (the embedded broker would create it). */
    if (hf_kafka_conf_common(&kc, &r->conn) ||
        hf_kafka_conf_set(&kc, "enable.idempotence", "true") ||
        hf_kafka_conf_set(&kc, "allow.auto.create.topics", "false") ||
        hf_kafka_conf_set(&kc, "acks", "all") ||
        hf_kafka_conf_set(&kc, "linger.ms", "10") ||
        hf_kafka_conf_set(&kc, "partitioner", "murmur2_random") ||
        hf_kafka_conf_set(&kc, "message.max.bytes", max_bytes) ||
        hf_kafka_conf_set(&kc, "request.timeout.ms", req_timeout) ||
        hf_kafka_conf_set(&kc, "message.timeout.ms", timeout) ||
        hf_kafka_conf_set(&kc, "queue.buffering.max.kbytes", "65536")) {
        hf_send_say("producer for %s: %s", r->desc, errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_opaque(conf, r);
    rd_kafka_conf_set_dr_msg_cb(conf, hf_send_dr_cb);
    rd_kafka_conf_set_error_cb(conf, hf_send_error_cb);
    rd_kafka_conf_set_log_cb(conf, hf_send_log_cb);
    r->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!r->rk) {
        rd_kafka_conf_destroy(conf);
        hf_send_say("cannot create the producer for %s: %s", r->desc, errstr);
        return -1;
    }
    return 0;
}

/* Compare hub names for qsort. */
static int hf_send_cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Say that the embedded broker has no hub HUB, and which hubs it has (a Metadata request
   for every hub, which creates none). */
static void hf_send_no_embedded_hub(hf_send_run_t *r)
{
    const struct rd_kafka_metadata *md = NULL;
    char list[1024] = "";
    size_t n = 0;
    if (rd_kafka_metadata(r->rk, 1, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR && md) {
        const char **names = hf_calloc((size_t)md->topic_cnt + 1, sizeof(*names));
        size_t k = 0;
        for (int i = 0; i < md->topic_cnt; i++)
            if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                names[k++] = md->topics[i].topic;
        qsort(names, k, sizeof(*names), hf_send_cmp_names);
        for (size_t i = 0; i < k && n < sizeof(list); i++)
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", names[i]);
        free(names);
        rd_kafka_metadata_destroy(md);
    }
    if (n >= sizeof(list))
        snprintf(list + sizeof(list) - 5, 5, "...");
    if (n)
        hf_send_say("hub %s does not exist in the embedded broker (its hubs: %s; add more with "
                    "hubfn start --embedded --hub NAME)", r->opts->hub, list);
    else
        hf_send_say("hub %s does not exist in the embedded broker (add it with hubfn start "
                    "--embedded --hub NAME)", r->opts->hub);
}

/* Wait until the hub's metadata is known: it exists, this policy may see it, and its
   partitions have leaders. 0, or -1 after saying why. */
static int hf_send_check_hub(hf_send_run_t *r)
{
    int64_t limit_s = r->opts->timeout_s < 30 ? r->opts->timeout_s : 30;
    int64_t deadline = hf_mono_us() + limit_s * 1000000;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, r->opts->hub, NULL);
    rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR__TIMED_OUT;
    int rc = -1;
    if (!rkt) {
        hf_send_say("hub %s: %s", r->opts->hub, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(r->rk, 0, rkt, &md, 1000);
        rd_kafka_poll(r->rk, 0);
        if (r->abort) {
            if (md)
                rd_kafka_metadata_destroy(md);
            break;
        }
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md) {
            rd_kafka_resp_err_t terr = md->topic_cnt == 1 ? md->topics[0].err
                                                          : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
            int cnt = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
            rd_kafka_metadata_destroy(md);
            if (terr == RD_KAFKA_RESP_ERR_NO_ERROR && cnt > 0) {
                r->partition_cnt = cnt;
                rc = 0;
                break;
            }
            if (terr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
                r->conn.kind == HF_CONN_EMBEDDED) {
                hf_send_no_embedded_hub(r);
                break;
            }
            if (hf_kafka_error_is_permanent(terr)) {
                hf_send_access_error(r, terr, rd_kafka_err2str(terr));
                break;
            }
            last = terr ? terr : RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE;
        } else {
            if (md)
                rd_kafka_metadata_destroy(md);
            last = err;
        }
        if (hf_send_interrupted) {
            hf_send_say("interrupted while connecting to %s", r->desc);
            break;
        }
        if (hf_mono_us() >= deadline) {
            hf_send_say("could not reach hub %s on %s in %lld s: %s", r->opts->hub, r->desc,
                        (long long)limit_s, rd_kafka_err2str(last));
            break;
        }
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_poll(r->rk, 200);       /* the hub is being created: wait a little */
    }
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* The headers of a capture record's event, for the producer. */
static rd_kafka_headers_t *hf_send_headers(const hf_send_input_t *in, const hf_send_event_t *ev)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(ev->headers_n);
    for (size_t i = 0; i < ev->headers_n; i++) {
        const hf_send_header_t *h = &in->headers[ev->headers_first + i];
        rd_kafka_header_add(hdrs, in->text + h->name_off, -1,
                            h->null_value ? NULL : in->text + h->value_off,
                            h->null_value ? 0 : (ssize_t)h->value_len);
    }
    return hdrs;
}

/* Capture records go to their recorded partitions: every one must exist in the hub (else
   nothing is sent). 0, or -1 after naming the records whose partition is not there. */
static int hf_send_check_partitions(hf_send_run_t *r)
{
    size_t bad = 0;
    const hf_send_event_t *first = NULL;
    int32_t highest = -1;
    for (size_t i = 0; i < r->in.events_n; i++) {
        const hf_send_event_t *ev = &r->in.events[i];
        if (ev->partition < r->partition_cnt)
            continue;
        if (!bad++)
            first = ev;
        if (ev->partition > highest)
            highest = ev->partition;
    }
    if (!bad)
        return 0;
    hf_send_say("%s:%zu: partition %d does not exist in hub %s, which has partitions 0-%d; "
                "nothing sent. --by-key sends every event by its key instead (murmur2, as "
                "Java clients do), or send to a hub with at least %d partitions", r->name,
                first->line, (int)first->partition, r->opts->hub, r->partition_cnt - 1,
                (int)highest + 1);
    if (bad > 1)
        hf_send_say("%zu events in all are for partitions the hub does not have", bad);
    return -1;
}

/* Produce every event, serving delivery reports as it goes. */
static void hf_send_produce_all(hf_send_run_t *r)
{
    for (size_t i = 0; i < r->in.events_n && !r->abort && !hf_send_interrupted; i++) {
        hf_send_event_t *ev = &r->in.events[i];
        /* A capture record's headers; librdkafka owns them once the event is produced. */
        rd_kafka_headers_t *hdrs = ev->headers_n ? hf_send_headers(&r->in, ev) : NULL;
        for (;;) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                r->rk, RD_KAFKA_V_TOPIC(r->opts->hub),
                RD_KAFKA_V_PARTITION(r->opts->captured && ev->partition >= 0
                                         ? ev->partition : RD_KAFKA_PARTITION_UA),
                RD_KAFKA_V_VALUE((ev->null_body ? NULL : r->in.text + ev->off), ev->len),
                RD_KAFKA_V_KEY((ev->has_key ? r->in.keys + ev->key_off : NULL),
                               ev->has_key ? ev->key_len : 0),
                RD_KAFKA_V_TIMESTAMP(ev->timestamp_ms), RD_KAFKA_V_HEADERS(hdrs),
                RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_OPAQUE(ev), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                hdrs = NULL;
                r->produced++;
                break;
            }
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(r->rk, 50);
                hf_send_show_progress(r, 0);
                if (r->abort || hf_send_interrupted)
                    break;
                continue;
            }
            /* Refused locally (too large for the producer, fatal state, ...). */
            hf_send_count_failure(r, ev, err);
            if (err == RD_KAFKA_RESP_ERR__FATAL) {
                char why[512];
                rd_kafka_fatal_error(r->rk, why, sizeof(why));
                if (!r->abort)
                    hf_send_say("%s: fatal producer error: %s", r->desc, why);
                r->abort = 1;
            }
            break;
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        if ((i & 1023) == 1023) {
            rd_kafka_poll(r->rk, 0);
            hf_send_show_progress(r, 0);
        }
    }
}

/* Wait for the delivery report of every produced event: until the timeout, or at once
   after an abort, what is left is purged (and reported as failed). */
static void hf_send_wait(hf_send_run_t *r)
{
    int64_t deadline = hf_mono_us() + ((int64_t)r->opts->timeout_s + 10) * 1000000;
    int purged = 0;
    while (r->reported < r->produced) {
        int64_t now = hf_mono_us();
        if (!purged && (r->abort || now >= deadline)) {
            rd_kafka_purge(r->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            purged = 1;
            deadline = now + 5 * 1000000;
        } else if (purged && now >= deadline) {
            break;
        }
        rd_kafka_poll(r->rk, 100);
        hf_send_show_progress(r, 0);
    }
}

/* Print the failures, one line per kind, then the summary; returns the exit code. */
static int hf_send_report(hf_send_run_t *r, double secs)
{
    char where[600];
    size_t total = r->in.events_n;
    hf_send_clear_progress(r);
    for (size_t i = 0; i < r->fails_n; i++) {
        const hf_send_fail_t *f = &r->fails[i];
        /* An access error was already explained in one line. */
        if (r->abort && (hf_send_is_access_error(f->err) ||
                         f->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                         f->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT ||
                         f->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                         f->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                         f->err == RD_KAFKA_RESP_ERR__FATAL))
            continue;
        const char *why = f->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ||
                                  f->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                                  f->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT
                              ? "no delivery report within --timeout"
                          : f->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
                              ? "larger than the hub accepts"
                              : rd_kafka_err2str(f->err);
        hf_send_say("%zu event%s not delivered: %s (first: %s)", f->count,
                    f->count == 1 ? "" : "s", why,
                    f->first ? hf_send_where(r, f->first, where, sizeof(where)) : "?");
    }
    if (hf_send_interrupted && r->produced < total)
        hf_send_say("interrupted: %zu of %zu events were not sent", total - r->produced, total);
    size_t parts = 0;
    for (size_t i = 0; i < r->parts_cap; i++)
        parts += r->parts[i];
    char keyless[64] = "";
    if (r->opts->keys && r->in.keyless)
        snprintf(keyless, sizeof(keyless), ", %zu without a key", r->in.keyless);
    fprintf(stderr, "sent %zu event%s to %s in %.*f s (%zu partition%s), %zu failed%s\n",
            r->delivered, r->delivered == 1 ? "" : "s", r->opts->hub, secs < 10 ? 2 : 1, secs,
            parts, parts == 1 ? "" : "s", total - r->delivered, keyless);
    return r->delivered == total ? 0 : 1;
}

/* Read a whole stream; NULL on a read error (errno set). */
static char *hf_send_slurp(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0, got;
    char *data = hf_malloc(cap);
    while ((got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            data = hf_realloc(data, cap);
        }
    }
    if (ferror(f)) {
        free(data);
        return NULL;
    }
    *len = n;
    return data;
}

/* Problem lines: the first 20 are printed, the rest counted. */
static void hf_send_print_problem(void *ud, const char *line)
{
    size_t *shown = ud;
    if ((*shown)++ < 20)
        hf_send_say("%s", line);
}

/* Run `hubfn send`; see send.h. */
int hf_send_main(const hf_send_opts_t *given)
{
    hf_send_opts_t opts = *given;
    hf_send_run_t r;
    const char *fields[HF_SEND_MAX_KEYS];
    size_t fields_n = 0;
    char err[1024], keybuf[4096];
    int rc;

    if (opts.max_event_bytes == 0)
        opts.max_event_bytes = HF_SEND_DEFAULT_MAX_EVENT;
    if (opts.timeout_s <= 0)
        opts.timeout_s = HF_SEND_DEFAULT_TIMEOUT;
    memset(&r, 0, sizeof(r));
    r.opts = &opts;
    r.progress = opts.progress < 0 ? isatty(2) : opts.progress;
    if (opts.keys) {
        snprintf(keybuf, sizeof(keybuf), "%s", opts.keys);
        if (hf_send_split_keys(keybuf, fields, &fields_n, err, sizeof(err)) < 0) {
            hf_send_say("%s", err);
            return 2;
        }
    }

    if (hf_send_resolve(opts.connection, &r.conn) < 0)
        return 2;
    if (r.conn.entity_path && strcmp(r.conn.entity_path, opts.hub) != 0) {
        hf_send_say("the connection is for hub %s (EntityPath) but HUB is %s: a hub-level "
                    "policy can only send to its own hub", r.conn.entity_path, opts.hub);
        hf_conn_free(&r.conn);
        return 2;
    }
    hf_conn_describe(&r.conn, r.desc, sizeof(r.desc));

    /* Read and check everything before sending anything. */
    int use_stdin = !opts.file || strcmp(opts.file, "-") == 0;
    r.name = use_stdin ? "stdin" : opts.file;
    if (use_stdin && isatty(0))
        fprintf(stderr, "reading events from the terminal; end with Ctrl-D\n");
    FILE *f = use_stdin ? stdin : fopen(opts.file, "rb");
    if (!f) {
        hf_send_say("%s: %s", opts.file, strerror(errno));
        hf_conn_free(&r.conn);
        return 2;
    }
    size_t len = 0;
    char *text = hf_send_slurp(f, &len);
    int read_errno = errno;
    if (!use_stdin)
        fclose(f);
    if (!text) {
        hf_send_say("%s: %s", r.name, strerror(read_errno));
        hf_conn_free(&r.conn);
        return 2;
    }
    size_t shown = 0;
    if (opts.captured)
        rc = hf_send_parse_captured(&r.in, text, len, r.name, opts.by_key,
                                    opts.max_event_bytes, hf_send_print_problem, &shown);
    else
        rc = hf_send_parse(&r.in, text, len, r.name, fields, fields_n, opts.max_event_bytes,
                           hf_send_print_problem, &shown);
    if (rc != 0) {
        hf_send_say("nothing sent: %zu problem%s in %s%s", r.in.problems,
                    r.in.problems == 1 ? "" : "s", r.name,
                    r.in.problems > 20 ? " (the first 20 are shown)" : "");
        hf_send_input_free(&r.in);
        hf_conn_free(&r.conn);
        return 2;
    }
    if (r.in.events_n == 0) {
        fprintf(stderr, "sent 0 events to %s: %s holds none\n", opts.hub, r.name);
        hf_send_input_free(&r.in);
        hf_conn_free(&r.conn);
        return 0;
    }

    if (r.conn.kind == HF_CONN_EMBEDDED && !hf_send_embedded_listening(&r.conn)) {
        hf_send_say("no embedded broker is listening on %s (start one with hubfn start "
                    "--embedded)", r.conn.bootstrap);
        hf_send_input_free(&r.in);
        hf_conn_free(&r.conn);
        return 1;
    }

    hf_send_catch_signals();
    r.t0_us = hf_mono_us();
    if (hf_send_producer(&r) < 0) {
        hf_send_input_free(&r.in);
        hf_conn_free(&r.conn);
        return 2;
    }
    rc = 1;
    int hub_ok = hf_send_check_hub(&r) == 0;
    if (hub_ok && opts.captured && !opts.by_key && hf_send_check_partitions(&r) < 0) {
        rc = 2;
    } else {
        if (hub_ok) {
            hf_send_produce_all(&r);
            hf_send_wait(&r);
        }
        rc = hf_send_report(&r, (double)(hf_mono_us() - r.t0_us) / 1e6);
    }
    rd_kafka_purge(r.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(r.rk, 0);
    rd_kafka_destroy(r.rk);
    free(r.parts);
    hf_send_input_free(&r.in);
    hf_conn_free(&r.conn);
    return rc;
}
