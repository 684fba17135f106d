/*
 * hubfn capture: read events of one hub with a group-less client (hub_client.h) and write
 * them as capture records. Without --follow it reads each partition from its start offset
 * to the newest event there when the capture began, one partition after the other, so the
 * output is in (partition, offset) order and two captures of the same range are the same
 * file; with --follow it reads every partition at once and writes events as they come.
 */
#include "capture.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "capture_record.h"
#include "conn.h"
#include "datetime.h"
#include "hub_client.h"
#include "kafka.h"
#include "send.h"

/* One partition being captured. */
typedef struct cap_part {
    int32_t id;
    int64_t from;                /* the first offset wanted */
    int64_t end;                 /* stop before this offset (not with --follow) */
    int64_t next;                /* the offset after the last one written, or from */
    int started;                 /* fetching was started */
    int done;
} cap_part_t;

typedef struct cap_run {
    const hf_capture_opts_t *opts;
    hf_conn_t conn;
    hf_hub_client_t hc;
    FILE *out;
    const char *out_name;
    cap_part_t *parts;           /* the partitions to read, in order */
    int parts_n;
    int partition_cnt;           /* the hub's */
    uint64_t written;
    int failed;                  /* a read or write failed: exit 1 */
    int progress;
    int progress_shown;
    int64_t t0_us, last_progress_us;
    hf_buf_t line;
    hf_header_t *headers;        /* scratch for one message's headers */
    size_t headers_cap;
} cap_run_t;

/* Set by the first SIGINT/SIGTERM; a second one ends the process (SA_RESETHAND). */
static volatile sig_atomic_t cap_interrupted;

static void cap_on_signal(int sig)
{
    cap_interrupted = sig;
}

