/*
 * hubfn run: one function, no broker. Events come from a file, either one body per line
 * (--events) or capture records (--captured, capture_record.h); outputs go to stdout as
 * JSON lines, logs to stderr.
 */
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "binding.h"
#include "capture_record.h"
#include "json.h"
#include "log.h"
#include "lua_host.h"

/* Write one output as one JSON line, in its binding type's form (DESIGN.md: for an Event
   Hubs output {"binding","eventHubName","partitionKey","properties","body"}). */
static void print_output(const hf_function_t *fn, const hf_output_t *out)
{
    const hf_binding_t *b = &fn->outputs[out->binding];
    hf_buf_t line;
    hf_buf_init(&line);
    if (b->type->print) {
        b->type->print(b, out, &line);
    } else {
        hf_buf_append(&line, "{\"binding\":", 11);
        hf_json_put_string(&line, b->name, strlen(b->name));
        hf_buf_append(&line, "}", 1);
    }
    hf_buf_append(&line, "\n", 1);
    fwrite(line.data, 1, line.len, stdout);
    hf_buf_free(&line);
}

/* The event file, read a block at a time: a batch's events borrow their bytes from buf,
   so nothing is copied per event and memory stays at about one batch whatever the file
   size. */
typedef struct reader {
    FILE *f;
    char *buf;
    size_t cap, len;     /* bytes held */
    size_t pos;          /* start of the next line */
    int eof;
    int failed;          /* a read error (errno in err) */
    int err;
} reader_t;

/* Moves buf[keep..len) to the front (the lines of the batch being gathered and the
   unread rest), then reads more; returns how far the bytes moved. Sets eof at the end. */
static size_t reader_fill(reader_t *r, size_t keep)
{
    if (keep) {
        memmove(r->buf, r->buf + keep, r->len - keep);
        r->len -= keep;
        r->pos -= keep;
    }
    if (r->len == r->cap) {
        r->cap = r->cap ? r->cap * 2 : (size_t)1 << 20;
        r->buf = hf_realloc(r->buf, r->cap);
    }
    size_t got = fread(r->buf + r->len, 1, r->cap - r->len, r->f);
    r->len += got;
    if (got == 0) {
        r->eof = 1;
        if (ferror(r->f)) {
            r->failed = 1;
            r->err = errno;
        }
    }
    return keep;
}

/* What a run shares between its batches. */
typedef struct run_ctx {
    const hf_function_t *fn;
    hf_lua_t *lua;
    const char *input;           /* the input's name, for messages */
    int captured;                /* the input holds capture records */
    int live;
    int rc;
    size_t events, failed, failed_events, outputs;
} run_ctx_t;

/* Where a batch's events came from, for messages: "event on line 3", "events on lines
   3-7", or with capture records "partition 2 offsets 40-44 (lines 3-7)". */
static void batch_where(const run_ctx_t *x, const hf_batch_t *batch, const int64_t *lines,
                        char *where, size_t wsz)
{
    long long l0 = (long long)lines[0] + 1, l1 = (long long)lines[batch->events_n - 1] + 1;
    char in_lines[64];
    if (l0 == l1)
        snprintf(in_lines, sizeof(in_lines), "line %lld", l0);
    else
        snprintf(in_lines, sizeof(in_lines), "lines %lld-%lld", l0, l1);
    if (!x->captured) {
        snprintf(where, wsz, "event%s on %s", l0 == l1 ? "" : "s", in_lines);
        return;
    }
    long long o0 = (long long)batch->events[0].offset;
    long long o1 = (long long)batch->events[batch->events_n - 1].offset;
    if (batch->events_n == 1)
        snprintf(where, wsz, "partition %d offset %lld, %s", (int)batch->partition, o0,
                 in_lines);
    else
        snprintf(where, wsz, "partition %d offsets %lld-%lld, %s", (int)batch->partition, o0,
                 o1, in_lines);
}

/* Invoke the handler on a batch, print its outputs (delivering them with --live) and say
   what failed. lines[i]: the 0-based input line of event i. */
