/*
 * The http output binding type: a handler's send() queues one HTTP request, delivered after
 * the handler returned and before the batch is checkpointed, through libcurl on the loop
 * (runtime/httpc.c). Per binding and instance: at most maxConcurrency requests in flight,
 * at most requestsPerSecond started (a token bucket), nothing new while a Retry-After is in
 * force. 408, 429, 5xx and transport failures are tried again with exponential backoff and
 * jitter until maxRetryTime, other 4xx fail at once; a request that fails for good fails
 * its invocation (the retry policy and the $deadLetter binding apply). While a binding has
 * a queue, the pipeline hands its function's partitions no new batches (backpressure), so
 * memory stays bounded and fetching stops at prefetchCount.
 *
 * Every request carries an Idempotency-Key that is the same each time the same event's
 * invocation runs (docs/lua-api.md says how it is made).
 *
 * Thread: `send` and `print` on a worker (or hubfn run's thread); the rest on the loop.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "base64.h"
#include "binding.h"
#include "conn.h"
#include "datetime.h"
#include "httpc.h"
#include "log.h"
#include "lua_bindings.h"
#include "lua_host.h"
#include "metrics.h"
#include "pipeline.h"
#include "utf8.h"

/* The bytes of a response kept for messages and dead-letter headers. */
#define KEEP_RESPONSE 512

typedef struct http_cfg {
    char *url;
    char *method;
    hf_strings_t headers;
    long long timeout_ms;
    int max_concurrency;
    int requests_per_second;
    long long max_retry_ms;
    char *ca_file;
} http_cfg_t;

/* What send() keeps beside the body and headers. */
typedef struct http_ext {
    char *method;
    char *target;                /* path and query, appended to url */
} http_ext_t;

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD",
                                      "OPTIONS", NULL};

extern const hf_binding_type_t hf_http_output_type;

static const char *const send_options[] = {"path", "method", "headers", "query", "event",
                                           "idempotencyKey", NULL};

static const hf_option_t http_options[] = {
    {"url", HF_OPT_STRING, offsetof(http_cfg_t, url), .flags = HF_OPT_REQUIRED,
     .help = "where requests go (%SETTING% expressions resolved); send's path is appended"},
    {"method", HF_OPT_STRING, offsetof(http_cfg_t, method), "\"POST\"",
     .help = "GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS; send may name another"},
    {"headers", HF_OPT_STRINGS, offsetof(http_cfg_t, headers),
     .flags = HF_OPT_SECRET, .help = "headers of every request (%SETTING% resolved; never printed)"},
    {"timeout", HF_OPT_DURATION, offsetof(http_cfg_t, timeout_ms), "\"00:00:10\"", 1, 0,
     .use = "00:00:10", .help = "one attempt, connecting included"},
    {"maxConcurrency", HF_OPT_INT, offsetof(http_cfg_t, max_concurrency), "16", 1, 10000,
     .help = "requests in flight at once, per binding and instance"},
    {"requestsPerSecond", HF_OPT_INT, offsetof(http_cfg_t, requests_per_second), "0", 0,
     1000000, .help = "requests started per second, per binding and instance (0: no limit)"},
    {"maxRetryTime", HF_OPT_DURATION, offsetof(http_cfg_t, max_retry_ms), "\"00:05:00\"", 0,
     0, .use = "00:05:00",
     .help = "how long 408, 429, 5xx and failed connections are tried again"},
    {"caFile", HF_OPT_STRING, offsetof(http_cfg_t, ca_file), .flags = HF_OPT_HUBFN,
     .help = "a PEM file of CAs to trust instead of the system's"},
    {NULL}
};

static http_cfg_t *cfg_of(const hf_binding_t *b)
{
    return b->cfg;
}

/* Header names whose values are credentials. */
static int secret_header(const char *name)
{
    static const char *const words[] = {"authorization", "api-key", "apikey", "api_key",
                                        "access-key", "subscription-key", "token", "secret",
                                        "cookie", "password", "signature", "session", NULL};
    for (size_t i = 0; words[i]; i++)
        if (strcasestr(name, words[i]))
            return 1;
    return 0;
}