/* Print "hubfn capture: MESSAGE" on stderr with secrets masked (erasing a progress line). */
static void cap_say(cap_run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cap_say(cap_run_t *r, const char *fmt, ...)
{
    char raw[2048], masked[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    hf_secret_mask(raw, masked, sizeof(masked));
    if (r && r->progress_shown) {
        fputs("\r\033[K", stderr);
        r->progress_shown = 0;
    }
    fprintf(stderr, "hubfn capture: %s\n", masked);
}

/* The progress line: on a terminal at most five times a second after the first half
   second; elsewhere one line every 10 s, for long captures in logs. */
static void cap_show_progress(cap_run_t *r, const cap_part_t *p)
{
    int64_t now = hf_mono_us();
    if (now - r->t0_us < (r->progress ? 500000 : 10000000))
        return;
    if (now - r->last_progress_us < (r->progress ? 200000 : 10000000))
        return;
    r->last_progress_us = now;
    char where[96] = "";
    if (p && !r->opts->follow)
        snprintf(where, sizeof(where), ", partition %d at offset %lld of %lld", (int)p->id,
                 (long long)p->next, (long long)p->end);
    if (r->progress) {
        fprintf(stderr, "\r\033[Kcapturing %s: %llu events%s", r->opts->hub,
                (unsigned long long)r->written, where);
        r->progress_shown = 1;
    } else {
        fprintf(stderr, "hubfn capture: %llu events so far%s\n", (unsigned long long)r->written,
                where);
    }
    fflush(stderr);
}

/* Write one message as a capture record. 0, or -1 when the output failed. */
static int cap_write(cap_run_t *r, const rd_kafka_message_t *m)
{
    hf_capture_record_t rec;
    rd_kafka_headers_t *hdrs = NULL;
    memset(&rec, 0, sizeof(rec));
    rec.partition = m->partition;
    rec.offset = m->offset;
    rec.enqueued_ms = rd_kafka_message_timestamp(m, NULL);
    rec.key = m->key;
    rec.key_len = m->key ? m->key_len : 0;
    rec.body = m->payload;
    rec.body_len = m->payload ? m->len : 0;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
        size_t n = rd_kafka_header_cnt(hdrs);
        if (n > r->headers_cap) {
            r->headers = hf_realloc(r->headers, n * sizeof(*r->headers));
            r->headers_cap = n;
        }
        for (size_t i = 0; i < n; i++) {
            const char *name;
            const void *val;
            size_t size;
            rd_kafka_header_get_all(hdrs, i, &name, &val, &size);
            r->headers[i].name = (char *)name;
            r->headers[i].value = (char *)val;
            r->headers[i].value_len = val ? size : 0;
        }
        rec.headers = r->headers;
        rec.headers_n = n;
    }
    r->line.len = 0;
    hf_capture_record_write(&r->line, &rec);
    hf_buf_append(&r->line, "\n", 1);
    if (fwrite(r->line.data, 1, r->line.len, r->out) != r->line.len) {
        cap_say(r, "%s: %s", r->out_name, strerror(errno));
        return -1;
    }
    r->written++;
    return 0;
}

static cap_part_t *cap_find(cap_run_t *r, int32_t id)
{
    for (int i = 0; i < r->parts_n; i++)
        if (r->parts[i].id == id)
            return &r->parts[i];
    return NULL;
}

/* Fetch the partitions parts[first..first+n) until each is done (or the count is reached,
   or a signal came). 0, or -1 after saying why. */
static int cap_read(cap_run_t *r, int first, int n)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->hc.rk, r->opts->hub, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(r->hc.rk);
    int active = 0, rc = 0;
    char why[1024];
    for (int i = first; i < first + n; i++) {
        cap_part_t *p = &r->parts[i];
        if (p->done)
            continue;
        if (rd_kafka_consume_start_queue(rkt, p->id, p->next, q) != 0) {
            cap_say(r, "cannot read partition %d of %s: %s", (int)p->id, r->opts->hub,
                    rd_kafka_err2str(rd_kafka_last_error()));
            rc = -1;
            break;
        }
        p->started = 1;
        active++;
    }
    uint64_t limit = r->opts->count > 0 ? (uint64_t)r->opts->count : UINT64_MAX;
    while (rc == 0 && active > 0 && r->written < limit && !cap_interrupted) {
        rd_kafka_message_t *msgs[256];
        ssize_t got = rd_kafka_consume_batch_queue(q, 200, msgs, 256);
        for (ssize_t k = 0; k < got; k++) {
            rd_kafka_message_t *m = msgs[k];
            cap_part_t *p = cap_find(r, m->partition);
            if (rc == 0 && p && !p->done && r->written < limit) {
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    if (!r->opts->follow && m->offset >= p->end) {
                        p->done = 1;
                        active--;
                    }
                } else if (m->err) {
                    if (hf_kafka_error_is_permanent(m->err)) {
                        cap_say(r, "%s", hf_hub_client_describe(&r->hc, m->err,
                                                                rd_kafka_message_errstr(m),
                                                                why, sizeof(why)));
                        rc = -1;
                    } else {
                        cap_say(r, "partition %d: %s (retrying)", (int)m->partition,
                                rd_kafka_message_errstr(m));
                    }
                } else if (!r->opts->follow && m->offset >= p->end) {
                    p->done = 1;
                    active--;
                } else if (m->offset >= p->from) {
                    if (cap_write(r, m) < 0)
                        rc = -1;
                    p->next = m->offset + 1;
                    if (!r->opts->follow && p->next >= p->end) {
                        p->done = 1;
                        active--;
                    }
                }
            }
            rd_kafka_message_destroy(m);
        }
        if (rc == 0 && hf_hub_client_poll(&r->hc, 0)) {
            cap_say(r, "%s", hf_hub_client_describe(&r->hc, r->hc.failed, r->hc.failed_reason,
                                                    why, sizeof(why)));
            rc = -1;
        }
        if (r->opts->follow && got > 0)
            fflush(r->out);
        cap_show_progress(r, n == 1 ? &r->parts[first] : NULL);
    }
    for (int i = first; i < first + n; i++)
        if (r->parts[i].started) {
            rd_kafka_consume_stop(rkt, r->parts[i].id);
            r->parts[i].started = 0;
        }
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* Decide each partition's range. 0, or -1 after saying why. */
static int cap_plan(cap_run_t *r, int64_t from_ms)
{
    const hf_capture_opts_t *o = r->opts;
    char err[1024];
    int32_t *ids = hf_malloc(((size_t)r->partition_cnt + 1) * sizeof(*ids));
    int64_t *at_time = hf_malloc(((size_t)r->partition_cnt + 1) * sizeof(*at_time));
    int rc = 0;
    r->parts = hf_calloc((size_t)r->partition_cnt + 1, sizeof(*r->parts));
    for (int32_t id = 0; id < r->partition_cnt; id++)
        if (o->partition < 0 || o->partition == id)
            ids[r->parts_n++] = id;
    if (o->from_time &&
        hf_hub_client_offsets_for_time(&r->hc, ids, r->parts_n, from_ms, at_time, err,
                                       sizeof(err)) < 0) {
        cap_say(r, "%s", err);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < r->parts_n; i++) {
        cap_part_t *p = &r->parts[i];
        int64_t lo, hi;
        p->id = ids[i];
        if (hf_hub_client_watermarks(&r->hc, p->id, &lo, &hi, err, sizeof(err)) < 0) {
            cap_say(r, "partition %d: %s", (int)p->id, err);
            rc = -1;
            break;
        }
        p->from = lo;
        if (o->from_time)
            p->from = at_time[i] >= 0 ? at_time[i] : hi;
        else if (o->from_offset >= 0)
            p->from = o->from_offset;
        if (o->from_offset >= 0 && o->from_offset < lo)
            cap_say(r, "partition %d: offset %lld is no longer in the hub; from the oldest "
                    "event there, offset %lld", (int)p->id, (long long)o->from_offset,
                    (long long)lo);
        else if (o->from_offset >= hi && !o->follow && lo == hi)
            cap_say(r, "partition %d: nothing at or after offset %lld (it holds no event)",
                    (int)p->id, (long long)o->from_offset);
        else if (o->from_offset >= hi && !o->follow)
            cap_say(r, "partition %d: nothing at or after offset %lld (its newest event has "
                    "offset %lld)", (int)p->id, (long long)o->from_offset, (long long)hi - 1);
        if (p->from < lo)
            p->from = lo;
        /* Fetching starts where the hub can serve; events before `from` are skipped. */
        p->next = p->from > hi ? hi : p->from;
        p->end = hi;
        if (!o->follow && p->from >= hi)
            p->done = 1;
    }
    free(ids);
    free(at_time);
    return rc;
}