static void run_batch(run_ctx_t *x, hf_batch_t *batch, const int64_t *lines)
{
    const hf_function_t *fn = x->fn;
    hf_lua_invoke(x->lua, batch);
    x->events += batch->events_n;
    for (size_t i = 0; i < batch->outputs_n; i++) {
        const hf_output_t *out = &batch->outputs[i];
        const hf_binding_t *b = &fn->outputs[out->binding];
        char why[1024];
        print_output(fn, out);
        if (x->live && b->type->deliver_now && b->type->deliver_now(b, out, why, sizeof(why))) {
            hf_log_ctx_t ctx = HF_LOG_CTX_NONE;
            ctx.function = fn->name;
            hf_log_ctx(HF_LOG_ERROR, &ctx, "output %s not delivered: %s", b->name, why);
            x->rc = x->rc ? x->rc : 1;
        }
    }
    x->outputs += batch->outputs_n;
    fflush(stdout);
    if (batch->status != HF_BATCH_OK) {
        hf_log_ctx_t ctx = HF_LOG_CTX_NONE;
        ctx.function = fn->name;
        if (x->captured)
            ctx.partition = batch->partition;
        x->failed += (size_t)batch->failed_invocations;
        char where[128];
        batch_where(x, batch, lines, where, sizeof(where));
        size_t n = 0;
        for (size_t i = 0; i < batch->events_n; i++)
            n += !batch->event_failed || batch->event_failed[i];
        x->failed_events += n;
        if (batch->failed_invocations)
            hf_log_ctx(HF_LOG_ERROR, &ctx, "invocation failed (%s): %s", where,
                       batch->error ? batch->error : "unknown error");
        else
            /* the handler returned, but failed single events with context.fail */
            hf_log_ctx(HF_LOG_ERROR, &ctx, "%zu event%s failed through context.fail (%s): "
                       "%s", n, n == 1 ? "" : "s", where,
                       batch->error ? batch->error : "unknown error");
        x->rc = x->rc ? x->rc : 1;
    }
}

/* The next line of the reader: its bytes in *line (len *n, without "\r\n"), or 0 at the
   end of the input. The line stays valid until the next call. */
static int next_line(reader_t *rd, char **line, size_t *n)
{
    for (;;) {
        char *nl = rd->pos < rd->len ? memchr(rd->buf + rd->pos, '\n', rd->len - rd->pos)
                                     : NULL;
        if (!nl && !rd->eof) {
            reader_fill(rd, rd->pos);
            continue;
        }
        if (rd->pos >= rd->len)
            return 0;
        size_t end = nl ? (size_t)(nl - rd->buf) : rd->len;
        *line = rd->buf + rd->pos;
        *n = end - rd->pos;
        if (*n && (*line)[*n - 1] == '\r')
            (*n)--;
        rd->pos = nl ? end + 1 : rd->len;
        return 1;
    }
}

/* An event owning a copy of a capture record's bytes, as the trigger copies a message. */
static void event_from_record(hf_event_t *ev, const hf_capture_record_t *rec)
{
    size_t hbytes = 0;
    for (size_t i = 0; i < rec->headers_n; i++)
        hbytes += strlen(rec->headers[i].name) + 1 + rec->headers[i].value_len + 1;
    memset(ev, 0, sizeof(*ev));
    char *own = hf_malloc(rec->body_len + 1 + rec->key_len + 1 + hbytes);
    if (rec->body_len)
        memcpy(own, rec->body, rec->body_len);
    own[rec->body_len] = 0;
    ev->own = own;
    ev->payload = own;
    ev->len = rec->body_len;
    char *p = own + rec->body_len + 1;
    if (rec->key) {
        memcpy(p, rec->key, rec->key_len);
        p[rec->key_len] = 0;
        ev->key = p;
        ev->key_len = rec->key_len;
    }
    p += rec->key_len + 1;
    if (rec->headers_n) {
        ev->headers = hf_malloc(rec->headers_n * sizeof(*ev->headers));
        for (size_t i = 0; i < rec->headers_n; i++) {
            const hf_header_t *h = &rec->headers[i];
            size_t nl = strlen(h->name);
            memcpy(p, h->name, nl + 1);
            ev->headers[i].name = p;
            p += nl + 1;
            if (h->value) {
                memcpy(p, h->value, h->value_len);
                p[h->value_len] = 0;
                ev->headers[i].value = p;
                ev->headers[i].value_len = h->value_len;
                p += h->value_len + 1;
            } else {
                ev->headers[i].value = NULL;
                ev->headers[i].value_len = 0;
            }
        }
        ev->headers_n = rec->headers_n;
    }
    ev->partition = rec->partition;
    ev->offset = rec->offset;
    ev->enqueued_ms = rec->enqueued_ms;
    ev->received_us = hf_mono_us();
}

/* Most bad records reported one by one. */
#define RUN_MAX_BAD_SHOWN 20