static int http_load(hf_binding_t *b, hf_load_ctx_t *ctx, char *err, size_t errsz)
{
    http_cfg_t *c = cfg_of(b);
    if (strncasecmp(c->url, "http://", 7) != 0 && strncasecmp(c->url, "https://", 8) != 0) {
        snprintf(err, errsz, "%surl: \"%s\" is not an http:// or https:// URL", ctx->prefix,
                 c->url);
        return -1;
    }
    for (char *m = c->method; *m; m++)
        *m = (char)toupper((unsigned char)*m);
    int known = 0;
    for (size_t i = 0; methods[i]; i++)
        known |= strcmp(methods[i], c->method) == 0;
    if (!known) {
        snprintf(err, errsz, "%smethod: \"%s\" is not a method hubfn sends (use GET, POST, PUT, "
                 "PATCH, DELETE, HEAD or OPTIONS)", ctx->prefix, c->method);
        return -1;
    }
    for (size_t i = 0; i < c->headers.n; i++)
        if (secret_header(c->headers.keys[i]))
            hf_secret_add(c->headers.values[i]);
    if (c->ca_file && access(c->ca_file, R_OK) != 0) {
        snprintf(err, errsz, "%scaFile: cannot read %s", ctx->prefix, c->ca_file);
        return -1;
    }
    return 0;
}

static const char *http_describe(const hf_binding_t *b, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "%s %s", cfg_of(b)->method, cfg_of(b)->url);
    return buf;
}

static void http_lua_fields(lua_State *L, const hf_binding_t *b)
{
    lua_pushstring(L, cfg_of(b)->url);
    lua_setfield(L, -2, "url");
}

static void free_ext(void *p)
{
    http_ext_t *x = p;
    if (!x)
        return;
    free(x->method);
    free(x->target);
    free(x);
}

/* ---- Lua side (worker thread) ---- */

/* Append s URL-encoded (RFC 3986 unreserved characters kept). */
static void url_encode(hf_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            hf_buf_append(b, s + i, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            hf_buf_append(b, e, 3);
        }
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The query of opts.query (a table at idx), keys sorted so the URL is always the same. */
static void build_query(lua_State *L, int idx, hf_buf_t *q, const char *binding)
{
    const char *keys[256];
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "bindings.%s:send: query keys must be strings", binding);
        if (n == 256)
            luaL_error(L, "bindings.%s:send: more than 256 query parameters", binding);
        keys[n++] = lua_tostring(L, -2);
        lua_pop(L, 1);
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (size_t i = 0; i < n; i++) {
        lua_getfield(L, idx, keys[i]);
        int t = lua_type(L, -1);
        if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN)
            luaL_error(L, "bindings.%s:send: query.%s must be a string, a number or a boolean, "
                       "got %s", binding, keys[i], luaL_typename(L, -1));
        size_t vn;
        const char *v = t == LUA_TBOOLEAN ? (lua_toboolean(L, -1) ? "true" : "false")
                                          : lua_tolstring(L, -1, &vn);
        if (t == LUA_TBOOLEAN)
            vn = strlen(v);
        hf_buf_append(q, i ? "&" : "?", 1);
        url_encode(q, keys[i], strlen(keys[i]));
        hf_buf_append(q, "=", 1);
        url_encode(q, v, vn);
        lua_pop(L, 1);
    }
}

/* 128 bits of a byte string, as 32 hex digits (FNV-1a twice, then mixed), fed in pieces:
   the same as hashing the pieces joined. */
typedef struct key_hash {
    uint64_t a, b;
} key_hash_t;

static void key_feed(key_hash_t *k, const char *s, size_t n)
{
    uint64_t a = k->a, b = k->b;
    for (size_t i = 0; i < n; i++) {
        a = (a ^ (unsigned char)s[i]) * 0x100000001b3ULL;
        b = (b ^ (unsigned char)s[i]) * 0x1000193ULL + 0x9e3779b97f4a7c15ULL;
    }
    k->a = a;
    k->b = b;
}

/* "|" and the decimal digits of v */
static void key_feed_num(key_hash_t *k, long long v)
{
    char d[24], *p = d + sizeof(d);
    unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    *--p = '|';
    key_feed(k, p, (size_t)(d + sizeof(d) - p));
}

static void key_done(const key_hash_t *k, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v[2] = {k->a, k->b};
    for (int i = 0; i < 2; i++) {
        uint64_t x = v[i] ^ (v[i] >> 31);
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebULL;
        x ^= x >> 31;
        for (int j = 15; j >= 0; j--, x >>= 4)
            out[i * 16 + j] = hex[x & 15];
    }
    out[32] = 0;
}

static void add_header(hf_output_t *out, const char *name, const char *value, size_t len)
{
    for (size_t i = 0; i < out->headers_n; i++) {
        if (strcasecmp(out->headers[i].name, name) == 0) {
            free(out->headers[i].value);
            out->headers[i].value = hf_memdup(value, len);
            out->headers[i].value_len = len;
            return;
        }
    }
    hf_output_add_header(out, name, value, len);
}

