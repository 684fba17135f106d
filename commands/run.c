#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "binding.h"
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

int hf_run_main(const char *function_dir, const char *events_path, int live,
                const char *state_path)
{
    hf_app_t app;
    hf_app_opts_t aopts = {0, 0, function_dir};
    hf_lua_t lua;
    char err[2048];
    int rc = 0;

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
        hf_log_error("--events %s: %s", events_path, strerror(errno));
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
    hf_batch_t *batch = NULL;
    size_t *starts = hf_malloc(max * sizeof(*starts));   /* where each event's line starts */
    int64_t line = 0, now = hf_now_ms();
    size_t events = 0, failed = 0, failed_events = 0, outputs = 0;
    for (;;) {
        if (!batch) {
            batch = hf_batch_new(max);
            batch->fn = fn;
            batch->fn_index = 0;
        }
        char *nl = rd.pos < rd.len ? memchr(rd.buf + rd.pos, '\n', rd.len - rd.pos) : NULL;
        if (!nl && !rd.eof) {
            /* keep the batch's lines and the partial one, read more */
            size_t keep = batch->events_n ? starts[0] : rd.pos;
            size_t moved = reader_fill(&rd, keep);
            for (size_t i = 0; i < batch->events_n; i++)
                starts[i] -= moved;
            continue;
        }
        if (rd.pos < rd.len) {
            size_t end = nl ? (size_t)(nl - rd.buf) : rd.len;
            size_t n = end - rd.pos;
            const char *p = rd.buf + rd.pos;
            if (n && p[n - 1] == '\r')
                n--;
            int blank = 1;
            for (size_t i = 0; i < n && blank; i++)
                blank = p[i] == ' ' || p[i] == '\t';
            if (!blank) {
                hf_event_t *ev = &batch->events[batch->events_n];
                starts[batch->events_n++] = rd.pos;
                ev->len = n;
                ev->offset = line;
                ev->enqueued_ms = now;
                ev->partition = 0;
            }
            line++;
            rd.pos = nl ? end + 1 : rd.len;
            if (batch->events_n < max)
                continue;
        }
        if (batch->events_n == 0)
            break;                  /* the end of the input */
        for (size_t i = 0; i < batch->events_n; i++)
            batch->events[i].payload = rd.buf + starts[i];
        hf_lua_invoke(&lua, batch);
        events += batch->events_n;
        for (size_t i = 0; i < batch->outputs_n; i++) {
            const hf_output_t *out = &batch->outputs[i];
            const hf_binding_t *b = &fn->outputs[out->binding];
            char why[1024];
            print_output(fn, out);
            if (live && b->type->deliver_now && b->type->deliver_now(b, out, why, sizeof(why))) {
                hf_log_ctx_t ctx = HF_LOG_CTX_NONE;
                ctx.function = fn->name;
                hf_log_ctx(HF_LOG_ERROR, &ctx, "output %s not delivered: %s", b->name, why);
                rc = 1;
            }
        }
        outputs += batch->outputs_n;
        fflush(stdout);
        if (batch->status != HF_BATCH_OK) {
            hf_log_ctx_t ctx = HF_LOG_CTX_NONE;
            ctx.function = fn->name;
            failed += (size_t)batch->failed_invocations;
            long long l0 = (long long)batch->events[0].offset + 1;
            long long l1 = (long long)batch->events[batch->events_n - 1].offset + 1;
            char where[64];
            if (l0 == l1)
                snprintf(where, sizeof(where), "event on line %lld", l0);
            else
                snprintf(where, sizeof(where), "events on lines %lld-%lld", l0, l1);
            size_t n = 0;
            for (size_t i = 0; i < batch->events_n; i++)
                n += !batch->event_failed || batch->event_failed[i];
            failed_events += n;
            if (batch->failed_invocations)
                hf_log_ctx(HF_LOG_ERROR, &ctx, "invocation failed (%s): %s", where,
                           batch->error ? batch->error : "unknown error");
            else
                /* the handler returned, but failed single events with context.fail */
                hf_log_ctx(HF_LOG_ERROR, &ctx, "%zu event%s failed through context.fail (%s): "
                           "%s", n, n == 1 ? "" : "s", where,
                           batch->error ? batch->error : "unknown error");
            rc = 1;
        }
        hf_batch_free(batch);
        batch = NULL;
    }
    hf_batch_free(batch);
    free(starts);
    free(rd.buf);
    if (rd.failed) {
        hf_log_error("--events %s: %s", events_path, strerror(rd.err));
        rc = 2;
    }
    if (f != stdin)
        fclose(f);
    hf_log_info("%zu events, %zu outputs, %zu failed invocation%s, %zu failed event%s", events,
                outputs, failed, failed == 1 ? "" : "s", failed_events,
                failed_events == 1 ? "" : "s");
    if (state_path && state_save(fn, state_path) != 0 && rc == 0)
        rc = 1;
    hf_lua_close(&lua);
    hf_app_free(&app);
    return rc;
}