int hf_capture_main(const hf_capture_opts_t *opts)
{
    cap_run_t r;
    char err[1024];
    int64_t from_ms = 0;
    int rc = 0;

    memset(&r, 0, sizeof(r));
    r.opts = opts;
    r.progress = opts->progress < 0 ? isatty(2) : opts->progress;
    if (opts->from_time) {
        long long ms;
        if (hf_time_parse(opts->from_time, &ms) != 0) {
            cap_say(NULL, "--from-time needs an ISO 8601 date-time such as "
                    "2026-05-02T08:15:00Z, not \"%s\"", opts->from_time);
            return 2;
        }
        from_ms = ms;
    }
    if (hf_send_resolve_connection("capture", opts->connection, &r.conn) < 0)
        return 2;
    if (r.conn.entity_path && strcmp(r.conn.entity_path, opts->hub) != 0) {
        cap_say(NULL, "the connection is for hub %s (EntityPath) but HUB is %s: a hub-level "
                "policy can only read its own hub", r.conn.entity_path, opts->hub);
        hf_conn_free(&r.conn);
        return 2;
    }
    int use_stdout = !opts->output || strcmp(opts->output, "-") == 0;
    r.out_name = use_stdout ? "standard output" : opts->output;
    r.out = use_stdout ? stdout : fopen(opts->output, "wb");
    if (!r.out) {
        cap_say(NULL, "--output %s: %s", opts->output, strerror(errno));
        hf_conn_free(&r.conn);
        return 2;
    }
    if (hf_hub_client_open(&r.hc, &r.conn, NULL, opts->hub, err, sizeof(err)) < 0) {
        cap_say(NULL, "%s", err);
        rc = 2;
        goto done;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = cap_on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    r.t0_us = hf_mono_us();
    if (hf_hub_client_partitions(&r.hc, 30, &r.partition_cnt, err, sizeof(err)) < 0) {
        cap_say(NULL, "%s", err);
        rc = 1;
        goto done;
    }
    if (opts->partition >= r.partition_cnt) {
        cap_say(NULL, "hub %s has partitions 0-%d; there is no partition %d", opts->hub,
                r.partition_cnt - 1, opts->partition);
        rc = 2;
        goto done;
    }
    if (cap_plan(&r, from_ms) < 0) {
        rc = 1;
        goto done;
    }
    if (opts->follow) {
        rc = cap_read(&r, 0, r.parts_n) < 0 ? 1 : 0;
    } else {
        for (int i = 0; i < r.parts_n && rc == 0 && !cap_interrupted; i++) {
            if (opts->count > 0 && r.written >= (uint64_t)opts->count)
                break;
            if (!r.parts[i].done && cap_read(&r, i, 1) < 0)
                rc = 1;
        }
    }
    if (fflush(r.out) != 0 || ferror(r.out)) {
        if (rc == 0)
            cap_say(&r, "%s: %s", r.out_name, strerror(errno));
        rc = 1;
    }
    if (r.progress_shown) {
        fputs("\r\033[K", stderr);
        r.progress_shown = 0;
    }
    if (cap_interrupted && !opts->follow && rc == 0) {
        int stopped = 0;
        for (int i = 0; i < r.parts_n; i++)
            stopped += !r.parts[i].done;
        if (stopped && !(opts->count > 0 && r.written >= (uint64_t)opts->count)) {
            cap_say(&r, "interrupted before the end of %d partition%s", stopped,
                    stopped == 1 ? "" : "s");
            rc = 1;
        }
    }
    {
        double secs = (double)(hf_mono_us() - r.t0_us) / 1e6;
        fprintf(stderr, "captured %llu event%s from %s (%d partition%s) in %.*f s%s%s\n",
                (unsigned long long)r.written, r.written == 1 ? "" : "s", opts->hub, r.parts_n,
                r.parts_n == 1 ? "" : "s", secs < 10 ? 2 : 1, secs, use_stdout ? "" : " to ",
                use_stdout ? "" : opts->output);
    }

done:
    hf_hub_client_close(&r.hc);
    if (r.out && r.out != stdout)
        fclose(r.out);
    free(r.parts);
    free(r.headers);
    hf_buf_free(&r.line);
    hf_conn_free(&r.conn);
    return rc;
}