static int has_header(const hf_output_t *out, const char *name)
{
    for (size_t i = 0; i < out->headers_n; i++)
        if (strcasecmp(out->headers[i].name, name) == 0)
            return 1;
    return 0;
}

/* binding:send(body [, {path=, method=, headers=, query=, event=, idempotencyKey=}]) */
static void http_send(lua_State *L, const hf_binding_t *b, int value, int opts, hf_output_t *out)
{
    http_ext_t *x = hf_calloc(1, sizeof(*x));
    out->ext = x;
    hf_buf_t target;
    hf_buf_init(&target);
    const char *key = NULL;
    size_t key_len = 0;
    int64_t event_offset = -1;
    if (opts && lua_istable(L, opts)) {
        lua_getfield(L, opts, "path");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "bindings.%s:send: path must be a string, got %s", b->name,
                           luaL_typename(L, -1));
            size_t n;
            const char *p = lua_tolstring(L, -1, &n);
            hf_buf_append(&target, p, n);
        }
        lua_pop(L, 1);
        lua_getfield(L, opts, "query");
        if (lua_istable(L, -1))
            build_query(L, lua_gettop(L), &target, b->name);
        else if (!lua_isnil(L, -1))
            luaL_error(L, "bindings.%s:send: query must be a table", b->name);
        lua_pop(L, 1);
        lua_getfield(L, opts, "method");
        if (!lua_isnil(L, -1)) {
            const char *m = lua_tostring(L, -1);
            char up[16];
            size_t k = 0;
            for (; m && m[k] && k + 1 < sizeof(up); k++)
                up[k] = (char)toupper((unsigned char)m[k]);
            up[k] = 0;
            int ok = 0;
            for (size_t i = 0; m && methods[i]; i++)
                ok |= strcmp(methods[i], up) == 0;
            if (!ok)
                luaL_error(L, "bindings.%s:send: method %s is not one hubfn sends (GET, POST, "
                           "PUT, PATCH, DELETE, HEAD or OPTIONS)", b->name,
                           m ? m : luaL_typename(L, -1));
            x->method = hf_strdup(up);
        }
        lua_pop(L, 1);
        lua_getfield(L, opts, "headers");
        if (lua_istable(L, -1)) {
            int ht = lua_gettop(L);
            lua_pushnil(L);
            while (lua_next(L, ht)) {
                if (lua_type(L, -2) != LUA_TSTRING ||
                    (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
                    luaL_error(L, "bindings.%s:send: headers must map names to strings",
                               b->name);
                size_t vn;
                const char *v = lua_tolstring(L, -1, &vn);
                add_header(out, lua_tostring(L, -2), v, vn);
                lua_pop(L, 1);
            }
        } else if (!lua_isnil(L, -1)) {
            luaL_error(L, "bindings.%s:send: headers must be a table", b->name);
        }
        lua_pop(L, 1);
        lua_getfield(L, opts, "idempotencyKey");
        if (!lua_isnil(L, -1))
            key = lua_tolstring(L, -1, &key_len);
        lua_pop(L, 1);
        lua_getfield(L, opts, "event");
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "offset");
            if (lua_isinteger(L, -1))
                event_offset = (int64_t)lua_tointeger(L, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    x->target = target.data ? target.data : hf_strdup("");
    hf_lua_output_body(L, value, out, b->name);
    if (out->body_is_json && !has_header(out, "Content-Type"))
        add_header(out, "Content-Type", "application/json", 16);
    char idk[33];
    if (!key) {
        /* the same each time the same event's invocation runs: the function, the binding,
           where the event is (its partition and offset: the invocation's own with
           cardinality one or `event`, else the batch's first), and which request of that
           event or batch this is */
        hf_batch_t *batch = hf_lua_of(L)->batch;
        int64_t at = event_offset;
        size_t first = 0, n = 0;
        hf_lua_invocation(L, &first, &n);
        if (at < 0 && first < batch->events_n)
            at = batch->events[first].offset;
        /* the hash of "function|binding|hub|partition|offset|ordinal" */
        key_hash_t k = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
        const char *hub = batch->hub ? batch->hub : "";
        key_feed(&k, batch->fn->name, strlen(batch->fn->name));
        key_feed(&k, "|", 1);
        key_feed(&k, b->name, strlen(b->name));
        key_feed(&k, "|", 1);
        key_feed(&k, hub, strlen(hub));
        key_feed_num(&k, (int)batch->partition);
        key_feed_num(&k, (long long)at);
        uint64_t ordinal = hf_lua_send_ordinal(L, b, at);
        char d[24], *p = d + sizeof(d);
        do
            *--p = (char)('0' + ordinal % 10);
        while (ordinal /= 10);
        *--p = '|';
        key_feed(&k, p, (size_t)(d + sizeof(d) - p));
        key_done(&k, idk);
        key = idk;
        key_len = 32;
    }
    add_header(out, "Idempotency-Key", key, key_len);
}

/* hubfn run's line: {"binding","method","url","headers","body"}, secrets masked. */
static void http_print(const hf_binding_t *b, const hf_output_t *out, hf_buf_t *line)
{
    const http_cfg_t *c = cfg_of(b);
    const http_ext_t *x = out->ext;
    const char *method = x && x->method ? x->method : c->method;
    hf_buf_append(line, "{\"binding\":", 11);
    hf_json_put_string(line, b->name, strlen(b->name));
    hf_buf_append(line, ",\"method\":", 10);
    hf_json_put_string(line, method, strlen(method));
    hf_buf_append(line, ",\"url\":", 7);
    hf_buf_t url;
    hf_buf_init(&url);
    hf_buf_append(&url, c->url, strlen(c->url));
    if (x && x->target)
        hf_buf_append(&url, x->target, strlen(x->target));
    char masked[4096];
    hf_secret_mask(url.data ? url.data : "", masked, sizeof(masked));
    hf_json_put_string(line, masked, strlen(masked));
    hf_buf_free(&url);
    hf_buf_append(line, ",\"headers\":{", 12);
    int first = 1;
    for (size_t i = 0; i < c->headers.n; i++) {
        if (!first)
            hf_buf_append(line, ",", 1);
        first = 0;
        hf_json_put_string(line, c->headers.keys[i], strlen(c->headers.keys[i]));
        hf_buf_append(line, ":\"***\"", 6);       /* configured headers hold credentials */
    }
    for (size_t i = 0; i < out->headers_n; i++) {
        const hf_header_t *h = &out->headers[i];
        if (!first)
            hf_buf_append(line, ",", 1);
        first = 0;
        hf_json_put_string(line, h->name, strlen(h->name));
        hf_buf_append(line, ":", 1);
        if (secret_header(h->name))
            hf_buf_append(line, "\"***\"", 5);
        else
            hf_json_put_string(line, h->value, h->value_len);
    }
    hf_buf_append(line, "}", 1);
    if (out->body_is_json) {
        hf_buf_append(line, ",\"body\":", 8);
        hf_buf_append(line, out->body, out->body_len);
    } else if (hf_utf8_valid(out->body, out->body_len)) {
        hf_buf_append(line, ",\"body\":", 8);
        hf_json_put_string(line, out->body, out->body_len);
    } else {
        hf_buf_append(line, ",\"bodyBase64\":\"", 15);
        hf_base64_encode(line, out->body, out->body_len);
        hf_buf_append(line, "\"", 1);
    }
    hf_buf_append(line, "}", 1);
}

static double backoff_s(int attempt);

/* hubfn run --live: the request now, tried again as the binding would (blocking). */
static int http_deliver_now(const hf_binding_t *b, const hf_output_t *out, char *why,
                            size_t whysz)
{
    const http_cfg_t *c = cfg_of(b);
    const http_ext_t *x = out->ext;
    const char *method = x && x->method ? x->method : c->method;
    hf_buf_t url;
    hf_buf_init(&url);
    hf_buf_append(&url, c->url, strlen(c->url));
    if (x && x->target)
        hf_buf_append(&url, x->target, strlen(x->target));
    size_t hn = c->headers.n + out->headers_n;
    hf_header_t *h = hf_calloc(hn ? hn : 1, sizeof(*h));
    for (size_t i = 0; i < c->headers.n; i++) {
        h[i].name = c->headers.keys[i];
        h[i].value = c->headers.values[i];
        h[i].value_len = strlen(c->headers.values[i]);
    }
    for (size_t i = 0; i < out->headers_n; i++)
        h[c->headers.n + i] = out->headers[i];
    hf_httpc_req_t q = {.method = method, .url = url.data, .headers = h, .headers_n = hn,
                        .body = strcmp(method, "GET") && strcmp(method, "HEAD")
                                    ? (out->body ? out->body : "") : NULL,
                        .body_len = out->body_len, .timeout_ms = (long)c->timeout_ms,
                        .ca_file = c->ca_file, .keep_body = KEEP_RESPONSE};
    hf_httpc_sync_t *s = hf_httpc_sync_new();
    int64_t first = hf_mono_us();
    int rc = -1;
    for (int attempt = 1;; attempt++) {
        hf_httpc_res_t res;
        hf_httpc_sync_run(s, &q, &res, 1, 0);
        int st = res.status;
        if (st >= 200 && st < 300) {
            rc = 0;
            hf_httpc_res_free(&res);
            break;
        }
        if (st)
            snprintf(why, whysz, "HTTP %d from %s %s: %.*s", st, method, url.data,
                     (int)(res.body.len < 200 ? res.body.len : 200),
                     res.body.data ? res.body.data : "");
        else
            snprintf(why, whysz, "%s %s: %s", method, url.data, res.error);
        double wait = st == 429 || st == 503
                          ? hf_httpc_retry_after(hf_httpc_res_header(&res, "retry-after"),
                                                 hf_now_ms()) : -1;
        int retry = res.retryable || st == 408 || st == 429 || st >= 500;
        hf_httpc_res_free(&res);
        double delay = backoff_s(attempt);
        if (wait > delay)
            delay = wait;
        if (!retry || (double)(hf_mono_us() - first) + delay * 1e6 >
                          (double)c->max_retry_ms * 1000)
            break;
        struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
        nanosleep(&ts, NULL);
    }
    hf_httpc_sync_free(s);
    free(h);
    hf_buf_free(&url);
    return rc;
}

/* ---- the host side (loop thread) ---- */

typedef struct outputs outputs_t;
typedef struct http_binding http_binding_t;

/* One message on its way. */
typedef struct req {
    http_binding_t *hb;
    hf_delivery_t *d;
    size_t i;
    const char *method;
    int attempts;
    int64_t first_us;
    ev_timer retry;
    struct req *next;            /* in the queue, or in the retrying list */
    struct req *fly_prev, *fly_next;   /* in flight */
} req_t;

/* One http binding of a function. */
struct http_binding {
    outputs_t *o;
    const hf_binding_t *b;
    const hf_function_t *fn;
    const http_cfg_t *cfg;
    hf_header_t *headers;        /* cfg's headers (every request's first) */
    size_t url_len;
    req_t *head, *tail;          /* waiting to start */
    req_t *retrying;             /* waiting for their retry's delay */
    req_t *flying;               /* sent, not answered */
    size_t queued, in_flight, waiting;
    double tokens;
    int64_t tokens_us;
    int64_t blocked_until_us;    /* a Retry-After in force */
    int64_t throttled_since_us;  /* waiting with a queue because of it or the bucket */
    int throttle_reason;         /* 0 none, 1 retry-after, 2 rate limit */
    int was_full;
    ev_timer wake;
    hf_series_t *m_status[5], *m_duration, *m_retries, *m_throttled[2], *m_in_flight;
};

struct outputs {
    hf_core_t *core;
    hf_httpc_t *client;
    http_binding_t *hbs;
    size_t n;
};

static void pump(http_binding_t *hb);

static http_binding_t *find(outputs_t *o, const hf_binding_t *b)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->hbs[i].b == b)
            return &o->hbs[i];
    return NULL;
}

