/*
 * require("hubfn").http: request{...} and requests{...}. See lua_http.h.
 */
#include "lua_http.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "httpc.h"
#include "json.h"
#include "log.h"
#include "lua_host.h"

/* The largest response body a handler gets. */
#define HF_LUA_HTTP_MAX_BODY (64u << 20)
/* A request's timeout when it names none, in seconds. */
#define HF_LUA_HTTP_TIMEOUT 30

/* What one request table holds; strings point into the Lua values, which stay on the
   stack while the request runs. */
typedef struct lreq {
    hf_httpc_req_t q;
    hf_header_t *headers;
    hf_buf_t body;               /* a table body, as JSON */
} lreq_t;

/* Read the request table at idx into r; raises on a bad field. `what` names it in errors. */
static void read_request(lua_State *L, int idx, lreq_t *r, const char *what)
{
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: expected a table { url = ..., method = ..., headers = ..., body = "
                   "..., timeout = ... }, got %s", what, luaL_typename(L, idx));
    memset(r, 0, sizeof(*r));
    lua_getfield(L, idx, "url");
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: url must be a string", what);
    r->q.url = lua_tostring(L, -1);
    lua_pop(L, 1);              /* the table holds the string */
    lua_getfield(L, idx, "method");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: method must be a string", what);
    r->q.method = lua_tostring(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, idx, "body");
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n;
        r->q.body = lua_tolstring(L, -1, &n);
        r->q.body_len = n;
    } else if (!lua_isnil(L, -1)) {
        char err[256];
        if (hf_json_encode(L, lua_gettop(L), &r->body, err, sizeof(err)) != 0)
            luaL_error(L, "%s: body: cannot encode as JSON: %s", what, err);
        r->q.body = r->body.data;
        r->q.body_len = r->body.len;
    }
    int json_body = lua_istable(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, idx, "timeout");
    double timeout = lua_isnil(L, -1) ? HF_LUA_HTTP_TIMEOUT : lua_tonumber(L, -1);
    if (timeout <= 0)
        luaL_error(L, "%s: timeout must be a number of seconds above 0", what);
    r->q.timeout_ms = (long)(timeout * 1000);
    lua_pop(L, 1);
    lua_getfield(L, idx, "headers");
    size_t n = 0, cap = 0;
    if (lua_istable(L, -1)) {
        int ht = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, ht)) {
            if (lua_type(L, -2) != LUA_TSTRING ||
                (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
                luaL_error(L, "%s: headers must map names to strings", what);
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                r->headers = hf_realloc(r->headers, cap * sizeof(*r->headers));
            }
            size_t vn;
            lua_pushvalue(L, -1);            /* a number becomes a string the table keeps */
            const char *v = lua_tolstring(L, -1, &vn);
            r->headers[n].name = (char *)lua_tostring(L, -3);
            r->headers[n].value = hf_memdup(v, vn);
            r->headers[n].value_len = vn;
            n++;
            lua_pop(L, 2);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "%s: headers must be a table", what);
    }
    lua_pop(L, 1);
    if (json_body) {
        if (n == cap)
            r->headers = hf_realloc(r->headers, (cap = cap + 1) * sizeof(*r->headers));
        r->headers[n].name = "Content-Type";
        r->headers[n].value = hf_strdup("application/json");
        r->headers[n].value_len = 16;
        n++;
    }
    r->q.headers = r->headers;
    r->q.headers_n = n;
    r->q.keep_body = HF_LUA_HTTP_MAX_BODY;
}

static void free_request(lreq_t *r)
{
    for (size_t i = 0; i < r->q.headers_n; i++)
        free(r->headers[i].value);
    free(r->headers);
    hf_buf_free(&r->body);
}

/* Push { status =, headers = {name = value}, body = } for a response. */
static void push_response(lua_State *L, const hf_httpc_res_t *res)
{
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, res->status);
    lua_setfield(L, -2, "status");
    lua_createtable(L, 0, (int)res->headers_n);
    for (size_t i = 0; i < res->headers_n; i++) {
        lua_pushlstring(L, res->headers[i].value, res->headers[i].value_len);
        lua_setfield(L, -2, res->headers[i].name);
    }
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, res->body.data ? res->body.data : "", res->body.len);
    lua_setfield(L, -2, "body");
}

/* The deadline of the calling invocation (functionTimeout), 0 when there is none. */
static int64_t deadline(lua_State *L)
{
    return hf_lua_of(L)->deadline_us;
}