/* --captured: capture records in the file's order, batched as the trigger batches a
   partition: a batch ends at max events or where the file moves to another partition, so
   no batch mixes partitions. (`hubfn capture` writes one partition after the other unless
   it follows a hub, so its batches are full.) A line that is no capture record is reported
   and skipped. */
static void run_captured(run_ctx_t *x, reader_t *rd, size_t max)
{
    hf_capture_reader_t crd = {0};
    hf_batch_t *batch = NULL;
    int64_t *lines = hf_malloc(max * sizeof(*lines));
    int64_t line_no = 0;
    size_t bad = 0, n;
    char *line, err[512];
    for (;;) {
        int more = next_line(rd, &line, &n);
        hf_capture_record_t rec;
        int64_t at = line_no++;
        int have = 0;
        if (more) {
            int blank = 1;
            for (size_t i = 0; i < n && blank; i++)
                blank = line[i] == ' ' || line[i] == '\t';
            if (blank)
                continue;
            if (hf_capture_record_read(&crd, line, n, &rec, err, sizeof(err)) != 0) {
                if (bad++ < RUN_MAX_BAD_SHOWN)
                    hf_log_error("%s:%lld: %s (not a capture record: skipped)", x->input,
                                 (long long)at + 1, err);
                continue;
            }
            have = 1;
        }
        if (batch && (!have || batch->partition != rec.partition)) {
            run_batch(x, batch, lines);
            hf_batch_free(batch);
            batch = NULL;
        }
        if (!have)
            break;
        if (!batch) {
            batch = hf_batch_new(max);
            batch->fn = x->fn;
            batch->fn_index = 0;
            batch->partition = rec.partition;
        }
        event_from_record(&batch->events[batch->events_n], &rec);
        lines[batch->events_n++] = at;
        if (batch->events_n == max) {
            run_batch(x, batch, lines);
            hf_batch_free(batch);
            batch = NULL;
        }
    }
    free(lines);
    hf_capture_reader_free(&crd);
    if (bad) {
        hf_log_error("%s: %zu line%s %s not capture records%s (skipped); `hubfn capture` writes "
                     "them, see docs/capture.md", x->input, bad, bad == 1 ? "" : "s",
                     bad == 1 ? "was" : "were",
                     bad > RUN_MAX_BAD_SHOWN ? ", the first 20 are shown" : "");
        x->rc = 2;
    }
}

/* --events: one body per line, batched in file order. */
static void run_bodies(run_ctx_t *x, reader_t *rd, size_t max)
{
    hf_batch_t *batch = NULL;
    size_t *starts = hf_malloc(max * sizeof(*starts));   /* where each event's line starts */
    int64_t *lines = hf_malloc(max * sizeof(*lines));
    int64_t line = 0, now = hf_now_ms();
    for (;;) {
        if (!batch) {
            batch = hf_batch_new(max);
            batch->fn = x->fn;
            batch->fn_index = 0;
        }
        char *nl = rd->pos < rd->len ? memchr(rd->buf + rd->pos, '\n', rd->len - rd->pos) : NULL;
        if (!nl && !rd->eof) {
            /* keep the batch's lines and the partial one, read more */
            size_t keep = batch->events_n ? starts[0] : rd->pos;
            size_t moved = reader_fill(rd, keep);
            for (size_t i = 0; i < batch->events_n; i++)
                starts[i] -= moved;
            continue;
        }
        if (rd->pos < rd->len) {
            size_t end = nl ? (size_t)(nl - rd->buf) : rd->len;
            size_t n = end - rd->pos;
            const char *p = rd->buf + rd->pos;
            if (n && p[n - 1] == '\r')
                n--;
            int blank = 1;
            for (size_t i = 0; i < n && blank; i++)
                blank = p[i] == ' ' || p[i] == '\t';
            if (!blank) {
                hf_event_t *ev = &batch->events[batch->events_n];
                lines[batch->events_n] = line;
                starts[batch->events_n++] = rd->pos;
                ev->len = n;
                ev->offset = line;
                ev->enqueued_ms = now;
                ev->partition = 0;
            }
            line++;
            rd->pos = nl ? end + 1 : rd->len;
            if (batch->events_n < max)
                continue;
        }
        if (batch->events_n == 0)
            break;                  /* the end of the input */
        for (size_t i = 0; i < batch->events_n; i++)
            batch->events[i].payload = rd->buf + starts[i];
        run_batch(x, batch, lines);
        hf_batch_free(batch);
        batch = NULL;
    }
    hf_batch_free(batch);
    free(starts);
    free(lines);
}