static int binding_full(const http_binding_t *hb)
{
    return hb->queued >= (size_t)hb->cfg->max_concurrency ||
           (hb->queued > 0 && hb->blocked_until_us > hf_mono_us());
}

/* Let the pipeline go on when the binding has room again. */
static void check_room(http_binding_t *hb)
{
    int full = binding_full(hb);
    if (hb->was_full && !full)
        hf_pipeline_resume(hf_core_pipeline(hb->o->core));
    hb->was_full = full;
}

static void throttle(http_binding_t *hb, int reason)
{
    int64_t now = hf_mono_us();
    if (hb->throttle_reason == reason)
        return;
    if (hb->throttle_reason)
        hf_series_add(hb->m_throttled[hb->throttle_reason - 1],
                      (double)(now - hb->throttled_since_us) / 1e6);
    hb->throttle_reason = reason;
    hb->throttled_since_us = now;
}

static void req_free(req_t *r)
{
    free(r);
}

/* The message is delivered, or failed for good. */
static void finish(req_t *r, int ok, const char *why, int status, const char *resp, size_t n)
{
    hf_delivery_t *d = r->d;
    size_t i = r->i;
    req_free(r);
    if (ok)
        hf_delivery_report(d, i, 1, NULL);
    else
        hf_delivery_fail(d, i, why, status, resp, n);
}