/* The requests of one call and their answers, in a userdata at stack index 2 of the call,
   so that an error (a bad field) or a coroutine that never resumes frees them too. */
typedef struct pending {
    size_t n;
    lreq_t *reqs;                /* freed once the requests are started */
    hf_httpc_res_t *res;         /* the answers, once they came */
} pending_t;

static void pending_free_reqs(pending_t *p)
{
    for (size_t i = 0; p->reqs && i < p->n; i++)
        free_request(&p->reqs[i]);
    free(p->reqs);
    p->reqs = NULL;
}

static int l_pending_gc(lua_State *L)
{
    pending_t *p = lua_touserdata(L, 1);
    pending_free_reqs(p);
    for (size_t i = 0; p->res && i < p->n; i++)
        hf_httpc_res_free(&p->res[i]);
    free(p->res);
    p->res = NULL;
    return 0;
}

static const char pending_mt = 0;

/* Push a pending_t for n requests (at index 2: the caller settled the stack to 1). */
static pending_t *pending_new(lua_State *L, size_t n)
{
    pending_t *p = lua_newuserdatauv(L, sizeof(*p), 0);
    memset(p, 0, sizeof(*p));
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &pending_mt) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, l_pending_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &pending_mt);
    }
    lua_setmetatable(L, -2);
    p->reqs = hf_calloc(n ? n : 1, sizeof(*p->reqs));
    p->res = hf_calloc(n ? n : 1, sizeof(*p->res));
    p->n = n;
    return p;
}

static int finish_request(lua_State *L, int status, lua_KContext ctx);
static int finish_requests(lua_State *L, int status, lua_KContext ctx);

/* Send the pending requests. Inside a handler's own invocation they run while the worker
   serves other invocations (this one yields, and `k` continues when the answers are
   there); anywhere else (a coroutine of the script's, a module's top level) the call
   waits for them. */
static int perform(lua_State *L, pending_t *p, lua_KFunction k)
{
    hf_lua_t *lua = hf_lua_of(L);
    hf_httpc_req_t *qs = hf_calloc(p->n ? p->n : 1, sizeof(*qs));
    for (size_t i = 0; i < p->n; i++)
        qs[i] = p->reqs[i].q;
    if (hf_lua_can_suspend(L)) {
        hf_httpc_group_t *g = hf_httpc_sync_start(lua->http, qs, p->res, p->n, deadline(L),
                                                  hf_lua_inv_ud(L));
        free(qs);
        pending_free_reqs(p);    /* started: libcurl has its own copies */
        hf_lua_suspend(L, g);
        return lua_yieldk(L, 0, 0, k);
    }
    hf_httpc_sync_run(lua->http, qs, p->res, p->n, deadline(L));
    free(qs);
    pending_free_reqs(p);
    return k(L, LUA_OK, 0);
}

/* http.request{ method, url, headers, body, timeout } -> response, or nil, err */
static int l_request(lua_State *L)
{
    lua_settop(L, 1);
    pending_t *p = pending_new(L, 1);
    read_request(L, 1, &p->reqs[0], "http.request");
    return perform(L, p, finish_request);
}

static int finish_request(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    pending_t *p = lua_touserdata(L, 2);
    hf_httpc_res_t *res = &p->res[0];
    if (!res->status) {
        lua_pushnil(L);
        lua_pushstring(L, res->error[0] ? res->error : "no response");
        return 2;
    }
    push_response(L, res);
    return 1;
}

/* http.requests{ req1, req2, ... } -> { res1, res2, ... }, each a response or { error = } */
static int l_requests(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    size_t n = (size_t)lua_rawlen(L, 1);
    pending_t *p = pending_new(L, n);
    char what[64];
    luaL_checkstack(L, (int)n + 4, "http.requests: too many requests");
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i + 1);           /* kept on the stack while reading */
        snprintf(what, sizeof(what), "http.requests[%zu]", i + 1);
        read_request(L, lua_gettop(L), &p->reqs[i], what);
    }
    return perform(L, p, finish_requests);
}

static int finish_requests(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    pending_t *p = lua_touserdata(L, 2);
    lua_createtable(L, (int)p->n, 0);
    for (size_t i = 0; i < p->n; i++) {
        if (p->res[i].status) {
            push_response(L, &p->res[i]);
        } else {
            lua_createtable(L, 0, 1);
            lua_pushstring(L, p->res[i].error[0] ? p->res[i].error : "no response");
            lua_setfield(L, -2, "error");
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

int hf_lua_http_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"request", l_request}, {"requests", l_requests},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
