#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "lua_host.h"

/* Write the JSON text of the value on top of the stack to stdout and pop it. */
static void put_json(lua_State *L)
{
    hf_buf_t buf;
    char err[256];
    hf_buf_init(&buf);
    if (hf_json_encode(L, -1, &buf, err, sizeof(err)) == 0)
        fwrite(buf.data, 1, buf.len, stdout);
    else
        fputs("null", stdout);
    hf_buf_free(&buf);
    lua_pop(L, 1);
}

/* Write one output as the JSON line DESIGN.md specifies. */
static void print_output(hf_lua_t *lua, const hf_function_t *fn, const hf_output_t *out)
{
    lua_State *L = lua->L;
    const hf_binding_t *b = &fn->outputs[out->binding];

    fputs("{\"binding\":", stdout);
    lua_pushstring(L, b->name);
    put_json(L);
    fputs(",\"eventHubName\":", stdout);
    lua_pushstring(L, b->hub ? b->hub : "");
    put_json(L);
    fputs(",\"partitionKey\":", stdout);
    if (out->key)
        lua_pushlstring(L, out->key, out->key_len);
    else
        hf_json_push_null(L);
    put_json(L);
    fputs(",\"properties\":", stdout);
    lua_createtable(L, 0, (int)out->headers_n);
    for (size_t i = 0; i < out->headers_n; i++) {
        lua_pushlstring(L, out->headers[i].value, out->headers[i].value_len);
        lua_setfield(L, -2, out->headers[i].name);
    }
    put_json(L);
    fputs(",\"body\":", stdout);
    if (out->body_is_json) {
        fwrite(out->body, 1, out->body_len, stdout);
    } else {
        lua_pushlstring(L, out->body, out->body_len);
        put_json(L);
    }
    fputs("}\n", stdout);
}

/* Read the whole stream into memory. */
static char *slurp(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *data = malloc(cap);
    size_t got;
    while (data && (got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *grown = realloc(data, cap * 2);
            if (!grown) {
                free(data);
                return NULL;
            }
            data = grown;
            cap *= 2;
        }
    }
    *len = n;
    return data;
}

int hf_run_main(const char *function_dir, const char *events_path)
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
    size_t len;
    char *data = slurp(f, &len);
    if (f != stdin)
        fclose(f);
    if (!data) {
        hf_log_error("--events %s: out of memory", events_path);
        hf_app_free(&app);
        return 2;
    }
    if (hf_lua_init(&lua, &app, err, sizeof(err)) != 0) {
        hf_log_error("%s", err);
        free(data);
        hf_app_free(&app);
        return 2;
    }

    size_t max = (size_t)app.host.max_batch;
    hf_batch_t *batch = NULL;
    int64_t offset = 0, now = hf_now_ms();
    size_t events = 0, failed = 0, outputs = 0;
    char *p = data, *end = data + len;
    while (p < end || (batch && batch->events_n)) {
        if (!batch) {
            batch = hf_batch_new(max);
            batch->fn = fn;
            batch->fn_index = 0;
            batch->hub = fn->trigger.hub;
        }
        if (p < end) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            char *line_end = nl ? nl : end;
            size_t n = (size_t)(line_end - p);
            if (n && p[n - 1] == '\r')
                n--;
            int blank = 1;
            for (size_t i = 0; i < n && blank; i++)
                blank = p[i] == ' ' || p[i] == '\t';
            if (!blank) {
                hf_event_t *ev = &batch->events[batch->events_n++];
                ev->own = malloc(n + 1);
                memcpy(ev->own, p, n);
                ev->own[n] = 0;
                ev->payload = ev->own;
                ev->len = n;
                ev->offset = offset;
                ev->enqueued_ms = now;
                ev->partition = 0;
            }
            offset++;
            p = line_end + 1;
            if (batch->events_n < max && p < end)
                continue;
        }
        if (batch->events_n == 0) {
            hf_batch_free(batch);
            batch = NULL;
            break;
        }
        hf_lua_invoke(&lua, batch);
        events += batch->events_n;
        for (size_t i = 0; i < batch->outputs_n; i++)
            print_output(&lua, fn, &batch->outputs[i]);
        outputs += batch->outputs_n;
        fflush(stdout);
        if (batch->status != HF_BATCH_OK) {
            hf_log_ctx_t ctx = HF_LOG_CTX_NONE;
            ctx.function = fn->name;
            failed += (size_t)batch->failed_invocations;
            hf_log_ctx(HF_LOG_ERROR, &ctx, "invocation failed (events on lines %lld-%lld): %s",
                       (long long)batch->events[0].offset + 1,
                       (long long)batch->events[batch->events_n - 1].offset + 1,
                       batch->error ? batch->error : "unknown error");
            rc = 1;
        }
        hf_batch_free(batch);
        batch = NULL;
    }
    hf_log_info("%zu events, %zu outputs, %zu failed invocations", events, outputs, failed);
    hf_lua_close(&lua);
    free(data);
    hf_app_free(&app);
    return rc;
}