static void enqueue(http_binding_t *hb, req_t *r, int front)
{
    r->next = NULL;
    if (front) {
        r->next = hb->head;
        hb->head = r;
        if (!hb->tail)
            hb->tail = r;
    } else {
        if (hb->tail)
            hb->tail->next = r;
        else
            hb->head = r;
        hb->tail = r;
    }
    hb->queued++;
}

static void on_retry_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    req_t *r = w->data;
    http_binding_t *hb = r->hb;
    for (req_t **pp = &hb->retrying; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    hb->waiting--;
    enqueue(hb, r, 1);
    pump(hb);
}

/* Exponential backoff with jitter before attempt number `attempt` (1 = the first retry). */
static double backoff_s(int attempt)
{
    double s = 0.5;
    for (int k = 1; k < attempt && s < 30; k++)
        s *= 2;
    if (s > 30)
        s = 30;
    return s * (0.5 + (double)(hf_mono_us() % 1000) / 1000.0);
}

static void on_done(void *ud, hf_httpc_res_t *res)
{
    req_t *r = ud;
    http_binding_t *hb = r->hb;
    if (r->fly_prev)
        r->fly_prev->fly_next = r->fly_next;
    else
        hb->flying = r->fly_next;
    if (r->fly_next)
        r->fly_next->fly_prev = r->fly_prev;
    r->fly_prev = r->fly_next = NULL;
    hb->in_flight--;
    hf_series_set(hb->m_in_flight, (double)hb->in_flight);
    hf_series_observe(hb->m_duration, res->seconds);
    int st = res->status;
    hf_series_add(hb->m_status[st >= 200 && st < 600 ? st / 100 - 2 : 4], 1);
    char what[600];
    if (st >= 200 && st < 300) {
        finish(r, 1, NULL, st, NULL, 0);
        pump(hb);
        return;
    }
    int retry = res->retryable || st == 408 || st == 429 || st >= 500;
    double wait = -1;
    if (st == 429 || st == 503) {
        wait = hf_httpc_retry_after(hf_httpc_res_header(res, "retry-after"), hf_now_ms());
        if (wait > 0) {
            /* nothing new goes to this host until then */
            int64_t until = hf_mono_us() + (int64_t)(wait * 1e6);
            if (until > hb->blocked_until_us)
                hb->blocked_until_us = until;
        }
    }
    if (st)
        snprintf(what, sizeof(what), "HTTP %d from %s %s%s%.*s", st, r->method, hb->cfg->url,
                 res->body.len ? ": " : "", (int)(res->body.len < 200 ? res->body.len : 200),
                 res->body.data ? res->body.data : "");
    else
        snprintf(what, sizeof(what), "%s %s: %s", r->method, hb->cfg->url, res->error);
    for (char *c = what; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    if (!retry) {
        if (st >= 300 && st < 400)
            strncat(what, " (redirects are not followed: point url at the final address)",
                    sizeof(what) - strlen(what) - 1);
        finish(r, 0, what, st, res->body.data, res->body.len);
        pump(hb);
        return;
    }
    double delay = backoff_s(r->attempts);
    if (wait > delay)
        delay = wait;
    int64_t spent = hf_mono_us() - r->first_us;
    if ((double)spent + delay * 1e6 > (double)hb->cfg->max_retry_ms * 1000) {
        char msg[800];
        snprintf(msg, sizeof(msg), "gave up after %d attempt%s in %.0f s (maxRetryTime): %s",
                 r->attempts, r->attempts == 1 ? "" : "s", (double)spent / 1e6, what);
        finish(r, 0, msg, st, res->body.data, res->body.len);
        pump(hb);
        return;
    }
    hf_series_add(hb->m_retries, 1);
    r->next = hb->retrying;
    hb->retrying = r;
    hb->waiting++;
    ev_timer_init(&r->retry, on_retry_timer, delay, 0);
    r->retry.data = r;
    ev_timer_start(hf_core_loop(hb->o->core), &r->retry);
    pump(hb);
}

static void on_wake(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    pump(w->data);
}

/* Take a token of the bucket; 0 when none is there yet. */
static int take_token(http_binding_t *hb, double *wait_s)
{
    int rate = hb->cfg->requests_per_second;
    if (rate <= 0)
        return 1;
    int64_t now = hf_mono_us();
    double burst = rate >= 10 ? rate / 10.0 : 1.0;   /* at most 100 ms worth at once */
    hb->tokens += (double)(now - hb->tokens_us) / 1e6 * rate;
    hb->tokens_us = now;
    if (hb->tokens > burst)
        hb->tokens = burst;
    if (hb->tokens >= 1) {
        hb->tokens -= 1;
        return 1;
    }
    *wait_s = (1 - hb->tokens) / rate;
    return 0;
}

/* Start what the binding's limits allow. */
static void pump(http_binding_t *hb)
{
    struct ev_loop *loop = hf_core_loop(hb->o->core);
    int64_t now = hf_mono_us();
    while (hb->head && hb->in_flight < (size_t)hb->cfg->max_concurrency) {
        double wait = 0;
        if (hb->blocked_until_us > now) {
            throttle(hb, 1);
            wait = (double)(hb->blocked_until_us - now) / 1e6;
        } else if (!take_token(hb, &wait)) {
            throttle(hb, 2);
        }
        if (wait > 0) {
            if (!ev_is_active(&hb->wake)) {
                ev_timer_set(&hb->wake, wait, 0);
                ev_timer_start(loop, &hb->wake);
            }
            break;
        }
        req_t *r = hb->head;
        hb->head = r->next;
        if (!hb->head)
            hb->tail = NULL;
        hb->queued--;
        r->attempts++;
        hb->in_flight++;
        r->fly_prev = NULL;
        r->fly_next = hb->flying;
        if (hb->flying)
            hb->flying->fly_prev = r;
        hb->flying = r;
        hf_series_set(hb->m_in_flight, (double)hb->in_flight);
        /* the URL and the header list only for the call: hf_httpc_send copies them */
        const hf_output_t *msg = hf_delivery_msg(r->d, r->i);
        const http_ext_t *x = msg->ext;
        size_t tl = x && x->target ? strlen(x->target) : 0;
        char url_stack[512], *url = url_stack;
        if (hb->url_len + tl + 1 > sizeof(url_stack))
            url = hf_malloc(hb->url_len + tl + 1);
        memcpy(url, hb->cfg->url, hb->url_len);
        if (tl)
            memcpy(url + hb->url_len, x->target, tl);
        url[hb->url_len + tl] = 0;
        size_t cn = hb->cfg->headers.n, hn = cn + msg->headers_n;
        hf_header_t h_stack[16], *h = h_stack;
        if (hn > 16)
            h = hf_malloc(hn * sizeof(*h));
        if (cn)
            memcpy(h, hb->headers, cn * sizeof(*h));
        if (msg->headers_n)
            memcpy(h + cn, msg->headers, msg->headers_n * sizeof(*h));
        hf_httpc_req_t q = {.method = r->method, .url = url, .headers = h, .headers_n = hn,
                            .body = strcmp(r->method, "GET") && strcmp(r->method, "HEAD")
                                        ? (msg->body ? msg->body : "") : NULL,
                            .body_len = msg->body_len, .timeout_ms = (long)hb->cfg->timeout_ms,
                            .ca_file = hb->cfg->ca_file, .keep_body = KEEP_RESPONSE};
        hf_httpc_send(hb->o->client, &q, on_done, r);
        if (url != url_stack)
            free(url);
        if (h != h_stack)
            free(h);
    }
    if (!hb->head || (hb->blocked_until_us <= now && hb->in_flight < (size_t)hb->cfg->max_concurrency &&
                      !ev_is_active(&hb->wake)))
        throttle(hb, 0);
    check_room(hb);
}

static void http_deliver(void *state, hf_delivery_t *d, size_t i)
{
    outputs_t *o = state;
    const hf_binding_t *b = hf_delivery_binding(d, i);
    http_binding_t *hb = find(o, b);
    if (!hb) {
        hf_delivery_report(d, i, 0, "the binding is not running");
        return;
    }
    const hf_output_t *msg = hf_delivery_msg(d, i);
    const http_ext_t *x = msg->ext;
    req_t *r = hf_calloc(1, sizeof(*r));
    r->hb = hb;
    r->d = d;
    r->i = i;
    r->method = x && x->method ? x->method : hb->cfg->method;
    r->first_us = hf_mono_us();
    enqueue(hb, r, 0);
    pump(hb);
}

static int http_full(void *state, const hf_binding_t *b)
{
    http_binding_t *hb = find(state, b);
    return hb && binding_full(hb);
}

static void http_poll(void *state, int timeout_ms)
{
    hf_httpc_poll(((outputs_t *)state)->client, timeout_ms);
}

static size_t http_in_flight(void *state)
{
    outputs_t *o = state;
    size_t n = 0;
    for (size_t i = 0; i < o->n; i++)
        n += o->hbs[i].queued + o->hbs[i].in_flight + o->hbs[i].waiting;
    return n;
}

static int http_start(hf_core_t *core, void **state, char *err, size_t errsz)
{
    (void)err, (void)errsz;
    hf_app_t *app = hf_core_app(core);
    hf_metrics_t *reg = hf_core_metrics(core);
    outputs_t *o = hf_calloc(1, sizeof(*o));
    o->core = core;
    o->client = hf_httpc_new(hf_core_loop(core));
    size_t n = 0;
    for (size_t f = 0; f < app->functions_n; f++)
        for (size_t i = 0; !app->functions[f].disabled && i < app->functions[f].outputs_n; i++)
            n += app->functions[f].outputs[i].type == &hf_http_output_type;
    o->hbs = hf_calloc(n ? n : 1, sizeof(*o->hbs));
    static const char *const classes[] = {"2xx", "3xx", "4xx", "5xx", "error"};
    for (size_t f = 0; f < app->functions_n; f++) {
        const hf_function_t *fn = &app->functions[f];
        for (size_t i = 0; !fn->disabled && i < fn->outputs_n; i++) {
            const hf_binding_t *b = &fn->outputs[i];
            if (b->type != &hf_http_output_type)
                continue;
            http_binding_t *hb = &o->hbs[o->n++];
            hb->o = o;
            hb->b = b;
            hb->fn = fn;
            hb->cfg = cfg_of(b);
            hb->url_len = strlen(hb->cfg->url);
            hb->headers = hf_calloc(hb->cfg->headers.n ? hb->cfg->headers.n : 1,
                                    sizeof(*hb->headers));
            for (size_t h = 0; h < hb->cfg->headers.n; h++) {
                hb->headers[h].name = hb->cfg->headers.keys[h];
                hb->headers[h].value = hb->cfg->headers.values[h];
                hb->headers[h].value_len = strlen(hb->cfg->headers.values[h]);
            }
            hb->tokens = 1;
            hb->tokens_us = hf_mono_us();
            ev_init(&hb->wake, on_wake);
            hb->wake.data = hb;
            for (int c = 0; c < 5; c++)
                hb->m_status[c] = hf_metric_series(hf_metrics_get(reg, HF_M_HTTP_REQUESTS),
                                                   fn->name, b->name, classes[c]);
            hb->m_duration = hf_metric_series(hf_metrics_get(reg, HF_M_HTTP_DURATION),
                                              fn->name, b->name);
            hb->m_retries = hf_metric_series(hf_metrics_get(reg, HF_M_HTTP_RETRIES), fn->name,
                                             b->name);
            hb->m_throttled[0] = hf_metric_series(hf_metrics_get(reg, HF_M_HTTP_THROTTLED),
                                                  fn->name, b->name, "retry-after");
            hb->m_throttled[1] = hf_metric_series(hf_metrics_get(reg, HF_M_HTTP_THROTTLED),
                                                  fn->name, b->name, "rate-limit");
            hb->m_in_flight = hf_metric_series(hf_metrics_get(reg, HF_M_HTTP_IN_FLIGHT),
                                               fn->name, b->name);
            hf_series_set(hb->m_in_flight, 0);
            hf_log_info("function %s: binding %s sends to %s %s (at most %d at once%s)",
                        fn->name, b->name, hb->cfg->method, hb->cfg->url,
                        hb->cfg->max_concurrency,
                        hb->cfg->requests_per_second ? ", rate limited" : "");
        }
    }
    *state = o;
    return 0;
}

static void http_close(void *state, int abandon)
{
    (void)abandon;
    outputs_t *o = state;
    if (!o)
        return;
    struct ev_loop *loop = hf_core_loop(o->core);
    hf_httpc_free(o->client);    /* requests in flight are dropped: not checkpointed */
    for (size_t i = 0; i < o->n; i++) {
        http_binding_t *hb = &o->hbs[i];
        ev_timer_stop(loop, &hb->wake);
        while (hb->head) {
            req_t *r = hb->head;
            hb->head = r->next;
            req_free(r);
        }
        while (hb->retrying) {
            req_t *r = hb->retrying;
            hb->retrying = r->next;
            ev_timer_stop(loop, &r->retry);
            req_free(r);
        }
        while (hb->flying) {
            req_t *r = hb->flying;
            hb->flying = r->fly_next;
            req_free(r);
        }
        free(hb->headers);
    }
    free(o->hbs);
    free(o);
}

static int http_idle(void *state)
{
    return http_in_flight(state) == 0;
}

const hf_binding_type_t hf_http_output_type = {
    .name = "http",
    .direction = HF_DIR_OUT,
    .options = http_options,
    .cfg_size = sizeof(http_cfg_t),
    .summary = "HTTP requests to a third-party API, with retries, rate limits and backpressure",
    .load = http_load,
    .describe = http_describe,
    .lua_fields = http_lua_fields,
    .send = http_send,
    .send_options = send_options,
    .print = http_print,
    .free_ext = free_ext,
    .deliver_now = http_deliver_now,
    .start = http_start,
    .close = http_close,
    .deliver = http_deliver,
    .poll = http_poll,
    .in_flight = http_in_flight,
    .idle = http_idle,
    .full = http_full,
};