/* --state FILE: what the function's bindings keep between events (eventHubState), read
   before the first event. A file that does not exist yet is an empty state. */
static int state_load(const hf_function_t *fn, const char *path)
{
    char err[1024];
    int found = 0;
    FILE *in = fopen(path, "r");
    if (!in && errno != ENOENT) {
        hf_log_error("--state %s: %s", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < fn->outputs_n; i++) {
        const hf_binding_t *b = &fn->outputs[i];
        if (!b->type->run_load)
            continue;
        found = 1;
        if (!in)
            continue;
        rewind(in);
        if (b->type->run_load(fn, b, in, path, err, sizeof(err)) != 0) {
            hf_log_error("%s", err);
            fclose(in);
            return -1;
        }
    }
    if (in)
        fclose(in);
    if (!found)
        hf_log_warn("--state %s: function %s keeps no state (it has no eventHubState binding)",
                    path, fn->name);
    return 0;
}

/* ... and written back after the last one, through a temporary file. */
static int state_save(const hf_function_t *fn, const char *path)
{
    char err[1024], tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        hf_log_error("--state %s: %s", tmp, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < fn->outputs_n && rc == 0; i++) {
        const hf_binding_t *b = &fn->outputs[i];
        if (b->type->run_save && b->type->run_save(fn, b, out, err, sizeof(err)) != 0) {
            hf_log_error("--state %s: %s", path, err);
            rc = -1;
        }
    }
    if (fclose(out) != 0 && rc == 0) {
        hf_log_error("--state %s: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        hf_log_error("--state %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        remove(tmp);
    return rc;
}

int hf_run_main(const char *function_dir, const char *events_path, int captured, int live,
                const char *state_path)
{
    hf_app_t app;
    hf_app_opts_t aopts = {0, 0, function_dir};
    hf_lua_t lua;
    char err[2048];
    const char *opt = captured ? "--captured" : "--events";

    if (hf_app_load(&app, function_dir, &aopts, err, sizeof(err)) != 0) {
        hf_log_error("%s", err);
        return 2;
    }
    hf_log_set_level(app.host.log_default);
    hf_app_export_values(&app);
    for (size_t i = 0; i < app.warnings_n; i++)
        hf_log_warn("%s", app.warnings[i]);
    if (app.functions_n != 1) {
        hf_log_error("%s: not a function folder (it needs a function.json)", function_dir);
        hf_app_free(&app);
        return 2;
    }
    const hf_function_t *fn = &app.functions[0];
    FILE *f = strcmp(events_path, "-") == 0 ? stdin : fopen(events_path, "rb");
    if (!f) {
        hf_log_error("%s %s: %s", opt, events_path, strerror(errno));
        hf_app_free(&app);
        return 2;
    }
    reader_t rd = { f, NULL, 0, 0, 0, 0, 0, 0 };
    if (hf_lua_init(&lua, &app, err, sizeof(err)) != 0) {
        hf_log_error("%s", err);
        if (f != stdin)
            fclose(f);
        hf_app_free(&app);
        return 2;
    }

    if (state_path && state_load(fn, state_path) != 0) {
        if (f != stdin)
            fclose(f);
        hf_lua_close(&lua);
        hf_app_free(&app);
        return 2;
    }

    /* Cardinality one invokes the handler per event anyway; running each on its own lets
       every failure be reported with its line. */
    size_t max = fn->trigger.cardinality == HF_CARD_ONE ? 1 : (size_t)app.host.max_batch;
    if (max < 1)
        max = 1;
    run_ctx_t x;
    memset(&x, 0, sizeof(x));
    x.fn = fn;
    x.lua = &lua;
    x.input = f == stdin ? "stdin" : events_path;
    x.captured = captured;
    x.live = live;
    if (captured)
        run_captured(&x, &rd, max);
    else
        run_bodies(&x, &rd, max);
    free(rd.buf);
    if (rd.failed) {
        hf_log_error("%s %s: %s", opt, events_path, strerror(rd.err));
        x.rc = 2;
    }
    if (f != stdin)
        fclose(f);
    hf_log_info("%zu events, %zu outputs, %zu failed invocation%s, %zu failed event%s",
                x.events, x.outputs, x.failed, x.failed == 1 ? "" : "s", x.failed_events,
                x.failed_events == 1 ? "" : "s");
    if (state_path && state_save(fn, state_path) != 0 && x.rc == 0)
        x.rc = 1;
    hf_lua_close(&lua);
    hf_app_free(&app);
    return x.rc;
}
